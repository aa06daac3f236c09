#!/bin/bash
# test_autoscale.sh - the pool scales itself: a private stack (cubeserve up
# --detach: Redis, nginx), a model whose requests take 40 ms (the sleep test
# backend), `cubeserve autoscale` with short windows, and a bounded load
# generator. The pool grows under load, then shrinks back when the load
# stops, and every decision is a hint in Redis. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi redis-server redis-cli curl jq wrk
CS=$CS_TOP_BUILDDIR/cubeserve
export CUBESERVE_WORKER=$CS_TOP_BUILDDIR/cubeserve-worker
plugin=$CS_TOP_BUILDDIR/tests/plugins/.libs/sleep.so
if [ ! -x "$CS" ] || [ ! -f "$plugin" ]; then
	echo "1..1"; echo "not ok 1 - cubeserve and the sleep test plugin are built in $CS_TOP_BUILDDIR"; exit 1
fi
# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh" # cs_free_port

run_dir /tmp/cs-scale
export CUBESERVE_RUN_DIR=$run/stack
scaler=
cleanup() {
	[ -n "$scaler" ] && kill "$scaler" 2>/dev/null && wait "$scaler" 2>/dev/null || true
	"$CS" down >/dev/null 2>&1 || true
}
processes() { "$CS" status slow --json 2>/dev/null | jq -r '.[0].processes // 0'; }
# wait_until SECONDS CMD...: polls every 250 ms
wait_until() {
	local limit=$(( $1 * 4 )) i=0; shift
	while ! "$@"; do i=$((i + 1)); [ "$i" -ge "$limit" ] && return 1; sleep 0.25; done
}
at_least() { [ "$(processes)" -ge "$1" ]; }
exactly() { [ "$(processes)" -eq "$1" ]; }

port=$(cs_free_port)
if ! "$CS" up --detach --no-examples --port "$port" >"$run/up.out" 2>&1; then
	echo "1..1"; echo "not ok 1 - cubeserve up --detach"; sed 's/^/#   /' "$run/up.out"; exit 1
fi
mkdir -p "$run/slow"
cat >"$run/slow/glue.lua" <<'LUA'
local M = {}
function M.predict(req)
  local out = model:infer{ ms = tensor.new("INT64", {1}, { req.json.ms }) }
  return { slept = out.slept:get(1) }
end
return M
LUA
cat >"$run/slow/model.json" <<JSON
{"name": "slow", "version": "1.0.0", "plugin": "$plugin", "glue": "glue.lua",
 "description": "sleeps as long as asked", "example": {"ms": 1}}
JSON
if "$CS" publish "$run/slow" >"$run/pub.out" 2>&1 && "$CS" deploy slow --processes 1 >"$run/dep.out" 2>&1; then
	pass "published and deployed with 1 process"
else
	fail "publish and deploy" "$(tail -n 5 "$run/pub.out" "$run/dep.out")"
fi

"$CS" autoscale slow --interval 0.5 --window 2 --up-after 2 --down-after 4 \
	--min 1 --max 4 --json >"$run/scale.jsonl" 2>"$run/scale.err" &
scaler=$!

# a bounded load: 8 connections, each request 40 ms in the backend
cat >"$run/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"ms": 40}'
wrk.headers["Content-Type"] = "application/json"
-- a new client connection per request: scaling reloads nginx, and an old
-- nginx worker closes idle kept-alive client connections as it leaves (a
-- client would retry; wrk counts it as a read error)
wrk.headers["Connection"] = "close"
LUA
wrk -t2 -c8 -d12s -s "$run/post.lua" "http://127.0.0.1:$port/models/slow" >"$run/wrk.txt" 2>&1 &
load=$!
if wait_until 12 at_least 2; then
	pass "under load the pool grows ($(processes) processes)"
else
	fail "under load the pool grows" "$(tail -n 5 "$run/scale.jsonl")" "$(cat "$run/scale.err")"
fi
wait "$load" || true
peak=$(jq -s 'map(.desired) | max' "$run/scale.jsonl")
[ "$peak" -ge 2 ] && [ "$peak" -le 4 ] && pass "the peak stays within --max 4 (peak $peak)" ||
	fail "the peak stays within --max" "peak $peak"
if grep -qE "Non-2xx|Socket errors" "$run/wrk.txt"; then
	fail "no request failed while the pool grew" "$(cat "$run/wrk.txt")"
else
	pass "no request failed while the pool grew ($(awk '/requests in/ {print $1}' "$run/wrk.txt") requests)"
fi
hint=$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw hgetall cs:hint:slow 2>/dev/null | tr '\n' ' ')
[[ $hint == *desired* ]] && [[ $hint == *reason* ]] && [[ $hint == *utilization* ]] &&
	pass "the hint in Redis has desired, reason and time" || fail "the hint in Redis" "$hint"

if wait_until 40 exactly 1; then
	pass "after the load the pool shrinks back to 1"
else
	fail "after the load the pool shrinks back to 1" "processes $(processes)" "$(tail -n 3 "$run/scale.jsonl")"
fi
changes=$(jq -s '[.[] | .desired] | [foreach .[] as $d ({prev: null, n: 0}; {prev: $d, n: (if .prev != null and .prev != $d then .n + 1 else .n end)}; .n)] | last' "$run/scale.jsonl")
# up to --max and back down one at a time: at most 3 + 3 changes
[ "$changes" -le 6 ] && pass "no flapping: $changes changes in all" || fail "no flapping" "$changes changes"
curl -s -m 5 "http://127.0.0.1:$port/models/slow" -d '{"ms": 1}' | grep -q '"slept":1' &&
	pass "the model still answers" || fail "the model still answers"

# --hint-only (a cluster's mode): every model with live instances, from
# their heartbeats; the hint grows, the pool is left to KEDA (here: alone)
kill "$scaler" 2>/dev/null; wait "$scaler" 2>/dev/null || true
"$CS" autoscale --hint-only --interval 0.5 --window 2 --up-after 2 --min 1 --max 4 \
	--duration 9 --json >"$run/hint.jsonl" 2>"$run/hint.err" &
scaler=$!
wrk -t2 -c8 -d7s -s "$run/post.lua" "http://127.0.0.1:$port/models/slow" >"$run/wrk2.txt" 2>&1 || true
wait "$scaler" 2>/dev/null || true
scaler=
hint_peak=$(jq -s '[.[] | select(.model == "slow") | .desired] | max // 0' "$run/hint.jsonl")
hinted=$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw hget cs:hint:slow desired 2>/dev/null)
if [ "$hint_peak" -ge 2 ] && [ "$hinted" -ge 2 ] && [ "$(processes)" -eq 1 ]; then
	pass "autoscale --hint-only: the hint grows to $hinted under load, the pool keeps 1 process"
else
	fail "autoscale --hint-only: the hint grows, the pool is not scaled" \
		"peak $hint_peak, hint '$hinted', processes $(processes)" "$(tail -n 3 "$run/hint.jsonl")" "$(cat "$run/hint.err")"
fi

tap_done
