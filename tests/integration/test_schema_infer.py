# SPDX-License-Identifier: Apache-2.0
"""`syncagent schema infer FILE.csv --subject NAME` (issue 11, item 4).

A file with varied columns (ISO dates, 2012/01/01 dates, ISO timestamps,
ints, ints beyond int32, floats with NaN, booleans, text with quotes,
commas and newlines, empty cells, headers that are not Avro names, two
headers that normalize alike, short rows, a BOM and CRLF) gets a schema
with the expected types; an import with that schema and the printed
source snippet accepts every row, and every field that comes out is the
value the file holds. An existing schema file is never overwritten; bad
arguments exit 2, an unreadable file 1."""
import calendar
import csv
import datetime
import io
import random

from harness import *

N_ROWS = 400


def epoch_days(d):
    return (d - datetime.date(1970, 1, 1)).days


with Workdir("schema-infer") as work:
    rnd = random.Random(11)
    header = ["id", "Name", "eol-lts", "Release Date", "obs day", "updated_at",
              "population", "elevation", "score", "active", "note", "2nd", "name",
              "empty"]
    rows = []
    for i in range(N_ROWS):
        d = datetime.date(2012, 1, 1) + datetime.timedelta(days=rnd.randrange(4000))
        o = datetime.date(1990, 1, 1) + datetime.timedelta(days=rnd.randrange(20000))
        ts = datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=rnd.randrange(10**8))
        rows.append([
            str(i),
            rnd.choice(['Heathrow, "LHR"', "Plain", "multi\nline", "ünïcödé", "x,y"]) + str(i),
            rnd.choice(["true", "false", "TRUE", "no", "yes", ""]),
            d.isoformat(),
            o.strftime("%Y/%m/%d"),
            ts.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % rnd.randrange(1000),
            str(rnd.randrange(-2**40, 2**40)) if i != 3 else "3000000000",
            "" if i % 7 == 0 else str(rnd.randrange(-400, 9000)),
            rnd.choice(["NaN", "-Infinity", "%.4f" % rnd.uniform(-1e6, 1e6), "1e-7", "42"]),
            rnd.choice(["true", "false"]),
            rnd.choice(["", "a \"quoted\" word", "commas, here", "plain"]),
            str(rnd.randrange(100)),
            "n%d" % i,
            "",
        ])
    # Short rows: the last columns are missing (all nullable ones here...
    # except 2nd and name, which the inference must then make nullable).
    for i in (10, 250):
        rows[i] = rows[i][:10]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    path = work.join("varied.csv")
    with open(path, "wb") as f:
        f.write(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))

    schemas = work.join("schemas")
    proc = run(["schema", "infer", path, "--subject", "varied", "-o", schemas], check_rc=0)
    avsc_path = os.path.join(schemas, "varied", "v1.avsc")
    check(proc.stdout.startswith("wrote %s: 14 fields from %d rows" % (avsc_path, N_ROWS)),
          "infer said: " + proc.stdout)
    with open(avsc_path) as f:
        avsc_text = f.read()
    avsc = json.loads(avsc_text)
    fields = {f["name"]: f for f in avsc["fields"]}

    def type_of(name):
        t = fields[name]["type"]
        nul = isinstance(t, list)
        if nul:
            check(t[0] == "null" and "default" in fields[name] and
                  fields[name]["default"] is None, "%s: %r" % (name, fields[name]))
            t = t[1]
        if isinstance(t, dict):
            t = t["logicalType"]
        return t, nul

    want_types = {"id": ("int", False), "name_2": ("string", False),
                  "eol_lts": ("boolean", True), "release_date": ("date", False),
                  "obs_day": ("date", False), "updated_at": ("timestamp-millis", False),
                  "population": ("long", False), "elevation": ("int", True),
                  "score": ("double", False), "active": ("boolean", False),
                  "note": ("string", True), "_2nd": ("int", True), "name": ("string", True),
                  "empty": ("string", True)}
    got_types = {n: type_of(n) for n in fields}
    check(got_types == want_types, "types: %r\nwant %r" % (got_types, want_types))
    check([f["name"] for f in avsc["fields"]] ==
          ["id", "name_2", "eol_lts", "release_date", "obs_day", "updated_at",
           "population", "elevation", "score", "active", "note", "_2nd", "name", "empty"],
          "names: %r" % [f["name"] for f in avsc["fields"]])
    aliases = {f["name"]: f.get("aliases") for f in avsc["fields"]}
    check(aliases["name_2"] == ["Name"] and aliases["eol_lts"] == ["eol-lts"] and
          aliases["_2nd"] == ["2nd"] and aliases["name"] is None and
          aliases["obs_day"] == ["obs day"], "aliases: %r" % aliases)

    # The snippet, pasted into a config, imports the file: every row.
    snippet = proc.stdout.split("\n", 1)[1]
    check('formats: {obs_day: "%Y/%m/%d"}' in snippet and "short_rows: null" in snippet
          and "path: " + os.path.realpath(path) in snippet, "snippet:\n" + snippet)
    cfg = work.write("agent.yaml", "agent:\n  data_dir: %s\n  schemas_dir: %s\nsources:\n%s"
                     "sinks:\n  - name: files\n    type: file\n    path: %s\n" % (
                         work.join("data"), schemas, snippet, work.join("out")))
    proc = run(["import", "-c", cfg, "--stream", "varied", path], check_rc=0)
    check("varied.csv: %d accepted, 0 rejected" % N_ROWS in proc.stdout,
          "import: " + proc.stdout + proc.stderr[-2000:])
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    out = read_ndjson_dir(work.join("out"))
    check(len(out) == N_ROWS, "%d records out of %d" % (len(out), N_ROWS))

    def expect(row):
        row = row + [""] * (len(header) - len(row))
        b = {"true": True, "false": False, "yes": True, "no": False, "": None}
        score = float(row[8])
        ts = datetime.datetime.strptime(row[5], "%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "id": int(row[0]), "name_2": row[1], "eol_lts": b[row[2].lower()],
            "release_date": epoch_days(datetime.date.fromisoformat(row[3])),
            "obs_day": epoch_days(datetime.datetime.strptime(row[4], "%Y/%m/%d").date()),
            "updated_at": calendar.timegm(ts.timetuple()) * 1000 + ts.microsecond // 1000,
            "population": int(row[6]), "elevation": int(row[7]) if row[7] else None,
            "score": score if score == score and abs(score) != float("inf") else None,
            "active": b[row[9]], "note": row[10] or None,
            "_2nd": int(row[11]) if row[11] else None, "name": row[12] or None,
            "empty": None,
        }

    for i, (rec, row) in enumerate(zip(out, rows)):
        got = {k: rec[k] for k in want_types}
        want = expect(row)
        check(got == want, "row %d: %r\nwant %r" % (i + 1, got, want))

    # A header written twice: the second column gets a field of its own,
    # with the header as its alias, and the import maps it there.
    dup = work.write("dup.csv", "code,code,Code,extra\n1,x,2012-01-01,\n2,y,2012-01-02,z\n")
    proc = run(["schema", "infer", dup, "--subject", "dup", "-o", schemas], check_rc=0)
    cfg = work.write("dup.yaml", "agent:\n  data_dir: %s\n  schemas_dir: %s\nsources:\n%s"
                     "sinks:\n  - name: files\n    type: file\n    path: %s\n" % (
                         work.join("data-dup"), schemas, proc.stdout.split("\n", 1)[1],
                         work.join("out-dup")))
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    got = [{k: v for k, v in r.items() if not k.startswith("_")}
           for r in read_ndjson_dir(work.join("out-dup"))]
    check(got == [{"code": 1, "code_2": "x", "code_3": 15340, "extra": None},
                  {"code": 2, "code_2": "y", "code_3": 15341, "extra": "z"}],
          "duplicate headers: %r" % got)

    # Never overwritten; bad arguments 2; an unreadable file 1.
    proc = run(["schema", "infer", path, "--subject", "varied", "-o", schemas])
    check(proc.returncode == 2 and "exists already" in proc.stderr,
          "second infer: %d %s" % (proc.returncode, proc.stderr))
    with open(avsc_path) as f:
        check(f.read() == avsc_text, "the schema file changed")
    proc = run(["schema", "infer", path, "--subject", "few", "-o", schemas, "--rows", "5"],
               check_rc=0)
    check("from the first 5 rows" in proc.stdout and "has more rows" in proc.stderr,
          proc.stdout + proc.stderr)
    for bad in (["--rows", "0"], ["--rows", "5x"], ["--rows", "-1"], ["--delimiter", "x"]):
        proc = run(["schema", "infer", path, "--subject", "b", "-o", schemas] + bad)
        check(proc.returncode == 2, "%r: exit %d" % (bad, proc.returncode))
    proc = run(["schema", "infer", path, "-o", schemas])
    check(proc.returncode == 2, "no --subject: exit %d" % proc.returncode)
    proc = run(["schema", "infer", work.join("missing.csv"), "--subject", "m", "-o", schemas])
    check(proc.returncode == 1 and "missing.csv" in proc.stderr,
          "missing file: %d %s" % (proc.returncode, proc.stderr))
    check(not os.path.exists(os.path.join(schemas, "m", "v1.avsc")), "m/v1.avsc written")

    print("schema infer: %d rows of 14 varied columns imported with the inferred "
          "schema, every field as written" % N_ROWS)
