# SPDX-License-Identifier: Apache-2.0
"""The baseline of tools/bench/downstream, run by the same pyspark as the
job: the rows the job writes, built first as a DataFrame (the topic read
in batch, its values decoded, the same columns and writetime), cached and
counted, and only then written to Cassandra through the connector, timed.
What is left is the connector's own cost: the job's figure beside it shows
what reading Kafka, decoding, checking and versioning add.

  python downstream_baseline.py BOOTSTRAP TOPIC SCHEMA_FILE CASSANDRA KEYSPACE TABLE

Prints one JSON line: rows, seconds, cpu_seconds (the JVM's and this
process's, over the write only)."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "sync", "spark"))
import syncagent_spark as job  # noqa: E402


def jvm_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(bootstrap, topic, schema_file, cassandra, keyspace, table):
    args = job.parse_args(["--bootstrap-servers", bootstrap, "--checkpoint", "unused",
                           "--schemas", os.path.dirname(os.path.dirname(schema_file)),
                           "--cassandra", cassandra, "--keyspace", keyspace])
    spark = job.spark_session(args)
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.avro.functions import from_avro
    with open(schema_file) as f:
        text = f.read()
    schema = job.Schema(text, "bench", 1)
    cass = job.Cassandra(spark, keyspace, 1)
    cass.ensure_table(table, schema)
    raw = (spark.read.format("kafka").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", topic).option("includeHeaders", "true").load())
    j = job.Job.__new__(job.Job)
    b = j.framed(raw).withColumn("_rec", from_avro(F.expr("substring(value, 11)"), text)) \
        .withColumn("_ver", F.col("_h_version").cast("long"))
    rows = b.select(*j.record_columns(schema, False),
                    F.col("_ver").alias("sa_writetime")).persist(StorageLevel.MEMORY_AND_DISK)
    n = rows.count()
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    cpu0, t0 = jvm_cpu(pid) + sum(os.times()[:2]), time.monotonic()
    (rows.write.format("org.apache.spark.sql.cassandra")
     .options(keyspace=keyspace, table=table, writetime="sa_writetime")
     .mode("append").save())
    secs = time.monotonic() - t0
    cpu = jvm_cpu(pid) + sum(os.times()[:2]) - cpu0
    cass.close()
    spark.stop()
    print(json.dumps({"rows": n, "seconds": round(secs, 2), "cpu_seconds": round(cpu, 2)}))


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.stderr.write(__doc__)
        sys.exit(2)
    main(*sys.argv[1:])
