#!/bin/sh
# test_seq_examples.sh - the sequence models of doc/examples
# (doc/sequence.md), each trained for 30 steps on the GPL-3 text that
# Debian's base-files installs: the program exits non-zero unless its
# loss went down.  Prints TAP.  Run by `make check`; by hand:
#   NB_BUILDDIR=_build sh tests/test_seq_examples.sh
set -u

dir=${NB_BUILDDIR:-.}/doc/examples
text=${NB_SEQ_TEXT:-/usr/share/common-licenses/GPL-3}
n=0
failed=0
echo "1..2"
for ex in char_gru attention; do
	n=$((n + 1))
	if [ ! -r "$text" ]; then
		echo "ok $n - $ex # SKIP $text not found"
		continue
	fi
	start=$(date +%s)
	if out=$("$dir/$ex" --steps 30 --every 5 --sample 60 --seed 1 \
	         "$text" 2>&1); then
		rc=0
	else
		rc=1
	fi
	echo "$out" | sed 's/^/# /'
	echo "# $ex: $(($(date +%s) - start)) s"
	if [ $rc -eq 0 ]; then
		echo "ok $n - $ex learns (30 steps)"
	else
		echo "not ok $n - $ex learns (30 steps)"
		failed=$((failed + 1))
	fi
done
[ $failed -eq 0 ]
