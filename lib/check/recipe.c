/*
 * recipe.c - the reader of gradcheck recipes; see recipe.h.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "recipe.h"

/* The flags after "]": p, c, -, b, iK; false on anything else. */
static bool parse_flags(const char **sp, const char *end,
                        nb_recipe_input *in)
{
	const char *s = *sp;
	for (; s < end && !isspace((unsigned char)*s); s++) {
		if (*s == 'p') {
			in->positive = true;
		} else if (*s == '-') {
			in->absent = true;
		} else if (*s == 'c') {
			in->constant = true;
		} else if (*s == 'b') {
			in->mask = true;
		} else if (*s == 'i') {
			char *e;
			in->classes = strtol(s + 1, &e, 10);
			if (in->classes <= 0 || e > end)
				return false;
			s = e - 1;
		} else {
			return false;
		}
	}
	*sp = s;
	return true;
}

bool nb__recipe_parse_case(const char *s, size_t len, nb_recipe_case *c)
{
	const char *end = s + len, *bar = memchr(s, '|', len);
	memset(c, 0, sizeof *c);
	if (bar) {
		size_t n = (size_t)(end - bar - 1);
		if (n >= sizeof c->attrs)
			return false;
		memcpy(c->attrs, bar + 1, n);
		end = bar;
	}
	while (s < end) {
		while (s < end && isspace((unsigned char)*s))
			s++;
		if (s == end)
			break;
		if (*s != '[' || c->n_in == NB_MAX_INPUTS)
			return false;
		nb_recipe_input *in = &c->in[c->n_in++];
		for (s++; s < end && *s != ']';) {
			char *e;
			long v = strtol(s, &e, 10);
			if (e == s || e > end || v < 0 ||
			    in->ndim == NB_MAX_DIMS)
				return false;
			in->shape[in->ndim++] = v;
			s = e < end && *e == ',' ? e + 1 : e;
		}
		if (s == end)
			return false;
		s++;
		if (!parse_flags(&s, end, in))
			return false;
	}
	return true;
}

int nb__recipe_each(const char *cases, nb_recipe_fn fn, void *ud)
{
	int index = 0;
	for (const char *s = cases; s && *s; index++) {
		size_t len = strcspn(s, ";");
		nb_recipe_case c;
		bool ok = nb__recipe_parse_case(s, len, &c);
		int rc = fn(ok ? &c : NULL, index, s, len, ud);
		if (rc)
			return rc;
		s += len;
		if (*s == ';')
			s++;
	}
	return 0;
}
