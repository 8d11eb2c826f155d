/*
 * recipe.h - every registered op's inputs, made from its gradcheck
 * recipe (nb_op_test.cases, read by the library's lib/check/recipe.c, which
 * test_edge and test_oom compile in).
 */
#ifndef NB_TEST_RECIPE_H
#define NB_TEST_RECIPE_H

#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>
#include "../../lib/check/recipe.h" /* the library's parser, compiled in */

typedef nb_recipe_input rc_input;
typedef nb_recipe_case rc_case;

typedef struct rc_list {
	rc_case *cs;
	int n, max;
} rc_list;

static inline int rc_add(const nb_recipe_case *c, int index,
                         const char *text, size_t len, void *ud)
{
	rc_list *l = ud;
	(void)index, (void)text, (void)len;
	if (c && l->n < l->max)
		l->cs[l->n++] = *c;
	return l->n == l->max;
}

/* The cases of op's recipe that parse into cs (up to max); the count
 * (0 for an op without test metadata). */
static inline int rc_parse(const nb_op *op, rc_case *cs, int max)
{
	rc_list l = {cs, 0, max};
	if (max > 0 && op->test && op->test->cases)
		nb__recipe_each(op->test->cases, rc_add, &l);
	return l.n;
}

/*
 * Makes the inputs of case c in dtype dt: float values from `fill`
 * (called with the input and element index; NULL: a fixed pattern in
 * [-2, 2], or [0.5, 2] for positive inputs), class indices cycling
 * through [0, classes), masks true at every third element from 1.  Float inputs that are not constant require
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
		nb_tensor *t = nb_tensor_zeros(ri->classes ? NB_I64
		                               : ri->mask ? NB_BOOL : dt,
		                               ri->ndim, ri->shape);
		if (!t) {
			for (int k = 0; k < i; k++)
				nb_tensor_free(in[k]);
			return false;
		}
		for (size_t j = 0; j < nb_tensor_numel(t); j++)
			nb_tensor_set(t, j, ri->classes
			    ? (double)(int64_t)(j % (size_t)ri->classes)
			    : ri->mask ? (double)(j % 3 == 1)
			    : fill ? fill(ri, j, ud) : rc_default_fill(ri, j));
		if (!ri->classes && !ri->mask && !ri->constant)
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
