# SPDX-License-Identifier: Apache-2.0
"""Fleet config push against a real nginx (issue 14): 20 agents converge on
a signed config and report APPLIED; a changed byte is refused as a bad
signature, an older signed version as a rollback, local-only keys as such;
a new sink that cannot connect is rolled back after probation; rollout
percent 10 applies on exactly the agents the hash predicts, 100 on all; a
selector picks by label; `fleet status` sums it up."""
import base64
import os
import shutil
import signal
import subprocess

import harness
from fleet_harness import Fleet, all_report, bucket, config, wait_for
from harness import check, fail

N = 20


def pick_ids():
    """Agent ids with 2 under rollout bucket 10 and the rest above: the
    10 % set is known in advance and is neither empty nor everyone."""
    low, high = [], []
    for i in range(1000):
        a = "agent-%03d" % i
        (low if bucket(a) < 10 else high).append(a)
    return low[:2] + high[:N - 2]


def raw_sign(fleet, work, text):
    """Sign bytes with openssl itself, bypassing `fleet sign`'s checks."""
    staged = work.join("raw")
    os.makedirs(staged, exist_ok=True)
    path = os.path.join(staged, "config.yaml")
    with open(path, "w") as f:
        f.write(text)
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey",
                          os.path.join(fleet.keys, "fleet.key"), "-in", path],
                         check=True, capture_output=True).stdout
    with open(path + ".sig", "w") as f:
        f.write(base64.b64encode(sig).decode() + "\n")
    fleet.publish(staged)


def main():
    with harness.Workdir("fleet-push") as work:
        fleet = Fleet(work, "push")
        ids = pick_ids()
        agents = [fleet.agent(a, labels={"region": "eu" if i % 2 else "us"})
                  for i, a in enumerate(ids)]
        try:
            for a in agents:
                a.start()
            # 1. converge on version 1, with a sink the local file lacks
            fleet.sign(config(1, "  - {name: pushed, type: file, path: out-pushed, "
                                 "format: ndjson}\n"))
            all_report(fleet, ids, lambda s: s["version"] == 1 and s["status"] == "APPLIED",
                       "every agent APPLIED version 1")
            for a in agents:
                wait_for(a.id + " writing out-pushed",
                         lambda: os.path.isdir(os.path.join(a.dir, "out-pushed")) and
                         os.listdir(os.path.join(a.dir, "out-pushed")))
                wait_for(a.id + " good.yaml", lambda: os.path.exists(
                    os.path.join(a.dir, "data", "fleet", "good.yaml")))
            v1 = work.join("v1")
            os.makedirs(v1)
            for f in ("config.yaml", "config.yaml.sig"):
                shutil.copy(os.path.join(fleet.dir, f), v1)

            # 2. one byte changed after signing: refused, still on version 1
            staged = work.join("v2")
            fleet.sign(config(2), out=staged)
            path = os.path.join(staged, "config.yaml")
            data = bytearray(open(path, "rb").read())
            data[data.index(b"rate: 20") + 6] = ord("3")  # 20 -> 30
            open(path, "wb").write(bytes(data))
            fleet.publish(staged)
            all_report(fleet, ids, lambda s: s["status"] == "REFUSED" and
                       "bad signature" in s["error"] and s["version"] == 1,
                       "every agent REFUSED the changed byte as a bad signature")
            check(all(a.alive() for a in agents), "an agent died on a bad signature")

            # a config that fails check is never signed
            p = fleet.sign(config(3, "  - {name: bad, type: file, format: ndjson}\n"),
                           check_rc=2)
            check("path" in p.stderr, "fleet sign of a bad config: " + p.stderr)
            p = fleet.sign(config(3).replace("schema: order", "schema: nope"), check_rc=2)
            check("unknown schema" in p.stderr, "fleet sign: " + p.stderr)

            # 4. local-only keys: `fleet sign` refuses; signed anyway, the agents do
            for bad, key in (("agent: {id: stolen}\n", "agent.id"),
                             ("agent: {data_dir: /tmp}\n", "agent.data_dir"),
                             ("admin: {token: x}\n", "admin"),
                             ("fleet: {url: 'http://evil/', public_keys: [evil.pub]}\n", "fleet")):
                p = fleet.sign(config(3, extra=bad), check_rc=2)
                check("local-only" in p.stderr, "fleet sign: %s" % p.stderr)
            raw_sign(fleet, work, config(3, extra="agent: {id: stolen}\n"))
            all_report(fleet, ids, lambda s: s["status"] == "REFUSED" and
                       "agent.id is local-only" in s["error"] and s["version"] == 1,
                       "every agent REFUSED agent.id")

            # 5. a new sink that cannot connect: applied, then rolled back
            fleet.sign(config(4, "  - {name: unreachable, type: http, "
                                 "url: 'http://127.0.0.1:1/in', retry_initial: 50ms, "
                                 "retry_max: 100ms}\n"))
            all_report(fleet, ids, lambda s: s["status"] == "ROLLED_BACK" and
                       "sink unreachable" in s["error"] and s["version"] == 1,
                       "every agent ROLLED_BACK version 4 naming the sink")
            check(all(a.alive() for a in agents), "an agent died rolling back")

            # 6. rollout 10 %: exactly the agents whose id hashes under 10
            low = [a for a in ids if bucket(a) < 10]
            fleet.sign(config(5, extra="rollout: {percent: 10}\n"))
            all_report(fleet, low, lambda s: s["version"] == 5 and s["status"] == "APPLIED",
                       "the 10 %% agents %s APPLIED version 5" % low)
            for a in agents:
                if a.id not in low:
                    wait_for(a.id + " skipping version 5",
                             lambda: "not for this agent" in a.log_text())
                    check(fleet.status(a.id)["version"] == 1,
                          "%s outside the rollout applied it" % a.id)
            fleet.sign(config(6, extra="rollout: {percent: 100}\n"))
            all_report(fleet, ids, lambda s: s["version"] == 6 and s["status"] == "APPLIED",
                       "every agent APPLIED version 6 at 100 %")

            # a validly signed older version: refused as a rollback
            fleet.publish(v1)
            all_report(fleet, ids, lambda s: s["status"] == "REFUSED" and
                       "rollback" in s["error"] and s["version"] == 6,
                       "every agent REFUSED the older version 1 as a rollback")

            # 7. a selector: only region eu
            eu = [a.id for i, a in enumerate(agents) if i % 2]
            fleet.sign(config(7, extra="selector: {labels: {region: eu}}\n"))
            all_report(fleet, eu, lambda s: s["version"] == 7, "the eu agents on version 7")
            for a in agents:
                if a.id not in eu:
                    wait_for(a.id + " skipping version 7", lambda: a.log_text().count(
                        "not for this agent") >= (2 if a.id not in low else 1))
                    check(fleet.status(a.id)["version"] == 6, a.id + " is not eu")

            # the audit table has every kind of attempt
            kinds = {k for k, _ in agents[0].audit()}
            for k in ("fleet_fetched", "fleet_applied", "fleet_good", "fleet_refused",
                      "fleet_rolled_back"):
                check(k in kinds, "no %s row in audit: %s" % (k, kinds))

            # fleet status, from the folder and over HTTP
            for where in (fleet.dir, fleet.url):
                p = harness.run(["fleet", "status", where], check_rc=0)
                check("%d agents" % N in p.stdout, p.stdout)
                check("version 7      APPLIED" in p.stdout and
                      "version 6      REFUSED" in p.stdout and
                      "not applied (%d)" % (N - len(eu)) in p.stdout and
                      "rollback refused" in p.stdout, p.stdout)
            # an agent gone without a word: silent once past its heartbeat
            agents[0].stop(signal.SIGKILL)
            wait_for("fleet status naming %s silent" % ids[0], lambda: ids[0] + ": last poll"
                     in harness.run(["fleet", "status", fleet.dir]).stdout.split(
                         "silent for more than")[-1])
            p = harness.run(["fleet", "verify", fleet.dir, "--pub",
                             os.path.join(fleet.keys, "fleet.pub"), "--schemas",
                             harness.SCHEMAS_DIR], check_rc=0)
        finally:
            fleet.stop_all()
        print("ok: %d agents: converged, refused bad signature, rollback and "
              "local-only keys, rolled back an unreachable sink, rollout 10 %% = %s"
              % (N, [a for a in ids if bucket(a) < 10]))


if __name__ == "__main__":
    main()
