#!/usr/bin/env bash
# table.sh DIR...: one Markdown table of the side-by-side figures that
# bench.sh left in each DIR/figures.txt (one database per DIR), as
# `make bench-load` prints it for MariaDB, PostgreSQL and SQLite (whose
# reads run inside keystone-ng: no database process to charge).
# BENCH_CEILING, when set, is the machine's ceiling in req/s (both.sh
# measures it): a last column gives keystone-ng's share of it.
set -Eeuo pipefail
[ $# -gt 0 ] || { echo "usage: table.sh DIR..." >&2; exit 2; }
ceiling=${BENCH_CEILING:-}
head="| database | keystone-ng req/s | p50 ms | p99 ms | queries per validation under load | one at a time (catalog included) | rounds in shared statements | Python + memcached req/s | keystone-ng / Python + memcached | Python, no cache, req/s | CPU ms per 1000 validations: keystone-ng / database / wrk | keystonemiddleware's shape (bench.sh, BENCH_TOKENS): keystone-ng req/s, p99 ms, / Python + memcached |"
rule="|---|---|---|---|---|---|---|---|---|---|---|---|"
if [ -n "$ceiling" ]; then
  head="$head keystone-ng / the ceiling ($ceiling req/s) |"
  rule="$rule---|"
fi
echo "$head"
echo "$rule"
for d in "$@"; do
  f="$d/figures.txt"
  [ -r "$f" ] || { echo "| $(basename "$d") | no figures ($f missing: the run failed) | | | | | | | | | | |$([ -n "$ceiling" ] && echo ' |')"; continue; }
  awk -v ceiling="$ceiling" '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    db = (v["db"] == "mysql" ? "MariaDB" : (v["db"] == "postgresql" ? "PostgreSQL" : (v["db"] == "sqlite" ? "SQLite" : v["db"])))
    mem = v["python-memcache_rps"]; ng = v["keystone-ng_rps"]
    ratio = (mem > 0 ? sprintf("**%.1fx**", ng / mem) : "-")
    mng = v["keystone-ng-many_rps"]; mpy = v["python-memcache-many_rps"]
    many = (mng == "" ? "-" : mng ", " v["keystone-ng-many_p99"] ", " (mpy > 0 ? sprintf("%.1fx", mng / mpy) : "-"))
    printf "| %s | %s | %s | %s | %s | %s | %s%% | %s | %s | %s | %s / %s / %s | %s |", db, ng, v["keystone-ng_p50"], v["keystone-ng_p99"],
      v["load_qpv"], v["seq_qpv"] " (" v["seq_qpv_catalog"] ")", v["shared_pct"], (mem == "" ? "-" : mem), ratio,
      (v["python-nocache_rps"] == "" ? "-" : v["python-nocache_rps"]), v["cpu_ng"], (v["db"] == "sqlite" ? "in keystone-ng" : v["cpu_db"]), v["cpu_wrk"], many
    if (ceiling != "") printf " %.0f%% |", (ceiling > 0 ? 100 * ng / ceiling : 0)
    printf "\n"
  }' "$f"
done
