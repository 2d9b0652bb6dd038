#!/usr/bin/env bash
# cpuload.sh - load one keystone-ng binary alone against the bench database
# and print requests/s, p50, p99 and the CPU time per request of keystone-ng
# and of the database server, for comparing builds in interleaved runs:
#
#   deploy/bench/cpuload.sh BIN_A BIN_B BIN_A BIN_B ...
#
# Needs the Python Keystone of deploy/bench/bench.sh (its state dir,
# /tmp/keystone-ng-bench-$BENCH_DB, is reused; run bench.sh once first).
# Knobs: BENCH_DB (mysql), BENCH_CONNS (16), BENCH_THREADS (2),
# BENCH_SECONDS (8), BENCH_NG_PORT (5202), BENCH_TOKENS (0: the one token
# as caller and subject; N: keystonemiddleware's shape, one service token
# and N subject tokens, deploy/bench/tokens.sh); the environment
# (GOMAXPROCS, GOGC, ...) is passed to keystone-ng.
set -Eeuo pipefail
DB=${BENCH_DB:-mysql}
CONNS=${BENCH_CONNS:-16}
THREADS=${BENCH_THREADS:-2}
SECS=${BENCH_SECONDS:-8}
PORT=${BENCH_NG_PORT:-5202}
STATE=/tmp/keystone-ng-bench-$DB
[ $# -gt 0 ] || { echo "usage: $0 KEYSTONE_NG_BINARY..." >&2; exit 2; }
[ -f "$STATE/env" ] || { echo "no bench Python Keystone in $STATE: run deploy/bench/bench.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$STATE/env"
# CPU accounting: ticks_of, db_ticks, ticks_delta, HZ.
# shellcheck source=cputicks.sh
. "$(dirname "$0")/cputicks.sh"
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
printf '[keystone_ng]\nlisten = 127.0.0.1:%s\nlog_level = warn\n' "$PORT" >"$conf"
token() {
  curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$KSPY_ADMIN_USER\",\"domain\":{\"id\":\"default\"},\"password\":\"$KSPY_ADMIN_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"$KSPY_ADMIN_PROJECT\",\"domain\":{\"id\":\"default\"}}}}}" \
    "$KSPY_URL/auth/tokens" | tr -d '\r' | awk 'tolower($1)=="x-subject-token:"{print $2}'
}
T=$(token)
[ -n "$T" ] || { echo "could not get a token from $KSPY_URL" >&2; exit 1; }
t0=$(mktemp); t1=$(mktemp); n0f=$(mktemp); n1f=$(mktemp); lua=$(mktemp)
trap 'rm -f "$conf" "$t0" "$t1" "$n0f" "$n1f" "$lua"' EXIT
LOADARGS=(-H "X-Auth-Token: $T" -H "X-Subject-Token: $T")
if [ "${BENCH_TOKENS:-0}" -gt 0 ]; then
  # shellcheck source=tokens.sh
  . "$(dirname "$0")/tokens.sh"
  subjects=()
  for _ in $(seq "$BENCH_TOKENS"); do subjects+=("$(token)"); done
  many_tokens_lua "$lua" "$T" "${subjects[@]}"
  LOADARGS=(-s "$lua")
fi
for bin in "$@"; do
  "$bin" serve --config-file "$KSPY_CONF" --config-file "$conf" >/dev/null 2>&1 &
  ng=$!
  for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break; sleep 0.1; done
  url="http://127.0.0.1:$PORT/v3/auth/tokens"
  wrk -t"$THREADS" -c"$CONNS" -d2s "${LOADARGS[@]}" "$url" >/dev/null
  ticks_of "$ng" >"$n0f"; db_ticks >"$t0"
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "${LOADARGS[@]}" "$url")
  ticks_of "$ng" >"$n1f"; db_ticks >"$t1"
  kill $ng; wait $ng 2>/dev/null || true
  echo "$out" | awk -v bin="$bin" -v dn="$(ticks_delta "$n0f" "$n1f")" -v dd="$(ticks_delta "$t0" "$t1")" -v hz="$HZ" '
    /requests in/ {reqs=$1} /Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Non-2xx/ {bad=$NF}
    END { printf "%s: %s req/s, p50 %s, p99 %s, non-2xx %d, CPU per request: keystone-ng %.0f us, database %.0f us\n",
          bin, rps, p50, p99, bad+0, dn*1e6/hz/reqs, dd*1e6/hz/reqs }'
done
