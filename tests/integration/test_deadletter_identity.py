# SPDX-License-Identifier: Apache-2.0
"""`deadletter replay` names a row's fields by the header it was read
under, never by whatever file has its name later (issue 11 item 3, fix
round): a new g.csv with another column order must not swap station and
note. The header stored with the dead letter wins; else the file's own
header only while the file is the same one (its stored file key, or for
a dead letter without one, a file unchanged since); else --header.
`deadletter export` reads a row kept by reference only from the same
file, and a failed export leaves no half-written file behind; `replay
--all` that cannot read such a row exits 3."""
from dl_common import *

HEAD = "station,note,id,temp\n"
SWAPPED = "note,station,id,temp\n"

with Workdir("dl-identity") as work:
    cfg = wx_config(work)

    def import_bad(name, good_id, bad_id):
        path = work.join("in", name)
        write_csv(path, HEAD + "S%d,n%d,%d,1.5\nS%d,n%d,%d,warm\n" % (
            good_id, good_id, good_id, bad_id, bad_id, bad_id))
        run(["import", "-c", cfg, path], check_rc=3)
        dls = dl_by_location(cfg, path)
        check(len(dls) == 1 and dls[0]["state"] == "open", "%s: %r" % (name, dls))
        return path, dls[0]["id"]

    # 0. The CSV source stores the header and the file's key with every
    # dead letter; replay then needs neither the file nor --header.
    e, e_id = import_bad("e.csv", 11, 12)
    stored = spool_sql(work, "SELECT header, file_key FROM deadletters WHERE id = ?",
                       (e_id,))
    check(stored and stored[0][0] == HEAD.strip() and stored[0][1],
          "the source did not store the header and file key: %r" % stored)
    write_csv(e, SWAPPED + "x,T9,9,1.0\n")
    fixed = work.join("fixed-e.csv")
    write_fixed(fixed, [(e_id, "S12,n12,12,2.5")])
    run(["deadletter", "replay", "-c", cfg, "--id", str(e_id), "--from", fixed],
        check_rc=0)

    # 1. No header stored (dead letters of an older syncagent): the file was
    # replaced by one with another column order -> refused, never swapped.
    g, g_id = import_bad("g.csv", 1, 2)
    spool_sql(work, "UPDATE deadletters SET header = NULL, file_key = NULL WHERE id = ?",
              (g_id,))
    write_csv(g, SWAPPED + "x,T9,9,1.0\n")
    fixed = work.join("fixed-g.csv")
    write_fixed(fixed, [(g_id, "S2,n2,2,2.5")])
    proc = run(["deadletter", "replay", "-c", cfg, "--id", str(g_id), "--from", fixed],
               check_rc=2)
    check("--header" in proc.stderr and g in proc.stderr,
          "replay after the file was replaced:\n" + proc.stderr)
    check(dl_by_location(cfg, g)[0]["state"] == "open", "resolved although refused")
    # --header names them as they were.
    run(["deadletter", "replay", "-c", cfg, "--id", str(g_id), "--from", fixed,
         "--header", "station,note,id,temp"], check_rc=0)

    # 2. The header stored with the dead letter (what the CSV source stores
    # through sa_batch_deadletter_set_header) wins over the file's.
    h, h_id = import_bad("h.csv", 3, 4)
    spool_sql(work, "UPDATE deadletters SET header = ? WHERE id = ?",
              (HEAD.strip(), h_id))
    write_csv(h, SWAPPED + "x,T88,88,1.0\n")
    fixed = work.join("fixed-h.csv")
    write_fixed(fixed, [(h_id, "S4,n4,4,4.5")])
    run(["deadletter", "replay", "-c", cfg, "--id", str(h_id), "--from", fixed],
        check_rc=0)

    # 3. A stored file key, the source's own (source_offsets): the same file
    # is read for its header; a file under that name with another key is not.
    k, k_id = import_bad("k.csv", 5, 6)
    m, m_id = import_bad("m.csv", 7, 8)
    spool_sql(work, "UPDATE deadletters SET header = NULL, file_key = NULL WHERE id IN "
              "(?, ?)", (k_id, m_id))
    st_k = os.stat(k)
    spool_sql(work, "UPDATE deadletters SET file_key = (SELECT file_key FROM"
              " source_offsets WHERE file_key LIKE ? ORDER BY rowid DESC LIMIT 1) WHERE id = ?",
              ("%d:%d:%%" % (st_k.st_dev, st_k.st_ino), k_id))
    st_m = os.stat(m)
    spool_sql(work, "UPDATE deadletters SET file_key = (SELECT file_key FROM"
              " source_offsets WHERE file_key LIKE ? ORDER BY rowid DESC LIMIT 1) WHERE id = ?",
              ("%d:%d:%%" % (st_m.st_dev, st_m.st_ino), m_id))
    keys = spool_sql(work, "SELECT id, file_key FROM deadletters WHERE id IN (?, ?)",
                     (k_id, m_id))
    check(len(keys) == 2 and all(key for _, key in keys), "no file key: %r" % keys)
    # Touched after the dead letter (a newer ctime), but the same file by its
    # key: its header is used.
    os.utime(k)
    os.chmod(k, 0o644)
    fixed = work.join("fixed-k.csv")
    write_fixed(fixed, [(k_id, "S6,n6,6,6.5")])
    run(["deadletter", "replay", "-c", cfg, "--id", str(k_id), "--from", fixed],
        check_rc=0)
    write_csv(m, SWAPPED + "x,T7,77,1.0\n")
    fixed = work.join("fixed-m.csv")
    write_fixed(fixed, [(m_id, "S8,n8,8,8.5")])
    proc = run(["deadletter", "replay", "-c", cfg, "--id", str(m_id), "--from", fixed],
               check_rc=2)
    check("another file" in proc.stderr and "--header" in proc.stderr,
          "replay of a replaced file by key:\n" + proc.stderr)

    # 4. A row kept by reference to m.csv (the old one's key): export refuses
    # the bytes of the new file, and leaves no output file behind.
    spool_sql(work, "UPDATE deadletters SET raw = NULL, raw_file = ?, raw_offset = ?,"
              " raw_length = 10 WHERE id = ?", (m, len(HEAD), m_id))
    out = work.join("export.csv")
    proc = run(["deadletter", "export", "-c", cfg, "-o", out], check_rc=1)
    check("dead letter %d" % m_id in proc.stderr and "another file" in proc.stderr,
          "export of a changed file:\n" + proc.stderr)
    check(not os.path.exists(out), "a half-written export is left behind")
    check(not [f for f in os.listdir(work.path) if f.startswith("export.csv")],
          "a temporary export file is left behind: %r" % os.listdir(work.path))
    # replay --all cannot read it: it stays open, and the exit status says so.
    proc = run(["deadletter", "replay", "-c", cfg, "--all"], check_rc=3)
    check("dead letter %d" % m_id in proc.stdout and "left open" in proc.stdout,
          "replay --all:\n" + proc.stdout)
    check([d for d in dl_list(cfg) if d["id"] == m_id][0]["state"] == "open",
          "the unread dead letter is not open")
    # Without it, export writes the file whole.
    spool_sql(work, "UPDATE deadletters SET raw_file = NULL, raw = 'a,b' WHERE id = ?",
              (m_id,))
    run(["deadletter", "export", "-c", cfg, "-o", out], check_rc=0)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    check([r["id"] for r in rows] == [str(m_id)], "export: %r" % rows)

    # What went in: each fixed row with its fields where they belong.
    recs = drained(cfg, work)
    for i in (2, 4, 6):
        r = recs.get(i)
        check(r and r["station"] == "S%d" % i and r["note"] == "n%d" % i,
              "record %d: %r" % (i, r))
    check(8 not in recs, "record 8 went in: %r" % recs.get(8))
print("ok")
