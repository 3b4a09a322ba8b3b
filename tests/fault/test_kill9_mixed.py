# SPDX-License-Identifier: Apache-2.0
"""Scenario 1: kill -9 loop over a mixed workload.

Two generator sources and a CSV source watching a directory into which the
test drops CSV files (renamed in whole) while the daemon runs; everything
drains to the file sink. The daemon is killed with SIGKILL at random
points; `spool verify` must pass after every kill. Then it runs to the end
(--exit-when-synced) and the sink's output is compared with what
`syncagent generate` produces: nothing lost, nothing spooled twice (seqs
gap-free, one per input record), duplicates delivered by the at-least-once
file sink counted and reported (they must be exact copies).

The generators are rate-limited so that ingest goes on through the whole
kill loop (about a third of a second of running per kill), and kills land
in the middle of commits, sink writes and trims rather than on an idle
agent. Default: 100 kills (about 45 s). SA_FAULT_FULL=1: 300 kills over a
workload three times larger. SA_KILLS overrides the number of kills;
SA_SEED the random seed (printed first, to replay a failure).
"""
import random

from faultlib import *

KILLS = int(os.environ.get("SA_KILLS", "300" if FULL else "100"))
N_GEN = KILLS * 1500
RATE = 4000  # N_GEN / RATE ~ the running time of the kill loop
CSV_FILES = 16 if FULL else 6
CSV_ROWS = 20000
SEED = int(os.environ.get("SA_SEED", str(int(time.time()))))
rng = random.Random(SEED)
print("seed %d, %d kills" % (SEED, KILLS))

with Workdir("f-kill9") as work:
    incoming = work.join("incoming")
    staging = work.join("staging")
    os.makedirs(incoming)
    os.makedirs(staging)
    out = work.join("out")
    cfg = generator_config(work, [
        ("sensors", "sensor_reading", "sensor_reading:v1", 5, N_GEN, RATE),
        ("orders", "order", "order:v1", 6, N_GEN // 4, RATE // 4),
    ], out, batch="  max_records: 1000\n  linger: 50ms\n")
    with open(cfg, "a") as f:
        f.write("  - name: webcsv\n    type: csv\n    stream: web_event\n"
                "    schema: web_event:v1\n    path: %s/*.csv\n    watch: true\n"
                "    poll_interval: 100ms\n" % incoming)
    # The sinks key must stay last in the YAML: move the CSV source up.
    text = open(cfg).read()
    sinks_at = text.index("sinks:\n")
    csv_at = text.index("  - name: webcsv")
    text = text[:sinks_at] + text[csv_at:] + text[sinks_at:csv_at]
    open(cfg, "w").write(text)

    expected_csv = []
    for i in range(CSV_FILES):
        seed = 100 + i
        start_ms = START_MS + i * 10**9
        generate_csv(os.path.join(staging, "web%02d.csv" % i), "web_event:v1", CSV_ROWS,
                     seed, start_ms)
        expected_csv += generate_jsonl_at("web_event:v1", CSV_ROWS, seed, start_ms)
    pending = sorted(os.listdir(staging))

    spool = work.join("data", "spool.db")
    t0 = time.time()
    recover = []
    for i in range(KILLS):
        # Drop the next CSV file in every few rounds, sometimes while the
        # daemon is down, sometimes while it runs.
        drop_now = pending and i % max(1, KILLS // (CSV_FILES + 1)) == 0
        if drop_now and rng.random() < 0.5:
            name = pending.pop(0)
            os.rename(os.path.join(staging, name), os.path.join(incoming, name))
            drop_now = False
        proc = start(["run", "-c", cfg], work.join("agent.log"))
        time.sleep(rng.uniform(0.05, 0.6))
        if drop_now:
            name = pending.pop(0)
            os.rename(os.path.join(staging, name), os.path.join(incoming, name))
            time.sleep(rng.uniform(0.0, 0.3))
        kill9(proc)
        t = time.time()
        verify(spool)
        recover.append(time.time() - t)
    for name in pending:
        os.rename(os.path.join(staging, name), os.path.join(incoming, name))
    # The CSV source watches forever: run until the generators are done and
    # the sink caught up with every record, then stop with SIGTERM.
    total = N_GEN + N_GEN // 4 + CSV_FILES * CSV_ROWS
    t = time.time()
    proc = start(["run", "-c", cfg], work.join("agent.log"))

    def synced():
        st = status_json(cfg)
        return (st["next_seq"] - 1 >= total and
                all(s["lag_records"] == 0 for s in st["sinks"]))
    wait_for(synced, 900, "every record spooled and delivered", step=0.5)
    check(stop(proc) == 0, "the daemon did not exit 0 on SIGTERM")
    drain_s = time.time() - t
    verify(spool)

    st = status_json(cfg)
    by_stream = read_ndjson_by_stream(out)
    dups = 0
    delivered = 0
    for stream, schema, seed, n in (("sensor_reading", "sensor_reading:v1", 5, N_GEN),
                                    ("order", "order:v1", 6, N_GEN // 4)):
        got = by_stream.get(stream, [])
        dups += compare_stream(got, generate_jsonl(schema, n, seed), st["origin_id"],
                               stream)
        delivered += len(got)
    got = by_stream.get("web_event", [])
    distinct, d, lost = compare_multiset(got, expected_csv, st["origin_id"], "web_event")
    dups += d
    delivered += len(got)
    check(st["deadletters"] == 0, "%d dead letters" % st["deadletters"])
    check(st["next_seq"] == total + 1, "next_seq %d after %d records: records were "
          "spooled twice or lost" % (st["next_seq"], total))
    print("kill9 mixed: %d kills, %d records in, %d delivered (%d duplicates), "
          "%.1f s in all, verify after a kill %.2f s at most" % (
              KILLS, total, delivered, dups, time.time() - t0, max(recover)))
    # Time to recover: from the last restart until every record is delivered.
    figures("kill9_mixed", total, delivered, 0, dups, drain_s, kills=KILLS,
            verify_max_s="%.2f" % max(recover))
