# lib.sh - settings and helpers shared by demo-up.sh and demo-down.sh
# (sourced, not executed).
# The settings are used by the scripts that source this file:
# shellcheck shell=bash disable=SC2034

export PATH="/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C.UTF-8

DEMO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEMO_STATE_DIR="${DEMO_STATE_DIR:-/tmp/keystone-ng-demo}"
DEMO_STATE_DIR="${DEMO_STATE_DIR%/}"
DEMO_FRONT_PORT="${DEMO_FRONT_PORT:-8080}"
DEMO_PY_PORT="${DEMO_PY_PORT:-5000}"
DEMO_NG_PORT="${DEMO_NG_PORT:-5001}"
DEMO_ADMIN_USER="${DEMO_ADMIN_USER:-admin}"
DEMO_ADMIN_PASSWORD="${DEMO_ADMIN_PASSWORD:-secret}"
DEMO_ADMIN_PROJECT="${DEMO_ADMIN_PROJECT:-admin}"
DEMO_DB="${DEMO_DB:-sqlite}"
case "$DEMO_DB" in
  sqlite | sqlite3) DEMO_DB=sqlite ;;
  mysql | mariadb) DEMO_DB=mysql ;;
  postgresql | postgres | pg) DEMO_DB=postgresql ;;
  *) printf '[demo] ERROR: DEMO_DB must be sqlite, mysql or postgresql (got %s)\n' "$DEMO_DB" >&2; exit 2 ;;
esac
DEMO_HOST=127.0.0.1
DEMO_FRONT_URL="http://$DEMO_HOST:$DEMO_FRONT_PORT"

PY_STATE_DIR="$DEMO_STATE_DIR/keystone-py"
RUN_DIR="$DEMO_STATE_DIR/run"
LOG_DIR="$DEMO_STATE_DIR/log"
NG_BIN="$DEMO_STATE_DIR/bin/keystone-ng"
NG_CONF="$DEMO_STATE_DIR/keystone-ng.conf"
NGINX_DIR="$DEMO_STATE_DIR/nginx"
SERVICE_USER=keystone # created by Debian's keystone package

say() { printf '[demo] %s\n' "$*" >&2; }
fail() {
  printf '[demo] ERROR: %s\n' "$*" >&2
  printf '[demo] ERROR: logs are in %s and %s\n' "$LOG_DIR" "$PY_STATE_DIR/log" >&2
  exit 1
}

check_settings() {
  [ "$(id -u)" = 0 ] || fail "run me as root (packages, the keystone service user, nginx)"
  case "$DEMO_STATE_DIR" in /?*) ;; *) fail "DEMO_STATE_DIR must be an absolute path" ;; esac
  local p
  for p in "$DEMO_FRONT_PORT" "$DEMO_PY_PORT" "$DEMO_NG_PORT"; do
    case "$p" in '' | *[!0-9]*) fail "DEMO_FRONT_PORT, DEMO_PY_PORT and DEMO_NG_PORT must be numbers" ;; esac
  done
  if [ "$DEMO_FRONT_PORT" = "$DEMO_PY_PORT" ] || [ "$DEMO_FRONT_PORT" = "$DEMO_NG_PORT" ] ||
    [ "$DEMO_PY_PORT" = "$DEMO_NG_PORT" ]; then
    fail "DEMO_FRONT_PORT, DEMO_PY_PORT and DEMO_NG_PORT must differ"
  fi
}

# One demo-up/demo-down at a time per state dir. fd 9 stays open until exit;
# daemons are started with 9>&- so they do not inherit the lock.
take_lock() {
  mkdir -p "$(dirname "$DEMO_STATE_DIR")"
  exec 9>"$DEMO_STATE_DIR.lock"
  flock -w 300 9 || fail "another demo-up/demo-down works on $DEMO_STATE_DIR"
}

# ---- processes, by recorded pid only -----------------------------------------
# run/<name>.pid holds the pid and run/<name>.start its kernel start time
# (field 22 of /proc/<pid>/stat): a pid counts as ours only while both match,
# so a recycled pid is never signalled.
proc_start_time() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" != Z ] || return 1
  printf '%s\n' "${20}"
}
remember_pid() { # name pid
  local t
  t=$(proc_start_time "$2") || return 1
  printf '%s\n' "$2" >"$RUN_DIR/$1.pid"
  printf '%s\n' "$t" >"$RUN_DIR/$1.start"
}
recorded_pid() { # name -> pid, if that process is still the one we started
  local pid want now
  pid=$(cat "$RUN_DIR/$1.pid" 2>/dev/null) || return 1
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  want=$(cat "$RUN_DIR/$1.start" 2>/dev/null) || return 1
  now=$(proc_start_time "$pid") || return 1
  [ "$now" = "$want" ] || return 1
  printf '%s\n' "$pid"
}
stop_recorded() { # name [signal] [seconds]
  local name=$1 sig=${2:-TERM} secs=${3:-20} pid
  if pid=$(recorded_pid "$name"); then
    say "stopping $name (pid $pid, SIG$sig)"
    kill "-$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((secs * 5))); do
      proc_start_time "$pid" >/dev/null 2>&1 || break
      sleep 0.2
    done
    if proc_start_time "$pid" >/dev/null 2>&1; then
      say "$name (pid $pid) still running after ${secs}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.start" "$RUN_DIR/$name.sum"
}
listening_on() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
