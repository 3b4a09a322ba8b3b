# SPDX-License-Identifier: Apache-2.0
"""exactly_once: damaged values in the cursor topic. The agent drains
SA_KAFKA_CURSOR_RECORDS records (3000 by default) into Kafka with a
transactional producer and stops; then values that are not cursors are
produced after its last cursor, under its key (<origin id>/<sink>), into the cursor topic (bad
JSON, a negative segment id, trailing bytes, a key twice, a quote in the
origin id, each of which would say "start again from the beginning" if it
were taken). The next start must log each one with its place (sink, topic,
partition, offset) and reason (sync/sink/kafka_cursor.c), resume from the last
good cursor, and send nothing twice: a read_committed consumer still sees
every seq exactly once."""
import json
import time
import uuid

from kafka_harness import *

N = int(os.environ.get("SA_KAFKA_CURSOR_RECORDS", "3000"))
SEED = 29

addr = bootstrap()
tag = uuid.uuid4().hex[:10]
topic = "sa-cursor-data-" + tag
cursor_topic = "sa-cursor-" + tag
agent_id = "cur-" + tag


def produce(topic_name, pairs):
    """One message per (key, value), values without tabs or newlines."""
    text = "".join("%s\t%s\n" % kv for kv in pairs)
    try:
        proc = subprocess.run(["kcat", "-P", "-b", addr, "-t", topic_name, "-K", "\t"],
                              input=text.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        fail("kcat is not installed: run tools/setup")
    check(proc.returncode == 0, "kcat -P %s: %s" % (topic_name, proc.stderr.decode()))


def log_events(stderr):
    events = []
    for line in stderr.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            fail("not a JSON log line: %r" % line)
    return events


def check_exactly_once(origin_id, label):
    # A committed transaction's markers reach the partitions just after
    # the commit returns; until they do, a read_committed consumer's end
    # (the last stable offset) stops short of it. On a loaded machine that
    # takes a moment: read again until every record is there, for a while.
    deadline = time.time() + 60
    while True:
        msgs = consume(addr, topic)
        distinct = {m["headers"]["seq"] for m in msgs}
        if len(distinct) >= N or time.time() > deadline:
            break
        time.sleep(0.5)
    seqs = {}
    for m in msgs:
        check(m["headers"]["origin_id"] == origin_id, "%s: origin %s" % (
            label, m["headers"]["origin_id"]))
        seq = int(m["headers"]["seq"])
        seqs[seq] = seqs.get(seq, 0) + 1
    twice = sorted(s for s, c in seqs.items() if c > 1)
    check(not twice, "%s: %d records twice, e.g. seq %s" % (label, len(twice), twice[:5]))
    check(len(seqs) == N and min(seqs) == 1 and max(seqs) == N,
          "%s: %d of %d records" % (label, len(seqs), N))
    return len(msgs)


with Workdir("kafka-cursor") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: " + agent_id, "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 10s",
        "  log_format: json",
        "batch:", "  max_records: 500", "  linger: 20ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v1", "    seed: %d" % SEED, "    count: %d" % N,
        "    rate: 0", "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr, "    topic: " + topic,
        "    exactly_once: true", "    cursor_topic: " + cursor_topic,
        "    transaction_interval: 100ms", "    retry_initial: 50ms", "    retry_max: 1s",
    ]) + "\n")
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    origin = status_json(cfg)["origin_id"]
    check_exactly_once(origin, "first run")
    key = origin + "/k"  # the spool's identity, not agent.id

    cursors = [m for m in consume(addr, cursor_topic) if m["key"] == key.encode()]
    check(cursors, "no cursor under %s in %s" % (key, cursor_topic))
    last = json.loads(cursors[-1]["value"])
    check(last["origin_id"] == origin, "the last cursor is not this spool's: %r" % last)

    bad = [
        ("not a cursor", "is not JSON"),
        ('{"origin_id":"%s","segment_id":-1,"record_index":0}' % origin,
         'has "segment_id" -1, out of range 0 to 9223372036854775807'),
        ('{"origin_id":"%s","segment_id":0,"record_index":0} trailing' % origin,
         "is not JSON: end of file expected near 'trailing'"),
        ('{"origin_id":"%s","segment_id":1,"segment_id":1,"record_index":0}' % origin,
         "has a key twice"),
        ('{"origin_id":"%s\\"","segment_id":0,"record_index":0}' % origin[:8],
         'has "origin_id" with byte 0x22 at 8'),
    ]
    produce(cursor_topic, [(key, value) for value, _ in bad])
    # Their offsets (a transaction's commit marker takes one too).
    offsets = [m["offset"] for m in consume(addr, cursor_topic)
               if m["key"] == key.encode()][-len(bad):]
    check(offsets[0] > cursors[-1]["offset"], "the bad cursors are not after the good one")

    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    events = log_events(proc.stderr)
    ignored = [e for e in events if e.get("msg") == "kafka sink: unreadable cursor ignored"]
    check(len(ignored) == len(bad), "%d of %d bad cursors logged as ignored:\n%s" % (
        len(ignored), len(bad), proc.stderr[-4000:]))
    for (value, reason), offset, event in zip(bad, offsets, ignored):
        where = "cursor in %s [0] at offset %d " % (cursor_topic, offset)
        check(event.get("sink") == "k" and event.get("error", "").startswith(where)
              and reason in event["error"],
              "bad cursor %r: expected %r ... %r, logged %r" % (value, where, reason,
                                                                 event))
    resumed = [e for e in events
               if e.get("msg") == "kafka sink resumes from its committed cursor"]
    check(len(resumed) == 1 and resumed[0].get("segment") == str(last["segment_id"])
          and resumed[0].get("record") == str(last["record_index"]),
          "expected a resume from the last good cursor %r, got %r" % (last, resumed))
    n_msgs = check_exactly_once(origin, "after the bad cursors")
    print("kafka cursor read-back: %d records; %d damaged cursor values after the last "
          "good one each logged with place and reason; resumed from segment %d record "
          "%d; %d messages, each seq once" % (N, len(bad), last["segment_id"],
                                               last["record_index"], n_msgs))
