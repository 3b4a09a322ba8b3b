# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/chromium/{start,stop}; sourced, not run.

CR_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$CR_ENV_HOME/../common.sh"
CR_DEFAULT_DIR=${SA_CHROMIUM_CACHE:-$CR_ENV_HOME/.cache}/browser

cr_log() {
  echo "chromium: $*" >&2
}

# Debian 12's chromium; tools/setup lists it too.
cr_need_packages() {
  testenv_need chromium chromium=chromium curl=curl
}

# Prints the pid in DIR/chromium.pid when that process is alive and is the
# browser of DIR; nothing otherwise.
cr_running_pid() {
  local dir=$1 pid
  [ -f "$dir/chromium.pid" ] || return 0
  pid=$(cat "$dir/chromium.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--user-data-dir=$dir/profile"; then
    echo "$pid"
  fi
}

cr_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
