# SPDX-License-Identifier: Apache-2.0
"""exactly_once identity per spool, not per agent.id.

Two agents with the same agent.id (hosts cloned from one image share the
default, the host name), each with its own data directory, both
exactly_once into one topic and one compacted cursor topic (segment.ms
100, so the broker compacts it while they run), killed with SIGKILL
together at random points, then run to the end. A read_committed
consumer must see each agent's records once each, and neither agent may
be fenced: the transactional.id and the cursor key are the spool's
origin_id. (With "<agent id>/<sink>" they fenced each other, and after
compaction one resumed from an older cursor: duplicates.)

Then the migration: a spool whose cursor an earlier version committed
under "<agent id>/<sink>" resumes from it once (the records before it are
not sent again), and cursors of other spools under that key are counted
in one line, not logged one by one."""
import random
import signal
import time
import uuid

from kafka_harness import *
import sqlite3

N = int(os.environ.get("SA_KAFKA_SHARED_RECORDS", "30000"))
KILLS = int(os.environ.get("SA_KILLS", "8"))
AGENT_ID = "cloned-" + uuid.uuid4().hex[:6]

rng = random.Random(int(os.environ.get("SA_SEED", str(int(time.time())))))
addr = bootstrap()
topic = "sa-shared-" + uuid.uuid4().hex[:10]
cursors = "sa-shared-cursors-" + uuid.uuid4().hex[:10]
create_topic(addr, cursors, 1, cleanup_policy="compact", segment_ms=100,
             min_cleanable_dirty_ratio="0.01", delete_retention_ms=100)


def config(work, name, seed, brokers, cursor_topic, exactly_once=True, count=N, rate=None):
    """rate: records a second (0: no limit); by default the count in 10 s, so
    that the kills find the agents busy."""
    return work.write(name + ".yaml", "\n".join([
        "agent:", "  id: " + AGENT_ID, "  data_dir: " + work.join("data-" + name),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 2s",
        # Two agents at once: not both on the admin server's default port.
        "admin:", "  enabled: false",
        "batch:", "  max_records: 1000", "  linger: 20ms",
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v1", "    seed: %d" % seed, "    count: %d" % count,
        "    rate: %d" % (count // 10 if rate is None else rate), "    start_time: %d" % START_MS,
        "    interval: 1s",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + brokers, "    topic: " + topic,
        "    exactly_once: %s" % ("true" if exactly_once else "false"),
        "    cursor_topic: " + cursor_topic, "    transaction_interval: 100ms",
        "    retry_initial: 50ms", "    retry_max: 1s",
    ]) + "\n")


def read_log(path):
    with open(path) as f:
        return f.read()


with Workdir("kafka-shared-id") as work:
    cfgs = [config(work, "a", 21, addr, cursors), config(work, "b", 22, addr, cursors)]
    logs = [work.join("a.log"), work.join("b.log")]
    t0 = time.time()
    for i in range(KILLS):
        procs = []
        for cfg, path in zip(cfgs, logs):
            with open(path, "a") as log:
                procs.append(subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                                              stderr=subprocess.STDOUT))
        time.sleep(rng.uniform(0.3, 1.5))
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait()
    procs = []
    for cfg, path in zip(cfgs, logs):
        with open(path, "a") as log:
            procs.append(subprocess.Popen([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                                          stdout=log, stderr=subprocess.STDOUT))
    for p, path in zip(procs, logs):
        rc = p.wait(timeout=600)
        check(rc == 0, "agent exited %d:\n%s" % (rc, read_log(path)[-3000:]))
    elapsed = time.time() - t0

    origins = []
    for cfg, path in zip(cfgs, logs):
        st = status_json(cfg)
        check(st["next_seq"] == N + 1, "next_seq %d after %d records" % (st["next_seq"], N))
        origins.append(st["origin_id"])
        text = read_log(path)
        for bad in ("fenced", "fatal error", "cursor of another spool"):
            check(bad not in text, "%s: %r in the log:\n%s" % (
                path, bad, "\n".join(l for l in text.splitlines() if bad in l)[:3000]))
    seen = {o: {} for o in origins}
    msgs = consume(addr, topic)
    for m in msgs:
        h = m["headers"]
        check(h["origin_id"] in seen, "origin %s is neither agent's" % h["origin_id"])
        s = seen[h["origin_id"]]
        seq = int(h["seq"])
        s[seq] = s.get(seq, 0) + 1
    for o in origins:
        twice = sorted(q for q, c in seen[o].items() if c > 1)
        check(not twice, "origin %s: %d records seen more than once by a read_committed "
              "consumer, e.g. seq %s" % (o, len(twice), twice[:5]))
        check(len(seen[o]) == N and min(seen[o]) == 1 and max(seen[o]) == N,
              "origin %s: %d of %d records" % (o, len(seen[o]), N))
    keys = {m["key"] for m in consume(addr, cursors)}
    check(keys == {("%s/k" % o).encode() for o in origins},
          "cursor keys %r, expected the two origin ids" % keys)
    print("kafka shared agent.id: 2 agents x %d records, %d kills of both; "
          "read_committed sees each once, no fencing; %.1f s" % (N, KILLS, elapsed))

    # Migration: a spool filled while its sink could not deliver (a closed
    # port), then started against the broker with a cursor an earlier
    # version committed under the agent.id key, in the middle of the spool.
    n_old = 5000
    mig_cursors = "sa-shared-mig-" + uuid.uuid4().hex[:10]
    create_topic(addr, mig_cursors, 1, cleanup_policy="compact")
    cfg = config(work, "m", 23, "127.0.0.1:1", mig_cursors, exactly_once=False,
                 count=n_old, rate=0)
    path = work.join("m.log")
    with open(path, "w") as log:
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "every source is finished" not in read_log(path):
        check(time.monotonic() < deadline and proc.poll() is None,
              "the agent did not spool its records:\n" + read_log(path)[-3000:])
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(timeout=60) == 0, "SIGTERM:\n" + read_log(path)[-3000:])
    st = status_json(cfg)
    db = sqlite3.connect("file:%s?mode=ro" % work.join("data-m", "spool.db"), uri=True)
    segs = db.execute("SELECT id, first_seq FROM segments ORDER BY id").fetchall()
    db.close()
    check(len(segs) >= 3, "want 3 segments or more, got %r" % segs)
    mid_id, mid_seq = segs[len(segs) // 2]
    old_key = "%s/k" % AGENT_ID
    lines = ["%s|%s" % (old_key, json.dumps({"origin_id": str(uuid.uuid4()),
                                             "segment_id": 1, "record_index": 0}))
             for _ in range(5)]
    lines.append("%s|%s" % (old_key, json.dumps({"origin_id": st["origin_id"],
                                                 "segment_id": mid_id,
                                                 "record_index": 0})))
    lines += ["%s|%s" % (old_key, json.dumps({"origin_id": str(uuid.uuid4()),
                                              "segment_id": 9, "record_index": 0}))
              for _ in range(5)]
    proc = subprocess.run(["kcat", "-P", "-b", addr, "-t", mig_cursors, "-K", "|"],
                          input="\n".join(lines) + "\n", text=True, capture_output=True,
                          timeout=60)
    check(proc.returncode == 0, "kcat -P: " + proc.stderr)
    cfg = config(work, "m", 23, addr, mig_cursors, count=n_old, rate=0)
    with open(path, "a") as log:
        rc = subprocess.run([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                            stdout=log, stderr=subprocess.STDOUT, timeout=300).returncode
    text = read_log(path)
    check(rc == 0, "migration run exited %d:\n%s" % (rc, text[-3000:]))
    check(text.count("cursor taken over from its old key") == 1,
          "the old key's cursor was not taken over once:\n" + text[-3000:])
    check("cursor of another spool" not in text,
          "other spools' cursors logged one by one:\n" + text[-3000:])
    mine = [int(m["headers"]["seq"]) for m in consume(addr, topic)
            if m["headers"]["origin_id"] == st["origin_id"]]
    check(sorted(mine) == list(range(mid_seq, n_old + 1)),
          "after the migrated cursor (seq %d on): got %d records, seqs %s..%s" % (
              mid_seq, len(mine), min(mine) if mine else "-", max(mine) if mine else "-"))
    keys = [m["key"] for m in consume(addr, mig_cursors)]
    check(("%s/k" % st["origin_id"]).encode() in keys,
          "no cursor under the spool's own key after the migration: %r" % keys)
    print("kafka cursor migration: resumed at seq %d of %d from the agent.id key; "
          "10 cursors of other spools under it ignored in one line" % (mid_seq, n_old))
