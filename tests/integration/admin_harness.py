# SPDX-License-Identifier: Apache-2.0
"""What the admin server's tests share: an agent started with `run`, the
address its admin server listens on (from its log: SA_ADMIN_LISTEN makes it
a free port), plain HTTP requests to it and a strict reader of the
Prometheus text format."""
import http.client
import re
import signal
import subprocess
import time

from harness import *


class Agent:
    """`syncagent run -c config` with its log in work/<name>.log."""

    def __init__(self, work, config, name="agent", env=None):
        self.log_path = work.join(name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([SYNCAGENT, "run", "-c", config],
                                     stdout=subprocess.DEVNULL, stderr=self.log,
                                     env=env)
        self.address = None

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_address(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r'msg="admin server listening" address=(\S+)', self.log_text())
            if m:
                self.address = m.group(1)
                host, port = self.address.rsplit(":", 1)
                self.host, self.port = host.strip("[]"), int(port)
                return self.address
            check(self.proc.poll() is None,
                  "the agent exited %s before serving:\n%s" % (self.proc.returncode,
                                                                self.log_text()[-3000:]))
            time.sleep(0.05)
        fail("the admin server did not start:\n" + self.log_text()[-3000:])

    def request(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers dict with lower-case names, body text)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return (resp.status, {k.lower(): v for k, v in resp.getheaders()},
                    resp.read().decode("utf-8", "replace"))
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def metrics(self):
        status, headers, text = self.get("/metrics")
        check(status == 200, "/metrics answered %d: %s" % (status, text[:500]))
        check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
              "/metrics content type: %r" % headers.get("content-type"))
        return parse_metrics(text)

    def stop(self, sig=signal.SIGTERM, expect_rc=0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=120)
        self.log.close()
        check(expect_rc is None or rc == expect_rc,
              "the agent exited %d (expected %d):\n%s" % (rc, expect_rc,
                                                         self.log_text()[-3000:]))
        return rc


SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        check(m is not None, "bad label set {%s}" % text)
        value = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)),
                       m.group(2))
        labels[m.group(1)] = value
        pos = m.end()
    return labels


def parse_metrics(text):
    """{name: {"type": t, "help": h, "series": [(labels, value)]}}, checking
    that every series follows its family's HELP and TYPE lines, that
    histograms are cumulative and end with le="+Inf" equal to _count."""
    families, current = {}, None
    check(text.endswith("\n"), "the exposition does not end with a newline")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            check(name not in families, "family %s twice" % name)
            families[name] = {"help": help_text, "type": None, "series": []}
            current = name
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            check(name == current, "TYPE %s without its HELP" % name)
            check(kind in ("counter", "gauge", "histogram"), "type %r" % kind)
            families[name]["type"] = kind
        else:
            m = SERIES.match(line)
            check(m is not None, "not a series line: %r" % line)
            name, labels = m.group(1), parse_labels(m.group(3) or "")
            value = float(m.group(4))
            family = current
            check(family is not None and (name == family or (
                families[family]["type"] == "histogram" and
                name in (family + "_bucket", family + "_sum", family + "_count"))),
                  "series %s outside its family (%s)" % (name, family))
            families[family]["series"].append((name, labels, value))
    for name, fam in families.items():
        if fam["type"] != "histogram":
            continue
        by_series = {}
        for sname, labels, value in fam["series"]:
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            by_series.setdefault(key, []).append((sname, labels, value))
        for key, rows in by_series.items():
            buckets = [(l["le"], v) for s, l, v in rows if s.endswith("_bucket")]
            check(buckets and buckets[-1][0] == "+Inf", "%s: no +Inf bucket" % name)
            counts = [v for _, v in buckets]
            check(counts == sorted(counts), "%s: buckets not cumulative" % name)
            count = [v for s, _, v in rows if s.endswith("_count")]
            check(count == [counts[-1]], "%s: _count is not the +Inf bucket" % name)
    return families


def value(families, name, **labels):
    """The value of the series of `name` whose labels include `labels`."""
    fam_name = re.sub(r'_(bucket|sum|count)$', '', name)
    fam = families.get(name) or families.get(fam_name)
    check(fam is not None, "no metric %s" % name)
    found = [v for s, l, v in fam["series"]
             if s == name and all(l.get(k) == str(x) for k, x in labels.items())]
    check(len(found) == 1, "%s%r: %d series" % (name, labels, len(found)))
    return found[0]


def value_or_none(families, name, **labels):
    """value(), or None while the series is not registered yet (the
    pipeline's and sinks' series appear when they start)."""
    fam_name = re.sub(r'_(bucket|sum|count)$', '', name)
    if name not in families and fam_name not in families:
        return None
    return value(families, name, **labels)


def wait_for(what, cond, timeout=60):
    deadline = time.time() + timeout
    while True:
        got = cond()
        if got:
            return got
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.1)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
