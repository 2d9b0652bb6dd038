# lib.sh - shared by up.sh and down.sh (sourced, not executed).
#
# Settings (all environment variables, see README.md) and the database admin
# clients; logging, locking and process bookkeeping are deploy/lib/common.sh's.
# The settings are used by the scripts that source this file:
# shellcheck shell=bash disable=SC2034

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
# [token] provider: fernet, or jws (ES256 key pair made by
# keystone-manage create_jws_keypair in $KSPY_STATE_DIR/jws-keys)
KSPY_TOKEN_PROVIDER="${KSPY_TOKEN_PROVIDER:-fernet}"
KSPY_BCRYPT_ROUNDS="${KSPY_BCRYPT_ROUNDS:-4}"
KSPY_CACHE="${KSPY_CACHE:-0}"
# one memcached per instance: default port follows KSPY_PORT (5000 -> 11211)
KSPY_MEMCACHED_PORT="${KSPY_MEMCACHED_PORT:-$((KSPY_PORT + 6211))}"
KSPY_PROCESSES="${KSPY_PROCESSES:-2}"
KSPY_THREADS="${KSPY_THREADS:-1}"
KSPY_DEBUG="${KSPY_DEBUG:-false}"
KSPY_EXTRA_CONF="${KSPY_EXTRA_CONF:-}"
# KSPY_NOTIFICATIONS: a rabbit:// transport URL; when set, Python publishes
# its notifications there (messagingv2, CADF, nothing opted out).
KSPY_NOTIFICATIONS="${KSPY_NOTIFICATIONS:-}"
KSPY_RESET="${KSPY_RESET:-0}"
KSPY_START_TIMEOUT="${KSPY_START_TIMEOUT:-120}"
KSPY_SERVICE_USER=keystone # created by the Debian keystone package
# KSPY_LDAP_DOMAIN: a domain served by LDAP beside the SQL default domain
# (domain_specific_drivers_enabled, a keystone.<domain>.conf in
# $KSPY_STATE_DIR/domains), read-only, on the slapd of deploy/ldap/up.sh
# whose env file KSPY_LDAP_ENV names.
KSPY_LDAP_DOMAIN="${KSPY_LDAP_DOMAIN:-}"
KSPY_LDAP_ENV="${KSPY_LDAP_ENV:-/tmp/keystone-ng-ldap/env}"
KSPY_DOMAINS_DIR="$KSPY_STATE_DIR/domains"

KSPY_URL="http://$KSPY_HOST:$KSPY_PORT/v3"
KSPY_CONF="$KSPY_STATE_DIR/keystone.conf"
KSPY_FERNET_DIR="$KSPY_STATE_DIR/fernet-keys"
KSPY_CREDENTIAL_DIR="$KSPY_STATE_DIR/credential-keys"
KSPY_JWS_DIR="$KSPY_STATE_DIR/jws-keys"
KSPY_JWS_PRIVATE_DIR="$KSPY_JWS_DIR/private"
KSPY_JWS_PUBLIC_DIR="$KSPY_JWS_DIR/public"
KSPY_LOG_DIR="$KSPY_STATE_DIR/log"
KSPY_RUN_DIR="$KSPY_STATE_DIR/run"
KSPY_SQLITE_DIR="$KSPY_STATE_DIR/sqlite"
KSPY_UWSGI_INI="$KSPY_STATE_DIR/uwsgi.ini"

LOG_TAG=keystone-py
LOG_HINT="logs are in $KSPY_LOG_DIR"
PROC_RUN_DIR=$KSPY_RUN_DIR
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

check_common_settings() {
  [ "$(id -u)" = 0 ] || fail "run me as root (package install, database admin, runuser)"
  case "$KSPY_STATE_DIR" in /?*) ;; *) fail "KSPY_STATE_DIR must be an absolute path (got '$KSPY_STATE_DIR')" ;; esac
  case "$KSPY_PORT" in '' | *[!0-9]*) fail "KSPY_PORT must be a number" ;; esac
  case "$KSPY_DB_NAME$KSPY_DB_USER" in *[!A-Za-z0-9_]*) fail "KSPY_DB_NAME and KSPY_DB_USER may only use letters, digits and _" ;; esac
  case "$KSPY_DB_PASSWORD" in *[!A-Za-z0-9_.-]*) fail "KSPY_DB_PASSWORD may only use letters, digits, _ . -" ;; esac
  case "$KSPY_TOKEN_PROVIDER" in fernet | jws) ;; *) fail "KSPY_TOKEN_PROVIDER must be fernet or jws (got '$KSPY_TOKEN_PROVIDER')" ;; esac
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
