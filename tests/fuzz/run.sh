#!/bin/bash
# run.sh - build the libFuzzer targets with clang (-fsanitize=fuzzer,
# address,undefined) from the runtime sources and run each for a bounded
# time (CS_FUZZ_SECONDS, default 5) from its seed corpus in
# tests/fuzz/corpus/<target>/. New inputs go to a temp dir; CS_FUZZ_KEEP=1
# merges them into the kept corpus (run it by hand, then commit). A crash
# fails the test and leaves its input in the build dir. Prints TAP; skips
# when clang or libFuzzer (libclang-rt-14-dev) is missing.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
build=${CS_TOP_BUILDDIR:-$top/build}/fuzz
secs=${CS_FUZZ_SECONDS:-5}
CC=${CS_FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "1..0 # SKIP $CC is not installed"
	exit 0
fi
mkdir -p "$build"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
	"$CC" -x c -fsanitize=fuzzer - -o "$build/probe" >/dev/null 2>&1; then
	echo "1..0 # SKIP $CC cannot link libFuzzer (install libclang-rt-14-dev)"
	exit 0
fi

flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -I"$top/include" -I"$top/runtime"
	$(pkg-config --cflags jansson))
libs=($(pkg-config --libs jansson) -lm)
rt=("$top"/runtime/core/{arena,request,status,names,utf8,json_out,multipart}.c "$top"/runtime/protocol/{json_tensor,v2,envelope,route,fcgi}.c "$top"/runtime/model/manifest.c)
# the image target also links the glue's Lua libraries and the decoders
glue=("$top"/runtime/glue/{lua_util,lua_tensor,lua_image}.c)
glue_flags=($(pkg-config --cflags lua5.4 libturbojpeg spng 2>/dev/null))
glue_libs=($(pkg-config --libs lua5.4 libturbojpeg spng 2>/dev/null))

# The onnx plugin's protobuf reader. Its seeds: the kept corpus, digits.onnx,
# and, when installed, a few small models and tensors of libonnx-testdata.
declare -A srcs=([onnx_graph]="$top/plugins/onnx/onnx_graph.c")
declare -A incs=([onnx_graph]="-I$top/plugins/onnx")
seeds_onnx_graph() {
	local d=$1 t
	cp "$top/examples/digits/digits.onnx" "$d/"
	for t in conv_with_strides_padding gemm_default_vector_bias maxpool_2d_pads \
		softmax_axis_1 reshape_negative_dim batchnorm_example constant_pad; do
		t=/usr/share/libonnx-testdata/data/node/test_$t
		[ -f "$t/model.onnx" ] || continue
		cp "$t/model.onnx" "$d/${t##*/}.onnx"
		cp "$t/test_data_set_0/input_0.pb" "$d/${t##*/}.pb" 2>/dev/null || true
	done
}

n=0 failed=0
for target in v2 manifest route multipart image onnx_graph fcgi; do
	n=$((n + 1))
	bin=$build/fuzz_$target
	extra=() extra_libs=()
	if [ "$target" = image ]; then
		extra=("${glue_flags[@]}" "${glue[@]}")
		extra_libs=("${glue_libs[@]}")
	fi
	src=(${srcs[$target]:-"${rt[@]}"})
	# shellcheck disable=SC2086 # one flag or none
	if ! "$CC" "${flags[@]}" ${incs[$target]:-} "$here/fuzz_$target.c" "${extra[@]}" "${src[@]}" \
		"${libs[@]}" "${extra_libs[@]}" -o "$bin" \
		>"$build/$target.build.log" 2>&1; then
		failed=$((failed + 1))
		echo "not ok $n - fuzz_$target builds"
		head -n 20 "$build/$target.build.log" | sed 's/^/#   /'
		continue
	fi
	new=$(mktemp -d "$build/new-$target.XXXXXX")
	if [ "$target" = onnx_graph ]; then
		seeds_onnx_graph "$new"
	fi
	if (cd "$build" && ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" \
		-timeout=10 -rss_limit_mb=1024 -max_len="$([ "$target" = image ] && echo 65536 || echo 8192)" \
		-print_final_stats=1 \
		"$new" "$here/corpus/$target" >"$build/$target.log" 2>&1); then
		runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$build/$target.log")
		echo "ok $n - fuzz_$target: ${runs:-?} runs in ${secs}s, no crash ($(ls "$new" | wc -l) new inputs)"
		if [ "${CS_FUZZ_KEEP:-0}" = 1 ]; then
			"$bin" -merge=1 "$here/corpus/$target" "$new" >/dev/null 2>&1 || true
		fi
	else
		failed=$((failed + 1))
		echo "not ok $n - fuzz_$target: no crash in ${secs}s"
		grep -E -A12 'ERROR:|runtime error|SUMMARY' "$build/$target.log" | head -n 30 | sed 's/^/#   /'
		ls "$build"/crash-* "$build"/leak-* "$build"/timeout-* 2>/dev/null | sed 's/^/#   input: /'
	fi
	rm -rf "$new"
done
echo "1..$n"
[ "$failed" -eq 0 ] # a failure is the exit status too, not only TAP
