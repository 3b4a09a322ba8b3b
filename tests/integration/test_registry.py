# SPDX-License-Identifier: Apache-2.0
"""The schema registry client (sync/registry.c), driven by
tests/tools/registry_client, against the real registry of the CTest fixture
`registry` (Apicurio's Confluent-compatible API, tools/testenv/registry)
and, for what a healthy registry does not do (auth, 5xx, huge or broken
answers, hanging), against a small stub served from this process.

Real registry: an id for a new schema; the same schema again, in a new
process and from the client's cache, gives the same id and no new version;
a compatible v2 gets a new id; an incompatible one is refused with the
registry's own message; a wrong path, a bad URL and a registry that is down
(stopped, then started again) give the documented errors."""
import base64
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

from harness import SOURCE_DIR, check, fail, free_port

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.getcwd()
CLIENT = os.environ.get("SA_REGISTRY_CLIENT") or os.path.join(BINARY_DIR, "registry_client")
REGISTRY_DIR = os.path.join(BINARY_DIR, "testenv", "registry")
REGISTRY_HOME = os.path.join(SOURCE_DIR, "tools", "testenv", "registry")
PASSWORD = "s3cret-Pa55"  # must never show in the client's output

V1 = {"type": "record", "name": "Reading", "namespace": "t.registry",
      "fields": [{"name": "id", "type": "long"},
                 {"name": "value", "type": "double"}]}
V2 = dict(V1, fields=V1["fields"] + [
    {"name": "unit", "type": "string", "default": "C"}])  # BACKWARD-compatible
V_BAD = dict(V1, fields=[{"name": "id", "type": "string"},
                         {"name": "value", "type": "double"}])  # long -> string


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.lines = proc.stdout.splitlines()

    def __str__(self):
        return "exit %d\nstdout: %s\nstderr: %s" % (self.rc, self.stdout, self.stderr)


def client(url, subject, files, user=None, password=None, timeout_ms=None):
    args = [CLIENT]
    if user is not None:
        args += ["--user", user]
    if password is not None:
        args += ["--password", password]
    if timeout_ms is not None:
        args += ["--timeout-ms", str(timeout_ms)]
    try:
        proc = subprocess.run(args + [url, subject] + list(files), capture_output=True,
                              text=True, timeout=60)
    except FileNotFoundError:
        fail("no registry_client at %s: build the tests first" % CLIENT)
    except subprocess.TimeoutExpired:
        fail("registry_client %s %s did not finish within 60 s" % (url, subject))
    res = Result(proc)
    check(PASSWORD not in res.stdout and PASSWORD not in res.stderr,
          "the password shows in the client's output:\n%s" % res)
    return res


def expect_ids(res, n, what):
    check(len(res.lines) == n and all(l.startswith("ok ") for l in res.lines)
          and res.rc == 0, "%s: expected %d ids\n%s" % (what, n, res))
    return [int(l.split()[1]) for l in res.lines]


def expect_error(res, rc_name, fragments, what):
    line = res.lines[-1] if res.lines else ""
    check(res.rc == 1 and line.startswith("error %s " % rc_name),
          "%s: expected error %s\n%s" % (what, rc_name, res))
    for frag in fragments:
        check(frag in line, "%s: %r is not in the error\n%s" % (what, frag, res))
    return line


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())



# --- stub registry ----------------------------------------------------------

class Stub(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.requests = []  # (path, headers dict, body bytes)
        self.lock = threading.Lock()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class StubHandler(http.server.BaseHTTPRequestHandler):
    """POST /subjects/<mode>/versions; the subject says how to answer."""

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/vnd.schemaregistry.v1+json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.requests.append((self.path, dict(self.headers), body))
        parts = self.path.split("/")
        mode = parts[2] if len(parts) == 4 and parts[1] == "subjects" else ""
        if mode == "ok":
            self.reply(200, {"id": 7})
        elif mode == "auth":
            want = "Basic " + base64.b64encode(("alice:" + PASSWORD).encode()).decode()
            if self.headers.get("Authorization") == want:
                self.reply(200, {"id": 8})
            else:
                self.reply(401, {"error_code": 401, "message": "Unauthorized"})
        elif mode == "e500":
            self.reply(500, {"error_code": 50001, "message": "Error in the backend data store"})
        elif mode == "e503":
            self.reply(503, b"<html><body>Service Unavailable</body></html>", "text/html")
        elif mode == "e422":
            self.reply(422, {"error_code": 42201, "message": "Invalid schema"})
        elif mode == "big":
            self.reply(200, b'{"id": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        elif mode == "garbage":
            self.reply(200, b"<html>not json</html>", "text/html")
        elif mode == "noid":
            self.reply(200, {"version": 3})
        elif mode == "hang":
            time.sleep(3)
            self.reply(200, {"id": 9})
        else:
            self.reply(404, {"error_code": 40401, "message": "Subject not found"})


def stub_cases(files):
    stub = Stub()
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        # The request itself: path, content type, body = the .avsc as written.
        res = client(stub.url, "ok", [files["v1"], files["v1"], files["v1"]])
        check(expect_ids(res, 3, "stub ok") == [7, 7, 7], "stub ok: ids\n%s" % res)
        check(len(stub.requests) == 1,
              "the same schema three times made %d requests, not 1 (cache)"
              % len(stub.requests))
        path, headers, body = stub.requests[0]
        check(path == "/subjects/ok/versions", "request path %r" % path)
        check(headers.get("Content-Type") == "application/vnd.schemaregistry.v1+json",
              "Content-Type %r" % headers.get("Content-Type"))
        with open(files["v1"]) as f:
            check(json.loads(body) == {"schema": f.read()},
                  "request body is not {\"schema\": <the .avsc text>}: %r" % body)
        check("Authorization" not in headers, "auth header sent without a username")
        res = client(stub.url, "ok", [files["v2"]])
        expect_ids(res, 1, "stub ok v2")
        check(len(stub.requests) == 2, "a new schema made no request")

        # Basic auth: from opts, from the URL's userinfo; refused -> ECONFIG.
        expect_ids(client(stub.url, "auth", [files["v1"]], user="alice",
                          password=PASSWORD), 1, "basic auth")
        userinfo_url = stub.url.replace("http://", "http://alice:%s@" % PASSWORD)
        expect_ids(client(userinfo_url, "auth", [files["v1"]]), 1, "userinfo auth")
        expect_error(client(userinfo_url, "e500", [files["v1"]]), "EAGAIN",
                     ["http://127.0.0.1:%d/subjects/e500/versions" % stub.server_address[1]],
                     "error message hides the userinfo")
        expect_error(client(stub.url, "auth", [files["v1"]], user="alice",
                            password="wrong"),
                     "ECONFIG", ["HTTP 401", "Unauthorized", "/subjects/auth/versions"],
                     "wrong password")
        expect_error(client(stub.url, "auth", [files["v1"]]), "ECONFIG", ["HTTP 401"],
                     "no credentials")

        # Transient server errors, refusals, broken answers.
        expect_error(client(stub.url, "e500", [files["v1"]]), "EAGAIN",
                     ["HTTP 500", "Error in the backend data store", "50001"], "500")
        expect_error(client(stub.url, "e503", [files["v1"]]), "EAGAIN",
                     ["HTTP 503", "Service Unavailable"], "503 with HTML")
        expect_error(client(stub.url, "e422", [files["v1"]]), "ESCHEMA",
                     ["HTTP 422", "Invalid schema"], "422")
        expect_error(client(stub.url, "big", [files["v1"]]), "ETOOBIG",
                     ["larger than"], "2 MiB response")
        expect_error(client(stub.url, "garbage", [files["v1"]]), "EPARSE",
                     ["not JSON"], "non-JSON 200")
        expect_error(client(stub.url, "noid", [files["v1"]]), "EPARSE",
                     ["\"id\""], "200 without id")
        started = time.monotonic()
        expect_error(client(stub.url, "hang", [files["v1"]], timeout_ms=500), "EAGAIN",
                     ["imed out"], "registry that does not answer")
        check(time.monotonic() - started < 2.5, "the 500 ms timeout was not kept")
    finally:
        stub.shutdown()
        stub.server_close()


# --- real registry ----------------------------------------------------------

def registry_cases(url, files):
    subject = "reading-%s-value" % uuid.uuid4().hex[:8]
    versions = "%s/subjects/%s/versions" % (url, subject)

    # A new schema gets an id; the same again (new process: no cache) the
    # same id and no new version; within one process the cache answers.
    (id1,) = expect_ids(client(url, subject, [files["v1"]]), 1, "register v1")
    (again,) = expect_ids(client(url, subject, [files["v1"]]), 1, "register v1 again")
    check(again == id1, "v1 registered again got id %d, not %d" % (again, id1))
    check(get_json(versions) == [1], "versions after v1 twice: %s" % get_json(versions))
    ids = expect_ids(client(url, subject, [files["v1"], files["v1"]]), 2, "v1 cached")
    check(ids == [id1, id1], "v1 twice in one process: %s" % ids)

    # A compatible v2 gets a new id and a new version.
    (id2,) = expect_ids(client(url, subject, [files["v2"]]), 1, "register v2")
    check(id2 != id1, "v2 got the id of v1 (%d)" % id1)
    check(get_json(versions) == [1, 2], "versions after v2: %s" % get_json(versions))
    latest = get_json(versions + "/2")
    check(latest.get("id") == id2, "version 2 has id %s, not %d" % (latest.get("id"), id2))
    with open(files["v2"]) as f:
        check(json.loads(latest["schema"]) == json.loads(f.read()),
              "the registry stored another schema than v2: %s" % latest["schema"])

    # An incompatible one is refused with the registry's message.
    line = expect_error(client(url, subject, [files["bad"]]), "ESCHEMA",
                        ["HTTP 409", versions], "incompatible schema")
    check("ncompatible" in line, "no registry message in %r" % line)
    check(get_json(versions) == [1, 2], "a refused schema added a version")

    # The project's own schemas, and a subject that needs escaping.
    sensor = [os.path.join(SOURCE_DIR, "schemas", "sensor_reading", v)
              for v in ("v1.avsc", "v2.avsc")]
    odd = "odd/subject name %s" % uuid.uuid4().hex[:6]
    a, b = expect_ids(client(url, odd, sensor), 2, "sensor_reading v1, v2")
    check(a != b, "sensor_reading v1 and v2 share id %d" % a)
    check(odd in get_json(url + "/subjects"), "subject %r not listed" % odd)

    # Wrong path: the server answers 404 -> ECONFIG with a hint.
    root = url[:url.index("/apis/")] if "/apis/" in url else url + "/nowhere"
    expect_error(client(root, subject, [files["v1"]]), "ECONFIG",
                 ["HTTP 404", "Confluent-compatible"], "url without the API path")


def bad_url_cases(files):
    expect_error(client("not a url", "s", [files["v1"]]), "ECONFIG",
                 ["\"not a url\"", "not a valid URL"], "no scheme")
    expect_error(client("ftp://127.0.0.1:21", "s", [files["v1"]]), "ECONFIG",
                 ["ftp://127.0.0.1:21", "http or https"], "ftp scheme")
    expect_error(client("http://u:%s@[::1" % PASSWORD, "s", [files["v1"]]), "ECONFIG",
                 ["not a valid URL", "***"], "malformed URL with a password")
    expect_error(client("", "s", [files["v1"]]), "ECONFIG", ["no url"], "empty url")
    port = free_port()
    expect_error(client("http://127.0.0.1:%d" % port, "s", [files["v1"]]), "EAGAIN",
                 ["127.0.0.1:%d" % port, "onnect"], "nothing listening")


def down_case(url, files):
    """Stop the fixture's registry: the client says EAGAIN. Start it again
    (same DIR, same port) so that the fixture is as it was."""
    stop = subprocess.run([os.path.join(REGISTRY_HOME, "stop"), REGISTRY_DIR],
                          capture_output=True, text=True, timeout=60)
    check(stop.returncode == 0, "registry stop failed: %s" % stop.stderr)
    try:
        expect_error(client(url, "down-value", [files["v1"]]), "EAGAIN",
                     [url + "/subjects/down-value/versions"], "registry stopped")
    finally:
        start = subprocess.run([os.path.join(REGISTRY_HOME, "start"), REGISTRY_DIR],
                               capture_output=True, text=True, timeout=180)
    check(start.returncode == 0 and start.stdout.strip() == url,
          "registry start after stop: exit %d, stdout %r\n%s"
          % (start.returncode, start.stdout, start.stderr))
    expect_ids(client(url, "down-value", [files["v1"]]), 1, "registry back up")


def main():
    try:
        with open(os.path.join(REGISTRY_DIR, "url")) as f:
            url = f.read().strip()
    except OSError as e:
        fail("no registry URL (%s): the registry.start fixture did not run" % e)
    with tempfile.TemporaryDirectory(prefix="sa-registry-") as tmp:
        files = {}
        for name, schema in (("v1", V1), ("v2", V2), ("bad", V_BAD)):
            files[name] = os.path.join(tmp, name + ".avsc")
            with open(files[name], "w") as f:
                json.dump(schema, f, indent=2)
        registry_cases(url, files)
        bad_url_cases(files)
        stub_cases(files)
        down_case(url, files)
    print("registry: all cases passed against %s and the stub" % url)


if __name__ == "__main__":
    main()
