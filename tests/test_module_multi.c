/*
 * test_module_multi.c - modules with several inputs and results
 * (nb_module_forward_multi), sequential chaining of them, optional
 * inputs, the one-input adapters both ways, errors, and child lookup
 * by name.
 */
#include "support/helpers.h"

/* (x, h) -> (x + h, x * h); h is optional: omitted, it is x, and the
 * results are (2x, x^2). */
static int pair_forward(nb_module *m, nb_graph *g, int n_in,
                        nb_tensor *const *in, int cap, nb_tensor **out)
{
	(void)m;
	if (n_in < 1 || n_in > 2 || !in[0]) {
		nb_graph_fail(g, NB_EINVAL, "pair: wants (x[, h]), given %d", n_in);
		return -1;
	}
	nb_tensor *h = n_in == 2 && in[1] ? in[1] : in[0];
	nb_tensor *r[2] = {nb_add(g, in[0], h), nb_mul(g, in[0], h)};
	if (!r[0] || !r[1])
		return -1;
	for (int i = 0; i < 2 && i < cap; i++)
		out[i] = r[i];
	return 2;
}

static const nb_module_class pair_class = {
	.type = "pair", .forward_multi = pair_forward,
};

static nb_tensor *input(nb_dtype dt, double v)
{
	nb_tensor *t = nb_tensor_full(dt, NB_SHAPE(2), v);
	cr_assert_not_null(t);
	nb_tensor_set_requires_grad(t, true);
	return t;
}

Test(module_multi, two_inputs_two_results_and_gradients)
{
	nb_module *m = nb_module_new(&pair_class, "p", NULL);
	cr_assert_not_null(m);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = input(NB_F64, 3), *h = input(NB_F64, 5);
	nb_tensor *in[2] = {x, h}, *out[2] = {NULL, NULL};
	cr_assert_eq(nb_module_forward_multi(m, g, 2, in, 2, out), 2,
	             "%s", nb_graph_errmsg(g));
	cr_expect_float_eq(nb_tensor_get(out[0], 0), 8, 0);
	cr_expect_float_eq(nb_tensor_get(out[1], 1), 15, 0);
	/* d(sum(x + h) + sum(x h))/dx = 1 + h */
	nb_tensor *loss = nb_add(g, nb_sum(g, out[0], 0, NULL, false),
	                           nb_sum(g, out[1], 0, NULL, false));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(x), 0), 6, 0);
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(h), 0), 4, 0);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(h);
	nb_module_free(m);
}

Test(module_multi, omitted_optional_input_and_small_capacity)
{
	nb_module *m = nb_module_new(&pair_class, "p", NULL);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = input(NB_F32, 3);
	nb_tensor *in[2] = {x, NULL}, *out[1] = {NULL};
	/* Two results, room for one: the count, and only out[0] written. */
	cr_assert_eq(nb_module_forward_multi(m, g, 2, in, 1, out), 2);
	cr_expect_float_eq(nb_tensor_get(out[0], 0), 6, 0);
	/* Capacity 0 counts. */
	cr_expect_eq(nb_module_forward_multi(m, g, 1, in, 0, NULL), 2);
	/* A multi-result class through the one-tensor call: first result. */
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_float_eq(nb_tensor_get(y, 1), 6, 0);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_module_free(m);
}

Test(module_multi, sequential_chains_results_into_inputs)
{
	nb_module *s = nb_sequential_new(NULL);
	cr_assert_eq(nb_module_add(s, nb_module_new(&pair_class, "a", NULL)),
	             NB_OK);
	cr_assert_eq(nb_module_add(s, nb_module_new(&pair_class, "b", NULL)),
	             NB_OK);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = input(NB_F64, 2), *h = input(NB_F64, 3);
	nb_tensor *in[2] = {x, h}, *out[2];
	/* a: (5, 6); b: (11, 30) */
	cr_assert_eq(nb_module_forward_multi(s, g, 2, in, 2, out), 2,
	             "%s", nb_graph_errmsg(g));
	cr_expect_float_eq(nb_tensor_get(out[0], 0), 11, 0);
	cr_expect_float_eq(nb_tensor_get(out[1], 0), 30, 0);
	cr_expect_str_eq(nb_graph_node_scope(g, 0), "a");
	cr_expect_str_eq(nb_graph_node_scope(g, 2), "b");
	/* An empty sequential passes its inputs through. */
	nb_module *e = nb_sequential_new(NULL);
	cr_assert_eq(nb_module_forward_multi(e, g, 2, in, 2, out), 2);
	cr_expect_eq(out[0], x);
	cr_expect_eq(out[1], h);
	nb_module_free(e);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(h);
	nb_module_free(s);
}

Test(module_multi, errors_are_recorded_on_the_graph)
{
	nb_rng r;
	nb_rng_seed(&r, 0);
	nb_module *lin = nb_linear_new("fc", 2, 2, true, NB_F64, &r);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = input(NB_F64, 1);
	nb_tensor *in[2] = {x, x}, *out[2];
	/* A one-input module given two. */
	cr_expect_eq(nb_module_forward_multi(lin, g, 2, in, 2, out), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "takes one input, given 2"),
	          "%s", nb_graph_errmsg(g));
	/* The first error stays: a later call fails without a new one. */
	cr_expect_eq(nb_module_forward_multi(lin, g, 1, in, 2, out), -1);
	cr_expect(strstr(nb_graph_errmsg(g), "given 2"));
	nb_graph_free(g);
	g = nb_graph_new();
	cr_expect_eq(nb_module_forward_multi(lin, g, -1, in, 2, out), -1);
	cr_expect(strstr(nb_graph_errmsg(g), "input count out of range"));
	nb_graph_free(g);
	g = nb_graph_new();
	cr_expect_eq(nb_module_forward_multi(lin, g, 1, NULL, 2, out), -1);
	nb_graph_free(g);
	g = nb_graph_new();
	cr_expect_eq(nb_module_forward_multi(NULL, g, 1, in, 2, out), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect_eq(nb_module_forward_multi(lin, NULL, 1, in, 2, out), -1);
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	nb_graph_free(g);
	/* A user module's own error, recorded with nb_graph_fail. */
	nb_module *p = nb_module_new(&pair_class, "p", NULL);
	g = nb_graph_new();
	cr_expect_eq(nb_module_forward_multi(p, g, 3, in, 2, out), -1);
	cr_expect_str_eq(nb_graph_errmsg(g), "pair: wants (x[, h]), given 3");
	nb_graph_free(g);
	nb_module_free(p);
	/* A class without any forward is refused. */
	static const nb_module_class none = {.type = "none"};
	cr_expect_null(nb_module_new(&none, "n", NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	nb_tensor_free(x);
	nb_module_free(lin);
}

Test(module_multi, children_by_name)
{
	nb_rng r;
	nb_rng_seed(&r, 0);
	nb_module *d = nb_sequential_new(NULL);
	cr_assert_eq(nb_module_add(d, nb_linear_new("enc", 2, 2, true,
	                                            NB_F32, &r)), NB_OK);
	cr_assert_eq(nb_module_add(d, nb_linear_new("dec", 2, 2, true,
	                                            NB_F32, &r)), NB_OK);
	cr_expect_eq(nb_module_child_named(d, "dec"), nb_module_child(d, 1));
	cr_expect_eq(nb_module_child_named(d, "enc"), nb_module_child(d, 0));
	/* A parameter's name is not a child. */
	cr_expect_null(nb_module_child_named(nb_module_child(d, 0), "weight"));
	cr_expect_null(nb_module_child_named(d, "nope"));
	cr_expect_null(nb_module_child_named(d, NULL));
	cr_expect_null(nb_module_child_named(NULL, "enc"));
	nb_module_free(d);
}

/* ---- state carried between calls ---- */

/* y = x + s, where s is the previous call's y when stateful (else 0):
 * the carried state of a recurrent layer, in one line. */
typedef struct carry {
	nb_tensor *s; /* persistent, detached copy of the last y */
	int resets;
} carry;

static nb_tensor *carry_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	carry *c = nb_module_state(m);
	bool use = nb_module_stateful(m) && c->s;
	/* The graph gets its own copy of the state: c->s is replaced below,
	 * while this graph may still need what it read (backward). */
	nb_tensor *s = use ? nb_graph_from_data(g, nb_tensor_dtype(c->s),
	                                        nb_tensor_ndim(c->s),
	                                        nb_tensor_shape(c->s),
	                                        nb_tensor_data(c->s)) : NULL;
	nb_tensor *y = use ? nb_add(g, x, s) : x;
	if (!y)
		return NULL;
	if (nb_module_stateful(m)) {
		nb_tensor_free(c->s);
		c->s = nb_tensor_zeros(nb_tensor_dtype(y), nb_tensor_ndim(y),
		                       nb_tensor_shape(y));
		for (size_t i = 0; c->s && i < nb_tensor_numel(y); i++)
			nb_tensor_set(c->s, i, nb_tensor_get(y, i));
	}
	return y;
}

static void carry_reset(nb_module *m)
{
	carry *c = nb_module_state(m);
	nb_tensor_free(c->s);
	c->s = NULL;
	c->resets++;
}

static void carry_free(void *p)
{
	carry *c = p;
	nb_tensor_free(c->s);
	free(c);
}

static const nb_module_class carry_class = {
	.type = "carry", .forward = carry_forward, .free_state = carry_free,
	.reset_state = carry_reset,
};

Test(module_multi, stateful_modules_carry_and_reset)
{
	nb_module *root = nb_sequential_new(NULL);
	carry *st = calloc(1, sizeof *st);
	cr_assert_eq(nb_module_add(root, nb_module_new(&carry_class, "c",
	                                               st)), NB_OK);
	cr_expect_not(nb_module_stateful(root));
	cr_expect(nb_module_has_state(root));
	nb_module *plain = nb_sequential_new(NULL);
	cr_expect_not(nb_module_has_state(plain));
	nb_module_free(plain);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = input(NB_F64, 1);
	/* Off: every call starts from zero. */
	for (int k = 0; k < 2; k++) {
		double v = nb_tensor_get(nb_module_forward(root, g, x), 0);
		cr_expect_float_eq(v, 1, 0);
	}
	/* On, for the subtree: 1, 2, 3, ... */
	nb_module_set_stateful(root, true);
	cr_expect(nb_module_stateful(nb_module_child(root, 0)));
	for (int k = 1; k <= 3; k++) {
		nb_graph_reset(g);
		double v = nb_tensor_get(nb_module_forward(root, g, x), 0);
		cr_expect_float_eq(v, k, 0);
	}
	/* The carried state is detached: the gradient stops at it. */
	nb_tensor *y = nb_module_forward(root, g, x);
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(x), 0), 1, 0);
	nb_module_reset_state(root);
	cr_expect_eq(st->resets, 1);
	nb_graph_reset(g);
	double v = nb_tensor_get(nb_module_forward(root, g, x), 0);
	cr_expect_float_eq(v, 1, 0);
	nb_module_set_stateful(root, false);
	cr_expect_not(nb_module_stateful(nb_module_child(root, 0)));
	nb_module_reset_state(NULL);
	nb_module_set_stateful(NULL, true);
	cr_expect_not(nb_module_stateful(NULL));
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_module_free(root);
}
