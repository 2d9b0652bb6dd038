# tokens.sh - the keystonemiddleware-shaped load of the bench scripts
# (sourced by bench.sh and cpuload.sh).
#
# A service behind keystonemiddleware validates each user's token with its
# own service token: X-Auth-Token is the same on every request, and
# X-Subject-Token is whichever user token came in. many_tokens_lua writes
# a wrk script that does that, cycling through the given subject tokens,
# each wrk thread starting at its own place in the cycle so that threads
# do not ask for the same token in step.
# shellcheck shell=bash

# many_tokens_lua FILE SERVICE_TOKEN SUBJECT_TOKEN...
many_tokens_lua() {
  local f=$1 svc=$2 t
  shift 2
  {
    echo 'local tokens = {'
    for t in "$@"; do printf '  "%s",\n' "$t"; done
    echo '}'
    printf 'local svc = "%s"\n' "$svc"
    cat <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("first", threads * 7)
end
function init(args)
  i = first or 0
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["X-Auth-Token"] = svc, ["X-Subject-Token"] = tokens[i] })
end
LUA
  } >"$f"
}
