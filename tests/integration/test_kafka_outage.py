# SPDX-License-Identifier: Apache-2.0
"""The broker goes away mid-stream: the agent keeps spooling, librdkafka
times the undelivered messages out, the sink reports RETRY and the
dispatcher backs off; when the broker comes back (same DIR, same port,
same data) the backlog drains. Nothing is lost; duplicates (at least
once) must be exact copies, and the test reports how many it saw. The
log says each librdkafka error once, and says when the broker is back."""
import subprocess
import time
import uuid

from kafka_harness import *

N = int(os.environ.get("SA_KAFKA_OUTAGE_RECORDS", "60000"))
RATE = N // 12  # the generator runs for about 12 s
DOWN_S = float(os.environ.get("SA_KAFKA_OUTAGE_SECONDS", "10"))

addr = bootstrap()
topic = "sa-outage-" + uuid.uuid4().hex[:10]
with Workdir("kafka-outage") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: outage", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "batch:", "  max_records: 500", "  linger: 50ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v1", "    seed: 9", "    count: %d" % N,
        "    rate: %d" % RATE, "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr, "    topic: " + topic,
        "    delivery_timeout: 3s", "    retry_initial: 200ms", "    retry_max: 2s",
        "    kafka:", "      reconnect.backoff.max.ms: 500",
    ]) + "\n")
    log = open(work.join("agent.log"), "w+")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        check(agent.poll() is None, "agent exited before the outage")
        t_down = time.monotonic()
        broker_stop()
        time.sleep(DOWN_S)
        broker_start()
        t_up = time.monotonic()
        rc = agent.wait(timeout=600)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    log.seek(0)
    text = log.read()
    check(rc == 0, "agent exited %d:\n%s" % (rc, text[-3000:]))
    check("sink backoff" in text, "the outage never reached the sink:\n" + text[-3000:])
    # Each librdkafka error once (its own log line, not again as "kafka
    # error"), and a word when the broker is back.
    check('msg="kafka error"' not in text, "librdkafka errors logged twice:\n" +
          "\n".join(l for l in text.splitlines() if "kafka error" in l)[:2000])
    check("kafka brokers reachable again" in text,
          "nothing said the broker came back:\n" + text[-3000:])

    st = status_json(cfg)
    msgs = consume(addr, topic)
    recs = [decode_avro(m) for m in msgs]
    expected = generate_jsonl("sensor_reading:v1", N, 9)
    dups = compare_stream(recs, expected, st["origin_id"], "sensor_reading")
    print("kafka outage: broker down %.1f s mid-stream; %d records in, %d messages in "
          "Kafka, 0 lost, %d duplicated (at least once); %d backoffs logged" % (
              t_up - t_down, N, len(msgs), dups, text.count("sink backoff")))
