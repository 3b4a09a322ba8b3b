# SPDX-License-Identifier: Apache-2.0
"""End to end against the real broker: two generator sources and a CSV
file (`syncagent import`) -> spool -> two Kafka sinks, one with Avro
single-object values, one with JSON. Every topic is read back with kcat
(read_committed) and compared with `syncagent generate` by (origin_id,
seq): nothing missing, nothing twice, nothing altered. The Avro values are
decoded by fastavro against schemas/<subject>/v<N>.avsc, after checking
the single-object marker and fingerprint; keys are the records' key
fields; seqs rise within each partition."""
import time
import uuid

from kafka_harness import *

N_SENSOR = int(os.environ.get("SA_KAFKA_E2E_RECORDS", "30000"))
N_ORDER = N_SENSOR * 2 // 5
N_CSV = N_SENSOR // 3


def check_sent_during(msgs, label, t_start, t_end):
    """Each message's timestamp (CreateTime, which the sink sets itself,
    one clock reading a send) lies within the run: the time it was sent,
    not its event time, not zero."""
    out = [m["timestamp"] for m in msgs if not t_start <= m["timestamp"] <= t_end]
    check(not out, "%s: %d timestamps outside the run [%d, %d], e.g. %s" % (
        label, len(out), t_start, t_end, out[:3]))


addr = bootstrap()
tag = "sa-e2e-" + uuid.uuid4().hex[:10]
with Workdir("kafka-e2e") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: e2e", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "batch:", "  max_records: 1000", "  linger: 50ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v2", "    seed: 42", "    count: %d" % N_SENSOR,
        "    rate: 0", "    start_time: %d" % START_MS, "    interval: 1s",
        "  - name: orders", "    type: generator", "    stream: order",
        "    schema: order", "    seed: 7", "    count: %d" % N_ORDER, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "  - name: users", "    type: csv", "    stream: user", "    schema: user",
        "    path: " + work.join("none-*.csv"), "    watch: false",
        "sinks:",
        "  - name: kavro", "    type: kafka", "    brokers: " + addr,
        "    topic: %s.${stream}" % tag, "    delivery_timeout: 30s",
        "  - name: kjson", "    type: kafka", "    brokers: " + addr,
        "    topic: %s-json.${stream}" % tag, "    encoding: json",
        "    kafka:", "      compression.codec: zstd", "      linger.ms: 5",
    ]) + "\n")
    run(["check", "-c", cfg], check_rc=0)
    users_csv = work.join("users.csv")
    run(["generate", "--schema", "user", "-n", str(N_CSV), "--seed", "3", "--format",
         "csv", "--start-time", str(START_MS), "--interval", "1s", "--schemas-dir",
         SCHEMAS_DIR, "-o", users_csv], check_rc=0)
    # CSV first, through import (spooled once, then drained by both sinks).
    t_start = int(time.time() * 1000)
    run(["import", "-c", cfg, "--stream", "user", "--wait-synced", users_csv],
        check_rc=0, timeout=600)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    t_end = int(time.time() * 1000)
    st = status_json(cfg)
    origin = st["origin_id"]
    for s in st["sinks"]:
        check(s["lag_records"] == 0, "sink %s lag %d" % (s["sink"], s["lag_records"]))

    total = 0
    for stream, sch, seed, n, key in (
            ("sensor_reading", "sensor_reading:v2", 42, N_SENSOR, "device_id"),
            ("order", "order", 7, N_ORDER, "order_id"),
            ("user", "user", 3, N_CSV, "user_id")):
        expected = generate_jsonl(sch, n, seed)
        msgs = consume(addr, "%s.%s" % (tag, stream))
        recs = [decode_avro(m) for m in msgs]
        check_headers_and_order(msgs, "avro " + stream, key, recs)
        check(all(m["headers"]["op"] == "upsert" for m in msgs), "a delete in " + stream)
        check_sent_during(msgs, "avro " + stream, t_start, t_end)
        check(len({m["partition"] for m in msgs}) == 3,
              "%s: keyed records landed on %d partitions" % (
                  stream, len({m["partition"] for m in msgs})))
        dups = compare_stream(recs, expected, origin, "avro " + stream)
        check(dups == 0, "avro %s: %d duplicates in a clean run" % (stream, dups))

        jmsgs = consume(addr, "%s-json.%s" % (tag, stream))
        check_sent_during(jmsgs, "json " + stream, t_start, t_end)
        jrecs = [json.loads(m["value"]) for m in jmsgs]
        check_headers_and_order(jmsgs, "json " + stream, key, jrecs)
        dups = compare_stream(jrecs, expected, origin, "json " + stream)
        check(dups == 0, "json %s: %d duplicates in a clean run" % (stream, dups))
        total += len(msgs)
    print("kafka e2e: %d records per sink (generator %d + %d, csv %d) in Kafka as Avro "
          "(fastavro-decoded) and JSON: 0 lost, 0 duplicated" % (
              total, N_SENSOR, N_ORDER, N_CSV))
