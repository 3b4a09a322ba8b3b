# SPDX-License-Identifier: Apache-2.0
"""What tools/bench/store-opensearch and tools/bench/store-clickhouse share.

The ceiling of a store benchmark is curl posting the agent's own request
bodies. They are not rebuilt from the records (which drifted from what the
agent sends whenever the sink changed: versions, the newest schema's
shape, column order, number formatting): a copy of the spooled backlog is
drained first into a capture server (`Capture`), which answers like the
store would when every item succeeds and keeps every data request's path,
headers and body, byte for byte, in order of arrival. The ceiling posts
those files with `curl --parallel` (`curl_config`), on as many connections
as the sink uses, to the real store.

`timed` runs one process under GNU time: wall seconds, CPU seconds and
peak RSS (see tools/bench/kafka for why not wait4)."""
import argparse
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def timed(args, **kw):
    """(wall s, CPU s, peak RSS KiB) of one child process; exits on failure."""
    fd, out = tempfile.mkstemp()
    os.close(fd)
    t0 = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", out] + list(args), **kw)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit("%s exited %d" % (" ".join(args[:3]), proc.returncode))
    with open(out) as f:
        user, system, rss = f.read().split()[-3:]
    os.remove(out)
    return wall, float(user) + float(system), int(rss)


def bulk_answer(body):
    """The _bulk response of a body whose every item succeeded: one item
    per action line, a delete's without a source line after it."""
    items = []
    lines = body.split(b"\n")
    i = 0
    while i < len(lines):
        if not lines[i]:
            i += 1
            continue
        if lines[i].startswith(b'{"delete"'):
            items.append(b'{"delete":{"status":200}}')
            i += 1
        else:
            action = lines[i][2:lines[i].index(b'"', 2)]
            items.append(b'{"%s":{"status":201}}' % action)
            i += 2
    return b'{"took":1,"errors":false,"items":[' + b",".join(items) + b"]}"


class Capture:
    """An HTTP server on 127.0.0.1 that keeps the bodies of the requests
    `is_data(method, path)` selects as files under `directory` (numbered
    in order of arrival) and answers them with `answer(body)`; any other
    request (a template, a CREATE TABLE) gets 200 and {"acknowledged":true}.
    `requests` lists (file, method, path, headers) of what was kept, `setup`
    (method, path, headers, body) of the others that had a body."""

    def __init__(self, directory, is_data, answer):
        self.directory = directory
        self.requests = []
        self.setup = []
        lock = threading.Lock()
        capture = self
        os.makedirs(directory, exist_ok=True)

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reply = b'{"acknowledged":true}'
                if is_data(self.command, self.path):
                    with lock:
                        name = os.path.join(directory, "%06d" % len(capture.requests))
                        headers = [h + ": " + self.headers[h] for h in
                                   ("Content-Type", "Content-Encoding") if self.headers[h]]
                        capture.requests.append((name, self.command, self.path, headers))
                    with open(name, "wb") as f:
                        f.write(body)
                    reply = answer(body)
                elif body:
                    capture.setup.append((self.command, self.path, dict(self.headers), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_HEAD = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def body_bytes(self):
        return sum(os.path.getsize(r[0]) for r in self.requests)


def curl_config(path, url, requests, replace=None):
    """A curl -K file posting the captured `requests` to `url` (the store),
    each with its own path and headers, no Expect: 100-continue (as the
    agent's client). replace=(old, new) rewrites the bodies into copies
    first (a same-length index name, for the warm-up)."""
    with open(path, "w") as f:
        for i, (name, method, req_path, headers) in enumerate(requests):
            if replace:
                with open(name, "rb") as src:
                    data = src.read().replace(replace[0], replace[1])
                name = name + ".w"
                with open(name, "wb") as dst:
                    dst.write(data)
            f.write("%surl = \"%s%s\"\ndata-binary = \"@%s\"\n"
                    "output = \"/dev/null\"\nheader = \"Expect:\"\n" % (
                        "next\n" if i else "", url, req_path, name))
            if method != "POST":
                f.write("request = \"%s\"\n" % method)
            for h in headers:
                f.write("header = \"%s\"\n" % h)
            f.write("silent\nshow-error\nfail\n")


def curl_parallel(cfg, connections):
    """The curl command posting a curl_config file, `connections` at a time."""
    # --parallel draws a progress meter whatever -s says: hidden.
    return ["curl", "-sS", "--no-progress-meter", "--fail", "--parallel",
            "--parallel-max", str(connections), "-K", cfg]


def copy_spool(src, dst):
    """A fresh copy of a spooled backlog's data dir (the drain consumes it)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYNCAGENT = os.path.join(ROOT, "build", "syncagent")
SCHEMAS = os.path.join(ROOT, "schemas")
START_MS = 1767225600000
# The admin server stays on, as in the figures, on a port of its own: on a
# shared machine 8686 may be taken and the drain would exit 2.
os.environ.setdefault("SA_ADMIN_LISTEN", "127.0.0.1:0")


def sh(args, **kw):
    return subprocess.run(args, check=True, **kw)


def request(url, method="GET", body=None, headers=None):
    """One request to the store; the response body (raises on non-2xx)."""
    req = urllib.request.Request(url, method=method, data=body)
    for k, v in (headers or {"Content-Type": "application/json"}).items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=600) as resp:
        return resp.read()


def write_config(path, data_dir, subject, schema, store_lines, batch_lines):
    """An agent config: a CSV source that is never run (the backlog comes
    from `syncagent import`) and the store's sink."""
    with open(path, "w") as f:
        f.write("\n".join([
            "agent:", "  id: bench", "  data_dir: " + data_dir,
            "  schemas_dir: " + SCHEMAS, "  log_level: warn", "  shutdown_grace: 30s",
            "spool:", "  max_bytes: 4GiB", "batch:"] + batch_lines + [
            "sources:",
            "  - name: csv", "    type: csv", "    stream: " + subject,
            "    schema: " + schema,
            "    path: " + os.path.join(os.path.dirname(path), "none-*.csv"),
            "    watch: false",
            "sinks:"] + store_lines) + "\n")


def versioned_csv(src, dst, versions):
    """src with its key column (the first) rewritten so that each of
    len/versions keys has `versions` rows, in turns (key i % keys: every
    key reports once per round, as a fleet of devices polled in turn)."""
    with open(src) as f:
        lines = f.readlines()
    keys = max(1, (len(lines) - 1) // versions)
    with open(dst, "w") as f:
        f.write(lines[0])
        for i, line in enumerate(lines[1:]):
            f.write("dev-%07d%s" % (i % keys, line[line.index(","):]))
    return keys


class Store:
    """What a store benchmark supplies to run(); see store-opensearch."""
    name = "store"
    connections = 4

    def add_args(self, ap):
        pass

    def start(self, directory):
        """Start a server in directory; its base URL."""
        raise NotImplementedError

    def stop(self, directory):
        pass

    def version(self, url):
        return ""

    def batch_lines(self, args):
        return ["  max_records: 5000", "  linger: 50ms"]

    def sink_lines(self, args, url, target):
        """The config's sink entry, writing into `target`."""
        raise NotImplementedError

    def is_data(self, method, path):
        raise NotImplementedError

    def answer(self, body):
        return b""

    def prepare(self, url, target, setup):
        """Before records go to target: the captured setup requests
        (with the ceiling's target) may be replayed."""

    def count(self, url, target):
        raise NotImplementedError

    def received(self, url, target):
        """Items the store has taken for target (or all targets) so far,
        superseded ones included: a counter of the server's own."""
        raise NotImplementedError

    def drop(self, url, target):
        pass


def run(store, doc):
    """Drain and ceiling --runs times in turns (the order alternating),
    then the coalesce backlog; prints the figures, the ratio last."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000000, help="records in the backlog")
    ap.add_argument("--runs", type=int, default=4,
                    help="drain and ceiling, in turns (even: each goes first as often)")
    ap.add_argument("--url", help="a running server (default: start one)")
    ap.add_argument("--schema", default="sensor_reading:v1")
    ap.add_argument("--coalesce-n", type=int, default=500000,
                    help="records of the coalesce backlog (10 versions a key; 0: skip)")
    ap.add_argument("--coalesce-window", type=int, default=0,
                    help="the sink's coalesce_window (default: its default, 100000)")
    store.add_args(ap)
    args = ap.parse_args()
    subject = args.schema.split(":")[0]
    n = args.n

    sh([os.path.join(ROOT, "tools", "setup")], stdout=subprocess.DEVNULL)
    sh([os.path.join(ROOT, "tools", "build")], stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="sa-bench-%s-" % store.name)
    server_dir = os.path.join(work, "server")
    url = args.url
    try:
        if not url:
            url = store.start(server_dir)
        tag = "%06x" % (int(time.time() * 1000) & 0xffffff)
        # Same-length names: the ceiling's bodies are as long as the agent's.
        agent_t, ceil_t = "bench_dran_" + tag, "bench_ceil_" + tag
        csv_path = os.path.join(work, "in.csv")
        sh([SYNCAGENT, "generate", "--schema", args.schema, "-n", str(n), "--seed", "1",
            "--format", "csv", "--start-time", str(START_MS), "--interval", "1s",
            "--schemas-dir", SCHEMAS, "-o", csv_path])

        def config(name, data, sink_url, target, extra=()):
            path = os.path.join(work, name + ".yaml")
            write_config(path, os.path.join(work, data), subject, args.schema,
                         store.sink_lines(args, sink_url, target) + list(extra),
                         store.batch_lines(args))
            return path

        # The backlog, spooled once; each drain takes a copy.
        master = config("master", "master", url, agent_t)
        sh([SYNCAGENT, "import", "-c", master, "--stream", subject, csv_path],
           stdout=subprocess.DEVNULL)

        # The agent's own requests, captured from a copy of the backlog.
        copy_spool(os.path.join(work, "master"), os.path.join(work, "cap"))
        cap = Capture(os.path.join(work, "bodies"), store.is_data, store.answer)
        try:
            cap_cfg = config("cap", "cap", cap.url, ceil_t)
            sh([SYNCAGENT, "run", "-c", cap_cfg, "--exit-when-synced"])
        finally:
            cap.close()
        curl_cfg = os.path.join(work, "curl.cfg")
        curl_config(curl_cfg, url, cap.requests)

        # Warm the server up (JIT, first shards) so that neither pays for it.
        warm_t = "bench_warm_" + tag
        store.prepare(url, warm_t, [(m, p.replace(ceil_t, warm_t), h,
                                     b.replace(ceil_t.encode(), warm_t.encode()))
                                    for m, p, h, b in cap.setup])
        warm_cfg = os.path.join(work, "warm.cfg")
        curl_config(warm_cfg, url,
                    [(f, m, p.replace(ceil_t, warm_t), h) for f, m, p, h in
                     cap.requests[:100]], replace=(ceil_t.encode(), warm_t.encode()))
        sh(curl_parallel(warm_cfg, store.connections))
        store.drop(url, warm_t)

        drain_cfg = config("drain", "drain", url, agent_t)
        results = []
        for r in range(args.runs):
            def drain():
                copy_spool(os.path.join(work, "master"), os.path.join(work, "drain"))
                store.prepare(url, agent_t, [])
                t = timed([SYNCAGENT, "run", "-c", drain_cfg, "--exit-when-synced"])
                return t + (store.count(url, agent_t),)

            def ceiling():
                store.prepare(url, ceil_t, cap.setup)
                t = timed(curl_parallel(curl_cfg, store.connections))
                return t + (store.count(url, ceil_t),)

            if r % 2 == 0:
                d, c = drain(), ceiling()
            else:
                c, d = ceiling(), drain()
            store.drop(url, agent_t)
            store.drop(url, ceil_t)
            if d[3] != c[3]:
                sys.exit("run %d: the agent's target holds %d, the ceiling's %d" % (
                    r + 1, d[3], c[3]))
            results.append((d, c))

        print("%s: %d records of %s (%.1f MB in %d requests), %d connections, %s, "
              "%d runs in turns" % (store.name, n, args.schema, cap.body_bytes() / 1e6,
                                    len(cap.requests), store.connections,
                                    store.version(url), args.runs))
        for r, (d, c) in enumerate(results):
            print("  run %d  %s %6.2f s %7.0f rec/s %5.2f CPU s RSS %4.1f MB | ceiling "
                  "%6.2f s %7.0f rec/s %5.2f CPU s | ratio %.2f | %d in the store" % (
                      r + 1, store.name, d[0], n / d[0], d[1], d[2] / 1024,
                      c[0], n / c[0], c[1], c[0] / d[0], d[3]))
        rss = max(d[2] for d, _ in results) / 1024
        print("  medians: %s %.0f rec/s, ceiling %.0f rec/s; agent peak RSS %.1f MB "
              "at most (target <= 32 MB: %s)" % (
                  store.name, n / median([d[0] for d, _ in results]),
                  n / median([c[0] for _, c in results]), rss,
                  "ok" if rss <= 32 else "OVER"))

        if args.coalesce_n:
            coal_t = "bench_coal_" + tag
            coal_csv = os.path.join(work, "coal.csv")
            sh([SYNCAGENT, "generate", "--schema", args.schema, "-n",
                str(args.coalesce_n), "--seed", "2", "--format", "csv", "--start-time",
                str(START_MS), "--interval", "1s", "--schemas-dir", SCHEMAS, "-o",
                coal_csv])
            keys = versioned_csv(coal_csv, coal_csv + ".v", 10)
            window = args.coalesce_window or 100000
            coal_cfg = config("coal", "coal", url, coal_t, ["    coalesce: true"] + (
                ["    coalesce_window: %d" % window] if args.coalesce_window else []))
            sh([SYNCAGENT, "import", "-c", coal_cfg, "--stream", subject,
                coal_csv + ".v"], stdout=subprocess.DEVNULL)
            store.prepare(url, coal_t, [])
            before = store.received(url, coal_t)
            wall, cpu, crss = timed([SYNCAGENT, "run", "-c", coal_cfg,
                                     "--exit-when-synced"])
            sent = store.received(url, coal_t) - before
            docs = store.count(url, coal_t)
            store.drop(url, coal_t)
            print("  coalesce: %d records, %d keys x 10 versions in turns, window %d: "
                  "%d items reached %s, %.2f versions a key (target <= 1.2); "
                  "%d keys in the store; %.2f s, peak RSS %.1f MB" % (
                      args.coalesce_n, keys, window, sent, store.name, sent / keys,
                      docs, wall, crss / 1024))
        print("ratio %s / ceiling: %.2f" % (
            store.name, median([c[0] / d[0] for d, c in results])))
    finally:
        if not args.url:
            store.stop(server_dir)
        shutil.rmtree(work, ignore_errors=True)
