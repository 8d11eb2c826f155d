#!/bin/sh
# test_text_cli.sh - `nabla train --text` and `nabla sample` from the
# outside: a character model learns a repetitive text (held-out bits per
# character fall, greedy sampling continues the pattern), recurrent and
# transformer specs, checkpoints with the alphabet, JSON events, and the
# errors (exit 1 or 2, a message, nothing written).  Prints TAP.
set -u
nabla=${NABLA:-${NB_BUILDDIR:-.}/nabla}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/textcli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
		sed 's/^/# /' "$tmp/err" | head -n 5
	fi
}
run() { # run CMD ARGS: sets rc, out, err
	"$nabla" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# 600 lines of one sentence: 26,400 bytes, an alphabet of 28.
i=0
while [ $i -lt 600 ]; do
	echo "the quick brown fox jumps over the lazy dog"
	i=$((i + 1))
done >"$tmp/fox.txt"
common="--text $tmp/fox.txt --threads 1 --batch 16 --steps 32 --quiet"

# The alphabet's size, from the error of a spec that does not fit.
run train $common --model "embedding:8 gru:32 linear:5" --epochs 1
V=$(sed -n 's/.*end the spec with linear:\([0-9]*\).*/\1/p' "$tmp/err")
[ $rc -eq 2 ] && [ "$V" = 28 ]
ok "a head that does not fit the alphabet: exit 2, 'end the spec with linear:28'" $?

run train $common --model "embedding:16 gru:64 linear:$V" --epochs 3 \
	--save "$tmp/gru.st"
[ $rc -eq 0 ]
ok "a GRU trains for 3 epochs and saves" $?
bpc=$(sed -n 's/^epoch 3\/3 .*test_bpc \([0-9.]*\).*/\1/p' "$tmp/out")
first=$(sed -n 's/^epoch 1\/3 .*test_bpc \([0-9.]*\).*/\1/p' "$tmp/out")
awk -v b="$bpc" -v f="$first" 'BEGIN { exit !(b < 0.3 && b < f) }'
ok "held-out bits per character fall to $bpc (< 0.3; epoch 1: $first)" $?
grep -q "state carried from window to window" "$tmp/out"
ok "a recurrent model carries its state between windows" $?

run sample --load "$tmp/gru.st" --prompt "the quick" -n 34 --temperature 0
[ $rc -eq 0 ] && [ "$(head -n 1 "$tmp/out")" = \
	"the quick brown fox jumps over the lazy dog" ]
ok "greedy sampling continues the sentence" $?
run sample --load "$tmp/gru.st" -n 200 --seed 4
a=$(cat "$tmp/out")
run sample --load "$tmp/gru.st" -n 200 --seed 4
[ $rc -eq 0 ] && [ "$a" = "$(cat "$tmp/out")" ]
ok "a seed gives the same sample" $?

tf="embedding:32 learned_positions transformer_encoder_layer:2,dim_feedforward=64,dropout=0,norm_first=1,causal=1 layer_norm linear:$V"
run train $common --model "$tf" --epochs 2 --save "$tmp/tf.st" --json
[ $rc -eq 0 ] && grep -q '"event": "start".*"carries_state": false' "$tmp/out" &&
	[ "$(grep -c '"event": "epoch"' "$tmp/out")" -eq 2 ] &&
	grep -q '"event": "end", "test_bpc"' "$tmp/out"
ok "a causal transformer trains; JSON start, epoch and end events" $?
bpc=$(sed -n 's/.*"epoch": 2,.*"test_bpc": \([0-9.]*\).*/\1/p' "$tmp/out")
awk -v b="$bpc" 'BEGIN { exit !(b < 1.5) }'
ok "the transformer's held-out bits per character: $bpc (< 1.5)" $?
run sample --load "$tmp/tf.st" --prompt "the quick brown" -n 20 --temperature 0
[ $rc -eq 0 ] && [ -n "$(cat "$tmp/out")" ]
ok "a transformer samples through its window" $?

# Resuming needs the same alphabet.
printf 'ABC%.0s' $(seq 1 2000) >"$tmp/abc.txt"
run train --text "$tmp/abc.txt" --load "$tmp/gru.st" --epochs 1 --quiet
[ $rc -eq 1 ] && grep -q "another alphabet" "$tmp/err"
ok "--load of a model of another alphabet: exit 1" $?

# --epochs 0 only evaluates, as for a classifier: no sample of an
# untrained model.
run train $common --model "embedding:8 gru:16 linear:$V" --epochs 0
[ $rc -eq 0 ] && grep -q "^test_bpc .*nothing trained" "$tmp/out" &&
	! grep -q "^sample" "$tmp/out" && ! grep -q "^epoch" "$tmp/out"
ok "--epochs 0: held-out bits per character, nothing trained, no sample" $?

# Errors.
run train --text "" --epochs 1
[ $rc -eq 2 ] && grep -q -- "--text: the file name is empty" "$tmp/err"
ok "--text \"\": usage error, exit 2, naming --text" $?
run train --text= --epochs 1
[ $rc -eq 2 ] && grep -q -- "--text: the file name is empty" "$tmp/err"
ok "--text=: usage error, exit 2" $?
run train --text "$tmp/missing.txt" --epochs 1
[ $rc -eq 1 ] && grep -q "missing.txt" "$tmp/err"
ok "a missing text: exit 1 naming it" $?
: >"$tmp/empty.txt"
run train --text "$tmp/empty.txt" --epochs 1
[ $rc -eq 1 ] && grep -q "empty" "$tmp/err"
ok "an empty text: exit 1" $?
run train --text "$tmp/fox.txt" --steps 100000 --epochs 1
[ $rc -eq 1 ] && grep -q "fewer than one window" "$tmp/err"
ok "a window longer than the held-out text: exit 1" $?
for bad in "--text $tmp/fox.txt --synthetic" "--text $tmp/fox.txt --l2 0.1" \
	"--steps 8" "--text $tmp/fox.txt --val-split 0.9" \
	"--text $tmp/fox.txt --steps 0"; do
	run train $bad
	[ $rc -eq 2 ] && [ -s "$tmp/err" ]
	ok "usage error, exit 2: train $bad" $?
done
run train $common --model "linear:8 lstm:8 linear:$V" --epochs 1
[ $rc -eq 2 ] && grep -q "begin with a layer that reads tokens" "$tmp/err"
ok "a model that does not begin with an embedding: exit 2" $?
run train --synthetic --epochs 1 --train-limit 200 --test-limit 100 --quiet \
	--save "$tmp/mlp.st"
run sample --load "$tmp/mlp.st"
[ $rc -eq 1 ] && grep -q "not a character model" "$tmp/err"
ok "sample of a model that is not a character model: exit 1" $?
for bad in "" "--load $tmp/gru.st -n x" "--load $tmp/gru.st --temperature -1" \
	"--load $tmp/gru.st --top-k 999" "--load $tmp/gru.st extra"; do
	run sample $bad
	[ $rc -eq 2 ]
	ok "usage error, exit 2: sample $bad" $?
done
run sample --load "$tmp/gru.st" --prompt "XYZ"
[ $rc -eq 1 ] && grep -q "not in the model's alphabet" "$tmp/err"
ok "a prompt outside the alphabet: exit 1" $?

echo "1..$n"
[ $failed -eq 0 ]
