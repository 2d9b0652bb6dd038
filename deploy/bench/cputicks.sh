# cputicks.sh - CPU accounting of the bench scripts (sourced by bench.sh and
# cpuload.sh; DB names the database: mysql, postgresql or sqlite).
#
# Clock ticks (user + system, all threads) per process come from
# /proc/PID/stat, fields 14 and 15; the name in parentheses may hold
# spaces, so the line is read after its closing parenthesis.
# shellcheck shell=bash

# HZ: clock ticks per second (the sourcing scripts divide by it).
# shellcheck disable=SC2034
HZ=$(getconf CLK_TCK)

# ticks_of PID...: one "pid ticks" line per process still there.
ticks_of() {
  local p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && printf '%s %s\n' "$p" "$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12+$13}')"
  done
  true
}

# db_pids: the database server's processes (PostgreSQL: the postmaster and
# a backend per connection; MariaDB: one process with a thread per
# connection; SQLite: none, it runs inside its clients).
db_pids() {
  case $DB in
    mysql) pgrep -x mariadbd || pgrep -x mysqld ;;
    postgresql) pgrep -x postgres ;;
  esac
  true
}

# db_ticks: ticks_of every database process.
db_ticks() { local p; for p in $(db_pids); do ticks_of "$p"; done; }

# ticks_delta BEFORE AFTER: the ticks gained by the processes listed in the
# file AFTER since the file BEFORE (a process new since BEFORE counts from
# zero; one that exited in between is lost, which keystone-ng's pooled
# connections never do).
ticks_delta() { awk 'NR==FNR{b[$1]=$2; next} {d+=$2-($1 in b ? b[$1] : 0)} END{printf "%d", d}' "$1" "$2"; }
