# SPDX-License-Identifier: Apache-2.0
# Shared by the test services under tools/testenv/*/lib.sh; sourced.

# testenv_need NAME CMD=PACKAGE...: install from Debian's packages every
# PACKAGE whose CMD is missing (tools/setup lists them too), logging as NAME.
testenv_need() {
  local name=$1 missing=() pair
  shift
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null 2>&1 || missing+=("${pair#*=}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "$name: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    echo "$name: apt-get install ${missing[*]} failed" >&2
    exit 1
  fi
}
