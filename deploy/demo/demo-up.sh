#!/usr/bin/env bash
# demo-up.sh (make demo) - a complete local stack in one command:
#
#   client --> nginx 127.0.0.1:$DEMO_FRONT_PORT (8080)
#                |-- GET/HEAD /v3/auth/tokens, /v4/* --> keystone-ng  127.0.0.1:$DEMO_NG_PORT (5001)
#                `-- everything else ------------------> Python Keystone 127.0.0.1:$DEMO_PY_PORT (5000)
#
# Python Keystone is Debian's keystone 22 started by deploy/keystone-py/up.sh;
# keystone-ng is built from this tree and runs as the keystone user, reading
# Python's keystone.conf, database and Fernet keys, as in production.
#
# Knobs: DEMO_DB=sqlite|mysql|postgresql (sqlite), DEMO_FRONT_PORT, DEMO_PY_PORT,
# DEMO_NG_PORT, DEMO_ADMIN_USER (admin), DEMO_ADMIN_PASSWORD (secret),
# DEMO_ADMIN_PROJECT (admin), DEMO_STATE_DIR (/tmp/keystone-ng-demo),
# DEMO_NG_BIN (use this keystone-ng binary instead of building one).
# Re-running it only fixes what is missing or changed. demo-down.sh stops it.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck disable=SC2154 # rc is assigned inside the trap string
trap 'rc=$?; printf "[demo] ERROR: demo-up.sh line %s: \"%s\" exited with %s\n" "$LINENO" "$BASH_COMMAND" "$rc" >&2; exit $rc' ERR

check_settings
case "$DEMO_ADMIN_USER$DEMO_ADMIN_PASSWORD$DEMO_ADMIN_PROJECT" in
  *[\"\\\'\$\`]*) fail "DEMO_ADMIN_* must not contain quotes, backslashes, \$ or backticks" ;;
esac
take_lock "$DEMO_STATE_DIR" demo-up/demo-down
T0=$(date +%s)

# A state dir belongs to one database; switching silently would orphan it.
if [ -s "$PY_STATE_DIR/run/db" ]; then
  read -r prev_db _ <"$PY_STATE_DIR/run/db"
  [ "$prev_db" = "$DEMO_DB" ] ||
    fail "$DEMO_STATE_DIR holds a $prev_db demo; run 'DEMO_STATE_DIR=$DEMO_STATE_DIR $HERE/demo-down.sh --purge' first or pick another DEMO_STATE_DIR"
fi

# ------------------------------------------------------------- packages
# up.sh installs Keystone and the database; the front door is ours.
apt_install "${TMPDIR:-/tmp}/keystone-ng-demo-apt.log" nginx curl python3 iproute2 util-linux

mkdir -p "$DEMO_STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$DEMO_STATE_DIR/bin" "$NGINX_DIR"
# keystone-ng runs as the keystone user and must reach its binary and config.
chmod 0755 "$DEMO_STATE_DIR" "$DEMO_STATE_DIR/bin" "$LOG_DIR"
chmod 0700 "$RUN_DIR"

# ------------------------------------------------------- Python Keystone
# public_endpoint makes Keystone's own links (version discovery, "self"
# links) name the front door, as behind any reverse proxy. keystone-ng reads
# the same keystone.conf and follows it.
printf '[DEFAULT]\npublic_endpoint = %s\n' "$DEMO_FRONT_URL" >"$DEMO_STATE_DIR/keystone-extra.conf"
KSPY_DB="$DEMO_DB" KSPY_PORT="$DEMO_PY_PORT" KSPY_STATE_DIR="$PY_STATE_DIR" \
  KSPY_DB_NAME=keystone_ng_demo \
  KSPY_ADMIN_USER="$DEMO_ADMIN_USER" KSPY_ADMIN_PASSWORD="$DEMO_ADMIN_PASSWORD" \
  KSPY_ADMIN_PROJECT="$DEMO_ADMIN_PROJECT" \
  KSPY_EXTRA_CONF="$DEMO_STATE_DIR/keystone-extra.conf" \
  "$REPO_ROOT/deploy/keystone-py/up.sh" 9>&- ||
  fail "deploy/keystone-py/up.sh failed (its messages are above)"
# shellcheck disable=SC1091
. "$PY_STATE_DIR/env"

# ---------------------------------------------------------- keystone-ng
as_keystone() { setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- "$@"; }
if [ -n "${DEMO_NG_BIN:-}" ]; then
  [ -x "$DEMO_NG_BIN" ] || fail "DEMO_NG_BIN=$DEMO_NG_BIN is not executable"
  install -m 0755 "$DEMO_NG_BIN" "$NG_BIN.tmp" && mv -f "$NG_BIN.tmp" "$NG_BIN"
else
  command -v go >/dev/null ||
    fail "Go is needed to build keystone-ng (go.mod: $(sed -n 's/^go //p' "$REPO_ROOT/go.mod")); Debian's golang-go is too old: install Go from go.dev to /usr/local/go, or set DEMO_NG_BIN"
  version=$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo dev)
  say "go build ./cmd/keystone-ng -> $NG_BIN"
  # go build relinks only when something changed, so a re-run costs little.
  (cd "$REPO_ROOT" && go build -trimpath -ldflags "-X main.version=$version" -o "$NG_BIN" ./cmd/keystone-ng) 9>&- ||
    fail "go build failed"
  chmod 0755 "$NG_BIN"
fi

install -o root -g "$SERVICE_USER" -m 0640 /dev/stdin "$NG_CONF" <<EOF
# keystone-ng settings for the demo; all other options keep their defaults
# (deploy/keystone-ng.conf.example lists them).
[keystone_ng]
listen = $DEMO_HOST:$DEMO_NG_PORT
# nginx on this host appends the client to X-Forwarded-For; keystone-ng
# believes that header only from these proxies (login rate limits count per
# client address; docs/security.md).
trusted_proxies = 127.0.0.1/32,::1/128

# Passkeys on the login page, http://localhost:$DEMO_FRONT_PORT/v4/login
# (WebAuthn needs a host name, not an IP address; localhost is a secure
# context even over plain HTTP).
[webauthn]
relying_party_id = localhost
relying_party_origins = http://localhost:$DEMO_FRONT_PORT,http://localhost:$DEMO_NG_PORT
relying_party_name = keystone-ng demo
EOF
NG_ARGS=(--config-file "$KSPY_CONF" --config-file "$NG_CONF")

ng_sum=$(cat "$NG_BIN" "$NG_CONF" "$KSPY_CONF" | sha256sum | cut -c1-64)
ng_healthy() { curl --noproxy '*' -sf -m 2 -o /dev/null "http://$DEMO_HOST:$DEMO_NG_PORT/readyz"; }
if recorded_pid keystone-ng >/dev/null && [ "$(cat "$RUN_DIR/keystone-ng.sum" 2>/dev/null)" = "$ng_sum" ] && ng_healthy; then
  say "keystone-ng already running (pid $(recorded_pid keystone-ng)); unchanged"
else
  stop_recorded keystone-ng TERM 20
  listening_on "$DEMO_NG_PORT" && fail "127.0.0.1:$DEMO_NG_PORT is in use by a process this demo did not start; stop it or set DEMO_NG_PORT"
  # What the systemd unit's ExecStartPre does: refuse to start on any problem.
  as_keystone "$NG_BIN" check "${NG_ARGS[@]}" >"$LOG_DIR/keystone-ng-check.log" 2>&1 ||
    { tail -n 15 "$LOG_DIR/keystone-ng-check.log" >&2; fail "keystone-ng check found problems; see $LOG_DIR/keystone-ng-check.log"; }
  # keystone-ng's own ng_ tables; Python's tables are never touched.
  as_keystone "$NG_BIN" db migrate "${NG_ARGS[@]}" >"$LOG_DIR/keystone-ng-migrate.log" 2>&1 ||
    { tail -n 15 "$LOG_DIR/keystone-ng-migrate.log" >&2; fail "keystone-ng db migrate failed; see $LOG_DIR/keystone-ng-migrate.log"; }
  say "starting keystone-ng on $DEMO_HOST:$DEMO_NG_PORT as $SERVICE_USER"
  # setsid: keystone-ng must outlive this script and the terminal. It does
  # not fork, so $! is keystone-ng itself (setsid and setpriv exec).
  setsid setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups -- \
    "$NG_BIN" serve "${NG_ARGS[@]}" </dev/null >>"$LOG_DIR/keystone-ng.log" 2>&1 9>&- &
  remember_pid keystone-ng $! || { tail -n 15 "$LOG_DIR/keystone-ng.log" >&2; fail "keystone-ng exited at once; see $LOG_DIR/keystone-ng.log"; }
  wait_while_alive keystone-ng 10 ng_healthy || { tail -n 15 "$LOG_DIR/keystone-ng.log" >&2; fail "keystone-ng is not ready on $DEMO_HOST:$DEMO_NG_PORT; see $LOG_DIR/keystone-ng.log"; }
  printf '%s\n' "$ng_sum" >"$RUN_DIR/keystone-ng.sum"
fi

# ---------------------------------------------------------------- nginx
# The shipped nginx/ files, rendered only for the listening address and the
# two upstream addresses (deploy/lib/nginx.sh, as for the front-door tests).
nginx_render by=deploy/demo/demo-up.sh dest="$NGINX_DIR" \
  ng="$DEMO_HOST:$DEMO_NG_PORT" py="$DEMO_HOST:$DEMO_PY_PORT" \
  sites="site=$DEMO_HOST:$DEMO_FRONT_PORT" pid="$NGINX_DIR/nginx.pid"
nginx_sum=$(nginx_config_sum "$NGINX_DIR")
if pid=$(recorded_pid nginx); then
  if [ "$(cat "$RUN_DIR/nginx.sum" 2>/dev/null)" != "$nginx_sum" ]; then
    say "nginx config changed: reloading (pid $pid)"
    kill -HUP "$pid"
    sleep 1 # the master starts new workers asynchronously
    printf '%s\n' "$nginx_sum" >"$RUN_DIR/nginx.sum"
  else
    say "nginx already running (pid $pid); unchanged"
  fi
else
  listening_on "$DEMO_FRONT_PORT" && fail "127.0.0.1:$DEMO_FRONT_PORT is in use by a process this demo did not start; stop it or set DEMO_FRONT_PORT"
  say "starting nginx on $DEMO_FRONT_URL"
  # daemon off: the master stays the process we started, so its pid is $!.
  setsid nginx -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -g 'daemon off;' </dev/null >>"$LOG_DIR/nginx.log" 2>&1 9>&- &
  remember_pid nginx $! || fail "nginx exited at once; see $NGINX_DIR/error.log"
  printf '%s\n' "$nginx_sum" >"$RUN_DIR/nginx.sum"
  wait_for_port "$DEMO_FRONT_PORT" 5 || fail "nginx does not listen on $DEMO_FRONT_PORT; see $NGINX_DIR/error.log"
fi

# ------------------------------------------- catalog names the front door
# up.sh registers Python's own address as the identity endpoint. Clients
# follow the catalog after login, so point it at the front door; otherwise
# every call after the first would bypass nginx and keystone-ng.
FRONT_URL="$DEMO_FRONT_URL" PY_URL="$KSPY_URL" ADMIN_USER="$DEMO_ADMIN_USER" \
  ADMIN_PASSWORD="$DEMO_ADMIN_PASSWORD" ADMIN_PROJECT="$DEMO_ADMIN_PROJECT" python3 - <<'EOF' || fail "could not point the identity endpoints at the front door"
import json, os, sys, urllib.request

front, py = os.environ["FRONT_URL"] + "/v3", os.environ["PY_URL"]

def call(method, url, token=None, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.headers, json.load(r)

hdrs, _ = call("POST", py + "/auth/tokens", body={"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": os.environ["ADMIN_USER"], "domain": {"id": "default"},
        "password": os.environ["ADMIN_PASSWORD"]}}},
    "scope": {"project": {"name": os.environ["ADMIN_PROJECT"], "domain": {"id": "default"}}}}})
tok = hdrs["X-Subject-Token"]
_, svcs = call("GET", py + "/services?type=identity", tok)
for svc in svcs["services"]:
    _, eps = call("GET", py + "/endpoints?service_id=" + svc["id"], tok)
    for ep in eps["endpoints"]:
        if ep["url"] != front:
            call("PATCH", py + "/endpoints/" + ep["id"], tok, {"endpoint": {"url": front}})
            print("[demo] identity %s endpoint -> %s" % (ep["interface"], front), file=sys.stderr)
EOF

# ----------------------------------------------------------- demo-env
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
env_tmp=$(mktemp "$RUN_DIR/demo-env.XXXXXX")
cat >"$env_tmp" <<EOF
# keystone-ng demo ($DEMO_STATE_DIR): admin credentials, through the front door.
# source this file:  . $DEMO_STATE_DIR/demo-env
export OS_AUTH_URL=$(q "$DEMO_FRONT_URL/v3")
export OS_AUTH_TYPE=password
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$(q "$DEMO_ADMIN_USER")
export OS_PASSWORD=$(q "$DEMO_ADMIN_PASSWORD")
export OS_PROJECT_NAME=$(q "$DEMO_ADMIN_PROJECT")
export OS_USER_DOMAIN_ID=default
export OS_PROJECT_DOMAIN_ID=default
export OS_REGION_NAME=$(q "$KSPY_REGION")
export OS_INTERFACE=public
export DEMO_FRONT_URL=$(q "$DEMO_FRONT_URL")
export DEMO_PY_URL=$(q "http://$DEMO_HOST:$DEMO_PY_PORT")
export DEMO_NG_URL=$(q "http://$DEMO_HOST:$DEMO_NG_PORT")
EOF
chmod 0600 "$env_tmp"
mv -f "$env_tmp" "$DEMO_STATE_DIR/demo-env"

# ------------------------------------------------------------ self-check
# The same three things the banner suggests, with curl, so a broken stack is
# reported here rather than by the first command a person tries.
login=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"id":"default"}}}}}' \
  "$DEMO_ADMIN_USER" "$DEMO_ADMIN_PASSWORD" "$DEMO_ADMIN_PROJECT")
hdrs=$(curl --noproxy '*' -sf -m 60 -D - -o /dev/null -H 'Content-Type: application/json' -d "$login" "$DEMO_FRONT_URL/v3/auth/tokens") ||
  fail "password login through the front door (POST $DEMO_FRONT_URL/v3/auth/tokens) failed; see $NGINX_DIR/error.log"
tok=$(printf '%s\n' "$hdrs" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: *//p')
[ -n "$tok" ] || fail "no X-Subject-Token in the login answer from the front door"
served=$(curl --noproxy '*' -sf -m 30 -D - -o /dev/null -H "X-Auth-Token: $tok" -H "X-Subject-Token: $tok" "$DEMO_FRONT_URL/v3/auth/tokens" |
  tr -d '\r' | sed -n 's/^[Oo]pen[Ss]tack-[Ii]dentity-[Ss]ervice: *//p') ||
  fail "validation through the front door failed"
[ "$served" = keystone-ng ] || fail "validation through the front door was not answered by keystone-ng (OpenStack-Identity-Service: '${served:-none}'); see $NGINX_DIR/sites/keystone-ng-site.conf"
v4=$(curl --noproxy "*" -s -m 10 -o /dev/null -w "%{http_code}" "$DEMO_FRONT_URL/v4/login")

cat <<EOF

keystone-ng demo is up ($(($(date +%s) - T0))s, database: $DEMO_DB)

  front door (nginx)   $DEMO_FRONT_URL/v3
  Python Keystone      http://$DEMO_HOST:$DEMO_PY_PORT/v3   ($KSPY_VERSION, everything but validation)
  keystone-ng          http://$DEMO_HOST:$DEMO_NG_PORT        (GET/HEAD /v3/auth/tokens, /v4)
  admin credentials    user $DEMO_ADMIN_USER, password $DEMO_ADMIN_PASSWORD, project $DEMO_ADMIN_PROJECT (domain default)
  environment          . $DEMO_STATE_DIR/demo-env
  logs                 $LOG_DIR, $NGINX_DIR, $PY_STATE_DIR/log

Try (self-check just now: validation answered by keystone-ng, GET /v4/login -> $v4):

  # 1. a token from Python Keystone, through the front door
  . $DEMO_STATE_DIR/demo-env && openstack token issue

  # 2. validation through the front door, answered by keystone-ng
  T=\$(openstack token issue -f value -c id)
  curl -s -D - -o /dev/null -H "X-Auth-Token: \$T" -H "X-Subject-Token: \$T" \$OS_AUTH_URL/auth/tokens

  # 3. /v4 is routed to keystone-ng: the login page (passkeys, identity
  #    providers) in a browser on this machine; sign in once with the token
  #    from step 2, register a passkey, sign out, sign in with the passkey
  http://localhost:$DEMO_FRONT_PORT/v4/login

Stop: make demo-down  (deploy/demo/demo-down.sh; --purge also deletes $DEMO_STATE_DIR and the database)
EOF
