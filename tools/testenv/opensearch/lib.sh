# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/opensearch/{fetch,start,stop}; sourced, not run.

OS_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$OS_ENV_HOME/../common.sh"
# The same scripts run an Elasticsearch 8 node (tools/testenv/elasticsearch,
# whose scripts set SA_NODE_FLAVOUR=elasticsearch): the node's pom.xml and
# Java sources (*.java) come from the flavour's folder.
OS_FLAVOUR=${SA_NODE_FLAVOUR:-opensearch}
OS_SRC=$(cd "$OS_ENV_HOME/../$OS_FLAVOUR" && pwd)
# Classpath, compiled TestNode and fetch log; git-ignored. Override with
# SA_OPENSEARCH_CACHE.
OS_CACHE=${SA_OPENSEARCH_CACHE:-$OS_SRC/.cache}
# Where start/stop keep a node when no DIR is given.
OS_DEFAULT_DIR=$OS_CACHE/node

os_die() {
  echo "$OS_FLAVOUR: $*" >&2
  exit 1
}

os_log() {
  echo "$OS_FLAVOUR: $*" >&2
}

# Install what is missing from Debian's packages (tools/setup lists them too).
os_need_packages() {
  testenv_need "$OS_FLAVOUR" javac=openjdk-17-jdk-headless mvn=maven curl=curl python3=python3
}

# Resolve the node's jars into ~/.m2 (or -Dmaven.repo.local given in
# SA_OPENSEARCH_MAVEN_OPTS), write $OS_CACHE/classpath and compile
# TestNode.java into $OS_CACHE/classes. Does nothing when both were made
# from this pom.xml and TestNode.java and all the jars are there.
os_fetch() {
  os_need_packages
  mkdir -p "$OS_CACHE"
  local stamp cp="$OS_CACHE/classpath"
  local sources=("$OS_SRC"/*.java)
  stamp=$(cat "$OS_SRC/pom.xml" "${sources[@]}" | sha256sum | cut -c1-16)
  (
    flock 9
    if [ -s "$cp" ] && [ -f "$OS_CACHE/classes/TestNode.class" ] \
        && [ "$(cat "$OS_CACHE/classpath.stamp" 2>/dev/null)" = "$stamp" ]; then
      local ok=1 jar
      while IFS= read -r -d: jar || [ -n "$jar" ]; do
        [ -f "$jar" ] || { ok=0; break; }
      done <"$cp"
      [ $ok -eq 1 ] && exit 0
    fi
    os_log "fetching the node's jars with Maven (first time: ~45 MB)"
    # shellcheck disable=SC2086
    if ! mvn -q -B -Dstyle.color=never ${SA_OPENSEARCH_MAVEN_OPTS:-} \
        -f "$OS_SRC/pom.xml" dependency:build-classpath \
        -Dmdep.includeScope=runtime -Dmdep.outputFile="$cp.tmp" \
        >"$OS_CACHE/fetch.log" 2>&1; then
      tail -n 50 "$OS_CACHE/fetch.log" >&2
      os_die "mvn dependency:build-classpath failed (log: $OS_CACHE/fetch.log)"
    fi
    rm -rf "$OS_CACHE/classes"
    mkdir -p "$OS_CACHE/classes"
    if ! javac -d "$OS_CACHE/classes" -cp "$(cat "$cp.tmp")" \
        "${sources[@]}" >>"$OS_CACHE/fetch.log" 2>&1; then
      tail -n 50 "$OS_CACHE/fetch.log" >&2
      os_die "compiling ${sources[*]##*/} failed"
    fi
    mv "$cp.tmp" "$cp"
    echo "$stamp" >"$OS_CACHE/classpath.stamp"
  ) 9>"$OS_CACHE/.lock" || exit 1
  OS_CLASSPATH=$(cat "$cp"):$OS_CACHE/classes
}

# Prints the pid in DIR/opensearch.pid when that process is alive and is
# the node of DIR; nothing otherwise.
os_running_pid() {
  local dir=$1 pid
  [ -f "$dir/opensearch.pid" ] || return 0
  pid=$(cat "$dir/opensearch.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF "$dir/home"; then
    echo "$pid"
  fi
}

# True while process $1 exists and is not a zombie.
os_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
