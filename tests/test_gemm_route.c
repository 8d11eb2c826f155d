/*
 * test_gemm_route.c - the libraries behind float32 matrix products
 * (lib/blas.c): linear's forward (A B^T), input gradient (A B) and
 * weight gradient (A^T B) give the same values, within rounding, under
 * NB_GEMM=openblas, onednn and auto, and the same as a float64 sum
 * computed here; a NaN in the input reaches exactly its own row; and
 * an unknown NB_GEMM falls back to the automatic route.
 */
#include <math.h>
#include "support/helpers.h"

static const char *const routes[] = {"openblas", "onednn", "auto",
                                     "no-such-library"};

/* |a - b| within float32 rounding of a sum of k terms of size ~1. */
static void near(double a, double b, int64_t k, const char *what,
                 const char *route)
{
	double tol = 1e-5 * sqrt((double)k) * (1 + fabs(b));
	cr_expect(fabs(a - b) <= tol, "%s under NB_GEMM=%s: %.9g vs %.9g",
	          what, route, a, b);
}

/* y = x w^T, loss sum(y * y): checks y, dx = 2y w and dw = 2y^T x. */
static void check_linear(int64_t m, int64_t n, int64_t k)
{
	nb_tensor *x = nbt_randn(NB_F32, NB_SHAPE(m, k), 1, true);
	nb_tensor *w = nbt_randn(NB_F32, NB_SHAPE(n, k), 2, true);
	for (size_t r = 0; r < sizeof routes / sizeof *routes; r++) {
		setenv("NB_GEMM", routes[r], 1);
		nb_graph *g = nb_graph_new();
		nb_tensor *y = nb_linear(g, x, w, NULL);
		nb_tensor *l = nb_sum(g, nb_mul(g, y, y), 0, NULL, false);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
		const nb_tensor *gx = nb_tensor_grad(x), *gw = nb_tensor_grad(w);
		for (int64_t i = 0; i < m; i++)
			for (int64_t j = 0; j < n; j++) {
				double s = 0;
				for (int64_t p = 0; p < k; p++)
					s += nb_tensor_get(x, (size_t)(i * k + p)) *
					     nb_tensor_get(w, (size_t)(j * k + p));
				near(nb_tensor_get(y, (size_t)(i * n + j)), s, k,
				     "y", routes[r]);
			}
		for (int64_t i = 0; i < m; i++)
			for (int64_t p = 0; p < k; p++) {
				double s = 0;
				for (int64_t j = 0; j < n; j++)
					s += 2 * nb_tensor_get(y, (size_t)(i * n + j)) *
					     nb_tensor_get(w, (size_t)(j * k + p));
				near(nb_tensor_get(gx, (size_t)(i * k + p)), s,
				     n * 8, "dx", routes[r]);
			}
		for (int64_t j = 0; j < n; j++)
			for (int64_t p = 0; p < k; p++) {
				double s = 0;
				for (int64_t i = 0; i < m; i++)
					s += 2 * nb_tensor_get(y, (size_t)(i * n + j)) *
					     nb_tensor_get(x, (size_t)(i * k + p));
				near(nb_tensor_get(gw, (size_t)(j * k + p)), s,
				     m * 8, "dw", routes[r]);
			}
		nb_tensor_zero_grad(x);
		nb_tensor_zero_grad(w);
		nb_graph_free(g);
	}
	unsetenv("NB_GEMM");
	nb_tensor_free(x);
	nb_tensor_free(w);
}

/* Rows below and above the automatic route's 128-row threshold, a
 * recurrent step's shape, and sizes that are not multiples of a
 * vector or a block. */
Test(gemm_route, linear_agrees_across_libraries)
{
	check_linear(1, 5, 3);
	check_linear(32, 64, 16);
	check_linear(130, 33, 70);
	check_linear(200, 9, 257);
}

Test(gemm_route, nan_reaches_its_own_row_only)
{
	for (size_t r = 0; r < sizeof routes / sizeof *routes; r++) {
		setenv("NB_GEMM", routes[r], 1);
		nb_tensor *x = nbt_randn(NB_F32, NB_SHAPE(140, 20), 3, true);
		nb_tensor *w = nbt_randn(NB_F32, NB_SHAPE(30, 20), 4, true);
		nb_tensor_set(x, 5 * 20 + 7, NAN);
		nb_graph *g = nb_graph_new();
		nb_tensor *y = nb_linear(g, x, w, NULL);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		for (size_t i = 0; i < 140 * 30; i++)
			cr_expect(isnan(nb_tensor_get(y, i)) == (i / 30 == 5),
			          "NB_GEMM=%s: element %zu", routes[r], i);
		nb_graph_free(g);
		nb_tensor_free(x);
		nb_tensor_free(w);
	}
	unsetenv("NB_GEMM");
}
