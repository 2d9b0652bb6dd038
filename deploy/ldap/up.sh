#!/usr/bin/env bash
# up.sh - start a throw-away OpenLDAP server (Debian's slapd) holding the
# users and groups of keystone-ng's LDAP interop test (dataset.ldif).
#
#   KSLDAP_PORT=3891 KSLDAP_STATE_DIR=/tmp/keystone-ng-ldap deploy/ldap/up.sh
#
# What it does: apt-get installs slapd and ldap-utils when missing (debconf
# told not to configure a directory; a temporary policy-rc.d keeps the
# package's slapd from starting), writes $KSLDAP_STATE_DIR/slapd.conf (an
# mdb database for $KSLDAP_SUFFIX), loads the dataset with slapadd into a
# fresh data directory, starts slapd on 127.0.0.1:$KSLDAP_PORT and writes
# $KSLDAP_STATE_DIR/env (KSLDAP_URL, KSLDAP_SUFFIX, the admin DN and
# password). Every run starts from the dataset again. Stop with down.sh.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck disable=SC2154 # rc is assigned inside the trap string
trap 'rc=$?; printf "[ldap] ERROR: up.sh line %s: \"%s\" exited with %s; logs are in %s\n" "$LINENO" "$BASH_COMMAND" "$rc" "$KSLDAP_LOG_DIR" >&2; exit $rc' ERR

check_ldap_settings
take_lock "$KSLDAP_STATE_DIR" deploy/ldap

if [ -n "$(apt_missing slapd ldap-utils)" ]; then
  # No directory of the package's own: keystone-ng's tests bring theirs.
  debconf-set-selections <<'EOT'
slapd slapd/no_configuration boolean true
EOT
fi
apt_install "${TMPDIR:-/tmp}/keystone-ng-ldap-apt.log" slapd ldap-utils

mkdir -p "$KSLDAP_RUN_DIR" "$KSLDAP_LOG_DIR"
chmod 0700 "$KSLDAP_RUN_DIR"
stop_recorded slapd TERM
if listening_on "$KSLDAP_PORT"; then
  fail "127.0.0.1:$KSLDAP_PORT is in use by a process this state dir did not start; choose another KSLDAP_PORT"
fi

umask 077
cat >"$KSLDAP_CONF" <<EOT
# written by keystone-ng deploy/ldap/up.sh; rewritten on every run
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile $KSLDAP_RUN_DIR/slapd.pid
argsfile $KSLDAP_RUN_DIR/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 104857600
suffix "$KSLDAP_SUFFIX"
rootdn "$KSLDAP_ADMIN_DN"
rootpw $KSLDAP_ADMIN_PASSWORD
directory $KSLDAP_DATA_DIR
index objectClass eq
index cn,uid,member eq
EOT

rm -rf "$KSLDAP_DATA_DIR"
mkdir -p "$KSLDAP_DATA_DIR"
sed -e "s/@SUFFIX@/$KSLDAP_SUFFIX/g" -e "s/@PASSWORD@/$KSLDAP_USER_PASSWORD/g" "$HERE/dataset.ldif" >"$KSLDAP_RUN_DIR/dataset.ldif"
slapadd -q -f "$KSLDAP_CONF" -l "$KSLDAP_RUN_DIR/dataset.ldif" >"$KSLDAP_LOG_DIR/slapadd.log" 2>&1 ||
  fail "slapadd failed, see $KSLDAP_LOG_DIR/slapadd.log"

say "starting slapd on $KSLDAP_URL (state $KSLDAP_STATE_DIR)"
rm -f "$KSLDAP_RUN_DIR/slapd.pid"
# slapd forks; its pidfile names the daemon. -d 0 would keep it in the
# foreground: logging goes to syslog, so stderr is enough for start-up errors.
/usr/sbin/slapd -f "$KSLDAP_CONF" -h "$KSLDAP_URL/" </dev/null >>"$KSLDAP_LOG_DIR/slapd.log" 2>&1 9>&- ||
  fail "slapd did not start, see $KSLDAP_LOG_DIR/slapd.log"
remember_pidfile slapd "$KSLDAP_RUN_DIR/slapd.pid" || fail "slapd wrote no pidfile; see $KSLDAP_LOG_DIR/slapd.log"
wait_while_alive slapd 20 ldapsearch -x -LLL -H "$KSLDAP_URL" -D "$KSLDAP_ADMIN_DN" -w "$KSLDAP_ADMIN_PASSWORD" \
  -b "$KSLDAP_SUFFIX" -s base dn >/dev/null 2>&1 || fail "slapd does not answer on $KSLDAP_URL"

cat >"$KSLDAP_STATE_DIR/env" <<EOT
# OpenLDAP started by keystone-ng deploy/ldap/up.sh; source me
KSLDAP_URL=$KSLDAP_URL
KSLDAP_SUFFIX=$KSLDAP_SUFFIX
KSLDAP_ADMIN_DN=$KSLDAP_ADMIN_DN
KSLDAP_ADMIN_PASSWORD=$KSLDAP_ADMIN_PASSWORD
KSLDAP_USER_PASSWORD=$KSLDAP_USER_PASSWORD
KSLDAP_PID=$(recorded_pid slapd)
EOT
chmod 0644 "$KSLDAP_STATE_DIR/env"
chmod 0755 "$KSLDAP_STATE_DIR"
say "slapd up (pid $(recorded_pid slapd)); settings in $KSLDAP_STATE_DIR/env"
