# SPDX-License-Identifier: Apache-2.0
"""What a failed replay leaves, and closing dead letters by hand (issue 11
item 3, fix round): a replay whose fix still fails keeps the dead letter's
original reason and records the failure as last_replay_error (list,
--json, export); --from naming one id twice with different rows is
refused with the id, twice alike is replayed once and said so only when
the replay went through; `deadletter resolve --id N --note TEXT` closes a
dead letter (audited, shown by list) that no replay takes again."""
from dl_common import *

HEAD = "station,note,id,temp\n"

with Workdir("dl-resolve") as work:
    cfg = wx_config(work)
    g = work.join("in", "g.csv")
    write_csv(g, HEAD + "S1,n1,1,1.5\nS2,n2,2,warm\nS3,n3,3,cold\nS4,n4,4,hot\n")
    run(["import", "-c", cfg, g], check_rc=3)
    dls = dl_list(cfg)
    check(len(dls) == 3, "dead letters: %r" % dls)
    d2, d3, d4 = (d["id"] for d in dls)
    original = {d["id"]: d["reason"] for d in dls}

    # A fix that still fails: the reason stays, the replay's error beside it.
    fixed = work.join("fixed.csv")
    write_fixed(fixed, [(d2, "S2,n2,2,still-warm")])
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=3)
    d = [x for x in dl_list(cfg) if x["id"] == d2][0]
    check(d["state"] == "open" and d["reason"] == original[d2],
          "reason overwritten: %r (was %r)" % (d, original[d2]))
    check("still-warm" in d.get("last_replay_error", ""), "last_replay_error: %r" % d)
    text = run(["deadletter", "list", "-c", cfg], check_rc=0).stdout
    check("last replay failed:" in text and "still-warm" in text, "list:\n" + text)
    out = work.join("export.csv")
    run(["deadletter", "export", "-c", cfg, "-o", out], check_rc=0)
    with open(out, newline="") as f:
        rows = {int(r["id"]): r for r in csv.DictReader(f)}
    check(rows[d2]["reason"] == original[d2]
          and "still-warm" in rows[d2]["last_replay_error"]
          and rows[d3]["last_replay_error"] == "", "export: %r" % rows)

    # One id twice with different rows: refused, naming the id; nothing in.
    write_fixed(fixed, [(d2, "S2,n2,2,2.5"), (d3, "S3,n3,3,3.5"), (d2, "S2,n2,2,2.6")])
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=2)
    check("dead letter %d is given twice" % d2 in proc.stderr, "stderr:\n" + proc.stderr)
    check(all(x["state"] == "open" for x in dl_list(cfg)), "something resolved")
    # Twice alike, but the run fails on a later row (no such dead letter):
    # nothing is said to be replayed.
    write_fixed(fixed, [(d2, "S2,n2,2,2.5"), (d2, "S2,n2,2,2.5"), (999, "x,y,9,1")])
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=2)
    check("given twice" not in proc.stdout and "replayed once" not in proc.stdout,
          "an aborted replay says what it did not do:\n" + proc.stdout)
    check(all(x["state"] == "open" for x in dl_list(cfg)), "something resolved")
    # Twice alike: replayed once, and said so.
    write_fixed(fixed, [(d2, "S2,n2,2,2.5"), (d2, "S2,n2,2,2.5")])
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=0)
    check("dead letter %d: given twice" % d2 in proc.stdout and
          "replayed 1 dead letters" in proc.stdout, "stdout:\n" + proc.stdout)

    # Closed by hand.
    proc = run(["deadletter", "resolve", "-c", cfg, "--id", str(d3), "--id", str(d4),
                "--note", "sensor was broken"], check_rc=0)
    for d in dl_list(cfg):
        if d["id"] in (d3, d4):
            check(d["state"] == "resolved" and
                  d["resolved_how"] == "closed by hand: sensor was broken", "%r" % d)
    text = run(["deadletter", "list", "-c", cfg], check_rc=0).stdout
    check("closed by hand: sensor was broken" in text, "list:\n" + text)
    audit = spool_sql(work, "SELECT detail FROM audit WHERE kind = 'deadletter_resolve'")
    check(len(audit) == 1 and json.loads(audit[0][0])["ids"] == [d3, d4]
          and json.loads(audit[0][0])["note"] == "sensor was broken", "audit %r" % audit)
    # Never replayed: not by --id, not by --all, not by --from.
    proc = run(["deadletter", "replay", "-c", cfg, "--id", str(d3)], check_rc=2)
    check("resolved already" in proc.stderr, proc.stderr)
    write_fixed(fixed, [(d4, "S4,n4,4,4.5")])
    proc = run(["deadletter", "replay", "-c", cfg, "--all", "--from", fixed], check_rc=0)
    check("replayed 0 dead letters" in proc.stdout, proc.stdout)
    # Refused: resolved already, no such id, no note, a bad id.
    proc = run(["deadletter", "resolve", "-c", cfg, "--id", str(d3), "--note", "x"],
               check_rc=2)
    check("resolved already" in proc.stderr, proc.stderr)
    run(["deadletter", "resolve", "-c", cfg, "--id", "999", "--note", "x"], check_rc=2)
    run(["deadletter", "resolve", "-c", cfg, "--id", str(d4)], check_rc=2)
    run(["deadletter", "resolve", "-c", cfg, "--id", "+1", "--note", "x"], check_rc=2)
    st = status_json(cfg)
    check(st["deadletters_open"] == 0, "status: %r" % st)

    recs = drained(cfg, work)
    check(sorted(recs) == [1, 2], "records: %r" % sorted(recs))
    check(recs[2]["temp"] == 2.5, "record 2: %r" % recs[2])
print("ok")
