# SPDX-License-Identifier: Apache-2.0
"""Every numeric argument of the CLI is parsed strictly (agent/cli.c,
sa_cli_parse_int): a value that is not a whole number in range -- 'x',
'-3' where only >= 0 makes sense, '3x', ' 3', '+3', one past INT64_MAX --
is refused with exit 2 and a message naming the option and the value,
before anything runs: deadletter list --limit, generate -n/--seed/
--start-time, schema infer --rows, deadletter replay/resolve --id and
report --since's days. Good values still work: `deadletter list --limit N`
shows N entries."""
from harness import *

BAD_COUNT = ["x", "-3", "3x", " 3", "+3", "", "1.5", "0x10", "9223372036854775808"]
BAD_INT = ["x", "3x", " 3", "+3", "", "1e3", "9223372036854775808",
           "-9223372036854775809"]

with Workdir("cli-numbers") as work:
    os.makedirs(work.join("in"))
    rows = ["user_id,name,email,city,country,age,plan,active,signup_at,updated_at"]
    for i in range(5):  # five rows with a user_id that is not a number
        rows.append("u%d,n,e,c,DE,30,FREE,true,1767225600000,1767225600000" % i)
    work.write("in/bad.csv", "\n".join(rows) + "\n")
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: " + work.join("data"), "  schemas_dir: " + SCHEMAS_DIR,
        "sources:", "  - name: users", "    type: csv", "    stream: user",
        "    path: " + work.join("in", "*.csv"), "    watch: false",
        "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out"),
        ""]))
    run(["import", "-c", cfg, work.join("in", "bad.csv")])

    cases = []
    for v in BAD_COUNT:
        cases.append((["deadletter", "list", "-c", cfg, "--limit", v], "--limit", v))
        cases.append((["generate", "--schema", "user", "-n", v, "--format", "csv",
                       "--schemas-dir", SCHEMAS_DIR], "-n", v))
        cases.append((["generate", "--schema", "user", "--count=" + v, "--format",
                       "csv", "--schemas-dir", SCHEMAS_DIR], "--count", v))
    for v in BAD_INT:
        for flag in ("--seed", "--start-time"):
            cases.append((["generate", "--schema", "user", "-n", "1", flag, v,
                           "--format", "csv", "--schemas-dir", SCHEMAS_DIR], flag, v))
    for v in BAD_COUNT + ["0"]:
        cases.append((["schema", "infer", work.join("in", "bad.csv"), "--subject", "s",
                       "-o", work.join("schemas"), "--rows", v], "--rows", v))
        cases.append((["deadletter", "replay", "-c", cfg, "--id", v], "--id", v))
        cases.append((["deadletter", "resolve", "-c", cfg, "--id", v, "--note", "n"],
                      "--id", v))
    # report --since: a number of days with its unit; the number follows the
    # same rule (" 7d" and "+7d" were taken for 7 days).
    for v in (" 7d", "+7d", "7xd", "d", "0d", "-1d", "36601d", "7",
              "99999999999999999999d"):
        cases.append((["report", "-c", cfg, "--since", v], "--since", v))
    for args, flag, value in cases:
        proc = run(args)
        check(proc.returncode == 2, "%r: exit %d, expected 2\nstdout: %s\nstderr: %s" % (
            args, proc.returncode, proc.stdout[-500:], proc.stderr[-500:]))
        check(flag in proc.stderr and "'%s'" % value in proc.stderr,
              "%r: the message does not name %s and '%s': %s" % (
                  args, flag, value, proc.stderr))
        check(proc.stdout == "", "%r: printed output before refusing: %r" % (
            args, proc.stdout[:300]))

    # Good values.
    for limit, want in (("0", 0), ("2", 2), ("5", 5), ("100", 5)):
        proc = run(["deadletter", "list", "-c", cfg, "--limit", limit, "--json"],
                   check_rc=0)
        got = len([l for l in proc.stdout.splitlines() if l.strip()])
        check(got == want, "--limit %s: %d entries, %d expected" % (limit, got, want))
    proc = run(["generate", "--schema", "user", "-n", "3", "--seed", "-7",
                "--start-time", "-1000", "--format", "jsonl", "--schemas-dir",
                SCHEMAS_DIR], check_rc=0)
    check(len(proc.stdout.splitlines()) == 3, "generate -n 3: " + proc.stdout)
    for since in ("1d", "7d", "36h"):
        run(["report", "-c", cfg, "--since", since], check_rc=0)
    check(not os.path.exists(work.join("schemas")), "a refused schema infer wrote")
print("cli numbers: %d bad values refused with exit 2, good ones work" % len(cases))
