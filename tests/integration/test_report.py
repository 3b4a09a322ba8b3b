# SPDX-License-Identifier: Apache-2.0
"""`syncagent report` (issue 13 §5) on a stopped daemon and on a running
one: the daily roll-ups say what went in and what each sink acknowledged,
record for record, in JSON, text and HTML; the audit rows of the period
come with them; and report never needs the writer's lock, so it answers
while `run` holds it."""
import json
import signal
import subprocess
import time

from harness import *

N = 3000


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.1)


def report(cfg, *extra):
    return json.loads(run(["report", "-c", cfg, "--format", "json"] + list(extra),
                          check_rc=0).stdout)


def totals(rep, scope, name_key, name, kind):
    return sum(r.get(kind, 0) for r in rep[scope] if r[name_key] == name)


with Workdir("report") as work:
    # 1. Stopped: every record ingested and acknowledged is in the roll-ups.
    cfg = generator_config(work, [("gen", "order", "order", 3, N, 0)], work.join("out"))
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0)
    rep = report(cfg)
    check(totals(rep, "streams", "stream", "order", "ingested") == N,
          "ingested %r, expected %d" % (rep["streams"], N))
    check(totals(rep, "sinks", "sink", "files", "acked") == N,
          "acked %r, expected %d" % (rep["sinks"], N))
    check(rep["since"] <= rep["until"], "period %s .. %s" % (rep["since"], rep["until"]))
    check(isinstance(rep["audit"], list), "audit %r" % rep["audit"])
    text = run(["report", "-c", cfg], check_rc=0).stdout
    check("order" in text and str(N) in text and "files" in text, "text:\n" + text)
    html = run(["report", "-c", cfg, "--format", "html", "--since", "1d"], check_rc=0).stdout
    check(html.startswith("<!DOCTYPE html>") and "<td>order</td>" in html and
          "</html>" in html, "html:\n" + html[:400])
    check("http" not in html.replace("http-equiv", ""), "the page fetches something")
    p = run(["report", "-c", cfg, "--since", "yesterday"])
    check(p.returncode == 2 and "--since" in p.stderr, "bad --since: %d %s" % (
        p.returncode, p.stderr))
    p = run(["report", "-c", cfg, "--format", "pdf"])
    check(p.returncode == 2, "bad --format exited %d" % p.returncode)
    print("report: stopped daemon, %d ingested and acked in the roll-ups" % N)

    # 2. Running: report answers while `run` holds the writer's lock, and
    # its counts only grow.
    cfg2 = generator_config(work, [("live", "order", "order", 5, 0, 500)],
                            work.join("out2"))
    cfg2 = work.write("live.yaml", open(cfg2).read().replace(
        work.join("data"), work.join("data2")))
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg2], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        # until the daemon has created its spool, there is nothing to read
        wait_for("the spool", lambda: run(["report", "-c", cfg2]).returncode == 0)
        wait_for("records ingested",
                 lambda: totals(report(cfg2), "streams", "stream", "order", "ingested") > 0)
        first = report(cfg2)
        wait_for("more records acknowledged",
                 lambda: totals(report(cfg2), "sinks", "sink", "files", "acked") >
                 totals(first, "sinks", "sink", "files", "acked"))
        check(agent.poll() is None, "the daemon stopped while report ran")
        p = run(["run", "-c", cfg2])
        check(p.returncode != 0, "a second writer was let in while report ran")
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=60)
    check(rc == 0, "daemon exited %d: %s" % (rc, agent.stderr.read()[-2000:]))
    final = report(cfg2)
    ingested = totals(final, "streams", "stream", "order", "ingested")
    st = status_json(cfg2)
    check(ingested == st["next_seq"] - 1,
          "roll-up says %d ingested, the spool's next_seq %d" % (ingested, st["next_seq"]))
    print("report: running daemon, %d ingested by the end" % ingested)

    # 3. Records refused by a full spool (when_full: reject) are rejected
    # with reason spool_full in the roll-ups, beside those it took.
    n3 = 20000
    cfg3 = work.write("full.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data3"), "  schemas_dir: " + SCHEMAS_DIR,
        "spool:", "  max_bytes: 1MiB", "  when_full: reject",
        "batch:", "  max_records: 500", "  linger: 20ms",
        "sources:",
        "  - name: gen", "    type: generator", "    stream: order", "    schema: order",
        "    seed: 9", "    count: %d" % n3, "    rate: 0",
        "  - name: one", "    type: generator", "    stream: user", "    schema: user",
        "    seed: 4", "    count: 1", "    rate: 0",
        "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out3"),
        "    streams: [user]", ""]))
    run(["run", "-c", cfg3, "--exit-when-synced"], check_rc=0, timeout=300)
    rep = report(cfg3)
    ingested = totals(rep, "streams", "stream", "order", "ingested")
    refused = sum(r.get("rejected", {}).get("spool_full", 0) for r in rep["streams"]
                  if r["stream"] == "order")
    check(refused > 0 and ingested + refused == n3,
          "%d ingested + %d refused, expected %d in all" % (ingested, refused, n3))
    print("report: %d ingested and %d refused by a full spool" % (ingested, refused))
