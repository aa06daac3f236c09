#!/bin/bash
# test_deploy.sh - deployments that run themselves, through a private stack
# (cubeserve up --detach: Redis, nginx, the supervisor; workers under
# spawn-fcgi): one prefork master per pool; scale 1->4->1, a version
# switch, a canary at 10 % then promote, a rollback, kill -9 of a master
# and of a child, all under bounded wrk load with 0 failed requests; the
# canary's share over 10,000 requests; the supervisor's respawn time; an
# operation killed at each of its steps leaves the old or the new state;
# two concurrent switches (one wins); the refusals; pause on every
# endpoint (V2 too); status --json typed, its last error; two instances
# labelled in /metrics. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,11s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi redis-server curl jq wrk
CS=$CS_TOP_BUILDDIR/cubeserve
export CUBESERVE_WORKER=${CUBESERVE_WORKER:-$CS_TOP_BUILDDIR/cubeserve-worker}
if [ ! -x "$CS" ] || [ ! -x "$CUBESERVE_WORKER" ]; then
	echo "1..1"; echo "not ok 1 - cubeserve and cubeserve-worker are built in $CS_TOP_BUILDDIR"; exit 1
fi
# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh" # cs_free_port

run_dir /tmp/cs-deploy
export CUBESERVE_RUN_DIR=$run/stack
load=
cleanup() {
	[ -n "$load" ] && kill "$load" 2>/dev/null || true
	"$CS" down >/dev/null 2>&1 || true
}

iris='{"x": [5.1, 3.5, 1.4, 0.2]}'
st() { "$CS" status linear --json; }
# cs WANT ARGS...: runs cubeserve; output in $out, exit status in $rc
cs() {
	local want=$1
	shift
	rc=0
	out=$("$CS" "$@" 2>&1) || rc=$?
	[ "$rc" = "$want" ] && return 0
	fail "cubeserve $* exits $want" "exit $rc: ${out:0:900}"
	return 1
}
served() { curl -s -D - -o /dev/null -m 5 "http://127.0.0.1:$port/models/linear" -d "$iris" | tr -d '\r' | sed -n 's/^X-Model-Version: //p'; }
# settled: the record's version serves alone, nothing staging or draining
settled() {
	local want=$1 s
	s=$(st 2>/dev/null) || return 1
	[ "$(jq -r '.[0].version' <<<"$s")" = "$want" ] &&
		[ "$(jq '[.[0].pools[] | select(.role == "staging" or .role == "draining")] | length' <<<"$s")" = 0 ] &&
		[ "$(jq '.[0].live' <<<"$s")" = "$(jq '.[0].desired_pools' <<<"$s")" ] &&
		[ "$(served)" = "$want" ]
}

settled_either() { settled "$1" || settled "$2"; }

cat >"$run/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$iris'
wrk.headers["Content-Type"] = "application/json"
-- a new client connection per request: switches reload nginx, and an old
-- nginx worker closes idle kept-alive client connections as it leaves (a
-- client would retry; wrk counts it as a read error)
wrk.headers["Connection"] = "close"
LUA
# under_load DESC SECONDS CMD...: runs CMD while wrk loads the model;
# passes when CMD succeeds and wrk saw no non-2xx answer and no socket error
under_load() {
	local desc=$1 secs=$2 crc=0
	shift 2
	wrk -t2 -c4 -d"${secs}s" -s "$run/post.lua" "http://127.0.0.1:$port/models/linear" >"$run/wrk.txt" 2>&1 &
	load=$!
	sleep 0.5
	"$@" >"$run/cmd.out" 2>&1 || crc=$?
	wait "$load" || true
	load=
	if [ "$crc" = 0 ] && ! grep -qE "Non-2xx|Socket errors" "$run/wrk.txt" &&
		grep -q "requests in" "$run/wrk.txt"; then
		pass "$desc: 0 failed of $(awk '/requests in/ {print $1}' "$run/wrk.txt") requests"
	else
		fail "$desc: 0 failed requests" "command exit $crc: $(tail -n 5 "$run/cmd.out")" "$(cat "$run/wrk.txt")"
	fi
}

port=$(cs_free_port)
if ! "$CS" up --detach --no-examples --port "$port" >"$run/up.out" 2>&1; then
	echo "1..1"; echo "not ok 1 - cubeserve up --detach"; sed 's/^/#   /' "$run/up.out"; exit 1
fi
grep -q "^  $(readlink -f "$CS") status" "$run/up.out" && pass "up prints a path to the cubeserve command that works" ||
	fail "up prints the command's path" "$(tail -n 4 "$run/up.out")"
for v in 1.0.0 2.0.0 3.0.0; do
	mkdir -p "$run/v$v"
	cp "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$CS_TOP_SRCDIR/examples/linear/weights.json" "$run/v$v/"
	jq --arg v "$v" '.version = $v' "$CS_TOP_SRCDIR/examples/linear/model.json" >"$run/v$v/model.json"
	"$CS" publish "$run/v$v" >"$run/pub.out" 2>&1 || fail "publish linear@$v" "$(tail -n 5 "$run/pub.out")"
done

# ------------------------------------------------------------ one prefork master
cs 0 deploy linear@1.0.0 --processes 1 && pass "deploy linear@1.0.0"
s=$(st)
pid=$(jq '.[0].pools[0].pid' <<<"$s")
if [ "$(jq '.[0].pools | length' <<<"$s")" = 1 ] && [ "$(jq -r '.[0].pools[0].state' <<<"$s")" = ready ] &&
	[ "$(pgrep -P "$pid" -c)" = 1 ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "cubeserve-worker .*--processes 1"; then
	pass "a deployment is one prefork master (pid $pid) with its child, ready"
else
	fail "one prefork master per pool" "$s"
fi
[ "$(served)" = 1.0.0 ] && pass "answers carry X-Model-Version: 1.0.0" || fail "X-Model-Version header" "$(served)"
v2=$(curl -s -m 5 "http://127.0.0.1:$port/v2/models/linear/infer" -H 'Content-Type: application/json' \
	-d '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}')
[ "$(jq -r .model_version <<<"$v2")" = 1.0.0 ] && pass "V2 responses carry model_version" ||
	fail "V2 model_version" "$v2"

# ------------------------------------------------------------ scale 1 -> 4 -> 1
scale_up_down() { "$CS" scale linear 4 && [ "$(pgrep -P "$pid" -c)" = 4 ] && sleep 1 && "$CS" scale linear 1 && [ "$(pgrep -P "$pid" -c)" = 1 ]; }
under_load "scale 1 -> 4 -> 1 by TTIN/TTOU to the running master (same pid, no new load)" 4 scale_up_down
[ "$(st | jq '.[0].pools[0].pid')" = "$pid" ] && pass "scaling kept the master (no model load)" ||
	fail "scaling kept the master" "$(st | jq -c '.[0].pools')"

# ------------------------------------------------------------ kill -9 of a child, of the master
cs 0 scale linear 2
child=$(pgrep -P "$pid" | head -n 1)
under_load "kill -9 of a child (the master respawns it)" 3 kill -9 "$child"
[ "$(pgrep -P "$pid" -c)" = 2 ] && pass "the master has 2 children again" || fail "child respawned" "$(pgrep -P "$pid" | tr '\n' ' ')"
sb=$(st | jq -r '.[0].pools[0].scoreboard')
new_ready() { [ "$(st | jq --argjson p "$pid" '[.[0].pools[] | select(.state == "ready" and .pid != $p)] | length')" = 1 ]; }
kill_master() {
	local t0 t1
	t0=$(date +%s%N)
	kill -9 "$pid"
	wait_for 10 new_ready || return 1
	t1=$(date +%s%N)
	echo "$(( (t1 - t0) / 1000000 ))" >"$run/respawn_ms"
}
under_load "kill -9 of the master (its children serve until the supervisor's new pool is routed)" 5 kill_master
ms=$(cat "$run/respawn_ms" 2>/dev/null || echo 99999)
[ "$ms" -le 2000 ] && pass "the supervisor replaced the dead master in $ms ms (<= 2000)" ||
	fail "respawn within 2 s" "$ms ms" "$(tail -n 5 "$CUBESERVE_RUN_DIR/logs/up.log")"
grep -q "master pid $pid) was killed by signal 9" "$CUBESERVE_RUN_DIR/logs/up.log" &&
	pass "the supervisor's log line names the signal" ||
	fail "log line names the signal" "$(tail -n 5 "$CUBESERVE_RUN_DIR/logs/up.log")"
wait_for 10 eval '! pgrep -f -- "--scoreboard $sb " >/dev/null' &&
	pass "the dead master's orphaned children were drained and stopped" ||
	fail "orphans stopped" "$(pgrep -af -- "--scoreboard $sb ")"
pid=$(st | jq '[.[0].pools[] | select(.role == "stable")][0].pid')

# ------------------------------------------------------------ version switch
under_load "deploy linear@2.0.0: switch under load" 4 "$CS" deploy linear@2.0.0
[ "$(served)" = 2.0.0 ] && pass "after the switch 2.0.0 answers" || fail "2.0.0 answers" "$(served)"
s=$(st)
[ "$(jq -r '.[0].previous_version' <<<"$s")" = 1.0.0 ] &&
	[ "$(jq -r '[.[0].pools[] | select(.role == "previous")][0].version' <<<"$s")" = 1.0.0 ] &&
	pass "the switch is recorded; 1.0.0 stays warm for rollback" || fail "previous version warm" "$s"
redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw lrange cs:history:linear 0 0 | grep -q "switch linear from 1.0.0 to 2.0.0" &&
	pass "the switch is in cs:history:linear" || fail "history" "$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw lrange cs:history:linear 0 3)"

# ------------------------------------------------------------ rollback
under_load "rollback linear: back to the warm 1.0.0 under load" 4 "$CS" rollback linear
[ "$(served)" = 1.0.0 ] && pass "after rollback 1.0.0 answers" || fail "rollback serves 1.0.0" "$(served)"

# ------------------------------------------------------------ canary 10 %, promote
under_load "deploy linear@3.0.0 --canary 10 under load" 3 "$CS" deploy linear@3.0.0 --canary 10
cat >"$run/count.lua" <<LUA
wrk.method = "POST"
wrk.body = '$iris'
wrk.headers["Content-Type"] = "application/json"
local counts, n = {}, 0
function response(status, headers, body)
  local v = headers["X-Model-Version"] or ("status " .. status)
  counts[v] = (counts[v] or 0) + 1
  n = n + 1
  if n >= 10000 then
    for k, c in pairs(counts) do io.write(string.format("COUNT %s %d\n", k, c)) end
    wrk.thread:stop()
  end
end
LUA
wrk -t1 -c1 -d60s -s "$run/count.lua" "http://127.0.0.1:$port/models/linear" >"$run/count.txt" 2>&1 || true
c3=$(awk '$1 == "COUNT" && $2 == "3.0.0" {print $3}' "$run/count.txt")
total=$(awk '$1 == "COUNT" {s += $3} END {print s + 0}' "$run/count.txt")
if [ "$total" = 10000 ] && [ -n "$c3" ] && [ "$c3" -ge 700 ] && [ "$c3" -le 1300 ]; then
	pass "canary 10 %: 3.0.0 answered $c3 of 10000 requests (within +-3 pp)"
else
	fail "canary share within +-3 pp of 10 %" "$(cat "$run/count.txt")"
fi
cs 0 status linear && [[ $out == *"version 3.0.0"*canary*"share  10%"* ]] && [[ $out == *"version 1.0.0"*stable*"share  90%"* ]] &&
	pass "status shows both versions with their share, req/s, p50/p99 and errors" || fail "status shows both versions" "$out"
under_load "promote linear under load" 3 "$CS" promote linear
[ "$(served)" = 3.0.0 ] && pass "after promote 3.0.0 answers every request" || fail "promote" "$(served)"
cs 5 promote linear && [[ $out == *"no canary"* ]] && pass "promote with no canary is refused (exit 5)" || fail "promote with no canary is refused (exit 5)"

# ------------------------------------------------------------ bad input changes nothing
before=$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw hgetall cs:deployment:linear | md5sum)
unchanged() { [ "$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw hgetall cs:deployment:linear | md5sum)" = "$before" ]; }
cs 4 deploy linear@9.9.9 && [[ $out == *9.9.9* ]] && unchanged && pass "an unknown version: exit 4, nothing changed" || fail "an unknown version: exit 4, nothing changed"
for bad in 0 100 abc; do
	cs 2 deploy linear@2.0.0 --canary "$bad" && [[ $out == *"1..99"* || $out == *number* ]] ||
		fail "--canary $bad refused"
done
unchanged && pass "a canary share outside 1..99 is bad usage (exit 2), nothing changed" || fail "a canary share outside 1..99 is bad usage (exit 2), nothing changed"
sha=$(redis-cli -s "$CUBESERVE_RUN_DIR/redis.sock" --raw hget cs:version:linear:2.0.0 artifact_sha256)
blob=$CUBESERVE_RUN_DIR/store/sha256/${sha:0:2}/$sha
cp "$blob" "$run/blob.bak"
chmod u+w "$blob" 2>/dev/null || true
echo '{"tampered": true}' >"$blob"
rc=0
out=$("$CS" deploy linear@2.0.0 2>&1) || rc=$?
cp "$run/blob.bak" "$blob"
if [ "$rc" != 0 ] && [[ $out == *sha256* ]] && unchanged && [ "$(served)" = 3.0.0 ]; then
	pass "a version whose files fail their sha256 is refused (exit $rc), nothing changed, 3.0.0 serves"
else
	fail "sha256 failure refused" "exit $rc: $out"
fi
cat >"$run/badworker" <<'SH'
#!/bin/sh
echo "this worker fails to load on purpose" >&2
exit 1
SH
chmod +x "$run/badworker"
rc=0
out=$(CUBESERVE_WORKER=$run/badworker "$CS" deploy linear@2.0.0 2>&1) || rc=$?
if [ "$rc" = 1 ] && [[ $out == *"keeps serving"* ]] && [ "$(served)" = 3.0.0 ] && wait_for 5 settled 3.0.0; then
	pass "a new version that fails to start: exit 1, 'linear@3.0.0 keeps serving', and it does"
else
	fail "a failed switch leaves the old version serving" "exit $rc: $out" "served $(served)"
fi
cs 0 rollback linear # 3.0.0 -> 1.0.0 (its previous)
cs 0 rollback linear # and back
wait_for 5 settled 3.0.0 || true
# a fresh deployment has nothing to roll back to
cs 0 undeploy linear
cs 0 deploy linear@1.0.0
cs 5 rollback linear && [[ $out == *"nothing to roll back"* ]] && pass "rollback with nothing to go back to is refused (exit 5)" || fail "rollback with nothing to go back to is refused (exit 5)"

# ------------------------------------------------------------ two switches at once
CS_TEST_PAUSE_AT=3:2000 "$CS" deploy linear@2.0.0 >"$run/race1.out" 2>&1 &
r1p=$!
sleep 0.7
r2=0
"$CS" deploy linear@3.0.0 >"$run/race2.out" 2>&1 || r2=$?
r1=0
wait "$r1p" || r1=$?
if [ "$r1" = 0 ] && [ "$r2" = 5 ] && grep -q "another operation on 'linear' is running" "$run/race2.out" &&
	wait_for 5 settled 2.0.0; then
	pass "two switches at once: one wins (2.0.0), the other is told (exit 5)"
else
	fail "two concurrent switches" "exits $r1 $r2" "$(cat "$run/race1.out" "$run/race2.out" | tail -n 6)"
fi

# ------------------------------------------------------------ killed at each step
# the steps of a switch (no warm pool to take over: --keep-warm 0):
# 1 verify, 2 desired state, 3 pool started, 4 pools recorded, 5 route
# reloaded, 6 drain; killed at each, the route always answers, and the
# supervisor finishes at the old or the new state
cur=2.0.0
for k in 1 2 3 4 5 6; do
	next=$([ "$cur" = 2.0.0 ] && echo 1.0.0 || echo 2.0.0)
	: >"$run/probe.txt"
	# one line a request: its number, the HTTP status, curl's exit code
	# (7 refused, 52 empty reply, 56 recv failure, 28 timeout) and the time
	( for i in $(seq 1 40); do c=0
		h=$(curl -s -o /dev/null -w '%{http_code}' -m 5 -H 'Connection: close' \
			"http://127.0.0.1:$port/models/linear" -d "$iris") || c=$?
		echo "$i ${h:-none} rc=$c $(date +%T.%N)" >>"$run/probe.txt"; sleep 0.05; done ) &
	prober=$!
	r=0
	CS_TEST_STOP_AT=$k "$CS" deploy "linear@$next" --keep-warm 0 >"$run/step.out" 2>&1 || r=$?
	pr=0
	wait "$prober" || pr=$?
	if [ "$r" = 99 ] && [ "$pr" = 0 ] && [ "$(awk '$2 == 200 && $3 == "rc=0"' "$run/probe.txt" | wc -l)" = 40 ] &&
		wait_for 15 settled_either "$cur" "$next"; then
		now=$(st | jq -r '.[0].version')
		pass "a switch killed at step $k: every request answered, the supervisor settled at $now ($([ "$now" = "$cur" ] && echo old || echo new))"
		cur=$now
	else
		fail "a switch killed at step $k" "exit $r: $(tail -n 3 "$run/step.out")" \
			"prober exit $pr, $(wc -l <"$run/probe.txt") of 40 requests; answers: $(awk '{print $2, $3}' "$run/probe.txt" | sort | uniq -c | tr '\n' ' ')" \
			"not answered 200: $(awk '$2 != 200 || $3 != "rc=0"' "$run/probe.txt" | tr '\n' ';')" \
			"$(st | jq -c '.[0] | {version, pools}')"
		cur=$(st | jq -r '.[0].version')
	fi
done

# ------------------------------------------------------------ pause, resume, restart
under_load "restart under load (new pool beside the old, then the old drains)" 3 "$CS" restart linear
cs 0 pause linear
chk() { # chk METHOD PATH WANT_STATUS JQ
	local body code
	code=$(curl -s -o "$run/p.json" -w '%{http_code}' -m 5 -X "$1" -H 'Content-Type: application/json' \
		${5:+-d "$5"} "http://127.0.0.1:$port$2")
	body=$(cat "$run/p.json")
	[ "$code" = "$3" ] && jq -e "$4" <<<"$body" >/dev/null 2>&1 || { echo "$1 $2 -> $code $body"; return 1; }
}
bad=
chk POST /models/linear 503 '.error | test("paused")' "$iris" || bad="$bad /models"
chk POST /v2/models/linear/infer 503 '.error | test("paused")' '{}' || bad="$bad v2-infer"
chk GET /v2/models/linear 503 '.error | test("paused")' || bad="$bad v2-meta"
chk GET /v2/models/linear/ready 503 '.ready == false' || bad="$bad v2-ready"
chk GET /health/linear 503 '.error | test("paused")' || bad="$bad health"
[ -z "$bad" ] && pass "paused: 503 JSON 'paused' on every endpoint, V2 ready says ready: false" ||
	fail "paused on every endpoint" "$bad"
[ -z "$(st | jq '.[0].pools[]')" ] && pass "paused: the pools drained and stopped" || fail "paused pools stopped" "$(st | jq -c '.[0].pools')"
cs 0 resume linear && [ "$(served)" = "$cur" ] && pass "resume: $cur answers again" || fail "resume: $cur answers again"

# ------------------------------------------------------------ status --json, last error
curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/models/linear" -d '{"x": "not numbers"}'
has_error() { st | jq -e '.[0].last_error | test("HTTP 400")' >/dev/null; }
if wait_for 5 has_error; then
	pass "status shows the last error from the heartbeat ($(st | jq -r '.[0].last_error'))"
else
	fail "status last_error" "$(st | jq -c '.[0] | {last_error, heartbeats}')"
fi
s=$(st)
if jq -e '.[0] | (.processes | type) == "number" and (.instances | type) == "number" and
	(.pools | type) == "array" and (.pools[0].pid | type) == "number" and (.requests | type) == "number" and
	(.heartbeats[0].pid | type) == "number" and (.live | type) == "number" and (.ready | type) == "boolean"' <<<"$s" >/dev/null; then
	pass "status --json is typed (numbers, arrays, booleans)"
else
	fail "status --json typed" "$s"
fi
cs 0 show linear --json
jq -e '(.calls | type) == "number" and (.views | type) == "number" and (.tags | type) == "array" and
	(.record.files | type) == "object" and (.record.inputs | type) == "array"' <<<"$out" >/dev/null &&
	pass "show --json is typed" || fail "show --json typed" "${out:0:600}"
rps_ok() { st | jq -e '.[0].heartbeats | all(.rps == null or .rps < 5000)' >/dev/null; }
cs 0 restart linear
bad_rps=0
for i in $(seq 1 10); do rps_ok || bad_rps=1; sleep 0.2; done
[ "$bad_rps" = 0 ] && pass "right after restart no heartbeat reports an impossible req/s" ||
	fail "req/s after restart" "$(st | jq -c '.[0].heartbeats')"

# ------------------------------------------------------------ two instances
cs 0 scale linear --instances 2 && wait_for 5 eval '[ "$(st | jq .[0].live)" = 2 ]' &&
	pass "scale --instances 2: two masters, both in the route" || fail "scale --instances 2: two masters, both in the route"
for i in $(seq 1 20); do curl -s -o /dev/null -m 5 "http://127.0.0.1:$port/models/linear" -d "$iris"; done
m0=$(curl -s -m 5 "http://127.0.0.1:$port/metrics/linear")
pools=$(st | jq -r '.[0].pools[] | select(.role == "stable") | .id')
sum=0 labels=0
for id in $pools; do
	m=$(curl -s -m 5 "http://127.0.0.1:$port/metrics/linear/$id")
	grep -q "pool=\"$id\"" <<<"$m" && labels=$((labels + 1))
	c=$(awk '/^cubeserve_requests_total\{.*endpoint="call",code="2xx"/ {print $2}' <<<"$m")
	sum=$((sum + ${c:-0}))
done
if [ "$labels" = 2 ] && [ "$sum" -ge 20 ] && grep -q 'pool="' <<<"$m0"; then
	pass "two instances: /metrics/linear/ID per pool, each labelled pool=ID; their sum counts all $sum calls"
else
	fail "per-instance metrics" "labels $labels, sum $sum" "$(grep requests_total <<<"$m0" | head -n 3)"
fi

# ------------------------------------------------------------ up again redeploys
cs 0 down
port=$(cs_free_port)
if "$CS" up --detach --no-examples --port "$port" >"$run/up2.out" 2>&1 && wait_for 10 settled "$cur"; then
	pass "up on the existing run directory redeploys what was deployed ($cur, 2 instances)"
else
	fail "up redeploys" "$(tail -n 8 "$run/up2.out")" "$(st 2>&1 | head -c 600)"
fi
cs 0 undeploy linear && [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$port/models/linear" -d "$iris")" = 404 ] &&
	! pgrep -f "$CUBESERVE_RUN_DIR/redis.sock.*--scoreboard" >/dev/null && pass "undeploy: route gone, every pool stopped" || fail "undeploy: route gone, every pool stopped"

# a pool that does not drain (a child hung, say on a lock it inherited at
# fork) holds its requests unanswered until it is killed
if grep -q "did not stop within" "$CUBESERVE_RUN_DIR/logs/up.log" "$run"/*.out 2>/dev/null; then
	fail "every pool stopped when asked, none had to be killed" \
		"$(grep -h "did not stop within" "$CUBESERVE_RUN_DIR/logs/up.log" "$run"/*.out | head -n 5)"
else
	pass "every pool stopped when asked, none had to be killed"
fi
no_sanitizer_reports "no sanitizer reports in the logs" "$CUBESERVE_RUN_DIR"/logs/*.log
tap_done
