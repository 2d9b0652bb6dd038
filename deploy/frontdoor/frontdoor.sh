#!/usr/bin/env bash
# frontdoor.sh - render the shipped nginx/ and apache/ configs for test ports
# and upstream addresses, check them, and run Debian's nginx and apache2 with
# them on 127.0.0.1 (own prefix, pid and log files under $FD_STATE_DIR; the
# system's /etc/nginx and /etc/apache2 sites are not used or changed).
#
#   frontdoor.sh install         apt-get install nginx apache2 libapache2-mod-wsgi-py3 (if missing)
#   frontdoor.sh render          write $FD_STATE_DIR/{nginx,apache}/ and check them (nginx -t, apache2 -t)
#   frontdoor.sh up              render + start nginx and apache2 (restart if running)
#   frontdoor.sh down            stop them (recorded pids only)
#   frontdoor.sh status
#
# Rendering only changes: listen ports/VirtualHost addresses, the upstream
# addresses (FD_NG_ADDR, FD_PY_ADDR, FD_PY_UWSGI_ADDR), the TLS certificate
# paths (a self-signed certificate made here) and the directory the Apache
# config lives in. See lib.sh for the variables and their defaults.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=../lib/nginx.sh
. "$HERE/../lib/nginx.sh"
# shellcheck source=../lib/apache.sh
. "$HERE/../lib/apache.sh"

NGX="$FD_STATE_DIR/nginx"
APX="$FD_STATE_DIR/apache"

# The renderers are deploy/lib/nginx.sh and deploy/lib/apache.sh, the same
# ones the demo uses.
render_nginx() {
  rm -rf "$NGX"
  nginx_render by=deploy/frontdoor/frontdoor.sh dest="$NGX" workers=2 log_level=notice \
    ng="$FD_NG_ADDR" py="$FD_PY_ADDR" py_uwsgi="$FD_PY_UWSGI_ADDR" \
    sites="site=127.0.0.1:$FD_NGINX_PORT site-tls=127.0.0.1:$FD_NGINX_TLS_PORT site-uwsgi=127.0.0.1:$FD_NGINX_UWSGI_PORT site-identity=127.0.0.1:$FD_NGINX_IDENTITY_PORT" \
    pid="$FD_RUN_DIR/nginx.pid" error_log="$FD_LOG_DIR/nginx-error.log" access_log="$FD_LOG_DIR/nginx-access.log"
  say "nginx config rendered and checked (nginx -t): $NGX"
}

render_apache() {
  apache_render by=deploy/frontdoor/frontdoor.sh dest="$APX" ng="$FD_NG_ADDR" py="$FD_PY_ADDR" \
    wsgi_fallback="$FD_APACHE_WSGI_FALLBACK" identity_fallback="$FD_APACHE_IDENTITY_FALLBACK" \
    sites="site=127.0.0.1:$FD_APACHE_PORT site-wsgi=127.0.0.1:$FD_APACHE_WSGI_PORT site-tls=127.0.0.1:$FD_APACHE_TLS_PORT site-identity=127.0.0.1:$FD_APACHE_IDENTITY_PORT" \
    pid="$FD_RUN_DIR/apache2.pid" error_log="$FD_LOG_DIR/apache-error.log" access_log="$FD_LOG_DIR/apache-access.log"
  say "apache2 config rendered and checked (apache2 -t): $APX"
}

start_nginx() {
  stop_recorded nginx QUIT
  listening_on "$FD_NGINX_PORT" && fail "port $FD_NGINX_PORT is taken by a process this harness did not start"
  rm -f "$FD_RUN_DIR/nginx.pid"
  nginx -p "$NGX" -c "$NGX/nginx.conf" </dev/null >>"$FD_LOG_DIR/nginx-error.log" 2>&1 9>&- || fail "nginx did not start, see $FD_LOG_DIR/nginx-error.log"
  remember_pidfile nginx "$FD_RUN_DIR/nginx.pid" || fail "nginx exited right after start"
  say "nginx started (pid $(recorded_pid nginx)) on 127.0.0.1:$FD_NGINX_PORT,$FD_NGINX_TLS_PORT(tls),$FD_NGINX_UWSGI_PORT(uwsgi),$FD_NGINX_IDENTITY_PORT(/identity)"
}

start_apache() {
  stop_recorded apache2 TERM
  listening_on "$FD_APACHE_PORT" && fail "port $FD_APACHE_PORT is taken by a process this harness did not start"
  rm -f "$FD_RUN_DIR/apache2.pid"
  OS_KEYSTONE_CONFIG_FILES="$FD_KEYSTONE_CONF" apache2 -f "$APX/apache2.conf" -d "$APX" </dev/null >>"$FD_LOG_DIR/apache-error.log" 2>&1 9>&- ||
    fail "apache2 did not start, see $FD_LOG_DIR/apache-error.log"
  remember_pidfile apache2 "$FD_RUN_DIR/apache2.pid" || fail "apache2 exited right after start, see $FD_LOG_DIR/apache-error.log"
  say "apache2 started (pid $(recorded_pid apache2)) on 127.0.0.1:$FD_APACHE_PORT,$FD_APACHE_WSGI_PORT(mod_wsgi),$FD_APACHE_TLS_PORT(tls),$FD_APACHE_IDENTITY_PORT(/identity)"
}

[ "$(id -u)" = 0 ] || fail "run me as root"
APT_LOG="${TMPDIR:-/tmp}/keystone-ng-frontdoor-apt.log"
mkdir -p "$FD_RUN_DIR" "$FD_LOG_DIR"
chmod 0755 "$FD_STATE_DIR"
case "${1:-}" in
  install) apt_install "$APT_LOG" nginx apache2 libapache2-mod-wsgi-py3 openssl curl iproute2 ;;
  render)
    take_lock "$FD_STATE_DIR" frontdoor.sh
    render_nginx
    render_apache
    ;;
  up)
    apt_install "$APT_LOG" nginx apache2 libapache2-mod-wsgi-py3 openssl curl iproute2
    take_lock "$FD_STATE_DIR" frontdoor.sh
    render_nginx
    render_apache
    start_nginx
    start_apache
    ;;
  down)
    take_lock "$FD_STATE_DIR" frontdoor.sh
    stop_recorded nginx QUIT
    stop_recorded apache2 TERM
    ;;
  status) for n in nginx apache2; do printf '%s: %s\n' "$n" "$(recorded_pid "$n" || echo stopped)"; done ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
