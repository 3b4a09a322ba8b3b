# SPDX-License-Identifier: Apache-2.0
"""A table that does not match the schema: firmware, a nullable string of
the schema, is a Nullable(Int64) column here, so ClickHouse refuses every
block that holds a reading with a firmware version ("1.6.17" is no
integer) and takes the rows whose firmware is null. The sink splits the
refused blocks until each bad row is alone: every good row lands once,
every bad one is dead-lettered with ClickHouse's parsed reason, nothing
else."""
from clickhouse_harness import *

N = 1000
table = "bad_rows_sensor"
table_by_seq(table, SENSOR_COLUMNS.replace("firmware Nullable(String)",
                                           "firmware Nullable(Int64)"))
with Workdir("ch-bad-rows") as work:
    cfg = agent_config(work, table, N, seed=4, batch=250,
                       sink_extra=["block_records: 100"])
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    origin = status_json(cfg)["origin_id"]

    expected = newest_shape(generate_jsonl("sensor_reading:v1", N, 4), "sensor_reading")
    good = {i + 1: r for i, r in enumerate(expected) if r["firmware"] is None}
    bad = {i + 1: r for i, r in enumerate(expected) if r["firmware"] is not None}
    check(good and bad, "the seed gives no mix of good and bad rows")

    got = rows("SELECT * FROM %s ORDER BY _seq" % table)  # no FINAL: every insert
    seqs = [r["_seq"] for r in got]
    check(len(seqs) == len(set(seqs)), "a good row landed twice")
    check(set(seqs) == set(good), "rows in the table: %d, good rows: %d; missing %s, "
          "extra %s" % (len(seqs), len(good), sorted(set(good) - set(seqs))[:10],
                        sorted(set(seqs) - set(good))[:10]))
    for r in got:
        check(r["_origin_id"] == origin, "origin %r" % r["_origin_id"])
        want = dict(good[r["_seq"]])
        check(norm(strip_meta(r)) == norm(want), "seq %d differs: %r" % (r["_seq"], r))

    letters = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                          check_rc=0).stdout.splitlines() if l.strip()]
    check(len(letters) == len(bad), "%d dead letters, %d bad rows" % (len(letters),
                                                                      len(bad)))
    dead_seqs = set()
    for d in letters:
        check(d["source"] == "sink:ch", "dead letter from %r" % d["source"])
        reason = d["reason"]
        check(reason.startswith("clickhouse: Code: 27: Cannot parse input") and
              "firmware" in reason, "reason %r" % reason)
        seq = int(d["location"].rsplit(" ", 1)[1])
        dead_seqs.add(seq)
    check(dead_seqs == set(bad), "dead letters are not the bad rows: missing %s" % (
        sorted(set(bad) - dead_seqs)[:10]))
    print("clickhouse bad rows: %d records, %d landed, %d dead-lettered with "
          "ClickHouse's reason, e.g. %r" % (N, len(got), len(letters),
                                           letters[0]["reason"]))
