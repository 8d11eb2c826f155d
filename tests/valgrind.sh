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
# The whole suite takes about 10 minutes on two cores (2026-11): nearly
# all of it valgrind starting a process per test, about 2 s each, so no
# test is skipped (the slowest single test, test_oom's checkpoint sweep,
# takes 7 s).
set -u

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind is not installed" >&2
	exit 77
fi

top=${NB_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
NB_TOP_SRCDIR=$top
NB_BUILDDIR=${NB_BUILDDIR:-.}
export NB_TOP_SRCDIR NB_BUILDDIR
libtool=./libtool
[ -x "$libtool" ] || libtool=

if [ $# -eq 0 ]; then
	set -- tests/test_*
fi
logs=$(mktemp -d "${TMPDIR:-/tmp}/nabla-valgrind.XXXXXX") || exit 1
trap 'rm -rf "$logs"' EXIT
status=0 ran=0
for prog in "$@"; do
	case "$prog" in *.c|*.o|*.sh|*.log|*.trs) continue ;; esac
	[ -x "$prog" ] || continue
	name=$(basename "$prog")
	mkdir "$logs/$name"
	start=$(date +%s)
	$libtool ${libtool:+--mode=execute} valgrind -q --trace-children=yes \
		--trace-children-skip='/bin/*,/usr/bin/*' \
		--error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite \
		--num-callers=40 --suppressions="$top/tests/valgrind-graphviz.supp" \
		--log-file="$logs/$name/vg.%p.log" \
		"$prog" >"$logs/$name.out" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	ran=$((ran + 1))
	bad=$(find "$logs/$name" -name 'vg.*.log' -size +0 | wc -l)
	if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
		echo "valgrind: $name: FAILED (exit $rc, $bad processes with" \
		     "errors; ${secs}s)"
		tail -n 30 "$logs/$name.out"
		find "$logs/$name" -name 'vg.*.log' -size +0 -exec cat {} +
		status=1
	else
		echo "valgrind: $name: clean (${secs}s)"
	fi
done
echo "valgrind: $ran programs, $( [ $status = 0 ] && echo clean || echo errors)"
exit $status
