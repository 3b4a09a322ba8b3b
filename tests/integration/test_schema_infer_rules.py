# SPDX-License-Identifier: Apache-2.0
"""`schema infer` keeps what a file says (issue 11, items 4 and 5).

A type is inferred only when every value comes back as written: ZIP codes
with a leading zero (02134) and versions (3.9, 3.10, 3.11) are strings, a
fixed-point column with trailing zeros (1.50, 2.00) stays double and is
named as ambiguous (x.0, as programs write integral floats, is not a
trailing zero), timestamps with microseconds are timestamp-micros.
`Höhe (m)` is named per character (h_he_m), and a hand-written schema
with that name takes the header by its normalized name, as the inferred
one does. An import with the inferred schema and snippet gives back every
value as written. A file with CR-only line ends is refused, as import
refuses it. A file with more rows than --rows: infer says the types fit the
rows it read only."""
import calendar
import datetime

from harness import *

with Workdir("schema-infer-rules") as work:
    header = ["id", "zip", "version", "price", "H\u00f6he (m)", "at", "delta", "py"]
    rows = [
        ["1", "02134", "3.9", "1.50", "12.5", "2024-01-01T10:00:00.123456Z", "0", "1.0"],
        ["2", "10001", "3.10", "2.00", "13", "2024-01-02T10:00:00.000001Z", "-0.5", "0.25"],
        ["3", "00501", "3.11", "3.25", "1", "2024-01-02T10:00:00Z", "7", "12.0"],
        ["4", "90210", "3.12", "10.05", "-4", "2024-01-03T00:00:00.999999Z", "0.25", "-3.5"],
    ]
    path = work.join("places.csv")
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")

    schemas = work.join("schemas")
    proc = run(["schema", "infer", path, "--subject", "places", "-o", schemas], check_rc=0)
    with open(os.path.join(schemas, "places", "v1.avsc")) as f:
        avsc = json.load(f)

    def type_of(field):
        t = field["type"]
        return t["logicalType"] if isinstance(t, dict) else t

    got = {f["name"]: type_of(f) for f in avsc["fields"]}
    want = {"id": "int", "zip": "string", "version": "string", "price": "double",
            "h_he_m": "double", "at": "timestamp-micros", "delta": "double",
            "py": "double"}
    check(got == want, "types %r\nwant %r" % (got, want))
    aliases = {f["name"]: f.get("aliases") for f in avsc["fields"]}
    check(aliases["h_he_m"] == ["H\u00f6he (m)"], "aliases: %r" % aliases)
    # Each rule that decided is named; the ambiguous column in the snippet too.
    for words in ("column 'zip' (zip) is a string: \"02134\" has a leading zero",
                  "column 'version' (version) is a string",
                  "column 'price' (price) is ambiguous"):
        check(words in proc.stderr, "stderr lacks %r:\n%s" % (words, proc.stderr))
    check("# price: double, though \"1.50\"" in proc.stdout, proc.stdout)
    check("delta" not in proc.stderr and "'py'" not in proc.stderr,
          "delta and py (1.0, 0.25: floats as Python writes them) are not ambiguous:\n"
          + proc.stderr)

    snippet = proc.stdout.split("\n", 1)[1]
    cfg = work.write("agent.yaml", "agent:\n  data_dir: %s\n  schemas_dir: %s\nsources:\n%s"
                     "sinks:\n  - name: files\n    type: file\n    path: %s\n" % (
                         work.join("data"), schemas, snippet, work.join("out")))
    proc = run(["import", "-c", cfg, "--stream", "places", "--wait-synced", path],
               check_rc=0)
    out = sorted(read_ndjson_dir(work.join("out")), key=lambda r: r["id"])
    check(len(out) == len(rows), "%d records: %r" % (len(out), out))

    def micros(text):
        t = datetime.datetime.strptime(text.replace("Z", ""), "%Y-%m-%dT%H:%M:%S" +
                                       (".%f" if "." in text else ""))
        return calendar.timegm(t.timetuple()) * 1000000 + t.microsecond

    for rec, row in zip(out, rows):
        want = {"id": int(row[0]), "zip": row[1], "version": row[2],
                "price": float(row[3]), "h_he_m": float(row[4]), "at": micros(row[5]),
                "delta": float(row[6]), "py": float(row[7])}
        got = {k: rec[k] for k in want}
        check(got == want, "record %r\nwant %r" % (got, want))

    # The CSV source maps a header onto a field by the same normalization:
    # a schema written by hand, without aliases, takes `Höhe (m)`.
    os.makedirs(work.join("hand", "height"))
    with open(work.join("hand", "height", "v1.avsc"), "w") as f:
        json.dump({"type": "record", "name": "Height", "fields": [
            {"name": "id", "type": "int"}, {"name": "h_he_m", "type": "double"}]}, f)
    hpath = work.write("height.csv", "id,H\u00f6he (m)\n1,12.5\n2,-3\n")
    cfg = work.write("hand.yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\nsources:\n  - name: h\n"
        "    type: csv\n    stream: height\n    path: %s\n    watch: false\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            work.join("data-h"), work.join("hand"), hpath, work.join("out-h")))
    proc = run(["import", "-c", cfg, "--stream", "height", "--wait-synced", hpath],
               check_rc=0)
    got = sorted(({"id": r["id"], "h_he_m": r["h_he_m"]}
                  for r in read_ndjson_dir(work.join("out-h"))), key=lambda r: r["id"])
    check(got == [{"id": 1, "h_he_m": 12.5}, {"id": 2, "h_he_m": -3.0}],
          "normalized header import: %r\n%s" % (got, proc.stderr[-2000:]))

    # CR-only line ends: refused by infer with the message import gives.
    cr = work.join("mac.csv")
    with open(cr, "wb") as f:
        f.write(b"a,b\r1,2\r3,4\r")
    proc = run(["schema", "infer", cr, "--subject", "mac", "-o", schemas])
    msg = "lines end with CR alone (classic Mac OS), which this reader does not take"
    check(proc.returncode == 2 and msg in proc.stderr,
          "CR-only infer: %d %s" % (proc.returncode, proc.stderr))
    check(not os.path.exists(os.path.join(schemas, "mac")), "mac schema written")
    os.makedirs(work.join("mac-schemas", "mac"))
    with open(work.join("mac-schemas", "mac", "v1.avsc"), "w") as f:
        json.dump({"type": "record", "name": "Mac", "fields": [
            {"name": "a", "type": "int"}, {"name": "b", "type": "int"}]}, f)
    cfg = work.write("mac.yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\nsources:\n  - name: m\n"
        "    type: csv\n    stream: mac\n    path: %s\n    watch: false\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
            work.join("data-m"), work.join("mac-schemas"), cr, work.join("out-m")))
    proc = run(["import", "-c", cfg, "--stream", "mac", cr])
    check(msg in proc.stdout + proc.stderr, "import of a CR-only file said:\n%s%s" % (
        proc.stdout, proc.stderr))

    # A file longer than the sample: infer says its types fit the rows it
    # read only, and how to read more (the 2,000th row needs a long).
    big = work.join("big.csv")
    with open(big, "w") as f:
        f.write("id,qty\n")
        for i in range(2000):
            f.write("%d,%d\n" % (i, i if i < 1999 else 3000000000))
        f.write("\n")
    proc = run(["schema", "infer", big, "--subject", "big", "-o", schemas,
                "--rows", "1500"], check_rc=0)
    check("from the first 1500 rows of" in proc.stdout and
          "has more rows than the 1500 read" in proc.stderr and
          "--rows N" in proc.stderr, "a partial sample is not said:\n%s%s" % (
              proc.stdout, proc.stderr))
    proc = run(["schema", "infer", big, "--subject", "big2", "-o", schemas,
                "--rows", "2000"], check_rc=0)
    check("from 2000 rows of" in proc.stdout and "more rows" not in proc.stderr,
          "a whole file read (blank line after it) is called partial:\n%s%s" % (
              proc.stdout, proc.stderr))
    with open(os.path.join(schemas, "big2", "v1.avsc")) as f:
        qty = [c for c in json.load(f)["fields"] if c["name"] == "qty"][0]
    check(qty["type"] == "long", "qty: %r" % qty)

    print("schema infer: leading zeros and versions stay strings, micros kept, "
          "H\u00f6he (m) named h_he_m and mapped so, CR-only refused, a partial "
          "sample said")
