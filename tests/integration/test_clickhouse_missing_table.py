# SPDX-License-Identifier: Apache-2.0
"""A refusal that is not about the rows is retried, never dead-lettered:
the sink writes to a table that does not exist yet (ClickHouse answers
404, Code 60), backs off with ClickHouse's reason in the log, and drains
everything once the table is created."""
import subprocess
import time

from clickhouse_harness import *

N = 5000
table = "missing_sensor"
query("DROP TABLE IF EXISTS %s" % table)
with Workdir("ch-missing-table") as work:
    cfg = agent_config(work, table, N, seed=7)
    log = open(work.join("agent.log"), "w+")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            log.seek(0)
            text = log.read()
            if "Code: 60" in text:
                break
            check(agent.poll() is None, "agent exited:\n" + text[-3000:])
            check(time.monotonic() < deadline, "no Code 60 backoff:\n" + text[-3000:])
            time.sleep(0.2)
        # Created under another name and renamed into place: ClickHouse
        # 18.16 shows a new table to INSERTs before it has started its
        # background merges, and an INSERT landing in between crashed the
        # server once (NULL in BackgroundProcessingPoolTaskInfo::wake).
        # The agent retries in its backoff, so it can meet the table at
        # any moment; RENAME shows it only once it is whole.
        table_by_seq(table + "_new", SENSOR_COLUMNS)
        query("RENAME TABLE %s_new TO %s" % (table, table))
        rc = agent.wait(timeout=120)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    log.seek(0)
    text = log.read()
    check(rc == 0, "agent exited %d:\n%s" % (rc, text[-3000:]))
    backoffs = [l for l in text.splitlines() if "sink backoff" in l and "Code: 60" in l]
    check(backoffs, "no backoff names Code 60")
    letters = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0).stdout
    check(not letters.strip(), "dead letters for a missing table:\n" + letters[:2000])
    origin = status_json(cfg)["origin_id"]
    n = compare_final(table, newest_shape(generate_jsonl("sensor_reading:v1", N, 7), "sensor_reading"), origin,
                      "missing table")
    print("clickhouse missing table: %d backoffs with %r, then %d of %d records "
          "landed, 0 dead letters" % (len(backoffs), backoffs[0][-160:], n, N))
