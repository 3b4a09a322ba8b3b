# SPDX-License-Identifier: Apache-2.0
"""Fleet config push, the FAILED path and configs published during a
probation (issue 14), against a real nginx.

- A signed config that passes `check` but cannot start: its new file sink's
  folder holds a directory named like an output file (x.ndjson/), which
  `check` accepts (the folder is there and writable) and which the sink's
  open refuses (it repairs partial lines of every *.ndjson at open). Every
  agent keeps running on the previous config and reports FAILED with the
  reason in its status PUT, its audit table and its metrics
  (syncagent_fleet_applies_total{result="failed"}, syncagent_config_version
  unchanged), and does not try that version again.
- A config published while another is on probation is deferred, not lost:
  the agents go on polling (polls_total{result="deferred"}), the one on
  probation passes it, and then the newer one is applied and passes too.
- The same when the one on probation fails it: rolled back, then the newer
  one applied."""
import os
import re

import harness
from fleet_harness import Fleet, all_report, config, good_version, wait_for
from harness import check

N = 4
# Long enough that the next version is surely published while the agents
# are still on probation; nothing waits for it to pass but the test.
PROBATION = "8s"
PUSHED = "  - {name: pushed, type: file, path: out-pushed, format: ndjson}\n"
BLOCKED = "  - {name: blocked, type: file, path: out-blocked, format: ndjson}\n"
NOT_MODIFIED = 'syncagent_fleet_polls_total{result="not_modified"}'
DEFERRED = 'syncagent_fleet_polls_total{result="deferred"}'
UNREACHABLE = ("  - {name: unreachable, type: http, url: 'http://127.0.0.1:1/in', "
               "retry_initial: 50ms, retry_max: 100ms}\n")


def audit_kinds(agent, kind):
    return [d for k, d in agent.audit() if k == kind]


def lines(agent, folder):
    d = os.path.join(agent.dir, folder)
    n = 0
    for f in os.listdir(d):
        with open(os.path.join(d, f), "rb") as fp:
            n += fp.read().count(b"\n")
    return n


def main():
    with harness.Workdir("fleet-failed") as work:
        fleet = Fleet(work, "failed")
        ids = ["failed-%d" % i for i in range(N)]
        agents = [fleet.agent(a, probation=PROBATION, admin=True) for a in ids]
        try:
            for a in agents:
                a.start()
            fleet.sign(config(1, PUSHED))
            all_report(fleet, ids, lambda s: s["version"] == 1 and s["status"] == "APPLIED",
                       "every agent APPLIED version 1")
            for a in agents:
                wait_for(a.id + " version 1 good", lambda: good_version(a) == 1)

            # 1. passes check, cannot start: FAILED, still on version 1
            for a in agents:
                os.makedirs(os.path.join(a.dir, "out-blocked", "stuck.ndjson"))
            fleet.sign(config(2, PUSHED + BLOCKED))
            sts = all_report(fleet, ids, lambda s: s["status"] == "FAILED" and
                             s["version"] == 1, "every agent FAILED version 2")
            for a in agents:
                err = sts[a.id]["error"]
                check("cannot start on version 2" in err and "sink blocked" in err and
                      "stuck.ndjson" in err and "Is a directory" in err,
                      "%s: FAILED without the reason: %r" % (a.id, err))
                check(a.alive(), a.id + " died on a config that cannot start")
                failed = audit_kinds(a, "fleet_failed")
                check(len(failed) == 1 and failed[0].startswith("version=2 ") and
                      "stuck.ndjson" in failed[0], "%s audit: %s" % (a.id, failed))
                check(a.metric('syncagent_fleet_applies_total{result="failed"}') == 1 and
                      a.metric("syncagent_config_version") == 1,
                      a.id + ": the metrics do not show the failed apply")
                check(good_version(a) == 1, a.id + " lost its good config")
            p = harness.run(["fleet", "status", fleet.dir], check_rc=0)
            check(any(line.split() == ["version", "1", "FAILED", str(N)]
                      for line in p.stdout.splitlines()) and
                  p.stdout.count("cannot start on version 2") == N,
                  "fleet status does not show the failures:\n" + p.stdout)
            # ... and runs on version 1: both its sinks go on writing
            for a in agents:
                before = (lines(a, "out-local"), lines(a, "out-pushed"))
                wait_for(a.id + " writing on version 1", lambda: lines(a, "out-local") >
                         before[0] and lines(a, "out-pushed") > before[1])
            # ... and does not try version 2 again: polled since, no new row
            for a in agents:
                seen = a.metric(NOT_MODIFIED)
                wait_for(a.id + " polling on", lambda: a.metric(NOT_MODIFIED) >= seen + 3)
                check(len(audit_kinds(a, "fleet_failed")) == 1 and
                      a.log_text().count("fleet: config failed") == 1,
                      a.id + " tried version 2 again")

            # 2. version 4 published while 3 is on probation: deferred, then
            # applied once 3 passed
            fleet.sign(config(3, PUSHED, rate=21))
            all_report(fleet, ids, lambda s: s["version"] == 3 and s["status"] == "APPLIED",
                       "every agent APPLIED version 3")
            v3_mtime = int(os.stat(os.path.join(fleet.dir, "config.yaml")).st_mtime)
            fleet.sign(config(4, PUSHED, rate=22))
            # as long as version 3: nginx's ETag (mtime in seconds, size)
            # changes only because fleet sign dates it a second later
            check(int(os.stat(os.path.join(fleet.dir, "config.yaml")).st_mtime) > v3_mtime,
                  "fleet sign left version 4 dated as version 3")
            check(any(good_version(a) < 3 for a in agents),
                  "no agent was on probation when version 4 came")
            # one whose probation ends just as version 4 comes may fetch it
            # at once: at least one defers it
            wait_for("an agent deferring version 4",
                     lambda: any(a.metric(DEFERRED) >= 1 for a in agents))
            all_report(fleet, ids, lambda s: s["version"] == 4 and s["status"] == "APPLIED",
                       "every agent APPLIED version 4")
            for a in agents:
                wait_for(a.id + " version 4 good", lambda: good_version(a) == 4)
                rows = [(k, d.split()[0]) for k, d in a.audit()]
                check(rows.index(("fleet_good", "version=3")) <
                      rows.index(("fleet_fetched", "version=4")),
                      "%s fetched version 4 before 3 passed probation: %s" % (a.id, rows))

            # 3. version 6 published while 5 is on probation and fails it:
            # rolled back to 4, then 6 applied
            fleet.sign(config(5, PUSHED + UNREACHABLE))
            all_report(fleet, ids, lambda s: s["version"] == 5 and s["status"] == "APPLIED",
                       "every agent APPLIED version 5")
            fleet.sign(config(6, PUSHED, rate=23))
            all_report(fleet, ids, lambda s: s["version"] == 6 and s["status"] == "APPLIED",
                       "every agent APPLIED version 6")
            for a in agents:
                wait_for(a.id + " version 6 good", lambda: good_version(a) == 6)
                rolled = audit_kinds(a, "fleet_rolled_back")
                check(len(rolled) == 1 and rolled[0].startswith("version=5 ") and
                      "sink unreachable" in rolled[0], "%s audit: %s" % (a.id, rolled))
                check(a.metric('syncagent_fleet_applies_total{result="rolled_back"}') == 1
                      and a.metric('syncagent_fleet_applies_total{result="applied"}') == 5,
                      a.id + ": applies_total does not add up")
                check(re.search(r"\bversion=6\b", a.log_text()), a.id + " never logged v6")
        finally:
            fleet.stop_all()
        print("ok: %d agents: FAILED a config that cannot start and ran on; deferred "
              "configs published during probation and applied them after" % N)


if __name__ == "__main__":
    main()
