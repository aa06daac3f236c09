#!/bin/bash
# peers_image.sh - a convolutional network served, against the Node peer on
# the same .onnx file: examples/mobilenetv2 (or resnet18) through nginx +
# cubeserve-worker --processes N (the example's manifest and glue, onnx
# plugin, engine auto = XNNPACK, one thread, no batching) against
# bench/peers/node/server.js (PEER_KIND=image: node:cluster of N,
# onnxruntime-node, intraOpNumThreads 1), one 3x224x224 FP32 image per
# request as the raw body (application/octet-stream), top-5 answer. The two
# run interleaved, --rounds times, with wrk at each --conns; the report
# gives the median req/s and p50/p99 of the rounds and the ratio.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/peers_image.sh [--model mobilenetv2|resnet18] [--duration S]
                            [--rounds R] [--conns "1 8"] [--procs N]
                            [--builddir DIR]

  --model M      the example (default mobilenetv2; made by its export.py
                 when missing)
  --duration S   seconds per wrk run (default 10, 2..120)
  --rounds R     interleaved rounds, medians reported (default 2, 1..9)
  --conns LIST   wrk connections (default "1 8")
  --procs N      serving processes of each target (default 2)
  --builddir DIR a build without sanitizers (default ./build-bench)

Needs nginx, spawn-fcgi, wrk, curl, jq, node and
(cd bench/peers/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci). Loopback
only; every load is bounded by --duration.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/peers_image.sh $*"
model=mobilenetv2
duration=10
rounds=2
conns="1 8"
procs=2
builddir=$srcdir/build-bench
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--model) model=${2:?--model needs a value}; shift ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift ;;
	--conns) conns=${2:?--conns needs a value}; shift ;;
	--procs) procs=${2:?--procs needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	*) echo "peers_image: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
case $model in mobilenetv2 | resnet18) ;; *) echo "peers_image: --model is mobilenetv2 or resnet18" >&2; exit 2 ;; esac
[[ $duration =~ ^[0-9]+$ ]] && [ "$duration" -ge 2 ] && [ "$duration" -le 120 ] ||
	{ echo "peers_image: --duration is 2..120" >&2; exit 2; }
[[ $rounds =~ ^[1-9]$ ]] || { echo "peers_image: --rounds is 1..9" >&2; exit 2; }
[[ $procs =~ ^[0-9]+$ ]] && [ "$procs" -ge 1 ] && [ "$procs" -le 16 ] ||
	{ echo "peers_image: --procs is 1..16" >&2; exit 2; }
for c in $conns; do
	[[ $c =~ ^[0-9]+$ ]] && [ "$c" -ge 1 ] && [ "$c" -le 256 ] ||
		{ echo "peers_image: --conns: 1..256 each (got '$c')" >&2; exit 2; }
done
for tool in nginx spawn-fcgi wrk curl jq node; do
	command -v "$tool" >/dev/null || { echo "peers_image: $tool is missing" >&2; exit 1; }
done
nodedir=$srcdir/bench/peers/node
[ -d "$nodedir/node_modules/onnxruntime-node" ] ||
	{ echo "peers_image: run: (cd bench/peers/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci)" >&2; exit 1; }
builddir=$(cd "$builddir" 2>/dev/null && pwd) ||
	{ echo "peers_image: no build dir; run: scripts/build.sh build-bench" >&2; exit 1; }
if ldd "$builddir/cubeserve-worker" 2>/dev/null | grep -q 'libasan\|libubsan'; then
	echo "peers_image: $builddir is built with sanitizers; use a plain build" >&2
	exit 1
fi
ex=$srcdir/examples/$model
onnx=$ex/$model.onnx
if [ ! -f "$onnx" ] || [ ! -f "$ex/$model.input.f32" ]; then
	echo "peers_image: making $model ($ex/export.py)"
	/usr/bin/python3 "$ex/export.py" >/dev/null
fi

export CS_TOP_SRCDIR=$srcdir CS_TOP_BUILDDIR=$builddir
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-peers-image.XXXXXX")
NODE_PID=
cleanup() {
	[ -z "$NODE_PID" ] || kill -TERM "$NODE_PID" 2>/dev/null || true
	cs_stack_stop
	[ -z "$NODE_PID" ] || wait "$NODE_PID" 2>/dev/null || true
	rm -rf "$run"
}
trap cleanup EXIT

# the first of the example's seeded inputs, raw FP32
head -c $((3 * 224 * 224 * 4)) "$ex/$model.input.f32" >"$run/image.f32"
export CS_BENCH_FILE=$run/image.f32 CS_BENCH_TYPE=application/octet-stream
jq --arg m "$onnx" --arg g "$ex/glue.lua" '.model = $m | .glue = $g | del(.batching)' \
	"$ex/model.json" >"$run/model.json"

# cubeserve
cs_stack_init "$run/cs"
cs_worker_start "$model" "$run/model.json" --processes "$procs" --log-level warn
port=$(cs_free_port)
CS_NGINX_ACCESS_LOG=off CS_NGINX_WORKERS=1 cs_nginx_start "$port"
declare -A URL
URL[cs]=http://127.0.0.1:$port/models/$model
cs_wait_http "${URL[cs]}" 120 "$(cs_pid "$model")" ||
	{ tail -n 20 "$CS_RUN/logs/$model.log" >&2; exit 1; }
# Node
nport=$(cs_free_port)
PEER_KIND=image PEER_MODEL=$onnx PEER_PORT=$nport PEER_WORKERS=$procs \
	node "$nodedir/server.js" >"$run/node.log" 2>&1 &
NODE_PID=$!
URL[node]=http://127.0.0.1:$nport/predict
cs_wait_http "http://127.0.0.1:$nport/health" 120 "$NODE_PID" ||
	{ tail -n 20 "$run/node.log" >&2; exit 1; }

# The same answer from both (and every Node worker up: a few requests).
declare -A CLASS
for t in cs node; do
	for _ in $(seq $((procs * 2))); do
		CLASS[$t]=$(curl -sf --max-time 60 -H 'Content-Type: application/octet-stream' \
			--data-binary @"$run/image.f32" "${URL[$t]}" | jq -r .class) ||
			{ echo "peers_image: $t does not answer" >&2; exit 1; }
	done
done
[ "${CLASS[cs]}" = "${CLASS[node]}" ] ||
	{ echo "peers_image: the answers differ: cubeserve class ${CLASS[cs]}, node ${CLASS[node]}" >&2; exit 1; }

kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
median() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A RPS P50 P99
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$rounds"); do
	for c in $conns; do
		for t in cs node; do
			echo "peers_image: round $r/$rounds: $t, c=$c, ${duration}s" >&2
			out=$(timeout $((duration + 60)) wrk -t $((c < 2 ? c : 2)) -c "$c" -d "${duration}s" --timeout 30s \
				-s "$srcdir/bench/post_file.lua" "${URL[$t]}" | grep '^CSBENCH') || out=
			[ "$(kv non2xx "$out")" = 0 ] || echo "peers_image: $t c=$c: errors: $out" >&2
			RPS[$t,$c]="${RPS[$t,$c]:-} $(kv rps "$out")"
			P50[$t,$c]="${P50[$t,$c]:-} $(awk -v u="$(kv p50_us "$out")" 'BEGIN { printf "%.1f", u / 1000 }')"
			P99[$t,$c]="${P99[$t,$c]:-} $(awk -v u="$(kv p99_us "$out")" 'BEGIN { printf "%.1f", u / 1000 }')"
		done
	done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
echo "Run of \`$cmdline\` on $started: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)); load average before / after: $load_before / $load_after."
echo
echo "$model served, one raw 3x224x224 FP32 image per request, $procs serving processes each, medians of $rounds interleaved rounds of ${duration} s (both answer class ${CLASS[cs]}):"
echo
echo "| conns | cubeserve onnx (XNNPACK) req/s | p50 / p99 ms | Node + onnxruntime-node req/s | p50 / p99 ms | cubeserve / Node |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: |"
for c in $conns; do
	# shellcheck disable=SC2086 # the rounds' figures, one word each
	a=$(median ${RPS[cs,$c]}) b=$(median ${RPS[node,$c]})
	# shellcheck disable=SC2086
	echo "| $c | $a | $(median ${P50[cs,$c]}) / $(median ${P99[cs,$c]}) | $b | $(median ${P50[node,$c]}) / $(median ${P99[node,$c]}) | **$(ratio "$a" "$b")** |"
done
echo
for c in $conns; do
	echo "- c=$c rounds, req/s: cubeserve${RPS[cs,$c]}; Node${RPS[node,$c]}"
done
