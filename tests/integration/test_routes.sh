#!/bin/bash
# test_routes.sh - scripts/cubeserve-routes and the nginx templates: names
# and addresses are validated, every placeholder is rendered, and nginx
# accepts the whole private configuration (nginx -t). Prints TAP.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$here/lib.sh"
routes=$CS_TOP_SRCDIR/scripts/cubeserve-routes
run_dir cs-routes

# refused DESC FRAGMENT ARGS...: cubeserve-routes exits 2 naming FRAGMENT.
refused() {
	local desc=$1 frag=$2 rc=0
	shift 2
	sh "$routes" "$@" >"$run/out" 2>"$run/err" || rc=$?
	if [ "$rc" = 2 ] && [ ! -s "$run/out" ] && grep -qF -- "$frag" "$run/err"; then
		pass "refused: $desc ($(head -c 100 "$run/err"))"
	else
		fail "refused: $desc" "exit $rc, stderr: $(cat "$run/err")"
	fi
}

if sh "$routes" --help | grep -q 'NAME=ADDR'; then
	pass "--help"
else
	fail "--help"
fi
refused "no routes" "NAME=ADDR"
refused "upper-case name" "[a-z0-9_-]+" Linear=unix:/tmp/x.sock
refused "name with a dot" "[a-z0-9_-]+" a.b=unix:/tmp/x.sock
refused "empty name" "[a-z0-9_-]+" =unix:/tmp/x.sock
refused "relative unix path" "unix:/absolute" x=unix:run/x.sock
refused "address with a semicolon" "HOST:PORT" "x=unix:/tmp/x.sock;evil"
refused "address without a port" "HOST:PORT" x=localhost
refused "missing =ADDR" "NAME=ADDR" linear
refused "bad --keepalive" "--keepalive" --keepalive lots x=unix:/tmp/x.sock
refused "bad --max-body" "--max-body" --max-body 1z x=unix:/tmp/x.sock
refused "unknown option" "unknown option" --frobnicate x=unix:/tmp/x.sock

sh "$routes" a=unix:/tmp/a1.sock b=127.0.0.1:9001 a=unix:/tmp/a2.sock >"$run/both"
if ! grep -q '@[A-Z_]*@' "$run/both"; then
	pass "every placeholder is rendered"
else
	fail "every placeholder is rendered" "$(grep '@[A-Z_]*@' "$run/both" | head -n 3)"
fi
if [ "$(grep -c '^upstream ' "$run/both")" = 2 ] &&
	awk '/^upstream cubeserve_a /,/^}/' "$run/both" | grep -q 'server unix:/tmp/a2.sock;' &&
	awk '/^upstream cubeserve_a /,/^}/' "$run/both" | grep -q 'server unix:/tmp/a1.sock;'; then
	pass "a name given twice is one upstream with two servers"
else
	fail "a name given twice is one upstream with two servers" "$(grep -A4 '^upstream' "$run/both")"
fi
if grep -q '^    keepalive 16;' "$run/both" && grep -q 'fastcgi_keep_conn on;' "$run/both" &&
	! grep -q 'fastcgi_keep_conn off' "$run/both"; then
	pass "keepalive on by default (keepalive 16, fastcgi_keep_conn on)"
else
	fail "keepalive on by default (keepalive 16, fastcgi_keep_conn on)"
fi
sh "$routes" --keepalive 0 a=unix:/tmp/a.sock >"$run/off"
if ! grep -qE '^ *keepalive [0-9]' "$run/off" && grep -q 'fastcgi_keep_conn off;' "$run/off" &&
	! grep -q 'fastcgi_keep_conn on' "$run/off"; then
	pass "--keepalive 0 turns keepalive off"
else
	fail "--keepalive 0 turns keepalive off"
fi
sh "$routes" --upstreams a=unix:/tmp/a.sock >"$run/up"
sh "$routes" --locations a=unix:/tmp/a.sock >"$run/loc"
if grep -q '^upstream' "$run/up" && ! grep -q '^location' "$run/up" &&
	grep -q '^location = /models/a ' "$run/loc" && ! grep -q '^upstream' "$run/loc"; then
	pass "--upstreams and --locations print one part each"
else
	fail "--upstreams and --locations print one part each"
fi
sh "$routes" --max-body 8m --timeout 5s a=unix:/tmp/a.sock >"$run/opts"
if grep -q 'client_max_body_size 8m;' "$run/opts" && grep -q 'fastcgi_read_timeout 5s;' "$run/opts"; then
	pass "--max-body and --timeout are rendered"
else
	fail "--max-body and --timeout are rendered"
fi

if ! command -v nginx >/dev/null 2>&1 || [ ! -r /etc/nginx/fastcgi_params ]; then
	skip "nginx (with /etc/nginx/fastcgi_params) is not installed"
else
	# shellcheck disable=SC1091
	. "$CS_TOP_SRCDIR/scripts/stack.sh"
	cs_stack_init "$run/stack"
	cs_route linear "unix:$run/stack/linear.sock"
	cs_route linear "unix:$run/stack/linear-2.sock"
	cs_route digits 127.0.0.1:9009
	if cs_nginx_config 18099 2>"$run/err"; then
		pass "nginx -t accepts server.conf.in + errors.conf + two models' routes"
	else
		fail "nginx -t accepts server.conf.in + errors.conf + two models' routes" "$(cat "$run/err")"
	fi
	if ! grep -q '@[A-Z_]*@' "$run/stack/nginx/nginx.conf"; then
		pass "server.conf.in: every placeholder is rendered"
	else
		fail "server.conf.in: every placeholder is rendered" "$(grep '@[A-Z_]*@' "$run/stack/nginx/nginx.conf")"
	fi
	if CS_NGINX_KEEPALIVE=0 CS_NGINX_ACCESS_LOG=off cs_nginx_config 18099 2>"$run/err"; then
		pass "nginx -t accepts the routes with keepalive off"
	else
		fail "nginx -t accepts the routes with keepalive off" "$(cat "$run/err")"
	fi
fi

tap_done
