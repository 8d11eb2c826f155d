#!/bin/sh
# test_plugin.sh - plugins (include/nabla/plugin.h): the example plugin
# doc/examples/plugin_softclip.c, loaded by `nabla --plugin` and by
# NABLA_PLUGINS, appears in ops, gradcheck, dot and train like a built-in
# op; broken plugins give a clear error and exit 1.  Prints TAP.
set -u
build=${NB_BUILDDIR:-.}
nabla=$build/nabla
so=$build/doc/examples/.libs/plugin_softclip.so
bad=$build/tests/plugins/.libs/bad_nograd.so
noentry=$build/tests/plugins/.libs/no_entry.so
tmp=${TMPDIR:-/tmp}/nb-plugin.$$
trap 'rm -rf "$tmp".*' EXIT INT TERM
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

# run WANT_STATUS DESCRIPTION ARGS...: nabla's status; output in $tmp.*
run() {
	want=$1 what=$2
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

expect_in() {
	if grep -q -- "$2" "$1"; then
		ok "$3"
	else
		not_ok "$3: no '$2' in $(basename "$1")"
		sed 's/^/# /' "$1" | head -5
	fi
}

if [ ! -f "$so" ]; then
	echo "1..0 # SKIP no $so (a build without shared objects)"
	exit 0
fi

# Without the plugin the op does not exist.
run 2 "without the plugin: unknown op" ops softclip
run 0 "--plugin FILE ops softclip" --plugin "$so" ops softclip
expect_in "$tmp.out" "limit" "ops softclip lists its attribute"
expect_in "$tmp.out" "smooth clip" "ops softclip shows its doc"
run 0 "--plugin=FILE ops --json" --plugin="$so" ops --json
expect_in "$tmp.out" '"name": *"softclip"' "ops --json lists softclip"
run 0 "gradcheck softclip" --plugin "$so" gradcheck softclip
expect_in "$tmp.out" "softclip" "gradcheck reports softclip"
run 0 "dot --model with the plugin's layer" --plugin "$so" dot \
	--model "linear:8 softclip:limit=2 linear:2" --input 4,6
expect_in "$tmp.out" "softclip" "the graph has a softclip node"
run 0 "train with the plugin's layer" --plugin "$so" train --synthetic \
	--model "linear:16 softclip:limit=2 linear:10" --epochs 1 \
	--test-limit 200 --quiet
run 2 "train: the layer's attribute is range-checked" --plugin "$so" \
	train --synthetic --model "linear:16 softclip:limit=-1 linear:10" \
	--epochs 1
expect_in "$tmp.err" "limit" "the bad limit is named"
# The plugin's layer row (clipped_linear), in blocks.
run 0 "train with the plugin's layer row in a residual block" --plugin \
	"$so" train --synthetic --model "clipped_linear:16,limit=2
	residual(clipped_linear:16) linear:10" --epochs 1 --test-limit 200 \
	--quiet
run 0 "dot with the plugin's layer row" --plugin "$so" dot --input 4,6 \
	--model "clipped_linear:8 2x(residual(clipped_linear:8)) linear:2"
expect_in "$tmp.out" "rep1.1.clinear1.fc.weight" "its modules are named"
run 2 "without the plugin: unknown layer" dot --input 4,6 \
	--model "clipped_linear:8"

# The environment, ':'-separated, empty entries skipped; the same plugin
# twice (environment and option) is loaded once.
NABLA_PLUGINS=":$so:" "$nabla" --plugin "$so" ops softclip \
	>"$tmp.out" 2>"$tmp.err"
if [ $? = 0 ]; then ok "NABLA_PLUGINS and --plugin of the same file"
else not_ok "NABLA_PLUGINS and --plugin of the same file"
	sed 's/^/# /' "$tmp.err" | head -5; fi

# Broken plugins: exit 1, the file and the reason on stderr.
run 1 "a missing file" --plugin "$tmp.none.so" ops
expect_in "$tmp.err" "cannot load" "a missing file: cannot load"
run 1 "a shared object without nb_plugin_init" --plugin "$noentry" ops
expect_in "$tmp.err" "no nb_plugin_init function" "not a plugin: said so"
run 1 "an op without backward or NB_OP_NO_GRAD" --plugin "$bad" ops
expect_in "$tmp.err" "bad_nograd" "the refused op is named"
expect_in "$tmp.err" "NB_OP_NO_GRAD" "the message says what to set"
run 2 "--plugin without a file" --plugin
NABLA_PLUGINS="$tmp.none.so" "$nabla" ops >"$tmp.out" 2>"$tmp.err"
if [ $? = 1 ] && grep -q "cannot load" "$tmp.err"; then
	ok "a bad NABLA_PLUGINS entry: exit 1, said so"
else
	not_ok "a bad NABLA_PLUGINS entry"
fi

echo "1..$n"
exit $failed
