# SPDX-License-Identifier: Apache-2.0
"""Stray quotes and rows longer than the read window (issue 11 item 2,
issue 16 bug 1). Every file here is imported into a file sink; what was
spooled is compared, field by field, with what the file was meant to
hold.

1. A 100,000-row file with stray opening quotes on random lines (seed
   printed): accepted + rejected = rows in the file, every row without a
   stray quote is spooled exactly as written, every stray line is one dead
   letter at its own line, kept whole. Once with the default window, once
   with the smallest (read_buffer 4KiB, max_field 64: a 70 KB window), so
   that most stray quotes are decided past the window and the file is read
   again from the line after them.
2. Text inside a quoted field that is longer than the window is never read
   as rows (it used to invent records), and the row is one dead letter
   kept by file offset and length; the rows after it are read, at their
   own line numbers.
3. The same for a row longer than the window whose fields are all within
   max_field (read_buffer 4KiB: 1,331 invented records before).
4. A stray quote with no other quote after it in a .gz file: decided at the
   end of the file, read again from the line after it (gzseek backwards).
"""
import gzip
import random
import re

from harness import *

HEADER = "id,s1,s2,s3,s4,sn,n,d\n"
SMALL_WINDOW = "read_buffer: 4KiB\nmax_field: 64\n"


def row_text(i, rnd):
    """One row and the record it means; some fields quoted the RFC 4180 way
    (commas, "" and newlines inside), every quoted value starting with a
    letter, so that a stray quote's scan always stops at the next one."""
    vals = ["r%d" % i] + ["v%d_%d" % (i, k) for k in range(4)]
    cells = list(vals)
    k = rnd.randrange(1, 5)
    if rnd.random() < 0.05:
        vals[k] = "q%d, with \"quotes\"\nand a newline" % i
        cells[k] = '"' + vals[k].replace('"', '""') + '"'
    sn = None if i % 7 == 0 else "n%d" % i
    n, d = i % 100000, i / 8.0
    rec = {"id": vals[0], "s1": vals[1], "s2": vals[2], "s3": vals[3], "s4": vals[4],
           "sn": sn, "n": n, "d": d}
    return cells + ["" if sn is None else sn, str(n), repr(d)], rec


def stray_file(work, rows, n_stray, seed):
    rnd = random.Random(seed)
    stray = set(rnd.sample(range(2, rows), n_stray))
    expected, stray_lines = [], []
    path = work.join("stray-%d.csv" % seed)
    line = 1
    with open(path, "w", newline="") as f:
        f.write(HEADER)
        line += 1
        for i in range(1, rows + 1):
            cells, rec = row_text(i, rnd)
            while i in stray and '"' in "".join(cells):
                # one quote problem a row: a stray quote before a real
                # multi-line field on the same line splits that field
                cells, rec = row_text(i, rnd)
            if i in stray:
                # a stray quote opening a plain field: never closes properly
                k = rnd.randrange(1, 5)
                cells[k] = '"' + cells[k]
                stray_lines.append((line, i))
            else:
                expected.append(rec)
            text = ",".join(cells) + "\n"
            f.write(text)
            line += text.count("\n")
    return path, expected, stray_lines


def check_stray(work, rows, n_stray, seed, extra, label):
    path, expected, stray_lines = stray_file(work, rows, n_stray, seed)
    got, dls, proc = import_csv(work, path, "csv_strings", extra, timeout=900)
    check(len(got) + len(dls) == rows, "%s: %d accepted + %d rejected != %d rows\n%s" % (
        label, len(got), len(dls), rows, "\n".join("%s %s %r" % (
            d["location"], d["reason"], (d.get("raw") or "")[:100]) for d in dls)))
    check(len(got) == len(expected), "%s: %d rows accepted, expected %d" % (
        label, len(got), len(expected)))
    for g, w in zip(got, expected):
        if g != w:
            fail("%s: row %s spooled as\n %s\nexpected\n %s" % (label, w["id"], g, w))
    where = sorted(int(d["location"].rsplit(":", 2)[1]) for d in dls)
    check(where == [l for l, _ in stray_lines], "%s: dead letters at lines %s, the stray "
          "quotes are on %s" % (label, where[:20], [l for l, _ in stray_lines][:20]))
    for d in dls:
        check("unterminated quoted field" in d["reason"], "%s: %s" % (label, d["reason"]))
        raw = d.get("raw") or ""
        check(raw.endswith("\n") and raw.count("\n") == 1 and raw.startswith("r"),
              "%s: dead letter %s does not hold its line whole: %r" % (
                  label, d["location"], raw[:200]))
    print("%s: %d rows, %d stray quotes: %d accepted, %d dead letters" % (
        label, rows, n_stray, len(got), len(dls)))


seed = int(os.environ.get("SA_SEED") or random.randrange(1 << 30))
print("seed %d (SA_SEED=%d reproduces it)" % (seed, seed))

with Workdir("csv-stray") as work:
    check_stray(work, 100000, 40, seed, "", "default window")
    check_stray(work, 100000, 40, seed + 1, SMALL_WINDOW, "small window")

    # 2. A quoted field longer than the window, holding a row.
    path = work.join("inject.csv")
    with open(path, "w") as f:
        f.write(HEADER + 'L,"' + "x" * 1400000 + '\nINJ,a,b,c,d,e,1,1.5\n",b,c,d,e,1,1.5\n'
                "real,a,b,c,d,e,1,1.5\nbad,a,b,c,d,e,x,1\n")
    real = {"id": "real", "s1": "a", "s2": "b", "s3": "c", "s4": "d", "sn": "e", "n": 1,
            "d": 1.5}
    for extra in ("", "read_buffer: 4KiB\n"):
        got, dls, proc = import_csv(work, path, "csv_strings", extra)
        check(got == [real], "inject (%r): accepted %s" % (extra, [g["id"] for g in got]))
        # the long row is lines 2-4: the bad row after it is line 6
        check(len(dls) == 2 and dls[0]["location"].endswith(":2:1") and
              dls[1]["location"].endswith(":6:15"),
              "inject (%r): dead letters %s" % (extra, [(d["location"], d["reason"])
                                                       for d in dls]))
        print("inject %r: %s" % (extra, dls[0]["reason"][:160]))
    # the row is kept by reference: file, offset and length give it back
    d = dls[0]
    check(d.get("raw_file") == path and "raw" not in d or d.get("raw") in (None, ""),
          "a row past the window is kept by reference: %s" % d)
    with open(path, "rb") as f:
        f.seek(d["raw_offset"])
        bad = f.read(d["raw_length"])
    check(bad.startswith(b'L,"xxx') and bad.endswith(b'",b,c,d,e,1,1.5\n'),
          "offset and length do not give the row back: %r...%r" % (bad[:20], bad[-20:]))

    # 3. A 360 KB row of fields within max_field, past a 4 KiB read buffer.
    path = work.join("wide.csv")
    fields = ['"%s"' % ("y" * 5000 + ",\ninside,1,1.5\n")] * 70
    with open(path, "w") as f:
        f.write(HEADER + "first,a,b,c,d,e,1,1.5\n" + "W," + ",".join(fields) + "\n" +
                "last,a,b,c,d,e,2,2.5\n")
    got, dls, proc = import_csv(work, path, "csv_strings", "read_buffer: 4KiB\n")
    check([g["id"] for g in got] == ["first", "last"], "wide row: accepted %s" % (
        [g["id"] for g in got][:10]))
    check(len(dls) == 1 and dls[0]["location"].endswith(":3:1") and
          "row longer than" in dls[0]["reason"], "wide row: dead letters %s" % (
              [(d["location"], d["reason"]) for d in dls][:5]))
    check(got[1]["n"] == 2, "the row after the wide one")

    # 4. One stray quote in a .gz file, no quote after it: decided at the end.
    rnd = random.Random(seed)
    path = work.join("tail.csv.gz")
    lines, want = [], []
    for i in range(1, 20001):
        cells, rec = row_text(i, rnd)
        if '"' in ",".join(cells):
            cells, rec = ["r%d" % i, "a", "b", "c", "d", "e", "1", "1.5"], {
                "id": "r%d" % i, "s1": "a", "s2": "b", "s3": "c", "s4": "d", "sn": "e",
                "n": 1, "d": 1.5}
        if i == 3:
            cells[2] = '"' + cells[2]
        else:
            want.append(rec)
        lines.append(",".join(cells) + "\n")
    with gzip.open(path, "wt") as f:
        f.write(HEADER + "".join(lines))
    got, dls, proc = import_csv(work, path, "csv_strings", SMALL_WINDOW)
    check(got == want, "gz: %d accepted, expected %d" % (len(got), len(want)))
    check(len(dls) == 1 and re.search(r":4:\d+$", dls[0]["location"]) and
          "never closes" in dls[0]["reason"], "gz: dead letters %s" % (
              [(d["location"], d["reason"]) for d in dls]))
    print("gz stray quote: %d accepted, 1 dead letter" % len(got))
