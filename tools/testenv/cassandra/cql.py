# SPDX-License-Identifier: Apache-2.0
"""A small CQL client for the test Cassandra, run by the testenv venv's
Python (tools/testenv/cassandra/cql and start's ready check): executes
each statement given and prints every row as one JSON object per line.
cqlsh would do, but its PyPI package pins another driver and speaks its
own output format; the tests use the same driver (cassandra-driver)."""
import json
import logging
import sys

from cassandra.cluster import Cluster


def main(argv):
    if len(argv) < 2 or ":" not in argv[1]:
        sys.stderr.write("usage: cql.py HOST:PORT STATEMENT...\n")
        return 2
    host, port = argv[1].rsplit(":", 1)
    # The driver logs a warning per node it cannot reach: the ready check
    # polls a node that is still starting.
    logging.getLogger("cassandra").setLevel(logging.ERROR)
    cluster = Cluster([host], port=int(port), protocol_version=5,
                      connect_timeout=5, control_connection_timeout=5)
    try:
        session = cluster.connect()
        for statement in argv[2:]:
            for row in session.execute(statement, timeout=60):
                print(json.dumps(row._asdict(), default=str, sort_keys=True))
    except Exception as e:  # noqa: BLE001 - a CLI: the reason, exit 1
        sys.stderr.write("cql: %s: %s\n" % (argv[1], e))
        return 1
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
