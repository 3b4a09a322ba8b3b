# SPDX-License-Identifier: Apache-2.0
"""`run --exit-when-synced` with sources that never finish: a csv source
with watch: true (the default), one with tail: true, a generator without a
count. At start it logs one warning per such source, naming it, why it
never finishes and the setting that lets it finish; the sources that do
finish (a csv with watch: false, a generator with a count) get none. The
agent then waits as before: stopped by SIGTERM it exits 4 (stopped before
it was synced). `run --help` says which sources never finish."""
import signal

from harness import *

WARNING = "this source never finishes: --exit-when-synced waits for it for ever"


def run_then_stop(cfg, *flags):
    """`run -c cfg flags`, SIGTERM once it logged "agent started": its exit
    status and everything it wrote to stderr."""
    proc = subprocess.Popen([SYNCAGENT, "run", "-c", cfg] + list(flags),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if "agent started" in line:
                break
        check(seen and "agent started" in seen[-1], "the agent did not start:\n" +
              "".join(seen)[-3000:])
        proc.send_signal(signal.SIGTERM)
        err = "".join(seen) + proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


with Workdir("exit-when-synced-endless") as work:
    os.makedirs(work.join("in"))
    run(["generate", "--schema", "user:v1", "-n", "10", "--seed", "3", "--format",
         "csv", "--schemas-dir", SCHEMAS_DIR, "-o", work.join("in", "users.csv")],
        check_rc=0)
    csv = ["    type: csv", "    stream: user", "    schema: user:v1",
           "    path: " + work.join("in", "*.csv")]
    gen = ["    type: generator", "    stream: sensor_reading",
           "    schema: sensor_reading:v1", "    rate: 100"]
    cfg = work.write("agent.yaml", "\n".join(
        ["agent:", "  id: endless", "  data_dir: " + work.join("data"),
         "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 2s", "sources:",
         "  - name: watched"] + csv +
        ["  - name: tailed"] + csv + ["    watch: false", "    tail: true",
         "  - name: once"] + csv + ["    watch: false",
         "  - name: forever"] + gen +
        ["  - name: counted"] + gen + ["    count: 5",
         "sinks:", "  - name: files", "    type: file", "    path: " + work.join("out")])
        + "\n")
    run(["check", "-c", cfg], check_rc=0)

    rc, err = run_then_stop(cfg, "--exit-when-synced")
    warnings = {}
    for line in err.splitlines():
        if WARNING in line:
            check("level=warn" in line, line)
            name = line.split(" source=")[1].split()[0]
            check(name not in warnings, "%s named twice:\n%s" % (name, err[-3000:]))
            warnings[name] = line
    check(sorted(warnings) == ["forever", "tailed", "watched"],
          "warnings for %s, expected forever, tailed, watched:\n%s" % (
              sorted(warnings), err[-3000:]))
    check('why="watches for new files (watch: true, the default)" '
          'fix="set watch: false"' in warnings["watched"], warnings["watched"])
    check('why="follows its files as they grow (tail: true)" fix="set tail: false"'
          in warnings["tailed"], warnings["tailed"])
    check('why="generates records without end (count: 0, the default)" '
          'fix="set count: N"' in warnings["forever"], warnings["forever"])
    check(rc == 4, "stopped before synced: exit %d, expected 4\n%s" % (
        rc, err[-3000:]))

    # Without --exit-when-synced nothing waits for them: no warning.
    rc, err = run_then_stop(cfg)
    check(rc == 0, "plain run: exit %d\n%s" % (rc, err[-3000:]))
    check(WARNING not in err, "warned without --exit-when-synced:\n" + err[-3000:])

    help_text = " ".join(run(["run", "--help"], check_rc=0).stdout.split())
    for words in ("watch: true (the default)", "tail: true",
                  "a generator without a count", "never finishes", "exit 4"):
        check(words in help_text, "run --help does not say %r:\n%s" % (words, help_text))
print("exit-when-synced: one warning for each of the 3 sources that never finish, "
      "none for the 2 that do; stopped: exit 4")
