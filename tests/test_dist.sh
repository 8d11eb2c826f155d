#!/bin/sh
# test_dist.sh - data-parallel training on MPI (tests/test_dist.c) under
# mpirun with 2 and 3 ranks (3: uneven shards), each under a timeout, as
# one TAP stream.  In a build without MPI the program runs alone and
# checks that nb_dist fails with "built without MPI"; with MPI but no
# mpirun the test is skipped.
set -u

build=${NB_BUILDDIR:-.}
prog="$build/tests/test_dist"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nb_dist.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

. "${NB_TOP_SRCDIR:-.}/tests/support/mpirun.sh"

# Without MPI the program, run alone, prints its one check and exits.
nb_have_mpi "$build" || exec "$prog"
nb_mpi_env

n=0
for np in 2 3; do
	start=$(date +%s)
	timeout 60 mpirun $root --oversubscribe --bind-to none -x ASAN_OPTIONS \
		-np $np \
		"$prog" >"$tmp/out.$np" 2>"$tmp/err.$np"
	rc=$?
	end=$(date +%s)
	# renumber the program's TAP lines into one stream
	grep -E '^(not )?ok ' "$tmp/out.$np" | sed -E 's/^(not )?ok [0-9]+/\1ok/' |
	while IFS= read -r line; do
		echo "$line"
	done >"$tmp/tap.$np"
	while IFS= read -r line; do
		n=$((n + 1))
		case $line in
		"not ok"*) echo "not ok $n${line#not ok}" ;;
		*) echo "ok $n${line#ok}" ;;
		esac
	done <"$tmp/tap.$np"
	grep '^#' "$tmp/out.$np"
	want=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tmp/out.$np")
	got=$(wc -l <"$tmp/tap.$np")
	n=$((n + 1))
	if [ "$rc" = 0 ] && [ -n "$want" ] && [ "$got" = "$want" ]; then
		echo "ok $n - mpirun -np $np: all $want checks ran ($((end - start)) s)"
	else
		echo "not ok $n - mpirun -np $np exited $rc (124: timeout) after $got of ${want:-?} checks"
		sed 's/^/# /' "$tmp/err.$np" | tail -n 30
	fi
done
echo "1..$n"
