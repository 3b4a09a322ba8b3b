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
  testenv_apt "$name" "${missing[@]}"
}

# testenv_apt NAME PACKAGE...: apt-get install the PACKAGEs (none: nothing),
# logging as NAME; exits 1 when apt-get fails.
testenv_apt() {
  local name=$1
  shift
  [ $# -eq 0 ] && return 0
  echo "$name: installing $*" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || { echo "$name: apt-get install $* failed" >&2; exit 1; }
}

# The Python of the testenv: a venv under tools/testenv/.cache/python
# (git-ignored, SA_TESTENV_VENV moves it) that holds what the Spark and
# Cassandra environments need from PyPI (pyspark, cassandra-driver), so
# that only the first run downloads them. Tests of the label spark run
# under it.
TESTENV_VENV=${SA_TESTENV_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.cache/python}

# The Python driver of the test Cassandra: cassandra/start's ready check,
# cassandra/cql and the tests of the label spark use it.
TESTENV_CASSANDRA_DRIVER=cassandra-driver==3.30.1=cassandra

# testenv_pip NAME REQUIREMENT=MODULE...: create the venv when it is
# missing and pip-install every REQUIREMENT (e.g. pyspark==3.5.7) whose
# MODULE does not import at that version, logging as NAME. Two callers at
# once install once (a lock beside the venv).
testenv_pip() {
  local name=$1 missing=() pair req module want
  shift
  testenv_need "$name" python3=python3
  mkdir -p "$(dirname "$TESTENV_VENV")"
  (
    flock 9
    if [ ! -x "$TESTENV_VENV/bin/python" ]; then
      echo "$name: creating the venv $TESTENV_VENV" >&2
      python3 -m venv "$TESTENV_VENV" >&2 || {
        # Debian's python3 has venv only with python3-venv.
        testenv_need_pkg "$name" python3-venv
        rm -rf "$TESTENV_VENV"
        python3 -m venv "$TESTENV_VENV" >&2
      } || { echo "$name: python3 -m venv $TESTENV_VENV failed" >&2; exit 1; }
    fi
    for pair in "$@"; do
      req=${pair%=*}
      module=${pair##*=}
      want=""
      case $req in *==*) want=${req#*==} ;; esac
      "$TESTENV_VENV/bin/python" - "$module" "$want" 2>/dev/null <<'PY' || missing+=("${req}")
import importlib.metadata, importlib, sys
module, want = sys.argv[1], sys.argv[2]
importlib.import_module(module)
if want:
    dist = {"cassandra": "cassandra-driver"}.get(module, module)
    sys.exit(importlib.metadata.version(dist) != want)
PY
    done
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "$name: pip install ${missing[*]} into $TESTENV_VENV" >&2
    "$TESTENV_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      "${missing[@]}" >&2 || { echo "$name: pip install ${missing[*]} failed" >&2; exit 1; }
  ) 9>"$TESTENV_VENV.lock" || exit 1
}

# testenv_need_pkg NAME PACKAGE...: install Debian packages unconditionally
# missing from dpkg (for packages without a command of their own).
testenv_need_pkg() {
  local name=$1 missing=() p
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  testenv_apt "$name" "${missing[@]}"
}

# testenv_args SCRIPT MIN MAX USAGE ARG...: --help prints SCRIPT's header
# comment and exits 0; fewer than MIN or more than MAX ARGs, or an ARG
# that looks like an option (a mistyped one would otherwise be taken for
# a DIR, created, and a server started in it), print USAGE and exit 2.
# Call it with the arguments that are left once the script's own options
# are taken off.
testenv_args() {
  local script=$1 min=$2 max=$3 usage=$4 a
  shift 4
  for a in "$@"; do
    case $a in
      -h|--help)
        sed -n '3,/^[^#]/s/^# \{0,1\}//p' "$script"
        exit 0 ;;
      -*)
        echo "usage: $usage (unknown option $a; --help)" >&2
        exit 2 ;;
    esac
  done
  if [ $# -lt "$min" ] || [ $# -gt "$max" ]; then
    echo "usage: $usage (--help)" >&2
    exit 2
  fi
}
