# SPDX-License-Identifier: Apache-2.0
"""The `opensearch` fixture (tools/testenv/opensearch) works: the node
answers, a new index is green with one node (no replicas: start set
cluster.default_number_of_replicas to 0), and 1000 documents bulk-indexed
come back one by one."""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import check  # noqa: E402
import opensearch  # noqa: E402


def main():
    url = opensearch.base_url()
    info = opensearch.request(url, "GET", "/")
    check(info["version"]["number"].startswith("2.19."), "not OpenSearch 2.19: %r" % info)
    index = opensearch.fresh_index(url, "fixture")
    lines = []
    for i in range(1000):
        lines.append(json.dumps({"index": {"_index": index, "_id": "k%d" % i}}))
        lines.append(json.dumps({"n": i, "s": "v%d" % i}))
    resp = opensearch.request(url, "POST", "/_bulk?refresh=true",
                              ("\n".join(lines) + "\n").encode(),
                              "application/x-ndjson")
    check(resp["errors"] is False and len(resp["items"]) == 1000, "bulk failed: %r"
          % resp["items"][:3])
    health = opensearch.request(url, "GET", "/_cluster/health/" + index +
                                "?wait_for_status=green&timeout=30s")
    check(health["status"] == "green", "index not green: %r" % health)
    docs = opensearch.all_docs(url, index)
    check(len(docs) == 1000, "%d documents, expected 1000" % len(docs))
    for i in range(1000):
        check(docs["k%d" % i]["_source"] == {"n": i, "s": "v%d" % i},
              "document k%d differs: %r" % (i, docs.get("k%d" % i)))
    print("ok: 1000 documents in %s on %s" % (index, url))


if __name__ == "__main__":
    main()
