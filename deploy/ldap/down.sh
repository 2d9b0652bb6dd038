#!/usr/bin/env bash
# down.sh - stop the slapd deploy/ldap/up.sh started for one state dir
# (only its recorded pid is signalled); --purge also deletes the state dir.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
purge=0
for a in "$@"; do
  case "$a" in
    --purge) purge=1 ;;
    -h | --help) sed -n '2,3p' "$0"; exit 0 ;;
    *) printf '[ldap] ERROR: unknown argument %s (use --purge)\n' "$a" >&2; exit 2 ;;
  esac
done
# shellcheck source=lib.sh
. "$HERE/lib.sh"

check_ldap_settings
if [ ! -d "$KSLDAP_STATE_DIR" ]; then
  say "nothing to do: $KSLDAP_STATE_DIR does not exist"
  exit 0
fi
take_lock "$KSLDAP_STATE_DIR" deploy/ldap
stop_recorded slapd TERM
if [ "$purge" = 1 ]; then
  say "deleting $KSLDAP_STATE_DIR"
  rm -rf "$KSLDAP_STATE_DIR"
  rm -f "$KSLDAP_STATE_DIR.lock"
fi
