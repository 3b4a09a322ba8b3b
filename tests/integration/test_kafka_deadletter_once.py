# SPDX-License-Identifier: Apache-2.0
"""exactly_once: true and a record the broker refuses for good. One row of
a CSV file of SA_KAFKA_DL_ROWS orders (3000) carries a 150 KB sku; the
topic is created with max.message.bytes=100000, and batch.size 16384
keeps the big record alone in its batch (else the broker would refuse
its neighbours with it). Its transaction aborts: the big record comes
back REJECT and is dead-lettered, the others RETRY, and the dispatcher
rewinds to before it. The rewind must not send it again: before that
was fixed, every round failed the same way, with one more dead letter
each, and the cursor never moved past it.

Within SA_KAFKA_DL_TIMEOUT seconds (45; it takes 2 or 3) the agent must
drain: lag 0, a read_committed consumer sees every other row exactly
once, decoded by fastavro and equal to what `syncagent generate` wrote
into the CSV, and the big row is one dead letter, from the sink, naming
its seq. The bound also catches a minute-long stall per such record in
commit_transaction or abort_transaction (librdkafka 2.0 waiting for
messages of the failed transaction it will neither send nor fail)."""
import csv
import random
import string
import time
import uuid

from kafka_harness import *

N = int(os.environ.get("SA_KAFKA_DL_ROWS", "3000"))
TIMEOUT = int(os.environ.get("SA_KAFKA_DL_TIMEOUT", "45"))
BIG = 150 * 1024
SEED = 11

addr = bootstrap()
topic = "sa-dl-" + uuid.uuid4().hex[:10]
bad_seq = N // 3 + 1  # the row's seq: rows are spooled in order from seq 1
create_topic(addr, topic, 3, max_message_bytes=100000)
with Workdir("kafka-dl") as work:
    csv_path = work.join("orders.csv")
    run(["generate", "--schema", "order", "-n", str(N), "--seed", str(SEED), "--format",
         "csv", "--start-time", str(START_MS), "--interval", "1s", "--schemas-dir",
         SCHEMAS_DIR, "-o", csv_path], check_rc=0)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    check(len(body) == N, "generate wrote %d rows, not %d" % (len(body), N))
    # Letters and digits at random: lz4 cannot shrink it under the limit.
    rng = random.Random(SEED)
    body[bad_seq - 1][header.index("sku")] = "".join(
        rng.choice(string.ascii_letters + string.digits) for _ in range(BIG))
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([header] + body)

    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: dl-" + uuid.uuid4().hex[:6], "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "batch:", "  max_records: 500", "  linger: 20ms",
        "sources:",
        "  - name: orders", "    type: csv", "    stream: order", "    schema: order",
        "    path: " + csv_path, "    watch: false", "    max_field: 1MiB",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr, "    topic: " + topic,
        "    exactly_once: true", "    transaction_interval: 100ms",
        "    retry_initial: 50ms", "    retry_max: 1s",
        "    kafka:", '      batch.size: "16384"',
    ]) + "\n")
    t0 = time.time()
    try:
        proc = subprocess.run([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        st = status_json(cfg)
        log = (e.stderr or b"").decode(errors="replace") \
            if isinstance(e.stderr, bytes) else (e.stderr or "")
        fail("not drained after %d s: lag %d records, %d dead letters, %d "
             "transactions aborted\n%s" % (
                 TIMEOUT, st["sinks"][0]["lag_records"], st["deadletters"],
                 log.count("kafka transaction aborted"), log[-3000:]))
    elapsed = time.time() - t0
    work.write("agent.log", proc.stderr)
    check(proc.returncode == 0, "run exited %d\n%s" % (proc.returncode,
                                                      proc.stderr[-4000:]))
    aborted = proc.stderr.count("kafka transaction aborted")

    st = status_json(cfg)
    check(st["next_seq"] == N + 1, "next_seq %d after %d rows" % (st["next_seq"], N))
    check(st["sinks"][0]["lag_records"] == 0, "lag %d" % st["sinks"][0]["lag_records"])
    proc = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0)
    dls = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    check(len(dls) == 1, "%d dead letters, expected 1:\n%s" % (len(dls), "\n".join(
        "%s %s %s" % (d["source"], d["location"], d["reason"]) for d in dls[:20])))
    check(st["deadletters"] == 1, "status counts %d dead letters" % st["deadletters"])
    dl = dls[0]
    check(dl["source"] == "sink:k" and dl["stream"] == "order",
          "dead letter from %r, stream %r" % (dl["source"], dl["stream"]))
    check(dl["location"].endswith(" seq %d" % bad_seq),
          "dead letter at %r, the big row is seq %d" % (dl["location"], bad_seq))
    check("too large" in dl["reason"], "dead letter reason %r" % dl["reason"])

    msgs = consume(addr, topic, at_least=N - 1)
    recs = [decode_avro(m) for m in msgs]
    check_headers_and_order(msgs, topic, "order_id", recs)
    seen = {}
    for r in recs:
        seen[r["_seq"]] = seen.get(r["_seq"], 0) + 1
    twice = sorted(s for s, c in seen.items() if c > 1)
    check(not twice, "%d rows seen more than once by a read_committed consumer, e.g. "
          "seq %s" % (len(twice), twice[:5]))
    check(bad_seq not in seen, "the big row (seq %d) is in Kafka" % bad_seq)
    missing = sorted(set(range(1, N + 1)) - set(seen) - {bad_seq})
    check(not missing, "%d rows missing, e.g. seq %s" % (len(missing), missing[:5]))
    expected = generate_jsonl("order", N, SEED)
    del expected[bad_seq - 1]
    recs = [r for r in recs if r["_seq"] != bad_seq]
    compare_stream(recs, expected, st["origin_id"], topic)
    uncommitted = consume(addr, topic, extra=["-X", "isolation.level=read_uncommitted"])
    print("kafka dead letter once: %d rows, the big one (seq %d, %d KiB) one dead letter "
          "(%s), %d rows exactly once under read_committed (%d more in aborted "
          "transactions, %d transactions aborted); drained in %.1f s" % (
              N, bad_seq, BIG // 1024, dl["reason"], len(recs),
              len(uncommitted) - len(msgs), aborted, elapsed))
