# SPDX-License-Identifier: Apache-2.0
"""What the tests of the label spark (tests/spark/test_*.py) share: the
fixture's servers (tools/testenv/spark/servers, in SA_SPARK_DIR: Kafka,
the schema registry, Cassandra, OpenSearch), CQL through tools/testenv/cassandra/cql, and
spark-submit with the testenv's pyspark and jars
(tools/testenv/spark/submit). Every helper fails, never skips, when a
piece is missing."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from harness import SOURCE_DIR, check, fail  # noqa: E402

BINARY_DIR = os.environ.get("SA_BINARY_DIR") or os.getcwd()
SPARK_DIR = os.environ.get("SA_SPARK_DIR") or os.path.join(BINARY_DIR, "testenv", "spark")
TESTENV = os.path.join(SOURCE_DIR, "tools", "testenv")


def _read(name, what):
    path = os.path.join(SPARK_DIR, name)
    try:
        with open(path) as f:
            value = f.read().strip()
    except OSError as e:
        fail("no %s (%s): the spark.start fixture did not run (ctest -L spark)" % (what, e))
    check(value, path + " is empty")
    return value


def kafka_bootstrap():
    """127.0.0.1:PORT of the label's Kafka broker."""
    return _read("kafka/bootstrap", "Kafka broker")


def registry_url():
    """Base URL of the label's schema registry (Confluent-compatible API)."""
    return _read("registry/url", "schema registry")


def cassandra_address():
    """127.0.0.1:PORT of the label's Cassandra (CQL native transport)."""
    return _read("cassandra/address", "Cassandra node")


def opensearch_url():
    """http://127.0.0.1:PORT of the label's OpenSearch node."""
    return _read("opensearch/url", "OpenSearch node")


def cql(*statements, timeout=120):
    """Runs the statements in order on the label's Cassandra; the rows of
    all of them as dicts (column name -> value, non-JSON types as str)."""
    proc = subprocess.run([os.path.join(TESTENV, "cassandra", "cql"), cassandra_address()]
                          + list(statements), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        fail("cql %r: exit %d: %s" % (statements, proc.returncode, proc.stderr.strip()))
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def submit(args, log_path, timeout=600, env=None):
    """spark-submit (local[2], the testenv's jars, loopback) ARGS, its
    output into log_path; fails with the log's tail unless it exits 0.
    Returns stdout and stderr as one string."""
    with open(log_path, "w") as log:
        try:
            proc = subprocess.run([os.path.join(TESTENV, "spark", "submit")] + list(args),
                                  stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                                  env=env)
        except subprocess.TimeoutExpired:
            proc = None
    with open(log_path, errors="replace") as f:
        out = f.read()
    if proc is None or proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-40:])
        fail("spark-submit %s: %s (log %s):\n%s" % (
            " ".join(args), "timed out after %ds" % timeout if proc is None
            else "exit %d" % proc.returncode, log_path, tail))
    return out
