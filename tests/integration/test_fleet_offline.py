# SPDX-License-Identifier: Apache-2.0
"""Fleet config push when the fleet server is away (issue 14): agents keep
running while nginx is down, an agent (re)started meanwhile runs on the
last good config kept in its data directory, and all catch up on the
version published meanwhile once nginx is back (down for 40 polls: the
issue's "minutes", shortened by 300 ms polls). Then kill -9 during
applies, repeated: each agent restarts on the old or the new config (its
good.yaml is whole and signed content) and its spool verifies."""
import os
import random
import signal
import time

import harness
from fleet_harness import Fleet, config, good_version, nginx_start, nginx_stop, wait_for
from harness import check

POLL_ERRORS = 'syncagent_fleet_polls_total{result="error"}'
PUSHED = "  - {name: pushed, type: file, path: out-pushed, format: ndjson}\n"


def main():
    rnd = random.Random(14)
    with harness.Workdir("fleet-offline") as work:
        fleet = Fleet(work, "offline")
        agents = [fleet.agent("off-%d" % i, admin=(i == 2)) for i in range(3)]
        try:
            for a in agents:
                a.start()
            fleet.sign(config(1, PUSHED))
            for a in agents:
                wait_for(a.id + " on version 1 past probation",
                         lambda: good_version(a) == 1)

            # the server goes away; a version is published meanwhile
            errors = agents[2].metric(POLL_ERRORS)
            nginx_stop()
            fleet.sign(config(2, PUSHED + "  - {name: second, type: file, "
                                          "path: out-second, format: ndjson}\n"))
            for a in agents:
                wait_for(a.id + " noticing the server is down",
                         lambda: "poll failed" in a.log_text().split(
                             "passed probation")[-1])
            check(all(a.alive() for a in agents), "an agent died without its server")
            # a restart while the server is down runs on the last good config
            agents[0].stop()
            before = len(os.listdir(os.path.join(agents[0].dir, "out-pushed")))
            agents[0].start()
            wait_for("off-0 restarted on the last good config", lambda:
                     agents[0].log_text().count("starting on the last good fleet config")
                     == 1)
            out = os.path.join(agents[0].dir, "out-pushed")
            wait_for("off-0 writing to the fleet config's sink again",
                     lambda: sum(os.path.getsize(os.path.join(out, f))
                                 for f in os.listdir(out)) > 0 and
                     len(os.listdir(out)) >= before)

            # "down for minutes", in polls: 40 failed ones (12 s at 300 ms)
            wait_for("off-2 failing 40 polls", lambda: agents[2].metric(POLL_ERRORS) >=
                     errors + 40)
            check(all(a.alive() for a in agents), "an agent died without its server")

            # the server is back: everyone catches up on version 2
            nginx_start()
            wait_for("every agent on version 2", lambda: all(
                (a.status() or {}).get("version") == 2 and
                a.status()["status"] == "APPLIED" for a in agents), timeout=120)
            for a in agents:
                wait_for(a.id + " writing out-second", lambda: os.path.isdir(
                    os.path.join(a.dir, "out-second")))

            # kill -9 during applies, again and again
            version = 2
            for round_ in range(6):
                for a in agents:
                    wait_for("%s past probation of version %d" % (a.id, version),
                             lambda: good_version(a) == version, timeout=120)
                version += 1
                fleet.sign(config(version, PUSHED if version % 2 else ""))
                victim = agents[round_ % len(agents)]
                old = good_version(victim)
                # somewhere in fetch, apply or probation
                time.sleep(rnd.uniform(0, 1.5))
                victim.stop(signal.SIGKILL)
                gv = good_version(victim)
                check(gv in (old, version),
                      "%s: good.yaml holds version %d after kill -9 (old %d, new %d)"
                      % (victim.id, gv, old, version))
                p = harness.run(["spool", "verify", "-c", victim.config])
                check(p.returncode == 0, "%s: spool verify after kill -9: %s %s" % (
                    victim.id, p.stdout, p.stderr))
                victim.start()
                wait_for("%s back on version %d" % (victim.id, version), lambda:
                         (victim.status() or {}).get("version") == version and
                         good_version(victim) == version, timeout=120)
            # SIGHUP re-reads the local file under the fleet config it runs,
            # rather than falling back to the local file alone
            agents[1].proc.send_signal(signal.SIGHUP)
            wait_for("off-1 reloaded", lambda: "config reloaded" in agents[1].log_text())
            started = [x for x in agents[1].log_text().splitlines()
                       if 'msg="agent started"' in x][-1]
            check("config=%s/config.yaml" % fleet.url in started,
                  "off-1 reloaded onto the local file: " + started)

            # the metrics of the last agent: the version it runs, its polls
            m = wait_for("syncagent_config_version %d in /metrics" % version, lambda: (
                lambda t: ("syncagent_config_version %d" % version) in t and t)(
                    agents[2].metrics()))
            for result in ("new", "not_modified"):
                line = [x for x in m.splitlines() if x.startswith(
                    'syncagent_fleet_polls_total{result="%s"}' % result)]
                check(line and int(line[0].split()[-1]) >= 1,
                      "no %s polls counted: %s" % (result, line))
        finally:
            fleet.stop_all()
            nginx_start()
        for a in agents:
            p = harness.run(["spool", "verify", "-c", a.config])
            check(p.returncode == 0, "%s: spool verify: %s" % (a.id, p.stdout))
            # restarting on the config the server still has is no replay
            check("rollback refused" not in a.log_text(),
                  "%s refused the config it runs after a restart" % a.id)
            # a server down for a while is one line (per process: before the
            # first config, while down, and after off-0's restart)
            check(a.log_text().count("poll failed") <= 3,
                  "%s logged every failed poll" % a.id)
        print("ok: kept running while nginx was down, restarted on the last good "
              "config, caught up, and survived 6 kill -9 during applies")


if __name__ == "__main__":
    main()
