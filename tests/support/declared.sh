#!/bin/sh
# declared.sh TOP - prints, sorted, the functions include/nabla/*.h
# declare: comments and preprocessor lines (with their continuation
# lines) removed, every nb_ identifier
# that follows a space or "*" and is followed by "(" but not "(*" (the
# return type of a function-pointer typedef, "nb_status
# (*nb_shape_fn)(...)").  Used by tests/check-exports.sh and
# tests/check-null.sh.
set -u
for h in "$1"/include/nabla/*.h; do
	awk '
	{
		line = $0
		out = ""
		while (length(line)) {
			if (incomment) {
				i = index(line, "*/")
				if (!i) { line = ""; break }
				line = substr(line, i + 2)
				incomment = 0
			} else {
				i = index(line, "/*")
				if (!i) { out = out line; line = ""; break }
				out = out substr(line, 1, i - 1)
				line = substr(line, i + 2)
				incomment = 1
			}
		}
		print out
	}' "$h"
done | sed -e ':a' -e '/\\$/{N;s/\\\n/ /;ba' -e '}' |
	grep -v '^[[:space:]]*#' |
	sed 's/^/ /' |
	grep -oE '[*[:space:]]nb_[a-z0-9_]*[[:space:]]*\(([^*]|$)' |
	sed 's/^[*[:space:]]*//; s/[[:space:]]*(.*$//' |
	sort -u
