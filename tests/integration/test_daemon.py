# SPDX-License-Identifier: Apache-2.0
"""The daemon with a watched directory: files dropped in are picked up,
spooled, synced and moved away (on_done: move) only after their rows are
committed; SIGHUP reloads the config (a new sink starts receiving); a bad
config on SIGHUP is refused and the old one keeps running; SIGTERM stops
with exit 0. The agent's threads carry names (sink:NAME, spool-commit,
housekeeper)."""
import signal
import subprocess
import time

from harness import *

CSV_SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "csv", "schemas")
HEADER = "id,count,total,ratio,active,level,ts\n"


def drop(work, name, first, n):
    """Write a CSV file atomically into in/ (write elsewhere, rename in)."""
    tmp = work.join(name + ".tmp")
    with open(tmp, "w") as f:
        f.write(HEADER)
        for i in range(first, first + n):
            f.write("d%d,%d,%d,1.5,true,LOW,%d\n" % (i, i % 100, i, START_MS + i))
    os.rename(tmp, work.join("in", name))


def thread_names(pid):
    """The names of the process's threads (agent/base/thread.h)."""
    names = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.append(f.read().strip())
        except FileNotFoundError:
            pass  # the thread ended meanwhile
    return names


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.1)


def config(work, sinks):
    text = ("agent:\n  data_dir: %s\n  schemas_dir: %s\n"
            "batch:\n  linger: 20ms\n"
            "sources:\n  - name: inbox\n    type: csv\n    stream: csv_test\n"
            "    path: %s/in/*.csv\n    poll_interval: 100ms\n    on_done: move:%s/done\n"
            "sinks:\n") % (work.join("data"), CSV_SCHEMAS, work.path, work.path)
    for name in sinks:
        text += "  - name: %s\n    type: file\n    path: %s\n" % (name, work.join(name))
    return work.write("agent.yaml", text)


def ids(work, sink):
    recs = read_ndjson_by_stream(work.join(sink)).get("csv_test", [])
    return sorted(int(r["id"][1:]) for r in {r["_seq"]: r for r in recs}.values())


with Workdir("daemon") as work:
    os.makedirs(work.join("in"))
    os.makedirs(work.join("done"))
    cfg = config(work, ["a"])
    log = open(work.join("agent.log"), "w")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=log)
    try:
        drop(work, "one.csv", 0, 500)
        drop(work, "two.csv", 500, 700)
        wait_for("two files synced to a", lambda: ids(work, "a") == list(range(1200)))
        wait_for("two files moved", lambda: sorted(os.listdir(work.join("done"))) ==
                 ["one.csv", "two.csv"])
        check(os.listdir(work.join("in")) == [], "in/ not empty: %s" % os.listdir(
            work.join("in")))
        # top -H and perf tell the agent's threads apart.
        names = thread_names(agent.pid)
        for want in ("sink:a", "spool-commit", "housekeeper"):
            check(want in names, "no thread named %s: %s" % (want, sorted(names)))

        # Reload with a second sink: it receives what arrives from now on.
        config(work, ["a", "b"])
        agent.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        drop(work, "three.csv", 1200, 300)
        wait_for("three.csv synced to a and b",
                 lambda: ids(work, "a") == list(range(1500)) and
                 set(range(1200, 1500)) <= set(ids(work, "b")))
        check("sink:b" in thread_names(agent.pid), "the reloaded sink's thread is unnamed")

        # A bad config on reload is refused; the running one goes on.
        work.write("agent.yaml", "agent:\n  data_dir: [not, a, string]\n")
        agent.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        check(agent.poll() is None, "agent exited after a bad reload")
        drop(work, "four.csv", 1500, 100)
        wait_for("four.csv synced after a refused reload",
                 lambda: ids(work, "a") == list(range(1600)))
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    text = open(work.join("agent.log")).read()
    check(agent.returncode == 0, "agent exited %d on SIGTERM" % agent.returncode)
    check("config reload failed" in text, "no log line for the refused reload")
    check(text.count("config reloaded") == 1, "expected exactly one successful reload")
    print("daemon: 4 files, 1600 rows, each synced once; 1 reload applied, 1 refused")
