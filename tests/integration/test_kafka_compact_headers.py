# SPDX-License-Identifier: Apache-2.0
"""`headers: compact` against the real broker: one spool drained by two
Kafka sinks, one with the default layout (seven identity headers), one
with the compact one (a single `identity` header,
"1;origin_id;seq;schema_subject;schema_version;event_time_ms;op;version").
Every compact message carries that header and no other; split, its seven
fields equal the separate headers of the message with the same seq in the
other topic, field by field; the values decode (fastavro) against the
schema the compact header names, and compare with `syncagent generate` by
(origin_id, seq): nothing lost, nothing twice (DESIGN.md I3)."""
import uuid

from kafka_harness import *

N = 3000
FIELDS = ("origin_id", "seq", "schema_subject", "schema_version", "event_time_ms",
          "op", "version")

addr = bootstrap()
tag = "sa-hdr-" + uuid.uuid4().hex[:10]
with Workdir("kafka-compact-headers") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: hdr", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "batch:", "  max_records: 500", "  linger: 50ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v2", "    seed: 42", "    count: %d" % N,
        "    rate: 0", "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: ksep", "    type: kafka", "    brokers: " + addr,
        "    topic: %s-sep" % tag,
        "  - name: kcompact", "    type: kafka", "    brokers: " + addr,
        "    topic: %s-compact" % tag, "    headers: compact",
    ]) + "\n")
    run(["check", "-c", cfg], check_rc=0)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    origin = status_json(cfg)["origin_id"]

    separate = {int(m["headers"]["seq"]): m for m in consume(addr, tag + "-sep")}
    check(len(separate) == N, "separate layout: %d messages, expected %d" % (
        len(separate), N))
    compact = consume(addr, tag + "-compact")
    check(len(compact) == N, "compact layout: %d messages, expected %d" % (len(compact), N))
    for m in compact:
        names = sorted(m["headers"])
        if names != ["identity"]:
            fail("compact message %d/%d has headers %s, expected only identity" % (
                m["partition"], m["offset"], names))
        parts = m["headers"]["identity"].split(";")
        if len(parts) != 1 + len(FIELDS) or parts[0] != "1":
            fail("compact message %d/%d: identity %r is not 1;%s" % (
                m["partition"], m["offset"], m["headers"]["identity"], ";".join(FIELDS)))
        expanded = dict(zip(FIELDS, parts[1:]))
        twin = separate.get(int(expanded["seq"]))
        if twin is None:
            fail("compact seq %s is not in the separate layout's topic" % expanded["seq"])
        want = {k: twin["headers"][k] for k in FIELDS}
        if expanded != want:
            fail("seq %s: compact %r, separate %r" % (expanded["seq"], expanded, want))
        check(m["key"] == twin["key"] and m["value"] == twin["value"],
              "seq %s: key or value differs between the layouts" % expanded["seq"])
        m["headers"] = expanded
    check(all(m["headers"]["origin_id"] == origin for m in compact),
          "an origin_id other than the spool's %s" % origin)
    recs = [decode_avro(m) for m in compact]
    check_headers_and_order(compact, "compact", "device_id", recs)
    dups = compare_stream(recs, generate_jsonl("sensor_reading:v2", N, 42), origin,
                          "compact")
    check(dups == 0, "compact: %d duplicates in a clean run" % dups)
    print("kafka compact headers: %d records, one identity header each, equal to the "
          "seven separate headers field by field; 0 lost, 0 duplicated" % N)
