# SPDX-License-Identifier: Apache-2.0
"""A mapping conflict: the index maps `note` as a number, and some CSV rows
carry a word there. Those items come back 400 mapper_parsing_exception:
each is dead-lettered with the item's error type and reason (naming the
field), and every other row is indexed; nothing is retried forever and
the agent ends synced."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 600

url = opensearch.base_url()
index = opensearch.fresh_index(url, "mapping")
opensearch.request(url, "PUT", "/" + index,
                   {"mappings": {"properties": {"note": {"type": "long"}}}})
with Workdir("os-mapping") as work:
    rows = ["id,count,total,ratio,active,level,ts,note,score,region"]
    bad = set()
    for i in range(N):
        note = str(i * 7)
        if i % 13 == 5:
            note = "word%d" % i
            bad.add("k%d" % i)
        rows.append("k%d,%d,%d,0.5,true,LOW,%d,%s,1,eu" % (i, i, i, START_MS + i * 1000,
                                                           note))
    csv = work.write("in.csv", "\n".join(rows) + "\n")
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: mapping", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + CSV_SCHEMAS_DIR,
        "sources:",
        "  - name: csv", "    type: csv", "    stream: csv_test", "    path: " + csv,
        "    watch: false",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + url,
        "    index: " + index, "    max_bulk_records: 100",
    ]) + "\n")
    # exit 3: the sink dead-lettered the rows the mapping refuses.
    run(["import", "-c", cfg, "--stream", "csv_test", "--wait-synced", csv],
        check_rc=3, timeout=300)
    docs = opensearch.all_docs(url, index)
    want = {"k%d" % i for i in range(N)} - bad
    check(set(docs) == want, "indexed %d documents, expected the %d good rows "
          "(missing %s, extra %s)" % (len(docs), len(want), sorted(want - set(docs))[:5],
                                       sorted(set(docs) - want)[:5]))
    for i in range(N):
        if "k%d" % i in docs:
            check(docs["k%d" % i]["_source"]["note"] == str(i * 7),
                  "k%d: %r" % (i, docs["k%d" % i]["_source"]))
    dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                       check_rc=0).stdout.splitlines() if l.strip()]
    sink_dls = [d for d in dls if d.get("source") == "sink:es"]
    check(len(sink_dls) == len(bad), "%d dead letters from the sink, expected %d: %r" % (
        len(sink_dls), len(bad), dls[:3]))
    for d in sink_dls:
        reason = d.get("reason", "")
        # OpenSearch: "mapper_parsing_exception: failed to parse field ...";
        # Elasticsearch 8: "document_parsing_exception: [1:98] failed to ..."
        check(re.match(r"HTTP 400 (mapper|document)_parsing_exception: (\[[0-9:]+\] )?"
                       r"failed to parse field \[note\] of type \[long\]", reason),
              "dead letter reason %r" % reason)
    print("opensearch mapping conflict: %d rows, %d indexed, %d dead-lettered with "
          "the item's reason, e.g. %r" % (N, len(docs), len(sink_dls),
                                          sink_dls[0]["reason"][:120]))
