#!/bin/sh
# tests/fuzz/run.sh - runs each libFuzzer target for a while (make fuzz,
# in a build configured with --enable-fuzzing).
#
#   sh tests/fuzz/run.sh SECONDS FUZZER...
#
# Each fuzzer starts from its committed corpus (tests/fuzz/corpus/NAME,
# read only) and writes what it finds to fuzz-corpus/NAME in the build
# directory; a crash leaves its input as fuzz-crash/NAME-crash-* and fails
# the run.  Prints the executions per target.  To keep a new input as a
# regression test, copy it into tests/fuzz/corpus/NAME: make check
# replays that directory in every build.
set -u
secs=$1
shift
top=${NB_TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
status=0
mkdir -p fuzz-crash
for f in "$@"; do
	name=$(basename "$f" | sed 's/^fuzz_//')
	mkdir -p "fuzz-corpus/$name"
	log="fuzz-corpus/$name.log"
	"$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-close_fd_mask=3 -print_final_stats=1 \
		-artifact_prefix="fuzz-crash/$name-" \
		"fuzz-corpus/$name" "$top/tests/fuzz/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	if [ "$rc" -ne 0 ]; then
		echo "fuzz: $name: FAILED after ${runs:-?} executions"
		grep -v '^#' "$log" | tail -n 40
		status=1
	else
		echo "fuzz: $name: ${runs:-?} executions in ${secs}s, no crash"
	fi
done
exit $status
