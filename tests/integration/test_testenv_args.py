# SPDX-License-Identifier: Apache-2.0
"""The start and stop scripts of tools/testenv check their arguments
before anything else (testenv_args, common.sh): --help prints the
script's header comment and exits 0; an unknown option or one argument
too many exits 2 with the usage line; stop on a directory that does not
exist does nothing. They used to take --help or -x for DIR, create it in
the working directory and start a server there, so each is run in an
empty directory that must stay empty. No server is started."""
import os
import subprocess

from harness import *

TESTENV = os.path.join(SOURCE_DIR, "tools", "testenv")
SERVICES = ("kafka", "registry", "opensearch", "elasticsearch", "clickhouse", "nginx",
            "prometheus", "chromium", "cassandra")

with Workdir("testenv-args") as work:
    cwd = work.join("cwd")
    os.mkdir(cwd)
    missing = work.join("does-not-exist")

    def script(service, name, *args):
        proc = subprocess.run([os.path.join(TESTENV, service, name)] + list(args),
                              cwd=cwd, capture_output=True, text=True, timeout=60)
        what = "%s/%s %s" % (service, name, " ".join(args))
        check(not os.listdir(cwd), "%s created %s" % (what, os.listdir(cwd)))
        check(not os.path.exists(missing), "%s created %s" % (what, missing))
        return proc, what

    cases = 0
    for service in SERVICES:
        for name in ("start", "stop"):
            proc, what = script(service, name, "--help")
            check(proc.returncode == 0 and proc.stdout.strip(),
                  "%s: exit %d, stdout %r" % (what, proc.returncode, proc.stdout[:200]))
            check("SPDX" not in proc.stdout and "#" not in proc.stdout.splitlines()[0],
                  "%s: not the header comment: %r" % (what, proc.stdout[:200]))
            # A surplus argument: stop takes [DIR] only (opensearch/start
            # takes settings, which must be key=value).
            for args in (["-x"], ["--fresh", "-x"] if name == "start" else ["-x", "a"],
                         [missing, "extra"]):
                proc, what = script(service, name, *args)
                check(proc.returncode == 2 and "usage:" in proc.stderr,
                      "%s: exit %d, expected 2 with the usage\n%s" % (
                          what, proc.returncode, proc.stderr[-1000:]))
                cases += 1
        proc, what = script(service, "stop", missing)
        check(proc.returncode == 0, "%s: exit %d\n%s" % (what, proc.returncode,
                                                         proc.stderr[-1000:]))
    print("testenv arguments: %d scripts, --help, %d refused argument lists, stop of a "
          "missing DIR; nothing created" % (2 * len(SERVICES), cases))
