# lib.sh - settings shared by demo-up.sh and demo-down.sh (sourced, not
# executed); the helpers are deploy/lib/common.sh's and deploy/lib/nginx.sh's.
# The settings are used by the scripts that source this file:
# shellcheck shell=bash disable=SC2034

export PATH="/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C.UTF-8

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
  *)
    printf '[demo] ERROR: DEMO_DB must be sqlite, mysql or postgresql (got %s)\n' "$DEMO_DB" >&2
    exit 2
    ;;
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

LOG_TAG=demo
LOG_HINT="logs are in $LOG_DIR and $PY_STATE_DIR/log"
PROC_RUN_DIR=$RUN_DIR
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=../lib/nginx.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx.sh"

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
