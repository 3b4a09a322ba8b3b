# SPDX-License-Identifier: Apache-2.0
"""End to end into OpenSearch: two generator streams -> spool -> the
elasticsearch sink. `user` is keyed (x-key user_id, many versions per key)
and goes to a monthly index (-%Y.%m) whose template the sink installs
from the Avro schema; `reading` has no key, so its ids are
<origin_id>:<seq>. The index must hold exactly the newest version of each
key (document count = distinct keys), and every keyless record once."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N_USER = 20000
N_READING = 10000

url = opensearch.base_url()
prefix = opensearch.fresh_index(url, "e2e")
with Workdir("os-e2e") as work:
    schemas = opensearch.schemas_dir(work)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: e2e", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + schemas, "  shutdown_grace: 10s",
        "sources:",
        "  - name: users", "    type: generator", "    stream: user", "    schema: user",
        "    seed: 11", "    count: %d" % N_USER, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "  - name: readings", "    type: generator", "    stream: reading",
        "    schema: reading", "    seed: 12", "    count: %d" % N_READING,
        "    rate: 0", "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + url,
        "    index: %s-${stream}-%%Y.%%m" % prefix, "    manage_template: true",
        "    max_bulk_records: 500",
    ]) + "\n")
    run(["check", "-c", cfg], check_rc=0)
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    origin = status_json(cfg)["origin_id"]

    users = opensearch.generate(schemas, "user", N_USER, 11, START_MS)
    readings = opensearch.generate(schemas, "reading", N_READING, 12, START_MS)
    months = {"%s-user-%s" % (prefix, m) for m in ("2026.01",)}
    check(N_USER * 1000 < 31 * 86400 * 1000, "the users must fall in one month")
    docs = opensearch.all_docs(url, prefix + "-user-*")
    opensearch.check_keyed(docs, users, "user_id", "user")
    check({h["_index"] for h in docs.values()} == months,
          "user indices %r" % {h["_index"] for h in docs.values()})
    rdocs = opensearch.all_docs(url, prefix + "-reading-*")
    opensearch.check_keyless(rdocs, readings, origin, "reading")

    mapping = opensearch.request(url, "GET", "/%s-user-2026.01/_mapping" % prefix)
    props = mapping["%s-user-2026.01" % prefix]["mappings"]["properties"]
    for field, want in (("user_id", "long"), ("name", "keyword"), ("age", "integer"),
                        ("plan", "keyword"), ("active", "boolean"),
                        ("updated_at", "date"), ("signup_at", "date")):
        check(props[field]["type"] == want, "user.%s mapped %r, expected %s" % (
            field, props[field], want))
    superseded = sum(int(l.split("superseded=")[1].split()[0])
                     for l in proc.stderr.splitlines() if "sink totals" in l)
    print("opensearch e2e: user %d records -> %d documents (one per key, the newest; "
          "%d superseded), reading %d records -> %d documents" % (
              N_USER, len(docs), superseded, N_READING, len(rdocs)))
