# SPDX-License-Identifier: Apache-2.0
"""A row far larger than a batch (batch.max_bytes, 1 MiB) but within the
source's max_field: 20 MiB in one field, between two small rows. It must
be spooled like the others, whatever the batch already holds; it used to
stop the import ("cannot add a record of 20971550 bytes to the batch")
once it was more than 16 MiB. The spool must hold exactly the three
records, the big one whole (`spool verify` reads every segment back)."""
from harness import *

CSV_SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "csv", "schemas")
BIG = 20 << 20

with Workdir("csv-big-row") as work:
    data = work.join("in.csv")
    with open(data, "w") as f:
        f.write("id,count,total,ratio,active,level,ts,note\n")
        f.write("k1,1,1,1,true,LOW,1767225600000,a\n")
        f.write("k2,2,2,2,true,MID,1767225600001," + "x" * BIG + "\n")
        f.write("k3,3,3,3,false,HIGH,1767225600002,c\n")
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + CSV_SCHEMAS,
        "sources:", "  - name: csv", "    type: csv", "    stream: csv_test",
        "    path: " + data, "    watch: false", "    max_field: 32MiB",
        "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out"), ""]))
    # Without --wait-synced no sink runs: the records stay in the spool.
    proc = run(["import", "-c", cfg, data], timeout=120)
    out = proc.stdout + proc.stderr
    check(proc.returncode == 0, "import exited %d:\n%s" % (proc.returncode, out[-3000:]))
    check("3 accepted, 0 rejected" in out, "expected 3 rows accepted:\n" + out[-3000:])
    st = status_json(cfg)
    check(st["next_seq"] - 1 == 3, "%d records spooled, expected 3" % (st["next_seq"] - 1))
    check(st["used_bytes"] > BIG, "the spool holds %d bytes, less than the big row's %d"
          % (st["used_bytes"], BIG))
    run(["spool", "verify", "-c", cfg], check_rc=0)
    print("csv big row: 3 records spooled, %d bytes used" % st["used_bytes"])
