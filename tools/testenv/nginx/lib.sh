# SPDX-License-Identifier: Apache-2.0
# Shared by tools/testenv/nginx/{start,stop}; sourced, not run.

NGINX_ENV_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../common.sh
. "$NGINX_ENV_HOME/../common.sh"
NGINX_DEFAULT_DIR=${SA_NGINX_CACHE:-$NGINX_ENV_HOME/.cache}/server

nginx_die() {
  echo "nginx: $*" >&2
  exit 1
}

# Debian's nginx (its DAV module takes the agents' status PUTs).
nginx_need_packages() {
  testenv_need nginx nginx=nginx curl=curl python3=python3
}

# The pid in DIR/nginx.pid when that process is alive and is DIR's master.
nginx_running_pid() {
  local dir=$1 pid
  [ -f "$dir/nginx.pid" ] || return 0
  pid=$(cat "$dir/nginx.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if [ -r "/proc/$pid/cmdline" ] \
      && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/nginx.conf"; then
    echo "$pid"
  fi
}

nginx_alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
