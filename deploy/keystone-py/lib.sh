# lib.sh - shared by up.sh and down.sh (sourced, not executed).
#
# Settings (all environment variables, see README.md) and small helpers:
# logging, process bookkeeping by recorded pid, database admin clients.
# shellcheck shell=bash

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C.UTF-8

KSPY_DB="${KSPY_DB:-mysql}"
case "$KSPY_DB" in
  mysql | mariadb) KSPY_DB=mysql ;;
  postgresql | postgres | pg) KSPY_DB=postgresql ;;
  sqlite | sqlite3) KSPY_DB=sqlite ;;
  *)
    printf '[keystone-py] ERROR: KSPY_DB must be mysql, postgresql or sqlite (got %s)\n' "$KSPY_DB" >&2
    exit 2
    ;;
esac

KSPY_HOST=127.0.0.1
KSPY_PORT="${KSPY_PORT:-5000}"
KSPY_STATE_DIR="${KSPY_STATE_DIR:-/tmp/keystone-ng-py-$KSPY_DB}"
KSPY_STATE_DIR="${KSPY_STATE_DIR%/}"
KSPY_DB_NAME="${KSPY_DB_NAME:-keystone_ng_interop_$KSPY_DB}"
KSPY_DB_USER="${KSPY_DB_USER:-keystone_ng}"
KSPY_DB_PASSWORD="${KSPY_DB_PASSWORD:-keystone_ng}"
case "$KSPY_DB" in
  mysql) KSPY_DB_PORT="${KSPY_DB_PORT:-3306}" ;;
  postgresql) KSPY_DB_PORT="${KSPY_DB_PORT:-5432}" ;;
  sqlite) KSPY_DB_PORT="" ;;
esac
KSPY_ADMIN_USER="${KSPY_ADMIN_USER:-admin}"
KSPY_ADMIN_PASSWORD="${KSPY_ADMIN_PASSWORD:-secret}"
KSPY_ADMIN_PROJECT="${KSPY_ADMIN_PROJECT:-admin}"
KSPY_REGION="${KSPY_REGION:-RegionOne}"
KSPY_TOKEN_EXPIRATION="${KSPY_TOKEN_EXPIRATION:-3600}"
KSPY_BCRYPT_ROUNDS="${KSPY_BCRYPT_ROUNDS:-4}"
KSPY_CACHE="${KSPY_CACHE:-0}"
# one memcached per instance: default port follows KSPY_PORT (5000 -> 11211)
KSPY_MEMCACHED_PORT="${KSPY_MEMCACHED_PORT:-$((KSPY_PORT + 6211))}"
KSPY_PROCESSES="${KSPY_PROCESSES:-2}"
KSPY_THREADS="${KSPY_THREADS:-1}"
KSPY_DEBUG="${KSPY_DEBUG:-false}"
KSPY_EXTRA_CONF="${KSPY_EXTRA_CONF:-}"
KSPY_RESET="${KSPY_RESET:-0}"
KSPY_START_TIMEOUT="${KSPY_START_TIMEOUT:-120}"
KSPY_SERVICE_USER=keystone # created by the Debian keystone package

KSPY_URL="http://$KSPY_HOST:$KSPY_PORT/v3"
KSPY_CONF="$KSPY_STATE_DIR/keystone.conf"
KSPY_FERNET_DIR="$KSPY_STATE_DIR/fernet-keys"
KSPY_CREDENTIAL_DIR="$KSPY_STATE_DIR/credential-keys"
KSPY_LOG_DIR="$KSPY_STATE_DIR/log"
KSPY_RUN_DIR="$KSPY_STATE_DIR/run"
KSPY_SQLITE_DIR="$KSPY_STATE_DIR/sqlite"
KSPY_UWSGI_INI="$KSPY_STATE_DIR/uwsgi.ini"

say() { printf '[keystone-py] %s\n' "$*" >&2; }
fail() {
  printf '[keystone-py] ERROR: %s\n' "$*" >&2
  printf '[keystone-py] ERROR: logs are in %s\n' "$KSPY_LOG_DIR" >&2
  exit 1
}

check_common_settings() {
  [ "$(id -u)" = 0 ] || fail "run me as root (package install, database admin, runuser)"
  case "$KSPY_STATE_DIR" in /?*) ;; *) fail "KSPY_STATE_DIR must be an absolute path (got '$KSPY_STATE_DIR')" ;; esac
  case "$KSPY_PORT" in '' | *[!0-9]*) fail "KSPY_PORT must be a number" ;; esac
  case "$KSPY_DB_NAME$KSPY_DB_USER" in *[!A-Za-z0-9_]*) fail "KSPY_DB_NAME and KSPY_DB_USER may only use letters, digits and _" ;; esac
  case "$KSPY_DB_PASSWORD" in *[!A-Za-z0-9_.-]*) fail "KSPY_DB_PASSWORD may only use letters, digits, _ . -" ;; esac
}

# Serialise up.sh/down.sh runs on one state dir (fd 8 stays open until exit;
# every daemon below is started with 8>&- so it does not keep the lock).
take_lock() {
  mkdir -p "$(dirname "$KSPY_STATE_DIR")"
  exec 8>"$KSPY_STATE_DIR.lock"
  flock -w 300 8 || fail "another up.sh/down.sh is working on $KSPY_STATE_DIR (lock $KSPY_STATE_DIR.lock)"
}

# ---- process bookkeeping ----------------------------------------------------
# For each daemon we start we keep run/<name>.pid and run/<name>.start (the
# kernel start time of that pid, field 22 of /proc/<pid>/stat). A pid only
# counts as "ours" while both still match, so a recycled pid is never signalled.
proc_start_time() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # drop "pid (comm) ", comm may contain spaces
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" != Z ] || return 1 # zombie
  printf '%s\n' "${20}"
}
remember_pid() { # name pid
  local t
  t=$(proc_start_time "$2") || return 1
  printf '%s\n' "$2" >"$KSPY_RUN_DIR/$1.pid"
  printf '%s\n' "$t" >"$KSPY_RUN_DIR/$1.start"
}
recorded_pid() { # name -> prints pid if the recorded process is still the one we started
  local pid want now
  pid=$(cat "$KSPY_RUN_DIR/$1.pid" 2>/dev/null) || return 1
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  want=$(cat "$KSPY_RUN_DIR/$1.start" 2>/dev/null) || return 1
  now=$(proc_start_time "$pid") || return 1
  [ "$now" = "$want" ] || return 1
  printf '%s\n' "$pid"
}
stop_recorded() { # name [signal]
  local name=$1 sig=${2:-TERM} pid i
  if pid=$(recorded_pid "$name"); then
    say "stopping $name (pid $pid, SIG$sig)"
    kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      proc_start_time "$pid" >/dev/null 2>&1 || break
      sleep 0.2
    done
    if proc_start_time "$pid" >/dev/null 2>&1; then
      say "$name (pid $pid) still running after 20s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
  fi
  rm -f "$KSPY_RUN_DIR/$name.pid" "$KSPY_RUN_DIR/$name.start"
}
listening_on() { # port -> success if some process listens on that TCP port
  ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# ---- database admin ---------------------------------------------------------
mysql_admin() { mariadb --protocol=socket -uroot --batch --skip-column-names "$@"; }
pg_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$KSPY_DB_PORT" -d postgres "$@"; }

drop_database() { # uses the values recorded in run/db when present
  case "$KSPY_DB" in
    mysql)
      mysql_admin -e "SET SESSION lock_wait_timeout = 30; DROP DATABASE IF EXISTS \`$KSPY_DB_NAME\`" ||
        fail "could not drop MariaDB database $KSPY_DB_NAME (still used by another client?)"
      ;;
    postgresql)
      pg_admin -c "DROP DATABASE IF EXISTS \"$KSPY_DB_NAME\" WITH (FORCE)" ||
        fail "could not drop PostgreSQL database $KSPY_DB_NAME"
      ;;
    sqlite)
      rm -rf "$KSPY_SQLITE_DIR"
      ;;
  esac
}
