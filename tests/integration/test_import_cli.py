# SPDX-License-Identifier: Apache-2.0
"""`syncagent import` does what its name says (issue 11, item 3):

- the files it is given are left where they are unless --on-done says
  otherwise; the source's own on_done (here: delete) is never applied, even
  to a file outside its glob;
- --on-done delete and move:DIR act on a file read to its end without a
  rejected row, and a file with rejected rows is kept (its dead letters
  point into it);
- it prints `FILE: N accepted, M rejected` for every file, and a total for
  several; exit 0 when every row was accepted, 3 when some went to the
  dead letters;
- a directory stands for the CSV files in it; one without any is refused;
- an empty file never seen before is 0 accepted, 0 rejected, not "already
  imported";
- a file with open dead letters fixed in place (sed -i: a new inode) and
  imported again is spooled whole, the good rows again: import warns and
  names the repair that spools each row once (deadletter export/replay)."""
from harness import *


def users_csv(path, n, seed, bad_rows=()):
    """n generated user rows; the rows (1-based, after the header) in
    bad_rows get an age that is not an int."""
    run(["generate", "--schema", "user:v1", "-n", str(n), "--seed", str(seed),
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", path], check_rc=0)
    with open(path) as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    age = header.index("age")
    for i in bad_rows:
        fields = lines[i].split(",")
        fields[age] = "old"
        lines[i] = ",".join(fields)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def lines_of(proc):
    return [l for l in proc.stdout.splitlines() if l.strip()]


with Workdir("import-cli") as work:
    watched = work.join("watched")
    elsewhere = work.join("elsewhere")
    moved = work.join("moved")
    for d in (watched, elsewhere, moved):
        os.makedirs(d)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
        "sources:", "  - name: users", "    type: csv", "    stream: user",
        "    schema: user:v1", "    path: " + os.path.join(watched, "*.csv"),
        "    watch: false", "    on_done: delete",
        "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out"),
        ""]))

    # The source says on_done: delete; import keeps by default, inside the
    # source's glob and outside it.
    inside = os.path.join(watched, "a.csv")
    outside = os.path.join(elsewhere, "b.csv")
    users_csv(inside, 10, 1)
    users_csv(outside, 20, 2)
    proc = run(["import", "-c", cfg, inside, outside], check_rc=0)
    out = lines_of(proc)
    check(out == ["%s: 10 accepted, 0 rejected" % inside,
                  "%s: 20 accepted, 0 rejected" % outside,
                  "total: 30 accepted, 0 rejected in 2 files"],
          "summary:\n" + proc.stdout + proc.stderr[-2000:])
    check(os.path.exists(inside) and os.path.exists(outside),
          "import applied the source's on_done: delete")

    # Again: nothing spooled twice, and it says so.
    proc = run(["import", "-c", cfg, outside], check_rc=0)
    check(lines_of(proc) == ["%s: 0 accepted, 0 rejected (already imported, nothing "
                             "spooled again)" % outside], "re-import:\n" + proc.stdout)
    check(status_json(cfg)["next_seq"] == 31, "records spooled twice")

    # Rejected rows: exit 3, the counts, and --on-done delete keeps the file
    # with rejected rows but deletes the clean one.
    bad = os.path.join(elsewhere, "c.csv")
    clean = os.path.join(elsewhere, "d.csv")
    users_csv(bad, 12, 3, bad_rows=(2, 7))
    users_csv(clean, 5, 4)
    proc = run(["import", "-c", cfg, "--on-done", "delete", bad, clean], check_rc=3)
    out = lines_of(proc)
    check(out[0] == "%s: 10 accepted, 2 rejected, kept (its dead letters point into "
          "it)" % bad, "bad file line: %r" % out)
    check(out[1] == "%s: 5 accepted, 0 rejected, deleted" % clean,
          "clean file line: %r" % out)
    check(out[2] == "total: 15 accepted, 2 rejected in 2 files", "total: %r" % out)
    check(os.path.exists(bad), "a file with rejected rows was deleted")
    check(not os.path.exists(clean), "--on-done delete kept the clean file")

    # --on-done move:DIR
    mv = os.path.join(elsewhere, "e.csv")
    users_csv(mv, 3, 5)
    proc = run(["import", "-c", cfg, "--on-done", "move:" + moved, mv], check_rc=0)
    check(not os.path.exists(mv) and os.path.exists(os.path.join(moved, "e.csv")),
          "--on-done move: did not move the file:\n" + proc.stdout)
    check("moved to " + os.path.join(moved, "e.csv") in proc.stdout, proc.stdout)
    run(["import", "-c", cfg, "--on-done", "move:" + work.join("nope"), mv], check_rc=2)
    run(["import", "-c", cfg, "--on-done", "shred", mv], check_rc=2)

    # A directory: its *.csv and *.csv.gz files, in name order; other files
    # are left alone. An empty file is read, not "already imported".
    d = work.join("dir")
    os.makedirs(os.path.join(d, "sub"))
    users_csv(os.path.join(d, "2.csv"), 4, 6)
    users_csv(os.path.join(d, "1.csv"), 6, 7)
    with open(os.path.join(d, "1.csv"), "rb") as f:
        data = f.read()
    import gzip
    with gzip.open(os.path.join(d, "3.csv.gz"), "wb") as f:
        f.write(data.replace(b"\n7", b"\n8"))  # other ids, same rows otherwise
    open(os.path.join(d, "0-empty.csv"), "w").close()
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not a csv\n")
    proc = run(["import", "-c", cfg, d], check_rc=0)
    out = lines_of(proc)
    check(out == ["%s: 0 accepted, 0 rejected" % os.path.join(d, "0-empty.csv"),
                  "%s: 6 accepted, 0 rejected" % os.path.join(d, "1.csv"),
                  "%s: 4 accepted, 0 rejected" % os.path.join(d, "2.csv"),
                  "%s: 6 accepted, 0 rejected" % os.path.join(d, "3.csv.gz"),
                  "total: 16 accepted, 0 rejected in 4 files"],
          "directory import:\n" + proc.stdout + proc.stderr[-2000:])
    proc = run(["import", "-c", cfg, os.path.join(d, "sub")], check_rc=2)
    check("without *.csv" in proc.stderr, "empty directory: " + proc.stderr)

    st = status_json(cfg)
    check(st["next_seq"] - 1 == 30 + 15 + 3 + 16,
          "%d records spooled, expected %d" % (st["next_seq"] - 1, 30 + 15 + 3 + 16))
    check(st["deadletters"] == 2 and st["deadletters_open"] == 2,
          "dead letters: %r" % st)
    check("earlier file" not in proc.stderr, "a warning for a file seen once")

    # The repair the issue saw go wrong: the file with rejected rows fixed
    # in place the way sed -i does it (a new file renamed over the old
    # one) and imported again. Every row of it is new to the source, so
    # all are spooled, the 10 good ones again: import says so, and points
    # to deadletter export/replay. Imported unchanged, nothing is said.
    proc = run(["import", "-c", cfg, bad], check_rc=0)
    check("earlier file" not in proc.stderr, "a warning for the same file:\n" +
          proc.stderr)
    users_csv(bad + ".fixed", 12, 3)
    os.rename(bad + ".fixed", bad)
    proc = run(["import", "-c", cfg, bad], check_rc=0)
    check(lines_of(proc) == ["%s: 12 accepted, 0 rejected" % bad], proc.stdout)
    check("%s: 2 open dead letters came from an earlier file of this name" % bad
          in proc.stderr and "deadletter replay" in proc.stderr,
          "no warning for a file fixed in place:\n" + proc.stderr[-2000:])
    print("import cli: keep by default, delete/move, summaries, exit 3, directory, "
          "empty file, a file fixed in place is named")
