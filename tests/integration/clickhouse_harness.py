# SPDX-License-Identifier: Apache-2.0
"""What the ClickHouse integration tests share: the test server's URL (the
CTest fixture `clickhouse`, tools/testenv/clickhouse), queries over its
HTTP interface, stopping and starting it, and agent configs with a
generator source and one clickhouse sink."""
import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from harness import *

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.getcwd()
CH_DIR = os.path.join(BINARY_DIR, "testenv", "clickhouse")
TESTENV = os.path.join(SOURCE_DIR, "tools", "testenv", "clickhouse")


def ch_url():
    path = os.path.join(CH_DIR, "url")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        fail("no ClickHouse test server (%s: %s): run through ctest, whose fixture "
             "clickhouse.start starts it, or tools/testenv/clickhouse/start %s" % (
                 path, e, CH_DIR))


def query(sql, url=None):
    """The response body of sql; fails the test on an HTTP error."""
    req = urllib.request.Request((url or ch_url()) + "/?" + urllib.parse.urlencode(
        {"output_format_json_quote_64bit_integers": "0"}), data=sql.encode())
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as e:
        fail("ClickHouse refused %r: HTTP %d: %s" % (sql[:200], e.code,
                                                      e.read().decode()[:1000]))


def rows(sql):
    """sql's result as a list of dicts (FORMAT JSONEachRow is appended)."""
    return [json.loads(l) for l in query(sql + " FORMAT JSONEachRow").splitlines()
            if l.strip()]


def scalar(sql):
    return query(sql).strip()


def server_stop(kill=False):
    subprocess.run([os.path.join(TESTENV, "stop")] + (["--kill"] if kill else []) +
                   [CH_DIR], check=True)


def server_start():
    subprocess.run([os.path.join(TESTENV, "start"), CH_DIR], check=True,
                   stdout=subprocess.DEVNULL)


def agent_config(work, table, count, seed, rate=0, sink_extra=(), batch=1000,
                 schema="sensor_reading:v1"):
    """A generator of `count` records of schema into one clickhouse sink `ch`
    writing `table`."""
    stream = schema.split(":")[0]
    lines = ["agent:", "  id: ch-test", "  data_dir: " + work.join("data"),
             "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 5s",
             "batch:", "  max_records: %d" % batch, "  linger: 50ms",
             "sources:",
             "  - name: gen", "    type: generator", "    stream: " + stream,
             "    schema: " + schema, "    seed: %d" % seed, "    count: %d" % count,
             "    start_time: %d" % START_MS, "    interval: 1s"]
    if rate:
        lines.append("    rate: %d" % rate)
    lines += ["sinks:", "  - name: ch", "    type: clickhouse", "    url: " + ch_url(),
              "    table: " + table, "    retry_initial: 100ms", "    retry_max: 1s"]
    lines += ["    " + l for l in sink_extra]
    return work.write("agent.yaml", "\n".join(lines) + "\n")


def table_by_seq(table, columns):
    """A ReplacingMergeTree(_version) ordered by (_origin_id, _seq) with the
    given column definitions: FINAL keeps one row per record, so a count
    under FINAL is the number of distinct records and a count without it
    (before merges) shows the resends."""
    query("DROP TABLE IF EXISTS %s" % table)
    query("CREATE TABLE %s (%s, _origin_id String, _seq UInt64, _version Int64, "
          "_deleted UInt8) ENGINE = ReplacingMergeTree(_version) "
          "ORDER BY (_origin_id, _seq)" % (table, columns))


def count_inserts(table):
    """A materialized view that counts the rows of every block inserted
    into table (it runs on each INSERT, before any merge); returns the SQL
    that reads the count: resends show as more rows than records."""
    query("DROP TABLE IF EXISTS %s_inserted" % table)
    query("CREATE MATERIALIZED VIEW %s_inserted ENGINE = SummingMergeTree ORDER BY k "
          "AS SELECT toUInt8(1) AS k, count() AS n FROM %s" % (table, table))
    return "SELECT sum(n) FROM %s_inserted" % table


# sensor_reading in its newest shape (v2), which the JSON sinks write for
# every version spooled.
SENSOR_COLUMNS = ("device_id String, ts Int64, temperature Float64, humidity Float64, "
                  "battery Int32, status String, city String, firmware Nullable(String), "
                  "pressure Nullable(Float64), calibrated UInt8")


def norm(rec):
    """rec with every float at 15 significant digits: 18.16 parses floats
    from text with its fast parser, which can land one ulp off (7.81 reads
    back as 7.8100000000000005); the generator's values have far fewer
    digits, so this compares them exactly all the same."""
    return {k: float("%.15g" % v) if isinstance(v, float) else v
            for k, v in rec.items()}


def compare_final(table, expected, origin_id, label):
    """The table read with FINAL holds exactly the expected records, one row
    each (compare_stream: nothing missing, extra or different)."""
    got = rows("SELECT * FROM %s FINAL ORDER BY _seq" % table)
    for r in got:
        r.pop("_version", None)
        r.pop("_deleted", None)
    got = [norm(r) for r in got]
    expected = [norm(r) for r in expected]
    dups = compare_stream(got, expected, origin_id, label)
    check(dups == 0, "%s: %d duplicates under FINAL" % (label, dups))
    return len(got)
