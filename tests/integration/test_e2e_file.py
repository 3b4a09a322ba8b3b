# SPDX-License-Identifier: Apache-2.0
"""End to end: two generator sources -> spool -> file sink. The NDJSON
output must hold exactly what `syncagent generate` produces for the same
seeds, record by record by (origin_id, seq): nothing missing, nothing
twice, nothing altered."""
from harness import *

N_SENSOR = 30000
N_ORDER = 12000

with Workdir("e2e") as work:
    out = work.join("out")
    cfg = generator_config(work, [
        ("sensors", "sensor_reading", "sensor_reading:v2", 42, N_SENSOR, 0),
        ("orders", "order", "order", 7, N_ORDER, 0),
    ], out)
    run(["check", "-c", cfg], check_rc=0)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0)

    st = status_json(cfg)
    origin = st["origin_id"]
    check(len(origin) == 36, "origin_id %r is not a UUID" % origin)
    check(st["next_seq"] == N_SENSOR + N_ORDER + 1 or st["next_seq"] == N_SENSOR + N_ORDER,
          "next_seq %d after %d records" % (st["next_seq"], N_SENSOR + N_ORDER))
    sink = st["sinks"][0]
    check(sink["lag_records"] == 0, "sink lag %d after --exit-when-synced" %
          sink["lag_records"])

    records = read_ndjson_dir(out)
    by_stream = read_ndjson_by_stream(out)
    check(sorted(by_stream) == ["order", "sensor_reading"],
          "output streams %s" % sorted(by_stream))
    seqs = sorted(r["_seq"] for r in records)
    check(len(set(seqs)) == len(seqs), "duplicate seqs in a clean run")
    check(seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seqs are not gap-free")

    dups = 0
    for stream, schema, seed, n in (("sensor_reading", "sensor_reading:v2", 42, N_SENSOR),
                                    ("order", "order", 7, N_ORDER)):
        expected = generate_jsonl(schema, n, seed)
        dups += compare_stream(by_stream[stream], expected, origin, stream)
    check(dups == 0, "%d duplicates in a clean run" % dups)
    print("e2e: %d records in, %d delivered, 0 lost, 0 duplicated" % (
        N_SENSOR + N_ORDER, len(records)))
