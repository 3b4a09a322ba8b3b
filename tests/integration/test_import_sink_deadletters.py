# SPDX-License-Identifier: Apache-2.0
"""`import --wait-synced` whose records a sink dead-letters (the http sink
against the test receiver, which answers the first request 400 and every
other one 200): import exits 3, as for rows the source rejects, not 0, and
says in one line how many records the sinks dead-lettered during the wait
and how to see them (`syncagent deadletter list -c FILE`). The count is
the one the dead letters hold (source sink:web), those are the records of
the refused request, and every other record was delivered. Without a
refusal the same import exits 0."""
from http_harness import *

N = 300


def config(work, name, url):
    return work.write(name + ".yaml", "\n".join([
        "agent:", "  id: sink-dl", "  data_dir: " + work.join("data-" + name),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 5s",
        "sources:",
        "  - name: users", "    type: csv", "    stream: user", "    schema: user:v1",
        "    path: " + work.join("none-*.csv"), "    watch: false",
        "sinks:",
        "  - name: web", "    type: http", "    url: " + url,
        "    batch_max_records: 100"]) + "\n")


with Workdir("import-sink-dl") as work:
    csv = work.join("users.csv")
    run(["generate", "--schema", "user:v1", "-n", str(N), "--seed", "9",
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", csv], check_rc=0)

    rx = Receiver(work)
    try:
        rx.plan([{"status": 400, "body": "no such field"}])
        cfg = config(work, "refused", rx.url("/ingest"))
        proc = run(["import", "-c", cfg, "--wait-synced", csv], timeout=120)
        log = rx.log()
    finally:
        rx.stop()
    check(proc.returncode == 3, "import --wait-synced with a refused request: exit "
          "%d, expected 3\nstdout: %s\nstderr: %s" % (proc.returncode, proc.stdout,
                                                      proc.stderr[-3000:]))
    check("%s: %d accepted, 0 rejected" % (csv, N) in proc.stdout, proc.stdout)
    dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                      check_rc=0).stdout.splitlines() if l.strip()]
    check(dls and all(d["source"] == "sink:web" and d["reason"].startswith("HTTP 400")
                      for d in dls), "dead letters: %s" % json.dumps(dls)[:2000])
    want = ("syncagent import: the sinks dead-lettered %d record%s while waiting "
            "(web: %d); see them with `syncagent deadletter list -c %s`" % (
                len(dls), "" if len(dls) == 1 else "s", len(dls), cfg))
    lines = [l for l in proc.stderr.splitlines() if "dead-lettered" in l and
             "syncagent import" in l]
    check(lines == [want], "the line about the sink's dead letters: %r, expected "
          "%r\n%s" % (lines, want, proc.stderr[-3000:]))
    check("every sink has acknowledged every record\n" not in proc.stdout,
          "claims every record was acknowledged:\n" + proc.stdout)
    refused = {r["_seq"] for e in log if e["status"] == 400 for r in e["records"]}
    by_seq, _ = delivered(log)
    dl_seqs = {int(d["location"].rsplit(" ", 1)[1]) for d in dls}
    check(dl_seqs == refused, "dead letters %s, refused %s" % (sorted(dl_seqs)[:10],
                                                               sorted(refused)[:10]))
    check(not set(by_seq) & refused, "a record both delivered and dead-lettered")
    check(len(by_seq) + len(refused) == N, "%d delivered + %d dead-lettered of %d" % (
        len(by_seq), len(refused), N))
    check(status_json(cfg)["sinks"][0]["lag_records"] == 0, "records left pending")

    # Nothing refused: 0, and the line that says so.
    rx = Receiver(work)
    try:
        cfg = config(work, "taken", rx.url("/ingest"))
        proc = run(["import", "-c", cfg, "--wait-synced", csv], check_rc=0, timeout=120)
    finally:
        rx.stop()
    check("every sink has acknowledged every record" in proc.stdout, proc.stdout)
    check("dead-lettered" not in proc.stderr, proc.stderr[-3000:])
print("import --wait-synced: a sink's %d dead letters exit 3 with their count; "
      "none: 0" % len(dls))
