# SPDX-License-Identifier: Apache-2.0
"""when_full: reject with on_done: delete. Rows of a CSV file are never
refused (issue 11: they would exist nowhere else once the file's position
moved on): a full spool makes the file wait as under block, the file is
never deleted while rows of it are unread, and once the spool drains every
row arrives exactly once.

The spool is capped at 1 MiB and the one sink takes another stream (one
generated record), so nothing of the CSV stream drains: the small file
fits and is deleted once committed; the big one (4 MB of rows) does not
fit and must wait, kept. Then a sink for the CSV stream drains it all."""
import signal
import time

from harness import *

with Workdir("csv-reject") as work:
    indir = work.join("in")
    os.makedirs(indir)
    small = os.path.join(indir, "a-small.csv")
    big = os.path.join(indir, "b-big.csv")
    run(["generate", "--schema", "web_event:v1", "-n", "200", "--seed", "1",
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", small], check_rc=0)
    run(["generate", "--schema", "web_event:v1", "-n", "40000", "--seed", "2",
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", big], check_rc=0)

    def config(max_bytes, web_sink):
        return work.write("agent.yaml", "\n".join([
            "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
            "  shutdown_grace: 2s",
            "spool:", "  max_bytes: " + max_bytes, "  when_full: reject",
            "batch:", "  max_records: 500", "  linger: 20ms",
            "sources:", "  - name: web", "    type: csv", "    stream: web_event",
            "    schema: web_event:v1", "    path: " + os.path.join(indir, "*.csv"),
            "    watch: false", "    on_done: delete",
            "  - name: one", "    type: generator", "    stream: user",
            "    schema: user:v1", "    seed: 4", "    count: 1", "    rate: 0",
            "    start_time: %d" % START_MS,
            "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out"),
            "    streams: [user]"] + ([
            "  - name: web", "    type: file", "    path: " + work.join("out-web"),
            "    streams: [web_event]"] if web_sink else []) + [""]))

    cfg = config("1MiB", False)
    proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and os.path.exists(small):
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, log = proc.communicate(timeout=60)
    # (the small file is deleted once its commit's hook runs; that may
    # wait for the commits behind it, so it is not asserted here)
    check(os.path.exists(big), "the big file was deleted although rows of it are unread")
    check("records refused" not in log, "rows of a file were refused:\n" + log[-3000:])
    st = status_json(cfg)
    stored = st["next_seq"] - 1
    check(201 <= stored < 40201, "%d records stored of 40201" % stored)
    print("full spool: %d of 40201 records stored, none refused, the big file kept"
          % stored)

    # A sink for the CSV stream drains it: every row arrives, once.
    cfg = config("1MiB", True)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    recs = read_ndjson_by_stream(work.join("out-web")).get("web_event", [])
    seqs = [r["_seq"] for r in recs]
    check(len(recs) == 40200 and len(set(seqs)) == 40200,
          "%d web_event records delivered (%d distinct), expected 40200" % (
              len(recs), len(set(seqs))))
    check(not os.path.exists(big), "the big file, all committed, was not deleted")
    print("after draining: all 40200 rows once, the big file deleted")
