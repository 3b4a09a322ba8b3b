# SPDX-License-Identifier: Apache-2.0
"""What the Kafka integration tests share: the test broker's address,
reading topics back with kcat (binary-safe: lengths, then key and value),
and decoding the Avro values with fastavro, an Avro implementation this
project did not write, against schemas/<subject>/v<N>.avsc.

fastavro lives in the repository's .venv (tools/setup). A test started
with another python re-executes itself with SA_VENV_PYTHON (set by CMake)
or .venv/bin/python; without it the test fails and says to run
tools/setup."""
import datetime
import io
import os
import subprocess
import sys
import time

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
from fastavro.schema import fingerprint, to_parsing_canonical_form  # noqa: E402

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.getcwd()
# The fixture's broker; the label spark has its own (SA_KAFKA_DIR, set by
# CMake), beside that label's Cassandra and OpenSearch.
KAFKA_DIR = os.environ.get("SA_KAFKA_DIR") or os.path.join(BINARY_DIR, "testenv", "kafka")
TESTENV = os.path.join(SOURCE_DIR, "tools", "testenv", "kafka")
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def bootstrap():
    path = os.path.join(KAFKA_DIR, "bootstrap")
    try:
        with open(path) as f:
            addr = f.read().strip()
    except OSError as e:
        fail("no bootstrap address (%s): the kafka.start fixture did not run" % e)
    check(addr, path + " is empty")
    return addr


def broker_stop():
    subprocess.run([os.path.join(TESTENV, "stop"), KAFKA_DIR], check=True,
                   capture_output=True, timeout=120)


def broker_start():
    proc = subprocess.run([os.path.join(TESTENV, "start"), KAFKA_DIR],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        fail("restarting the broker failed:\n" + proc.stderr[-3000:])


def create_topic(addr, topic, partitions, **configs):
    """Create topic with topic configs (max_message_bytes=100000 for
    max.message.bytes) through tests/tools/kafka_topic."""
    tool = os.environ.get("SA_KAFKA_TOPIC") or os.path.join(BINARY_DIR, "kafka_topic")
    args = [tool, addr, topic, str(partitions)] + [
        "%s=%s" % (k.replace("_", "."), v) for k, v in sorted(configs.items())]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        fail("%s is missing: build the tests (tools/build)" % tool)
    if proc.returncode != 0:
        fail("creating topic %s: %s" % (topic, proc.stderr.strip()[-2000:]))


FORMAT = "%p %o %T %K %S %h\n%k%s"


def consume(addr, topic, timeout=600, extra=(), at_least=None):
    """Every message of topic, read_committed, as dicts with partition,
    offset, timestamp (ms), key (bytes or None), value (bytes or None: a
    tombstone) and headers ({name: str}).

    at_least: read again (every 0.5 s, for up to 60 s) until that many
    messages are there. A committed transaction's markers reach the
    partitions just after the commit returns, and until they do a
    read_committed consumer stops short of them (the last stable offset):
    an agent that exits once its last transaction is committed can be
    read back a moment too soon. What is there after 60 s is returned, for
    the caller's checks to say what is missing."""
    deadline = time.time() + 60
    while True:
        msgs = _consume_once(addr, topic, timeout, extra)
        if at_least is None or len(msgs) >= at_least or time.time() > deadline:
            return msgs
        time.sleep(0.5)


def _consume_once(addr, topic, timeout, extra):
    try:
        proc = subprocess.run(
            ["kcat", "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed", "-f", FORMAT] + list(extra),
            capture_output=True, timeout=timeout)
    except FileNotFoundError:
        fail("kcat is not installed: run tools/setup")
    if proc.returncode != 0:
        fail("kcat -C %s: exit %d: %s" % (topic, proc.returncode,
                                         proc.stderr.decode(errors="replace")[-2000:]))
    out = proc.stdout
    msgs = []
    i = 0
    while i < len(out):
        nl = out.index(b"\n", i)
        head = out[i:nl].decode()
        part, off, ts, klen, vlen, hdrs = (head.split(" ", 5) + [""])[:6]
        i = nl + 1
        klen, vlen = int(klen), int(vlen)
        key = out[i:i + klen] if klen >= 0 else None
        i += max(klen, 0)
        value = out[i:i + vlen] if vlen >= 0 else None
        i += max(vlen, 0)
        headers = {}
        for kv in hdrs.split(","):
            if kv:
                k, _, v = kv.partition("=")
                headers[k] = v
        msgs.append({"partition": int(part), "offset": int(off), "timestamp": int(ts),
                     "key": key,
                     "value": value, "headers": headers})
    return msgs


_schemas = {}


def schema(subject, version):
    """(parsed fastavro schema, CRC-64-AVRO fingerprint as 8 LE bytes)."""
    k = (subject, version)
    if k not in _schemas:
        with open(os.path.join(SCHEMAS_DIR, subject, "v%d.avsc" % version)) as f:
            text = f.read()
        parsed = fastavro.parse_schema(json.loads(text))
        # fastavro gives the fingerprint as hex of its little-endian bytes,
        # the order single-object encoding puts them in.
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
        _schemas[k] = (parsed, fp)
    return _schemas[k]


def _plain(v):
    """fastavro's values in the shape `syncagent generate --format jsonl`
    prints: timestamps as epoch ms, bytes as \\u00XX strings."""
    if isinstance(v, datetime.datetime):
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def decode_avro(msg):
    """A message's value, Avro single-object encoded, decoded with fastavro
    against the schema its headers name; returns the record with
    _origin_id and _seq from the headers (for compare_stream)."""
    h = msg["headers"]
    parsed, fp = schema(h["schema_subject"], int(h["schema_version"]))
    v = msg["value"]
    check(v is not None, "seq %s: tombstone for an upsert" % h.get("seq"))
    check(v[:2] == b"\xc3\x01", "seq %s: no single-object marker: %r" % (h["seq"], v[:2]))
    check(v[2:10] == fp, "seq %s: fingerprint %s, fastavro says %s for %s v%s" % (
        h["seq"], v[2:10].hex(), fp.hex(), h["schema_subject"], h["schema_version"]))
    bio = io.BytesIO(v[10:])
    rec = fastavro.schemaless_reader(bio, parsed)
    check(bio.tell() == len(v) - 10, "seq %s: %d bytes after the record" % (
        h["seq"], len(v) - 10 - bio.tell()))
    rec = _plain(rec)
    rec["_origin_id"] = h["origin_id"]
    rec["_seq"] = int(h["seq"])
    return rec


def check_headers_and_order(msgs, label, key_field=None, records=None):
    """Every message carries the identity headers; within a partition seqs
    only go up (idempotent producer, one sender); the key is the record's
    key field when records (decoded, same order) are given."""
    # fail() only on a failure: formatting every message's check costs
    # seconds over a few 100 000 messages.
    last = {}
    for i, m in enumerate(msgs):
        h = m["headers"]
        for name in ("origin_id", "seq", "schema_subject", "schema_version",
                     "event_time_ms", "op", "version"):
            if name not in h:
                fail("%s: message at %d/%d lacks header %s (%r)" % (
                    label, m["partition"], m["offset"], name, h))
        seq = int(h["seq"])
        p = m["partition"]
        if seq <= last.get(p, 0):
            fail("%s: partition %d: seq %d after %d" % (label, p, seq, last.get(p, 0)))
        last[p] = seq
        if records is not None and key_field and \
                m["key"] != str(records[i][key_field]).encode():
            fail("%s: seq %d: key %r, record's %s is %r" % (
                label, seq, m["key"], key_field, records[i][key_field]))
