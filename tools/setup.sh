#!/bin/sh
# tools/setup.sh - one-command set-up on a fresh Debian 12 machine, as root.
#
#   sh tools/setup.sh demo    install what is missing, build, run the demo
#   sh tools/setup.sh check   install what is missing, build, run every test
#
# Both install the Debian packages nabla builds and tests with (apt-get,
# only when one is missing), then configure and build in _build/.  The
# demo trains a small model through the C API, gradchecks every op, runs
# the notes' initialization study and its through-time twin, trains on
# Fashion-MNIST, and trains and samples a character LSTM on fortunes.
# `check` runs the Criterion suite in the normal build, under valgrind,
# under AddressSanitizer + UBSan, and in the portable (no-BLAS) build,
# runs each libFuzzer target of tests/fuzz/ for 20 seconds (a clang
# build), then distcheck, and ends with one line "tests: N passed, N
# failed" (doc/guarantees.md says what each part checks).
set -eu

mode=${1:-demo}
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

PACKAGES="build-essential autoconf automake libtool pkg-config uthash-dev
libcriterion-dev libopenblas-dev libjansson-dev zlib1g-dev libcairo2-dev
graphviz libgraphviz-dev valgrind dataset-fashion-mnist clang
libclang-rt-14-dev libopenmpi-dev openmpi-bin
libzip-dev fortunes libdnnl-dev"

install_packages() {
	missing=""
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	echo "setup: installing$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "setup: run as root (or install:$missing)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# build DIR [configure options...]
build() {
	dir=$1
	shift
	(cd "$top" && { [ -x configure ] || autoreconf -fi >/dev/null; })
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs")
}

# Adds the counts of an automake test-suite.log to passed/failed.
count() {
	p=$(sed -n 's/^# PASS: *//p' "$1/test-suite.log" | head -n1)
	f=$(sed -n 's/^# FAIL: *//p' "$1/test-suite.log" | head -n1)
	e=$(sed -n 's/^# ERROR: *//p' "$1/test-suite.log" | head -n1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
}

# check_in DIR: make check there, counting; keeps going on failure.
check_in() {
	if (cd "$1" && make -s -j"$jobs" check >/dev/null 2>&1); then
		echo "setup: make check in $1: ok"
	else
		echo "setup: make check in $1: FAILED"
		cat "$1"/test-suite.log 2>/dev/null | tail -n 60
		status=1
	fi
	[ -f "$1/test-suite.log" ] && count "$1" || failed=$((failed + 1))
}

# valgrind_in DIR: make check-valgrind there; each test program that
# runs clean under valgrind counts as a test passed (tests/valgrind.sh).
valgrind_in() {
	if ! (cd "$1" && make -s check-valgrind >valgrind.out 2>&1); then
		echo "setup: make check-valgrind in $1: FAILED"
		grep -v '^valgrind: .*: clean' "$1/valgrind.out" | tail -n 80
		status=1
	fi
	p=$(grep -c '^valgrind: .*: clean' "$1/valgrind.out" || true)
	f=$(grep -c '^valgrind: .*: FAILED' "$1/valgrind.out" || true)
	echo "setup: valgrind: ${p:-0} programs clean, ${f:-0} with errors"
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	[ "${p:-0}${f:-0}" != 00 ] || failed=$((failed + 1))
}

# fuzz_in DIR: a clang build with --enable-fuzzing in DIR, then each
# fuzz target for 20 seconds (make fuzz); each target counts as a test.
fuzz_in() {
	(cd "$top" && { [ -x configure ] || autoreconf -fi >/dev/null; })
	mkdir -p "$1"
	if ! (cd "$1" && "$top/configure" -q CC=clang --enable-fuzzing &&
	      make -s -j"$jobs" fuzz FUZZ_TIME=20 >fuzz.out 2>&1); then
		echo "setup: make fuzz in $1: FAILED"
		tail -n 60 "$1/fuzz.out" 2>/dev/null || true
		status=1
	fi
	p=$(grep -c '^fuzz: .*no crash' "$1/fuzz.out" 2>/dev/null || true)
	f=$(grep -c '^fuzz: .*FAILED' "$1/fuzz.out" 2>/dev/null || true)
	sed -n 's/^fuzz: /setup: fuzz: /p' "$1/fuzz.out" 2>/dev/null || true
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	# no target ran at all (configure or build failed): one failure
	[ "${p:-0}${f:-0}" != 00 ] || failed=$((failed + 1))
}

install_packages

case "$mode" in
demo)
	build "$top/_build"
	cd "$top/_build"
	make -s doc/examples/train_xor
	echo "== a small model trained through the C API (doc/examples/train_xor.c)"
	./doc/examples/train_xor
	echo "== nabla gradcheck: every registered op"
	./nabla gradcheck | tail -n 1
	echo "== nabla initlab --compare: the notes' initialization experiment"
	./nabla initlab --compare
	echo "== nabla train: the Fashion-MNIST recipe, one epoch"
	./nabla train --model 'linear:256 batch_norm relu dropout:0.2 linear:256 batch_norm relu linear:10' \
		--optim sgd --lr 0.1 --momentum 0.9 --batch 128 --epochs 1
	echo "== nabla initlab --rnn compare: gradients through time"
	./nabla initlab --rnn compare
	echo "== nabla train --text: a character LSTM on fortunes, two epochs"
	./nabla train --text /usr/share/games/fortunes/computers --epochs 2 \
		--save charlstm.safetensors
	echo "== nabla sample: 300 characters from it"
	./nabla sample --load charlstm.safetensors --prompt "The computer" \
		-n 300 --temperature 0.7 --seed 1
	;;
check)
	passed=0 failed=0 status=0
	build "$top/_build"
	check_in "$top/_build"
	valgrind_in "$top/_build"
	build "$top/_build-noblas" --without-blas
	check_in "$top/_build-noblas"
	build "$top/_build-san" --enable-sanitizers
	check_in "$top/_build-san"
	fuzz_in "$top/_build-fuzz"
	if (cd "$top/_build" && make -s distcheck >/dev/null 2>&1); then
		echo "setup: make distcheck: ok"
		passed=$((passed + 1))
	else
		echo "setup: make distcheck: FAILED"
		failed=$((failed + 1))
		status=1
	fi
	echo "tests: $passed passed, $failed failed"
	exit $status
	;;
*)
	echo "usage: sh tools/setup.sh demo|check" >&2
	exit 2
	;;
esac
