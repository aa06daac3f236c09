#!/bin/bash
# decode.sh - benchmark the V2 request decode: a 1 M-element FP32 request
# through cubeserve's tree-free decoder vs. through a jansson tree, in one
# run (bench/decode.c, built here with -O2, no sanitizers). Prints MB/s and
# the ratio; with --write, replaces its section of docs/performance.md.
#
#   bench/decode.sh [--write] [--elements N] [--rounds R]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
write=0 elements=1000000 rounds=5
while [ $# -gt 0 ]; do
	case $1 in
	--write) write=1 ;;
	--elements) elements=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	-h | --help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "decode.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cs-decode.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046
gcc -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -I"$top/include" -I"$top/runtime" \
	"$top/bench/decode.c" "$top"/runtime/core/{arena,request,status,utf8,json_out}.c "$top"/runtime/protocol/{json_tensor,v2}.c \
	$(pkg-config --cflags --libs jansson) -lm -o "$tmp/decode"
"$tmp/decode" "$elements" "$rounds" | tee "$tmp/out"
get() { awk -v k="$1" '$1 == k {print $2}' "$tmp/out"; }

[ "$write" = 1 ] || exit 0
doc=$top/docs/performance.md
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)
section=$(cat <<MD
<!-- bench/decode.sh:begin -->
## V2 request decode (bench/decode.sh)

One FP32 request of $(get elements) elements ($(get body_bytes) bytes of JSON,
numbers as a float32 serializer writes them, \`%.9g\`), decoded into a
tensor buffer. Best of $(get rounds) rounds each, in one run, on $cpu
($(date -u +%Y-%m-%d)), gcc -O2, no sanitizers:

| decoder | time | MB/s of request body |
| --- | --- | --- |
| cubeserve (\`runtime/protocol/json_tensor.c\`: \`data\` parsed straight into the buffer) | $(get fast_seconds) s | **$(get fast_mb_s)** |
| jansson tree (\`json_loadb\`, then walk \`data\`) | $(get jansson_seconds) s | $(get jansson_mb_s) |

cubeserve decodes **$(get ratio)x** faster than through a jansson tree
(target: >= 300 MB/s). Both give bit-identical floats (the bench checks).
Run it again with \`bench/decode.sh --write\`.
<!-- bench/decode.sh:end -->
MD
)
if grep -q '<!-- bench/decode.sh:begin -->' "$doc"; then
	awk -v s="$section" '
		/<!-- bench\/decode.sh:begin -->/ {print s; skip = 1; next}
		/<!-- bench\/decode.sh:end -->/ {skip = 0; next}
		!skip {print}' "$doc" >"$tmp/doc"
	cat "$tmp/doc" >"$doc"
else
	printf '\n%s\n' "$section" >>"$doc"
fi
echo "wrote the section to $doc"
