#!/bin/bash
# test_digits.sh - the digits example served through both real backends
# (onnx: examples/digits/model.json, torch: model-torch.json) behind a
# private nginx with cubeserve-worker processes under spawn-fcgi, on unix
# sockets in a temp dir. Prints TAP.
#
# Checks: every sample of samples.json classified as the reference logits
# say (digit = argmax, confidence = softmax within 1e-4); metadata; the same
# model without glue (tests/data/models/digits-raw) reproducing the logits,
# batch 8 = 8 single requests (1e-5); wrong shapes and dtypes answered 400
# naming expected and got, the worker answering correctly afterwards;
# missing, truncated and non-model artifacts and manifests that disagree
# with the model refused at load (non-zero exit, the file and the reason).
# Skips (TAP "1..0 # SKIP") only when nginx, spawn-fcgi, curl or jq, or both
# backend plugins, are missing; a single missing backend skips its cases.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,15s/^# \{0,1\}//p' "$0"
	echo "Env: CS_TOP_SRCDIR, CS_TOP_BUILDDIR (set by make check), CS_KEEP_RUN=1 keeps the temp dir."
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi curl jq
stack_run cs-digits

# A backend is there when its plugin was built (found as cs_plugin_open does).
have_plugin() {
	[ -f "$CS_PLUGIN_DIR/$1.so" ] || [ -f "$CS_PLUGIN_DIR/$1/.libs/$1.so" ]
}
backends=()
for b in onnx torch; do
	have_plugin "$b" && backends+=("$b")
done
if [ ${#backends[@]} -eq 0 ]; then
	echo "1..0 # SKIP neither the onnx nor the torch plugin is built (configure found neither OpenCV DNN nor libtorch)"
	exit 0
fi

# ------------------------------------------------------------------ TAP
diag_logs() {
	local f
	for f in "$CS_RUN"/logs/*.log "$CS_RUN"/nginx/logs/error.log; do
		[ -s "$f" ] || continue
		echo "# --- tail of $f"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
}

if [ ! -x "$CS_WORKER" ]; then
	echo "1..1"
	echo "not ok 1 - cubeserve-worker is built at $CS_WORKER"
	exit 1
fi

# ------------------------------------------------------------------ HTTP
# post PATH JSON-FILE [CONTENT-TYPE]: sets $status and $body.
post() {
	status=$(curl -s -o "$run/body" -w '%{http_code}' -m 20 \
		-H "Content-Type: ${3:-application/json}" --data-binary "@$2" \
		"http://127.0.0.1:$port$1") || status="curl-failed($?)"
	body=$(cat "$run/body" 2>/dev/null || true)
	: >"$run/body"
}
get() {
	status=$(curl -s -o "$run/body" -w '%{http_code}' -m 20 \
		"http://127.0.0.1:$port$1") || status="curl-failed($?)"
	body=$(cat "$run/body" 2>/dev/null || true)
	: >"$run/body"
}

# check_error DESC STATUS "FRAG|FRAG...": the last answer has STATUS and a
# JSON body {"error": "..."} holding every fragment (case and spaces ignored).
check_error() {
	local desc=$1 want=$2 frags=$3 msg flat f missing=
	if [ "$status" != "$want" ]; then
		fail "$desc: status $want" "got status $status, body: ${body:0:300}"
		return
	fi
	if ! msg=$(jq -er 'if type == "object" and (.error | type) == "string" then .error else error("no error field") end' <<<"$body" 2>/dev/null); then
		fail "$desc: status $want with a JSON {\"error\": ...} body" "body: ${body:0:300}"
		return
	fi
	flat=$(tr -d ' ' <<<"$msg" | tr '[:upper:]' '[:lower:]')
	IFS='|' read -r -a parts <<<"$frags"
	for f in "${parts[@]}"; do
		f=$(tr -d ' ' <<<"$f" | tr '[:upper:]' '[:lower:]')
		[[ $flat == *"$f"* ]] || missing="$missing '$f'"
	done
	if [ -n "$missing" ]; then
		fail "$desc: status $want, error names$missing" "error: $msg"
	else
		pass "$desc: $want {\"error\": \"${msg:0:110}\"}"
	fi
}

# ------------------------------------------------------------------ reference
# expected.json: per sample the 1x1x8x8 image, the reference logits, their
# argmax and the top softmax probability (jq computes in double precision).
# The request bodies are made here, once: jq is the slow part of this test.
samples=$CS_TOP_SRCDIR/examples/digits/samples.json
jq -c '[.samples[] | {
	pixels,
	image: [[[range(0; 8) as $r | .pixels[$r * 8:$r * 8 + 8]]]],
	logits,
	digit: (.logits | index(max)),
	confidence: ((.logits | max) as $m | [.logits[] | (. - $m) | exp] | max / add)
}]' "$samples" >"$run/expected.json"
count=$(jq length "$run/expected.json")
pick=(0 5 9 12 17 22 26 31) # the batch of 8
if [ "$count" -le 31 ]; then # else "all $count samples" would check too few
	echo "1..1"; echo "not ok 1 - $samples holds at least 32 samples (it holds $count)"; exit 1
fi
jq -c '.[] | {pixels}' "$run/expected.json" >"$run/reqs-glue"
jq -c '.[] | {inputs: {image: .image}}' "$run/expected.json" >"$run/reqs-raw"
jq -c '{inputs: {image: [.[].image[0]]}}' "$run/expected.json" >"$run/req-raw-all"
jq -c --argjson p "$(printf '%s\n' "${pick[@]}" | jq -sc .)" \
	'{inputs: {image: [$p[] as $i | .[$i].image[0]]}}' "$run/expected.json" >"$run/req-raw-8"
sed -n 4p "$run/reqs-glue" >"$run/alive-glue"
sed -n 4p "$run/reqs-raw" >"$run/alive-raw"

# ------------------------------------------------------------------ stack
# name, manifest and worker arguments per backend; torch runs under the
# prefork master (2 children share the model the master loaded).
declare -A model=([onnx]=digits [torch]=digits-torch)
declare -A raw=([onnx]=digits-raw [torch]=digits-raw-torch)
declare -A manifest=([onnx]=model.json [torch]=model-torch.json)
declare -A procs=([onnx]="" [torch]="--processes 2")
declare -A pid=()
port=$(cs_free_port)
for b in "${backends[@]}"; do
	# shellcheck disable=SC2086
	cs_worker_start "${model[$b]}" "$CS_TOP_SRCDIR/examples/digits/${manifest[$b]}" ${procs[$b]}
	cs_worker_start "${raw[$b]}" "$CS_TOP_SRCDIR/tests/data/models/digits-raw/${manifest[$b]}"
done
up=1
cs_nginx_start "$port" || up=0
for b in "${backends[@]}"; do
	for m in "${model[$b]}" "${raw[$b]}"; do
		[ "$up" = 1 ] && cs_wait_http "http://127.0.0.1:$port/models/$m" 60 "$(cs_pid "$m")" || up=0
	done
done
if [ "$up" != 1 ]; then
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx + digits workers for ${backends[*]})"
	failed=1
	diag_logs
	exit 1
fi
pass "stack up: nginx on 127.0.0.1:$port, digits workers for ${backends[*]} under spawn-fcgi"
for b in "${backends[@]}"; do
	pid[${model[$b]}]=$(cs_pid "${model[$b]}")
	pid[${raw[$b]}]=$(cs_pid "${raw[$b]}")
done

# post_lines MODEL LINES PREFIX: POSTs every line of the file LINES to
# /models/MODEL, one request each; answer i goes to PREFIX.i. Sets $bad to
# the requests that did not answer 200 ("" when all did).
post_lines() {
	local m=$1 lines=$2 prefix=$3 i=0 line code
	bad=
	while IFS= read -r line; do
		code=$(curl -s -o "$prefix.$i" -w '%{http_code}' -m 20 \
			-H 'Content-Type: application/json' --data-binary "$line" \
			"http://127.0.0.1:$port/models/$m") || code="curl-failed"
		[ "$code" = 200 ] || bad="$bad $i(status $code: $(head -c 160 "$prefix.$i" 2>/dev/null))"
		i=$((i + 1))
	done <"$lines"
}

# answers PREFIX N: the N answers PREFIX.0 .. PREFIX.N-1 as one JSON array.
answers() {
	local i files=()
	for ((i = 0; i < $2; i++)); do files+=("$1.$i"); done
	jq -sc . "${files[@]}"
}

# jq: an example-glue answer (.) against its expected sample ($w).
glue_ok='(.digit == $w.digit
	and ((.confidence - $w.confidence) | fabs) < 1e-4
	and (.top3 | length) == 3 and .top3[0].digit == $w.digit
	and ([.top3[].p] | . == (sort | reverse)))'

# alive DESC MODEL: after a bad request, the worker answers sample 3
# correctly (the example glue's digit, or the default glue's logits).
alive() {
	local check
	if [[ $2 == *-raw* ]]; then
		post "/models/$2" "$run/alive-raw"
		check='[.outputs.logits[0], $w.logits] | transpose | all(.[0] - .[1] | fabs < 1e-4)'
	else
		post "/models/$2" "$run/alive-glue"
		check=$glue_ok
	fi
	if [ "$status" = 200 ] && jq -e --slurpfile e "$run/expected.json" \
		"\$e[0][3] as \$w | $check" <<<"$body" >/dev/null 2>&1; then
		pass "$1: $2 still answers correctly"
	else
		fail "$1: $2 still answers correctly" "status $status, body: ${body:0:300}"
	fi
}

# ------------------------------------------------------------------ answers
for b in "${backends[@]}"; do
	m=${model[$b]}
	desc="$b: POST /models/$m, all $count samples: digit = reference argmax, confidence = softmax(reference logits) within 1e-4"
	post_lines "$m" "$run/reqs-glue" "$run/ans-$b"
	if [ -n "$bad" ]; then
		fail "$desc" "failed:$bad"
	elif wrong=$(answers "$run/ans-$b" "$count" | jq -c --slurpfile e "$run/expected.json" "
		[range(0; length) as \$i | .[\$i] as \$a | \$e[0][\$i] as \$w
		 | select(\$a | $glue_ok | not) | {i: \$i, got: \$a, want: (\$w | {digit, confidence})}]") &&
		[ "$wrong" = "[]" ]; then
		pass "$desc"
	else
		fail "$desc" "wrong: ${wrong:0:600}"
	fi

	get "/models/$m"
	if [ "$status" = 200 ] && jq -e --arg m "$m" --arg b "$b" '
		.name == $m and .plugin == $b
		and .inputs == [{name: "image", datatype: "FP32", shape: [-1, 1, 8, 8]}]
		and .outputs == [{name: "logits", datatype: "FP32", shape: [-1, 10]}]
		and .methods == ["predict"]
		and ($b != "onnx" or ((.backend.engine | IN("xnnpack", "opencv"))
					and (.backend.reason | length > 0)))
	' <<<"$body" >/dev/null 2>&1; then
		pass "$b: GET /models/$m: image FP32 [-1,1,8,8] -> logits FP32 [-1,10], plugin $b$(jq -r '.backend // empty | ", engine \(.engine) (\(.reason))"' <<<"$body")"
	else
		fail "$b: GET /models/$m: the real input/output shapes" "status $status, body: ${body:0:400}"
	fi

	# the same model without glue (the default glue, logits out): every
	# sample alone, all of them in one batch, and a batch of 8
	r=${raw[$b]}
	post_lines "$r" "$run/reqs-raw" "$run/raw-$b"
	bad1=$bad
	answers "$run/raw-$b" "$count" >"$run/singles-$b.json" 2>/dev/null || bad1="$bad1 (not JSON)"
	post "/models/$r" "$run/req-raw-all"
	st_all=$status
	printf '%s' "$body" >"$run/batch-$b.json"
	post "/models/$r" "$run/req-raw-8"
	st_8=$status
	printf '%s' "$body" >"$run/batch8-$b.json"
	if [ -n "$bad1" ] || [ "$st_all" != 200 ] || [ "$st_8" != 200 ]; then
		fail "$b: POST /models/$r (no glue): singles, batch of $count and batch of 8 answer 200" \
			"singles:${bad1:- ok}" "batch of $count: $st_all $(head -c 200 "$run/batch-$b.json")" \
			"batch of 8: $st_8 $(head -c 200 "$run/batch8-$b.json")"
	else
		# d = the three largest differences: singles vs reference, batch of
		# all vs reference, batch of 8 vs the same 8 single answers
		d=$(jq -nc --slurpfile e "$run/expected.json" --slurpfile s "$run/singles-$b.json" \
			--slurpfile a "$run/batch-$b.json" --slurpfile g "$run/batch8-$b.json" \
			--argjson p "$(printf '%s\n' "${pick[@]}" | jq -sc .)" '
			def maxdiff(x; y): [range(0; x | length) as $i | range(0; 10) as $k
				| (x[$i][$k] - y[$i][$k]) | fabs] | max;
			($e[0] | map(.logits)) as $ref
			| ($s[0] | map(.outputs.logits[0])) as $single
			| if ($a[0].outputs.logits | length) != ($ref | length)
			     or ($g[0].outputs.logits | length) != 8 then "bad batch size"
			  else [maxdiff($single; $ref), maxdiff($a[0].outputs.logits; $ref),
			        maxdiff($g[0].outputs.logits; [$p[] as $i | $single[$i]])] end')
		if jq -e '.[0] < 1e-4' <<<"$d" >/dev/null 2>&1; then
			pass "$b: POST /models/$r (no glue), $count single requests: logits = reference (max diff $(jq '.[0]' <<<"$d") < 1e-4)"
		else
			fail "$b: POST /models/$r (no glue), $count single requests: logits = reference within 1e-4" "max diffs: $d"
		fi
		if jq -e '.[1] < 1e-4' <<<"$d" >/dev/null 2>&1; then
			pass "$b: all $count samples in one batch: logits = reference (max diff $(jq '.[1]' <<<"$d") < 1e-4)"
		else
			fail "$b: all $count samples in one batch: logits = reference within 1e-4" "max diffs: $d"
		fi
		if jq -e '.[2] <= 1e-5' <<<"$d" >/dev/null 2>&1; then
			pass "$b: a batch of 8 = 8 single requests, per sample (max diff $(jq '.[2]' <<<"$d") <= 1e-5)"
		else
			fail "$b: a batch of 8 = 8 single requests, per sample within 1e-5" "max diffs: $d"
		fi
	fi
done

# ------------------------------------------------------------------ bad inputs
# Wrong shapes and dtypes reach the client as 400 naming expected and got,
# checked by the runtime before the backend sees them.
for b in "${backends[@]}"; do
	r=${raw[$b]}
	jq -c '{inputs: {image: .[0].pixels}}' "$run/expected.json" >"$run/req"
	post "/models/$r" "$run/req"
	check_error "$b: no glue, flat [64] image" 400 "image|expects|FP32 [-1,1,8,8]|got|[64]"
	alive "$b: [64]" "$r"

	jq -c '{inputs: {image: [[.[0].image[0][0][0:7]]]}}' "$run/expected.json" >"$run/req"
	post "/models/$r" "$run/req"
	check_error "$b: no glue, 7x8 image" 400 "expects|[-1,1,8,8]|got|[1,1,7,8]"
	alive "$b: 7x8" "$r"

	jq -c '{inputs: {image: [.[0].image, .[1].image]}}' "$run/expected.json" >"$run/req"
	post "/models/$r" "$run/req"
	check_error "$b: no glue, one nesting too many" 400 "expects|[-1,1,8,8]|got|[2,1,1,8,8]"
	alive "$b: 5-d" "$r"

	jq -c '{inputs: {image: (.[0].image | map(map(map(map(. > 8)))))}}' "$run/expected.json" >"$run/req"
	post "/models/$r" "$run/req"
	check_error "$b: no glue, booleans for an FP32 image" 400 "FP32|got boolean"
	alive "$b: booleans" "$r"

	# V2 inference names the dtype itself: INT64 and BOOL tensors of the
	# right shape reach the runtime's check, never the backend
	jq -c '{inputs: [{name: "image", datatype: "INT64", shape: [1, 1, 8, 8], data: .[0].pixels}]}' \
		"$run/expected.json" >"$run/req"
	post "/v2/models/$r/infer" "$run/req"
	check_error "$b: V2 infer with an INT64 image" 400 "expects FP32 [-1,1,8,8]|got INT64 [1,1,8,8]"
	alive "$b: INT64" "$r"

	jq -c '{inputs: [{name: "image", datatype: "BOOL", shape: [1, 1, 8, 8], data: (.[0].pixels | map(. > 8))}]}' \
		"$run/expected.json" >"$run/req"
	post "/v2/models/$r/infer" "$run/req"
	check_error "$b: V2 infer with a BOOL image" 400 "expects FP32 [-1,1,8,8]|got BOOL [1,1,8,8]"
	alive "$b: BOOL" "$r"

	m=${model[$b]}
	jq -c '{pixels: .[0].pixels[0:63]}' "$run/expected.json" >"$run/req"
	post "/models/$m" "$run/req"
	check_error "$b: example glue, 63 pixels" 400 "pixels|64"
	alive "$b: 63 pixels" "$m"
done

same=1
for m in "${!pid[@]}"; do
	kill -0 "${pid[$m]}" 2>/dev/null || same=0
done
if [ "$same" = 1 ]; then
	pass "every worker is the process that started (no crash)"
else
	fail "every worker is the process that started (no crash)"
fi

# ------------------------------------------------------------------ load errors
# check_refused DESC MANIFEST "FRAG|FRAG...": `cubeserve-worker --check`
# exits non-zero (not by timeout) and its stderr holds every fragment.
check_refused() {
	local desc=$1 mf=$2 frags=$3 rc=0 f msg missing=
	timeout 60 "$CS_WORKER" --manifest "$mf" --plugin-dir "$CS_PLUGIN_DIR" \
		--lua-dir "$CS_LUA_DIR" --check >"$run/check.out" 2>"$run/check.err" || rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ]; then
		fail "$desc: refused with a non-zero exit" "exit $rc, stderr: $(head -c 400 "$run/check.err")"
		return
	fi
	IFS='|' read -r -a parts <<<"$frags"
	for f in "${parts[@]}"; do
		grep -qiF -- "$f" "$run/check.err" || missing="$missing '$f'"
	done
	if [ -n "$missing" ]; then
		fail "$desc: exit $rc, stderr names$missing" "stderr: $(grep -v ' info ' "$run/check.err" | head -c 400)"
	else
		msg=$(grep -m 1 -E ' error |cannot' "$run/check.err" | sed 's/^.* error \[[0-9]*\] //')
		[ ${#msg} -le 200 ] || msg="...${msg: -200}"
		pass "$desc: exit $rc: $msg"
	fi
}

declare -A artifact=([onnx]=digits.onnx [torch]=digits.pt)
# onnx: the graph reader ("not a valid ONNX model") or OpenCV ("Failed to
# parse onnx model"), depending on the engine
declare -A reason=([onnx]="onnx model" [torch]="libtorch|PytorchStreamReader failed reading zip archive")
for b in "${backends[@]}"; do
	a=${artifact[$b]}
	for kind in missing truncated non-model; do
		d=$run/broken-$b-$kind
		mkdir -p "$d"
		cp "$CS_TOP_SRCDIR/examples/digits/"{"${manifest[$b]}",glue.lua} "$d/"
		case $kind in
		missing) why="No such file or directory" ;;
		truncated)
			head -c "$(($(stat -c %s "$CS_TOP_SRCDIR/examples/digits/$a") / 2))" \
				"$CS_TOP_SRCDIR/examples/digits/$a" >"$d/$a"
			why=${reason[$b]}
			;;
		non-model)
			cp "$d/glue.lua" "$d/$a"
			why=${reason[$b]}
			;;
		esac
		check_refused "$b: $kind $a" "$d/${manifest[$b]}" "$d/$a|$why"
	done
done

# the worker itself (not only --check) refuses to start on a broken artifact
for b in "${backends[@]}"; do
	d=$run/broken-$b-truncated
	rc=0
	timeout 60 "$CS_WORKER" --manifest "$d/${manifest[$b]}" --listen "unix:$d/w.sock" \
		--plugin-dir "$CS_PLUGIN_DIR" --lua-dir "$CS_LUA_DIR" >"$run/start.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] && [ ! -S "$d/w.sock" ] &&
		grep -qF "$d/${artifact[$b]}" "$run/start.out"; then
		pass "$b: a worker on a truncated ${artifact[$b]} exits $rc before listening, naming the file"
	else
		fail "$b: a worker on a truncated ${artifact[$b]} refuses to start" "exit $rc, socket: $([ -S "$d/w.sock" ] && echo yes || echo no), output: $(head -c 300 "$run/start.out")"
	fi
done

mm=$CS_TOP_SRCDIR/tests/data/models/digits-mismatch
for b in "${backends[@]}"; do
	check_refused "$b: manifest declares image [-1,1,8,9], the model takes [-1,1,8,8]" \
		"$mm/${manifest[$b]}" "input 'image'|FP32 [-1,1,8,9]|FP32 [-1,1,8,8]"
done
if have_plugin torch; then
	check_refused "torch: a manifest signature ([-1,64]) the module cannot take" \
		"$mm/model-torch-signature.json" "digits.pt|signature|4-dimensional|[1, 64]"
else
	skip "torch: a manifest signature the module cannot take (no torch plugin)"
fi
for b in onnx torch; do
	have_plugin "$b" || skip "$b: every $b case (the $b plugin is not built)"
done

# ------------------------------------------------------------------ sanitizers
cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log

[ "$failed" -eq 0 ] || diag_logs
tap_done
