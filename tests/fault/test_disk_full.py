# SPDX-License-Identifier: Apache-2.0
"""Scenario 2: the disk under the spool fills up.

agent.data_dir is a 64 MiB tmpfs mounted by this test (it must run as root
or with CAP_SYS_ADMIN; when the mount fails the test fails, it does not
skip) and unmounted at the end.

spool.min_free (default 16 MiB) makes ingest stop short of the end of the
disk; phase one sets it to 0 so that SQLite itself hits SQLITE_FULL.

when_full: block, spool.max_bytes (1 GiB) far above the tmpfs, so SQLite
itself hits the end of the disk (SQLITE_FULL). A generator and a CSV file
feed streams no sink takes (the one sink takes a third, one-record
stream), so nothing drains. Must hold: ingest pauses with the log line
"spool full, ingest paused", `status --json` says why (ingest_blocked),
seqs stop moving, the CSV offset in the spool is exactly the end of the
rows spooled, `spool verify` passes; removing an 8 MiB ballast file from
the tmpfs lets ingest resume by itself. Then the daemon is restarted with a
sink that takes every stream, on the still full disk: it must drain, trim,
and ingest the rest by itself; at the end every record is delivered.

when_full: drop_oldest with max_bytes 16 MiB (below the tmpfs): the
records dropped equal what the audit table records (status dropped_records
and the seq ranges in the audit rows), and delivered + dropped ==
generated.
"""
import sqlite3
import subprocess

from faultlib import *

N_GEN = 1500000
CSV_ROWS = 100000
N_DROP = 500000
DRAIN_TIMEOUT = 240


def spool_ro(path):
    return sqlite3.connect("file:%s?mode=ro" % path, uri=True)


def config(work, name, data, out, when_full, max_bytes, gen_count, csv=None,
           sink_streams=None, min_free=None):
    text = ("agent:\n  data_dir: %s\n  schemas_dir: %s\n  shutdown_grace: 2s\n"
            "spool:\n  max_bytes: %s\n  when_full: %s\n%s"
            "batch:\n  max_records: 2000\n  linger: 50ms\n"
            "sources:\n"
            "  - name: sensors\n    type: generator\n    stream: sensor_reading\n"
            "    schema: sensor_reading:v1\n    seed: 3\n    count: %d\n"
            "    rate: 400000\n    start_time: %d\n    interval: 1s\n"
            "  - name: trickle\n    type: generator\n    stream: user\n"
            "    schema: user:v1\n    seed: 4\n    count: 1\n    rate: 10\n"
            "    start_time: %d\n    interval: 1s\n") % (
                data, SCHEMAS_DIR, max_bytes, when_full,
                "  min_free: %s\n" % min_free if min_free is not None else "",
                gen_count, START_MS, START_MS)
    if csv:
        text += ("  - name: webcsv\n    type: csv\n    stream: web_event\n"
                 "    schema: web_event:v1\n    path: %s\n    watch: false\n" % csv)
    text += "sinks:\n  - name: %s\n    type: file\n    path: %s\n" % (
        "only_user" if sink_streams else "all", out)
    if sink_streams:
        text += "    streams: [%s]\n" % ", ".join(sink_streams)
    return work.write(name + ".yaml", text)


def csv_row_ends(path):
    """Byte offsets after the header and after each data row."""
    ends = []
    pos = 0
    with open(path, "rb") as f:
        for line in f:
            pos += len(line)
            ends.append(pos)
    return ends


def seq_count(cfg):
    return status_json(cfg)["next_seq"] - 1


with Workdir("f-diskfull") as work:
    mnt = work.join("tmpfs")
    mount_tmpfs(mnt, "64m")
    try:
        # ---------------- when_full: block ---------------------------------
        data = os.path.join(mnt, "block")
        os.makedirs(data)
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * (8 << 20))
        ballast2 = os.path.join(mnt, "ballast2")
        with open(ballast2, "wb") as f:
            f.write(b"\0" * (4 << 20))
        csv = work.join("web.csv")
        generate_csv(csv, "web_event:v1", CSV_ROWS, 9)
        log = work.join("block.log")
        cfg1 = config(work, "block1", data, work.join("out-none"), "block", "1GiB",
                      N_GEN, csv, ["user"], min_free=0)
        spool = os.path.join(data, "spool.db")
        proc = start(["run", "-c", cfg1], log)
        wait_for(lambda: "spool full, ingest paused" in open(log).read(), 300,
                 "the log line saying ingest paused")
        line = [l for l in open(log) if "spool full, ingest paused" in l][0].strip()
        print("log: " + line)
        check("database or disk is full" in line or "full" in line,
              "the log line does not say why: " + line)
        st = wait_for(lambda: (lambda s: s if s.get("ingest_blocked") else None)(
            status_json(cfg1)), 30, "status to report ingest_blocked")
        print("status: ingest_blocked = %s" % json.dumps(st["ingest_blocked"]))
        check("spool full" in st["ingest_blocked"]["reason"], "status reason: %r" %
              st["ingest_blocked"])
        blocked_at = st["next_seq"]
        time.sleep(2)
        check(seq_count(cfg1) + 1 == blocked_at, "seqs moved while ingest was "
              "blocked")
        check(proc.poll() is None, "the daemon exited on a full disk (rc %s)" %
              proc.returncode)
        verify(spool)
        # The CSV offset is exactly the end of the rows that are spooled.
        db = spool_ro(spool)
        n_csv = db.execute("SELECT coalesce(sum(count), 0) FROM segments WHERE "
                           "stream = 'web_event'").fetchone()[0]
        offs = db.execute("SELECT \"offset\" FROM source_offsets WHERE source = "
                          "'webcsv'").fetchall()
        db.close()
        ends = csv_row_ends(csv)
        if offs:
            check(offs[0][0] == ends[n_csv], "CSV offset %d, but %d rows spooled end "
                  "at %d" % (offs[0][0], n_csv, ends[n_csv]))
        else:
            check(n_csv == 0, "CSV rows spooled without an offset")
        print("blocked at seq %d with %d CSV rows spooled, offset matches" % (
            blocked_at, n_csv))
        # Space returns: ingest resumes by itself.
        t0 = time.time()
        os.unlink(ballast)
        wait_for(lambda: seq_count(cfg1) + 1 > blocked_at, 60,
                 "ingest to resume after the ballast was removed")
        resume_s = time.time() - t0
        wait_for(lambda: open(log).read().count("spool full, ingest paused") >= 2,
                 120, "the disk to fill again")
        check(stop(proc) == 0, "the daemon did not exit 0 on SIGTERM while blocked")
        verify(spool)

        # Restart with a sink for every stream and the default
        # spool.min_free (16 MiB): it must drain, trim, vacuum and ingest
        # the rest by itself; min_free keeps ingest from eating the blocks
        # that acks and trims need. Phase one ran with min_free: 0 and
        # filled the disk to the last block; on such a disk the start
        # itself fails (its first write, the cursor prune, gets
        # SQLITE_FULL: exit 1 with that error; a known limitation), so
        # 4 MiB are freed first.
        os.unlink(ballast2)
        out = work.join("out")
        cfg2 = config(work, "block2", data, out, "block", "1GiB", N_GEN, csv)
        t0 = time.time()
        log2 = work.join("block2.log")
        proc = start(["run", "-c", cfg2, "--exit-when-synced"], log2)
        try:
            rc = proc.wait(timeout=DRAIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            st = status_json(cfg2)
            kill9(proc)
            fail("the restarted agent did not drain the full disk in %d s (next_seq "
                 "%d, sinks %s, blocked %s); its log ends:\n%s" % (
                     DRAIN_TIMEOUT, st["next_seq"], st["sinks"], st["ingest_blocked"],
                     "".join(open(log2).readlines()[-15:])))
        check(rc == 0, "the restarted agent exited %d:\n%s" % (
            rc, "".join(open(log2).readlines()[-15:])))
        drain_s = time.time() - t0
        verify(spool)
        st = status_json(cfg2)
        check(st["ingest_blocked"] is None, "status still says blocked")
        by_stream = read_ndjson_by_stream(out)
        dups = compare_stream(by_stream.get("sensor_reading", []),
                              newest_shape(generate_jsonl("sensor_reading:v1", N_GEN, 3), "sensor_reading"),
                              st["origin_id"], "sensor_reading")
        dups += compare_stream(by_stream.get("web_event", []),
                               generate_jsonl("web_event:v1", CSV_ROWS, 9),
                               st["origin_id"], "web_event")
        total = N_GEN + CSV_ROWS + 1
        # The user record went to the first phase's sink.
        delivered = sum(len(v) for v in by_stream.values()) + len(
            read_ndjson_by_stream(work.join("out-none")).get("user", []))
        check(st["next_seq"] == total + 1, "next_seq %d for %d records" % (
            st["next_seq"], total))
        print("block: paused at seq %d; resumed %.1f s after space returned; "
              "restarted on a full disk and drained in %.1f s" % (
                  blocked_at, resume_s, drain_s))
        figures("disk_full.block", total, delivered, 0, dups, resume_s,
                drain_s="%.1f" % drain_s)
        subprocess.run(["rm", "-rf", data])

        # ---------------- when_full: drop_oldest ---------------------------
        data = os.path.join(mnt, "drop")
        os.makedirs(data)
        spool = os.path.join(data, "spool.db")
        cfg3 = config(work, "drop1", data, work.join("out-none2"), "drop_oldest",
                      "16MiB", N_DROP, None, ["user"])
        run(["run", "-c", cfg3, "--exit-when-synced"], check_rc=0, timeout=600)
        verify(spool)
        st = status_json(cfg3)
        dropped = st["dropped_records"]
        check(dropped > 0, "nothing was dropped: the test did not fill the spool")
        db = spool_ro(spool)
        ranges = [json.loads(d) for (d,) in db.execute(
            "SELECT detail FROM audit WHERE kind = 'drop_oldest'")]
        db.close()
        audited = set()
        for r in ranges:
            audited.update(range(r["first_seq"], r["last_seq"] + 1))
        out = work.join("out-drop")
        cfg4 = config(work, "drop2", data, out, "drop_oldest", "16MiB", N_DROP)
        run(["run", "-c", cfg4, "--exit-when-synced"], check_rc=0, timeout=600)
        verify(spool)
        st = status_json(cfg4)
        recs = read_ndjson_by_stream(out)
        expected = newest_shape(generate_jsonl("sensor_reading:v1", N_DROP, 3), "sensor_reading")
        user_seqs = {r["_seq"] for r in recs.get("user", [])}
        got = {}
        for r in recs.get("sensor_reading", []):
            got[r["_seq"]] = r
        # Seqs are spool-wide: the user record took one of them.
        all_seqs = set(range(1, N_DROP + 2))
        missing = all_seqs - set(got) - user_seqs
        missing -= {r["_seq"] for r in read_ndjson_by_stream(
            work.join("out-none2")).get("user", [])} - audited
        check(missing == audited - user_seqs, "%d seqs missing from the output, %d "
              "dropped per the audit rows" % (len(missing), len(audited)))
        # The one-record user stream may have been among the oldest dropped.
        user_all = set(user_seqs) | {r["_seq"] for r in read_ndjson_by_stream(
            work.join("out-none2")).get("user", [])}
        dropped_sensor = len(audited - user_all)
        check(len(got) + dropped_sensor == N_DROP, "delivered %d + dropped %d != "
              "generated %d" % (len(got), dropped_sensor, N_DROP))
        check(dropped == len(audited), "status dropped_records %d, audit ranges "
              "cover %d seqs" % (dropped, len(audited)))
        # What was delivered is the generator's record at its position.
        sensor_seqs = sorted(s for s in all_seqs if s not in user_all)
        for i, s in enumerate(sensor_seqs):
            if s in got:
                check(strip_meta(got[s]) == expected[i], "seq %d differs" % s)
        print("drop_oldest: %d generated, %d delivered, %d dropped (audit: %d rows)" % (
            N_DROP, len(got), dropped, len(ranges)))
        figures("disk_full.drop_oldest", N_DROP, len(got), 0, 0, 0.0,
                dropped=dropped_sensor, audited=len(audited))
    finally:
        # A daemon left running (a failed check) would keep the mount busy.
        if "proc" in globals() and proc.poll() is None:
            kill9(proc)
        umount(mnt)
