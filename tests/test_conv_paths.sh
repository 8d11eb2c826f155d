#!/bin/sh
# test_conv_paths.sh - every convolution path against the same PyTorch
# references (issue 17): tests/test_reference runs once with NB_CONV=im2col
# and with NB_CONV=onednn (oneDNN's preferred, blocked layouts) and
# NB_CONV=onednn-nchw (nabla's plain layout), and oneDNN's own log
# (ONEDNN_VERBOSE=1) says which path ran: none of its convolutions under
# im2col, each direction (forward, input gradient, weight gradient)
# under both oneDNN paths.
# Without oneDNN in the build the second run is skipped.  Prints TAP.
set -u
build=${NB_BUILDDIR:-.}
top=${NB_TOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=${TMPDIR:-/tmp}/nb-convpaths.$$
trap 'rm -f "$tmp".*' EXIT INT TERM
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# replay PATH: the reference tests under NB_CONV=PATH, log in $tmp.PATH
replay() {
	if NB_CONV=$1 ONEDNN_VERBOSE=1 NB_TOP_SRCDIR=$top NB_BUILDDIR=$build \
	    "$build/tests/test_reference" >"$tmp.$1" 2>&1; then
		ok "NB_CONV=$1: the references match"
	else
		not_ok "NB_CONV=$1: the references do not match"
		sed 's/^/# /' "$tmp.$1" | grep -v onednn_verbose | tail -20
	fi
}

# runs WHAT FILE: how many oneDNN convolutions of kind WHAT ran
runs() {
	grep -c "onednn_verbose,exec,cpu,convolution,.*,$1," "$2"
}

echo "1..10"
replay im2col
c=$(grep -c "onednn_verbose,exec,cpu,convolution" "$tmp.im2col")
if [ "$c" = 0 ]; then
	ok "NB_CONV=im2col runs no oneDNN convolution"
else
	not_ok "NB_CONV=im2col ran $c oneDNN convolutions"
fi
if grep -q '^#define HAVE_ONEDNN 1' "$build/config.h" 2>/dev/null; then
	for path in onednn onednn-nchw; do
		replay $path
		for kind in forward_training backward_data backward_weights; do
			c=$(runs $kind "$tmp.$path")
			if [ "$c" -gt 0 ]; then
				ok "NB_CONV=$path: $c $kind runs in oneDNN"
			else
				not_ok "NB_CONV=$path: no $kind ran in oneDNN"
			fi
		done
	done
else
	for path in onednn onednn-nchw; do
		skip "NB_CONV=$path" "built without oneDNN"
		for kind in forward_training backward_data backward_weights; do
			skip "$kind in oneDNN" "built without oneDNN"
		done
	done
fi
exit $failed
