/*
 * test_regularize.c - the regularizer ops (lib/ops/regularize.c) and
 * parameter-level gradient clipping (lib/clip.c).
 *
 * Forward values and gradients of the deterministic settings are also
 * checked against PyTorch by test_reference (tests/ref/ops/regularize.json);
 * here: the two L2 conventions, the penalty sum, dropout's training
 * behaviour measured statistically (PyTorch's random masks cannot be
 * compared), the clipping rules at, below and above their thresholds,
 * and clip_grad_norm / clip_grad_value against PyTorch values
 * (tests/ref/optim/clip.json, from tests/ref/gen_optim_ref.py).
 */
#include <jansson.h>
#include "support/helpers.h"

static const nb_dtype dtypes[] = {NB_F32, NB_F64};

/* p's gradient becomes exactly want (through backward of sum(p * want)). */
static void set_grad(nb_tensor *p, const double *want)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *c = nbt_tensor(nb_tensor_dtype(p), nb_tensor_ndim(p),
	                          nb_tensor_shape(p), want);
	nb_tensor_zero_grad(p);
	nb_tensor_set_requires_grad(p, true);
	nb_tensor *loss = nb_sum(g, nb_mul(g, p, c), 0, NULL, false);
	cr_assert_not_null(loss, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	nb_tensor_free(c);
	nb_graph_free(g);
}

/* ---- penalties ---- */

static const double W[] = {-1.5, 0.0, 2.0, 0.5};

/* Runs op on W (dtype dt) with attrs; checks the value and gradient. */
static void check_penalty(nb_dtype dt, const char *op, const char *attrs,
                          double want, const double *dwant)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *w = nbt_tensor(dt, NB_SHAPE(4), W);
	double tol = dt == NB_F32 ? 1e-6 : 1e-14;
	nb_tensor_set_requires_grad(w, true);
	nb_tensor *y = nb_call(g, op, 1, &w, attrs);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(y), 0, "%s: a scalar", op);
	cr_expect(fabs(nb_tensor_item(y) - want) <= tol * fabs(want),
	          "%s|%s = %.10g, want %.10g", op, attrs, nb_tensor_item(y),
	          want);
	cr_assert_eq(nb_backward(y, NULL), NB_OK);
	nbt_expect_close(nb_tensor_grad(w), dwant, 4, tol, tol, op);
	nb_tensor_free(w);
	nb_graph_free(g);
}

Test(penalty, l1_value_and_gradient_with_zero_at_the_kink)
{
	for (int d = 0; d < 2; d++)
		check_penalty(dtypes[d], "l1_penalty", "lambda=0.5", 0.5 * 4.0,
		              (double[]){-0.5, 0, 0.5, 0.5});
}

/* sum w^2 = 2.25 + 0 + 4 + 0.25 = 6.5 */
Test(penalty, l2_default_is_half_lambda)
{
	for (int d = 0; d < 2; d++) {
		check_penalty(dtypes[d], "l2_penalty", "lambda=0.5", 0.25 * 6.5,
		              (double[]){-0.75, 0, 1.0, 0.25});
		check_penalty(dtypes[d], "l2_penalty",
		              "lambda=0.5 convention=half", 0.25 * 6.5,
		              (double[]){-0.75, 0, 1.0, 0.25});
	}
}

Test(penalty, l2_full_convention)
{
	for (int d = 0; d < 2; d++)
		check_penalty(dtypes[d], "l2_penalty",
		              "lambda=0.5 convention=full", 0.5 * 6.5,
		              (double[]){-1.5, 0, 2.0, 0.5});
}

Test(penalty, typed_wrappers_match_the_ops)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *w = nbt_tensor(NB_F64, NB_SHAPE(4), W);
	cr_expect_float_eq(nb_tensor_item(nb_l1_penalty(g, w, 2)), 8.0, 1e-15);
	cr_expect_float_eq(nb_tensor_item(nb_l2_penalty(g, w, 2, NB_L2_HALF)),
	                   6.5, 1e-15);
	cr_expect_float_eq(nb_tensor_item(nb_l2_penalty(g, w, 2, NB_L2_FULL)),
	                   13.0, 1e-15);
	cr_expect_null(nb_l2_penalty(g, w, 2, (nb_l2_convention)7));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_tensor_free(w);
	nb_graph_free(g);
}

Test(penalty, negative_lambda_is_rejected)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *w = nbt_tensor(NB_F64, NB_SHAPE(4), W);
	cr_expect_null(nb_l1_penalty(g, w, -0.1));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "l1_penalty") &&
	          strstr(nb_graph_errmsg(g), "lambda"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_call(g, "l2_penalty", 1, &w, "convention=third"));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "half|full"), "%s",
	          nb_graph_errmsg(g));
	nb_tensor_free(w);
	nb_graph_free(g);
}

Test(penalty, sum_over_parameters)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *a = nbt_tensor(NB_F64, NB_SHAPE(4), W);
	nb_tensor *b = nbt_tensor(NB_F64, NB_SHAPE(2, 1), (double[]){3, -4});
	nb_tensor *ps[] = {a, b};
	nb_tensor_set_requires_grad(a, true);
	nb_tensor_set_requires_grad(b, true);
	nb_tensor *y = nb_penalty_sum(g, ps, 2, NB_PENALTY_L2_HALF, 0.1);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_float_eq(nb_tensor_item(y), 0.05 * (6.5 + 25), 1e-14);
	cr_assert_eq(nb_backward(y, NULL), NB_OK);
	nbt_expect_close(nb_tensor_grad(a), (double[]){-0.15, 0, 0.2, 0.05},
	                 4, 1e-15, 1e-14, "grad a");
	nbt_expect_close(nb_tensor_grad(b), (double[]){0.3, -0.4}, 2, 1e-15,
	                 1e-14, "grad b");
	y = nb_penalty_sum(g, ps, 2, NB_PENALTY_L1, 1);
	cr_expect_float_eq(nb_tensor_item(y), 4.0 + 7.0, 1e-14);
	y = nb_penalty_sum(g, ps, 1, NB_PENALTY_L2_FULL, 1);
	cr_expect_float_eq(nb_tensor_item(y), 6.5, 1e-14);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_graph_free(g);
}

Test(penalty, sum_errors)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *a = nbt_tensor(NB_F64, NB_SHAPE(4), W);
	nb_tensor *f = nbt_tensor(NB_F32, NB_SHAPE(4), W);
	cr_expect_null(nb_penalty_sum(g, &a, 0, NB_PENALTY_L1, 1));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "no parameters"));
	nb_graph_reset(g);
	cr_expect_null(nb_penalty_sum(g, (nb_tensor *[]){a, NULL}, 2,
	                              NB_PENALTY_L1, 1));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_reset(g);
	cr_expect_null(nb_penalty_sum(g, (nb_tensor *[]){a, f}, 2,
	                              NB_PENALTY_L1, 1));
	cr_expect_eq(nb_graph_status(g), NB_EDTYPE, "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_penalty_sum(g, &a, 1, (nb_penalty)9, 1));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect_null(nb_penalty_sum(NULL, &a, 1, NB_PENALTY_L1, 1));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	nb_tensor_free(a);
	nb_tensor_free(f);
	nb_graph_free(g);
}

/* ---- dropout ---- */

#define BIG 100000

/* dropout or alpha_dropout of a [BIG] tensor x in a fresh step. */
static nb_tensor *drop(nb_graph *g, bool alpha, nb_tensor *x, double p)
{
	nb_tensor *y = alpha ? nb_alpha_dropout(g, x, p) : nb_dropout(g, x, p);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	return y;
}

/*
 * Ones in, p = 0.3: every output is 0 or 1/(1-p); the kept fraction is
 * within 0.006 of 1 - p (binomial sd 0.00145, about 4 sd) and the mean
 * within 0.01 of 1 (sd 0.0021, about 5 sd).
 */
Test(dropout, training_keeps_the_mean_and_drops_a_fraction_p)
{
	for (int d = 0; d < 2; d++) {
		const double p = 0.3;
		nb_graph *g = nb_graph_new();
		nb_graph_seed(g, 1234);
		nb_tensor *x = nb_tensor_ones(dtypes[d], NB_SHAPE(BIG));
		nb_tensor *y = drop(g, false, x, p);
		size_t kept = 0, odd = 0;
		double sum = 0, k = 1 / (1 - p);
		for (size_t i = 0; i < BIG; i++) {
			double v = nb_tensor_get(y, i);
			kept += v != 0;
			odd += v != 0 && fabs(v - k) > 1e-6 * k;
			sum += v;
		}
		cr_expect_eq(odd, 0, "%zu outputs are neither 0 nor 1/(1-p)", odd);
		cr_expect(fabs((double)kept / BIG - (1 - p)) < 0.006,
		          "kept fraction %g, want %g", (double)kept / BIG, 1 - p);
		cr_expect(fabs(sum / BIG - 1) < 0.01, "mean %g, want 1",
		          sum / BIG);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

Test(dropout, same_seed_same_mask_other_seed_other_mask)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F64, NB_SHAPE(1000));
	double a[1000], b[1000], c[1000];
	nb_tensor *y;
	nb_graph_seed(g, 7);
	y = drop(g, false, x, 0.5);
	memcpy(a, nb_tensor_data(y), sizeof a);
	nb_graph_reset(g);
	nb_graph_seed(g, 7);
	y = drop(g, false, x, 0.5);
	memcpy(b, nb_tensor_data(y), sizeof b);
	nb_graph_seed(g, 8);
	y = drop(g, false, x, 0.5);
	memcpy(c, nb_tensor_data(y), sizeof c);
	cr_expect(!memcmp(a, b, sizeof a), "same seed, different masks");
	cr_expect(memcmp(a, c, sizeof a), "different seeds, same mask");
	/* A second call in one step draws a fresh mask. */
	nb_graph_seed(g, 7);
	drop(g, false, x, 0.5);
	y = drop(g, false, x, 0.5);
	cr_expect(memcmp(a, nb_tensor_data(y), sizeof a));
	nb_tensor_free(x);
	nb_graph_free(g);
}

/*
 * The mask is the documented stream (doc/regularization.md): element
 * 2j is kept iff bits 63..40 of the generator's draw j, times 2^-24,
 * are below 1 - p, element 2j + 1 iff bits 39..16 are; an odd count
 * leaves the last draw's second half unused, so the generator moves
 * by ceil(n / 2) draws.  p = 0.3 and an odd n; also q = 1 - p = 0.5,
 * where k 2^-24 < q is exactly k < 2^23.
 */
Test(dropout, mask_is_the_documented_24_bit_stream)
{
	const size_t n = 1001;
	const double ps[] = {0.3, 0.5};
	for (int t = 0; t < 2; t++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE((int64_t)n));
		nb_graph_seed(g, 42);
		nb_rng r = *nb_graph_rng(g);
		nb_tensor *y = drop(g, false, x, ps[t]);
		size_t bad = 0;
		for (size_t i = 0; i < n; i += 2) {
			uint64_t d = nb_rng_next(&r);
			uint64_t k[2] = {d >> 40, (d >> 16) & 0xffffff};
			for (size_t h = 0; h < 2 && i + h < n; h++) {
				bool keep = (double)k[h] * 0x1.0p-24 < 1 - ps[t];
				bad += keep != (nb_tensor_get(y, i + h) != 0);
			}
		}
		cr_expect_eq(bad, 0, "p = %g: %zu mask elements differ from "
		             "the documented draws", ps[t], bad);
		cr_expect_eq(nb_rng_next(&r), nb_rng_next(nb_graph_rng(g)),
		             "the generator did not move by ceil(n / 2) draws");
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/*
 * Backward uses the mask forward drew: grad = gout * mask / (1 - p),
 * even after the generator was reseeded and the graph set to eval mode
 * between forward and backward.
 */
Test(dropout, backward_reuses_the_forward_mask)
{
	for (int alpha = 0; alpha < 2; alpha++)
		for (int d = 0; d < 2; d++) {
			const double p = 0.4;
			double scale = alpha ? 1 / sqrt((1 - p) * (1 + p *
			               1.7580993408473766 * 1.7580993408473766))
			                     : 1 / (1 - p);
			nb_graph *g = nb_graph_new();
			nb_rng r;
			nb_rng_seed(&r, 5);
			nb_tensor *x = nb_tensor_randn(dtypes[d], NB_SHAPE(5000), &r,
			                               0, 1);
			nb_tensor *go = nb_tensor_randn(dtypes[d], NB_SHAPE(5000), &r,
			                                0, 1);
			nb_tensor_set_requires_grad(x, true);
			nb_tensor *y = drop(g, alpha, x, p);
			nb_graph_seed(g, 99);
			nb_graph_set_training(g, false);
			cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_last_error());
			nb_tensor *gx = nb_tensor_grad(x);
			size_t bad = 0, kept = 0;
			for (size_t i = 0; i < 5000; i++) {
				/* Kept iff y is the affine image of x. */
				double xv = nb_tensor_get(x, i), yv = nb_tensor_get(y, i);
				double shift = alpha ? 1.7580993408473766 * scale * p : 0;
				bool k = fabs(yv - (xv * scale + shift)) <=
				         1e-5 * (1 + fabs(yv));
				double want = k ? nb_tensor_get(go, i) * scale : 0;
				kept += k;
				bad += fabs(nb_tensor_get(gx, i) - want) >
				       1e-6 * (1 + fabs(want));
			}
			cr_expect_eq(bad, 0, "%s %s: %zu gradients differ from "
			             "gout * mask * scale", alpha ? "alpha_dropout"
			             : "dropout", nb_dtype_name(dtypes[d]), bad);
			cr_expect(kept > 2700 && kept < 3300, "kept %zu of 5000",
			          kept);
			nb_tensor_free(x);
			nb_tensor_free(go);
			nb_graph_free(g);
		}
}

/* Eval mode and p = 0 are the identity and draw nothing; p = 1 gives
 * zeros and a zero gradient. */
Test(dropout, eval_mode_p0_and_p1)
{
	for (int alpha = 0; alpha < 2; alpha++) {
		nb_graph *g = nb_graph_new();
		nb_rng r;
		nb_rng_seed(&r, 3);
		nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(64), &r, 0, 1);
		nb_tensor_set_requires_grad(x, true);
		nb_graph_seed(g, 11);
		nb_rng before = *nb_graph_rng(g);
		nb_tensor *y = drop(g, alpha, x, 0);
		nb_graph_set_training(g, false);
		nb_tensor *z = drop(g, alpha, x, 0.5);
		cr_expect(!memcmp(nb_tensor_data(y), nb_tensor_data(x), 64 * 4));
		cr_expect(!memcmp(nb_tensor_data(z), nb_tensor_data(x), 64 * 4));
		cr_expect(!memcmp(&before, nb_graph_rng(g), sizeof before),
		          "the identity cases drew from the generator");
		nb_graph_set_training(g, true);
		nb_tensor *o = drop(g, alpha, x, 1);
		nb_tensor *s = nb_sum(g, nb_add(g, nb_add(g, y, z), o), 0, NULL,
		                      false);
		cr_assert_eq(nb_backward(s, NULL), NB_OK);
		for (size_t i = 0; i < 64; i++) {
			cr_expect_eq(nb_tensor_get(o, i), 0.0);
			cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), i), 2.0);
		}
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/*
 * Alpha dropout keeps a standard normal input standard: over 1e5
 * elements, mean within 0.02 of 0 (sd 0.0032) and variance within 0.03
 * of 1 (sd about 0.006).  Dropped elements all equal a * alpha' + b.
 */
Test(dropout, alpha_dropout_keeps_mean_and_variance)
{
	for (int d = 0; d < 2; d++) {
		const double p = 0.2, al = -1.7580993408473766;
		double a = 1 / sqrt((1 - p) * (1 + p * al * al)), b = -a * al * p;
		nb_graph *g = nb_graph_new();
		nb_rng r;
		nb_rng_seed(&r, 21);
		nb_tensor *x = nb_tensor_randn(dtypes[d], NB_SHAPE(BIG), &r, 0, 1);
		nb_tensor *y = drop(g, true, x, p);
		double s = 0, s2 = 0;
		size_t dropped = 0;
		for (size_t i = 0; i < BIG; i++) {
			double v = nb_tensor_get(y, i);
			s += v;
			s2 += v * v;
			dropped += fabs(v - (a * al + b)) < 1e-6;
		}
		double mean = s / BIG, var = s2 / BIG - mean * mean;
		cr_expect(fabs(mean) < 0.02, "mean %g, want 0", mean);
		cr_expect(fabs(var - 1) < 0.03, "variance %g, want 1", var);
		cr_expect(fabs((double)dropped / BIG - p) < 0.006,
		          "dropped fraction %g, want %g", (double)dropped / BIG, p);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

Test(dropout, p_outside_0_1_is_rejected)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(4));
	cr_expect_null(nb_dropout(g, x, 1.5));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "dropout") &&
	          strstr(nb_graph_errmsg(g), "'p'"), "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_call(g, "alpha_dropout", 1, &x, "p=-0.1"));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* ---- clipping ops ---- */

/* The gradient reaching x through op(x) for output gradient go. */
static void clip_op_grad(nb_tensor *(*op)(nb_graph *, nb_tensor *, double),
                         double lim, const double *go, double *out, size_t n)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F64, NB_SHAPE((int64_t)n));
	nb_tensor *gt = nbt_tensor(NB_F64, NB_SHAPE((int64_t)n), go);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = op(g, x, lim);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(nb_tensor_get(y, i), 1.0, "forward is the identity");
	cr_assert_eq(nb_backward(y, gt), NB_OK, "%s", nb_last_error());
	for (size_t i = 0; i < n; i++)
		out[i] = nb_tensor_get(nb_tensor_grad(x), i);
	nb_tensor_free(x);
	nb_tensor_free(gt);
	nb_graph_free(g);
}

Test(clip_op, value_below_at_and_above)
{
	double go[] = {-3, -0.5, 0, 0.5, 0.25, 3}, out[6];
	clip_op_grad(nb_clip_grad_value_op, 5, go, out, 6); /* below */
	for (int i = 0; i < 6; i++)
		cr_expect_eq(out[i], go[i]);
	clip_op_grad(nb_clip_grad_value_op, 3, go, out, 6); /* at */
	for (int i = 0; i < 6; i++)
		cr_expect_eq(out[i], go[i]);
	clip_op_grad(nb_clip_grad_value_op, 0.5, go, out, 6); /* above */
	double want[] = {-0.5, -0.5, 0, 0.5, 0.25, 0.5};
	for (int i = 0; i < 6; i++)
		cr_expect_eq(out[i], want[i], "[%d] %g, want %g", i, out[i],
		             want[i]);
}

/* g = (3, 4), norm 5: the coefficient is max_norm / (5 + 1e-6), capped
 * at 1. */
Test(clip_op, norm_below_at_and_above)
{
	double go[] = {3, 4}, out[2];
	clip_op_grad(nb_clip_grad_norm_op, 10, go, out, 2); /* below */
	cr_expect_eq(out[0], 3.0);
	cr_expect_eq(out[1], 4.0);
	clip_op_grad(nb_clip_grad_norm_op, 5, go, out, 2); /* at */
	double k = 5 / (5 + 1e-6);
	cr_expect_float_eq(out[0], 3 * k, 1e-15);
	cr_expect_float_eq(out[1], 4 * k, 1e-15);
	cr_expect(out[0] < 3.0, "at the threshold PyTorch shrinks by 1e-6/5");
	clip_op_grad(nb_clip_grad_norm_op, 1, go, out, 2); /* above */
	k = 1 / (5 + 1e-6);
	cr_expect_float_eq(out[0], 3 * k, 1e-15);
	cr_expect_float_eq(out[1], 4 * k, 1e-15);
	cr_expect_float_eq(hypot(out[0], out[1]), 1.0, 1e-6);
	clip_op_grad(nb_clip_grad_norm_op, 0, go, out, 2); /* zero */
	cr_expect_eq(out[0], 0.0);
}

/* The clipped gradient is accumulated, not assigned: x used twice. */
Test(clip_op, accumulates_into_the_input_gradient)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(2));
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = nb_add(g, nb_clip_grad_value_op(g, nb_affine_scalar(
	    g, x, 10, 0), 1), x);
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	/* d/dx = 10 * clamp(1, -1, 1) + 1 */
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), 0), 11.0);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(clip_op, flags_and_bad_attributes)
{
	const nb_op *v = nb_op_find("clip_grad_value");
	const nb_op *n = nb_op_find("clip_grad_norm");
	cr_assert(v && n);
	cr_expect(v->flags & NB_OP_GRAD_MODIFYING);
	cr_expect(n->flags & NB_OP_GRAD_MODIFYING);
	/* The documented rule is test metadata, in op->test (issue 13). */
	cr_assert(v->test && n->test);
	cr_expect(v->test->grad_rule && n->test->grad_rule);
	cr_expect(nb_op_find("dropout")->flags & NB_OP_RANDOM);
	cr_expect(nb_op_find("alpha_dropout")->flags & NB_OP_RANDOM);
	cr_expect_eq(nb_op_find("l1_penalty")->kind, NB_KIND_REGULARIZER);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(2));
	cr_expect_null(nb_clip_grad_value_op(g, x, -1));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "clip_grad_value"));
	nb_graph_reset(g);
	cr_expect_null(nb_clip_grad_norm_op(g, x, NAN));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* ---- clipping on parameters ---- */

Test(clip_params, norm_by_hand)
{
	nb_tensor *a = nb_tensor_zeros(NB_F64, NB_SHAPE(2));
	nb_tensor *b = nb_tensor_zeros(NB_F32, NB_SHAPE(1));
	nb_tensor *c = nb_tensor_zeros(NB_F64, NB_SHAPE(3)); /* no grad */
	nb_tensor *ps[] = {a, b, c};
	double total = -1;
	set_grad(a, (double[]){3, 4});
	set_grad(b, (double[]){12});
	/* total = sqrt(9 + 16 + 144) = 13 */
	cr_expect_eq(nb_clip_grad_norm(ps, 3, 100, 2, true, &total), NB_OK);
	cr_expect_float_eq(total, 13.0, 1e-15);
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(a), 0), 3.0, "below: kept");
	cr_expect_eq(nb_clip_grad_norm(ps, 3, 1.3, 2, true, &total), NB_OK);
	double k = 1.3 / (13 + 1e-6);
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(a), 1), 4 * k, 1e-15);
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(b), 0), 12 * k, 1e-6);
	cr_expect_null(nb_tensor_grad(c));
	/* Infinity norm: max |g| = 12 k. */
	set_grad(a, (double[]){3, -4});
	set_grad(b, (double[]){-12});
	cr_expect_eq(nb_clip_grad_norm(ps, 3, 6, INFINITY, false, &total),
	             NB_OK);
	cr_expect_float_eq(total, 12.0, 1e-15);
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(b), 0),
	                   -12 * 6 / (12 + 1e-6), 1e-6);
	/* No gradient at all: total 0, nothing to do. */
	cr_expect_eq(nb_clip_grad_norm(&c, 1, 1, 2, true, &total), NB_OK);
	cr_expect_eq(total, 0.0);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_tensor_free(c);
}

Test(clip_params, nonfinite_total)
{
	nb_tensor *a = nb_tensor_zeros(NB_F64, NB_SHAPE(2));
	double total = 0;
	set_grad(a, (double[]){1, 1});
	((double *)nb_tensor_data(nb_tensor_grad(a)))[1] = INFINITY;
	cr_expect_eq(nb_clip_grad_norm(&a, 1, 1, 2, true, &total),
	             NB_ENONFINITE);
	cr_expect(isinf(total));
	cr_expect(strstr(nb_last_error(), "non") || strstr(nb_last_error(),
	          "cannot be clipped"), "%s", nb_last_error());
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(a), 0), 1.0, "unchanged");
	/* Without the flag: scaled by 1 / inf = 0, as PyTorch. */
	cr_expect_eq(nb_clip_grad_norm(&a, 1, 1, 2, false, NULL), NB_OK);
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(a), 0), 0.0);
	cr_expect(isnan(nb_tensor_get(nb_tensor_grad(a), 1)));
	nb_tensor_free(a);
}

Test(clip_params, value_and_errors)
{
	nb_tensor *a = nb_tensor_zeros(NB_F32, NB_SHAPE(4));
	set_grad(a, (double[]){-2, -0.5, 0.5, 2});
	cr_expect_eq(nb_clip_grad_value(&a, 1, 1), NB_OK);
	nbt_expect_close(nb_tensor_grad(a), (double[]){-1, -0.5, 0.5, 1}, 4, 0,
	                 0, "clamped");
	cr_expect_eq(nb_clip_grad_value(&a, 1, -1), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "clip_grad_value"));
	cr_expect_eq(nb_clip_grad_value((nb_tensor *[]){NULL}, 1, 1),
	             NB_EINVAL);
	cr_expect_eq(nb_clip_grad_norm(&a, 1, -1, 2, false, NULL), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "max_norm"));
	cr_expect_eq(nb_clip_grad_norm(&a, 1, 1, 0, false, NULL), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "norm_type"));
	cr_expect_eq(nb_clip_grad_norm(NULL, 2, 1, 2, false, NULL), NB_EINVAL);
	cr_expect_eq(nb_clip_grad_norm(NULL, 0, 1, 2, false, NULL), NB_OK);
	nb_tensor_free(a);
}

/* tests/ref/optim/clip.json: torch.nn.utils.clip_grad_norm_ and
 * clip_grad_value_ on several gradients at once. */
static double num(json_t *v)
{
	if (json_is_string(v))
		return !strcmp(json_string_value(v), "inf") ? INFINITY : NAN;
	return json_number_value(v);
}

static nb_tensor *tensor_of(json_t *o, nb_dtype dt)
{
	int64_t shape[NB_MAX_DIMS];
	json_t *s = json_object_get(o, "shape"), *data = json_object_get(o,
	                                                                  "data");
	for (size_t i = 0; i < json_array_size(s); i++)
		shape[i] = json_integer_value(json_array_get(s, i));
	nb_tensor *t = nb_tensor_zeros(dt, (int)json_array_size(s), shape);
	cr_assert_not_null(t);
	for (size_t i = 0; i < json_array_size(data); i++)
		nb_tensor_set(t, i, json_number_value(json_array_get(data, i)));
	return t;
}

static void run_clip_case(json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *dts = json_string_value(json_object_get(c, "dtype"));
	nb_dtype dt = !strcmp(dts, "float32") ? NB_F32 : NB_F64;
	double tol = dt == NB_F32 ? 1e-6 : 1e-13;
	json_t *grads = json_object_get(c, "grads");
	json_t *want = json_object_get(c, "clipped");
	size_t n = json_array_size(grads);
	nb_tensor *ps[8] = {0};
	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++) {
		json_t *gi = json_array_get(grads, i);
		if (json_is_null(gi)) {
			ps[i] = nb_tensor_zeros(dt, NB_SHAPE(1));
			continue;
		}
		nb_tensor *g = tensor_of(gi, NB_F64);
		ps[i] = nb_tensor_zeros(dt, nb_tensor_ndim(g), nb_tensor_shape(g));
		set_grad(ps[i], nb_tensor_data(g));
		nb_tensor_free(g);
	}
	const char *kind = json_string_value(json_object_get(c, "kind"));
	if (!strcmp(kind, "norm")) {
		double total = -1;
		nb_status st = nb_clip_grad_norm(ps, n,
		    num(json_object_get(c, "max_norm")),
		    num(json_object_get(c, "norm_type")), false, &total);
		cr_expect_eq(st, NB_OK, "%s: %s", name, nb_last_error());
		double wt = num(json_object_get(c, "total_norm"));
		cr_expect(fabs(total - wt) <= tol * fabs(wt), "%s (%s): total "
		          "%.10g, want %.10g", name, dts, total, wt);
	} else {
		cr_expect_eq(nb_clip_grad_value(ps, n, num(json_object_get(c,
		             "clip"))), NB_OK);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *wi = json_array_get(want, i);
		char what[96];
		snprintf(what, sizeof what, "%s (%s) grad %zu", name, dts, i);
		if (json_is_null(wi)) {
			cr_expect_null(nb_tensor_grad(ps[i]), "%s", what);
		} else {
			nb_tensor *w = tensor_of(wi, NB_F64);
			nbt_expect_close(nb_tensor_grad(ps[i]), nb_tensor_data(w),
			                 nb_tensor_numel(w), tol, tol, what);
			nb_tensor_free(w);
		}
		nb_tensor_free(ps[i]);
	}
}

Test(clip_params, matches_pytorch)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/ref/optim/clip.json",
	         nbt_srcdir());
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s: %s", path, err.text);
	size_t i, count = 0;
	json_t *c;
	json_array_foreach(json_object_get(root, "cases"), i, c) {
		run_clip_case(c);
		count++;
	}
	cr_expect_geq(count, 8, "only %zu clip cases", count);
	json_decref(root);
}
