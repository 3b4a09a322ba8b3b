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
    """The fixture's directory: OpenSearch's, or the Elasticsearch 8 node's
    when CTest runs the test again under the label elasticsearch
    (SA_SEARCH_NODE=elasticsearch), or the label spark's (SA_OPENSEARCH_DIR)."""
    if os.environ.get("SA_OPENSEARCH_DIR"):
        return os.environ["SA_OPENSEARCH_DIR"]
    return os.path.join(os.environ["SA_BINARY_DIR"], "testenv",
                        os.environ.get("SA_SEARCH_NODE") or "opensearch")


def testenv_dir():
    """The start/stop scripts of the fixture's node."""
    from harness import SOURCE_DIR
    return os.path.join(SOURCE_DIR, "tools", "testenv", os.path.basename(node_dir()))


def base_url():
    """The fixture's URL; fails (never skips) when it is not up."""
    path = os.path.join(node_dir(), "url")
    node = os.path.basename(node_dir())
    try:
        with open(path) as f:
            url = f.read().strip()
    except OSError as e:
        fail("no %s fixture (%s): run through ctest (%s.start)" % (node, e, node))
    # The node is the one the label names (2.x OpenSearch, 8.x Elasticsearch).
    nodes = request(url, "GET", "/_nodes?filter_path=nodes.*.version")["nodes"]
    major = {"opensearch": "2.", "elasticsearch": "8."}[node]
    versions = [n["version"] for n in nodes.values()]
    if not all(v.startswith(major) for v in versions):
        fail("the %s fixture at %s runs version %s" % (node, url, versions))
    return url


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


def schemas_dir(work):
    """schemas/ plus `reading`: sensor_reading v1 without x-key, so its
    documents get "<origin_id>:<seq>" ids."""
    import shutil
    from harness import SCHEMAS_DIR
    path = work.join("schemas")
    shutil.copytree(SCHEMAS_DIR, path)
    with open(os.path.join(SCHEMAS_DIR, "sensor_reading", "v1.avsc")) as f:
        schema = json.load(f)
    del schema["x-key"]
    schema["name"] = "Reading"
    os.makedirs(os.path.join(path, "reading"))
    with open(os.path.join(path, "reading", "v1.avsc"), "w") as f:
        json.dump(schema, f)
    return path


def generate(schemas, schema, count, seed, start_ms):
    """What `syncagent generate` writes (the generator source's records)."""
    from harness import run
    proc = run(["generate", "--schema", schema, "-n", str(count), "--seed", str(seed),
                "--format", "jsonl", "--start-time", str(start_ms), "--interval", "1s",
                "--schemas-dir", schemas], check_rc=0)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def newest_by_key(records, key):
    """{str(key value): the last record of that key}: versions rise with
    the generator's order (event time, or the ingest clock)."""
    out = {}
    for r in records:
        out[str(r[key])] = r
    return out


def check_keyed(docs, records, key, label):
    """The index holds exactly the newest version of every key."""
    from harness import check, fail
    want = newest_by_key(records, key)
    check(len(docs) == len(want), "%s: %d documents for %d distinct keys" % (
        label, len(docs), len(want)))
    for k, rec in want.items():
        hit = docs.get(k)
        if hit is None:
            fail("%s: key %s missing" % (label, k))
        if hit["_source"] != rec:
            fail("%s: key %s holds %s, newest is %s" % (
                label, k, json.dumps(hit["_source"], sort_keys=True),
                json.dumps(rec, sort_keys=True)))


def check_keyless(docs, records, origin_id, label):
    """Every record once, as "<origin_id>:<seq>", in seq order."""
    from harness import check, fail
    check(len(docs) == len(records), "%s: %d documents for %d records" % (
        label, len(docs), len(records)))
    seqs = []
    for doc_id in docs:
        origin, _, seq = doc_id.rpartition(":")
        check(origin == origin_id and seq.isdigit(), "%s: _id %r is not %s:<seq>" % (
            label, doc_id, origin_id))
        seqs.append(int(seq))
    for i, seq in enumerate(sorted(seqs)):
        got = docs["%s:%d" % (origin_id, seq)]["_source"]
        if got != records[i]:
            fail("%s: record %d (seq %d): %s, expected %s" % (
                label, i, seq, json.dumps(got, sort_keys=True),
                json.dumps(records[i], sort_keys=True)))
