# SPDX-License-Identifier: Apache-2.0
"""The central tier downstream of Kafka (DESIGN.md §1): a PySpark Structured
Streaming job that reads the topics the agents' Kafka sinks write and applies
newest-version-wins into Cassandra and OpenSearch.

WHAT IT READS (sync/sink/kafka.c, MESSAGES)

One message per record, read read_committed (exactly_once sinks commit in
transactions). Key: the record's x-key as text (NULL for keyless schemas).
Headers, all text: origin_id, seq, schema_subject, schema_version,
event_time_ms, op (upsert|delete), version (the record's version: its
x-version field, else the agent's hybrid logical clock, ms << 16 | counter;
absent before agents had it: the event time stands in); or, from a sink
with `headers: compact`, the seven in one header, identity =
"1;origin_id;seq;schema_subject;schema_version;event_time_ms;op;version". Value:
  single-object  C3 01, the writer schema's CRC-64-AVRO fingerprint (8 bytes,
                 little-endian), the Avro body: the writer schema is the
                 schemas/<subject>/v<N>.avsc with that fingerprint;
  confluent      00, a 4-byte big-endian Schema Registry id, the body: the
                 writer schema is GET <registry>/schemas/ids/<id>;
  NULL           a delete (op=delete), a tombstone.
Every body is decoded with Spark's from_avro(writer schema) resolved to the
stream's newest schema (the `avroSchema` option: Avro schema resolution), so
v1 and v2 records of one subject land in one table with the newest columns,
nulls or the schema's defaults for what an older version lacks.

ONE MICRO-BATCH (foreachBatch, `process`)

  1. the header fields and the framing become columns (read twice from
     Kafka rather than cached: cheaper, see `process`);
  2. the driver collects the distinct (topic, encoding, schema reference) of
     the batch and resolves each writer schema (schemas directory, then the
     registry; cached), and the newest schema of the topic's subject;
  3. per topic: decode, then give every message either a place (upsert,
     delete) or a dead-letter reason (cached; one pass counts each); create the Cassandra table and the
     OpenSearch index from the newest schema when missing (Cassandra: ALTER
     TABLE ADD for columns a newer version brings);
  4. Cassandra: upserts through the connector with a per-row writetime = the
     version in microseconds (Schema.writetime_sql): the agents' clock as
     its wall-clock ms times 1000 plus its logical counter capped at 999
     (hlc_micros: exact order below 1000 versions per ms and agent),
     timestamp-millis times 1000, timestamp-micros as it is, a plain long
     as it is (no time: its order is kept), the event time of a message
     without a version header times 1000; deletes as `DELETE ... USING
     TIMESTAMP` (the same number): an older write loses whichever order
     they arrive in, within a batch or across batches and restarts;
  5. OpenSearch: _bulk with version_type=external, the version as it came
     (a long: the order is exact), from the executors; a 409
     (a newer or the same version is there) counts as superseded, a 404 on a
     delete as absent; 429 and 5xx are retried, then fail the batch (Spark
     runs it again from the checkpoint); other item errors are dead letters;
  6. dead letters: the message as it came (key, value, headers) plus the
     headers dlq_reason, dlq_topic, dlq_partition, dlq_offset, to the
     dead-letter topic. A bad message never stops the stream. At least
     once: a batch run again after a kill sends its dead letters again
     (Spark's Kafka writer has no transactions); the dlq_* headers tell
     the copies.

Every write is idempotent under newest-version-wins, so a batch that runs
twice (a kill between the writes and the checkpoint's commit) changes
nothing: the checkpoint gives at-least-once, the versions make it exactly
the newest.

Run `syncagent_spark.py --help` (through sync/spark/run) for the options.
"""
import argparse
import base64
import json
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

EXIT_USAGE = 2

DEFAULT_PATTERN = r"edge\..*"
DEFAULT_DEAD_LETTER_TOPIC = "_syncagent.spark.deadletters"
HEADER_FIELDS = ("origin_id", "seq", "schema_subject", "schema_version", "event_time_ms",
                 "op", "version")
RETRY_STATUSES = (429, 500, 502, 503, 504)


class UsageError(Exception):
    """Bad arguments or schemas: exit 2."""


class StartError(Exception):
    """A store or the registry cannot be reached at start: exit 1."""


# --- arguments ------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="sync/spark/run",
        description="Kafka -> Cassandra and OpenSearch, newest version wins: reads the "
        "topics syncagent's Kafka sinks write (read_committed), decodes Avro "
        "single-object and Confluent values, writes Cassandra with writetime = the "
        "version in microseconds and OpenSearch with external versions (the version as "
        "it came); undecodable messages go to a "
        "dead-letter topic.")
    p.add_argument("--bootstrap-servers", required=True, metavar="HOST:PORT[,...]",
                   help="Kafka brokers")
    p.add_argument("--topics", default=DEFAULT_PATTERN, metavar="REGEX",
                   help="subscribePattern (default %(default)s)")
    p.add_argument("--topic-prefix", default="edge.", metavar="TEXT",
                   help="stripped from a topic name to name its stream, table and "
                   "index (default %(default)s)")
    p.add_argument("--schemas", metavar="DIR",
                   help="schemas directory (<subject>/v<N>.avsc): writer schemas of "
                   "single-object values, by fingerprint")
    p.add_argument("--schema-registry", metavar="URL",
                   help="Confluent-compatible registry: writer schemas of Confluent "
                   "values, by id (subject <topic>-value)")
    p.add_argument("--schema-registry-user", default=os.environ.get("SA_REGISTRY_USER"))
    p.add_argument("--schema-registry-password",
                   default=os.environ.get("SA_REGISTRY_PASSWORD"),
                   help="(or SA_REGISTRY_PASSWORD)")
    p.add_argument("--cassandra", metavar="HOST:PORT",
                   help="a Cassandra contact point; tables are created in --keyspace")
    p.add_argument("--keyspace", default="syncagent", help="(default %(default)s)")
    p.add_argument("--replication-factor", type=int, default=1,
                   help="of a keyspace the job creates (default %(default)s)")
    p.add_argument("--opensearch", metavar="URL", help="OpenSearch base URL")
    p.add_argument("--index-prefix", default="", metavar="TEXT",
                   help="prepended to the stream name to name its index")
    p.add_argument("--gc-deletes", default="1h", metavar="DURATION",
                   help="index.gc_deletes of indices the job creates: how long a delete "
                   "keeps its version, so an older upsert replayed within it loses "
                   "(default %(default)s)")
    p.add_argument("--dead-letter-topic", default=DEFAULT_DEAD_LETTER_TOPIC,
                   help="(default %(default)s)")
    p.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="checkpoint directory: a restarted job resumes from it")
    p.add_argument("--starting-offsets", default="earliest",
                   choices=("earliest", "latest"),
                   help="where a new checkpoint starts (default %(default)s)")
    p.add_argument("--trigger", default="5 seconds", metavar="INTERVAL",
                   help="micro-batch interval (default %(default)s)")
    p.add_argument("--available-now", action="store_true",
                   help="batch mode (backfills): process what the topics hold now, in "
                   "micro-batches, then exit")
    p.add_argument("--max-offsets-per-trigger", type=int, metavar="N",
                   help="at most N messages a micro-batch")
    p.add_argument("--master", default="local[2]", help="(default %(default)s)")
    p.add_argument("--driver-memory", default="1g", help="(default %(default)s)")
    p.add_argument("--jars", default=os.environ.get("SA_SPARK_JARS", ""),
                   metavar="JAR[,JAR...]|DIR",
                   help="Kafka, Avro and Cassandra connector jars (or SA_SPARK_JARS)")
    p.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                   help="more Spark settings")
    p.add_argument("--quiet", action="store_true", help="no line per micro-batch")
    args = p.parse_args(argv)
    if not args.cassandra and not args.opensearch:
        raise UsageError("nothing to write to: give --cassandra and/or --opensearch")
    if not args.schemas and not args.schema_registry:
        raise UsageError("no writer schemas: give --schemas and/or --schema-registry")
    if args.schemas and not os.path.isdir(args.schemas):
        raise UsageError("--schemas %s: not a directory" % args.schemas)
    if args.cassandra and not re.fullmatch(r"[^:\s]+(:\d+)?", args.cassandra):
        raise UsageError("--cassandra %s: expected HOST or HOST:PORT" % args.cassandra)
    for name in ("opensearch", "schema_registry"):
        url = getattr(args, name)
        if url and not re.match(r"https?://[^/]", url):
            raise UsageError("--%s %s: expected an http:// or https:// URL"
                             % (name.replace("_", "-"), url))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,47}", args.keyspace):
        raise UsageError("--keyspace %s: letters, digits and _, 48 at most" % args.keyspace)
    if not re.fullmatch(r"\d+(ms|s|m|h|d)", args.gc_deletes):
        raise UsageError("--gc-deletes %s: expected a duration like 60s or 1h"
                         % args.gc_deletes)
    try:
        re.compile(args.topics)
    except re.error as e:
        raise UsageError("--topics %s: %s" % (args.topics, e))
    if args.max_offsets_per_trigger is not None and args.max_offsets_per_trigger < 1:
        raise UsageError("--max-offsets-per-trigger must be at least 1")
    for kv in args.conf:
        if "=" not in kv:
            raise UsageError("--conf %s: expected KEY=VALUE" % kv)
    args.jar_list = jar_list(args.jars)
    return args


def jar_list(spec):
    """A comma list of jars, or a directory whose *.jar are taken."""
    jars = []
    for part in filter(None, spec.split(",")):
        if os.path.isdir(part):
            jars += sorted(os.path.join(part, n) for n in os.listdir(part)
                           if n.endswith(".jar"))
        elif os.path.isfile(part):
            jars.append(part)
        else:
            raise UsageError("--jars: %s does not exist" % part)
    return jars


# --- schemas --------------------------------------------------------------


def avro_type(t):
    """The non-null branch of a nullable union, else t; (type, nullable)."""
    if isinstance(t, list):
        branches = [b for b in t if b != "null"]
        return (branches[0] if len(branches) == 1 else t), len(branches) < len(t)
    return t, False


# store/hlc.h: SA_HLC_LOGICAL_BITS, the low bits of the agent's clock that
# count within one wall-clock ms.
HLC_LOGICAL_BITS = 16


def hlc_micros(v):
    """The Cassandra writetime (microseconds) of a version from the agent's
    hybrid logical clock (store/hlc.h: wall-clock ms << 16 | a logical
    counter): the ms in microseconds, the counter in the sub-ms part,
    capped at 999. The order is exact while fewer than 1000 versions share
    one ms on one agent; from the 1000th on they all get .999 and tie,
    and Cassandra breaks a tie by its cell rule (a delete wins, else the
    greater value), not by the counter. Schema.writetime_sql is the same in
    Spark SQL; the end-to-end test holds one to the other."""
    return (v >> HLC_LOGICAL_BITS) * 1000 + min(v & ((1 << HLC_LOGICAL_BITS) - 1), 999)


class Schema:
    """One Avro schema: its text, subject and version, and what the job needs
    of its attributes (x-key, x-version)."""

    def __init__(self, text, subject, version):
        self.text = text
        self.json = json.loads(text)
        self.subject = subject
        self.version = version
        self.from_registry = False
        if not isinstance(self.json, dict) or self.json.get("type") != "record":
            raise ValueError("the top level is not a record schema")
        self.fields = self.json["fields"]
        self.key = self.json.get("x-key")
        self.version_field = self.json.get("x-version")
        names = [f["name"] for f in self.fields]
        if self.key is not None and self.key not in names:
            raise ValueError("x-key %r names no field" % self.key)

    def field(self, name):
        for f in self.fields:
            if f["name"] == name:
                return f
        return None

    def writetime_sql(self, v):
        """A Spark SQL expression turning the version column `v` into
        Cassandra's writetime, microseconds since the epoch: a writetime
        from the future (the year ~5700, as an agent clock taken as-is
        would be) makes every other writer to the table lose forever and
        keeps tombstones past their gc_grace.
          - the agent's clock (no x-version field): hlc_micros;
          - a timestamp-millis field: times 1000;
          - timestamp-micros: as it is;
          - a plain long (no logicalType): as it is. It is no time, so
            there is nothing to convert it to; the order, which is what
            decides, is kept, but its writetime means nothing as a time
            (and another writer using real times competes with it)."""
        if not self.version_field:
            return "shiftright(%s, %d) * 1000 + least(%s & %d, 999)" % (
                v, HLC_LOGICAL_BITS, v, (1 << HLC_LOGICAL_BITS) - 1)
        f = self.field(self.version_field)
        t, _ = avro_type(f["type"]) if f else (None, False)
        if isinstance(t, dict) and t.get("logicalType") in ("timestamp-millis",
                                                            "local-timestamp-millis"):
            return "%s * 1000" % v
        return v


class Schemas:
    """Writer schemas by fingerprint (schemas directory) or registry id, and
    each subject's newest schema (the reader)."""

    def __init__(self, spark, directory, registry, user, password):
        self.jvm = spark.sparkContext._jvm
        self.registry = registry.rstrip("/") if registry else None
        self.auth = None
        if user:
            self.auth = "Basic " + base64.b64encode(
                ("%s:%s" % (user, password or "")).encode()).decode()
        self.by_fp = {}  # upper-case hex of the 8 little-endian bytes -> Schema
        self.by_id = {}  # (registry id, schema_subject header) -> Schema
        self.newest = {}  # subject -> Schema (directory)
        self.registry_latest = {}  # <topic>-value -> Schema or None
        if directory:
            self.load_directory(directory)

    def fingerprint(self, text):
        parser = self.jvm.org.apache.avro.Schema.Parser()
        fp = self.jvm.org.apache.avro.SchemaNormalization.parsingFingerprint64(
            parser.parse(text))
        return struct.pack("<q", fp).hex().upper()

    def load_directory(self, directory):
        for subject in sorted(os.listdir(directory)):
            sub = os.path.join(directory, subject)
            if not os.path.isdir(sub):
                continue
            for name in sorted(os.listdir(sub)):
                m = re.fullmatch(r"v(\d+)\.avsc", name)
                if not m:
                    continue
                path = os.path.join(sub, name)
                with open(path) as f:
                    text = f.read()
                try:
                    s = Schema(text, subject, int(m.group(1)))
                    fp = self.fingerprint(text)
                except Exception as e:  # the JVM's parse errors are py4j errors
                    raise UsageError("%s: not a usable Avro schema: %s"
                                     % (path, str(e).splitlines()[0]))
                self.by_fp[fp] = s
                cur = self.newest.get(subject)
                if cur is None or s.version > cur.version:
                    self.newest[subject] = s

    def _get(self, path):
        req = urllib.request.Request(self.registry + path)
        if self.auth:
            req.add_header("Authorization", self.auth)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def writer(self, enc, ref, subject=None):
        """The writer schema, or (None, reason). subject: the message's
        schema_subject header, the directory subject of a registry
        schema."""
        if enc == "so":
            s = self.by_fp.get(ref)
            if s is None:
                return None, ("unknown writer schema: fingerprint %s is no "
                              "<subject>/v<N>.avsc of the schemas directory" % ref)
            return s, None
        if (ref, subject) in self.by_id:
            return self.by_id[(ref, subject)], None
        if not self.registry:
            return None, "a Confluent-framed value (schema id %s) and no --schema-registry" % ref
        try:
            got = self._get("/schemas/ids/%d" % int(ref))
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None, "schema id %s: not in the registry" % ref
            raise
        try:
            s = Schema(got["schema"], subject, None)
        except (ValueError, KeyError) as e:
            return None, "schema id %s: %s" % (ref, e)
        s.from_registry = True
        self.by_id[(ref, subject)] = s
        return s, None

    def reader(self, topic, writers, subjects=()):
        """The newest schema for a topic: the newest version in the schemas
        directory of the writers' subject (the schema_subject header names
        it for registry writers too), else the registry's latest version of
        <topic>-value, else the writer with the most fields. The directory
        comes first because it is stable: a registry's latest is the last
        registered, which an agent sending v1 after v2 makes v1."""
        for subject in [w.subject for w in writers] + sorted(filter(None, subjects)):
            if subject in self.newest:
                return self.newest[subject]
        if self.registry and (not writers or any(w.subject is None or w.from_registry
                                                 for w in writers)):
            key = topic + "-value"
            if key not in self.registry_latest:
                try:
                    got = self._get("/subjects/%s/versions/latest" %
                                    urllib.parse.quote(key, safe=""))
                    self.registry_latest[key] = Schema(got["schema"], key, got.get("version"))
                except urllib.error.HTTPError as e:
                    if e.code != 404:
                        raise
                    self.registry_latest[key] = None
            if self.registry_latest[key] is not None:
                return self.registry_latest[key]
        return max(writers, key=lambda w: len(w.fields)) if writers else None


# --- Cassandra -------------------------------------------------------------


def cql_quote(name):
    return '"' + name.replace('"', '""') + '"'


def cql_type(t):
    t, _ = avro_type(t)
    if isinstance(t, str):
        return {"string": "text", "int": "int", "long": "bigint", "float": "float",
                "double": "double", "boolean": "boolean", "bytes": "blob"}.get(t, "text")
    if isinstance(t, dict):
        lt = t.get("logicalType")
        if lt in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis",
                  "local-timestamp-micros"):
            return "timestamp"
        if lt == "date":
            return "date"
        if lt == "decimal":
            return "decimal"
        if lt == "uuid":
            return "text"
        base = t.get("type")
        if base == "enum":
            return "text"
        if base == "fixed":
            return "blob"
        if base == "array":
            inner = cql_type(t["items"])
            return "list<%s>" % inner if inner != "text" or t["items"] in (
                "string", {"type": "string"}) else "text"
        if base in ("string", "int", "long", "float", "double", "boolean", "bytes"):
            return cql_type(base)
    return "text"  # records, maps, unions of several types: JSON text


META_COLUMNS = [("_origin_id", "text"), ("_seq", "bigint"), ("_version", "bigint"),
                ("_event_time", "timestamp")]


class Cassandra:
    """DDL and timestamped deletes through the connector's own session (the
    same contact point and settings as its writes), on the driver."""

    def __init__(self, spark, keyspace, replication):
        jvm = spark.sparkContext._jvm
        conf = spark.sparkContext._jsc.sc().getConf()
        self.connector = jvm.com.datastax.spark.connector.cql.CassandraConnector.apply(conf)
        self.session = self.connector.openSession()
        self.keyspace = keyspace
        self.columns = {}  # table -> {column: cql type}
        self.execute("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                     "{'class': 'SimpleStrategy', 'replication_factor': %d}"
                     % (cql_quote(keyspace), replication))

    def close(self):
        self.session.close()

    def execute(self, cql):
        return self.session.execute(cql)

    def ensure_table(self, table, schema):
        """The table of a stream, with the newest schema's columns; primary
        key x-key, else (_origin_id, _seq). Once per (table, schema) a run:
        CREATE TABLE IF NOT EXISTS, then ALTER TABLE ADD of every column,
        "already exists" being the usual answer (the driver's Row getters
        are default methods, which py4j cannot call, so the job does not
        read system_schema)."""
        if self.columns.get(table) is schema:
            return
        want = [(f["name"], cql_type(f["type"])) for f in schema.fields]
        want += [c for c in META_COLUMNS if c[0] not in dict(want)]
        pk = cql_quote(schema.key) if schema.key else '"_origin_id", "_seq"'
        self.execute("CREATE TABLE IF NOT EXISTS %s.%s (%s, PRIMARY KEY (%s))" % (
            cql_quote(self.keyspace), cql_quote(table),
            ", ".join("%s %s" % (cql_quote(n), t) for n, t in want), pk))
        for n, t in want:
            try:
                self.execute("ALTER TABLE %s.%s ADD %s %s" % (
                    cql_quote(self.keyspace), cql_quote(table), cql_quote(n), t))
            except Exception as e:  # py4j's error: the driver's message inside
                if "already exist" not in str(e) and "conflicts with" not in str(e):
                    raise
        self.columns[table] = schema

    def key_literal(self, schema, text):
        t = cql_type(schema.field(schema.key)["type"])
        if t in ("int", "bigint"):
            if not re.fullmatch(r"-?\d+", text):
                return None
            return text
        if t == "blob":
            return "0x" + text.encode("utf-8", "surrogateescape").hex()
        return "'" + text.replace("'", "''") + "'"

    def delete(self, table, schema, rows):
        """rows: (key text, writetime): DELETE ... USING TIMESTAMP, in
        unlogged batches (each statement keeps its own timestamp). Returns
        the keys that are no literal of the key's type."""
        bad = []
        stmts = []
        for key, ts in rows:
            lit = self.key_literal(schema, key)
            if lit is None:
                bad.append(key)
                continue
            stmts.append("DELETE FROM %s.%s USING TIMESTAMP %d WHERE %s = %s" % (
                cql_quote(self.keyspace), cql_quote(table), ts, cql_quote(schema.key), lit))
        for i in range(0, len(stmts), 50):
            chunk = stmts[i:i + 50]
            self.execute(chunk[0] if len(chunk) == 1 else
                         "BEGIN UNLOGGED BATCH " + "; ".join(chunk) + "; APPLY BATCH")
        return bad


# --- OpenSearch ------------------------------------------------------------


def os_type(t):
    t, _ = avro_type(t)
    if isinstance(t, str):
        return {"string": "keyword", "int": "integer", "long": "long", "float": "float",
                "double": "double", "boolean": "boolean", "bytes": "binary"}.get(t)
    if isinstance(t, dict):
        lt = t.get("logicalType")
        if lt in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis",
                  "local-timestamp-micros"):
            return "date"  # written as epoch milliseconds
        if lt == "date":
            return "date"
        if t.get("type") == "enum":
            return "keyword"
        if t.get("type") in ("string", "int", "long", "float", "double", "boolean",
                             "bytes"):
            return os_type(t["type"])
    return None  # dynamic mapping


def http_json(method, url, body=None, ctype="application/json", timeout=120):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"error": raw.decode(errors="replace")[:500]}


class OpenSearch:
    def __init__(self, url, gc_deletes):
        self.url = url.rstrip("/")
        self.gc_deletes = gc_deletes
        self.ready = {}  # index -> set of mapped fields

    def ensure_index(self, index, schema):
        fields = {f["name"]: os_type(f["type"]) for f in schema.fields}
        # The version is the document's own _version (external).
        fields.update({"_origin_id": "keyword", "_seq": "long", "_event_time": "date"})
        props = {n: ({"type": t, "format": "epoch_millis||strict_date_optional_time"}
                     if t == "date" else {"type": t})
                 for n, t in fields.items() if t}
        if index in self.ready and set(props) <= self.ready[index]:
            return
        st, got = http_json("GET", "%s/%s/_mapping" % (self.url, index))
        if st == 404:
            st, got = http_json("PUT", "%s/%s" % (self.url, index), json.dumps({
                "settings": {"index.gc_deletes": self.gc_deletes},
                "mappings": {"properties": props}}))
            if st >= 300 and "resource_already_exists" not in json.dumps(got):
                raise RuntimeError("creating index %s: HTTP %d %s" % (index, st, got))
        else:
            st, got = http_json("PUT", "%s/%s/_mapping" % (self.url, index),
                                json.dumps({"properties": props}))
            if st >= 300:
                raise RuntimeError("mapping of index %s: HTTP %d %s" % (index, st, got))
        self.ready[index] = set(props)


def bulk_partition(url, index, rows, max_items=1000, attempts=6):
    """An executor's share of one index: _bulk with external versions.
    Returns [(indexed, deleted, superseded, absent, [(id, reason)])]."""
    counts = [0, 0, 0, 0]
    failed = []
    chunk = []

    def flush(items):
        pending = items
        for attempt in range(attempts):
            body = []
            for doc_id, version, op, doc in pending:
                meta = {"_index": index, "_id": doc_id, "version": version,
                        "version_type": "external"}
                if op == "delete":
                    body.append(json.dumps({"delete": meta}))
                else:
                    body.append(json.dumps({"index": meta}))
                    body.append(doc)
            st, got = http_json("POST", url + "/_bulk", "\n".join(body) + "\n",
                                "application/x-ndjson")
            if st in RETRY_STATUSES:
                time.sleep(0.2 * 2 ** attempt)
                continue
            if st >= 300 or not isinstance(got, dict) or "items" not in got:
                raise RuntimeError("_bulk to %s: HTTP %d %s" % (url, st, str(got)[:500]))
            retry = []
            for item, res in zip(pending, got["items"]):
                (kind, r), = res.items()
                status = r.get("status", 0)
                if status < 300:
                    counts[1 if kind == "delete" else 0] += 1
                elif status == 409:
                    counts[2] += 1
                elif status == 404 and kind == "delete":
                    counts[3] += 1
                elif status in RETRY_STATUSES:
                    retry.append(item)
                else:
                    err = r.get("error", {})
                    failed.append((item[0], "OpenSearch %d %s: %s" % (
                        status, err.get("type", ""), err.get("reason", ""))))
            if not retry:
                return
            pending = retry
            time.sleep(0.2 * 2 ** attempt)
        raise RuntimeError("_bulk to %s: %d items still refused (429/5xx) after %d "
                           "attempts" % (url, len(pending), attempts))

    for row in rows:
        chunk.append((row[0], row[1], row[2], row[3]))
        if len(chunk) >= max_items:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    return [(counts[0], counts[1], counts[2], counts[3], failed)]


# --- the job ---------------------------------------------------------------


def stream_name(topic, prefix):
    name = topic[len(prefix):] if prefix and topic.startswith(prefix) else topic
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    if not re.match(r"[A-Za-z]", name):
        name = "s_" + name
    return name[:48]


class Job:
    def __init__(self, spark, args):
        self.spark = spark
        self.args = args
        self.schemas = Schemas(spark, args.schemas, args.schema_registry,
                               args.schema_registry_user, args.schema_registry_password)
        self.cassandra = self.opensearch = None
        for name, url in (("OpenSearch", args.opensearch),
                          ("the schema registry", args.schema_registry and
                           args.schema_registry.rstrip("/") + "/subjects")):
            if not url:
                continue
            try:
                st, got = http_json("GET", url, timeout=30)
            except (OSError, ValueError) as e:
                raise StartError("cannot reach %s at %s: %s" % (name, url, e))
            if st >= 300:
                raise StartError("%s at %s answers HTTP %d: %s" % (name, url, st,
                                                                  str(got)[:300]))
        if args.cassandra:
            try:
                self.cassandra = Cassandra(spark, args.keyspace, args.replication_factor)
            except Exception as e:  # py4j's error: the driver's message inside
                lines = [l for l in str(e).splitlines() if "Exception" in l]
                raise StartError("cannot use Cassandra at %s: %s" % (
                    args.cassandra, (lines or str(e).splitlines() or ["?"])[0].strip()))
        if args.opensearch:
            self.opensearch = OpenSearch(args.opensearch, args.gc_deletes)
        try:
            self.jvm_pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
        except Exception:  # noqa: BLE001 - only the CPU figure depends on it
            self.jvm_pid = None
        self.readers = {}  # topic -> the newest schema it was written with
        self.totals = {"messages": 0, "upserts": 0, "deletes": 0, "dead_letters": 0,
                       "superseded": 0}

    def cpu_seconds(self):
        """CPU seconds of the driver: its JVM (in local mode, the executors
        too) and this process; None where /proc cannot tell."""
        try:
            with open("/proc/%d/stat" % self.jvm_pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            return None
        return ((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") +
                sum(os.times()[:2]))

    def framed(self, df):
        """Header fields and the value's framing as columns."""
        from pyspark.sql import functions as F
        cols = [F.col("topic"), F.col("partition"), F.col("offset"), F.col("key"),
                F.col("value"), F.col("headers"),
                F.col("key").cast("string").alias("_key")]
        # `headers: compact` sends the seven in one header, "identity":
        # 1;origin_id;seq;schema_subject;schema_version;event_time_ms;op;version
        ident = F.split(F.expr("CAST(element_at(filter(headers, h -> h.key = 'identity'),"
                               " -1).value AS STRING)"), ";")
        compact = (F.size(ident) == 8) & (F.element_at(ident, 1) == "1")
        for i, h in enumerate(HEADER_FIELDS):
            cols.append(F.coalesce(
                F.expr("CAST(element_at(filter(headers, h -> h.key = '%s'), -1)"
                       ".value AS STRING)" % h),
                F.when(compact, F.element_at(ident, i + 2))).alias("_h_" + h))
        v = F.col("value")
        enc = (F.when(v.isNull(), F.lit(None))
               .when((F.length(v) >= 10) & (F.substring(v, 1, 2) == F.unhex(F.lit("C301"))),
                     F.lit("so"))
               .when((F.length(v) >= 5) & (F.substring(v, 1, 1) == F.unhex(F.lit("00"))),
                     F.lit("cf")))
        ref = (F.when(enc == "so", F.hex(F.substring(v, 3, 8)))
               .when(enc == "cf", F.conv(F.hex(F.substring(v, 2, 4)), 16, 10)))
        return df.select(*cols).withColumn("_enc", enc).withColumn("_ref", ref)

    def process(self, batch_df, batch_id):
        from pyspark import StorageLevel
        from pyspark.sql import functions as F
        started, cpu0 = time.time(), self.cpu_seconds()
        # The schema references need only the framing: Spark reads just
        # those columns. The decoded topic is cached (process_topic), not
        # this: caching every message's value and headers cost more than
        # reading the batch from Kafka again, unless several topics each
        # read it.
        b = self.framed(batch_df)
        refs = b.groupBy("topic", "_enc", "_ref", "_h_schema_subject").count().collect()
        topics = sorted({r["topic"] for r in refs})
        if len(topics) > 1:
            b = b.persist(StorageLevel.MEMORY_AND_DISK)
        stats = {"batch": batch_id, "messages": sum(r["count"] for r in refs),
                 "upserts": 0, "deletes": 0, "dead_letters": 0, "superseded": 0,
                 "absent": 0}
        try:
            for topic in topics:
                self.process_topic(b, topic, [r for r in refs if r["topic"] == topic],
                                   stats)
        finally:
            if len(topics) > 1:
                b.unpersist()
        for k in self.totals:
            self.totals[k] += stats.get(k, 0)
        stats["seconds"] = round(time.time() - started, 3)
        if cpu0 is not None:
            stats["cpu_seconds"] = round(self.cpu_seconds() - cpu0, 3)
        if not self.args.quiet and stats["messages"]:
            print("batch " + json.dumps(stats, sort_keys=True), flush=True)

    def process_topic(self, b, topic, refs, stats):
        from pyspark.sql import functions as F
        from pyspark.sql.avro.functions import from_avro
        writers, unknown = {}, {}
        for r in refs:
            if r["_enc"] is None:
                continue
            s, why = self.schemas.writer(r["_enc"], r["_ref"], r["_h_schema_subject"])
            if s is None:
                unknown[(r["_enc"], r["_ref"])] = why
            else:
                writers[(r["_enc"], r["_ref"])] = s
        t = b.filter(F.col("topic") == topic)
        # A batch of deletes only has no writer schema: the subject header,
        # or the reader this topic had before, names the table.
        reader = self.schemas.reader(topic, list(writers.values()),
                                     {r["_h_schema_subject"] for r in refs}) \
            or self.readers.get(topic)
        if reader is not None:
            self.readers[topic] = reader
        # Every message gets a reason (dead letter) or none (applied).
        op = F.col("_h_op")
        version = F.coalesce(F.col("_h_version"), F.col("_h_event_time_ms"))
        decoded = F.lit(None)
        if reader is not None:
            dec = None
            for (enc, ref), w in writers.items():
                body = F.expr("substring(value, %d)" % (11 if enc == "so" else 6))
                e = from_avro(body, w.text, {"mode": "PERMISSIVE", "avroSchema": reader.text})
                cond = (F.col("_enc") == enc) & (F.col("_ref") == ref)
                dec = F.when(cond, e) if dec is None else dec.when(cond, e)
            # no writer (deletes only): a null of the reader's record type
            decoded = dec if dec is not None else from_avro(F.lit(None).cast("binary"),
                                                            reader.text)
        # The first that applies: the framing and the body, then the headers.
        has_value = F.col("value").isNotNull()
        reason = F.when(has_value & F.col("_enc").isNull(), F.concat(
            F.lit("not Avro: the value starts with 0x"),
            F.hex(F.substring(F.col("value"), 1, 4)),
            F.lit(", neither single-object (C3 01 + fingerprint) nor Confluent (00 + "
                  "schema id)")))
        for (enc, ref), why in unknown.items():
            reason = reason.when(has_value & (F.col("_enc") == enc) & (F.col("_ref") == ref),
                                 F.lit(why))
        if reader is not None:
            # PERMISSIVE from_avro gives a record of nulls for a body that
            # does not decode (Spark 3.5), not a null.
            every = None
            for f in reader.fields:
                c = decoded.getField(f["name"]).isNull()
                every = c if every is None else every & c
            reason = reason.when(has_value & (decoded.isNull() | every), F.concat(
                F.lit("the Avro body does not decode with its writer schema ("),
                F.when(F.col("_enc") == "so", F.concat(F.lit("fingerprint "), F.col("_ref")))
                .otherwise(F.concat(F.lit("registry id "), F.col("_ref"))), F.lit(")")))
            if reader.key:
                # a null primary key would fail the whole Cassandra write
                reason = reason.when(has_value & decoded.getField(reader.key).isNull(),
                                     F.lit("the key field %s is null" % reader.key))
        reason = reason.when(op.isNull() | ~op.isin("upsert", "delete"), F.concat(
            F.lit("op header is "), F.coalesce(F.concat(F.lit("'"), op, F.lit("'")),
                                                F.lit("missing")),
            F.lit(": expected upsert or delete")))
        reason = reason.when((op == "delete") & F.col("_key").isNull(),
                             F.lit("a delete without a key"))
        reason = reason.when((op == "upsert") & ~has_value,
                             F.lit("an upsert without a value"))
        reason = reason.when(version.isNull() | ~version.rlike(r"^-?[0-9]+$"),
                             F.lit("no numeric version (nor event_time_ms) header"))
        t = t.withColumn("_rec", decoded).withColumn("_reason", reason) \
             .withColumn("_ver", version.cast("long"))
        from pyspark import StorageLevel
        t = t.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            # One pass counts every outcome; the writes skip what is absent.
            n = {"bad": 0, "upsert": 0, "delete": 0}
            for r in t.groupBy(F.col("_reason").isNull().alias("ok"), "_h_op").count() \
                      .collect():
                n[r["_h_op"] if r["ok"] else "bad"] += r["count"]
            if n["bad"]:
                self.dead_letter(t.filter(F.col("_reason").isNotNull()), n["bad"], stats)
            stats["upserts"] += n["upsert"]
            stats["deletes"] += n["delete"]
            if reader is None and (n["upsert"] or n["delete"]):
                # deletes alone, of a subject no schema names: kept unapplied
                # would be a silent loss; failing the batch says it
                raise RuntimeError(
                    "topic %s: %d deletes and no schema to find their table by (no "
                    "schema_subject header of the schemas directory, no registry "
                    "subject %s-value)" % (topic, n["delete"], topic))
            if not (n["upsert"] or n["delete"]):
                return
            good = t.filter(F.col("_reason").isNull())
            name = stream_name(topic, self.args.topic_prefix)
            if self.cassandra:
                self.to_cassandra(good, name, reader, n)
            if self.opensearch:
                self.to_opensearch(good, (self.args.index_prefix + name).lower(), reader,
                                   stats)
        finally:
            t.unpersist()

    def record_columns(self, reader, for_json):
        """The reader's fields from _rec, shaped for the store, then the
        identity columns."""
        from pyspark.sql import functions as F
        cols = []
        for f in reader.fields:
            c = F.col("_rec").getField(f["name"])
            t, _ = avro_type(f["type"])
            lt = t.get("logicalType") if isinstance(t, dict) else None
            if for_json and lt and lt.startswith(("timestamp", "local-timestamp")):
                c = F.unix_millis(c)
            elif not for_json and cql_type(f["type"]) == "text" and not (
                    t in ("string",) or (isinstance(t, dict) and (
                        t.get("type") in ("enum", "string") or lt == "uuid"))):
                c = F.to_json(c)
            cols.append(c.alias(f["name"]))
        cols += [F.col("_h_origin_id").alias("_origin_id"),
                 F.col("_h_seq").cast("long").alias("_seq")]
        if not for_json:  # OpenSearch has it as the document's _version
            cols.append(F.col("_ver").alias("_version"))
        if for_json:
            cols.append(F.col("_h_event_time_ms").cast("long").alias("_event_time"))
        else:
            cols.append(F.timestamp_millis(F.col("_h_event_time_ms").cast("long"))
                        .alias("_event_time"))
        return cols

    def to_cassandra(self, good, table, reader, n):
        from pyspark.sql import functions as F
        self.cassandra.ensure_table(table, reader)
        # Without a version header the event time (ms) stands in.
        wt = F.when(F.col("_h_version").isNull(), F.col("_ver") * 1000) \
              .otherwise(F.expr(reader.writetime_sql("_ver")))
        if n["upsert"]:
            ups = good.filter(F.col("_h_op") == "upsert").select(
                *self.record_columns(reader, False), wt.alias("sa_writetime"))
            (ups.write.format("org.apache.spark.sql.cassandra")
             .options(keyspace=self.args.keyspace, table=table, writetime="sa_writetime")
             .mode("append").save())
        dels = good.filter(F.col("_h_op") == "delete").select("_key", wt.alias("wt")) \
            .collect() if n["delete"] else []
        if dels and reader.key:
            bad = self.cassandra.delete(table, reader, [(r["_key"], r["wt"]) for r in dels])
            if bad:
                print("cassandra %s: %d delete keys are no %s literal, e.g. %r" % (
                    table, len(bad), reader.key, bad[0]), file=sys.stderr)

    def to_opensearch(self, good, index, reader, stats):
        from pyspark.sql import functions as F
        self.opensearch.ensure_index(index, reader)
        doc_id = F.col("_key") if reader.key else F.concat(
            F.col("_h_origin_id"), F.lit(":"), F.col("_h_seq"))
        rows = good.select(doc_id.alias("id"), F.col("_ver").alias("version"),
                           F.col("_h_op").alias("op"),
                           F.when(F.col("_h_op") == "upsert", F.to_json(F.struct(
                               *self.record_columns(reader, True)))).alias("doc"))
        url = self.opensearch.url
        results = rows.rdd.map(tuple).mapPartitions(
            lambda it: bulk_partition(url, index, it)).collect()
        failed = []
        for indexed, deleted, superseded, absent, fails in results:
            stats["superseded"] += superseded
            stats["absent"] += absent
            failed += fails
        if failed:
            self.dead_letter_items(index, failed, stats)

    def dead_letter(self, bad, count, stats):
        from pyspark.sql import functions as F
        out = bad.select(
            F.col("key"), F.col("value"),
            F.concat(F.coalesce(F.col("headers"), F.array()), F.array(
                F.struct(F.lit("dlq_reason").alias("key"),
                         F.col("_reason").cast("binary").alias("value")),
                F.struct(F.lit("dlq_topic").alias("key"),
                         F.col("topic").cast("binary").alias("value")),
                F.struct(F.lit("dlq_partition").alias("key"),
                         F.col("partition").cast("string").cast("binary").alias("value")),
                F.struct(F.lit("dlq_offset").alias("key"),
                         F.col("offset").cast("string").cast("binary").alias("value"))))
            .alias("headers"))
        (out.write.format("kafka")
         .option("kafka.bootstrap.servers", self.args.bootstrap_servers)
         .option("topic", self.args.dead_letter_topic).save())
        stats["dead_letters"] += count

    def dead_letter_items(self, index, failed, stats):
        """Documents OpenSearch refused for good: their id and the reason."""
        rows = [(i.encode(), json.dumps({"index": index, "id": i, "reason": why}).encode(),
                 [("dlq_reason", why.encode()), ("dlq_index", index.encode())])
                for i, why in failed]
        df = self.spark.createDataFrame(
            rows, "key binary, value binary, headers array<struct<key:string,value:binary>>")
        (df.write.format("kafka")
         .option("kafka.bootstrap.servers", self.args.bootstrap_servers)
         .option("topic", self.args.dead_letter_topic).save())
        stats["dead_letters"] += len(rows)

    def run(self):
        a = self.args
        reader = (self.spark.readStream.format("kafka")
                  .option("kafka.bootstrap.servers", a.bootstrap_servers)
                  .option("subscribePattern", a.topics)
                  .option("kafka.isolation.level", "read_committed")
                  .option("startingOffsets", a.starting_offsets)
                  .option("includeHeaders", "true")
                  .option("failOnDataLoss", "true"))
        if a.max_offsets_per_trigger:
            reader = reader.option("maxOffsetsPerTrigger", a.max_offsets_per_trigger)
        w = (reader.load().writeStream.foreachBatch(self.process)
             .option("checkpointLocation", a.checkpoint))
        w = w.trigger(availableNow=True) if a.available_now else \
            w.trigger(processingTime=a.trigger)
        q = w.start()
        try:
            q.awaitTermination()
        finally:
            if self.cassandra:
                self.cassandra.close()
        if not a.quiet:
            print("done " + json.dumps(self.totals, sort_keys=True), flush=True)


def spark_session(args):
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    b = (SparkSession.builder.appName("syncagent-spark").master(args.master)
         .config("spark.driver.memory", args.driver_memory)
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.streaming.forceDeleteTempCheckpointLocation", "true"))
    if args.jar_list:
        b = b.config("spark.jars", ",".join(args.jar_list))
    if args.cassandra:
        host, _, port = args.cassandra.partition(":")
        b = b.config("spark.cassandra.connection.host", host)
        if port:
            b = b.config("spark.cassandra.connection.port", port)
    for kv in args.conf:
        k, _, v = kv.partition("=")
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SA_SPARK_LOG_LEVEL", "WARN"))
    return spark


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        print("sync/spark/run: %s (see --help)" % e, file=sys.stderr)
        return EXIT_USAGE
    try:
        import pyspark  # noqa: F401
    except ImportError:
        print("sync/spark/run: pyspark is not installed in %s: run "
              "tools/testenv/spark/fetch, or set SA_SPARK_PYTHON" % sys.executable,
              file=sys.stderr)
        return EXIT_USAGE
    spark = spark_session(args)
    try:
        job = Job(spark, args)
        job.run()
    except UsageError as e:
        print("sync/spark/run: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except StartError as e:
        print("sync/spark/run: %s" % e, file=sys.stderr)
        return 1
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
