# SPDX-License-Identifier: Apache-2.0
"""Bad input at the command line: a bad config, an unknown schema, an
unusable data_dir, a file that is not a spool, a spool from a newer
format. Each gives one clear line naming what and where, exit code 2,
and writes nothing."""
import hashlib
import sqlite3

from harness import *


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def expect_usage_error(args, needle, label):
    proc = run(args)
    check(proc.returncode == 2, "%s: exit %d, expected 2\nstderr: %s" % (
        label, proc.returncode, proc.stderr))
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    check(len(lines) == 1, "%s: expected one line on stderr, got:\n%s" % (
        label, proc.stderr))
    check(needle in lines[0], "%s: %r not in %r" % (label, needle, lines[0]))


with Workdir("badinput") as work:
    out = work.join("out")
    good = generator_config(work, [("g", "sensor_reading", "sensor_reading", 1, 10, 0)], out)
    text = open(good).read()

    # A config with an unknown key: file:line:column.
    bad = work.write("bad.yaml", text.replace("  max_bytes: 1GiB", "  max_byte: 1GiB"))
    for cmd in (["check", "-c", bad], ["run", "-c", bad]):
        expect_usage_error(cmd, "bad.yaml:7:3", "unknown key (%s)" % cmd[0])

    # An unknown schema.
    unk = work.write("unk.yaml", text.replace("schema: sensor_reading",
                                              "schema: no_such_schema"))
    expect_usage_error(["run", "-c", unk], "no_such_schema", "unknown schema")

    # data_dir is a regular file.
    blocker = work.write("blocker", "x")
    dd = work.write("dd.yaml", text.replace("data_dir: " + work.join("data"),
                                            "data_dir: " + blocker))
    expect_usage_error(["check", "-c", dd], "data_dir", "data_dir not a directory")
    expect_usage_error(["run", "-c", dd], "data_dir", "data_dir not a directory (run)")
    check(open(blocker).read() == "x", "the data_dir file was modified")

    # The spool path holds something that is not a spool.
    os.makedirs(work.join("data"))
    spool = work.join("data", "spool.db")
    with open(spool, "w") as f:
        f.write("this is not a database\n" * 100)
    before = digest(spool)
    expect_usage_error(["run", "-c", good], "spool.db", "not a spool (run)")
    expect_usage_error(["status", "-c", good], "spool.db", "not a spool (status)")
    expect_usage_error(["spool", "verify", "--path", spool], "spool.db",
                       "not a spool (verify)")
    check(digest(spool) == before, "a file that is not a spool was modified")

    # A spool from a newer format.
    os.remove(spool)
    db = sqlite3.connect(spool)
    db.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT)")
    db.execute("INSERT INTO meta VALUES('origin_id', '00000000-0000-4000-8000-000000000000')")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before = digest(spool)
    expect_usage_error(["run", "-c", good], "99", "newer format (run)")
    check(digest(spool) == before, "a spool of a newer format was modified")
    check(not os.path.exists(out), "the sink wrote output although the run was refused")

    # Unknown command and unknown flag.
    proc = run(["frobnicate"])
    check(proc.returncode == 2, "unknown command: exit %d" % proc.returncode)
    proc = run(["run", "--no-such-flag"])
    check(proc.returncode == 2, "unknown flag: exit %d" % proc.returncode)

    # Every command answers --help with exit 0.
    for cmd in ("run", "generate", "check", "status", "spool"):
        proc = run([cmd, "--help"])
        check(proc.returncode == 0 and "usage:" in proc.stdout,
              "%s --help: exit %d, stdout %r" % (cmd, proc.returncode, proc.stdout[:200]))
    print("bad input: every case refused with one line and exit 2")
