#!/usr/bin/env bash
# both.sh - bench.sh on each database of BENCH_DBS (mysql postgresql sqlite), one
# after the other (each with its own Python Keystone on the same port,
# stopped before the next starts), then one table of all (table.sh).
# Every bench.sh knob applies; BENCH_OUT (out/bench) gets one folder per
# database and summary.md with the table.
set -Eeuo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/out/bench}
DBS=${BENCH_DBS:-mysql postgresql sqlite}
rc=0
dirs=()
# Each database's Python Keystone takes the same port: stop any left
# running by an earlier bench.sh first.
for db in mysql postgresql sqlite; do
  [ -f "/tmp/keystone-ng-bench-$db/env" ] &&
    { KSPY_DB=$db KSPY_STATE_DIR=/tmp/keystone-ng-bench-$db "$ROOT/deploy/keystone-py/down.sh" >&2 || true; }
done
for db in $DBS; do
  printf '[bench] ==== %s\n' "$db" >&2
  BENCH_DB=$db BENCH_OUT="$OUT/$db" "$HERE/bench.sh" || { rc=1; printf '[bench] %s: bench.sh failed\n' "$db" >&2; }
  KSPY_DB=$db KSPY_STATE_DIR=/tmp/keystone-ng-bench-$db "$ROOT/deploy/keystone-py/down.sh" >&2 || true
  dirs+=("$OUT/$db")
done
{
  echo "## GET /v3/auth/tokens, same project token, catalog included, c=${BENCH_CONNS:-16} ($(date -u +%F))"
  echo
  "$HERE/table.sh" "${dirs[@]}"
} | tee "$OUT/summary.md"
exit $rc
