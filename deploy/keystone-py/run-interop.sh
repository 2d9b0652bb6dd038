#!/usr/bin/env bash
# run-interop.sh - the Python Keystone <-> keystone-ng interop suite, per database.
#
# For each database in ${KSPY_DBS:-mysql postgresql sqlite}: up.sh (own port and
# state dir), `go test -count=1 -v ./pkg/interop/...` with KSNG_INTEROP_ENV
# pointing at that instance, then down.sh. Exits non-zero if any phase failed;
# prints how long each phase took.
#
# Knobs: KSPY_DBS, KSPY_BASE_PORT (5400: mysql 5401, postgresql 5402, sqlite 5403),
# KSNG_INTEROP_RUN (go test -run filter), KSNG_INTEROP_PURGE=0 (keep the
# databases and state dirs afterwards; default is down.sh --purge),
# KSNG_INTEROP_TIMEOUT (go test -timeout, default 30m), GO (go binary),
# KSNG_INTEROP_LDAP=0 (skip the LDAP phase: slapd on KSNG_INTEROP_LDAP_PORT,
# default 3890, and Python on KSPY_BASE_PORT + 10 with an LDAP domain).
# KSNG_JWS_DBS (databases of the JWS runs, default "mysql sqlite"; empty: none),
# KSNG_JWS_RUN (go test -run filter of the JWS runs).
# KSNG_INTEROP_AUDIT=0 (skip the audit phase: RabbitMQ, started when it does
# not run, a fresh vhost KSNG_INTEROP_AUDIT_VHOST, default
# audit-keystone-ng-interop, and Python on SQLite on KSPY_BASE_PORT + 20
# publishing its notifications there; KSNG_INTEROP_AUDIT_STATE and
# KSNG_INTEROP_AUDIT_DB_NAME name its state dir and database).
# Run as root from anywhere inside the repository.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DBS=${KSPY_DBS:-mysql postgresql sqlite}
BASE_PORT=${KSPY_BASE_PORT:-5400}
PURGE=${KSNG_INTEROP_PURGE:-1}
TIMEOUT=${KSNG_INTEROP_TIMEOUT:-30m}
GO=${GO:-go}
command -v "$GO" >/dev/null 2>&1 || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; }

# The v4 tests need Chromium (passkeys in a real browser) and Python's
# lockout rules switched on (a failed passkey counts like a failed password):
# both go through up.sh's knobs unless the caller set them.
export KSPY_EXTRA_PKGS=${KSPY_EXTRA_PKGS-chromium}
if [ -z "${KSPY_EXTRA_CONF:-}" ]; then
  KSPY_EXTRA_CONF=$(mktemp /tmp/keystone-ng-interop-extra.XXXXXX.conf)
  trap 'rm -f "$KSPY_EXTRA_CONF"' EXIT
  cat >"$KSPY_EXTRA_CONF" <<'EOF'
[security_compliance]
# pkg/interop/v4_passkeys_test.go locks a user out on purpose
lockout_failure_attempts = 3
lockout_duration = 15

[trust]
# pkg/interop/redelegation_test.go redelegates trusts through Python's API
allow_redelegation = true
EOF
  chmod 0644 "$KSPY_EXTRA_CONF"
  export KSPY_EXTRA_CONF
fi

declare -a SUMMARY=()
passed=0
nfailed=0

# keystonemiddleware (Debian's python3-keystonemiddleware) against Python
# Keystone directly and through a front door that sends validation to a
# keystone-ng started here on the same database and keys.
ksm_check() { # state-dir port
  local state=$1 port=$2 bin dir pid rc=0
  dir=$(mktemp -d)
  bin="$dir/keystone-ng"
  (cd "$ROOT" && "$GO" build -o "$bin" ./cmd/keystone-ng) || return 1
  # shellcheck disable=SC1091
  . "$state/env"
  printf '[keystone_ng]\nlisten = 127.0.0.1:%s\n' "$port" >"$dir/ng.conf"
  "$bin" serve --config-file "$KSPY_CONF" --config-file "$dir/ng.conf" >"$dir/keystone-ng.log" 2>&1 &
  pid=$!
  for _ in $(seq 150); do curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null && break; sleep 0.2; done
  /usr/bin/python3 "$ROOT/pkg/interop/testdata/ksm_check.py" --python-url "${KSPY_URL%/v3}" \
    --ng-url "http://127.0.0.1:$port" --user "$KSPY_ADMIN_USER" --password "$KSPY_ADMIN_PASSWORD" \
    --project "$KSPY_ADMIN_PROJECT" 2> >(grep -v -e 'deprecated' -e 'not known to keystonemiddleware' -e 'Authorization failed' >&2) || rc=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ "$rc" != 0 ]; then
    echo "[run-interop] keystone-ng log:"
    tail -n 30 "$dir/keystone-ng.log"
  fi
  rm -rf "$dir"
  return "$rc"
}
failed=0

phase() { # label command... : run, time and record one phase; never exits
  local label=$1 t0 rc
  shift
  t0=$(date +%s)
  printf '\n[run-interop] ==== %s\n' "$label"
  set +e
  "$@"
  rc=$?
  set -e
  local secs=$(($(date +%s) - t0))
  SUMMARY+=("$(printf '%-40s %5ss  %s' "$label" "$secs" "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  printf '[run-interop] ==== %s: %s in %ss\n' "$label" "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")" "$secs"
  if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=1; nfailed=$((nfailed + 1)); fi
  return "$rc"
}

# pkg/interop/v4_oidc_browser_test.go runs an independent OpenID provider
# (npm's oidc-provider, pinned by its package-lock.json) under Node.js:
# node and npm come with the machine (nothing is apt-get installed for
# them); its npm dependencies are installed once here, not per database.
oidc_provider_deps() {
  local dir="$ROOT/pkg/interop/testdata/oidc-provider" tool
  for tool in node npm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "[run-interop] $tool not found (Debian: nodejs npm)" >&2; return 1; }
  done
  [ -d "$dir/node_modules/oidc-provider" ] && return 0
  (cd "$dir" && npm ci --no-audit --no-fund)
}
phase "oidc-provider: npm ci" oidc_provider_deps || true

i=0
for db in $DBS; do
  i=$((i + 1))
  port=$((BASE_PORT + i))
  state="/tmp/keystone-ng-interop-$db"
  # own database name, so a developer's up.sh instance of the same kind is left alone
  export KSPY_DB=$db KSPY_PORT=$port KSPY_STATE_DIR=$state KSPY_DB_NAME="keystone_ng_runinterop_$db"
  if phase "$db: up.sh (port $port)" "$HERE/up.sh"; then
    # shellcheck disable=SC2016 # "$1" and "$@" belong to the inner bash
    phase "$db: go test ./pkg/interop/..." \
      env KSNG_INTEROP_ENV="$state/env" bash -c 'cd "$1" && shift && exec "$@"' _ "$ROOT" \
      "$GO" test -count=1 -v -timeout "$TIMEOUT" ${KSNG_INTEROP_RUN:+-run "$KSNG_INTEROP_RUN"} ./pkg/interop/... || true
    phase "$db: keystonemiddleware" ksm_check "$state" $((port + 50)) || true
  fi
  if [ "$PURGE" = 1 ]; then
    phase "$db: down.sh --purge" "$HERE/down.sh" --purge || true
  else
    phase "$db: down.sh" "$HERE/down.sh" || true
  fi
done

# LDAP (MariaDB only, a few minutes): a throw-away slapd (deploy/ldap) and a
# Python Keystone with an LDAP domain beside its SQL default domain; only
# pkg/interop's TestInteropLDAP and pkg/ldapidentity's tests against the
# directory run there, and TestInteropRoundTrips: an SQL user's validation
# reads no more statements with an LDAP domain configured. KSNG_INTEROP_LDAP=0
# skips the phase.
if [ "${KSNG_INTEROP_LDAP:-1}" = 1 ]; then
  ldap_state=/tmp/keystone-ng-interop-slapd
  ldap_port=$((BASE_PORT + 10))
  py_state=/tmp/keystone-ng-interop-ldap-mysql
  ldap_env=(KSPY_DB=mysql KSPY_PORT="$ldap_port" KSPY_STATE_DIR="$py_state" KSPY_DB_NAME=keystone_ng_runinterop_ldap
    KSPY_LDAP_DOMAIN=ldapdom KSPY_LDAP_ENV="$ldap_state/env")
  if phase "ldap: slapd up" env KSLDAP_PORT="${KSNG_INTEROP_LDAP_PORT:-3890}" KSLDAP_STATE_DIR="$ldap_state" "$ROOT/deploy/ldap/up.sh" &&
    phase "ldap (mysql): up.sh (port $ldap_port)" env "${ldap_env[@]}" "$HERE/up.sh"; then
    # shellcheck disable=SC2016 # "$1" and "$@" belong to the inner bash
    phase "ldap (mysql): go test -run 'TestInteropLDAP|TestInteropRoundTrips$' ./pkg/interop/" \
      env KSNG_INTEROP_ENV="$py_state/env" bash -c 'cd "$1" && shift && exec "$@"' _ "$ROOT" \
      "$GO" test -count=1 -v -timeout "$TIMEOUT" -run 'TestInteropLDAP|TestInteropRoundTrips$' ./pkg/interop/ || true
    # the directory reads against the real slapd, the pool under the race detector
    # shellcheck disable=SC2016 # "$1" and "$@" belong to the inner bash
    phase "ldap: go test -race -run Slapd ./pkg/ldapidentity/" \
      env KSNG_LDAP_ENV="$ldap_state/env" bash -c 'cd "$1" && shift && exec "$@"' _ "$ROOT" \
      "$GO" test -count=1 -v -race -run 'Slapd' ./pkg/ldapidentity/ || true
  fi
  if [ "$PURGE" = 1 ]; then
    phase "ldap (mysql): down.sh --purge" env "${ldap_env[@]}" "$HERE/down.sh" --purge || true
    phase "ldap: slapd down --purge" env KSLDAP_STATE_DIR="$ldap_state" "$ROOT/deploy/ldap/down.sh" --purge || true
  else
    phase "ldap (mysql): down.sh" env "${ldap_env[@]}" "$HERE/down.sh" || true
    phase "ldap: slapd down" env KSLDAP_STATE_DIR="$ldap_state" "$ROOT/deploy/ldap/down.sh" || true
  fi
fi
# JWS: Python configured with [token] provider = jws (up.sh
# KSPY_TOKEN_PROVIDER=jws) on MariaDB and SQLite. Not the whole suite, to
# keep CI short: the scenario (every token kind Python issues, every state
# change, JWS key rotation), the domain-specific-role trust, crafted JWS
# tokens, a /v4 login minting a JWS token that Python validates and
# rescopes, and restricted tokens (an application credential's JWS token).
# Tests that only make sense for Fernet skip. The rest of the suite is
# format-independent once a token is opened; run it under JWS with
# KSNG_JWS_RUN=. (the redelegated-trust, OAuth1 and federated tests pass).
JWS_DBS=${KSNG_JWS_DBS-mysql sqlite}
JWS_RUN=${KSNG_JWS_RUN:-'^(TestInteropScenario|TestInteropTrustDomainSpecificRole|TestInteropJWSTokens|TestInteropJWSLogin|TestInteropRestrictedTokens)$'}
j=0
for db in $JWS_DBS; do
  j=$((j + 1))
  port=$((BASE_PORT + 10 + j))
  state="/tmp/keystone-ng-interop-jws-$db"
  export KSPY_DB=$db KSPY_PORT=$port KSPY_STATE_DIR=$state KSPY_DB_NAME="keystone_ng_runinterop_jws_$db" KSPY_TOKEN_PROVIDER=jws
  if phase "$db jws: up.sh (port $port)" "$HERE/up.sh"; then
    # shellcheck disable=SC2016 # "$1" and "$@" belong to the inner bash
    phase "$db jws: go test ./pkg/interop/ (JWS subset)" \
      env KSNG_INTEROP_ENV="$state/env" bash -c 'cd "$1" && shift && exec "$@"' _ "$ROOT" \
      "$GO" test -count=1 -v -timeout "$TIMEOUT" -run "$JWS_RUN" ./pkg/interop/ || true
    phase "$db jws: keystonemiddleware" ksm_check "$state" $((port + 50)) || true
  fi
  if [ "$PURGE" = 1 ]; then
    phase "$db jws: down.sh --purge" "$HERE/down.sh" --purge || true
  else
    phase "$db jws: down.sh" "$HERE/down.sh" || true
  fi
done
unset KSPY_TOKEN_PROVIDER

# Audit notifications (docs/audit.md §6, about a minute): RabbitMQ (Debian's
# rabbitmq-server, installed and started when missing; a running broker is
# only given a fresh vhost of its own, never reconfigured), Python on SQLite
# publishing its notifications there (up.sh KSPY_NOTIFICATIONS), and
# TestInteropAudit: an oslo.messaging consumer compares Python's events with
# keystone-ng's, and keystone-ng loses its bus (a proxy the test stops)
# during a burst of logins.
audit_bus() { # vhost: a running broker and a fresh vhost guest may use
  local vhost=$1 log="${TMPDIR:-/tmp}/keystone-ng-rabbitmq.log"
  (
    # shellcheck disable=SC2034 # read by common.sh
    LOG_TAG=run-interop
    # shellcheck source=../lib/common.sh
    . "$ROOT/deploy/lib/common.sh"
    apt_install "${TMPDIR:-/tmp}/keystone-ng-rabbitmq-apt.log" rabbitmq-server
    if ! listening_on 5672; then
      say "starting RabbitMQ (log: $log)"
      setsid /usr/sbin/rabbitmq-server </dev/null >>"$log" 2>&1 9>&- &
      wait_until 90 rabbitmqctl -q await_startup >/dev/null 2>&1 || fail "RabbitMQ did not start, see $log"
    fi
    rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
    rabbitmqctl -q add_vhost "$vhost" && rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'
  )
}
if [ "${KSNG_INTEROP_AUDIT:-1}" = 1 ]; then
  audit_vhost=${KSNG_INTEROP_AUDIT_VHOST:-audit-keystone-ng-interop}
  audit_port=$((BASE_PORT + 20))
  audit_state=${KSNG_INTEROP_AUDIT_STATE:-/tmp/keystone-ng-interop-audit}
  audit_env=(KSPY_DB=sqlite KSPY_PORT="$audit_port" KSPY_STATE_DIR="$audit_state"
    KSPY_DB_NAME="${KSNG_INTEROP_AUDIT_DB_NAME:-keystone_ng_runinterop_audit}"
    KSPY_NOTIFICATIONS="rabbit://guest:guest@127.0.0.1:5672/$audit_vhost")
  if phase "audit: RabbitMQ vhost $audit_vhost" audit_bus "$audit_vhost" &&
    phase "audit (sqlite): up.sh (port $audit_port)" env "${audit_env[@]}" "$HERE/up.sh"; then
    # shellcheck disable=SC2016 # "$1" and "$@" belong to the inner bash
    phase "audit (sqlite): go test -run TestInteropAudit ./pkg/interop/" \
      env KSNG_INTEROP_ENV="$audit_state/env" bash -c 'cd "$1" && shift && exec "$@"' _ "$ROOT" \
      "$GO" test -count=1 -v -timeout "$TIMEOUT" -run 'TestInteropAudit$' ./pkg/interop/ || true
  fi
  if [ "$PURGE" = 1 ]; then
    phase "audit (sqlite): down.sh --purge" env "${audit_env[@]}" "$HERE/down.sh" --purge || true
    rabbitmqctl -q delete_vhost "$audit_vhost" >/dev/null 2>&1 || true
  else
    phase "audit (sqlite): down.sh" env "${audit_env[@]}" "$HERE/down.sh" || true
  fi
fi

printf '\n[run-interop] summary\n'
printf '  %s\n' "${SUMMARY[@]}"
if [ "$failed" != 0 ]; then
  printf '[run-interop] FAILED\n'
else
  printf '[run-interop] all passed\n'
fi
# Last line, in the plain "N passed, N failed" form CI reads.
printf 'interop: %d passed, %d failed\n' "$passed" "$nfailed"
[ "$failed" = 0 ]
