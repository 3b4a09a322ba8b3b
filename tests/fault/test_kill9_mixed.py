# SPDX-License-Identifier: Apache-2.0
"""Scenario 1: kill -9 loop over a mixed workload, drained to Kafka with
exactly_once and to the file sink.

Two generator sources and a CSV source watching a directory into which the
test drops CSV files (renamed in whole) while the daemon runs. One daemon
drains everything to two sinks: the file sink (at least once) and a Kafka
sink with `exactly_once: true` on the test broker of the CTest fixture
`kafka` (one topic per stream). The daemon is killed with SIGKILL at random
points; `spool verify` must pass after every kill. Then it runs until every
record is spooled and both sinks caught up, and stops on SIGTERM.

What must hold:
- spool: nothing spooled twice or lost (seqs gap-free, one per input
  record: next_seq is the input count + 1), no dead letters;
- file sink: its output equals what `syncagent generate` produces (nothing
  lost, nothing altered); the duplicates the at-least-once sink delivers
  after a kill are exact copies, counted and reported;
- Kafka sink: a read_committed consumer (kcat) sees every seq of the spool
  exactly once, by (origin_id, seq) from the headers: lost 0 and
  duplicated 0, or the test fails. Every value is decoded with fastavro and
  compared with the inputs; within a partition seqs rise and keys are the
  records' key fields.

Half of the rounds kill at a random point of the first 0.6 s after the
start (startup: the Kafka sink's init_transactions and cursor read, CSV
resumption, ingest, file sink writes); the other half wait until the Kafka
sink has resumed from the cursor committed in Kafka and kill within the
next 0.6 s, so the kills land inside transactions, in commits and between
a commit and the spool's cursor save. The generators are rate-limited so
that ingest goes on through the whole kill loop. Default: 100 kills (about
75 s on 2 cores, plus the broker's start by the fixture). SA_FAULT_FULL=1:
300 kills over a workload three times larger (about 3.5 min). SA_KILLS
overrides the number of kills; SA_SEED the random seed (printed first, to
replay a failure). Without the broker (no bootstrap address, or a broker
that does not answer) the test fails; it never skips.

Figures: `kill9_mixed` for the file sink (duplicates counted), and
`kill9_mixed.kafka_eos` for the Kafka sink, with `aborted` (messages in
aborted transactions, mostly those that kills left open and the next
start aborted: only a read_uncommitted consumer sees them) and `resumes`
(starts that resumed from the cursor committed in Kafka). recover_s: from
the last restart until that sink caught up.
"""
import collections
import random
import uuid

from faultlib import *
# After faultlib: kafka_harness re-executes the test with the repository's
# .venv python (fastavro) when needed, so nothing is printed before it.
from kafka_harness import (bootstrap, check_headers_and_order, consume,  # noqa: E402
                           decode_avro)

KILLS = int(os.environ.get("SA_KILLS", "300" if FULL else "100"))
N_GEN = KILLS * 1500
RATE = 3000  # N_GEN / RATE ~ the running time of the kill loop
CSV_FILES = 16 if FULL else 6
CSV_ROWS = 20000
SEED = int(os.environ.get("SA_SEED", str(int(time.time()))))
# The log line of a Kafka sink that read its cursor back from Kafka.
RESUMED = b"kafka sink resumes from its committed cursor"
# How long a round waits for that line (the first rounds, before any
# transaction committed, have no cursor to resume from).
RESUME_WAIT_S = 3.0
STREAMS = (("sensor_reading", "device_id"), ("order", "order_id"),
           ("web_event", "session_id"))
rng = random.Random(SEED)
print("seed %d, %d kills" % (SEED, KILLS))

addr = bootstrap()
meta = subprocess.run(["kcat", "-L", "-b", addr, "-m", "10"], capture_output=True,
                      text=True, timeout=60)
check(meta.returncode == 0, "the Kafka test broker at %s does not answer: %s" % (
    addr, meta.stderr[-1000:]))
tag = "sa-kill9-" + uuid.uuid4().hex[:10]


def count_messages(topic, isolation):
    """How many messages a consumer with this isolation.level sees."""
    proc = subprocess.run(["kcat", "-C", "-b", addr, "-t", topic, "-o", "beginning",
                           "-e", "-q", "-X", "isolation.level=" + isolation,
                           "-f", "\\n"], capture_output=True, timeout=600)
    check(proc.returncode == 0, "kcat -C %s: %s" % (
        topic, proc.stderr.decode(errors="replace")[-2000:]))
    return proc.stdout.count(b"\n")


with Workdir("f-kill9") as work:
    incoming = work.join("incoming")
    staging = work.join("staging")
    os.makedirs(incoming)
    os.makedirs(staging)
    out = work.join("out")
    kafka_sink = "\n".join([
        "  - name: kafka", "    type: kafka", "    brokers: " + addr,
        "    topic: %s.${stream}" % tag, "    exactly_once: true",
        "    retry_initial: 50ms", "    retry_max: 1s"])
    cfg = generator_config(work, [
        ("sensors", "sensor_reading", "sensor_reading:v1", 5, N_GEN, RATE),
        ("orders", "order", "order:v1", 6, N_GEN // 4, RATE // 4),
    ], out, extra_sink=kafka_sink, batch="  max_records: 1000\n  linger: 50ms\n")
    # A distinct agent id per run: the transactional.id and the key of the
    # cursor in Kafka are made from it.
    text = open(cfg).read().replace("  id: test-agent\n",
                                    "  id: kill9-%s\n" % uuid.uuid4().hex[:8])
    # The sinks key must stay last in the YAML: the CSV source goes before.
    text = text.replace("sinks:\n", (
        "  - name: webcsv\n    type: csv\n    stream: web_event\n"
        "    schema: web_event:v1\n    path: %s/*.csv\n    watch: true\n"
        "    poll_interval: 100ms\nsinks:\n") % incoming)
    open(cfg, "w").write(text)
    run(["check", "-c", cfg], check_rc=0)

    expected_csv = []
    for i in range(CSV_FILES):
        seed = 100 + i
        start_ms = START_MS + i * 10**9
        generate_csv(os.path.join(staging, "web%02d.csv" % i), "web_event:v1", CSV_ROWS,
                     seed, start_ms)
        expected_csv += generate_jsonl_at("web_event:v1", CSV_ROWS, seed, start_ms)
    pending = sorted(os.listdir(staging))

    spool = work.join("data", "spool.db")
    log_path = work.join("agent.log")
    open(log_path, "wb").close()

    def resumed_since(offset):
        with open(log_path, "rb") as f:
            f.seek(offset)
            return RESUMED in f.read()

    t0 = time.time()
    recover = []
    live_rounds = 0
    for i in range(KILLS):
        # Drop the next CSV file in every few rounds, sometimes while the
        # daemon is down, sometimes while it runs.
        drop_now = pending and i % max(1, KILLS // (CSV_FILES + 1)) == 0
        if drop_now and rng.random() < 0.5:
            name = pending.pop(0)
            os.rename(os.path.join(staging, name), os.path.join(incoming, name))
            drop_now = False
        log_at = os.path.getsize(log_path)
        proc = start(["run", "-c", cfg], log_path)
        if rng.random() < 0.5:
            time.sleep(rng.uniform(0.05, 0.6))
        else:
            t = time.time()
            while (time.time() - t < RESUME_WAIT_S and proc.poll() is None and
                   not resumed_since(log_at)):
                time.sleep(0.02)
            live_rounds += resumed_since(log_at)
            time.sleep(rng.uniform(0.0, 0.6))
        if drop_now:
            name = pending.pop(0)
            os.rename(os.path.join(staging, name), os.path.join(incoming, name))
            time.sleep(rng.uniform(0.0, 0.3))
        check(proc.poll() is None, "syncagent exited on its own (%s) in round %d: "
              "see %s" % (proc.returncode, i, log_path))
        kill9(proc)
        t = time.time()
        verify(spool)
        recover.append(time.time() - t)
    loop_s = time.time() - t0
    for name in pending:
        os.rename(os.path.join(staging, name), os.path.join(incoming, name))
    # The CSV source watches forever: run until the generators are done and
    # both sinks caught up with every record, then stop with SIGTERM.
    total = N_GEN + N_GEN // 4 + CSV_FILES * CSV_ROWS
    t = time.time()
    proc = start(["run", "-c", cfg], log_path)
    caught_up = {}

    def synced():
        st = status_json(cfg)
        if st["next_seq"] - 1 >= total:
            for s in st["sinks"]:
                if s["lag_records"] == 0:
                    caught_up.setdefault(s["sink"], time.time() - t)
        return len(caught_up) == len(st["sinks"])
    wait_for(synced, 900, "every record spooled and delivered", step=0.5)
    check(stop(proc) == 0, "the daemon did not exit 0 on SIGTERM")
    drain_s = time.time() - t
    verify(spool)

    st = status_json(cfg)
    origin = st["origin_id"]
    check(st["deadletters"] == 0, "%d dead letters" % st["deadletters"])
    check(st["next_seq"] == total + 1, "next_seq %d after %d records: records were "
          "spooled twice or lost" % (st["next_seq"], total))

    # The file sink: everything there, duplicates counted.
    by_stream = read_ndjson_by_stream(out)
    dups = 0
    delivered = 0
    for stream, schema, seed, n in (("sensor_reading", "sensor_reading:v1", 5, N_GEN),
                                    ("order", "order:v1", 6, N_GEN // 4)):
        got = by_stream.get(stream, [])
        dups += compare_stream(got, newest_shape(generate_jsonl(schema, n, seed), stream),
                               origin, stream)
        delivered += len(got)
    got = by_stream.get("web_event", [])
    distinct, d, lost = compare_multiset(got, expected_csv, origin, "web_event")
    dups += d
    delivered += len(got)

    # The Kafka sink, read_committed: every seq exactly once. The figures
    # come first, from the headers alone, so that a failure still reports
    # them. The last transaction's markers land just after its commit
    # returned: consume reads again until each stream's records are there.
    per_stream = {"sensor_reading": N_GEN, "order": N_GEN // 4,
                  "web_event": CSV_FILES * CSV_ROWS}
    msgs = {stream: consume(addr, "%s.%s" % (tag, stream), at_least=per_stream[stream])
            for stream, _ in STREAMS}
    seen = collections.Counter()
    foreign = 0
    for stream, _ in STREAMS:
        for m in msgs[stream]:
            if m["headers"].get("origin_id") != origin:
                foreign += 1
            else:
                seen[int(m["headers"]["seq"])] += 1
    k_delivered = sum(len(v) for v in msgs.values())
    k_lost = sum(1 for seq in range(1, total + 1) if seq not in seen)
    k_dups = sum(c - 1 for c in seen.values())
    aborted = sum(count_messages("%s.%s" % (tag, stream), "read_uncommitted")
                  for stream, _ in STREAMS) - k_delivered
    with open(log_path, "rb") as f:
        resumes = f.read().count(RESUMED)
    elapsed = time.time() - t0
    print("kill9 mixed: %d kills (%d after the Kafka sink resumed), %d records in; file "
          "sink: %d delivered (%d duplicates); Kafka exactly once: %d delivered, %d "
          "lost, %d duplicated, %d aborted, %d resumes from the committed cursor; kill "
          "loop %.1f s, drain %.1f s, %.1f s in all, verify after a kill %.2f s at "
          "most" % (KILLS, live_rounds, total, delivered, dups, k_delivered, k_lost,
                    k_dups, aborted, resumes, loop_s, drain_s, elapsed, max(recover)))
    # Time to recover: from the last restart until every record is delivered.
    figures("kill9_mixed", total, delivered, 0, dups, caught_up["files"], kills=KILLS,
            verify_max_s="%.2f" % max(recover))
    figures("kill9_mixed.kafka_eos", total, k_delivered, k_lost, k_dups,
            caught_up["kafka"], kills=KILLS, aborted=aborted, resumes=resumes)
    check(foreign == 0, "Kafka: %d messages with another origin_id than the spool's "
          "%s" % (foreign, origin))
    check(k_lost == 0, "Kafka exactly once: %d of %d records never committed, e.g. "
          "seq %s" % (k_lost, total,
                      [s for s in range(1, total + 1) if s not in seen][:5]))
    check(k_dups == 0, "Kafka exactly once: %d records seen more than once by a "
          "read_committed consumer, e.g. seq %s" % (
              k_dups, sorted(s for s, c in seen.items() if c > 1)[:5]))
    check(resumes > 0, "the Kafka sink never resumed from a cursor committed in Kafka")

    # Kafka's contents: every value decoded by fastavro equals the input.
    for (stream, key), (schema, seed, n) in zip(STREAMS, (
            ("sensor_reading:v1", 5, N_GEN), ("order:v1", 6, N_GEN // 4),
            (None, None, None))):
        recs = [decode_avro(m) for m in msgs[stream]]
        check(all(m["headers"]["schema_subject"] == stream for m in msgs[stream]),
              "Kafka: a record of another stream in the %s topic" % stream)
        check_headers_and_order(msgs[stream], "kafka " + stream, key, recs)
        if schema:
            compare_stream(recs, generate_jsonl(schema, n, seed), origin,
                           "kafka " + stream)
        else:
            compare_multiset(recs, expected_csv, origin, "kafka " + stream)
