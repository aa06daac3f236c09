#!/bin/bash
# test.sh - the whole test suite from a fresh machine: install the packages,
# build with warnings as errors and sanitizers, run `make check`, then the
# threaded tests again in a ThreadSanitizer build, summarize both.
# The last line is always "N passed, N failed" (plus ", N skipped").
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/test.sh [--no-deps] [--no-tsan] [--builddir DIR] [CONFIGURE-ARGS...]

  1. scripts/install-deps.sh (skipped with --no-deps or CS_NO_DEPS=1)
  2. scripts/build.sh DIR --enable-werror --enable-sanitizers CONFIGURE-ARGS
     (DIR defaults to ./build-test)
  3. make -C DIR check -j$CS_JOBS (default 2)
  4. ThreadSanitizer (skipped with --no-tsan or CS_NO_TSAN=1): DIR-tsan is
     configured --enable-werror --enable-tsan --without-torch --without-onnx,
     and the tests that run threads (the batcher, the registry's heartbeat
     thread, batching through nginx, the prefork master, time limits) run
     there with
     TSAN_OPTIONS=halt_on_error=1:exitcode=66; a ThreadSanitizer report
     fails the test that saw it.
  5. a line per test program of both, then "N passed, N failed[, N skipped]"
     over both, where failed counts FAIL + ERROR + XPASS. Exits 1 when any
     failed.
EOF
}

srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=build-test
deps=1
[ "${CS_NO_DEPS:-0}" = 1 ] && deps=0
tsan=1
[ "${CS_NO_TSAN:-0}" = 1 ] && tsan=0
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--no-deps) deps=0 ;;
	--no-tsan) tsan=0 ;;
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

# The tests that start threads: the batcher's (unit, and serving threads
# feeding it through nginx), the event loop's coroutines (which tell TSan of
# every stack switch), the heartbeat thread (unit), the prefork master and
# time limits. (test_cli.sh is not here: under TSan its `scale iris 1`
# timed out, the pool taking over 10 s to let a child go.)
tsan_tests=(tests/unit/test_batcher tests/unit/test_registry tests/integration/test_batching.sh tests/integration/test_evloop.sh
	tests/integration/test_master.sh tests/integration/test_timeouts.sh)
tsan_dir=$builddir-tsan

echo "test: make check -j${CS_JOBS:-2} in $builddir"
rc=0
make -C "$builddir" -j"${CS_JOBS:-2}" check >"$builddir/check.out" 2>&1 || rc=$?
if [ ! -f "$builddir/test-suite.log" ]; then
	tail -n 40 "$builddir/check.out"
	echo "test: make check did not run the tests (exit $rc; output in $builddir/check.out)"
	echo "0 passed, 1 failed"
	exit 1
fi
dirs=("$builddir")
extra_fail=0

if [ "$tsan" = 1 ]; then
	echo "test: ThreadSanitizer build in $tsan_dir"
	trc=0
	mkdir -p "$tsan_dir"
	if ! "$srcdir/scripts/build.sh" "$tsan_dir" --enable-werror --enable-tsan \
		--without-torch --without-onnx >"$tsan_dir/build.out" 2>&1; then
		tail -n 40 "$tsan_dir/build.out"
		echo "test: the ThreadSanitizer build failed (output in $tsan_dir/build.out)"
		extra_fail=$((extra_fail + 1))
	else
		# only what these tests run: their programs and the test plugins
		# (check-TESTS, unlike check, builds no other check program)
		progs=(tests/plugins/sleep.la)
		for t in "${tsan_tests[@]}"; do
			case $t in *.sh) ;; *) progs+=("$t") ;; esac
		done
		echo "test: make check-TESTS in $tsan_dir: ${tsan_tests[*]}"
		rm -f "$tsan_dir/test-suite.log"
		find "$tsan_dir" \( -name '*.trs' -o -name '*.log' \) -path "$tsan_dir/tests/*" -delete
		{ make -C "$tsan_dir" -j"${CS_JOBS:-2}" "${progs[@]}" &&
			TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}halt_on_error=1:exitcode=66:second_deadlock_stack=1 \
			make -C "$tsan_dir" check-TESTS TESTS="${tsan_tests[*]}"; } \
			>"$tsan_dir/check.out" 2>&1 || trc=$?
		if [ -f "$tsan_dir/test-suite.log" ]; then
			dirs+=("$tsan_dir")
			if [ "$rc" -eq 0 ]; then rc=$trc; fi
		else
			tail -n 40 "$tsan_dir/check.out"
			echo "test: the ThreadSanitizer tests did not run (exit $trc; output in $tsan_dir/check.out)"
			extra_fail=$((extra_fail + 1))
		fi
	fi
fi

# the .trs files of the tests that ran in DIR (a TSan build holds only its own)
trs_files() { find "$1" -name '*.trs' | sort; }
label() { # label DIR FILE: FILE named relative to the source tree's build dirs
	local d=$1 f=$2
	f=${f#"$d"/}
	if [ "$d" = "$builddir" ]; then echo "$f"; else echo "${d##*/}: $f"; fi
}

# Each failing test program: its "not ok" lines with the diagnostics just
# above them (or the end of its log when it crashed), bounded.
for d in "${dirs[@]}"; do
	trs_files "$d" | while read -r trs; do
		grep -qE '^:global-test-result: (FAIL|ERROR|XPASS)' "$trs" || continue
		tlog=${trs%.trs}.log
		echo "failed: $(label "$d" "$tlog")"
		if grep -q '^not ok' "$tlog"; then
			awk '/^#/ { d[++n] = $0; if (n > 4) { for (i = 1; i < n; i++) d[i] = d[i + 1]; n = 4 } ; next }
				/^not ok/ { for (i = 1; i <= n; i++) print "  " d[i]; print "  " $0 }
				{ n = 0 }' "$tlog" | head -n 40
		else
			tail -n 8 "$tlog" | sed 's/^/  /'
		fi
	done
done

echo
echo "per test program:"
for d in "${dirs[@]}"; do
	trs_files "$d" | while read -r trs; do
		name=$(label "$d" "$trs")
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
done

count() { # count KEY: the sum of "# KEY: N" over the build dirs' test-suite.log
	local d sum=0 v
	for d in "${dirs[@]}"; do
		v=$(awk -v k="$1" '$1 == "#" && $2 == k ":" { n = $3 } END { print n + 0 }' "$d/test-suite.log")
		sum=$((sum + v))
	done
	echo "$sum"
}
pass=$(count PASS)
fail=$(($(count FAIL) + $(count ERROR) + $(count XPASS) + extra_fail))
skip=$(count SKIP)
for d in "${dirs[@]}"; do echo "full log: $d/test-suite.log"; done
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	echo "test: make check failed (exit $rc) though no test failed; see ${dirs[*]/%//check.out}"
	for d in "${dirs[@]}"; do tail -n 20 "$d/check.out"; done
	fail=1
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
