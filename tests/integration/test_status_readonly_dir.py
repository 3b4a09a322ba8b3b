# SPDX-License-Identifier: Apache-2.0
"""The readers (`status`, `spool verify`, `deadletter list`, `deadletter
export`) work on a data directory they cannot write -- a read-only mount,
a spool owned by the agent's user -- where SQLite cannot create the WAL
index beside the spool and said "attempt to write a readonly database".
Root ignores permissions, so as root the readers run as user nobody
(setpriv); as anyone else the directory's mode is enough."""
import stat
import shutil

from dl_common import *

with Workdir("status-readonly") as work:
    cfg = wx_config(work)
    g = work.join("in", "g.csv")
    write_csv(g, "station,note,id,temp\nS1,n1,1,1.5\nS2,n2,2,warm\n")
    run(["import", "-c", cfg, g], check_rc=3)
    data = work.join("data")
    check(not os.path.exists(work.join("data", "spool.db-shm")),
          "a -shm is left after import: %r" % os.listdir(data))
    # Everything readable by all, the data directory writable by none.
    for root, dirs, files in os.walk(work.path):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    os.chmod(data, 0o555)
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        check(setpriv is not None, "running as root needs setpriv to drop to nobody")
        prefix = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    try:
        def reader(args):
            proc = subprocess.run(prefix + [SYNCAGENT] + args, capture_output=True,
                                  text=True, timeout=60)
            check(proc.returncode == 0, "%r exited %d:\n%s" % (
                args, proc.returncode, proc.stderr))
            return proc.stdout
        st = json.loads(reader(["status", "-c", cfg, "--json"]))
        check(st["next_seq"] == 2 and st["deadletters_open"] == 1, "status: %r" % st)
        reader(["spool", "verify", "-c", cfg])
        dls = [json.loads(l) for l in reader(["deadletter", "list", "-c", cfg,
                                               "--json"]).splitlines()]
        check(len(dls) == 1 and "warm" in dls[0]["raw"], "list: %r" % dls)
        out = reader(["deadletter", "export", "-c", cfg])
        check("S2,n2,2,warm" in out, "export:\n" + out)
        check(not any(f.endswith("-shm") for f in os.listdir(data)),
              "a reader wrote into the data directory: %r" % os.listdir(data))
    finally:
        os.chmod(data, 0o755)
print("ok")
