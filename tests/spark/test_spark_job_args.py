# SPDX-License-Identifier: Apache-2.0
"""The Spark job's command line (sync/spark/run): --help, bad arguments
refused with the reason and exit 2 before any JVM starts, and a store that
cannot be reached named with exit 1 instead of a stack trace."""
import os
import subprocess

from sparkenv import *  # noqa: F403
from harness import SOURCE_DIR, Workdir, check  # noqa: E402

JOB = os.path.join(SOURCE_DIR, "sync", "spark", "run")
SCHEMAS = os.path.join(SOURCE_DIR, "tests", "data", "spark", "schemas")


def job(args, timeout=300):
    return subprocess.run([JOB] + args, capture_output=True, text=True, timeout=timeout)


with Workdir("spark-args") as work:
    p = job(["--help"])
    check(p.returncode == 0 and "--bootstrap-servers" in p.stdout and
          "--available-now" in p.stdout, "--help: exit %d\n%s" % (p.returncode, p.stdout))
    base = ["--bootstrap-servers", "127.0.0.1:1", "--checkpoint", work.join("ck")]
    cases = [
        (["--checkpoint", "x"], "--bootstrap-servers"),
        (base + ["--schemas", SCHEMAS], "nothing to write to"),
        (base + ["--cassandra", "127.0.0.1:1"], "no writer schemas"),
        (base + ["--cassandra", "h:p", "--schemas", SCHEMAS], "--cassandra h:p"),
        (base + ["--opensearch", "localhost:9200", "--schemas", SCHEMAS],
         "--opensearch localhost:9200: expected an http"),
        (base + ["--cassandra", "h", "--schemas", work.join("none")],
         "not a directory"),
        (base + ["--cassandra", "h", "--schemas", SCHEMAS, "--topics", "edge.(("],
         "--topics edge.(("),
        (base + ["--cassandra", "h", "--schemas", SCHEMAS, "--gc-deletes", "soon"],
         "--gc-deletes soon"),
        (base + ["--cassandra", "h", "--schemas", SCHEMAS, "--keyspace", "a-b"],
         "--keyspace a-b"),
    ]
    for args, want in cases:
        p = job(args)
        check(p.returncode == 2 and want in p.stderr,
              "%s: exit %d (2 expected), stderr without %r:\n%s"
              % (" ".join(args), p.returncode, want, p.stderr[-1500:]))
        check("Traceback" not in p.stderr, "%s: a traceback:\n%s" % (args, p.stderr))

    # an OpenSearch that does not answer: one line, exit 1
    p = job(base + ["--schemas", SCHEMAS, "--opensearch", "http://127.0.0.1:1"])
    check(p.returncode == 1 and "cannot reach OpenSearch at http://127.0.0.1:1" in p.stderr
          and "Traceback" not in p.stderr,
          "unreachable OpenSearch: exit %d\n%s" % (p.returncode, p.stderr[-2000:]))
    print("spark job arguments: --help, %d bad argument lists (exit 2), an unreachable "
          "store (exit 1)" % len(cases))
