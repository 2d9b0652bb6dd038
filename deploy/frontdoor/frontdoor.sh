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

NGX="$FD_STATE_DIR/nginx"
APX="$FD_STATE_DIR/apache"

render_nginx() {
  rm -rf "$NGX"
  mkdir -p "$NGX/sites" "$NGX/tmp" "$NGX/tls"
  cp -r "$FD_ROOT/nginx/keystone-ng" "$NGX/"
  sed -e "s|server 127.0.0.1:5001;|server $FD_NG_ADDR;|" \
    -e "s|server 127.0.0.1:5000;|server $FD_PY_ADDR;|" \
    -e "s|server unix:/run/uwsgi/keystone-wsgi-public.socket;|server $FD_PY_UWSGI_ADDR;|" \
    "$FD_ROOT/nginx/keystone-ng-upstreams.conf" >"$NGX/keystone-ng-upstreams.conf"
  cp "$FD_ROOT/nginx/keystone-ng-http.conf" "$NGX/"
  # self-signed certificate for the TLS variant, made now
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$NGX/tls/key.pem" -out "$NGX/tls/cert.pem" >/dev/null 2>&1
  local site port
  for site in site:$FD_NGINX_PORT site-tls:$FD_NGINX_TLS_PORT site-uwsgi:$FD_NGINX_UWSGI_PORT site-identity:$FD_NGINX_IDENTITY_PORT; do
    port=${site#*:}
    site=${site%%:*}
    sed -E -e "s#^( +)listen (80|443|5000)( ssl)?;#\1listen 127.0.0.1:$port\3;#" \
      -e "s#/etc/ssl/certs/keystone.pem#$NGX/tls/cert.pem#" \
      -e "s#/etc/ssl/private/keystone.key#$NGX/tls/key.pem#" \
      "$FD_ROOT/nginx/keystone-ng-$site.conf" >"$NGX/sites/keystone-ng-$site.conf"
    grep -q "listen 127.0.0.1:$port" "$NGX/sites/keystone-ng-$site.conf" || fd_fail "render: no listen line replaced in keystone-ng-$site.conf"
  done
  cat >"$NGX/nginx.conf" <<EOC
# test harness main file (deploy/frontdoor/frontdoor.sh); the keystone-ng
# files included below are the shipped ones, rendered for ports/upstreams.
user www-data;
worker_processes 2;
pid $FD_RUN_DIR/nginx.pid;
error_log $FD_LOG_DIR/nginx-error.log notice;
events { worker_connections 512; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path $NGX/tmp/proxy;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    scgi_temp_path $NGX/tmp/scgi;
    include keystone-ng-http.conf;
    include keystone-ng-upstreams.conf;
    access_log $FD_LOG_DIR/nginx-access.log keystone_ng;
    include sites/*.conf;
}
EOC
  chown -R www-data "$NGX/tmp"
  nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" || fd_fail "nginx -t failed on $NGX/nginx.conf"
  fd_say "nginx config rendered and checked (nginx -t): $NGX"
}

render_apache() {
  rm -rf "$APX"
  mkdir -p "$APX/sites" "$APX/run" "$APX/tls"
  cp -r "$FD_ROOT/apache/keystone-ng" "$APX/"
  # self-signed certificate for the TLS variant, made now
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$APX/tls/key.pem" -out "$APX/tls/cert.pem" >/dev/null 2>&1
  sed -e "s|^Define KEYSTONE_NG_URL .*|Define KEYSTONE_NG_URL http://$FD_NG_ADDR|" \
    -e "s|^Define KEYSTONE_PYTHON_URL .*|Define KEYSTONE_PYTHON_URL http://$FD_PY_ADDR|" \
    -e "s|^Define KEYSTONE_PYTHON_WSGI_FALLBACK .*|Define KEYSTONE_PYTHON_WSGI_FALLBACK $FD_APACHE_WSGI_FALLBACK|" \
    -e "s|^Define KEYSTONE_PYTHON_IDENTITY_FALLBACK .*|Define KEYSTONE_PYTHON_IDENTITY_FALLBACK $FD_APACHE_IDENTITY_FALLBACK|" \
    "$FD_ROOT/apache/keystone-ng-upstreams.conf" >"$APX/keystone-ng-upstreams.conf"
  local site port
  for site in site:$FD_APACHE_PORT site-wsgi:$FD_APACHE_WSGI_PORT site-tls:$FD_APACHE_TLS_PORT site-identity:$FD_APACHE_IDENTITY_PORT; do
    port=${site#*:}
    site=${site%%:*}
    [ -f "$FD_ROOT/apache/keystone-ng-$site.conf" ] || continue
    sed -E -e "s#^<VirtualHost \*:(80|443|5000)>#<VirtualHost 127.0.0.1:$port>#" \
      -e "s#/etc/apache2/keystone-ng#$APX/keystone-ng#g" \
      -e "s#/etc/ssl/certs/keystone.pem#$APX/tls/cert.pem#" \
      -e "s#/etc/ssl/private/keystone.key#$APX/tls/key.pem#" \
      "$FD_ROOT/apache/keystone-ng-$site.conf" >"$APX/sites/keystone-ng-$site.conf"
    grep -q "VirtualHost 127.0.0.1:$port" "$APX/sites/keystone-ng-$site.conf" || fd_fail "render: no VirtualHost replaced in keystone-ng-$site.conf"
    echo "Listen 127.0.0.1:$port" >>"$APX/listen.conf"
  done
  local m mods=""
  for m in mpm_event authz_core authz_host alias mime headers rewrite proxy proxy_http proxy_balancer \
    lbmethod_byrequests slotmem_shm wsgi socache_shmcb ssl; do
    mods="${mods}Include /etc/apache2/mods-available/$m.load
"
  done
  cat >"$APX/apache2.conf" <<EOC
# test harness main file (deploy/frontdoor/frontdoor.sh); the keystone-ng
# files included below are the shipped ones, rendered for ports/upstreams.
ServerRoot "$APX"
ServerName 127.0.0.1
PidFile "$FD_RUN_DIR/apache2.pid"
DefaultRuntimeDir "$APX/run"
Mutex file:$APX/run default
User www-data
Group www-data
ErrorLog "$FD_LOG_DIR/apache-error.log"
LogLevel warn proxy:info proxy_balancer:info
${mods}TypesConfig /etc/mime.types
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
Timeout 60
KeepAlive On
LogFormat "%a \"%r\" %>s upstream=\"%{BALANCER_WORKER_NAME}e\" served_by=\"%{OpenStack-Identity-Service}o\" request_id=\"%{X-Openstack-Request-Id}o\" %Dus" keystone_ng
CustomLog "$FD_LOG_DIR/apache-access.log" keystone_ng
<Directory />
    AllowOverride None
    Require all denied
</Directory>
Include listen.conf
Include keystone-ng-upstreams.conf
Include sites/*.conf
EOC
  chmod -R a+rX "$APX"
  apache2 -t -f "$APX/apache2.conf" -d "$APX" >"$FD_LOG_DIR/apache-configtest.log" 2>&1 ||
    { cat "$FD_LOG_DIR/apache-configtest.log" >&2; fd_fail "apache2 -t failed on $APX/apache2.conf"; }
  fd_say "apache2 config rendered and checked (apache2 -t): $APX"
}

start_nginx() {
  fd_stop_recorded nginx QUIT
  fd_listening "$FD_NGINX_PORT" && fd_fail "port $FD_NGINX_PORT is taken by a process this harness did not start"
  rm -f "$FD_RUN_DIR/nginx.pid"
  nginx -p "$NGX" -c "$NGX/nginx.conf" </dev/null >>"$FD_LOG_DIR/nginx-error.log" 2>&1 || fd_fail "nginx did not start, see $FD_LOG_DIR/nginx-error.log"
  for _ in $(seq 1 50); do [ -s "$FD_RUN_DIR/nginx.pid" ] && break; sleep 0.1; done
  fd_remember_pid nginx "$(tr -dc 0-9 <"$FD_RUN_DIR/nginx.pid")" || fd_fail "nginx exited right after start"
  fd_say "nginx started (pid $(fd_recorded_pid nginx)) on 127.0.0.1:$FD_NGINX_PORT,$FD_NGINX_TLS_PORT(tls),$FD_NGINX_UWSGI_PORT(uwsgi),$FD_NGINX_IDENTITY_PORT(/identity)"
}

start_apache() {
  fd_stop_recorded apache2 TERM
  fd_listening "$FD_APACHE_PORT" && fd_fail "port $FD_APACHE_PORT is taken by a process this harness did not start"
  rm -f "$FD_RUN_DIR/apache2.pid"
  OS_KEYSTONE_CONFIG_FILES="$FD_KEYSTONE_CONF" apache2 -f "$APX/apache2.conf" -d "$APX" </dev/null >>"$FD_LOG_DIR/apache-error.log" 2>&1 ||
    fd_fail "apache2 did not start, see $FD_LOG_DIR/apache-error.log"
  for _ in $(seq 1 50); do [ -s "$FD_RUN_DIR/apache2.pid" ] && break; sleep 0.1; done
  fd_remember_pid apache2 "$(tr -dc 0-9 <"$FD_RUN_DIR/apache2.pid")" || fd_fail "apache2 exited right after start, see $FD_LOG_DIR/apache-error.log"
  fd_say "apache2 started (pid $(fd_recorded_pid apache2)) on 127.0.0.1:$FD_APACHE_PORT,$FD_APACHE_WSGI_PORT(mod_wsgi),$FD_APACHE_TLS_PORT(tls),$FD_APACHE_IDENTITY_PORT(/identity)"
}

[ "$(id -u)" = 0 ] || fd_fail "run me as root"
mkdir -p "$FD_RUN_DIR" "$FD_LOG_DIR"
chmod 0755 "$FD_STATE_DIR"
case "${1:-}" in
  install) fd_install nginx apache2 libapache2-mod-wsgi-py3 openssl curl iproute2 ;;
  render) render_nginx; render_apache ;;
  up) fd_install nginx apache2 libapache2-mod-wsgi-py3 openssl curl iproute2; render_nginx; render_apache; start_nginx; start_apache ;;
  down) fd_stop_recorded nginx QUIT; fd_stop_recorded apache2 TERM ;;
  status) for n in nginx apache2; do printf '%s: %s\n' "$n" "$(fd_recorded_pid "$n" || echo stopped)"; done ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
