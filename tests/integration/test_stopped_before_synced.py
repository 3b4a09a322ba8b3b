# SPDX-License-Identifier: Apache-2.0
"""Stopped by a signal before every sink acknowledged every record (a
Kafka sink whose broker port is closed; no broker needed):

- `import --wait-synced` interrupted (SIGINT) in its wait exits 4, not 0,
  and says in one line that the records stay spooled and are sent on the
  next start, without "every sink has acknowledged every record"; they
  are still spooled (status: lag);
- `run --exit-when-synced` stopped (SIGTERM) before it was synced exits 4
  too, with one line saying so; a plain `run` stopped the same way still
  exits 0;
- the normal ends keep their codes: with a sink that takes everything (a
  file sink), `import --wait-synced` exits 0 and `run --exit-when-synced`
  exits 0 on the same kind of config."""
import signal

from harness import *

N = 50
UNSYNCED = 4
STOPPED_LINE = ("stopped before every sink acknowledged every record; they stay "
                "spooled and are sent on the next start")


def config(work, name, sink):
    """A CSV source that reads its files once and the given sink lines."""
    return work.write(name + ".yaml", "\n".join([
        "agent:", "  id: stopped", "  data_dir: " + work.join("data-" + name),
        "  schemas_dir: " + SCHEMAS_DIR, "  shutdown_grace: 2s",
        "sources:",
        "  - name: users", "    type: csv", "    stream: user", "    schema: user:v1",
        "    path: " + work.join(name + "-in", "*.csv"), "    watch: false",
        "sinks:"] + sink) + "\n")


def kafka_sink():
    return ["  - name: k", "    type: kafka", "    brokers: 127.0.0.1:%d" % free_port(),
            "    topic: users"]


def users_csv(work, name):
    os.makedirs(work.join(name + "-in"))
    path = work.join(name + "-in", "users.csv")
    run(["generate", "--schema", "user:v1", "-n", str(N), "--seed", "5",
         "--format", "csv", "--schemas-dir", SCHEMAS_DIR, "-o", path], check_rc=0)
    return path


def stop_when(work, args, stream, text, sig):
    """Start syncagent args, wait until `text` shows on stream ("stdout" or
    "stderr"; the other goes to a file), send sig; returns (rc, stdout,
    stderr)."""
    other = open(work.join("other-%d.log" % len(os.listdir(work.path))), "w+")
    pipe = dict(stdout=subprocess.PIPE, stderr=other) if stream == "stdout" else \
        dict(stdout=other, stderr=subprocess.PIPE)
    proc = subprocess.Popen([SYNCAGENT] + args, text=True, **pipe)
    watched = proc.stdout if stream == "stdout" else proc.stderr
    seen = []
    try:
        for line in watched:
            seen.append(line)
            if text in line:
                break
        check(any(text in l for l in seen), "%s exited (%s) before %r:\n%s" % (
            args[0], proc.poll(), text, "".join(seen)[-3000:]))
        proc.send_signal(sig)
        rest = watched.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    other.seek(0)
    mine, theirs = "".join(seen) + rest, other.read()
    other.close()
    return (proc.returncode,) + ((mine, theirs) if stream == "stdout" else (theirs, mine))


with Workdir("stopped-before-synced") as work:
    # import --wait-synced, SIGINT while it waits for the sink: the summary
    # line is printed (and flushed) before the wait.
    cfg = config(work, "imp", kafka_sink())
    csv = users_csv(work, "imp")
    rc, out, err = stop_when(work, ["import", "-c", cfg, "--wait-synced", csv], "stdout",
                             "%d accepted, 0 rejected" % N, signal.SIGINT)
    check(rc == UNSYNCED, "import --wait-synced interrupted: exit %d, expected %d\n"
          "stdout: %s\nstderr: %s" % (rc, UNSYNCED, out, err[-3000:]))
    check("every sink has acknowledged every record" not in out,
          "claims to be synced:\n" + out)
    check(err.count(STOPPED_LINE) == 1, "no (or more than one) line saying the "
          "records stay spooled:\n" + err[-3000:])
    check("spooled_for_next_start=%d" % N in err, "sink stopped line:\n" + err[-3000:])
    lag = status_json(cfg)["sinks"][0]["lag_records"]
    check(lag == N, "%d records pending after the interrupted import, %d spooled" % (
        lag, N))

    # run --exit-when-synced, SIGTERM once the source is finished but the
    # sink is not: 4. A plain run stopped alike: 0.
    cfg = config(work, "run", kafka_sink())
    users_csv(work, "run")
    rc, out, err = stop_when(work, ["run", "-c", cfg, "--exit-when-synced"], "stderr",
                             "every source is finished", signal.SIGTERM)
    check(rc == UNSYNCED, "run --exit-when-synced stopped: exit %d, expected %d\n%s" % (
        rc, UNSYNCED, err[-3000:]))
    lines = [l for l in err.splitlines() if "stopped before every record was synced" in l]
    check(len(lines) == 1 and "sources_finished=true" in lines[0] and
          "sinks_caught_up=false" in lines[0],
          "the line saying it stopped before it was synced:\n" + err[-3000:])
    rc, out, err = stop_when(work, ["run", "-c", cfg], "stderr", "agent started",
                             signal.SIGTERM)
    check(rc == 0, "plain run stopped by SIGTERM: exit %d\n%s" % (rc, err[-3000:]))
    check("stopped before every record was synced" not in err,
          "plain run warns about syncing:\n" + err[-3000:])

    # The normal ends, with a sink that takes everything.
    files = ["  - name: files", "    type: file", "    path: " + work.join("out")]
    cfg = config(work, "ok", files)
    csv = users_csv(work, "ok")
    proc = run(["import", "-c", cfg, "--wait-synced", csv], check_rc=0, timeout=120)
    check("every sink has acknowledged every record" in proc.stdout, proc.stdout)
    check(STOPPED_LINE not in proc.stderr, proc.stderr[-3000:])
    cfg = config(work, "ok-run", files[:2] + ["    path: " + work.join("out-run")])
    users_csv(work, "ok-run")
    proc = run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    check("stopped before every record was synced" not in proc.stderr,
          proc.stderr[-3000:])
print("stopped before synced: import --wait-synced and run --exit-when-synced exit "
      "%d with the records spooled; plain run 0; synced ends 0" % UNSYNCED)
