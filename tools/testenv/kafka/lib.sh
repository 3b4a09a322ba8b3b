# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/kafka/{fetch,start,stop}; sourced, not run.

KAFKA_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$KAFKA_ENV_HOME/../common.sh"
# Classpath and fetch log; git-ignored. Override with SA_KAFKA_CACHE.
KAFKA_CACHE=${SA_KAFKA_CACHE:-$KAFKA_ENV_HOME/.cache}
# Where start/stop keep a broker when no DIR is given.
KAFKA_DEFAULT_DIR=$KAFKA_CACHE/broker

kafka_die() {
  echo "kafka: $*" >&2
  exit 1
}

kafka_log() {
  echo "kafka: $*" >&2
}

# Install what is missing from Debian's packages (tools/setup lists them too).
kafka_need_packages() {
  testenv_need kafka java=openjdk-17-jre-headless mvn=maven kcat=kcat python3=python3
}

# Resolve the broker's jars into ~/.m2 (or -Dmaven.repo.local given in
# SA_KAFKA_MAVEN_OPTS) and write $KAFKA_CACHE/classpath. Does nothing when
# the classpath was written for this pom.xml and all its jars are there.
kafka_fetch() {
  kafka_need_packages
  mkdir -p "$KAFKA_CACHE"
  local stamp cp="$KAFKA_CACHE/classpath"
  stamp=$(cat "$KAFKA_ENV_HOME/pom.xml" | sha256sum | cut -c1-16)
  (
    # Two starts at once fetch once.
    flock 9
    if [ -s "$cp" ] && [ "$(cat "$KAFKA_CACHE/classpath.stamp" 2>/dev/null)" = "$stamp" ]; then
      local ok=1 jar
      while IFS= read -r -d: jar || [ -n "$jar" ]; do
        [ -f "$jar" ] || { ok=0; break; }
      done <"$cp"
      [ $ok -eq 1 ] && exit 0
    fi
    kafka_log "fetching the broker's jars with Maven (first time: 65 MB, ~20 s on a fast link)"
    # shellcheck disable=SC2086
    if ! mvn -q -B -Dstyle.color=never ${SA_KAFKA_MAVEN_OPTS:-} \
        -f "$KAFKA_ENV_HOME/pom.xml" dependency:build-classpath \
        -Dmdep.includeScope=runtime -Dmdep.outputFile="$cp.tmp" \
        >"$KAFKA_CACHE/fetch.log" 2>&1; then
      tail -n 50 "$KAFKA_CACHE/fetch.log" >&2
      kafka_die "mvn dependency:build-classpath failed (log: $KAFKA_CACHE/fetch.log)"
    fi
    mv "$cp.tmp" "$cp"
    echo "$stamp" >"$KAFKA_CACHE/classpath.stamp"
  ) 9>"$KAFKA_CACHE/.lock" || exit 1
  KAFKA_CLASSPATH=$(cat "$cp")
}

# Prints the pid in DIR/kafka.pid when that process is alive and is the
# broker of DIR; nothing otherwise.
kafka_running_pid() {
  local dir=$1 pid
  [ -f "$dir/kafka.pid" ] || return 0
  pid=$(cat "$dir/kafka.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$dir/server.properties"; then
    echo "$pid"
  fi
}

# True while process $1 exists and is not a zombie (kill -0 says yes to a
# zombie, e.g. an exited child not reaped yet).
kafka_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
