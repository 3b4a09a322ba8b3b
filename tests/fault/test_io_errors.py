# SPDX-License-Identifier: Apache-2.0
"""Scenario 3: I/O errors under libfiu (Debian fiu-utils).

`fiu-run -x` preloads libfiu's POSIX wrappers into the agent and fails
fsync, fdatasync and pwrite (SQLite's writes and syncs, the file sink's
syncs) at random. spool.sync is full so that every commit syncs. The
agent imports a CSV file and drains it to the file sink, round after
round, each round under faults for at most ROUND_S seconds. Must hold:

  - each round ends with exit 0 or 1 (a clear error on stderr), or is
    still running and stops on SIGTERM; never a crash signal or a hang;
  - after each round (without fiu) `spool verify` passes and the CSV
    offset the spool holds, which is what the source acknowledged, never
    goes back;
  - a final run without faults delivers every row exactly once in the
    spool (next_seq == rows + 1): a failed commit was never taken as
    durable, and nothing that was acknowledged is missing;
  - the faults hit: at least one round ends with an I/O error. Commits
    are of 100 rows so that they are many (each syncs): with 1000, a
    fast import could finish its first round before the first fault and
    the test would test nothing.

Default: 8 rounds at probability 0.005 (SA_FIU_PROBABILITY). SA_FAULT_FULL=1: 30 rounds.
"""
import random
import re
import shutil
import sqlite3
import subprocess

from faultlib import *

ROWS = 300000
ROUNDS = 30 if FULL else 8
ROUND_S = 8
PROB = float(os.environ.get("SA_FIU_PROBABILITY", "0.005"))

if not shutil.which("fiu-run"):
    fail("fiu-run not found: install fiu-utils (tools/setup)")

rng = random.Random(int(os.environ.get("SA_SEED", str(int(time.time())))))
with Workdir("f-fiu") as work:
    csv = work.join("in.csv")
    generate_csv(csv, "sensor_reading:v1", ROWS, 13)
    out = work.join("out")
    cfg = work.write("agent.yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\n  shutdown_grace: 2s\n"
        "spool:\n  sync: full\n"
        "batch:\n  max_records: 100\n  linger: 20ms\n"
        "sources:\n  - name: csv\n    type: csv\n    stream: sensor_reading\n"
        "    schema: sensor_reading:v1\n    path: %s\n    watch: false\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            work.join("data"), SCHEMAS_DIR, csv, out))
    spool = work.join("data", "spool.db")
    # Create the spool without faults (a creation that fails under fiu
    # leaves an empty database, which verify rightly calls no spool).
    proc = start(["run", "-c", cfg], work.join("create.log"))
    wait_for(lambda: os.path.exists(spool) and run(["status", "-c", cfg]).returncode == 0,
             30, "the spool to be created")
    stop(proc)
    fiu = ["fiu-run", "-x", "-f", ""]
    for name in ("posix/io/sync/fsync", "posix/io/sync/fdatasync",
                 "posix/io/rw/pwrite"):
        fiu += ["-c", "enable_random name=%s,probability=%s" % (name, PROB)]

    outcomes = {"exit0": 0, "exit1": 0, "stopped": 0}
    errors = set()
    last_offset = 0
    for i in range(ROUNDS):
        log = work.join("round%d.log" % i)
        proc = start(["run", "-c", cfg, "--exit-when-synced"], log, prefix=fiu)
        try:
            rc = proc.wait(timeout=ROUND_S + rng.uniform(0, 4))
        except subprocess.TimeoutExpired:
            rc = stop(proc, timeout=60)
            outcomes["stopped"] += 1
            rc = None
        text = open(log).read()
        if rc is not None:
            check(rc in (0, 1), "round %d: the agent exited %d under I/O errors "
                  "(a crash?)\n%s" % (i, rc, text[-3000:]))
            outcomes["exit%d" % rc] += 1
            if rc == 1:
                bad = [l for l in text.splitlines()
                       if "level=error" in l or l.startswith("syncagent run:")]
                check(bad, "round %d: exit 1 without an error line:\n%s" % (
                    i, text[-2000:]))
                m = re.search(r'error="([^"]*)"', bad[0])
                errors.add(re.sub(r"(?<=spool )/\S+", "PATH", m.group(1) if m else bad[0])[:120])
        verify(spool)
        db = sqlite3.connect("file:%s?mode=ro" % spool, uri=True)
        row = db.execute("SELECT coalesce(max(\"offset\"), 0) FROM source_offsets"
                         ).fetchone()
        db.close()
        check(row[0] >= last_offset, "round %d: the committed CSV offset went back "
              "from %d to %d: an acknowledged commit was lost" % (i, last_offset,
                                                                   row[0]))
        last_offset = row[0]
        print("round %d: %s, committed offset %d" % (
            i, "still running, stopped" if rc is None else "exit %d" % rc, last_offset))

    t0 = time.time()
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    recover_s = time.time() - t0
    verify(spool)
    st = status_json(cfg)
    recs = read_ndjson_by_stream(out).get("sensor_reading", [])
    dups = compare_stream(recs, newest_shape(generate_jsonl("sensor_reading:v1", ROWS, 13), "sensor_reading"),
                          st["origin_id"], "sensor_reading")
    check(st["next_seq"] == ROWS + 1, "next_seq %d after %d rows: rows spooled "
          "twice or lost" % (st["next_seq"], ROWS))
    for e in sorted(errors):
        print("error seen: " + e)
    print("io errors: %d rounds at p=%s: %s" % (ROUNDS, PROB, outcomes))
    check(outcomes["exit1"] > 0, "no round met an I/O error: the faults never hit, "
          "so nothing was tested (%s)" % outcomes)
    figures("io_errors", ROWS, len(recs), 0, dups, recover_s, rounds=ROUNDS,
            exits_with_error=outcomes["exit1"], probability=PROB)
