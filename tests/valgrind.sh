#!/bin/sh
# tests/valgrind.sh - runs Criterion test programs under valgrind's
# memcheck; `make check-valgrind` runs it on every one of the suite.
#
#   sh tests/valgrind.sh [PROGRAM...]    (in the build directory)
#
# Criterion runs each test in a child process of its own, so valgrind
# follows children (--trace-children=yes) and writes one log per
# process.  A child's error exit code does not fail the test in
# Criterion's report, so the logs decide: any error, invalid read or
# write, use of uninitialised memory, or definitely lost block, in any
# process, fails the run.  Possibly lost blocks (OpenBLAS's and nabla's
# worker threads, which live until the process ends) do not.  Leaks
# inside Graphviz are suppressed (tests/valgrind-graphviz.supp); nothing
# else is.
#
# Two programs run at a time (NB_VALGRIND_JOBS, at most 2; 1 on a
# one-CPU machine), each valgrind process using one core.  The whole
# suite, 46 programs, took 12 minutes two at a time on two idle cores
# (2026-12-07, 1368 s of program time; 17 minutes and 1958 s while
# other jobs shared the cores): nearly all of it valgrind starting a
# process per test, about 2 s each, so no test is skipped.
set -u

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind is not installed" >&2
	exit 77
fi

# Float32 products stay on OpenBLAS here (NB_GEMM=openblas): oneDNN's
# JIT sgemm reads 32 bytes past the end of the packing buffers it
# allocates itself (695 reports in test_memory, every one "0 bytes after
# a block" of libdnnl's own posix_memalign), which memcheck cannot tell
# from a bug; its convolutions read nothing out of bounds and stay on.
# The memory tests' CNN and MLP loops run 250 steps instead of 2,000 and
# 100,000 (NB_TEST_MEMORY_STEPS): 14 minutes under memcheck otherwise.
NB_GEMM=${NB_GEMM:-openblas}
NB_TEST_MEMORY_STEPS=${NB_TEST_MEMORY_STEPS:-250}
export NB_GEMM NB_TEST_MEMORY_STEPS
top=${NB_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
NB_TOP_SRCDIR=$top
NB_BUILDDIR=${NB_BUILDDIR:-.}
export NB_TOP_SRCDIR NB_BUILDDIR
libtool=./libtool
[ -x "$libtool" ] || libtool=

# one PROG: runs one program under valgrind with its logs in
# $NB_VG_LOGS/NAME/; prints its line; exit status 1 if it failed.
one() {
	prog=$1
	name=$(basename "$prog")
	mkdir "$NB_VG_LOGS/$name"
	start=$(date +%s)
	$libtool ${libtool:+--mode=execute} valgrind -q --trace-children=yes \
		--trace-children-skip='/bin/*,/usr/bin/*' \
		--error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--num-callers=40 --suppressions="$top/tests/valgrind-graphviz.supp" \
		--log-file="$NB_VG_LOGS/$name/vg.%p.log" \
		"$prog" >"$NB_VG_LOGS/$name.out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	bad=$(find "$NB_VG_LOGS/$name" -name 'vg.*.log' -size +0 | wc -l)
	if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
		# One write, so that the other lane cannot split the report.
		{
			echo "valgrind: $name: FAILED (exit $rc, $bad processes" \
			     "with errors; ${secs}s)"
			tail -n 30 "$NB_VG_LOGS/$name.out"
			find "$NB_VG_LOGS/$name" -name 'vg.*.log' -size +0 \
				-exec cat {} +
		} >"$NB_VG_LOGS/$name.report"
		cat "$NB_VG_LOGS/$name.report"
		return 1
	fi
	echo "valgrind: $name: clean (${secs}s)"
}

if [ "${1:-}" = --one ]; then
	one "$2"
	exit $?
fi

if [ $# -eq 0 ]; then
	set -- tests/test_*
fi
NB_VG_LOGS=$(mktemp -d "${TMPDIR:-/tmp}/nabla-valgrind.XXXXXX") || exit 1
export NB_VG_LOGS
trap 'rm -rf "$NB_VG_LOGS"' EXIT
# The programs to run, one per line (sources, objects, scripts and
# logs skipped), then NB_VALGRIND_JOBS of them at a time (default: 2, or
# 1 on a one-CPU machine): each valgrind process uses one core.
list=$NB_VG_LOGS/programs
: >"$list"
for prog in "$@"; do
	case "$prog" in *.c|*.o|*.sh|*.log|*.trs) continue ;; esac
	[ -x "$prog" ] && echo "$prog" >>"$list"
done
jobs=${NB_VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in ''|*[!0-9]*|0) jobs=1 ;; esac
[ "$jobs" -gt 2 ] && jobs=2
ran=$(wc -l <"$list")
status=0
xargs -P "$jobs" -n 1 sh "$0" --one <"$list" || status=1
echo "valgrind: $ran programs, $( [ $status = 0 ] && echo clean || echo errors)"
exit $status
