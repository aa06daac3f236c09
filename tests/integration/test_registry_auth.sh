#!/bin/bash
# test_registry_auth.sh - the registry behind a password: a private
# redis-server with requirepass and an ACL user (keys cs:* only), on a unix
# socket and a loopback port. `cubeserve` publishes and reads as the ACL user
# over TCP in database 2 and with requirepass over the socket; a wrong or
# missing password is exit 3 with Redis' answer; a worker started with the
# URL in $CUBESERVE_REGISTRY reports its heartbeats; and the password shows
# up in no output, no log, no registry value and no command line. Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

case ${1:-} in
-h | --help)
	sed -n '2,8s/^# \{0,1\}//p' "$0"
	exit 0
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
require_tools redis-server redis-cli jq od

CS=$CS_TOP_BUILDDIR/cubeserve
WORKER=$CS_TOP_BUILDDIR/cubeserve-worker
if [ ! -x "$CS" ] || [ ! -x "$WORKER" ]; then
	echo "1..1"; echo "not ok 1 - cubeserve and cubeserve-worker are built in $CS_TOP_BUILDDIR"; exit 1
fi

run=$(mktemp -d /tmp/cs-auth.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ "$failed" -ne 0 ]; then echo "# run directory kept: $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT

rand() { head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
admin=adm$(rand)
# the ACL user's password has characters a URL must percent-encode
alice_pw="p@ss:$(rand)/x"
alice_enc=$(printf '%s' "$alice_pw" | sed -e 's/%/%25/g' -e 's/@/%40/g' -e 's/:/%3A/g' -e 's#/#%2F#g')

port=
for p in $(seq 18640 18699); do
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "1..1"; echo "not ok 1 - a free port in 18640-18699"; exit 1; }
sock=$run/redis.sock
redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$sock" --unixsocketperm 700 \
	--dir "$run" --save '' --appendonly no --requirepass "$admin" \
	--user alice on ">$alice_pw" "~cs:*" "&*" "+@all" "-@admin" "-@dangerous" "+info" >"$run/redis.log" 2>&1 &
pids+=($!)
ping_admin() { REDISCLI_AUTH=$admin redis-cli -s "$sock" ping 2>/dev/null | grep -q PONG; }
if ! wait_for 10 ping_admin; then
	echo "1..1"; echo "not ok 1 - private redis-server with requirepass and an ACL user"; sed 's/^/#   /' "$run/redis.log"; exit 1
fi
rcli() { REDISCLI_AUTH=$admin redis-cli -s "$sock" "$@"; }

export CUBESERVE_STORE=$run/store CUBESERVE_RUN_DIR=$run/cs CUBESERVE_WORKER=$WORKER
export CUBESERVE_PLUGIN_DIR=$CS_TOP_BUILDDIR/plugins CUBESERVE_LUA_DIR=$CS_TOP_SRCDIR/lua
tcp_url="redis://alice:$alice_enc@127.0.0.1:$port/2"
unix_url="unix://:$admin@$sock?db=2"

# 1. the ACL user over TCP, database 2, the URL on the command line
if "$CS" --registry "$tcp_url" publish "$CS_TOP_SRCDIR/examples/linear" >"$run/pub.out" 2>&1 &&
	[ "$(rcli -n 2 exists cs:model:linear)" = 1 ] && [ "$(rcli -n 0 exists cs:model:linear)" = 0 ]; then
	pass "publish as ACL user alice over TCP into database 2 (redis://alice:***@127.0.0.1:$port/2)"
else
	fail "publish as alice" "$(tail -n 5 "$run/pub.out")"
fi
if grep -q "check the registry at redis://alice:\*\*\*@127.0.0.1:$port/2" "$run/pub.out"; then
	pass "publish names the registry with the password masked"
else
	fail "the masked address in publish's steps" "$(grep -n registry "$run/pub.out" | head -n 3)"
fi

# 2. requirepass over the unix socket, the URL in the environment
if CUBESERVE_REGISTRY=$unix_url "$CS" list --json >"$run/list.json" 2>"$run/list.err" &&
	[ "$(jq -r '.[0].name' "$run/list.json")" = linear ]; then
	pass "list with requirepass over the unix socket (unix://:***@/...?db=2)"
else
	fail "list over the socket" "$(cat "$run/list.err")"
fi

# 3. refusals
expect3() { # expect3 PATTERN URL: exit 3, the message matches
	local rc=0
	CUBESERVE_REGISTRY=$2 "$CS" list >"$run/e.out" 2>&1 || rc=$?
	[ "$rc" = 3 ] && grep -q -- "$1" "$run/e.out"
}
wrong=wrong$(rand)
if expect3 "refused the login as alice" "redis://alice:$wrong@127.0.0.1:$port/2" &&
	grep -q "WRONGPASS" "$run/e.out" && ! grep -qF "$wrong" "$run/e.out"; then
	pass "a wrong password: exit 3, Redis' WRONGPASS, the password not shown"
else
	fail "wrong password" "$(cat "$run/e.out")"
fi
if expect3 "NOAUTH" "redis://127.0.0.1:$port"; then
	pass "no password where one is required: exit 3 with NOAUTH"
else
	fail "missing password" "$(cat "$run/e.out")"
fi
if expect3 "SELECT 99" "redis://alice:$alice_enc@127.0.0.1:$port/99"; then
	pass "a database that does not exist: exit 3, SELECT named"
else
	fail "bad database" "$(cat "$run/e.out")"
fi
rc=0
CUBESERVE_REGISTRY="rediss://alice:$alice_enc@127.0.0.1:$port/2" "$CS" list >"$run/tls.out" 2>&1 || rc=$?
if grep -q "hiredis_ssl" "$run/tls.out" && [ "$rc" != 0 ]; then
	pass "rediss:// in a build without hiredis_ssl: refused, saying why (exit $rc)"
elif [ "$rc" = 3 ]; then
	pass "rediss:// against a plain-text Redis: the TLS handshake fails (exit 3)"
else
	fail "rediss://" "exit $rc: $(cat "$run/tls.out")"
fi

# 4. a worker with the URL in its environment reports heartbeats as alice
mkdir -p "$run/w"
CUBESERVE_REGISTRY=$tcp_url "$WORKER" --model linear --listen "unix:$run/w/w.sock" >"$run/w/worker.log" 2>&1 &
wpid=$!
pids+=("$wpid")
beat() { [ "$(rcli -n 2 scard cs:instances:linear)" -ge 1 ]; }
if wait_for 20 beat; then
	pass "a worker given the URL in \$CUBESERVE_REGISTRY loads from the registry and heartbeats as alice"
else
	fail "worker heartbeat" "$(tail -n 5 "$run/w/worker.log")"
fi
if grep -q "registry at redis://alice:\*\*\*@127.0.0.1:$port/2" "$run/w/worker.log"; then
	pass "the worker logs the registry with the password masked"
else
	fail "worker log" "$(grep -n registry "$run/w/worker.log" | head -n 3)"
fi
CUBESERVE_REGISTRY=$tcp_url "$CS" status >"$run/status.out" 2>&1 || true

# 5. the password is nowhere: outputs, logs, registry values, command lines
leaks=$(grep -rlF -e "$alice_pw" -e "$alice_enc" -e "$admin" "$run"/*.out "$run"/*.json "$run"/*.err "$run/w/worker.log" 2>/dev/null || true)
dump=$(rcli -n 2 --scan | while read -r k; do
	case $(rcli -n 2 type "$k") in
	hash) rcli -n 2 hgetall "$k" ;;
	string) rcli -n 2 get "$k" ;;
	esac
done)
if [ -n "$leaks" ]; then
	fail "no output or log holds a password" "$leaks"
elif printf '%s' "$dump" | grep -qF -e "$alice_pw" -e "$alice_enc"; then
	fail "no registry value holds the password" "$(printf '%s' "$dump" | grep -F -e "$alice_enc" | head -n 2)"
elif tr '\0' ' ' <"/proc/$wpid/cmdline" | grep -qF "$alice_enc"; then
	fail "the worker's command line holds no password"
else
	pass "no output, log, registry value (db 2) or command line holds a password"
fi
tap_done
[ "$failed" -eq 0 ]
