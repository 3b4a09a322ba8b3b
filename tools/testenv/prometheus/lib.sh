# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/prometheus/{start,stop,check-rules}; sourced, not run.

PROM_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$PROM_ENV_HOME/../common.sh"
# Where start/stop keep a server when no DIR is given (git-ignored).
PROM_DEFAULT_DIR=${SA_PROMETHEUS_CACHE:-$PROM_ENV_HOME/.cache}/server

prom_die() {
  echo "prometheus: $*" >&2
  exit 1
}

prom_log() {
  echo "prometheus: $*" >&2
}

# Debian 12's prometheus (2.42; it brings promtool); tools/setup lists it too.
prom_need_packages() {
  testenv_need prometheus prometheus=prometheus promtool=prometheus curl=curl python3=python3
}

# Prints the pid in DIR/prometheus.pid when that process is alive and is the
# server of DIR; nothing otherwise.
prom_running_pid() {
  local dir=$1 pid
  [ -f "$dir/prometheus.pid" ] || return 0
  pid=$(cat "$dir/prometheus.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--config.file=$dir/prometheus.yml"; then
    echo "$pid"
  fi
}

# True while process $1 exists and is not a zombie.
prom_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
