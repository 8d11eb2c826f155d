/*
 * test_convplus.c - adaptive_avg_pool2d, upsample_nearest2d and
 * dropout2d (lib/ops/convplus.c): windows and source indices worked by
 * hand (including where PyTorch's scale_factor and size paths differ),
 * dropout2d's whole-channel mask (statistics, the documented stream,
 * backward reusing it, evaluation mode, the spec layer), and the error
 * paths.  PyTorch references are in tests/ref/ops/convplus.json
 * (test_reference), the gradients checked numerically by test_gradcheck.
 */
#include "support/helpers.h"

static const nb_dtype dtypes[] = {NB_F32, NB_F64};

/* op(x | attrs) must fail with code and a message naming the op and
 * containing want. */
static void expect_fail(const char *op, nb_tensor *x, const char *attrs,
                        nb_status code, const char *want)
{
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_call(g, op, 1, &x, attrs), "%s|%s: accepted", op,
	               attrs);
	const char *msg = nb_graph_errmsg(g);
	cr_expect_eq(nb_graph_status(g), code, "%s|%s: %s (%s)", op, attrs,
	             nb_strerror(nb_graph_status(g)), msg);
	cr_expect(strncmp(msg, op, strlen(op)) == 0, "'%s'", msg);
	cr_expect(strstr(msg, want) != NULL, "'%s' lacks '%s'", msg, want);
	nb_graph_free(g);
}

/* ---- adaptive_avg_pool2d ---- */

/*
 * Width 5 into 3: windows [0, 2), [1, 4), [3, 5) (floor(i 5 / 3) to
 * ceil((i + 1) 5 / 3)), overlapping at 1 and 3; the gradient of ones
 * shares 1/2, 1/3, 1/2 over them.
 */
Test(convplus, adaptive_windows_overlap_as_pytorch)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 1, 5),
		                          (double[]){1, 2, 3, 4, 5});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *y = nb_adaptive_avg_pool2d(g, x, 1, 3);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		nbt_expect_close(y, (double[]){1.5, 3, 4.5}, 3, 1e-7, 0, "y");
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK);
		nbt_expect_close(nb_tensor_grad(x),
		                 (double[]){0.5, 0.5 + 1.0 / 3, 1.0 / 3,
		                            1.0 / 3 + 0.5, 0.5}, 5, 1e-7, 0, "dx");
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/* output_size 0 gives an empty result (PyTorch's forward does too) and
 * a zero gradient. */
Test(convplus, adaptive_empty_output)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F64, NB_SHAPE(1, 2, 3, 3));
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = nb_adaptive_avg_pool2d(g, x, 0, 2);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_numel(y), 0);
	cr_expect_eq(nb_tensor_shape(y)[3], 2);
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	for (size_t i = 0; i < 18; i++)
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), i), 0.0);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(convplus, adaptive_errors)
{
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(1, 2, 3, 3));
	nb_tensor *x0 = nb_tensor_ones(NB_F32, NB_SHAPE(1, 2, 0, 3));
	nb_tensor *x2 = nb_tensor_ones(NB_F32, NB_SHAPE(3, 3));
	expect_fail("adaptive_avg_pool2d", x, "", NB_EINVAL,
	            "output_size takes one or two values");
	expect_fail("adaptive_avg_pool2d", x, "output_size=1,2,3", NB_EINVAL,
	            "output_size takes one or two values");
	expect_fail("adaptive_avg_pool2d", x, "output_size=-1", NB_EINVAL,
	            "output_size=-1 is outside");
	expect_fail("adaptive_avg_pool2d", x0, "output_size=2", NB_ESHAPE,
	            "must not be empty but for its batch axis");
	expect_fail("adaptive_avg_pool2d", x2, "output_size=2", NB_ESHAPE,
	            "input must be [N, C, H, W] or [C, H, W], not 2-D");
	nb_tensor_free(x);
	nb_tensor_free(x0);
	nb_tensor_free(x2);
}

/* ---- upsample_nearest2d ---- */

/*
 * Width 5 to 8: by scale_factor=1.7 PyTorch reads column floor(o /
 * 1.7), by size=8 column floor(o * 5 / 8), and the two differ at o = 5
 * (2 and 3).  The gradient counts the reads of each column.
 */
Test(convplus, nearest_scale_and_size_read_different_columns)
{
	static const double by_scale[8] = {0, 0, 1, 1, 2, 2, 3, 4};
	static const double by_size[8] = {0, 0, 1, 1, 2, 3, 3, 4};
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 1, 1, 5),
		                          (double[]){0, 1, 2, 3, 4});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *a = nb_upsample_nearest2d(g, x, 0, 0, 1.7);
		nb_tensor *b = nb_upsample_nearest2d(g, x, 1, 8, NAN);
		cr_assert_not_null(a, "%s", nb_graph_errmsg(g));
		cr_assert_not_null(b, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_tensor_shape(a)[2], 1); /* floor(1 * 1.7) */
		nbt_expect_close(a, by_scale, 8, 0, 0, "scale_factor=1.7");
		nbt_expect_close(b, by_size, 8, 0, 0, "size=1,8");
		cr_assert_eq(nb_backward(nb_sum(g, a, 0, NULL, false), NULL),
		             NB_OK);
		nbt_expect_close(nb_tensor_grad(x), (double[]){2, 2, 2, 1, 1}, 5,
		                 0, 0, "dx");
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

Test(convplus, nearest_errors)
{
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(1, 2, 3, 3));
	nb_tensor *x3 = nb_tensor_ones(NB_F32, NB_SHAPE(2, 3, 3));
	expect_fail("upsample_nearest2d", x, "", NB_EINVAL,
	            "give either size or scale_factor");
	expect_fail("upsample_nearest2d", x, "size=4 scale_factor=2",
	            NB_EINVAL, "give either size or scale_factor");
	expect_fail("upsample_nearest2d", x, "scale_factor=0.2", NB_ESHAPE,
	            "sizes must be greater than 0 (output 0x0)");
	expect_fail("upsample_nearest2d", x, "size=0,3", NB_EINVAL,
	            "size=0 is outside");
	expect_fail("upsample_nearest2d", x3, "scale_factor=2", NB_ESHAPE,
	            "input must be [N, C, H, W] (4-D), not 3-D");
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_upsample_nearest2d(g, x, 4, 4, 2.0));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(x3);
}

/* ---- dropout2d ---- */

/*
 * Ones [40, 50, 3, 3], p = 0.3: every plane is all 0 or all 1/(1-p);
 * the kept fraction of the 2000 planes is within 0.05 of 1 - p
 * (binomial sd 0.0102, about 5 sd).
 */
Test(convplus, dropout2d_drops_whole_channels)
{
	for (int d = 0; d < 2; d++) {
		const double p = 0.3, k = 1 / (1 - p);
		nb_graph *g = nb_graph_new();
		nb_graph_seed(g, 1234);
		nb_tensor *x = nb_tensor_ones(dtypes[d], NB_SHAPE(40, 50, 3, 3));
		nb_tensor *y = nb_dropout2d(g, x, p);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		size_t kept = 0, mixed = 0, odd = 0;
		for (size_t pl = 0; pl < 2000; pl++) {
			double v0 = nb_tensor_get(y, pl * 9);
			for (size_t i = 1; i < 9; i++)
				mixed += nb_tensor_get(y, pl * 9 + i) != v0;
			odd += v0 != 0 && fabs(v0 - k) > 1e-6 * k;
			kept += v0 != 0;
		}
		cr_expect_eq(mixed, 0, "%zu elements differ from their plane's",
		             mixed);
		cr_expect_eq(odd, 0, "%zu planes are neither 0 nor 1/(1-p)", odd);
		cr_expect(fabs((double)kept / 2000 - (1 - p)) < 0.05,
		          "kept fraction %g, want %g", (double)kept / 2000, 1 - p);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/*
 * The mask is dropout's documented stream with one element per [n, c]
 * plane: plane 2j is kept iff bits 63..40 of draw j, times 2^-24, are
 * below 1 - p, plane 2j + 1 iff bits 39..16 are; ceil(planes / 2)
 * draws.  Odd plane count; [3, 5, 2] (rank 3: channels of length 2).
 */
Test(convplus, dropout2d_mask_is_the_documented_stream)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(3, 5, 2));
	nb_graph_seed(g, 42);
	nb_rng r = *nb_graph_rng(g);
	nb_tensor *y = nb_dropout2d(g, x, 0.4);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	size_t bad = 0;
	for (size_t i = 0; i < 15; i += 2) {
		uint64_t dr = nb_rng_next(&r);
		uint64_t k[2] = {dr >> 40, (dr >> 16) & 0xffffff};
		for (size_t h = 0; h < 2 && i + h < 15; h++) {
			bool keep = (double)k[h] * 0x1.0p-24 < 0.6;
			bad += keep != (nb_tensor_get(y, (i + h) * 2) != 0);
			bad += keep != (nb_tensor_get(y, (i + h) * 2 + 1) != 0);
		}
	}
	cr_expect_eq(bad, 0, "%zu elements differ from the documented draws",
	             bad);
	cr_expect_eq(nb_rng_next(&r), nb_rng_next(nb_graph_rng(g)),
	             "the generator did not move by ceil(planes / 2) draws");
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* Backward uses the mask forward drew (after a reseed and a switch to
 * evaluation mode), into a fresh gradient and accumulating. */
Test(convplus, dropout2d_backward_reuses_the_forward_mask)
{
	for (int d = 0; d < 2; d++) {
		const double p = 0.5;
		nb_graph *g = nb_graph_new();
		nb_rng r;
		nb_rng_seed(&r, 5);
		nb_tensor *x = nb_tensor_randn(dtypes[d], NB_SHAPE(4, 6, 2, 3), &r,
		                               0, 1);
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *y = nb_dropout2d(g, x, p);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		/* used twice: the second backward call accumulates */
		nb_tensor *s = nb_add(g, nb_sum(g, y, 0, NULL, false),
		                      nb_sum(g, nb_mul(g, y, y), 0, NULL, false));
		nb_graph_seed(g, 99);
		nb_graph_set_training(g, false);
		cr_assert_eq(nb_backward(s, NULL), NB_OK, "%s", nb_last_error());
		size_t bad = 0;
		for (size_t i = 0; i < 144; i++) {
			double yv = nb_tensor_get(y, i);
			bool kept = nb_tensor_get(y, (i / 6) * 6) != 0;
			double want = kept ? (1 + 2 * yv) / (1 - p) : 0;
			bad += fabs(nb_tensor_get(nb_tensor_grad(x), i) - want) >
			       1e-5 * (1 + fabs(want));
		}
		cr_expect_eq(bad, 0, "%s: %zu gradients differ from g m/(1-p)",
		             nb_dtype_name(dtypes[d]), bad);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/* Evaluation mode and p = 0 are the identity and draw nothing; p = 1
 * gives x * 0 (NaN stays NaN, as PyTorch's product with the mask). */
Test(convplus, dropout2d_eval_p0_p1)
{
	nb_graph *g = nb_graph_new();
	nb_rng r;
	nb_rng_seed(&r, 3);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(2, 3, 4), &r, 0, 1);
	nb_tensor_set(x, 5, NAN);
	nb_graph_seed(g, 11);
	nb_rng before = *nb_graph_rng(g);
	nb_tensor *a = nb_dropout2d(g, x, 0);
	nb_graph_set_training(g, false);
	nb_tensor *b = nb_dropout2d(g, x, 0.5);
	cr_assert(a && b, "%s", nb_graph_errmsg(g));
	cr_expect(!memcmp(&before, nb_graph_rng(g), sizeof before),
	          "the identity cases drew from the generator");
	nb_graph_set_training(g, true);
	nb_tensor *z = nb_dropout2d(g, x, 1);
	cr_assert_not_null(z, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; i < 24; i++) {
		double v = nb_tensor_get(x, i);
		cr_expect(nb_tensor_get(a, i) == v || (isnan(v) &&
		          isnan(nb_tensor_get(a, i))));
		cr_expect(nb_tensor_get(b, i) == v || (isnan(v) &&
		          isnan(nb_tensor_get(b, i))));
		cr_expect(i == 5 ? isnan(nb_tensor_get(z, i))
		                 : nb_tensor_get(z, i) == 0, "z[%zu] = %g", i,
		          nb_tensor_get(z, i));
	}
	nb_tensor *x1 = nb_tensor_ones(NB_F32, NB_SHAPE(5));
	expect_fail("dropout2d", x1, "", NB_ESHAPE,
	            "the input needs at least 2 dims, not 1");
	nb_tensor_free(x1);
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* dropout2d is a spec layer, drop2d1, after convolutions. */
Test(convplus, dropout2d_spec_layer)
{
	nb_model_opts o = {.dtype = NB_F64};
	nb_module *m = nb_model_parse("conv2d:4:3 dropout2d:0.25 flatten "
	                              "linear:2", 36, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_str_eq(nb_module_name(nb_module_child(m, 2)), "drop2d1");
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 36));
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_graph_node_op(g, 2) == nb_op_find("dropout2d"), true);
	nb_graph_free(g);
	nb_module_free(m);
}
