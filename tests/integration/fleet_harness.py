# SPDX-License-Identifier: Apache-2.0
"""What the fleet tests share: the nginx fleet server (fixture `nginx`,
tools/testenv/nginx), a folder of it per test, keys, signing, and agents
(processes with their own config and data directory) that poll it."""
import json
import os
import signal
import subprocess
import time

import harness
from harness import SYNCAGENT, SCHEMAS_DIR, SOURCE_DIR, check, fail

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.path.join(SOURCE_DIR, "build")
NGINX_DIR = os.path.join(BINARY_DIR, "testenv", "nginx")
NGINX = os.path.join(SOURCE_DIR, "tools", "testenv", "nginx")


def nginx_start():
    """The fixture's server (started here when a test runs alone)."""
    out = subprocess.run([os.path.join(NGINX, "start"), NGINX_DIR], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def nginx_stop():
    subprocess.run([os.path.join(NGINX, "stop"), NGINX_DIR], check=True)


def bucket(agent_id):
    """sa_fleet_bucket: SHA-256(id), first 4 bytes big-endian, mod 100."""
    import hashlib
    return int.from_bytes(hashlib.sha256(agent_id.encode()).digest()[:4], "big") % 100


def wait_for(what, pred, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.1)


class Fleet:
    """A fleet folder on the nginx server, with its key pair."""

    def __init__(self, work, name):
        self.work = work
        self.base = nginx_start()
        self.name = name
        self.dir = os.path.join(NGINX_DIR, "www", name)
        subprocess.run(["rm", "-rf", self.dir], check=True)
        os.makedirs(self.dir)
        self.url = self.base + "/" + name
        self.keys = work.join("keys")
        harness.run(["fleet", "keygen", "-o", self.keys], check_rc=0)
        self.agents = []

    def sign(self, text, check_rc=0, out=None):
        """fleet sign into the published folder, or into out (to tamper
        with before publishing)."""
        path = self.work.write("fleet-config.yaml", text)
        return harness.run(["fleet", "sign", path, "--key",
                            os.path.join(self.keys, "fleet.key"), "-o", out or self.dir,
                            "--schemas", SCHEMAS_DIR], check_rc=check_rc)

    def publish(self, folder):
        """Copy a signed folder's files in: the signature first, as sign does."""
        import shutil
        for f in ("config.yaml.sig", "config.yaml"):
            shutil.copy(os.path.join(folder, f), self.dir + "/." + f)
            os.rename(self.dir + "/." + f, os.path.join(self.dir, f))

    def agent(self, agent_id, labels=None, poll="300ms", probation="1s",
              local_sinks="", rate=20, admin=False):
        d = self.work.join(agent_id)
        os.makedirs(d, exist_ok=True)
        lab = ", ".join("%s: %s" % kv for kv in (labels or {}).items())
        text = "\n".join([
            "agent: {id: %s, data_dir: data, schemas_dir: %s, shutdown_grace: 1s}"
            % (agent_id, SCHEMAS_DIR),
            "admin: {enabled: %s, listen: '127.0.0.1:0'}" % ("true" if admin else "false"),
            "fleet:",
            "  url: " + self.url,
            "  public_keys: [%s]" % os.path.join(self.keys, "fleet.pub"),
            "  poll_interval: " + poll,
            "  probation: " + probation,
            "  labels: {%s}" % lab,
            "sources:",
            "  - {name: gen, type: generator, stream: orders, schema: order, "
            "rate: %d}" % rate,
            "sinks:",
            "  - {name: local, type: file, path: out-local, format: ndjson}",
            local_sinks]) + "\n"
        a = Agent(agent_id, d, text, self)
        self.agents.append(a)
        return a

    def status(self, agent_id):
        try:
            with open(os.path.join(self.dir, "status", agent_id + ".json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def stop_all(self):
        """SIGTERM to every agent first, so that their graceful stops overlap."""
        for a in self.agents:
            if a.alive():
                a.proc.send_signal(signal.SIGTERM)
        for a in self.agents:
            a.stop()


class Agent:
    def __init__(self, agent_id, d, text, fleet):
        self.id = agent_id
        self.dir = d
        self.fleet = fleet
        self.config = os.path.join(d, "agent.yaml")
        with open(self.config, "w") as f:
            f.write(text)
        self.proc = None
        self.log = os.path.join(d, "agent.log")

    def start(self, prefix=()):
        """prefix: a command to run the agent under (fiu-run -x)."""
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(list(prefix) + [SYNCAGENT, "run", "-c", "agent.yaml"],
                                     cwd=self.dir, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status(self):
        return self.fleet.status(self.id)

    def log_text(self):
        with open(self.log) as f:
            return f.read()

    def metrics(self):
        """The agent's /metrics, from the address its last start logged."""
        import re
        import urllib.request
        addr = re.findall(r'msg="admin server listening" address=(\S+)', self.log_text())
        check(addr, self.id + ": no admin server address in the log")
        with urllib.request.urlopen("http://%s/metrics" % addr[-1], timeout=10) as r:
            return r.read().decode()

    def metric(self, series):
        """The value of one series of /metrics, as written there (0: absent)."""
        for line in self.metrics().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0

    def audit(self):
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, "data",
                                                              "spool.db"), uri=True)
        try:
            return db.execute("SELECT kind, detail FROM audit WHERE kind LIKE 'fleet%' "
                              "ORDER BY rowid").fetchall()
        finally:
            db.close()


def all_report(fleet, ids, pred, what):
    """Wait until every agent of ids has reported a status pred accepts."""
    def ok():
        sts = {a: fleet.status(a) for a in ids}
        return all(s and pred(s) for s in sts.values()) and sts
    return wait_for(what, ok, timeout=120)


def good_version(agent):
    """The version of the agent's last good config (0: none), checking that
    good.yaml is a whole config."""
    path = os.path.join(agent.dir, "data", "fleet", "good.yaml")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        first = f.readline()
    check(first.startswith("version: "), "good.yaml of %s is not a config: %r" % (
        agent.id, first))
    return int(first.split()[1])


def config(version, extra_sinks="", extra="", rate=20):
    """A fleet config: the generator and the local file sink, plus more."""
    return ("version: %d\n" % version + extra +
            "sources:\n"
            "  - {name: gen, type: generator, stream: orders, schema: order, rate: %d}\n"
            % rate +
            "sinks:\n"
            "  - {name: local, type: file, path: out-local, format: ndjson}\n" +
            extra_sinks)
