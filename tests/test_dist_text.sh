#!/bin/sh
# test_dist_text.sh - `nabla train --text --dist` under mpirun
# (tools/train_text.c): each rank owns a share of the --batch streams,
# so 2 and 3 ranks train a character model to the parameters of one
# process with the same streams (float32: the gradients' sums differ in
# order, so within 1e-5, relative to values above 1), and report the
# same training and held-out bits per character (within 1e-5): a GRU,
# whose state each rank carries for its own streams, and a causal
# transformer, whose held-out windows the ranks share out; an
# indivisible batch; only rank 0 prints; fewer streams than ranks is
# an error.  Without MPI in the build, --dist is a clear error.  Every
# mpirun under a timeout.  Prints TAP.
set -u
build=${NB_BUILDDIR:-.}
nabla="$build/nabla"
cmp="$build/tests/dist_cmp"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nb_dtext.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
. "${NB_TOP_SRCDIR:-.}/tests/support/mpirun.sh"

# 40 lines of one sentence: 1,760 bytes, an alphabet of 28; 16 windows
# of 16 steps per epoch for 6 or 7 streams, 10 held out.
i=0
while [ $i -lt 40 ]; do
	echo "the quick brown fox jumps over the lazy dog"
	i=$((i + 1))
done >"$tmp/fox.txt"

nb_have_mpi "$build" ||
	nb_expect_no_mpi "$tmp" "$nabla" train --dist --text "$tmp/fox.txt" \
		--epochs 1
nb_mpi_env

# run NP NAME ARGS...: nabla train --text on NP ranks (1: one process,
# without --dist), saving NAME.st
run() {
	r_np=$1 r_name=$2
	shift 2
	if [ "$r_np" = 1 ]; then
		timeout 120 "$nabla" train --text "$tmp/fox.txt" --steps 16 \
			--epochs 2 --save "$tmp/$r_name.st" "$@" \
			>"$tmp/$r_name.out" 2>"$tmp/$r_name.err"
		return
	fi
	timeout 120 mpirun $root --oversubscribe --bind-to none \
		-x ASAN_OPTIONS -np "$r_np" "$nabla" train --dist \
		--text "$tmp/fox.txt" --steps 16 --epochs 2 \
		--save "$tmp/$r_name.st" "$@" >"$tmp/$r_name.out" \
		2>"$tmp/$r_name.err"
}

# bpc NAME KEY: KEY of the last epoch event
bpc() {
	sed -n "s/.*\"epoch\": 2,.*\"$2\": \([0-9.]*\).*/\1/p" "$tmp/$1.out"
}

gru="embedding:8 gru:16 linear:28"
tf="embedding:16 learned_positions transformer_encoder_layer:2,dim_feedforward=32,dropout=0,norm_first=1,causal=1 layer_norm linear:28"
# The transformer with SGD: the key part of in_proj_bias has a zero
# gradient in exact arithmetic (softmax ignores a constant per row), so
# Adam turns its rounding noise, which differs with the summation
# order, into steps of the learning rate (0.008 apart after 2 epochs).
for cfg in "gru|$gru|7|adam" "gru6|$gru|6|adam" "tf|$tf|6|sgd --lr 0.05"; do
	name=${cfg%%|*}
	rest=${cfg#*|}
	spec=${rest%%|*}
	rest=${rest#*|}
	batch=${rest%%|*}
	optim=${rest#*|}
	# shellcheck disable=SC2086
	run 1 "$name.1" --model "$spec" --batch "$batch" --optim $optim --json
	rc1=$?
	for np in 2 3; do
		# shellcheck disable=SC2086
		run $np "$name.$np" --model "$spec" --batch "$batch" \
			--optim $optim --json
		rc=$?
		if [ $rc1 = 0 ] && [ $rc = 0 ] &&
		   "$cmp" "$tmp/$name.1.st" "$tmp/$name.$np.st" 1e-5 >"$tmp/cmp"; then
			ok "$name, np $np, $batch streams: parameters = one process's within 1e-5 (float32; relative above 1): $(cat "$tmp/cmp")"
		else
			nok "$name, np $np: exited $rc1/$rc: $(cat "$tmp/cmp" 2>/dev/null) $(tail -n 5 "$tmp/$name.$np.err")"
		fi
		for key in train_bpc test_bpc; do
			a=$(bpc "$name.1" $key)
			b=$(bpc "$name.$np" $key)
			if [ -n "$a" ] && [ -n "$b" ] &&
			   awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5) }'; then
				ok "$name, np $np: $key after 2 epochs $b, one process $a"
			else
				nok "$name, np $np: $key '$b', one process '$a'"
			fi
		done
	done
done

# only rank 0 prints: one header, one line per epoch, one sample
run 2 plain --model "$gru" --batch 7 --threads 1
rc=$?
out="$tmp/plain.out"
if [ $rc = 0 ] && [ "$(grep -c '^epoch 1/2' "$out")" = 1 ] &&
   [ "$(grep -c '^model:' "$out")" = 1 ] &&
   [ "$(grep -c '^sample' "$out")" = 1 ] &&
   grep -q '^ranks: 2, 7 streams (3 or 4 per rank)' "$out" &&
   [ ! -s "$tmp/plain.err" ]; then
	ok "np 2: only rank 0 prints"
else
	nok "np 2: output $(cat "$out") / $(cat "$tmp/plain.err")"
fi

# fewer streams than ranks: every rank refuses, exit 2
run 3 few --model "$gru" --batch 2
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] &&
   grep -q -- "--batch 2 streams for 3 ranks" "$tmp/few.err"; then
	ok "--batch 2 over 3 ranks: an error (exit $rc)"
else
	nok "--batch 2 over 3 ranks: exit $rc: $(head -n 3 "$tmp/few.err")"
fi
echo "1..$n"
