# SPDX-License-Identifier: Apache-2.0
"""`spool salvage` says clearly which origin_id the salvaged spool has:
one origin_id in all its output, the one of the spool it salvaged, and
that the records keep their (origin_id, seq). It used to log "spool
created ... origin_id=<new>" for the file it makes and then print the old
one as "(kept)", which read as a contradiction."""
import re

from harness import *

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

with Workdir("salvage-output") as work:
    cfg = generator_config(work, [("orders", "order", "order", 3, 500, 0)],
                           work.join("out"))
    run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
    origin = status_json(cfg)["origin_id"]
    out = work.join("salvaged.db")
    proc = run(["spool", "salvage", "-c", cfg, "--out", out], check_rc=0)
    text = proc.stdout + proc.stderr
    ids = set(UUID.findall(text))
    check(ids == {origin}, "salvage printed origin_ids %r, the spool's is %s:\n%s" % (
        sorted(ids), origin, text))
    line = [l for l in proc.stdout.splitlines() if l.startswith("origin_id")]
    check(len(line) == 1 and "the same as" in line[0] and "(origin_id, seq)" in line[0],
          "the origin_id line does not say it was kept:\n" + proc.stdout)
    st = json.loads(run(["status", "-c", cfg, "--json"], check_rc=0).stdout)
    check(st["origin_id"] == origin, "status: origin changed")
    print("salvage output: " + line[0])
