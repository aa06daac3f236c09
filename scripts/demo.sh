#!/bin/bash
# demo.sh - serve the example models behind a private nginx, in the
# foreground: install packages if needed, build, then `cubeserve up` (a
# private Redis and nginx on 127.0.0.1:8080, the examples published and
# deployed under spawn-fcgi), all under ./run/. Ctrl-C stops everything it
# started.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/demo.sh [--port N] [--run-dir DIR] [--builddir DIR] [--no-deps]

  --port N        nginx port on 127.0.0.1 (default 8080, or $CS_PORT)
  --run-dir DIR   sockets, logs and nginx prefix (default ./run)
  --builddir DIR  build directory (default ./build)
  --no-deps       do not check/install the Debian packages

Serves every examples/*/model.json whose plugin was built. Ctrl-C stops it.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
port=${CS_PORT:-8080}
rundir=$srcdir/run
builddir=$srcdir/build
deps=1
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--port) port=${2:?--port needs a value}; shift ;;
	--port=*) port=${1#*=} ;;
	--run-dir) rundir=${2:?--run-dir needs a value}; shift ;;
	--run-dir=*) rundir=${1#*=} ;;
	--builddir) builddir=${2:?--builddir needs a value}; shift ;;
	--builddir=*) builddir=${1#*=} ;;
	--no-deps) deps=0 ;;
	*) echo "demo: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $port =~ ^[0-9]+$ ]] || { echo "demo: --port '$port' is not a number" >&2; exit 2; }

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
	echo "demo: something already listens on 127.0.0.1:$port (another demo?); use --port N" >&2
	exit 1
fi

[ "$deps" = 0 ] || "$srcdir/scripts/install-deps.sh"
"$srcdir/scripts/build.sh" "$builddir"

# The whole stack (private Redis + nginx, the examples published and
# deployed) is `cubeserve up`; the plain nginx + workers below remain for a
# worker built without registry support.
if "$builddir/cubeserve-worker" --help 2>/dev/null | grep -q -- '--registry' &&
	[ -x "$builddir/cubeserve" ]; then
	[ "$deps" = 0 ] || "$srcdir/scripts/console-deps.sh" || echo "demo: the console's npm files are missing (see above)" >&2
	echo "demo: the console: http://127.0.0.1:$port/console/ (once the stack is up)"
	exec "$builddir/cubeserve" up --port "$port" --run-dir "$rundir"
fi

# shellcheck disable=SC1091
. "$srcdir/scripts/stack.sh"
CS_TOP_SRCDIR=$srcdir
CS_TOP_BUILDDIR=$(cd "$builddir" && pwd)
cs_stack_init "$rundir"
stopping=0
stop() {
	[ "$stopping" = 1 ] && return
	stopping=1
	echo
	echo "demo: stopping"
	cs_stack_stop
	echo "demo: stopped"
}
trap stop EXIT
trap 'exit 0' INT TERM

models=()
for manifest in "$srcdir"/examples/*/model.json; do
	[ -f "$manifest" ] || continue
	name=$(jq -r '.name' "$manifest")
	plugin=$(jq -r '.plugin' "$manifest")
	if [ ! -f "$CS_PLUGIN_DIR/$plugin/.libs/$plugin.so" ] && [ ! -f "$CS_PLUGIN_DIR/$plugin.so" ]; then
		echo "demo: skipping $name: plugin '$plugin' was not built (see configure's summary)"
		continue
	fi
	rm -f "$CS_RUN/logs/$name.log"
	cs_worker_start "$name" "$manifest"
	models+=("$name")
done
if [ ${#models[@]} -eq 0 ]; then
	echo "demo: no example model has a built plugin" >&2
	exit 1
fi
cs_nginx_start "$port"
for name in "${models[@]}"; do
	if ! cs_wait_http "http://127.0.0.1:$port/models/$name" 60 "$(cs_pid "$name")"; then
		echo "demo: $name did not come up; its log ($CS_RUN/logs/$name.log):" >&2
		tail -n 20 "$CS_RUN/logs/$name.log" >&2
		exit 1
	fi
done

echo
echo "cubeserve demo is up (Ctrl-C stops it)"
echo "  nginx    http://127.0.0.1:$port  pid $(cs_pid nginx)"
echo "           config $CS_RUN/nginx/nginx.conf, logs $CS_RUN/nginx/logs/"
for name in "${models[@]}"; do
	echo "  $name  pid $(cs_pid "$name"), socket $CS_RUN/$name.sock, log $CS_RUN/logs/$name.log"
done
echo
echo "Try:"
for name in "${models[@]}"; do
	example=$(jq -c '.example // empty' "$srcdir/examples/$name/model.json" 2>/dev/null || true)
	echo "  curl -s http://127.0.0.1:$port/models/$name"
	[ -z "$example" ] || echo "  curl -s http://127.0.0.1:$port/models/$name -d '$example'"
done

# Stay in the foreground until Ctrl-C or until a process we started dies.
while :; do
	for label in nginx "${models[@]}"; do
		pid=$(cs_pid "$label")
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "demo: $label (pid $pid) exited; see $CS_RUN/logs/" >&2
			exit 1
		fi
	done
	sleep 1 &
	wait $! || true
done
