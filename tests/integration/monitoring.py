# SPDX-License-Identifier: Apache-2.0
"""What the monitoring tests share (label `monitoring`): agents running with
their admin server on a free loopback port, the test Prometheus of the
`prometheus` fixture (tools/testenv/prometheus) and its HTTP API."""
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import *

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")


def http_get(url, timeout=10):
    """(status, body bytes, headers) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def get_json(url, timeout=10):
    status, body, _ = http_get(url, timeout)
    check(status == 200, "GET %s: HTTP %d: %s" % (url, status, body[:300]))
    return json.loads(body)


def wait_for(what, cond, timeout=120, interval=0.2):
    """cond() until truthy, returning its value; fails after timeout s."""
    deadline = time.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(interval)


def order_csv(path, n, seed, bad_rows=0):
    """n generated order rows as CSV, then bad_rows rows whose amount is not
    a number (each a dead letter)."""
    proc = run(["generate", "--schema", "order", "-n", str(n), "--seed", str(seed),
                "--format", "csv", "--start-time", str(START_MS), "--interval", "1s",
                "--schemas-dir", SCHEMAS_DIR], check_rc=0)
    lines = proc.stdout.splitlines()
    for i in range(bad_rows):
        cols = lines[1].split(",")
        cols[0] = "bad-%d" % i
        cols[6] = "not-a-number"
        lines.append(",".join(cols))
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.rename(tmp, path)


class Agent:
    """`syncagent run` of a config made here: generator sources feeding
    streams `order` and `sensor_reading` at `rate` records/s each, a CSV
    source watching <work>/NAME-in/*.csv (stream order), a file sink
    `files` and, given `http_url`, an http sink `web`; admin server on a
    free port. extra: more YAML at the top level (quality rules, ...)."""

    def __init__(self, work, name, rate=200, http_url=None, spool_max="64MiB",
                 extra=""):
        self.work, self.name = work, name
        self.inbox = work.join(name + "-in")
        os.makedirs(self.inbox, exist_ok=True)
        text = ("agent:\n  id: %s\n  data_dir: %s\n  schemas_dir: %s\n"
                "  shutdown_grace: 5s\n"
                "admin:\n  listen: 127.0.0.1:0\n"
                "spool:\n  max_bytes: %s\n"
                "batch:\n  max_records: 1000\n  linger: 50ms\n"
                "sources:\n"
                "  - name: gen_order\n    type: generator\n    stream: order\n"
                "    seed: 7\n    rate: %d\n    count: 100000000\n"
                "  - name: gen_sensor\n    type: generator\n    stream: sensor_reading\n"
                "    schema: sensor_reading:v2\n    seed: 8\n    rate: %d\n"
                "    count: 100000000\n"
                "  - name: inbox\n    type: csv\n    stream: order\n"
                "    path: %s/*.csv\n    poll_interval: 100ms\n"
                "sinks:\n"
                "  - name: files\n    type: file\n    path: %s\n    format: ndjson\n"
                "    rotate_bytes: 4MiB\n") % (
                    name, work.join(name + "-data"), SCHEMAS_DIR, spool_max,
                    rate, rate, self.inbox, work.join(name + "-out"))
        if http_url:
            text += ("  - name: web\n    type: http\n    url: %s\n"
                     "    retry_initial: 100ms\n    retry_max: 500ms\n") % http_url
        text += extra
        self.config_text = text
        self.config = work.write(name + ".yaml", text)
        self.log = open(work.join(name + ".log"), "w")
        # Port 0 (CTest sets SA_ADMIN_LISTEN to the same): the address is
        # in the log.
        env = dict(os.environ, SA_ADMIN_LISTEN="127.0.0.1:0")
        self.proc = subprocess.Popen([SYNCAGENT, "run", "-c", self.config],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        self.instance = wait_for("%s's admin server" % name, self._address, timeout=60)
        self.base = "http://" + self.instance

    def log_text(self):
        with open(self.log.name) as f:
            return f.read()

    def _address(self):
        if self.proc.poll() is not None:
            fail("agent %s exited with %d:\n%s" % (self.name, self.proc.returncode,
                                                   self.log_text()[-3000:]))
        m = re.search(r'msg="admin server listening" address=(\S+)', self.log_text())
        return m and m.group(1)

    def status(self):
        return get_json(self.base + "/api/v1/status")

    def series(self):
        return get_json(self.base + "/api/v1/series")

    def reload_with(self, text):
        """Write `text` as the config and SIGHUP the agent."""
        tmp = self.config + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.config)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Prometheus:
    """The fixture's server (tools/testenv/prometheus/start): its URL, its
    targets and rules directories, its query and alerts APIs."""

    def __init__(self):
        self.dir = os.path.join(BINARY_DIR, "testenv", "prometheus")
        url_file = os.path.join(self.dir, "url")
        check(os.path.exists(url_file),
              "no test Prometheus (%s missing): run the test through ctest, whose "
              "fixture `prometheus` starts it" % url_file)
        with open(url_file) as f:
            self.url = f.read().strip()
        status, _, _ = http_get(self.url + "/-/ready")
        check(status == 200, "the test Prometheus at %s is not ready (%d)" % (self.url,
                                                                             status))

    def api(self, path, **params):
        body = get_json(self.url + path + "?" + urllib.parse.urlencode(params))
        check(body.get("status") == "success", "%s %r: %r" % (path, params, body))
        return body["data"]

    def query(self, expr):
        """The instant vector (list of {metric, value}) or scalar of expr."""
        data = self.api("/api/v1/query", query=expr)
        return data["result"] if data["resultType"] in ("vector", "matrix") else \
            [data["result"]]

    def reload(self):
        req = urllib.request.Request(self.url + "/-/reload", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            check(resp.status == 200, "reload: HTTP %d" % resp.status)

    def set_targets(self, name, instances):
        path = os.path.join(self.dir, "targets", name + ".json")
        with open(path + ".tmp", "w") as f:
            json.dump([{"targets": instances}], f)
        os.rename(path + ".tmp", path)

    def set_rules(self, name, text):
        path = os.path.join(self.dir, "rules", name + ".yml")
        with open(path, "w") as f:
            f.write(text)
        self.reload()

    def clear(self, name):
        for sub, ext in (("targets", ".json"), ("rules", ".yml")):
            path = os.path.join(self.dir, sub, name + ext)
            if os.path.exists(path):
                os.remove(path)
        self.reload()

    def alerts(self):
        return self.api("/api/v1/alerts")["alerts"]
