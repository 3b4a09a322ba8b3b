# SPDX-License-Identifier: Apache-2.0
"""Two agents, one index (issue 12): agents A and B (two spools, two
origins) write the same 200 keys with interleaved versions; B is offline
while A drains two rounds, then drains its old backlog late, then A sends
a third round (two_agents.py has the plan and computes its outcome).

The index ends with the globally newest version of every key (the
document's _source and its external _version), one document per key;
and the superseded counts add up: each agent's `status` and its
"records superseded" log lines count exactly its records that were older
than the stored version when they arrived (the 409s of
version_type=external_gte), nothing is dead-lettered."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402
import two_agents  # noqa: E402

url = opensearch.base_url()
index = opensearch.fresh_index(url, "two-agents")
plan = two_agents.Plan()
check(plan.sup_a > 0 and plan.sup_b > 0 and plan.sup_b < len(plan.b),
      "the plan must make both agents lose some writes and B win some")

with Workdir("os-two-agents") as work:
    sink = ["- name: es", "  type: elasticsearch", "  url: " + url,
            "  index: " + index, "  max_bulk_records: 50", "  retry_initial: 100ms",
            "  retry_max: 1s"]
    cfg_a = two_agents.agent_config(work, "agent-a", sink)
    cfg_b = two_agents.agent_config(work, "agent-b", sink)

    def between(step):
        if step == 2:
            docs = opensearch.all_docs(url, index)
            check(len(docs) == two_agents.KEYS and
                  all(h["_source"]["val"].startswith("a2-") for h in docs.values()),
                  "after A's two rounds the index must hold round a2 only")

    logs = two_agents.play(work, plan, cfg_a, cfg_b, between)
    origin_a = status_json(cfg_a)["origin_id"]
    origin_b = status_json(cfg_b)["origin_id"]
    check(origin_a != origin_b, "both agents have origin %s" % origin_a)

    docs = opensearch.all_docs(url, index)
    want = plan.expected()
    check(len(docs) == len(want), "%d documents for %d keys" % (len(docs), len(want)))
    for key, (ver, val) in want.items():
        hit = docs.get(key)
        check(hit is not None, "key %s missing" % key)
        got = (hit["_source"]["ver"], hit["_source"]["val"], hit["_version"])
        check(got == (ver, val, ver), "key %s holds ver %r val %r (_version %r), the "
              "newest is ver %d val %s" % (key, got[0], got[1], got[2], ver, val))

    for name, cfg, expect in (("A", cfg_a, plan.sup_a), ("B", cfg_b, plan.sup_b)):
        st = status_json(cfg)
        sup = st["sinks"][0]["superseded"]
        check(sup == expect, "agent %s: status shows %d superseded, %d of its records "
              "were older than the stored version" % (name, sup, expect))
        logged = two_agents.superseded_logged(logs[name.lower()])
        check(logged == expect, "agent %s: %d superseded logged, expected %d" % (
            name, logged, expect))
        check(st["sinks"][0]["lag_records"] == 0, "agent %s: records left" % name)
        dls = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0).stdout
        check(dls.strip() == "", "agent %s dead-lettered: %s" % (name, dls[:1000]))
    wins_b = sum(1 for a in plan.win_agent.values() if a == "b")
    print("opensearch two agents: %d records, %d keys; B (late, %d records) lost %d, "
          "won %d keys; A lost %d of round a3; the index holds the newest of each" % (
              plan.n_records, len(want), len(plan.b), plan.sup_b, wins_b, plan.sup_a))
