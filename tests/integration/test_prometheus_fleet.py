# SPDX-License-Identifier: Apache-2.0
"""The shipped Prometheus rules and Grafana dashboard against a real
Prometheus (fixture `prometheus`) scraping two running agents:

- every PromQL expression of configs/grafana/syncagent.json (panels and
  template variables) returns series: no panel queries a misspelled metric;
- every alert rule of configs/prometheus/rules/*.yml evaluates, and every
  metric selector in it returns series (an alert's condition is empty on
  a healthy agent, its selectors are not);
- provoked conditions fire their alerts: a CSV row that goes to the dead
  letters (SyncagentDeadLettersIncreasing), a reload of a broken config
  (SyncagentConfigReloadFailed), and stopping the http sink's upstream
  makes SyncagentSinkDown fire within its `for:` (shortened to FOR_S in
  the test's copy of the rules, which Prometheus evaluates every second),
  for that sink and agent only."""
import copy
import glob
import re
import time

import yaml

from http_harness import Receiver
from monitoring import *

NAME = "test_prometheus_fleet"
FOR_S = 5
RULES_DIR = os.path.join(SOURCE_DIR, "configs", "prometheus", "rules")
DASHBOARD = os.path.join(SOURCE_DIR, "configs", "grafana", "syncagent.json")
SELECTOR = re.compile(r"\b(up|syncagent_[a-z0-9_]+|process_[a-z0-9_]+)\b(\{[^}]*\})?")


def dashboard_exprs():
    """(where, expr) of every target and query variable of the dashboard."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append(("panel %r" % p["title"], t["expr"]))
            walk(p.get("panels", []))
    walk(dash["panels"])
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
            check(m, "variable %s: not label_values(SELECTOR, LABEL): %r" % (v["name"], q))
            out.append(("variable %s" % v["name"], m.group(1)))
    check(len(out) > 20, "only %d expressions in the dashboard" % len(out))
    return out


def shipped_rules():
    groups = []
    for path in sorted(glob.glob(os.path.join(RULES_DIR, "*.yml"))):
        with open(path) as f:
            groups += yaml.safe_load(f)["groups"]
    return groups


def test_rules(groups):
    """The shipped rules with every `for:` at FOR_S and evaluated each second."""
    out = copy.deepcopy(groups)
    for g in out:
        g["interval"] = "1s"
        for r in g["rules"]:
            if "for" in r:
                r["for"] = "%ds" % FOR_S
    return yaml.safe_dump({"groups": out}, sort_keys=False)


def substitute(expr, instance):
    return (expr.replace("$__rate_interval", "10s").replace("$job", "syncagent")
            .replace("$instance", instance))


def alert(prom, name, **labels):
    for a in prom.alerts():
        if a["labels"].get("alertname") == name and all(
                a["labels"].get(k) == v for k, v in labels.items()):
            return a
    return None


with Workdir("prom-fleet") as work:
    prom = Prometheus()
    receiver = Receiver(work)
    a = b = None
    try:
        a = Agent(work, "a", http_url=receiver.url("/ingest"))
        b = Agent(work, "b")
        prom.set_targets(NAME, [a.instance, b.instance])
        groups = shipped_rules()
        prom.set_rules(NAME, test_rules(groups))

        # Both agents scraped, and twice at least, so that rate() has two points.
        wait_for("both agents scraped", lambda: len(prom.query(
            'up{job="syncagent", instance=~"%s|%s"} == 1' % (a.instance, b.instance))) == 2)
        wait_for("records ingested on both agents, in rates", lambda: len(prom.query(
            'rate(syncagent_records_ingested_total{instance=~"%s|%s"}[10s]) > 0'
            % (a.instance, b.instance))) >= 4)

        # A dead letter on a, a refused reload on b.
        order_csv(os.path.join(a.inbox, "orders.csv"), 50, seed=3, bad_rows=2)
        wait_for("a's dead letters", lambda: a.status()["deadletters"] >= 2)
        good = b.config_text
        b.reload_with(good + "this is: [not yaml\n")
        wait_for("b's failed reload in its metrics", lambda: re.search(
            r'^syncagent_config_reloads_total\{result="failed"\} [1-9]',
            http_get(b.base + "/metrics")[1].decode(), re.M))
        b.reload_with(good)

        # Every dashboard expression returns series, for agent a.
        pending = {(w, substitute(e, a.instance)) for w, e in dashboard_exprs()}
        deadline = time.time() + 90
        while pending and time.time() < deadline:
            pending = {(w, e) for w, e in pending if not prom.query(e)}
            if pending:
                time.sleep(1)
        check(not pending, "dashboard expressions without series:\n" + "\n".join(
            "  %s: %s" % p for p in sorted(pending)))
        print("dashboard: %d expressions return series" % len(dashboard_exprs()))

        # Every rule evaluates, and every selector in it returns series.
        n_selectors = 0
        for g in groups:
            for r in g["rules"]:
                prom.query(r["expr"])  # a parse error fails here
                selectors = [m.group(0) for m in SELECTOR.finditer(r["expr"])]
                check(selectors, "rule %s: no metric in %r" % (r["alert"], r["expr"]))
                for sel in selectors:
                    wait_for("series of %s (rule %s)" % (sel, r["alert"]),
                             lambda: prom.query(sel), timeout=60)
                    n_selectors += 1
        print("rules: %d selectors return series" % n_selectors)

        # The provoked alerts fire.
        wait_for("SyncagentDeadLettersIncreasing on a", lambda: (alert(
            prom, "SyncagentDeadLettersIncreasing", instance=a.instance,
            stream="order") or {}).get("state") == "firing", timeout=60)
        wait_for("SyncagentConfigReloadFailed on b", lambda: (alert(
            prom, "SyncagentConfigReloadFailed", instance=b.instance) or {}).get(
                "state") == "firing", timeout=60)
        check(alert(prom, "SyncagentSinkDown") is None,
              "SyncagentSinkDown before any sink is down: %r" % alert(prom, "SyncagentSinkDown"))

        # Stop web's upstream: the sink goes down and the alert fires FOR_S later.
        receiver.stop()
        receiver = None
        wait_for("syncagent_sink_up{sink=web} == 0 in Prometheus", lambda: prom.query(
            'syncagent_sink_up{instance="%s", sink="web"} == 0' % a.instance), timeout=120)
        seen_down = time.time()
        states = set()

        def firing():
            got = alert(prom, "SyncagentSinkDown", instance=a.instance, sink="web")
            if got:
                states.add(got["state"])
            return got and got["state"] == "firing"
        wait_for("SyncagentSinkDown firing", firing, timeout=FOR_S + 60)
        took = time.time() - seen_down
        check("pending" in states or took >= FOR_S - 2,
              "SyncagentSinkDown fired without its for: (states %r)" % states)
        # for: plus a scrape and an evaluation, with room for a loaded machine
        check(took <= FOR_S + 15, "SyncagentSinkDown fired %.1f s after the sink was "
              "seen down, its for: is %d s" % (took, FOR_S))
        others = [x["labels"] for x in prom.alerts()
                  if x["labels"]["alertname"] == "SyncagentSinkDown"
                  and (x["labels"].get("instance"), x["labels"].get("sink"))
                  != (a.instance, "web")]
        check(not others, "SyncagentSinkDown for a sink that is up: %r" % others)
        print("SyncagentSinkDown fired %.1f s after web was seen down (for: %ds)" % (
            took, FOR_S))
    finally:
        prom.clear(NAME)
        for agent in (a, b):
            if agent:
                agent.stop()
        if receiver:
            receiver.stop()
print("ok")
