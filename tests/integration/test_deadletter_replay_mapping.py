# SPDX-License-Identifier: Apache-2.0
"""`deadletter replay` maps a row's columns as its source does: by the
source's columns: (a file without header, semicolons), else by the header
of the file the row came from; when that file is gone and the source has
no columns:, it refuses and asks for --header, which then names them.
`deadletter export --stream/--source` take only those dead letters."""
import csv

from harness import *
from dl_common import spool_sql


def gen(path, n, seed):
    run(["generate", "--schema", "user:v1", "-n", str(n), "--seed", str(seed),
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", path], check_rc=0)
    with open(path) as f:
        return f.read().splitlines()


def export(cfg, path, *args):
    run(["deadletter", "export", "-c", cfg, "-o", path] + list(args), check_rc=0)
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_fixed(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["id", "source", "location", "reason",
                                          "last_replay_error", "raw"])
        w.writeheader()
        w.writerows(rows)


with Workdir("dl-mapping") as work:
    a_dir, b_dir = work.join("a"), work.join("b")
    os.makedirs(a_dir)
    os.makedirs(b_dir)
    # Source a: a header. Source b: no header, columns: in another order than
    # the schema's, semicolons.
    a = os.path.join(a_dir, "a.csv")
    lines = gen(a, 4, 1)
    names = lines[0].split(",")
    age = names.index("age")
    good_a = lines[2]
    f = lines[2].split(",")
    f[age] = "old"
    lines[2] = ",".join(f)
    with open(a, "w") as fh:
        fh.write("\n".join(lines) + "\n")

    b = os.path.join(b_dir, "b.csv")
    blines = gen(work.join("b-src.csv"), 3, 2)
    order = list(reversed(names))
    rows_b = [dict(zip(names, l.split(","))) for l in blines[1:]]
    good_b = ";".join(rows_b[1][n] for n in order)
    rows_b[1]["age"] = "older"
    with open(b, "w") as fh:
        for r in rows_b:
            fh.write(";".join(r[n] for n in order) + "\n")

    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
        "sources:",
        "  - name: with_header", "    type: csv", "    stream: user", "    schema: user:v1",
        "    path: " + os.path.join(a_dir, "*.csv"), "    watch: false",
        "  - name: with_columns", "    type: csv", "    stream: user2",
        "    schema: user:v1", "    path: " + os.path.join(b_dir, "*.csv"),
        "    watch: false", "    header: false", "    delimiter: semicolon",
        "    columns: [%s]" % ", ".join(order), ""]))
    run(["import", "-c", cfg, "--stream", "user", a], check_rc=3)
    run(["import", "-c", cfg, "--stream", "user2", b], check_rc=3)

    rows = export(cfg, work.join("all.csv"))
    check(len(rows) == 2, "export: %r" % rows)
    check(len(export(cfg, work.join("s.csv"), "--stream", "user2")) == 1, "--stream")
    only = export(cfg, work.join("src.csv"), "--source", "with_header")
    check(len(only) == 1 and only[0]["source"] == "with_header", "--source: %r" % only)
    check(export(cfg, work.join("none.csv"), "--stream", "nope") == [], "--stream nope")

    # Both input files gone: b's columns come from the config; a's header
    # was in its file and, for a dead letter that does not carry it (an
    # older syncagent's), replay asks for --header.
    os.remove(a)
    os.remove(b)
    spool_sql(work, "UPDATE deadletters SET header = NULL", ())
    for r in rows:
        r["raw"] = good_a if r["source"] == "with_header" else good_b
    fixed = work.join("fixed.csv")
    write_fixed(fixed, rows)
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=2)
    check("--header" in proc.stderr and a in proc.stderr,
          "no request for --header:\n" + proc.stdout + proc.stderr)
    st = status_json(cfg)
    check(st["deadletters_open"] == 2 and st["next_seq"] == 6,
          "a refused replay changed the spool: %r" % st)

    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed, "--header",
                ",".join(names)], check_rc=0)
    check("replayed 2 dead letters, 0 still fail" in proc.stdout,
          proc.stdout + proc.stderr)
    st = status_json(cfg)
    check(st["deadletters_open"] == 0 and st["next_seq"] == 8, "status: %r" % st)
    print("deadletter replay: columns:, --header when the file is gone, export filters")
