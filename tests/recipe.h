/*
 * recipe.h - the tests' reader of an op's gradcheck recipe (nb_op.cases,
 * see nabla/op.h): "[3,4] [4]p; [4,5] [4]i5|axis=1" gives cases of
 * input shapes, flags and an attribute string.  test_edge and test_oom
 * build the inputs of every registered op from it.
 */
#ifndef NB_TEST_RECIPE_H
#define NB_TEST_RECIPE_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>

typedef struct rc_input {
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	int64_t classes; /* > 0: int64 class indices in [0, classes) */
	bool positive, absent, constant;
} rc_input;

typedef struct rc_case {
	int n_in;
	rc_input in[NB_MAX_INPUTS];
	char attrs[128];
} rc_case;

/* Parses the case of length len at s; false if malformed. */
static inline bool rc_parse_case(const char *s, size_t len, rc_case *c)
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
		rc_input *in = &c->in[c->n_in++];
		for (s++; s < end && *s != ']';) {
			char *e;
			long v = strtol(s, &e, 10);
			if (e == s || v < 0 || in->ndim == NB_MAX_DIMS)
				return false;
			in->shape[in->ndim++] = v;
			s = *e == ',' ? e + 1 : e;
		}
		if (s == end)
			return false;
		for (s++; s < end && !isspace((unsigned char)*s); s++) {
			if (*s == 'p')
				in->positive = true;
			else if (*s == '-')
				in->absent = true;
			else if (*s == 'c')
				in->constant = true;
			else if (*s == 'i') {
				char *e;
				in->classes = strtol(s + 1, &e, 10);
				s = e - 1;
			} else
				return false;
		}
	}
	return true;
}

/* Every case of op's recipe into cs (up to max); returns the count. */
static inline int rc_parse(const nb_op *op, rc_case *cs, int max)
{
	int n = 0;
	for (const char *s = op->cases; s && *s && n < max;) {
		size_t len = strcspn(s, ";");
		if (rc_parse_case(s, len, &cs[n]))
			n++;
		s += len;
		if (*s == ';')
			s++;
	}
	return n;
}

/*
 * Makes the inputs of case c in dtype dt: float values from `fill`
 * (called with the input and element index; NULL: a fixed pattern in
 * [-2, 2], or [0.5, 2] for positive inputs), class indices cycling
 * through [0, classes).  Float inputs that are not constant require
 * grad.  Returns false (inputs made so far freed) when a constructor
 * fails; nb_last_status() says why.
 */
typedef double (*rc_fill_fn)(const rc_input *in, size_t i, void *ud);

static inline double rc_default_fill(const rc_input *in, size_t i)
{
	double u = (double)((i * 7919 + 13) % 97) / 96.0; /* in [0, 1] */
	return in->positive ? 0.5 + 1.5 * u : -2 + 4 * u;
}

static inline bool rc_make_inputs(const rc_case *c, nb_dtype dt,
                                  rc_fill_fn fill, void *ud,
                                  nb_tensor **in)
{
	for (int i = 0; i < c->n_in; i++) {
		const rc_input *ri = &c->in[i];
		in[i] = NULL;
		if (ri->absent)
			continue;
		nb_tensor *t = nb_tensor_zeros(ri->classes ? NB_I64 : dt,
		                               ri->ndim, ri->shape);
		if (!t) {
			for (int k = 0; k < i; k++)
				nb_tensor_free(in[k]);
			return false;
		}
		for (size_t j = 0; j < nb_tensor_numel(t); j++)
			nb_tensor_set(t, j, ri->classes
			    ? (double)(int64_t)(j % (size_t)ri->classes)
			    : fill ? fill(ri, j, ud) : rc_default_fill(ri, j));
		if (!ri->classes && !ri->constant)
			nb_tensor_set_requires_grad(t, true);
		in[i] = t;
	}
	return true;
}

static inline void rc_free_inputs(int n, nb_tensor **in)
{
	for (int i = 0; i < n; i++) {
		nb_tensor_free(in[i]);
		in[i] = NULL;
	}
}

#endif
