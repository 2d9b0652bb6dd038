#!/usr/bin/env bash
# run-frontdoor-tests.sh - the shipped nginx/ and apache/ configs, proven with
# real components on 127.0.0.1: Debian's nginx and apache2 (configs rendered
# only for ports, upstream addresses and a test certificate), a real Python
# Keystone 22 (deploy/keystone-py/up.sh, SQLite; plus a second uWSGI speaking
# the uwsgi protocol for the uwsgi and /identity variants), keystone-ng built
# from source. Installs what is missing, stops everything it started (by
# recorded pid) and purges its Python Keystone at the end. Last line:
# "frontdoor: N passed, M failed"; exit status non-zero on any failure.
#
# Knobs: FD_STATE_DIR (/tmp/keystone-ng-frontdoor), FD_KEEP=1 (leave it all
# running for debugging), ports in lib.sh (58xx).
#
# Checks read "condition && ok ... || bad ...": ok only prints and counts, it
# never fails, so bad runs exactly when the condition does not hold.
# shellcheck disable=SC2015
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
T0=$(date +%s)
PY_STATE="$FD_STATE_DIR-py"
PY_PORT=${FD_PY_ADDR##*:}
NG_PORT=${FD_NG_ADDR##*:}
export KSPY_DB=sqlite KSPY_PORT=$PY_PORT KSPY_STATE_DIR=$PY_STATE KSPY_DB_NAME=keystone_ng_frontdoor KSPY_PROCESSES=2
passed=0 failed=0
ok() { passed=$((passed + 1)); printf '  ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf '  FAIL %s\n' "$*"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else bad "$d"; fi; }

cleanup() {
  set +e
  if [ "${FD_KEEP:-0}" = 1 ]; then say "FD_KEEP=1: leaving everything running"; return; fi
  "$HERE/frontdoor.sh" down
  echo_env "$HERE/frontdoor.sh" down
  stop_recorded fake-5xx TERM
  stop_recorded keystone-ng TERM
  stop_recorded uwsgi-proto TERM
  "$REPO_ROOT/deploy/keystone-py/down.sh" --purge >/dev/null 2>&1 || say "down.sh --purge failed"
}
finish() {
  local rc=$?
  cleanup
  printf '[frontdoor] done in %ss\n' "$(($(date +%s) - T0))"
  [ "$rc" = 0 ] || [ "$failed" -gt 0 ] || failed=1
  printf 'frontdoor: %d passed, %d failed\n' "$passed" "$failed"
  trap - EXIT
  [ "$failed" = 0 ] && exit 0
  exit 1
}
trap finish EXIT
# A second rendering of the same configs, in front of two echo backends
# (echo_check.py) instead of the real services: routing matrix and headers.
echo_env() {
  env FD_STATE_DIR="$FD_STATE_DIR-echo" FD_NG_ADDR=127.0.0.1:5842 FD_PY_ADDR=127.0.0.1:5841 \
    FD_NGINX_PORT=5850 FD_NGINX_TLS_PORT=5851 FD_NGINX_UWSGI_PORT=5852 FD_NGINX_IDENTITY_PORT=5853 \
    FD_APACHE_PORT=5860 FD_APACHE_WSGI_PORT=5861 FD_APACHE_WSGI_FALLBACK=127.0.0.1:5862 \
    FD_APACHE_TLS_PORT=5863 FD_APACHE_IDENTITY_PORT=5864 FD_APACHE_IDENTITY_FALLBACK=127.0.0.1:5865 "$@"
}
[ "$(id -u)" = 0 ] || fail "run me as root"
mkdir -p "$FD_RUN_DIR" "$FD_LOG_DIR"
# One run at a time (frontdoor.sh locks $FD_STATE_DIR itself, up.sh its own
# state dir); what this script starts gets 9>&- so it does not keep the lock.
take_lock "$FD_STATE_DIR-tests" run-frontdoor-tests.sh

# ------------------------------------------------------------------ set up
say "Python Keystone (SQLite) on $FD_PY_ADDR"
"$REPO_ROOT/deploy/keystone-py/up.sh" 2>&1 | tail -n 1
# shellcheck disable=SC1091
. "$PY_STATE/env"
"$HERE/frontdoor.sh" install

say "building keystone-ng"
(cd "$REPO_ROOT" && go build -o "$FD_STATE_DIR/keystone-ng" ./cmd/keystone-ng)
# The front doors run on this host: keystone-ng believes their
# X-Forwarded-For (login rate limits count per client address).
printf '[keystone_ng]\nlisten = %s\ntrusted_proxies = 127.0.0.1/32,::1/128\n' "$FD_NG_ADDR" >"$FD_STATE_DIR/ng.conf"
# keystone-ng's own tables, so that /v4 is on behind the front doors (its
# login routes carry the rate limits checked below).
"$FD_STATE_DIR/keystone-ng" db migrate --config-file "$KSPY_CONF" --config-file "$FD_STATE_DIR/ng.conf" >>"$FD_LOG_DIR/keystone-ng.log" 2>&1 ||
  fail "keystone-ng db migrate failed, see $FD_LOG_DIR/keystone-ng.log"
start_ng() {
  stop_recorded keystone-ng TERM
  setsid "$FD_STATE_DIR/keystone-ng" serve --config-file "$KSPY_CONF" --config-file "$FD_STATE_DIR/ng.conf" \
    </dev/null >>"$FD_LOG_DIR/keystone-ng.log" 2>&1 9>&- &
  local pid=$!
  disown "$pid" # no "Killed" job message from bash when the test kills it
  remember_pid keystone-ng "$pid" || fail "keystone-ng exited at once, see $FD_LOG_DIR/keystone-ng.log"
  wait_while_alive keystone-ng 10 url_ok "http://$FD_NG_ADDR/readyz" && return 0
  fail "keystone-ng not ready, see $FD_LOG_DIR/keystone-ng.log"
}
start_ng

say "Python Keystone over the uwsgi protocol on $FD_PY_UWSGI_ADDR (same config and database)"
stop_recorded uwsgi-proto TERM
sed -e "s|^http-socket = .*|socket = $FD_PY_UWSGI_ADDR|" -e "s|^pidfile = .*|pidfile = $FD_RUN_DIR/uwsgi-proto.master.pid|" \
  -e "s|^daemonize = .*|daemonize = $FD_LOG_DIR/uwsgi-proto.log|" -e "s|^name = .*|name = keystone-ng-frontdoor-uwsgi|" \
  -e "s|^processes = .*|processes = 1|" "$KSPY_UWSGI_INI" >"$FD_STATE_DIR/uwsgi-proto.ini"
rm -f "$FD_RUN_DIR/uwsgi-proto.master.pid"
uwsgi_python3 --ini "$FD_STATE_DIR/uwsgi-proto.ini" >/dev/null 2>&1 9>&-
remember_pidfile uwsgi-proto "$FD_RUN_DIR/uwsgi-proto.master.pid" || fail "uwsgi (uwsgi protocol) did not start"

FD_KEYSTONE_CONF="$KSPY_CONF" "$HERE/frontdoor.sh" up
say "set up in $(($(date +%s) - T0))s"

# ------------------------------------------------------------------ helpers
CURL=(curl --noproxy '*' -sk -m 60)
metric() { # validation requests counted by keystone-ng (GET+HEAD, all codes)
  "${CURL[@]}" "http://$FD_NG_ADDR/metrics" 2>/dev/null |
    awk '/^keystone_ng_http_requests_total\{/ && /route="\/v3\/auth\/tokens"/ { s += $NF } END { printf "%d\n", s }'
}
dbwait() { # rounds of validation lookups that went through the db_concurrency bound
  "${CURL[@]}" "http://$FD_NG_ADDR/metrics" 2>/dev/null |
    awk '/^keystone_ng_db_concurrency_wait_seconds_count/ { s += $NF } END { printf "%d\n", s }'
}
dbqueries() { # queries the token reader executed (a combined statement counts once)
  "${CURL[@]}" "http://$FD_NG_ADDR/metrics" 2>/dev/null |
    awk '/^keystone_ng_db_queries_total / { s += $NF } END { printf "%d\n", s }'
}
issue() { # base -> token
  "${CURL[@]}" -D - -o /dev/null -H 'Content-Type: application/json' -d "$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"%s","domain":{"id":"default"}}}}}' "$KSPY_ADMIN_USER" "$KSPY_ADMIN_PASSWORD" "$KSPY_ADMIN_PROJECT")" \
    "$1/v3/auth/tokens" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p'
}
# validate base auth subject [method] -> sets V_CODE, V_BY (keystone-ng|python), V_BODY file
V_BODY="$FD_STATE_DIR/body"
validate() {
  local h m=(-X GET)
  [ "${4:-GET}" = HEAD ] && m=(-I) # -X HEAD would make curl wait for a body
  : >"$V_BODY"
  h=$("${CURL[@]}" "${m[@]}" -D - -o "$V_BODY" -H "X-Auth-Token: $2" -H "X-Subject-Token: $3" \
    -H "X-Openstack-Request-Id: req-00000000-0000-4000-8000-000000000000" "$1/v3/auth/tokens" | tr -d '\r')
  V_CODE=$(printf '%s\n' "$h" | awk 'NR==1 {print $2}')
  if printf '%s\n' "$h" | grep -qi '^openstack-identity-service: keystone-ng'; then V_BY=keystone-ng; else V_BY=python; fi
}
# the parts of a validation body that must not depend on who answered
summary() { python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["token"]; print(t["user"]["id"], t.get("project",{}).get("id"), t["expires_at"], t["audit_ids"], sorted(r["name"] for r in t.get("roles",[])))' "$1" 2>/dev/null || echo "unparseable"; }

FRONTS=("nginx http://127.0.0.1:$FD_NGINX_PORT" "nginx-tls https://127.0.0.1:$FD_NGINX_TLS_PORT"
  "apache http://127.0.0.1:$FD_APACHE_PORT" "apache-wsgi http://127.0.0.1:$FD_APACHE_WSGI_PORT"
  "nginx-uwsgi http://127.0.0.1:$FD_NGINX_UWSGI_PORT" "nginx-identity http://127.0.0.1:$FD_NGINX_IDENTITY_PORT/identity"
  "apache-tls https://127.0.0.1:$FD_APACHE_TLS_PORT" "apache-identity http://127.0.0.1:$FD_APACHE_IDENTITY_PORT/identity")

routing_checks() { # name base
  local name=$1 base=$2 T m0 m1 w0 w1 q0 q1 h
  T=$(issue "$base")
  [ -n "$T" ] && ok "$name: POST /v3/auth/tokens issues a token" || { bad "$name: token issue"; return; }
  m0=$(metric) w0=$(dbwait) q0=$(dbqueries)
  validate "$base" "$T" "$T"
  [ "$V_CODE" = 200 ] && [ "$V_BY" = keystone-ng ] && ok "$name: GET validation 200 from keystone-ng" || bad "$name: GET validation: $V_CODE from $V_BY"
  validate "$base" "$T" "$T" HEAD
  [ "$V_CODE" = 200 ] && [ "$V_BY" = keystone-ng ] && ok "$name: HEAD validation 200 from keystone-ng" || bad "$name: HEAD validation: $V_CODE from $V_BY"
  m1=$(metric) w1=$(dbwait) q1=$(dbqueries)
  [ "$m1" -ge $((m0 + 2)) ] && ok "$name: keystone-ng metrics counted the validations ($m0 -> $m1)" || bad "$name: metrics $m0 -> $m1"
  [ "$w1" -ge $((w0 + 2)) ] && ok "$name: db_concurrency wait metric counted their lookup rounds ($w0 -> $w1)" || bad "$name: db wait metric $w0 -> $w1"
  [ "$q1" -ge $((q0 + 2)) ] && ok "$name: database query metric counted their queries ($q0 -> $q1)" || bad "$name: db queries metric $q0 -> $q1"
  h=$("${CURL[@]}" -D - -o /dev/null "$base/v3" | tr -d '\r')
  printf '%s\n' "$h" | grep -q '^HTTP/[0-9.]* 200' && ! printf '%s\n' "$h" | grep -qi '^openstack-identity-service' &&
    printf '%s\n' "$h" | grep -qi '^x-openstack-request-id: req-' && ok "$name: GET /v3 served by Python (request id passed back)" || bad "$name: GET /v3 not from Python"
  h=$("${CURL[@]}" -D - -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "$base/v3/auth/tokens" | tr -d '\r')
  printf '%s\n' "$h" | grep -q '^HTTP/[0-9.]* 400' && ! printf '%s\n' "$h" | grep -qi '^openstack-identity-service' && ok "$name: bad POST /v3/auth/tokens answered 400 by Python" || bad "$name: POST not from Python"
  h=$("${CURL[@]}" -D - -o /dev/null -X DELETE -H "X-Auth-Token: $T" -H "X-Subject-Token: $T" "$base/v3/auth/tokens" | tr -d '\r')
  printf '%s\n' "$h" | grep -q '^HTTP/[0-9.]* 204' && ! printf '%s\n' "$h" | grep -qi '^openstack-identity-service' && ok "$name: DELETE /v3/auth/tokens (revoke) by Python" || bad "$name: DELETE not from Python"
  validate "$base" "$(issue "$base")" "$T"
  [ "$V_CODE" = 404 ] && [ "$V_BY" = keystone-ng ] && ok "$name: revoked token 404 from keystone-ng" || bad "$name: revoked token: $V_CODE from $V_BY"
  m1=$(metric)
  h=$("${CURL[@]}" -D - -o /dev/null "$base/v3/auth/tokens/" -H "X-Auth-Token: $T" | tr -d '\r')
  ! printf '%s\n' "$h" | grep -qi '^openstack-identity-service' && [ "$(metric)" = "$m1" ] && ok "$name: other spellings (/v3/auth/tokens/) stay with Python" || bad "$name: /v3/auth/tokens/ reached keystone-ng"
  h=$("${CURL[@]}" -D - -o /dev/null "$base/v4/" | tr -d '\r')
  printf '%s\n' "$h" | grep -qi '^openstack-identity-service: keystone-ng' && ok "$name: /v4/ reaches keystone-ng" || bad "$name: /v4/ not from keystone-ng"
}

workflow() { # name base region: Debian's openstack CLI through the front door
  local name=$1 base=$2 region=$3 out u=fd-user-$RANDOM m0 m1 T
  export OS_AUTH_URL="$base/v3" OS_AUTH_TYPE=password OS_IDENTITY_API_VERSION=3 OS_USERNAME="$KSPY_ADMIN_USER" \
    OS_PASSWORD="$KSPY_ADMIN_PASSWORD" OS_PROJECT_NAME="$KSPY_ADMIN_PROJECT" OS_USER_DOMAIN_ID=default \
    OS_PROJECT_DOMAIN_ID=default OS_REGION_NAME="$region" OS_INTERFACE=public OS_CACERT="" OS_INSECURE=true
  m0=$(metric)
  if out=$(
    set -e
    openstack --insecure token issue -f value -c id >/dev/null
    openstack --insecure project create --domain default "p-$u" -f value -c id >/dev/null
    openstack --insecure user create --domain default --password "pw-$u" "$u" -f value -c id >/dev/null
    openstack --insecure role add --project "p-$u" --user "$u" member
    T=$(OS_USERNAME=$u OS_PASSWORD=pw-$u OS_PROJECT_NAME=p-$u openstack --insecure token issue -f value -c id)
    # a validation of that token through the front door, then revoke it with the CLI
    code=$(curl --noproxy '*' -sk -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $T" -H "X-Subject-Token: $T" "$base/v3/auth/tokens")
    [ "$code" = 200 ] || { echo "validation of the new user's token: $code"; exit 1; }
    OS_USERNAME=$u OS_PASSWORD=pw-$u OS_PROJECT_NAME=p-$u openstack --insecure token revoke "$T"
    code=$(curl --noproxy '*' -sk -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $(openstack --insecure token issue -f value -c id)" -H "X-Subject-Token: $T" "$base/v3/auth/tokens")
    [ "$code" = 404 ] || { echo "validation of the revoked token: $code"; exit 1; }
    openstack --insecure user delete "$u"
    openstack --insecure project delete "p-$u"
  ) 2>&1; then ok "$name: openstack CLI workflow (token issue, project/user create, role add, user token issue, revoke)"
  else bad "$name: openstack CLI workflow: $(printf '%s' "$out" | tail -n 3)"; fi
  m1=$(metric)
  [ "$m1" -ge $((m0 + 2)) ] && ok "$name: workflow validations reached keystone-ng ($m0 -> $m1)" || bad "$name: workflow metrics $m0 -> $m1"
}

ksm() { # name base region
  local out
  if out=$(/usr/bin/python3 "$HERE/ksm_frontdoor.py" --front-url "$1" --python-url "${KSPY_URL%/v3}" --region "$3" \
    --user "$KSPY_ADMIN_USER" --password "$KSPY_ADMIN_PASSWORD" --project "$KSPY_ADMIN_PROJECT" \
    --restricted-save "$FD_STATE_DIR/restricted-$3" 2>"$FD_LOG_DIR/ksm-$3.err"); then
    ok "$2: keystonemiddleware accepts a valid token, rejects revoked and garbage ones"
    ok "$2: keystonemiddleware accepts a restricted token (RFC 8693 exchange) on its access rule with its one role, refuses it elsewhere"
  else bad "$2: keystonemiddleware: $out"; fi
}

# ------------------------------------------------------------------ tests
# From here on every check reports itself; a failing command must not end the run.
set +e +o pipefail
printf '\n[frontdoor] ==== routing matrix and header pass-through (echo backends)\n'
if echo_env FD_KEYSTONE_CONF="$KSPY_CONF" "$HERE/frontdoor.sh" up 2>"$FD_LOG_DIR/echo-frontdoor.log"; then
  out=$(/usr/bin/python3 "$HERE/echo_check.py" --ng-port 5842 --py-port 5841 --front nginx=http://127.0.0.1:5850 \
    --front nginx-tls=https://127.0.0.1:5851 --front apache=http://127.0.0.1:5860 \
    --front apache-tls=https://127.0.0.1:5863 2>&1)
  printf '%s\n' "$out" | grep -E '^  (ok|FAIL) '
  passed=$((passed + $(printf '%s\n' "$out" | grep -c '^  ok ')))
  failed=$((failed + $(printf '%s\n' "$out" | grep -c '^  FAIL ')))
  printf '%s\n' "$out" | grep -qE '^  (ok|FAIL) ' || bad "echo_check.py: $(printf '%s' "$out" | tail -n 3)"
else
  bad "rendering/starting the echo front doors: $(tail -n 3 "$FD_LOG_DIR/echo-frontdoor.log")"
fi
echo_env "$HERE/frontdoor.sh" down 2>/dev/null

printf '\n[frontdoor] ==== routing through every front door\n'
for f in "${FRONTS[@]}"; do routing_checks "${f% *}" "${f#* }"; done

printf '\n[frontdoor] ==== keystonemiddleware and the openstack CLI through nginx and Apache\n'
for f in "nginx http://127.0.0.1:$FD_NGINX_PORT" "apache http://127.0.0.1:$FD_APACHE_PORT" "apache-wsgi http://127.0.0.1:$FD_APACHE_WSGI_PORT" "nginx-tls https://127.0.0.1:$FD_NGINX_TLS_PORT" "apache-tls https://127.0.0.1:$FD_APACHE_TLS_PORT"; do
  name=${f% *} base=${f#* }
  case $name in *-tls) ;; *) ksm "$base" "$name" "fd-$name" ;; esac
  case $name in *-tls) /usr/bin/python3 "$HERE/ksm_frontdoor.py" --front-url "$base" --python-url "${KSPY_URL%/v3}" --region "fd-$name" >/dev/null 2>&1 || true ;; esac
  workflow "$name" "$base" "fd-$name"
done
for f in "nginx-uwsgi http://127.0.0.1:$FD_NGINX_UWSGI_PORT" "nginx-identity http://127.0.0.1:$FD_NGINX_IDENTITY_PORT/identity" \
  "apache-identity http://127.0.0.1:$FD_APACHE_IDENTITY_PORT/identity"; do
  name=${f% *} base=${f#* }
  out=$(OS_AUTH_URL="$base/v3" OS_AUTH_TYPE=password OS_IDENTITY_API_VERSION=3 OS_USERNAME="$KSPY_ADMIN_USER" \
    OS_PASSWORD="$KSPY_ADMIN_PASSWORD" OS_PROJECT_NAME="$KSPY_ADMIN_PROJECT" OS_USER_DOMAIN_ID=default \
    OS_PROJECT_DOMAIN_ID=default openstack token issue -f value -c id 2>&1) && [ -n "$out" ] || { bad "$name: openstack token issue: $out"; continue; }
  validate "$base" "$out" "$out"
  [ "$V_CODE" = 200 ] && [ "$V_BY" = keystone-ng ] && ok "$name: openstack token issue + validation by keystone-ng" || bad "$name: validation $V_CODE from $V_BY"
done

printf '\n[frontdoor] ==== login rate limits per client behind nginx and Apache (trusted_proxies)\n'
# The front door appends the client's address to X-Forwarded-For and
# keystone-ng believes it (the front door's 127.0.0.1 is a trusted proxy).
# Clients on other loopback addresses stand for remote ones: a client
# gets login_rate_burst (10) unauthenticated login requests, then 429 with
# Retry-After, whatever X-Forwarded-For it sends itself; another client
# still gets its own.
src=20
for f in "nginx http://127.0.0.1:$FD_NGINX_PORT" "apache http://127.0.0.1:$FD_APACHE_PORT"; do
  name=${f% *} base=${f#* }
  src=$((src + 1)) codes=""
  for i in $(seq 1 12); do
    codes="$codes $("${CURL[@]}" --interface "127.0.0.$src" -o /dev/null -w '%{http_code}' -X POST \
      -H "X-Forwarded-For: 203.0.113.$i" "$base/v4/federation/identity_providers/none/jwt")"
  done
  first10=$(echo "$codes" | awk '{ for (i = 1; i <= 10; i++) if ($i == 429) n++; print n + 0 }')
  last2=$(echo "$codes" | awk '{ print $11 $12 }')
  [ "$first10" = 0 ] && [ "$last2" = 429429 ] && ok "$name: 10 login requests then 429, spoofed X-Forwarded-For ignored" || bad "$name: codes$codes"
  ra=$("${CURL[@]}" --interface "127.0.0.$src" -D - -o /dev/null -X POST "$base/v4/federation/identity_providers/none/jwt" | tr -d '\r' | sed -n 's/^[Rr]etry-[Aa]fter: //p')
  [ -n "$ra" ] && [ "$ra" -ge 1 ] && ok "$name: 429 carries Retry-After ($ra s)" || bad "$name: no Retry-After on 429"
  src=$((src + 1))
  other=$("${CURL[@]}" --interface "127.0.0.$src" -o /dev/null -w '%{http_code}' -X POST "$base/v4/federation/identity_providers/none/jwt")
  [ "$other" != 429 ] && ok "$name: another client keeps its own limit ($other)" || bad "$name: another client limited too"
done

printf '\n[frontdoor] ==== keystone-ng killed (SIGKILL) mid-run, then restarted\n'
ADMIN=$(issue "http://$FD_PY_ADDR")
VALID=$(issue "http://$FD_PY_ADDR")
REVOKED=$(issue "http://$FD_PY_ADDR")
"${CURL[@]}" -o /dev/null -X DELETE -H "X-Auth-Token: $ADMIN" -H "X-Subject-Token: $REVOKED" "http://$FD_PY_ADDR/v3/auth/tokens"
declare -A BEFORE
for f in "${FRONTS[@]}"; do
  validate "${f#* }" "$ADMIN" "$VALID"
  BEFORE[${f% *}]="$V_CODE $(summary "$V_BODY")"
done
# Clients keep validating through every front door while keystone-ng dies:
# every one of their answers must be 200.
LOAD_PIDS=()
for f in "${FRONTS[@]}"; do
  (
    end=$((SECONDS + 4))
    while [ "$SECONDS" -lt "$end" ]; do
      "${CURL[@]}" -o /dev/null -w '%{http_code}\n' -H "X-Auth-Token: $ADMIN" -H "X-Subject-Token: $VALID" "${f#* }/v3/auth/tokens?nocatalog" || echo "curl-error"
    done >"$FD_STATE_DIR/load-${f% *}"
  ) &
  LOAD_PIDS+=($!)
done
sleep 1.5
ng_pid=$(recorded_pid keystone-ng)
kill -KILL "$ng_pid"
wait_until 5 pid_gone "$ng_pid" || true
say "keystone-ng (pid $ng_pid) killed with SIGKILL while clients validate through every front door"
wait "${LOAD_PIDS[@]}"
for f in "${FRONTS[@]}"; do
  n=$(wc -l <"$FD_STATE_DIR/load-${f% *}")
  errs=$(grep -vc '^200$' "$FD_STATE_DIR/load-${f% *}")
  [ "$n" -gt 0 ] && [ "$errs" = 0 ] && ok "${f% *}: $n validations during the kill, all 200" || bad "${f% *}: $errs of $n validations during the kill were not 200: $(sort "$FD_STATE_DIR/load-${f% *}" | uniq -c | tr '\n' ' ')"
done
for f in "${FRONTS[@]}"; do
  name=${f% *} base=${f#* }
  for i in 1 2 3; do # the first request finds it dead; the next ones too (no reload anywhere)
    validate "$base" "$ADMIN" "$VALID"
    got="$V_CODE $(summary "$V_BODY")"
    [ "$got" = "${BEFORE[$name]}" ] && [ "$V_BY" = python ] && [ "${V_CODE}" = 200 ] || { bad "$name: valid token with keystone-ng down (try $i): $V_CODE from $V_BY, '$got' vs '${BEFORE[$name]}'"; continue 2; }
  done
  ok "$name: valid token still 200 with the same token data, served by Python"
  validate "$base" "$ADMIN" "$VALID" HEAD
  [ "$V_CODE" = 200 ] && [ "$V_BY" = python ] && ok "$name: HEAD 200 from Python" || bad "$name: HEAD with keystone-ng down: $V_CODE"
  validate "$base" "$ADMIN" "$REVOKED"
  [ "$V_CODE" = 404 ] && [ "$V_BY" = python ] && ok "$name: revoked token 404 from Python" || bad "$name: revoked token with keystone-ng down: $V_CODE from $V_BY"
  h=$("${CURL[@]}" -D - -o "$V_BODY" "$base/v4/anything" | tr -d '\r')
  printf '%s\n' "$h" | grep -q '^HTTP/[0-9.]* 503' && printf '%s\n' "$h" | grep -qi '^content-type: application/json' &&
    python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["code"]==503 and e["title"]=="Service Unavailable" and e["message"]' "$V_BODY" &&
    ok "$name: /v4 answers 503 in Keystone's JSON error shape" || bad "$name: /v4 with keystone-ng down: $(printf '%s' "$h" | head -n 1)"
done
case "$(/usr/bin/python3 "$HERE/ksm_frontdoor.py" --front-url "http://127.0.0.1:$FD_APACHE_PORT" --python-url "${KSPY_URL%/v3}" --region fd-apache \
  --restricted-use "$FD_STATE_DIR/restricted-fd-apache" >"$FD_LOG_DIR/ksm-down-apache.out" 2>&1 && echo y)" in
  y) ok "apache: keystonemiddleware works with keystone-ng down; Python keeps the restricted token to its access rule and role" ;;
  *) bad "apache: keystonemiddleware with keystone-ng down: $(grep FAIL "$FD_LOG_DIR/ksm-down-apache.out" | head -n 3)" ;; esac
case "$(/usr/bin/python3 "$HERE/ksm_frontdoor.py" --front-url "http://127.0.0.1:$FD_NGINX_PORT" --python-url "${KSPY_URL%/v3}" --region fd-nginx \
  --restricted-use "$FD_STATE_DIR/restricted-fd-nginx" >"$FD_LOG_DIR/ksm-down-nginx.out" 2>&1 && echo y)" in
  y) ok "nginx: keystonemiddleware works with keystone-ng down; Python keeps the restricted token to its access rule and role" ;;
  *) bad "nginx: keystonemiddleware with keystone-ng down: $(grep FAIL "$FD_LOG_DIR/ksm-down-nginx.out" | head -n 3)" ;; esac

start_ng
say "keystone-ng restarted (pid $(recorded_pid keystone-ng)); Apache retries it after retry=5s"
for f in "${FRONTS[@]}"; do
  name=${f% *} base=${f#* } back=0
  m0=$(metric)
  for _ in $(seq 1 40); do # at most ~10 s: Apache's retry=5 plus margin; nginx: the next request
    validate "$base" "$ADMIN" "$VALID"
    [ "$V_CODE" = 200 ] || break
    if [ "$V_BY" = keystone-ng ]; then back=1; break; fi
    sleep 0.25
  done
  [ "$back" = 1 ] && [ "$(metric)" -gt "$m0" ] && [ "$V_CODE $(summary "$V_BODY")" = "${BEFORE[$name]}" ] &&
    ok "$name: keystone-ng takes validation back without a reload (header present, metrics up)" || bad "$name: keystone-ng did not take traffic back ($V_CODE from $V_BY)"
done

printf '\n[frontdoor] ==== keystone-ng answering 500/503 instead of dying\n'
for status in 500 503; do
  stop_recorded keystone-ng TERM
  setsid /usr/bin/python3 "$HERE/fake_5xx.py" "$NG_PORT" "$status" </dev/null >>"$FD_LOG_DIR/fake_5xx.log" 2>&1 9>&- &
  fake=$!
  disown "$fake"
  remember_pid fake-5xx "$fake"
  wait_for_port "$NG_PORT" 5 || true
  for f in "${FRONTS[@]}"; do
    name=${f% *} base=${f#* }
    validate "$base" "$ADMIN" "$VALID"
    [ "$V_CODE $(summary "$V_BODY")" = "${BEFORE[$name]}" ] && [ "$V_BY" = python ] &&
      ok "$name: keystone-ng answering $status -> the same request is answered 200 by Python" || bad "$name: keystone-ng answering $status: client got $V_CODE from $V_BY"
  done
  stop_recorded fake-5xx TERM
done
start_ng

printf '\n[frontdoor] ==== access logs: nothing but GET/HEAD validation and /v4 reached keystone-ng\n'
if awk -v ng="$FD_NG_ADDR" 'index($0, ng) && !/"(GET|HEAD) (\/identity)?\/v3\/auth\/tokens[? ]/ && !/"[A-Z]+ (\/identity)?\/v4/' \
  "$FD_LOG_DIR/nginx-access.log" | grep -q .; then bad "nginx: other requests reached keystone-ng (see $FD_LOG_DIR/nginx-access.log)"
else ok "nginx: access log shows only validation and /v4 sent to keystone-ng"; fi
if awk -v ng="http://$FD_NG_ADDR" 'index($0, "upstream=\"" ng) && !/"(GET|HEAD) (\/identity)?\/v3\/auth\/tokens[? ]/' \
  "$FD_LOG_DIR/apache-access.log" | grep -q .; then bad "apache: other requests reached keystone-ng (see $FD_LOG_DIR/apache-access.log)"
else ok "apache: access log shows only validation sent to keystone-ng's balancer member"; fi
