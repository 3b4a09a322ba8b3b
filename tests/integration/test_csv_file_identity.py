# SPDX-License-Identifier: Apache-2.0
"""What a new user found in minutes (issue 11, the trust issue): files
imported twice, read again from their start, or cut short without a word.

1. A .csv.gz file imported twice, and watched by `run`, is spooled once.
2. A finished file that grows is read from where it ended, by `import`
   and by a watching `run`: the rows added, never the old ones again.
3. A truncated .csv.gz is set aside with "truncated gzip stream"; the
   cut-off last row is not taken.
4. Dead letters name the file by its absolute path, so `deadletter
   export` works from any directory.
5. on_done move never replaces a file of the same name in the target
   directory (day.csv, then day.1.csv).
6. when_full: reject never refuses rows of a file (they would be lost):
   import stops at a full spool with every committed row counted, exit 1,
   and a second import after the spool drained goes on where it stopped;
   nothing lost, nothing twice.
"""
import gzip
import signal
import time

from harness import *

SCHEMA = '{"type":"record","name":"w","fields":[{"name":"id","type":"int"},' \
         '{"name":"station","type":"string"}]}'


def setup(work, extra_agent="", source_extra="", watch="false"):
    os.makedirs(work.join("schemas", "w"), exist_ok=True)
    os.makedirs(work.join("in"), exist_ok=True)
    work.write("schemas/w/v1.avsc", SCHEMA)
    return work.write("agent.yaml", (
        "agent: {data_dir: %s, schemas_dir: %s}\n%s"
        "sources:\n  - {name: w, type: csv, stream: w, path: \"%s\", watch: %s, "
        "poll_interval: 100ms%s}\n"
        "sinks: [{name: out, type: file, path: %s}]\n") % (
            work.join("data"), work.join("schemas"), extra_agent,
            work.join("in", "*.csv*"), watch, source_extra, work.join("out")))


def rows(a, b):
    return "".join("%d,s%d\n" % (i, i) for i in range(a, b))


def spooled(cfg):
    return status_json(cfg)["next_seq"] - 1


def drained_ids(work):
    return sorted(r["id"] for r in read_ndjson_by_stream(work.join("out")).get("w", []))


# 1. gz: imported once, however often it is named or watched
with Workdir("ident-gz") as work:
    cfg = setup(work)
    path = work.join("in", "a.csv.gz")
    with gzip.open(path, "wt") as f:
        f.write("id,station\n" + rows(0, 500))
    for _ in range(3):
        run(["import", "-c", cfg, path], check_rc=0)
    check(spooled(cfg) == 500, "gz imported %d records from 500 rows" % spooled(cfg))
    cfg = setup(work, watch="true")
    proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stderr=subprocess.DEVNULL)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check(spooled(cfg) == 500, "a watched gz was spooled again: %d" % spooled(cfg))
    print("gz: imported once, also when watched")

# 2. a finished file that grows
with Workdir("ident-grow") as work:
    cfg = setup(work)
    path = work.join("in", "a.csv")
    work.write("in/a.csv", "id,station\n" + rows(0, 100))
    run(["import", "-c", cfg, path], check_rc=0)
    with open(path, "a") as f:
        f.write(rows(100, 150))
    proc = run(["import", "-c", cfg, path], check_rc=0)
    check("50 accepted" in proc.stdout, "the grown file: %s" % proc.stdout)
    check(spooled(cfg) == 150, "grown file: %d records from 150 rows" % spooled(cfg))
with Workdir("ident-grow-watch") as work:
    cfg = setup(work, watch="true")
    proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg], stderr=subprocess.DEVNULL)
    work.write("in/b.csv", "id,station\n" + rows(0, 100))
    time.sleep(1.5)
    with open(work.join("in", "b.csv"), "a") as f:
        f.write(rows(100, 200))
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    ids = drained_ids(work)
    check(ids == list(range(200)), "watched grown file: %d records, %d distinct" % (
        len(ids), len(set(ids))))
    print("grown files: only the rows added are read, by import and by run")

# 3. a truncated gz
with Workdir("ident-trunc") as work:
    cfg = setup(work)
    data = gzip.compress(("id,station\n" + rows(0, 5000)).encode())
    path = work.join("t.csv.gz")
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    proc = run(["import", "-c", cfg, path])
    check(proc.returncode == 1 and "truncated gzip stream" in proc.stdout + proc.stderr,
          "truncated gz: exit %d\n%s%s" % (proc.returncode, proc.stdout, proc.stderr[-800:]))
    n = spooled(cfg)
    print("truncated gz: set aside after %d whole rows" % n)
    check(0 < n < 5000, "truncated gz spooled %d rows" % n)

# 4. absolute paths in dead letters; 5. moves never overwrite
with Workdir("ident-paths") as work:
    cfg = setup(work)
    work.write("bad.csv", "id,station\n1,a\nx,b\n")
    proc = run(["import", "-c", cfg, "bad.csv"], cwd=work.path)
    check(proc.returncode == 3, "bad.csv: exit %d" % proc.returncode)
    dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                      check_rc=0).stdout.splitlines()]
    check(dls and dls[0]["location"].startswith(work.join("bad.csv") + ":"),
          "the dead letter names %r" % (dls[0]["location"] if dls else None))
    os.makedirs(work.join("done"))
    for day in ("monday", "tuesday"):
        work.write("day.csv", "id,station\n1,%s\n" % day)
        run(["import", "-c", cfg, "--on-done", "move:" + work.join("done"),
             work.join("day.csv")], check_rc=0)
    kept = sorted(os.listdir(work.join("done")))
    check(kept == ["day.1.csv", "day.csv"], "done/ holds %s" % kept)
    check("monday" in open(work.join("done", "day.csv")).read(), "monday's file replaced")
    print("absolute dead-letter paths; moves keep both files: %s" % kept)

# 6. when_full: reject keeps a file's rows: import stops, then goes on
with Workdir("ident-full") as work:
    cfg = setup(work, extra_agent="spool: {max_bytes: 300KB, when_full: reject}\n")
    path = work.join("big.csv")
    work.write("big.csv", "id,station\n" + rows(0, 60000))
    total, rounds = 0, 0
    while True:
        proc = run(["import", "-c", cfg, path])
        m = [l for l in proc.stdout.splitlines() if l.startswith(path + ":")]
        check(m, "no summary line: %s" % proc.stdout)
        got = int(m[0].split(": ")[1].split(" accepted")[0])
        total += got
        rounds += 1
        if proc.returncode == 0:
            break
        check(proc.returncode == 1 and "spool is full" in proc.stderr,
              "full spool: exit %d %s" % (proc.returncode, proc.stderr[-500:]))
        check(got > 0 and total == spooled(cfg), "round %d: %d counted, %d spooled" % (
            rounds, total, spooled(cfg)))
        run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
        check(rounds < 50, "no progress")
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    ids = drained_ids(work)
    check(ids == list(range(60000)), "when_full: reject: %d records delivered, %d distinct"
          % (len(ids), len(set(ids))))
    print("when_full: reject: a file's rows wait, %d imports, all 60000 once" % rounds)
