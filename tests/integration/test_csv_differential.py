# SPDX-License-Identifier: Apache-2.0
"""Differential test of the CSV source against Python's csv module
(issue 16): random files written by csv.writer -- quote-minimal and
quote-all, LF and CRLF, with and without a BOM, four delimiters, values
with quotes, CR, LF, CRLF, delimiters, Unicode and 10-100 KB lengths --
imported with read buffers from 4 KiB to 1 MiB and max_field from 16 to
128 KiB, and drained to NDJSON. Every field of every row must equal what
the writer was given (which csv.reader, checked first, reads back too);
a row with a field longer than max_field, or longer than the read window
(read_buffer + 4 x max_field + 64 KiB), must be one dead letter at its
own lines (its location names the line of the bad field, which may be a
later line of the row), and nothing else.

What the comparison expects where CSV itself cannot say (README, CSV
ingestion): an unquoted empty field is null in a nullable field and the
empty string in a string field; a quoted "" is the empty string. So a
None or '' in the nullable column reads back as '' when the writer quoted
it (quote-all, or a one-field row) and as null otherwise.

The first seed is fixed (it holds the cases that found issue 16's bugs),
then a new seed, printed: SA_SEED=N replays one seed, SA_SEED=N
SA_CSV_FILE=I one file of it. With SA_CSV_DIFF_SECONDS=S new seeds follow
until S seconds have passed: the fuzz label runs it so, next to the
libFuzzer targets (tools/fuzz, CI). A file that fails is kept, with the
source keys that read it, in SA_CSV_DIFF_KEEP (default
csv-differential/ in the build directory), and its path is printed.
"""
import csv
import io
import random
import shutil
import time

from harness import *

PIECES = ["a", "word", " ", "x y", ",", ";", "\t", "|", '"', '""', "\r", "\n", "\r\n",
          "\u00e9", "\u65e5\u672c\u8a9e", "\U0001F600", "\u00df", "0", "-1", "NULL",
          "\\N", "'", "=", "#"]
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def text(rnd, quoting_safe_cr, max_field):
    if rnd.random() < 0.03:
        # a long value, in bytes: around max_field, within 10-100 KB
        target = min(100000, max(10000, rnd.randrange(max_field // 2, max_field * 3 // 2)))
        parts, size = [], 0
        while size < target:
            p = rnd.choice(PIECES) * rnd.randrange(1, 200)
            parts.append(p)
            size += len(p.encode())
        v = "".join(parts)
        while len(v.encode()) > 100000:
            v = v[:-1]
    else:
        v = "".join(rnd.choice(PIECES) for _ in range(rnd.randrange(0, 8)))
    if not quoting_safe_cr:
        # csv.writer leaves a field with a lone CR unquoted when the line
        # terminator is LF, and no reader can read that back
        v = v.replace("\r\n", "\n").replace("\r", "\r\n")
    return v


def make_file(work, seed, idx):
    rnd = random.Random(seed * 1000 + idx)
    delim = rnd.choice(sorted(DELIMITERS))
    quoting = rnd.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
    term = rnd.choice(["\n", "\r\n"])
    bom = rnd.random() < 0.3
    one = rnd.random() < 0.15  # a one-field schema (bug 3)
    stream = rnd.choice(["csv_one", "csv_one_null"]) if one else "csv_strings"
    safe_cr = term == "\r\n" or quoting == csv.QUOTE_ALL
    max_field = rnd.choice([16, 64, 128]) << 10
    read_buffer = rnd.choice([4096, 8192, 65536, 1 << 20, rnd.randrange(4096, 1 << 20)])
    rows, meant = [], []
    for i in range(rnd.randrange(1, 400)):
        if one:
            v = rnd.choice(["", None, text(rnd, safe_cr, max_field)])
            rows.append([v])
            # csv.writer quotes the empty field of a one-field row
            meant.append({"v": "" if v is None else v})
            continue
        s = [text(rnd, safe_cr, max_field) for _ in range(4)]
        sn = rnd.choice([None, "", text(rnd, safe_cr, max_field)])
        n = rnd.randrange(-2**31, 2**31)
        d = rnd.choice([rnd.uniform(-1e6, 1e6), rnd.random() * 10 ** rnd.randrange(-300, 300),
                        float(rnd.randrange(-1000, 1000))])
        rows.append(["id%d" % i] + s + [sn, n, repr(d)])
        written_sn = "" if sn is None else sn
        if written_sn == "" and quoting != csv.QUOTE_ALL:
            sn_meant = None
        else:
            sn_meant = written_sn
        meant.append({"id": "id%d" % i, "s1": s[0], "s2": s[1], "s3": s[2], "s4": s[3],
                      "sn": sn_meant, "n": n, "d": d})
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, quoting=quoting, lineterminator=term)
    w.writerow(["v"] if one else ["id", "s1", "s2", "s3", "s4", "sn", "n", "d"])
    # which rows must be dead letters, and at which line each starts
    window = read_buffer + 4 * max_field + 65536
    line = 2
    for r, m in zip(rows, meant):
        start = buf.tell()
        w.writerow(r)
        written = buf.getvalue()[start:]
        too_long = max(len(("" if c is None else str(c)).encode()) for c in r) > max_field
        m["_reject"] = (line, line + written.count("\n")) if too_long or \
            len(written.encode()) > window else None
        line += written.count("\n")
    data = buf.getvalue()
    # the reference reader agrees with what the writer was given
    back = list(csv.reader(io.StringIO(data, newline=""), delimiter=delim))[1:]
    want_back = [["" if c is None else str(c) for c in r] for r in rows]
    check(back == want_back, "generator: csv.reader does not read back seed %d file %d"
          % (seed, idx))
    path = work.join("f%d-%d.csv" % (seed, idx))
    with open(path, "wb") as f:
        f.write((b"\xef\xbb\xbf" if bom else b"") + data.encode())
    extra = "delimiter: %s\nread_buffer: %d\nmax_field: %d\n" % (
        DELIMITERS[delim], read_buffer, max_field)
    label = "seed %d file %d (%s, %s, %r, bom=%s, %s)" % (
        seed, idx, stream, "quote-all" if quoting == csv.QUOTE_ALL else "quote-minimal",
        term, bom, extra.replace("\n", " ").strip())
    return path, stream, extra, meant, label


def keep_failed(path, stream, extra, seed, idx):
    """Copy a file that failed, and the source keys that read it, where the
    run leaves them; say how to replay it."""
    os.makedirs(KEEP_DIR, exist_ok=True)
    kept = os.path.join(KEEP_DIR, os.path.basename(path))
    shutil.copy(path, kept)
    with open(kept + ".yaml", "w") as f:
        f.write("stream: %s\n%s" % (stream, extra))
    print("FAILED: seed %d file %d; the file is kept as %s, the source keys that "
          "read it in %s.yaml; SA_SEED=%d SA_CSV_FILE=%d replays it" % (
              seed, idx, kept, kept, seed, idx), file=sys.stderr, flush=True)


def run_seed(work, seed, files):
    rows = 0
    for idx in files:
        path, stream, extra, meant, label = make_file(work, seed, idx)
        try:
            rows += check_file(work, path, stream, extra, meant, label)
        except SystemExit:
            keep_failed(path, stream, extra, seed, idx)
            raise
        os.remove(path)
    return rows


def check_file(work, path, stream, extra, meant, label):
    """Import one file; every row must be as written or, when too long, one
    dead letter within its own lines. Returns the rows the file held."""
    global rejected
    got, dls, proc = import_csv(work, path, stream, extra)
    check(proc.returncode in (0, 3), "%s: import exited %d\n%s" % (
        label, proc.returncode, proc.stderr[-3000:]))
    want_dls = [m["_reject"] for m in meant if m["_reject"]]
    meant = [{k: v for k, v in m.items() if k != "_reject"} for m in meant
             if not m["_reject"]]
    where = [int(d["location"].rsplit(":", 2)[1]) for d in dls]
    check(len(where) == len(want_dls) and all(
        first <= w <= last for w, (first, last) in zip(where, want_dls)),
        "%s: dead letters at lines %s, expected %s; the first: %s" % (
            label, where[:10], want_dls[:10], [(d["location"], d["reason"])
                                               for d in dls[:2]]))
    check(len(got) == len(meant), "%s: %d rows spooled, %d expected\n%s" % (
        label, len(got), len(meant), proc.stderr[-1500:]))
    for i, (g, m) in enumerate(zip(got, meant)):
        if g != m:
            diff = {k: (g.get(k), m.get(k)) for k in m if g.get(k) != m.get(k)}
            fail("%s: row %d differs (got, written): %r" % (
                label, i + 1, {k: (repr(a)[:120], repr(b)[:120])
                               for k, (a, b) in diff.items()}))
    rejected += len(want_dls)
    return len(meant) + len(want_dls)


FILES_PER_SEED = 12
KEEP_DIR = os.environ.get("SA_CSV_DIFF_KEEP") or os.path.join(
    os.environ.get("SA_BINARY_DIR") or os.getcwd(), "csv-differential")
budget = float(os.environ.get("SA_CSV_DIFF_SECONDS", "0"))
started = time.monotonic()
with Workdir("csv-diff") as work:
    files = list(range(FILES_PER_SEED))
    if os.environ.get("SA_SEED"):
        seeds = [int(os.environ["SA_SEED"])]
        if os.environ.get("SA_CSV_FILE"):
            files = [int(os.environ["SA_CSV_FILE"])]
    else:
        seeds = [20261206, random.randrange(1 << 30)]
    total = n_files = rejected = 0
    while seeds:
        seed = seeds.pop(0)
        print("seed %d (SA_SEED=%d replays it)" % (seed, seed), flush=True)
        total += run_seed(work, seed, files)
        n_files += len(files)
        if not seeds and not os.environ.get("SA_SEED") and \
                time.monotonic() - started < budget:
            seeds.append(random.randrange(1 << 30))
    print("csv differential: %d files, %d rows, every field as written, %d rows rightly "
          "dead-lettered" % (n_files, total, rejected))
