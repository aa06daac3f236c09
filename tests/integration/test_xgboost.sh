#!/bin/bash
# test_xgboost.sh - the breast_cancer example (xgboost plugin) behind a
# private nginx with cubeserve-worker under spawn-fcgi, on unix sockets in a
# temp dir. Prints TAP.
#
# Checks: every sample of examples/breast_cancer/samples.json as a row
# ({"features": [...]}) gives Python XGBoost's probability within 1e-5 and
# its label; all of them as a batch ({"rows": ...}) = the single answers;
# named features ({"named": {...}}) = the row; the metadata; V2 inference;
# the UBJSON booster; 2 XGBoost threads in prefork children; dynamic
# batching under concurrent requests = the single answers; a wrong feature
# count (glue and V2), NaN where missing values are refused, unknown names
# answered 400 naming expected and got, the worker answering correctly
# afterwards; with options.missing "nan", a row with missing values gives
# Python's probability; a broken booster refused at load. Skips (TAP
# "1..0 # SKIP") only when nginx, spawn-fcgi, curl or jq are missing or the
# xgboost plugin was not built.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,17s/^# \{0,1\}//p' "$0"
	echo "Env: CS_TOP_SRCDIR, CS_TOP_BUILDDIR (set by make check), CS_TEST_PORT (default: a free port)."
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi curl jq
stack_run cs-xgboost

if ! [ -f "$CS_PLUGIN_DIR/xgboost.so" ] && ! [ -f "$CS_PLUGIN_DIR/xgboost/.libs/xgboost.so" ]; then
	echo "1..0 # SKIP the xgboost plugin is not built (configure found no libxgboost-dev)"
	exit 0
fi
if [ ! -x "$CS_WORKER" ]; then
	echo "1..1"
	echo "not ok 1 - cubeserve-worker is built at $CS_WORKER"
	exit 1
fi

diag_logs() {
	local f
	for f in "$CS_RUN"/logs/*.log "$CS_RUN"/nginx/logs/error.log; do
		[ -s "$f" ] || continue
		echo "# --- tail of $f"
		tail -n 15 "$f" | sed 's/^/#   /'
	done
}

# ------------------------------------------------------------------ HTTP
# post PATH BODY-FILE: sets $status and $body.
post() {
	status=$(curl -s -o "$run/body" -w '%{http_code}' -m 20 \
		-H 'Content-Type: application/json' --data-binary "@$2" \
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
# JSON body {"error": "..."} holding every fragment (case ignored).
check_error() {
	local desc=$1 want=$2 frags=$3 msg f missing=
	if [ "$status" != "$want" ]; then
		fail "$desc: status $want" "got status $status, body: ${body:0:300}"
		return
	fi
	if ! msg=$(jq -er '.error | strings' <<<"$body" 2>/dev/null); then
		fail "$desc: status $want with a JSON {\"error\": ...} body" "body: ${body:0:300}"
		return
	fi
	IFS='|' read -r -a parts <<<"$frags"
	for f in "${parts[@]}"; do
		[[ ${msg,,} == *"${f,,}"* ]] || missing="$missing '$f'"
	done
	if [ -n "$missing" ]; then
		fail "$desc: status $want, error names$missing" "error: $msg"
	else
		pass "$desc: $want {\"error\": \"${msg:0:140}\"}"
	fi
}

# ------------------------------------------------------------------ stack
ex=$CS_TOP_SRCDIR/examples/breast_cancer
samples=$ex/samples.json
count=$(jq '.inputs | length' "$samples")

# Variants of the example manifest, in the run dir next to copies of its
# files: the UBJSON booster, missing values allowed, dynamic batching.
variant() { # NAME JQ-FILTER
	mkdir -p "$run/$1"
	cp "$ex/booster.json" "$ex/booster.ubj" "$ex/glue.lua" "$run/$1/"
	jq --arg n "$1" ".name = \$n | $2" "$ex/model.json" >"$run/$1/model.json"
}
variant bc_ubj '.model = "booster.ubj"'
variant bc_nan '.options.missing = "nan"'
variant bc_batch '. + {batching: {max_batch_size: 16, max_queue_delay_us: 3000, threads: 8}}'
variant bc_threads '.threads = 2'

port=${CS_TEST_PORT:-$(cs_free_port)}
cs_worker_start breast_cancer "$ex/model.json" --processes 2
cs_worker_start bc_ubj "$run/bc_ubj/model.json"
cs_worker_start bc_nan "$run/bc_nan/model.json"
cs_worker_start bc_batch "$run/bc_batch/model.json"
cs_worker_start bc_threads "$run/bc_threads/model.json" --processes 2
up=1
cs_nginx_start "$port" || up=0
for m in breast_cancer bc_ubj bc_nan bc_batch bc_threads; do
	[ "$up" = 1 ] && cs_wait_http "http://127.0.0.1:$port/models/$m" 60 "$(cs_pid "$m")" || up=0
done
if [ "$up" != 1 ]; then
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx + breast_cancer workers)"
	failed=1
	diag_logs
	exit 1
fi
pass "stack up: nginx on 127.0.0.1:$port, breast_cancer (2 prefork children), ubj, missing-allowed, batching and 2-thread (2 prefork children) variants"

# ------------------------------------------------------------------ answers
# rows_as MODEL: every sample alone; answers in $run/MODEL.answers (a JSON
# array); sets $bad to the requests that did not answer 200.
rows_as() {
	local m=$1 i code
	bad=
	for ((i = 0; i < count; i++)); do
		jq -c --argjson i "$i" '{features: .inputs[$i]}' "$samples" >"$run/req"
		code=$(curl -s -o "$run/ans.$i" -w '%{http_code}' -m 20 \
			-H 'Content-Type: application/json' --data-binary "@$run/req" \
			"http://127.0.0.1:$port/models/$m") || code=curl-failed
		[ "$code" = 200 ] || bad="$bad $i($code: $(head -c 160 "$run/ans.$i"))"
	done
	for ((i = 0; i < count; i++)); do cat "$run/ans.$i"; echo; done | jq -sc . >"$run/$m.answers"
}

# worst difference of answers FILE (.p_benign, .label) from the reference
ref_check='[range(0; $s[0].probability | length) as $i
	| ((.[$i].p_benign - $s[0].probability[$i]) | fabs)] | max'
label_check='[range(0; $s[0].probability | length) as $i
	| .[$i].label == (if $s[0].probability[$i] >= 0.5 then "benign" else "malignant" end)] | all'

for m in breast_cancer bc_ubj bc_threads; do
	rows_as "$m"
	desc="POST /models/$m {\"features\": row}, all $count samples: p_benign = Python XGBoost's within 1e-5, label from it"
	if [ -n "$bad" ]; then
		fail "$desc" "failed:$bad"
	elif worst=$(jq --slurpfile s "$samples" "$ref_check" "$run/$m.answers") &&
		jq -e '. <= 1e-5' <<<"$worst" >/dev/null &&
		jq -e --slurpfile s "$samples" "$label_check" "$run/$m.answers" >/dev/null; then
		pass "$desc (worst $worst)"
	else
		fail "$desc" "worst: ${worst:-?}; answers: $(head -c 300 "$run/$m.answers")"
	fi
done

if grep -q "probability' \[-1\], missing values refused, 2 thread(s)" "$CS_RUN/logs/bc_threads.log" &&
	grep -q "no warm-up before forking" "$CS_RUN/logs/bc_threads.log"; then
	pass "bc_threads loaded with 2 XGBoost threads and no warm-up before forking (its log says so)"
else
	fail "bc_threads runs with 2 XGBoost threads, no warm-up before forking" "$(tail -n 8 "$CS_RUN/logs/bc_threads.log")"
fi

# most labels agree with the data set's diagnosis (the model is not a constant)
right=$(jq --slurpfile s "$samples" '[range(0; length) as $i
	| .[$i].label == (if $s[0].target[$i] == 1 then "benign" else "malignant" end)] | map(select(.)) | length' \
	"$run/breast_cancer.answers")
if [ "$right" -ge $((count * 9 / 10)) ]; then
	pass "the labels agree with the data set's diagnosis for $right of $count test rows"
else
	fail "the labels agree with the data set's diagnosis for most test rows" "right: $right of $count"
fi

jq -c '{rows: .inputs}' "$samples" >"$run/req"
post /models/breast_cancer "$run/req"
if [ "$status" = 200 ] && jq -e --slurpfile a "$run/breast_cancer.answers" '
	(.p_benign | length) == ($a[0] | length)
	and .p_benign == [$a[0][].p_benign] and .label == [$a[0][].label]' <<<"$body" >/dev/null 2>&1; then
	pass "POST {\"rows\": all $count samples}: the same p_benign and labels as the single requests"
else
	fail "POST {\"rows\": all $count samples} = the single requests" "status $status, body: ${body:0:300}"
fi

jq -c '{named: ([.features, .inputs[3]] | transpose | map({key: .[0], value: .[1]}) | from_entries)}' \
	"$samples" >"$run/req"
post /models/breast_cancer "$run/req"
if [ "$status" = 200 ] && jq -e --slurpfile a "$run/breast_cancer.answers" \
	'. == $a[0][3]' <<<"$body" >/dev/null 2>&1; then
	pass "POST {\"named\": {\"mean radius\": ..., 30 names}} = the same row as {\"features\": [...]}"
else
	fail "POST {\"named\": ...} = the row" "status $status, body: ${body:0:300}, want $(jq -c '.[3]' "$run/breast_cancer.answers")"
fi

get /models/breast_cancer
if [ "$status" = 200 ] && jq -e '.name == "breast_cancer" and .plugin == "xgboost"
	and .inputs == [{name: "features", datatype: "FP32", shape: [-1, 30]}]
	and .outputs == [{name: "probability", datatype: "FP32", shape: [-1]}]' <<<"$body" >/dev/null 2>&1; then
	pass "GET /models/breast_cancer: features FP32 [-1,30] -> probability FP32 [-1], plugin xgboost"
else
	fail "GET /models/breast_cancer: the declared input/output" "status $status, body: ${body:0:400}"
fi

get /v2/models/breast_cancer
if [ "$status" = 200 ] && jq -e '.platform == "xgboost"' <<<"$body" >/dev/null 2>&1; then
	pass "GET /v2/models/breast_cancer: platform xgboost"
else
	fail "GET /v2/models/breast_cancer: platform xgboost" "status $status, body: ${body:0:300}"
fi

jq -c '{inputs: [{name: "features", datatype: "FP32", shape: [3, 30], data: [.inputs[0:3][][]]}]}' \
	"$samples" >"$run/req"
post /v2/models/breast_cancer/infer "$run/req"
if [ "$status" = 200 ] && jq -e --slurpfile s "$samples" '.outputs[0] as $o
	| $o.name == "probability" and $o.shape == [3]
	and ([range(0; 3) as $i | ($o.data[$i] - $s[0].probability[$i]) | fabs] | max) <= 1e-5' \
	<<<"$body" >/dev/null 2>&1; then
	pass "POST /v2/models/breast_cancer/infer, 3 rows: probability [3] = Python's within 1e-5"
else
	fail "V2 infer, 3 rows" "status $status, body: ${body:0:400}"
fi

# ------------------------------------------------------------------ batching
# 48 concurrent requests (8 at a time) into the 8 threads that feed one
# batcher: every answer equals the single-request answer of its row.
: >"$run/concurrent"
for ((k = 0; k < 48; k++)); do echo $((k % count)); done >"$run/order"
xargs -P 8 -I{} sh -c "jq -c '{features: .inputs[{}]}' '$samples' |
	curl -s -m 20 -H 'Content-Type: application/json' --data-binary @- \
	http://127.0.0.1:$port/models/bc_batch | jq -c '{i: {}, a: .}'" <"$run/order" >"$run/concurrent" 2>/dev/null || true
if [ "$(wc -l <"$run/concurrent")" = 48 ] && jq -se --slurpfile a "$run/breast_cancer.answers" \
	'map(.a == $a[0][.i]) | all' "$run/concurrent" >/dev/null 2>&1; then
	pass "bc_batch (dynamic batching, 8 threads): 48 concurrent requests = the single answers"
else
	fail "bc_batch: 48 concurrent requests = the single answers" "$(wc -l <"$run/concurrent") answers; $(head -c 300 "$run/concurrent")"
fi
if grep -q "batching: up to 16 rows" "$CS_RUN/logs/bc_batch.log"; then
	pass "bc_batch runs with the batcher (its log says so)"
else
	fail "bc_batch runs with the batcher" "$(tail -n 5 "$CS_RUN/logs/bc_batch.log")"
fi

# ------------------------------------------------------------------ bad inputs
alive() { # DESC
	jq -c '{features: .inputs[5]}' "$samples" >"$run/req"
	post /models/breast_cancer "$run/req"
	if [ "$status" = 200 ] && jq -e --slurpfile a "$run/breast_cancer.answers" \
		'. == $a[0][5]' <<<"$body" >/dev/null 2>&1; then
		pass "$1: breast_cancer still answers correctly"
	else
		fail "$1: breast_cancer still answers correctly" "status $status, body: ${body:0:300}"
	fi
}

jq -c '{features: .inputs[0][0:29]}' "$samples" >"$run/req"
post /models/breast_cancer "$run/req"
check_error "29 features" 400 "'features'|30 numbers|got 29 values"
alive "29 features"

jq -c '{inputs: [{name: "features", datatype: "FP32", shape: [1, 29], data: .inputs[0][0:29]}]}' \
	"$samples" >"$run/req"
post /v2/models/breast_cancer/infer "$run/req"
check_error "V2, 29 features" 400 "features|expects FP32 [-1,30]|got FP32 [1,29]"

jq -c '{rows: [.inputs[0], (.inputs[1] + [1])]}' "$samples" >"$run/req"
post /models/breast_cancer "$run/req"
check_error "a batch whose row 1 has 31 features" 400 "'rows[1]'|30 numbers|got 31 values"

jq -c '{features: .missing_input}' "$samples" >"$run/req"
post /models/breast_cancer "$run/req"
check_error "a row with null (NaN) features, missing values refused" 400 "row 0 feature 20|worst radius|NaN|expected a finite number|missing"
alive "NaN refused"

jq -c '{named: ([.features, .inputs[0]] | transpose | map({key: .[0], value: .[1]}) | from_entries | del(.["mean area"]))}' \
	"$samples" >"$run/req"
post /models/breast_cancer "$run/req"
check_error "named features without 'mean area'" 400 "feature 3|mean area|NaN"

jq -c '{named: {"mean radius": 13, "mean radios": 1}}' "$samples" >"$run/req"
post /models/breast_cancer "$run/req"
check_error "an unknown feature name" 400 "unknown feature 'mean radios'"

jq -c '{features: (.inputs[0] | .[2] = "three")}' "$samples" >"$run/req"
post /models/breast_cancer "$run/req"
check_error "a string among the features" 400 "'features[2]' ('mean perimeter')|must be a number or null|got string"
alive "bad requests"

# ------------------------------------------------------------------ missing allowed
jq -c '{features: .missing_input}' "$samples" >"$run/req"
post /models/bc_nan "$run/req"
if [ "$status" = 200 ] && jq -e --slurpfile s "$samples" \
	'((.p_benign - $s[0].missing_probability) | fabs) <= 1e-5' <<<"$body" >/dev/null 2>&1; then
	pass "bc_nan (options.missing \"nan\"): a row with 3 null features = Python's $(jq .missing_probability "$samples") within 1e-5"
else
	fail "bc_nan: a row with missing values = Python's probability" "status $status, body: ${body:0:300}"
fi

# ------------------------------------------------------------------ refused at load
mkdir -p "$run/broken"
cp "$ex/glue.lua" "$run/broken/"
head -c 20000 "$ex/booster.json" >"$run/broken/booster.json"
jq '.name = "broken"' "$ex/model.json" >"$run/broken/model.json"
if out=$("$CS_WORKER" --manifest "$run/broken/model.json" --plugin-dir "$CS_PLUGIN_DIR" \
	--lua-dir "$CS_LUA_DIR" --check 2>&1); then
	fail "a truncated booster is refused at load" "the worker accepted it: ${out:0:300}"
elif [[ $out == *"$run/broken/booster.json"* && $out == *XGBoost* ]]; then
	pass "a truncated booster is refused at load, naming the file and XGBoost's reason"
else
	fail "a truncated booster is refused at load, naming the file" "${out:0:400}"
fi

jq '.name = "broken" | .outputs = [{name: "probabilities", dtype: "FP32", shape: [-1, 2]}]' \
	"$ex/model.json" >"$run/broken/model.json"
cp "$ex/booster.json" "$run/broken/booster.json"
if out=$("$CS_WORKER" --manifest "$run/broken/model.json" --plugin-dir "$CS_PLUGIN_DIR" \
	--lua-dir "$CS_LUA_DIR" --check 2>&1); then
	fail "a manifest whose output disagrees with the booster is refused" "accepted: ${out:0:300}"
elif [[ $out == *probabilit* ]]; then
	pass "a manifest whose output disagrees with the booster is refused, naming the output"
else
	fail "a manifest whose output disagrees is refused, naming the output" "${out:0:400}"
fi

[ "$failed" -eq 0 ] || diag_logs
tap_done
[ "$failed" -eq 0 ]
