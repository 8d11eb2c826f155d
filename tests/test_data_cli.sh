#!/bin/sh
# test_data_cli.sh - `nabla train --data FILE.npz|FILE.csv` on the
# NumPy-made files of tests/data/arrays/ (tests/data/gen_arrays.py):
# the accuracy and MSE training reaches, and bad files refused with a
# message naming the file and the array, exit 1 (2 for usage), and
# nothing overwritten.  Prints TAP.  The .npz cases skip in a build
# without libzip (after checking that nabla says so).
set -u
build=${NB_BUILDDIR:-.}
top=${NB_TOP_SRCDIR:-.}
nabla=$build/nabla
d=$top/tests/data/arrays
tmp=${TMPDIR:-/tmp}/nb-data.$$
trap 'rm -rf "$tmp".*' EXIT INT TERM
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# run WANT_STATUS DESCRIPTION ARGS...: stdout in $tmp.out, stderr in
# $tmp.err.
run() {
	want=$1
	what=$2
	shift 2
	"$nabla" "$@" >"$tmp.out" 2>"$tmp.err"
	got=$?
	if [ "$got" = "$want" ]; then
		ok "$what (exit $got)"
	else
		not_ok "$what: exit $got, want $want"
		sed 's/^/# /' "$tmp.err" | head -5
	fi
}

# expect_in FILE PATTERN DESCRIPTION
expect_in() {
	if grep -q -- "$2" "$1"; then
		ok "$3"
	else
		not_ok "$3: no '$2' in $(basename "$1")"
		sed 's/^/# /' "$1" | head -5
	fi
}

# at_least KEY MIN DESCRIPTION / at_most KEY MAX DESCRIPTION: the value
# of KEY in the JSON end event of $tmp.out.
value() {
	sed -n "s/.*\"event\": \"end\".*\"$1\": \([0-9.e+-]*\).*/\1/p" "$tmp.out"
}
at_least() {
	v=$(value "$1")
	if [ -n "$v" ] && awk "BEGIN { exit !($v >= $2) }"; then
		ok "$3 ($1 $v >= $2)"
	else
		not_ok "$3: $1 '$v', want >= $2"
	fi
}
at_most() {
	v=$(value "$1")
	if [ -n "$v" ] && awk "BEGIN { exit !($v <= $2) }"; then
		ok "$3 ($1 $v <= $2)"
	else
		not_ok "$3: $1 '$v', want <= $2"
	fi
}

# ---- .npz: classification, with and without test arrays ----
"$nabla" train --data "$d/blobs.npz" --epochs 0 >/dev/null 2>"$tmp.err"
if grep -q "without libzip" "$tmp.err"; then
	ok "a build without libzip says so"
	for c in blobs.npz blobs_notest.npz binary.npz bad-npz; do
		skip "train --data $c" "nabla was built without libzip"
	done
	npz=no
else
	npz=yes
fi

if [ $npz = yes ]; then
	# 3 Gaussian clusters 4 sigma apart: the default model, its last
	# layer sized for 3 classes, separates them in 2 epochs.
	run 0 "train --data blobs.npz" train --data "$d/blobs.npz" --epochs 2 \
		--json
	at_least test_accuracy 0.9 "blobs.npz: 2 epochs"
	expect_in "$tmp.out" '"classes": 3, .*"loss": "ce"' \
		"blobs.npz: 3 classes, cross-entropy by default"
	expect_in "$tmp.out" 'linear:256 batch_norm relu linear:3"' \
		"blobs.npz: the default model ends in linear:3"
	expect_in "$tmp.out" '"train_samples": 240, "test_samples": 90' \
		"blobs.npz: x_test and y_test are the test set"

	run 0 "train --data blobs_notest.npz --val-split 0.25" train \
		--data "$d/blobs_notest.npz" --val-split 0.25 --epochs 2 \
		--model "linear:16 relu linear:3"
	expect_in "$tmp.out" "180 training and 60 test samples" \
		"without test arrays: --val-split holds out a quarter"
	run 0 "train --data blobs_notest.npz" train \
		--data "$d/blobs_notest.npz" --epochs 0 --model linear:3
	expect_in "$tmp.out" "216 training and 24 test samples" \
		"without test arrays: 0.1 held out by default"

	# bce: one logit per 0/1 target.
	run 0 "train --loss bce" train --data "$d/binary.npz" --loss bce \
		--model linear:1 --epochs 10 --batch 16 --json
	at_least test_accuracy 0.9 "binary.npz: bce, 10 epochs"

	# Bad archives: the file, the array, the problem; exit 1.
	printf 'precious' >"$tmp.keep"
	run 1 "no array y" train --data "$d/no_y.npz" --save "$tmp.keep"
	expect_in "$tmp.err" "no_y.npz: no array 'y' (the archive holds: x)" \
		"no array y: named, with the arrays there"
	if [ "$(cat "$tmp.keep")" = precious ]; then
		ok "a bad data file overwrites no --save file"
	else
		not_ok "a bad data file overwrote the --save file"
	fi
	run 1 "x and y rows differ" train --data "$d/rows_differ.npz"
	expect_in "$tmp.err" \
		"rows_differ.npz: array 'x' has 240 rows, array 'y' 239" \
		"rows differ: both arrays and their counts"
	run 1 "a NaN input" train --data "$d/nan_x.npz"
	expect_in "$tmp.err" "nan_x.npz: array 'x': row 3, feature 2 is NaN" \
		"a NaN input: array, row and feature"
	run 2 "labels beyond the model's outputs" train \
		--data "$d/label_range.npz" --model linear:3
	expect_in "$tmp.err" "gives 3 outputs.*label_range.npz needs at least 6" \
		"labels out of range for the output size"
	run 1 "a CRC error" train --data "$d/crc.npz"
	expect_in "$tmp.err" "crc.npz" "a CRC error: the file"
	run 1 "--loss bce on 3 classes" train --data "$d/blobs.npz" --loss bce
	expect_in "$tmp.err" "blobs.npz: --loss bce: training target .* is 2, not 0 or 1" \
		"bce on labels 0..2: refused, with the value"
	run 2 "--target with an .npz" train --data "$d/blobs.npz" --target y
fi

# ---- CSV: regression and classification ----
# y = 2a - 3b + 0.5c + 1 + N(0, 0.05^2): a linear model reaches the
# noise's MSE (0.0025) within a few times.
run 0 "train --data regress.csv --target target" train \
	--data "$d/regress.csv" --target target --model linear:1 --optim adam \
	--lr 0.1 --batch 16 --epochs 10 --json
at_most test_mse 0.02 "regress.csv: linear regression, 10 epochs"
expect_in "$tmp.out" '"loss": "mse"' "a CSV's targets are values: mse"
expect_in "$tmp.out" '"test_rmse": ' "regression reports the RMSE"
run 0 "train --data blobs.csv --loss ce" train --data "$d/blobs.csv" \
	--target label --loss ce --epochs 3 --json
at_least test_accuracy 0.9 "blobs.csv: classification from a CSV"

run 1 "a cell that is not a number" train --data "$d/bad_cell.csv" \
	--target a
expect_in "$tmp.err" "bad_cell.csv:3:3: column 'b': 'five' is not a number" \
	"a bad cell: file:line:column and the column"
run 1 "a ragged row" train --data "$d/ragged.csv" --target a
expect_in "$tmp.err" "ragged.csv:3:4: 2 fields, the header has 3" \
	"a ragged row: file:line:column"
run 1 "a missing column" train --data "$d/regress.csv" --target price
expect_in "$tmp.err" "regress.csv: no column 'price' (the header names: a, b, c, target)" \
	"a missing column: the names there"
run 1 "class labels that are not whole numbers" train \
	--data "$d/regress.csv" --target target --loss ce
expect_in "$tmp.err" "column 'target': row 0 is .*not a class index" \
	"--loss ce on real values: the column and the row"
run 1 "a missing file" train --data "$tmp.none.csv" --target a
expect_in "$tmp.err" "none.csv: No such file" "a missing file: named"

# ---- usage ----
run 2 "a CSV without --target" train --data "$d/regress.csv"
expect_in "$tmp.err" "needs --target COLUMN" "--target: asked for"
run 2 "--loss unknown" train --data "$d/regress.csv" --target a --loss hinge
run 2 "--val-split 1" train --data "$d/regress.csv" --target a \
	--val-split 1
run 2 "--loss mse without --data FILE" train --synthetic --loss mse
run 2 "--target without --data FILE" train --target a
run 2 "an unknown kind of file" train --data "$d/f4_le.npy"
expect_in "$tmp.err" "f4_le.npy: not a data set file" "an .npy: refused"

echo "1..$n"
exit $failed
