#!/bin/sh
# Runs one test under the TAP driver.  Criterion binaries print TAP on
# stdout; shell tests print TAP themselves; the programs of doc/examples
# are plain programs, reported as one TAP test by their exit status.
case "$1" in
*.sh) exec "$@" ;;
*/examples/*)
	echo "1..1"
	if out=$("$@" 2>&1); then
		echo "$out" | sed 's/^/# /'
		echo "ok 1 - $1"
	else
		echo "$out" | sed 's/^/# /'
		echo "not ok 1 - $1"
	fi
	;;
*) exec "$@" --tap=- ;;
esac
