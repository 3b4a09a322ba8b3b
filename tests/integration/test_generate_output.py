# SPDX-License-Identifier: Apache-2.0
"""`syncagent generate -o`: a regular file is written through a temporary
file renamed into place; anything else (a FIFO here, /dev/null in practice)
is written straight into, never replaced by the rename."""
import stat
import threading

from harness import *

ARGS = ["generate", "--schema", "user", "-n", "500", "--format", "csv",
        "--seed", "5", "--schemas-dir", SCHEMAS_DIR]

with Workdir("generate-out") as work:
    plain = work.join("users.csv")
    run(ARGS + ["-o", plain], check_rc=0)
    with open(plain, "rb") as f:
        expected = f.read()
    check(expected.count(b"\n") == 501, "%d lines for 500 rows and a header" %
          expected.count(b"\n"))
    check(not [n for n in os.listdir(work.path) if ".tmp-" in n],
          "a temporary file was left behind")

    fifo = work.join("users.fifo")
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()),
                              daemon=True)  # blocks for ever if the FIFO is replaced
    reader.start()
    run(ARGS + ["-o", fifo], check_rc=0, timeout=60)
    reader.join(20)
    check(stat.S_ISFIFO(os.stat(fifo).st_mode),
          "generate -o FIFO replaced the FIFO with a regular file")
    check(got and got[0] == expected, "the FIFO's reader got %d bytes, expected %d" %
          (len(got[0]) if got else -1, len(expected)))
    print("generate -o: regular file renamed into place; FIFO written into, kept")
