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
# deployed) is `cubeserve up`.
if [ ! -x "$builddir/cubeserve" ]; then
	echo "demo: no cubeserve in $builddir (the build failed?)" >&2
	exit 1
fi
[ "$deps" = 0 ] || "$srcdir/scripts/console-deps.sh" || echo "demo: the console's npm files are missing (see above)" >&2
echo "demo: the console: http://127.0.0.1:$port/console/ (once the stack is up)"
exec "$builddir/cubeserve" up --port "$port" --run-dir "$rundir"
