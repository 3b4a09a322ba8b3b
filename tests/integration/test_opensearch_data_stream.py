# SPDX-License-Identifier: Apache-2.0
"""`data_stream: true`: the sink installs a data-stream index template
(with @timestamp mapped as a date) and sends `create` actions whose
documents carry @timestamp = the event time; the data stream holds every
record once (origin_id:seq ids, so a resend is a 409 and acknowledged)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 3000

url = opensearch.base_url()
name = opensearch.fresh_index(url, "ds")
with Workdir("os-ds") as work:
    schemas = opensearch.schemas_dir(work)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: ds", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + schemas,
        "sources:",
        "  - name: readings", "    type: generator", "    stream: reading",
        "    schema: reading", "    seed: 51", "    count: %d" % N, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + url,
        "    index: %s-${stream}" % name, "    data_stream: true",
        "    manage_template: true", "    max_bulk_records: 400",
    ]) + "\n")
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    origin = status_json(cfg)["origin_id"]
    ds = opensearch.request(url, "GET", "/_data_stream/%s-reading" % name)
    check(len(ds["data_streams"]) == 1, "no data stream: %r" % ds)
    records = opensearch.generate(schemas, "reading", N, 51, START_MS)
    docs = opensearch.all_docs(url, "%s-reading" % name)
    for hit in docs.values():
        src = hit["_source"]
        check(src.pop("@timestamp") == src["ts"], "@timestamp is not the event time: %r"
              % hit)
    opensearch.check_keyless(docs, records, origin, "data stream")
    print("opensearch data stream: %d records -> %d documents in data stream %s-reading "
          "(backing index %s)" % (N, len(docs), name,
                                  ds["data_streams"][0]["indices"][0]["index_name"]))
