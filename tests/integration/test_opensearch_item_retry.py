# SPDX-License-Identifier: Apache-2.0
"""Per-item 429s: a proxy between the sink and OpenSearch answers one item
in five, the first time it sees that _id, with status 429
es_rejected_execution_exception (what a full write queue gives) and
forwards only the other items. The sink must resend exactly the refused
items, alone: every refused _id reaches the proxy exactly twice, every
other one exactly once (no whole-batch resend), and the index ends with
every record once. (manage_template: with dynamic mapping, two concurrent
first bulks can map a double that happens to be whole, 48.0 written as 48,
once as long and once as float, and the loser is a genuine 400.)"""
import http.server
import json
import os
import sys
import threading
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 20000

url = opensearch.base_url()
index = opensearch.fresh_index(url, "retry")
seen = {}
refused = set()
lock = threading.Lock()


def refuse_first_time(doc_id):
    return zlib.crc32(doc_id.encode()) % 5 == 0


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self, method, path, body, ctype):
        req = urllib.request.Request(url + path, data=body, method=method)
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        ctype = self.headers.get("Content-Type")
        if self.command != "POST" or self.path.split("?")[0] != "/_bulk":
            self.answer(*self.forward(self.command, self.path, body, ctype))
            return
        lines = body.decode().split("\n")
        items, i = [], 0
        while i < len(lines) and lines[i]:
            action = json.loads(lines[i])
            kind = next(iter(action))
            doc_id = action[kind]["_id"]
            src = None if kind == "delete" else lines[i + 1]
            i += 1 if kind == "delete" else 2
            with lock:
                seen[doc_id] = seen.get(doc_id, 0) + 1
                refuse = seen[doc_id] == 1 and refuse_first_time(doc_id)
                if refuse:
                    refused.add(doc_id)
            items.append((kind, doc_id, lines[i - (1 if src is None else 2)], src,
                          refuse))
        out_lines = []
        for kind, doc_id, act, src, refuse in items:
            if not refuse:
                out_lines.append(act)
                if src is not None:
                    out_lines.append(src)
        results = []
        if out_lines:
            status, text = self.forward("POST", self.path,
                                        ("\n".join(out_lines) + "\n").encode(),
                                        "application/x-ndjson")
            if status != 200:
                self.answer(status, text)
                return
            results = json.loads(text)["items"]
        merged, j = [], 0
        for kind, doc_id, act, src, refuse in items:
            if refuse:
                merged.append({kind: {"_index": index, "_id": doc_id, "status": 429,
                                      "error": {"type": "es_rejected_execution_exception",
                                                "reason": "rejected execution (test "
                                                          "proxy)"}}})
            else:
                merged.append(results[j])
                j += 1
        self.answer(200, json.dumps({"took": 1, "errors": True,
                                     "items": merged}).encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
threading.Thread(target=server.serve_forever, daemon=True).start()
proxy_url = "http://127.0.0.1:%d" % server.server_address[1]

with Workdir("os-retry") as work:
    schemas = opensearch.schemas_dir(work)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: retry", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + schemas, "  shutdown_grace: 10s",
        "sources:",
        "  - name: readings", "    type: generator", "    stream: reading",
        "    schema: reading", "    seed: 21", "    count: %d" % N, "    rate: 0",
        "    start_time: %d" % START_MS, "    interval: 1s",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + proxy_url,
        "    index: " + index, "    max_bulk_records: 250", "    manage_template: true",
        "    retry_initial: 20ms", "    retry_max: 200ms",
    ]) + "\n")
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    origin = status_json(cfg)["origin_id"]
    server.shutdown()
    records = opensearch.generate(schemas, "reading", N, 21, START_MS)
    docs = opensearch.all_docs(url, index)
    missing = ["%s:%d" % (origin, i + 1) for i in range(N)
               if "%s:%d" % (origin, i + 1) not in docs]
    check(not missing, "%d records missing from the index, e.g. %s (sent %s times; "
          "refused: %s)" % (len(missing), missing[:5], [seen.get(m) for m in missing[:5]],
                            [m in refused for m in missing[:5]]))
    opensearch.check_keyless(docs, records, origin, "reading")
    check(len(seen) == N, "the proxy saw %d ids for %d records" % (len(seen), N))
    check(len(refused) > N // 10, "only %d items refused" % len(refused))
    wrong = [(i, n) for i, n in seen.items() if n != (2 if i in refused else 1)]
    check(not wrong, "%d ids sent a wrong number of times, e.g. %r (refused: %s)" % (
        len(wrong), wrong[:5], [w[0] in refused for w in wrong[:5]]))
    check(any("items_retried=%d" % len(refused) in l for l in proc.stderr.splitlines()),
          "the sink's totals do not say %d items retried" % len(refused))
    print("opensearch item retry: %d records, %d items refused with 429 and resent "
          "alone (each exactly once more), every other item sent once; %d documents" % (
              N, len(refused), len(docs)))
