#!/bin/sh
# check-exports.sh - the symbols libnabla.so exports are exactly the nb_
# functions (and variables) declared in include/nabla/*.h: nothing
# private leaks out, nothing declared is missing.  After jansson's
# test/suites/api/check-exports.  Prints TAP.
set -u
top=${NB_TOP_SRCDIR:-.}
build=${NB_BUILDDIR:-.}
lib=$build/.libs/libnabla.so
echo "1..1"
if [ ! -f "$lib" ]; then
	echo "ok 1 # SKIP no shared library ($lib)"
	exit 0
fi
if ! command -v nm >/dev/null 2>&1; then
	echo "ok 1 # SKIP nm not found"
	exit 0
fi
tmp=${TMPDIR:-/tmp}/nb-exports.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# Defined text, data and bss symbols of the dynamic symbol table.
nm -D --defined-only "$lib" |
	awk '$2 ~ /^[TDBRVW]$/ || $2 ~ /^[tdbrvw]$/ { print $2, $3 }' |
	sed 's/@.*//' | sort -u >"$tmp.all"
awk '$1 ~ /^[TDB]$/ { print $2 }' "$tmp.all" | sort -u >"$tmp.exported"

# The names declared in the headers (tests/support/declared.sh).
sh "$top/tests/support/declared.sh" "$top" >"$tmp.declared"

fail=0
bad=$(grep -v '^nb_' "$tmp.exported")
if [ -n "$bad" ]; then
	echo "# exported without the nb_ prefix:"
	echo "$bad" | sed 's/^/#   /'
	fail=1
fi
missing=$(comm -23 "$tmp.declared" "$tmp.exported")
if [ -n "$missing" ]; then
	echo "# declared in include/nabla/ but not exported:"
	echo "$missing" | sed 's/^/#   /'
	fail=1
fi
extra=$(comm -13 "$tmp.declared" "$tmp.exported")
if [ -n "$extra" ]; then
	echo "# exported but not declared in include/nabla/:"
	echo "$extra" | sed 's/^/#   /'
	fail=1
fi
n=$(wc -l <"$tmp.exported")
d=$(wc -l <"$tmp.declared")
if [ "$d" -lt 10 ]; then
	echo "# only $d declarations found: the header scan is broken"
	fail=1
fi
if [ $fail = 0 ]; then
	echo "ok 1 - $n exported symbols match the $d declared functions"
else
	echo "not ok 1 - exported symbols differ from the headers"
fi
