# SPDX-License-Identifier: Apache-2.0
"""The repair path for rejected rows (issue 11, item 3; issue 16, item 6):
import a file with bad rows, `deadletter export` them, fix the CSV (here
with Python's csv module, as a person would with any tool), `deadletter
replay --all --from fixed.csv`; a row whose fix is still wrong stays open
with its original reason and the replay's failure beside it, and is fixed and replayed by --id. In the end the
spool holds every row of the file exactly once (drained through a file
sink and compared row by row), every dead letter is resolved, and
replaying again adds nothing.

Also: `deadletter list --json` gives raw bytes that are not UTF-8 as
raw_base64 (never null), and a dead letter kept by reference (file,
offset, length: what the CSV source stores for a row longer than its
read window) is listed as such, exported and replayed from its file."""
import base64
import csv
import sqlite3
import time

from harness import *

N = 300
BAD_AGE = (5, 17, 33, 48, 61)
BAD_UTF8 = (70, 85)
BAD_PLAN = (99, 120, 150)
STILL_WRONG = 150  # its first fix is wrong too


def dl_list(cfg):
    proc = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def line_of(location):
    return int(location.rsplit(":", 2)[1])


def read_fixable(path):
    """The exported CSV as dicts; bytes that are not UTF-8 kept as they are."""
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


def write_fixed(path, rows):
    with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.DictWriter(f, fieldnames=["id", "source", "location", "reason",
                                          "last_replay_error", "raw"])
        w.writeheader()
        w.writerows(rows)


with Workdir("dl-repair") as work:
    indir = work.join("in")
    os.makedirs(indir)
    data = os.path.join(indir, "users.csv")
    run(["generate", "--schema", "user:v1", "-n", str(N), "--seed", "11",
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", data], check_rc=0)
    with open(data, "rb") as f:
        pristine = f.read().split(b"\n")  # [0] is the header; row i is [i]
    header = pristine[0].decode().split(",")
    col = {name: i for i, name in enumerate(header)}
    broken = list(pristine)
    for i in BAD_AGE:
        fields = broken[i].split(b",")
        fields[col["age"]] = b"old"
        broken[i] = b",".join(fields)
    for i in BAD_UTF8:
        fields = broken[i].split(b",")
        fields[col["city"]] = fields[col["city"]][:2] + b"\xff" + fields[col["city"]][2:]
        broken[i] = b",".join(fields)
    for i in BAD_PLAN:
        fields = broken[i].split(b",")
        fields[col["plan"]] = b"GOLD"
        broken[i] = b",".join(fields)
    with open(data, "wb") as f:
        f.write(b"\n".join(broken))
    n_bad = len(BAD_AGE) + len(BAD_UTF8) + len(BAD_PLAN)

    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
        "  shutdown_grace: 5s",
        "batch:", "  max_records: 100", "  linger: 20ms",
        "sources:", "  - name: users", "    type: csv", "    stream: user",
        "    schema: user:v1", "    path: " + os.path.join(indir, "*.csv"),
        "    watch: false",
        "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out"),
        "    format: ndjson", ""]))

    proc = run(["import", "-c", cfg, data], check_rc=3)
    check("%s: %d accepted, %d rejected" % (data, N - n_bad, n_bad) in proc.stdout,
          "import summary:\n" + proc.stdout)

    # A dead letter kept by reference, as the CSV source stores a row too
    # long for its read window: the bytes of row 2 of another file.
    ref_file = work.join("long.csv")
    run(["generate", "--schema", "user:v1", "-n", "2", "--seed", "12",
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", ref_file], check_rc=0)
    with open(ref_file, "rb") as f:
        ref_bytes = f.read()
    ref_rows = ref_bytes.split(b"\n")
    ref_offset = len(ref_rows[0]) + 1 + len(ref_rows[1]) + 1
    ref_length = len(ref_rows[2]) + 1
    db = sqlite3.connect(work.join("data", "spool.db"))
    db.execute("INSERT INTO deadletters(created_ms, stream, source, location, reason,"
               " raw, raw_file, raw_offset, raw_length) VALUES (?, 'user', 'users',"
               " ?, 'row longer than 4096 bytes', NULL, ?, ?, ?)",
               (int(time.time() * 1000), ref_file + ":3:1", ref_file, ref_offset,
                ref_length))
    db.commit()
    db.close()

    # list: open, raw never null; not UTF-8 -> raw_base64; by reference.
    dls = dl_list(cfg)
    check(len(dls) == n_bad + 1, "%d dead letters, expected %d" % (len(dls), n_bad + 1))
    for d in dls:
        check(d["state"] == "open", "state %r" % d)
        check(d.get("raw") is not None or d.get("raw_base64") is not None
              or d.get("raw_file"), "no raw: %r" % d)
        if d.get("raw_file"):
            check(d["raw_file"] == ref_file and d["raw_offset"] == ref_offset
                  and d["raw_length"] == ref_length, "by reference: %r" % d)
            continue
        line = line_of(d["location"])
        if line - 1 in BAD_UTF8:
            check("raw" not in d, "invalid UTF-8 as raw: %r" % d)
            got = base64.b64decode(d["raw_base64"])
            check(got == broken[line - 1] + b"\n", "raw_base64 %r is not the row %r" % (
                got, broken[line - 1]))
        else:
            check(d["raw"] == broken[line - 1].decode() + "\n", "raw %r" % d)
    proc = run(["deadletter", "list", "-c", cfg], check_rc=0)
    check("\\xff" in proc.stdout and "[open]" in proc.stdout, "table:\n" + proc.stdout)
    check("by reference, %d bytes at offset %d of %s" % (ref_length, ref_offset, ref_file)
          in proc.stdout, "table by reference:\n" + proc.stdout)

    # export: one row per open dead letter, the raw row without its newline,
    # the by-reference one read back from its file.
    exported = work.join("deadletters.csv")
    run(["deadletter", "export", "-c", cfg, "-o", exported], check_rc=0)
    rows = read_fixable(exported)
    check(len(rows) == n_bad + 1, "%d rows exported" % len(rows))
    for r in rows:
        if r["location"].startswith(ref_file):
            check(r["raw"].encode() == ref_rows[2], "by-reference raw %r" % r["raw"])
        else:
            check(r["raw"].encode("utf-8", "surrogateescape") ==
                  broken[line_of(r["location"]) - 1], "exported raw %r" % r["raw"])

    # The fix: the rows as they should have been; one fixed wrongly again.
    for r in rows:
        if r["location"].startswith(ref_file):
            continue  # nothing wrong with it: replayed as it is
        i = line_of(r["location"]) - 1
        r["raw"] = pristine[i].decode()
        if i == STILL_WRONG:
            r["raw"] = r["raw"].replace(",FREE,", ",FRE,").replace(
                ",BASIC,", ",FRE,").replace(",PRO,", ",FRE,").replace(
                ",ENTERPRISE,", ",FRE,")
    fixed = work.join("fixed.csv")
    write_fixed(fixed, rows)
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=3)
    check("replayed %d dead letters, 1 still fail" % n_bad in proc.stdout,
          "replay:\n" + proc.stdout + proc.stderr[-2000:])
    dls = dl_list(cfg)
    still = [d for d in dls if d["state"] == "open"]
    check(len(still) == 1 and line_of(still[0]["location"]) == STILL_WRONG + 1,
          "open after the replay: %r" % still)
    # The original rejection is kept; why the replay failed is beside it.
    check("GOLD" in still[0]["reason"], "original reason: %r" % still[0]["reason"])
    check("FRE" in still[0].get("last_replay_error", ""),
          "last_replay_error: %r" % still[0])
    for d in dls:
        if d["state"] == "resolved":
            check(d["resolved_how"] == "replayed from " + fixed and d["resolved_time"],
                  "resolution: %r" % d)

    # Fix that one again and replay it by id.
    again = work.join("again.csv")
    run(["deadletter", "export", "-c", cfg, "-o", again], check_rc=0)
    rows = read_fixable(again)
    check(len(rows) == 1 and int(rows[0]["id"]) == still[0]["id"], "export: %r" % rows)
    rows[0]["raw"] = pristine[STILL_WRONG].decode()
    write_fixed(again, rows)
    proc = run(["deadletter", "replay", "-c", cfg, "--id", rows[0]["id"], "--from", again],
               check_rc=0)
    check("replayed 1 dead letters, 0 still fail" in proc.stdout, proc.stdout)

    # Nothing goes in twice.
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=0)
    check("replayed 0 dead letters" in proc.stdout and "resolved already" in proc.stdout,
          "replay again:\n" + proc.stdout)
    proc = run(["deadletter", "replay", "-c", cfg, "--all"], check_rc=0)
    check("replayed 0 dead letters" in proc.stdout, proc.stdout)
    proc = run(["deadletter", "replay", "-c", cfg, "--id", str(dls[0]["id"])], check_rc=2)
    check("resolved already" in proc.stderr, proc.stderr)
    run(["import", "-c", cfg, data], check_rc=0)  # already imported: nothing again

    dls = dl_list(cfg)
    check(all(d["state"] == "resolved" for d in dls), "still open: %r" % [
        d for d in dls if d["state"] != "resolved"])
    st = status_json(cfg)
    check(st["deadletters"] == n_bad + 1 and st["deadletters_open"] == 0, "status %r" % st)
    check(st["next_seq"] - 1 == N + 1, "%d records spooled, expected %d" % (
        st["next_seq"] - 1, N + 1))
    db = sqlite3.connect(work.join("data", "spool.db"))
    audits = db.execute("SELECT detail FROM audit WHERE kind = 'deadletter_replay'"
                        " ORDER BY id").fetchall()
    db.close()
    details = [json.loads(a[0]) for a in audits]
    check(details and details[0]["resolved"] == n_bad and details[0]["still_open"] == 1
          and details[0]["from"] == fixed and "user" in details[0],
          "audit: %r" % details)

    # Drain: every row exactly once, fixed rows with their right values.
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    out = read_ndjson_by_stream(work.join("out")).get("user", [])
    want = {}
    for line in pristine[1:] + [ref_rows[2]]:
        if not line:
            continue
        f = line.decode().split(",")
        want[(int(f[col["user_id"]]), f[col["email"]])] = f
    got = {}
    for r in out:
        k = (r["user_id"], r["email"])
        check(k not in got, "row %r delivered twice" % (k,))
        got[k] = r
    check(set(got) == set(want), "rows missing: %r, extra: %r" % (
        sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5]))
    for i in BAD_AGE + BAD_UTF8 + BAD_PLAN:
        f = pristine[i].decode().split(",")
        r = got[(int(f[col["user_id"]]), f[col["email"]])]
        check(str(r["age"]) == f[col["age"]] or (r["age"] is None and f[col["age"]] == ""),
              "row %d age %r, expected %r" % (i, r["age"], f[col["age"]]))
        check(r["city"] == f[col["city"]] and r["plan"] == f[col["plan"]],
              "row %d: %r" % (i, r))
    print("deadletter repair: %d rows, %d rejected, exported, fixed, replayed; every "
          "row once" % (N + 1, n_bad + 1))
