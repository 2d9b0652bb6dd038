#!/usr/bin/env bash
# bench.sh - load the same token against Python Keystone and keystone-ng on
# the same database, side by side, and print requests/s, p50, p99 and the
# ratios. Loopback only, bounded duration.
#
# Scenarios (wrk, BENCH_THREADS threads, BENCH_CONNS connections, BENCH_DURATION):
#   python-nocache  Python Keystone 22 with [cache] enabled = false
#   python-memcache Python Keystone 22 with memcached (dogpile.cache.pymemcache)
#   keystone-ng     keystone-ng beside it (no cache of authorization data)
#   keystone-ng-gomaxprocs1  the same with GOMAXPROCS=1
# and then logins/s (deploy/bench/jwtbench): keystone-ng's JWT workload
# login against Python's password login, both to a project token.
# Both services validate X-Subject-Token = X-Auth-Token = a project-scoped
# admin token, catalog included (GET /v3/auth/tokens). keystone-ng's
# resident memory is sampled during its run, and the SQL statements one
# validation costs are counted with MariaDB's Com_select.
#
# Then, with BENCH_TOKENS subject tokens (32; 0 skips it), the load shaped
# as keystonemiddleware's (deploy/bench/tokens.sh): one service token as
# X-Auth-Token on every request, X-Subject-Token cycling through the
# others; keystone-ng-many and python-memcache-many. That load shares less
# between waiting validations than the one token above
# (docs/validation.md, "Rounds asking the same").
#
# Knobs: BENCH_DB (mysql), BENCH_CONNS (16), BENCH_THREADS (2),
# BENCH_DURATION (20s), BENCH_WARMUP (5s), BENCH_PY_DURATION (20s),
# BENCH_OUT (out/bench), BENCH_SKIP_PYTHON=1 (keystone-ng only),
# BENCH_NG_BIN (a keystone-ng binary to load instead of building this tree),
# BENCH_SKIP_LOGIN=1 (no login figures), BENCH_SKIP_GOMAXPROCS1=1 (no
# second keystone-ng run with GOMAXPROCS=1), BENCH_TOKENS (32).
#
# Besides requests/s and latency, each keystone-ng run reports the queries
# per validation under load and one at a time, and the CPU time keystone-ng,
# the database server and wrk spent per 1000 validations. figures.txt holds
# the same as one line for deploy/bench/table.sh (make bench: every
# database in one table).
set -Eeuo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DB=${BENCH_DB:-mysql}
CONNS=${BENCH_CONNS:-16}
THREADS=${BENCH_THREADS:-2}
DUR=${BENCH_DURATION:-20s}
PYDUR=${BENCH_PY_DURATION:-20s}
WARM=${BENCH_WARMUP:-5s}
OUT=${BENCH_OUT:-$ROOT/out/bench}
STATE=/tmp/keystone-ng-bench-$DB
NTOKENS=${BENCH_TOKENS:-32}
PYPORT=${BENCH_PY_PORT:-5201}
NGPORT=${BENCH_NG_PORT:-5202}
mkdir -p "$OUT"
say() { printf '[bench] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { say "installing wrk"; apt-get install -y -q wrk >/dev/null; }

# The bench's own database (not the interop suite's default name), so that
# an interop run on the same machine never drops or fills it.
up() { KSPY_DB=$DB KSPY_DB_NAME=keystone_ng_bench_$DB KSPY_STATE_DIR=$STATE KSPY_PORT=$PYPORT KSPY_CACHE=$1 "$ROOT/deploy/keystone-py/up.sh" >&2; }
# A state dir left by an older bench.sh on another database name is
# purged (its Python stopped, its database dropped) rather than refused.
if [ -s "$STATE/run/db" ] && [ "$(cat "$STATE/run/db")" != "$DB keystone_ng_bench_$DB" ]; then
  say "purging $STATE (it belongs to database '$(cat "$STATE/run/db")')"
  KSPY_STATE_DIR=$STATE "$ROOT/deploy/keystone-py/down.sh" --purge >&2 || true
fi
up 0
# shellcheck disable=SC1091
. "$STATE/env"

if [ -n "${BENCH_NG_BIN:-}" ]; then
  # A binary built elsewhere (an earlier commit): before/after runs of the
  # same script on the same Python Keystone (docs/performance.md).
  say "using $BENCH_NG_BIN"
  cp "$BENCH_NG_BIN" "$OUT/keystone-ng"
else
  say "building keystone-ng"
  (cd "$ROOT" && go build -trimpath -o "$OUT/keystone-ng" ./cmd/keystone-ng)
fi
# login_rate_limit = 0: jwtbench logs in as fast as it can from 127.0.0.1;
# outbound_allowed_networks: its identity provider's JWKS is on 127.0.0.1.
printf '[keystone_ng]\nlisten = 127.0.0.1:%s\nlog_level = warn\nlogin_rate_limit = 0\noutbound_allowed_networks = 127.0.0.0/8\n' "$NGPORT" > "$OUT/ng.conf"
"$OUT/keystone-ng" db migrate --config-file "$KSPY_CONF" --config-file "$OUT/ng.conf" >"$OUT/keystone-ng-migrate.log" 2>&1 ||
  { say "keystone-ng db migrate failed"; cat "$OUT/keystone-ng-migrate.log" >&2; exit 1; }
# start_ng [ENV=VALUE...]: (re)start keystone-ng with extra environment.
NGPID=
start_ng() {
  [ -n "$NGPID" ] && { kill "$NGPID" 2>/dev/null || true; wait "$NGPID" 2>/dev/null || true; }
  env "$@" "$OUT/keystone-ng" serve --config-file "$KSPY_CONF" --config-file "$OUT/ng.conf" >>"$OUT/keystone-ng.log" 2>&1 &
  NGPID=$!
  for _ in $(seq 150); do curl -fsS -o /dev/null "http://127.0.0.1:$NGPORT/healthz" 2>/dev/null && return 0; sleep 0.2; done
  say "keystone-ng did not start"; cat "$OUT/keystone-ng.log" >&2; exit 1
}
trap '[ -n "$NGPID" ] && kill $NGPID 2>/dev/null || true' EXIT
: >"$OUT/keystone-ng.log"
start_ng

token() {
  curl -fsS -D - -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$KSPY_ADMIN_USER\",\"domain\":{\"id\":\"default\"},\"password\":\"$KSPY_ADMIN_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"$KSPY_ADMIN_PROJECT\",\"domain\":{\"id\":\"default\"}}}}}" \
    "$KSPY_URL/auth/tokens" | tr -d '\r' | awk 'tolower($1)=="x-subject-token:"{print $2}'
}
T=$(token)
[ -n "$T" ] || { say "could not get a token"; exit 1; }
# shellcheck source=tokens.sh
. "$ROOT/deploy/bench/tokens.sh"
# What wrk sends: the one token as caller and subject (single_load), or
# the keystonemiddleware-shaped script (many_load).
LOADARGS=()
single_load() { LOADARGS=(-H "X-Auth-Token: $T" -H "X-Subject-Token: $T"); }
many_load() { many_tokens_lua "$OUT/many.lua" "$T" "${SUBJECTS[@]}"; LOADARGS=(-s "$OUT/many.lua"); }
single_load
SUBJECTS=()
if [ "$NTOKENS" -gt 0 ]; then
  say "getting $NTOKENS subject tokens"
  for _ in $(seq "$NTOKENS"); do SUBJECTS+=("$(token)"); done
fi

# Same answer from both before measuring anything.
py=$(curl -fsS -H "X-Auth-Token: $T" -H "X-Subject-Token: $T" "$KSPY_URL/auth/tokens" | python3 -c 'import json,sys; d=json.load(sys.stdin)["token"]; print(d["user"]["id"], d["project"]["id"], sorted(r["name"] for r in d["roles"]))')
ng=$(curl -fsS -H "X-Auth-Token: $T" -H "X-Subject-Token: $T" "http://127.0.0.1:$NGPORT/v3/auth/tokens" | python3 -c 'import json,sys; d=json.load(sys.stdin)["token"]; print(d["user"]["id"], d["project"]["id"], sorted(r["name"] for r in d["roles"]))')
[ "$py" = "$ng" ] || { say "Python and keystone-ng disagree: $py vs $ng"; exit 1; }

# wrk_run NAME URL DURATION -> "rps p50ms p99ms non2xx"; wrk's own CPU
# seconds (user + system) go to $OUT/wrk-NAME.cpu.
wrk_run() {
  local name=$1 url=$2 dur=$3 f="$OUT/wrk-$1.txt"
  (
    wrk -t"$THREADS" -c"$CONNS" -d"$dur" --timeout 60s --latency "${LOADARGS[@]}" "$url" >"$f" 2>&1
    # bash's times: the second line is the children's (wrk's) user and
    # system time, as 1m2.345s. Not in a pipeline: there it would run in
    # a subshell of its own, which has no children.
    times >"$OUT/wrk-$name.times"
    awk 'NR==2{split($1,u,"m"); split($2,s,"m"); printf "%.3f\n", u[1]*60+u[2]+s[1]*60+s[2]}' "$OUT/wrk-$name.times" >"$OUT/wrk-$name.cpu"
  )
  awk -v n="$name" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    /^ +50%/ {p50=ms($2)} /^ +99%/ {p99=ms($2)} /Requests\/sec/ {rps=$2} /Non-2xx/ {bad=$NF}
    END { printf "%s %.2f %.2f %.2f %d\n", n, rps, p50, p99, bad+0 }' "$f"
}

results="$OUT/results.txt"
: >"$results"
NGURL="http://127.0.0.1:$NGPORT/v3/auth/tokens"

# CPU accounting: ticks_of, db_ticks, ticks_delta, HZ.
# shellcheck source=cputicks.sh
. "$ROOT/deploy/bench/cputicks.sh"

# metric NAME: an unlabelled counter from keystone-ng's /metrics.
metric() { curl -fsS "http://127.0.0.1:$NGPORT/metrics" | awk -v n="$1" '$1==n{printf "%d", $2}'; }

# ng_run NAME: warm up, then load keystone-ng, sampling its resident memory
# and reading from its metrics the queries and the batching under load.
ng_run() {
  say "warming up $1 ($WARM)"
  wrk -t"$THREADS" -c"$CONNS" -d"$WARM" "${LOADARGS[@]}" "$NGURL" >/dev/null 2>&1
  say "$1: $DUR at c=$CONNS"
  ( peak=0; while kill -0 $NGPID 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$NGPID/status 2>/dev/null || echo 0); [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" >"$OUT/rss-peak-kb-$1"; sleep 0.2; done ) &
  local rsspid=$!
  local q0 b0 r0 c0 v0
  q0=$(metric keystone_ng_db_queries_total); b0=$(metric keystone_ng_db_batches_total); r0=$(metric keystone_ng_db_batched_rounds_total); c0=$(metric keystone_ng_db_coalesced_rounds_total)
  v0=$(curl -fsS "http://127.0.0.1:$NGPORT/metrics" | awk '$1 ~ /^keystone_ng_token_validations_total/ {s+=$2} END{printf "%d", s}')
  ticks_of "$NGPID" >"$OUT/ticks-ng-0"; db_ticks >"$OUT/ticks-db-0"
  wrk_run "$1" "$NGURL" "$DUR" >>"$results"
  ticks_of "$NGPID" >"$OUT/ticks-ng-1"; db_ticks >"$OUT/ticks-db-1"
  kill $rsspid 2>/dev/null || true
  local q1 b1 r1 c1 v1
  q1=$(metric keystone_ng_db_queries_total); b1=$(metric keystone_ng_db_batches_total); r1=$(metric keystone_ng_db_batched_rounds_total); c1=$(metric keystone_ng_db_coalesced_rounds_total)
  v1=$(curl -fsS "http://127.0.0.1:$NGPORT/metrics" | awk '$1 ~ /^keystone_ng_token_validations_total/ {s+=$2} END{printf "%d", s}')
  # keystone_ng_token_validations_total counts requests; under the
  # keystonemiddleware-shaped load each validates two tokens (the service's
  # and the subject), so its figures are per request, rounds per token.
  local per=validation pers=validations
  [ "${LOADARGS[0]}" = -s ] && per="request (two tokens)" pers="requests (two tokens each)"
  awk -v n="$1" -v per="$per" -v q=$((q1 - q0)) -v b=$((b1 - b0)) -v r=$((r1 - r0)) -v c=$((${c1:-0} - ${c0:-0})) -v v=$((v1 - v0)) 'BEGIN{
    if (v > 0) printf "- %s under load: %.2f queries per %s, %.1f rounds per %s in shared statements (mean %.1f rounds per statement), %.1f per %s handed the rows of an identical round\n", n, q/v, per, r/v, per, (b > 0 ? r/b : 0), c/v, per }' >>"$OUT/load-queries.txt"
  # CPU milliseconds per 1000 validations: keystone-ng, the database, wrk.
  local tn td cw
  tn=$(ticks_delta "$OUT/ticks-ng-0" "$OUT/ticks-ng-1"); td=$(ticks_delta "$OUT/ticks-db-0" "$OUT/ticks-db-1")
  cw=$(cat "$OUT/wrk-$1.cpu")
  # One computation, two lines: for the summary and for figures.txt.
  awk -v n="$1" -v pers="$pers" -v q=$((q1 - q0)) -v b=$((b1 - b0)) -v r=$((r1 - r0)) -v v=$((v1 - v0)) -v tn="$tn" -v td="$td" -v cw="$cw" -v hz="$HZ" \
    -v human="$OUT/load-queries.txt" -v fig="$OUT/figures-load.txt" 'BEGIN{
    if (v <= 0) exit
    ng = 1e6*tn/hz/v; db = 1e6*td/hz/v; wk = 1e6*cw/v
    printf "- %s CPU per 1000 %s: keystone-ng %.0f ms, database %.0f ms, wrk %.0f ms\n", n, pers, ng, db, wk >>human
    printf "%s load_qpv=%.2f shared_pct=%.0f cpu_ng=%.0f cpu_db=%.0f cpu_wrk=%.0f\n", n, q/v, 100*r/v, ng, db, wk >>fig }'
}
: >"$OUT/figures-load.txt"
: >"$OUT/load-queries.txt"
ng_run keystone-ng
rss=$(cat "$OUT/rss-peak-kb-keystone-ng" 2>/dev/null || echo 0)

# Queries per validation when validations come one at a time: 200
# sequential requests, keystone-ng's own count (keystone_ng_db_queries_total,
# a combined statement counts once) on every database, and on MariaDB the
# server's Com_select too (SELECTs sent as text and executions of prepared
# ones alike), while nothing else talks to the database.
selects=""
stmts() { mysql -uroot -N -e "SHOW GLOBAL STATUS LIKE 'Com_select'" | awk '{print $2}'; }
[ "$DB" = mysql ] && before=$(stmts)
# The validation alone (?nocatalog), then as keystonemiddleware asks (the
# catalog's background renewal adds its statements once per half
# catalog_cache_ttl, whatever the request rate).
seq_queries() {
  local a b
  a=$(metric keystone_ng_db_queries_total)
  for _ in $(seq 200); do curl -fsS -o /dev/null -H "X-Auth-Token: $T" -H "X-Subject-Token: $T" "$NGURL$1"; done
  b=$(metric keystone_ng_db_queries_total)
  awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", (b-a)/200}'
}
seqq=$(seq_queries '?nocatalog')
seqqc=$(seq_queries '')
if [ "$DB" = mysql ]; then
  after=$(stmts)
  selects=$(awk -v a="$before" -v b="$after" 'BEGIN{printf "%.1f", (b-a)/400}')
fi

# The same with one Go scheduler thread (GOMAXPROCS=1): on a small host
# shared with the database and the load generator, Go's idle-thread
# wake-ups and spinning cost more than a second core gives keystone-ng.
# Reported beside the default, not instead of it.
if [ "${BENCH_SKIP_GOMAXPROCS1:-0}" != 1 ]; then
  start_ng GOMAXPROCS=1
  ng_run keystone-ng-gomaxprocs1
  start_ng
fi
if [ "$NTOKENS" -gt 0 ]; then
  many_load
  ng_run keystone-ng-many
  single_load
fi

if [ "${BENCH_SKIP_PYTHON:-0}" != 1 ]; then
  say "Python Keystone, cache off: $PYDUR at c=$CONNS"
  wrk_run python-nocache "$KSPY_URL/auth/tokens" "$PYDUR" >>"$results"
  say "Python Keystone with memcached"
  up 1
  T=$(token)
  single_load
  wrk -t"$THREADS" -c"$CONNS" -d"$WARM" "${LOADARGS[@]}" "$KSPY_URL/auth/tokens" >/dev/null 2>&1
  wrk_run python-memcache "$KSPY_URL/auth/tokens" "$PYDUR" >>"$results"
  if [ "$NTOKENS" -gt 0 ]; then
    say "Python Keystone with memcached, $NTOKENS subject tokens"
    many_load
    wrk -t"$THREADS" -c"$CONNS" -d"$WARM" "${LOADARGS[@]}" "$KSPY_URL/auth/tokens" >/dev/null 2>&1
    wrk_run python-memcache-many "$KSPY_URL/auth/tokens" "$PYDUR" >>"$results"
    single_load
  fi
  up 0
fi

{
  echo "## GET /v3/auth/tokens, same project token, catalog included, c=$CONNS, $THREADS wrk threads, database $DB ($(date -u +%F))"
  echo
  echo "| service | req/s | p50 ms | p99 ms | non-2xx |"
  echo "|---|---|---|---|---|"
  awk '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}' "$results"
  echo
  for pair in keystone-ng:python-nocache keystone-ng:python-memcache keystone-ng-gomaxprocs1:python-nocache \
    keystone-ng-gomaxprocs1:python-memcache keystone-ng-many:python-memcache-many; do
    name=${pair%%:*} ref=${pair#*:}
    ng=$(awk -v n="$name" '$1==n{print $2}' "$results")
    v=$(awk -v r="$ref" '$1==r{print $2}' "$results")
    [ -n "$ng" ] && [ -n "$v" ] && awk -v a="$ng" -v b="$v" -v r="$ref" -v n="$name" 'BEGIN{ if (b>0) printf "- %s / %s: **%.1fx**\n", n, r, a/b }'
  done
  [ "$NTOKENS" -gt 0 ] && echo "- *-many: one service token as X-Auth-Token, X-Subject-Token cycling through $NTOKENS other tokens (keystonemiddleware's shape)"
  echo "- keystone-ng peak resident memory under load: $((rss / 1024)) MiB"
  echo "- queries per validation, 200 sequential requests (keystone_ng_db_queries_total): $seqq without the catalog, $seqqc with it"
  [ -n "$selects" ] && echo "- SQL statements per validation (MariaDB Com_select over both sets of 200 sequential requests): $selects"
  cat "$OUT/load-queries.txt"
} | tee "$OUT/summary.md"

# One line of figures for deploy/bench/table.sh.
{
  printf 'db=%s date=%s seq_qpv=%s seq_qpv_catalog=%s' "$DB" "$(date -u +%F)" "$seqq" "$seqqc"
  awk '{printf " %s_rps=%s %s_p50=%s %s_p99=%s", $1, $2, $1, $3, $1, $4}' "$results"
  awk '$1=="keystone-ng"{for (i=2; i<=NF; i++) printf " %s", $i}' "$OUT/figures-load.txt"
  awk '$1=="keystone-ng-many"{for (i=2; i<=NF; i++) printf " many_%s", $i}' "$OUT/figures-load.txt"
  echo
} >"$OUT/figures.txt"

if [ "${BENCH_SKIP_LOGIN:-0}" != 1 ]; then
  say "logins: keystone-ng JWT login vs Python password login"
  (cd "$ROOT" && go run ./deploy/bench/jwtbench -ng "http://127.0.0.1:$NGPORT" -python "${KSPY_URL%/v3}" \
    -user "$KSPY_ADMIN_USER" -password "$KSPY_ADMIN_PASSWORD" -project "$KSPY_ADMIN_PROJECT" \
    -c "$CONNS" -d "$PYDUR") | tee -a "$OUT/summary.md"
fi
