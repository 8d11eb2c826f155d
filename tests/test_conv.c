/*
 * test_conv.c - conv2d, max_pool2d and avg_pool2d (lib/ops/conv.c):
 * values worked by hand, a direct convolution against im2col + GEMM over
 * several blocks of samples, the thread count's (lack of) effect, the
 * gradient rules of pooling, and every error path with its message.
 * PyTorch references are in tests/ref/ops/conv.json (test_reference), the
 * gradients checked numerically by test_gradcheck.
 */
#include "support/helpers.h"

static const nb_dtype dtypes[] = {NB_F32, NB_F64};

Test(conv, conv2d_by_hand)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		double xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 3, 3), xv);
		nb_tensor *w = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 2, 2),
		                          (double[]){1, 0, 0, 1});
		nb_tensor *b = nbt_tensor(dtypes[d], NB_SHAPE(1),
		                          (double[]){0.5});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor_set_requires_grad(w, true);
		nb_tensor_set_requires_grad(b, true);
		nb_tensor *y = nb_conv2d(g, x, w, b, NULL);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		/* x[i, j] + x[i + 1, j + 1] + 0.5 */
		nbt_expect_close(y, (double[]){6.5, 8.5, 12.5, 14.5}, 4, 0, 0,
		                 "conv2d");
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		/* each x element counted once per window tap that reads it */
		nbt_expect_close(nb_tensor_grad(x),
		                 (double[]){1, 1, 0, 1, 2, 1, 0, 1, 1}, 9, 0, 0,
		                 "dx");
		nbt_expect_close(nb_tensor_grad(w),
		                 (double[]){1 + 2 + 4 + 5, 2 + 3 + 5 + 6,
		                            4 + 5 + 7 + 8, 5 + 6 + 8 + 9}, 4, 0,
		                 0, "dw");
		nbt_expect_close(nb_tensor_grad(b), (double[]){4}, 1, 0, 0, "db");
		nb_graph_reset(g);
		/* padding 1, stride 2: windows at -1, 1 */
		nb_conv2d_opts o = NB_CONV2D_DEFAULTS;
		o.padding[0] = o.padding[1] = 1;
		o.stride[0] = o.stride[1] = 2;
		y = nb_conv2d(g, x, w, NULL, &o);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		nbt_expect_close(y, (double[]){1, 3, 7, 14}, 4, 0, 0,
		                 "padded conv2d");
		/* reshape flattens */
		nb_tensor *f = nb_reshape(g, y, NB_SHAPE(1, -1));
		cr_assert_not_null(f, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_shape(f)[1], 4);
		nb_tensor *frees[] = {x, w, b};
		for (int i = 0; i < 3; i++)
			nb_tensor_free(frees[i]);
		nb_graph_free(g);
	}
}

/* y[n, o, oy, ox] by the definition, in double. */
static double direct(const nb_tensor *x, const nb_tensor *w,
                     const nb_conv2d_opts *o, int64_t n, int64_t oc,
                     int64_t oy, int64_t ox)
{
	const int64_t *xs = nb_tensor_shape(x), *ws = nb_tensor_shape(w);
	int64_t cg = ws[1], og = ws[0] / o->groups, g = oc / og;
	double s = 0;
	for (int64_t c = 0; c < cg; c++)
		for (int64_t i = 0; i < ws[2]; i++)
			for (int64_t j = 0; j < ws[3]; j++) {
				int64_t iy = oy * o->stride[0] - o->padding[0] +
				             i * o->dilation[0];
				int64_t ix = ox * o->stride[1] - o->padding[1] +
				             j * o->dilation[1];
				if (iy < 0 || iy >= xs[2] || ix < 0 || ix >= xs[3])
					continue;
				int64_t ch = g * cg + c;
				s += nb_tensor_get(x, (size_t)(((n * xs[1] + ch) * xs[2] +
				                                iy) * xs[3] + ix)) *
				     nb_tensor_get(w, (size_t)(((oc * cg + c) * ws[2] + i) *
				                               ws[3] + j));
			}
	return s;
}

/* Large enough for two blocks of samples: (32 * 25 + 8) * 64 * 29
 * elements of a sample, blocks of 4M elements, so samples 0-1 and 2. */
Test(conv, im2col_gemm_matches_the_definition_across_blocks)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_randn(NB_F64, NB_SHAPE(3, 32, 64, 64), 1, true);
	nb_tensor *w = nbt_randn(NB_F64, NB_SHAPE(8, 16, 5, 5), 2, true);
	nb_conv2d_opts o = {{1, 2}, {2, 1}, {1, 2}, 2};
	nb_tensor *y = nb_conv2d(g, x, w, NULL, &o);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	const int64_t *ys = nb_tensor_shape(y);
	cr_expect_eq(ys[2], 64);
	cr_expect_eq(ys[3], (64 + 2 - 9) / 2 + 1);
	int bad = 0;
	for (int64_t n = 0; n < ys[0]; n++)
		for (int64_t c = 0; c < ys[1]; c++)
			for (int64_t i = 0; i < ys[2]; i += 7)
				for (int64_t j = 0; j < ys[3]; j += 5) {
					double want = direct(x, w, &o, n, c, i, j);
					double got = nb_tensor_get(y, (size_t)(((n * ys[1] +
					                          c) * ys[2] + i) * ys[3] + j));
					bad += fabs(got - want) > 1e-12 * (1 + fabs(want));
				}
	cr_expect_eq(bad, 0, "%d values differ from the definition", bad);
	/* d sum(y) / dw[o, c, i, j]: the sum of what the tap reads, over
	 * both blocks */
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	const nb_tensor *dw = nb_tensor_grad(w);
	const int64_t *xs = nb_tensor_shape(x);
	bad = 0;
	for (size_t k = 0; k < nb_tensor_numel(dw); k += 37) {
		int64_t j = (int64_t)k % 5, i = (int64_t)k / 5 % 5;
		int64_t c = (int64_t)k / 25 % 16, oc = (int64_t)k / 400;
		int64_t ch = oc / 4 * 16 + c;
		double want = 0;
		for (int64_t n = 0; n < ys[0]; n++)
			for (int64_t oy = 0; oy < ys[2]; oy++)
				for (int64_t ox = 0; ox < ys[3]; ox++) {
					int64_t iy = oy - 2 + i, ix = ox * 2 - 1 + 2 * j;
					if (iy >= 0 && iy < 64 && ix >= 0 && ix < 64)
						want += nb_tensor_get(x, (size_t)(((n * xs[1] +
						        ch) * 64 + iy) * 64 + ix));
				}
		bad += fabs(nb_tensor_get(dw, k) - want) > 1e-10 * (1 + fabs(want));
	}
	cr_expect_eq(bad, 0, "%d weight gradients differ", bad);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* Output and gradients of one conv2d + max_pool2d + avg_pool2d run. */
static void run_all(nb_dtype dt, int threads, double *out, size_t cap)
{
	cr_assert_eq(nb_set_num_threads(threads), NB_OK);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_randn(dt, NB_SHAPE(9, 4, 20, 20), 3, true);
	nb_tensor *w = nbt_randn(dt, NB_SHAPE(6, 2, 3, 3), 4, true);
	nb_tensor *b = nbt_randn(dt, NB_SHAPE(6), 5, true);
	nb_conv2d_opts o = NB_CONV2D_DEFAULTS;
	o.groups = 2;
	o.padding[0] = 1;
	nb_pool2d_opts p = {{3, 3}, {2, 2}, {1, 1}, false};
	nb_tensor *y = nb_conv2d(g, x, w, b, &o);
	nb_tensor *z = nb_add(g, nb_max_pool2d(g, y, &p),
	                      nb_avg_pool2d(g, y, &p));
	nb_tensor *l = nb_sum(g, nb_mul(g, z, z), 0, NULL, false);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
	size_t k = 0;
	const nb_tensor *ts[] = {z, nb_tensor_grad(x), nb_tensor_grad(w),
	                         nb_tensor_grad(b)};
	for (int t = 0; t < 4; t++)
		for (size_t i = 0; i < nb_tensor_numel(ts[t]) && k < cap; i++)
			out[k++] = nb_tensor_get(ts[t], i);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_graph_free(g);
}

/* nabla's own loops (im2col) and, at these sizes, OpenBLAS's products:
 * oneDNN's float32 convolution and sgemm may sum in another order at
 * another thread count (within rounding: tests/test_conv_onednn.c). */
Test(conv, results_do_not_depend_on_the_thread_count)
{
	enum { CAP = 20000 };
	static double one[CAP], four[CAP];
	int saved = nb_get_num_threads();
	setenv("NB_CONV", "im2col", 1);
	setenv("NB_GEMM", "openblas", 1);
	for (int d = 0; d < 2; d++) {
		run_all(dtypes[d], 1, one, CAP);
		run_all(dtypes[d], 4, four, CAP);
		cr_expect(!memcmp(one, four, sizeof one), "%s: 1 and 4 threads "
		          "differ", nb_dtype_name(dtypes[d]));
	}
	unsetenv("NB_CONV");
	unsetenv("NB_GEMM");
	nb_set_num_threads(saved);
}

Test(conv, max_pool_gradient_goes_to_the_first_maximum)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		/* ties everywhere; windows 2x2 with stride 1 overlap */
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 3, 3),
		                          (double[]){1, 1, 0, 1, 1, 0, 0, 0, 0});
		nb_tensor_set_requires_grad(x, true);
		nb_pool2d_opts p = {{2, 2}, {1, 1}, {0, 0}, false};
		nb_tensor *y = nb_max_pool2d(g, x, &p);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		nbt_expect_close(y, (double[]){1, 1, 1, 1}, 4, 0, 0, "max");
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		/* windows at (0,0), (0,1), (1,0) pick x[0,0], x[0,1], x[1,0];
		 * the window at (1,1) picks x[1,1] */
		nbt_expect_close(nb_tensor_grad(x),
		                 (double[]){1, 1, 0, 1, 1, 0, 0, 0, 0}, 9, 0, 0,
		                 "dx");
		nb_graph_reset(g);
		/* padding never wins, even over -inf... */
		nb_tensor *m = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 1, 2),
		                          (double[]){-INFINITY, NAN});
		nb_pool2d_opts q = {{1, 2}, {0, 0}, {0, 1}, false};
		y = nb_max_pool2d(g, m, &q);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		/* ...and NaN wins over everything */
		cr_expect(nb_tensor_get(y, 0) == -INFINITY);
		cr_expect(isnan(nb_tensor_get(y, 1)));
		nb_tensor_free(x);
		nb_tensor_free(m);
		nb_graph_free(g);
	}
}

Test(conv, avg_pool_divisors)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 2, 2),
		                          (double[]){1, 2, 3, 4});
		nb_tensor_set_requires_grad(x, true);
		nb_pool2d_opts p = {{2, 2}, {1, 1}, {1, 1}, false};
		nb_tensor *y = nb_avg_pool2d(g, x, &p);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		/* 2x2 windows of the padded 4x4 input, divided by 4 */
		nbt_expect_close(y, (double[]){0.25, 0.75, 0.5, 1, 2.5, 1.5,
		                               0.75, 1.75, 1}, 9, 1e-7, 0, "avg");
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		/* each element is in four windows */
		nbt_expect_close(nb_tensor_grad(x), (double[]){1, 1, 1, 1}, 4, 0,
		                 0, "dx");
		nb_graph_reset(g);
		nb_tensor_zero_grad(x);
		p.exclude_pad = true;
		y = nb_avg_pool2d(g, x, &p);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		nbt_expect_close(y, (double[]){1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4},
		                 9, 1e-7, 0, "avg, padding excluded");
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		/* corner: 1 + 1/2 + 1/2 + 1/4 */
		nbt_expect_close(nb_tensor_grad(x),
		                 (double[]){2.25, 2.25, 2.25, 2.25}, 4, 1e-7, 0,
		                 "dx, padding excluded");
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/* ---- errors ---- */

/* op(inputs | attrs) must fail with code and a message that names the
 * op and contains want (and the first input's shape). */
static void expect_fail(const char *op, int n, nb_tensor **in,
                        const char *attrs, nb_status code, const char *want)
{
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_call(g, op, n, in, attrs), "%s|%s: accepted", op,
	               attrs);
	const char *msg = nb_graph_errmsg(g);
	cr_expect_eq(nb_graph_status(g), code, "%s|%s: %s (%s)", op, attrs,
	             nb_strerror(nb_graph_status(g)), msg);
	char head[64], shape[96];
	snprintf(head, sizeof head, "%s: ", op);
	nb_shape_str(nb_tensor_ndim(in[0]), nb_tensor_shape(in[0]), shape,
	             sizeof shape);
	cr_expect(strncmp(msg, head, strlen(head)) == 0, "'%s'", msg);
	cr_expect(strstr(msg, want) != NULL, "'%s' lacks '%s'", msg, want);
	cr_expect(strstr(msg, shape) != NULL, "'%s' lacks '%s'", msg, shape);
	nb_graph_free(g);
}

Test(conv, conv2d_errors)
{
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 4, 5, 5));
	nb_tensor *w = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 4, 3, 3));
	nb_tensor *w3 = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 3, 3, 3));
	nb_tensor *wbig = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 4, 6, 3));
	nb_tensor *w1 = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 1, 3, 3));
	nb_tensor *b5 = nb_tensor_zeros(NB_F32, NB_SHAPE(5));
	nb_tensor *x3 = nb_tensor_zeros(NB_F32, NB_SHAPE(4, 5, 5));
	nb_tensor *w0 = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 4, 0, 3));
	nb_tensor *xd = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 4, 5, 5));
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w3, NULL}, "", NB_ESHAPE,
	            "channel mismatch: the input has 4 channels");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w1, NULL}, "groups=3",
	            NB_ESHAPE, "groups=3 must divide the input channels (4)");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w1, NULL}, "groups=4",
	            NB_ESHAPE, "must divide");      /* 6 outputs */
	expect_fail("conv2d", 3, (nb_tensor *[]){x, wbig, NULL}, "",
	            NB_ESHAPE, "larger than the padded input (5x5)");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL}, "dilation=3",
	            NB_ESHAPE, "dilated 7x7) is larger than the padded input");
	/* padding 1 makes it fit */
	nb_graph *g = nb_graph_new();
	cr_expect_not_null(nb_call(g, "conv2d", 3,
	                           (nb_tensor *[]){x, wbig, NULL}, "padding=1"),
	                   "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL}, "stride=0",
	            NB_EINVAL, "stride=0 is outside [1, 2^32]");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL}, "stride=1,0",
	            NB_EINVAL, "stride=0");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL}, "padding=-1",
	            NB_EINVAL, "padding=-1 is outside [0, 2^32]");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL}, "dilation=0",
	            NB_EINVAL, "dilation=0");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL}, "stride=1,2,3",
	            NB_EINVAL, "stride takes one or two values");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, NULL},
	            "padding=8589934593", NB_EINVAL, "outside");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w, b5}, "", NB_ESHAPE,
	            "bias must be [6]");
	expect_fail("conv2d", 3, (nb_tensor *[]){x3, w, NULL}, "", NB_ESHAPE,
	            "input must be [N, C, H, W] (4-D), not 3-D");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, x3, NULL}, "", NB_ESHAPE,
	            "weight must be [C_out, C_in/groups, kH, kW]");
	expect_fail("conv2d", 3, (nb_tensor *[]){x, w0, NULL}, "", NB_ESHAPE,
	            "must be at least 1x1");
	expect_fail("conv2d", 3, (nb_tensor *[]){xd, w, NULL}, "", NB_EDTYPE,
	            "mixed dtypes");
	/* groups is range-checked with the attribute string */
	g = nb_graph_new();
	cr_expect_null(nb_call(g, "conv2d", 3, (nb_tensor *[]){x, w, NULL},
	                       "groups=0"));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "conv2d: attribute 'groups'"));
	nb_graph_reset(g);
	/* the typed wrapper: a zeroed options struct has stride 0 */
	nb_conv2d_opts zero = {{0, 0}, {0, 0}, {0, 0}, 1};
	cr_expect_null(nb_conv2d(g, x, w, NULL, &zero));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_free(g);
	nb_tensor *frees[] = {x, w, w3, wbig, w1, b5, x3, w0, xd};
	for (size_t i = 0; i < sizeof frees / sizeof *frees; i++)
		nb_tensor_free(frees[i]);
}

Test(conv, pool_errors)
{
	nb_tensor *x = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 3, 4, 4));
	nb_tensor *x2 = nb_tensor_zeros(NB_F64, NB_SHAPE(3, 4, 4));
	const char *ops[] = {"max_pool2d", "avg_pool2d"};
	for (int k = 0; k < 2; k++) {
		expect_fail(ops[k], 1, &x, "", NB_EINVAL, "kernel_size is "
		            "required");
		expect_fail(ops[k], 1, &x, "kernel_size=5", NB_ESHAPE,
		            "larger than the padded input (4x4)");
		expect_fail(ops[k], 1, &x, "kernel_size=2 stride=0", NB_EINVAL,
		            "stride=0 is outside");
		expect_fail(ops[k], 1, &x, "kernel_size=0", NB_EINVAL,
		            "kernel_size=0");
		expect_fail(ops[k], 1, &x, "kernel_size=2 padding=2", NB_EINVAL,
		            "padding (2, 2) must be at most half the kernel");
		expect_fail(ops[k], 1, &x2, "kernel_size=2", NB_ESHAPE,
		            "input must be [N, C, H, W]");
	}
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_max_pool2d(g, x, NULL));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_reset(g);
	/* count_include_pad belongs to avg_pool2d only */
	cr_expect_null(nb_call(g, "max_pool2d", 1, &x, "kernel_size=2 "
	                       "count_include_pad=0"));
	cr_expect_eq(nb_graph_status(g), NB_ENOTFOUND, "%s",
	             nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(x2);
}

/* ---- conv1d and conv_transpose2d (issue 15) ---- */

/* conv1d is conv2d over a height-1 image: the same values and
 * gradients, with stride, padding, dilation and groups. */
Test(conv, conv1d_is_conv2d_of_height_one)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_randn(dtypes[d], NB_SHAPE(3, 4, 11), 1,
		                         true);
		nb_tensor *w = nbt_randn(dtypes[d], NB_SHAPE(6, 2, 3), 2, true);
		nb_tensor *b = nbt_randn(dtypes[d], NB_SHAPE(6), 3, true);
		nb_conv1d_opts o1 = {.stride = 2, .padding = 3, .dilation = 2,
		                     .groups = 2};
		nb_tensor *y1 = nb_conv1d(g, x, w, b, &o1);
		cr_assert_not_null(y1, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(nb_sum(g, nb_mul(g, y1, y1), 0, NULL,
		                                false), NULL), NB_OK);
		nb_tensor *gx = nb_tensor_clone(nb_tensor_grad(x));
		nb_tensor *gw = nb_tensor_clone(nb_tensor_grad(w));
		nb_tensor_zero_grad(x);
		nb_tensor_zero_grad(w);
		nb_graph_reset(g);
		nb_conv2d_opts o2 = {{1, 2}, {0, 3}, {1, 2}, 2};
		nb_tensor *x4 = nb_reshape(g, x, NB_SHAPE(3, 4, 1, 11));
		nb_tensor *w4 = nb_reshape(g, w, NB_SHAPE(6, 2, 1, 3));
		nb_tensor *y2 = nb_conv2d(g, x4, w4, b, &o2);
		cr_assert_not_null(y2, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_tensor_numel(y2), 3 * 6 * 7);
		cr_assert_eq(nb_backward(nb_sum(g, nb_mul(g, y2, y2), 0, NULL,
		                                false), NULL), NB_OK);
		cr_expect_eq(nb_tensor_ndim(y1), 3);
		cr_expect_eq(nb_tensor_shape(y1)[2], 7);
		size_t bad = 0;
		for (size_t i = 0; i < nb_tensor_numel(x); i++)
			bad += nb_tensor_get(gx, i) !=
			       nb_tensor_get(nb_tensor_grad(x), i);
		for (size_t i = 0; i < nb_tensor_numel(w); i++)
			bad += nb_tensor_get(gw, i) !=
			       nb_tensor_get(nb_tensor_grad(w), i);
		cr_expect_eq(bad, 0, "%zu gradients differ from conv2d's", bad);
		nb_tensor *frees[] = {x, w, b, gx, gw};
		for (int i = 0; i < 5; i++)
			nb_tensor_free(frees[i]);
		nb_graph_free(g);
	}
}

/*
 * conv_transpose2d is the adjoint of conv2d: <conv2d(z, w), x> =
 * <z, conv_transpose2d(x, w)> for every z and x of matching shapes,
 * here with stride, padding, dilation, groups and an output_padding
 * (rows the conv2d does not read get no share of x).
 */
Test(conv, conv_transpose2d_is_the_adjoint_of_conv2d)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_randn(NB_F64, NB_SHAPE(2, 4, 3, 4), 4, true);
	nb_tensor *w = nbt_randn(NB_F64, NB_SHAPE(4, 3, 3, 2), 5, true);
	nb_conv_transpose2d_opts o = {{2, 3}, {1, 0}, {1, 2}, {1, 2}, 2};
	nb_tensor *t = nb_conv_transpose2d(g, x, w, NULL, &o);
	cr_assert_not_null(t, "%s", nb_graph_errmsg(g));
	const int64_t *ts = nb_tensor_shape(t);
	/* (3-1)*2 - 2 + 1*(3-1) + 1 + 1 = 6; (4-1)*3 - 0 + 2*(2-1) + 2 + 1 = 14 */
	cr_assert(ts[0] == 2 && ts[1] == 6 && ts[2] == 6 && ts[3] == 14,
	          "shape [%lld, %lld, %lld, %lld]", (long long)ts[0],
	          (long long)ts[1], (long long)ts[2], (long long)ts[3]);
	nb_tensor *z = nbt_randn(NB_F64, 4, ts, 6, true);
	nb_conv2d_opts oc = {{2, 3}, {1, 0}, {1, 2}, 2};
	nb_tensor *y = nb_conv2d(g, z, w, NULL, &oc);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_tensor_numel(y), nb_tensor_numel(x));
	double a = 0, b = 0;
	for (size_t i = 0; i < nb_tensor_numel(x); i++)
		a += nb_tensor_get(y, i) * nb_tensor_get(x, i);
	for (size_t i = 0; i < nb_tensor_numel(z); i++)
		b += nb_tensor_get(z, i) * nb_tensor_get(t, i);
	cr_expect(fabs(a - b) <= 1e-10 * (1 + fabs(a)), "<conv2d(z), x> = "
	          "%.17g, <z, conv_transpose2d(x)> = %.17g", a, b);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(z);
	nb_graph_free(g);
}

Test(conv, conv1d_and_conv_transpose2d_errors)
{
	nb_tensor *x3 = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 4, 5));
	nb_tensor *w3 = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 4, 3));
	nb_tensor *w3b = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 3, 3));
	nb_tensor *w3big = nb_tensor_zeros(NB_F32, NB_SHAPE(6, 4, 6));
	nb_tensor *x4 = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 4, 5, 5));
	nb_tensor *w4 = nb_tensor_zeros(NB_F32, NB_SHAPE(4, 3, 3, 3));
	nb_tensor *w4b = nb_tensor_zeros(NB_F32, NB_SHAPE(5, 3, 3, 3));
	nb_tensor *b5 = nb_tensor_zeros(NB_F32, NB_SHAPE(5));
	nb_tensor *x1 = nb_tensor_zeros(NB_F32, NB_SHAPE(1, 4, 1, 1));
	expect_fail("conv1d", 3, (nb_tensor *[]){x4, w3, NULL}, "", NB_ESHAPE,
	            "input must be [N, C, L] (3-D), not 4-D");
	expect_fail("conv1d", 3, (nb_tensor *[]){x3, w4, NULL}, "", NB_ESHAPE,
	            "weight must be [C_out, C_in/groups, K] (3-D)");
	expect_fail("conv1d", 3, (nb_tensor *[]){x3, w3b, NULL}, "",
	            NB_ESHAPE, "channel mismatch: the input has 4 channels");
	expect_fail("conv1d", 3, (nb_tensor *[]){x3, w3, NULL}, "groups=4",
	            NB_ESHAPE, "groups=4 must divide");
	expect_fail("conv1d", 3, (nb_tensor *[]){x3, w3big, NULL}, "",
	            NB_ESHAPE, "larger than the padded input (5)");
	expect_fail("conv1d", 3, (nb_tensor *[]){x3, w3, b5}, "", NB_ESHAPE,
	            "bias must be [6]");
	/* attribute ranges are the dispatcher's (no shapes in those) */
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_call(g, "conv1d", 3, (nb_tensor *[]){x3, w3, NULL},
	                       "stride=0"));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "conv1d: attribute 'stride'"),
	          "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x4, w4b, NULL}, "",
	            NB_ESHAPE, "weight's first axis must be 4, not 5");
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x4, w4, b5}, "",
	            NB_ESHAPE, "bias must be [3]");
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x4, w4, NULL},
	            "groups=3", NB_ESHAPE, "groups=3 must divide");
	/* output_padding must be below the stride or the dilation */
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x4, w4, NULL},
	            "stride=2 output_padding=2", NB_EINVAL,
	            "output_padding (2, 2) must be smaller than either stride "
	            "(2, 2) or dilation (1, 1)");
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x4, w4, NULL},
	            "output_padding=0,1", NB_EINVAL, "output_padding (0, 1)");
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x1, w4, NULL},
	            "padding=2", NB_ESHAPE, "the output would be empty");
	expect_fail("conv_transpose2d", 3, (nb_tensor *[]){x4, w4, NULL},
	            "stride=1,2,3", NB_EINVAL, "stride takes one or two");
	/* accepted: output_padding below the dilation with stride 1 */
	g = nb_graph_new();
	nb_tensor *y = nb_call(g, "conv_transpose2d", 3,
	                       (nb_tensor *[]){x4, w4, NULL},
	                       "dilation=2 output_padding=1");
	cr_expect_not_null(y, "%s", nb_graph_errmsg(g));
	if (y)
		cr_expect_eq(nb_tensor_shape(y)[2], 5 + 4 + 1);
	nb_graph_free(g);
	nb_tensor *frees[] = {x3, w3, w3b, w3big, x4, w4, w4b, b5, x1};
	for (int i = 0; i < 9; i++)
		nb_tensor_free(frees[i]);
}

/* max_pool2d 2x2 stride 2 (its fast path, issue 17): ties go to the
 * first element, a window of -inf to its first, a number beats the ones
 * before it, and the last NaN of a window wins, as in the general loop
 * and PyTorch. */
Test(conv, max_pool_2x2_fast_path_keeps_the_rules)
{
	const double inf = INFINITY, nan = NAN;
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 4, 4),
		    (double[]){1, 1, -inf, -inf, 1, 1, -inf, -inf,
		               0, 2, nan, 5, 2, 1, nan, 1});
		nb_tensor_set_requires_grad(x, true);
		nb_pool2d_opts p = {.kernel_size = {2, 2}};
		nb_tensor *y = nb_max_pool2d(g, x, &p);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_get(y, 0), 1);
		cr_expect_eq(nb_tensor_get(y, 1), -inf);
		cr_expect_eq(nb_tensor_get(y, 2), 2);
		cr_expect(isnan(nb_tensor_get(y, 3)));
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		double want[16] = {0};
		want[0] = want[2] = want[9] = want[14] = 1;
		nbt_expect_close(nb_tensor_grad(x), want, 16, 0, 0, "dx");
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}
