# lib.sh - settings shared by frontdoor.sh and run-frontdoor-tests.sh
# (sourced); the helpers are deploy/lib/common.sh's.
# The settings are used by the scripts that source this file:
# shellcheck shell=bash disable=SC2034
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/go/bin"
export LC_ALL=C.UTF-8

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

LOG_TAG=frontdoor
PROC_RUN_DIR=$FD_RUN_DIR
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
