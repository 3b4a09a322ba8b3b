# SPDX-License-Identifier: Apache-2.0
"""kill -9 the agent again and again while it generates and drains into
OpenSearch, then let it finish: 0 lost, 0 duplicates. Ids are
origin_id:seq (keyless stream) and the key (keyed stream), so a record the
sink sent before a kill and sends again after it overwrites its document;
the index must hold every keyless record exactly once and the newest
version of every key. SA_KILLS (default 30) and SA_SEED vary the loop."""
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 60000
N_USER = 15000
KILLS = int(os.environ.get("SA_KILLS", "30"))
seed = int(os.environ.get("SA_SEED", str(int(time.time()))))
rng = random.Random(seed)

url = opensearch.base_url()
prefix = opensearch.fresh_index(url, "kill9")
with Workdir("os-kill9") as work:
    schemas = opensearch.schemas_dir(work)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: kill9", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + schemas, "  shutdown_grace: 10s",
        "sources:",
        "  - name: readings", "    type: generator", "    stream: reading",
        "    schema: reading", "    seed: 41", "    count: %d" % N, "    rate: 4000",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "  - name: users", "    type: generator", "    stream: user", "    schema: user",
        "    seed: 42", "    count: %d" % N_USER, "    rate: 1000",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + url,
        "    index: %s-${stream}" % prefix, "    manage_template: true",
        "    max_bulk_records: 300",
    ]) + "\n")
    spool = work.join("data", "spool.db")
    started = time.time()
    for i in range(KILLS):
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.1, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    loop_s = time.time() - started
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=600)
    run(["spool", "verify", "--path", spool], check_rc=0)
    origin = status_json(cfg)["origin_id"]
    readings = opensearch.generate(schemas, "reading", N, 41, START_MS)
    users = opensearch.generate(schemas, "user", N_USER, 42, START_MS)
    rdocs = opensearch.all_docs(url, prefix + "-reading")
    opensearch.check_keyless(rdocs, readings, origin, "reading")
    udocs = opensearch.all_docs(url, prefix + "-user")
    opensearch.check_keyed(udocs, users, "user_id", "user")
    print("FIGURES: opensearch kill9: %d kills in %.0f s (seed %d); records in %d, "
          "documents %d + %d keys, lost 0, duplicated 0" % (
              KILLS, loop_s, seed, N + N_USER, len(rdocs), len(udocs)))
