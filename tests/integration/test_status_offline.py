# SPDX-License-Identifier: Apache-2.0
"""The commands that connect nowhere (`status`, `spool verify`, `spool
salvage`, `deadletter list`, `deadletter export`) read the spool with a
config whose sinks name their secrets and addresses through ${env:} and
${file:}: those are neither looked up nor required, so an operator can
run them without the agent's environment (`status` said "environment
variable 'KAFKA_BROKERS' is not set"). `check` and `run`, which connect,
still refuse the unset variable."""
from dl_common import *

with Workdir("status-offline") as work:
    cfg = wx_config(work)
    g = work.join("in", "g.csv")
    write_csv(g, "station,note,id,temp\nS1,n1,1,1.5\nS2,n2,2,warm\n")
    run(["import", "-c", cfg, g], check_rc=3)
    # The same agent with a Kafka sink whose settings come from the
    # environment and from files that are not there.
    with open(cfg) as f:
        text = f.read()
    offline = work.write("kafka.yaml", text + "\n".join([
        "  - name: k", "    type: kafka", "    brokers: ${env:SA_TEST_KAFKA_BROKERS}",
        "    topic: edge.${stream}", "    encoding: confluent",
        "    schema_registry: ${env:SA_TEST_REGISTRY_URL}",
        "    schema_registry_password: ${file:" + work.join("no-such-secret") + "}",
        "    max_in_flight: ${env:SA_TEST_KAFKA_WINDOW}", ""]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SA_TEST_")}

    def ok(args):
        proc = run(args, env=env)
        check(proc.returncode == 0, "%r exited %d:\n%s" % (args, proc.returncode,
                                                           proc.stderr))
        check("SA_TEST_" not in proc.stderr and "no-such-secret" not in proc.stderr,
              "%r mentions a sink's reference:\n%s" % (args, proc.stderr))
        return proc.stdout

    st = json.loads(ok(["status", "-c", offline, "--json"]))
    check(st["next_seq"] == 2 and st["deadletters_open"] == 1, "status: %r" % st)
    check([s["sink"] for s in st["sinks"]] == ["out", "k"], "sinks: %r" % st["sinks"])
    ok(["status", "-c", offline])
    ok(["spool", "verify", "-c", offline])
    dls = [json.loads(l) for l in ok(["deadletter", "list", "-c", offline,
                                      "--json"]).splitlines()]
    check(len(dls) == 1 and "warm" in dls[0]["raw"], "list: %r" % dls)
    check("S2,n2,2,warm" in ok(["deadletter", "export", "-c", offline]), "export")
    ok(["spool", "salvage", "-c", offline, "--out", work.join("salvaged.db")])

    for args in (["check", "-c", offline], ["run", "-c", offline]):
        proc = run(args, env=env, timeout=60)
        check(proc.returncode == 2 and
              "environment variable 'SA_TEST_KAFKA_BROKERS' is not set" in proc.stderr,
              "%r exited %d (expected 2, the unset variable):\n%s" % (
                  args, proc.returncode, proc.stderr))
print("ok")
