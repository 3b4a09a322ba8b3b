# SPDX-License-Identifier: Apache-2.0
"""What the http sink's tests share: the test receiver
(http_receiver.py) started and queried, a test CA made with the openssl
CLI, and a config with a generator source and an http sink."""
import json
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

from harness import *

RECEIVER = os.path.join(SOURCE_DIR, "tests", "integration", "http_receiver.py")
# fastavro (for Avro bodies) lives in the venv tools/setup makes.
PYTHON = os.environ.get("SA_VENV_PYTHON")
if not PYTHON or not os.path.exists(PYTHON):
    PYTHON = sys.executable


class Receiver:
    """http_receiver.py on a free port; https when cert/key are given (the
    test talks to it through the CA `ca`, by the name localhost)."""

    def __init__(self, work, cert=None, key=None, ca=None, hmac_secret_file=None):
        args = [PYTHON, RECEIVER]
        if cert:
            args += ["--cert", cert, "--key", key]
        if hmac_secret_file:
            args += ["--hmac-secret-file", hmac_secret_file]
        self.err = open(work.join("receiver-%d.err" % len(os.listdir(work.path))), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.err,
                                     text=True)
        line = self.proc.stdout.readline()
        check(line.startswith("PORT "), "the test receiver did not start: %r" % line)
        self.port = int(line.split()[1])
        self.https = bool(cert)
        self.ctx = ssl.create_default_context(cafile=ca) if cert else None

    def url(self, path, host=None):
        if self.https:
            return "https://%s:%d%s" % (host or "localhost", self.port, path)
        return "http://%s:%d%s" % (host or "127.0.0.1", self.port, path)

    def _req(self, path, data=None):
        req = urllib.request.Request(self.url(path), data=data)
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
            return json.loads(resp.read())

    def plan(self, plan, default=None):
        self._req("/_plan", json.dumps({"plan": plan, "default": default}).encode())

    def log(self):
        return self._req("/_log")

    def connections(self):
        return self._req("/_stats")["connections"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.err.close()


def make_ca(work):
    """A CA, a server certificate it signs for DNS:localhost only, and an
    unrelated CA. Returns {name: path}."""
    d = work.join("pki")
    os.makedirs(d)

    def sh(cmd):
        proc = subprocess.run(cmd, shell=True, cwd=d, capture_output=True, text=True)
        check(proc.returncode == 0, "%s: %s" % (cmd, proc.stderr[-1000:]))

    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=TestCA "
       "-keyout ca.key -out ca.pem")
    sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=OtherCA "
       "-keyout other.key -out other.pem")
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
       "-keyout server.key -out server.csr")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost\n")
    sh("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
       "-days 2 -extfile ext.cnf -out server.pem")
    return {"ca": os.path.join(d, "ca.pem"), "other": os.path.join(d, "other.pem"),
            "server": os.path.join(d, "server.pem"),
            "server_key": os.path.join(d, "server.key")}


def http_config(work, name, url, count, sink_extra="", schema="order", seed=7,
                data_dir=None):
    """A generator of `count` records of `schema` and one http sink `web`."""
    text = ("agent:\n  id: test-agent\n  data_dir: %s\n  schemas_dir: %s\n"
            "  shutdown_grace: 5s\n"
            "batch:\n  max_records: 1000\n  linger: 20ms\n"
            "sources:\n  - name: gen\n    type: generator\n    stream: %s\n"
            "    schema: %s\n    seed: %d\n    count: %d\n    rate: 0\n"
            "    start_time: %d\n    interval: 1s\n"
            "sinks:\n  - name: web\n    type: http\n    url: %s\n") % (
                data_dir or work.join(name + "-data"), SCHEMAS_DIR, schema, schema, seed,
                count, START_MS, url)
    text += "".join("    " + l.strip() + "\n" for l in sink_extra.splitlines() if l.strip())
    return work.write(name + ".yaml", text)


def delivered(log):
    """{seq: record} of every record in a request answered 2xx, and how
    many records such requests carried in all (duplicates included)."""
    by_seq, n = {}, 0
    for e in log:
        if 200 <= e["status"] < 300:
            for r in e["records"]:
                by_seq[r["_seq"]] = r
                n += 1
    return by_seq, n


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while not cond():
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.1)
