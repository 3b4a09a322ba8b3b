# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/spark/{fetch,env,submit,servers}; sourced, not run.

SPARK_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$SPARK_ENV_HOME/../common.sh"
# The jars (jars/) and the fetch log; git-ignored. pyspark itself is in the
# testenv venv (common.sh). Override with SA_SPARK_CACHE.
SPARK_CACHE=${SA_SPARK_CACHE:-$SPARK_ENV_HOME/../.cache/spark}
# pyspark's version must be the one of the Spark jars in pom.xml.
SPARK_PYSPARK=pyspark==3.5.7=pyspark

spark_die() {
  echo "spark: $*" >&2
  exit 1
}

spark_log() {
  echo "spark: $*" >&2
}

# Install pyspark (and the Cassandra driver the tests read back with) into
# the testenv venv, then copy the jars of pom.xml and their runtime
# dependencies into $SPARK_CACHE/jars, less every artifact that pyspark's
# own jars/ already holds (in whatever version): two versions of one
# library on the classpath fail at run time, and pyspark's are the ones
# Spark was built with. Does nothing when jars/ was made from this pom.xml
# and this pyspark.
spark_fetch() {
  testenv_need spark java=openjdk-17-jre-headless mvn=maven python3=python3
  # The driver first, in a call of its own: cassandra/start, which may run
  # beside this (spark/servers), waits on the venv's lock for it.
  testenv_pip spark "$TESTENV_CASSANDRA_DRIVER"
  testenv_pip spark "$SPARK_PYSPARK"
  mkdir -p "$SPARK_CACHE"
  SPARK_CACHE=$(cd "$SPARK_CACHE" && pwd)
  SPARK_HOME=$("$TESTENV_VENV/bin/python" -c \
    'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  local stamp
  stamp=$( (cat "$SPARK_ENV_HOME/pom.xml"; ls "$SPARK_HOME/jars") | sha256sum | cut -c1-16)
  (
    flock 9
    if [ "$(cat "$SPARK_CACHE/jars.stamp" 2>/dev/null)" = "$stamp" ] \
        && [ -d "$SPARK_CACHE/jars" ]; then
      exit 0
    fi
    spark_log "fetching the Kafka, Avro and Cassandra jars with Maven (first time: ~80 MB)"
    local tmp=$SPARK_CACHE/jars.tmp
    rm -rf "$SPARK_CACHE/jars" "$tmp" "$SPARK_CACHE/jars.stamp"
    # The repository layout (group/artifact/version/file) names each
    # jar's artifactId, which is what is compared with pyspark's jars.
    # shellcheck disable=SC2086
    if ! mvn -q -B -Dstyle.color=never -s "$SPARK_ENV_HOME/../maven-settings.xml" \
        ${SA_SPARK_MAVEN_OPTS:-} -f "$SPARK_ENV_HOME/pom.xml" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -Dmdep.useRepositoryLayout=true -DoutputDirectory="$tmp/repo" \
        >"$SPARK_CACHE/fetch.log" 2>&1; then
      tail -n 50 "$SPARK_CACHE/fetch.log" >&2
      spark_die "mvn dependency:copy-dependencies failed (log: $SPARK_CACHE/fetch.log)"
    fi
    mkdir -p "$tmp/jars"
    local jar artifact shipped
    while IFS= read -r jar; do
      artifact=$(basename "$(dirname "$(dirname "$jar")")")
      shipped=$(compgen -G "$SPARK_HOME/jars/$artifact-[0-9]*.jar" || true)
      if [ -n "$shipped" ]; then
        echo "dropped $(basename "$jar"): pyspark ships $(basename "$shipped")" \
          >>"$SPARK_CACHE/fetch.log"
      else
        mv "$jar" "$tmp/jars/"
      fi
    done < <(find "$tmp/repo" -name '*.jar' | sort)
    ls "$tmp"/jars/spark-sql-kafka-0-10_*.jar >/dev/null 2>&1 \
      || spark_die "no spark-sql-kafka jar after the fetch (log: $SPARK_CACHE/fetch.log)"
    mv "$tmp/jars" "$SPARK_CACHE/jars"
    rm -rf "$tmp"
    echo "$stamp" >"$SPARK_CACHE/jars.stamp"
  ) 9>"$SPARK_CACHE/.lock" || exit 1
  SPARK_JARS=$(find "$SPARK_CACHE/jars" -name '*.jar' | sort | paste -sd,)
  spark_conf
}

# Write $SPARK_CACHE/conf, the SPARK_CONF_DIR of env and submit: the jars
# in spark.jars (so that a plain spark-submit, or a SparkSession built in
# the venv's python, has them), loopback only, no web UI (a port and a
# thread per driver, for nobody), and log4j2.properties (warnings only).
spark_conf() {
  local conf=$SPARK_CACHE/conf
  mkdir -p "$conf"
  cat >"$conf/spark-defaults.conf.tmp.$$" <<CONF
# Written by tools/testenv/spark (lib.sh spark_conf).
spark.jars $SPARK_JARS
spark.driver.host 127.0.0.1
spark.driver.bindAddress 127.0.0.1
spark.ui.enabled false
CONF
  mv "$conf/spark-defaults.conf.tmp.$$" "$conf/spark-defaults.conf"
  cp "$SPARK_ENV_HOME/log4j2.properties" "$conf/log4j2.properties.tmp.$$"
  mv "$conf/log4j2.properties.tmp.$$" "$conf/log4j2.properties"
  SPARK_CONF_DIR=$conf
}

# Export what spark-submit and a PySpark driver need: the venv's pyspark
# (SPARK_HOME, its python for the driver and the workers), the conf (with
# the jars), and
# loopback only (SPARK_LOCAL_IP: Spark otherwise binds to the host's
# address and looks itself up).
spark_export() {
  export SPARK_HOME SPARK_CONF_DIR
  export SPARK_LOCAL_IP=127.0.0.1
  export PYSPARK_PYTHON=$TESTENV_VENV/bin/python
  export PYSPARK_DRIVER_PYTHON=$TESTENV_VENV/bin/python
  export SA_SPARK_PYTHON=$TESTENV_VENV/bin/python
  export SA_SPARK_SUBMIT=$TESTENV_VENV/bin/spark-submit
  export SA_SPARK_JARS=$SPARK_JARS
}
