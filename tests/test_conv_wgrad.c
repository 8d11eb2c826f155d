/*
 * test_conv_wgrad.c - conv2d's weight and bias gradients for inputs of
 * fewer channels than a SIMD block (lib/ops/conv_wgrad.c), in float32:
 * against the definition in double over geometries that reach every
 * part of the kernel (kernel sizes that fill 1, 2 and 3 groups of
 * positions, rows of whole vectors and with a partial last one, padding
 * narrower and wider than the kernel, dilation, and one too sparse to
 * copy padded), the same bits at 1, 2 and 4 threads, non-finite values
 * where PyTorch's rule (every product, padding zeros included) says,
 * and the im2col path (NB_CONV=im2col) agreeing.  PyTorch's own values
 * for such layers are in tests/ref/ops/conv.json (test_reference).
 */
#include "support/helpers.h"

typedef struct geo {
	int64_t n, c, h, w, o, kh, kw, ph, pw, dh, dw;
} geo;

static const geo geos[] = {
	{2, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1},  /* cnn's first layer, OW 28 */
	{3, 3, 9, 16, 4, 3, 3, 1, 1, 1, 1},    /* OW 16: whole vectors */
	{1, 2, 7, 11, 3, 3, 3, 0, 0, 1, 1},    /* OW 9: one tail lane */
	{2, 1, 12, 13, 2, 5, 5, 2, 1, 1, 1},   /* 25 positions: 3 groups */
	{1, 7, 6, 9, 5, 2, 3, 0, 2, 1, 1},     /* 7 channels, wide padding */
	{2, 2, 10, 12, 3, 3, 3, 2, 1, 2, 2},   /* dilation 2 */
	{1, 1, 5, 5, 1, 1, 1, 0, 0, 1, 1},     /* 1x1 */
	{2, 4, 6, 7, 2, 1, 4, 1, 0, 1, 1},     /* a row kernel */
	/* a 1 x 1 input padded and dilated by 2^20: the padded copy would
	 * be 2^42 floats, so this one is left to im2col */
	{1, 1, 1, 1, 2, 2, 2, 1 << 20, 1 << 20, 1 << 21, 1 << 21},
};

static nb_conv2d_opts opts_of(const geo *q)
{
	nb_conv2d_opts o = NB_CONV2D_DEFAULTS;
	o.padding[0] = q->ph;
	o.padding[1] = q->pw;
	o.dilation[0] = q->dh;
	o.dilation[1] = q->dw;
	return o;
}

static int64_t out_h(const geo *q) { return q->h + 2 * q->ph - (q->kh - 1) * q->dh; }
static int64_t out_w(const geo *q) { return q->w + 2 * q->pw - (q->kw - 1) * q->dw; }

/* x at (n, c, r, s) of the zero-padded input, by the definition. */
static double xpad(const nb_tensor *x, const geo *q, int64_t n, int64_t c,
                   int64_t r, int64_t s)
{
	r -= q->ph;
	s -= q->pw;
	if (r < 0 || r >= q->h || s < 0 || s >= q->w)
		return 0;
	return nb_tensor_get(x, (size_t)(((n * q->c + c) * q->h + r) * q->w +
	                                 s));
}

/* dW[o, c, i, j] = sum over n, y, x of g * xpad, every product taken
 * (a padding zero times NaN is NaN, as in PyTorch). */
static double want_dw(const nb_tensor *x, const nb_tensor *g, const geo *q,
                      int64_t o, int64_t c, int64_t i, int64_t j)
{
	int64_t oh = out_h(q), ow = out_w(q);
	double s = 0;
	for (int64_t n = 0; n < q->n; n++)
		for (int64_t y = 0; y < oh; y++)
			for (int64_t xx = 0; xx < ow; xx++)
				s += nb_tensor_get(g, (size_t)(((n * q->o + o) * oh +
				                                y) * ow + xx)) *
				     xpad(x, q, n, c, y + i * q->dh, xx + j * q->dw);
	return s;
}

/* The weight and bias gradients of sum(conv2d(x, w, b) * r): gout = r. */
static void grads(const geo *q, nb_tensor *x, nb_tensor *r, nb_tensor **dw,
                  nb_tensor **db)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *w = nbt_randn(NB_F32, NB_SHAPE(q->o, q->c, q->kh, q->kw), 7,
	                         true);
	nb_tensor *b = nbt_randn(NB_F32, NB_SHAPE(q->o), 8, true);
	nb_conv2d_opts o = opts_of(q);
	nb_tensor *y = nb_conv2d(g, x, w, b, &o);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(nb_sum(g, nb_mul(g, y, r), 0, NULL, false),
	                         NULL), NB_OK, "%s", nb_graph_errmsg(g));
	*dw = nb_tensor_clone(nb_tensor_grad(w));
	*db = nb_tensor_clone(nb_tensor_grad(b));
	cr_assert(*dw && *db);
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_graph_free(g);
}

static nb_tensor *input_of(const geo *q, uint64_t seed)
{
	return nbt_randn(NB_F32, NB_SHAPE(q->n, q->c, q->h, q->w), seed, false);
}

static nb_tensor *gout_of(const geo *q, uint64_t seed)
{
	return nbt_randn(NB_F32, NB_SHAPE(q->n, q->o, out_h(q), out_w(q)), seed,
	                 false);
}

static void expect_dw(const nb_tensor *dw, const nb_tensor *x,
                      const nb_tensor *r, const geo *q, const char *what)
{
	size_t k = 0;
	for (int64_t o = 0; o < q->o; o++)
		for (int64_t c = 0; c < q->c; c++)
			for (int64_t i = 0; i < q->kh; i++)
				for (int64_t j = 0; j < q->kw; j++, k++) {
					double want = want_dw(x, r, q, o, c, i, j);
					double got = nb_tensor_get(dw, k);
					cr_expect(fabs(got - want) <= 1e-4 +
					          1e-5 * fabs(want),
					          "%s: dw[%lld,%lld,%lld,%lld] = %.8g, "
					          "want %.8g", what, (long long)o,
					          (long long)c, (long long)i,
					          (long long)j, got, want);
				}
}

Test(conv_wgrad, against_the_definition)
{
	for (size_t t = 0; t < sizeof geos / sizeof *geos; t++) {
		const geo *q = &geos[t];
		nb_tensor *x = input_of(q, 100 + t);
		nb_tensor *r = gout_of(q, 200 + t);
		nb_tensor *dw, *db;
		grads(q, x, r, &dw, &db);
		char what[32];
		snprintf(what, sizeof what, "geometry %zu", t);
		expect_dw(dw, x, r, q, what);
		int64_t plane = out_h(q) * out_w(q);
		for (int64_t o = 0; o < q->o; o++) {
			double s = 0;
			for (int64_t n = 0; n < q->n; n++)
				for (int64_t i = 0; i < plane; i++)
					s += nb_tensor_get(r, (size_t)((n * q->o + o) *
					                               plane + i));
			cr_expect(fabs(nb_tensor_get(db, (size_t)o) - s) <= 1e-4,
			          "%s: db[%lld] = %.8g, want %.8g", what,
			          (long long)o, nb_tensor_get(db, (size_t)o), s);
		}
		nb_tensor *frees[] = {x, r, dw, db};
		for (int i = 0; i < 4; i++)
			nb_tensor_free(frees[i]);
	}
}

Test(conv_wgrad, same_bits_at_any_thread_count)
{
	const geo *q = &geos[0];
	nb_tensor *x = input_of(q, 1);
	nb_tensor *r = gout_of(q, 2);
	nb_tensor *dw[3], *db[3];
	static const int threads[] = {1, 2, 4};
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(nb_set_num_threads(threads[i]), NB_OK);
		grads(q, x, r, &dw[i], &db[i]);
	}
	nb_set_num_threads(1);
	size_t bytes = nb_tensor_numel(dw[0]) * sizeof(float);
	for (int i = 1; i < 3; i++) {
		cr_expect(!memcmp(nb_tensor_data(dw[0]), nb_tensor_data(dw[i]),
		                  bytes), "dw differs at %d threads", threads[i]);
		cr_expect(!memcmp(nb_tensor_data(db[0]), nb_tensor_data(db[i]),
		                  (size_t)q->o * sizeof(float)),
		          "db differs at %d threads", threads[i]);
	}
	for (int i = 0; i < 3; i++) {
		nb_tensor_free(dw[i]);
		nb_tensor_free(db[i]);
	}
	nb_tensor_free(x);
	nb_tensor_free(r);
}

/* NaN where the definition gives NaN, infinite where it gives infinity
 * of that sign, finite elsewhere. */
static void expect_class(const nb_tensor *dw, const nb_tensor *x,
                         const nb_tensor *r, const geo *q, const char *what)
{
	size_t k = 0, n_bad = 0;
	for (int64_t o = 0; o < q->o; o++)
		for (int64_t c = 0; c < q->c; c++)
			for (int64_t i = 0; i < q->kh; i++)
				for (int64_t j = 0; j < q->kw; j++, k++) {
					double want = want_dw(x, r, q, o, c, i, j);
					double got = nb_tensor_get(dw, k);
					bool ok = isnan(want) ? isnan(got)
					        : isinf(want) ? got == want
					        : isfinite(got);
					n_bad += !ok;
					cr_expect(ok, "%s: dw[%lld,%lld,%lld,%lld] = %g, "
					          "want %g", what, (long long)o,
					          (long long)c, (long long)i, (long long)j,
					          got, want);
				}
	cr_expect_eq(n_bad, 0);
}

Test(conv_wgrad, non_finite_as_pytorch)
{
	/* OW 9: a row's last vector has one real lane; its other lanes
	 * read real columns of x (no padding), whose products must not
	 * count */
	const geo *q = &geos[2];
	nb_tensor *x = input_of(q, 3);
	nb_tensor *r = gout_of(q, 4);
	/* column 10 is read only by kernel column 2 at output column 8 */
	nb_tensor_set(x, (size_t)(3 * q->w + 10), INFINITY);
	nb_tensor *dw, *db;
	grads(q, x, r, &dw, &db);
	expect_class(dw, x, r, q, "inf in x");
	nb_tensor_free(dw);
	nb_tensor_free(db);
	nb_tensor_set(x, (size_t)(3 * q->w + 10), 0.5);

	/* a NaN output gradient reaches every weight of its channel,
	 * through the padding's zeros too (geometry 0 is padded) */
	const geo *p = &geos[0];
	nb_tensor *xp = input_of(p, 5);
	nb_tensor *rp = gout_of(p, 6);
	nb_tensor_set(rp, (size_t)((1 * p->o + 3) * 28 * 28 + 27), NAN);
	grads(p, xp, rp, &dw, &db);
	expect_class(dw, xp, rp, p, "NaN in gout");
	cr_expect(isnan(nb_tensor_get(dw, 3 * 9 + 2)), "dw[3, 0, 0, 2]");
	cr_expect(isnan(nb_tensor_get(db, 3)), "db[3]");
	cr_expect(isfinite(nb_tensor_get(db, 2)), "db[2]");
	nb_tensor *frees[] = {x, r, xp, rp, dw, db};
	for (int i = 0; i < 6; i++)
		nb_tensor_free(frees[i]);
}

Test(conv_wgrad, im2col_agrees)
{
	const geo *q = &geos[3];
	nb_tensor *x = input_of(q, 9);
	nb_tensor *r = gout_of(q, 10);
	nb_tensor *dw[2], *db[2];
	grads(q, x, r, &dw[0], &db[0]);
	setenv("NB_CONV", "im2col", 1);
	grads(q, x, r, &dw[1], &db[1]);
	unsetenv("NB_CONV");
	for (size_t i = 0; i < nb_tensor_numel(dw[0]); i++) {
		double a = nb_tensor_get(dw[0], i), b = nb_tensor_get(dw[1], i);
		cr_expect(fabs(a - b) <= 1e-4 + 1e-5 * fabs(b),
		          "dw[%zu]: %.8g direct, %.8g im2col", i, a, b);
	}
	for (int i = 0; i < 2; i++) {
		nb_tensor_free(dw[i]);
		nb_tensor_free(db[i]);
	}
	nb_tensor_free(x);
	nb_tensor_free(r);
}
