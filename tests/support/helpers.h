/*
 * helpers.h - what the Criterion tests share.
 */
#ifndef NB_TEST_HELPERS_H
#define NB_TEST_HELPERS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <nabla/nabla.h>

/* The source tree's top directory (for reference files). */
static inline const char *nbt_srcdir(void)
{
	const char *s = getenv("NB_TOP_SRCDIR");
	return s && *s ? s : ".";
}

/* A persistent tensor from a literal list of values. */
static inline nb_tensor *nbt_tensor(nb_dtype dt, int ndim,
                                    const int64_t *shape, const double *v)
{
	nb_tensor *t = nb_tensor_zeros(dt, ndim, shape);
	cr_assert_not_null(t, "%s", nb_last_error());
	for (size_t i = 0; i < nb_tensor_numel(t); i++)
		nb_tensor_set(t, i, v[i]);
	return t;
}

/* A persistent tensor of N(0, 1) draws from a generator seeded with
 * seed; grad: whether it requires a gradient. */
static inline nb_tensor *nbt_randn(nb_dtype dt, int ndim,
                                   const int64_t *shape, uint64_t seed,
                                   bool grad)
{
	nb_rng r;
	nb_rng_seed(&r, seed);
	nb_tensor *t = nb_tensor_randn(dt, ndim, shape, &r, 0, 1);
	cr_assert_not_null(t, "%s", nb_last_error());
	nb_tensor_set_requires_grad(t, grad);
	return t;
}

/* Asserts that t holds want[0..n-1] within atol + rtol * |want|. */
static inline void nbt_expect_close(const nb_tensor *t, const double *want,
                                    size_t n, double atol, double rtol,
                                    const char *what)
{
	cr_assert_eq(nb_tensor_numel(t), n, "%s: %zu elements, want %zu",
	             what, nb_tensor_numel(t), n);
	for (size_t i = 0; i < n; i++) {
		double got = nb_tensor_get(t, i);
		cr_expect(fabs(got - want[i]) <= atol + rtol * fabs(want[i]) ||
		          (isnan(got) && isnan(want[i])),
		          "%s[%zu] = %.10g, want %.10g", what, i, got, want[i]);
	}
}

#endif
