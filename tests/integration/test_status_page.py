# SPDX-License-Identifier: Apache-2.0
"""The status page (GET /) in headless Chromium (fixture `chromium`) while
the agent ingests: it loads with nothing fetched but the agent's own
/api/v1/status and /api/v1/series, its charts move (more points, other
paths) as samples come in, and the numbers it shows match /api/v1/status:
the stable ones exactly, the moving counters between the status read
before and the one after the page's refresh. A screenshot is kept under
the build tree (Testing/artifacts/status_page.png)."""
import os
import sys

try:
    import websocket  # noqa: F401  (websocket-client, in the test venv)
except ImportError:
    # Again under the venv's python (its path, not the interpreter it links
    # to, is what makes it the venv's), once.
    venv = os.environ.get("SA_VENV_PYTHON")
    if venv and os.path.exists(venv) and not os.environ.get("SA_IN_VENV"):
        os.environ["SA_IN_VENV"] = "1"
        os.execv(venv, [venv] + sys.argv)
    print("FAIL: websocket-client is not installed: run tools/setup", file=sys.stderr)
    sys.exit(1)

from cdp import Tab, browser_url
from monitoring import *

ARTIFACTS = os.path.join(BINARY_DIR, "Testing", "artifacts")
CHARTS = ["chart-ingest", "chart-acked", "chart-lag", "chart-spool"]


def chart_state(tab):
    """{chart id: (points drawn, [path d of each series], [series names])}"""
    return tab.eval("""(() => { const out = {};
      for (const fig of document.querySelectorAll('figure.chart')) {
        const svg = fig.querySelector('svg');
        const paths = [...svg.querySelectorAll('path')];
        out[fig.id] = [Number(svg.dataset.points || 0), paths.map(p => p.getAttribute('d')),
                       paths.map(p => p.dataset.series)];
      } return out; })()""")


def shown(tab):
    """The numbers and rows the page shows, from their data-value attributes."""
    return tab.eval("""(() => {
      if (!document.getElementById('spool-used')) return {refreshes: 0};  // loading
      const v = id => document.getElementById(id).dataset.value;
      const rows = id => [...document.getElementById(id).tBodies[0].rows]
        .filter(r => !r.cells[0].classList.contains('empty'))
        .map(r => [...r.cells].map(c => c.dataset.value !== undefined ? c.dataset.value
                                                                       : c.textContent));
      return {refreshes: Number(document.body.dataset.refreshes || 0),
              used: v('spool-used'), max: v('spool-max'), next_seq: v('next-seq'),
              deadletters: v('deadletters'), deadletters_open: v('deadletters-open'),
              ingest: v('ingest-state'), sinks_total: v('sinks-total'),
              sinks_up: v('sinks-up'), config_version: v('config-version'),
              agent: document.getElementById('agent-id').textContent,
              sinks: rows('sinks'), streams: rows('streams'),
              deadletter_latest: rows('deadletter-latest'), quality: rows('quality'),
              error: document.getElementById('error').hidden ? null
                     : document.getElementById('error').textContent};
    })()""")


def num(s):
    check(s not in (None, ""), "an empty number on the page")
    return float(s)


with Workdir("status-page") as work:
    base = browser_url(BINARY_DIR)
    agent = tab = None
    try:
        agent = Agent(work, "page", rate=300)
        order_csv(os.path.join(agent.inbox, "orders.csv"), 20, seed=5, bad_rows=3)
        wait_for("the dead letters", lambda: agent.status()["deadletters"] >= 3)

        # The page's own HTML: one document, nothing it loads from elsewhere.
        status, body, headers = http_get(agent.base + "/")
        check(status == 200, "GET /: %d" % status)
        check(headers.get("Content-Type", "").startswith("text/html"),
              "GET / Content-Type %r" % headers.get("Content-Type"))
        check(b"<script src" not in body and b"<link" not in body and b"http://" not in
              body.replace(b"http://www.w3.org/2000/svg", b"") and b"https://" not in body,
              "the page refers to something outside itself")

        tab = Tab(base)
        tab.navigate(agent.base + "/")
        wait_for("the page's first refresh", lambda: shown(tab)["refreshes"] >= 1, 60)
        first = chart_state(tab)

        # Charts move: more points and other paths, on every chart.
        def moved():
            now = chart_state(tab)
            return all(now[c][0] > first[c][0] and now[c][0] >= 3 and now[c][1] != first[c][1]
                       for c in CHARTS) and now
        now = wait_for("every chart to move", moved, timeout=120, interval=1)
        check(set(now["chart-ingest"][2]) == {"order", "sensor_reading"},
              "ingest chart series %r" % now["chart-ingest"][2])
        check(now["chart-acked"][2] == ["files"], "acked chart series %r" % now["chart-acked"][2])
        check(now["chart-spool"][2] == ["used", "cap"], "spool chart %r" % now["chart-spool"][2])

        # Numbers: bracket one refresh of the page between two status reads.
        before_page = shown(tab)
        st1 = agent.status()
        page = wait_for("a refresh after the status read", lambda: (
            lambda p: p if p["refreshes"] > before_page["refreshes"] else None)(shown(tab)),
            timeout=60, interval=0.2)
        st2 = agent.status()
        check(page["error"] is None, "the page shows an error: %r" % page["error"])
        check(st1["next_seq"] <= num(page["next_seq"]) <= st2["next_seq"],
              "next_seq %s on the page, %d..%d in the status" % (
                  page["next_seq"], st1["next_seq"], st2["next_seq"]))
        check(num(page["max"]) == st2["max_bytes"], "spool cap %s vs %d" % (
            page["max"], st2["max_bytes"]))
        check(0 < num(page["used"]) <= st2["max_bytes"], "spool used %s" % page["used"])
        check(num(page["deadletters"]) == st2["deadletters"] and
              num(page["deadletters_open"]) == st2["deadletters_open"],
              "dead letters %s/%s vs %d/%d" % (page["deadletters"], page["deadletters_open"],
                                               st2["deadletters"], st2["deadletters_open"]))
        check(page["ingest"] == ("paused" if st2.get("ingest_blocked") else "running"),
              "ingest %r, status %r" % (page["ingest"], st2.get("ingest_blocked")))
        check(sorted(r[0] for r in page["sinks"]) == sorted(s["sink"] for s in st2["sinks"]),
              "sinks %r vs %r" % (page["sinks"], st2["sinks"]))
        check(num(page["sinks_total"]) == len(st2["sinks"]), "sink count")
        check(sorted(r[0] for r in page["streams"]) ==
              sorted(s["stream"] for s in st2["streams"]), "streams %r" % page["streams"])
        latest = st2["deadletters_latest"]
        check(len(page["deadletter_latest"]) == len(latest) and len(latest) >= 1,
              "latest dead letters: %d on the page, %d in the status" % (
                  len(page["deadletter_latest"]), len(latest)))
        for row, dl in zip(page["deadletter_latest"], latest):
            check(row[3] == dl["reason"], "dead letter reason %r vs %r" % (row[3], dl["reason"]))
        check(page["config_version"] == st2["config_version"] and
              len(st2["config_version"]) == 16,
              "config version %r vs %r" % (page["config_version"], st2["config_version"]))
        # Health and acknowledged totals come from the ring: every sink up,
        # files' total between the two reads of the status' lag bounds.
        check(all(r[2] == "1" for r in page["sinks"]), "sink health %r" % page["sinks"])
        check(page["agent"] == "page", "agent id %r" % page["agent"])

        # Nothing but the agent's own URLs was requested.
        foreign = [u for u in tab.requests if not u.startswith(agent.base + "/")]
        check(not foreign, "the page fetched %r" % foreign)
        check(any(u.endswith("/api/v1/series") for u in tab.requests), "no series request")

        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "status_page.png")
        tab.screenshot(shot)
        check(os.path.getsize(shot) > 10000, "screenshot %s is too small" % shot)
        print("screenshot: " + shot)
    finally:
        if tab:
            tab.close()
        if agent:
            agent.stop()
print("ok")
