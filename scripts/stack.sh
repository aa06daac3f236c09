#!/bin/bash
# stack.sh - start and stop a private cubeserve stack (nginx + FastCGI
# workers under spawn-fcgi) in one run directory, on loopback only.
#
# A library of shell functions for the integration tests and the benches:
# source it from bash (`. scripts/stack.sh`), then
#
#   cs_stack_init RUN_DIR                 run dir, tool and build paths
#   cs_free_port                          print a free loopback TCP port
#                                         (in CS_PORTS=LO-HI when set)
#   cs_route NAME ADDR                    add a route /models/NAME -> ADDR
#   cs_spawn LABEL SOCK CMD [ARG...]      run CMD under spawn-fcgi on SOCK
#   cs_worker_start NAME MANIFEST [ARG...]  spawn cubeserve-worker for a model
#                                         on $CS_RUN/NAME.sock, add its route
#   cs_nginx_config PORT                  render nginx.conf, check it (nginx -t)
#   cs_nginx_start PORT                   start nginx for the routes
#   cs_wait_http URL SECONDS [PID [STATUS]]  wait until URL answers STATUS (200)
#   cs_pid LABEL                          print the pid of a started process
#   cs_stop LABEL                         stop one started process
#   cs_stack_stop                         stop everything started, newest first
#
# nginx itself (its configuration from nginx/server.conf.in and the routes
# from nginx/route.conf.in, nginx -t, start, readiness, stop) is the C one:
# `cubeserve up --route NAME=ADDR ...` (docs/cli.md); this file keeps the
# tests' own workers, ports and process bookkeeping.
#
# Knobs read by cs_nginx_config and cs_nginx_start: CS_NGINX_KEEPALIVE (16;
# 0 = off), CS_NGINX_MAX_BODY (1m), CS_NGINX_WORKERS (1), CS_NGINX_ACCESS_LOG
# (on|off), CS_NGINX_TIMEOUT (60s). Paths (defaults from the source tree):
# CS_TOP_SRCDIR, CS_TOP_BUILDDIR (./build), CS_WORKER, CS_CUBESERVE,
# CS_PLUGIN_DIR, CS_LUA_DIR, CS_NGINX (nginx binary), CS_FASTCGI_PARAMS
# (/etc/nginx/fastcgi_params).
#
# Only processes started through these functions are ever signalled, by pid.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	case ${1:-} in
	-h | --help | '')
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "stack.sh: a library; source it from bash (see --help)" >&2
		exit 2
		;;
	esac
fi

declare -gA CS_STACK_PID=()
declare -ga CS_STACK_ORDER=()
declare -ga CS_STACK_ROUTES=()
CS_RUN=${CS_RUN:-}

cs__log() {
	printf 'stack: %s\n' "$*" >&2
}

# Sets CS_RUN and the default paths; creates the run directory layout.
cs_stack_init() {
	local here
	CS_RUN=$(mkdir -p "$1" && cd "$1" && pwd) || return 1
	mkdir -p "$CS_RUN/logs" "$CS_RUN/nginx/logs" "$CS_RUN/nginx/tmp"
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	CS_TOP_SRCDIR=${CS_TOP_SRCDIR:-$here}
	CS_TOP_BUILDDIR=${CS_TOP_BUILDDIR:-$CS_TOP_SRCDIR/build}
	CS_WORKER=${CS_WORKER:-$CS_TOP_BUILDDIR/cubeserve-worker}
	CS_PLUGIN_DIR=${CS_PLUGIN_DIR:-$CS_TOP_BUILDDIR/plugins}
	CS_LUA_DIR=${CS_LUA_DIR:-$CS_TOP_SRCDIR/lua}
	CS_NGINX=${CS_NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
	CS_SPAWN_FCGI=${CS_SPAWN_FCGI:-$(command -v spawn-fcgi || echo /usr/bin/spawn-fcgi)}
	CS_FASTCGI_PARAMS=${CS_FASTCGI_PARAMS:-/etc/nginx/fastcgi_params}
	CS_CUBESERVE=${CS_CUBESERVE:-$CS_TOP_BUILDDIR/cubeserve}
	CS_STACK_ROUTES=()
}

# Prints a loopback TCP port nobody listens on (racy by nature; good enough
# for private test stacks).
cs_free_port() {
	local i p lo=20000 span=12000
	# CS_PORTS=LO-HI keeps the ports in a range (a machine shared by people
	# who split the ports between them)
	if [[ ${CS_PORTS:-} =~ ^([0-9]+)-([0-9]+)$ ]]; then
		lo=${BASH_REMATCH[1]} span=$((BASH_REMATCH[2] - BASH_REMATCH[1] + 1))
	fi
	for i in $(seq 1 200); do
		# below the kernel's ephemeral range (32768+ by default): a port in
		# it may be the local end of some client connection, and then
		# nginx's bind() fails although nothing listens there
		p=$((lo + (RANDOM * 32768 + RANDOM) % span))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	cs__log "no free loopback port found"
	return 1
}

cs_route() {
	local r
	for r in "${CS_STACK_ROUTES[@]}"; do
		[ "$r" = "$1=$2" ] && return 0
	done
	CS_STACK_ROUTES+=("$1=$2")
}

cs_pid() {
	printf '%s\n' "${CS_STACK_PID[$1]:-}"
}

# Records a started process under a label.
cs__started() {
	CS_STACK_PID[$1]=$2
	CS_STACK_ORDER+=("$1")
}

# Runs CMD under spawn-fcgi in the foreground mode (-n: spawn-fcgi binds
# SOCK, puts it on fd 0 and execs CMD, so the pid is CMD's). Output goes
# to $CS_RUN/logs/LABEL.log.
cs_spawn() {
	local label=$1 sock=$2
	shift 2
	if [ ${#sock} -gt 100 ]; then
		cs__log "socket path too long for AF_UNIX (${#sock} > 100): $sock"
		return 1
	fi
	"$CS_SPAWN_FCGI" -n -s "$sock" -M 0600 -- "$@" >>"$CS_RUN/logs/$label.log" 2>&1 &
	cs__started "$label" $!
}

cs_worker_start() {
	local name=$1 manifest=$2
	shift 2
	if [ ! -x "$CS_WORKER" ]; then
		cs__log "no worker at $CS_WORKER (build first: scripts/build.sh)"
		return 1
	fi
	cs_spawn "$name" "$CS_RUN/$name.sock" "$CS_WORKER" --manifest "$manifest" \
		--plugin-dir "$CS_PLUGIN_DIR" --lua-dir "$CS_LUA_DIR" "$@"
	cs_route "$name" "unix:$CS_RUN/$name.sock"
}

# The `cubeserve up --route` arguments for the routes given to cs_route and
# the CS_NGINX_* knobs, into the array CS__UP.
cs__up_args() {
	local r
	CS__UP=(--run-dir "$CS_RUN" up --port "$1" --nginx-workers "${CS_NGINX_WORKERS:-1}"
		--keepalive "${CS_NGINX_KEEPALIVE:-16}" --max-body "${CS_NGINX_MAX_BODY:-1m}"
		--fastcgi-timeout "${CS_NGINX_TIMEOUT:-60s}")
	[ "${CS_NGINX_ACCESS_LOG:-on}" = off ] && CS__UP+=(--no-access-log)
	for r in "${CS_STACK_ROUTES[@]}"; do
		CS__UP+=(--route "$r")
	done
}

# Runs cubeserve with the stack's tools and templates.
cs__cubeserve() {
	if [ ! -x "$CS_CUBESERVE" ]; then
		cs__log "no cubeserve at $CS_CUBESERVE (build first: scripts/build.sh)"
		return 1
	fi
	CS_NGINX=$CS_NGINX CS_FASTCGI_PARAMS=$CS_FASTCGI_PARAMS \
		CUBESERVE_NGINX_DIR=$CS_TOP_SRCDIR/nginx "$CS_CUBESERVE" "$@"
}

# Renders $CS_RUN/nginx/nginx.conf for 127.0.0.1:PORT with the routes
# given to cs_route, and checks it with nginx -t (`cubeserve up --check`).
cs_nginx_config() {
	if [ ${#CS_STACK_ROUTES[@]} -eq 0 ]; then
		cs__log "no routes: cs_route or cs_worker_start first"
		return 1
	fi
	cs__up_args "$1"
	cs__cubeserve "${CS__UP[@]}" --check >>"$CS_RUN/logs/up.log" 2>&1 || {
		cs__log "cubeserve up --check refused the configuration:"
		tail -n 20 "$CS_RUN/logs/up.log" >&2
		return 1
	}
}

# Starts nginx for the routes (`cubeserve up --route ...`, in the
# background, log $CS_RUN/logs/up.log) and waits until it answers
# /nginx-health. cs_pid nginx is nginx's master; cs_stop nginx stops
# cubeserve up, which stops nginx.
cs_nginx_start() {
	local port=$1 pid
	if [ ${#CS_STACK_ROUTES[@]} -eq 0 ]; then
		cs__log "no routes: cs_route or cs_worker_start first"
		return 1
	fi
	cs__up_args "$port"
	cs__cubeserve "${CS__UP[@]}" >>"$CS_RUN/logs/up.log" 2>&1 &
	cs__started up $!
	export CS_NGINX_PORT=$port
	if ! cs_wait_http "http://127.0.0.1:$port/nginx-health" 20 "${CS_STACK_PID[up]}"; then
		tail -n 20 "$CS_RUN/logs/up.log" >&2
		return 1
	fi
	pid=$(cat "$CS_RUN/nginx/nginx.pid" 2>/dev/null) || true
	CS_STACK_PID[nginx]=${pid:-}
}

# Waits (at most SECONDS) until URL answers with STATUS (default 200);
# fails early when PID (if given and non-empty) has exited.
cs_wait_http() {
	local url=$1 secs=$2 pid=${3:-} want=${4:-200} code deadline
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	while :; do
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" 2>/dev/null) || true
		[ "$code" = "$want" ] && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			cs__log "process $pid exited while waiting for $url"
			return 1
		fi
		if [ $(($(date +%s%N) / 1000000)) -ge "$deadline" ]; then
			cs__log "timed out after ${secs}s waiting for $url (last status: ${code:-none})"
			return 1
		fi
		sleep 0.1
	done
}

# Waits at most MS milliseconds for PID to exit; 0 when it did.
cs_wait_exit() {
	local pid=$1 ms=$2 t=0
	while kill -0 "$pid" 2>/dev/null; do
		[ "$t" -ge "$ms" ] && return 1
		sleep 0.05
		t=$((t + 50))
	done
	return 0
}

# Stops one started process: SIGTERM, up to 5 s, then SIGKILL. nginx is
# stopped by stopping the `cubeserve up` that runs it.
cs_stop() {
	local label=$1 pid
	if [ "$label" = nginx ] || [ "$label" = up ]; then
		unset "CS_STACK_PID[nginx]"
		label=up
	fi
	pid=${CS_STACK_PID[$label]:-}
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! cs_wait_exit "$pid" 5000; then
			cs__log "$label (pid $pid) ignored SIGTERM for 5 s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
	unset "CS_STACK_PID[$label]"
}

cs_stack_stop() {
	local i
	for ((i = ${#CS_STACK_ORDER[@]} - 1; i >= 0; i--)); do
		cs_stop "${CS_STACK_ORDER[$i]}"
	done
	CS_STACK_ORDER=()
}
