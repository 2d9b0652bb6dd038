# lib.sh - shared by frontdoor.sh and run-frontdoor-tests.sh (sourced).
# shellcheck shell=bash
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin"
export LC_ALL=C.UTF-8

FD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FD_STATE_DIR="${FD_STATE_DIR:-/tmp/keystone-ng-frontdoor}"
FD_STATE_DIR="${FD_STATE_DIR%/}"
# Backends the configs are rendered for (host:port, HTTP unless noted).
FD_NG_ADDR="${FD_NG_ADDR:-127.0.0.1:5812}"
FD_PY_ADDR="${FD_PY_ADDR:-127.0.0.1:5811}"
FD_PY_UWSGI_ADDR="${FD_PY_UWSGI_ADDR:-127.0.0.1:5813}"  # Python over the uwsgi protocol
# Front-door ports (127.0.0.1 only).
FD_NGINX_PORT="${FD_NGINX_PORT:-5820}"             # keystone-ng-site.conf
FD_NGINX_TLS_PORT="${FD_NGINX_TLS_PORT:-5821}"     # keystone-ng-site-tls.conf
FD_NGINX_UWSGI_PORT="${FD_NGINX_UWSGI_PORT:-5822}" # keystone-ng-site-uwsgi.conf
FD_NGINX_IDENTITY_PORT="${FD_NGINX_IDENTITY_PORT:-5823}" # keystone-ng-site-identity.conf
FD_APACHE_PORT="${FD_APACHE_PORT:-5830}"           # keystone-ng-site.conf
FD_APACHE_WSGI_PORT="${FD_APACHE_WSGI_PORT:-5831}" # keystone-ng-site-wsgi.conf
FD_APACHE_WSGI_FALLBACK="${FD_APACHE_WSGI_FALLBACK:-127.0.0.1:5832}"
FD_APACHE_TLS_PORT="${FD_APACHE_TLS_PORT:-5833}"           # keystone-ng-site-tls.conf
FD_APACHE_IDENTITY_PORT="${FD_APACHE_IDENTITY_PORT:-5834}" # keystone-ng-site-identity.conf
FD_APACHE_IDENTITY_FALLBACK="${FD_APACHE_IDENTITY_FALLBACK:-127.0.0.1:5835}"
# Python Keystone config for the mod_wsgi variant (keystone-wsgi-public reads
# OS_KEYSTONE_CONFIG_FILES from the process environment).
FD_KEYSTONE_CONF="${FD_KEYSTONE_CONF:-/etc/keystone/keystone.conf}"

FD_RUN_DIR="$FD_STATE_DIR/run"
FD_LOG_DIR="$FD_STATE_DIR/log"

fd_say() { printf '[frontdoor] %s\n' "$*" >&2; }
fd_fail() { printf '[frontdoor] ERROR: %s\n' "$*" >&2; exit 1; }

# ---- pids: recorded with the kernel start time, so a reused pid is never signalled
fd_start_time() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; set -- $s; [ "$1" != Z ] || return 1; printf '%s\n' "${20}"; }
fd_remember_pid() { local t; t=$(fd_start_time "$2") || return 1; echo "$2" >"$FD_RUN_DIR/$1.pid"; echo "$t" >"$FD_RUN_DIR/$1.start"; }
fd_recorded_pid() {
  local pid want now
  pid=$(cat "$FD_RUN_DIR/$1.pid" 2>/dev/null) || return 1
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  want=$(cat "$FD_RUN_DIR/$1.start" 2>/dev/null) || return 1
  now=$(fd_start_time "$pid") || return 1
  [ "$now" = "$want" ] && echo "$pid"
}
fd_stop_recorded() { # name [signal]
  local pid
  if pid=$(fd_recorded_pid "$1"); then
    fd_say "stopping $1 (pid $pid, SIG${2:-TERM})"
    kill "-${2:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do fd_start_time "$pid" >/dev/null 2>&1 || break; sleep 0.1; done
    if fd_start_time "$pid" >/dev/null 2>&1; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.3; fi
  fi
  rm -f "$FD_RUN_DIR/$1.pid" "$FD_RUN_DIR/$1.start"
}
fd_listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# apt-get install what is missing (no daemon is started by maintainer scripts)
fd_install() {
  local need=() p made=0 rc=0
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || need+=("$p")
  done
  [ "${#need[@]}" -gt 0 ] || return 0
  fd_say "apt-get install ${need[*]} (log: /tmp/keystone-ng-frontdoor-apt.log)"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # invoke-rc.d: exit 101 = action forbidden, so nginx/apache2 are not
    # started on port 80 by their postinst scripts; removed again below.
    printf '#!/bin/sh\n# temporary (keystone-ng deploy/frontdoor)\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}" >/tmp/keystone-ng-frontdoor-apt.log 2>&1 ||
    { apt-get update -q -o DPkg::Lock::Timeout=300 && apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}"; } >>/tmp/keystone-ng-frontdoor-apt.log 2>&1 || rc=$?
  [ "$made" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || { tail -n 20 /tmp/keystone-ng-frontdoor-apt.log >&2; fd_fail "apt-get install failed"; }
}
