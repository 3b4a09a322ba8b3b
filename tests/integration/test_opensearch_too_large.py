# SPDX-License-Identifier: Apache-2.0
"""_bulk answered 413 (request too large): the test starts a node of its
own (the label's, OpenSearch or Elasticsearch 8) with
http.max_content_length: 8kb, a static setting, so the label's node
cannot take it; the node answers 413 with an empty body to every request
over it.

The sink's bulks (200 records) are several times the limit: it must split
a refused request in halves and send them again, down to one item, so
every record lands exactly once (the index's indexing count equals its
documents: nothing that landed was sent again), and the one record too
large on its own is dead-lettered with the 413 as its reason, alone."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 600
BIG = "k0123"

with Workdir("os-too-large") as work:
    node = work.join("node")
    scripts = opensearch.testenv_dir()
    proc = subprocess.run([os.path.join(scripts, "start"), "--fresh", node,
                           "http.max_content_length=8kb"], capture_output=True, text=True)
    check(proc.returncode == 0, "the node did not start: %s" % proc.stderr[-3000:])
    url = proc.stdout.strip()
    try:
        index = opensearch.fresh_index(url, "too-large")
        os.makedirs(work.join("schemas", "item"))
        with open(os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas",
                               "item", "v1.avsc")) as f:
            work.write(os.path.join("schemas", "item", "v1.avsc"), f.read())
        want = {}
        for i in range(N):
            key = "k%04d" % i
            want[key] = (i + 1, ("x" * 9000) if key == BIG else
                         "value-%d-%s" % (i, "y" * (i % 50)))
        csv = work.write("items.csv", "id,ver,val\n" + "".join(
            "%s,%d,%s\n" % (k, v, val) for k, (v, val) in want.items()))
        cfg = work.write("agent.yaml", "\n".join([
            "agent:", "  id: too-large", "  data_dir: " + work.join("data"),
            "  schemas_dir: " + work.join("schemas"), "  shutdown_grace: 5s",
            "sources:",
            "  - name: items", "    type: csv", "    stream: item",
            "    schema: item:v1", "    path: " + work.join("none-*.csv"),
            "    watch: false",
            "sinks:",
            "  - name: es", "    type: elasticsearch", "    url: " + url,
            "    index: " + index, "    max_bulk_records: 200",
            "    retry_initial: 50ms", "    retry_max: 500ms",
        ]) + "\n")
        # exit 3: the sink dead-lettered the big record.
        proc = run(["import", "-c", cfg, "--stream", "item", "--wait-synced", csv],
                   check_rc=3, timeout=300)
        check("the sinks dead-lettered 1 record while waiting (es: 1)" in proc.stderr,
              "no count of the sink's dead letters:\n%s" % proc.stderr[-2000:])

        docs = opensearch.all_docs(url, index)
        big_seq = want.pop(BIG)[0]  # versions are the row numbers: seq too
        got = {k: (h["_source"]["ver"], h["_source"]["val"]) for k, h in docs.items()}
        check(got == want, "the index holds %d documents, %d expected; missing %s, "
              "extra %s" % (len(got), len(want), sorted(set(want) - set(got))[:5],
                            sorted(set(got) - set(want))[:5]))
        stats = opensearch.request(url, "GET", "/%s/_stats/indexing" % index)
        indexed = stats["indices"][index]["primaries"]["indexing"]["index_total"]
        check(indexed == len(want), "%d index operations for %d documents: records "
              "that had landed were sent again" % (indexed, len(want)))
        splits = [l for l in proc.stderr.splitlines() if "HTTP 413" in l and
                  "halves" in l]
        check(splits, "no split logged: the test proves nothing:\n%s" %
              proc.stderr[-2000:])
        dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                          check_rc=0).stdout.splitlines() if l.strip()]
        check(len(dls) == 1, "%d dead letters, expected the one big record: %s" % (
            len(dls), json.dumps(dls)[:2000]))
        check("HTTP 413" in dls[0]["reason"], "dead letter reason %r" %
              dls[0]["reason"])
        check(dls[0]["location"].endswith(" seq %d" % big_seq),
              "the dead letter is not %s (seq %d): %s" % (BIG, big_seq,
                                                         json.dumps(dls[0])[:500]))
        st = status_json(cfg)["sinks"][0]
        check(st["lag_records"] == 0, "records left: %r" % st)
        print("too large: %d records; %d requests refused with 413 and split; %d "
              "documents, each indexed once; the one record over the limit "
              "dead-lettered: %s" % (N, len(splits), len(docs), dls[0]["reason"][:120]))
    finally:
        subprocess.run([os.path.join(scripts, "stop"), node], check=False)
