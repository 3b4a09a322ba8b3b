# SPDX-License-Identifier: Apache-2.0
"""OpenSearch stopped and started again while the sink drains a backlog:
the sink's requests fail as a whole (connection refused), the dispatcher
backs off, and once the node is back the drain completes. Nothing is lost
(every keyless record is in the index once, under origin_id:seq) and the
keyed stream holds the newest version of each key."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 60000
N_USER = 10000

url = opensearch.base_url()
env_dir = opensearch.testenv_dir()
prefix = opensearch.fresh_index(url, "restart")
with Workdir("os-restart") as work:
    schemas = opensearch.schemas_dir(work)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: restart", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + schemas, "  shutdown_grace: 10s",
        "sources:",
        "  - name: readings", "    type: generator", "    stream: reading",
        "    schema: reading", "    seed: 31", "    count: %d" % N, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "  - name: users", "    type: generator", "    stream: user", "    schema: user",
        "    seed: 32", "    count: %d" % N_USER, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + url,
        "    index: %s-${stream}" % prefix, "    manage_template: true",
        "    max_bulk_records: 200", "    max_connections: 1",
        "    retry_initial: 100ms", "    retry_max: 1s",
    ]) + "\n")
    log = open(work.join("agent.log"), "w")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg, "--exit-when-synced"],
                             stdout=log, stderr=subprocess.STDOUT)
    try:
        # Wait until the drain is under way, then take the node away.
        deadline = time.time() + 60
        while True:
            # 404/503 while the index is being created
            n = opensearch.request(url, "GET", "/%s-*/_count" % prefix,
                                   ok=(200, 404, 503)).get("count", 0)
            if n > 0:
                break
            check(agent.poll() is None, "the agent finished before the node was stopped")
            check(time.time() < deadline, "no document arrived within 60 s")
            time.sleep(0.05)
        subprocess.run([os.path.join(env_dir, "stop"), opensearch.node_dir()], check=True)
        check(agent.poll() is None, "the agent finished before the node was stopped")
        time.sleep(3)  # the sink fails and backs off meanwhile
        subprocess.run([os.path.join(env_dir, "start"), opensearch.node_dir()], check=True,
                       stdout=subprocess.DEVNULL)
        rc = agent.wait(timeout=300)
    finally:
        if agent.poll() is None:  # a failed check: leave nothing running
            agent.kill()
            agent.wait()
        log.close()
    text = open(work.join("agent.log")).read()
    check(rc == 0, "agent exited %d:\n%s" % (rc, text[-3000:]))
    check("sink backoff" in text, "the sink never saw the node down:\n" +
          text[-2000:])
    origin = status_json(cfg)["origin_id"]
    readings = opensearch.generate(schemas, "reading", N, 31, START_MS)
    users = opensearch.generate(schemas, "user", N_USER, 32, START_MS)
    rdocs = opensearch.all_docs(url, prefix + "-reading")
    opensearch.check_keyless(rdocs, readings, origin, "reading")
    udocs = opensearch.all_docs(url, prefix + "-user")
    opensearch.check_keyed(udocs, users, "user_id", "user")
    failures = text.count("sink backoff")
    print("opensearch restart: node stopped at %d documents and started again; %d "
          "backoffs; %d readings once each, %d users (newest version "
          "per key)" % (n, failures, len(rdocs), len(udocs)))
