# SPDX-License-Identifier: Apache-2.0
"""Versions from the hybrid logical clock (issue 12 item 5): a stream whose
schema has no x-version gets a clock value per record at ingest (ms in the
high bits, a counter in the low 16). They must keep increasing, in seq
order, when the wall clock jumps back two days in the middle of an import
(libfaketime: FAKETIME_START_AFTER_NUMCALLS starts the offset after that
many clock reads), and across a restart whose clock is two days behind
the last value stored (meta.hlc).

The jump is seen in the spool itself: records without an event-time field
take the time they were read, so the segments of the second import span
two days of event time."""
import sqlite3
import time

from harness import *

SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "conflict", "schemas")
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
DAY_MS = 86400000

check(os.path.exists(FAKETIME_LIB),
      "%s is missing: run tools/setup (Debian package faketime)" % FAKETIME_LIB)


def csv_file(work, name, n):
    return work.write(name, "id,val\n" + "".join("%s%d,v\n" % (name[0], i)
                                                 for i in range(n)))


def faked(offset, after_calls=None):
    # Under the sanitizer build (CI runs this label there too), ASan must
    # tolerate a preloaded library ahead of its runtime.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME=offset,
               ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0",
               FAKETIME_NO_CACHE="1")
    if after_calls:
        env["FAKETIME_START_AFTER_NUMCALLS"] = str(after_calls)
    return env


with Workdir("hlc") as work:
    a, b, c = (csv_file(work, "a.csv", 1000), csv_file(work, "b.csv", 6000),
               csv_file(work, "c.csv", 1000))
    cfg = work.write("agent.yaml", """agent:
  data_dir: %s
  schemas_dir: %s
batch:
  max_records: 100
sources:
  - name: plain
    type: csv
    stream: plain
    path: %s
    watch: false
sinks:
  - name: files
    type: file
    path: %s
""" % (work.join("data"), SCHEMAS, work.join("nothing-*.csv"), work.join("out")))
    now_ms = int(time.time() * 1000)
    run(["import", "-c", cfg, a], check_rc=0)
    # The clock jumps back two days during this one.
    run(["import", "-c", cfg, b], check_rc=0, env=faked("-2d", after_calls=3000))
    # A restart with the clock still behind.
    run(["import", "-c", cfg, c], check_rc=0, env=faked("-2d"))

    # Before the sink drains (and the spool trims) them.
    db = sqlite3.connect(work.join("data", "spool.db"))
    events = db.execute("SELECT min(min_event_ms), max(max_event_ms) FROM segments "
                        "WHERE first_seq > 1000 AND first_seq <= 7000").fetchone()
    check(events[1] - events[0] > DAY_MS, "the clock did not jump back during the "
          "second import (its event times span %d ms)" % (events[1] - events[0]))
    last_c = db.execute("SELECT max(max_event_ms) FROM segments WHERE first_seq > 7000"
                        ).fetchone()[0]
    check(last_c < now_ms - DAY_MS, "the third import did not run two days behind")
    hlc = int(db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()[0])
    db.close()

    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0)
    recs = sorted(read_ndjson_dir(work.join("out")), key=lambda r: r["_seq"])
    check(len(recs) == 8000, "%d of 8000 records written" % len(recs))
    versions = [r["_version"] for r in recs]
    for i in range(1, len(versions)):
        check(versions[i] > versions[i - 1], "seq %d (%s): version %d after %d" % (
            recs[i]["_seq"], recs[i]["id"], versions[i], versions[i - 1]))
    first_ms = versions[0] >> 16
    check(abs(first_ms - now_ms) < DAY_MS, "the first version reads as %d ms, now is %d"
          % (first_ms, now_ms))
    check(versions[-1] == hlc, "meta.hlc %d is not the newest version %d" %
          (hlc, versions[-1]))
    print("hlc: 8000 versions increasing across a 2-day jump back and a restart "
          "behind; first at %d ms, last at %d ms" % (first_ms, versions[-1] >> 16))
