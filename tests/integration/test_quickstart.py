# SPDX-License-Identifier: Apache-2.0
"""tools/quickstart shows progress while it builds (issue 11 item 6: it was
silent for ~85 s on a fresh machine).

The script runs from a copy of the repository's layout in a temporary
directory, with tools/setup and tools/build replaced by stubs (the stub
build prints ninja's `[n/N]` lines; nothing is compiled) and build/syncagent
the real binary. Its standard error is a pipe, so the progress comes as a
line per tenth: `quickstart: building 50% (10/20)`, rising to 100%. Then
the demo runs (with fewer records than the shipped config) and its output
files are listed. A build that fails: the script exits non-zero, says so
and shows the build's last lines."""
import re
import stat

from harness import *

BUILD_OK = """#!/usr/bin/env bash
for i in $(seq 1 20); do echo "[$i/20] Building C object CMakeFiles/x$i.c.o"; done
"""
BUILD_FAILS = """#!/usr/bin/env bash
echo "[1/20] Building C object CMakeFiles/x1.c.o"
echo "[2/20] Building C object CMakeFiles/x2.c.o"
echo "FAILED: CMakeFiles/x2.c.o"
echo "x2.c:1:1: error: the stub build fails here"
exit 1
"""


def script(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def tree(work, build_text):
    root = work.join("repo")
    for d in ("tools", "build", "configs"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    with open(os.path.join(SOURCE_DIR, "tools", "quickstart")) as f:
        script(os.path.join(root, "tools", "quickstart"), f.read())
    script(os.path.join(root, "tools", "setup"), "#!/usr/bin/env bash\nexit 0\n")
    script(os.path.join(root, "tools", "build"), build_text)
    if not os.path.exists(os.path.join(root, "build", "syncagent")):
        os.symlink(os.path.abspath(SYNCAGENT), os.path.join(root, "build", "syncagent"))
        os.symlink(SCHEMAS_DIR, os.path.join(root, "schemas"))
    with open(os.path.join(SOURCE_DIR, "configs", "quickstart.yaml")) as f:
        text = re.sub(r"count: \d+", "count: 2000", f.read())
    with open(os.path.join(root, "configs", "quickstart.yaml"), "w") as f:
        f.write(text)
    return root


with Workdir("quickstart") as work:
    root = tree(work, BUILD_OK)
    proc = subprocess.run([os.path.join(root, "tools", "quickstart")], cwd=work.path,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    check(proc.returncode == 0, "quickstart exited %d\nstdout: %s\nstderr: %s" % (
        proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:]))
    shown = [(int(m.group(1)), int(m.group(2))) for m in re.finditer(
        r"^quickstart: building (\d+)% \((\d+)/20\)$", proc.stderr, re.M)]
    check(len(shown) >= 5, "the build's progress was not shown:\n" + proc.stderr)
    check(shown == sorted(shown) and shown[-1] == (100, 20),
          "progress does not rise to 100%%: %r" % shown)
    check("quickstart: built" in proc.stderr, proc.stderr)
    out = os.listdir(os.path.join(root, "out", "quickstart"))
    check(out, "the demo wrote no output files")
    check("Output files" in proc.stdout, proc.stdout[-2000:])

    script(os.path.join(root, "tools", "build"), BUILD_FAILS)
    proc = subprocess.run([os.path.join(root, "tools", "quickstart")], cwd=work.path,
                          capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    check(proc.returncode != 0, "quickstart exited 0 on a failed build")
    check("quickstart: the build failed:" in proc.stderr and
          "error: the stub build fails here" in proc.stderr,
          "a failed build is not shown:\n" + proc.stderr)
    check("generating" not in proc.stderr, "the demo ran after a failed build")
print("quickstart: build progress shown as it rises to 100%%, the demo ran; a "
      "failed build shows its last lines")
