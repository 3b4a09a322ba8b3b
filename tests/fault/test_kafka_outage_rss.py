# SPDX-License-Identifier: Apache-2.0
"""Scenario 2: the Kafka broker goes down during steady ingest.

A rate-limited generator feeds the Kafka sink (the test broker of the
`kafka` fixture, tools/testenv/kafka). After a warm-up the broker is
stopped (tools/testenv/kafka/stop) for SA_OUTAGE_SECONDS while ingest goes
on into the spool, then started again (same directory, port and data).

What must hold: lost 0 (the topic, read back with kcat and decoded with
fastavro, equals what `syncagent generate` produces, by (origin_id, seq);
duplicates from at-least-once delivery must be exact copies and are
counted); the backlog drains (sink lag 0); exit 0 on SIGTERM; and memory:

- during the outage the agent's RSS (VmRSS) stays within 10% (plus
  RSS_SLACK_KIB of noise) of its level just before it: the backlog is on
  disk, and a sink that is down is sent a probe, not the send window;
- while the backlog drains at full speed the sink holds its whole window,
  max_in_flight messages (librdkafka keeps ~1 KiB per message, most of it
  the six identity headers): RSS may rise by that much
  (MAX_IN_FLIGHT * DRAIN_KIB_PER_MESSAGE), never with the backlog's size
  (60k records here; 5 minutes at SA_FAULT_FULL=1 make 600k);
- once drained, back in steady state, RSS is again within 10% of before.

Outage length: SA_OUTAGE_SECONDS, default 30 s (CI); SA_FAULT_FULL=1 makes
the default 300 s, the five minutes of issue 5. The generator runs through
warm-up, outage and 20 s after it.
"""
import uuid

from faultlib import *
from kafka_harness import bootstrap, broker_start, broker_stop, consume, decode_avro

DOWN_S = float(os.environ.get("SA_OUTAGE_SECONDS", "300" if FULL else "30"))
WARMUP_S = 10.0
AFTER_S = 20.0
RATE = 2000
N = int(RATE * (WARMUP_S + DOWN_S + AFTER_S))
RSS_SLACK_KIB = 2048
MAX_IN_FLIGHT = 5000         # the sink default, written into the config
DRAIN_KIB_PER_MESSAGE = 1.5  # a bound on librdkafka's cost per message
SETTLE_S = 8                 # after the drain: > the housekeeper's 5 s trim
SEED = 31


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS for pid %d" % pid)


addr = bootstrap()
topic = "sa-outage-rss-" + uuid.uuid4().hex[:10]
with Workdir("f-outage-rss") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: outage-rss", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "spool:", "  max_bytes: 1GiB",
        "batch:", "  max_records: 500", "  linger: 50ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v1", "    seed: %d" % SEED, "    count: %d" % N,
        "    rate: %d" % RATE, "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr, "    topic: " + topic,
        "    delivery_timeout: 3s", "    retry_initial: 200ms", "    retry_max: 2s",
        "    max_in_flight: %d" % MAX_IN_FLIGHT,
        "    kafka:", "      reconnect.backoff.max.ms: 500",
    ]) + "\n")
    log_path = work.join("agent.log")
    proc = start(["run", "-c", cfg], log_path)
    broker_down = False
    try:
        # Warm-up; the level before the outage is the highest RSS over its
        # last seconds (the agent is in steady state by then).
        t_start = time.time()
        before = []
        while time.time() - t_start < WARMUP_S:
            check(proc.poll() is None, "the agent exited during warm-up")
            if time.time() - t_start > WARMUP_S - 3:
                before.append(rss_kib(proc.pid))
            time.sleep(0.2)
        base = max(before)
        limit = int(base * 1.10) + RSS_SLACK_KIB

        t_down = time.time()
        broker_stop()
        broker_down = True
        during = []
        while time.time() - t_down < DOWN_S:
            check(proc.poll() is None, "the agent exited during the outage")
            during.append(rss_kib(proc.pid))
            time.sleep(0.5)
        st_down = status_json(cfg)
        broker_start()
        broker_down = False
        t_up = time.time()

        draining, after = [], []

        def synced():
            draining.append(rss_kib(proc.pid))
            st = status_json(cfg)
            return (st["next_seq"] - 1 >= N and
                    all(s["lag_records"] == 0 for s in st["sinks"]))
        wait_for(synced, 600 + DOWN_S, "the backlog to drain", step=0.5)
        drain_s = time.time() - t_up
        t_settle = time.time()
        while time.time() - t_settle < SETTLE_S:
            time.sleep(0.5)
            after.append(rss_kib(proc.pid))
        rc = stop(proc)
    finally:
        if proc.poll() is None:
            kill9(proc)
        if broker_down:
            broker_start()
    text = open(log_path, errors="replace").read()
    check(rc == 0, "the agent exited %d on SIGTERM:\n%s" % (rc, text[-3000:]))
    check("sink backoff" in text, "the outage never reached the sink:\n" + text[-3000:])
    lag_down = max(s["lag_records"] for s in st_down["sinks"])
    check(lag_down > 0, "no backlog at the end of the outage: was the broker down?")

    st = status_json(cfg)
    check(st["next_seq"] == N + 1, "next_seq %d after %d records" % (st["next_seq"], N))
    msgs = consume(addr, topic)
    recs = [decode_avro(m) for m in msgs]
    dups = compare_stream(recs, generate_jsonl("sensor_reading:v1", N, SEED),
                          st["origin_id"], "sensor_reading")
    peak_during, peak_drain = max(during), max(draining)
    settled = after[-1]
    drain_limit = base + int(MAX_IN_FLIGHT * DRAIN_KIB_PER_MESSAGE) + RSS_SLACK_KIB
    # The RSS over time (KiB, every 5 s), to tell a plateau from growth.
    print("rss during the outage: " + " ".join(str(v) for v in during[::10]))
    print("rss while draining: " + " ".join(str(v) for v in draining[::10]))
    print("rss after it: " + " ".join(str(v) for v in after))
    print("kafka outage rss: broker down %.0f s during ingest at %d/s; backlog %d "
          "records at restart, drained in %.1f s; %d in, %d messages, 0 lost, %d "
          "duplicated; RSS before %d KiB, peak during %d KiB (limit %d), peak "
          "while draining %d KiB (limit %d), %d KiB %d s after" % (
              DOWN_S, RATE, lag_down, drain_s, N, len(msgs), dups, base, peak_during,
              limit, peak_drain, drain_limit, settled, SETTLE_S))
    figures("kafka_outage_rss", N, len(msgs), 0, dups, drain_s, down_s="%.0f" % DOWN_S,
            backlog=lag_down, rss_before_kib=base, rss_during_max_kib=peak_during,
            rss_draining_max_kib=peak_drain, rss_settled_kib=settled,
            rss_during_growth_pct="%.1f" % (100.0 * (peak_during - base) / base))
    check(peak_during <= limit, "RSS grew during the outage: %d KiB, %d KiB before "
          "(limit %d KiB)" % (peak_during, base, limit))
    check(peak_drain <= drain_limit, "RSS while draining: %d KiB, more than the "
          "send window explains (%d KiB before, limit %d KiB)" % (
              peak_drain, base, drain_limit))
    check(settled <= limit, "RSS did not come back after the drain: %d KiB %d s "
          "after, %d KiB before (limit %d KiB)" % (settled, SETTLE_S, base, limit))
