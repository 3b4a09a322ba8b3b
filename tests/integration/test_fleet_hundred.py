# SPDX-License-Identifier: Apache-2.0
"""Fleet config push at the issue's scale (issue 14), against a real nginx:
100 agents (processes, each with its own config and data directory, 1 s
polls) converge on a new signed config, every one reports APPLIED, passes
probation, keeps it as its good config and writes to the sink it adds;
`fleet status` counts the 100. How long they take, in poll intervals, is
printed, not asserted (tools/bench/fleet measures it against its target
of two intervals)."""
import os
import time

import harness
from fleet_harness import Fleet, all_report, config, good_version, wait_for
from harness import check

N = 100
POLL_S = 1


def main():
    with harness.Workdir("fleet-hundred") as work:
        fleet = Fleet(work, "hundred")
        ids = ["h%03d" % i for i in range(N)]
        agents = [fleet.agent(a, poll="%ds" % POLL_S, rate=1) for a in ids]
        try:
            for a in agents:
                a.start()
            all_report(fleet, ids, lambda s: s["version"] == 0, "all %d agents up" % N)
            t0 = time.monotonic()
            fleet.sign(config(1, "  - {name: pushed, type: file, path: out-pushed, "
                                 "format: ndjson}\n", rate=1))
            all_report(fleet, ids, lambda s: s["version"] == 1 and s["status"] == "APPLIED",
                       "every agent APPLIED version 1")
            took = time.monotonic() - t0
            for a in agents:
                wait_for(a.id + " version 1 good", lambda: good_version(a) == 1)
                wait_for(a.id + " writing out-pushed", lambda: os.path.isdir(
                    os.path.join(a.dir, "out-pushed")) and os.listdir(
                        os.path.join(a.dir, "out-pushed")))
            check(all(a.alive() for a in agents), "an agent died")
            p = harness.run(["fleet", "status", fleet.dir], check_rc=0)
            check("%d agents" % N in p.stdout, p.stdout)
            check(any(line.split()[:3] == ["version", "1", "APPLIED"] and
                      line.split()[-1] == str(N) for line in p.stdout.splitlines()),
                  "fleet status does not count %d APPLIED on version 1:\n%s" % (N, p.stdout))
        finally:
            fleet.stop_all()
        print("ok: %d agents on version 1, all APPLIED, in %.1f s = %.1f poll intervals"
              % (N, took, took / POLL_S))


if __name__ == "__main__":
    main()
