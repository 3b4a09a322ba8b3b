# SPDX-License-Identifier: Apache-2.0
"""kill -9 the daemon at random points while it imports a large CSV file
(SA_CSV_ROWS rows, 2M by default), at least 20 times; then let it finish.
The spool must hold every row exactly once (I1: the file position commits
with the rows), compared by content with what `generate` wrote."""
import random
import signal
import subprocess
import time

from harness import *

ROWS = int(os.environ.get("SA_CSV_ROWS", "2000000"))
KILLS = int(os.environ.get("SA_KILLS", "20"))
SEED = 11

rng = random.Random(int(os.environ.get("SA_SEED", str(int(time.time())))))
with Workdir("csvkill") as work:
    data = work.join("in.csv")
    run(["generate", "--schema", "sensor_reading:v1", "-n", str(ROWS), "--seed", str(SEED),
         "--format", "csv", "--start-time", str(START_MS), "--interval", "1s",
         "--schemas-dir", SCHEMAS_DIR, "-o", data], check_rc=0)
    out = work.join("out")
    cfg = work.write("agent.yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
        "batch:\n  max_records: 2000\n  linger: 20ms\n"
        "sources:\n  - name: csv\n    type: csv\n    stream: sensor_reading\n"
        "    schema: sensor_reading:v1\n    path: %s\n    watch: false\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            work.join("data"), SCHEMAS_DIR, data, out))
    spool = work.join("data", "spool.db")
    t0 = time.time()
    for i in range(KILLS):
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run(["spool", "verify", "--path", spool], check_rc=0)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=900)
    elapsed = time.time() - t0
    run(["spool", "verify", "--path", spool], check_rc=0)

    st = status_json(cfg)
    records = read_ndjson_by_stream(out).get("sensor_reading", [])
    expected = newest_shape(generate_jsonl("sensor_reading:v1", ROWS, SEED), "sensor_reading")
    dups = compare_stream(records, expected, st["origin_id"], "sensor_reading")
    check(st["deadletters"] == 0, "%d dead letters" % st["deadletters"])
    # Exactly once in the spool: seqs are gap-free from 1, one per row.
    check(st["next_seq"] == ROWS + 1, "next_seq %d after %d rows: rows were spooled "
          "twice or lost" % (st["next_seq"], ROWS))
    print("csv kill9: %d kills; rows in %d, spooled %d, lost 0, spooled twice 0, "
          "delivered twice by the file sink %d, %.1f s" % (
              KILLS, ROWS, st["next_seq"] - 1, dups, elapsed))
