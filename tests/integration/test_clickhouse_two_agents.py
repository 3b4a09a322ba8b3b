# SPDX-License-Identifier: Apache-2.0
"""Two agents, one ClickHouse table (issue 12): agents A and B (two
spools, two origins) write the same 200 keys with interleaved versions;
B is offline while A drains two rounds, then drains its old backlog late,
then A sends a third round (two_agents.py has the plan and computes its
outcome).

The table read with FINAL holds the globally newest version of every key
(ver, val, _version and the _origin_id of the agent that wrote it), one
row per key, whatever the order of arrival. ClickHouse does not refuse an
older version at insert time (ReplacingMergeTree keeps every row until a
merge), so the superseded counts add up in the store: a materialized
view counts the rows each origin inserted, which must be exactly its
records; each origin's rows not visible under FINAL are exactly its
records older than their key's newest version; together they are the
records minus the keys. Nothing is dead-lettered."""
from clickhouse_harness import *
import two_agents

table = "two_agents_item"
plan = two_agents.Plan()

query("DROP TABLE IF EXISTS %s_inserted" % table)
query("DROP TABLE IF EXISTS %s" % table)
# The table the sink's create_table makes (made here first, so the view
# that counts inserted rows exists before the first insert).
query("CREATE TABLE %s (`id` String, `ver` Int64, `val` String, `_origin_id` String, "
      "`_seq` UInt64, `_version` Int64, `_deleted` UInt8) "
      "ENGINE = ReplacingMergeTree(`_version`) ORDER BY `id`" % table)
query("CREATE MATERIALIZED VIEW %s_inserted ENGINE = SummingMergeTree ORDER BY o "
      "AS SELECT _origin_id AS o, count() AS n FROM %s GROUP BY _origin_id" % (
          table, table))

with Workdir("ch-two-agents") as work:
    sink = ["- name: ch", "  type: clickhouse", "  url: " + ch_url(),
            "  table: " + table, "  create_table: true", "  block_records: 50",
            "  retry_initial: 100ms", "  retry_max: 1s"]
    cfg_a = two_agents.agent_config(work, "agent-a", sink)
    cfg_b = two_agents.agent_config(work, "agent-b", sink)
    two_agents.play(work, plan, cfg_a, cfg_b)
    origin = {"a": status_json(cfg_a)["origin_id"], "b": status_json(cfg_b)["origin_id"]}
    check(origin["a"] != origin["b"], "both agents have origin %s" % origin["a"])
    agent_of = {v: k for k, v in origin.items()}

    got = rows("SELECT id, ver, val, _version, _origin_id, _deleted FROM %s FINAL "
               "ORDER BY id" % table)
    want = plan.expected()
    check(len(got) == len(want), "FINAL has %d rows for %d keys" % (len(got), len(want)))
    for r in got:
        key = r["id"]
        check(key in want, "key %r was never sent" % key)
        ver, val = want[key]
        check((r["ver"], r["val"], r["_version"], r["_deleted"]) == (ver, val, ver, 0),
              "key %s holds %r, the newest is ver %d val %s" % (key, r, ver, val))
        check(agent_of.get(r["_origin_id"]) == plan.win_agent[key],
              "key %s: written by origin %s, the newest came from agent %s" % (
                  key, r["_origin_id"], plan.win_agent[key]))

    inserted = {agent_of.get(r["o"], r["o"]): r["n"] for r in rows(
        "SELECT o, sum(n) AS n FROM %s_inserted GROUP BY o" % table)}
    n_records = {"a": len(plan.a1) + len(plan.a2) + len(plan.a3), "b": len(plan.b)}
    check(inserted == n_records, "rows inserted per agent %r, records %r" % (
        inserted, n_records))
    winners = {"a": 0, "b": 0}
    for r in got:
        winners[agent_of[r["_origin_id"]]] += 1
    lost_total = 0
    for a in ("a", "b"):
        lost = inserted[a] - winners[a]
        check(lost == plan.losers(a), "agent %s: %d of its rows are superseded, %d of "
              "its records are older than their key's newest" % (a, lost,
                                                               plan.losers(a)))
        lost_total += lost
        cfg = cfg_a if a == "a" else cfg_b
        check(status_json(cfg)["sinks"][0]["lag_records"] == 0, "agent %s: records "
              "left" % a)
        dls = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0).stdout
        check(dls.strip() == "", "agent %s dead-lettered: %s" % (a, dls[:1000]))
    check(lost_total == plan.n_records - len(want), "superseded %d + keys %d != "
          "records %d" % (lost_total, len(want), plan.n_records))
    print("clickhouse two agents: %d records, %d keys; FINAL holds the newest of "
          "each; superseded rows A %d + B %d = %d" % (
              plan.n_records, len(want), inserted["a"] - winners["a"],
              inserted["b"] - winners["b"], lost_total))
