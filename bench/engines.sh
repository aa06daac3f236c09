#!/bin/bash
# engines.sh - the onnx plugin's engines side by side, in process, in one
# run: digits-large, mobilenetv2 and resnet18 on XNNPACK and on OpenCV DNN
# (bench/infer_bench.c: batch 1 and 32, one thread; and XNNPACK with the
# batch size alternating 1, 8, 1, 8 from call to call, which sets its
# operators up again each time, against batch 1 and 8 alone), onnxruntime-node on the
# same files (bench/peers/node/inproc.js, batch 1, one thread) as the
# baseline, and the memory of 4 processes against 1 with XNNPACK (total
# PSS of infer_bench's process tree while 1 or 4 forked processes infer).
# Prints a table of inferences/s and ratios; --write puts it into
# docs/performance.md (between the bench/engines.sh markers).
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: bench/engines.sh [--seconds S] [--builddir DIR] [--models "..."]
                        [--no-node] [--no-memory] [--write]

  --seconds S    seconds per measurement (default 5, 2..60)
  --builddir DIR a build without sanitizers (default ./build-bench)
  --models LIST  default "digits-large mobilenetv2 resnet18"
  --no-node      skip onnxruntime-node (needs node and
                 (cd bench/peers/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci))
  --no-memory    skip the PSS check
  --write        put the results into docs/performance.md

The models are made when missing: examples/digits/export.py --large,
examples/mobilenetv2/export.py, examples/resnet18/export.py (Debian's
python3-torch, python3-torchvision; nothing is downloaded). Every run is
bounded by --seconds; nothing listens on the network.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/engines.sh $*"
seconds=5
builddir=$srcdir/build-bench
models="digits-large mobilenetv2 resnet18"
node=1
memory=1
write=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--seconds) seconds=${2:?--seconds needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--models) models=${2:?--models needs a value}; shift ;;
	--no-node) node=0 ;;
	--no-memory) memory=0 ;;
	--write) write=1 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -ge 2 ] && [ "$seconds" -le 60 ] ||
	{ echo "bench: --seconds is a whole number 2..60 (got '$seconds')" >&2; exit 2; }
builddir=$(cd "$builddir" && pwd) || exit 1
[ -f "$builddir/libcsrt.a" ] && [ -f "$builddir/plugins/onnx/.libs/onnx.so" ] ||
	{ echo "bench: no build with the onnx plugin in $builddir (scripts/build.sh $(basename "$builddir"))" >&2; exit 1; }
if grep -q '^SAN_FLAGS = .*sanitize' "$builddir/Makefile"; then
	echo "bench: $builddir is built with sanitizers; use a plain build" >&2
	exit 1
fi
if [ "$node" = 1 ] && { ! command -v node >/dev/null || [ ! -d "$srcdir/bench/peers/node/node_modules/onnxruntime-node" ]; }; then
	echo "bench: no node or no onnxruntime-node (see --help); use --no-node" >&2
	exit 1
fi

declare -A file example
file[digits-large]=$srcdir/examples/digits/digits-large.onnx
file[mobilenetv2]=$srcdir/examples/mobilenetv2/mobilenetv2.onnx
file[resnet18]=$srcdir/examples/resnet18/resnet18.onnx
example[digits-large]="examples/digits/export.py --large"
example[mobilenetv2]="examples/mobilenetv2/export.py"
example[resnet18]="examples/resnet18/export.py"
declare -A shape=([digits-large]=1,1,8,8 [mobilenetv2]=1,3,224,224 [resnet18]=1,3,224,224)
for m in $models; do
	[ -n "${file[$m]:-}" ] || { echo "bench: unknown model '$m'" >&2; exit 2; }
	if [ ! -f "${file[$m]}" ]; then
		echo "bench: making $m (${example[$m]})"
		# shellcheck disable=SC2086 # the script and its option
		/usr/bin/python3 "$srcdir"/${example[$m]} >/dev/null
	fi
done

echo "bench: building $builddir/bench/infer_bench"
make -s -C "$builddir" --no-print-directory -j"${CS_JOBS:-2}" >/dev/null
mkdir -p "$builddir/bench"
make -s -C "$builddir" --no-print-directory --eval "bench/infer_bench: $srcdir/bench/infer_bench.c libcs_core.a
	\$(CC) \$(DEFS) \$(DEFAULT_INCLUDES) \$(AM_CPPFLAGS) \$(CPPFLAGS) \$(AM_CFLAGS) \$(CFLAGS) \$(JANSSON_CFLAGS) \$(LUA_CFLAGS) -o \$@ \$< \$(AM_LDFLAGS) \$(LDFLAGS) \$(CSRT_LIBS)" \
	bench/infer_bench
ib=$builddir/bench/infer_bench
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-bench-engines.XXXXXX")
trap 'rm -rf "$run"' EXIT

# manifest M ENGINE: a manifest for model M on ENGINE, no glue.
manifest() {
	local f=$run/$1-$2.json
	jq -n --arg n "$1" --arg m "${file[$1]}" --arg e "$2" --arg s "${shape[$1]}" '
		($s | split(",") | map(tonumber)) as $sh |
		{name: $n, version: "1", plugin: "onnx", engine: $e, model: $m, threads: 1,
		 inputs: [{name: "image", dtype: "FP32", shape: ([-1] + $sh[1:])}]}' >"$f"
	echo "$f"
}
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

declare -A R
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for m in $models; do
	for e in xnnpack opencv; do
		mf=$(manifest "$m" "$e")
		for b in 1 32; do
			echo "bench: $m on $e, batch $b, ${seconds}s"
			out=$(timeout $((seconds * 3 + 60)) "$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" \
				--batch "$b" --seconds "$seconds" --warmup 1 2>/dev/null | grep '^batch=') ||
				out="failed"
			R[$m,$e,$b]=$out
		done
	done
	mf=$(manifest "$m" xnnpack)
	echo "bench: $m on xnnpack, batch 8, then alternating 1/8, ${seconds}s each"
	R[$m,xnnpack,8]=$(timeout $((seconds * 3 + 60)) "$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" \
		--batch 8 --seconds "$seconds" --warmup 1 2>/dev/null | grep '^batch=') || R[$m,xnnpack,8]=failed
	R[$m,xnnpack,alt]=$(timeout $((seconds * 3 + 60)) "$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" \
		--batch 1 --batch 8 --alternate --seconds "$seconds" --warmup 1 2>/dev/null | grep '^batch=') ||
		R[$m,xnnpack,alt]=failed
	if [ "$node" = 1 ]; then
		echo "bench: $m on onnxruntime-node, batch 1, ${seconds}s"
		out=$(timeout $((seconds + 60)) node "$srcdir/bench/peers/node/inproc.js" "${file[$m]}" 1 "$seconds" "${shape[$m]}" | grep '^INPROC') || out="failed"
		R[$m,node,1]=$out
	fi
done

# pss_tree PID: total PSS in kB of PID and its descendants.
pss_tree() {
	local all=$1 p v sum=0 kids
	kids=$(pgrep -P "$1" || true)
	for p in $kids; do all="$all $(pgrep -P "$p" || true) $p"; done
	for p in $all; do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null) || v=0
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
declare -A MEM
if [ "$memory" = 1 ]; then
	for m in $models; do
		mf=$(manifest "$m" xnnpack)
		for n in 1 4; do
			"$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" --batch 1 \
				--seconds 4 --warmup 1 --procs "$n" >/dev/null 2>&1 &
			pid=$!
			sleep 3
			MEM[$m,$n]=$(pss_tree "$pid")
			wait "$pid" || true
			echo "bench: $m, xnnpack, $n process(es): PSS ${MEM[$m,$n]} kB"
		done
	done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }'; }
report=$(
	echo "Run of \`$cmdline\` on $started: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr); load average before / after: $load_before / $load_after. The machine was shared with other builds: read the ratios, not the absolute figures."
	echo
	echo "In process, one thread: inferences (samples) per second; **xnnpack / node** is the XNNPACK engine at batch 1 over onnxruntime-node at batch 1 on the same file."
	echo
	echo "| model | engine | batch 1 inf/s | batch 1 p50 ms | batch 32 inf/s | xnnpack / this (batch 1) |"
	echo "| --- | --- | ---: | ---: | ---: | ---: |"
	for m in $models; do
		x1=$(kv infer_per_s "${R[$m,xnnpack,1]}")
		for e in xnnpack opencv; do
			a=${R[$m,$e,1]} c=${R[$m,$e,32]}
			echo "| $m | $e | $(kv infer_per_s "$a") | $(kv p50_ms "$a") | $(kv infer_per_s "$c") | $(ratio "$x1" "$(kv infer_per_s "$a")") |"
		done
		if [ "$node" = 1 ]; then
			a=${R[$m,node,1]}
			p50=$(awk -v u="$(kv p50_us "$a")" 'BEGIN { if (u != "") printf "%.3f", u / 1000 }')
			echo "| $m | onnxruntime-node | $(kv per_s "$a") | $p50 | - | **$(ratio "$x1" "$(kv per_s "$a")")** |"
		fi
	done
	echo
	echo "XNNPACK with the batch size changing every call (1, 8, 1, 8, ...: the operators are set up again for each call) against the calls/s expected from batch 1 and batch 8 alone (2 / (1/c1 + 1/c8)):"
	echo
	echo "| model | batch 1 calls/s | batch 8 calls/s | expected alternating | alternating 1/8 calls/s | alternating / expected |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: |"
	for m in $models; do
		c1=$(kv calls_per_s "${R[$m,xnnpack,1]}") c8=$(kv calls_per_s "${R[$m,xnnpack,8]}")
		ca=$(kv calls_per_s "${R[$m,xnnpack,alt]}")
		ex=$(awk -v a="$c1" -v b="$c8" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", 2 / (1 / a + 1 / b) }')
		echo "| $m | $c1 | $c8 | $ex | $ca | $(ratio "$ca" "$ex") |"
	done
	if [ "$memory" = 1 ]; then
		echo
		echo "Memory with the XNNPACK engine: total PSS of infer_bench's process tree while 1 or 4 forked processes infer at batch 1 (the weights are packed at load, before the fork, and shared)."
		echo
		echo "| model | PSS, 1 process | PSS, 4 processes | ratio |"
		echo "| --- | ---: | ---: | ---: |"
		for m in $models; do
			echo "| $m | ${MEM[$m,1]} kB | ${MEM[$m,4]} kB | $(ratio "${MEM[$m,4]}" "${MEM[$m,1]}") |"
		done
	fi
)
echo
echo "$report"

if [ "$write" = 1 ]; then
	doc=$srcdir/docs/performance.md
	begin='<!-- bench/engines.sh:begin -->'
	end='<!-- bench/engines.sh:end -->'
	grep -qF "$begin" "$doc" || { echo "bench: $doc has no '$begin' marker" >&2; exit 1; }
	awk -v b="$begin" -v e="$end" -v r="$report" '
		$0 == b { print; print r; skip = 1; next }
		$0 == e { skip = 0 }
		!skip' "$doc" >"$run/doc" && cp "$run/doc" "$doc"
	echo "bench: wrote $doc"
fi
