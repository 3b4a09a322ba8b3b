# SPDX-License-Identifier: Apache-2.0
"""kill -9 the daemon at random points while it generates and drains, then
restart it: nothing missing, and `spool verify` passes after every kill.
The file sink is at-least-once, so duplicates are possible: they must be
exact copies, and the test reports how many it saw."""
import random
import signal
import subprocess
import time

from harness import *

N = 150000
KILLS = int(os.environ.get("SA_KILLS", "8"))

rng = random.Random(int(os.environ.get("SA_SEED", str(int(time.time())))))
with Workdir("kill9") as work:
    out = work.join("out")
    cfg = generator_config(work, [
        ("sensors", "sensor_reading", "sensor_reading:v1", 5, N, 60000),
    ], out)
    spool = work.join("data", "spool.db")
    for i in range(KILLS):
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run(["spool", "verify", "--path", spool], check_rc=0)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    run(["spool", "verify", "--path", spool], check_rc=0)

    st = status_json(cfg)
    by_stream = read_ndjson_by_stream(out)
    got = by_stream.get("sensor_reading", [])
    expected = newest_shape(generate_jsonl("sensor_reading:v1", N, 5), "sensor_reading")
    dups = compare_stream(got, expected, st["origin_id"], "sensor_reading")
    print("kill9: %d kills; records in %d, delivered %d, lost 0, duplicated %d" % (
        KILLS, N, len(got), dups))
