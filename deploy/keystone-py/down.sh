#!/usr/bin/env bash
# down.sh - stop the Python Keystone that up.sh started for one state dir.
#
#   KSPY_DB=... KSPY_STATE_DIR=... down.sh            stop uWSGI (and memcached /
#                                                     a DB server if up.sh started them)
#   KSPY_DB=... KSPY_STATE_DIR=... down.sh --purge    also drop the database and
#                                                     delete the state dir
#   --keep-db-server                                  never stop a DB server up.sh started
#
# Only pids recorded in $KSPY_STATE_DIR/run are signalled, and only while their
# kernel start time still matches (no killing by process name).
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
purge=0
keep_db_server=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    --keep-db-server) keep_db_server=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) printf '[keystone-py] ERROR: unknown argument %s (use --purge, --keep-db-server)\n' "$a" >&2; exit 2 ;;
  esac
done

# The state dir remembers its database (run/db: "<kind> <name>"): prefer it to
# the environment so that --purge drops exactly what up.sh created.
_state="${KSPY_STATE_DIR:-/tmp/keystone-ng-py-${KSPY_DB:-mysql}}"
if [ -s "${_state%/}/run/db" ]; then
  read -r _kind _name <"${_state%/}/run/db"
  export KSPY_DB="$_kind" KSPY_DB_NAME="$_name" KSPY_STATE_DIR="$_state"
fi
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck disable=SC2154 # rc is assigned inside the trap string
trap 'rc=$?; printf "[keystone-py] ERROR: down.sh line %s: \"%s\" exited with %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit $rc' ERR

check_common_settings
if [ ! -d "$KSPY_STATE_DIR" ]; then
  say "nothing to do: $KSPY_STATE_DIR does not exist"
  exit 0
fi
take_lock "$KSPY_STATE_DIR" up.sh/down.sh

stop_recorded uwsgi TERM
stop_recorded memcached TERM

if [ "$purge" = 1 ]; then
  if [ -s "$KSPY_RUN_DIR/db" ]; then
    say "dropping $KSPY_DB database $KSPY_DB_NAME"
    case "$KSPY_DB" in
      mysql)
        if mysql_admin -e 'SELECT 1' >/dev/null 2>&1; then drop_database; else say "MariaDB not reachable; database $KSPY_DB_NAME left in place"; fi
        ;;
      postgresql)
        if pg_isready -q -h 127.0.0.1 -p "$KSPY_DB_PORT"; then drop_database; else say "PostgreSQL not reachable; database $KSPY_DB_NAME left in place"; fi
        ;;
      sqlite) drop_database ;;
    esac
  fi
fi

if [ "$keep_db_server" = 0 ]; then
  stop_recorded mariadb TERM
  stop_recorded postgresql INT # fast shutdown
fi

if [ "$purge" = 1 ]; then
  if recorded_pid mariadb >/dev/null || recorded_pid postgresql >/dev/null; then
    say "keeping $KSPY_RUN_DIR: it records a database server that is still running"
    find "$KSPY_STATE_DIR" -mindepth 1 -maxdepth 1 ! -name run -exec rm -rf {} +
  else
    rm -rf "$KSPY_STATE_DIR"
  fi
  rm -f "$KSPY_STATE_DIR.lock"
  say "purged $KSPY_STATE_DIR"
else
  rm -f "$KSPY_STATE_DIR/env"
  say "stopped; state kept in $KSPY_STATE_DIR (down.sh --purge removes it and the database)"
fi
