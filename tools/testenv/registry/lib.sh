# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/registry/{fetch,start,stop}; sourced, not run.
#
# The test schema registry is Apicurio Registry 2.6 (in-memory storage),
# whose Confluent-compatible API lives under /apis/ccompat/v7. Its Quarkus
# distribution is the "all" tarball of io.apicurio:apicurio-registry-app on
# Maven Central; Maven fetches it into ~/.m2 and we unpack it once into
# $REGISTRY_CACHE. 2.6 rather than 3.x: 3.x is built for Java 21 and Debian
# 12 ships Java 17.

REGISTRY_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$REGISTRY_ENV_HOME/../common.sh"
REGISTRY_CACHE=${SA_REGISTRY_CACHE:-$REGISTRY_ENV_HOME/.cache}
REGISTRY_DEFAULT_DIR=$REGISTRY_CACHE/registry
APICURIO_VERSION=${SA_APICURIO_VERSION:-2.6.13.Final}
APICURIO_ARTIFACT=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all
APICURIO_HOME=$REGISTRY_CACHE/apicurio-registry-$APICURIO_VERSION
# The path under which Apicurio serves the Confluent API.
REGISTRY_API_PATH=/apis/ccompat/v7

registry_die() {
  echo "registry: $*" >&2
  exit 1
}

registry_log() {
  echo "registry: $*" >&2
}

# Install what is missing from Debian's packages (tools/setup lists them too).
registry_need_packages() {
  testenv_need registry java=openjdk-17-jre-headless mvn=maven curl=curl python3=python3
}

# Resolve the distribution tarball into ~/.m2 (or -Dmaven.repo.local given
# in SA_REGISTRY_MAVEN_OPTS) and unpack it into $APICURIO_HOME (Maven's
# dependency:unpack does both). Does nothing when the runner jar is there.
registry_fetch() {
  registry_need_packages
  mkdir -p "$REGISTRY_CACHE"
  # Absolute, because mvn runs in the cache below.
  REGISTRY_CACHE=$(cd "$REGISTRY_CACHE" && pwd)
  APICURIO_HOME=$REGISTRY_CACHE/apicurio-registry-$APICURIO_VERSION
  (
    # Two starts at once fetch once.
    flock 9
    ls "$APICURIO_HOME"/apicurio-registry-app-*-runner.jar >/dev/null 2>&1 && exit 0
    registry_log "fetching Apicurio Registry $APICURIO_VERSION with Maven (first time: 142 MB)"
    rm -rf "$APICURIO_HOME.tmp"
    # Run in the cache: without a project, unpack leaves its marker files
    # in ./${project.basedir}/target.
    # shellcheck disable=SC2086
    if ! (cd "$REGISTRY_CACHE" && mvn -B -Dstyle.color=never ${SA_REGISTRY_MAVEN_OPTS:-} \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:unpack \
        -Dartifact="$APICURIO_ARTIFACT" -DoutputDirectory="$APICURIO_HOME.tmp") \
        >"$REGISTRY_CACHE/fetch.log" 2>&1; then
      tail -n 50 "$REGISTRY_CACHE/fetch.log" >&2
      registry_die "mvn dependency:unpack $APICURIO_ARTIFACT failed (log: $REGISTRY_CACHE/fetch.log)"
    fi
    rm -rf "$APICURIO_HOME" "$REGISTRY_CACHE/\${project.basedir}"
    mv "$APICURIO_HOME.tmp" "$APICURIO_HOME"
  ) 9>"$REGISTRY_CACHE/.lock" || exit 1
  APICURIO_JAR=$(ls "$APICURIO_HOME"/apicurio-registry-app-*-runner.jar)
}

# Prints the pid in DIR/registry.pid when that process is alive and is the
# registry of DIR (its command line names DIR); nothing otherwise.
registry_running_pid() {
  local dir=$1 pid
  [ -f "$dir/registry.pid" ] || return 0
  pid=$(cat "$dir/registry.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "-Dsa.registry.dir=$dir"; then
    echo "$pid"
  fi
}

# True while process $1 exists and is not a zombie.
registry_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
