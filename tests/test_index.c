/*
 * test_index.c - indexing, masking, comparisons and logic (lib/ops/
 * index.c, lib/ops/compare.c) beyond the PyTorch references in
 * tests/ref/ops/index.json: NaN and infinities (which JSON cannot hold),
 * int64 compared exactly, out-of-range and negative indices as errors,
 * gradients that are rules (padding_idx, scatter_add's src), and anomaly
 * mode's rule for values made on purpose (doc/guarantees.md).
 */
#include <math.h>
#include "support/helpers.h"

static nb_graph *g;

static void setup(void)
{
	g = nb_graph_new();
	cr_assert_not_null(g);
}

static void teardown(void)
{
	nb_graph_free(g);
}

TestSuite(index, .init = setup, .fini = teardown);

static nb_tensor *param(nb_dtype dt, int nd, const int64_t *s,
                        const double *v)
{
	nb_tensor *t = nbt_tensor(dt, nd, s, v);
	cr_assert_eq(nb_tensor_set_requires_grad(t, true), NB_OK);
	return t;
}

static nb_tensor *ints(int nd, const int64_t *s, const int64_t *v)
{
	nb_tensor *t = nb_tensor_zeros(NB_I64, nd, s);
	cr_assert_not_null(t);
	memcpy(nb_tensor_data(t), v, nb_tensor_numel(t) * sizeof *v);
	return t;
}

static void expect_bool(nb_tensor *y, const int *want, size_t n,
                        const char *what)
{
	cr_assert_not_null(y, "%s: %s", what, nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_dtype(y), NB_BOOL, "%s", what);
	cr_expect_not(nb_tensor_requires_grad(y), "%s", what);
	cr_assert_eq(nb_tensor_numel(y), n, "%s", what);
	const uint8_t *p = nb_tensor_data(y);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(p[i], want[i], "%s[%zu] = %d, want %d", what, i,
		             p[i], want[i]);
}

/* Exact values, infinities included (nbt_expect_close subtracts). */
static void expect_exact(const nb_tensor *t, const double *want, size_t n,
                         const char *what)
{
	cr_assert_eq(nb_tensor_numel(t), n, "%s", what);
	for (size_t i = 0; i < n; i++)
		cr_expect(nb_tensor_get(t, i) == want[i], "%s[%zu] = %g, want %g",
		          what, i, nb_tensor_get(t, i), want[i]);
}

/* ---- comparisons and logic ---- */

/* PyTorch 1.13 (torch.eq(a, b) etc. on these values). */
Test(index, comparisons_are_ieee_for_nan_and_infinities)
{
	static const struct {
		const char *op;
		int want[5];
	} rows[] = {
		{"eq", {0, 0, 1, 0, 0}}, {"ne", {1, 1, 0, 1, 1}},
		{"lt", {0, 0, 0, 1, 0}}, {"le", {0, 0, 1, 1, 0}},
		{"gt", {0, 0, 0, 0, 0}}, {"ge", {0, 0, 1, 0, 0}},
		{"logical_and", {1, 1, 1, 1, 1}}, {"logical_or", {1, 1, 1, 1, 1}},
	};
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = d ? NB_F64 : NB_F32;
		nb_tensor *a = param(dt, NB_SHAPE(5), (double[]){NAN, 1, INFINITY,
		                     -INFINITY, NAN});
		nb_tensor *b = nbt_tensor(dt, NB_SHAPE(5), (double[]){NAN, NAN,
		                          INFINITY, 1, 2});
		for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
			expect_bool(nb_call(g, rows[k].op, 2, (nb_tensor *[]){a, b},
			                    NULL), rows[k].want, 5, rows[k].op);
		expect_bool(nb_logical_not(g, a), (int[]){0, 0, 0, 0, 0}, 5,
		            "logical_not");
		expect_bool(nb_isnan(g, a), (int[]){1, 0, 0, 0, 1}, 5, "isnan");
		expect_bool(nb_isfinite(g, a), (int[]){0, 1, 0, 0, 0}, 5,
		            "isfinite");
		nb_graph_reset(g);
		nb_tensor_free(a);
		nb_tensor_free(b);
	}
}

Test(index, int64_compares_exactly_beyond_2_to_the_53)
{
	int64_t big = (int64_t)1 << 53;
	nb_tensor *a = ints(NB_SHAPE(3), (int64_t[]){big + 1, big, INT64_MIN});
	nb_tensor *b = ints(NB_SHAPE(3), (int64_t[]){big, big, INT64_MAX});
	expect_bool(nb_eq(g, a, b), (int[]){0, 1, 0}, 3, "eq");
	expect_bool(nb_gt(g, a, b), (int[]){1, 0, 0}, 3, "gt");
	expect_bool(nb_isfinite(g, a), (int[]){1, 1, 1}, 3, "isfinite");
	nb_tensor_free(a);
	nb_tensor_free(b);
}

Test(index, comparisons_refuse_mixed_dtypes_and_bad_shapes)
{
	nb_tensor *a = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3));
	nb_tensor *i = nb_tensor_zeros(NB_I64, NB_SHAPE(2, 3));
	nb_tensor *c = nb_tensor_zeros(NB_F32, NB_SHAPE(4));
	cr_expect_null(nb_lt(g, a, i));
	cr_expect_eq(nb_graph_status(g), NB_EDTYPE);
	cr_expect(strstr(nb_graph_errmsg(g), "lt") != NULL, "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_eq(g, a, c));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	const char *m = nb_graph_errmsg(g);
	cr_expect(strstr(m, "eq") && strstr(m, "[2, 3]") && strstr(m, "[4]"),
	          "%s", m);
	nb_tensor_free(a);
	nb_tensor_free(i);
	nb_tensor_free(c);
}

/* ---- indices out of range are errors naming the op, value and axis ---- */

static void expect_index_error(nb_tensor *y, const char *op,
                               const char *value, const char *size)
{
	cr_expect_null(y, "%s accepted a bad index", op);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL, "%s: %s", op,
	             nb_strerror(nb_graph_status(g)));
	const char *m = nb_graph_errmsg(g);
	cr_expect(strstr(m, op) == m, "%s", m);
	cr_expect(strstr(m, value) != NULL, "%s: no '%s'", m, value);
	cr_expect(strstr(m, size) != NULL, "%s: no '%s'", m, size);
	cr_expect(strstr(m, "[3, 4] float") != NULL, "%s: no shapes", m);
	nb_graph_reset(g);
}

Test(index, out_of_range_and_negative_indices_are_errors)
{
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(3, 4));
	nb_tensor *src = nb_tensor_zeros(NB_F32, NB_SHAPE(3, 4));
	int64_t bad[] = {4, -1, INT64_MAX, INT64_MIN};
	const char *txt[] = {"index 4 ", "index -1 ", "index 9223372036854775807",
	                     "index -9223372036854775808"};
	for (int k = 0; k < 4; k++) {
		nb_tensor *i1 = ints(NB_SHAPE(2), (int64_t[]){0, bad[k]});
		nb_tensor *i2 = ints(NB_SHAPE(1, 2), (int64_t[]){0, bad[k]});
		expect_index_error(nb_index_select(g, x, 1, i1), "index_select",
		                   txt[k], "size 4");
		expect_index_error(nb_gather(g, x, -1, i2), "gather", txt[k],
		                   "size 4");
		expect_index_error(nb_scatter_add(g, x, 1, i2, src),
		                   "scatter_add", txt[k], "size 4");
		/* embedding: 3 rows; bad[0] = 4 is out of them too. */
		nb_tensor *w = nb_tensor_zeros(NB_F32, NB_SHAPE(3, 4));
		nb_tensor *y = nb_embedding(g, i2, w, NAN);
		cr_expect_null(y);
		cr_expect(strstr(nb_graph_errmsg(g), txt[k]) &&
		          strstr(nb_graph_errmsg(g), "size 3"), "%s",
		          nb_graph_errmsg(g));
		nb_graph_reset(g);
		cr_expect_null(nb_one_hot(g, i1, 4));
		cr_expect(strstr(nb_graph_errmsg(g), "one_hot: class"), "%s",
		          nb_graph_errmsg(g));
		nb_graph_reset(g);
		nb_tensor_free(w);
		nb_tensor_free(i1);
		nb_tensor_free(i2);
	}
	/* dim out of range, index of the wrong rank or too large a size. */
	nb_tensor *i2 = ints(NB_SHAPE(1, 2), (int64_t[]){0, 1});
	cr_expect_null(nb_index_select(g, x, 2, i2));
	cr_expect(strstr(nb_graph_errmsg(g), "axis 2 is out of range"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	nb_tensor *tall = ints(NB_SHAPE(4, 1), (int64_t[]){0, 0, 0, 0});
	cr_expect_null(nb_gather(g, x, 1, tall));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	nb_graph_reset(g);
	nb_tensor *i1 = ints(NB_SHAPE(2), (int64_t[]){0, 1});
	cr_expect_null(nb_gather(g, x, 1, i1));
	cr_expect(strstr(nb_graph_errmsg(g), "rank"), "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	nb_tensor *empty = nb_tensor_zeros(NB_I64, NB_SHAPE(0));
	cr_expect_null(nb_one_hot(g, empty, -1));
	cr_expect(strstr(nb_graph_errmsg(g), "empty"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	nb_tensor *oh = nb_one_hot(g, empty, 3);
	cr_assert_not_null(oh);
	cr_expect_eq(nb_tensor_dim(oh, 1), 3);
	nb_tensor_free(empty);
	nb_tensor_free(i1);
	nb_tensor_free(i2);
	nb_tensor_free(tall);
	nb_tensor_free(x);
	nb_tensor_free(src);
}

/* ---- gradients that are rules ---- */

Test(index, embedding_padding_row_and_repeats)
{
	nb_tensor *w = param(NB_F64, NB_SHAPE(4, 2),
	                     (double[]){1, 2, 3, 4, 5, 6, 7, 8});
	nb_tensor *ix = ints(NB_SHAPE(5), (int64_t[]){1, 3, 1, 3, 0});
	for (int p = 0; p < 2; p++) {
		/* padding_idx 3 and -1 name the same row. */
		nb_tensor_zero_grad(w);
		nb_tensor *y = nb_embedding(g, ix, w, p ? -1 : 3);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		nbt_expect_close(y, (double[]){3, 4, 7, 8, 3, 4, 7, 8, 1, 2}, 10,
		                 0, 0, "rows (padding rows are read)");
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		nbt_expect_close(nb_tensor_grad(w), (double[]){1, 1, 2, 2, 0, 0,
		                 0, 0}, 8, 0, 0, "row 1 twice, row 3 padding");
		nb_graph_reset(g);
	}
	cr_expect_null(nb_embedding(g, ix, w, 4));
	cr_expect(strstr(nb_graph_errmsg(g), "padding_idx 4"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_call(g, "embedding", 2, (nb_tensor *[]){ix, w},
	                       "padding_idx=1.5"));
	nb_graph_reset(g);
	nb_tensor_free(w);
	nb_tensor_free(ix);
}

/* src larger than the index: its gradient is gather(g) at the index's
 * coordinates and zero elsewhere (PyTorch 1.13's backward fails here). */
Test(index, scatter_add_src_gradient_off_the_index_is_zero)
{
	nb_tensor *x = param(NB_F64, NB_SHAPE(2, 3), (double[]){0, 0, 0, 0, 0, 0});
	nb_tensor *src = param(NB_F64, NB_SHAPE(2, 4),
	                       (double[]){1, 2, 3, 4, 5, 6, 7, 8});
	nb_tensor *ix = ints(NB_SHAPE(2, 2), (int64_t[]){2, 2, 0, 2});
	nb_tensor *y = nb_scatter_add(g, x, 1, ix, src);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nbt_expect_close(y, (double[]){0, 0, 3, 5, 0, 6}, 6, 0, 0, "y");
	nb_tensor *go = nbt_tensor(NB_F64, NB_SHAPE(2, 3),
	                           (double[]){1, 2, 3, 4, 5, 6});
	cr_assert_eq(nb_backward(y, go), NB_OK);
	nbt_expect_close(nb_tensor_grad(x), (double[]){1, 2, 3, 4, 5, 6}, 6, 0,
	                 0, "dx");
	nbt_expect_close(nb_tensor_grad(src), (double[]){3, 3, 0, 0, 4, 6, 0,
	                 0}, 8, 0, 0, "dsrc");
	nb_tensor_free(go);
	nb_tensor_free(x);
	nb_tensor_free(src);
	nb_tensor_free(ix);
}

Test(index, masked_fill_minus_inf_and_where_with_an_infinite_branch)
{
	nb_tensor *x = param(NB_F32, NB_SHAPE(2, 2), (double[]){1, 2, 3, 4});
	nb_tensor *m = nbt_tensor(NB_BOOL, NB_SHAPE(2), (double[]){0, 1});
	nb_tensor *y = nb_masked_fill(g, x, m, -INFINITY);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	expect_exact(y, (double[]){1, -INFINITY, 3, -INFINITY}, 4, "filled");
	cr_assert_eq(nb_backward(nb_sum(g, nb_exp(g, y), 0, NULL, false),
	                         NULL), NB_OK);
	nbt_expect_close(nb_tensor_grad(x), (double[]){expf(1), 0, expf(3), 0},
	                 4, 1e-5, 1e-6, "no gradient where filled");
	nb_graph_reset(g);
	nb_tensor_zero_grad(x);
	nb_tensor *inf = nbt_tensor(NB_F32, NB_SHAPE(1), (double[]){-INFINITY});
	y = nb_where(g, m, inf, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	expect_exact(y, (double[]){1, -INFINITY, 3, -INFINITY}, 4, "where");
	nb_tensor_free(inf);
	nb_tensor_free(x);
	nb_tensor_free(m);
}

/* ---- anomaly mode: values made on purpose (doc/guarantees.md) ---- */

/* Causal attention scores: a -inf mask above the diagonal added before
 * softmax, forward and backward with anomaly mode on. */
static nb_tensor *causal(nb_graph *gr, nb_tensor *s, int how)
{
	nb_tensor *upper = nbt_tensor(NB_BOOL, NB_SHAPE(3, 3),
	                              (double[]){0, 1, 1, 0, 0, 1, 0, 0, 0});
	nb_tensor *zeros = nb_tensor_zeros(NB_F64, NB_SHAPE(3, 3));
	nb_tensor *ninf = nb_tensor_full(NB_F64, NB_SHAPE(1), -INFINITY);
	nb_tensor *mask = how == 0 ? nb_masked_fill(gr, zeros, upper, -INFINITY)
	                : nb_where(gr, upper, ninf, zeros);
	nb_tensor *y = nb_softmax(gr, nb_add(gr, s, mask), -1);
	nb_tensor_free(upper);
	nb_tensor_free(zeros);
	nb_tensor_free(ninf);
	return y;
}

Test(index, anomaly_mode_accepts_a_minus_inf_causal_mask)
{
	nb_graph_set_anomaly(g, true);
	nb_tensor *s = param(NB_F64, NB_SHAPE(3, 3),
	                     (double[]){1, 2, 3, -1, 0.5, 2, 0, 1, -2});
	for (int how = 0; how < 2; how++) {
		nb_tensor *p = causal(g, s, how);
		cr_assert_not_null(p, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_get(p, 1), 0);
		cr_expect_eq(nb_tensor_get(p, 0), 1);
		nb_tensor *w = nbt_tensor(NB_F64, NB_SHAPE(3, 3),
		                          (double[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
		nb_tensor *l = nb_sum(g, nb_mul(g, p, w), 0, NULL, false);
		cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s",
		             nb_graph_errmsg(g));
		cr_expect(isfinite(nb_tensor_get(nb_tensor_grad(s), 4)));
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(s), 1), 0);
		nb_tensor_free(w);
		nb_graph_reset(g);
		nb_tensor_zero_grad(s);
	}
	/* A value the op made from finite inputs is still reported. */
	nb_tensor *neg = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){1, -1});
	cr_expect_null(nb_log(g, neg));
	cr_expect_eq(nb_graph_status(g), NB_ENONFINITE);
	cr_expect(strstr(nb_graph_errmsg(g), "log: anomaly"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	/* So is log(softmax) where the mask made a probability 0. */
	nb_tensor *p = causal(g, s, 0);
	cr_assert_not_null(p, "%s", nb_graph_errmsg(g));
	cr_expect_null(nb_log(g, p));
	cr_expect_eq(nb_graph_status(g), NB_ENONFINITE);
	nb_graph_reset(g);
	/* A non-finite input: whatever the op makes of it is not the op's. */
	nb_tensor *bad = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){NAN, 1});
	cr_expect_not_null(nb_exp(g, bad), "%s", nb_graph_errmsg(g));
	nb_tensor_free(bad);
	nb_tensor_free(neg);
	nb_tensor_free(s);
}
