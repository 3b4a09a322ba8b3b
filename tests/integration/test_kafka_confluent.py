# SPDX-License-Identifier: Apache-2.0
"""encoding: confluent against the real broker and a real Confluent-
compatible registry (Apicurio, fixture `registry`): every value is magic
byte 0 + a 4-byte schema id; the schema the registry returns for that id
(GET /schemas/ids/<id>), parsed by fastavro, decodes the value into what
`syncagent generate` made; subjects follow TopicNameStrategy."""
import io
import struct
import urllib.request
import uuid

from kafka_harness import *

N = 5000
addr = bootstrap()
with open(os.path.join(BINARY_DIR, "testenv", "registry", "url")) as f:
    registry = f.read().strip()
topic = "sa-confluent-" + uuid.uuid4().hex[:10]
with Workdir("kafka-confluent") as work:
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: confluent", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + SCHEMAS_DIR,
        "sources:",
        "  - name: orders", "    type: generator", "    stream: order", "    schema: order",
        "    seed: 5", "    count: %d" % N, "    rate: 0", "    start_time: %d" % START_MS,
        "    interval: 1s",
        "sinks:",
        "  - name: k", "    type: kafka", "    brokers: " + addr, "    topic: " + topic,
        "    encoding: confluent", "    schema_registry: " + registry,
    ]) + "\n")
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=300)
    st = status_json(cfg)
    msgs = consume(addr, topic)
    ids = set()
    parsed = {}
    recs = []
    for m in msgs:
        v = m["value"]
        check(v[0] == 0, "magic byte %d" % v[0])
        sid = struct.unpack(">i", v[1:5])[0]
        if sid not in parsed:
            with urllib.request.urlopen("%s/schemas/ids/%d" % (registry, sid)) as r:
                parsed[sid] = fastavro.parse_schema(json.loads(json.loads(r.read())["schema"]))
        ids.add(sid)
        rec = fastavro.schemaless_reader(io.BytesIO(v[5:]), parsed[sid])
        rec = {k: (x - EPOCH) // datetime.timedelta(milliseconds=1)
               if isinstance(x, datetime.datetime) else x for k, x in rec.items()}
        rec["_origin_id"] = m["headers"]["origin_id"]
        rec["_seq"] = int(m["headers"]["seq"])
        recs.append(rec)
    check(len(ids) == 1, "schema ids %s for one schema" % sorted(ids))
    with urllib.request.urlopen("%s/subjects" % registry) as r:
        subjects = json.loads(r.read())
    check(topic + "-value" in subjects, "subject %s-value not in %s" % (topic, subjects))
    dups = compare_stream(recs, generate_jsonl("order", N, 5), st["origin_id"], "order")
    check(dups == 0, "%d duplicates" % dups)
    print("kafka confluent: %d records, schema id %d under %s-value, decoded by fastavro "
          "with the registry's schema: 0 lost" % (len(recs), ids.pop(), topic))
