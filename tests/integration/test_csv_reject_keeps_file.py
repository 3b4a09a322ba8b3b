# SPDX-License-Identifier: Apache-2.0
"""when_full: reject with on_done: delete. Rows refused because the spool
is full exist nowhere but in their CSV file, so a file any of whose rows
were refused must be kept (with a warning), never deleted (invariant I4).
A file all of whose rows were stored may be kept too: the source keeps
every file read since the first refusal, which errs on the safe side.

The spool is capped at 1 MiB and the one sink takes another stream (one
generated record), so nothing of the CSV stream drains: the small file
fits, the big one (4 MB of rows) does not."""
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
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
        "  shutdown_grace: 2s",
        "spool:", "  max_bytes: 1MiB", "  when_full: reject",
        "batch:", "  max_records: 500", "  linger: 20ms",
        "sources:", "  - name: web", "    type: csv", "    stream: web_event",
        "    schema: web_event:v1", "    path: " + os.path.join(indir, "*.csv"),
        "    watch: false", "    on_done: delete",
        "  - name: one", "    type: generator", "    stream: user", "    schema: user:v1",
        "    seed: 4", "    count: 1", "    rate: 0", "    start_time: %d" % START_MS,
        "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out"),
        "    streams: [user]", ""]))
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    log = proc.stdout + proc.stderr

    check(os.path.exists(big), "the big file was deleted although rows of it were "
          "refused: they are lost")
    check("finished csv file kept: records of it were refused" in log,
          "no warning that the file was kept:\n" + log[-3000:])
    st = status_json(cfg)
    stored = st["next_seq"] - 1
    check(201 <= stored < 40201, "%d records stored of 40201" % stored)
    print("csv reject: %d of 40201 records stored, the big file kept, the small one "
          "%s" % (stored, "kept" if os.path.exists(small) else "deleted"))
