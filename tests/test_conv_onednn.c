/*
 * test_conv_onednn.c - the float32 convolution paths (issue 17):
 * oneDNN's primitives (in its blocked layouts, NB_CONV=onednn, or in
 * nabla's plain one, NB_CONV=onednn-nchw) and im2col + GEMM, on layers
 * larger than the PyTorch reference cases (which tests/test_conv_paths.sh
 * replays under both).  Each path's float32 conv2d, input, weight and
 * bias gradients are compared with float64 im2col on the same (float32)
 * values, normwise: max |error| <= TOL * max |exact|; then more shapes
 * than the primitive cache holds, twice, so that evicted and reused
 * primitives are checked; then oneDNN at 1 and 2 threads.  Built without
 * oneDNN, NB_CONV=onednn runs im2col and the checks still hold.
 */
#include "support/helpers.h"

/*
 * float32 rounds each product and sum (2^-24 relative); a sum of K
 * terms in any order is within about K 2^-24 of the exact one in the
 * worst case and sqrt(K) 2^-24 typically.  With K up to 64 * 9 * 64 *
 * 14 * 14 (the weight gradient's sums) the measured worst normwise error
 * of either path is below 1e-6 (doc/conv.md); 1e-5 leaves room for
 * other summation orders (thread counts, other oneDNN kernels).
 */
#define TOL 1e-5

/* neg: the input is -x, a graph tensor, whose gradient is fresh
 * (written by conv2d, not added to: NB_OP_GRAD_FRESH); else x itself,
 * a persistent tensor whose gradient accumulates. */
typedef struct layer {
	int64_t x[4], w[4];
	nb_conv2d_opts o;
	bool neg;
} layer;

static const layer layers[] = {
	{{8, 32, 14, 14}, {64, 32, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}},
	{{4, 16, 15, 13}, {24, 8, 3, 3}, {{2, 2}, {2, 2}, {2, 2}, 2}, true},
	{{2, 3, 19, 17}, {5, 3, 5, 5}, {{3, 2}, {2, 1}, {1, 1}, 1}},
	{{3, 12, 9, 9}, {12, 1, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 12}, true},
	{{2, 8, 10, 10}, {16, 8, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, true},
	{{2, 20, 6, 7}, {10, 20, 1, 1}, {{1, 1}, {0, 0}, {1, 1}, 1}},
	/* the cnn workload's first layer at batch 64: one input channel
	 * (a block of 8 or 16 lanes, the rest zeros, for the weight
	 * gradient), and arrays that nabla's pool splits when it converts
	 * them to and from the blocked layout (conv_layout.c) */
	{{64, 1, 28, 28}, {16, 1, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}},
};

/* A persistent tensor of dt holding the float32-rounded values of a
 * seeded normal sample (the same values for both dtypes). */
static nb_tensor *sample(nb_dtype dt, const int64_t *shape, int ndim,
                         uint64_t seed)
{
	nb_rng r;
	nb_rng_seed(&r, seed);
	nb_tensor *s = nb_tensor_randn(NB_F32, ndim, shape, &r, 0, 1);
	nb_tensor *t = nb_tensor_zeros(dt, ndim, shape);
	cr_assert(s && t, "%s", nb_last_error());
	for (size_t i = 0; i < nb_tensor_numel(s); i++)
		nb_tensor_set(t, i, nb_tensor_get(s, i));
	nb_tensor_free(s);
	nb_tensor_set_requires_grad(t, true);
	return t;
}

/* y, dx, dw, db of conv2d(x, w, b) with loss sum(y * r), in vals[4]
 * (malloc'd doubles, n[4] of each), under NB_CONV=path. */
static void run(const layer *l, nb_dtype dt, const char *path,
                double *vals[4], size_t n[4])
{
	setenv("NB_CONV", path, 1);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = sample(dt, l->x, 4, 1), *w = sample(dt, l->w, 4, 2);
	nb_tensor *b = sample(dt, (int64_t[]){l->w[0]}, 1, 3);
	nb_tensor *y = nb_conv2d(g, l->neg ? nb_neg(g, x) : x, w, b, &l->o);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_tensor *r = sample(dt, nb_tensor_shape(y), 4, 4);
	nb_tensor_set_requires_grad(r, false);
	nb_tensor *loss = nb_sum(g, nb_mul(g, y, r), 0, NULL, false);
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	const nb_tensor *ts[4] = {y, nb_tensor_grad(x), nb_tensor_grad(w),
	                          nb_tensor_grad(b)};
	for (int k = 0; k < 4; k++) {
		n[k] = nb_tensor_numel(ts[k]);
		vals[k] = malloc(n[k] * sizeof(double));
		cr_assert_not_null(vals[k]);
		for (size_t i = 0; i < n[k]; i++)
			vals[k][i] = nb_tensor_get(ts[k], i);
	}
	nb_tensor *frees[] = {x, w, b, r};
	for (int k = 0; k < 4; k++)
		nb_tensor_free(frees[k]);
	nb_graph_free(g);
	unsetenv("NB_CONV");
}

/* max |got - want| / max |want| */
static double normwise(const double *got, const double *want, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		e = fmax(e, fabs(got[i] - want[i]));
		m = fmax(m, fabs(want[i]));
	}
	return m > 0 ? e / m : e;
}

static void release(double *v[4])
{
	for (int k = 0; k < 4; k++)
		free(v[k]);
}

/* Checks float32 results a against float64 exact ones. */
static void expect_close(const double *a[4], const double *exact[4],
                         const size_t n[4], const char *what, int li)
{
	static const char *names[4] = {"output", "input grad", "weight grad",
	                               "bias grad"};
	for (int k = 0; k < 4; k++) {
		double e = normwise(a[k], exact[k], n[k]);
		cr_expect(e <= TOL, "layer %d, %s, %s: normwise error %.3g > %g",
		          li, what, names[k], e, TOL);
		if (getenv("NB_TEST_VERBOSE"))
			fprintf(stderr, "layer %d %-8s %-11s %.3g\n", li, what,
			        names[k], e);
	}
}

Test(conv_onednn, both_paths_match_float64)
{
	for (int li = 0; li < (int)(sizeof layers / sizeof *layers); li++) {
		static const char *paths[] = {"onednn", "onednn-nchw", "im2col"};
		double *exact[4], *got[4];
		size_t n[4], n1[4];
		run(&layers[li], NB_F64, "im2col", exact, n);
		for (int p = 0; p < 3; p++) {
			run(&layers[li], NB_F32, paths[p], got, n1);
			cr_assert(!memcmp(n, n1, sizeof n));
			expect_close((const double **)got, (const double **)exact, n,
			             paths[p], li);
			release(got);
		}
		release(exact);
	}
}

/* 20 geometries (the cache holds 16), twice: made, evicted, made again,
 * reused; every result as im2col's within TOL. */
Test(conv_onednn, cache_eviction_keeps_results)
{
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < 20; k++) {
			layer l = {{1 + k % 3, 4, 6 + k, 5}, {3, 4, 3, 2},
			           {{1, 1}, {1, 0}, {1, 1}, 1}};
			double *a[4], *b[4];
			size_t n[4];
			run(&l, NB_F32, "onednn", a, n);
			run(&l, NB_F32, "im2col", b, n);
			expect_close((const double **)a, (const double **)b, n,
			             "cache", k);
			release(a);
			release(b);
		}
}

Test(conv_onednn, thread_counts_agree_within_rounding)
{
	int saved = nb_get_num_threads();
	double *a[4], *b[4];
	size_t n[4];
	const int last = (int)(sizeof layers / sizeof *layers) - 1;
	for (int p = 0; p < 3; p++) {
		const char *path = p == 1 ? "onednn-nchw" : "onednn";
		const int li = p == 2 ? last : 0;
		cr_assert_eq(nb_set_num_threads(1), NB_OK);
		run(&layers[li], NB_F32, path, a, n);
		for (int t = 2; t <= 4; t += 2) {
			cr_assert_eq(nb_set_num_threads(t), NB_OK);
			run(&layers[li], NB_F32, path, b, n);
			expect_close((const double **)b, (const double **)a, n,
			             path, li);
			release(b);
		}
		release(a);
	}
	nb_set_num_threads(saved);
}

/* With padding 1, a NaN in the output gradient of channel 0 at (0, 0)
 * meets the padding's zeros through every weight tap of channel 0: 0 *
 * NaN, so PyTorch's weight gradient of channel 0 (36 taps) is NaN, and
 * so is every path's (the blocked kernels skip the padding, so such
 * calls run in the plain layout); a NaN weight of channel 0 makes every
 * output of channel 0 (25) NaN the same way. */
Test(conv_onednn, nan_meets_the_padding_as_in_pytorch)
{
	static const char *paths[] = {"onednn", "onednn-nchw", "im2col"};
	for (int p = 0; p < 3; p++) {
		setenv("NB_CONV", paths[p], 1);
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_ones(NB_F32, 4, (int64_t[]){1, 4, 5, 5});
		nb_tensor *w = nb_tensor_ones(NB_F32, 4, (int64_t[]){4, 4, 3, 3});
		nb_tensor *r = nb_tensor_ones(NB_F32, 4, (int64_t[]){1, 4, 5, 5});
		cr_assert(x && w && r);
		nb_tensor_set_requires_grad(w, true);
		nb_tensor_set(r, 0, NAN);
		nb_conv2d_opts o = NB_CONV2D_DEFAULTS;
		o.padding[0] = o.padding[1] = 1;
		nb_tensor *y = nb_conv2d(g, x, w, NULL, &o);
		nb_tensor *l = nb_sum(g, nb_mul(g, y, r), 0, NULL, false);
		cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
		const nb_tensor *dw = nb_tensor_grad(w);
		int finite = 0;
		for (size_t i = 0; i < nb_tensor_numel(dw); i++)
			finite += !isnan(nb_tensor_get(dw, i)) != (i >= 36);
		cr_expect_eq(finite, 0, "%s: %d weight gradients are not as in "
		             "PyTorch", paths[p], finite);
		nb_graph_reset(g);
		nb_tensor_set(w, 0, NAN);
		y = nb_conv2d(g, x, w, NULL, &o);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		finite = 0;
		for (size_t i = 0; i < nb_tensor_numel(y); i++)
			finite += !isnan(nb_tensor_get(y, i)) != (i >= 25);
		cr_expect_eq(finite, 0, "%s: %d outputs are not as in PyTorch",
		             paths[p], finite);
		nb_tensor_free(x);
		nb_tensor_free(w);
		nb_tensor_free(r);
		nb_graph_free(g);
		unsetenv("NB_CONV");
	}
}
