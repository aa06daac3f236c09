# console_lib.sh - what test_api.sh and test_console.sh share: a private
# stack started with `cubeserve up --detach` (redis, nginx, cubeserve-api,
# the examples digits and linear deployed) in a temp run dir, stopped on exit. Source it after
# lib.sh; then console_stack_up NAME sets $run, $port, $base, $CS.

CS=$CS_TOP_BUILDDIR/cubeserve

console_stack_up() {
	run_dir "/tmp/$1" # lib.sh: removed on exit unless a check failed
	export CUBESERVE_RUN_DIR=$run/stack
	export CUBESERVE_WORKER=${CUBESERVE_WORKER:-$CS_TOP_BUILDDIR/cubeserve-worker}
	# shellcheck disable=SC1091
	. "$CS_TOP_SRCDIR/scripts/stack.sh" # cs_free_port
	port=$(cs_free_port)
	base=http://127.0.0.1:$port
	# the two examples the checks know: digits (with its demo page) and linear
	mkdir -p "$run/examples"
	cp -r "$CS_TOP_SRCDIR/examples/digits" "$CS_TOP_SRCDIR/examples/linear" "$run/examples/"
	# digits' TorchScript twin (model-torch.json) is another model: not this one
	rm -f "$run/examples/digits/model-torch.json"
	# shellcheck disable=SC2086
	if ! "$CS" up --detach --port "$port" --examples "$run/examples" ${CONSOLE_UP_ARGS:-} >"$run/up.out" 2>&1; then
		fail "cubeserve up --detach starts the stack with the console" "$(tail -n 25 "$run/up.out")"
		tap_done
		exit 1
	fi
}

# lib.sh's exit hook runs it before the run dir is removed or kept
cleanup() {
	local p left
	"$CS" down >/dev/null 2>&1 || true
	# whatever of this stack is still running (a down that failed): by pid,
	# only processes whose command line names this test's run directory
	left=$(pgrep -f -- "$run/" || true)
	if [ -n "$left" ]; then
		echo "# still running after down, stopped now: $(echo $left)"
		for p in $left; do kill "$p" 2>/dev/null || true; done
		sleep 2
		for p in $left; do kill -9 "$p" 2>/dev/null || true; done
	fi
}

# api METHOD PATH [BODY [CONTENT-TYPE]]: a call with the CSRF header;
# sets $status and $body. NOCSRF=1 leaves the header out; TOKEN=T sends
# Authorization: Bearer T.
api() {
	local -a args=(-s -o "$run/body" -w '%{http_code}' -m 30 -X "$1" -H 'X-Cubeserve-User: tester')
	[ -z "${TOKEN:-}" ] || args+=(-H "Authorization: Bearer $TOKEN")
	[ "${NOCSRF:-0}" = 1 ] || args+=(-H 'X-Cubeserve-Csrf: 1')
	if [ $# -ge 3 ]; then
		args+=(-H "Content-Type: ${4:-application/json}")
		args+=(--data-binary "$3") # "@FILE" sends a file
	fi
	status=$(curl "${args[@]}" "$base$2") || status=curl-failed
	body=$(cat "$run/body" 2>/dev/null || true)
}

# wait_job ID: until the job ends (at most 120 s); sets $job (its JSON).
wait_job() {
	local i
	for ((i = 0; i < 240; i++)); do
		job=$(curl -s -m 5 "$base/api/jobs/$1")
		[ "$(jq -r .state <<<"$job" 2>/dev/null)" != running ] && return 0
		sleep 0.5
	done
	return 1
}

# no_sanitizer_reports: a check that no process of the stack (cubeserve-api,
# the jobs' commands, workers) wrote an ASan/UBSan report into its log.
no_sanitizer_reports() {
	local hits
	hits=$(grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$CUBESERVE_RUN_DIR"/logs/*.log \
		"$CUBESERVE_RUN_DIR"/api/jobs/*.log 2>/dev/null || true)
	if [ -z "$hits" ]; then
		pass "no sanitizer reports in the stack's logs"
	else
		fail "no sanitizer reports in the stack's logs" $hits
	fi
}
