# SPDX-License-Identifier: Apache-2.0
"""_bulk answered 413 (request too large): a proxy in front of the test
node answers 413 with an empty body and closes the connection, as
OpenSearch does for a body over its http.max_content_length, to every
_bulk request over LIMIT bytes, and forwards the others. (The real limit
is a static node setting: the proxy keeps the one node of the label.)

The sink's bulks (200 records) are several times the limit: it must split
a refused request in halves and send them again, down to one item, so
every record lands exactly once (each _id reaches the node in exactly one
forwarded request: nothing that landed is sent again), and the one record
too large on its own is dead-lettered with the 413 as its reason, alone."""
import http.server
import json
import os
import sys
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from harness import *  # noqa: E402,F403
import opensearch  # noqa: E402

N = 600
LIMIT = 8000
BIG = "k0123"

url = opensearch.base_url()
index = opensearch.fresh_index(url, "too-large")
forwarded = {}  # _id -> times forwarded in a request the node got
stats = {"413": 0, "bulks": 0, "max_forwarded": 0}
lock = threading.Lock()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, close=False):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.command == "POST" and self.path.startswith("/_bulk"):
            with lock:
                stats["bulks"] += 1
                if n > LIMIT:
                    stats["413"] += 1
            if n > LIMIT:
                self.answer(413, b"", close=True)
                return
            with lock:
                stats["max_forwarded"] = max(stats["max_forwarded"], n)
                for line in body.decode().split("\n"):
                    if line.startswith('{"index"'):
                        doc_id = json.loads(line)["index"]["_id"]
                        forwarded[doc_id] = forwarded.get(doc_id, 0) + 1
        req = urllib.request.Request(url + self.path, data=body, method=self.command)
        if self.headers.get("Content-Type"):
            req.add_header("Content-Type", self.headers["Content-Type"])
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                self.answer(resp.status, resp.read())
        except urllib.error.HTTPError as e:
            self.answer(e.code, e.read())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
threading.Thread(target=server.serve_forever, daemon=True).start()
proxy_url = "http://127.0.0.1:%d" % server.server_address[1]

with Workdir("os-too-large") as work:
    os.makedirs(work.join("schemas", "item"))
    with open(os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas", "item",
                           "v1.avsc")) as f:
        work.write(os.path.join("schemas", "item", "v1.avsc"), f.read())
    want = {}
    for i in range(N):
        key = "k%04d" % i
        want[key] = (i + 1, ("x" * (LIMIT + 1000)) if key == BIG else
                     "value-%d-%s" % (i, "y" * (i % 50)))
    csv = work.write("items.csv", "id,ver,val\n" + "".join(
        "%s,%d,%s\n" % (k, v, val) for k, (v, val) in want.items()))
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: too-large", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + work.join("schemas"), "  shutdown_grace: 5s",
        "sources:",
        "  - name: items", "    type: csv", "    stream: item", "    schema: item:v1",
        "    path: " + work.join("none-*.csv"), "    watch: false",
        "sinks:",
        "  - name: es", "    type: elasticsearch", "    url: " + proxy_url,
        "    index: " + index, "    max_bulk_records: 200", "    retry_initial: 50ms",
        "    retry_max: 500ms",
    ]) + "\n")
    proc = run(["import", "-c", cfg, "--stream", "item", "--wait-synced", csv],
               check_rc=0, timeout=300)
    server.shutdown()

    docs = opensearch.all_docs(url, index)
    big_seq = want.pop(BIG)[0]  # versions are the row numbers: seq too
    got = {k: (h["_source"]["ver"], h["_source"]["val"]) for k, h in docs.items()}
    check(got == want, "the index holds %d documents, %d expected; missing %s, extra %s"
          % (len(got), len(want), sorted(set(want) - set(got))[:5],
             sorted(set(got) - set(want))[:5]))
    check(BIG not in forwarded, "the record too large alone reached the node")
    wrong = {k: n for k, n in forwarded.items() if n != 1}
    check(not wrong, "ids forwarded more than once: %r" % list(wrong.items())[:5])
    check(stats["413"] > 0, "no request was refused with 413: the test proves nothing")
    check(stats["max_forwarded"] <= LIMIT, "a body over the limit was forwarded")
    dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                      check_rc=0).stdout.splitlines() if l.strip()]
    check(len(dls) == 1, "%d dead letters, expected the one big record: %s" % (
        len(dls), json.dumps(dls)[:2000]))
    check("HTTP 413" in dls[0]["reason"], "dead letter reason %r" % dls[0]["reason"])
    check(dls[0]["location"].endswith(" seq %d" % big_seq),
          "the dead letter is not %s (seq %d): %s" % (BIG, big_seq,
                                                     json.dumps(dls[0])[:500]))
    check("HTTP 413" in proc.stderr and "halves" in proc.stderr,
          "no split logged:\n%s" % proc.stderr[-2000:])
    st = status_json(cfg)["sinks"][0]
    check(st["lag_records"] == 0, "records left: %r" % st)
    print("opensearch 413: %d records; %d of %d requests refused as too large and "
          "split; %d documents, each sent once; the one record over the limit "
          "dead-lettered: %s" % (N, stats["413"], stats["bulks"], len(docs),
                                 dls[0]["reason"][:120]))
