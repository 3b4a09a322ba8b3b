# SPDX-License-Identifier: Apache-2.0
"""Data quality rules end to end (issue 13 §1), through the real binary:
a CSV file of orders -> spool -> file sink, with one rule of each action.

- reject: the row is a dead letter whose reason names the rule, the
  column and the value, with its file:line and its raw row;
- tag: the record reaches the file sink with "_quality": [rule names];
- drop: the record is nowhere in the output, counted in `status` and in
  the audit table (never silent);
and every other row arrives untouched. Then bad configs: `check` exits 2
naming the place, the stream, the rule and the column."""
import csv
import io
import json

from harness import *

HEADER = "order_id,user_id,created_at,updated_at,status,currency,amount,quantity,sku,country"
T = "2026-01-01T00:00:00Z"

# (row, expected outcome)
ROWS = [
    ("o-1,1,%s,%s,PAID,EUR,10.5,1,SKU-1,DE" % (T, T), "pass"),
    ("o-2,2,%s,%s,PAID,EUR,900,1,SKU-2,DE" % (T, T), "tag:big_amount"),
    ("o-3,3,%s,%s,PAID,EUR,-1,1,SKU-3,DE" % (T, T), "reject"),
    ("o-4,4,%s,%s,CANCELLED,EUR,5,1,SKU-4,DE" % (T, T), "drop"),
    ("o-5,5,%s,%s,PAID,EUR,950,1,SKU-5,Germany" % (T, T), "tag:big_amount,cc"),
    ("o-6,6,%s,%s,SHIPPED,USD,7,2,SKU-6,US" % (T, T), "pass"),
    ("o-7,7,%s,%s,CANCELLED,USD,7,2,SKU-7,US" % (T, T), "drop"),
]

RULES = """streams:
  order:
    quality:
      - {column: amount, min: 0, name: positive}
      - {column: amount, max: 500, action: tag, name: big_amount}
      - {column: status, one_of: [PENDING, PAID, SHIPPED, DELIVERED], action: drop}
      - {column: country, regex: "^[A-Z]{2}$", action: tag, name: cc}
"""


def config(work, name, rules, data):
    return work.write(name + ".yaml", (
        "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
        "sources:\n  - name: orders\n    type: csv\n    stream: order\n"
        "    schema: order\n    path: %s\n    watch: false\n"
        "sinks:\n  - name: files\n    type: file\n    path: %s\n%s") % (
            work.join(name + "-data"), SCHEMAS_DIR, data, work.join(name + "-out"), rules))


with Workdir("quality") as work:
    data = work.write("orders.csv", HEADER + "\n" + "\n".join(r for r, _ in ROWS) + "\n")
    cfg = config(work, "q", RULES, data)
    run(["check", "-c", cfg], check_rc=0)
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0)

    out = {r["order_id"]: r for r in read_ndjson_dir(work.join("q-out"))}
    dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                      check_rc=0).stdout.splitlines() if l.strip()]
    for line_no, (row, want) in enumerate(ROWS, 2):
        oid = row.split(",")[0]
        if want == "pass":
            check(oid in out, "%s missing from the output" % oid)
            check("_quality" not in out[oid], "%s tagged: %r" % (oid, out[oid]))
        elif want.startswith("tag:"):
            check(oid in out, "tagged %s missing from the output" % oid)
            check(out[oid].get("_quality") == want[4:].split(","),
                  "%s: _quality %r, expected %r" % (oid, out[oid].get("_quality"), want[4:]))
        elif want == "drop":
            check(oid not in out, "dropped %s reached the sink" % oid)
            check(not any(oid in (d.get("raw") or "") for d in dls),
                  "dropped %s is a dead letter" % oid)
        else:
            check(oid not in out, "rejected %s reached the sink" % oid)
            mine = [d for d in dls if oid in (d.get("raw") or "")]
            check(len(mine) == 1, "%s: %d dead letters" % (oid, len(mine)))
            check("quality rule 'positive' failed: column amount = -1 is below min 0"
                  in mine[0]["reason"], "reason %r" % mine[0]["reason"])
            check(mine[0]["location"].endswith(":%d:1" % line_no) or
                  (":%d" % line_no) in mine[0]["location"],
                  "location %r, row at line %d" % (mine[0]["location"], line_no))
    check(len(out) == 4, "%d records out, expected 4" % len(out))

    st = status_json(cfg)
    got = {(q["rule"], q["action"]): q["records"] for q in st["quality_failures"]}
    want = {("positive", "reject"): 1, ("big_amount", "tag"): 2,
            ("status_one_of", "drop"): 2, ("cc", "tag"): 1}
    check(got == want, "status quality_failures %r, expected %r" % (got, want))
    text = run(["status", "-c", cfg], check_rc=0).stdout
    check("quality failures" in text and "status_one_of" in text, "status text:\n" + text)

    rep = json.loads(run(["report", "-c", cfg, "--format", "json"], check_rc=0).stdout)
    drops = [a for a in rep["audit"] if a["kind"] == "quality_drop"]
    check(sum(a["detail"]["records"] for a in drops) == 2,
          "audited drops %r" % drops)
    check(drops[0]["detail"]["rule"] == "status_one_of" and
          "CANCELLED" in drops[0]["detail"].get("first_reason", ""),
          "drop audit %r" % drops[0])
    day = rep["streams"][0]
    check(day["ingested"] == 4 and day["dropped"] == {"status_one_of": 2} and
          day["rejected"] == {"quality:positive": 1} and
          day["tagged"] == {"big_amount": 2, "cc": 1}, "report streams %r" % rep["streams"])
    # A replay goes through the rules too: the row still fails, stays open.
    p = run(["deadletter", "replay", "-c", cfg, "--all"])
    check(p.returncode == 3 and "quality rule 'positive' failed" in p.stdout,
          "replay of a rejected row: exit %d\n%s%s" % (p.returncode, p.stdout, p.stderr))
    print("quality: pass, tag, reject and drop each where they belong")

    # Bad configs: exit 2 and the place, the stream, the rule, the column.
    bad = [
        ("      - {column: amount, min: 5, max: 1}\n",
         "bad1.yaml:4:31: streams.order.quality[0]: min 5 is greater than max 1"),
        ("      - {column: sku, regex: \"[\"}\n",
         "(rule 'sku_regex', column sku): regex /[/ does not compile"),
        ("      - {column: amount, below: 1}\n", "unknown rule key 'below'"),
        ("      - {column: amount_eur, max: 1}\n",
         "streams.order.quality: rule 'amount_eur_max', column amount_eur: no such column"),
        ("      - {column: sku, min: 1}\n",
         "rule 'sku_min', column sku: min/max does not apply to a field of type string"),
    ]
    for i, (rule, expect) in enumerate(bad, 1):
        c = config(work, "bad%d" % i, "streams:\n  order:\n    quality:\n" + rule, data)
        # the rules come after the sinks: move them first so that line
        # numbers are those of a small file
        text = open(c).read()
        head, rest = text.split("streams:\n", 1)
        open(c, "w").write("streams:\n" + rest + head)
        p = run(["check", "-c", c])
        check(p.returncode == 2, "bad%d: check exited %d: %s" % (i, p.returncode, p.stderr))
        check(expect in p.stderr, "bad%d: %r lacks %r" % (i, p.stderr, expect))
        p = run(["run", "-c", c])
        check(p.returncode == 2 and expect in p.stderr,
              "bad%d: run exited %d: %s" % (i, p.returncode, p.stderr))
    desc = run(["check", "--describe"], check_rc=0).stdout
    for key in ("unique_within", "max_future", "one_of", "action"):
        check(key in desc, "check --describe lacks %s" % key)
    print("quality: %d bad configs refused with their place" % len(bad))
