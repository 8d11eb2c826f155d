/*
 * test_gradcheck.c - the gradient check over the whole registry, so that
 * no op can be added without passing it; and the checker itself must
 * catch a wrong backward.
 */
#include "support/helpers.h"

static void on_result(const nb_gradcheck_result *r, void *ud)
{
	int *checks = ud;
	++*checks;
	cr_expect(r->pass, "%s input %s %s [%s]: max abs err %g, max rel err "
	          "%g: %s", r->op->name, r->input_name ? r->input_name : "-",
	          r->shape, r->attrs, r->max_abs_err, r->max_rel_err,
	          r->message);
}

Test(gradcheck, every_registered_op_passes)
{
	nb_gradcheck_opts o = nb_gradcheck_defaults();
	int checks = 0;
	size_t n = nb_op_count();
	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++) {
		int failed = 0;
		const nb_op *op = nb_op_at(i);
		nb_status st = nb_gradcheck_op(op, &o, on_result, &checks,
		                               &failed);
		cr_expect_eq(st, NB_OK, "%s: %s", op->name, nb_last_error());
		cr_expect_eq(failed, 0, "%s: %d checks failed", op->name, failed);
	}
	cr_log_info("%zu ops, %d checks", n, checks);
}

Test(gradcheck, every_registered_op_passes_in_eval_mode)
{
	nb_gradcheck_opts o = nb_gradcheck_defaults();
	int checks = 0;
	o.training = false;
	for (size_t i = 0; i < nb_op_count(); i++) {
		int failed = 0;
		nb_gradcheck_op(nb_op_at(i), &o, on_result, &checks, &failed);
		cr_expect_eq(failed, 0, "%s (eval): %d checks failed",
		             nb_op_at(i)->name, failed);
	}
}

/* A deliberately wrong backward (d/dx x^2 claimed to be x) must fail. */
static nb_status sq_forward(nb_op_ctx *c)
{
	const double *x = nb_tensor_cdata(c->in[0]);
	double *y = nb_tensor_data(c->out);
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++)
		y[i] = x[i] * x[i];
	return NB_OK;
}

static nb_status sq_wrong_backward(nb_op_ctx *c, const nb_tensor *gout,
                                   nb_tensor *const *gin)
{
	const double *x = nb_tensor_cdata(c->in[0]);
	const double *g = nb_tensor_cdata(gout);
	double *d = nb_tensor_data(gin[0]);
	for (size_t i = 0; i < nb_tensor_numel(gout); i++)
		d[i] += g[i] * x[i];
	return NB_OK;
}

static const nb_input_def sq_inputs[] = {{.name = "input"}};
static const nb_op_test sq_test = {.cases = "[4]"};

static const nb_op wrong = {
	.version = NB_OP_VERSION, .name = "test_wrong_square",
	.kind = NB_KIND_CUSTOM, .inputs = sq_inputs, .n_inputs = 1,
	.forward = sq_forward, .backward = sq_wrong_backward,
	.test = &sq_test,
};

static void count_fail(const nb_gradcheck_result *r, void *ud)
{
	if (!r->pass)
		++*(int *)ud;
}

Test(gradcheck, catches_a_wrong_gradient)
{
	int cb_fail = 0, failed = 0;
	cr_assert_eq(nb_gradcheck_op(&wrong, NULL, count_fail, &cb_fail,
	                             &failed), NB_OK, "%s", nb_last_error());
	cr_expect_eq(failed, 1);
	cr_expect_eq(cb_fail, 1);
}

Test(gradcheck, rejects_a_malformed_recipe)
{
	/* The recipe is test metadata, behind op->test (issue 13). */
	nb_op bad = wrong;
	nb_op_test t = sq_test;
	bad.test = &t;
	t.cases = "[4";
	cr_expect_eq(nb_gradcheck_op(&bad, NULL, NULL, NULL, NULL),
	             NB_EFORMAT);
	t.cases = "[4] [4]";
	cr_expect_eq(nb_gradcheck_op(&bad, NULL, NULL, NULL, NULL),
	             NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "test_wrong_square") != NULL);
}

/* Regression: sample values are drawn again while within 0.02 of a
 * kink, with no limit, so a range [lo, hi] that the kinks cover made
 * gradcheck loop forever.  It now gives up avoiding them after a while
 * and reports what it finds (here: the right gradient of x^2). */
static nb_status sq_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	const double *x = nb_tensor_cdata(c->in[0]);
	const double *g = nb_tensor_cdata(gout);
	double *d = nb_tensor_data(gin[0]);
	for (size_t i = 0; i < nb_tensor_numel(gout); i++)
		d[i] += 2 * g[i] * x[i];
	return NB_OK;
}

Test(gradcheck, a_range_covered_by_kinks_ends, .timeout = 30)
{
	nb_op op = wrong;
	nb_op_test t = sq_test;
	op.backward = sq_backward;
	op.test = &t;
	t.lo = 0.5;
	t.hi = 0.51;
	t.kinks[0] = 0.505;
	t.n_kinks = 1;
	int failed = 0;
	cr_expect_eq(nb_gradcheck_op(&op, NULL, NULL, NULL, &failed), NB_OK,
	             "%s", nb_last_error());
	cr_expect_eq(failed, 0);
}
