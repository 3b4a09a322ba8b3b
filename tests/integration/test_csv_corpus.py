# SPDX-License-Identifier: Apache-2.0
"""The CSV corpus (tests/data/csv/<case>/, see its README): each case's
file through `syncagent import --wait-synced` into a file sink. The
accepted rows must equal expected.jsonl, in order; the dead letters must
name the expected line, column and reason, in order."""
import base64
import gzip
import shutil

from harness import *

CORPUS = os.path.join(SOURCE_DIR, "tests", "data", "csv")
SCHEMAS = os.path.join(CORPUS, "schemas")


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def run_case(name):
    case_dir = os.path.join(CORPUS, name)
    with Workdir("csv-" + name) as work:
        inputs = [f for f in os.listdir(case_dir) if f.startswith("input.")]
        check(len(inputs) == 1, "%s: expected one input.* file" % name)
        data = work.join(inputs[0])
        shutil.copy(os.path.join(case_dir, inputs[0]), data)
        with open(data, "rb") as f:
            input_bytes = f.read()
        if data.endswith(".gz"):
            try:
                input_bytes = gzip.decompress(input_bytes)
            except (OSError, EOFError):
                pass  # a case of a broken .gz file
        extra = ""
        if os.path.exists(os.path.join(case_dir, "source.yaml")):
            extra = "".join("    " + l for l in open(os.path.join(case_dir, "source.yaml")))
        stream = (read_lines(os.path.join(case_dir, "stream")) or ["csv_test"])[0]
        out = work.join("out")
        cfg = work.write("agent.yaml", (
            "agent:\n  data_dir: %s\n  schemas_dir: %s\n"
            "sources:\n  - name: csv\n    type: csv\n    stream: %s\n"
            "    path: %s\n    watch: false\n%s"
            "sinks:\n  - name: files\n    type: file\n    path: %s\n") % (
                work.join("data"), SCHEMAS, stream, data, extra, out))
        # import exits 3 when rows went to the dead letters, else 0.
        default_exit = "3" if read_lines(
            os.path.join(case_dir, "expected_deadletters.txt")) else "0"
        want_exit = int((read_lines(os.path.join(case_dir, "expected_exit")) or
                         [default_exit])[0])
        proc = run(["import", "-c", cfg, "--stream", stream, "--wait-synced", data])
        check(proc.returncode == want_exit, "%s: import exited %d, expected %d\n%s%s" % (
            name, proc.returncode, want_exit, proc.stdout, proc.stderr[-3000:]))
        for want_log in read_lines(os.path.join(case_dir, "expected_log.txt")):
            check(want_log in proc.stdout + proc.stderr, "%s: %r not in the output:\n%s%s"
                  % (name, want_log, proc.stdout, proc.stderr[-3000:]))

        got = [strip_meta(r) for r in sorted(
            read_ndjson_by_stream(out).get(stream, []), key=lambda r: r["_seq"])]
        want = [json.loads(l) for l in read_lines(os.path.join(case_dir, "expected.jsonl"))]
        check(len(got) == len(want), "%s: %d rows accepted, expected %d:\n%s" % (
            name, len(got), len(want), "\n".join(json.dumps(g) for g in got)))
        for i, (g, w) in enumerate(zip(got, want)):
            check(g == w, "%s: row %d:\n got      %s\n expected %s" % (
                name, i + 1, json.dumps(g, sort_keys=True), json.dumps(w, sort_keys=True)))

        proc = run(["deadletter", "list", "-c", cfg, "--json"], check_rc=0)
        dls = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
        want_dls = read_lines(os.path.join(case_dir, "expected_deadletters.txt"))
        check(len(dls) == len(want_dls), "%s: %d dead letters, expected %d:\n%s" % (
            name, len(dls), len(want_dls), "\n".join(
                "%s %s" % (d["location"], d["reason"]) for d in dls)))
        for d, w in zip(dls, want_dls):
            where, _, reason = w.partition(" ")
            check(d["location"] == "%s:%s" % (data, where) and reason in d["reason"],
                  "%s: dead letter %s %r, expected %s %r" % (
                      name, d["location"], d["reason"], where, reason))
            check(d["stream"] == stream and d["source"] in ("csv", "import"),
                  "%s: dead letter stream/source %r/%r" % (name, d["stream"], d["source"]))
            # the row itself, never nothing (issue 16 bug 6: "raw": null
            # for bytes that are not UTF-8)
            check(d.get("raw") or d.get("raw_base64") or d.get("raw_file"),
                  "%s: dead letter %s shows no raw row: %s" % (name, d["location"], d))
            raw = (base64.b64decode(d["raw_base64"]) if d.get("raw_base64") else
                   (d.get("raw") or "").encode())
            check(raw in input_bytes, "%s: dead letter %s: raw %r is not in the input" % (
                name, d["location"], raw[:200]))
        return len(got), len(dls)


cases = sorted(c for c in os.listdir(CORPUS)
               if os.path.isdir(os.path.join(CORPUS, c)) and c != "schemas")
check(len(cases) >= 12, "only %d CSV cases found in %s" % (len(cases), CORPUS))
failed = []
for c in cases:
    try:
        rows, dls = run_case(c)
        print("ok   %-24s %d rows, %d dead letters" % (c, rows, dls))
    except SystemExit:
        failed.append(c)
        print("FAIL %s" % c)
print("%d passed, %d failed" % (len(cases) - len(failed), len(failed)))
sys.exit(1 if failed else 0)
