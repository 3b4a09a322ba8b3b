# SPDX-License-Identifier: Apache-2.0
"""ClickHouse table evolution with create_table: true (issue 12): an
agent drains records of schema gadget v1 into a table it creates; then v2
of the subject appears (it adds a string, an int, a nullable double and a
boolean, each with a default) and records of v2 drain into the same
table. The sink must add the four columns (ALTER TABLE ... ADD COLUMN,
the type from the schema, the Avro default as DEFAULT) before inserting,
log each column once, and lose nothing: under FINAL the v1 rows read the
new columns as their defaults, the v2 rows hold their values, nothing is
dead-lettered. A third run with the table up to date alters nothing."""
from clickhouse_harness import *

table = "evolve_gadget"
V1 = {"type": "record", "name": "Gadget", "namespace": "io.syncagent.test",
      "x-key": "id", "x-version": "ver",
      "fields": [{"name": "id", "type": "string"},
                 {"name": "ver", "type": "long"},
                 {"name": "val", "type": "string"}]}
ADDED = [{"name": "color", "type": "string", "default": "it's none"},
         {"name": "size", "type": "int", "default": 7},
         {"name": "weight", "type": ["null", "double"], "default": None},
         {"name": "flag", "type": "boolean", "default": True}]
V2 = dict(V1, fields=V1["fields"] + ADDED)
TYPES = {"color": ("String", "'it\\'s none'"), "size": ("Int32", "7"),
         "weight": ("Nullable(Float64)", "NULL"), "flag": ("UInt8", "1")}

query("DROP TABLE IF EXISTS %s" % table)
with Workdir("ch-evolve") as work:
    os.makedirs(work.join("schemas", "gadget"))
    work.write(os.path.join("schemas", "gadget", "v1.avsc"), json.dumps(V1))

    def config(version):
        return work.write("v%d.yaml" % version, "\n".join([
            "agent:", "  id: evolve", "  data_dir: " + work.join("data"),
            "  schemas_dir: " + work.join("schemas"), "  shutdown_grace: 5s",
            "sources:",
            "  - name: gadgets", "    type: csv", "    stream: gadget",
            "    schema: gadget:v%d" % version, "    path: " + work.join("none-*.csv"),
            "    watch: false",
            "sinks:",
            "  - name: ch", "    type: clickhouse", "    url: " + ch_url(),
            "    table: " + table, "    create_table: true", "    retry_initial: 100ms",
            "    retry_max: 1s"]) + "\n")

    v1_csv = work.write("v1.csv", "id,ver,val\n" + "".join(
        "g%d,%d,old-%d\n" % (i, i, i) for i in range(100)))
    proc = run(["import", "-c", config(1), "--stream", "gadget", "--wait-synced",
                v1_csv], check_rc=0, timeout=120)
    check("clickhouse column added" not in proc.stderr,
          "v1 into a new table altered it:\n%s" % proc.stderr[-2000:])
    cols = [r["name"] for r in rows("SELECT name FROM system.columns WHERE table = '%s'"
                                    % table)]
    check(cols[:3] == ["id", "ver", "val"] and "color" not in cols,
          "the table made for v1 has the columns %r" % cols)

    work.write(os.path.join("schemas", "gadget", "v2.avsc"), json.dumps(V2))
    # keys g50..g149: half of them update v1 keys, half are new
    v2_csv = work.write("v2.csv", "id,ver,val,color,size,weight,flag\n" + "".join(
        "g%d,%d,new-%d,red,%d,%s,false\n" % (i, 1000 + i, i, i,
                                           "%d.5" % i if i % 2 else "")
        for i in range(50, 150)))
    proc = run(["import", "-c", config(2), "--stream", "gadget", "--wait-synced",
                v2_csv], check_rc=0, timeout=120)
    added = [l for l in proc.stderr.splitlines() if "clickhouse column added" in l]
    for name in TYPES:
        n = sum(1 for l in added if "column=%s " % name in l + " ")
        check(n == 1, "column %s: logged %d times:\n%s" % (name, n, "\n".join(added)))
    check(len(added) == len(TYPES), "columns added: %s" % "\n".join(added))

    got_cols = {r["name"]: r for r in rows(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE table = '%s'" % table)}
    for name, (ctype, default) in TYPES.items():
        check(name in got_cols, "column %s was not added: %r" % (name, got_cols))
        c = got_cols[name]
        # the server may wrap the literal: CAST(7, 'Int32')
        check(c["type"] == ctype and c["default_kind"] == "DEFAULT" and
              default in c["default_expression"],
              "column %s: %r, expected %s DEFAULT %s" % (name, c, ctype, default))

    got = {r["id"]: r for r in rows("SELECT id, ver, val, color, size, weight, flag, "
                                    "_deleted FROM %s FINAL" % table)}
    check(len(got) == 150, "FINAL has %d rows for 150 keys" % len(got))
    for i in range(150):
        r = got["g%d" % i]
        if i < 50:
            want = {"ver": i, "val": "old-%d" % i, "color": "it's none", "size": 7,
                    "weight": None, "flag": 1}
        else:
            want = {"ver": 1000 + i, "val": "new-%d" % i, "color": "red", "size": i,
                    "weight": i + 0.5 if i % 2 else None, "flag": 0}
        have = {k: r[k] for k in want}
        check(have == want, "key g%d holds %r, expected %r" % (i, have, want))
    dls = run(["deadletter", "list", "-c", config(2), "--json"], check_rc=0).stdout
    check(dls.strip() == "", "dead letters: %s" % dls[:2000])

    # up to date: a new run alters nothing
    more = work.write("v2b.csv", "id,ver,val,color,size,weight,flag\ng1,5000,x,blue,1,,true\n")
    proc = run(["import", "-c", config(2), "--stream", "gadget", "--wait-synced", more],
               check_rc=0, timeout=120)
    check("clickhouse column added" not in proc.stderr,
          "an up-to-date table was altered again:\n%s" % proc.stderr[-2000:])
    check(scalar("SELECT color FROM %s FINAL WHERE id = 'g1'" % table) == "blue",
          "the last record did not land")
    print("clickhouse table evolution: 100 v1 rows, then 4 columns added for v2 "
          "(each logged once) and 100 v2 rows; v1 rows read the defaults")
