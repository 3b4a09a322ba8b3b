# SPDX-License-Identifier: Apache-2.0
"""Starting on a disk that something else filled to the last block.

A backlog is spooled (`syncagent import`, no sink running) on a small
tmpfs; the spool keeps a reserve file beside it (spool.db-reserve) while the
disk has room. Then another file fills the disk to the last block and the
agent is started to drain the backlog into a file sink on another file
system. SQLite cannot even set up its WAL on such a disk: without the
reserve the agent must refuse with a clear error and leave the spool as it
was; with it, the agent gives the reserve's blocks up (a log line says so),
starts, drains everything (compared by seq and content with the input) and
exits 0. Once the disk has room again, the next start puts the reserve
back.
"""
from faultlib import *

ROWS = 40000
SEED = 21

with Workdir("f-fullstart") as work:
    mnt = work.join("tmpfs")
    mount_tmpfs(mnt, "32m")
    try:
        data = os.path.join(mnt, "data")
        spool = os.path.join(data, "spool.db")
        reserve = spool + "-reserve"
        out = work.join("out")
        csv = work.join("in.csv")
        generate_csv(csv, "sensor_reading:v1", ROWS, SEED)
        cfg = work.write("agent.yaml", "\n".join([
            "agent:", "  id: fullstart", "  data_dir: " + data,
            "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 5s",
            "spool:", "  min_free: 1MiB",
            "sources:",
            "  - name: csv", "    type: csv", "    stream: sensor_reading",
            "    schema: sensor_reading:v1", "    path: " + work.join("none-*.csv"),
            "    watch: false",
            "sinks:", "  - name: files", "    type: file", "    path: " + out,
        ]) + "\n")
        run(["import", "-c", cfg, "--stream", "sensor_reading", csv], check_rc=0)
        check(os.path.exists(reserve) and os.path.getsize(reserve) == 4 << 20,
              "no 4 MiB reserve beside the spool after import")

        ballast = os.path.join(mnt, "ballast")
        fill_disk(ballast)
        st = os.statvfs(mnt)
        check(st.f_bavail == 0, "the disk still has %d blocks free" % st.f_bavail)

        # Without the reserve: a clear refusal, the spool untouched.
        os.rename(reserve, reserve + ".away")
        before = open(spool, "rb").read()
        proc = run(["run", "-c", cfg, "--exit-when-synced"], timeout=60)
        err = proc.stderr.strip().splitlines()
        print("without the reserve: exit %d, %s" % (proc.returncode, err[-1] if err else ""))
        check(proc.returncode != 0, "the agent ran on a full disk without its reserve?")
        check(err and "spool" in err[-1] and spool in err[-1],
              "the refusal does not name the spool: %r" % err[-1:])
        check(open(spool, "rb").read() == before, "the refused start changed the spool")
        check(not os.path.exists(out) or not os.listdir(out), "output without a start")

        # With it: the agent starts, drains everything, exits 0.
        os.rename(reserve + ".away", reserve)
        t0 = time.time()
        log = work.join("run.log")
        proc = start(["run", "-c", cfg, "--exit-when-synced"], log)
        rc = proc.wait(timeout=120)
        took = time.time() - t0
        text = open(log, errors="replace").read()
        check(rc == 0, "exit %d on a full disk with the reserve:\n%s" % (rc, text[-3000:]))
        check("released the spool's reserve" in text, "no log line about the reserve")
        check(not os.path.exists(reserve), "the reserve is still there")
        st = status_json(cfg)
        recs = read_ndjson_by_stream(out).get("sensor_reading", [])
        dups = compare_stream(recs, newest_shape(generate_jsonl("sensor_reading:v1", ROWS, SEED), "sensor_reading"),
                              st["origin_id"], "sensor_reading")
        print("full disk at start: released the reserve, drained %d of %d rows "
              "(%d duplicated) in %.1f s" % (len(recs), ROWS, dups, took))

        # Room again: the next start puts the reserve back.
        os.remove(ballast)
        run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=60)
        check(os.path.exists(reserve) and os.path.getsize(reserve) == 4 << 20,
              "the reserve was not put back once the disk had room")
        figures("full_at_start", ROWS, len(recs), 0, dups, took, reserve_mib=4)
    finally:
        umount(mnt)
