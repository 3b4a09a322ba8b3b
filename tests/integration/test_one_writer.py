# SPDX-License-Identifier: Apache-2.0
"""One writer per data directory (invariant I7, issue 11 item 1).

Two `run` started at once on one data directory: one runs, the other exits 2
at once with one line naming the data directory and the first one's PID; the
one that runs imports a dropped file once (no duplicate in its output).
While it runs: a second `run` (also after a SIGHUP reload), `import` and
`deadletter replay` are refused the same way and spool nothing; `status`,
`spool verify`, `deadletter list`, `deadletter export` and `check` work
beside it. kill -9 of the holder: a restart right after takes the lock and
goes on. Two daemons that also share admin.listen: the second one is still
refused for the data directory, not for the port."""
import signal
import subprocess
import time

from harness import *

CSV_SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "csv", "schemas")
HEADER = "id,count,total,ratio,active,level,ts\n"


def write_csv(path, first, n):
    with open(path, "w") as f:
        f.write(HEADER)
        for i in range(first, first + n):
            f.write("d%d,%d,%d,1.5,true,LOW,%d\n" % (i, i % 100, i, START_MS + i))


def drop(work, name, first, n):
    """Write a CSV file atomically into in/ (write elsewhere, rename in)."""
    tmp = work.join(name + ".tmp")
    write_csv(tmp, first, n)
    os.rename(tmp, work.join("in", name))


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.05)


def config(work, linger="20ms"):
    text = ("agent:\n  data_dir: %s\n  schemas_dir: %s\n"
            "batch:\n  linger: %s\n"
            "sources:\n  - name: inbox\n    type: csv\n    stream: csv_test\n"
            "    path: %s/in/*.csv\n    poll_interval: 100ms\n"
            "sinks:\n  - name: a\n    type: file\n    path: %s\n") % (
                work.join("data"), CSV_SCHEMAS, linger, work.path, work.join("a"))
    return work.write("agent.yaml", text)


def sink_records(work):
    return read_ndjson_by_stream(work.join("a")).get("csv_test", [])


def lock_pid(work):
    try:
        with open(work.join("data", "spool.db-lock")) as f:
            text = f.read().strip()
        return int(text) if text else 0
    except (OSError, ValueError):
        return 0


def check_refused(proc_rc, stderr, holder, what):
    """A writer refused: exit 2, one line naming the data directory and the
    holder's PID."""
    lines = stderr.strip().splitlines()
    check(proc_rc == 2, "%s exited %d, expected 2; stderr: %s" % (what, proc_rc, stderr))
    check(len(lines) == 1, "%s: expected one line on stderr, got %d: %r" % (
        what, len(lines), stderr))
    check("data directory %s is in use by another writer (pid %d)" % (
        work.join("data"), holder) in lines[0],
        "%s: the line does not name the data directory and pid %d: %r" % (
            what, holder, lines[0]))


def start(cfg, log_name):
    log = open(work.join(log_name), "w")
    return subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                            stderr=log)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


with Workdir("one-writer") as work:
    os.makedirs(work.join("in"))
    cfg = config(work)
    procs = []
    try:
        # Two daemons at once: exactly one keeps running.
        procs = [start(cfg, "one.log"), start(cfg, "two.log")]
        wait_for("one of the two daemons to exit",
                 lambda: any(p.poll() is not None for p in procs))
        loser = [p for p in procs if p.poll() is not None]
        check(len(loser) == 1, "both daemons exited: %s" % [p.returncode for p in procs])
        loser = loser[0]
        holder = [p for p in procs if p is not loser][0]
        loser_log = "one.log" if loser is procs[0] else "two.log"
        check_refused(loser.returncode, open(work.join(loser_log)).read(), holder.pid,
                      "the second run")
        wait_for("the holder's PID in the lock file", lambda: lock_pid(work) == holder.pid)

        # The one that runs imports a dropped file once.
        drop(work, "one.csv", 0, 2000)
        wait_for("one.csv synced", lambda: len(sink_records(work)) >= 2000)
        recs = sink_records(work)
        seqs = [r["_seq"] for r in recs]
        check(len(seqs) == len(set(seqs)) == 2000,
              "%d records delivered, %d distinct, expected 2000 once each" % (
                  len(seqs), len(set(seqs))))
        check(sorted(int(r["id"][1:]) for r in recs) == list(range(2000)),
              "the sink does not hold rows 0..1999 once each")
        check(holder.poll() is None, "the running daemon exited")

        # Readers work beside the writer.
        st = status_json(cfg)
        next_seq = st["next_seq"]
        check(next_seq == 2001, "status: next_seq %s, expected 2001" % next_seq)
        run(["status", "-c", cfg], check_rc=0)
        run(["spool", "verify", "--path", work.join("data", "spool.db")], check_rc=0)
        run(["spool", "verify", "-c", cfg], check_rc=0)
        run(["deadletter", "list", "-c", cfg], check_rc=0)
        run(["deadletter", "export", "-c", cfg, "-o", work.join("dl.csv")], check_rc=0)
        run(["check", "-c", cfg], check_rc=0)

        # import while run holds the spool: refused, nothing spooled.
        extra = work.join("extra.csv")
        write_csv(extra, 5000, 300)
        proc = run(["import", "-c", cfg, extra], timeout=60)
        check_refused(proc.returncode, proc.stderr, holder.pid, "import")
        check(status_json(cfg)["next_seq"] == next_seq,
              "the refused import spooled something")

        # deadletter replay commits too: refused the same way.
        proc = run(["deadletter", "replay", "-c", cfg, "--all"], timeout=60)
        check_refused(proc.returncode, proc.stderr, holder.pid, "deadletter replay")

        # The lock is kept across a SIGHUP reload.
        holder.send_signal(signal.SIGHUP)
        wait_for("the reload", lambda: "config reloaded" in open(
            work.join("one.log" if holder is procs[0] else "two.log")).read())
        proc = run(["run", "-c", cfg], timeout=60)
        check_refused(proc.returncode, proc.stderr, holder.pid, "run after a reload")
        check(holder.poll() is None, "the running daemon exited")

        # kill -9 the holder; a restart right after takes the lock.
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        restarted = start(cfg, "three.log")
        procs.append(restarted)
        drop(work, "two.csv", 2000, 500)
        wait_for("two.csv synced after the restart",
                 lambda: set(range(2500)) <= {int(r["id"][1:]) for r in sink_records(work)}
                 or restarted.poll() is not None)
        check(restarted.poll() is None, "the restarted daemon exited %s: %s" % (
            restarted.returncode, open(work.join("three.log")).read()[-2000:]))
        check(lock_pid(work) == restarted.pid, "the lock file names pid %d, not the "
              "restarted daemon %d" % (lock_pid(work), restarted.pid))
        stop(restarted)
        check(restarted.returncode == 0, "the restarted daemon exited %d on SIGTERM"
              % restarted.returncode)

        # With no writer left, import takes the lock.
        proc = run(["import", "-c", cfg, extra], timeout=120)
        check(proc.returncode == 0, "import with no daemon exited %d: %s" % (
            proc.returncode, proc.stderr))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    print("one writer: second run, import and deadletter replay refused with the "
          "holder's pid (also after a reload); readers ran beside it; 2000 rows "
          "delivered once; a restart after kill -9 took the lock")

# Two daemons on the default admin setup: both want the same port. The
# second is still told who holds the data directory, not that the port is
# taken (it used to start its admin server before taking the lock).
import socket

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = dict(os.environ)
env.pop("SA_ADMIN_LISTEN", None)
with Workdir("one-writer-port") as work:
    os.makedirs(work.join("in"))
    cfg = config(work)
    with open(cfg, "a") as f:
        f.write("admin:\n  listen: 127.0.0.1:%d\n" % port)
    first = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(work.join("first.log"), "w"), env=env)
    try:
        wait_for("the first daemon's admin server", lambda: "admin server listening"
                 in open(work.join("first.log")).read() or first.poll() is not None)
        check(first.poll() is None, "the first daemon exited: %s" %
              open(work.join("first.log")).read())
        proc = run(["run", "-c", cfg], timeout=60, env=env)
        check_refused(proc.returncode, proc.stderr, first.pid,
                      "a second run with the same admin.listen")
        check(first.poll() is None, "the first daemon exited")
    finally:
        stop(first)
print("a second run on the same admin port names the data directory's writer")
