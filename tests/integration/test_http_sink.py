# SPDX-License-Identifier: Apache-2.0
"""The http sink against the test receiver (http_receiver.py):

- every format (ndjson gzipped, json, avro), HMAC-signed: each request's
  Idempotency-Key names its first and last (origin, seq) and its
  signature verifies; deduplicated by seq, every generated record arrives
  exactly as generated, with _origin_id, _seq, _op and _version;
- 429 with Retry-After, 503, 500 and 503 with Retry-After: retried until
  every record is in, and the request after a Retry-After: 2 comes no
  sooner than the server asked;
- a 400: that batch's records are dead-lettered with the status and the
  start of the body, every other record arrives, none is both."""
from http_harness import *

N = 2000


def check_requests(log, label, hmac=True):
    check(log, "%s: no request reached the receiver" % label)
    for e in log:
        check("decode_error" not in e, "%s: undecodable body: %s" % (label, e.get("decode_error")))
        check(e["key_ok"], "%s: Idempotency-Key %r does not match the records" % (label, e["key"]))
        if hmac:
            check(e.get("hmac_ok"), "%s: the HMAC signature does not verify" % label)


with Workdir("http-sink") as work:
    secret = work.write("hmac.key", "k3y-for-tests")

    # --- every format, signed ------------------------------------------
    expected = generate_jsonl("order", N, 7)
    for fmt, extra in (("ndjson", "gzip: true"), ("json", ""), ("avro", "")):
        rx = Receiver(work, hmac_secret_file=secret)
        try:
            cfg = http_config(work, fmt, rx.url("/ingest"), N, (
                "format: %s\nbatch_max_records: 300\nhmac_secret: ${file:%s}\n%s") % (
                    fmt, secret, extra))
            run(["check", "-c", cfg], check_rc=0)
            run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
            origin = status_json(cfg)["origin_id"]
            log = rx.log()
        finally:
            rx.stop()
        check_requests(log, fmt)
        check(all(e["status"] == 200 for e in log), "%s: a request failed" % fmt)
        check(all(len(e["seqs"]) <= 300 for e in log), "%s: batch over 300" % fmt)
        if fmt == "ndjson":
            check(all(e["gzip"] for e in log), "ndjson: body not gzipped")
        by_seq, n = delivered(log)
        for r in by_seq.values():
            check(r["_op"] == "upsert", "%s: _op %r" % (fmt, r["_op"]))
            check(isinstance(r["_version"], int) and r["_version"] > 0,
                  "%s: _version %r" % (fmt, r.get("_version")))
        if fmt == "avro":
            seqs = sorted(by_seq)
            check(len(seqs) == N, "avro: %d distinct records, %d generated" % (len(seqs), N))
            for i, seq in enumerate(seqs):
                rec = by_seq[seq]["record"]
                check(by_seq[seq]["_origin_id"] == origin, "avro: origin")
                check(rec["order_id"] == expected[i]["order_id"] and
                      rec["amount"] == expected[i]["amount"],
                      "avro: record %d differs: %r / %r" % (i, rec, expected[i]))
                # timestamp-millis reached the reader as a timestamp
                check(str(rec["created_at"]).startswith("datetime:"),
                      "avro: created_at is %r" % rec["created_at"])
        else:
            dups = compare_stream(list(by_seq.values()), expected, origin, fmt)
            check(dups == 0, "%s: duplicates" % fmt)
        print("%s: %d requests, %d records, all signed and keyed" % (fmt, len(log), n))

    # --- retries: 429 + Retry-After, 503, 500 ---------------------------
    # One request in flight at a time (max_in_flight = a batch), so the
    # receiver's log is the order of events.
    rx = Receiver(work)
    try:
        rx.plan([{"status": 200}, {"status": 429, "retry_after": "2"}, {"status": 503},
                 {"status": 500}, {"status": 503, "retry_after": "1"}])
        cfg = http_config(work, "retry", rx.url("/ingest"), 1000,
                          "batch_max_records: 100\nmax_in_flight: 100\n"
                          "retry_initial: 50ms\nretry_max: 200ms\n")
        run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
        origin = status_json(cfg)["origin_id"]
        log = rx.log()
    finally:
        rx.stop()
    check_requests(log, "retry", hmac=False)
    statuses = [e["status"] for e in log]
    check(statuses[:5] == [200, 429, 503, 500, 503],
          "retry: the receiver answered %s" % statuses[:8])
    check(log[2]["time"] - log[1]["time"] >= 1.5,
          "retry: resent %.2f s after a 429 with Retry-After: 2" % (log[2]["time"] - log[1]["time"]))
    check(log[5]["time"] - log[4]["time"] >= 0.7,
          "retry: resent %.2f s after a 503 with Retry-After: 1" % (log[5]["time"] - log[4]["time"]))
    refused = {s[1] for e in log[1:5] for s in e["seqs"]}
    by_seq, _ = delivered(log)
    check(refused <= set(by_seq), "retry: refused records never delivered")
    dups = compare_stream(list(by_seq.values()), generate_jsonl("order", 1000, 7), origin,
                          "retry")
    print("retry: %d requests (%s...), every record delivered" % (len(log), statuses[:6]))

    # --- a 400: the batch dead-lettered ---------------------------------
    rx = Receiver(work)
    try:
        rx.plan([{"status": 200}, {"status": 400, "body": "field amount: not a number\n"
                                   + "x" * 500}])
        cfg = http_config(work, "reject", rx.url("/ingest"), 1000,
                          "batch_max_records: 100\nmax_in_flight: 100\n")
        run(["run", "-c", cfg, "--exit-when-synced"], check_rc=0, timeout=120)
        log = rx.log()
        dls = [json.loads(l) for l in run(["deadletter", "list", "-c", cfg, "--json"],
                                          check_rc=0).stdout.splitlines() if l.strip()]
    finally:
        rx.stop()
    check_requests(log, "reject", hmac=False)
    check([e["status"] for e in log][:3] == [200, 400, 200], "reject: statuses %s" %
          [e["status"] for e in log][:3])
    rejected = {s[1] for s in log[1]["seqs"]}
    dead = set()
    for d in dls:
        check(d["source"] == "sink:web", "reject: dead letter from %r" % d["source"])
        check("HTTP 400" in d["reason"] and "field amount: not a number" in d["reason"],
              "reject: reason %r" % d["reason"])
        check("x" * 300 not in d["reason"], "reject: the whole body in the reason")
        dead.add(int(d["location"].rsplit("seq ", 1)[1]))
    by_seq, _ = delivered(log)
    check(dead == rejected, "reject: dead-lettered %d records, the 400 refused %d" % (
        len(dead), len(rejected)))
    check(not (dead & set(by_seq)), "reject: a dead-lettered record was also delivered")
    check(len(dead) + len(by_seq) == 1000, "reject: %d delivered + %d dead != 1000" % (
        len(by_seq), len(dead)))
    print("reject: %d records dead-lettered with %r, %d delivered" % (
        len(dead), dls[0]["reason"][:80], len(by_seq)))
