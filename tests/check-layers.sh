#!/bin/sh
# check-layers.sh - the library's layers call only downwards, and no two
# of its files call each other in a circle.  From nm on the objects:
# each file's undefined symbols are resolved to the file that defines
# them, giving a file graph; an edge from a lower layer to a higher one,
# or any cycle, fails.  The layers, bottom up (doc/architecture.md):
#   lib/ (the engine)  lib/ops/  lib/nn/  lib/io/  lib/dot/  lib/check/
#   lib/dist/
# Prints TAP.
set -u
build=${NB_BUILDDIR:-.}
echo "1..2"
if ! command -v nm >/dev/null 2>&1; then
	echo "ok 1 # SKIP nm not found"
	echo "ok 2 # SKIP nm not found"
	exit 0
fi
tmp=${TMPDIR:-/tmp}/nb-layers.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# The library's objects: libtool's PIC copies (lib/**/.libs/), else the
# static ones.
objs=$(find "$build/lib" -path '*/.libs/libnabla_la-*.o' 2>/dev/null | sort)
[ -n "$objs" ] ||
	objs=$(find "$build/lib" -name 'libnabla_la-*.o' 2>/dev/null | sort)
if [ -z "$objs" ]; then
	echo "not ok 1 - no objects of libnabla under $build/lib"
	echo "not ok 2 - no objects"
	exit 0
fi

# "file symbol D|U" for every global symbol; file as lib/nn/spec.c.
for o in $objs; do
	f=$(echo "$o" | sed -e "s#^$build/##" -e 's#/\.libs/#/#' \
	    -e 's#libnabla_la-##' -e 's#\.o$#.c#')
	nm "$o" | awk -v f="$f" '
		NF == 3 && $2 ~ /^[TDBRC]$/ { print f, $3, "D" }
		NF == 2 && $1 == "U" { print f, $2, "U" }'
done >"$tmp.syms"

# file -> file edges.
awk '
	$3 == "D" { def[$2] = $1 }
	$3 == "U" { use[++n] = $1 SUBSEP $2 }
	END {
		for (i = 1; i <= n; i++) {
			split(use[i], p, SUBSEP)
			if ((p[2] in def) && def[p[2]] != p[1])
				print p[1], def[p[2]], p[2]
		}
	}' "$tmp.syms" | sort -u >"$tmp.edges"

# 1: no upward edge.
awk '
	function rank(f) {
		if (f ~ /^lib\/ops\//) return 1
		if (f ~ /^lib\/nn\//) return 2
		if (f ~ /^lib\/io\//) return 3
		if (f ~ /^lib\/dot\//) return 4
		if (f ~ /^lib\/check\//) return 5
		if (f ~ /^lib\/dist\//) return 6
		if (f ~ /^lib\/[^\/]*$/) return 0
		return 9
	}
	rank($1) < rank($2) || rank($1) == 9 {
		printf "# upward: %s calls %s (%s)\n", $1, $2, $3; bad = 1
	}
	END { exit bad }' "$tmp.edges" >"$tmp.up"
if [ $? -eq 0 ]; then
	echo "ok 1 - every call goes to the same layer or one below"
else
	cat "$tmp.up"
	echo "not ok 1 - calls upwards between layers"
fi

# 2: no cycle in the file graph (depth-first search, grey = on stack).
awk '
	{ adj[$1] = adj[$1] " " $2; node[$1] = node[$2] = 1 }
	function dfs(u,    i, n, v, vs) {
		state[u] = 1
		stack[++depth] = u
		n = split(adj[u], vs, " ")
		for (i = 1; i <= n; i++) {
			v = vs[i]
			if (state[v] == 1) {
				for (k = depth; k >= 1 && stack[k] != v; k--)
					;
				path = v
				for (k++; k <= depth; k++)
					path = path " -> " stack[k]
				if (!(path in shown))
					printf "# cycle: %s -> %s\n", path, v
				shown[path] = 1
				bad = 1
			} else if (!state[v])
				dfs(v)
		}
		depth--
		state[u] = 2
	}
	END {
		for (u in node)
			if (!state[u])
				dfs(u)
		exit bad
	}' "$tmp.edges" >"$tmp.cyc"
if [ $? -eq 0 ]; then
	echo "ok 2 - no file calls back into a file that calls it"
else
	cat "$tmp.cyc"
	echo "not ok 2 - circular calls between files"
fi
