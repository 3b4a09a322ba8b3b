# SPDX-License-Identifier: Apache-2.0
"""NaN and the infinities from a CSV file into ClickHouse (issue 16's
decision, README "NaN and infinities"): the CSV source takes them in any
case for a double; the JSON encoder writes them as null; ClickHouse 18.16
stores that null as nan in a Float64 column and as NULL in a
Nullable(Float64) one. A finite value goes through as written."""
from clickhouse_harness import *

table = "csv_nan"
SCHEMA = {"type": "record", "name": "Reading", "namespace": "io.syncagent.test",
          "x-key": "id",
          "fields": [{"name": "id", "type": "string"},
                     {"name": "d", "type": "double"},
                     {"name": "dn", "type": ["null", "double"], "default": None}]}
VALUES = ["NaN", "nan", "Infinity", "-Infinity", "INF", "-inf", "2.5"]

query("DROP TABLE IF EXISTS %s" % table)
with Workdir("ch-nan") as work:
    os.makedirs(work.join("schemas", "reading"))
    work.write(os.path.join("schemas", "reading", "v1.avsc"), json.dumps(SCHEMA))
    data = work.write("in.csv", "id,d,dn\n" + "".join(
        "r%d,%s,%s\n" % (i, v, v) for i, v in enumerate(VALUES)))
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  id: nan", "  data_dir: " + work.join("data"),
        "  schemas_dir: " + work.join("schemas"),
        "sources:", "  - name: readings", "    type: csv", "    stream: reading",
        "    path: " + data, "    watch: false",
        "sinks:", "  - name: ch", "    type: clickhouse", "    url: " + ch_url(),
        "    table: " + table, "    create_table: true"]) + "\n")
    proc = run(["import", "-c", cfg, "--stream", "reading", "--wait-synced", data],
               timeout=120)
    check(proc.returncode == 0, "import exited %d:\n%s" % (proc.returncode,
                                                           proc.stderr[-3000:]))
    got = {r["id"]: r for r in rows(
        "SELECT id, toString(d) AS d_text, isNaN(d) AS d_nan, isNull(dn) AS dn_null, "
        "toString(dn) AS dn_text FROM %s FINAL" % table)}
    check(sorted(got) == sorted("r%d" % i for i in range(len(VALUES))),
          "rows in ClickHouse: %r" % sorted(got))
    for i, v in enumerate(VALUES):
        r = got["r%d" % i]
        if v == "2.5":
            want = {"d_text": "2.5", "d_nan": 0, "dn_null": 0, "dn_text": "2.5"}
        else:
            want = {"d_text": "nan", "d_nan": 1, "dn_null": 1}
        have = {k: r[k] for k in want}
        check(have == want, "%s (%s): %r, expected %r" % ("r%d" % i, v, have, want))
    print("clickhouse NaN: %d rows, NaN and infinities nan in Float64, NULL in "
          "Nullable(Float64)" % len(VALUES))
