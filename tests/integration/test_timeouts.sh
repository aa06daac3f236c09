#!/bin/bash
# test_timeouts.sh - slow requests, request time limits and stuck children:
# a test backend that sleeps as long as it is told, behind a private nginx,
# in a pool under the prefork master. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi curl jq pgrep
plugin=$CS_TOP_BUILDDIR/tests/plugins/.libs/sleep.so
if [ ! -f "$plugin" ]; then
	echo "1..1"; echo "not ok 1 - the sleep test plugin is built at $plugin"; exit 1
fi

stack_run cs-timeouts

cat >"$run/glue.lua" <<'LUA'
local M = {}
function M.predict(req)
  local out = model:infer{ ms = tensor.new("INT64", {1}, { req.json.ms }) }
  return { slept = out.slept:get(1) }
end
function M.spin(req) local x = 0 while true do x = x + 1 end end
return M
LUA
cat >"$run/model.json" <<JSON
{"name": "sleepy", "version": "1", "plugin": "$plugin", "glue": "glue.lua",
 "limits": {"request_timeout_ms": 800, "slow_request_ms": 150,
            "glue_instructions": 100000000000}}
JSON
cs_worker_start sleepy "$run/model.json" --processes 1
port=$(cs_free_port)
CS_NGINX_TIMEOUT=2s cs_nginx_start "$port"
url=http://127.0.0.1:$port/models/sleepy
master=$(cs_pid sleepy)
if ! cs_wait_http "$url" 30 "$master"; then
	echo "1..1"; echo "not ok 1 - the pool came up"; tail "$CS_RUN/logs/sleepy.log" | sed 's/^/#   /'; exit 1
fi
log=$CS_RUN/logs/sleepy.log
call() { # call BODY [PATH]: sets status, body
	body=$(curl -s -m 20 -o - -w '\n%{http_code}' "$url${2:-}" -d "$1")
	status=${body##*$'\n'}
	body=${body%$'\n'*}
}

call '{"ms": 10}'
[ "$status" = 200 ] && [ "$(jq -r .slept <<<"$body")" = 10 ] && pass "a quick request: 200" ||
	fail "a quick request: 200" "$status $body"

call '{"ms": 300}'
if [ "$status" = 200 ] && wait_for 3 grep -q "slow request: POST /models/sleepy took [0-9]* ms (limits.slow_request_ms 150)" "$log"; then
	pass "a 300 ms request over slow_request_ms 150 is answered and logged as slow"
else
	fail "a slow request is logged" "$status $body" "$(tail -n 3 "$log")"
fi
st=$(curl -s -m 5 "http://127.0.0.1:$port/status/sleepy?json")
[ "$(jq -r .slow_requests <<<"$st")" -ge 1 ] && pass "the status page counts it (slow_requests $(jq -r .slow_requests <<<"$st"))" ||
	fail "the status page counts slow requests" "$st"

call '' /spin
if [ "$status" = 504 ] && [[ $body == *"request time limit"* ]]; then
	pass "glue running past request_timeout_ms 800 is stopped with a 504 JSON"
else
	fail "glue past the time limit: 504" "$status $body"
fi

child=$(pgrep -P "$master" -f cubeserve-worker | head -n 1)
start=$(date +%s%N)
call '{"ms": 60000}'
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$status" = 504 ] && jq -e .error <<<"$body" >/dev/null 2>&1 && [ "$ms" -lt 10000 ]; then
	pass "a backend stuck for 60 s: the client gets a 504 JSON after ${ms} ms"
else
	fail "a stuck backend: 504 JSON" "$status $body after $ms ms"
fi
if wait_for 5 grep -q "child $child stuck in a request" "$log"; then
	pass "the master kills the stuck child"
else
	fail "the master kills the stuck child" "$(tail -n 5 "$log")"
fi
newchild() { local c; c=$(pgrep -P "$master" -f cubeserve-worker | head -n 1); [ -n "$c" ] && [ "$c" != "$child" ]; }
if wait_for 5 newchild; then
	call '{"ms": 10}'
	[ "$status" = 200 ] && pass "a new child serves again" || fail "a new child serves again" "$status $body"
else
	fail "a new child replaces the stuck one"
fi

cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log
tap_done
