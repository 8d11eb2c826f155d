/*
 * test_reduce.c - the reductions of issue 15 (min, prod, var, std,
 * logsumexp, norm, argmax, argmin, cumsum, topk) where the reference
 * files cannot reach: NaN and infinite values and gradients (JSON holds
 * neither), error paths, int64 inputs and the typed wrappers of
 * nabla/reduce.h.  Every expected value is PyTorch 1.13's, obtained with
 * the call named beside it.  (Finite values, ties and zeros are checked
 * against PyTorch by test_reference from tests/ref/spec/reduce.py.)
 */
#include "support/helpers.h"

static nb_graph *G;

static void setup(void)
{
	G = nb_graph_new();
	cr_assert_not_null(G, "%s", nb_last_error());
}

static void teardown(void)
{
	nb_graph_free(G);
}

TestSuite(reduce, .init = setup, .fini = teardown);

static const nb_dtype dtypes[] = {NB_F32, NB_F64};

/* Equal within a tolerance, infinities and NaN equal to themselves. */
static bool same(double got, double want)
{
	if (isnan(want) || isinf(want))
		return isnan(want) ? isnan(got) : got == want;
	return fabs(got - want) <= 1e-5 + 1e-4 * fabs(want);
}

static void expect_values(const nb_tensor *t, const double *want, size_t n,
                          const char *what)
{
	cr_assert_not_null(t, "%s: %s", what, nb_graph_errmsg(G));
	cr_assert_eq(nb_tensor_numel(t), n, "%s: %zu elements, want %zu", what,
	             nb_tensor_numel(t), n);
	for (size_t i = 0; i < n; i++)
		cr_expect(same(nb_tensor_get(t, i), want[i]),
		          "%s[%zu] = %g, want %g", what, i, nb_tensor_get(t, i),
		          want[i]);
}

/*
 * op(x; attrs) on x of shape [rows, cols] in both dtypes: the result
 * must be y, and with an all-ones output gradient x's gradient dx
 * (NULL: not checked).
 */
static void check(const char *op, const char *attrs, int64_t rows,
                  int64_t cols, const double *x, const double *y, size_t ny,
                  const double *dx)
{
	for (int d = 0; d < 2; d++) {
		char what[128];
		snprintf(what, sizeof what, "%s %s (%s)", op, attrs,
		         nb_dtype_name(dtypes[d]));
		nb_graph_reset(G);
		nb_tensor *in = nbt_tensor(dtypes[d], 2, (int64_t[]){rows, cols},
		                           x);
		nb_tensor_set_requires_grad(in, true);
		nb_tensor *out = nb_call(G, op, 1, &in, attrs);
		expect_values(out, y, ny, what);
		if (dx) {
			nb_tensor *go = nb_tensor_ones(dtypes[d], nb_tensor_ndim(out),
			                               nb_tensor_shape(out));
			cr_assert_eq(nb_backward(out, go), NB_OK, "%s: %s", what,
			             nb_last_error());
			strcat(what, " gradient");
			expect_values(nb_tensor_grad(in), dx, (size_t)(rows * cols),
			              what);
			nb_tensor_free(go);
		}
		nb_tensor_free(in);
	}
}

/* op(x; attrs) fails with code, naming the op and containing part. */
static void refuses(const char *op, const char *attrs, nb_tensor *x,
                    nb_status code, const char *part)
{
	nb_graph_reset(G);
	cr_expect_null(nb_call(G, op, 1, &x, attrs), "%s %s succeeded", op,
	               attrs);
	cr_expect_eq(nb_graph_status(G), code, "%s %s: %s", op, attrs,
	             nb_graph_errmsg(G));
	cr_expect(strstr(nb_graph_errmsg(G), op) &&
	          strstr(nb_graph_errmsg(G), part), "%s %s: message '%s' "
	          "lacks the op or '%s'", op, attrs, nb_graph_errmsg(G), part);
	nb_graph_clear_error(G);
}

#define NaN NAN
#define Inf INFINITY

/* torch.amin(x, 1) with NaN gives NaN, and that group a NaN gradient;
 * torch.min(x) over all shares the gradient among the NaNs. */
Test(reduce, min_propagates_nan_and_splits_ties)
{
	check("min", "axes=1", 2, 3, (double[]){1, NaN, NaN, 1, 2, 3},
	      (double[]){NaN, 1}, 2, (double[]){NaN, NaN, NaN, 1, 0, 0});
	check("min", "", 2, 3, (double[]){1, NaN, NaN, 1, 2, 3},
	      (double[]){NaN}, 1, (double[]){0, 0.5, 0.5, 0, 0, 0});
	check("min", "", 2, 2, (double[]){-1, 2, -1, -1},
	      (double[]){-1}, 1, (double[]){1.0 / 3, 0, 1.0 / 3, 1.0 / 3});
	nb_tensor *e = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 0));
	refuses("min", "axes=1", e, NB_ESHAPE, "size 0");
	nb_tensor_free(e);
}

/* torch.prod(x, 1): g y / x when the input holds no zero (so an infinite
 * element gets NaN), the product of the others when it does. */
Test(reduce, prod_with_infinities_as_pytorch)
{
	check("prod", "axes=1", 2, 3, (double[]){Inf, 1, 3, 2, 2, 2},
	      (double[]){Inf, 8}, 2, (double[]){NaN, Inf, Inf, 4, 4, 4});
	check("prod", "axes=1", 2, 3, (double[]){Inf, 1, 3, 2, 0, 2},
	      (double[]){Inf, 0}, 2, (double[]){3, Inf, Inf, 0, 4, 0});
	check("prod", "axes=1", 2, 3, (double[]){0, 0, 3, 2, 2, 2},
	      (double[]){0, 8}, 2, (double[]){0, 0, 0, 4, 4, 4});
	/* torch.prod(x) over all with two zeros: 0, NaN elsewhere or not */
	check("prod", "", 1, 4, (double[]){NaN, 0, 3, 0}, (double[]){NaN}, 1,
	      (double[]){0, 0, 0, 0});
	check("prod", "axes=1", 1, 4, (double[]){NaN, 0, 3, 0},
	      (double[]){NaN}, 1, (double[]){0, NaN, NaN, NaN});
}

/* torch.var / torch.std(x, 1, correction=c): N - c <= 0 divides by 0 in
 * forward, and backward divides by N - c unclamped. */
Test(reduce, var_std_without_degrees_of_freedom)
{
	static const double x[] = {1, 2, 3, 2, 2, 2};
	check("var", "axes=1 correction=3", 2, 3, x, (double[]){Inf, NaN}, 2,
	      (double[]){-Inf, NaN, Inf, NaN, NaN, NaN});
	check("var", "axes=1 correction=4", 2, 3, x, (double[]){Inf, NaN}, 2,
	      (double[]){2, 0, -2, 0, 0, 0});
	check("var", "axes=1 correction=-1", 2, 3, x, (double[]){0.5, 0}, 2,
	      (double[]){-0.5, 0, 0.5, 0, 0, 0});
	check("std", "axes=1 correction=3", 2, 3, x, (double[]){Inf, NaN}, 2,
	      (double[]){NaN, NaN, NaN, NaN, NaN, NaN});
	/* std at zero variance: gradient 0 (std_backward's masked_fill) */
	check("std", "axes=1", 2, 3, x, (double[]){1, 0}, 2,
	      (double[]){-0.5, 0, 0.5, 0, 0, 0});
	/* one element, correction 1: NaN, and a NaN gradient */
	check("var", "axes=1", 2, 1, (double[]){1, 1}, (double[]){NaN, NaN}, 2,
	      (double[]){NaN, NaN});
	check("std", "axes=1", 2, 1, (double[]){1, 1}, (double[]){NaN, NaN}, 2,
	      (double[]){NaN, NaN});
	/* an empty axis: NaN */
	check("var", "axes=1", 2, 0, NULL, (double[]){NaN, NaN}, 2, NULL);
}

/* torch.logsumexp(x, 1) on rows of infinities and NaN, and empty rows. */
Test(reduce, logsumexp_infinite_rows)
{
	check("logsumexp", "axes=1", 5, 2,
	      (double[]){-Inf, -Inf, Inf, 1, Inf, -Inf, NaN, 1, 1, 2},
	      (double[]){-Inf, Inf, Inf, NaN, 2.3132617}, 5,
	      (double[]){NaN, NaN, NaN, 0, NaN, 0, NaN, NaN, 0.26894142,
	                 0.73105858});
	check("logsumexp", "axes=1", 2, 0, NULL, (double[]){-Inf, -Inf}, 2,
	      NULL);
	check("logsumexp", "", 1, 2, (double[]){1e30, 1e30},
	      (double[]){1e30}, 1, (double[]){1, 1}); /* log 2 is lost */
}

/* torch.linalg.vector_norm(x, ord, dim=1): NaN, empty axes, zeros. */
Test(reduce, norm_edges)
{
	check("norm", "p=inf axes=1", 1, 3, (double[]){1, NaN, -3},
	      (double[]){NaN}, 1, (double[]){0, 0, 0});
	check("norm", "p=2 axes=1", 2, 0, NULL, (double[]){0, 0}, 2, NULL);
	check("norm", "p=3 axes=1", 2, 0, NULL, (double[]){0, 0}, 2, NULL);
	check("norm", "p=-1 axes=1", 2, 3, (double[]){1, 2, -3, 0, 1, 2},
	      (double[]){0.54545455, 0}, 2,
	      (double[]){0.29752066, 0.074380165, -0.033057851, 0, 0, 0});
	nb_tensor *e = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 0));
	refuses("norm", "p=inf axes=1", e, NB_ESHAPE, "size 0");
	refuses("norm", "p=-inf", e, NB_ESHAPE, "size 0");
	nb_tensor_free(e);
}

/* torch.argmax / argmin: NaN is both the largest and the smallest. */
Test(reduce, argmax_argmin_nan_and_ties)
{
	static const double x[] = {1, NaN, 3, NaN, 2, 5, 5, 1};
	check("argmax", "axis=1", 2, 4, x, (double[]){1, 1}, 2, NULL);
	check("argmin", "axis=1", 2, 4, x, (double[]){1, 3}, 2, NULL);
	check("argmax", "", 2, 4, x, (double[]){1}, 1, NULL);
	check("argmax", "axis=1", 2, 4, (double[]){0, 2, 2, 1, 7, 7, 7, 7},
	      (double[]){1, 0}, 2, NULL);
	check("argmin", "axis=0", 2, 4, (double[]){0, 2, 2, 1, 7, 2, 2, 1},
	      (double[]){0, 0, 0, 0}, 4, NULL);
}

Test(reduce, argmax_shapes_dtypes_and_errors)
{
	nb_tensor *x = nbt_tensor(NB_I64, NB_SHAPE(2, 3),
	                          (double[]){4, 9, 9, 9, 1, -3});
	nb_tensor *y = nb_argmax(G, x, 0, false, true);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(G));
	cr_expect_eq(nb_tensor_dtype(y), NB_I64);
	cr_expect_eq(nb_tensor_ndim(y), 2);
	cr_expect_eq(nb_tensor_shape(y)[0] * nb_tensor_shape(y)[1], 1);
	cr_expect_eq(nb_tensor_get(y, 0), 1);
	y = nb_argmin(G, x, -1, true, false);
	expect_values(y, (double[]){0, 2}, 2, "argmin int64 axis=-1");
	cr_expect(!nb_tensor_requires_grad(y));
	refuses("argmax", "axis=0,1", x, NB_EINVAL, "one axis");
	refuses("argmax", "axis=2", x, NB_EINVAL, "out of range");
	nb_tensor_free(x);

	nb_tensor *e = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 0));
	refuses("argmax", "axis=1", e, NB_ESHAPE, "size 0");
	refuses("argmin", "", e, NB_ESHAPE, "size 0");
	nb_graph_reset(G);
	y = nb_call(G, "argmax", 1, &e, "axis=0");
	cr_expect_not_null(y, "%s", nb_graph_errmsg(G));
	cr_expect_eq(nb_tensor_numel(y), 0);
	nb_tensor_free(e);

	nb_tensor *b = nb_tensor_zeros(NB_BOOL, NB_SHAPE(3));
	refuses("argmax", "", b, NB_EDTYPE, "bool");
	refuses("cumsum", "", b, NB_EDTYPE, "bool");
	nb_tensor_free(b);

	/* a 0-d input: axis 0 and -1 are its one axis, as PyTorch */
	nb_tensor *s = nb_tensor_full(NB_F64, 0, NULL, 5);
	nb_graph_reset(G);
	y = nb_call(G, "argmax", 1, &s, "axis=-1 keepdim=1");
	cr_assert_not_null(y, "%s", nb_graph_errmsg(G));
	cr_expect_eq(nb_tensor_ndim(y), 0);
	cr_expect_eq(nb_tensor_get(y, 0), 0);
	nb_tensor_free(s);
}

/* torch.cumsum on int64 stays int64; float gradients reverse-cumsum. */
Test(reduce, cumsum_int64_and_gradient)
{
	nb_tensor *x = nbt_tensor(NB_I64, NB_SHAPE(3), (double[]){3, 1, 3});
	nb_tensor *y = nb_cumsum(G, x, 0);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(G));
	cr_expect_eq(nb_tensor_dtype(y), NB_I64);
	expect_values(y, (double[]){3, 4, 7}, 3, "cumsum int64");
	nb_tensor_free(x);
	check("cumsum", "axis=0", 2, 2, (double[]){1, 2, 3, 4},
	      (double[]){1, 2, 4, 6}, 4, (double[]){2, 2, 1, 1});
	check("cumsum", "axis=1", 2, 2, (double[]){1, Inf, NaN, 4},
	      (double[]){1, Inf, NaN, NaN}, 4, (double[]){2, 1, 2, 1});
}

/* torch.topk: NaN is the largest; ties as its CPU kernel; k too big. */
Test(reduce, topk_values_indices_and_errors)
{
	for (int d = 0; d < 2; d++) {
		nb_graph_reset(G);
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(7),
		                          (double[]){1, 3, 3, 2, 3, 1, NaN});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *idx = NULL;
		nb_tensor *v = nb_topk(G, x, 3, -1, true, true, &idx);
		cr_assert_not_null(v, "%s", nb_graph_errmsg(G));
		expect_values(v, (double[]){NaN, 3, 3}, 3, "topk values");
		expect_values(idx, (double[]){6, 1, 4}, 3, "topk indices");
		cr_expect_eq(nb_tensor_dtype(idx), NB_I64);
		cr_expect(nb_tensor_requires_grad(v));
		cr_expect(!nb_tensor_requires_grad(idx));
		nb_tensor *go = nbt_tensor(dtypes[d], NB_SHAPE(3),
		                           (double[]){1, 2, 3});
		cr_assert_eq(nb_backward(v, go), NB_OK, "%s", nb_last_error());
		expect_values(nb_tensor_grad(x), (double[]){0, 2, 0, 0, 3, 0, 1},
		              7, "topk gradient");
		nb_tensor_free(go);
		v = nb_topk(G, x, 4, 0, false, false, &idx);
		expect_values(v, (double[]){1, 1, 2, 3}, 4, "topk smallest");
		expect_values(idx, (double[]){0, 5, 3, 1}, 4, "topk smallest");
		nb_tensor_free(x);
	}
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3));
	refuses("topk", "k=4", x, NB_ESHAPE, "k = 4 is larger than the size 3");
	refuses("topk", "k=3 axis=2", x, NB_EINVAL, "out of range");
	nb_graph_reset(G);
	cr_expect_eq(nb_call(G, "topk", 1, &x, "k=-1"), NULL);
	cr_expect_eq(nb_graph_status(G), NB_EINVAL);
	nb_tensor_free(x);
}

/* The typed wrappers pass their arguments as the attribute strings do. */
Test(reduce, wrappers_match_attribute_strings)
{
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(2, 3),
	                          (double[]){1, -2, 3, 0.5, 4, -1});
	const int ax1[] = {1}, ax01[] = {0, 1};
	expect_values(nb_min(G, x, 1, ax1, false), (double[]){-2, -1}, 2,
	              "nb_min");
	expect_values(nb_prod(G, x, 1, ax1, true), (double[]){-6, -2}, 2,
	              "nb_prod");
	expect_values(nb_var(G, x, 2, ax01, 0, false), (double[]){4.3680556},
	              1, "nb_var");
	expect_values(nb_std(G, x, 1, ax1, 1, false),
	              (double[]){2.5166115, 2.5658007}, 2, "nb_std");
	expect_values(nb_logsumexp(G, x, 0, NULL, false),
	              (double[]){4.3764348}, 1, "nb_logsumexp");
	expect_values(nb_norm(G, x, INFINITY, 1, ax1, false),
	              (double[]){3, 4}, 2, "nb_norm");
	expect_values(nb_norm(G, x, 1, 0, NULL, false), (double[]){11.5}, 1,
	              "nb_norm p=1");
	expect_values(nb_argmax(G, x, 1, true, false), (double[]){2, 1}, 2,
	              "nb_argmax");
	expect_values(nb_argmin(G, x, 0, false, false), (double[]){1}, 1,
	              "nb_argmin");
	expect_values(nb_cumsum(G, x, -1), (double[]){1, -1, 2, 0.5, 4.5, 3.5},
	              6, "nb_cumsum");
	cr_expect_null(nb_prod(G, x, 1, NULL, false));
	cr_expect_eq(nb_graph_status(G), NB_EINVAL);
	nb_tensor_free(x);
}
