# SPDX-License-Identifier: Apache-2.0
"""JSON sinks see one shape (issue 12 item 6, DESIGN.md §6): records of
schema item v1 and item v2 of one stream, spooled side by side, drain into
a file sink as NDJSON in the shape of v2, the newest version: v2's field
`color`, which v1 records lack, with its default; v1's `val`, which v2
dropped, left out. The avro format keeps each record's writer schema."""
from harness import *

SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas")


def config(work, schema, csv, name):
    return work.write(name + ".yaml", """agent:
  data_dir: %s
  schemas_dir: %s
sources:
  - name: items-%s
    type: csv
    stream: item
    schema: %s
    path: %s
    watch: false
sinks:
  - name: files
    type: file
    path: %s
""" % (work.join("data"), SCHEMAS, name, schema, csv, work.join("out")))


with Workdir("resolve") as work:
    v1 = work.write("v1.csv", "id,ver,val\n" +
                    "".join("a%d,%d,old-%d\n" % (i, i, i) for i in range(50)))
    v2 = work.write("v2.csv", "id,ver,color\n" +
                    "".join("b%d,%d,red\n" % (i, 100 + i) for i in range(50)))
    cfg1 = config(work, "item:v1", v1, "one")
    cfg2 = config(work, "item:v2", v2, "two")
    # both versions in the spool before anything drains
    run(["import", "-c", cfg1, v1], check_rc=0)
    run(["import", "-c", cfg2, v2], check_rc=0)
    run(["run", "-c", cfg2, "--exit-when-synced"], check_rc=0)

    recs = sorted(read_ndjson_dir(work.join("out")), key=lambda r: r["_seq"])
    check(len(recs) == 100, "%d of 100 records written" % len(recs))
    shape = ["id", "ver", "color", "_origin_id", "_seq", "_op", "_version"]
    for r in recs:
        check(list(r) == shape, "record %s has the fields %s, not v2's %s" % (
            r["id"], list(r), shape))
        if r["id"].startswith("a"):
            check(r["color"] == "none", "v1 record %s: color %r, not the default"
                  % (r["id"], r["color"]))
        else:
            check(r["color"] == "red", "v2 record %s: color %r" % (r["id"], r["color"]))
        check(r["_version"] == r["ver"], "record %s: _version %r" % (r["id"],
                                                                     r["_version"]))
    print("resolve: 50 v1 and 50 v2 records written in v2's shape")
