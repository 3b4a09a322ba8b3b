# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/cassandra/{fetch,start,stop,cql}; sourced, not run.

CASS_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$CASS_ENV_HOME/../common.sh"
# The jars (lib/) and the fetch log; git-ignored. Override with
# SA_CASSANDRA_CACHE.
CASS_CACHE=${SA_CASSANDRA_CACHE:-$CASS_ENV_HOME/../.cache/cassandra}
# Where start/stop keep a node when no DIR is given.
CASS_DEFAULT_DIR=$CASS_CACHE/node

cass_die() {
  echo "cassandra: $*" >&2
  exit 1
}

cass_log() {
  echo "cassandra: $*" >&2
}

# Install what is missing from Debian's packages (tools/setup lists them
# too).
cass_need() {
  testenv_need cassandra java=openjdk-17-jre-headless mvn=maven python3=python3
}

# Install the driver into the testenv venv (common.sh). start does it
# while the JVM boots: on a first run the venv's lock may be held by
# spark/fetch installing pyspark.
cass_need_driver() {
  testenv_pip cassandra "$TESTENV_CASSANDRA_DRIVER"
}

# Copy cassandra-all and its runtime dependencies (tools/testenv/cassandra/
# pom.xml) into $CASS_CACHE/lib through ~/.m2 (or -Dmaven.repo.local given
# in SA_CASSANDRA_MAVEN_OPTS). Does nothing when lib/ was made from this
# pom.xml and is complete.
cass_fetch() {
  cass_need
  mkdir -p "$CASS_CACHE"
  CASS_CACHE=$(cd "$CASS_CACHE" && pwd)
  local stamp
  stamp=$(cat "$CASS_ENV_HOME/pom.xml" | sha256sum | cut -c1-16)
  (
    flock 9
    if [ "$(cat "$CASS_CACHE/lib.stamp" 2>/dev/null)" = "$stamp" ] \
        && [ -d "$CASS_CACHE/lib" ]; then
      exit 0
    fi
    cass_log "fetching Cassandra's jars with Maven (first time: ~67 MB, ~25 s on a fast link)"
    rm -rf "$CASS_CACHE/lib" "$CASS_CACHE/lib.tmp" "$CASS_CACHE/lib.stamp"
    # shellcheck disable=SC2086
    if ! mvn -q -B -Dstyle.color=never -s "$CASS_ENV_HOME/../maven-settings.xml" \
        ${SA_CASSANDRA_MAVEN_OPTS:-} -f "$CASS_ENV_HOME/pom.xml" \
        dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$CASS_CACHE/lib.tmp" >"$CASS_CACHE/fetch.log" 2>&1; then
      tail -n 50 "$CASS_CACHE/fetch.log" >&2
      cass_die "mvn dependency:copy-dependencies failed (log: $CASS_CACHE/fetch.log)"
    fi
    ls "$CASS_CACHE"/lib.tmp/cassandra-all-*.jar >/dev/null 2>&1 \
      || cass_die "no cassandra-all jar after the fetch (log: $CASS_CACHE/fetch.log)"
    mv "$CASS_CACHE/lib.tmp" "$CASS_CACHE/lib"
    echo "$stamp" >"$CASS_CACHE/lib.stamp"
  ) 9>"$CASS_CACHE/.lock" || exit 1
}

# Prints the pid in DIR/cassandra.pid when that process is alive and is
# the node of DIR; nothing otherwise.
cass_running_pid() {
  local dir=$1 pid
  [ -f "$dir/cassandra.pid" ] || return 0
  pid=$(cat "$dir/cassandra.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' '\n' <"/proc/$pid/cmdline" \
      | grep -qxF -- "-Dcassandra.config=file://$dir/conf/cassandra.yaml"; then
    echo "$pid"
  fi
}

# True while process $1 exists and is not a zombie.
cass_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
