# SPDX-License-Identifier: Apache-2.0
"""Tail: a writer appends rows to a file while the agent follows it; the
file is rotated by rename and by copytruncate, and its last line is
sometimes left half-written for a while. Every row must be spooled
exactly once.

copytruncate loses, for every tailer, what the writer appends between the
copy and the truncation and what the tailer had not read yet; so before
each copytruncate the writer waits until the agent has caught up, as a
logrotate postrotate/prerotate pause would."""
import signal
import subprocess
import time

from harness import *

HEADER = "id,count,total,ratio,active,level,ts\n"
CSV_SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "csv", "schemas")


def row(i):
    return "r%d,%d,%d,%d.5,true,MID,%d\n" % (i, i % 1000, i * 7, i, START_MS + i)


def spooled(cfg):
    st = status_json(cfg)
    return st["next_seq"] - 1


with Workdir("tail") as work:
    log = work.join("app.csv")
    out = work.join("out")
    cfg = work.write("agent.yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
        "batch:\n  linger: 20ms\n"
        "sources:\n  - name: tail\n    type: csv\n    stream: csv_test\n"
        "    path: %s\n    tail: true\n    poll_interval: 50ms\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            work.join("data"), CSV_SCHEMAS, log, out))
    with open(log, "w") as f:
        f.write(HEADER)
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(work.join("agent.log"), "w"))
    n = 0
    f = open(log, "a")

    def append(count):
        global n
        for _ in range(count):
            f.write(row(n))
            n += 1
        f.flush()

    def wait_caught_up():
        deadline = time.time() + 60
        while spooled(cfg) < n:
            check(time.time() < deadline, "agent did not catch up: %d of %d spooled" % (
                spooled(cfg), n))
            time.sleep(0.05)

    try:
        for cycle in range(3):
            for _ in range(20):
                append(250)
                time.sleep(0.01)
            # A half-written line: not consumed until its newline arrives.
            half = row(n)
            f.write(half[:10])
            f.flush()
            time.sleep(0.3)
            f.write(half[10:])
            n += 1
            f.flush()
            # Rotation by rename while writing goes on in the new file.
            append(100)
            os.rename(log, log + ".%d" % cycle)
            f.close()
            f = open(log, "w")
            f.write(HEADER)
            append(500)
            # copytruncate, after the agent caught up.
            wait_caught_up()
            with open(log) as src, open(log + ".copy%d" % cycle, "w") as dst:
                dst.write(src.read())
            f.truncate(0)
            f.seek(0)
            f.write(HEADER)
            append(300)
        f.close()
        wait_caught_up()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    check(agent.returncode == 0, "agent exited %d" % agent.returncode)

    records = read_ndjson_by_stream(out).get("csv_test", [])
    by_seq = {r["_seq"]: r for r in records}
    ids = sorted(int(r["id"][1:]) for r in by_seq.values())
    missing = sorted(set(range(n)) - set(ids))
    twice = len(ids) - len(set(ids))
    check(not missing, "%d rows missing, e.g. %s" % (len(missing), missing[:10]))
    check(twice == 0, "%d rows spooled twice" % twice)
    check(len(ids) == n, "%d rows spooled, %d written" % (len(ids), n))
    print("tail: %d rows written across 3 renames and 3 copytruncates; spooled %d, "
          "lost 0, twice 0" % (n, len(ids)))
