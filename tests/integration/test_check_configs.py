# SPDX-License-Identifier: Apache-2.0
"""`check` says ok only when `run` will start.

1. Every config the project ships (configs/*.yaml) passes `check`, from the
   repository root and from another working directory.
2. What `run` and `import` refuse at start, `check` refuses too, with the
   same FILE:LINE:COL of the key: csv on_done move:<dir> that is missing
   or not a directory, header: false without columns, a quote of two
   characters, on_done with tail, a file sink path that is a file; and
   what needs the schema: formats naming no field or a field no format
   applies to, columns that repeat a field, name none (extra_columns:
   error) or leave out a field no row can do without. `run` refuses
   before it creates the data directory.
3. Relative paths in a config are taken from its directory: a config in
   sub/ with relative data_dir, schemas_dir, csv path, on_done move dir,
   file sink path and ${file:} works from any working directory, and
   `status` from elsewhere finds the same spool.
4. A schema the spool already holds under the same subject and version
   with another definition: `run` refuses to store it, so `check` does."""
import glob

from harness import *

ENV = dict(os.environ, KAFKA_BROKERS="127.0.0.1:9", OPENSEARCH_URL="http://127.0.0.1:9")

# 1. The shipped configs.
configs = sorted(glob.glob(os.path.join(SOURCE_DIR, "configs", "*.yaml")))
check(len(configs) >= 3, "found only %r" % configs)
with Workdir("check-cwd") as elsewhere:
    for path in configs:
        rel = os.path.relpath(path, SOURCE_DIR)
        for cwd, arg in ((SOURCE_DIR, rel), (elsewhere.path, path)):
            proc = run(["check", "-c", arg], cwd=cwd, env=ENV)
            check(proc.returncode == 0 and ": ok (" in proc.stdout,
                  "check -c %s (cwd %s) exited %d: %s%s" % (
                      arg, cwd, proc.returncode, proc.stdout, proc.stderr))
    check(os.listdir(elsewhere.path) == [], "check wrote into the working "
          "directory: %r" % os.listdir(elsewhere.path))
print("shipped configs: %d pass check from any working directory" % len(configs))

# 2. Refused at start by run and import: refused by check, at the key.
CSV_HEAD = """agent:
  data_dir: data
  schemas_dir: %s
sources:
  - name: users
    type: csv
    stream: user
    path: in/*.csv
""" % SCHEMAS_DIR
SINK = """sinks:
  - name: files
    type: file
    path: out
"""
cases = [
    # (name, source lines, sinks, line:col of the key, the key, words)
    ("move-missing", "    on_done: move:./wdone\n", SINK, "9:5", "sources[0].on_done",
     "No such file or directory"),
    ("move-file", "    on_done: move:afile\n", SINK, "9:5", "sources[0].on_done",
     "not a directory"),
    ("no-columns", "    watch: false\n    header: false\n", SINK, "10:5",
     "sources[0].header", "needs columns"),
    ("quote", "    quote: \"''\"\n", SINK, "9:5", "sources[0].quote",
     "one character"),
    ("tail-on-done", "    tail: true\n    on_done: delete\n", SINK, "10:5",
     "sources[0].on_done", "tail"),
    ("sink-path-file", "", SINK.replace("path: out", "path: afile"), "12:5",
     "sinks[0].path", "not a directory"),
    # What needs the schema (user:v1) to be seen.
    ("format-no-field", "    formats: {birthday: \"%Y/%m/%d\"}\n", SINK, "9:5",
     "sources[0].formats", "birthday: no field of schema user:v1 is named so"),
    ("format-string-field", "    formats: {name: \"%Y/%m/%d\"}\n", SINK, "9:5",
     "sources[0].formats", "field 'name' is a string: formats apply to date"),
    ("format-int-field", "    formats: {age: \"%Y-%m-%d\"}\n", SINK, "9:5",
     "sources[0].formats", "field 'age' is an int: formats apply to date"),
    ("columns-twice", "    header: false\n    columns: [user_id, user_id, name]\n",
     SINK, "10:5", "sources[0].columns",
     "column 2 'user_id' is field 'user_id' again (column 1"),
    ("columns-unknown", "    columns: [user_id, nickname]\n", SINK, "9:5",
     "sources[0].columns", "column 2 'nickname' is not a field of schema user:v1"),
    ("columns-required", "    columns: [user_id, name, email, city, country]\n",
     SINK, "9:5", "sources[0].columns",
     "no column for field 'signup_at' of schema user:v1"),
]
for name, lines, sinks, pos, key, words in cases:
    with Workdir("check-" + name) as work:
        os.makedirs(work.join("in"))
        work.write("afile", "x")
        work.write("in/u.csv", "user_id,name\n")
        cfg = work.write("agent.yaml", CSV_HEAD + lines + sinks)
        want = "%s:%s: %s: " % (cfg, pos, key)
        cmds = [["check", "-c", cfg], ["run", "-c", cfg]]
        # import reads its files once (no tail), needs no sink and applies
        # its own --on-done, not the source's on_done
        if name not in ("tail-on-done", "sink-path-file", "move-missing", "move-file"):
            cmds.append(["import", "-c", cfg, work.join("in", "u.csv")])
        for args in cmds:
            proc = run(args)
            check(proc.returncode == 2, "%s: %s exited %d (expected 2): %s" % (
                name, args[0], proc.returncode, proc.stderr[-2000:]))
            check(want in proc.stderr and words in proc.stderr,
                  "%s: %s does not say %r ... %r:\n%s" % (
                      name, args[0], want, words, proc.stderr[-2000:]))
            if args[0] in ("check", "run"):
                check(not os.path.exists(work.join("data")),
                      "%s: %s created the data directory before refusing" % (
                          name, args[0]))
print("check refuses what run and import refuse, at the key: %d cases" % len(cases))

# 3. Relative paths are taken from the config file's directory.
with Workdir("check-relative") as work:
    sub = work.join("site", "conf")
    os.makedirs(os.path.join(sub, "in"))
    os.makedirs(os.path.join(sub, "done"))
    shutil.copytree(SCHEMAS_DIR, os.path.join(work.path, "site", "schemas"))
    with open(os.path.join(sub, "agent-id.txt"), "w") as f:
        f.write("edge-relative\n")
    run(["generate", "--schema", "user:v1", "-n", "50", "--seed", "3", "--format",
         "csv", "--schemas-dir", SCHEMAS_DIR, "-o", os.path.join(sub, "in", "u.csv")],
        check_rc=0)
    cfg = os.path.join(sub, "agent.yaml")
    with open(cfg, "w") as f:
        f.write("""agent:
  id: ${file:agent-id.txt}
  data_dir: ./state
  schemas_dir: ../schemas
  shutdown_grace: 2s
batch:
  linger: 20ms
sources:
  - name: users
    type: csv
    stream: user
    path: in/*.csv
    watch: false
    on_done: move:done
sinks:
  - name: files
    type: file
    path: out
""")
    # From the work directory, naming the config by a relative path.
    run(["check", "-c", "site/conf/agent.yaml"], cwd=work.path, check_rc=0)
    run(["run", "-c", "site/conf/agent.yaml", "--exit-when-synced"], cwd=work.path,
        check_rc=0, timeout=120)
    check(os.path.exists(os.path.join(sub, "state", "spool.db")),
          "the spool is not in the config's directory: %r" % os.listdir(sub))
    check(os.listdir(os.path.join(sub, "done")) == ["u.csv"],
          "on_done move:done did not move the file next to the config")
    out = read_ndjson_dir(os.path.join(sub, "out"))
    check(len(out) == 50, "%d records in the config's out/, 50 expected" % len(out))
    check(sorted(os.listdir(work.path)) == ["site"],
          "files appeared in the working directory: %r" % os.listdir(work.path))
    # status from another directory and from the config's own: one spool.
    for cwd in ("/", sub):
        st = status_json(cfg) if cwd == "/" else json.loads(run(
            ["status", "-c", "agent.yaml", "--json"], cwd=cwd, check_rc=0).stdout)
        check(st["next_seq"] == 51, "status (cwd %s): next_seq %r, 51 expected" % (
            cwd, st["next_seq"]))
    proc = run(["status", "-c", cfg], cwd="/", check_rc=0)
    check("edge-relative" in proc.stdout or "state/spool.db" in proc.stdout,
          "status does not show the config's spool:\n" + proc.stdout)
print("relative paths: taken from the config's directory, from any cwd")

# 4. A schema edited in place after the spool stored it (a change of
# type: doc and default do not count, the canonical form leaves them out).
with Workdir("check-schema-conflict") as work:
    schemas = work.join("schemas")
    shutil.copytree(SCHEMAS_DIR, schemas)
    cfg = work.write("agent.yaml", "\n".join([
        "agent:", "  data_dir: data", "  schemas_dir: schemas",
        "sources:", "  - {name: g, type: generator, stream: order, count: 10, rate: 0}",
        "sinks:", "  - {name: files, type: file, path: out}", ""]))
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    run(["check", "-c", cfg], check_rc=0)
    avsc = os.path.join(schemas, "order", "v1.avsc")
    with open(avsc) as f:
        text = f.read()
    with open(avsc, "w") as f:
        f.write(text.replace('"name": "sku", "type": "string"',
                             '"name": "sku", "type": ["null", "string"]'))
    for cmd in ("check", "run"):
        args = [cmd, "-c", cfg] + (["--exit-when-synced"] if cmd == "run" else [])
        proc = run(args, timeout=120)
        check(proc.returncode == 2 and "schema order v1" in proc.stderr and
              "different definition" in proc.stderr,
              "%s with a changed order v1: exit %d: %s" % (cmd, proc.returncode,
                                                          proc.stderr[-1500:]))
print("check refuses a schema the spool holds with another definition")
