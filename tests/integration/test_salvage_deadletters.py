# SPDX-License-Identifier: Apache-2.0
"""`spool salvage` keeps what spool format 3 added to the dead letters:
a resolved one stays resolved (replaying it again would spool its row
twice), and a row kept by reference keeps its file, offset and length.
From a format 2 spool (no such columns) the dead letters are copied too,
as open ones."""
import sqlite3

from harness import *

with Workdir("salvage-dl") as work:
    data = work.join("in.csv")
    run(["generate", "--schema", "user:v1", "-n", "3", "--seed", "5", "--format", "csv",
         "--schemas-dir", SCHEMAS_DIR, "-o", data], check_rc=0)
    with open(data) as f:
        lines = f.read().splitlines()
    age = lines[0].split(",").index("age")
    for i in (1, 2):
        fields = lines[i].split(",")
        fields[age] = "old"
        lines[i] = ",".join(fields)
    with open(data, "w") as f:
        f.write("\n".join(lines) + "\n")
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
        "sources:", "  - name: users", "    type: csv", "    stream: user",
        "    schema: user:v1", "    path: " + data, "    watch: false", ""]))
    run(["import", "-c", cfg, data], check_rc=3)
    fixed = work.write("fixed.csv", "id,raw\n1,\"%s\"\n" % lines[1].replace(",old,", ",7,"))
    run(["deadletter", "replay", "-c", cfg, "--id", "1", "--from", fixed], check_rc=0)
    spool = work.join("data", "spool.db")
    db = sqlite3.connect(spool)
    db.execute("UPDATE deadletters SET raw_file = 'big.csv', raw_offset = 10,"
               " raw_length = 20 WHERE id = 2")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()

    out3 = work.join("salvaged3.db")
    run(["spool", "salvage", "--path", spool, "--out", out3], check_rc=0)
    db = sqlite3.connect(out3)
    rows = db.execute("SELECT id, state, resolved_how, raw_file, raw_offset, raw_length"
                      " FROM deadletters ORDER BY id").fetchall()
    db.close()
    check(rows[0][:3] == (1, "resolved", "replayed from " + fixed),
          "resolved dead letter after salvage: %r" % (rows[0],))
    check(rows[1] == (2, "open", None, "big.csv", 10, 20),
          "by-reference dead letter after salvage: %r" % (rows[1],))

    # The same spool in format 2: the dead letters come over, open.
    old = work.join("format2.db")
    src = sqlite3.connect(spool)
    dst = sqlite3.connect(old)
    src.backup(dst)
    src.close()
    for column in ("state", "resolved_ms", "resolved_how", "raw_file", "raw_offset",
                   "raw_length"):
        dst.execute("ALTER TABLE deadletters DROP COLUMN " + column)
    dst.execute("PRAGMA user_version = 2")
    dst.commit()
    dst.close()
    out2 = work.join("salvaged2.db")
    proc = run(["spool", "salvage", "--path", old, "--out", out2], check_rc=0)
    db = sqlite3.connect(out2)
    rows = db.execute("SELECT id, state, raw FROM deadletters ORDER BY id").fetchall()
    db.close()
    check([(r[0], r[1]) for r in rows] == [(1, "open"), (2, "open")] and rows[0][2],
          "format 2 dead letters after salvage: %r\n%s" % (rows, proc.stdout))
    print("salvage: dead letters keep their state and references; format 2 ones "
          "come over open")
