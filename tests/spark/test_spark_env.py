# SPDX-License-Identifier: Apache-2.0
"""The environment of the label spark works as a whole: 2000 keyed
messages written into a topic of the fixture's Kafka with kcat are read
by a PySpark batch job (tests/spark/smoke_job.py: the Kafka source jar)
and written into a Cassandra table through the DataStax connector; the
table read back over CQL holds every message once, with its partition and
offset. The fixture's OpenSearch (a 2.x node) and schema registry answer
too."""
import json
import os
import subprocess
import tempfile
import urllib.request
import uuid

from sparkenv import (cassandra_address, check, cql, fail, kafka_bootstrap,
                      opensearch_url, registry_url, submit)

COUNT = 2000
HERE = os.path.dirname(os.path.abspath(__file__))


def produce(bootstrap, topic, lines):
    proc = subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
                           "-X", "acks=all"],
                          input="".join(lines), text=True, capture_output=True, timeout=120)
    if proc.returncode != 0:
        fail("kcat -P %s: %s" % (topic, proc.stderr.strip()))


def kafka_offsets(bootstrap, topic):
    """{(partition, offset): value} of every message, read back by kcat."""
    proc = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q",
                           "-f", "%p\t%o\t%s\n"], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode != 0:
        fail("kcat -C %s: %s" % (topic, proc.stderr.strip()))
    out = {}
    for line in proc.stdout.splitlines():
        p, o, v = line.split("\t", 2)
        out[(int(p), int(o))] = v
    return out


def main():
    bootstrap = kafka_bootstrap()
    url = opensearch_url()
    with urllib.request.urlopen(url + "/", timeout=30) as r:
        version = json.load(r)["version"]["number"]
    check(version.startswith("2."), "OpenSearch at %s runs %s, not 2.x" % (url, version))
    with urllib.request.urlopen(registry_url() + "/subjects", timeout=30) as r:
        check(isinstance(json.load(r), list), "the registry's /subjects is not a list")

    run = uuid.uuid4().hex[:8]
    topic = "sparkenv-smoke-" + run
    keyspace, table = "sparkenv", "smoke_" + run
    lines = ["k%d\t%d,name-%d\n" % (i, i, i) for i in range(COUNT)]
    produce(bootstrap, topic, lines)
    written = kafka_offsets(bootstrap, topic)
    check(len(written) == COUNT, "kcat read back %d of %d messages" % (len(written), COUNT))

    cql("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}" % keyspace,
        "CREATE TABLE %s.%s (id int PRIMARY KEY, name text, partition int, "
        "offset bigint)" % (keyspace, table))

    with tempfile.TemporaryDirectory(prefix="sparkenv-") as work:
        out = submit([os.path.join(HERE, "smoke_job.py"), bootstrap, topic,
                      cassandra_address(), keyspace, table],
                     os.path.join(work, "job.log"))
    check("smoke_job: wrote %d rows" % COUNT in out,
          "the job did not report %d rows:\n%s" % (COUNT, out[-2000:]))

    rows = cql("SELECT id, name, partition, offset FROM %s.%s" % (keyspace, table))
    check(len(rows) == COUNT, "Cassandra holds %d rows, expected %d" % (len(rows), COUNT))
    by_id = {r["id"]: r for r in rows}
    for i in range(COUNT):
        r = by_id.get(i)
        check(r is not None, "id %d missing in %s.%s" % (i, keyspace, table))
        check(r["name"] == "name-%d" % i, "id %d: name %r" % (i, r["name"]))
        check(written.get((r["partition"], r["offset"])) == "%d,name-%d" % (i, i),
              "id %d: partition %d offset %d holds %r in Kafka" % (
                  i, r["partition"], r["offset"], written.get((r["partition"], r["offset"]))))
    cql("DROP TABLE %s.%s" % (keyspace, table))
    print("ok: %d messages Kafka -> Spark -> Cassandra, read back key by key" % COUNT)


if __name__ == "__main__":
    main()
