# SPDX-License-Identifier: Apache-2.0
"""Quality tags reach Kafka (issue 13 §1): records that fail a rule with
action tag carry a `quality` header with the rule names (Avro values),
and a `_quality` field too with JSON values; the others carry neither,
and a dropped record is not in the topic. Read back with kcat from the
real broker."""
import subprocess
import uuid

from kafka_harness import *


def quality_headers(addr, topic):
    """{(partition, offset): the quality header or None}, read with kcat -J:
    its %h format joins headers with commas, as the header's value does."""
    proc = subprocess.run(["kcat", "-C", "-b", addr, "-t", topic, "-o", "beginning",
                           "-e", "-q", "-J", "-X", "isolation.level=read_committed"],
                          capture_output=True, timeout=600)
    check(proc.returncode == 0, "kcat -J: %s" % proc.stderr[-2000:])
    out = {}
    for line in proc.stdout.splitlines():
        m = json.loads(line.decode("utf-8", errors="replace"))  # Avro payloads
        h = m.get("headers") or []
        values = [h[i + 1] for i in range(0, len(h), 2) if h[i] == "quality"]
        check(len(values) <= 1, "two quality headers: %r" % h)
        out[(m["partition"], m["offset"])] = values[0] if values else None
    return out

N = 600
addr = bootstrap()
tag = "sa-quality-" + uuid.uuid4().hex[:10]
with Workdir("kafka-quality") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: quality", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR,
        "sources:",
        "  - name: orders", "    type: generator", "    stream: order",
        "    schema: order", "    seed: 7", "    count: %d" % N, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: kavro", "    type: kafka", "    brokers: " + addr,
        "    topic: %s.${stream}" % tag,
        "  - name: kjson", "    type: kafka", "    brokers: " + addr,
        "    topic: %s-json.${stream}" % tag, "    encoding: json",
        "streams:", "  order:", "    quality:",
        "      - {column: amount, max: 50, action: tag, name: big}",
        "      - {column: country, one_of: [US, DE, FR, GB, JP], action: tag, name: market}",
        "      - {column: status, one_of: [PENDING, PAID, SHIPPED, DELIVERED], action: drop}",
    ]) + "\n")
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    expected = {r["order_id"]: r for r in generate_jsonl("order", N, 7)}

    def want_tags(r):
        t = []
        if r["amount"] > 50:
            t.append("big")
        if r["country"] not in ("US", "DE", "FR", "GB", "JP"):
            t.append("market")
        return t

    kept = {k: r for k, r in expected.items() if r["status"] != "CANCELLED"}
    check(0 < len(kept) < N, "the seed drops none or all: %d of %d" % (len(kept), N))
    msgs = consume(addr, "%s.order" % tag)
    qh = quality_headers(addr, "%s.order" % tag)
    recs = [decode_avro(m) for m in msgs]
    check(sorted(r["order_id"] for r in recs) == sorted(kept),
          "avro: %d records, %d expected after drops" % (len(recs), len(kept)))
    tagged = 0
    for m, r in zip(msgs, recs):
        want = want_tags(expected[r["order_id"]])
        got = qh[(m["partition"], m["offset"])]
        check(got == (",".join(want) if want else None),
              "%s: quality header %r, expected %r" % (r["order_id"], got, want))
        tagged += bool(want)
    check(tagged > 0, "no record was tagged")
    jmsgs = consume(addr, "%s-json.order" % tag)
    qh = quality_headers(addr, "%s-json.order" % tag)
    for m in jmsgs:
        r = json.loads(m["value"])
        want = want_tags(expected[r["order_id"]])
        check(r.get("_quality") == (want or None),
              "%s: _quality %r, expected %r" % (r["order_id"], r.get("_quality"), want))
        got = qh[(m["partition"], m["offset"])]
        check(got == (",".join(want) if want else None),
              "json %s: header %r" % (r["order_id"], got))
    check(len(jmsgs) == len(kept), "json: %d records" % len(jmsgs))
    print("kafka quality: %d of %d records tagged in headers and _quality, %d dropped" % (
        tagged, len(kept), N - len(kept)))
