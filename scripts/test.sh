#!/bin/bash
# test.sh - the whole test suite from a fresh machine: install the packages,
# build with warnings as errors and sanitizers, run `make check`, summarize.
# The last line is always "N passed, N failed" (plus ", N skipped").
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/test.sh [--no-deps] [--builddir DIR] [CONFIGURE-ARGS...]

  1. scripts/install-deps.sh (skipped with --no-deps or CS_NO_DEPS=1)
  2. scripts/build.sh DIR --enable-werror --enable-sanitizers CONFIGURE-ARGS
     (DIR defaults to ./build-test)
  3. make -C DIR check -j$CS_JOBS (default 2)
  4. a line per test program, then "N passed, N failed[, N skipped]"
     where failed counts FAIL + ERROR + XPASS. Exits 1 when any failed.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=build-test
deps=1
[ "${CS_NO_DEPS:-0}" = 1 ] && deps=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--no-deps) deps=0 ;;
	--builddir) [ $# -ge 2 ] || { echo "test: --builddir needs a value" >&2; exit 2; }
		builddir=$2; shift ;;
	--builddir=*) builddir=${1#*=} ;;
	*) break ;;
	esac
	shift
done
case $builddir in
/*) ;;
*) builddir=$srcdir/$builddir ;;
esac

if [ "$deps" = 1 ] && ! "$srcdir/scripts/install-deps.sh"; then
	echo "test: installing the packages failed; no test ran"
	echo "0 passed, 1 failed"
	exit 1
fi

if ! "$srcdir/scripts/build.sh" "$builddir" --enable-werror --enable-sanitizers "$@"; then
	echo "test: the build failed; no test ran"
	echo "0 passed, 1 failed"
	exit 1
fi

echo "test: make check -j${CS_JOBS:-2} in $builddir"
rc=0
make -C "$builddir" -j"${CS_JOBS:-2}" check >"$builddir/check.out" 2>&1 || rc=$?
log=$builddir/test-suite.log
if [ ! -f "$log" ]; then
	tail -n 40 "$builddir/check.out"
	echo "test: make check did not run the tests (exit $rc; output in $builddir/check.out)"
	echo "0 passed, 1 failed"
	exit 1
fi

# Each failing test program: its "not ok" lines with the diagnostics just
# above them (or the end of its log when it crashed), bounded.
find "$builddir" -name '*.trs' | sort | while read -r trs; do
	grep -qE '^:global-test-result: (FAIL|ERROR|XPASS)' "$trs" || continue
	tlog=${trs%.trs}.log
	echo "failed: ${tlog#"$builddir"/}"
	if grep -q '^not ok' "$tlog"; then
		awk '/^#/ { d[++n] = $0; if (n > 4) { for (i = 1; i < n; i++) d[i] = d[i + 1]; n = 4 } ; next }
			/^not ok/ { for (i = 1; i <= n; i++) print "  " d[i]; print "  " $0 }
			{ n = 0 }' "$tlog" | head -n 40
	else
		tail -n 8 "$tlog" | sed 's/^/  /'
	fi
done

echo
echo "per test program:"
find "$builddir" -name '*.trs' | sort | while read -r trs; do
	name=${trs#"$builddir"/}
	name=${name%.trs}
	awk -v name="$name" '
		/^:test-result:/ { c[$2]++ }
		/^:global-test-result:/ { g = $2 }
		END {
			printf "  %-6s %-40s %3d pass", g, name, c["PASS"]
			for (k in c) if (k != "PASS") printf ", %d %s", c[k], tolower(k)
			printf "\n"
		}' "$trs"
done

count() {
	awk -v k="$1" '$1 == "#" && $2 == k ":" { n = $3 } END { print n + 0 }' "$log"
}
pass=$(count PASS)
fail=$(($(count FAIL) + $(count ERROR) + $(count XPASS)))
skip=$(count SKIP)
echo "full log: $log"
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	echo "test: make check failed (exit $rc) though no test failed; see $builddir/check.out"
	tail -n 20 "$builddir/check.out"
	fail=1
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
