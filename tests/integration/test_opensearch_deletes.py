# SPDX-License-Identifier: Apache-2.0
"""Versioned deletes and last writer wins in OpenSearch, in a chosen order
of arrival (two imports, one after the other, of a CSV source with an
op_column and the schema's x-version `ver`):

  first   k1 v5 upsert, k2 v3 upsert, k3 v2 upsert, k4 v9 delete
  then    k1 v7 delete   newer delete: the document goes
          k2 v1 delete   older delete: loses (409, superseded)
          k3 v4 upsert   newer document: replaces v2
          k4 v6 upsert   older than the delete at v9: loses (409)

The index ends with k2 at v3 and k3 at v4 only; the sink logs the two
superseded items and `status` counts them; nothing is dead-lettered."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

ITEM_V1 = os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas", "item",
                       "v1.avsc")

url = opensearch.base_url()
index = opensearch.fresh_index(url, "deletes")
with Workdir("os-deletes") as work:
    # item v1 alone: v2 drops `val`, and documents take the newest shape
    os.makedirs(work.join("schemas", "item"))
    with open(ITEM_V1) as f:
        work.write(os.path.join("schemas", "item", "v1.avsc"), f.read())
    first = work.write("first.csv", "id,ver,op,val\nk1,5,,a\nk2,3,,b\nk3,2,,c\nk4,9,d,x\n")
    then = work.write("then.csv", "id,ver,op,val\nk1,7,delete,a\nk2,1,d,b\nk3,4,u,c4\n"
                                  "k4,6,,d6\n")
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: deletes", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + work.join("schemas"),
        "sources:",
        "  - name: items", "    type: csv", "    stream: item", "    schema: item:v1",
        "    path: " + work.join("none-*.csv"), "    op_column: op", "    watch: false",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + url,
        "    index: " + index,
    ]) + "\n")
    stderr = ""
    for csv in (first, then):
        proc = run(["import", "-c", cfg, "--stream", "item", "--wait-synced", csv],
                   check_rc=0, timeout=120)
        stderr += proc.stderr
    docs = opensearch.all_docs(url, index)
    got = {k: (h["_source"]["ver"], h["_source"]["val"], h["_version"])
           for k, h in docs.items()}
    check(got == {"k2": (3, "b", 3), "k3": (4, "c4", 4)},
          "the index holds %r, expected k2 v3 and k3 v4 only" % got)
    dls = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0).stdout.strip()
    check(dls == "", "dead letters: %s" % dls)
    superseded = sum(int(l.split("count=")[1].split()[0]) for l in stderr.splitlines()
                     if "records superseded" in l)
    check(superseded == 2, "%d superseded logged, expected 2 (k2's delete, k4's "
          "upsert):\n%s" % (superseded, stderr[-2000:]))
    sinks = status_json(cfg)["sinks"]
    check(sinks[0]["superseded"] == 2, "status shows %r superseded, expected 2" % (
        sinks[0].get("superseded"),))
    print("opensearch deletes: newer delete removed k1, older delete lost to k2 v3, "
          "k3 replaced by v4, k4 v6 lost to its delete at v9; 2 superseded")
