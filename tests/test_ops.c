/*
 * test_ops.c - the semantics the base ops promise in nabla/ops.h, on
 * small hand-computed cases: broadcasting and gradient reduction to each
 * input's shape, reductions with negative axes and keepdim, max's
 * tie-breaking, 1-D matmul operands, reshape's -1, permute validation,
 * softmax / log_softmax at extreme logits, cross_entropy's ignore_index.
 * (The numerics of every op are also checked against PyTorch by
 * test_reference and against finite differences by test_gradcheck.)
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

TestSuite(ops, .init = setup, .fini = teardown);

/* A graph leaf that requires grad. */
static nb_tensor *leaf(nb_dtype dt, int ndim, const int64_t *shape,
                       const double *v)
{
	nb_tensor *t = nb_graph_tensor(G, dt, ndim, shape);
	cr_assert_not_null(t, "%s", nb_graph_errmsg(G));
	for (size_t i = 0; i < nb_tensor_numel(t); i++)
		nb_tensor_set(t, i, v ? v[i] : 0);
	cr_assert_eq(nb_tensor_set_requires_grad(t, true), NB_OK);
	return t;
}

static nb_tensor *konst(nb_dtype dt, int ndim, const int64_t *shape,
                        const double *v)
{
	nb_tensor *t = nb_graph_tensor(G, dt, ndim, shape);
	cr_assert_not_null(t, "%s", nb_graph_errmsg(G));
	for (size_t i = 0; i < nb_tensor_numel(t); i++)
		nb_tensor_set(t, i, v[i]);
	return t;
}

static void expect_shape(const nb_tensor *t, int ndim, const int64_t *shape,
                         const char *what)
{
	cr_assert_not_null(t, "%s: %s", what, nb_graph_errmsg(G));
	cr_expect_eq(nb_tensor_ndim(t), ndim, "%s: rank %d, want %d", what,
	             nb_tensor_ndim(t), ndim);
	for (int i = 0; i < ndim && i < nb_tensor_ndim(t); i++)
		cr_expect_eq(nb_tensor_shape(t)[i], shape[i], "%s: dim %d is %lld",
		             what, i, (long long)nb_tensor_shape(t)[i]);
}

/* backward from y with output gradient go (NULL: y is one element). */
static void back(nb_tensor *y, const double *go)
{
	nb_tensor *g = NULL;
	if (go)
		g = konst(nb_tensor_dtype(y), nb_tensor_ndim(y),
		          nb_tensor_shape(y), go);
	cr_assert_eq(nb_backward(y, g), NB_OK, "%s", nb_graph_errmsg(G));
}

static void expect_grad(const nb_tensor *x, const double *want,
                        const char *what)
{
	const nb_tensor *g = nb_tensor_grad(x);
	cr_assert_not_null(g, "%s: no gradient", what);
	cr_expect_eq(nb_tensor_ndim(g), nb_tensor_ndim(x), "%s", what);
	nbt_expect_close(g, want, nb_tensor_numel(x), 1e-12, 1e-6, what);
}

static void expect_values(const nb_tensor *t, const double *want,
                          const char *what)
{
	cr_assert_not_null(t, "%s: %s", what, nb_graph_errmsg(G));
	nbt_expect_close(t, want, nb_tensor_numel(t), 1e-12, 1e-6, what);
}

static void expect_error(const nb_tensor *r, nb_status code,
                         const char *sub, const char *what)
{
	cr_expect_null(r, "%s", what);
	cr_expect_eq(nb_graph_status(G), code, "%s: %s (%s)", what,
	             nb_strerror(nb_graph_status(G)), nb_graph_errmsg(G));
	if (sub)
		cr_expect(strstr(nb_graph_errmsg(G), sub) != NULL,
		          "%s: message '%s' lacks '%s'", what, nb_graph_errmsg(G),
		          sub);
	nb_graph_clear_error(G);
}

/* ---- broadcasting ---- */

Test(ops, add_broadcasts_a_row)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(3), (double[]){10, 20, 30});
	nb_tensor *y = nb_add(G, a, b);
	expect_shape(y, NB_SHAPE(2, 3), "a + b");
	expect_values(y, (double[]){11, 22, 33, 14, 25, 36}, "a + b");
	back(y, (double[]){1, 2, 3, 4, 5, 6});
	expect_grad(a, (double[]){1, 2, 3, 4, 5, 6}, "da");
	expect_grad(b, (double[]){5, 7, 9}, "db: summed over rows");
}

Test(ops, mul_broadcasts_column_by_row)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(2, 1), (double[]){2, 3});
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(1, 3), (double[]){1, 10, 100});
	nb_tensor *y = nb_mul(G, a, b);
	expect_shape(y, NB_SHAPE(2, 3), "outer");
	expect_values(y, (double[]){2, 20, 200, 3, 30, 300}, "outer");
	back(y, (double[]){1, 0, 1, 0, 1, 0});
	/* da_i = sum_j g_ij b_j, db_j = sum_i g_ij a_i */
	expect_grad(a, (double[]){101, 10}, "da");
	expect_grad(b, (double[]){2, 3, 2}, "db");
}

Test(ops, sub_with_a_scalar)
{
	nb_tensor *a = leaf(NB_F32, 0, NULL, (double[]){5});
	nb_tensor *b = leaf(NB_F32, NB_SHAPE(2, 2), (double[]){1, 2, 3, 4});
	nb_tensor *y = nb_sub(G, a, b);
	expect_shape(y, NB_SHAPE(2, 2), "5 - b");
	expect_values(y, (double[]){4, 3, 2, 1}, "5 - b");
	back(y, (double[]){1, 1, 1, 1});
	expect_grad(a, (double[]){4}, "da: rank 0");
	cr_expect_eq(nb_tensor_ndim(nb_tensor_grad(a)), 0);
	expect_grad(b, (double[]){-1, -1, -1, -1}, "db");
	/* and the other way round */
	nb_tensor *z = nb_sub(G, b, a);
	expect_values(z, (double[]){-4, -3, -2, -1}, "b - 5");
}

Test(ops, div_broadcast_gradients)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(3), (double[]){1, 2, 4});
	nb_tensor *y = nb_div(G, a, b);
	expect_values(y, (double[]){1, 1, 0.75, 4, 2.5, 1.5}, "a / b");
	back(y, (double[]){1, 1, 1, 1, 1, 1});
	expect_grad(a, (double[]){1, 0.5, 0.25, 1, 0.5, 0.25}, "da = 1/b");
	/* db_j = -sum_i a_ij / b_j^2 */
	expect_grad(b, (double[]){-5, -1.75, -0.5625}, "db");
}

Test(ops, rank_extension_on_both_sides)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(2, 1, 3), (double[]){1, 2, 3, 4, 5,
	                                                          6});
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(4, 1), (double[]){0, 10, 20, 30});
	nb_tensor *y = nb_add(G, a, b);
	expect_shape(y, NB_SHAPE(2, 4, 3), "[2,1,3] + [4,1]");
	/* y[i, j, k] = a[i, 0, k] + b[j, 0] */
	cr_expect_eq(nb_tensor_get(y, 0), 1);
	cr_expect_eq(nb_tensor_get(y, 1 * 12 + 2 * 3 + 1), 5 + 20);
	cr_expect_eq(nb_tensor_get(y, 23), 6 + 30);
	nb_tensor *l = nb_sum(G, y, 0, NULL, false);
	back(l, NULL);
	expect_grad(a, (double[]){4, 4, 4, 4, 4, 4}, "da: 4 rows each");
	expect_grad(b, (double[]){6, 6, 6, 6}, "db: 2 * 3 each");
}

Test(ops, leading_ones_only)
{
	/* Same element count, different shapes: [3] against [1, 3]. */
	nb_tensor *a = leaf(NB_F32, NB_SHAPE(3), (double[]){1, 2, 3});
	nb_tensor *b = leaf(NB_F32, NB_SHAPE(1, 3), (double[]){4, 5, 6});
	nb_tensor *y = nb_mul(G, a, b);
	expect_shape(y, NB_SHAPE(1, 3), "[3] * [1,3]");
	back(y, (double[]){1, 2, 3});
	expect_grad(a, (double[]){4, 10, 18}, "da");
	cr_expect_eq(nb_tensor_ndim(nb_tensor_grad(a)), 1);
	expect_grad(b, (double[]){1, 4, 9}, "db");
	cr_expect_eq(nb_tensor_ndim(nb_tensor_grad(b)), 2);
}

Test(ops, broadcasting_empty_tensors)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(0, 3), NULL);
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(3), (double[]){1, 2, 3});
	nb_tensor *y = nb_add(G, a, b);
	expect_shape(y, NB_SHAPE(0, 3), "[0,3] + [3]");
	cr_expect_eq(nb_tensor_numel(y), 0);
	nb_tensor *l = nb_sum(G, y, 0, NULL, false);
	expect_values(l, (double[]){0}, "sum of nothing");
	back(l, NULL);
	expect_grad(b, (double[]){0, 0, 0}, "db");
	expect_error(nb_add(G, a, nb_graph_tensor(G, NB_F64, NB_SHAPE(2))),
	             NB_ESHAPE, "[0, 3]", "[0,3] + [2]");
}

/* ---- reductions ---- */

Test(ops, reductions_with_negative_axes_and_keepdim)
{
	const double xv[] = {1, 2, 3, 4, 5, 6};
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3), xv);
	nb_tensor *s = nb_sum(G, x, 1, (int[]){-1}, false);
	expect_shape(s, NB_SHAPE(2), "sum -1");
	expect_values(s, (double[]){6, 15}, "sum -1");
	s = nb_sum(G, x, 1, (int[]){-1}, true);
	expect_shape(s, NB_SHAPE(2, 1), "sum -1 keepdim");
	expect_values(s, (double[]){6, 15}, "sum -1 keepdim");
	s = nb_sum(G, x, 1, (int[]){-2}, false);
	expect_shape(s, NB_SHAPE(3), "sum -2");
	expect_values(s, (double[]){5, 7, 9}, "sum -2");
	nb_tensor *m = nb_mean(G, x, 1, (int[]){-1}, false);
	expect_values(m, (double[]){2, 5}, "mean -1");
	m = nb_mean(G, x, 2, (int[]){0, -1}, false);
	expect_shape(m, 0, NULL, "mean 0,-1");
	expect_values(m, (double[]){3.5}, "mean 0,-1");
	m = nb_mean(G, x, 2, (int[]){-1, 0}, true);
	expect_shape(m, NB_SHAPE(1, 1), "mean keepdim");
	s = nb_sum(G, x, 0, NULL, false);
	expect_shape(s, 0, NULL, "sum all");
	expect_values(s, (double[]){21}, "sum all");
	s = nb_sum(G, x, 0, NULL, true);
	expect_shape(s, NB_SHAPE(1, 1), "sum all keepdim");

	/* Gradients broadcast back. */
	m = nb_mean(G, x, 1, (int[]){-1}, true);
	back(m, (double[]){1, 2});
	expect_grad(x, (double[]){1. / 3, 1. / 3, 1. / 3, 2. / 3, 2. / 3,
	                          2. / 3}, "d mean");
}

Test(ops, reductions_over_several_axes_of_rank_3)
{
	double xv[24];
	for (int i = 0; i < 24; i++)
		xv[i] = i;
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3, 4), xv);
	/* sum over axes 0 and 2: s[j] = sum_{i,k} x[i,j,k] */
	nb_tensor *s = nb_sum(G, x, 2, (int[]){-1, 0}, false);
	expect_shape(s, NB_SHAPE(3), "sum -1,0");
	double want[3];
	for (int j = 0; j < 3; j++) {
		want[j] = 0;
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < 4; k++)
				want[j] += xv[i * 12 + j * 4 + k];
	}
	expect_values(s, want, "sum -1,0");
	nb_tensor *sk = nb_sum(G, x, 2, (int[]){0, 2}, true);
	expect_shape(sk, NB_SHAPE(1, 3, 1), "keepdim");
	expect_values(sk, want, "keepdim");
	back(s, (double[]){1, 10, 100});
	double gw[24];
	for (int i = 0; i < 24; i++)
		gw[i] = (double[]){1, 10, 100}[(i / 4) % 3];
	expect_grad(x, gw, "d sum");
}

Test(ops, reduction_axis_errors)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5,
	                                                       6});
	expect_error(nb_sum(G, x, 1, (int[]){2}, false), NB_EINVAL,
	             "axis 2 is out of range for rank 2", "axis 2");
	expect_error(nb_mean(G, x, 1, (int[]){-3}, false), NB_EINVAL,
	             "axis -3", "axis -3");
	expect_error(nb_max(G, x, 2, (int[]){1, -1}, false), NB_EINVAL,
	             "repeated", "1 and -1");
	nb_tensor *e = leaf(NB_F64, NB_SHAPE(2, 0), NULL);
	expect_error(nb_max(G, e, 1, (int[]){1}, false), NB_ESHAPE,
	             "size 0", "max over nothing");
	/* sum and mean over nothing are fine: 0 and NaN */
	expect_values(nb_sum(G, e, 1, (int[]){1}, false), (double[]){0, 0},
	              "sum over nothing");
	nb_tensor *m = nb_mean(G, e, 1, (int[]){1}, false);
	cr_assert_not_null(m);
	cr_expect(isnan(nb_tensor_get(m, 0)));
	/* max over the other axis of an empty tensor is empty */
	nb_tensor *m0 = nb_max(G, e, 1, (int[]){0}, false);
	expect_shape(m0, NB_SHAPE(0), "max over the non-empty axis");
}

/* ---- max ---- */

/* Ties share the gradient evenly, as torch.amax and torch.max() do
 * (tests/ref/spec/kinks.py has PyTorch's values). */
Test(ops, max_splits_the_gradient_among_tied_maxima)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(4), (double[]){1, 3, 3, 2});
	nb_tensor *m = nb_max(G, x, 0, NULL, false);
	expect_values(m, (double[]){3}, "max");
	back(m, NULL);
	expect_grad(x, (double[]){0, 0.5, 0.5, 0}, "tie: halves");

	nb_tensor *a = leaf(NB_F64, NB_SHAPE(2, 2), (double[]){5, 5, 1, 2});
	nb_tensor *m0 = nb_max(G, a, 1, (int[]){0}, false);
	expect_values(m0, (double[]){5, 5}, "max axis 0");
	nb_tensor *m1 = nb_max(G, a, 1, (int[]){-1}, true);
	expect_shape(m1, NB_SHAPE(2, 1), "max axis -1 keepdim");
	expect_values(m1, (double[]){5, 2}, "max axis -1");
	back(m1, (double[]){1, 1});
	expect_grad(a, (double[]){0.5, 0.5, 0, 1}, "row tie: halves");

	nb_tensor *b = leaf(NB_F32, NB_SHAPE(2, 2), (double[]){2, 7, 7, 1});
	m = nb_max(G, b, 0, NULL, false);
	back(m, NULL);
	expect_grad(b, (double[]){0, 0.5, 0.5, 0}, "across rows");

	nb_tensor *c = leaf(NB_F64, NB_SHAPE(3), (double[]){-4, -4, -4});
	m = nb_max(G, c, 0, NULL, false);
	back(m, NULL);
	expect_grad(c, (double[]){1.0 / 3, 1.0 / 3, 1.0 / 3}, "all equal");
}

Test(ops, max_of_a_column_tie)
{
	/* [2, 3, 2]: max over axis 1 (-2), ties in some columns. */
	double xv[] = {1, 9, 4, 9, 4, 0, /* batch 0 */
	               7, 7, 7, 7, 6, 8};
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3, 2), xv);
	nb_tensor *m = nb_max(G, x, 1, (int[]){-2}, false);
	expect_shape(m, NB_SHAPE(2, 2), "max -2");
	expect_values(m, (double[]){4, 9, 7, 8}, "max -2");
	back(m, (double[]){1, 2, 3, 4});
	/* (0,*,0): 1 4 4 -> halves at 1, 2; (0,*,1): 9 9 0 -> 2 / 2 at 0, 1;
	 * (1,*,0): 7 7 6 -> halves at 0, 1; (1,*,1): 7 7 8 -> all at 2 */
	expect_grad(x, (double[]){0, 1, 0.5, 1, 0.5, 0, 1.5, 0, 1.5, 0, 0, 4},
	            "dx");
}

Test(ops, max_propagates_nan)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(3), (double[]){1, NAN, 3});
	nb_tensor *m = nb_max(G, x, 0, NULL, false);
	cr_assert_not_null(m);
	cr_expect(isnan(nb_tensor_item(m)));
	back(m, NULL);
	expect_grad(x, (double[]){0, 1, 0}, "to the NaN");
}

/* ---- matmul ---- */

Test(ops, matmul_vector_vector_is_a_scalar)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(3), (double[]){1, 2, 3});
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(3), (double[]){4, 5, 6});
	nb_tensor *y = nb_matmul(G, a, b);
	expect_shape(y, 0, NULL, "dot");
	expect_values(y, (double[]){32}, "dot");
	back(y, (double[]){2});
	expect_grad(a, (double[]){8, 10, 12}, "da = g b");
	expect_grad(b, (double[]){2, 4, 6}, "db = g a");
}

Test(ops, matmul_vector_matrix)
{
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(3), (double[]){1, 2, 3});
	nb_tensor *B = leaf(NB_F64, NB_SHAPE(3, 2), (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *y = nb_matmul(G, a, B);
	expect_shape(y, NB_SHAPE(2), "a B");
	expect_values(y, (double[]){22, 28}, "a B");
	back(y, (double[]){1, -1});
	expect_grad(a, (double[]){-1, -1, -1}, "da = B g");
	expect_grad(B, (double[]){1, -1, 2, -2, 3, -3}, "dB = a g^T");
}

Test(ops, matmul_matrix_vector)
{
	nb_tensor *A = leaf(NB_F32, NB_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *b = leaf(NB_F32, NB_SHAPE(3), (double[]){4, 5, 6});
	nb_tensor *y = nb_matmul(G, A, b);
	expect_shape(y, NB_SHAPE(2), "A b");
	expect_values(y, (double[]){32, 77}, "A b");
	back(y, (double[]){1, 2});
	expect_grad(A, (double[]){4, 5, 6, 8, 10, 12}, "dA = g b^T");
	expect_grad(b, (double[]){9, 12, 15}, "db = A^T g");
}

Test(ops, matmul_batched_with_vectors)
{
	double av[12];
	for (int i = 0; i < 12; i++)
		av[i] = i + 1;
	nb_tensor *A = leaf(NB_F64, NB_SHAPE(2, 2, 3), av);
	nb_tensor *v = leaf(NB_F64, NB_SHAPE(3), (double[]){1, 0, -1});
	nb_tensor *y = nb_matmul(G, A, v);
	expect_shape(y, NB_SHAPE(2, 2), "[2,2,3] [3]");
	expect_values(y, (double[]){-2, -2, -2, -2}, "[2,2,3] [3]");
	back(y, (double[]){1, 1, 1, 1});
	/* dv = sum over batch and rows of A */
	expect_grad(v, (double[]){1 + 4 + 7 + 10, 2 + 5 + 8 + 11,
	                          3 + 6 + 9 + 12}, "dv");

	nb_tensor *u = leaf(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *B = leaf(NB_F64, NB_SHAPE(3, 2, 2), av);
	y = nb_matmul(G, u, B);
	expect_shape(y, NB_SHAPE(3, 2), "[2] [3,2,2]");
	/* y[b, j] = B[b,0,j] + 2 B[b,1,j] */
	expect_values(y, (double[]){7, 10, 19, 22, 31, 34}, "[2] [3,2,2]");
	expect_error(nb_matmul(G, u, v), NB_ESHAPE, "matmul", "[2] [3]");
}

Test(ops, matmul_broadcasts_batch_axes)
{
	double av[6] = {1, 2, 3, 4, 5, 6};
	nb_tensor *A = leaf(NB_F64, NB_SHAPE(1, 2, 3), av);   /* batch 1 */
	nb_tensor *B = leaf(NB_F64, NB_SHAPE(2, 3, 1), (double[]){1, 1, 1, 0,
	                                                          1, 0});
	nb_tensor *y = nb_matmul(G, A, B);
	expect_shape(y, NB_SHAPE(2, 2, 1), "batch broadcast");
	expect_values(y, (double[]){6, 15, 2, 5}, "batch broadcast");
	back(y, (double[]){1, 1, 1, 1});
	/* dA sums over both batch items: g B^T for each, added */
	expect_grad(A, (double[]){1, 2, 1, 1, 2, 1}, "dA");
}

/* ---- reshape, permute ---- */

Test(ops, reshape_infers_minus_one)
{
	double xv[24];
	for (int i = 0; i < 24; i++)
		xv[i] = i;
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3, 4), xv);
	expect_shape(nb_reshape(G, x, NB_SHAPE(-1, 4)), NB_SHAPE(6, 4), "-1,4");
	expect_shape(nb_reshape(G, x, NB_SHAPE(4, -1)), NB_SHAPE(4, 6), "4,-1");
	expect_shape(nb_reshape(G, x, NB_SHAPE(-1)), NB_SHAPE(24), "-1");
	expect_shape(nb_reshape(G, x, NB_SHAPE(2, -1, 2)), NB_SHAPE(2, 6, 2),
	             "2,-1,2");
	nb_tensor *y = nb_reshape(G, x, NB_SHAPE(3, 8));
	expect_values(y, xv, "same data");
	back(nb_sum(G, nb_mul(G, y, y), 0, NULL, false), NULL);
	double want[24];
	for (int i = 0; i < 24; i++)
		want[i] = 2 * xv[i];
	expect_grad(x, want, "d reshape");

	nb_tensor *one = leaf(NB_F32, NB_SHAPE(1), (double[]){7});
	expect_shape(nb_reshape(G, one, 0, NULL), 0, NULL, "[1] -> []");
	nb_tensor *s = nb_reshape(G, nb_reshape(G, one, 0, NULL),
	                          NB_SHAPE(1, -1));
	expect_shape(s, NB_SHAPE(1, 1), "[] -> [1, -1]");
	nb_tensor *e = leaf(NB_F32, NB_SHAPE(0, 3), NULL);
	expect_shape(nb_reshape(G, e, NB_SHAPE(-1, 3)), NB_SHAPE(0, 3),
	             "[0,3] -> [-1,3]");
}

Test(ops, reshape_errors)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3, 4), NULL);
	expect_error(nb_reshape(G, x, NB_SHAPE(-1, -1)), NB_EINVAL,
	             "bad size -1", "two -1");
	expect_error(nb_reshape(G, x, NB_SHAPE(-2, 12)), NB_EINVAL,
	             "bad size -2", "-2");
	expect_error(nb_reshape(G, x, NB_SHAPE(5, -1)), NB_ESHAPE,
	             "cannot infer", "24 / 5");
	expect_error(nb_reshape(G, x, NB_SHAPE(5, 5)), NB_ESHAPE,
	             "25 elements, the input 24", "25");
	expect_error(nb_reshape(G, x, NB_SHAPE(0, -1)), NB_ESHAPE,
	             "cannot infer", "0,-1");
	/* Sizes whose product wraps around 2^64 to the right count. */
	nb_tensor *t = leaf(NB_F64, NB_SHAPE(12), NULL);
	expect_error(nb_reshape(G, t, NB_SHAPE((1LL << 62) + 3, 4)), NB_ESHAPE,
	             "reshape", "(2^62 + 3) * 4 = 12 mod 2^64");
	expect_error(nb_reshape(G, t, NB_SHAPE(1LL << 32, 1LL << 32, -1)),
	             NB_ESHAPE, "reshape", "2^64 with -1");
}

Test(ops, permute)
{
	double xv[24];
	for (int i = 0; i < 24; i++)
		xv[i] = i;
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3, 4), xv);
	nb_tensor *y = nb_permute(G, x, (int[]){2, 0, 1});
	expect_shape(y, NB_SHAPE(4, 2, 3), "perm 2,0,1");
	/* y[k, i, j] = x[i, j, k] */
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 4; k++)
				cr_expect_eq(nb_tensor_get(y, (size_t)(k * 6 + i * 3 + j)),
				             xv[i * 12 + j * 4 + k]);
	/* The gradient goes back through the inverse permutation. */
	double go[24];
	for (int i = 0; i < 24; i++)
		go[i] = 100 + i;
	back(y, go);
	double want[24];
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 3; j++)
			for (int k = 0; k < 4; k++)
				want[i * 12 + j * 4 + k] = go[k * 6 + i * 3 + j];
	expect_grad(x, want, "d permute");
	/* Negative entries count from the end. */
	nb_tensor *z = nb_permute(G, x, (int[]){-1, 0, -2});
	expect_shape(z, NB_SHAPE(4, 2, 3), "perm -1,0,-2");
	expect_values(z, (const double *)nb_tensor_cdata(y), "same as 2,0,1");
	nb_tensor *t = nb_transpose(G, x, -1, 0);
	expect_shape(t, NB_SHAPE(4, 3, 2), "transpose -1, 0");
	/* A scalar has the empty permutation. */
	nb_tensor *s = leaf(NB_F64, 0, NULL, (double[]){3});
	expect_values(nb_permute(G, s, NULL), (double[]){3}, "scalar");
}

Test(ops, permute_validation)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 3, 4), NULL);
	expect_error(nb_permute(G, x, (int[]){0, 0, 1}), NB_EINVAL,
	             "not a permutation", "repeated");
	expect_error(nb_permute(G, x, (int[]){0, 1, 3}), NB_EINVAL,
	             "not a permutation", "out of range");
	expect_error(nb_permute(G, x, (int[]){0, -1, 2}), NB_EINVAL,
	             "not a permutation", "-1 is 2, repeated");
	expect_error(nb_permute(G, x, (int[]){0, 1, -4}), NB_EINVAL,
	             "not a permutation", "-4");
	expect_error(nb_permute(G, x, NULL), NB_EINVAL, "0 entries",
	             "no permutation");
	expect_error(nb_call(G, "permute", 1, &x, "perm=1,0"), NB_EINVAL,
	             "2 entries, the input 3 axes", "short");
	expect_error(nb_call(G, "permute", 1, &x, "perm=1,0,2,3"), NB_EINVAL,
	             "4 entries", "long");
	expect_error(nb_transpose(G, x, 0, 3), NB_EINVAL, "out of range",
	             "transpose 3");
	nb_tensor *s = leaf(NB_F64, 0, NULL, (double[]){1});
	expect_error(nb_transpose(G, s, 0, 0), NB_EINVAL, "rank 0",
	             "transpose of a scalar");
}

/* ---- softmax, log_softmax ---- */

Test(ops, softmax_at_extreme_logits_float64)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(3), (double[]){1000, 0, -1000});
	nb_tensor *p = nb_softmax(G, x, 0);
	nb_tensor *lp = nb_log_softmax(G, x, -1);
	expect_values(p, (double[]){1, 0, 0}, "softmax");
	expect_values(lp, (double[]){0, -1000, -2000}, "log_softmax");
	back(lp, (double[]){1, 1, 1});
	/* dx = g - softmax * sum g */
	expect_grad(x, (double[]){-2, 1, 1}, "d log_softmax");

	nb_tensor *h = leaf(NB_F64, NB_SHAPE(2, 2), (double[]){1e300, 1e300,
	                                                       -1e300, 1e300});
	expect_values(nb_softmax(G, h, 1), (double[]){0.5, 0.5, 0, 1},
	              "softmax +-1e300");
	expect_values(nb_log_softmax(G, h, 1),
	              (double[]){-log(2), -log(2), -2e300, 0},
	              "log_softmax +-1e300");
	nb_tensor *n = leaf(NB_F64, NB_SHAPE(2), (double[]){-1e300, -1e300});
	expect_values(nb_softmax(G, n, 0), (double[]){0.5, 0.5}, "both -1e300");
	nb_tensor *ps = nb_softmax(G, n, 0);
	back(ps, (double[]){1, 0});
	expect_grad(n, (double[]){0.25, -0.25}, "d softmax");
}

Test(ops, softmax_at_extreme_logits_float32)
{
	nb_tensor *x = leaf(NB_F32, NB_SHAPE(3), (double[]){80, -80, 0});
	nb_tensor *p = nb_softmax(G, x, 0);
	nb_tensor *lp = nb_log_softmax(G, x, 0);
	cr_assert(p && lp);
	for (size_t i = 0; i < 3; i++) {
		cr_expect(isfinite(nb_tensor_get(p, i)));
		cr_expect(isfinite(nb_tensor_get(lp, i)));
	}
	cr_expect_eq(nb_tensor_get(p, 0), 1);
	nbt_expect_close(lp, (double[]){0, -160, -80}, 3, 1e-5, 1e-6,
	                 "log_softmax f32");
	nb_tensor *h = leaf(NB_F32, NB_SHAPE(3), (double[]){3e38, 3e38, 3e38});
	expect_values(nb_softmax(G, h, 0), (double[]){1. / 3, 1. / 3, 1. / 3},
	              "softmax 3e38");
	nb_tensor *l = nb_log_softmax(G, h, 0);
	nbt_expect_close(l, (double[]){-log(3), -log(3), -log(3)}, 3, 1e-6,
	                 1e-6, "log_softmax 3e38");
	back(l, (double[]){1, 0, 0});
	double gx[3];
	for (int i = 0; i < 3; i++)
		gx[i] = nb_tensor_get(nb_tensor_grad(h), (size_t)i);
	nbt_expect_close(nb_tensor_grad(h),
	                 (double[]){2. / 3, -1. / 3, -1. / 3}, 3, 1e-6, 1e-5,
	                 "d log_softmax f32");
	cr_expect(isfinite(gx[0]));
}

Test(ops, softmax_axes)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(2, 2), (double[]){0, log(3), 0,
	                                                       0});
	expect_values(nb_softmax(G, x, 1), (double[]){0.25, 0.75, 0.5, 0.5},
	              "axis 1");
	expect_values(nb_softmax(G, x, -1), (double[]){0.25, 0.75, 0.5, 0.5},
	              "axis -1");
	expect_values(nb_softmax(G, x, 0), (double[]){0.5, 0.75, 0.5, 0.25},
	              "axis 0");
	expect_values(nb_softmax(G, x, -2), (double[]){0.5, 0.75, 0.5, 0.25},
	              "axis -2");
	expect_error(nb_softmax(G, x, 2), NB_EINVAL, "axis 2", "axis 2");
}

/* ---- cross_entropy ---- */

Test(ops, cross_entropy_ignore_index)
{
	double lv[] = {0, 0, 1, 2, 3, -1};
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(3, 2), lv);
	nb_tensor *t = konst(NB_I64, NB_SHAPE(3), (double[]){0, -100, 1});
	nb_tensor *l = nb_cross_entropy(G, x, t,
		NULL, -100, NB_REDUCTION_MEAN, 0);
	/* Mean over the two rows that count. */
	double l0 = log(2), l2 = 4 + log1p(exp(-4));
	expect_values(l, (double[]){(l0 + l2) / 2}, "loss");
	back(l, NULL);
	double p2 = 1 / (1 + exp(-4)); /* softmax of row 2, class 0 */
	expect_grad(x, (double[]){(0.5 - 1) / 2, 0.5 / 2, 0, 0,
	                          p2 / 2, (1 - p2 - 1) / 2}, "dx");

	/* Another ignored value, through the attribute string. */
	nb_tensor *x2 = leaf(NB_F64, NB_SHAPE(3, 2), lv);
	nb_tensor *t2 = konst(NB_I64, NB_SHAPE(3), (double[]){0, 1, 1});
	nb_tensor *l2b = nb_call(G, "cross_entropy", 2, (nb_tensor *[]){x2, t2},
	                         "ignore_index=1");
	expect_values(l2b, (double[]){l0}, "ignore_index=1");
	back(l2b, NULL);
	expect_grad(x2, (double[]){-0.5, 0.5, 0, 0, 0, 0}, "dx ignore 1");

	/* Every target ignored: 0 / 0, as PyTorch. */
	nb_tensor *t3 = konst(NB_I64, NB_SHAPE(3), (double[]){-100, -100,
	                                                      -100});
	nb_tensor *l3 = nb_cross_entropy(G, x, t3,
		NULL, -100, NB_REDUCTION_MEAN, 0);
	cr_assert_not_null(l3);
	cr_expect(isnan(nb_tensor_item(l3)));
}

Test(ops, cross_entropy_spatial_with_ignored_positions)
{
	/* logits [N=1, C=2, d=3], target [1, 3]: position 1 ignored. */
	double lv[] = {0, 1, 2, /* class 0 */ 0, 1, 0 /* class 1 */};
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(1, 2, 3), lv);
	nb_tensor *t = konst(NB_I64, NB_SHAPE(1, 3), (double[]){1, -100, 0});
	nb_tensor *l = nb_cross_entropy(G, x, t,
		NULL, -100, NB_REDUCTION_MEAN, 0);
	/* position 0: logits (0, 0), target 1: log 2; position 2: logits
	 * (2, 0), target 0: log(1 + e^-2) */
	expect_values(l, (double[]){(log(2) + log1p(exp(-2))) / 2}, "loss");
	back(l, NULL);
	double q = 1 / (1 + exp(-2)); /* softmax at position 2, class 0 */
	expect_grad(x, (double[]){0.25, 0, (q - 1) / 2, -0.25, 0,
	                          (1 - q) / 2}, "dx");
}

/* ---- documented gradients at kinks ---- */

Test(ops, abs_and_pow_at_zero)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(3), (double[]){-1.5, 0, 2});
	nb_tensor *a = nb_abs(G, x);
	expect_values(a, (double[]){1.5, 0, 2}, "abs");
	back(a, (double[]){1, 1, 1});
	expect_grad(x, (double[]){-1, 0, 1}, "sign(x), 0 at 0");

	nb_tensor *z = leaf(NB_F64, NB_SHAPE(2), (double[]){0, 3});
	nb_tensor *p = nb_pow(G, z, 2);
	expect_values(p, (double[]){0, 9}, "x^2");
	back(p, (double[]){1, 1});
	expect_grad(z, (double[]){0, 6}, "2x");
	nb_tensor *z0 = leaf(NB_F64, NB_SHAPE(2), (double[]){0, 3});
	nb_tensor *p0 = nb_pow(G, z0, 0);
	expect_values(p0, (double[]){1, 1}, "x^0");
	back(p0, (double[]){1, 1});
	expect_grad(z0, (double[]){0, 0}, "d x^0");

	nb_tensor *y = leaf(NB_F32, NB_SHAPE(2), (double[]){1, -2});
	nb_tensor *s = nb_affine_scalar(G, y, -3, 0.5);
	expect_values(s, (double[]){-2.5, 6.5}, "affine");
	back(s, (double[]){1, 2});
	expect_grad(y, (double[]){-3, -6}, "d affine");
}

/* ---- elementwise math: what the PyTorch references cannot express ---- */

/* detach cuts the chain: y = x * detach(x) has dy/dx = detach(x) only. */
Test(ops, detach_stops_the_gradient_in_a_chain)
{
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(3), (double[]){1, -2, 3});
	nb_tensor *d = nb_detach(G, x);
	expect_values(d, (double[]){1, -2, 3}, "detach(x)");
	cr_expect(!nb_tensor_requires_grad(d), "detach(x) requires grad");
	nb_tensor *y = nb_mul(G, x, d);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(G));
	back(y, (double[]){1, 1, 1});
	/* d(x^2)/dx would be 2x: only the undetached factor counts */
	expect_grad(x, (double[]){1, -2, 3}, "dx = detach(x)");
	/* backward from detach's result alone is refused */
	nb_tensor *e = nb_detach(G, x);
	cr_assert_not_null(e, "%s", nb_graph_errmsg(G));
	cr_expect_neq(nb_backward(nb_sum(G, e, 0, NULL, false), NULL), NB_OK,
	              "backward through detach only");
	nb_graph_clear_error(G);
}

/* torch.clamp(x, min=0.5, max=-0.5): every element is max, gradient 0
 * everywhere (PyTorch 1.13: [-0.5]*5 and [0]*5). */
Test(ops, clamp_with_min_above_max)
{
	for (int k = 0; k < 2; k++) {
		nb_dtype dt = k ? NB_F32 : NB_F64;
		nb_tensor *x = leaf(dt, NB_SHAPE(5),
		                    (double[]){-1, -0.5, 0, 0.5, 1});
		nb_tensor *y = nb_clamp(G, x, 0.5, -0.5);
		expect_values(y, (double[]){-0.5, -0.5, -0.5, -0.5, -0.5},
		              "clamp(min=0.5, max=-0.5)");
		back(y, (double[]){1, 1, 1, 1, 1});
		expect_grad(x, (double[]){0, 0, 0, 0, 0}, "no gradient");
	}
	/* bounds included; NaN stays NaN with gradient 0 */
	nb_tensor *x = leaf(NB_F64, NB_SHAPE(5), (double[]){-1, -0.5, 0, 0.5,
	                                                    NAN});
	nb_tensor *y = nb_clamp(G, x, -0.5, 0.5);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(G));
	cr_expect(isnan(nb_tensor_get(y, 4)), "clamp(NaN) is NaN");
	back(y, (double[]){1, 1, 1, 1, 1});
	expect_grad(x, (double[]){0, 1, 1, 1, 0}, "1 on [min, max]");
	/* neither bound: refused, as torch.clamp(x) */
	expect_error(nb_clamp(G, x, NAN, NAN), NB_EINVAL,
	             "at least one of min and max", "clamp()");
	expect_error(nb_call(G, "clamp", 1, &x, ""), NB_EINVAL,
	             "at least one of min and max", "clamp by name");
	expect_values(nb_call(G, "clamp", 1, &x, "max=none min=0"),
	              (double[]){0, 0, 0, 0.5, NAN}, "min only");
}

/* torch.round: half to even, in both dtypes. */
Test(ops, round_half_to_even)
{
	static const double in[] = {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5,
	                            0.49999999, -3.7};
	static const double want[] = {-2, -2, -0.0, 0, 2, 2, 4, 0, -4};
	for (int k = 0; k < 2; k++) {
		nb_tensor *x = leaf(k ? NB_F32 : NB_F64, NB_SHAPE(9), in);
		nb_tensor *y = nb_round(G, x);
		expect_values(y, want, "round");
		cr_expect(signbit(nb_tensor_get(y, 2)), "round(-0.5) is -0");
		back(y, (double[]){1, 1, 1, 1, 1, 1, 1, 1, 1});
		expect_grad(x, (double[]){0, 0, 0, 0, 0, 0, 0, 0, 0},
		            "gradient 0 at the steps too");
	}
}

/* erf saturates to +-1 (its gradient 2.6e-16 at |x| = 6, 0 at 30 and
 * inf), and keeps tiny arguments exact (erf x ~ 2x/sqrt(pi)): PyTorch
 * 1.13's values. */
Test(ops, erf_extremes)
{
	for (int k = 0; k < 2; k++) {
		nb_tensor *x = leaf(k ? NB_F32 : NB_F64, NB_SHAPE(5),
		                    (double[]){-30, -6, 1e-30, 6, INFINITY});
		nb_tensor *y = nb_erf(G, x);
		expect_values(y, (double[]){-1, -1, 1.1283791670955126e-30, 1,
		                            1}, "erf");
		back(y, (double[]){1, 1, 1, 1, 1});
		expect_grad(x, (double[]){0, 2.6173012392492645e-16,
		                          1.1283791670955126,
		                          2.6173012392492645e-16, 0},
		            "erf'");
	}
}

/* maximum / minimum: a tie gives g/2 to each side, NaN wins and both
 * sides get g (PyTorch 1.13: maximum([1,2,nan,3], [1,3,1,nan]) =
 * [1,3,nan,nan], grads [0.5,0,1,1] and [0.5,1,1,1]). */
Test(ops, maximum_minimum_ties_and_nan)
{
	const double av[] = {1, 2, NAN, 3}, bv[] = {1, 3, 1, NAN};
	nb_tensor *a = leaf(NB_F64, NB_SHAPE(4), av);
	nb_tensor *b = leaf(NB_F64, NB_SHAPE(4), bv);
	nb_tensor *y = nb_maximum(G, a, b);
	expect_values(y, (double[]){1, 3, NAN, NAN}, "maximum");
	back(y, (double[]){1, 1, 1, 1});
	expect_grad(a, (double[]){0.5, 0, 1, 1}, "maximum da");
	expect_grad(b, (double[]){0.5, 1, 1, 1}, "maximum db");
	nb_tensor *c = leaf(NB_F32, NB_SHAPE(4), av);
	nb_tensor *d = leaf(NB_F32, NB_SHAPE(4), bv);
	nb_tensor *z = nb_minimum(G, c, d);
	expect_values(z, (double[]){1, 2, NAN, NAN}, "minimum");
	back(z, (double[]){1, 1, 1, 1});
	expect_grad(c, (double[]){0.5, 1, 1, 1}, "minimum da");
	expect_grad(d, (double[]){0.5, 0, 1, 1}, "minimum db");
}
