# SPDX-License-Identifier: Apache-2.0
"""What the OpenSearch tests share: the fixture's URL, plain JSON requests
through urllib, reading back every document of an index."""
import json
import os
import urllib.error
import urllib.request

from harness import fail

_counter = [0]


def node_dir():
    return os.path.join(os.environ["SA_BINARY_DIR"], "testenv", "opensearch")


def base_url():
    """The fixture's URL; fails (never skips) when it is not up."""
    path = os.path.join(node_dir(), "url")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        fail("no OpenSearch fixture (%s): run through ctest (opensearch.start)" % e)


def request(url, method, path, body=None, ctype="application/json", ok=(200, 201)):
    """One request; the decoded JSON answer. A status outside ok fails."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, text = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read()
    if status not in ok:
        fail("%s %s: %d %s" % (method, path, status, text[:500]))
    return json.loads(text) if text else None


def fresh_index(url, name):
    """A name no earlier run used (the fixture lives for the whole label)."""
    _counter[0] += 1
    return "t-%s-%d-%d" % (name, os.getpid(), _counter[0])


def all_docs(url, index):
    """{_id: hit} of every document of index (or pattern), refreshed first;
    fails when an _id comes twice (two indices of a pattern)."""
    request(url, "POST", "/%s/_refresh" % index)
    docs = {}
    body = {"size": 5000, "sort": ["_doc"], "query": {"match_all": {}},
            "version": True}
    resp = request(url, "POST", "/%s/_search?scroll=1m" % index, body)
    while resp["hits"]["hits"]:
        for hit in resp["hits"]["hits"]:
            if hit["_id"] in docs:
                fail("_id %s twice in %s" % (hit["_id"], index))
            docs[hit["_id"]] = hit
        resp = request(url, "POST", "/_search/scroll",
                       {"scroll": "1m", "scroll_id": resp["_scroll_id"]})
    return docs
