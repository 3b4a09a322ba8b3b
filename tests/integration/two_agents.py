# SPDX-License-Identifier: Apache-2.0
"""The two-agent conflict scenario of issue 12, shared by the OpenSearch
and the ClickHouse test: two agents (two spools, two origins) write the
same keys of stream `item` (schema item v1: x-key `id`, x-version `ver`)
with versions that interleave, and B, offline, drains its old backlog
late:

  1. B spools its backlog (two CSV imports) and stays offline;
  2. A imports round a1 and drains it, then round a2 and drains it;
  3. B comes online and drains its backlog;
  4. A imports round a3 and drains it.

Versions are chosen per key from seven distinct values v0 < ... < v6:
a1 = v1, a2 = v3; B holds some of v0 and v2 (older than a2, which the
store holds when B drains: each is refused as superseded) and maybe v5
(newer: it lands); a3 is none, v4 (newer than a2, older than B's v5 when
B has it) or v6 (newer than everything). B's rows are shuffled: at most
one of B's versions of a key is newer than the store's, so which of B's
records are superseded does not depend on the order its requests land
in. The plan computes, from these inputs, the winner of every key and
how many of each agent's records are older than the store's version
when they arrive."""
import os
import random

from harness import SOURCE_DIR, Workdir, check, run, status_json  # noqa: F401

ITEM_V1 = os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas", "item",
                       "v1.avsc")
KEYS = 200


class Plan:
    def __init__(self, seed=12):
        rnd = random.Random(seed)
        self.a1, self.a2, self.a3, self.b = [], [], [], []
        self.winner = {}  # key -> (version, val)
        self.sup_a = self.sup_b = 0  # records older than the store's version
        base = 0
        for i in range(KEYS):
            key = "k%03d" % i
            v = sorted(rnd.sample(range(base + 1, base + 1000), 7))
            base += 1000 if rnd.random() < 0.5 else 0  # keys share ranges too
            self.a1.append((key, v[1], "a1-%s-%d" % (key, v[1])))
            self.a2.append((key, v[3], "a2-%s-%d" % (key, v[3])))
            stored = v[3]
            mine = [x for x in (v[0], v[2]) if rnd.random() < 0.7]
            if rnd.random() < 0.5:
                mine.append(v[5])
            for x in mine:
                self.b.append((key, x, "b-%s-%d" % (key, x)))
                if x < stored:
                    self.sup_b += 1
            stored = max([stored] + mine)
            a3 = rnd.choice([None, v[4], v[6]])
            if a3 is not None:
                self.a3.append((key, a3, "a3-%s-%d" % (key, a3)))
                if a3 < stored:
                    self.sup_a += 1
                stored = max(stored, a3)
            self.winner[key] = stored
        rnd.shuffle(self.b)
        self.vals = {}
        for rows in (self.a1, self.a2, self.b, self.a3):
            for key, ver, val in rows:
                self.vals[(key, ver)] = val
        self.n_records = len(self.a1) + len(self.a2) + len(self.b) + len(self.a3)
        # Which agent's record ends as each key's winner
        self.win_agent = {k: self.vals[(k, v)][0] for k, v in self.winner.items()}

    def expected(self):
        """{key: (ver, val)} the store must end with."""
        return {k: (v, self.vals[(k, v)]) for k, v in self.winner.items()}

    def losers(self, agent):
        """How many of agent's ("a" or "b") records are not the final
        version of their key."""
        rows = (self.a1 + self.a2 + self.a3) if agent == "a" else self.b
        return sum(1 for k, v, _ in rows if self.winner[k] != v)


def csv_text(rows):
    return "id,ver,val\n" + "".join("%s,%d,%s\n" % r for r in rows)


def agent_config(work, name, sink_lines):
    """An agent `name` with its own spool, the csv source `items` (files
    come through `import`) and the given sink lines."""
    schemas = work.join("schemas")
    if not os.path.exists(schemas):
        os.makedirs(os.path.join(schemas, "item"))
        with open(ITEM_V1) as f:
            work.write(os.path.join("schemas", "item", "v1.avsc"), f.read())
    return work.write(name + ".yaml", "\n".join([
        "agent:", "  id: " + name, "  data_dir: " + work.join(name + "-data"),
        "  schemas_dir: " + schemas, "  shutdown_grace: 5s",
        "batch:", "  max_records: 100", "  linger: 20ms",
        "sources:",
        "  - name: items", "    type: csv", "    stream: item", "    schema: item:v1",
        "    path: " + work.join("none-*.csv"), "    watch: false",
        "sinks:"] + ["  " + l for l in sink_lines]) + "\n")


def superseded_logged(stderr):
    """The sum of the sinks' "records superseded" log lines."""
    return sum(int(l.split("count=")[1].split()[0]) for l in stderr.splitlines()
               if "records superseded" in l)


def play(work, plan, cfg_a, cfg_b, between=None):
    """Runs the four steps; returns {"a": stderr of A's drains, "b": B's}.
    between(step) is called after each step (1..4) for checks."""
    logs = {"a": "", "b": ""}
    b1 = work.write("b1.csv", csv_text(plan.b[:len(plan.b) // 2]))
    b2 = work.write("b2.csv", csv_text(plan.b[len(plan.b) // 2:]))
    run(["import", "-c", cfg_b, "--stream", "item", b1, b2], check_rc=0)
    lag = status_json(cfg_b)["sinks"][0]["lag_records"]
    check(lag == len(plan.b), "B's backlog: %d records pending, %d spooled" % (
        lag, len(plan.b)))
    if between:
        between(1)
    for name, rows in (("a1", plan.a1), ("a2", plan.a2)):
        path = work.write(name + ".csv", csv_text(rows))
        proc = run(["import", "-c", cfg_a, "--stream", "item", "--wait-synced", path],
                   check_rc=0, timeout=300)
        logs["a"] += proc.stderr
    if between:
        between(2)
    proc = run(["run", "-c", cfg_b, "--exit-when-synced"], check_rc=0, timeout=300)
    logs["b"] += proc.stderr
    if between:
        between(3)
    path = work.write("a3.csv", csv_text(plan.a3))
    proc = run(["import", "-c", cfg_a, "--stream", "item", "--wait-synced", path],
               check_rc=0, timeout=300)
    logs["a"] += proc.stderr
    if between:
        between(4)
    return logs
