# SPDX-License-Identifier: Apache-2.0
"""Stopping and reloading with an upstream that does not answer (a Kafka
sink whose broker port is closed; no broker needed).

SIGTERM keeps agent.shutdown_grace: the agent exits about the grace after
the signal (it took grace + 7 s: 2 s more waiting for outcomes, 5 s of
librdkafka flush), and "sink stopped" says how many records stay spooled
for the next start; with exactly_once too, while its
transactions cannot be initialised.

SIGHUP hands a sink in backoff over at once: the reload does not wait the
grace (the old sink has nothing in flight, and the new config may be what
fixes it). Both bounds leave several seconds of slack either way."""
import re
import signal
import time

from harness import *

N = 5000


def config(work, name, grace, sink_extra):
    return work.write(name + ".yaml", "\n".join([
        "agent:", "  id: stop", "  data_dir: " + work.join("data-" + name),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: " + grace,
        "sources:",
        "  - name: sensors", "    type: generator", "    stream: sensor_reading",
        "    schema: sensor_reading:v1", "    seed: 3", "    count: %d" % N,
        "    rate: 0", "    start_time: %d" % START_MS,
        "sinks:",
        "  - name: k", "    type: kafka",
        "    brokers: 127.0.0.1:%d" % free_port()] + sink_extra) + "\n")


def wait_log(path, text, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            log = f.read()
        if text in log:
            return log
        check(proc.poll() is None, "agent exited (%s) before %r:\n%s" % (
            proc.returncode, text, log[-3000:]))
        time.sleep(0.05)
    fail("no %r in the log after %d s:\n%s" % (text, timeout, log[-3000:]))


def log_ms(log, msg):
    m = re.search(r'ts=(\S+) level=\w+ msg="?' + re.escape(msg), log)
    check(m, "no %r in the log" % msg)
    t = time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
    return time.mktime(t) * 1000 + int(m.group(1)[20:23])


with Workdir("stop-grace") as work:
    # SIGTERM with every record in flight to a broker that is not there.
    grace_s = 3
    cfg = config(work, "term", "%ds" % grace_s, ["    delivery_timeout: 60s"])
    log_path = work.join("term.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_log(log_path, "every source is finished", proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open(log_path) as f:
        text = f.read()
    check(rc == 0, "SIGTERM: exit %d:\n%s" % (rc, text[-3000:]))
    check(took < grace_s + 2.5, "SIGTERM took %.1f s with shutdown_grace %d s:\n%s" % (
        took, grace_s, text[-3000:]))
    check(re.search(r'msg="sink stopped" sink=k .*spooled_for_next_start=%d' % N, text),
          "no count of the records left for the next start:\n" + text[-3000:])
    check("Producer terminating" not in text, "librdkafka was left messages:\n" +
          text[-3000:])
    st = status_json(cfg)
    check(st["sinks"][0]["lag_records"] == N, "status: %r" % st["sinks"])

    # The same with exactly_once, stopped while the sink is still trying to
    # initialise its transactions (init_transactions waited a whole
    # delivery_timeout, 60 s, before a stop was seen).
    cfg = config(work, "eos", "%ds" % grace_s, ["    exactly_once: true"])
    log_path = work.join("eos.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_log(log_path, "sink started", proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=120)
        took_eos = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open(log_path) as f:
        text = f.read()
    check(rc == 0, "SIGTERM (exactly_once): exit %d:\n%s" % (rc, text[-3000:]))
    check(took_eos < grace_s + 2.5, "SIGTERM (exactly_once) took %.1f s with "
          "shutdown_grace %d s:\n%s" % (took_eos, grace_s, text[-3000:]))
    check(re.search(r'msg="sink stopped" sink=k .*spooled_for_next_start=\d+', text),
          "no count of the records left for the next start:\n" + text[-3000:])

    # SIGHUP while the sink backs off for 30 s, with a 30 s grace.
    cfg = config(work, "hup", "30s", ["    delivery_timeout: 1s",
                                      "    retry_initial: 30s", "    retry_max: 30s"])
    log_path = work.join("hup.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_log(log_path, "sink backoff", proc)
        proc.send_signal(signal.SIGHUP)
        text = wait_log(log_path, "config reloaded", proc)
        took_ms = log_ms(text, "config reloaded") - log_ms(text, "reloading config")
    finally:
        proc.kill()
        proc.wait()
    check(took_ms < 10000, "the reload took %d ms with a sink in backoff:\n%s" % (
        took_ms, text[-3000:]))
print("stop within the grace: SIGTERM %.1f s, exactly_once %.1f s (grace %d s); a "
      "reload with a sink in backoff %.1f s (grace 30 s)" % (took, took_eos, grace_s,
                                                            took_ms / 1000.0))
