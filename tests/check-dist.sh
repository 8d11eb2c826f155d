#!/bin/sh
# check-dist.sh - every documentation page (doc/*.md), figure
# (doc/figures/*.svg), example (doc/examples/*.c) and header the examples
# share (doc/examples/*.h) is listed in Makefile.am (DOC_PAGES,
# DOT_FIGURES, EXAMPLE_SOURCES), so that make dist ships it and make
# install installs it under $(docdir); and every example (not a header)
# is also built and run by make check (EXAMPLES, or a plugin in
# check_LTLIBRARIES that tests/test_plugin.sh loads).  Prints TAP.
set -u
top=${NB_TOP_SRCDIR:-.}
am=$top/Makefile.am
echo "1..1"
fail=0
for f in "$top"/doc/*.md "$top"/doc/figures/*.svg "$top"/doc/examples/*.c \
         "$top"/doc/examples/*.h; do
	[ -e "$f" ] || continue
	rel=${f#"$top"/}
	if ! grep -qE "(^|[ 	])$rel([ 	]|\\\\|$)" "$am"; then
		echo "# $rel is not listed in Makefile.am"
		fail=1
	fi
	case $rel in
	doc/examples/*.c)
		prog=${rel%.c}
		if ! grep -qE "^EXAMPLES \\+?= .*$prog|^	.*$prog( |\\\\|$)|$prog\\.la" "$am"; then
			echo "# $prog is neither in EXAMPLES nor a check_LTLIBRARIES plugin (built and run by make check)"
			fail=1
		fi ;;
	esac
done
if [ $fail = 0 ]; then
	echo "ok 1 - every page, figure and example is shipped and installed"
else
	echo "not ok 1 - Makefile.am misses documentation files"
fi
