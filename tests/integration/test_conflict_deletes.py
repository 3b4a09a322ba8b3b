# SPDX-License-Identifier: Apache-2.0
"""Deletes (issue 12 item 5): the CSV source's op_column turns rows into
deletes (delete, d, D) or upserts (upsert, u, empty...); a row with another
op, or a delete without a key, is dead-lettered with the reason. The
generator's delete_ratio makes about that share of records deletes of keys
it generated before, the same ones for the same seed. A dead-lettered row,
repaired and replayed, keeps the op its op_column says."""
from harness import *

SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas")

with Workdir("deletes") as work:
    # --- CSV op_column -------------------------------------------------
    rows = [("k1", "1", "a", ""), ("k2", "2", "b", "upsert"), ("k1", "3", "a", "delete"),
            ("k3", "4", "c", "u"), ("k2", "5", "b", "D"), ("k3", "6", "c", "d"),
            ("k4", "7", "e", "INSERT"), ("k4", "8", "e", "purge"), ("", "9", "f", "delete")]
    csv = work.write("ops.csv", "id,ver,op,val\n" +
                     "".join("%s,%s,%s,%s\n" % (k, v, op, val) for k, v, val, op in rows))
    cfg = work.write("csv.yaml", """agent:
  data_dir: %s
  schemas_dir: %s
sources:
  - name: items
    type: csv
    stream: item
    schema: item:v1
    path: %s
    op_column: op
    watch: false
sinks:
  - name: files
    type: file
    path: %s
""" % (work.join("data"), SCHEMAS, csv, work.join("out")))
    run(["check", "-c", cfg], check_rc=0)
    # 3: every row read, some dead-lettered
    run(["import", "-c", cfg, "--wait-synced", csv], check_rc=3)
    recs = sorted(read_ndjson_dir(work.join("out")), key=lambda r: r["_seq"])
    got = [(r["id"], r["ver"], r["_op"]) for r in recs]
    want = [("k1", 1, "upsert"), ("k2", 2, "upsert"), ("k1", 3, "delete"),
            ("k3", 4, "upsert"), ("k2", 5, "delete"), ("k3", 6, "delete"),
            ("k4", 7, "upsert")]
    check(got == want, "records %s, expected %s" % (got, want))
    dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                      check_rc=0).stdout.splitlines() if l.strip()]
    check(len(dls) == 2, "%d dead letters: %s" % (len(dls), dls))
    reasons = " | ".join(d["reason"] for d in dls)
    check("'purge'" in reasons and "op_column 'op'" in reasons,
          "no reason names the bad op: %s" % reasons)
    check("without a key" in reasons, "no reason names the keyless delete: %s" % reasons)
    check(any(":9:" in d["location"] for d in dls) and
          any(":10:" in d["location"] for d in dls),
          "dead letters do not name lines 9 and 10: %s" % [d["location"] for d in dls])

    # a repaired row is replayed with its op: a delete stays a delete
    exported = work.join("bad.csv")
    run(["deadletter", "export", "-c", cfg, "-o", exported], check_rc=0)
    with open(exported) as f:
        text = f.read()
    check("k4,8,purge,e" in text, "the exported dead letters lack the raw row: %s" % text)
    fixed = work.write("fixed.csv", text.replace("k4,8,purge,e", "k4,8,D,e"))
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed])
    check(proc.returncode == 3 and "without a key" in proc.stdout,
          "replay: rc %d (3: the keyless delete still fails): %s" % (
              proc.returncode, proc.stdout[-500:]))
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0)
    recs = sorted(read_ndjson_dir(work.join("out")), key=lambda r: r["_seq"])
    check([(r["id"], r["ver"], r["_op"]) for r in recs[len(want):]] ==
          [("k4", 8, "delete")], "replayed: %s" % [(r["id"], r["_op"]) for r in recs])

    # a missing op_column is an error naming it
    bad = work.write("bad.yaml", open(cfg).read().replace(
        "op_column: op", "op_column: operation\n    extra_columns: ignore").replace(work.join("data"),
                                                         work.join("data-bad")))
    proc = run(["import", "-c", bad, csv])
    check(proc.returncode != 0 and "op_column 'operation'" in proc.stderr + proc.stdout,
          "a missing op_column: rc %d, %s" % (proc.returncode, proc.stderr[-500:]))

    # --- generator delete_ratio ----------------------------------------
    N = 4000
    outs = []
    for run_no in range(2):
        gen = generator_config(work, [("orders", "order", "order", 5, N, 0)],
                               work.join("gen-out%d" % run_no))
        text = open(gen).read().replace("    interval: 1s",
                                        "    interval: 1s\n    delete_ratio: 0.1")
        text = text.replace(work.join("data"), work.join("gen-data%d" % run_no))
        gen = work.write("gen%d.yaml" % run_no, text)
        run(["run", "-c", gen, "--exit-when-synced"], check_rc=0)
        outs.append(sorted(read_ndjson_dir(work.join("gen-out%d" % run_no)),
                           key=lambda r: r["_seq"]))
    recs = outs[0]
    check(len(recs) == N, "%d of %d generated records written" % (len(recs), N))
    deletes = [r for r in recs if r["_op"] == "delete"]
    check(0.07 * N <= len(deletes) <= 0.13 * N, "%d deletes in %d records with "
          "delete_ratio 0.1" % (len(deletes), N))
    seen = set()
    for r in recs:
        if r["_op"] == "delete":
            check(r["order_id"] in seen, "delete of key %s, never generated before"
                  % r["order_id"])
        seen.add(r["order_id"])
    check([(r["order_id"], r["_op"]) for r in outs[1]] ==
          [(r["order_id"], r["_op"]) for r in recs],
          "the same seed made other deletes")
    print("deletes: op_column 7 rows in, 2 dead-lettered; generator %d deletes of %d"
          % (len(deletes), N))
