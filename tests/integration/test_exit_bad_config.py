# SPDX-License-Identifier: Apache-2.0
"""A config that is not there, a directory given as the config, or a
schemas directory that is missing is bad input: exit 2 from every command,
as a config that does not parse (README: 0 ok, 1 runtime failure, 2 bad
usage or input). Numeric options are parsed strictly (replay --id ' 1',
+1); export of a stream with no open dead letters says so."""
import re

from dl_common import *

with Workdir("exit-bad-config") as work:
    missing = work.join("nosuch.yaml")
    for args in (["check", "-c", missing],
                 ["import", "-c", missing, work.join("f.csv")],
                 ["status", "-c", missing],
                 ["run", "-c", missing],
                 ["spool", "verify", "-c", missing],
                 ["deadletter", "list", "-c", missing],
                 ["deadletter", "export", "-c", missing],
                 ["deadletter", "replay", "-c", missing, "--all"],
                 ["deadletter", "resolve", "-c", missing, "--id", "1", "--note", "x"],
                 ["check", "-c", work.path]):
        proc = run(args, check_rc=2)
        named = missing if missing in args else work.path
        check(named in proc.stderr, "%r:\n%s" % (args, proc.stderr))

    cfg = wx_config(work)
    no_schemas = work.write("no-schemas.yaml", open(cfg).read().replace(
        work.join("schemas"), work.join("nosuch-schemas")))
    for args in (["check", "-c", no_schemas],
                 ["import", "-c", no_schemas, work.join("f.csv")],
                 ["run", "-c", no_schemas]):
        proc = run(args, check_rc=2)
        check("nosuch-schemas" in proc.stderr, "%r:\n%s" % (args, proc.stderr))
        # The key, with its place in the file.
        check(re.search(r"no-schemas\.yaml:\d+:\d+: agent\.schemas_dir: ", proc.stderr),
              "%r: no place:\n%s" % (args, proc.stderr))
    # Not written: the message says the default was used, and where it is.
    os.makedirs(work.join("elsewhere"))
    unset = work.write(os.path.join("elsewhere", "unset-schemas.yaml"), "".join(
        line for line in open(cfg).readlines() if "schemas_dir" not in line))
    proc = run(["check", "-c", unset], check_rc=2)
    check("agent.schemas_dir not set, so its default" in proc.stderr and
          work.join("elsewhere", "schemas") in proc.stderr, proc.stderr)

    g = work.join("in", "g.csv")
    write_csv(g, "station,note,id,temp\nS1,n1,1,warm\n")
    run(["import", "-c", cfg, g], check_rc=3)
    for bad in (" 1", "+1", "1 ", "0", "-1", "1x", ""):
        proc = run(["deadletter", "replay", "-c", cfg, "--id", bad], check_rc=2)
        check("--id" in proc.stderr, "--id %r:\n%s" % (bad, proc.stderr))
    check(dl_list(cfg)[0]["state"] == "open", "replayed by a bad --id")

    proc = run(["deadletter", "export", "-c", cfg, "--stream", "nosuch"], check_rc=0)
    check("no open dead letters for stream nosuch" in proc.stderr, proc.stderr)
    check(proc.stdout.strip() == "id,source,location,reason,last_replay_error,raw",
          "export: %r" % proc.stdout)
print("ok")
