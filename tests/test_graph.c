/*
 * test_graph.c - lib/graph.c and lib/autodiff.c: the tape, reverse mode
 * and the graph's modes, against the contracts of nabla/graph.h.
 */
#include <pthread.h>
#include "support/helpers.h"

static nb_graph *new_graph(void)
{
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g, "%s", nb_last_error());
	return g;
}

static nb_tensor *param(nb_dtype dt, int ndim, const int64_t *shape,
                        const double *v)
{
	nb_tensor *t = nbt_tensor(dt, ndim, shape, v);
	cr_assert_eq(nb_tensor_set_requires_grad(t, true), NB_OK);
	return t;
}

/* ---- an identity op that counts its backward calls ---- */

static int id_backward_calls;

static nb_status id_forward(nb_op_ctx *c)
{
	return nb_tensor_copy(c->out, c->in[0]);
}

static nb_status id_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	(void)c;
	id_backward_calls++;
	for (size_t i = 0; i < nb_tensor_numel(gout); i++)
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		                         nb_tensor_get(gout, i));
	return NB_OK;
}

static const nb_input_def one_input[] = {{.name = "input"}};
static const nb_op_test id_test = {.cases = "[3]"};

static const nb_op counting_id = {
	.version = NB_OP_VERSION, .name = "test_counting_identity",
	.kind = NB_KIND_CUSTOM, .doc = "identity; counts backward calls",
	.inputs = one_input, .n_inputs = 1, .forward = id_forward,
	.backward = id_backward, .test = &id_test,
};

static nb_tensor *cid(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &counting_id, 1, &x, NULL);
}

/* ---- tests ---- */

Test(graph, new_graph_defaults)
{
	nb_graph *g = new_graph();
	cr_expect_eq(nb_graph_status(g), NB_OK);
	cr_expect_str_eq(nb_graph_errmsg(g), "");
	cr_expect(nb_graph_training(g));
	cr_expect(nb_graph_grad_enabled(g));
	cr_expect_eq(nb_graph_node_count(g), 0);
	cr_expect_str_eq(nb_graph_scope(g), "");
	cr_expect_gt(nb_graph_bytes(g), 0);
	nb_graph_free(g);
	nb_graph_free(NULL);
	nb_graph_reset(NULL);
}

Test(graph, graph_tensors)
{
	nb_graph *g = new_graph();
	nb_tensor *z = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 3));
	cr_assert_not_null(z);
	cr_expect(nb_tensor_is_graph(z));
	cr_expect_eq(nb_tensor_numel(z), 6);
	for (size_t i = 0; i < 6; i++)
		cr_expect_eq(nb_tensor_get(z, i), 0);
	double v[] = {1, 2};
	nb_tensor *d = nb_graph_from_data(g, NB_F64, NB_SHAPE(2), v);
	cr_assert_not_null(d);
	v[0] = 5; /* a copy */
	cr_expect_eq(nb_tensor_get(d, 0), 1);
	cr_expect_eq(nb_tensor_node(d), -1);
	cr_expect_null(nb_graph_from_data(g, NB_F64, NB_SHAPE(2), NULL));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_clear_error(g);
	cr_expect_null(nb_graph_tensor(g, NB_F64, NB_SHAPE(2, -2)));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect_null(nb_graph_tensor(NULL, NB_F64, NB_SHAPE(2)));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	nb_graph_free(g);
}

Test(graph, tape_records_nodes_in_order)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *a = nb_exp(g, x);
	nb_tensor *b = nb_mul(g, a, x);
	cr_assert(a && b);
	cr_expect_eq(nb_graph_node_count(g), 2);
	cr_expect_eq(nb_tensor_node(a), 0);
	cr_expect_eq(nb_tensor_node(b), 1);
	cr_expect_str_eq(nb_graph_node_op(g, 0)->name, "exp");
	cr_expect_str_eq(nb_graph_node_op(g, 1)->name, "mul");
	cr_expect_eq(nb_graph_node_output(g, 1), b);
	nb_tensor *const *in;
	cr_expect_eq(nb_graph_node_inputs(g, 1, &in), 2);
	cr_expect_eq(in[0], a);
	cr_expect_eq(in[1], x);
	cr_expect_null(nb_graph_node_op(g, 2));
	cr_expect_null(nb_graph_node_output(g, 2));
	cr_expect_null(nb_graph_node_attrs(g, 2));
	cr_expect_eq(nb_graph_node_inputs(g, 2, &in), 0);
	cr_expect_str_eq(nb_graph_node_scope(g, 2), "");
	nb_graph_reset(g);
	cr_expect_eq(nb_graph_node_count(g), 0);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, node_attrs_are_a_copy)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *y = nb_pow(g, x, 3.0);
	cr_assert_not_null(y);
	const double *a = nb_graph_node_attrs(g, 0);
	cr_assert_not_null(a);
	cr_expect_eq(a[0], 3.0);
	char buf[64];
	nb_attrs_format(nb_graph_node_op(g, 0), a, false, buf, sizeof buf);
	cr_expect_str_eq(buf, "exponent=3");
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* y = x*x + exp(x): x is used by two paths; dy/dx = 2x + exp(x). */
Test(graph, diamond_sums_the_gradients)
{
	nb_graph *g = new_graph();
	double xv[] = {-1, 0, 0.5, 2};
	nb_tensor *x = param(NB_F64, NB_SHAPE(4), xv);
	nb_tensor *y = nb_add(g, nb_mul(g, x, x), nb_exp(g, x));
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	double want[4];
	for (int i = 0; i < 4; i++)
		want[i] = 2 * xv[i] + exp(xv[i]);
	nbt_expect_close(nb_tensor_grad(x), want, 4, 1e-12, 1e-12, "dx");

	/* A longer diamond: h = exp(x); y = h * h + h; dy/dx = (2h + 1) h */
	nb_graph_reset(g);
	nb_tensor_zero_grad(x);
	nb_tensor *h = nb_exp(g, x);
	l = nb_sum(g, nb_add(g, nb_mul(g, h, h), h), 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	for (int i = 0; i < 4; i++)
		want[i] = (2 * exp(xv[i]) + 1) * exp(xv[i]);
	nbt_expect_close(nb_tensor_grad(x), want, 4, 1e-12, 1e-12, "dx");
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, same_tensor_twice_in_one_op)
{
	nb_graph *g = new_graph();
	double xv[] = {-3, 0.25, 4};
	nb_tensor *x = param(NB_F32, NB_SHAPE(3), xv);
	nb_tensor *go = nb_graph_from_data(g, NB_F32, NB_SHAPE(3),
	                                   (float[]){1, 1, 1});
	nb_tensor *y = nb_mul(g, x, x);
	cr_assert_not_null(y);
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){-6, 0.5, 8}, 3, 0, 1e-6,
	                 "d(x*x)/dx");
	/* x - x and x / x are constant: zero gradient. */
	nb_graph_reset(g);
	nb_tensor_zero_grad(x);
	go = nb_graph_from_data(g, NB_F32, NB_SHAPE(3), (float[]){1, 1, 1});
	y = nb_add(g, nb_sub(g, x, x), nb_div(g, x, x));
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){0, 0, 0}, 3, 1e-6, 0,
	                 "d(x-x + x/x)/dx");
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, deep_chain_of_1000_ops)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), (double[]){1, -2});
	nb_tensor *y = x;
	for (int i = 0; i < 1000; i++)
		y = nb_affine_scalar(g, y, 1.001, 0.5);
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_graph_node_count(g), 1001);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	double d = pow(1.001, 1000);
	nbt_expect_close(nb_tensor_grad(x), (double[]){d, d}, 2, 0, 1e-12,
	                 "chain");

	/* Far deeper, to show nothing recurses: 100,000 nodes. */
	nb_graph_reset(g);
	nb_tensor_zero_grad(x);
	y = x;
	for (int i = 0; i < 100000; i++)
		y = nb_neg(g, y);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_tensor *go = nb_graph_from_data(g, NB_F64, NB_SHAPE(2),
	                                   (double[]){3, 4});
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){3, 4}, 2, 0, 0, "negs");
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, no_grad_regions_nest_and_record_nothing)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *a = nb_exp(g, x);
	cr_expect(nb_tensor_requires_grad(a));
	cr_expect_eq(nb_graph_node_count(g), 1);

	bool was = nb_graph_set_grad_enabled(g, false);
	cr_expect(was);
	cr_expect_not(nb_graph_grad_enabled(g));
	nb_tensor *b = nb_exp(g, a);
	bool was2 = nb_graph_set_grad_enabled(g, false); /* nested */
	cr_expect_not(was2);
	nb_tensor *c = nb_mul(g, b, x);
	nb_graph_set_grad_enabled(g, was2);
	cr_expect_not(nb_graph_grad_enabled(g));
	nb_tensor *d = nb_add(g, c, x);
	nb_graph_set_grad_enabled(g, was);
	cr_expect(nb_graph_grad_enabled(g));

	cr_assert(b && c && d);
	cr_expect_not(nb_tensor_requires_grad(b));
	cr_expect_not(nb_tensor_requires_grad(c));
	cr_expect_not(nb_tensor_requires_grad(d));
	cr_expect_eq(nb_tensor_node(b), -1);
	cr_expect_eq(nb_tensor_node(d), -1);
	cr_expect_eq(nb_graph_node_count(g), 1); /* nothing recorded */
	/* Values are computed all the same. */
	cr_expect_float_eq(nb_tensor_get(c, 0), exp(exp(1)), 1e-12);

	/* No-grad results are constants to later ops. */
	nb_tensor *e = nb_mul(g, d, x);
	cr_assert_not_null(e);
	cr_expect(nb_tensor_requires_grad(e));
	cr_expect_eq(nb_graph_node_count(g), 2);
	nb_tensor *l = nb_sum(g, e, 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	/* dl/dx = d (d treated as a constant) */
	nbt_expect_close(nb_tensor_grad(x),
	                 (double[]){nb_tensor_get(d, 0), nb_tensor_get(d, 1)}, 2,
	                 0, 1e-15, "dx");
	cr_expect_null(nb_tensor_grad(b));

	/* backward from a no-grad result is refused. */
	cr_expect_eq(nb_backward(nb_sum(g, d, 0, NULL, false), NULL),
	             NB_ESTATE);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, grad_mode_survives_reset)
{
	nb_graph *g = new_graph();
	nb_graph_set_grad_enabled(g, false);
	nb_graph_set_training(g, false);
	nb_graph_reset(g);
	cr_expect_not(nb_graph_grad_enabled(g));
	cr_expect_not(nb_graph_training(g));
	nb_graph_free(g);
}

Test(graph, branches_that_need_no_gradient_are_skipped)
{
	nb_graph *g = new_graph();
	nb_tensor *w = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *c = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){3, 4});

	/* A constant branch: its node is recorded (the exporters see it)
	 * but its backward never runs and it gets no gradient. */
	nb_tensor *k = cid(g, nb_exp(g, c));
	nb_tensor *p = cid(g, w);
	nb_tensor *l = nb_sum(g, nb_mul(g, p, k), 0, NULL, false);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_expect_not(nb_tensor_requires_grad(k));
	cr_expect(nb_tensor_requires_grad(p));
	cr_expect_eq(nb_graph_node_count(g), 5);
	id_backward_calls = 0;
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_eq(id_backward_calls, 1);
	cr_expect_null(nb_tensor_grad(k));
	cr_expect_null(nb_tensor_grad(c));
	nbt_expect_close(nb_tensor_grad(w), (double[]){exp(3), exp(4)}, 2, 0,
	                 1e-15, "dw");

	/* Nodes made after y, or that y does not depend on, are skipped. */
	nb_tensor *other = cid(g, w);
	nb_tensor *later = cid(g, p);
	cr_assert(other && later);
	id_backward_calls = 0;
	nb_tensor_zero_grad(w);
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	cr_expect_eq(id_backward_calls, 1);
	cr_expect_null(nb_tensor_grad(other));

	/* A non-differentiable input (cross_entropy's target) gets none. */
	nb_graph_reset(g);
	nb_tensor *logits = param(NB_F64, NB_SHAPE(1, 2), (double[]){0, 1});
	nb_tensor *t = nb_graph_from_data(g, NB_I64, NB_SHAPE(1),
	                                  (int64_t[]){1});
	l = nb_cross_entropy(g, logits, t, NULL, -100, NB_REDUCTION_MEAN, 0);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_not_null(nb_tensor_grad(logits));
	cr_expect_null(nb_tensor_grad(t));
	nb_tensor_free(logits);
	nb_tensor_free(w);
	nb_tensor_free(c);
	nb_graph_free(g);
}

Test(graph, backward_from_a_non_scalar_with_an_output_gradient)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(2, 2), (double[]){1, 2, 3, 4});
	nb_tensor *y = nb_mul(g, x, x);
	nb_tensor *go = nb_graph_from_data(g, NB_F64, NB_SHAPE(2, 2),
	                                   (double[]){1, -1, 0.5, 0});
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){2, -4, 3, 0}, 4, 0, 0,
	                 "dx");
	/* A persistent output gradient works as well. */
	nb_tensor_zero_grad(x);
	nb_tensor *pgo = nbt_tensor(NB_F64, NB_SHAPE(2, 2),
	                            (double[]){1, 1, 1, 1});
	cr_assert_eq(nb_backward(y, pgo), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){2, 4, 6, 8}, 4, 0, 0,
	                 "dx");
	/* The intermediate's gradient is the output gradient itself. */
	nbt_expect_close(nb_tensor_grad(y), (double[]){1, 1, 1, 1}, 4, 0, 0,
	                 "dy");
	/* One-element results of any rank need no output gradient. */
	nb_tensor *s = nb_sum(g, y, 0, NULL, true);
	cr_expect_eq(nb_tensor_ndim(s), 2);
	nb_tensor_zero_grad(x);
	cr_assert_eq(nb_backward(s, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){2, 4, 6, 8}, 4, 0, 0,
	                 "dx");
	nb_tensor_free(pgo);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, backward_twice_accumulates_into_persistent_leaves)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(3), (double[]){1, 2, 3});
	nb_tensor *h = nb_mul(g, x, x);
	nb_tensor *l = nb_sum(g, h, 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	nb_tensor *gx = nb_tensor_grad(x);
	cr_assert_not_null(gx);
	cr_expect_not(nb_tensor_is_graph(gx)); /* owned by x */
	nbt_expect_close(gx, (double[]){2, 4, 6}, 3, 0, 0, "once");
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	cr_expect_eq(nb_tensor_grad(x), gx); /* same buffer */
	nbt_expect_close(gx, (double[]){4, 8, 12}, 3, 0, 0, "twice");
	/* Intermediate gradients are recomputed, not accumulated. */
	nbt_expect_close(nb_tensor_grad(h), (double[]){1, 1, 1}, 3, 0, 0,
	                 "dh");

	/* And across steps, until zero_grad. */
	nb_graph_reset(g);
	l = nb_sum(g, nb_mul(g, x, x), 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	nbt_expect_close(nb_tensor_grad(x), (double[]){6, 12, 18}, 3, 0, 0,
	                 "three times");
	nb_tensor_zero_grad(x);
	cr_expect_eq(nb_tensor_grad(x), gx); /* keeps the buffer */
	nbt_expect_close(gx, (double[]){0, 0, 0}, 3, 0, 0, "zeroed");
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	nbt_expect_close(gx, (double[]){2, 4, 6}, 3, 0, 0, "after zero_grad");
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, graph_leaves_can_require_grad)
{
	nb_graph *g = new_graph();
	nb_tensor *x = nb_graph_from_data(g, NB_F32, NB_SHAPE(2),
	                                  (float[]){3, -1});
	cr_assert_eq(nb_tensor_set_requires_grad(x, true), NB_OK);
	nb_tensor *l = nb_sum(g, nb_mul(g, x, x), 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nb_tensor *gx = nb_tensor_grad(x);
	cr_assert_not_null(gx);
	cr_expect(nb_tensor_is_graph(gx)); /* freed by reset */
	nbt_expect_close(gx, (double[]){6, -2}, 2, 0, 0, "dx");
	/* backward from the leaf itself */
	nb_tensor *s = nb_graph_from_data(g, NB_F64, NB_SHAPE(1),
	                                  (double[]){5});
	nb_tensor_set_requires_grad(s, true);
	cr_assert_eq(nb_backward(s, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(s), 0), 1);
	nb_graph_free(g);
}

Test(graph, scopes)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_exp(g, x);
	cr_assert_eq(nb_graph_scope_push(g, "block1"), NB_OK);
	cr_expect_str_eq(nb_graph_scope(g), "block1");
	nb_exp(g, x);
	char name[8] = "fc1";
	cr_assert_eq(nb_graph_scope_push(g, name), NB_OK);
	strcpy(name, "zzz"); /* push copies */
	cr_expect_str_eq(nb_graph_scope(g), "block1.fc1");
	nb_exp(g, x);
	nb_graph_scope_pop(g);
	cr_expect_str_eq(nb_graph_scope(g), "block1");
	nb_exp(g, x);
	nb_graph_scope_pop(g);
	cr_expect_str_eq(nb_graph_scope(g), "");
	nb_graph_scope_pop(g); /* at top level: a no-op */
	cr_expect_str_eq(nb_graph_scope(g), "");
	nb_exp(g, x);
	cr_assert_eq(nb_graph_node_count(g), 5);
	cr_expect_str_eq(nb_graph_node_scope(g, 0), "");
	cr_expect_str_eq(nb_graph_node_scope(g, 1), "block1");
	cr_expect_str_eq(nb_graph_node_scope(g, 2), "block1.fc1");
	cr_expect_str_eq(nb_graph_node_scope(g, 3), "block1");
	cr_expect_str_eq(nb_graph_node_scope(g, 4), "");

	/* 16 levels at most. */
	for (int i = 0; i < 16; i++)
		cr_assert_eq(nb_graph_scope_push(g, "m"), NB_OK, "level %d", i);
	cr_expect_eq(nb_graph_scope_push(g, "deep"), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "16") != NULL, "%s",
	          nb_last_error());
	cr_expect_str_eq(nb_graph_scope(g), "m.m.m.m.m.m.m.m.m.m.m.m.m.m.m.m");
	/* ... and the failure is kept on the graph, as documented. */
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect_eq(nb_backward(nb_sum(g, nb_exp(g, x), 0, NULL, false),
	                         NULL), NB_EINVAL);
	cr_expect_eq(nb_graph_scope_push(g, NULL), NB_EINVAL);
	cr_expect_eq(nb_graph_scope_push(NULL, "x"), NB_EINVAL);

	/* Reset clears the scopes. */
	nb_graph_reset(g);
	cr_expect_str_eq(nb_graph_scope(g), "");
	nb_graph_scope_pop(g);
	cr_assert_eq(nb_graph_scope_push(g, "enc"), NB_OK);
	nb_exp(g, x);
	cr_expect_str_eq(nb_graph_node_scope(g, 0), "enc");
	nb_tensor_free(x);
	nb_graph_free(g);
}

static bool seen_training;

static nb_status mode_forward(nb_op_ctx *c)
{
	seen_training = nb_op_training(c);
	return nb_tensor_copy(c->out, c->in[0]);
}

/* No backward, so the descriptor says NB_OP_NO_GRAD. */
static const nb_op mode_probe = {
	.version = NB_OP_VERSION, .name = "test_mode_probe",
	.kind = NB_KIND_CUSTOM, .inputs = one_input, .n_inputs = 1,
	.flags = NB_OP_NO_GRAD, .forward = mode_forward,
};

Test(graph, training_and_eval)
{
	nb_graph *g = new_graph();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(2));
	cr_expect(nb_graph_training(g));
	nb_apply(g, &mode_probe, 1, &x, NULL);
	cr_expect(seen_training);
	nb_graph_set_training(g, false);
	cr_expect_not(nb_graph_training(g));
	nb_apply(g, &mode_probe, 1, &x, NULL);
	cr_expect_not(seen_training);
	nb_graph_reset(g); /* the mode is kept */
	cr_expect_not(nb_graph_training(g));
	nb_graph_set_training(g, true);
	cr_expect(nb_graph_training(g));
	nb_graph_free(g);
}

Test(graph, anomaly_mode_reports_the_op_in_forward)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(3), (double[]){1, -1, 2});
	/* Off: a NaN is just a value. */
	nb_tensor *y = nb_log(g, x);
	cr_assert_not_null(y);
	cr_expect(isnan(nb_tensor_get(y, 1)));
	cr_expect_eq(nb_graph_status(g), NB_OK);

	nb_graph_set_anomaly(g, true);
	nb_tensor *a = nb_exp(g, x); /* finite: fine */
	cr_assert_not_null(a);
	y = nb_log(g, x);
	cr_expect_null(y);
	cr_expect_eq(nb_graph_status(g), NB_ENONFINITE);
	const char *m = nb_graph_errmsg(g);
	cr_expect(strstr(m, "log") != NULL, "%s", m);
	cr_expect(strstr(m, "node") != NULL, "%s", m);
	cr_expect(strstr(m, "[3] float64") != NULL, "%s", m);
	cr_expect_eq(nb_last_status(), NB_ENONFINITE);
	/* Infinities too. */
	nb_graph_reset(g);
	nb_tensor *big = nb_graph_from_data(g, NB_F32, NB_SHAPE(1),
	                                    (float[]){1000});
	cr_expect_null(nb_exp(g, big));
	cr_expect_eq(nb_graph_status(g), NB_ENONFINITE);
	cr_expect(strstr(nb_graph_errmsg(g), "exp") != NULL);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, anomaly_mode_reports_the_op_in_backward)
{
	nb_graph *g = new_graph();
	nb_graph_set_anomaly(g, true);
	/* sqrt(0) = 0 is finite, its gradient 1 / (2 sqrt 0) is not. */
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), (double[]){0, 4});
	nb_tensor *l = nb_sum(g, nb_sqrt(g, x), 0, NULL, false);
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_backward(l, NULL), NB_ENONFINITE);
	cr_expect_eq(nb_graph_status(g), NB_ENONFINITE);
	const char *m = nb_graph_errmsg(g);
	cr_expect(strstr(m, "sqrt") != NULL, "%s", m);
	cr_expect(strstr(m, "backward") != NULL, "%s", m);
	cr_expect(strstr(m, "[2] float64") != NULL, "%s", m);
	/* Without anomaly mode, the infinity is returned as a value. */
	nb_graph_reset(g);
	nb_graph_set_anomaly(g, false);
	nb_tensor_zero_grad(x);
	l = nb_sum(g, nb_sqrt(g, x), 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	cr_expect(isinf(nb_tensor_get(nb_tensor_grad(x), 0)));
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(graph, stale_tensors_after_reset)
{
	nb_graph *g = new_graph();
	nb_tensor *w = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *h = nb_exp(g, w);
	nb_tensor_set_name(h, "h1");
	nb_tensor *l = nb_sum(g, h, 0, NULL, false);
	cr_assert_not_null(l);
	nb_graph_reset(g);

	/* As an op input. */
	cr_expect_null(nb_mul(g, h, w));
	cr_expect_eq(nb_graph_status(g), NB_ESTALE);
	cr_expect(strstr(nb_graph_errmsg(g), "h1") != NULL, "%s",
	          nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), "mul") != NULL, "%s",
	          nb_graph_errmsg(g));
	cr_expect_eq(nb_last_status(), NB_ESTALE);
	nb_graph_clear_error(g);
	cr_expect_eq(nb_graph_status(g), NB_OK);
	cr_expect_str_eq(nb_graph_errmsg(g), "");

	/* For nb_backward, as the output and as the output gradient. */
	cr_expect_eq(nb_backward(l, NULL), NB_ESTALE);
	cr_expect_eq(nb_graph_status(g), NB_ESTALE);
	nb_graph_clear_error(g);
	nb_tensor *l2 = nb_sum(g, nb_exp(g, w), 0, NULL, true);
	cr_expect_eq(nb_backward(l2, l), NB_ESTALE);
	nb_graph_clear_error(g);
	/* The persistent tensor is unaffected and the graph is usable. */
	cr_expect_eq(nb_backward(l2, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(w), (double[]){exp(1), exp(2)}, 2, 0,
	                 1e-15, "dw");
	nb_tensor_free(w);
	nb_graph_free(g);
}

Test(graph, tensors_of_another_graph_are_refused)
{
	nb_graph *g1 = new_graph(), *g2 = new_graph();
	nb_tensor *w = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *a = nb_exp(g1, w);
	cr_assert_not_null(a);
	cr_expect_null(nb_mul(g2, a, w));
	cr_expect_eq(nb_graph_status(g2), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g2), "another graph") != NULL, "%s",
	          nb_graph_errmsg(g2));
	cr_expect_eq(nb_graph_status(g1), NB_OK);
	nb_graph_clear_error(g2);
	/* An output gradient of another graph. */
	nb_tensor *y = nb_exp(g2, w);
	nb_tensor *go = nb_graph_tensor(g1, NB_F64, NB_SHAPE(2));
	cr_expect_eq(nb_backward(y, go), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g2), "another graph") != NULL);
	/* Persistent tensors are shared freely. */
	nb_graph_clear_error(g2);
	cr_expect_not_null(nb_mul(g2, w, w));
	nb_tensor_free(w);
	nb_graph_free(g1);
	nb_graph_free(g2);
}

Test(graph, backward_refuses_a_graph_with_a_pending_error)
{
	nb_graph *g = new_graph();
	nb_tensor *w = param(NB_F64, NB_SHAPE(2), (double[]){1, 2});
	nb_tensor *l = nb_sum(g, nb_exp(g, w), 0, NULL, false);
	nb_tensor *bad = nb_tensor_zeros(NB_F64, NB_SHAPE(3));
	cr_expect_null(nb_add(g, w, bad));
	cr_expect_eq(nb_backward(l, NULL), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "pending") != NULL, "%s",
	          nb_last_error());
	cr_expect_null(nb_tensor_grad(w));
	nb_graph_clear_error(g);
	cr_expect_eq(nb_backward(l, NULL), NB_OK);
	nb_tensor_free(bad);
	nb_tensor_free(w);
	nb_graph_free(g);
}

Test(graph, reset_reuses_memory)
{
	nb_graph *g = new_graph();
	double v[256];
	for (int i = 0; i < 256; i++)
		v[i] = (i % 7) * 0.01;
	nb_tensor *w = param(NB_F32, NB_SHAPE(16, 16), v);
	size_t bytes = 0;
	for (int step = 0; step < 50; step++) {
		nb_tensor *l = nb_sum(g, nb_exp(g, nb_matmul(g, w, w)), 0, NULL,
		                      false);
		cr_assert_eq(nb_backward(l, NULL), NB_OK);
		nb_graph_reset(g);
		if (step == 5)
			bytes = nb_graph_bytes(g);
		if (step > 5)
			cr_expect_eq(nb_graph_bytes(g), bytes, "step %d", step);
	}
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* ---- what op implementations get: saved state, scratch, generator ---- */

static uintptr_t saved_at;
static bool saved_was_zero, scratch_ok;

/* y = x^2, saving 2x for backward in nb_op_save memory. */
static nb_status sq_forward(nb_op_ctx *c)
{
	size_t n = nb_tensor_numel(c->in[0]);
	double *s = nb_op_save(c, n * sizeof *s);
	if (!s)
		return NB_ENOMEM;
	saved_at = (uintptr_t)s;
	saved_was_zero = true;
	for (size_t i = 0; i < n; i++)
		saved_was_zero &= s[i] == 0;
	nb_tensor *tmp = nb_op_scratch(c, NB_F64, NB_SHAPE(4));
	scratch_ok = tmp && nb_tensor_is_graph(tmp) &&
	             nb_tensor_get(tmp, 3) == 0;
	for (size_t i = 0; i < n; i++) {
		double x = nb_tensor_get(c->in[0], i);
		s[i] = 2 * x;
		nb_tensor_set(c->out, i, x * x);
	}
	return nb_op_rng(c) == nb_graph_rng(c->g) ? NB_OK : NB_EINVAL;
}

static nb_status sq_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	const double *s = c->saved;
	for (size_t i = 0; i < nb_tensor_numel(gout); i++)
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		                         nb_tensor_get(gout, i) * s[i]);
	return NB_OK;
}

static const nb_op saving_square = {
	.version = NB_OP_VERSION, .name = "test_saving_square",
	.kind = NB_KIND_CUSTOM, .inputs = one_input, .n_inputs = 1,
	.forward = sq_forward, .backward = sq_backward,
};

Test(graph, op_state_saved_for_backward)
{
	nb_graph *g = new_graph();
	nb_tensor *x = param(NB_F64, NB_SHAPE(5), (double[]){1, 2, 3, 4, 5});
	nb_tensor *y = nb_apply(g, &saving_square, 1, &x, NULL);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(saved_at % 64, 0, "saved state at %#lx",
	             (unsigned long)saved_at);
	cr_expect(saved_was_zero);
	cr_expect(scratch_ok);
	/* Other ops in between must not disturb it. */
	nb_tensor *z = nb_exp(g, nb_exp(g, x));
	cr_assert_not_null(z);
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nbt_expect_close(nb_tensor_grad(x), (double[]){2, 4, 6, 8, 10}, 5, 0, 0,
	                 "dx from saved state");
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* ---- threads ---- */


typedef struct job {
	int id;
	double grad[3];
	nb_status st;
	char err[128];
} job;

static double job_scale(int id)
{
	return 0.1 * (id + 1);
}

/* Each thread: its own graph, 200 steps, then a failure of its own. */
static void *train(void *arg)
{
	job *j = arg;
	nb_graph *g = nb_graph_new();
	nb_tensor *w = nb_tensor_full(NB_F64, NB_SHAPE(3), job_scale(j->id));
	nb_tensor_set_requires_grad(w, true);
	j->st = g && w ? NB_OK : NB_ENOMEM;
	for (int s = 0; s < 200 && !j->st; s++) {
		nb_tensor *l = nb_sum(g, nb_mul(g, nb_exp(g, w), w), 0, NULL,
		                      false);
		j->st = l ? nb_backward(l, NULL) : nb_graph_status(g);
		nb_graph_reset(g);
	}
	for (int i = 0; i < 3; i++)
		j->grad[i] = nb_tensor_get(nb_tensor_grad(w), (size_t)i);
	/* The thread's last error is its own. */
	nb_tensor_zeros(NB_F64, NB_SHAPE(-2 - j->id));
	snprintf(j->err, sizeof j->err, "%s", nb_last_error());
	nb_tensor_free(w);
	nb_graph_free(g);
	return NULL;
}

Test(graph, separate_graphs_in_separate_threads)
{
	enum { N = 4 };
	pthread_t t[N];
	job jobs[N];
	nb_tensor_zeros(NB_F32, NB_SHAPE(-100));
	char mine[128];
	snprintf(mine, sizeof mine, "%s", nb_last_error());
	for (int i = 0; i < N; i++) {
		jobs[i].id = i;
		cr_assert_eq(pthread_create(&t[i], NULL, train, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++) {
		/* d/dw sum(e^w w) = e^w (w + 1), accumulated 200 times */
		double w = job_scale(i), d = 200 * exp(w) * (w + 1);
		cr_expect_eq(jobs[i].st, NB_OK, "thread %d", i);
		for (int k = 0; k < 3; k++)
			cr_expect(fabs(jobs[i].grad[k] - d) <= 1e-9 * d,
			          "thread %d: %g, want %g", i, jobs[i].grad[k], d);
		char want[16];
		snprintf(want, sizeof want, "[%d]", -2 - i);
		cr_expect(strstr(jobs[i].err, want) != NULL, "thread %d: %s", i,
		          jobs[i].err);
	}
	cr_expect_str_eq(nb_last_error(), mine);
	cr_expect(strstr(mine, "[-100]") != NULL, "%s", mine);
}

/* ---- retain_grads off: intermediate gradients recycled ---- */

/* Leaf gradients of a few graph shapes (diamonds, a tensor twice in one
 * op, an intermediate used by three ops, broadcasting, a constant branch)
 * after two backward calls; intermediate gradients in *inter. */
static void shapes_step(bool retain, double *out, int *n_inter)
{
	nb_graph *g = new_graph();
	nb_graph_set_retain_grads(g, retain);
	nb_tensor *x = param(NB_F64, NB_SHAPE(2, 3),
	                     (double[]){0.5, -1, 2, 0.25, 1.5, -0.5});
	nb_tensor *b = param(NB_F64, NB_SHAPE(3), (double[]){0.1, 0.2, 0.3});
	nb_tensor *c = nbt_tensor(NB_F64, NB_SHAPE(2, 3),
	                          (double[]){1, 2, 3, 4, 5, 6});
	nb_tensor *h = nb_exp(g, nb_add(g, x, b));            /* [2,3] */
	nb_tensor *hh = nb_mul(g, h, h);                       /* h twice */
	nb_tensor *d = nb_add(g, nb_add(g, hh, h), nb_mul(g, h, c));
	nb_tensor *k = nb_exp(g, c);                           /* constant */
	nb_tensor *m = nb_max(g, nb_mul(g, d, k), 1, (int[]){1}, false);
	nb_tensor *l = nb_add(g, nb_sum(g, m, 0, NULL, false),
	                      nb_mean(g, nb_matmul(g, h, nb_transpose(g, x,
	                                                              0, 1)),
	                              0, NULL, false));
	cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; i < 6; i++)
		out[i] = nb_tensor_get(nb_tensor_grad(x), i);
	for (size_t i = 0; i < 3; i++)
		out[6 + i] = nb_tensor_get(nb_tensor_grad(b), i);
	*n_inter = (nb_tensor_grad(h) != NULL) + (nb_tensor_grad(hh) != NULL) +
	           (nb_tensor_grad(d) != NULL) + (nb_tensor_grad(l) != NULL);
	nb_tensor_free(x);
	nb_tensor_free(b);
	nb_tensor_free(c);
	nb_graph_free(g);
}

Test(graph, retain_grads_off_gives_the_same_leaf_gradients)
{
	double a[9], b[9];
	int ia, ib;
	shapes_step(true, a, &ia);
	shapes_step(false, b, &ib);
	for (int i = 0; i < 9; i++)
		cr_expect_eq(a[i], b[i], "leaf gradient %d: %.17g retained, "
		             "%.17g recycled", i, a[i], b[i]);
	cr_expect_eq(ia, 4, "retained: intermediates keep their gradients");
	cr_expect_eq(ib, 0, "recycled: intermediates have none after backward");
}

Test(graph, retain_grads_off_deep_chain_and_leaves_of_the_graph)
{
	nb_graph *g = new_graph();
	nb_graph_set_retain_grads(g, false);
	nb_tensor *x = nb_graph_from_data(g, NB_F64, NB_SHAPE(2),
	                                  (double[]){1, -2});
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = x;
	for (int i = 0; i < 1000; i++)
		y = nb_affine_scalar(g, y, 1.001, 0.5);
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	size_t before = nb_graph_bytes_used(g);
	cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	double d = pow(1.001, 1000);
	nbt_expect_close(nb_tensor_grad(x), (double[]){d, d}, 2, 0, 1e-12,
	                 "graph leaf");
	/* 1000 gradients of 2 doubles share a couple of 64-byte blocks. */
	cr_expect_lt(nb_graph_bytes_used(g) - before, 64 * 16,
	             "backward used %zu bytes", nb_graph_bytes_used(g) - before);
	cr_expect_null(nb_tensor_grad(y));
	nb_graph_free(g);
}
