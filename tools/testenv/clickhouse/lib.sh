# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/clickhouse/{start,stop}; sourced, not run.

CH_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$CH_ENV_HOME/../common.sh"
# Where start/stop keep a server when no DIR is given (git-ignored).
CH_DEFAULT_DIR=${SA_CLICKHOUSE_CACHE:-$CH_ENV_HOME/.cache}/server

ch_die() {
  echo "clickhouse: $*" >&2
  exit 1
}

ch_log() {
  echo "clickhouse: $*" >&2
}

# Debian 12's clickhouse-server (18.16); tools/setup lists it too.
ch_need_packages() {
  testenv_need clickhouse clickhouse-server=clickhouse-server curl=curl python3=python3
}

# Prints the pid in DIR/clickhouse.pid when that process is alive and is the
# server of DIR; nothing otherwise.
ch_running_pid() {
  local dir=$1 pid
  [ -f "$dir/clickhouse.pid" ] || return 0
  pid=$(cat "$dir/clickhouse.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--config-file=$dir/config.xml"; then
    echo "$pid"
  fi
}

# True while process $1 exists and is not a zombie.
ch_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
