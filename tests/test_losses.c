/*
 * test_losses.c - the losses of lib/ops/losses.c and the reduction and
 * class weights of mse and cross_entropy (lib/ops/loss.c).
 *
 * Values and gradients are checked against PyTorch by test_reference
 * (tests/ref/ops/loss.json); here: what JSON cannot hold (the NaN mean of
 * nothing, as PyTorch 1.13), the errors (out-of-range class indices,
 * probabilities outside [0, 1], shapes, attributes), and that the typed
 * wrappers pass every attribute.
 */
#include <math.h>
#include "support/helpers.h"

static const nb_dtype dtypes[] = {NB_F32, NB_F64};

static void expect_fail(nb_graph *g, const nb_tensor *r, nb_status code,
                        const char *what, ...)
{
	va_list ap;
	cr_expect_null(r, "%s: a result instead of an error", what);
	cr_expect_eq(nb_graph_status(g), code, "%s: status %s, want %s (%s)",
	             what, nb_strerror(nb_graph_status(g)), nb_strerror(code),
	             nb_graph_errmsg(g));
	va_start(ap, what);
	for (const char *s; (s = va_arg(ap, const char *));)
		cr_expect(strstr(nb_graph_errmsg(g), s) != NULL,
		          "%s: message '%s' lacks '%s'", what, nb_graph_errmsg(g),
		          s);
	va_end(ap);
	nb_graph_clear_error(g);
}

static nb_tensor *data(nb_graph *g, nb_dtype dt, int ndim,
                       const int64_t *shape, const double *v)
{
	nb_tensor *t = nb_graph_tensor(g, dt, ndim, shape);
	cr_assert_not_null(t);
	for (size_t i = 0; i < nb_tensor_numel(t); i++)
		nb_tensor_set(t, i, v[i]);
	return t;
}

static nb_tensor *labels(nb_graph *g, int n, const int64_t *v)
{
	nb_tensor *t = nb_graph_from_data(g, NB_I64, NB_SHAPE(n), v);
	cr_assert_not_null(t);
	return t;
}

/* A class index outside [0, C) is an error naming the op and the
 * position, before anything is read (ASan / valgrind would catch a read
 * out of bounds); ignore_index itself may be anything. */
Test(losses, nll_target_out_of_range)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(3, 5));
	nb_tensor *t = labels(g, 3, (int64_t[]){0, 5, 1});
	expect_fail(g, nb_nll_loss(g, x, t, NULL, -100, NB_REDUCTION_MEAN),
	            NB_EINVAL, "5 of 5", "nll_loss", "target 5", "position 1",
	            "[0, 5)", NULL);
	expect_fail(g, nb_nll_loss(g, x, t, NULL, -100, NB_REDUCTION_NONE),
	            NB_EINVAL, "none", "nll_loss", "target 5", NULL);
	nb_tensor_set(t, 1, -1);
	expect_fail(g, nb_nll_loss(g, x, t, NULL, -100, NB_REDUCTION_SUM),
	            NB_EINVAL, "-1", "target -1", NULL);
	cr_expect_not_null(nb_nll_loss(g, x, t, NULL, -1, NB_REDUCTION_SUM),
	                   "%s", nb_graph_errmsg(g));
	nb_tensor_set(t, 1, 1000000);
	cr_expect_not_null(nb_nll_loss(g, x, t, NULL, 1000000,
	                               NB_REDUCTION_MEAN), "%s",
	                   nb_graph_errmsg(g));
	nb_tensor_set(t, 1, INT64_MIN);
	expect_fail(g, nb_cross_entropy(g, x, t, NULL, -100, NB_REDUCTION_SUM,
	                                0.1), NB_EINVAL, "ce min", "cross_entropy",
	            "position 1", NULL);
	nb_graph_free(g);
}

/* Every target ignored: the mean is NaN (0 / 0, as PyTorch 1.13), the
 * sum 0, the gradient 0; an empty batch likewise. */
Test(losses, mean_of_nothing_is_nan)
{
	for (int k = 0; k < 2; k++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_full(dtypes[k], NB_SHAPE(3, 4), 0.5);
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *t = labels(g, 3, (int64_t[]){-100, -100, -100});
		nb_tensor *w = nb_graph_tensor(g, dtypes[k], NB_SHAPE(4));
		nb_tensor *l = nb_nll_loss(g, x, t, w, -100, NB_REDUCTION_MEAN);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_expect(isnan(nb_tensor_item(l)));
		cr_expect_eq(nb_backward(l, NULL), NB_OK);
		for (size_t i = 0; i < 12; i++)
			cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), i), 0);
		l = nb_nll_loss(g, x, t, NULL, -100, NB_REDUCTION_SUM);
		cr_expect_eq(nb_tensor_item(l), 0);
		l = nb_cross_entropy(g, x, t, w, -100, NB_REDUCTION_MEAN, 0.2);
		cr_expect(isnan(nb_tensor_item(l)));
		/* empty batches */
		nb_tensor *e = nb_graph_tensor(g, dtypes[k], NB_SHAPE(0, 4));
		nb_tensor *e1 = nb_graph_tensor(g, dtypes[k], NB_SHAPE(0));
		nb_tensor *et = nb_graph_tensor(g, NB_I64, NB_SHAPE(0));
		cr_expect(isnan(nb_tensor_item(nb_nll_loss(
			g, e, et, NULL, -100, NB_REDUCTION_MEAN))));
		cr_expect(isnan(nb_tensor_item(nb_l1_loss(g, e, e,
		                                          NB_REDUCTION_MEAN))));
		cr_expect(isnan(nb_tensor_item(nb_smooth_l1_loss(
			g, e, e, NB_REDUCTION_MEAN, 1))));
		cr_expect(isnan(nb_tensor_item(nb_huber_loss(
			g, e, e, NB_REDUCTION_MEAN, 1))));
		cr_expect(isnan(nb_tensor_item(nb_binary_cross_entropy(
			g, e1, e1, NULL, NB_REDUCTION_MEAN))));
		cr_expect(isnan(nb_tensor_item(nb_binary_cross_entropy_with_logits(
			g, e, e, NULL, NULL, NB_REDUCTION_MEAN))));
		cr_expect(isnan(nb_tensor_item(nb_kl_div(
			g, e, e, NB_REDUCTION_BATCHMEAN, false))));
		cr_expect(isnan(nb_tensor_item(nb_mse_loss(g, e, e,
		                                           NB_REDUCTION_MEAN))));
		cr_expect_eq(nb_tensor_item(nb_kl_div(g, e, e, NB_REDUCTION_SUM,
		                                      true)), 0);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/* Class weights of zero for every target: PyTorch's mean is 0 / 0 and
 * its gradient -w g / 0 = NaN. */
Test(losses, zero_total_weight_is_nan)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_full(NB_F64, NB_SHAPE(2, 3), 0.5);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *t = labels(g, 2, (int64_t[]){1, 1});
	nb_tensor *w = data(g, NB_F64, 1, (int64_t[]){3},
	                    (double[]){1, 0, 2});
	nb_tensor *l = nb_nll_loss(g, x, t, w, -100, NB_REDUCTION_MEAN);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_expect(isnan(nb_tensor_item(l)));
	cr_expect_eq(nb_backward(l, NULL), NB_OK);
	cr_expect(isnan(nb_tensor_get(nb_tensor_grad(x), 1)));
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), 0), 0);
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* As PyTorch 1.13: "all elements of input should be between 0 and 1",
 * NaN included; the target is not checked. */
Test(losses, bce_input_outside_0_1)
{
	nb_graph *g = nb_graph_new();
	for (int k = 0; k < 2; k++) {
		int64_t s[] = {3};
		nb_tensor *t = data(g, dtypes[k], 1, s, (double[]){1, 0, 1.5});
		nb_tensor *x = data(g, dtypes[k], 1, s, (double[]){0.5, 1.5, 0});
		expect_fail(g, nb_binary_cross_entropy(g, x, t, NULL,
		                                       NB_REDUCTION_MEAN),
		            NB_EINVAL, "1.5", "binary_cross_entropy",
		            "between 0 and 1", "element 1", NULL);
		nb_tensor_set(x, 1, -1e-7);
		expect_fail(g, nb_binary_cross_entropy(g, x, t, NULL,
		                                       NB_REDUCTION_NONE),
		            NB_EINVAL, "negative", "between 0 and 1", NULL);
		nb_tensor_set(x, 1, NAN);
		expect_fail(g, nb_binary_cross_entropy(g, x, t, NULL,
		                                       NB_REDUCTION_SUM),
		            NB_EINVAL, "NaN", "between 0 and 1", NULL);
		nb_tensor_set(x, 1, 1);
		cr_expect_not_null(nb_binary_cross_entropy(g, x, t, NULL,
		                                           NB_REDUCTION_SUM),
		                   "%s", nb_graph_errmsg(g));
	}
	nb_graph_free(g);
}

Test(losses, shapes_and_attributes)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(3, 4));
	nb_tensor *y = nb_graph_tensor(g, NB_F32, NB_SHAPE(4, 3));
	nb_tensor *w3 = nb_graph_tensor(g, NB_F32, NB_SHAPE(3));
	nb_tensor *w23 = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 3, 4));
	nb_tensor *t = labels(g, 3, (int64_t[]){0, 1, 2});
	expect_fail(g, nb_l1_loss(g, x, y, NB_REDUCTION_MEAN), NB_ESHAPE,
	            "l1 shapes", "l1_loss", "same shape", "[3, 4]", "[4, 3]",
	            NULL);
	expect_fail(g, nb_cross_entropy(g, x, t, w3, -100, NB_REDUCTION_MEAN,
	                                0), NB_ESHAPE, "ce weight",
	            "cross_entropy", "weight must be [C]", NULL);
	expect_fail(g, nb_nll_loss(g, x, t, w3, -100, NB_REDUCTION_MEAN),
	            NB_ESHAPE, "nll weight", "nll_loss", "[C]", NULL);
	expect_fail(g, nb_binary_cross_entropy_with_logits(
	                g, x, x, NULL, w23, NB_REDUCTION_MEAN), NB_ESHAPE,
	            "pos_weight", "pos_weight must broadcast", NULL);
	expect_fail(g, nb_binary_cross_entropy_with_logits(
	                g, x, x, w3, NULL, NB_REDUCTION_MEAN), NB_ESHAPE,
	            "weight [3]", "weight must broadcast", NULL);
	expect_fail(g, nb_huber_loss(g, x, x, NB_REDUCTION_MEAN, 0), NB_EINVAL,
	            "delta 0", "huber_loss", "delta must be positive", NULL);
	expect_fail(g, nb_smooth_l1_loss(g, x, x, NB_REDUCTION_MEAN, -1),
	            NB_EINVAL, "beta < 0", "smooth_l1_loss", "'beta'", NULL);
	expect_fail(g, nb_l1_loss(g, x, x, NB_REDUCTION_BATCHMEAN), NB_EINVAL,
	            "batchmean", "l1_loss", "reduction", NULL);
	expect_fail(g, nb_call(g, "nll_loss", 2, (nb_tensor *[]){x, t},
	                       "reduction=batchmean"), NB_EINVAL,
	            "nll batchmean", "nll_loss", "reduction", NULL);
	expect_fail(g, nb_cosine_similarity(g, x, y, 1, 1e-8), NB_ESHAPE,
	            "cos bcast", "cosine_similarity", "broadcast", NULL);
	expect_fail(g, nb_cosine_similarity(g, x, x, 2, 1e-8), NB_EINVAL,
	            "cos axis", "cosine_similarity", "axis 2", NULL);
	/* kl_div takes batchmean; a trailing optional input may be left
	 * out of nb_call (cross_entropy's weight), a required one not. */
	cr_expect_not_null(nb_call(g, "kl_div", 2, (nb_tensor *[]){x, x},
	                           "reduction=batchmean"));
	cr_expect_not_null(nb_call(g, "cross_entropy", 2,
	                           (nb_tensor *[]){x, t}, NULL));
	expect_fail(g, nb_call(g, "cross_entropy", 1, &x, NULL), NB_EINVAL,
	            "ce/1", "takes 3 inputs, got 1", NULL);
	nb_graph_free(g);
}

/* The typed wrappers pass every attribute: each equals nb_call with the
 * attribute string. */
Test(losses, wrappers_pass_every_attribute)
{
	nb_graph *g = nb_graph_new();
	nb_rng r;
	nb_rng_seed(&r, 3);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(4, 3), &r, 0, 1);
	nb_tensor *p = nb_tensor_rand(NB_F64, NB_SHAPE(4, 3), &r, 0.1, 0.9);
	nb_tensor *w = nb_tensor_rand(NB_F64, NB_SHAPE(3), &r, 0.5, 2);
	nb_tensor *t = labels(g, 4, (int64_t[]){0, 2, 1, 2});
	struct {
		nb_tensor *typed;
		const char *op, *attrs;
		int n;
		nb_tensor *in[4];
	} c[] = {
		{nb_cross_entropy(g, x, t, w, 2, NB_REDUCTION_SUM, 0.3),
		 "cross_entropy", "ignore_index=2 reduction=sum "
		 "label_smoothing=0.3", 3, {x, t, w}},
		{nb_nll_loss(g, x, t, w, 1, NB_REDUCTION_NONE), "nll_loss",
		 "ignore_index=1 reduction=none", 3, {x, t, w}},
		{nb_mse_loss(g, x, p, NB_REDUCTION_SUM), "mse", "reduction=sum",
		 2, {x, p}},
		{nb_binary_cross_entropy(g, p, p, w, NB_REDUCTION_NONE),
		 "binary_cross_entropy", "reduction=none", 3, {p, p, w}},
		{nb_binary_cross_entropy_with_logits(g, x, p, w, w,
		                                     NB_REDUCTION_SUM),
		 "binary_cross_entropy_with_logits", "reduction=sum", 4,
		 {x, p, w, w}},
		{nb_l1_loss(g, x, p, NB_REDUCTION_SUM), "l1_loss",
		 "reduction=sum", 2, {x, p}},
		{nb_smooth_l1_loss(g, x, p, NB_REDUCTION_SUM, 0.3),
		 "smooth_l1_loss", "reduction=sum beta=0.3", 2, {x, p}},
		{nb_huber_loss(g, x, p, NB_REDUCTION_SUM, 0.3), "huber_loss",
		 "reduction=sum delta=0.3", 2, {x, p}},
		{nb_kl_div(g, x, x, NB_REDUCTION_BATCHMEAN, true), "kl_div",
		 "reduction=batchmean log_target=1", 2, {x, x}},
		{nb_cosine_similarity(g, x, p, 0, 0.5), "cosine_similarity",
		 "axis=0 eps=0.5", 2, {x, p}},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		nb_tensor *named = nb_call(g, c[i].op, c[i].n, c[i].in,
		                           c[i].attrs);
		cr_assert_not_null(c[i].typed, "%s: %s", c[i].op,
		                   nb_graph_errmsg(g));
		cr_assert_not_null(named, "%s: %s", c[i].op, nb_graph_errmsg(g));
		cr_assert_eq(nb_tensor_numel(named), nb_tensor_numel(c[i].typed));
		for (size_t k = 0; k < nb_tensor_numel(named); k++)
			cr_expect_eq(nb_tensor_get(named, k),
			             nb_tensor_get(c[i].typed, k), "%s", c[i].op);
		/* and the attributes differ from the defaults */
		nb_tensor *def = nb_call(g, c[i].op, c[i].n, c[i].in, NULL);
		cr_assert_not_null(def);
		cr_expect(nb_tensor_numel(def) != nb_tensor_numel(named) ||
		          nb_tensor_get(def, 0) != nb_tensor_get(named, 0),
		          "%s: the attributes changed nothing", c[i].op);
	}
	nb_tensor_free(x);
	nb_tensor_free(p);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* cross_entropy = nll_loss(log_softmax) with weights and ignore_index,
 * in every reduction. */
Test(losses, cross_entropy_is_nll_of_log_softmax)
{
	nb_graph *g = nb_graph_new();
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(2, 4, 3), &r, 0, 1);
	nb_tensor *w = nb_tensor_rand(NB_F64, NB_SHAPE(4), &r, 0.5, 2);
	nb_tensor *t = nb_graph_from_data(g, NB_I64, NB_SHAPE(2, 3),
	                                  (int64_t[]){0, 3, -100, 2, 1, 3});
	for (int red = 0; red < 3; red++) {
		nb_tensor *ce = nb_cross_entropy(g, x, t, w, -100, red, 0);
		nb_tensor *nl = nb_nll_loss(g, nb_log_softmax(g, x, 1), t, w,
		                            -100, red);
		cr_assert(ce && nl, "%s", nb_graph_errmsg(g));
		for (size_t k = 0; k < nb_tensor_numel(ce); k++)
			cr_expect_float_eq(nb_tensor_get(ce, k),
			                   nb_tensor_get(nl, k), 1e-12);
	}
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/*
 * Non-finite values flow as in PyTorch 1.13 (tests/ref/edge checks
 * every case; these pin the fixes): cross_entropy without smoothing
 * reads only the weights of the target classes, so a NaN weight of
 * another class leaves loss and gradient finite; with smoothing an
 * infinite weight gives an infinite loss (sum of w_c (lse - x_c)), not
 * inf - inf = NaN.
 */
Test(losses, cross_entropy_nonfinite_weight_of_unused_class)
{
	for (size_t k = 0; k < 2; k++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = data(g, dtypes[k], 2, (int64_t[]){2, 3},
		                    (double[]){0.1, 0.5, -0.2, 1, 0.3, 0.2});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *t = labels(g, 2, (int64_t[]){1, 2});
		nb_tensor *w = data(g, dtypes[k], 1, (int64_t[]){3},
		                    (double[]){NAN, 1, 2});
		nb_tensor *l = nb_cross_entropy(g, x, t, w, -100,
		                                NB_REDUCTION_MEAN, 0);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_expect(isfinite(nb_tensor_item(l)));
		cr_assert_eq(nb_backward(l, NULL), NB_OK);
		for (size_t i = 0; i < 6; i++)
			cr_expect(isfinite(nb_tensor_get(nb_tensor_grad(x), i)),
			          "gradient %zu is not finite", i);
		nb_tensor_set(w, 0, INFINITY);
		l = nb_cross_entropy(g, x, t, w, -100, NB_REDUCTION_SUM, 0.1);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_item(l), INFINITY);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/*
 * binary_cross_entropy_with_logits as PyTorch 1.13: without pos_weight
 * the input gradient is sigmoid(x) - t (-inf at t = inf, not
 * (t + 1 - t) sigmoid(x) - t = NaN) and the target gradient -x (+inf at
 * x = -inf); with pos_weight the target gradient is
 * logsigmoid(-x) - pw logsigmoid(x), +inf at x = -inf for pw < 1 too.
 */
Test(losses, bce_with_logits_infinities)
{
	for (size_t k = 0; k < 4; k++) {
		bool with_pw = k >= 2;
		nb_dtype dt = dtypes[k % 2];
		nb_graph *g = nb_graph_new();
		nb_tensor *x = data(g, dt, 1, (int64_t[]){2},
		                    (double[]){0.5, -INFINITY});
		nb_tensor *t = data(g, dt, 1, (int64_t[]){2},
		                    (double[]){INFINITY, 0.5});
		nb_tensor *pw = data(g, dt, 1, (int64_t[]){2},
		                     (double[]){0.5, 0.5});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor_set_requires_grad(t, true);
		nb_tensor *l = nb_binary_cross_entropy_with_logits(
			g, x, t, NULL, with_pw ? pw : NULL, NB_REDUCTION_SUM);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(l, NULL), NB_OK);
		if (!with_pw)
			cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), 0),
			             -INFINITY);
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(t), 1), INFINITY,
		             "target gradient at x = -inf, pos_weight %d",
		             with_pw);
		nb_graph_free(g);
	}
}
