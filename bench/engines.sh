#!/bin/bash
# engines.sh - the onnx plugin's engines against the other ways to run the
# same model in process, in one run: digits-large, mobilenetv2 and resnet18
# on XNNPACK and on OpenCV DNN (the onnx plugin), on libtorch (the torch
# plugin, the .pt of the same weights, optimize_for_inference) through
# bench/infer_bench.c, and on onnxruntime-node (bench/peers/node/inproc.js,
# the same .onnx file), at batch 1 and 32, all on --threads threads. The
# engines run interleaved (model by model, batch by batch, each engine in
# turn) for --rounds rounds; the report gives each figure's median over the
# rounds and the XNNPACK / other ratio of the medians, so that a burst of
# other load on the shared machine hits every engine alike. Then XNNPACK
# with the batch size alternating 1, 8, 1, 8 from call to call (its
# operators set up again each time) against batch 1 and 8 alone, and the
# memory: total PSS of 4 processes against 1 with XNNPACK, and what a
# process holds at batch 32 against batch 1. Prints a table; --write puts
# it into docs/performance.md (between the bench/engines.sh markers).
set -euo pipefail

usage() {
	cat <<'EOT'
Usage: bench/engines.sh [--seconds S] [--rounds R] [--threads T]
                        [--builddir DIR] [--models "..."] [--engines "..."]
                        [--no-memory] [--write]

  --seconds S    seconds per measurement (default 4, 2..60)
  --rounds R     interleaved rounds; medians are reported (default 3, 1..9)
  --threads T    intra-op threads of every engine (default 1: the XNNPACK
                 manifest's "threads", OpenCV's, libtorch's, onnxruntime's
                 intraOpNumThreads)
  --builddir DIR a build without sanitizers (default ./build-bench)
  --models LIST  default "digits-large mobilenetv2 resnet18"
  --engines LIST default "xnnpack node opencv torch" (node: onnxruntime-node,
                 needs node and
                 (cd bench/peers/node && ONNXRUNTIME_NODE_INSTALL=skip npm ci);
                 torch: the torch plugin in the build)
  --no-memory    skip the PSS checks
  --write        put the results into docs/performance.md

The models are made when missing: examples/digits/export.py --large,
examples/mobilenetv2/export.py, examples/resnet18/export.py (Debian's
python3-torch, python3-torchvision; nothing is downloaded). Every run is
bounded by --seconds; nothing listens on the network.
EOT
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cmdline="bench/engines.sh $*"
seconds=4
rounds=3
threads=1
builddir=$srcdir/build-bench
models="digits-large mobilenetv2 resnet18"
engines="xnnpack node opencv torch"
memory=1
write=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--seconds) seconds=${2:?--seconds needs a value}; shift ;;
	--rounds) rounds=${2:?--rounds needs a value}; shift ;;
	--threads) threads=${2:?--threads needs a value}; shift ;;
	--engines) engines=${2:?--engines needs a value}; shift ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--models) models=${2:?--models needs a value}; shift ;;
	--no-memory) memory=0 ;;
	--write) write=1 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -ge 2 ] && [ "$seconds" -le 60 ] ||
	{ echo "bench: --seconds is a whole number 2..60 (got '$seconds')" >&2; exit 2; }
[[ $rounds =~ ^[1-9]$ ]] || { echo "bench: --rounds is 1..9 (got '$rounds')" >&2; exit 2; }
[[ $threads =~ ^[0-9]+$ ]] && [ "$threads" -ge 1 ] && [ "$threads" -le 64 ] ||
	{ echo "bench: --threads is 1..64 (got '$threads')" >&2; exit 2; }
for e in $engines; do
	case $e in xnnpack | opencv | torch | node) ;;
	*) echo "bench: unknown engine '$e' (xnnpack, node, opencv, torch)" >&2; exit 2 ;;
	esac
done
has() { [[ " $engines " == *" $1 "* ]]; }
builddir=$(cd "$builddir" && pwd) || exit 1
[ -f "$builddir/libcs_core.a" ] && [ -f "$builddir/plugins/onnx/.libs/onnx.so" ] ||
	{ echo "bench: no build with the onnx plugin in $builddir (scripts/build.sh $(basename "$builddir"))" >&2; exit 1; }
if grep -q '^SAN_FLAGS = .*sanitize' "$builddir/Makefile"; then
	echo "bench: $builddir is built with sanitizers; use a plain build" >&2
	exit 1
fi
if has node && { ! command -v node >/dev/null || [ ! -d "$srcdir/bench/peers/node/node_modules/onnxruntime-node" ]; }; then
	echo "bench: no node or no onnxruntime-node (see --help); leave node out of --engines" >&2
	exit 1
fi
if has torch && [ ! -f "$builddir/plugins/torch/.libs/torch.so" ]; then
	echo "bench: no torch plugin in $builddir; leave torch out of --engines" >&2
	exit 1
fi

declare -A file example
file[digits-large]=$srcdir/examples/digits/digits-large.onnx
file[mobilenetv2]=$srcdir/examples/mobilenetv2/mobilenetv2.onnx
file[resnet18]=$srcdir/examples/resnet18/resnet18.onnx
# the same weights as TorchScript, written by the same export scripts
example[digits-large]="examples/digits/export.py --large"
example[mobilenetv2]="examples/mobilenetv2/export.py"
example[resnet18]="examples/resnet18/export.py"
declare -A shape=([digits-large]=1,1,8,8 [mobilenetv2]=1,3,224,224 [resnet18]=1,3,224,224)
for m in $models; do
	[ -n "${file[$m]:-}" ] || { echo "bench: unknown model '$m'" >&2; exit 2; }
	if [ ! -f "${file[$m]}" ] || [ ! -f "${file[$m]%.onnx}.pt" ]; then
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

# manifest M ENGINE: a manifest for model M on ENGINE (xnnpack, opencv:
# the onnx plugin; torch: the torch plugin on the .pt), no glue.
manifest() {
	local f=$run/$1-$2.json
	jq -n --arg n "$1" --arg m "${file[$1]}" --arg e "$2" --arg s "${shape[$1]}" \
		--argjson t "$threads" '
		($s | split(",") | map(tonumber)) as $sh |
		{name: $n, version: "1", threads: $t,
		 inputs: [{name: "image", dtype: "FP32", shape: ([-1] + $sh[1:])}]} +
		(if $e == "torch" then {plugin: "torch", model: ($m | sub("\\.onnx$"; ".pt")),
			options: {optimize: true},
			outputs: [{name: "logits", dtype: "FP32", shape: [-1, (if $n == "digits-large" then 10 else 1000 end)]}]}
		 else {plugin: "onnx", engine: $e, model: $m} end)' >"$f"
	echo "$f"
}
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# median V...: the median of the numbers given ("-" without any)
median() {
	printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
		awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# measure M E B: one measurement; sets INF (inferences/s) and P50 (ms).
measure() {
	local m=$1 e=$2 b=$3 out sh
	INF=failed P50=failed
	if [ "$e" = node ]; then
		sh="$b,${shape[$m]#*,}"
		out=$(timeout $((seconds * 4 + 90)) node "$srcdir/bench/peers/node/inproc.js" "${file[$m]}" 1 \
			"$seconds" "$sh" "$threads" 2>/dev/null | grep '^INPROC') || return 0
		INF=$(awk -v c="$(kv per_s "$out")" -v b="$b" 'BEGIN { printf "%.1f", c * b }')
		P50=$(awk -v u="$(kv p50_us "$out")" 'BEGIN { printf "%.3f", u / 1000 }')
	else
		out=$(timeout $((seconds * 4 + 90)) "$ib" --manifest "$(manifest "$m" "$e")" \
			--plugin-dir "$builddir/plugins" --batch "$b" --seconds "$seconds" --warmup 1 \
			2>/dev/null | grep '^batch=') || return 0
		INF=$(kv infer_per_s "$out")
		P50=$(kv p50_ms "$out")
	fi
}

declare -A R P
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$rounds"); do
	for m in $models; do
		for b in 1 32; do
			for e in $engines; do
				echo "bench: round $r/$rounds: $m on $e, batch $b, $threads thread(s), ${seconds}s"
				measure "$m" "$e" "$b"
				R[$m,$e,$b]="${R[$m,$e,$b]:-} $INF"
				P[$m,$e,$b]="${P[$m,$e,$b]:-} $P50"
			done
		done
	done
done
for m in $models; do
	has xnnpack || break
	mf=$(manifest "$m" xnnpack)
	echo "bench: $m on xnnpack, batch 8, then alternating 1/8, ${seconds}s each"
	R[$m,xnnpack,8]=$(timeout $((seconds * 3 + 60)) "$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" \
		--batch 8 --seconds "$seconds" --warmup 1 2>/dev/null | grep '^batch=') || R[$m,xnnpack,8]=failed
	R[$m,xnnpack,alt]=$(timeout $((seconds * 3 + 60)) "$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" \
		--batch 1 --batch 8 --alternate --seconds "$seconds" --warmup 1 2>/dev/null | grep '^batch=') ||
		R[$m,xnnpack,alt]=failed
	R[$m,xnnpack,b1]=$(timeout $((seconds * 3 + 60)) "$ib" --manifest "$mf" --plugin-dir "$builddir/plugins" \
		--batch 1 --seconds "$seconds" --warmup 1 2>/dev/null | grep '^batch=') || R[$m,xnnpack,b1]=failed
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
# pss_run SLEEP ARGS...: PSS of an infer_bench run on XNNPACK SLEEP s in.
pss_run() {
	local pid nap=$1
	shift
	"$ib" --plugin-dir "$builddir/plugins" "$@" >/dev/null 2>&1 &
	pid=$!
	sleep "$nap"
	pss_tree "$pid"
	wait "$pid" || true
}
if [ "$memory" = 1 ] && has xnnpack; then
	for m in $models; do
		mf=$(manifest "$m" xnnpack)
		for n in 1 4; do
			MEM[$m,$n]=$(pss_run 3 --manifest "$mf" --batch 1 --seconds 4 --warmup 1 --procs "$n")
			echo "bench: $m, xnnpack, $n process(es): PSS ${MEM[$m,$n]} kB"
		done
		MEM[$m,b32]=$(pss_run 5 --manifest "$mf" --batch 32 --seconds 6 --warmup 1)
		echo "bench: $m, xnnpack, 1 process at batch 32: PSS ${MEM[$m,b32]} kB"
	done
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2fx", a / b; else print "-" }'; }
declare -A NAME=([xnnpack]="xnnpack (onnx plugin)" [opencv]="opencv (onnx plugin)"
	[torch]="libtorch (torch plugin, .pt)" [node]="onnxruntime-node (inproc.js)")
report=$(
	echo "Run of \`$cmdline\` on $started: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr); load average before / after: $load_before / $load_after. The machine was shared with other builds: read the ratios, not the absolute figures."
	echo
	echo "In process, $threads thread(s) for every engine (XNNPACK: the manifest's \"threads\"; onnxruntime: intraOpNumThreads; OpenCV and libtorch: their thread count): inferences (samples) per second and the median call's latency, each the median of $rounds interleaved rounds of ${seconds} s; **xnnpack / this** divides XNNPACK's median by the engine's at the same batch size."
	echo
	echo "| model | engine | batch 1 inf/s | batch 1 p50 ms | batch 32 inf/s | batch 32 p50 ms | xnnpack / this, batch 1 | xnnpack / this, batch 32 |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
	for m in $models; do
		# shellcheck disable=SC2086 # the rounds' figures, one word each
		x1=$(median ${R[$m,xnnpack,1]:-}) x32=$(median ${R[$m,xnnpack,32]:-})
		for e in $engines; do
			# shellcheck disable=SC2086
			i1=$(median ${R[$m,$e,1]}) i32=$(median ${R[$m,$e,32]})
			# shellcheck disable=SC2086
			echo "| $m | ${NAME[$e]} | $i1 | $(median ${P[$m,$e,1]}) | $i32 | $(median ${P[$m,$e,32]}) | **$(ratio "$x1" "$i1")** | **$(ratio "$x32" "$i32")** |"
		done
	done
	echo
	echo "Every round's figures (inferences/s, batch 1 / batch 32), to show the spread:"
	echo
	for m in $models; do
		for e in $engines; do
			echo "- $m, $e: ${R[$m,$e,1]# } / ${R[$m,$e,32]# }"
		done
	done
	if has xnnpack; then
		echo
		echo "XNNPACK with the batch size changing every call (1, 8, 1, 8, ...: the operators are set up again for each call) against the calls/s expected from batch 1 and batch 8 alone (2 / (1/c1 + 1/c8)), run one after the other:"
		echo
		echo "| model | batch 1 calls/s | batch 8 calls/s | expected alternating | alternating 1/8 calls/s | alternating / expected |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		for m in $models; do
			c1=$(kv calls_per_s "${R[$m,xnnpack,b1]}") c8=$(kv calls_per_s "${R[$m,xnnpack,8]}")
			ca=$(kv calls_per_s "${R[$m,xnnpack,alt]}")
			ex=$(awk -v a="$c1" -v b="$c8" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", 2 / (1 / a + 1 / b) }')
			echo "| $m | $c1 | $c8 | $ex | $ca | $(ratio "$ca" "$ex") |"
		done
	fi
	if [ "$memory" = 1 ] && has xnnpack; then
		echo
		echo "Memory with the XNNPACK engine: total PSS of infer_bench's process tree while 1 or 4 forked processes infer at batch 1 (the weights are packed at load, before the fork, and shared), and of 1 process at batch 32 (the workspace and the operators' indirection buffers grow to the largest batch a process has run; nothing else is kept per batch size)."
		echo
		echo "| model | PSS, 1 process | PSS, 4 processes | 4 / 1 | PSS, 1 process at batch 32 | batch 32 costs |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		for m in $models; do
			echo "| $m | ${MEM[$m,1]} kB | ${MEM[$m,4]} kB | $(ratio "${MEM[$m,4]}" "${MEM[$m,1]}") | ${MEM[$m,b32]} kB | +$((MEM[$m,b32] - MEM[$m,1])) kB |"
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
