#!/usr/bin/env bash
# demo-down.sh (make demo-down) - stop what demo-up.sh started: nginx,
# keystone-ng and (through deploy/keystone-py/down.sh) Python Keystone and
# any database server up.sh started. Only recorded pids are signalled.
#
#   demo-down.sh            stop; keep the state dir (keys, database, logs)
#   demo-down.sh --purge    also drop the database and delete the state dir
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
purge=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    -h | --help) sed -n '2,8p' "$0"; exit 0 ;;
    *) printf '[demo] ERROR: unknown argument %s (use --purge)\n' "$a" >&2; exit 2 ;;
  esac
done
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck disable=SC2154 # rc is assigned inside the trap string
trap 'rc=$?; printf "[demo] ERROR: demo-down.sh line %s: \"%s\" exited with %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit $rc' ERR

[ "$(id -u)" = 0 ] || fail "run me as root"
if [ ! -d "$DEMO_STATE_DIR" ]; then
  say "nothing to do: $DEMO_STATE_DIR does not exist"
  exit 0
fi
take_lock "$DEMO_STATE_DIR" demo-up/demo-down

# Front door first, so no client reaches a half-stopped backend.
stop_recorded nginx QUIT 10 # QUIT: graceful, finishes requests in flight
# keystone-ng's graceful stop takes up to shutdown_timeout (15s).
stop_recorded keystone-ng TERM 20
rm -f "$DEMO_STATE_DIR/demo-env"

if [ -d "$PY_STATE_DIR" ]; then
  # down.sh reads the database kind and name from its state dir.
  args=()
  [ "$purge" = 1 ] && args+=(--purge)
  KSPY_STATE_DIR="$PY_STATE_DIR" "$REPO_ROOT/deploy/keystone-py/down.sh" "${args[@]}" 9>&-
fi

if [ "$purge" = 1 ]; then
  if [ -d "$PY_STATE_DIR/run" ]; then
    say "keeping $DEMO_STATE_DIR: $PY_STATE_DIR/run records a database server that is still running"
  else
    rm -rf "$DEMO_STATE_DIR"
    rm -f "$DEMO_STATE_DIR.lock"
    say "purged $DEMO_STATE_DIR"
  fi
else
  say "stopped; state kept in $DEMO_STATE_DIR (demo-down.sh --purge deletes it and the database)"
fi
