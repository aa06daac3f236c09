#!/bin/bash
# test_invalid.sh - every request of the invalid corpus (tests/data/invalid,
# >= 150 cases across HTTP, V2, the envelope and the glue) through a real
# nginx to real workers: each must get its expected status and a JSON
# {"error": ...} body, and the workers must keep answering good requests
# correctly (checked every 20 cases) without a crash or restart. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$(cd "$here/../.." && pwd)}
CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
export CS_TOP_SRCDIR CS_TOP_BUILDDIR
PATH=$PATH:/usr/sbin:/sbin
PY=/usr/bin/python3

for tool in nginx spawn-fcgi curl jq "$PY"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done

# shellcheck disable=SC1091
. "$CS_TOP_SRCDIR/scripts/stack.sh"
run=$(mktemp -d "${TMPDIR:-/tmp}/cs-invalid.XXXXXX")
failed=0
cleanup() {
	cs_stack_stop
	if [ "${CS_KEEP_RUN:-0}" = 1 ] || [ "$failed" -ne 0 ]; then
		echo "# run directory kept: $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
cs_stack_init "$run"

for m in bad echo; do
	mkdir -p "$run/$m"
	cp "$CS_TOP_SRCDIR/tests/data/models/$m/glue.lua" "$run/$m/"
	jq --arg w "$CS_TOP_SRCDIR/examples/linear/weights.json" '.model = $w' \
		"$CS_TOP_SRCDIR/tests/data/models/$m/model.json" >"$run/$m/model.json"
done
port=$(cs_free_port)
cs_worker_start linear "$CS_TOP_SRCDIR/examples/linear/model.json"
cs_worker_start bad "$run/bad/model.json"
cs_worker_start echo "$run/echo/model.json"
export CS_NGINX_MAX_BODY=16m
if ! cs_nginx_start "$port" ||
	! cs_wait_http "http://127.0.0.1:$port/models/linear" 30 "$(cs_pid linear)" ||
	! cs_wait_http "http://127.0.0.1:$port/models/bad" 30 "$(cs_pid bad)" ||
	! cs_wait_http "http://127.0.0.1:$port/models/echo" 30 "$(cs_pid echo)"; then
	echo "1..1"
	echo "not ok 1 - the stack starts (nginx, linear, bad, echo)"
	tail -n 20 "$CS_RUN"/logs/*.log | sed 's/^/# /'
	exit 1
fi
pids="$(cs_pid linear) $(cs_pid bad) $(cs_pid echo)"
echo "ok 1 - stack up: nginx on 127.0.0.1:$port; workers $pids"
n=1

"$PY" "$here/invalid_client.py" "http://127.0.0.1:$port" \
	"$CS_TOP_SRCDIR/tests/data/invalid" "$n" >"$run/client.tap" 2>&1 || true
cat "$run/client.tap"
n=$(($(grep -cE '^(not )?ok ' "$run/client.tap" || true) + n))
failed=$(grep -c '^not ok ' "$run/client.tap" || true)
cases=$(ls "$CS_TOP_SRCDIR"/tests/data/invalid/*.req | wc -l)
n=$((n + 1))
if [ "$cases" -ge 150 ] && grep -q '^# invalid_client: ' "$run/client.tap"; then
	echo "ok $n - the corpus holds $cases cases (>= 150) and all were sent"
else
	failed=$((failed + 1))
	echo "not ok $n - the corpus holds >= 150 cases and all were sent ($cases)"
fi
n=$((n + 1))
alive=1
for p in $pids; do kill -0 "$p" 2>/dev/null || alive=0; done
if [ "$alive" = 1 ]; then
	echo "ok $n - every worker is the process that started (no crash, no restart)"
else
	failed=$((failed + 1))
	echo "not ok $n - every worker is the process that started"
fi
cs_stack_stop
n=$((n + 1))
if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CS_RUN"/logs/*.log >/dev/null 2>&1; then
	failed=$((failed + 1))
	echo "not ok $n - no sanitizer reports in the worker logs"
	grep -hE -A3 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$CS_RUN"/logs/*.log | head -n 20 | sed 's/^/#   /'
else
	echo "ok $n - no sanitizer reports in the worker logs"
fi
echo "1..$n"
