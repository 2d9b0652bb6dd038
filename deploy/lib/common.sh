# common.sh - the helpers every deploy script shares (sourced, not executed):
# logging, process bookkeeping by recorded pid, one lock per state dir,
# waiting for a port or URL, installing Debian packages quietly.
#
# The sourcing script sets, before it calls anything here:
#   LOG_TAG       the prefix of every message ("demo" -> "[demo] ...")
#   LOG_HINT      optional: one more line fail() prints ("logs are in ...")
#   PROC_RUN_DIR  where the pid records live (run/<name>.pid, run/<name>.start)
# shellcheck shell=bash

# The repository this file is in (the shipped nginx/ and apache/ configs,
# the Go sources); used by the scripts that source this file:
# shellcheck disable=SC2034
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---- logging ----------------------------------------------------------------
# Everything goes to stderr so a script's stdout stays free for its results.
say() { printf '[%s] %s\n' "${LOG_TAG:-deploy}" "$*" >&2; }
warn() { printf '[%s] WARNING: %s\n' "${LOG_TAG:-deploy}" "$*" >&2; }
fail() {
  printf '[%s] ERROR: %s\n' "${LOG_TAG:-deploy}" "$*" >&2
  [ -z "${LOG_HINT:-}" ] || printf '[%s] ERROR: %s\n' "${LOG_TAG:-deploy}" "$LOG_HINT" >&2
  exit 1
}

# ---- locking ------------------------------------------------------------------
# One run at a time per state dir: take_lock DIR WHAT holds an flock on
# DIR.lock through fd 9 until the script exits. Every daemon a script starts
# gets 9>&- so it does not keep the lock after the script is gone, and a
# script called by another opens its own fd 9, which replaces the inherited one.
take_lock() { # state-dir what-else-might-hold-it
  mkdir -p "$(dirname "$1")"
  exec 9>"$1.lock"
  flock -w 300 9 || fail "another $2 is working on $1 (lock $1.lock)"
}

# ---- processes, by recorded pid only ------------------------------------------
# For each daemon a script starts it keeps $PROC_RUN_DIR/<name>.pid and
# <name>.start, the kernel start time of that pid (field 22 of
# /proc/<pid>/stat). A pid counts as ours only while both still match, so a
# recycled pid is never signalled, and nothing is ever killed by name.
proc_start_time() { # pid -> start time; fails if gone or a zombie
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) } # drop "pid (comm) ": comm may contain spaces and ")"
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $stat
  [ "$1" != Z ] || return 1
  printf '%s\n' "${20}"
}
remember_pid() { # name pid
  local t
  t=$(proc_start_time "$2") || return 1
  printf '%s\n' "$2" >"$PROC_RUN_DIR/$1.pid"
  printf '%s\n' "$t" >"$PROC_RUN_DIR/$1.start"
}
# remember_pidfile NAME FILE: a self-daemonising server wrote FILE; wait up
# to 5s for it and record the pid in it.
remember_pidfile() {
  wait_until 5 test -s "$2" || return 1
  remember_pid "$1" "$(tr -dc 0-9 <"$2")"
}
recorded_pid() { # name -> pid, while that process is still the one we started
  local pid want now
  pid=$(cat "$PROC_RUN_DIR/$1.pid" 2>/dev/null) || return 1
  case "$pid" in '' | *[!0-9]*) return 1 ;; esac
  want=$(cat "$PROC_RUN_DIR/$1.start" 2>/dev/null) || return 1
  now=$(proc_start_time "$pid") || return 1
  [ "$now" = "$want" ] || return 1
  printf '%s\n' "$pid"
}
# stop_recorded NAME [SIGNAL] [SECONDS]: signal the recorded process, wait
# for it to go, SIGKILL it after SECONDS (20), and forget it. <name>.sum
# (a checksum of the config it runs with) is forgotten with it.
stop_recorded() {
  local name=$1 sig=${2:-TERM} secs=${3:-20} pid
  if pid=$(recorded_pid "$name"); then
    say "stopping $name (pid $pid, SIG$sig)"
    kill "-$sig" "$pid" 2>/dev/null || true
    if ! wait_until "$secs" pid_gone "$pid"; then
      say "$name (pid $pid) still running after ${secs}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_until 2 pid_gone "$pid" || true
    fi
  fi
  rm -f "$PROC_RUN_DIR/$name.pid" "$PROC_RUN_DIR/$name.start" "$PROC_RUN_DIR/$name.sum"
}
pid_gone() { ! proc_start_time "$1" >/dev/null 2>&1; }
listening_on() { # port -> success if some process listens on that TCP port
  ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}
url_ok() { curl --noproxy '*' -sf -m 2 -o /dev/null "$1"; }

# ---- waiting ------------------------------------------------------------------
# wait_until SECONDS CMD...: run CMD every 0.1s until it succeeds (0) or
# SECONDS have passed (1).
wait_until() {
  wait_while_alive '' "$@"
}
# wait_while_alive NAME SECONDS CMD...: the same, but give up at once when the
# process recorded as NAME is gone (no point waiting for a dead server).
wait_while_alive() {
  local name=$1 end=$((SECONDS + $2))
  shift 2
  while :; do
    "$@" && return 0
    [ -z "$name" ] || recorded_pid "$name" >/dev/null || return 1
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}
wait_for_port() { wait_until "$2" listening_on "$1"; } # port seconds
wait_for_url() { wait_until "$2" url_ok "$1"; }        # url seconds

# ---- Debian packages ----------------------------------------------------------
apt_missing() { # package... -> the ones not installed, one a line
  local p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || printf '%s\n' "$p"
  done
}
# apt_install LOG PACKAGE...: install what is missing, output to LOG; on a
# failure, apt-get update and try once more. A temporary policy-rc.d (exit
# 101, "action forbidden") keeps maintainer scripts from starting daemons
# (a system nginx on port 80, mariadb, ...) behind the caller's back.
apt_install() {
  local log=$1 need made=0 ok=1 old_trap
  shift
  mapfile -t need < <(apt_missing "$@")
  [ "${#need[@]}" -gt 0 ] || return 0
  say "apt-get install ${need[*]} (log: $log)"
  old_trap=$(trap -p EXIT)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary (keystone-ng deploy/lib/common.sh)\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}" >"$log" 2>&1; then
    say "apt-get install failed once; running apt-get update and retrying"
    { apt-get update -q -o DPkg::Lock::Timeout=300 &&
      apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}"; } >>"$log" 2>&1 || ok=0
  fi
  if [ "$made" = 1 ]; then
    rm -f /usr/sbin/policy-rc.d
    eval "${old_trap:-trap - EXIT}"
  fi
  [ "$ok" = 1 ] || { tail -n 20 "$log" >&2 || true; fail "apt-get install failed; see $log"; }
}

# ---- TLS ------------------------------------------------------------------------
test_certificate() { # dir: a self-signed cert.pem/key.pem for 127.0.0.1, valid 2 days
  mkdir -p "$1"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}
