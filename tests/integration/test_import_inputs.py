# SPDX-License-Identifier: Apache-2.0
"""What `import` takes (issue 11 item 3, fix round): only regular files (a
FIFO or /dev/stdin is refused, exit 2, instead of importing nothing and
exiting 0); no file at all is named as the problem; a directory stands
for its *.csv files in any case (X.CSV) but not hidden ones (.x.csv); and
with two CSV sources on one stream --stream is refused with their names,
--source NAME chooses."""
from dl_common import *

HEAD = "station,note,id,temp\n"

with Workdir("import-inputs") as work:
    cfg = wx_config(work)

    # Not a regular file.
    fifo = work.join("pipe.csv")
    os.mkfifo(fifo)
    proc = run(["import", "-c", cfg, fifo], check_rc=2)
    check("%s: not a regular file" % fifo in proc.stderr, "fifo:\n" + proc.stderr)
    proc = run(["import", "-c", cfg, "/dev/stdin"], check_rc=2, input="a,b\n")
    check("/dev/stdin: not a regular file" in proc.stderr, "stdin:\n" + proc.stderr)
    proc = run(["import", "-c", cfg], check_rc=2)
    check("import: no file given" in proc.stderr, "no file:\n" + proc.stderr)

    # A directory: X.CSV yes, .x.csv no.
    d = work.join("dir")
    os.makedirs(d)
    for name, i in (("a.csv", 1), ("B.CSV", 2), (".hidden.csv", 3)):
        with open(os.path.join(d, name), "w") as f:
            f.write(HEAD + "S%d,n%d,%d,1.5\n" % (i, i, i))
    proc = run(["import", "-c", cfg, d], check_rc=0)
    check("a.csv: 1 accepted" in proc.stdout and "B.CSV: 1 accepted" in proc.stdout
          and "hidden" not in proc.stdout and "total: 2 accepted" in proc.stdout,
          "directory:\n" + proc.stdout)

    # Two CSV sources for one stream.
    cfg2 = work.write("two.yaml", open(cfg).read().replace("sinks:", "\n".join([
        "  - name: wx_semi", "    type: csv", "    stream: wx", "    delimiter: semicolon",
        "    path: " + work.join("semi", "*.csv"), "    watch: false", "sinks:"])))
    semi = work.join("semi.csv")
    with open(semi, "w") as f:
        f.write(HEAD.replace(",", ";") + "S5;n5;5;1.5\n")
    proc = run(["import", "-c", cfg2, "--stream", "wx", semi], check_rc=2)
    check("--source" in proc.stderr and "wx, wx_semi" in proc.stderr,
          "two sources:\n" + proc.stderr)
    proc = run(["import", "-c", cfg2, semi], check_rc=2)
    check("--source" in proc.stderr and "wx, wx_semi" in proc.stderr,
          "two sources, no --stream:\n" + proc.stderr)
    proc = run(["import", "-c", cfg2, "--source", "nosuch", semi], check_rc=2)
    check("--source nosuch: no such source" in proc.stderr, proc.stderr)
    proc = run(["import", "-c", cfg2, "--source", "wx_semi", semi], check_rc=0)
    check("1 accepted, 0 rejected" in proc.stdout, proc.stdout)
    recs = drained(cfg2, work)
    check(sorted(recs) == [1, 2, 5] and recs[5]["station"] == "S5",
          "records: %r" % recs)
print("ok")
