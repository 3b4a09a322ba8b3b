# SPDX-License-Identifier: Apache-2.0
"""Scenario 4: a damaged spool.

A CSV file is imported into a spool (one segment per 500 rows); copies of
that spool are then damaged three ways:

  pages      whole pages in the middle of the file overwritten with random
             bytes: `run` refuses it at start (exit 2, a message naming the
             damage and `spool salvage`), the file is not modified, `spool
             verify` fails; `spool salvage` copies what is readable into a
             new spool that passes verify and drains to the file sink;
             every delivered record is exactly the CSV row its seq says.
  not-sqlite a text file where the spool should be: refused at start (exit
             2), untouched; salvage says nothing can be salvaged (exit 2).
  wal        the import is killed (-9) mid-way and its WAL cut in the
             middle of a frame. SQLite treats the cut frames as never
             committed, offsets and records alike (I1), so the agent
             starts, re-reads the rows after the committed offset and the
             spool ends with every row exactly once. (If the cut leaves the
             file ahead of the WAL, the start-up check must refuse it as
             damaged instead: accepted, and reported.)
"""
import hashlib
import random
import re
import shutil

from faultlib import *

ROWS = 100000
SEED = 21


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def config(work, name, spool, out, csv):
    return work.write(name + ".yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
        "spool:\n  path: %s\n"
        "batch:\n  max_records: 500\n  linger: 20ms\n"
        "sources:\n  - name: csv\n    type: csv\n    stream: sensor_reading\n"
        "    schema: sensor_reading:v1\n    path: %s\n    watch: false\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            work.join("data-" + name), SCHEMAS_DIR, spool, csv, out))


def check_delivered(out, origin_id, expected, label):
    """Every delivered record is the CSV row its seq names. Returns the
    number of distinct records delivered and of duplicates."""
    recs = read_ndjson_by_stream(out).get("sensor_reading", [])
    seen = {}
    dups = 0
    for r in recs:
        check(r["_origin_id"] == origin_id, "%s: origin %s, not %s" % (
            label, r["_origin_id"], origin_id))
        s = r["_seq"]
        check(1 <= s <= len(expected), "%s: seq %d out of range" % (label, s))
        check(strip_meta(r) == expected[s - 1], "%s: seq %d is not row %d" % (
            label, s, s))
        dups += s in seen
        seen[s] = 1
    return len(seen), dups


with Workdir("f-corrupt") as work:
    csv = work.join("in.csv")
    generate_csv(csv, "sensor_reading:v1", ROWS, SEED)
    expected = newest_shape(generate_jsonl("sensor_reading:v1", ROWS, SEED), "sensor_reading")
    good = work.join("good.db")
    cfg = config(work, "good", good, work.join("out-good"), csv)
    run(["import", "-c", cfg, csv], check_rc=0)
    verify(good)
    origin = status_json(cfg)["origin_id"]

    # --- damaged pages ---------------------------------------------------
    bad = work.join("pages.db")
    shutil.copy(good, bad)
    size = os.path.getsize(bad)
    page = 4096
    rng = random.Random(SEED)
    at = (size // 2) // page * page
    with open(bad, "r+b") as f:
        f.seek(at)
        f.write(bytes(rng.getrandbits(8) for _ in range(4 * page)))
    before = sha(bad)
    cfg_bad = config(work, "pages", bad, work.join("out-pages"), csv)
    t0 = time.time()
    proc = run(["run", "-c", cfg_bad, "--exit-when-synced"])
    check(proc.returncode == 2, "run on a damaged spool exited %d, not 2\n%s" % (
        proc.returncode, proc.stderr[-2000:]))
    check("damaged" in proc.stderr and "spool salvage" in proc.stderr,
          "no clear error for a damaged spool: %s" % proc.stderr[-2000:])
    print("run on damaged pages: " + proc.stderr.strip().splitlines()[-1])
    check(sha(bad) == before, "the damaged spool was modified")
    check(run(["spool", "verify", "--path", bad]).returncode == 2,
          "verify passed a damaged spool")
    check(run(["import", "-c", cfg_bad, csv]).returncode == 2,
          "import on a damaged spool did not exit 2")
    new = work.join("pages-salvaged.db")
    proc = run(["spool", "salvage", "--path", bad, "--out", new], check_rc=0)
    print(proc.stdout.strip())
    check(sha(bad) == before, "salvage modified the damaged spool")
    m = re.search(r"segments\s+recovered (\d+), lost (\d+)", proc.stdout)
    check(m, "salvage did not report segments: %s" % proc.stdout)
    seg_ok, seg_lost = int(m.group(1)), int(m.group(2))
    rec_ok = int(re.search(r"records\s+(\d+)", proc.stdout).group(1))
    check("origin_id        %s (the same as" % origin in proc.stdout,
          "the origin_id was not kept: %s" % proc.stdout)
    check("spool created" not in proc.stderr,
          "salvage logged the throwaway origin_id of the file it created: %s" %
          proc.stderr)
    verify(new)
    cfg_new = config(work, "salvaged", new, work.join("out-salvaged"), csv)
    run(["run", "-c", cfg_new, "--exit-when-synced"], check_rc=0, timeout=300)
    recover_s = time.time() - t0
    verify(new)
    delivered, dups = check_delivered(work.join("out-salvaged"), origin, expected,
                                      "salvaged")
    check(delivered == rec_ok, "salvage reported %d records, %d delivered" % (
        rec_ok, delivered))
    check(seg_ok + seg_lost >= ROWS // 500 - 2 and seg_ok < ROWS // 500,
          "%d segments recovered, %d lost, of %d: the damage went unnoticed" % (
              seg_ok, seg_lost, ROWS // 500))
    figures("corruption.pages", ROWS, delivered, ROWS - delivered, dups, recover_s,
            segments_recovered=seg_ok, segments_lost=seg_lost)

    # --- not SQLite at all -----------------------------------------------
    junk = work.join("junk.db")
    with open(junk, "w") as f:
        f.write("this is not a spool\n" * 200)
    before = sha(junk)
    cfg_junk = config(work, "junk", junk, work.join("out-junk"), csv)
    proc = run(["run", "-c", cfg_junk])
    check(proc.returncode == 2, "run on a text file exited %d" % proc.returncode)
    check("not a database" in proc.stderr or "not a SQLite" in proc.stderr,
          "unclear error for a text file: %s" % proc.stderr[-1000:])
    print("run on a text file: " + proc.stderr.strip().splitlines()[-1])
    proc = run(["spool", "salvage", "--path", junk, "--out", work.join("junk-new.db")])
    check(proc.returncode == 2, "salvage of a text file exited %d" % proc.returncode)
    check(sha(junk) == before, "the text file was modified")
    figures("corruption.not_sqlite", 0, 0, 0, 0, 0.0, refused=1)

    # --- truncated WAL ---------------------------------------------------
    # A larger file, so that the import is still running when it is killed.
    WAL_ROWS = 600000
    csv = work.join("wal.csv")
    generate_csv(csv, "sensor_reading:v1", WAL_ROWS, SEED + 1)
    expected = newest_shape(generate_jsonl("sensor_reading:v1", WAL_ROWS, SEED + 1), "sensor_reading")
    walspool = work.join("wal.db")
    cfg_wal = config(work, "wal", walspool, work.join("out-wal"), csv)
    wal = walspool + "-wal"
    for attempt in range(20):
        for p in (walspool, wal, walspool + "-shm"):
            if os.path.exists(p):
                os.unlink(p)
        proc = start(["import", "-c", cfg_wal, csv])
        # Kill it as soon as the WAL holds something: the import may take
        # well under a second, and it removes the WAL when it finishes.
        t_end = time.time() + 10
        while (proc.poll() is None and time.time() < t_end and
               not (os.path.exists(wal) and os.path.getsize(wal) > 64 * 1024)):
            time.sleep(0.002)
        time.sleep(0.01 * attempt)
        kill9(proc)
        if os.path.exists(wal) and os.path.getsize(wal) > 64 * 1024:
            break
    else:
        fail("could not catch the import with a WAL")
    wal_size = os.path.getsize(wal)
    with open(wal, "r+b") as f:
        f.truncate(wal_size // 2 + 1234)  # mid-frame
    before = sha(walspool)
    t0 = time.time()
    proc = run(["run", "-c", cfg_wal, "--exit-when-synced"], timeout=300)
    if proc.returncode == 2:
        check("damaged" in proc.stderr, "unclear error: %s" % proc.stderr[-1000:])
        check(sha(walspool) == before, "the damaged spool was modified")
        print("truncated WAL: refused at start as damaged (the file was ahead of "
              "the WAL)")
        figures("corruption.wal", WAL_ROWS, 0, 0, 0, time.time() - t0, refused=1)
    else:
        check(proc.returncode == 0, "run after a cut WAL exited %d: %s" % (
            proc.returncode, proc.stderr[-2000:]))
        verify(walspool)
        st = status_json(cfg_wal)
        check(st["next_seq"] == WAL_ROWS + 1, "next_seq %d after %d rows: rows lost "
              "or spooled twice after the WAL was cut" % (st["next_seq"], WAL_ROWS))
        delivered, dups = check_delivered(work.join("out-wal"), st["origin_id"],
                                          expected, "wal")
        check(delivered == WAL_ROWS, "%d of %d rows delivered" % (delivered, WAL_ROWS))
        print("truncated WAL (%d of %d bytes kept): rolled back to the last complete "
              "commit and re-read from its offset" % (wal_size // 2 + 1234, wal_size))
        figures("corruption.wal", WAL_ROWS, delivered, 0, dups, time.time() - t0,
                wal_kept_bytes=wal_size // 2 + 1234, wal_bytes=wal_size)
