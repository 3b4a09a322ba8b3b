# SPDX-License-Identifier: Apache-2.0
"""The ClickHouse server is killed mid-drain and started again (same
directory, same port, same data): the sink's requests fail with
transport errors, the dispatcher backs off and resends from its cursor,
and once the server is back everything drains. Read with FINAL (one row
per (_origin_id, _seq)), the table holds every record exactly as it was
generated: nothing lost; the resends collapse."""
import subprocess
import time

from clickhouse_harness import *

N = 90000
RATE = N // 15  # the generator runs for about 15 s
table = "restart_sensor"
table_by_seq(table, SENSOR_COLUMNS)
inserted_sql = count_inserts(table)
with Workdir("ch-restart") as work:
    cfg = agent_config(work, table, N, seed=5, rate=RATE, batch=500,
                       sink_extra=["block_records: 2000", "request_timeout: 5s"])
    log = open(work.join("agent.log"), "w+")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(3)
        check(agent.poll() is None, "agent exited before the outage")
        landed_before = int(scalar("SELECT count() FROM %s" % table))
        t_stop = time.monotonic()
        # SIGKILL: a clean shutdown waits for the agent's keep-alive
        # connections, which stay busy until the drain is over.
        server_stop(kill=True)
        stop_s = time.monotonic() - t_stop
        check(agent.poll() is None, "the agent finished before the server was down "
              "(stopping took %.1f s)" % stop_s)
        time.sleep(4)
        server_start()
        rc = agent.wait(timeout=300)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        server_start()  # the next test needs it, whatever happened
    log.seek(0)
    text = log.read()
    check(rc == 0, "agent exited %d:\n%s" % (rc, text[-3000:]))
    check("sink backoff" in text, "the outage never reached the sink:\n" + text[-3000:])
    check(0 < landed_before < N, "%d rows had landed when the server stopped" %
          landed_before)

    origin = status_json(cfg)["origin_id"]
    raw = int(scalar(inserted_sql))
    n = compare_final(table, newest_shape(generate_jsonl("sensor_reading:v1", N, 5), "sensor_reading"), origin,
                      "restart")
    print("clickhouse restart: %d rows had landed when the server stopped (in %.1f s) for 4 s; "
          "%d records in, FINAL holds %d, 0 lost, 0 duplicates under FINAL (%d rows "
          "inserted); %d backoffs logged" % (
              landed_before, stop_s, N, n, raw, text.count("sink backoff")))
