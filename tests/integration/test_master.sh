#!/bin/bash
# test_master.sh - the prefork master under spawn-fcgi behind a private
# nginx: children share one loaded model, a killed child is replaced within
# a second, glue reloads and max_requests recycling lose no request under
# load, TTIN/TTOU resize the pool, TERM stops everything, connections spread
# over the children. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi curl wrk pgrep jq

stack_run cs-master

check() { # check DESC CMD...
	local desc=$1; shift
	if "$@"; then pass "$desc"; else fail "$desc"; fi
}
children() { pgrep -P "$master" -f cubeserve-worker | sort; }
nchildren() { children | wc -l; }
has_children() { [ "$(nchildren)" -eq "$1" ]; }

cp "$CS_TOP_SRCDIR/examples/linear/"{model.json,glue.lua,weights.json} "$run/"
manifest=$run/model.json
cs_worker_start linear "$manifest" --processes 2 --max-requests 300
# two more pools of 2 children for the accept policy: the serving threads'
# loop, and the event loop (a manifest with "batching")
jq '.name = "spread"' "$manifest" >"$run/spread.json"
jq '.name = "spreadev" | .batching = {"max_batch_size": 8, "max_queue_delay_us": 500}' "$manifest" >"$run/spreadev.json"
cs_worker_start spread "$run/spread.json" --processes 2
cs_worker_start spreadev "$run/spreadev.json" --processes 2
port=$(cs_free_port)
cs_nginx_start "$port"
url=http://127.0.0.1:$port/models/linear
body='{"x":[6.3,3.3,6.0,2.5]}'
master=$(cs_pid linear)
if ! cs_wait_http "$url" 30 "$master"; then
	echo "1..1"; echo "not ok 1 - the pool came up"; tail "$CS_RUN/logs/linear.log" | sed 's/^/#   /'
	exit 1
fi

predict_ok() {
	local out
	out=$(curl -s -m 5 "$url" -d "$body") && [[ $out == *'"label":2'* ]]
}

check "two children serve under one master" wait_for 5 has_children 2
check "the pool answers" predict_ok

# The children share the model the master loaded (copy-on-write): their
# memory mappings of the plugin come from the master's dlopen, not their own.
grep -q "loaded .* with plugin native" "$CS_RUN/logs/linear.log" &&
	test "$(grep -c "loaded .* with plugin native" "$CS_RUN/logs/linear.log")" -eq 1 &&
	pass "the model was loaded once, by the master" ||
	fail "the model was loaded once, by the master" "$(grep -c 'loaded .* with plugin' "$CS_RUN/logs/linear.log") loads logged"

# ---------------------------------------------------------------- respawn
victim=$(children | head -1)
kill -KILL "$victim"
start=$(date +%s%N)
respawned() { [ "$(nchildren)" -eq 2 ] && ! children | grep -qx "$victim"; }
if wait_for 2 respawned; then
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ "$ms" -le 1000 ]; then pass "a killed child is replaced within 1 s (${ms} ms)"
	else fail "a killed child is replaced within 1 s" "took ${ms} ms"; fi
else
	fail "a killed child is replaced" "children: $(children | tr '\n' ' ')"
fi
check "the master logged the signal" grep -q "killed by signal 9" "$CS_RUN/logs/linear.log"
check "the pool answers after the respawn" predict_ok

cat >"$run/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

# ---------------------------------------------------------------- accept policy
# Under load, nginx's kept-alive connections (its upstream keepalive is 16)
# spread over both children, and so do the requests (which of its idle
# connections nginx keeps after the load is its own choice: the status
# page's counts are only checked to be there); at 48 connections,
# beyond the keepalive, nginx opens and closes connections all the time:
# no request fails and both children still serve.
spread_check() { # spread_check NAME CONNS
	local st n1 n2 c1 c2 total
	wrk -t2 -c"$2" -d2s -s "$run/post.lua" "http://127.0.0.1:$port/models/$1" >"$run/wrk-$1.txt" 2>&1 || true
	st=$(curl -s -m 5 "http://127.0.0.1:$port/status/$1?json&full")
	read -r n1 n2 < <(jq -r '[.processes[].requests] | sort | "\(.[0]) \(.[-1])"' <<<"$st")
	read -r c1 c2 < <(jq -r '[.processes[].connections] | sort | "\(.[0]) \(.[-1])"' <<<"$st")
	total=$((n1 + n2))
	if [ "$(jq '.processes | length' <<<"$st")" = 2 ] && [ "$total" -ge 500 ] &&
		[ $((n1 * 100 / total)) -ge 15 ] && ! grep -qE "Non-2xx|Socket errors" "$run/wrk-$1.txt" &&
		[ $((c1 + c2)) -ge 1 ]; then
		pass "$1, $2 connections: both children serve ($n1 and $n2 requests; $c1 and $c2 connections open after the load), no error"
	else
		fail "$1, $2 connections: both children serve" "requests $n1 $n2, connections $c1 $c2" "$(grep -E 'requests in|Non-2xx|Socket' "$run/wrk-$1.txt")"
	fi
}
for pool in spread spreadev; do
	cs_wait_http "http://127.0.0.1:$port/models/$pool" 30 "$(cs_pid "$pool")" || true
	spread_check "$pool" 16
	spread_check "$pool" 48
done

# ---------------------------------------------------------------- load + reload + recycle
wrk -t2 -c16 -d4s -s "$run/post.lua" "$url" >"$run/wrk.txt" 2>&1 &
wrkpid=$!
before=$(children | tr '\n' ' ')
for _ in 1 2 3; do sleep 0.8; kill -HUP "$master"; done
wait "$wrkpid" || true
reqs=$(awk '/requests in/ {print $1}' "$run/wrk.txt")
if grep -qE "Non-2xx|Socket errors" "$run/wrk.txt"; then
	fail "no request fails during glue reloads and max_requests recycling" "$(cat "$run/wrk.txt")"
elif [ -z "$reqs" ] || [ "$reqs" -lt 1000 ]; then
	fail "the load ran" "$(cat "$run/wrk.txt")"
else
	pass "no request fails during 3 glue reloads and max_requests recycling ($reqs requests)"
fi
check "the glue was reloaded in the children" grep -q "glue reloaded" "$CS_RUN/logs/linear.log"
check "children were recycled after max_requests" grep -q "max_requests reached" "$CS_RUN/logs/linear.log"
after=$(children | tr '\n' ' ')
[ "$before" != "$after" ] && pass "recycled children have new pids" || fail "recycled children have new pids" "$before / $after"

# ---------------------------------------------------------------- broken glue reload
echo 'return {' >>"$run/glue.lua"
kill -HUP "$master"
check "a broken glue on reload is refused and logged" wait_for 5 grep -q "glue reload failed, keeping the running glue" "$CS_RUN/logs/linear.log"
check "the old glue keeps serving" predict_ok
cp "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$run/glue.lua"

# ---------------------------------------------------------------- resize
kill -TTIN "$master"
check "TTIN adds a child" wait_for 5 has_children 3
# one signal at a time: pending signals of one kind do not queue
kill -TTOU "$master"
wait_for 5 has_children 2 || true
kill -TTOU "$master"
check "TTOU removes children (down to 1)" wait_for 5 has_children 1
check "the pool answers after resizing" predict_ok

# ---------------------------------------------------------------- stop
kill -TERM "$master"
if wait_for 5 bash -c "! kill -0 $master 2>/dev/null"; then
	pass "TERM stops the master"
else
	fail "TERM stops the master"
fi
check "no child is left" test -z "$(pgrep -f "cubeserve-worker --manifest $manifest" || true)"

cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log
tap_done
