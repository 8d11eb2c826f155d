# tests/support/mpirun.sh - sourced by the shell tests that run under
# mpirun (test_dist.sh, test_dist_train.sh, test_dist_text.sh): TAP
# lines, the check of a build without MPI, and Open MPI's environment.

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; }

# nb_have_mpi BUILD: whether the library was built with MPI.
nb_have_mpi() {
	grep -q '^#define HAVE_MPI 1' "$1/config.h" 2>/dev/null
}

# nb_expect_no_mpi TMP CMD...: in a build without MPI, CMD (a --dist
# run) must fail with exit status 1 and say "built without MPI"; prints
# that check and the TAP plan, then exits.
nb_expect_no_mpi() {
	e_tmp=$1
	shift
	"$@" >"$e_tmp/o" 2>"$e_tmp/e"
	e_rc=$?
	if [ $e_rc = 1 ] && grep -q "built without MPI" "$e_tmp/e"; then
		ok "without MPI: $* fails with \"$(cat "$e_tmp/e")\""
	else
		nok "without MPI: $* exited $e_rc: $(cat "$e_tmp/e")"
	fi
	echo "1..$n"
	exit 0
}

# nb_mpi_env: skips the test (TAP) when mpirun is missing; else sets
# $root and exports the environment every mpirun here runs in.  Open MPI
# refuses root unless told (containers, CI); the single-copy mechanism
# of its shared-memory transport needs ptrace rights that containers
# often lack; one thread per rank (the machine is shared).  In a
# sanitizer build, AddressSanitizer still checks every access, but not
# leaks: Open MPI keeps thousands of allocations past MPI_Finalize, from
# MCA components it has unloaded by then, so LeakSanitizer's stacks end
# in "<unknown module>" and cannot be suppressed by library (nabla's
# dist code is leak-checked by hand under valgrind: doc/distributed.md).
nb_mpi_env() {
	if ! command -v mpirun >/dev/null 2>&1; then
		echo "1..0 # SKIP mpirun not found (install openmpi-bin)"
		exit 0
	fi
	root=
	[ "$(id -u)" = 0 ] && root=--allow-run-as-root
	OMPI_MCA_btl_vader_single_copy_mechanism=none
	OPENBLAS_NUM_THREADS=1 NB_NUM_THREADS=1
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
	export OMPI_MCA_btl_vader_single_copy_mechanism OPENBLAS_NUM_THREADS \
		NB_NUM_THREADS ASAN_OPTIONS
}
