# SPDX-License-Identifier: Apache-2.0
"""The downstream Spark job (sync/spark, issue 15) end to end, against the
label's real Kafka, Cassandra and OpenSearch and the real registry.

Two agents write interleaved versions of the same keys, some of them
deletes, in both schema versions of one subject, exactly once into one
topic: agent A in Avro single-object encoding with the identity in one
header (`headers: compact`), agent B in the Confluent wire format with a
header each. Before them, three messages no agent wrote (kcat): text that is
not Avro, a single-object frame with a fingerprint no schema has, and
one of item v1's fingerprint whose body ends early. The
job starts streaming, is killed (SIGKILL, its JVM too) after its first
micro-batch, and is restarted on its checkpoint in batch mode
(availableNow). Agent A then deletes five live keys, and a third run of
the job gets a batch of deletes alone (tombstones: no writer schema). Then Cassandra and OpenSearch must each hold exactly the
newest version of every key the agents were given (v1 records with v2's
defaults), deleted keys absent, as many rows as live keys, the Cassandra
writetime and the OpenSearch _version equal to the version; the three
foreign messages are in the dead-letter topic with their reasons. Agent A
also writes a stream whose schema has no x-version (note): versioned by
the agent's clock, its Cassandra writetime is that clock's time in
microseconds (hlc_micros), not the raw clock, and its OpenSearch _version
the raw clock."""
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

from sparkenv import *  # noqa: F403 (servers, cql)
from harness import Workdir, check, fail, run, SOURCE_DIR  # noqa: E402
from kafka_harness import consume, fastavro, fingerprint, to_parsing_canonical_form  # noqa


JOB = os.path.join(SOURCE_DIR, "sync", "spark", "run")
SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "spark", "schemas")
sys.path.insert(0, os.path.join(SOURCE_DIR, "sync", "spark"))
from syncagent_spark import HLC_LOGICAL_BITS, hlc_micros  # noqa: E402
KEYS = 150
COLORS = ["red", "green", "blue"]

rng = random.Random(15)
rid = "sj" + uuid.uuid4().hex[:8]
topic = "edge.%s_item" % rid
dead_topic = "%s.deadletters" % rid
keyspace, index = rid, "%s-item" % rid
addr = kafka_bootstrap()
registry = registry_url()

# --- what the agents are given ---------------------------------------------
# Every key gets versions 1..n, each in a random one of four files (agent A
# or B, schema v1 or v2), some as deletes; each file's rows are shuffled,
# so older versions often arrive after newer ones.
files = {(agent, sv): [] for agent in "AB" for sv in (1, 2)}
newest = {}
for k in range(KEYS):
    key = "k%03d" % k
    for ver in range(1, rng.randint(1, 6) + 1):
        row = {"id": key, "ver": ver, "val": "v%d-%d" % (k, ver), "qty": rng.randint(0, 99),
               "op": "delete" if rng.random() < 0.2 else ""}
        sv = rng.choice((1, 2))
        if sv == 2:
            row["color"] = rng.choice(COLORS)
            row["seen_at"] = rng.choice(["", str(1767225600000 + k * 1000 + ver)])
        files[(rng.choice("AB"), sv)].append(row)
        if ver > newest.get(key, {"ver": 0})["ver"]:
            newest[key] = row
for rows in files.values():
    rng.shuffle(rows)
live = {}
for key, row in newest.items():
    if row["op"] != "delete":
        live[key] = {"id": key, "ver": row["ver"], "val": row["val"], "qty": row["qty"],
                     "color": row.get("color", "none"),
                     "seen_at": int(row["seen_at"]) if row.get("seen_at") else None}
n_records = sum(len(r) for r in files.values())
# The note stream (agent A, no x-version): rows in file order, so a later
# row of a key has the newer clock; n3's last is a delete.
notes = [("n0", "a", ""), ("n1", "a", ""), ("n2", "a", ""), ("n3", "a", ""),
         ("n0", "b", ""), ("n1", "b", ""), ("n2", "b", ""), ("n3", "a", "delete")]
live_notes = {"n0": "b", "n1": "b", "n2": "b"}


def csv_text(rows, sv):
    cols = ["id", "ver", "val", "qty"] + (["color", "seen_at"] if sv == 2 else []) + ["op"]
    return ",".join(cols) + "\n" + "".join(
        ",".join(str(r[c]) for c in cols) + "\n" for r in rows)


def agent_config(work, agent, late_deletes=()):
    lines = ["agent:", "  id: spark-%s" % agent, "  data_dir: " + work.join("data-" + agent),
             "  schemas_dir: " + SCHEMAS, "admin:", "  enabled: false", "sources:"]
    for sv in (1, 2):
        path = work.write("%s-v%d.csv" % (agent, sv), csv_text(files[(agent, sv)], sv))
        lines += ["  - name: v%d" % sv, "    type: csv", "    stream: item",
                  "    schema: item:v%d" % sv, "    path: " + path, "    op_column: op",
                  "    watch: false"]
    if agent == "A":
        path = work.write("A-note.csv", "id,val,op\n" + "".join(
            "%s,%s,%s\n" % n for n in notes))
        lines += ["  - name: note", "    type: csv", "    stream: note",
                  "    schema: note:v1", "    path: " + path, "    op_column: op",
                  "    watch: false"]
    if late_deletes:
        path = work.write("%s-late.csv" % agent, csv_text(late_deletes, 1))
        lines += ["  - name: late", "    type: csv", "    stream: item",
                  "    schema: item:v1", "    path: " + path, "    op_column: op",
                  "    watch: false"]
    lines += ["sinks:", "  - name: k", "    type: kafka", "    brokers: " + addr,
              "    topic: edge.%s_${stream}" % rid, "    exactly_once: true"]
    if agent == "A":
        lines += ["    headers: compact"]
    else:
        lines += ["    encoding: confluent", "    schema_registry: " + registry]
    return work.write(agent + ".yaml", "\n".join(lines) + "\n")


def kcat_produce(path, key, headers):
    args = ["kcat", "-P", "-b", addr, "-t", topic, "-k", key]
    for h in headers:
        args += ["-H", h]
    proc = subprocess.run(args + [path], capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0, "kcat -P: %s" % proc.stderr)


def job_args(work, extra):
    return [JOB, "--bootstrap-servers", addr, "--topics", r"edge\.%s_.*" % rid,
            "--topic-prefix", "edge.%s_" % rid, "--schemas", SCHEMAS,
            "--schema-registry", registry, "--cassandra", cassandra_address(),
            "--keyspace", keyspace, "--opensearch", opensearch_url(),
            "--index-prefix", rid + "-", "--dead-letter-topic", dead_topic,
            "--checkpoint", work.join("checkpoint"), "--driver-memory", "512m"] + extra


with Workdir("spark-job") as work:
    started = time.time()
    # Foreign messages first: the agents' records come after them on their
    # partitions, so the stream has to go on past them.
    kcat_produce(work.write("text.bin", "this is not avro"), "k000",
                 ["op=upsert", "version=99"])
    with open(work.join("badfp.bin"), "wb") as f:
        f.write(b"\xc3\x01" + bytes(8) + b"\x02")
    kcat_produce(work.join("badfp.bin"), "k001", ["op=upsert", "version=99"])
    with open(os.path.join(SCHEMAS, "item", "v1.avsc")) as f:
        v1_fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(
            fastavro.parse_schema(json.load(f))), "CRC-64-AVRO"))
    with open(work.join("cut.bin"), "wb") as f:
        f.write(b"\xc3\x01" + v1_fp + b"\x08k0")  # the id's 4 bytes cut after 2
    kcat_produce(work.join("cut.bin"), "k002", ["op=upsert", "version=99"])

    agents = [subprocess.Popen([os.environ.get("SYNCAGENT") or
                                os.path.join(SOURCE_DIR, "build", "syncagent"),
                                "run", "-c", agent_config(work, a), "--exit-when-synced"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
              for a in "AB"]
    for a, p in zip("AB", agents):
        out, _ = p.communicate(timeout=300)
        check(p.returncode == 0, "agent %s exited %d:\n%s" % (a, p.returncode, out[-3000:]))
    msgs = consume(addr, topic, at_least=n_records + 3)
    check(len(msgs) == n_records + 3, "%d messages in %s, expected %d records + 3 foreign"
          % (len(msgs), topic, n_records))

    # --- the job: streaming, killed after its first micro-batch ------------
    log1 = work.join("job1.log")
    with open(log1, "w") as log:
        job = subprocess.Popen(job_args(work, ["--trigger", "1 second",
                                               "--max-offsets-per-trigger", "120"]),
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    batches = []
    deadline = time.time() + 240
    while time.time() < deadline and job.poll() is None:
        with open(log1, errors="replace") as f:
            batches = [json.loads(l[6:]) for l in f if l.startswith("batch ")]
        if batches:
            break
        time.sleep(0.5)
    alive = job.poll() is None
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    if not batches:
        with open(log1, errors="replace") as f:
            fail("the job wrote no batch (%s):\n%s" % (
                "still running" if alive else "exited %s" % job.returncode,
                "\n".join(f.read().splitlines()[-40:])))
    done_first = sum(b["messages"] for b in batches)
    check(done_first < len(msgs), "the first run did everything (%d messages) before "
          "the kill: nothing left to resume" % done_first)

    # --- restarted on its checkpoint, in batch mode ------------------------
    proc = subprocess.run(job_args(work, ["--available-now"]), capture_output=True,
                          text=True, timeout=400)
    check(proc.returncode == 0, "the restarted job exited %d:\n%s" % (
        proc.returncode, "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])))
    totals = json.loads([l for l in proc.stdout.splitlines() if l.startswith("done ")][-1][5:])

    # --- a micro-batch of deletes only (no value, so no writer schema) -----
    late = [{"id": k, "ver": 100, "val": "x", "qty": 0, "op": "delete"}
            for k in sorted(live)[:5]]
    run(["run", "-c", agent_config(work, "A", late), "--exit-when-synced"], check_rc=0)
    proc = subprocess.run(job_args(work, ["--available-now"]), capture_output=True,
                          text=True, timeout=400)
    check(proc.returncode == 0, "the job on deletes alone exited %d:\n%s" % (
        proc.returncode, "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])))
    last = json.loads([l for l in proc.stdout.splitlines() if l.startswith("done ")][-1][5:])
    check(last["messages"] == len(late) and last["deletes"] == len(late),
          "the deletes-only run: %s, expected %d deletes" % (last, len(late)))
    for row in late:
        del live[row["id"]]

    # --- Cassandra ---------------------------------------------------------
    rows = cql("SELECT id, ver, val, qty, color, toUnixTimestamp(seen_at) AS seen_ms, "
               "writetime(val) AS wt FROM %s.item" % keyspace)
    got = {}
    for r in rows:
        check(r["id"] not in got, "cassandra: key %s twice" % r["id"])
        check(r["wt"] == r["ver"], "cassandra %s: writetime %s, version %s"
              % (r["id"], r["wt"], r["ver"]))
        got[r["id"]] = {"id": r["id"], "ver": r["ver"], "val": r["val"], "qty": r["qty"],
                        "color": r["color"], "seen_at": r["seen_ms"]}
    for key in sorted(set(got) | set(live)):
        check(key in got, "cassandra: live key %s missing (newest %s)" % (key, live.get(key)))
        check(key in live, "cassandra: key %s present, its newest version %d is a delete"
              % (key, newest[key]["ver"]))
        check(got[key] == live[key], "cassandra %s:\n got      %s\n expected %s"
              % (key, got[key], live[key]))
    check(len(rows) == len(live), "cassandra: %d rows, %d live keys" % (len(rows), len(live)))

    # The agent's clock as the version: the writetime is its wall-clock ms
    # in microseconds plus the counter (now, not the year ~5700).
    notes_got = {}
    for r in cql('SELECT id, val, "_version" AS ver, writetime(val) AS wt FROM %s.note'
                 % keyspace):
        check(r["wt"] == hlc_micros(r["ver"]), "cassandra note %s: writetime %s, clock %s "
              "(expected %s)" % (r["id"], r["wt"], r["ver"], hlc_micros(r["ver"])))
        check(abs((r["ver"] >> HLC_LOGICAL_BITS) - started * 1000) < 3600e3,
              "cassandra note %s: version %s is not the agent's clock of now"
              % (r["id"], r["ver"]))
        notes_got[r["id"]] = (r["val"], r["ver"])
    check({k: v[0] for k, v in notes_got.items()} == live_notes,
          "cassandra note: %s, expected %s" % (notes_got, live_notes))

    # --- OpenSearch --------------------------------------------------------
    base = opensearch_url()
    urllib.request.urlopen(urllib.request.Request(base + "/%s/_refresh" % index,
                                                  method="POST"), timeout=60).read()
    with urllib.request.urlopen(base + "/%s/_search?size=10000&version=true" % index,
                                timeout=60) as r:
        hits = json.loads(r.read())["hits"]["hits"]
    docs = {}
    for h in hits:
        s = h["_source"]
        check(h["_version"] == s["ver"], "opensearch %s: _version %s, ver %s"
              % (h["_id"], h["_version"], s["ver"]))
        docs[h["_id"]] = {"id": s["id"], "ver": s["ver"], "val": s["val"], "qty": s["qty"],
                          "color": s["color"], "seen_at": s.get("seen_at")}
    for key in sorted(set(docs) | set(live)):
        check(key in docs, "opensearch: live key %s missing" % key)
        check(key in live, "opensearch: key %s present, its newest version is a delete" % key)
        check(docs[key] == live[key], "opensearch %s:\n got      %s\n expected %s"
              % (key, docs[key], live[key]))
    check(len(hits) == len(live), "opensearch: %d documents, %d live keys"
          % (len(hits), len(live)))

    urllib.request.urlopen(urllib.request.Request(base + "/%s-note/_refresh" % rid,
                                                  method="POST"), timeout=60).read()
    with urllib.request.urlopen(base + "/%s-note/_search?size=100&version=true" % rid,
                                timeout=60) as r:
        hits = json.loads(r.read())["hits"]["hits"]
    got = {h["_id"]: (h["_source"]["val"], h["_version"]) for h in hits}
    check(got == notes_got, "opensearch note (val, _version = the raw clock): %s, "
          "cassandra %s" % (got, notes_got))

    # --- dead letters ------------------------------------------------------
    # At least once: a batch killed after its writes and before Spark's
    # commit runs again, and its dead letters are sent again; where they
    # came from (dlq_topic, dlq_partition, dlq_offset) tells the copies.
    dls = {}
    for m in consume(addr, dead_topic):
        h = m["headers"]
        dls.setdefault((h.get("dlq_topic"), h.get("dlq_partition"), h.get("dlq_offset")), m)
    dls = list(dls.values())
    reasons = sorted(m["headers"].get("dlq_reason", "") for m in dls)
    check(len(dls) == 3, "%d dead letters, expected the 3 foreign messages: %s"
          % (len(dls), reasons))
    check(any(r.startswith("not Avro") for r in reasons) and
          any(r.startswith("unknown writer schema") for r in reasons) and
          any(r.startswith("the Avro body does not decode") for r in reasons),
          "dead-letter reasons: %s" % reasons)
    check(any(m["value"] == b"this is not avro" and m["headers"].get("dlq_topic") == topic
              for m in dls), "the text message is not in the dead-letter topic as it was")

    print("spark job: %d records from 2 agents (%d keys, %d live), first run %d messages "
          "in %d batches then SIGKILL, restart %s; Cassandra and OpenSearch hold exactly "
          "the newest versions; 3 dead letters; %.0f s"
          % (n_records, KEYS, len(live), done_first, len(batches), json.dumps(totals),
             time.time() - started))
