#!/bin/sh
# test_cli.sh - the `nabla` command: exit codes (0 ok, 1 a check failed
# or output lost, 2 usage error: out-of-range option values too),
# messages on stderr, and the JSON of `nabla ops --json` and `nabla
# gradcheck --json`.  Prints TAP.  JSON is validated with
# python3 when it is installed (skipped otherwise).
set -u
build=${NB_BUILDDIR:-.}
nabla=$build/nabla
tmp=${TMPDIR:-/tmp}/nb-cli.$$
trap 'rm -rf "$tmp".*' EXIT INT TERM
n=0
failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# run WANT_STATUS DESCRIPTION ARGS...: runs nabla, checks the status;
# stdout in $tmp.out, stderr in $tmp.err.
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

# lost WANT_STATUS DESCRIPTION ARGS...: runs nabla with its standard
# output on /dev/full (every write fails with ENOSPC): the output is
# lost, so the status must not be 0 and stderr must say so.
lost() {
	want=$1
	what=$2
	shift 2
	if [ ! -w /dev/full ]; then
		skip "$what" "no /dev/full"
		return
	fi
	"$nabla" "$@" >/dev/full 2>"$tmp.err"
	got=$?
	if [ "$got" = "$want" ] &&
	   grep -q "writing the standard output failed" "$tmp.err"; then
		ok "$what (exit $got, said so)"
	else
		not_ok "$what: exit $got, want $want and a message"
		sed 's/^/# /' "$tmp.err" | head -5
	fi
}

expect_empty() {
	if [ -s "$1" ]; then
		not_ok "$2"
		sed 's/^/# /' "$1" | head -5
	else
		ok "$2"
	fi
}

have_python=no
if command -v python3 >/dev/null 2>&1 &&
   python3 -c 'import json' >/dev/null 2>&1; then
	have_python=yes
fi

# check_json DESCRIPTION PYTHON-ASSERTIONS (the document is `d`)
check_json() {
	if [ $have_python = no ]; then
		skip "$1" "no python3"
		return
	fi
	if python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
$2
" "$tmp.out" 2>"$tmp.py"; then
		ok "$1"
	else
		not_ok "$1"
		sed 's/^/# /' "$tmp.py" | tail -5
	fi
}

if [ ! -x "$nabla" ]; then
	echo "1..0 # SKIP $nabla not built"
	exit 0
fi

run 0 "--help" --help
expect_in "$tmp.out" "Usage: nabla \[--plugin FILE\]... COMMAND" "--help prints the usage on stdout"
expect_in "$tmp.out" "gradcheck" "--help lists the commands"
run 0 "-h" -h
run 0 "--version" --version
expect_in "$tmp.out" "nabla [0-9][0-9.]*" "--version prints the version"
run 2 "no command"
expect_in "$tmp.err" "Usage" "no command: usage on stderr"
run 2 "unknown command" frobnicate
expect_in "$tmp.err" "unknown command 'frobnicate'" \
	"unknown command: named on stderr"
expect_empty "$tmp.out" "unknown command: nothing on stdout"
run 2 "unknown option" --frobnicate
expect_in "$tmp.err" "frobnicate" "unknown option: named on stderr"

run 0 "ops" ops
expect_in "$tmp.out" "^add " "ops lists add"
expect_in "$tmp.out" "^cross_entropy " "ops lists cross_entropy"
expect_in "$tmp.out" "[0-9][0-9]* ops" "ops prints the count"
run 0 "ops --help" ops --help
run 2 "ops with an unknown option" ops --frobnicate
expect_in "$tmp.err" "nabla ops: unknown option '--frobnicate'" \
	"ops: the bad option on stderr"
run 2 "ops with an unknown op name" ops extra
expect_in "$tmp.err" "nabla ops: unknown op 'extra'" "ops: the unknown op on stderr"
run 2 "ops: one unknown name among known ones" ops relu nope
expect_in "$tmp.err" "'nope'" "ops: the unknown one is named"
run 0 "ops NAME describes an op" ops conv2d cross_entropy
expect_in "$tmp.out" "^conv2d (convolution): " "ops conv2d: the header line"
expect_in "$tmp.out" \
	"inputs: input, weight (parameter), bias (parameter, optional)" \
	"ops conv2d: inputs with their roles, the optional one marked"
expect_in "$tmp.out" "groups  *int   default 1, at least 1" \
	"ops conv2d: an int attribute with its range"
expect_in "$tmp.out" "label_smoothing  *float default 0, in \\[0, 1\\]" \
	"ops cross_entropy: a float attribute bounded on both sides"
expect_in "$tmp.out" "step between windows" "ops conv2d: attribute docs"
expect_in "$tmp.out" "ignore_index  *int   default -100" \
	"ops cross_entropy follows"
expect_in "$tmp.out" "gradcheck cases: " "ops NAME: the recipe"
run 0 "ops NAME --json" ops dropout --json
check_json "ops NAME --json has the details" '
o, = d["ops"]
assert o["name"] == "dropout" and o["random"] is True, o
p, = o["attrs"]
assert p["name"] == "p" and p["default"] == 0.5, p
assert p["min"] == 0 and p["max"] == 1 and p["doc"], p
assert o["optional"] == [] and o["differentiable"] is True, o
assert o["grad_modifying"] is False and "[4,5]" in o["cases"], o
'

run 0 "ops --json" ops --json
# The documented fields; more may be added.
check_json "ops --json is JSON with the documented fields" '
ops = d["ops"]
assert isinstance(ops, list) and len(ops) > 20, len(ops)
names = [o["name"] for o in ops]
assert len(set(names)) == len(names), "duplicate names"
for k in ("add", "matmul", "cross_entropy"):
    assert k in names, k
kinds = {"arithmetic", "reduction", "shape", "linalg", "activation",
         "normalization", "regularizer", "loss", "convolution",
         "pooling", "custom"}
for o in ops:
    for f in ("name", "kind", "inputs", "attrs", "random", "doc"):
        assert f in o, (o.get("name"), f)
    assert o["kind"] in kinds, o
    assert isinstance(o["inputs"], list) and o["inputs"], o
    assert isinstance(o["random"], bool), o
    for a in o["attrs"]:
        for f in ("name", "type", "default"):
            assert f in a, (o["name"], a)
        assert a["type"] in ("int", "float", "bool", "ints", "enum"), a
        if a["type"] == "enum":
            assert a["default"] in a["choices"].split("|"), a
pw = ops[names.index("pow")]
assert pw["attrs"][0]["name"] == "exponent" and pw["attrs"][0]["default"] == 2
ce = ops[names.index("cross_entropy")]
assert ce["inputs"] == ["input", "target", "weight"], ce
'

run 0 "gradcheck add --json" gradcheck add --json
check_json "gradcheck --json has results and a summary" '
r = d["results"]
s = d["summary"]
assert isinstance(r, list) and r, r
for f in ("ops", "checks", "passed", "failed"):
    assert isinstance(s[f], int), (f, s)
assert s["ops"] == 1, s
assert s["checks"] == len(r) and s["failed"] == 0, s
assert s["passed"] + s["failed"] == s["checks"], s
for x in r:
    for f in ("op", "input", "dtype", "shape", "attrs", "max_abs_err",
              "max_rel_err", "pass"):
        assert f in x, (f, x)
    assert x["op"] == "add" and x["pass"] is True, x
assert {x["input"] for x in r} == {"input", "other"}, r
'
run 0 "gradcheck of two ops" gradcheck exp sum
expect_in "$tmp.out" "2 ops" "gradcheck counts the ops"
run 0 "gradcheck --eval" gradcheck --eval mean
run 2 "gradcheck of an unknown op" gradcheck no_such_op
expect_in "$tmp.err" "unknown op 'no_such_op'" "gradcheck: the op on stderr"
expect_empty "$tmp.out" "gradcheck of an unknown op: nothing on stdout"
run 2 "gradcheck --eps abc" gradcheck --eps abc add
expect_in "$tmp.err" "bad value 'abc' for --eps" "--eps abc on stderr"
run 2 "gradcheck --eps 0" gradcheck --eps 0 add
run 2 "gradcheck --atol -1" gradcheck --atol -1 add
run 2 "gradcheck --rtol nan" gradcheck --rtol nan add
run 2 "gradcheck --seed -3" gradcheck --seed -3 add
run 2 "gradcheck with an unknown option" gradcheck --frobnicate
expect_in "$tmp.err" "unknown option '--frobnicate'" \
	"gradcheck: the unknown option on stderr"
run 2 "gradcheck --eps without a value" gradcheck add --eps
expect_in "$tmp.err" "'--eps' needs a value" \
	"a missing value is not called an unknown option"
# No built-in fails with the defaults; a coarse step with no tolerance
# makes exp's check fail, which must give status 1.
run 1 "a failing check" gradcheck exp --atol 0 --rtol 0 --eps 1e-1
expect_in "$tmp.out" "FAIL" "a failing check is reported"
run 1 "a failing check, JSON" gradcheck --json exp --atol 0 --rtol 0 \
	--eps 1e-1
check_json "a failing check in the JSON summary" '
s = d["summary"]
assert s["failed"] > 0 and s["failed"] + s["passed"] == s["checks"], s
assert any(not x["pass"] and x.get("message") for x in d["results"])
'

# Model specs from the command line: a repeated attribute is an error
# (the last one won), control bytes are shown escaped (they were
# echoed raw to the terminal).
run 2 "a spec attribute given twice" dot --model 'linear:4,bias=0,bias=1' \
	--input 4
expect_in "$tmp.err" "spec:1:17: linear: attribute 'bias' is given twice (first at 1:10)" \
	"the repeated attribute and both places on stderr"
run 2 "a spec with a control byte" dot --model "$(printf 'linear:4\033[2J')" \
	--input 4
expect_in "$tmp.err" "unexpected '\\\\x1b' after the layer" \
	"the control byte shown as \\x1b"
if LC_ALL=C grep -q "$(printf '\033')" "$tmp.err"; then
	not_ok "no raw control byte on stderr"
else
	ok "no raw control byte on stderr"
fi

# Output lost: every command checks its standard output at exit.
lost 1 "--help to a full disk" --help
lost 1 "--version to a full disk" --version
lost 1 "ops to a full disk" ops
lost 1 "ops --json to a full disk" ops --json
lost 1 "gradcheck to a full disk" gradcheck add relu
lost 1 "gradcheck --json to a full disk" gradcheck --json add relu
lost 1 "initlab --json to a full disk" initlab --json --sizes 8,6,4 \
	--batch 16
lost 1 "train --json to a full disk" train --json --synthetic --epochs 1 \
	--model "linear:8 relu linear:10" --train-limit 256 --test-limit 64

# Out-of-range option values are usage errors, in every subcommand.
run 2 "gradcheck --rtol inf" gradcheck --rtol inf add
expect_in "$tmp.err" "bad value 'inf' for --rtol" "--rtol inf on stderr"
run 2 "gradcheck --atol inf" gradcheck --atol inf add
run 2 "gradcheck --eps infinity" gradcheck --eps infinity add
run 2 "gradcheck --rtol -inf" gradcheck --rtol -inf add
run 2 "gradcheck --rtol -1e-3" gradcheck --rtol -1e-3 add
run 2 "train --threads 100000" train --threads 100000 --synthetic
expect_in "$tmp.err" "bad value '100000' for --threads (1 to 64)" \
	"--threads 100000: the range on stderr"
expect_empty "$tmp.out" "--threads 100000: no training"
run 2 "train --threads 65" train --threads 65 --synthetic
run 2 "train --threads 0" train --threads 0 --synthetic
expect_in "$tmp.err" "for --threads (1 to 64)" "--threads 0 on stderr"
run 2 "train --threads -1" train --threads -1 --synthetic
run 0 "train --threads 64" train --threads 64 --synthetic --epochs 0 \
	--model "linear:10" --test-limit 64
expect_in "$tmp.out" "^threads: 64$" "train --threads 64 says so"
# The default: the CPUs the process may run on (its affinity mask), not
# every online CPU; NB_NUM_THREADS overrides it.
if command -v taskset >/dev/null && taskset -c 0 true 2>/dev/null; then
	taskset -c 0 "$nabla" train --synthetic --epochs 0 --model linear:10 \
		--test-limit 64 >"$tmp.out" 2>"$tmp.err"
	expect_in "$tmp.out" "^threads: 1$" "one CPU in the affinity mask: 1 thread"
	NB_NUM_THREADS=3 taskset -c 0 "$nabla" train --synthetic --epochs 0 \
		--model linear:10 --test-limit 64 >"$tmp.out" 2>"$tmp.err"
	expect_in "$tmp.out" "^threads: 3$" "NB_NUM_THREADS=3 overrides the default"
else
	skip "one CPU in the affinity mask" "no taskset"
	skip "NB_NUM_THREADS overrides the default" "no taskset"
fi
run 2 "train --lr inf" train --lr inf --synthetic
expect_in "$tmp.err" "bad value 'inf' for --lr" "--lr inf on stderr"
run 2 "train --lr nan" train --lr nan --synthetic
run 2 "train --clip-norm -1" train --clip-norm -1 --synthetic
run 2 "train --schedule exp:inf" train --schedule exp:inf --synthetic

# Nothing to train: say why.
run 2 "train a model without parameters" train --synthetic --model relu \
	--epochs 1
expect_in "$tmp.err" "the model 'relu' has no parameters" \
	"a model without parameters is not called frozen"
run 2 "train with every parameter frozen" train --synthetic \
	--model "linear:10" --freeze fc1 --epochs 1
expect_in "$tmp.err" "every parameter is frozen" \
	"frozen parameters are called frozen"

# nabla train --save: checked before training, replaced atomically.
# $quick is split into words on purpose.
quick="train --synthetic --train-limit 200 --test-limit 100 --batch 50
	--model linear:10 --threads 1 --quiet"
mkdir "$tmp.ckpt"
run 1 "train --save into a missing directory" $quick --epochs 1 \
	--save "$tmp.ckpt/missing/m.st"
expect_in "$tmp.err" "missing/m.st: cannot save: creating a file in .*missing: No such file or directory (nothing was trained)" \
	"train --save: a missing directory is named before training"
if grep -q "epoch 1/1" "$tmp.out"; then
	not_ok "train --save into a missing directory: trained first"
else
	ok "train --save into a missing directory: nothing trained"
fi
: >"$tmp.ckpt/file"
run 1 "train --save under a file" $quick --save "$tmp.ckpt/file/m.st"
expect_in "$tmp.err" "Not a directory (nothing was trained)" \
	"train --save under a file: the reason"
run 1 "train --save to a directory" $quick --save "$tmp.ckpt"
expect_in "$tmp.err" "cannot save: it is a directory" \
	"train --save to a directory: the reason"
run 0 "train --save" $quick --epochs 1 --save "$tmp.ckpt/m.st"
left=$(cd "$tmp.ckpt" && echo *)
if [ "$left" = "file m.st" ]; then
	ok "train --save leaves no temporary file"
else
	not_ok "train --save leaves no temporary file: $left"
fi

# Resuming keeps the command line's lr, though the checkpoint now holds
# the groups' hyperparameters (issue 16).
run 0 "train --load with another --lr" $quick --epochs 1 --lr 0.0123 \
	--json --load "$tmp.ckpt/m.st"
expect_in "$tmp.out" '"lr": 0.0123,' "train --load: the command line's lr"

# A malformed nabla.epoch is an error naming the file and the key, not
# epoch 0.  The checkpoint's "1" becomes "x" (same length, valid JSON).
at=$(grep -abo '"nabla.epoch":"1"' "$tmp.ckpt/m.st" | cut -d: -f1)
if [ -n "$at" ]; then
	printf x | dd of="$tmp.ckpt/m.st" bs=1 seek=$((at + 15)) conv=notrunc \
		2>/dev/null
	run 1 "train --load with a bad nabla.epoch" $quick --epochs 0 \
		--load "$tmp.ckpt/m.st"
	expect_in "$tmp.err" 'm.st: the metadata nabla.epoch is "x", not a number of epochs' \
		"a bad nabla.epoch: the file and the key"
else
	not_ok "train --save wrote no \"nabla.epoch\":\"1\""
fi

echo "1..$n"
exit $failed
