#!/bin/bash
# build.sh - configure and build cubeserve out of tree.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/build.sh [BUILDDIR] [CONFIGURE-ARGS...]

Runs autoreconf when the source tree has no configure script (or
configure.ac is newer than it), configures in BUILDDIR (default ./build,
relative to the source tree) with CONFIGURE-ARGS, and runs make -j$CS_JOBS
(default 2). An existing build directory is configured again only when
CONFIGURE-ARGS are given and differ from the ones it was configured with.

Example: scripts/build.sh build-test --enable-werror --enable-sanitizers
EOF
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
esac

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
	builddir=$1
	shift
fi
case $builddir in
/*) ;;
*) builddir=$srcdir/$builddir ;;
esac

if [ ! -x "$srcdir/configure" ] || [ ! -f "$srcdir/Makefile.in" ] ||
	[ "$srcdir/configure.ac" -nt "$srcdir/configure" ]; then
	echo "build: autoreconf -fi in $srcdir"
	(cd "$srcdir" && autoreconf -fi)
fi

mkdir -p "$builddir"
# Configure when there is no Makefile yet, or when arguments are given that
# differ from the ones the build directory was configured with; without
# arguments an existing configuration is kept.
same_args() {
	local -a had
	local i=0 a
	eval "had=($(cd "$builddir" && ./config.status --config))" || return 1
	[ "${#had[@]}" -eq $# ] || return 1
	for a in "$@"; do
		[ "${had[i]}" = "$a" ] || return 1
		i=$((i + 1))
	done
}
want="$*"
reconf=0
if [ ! -f "$builddir/Makefile" ] || [ ! -x "$builddir/config.status" ]; then
	reconf=1
elif [ $# -gt 0 ] && ! same_args "$@"; then
	reconf=1
fi
if [ "$reconf" = 1 ]; then
	echo "build: configuring in $builddir${want:+ with $want}"
	(cd "$builddir" && "$srcdir/configure" "$@") >"$builddir/configure.out" 2>&1 || {
		tail -n 30 "$builddir/configure.out" >&2
		echo "build: configure failed (full output: $builddir/configure.out)" >&2
		exit 1
	}
	tail -n 7 "$builddir/configure.out"
fi

echo "build: make -j${CS_JOBS:-2} in $builddir"
make -C "$builddir" -j"${CS_JOBS:-2}"
echo "build: done: $builddir/cubeserve-worker"
