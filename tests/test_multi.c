/*
 * test_multi.c - the engine's first-class variadic inputs, several
 * results and ops without gradient (issue 13), on small user ops
 * defined here:
 *   test_sum_all: y = in[0] + in[1] + ... elementwise (NB_IN_VARIADIC,
 *                 min_inputs 1);
 *   test_split2:  [2n] -> its halves [n], [n] (n_outputs 2);
 *   test_step:    y = x > 0 (NB_OP_NO_GRAD, no backward).
 * Through dispatch (nb_apply, nb_apply_multi), the tape
 * (nb_graph_node_outputs, nb_tensor_output_index), backward with
 * retain_grads on and off, anomaly mode, gradcheck and the DOT exporter.
 */
#include "support/helpers.h"

/* ---- test_sum_all ---- */

static nb_status sum_all_shape(nb_op_ctx *c, nb_result_def *res)
{
	(void)res; /* input 0's shape, as the engine filled it in */
	const nb_tensor *x = c->in[0];
	for (int k = 1; k < c->n_in; k++) {
		const nb_tensor *t = c->in[k];
		if (nb_tensor_ndim(t) != nb_tensor_ndim(x) ||
		    memcmp(nb_tensor_shape(t), nb_tensor_shape(x),
		           (size_t)nb_tensor_ndim(x) * sizeof(int64_t)))
			return nb_op_fail(c, NB_ESHAPE, "input %d is not shaped "
			                  "like input 0", k);
	}
	return NB_OK;
}

static nb_status sum_all_forward(nb_op_ctx *c)
{
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++) {
		double s = 0;
		for (int k = 0; k < c->n_in; k++)
			s += nb_tensor_get(c->in[k], i);
		nb_tensor_set(c->out, i, s);
	}
	return NB_OK;
}

/* dy/d(in[k]) = 1 for every k: each input gets gout (added, so a tensor
 * given twice gets it twice). */
static nb_status sum_all_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	for (int k = 0; k < c->n_in; k++)
		for (size_t i = 0; gin[k] && i < nb_tensor_numel(gout); i++)
			nb_tensor_set(gin[k], i, nb_tensor_get(gin[k], i) +
			              nb_tensor_get(gout, i));
	return NB_OK;
}

static const nb_input_def sum_all_inputs[] = {
	{.name = "inputs", .flags = NB_IN_VARIADIC,
	 .doc = "one or more tensors of one shape"},
};

static const nb_op_test sum_all_test = {
	.cases = "[3,4]; [2,3] [2,3] [2,3]; [5] [5]c; [2] [2] [2] [2] [2] "
	         "[2] [2] [2] [2] [2] [2] [2] [2] [2] [2] [2]",
};

static const nb_op sum_all = {
	.version = NB_OP_VERSION, .name = "test_sum_all",
	.kind = NB_KIND_CUSTOM, .doc = "elementwise sum of all inputs",
	.inputs = sum_all_inputs, .n_inputs = 1, .min_inputs = 1,
	.shape = sum_all_shape, .forward = sum_all_forward,
	.backward = sum_all_backward, .test = &sum_all_test,
};

/* ---- test_split2 ---- */

static nb_status split2_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	if (nb_tensor_ndim(x) != 1 || nb_tensor_dim(x, 0) % 2)
		return nb_op_fail(c, NB_ESHAPE, "wants a vector [2n]");
	for (int k = 0; k < 2; k++) {
		res[k].ndim = 1;
		res[k].shape[0] = nb_tensor_dim(x, 0) / 2;
	}
	return NB_OK;
}

static nb_status split2_forward(nb_op_ctx *c)
{
	size_t n = nb_tensor_numel(c->outs[0]);
	for (size_t i = 0; i < n; i++) {
		nb_tensor_set(c->outs[0], i, nb_tensor_get(c->in[0], i));
		nb_tensor_set(c->outs[1], i, nb_tensor_get(c->in[0], n + i));
	}
	return NB_OK;
}

/* dL/dx = [dL/d(outs[0]), dL/d(outs[1])]: gouts holds both (zeros for
 * a result that received no gradient). */
static nb_status split2_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	size_t n = nb_tensor_numel(gout);
	for (size_t i = 0; gin[0] && i < n; i++) {
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		              nb_tensor_get(c->gouts[0], i));
		nb_tensor_set(gin[0], n + i, nb_tensor_get(gin[0], n + i) +
		              nb_tensor_get(c->gouts[1], i));
	}
	return NB_OK;
}

static const nb_input_def split2_inputs[] = {
	{.name = "input", .doc = "[2n]"},
};

static const nb_op_test split2_test = {.cases = "[6]; [2]"};

static const nb_op split2 = {
	.version = NB_OP_VERSION, .name = "test_split2",
	.kind = NB_KIND_CUSTOM, .doc = "halves of a vector",
	.inputs = split2_inputs, .n_inputs = 1, .n_outputs = 2,
	.shape = split2_shape, .forward = split2_forward,
	.backward = split2_backward, .test = &split2_test,
};

/* ---- test_step: no gradient ---- */

static nb_status step_forward(nb_op_ctx *c)
{
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++)
		nb_tensor_set(c->out, i, nb_tensor_get(c->in[0], i) > 0);
	return NB_OK;
}

static const nb_op_test step_test = {.cases = "[4]; [2,3]"};

static const nb_op step = {
	.version = NB_OP_VERSION, .name = "test_step", .kind = NB_KIND_CUSTOM,
	.doc = "x > 0, without gradient", .inputs = split2_inputs,
	.n_inputs = 1, .flags = NB_OP_NO_GRAD, .forward = step_forward,
	.test = &step_test,
};

static void setup(void)
{
	const nb_op *ops[] = {&sum_all, &split2, &step};
	for (size_t i = 0; i < 3; i++) {
		nb_status st = nb_op_register(ops[i]);
		cr_assert(st == NB_OK || st == NB_EEXIST, "%s: %s", ops[i]->name,
		          nb_last_error());
	}
}

TestSuite(multi, .init = setup);

static nb_graph *new_graph(void)
{
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g, "%s", nb_last_error());
	return g;
}

static nb_tensor *param(int n, const double *v)
{
	nb_tensor *t = nbt_tensor(NB_F64, NB_SHAPE(n), v);
	cr_assert_eq(nb_tensor_set_requires_grad(t, true), NB_OK);
	return t;
}

/* ---- variadic inputs ---- */

Test(multi, variadic_op_takes_one_three_and_forty_inputs)
{
	enum { N = 40 };
	nb_graph *g = new_graph();
	nb_tensor *x[N];
	for (int k = 0; k < N; k++)
		x[k] = param(3, (double[]){k, 2 * k, -k});
	const double go_v[] = {1, 2, 3};
	nb_tensor *go = nb_graph_from_data(g, NB_F64, NB_SHAPE(3), go_v);
	const int counts[] = {1, 3, N};
	for (int c = 0; c < 3; c++) {
		int n = counts[c];
		for (int k = 0; k < N; k++)
			nb_tensor_zero_grad(x[k]);
		nb_tensor *y = nb_apply(g, &sum_all, n, x, NULL);
		cr_assert_not_null(y, "%d inputs: %s", n, nb_graph_errmsg(g));
		/* sum over k < n of (k, 2k, -k) */
		double s = n * (n - 1) / 2.0;
		nbt_expect_close(y, (double[]){s, 2 * s, -s}, 3, 0, 0, "y");
		long node = nb_tensor_node(y);
		cr_assert_geq(node, 0);
		nb_tensor *const *in;
		cr_expect_eq(nb_graph_node_inputs(g, (size_t)node, &in), n);
		cr_expect_eq(in[n - 1], x[n - 1]);
		cr_assert_eq(nb_backward(y, go), NB_OK, "%d inputs: %s", n,
		             nb_graph_errmsg(g));
		for (int k = 0; k < n; k++)
			nbt_expect_close(nb_tensor_grad(x[k]), go_v, 3, 0, 0,
			                 "every input gets the gradient");
		for (int k = n; k < N; k++)
			cr_expect(!nb_tensor_grad(x[k]) ||
			          nb_tensor_get(nb_tensor_grad(x[k]), 0) == 0,
			          "input %d was not given", k);
	}
	nb_graph_free(g);
	for (int k = 0; k < N; k++)
		nb_tensor_free(x[k]);
}

Test(multi, variadic_input_given_twice_gets_both_gradients)
{
	nb_graph *g = new_graph();
	nb_tensor *a = param(2, (double[]){1, 2});
	nb_tensor *b = param(2, (double[]){10, 20});
	nb_tensor *y = nb_apply(g, &sum_all, 3, (nb_tensor *[]){a, b, a}, NULL);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nbt_expect_close(y, (double[]){12, 24}, 2, 0, 0, "a + b + a");
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(a), (double[]){2, 2}, 2, 0, 0, "da");
	nbt_expect_close(nb_tensor_grad(b), (double[]){1, 1}, 2, 0, 0, "db");
	/* Also when the repeated tensor is an op's result (its gradient is
	 * a graph buffer, not a persistent one). */
	nb_tensor_zero_grad(a);
	nb_tensor *e = nb_exp(g, a);
	nb_tensor *z = nb_apply(g, &sum_all, 4, (nb_tensor *[]){e, e, e, b},
	                        NULL);
	l = nb_sum(g, z, 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(a), (double[]){3 * exp(1), 3 * exp(2)},
	                 2, 1e-12, 1e-12, "d/da 3 exp(a)");
	nb_graph_free(g);
	nb_tensor_free(a);
	nb_tensor_free(b);
}

Test(multi, variadic_errors_name_the_input)
{
	nb_graph *g = new_graph();
	nb_tensor *a = param(2, (double[]){1, 2});
	nb_tensor *c = param(3, (double[]){1, 2, 3});
	cr_expect_null(nb_apply(g, &sum_all, 0, NULL, NULL));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "at least 1") != NULL, "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_apply(g, &sum_all, 3, (nb_tensor *[]){a, a, c},
	                        NULL));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "test_sum_all: input 2") != NULL,
	          "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	/* A NULL among the variadic inputs (not optional). */
	cr_expect_null(nb_apply(g, &sum_all, 3, (nb_tensor *[]){a, NULL, a},
	                        NULL));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "test_sum_all") != NULL, "%s",
	          nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_tensor_free(a);
	nb_tensor_free(c);
}

/* ---- several results ---- */

Test(multi, two_results_on_the_tape)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(6, (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *outs[2] = {NULL, NULL};
	cr_assert_eq(nb_apply_multi(g, &split2, 1, &x, NULL, outs, 2), 2, "%s",
	             nb_graph_errmsg(g));
	nbt_expect_close(outs[0], (double[]){1, 2, 3}, 3, 0, 0, "first half");
	nbt_expect_close(outs[1], (double[]){4, 5, 6}, 3, 0, 0, "second half");
	cr_expect_eq(nb_tensor_output_index(outs[0]), 0);
	cr_expect_eq(nb_tensor_output_index(outs[1]), 1);
	cr_expect_eq(nb_tensor_output_index(x), 0, "a leaf");
	long node = nb_tensor_node(outs[0]);
	cr_assert_eq(node, 0);
	cr_expect_eq(nb_tensor_node(outs[1]), node, "one node, two results");
	cr_expect_eq(nb_graph_node_count(g), 1);
	nb_tensor *const *res;
	cr_assert_eq(nb_graph_node_outputs(g, 0, &res), 2);
	cr_expect_eq(res[0], outs[0]);
	cr_expect_eq(res[1], outs[1]);
	cr_expect_eq(nb_graph_node_output(g, 0), outs[0]);
	cr_expect(nb_tensor_requires_grad(outs[0]));
	cr_expect(nb_tensor_requires_grad(outs[1]));
	/* Room for fewer: the count is still 2, one is stored. */
	nb_tensor *one[1] = {NULL};
	cr_expect_eq(nb_apply_multi(g, &split2, 1, &x, NULL, one, 1), 2);
	cr_expect_eq(nb_tensor_output_index(one[0]), 0);
	cr_expect_eq(nb_apply_multi(g, &split2, 1, &x, NULL, NULL, 0), 2);
	/* nb_apply gives result 0. */
	nb_tensor *y = nb_apply(g, &split2, 1, &x, NULL);
	cr_assert_not_null(y);
	cr_expect_eq(nb_tensor_output_index(y), 0);
	cr_expect_eq(nb_graph_node_outputs(g, (size_t)nb_tensor_node(y), NULL),
	             2);
	/* Errors: -1, outs untouched. */
	nb_tensor *x5 = param(5, (double[]){1, 2, 3, 4, 5});
	nb_tensor *keep[2] = {x, x};
	cr_expect_eq(nb_apply_multi(g, &split2, 1, &x5, NULL, keep, 2), -1);
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "test_split2: wants a vector")
	          != NULL, "%s", nb_graph_errmsg(g));
	cr_expect(keep[0] == x && keep[1] == x);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(x5);
}

/* Backward from losses using one or both results, retaining the
 * intermediate gradients or not. */
static void check_backward(bool retain)
{
	nb_graph *g = new_graph();
	nb_graph_set_retain_grads(g, retain);
	nb_tensor *x = param(6, (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *outs[2];
	cr_assert_eq(nb_apply_multi(g, &split2, 1, &x, NULL, outs, 2), 2, "%s",
	             nb_graph_errmsg(g));
	/* Only the second half: the first half's slice gets zeros. */
	nb_tensor *w = nb_graph_from_data(g, NB_F64, NB_SHAPE(3),
	                                  (double[]){7, 8, 9});
	nb_tensor *l = nb_sum(g, nb_mul(g, outs[1], w), 0, NULL, false);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){0, 0, 0, 7, 8, 9}, 6, 0,
	                 0, "dx from the second half only");
	if (!retain)
		cr_expect_null(nb_tensor_grad(outs[1]), "released");
	else
		nbt_expect_close(nb_tensor_grad(outs[1]), (double[]){7, 8, 9}, 3,
		                 0, 0, "d(second half), retained");
	/* Both halves: sum(a) + sum(b * w). */
	nb_tensor_zero_grad(x);
	nb_tensor *l2 = nb_add(g, nb_sum(g, outs[0], 0, NULL, false),
	                       nb_sum(g, nb_mul(g, outs[1], w), 0, NULL,
	                              false));
	cr_assert_not_null(l2, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(l2, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){1, 1, 1, 7, 8, 9}, 6, 0,
	                 0, "dx from both halves");
	/* The results joined again by another op. */
	nb_tensor_zero_grad(x);
	nb_tensor *j = nb_apply(g, &sum_all, 3,
	                        (nb_tensor *[]){outs[1], outs[0], outs[1]},
	                        NULL);
	nb_tensor *l3 = nb_sum(g, nb_mul(g, j, w), 0, NULL, false);
	cr_assert_eq(nb_backward(l3, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){7, 8, 9, 14, 16, 18}, 6,
	                 0, 0, "dx through split and sum_all");
	nb_graph_free(g);
	nb_tensor_free(x);
}

Test(multi, backward_through_two_results)
{
	check_backward(true);
}

Test(multi, backward_through_two_results_without_retained_grads)
{
	check_backward(false);
}

/*
 * Anomaly mode reports a non-finite result only when the op made it from
 * finite inputs (doc/guarantees.md): splitting a tensor that holds a NaN
 * or an infinity passes them on, and is not reported.
 */
Test(multi, anomaly_mode_passes_non_finite_inputs_on)
{
	nb_graph *g = new_graph();
	nb_graph_set_anomaly(g, true);
	nb_tensor *x = param(4, (double[]){1, 2, 3, NAN});
	nb_tensor *outs[2] = {NULL, NULL};
	cr_expect_eq(nb_apply_multi(g, &split2, 1, &x, NULL, outs, 2), 2, "%s",
	             nb_graph_errmsg(g));
	cr_expect_eq(nb_graph_status(g), NB_OK);
	cr_expect(isnan(nb_tensor_get(outs[1], 1)));
	nb_graph_reset(g);
	nb_tensor_set(x, 3, 4);
	nb_tensor_set(x, 0, INFINITY);
	cr_expect_eq(nb_apply_multi(g, &split2, 1, &x, NULL, outs, 2), 2, "%s",
	             nb_graph_errmsg(g));
	cr_expect(isinf(nb_tensor_get(outs[0], 0)));
	nb_graph_free(g);
	nb_tensor_free(x);
}

/* ---- no gradient ---- */

Test(multi, op_without_gradient)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(3, (double[]){-1, 0.5, 2});
	nb_tensor *s = nb_apply(g, &step, 1, &x, NULL);
	cr_assert_not_null(s, "%s", nb_graph_errmsg(g));
	nbt_expect_close(s, (double[]){0, 1, 1}, 3, 0, 0, "x > 0");
	cr_expect_not(nb_tensor_requires_grad(s),
	              "the result of an NB_OP_NO_GRAD op needs no gradient");
	cr_expect_neq(nb_backward(s, NULL), NB_OK);
	nb_graph_clear_error(g);
	/* Beside differentiable ops, it contributes nothing. */
	nb_tensor *y = nb_add(g, nb_exp(g, x), s);
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x),
	                 (double[]){exp(-1), exp(0.5), exp(2)}, 3, 1e-12, 1e-12,
	                 "d/dx (exp(x) + step(x))");
	nb_graph_free(g);
	nb_tensor_free(x);
}

/* ---- gradcheck on the user ops ---- */

typedef struct tally {
	int checks, refused;
} tally;

static void on_result(const nb_gradcheck_result *r, void *ud)
{
	tally *t = ud;
	t->checks++;
	t->refused += r->rule_only;
	cr_expect(r->pass, "%s case %d input %s %s: %s", r->op->name,
	          r->case_index, r->input_name ? r->input_name : "-", r->shape,
	          r->message);
}

Test(multi, gradcheck_passes_on_the_user_ops)
{
	const nb_op *ops[] = {&sum_all, &split2, &step};
	/* sum_all: 1 + 3 + 1 (one constant) + 16 inputs; split2: 2 cases;
	 * step: one refusal per case. */
	const int want[] = {21, 2, 2};
	for (int i = 0; i < 3; i++) {
		tally t = {0, 0};
		int failed = 0;
		cr_expect_eq(nb_gradcheck_op(ops[i], NULL, on_result, &t, &failed),
		             NB_OK, "%s: %s", ops[i]->name, nb_last_error());
		cr_expect_eq(failed, 0, "%s", ops[i]->name);
		cr_expect_eq(t.checks, want[i], "%s: %d checks", ops[i]->name,
		             t.checks);
		cr_expect_eq(t.refused, i == 2 ? want[i] : 0, "%s",
		             ops[i]->name);
	}
	/* A wrong backward of the second result is caught. */
	nb_op bad = split2;
	bad.name = "test_split2_first_only";
	bad.backward = sum_all_backward; /* gives gouts[0] to x[0..n) only */
	int failed = 0;
	cr_expect_eq(nb_gradcheck_op(&bad, NULL, NULL, NULL, &failed), NB_OK,
	             "%s", nb_last_error());
	cr_expect_gt(failed, 0, "a backward that ignores result 1");
}

/* ---- the DOT exporter ---- */

static char *dot_of(const nb_graph *g)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	nb_dot_opts o = nb_dot_defaults();
	o.legend = false;
	cr_expect_eq(nb_graph_write_dot(g, f, &o), NB_OK, "%s",
	             nb_last_error());
	cr_assert_eq(fclose(f), 0);
	return buf;
}

Test(multi, dot_labels_the_results)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(4, (double[]){1, 2, 3, 4});
	nb_tensor *outs[2];
	cr_assert_eq(nb_apply_multi(g, &split2, 1, &x, NULL, outs, 2), 2);
	nb_tensor *y = nb_mul(g, outs[0], outs[1]);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	char *t = dot_of(g);
	cr_assert_not_null(t);
	cr_expect(strstr(t, "n0 -> n1 [label=\"#0 ") != NULL, "%s", t);
	cr_expect(strstr(t, "n0 -> n1 [label=\"#1 ") != NULL, "%s", t);
	/* A one-result op's edges carry no index. */
	const char *mul_out = strstr(t, "n1 -> ");
	cr_expect(mul_out && !strncmp(strchr(mul_out, '[') + 1, "label=\"[",
	                              8), "%s", t);
	free(t);
	/* A variadic node draws every input. */
	nb_graph_reset(g);
	nb_tensor *s = nb_apply(g, &sum_all, 3, (nb_tensor *[]){x, x, x},
	                        NULL);
	cr_assert_not_null(s, "%s", nb_graph_errmsg(g));
	t = dot_of(g);
	cr_expect(strstr(t, "test_sum_all") != NULL, "%s", t);
	free(t);
	nb_graph_free(g);
	nb_tensor_free(x);
}
