# SPDX-License-Identifier: Apache-2.0
"""What the integration tests share: locating the binary, temporary
directories, writing configs, running syncagent, reading NDJSON output."""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get("SA_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SYNCAGENT = os.environ.get("SYNCAGENT") or os.path.join(SOURCE_DIR, "build", "syncagent")
SCHEMAS_DIR = os.path.join(SOURCE_DIR, "schemas")
START_MS = 1767225600000  # fixed event-time origin so runs are comparable


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.stderr.flush()
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Workdir:
    """A temporary directory removed at exit unless SA_KEEP_TMP is set."""

    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix="sa-" + name + "-")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if os.environ.get("SA_KEEP_TMP"):
            print("kept " + self.path)
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def write(self, name, text):
        path = self.join(name)
        with open(path, "w") as f:
            f.write(text)
        return path


def free_port():
    """A loopback port nothing listens on now (bound, then let go): for a
    server to start on, or a broker address that refuses connections."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(args, check_rc=None, timeout=300, **kw):
    """Run syncagent with args; returns CompletedProcess (text)."""
    proc = subprocess.run([SYNCAGENT] + list(args), capture_output=True, text=True,
                          timeout=timeout, **kw)
    if check_rc is not None and proc.returncode != check_rc:
        fail("syncagent %s exited %d (expected %d)\nstdout: %s\nstderr: %s" % (
            " ".join(args), proc.returncode, check_rc, proc.stdout[-2000:],
            proc.stderr[-4000:]))
    return proc


def generator_config(work, sources, sink_path, extra_sink="", spool_extra="",
                     batch="  max_records: 1000\n  linger: 50ms\n"):
    """A config with generator sources [(name, stream, schema, seed, count, rate)]
    and one file sink."""
    lines = ["agent:", "  id: test-agent", "  data_dir: " + work.join("data"),
             "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 5s",
             "spool:", "  max_bytes: 1GiB", spool_extra.rstrip(),
             "batch:", batch.rstrip(), "sources:"]
    for name, stream, schema, seed, count, rate in sources:
        lines += ["  - name: " + name, "    type: generator", "    stream: " + stream,
                  "    schema: " + schema, "    seed: %d" % seed,
                  "    count: %d" % count, "    rate: %d" % rate,
                  "    start_time: %d" % START_MS, "    interval: 1s"]
    lines += ["sinks:", "  - name: files", "    type: file", "    path: " + sink_path,
              "    format: ndjson", "    rotate_bytes: 4MiB"]
    if extra_sink:
        lines.append(extra_sink.rstrip())
    return work.write("agent.yaml", "\n".join(l for l in lines if l) + "\n")


def read_ndjson_dir(path):
    """Every record of every file in path, as parsed JSON objects."""
    records = []
    for name in sorted(glob.glob(os.path.join(path, "*"))):
        with open(name) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError as e:
                    fail("%s:%d: not JSON (%s): %r" % (name, lineno, e, line[:200]))
    return records


def read_ndjson_by_stream(path):
    """{stream: [records]} from a file sink directory, whose files are named
    <stream>-<timestamp>-<n>.ndjson."""
    streams = {}
    for name in sorted(glob.glob(os.path.join(path, "*.ndjson"))):
        stream = os.path.basename(name).rsplit("-", 2)[0]
        sub = []
        with open(name) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    sub.append(json.loads(line))
                except ValueError as e:
                    fail("%s:%d: not JSON (%s): %r" % (name, lineno, e, line[:200]))
        streams.setdefault(stream, []).extend(sub)
    return streams


def generate_jsonl(schema, count, seed):
    """What `syncagent generate` writes for this schema and seed."""
    proc = run(["generate", "--schema", schema, "-n", str(count), "--seed", str(seed),
                "--format", "jsonl", "--start-time", str(START_MS), "--interval", "1s",
                "--schemas-dir", SCHEMAS_DIR], check_rc=0)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def newest_shape(records, subject, schemas_dir=None):
    """records (of any version of subject) in the shape the JSON sinks write
    them: that of the newest version in the schemas directory (Avro schema
    resolution at the top level: a field it added takes its default, a
    field it removed is left out)."""
    base = os.path.join(schemas_dir or SCHEMAS_DIR, subject)
    newest = max(glob.glob(os.path.join(base, "v*.avsc")),
                 key=lambda p: int(os.path.basename(p)[1:-5]))
    with open(newest) as f:
        fields = json.load(f)["fields"]
    out = []
    for rec in records:
        shaped = {}
        for fd in fields:
            if fd["name"] in rec:
                shaped[fd["name"]] = rec[fd["name"]]
            elif "default" in fd:
                shaped[fd["name"]] = fd["default"]
        out.append(shaped)
    return out


def strip_meta(rec):
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def compare_stream(out_records, expected, origin_id, label):
    """out_records: records of one stream from the sink (with _seq); expected:
    the generator's records in index order. Returns the number of duplicates;
    fails on anything missing, extra or different."""
    by_seq = {}
    dups = 0
    for r in out_records:
        check(r.get("_origin_id") == origin_id,
              "%s: record with origin %r, spool is %r" % (label, r.get("_origin_id"),
                                                           origin_id))
        seq = r["_seq"]
        if seq in by_seq:
            dups += 1
            check(by_seq[seq] == r, "%s: seq %d delivered twice with different "
                  "content" % (label, seq))
        by_seq[seq] = r
    seqs = sorted(by_seq)
    check(len(seqs) == len(expected), "%s: %d distinct records delivered, %d "
          "generated" % (label, len(seqs), len(expected)))
    for i, seq in enumerate(seqs):
        got = strip_meta(by_seq[seq])
        if got != expected[i]:
            fail("%s: record %d (seq %d) differs:\n got      %s\n expected %s" % (
                label, i, seq, json.dumps(got, sort_keys=True),
                json.dumps(expected[i], sort_keys=True)))
    return dups


def status_json(config):
    proc = run(["status", "-c", config, "--json"], check_rc=0)
    return json.loads(proc.stdout)


CSV_SCHEMAS_DIR = os.path.join(SOURCE_DIR, "tests", "data", "csv", "schemas")


def import_csv(work, data, stream, source_extra="", check_rc=None, timeout=600):
    """`syncagent import --wait-synced` of one CSV file into a file sink in a
    data directory of its own under work, with the schemas of the CSV tests.
    Returns (records sorted by seq, meta stripped; dead letters as dicts;
    the CompletedProcess)."""
    name = "imp%d" % len(os.listdir(work.path))
    out, data_dir = work.join(name + "-out"), work.join(name + "-data")
    cfg = work.write(name + ".yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
        "sources:\n  - name: csv\n    type: csv\n    stream: %s\n"
        "    path: %s\n    watch: false\n%s"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            data_dir, CSV_SCHEMAS_DIR, stream, data,
            "".join("    " + l.strip() + "\n" for l in source_extra.splitlines() if l.strip()),
            out))
    proc = run(["import", "-c", cfg, "--stream", stream, "--wait-synced", data],
               check_rc=check_rc, timeout=timeout)
    recs = sorted(read_ndjson_by_stream(out).get(stream, []), key=lambda r: r["_seq"])
    dls = run(["deadletter", "list", "-c", cfg, "--json"],
              check_rc=0).stdout
    return ([strip_meta(r) for r in recs],
            [json.loads(l) for l in dls.splitlines() if l.strip()], proc)
