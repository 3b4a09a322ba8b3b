# SPDX-License-Identifier: Apache-2.0
"""A small HTTP(S) server for the tests of the shared HTTP client
(tests/unit/test_http.c) and of the `type: http` sink.

Run: http_receiver.py [--cert PEM --key PEM [--client-ca PEM]]
                      [--hmac-secret-file F]
                      [--hmac-header NAME]
It listens on a free loopback port and prints "PORT <n>" on stdout.
HTTP/1.1 with keep-alive; one thread per connection.

Routes (any method):
  /echo...          200, JSON: method, path (as sent: absolute through a
                    proxy), lower-case headers, body length and sha256 of
                    the body after gzip decoding, the client's port
  /status/N[?ra=V]  status N, Retry-After: V when given
  /sleep/MS         answers 200 after MS milliseconds
  POST /_plan       JSON {"plan": [{"status": 429, "retry_after": "1",
                    "body": "..."}, ...], "default": {...} | null}: the next
                    ingest requests get these answers in turn, then
                    `default` (or 200)
  GET /_stats       {"connections": n}: connections accepted, TLS
                    handshakes that failed included
  GET /_log         JSON list of every ingest request: key, status,
                    seqs (origin, seq, version, op), key_ok, hmac_ok
  anything else     an ingest request: the body (NDJSON, a JSON array or
                    an Avro container, gzip or not) is decoded, the
                    Idempotency-Key checked against its first and last
                    (_origin_id, _seq), the HMAC checked when a secret is
                    given, and the request logged with the answer given.
"""
import argparse
import gzip
import hashlib
import hmac
import io
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
LOG = []
STATS = {"connections": 0}
PLAN = []
DEFAULT = [None]
ARGS = None
SECRET = [None]


def decode_records(body, ctype):
    """Records of an ingest body as dicts with _origin_id, _seq, _version, _op."""
    if "avro" in ctype:
        import fastavro  # from the test venv (SA_VENV_PYTHON)
        out = []
        for env in fastavro.reader(io.BytesIO(body)):
            out.append({"_origin_id": env["_origin_id"], "_seq": env["_seq"],
                        "_version": env["_version"], "_op": env["_op"],
                        "record": env["record"]})
        return out
    text = body.decode("utf-8")
    if "ndjson" in ctype or "x-ndjson" in ctype:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        decoded = raw
        if self.headers.get("Content-Encoding") == "gzip":
            decoded = gzip.decompress(raw)
        return raw, decoded

    def answer(self, status, body=b"", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        raw, body = self.body()
        url = urlsplit(self.path)
        path = url.path if not self.path.startswith("http") else urlsplit(self.path).path
        if path.startswith("/echo"):
            info = {"method": self.command, "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body_len": len(body),
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                    "client_port": self.client_address[1]}
            return self.answer(200, json.dumps(info), [("Content-Type", "application/json")])
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
            q = parse_qs(url.query)
            hdrs = [("Retry-After", q["ra"][0])] if "ra" in q else []
            return self.answer(status, "status %d body" % status, hdrs)
        if path.startswith("/sleep/"):
            time.sleep(int(path.split("/")[2]) / 1000.0)
            return self.answer(200, "slept")
        if path == "/_plan" and self.command == "POST":
            req = json.loads(body)
            with LOCK:
                PLAN[:] = req.get("plan", [])
                DEFAULT[0] = req.get("default")
            return self.answer(200, "{}")
        if path == "/_stats":
            with LOCK:
                data = json.dumps(STATS)
            return self.answer(200, data, [("Content-Type", "application/json")])
        if path == "/_log":
            with LOCK:
                # Avro timestamps decode to datetimes: shown as
                # "datetime:<ISO 8601>", so a test sees the logical type.
                data = json.dumps(LOG, default=lambda o: "datetime:" + o.isoformat())
            return self.answer(200, data, [("Content-Type", "application/json")])
        return self.ingest(raw, body)

    def ingest(self, raw, body):
        entry = {"time": time.time(), "path": self.path,
                 "key": self.headers.get("Idempotency-Key"),
                 "content_type": self.headers.get("Content-Type", ""),
                 "gzip": self.headers.get("Content-Encoding") == "gzip"}
        try:
            recs = decode_records(body, entry["content_type"])
            entry["seqs"] = [[r["_origin_id"], r["_seq"], r.get("_version"), r.get("_op")]
                             for r in recs]
            entry["records"] = recs
            if recs:
                want = "%s:%d-%d" % (recs[0]["_origin_id"], recs[0]["_seq"], recs[-1]["_seq"])
                entry["key_ok"] = entry["key"] == want
            else:
                entry["key_ok"] = False
        except Exception as e:  # a body the sink should never send
            entry["decode_error"] = repr(e)
            entry["key_ok"] = False
        if SECRET[0] is not None:
            sig = self.headers.get(ARGS.hmac_header, "")
            want = "sha256=" + hmac.new(SECRET[0], body, hashlib.sha256).hexdigest()
            entry["hmac_ok"] = hmac.compare_digest(sig, want)
        with LOCK:
            plan = PLAN.pop(0) if PLAN else DEFAULT[0]
        status = plan.get("status", 200) if plan else 200
        hdrs = []
        if plan and plan.get("retry_after") is not None:
            hdrs.append(("Retry-After", str(plan["retry_after"])))
        entry["status"] = status
        with LOCK:
            LOG.append(entry)
        reply = plan.get("body", "refused %d" % status) if plan else "{}"
        self.answer(status, reply, hdrs)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):
        # Counted before the TLS handshake, which a client that does not
        # trust us aborts: how often it tries is what a test watches.
        with LOCK:
            STATS["connections"] += 1
        return super().get_request()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca", help="require a client certificate it signed")
    ap.add_argument("--hmac-secret-file")
    ap.add_argument("--hmac-header", default="X-Signature")
    ap.add_argument("--port", type=int, default=0)
    ARGS = ap.parse_args()
    if ARGS.hmac_secret_file:
        with open(ARGS.hmac_secret_file, "rb") as f:
            SECRET[0] = f.read().strip()
    server = Server(("127.0.0.1", ARGS.port), Handler)
    if ARGS.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.cert, ARGS.key)
        if ARGS.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(ARGS.client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
