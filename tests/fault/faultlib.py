# SPDX-License-Identifier: Apache-2.0
"""What the fault scenarios share on top of tests/integration/harness.py:
the short/full switch, a FIGURES line, daemons started in the background,
and comparing a stream by content when its records come from several
inputs (CSV files) whose order in seq is not known in advance.

Every scenario prints exactly one line starting with FIGURES: (more for a
scenario with variants), e.g.

  FIGURES: disk_full.block in=20000 delivered=20000 lost=0 duplicated=0 recover_s=1.4

tools/test collects these lines from the ctest log into its summary."""
import collections
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from harness import *  # noqa: E402,F401,F403
import harness  # noqa: E402

# SA_FAULT_FULL=1: the long variants (documented in each test and in
# tools/test --help). The default variants keep CI short.
FULL = os.environ.get("SA_FAULT_FULL", "") not in ("", "0")


def figures(name, records_in, delivered, lost, duplicated, recover_s, **extra):
    """Print the scenario's FIGURES line (stdout, flushed)."""
    parts = ["FIGURES: %s" % name, "in=%d" % records_in, "delivered=%d" % delivered,
             "lost=%d" % lost, "duplicated=%d" % duplicated,
             "recover_s=%.1f" % recover_s]
    parts += ["%s=%s" % (k, v) for k, v in extra.items()]
    print(" ".join(parts))
    sys.stdout.flush()


def start(args, log_path=None, env=None, prefix=()):
    """Start syncagent in the background; stderr goes to log_path."""
    err = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(list(prefix) + [harness.SYNCAGENT] + list(args),
                            stdout=subprocess.DEVNULL, stderr=err, env=env)
    if log_path:
        err.close()
    return proc


def kill9(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def stop(proc, timeout=60):
    """SIGTERM and wait; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill9(proc)
        fail("syncagent did not stop within %d s of SIGTERM" % timeout)


def verify(spool):
    run(["spool", "verify", "--path", spool], check_rc=0)


def wait_for(cond, timeout, what, step=0.1):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(step)
    fail("timed out after %d s waiting for %s" % (timeout, what))


def _same_numbers(v):
    """v with integral floats as ints: JSON does not tell 6 from 6.0 (the
    generator prints a double as 6, fastavro decodes it as 6.0), and neither
    does compare_stream's dict comparison."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: _same_numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_same_numbers(x) for x in v]
    return v


def canon(rec):
    return json.dumps(_same_numbers(strip_meta(rec)), sort_keys=True)


def compare_multiset(out_records, expected, origin_id, label):
    """Like harness.compare_stream, for a stream fed by several inputs:
    every distinct (origin_id, seq) once; duplicates must be exact copies;
    the delivered contents equal the expected ones as a multiset.
    Returns (distinct, duplicates, lost)."""
    by_seq = {}
    dups = 0
    for r in out_records:
        check(r.get("_origin_id") == origin_id, "%s: record with origin %r, spool "
              "is %r" % (label, r.get("_origin_id"), origin_id))
        seq = r["_seq"]
        if seq in by_seq:
            dups += 1
            check(by_seq[seq] == r, "%s: seq %d delivered twice with different "
                  "content" % (label, seq))
        by_seq[seq] = r
    got = collections.Counter(canon(r) for r in by_seq.values())
    want = collections.Counter(canon(e) for e in expected)
    missing = want - got
    extra = got - want
    lost = sum(missing.values())
    if missing or extra:
        sample = list(missing)[:2] + list(extra)[:2]
        fail("%s: %d expected records missing, %d delivered that were not expected "
             "(twice spooled or changed); e.g. %s" % (
                 label, lost, sum(extra.values()), sample))
    return len(by_seq), dups, lost


def generate_csv(path, schema, count, seed, start_ms=START_MS):
    run(["generate", "--schema", schema, "-n", str(count), "--seed", str(seed),
         "--format", "csv", "--start-time", str(start_ms), "--interval", "1s",
         "--schemas-dir", SCHEMAS_DIR, "-o", path], check_rc=0)


def generate_jsonl_at(schema, count, seed, start_ms):
    proc = run(["generate", "--schema", schema, "-n", str(count), "--seed", str(seed),
                "--format", "jsonl", "--start-time", str(start_ms), "--interval", "1s",
                "--schemas-dir", SCHEMAS_DIR], check_rc=0)
    return [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]


def cpu_seconds(pid):
    """utime + stime of a process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mount_tmpfs(path, size):
    """A small file system of its own (the disk-full scenarios need root)."""
    os.makedirs(path, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                           "tmpfs", path], capture_output=True, text=True)
    if proc.returncode != 0:
        fail("cannot mount a tmpfs at %s (this scenario needs root): %s" % (
            path, proc.stderr.strip()))


def umount(path):
    subprocess.run(["umount", path], check=False)


def fill_disk(path):
    """Write path until the file system has not one block left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for chunk in (64 << 10, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
