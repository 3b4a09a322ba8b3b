# SPDX-License-Identifier: Apache-2.0
"""`syncagent --version` and `--help` name the malloc the binary was built
with (-DSA_MALLOC, agent/allocator.c), so that a figure or a bug report
can say which one ran. The build's choice is read from its CMakeCache.txt
(SA_BINARY_DIR): system, jemalloc or mimalloc, and always system in a
sanitizer or fuzz build, which keep the system allocator."""
import re

from harness import *

cache = {}
binary_dir = os.environ.get("SA_BINARY_DIR") or os.path.dirname(SYNCAGENT)
with open(os.path.join(binary_dir, "CMakeCache.txt")) as f:
    for line in f:
        m = re.match(r"^(SA_MALLOC|SA_SANITIZE|SA_FUZZ):[A-Z]+=(.*)$", line.strip())
        if m:
            cache[m.group(1)] = m.group(2)
check("SA_MALLOC" in cache, "no SA_MALLOC in %s/CMakeCache.txt" % binary_dir)
used = cache["SA_MALLOC"]
if cache.get("SA_SANITIZE", "OFF").upper() in ("ON", "1", "TRUE", "YES") or \
        cache.get("SA_FUZZ", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
    used = "system"
want = {"system": r"system malloc", "jemalloc": r"jemalloc \d+\.\d+\.\d+",
        "mimalloc": r"mimalloc \d+\.\d+\.\d+"}[used]

proc = run(["--version"], check_rc=0)
check(re.fullmatch(r"syncagent \S+ \(sqlite \S+, librdkafka \S+, %s\)\n" % want,
                   proc.stdout),
      "--version of a %s build: %r" % (used, proc.stdout))
proc = run(["--help"], check_rc=0)
check(re.search(r"^Built with %s \(cmake -DSA_MALLOC=system\|jemalloc\|mimalloc\)\.$"
                % want, proc.stdout, re.M),
      "--help of a %s build does not name it: %r" % (used, proc.stdout[-300:]))
print("--version and --help name the build's allocator: %s" % used)
