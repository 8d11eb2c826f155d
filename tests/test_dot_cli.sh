#!/bin/sh
# test_dot_cli.sh - `nabla dot` and `nabla gradcheck --dot`, as TAP:
# every DOT file they write must render with the Graphviz dot program;
# -T svg / png through both renderers; the messages of usage errors and
# of a missing renderer.
set -u

top=${NB_TOP_SRCDIR:-.}
build=${NB_BUILDDIR:-.}
nabla="$build/nabla"
# Under --enable-sanitizers: Graphviz's own leaks are not ours.
LSAN_OPTIONS="suppressions=$top/tests/lsan-graphviz.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nb_dot_cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

ok() { # ok DESCRIPTION COMMAND...: a test passes when COMMAND does
	desc=$1
	shift
	n=$((n + 1))
	if "$@" >"$tmp/out" 2>"$tmp/err"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		sed 's/^/# /' "$tmp/err" | head -n 20
		failed=$((failed + 1))
	fi
}

renders() { # renders FILE: the dot program lays it out without a word
	dot -Tsvg -o /dev/null "$1" 2>"$tmp/dot.err" && ! [ -s "$tmp/dot.err" ] ||
		{ cat "$tmp/dot.err" >&2; return 1; }
}

# exits CODE PATTERN COMMAND...: COMMAND exits with CODE and says PATTERN
exits() {
	code=$1 pattern=$2
	shift 2
	"$@" >/dev/null 2>"$tmp/msg"
	rc=$?
	[ "$rc" = "$code" ] && grep -q -- "$pattern" "$tmp/msg" ||
		{ echo "exit $rc, said: $(cat "$tmp/msg")" >&2; return 1; }
}

is_svg() { grep -q '<svg' "$1"; }
is_png() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = "211PNG" ]; }

command -v dot >/dev/null 2>&1 ||
	echo "# the Graphviz dot program is missing: install graphviz"

ok "dot --example seed10 writes DOT" \
	"$nabla" dot --example seed10 -o "$tmp/seed10.dot"
ok "... which Graphviz renders" renders "$tmp/seed10.dot"
ok "dot --health writes DOT with the health view" \
	sh -c '"$0" dot --example seed10 --health --collapse --lr >"$1" &&
	       grep -q "(vanishing)" "$1"' "$nabla" "$tmp/health.dot"
ok "... which Graphviz renders" renders "$tmp/health.dot"
ok "dot --example rnn20 --collapse: the 20 time steps drawn once" \
	sh -c '"$0" dot --example rnn20 --health --collapse >"$1" &&
	       grep -q "t1 .. t20  x20" "$1" &&
	       [ "$(grep -c "rnn_cell" "$1")" -eq 1 ]' "$nabla" "$tmp/rnn.dot"
ok "... which Graphviz renders" renders "$tmp/rnn.dot"
ok "--depth 0 --eval --no-legend --title" \
	sh -c '"$0" dot --example seed10 --backward --depth 0 --eval \
	       --no-legend --title "t\"q" -o "$1" && grep -q "eval mode" "$1" &&
	       ! grep -q lg_ "$1" && grep -q "shape=folder" "$1"' \
	"$nabla" "$tmp/depth.dot"
ok "... which Graphviz renders" renders "$tmp/depth.dot"
ok "-T svg with the default renderer" \
	sh -c '"$0" dot --example seed10 --health -T svg -o "$1"' \
	"$nabla" "$tmp/a.svg"
ok "... is SVG" is_svg "$tmp/a.svg"
ok "-T svg with the dot program" \
	env NABLA_DOT_RENDERER=program "$nabla" dot --example seed10 -T svg \
	-o "$tmp/b.svg"
ok "... is SVG" is_svg "$tmp/b.svg"
ok "-T png to standard output" \
	sh -c '"$0" dot --example seed10 --depth 0 -T png >"$1"' \
	"$nabla" "$tmp/c.png"
ok "... is PNG" is_png "$tmp/c.png"
ok "without -T, -o x.png renders PNG" \
	"$nabla" dot --example seed10 --depth 0 -o "$tmp/d.png"
ok "... is PNG" is_png "$tmp/d.png"
ok "without -T, -o x.svg renders SVG" \
	"$nabla" dot --model "linear:8 relu linear:2" --input 4,6 -o "$tmp/e.svg"
ok "... is SVG" is_svg "$tmp/e.svg"
ok "-T dot wins over the extension" \
	"$nabla" dot --example seed10 -T dot -o "$tmp/f.svg"
ok "... which is DOT" grep -q "^digraph nabla" "$tmp/f.svg"
ok "no dot program: -T svg fails and says why" \
	exits 1 "program '/nonexistent/dot' was not found.*-T dot" \
	env NABLA_DOT_RENDERER=program NABLA_DOT_PROGRAM=/nonexistent/dot \
	"$nabla" dot --example seed10 -T svg -o "$tmp/x.svg"
ok "an unknown renderer is refused" \
	exits 1 "NABLA_DOT_RENDERER takes" \
	env NABLA_DOT_RENDERER=magic "$nabla" dot --example seed10 -T png \
	-o "$tmp/x.png"
ok "usage: unknown format" \
	exits 2 "unknown format 'gif'" "$nabla" dot --example seed10 -T gif
ok "usage: unknown example" \
	exits 2 "unknown example 'resnet'" "$nabla" dot --example resnet
ok "usage: bad thresholds" \
	exits 2 "vanish" "$nabla" dot --example seed10 --vanish 1 --explode 0.1
ok "usage: no network" exits 2 "say which network" "$nabla" dot
ok "dot --model SPEC --input SHAPE --health" \
	sh -c '"$0" dot --model "linear:32 batch_norm relu dropout:0.2 linear:10" \
	       --input 16,20 --health -o "$1" &&
	       grep -q "running stats: held" "$1" && grep -q "fc1.weight" "$1" &&
	       grep -q "cluster_bn1" "$1"' "$nabla" "$tmp/model.dot"
ok "... which Graphviz renders" renders "$tmp/model.dot"
ok "--model with input:N, --loss mse, --init, --eval, -T svg" \
	sh -c '"$0" dot --model "input:12 linear:8 tanh linear:3" --loss mse \
	       --init xavier_uniform --eval --backward -T svg -o "$1" &&
	       grep -q "<svg" "$1"' "$nabla" "$tmp/model.svg"
ok "usage: a model without an input size" \
	exits 2 "input size is unknown" "$nabla" dot --model "linear:10"
ok "usage: a bad spec names the place" \
	exits 2 "spec:1:11: unknown layer 'relux'" \
	"$nabla" dot --model "linear:10 relux" --input 4
ok "usage: --input goes with --model" \
	exits 2 "go with --model" "$nabla" dot --example seed10 --input 3
ok "gradcheck --dot DIR writes a graph per case" \
	sh -c '"$0" gradcheck linear mse --dot "$1" >/dev/null &&
	       [ "$(ls "$1" | tr "\n" " ")" = "linear.0.dot linear.1.dot linear.2.dot mse.0.dot mse.1.dot mse.2.dot mse.3.dot " ]' \
	"$nabla" "$tmp/gc"
ok "... each of which Graphviz renders" \
	sh -c 'for f in "$1"/*.dot; do dot -Tsvg -o /dev/null "$f" || exit 1; done' \
	sh "$tmp/gc"

# Output that cannot be written is exit status 1 with a message, for
# every output path: DOT, and both renderers, to a file or stdout.
ok "DOT into a missing directory fails and says so" \
	exits 1 "cannot open '/nonexistent/x.dot'" \
	"$nabla" dot --model linear:10 --input 4,4 -o /nonexistent/x.dot
ok "SVG into a missing directory fails (default renderer)" \
	exits 1 "nabla dot: .*/nonexistent/x.svg" \
	"$nabla" dot --model linear:10 --input 4,4 -o /nonexistent/x.svg
ok "SVG into a missing directory fails (dot program)" \
	exits 1 "failed to render svg" env NABLA_DOT_RENDERER=program \
	"$nabla" dot --model linear:10 --input 4,4 -o /nonexistent/x.svg
full() { # full PATTERN COMMAND...: COMMAND with stdout on /dev/full
	pattern=$1
	shift
	[ -w /dev/full ] || return 0
	"$@" >/dev/full 2>"$tmp/msg"
	rc=$?
	[ "$rc" = 1 ] && grep -q -- "$pattern" "$tmp/msg" ||
		{ echo "exit $rc, said: $(cat "$tmp/msg")" >&2; return 1; }
}
ok "DOT to a full standard output fails" \
	full "writing the output failed" "$nabla" dot --example seed10
ok "SVG to a full standard output fails (default renderer)" \
	full "failed" "$nabla" dot --example seed10 -T svg
ok "SVG to a full standard output fails (dot program)" \
	full "failed" env NABLA_DOT_RENDERER=program "$nabla" dot \
	--example seed10 -T svg
ok "SVG into a full file fails (default renderer)" \
	exits 1 "/dev/full" "$nabla" dot --example seed10 -o /dev/full -T svg
ok "usage: a threshold must be finite" \
	exits 2 "bad value 'inf' for --explode" \
	"$nabla" dot --example seed10 --explode inf
ok "usage: an unknown --init scheme names the option, not a spec" \
	exits 2 "nabla dot: --init: unknown scheme 'foo'" \
	"$nabla" dot --model linear:10 --input 4,4 --init foo

# The plan comes last (TAP allows it), so adding a case needs no count.
echo "1..$n"
[ "$failed" = 0 ]
