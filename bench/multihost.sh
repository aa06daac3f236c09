#!/bin/bash
# multihost.sh - one model on several hosts of this machine (network
# namespaces, tests/integration/test_multihost.sh run with
# CS_MULTIHOST_BENCH): POST /models/linear/predict req/s with the model on
# 1, 2 and 3 hosts (wrk -t2 -c16 for S seconds each, keep-alive), and the
# fail-over when every process of one host is killed under load: failed
# GETs and POSTs, requests nginx sent again to another host, p99 of the
# event, the time until the lost instance serves elsewhere. Needs root
# (ip netns). With --write, replaces its section of docs/performance.md.
#
#   bench/multihost.sh [--write] [--duration S] [--builddir DIR]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build
write=0 dur=5
while [ $# -gt 0 ]; do
	case $1 in
	--write) write=1 ;;
	--duration) dur=$2; shift ;;
	--builddir) build=$2; shift ;;
	-h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "multihost.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cs-bmh.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
CS_TOP_BUILDDIR=$build CS_MULTIHOST_BENCH=$dur bash "$top/tests/integration/test_multihost.sh" \
	>"$tmp/out" 2>&1 || rc=$?
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cat "$tmp/out"
if [ "$rc" = 77 ]; then
	echo "multihost.sh: skipped (network namespaces cannot be made here)" >&2
	exit 77
fi
[ "$rc" = 0 ] || { echo "multihost.sh: the run failed (exit $rc); nothing written" >&2; exit 1; }

# "# bench hosts=K placement=... rps=R requests=... non2xx=... p99_ms=..."
field() { grep "^# bench hosts=$1 " "$tmp/out" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
rps1=$(field 1 rps) rps2=$(field 2 rps) rps3=$(field 3 rps)
ratio() { awk -v a="$1" -v b="$rps1" 'BEGIN {printf "%.2f", a / b}'; }
get_ok=$(grep -m1 'under load (' "$tmp/out" | sed 's/^ok [0-9]* - under load ([^)]*): //')
post=$(grep -m1 '^# POST ' "$tmp/out" | sed 's/.*RESULT //')
back=$(grep -m1 'serving again after' "$tmp/out" | sed 's/.*after \([0-9]*\) ms.*/\1/')
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
san=$(sed -n 's/^SAN_FLAGS *= *//p' "$build/Makefile" 2>/dev/null | head -n 1)
build_kind="an optimized build"
case $san in *sanitize*) build_kind="a build with sanitizers ($san), slower than a release build" ;; esac
echo "1 host $rps1 req/s, 2 hosts $rps2 ($(ratio "$rps2")x), 3 hosts $rps3 ($(ratio "$rps3")x); back after $back ms"
[ "$write" = 1 ] || exit 0

section=$(cat <<MD
<!-- bench/multihost.sh:begin -->
## Several hosts (bench/multihost.sh)

$(date -u +%Y-%m-%d), $cpu ($(nproc) cores), load average $load_before
before the run and $load_after after it (other engineers' builds ran on
the same machine). Three "hosts" are network namespaces of this one
machine (tests/integration/test_multihost.sh): each runs an agent
(\`cubeserve supervise --host hN\`) whose workers listen on TCP on a veth
address; Redis and the front nginx are in the root namespace. All of them
share the same $(nproc) cores, so more hosts cannot mean more throughput
here; the figure that matters is the fail-over. Binaries: $build_kind.

Throughput, \`POST /models/linear/predict\` through the front nginx (wrk
-t2 -c16, keep-alive, $dur s each), the model on K hosts (\`cubeserve scale
linear --instances K\`, one prefork master with 1 process per host). K
hosts are K worker processes: 2 use both cores, a third only adds
contention (and the machine's other load moves these figures a lot):

| hosts | req/s | vs 1 host |
| --- | --- | --- |
| 1 | $rps1 | 1.00x |
| 2 | $rps2 | $(ratio "$rps2")x |
| 3 | $rps3 | $(ratio "$rps3")x |

Fail-over: every process of h2 (its agent and its worker) killed with
SIGKILL 3 s into a 16 s load on the 3-host deployment:

- GET /models/linear (8 clients, a new connection per request; p99 over
  the whole 16 s load, the kill included): $get_ok
- POST /models/linear/predict meanwhile (2 kept-alive connections; nginx
  sends a POST again only when no byte of it reached the dead host, so the
  POSTs in flight on h2 are answered 502; wrk's socket errors are kept-alive
  client connections nginx closed while it reloaded): $post
- the lost instance serves again on another host **$back ms** after the
  kill (the test polls \`cubeserve status\` for it): the agent's lease (5 s)
  lapses, a supervisor re-places the slot (a pass: 0.2 s), the new host's
  agent starts the pool and checks it (about 1 s on a quiet machine, longer
  under this load) and the front reloads.

Run it again with \`sudo bench/multihost.sh --write\`.
<!-- bench/multihost.sh:end -->
MD
)
doc=$top/docs/performance.md
if grep -q '<!-- bench/multihost.sh:begin -->' "$doc"; then
	awk -v s="$section" '
		/<!-- bench\/multihost.sh:begin -->/ {print s; skip = 1; next}
		/<!-- bench\/multihost.sh:end -->/ {skip = 0; next}
		!skip {print}' "$doc" >"$tmp/doc"
	cat "$tmp/doc" >"$doc"
else
	printf '\n%s\n' "$section" >>"$doc"
fi
echo "wrote $doc"
