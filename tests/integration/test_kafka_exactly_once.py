# SPDX-License-Identifier: Apache-2.0
"""exactly_once: true across kill -9. The agent generates and drains
SA_KAFKA_EOS_RECORDS records (1M by default) into Kafka with a
transactional producer and is killed with SIGKILL at random points,
SA_KILLS times (at least 20), then run to the end. A read_committed
consumer must see every seq exactly once: the cursor committed in the
same transaction as the records tells each restart where to go on, and
what a killed instance left open is aborted by the next one's
init_transactions. A sample of the values is decoded with fastavro and
compared with `syncagent generate`."""
import random
import signal
import time
import uuid

from kafka_harness import *

N = int(os.environ.get("SA_KAFKA_EOS_RECORDS", "1000000"))
KILLS = max(20, int(os.environ.get("SA_KILLS", "20")))
SEED = 13

rng = random.Random(int(os.environ.get("SA_SEED", str(int(time.time())))))
addr = bootstrap()
topic = "sa-eos-" + uuid.uuid4().hex[:10]
with Workdir("kafka-eos") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: eos-" + uuid.uuid4().hex[:6], "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "batch:", "  max_records: 2000", "  linger: 20ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v1", "    seed: %d" % SEED, "    count: %d" % N,
        "    rate: 0", "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr, "    topic: " + topic,
        "    exactly_once: true", "    transaction_interval: 100ms",
        "    retry_initial: 50ms", "    retry_max: 1s",
    ]) + "\n")
    log = open(work.join("agent.log"), "w+")
    killed_busy = 0
    t0 = time.time()
    for i in range(KILLS):
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                                stderr=subprocess.STDOUT)
        time.sleep(rng.uniform(0.2, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        st = status_json(cfg)
        if st["next_seq"] <= N or st["sinks"][0]["lag_records"] > 0:
            killed_busy += 1
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=900)
    elapsed = time.time() - t0
    st = status_json(cfg)
    check(st["next_seq"] == N + 1, "next_seq %d after %d records" % (st["next_seq"], N))
    log.seek(0)
    resumed = log.read().count("resumes from its committed cursor")

    msgs = consume(addr, topic, at_least=N)
    seen = {}
    for m in msgs:
        h = m["headers"]
        check(h["origin_id"] == st["origin_id"], "origin %s" % h["origin_id"])
        seq = int(h["seq"])
        seen[seq] = seen.get(seq, 0) + 1
    twice = [s for s, c in seen.items() if c > 1]
    missing = N - len(seen)
    check(not twice, "%d records seen more than once by a read_committed consumer, "
          "e.g. seq %s" % (len(twice), sorted(twice)[:5]))
    check(missing == 0 and min(seen) == 1 and max(seen) == N,
          "%d records missing (seqs %d..%d)" % (missing, min(seen), max(seen)))
    # Content of a sample, decoded by fastavro.
    expected = generate_jsonl("sensor_reading:v1", min(N, 20000), SEED)
    sample = [m for m in msgs if int(m["headers"]["seq"]) <= len(expected)]
    for m in sample:
        rec = decode_avro(m)
        want = expected[rec["_seq"] - 1]
        check(strip_meta(rec) == want, "seq %d differs: %r vs %r" % (rec["_seq"], rec,
                                                                     want))
    uncommitted = consume(addr, topic, extra=["-X", "isolation.level=read_uncommitted"])
    print("kafka exactly once: %d records, %d kills (%d while not yet drained), %d "
          "resumes from the committed cursor; read_committed sees each exactly once "
          "(%d messages, %d more in aborted transactions); %d values checked with "
          "fastavro; %.1f s" % (N, KILLS, killed_busy, resumed, len(msgs),
                                len(uncommitted) - len(msgs), len(sample), elapsed))
