# SPDX-License-Identifier: Apache-2.0
"""Fleet config push, a sink changed under the same name (issue 14): a
signed config keeping the sink's name but pointing it at a closed port is
applied, put on probation like a new sink, and rolled back by every agent,
which reports ROLLED_BACK naming the sink; a changed sink that works
passes probation."""
import os

import harness
from fleet_harness import Fleet, all_report, config, good_version, wait_for
from harness import check

N = 5


def pushed(settings):
    return "  - {name: pushed, %s}\n" % settings


def main():
    with harness.Workdir("fleet-changed-sink") as work:
        fleet = Fleet(work, "changed-sink")
        ids = ["agent-%02d" % i for i in range(N)]
        agents = [fleet.agent(a) for a in ids]
        try:
            for a in agents:
                a.start()
            # 1. version 1 adds sink `pushed`, writing a file: passes probation
            fleet.sign(config(1, pushed("type: file, path: out-pushed, format: ndjson")))
            all_report(fleet, ids, lambda s: s["version"] == 1 and s["status"] == "APPLIED",
                       "every agent APPLIED version 1")
            for a in agents:
                wait_for(a.id + " version 1 good", lambda: good_version(a) == 1)

            # 2. the same name, now an http sink on a closed port: rolled back
            fleet.sign(config(2, pushed("type: http, url: 'http://127.0.0.1:1/in', "
                                        "retry_initial: 50ms, retry_max: 100ms")))
            all_report(fleet, ids, lambda s: s["status"] == "ROLLED_BACK" and
                       "sink pushed" in s["error"] and s["version"] == 1,
                       "every agent ROLLED_BACK version 2 naming sink pushed")
            check(all(a.alive() for a in agents), "an agent died rolling back")
            for a in agents:
                check(good_version(a) == 1, "%s kept version 2 as good" % a.id)
                kinds = [k for k, _ in a.audit()]
                check("fleet_rolled_back" in kinds, "%s audit: %s" % (a.id, kinds))

            # 3. the same name, another folder: changed, acknowledged, good
            fleet.sign(config(3, pushed("type: file, path: out-moved, format: ndjson")))
            all_report(fleet, ids, lambda s: s["version"] == 3 and s["status"] == "APPLIED",
                       "every agent APPLIED version 3")
            for a in agents:
                wait_for(a.id + " version 3 good", lambda: good_version(a) == 3)
                check(os.path.isdir(os.path.join(a.dir, "out-moved")),
                      a.id + " does not write out-moved")
        finally:
            fleet.stop_all()
        print("ok: %d agents rolled back a sink changed to a closed port, kept a "
              "changed sink that works" % N)


if __name__ == "__main__":
    main()
