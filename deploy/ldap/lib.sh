# lib.sh - shared by deploy/ldap/up.sh and down.sh (sourced, not executed).
#
# A throw-away OpenLDAP server (Debian's slapd) for keystone-ng's LDAP
# interop tests: its own slapd.conf, data directory and pid file under
# KSLDAP_STATE_DIR, listening on 127.0.0.1:KSLDAP_PORT only. The system's
# slapd configuration (/etc/ldap/slapd.d, /var/lib/ldap) is never read or
# written, and the package's own slapd is never started.
# shellcheck shell=bash disable=SC2034

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LC_ALL=C.UTF-8

KSLDAP_PORT="${KSLDAP_PORT:-3891}"
KSLDAP_STATE_DIR="${KSLDAP_STATE_DIR:-/tmp/keystone-ng-ldap}"
KSLDAP_STATE_DIR="${KSLDAP_STATE_DIR%/}"
KSLDAP_SUFFIX="${KSLDAP_SUFFIX:-dc=keystone-ng,dc=test}"
KSLDAP_ADMIN_DN="cn=admin,$KSLDAP_SUFFIX"
KSLDAP_ADMIN_PASSWORD="${KSLDAP_ADMIN_PASSWORD:-ldap-admin-pw}"
# the password of every user of the dataset (dataset.ldif)
KSLDAP_USER_PASSWORD="${KSLDAP_USER_PASSWORD:-Ldap-user-pw-1}"
KSLDAP_URL="ldap://127.0.0.1:$KSLDAP_PORT"

KSLDAP_CONF="$KSLDAP_STATE_DIR/slapd.conf"
KSLDAP_DATA_DIR="$KSLDAP_STATE_DIR/data"
KSLDAP_RUN_DIR="$KSLDAP_STATE_DIR/run"
KSLDAP_LOG_DIR="$KSLDAP_STATE_DIR/log"

LOG_TAG=ldap
LOG_HINT="logs are in $KSLDAP_LOG_DIR"
PROC_RUN_DIR=$KSLDAP_RUN_DIR
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

check_ldap_settings() {
  [ "$(id -u)" = 0 ] || fail "run me as root (package install)"
  case "$KSLDAP_STATE_DIR" in /?*) ;; *) fail "KSLDAP_STATE_DIR must be an absolute path (got '$KSLDAP_STATE_DIR')" ;; esac
  case "$KSLDAP_PORT" in '' | *[!0-9]*) fail "KSLDAP_PORT must be a number" ;; esac
  case "$KSLDAP_SUFFIX$KSLDAP_ADMIN_PASSWORD$KSLDAP_USER_PASSWORD" in
    *[!A-Za-z0-9=,._-]*) fail "KSLDAP_SUFFIX and the passwords may only use letters, digits and = , . _ -" ;;
  esac
}
