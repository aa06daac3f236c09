#!/bin/bash
# test_multihost.sh - several hosts on this machine: three network
# namespaces made by the test (names with its pid), joined by veth pairs to
# a bridge, with addresses only in 198.18.0.0/15 inside them (the bridge's
# side is the front's). Redis and the front (`cubeserve supervise --port`,
# which runs nginx) in the root namespace on the bridge address; in each
# namespace an agent `cubeserve supervise --host hN --address ADDR` whose
# workers listen on TCP there. Checks: bad input (unknown host, too many
# instances, a host name a live agent holds); `deploy linear --instances 3`
# puts one instance on each host and the front upstream lists the three
# TCP workers with retries and passive checks; under wrk load of GET
# /models/linear (idempotent: nginx sends it again to another host) every
# process of h2 is killed: 0 failed GETs, retries counted from the access
# log, p99 of the event; the lost instance is re-placed on h1/h3; h2's
# agent back: it gets an instance again and the model is served; undeploy.
# Everything it started is stopped, the namespaces and links removed.
# SKIP (77) where namespaces cannot be made. Prints TAP.
# CS_MULTIHOST_BENCH=S (bench/multihost.sh sets it): before the fail-over,
# also measures POST predict req/s for S seconds with the model on 1, 2
# and 3 hosts (`scale --instances K`), printed as "# bench ..." lines; no
# check depends on them.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,22s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh" # cs_free_port
require_tools redis-server redis-cli jq wrk curl ip nginx spawn-fcgi

CS=$CS_TOP_BUILDDIR/cubeserve
[ -x "$CS" ] || { echo "1..1"; echo "not ok 1 - cubeserve is built in $CS_TOP_BUILDDIR"; exit 1; }

tag=$$
probe=csmh$tag-probe
if [ "$(id -u)" != 0 ] || ! ip netns add "$probe" 2>/dev/null; then
	echo "1..0 # SKIP network namespaces cannot be made here (needs root and 'ip netns add'; uid $(id -u))"
	exit 77
fi
ip netns del "$probe"

run_dir /tmp/cs-mh
hosts=(h1 h2 h3)
br=csb$tag
# a /24 of 198.18.0.0/15 no route of this machine uses yet
net=
for k in $(seq 0 40); do
	x=$(((tag + k) % 250 + 2))
	if [ -z "$(ip route show to match "198.18.$x.1" | grep -v default || true)" ]; then
		net=198.18.$x
		break
	fi
done
[ -n "$net" ] || { echo "1..1"; echo "not ok 1 - a free /24 in 198.18.0.0/16"; exit 1; }
front_ip=$net.1

declare -A ns addr
front=
redis=
load=()
cleanup() {
	local h p
	for p in "${load[@]}"; do kill "$p" 2>/dev/null || true; done
	for h in "${hosts[@]}"; do
		[ -n "${ns[$h]:-}" ] || continue
		for p in $(ip netns pids "${ns[$h]}" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
	done
	[ -n "$front" ] && { kill "$front" 2>/dev/null || true; wait "$front" 2>/dev/null || true; }
	[ -n "$redis" ] && { kill "$redis" 2>/dev/null || true; wait "$redis" 2>/dev/null || true; }
	for h in "${hosts[@]}"; do
		[ -n "${ns[$h]:-}" ] && ip netns del "${ns[$h]}" 2>/dev/null
		ip link del "csv$tag${h#h}" 2>/dev/null || true
	done
	ip link del "$br" 2>/dev/null || true
	return 0
}

# ------------------------------------------------------------ the network
ip link add "$br" type bridge
ip addr add "$front_ip/24" dev "$br"
ip link set "$br" up
i=0
for h in "${hosts[@]}"; do
	i=$((i + 1))
	ns[$h]=csmh$tag-$h
	addr[$h]=$net.$((10 + i))
	ip netns add "${ns[$h]}"
	ip link add "csv$tag$i" type veth peer name "csp$tag$i"
	ip link set "csv$tag$i" master "$br" up
	ip link set "csp$tag$i" netns "${ns[$h]}"
	ip -n "${ns[$h]}" link set lo up
	ip -n "${ns[$h]}" link set "csp$tag$i" name eth0
	ip -n "${ns[$h]}" addr add "${addr[$h]}/24" dev eth0
	ip -n "${ns[$h]}" link set eth0 up
done
inns() { local h=$1; shift; ip netns exec "${ns[$h]}" "$@"; }
# ------------------------------------------------------------ Redis, front, agents
rport=$(cs_free_port)
redis-server --port "$rport" --bind "$front_ip" --dir "$run" --save '' --appendonly no \
	--protected-mode no >"$run/redis.log" 2>&1 &
redis=$!
export CUBESERVE_REGISTRY=redis://$front_ip:$rport
quiet() { "$@" >/dev/null 2>&1; }
wait_for 10 quiet redis-cli -h "$front_ip" -p "$rport" ping ||
	{ fail "redis-server on $front_ip:$rport" "$(cat "$run/redis.log")"; tap_done; exit 1; }
reach() { [ "$(inns "$1" redis-cli -h "$front_ip" -p "$rport" ping 2>/dev/null)" = PONG ]; }
if wait_for 10 reach h1 && reach h2 && reach h3; then
	pass "three namespaces on bridge $br: h1..h3 at ${addr[h1]}..${addr[h3]} reach Redis at $front_ip:$rport"
else
	fail "namespaces reach the front" "$(ip -n "${ns[h1]}" addr)"
	tap_done
	exit 1
fi
nport=$(cs_free_port)
CUBESERVE_RUN_DIR=$run/front "$CS" supervise --port "$nport" >"$run/front.log" 2>&1 &
front=$!
start_agent() {
	local h=$1
	inns "$h" env CUBESERVE_RUN_DIR="$run/$h" "$CS" supervise --host "$h" --address "${addr[$h]}" \
		>>"$run/$h.log" 2>&1 &
}
for h in "${hosts[@]}"; do start_agent "$h"; done
alive() { [ "$("$CS" hosts --json 2>/dev/null | jq '[.[] | select(.alive)] | length')" = "$1" ]; }
if wait_for 20 alive 3 && wait_for 10 quiet curl -sf "http://127.0.0.1:$nport/nginx-health"; then
	pass "Redis and the front nginx (supervise --port $nport) in the root namespace; an agent in each namespace: 3 hosts up"
else
	fail "hosts up" "$("$CS" hosts 2>&1)" "$(tail -n 5 "$run/front.log" "$run/h1.log")"
	tap_done
	exit 1
fi

pub=$run/linear
cp -r "$CS_TOP_SRCDIR/examples/linear" "$pub"
"$CS" publish "$pub" >"$run/pub.out" 2>&1 || fail "publish linear" "$(tail -n 5 "$run/pub.out")"

# ------------------------------------------------------------ bad input
rc=0
CUBESERVE_RUN_DIR=$run/front "$CS" deploy linear --instances 2 --hosts h1,nohost >"$run/bad1.out" 2>&1 || rc=$?
if [ "$rc" = 4 ] && grep -q "no host named 'nohost'" "$run/bad1.out" && ! "$CS" status linear >/dev/null 2>&1; then
	pass "deploy --hosts h1,nohost: exit 4 naming 'nohost', nothing deployed"
else
	fail "unknown host" "exit $rc: $(cat "$run/bad1.out")"
fi
cores=$("$CS" hosts --json | jq '[.[] | .cores | tonumber] | add')
if [ "$((cores + 1))" -le 16 ]; then
	rc=0
	CUBESERVE_RUN_DIR=$run/front "$CS" deploy linear --instances $((cores + 1)) >"$run/bad2.out" 2>&1 || rc=$?
	if [ "$rc" = 5 ] && grep -q "more than the live hosts can hold: $cores instance" "$run/bad2.out" &&
		! "$CS" status linear >/dev/null 2>&1; then
		pass "deploy --instances $((cores + 1)) on hosts holding $cores (one per core): refused, exit 5, nothing placed"
	else
		fail "too many instances" "exit $rc: $(cat "$run/bad2.out")"
	fi
else
	skip "the hosts hold $cores instances, more than --instances allows (16)"
fi
rc=0
inns h2 env CUBESERVE_RUN_DIR="$run/h2b" timeout 20 "$CS" supervise --host h1 --address "${addr[h2]}" --once \
	>"$run/bad3.out" 2>&1 || rc=$?
if [ "$rc" = 5 ] && grep -q "held by the live agent" "$run/bad3.out"; then
	pass "a second agent for h1 (from h2's namespace): exit 5, naming the live holder"
else
	fail "host name taken" "exit $rc: $(cat "$run/bad3.out")"
fi

# ------------------------------------------------------------ deploy on three hosts
st() { CUBESERVE_RUN_DIR=$run/front "$CS" status linear --json; }
# ready pools per host, e.g. "h1 h2 h3"
ready_hosts() { st 2>/dev/null | jq -r '[.[0].pools[] | select(.state == "ready" and .role == "stable") | .host] | sort | join(" ")'; }
placement() { st 2>/dev/null | jq -r '.[0].placement | sort | join(" ")'; }
t0=$(date +%s%N)
if CUBESERVE_RUN_DIR=$run/front timeout 90 "$CS" deploy linear --instances 3 >"$run/deploy.out" 2>&1 &&
	[ "$(placement)" = "h1 h2 h3" ] && [ "$(ready_hosts)" = "h1 h2 h3" ]; then
	pass "deploy linear --instances 3: one instance on each of h1 h2 h3, all ready in $((($(date +%s%N) - t0) / 1000000)) ms"
else
	fail "deploy on three hosts" "$(cat "$run/deploy.out")" "$(st 2>&1 | head -c 800)"
fi
up=$run/front/nginx/upstreams.conf
loc=$run/front/nginx/locations.conf
up_of() { sed -n '/^upstream cubeserve_linear {/,/^}/p' "$up"; }
# servers_of PATTERN COUNT: the upstream has COUNT servers matching PATTERN
servers_of() { [ "$(up_of | grep -c "server $1")" = "$2" ]; }
if wait_for 5 servers_of "$net\.[0-9]*:[0-9]* max_fails=1 fail_timeout=10s;" 3 &&
	grep -q "fastcgi_next_upstream error timeout;" "$loc" && grep -q "fastcgi_next_upstream_tries 3;" "$loc" &&
	! grep -q "error timeout non_idempotent" "$loc"; then
	pass "the front upstream lists the 3 TCP workers (max_fails=1 fail_timeout=10s); next_upstream error timeout, 3 tries, POST not resent"
else
	fail "front upstream" "$(up_of)" "$(grep -m3 next_upstream "$loc")"
fi
if CUBESERVE_RUN_DIR=$run/front "$CS" status linear | grep -q "placed on hosts" &&
	[ "$(CUBESERVE_RUN_DIR=$run/front "$CS" status linear | grep -c "pool .* host h[123] ")" = 3 ]; then
	pass "status shows which host runs each pool"
else
	fail "status hosts" "$(CUBESERVE_RUN_DIR=$run/front "$CS" status linear)"
fi
body=$(curl -s -XPOST -d '{"x": [6.7, 3.0, 5.2, 2.3]}' "http://127.0.0.1:$nport/models/linear/predict")
if [ "$(echo "$body" | jq -r .species)" = virginica ]; then
	pass "POST /models/linear/predict through the front: virginica"
else
	fail "predict through the front" "$body"
fi

# ------------------------------------------------------------ kill a host under load
# (at least 50 answers a second on average: a load that stalled, e.g. on a
# worker that stopped answering, is a failure, not a vacuous "0 failed")
cat >"$run/count.lua" <<'EOF'
-- counts the answers that are not 2xx (wrk's own line counts 3xx as good)
bad = 0 -- a global: done() reads each thread's with thread:get()
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d non2xx=%d socket_errors=%d p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, n, e.connect + e.read + e.write + e.timeout,
    latency:percentile(99) / 1000, latency.max / 1000))
end
EOF
cat >"$run/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"x": [5.1, 3.5, 1.4, 0.2]}'
wrk.headers["Content-Type"] = "application/json"
EOF
sed -n '/^bad = 0/,$p' "$run/count.lua" >>"$run/post.lua"
if [ -n "${CS_MULTIHOST_BENCH:-}" ]; then
	for k in 1 2 3; do
		if ! CUBESERVE_RUN_DIR=$run/front timeout 90 "$CS" scale linear --instances "$k" >"$run/scale$k.out" 2>&1; then
			echo "# bench: scale --instances $k failed: $(tail -n 2 "$run/scale$k.out")"
			continue
		fi
		sleep 1
		wrk -t2 -c16 -d"${CS_MULTIHOST_BENCH}s" --timeout 5s -s "$run/post.lua" \
			"http://127.0.0.1:$nport/models/linear/predict" >"$run/bench$k.txt" 2>&1 || true
		echo "# bench hosts=$k placement=$(placement | tr ' ' ,) rps=$(awk '/Requests\/sec/ {print $2}' "$run/bench$k.txt") $(grep RESULT "$run/bench$k.txt" | cut -d' ' -f2-)"
	done
	spread3() { [ "$(placement)" = "h1 h2 h3" ] && [ "$(ready_hosts)" = "h1 h2 h3" ]; }
	wait_for 30 spread3 || echo "# bench: not back on 3 hosts: $(placement)"
fi
log=$run/front/nginx/logs/access.log
lines0=$(wc -l <"$log")
dur=16
# A new connection per GET: a kept-alive client connection that nginx
# closes while it reloads (its old workers go) can race a request the
# client just sent, which wrk counts as a read error although nginx never
# read it (real clients send such a GET again); that is about nginx's
# reload, not the fail-over measured here. The POST load keeps its
# connections alive and its figures are reported, not asserted.
wrk -t2 -c8 -d${dur}s --timeout 5s -H "Connection: close" -s "$run/count.lua" \
	"http://127.0.0.1:$nport/models/linear" >"$run/wrk.txt" 2>&1 &
load+=($!)
wrk -t1 -c2 -d${dur}s --timeout 5s -s "$run/post.lua" "http://127.0.0.1:$nport/models/linear/predict" >"$run/wrk-post.txt" 2>&1 &
load+=($!)
sleep 3
t_kill=$(date +%s%N)
killed=$(ip netns pids "${ns[h2]}" | wc -l)
# shellcheck disable=SC2046
kill -9 $(ip netns pids "${ns[h2]}")
replaced() { [ "$(placement)" = "h1 h1 h3" ] || [ "$(placement)" = "h1 h3 h3" ]; }
served_again() { replaced && [ "$(ready_hosts | wc -w)" = 3 ] && ! ready_hosts | grep -q h2; }
if wait_for 20 served_again; then
	t_back=$((($(date +%s%N) - t_kill) / 1000000))
	pass "every process of h2 killed ($killed): its instance re-placed ($(placement)) and serving again after $t_back ms (lease 5000 ms)"
else
	t_back=-1
	fail "re-placed" "$(placement)" "$(st 2>&1 | head -c 800)" "$(tail -n 5 "$run/front.log" "$run/h1.log")"
fi
if wait_for 5 servers_of "${addr[h2]}:" 0; then
	pass "h2's worker left the front upstream"
else
	fail "h2 out of the upstream" "$(up_of)"
fi
wait "${load[0]}" || true
wait "${load[1]}" || true
load=()
res=$(grep RESULT "$run/wrk.txt" || true)
pres=$(grep RESULT "$run/wrk-post.txt" || true)
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
retried=$(tail -n +$((lines0 + 1)) "$log" | grep -c 'upstream="[^"]*, ' || true)
if [ -n "$res" ] && [ "$(kv "$res" non2xx)" = 0 ] && [ "$(kv "$res" socket_errors)" = 0 ] &&
	[ "$(kv "$res" requests)" -ge $((dur * 50)) ]; then
	pass "under load ($dur s, 8 clients of GET /models/linear): 0 failed of $(kv "$res" requests) requests; $retried retried on another host (access log); p99 $(kv "$res" p99_ms) ms, max $(kv "$res" max_ms) ms"
else
	fail "0 failed GETs" "$res" "$(cat "$run/wrk.txt")"
fi
echo "# POST /models/linear/predict meanwhile (2 connections; a POST is resent only when no byte reached h2): $pres"
echo "# fail-over: killed at +3 s, instance serving again elsewhere after $t_back ms"

# ------------------------------------------------------------ the host comes back
start_agent h2
spread() { [ "$(ready_hosts)" = "h1 h2 h3" ] && [ "$(placement)" = "h1 h2 h3" ]; }
if wait_for 30 spread; then
	pass "h2's agent back: the placement evens out again ($(placement)), one ready pool per host"
else
	fail "h2 back" "$(placement)" "$(ready_hosts)" "$(tail -n 5 "$run/h2.log")"
fi
body=$(curl -s -XPOST -d '{"x": [5.1, 3.5, 1.4, 0.2]}' "http://127.0.0.1:$nport/models/linear/predict")
if [ "$(echo "$body" | jq -r .species)" = setosa ] &&
	wait_for 5 servers_of "${addr[h2]}:" 1; then
	pass "the model is served with h2 back (setosa), h2 in the upstream again"
else
	fail "served with h2 back" "$body" "$(up_of)"
fi

# ------------------------------------------------------------ undeploy
no_workers() {
	local h p
	for h in "${hosts[@]}"; do
		for p in $(ip netns pids "${ns[$h]}"); do
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "--model linear@" && return 1
		done
	done
	return 0
}
if CUBESERVE_RUN_DIR=$run/front timeout 60 "$CS" undeploy linear >"$run/undeploy.out" 2>&1 &&
	! "$CS" status linear >/dev/null 2>&1 &&
	wait_for 10 no_workers; then
	pass "undeploy: the agents drained their pools, the record is gone"
else
	fail "undeploy" "$(cat "$run/undeploy.out")"
fi
no_sanitizer_reports "no sanitizer reports in the logs of the front and the agents" \
	"$run/front.log" "$run"/h?.log "$run"/h?/logs/linear.log
tap_done
