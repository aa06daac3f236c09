#!/bin/bash
# test_batching.sh - dynamic batching end to end: a pool with 8 accept
# threads feeding one batcher per process, behind a private nginx. Under
# concurrent load requests really share inferences, every answer equals the
# unbatched answer for the same input byte for byte, bad requests fail alone,
# and no request fails. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools nginx spawn-fcgi curl jq wrk xargs

stack_run cs-batch


ex=$CS_TOP_SRCDIR/examples/linear
mkdir -p "$run/plain" "$run/batched"
cp "$ex/"{glue.lua,weights.json,model.json} "$run/plain/"
cp "$ex/"{glue.lua,weights.json} "$run/batched/"
jq '.name = "linearb" | . + {batching: {max_batch_size: 16, max_queue_delay_us: 3000, threads: 8}}' \
	"$ex/model.json" >"$run/batched/model.json"

cs_worker_start linear "$run/plain/model.json"
cs_worker_start linearb "$run/batched/model.json" --processes 1
port=$(cs_free_port)
cs_nginx_start "$port"
base=http://127.0.0.1:$port/models
if ! cs_wait_http "$base/linear" 30 "$(cs_pid linear)" || ! cs_wait_http "$base/linearb" 30 "$(cs_pid linearb)"; then
	echo "1..1"; echo "not ok 1 - the stack came up"
	tail -n 5 "$CS_RUN"/logs/*.log | sed 's/^/#   /'
	exit 1
fi
grep -q "batching: up to 16 rows" "$CS_RUN/logs/linearb.log" &&
	pass "the batched pool started a batcher with 8 threads" ||
	fail "the batched pool started a batcher" "$(tail -n 5 "$CS_RUN/logs/linearb.log")"

# 200 distinct inputs, each asked of both pools; the batched ones 32 at a time
iris_inputs 7
ask_all "$base/linear" "$run/a-plain"
ask_all "$base/linearb" "$run/a-batched"
codes=$(sort "$run/a-batched.codes" | uniq -c | tr -s ' ')
if [ "$(grep -c '^200$' "$run/a-batched.codes")" = 200 ]; then
	pass "200 concurrent requests to the batched pool: all 200"
else
	fail "200 concurrent requests to the batched pool: all 200" "$codes"
fi
diffs=0
for i in $(seq 1 200); do
	# the same numbers, as text; keys compared sorted (Lua tables have no order)
	# (an answer, not two equal errors: it has a label)
	a=$(jq -S -c . "$run/a-plain/$i" 2>/dev/null || true)
	[[ $a == *'"label":'* ]] && [ "$a" = "$(jq -S -c . "$run/a-batched/$i" 2>/dev/null)" ] || diffs=$((diffs + 1))
done
if [ "$diffs" = 0 ]; then
	pass "every batched answer equals the unbatched one, number for number"
else
	fail "every batched answer equals the unbatched one" "$diffs of 200 differ"
fi

# a bad request among good ones fails alone
good=$(head -n 1 "$run/inputs")
pids=()
for i in $(seq 1 16); do
	curl -s -m 10 -o "$run/mix.$i" -w '%{http_code}\n' "$base/linearb" -d "$good" >>"$run/mix.codes" &
	pids+=($!)
done
bad=$(curl -s -m 10 -w ' %{http_code}' "$base/linearb/predict_batch" -d '{"x":[[1,2,3]]}')
wait "${pids[@]}"
if [[ $bad == *" 400" ]] && [ "$(grep -c '^200$' "$run/mix.codes")" = 16 ]; then
	pass "a bad request fails alone (400) while 16 good ones succeed"
else
	fail "a bad request fails alone" "bad: $bad; good: $(sort "$run/mix.codes" | uniq -c | tr -s ' ')"
fi

# load: requests share inferences, none fails
cat >"$run/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$good'
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t2 -c32 -d3s -s "$run/post.lua" "$base/linearb" >"$run/wrk.txt" 2>&1 || true
if grep -qE "Non-2xx|Socket errors" "$run/wrk.txt" || ! grep -q "requests in" "$run/wrk.txt"; then
	fail "no request fails under load (c=32)" "$(cat "$run/wrk.txt")"
else
	pass "no request fails under load (c=32, $(awk '/requests in/ {print $1}' "$run/wrk.txt") requests)"
fi
cs_stop linearb
line=$(grep "batcher:" "$CS_RUN/logs/linearb.log" | tail -n 1 || true)
reqs=$(sed -E 's/.*batcher: ([0-9]+) requests.*/\1/' <<<"$line")
infs=$(sed -E 's/.* in ([0-9]+) inferences.*/\1/' <<<"$line")
if [[ $reqs =~ ^[0-9]+$ ]] && [[ $infs =~ ^[0-9]+$ ]] && [ "$infs" -gt 0 ] && [ $((reqs)) -ge $((infs * 2)) ]; then
	pass "requests shared inferences ($reqs requests in $infs inferences)"
else
	fail "requests shared inferences" "$line"
fi

cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log
tap_done
