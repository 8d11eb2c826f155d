#!/bin/sh
# check-null.sh - every function declared in include/nabla/*.h has a
# NULL-argument test in tests/test_null.c, marked COVERS(nb_name) (or
# UNARY / BINARY, which cover op wrappers): a new
# public function without one fails make check.  The header scan is
# tests/support/declared.sh's (comments and preprocessor lines dropped,
# every nb_ name followed by "(" but not "(*").  Prints TAP.
set -u
top=${NB_TOP_SRCDIR:-.}
src=$top/tests/test_null.c
echo "1..1"
tmp=${TMPDIR:-/tmp}/nb-null.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# The names declared in the headers (tests/support/declared.sh).
sh "$top/tests/support/declared.sh" "$top" >"$tmp.declared"
grep -oE '(COVERS|UNARY|BINARY)\(nb_[a-z0-9_]+[,)]' "$src" |
	sed 's/^[A-Z]*(//; s/[,)]$//' | sort -u >"$tmp.covered"

fail=0
d=$(wc -l <"$tmp.declared")
if [ "$d" -lt 10 ]; then
	echo "# only $d declarations found: the header scan is broken"
	fail=1
fi
missing=$(comm -23 "$tmp.declared" "$tmp.covered")
if [ -n "$missing" ]; then
	echo "# declared in include/nabla/ but without COVERS() in tests/test_null.c:"
	echo "$missing" | sed 's/^/#   /'
	fail=1
fi
stale=$(comm -13 "$tmp.declared" "$tmp.covered")
if [ -n "$stale" ]; then
	echo "# COVERS() in tests/test_null.c for names no header declares:"
	echo "$stale" | sed 's/^/#   /'
	fail=1
fi
if [ $fail = 0 ]; then
	echo "ok 1 - tests/test_null.c covers the $d declared functions"
else
	echo "not ok 1 - NULL tests and headers differ"
fi
