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
# one-CPU machine), each valgrind process using one core.  Nearly all
# the time is valgrind starting a process per test, a few seconds each
# and more for the heavy ones (Graphviz's renders): every test of the
# suite (50 programs, 594 tests) took 21 minutes two at a time on two
# cores (2026-12-07, 2541 s of program time), growing with every test.
# So each program runs a sample: a program of n tests is cut into
# m = ceil(n / 6) slices (NB_VALGRIND_MAX=6) of at most 6 tests, the
# k-th slice holding the tests listed k-th, (k+m)-th, ..., and slice
# SEED mod m runs.  Every program still runs, those of up to 6 tests
# whole, and a new test lengthens its program's rotation instead of its
# time.  The seed is the day number (UTC), so consecutive days run
# consecutive slices and each test runs once in m days (6 at most:
# test_ops, 33 tests).  The first line prints the seed;
# NB_VALGRIND_SEED=S runs that sample again, NB_VALGRIND_ALL=1 every
# test.  Sampled, the stage is about 1340 s of program time, 11 minutes
# on two cores, estimated from that run's times with a slice costing
# its share of its program plus about 6 s for Criterion's runner
# process, as measured on every slice of test_dot, test_edge, test_oom
# and test_ops.  Heavy tests make slices unequal (test_dot's four took
# 30 to 137 s, 486 s whole, on a loaded machine), so a day's total
# varies around that.
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

# Which tests run (see the header): all of them with NB_VALGRIND_ALL=1,
# else slice SEED mod m of a program's n tests, m = ceil(n / MAX), where
# slice k holds the tests listed k-th, (k+m)-th, ...  The seed is the
# day number (UTC) unless NB_VALGRIND_SEED says otherwise; the main run
# exports it, so that a run across midnight uses one seed throughout.
all=${NB_VALGRIND_ALL:-0}
max=${NB_VALGRIND_MAX:-6}
seed=${NB_VALGRIND_SEED:-$(($(date -u +%s) / 86400))}
case $seed$max in *[!0-9]*)
	echo "valgrind.sh: NB_VALGRIND_SEED and NB_VALGRIND_MAX are" \
	     "numbers" >&2
	exit 2 ;;
esac
# Leading zeros off, or the shell's arithmetic would read octal.
seed=${seed#"${seed%%[!0]*}"}
seed=${seed:-0}
max=${max#"${max%%[!0]*}"}
max=${max:-1}
NB_VALGRIND_SEED=$seed
export NB_VALGRIND_SEED

# sample PROG FILE: chooses the tests of PROG to run and writes their
# names, SUITE/TEST, to FILE; sets pattern (the --filter pattern, empty
# to run them all) and ran ("7 of 20 tests, slice 2 of 3").  Criterion
# matches the whole name against the pattern, so @(a/x|a/y) is exactly
# those two tests.
sample() {
	pattern=
	$libtool ${libtool:+--mode=execute} "$1" --list 2>/dev/null |
	awk '/^[^ ]+: [0-9]+ tests?$/ {
			suite = substr($1, 1, length($1) - 1); next }
		NF && $NF != "(skipped)" { print suite "/" $NF }' >"$2.all"
	n=$(wc -l <"$2.all")
	m=$(((n + max - 1) / max))
	if [ "$n" -eq 0 ]; then
		: >"$2"
		ran="tests not listed, all run"
		return
	fi
	if [ "$all" = 1 ] || [ "$m" -le 1 ]; then
		cp "$2.all" "$2"
		ran="$n of $n tests"
		return
	fi
	k=$((seed % m))
	awk -v m="$m" -v k="$k" '(NR - 1) % m == k' "$2.all" >"$2"
	pattern="@($(paste -sd'|' "$2"))"
	ran="$(wc -l <"$2") of $n tests, slice $((k + 1)) of $m"
}

# one PROG: runs one program under valgrind with its logs in
# $NB_VG_LOGS/NAME/; prints its line; exit status 1 if it failed.
one() {
	prog=$1
	name=$(basename "$prog")
	mkdir "$NB_VG_LOGS/$name"
	sample "$prog" "$NB_VG_LOGS/$name.tests"
	echo "$(wc -l <"$NB_VG_LOGS/$name.tests") $n" \
		>"$NB_VG_LOGS/$name.count"
	set --
	[ -n "$pattern" ] && set -- --filter "$pattern"
	start=$(date +%s)
	$libtool ${libtool:+--mode=execute} valgrind -q --trace-children=yes \
		--trace-children-skip='/bin/*,/usr/bin/*' \
		--error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--num-callers=40 --suppressions="$top/tests/valgrind-graphviz.supp" \
		--log-file="$NB_VG_LOGS/$name/vg.%p.log" \
		"$prog" "$@" >"$NB_VG_LOGS/$name.out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	bad=$(find "$NB_VG_LOGS/$name" -name 'vg.*.log' -size +0 | wc -l)
	if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
		# One write, so that the other lane cannot split the report.
		{
			echo "valgrind: $name: FAILED (exit $rc, $bad processes" \
			     "with errors; ${secs}s, $ran)"
			echo "valgrind: $name: again: NB_VALGRIND_SEED=$seed" \
			     "NB_VALGRIND_MAX=$max NB_VALGRIND_ALL=$all" \
			     "sh $0 $prog"
			[ -n "$pattern" ] && sed 's/^/  ran /' "$NB_VG_LOGS/$name.tests"
			tail -n 30 "$NB_VG_LOGS/$name.out"
			find "$NB_VG_LOGS/$name" -name 'vg.*.log' -size +0 \
				-exec cat {} +
		} >"$NB_VG_LOGS/$name.report"
		cat "$NB_VG_LOGS/$name.report"
		return 1
	fi
	echo "valgrind: $name: clean (${secs}s, $ran)"
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
if [ "$all" = 1 ]; then
	echo "valgrind: every test (NB_VALGRIND_ALL=1)"
else
	echo "valgrind: seed $seed, at most $max tests a program" \
	     "(NB_VALGRIND_SEED=$seed runs this sample again," \
	     "NB_VALGRIND_ALL=1 every test)"
fi
jobs=${NB_VALGRIND_JOBS:-$(nproc 2>/dev/null || echo 1)}
case $jobs in ''|*[!0-9]*|0) jobs=1 ;; esac
[ "$jobs" -gt 2 ] && jobs=2
status=0
xargs -P "$jobs" -n 1 sh "$0" --one <"$list" || status=1
cat "$NB_VG_LOGS"/*.count 2>/dev/null | awk -v p="$(wc -l <"$list")" \
	-v r="$( [ $status = 0 ] && echo clean || echo errors)" \
	'{ k += $1; n += $2 } END {
		printf "valgrind: %d programs (%d of %d tests), %s\n", p, k, n, r }'

exit $status
