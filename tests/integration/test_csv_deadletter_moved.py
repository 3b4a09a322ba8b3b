# SPDX-License-Identifier: Apache-2.0
"""Dead letters follow a file that on_done moved: after `run` moves
in/g.csv to done/g.csv, `deadletter list` names done/g.csv:LINE:COL (it
named in/g.csv, where nothing is left), and a row kept by reference
(longer than the read window) is read back from done/g.csv. The
"csv file finished" line names the file, counts the rejected rows and
says where they are (`syncagent deadletter list`). on_done: delete keeps a
file that a dead letter kept by reference points into."""
from dl_common import *

with Workdir("csv-dl-moved") as work:
    cfg = wx_config(work)
    os.makedirs(work.join("done"))
    with open(cfg) as f:
        text = f.read()
    text = text.replace("    watch: false\n", "    watch: false\n    on_done: move:%s\n"
                        "    read_buffer: 4KiB\n    max_field: 1KiB\n" % work.join("done"))
    with open(cfg, "w") as f:
        f.write(text)
    g = work.join("in", "g.csv")
    long_note = "x" * 100000  # longer than the window (4 KiB + 4 x 1 KiB + 64 KiB)
    write_csv(g, "station,note,id,temp\nS1,n1,1,1.5\nS2,n2,2,warm\nS3,%s,3,cold\n"
              "S4,n4,4,2.5\n" % long_note)
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    moved = work.join("done", "g.csv")
    check(os.path.exists(moved) and not os.path.exists(g),
          "on_done did not move the file:\n" + proc.stderr[-3000:])
    dls = dl_list(cfg)
    check(len(dls) == 2, "dead letters: %r" % dls)
    for d in dls:
        check(d["location"].startswith(moved + ":"),
              "location %r does not name where the file went (%s)" % (
                  d["location"], moved))
    by_ref = [d for d in dls if d.get("raw_file")]
    check(len(by_ref) == 1 and by_ref[0]["raw_file"] == moved,
          "the row kept by reference does not point at the moved file: %r" % by_ref)
    out = run(["deadletter", "export", "-c", cfg], check_rc=0).stdout
    check(long_note in out and "S2,n2,2,warm" in out,
          "export does not read the rows back:\n" + out[:2000])
    line = [l for l in proc.stderr.splitlines() if "csv file finished" in l]
    check(len(line) == 1 and "file=" + g in line[0] and "rejected=2" in line[0] and
          'dead_letters="syncagent deadletter list"' in line[0],
          "the finished line: %r" % line)

# on_done: delete and a row kept by reference: its bytes exist only in the
# file, so the file is kept (it was deleted, and the dead letter pointed at
# nothing); a file whose rejected rows are kept whole is deleted.
with Workdir("csv-dl-deleted") as work:
    cfg = wx_config(work)
    with open(cfg) as f:
        text = f.read()
    text = text.replace("    watch: false\n", "    watch: false\n    on_done: delete\n"
                        "    read_buffer: 4KiB\n    max_field: 1KiB\n")
    with open(cfg, "w") as f:
        f.write(text)
    g = work.join("in", "g.csv")
    h = work.join("in", "h.csv")
    long_note = "x" * 100000
    write_csv(g, "station,note,id,temp\nS1,n1,1,1.5\nS3,%s,3,cold\n" % long_note)
    write_csv(h, "station,note,id,temp\nS5,n5,5,1.5\nS6,n6,6,warm\n")
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    check(os.path.exists(g), "on_done: delete deleted a file a dead letter points "
          "into:\n" + proc.stderr[-3000:])
    check(not os.path.exists(h), "on_done: delete kept a file whose rejected rows "
          "are kept whole")
    check("finished csv file kept, not deleted" in proc.stderr, proc.stderr[-3000:])
    out = run(["deadletter", "export", "-c", cfg], check_rc=0).stdout
    check(long_note in out and "S6,n6,6,warm" in out,
          "export does not read the rows back:\n" + out[:2000])

# The same when the file is finished by a later start: the dead letter was
# committed by the first one (which stopped while the file's last line had
# no newline yet), so the second keeps the file for it too.
import re
import signal
import subprocess
import time

with Workdir("csv-dl-deleted-restart") as work:
    cfg = wx_config(work)
    with open(cfg) as f:
        base = f.read()

    def configure(poll):
        with open(cfg, "w") as f:
            f.write(base.replace("    watch: false\n", "    watch: true\n"
                                 "    poll_interval: %s\n    on_done: delete\n"
                                 "    read_buffer: 4KiB\n    max_field: 1KiB\n" % poll))

    configure("1h")  # a last line without its newline waits that long
    g = work.join("in", "g.csv")
    write_csv(g, "station,note,id,temp\nS1,n1,1,1.5\nS3,%s,3,cold\nS4,n4,4,2.5" %
              ("x" * 100000))
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(work.join("first.log"), "w"))
    try:
        deadline = time.time() + 60
        while True:
            proc = run(["status", "-c", cfg, "--json"])
            if proc.returncode == 0 and json.loads(proc.stdout)["deadletters"] >= 1:
                break
            check(agent.poll() is None and time.time() < deadline,
                  "no dead letter from the first start: " +
                  open(work.join("first.log")).read()[-2000:])
            time.sleep(0.05)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    check(os.path.exists(g), "the first start finished the file")
    with open(g, "a") as f:
        f.write("\n")
    configure("50ms")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(work.join("second.log"), "w"))
    try:
        deadline = time.time() + 60
        while not re.search("finished csv file (kept|deleted)",
                            open(work.join("second.log")).read()):
            check(agent.poll() is None and time.time() < deadline,
                  "the second start did not finish the file: " +
                  open(work.join("second.log")).read()[-2000:])
            time.sleep(0.05)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
    check(os.path.exists(g), "a later start deleted a file a dead letter points "
          "into:\n" + open(work.join("second.log")).read()[-3000:])
print("ok")
