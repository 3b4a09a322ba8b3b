# SPDX-License-Identifier: Apache-2.0
"""A stray quote in a followed file (tail: true) never takes the rows after
it (issue 11 item 2).

A file rotated away by rename is read to its end and left; what is left
then is decided as at the end of a file read once: a quote that never
closed is a stray one, its line goes to the dead letters and every row
after it is read. A file that is not rotated: once the quoted field is
longer than max_field (no field can be) and the file has not changed for
poll_interval, the same (it used to hold every row after it until the
file was rotated). The dead letters of a file rotated away name it where it went
(app.csv.1), and one kept by reference is read back from there. It used to be dropped without a word ("csv file
finished ... accepted=5 rejected=0" for a file of 206 rows). Once with
the rows after the quote inside the read window, once with more of them
than the window holds (read_buffer 4KiB, max_field 64: the row is
followed by the skip scanner, which used to wait for ever on a followed
file). Every row but the stray one is spooled once, compared by id."""
import signal
import subprocess
import time

from harness import *

HEADER = "id,count,total,ratio,active,level,ts\n"
CSV_SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "csv", "schemas")
SMALL_WINDOW = "    read_buffer: 4KiB\n    max_field: 64\n"


def row(i):
    return "r%d,%d,%d,%d.5,true,MID,%d\n" % (i, i % 1000, i * 7, i, START_MS + i)


def status(cfg):
    """status --json, or {} before the agent created its spool."""
    proc = run(["status", "-c", cfg, "--json"])
    return json.loads(proc.stdout) if proc.returncode == 0 else {}


def wait_for(what, cond, agent, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        check(agent.poll() is None, "the agent exited %s" % agent.returncode)
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.05)


def case(label, after, extra, rotate):
    with Workdir("tail-stray") as work:
        log = work.join("app.csv")
        out = work.join("out")
        cfg = work.write("agent.yaml", (
            "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
            "batch:\n  linger: 20ms\n"
            "sources:\n  - name: tail\n    type: csv\n    stream: csv_test\n"
            "    path: %s\n    tail: true\n    poll_interval: 50ms\n%s"
            "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
                work.join("data"), CSV_SCHEMAS, log, extra, out))
        written = []
        with open(log, "w") as f:
            f.write(HEADER)
            for i in range(5):
                f.write(row(i))
                written.append(i)
            # Line 7: a quote opens the second field and never closes.
            f.write('r5,"5,35,5.5,true,MID,%d\n' % (START_MS + 5))
            for i in range(6, 6 + after):
                f.write(row(i))
                written.append(i)
        agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(work.join("agent.log"), "w"))
        try:
            wait_for("the rows before the quote", lambda: status(cfg).get("next_seq", 0) > 5,
                     agent)
            if rotate:
                os.rename(log, log + ".1")
                with open(log, "w") as f:
                    f.write(HEADER)
                    for i in range(100000, 100010):
                        f.write(row(i))
                        written.append(i)
            wait_for("every row but the stray one (%d)" % len(written),
                     lambda: status(cfg).get("next_seq", 0) - 1 >= len(written), agent)
            wait_for("the stray line's dead letter",
                     lambda: status(cfg).get("deadletters", 0) >= 1, agent)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        agent_log = open(work.join("agent.log")).read()
        check(agent.returncode == 0, "agent exited %d: %s" % (agent.returncode,
                                                              agent_log[-2000:]))
        dl = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0)
        letters = [json.loads(l) for l in dl.stdout.splitlines() if l.strip()]
        # A rotated file's dead letters name where it went (app.csv.1):
        # app.csv is another file now.
        where = log + (".1" if rotate else "") + ":7:4"
        check(len(letters) == 1 and letters[0]["location"] == where,
              "%s: dead letters %r, expected at %s" % (label, letters, where))
        check("unterminated quoted field" in letters[0]["reason"], letters[0]["reason"])
        ids = [int(r["id"][1:]) for r in
               read_ndjson_by_stream(out).get("csv_test", [])]
        check(sorted(ids) == sorted(written), "%s: %d rows spooled, %d written; "
              "missing e.g. %s" % (label, len(ids), len(written),
                                   sorted(set(written) - set(ids))[:10]))
        print("%s: %d rows after a stray quote in a followed file: every one "
              "spooled once, the stray line dead-lettered" % (label, after))


def rotated_by_reference():
    """A row longer than the window, kept by reference, in a followed file
    rotated away: the dead letter points into the renamed file, so export
    reads the row back (it pointed at the new file at the old path)."""
    with Workdir("tail-ref") as work:
        log = work.join("app.csv")
        cfg = work.write("agent.yaml", (
            "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
            "batch:\n  linger: 20ms\n"
            "sources:\n  - name: tail\n    type: csv\n    stream: csv_test\n"
            "    path: %s\n    tail: true\n    poll_interval: 50ms\n%s"
            "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
                work.join("data"), CSV_SCHEMAS, log, SMALL_WINDOW, work.join("out")))
        long_row = "r1,%s,7,1.5,true,MID,%d\n" % ("9" * 200000, START_MS)
        with open(log, "w") as f:
            f.write(HEADER + row(0) + long_row + row(2))
        agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(work.join("agent.log"), "w"))
        try:
            wait_for("the long row's dead letter",
                     lambda: status(cfg).get("deadletters", 0) >= 1, agent)
            os.rename(log, log + ".1")
            with open(log, "w") as f:
                f.write(HEADER + row(3))
            wait_for("the new file's row", lambda: status(cfg).get("next_seq", 0) > 3,
                     agent)
            wait_for("the rotated file's dead letters moved", lambda: (log + ".1:") in
                     run(["deadletter", "list", "-c", cfg, "--json"]).stdout, agent)
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        dl = json.loads(run(["deadletter", "list", "-c", cfg, "--json"],
                            check_rc=0).stdout.splitlines()[0])
        check(dl.get("raw_file") == log + ".1" and dl["location"] == log + ".1:3:1",
              "the dead letter does not follow the rotated file: %r" % dl)
        out = run(["deadletter", "export", "-c", cfg], check_rc=0).stdout
        check(long_row.strip() in out, "export does not read the row back:\n" +
              out[:500])
        print("rotated, kept by reference: the dead letter names app.csv.1 and "
              "export reads the row back")


rotated_by_reference()

# Rotated away: decided at the end of the rotated file.
case("rotated, inside the window", 200, "", True)
case("rotated, past the window", 3000, SMALL_WINDOW, True)
# Not rotated: decided once the open field is longer than max_field (64 KiB
# by default; 64 bytes with the small window) and the file is quiet.
case("past max_field, inside the window", 2000, "", False)
case("past max_field, past the window", 3000, SMALL_WINDOW, False)
