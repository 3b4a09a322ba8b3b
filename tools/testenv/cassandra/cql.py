# SPDX-License-Identifier: Apache-2.0
"""A small CQL client for the test Cassandra, run by the testenv venv's
Python (tools/testenv/cassandra/cql and start's ready check): executes
each statement given and prints every row as one JSON object per line.
cqlsh would do, but its PyPI package pins another driver and speaks its
own output format; the tests use the same driver (cassandra-driver)."""
import json
import logging
import sys

from cassandra import UnresolvableContactPoints
from cassandra.cluster import Cluster


def main(argv):
    host, _, port = argv[1].rpartition(":") if len(argv) > 1 else ("", "", "")
    # The driver would take port 99999 as 34463 (mod 65536).
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        sys.stderr.write("usage: cql.py HOST:PORT STATEMENT... (PORT 1-65535)\n")
        return 2
    # The driver logs a warning per node it cannot reach: the ready check
    # polls a node that is still starting.
    logging.getLogger("cassandra").setLevel(logging.ERROR)
    cluster = None
    try:
        # Cluster() resolves the host: a name that does not resolve fails
        # here, and is told as any other unreachable node.
        cluster = Cluster([host], port=int(port), protocol_version=5,
                          connect_timeout=5, control_connection_timeout=5)
        session = cluster.connect()
        for statement in argv[2:]:
            for row in session.execute(statement, timeout=60):
                print(json.dumps(row._asdict(), default=str, sort_keys=True))
    except UnresolvableContactPoints:
        sys.stderr.write("cql: %s: cannot resolve %s\n" % (argv[1], host))
        return 1
    except Exception as e:  # noqa: BLE001 - a CLI: the reason, exit 1
        sys.stderr.write("cql: %s: %s\n" % (argv[1], e))
        return 1
    finally:
        if cluster is not None:
            cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
