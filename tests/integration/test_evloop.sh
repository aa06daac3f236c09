#!/bin/bash
# test_evloop.sh - batching without a thread per connection: a manifest with
# "batching" alone serves each process with one event loop, a coroutine per
# request. Behind a private nginx: concurrent requests form batches (sizes
# from /metrics), answers equal the unbatched ones, a glue error, budget,
# memory cap and time limit inside a coroutine fail that request alone while
# the others of its batch succeed, clients that leave mid-request or send
# garbage leave the worker serving, and the prefork master's reloads and
# recycling lose no request. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
PY=/usr/bin/python3
require_tools nginx spawn-fcgi curl jq wrk xargs "$PY"

stack_run cs-evloop

ex=$CS_TOP_SRCDIR/examples/linear
td=$CS_TOP_SRCDIR/tests/data/models/evloop
mkdir -p "$run/plain" "$run/evl" "$run/evt" "$run/pool"
cp "$ex/"{glue.lua,weights.json,model.json} "$run/plain/"
for d in evl evt pool; do cp "$td/glue.lua" "$run/$d/"; done
jq --arg w "$ex/weights.json" '.model = $w' "$td/model.json" >"$run/evl/model.json"
# a short time limit and a budget it never reaches: spin ends at the limit
jq --arg w "$ex/weights.json" '.model = $w | .name = "evt" |
	.limits.request_timeout_ms = 400 | .limits.glue_instructions = 100000000000' \
	"$td/model.json" >"$run/evt/model.json"
jq --arg w "$ex/weights.json" '.model = $w | .name = "evp"' "$td/model.json" >"$run/pool/model.json"

cs_worker_start linear "$run/plain/model.json"
cs_worker_start evl "$run/evl/model.json"
cs_worker_start evt "$run/evt/model.json"
cs_worker_start evp "$run/pool/model.json" --processes 2 --max-requests 400
port=$(cs_free_port)
cs_nginx_start "$port"
base=http://127.0.0.1:$port/models
for m in linear evl evt evp; do
	if ! cs_wait_http "$base/$m" 30 "$(cs_pid "$m")"; then
		echo "1..1"; echo "not ok 1 - the stack came up ($m)"
		tail -n 5 "$CS_RUN"/logs/*.log | sed 's/^/#   /'
		exit 1
	fi
done
grep -q "one event loop with 16 coroutines" "$CS_RUN/logs/evl.log" &&
	pass "batching alone serves with one event loop (16 coroutines)" ||
	fail "batching alone serves with one event loop" "$(tail -n 5 "$CS_RUN/logs/evl.log")"

metric() { # metric MODEL NAME: the pool's counter
	curl -s "http://127.0.0.1:$port/metrics/$1" | awk -v n="$2" '$1 ~ "^"n"[{]" {print $2}'
}

# 200 distinct inputs, each asked of the unbatched pool and of the loop, 32 at a time
iris_inputs 11
ask_all "$base/linear/predict" "$run/a-plain"
ask_all "$base/evl/predict" "$run/a-loop"
if [ "$(grep -c '^200$' "$run/a-loop.codes")" = 200 ]; then
	pass "200 concurrent requests to the event loop: all 200"
else
	fail "200 concurrent requests to the event loop: all 200" "$(sort "$run/a-loop.codes" | uniq -c | tr -s ' ')"
fi
diffs=0
for i in $(seq 1 200); do
	a=$(jq -S -c '{y: .y, label: .label}' "$run/a-plain/$i" 2>/dev/null || true)
	[[ $a == *'"label":'* ]] && [ "$a" = "$(jq -S -c '{y: .y, label: .label}' "$run/a-loop/$i" 2>/dev/null)" ] || diffs=$((diffs + 1))
done
[ "$diffs" = 0 ] && pass "every answer of the loop equals the unbatched one, number for number" ||
	fail "every answer of the loop equals the unbatched one" "$diffs of 200 differ"

# under load the batches hold more than one request (from the metrics)
cat >"$run/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$(head -n 1 "$run/inputs")'
wrk.headers["Content-Type"] = "application/json"
LUA
b0=$(metric evl cubeserve_batches_total)
r0=$(metric evl cubeserve_batched_requests_total)
wrk -t2 -c32 -d3s -s "$run/post.lua" "$base/evl/predict" >"$run/wrk.txt" 2>&1 || true
b1=$(metric evl cubeserve_batches_total)
r1=$(metric evl cubeserve_batched_requests_total)
if grep -qE "Non-2xx|Socket errors" "$run/wrk.txt" || ! grep -q "requests in" "$run/wrk.txt"; then
	fail "no request fails under load (c=32)" "$(cat "$run/wrk.txt")"
else
	pass "no request fails under load (c=32, $(awk '/requests in/ {print $1}' "$run/wrk.txt") requests)"
fi
if [[ $b1 =~ ^[0-9]+$ ]] && [ "$((b1 - b0))" -gt 0 ] && [ "$(((r1 - r0) * 10 / (b1 - b0)))" -gt 15 ]; then
	pass "batches formed under load: $((r1 - r0)) requests in $((b1 - b0)) inferences (mean $(((r1 - r0) * 10 / (b1 - b0) / 10)).$(((r1 - r0) * 10 / (b1 - b0) % 10)))"
else
	fail "batches of more than one request formed under load" "batches $b0 -> $b1, requests $r0 -> $r1"
fi

# failures inside coroutines: each fails alone while 16 good requests of the same batches succeed
good=$(head -n 1 "$run/inputs")
mixed() { # mixed MODEL METHOD STATUS PATTERN [held]
	# held: the method holds the loop until its time limit, so a good
	# request queued behind it may pass its own limit too (504); each is
	# still answered, none is lost, and the loop serves on
	local m=$1 meth=$2 want=$3 pat=$4 held=${5:-} pids=() bad code ok
	rm -f "$run/mix.codes"
	for i in $(seq 1 16); do
		curl -s -m 20 -o "$run/mix.$i" -w '%{http_code}\n' "$base/$m/predict" -d "$good" >>"$run/mix.codes" &
		pids+=($!)
	done
	bad=$(curl -s -m 20 -w ' %{http_code}' "$base/$m/$meth" -d "$good")
	wait "${pids[@]}"
	code=${bad##* }
	ok=$(grep -c '^200$' "$run/mix.codes" || true)
	if [ -n "$held" ]; then
		if [ "$code" = "$want" ] && [[ $bad == *"$pat"* ]] && [ "$ok" -ge 1 ] &&
			[ "$(grep -cE '^(200|504)$' "$run/mix.codes")" = 16 ] &&
			[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/$m/predict" -d "$good")" = 200 ]; then
			pass "$meth in a coroutine: $want ($pat); of 16 others $ok succeed, the rest 504 behind it; the loop serves on"
		else
			fail "$meth in a coroutine: $want ($pat), the others answered" "bad: $bad; good: $(sort "$run/mix.codes" | uniq -c | tr -s ' ')"
		fi
		return
	fi
	if [ "$code" = "$want" ] && [[ $bad == *"$pat"* ]] && [ "$ok" = 16 ]; then
		pass "$meth in a coroutine: $want ($pat) while 16 others succeed"
	else
		fail "$meth in a coroutine: $want ($pat) while 16 others succeed" "bad: $bad; good: $(sort "$run/mix.codes" | uniq -c | tr -s ' ')"
	fi
}
mixed evl boom 500 "boom after the batch"
mixed evl spin 500 "instruction budget"
mixed evl spin_pcall 500 "instruction budget"
mixed evl hog 500 "memory limit"
mixed evt spin 504 "time limit" held
out=$(curl -s -m 5 "$base/evl/twice" -d "$good")
[ "$out" = '{"same":true}' ] && pass "a method that infers twice parks twice and answers" ||
	fail "a method that infers twice parks twice and answers" "$out"
out=$(curl -s -m 5 -w ' %{http_code}' "$base/evl/predict" -d '{"x":[1,2]}')
[[ $out == *" 500" ]] || [[ $out == *" 400" ]] && pass "a bad input fails alone ($out)" ||
	fail "a bad input fails alone" "$out"

# V2 without glue goes through the same loop
v2=$(curl -s -m 5 "http://127.0.0.1:$port/v2/models/evl/infer" -H 'Content-Type: application/json' \
	-d '{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2,6.3,3.3,6.0,2.5]}]}')
[ "$(jq -r '.outputs[] | select(.name == "probs") | .shape | join(",")' <<<"$v2" 2>/dev/null)" = "2,3" ] &&
	pass "V2 infer through the loop answers 2 rows" || fail "V2 infer through the loop" "$v2"

# clients that leave: mid-body, right after sending, and in numbers
"$PY" - "$CS_RUN/evl.sock" >"$run/leave.txt" 2>&1 <<'PY' || true
import json, socket, struct, sys, time
SOCK = sys.argv[1]
def rec(t, c=b"", req=1):
    return struct.pack(">BBHHBB", 1, t, req, len(c), 0, 0) + c
def nv(n, v):
    return bytes([len(n)]) + (bytes([len(v)]) if len(v) < 128 else struct.pack(">I", len(v) | 0x80000000)) + n + v
def request(uri, body, req=1, cut=None):
    p = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": uri, "CONTENT_TYPE": "application/json",
         "CONTENT_LENGTH": str(len(body))}
    params = b"".join(nv(k.encode(), v.encode()) for k, v in p.items())
    out = rec(1, struct.pack(">HB5x", 1, 1), req) + rec(4, params, req) + rec(4, b"", req)
    out += rec(5, body[:cut] if cut is not None else body, req)
    if cut is None:
        out += rec(5, b"", req)
    return out
body = json.dumps({"x": [5.1, 3.5, 1.4, 0.2]}).encode()
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(SOCK)
    return s
# mid-body, then gone
for _ in range(20):
    s = conn(); s.sendall(request("/models/evl/predict", body, cut=5)); s.close()
# a whole request, gone before the answer (its coroutine finishes unanswered)
for _ in range(20):
    s = conn(); s.sendall(request("/models/evl/predict", body)); s.close()
# two requests multiplexed on one kept-alive connection, answered both
s = conn()
s.sendall(request("/models/evl/predict", body, req=1) + request("/models/evl/predict", body, req=2))
buf, ended = b"", set()
while len(ended) < 2:
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
    while len(buf) >= 8:
        v, t, r, cl, pl, _ = struct.unpack(">BBHHBB", buf[:8])
        if len(buf) < 8 + cl + pl:
            break
        if t == 3:
            ended.add(r)
        buf = buf[8 + cl + pl:]
print("multiplexed ended", sorted(ended))
PY
if grep -q "multiplexed ended \[1, 2\]" "$run/leave.txt" && kill -0 "$(cs_pid evl)" &&
	[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base/evl/predict" -d "$good")" = 200 ]; then
	pass "clients leaving mid-body and before their answer: the loop serves on; two multiplexed requests both answered"
else
	fail "clients leaving mid-request leave the loop serving" "$(cat "$run/leave.txt"; tail -n 5 "$CS_RUN/logs/evl.log")"
fi

# the prefork master: load through glue reloads and max_requests recycling
master=$(cs_pid evp)
wrk -t2 -c16 -d4s -s "$run/post.lua" "$base/evp/predict" >"$run/wrk-pool.txt" 2>&1 &
wrkpid=$!
for _ in 1 2 3; do sleep 0.8; kill -HUP "$master"; done
wait "$wrkpid" || true
reqs=$(awk '/requests in/ {print $1}' "$run/wrk-pool.txt")
if grep -qE "Non-2xx|Socket errors" "$run/wrk-pool.txt" || [ -z "$reqs" ] || [ "$reqs" -lt 1000 ]; then
	fail "no request fails in a prefork pool of loops through reloads and recycling" "$(cat "$run/wrk-pool.txt")"
else
	pass "no request fails in a prefork pool of loops through 3 reloads and recycling ($reqs requests)"
fi
grep -q "glue reloaded" "$CS_RUN/logs/evp.log" && grep -q "max_requests reached" "$CS_RUN/logs/evp.log" &&
	pass "the loops reloaded their glue and were recycled" ||
	fail "the loops reloaded their glue and were recycled" "$(tail -n 5 "$CS_RUN/logs/evp.log")"

cs_stop evl
line=$(grep "batcher:" "$CS_RUN/logs/evl.log" | tail -n 1 || true)
[[ $line == *"requests"*"inferences"* ]] && pass "the loop drained and logged its batches on stop ($line)" ||
	fail "the loop logged its batches on stop" "$(tail -n 5 "$CS_RUN/logs/evl.log")"

cs_stack_stop
no_sanitizer_reports "no sanitizer reports in the worker logs" "$CS_RUN"/logs/*.log
tap_done
