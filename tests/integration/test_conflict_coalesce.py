# SPDX-License-Identifier: Apache-2.0
"""Conflict handling, coalesce (issue 12): a spooled backlog holding ten
versions of every key (x-version field `ver`, rows interleaved the way a
busy table's changes are) drains into two file sinks at once. With
`coalesce: true` at most 1.2 versions per key are written and the newest
version of every key is among them, the others acknowledged as superseded
and counted in `status`; without it every version is written.

Also checks `_version` (the x-version value) on every line, and that
records without a key are never coalesced."""
from harness import *

SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas")
KEYS = 300
VERSIONS = 10

with Workdir("coalesce") as work:
    rows = ["id,ver,val"]
    for v in range(1, VERSIONS + 1):
        for k in range(KEYS):
            rows.append("k%d,%d,k%d-v%d" % (k, v * 1000 + k, k, v))
    # keyless records: ten with the same (empty) key, all must arrive. (The
    # lines have item v2's shape, the newest in the schemas directory: val
    # is dropped, so the version is told by ver.)
    for i in range(10):
        rows.append(",%d,nokey-%d" % (i, i))
    csv = work.write("items.csv", "\n".join(rows) + "\n")
    n_rows = len(rows) - 1
    cfg = work.write("agent.yaml", """agent:
  data_dir: %s
  schemas_dir: %s
batch:
  max_records: 200
sources:
  - name: items
    type: csv
    stream: item
    schema: item:v1
    path: %s
    watch: false
sinks:
  - name: newest
    type: file
    path: %s
    coalesce: true
    coalesce_window: 1000
  - name: all
    type: file
    path: %s
""" % (work.join("data"), SCHEMAS, csv, work.join("out-newest"), work.join("out-all")))
    run(["check", "-c", cfg], check_rc=0)
    # The backlog: spooled with no sink running.
    run(["import", "-c", cfg, csv], check_rc=0)
    st = status_json(cfg)
    check(st["streams"][0]["records"] == n_rows, "spooled %r" % st["streams"])
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0)

    st = status_json(cfg)
    check(st["next_seq"] == n_rows + 1, "next_seq %d: the run spooled the file again"
          % st["next_seq"])
    sinks = {s["sink"]: s for s in st["sinks"]}
    newest = read_ndjson_dir(work.join("out-newest"))
    every = read_ndjson_dir(work.join("out-all"))

    # without coalesce: every version, each once, with its x-version value
    check(len(every) == n_rows, "sink all wrote %d of %d records" % (len(every), n_rows))
    check(len({r["_seq"] for r in every}) == n_rows, "sink all: duplicates")
    for r in every:
        check(r["_version"] == r["ver"], "_version %r is not the x-version field %r"
              % (r["_version"], r["ver"]))
    check(sinks["all"]["superseded"] == 0, "sink all counted %d superseded"
          % sinks["all"]["superseded"])

    # with coalesce: the newest of every key, about one version per key
    keyed = [r for r in newest if r["id"]]
    keyless = [r for r in newest if not r["id"]]
    check(len(keyless) == 10, "%d of 10 keyless records written" % len(keyless))
    per_key = {}
    for r in keyed:
        per_key.setdefault(r["id"], []).append(r)
    check(len(per_key) == KEYS, "%d of %d keys written" % (len(per_key), KEYS))
    for k, recs in per_key.items():
        n = int(k[1:])
        best = max(r["ver"] for r in recs)
        check(best == VERSIONS * 1000 + n, "key %s: newest written is ver %d" % (k, best))
    ratio = len(keyed) / KEYS
    check(ratio <= 1.2, "coalesce wrote %.2f versions per key" % ratio)
    sup = sinks["newest"]["superseded"]
    check(sup == n_rows - len(newest), "status shows %d superseded, %d were not written"
          % (sup, n_rows - len(newest)))
    check(sinks["newest"]["lag_records"] == 0, "sink newest lags")
    print("coalesce: %d records, %d keys x %d versions: %d written (%.2f per key), "
          "%d superseded; without coalesce %d written" % (
              n_rows, KEYS, VERSIONS, len(newest), ratio, sup, len(every)))
