# SPDX-License-Identifier: Apache-2.0
"""kill -9 the agent again and again while it drains into ClickHouse,
then let it finish: every kill can lose the responses of INSERTs that the
server committed, so the restarted agent inserts those blocks again. Read
with FINAL (ReplacingMergeTree(_version) ordered by (_origin_id, _seq)),
the table holds every record once, exactly as generated: 0 lost, 0
duplicates. The raw row count shows how many resends the kills caused."""
import random
import signal
import subprocess
import time

from clickhouse_harness import *

N = 200000
KILLS = int(os.environ.get("SA_KILLS", "30"))
RATE = 20000

rng = random.Random(int(os.environ.get("SA_SEED", str(int(time.time())))))
table = "kill9_sensor"
table_by_seq(table, SENSOR_COLUMNS)
inserted_sql = count_inserts(table)
with Workdir("ch-kill9") as work:
    cfg = agent_config(work, table, N, seed=6, rate=RATE, batch=500,
                       sink_extra=["block_records: 1000"])
    spool = work.join("data", "spool.db")
    t0 = time.monotonic()
    landed = []
    for i in range(KILLS):
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        landed.append(int(scalar("SELECT count() FROM %s" % table)))
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    run(["spool", "verify", "--path", spool], check_rc=0)
    elapsed = time.monotonic() - t0
    check(landed[0] < landed[-1], "nothing landed between the kills: %s" % landed)

    origin = status_json(cfg)["origin_id"]
    raw = int(scalar(inserted_sql))
    n = compare_final(table, newest_shape(generate_jsonl("sensor_reading:v1", N, 6), "sensor_reading"), origin, "kill9")
    print("clickhouse kill9: %d kills in %.0f s while draining; %d records in, FINAL "
          "holds %d, 0 lost, 0 duplicates under FINAL; %d rows inserted (%d "
          "resent after kills)" % (KILLS, elapsed, N, n, raw, raw - N))
