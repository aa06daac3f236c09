#!/bin/bash
# peers.sh - cubeserve against the servers users would otherwise pick, in one
# run on the same cores, loopback only, serving the compute-bound
# digits-large model (same weights, same JSON in and out):
#   (a) cubeserve: nginx + cubeserve-worker --processes 2, onnx and torch,
#       each without and with dynamic batching
#   (b) gunicorn (2 sync workers) + Flask + torch (bench/peers/flask_app.py)
#   (c) Node.js node:cluster of 2 + onnxruntime-node (bench/peers/node/)
# wrk at c=1 and c=32, the backends' in-process throughput on the same cores,
# and the memory (total PSS) of 4 processes against 1.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/peers.sh [--duration S] [--threads T] [--procs N]
                      [--mem-procs N] [--backends "onnx torch"]
                      [--inproc-seconds S] [--builddir DIR] [--no-memory]
                      [--no-batching] [--write]

  --duration S        seconds per wrk run (default 10)
  --threads T         wrk threads (default 2)
  --procs N           serving processes of every target (default 2 = cores)
  --mem-procs N       the large pool of the memory check (default 4; vs 1)
  --backends LIST     cubeserve backends to serve (default "onnx torch")
  --inproc-seconds S  seconds per in-process run (default 5)
  --builddir DIR      cubeserve build without sanitizers (default ./build-bench)
  --no-memory         skip the memory check
  --no-batching       skip the cubeserve rows with dynamic batching (the
                      manifest plus "batching": {"max_batch_size": 32,
                      "max_queue_delay_us": 2000}: the event loop of each
                      process batches what its connections have ready)
  --write             put the results into docs/performance.md (between the
                      bench/peers.sh markers of the "Against peers" section)

Needs: a cubeserve build (scripts/build.sh build-bench), the models
(/usr/bin/python3 examples/digits/export.py --large), nginx, spawn-fcgi,
wrk, curl, jq, gcc, Debian's python3-torch, python3-flask and gunicorn
(/usr/bin/python3, /usr/bin/gunicorn), node, and
(cd bench/peers/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci).
Everything listens on 127.0.0.1 or unix sockets in a temporary directory.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/peers.sh $*"
duration=10
threads=2
procs=2
mem_procs=4
backends="onnx torch"
inproc_s=5
builddir=$srcdir/build-bench
memory=1
batching=1
write=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--duration) duration=${2:?--duration needs a value}; shift ;;
	--threads) threads=${2:?--threads needs a value}; shift ;;
	--procs) procs=${2:?--procs needs a value}; shift ;;
	--mem-procs) mem_procs=${2:?--mem-procs needs a value}; shift ;;
	--backends) backends=${2?--backends needs a value}; shift ;;
	--inproc-seconds) inproc_s=${2:?--inproc-seconds needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--no-memory) memory=0 ;;
	--no-batching) batching=0 ;;
	--write) write=1 ;;
	*) echo "peers: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$duration" "$threads" "$procs" "$mem_procs" "$inproc_s"; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge 1 ] || { echo "peers: '$v' is not a positive number" >&2; exit 2; }
done
[ "$duration" -le 120 ] && [ "$inproc_s" -le 60 ] && [ "$procs" -le 16 ] && [ "$mem_procs" -le 16 ] ||
	{ echo "peers: bounds: --duration <= 120, --inproc-seconds <= 60, --procs/--mem-procs <= 16" >&2; exit 2; }
for b in $backends; do
	case $b in onnx | torch) ;; *) echo "peers: unknown backend '$b'" >&2; exit 2 ;; esac
done

PATH=$PATH:/usr/sbin
PY=/usr/bin/python3
GUNICORN=/usr/bin/gunicorn
for tool in nginx spawn-fcgi wrk curl jq gcc node "$GUNICORN" "$PY"; do
	command -v "$tool" >/dev/null 2>&1 || { echo "peers: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done
"$PY" -c 'import torch, flask' 2>/dev/null ||
	{ echo "peers: $PY lacks torch or flask (apt-get install python3-torch python3-flask)" >&2; exit 1; }
nodedir=$srcdir/bench/peers/node
[ -d "$nodedir/node_modules/onnxruntime-node" ] ||
	{ echo "peers: run: (cd bench/peers/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci)" >&2; exit 1; }
onnx_model=$srcdir/examples/digits/digits-large.onnx
pt_model=$srcdir/examples/digits/digits-large.pt
[ -f "$onnx_model" ] && [ -f "$pt_model" ] ||
	{ echo "peers: no digits-large model; run: /usr/bin/python3 examples/digits/export.py --large" >&2; exit 1; }
builddir=$(cd "$builddir" 2>/dev/null && pwd) ||
	{ echo "peers: no build dir; run: scripts/build.sh build-bench" >&2; exit 1; }
if ldd "$builddir/cubeserve-worker" 2>/dev/null | grep -q 'libasan\|libubsan'; then
	echo "peers: $builddir is built with sanitizers; build without: scripts/build.sh build-bench" >&2
	exit 1
fi
for b in $backends; do
	[ -f "$builddir/plugins/$b/.libs/$b.so" ] || [ -f "$builddir/plugins/$b.so" ] ||
		[ -f "$builddir/plugins/$b/$b.so" ] ||
		{ echo "peers: no $b plugin in $builddir/plugins (configure found no backend?)" >&2; exit 1; }
done

export CS_TOP_SRCDIR=$srcdir CS_TOP_BUILDDIR=$builddir
# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-peers.XXXXXX")
PEER_PIDS=()
cleanup() {
	local p
	for p in "${PEER_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	cs_stack_stop
	for p in "${PEER_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$run"
}
trap cleanup EXIT
log() { printf 'peers: %s\n' "$*" >&2; }

body=$(jq -c '{pixels: .samples[0].pixels}' "$srcdir/examples/digits/digits-large.samples.json")
want_digit=$(jq -r '.samples[0].logits | to_entries | max_by(.value) | .key' "$srcdir/examples/digits/digits-large.samples.json")
export CS_BENCH_BODY=$body
# One core each: OpenBLAS otherwise starts a thread per core in every process.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

# Manifests for digits-large, from the digits ones, pointing at the example's
# files by absolute path.
jq --arg m "$onnx_model" --arg g "$srcdir/examples/digits/glue.lua" \
	'.name = "digits-large" | .model = $m | .glue = $g' \
	"$srcdir/examples/digits/model.json" >"$run/digits-large-onnx.json"
jq --arg m "$pt_model" --arg g "$srcdir/examples/digits/glue.lua" \
	'.name = "digits-large-torch" | .model = $m | .glue = $g' \
	"$srcdir/examples/digits/model-torch.json" >"$run/digits-large-torch.json"
# The same with dynamic batching: up to 32 rows per inference, 2 ms at most
# in the queue; the "batching" object alone: each process's event loop
# batches what its connections have ready (with 2 processes, c=32 keeps 16
# requests in flight in each).
batch_json='{"max_batch_size": 32, "max_queue_delay_us": 2000}'
for b in onnx torch; do
	jq --argjson bt "$batch_json" '.name += "-batch" | .batching = $bt' \
		"$run/digits-large-$b.json" >"$run/digits-large-$b-batch.json"
done

# ---------------------------------------------------------------- targets
# target_up KIND N: starts one target with N serving processes; sets URL (the
# endpoint) and ROOT (the pid whose process tree is the target).
# Kinds: cs-onnx, cs-torch, cs-onnx-batch, cs-torch-batch, gunicorn, node.
URL=
ROOT=
target_up() {
	local kind=$1 n=$2 port
	port=$(cs_free_port)
	case $kind in
	cs-*)
		local b=${kind#cs-} name
		name=$(jq -r .name "$run/digits-large-$b.json") # the route is the model's name
		cs_stack_init "$run/$kind-$n"
		cs_worker_start "$name" "$run/digits-large-$b.json" --processes "$n" --log-level warn
		CS_NGINX_ACCESS_LOG=off CS_NGINX_WORKERS=1 cs_nginx_start "$port"
		URL=http://127.0.0.1:$port/models/$name
		ROOT=$(cs_pid "$name")
		cs_wait_http "$URL" 120 "$ROOT" ||
			{ tail -n 20 "$CS_RUN/logs/$name.log" >&2; exit 1; }
		;;
	gunicorn)
		PEER_MODEL=$pt_model "$GUNICORN" -w "$n" -k sync -b "127.0.0.1:$port" \
			--chdir "$srcdir/bench/peers" --timeout 60 --log-level warning \
			flask_app:app >"$run/gunicorn-$n.log" 2>&1 &
		ROOT=$!
		PEER_PIDS+=("$ROOT")
		URL=http://127.0.0.1:$port/predict
		cs_wait_http "http://127.0.0.1:$port/health" 120 "$ROOT" ||
			{ tail -n 20 "$run/gunicorn-$n.log" >&2; exit 1; }
		;;
	node)
		PEER_MODEL=$onnx_model PEER_PORT=$port PEER_WORKERS=$n \
			node "$nodedir/server.js" >"$run/node-$n.log" 2>&1 &
		ROOT=$!
		PEER_PIDS+=("$ROOT")
		URL=http://127.0.0.1:$port/predict
		cs_wait_http "http://127.0.0.1:$port/health" 120 "$ROOT" ||
			{ tail -n 20 "$run/node-$n.log" >&2; exit 1; }
		;;
	esac
	# Every serving process must be up: n children (gunicorn and node
	# workers load the model after forking).
	local t=0
	while [ "$(children "$ROOT" | wc -w)" -lt "$n" ] && [ $t -lt 600 ]; do
		sleep 0.1
		t=$((t + 1))
	done
}

target_down() {
	local p
	case $1 in
	cs-*) cs_stack_stop ;;
	*)
		kill -TERM "$ROOT" 2>/dev/null || true
		cs_wait_exit "$ROOT" 10000 || kill -KILL "$ROOT" 2>/dev/null || true
		wait "$ROOT" 2>/dev/null || true
		for p in $(descendants "$ROOT"); do kill -KILL "$p" 2>/dev/null || true; done
		;;
	esac
	sleep 1
}

# One line per process, "pid ppid ticks" (ticks: utime + stime + cutime +
# cstime, so that the processes it has waited for count too), read with cat
# so that a process vanishing meanwhile does not stop the scan.
procs_table() {
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '{ pid = $1; s = $0; sub(/^.*\) /, "", s); split(s, f, " ")
		print pid, f[2], f[12] + f[13] + f[14] + f[15] }'
}
# Direct children of a pid; all descendants of a pid.
children() {
	procs_table | awk -v p="$1" '$2 == p { print $1 }'
}
descendants() {
	procs_table | awk -v top="$1" '{ pp[$1] = $2 }
		END { for (q in pp) { r = q
			for (h = 0; h < 30 && r != "" && r > 1; h++) { r = pp[r]; if (r == top) { print q; break } } } }'
}

# The answer must be the right digit.
check_answer() {
	local out
	out=$(curl -s -m 10 -w '\n%{http_code}' -H 'Content-Type: application/json' -d "$body" "$URL")
	[ "$(tail -n 1 <<<"$out")" = 200 ] && [ "$(head -n 1 <<<"$out" | jq -r .digit)" = "$want_digit" ] ||
		{ log "$1 answered: $out"; exit 1; }
	head -n 1 <<<"$out" | jq -c '{digit, confidence: (.confidence * 1e6 | round / 1e6)}'
}

# CPU ticks: "BUSY OURS" - all busy ticks of the machine, and those of the
# processes of this bench (its descendants).
cpu_sample() {
	local busy
	busy=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
	procs_table | awk -v top=$$ -v busy="$busy" '{ pp[$1] = $2; t[$1] = $3 }
		END {
			for (p in pp) {
				q = p
				for (hop = 0; hop < 30 && q != "" && q != top && q > 1; hop++) q = pp[q]
				if (q == top) ours += t[p]
			}
			print busy, ours + 0
		}'
}
other_pct() {
	awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
		busy = y[1] - x[1]; ours = y[2] - x[2]
		printf "%.0f", ((busy > 0 && busy > ours) ? 100 * (busy - ours) / busy : 0) }'
}

# Waits (at most 90 s) until the machine has been idle for a second (CPU
# time outside this bench below 10 % of all cores), so that a run starts undisturbed;
# other jobs may still start during it ("other load" tells).
wait_idle() {
	local i s0 s1
	for i in $(seq 1 90); do
		s0=$(cpu_sample)
		sleep 1
		s1=$(cpu_sample)
		[ "$(awk -v a="$s0" -v b="$s1" -v hz="$(getconf CLK_TCK)" -v n="$(env -u OMP_NUM_THREADS nproc)" \
			'BEGIN { split(a, x, " "); split(b, y, " "); print int(100 * ((y[1] - x[1]) - (y[2] - x[2])) / (hz * n)) }')" -lt 10 ] && return 0
		[ "$i" = 1 ] && log "waiting for the machine to be idle (at most 90 s)"
	done
	log "the machine stayed busy; measuring anyway"
}

# wrk_run CONNS SECONDS: prints "rps p50_us p99_us non2xx timeouts sockerr
# max_us other%" for $URL.
wrk_run() {
	local t=$threads wpid s0 s1 other=0 line
	[ "$t" -le "$1" ] || t=$1
	timeout $(($2 + 30)) wrk -t "$t" -c "$1" -d "${2}s" --timeout 5s \
		-s "$srcdir/bench/post.lua" "$URL" >"$run/wrk.out" 2>&1 &
	wpid=$!
	if [ "$2" -ge 3 ]; then
		sleep 1
		s0=$(cpu_sample)
		sleep $(($2 - 2))
		s1=$(cpu_sample)
		other=$(other_pct "$s0" "$s1")
	fi
	wait "$wpid" || { log "wrk failed on $URL"; cat "$run/wrk.out" >&2; exit 1; }
	line=$(grep '^CSBENCH' "$run/wrk.out") || { log "wrk failed on $URL"; exit 1; }
	awk -v other="$other" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print v["rps"], v["p50_us"], v["p99_us"], v["non2xx"], v["timeouts"], v["sockerr"], v["max_us"], other }' <<<"$line"
}

# inproc_run LABEL CMD...: runs an in-process baseline (prints INPROC or
# key=value lines); prints "per_s p50_us p99_us other%".
inproc_run() {
	local label=$1 s0 s1 out
	shift
	wait_idle
	s0=$(cpu_sample)
	out=$("$@" 2>"$run/inproc.err") || { log "$label failed:"; cat "$run/inproc.err" >&2; exit 1; }
	s1=$(cpu_sample)
	awk -v other="$(other_pct "$s0" "$s1")" '
		/^INPROC/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print v["per_s"], v["p50_us"], v["p99_us"], other; exit }
		/^batch=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			print v["infer_per_s"], v["p50_ms"] * 1000, v["p99_ms"] * 1000, other; exit }' <<<"$out"
}

# PSS of a process tree in kB (root + descendants), from smaps_rollup.
pss_tree() {
	local p sum=0 v
	for p in "$1" $(descendants "$1"); do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
cpu_ticks() { awk '{ s = $0; sub(/^.*\) /, "", s); split(s, f, " "); print f[12] + f[13] }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# ---------------------------------------------------------------- run
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
machine="$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) cores, ${cpu:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
versions="nginx $(nginx -v 2>&1 | sed 's/^nginx version: nginx\///'), wrk $( (wrk -v 2>&1 || true) | awk 'NR == 1 { print $2 }'), \
gunicorn $("$GUNICORN" --version 2>&1 | awk '{ print $3 }' | tr -d '()'), Flask $("$PY" -c 'import flask; print(flask.__version__)' 2>/dev/null), \
torch $("$PY" -c 'import torch; print(torch.__version__)'), node $(node --version), \
onnxruntime-node $(jq -r .version "$nodedir/node_modules/onnxruntime-node/package.json"), \
OpenCV $(dpkg-query -W -f '${Version}' 'libopencv-dnn4*' 2>/dev/null | sed 's/+.*//' || echo '?'), \
libtorch $(dpkg-query -W -f '${Version}' 'libtorch1*' 2>/dev/null | sed 's/+.*//' || echo '?'), \
BLAS $(basename "$(dirname "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)")")"
log "machine: $machine"
log "versions: $versions"

targets=()
declare -A label
for b in $backends; do
	targets+=("cs-$b")
	label[cs-$b]="(a) cubeserve $b, --processes $procs"
	if [ "$batching" = 1 ]; then
		targets+=("cs-$b-batch")
		label[cs-$b-batch]="(a) cubeserve $b + batching, --processes $procs"
	fi
done
targets+=(gunicorn node)
label[gunicorn]="(b) gunicorn + Flask + torch, $procs sync workers"
label[node]="(c) Node.js cluster + onnxruntime-node, $procs workers"
declare -A R ANSWER SPLIT MEANB CPUSUM
# batch_counts: "batches rows" the pool's /metrics has counted so far
batch_counts() {
	curl -s -m 20 "${URL%/models/*}/metrics/${URL##*/models/}" |
		awk '$1 ~ /^cubeserve_batches_total[{]/ { b += $2 } $1 ~ /^cubeserve_batch_rows_total[{]/ { r += $2 }
			END { print b + 0, r + 0 }'
}

for k in "${targets[@]}"; do
	log "${label[$k]}: starting"
	target_up "$k" "$procs"
	ANSWER[$k]=$(check_answer "$k")
	log "answer: ${ANSWER[$k]}"
	wrk_run 32 3 >/dev/null # warm-up
	kids=$(children "$ROOT")
	for c in 1 32; do
		declare -A t0=()
		for p in $kids; do t0[$p]=$(cpu_ticks "$p"); done
		wait_idle
		log "${label[$k]}, c=$c, ${duration}s"
		b0=$(batch_counts)
		R[$k,$c]=$(wrk_run "$c" "$duration")
		b1=$(batch_counts)
		# the mean batch the batcher formed during the run (rows per inference)
		MEANB[$k,$c]=$(awk -v a="$b0" -v b="$b1" 'BEGIN { split(a, x, " "); split(b, y, " ")
			n = y[1] - x[1]; if (n > 0) printf "%.1f", (y[2] - x[2]) / n; else print "-" }')
		# CPU time of each serving process during the run, in % of the run
		SPLIT[$k,$c]=$(for p in $kids; do echo $(($(cpu_ticks "$p") - ${t0[$p]})); done |
			sort -rn | awk -v hz="$(getconf CLK_TCK)" -v d="$duration" '{ printf "%s%.0f", (NR > 1 ? "/" : ""), 100 * $1 / hz / d }')
		CPUSUM[$k,$c]=$(tr '/' '\n' <<<"${SPLIT[$k,$c]}" | awk '{ s += $1 } END { print s + 0 }')
		log "  -> ${R[$k,$c]}, serving processes' CPU ${SPLIT[$k,$c]} %, mean batch ${MEANB[$k,$c]}"
	done
	target_down "$k"
done

# In-process baselines, same cores, 1 and $procs processes.
log "building infer_bench"
have_ib=0
if [ -f "$srcdir/bench/infer_bench.c" ]; then
	# shellcheck disable=SC2046
	if gcc -O2 -std=c11 -I"$srcdir/runtime" -I"$srcdir/include" -I"$builddir" \
		-o "$run/infer_bench" "$srcdir/bench/infer_bench.c" "$builddir"/libcs_{serve,protocol,glue,registry,model,core}.a \
		$(pkg-config --cflags --libs lua5.4 jansson) -lfcgi -ldl -lm 2>"$run/ib.err"; then
		have_ib=1
	else
		log "infer_bench does not build; cubeserve in-process skipped:"
		cat "$run/ib.err" >&2
	fi
fi
declare -A IP MEANBI
for n in 1 "$procs"; do
	if [ "$have_ib" = 1 ]; then
		for b in $backends; do
			log "in-process: cubeserve $b (infer_bench, batch 1), $n proc"
			IP[cs-$b,$n]=$(inproc_run "infer_bench $b" "$run/infer_bench" \
				--manifest "$run/digits-large-$b.json" --plugin-dir "$builddir/plugins" \
				--batch 1 --seconds "$inproc_s" --procs "$n")
			log "in-process: cubeserve $b (infer_bench, batch 32), $n proc"
			IP[cs-$b-b32,$n]=$(inproc_run "infer_bench $b" "$run/infer_bench" \
				--manifest "$run/digits-large-$b.json" --plugin-dir "$builddir/plugins" \
				--batch 32 --seconds "$inproc_s" --procs "$n")
			# at the mean batch the served run formed at c=32 (rounded)
			mb=${MEANB[cs-$b-batch,32]:--}
			if [ "$n" = "$procs" ] && [ "$mb" != - ]; then
				mbi=$(awk -v m="$mb" 'BEGIN { v = int(m + 0.5); print (v < 1) ? 1 : v }')
				log "in-process: cubeserve $b (infer_bench, batch $mbi, the served mean), $n proc"
				IP[cs-$b-bmean,$n]=$(inproc_run "infer_bench $b" "$run/infer_bench" \
					--manifest "$run/digits-large-$b.json" --plugin-dir "$builddir/plugins" \
					--batch "$mbi" --seconds "$inproc_s" --procs "$n")
				MEANBI[$b]=$mbi
			fi
		done
	fi
	log "in-process: torch in Python (optimized), $n proc"
	IP[gunicorn,$n]=$(inproc_run "torch_inproc" "$PY" "$srcdir/bench/peers/torch_inproc.py" "$pt_model" "$n" "$inproc_s" optimize)
	log "in-process: torch in Python (plain), $n proc"
	IP[torchplain,$n]=$(inproc_run "torch_inproc" "$PY" "$srcdir/bench/peers/torch_inproc.py" "$pt_model" "$n" "$inproc_s" plain)
	log "in-process: onnxruntime in node, $n proc"
	IP[node,$n]=$(inproc_run "node inproc" node "$nodedir/inproc.js" "$onnx_model" "$n" "$inproc_s")
done

# Memory: total PSS of the pool with $mem_procs processes against 1, each
# warmed up (wrk at 2 connections per process for 3 s; every serving process
# must have used CPU time), one pool alive at a time.
declare -A MEM WARM
mem_targets=()
if [ "$memory" = 1 ]; then
	for b in $backends; do mem_targets+=("cs-$b"); done
	mem_targets+=(gunicorn node)
	for k in "${mem_targets[@]}"; do
		for n in 1 "$mem_procs"; do
			log "memory: $k with $n processes"
			# upstream keepalive off here: a kept-alive connection stays
			# with the process that accepted it, so that at a few
			# connections some children would never see a request
			CS_NGINX_KEEPALIVE=0 target_up "$k" "$n"
			declare -A t0=()
			kids=$(children "$ROOT")
			for p in $kids; do t0[$p]=$(cpu_ticks "$p"); done
			for _ in 1 2 3; do
				wrk_run $((2 * n)) 4 >/dev/null
				warm=0
				for p in $kids; do [ "$(cpu_ticks "$p")" -gt "${t0[$p]}" ] && warm=$((warm + 1)); done
				[ "$warm" -lt "$n" ] || break
			done
			sleep 1
			MEM[$k,$n]=$(pss_tree "$ROOT")
			WARM[$k,$n]="$warm/$(wc -w <<<"$kids")"
			log "  -> PSS ${MEM[$k,$n]} kB, children warmed ${WARM[$k,$n]}"
			target_down "$k"
		done
	done
fi

# ---------------------------------------------------------------- report
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
field() { awk -v i="$2" '{ print $i }' <<<"$1"; }
errs() {
	local e=$(($(field "$1" 4) + $(field "$1" 5) + $(field "$1" 6)))
	[ "$e" -eq 0 ] && echo 0 || echo "$e ($(field "$1" 4) non-2xx, $(field "$1" 5) timeouts, $(field "$1" 6) socket)"
}
x() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

served=$(
	echo "| target | c | req/s | p50 ms | p99 ms | errors | CPU % of each serving process | mean batch | other load |"
	echo "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |"
	for k in "${targets[@]}"; do
		for c in 1 32; do
			r=${R[$k,$c]}
			printf '| %s | %d | %.0f | %s | %s | %s | %s | %s | %s%% |\n' "${label[$k]}" "$c" "$(field "$r" 1)" \
				"$(ms "$(field "$r" 2)")" "$(ms "$(field "$r" 3)")" "$(errs "$r")" "${SPLIT[$k,$c]}" "${MEANB[$k,$c]:--}" "$(field "$r" 8)"
		done
	done
)
inproc=$(
	echo "| backend, in process | procs | inferences/s | p50 ms per call | p99 ms per call | other load |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	rows=()
	for b in $backends; do rows+=("cs-$b"); done
	rows+=(gunicorn torchplain node)
	for b in $backends; do rows+=("cs-$b-b32" "cs-$b-bmean"); done
	declare -A il=([cs-onnx]="cubeserve onnx (engine auto: XNNPACK), infer_bench" [cs-torch]="cubeserve torch (libtorch, optimized), infer_bench"
		[cs-onnx-b32]="cubeserve onnx, **batch 32** (what a batcher could reach)" [cs-torch-b32]="cubeserve torch, **batch 32** (what a batcher could reach)"
		[gunicorn]="torch in Python, optimized (as (b))" [torchplain]="torch in Python, plain jit.load"
		[node]="onnxruntime-node (as (c))")
	for b in $backends; do
		il[cs-$b-bmean]="cubeserve $b, **batch ${MEANBI[$b]:-?}** (the mean batch served at c=32)"
	done
	for k in "${rows[@]}"; do
		for n in 1 "$procs"; do
			r=${IP[$k,$n]:-}
			if [ -z "$r" ] && [[ $k == *-bmean ]]; then
				continue # measured with $procs processes only, when batches were formed
			fi
			if [ -z "$r" ]; then
				printf '| %s | %d | not measured (no bench/infer_bench.c) | | | |\n' "${il[$k]}" "$n"
				continue
			fi
			printf '| %s | %d | %.0f | %s | %s | %s%% |\n' "${il[$k]}" "$n" "$(field "$r" 1)" \
				"$(ms "$(field "$r" 2)")" "$(ms "$(field "$r" 3)")" "$(field "$r" 4)"
		done
	done
)
cs_targets=()
for k in "${targets[@]}"; do
	case $k in cs-*) cs_targets+=("$k") ;; esac
done
best=
for k in "${cs_targets[@]}"; do
	if [ -z "$best" ] || awk -v a="$(field "${R[$k,32]}" 1)" -v b="$(field "${R[$best,32]}" 1)" 'BEGIN { exit !(a > b) }'; then
		best=$k
	fi
done
ratios=$(
	for k in "${cs_targets[@]}"; do
		rn=$(x "$(field "${R[$k,32]}" 1)" "$(field "${R[node,32]}" 1)")
		rg=$(x "$(field "${R[$k,32]}" 1)" "$(field "${R[gunicorn,32]}" 1)")
		mn=$(awk -v r="$rn" 'BEGIN { print (r + 0 >= 2) ? "met" : "NOT met" }')
		mg=$(awk -v r="$rg" 'BEGIN { print (r + 0 >= 6) ? "met" : "NOT met" }')
		k2=${k#cs-}
		echo "- cubeserve ${k2/-batch/ + batching} at c=32: **${rn}x** Node+onnxruntime (target >= 2x: $mn), **${rg}x** gunicorn+Flask+torch (target >= 6x: $mg)"
	done
	k2=${best#cs-}
	echo "- best cubeserve configuration at c=32: ${k2/-batch/ + batching}"
	for b in $backends; do
		ip=${IP[cs-$b-bmean,$procs]:-}
		[ -n "$ip" ] || continue
		r=${R[cs-$b-batch,32]}
		eff=$(awk -v s="$(field "$r" 1)" -v i="$(field "$ip" 1)" 'BEGIN { if (i > 0) printf "%.0f", 100 * s / i; else print "n/a" }')
		# per second of the serving processes' CPU, served against in process
		# (where each of the $procs processes has a core to itself)
		effc=$(awk -v s="$(field "$r" 1)" -v c="${CPUSUM[cs-$b-batch,32]}" -v i="$(field "$ip" 1)" -v n="$procs" \
			'BEGIN { if (c > 0 && i > 0) printf "%.0f", 100 * (s / (c / 100)) / (i / n); else print "n/a" }')
		met=$(awk -v r="$eff" 'BEGIN { print (r + 0 >= 90) ? "met" : "NOT met" }')
		echo "- cubeserve $b + batching at c=32, mean batch ${MEANB[cs-$b-batch,32]}: **${eff} %** of the same engine in process at batch ${MEANBI[$b]} with $procs processes (target >= 90 %: $met); per second of the serving processes' CPU (they had ${CPUSUM[cs-$b-batch,32]} % of the $procs cores; nginx and wrk the rest): **${effc} %**"
	done
)
mem=
if [ "$memory" = 1 ]; then
	mem=$(
		echo "| target | PSS, 1 process | PSS, $mem_procs processes | ratio | warmed |"
		echo "| --- | ---: | ---: | ---: | --- |"
		declare -A ml=([cs-onnx]="cubeserve onnx (master + children)" [cs-torch]="cubeserve torch (master + children)"
			[gunicorn]="gunicorn + Flask + torch (master + workers)" [node]="Node.js + onnxruntime-node (primary + workers)")
		for k in "${mem_targets[@]}"; do
			a=${MEM[$k,1]} b=${MEM[$k,$mem_procs]}
			printf '| %s | %.1f MB | %.1f MB | **%s** | %s, %s |\n' "${ml[$k]}" "$(awk -v v="$a" 'BEGIN { print v / 1024 }')" \
				"$(awk -v v="$b" 'BEGIN { print v / 1024 }')" "$(x "$b" "$a")" "${WARM[$k,1]}" "${WARM[$k,$mem_procs]}"
		done
	)
fi

report=$(
	echo "### $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $machine. $versions."
	echo "Model: digits-large (examples/digits/export.py --large), batch 1, POST $body."
	echo "cubeserve: nginx (1 worker process, access log off, upstream keepalive 16) +"
	echo "cubeserve-worker --processes $procs under spawn-fcgi, examples/digits/glue.lua,"
	echo "threads 1 (torch: optimize on, as examples/digits/model-torch.json)."
	[ "$batching" = 0 ] || echo "\"+ batching\": the same manifest plus \"batching\": $batch_json (the event loop of each process forms the batches)."
	echo "gunicorn: -w $procs -k sync, torch 1 intra-op thread per worker, optimize_for_inference."
	echo "Node: node:cluster of $procs, onnxruntime intraOpNumThreads 1, sequential."
	echo "wrk $threads threads, ${duration}s per run after a 3 s warm-up; OPENBLAS_NUM_THREADS=1."
	echo
	echo '```'
	echo "$cmdline"
	echo '```'
	echo
	echo "Answers checked (digit $want_digit): $(for k in "${targets[@]}"; do printf '%s %s; ' "$k" "${ANSWER[$k]}"; done)"
	echo
	echo "$served"
	echo
	echo "$ratios"
	echo
	echo "In process, same cores, no HTTP (each process its own loop; $inproc_s s; batch 1"
	echo "unless said; inferences = samples):"
	echo
	echo "$inproc"
	if [ "$memory" = 1 ]; then
		echo
		echo "Memory: total PSS (sum of Pss in /proc/PID/smaps_rollup over the process tree),"
		echo "after 4 s of wrk at 2 connections per process (cubeserve: nginx upstream keepalive"
		echo "off for this, so that every child gets requests); \"warmed\": serving processes"
		echo "that used CPU during it, for 1 and $mem_procs. Target for cubeserve: ratio <= 1.2."
		echo
		echo "$mem"
	fi
	echo
	echo "\"other load\": the share of the machine's busy CPU time taken by processes"
	echo "outside the bench during the run; above a few % the run was disturbed."
)
echo
echo "$report"
printf '%s\n' "$report" >"${TMPDIR:-/tmp}/cs-peers-last.md"
log "report also in ${TMPDIR:-/tmp}/cs-peers-last.md"

if [ "$write" = 1 ]; then
	doc=$srcdir/docs/performance.md
	begin='<!-- bench/peers.sh:begin -->'
	end='<!-- bench/peers.sh:end -->'
	grep -qF "$begin" "$doc" 2>/dev/null ||
		{ log "no '$begin' marker in $doc (the \"Against peers\" section)"; exit 1; }
	printf '%s\n' "$report" >"$run/report.md"
	awk -v b="$begin" -v e="$end" -v f="$run/report.md" '
		$0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip { print }' "$doc" >"$run/doc.md"
	cat "$run/doc.md" >"$doc"
	log "wrote $doc"
fi
