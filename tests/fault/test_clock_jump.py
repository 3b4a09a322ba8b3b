# SPDX-License-Identifier: Apache-2.0
"""Scenario 6: the clock jumps forward and back by days mid-run.

The agent runs under libfaketime (Debian package faketime, installed by
tools/setup) with FAKETIME_TIMESTAMP_FILE pointing at a file the test
rewrites while the agent runs (FAKETIME_NO_CACHE=1: every clock read sees
the current offset). A rate-limited generator feeds the file sink; mid-run
the clock jumps forward by JUMP_DAYS days, then back to JUMP_DAYS days
before the real time, and once more forward while the agent is idle.

Both CLOCK_REALTIME and CLOCK_MONOTONIC are faked (libfaketime's
default), so the monotonic clock the agent keeps its timers, rate and
backoff on jumps too -- harsher than an NTP step, which moves only the wall
clock. Faking only the wall clock (FAKETIME_DONT_FAKE_MONOTONIC=1, set
SA_DFM=1 to try it) does not work with libfaketime 0.9.10: its
pthread_cond_timedwait wrapper then treats the deadline of a condition
variable on CLOCK_MONOTONIC as a wall-clock time, the wait returns at once,
and any idle program that waits on such a condition spins (the agent
included, with no jump at all).

What must hold: no record dropped (the sink's output equals what `syncagent
generate` produces, by (origin_id, seq)); seq gap-free (1..N, next_seq N+1)
and monotonic within every output file; no busy loop (once the generator's
count is delivered, the agent's CPU time over IDLE_S seconds of wall time,
across a jump, stays under 5%); exit 0 on SIGTERM.

Default: 200000 records at 20000/s. SA_FAULT_FULL=1: 1000000 records (the
rate is the same: a run five times longer between the jumps).
"""
from faultlib import *

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
RATE = 20000
N = 1000000 if FULL else 200000
JUMP_DAYS = 3
IDLE_S = 5.0
MAX_IDLE_CPU = 0.05

if not os.path.exists(FAKETIME_LIB):
    fail("%s is missing: run tools/setup (Debian package faketime)" % FAKETIME_LIB)

with Workdir("f-clock") as work:
    out = work.join("out")
    cfg = generator_config(work, [
        ("sensors", "sensor_reading", "sensor_reading:v1", 21, N, RATE),
    ], out, batch="  max_records: 1000\n  linger: 50ms\n")
    offset_file = work.join("faketime")

    def set_offset(spec):
        # Written whole and renamed, so a clock read never sees half a file.
        tmp = offset_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(spec + "\n")
        os.rename(tmp, offset_file)

    set_offset("+0")
    env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB,
               FAKETIME_TIMESTAMP_FILE=offset_file, FAKETIME_NO_CACHE="1",
               FAKETIME_DONT_FAKE_MONOTONIC=os.environ.get("SA_DFM", "0"))
    log_path = work.join("agent.log")
    t0 = time.time()
    proc = start(["run", "-c", cfg], log_path, env=env)
    jumps = []
    run_s = N / RATE
    try:
        # Forward at a quarter of the run, back at a half.
        time.sleep(run_s / 4)
        check(proc.poll() is None, "the agent exited before the first jump")
        set_offset("+%dd" % JUMP_DAYS)
        jumps.append("+%dd" % JUMP_DAYS)
        time.sleep(run_s / 4)
        check(proc.poll() is None, "the agent exited after the forward jump")
        set_offset("-%dd" % JUMP_DAYS)
        jumps.append("-%dd" % JUMP_DAYS)
        st0 = status_json(cfg)
        check(st0["next_seq"] - 1 < N, "the generator was done before the backward "
              "jump (next_seq %d): the jumps did not land mid-run" % st0["next_seq"])

        def synced():
            st = status_json(cfg)
            return (st["next_seq"] - 1 >= N and
                    all(s["lag_records"] == 0 for s in st["sinks"]))
        wait_for(synced, 300, "every record spooled and delivered after the jumps",
                 step=0.5)
        synced_s = time.time() - t0
        check(proc.poll() is None, "the agent exited on its own")

        # Idle: nothing left to do. Measure CPU over IDLE_S, with a forward
        # jump of the wall clock in the middle.
        cpu0, w0 = cpu_seconds(proc.pid), time.time()
        time.sleep(IDLE_S / 2)
        set_offset("+%dd" % (2 * JUMP_DAYS))
        jumps.append("+%dd" % (2 * JUMP_DAYS))
        time.sleep(IDLE_S / 2)
        idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.time() - w0)
        check(idle_cpu < MAX_IDLE_CPU, "busy loop after the clock jumps: the idle "
              "agent used %.1f%% of a CPU (limit %.0f%%)" % (100 * idle_cpu,
                                                          100 * MAX_IDLE_CPU))
        rc = stop(proc)
    finally:
        if proc.poll() is None:
            kill9(proc)
    check(rc == 0, "the agent exited %d on SIGTERM:\n%s" % (
        rc, open(log_path, errors="replace").read()[-3000:]))
    verify(work.join("data", "spool.db"))

    st = status_json(cfg)
    check(st["next_seq"] == N + 1, "next_seq %d after %d records: seq has gaps or "
          "records were spooled twice" % (st["next_seq"], N))
    check(st["deadletters"] == 0, "%d dead letters" % st["deadletters"])
    # seq monotonic within every output file (files are named after the
    # wall clock, so their names do not give the order across files).
    got = []
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name)) as f:
            recs = [json.loads(l) for l in f if l.strip()]
        prev = 0
        for r in recs:
            check(r["_seq"] > prev, "%s: seq %d after %d" % (name, r["_seq"], prev))
            prev = r["_seq"]
        got += recs
    dups = compare_stream(got, newest_shape(generate_jsonl("sensor_reading:v1", N, 21), "sensor_reading"),
                          st["origin_id"], "sensor_reading")
    check(sorted(set(r["_seq"] for r in got)) == list(range(1, N + 1)),
          "delivered seqs are not exactly 1..%d" % N)
    print("clock jump: %d records at %d/s, clocks jumped %s; all delivered after "
          "%.1f s, %d duplicates; idle CPU %.2f%% of a CPU" % (
              N, RATE, " ".join(jumps), synced_s, dups, 100 * idle_cpu))
    figures("clock_jump", N, len(got), 0, dups, synced_s - run_s,
            jumps="/".join(jumps), idle_cpu_pct="%.2f" % (100 * idle_cpu))
