# SPDX-License-Identifier: Apache-2.0
"""CSV files shaped like public data sets (issue 11, item 4; issue 16's NaN):

- airports: headers that are not Avro names (`iso-country`, `eol-lts`,
  `Home Link`) map to fields by normalized name without a columns: list,
  and the mapping is logged;
- daily weather: dates written `2012/01/01` read with `formats:`, local
  observation times with a format and `timezone:`, NaN / Infinity in
  double fields (written to NDJSON as null), local times of an IANA zone
  (Europe/Berlin, summer and winter); a value that does not match its
  format is a dead letter naming the column and the format;
- release tables: rows that omit trailing columns, rejected by default,
  taken with `short_rows: null` (null where nullable, the default where
  there is one, else rejected naming the field);
- a bad format or time zone is a config error naming the key (exit 2).

Every record that comes out is compared with what the file holds."""
import calendar
import datetime
import re

from harness import *


def days(text, fmt):
    return (datetime.datetime.strptime(text, fmt).date() - datetime.date(1970, 1, 1)).days


def config(work, name, source_lines, schemas_dir, subject=None):
    """A config of one csv source (stream and schema `subject`, default name)
    and a file sink, with a data directory of its own."""
    lines = ["agent:", "  data_dir: " + work.join("data-" + name),
             "  schemas_dir: " + schemas_dir,
             "sources:", "  - name: " + name, "    type: csv",
             "    stream: " + (subject or name), "    watch: false"]
    lines += ["    " + l for l in source_lines]
    lines += ["sinks:", "  - name: files", "    type: file",
              "    path: " + work.join("out-" + name)]
    return work.write(name + ".yaml", "\n".join(lines) + "\n")


def run_and_read(work, cfg, name):
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    return read_ndjson_dir(work.join("out-" + name)), proc.stderr


def deadletters(cfg):
    proc = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def write_schema(schemas, subject, fields):
    os.makedirs(os.path.join(schemas, subject), exist_ok=True)
    with open(os.path.join(schemas, subject, "v1.avsc"), "w") as f:
        json.dump({"type": "record", "name": subject.capitalize(), "fields": fields}, f)


def nullable(t):
    return {"type": ["null", t], "default": None}


with Workdir("csv-realworld") as work:
    schemas = work.join("schemas")

    # --- airports: header names that are not Avro names ---------------------
    write_schema(schemas, "airport", [
        {"name": "ident", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "elevation_ft", **nullable("int")},
        {"name": "iso_country", "type": "string"},
        {"name": "eol_lts", **nullable("boolean")},
        {"name": "home_link", **nullable("string")},
    ])
    airports = [["KJFK", "John F Kennedy Intl", "13", "US", "true", "https://x.test/jfk"],
                ["EGLL", 'Heathrow, "LHR"', "83", "GB", "false", ""],
                ["00AA", "Aero B Ranch", "", "US", "", ""]]
    path = work.write("airports.csv", "ident,name,elevation_ft,iso-country,eol-lts,Home Link\n"
                      + "".join(",".join('"%s"' % v.replace('"', '""') if ("," in v or '"' in v)
                                         else v for v in row) + "\n" for row in airports))
    cfg = config(work, "airport", ["path: " + path], schemas)
    out, log = run_and_read(work, cfg, "airport")
    check(len(out) == 3, "airports: %d records of 3\n%s" % (len(out), log[-2000:]))
    for rec, row in zip(out, airports):
        want = {"ident": row[0], "name": row[1],
                "elevation_ft": int(row[2]) if row[2] else None, "iso_country": row[3],
                "eol_lts": {"true": True, "false": False, "": None}[row[4]],
                "home_link": row[5] or None}
        got = {k: rec[k] for k in want}
        check(got == want, "airports: %r, want %r" % (got, want))
    check("csv columns mapped to fields of other names" in log and
          "'iso-country'->iso_country" in log and "'eol-lts'->eol_lts" in log and
          "'Home Link'->home_link" in log, "the mapping is not logged:\n" + log[-2000:])

    # --- daily weather: formats, time zone, NaN ------------------------------
    write_schema(schemas, "weather", [
        {"name": "station", "type": "string"},
        {"name": "date", "type": {"type": "int", "logicalType": "date"}},
        {"name": "obs_time", **nullable({"type": "long", "logicalType": "timestamp-millis"})},
        {"name": "obs_us", **nullable({"type": "long", "logicalType": "timestamp-micros"})},
        {"name": "tmax", **nullable("double")},
        {"name": "tmin", "type": "float"},
    ])
    weather = [["USW00094728", "2012/01/01", "01.01.2012 07:30", "2012-01-01T07:30:00.123456", "12.5", "-3.25"],
               ["USW00094728", "2012/01/02", "", "", "NaN", "-Infinity"],
               ["USW00094728", "2012/02/29", "29.02.2012 23:59", "2012-02-29 23:59:59+00:00", "Infinity", "nan"],
               ["USW00094728", "2012-03-01", "01.03.2012 00:00", "", "1", "1"],  # not the format
               ["USW00094728", "2012/03/02", "2012-03-02 00:00", "", "1", "1"]]  # not the format
    path = work.write("weather.csv", "STATION,DATE,OBS_TIME,OBS_US,TMAX,TMIN\n" +
                      "".join(",".join(r) + "\n" for r in weather))
    cfg = config(work, "weather", ["path: " + path,
                                   'formats: {date: "%Y/%m/%d", OBS_TIME: "%d.%m.%Y %H:%M"}',
                                   'timezone: "+02:00"'], schemas)
    out, log = run_and_read(work, cfg, "weather")
    check(len(out) == 3, "weather: %d records of 3\n%s" % (len(out), log[-2000:]))

    def local_ms(text):
        t = datetime.datetime.strptime(text, "%d.%m.%Y %H:%M")
        return (calendar.timegm(t.timetuple()) - 7200) * 1000

    want = [
        {"date": days("2012/01/01", "%Y/%m/%d"), "obs_time": local_ms("01.01.2012 07:30"),
         "obs_us": (calendar.timegm((2012, 1, 1, 7, 30, 0)) - 7200) * 1000000 + 123456,
         "tmax": 12.5, "tmin": -3.25},
        {"date": days("2012/01/02", "%Y/%m/%d"), "obs_time": None, "obs_us": None,
         "tmax": None, "tmin": None},
        {"date": days("2012/02/29", "%Y/%m/%d"), "obs_time": local_ms("29.02.2012 23:59"),
         "obs_us": calendar.timegm((2012, 2, 29, 23, 59, 59)) * 1000000,
         "tmax": None, "tmin": None},
    ]
    for rec, w in zip(out, want):
        got = {k: rec[k] for k in w}
        check(got == w, "weather: %r, want %r" % (got, w))
    dls = deadletters(cfg)
    check(len(dls) == 2, "weather: %d dead letters, want 2: %r" % (len(dls), dls))
    check(dls[0]["location"].endswith("weather.csv:5:13") and
          'field \'date\': expected date, got "2012-03-01" (does not match the format '
          '"%Y/%m/%d")' in dls[0]["reason"] and dls[0]["reason"].startswith("column 2:"),
          "weather: %r" % dls[0])
    check('field \'obs_time\'' in dls[1]["reason"] and '"%d.%m.%Y %H:%M"' in dls[1]["reason"]
          and dls[1]["reason"].startswith("column 3:"), "weather: %r" % dls[1])

    # --- local times of a zone with daylight saving time --------------------
    path = work.write("berlin.csv", "STATION,DATE,OBS_TIME,OBS_US,TMAX,TMIN\n"
                      "B,2012/01/15,15.01.2012 12:00,2012-07-15 12:00,1,1\n")
    cfg = config(work, "berlin", ["path: " + path, "timezone: Europe/Berlin",
                                  'formats: {date: "%Y/%m/%d", obs_time: "%d.%m.%Y %H:%M"}'],
                 schemas, "weather")
    out, log = run_and_read(work, cfg, "berlin")
    check(len(out) == 1 and
          out[0]["obs_time"] == (calendar.timegm((2012, 1, 15, 12, 0, 0)) - 3600) * 1000 and
          out[0]["obs_us"] == (calendar.timegm((2012, 7, 15, 12, 0, 0)) - 7200) * 1000000,
          "Europe/Berlin: %r\n%s" % (out, log[-1500:]))

    # --- bad formats and zones are config errors naming the key --------------
    for extra, needle, in_check in [
            ('formats: {date: "%Y/%q/%d"}', 'sources[0].formats: date: "%Y/%q/%d" is not '
             'a format: %q is not a conversion', True),
            ('formats: {date: "%Y/%m/%d %H"}', "formats: date: ", False),
            ('formats: {date: "%Y/%m/%d %H"}', "a date has no time of day", False),
            ('formats: {tmax: "%Y-%m-%d"}', "formats: tmax: field 'tmax' is a double", False),
            ('formats: {nope: "%Y-%m-%d"}', "formats: nope: no field", False),
            ("timezone: Mars/Olympus", "sources[0].timezone: 'Mars/Olympus' is not a time "
             "zone", True)]:
        bad = config(work, "weather_bad", ["path: " + path, extra], schemas, "weather")
        for cmd in (["run", "-c", bad, "--exit-when-synced"],
                    ["import", "-c", bad, "--stream", "weather", path]):
            proc = run(cmd)
            check(proc.returncode == 2 and needle in proc.stderr,
                  "%s with %s: exit %d, want 2 and %r:\n%s" % (cmd[0], extra,
                                                               proc.returncode, needle,
                                                               proc.stderr[-1500:]))
        if in_check:  # what needs no schema, check finds too, with file:line:col
            proc = run(["check", "-c", bad])
            check(proc.returncode == 2 and needle in proc.stderr and
                  re.search(r"weather_bad\.yaml:1[01]:5: ", proc.stderr),
                  "check with %s: exit %d:\n%s" % (extra, proc.returncode, proc.stderr))

    # --- release tables: short trailing columns ------------------------------
    write_schema(schemas, "release", [
        {"name": "cycle", "type": "string"},
        {"name": "release_date", "type": {"type": "int", "logicalType": "date"}},
        {"name": "eol", **nullable("string")},
        {"name": "latest", "type": "string", "default": "unknown"},
        {"name": "lts", **nullable("boolean")},
        {"name": "link", **nullable("string")},
    ])
    releases = ["cycle,Release Date,eol,latest,lts,link",
                "24.04,2024-04-25,2029-05-31,24.04.1,true,https://x.test/24.04",
                "23.10,2023-10-12,2024-07-11,23.10.1",
                "23.04,2023-04-20",
                "22.04,2022-04-21,2027-06-01,22.04.4,true"]
    path = work.write("releases.csv", "\n".join(releases) + "\n")
    cfg = config(work, "release", ["path: " + path], schemas)
    out, log = run_and_read(work, cfg, "release")
    check(len(out) == 1, "strict: %d records, want 1" % len(out))
    dls = deadletters(cfg)
    check([d["reason"] for d in dls] == ["row has 4 fields, the header has 6",
                                         "row has 2 fields, the header has 6",
                                         "row has 5 fields, the header has 6"],
          "strict: %r" % [d["reason"] for d in dls])

    cfg = config(work, "release_null", ["path: " + path, "short_rows: null"], schemas,
                 "release")
    out, log = run_and_read(work, cfg, "release_null")
    got = [[r[k] for k in ("cycle", "release_date", "eol", "latest", "lts", "link")]
           for r in out]
    want = [["24.04", days("2024-04-25", "%Y-%m-%d"), "2029-05-31", "24.04.1", True,
             "https://x.test/24.04"],
            ["23.10", days("2023-10-12", "%Y-%m-%d"), "2024-07-11", "23.10.1", None, None],
            ["23.04", days("2023-04-20", "%Y-%m-%d"), None, "unknown", None, None],
            ["22.04", days("2022-04-21", "%Y-%m-%d"), "2027-06-01", "22.04.4", True, None]]
    check(got == want, "short_rows: null: %r, want %r" % (got, want))
    check(deadletters(cfg) == [], "short_rows: null: dead letters")

    # A missing field with neither null nor a default rejects its row, named.
    path2 = work.write("releases2.csv", "cycle,release-date,eol\n25.04\n25.10,2025-10-09\n")
    cfg = config(work, "release_req", ["path: " + path2, "short_rows: null"], schemas,
                 "release")
    out, log = run_and_read(work, cfg, "release_req")
    check([r["cycle"] for r in out] == ["25.10"], "short rows: %r" % out)
    dls = deadletters(cfg)
    check(len(dls) == 1 and dls[0]["reason"] ==
          "row has 1 fields, the header has 3: column 2 (field 'release_date') is "
          "missing and has no null and no default", "short rows: %r" % dls)

    # --- generated CSV of date / timestamp-micros fields reads back --------
    write_schema(schemas, "logbook", [
        {"name": "device_id", "type": "string"},
        {"name": "recorded_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "birth_date", "type": {"type": "int", "logicalType": "date"}},
        {"name": "due_date", **nullable({"type": "int", "logicalType": "date"})},
        {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ])
    gen_csv = work.join("logbook.csv")
    run(["generate", "--schema", "logbook", "-n", "500", "--format", "csv",
         "--schemas-dir", schemas, "--start-time", str(START_MS), "-o", gen_csv], check_rc=0)
    proc = run(["generate", "--schema", "logbook", "-n", "500", "--format", "jsonl",
                "--schemas-dir", schemas, "--start-time", str(START_MS)], check_rc=0)
    want = [json.loads(l) for l in proc.stdout.splitlines()]
    cfg = config(work, "logbook", ["path: " + gen_csv], schemas)
    out, log = run_and_read(work, cfg, "logbook")
    got = [{k: r[k] for k in want[0]} for r in out]
    check(len(want) == 500 and got == want, "generated csv of dates and micros: %d "
          "records, first %r, want %r" % (len(got), got[:1], want[:1]))

    print("csv real-world: airports mapped by normalized name, weather formats, "
          "zone and NaN, release tables with short rows, config errors named")
