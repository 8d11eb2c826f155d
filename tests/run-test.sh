#!/bin/sh
# Runs one test under the TAP driver: Criterion binaries print TAP on
# stdout; shell tests print TAP themselves.
case "$1" in
*.sh) exec "$@" ;;
*) exec "$@" --tap=- ;;
esac
