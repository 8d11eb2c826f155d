#!/bin/sh
# test_initlab.sh - `nabla initlab` from the outside: exit codes, --json
# validity, usage errors, and --plot's PNG / SVG files.  Prints TAP.
# Run by `make check`; by hand: NB_BUILDDIR=_build sh tests/test_initlab.sh
set -u

nabla=${NABLA:-${NB_BUILDDIR:-.}/nabla}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/initlab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
small="--batch 50 --sizes 40,30,20,10"
n=0
failed=0

ok() { # ok DESCRIPTION CONDITION-EXIT-STATUS
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
	fi
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# runs nabla initlab ARGS; sets rc, and out / err files.
run() {
	"$nabla" initlab "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# Validates $tmp/out as one JSON object (with Python if there is one).
py=""
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null 2>&1; then py=$p; break; fi
done
json_check() { # json_check DESCRIPTION PYTHON-EXPRESSION-ON-d
	if [ -z "$py" ]; then
		skip "$1" "no python3 to parse JSON"
		return
	fi
	"$py" -c "import json,sys; d=json.load(open(sys.argv[1])); \
sys.exit(0 if ($2) else 1)" "$tmp/out" 2>>"$tmp/err"
	ok "$1" $?
}

run --help
ok "--help exits 0" $rc
run $small
ok "a small run exits 0" $rc
grep -q '^verdict: ' "$tmp/out"
ok "a run prints a verdict" $?
[ "$(grep -c '^ *[0-9][0-9]* ' "$tmp/out")" -eq 3 ]
ok "a run prints one row per layer (3)" $?

run $small --json
ok "--json exits 0" $rc
json_check "--json is one JSON object with 3 layers" \
	"d['mode'] == 'run' and len(d['runs'][0]['layers']) == 3 and \
d['runs'][0]['summary']['verdict'] in ('vanishing', 'saturated', 'healthy', 'exploding')"

run $small --compare --json
ok "--compare --json exits 0" $rc
json_check "--compare --json has the 6 cases with verdicts" \
	"d['mode'] == 'compare' and len(d['runs']) == 6 and \
all(r['summary']['verdict'] for r in d['runs'])"

run $small --act relu --init kaiming_normal --seed 3 --dtype float64 --json
ok "--act, --init, --seed, --dtype" $rc
json_check "the options are echoed in the JSON" \
	"d['runs'][0]['act'] == 'relu' and d['config']['seed'] == 3 and \
d['config']['dtype'] == 'float64'"

for norm in batch layer instance group; do
	run $small --norm $norm --json
	ok "--norm $norm exits 0" $rc
done
run $small --norm group --groups 5
[ $rc -eq 0 ]
ok "--norm group --groups 5 exits 0" $?

for bad in "--bogus" "--act no_such_act" "--init gaussian" \
	"--sizes 10" "--compare --act tanh" "--plot out.txt" \
	"--act leaky_relu:bogus=1" "--act sum" "--norm weird" "--batch" \
	"--norm group --groups 3"; do
	run $small $bad
	[ $rc -eq 2 ]
	ok "usage error exits 2: $bad" $?
done

run $small --plot "$tmp/h.png"
if [ $rc -eq 1 ] && grep -q "without cairo" "$tmp/err"; then
	skip "--plot writes a PNG" "built without cairo"
	skip "--plot writes an SVG" "built without cairo"
else
	[ $rc -eq 0 ] && [ "$(head -c 8 "$tmp/h.png" | od -An -tx1 | tr -d ' \n')" = \
		"89504e470d0a1a0a" ]
	ok "--plot writes a PNG (magic bytes)" $?
	run $small --compare --plot "$tmp/h.svg"
	[ $rc -eq 0 ] && grep -q "<svg" "$tmp/h.svg"
	ok "--plot writes an SVG" $?
fi

# ---- gradients through time: --rnn (issue 18) ----
rsmall="--steps 30 --hidden 16 --input 8 --batch 4"
run --rnn tanh --help
[ $rc -eq 0 ] && grep -q -- "--forget-bias" "$tmp/out"
ok "--rnn --help exits 0 and lists the through-time options" $?
run --rnn compare $rsmall
[ $rc -eq 0 ] && [ "$(grep -c '  vanishing$\|  exploding$\|  healthy$' "$tmp/out")" -eq 8 ]
ok "--rnn compare runs the 8 cases with a verdict each" $?
grep -q "^tanh, radius 0.5 .*vanishing$" "$tmp/out"
ok "--rnn compare: tanh at radius 0.5 vanishes" $?
run --rnn lstm $rsmall --forget-bias 1 --json
[ $rc -eq 0 ]
ok "--rnn lstm --json exits 0" $?
json_check "--rnn --json: 30 gradient norms, a verdict" \
	"len(d['runs'])==1 and len(d['runs'][0]['grad_norms'])==30 and d['runs'][0]['forget_bias']==1 and d['runs'][0]['verdict'] in ('vanishing','exploding','healthy')"
run --rnn relu $rsmall --gain 1.5 --clip-norm 1 --json
json_check "--rnn --clip-norm: the clipped norm is at most the clip" \
	"d['runs'][0]['clipped_norm'] <= 1 + 1e-6 < d['runs'][0]['total_norm']"
for bad in "--rnn" "--rnn lstmx" "--rnn tanh --steps 0" \
	"--rnn tanh --steps 10001" "--rnn gru --gain -1" "--rnn gru --gain nan" \
	"--rnn tanh --init bogus" "--rnn tanh --plot x.jpg" "--rnn tanh --sizes 3,3" \
	"--rnn tanh extra"; do
	run $bad
	[ $rc -eq 2 ] && [ -s "$tmp/err" ]
	ok "--rnn usage error exits 2 with a message: $bad" $?
done
run --rnn compare $rsmall --plot "$tmp/r.svg"
if [ $rc -eq 1 ] && grep -q "without cairo" "$tmp/err"; then
	skip "--rnn --plot writes an SVG" "built without cairo"
else
	[ $rc -eq 0 ] && grep -q "<svg" "$tmp/r.svg"
	ok "--rnn --plot writes an SVG" $?
fi

echo "1..$n"
[ $failed -eq 0 ]
