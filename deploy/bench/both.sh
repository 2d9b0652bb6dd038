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
# The ceiling this machine allows: BenchmarkValidateHTTPInMemory, the
# same HTTP stack and rendering over an in-memory store (median of three
# runs, before any load). The machine's speed drifts between runs by a
# third or more, and the p99 follows it; each table states its machine's
# ceiling and each figure's share of it (docs/performance.md).
# BENCH_SKIP_CEILING=1 skips it.
ceiling=""
if [ "${BENCH_SKIP_CEILING:-0}" != 1 ]; then
  printf '[bench] the ceiling: BenchmarkValidateHTTPInMemory, three runs\n' >&2
  ceiling=$(cd "$ROOT" && go test -run '^$' -bench ValidateHTTPInMemory -benchtime "${BENCH_CEILING_REQUESTS:-20000}x" -count 3 ./pkg/httpapi |
    awk '{ for (i = 2; i <= NF; i++) if ($i == "req/s") print $(i - 1) }' | sort -n | sed -n 2p) || ceiling=""
  [ -n "$ceiling" ] || printf '[bench] the ceiling benchmark failed; the table goes without it\n' >&2
fi
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
  BENCH_CEILING=$ceiling "$HERE/table.sh" "${dirs[@]}"
  if [ -n "$ceiling" ]; then
    echo
    echo "- the ceiling on this machine (BenchmarkValidateHTTPInMemory, median of three runs): $ceiling req/s"
  fi
} | tee "$OUT/summary.md"
exit $rc
