# SPDX-License-Identifier: Apache-2.0
"""exactly_once: true and batches whose every record is rejected before a
send: with `headers: compact`, the schema subject "bad;order" (a
directory under schemas/) cannot be carried in the identity header, so
its records are dead-lettered and none reaches Kafka. No transaction
holds them, so the cursor committed into Kafka stays before them, and a
restart resumes from that cursor (kafka_cursor.c): the next instance
offers them to the sink again, which rejects them again. Their dead
letters must still be stored once (the dispatcher skips those an earlier
run stored: load_stored), and nothing may reach Kafka twice.

Run 1 drains GOOD rows of a CSV file of orders (schema order): the
cursor in Kafka lies past them. Run 2 adds a CSV file of BAD rows under
"bad;order" and is killed with SIGKILL once status shows their BAD dead
letters and no lag. Run 3 starts again and drains. Then: BAD dead
letters, not more, and run 3 stored none; a read_committed consumer sees
each good row exactly once and no bad one."""
import json
import shutil
import signal
import time
import uuid

from kafka_harness import *

GOOD = 400
BAD = 150
WAIT = 60  # seconds for run 2 to dead-letter the bad rows

addr = bootstrap()
topic = "sa-rejrs-" + uuid.uuid4().hex[:10]
with Workdir("kafka-rejected-restart") as work:
    schemas = work.join("schemas")
    shutil.copytree(SCHEMAS_DIR, schemas)
    shutil.copytree(os.path.join(schemas, "order"), os.path.join(schemas, "bad;order"))
    good_csv, bad_csv = work.join("good.csv"), work.join("bad.csv")
    for path, n, seed in ((good_csv, GOOD, 3), (bad_csv, BAD, 4)):
        run(["generate", "--schema", "order", "-n", str(n), "--seed", str(seed),
             "--format", "csv", "--start-time", str(START_MS), "--interval", "1s",
             "--schemas-dir", schemas, "-o", path], check_rc=0)

    def config(with_bad):
        lines = [
            "agent:", "  id: rejrs-" + uuid.uuid4().hex[:6],
            "  data_dir: " + work.join("data"), "  schemas_dir: " + schemas,
            "  shutdown_grace: 10s",
            "batch:", "  max_records: 100", "  linger: 20ms",
            "sources:",
            "  - name: good", "    type: csv", "    stream: order", "    schema: order",
            "    path: " + good_csv, "    watch: false",
        ]
        if with_bad:
            lines += ["  - name: bad", "    type: csv", "    stream: bad_order",
                      "    schema: bad;order", "    path: " + bad_csv,
                      "    watch: false"]
        lines += [
            "sinks:",
            "  - name: k", "    type: kafka", "    brokers: " + addr,
            "    topic: " + topic, "    headers: compact",
            "    exactly_once: true", "    transaction_interval: 100ms",
            "    retry_initial: 50ms", "    retry_max: 1s",
        ]
        return work.write("agent.yaml", "\n".join(lines) + "\n")

    run(["run", "-c", config(False), "--exit-when-synced"], check_rc=0, timeout=300)
    cfg = config(True)
    run(["check", "-c", cfg], check_rc=0)

    log = open(work.join("agent.log"), "w+")
    proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                            stderr=subprocess.STDOUT)
    until = time.time() + WAIT
    st = status_json(cfg)
    while time.time() < until and not (st["deadletters"] >= BAD and
                                       st["sinks"][0]["lag_records"] == 0):
        time.sleep(0.2)
        st = status_json(cfg)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    check(st["deadletters"] == BAD and st["sinks"][0]["lag_records"] == 0,
          "run 2 after %d s: %d dead letters (expected %d), lag %d" % (
              WAIT, st["deadletters"], BAD, st["sinks"][0]["lag_records"]))

    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    work.write("agent3.log", proc.stderr)
    st = status_json(cfg)
    check(st["next_seq"] == GOOD + BAD + 1, "next_seq %d after %d rows" % (
        st["next_seq"], GOOD + BAD))
    check(st["sinks"][0]["lag_records"] == 0, "lag %d" % st["sinks"][0]["lag_records"])
    check(st["deadletters"] == BAD,
          "%d dead letters after the restart, expected %d: the restart sent the "
          "rejected rows again" % (st["deadletters"], BAD))
    check('msg="records dead-lettered"' not in proc.stderr,
          "the restart stored dead letters again:\n" + proc.stderr[-3000:])
    dl = json.loads(run(["deadletter", "list", "-c", cfg, "--json"],
                        check_rc=0).stdout.splitlines()[0])
    check(dl["source"] == "sink:k" and dl["stream"] == "bad_order" and
          "holds a ';'" in dl["reason"], "dead letter %r" % dl)

    msgs = consume(addr, topic, at_least=GOOD)
    seen = {}
    for m in msgs:
        fields = m["headers"]["identity"].split(";")
        seen[int(fields[2])] = seen.get(int(fields[2]), 0) + 1
    twice = sorted(s for s, c in seen.items() if c > 1)
    check(not twice, "%d rows seen more than once, e.g. seq %s" % (len(twice),
                                                                  twice[:5]))
    check(sorted(seen) == list(range(1, GOOD + 1)),
          "Kafka holds seqs %s..%s (%d), expected the %d good rows 1..%d" % (
              min(seen, default=None), max(seen, default=None), len(seen), GOOD, GOOD))
    print("kafka rejected batch restart: %d good rows exactly once, %d rows of "
          "subject 'bad;order' %d dead letters across a kill -9 and a restart" % (
              GOOD, BAD, st["deadletters"]))
