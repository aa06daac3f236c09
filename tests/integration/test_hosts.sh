#!/bin/bash
# test_hosts.sh - `cubeserve hosts` against a private redis-server (unix
# socket): an empty registry; an agent (`hosts --agent NAME`) registers a
# host that is listed up; a second agent under the same name is refused
# (exit 5) while the first lives; the first killed with SIGKILL is listed
# down once its 5 s lease lapses, and a new agent may then take the name; a
# clean stop is listed stopped; --forget refuses a live host and removes a
# stopped one; bad names are exit 2; `supervise --host NAME` is the host's
# agent the same way. Placement with two agents on loopback (supervise
# --host pa|pb --address 127.0.0.1) and a front (supervise --port): --hosts
# pa puts both instances on pa, a second model goes to the less loaded pb,
# an unknown host is exit 4, a host that is down and more instances than
# the hosts hold are exit 5 with nothing placed, --port with --host is
# exit 2. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,14s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools redis-server redis-cli jq
quiet() { "$@" >/dev/null 2>&1; }

CS=$CS_TOP_BUILDDIR/cubeserve
[ -x "$CS" ] || { echo "1..1"; echo "not ok 1 - cubeserve is built in $CS_TOP_BUILDDIR"; exit 1; }

run=$(mktemp -d /tmp/cs-hosts.XXXXXX)
pids=()
cleanup() {
	local p
	# the pools the agents started (TCP, no socket file): their masters and children
	for p in $("$CS" status --json 2>/dev/null | jq -r '.[].pools[].pid' 2>/dev/null); do
		# shellcheck disable=SC2046 # a list of pids
		kill "$p" $(cat "/proc/$p/task/$p/children" 2>/dev/null) 2>/dev/null || true
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$failed" -ne 0 ]; then echo "# run directory kept: $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$run/redis.sock" --unixsocketperm 700 --dir "$run" \
	--save '' --appendonly no >"$run/redis.log" 2>&1 &
pids+=($!)
export CUBESERVE_REGISTRY=unix:$run/redis.sock CUBESERVE_RUN_DIR=$run/cs
if ! wait_for 10 quiet redis-cli -s "$run/redis.sock" ping; then
	echo "1..1"; echo "not ok 1 - private redis-server started"; exit 1
fi

state() { "$CS" hosts --json | jq -r --arg h "$1" '.[] | select(.name == $h) | .state'; }
is_state() { [ "$(state "$1")" = "$2" ]; }

if "$CS" hosts >"$run/empty.out" 2>&1 && grep -q "no hosts" "$run/empty.out" &&
	[ "$("$CS" hosts --json)" = "[]" ]; then
	pass "an empty registry: no hosts (text and --json)"
else
	fail "empty registry" "$(cat "$run/empty.out")"
fi

"$CS" hosts --agent node-a --address 198.18.0.10 >"$run/a1.out" 2>&1 &
a1=$!
pids+=("$a1")
if wait_for 10 is_state node-a up; then
	pass "hosts --agent node-a registers the host: listed up"
else
	fail "agent registers" "$(cat "$run/a1.out")"
fi
j=$("$CS" hosts --json)
if [ "$(echo "$j" | jq -r '.[0].address')" = 198.18.0.10 ] &&
	[ "$(echo "$j" | jq -r '.[0].cores')" = "$(nproc)" ] &&
	[ "$(echo "$j" | jq -r '.[0].memory_bytes | tonumber > 0')" = true ] &&
	[ "$(echo "$j" | jq -r '.[0].beat_age_ms < 3000')" = true ] &&
	"$CS" hosts | grep -q "^node-a  *up  *198.18.0.10"; then
	pass "the record: address, cores ($(nproc)), memory, a beat under 3 s old; the table shows it"
else
	fail "the host record" "$j"
fi

rc=0
"$CS" hosts --agent node-a --duration 1 >"$run/a2.out" 2>&1 || rc=$?
if [ "$rc" = 5 ] && grep -q "held by the live agent" "$run/a2.out"; then
	pass "a second agent under a live host's name: exit 5, naming the holder"
else
	fail "second agent" "exit $rc: $(cat "$run/a2.out")"
fi
rc=0
"$CS" hosts --forget node-a >"$run/f1.out" 2>&1 || rc=$?
if [ "$rc" = 5 ] && grep -q "has a live agent" "$run/f1.out"; then
	pass "--forget of a live host: exit 5"
else
	fail "forget live host" "exit $rc: $(cat "$run/f1.out")"
fi

kill -KILL "$a1"
wait "$a1" 2>/dev/null || true
t0=$(date +%s%N)
if wait_for 10 is_state node-a down; then
	t=$((($(date +%s%N) - t0) / 1000000))
	pass "the agent killed (SIGKILL): node-a listed down after ${t} ms (lease 5000 ms)"
else
	fail "killed agent goes down" "$("$CS" hosts)"
fi

"$CS" hosts --agent node-a --address 198.18.0.11 >"$run/a3.out" 2>&1 &
a3=$!
pids+=("$a3")
if wait_for 10 is_state node-a up &&
	[ "$("$CS" hosts --json | jq -r '.[0].address')" = 198.18.0.11 ]; then
	pass "after the lease lapsed a new agent takes node-a"
else
	fail "new agent after lapse" "$(cat "$run/a3.out")"
fi
kill -TERM "$a3"
wait "$a3" 2>/dev/null || true
if is_state node-a stopped && grep -q "host node-a released" "$run/a3.out"; then
	pass "a clean stop (SIGTERM): listed stopped"
else
	fail "clean stop" "$(cat "$run/a3.out")" "$("$CS" hosts)"
fi
if "$CS" hosts --forget node-a >"$run/f2.out" 2>&1 && [ "$("$CS" hosts --json)" = "[]" ]; then
	pass "--forget removes a stopped host"
else
	fail "forget stopped host" "$(cat "$run/f2.out")"
fi
rc=0
"$CS" hosts --forget node-a >"$run/f3.out" 2>&1 || rc=$?
r2=0
"$CS" hosts --agent Node_A >"$run/bad.out" 2>&1 || r2=$?
if [ "$rc" = 4 ] && [ "$r2" = 2 ] && grep -q "not a host name" "$run/bad.out"; then
	pass "--forget of an unknown host: exit 4; a bad name: exit 2"
else
	fail "unknown / bad host" "exit $rc $(cat "$run/f3.out")" "exit $r2 $(cat "$run/bad.out")"
fi

# the supervisor as the host's agent
"$CS" supervise --host node-s --address 198.18.0.20 >"$run/s1.out" 2>&1 &
s1=$!
pids+=("$s1")
if wait_for 10 is_state node-s up && grep -q "host node-s (address 198.18.0.20" "$run/s1.out"; then
	pass "supervise --host node-s registers the host and beats"
else
	fail "supervise --host" "$(cat "$run/s1.out")"
fi
rc=0
timeout 20 "$CS" supervise --host node-s --once >"$run/s2.out" 2>&1 || rc=$?
if [ "$rc" = 5 ] && grep -q "held by the live agent" "$run/s2.out"; then
	pass "a second supervise --host node-s: exit 5"
else
	fail "second supervisor" "exit $rc: $(cat "$run/s2.out")"
fi
kill -TERM "$s1"
wait "$s1" 2>/dev/null || true
if is_state node-s stopped; then
	pass "the supervisor stopped: node-s listed stopped"
else
	fail "supervisor stop" "$("$CS" hosts)"
fi

# ------------------------------------------------------------ placement
rc=0
"$CS" supervise --host node-x --port 8 >"$run/p0.out" 2>&1 || rc=$?
if [ "$rc" = 2 ] && grep -q "is for the supervisor without --host" "$run/p0.out"; then
	pass "supervise --host with --port: exit 2"
else
	fail "--host --port" "exit $rc: $(cat "$run/p0.out")"
fi
# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh" # cs_free_port
nport=$(cs_free_port)
CUBESERVE_RUN_DIR=$run/front "$CS" supervise --port "$nport" >"$run/front.out" 2>&1 &
pids+=($!)
for h in pa pb; do
	CUBESERVE_RUN_DIR=$run/$h "$CS" supervise --host "$h" --address 127.0.0.1 >"$run/$h.out" 2>&1 &
	pids+=($!)
done
"$CS" publish "$CS_TOP_SRCDIR/examples/linear" >"$run/pub.out" 2>&1 || fail "publish linear" "$(cat "$run/pub.out")"
mkdir -p "$run/l2"
cp "$CS_TOP_SRCDIR/examples/linear/glue.lua" "$CS_TOP_SRCDIR/examples/linear/weights.json" "$run/l2/"
jq '.name = "linear2"' "$CS_TOP_SRCDIR/examples/linear/model.json" >"$run/l2/model.json"
"$CS" publish "$run/l2" >"$run/pub2.out" 2>&1 || fail "publish linear2" "$(cat "$run/pub2.out")"
if ! wait_for 10 is_state pa up || ! wait_for 10 is_state pb up; then
	fail "agents pa, pb up" "$("$CS" hosts)"
fi
dep() { CUBESERVE_RUN_DIR=$run/front timeout 60 "$CS" deploy "$@"; }
placement() { CUBESERVE_RUN_DIR=$run/front "$CS" status "$1" --json | jq -r '.[0].placement | join(" ")'; }
ncores=$(nproc)
rc=0
dep linear --instances 2 --hosts pa,zz >"$run/p1.out" 2>&1 || rc=$?
if [ "$rc" = 4 ] && grep -q "no host named 'zz'" "$run/p1.out" && ! "$CS" status linear >/dev/null 2>&1; then
	pass "deploy --hosts pa,zz: exit 4 naming zz, nothing deployed"
else
	fail "unknown host" "exit $rc: $(cat "$run/p1.out")"
fi
rc=0
dep linear --instances 2 --hosts node-s >"$run/p2.out" 2>&1 || rc=$?
if [ "$rc" = 5 ] && grep -q "host 'node-s' is down" "$run/p2.out"; then
	pass "deploy --hosts node-s (stopped): exit 5, the host is down"
else
	fail "down host" "exit $rc: $(cat "$run/p2.out")"
fi
if [ $((ncores + 1)) -le 16 ]; then
	rc=0
	dep linear --instances $((ncores + 1)) --hosts pa >"$run/p3.out" 2>&1 || rc=$?
	if [ "$rc" = 5 ] && grep -q "more than the live hosts can hold: $ncores instance" "$run/p3.out" &&
		! "$CS" status linear >/dev/null 2>&1; then
		pass "deploy --instances $((ncores + 1)) --hosts pa ($ncores cores): exit 5, nothing placed"
	else
		fail "too many instances" "exit $rc: $(cat "$run/p3.out")"
	fi
fi
k=2
[ "$ncores" -lt 2 ] && k=1
if dep linear --instances $k --hosts pa >"$run/p4.out" 2>&1 && [ "$(placement linear)" = "$(printf 'pa %.0s' $(seq $k) | sed 's/ $//')" ] &&
	[ "$(CUBESERVE_RUN_DIR=$run/front "$CS" status linear --json | jq '[.[0].pools[] | select(.state == "ready" and .host == "pa")] | length')" = $k ] &&
	curl -sf -XPOST -d '{"x": [5.1, 3.5, 1.4, 0.2]}' "http://127.0.0.1:$nport/models/linear/predict" | grep -q setosa; then
	pass "deploy linear --instances $k --hosts pa: all on pa, ready on TCP, served by the front"
else
	fail "deploy --hosts pa" "$(cat "$run/p4.out")" "$(CUBESERVE_RUN_DIR=$run/front "$CS" status linear 2>&1)"
fi
if dep linear2 --instances 1 >"$run/p5.out" 2>&1 && [ "$(placement linear2)" = pb ]; then
	pass "deploy linear2 (no --hosts): the less loaded host pb"
else
	fail "least loaded" "$(cat "$run/p5.out")" "$(placement linear2)"
fi
for m in linear linear2; do
	CUBESERVE_RUN_DIR=$run/front timeout 60 "$CS" undeploy "$m" >"$run/u-$m.out" 2>&1 ||
		fail "undeploy $m" "$(cat "$run/u-$m.out")"
done
tap_done
[ "$failed" -eq 0 ]
