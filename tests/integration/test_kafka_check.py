# SPDX-License-Identifier: Apache-2.0
"""What a Kafka sink's settings can never do is refused by `check` and at
the start of `run`, with the config's FILE:LINE:COL and the key, not found
later as a send retried forever or a bare librdkafka error: topic
templates that make names Kafka refuses (its rule: 1 to 249 of A-Z a-z
0-9 . _ -, not '.' or '..'), a cursor_topic likewise, a compression codec
librdkafka does not know, `kafka:` properties the idempotent producer
cannot take (acks=0, max.in.flight 10), and broker lists librdkafka would
misread (a port past 65535 wraps around; a stray ',').

Then against the real broker: a stream whose name makes a topic name
Kafka refuses has its records dead-lettered with the reason, and the
records of a stream with a good name are delivered, every one once."""
import re
import uuid

from kafka_harness import *

work_ctx = Workdir("kafka-check")
with work_ctx as work:
    def config(sink_lines, brokers="127.0.0.1:9092", agent_id="kc"):
        return work.write("agent.yaml", "\n".join([
            "agent:", "  id: '%s'" % agent_id, "  data_dir: " + work.join("data"),
            "  schemas_dir: " + SCHEMAS_DIR,
            "sources:",
            "  - name: csv", "    type: csv", "    stream: sensor_reading",
            "    schema: sensor_reading:v2", "    path: " + work.join("in", "*.csv"),
            "sinks:",
            "  - name: k", "    type: kafka", "    brokers: '%s'" % brokers,
        ] + ["    " + line for line in sink_lines]) + "\n")

    def refused(key, words, sink_lines=(), **kw):
        cfg = config(list(sink_lines), **kw)
        proc = run(["check", "-c", cfg], check_rc=2)
        place = re.search(r"agent\.yaml:\d+:\d+: sinks\[0\]\.%s: " % re.escape(key),
                          proc.stderr)
        check(place, "%s %r: no FILE:LINE:COL and key in %r" % (key, sink_lines,
                                                                 proc.stderr))
        for w in words:
            check(w in proc.stderr, "%s %r: %r not in %r" % (key, sink_lines, w,
                                                            proc.stderr))

    for tpl, why in (("a b.${stream}", "byte 0x20 at column 2"),
                     ("x/${stream}", "'/' at column 2"),
                     ("", "it is empty"),
                     ("..", "'.' and '..' are not topic names"),
                     ("t" * 250, "longer than 249"),
                     ("edge.${stream}.\u00e9", "byte 0xc3")):
        refused("topic", [why], ["topic: '%s'" % tpl])
    refused("topic", ["'e.a b.s'", "byte 0x20"], ["topic: 'e.${agent_id}.${stream}'"],
            agent_id="a b")
    refused("cursor_topic", ["byte 0x20"], ["exactly_once: true", "cursor_topic: 'a b'"])
    refused("compression", ["'foo'", "none, gzip, snappy, lz4 or zstd"],
            ["compression: foo"])
    refused("kafka", ["`acks` must be set to `all`"], ["kafka: {acks: '0'}"])
    refused("kafka", ["`max.in.flight` must be set <= 5"],
            ["kafka: {max.in.flight.requests.per.connection: '10'}"])
    refused("kafka", ["`transactional.id` requires `enable.idempotence=true`"],
            ["exactly_once: true", "kafka: {enable.idempotence: 'false'}"])
    for brokers, why in (("127.0.0.1:99999", "port '99999' is not a number from 1 to 65535"),
                         ("127.0.0.1:abc", "port 'abc'"),
                         ("h:0", "port '0'"),
                         ("127.0.0.1:9092,", "an empty entry"),
                         (":9092", "no host"),
                         ("[::1", "'[' without ']'")):
        refused("brokers", [why], brokers=brokers)

    # What librdkafka takes stays accepted: no port (9092), schemes, IPv6,
    # a non-idempotent producer asked for explicitly, every codec.
    for lines, brokers in ((["compression: zstd"], "127.0.0.1"),
                           (["kafka: {acks: '1', enable.idempotence: 'false'}"],
                            "SSL://h:9093, PLAINTEXT://k:9092"),
                           (["topic: 'Edge-1_x.${agent_id}.${stream}'"], "[::1]:9092"),
                           (["topic: '%s'" % ("t" * 249)], "h:65535")):
        run(["check", "-c", config(lines, brokers=brokers)], check_rc=0)

    # run refuses at start with the same place, before opening anything.
    proc = run(["run", "-c", config(["compression: foo"])], check_rc=2)
    check("sinks[0].compression: 'foo'" in proc.stderr, proc.stderr)
    check(not os.path.exists(work.join("data", "spool.db")),
          "run made a spool for a config it refused")

    # A stream's own name is known only when its records come: the records
    # of a stream named "a b" are dead letters, those of "ok" are sent.
    addr = bootstrap()
    tag = "sa-kcheck-" + uuid.uuid4().hex[:10]
    cfg = work.write("run.yaml", "\n".join([
        "agent:", "  id: kc", "  data_dir: " + work.join("run-data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "sources:",
        "  - name: bad", "    type: generator", "    stream: a b",
        "    schema: sensor_reading:v2", "    seed: 1", "    count: 120", "    rate: 0",
        "  - name: good", "    type: generator", "    stream: ok",
        "    schema: sensor_reading:v2", "    seed: 2", "    count: 80", "    rate: 0",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr,
        "    topic: %s.${stream}" % tag,
    ]) + "\n")
    run(["check", "-c", cfg], check_rc=0)
    proc = run(["run", "-c", cfg, "--exit-when-synced"], timeout=300)
    check(proc.returncode in (0, 3), "run exited %d:\n%s" % (proc.returncode, proc.stderr))
    proc = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0)
    letters = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    check(len(letters) == 120, "%d dead letters, expected the 120 of stream 'a b'" %
          len(letters))
    for dl in letters:
        check("topic '%s.a b'" % tag in dl["reason"] and
              "is not a Kafka topic name" in dl["reason"], "reason: %r" % dl["reason"])
    msgs = consume(addr, tag + ".ok", at_least=80)
    seqs = sorted(int(m["headers"]["seq"]) for m in msgs)
    check(len(seqs) == 80 and len(set(seqs)) == 80, "stream ok: %d messages, %d seqs" % (
        len(seqs), len(set(seqs))))
print("ok")
