#!/bin/sh
# test_dist_train.sh - `nabla train --dist` under mpirun (tools/
# train_dist.c): 2 and 3 ranks train to the same parameters as one rank
# with the same global batch (float32, the CLI's dtype: the summation
# order differs, so within 1e-5, relative to values above 1; measured
# up to 5e-7 for the MLPs, 8e-6 for the CNN), with and
# without --sync-bn, an indivisible batch over 3 ranks; only rank 0
# prints; --sync-bn needs --dist.  Without MPI in the build, --dist is a
# clear error.  Every mpirun under a timeout.  Prints TAP.
set -u
build=${NB_BUILDDIR:-.}
nabla="$build/nabla"
cmp="$build/tests/dist_cmp"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nb_dtrain.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
. "${NB_TOP_SRCDIR:-.}/tests/support/mpirun.sh"

nb_have_mpi "$build" ||
	nb_expect_no_mpi "$tmp" "$nabla" train --dist --synthetic --epochs 1
nb_mpi_env

# run NP NAME ARGS...: nabla train --dist on NP ranks, saving NAME.st
run() {
	r_np=$1 r_name=$2
	shift 2
	timeout 120 mpirun $root --oversubscribe --bind-to none \
		-x ASAN_OPTIONS -np "$r_np" "$nabla" train --dist --synthetic \
		--train-limit 1200 --test-limit 300 --epochs 2 --quiet \
		--save "$tmp/$r_name.st" "$@" >"$tmp/$r_name.out" \
		2>"$tmp/$r_name.err"
}

mlp="linear:32 relu linear:10"
bn="linear:32 batch_norm relu linear:10"
for cfg in "plain|$mlp|--batch 100" "adamw|$mlp|--batch 100 --optim adamw" \
           "syncbn|$bn|--batch 100 --sync-bn" \
           "cnn|conv2d:4:3 batch_norm relu max_pool2d:2 flatten linear:10|--batch 64 --sync-bn --lr 0.01"; do
	name=${cfg%%|*}
	rest=${cfg#*|}
	spec=${rest%%|*}
	args=${rest#*|}
	# shellcheck disable=SC2086
	run 1 "$name.1" --model "$spec" $args
	rc1=$?
	for np in 2 3; do
		# shellcheck disable=SC2086
		run $np "$name.$np" --model "$spec" $args
		rc=$?
		if [ $rc1 = 0 ] && [ $rc = 0 ] &&
		   "$cmp" "$tmp/$name.1.st" "$tmp/$name.$np.st" 1e-5 >"$tmp/cmp"; then
			ok "$name, np $np (batch ${args#--batch }): parameters and buffers = 1 rank's within 1e-5 (float32; relative above 1): $(cat "$tmp/cmp")"
		else
			nok "$name, np $np: exited $rc1/$rc: $(cat "$tmp/cmp" 2>/dev/null) $(tail -n 5 "$tmp/$name.$np.err")"
		fi
	done
	# the reported figures are the same (test accuracy over all shards)
	a=$(grep '^epoch 2/2' "$tmp/$name.1.out" | sed 's/  [0-9]* samples.s//')
	b=$(grep '^epoch 2/2' "$tmp/$name.3.out" | sed 's/  [0-9]* samples.s//')
	if [ -n "$a" ] && [ "$a" = "$b" ]; then
		ok "$name: 3 ranks report what 1 does: $a"
	else
		nok "$name: 1 rank '$a', 3 ranks '$b'"
	fi
done

# only rank 0 prints: one header and one line per epoch; stderr empty
out="$tmp/plain.2.out"
if [ "$(grep -c '^epoch 1/2' "$out")" = 1 ] &&
   [ "$(grep -c '^model:' "$out")" = 1 ] && [ ! -s "$tmp/plain.2.err" ] &&
   grep -q '^ranks: 2, global batch 100 (50 or 50 per rank)' "$out"; then
	ok "np 2: only rank 0 prints"
else
	nok "np 2: output $(cat "$out") / $(cat "$tmp/plain.2.err")"
fi

# dropout masks differ across ranks (nb_dist_rank_seed) but runs repeat
drop="linear:32 relu dropout:0.5 linear:10"
run 2 drop.a --model "$drop" --batch 100
run 2 drop.b --model "$drop" --batch 100
run 1 drop.1 --model "$drop" --batch 100
if "$cmp" "$tmp/drop.a.st" "$tmp/drop.b.st" 0 >"$tmp/cmp" &&
   ! "$cmp" "$tmp/drop.1.st" "$tmp/drop.a.st" 1e-3 >/dev/null; then
	ok "dropout: 2 ranks reproducible ($(cat "$tmp/cmp")), and unlike 1 rank (the ranks' masks differ)"
else
	nok "dropout: $(cat "$tmp/cmp")"
fi

# a failure on one rank ends all: only rank 0 checks that --save can be
# written, fails, and MPI_Abort takes rank 1 down too (no hang)
timeout 120 mpirun $root --oversubscribe --bind-to none -x ASAN_OPTIONS \
	-np 2 "$nabla" train --dist --synthetic --epochs 1 \
	--save "$tmp/no/such/dir/x.st" >"$tmp/ab.out" 2>"$tmp/ab.err"
rc=$?
if [ $rc != 0 ] && [ $rc != 124 ] &&
   grep -q "nabla train: --save: .*nothing was trained" "$tmp/ab.err" &&
   grep -q "rank 0 failed: ending all 2 ranks" "$tmp/ab.err"; then
	ok "a failure on rank 0 alone ends both ranks with its message (exit $rc)"
else
	nok "a failure on one rank: exit $rc: $(head -n 5 "$tmp/ab.err")"
fi

"$nabla" train --sync-bn --synthetic >/dev/null 2>"$tmp/e"
rc=$?
if [ $rc = 2 ] && grep -q -- "--sync-bn needs --dist" "$tmp/e"; then
	ok "--sync-bn without --dist is a usage error"
else
	nok "--sync-bn without --dist exited $rc: $(cat "$tmp/e")"
fi
echo "1..$n"
