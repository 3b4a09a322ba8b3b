# SPDX-License-Identifier: Apache-2.0
"""Fleet config push, a rollback after the pipeline fails during probation
(issue 14), against a real nginx.

The agents run under libfiu (fiu-run -x, Debian's fiu-utils) and start on
their local file (spool.sync normal: a commit does not fsync). Version 1
changes no sink, only spool.sync to full: every commit now fsyncs. While
it is on probation the test arms one failing fsync at a time (fiu-ctrl,
onetime, EIO) until one hits a commit: ingest fails, and rather than exit
the agent rolls back to its last good config (the local file alone,
version 0), reports ROLLED_BACK with the reason in its status PUT, audit
and metrics, and goes on ingesting. It does not take version 1 again;
version 2 (spool.sync normal) is applied. No sink is new or changed in
version 1, so only the ingest failure can have rolled it back."""
import os
import shutil
import subprocess
import time

import harness
from fleet_harness import Fleet, all_report, wait_for
from harness import check, fail

N = 2
PROBATION = "60s"  # the fault is armed well within it; the rollback ends it
LOCAL = "{name: local, type: file, path: out-local, format: ndjson}"
LOCAL_NO_FSYNC = "{name: local, type: file, path: out-local, format: ndjson, fsync: false}"


def fleet_config(version, sync):
    """The agents' own sources and sink (so no sink is on probation) and
    spool.sync."""
    return ("version: %d\n" % version +
            "spool: {sync: %s}\n" % sync +
            "sources:\n"
            "  - {name: gen, type: generator, stream: orders, schema: order, rate: 20}\n"
            "sinks:\n"
            "  - " + LOCAL_NO_FSYNC + "\n")


def lines(agent):
    d = os.path.join(agent.dir, "out-local")
    n = 0
    for f in os.listdir(d):
        with open(os.path.join(d, f), "rb") as fp:
            n += fp.read().count(b"\n")
    return n


def fail_one_commit(agent):
    """Arm one failing fsync (EIO) at a time until ingest fails: one may
    hit another fsync (a WAL checkpoint), which the agent rides out."""
    deadline = time.monotonic() + 60
    while "ingest failed" not in agent.log_text():
        if time.monotonic() > deadline:
            fail(agent.id + ": no commit failed under the armed fsync faults")
        subprocess.run(["fiu-ctrl", "-c", "enable name=posix/io/sync/*,failinfo=5,onetime",
                        str(agent.proc.pid)], check=True)
        # until it has fired (the next commit, within batch.linger)
        wait_until = time.monotonic() + 3
        while time.monotonic() < wait_until and "ingest failed" not in agent.log_text():
            time.sleep(0.1)


def main():
    if not shutil.which("fiu-run"):
        fail("fiu-run not found: install fiu-utils (tools/setup)")
    with harness.Workdir("fleet-ingest-rollback") as work:
        fleet = Fleet(work, "ingest-rollback")
        ids = ["ingest-%d" % i for i in range(N)]
        agents = [fleet.agent(a, probation=PROBATION, admin=True) for a in ids]
        try:
            for a in agents:
                with open(a.config) as f:
                    text = f.read()
                check(LOCAL in text, "the harness's local sink changed: " + text)
                with open(a.config, "w") as f:
                    f.write(text.replace(LOCAL, LOCAL_NO_FSYNC))
                a.start(prefix=["fiu-run", "-x"])
            all_report(fleet, ids, lambda s: s["version"] == 0, "every agent reporting")

            fleet.sign(fleet_config(1, "full"))
            all_report(fleet, ids, lambda s: s["version"] == 1 and s["status"] == "APPLIED",
                       "every agent APPLIED version 1")
            for a in agents:
                fail_one_commit(a)
            sts = all_report(fleet, ids, lambda s: s["status"] == "ROLLED_BACK",
                             "every agent ROLLED_BACK version 1")
            for a in agents:
                s = sts[a.id]
                check(s["version"] == 0 and
                      "the pipeline failed in probation" in s["error"] and
                      "I/O" in s["error"], "%s reported %s" % (a.id, s))
                check(a.alive(), a.id + " exited on the ingest failure")
                rows = [d for k, d in a.audit() if k == "fleet_rolled_back"]
                check(len(rows) == 1 and rows[0].startswith("version=1 the pipeline failed"),
                      "%s audit: %s" % (a.id, rows))
                check(a.metric('syncagent_fleet_applies_total{result="rolled_back"}') == 1
                      and a.metric("syncagent_config_version") == 0,
                      a.id + ": the metrics do not show the rollback")
                before = lines(a)
                wait_for(a.id + " ingesting and writing after the rollback",
                         lambda: lines(a) > before)

            # version 1 is not taken again; version 2 is
            fleet.sign(fleet_config(2, "normal"))
            all_report(fleet, ids, lambda s: s["version"] == 2 and s["status"] == "APPLIED",
                       "every agent APPLIED version 2")
            for a in agents:
                check(a.log_text().count("fleet: config applied") == 2,
                      a.id + " applied version 1 again")
        finally:
            fleet.stop_all()
        for a in agents:
            p = harness.run(["spool", "verify", "-c", a.config])
            check(p.returncode == 0, "%s: spool verify: %s %s" % (a.id, p.stdout, p.stderr))
        print("ok: %d agents rolled back a config whose commits failed in probation, "
              "and took the next one" % N)


if __name__ == "__main__":
    main()
