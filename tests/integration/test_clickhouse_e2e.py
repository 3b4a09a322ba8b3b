# SPDX-License-Identifier: Apache-2.0
"""End to end into ClickHouse with create_table: the sink makes the table
(ReplacingMergeTree(_version) ordered by the x-key, device_id), drains
20000 readings of 1000 devices, and the table read with FINAL holds
exactly the newest version of every key (the version is the event time
today): count = distinct keys, every row equal to the generator's newest
record of its key, with that record's _seq and _version."""
from clickhouse_harness import *

N = 20000
table = "e2e_sensor"
query("DROP TABLE IF EXISTS %s" % table)
with Workdir("ch-e2e") as work:
    cfg = agent_config(work, table, N, seed=3, sink_extra=["create_table: true",
                                                           "block_records: 3000"])
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    origin = status_json(cfg)["origin_id"]

    engine = scalar("SELECT engine_full FROM system.tables WHERE name = '%s'" % table)
    check(engine.startswith("ReplacingMergeTree(_version)") and
          "ORDER BY device_id" in engine, "table made as %r" % engine)

    expected = newest_shape(generate_jsonl("sensor_reading:v1", N, 3), "sensor_reading")
    newest = {}
    # The schema names no x-version: a record's version is the clock at
    # ingest, which grows with seq, so a key's newest record is its last.
    for i, rec in enumerate(expected):
        newest[rec["device_id"]] = (i + 1, rec)
    got = rows("SELECT * FROM %s FINAL ORDER BY device_id" % table)
    check(len(got) == len(newest), "FINAL has %d rows, %d distinct keys went in" % (
        len(got), len(newest)))
    for r in got:
        key = r["device_id"]
        check(key in newest, "key %r was never sent" % key)
        seq, want = newest[key]
        check(r["_origin_id"] == origin, "row of %s: origin %r" % (key, r["_origin_id"]))
        check(r["_seq"] == seq, "row of %s: seq %r, its newest record is seq %r" % (
            key, r["_seq"], seq))
        check(r["_deleted"] == 0, "row of %s: _deleted %r" % (key, r["_deleted"]))
        check(norm(strip_meta(r)) == norm(want), "row of %s differs:\n got  %s\n want %s" % (
            key, json.dumps(strip_meta(r), sort_keys=True),
            json.dumps(want, sort_keys=True)))
    print("clickhouse e2e: %d records of %d keys in, FINAL holds %d rows, each the "
          "newest version of its key" % (N, len(newest), len(got)))
