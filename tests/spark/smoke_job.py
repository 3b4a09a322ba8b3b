# SPDX-License-Identifier: Apache-2.0
"""The smallest job over the whole Spark environment (test_spark_env.py):
reads every message of a Kafka topic in batch (the Kafka source jar),
splits each value "id,name" and appends the rows to a Cassandra table
through the DataStax connector (the connector jars and their driver).
  spark-submit ... smoke_job.py BOOTSTRAP TOPIC CASSANDRA_HOST:PORT KEYSPACE TABLE"""
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def main(argv):
    bootstrap, topic, cassandra, keyspace, table = argv[1:6]
    host, port = cassandra.rsplit(":", 1)
    spark = (SparkSession.builder.appName("sparkenv-smoke")
             .config("spark.cassandra.connection.host", host)
             .config("spark.cassandra.connection.port", port)
             .config("spark.sql.shuffle.partitions", "2")
             .getOrCreate())
    messages = (spark.read.format("kafka")
                .option("kafka.bootstrap.servers", bootstrap)
                .option("subscribe", topic)
                .option("startingOffsets", "earliest")
                .option("endingOffsets", "latest")
                .load())
    parts = F.split(F.col("value").cast("string"), ",", 2)
    rows = messages.select(parts.getItem(0).cast("int").alias("id"),
                           parts.getItem(1).alias("name"),
                           F.col("partition"), F.col("offset"))
    (rows.write.format("org.apache.spark.sql.cassandra")
     .options(keyspace=keyspace, table=table)
     .mode("append")
     .save())
    print("smoke_job: wrote %d rows" % rows.count())
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
