# SPDX-License-Identifier: Apache-2.0
"""The admin server against the real binary: every endpoint, the metrics'
values against what went through, /api/v1/status against `status --json`,
the bearer token of POST /api/v1/reload, the refusal to listen beyond
loopback without a token, a port in use, admin.enabled: false, and /readyz
turning 503 while a sink's upstream is down (health.sink_down_after) or
ingest is paused, and 200 again after."""
import json
import socket
import sys

from admin_harness import *
from http_harness import Receiver, http_config

COUNT = 5000


def env_without_override():
    env = dict(os.environ)
    env.pop("SA_ADMIN_LISTEN", None)
    return env


def strip_volatile(status):
    """What may change between two reads of an idle spool."""
    status = json.loads(json.dumps(status))
    for k in ("file_bytes", "used_bytes"):
        status.pop(k, None)
    for s in status["sinks"]:
        s.pop("lag_seconds", None)
    return status


def test_endpoints(work):
    out = work.join("out")
    cfg = generator_config(work, [("gen", "orders", "order", 1, COUNT, 0)], out)
    agent = Agent(work, cfg)
    agent.wait_address()
    wait_for("every record acknowledged",
             lambda: value_or_none(agent.metrics(), "syncagent_records_acked_total",
                                   sink="files") == COUNT)
    m = agent.metrics()
    check(value(m, "syncagent_records_ingested_total", stream="orders", source="gen") ==
          COUNT, "ingested_total")
    check(value(m, "syncagent_records_rejected_total", stream="orders", source="gen",
                reason="invalid") == 0, "rejected_total")
    check(value(m, "syncagent_sink_ack_seconds_count", sink="files") == COUNT,
          "one ack latency per record")
    check(value(m, "syncagent_sink_ack_seconds_sum", sink="files") > 0, "ack sum")
    check(value(m, "syncagent_commit_seconds_count") >= 1, "commits timed")
    check(value(m, "syncagent_records_superseded_total", sink="files") == 0, "superseded")
    check(value(m, "syncagent_sink_retries_total", sink="files") == 0, "retries")
    check(value(m, "syncagent_sink_up", sink="files") == 1, "sink up")
    check(value(m, "syncagent_ingest_paused") == 0, "not paused")
    check(value(m, "syncagent_spool_max_bytes") == 1 << 30, "spool cap")
    check(value(m, "syncagent_spool_bytes") > 0, "spool bytes")
    check(value(m, "syncagent_deadletters", stream="orders") == 0, "dead letters")
    check(value(m, "syncagent_build_info", version="0.1.0") == 1, "build_info")
    check(value(m, "syncagent_config_reloads_total", result="ok") == 0, "reloads")
    check(value(m, "process_resident_memory_bytes") > 1 << 20, "rss")
    check(value(m, "process_open_fds") > 3, "fds")
    check(m["process_cpu_seconds_total"]["type"] == "counter", "cpu is a counter")
    for name in ("syncagent_sink_lag_records", "syncagent_sink_lag_seconds"):
        wait_for(name + " at 0", lambda: value(agent.metrics(), name, sink="files") == 0)

    status, headers, body = agent.get("/healthz")
    check(status == 200 and body == "ok\n", "/healthz: %d %r" % (status, body))
    status, headers, body = agent.get("/readyz")
    check(status == 200 and body == "ready\n", "/readyz: %d %r" % (status, body))

    # The live status is the CLI's, read while the daemon runs.
    status, headers, body = agent.get("/api/v1/status")
    check(status == 200 and headers["content-type"] == "application/json",
          "/api/v1/status: %d %s" % (status, headers))
    cli = status_json(cfg)
    check(strip_volatile(json.loads(body)) == strip_volatile(cli),
          "/api/v1/status differs from status --json:\n%s\n%s" % (body, cli))

    status, headers, body = agent.get("/nope")
    check(status == 404, "/nope: %d" % status)
    status, headers, body = agent.get("/metrics/")
    check(status == 404, "/metrics/: %d" % status)
    status, headers, body = agent.request("POST", "/metrics", body=b"x")
    check(status == 405 and headers.get("allow") == "GET, HEAD",
          "POST /metrics: %d %s" % (status, headers))
    status, headers, body = agent.request("DELETE", "/healthz")
    check(status == 405, "DELETE /healthz: %d" % status)
    status, headers, body = agent.request("HEAD", "/healthz")
    check(status == 200 and body == "", "HEAD /healthz: %d %r" % (status, body))
    status, headers, body = agent.get("/api/v1/reload")
    check(status == 405 and headers.get("allow") == "POST", "GET reload: %d" % status)
    # No admin.token: the reload route is off.
    status, headers, body = agent.request("POST", "/api/v1/reload")
    check(status == 403 and "admin.token" in body, "reload without token: %d %r" % (
        status, body))
    agent.stop()
    print("endpoints: ok")


def test_token(work):
    out = work.join("out-token")
    token = "s3cret-token-0123456789"
    work.write("token.txt", token + "\n")
    cfg = generator_config(work, [("gen", "orders", "order", 1, 100, 0)], out)
    with open(cfg) as f:
        text = f.read()
    text += "admin:\n  token: ${file:token.txt}\n"
    with open(cfg, "w") as f:
        f.write(text)
    agent = Agent(work, cfg, name="token")
    agent.wait_address()
    check("s3cret" not in agent.log_text(), "the token is in the log")

    for headers, what in (({}, "missing"),
                          ({"Authorization": "Bearer wrong"}, "wrong"),
                          ({"Authorization": "Bearer " + token[:-1]}, "a prefix"),
                          ({"Authorization": "Bearer " + token + "x"}, "longer"),
                          ({"Authorization": "Bearer "}, "empty"),
                          ({"Authorization": "Basic " + token}, "another scheme"),
                          ({"Authorization": token}, "no scheme")):
        status, rh, body = agent.request("POST", "/api/v1/reload", headers=headers)
        check(status == 401 and rh.get("www-authenticate") == "Bearer",
              "%s token: %d %s %r" % (what, status, rh, body))
    check(value(agent.metrics(), "syncagent_config_reloads_total", result="ok") == 0,
          "a refused request reloaded")

    auth = {"Authorization": "Bearer " + token}
    status, rh, body = agent.request("POST", "/api/v1/reload", headers=auth)
    check(status == 200 and json.loads(body) == {"result": "ok"},
          "reload: %d %r" % (status, body))
    check(value(agent.metrics(), "syncagent_config_reloads_total", result="ok") == 1,
          "the reload was not counted")
    check("config reloaded" in agent.log_text(), "no reload in the log")
    # The scheme's case does not matter (RFC 7235).
    status, rh, body = agent.request("POST", "/api/v1/reload",
                                     headers={"Authorization": "bearer " + token})
    check(status == 200, "lower-case scheme: %d" % status)

    # A broken config: refused, and the agent keeps running on the old one.
    with open(cfg, "a") as f:
        f.write("bogus_section: 1\n")
    status, rh, body = agent.request("POST", "/api/v1/reload", headers=auth)
    reply = json.loads(body)
    check(status == 422 and reply["result"] == "failed" and
          "bogus_section" in reply["error"], "bad reload: %d %r" % (status, body))
    m = agent.metrics()
    check(value(m, "syncagent_config_reloads_total", result="failed") == 1,
          "failed reload not counted")
    status, rh, body = agent.get("/readyz")
    check(status == 200, "/readyz after a failed reload: %d %r" % (status, body))
    agent.stop()
    print("token: ok")


def test_refusals(work):
    env = env_without_override()
    cfg = generator_config(work, [("gen", "orders", "order", 1, 10, 0)],
                           work.join("out-refuse"))
    with open(cfg) as f:
        base = f.read()

    # Beyond loopback without a token: refused at start, exit 2.
    path = work.write("wide.yaml", base + "admin:\n  listen: 0.0.0.0:0\n")
    proc = run(["run", "-c", path], env=env)
    check(proc.returncode == 2 and "admin.listen" in proc.stderr and
          "admin.token" in proc.stderr, "0.0.0.0 without a token: %d %s" % (
              proc.returncode, proc.stderr))
    path = work.write("wide6.yaml", base + "admin:\n  listen: '[::]:0'\n")
    proc = run(["run", "-c", path], env=env)
    check(proc.returncode == 2 and "admin.listen" in proc.stderr,
          "[::] without a token: %d %s" % (proc.returncode, proc.stderr))
    # ... and allowed with one.
    path = work.write("wide-token.yaml",
                      base + "admin:\n  listen: 0.0.0.0:0\n  token: abcdefgh\n")
    agent = Agent(work, path, name="wide", env=env)
    check(agent.wait_address().startswith("0.0.0.0:"), "listens on " + agent.address)
    agent.stop()

    # A port in use: a start error naming admin.listen.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    path = work.write("busy.yaml", base + "admin:\n  listen: 127.0.0.1:%d\n" % port)
    proc = run(["run", "-c", path], env=env)
    holder.close()
    check(proc.returncode == 2 and "admin.listen \"127.0.0.1:%d\"" % port in proc.stderr
          and "in use" in proc.stderr, "port in use: %d %s" % (proc.returncode,
                                                               proc.stderr))
    # A malformed address: a config error.
    path = work.write("bad.yaml", base + "admin:\n  listen: localhost\n")
    proc = run(["run", "-c", path], env=env)
    check(proc.returncode == 2 and "admin.listen" in proc.stderr,
          "bad address: %d %s" % (proc.returncode, proc.stderr))

    # Switched off: no server, the agent runs all the same.
    path = work.write("off.yaml", base + "admin:\n  enabled: false\n")
    proc = run(["run", "-c", path, "--exit-when-synced"], env=env, check_rc=0)
    check("admin server" not in proc.stderr, "a server with enabled: false")
    print("refusals: ok")


def test_readyz_sink_down(work):
    recv = Receiver(work)
    recv.plan([], default={"status": 503})
    cfg = http_config(work, "down", recv.url("/ingest"), 2000,
                      sink_extra="retry_initial: 100ms\nretry_max: 300ms\n")
    with open(cfg, "a") as f:
        f.write("health:\n  sink_down_after: 1s\n")
    agent = Agent(work, cfg, name="down")
    agent.wait_address()
    body = wait_for("/readyz 503 for the sink", lambda: (
        lambda r: r[0] == 503 and "sink web has failed" in r[2] and r[2])(
            agent.get("/readyz")))
    check("health.sink_down_after" in body, "/readyz reason: %r" % body)
    check(value(agent.metrics(), "syncagent_sink_up", sink="web") == 0, "sink_up")
    check(agent.get("/healthz")[0] == 200, "/healthz while a sink is down")
    recv.plan([], default=None)
    wait_for("/readyz 200 again", lambda: agent.get("/readyz")[0] == 200)
    m = agent.metrics()
    check(value(m, "syncagent_sink_up", sink="web") == 1, "sink_up again")
    check(value(m, "syncagent_sink_retries_total", sink="web") > 0, "retries counted")
    wait_for("every record acknowledged", lambda: value(
        agent.metrics(), "syncagent_records_acked_total", sink="web") >= 2000)
    agent.stop()
    recv.stop()
    print("readyz sink down: ok")


def test_readyz_paused(work):
    recv = Receiver(work)
    recv.plan([], default={"status": 503})
    cfg = http_config(work, "full", recv.url("/ingest"), 200000,
                      sink_extra="retry_initial: 100ms\nretry_max: 300ms\n")
    with open(cfg, "a") as f:
        f.write("spool:\n  max_bytes: 2MiB\n  min_free: 0\n"
                "health:\n  sink_down_after: 1h\n")
    agent = Agent(work, cfg, name="full")
    agent.wait_address()
    body = wait_for("/readyz 503 for the full spool", lambda: (
        lambda r: r[0] == 503 and "ingest paused" in r[2] and r[2])(
            agent.get("/readyz")), timeout=120)
    check("spool.max_bytes" in body, "/readyz reason: %r" % body)
    check(value(agent.metrics(), "syncagent_ingest_paused") == 1, "ingest_paused")
    recv.plan([], default=None)
    wait_for("/readyz 200 once the sink drains", lambda: agent.get("/readyz")[0] == 200,
             timeout=300)
    agent.stop()
    recv.stop()
    print("readyz paused: ok")


def main():
    with Workdir("admin") as work:
        test_endpoints(work)
        test_token(work)
        test_refusals(work)
        test_readyz_sink_down(work)
        test_readyz_paused(work)


if __name__ == "__main__":
    main()
