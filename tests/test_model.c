/*
 * test_model.c - modules: names, scopes, parameters and buffers,
 * freezing, train/eval, user modules, models from specs and their
 * errors.
 */
#include "support/helpers.h"
#include "support/testops.h"

static void setup(void)
{
	nbt_register_test_ops();
}

TestSuite(model, .init = setup);

static const nb_model_opts f64 = {.dtype = NB_F64, .seed = 1};

Test(model, names_from_a_spec)
{
	nb_module *m = nb_model_parse("linear:8 t_norm t_act t_drop:0.2 "
	                              "linear:3", 5, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	const char *want[] = {
		"fc1.weight", "fc1.bias", "t_norm1.weight", "t_norm1.bias",
		"t_norm1.running_mean", "t_norm1.running_var",
		"t_norm1.num_batches_tracked", "fc2.weight", "fc2.bias",
	};
	const bool buffer[] = {0, 0, 0, 0, 1, 1, 1, 0, 0};
	cr_assert_eq(n, 9);
	for (size_t i = 0; i < n; i++) {
		cr_expect_str_eq(t[i].name, want[i]);
		cr_expect_str_eq(nb_tensor_name(t[i].tensor), want[i]);
		cr_expect_eq(t[i].buffer, buffer[i], "%s", want[i]);
		cr_expect_eq(nb_tensor_requires_grad(t[i].tensor), !buffer[i],
		             "%s", want[i]);
	}
	cr_expect_eq(nb_tensor_dim(nb_module_tensor(m, "fc1.weight"), 0), 8);
	cr_expect_eq(nb_tensor_dim(nb_module_tensor(m, "fc1.weight"), 1), 5);
	cr_expect_eq(nb_tensor_dtype(nb_module_tensor(m, "fc2.bias")), NB_F64);
	cr_expect_eq(nb_tensor_dtype(t[6].tensor), NB_I64);
	cr_expect_null(nb_module_tensor(m, "fc3.weight"));
	cr_expect_null(nb_module_tensor(m, "fc1"));
	cr_expect_eq(nb_module_child_count(m), 5);
	cr_expect_str_eq(nb_module_type(nb_module_child(m, 0)), "linear");
	cr_expect_str_eq(nb_module_type(nb_module_child(m, 2)), "op");
	cr_expect_eq(nb_module_numel(m, false), 8 * 5 + 8 + 8 + 8 + 3 * 8 + 3);
	nb_tensor *p[8];
	cr_expect_eq(nb_module_params(m, false, p, 8), 6);
	cr_expect_eq(p[2], nb_module_tensor(m, "t_norm1.weight"));
	nb_module_free(m);
}

Test(model, pytorch_linear_init_bounds)
{
	nb_rng r;
	nb_rng_seed(&r, 3);
	nb_module *l = nb_linear_new("fc", 100, 50, true, NB_F32, &r);
	cr_assert_not_null(l);
	nb_tensor *w = nb_module_tensor(l, "weight");
	double lo = 1, hi = -1;
	for (size_t i = 0; i < nb_tensor_numel(w); i++) {
		double v = nb_tensor_get(w, i);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	/* U(-0.1, 0.1) for fan_in 100: 5000 draws reach near both ends. */
	cr_expect(lo >= -0.1 && lo < -0.099 && hi <= 0.1 && hi > 0.099,
	          "weights in [%g, %g]", lo, hi);
	nb_module_free(l);
}

Test(model, same_seed_same_weights)
{
	nb_module *a = nb_model_parse("linear:4 linear:2", 3, &f64);
	nb_module *b = nb_model_parse("linear:4 linear:2", 3, &f64);
	nb_model_opts o2 = f64;
	o2.seed = 2;
	nb_module *c = nb_model_parse("linear:4 linear:2", 3, &o2);
	nb_tensor *wa = nb_module_tensor(a, "fc2.weight");
	nb_tensor *wb = nb_module_tensor(b, "fc2.weight");
	nb_tensor *wc = nb_module_tensor(c, "fc2.weight");
	cr_expect_eq(memcmp(nb_tensor_cdata(wa), nb_tensor_cdata(wb), 64), 0);
	cr_expect_neq(memcmp(nb_tensor_cdata(wa), nb_tensor_cdata(wc), 64), 0);
	nb_module_free(a);
	nb_module_free(b);
	nb_module_free(c);
}

Test(model, forward_scopes_and_backward)
{
	nb_module *m = nb_model_parse("linear:4 t_norm t_act linear:2", 3, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(5, 3));
	for (size_t i = 0; i < 15; i++)
		nb_tensor_set(x, i, (double)i / 7 - 1);
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_dim(y, 0), 5);
	cr_expect_eq(nb_tensor_dim(y, 1), 2);
	const char *scopes[] = {"fc1", "t_norm1", "t_act1", "fc2"};
	cr_assert_eq(nb_graph_node_count(g), 4);
	for (size_t i = 0; i < 4; i++)
		cr_expect_str_eq(nb_graph_node_scope(g, i), scopes[i]);
	cr_expect_str_eq(nb_graph_scope(g), "");
	nb_tensor *loss = nb_mean(g, nb_mul(g, y, y), 0, NULL, false);
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_not_null(nb_tensor_grad(nb_module_tensor(m, "fc1.weight")));
	cr_expect_not_null(nb_tensor_grad(nb_module_tensor(m, "t_norm1.bias")));
	cr_expect_null(nb_tensor_grad(nb_module_tensor(m,
	                                             "t_norm1.running_mean")));
	/* Running statistics moved, the batch was counted. */
	cr_expect_neq(nb_tensor_get(nb_module_tensor(m, "t_norm1.running_mean"),
	                            0), 0);
	cr_expect_eq(nb_tensor_item(nb_module_tensor(m,
	             "t_norm1.num_batches_tracked")), 1);
	nb_module_zero_grad(m);
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(nb_module_tensor(m,
	             "fc1.weight")), 0), 0);
	nb_graph_free(g);
	nb_module_free(m);
}

Test(model, train_eval_sets_the_graph_mode)
{
	nb_module *m = nb_model_parse("linear:4 t_norm t_drop", 3, &f64);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 3));
	int before = t_drop_training_calls;
	cr_expect(nb_module_training(m));
	nb_module_set_training(m, false);
	cr_expect_not(nb_module_training(nb_module_child(m, 2)));
	nb_graph_set_training(g, true);
	nb_module_forward(m, g, x);
	cr_expect_not(nb_graph_training(g));
	cr_expect_eq(t_drop_training_calls, before);
	cr_expect_eq(nb_tensor_item(nb_module_tensor(m,
	             "t_norm1.num_batches_tracked")), 0);
	nb_module_set_training(m, true);
	nb_module_forward(m, g, x);
	cr_expect(nb_graph_training(g));
	cr_expect_eq(t_drop_training_calls, before + 1);
	nb_graph_free(g);
	nb_module_free(m);
}

Test(model, freeze_by_prefix)
{
	nb_module *m = nb_model_parse("linear:4 linear:4 linear:4 linear:4 "
	    "linear:4 linear:4 linear:4 linear:4 linear:4 linear:4 linear:2",
	    3, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	size_t k;
	cr_expect_eq(nb_module_freeze(m, "fc1", true, &k), NB_OK);
	cr_expect_eq(k, 2); /* fc1.weight, fc1.bias, not fc10.* */
	cr_expect_not(nb_tensor_requires_grad(nb_module_tensor(m, "fc1.bias")));
	cr_expect(nb_tensor_requires_grad(nb_module_tensor(m, "fc10.bias")));
	cr_expect_eq(nb_module_freeze(m, "fc2.weight", true, &k), NB_OK);
	cr_expect_eq(k, 1);
	cr_expect_eq(nb_module_params(m, true, NULL, 0), 22 - 3);
	cr_expect_eq(nb_module_numel(m, true),
	             nb_module_numel(m, false) - (4 * 3 + 4 + 4 * 4));
	cr_expect_eq(nb_module_freeze(m, "fc", true, &k), NB_ENOTFOUND);
	cr_expect_eq(k, 0);
	cr_expect(strstr(nb_last_error(), "no parameter is named 'fc'"));
	cr_expect_eq(nb_module_freeze(m, "", false, &k), NB_OK);
	cr_expect_eq(k, 22);
	cr_expect_eq(nb_module_params(m, true, NULL, 0), 22);
	nb_module_free(m);
}

Test(model, frozen_params_get_no_gradient)
{
	nb_module *m = nb_model_parse("linear:3 linear:1", 2, &f64);
	nb_module_freeze(m, "fc1", true, NULL);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(4, 2));
	nb_tensor_fill(x, 1);
	nb_tensor *y = nb_sum(g, nb_module_forward(m, g, x), 0, NULL, false);
	cr_assert_eq(nb_backward(y, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_null(nb_tensor_grad(nb_module_tensor(m, "fc1.weight")));
	cr_expect_not_null(nb_tensor_grad(nb_module_tensor(m, "fc2.weight")));
	nb_graph_free(g);
	nb_module_free(m);
}

/* ---- a user-defined module: y = x + f(x), with f a child ---- */

typedef struct residual {
	double scale;
} residual;

static nb_tensor *residual_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	residual *r = nb_module_state(m);
	nb_tensor *fx = nb_module_forward(nb_module_child(m, 0), g, x);
	nb_tensor *s = nb_mul(g, fx, nb_module_tensor(m, "gate"));
	return nb_affine_scalar(g, nb_add(g, x, s), r->scale, 0);
}

static int freed;

static void residual_free(void *p)
{
	freed++;
	free(p);
}

static const nb_module_class residual_class = {
	.type = "residual", .forward = residual_forward,
	.free_state = residual_free,
};

static nb_module *residual_new(const char *name, int64_t f, nb_rng *r)
{
	residual *st = malloc(sizeof *st);
	st->scale = 1;
	nb_module *m = nb_module_new(&residual_class, name, st);
	cr_assert_not_null(m);
	cr_assert_eq(nb_module_add(m, nb_linear_new("inner", f, f, true,
	                                            NB_F64, r)), NB_OK);
	cr_assert_eq(nb_module_add_param(m, "gate", nb_tensor_full(NB_F64,
	                                 NB_SHAPE(1), 0.5)), NB_OK);
	return m;
}

Test(model, user_module_nests_names_and_scopes)
{
	nb_rng r;
	nb_rng_seed(&r, 0);
	nb_module *root = nb_sequential_new(NULL);
	nb_module *enc = nb_sequential_new("encoder");
	cr_assert_eq(nb_module_add(enc, residual_new("block1", 3, &r)), NB_OK);
	/* Names are relative to the root: re-rooted on nb_module_add. */
	cr_expect_str_eq(nb_tensor_name(nb_module_tensor(enc,
	                 "block1.inner.weight")), "block1.inner.weight");
	cr_assert_eq(nb_module_add(root, enc), NB_OK);
	cr_assert_eq(nb_module_add(root, nb_linear_new("head", 3, 2, false,
	                                               NB_F64, &r)), NB_OK);
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(root, &t);
	cr_assert_eq(n, 4);
	cr_expect_str_eq(t[0].name, "encoder.block1.gate");
	cr_expect_str_eq(t[1].name, "encoder.block1.inner.weight");
	cr_expect_str_eq(t[2].name, "encoder.block1.inner.bias");
	cr_expect_str_eq(t[3].name, "head.weight");
	cr_expect_null(nb_module_tensor(root, "head.bias"));
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 3));
	nb_tensor *y = nb_module_forward(root, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	/* inner's linear, the gate mul, add, affine, head's linear. */
	cr_assert_eq(nb_graph_node_count(g), 5);
	cr_expect_str_eq(nb_graph_node_scope(g, 0), "encoder.block1.inner");
	cr_expect_str_eq(nb_graph_node_scope(g, 1), "encoder.block1");
	cr_expect_str_eq(nb_graph_node_scope(g, 4), "head");
	cr_expect_eq(nb_module_freeze(root, "encoder.block1.inner", true,
	                              NULL), NB_OK);
	cr_expect_eq(nb_module_params(root, true, NULL, 0), 2);
	nb_graph_free(g);
	freed = 0;
	nb_module_free(root);
	cr_expect_eq(freed, 1);
}

Test(model, module_errors)
{
	nb_rng r;
	nb_rng_seed(&r, 0);
	nb_module *m = nb_sequential_new("m");
	cr_expect_null(nb_sequential_new("a.b"));
	cr_expect(strstr(nb_last_error(), "bad name 'a.b'"));
	cr_expect_null(nb_module_new(NULL, "x", NULL));
	cr_expect_eq(nb_module_add_param(m, "w", NULL), NB_EINVAL);
	cr_expect_eq(nb_module_add_param(m, "w", nb_tensor_zeros(NB_F32,
	             NB_SHAPE(2))), NB_OK);
	cr_expect_eq(nb_module_add_param(m, "w", nb_tensor_zeros(NB_F32,
	             NB_SHAPE(2))), NB_EEXIST);
	cr_expect_eq(nb_module_add_param(m, "i", nb_tensor_zeros(NB_I64,
	             NB_SHAPE(2))), NB_EDTYPE);
	cr_expect_eq(nb_module_add_buffer(m, "b c", nb_tensor_zeros(NB_F32,
	             NB_SHAPE(2))), NB_EINVAL);
	cr_expect_eq(nb_module_add(m, nb_sequential_new(NULL)), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "the child needs a name"));
	cr_expect_eq(nb_module_add(m, nb_sequential_new("w")), NB_EEXIST);
	nb_module *c = nb_sequential_new("c");
	cr_expect_eq(nb_module_add(m, c), NB_OK);
	cr_expect_eq(nb_module_add(m, c), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "has a parent already"));
	cr_expect_null(nb_linear_new("l", 0, 3, true, NB_F32, &r));
	cr_expect_null(nb_layer_new("l", "nope", NULL, 3, NB_F32, 0));
	cr_expect_eq(nb_last_status(), NB_ENOTFOUND);
	cr_expect_null(nb_layer_new("l", "add", NULL, 3, NB_F32, 0));
	/* add has no NB_OP_LAYER flag (issue 13: the flag, not the kind). */
	cr_expect(strstr(nb_last_error(), "cannot be a layer"), "%s",
	          nb_last_error());
	cr_expect_null(nb_layer_new("l", "t_drop", "p=2", 3, NB_F32, 0));
	cr_expect_eq(nb_module_freeze(m, "zz", true, NULL), NB_ENOTFOUND);
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_module_forward(m, g, NULL));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_free(g);
	nb_module_free(m);
	nb_module_free(NULL);
}

/*
 * A normalization-like op with bool attributes named "affine" and
 * "track_running_stats": before issue 13 they decided what its layer
 * made.  Now only the layer flags (the spec options of those names) do:
 * the attributes are the op's own business, whatever they are called.
 */
typedef struct named_attrs {
	bool affine;
	bool track_running_stats;
} named_attrs;

static const nb_attr_def named_defs[] = {
	{.name = "affine", .type = NB_ATTR_BOOL,
	 .offset = offsetof(named_attrs, affine), .def = 1},
	{.name = "track_running_stats", .type = NB_ATTR_BOOL,
	 .offset = offsetof(named_attrs, track_running_stats), .def = 1},
};

static const nb_op t_norm_named = {
	.version = NB_OP_VERSION, .name = "t_norm_named",
	.kind = NB_KIND_NORM, .inputs = t_norm_inputs, .n_inputs = 5,
	.attrs = named_defs, .n_attrs = 2, .attrs_size = sizeof(named_attrs),
	.flags = NB_OP_LAYER, .forward = t_norm_fwd, .backward = t_norm_bwd,
	.test = &t_norm_test,
};

Test(model, layer_options_by_flags)
{
	/* Issue 13: the flags decide what a layer makes, from the inputs'
	 * groups (t_norm's weight and bias: affine, its running statistics:
	 * stats).  Before, t_norm's own attributes affine= and
	 * track_running_stats= won over the flags; t_norm has no such
	 * attributes now (test_spec checks the spec options). */
	nb_module *m = nb_layer_new("bn", "t_norm", NULL, 4, NB_F64,
	                            NB_LAYER_NO_AFFINE);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_null(nb_module_tensor(m, "weight"));
	cr_expect_null(nb_module_tensor(m, "bias"));
	cr_expect_not_null(nb_module_tensor(m, "running_mean"));
	cr_expect_not_null(nb_module_tensor(m, "num_batches_tracked"));
	nb_module_free(m);
	m = nb_layer_new("bn", "t_norm", NULL, 4, NB_F64, NB_LAYER_NO_STATS);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_not_null(nb_module_tensor(m, "weight"));
	cr_expect_null(nb_module_tensor(m, "running_mean"));
	cr_expect_null(nb_module_tensor(m, "num_batches_tracked"));
	nb_module_free(m);
	/* What the input definitions say: weight 1, bias 0, running_mean
	 * 0, running_var 1, each [features]. */
	m = nb_layer_new("bn", "t_norm", NULL, 3, NB_F64, 0);
	cr_assert_not_null(m, "%s", nb_last_error());
	const char *names[] = {"weight", "bias", "running_mean",
	                       "running_var"};
	const double fill[] = {1, 0, 0, 1};
	for (int i = 0; i < 4; i++) {
		nb_tensor *t = nb_module_tensor(m, names[i]);
		cr_assert_not_null(t, "%s", names[i]);
		cr_expect_eq(nb_tensor_ndim(t), 1, "%s", names[i]);
		cr_expect_eq(nb_tensor_dim(t, 0), 3, "%s", names[i]);
		for (size_t k = 0; k < 3; k++)
			cr_expect_eq(nb_tensor_get(t, k), fill[i], "%s", names[i]);
	}
	nb_module_free(m);
	/* No attribute of those names any more. */
	cr_expect_null(nb_layer_new("bn", "t_norm", "affine=0", 4, NB_F64,
	                            NB_LAYER_AFFINE));
	cr_expect_eq(nb_last_status(), NB_ENOTFOUND);
	/* An op that does have attributes of those names: they steer
	 * nothing, the flags do. */
	nb_status st = nb_op_register(&t_norm_named);
	cr_assert(st == NB_OK || st == NB_EEXIST, "%s", nb_last_error());
	m = nb_layer_new("bn", "t_norm_named",
	                 "affine=0 track_running_stats=0", 4, NB_F64, 0);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_not_null(nb_module_tensor(m, "weight"));
	cr_expect_not_null(nb_module_tensor(m, "running_mean"));
	nb_module_free(m);
	m = nb_layer_new("bn", "t_norm_named", "affine=1", 4, NB_F64,
	                 NB_LAYER_NO_AFFINE | NB_LAYER_NO_STATS);
	cr_assert_not_null(m, "%s", nb_last_error());
	const nb_named_tensor *t;
	cr_expect_eq(nb_module_tensors(m, &t), 0);
	nb_module_free(m);
	/* The spec options set the flags. */
	m = nb_layer_new("bn", "t_norm2", NULL, 4, NB_F64, NB_LAYER_NO_AFFINE);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_null(nb_module_tensor(m, "bias"));
	cr_expect_not_null(nb_module_tensor(m, "num_batches_tracked"));
	nb_module_free(m);
	m = nb_model_parse("t_norm2:affine=0,track_running_stats=false,"
	                   "momentum=0.3", 4, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_eq(nb_module_tensors(m, &t), 0);
	nb_module_free(m);
	m = nb_model_parse("t_norm2:momentum=0.3,affine=1", 4, &f64);
	cr_expect_eq(nb_module_tensors(m, &t), 5);
	nb_module_free(m);
	m = nb_model_parse("t_norm:track_running_stats=0", 4, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_eq(nb_module_tensors(m, &t), 2, "weight and bias only");
	nb_module_free(m);
}

Test(model, spec_errors_when_building)
{
	cr_expect_null(nb_model_parse("linear:4", 0, NULL));
	cr_expect(strstr(nb_last_error(), "input size is unknown"));
	cr_expect_null(nb_model_parse("input:5 linear:4", 6, NULL));
	cr_expect(strstr(nb_last_error(), "input:5 but the data has 6"));
	nb_module *m = nb_model_parse("input:5 linear:4", 0, NULL);
	cr_expect_not_null(m);
	nb_module_free(m);
	cr_expect_null(nb_model_parse("linear:4 relux", 2, NULL));
	cr_expect(strstr(nb_last_error(), "spec:1:10: unknown layer"));
	/* A float64 input to a float32 model fails at forward. */
	m = nb_model_parse("linear:2 t_act", 2, NULL);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(1, 2));
	cr_expect_null(nb_module_forward(m, g, x));
	cr_expect(strstr(nb_graph_errmsg(g), "mixed dtypes"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_module_free(m);
}

Test(model, builtin_activations_as_layers)
{
	nb_module *m = nb_model_parse("linear:4 prelu leaky_relu:0.2 "
	                              "gelu:approximate=tanh linear:2", 3, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	nb_tensor *a = nb_module_tensor(m, "prelu1.weight");
	cr_assert_not_null(a);
	cr_expect_eq(nb_tensor_numel(a), 1);
	cr_expect_eq(nb_tensor_item(a), 0.25);
	cr_expect_str_eq(nb_module_name(nb_module_child(m, 2)), "leaky_relu1");
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 3));
	nb_tensor_fill(x, -1);
	nb_tensor *y = nb_sum(g, nb_module_forward(m, g, x), 0, NULL, false);
	cr_assert_eq(nb_backward(y, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_not_null(nb_tensor_grad(a));
	cr_expect_str_eq(nb_graph_node_scope(g, 2), "leaky_relu1");
	nb_graph_free(g);
	nb_module_free(m);
	cr_expect_null(nb_model_parse("linear:4 relux", 3, NULL));
	cr_expect(strstr(nb_last_error(), "spec:1:10: unknown layer 'relux' "
	                 "(did you mean 'relu'?"), "%s", nb_last_error());
}

Test(model, builtin_normalizations_and_dropout)
{
	nb_module *m = nb_model_parse("linear:4 batch_norm relu dropout:0.5 "
	    "linear:6 layer_norm group_norm:num_groups=3 instance_norm "
	    "linear:2", 3, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	const char *want[] = {
		"fc1.weight", "fc1.bias", "bn1.weight", "bn1.bias",
		"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
		"fc2.weight", "fc2.bias", "ln1.weight", "ln1.bias", "gn1.weight",
		"gn1.bias", "fc3.weight", "fc3.bias",
	};
	cr_assert_eq(n, sizeof want / sizeof *want);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(t[i].name, want[i]);
	cr_expect_str_eq(nb_module_name(nb_module_child(m, 3)), "drop1");
	cr_expect_str_eq(nb_module_name(nb_module_child(m, 7)), "in1");
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(5, 3));
	for (size_t i = 0; i < 15; i++)
		nb_tensor_set(x, i, sin((double)i));
	nb_tensor *y = nb_sum(g, nb_module_forward(m, g, x), 0, NULL, false);
	/* instance_norm needs spatial dimensions: [N, C] is refused. */
	if (!y)
		cr_expect(strstr(nb_graph_errmsg(g), "instance_norm"), "%s",
		          nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_module_free(m);

	m = nb_model_parse("linear:4 batch_norm:momentum=0.5 dropout:0.5 "
	                   "linear:2", 3, &f64);
	g = nb_graph_new();
	x = nb_graph_tensor(g, NB_F64, NB_SHAPE(5, 3));
	for (size_t i = 0; i < 15; i++)
		nb_tensor_set(x, i, cos((double)i));
	y = nb_sum(g, nb_module_forward(m, g, x), 0, NULL, false);
	cr_assert_eq(nb_backward(y, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	/* The op counts the batch, once. */
	cr_expect_eq(nb_tensor_item(nb_module_tensor(m,
	             "bn1.num_batches_tracked")), 1);
	cr_expect_neq(nb_tensor_get(nb_module_tensor(m, "bn1.running_mean"),
	                            0), 0);
	cr_expect_not_null(nb_tensor_grad(nb_module_tensor(m, "bn1.weight")));
	const char *scopes[] = {"fc1", "bn1", "drop1", "fc2"};
	for (size_t i = 0; i < 4; i++)
		cr_expect_str_eq(nb_graph_node_scope(g, i), scopes[i]);
	nb_graph_free(g);
	nb_module_free(m);
	m = nb_model_parse("linear:4 batch_norm:affine=0,track_running_stats=0 "
	                   "instance_norm:affine=1", 3, &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	n = nb_module_tensors(m, &t);
	cr_expect_eq(n, 4, "fc1 (2) and in1's weight and bias");
	cr_expect_str_eq(t[2].name, "in1.weight");
	nb_module_free(m);
}

/* ---- allocation failures: every allocation of building a model, one at
 * a time, fails cleanly (NULL and NB_ENOMEM; ASan checks for leaks) ---- */

static long alloc_budget;

static void *failing_malloc(size_t n)
{
	return alloc_budget-- > 0 ? malloc(n) : NULL;
}

static void *failing_realloc(void *p, size_t n)
{
	return alloc_budget-- > 0 ? realloc(p, n) : NULL;
}

/* A CNN from a spec: flat 784-feature inputs read as 28 x 28 images,
 * the parameters' names and shapes, and the output's. */
Test(model, cnn_from_a_spec)
{
	nb_module *m = nb_model_parse("conv2d:4:3:padding=1 relu max_pool2d:2 "
	                              "conv2d:6:3:stride=2,groups=2 batch_norm "
	                              "avg_pool2d:2 flatten linear:10", 784,
	                              &f64);
	cr_assert_not_null(m, "%s", nb_last_error());
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	const char *want[] = {"conv1.weight", "conv1.bias", "conv2.weight",
	                      "conv2.bias", "bn1.weight", "bn1.bias",
	                      "bn1.running_mean", "bn1.running_var",
	                      "bn1.num_batches_tracked", "fc1.weight",
	                      "fc1.bias"};
	cr_assert_eq(n, sizeof want / sizeof *want);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(t[i].name, want[i]);
	const int64_t *ws = nb_tensor_shape(nb_module_tensor(m, "conv2.weight"));
	cr_expect(ws[0] == 6 && ws[1] == 2 && ws[2] == 3 && ws[3] == 3);
	/* 28 -> 28 -> 14 -> 6 -> 3: fc1 reads 6 * 3 * 3 */
	cr_expect_eq(nb_tensor_shape(nb_module_tensor(m, "fc1.weight"))[1], 54);
	/* conv1's bound 1/sqrt(1 * 3 * 3) */
	nb_tensor *w = nb_module_tensor(m, "conv1.weight");
	double mx = 0;
	for (size_t i = 0; i < nb_tensor_numel(w); i++)
		mx = fmax(mx, fabs(nb_tensor_get(w, i)));
	cr_expect(mx > 0.2 && mx <= 1.0 / 3, "%g", mx);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(5, 784));
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect(nb_tensor_shape(y)[0] == 5 && nb_tensor_shape(y)[1] == 10);
	/* images pass the first reshape unchanged */
	nb_graph_reset(g);
	x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 1, 28, 28));
	cr_expect_not_null(nb_module_forward(m, g, x), "%s",
	                   nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_module_free(m);
}

Test(model, cnn_spec_errors_when_building)
{
	static const struct {
		const char *spec;
		int64_t in;
		const char *msg;
	} bad[] = {
		{"conv2d:4:3", 780, "spec:1:1: conv2d as the first layer reads "
		 "the 780 input features as a square one-channel image, and 780 "
		 "is not a square"},
		{"linear:16 max_pool2d:2", 784, "spec:1:11: max_pool2d needs "
		 "images [N, C, H, W], but the layer before gives 16 flat "
		 "features"},
		{"conv2d:4:3 linear:10", 784, "spec:1:12: linear needs flat "
		 "features, not images 4 x 26 x 26: add flatten before it"},
		{"conv2d:4:5 conv2d:4:30", 784, "spec:1:12: conv2d: the kernel "
		 "(30x30, dilated 30x30) is larger than its padded input "
		 "(4 x 24 x 24, padding 0,0)"},
		{"conv2d:4:3:dilation=14", 784, "dilated 29x29) is larger"},
		{"conv2d:4:3 conv2d:6:3:groups=3", 784, "spec:1:12: conv2d: "
		 "groups=3 must divide the input channels (4)"},
		{"max_pool2d:3,padding=2", 784, "padding must be at most half"},
		{"avg_pool2d:kernel_size=[2,2,2]", 784, "take one or two values"},
		{"max_pool2d:stride=2", 784, "max_pool2d needs its kernel size"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_expect_null(nb_model_parse(bad[i].spec, bad[i].in, NULL),
		               "'%s'", bad[i].spec);
		cr_expect(strstr(nb_last_error(), bad[i].msg), "'%s': '%s' lacks "
		          "'%s'", bad[i].spec, nb_last_error(), bad[i].msg);
	}
	cr_expect_null(nb_conv2d_new("c", 4, 6, 3, 3,
	                             &(nb_conv2d_opts){{1, 1}, {0, 0}, {1, 1},
	                                               4}, true, NB_F32,
	                             &(nb_rng){0}));
	cr_expect(strstr(nb_last_error(), "groups must divide"));
}

Test(model, every_allocation_failure_is_clean)
{
	const char *spec = "conv2d:2:2 max_pool2d:2 flatten linear:8 t_norm "
	                   "t_act@act t_drop:0.1 linear:2";
	nb_module *m = nb_model_parse(spec, 9, &f64); /* warm the registry */
	nb_module_free(m);
	int failures = 0;
	for (long budget = 0; budget < 10000; budget++) {
		alloc_budget = budget;
		nb_set_alloc_funcs(failing_malloc, failing_realloc, free);
		m = nb_model_parse(spec, 9, &f64);
		nb_status st = nb_last_status();
		nb_set_alloc_funcs(NULL, NULL, NULL);
		if (m) {
			nb_module_free(m);
			break;
		}
		failures++;
		cr_expect_eq(st, NB_ENOMEM, "budget %ld: %s", budget,
		             nb_last_error());
	}
	cr_expect_gt(failures, 10);
}

Test(model, init_schemes_by_name)
{
	nb_model_opts o = {.dtype = NB_F64, .seed = 3, .init = "constant:0.5"};
	nb_module *m = nb_model_parse("linear:4 relu linear:2", 3, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_get(nb_module_tensor(m, "fc2.weight"), 7), 0.5);
	cr_expect_eq(nb_tensor_get(nb_module_tensor(m, "fc1.bias"), 3), 0);
	nb_module_free(m);
	/* "auto" takes the activation after the layer: relu, gain sqrt(2). */
	o.init = "kaiming_uniform:nonlinearity=auto";
	m = nb_model_parse("linear:400 batch_norm relu linear:2", 600, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	nb_tensor *w = nb_module_tensor(m, "fc1.weight");
	double bound = sqrt(2.0) * sqrt(3.0 / 600), hi = 0;
	for (size_t i = 0; i < nb_tensor_numel(w); i++)
		hi = fmax(hi, fabs(nb_tensor_get(w, i)));
	cr_expect(hi <= bound && hi > 0.99 * bound, "max |w| %g, bound %g", hi,
	          bound);
	nb_module_free(m);
	o.init = "bogus";
	cr_expect_null(nb_model_parse("linear:4 linear:2", 3, &o));
	cr_expect(strstr(nb_last_error(), "spec:1:1: "), "%s", nb_last_error());
	cr_expect(strstr(nb_last_error(), "bogus"), "%s", nb_last_error());
}
