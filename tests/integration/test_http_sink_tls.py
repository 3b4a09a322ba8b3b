# SPDX-License-Identifier: Apache-2.0
"""The http sink over HTTPS, with a CA the test makes (openssl CLI):

- the daemon starts trusting the wrong CA: the log names the sink, the
  URL and the certificate problem, nothing is delivered, and the sink
  keeps retrying but backs off instead of looping (at least one and at
  most a few connections over a few seconds);
- SIGHUP to the right CA but a host name the certificate does not
  carry (127.0.0.1): the same, naming the host;
- SIGHUP to the right CA and name: every record arrives, none lost, none
  dead-lettered, nothing left in the spool."""
from http_harness import *

N = 3000
WINDOW_S = 3
MAX_CONNECTIONS_IN_WINDOW = 40  # backoff up to 1s: a handful; a busy loop: thousands


def log_has(path, *parts):
    with open(path) as f:
        return any(all(p in line for p in parts) for line in f)


def quiet_then_count(rx):
    """Connections the agent makes during WINDOW_S seconds."""
    before = rx.connections()
    time.sleep(WINDOW_S)
    return rx.connections() - before - 1  # our own /_stats request


with Workdir("http-tls") as work:
    pki = make_ca(work)
    rx = Receiver(work, cert=pki["server"], key=pki["server_key"], ca=pki["ca"])
    data_dir = work.join("data")
    sink_keys = "ca_file: %s\nretry_initial: 100ms\nretry_max: 1s\nbatch_max_records: 200\n"

    def config(url, ca):
        return http_config(work, "agent", url, N, sink_keys % ca, data_dir=data_dir)

    cfg = config(rx.url("/ingest"), pki["other"])
    run(["check", "-c", cfg], check_rc=0)
    agent_log = work.join("agent.log")
    agent = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stdout=subprocess.DEVNULL,
                             stderr=open(agent_log, "w"))
    try:
        # --- wrong CA --------------------------------------------------
        url = rx.url("/ingest")
        wait_for("a certificate error in the log",
                 lambda: log_has(agent_log, "sink backoff", "sink web:", url, "certificate"))
        n = quiet_then_count(rx)
        check(n <= MAX_CONNECTIONS_IN_WINDOW,
              "wrong CA: %d connections in %d s: no backoff" % (n, WINDOW_S))
        check(n >= 1, "wrong CA: no connection in %d s: the sink gave up" % WINDOW_S)
        check(rx.log() == [], "wrong CA: a request got through")
        print("wrong CA: error names sink and URL; %d connections in %d s" % (n, WINDOW_S))

        # --- right CA, wrong host name ----------------------------------
        bad_host_url = rx.url("/ingest", host="127.0.0.1")
        config(bad_host_url, pki["ca"])
        agent.send_signal(signal.SIGHUP)
        wait_for("a host name error in the log",
                 lambda: log_has(agent_log, "sink backoff", "sink web:", bad_host_url,
                                 "127.0.0.1'"))
        n = quiet_then_count(rx)
        check(n <= MAX_CONNECTIONS_IN_WINDOW,
              "wrong host: %d connections in %d s: no backoff" % (n, WINDOW_S))
        check(n >= 1, "wrong host: no connection in %d s: the sink gave up" % WINDOW_S)
        check(rx.log() == [], "wrong host: a request got through")
        print("wrong host name: error names sink and URL; %d connections in %d s" % (
            n, WINDOW_S))

        # --- fixed: drains ----------------------------------------------
        config(url, pki["ca"])
        agent.send_signal(signal.SIGHUP)
        wait_for("every record delivered", lambda: len(delivered(rx.log())[0]) >= N,
                 timeout=120)
        agent.send_signal(signal.SIGTERM)
        check(agent.wait(timeout=60) == 0, "agent exit code %d" % agent.returncode)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
        log = rx.log()
        rx.stop()
    origin = status_json(work.join("agent.yaml"))["origin_id"]
    by_seq, n_sent = delivered(log)
    for e in log:
        check(e["key_ok"], "Idempotency-Key %r does not match" % e["key"])
    dups = compare_stream(list(by_seq.values()), generate_jsonl("order", N, 7), origin,
                          "https")
    # nothing went to the dead letters while the TLS setup was wrong
    dls = run(["deadletter", "list", "-c", work.join("agent.yaml"), "--json"],
              check_rc=0).stdout
    check(dls.strip() == "", "dead letters: %s" % dls[:1000])
    check(status_json(work.join("agent.yaml"))["sinks"][0]["lag_records"] == 0,
          "records left in the spool")
    print("right CA: %d records delivered over %d requests, none lost" % (len(by_seq),
                                                                         len(log)))
