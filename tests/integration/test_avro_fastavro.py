# SPDX-License-Identifier: Apache-2.0
"""Avro object container files are read by another Avro implementation
(fastavro) with their logical types: the embedded schema is the .avsc as
written, so `created_at` (timestamp-millis) reads as a datetime, and the
writer schema keeps "default" and "doc".

1. `generate --format avro`, to a file and to standard output.
2. The file sink with `format: avro`, every container it wrote.
Every record equals what `generate --format jsonl` gives for the seed."""
import datetime
import glob
import io
import json
import sys

from harness import *


def _ensure_fastavro():
    try:
        import fastavro  # noqa: F401
        return
    except ImportError:
        pass
    venv = os.environ.get("SA_VENV_PYTHON") or os.path.join(SOURCE_DIR, ".venv", "bin",
                                                             "python")
    if os.environ.get("SA_REEXECED") or not os.path.exists(venv):
        fail("fastavro is not installed (python %s): run tools/setup, which "
             "creates .venv with it" % sys.executable)
    os.environ["SA_REEXECED"] = "1"
    os.execv(venv, [venv] + sys.argv)


_ensure_fastavro()
import fastavro  # noqa: E402

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
N = 3000  # more than one block of the container


def as_jsonl(rec):
    """fastavro's record in the shape of `generate --format jsonl`."""
    out = {}
    for k, v in rec.items():
        if isinstance(v, datetime.datetime):
            v = (v - EPOCH) // datetime.timedelta(milliseconds=1)
        out[k] = v
    return out


def check_container(data, label):
    """The records of one container, checked for the schema as written."""
    reader = fastavro.reader(io.BytesIO(data))
    fields = {f["name"]: f for f in reader.writer_schema["fields"]}
    check(fields["created_at"]["type"].get("logicalType") == "timestamp-millis",
          "%s: created_at lost its logicalType: %r" % (label, fields["created_at"]))
    check(fields["gift"].get("default") is False,
          "%s: gift lost its default: %r" % (label, fields["gift"]))
    check(fields["amount"].get("doc") == "Total, two decimals",
          "%s: amount lost its doc: %r" % (label, fields["amount"]))
    recs = list(reader)
    for r in recs[:1]:
        check(isinstance(r["created_at"], datetime.datetime),
              "%s: created_at read as %r, not a datetime" % (label, r["created_at"]))
    return recs


expected = generate_jsonl("order", N, 5)

with Workdir("avro-fastavro") as work:
    # 1. generate
    path = work.join("orders.avro")
    args = ["generate", "--schema", "order", "-n", str(N), "--seed", "5",
            "--format", "avro", "--start-time", str(START_MS), "--interval", "1s",
            "--schemas-dir", SCHEMAS_DIR]
    run(args + ["-o", path], check_rc=0)
    with open(path, "rb") as f:
        recs = check_container(f.read(), "generate -o")
    check([as_jsonl(r) for r in recs] == expected,
          "generate -o: the records differ from --format jsonl")
    proc = subprocess.run([SYNCAGENT] + args, capture_output=True, timeout=120)
    check(proc.returncode == 0, "generate to stdout: " + proc.stderr.decode()[-2000:])
    recs = check_container(proc.stdout, "generate to stdout")
    check(len(recs) == N, "generate to stdout: %d records, %d expected" % (len(recs), N))

    # 2. the file sink
    out = work.join("out")
    cfg = generator_config(work, [("orders", "order", "order", 5, N, 0)], out)
    with open(cfg) as f:
        text = f.read().replace("format: ndjson", "format: avro")
    with open(cfg, "w") as f:
        f.write(text)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    got, ids = [], []
    for name in sorted(glob.glob(os.path.join(out, "*.avro"))):
        with open(name, "rb") as f:
            part = check_container(f.read(), name)
        with open(name + ".ids") as f:
            part_ids = [json.loads(l) for l in f if l.strip()]
        check(len(part_ids) == len(part), "%s: %d records, %d .ids lines" % (
            name, len(part), len(part_ids)))
        got += part
        ids += part_ids
    check(len(got) == N, "file sink: %d records in the containers, %d expected" % (
        len(got), N))
    by_seq = sorted(zip(ids, got), key=lambda p: p[0]["_seq"])
    check([as_jsonl(r) for _, r in by_seq] == expected,
          "file sink: the records differ from --format jsonl")
print("avro containers: %d records from generate and from the file sink read by "
      "fastavro with timestamp-millis as datetime, defaults and docs kept" % N)
