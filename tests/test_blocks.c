/*
 * test_blocks.c - containers (residual, module list, module dict), the
 * spec language's blocks (residual( ), Nx( )) as a tree, their names,
 * errors and bounds, sequence layers (reshape, mean) and the layer
 * table (nb_layer_register).
 */
#include <time.h>
#include "support/helpers.h"
#include "support/tmpdir.h"

static nb_rng rng;

/* ---- containers ---- */

/* A residual of one linear with known weights: y = x + (x W^T + b). */
Test(blocks, residual_adds_its_input_and_backpropagates)
{
	nb_rng_seed(&rng, 1);
	nb_module *r = nb_residual_new(NULL);
	nb_module *fc = nb_linear_new("fc", 2, 2, true, NB_F64, &rng);
	cr_assert(r && fc);
	nb_tensor_fill(nb_module_tensor(fc, "weight"), 0);
	nb_tensor_set(nb_module_tensor(fc, "weight"), 1, 2.0); /* W[0][1] */
	nb_tensor_fill(nb_module_tensor(fc, "bias"), 0.5);
	cr_assert_eq(nb_module_add(r, fc), NB_OK);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(1, 2), (double[]){1, 3});
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = nb_module_forward(r, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	/* [1 + 6 + 0.5, 3 + 0 + 0.5] */
	nbt_expect_close(y, (double[]){7.5, 3.5}, 2, 0, 0, "y");
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	/* dy/dx = I + W: column sums of I + W are [1, 3] */
	nbt_expect_close(nb_tensor_grad(x), (double[]){1, 3}, 2, 0, 0, "dx");
	cr_expect_str_eq(nb_tensor_name(nb_module_tensor(r, "fc.weight")),
	                 "fc.weight");
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_module_free(r);
}

Test(blocks, residual_that_changes_the_shape_names_both)
{
	nb_rng_seed(&rng, 1);
	nb_module *top = nb_sequential_new(NULL);
	nb_module *r = nb_residual_new("skip");
	cr_assert_eq(nb_module_add(r, nb_linear_new("fc", 4, 3, true, NB_F32,
	                                            &rng)), NB_OK);
	cr_assert_eq(nb_module_add(top, r), NB_OK);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(5, 4));
	cr_expect_null(nb_module_forward(top, g, x));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "residual 'skip': its layers "
	                 "change the shape [5, 4] to [5, 3]") != NULL, "%s",
	          nb_graph_errmsg(g));
	/* an empty residual */
	nb_graph_reset(g);
	nb_module *e = nb_residual_new("e");
	cr_expect_null(nb_module_forward(e, g, x));
	cr_expect(strstr(nb_graph_errmsg(g), "has no layers") != NULL);
	nb_module_free(e);
	nb_graph_free(g);
	nb_module_free(top);
}

/* proj(x) + f(x): a linear projection of the shortcut for a body that
 * widens the features, as ResNet's downsample. */
Test(blocks, residual_with_a_projection)
{
	nb_rng_seed(&rng, 5);
	nb_module *r = nb_residual_new("res");
	nb_module *fc = nb_linear_new("fc", 2, 3, false, NB_F64, &rng);
	nb_module *pr = nb_linear_new("proj", 2, 3, false, NB_F64, &rng);
	cr_assert(r && fc && pr);
	nb_tensor_fill(nb_module_tensor(fc, "weight"), 1);
	nb_tensor_fill(nb_module_tensor(pr, "weight"), 2);
	cr_assert_eq(nb_module_add(r, fc), NB_OK);
	cr_assert_eq(nb_residual_set_projection(r, pr), NB_OK);
	cr_expect_eq(nb_residual_set_projection(r, nb_sequential_new("p2")),
	             NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "a projection already") != NULL);
	nb_module *l = nb_module_list_new("l");
	cr_expect_eq(nb_residual_set_projection(l, nb_sequential_new("p3")),
	             NB_EINVAL);
	nb_module_free(l);
	cr_expect_not_null(nb_module_tensor(r, "proj.weight"));
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(1, 2), (double[]){1, 2});
	nb_tensor *y = nb_module_forward(r, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	/* 2 * 3 + 1 * 3 in each of 3 features */
	nbt_expect_close(y, (double[]){9, 9, 9}, 3, 0, 0, "y");
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_module_free(r);
}

/* A module list named "blocks" of two residual blocks, as
 * nn.ModuleList([Block(), Block()]): names, freezing, kinds, save and
 * load, and no forward. */
Test(blocks, module_list_names_freezing_and_checkpoints)
{
	nbt_tmpdir_make("test_blocks");
	nb_rng_seed(&rng, 2);
	nb_module *model = nb_sequential_new(NULL);
	nb_module *list = nb_module_list_new("blocks");
	for (int i = 0; i < 2; i++) {
		nb_module *blk = nb_residual_new(NULL);
		cr_assert_eq(nb_module_add(blk, nb_linear_new("fc", 3, 3, true,
		             NB_F32, &rng)), NB_OK);
		cr_assert_eq(nb_module_list_append(list, blk), NB_OK);
	}
	cr_assert_eq(nb_module_add(model, list), NB_OK);
	cr_expect_str_eq(nb_module_name(nb_module_child(list, 1)), "1");
	nb_tensor *w1 = nb_module_tensor(model, "blocks.1.fc.weight");
	cr_assert_not_null(w1);
	cr_expect_str_eq(nb_tensor_name(w1), "blocks.1.fc.weight");
	cr_expect_eq(nb_module_param_kind(model, w1), NB_PARAM_WEIGHT);
	size_t matched = 0;
	cr_expect_eq(nb_module_freeze(model, "blocks.0", true, &matched), NB_OK);
	cr_expect_eq(matched, 2);
	cr_expect_eq(nb_module_numel(model, true), 12);
	/* a child with a parent, or something that is not a list */
	cr_expect_eq(nb_module_list_append(list, nb_module_child(list, 0)),
	             NB_EINVAL);
	cr_expect_eq(nb_module_list_append(model, nb_sequential_new("s")),
	             NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "not a module list") != NULL);
	/* checkpoints round-trip by these names */
	const char *path = nbt_tmpdir_path("list.safetensors");
	cr_assert_eq(nb_module_save(model, path, NULL), NB_OK, "%s",
	             nb_last_error());
	float w = (float)nb_tensor_get(w1, 0);
	nb_tensor_fill(w1, 9);
	cr_assert_eq(nb_module_load(model, path, true, NULL), NB_OK, "%s",
	             nb_last_error());
	cr_expect_float_eq(nb_tensor_get(w1, 0), w, 0);
	/* running the list itself is an error; its children run */
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 3));
	cr_expect_null(nb_module_forward(list, g, x));
	cr_expect(strstr(nb_graph_errmsg(g), "module_list 'blocks' has no "
	                 "forward") != NULL, "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	x = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 3));
	cr_expect_not_null(nb_module_forward(nb_module_child(list, 0), g, x));
	nb_graph_free(g);
	nb_module_free(model);
	nbt_tmpdir_rm(nbt_tmpdir);
}

Test(blocks, module_dict_by_name)
{
	nb_rng_seed(&rng, 3);
	nb_module *d = nb_module_dict_new("heads");
	cr_assert_eq(nb_module_add(d, nb_linear_new("cls", 4, 10, true, NB_F32,
	                                            &rng)), NB_OK);
	cr_assert_eq(nb_module_add(d, nb_linear_new("box", 4, 4, true, NB_F32,
	                                            &rng)), NB_OK);
	cr_expect_eq(nb_module_add(d, nb_linear_new("box", 4, 4, true, NB_F32,
	                                            &rng)), NB_EEXIST);
	nb_module *box = nb_module_child_named(d, "box");
	cr_assert_not_null(box);
	cr_expect_str_eq(nb_module_type(d), "module_dict");
	cr_expect_eq(nb_module_child(d, 1), box);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 4)), *out[1];
	cr_expect_eq(nb_module_forward_multi(d, g, 1, &x, 1, out), -1);
	cr_expect(strstr(nb_graph_errmsg(g), "has no forward") != NULL);
	nb_graph_free(g);
	nb_module_free(d);
}

/* ---- specs with blocks ---- */

static nb_spec *parse_ok(const char *text)
{
	nb_spec *s = NULL;
	nb_status st = nb_spec_parse(text, &s, NULL);
	cr_assert_eq(st, NB_OK, "'%s': %s", text, nb_last_error());
	return s;
}

Test(blocks, spec_tree_in_preorder)
{
	nb_spec *s = parse_ok("linear:8 residual(layer_norm linear:8 relu "
	                      "linear:8) 2x(residual(linear:8 relu)) "
	                      "linear:3");
	/* fc1, res1 {ln1 fc1 relu1 fc2}, rep1 {res1 {fc1 relu1}}, fc2 */
	cr_assert_eq(nb_spec_len(s), 11);
	const nb_spec_layer *r = nb_spec_layer_at(s, 1);
	cr_expect_eq(r->type, NB_LAYER_BLOCK);
	cr_expect_eq(r->block, NB_BLOCK_RESIDUAL);
	cr_expect_eq(r->span, 4);
	cr_expect_str_eq(r->name, "res1");
	cr_expect_eq(nb_spec_layer_at(s, 3)->parent, 1);
	cr_expect_eq(nb_spec_layer_at(s, 3)->depth, 1);
	cr_expect_str_eq(nb_spec_layer_at(s, 3)->name, "fc1");
	cr_expect_str_eq(nb_spec_layer_at(s, 5)->name, "fc2");
	const nb_spec_layer *rep = nb_spec_layer_at(s, 6);
	cr_expect_eq(rep->block, NB_BLOCK_REPEAT);
	cr_expect_eq(rep->repeat, 2);
	cr_expect_eq(rep->span, 3);
	cr_expect_str_eq(rep->name, "rep1");
	cr_expect_eq(nb_spec_layer_at(s, 8)->depth, 2);
	cr_expect_eq(nb_spec_layer_at(s, 10)->parent, SIZE_MAX);
	cr_expect_str_eq(nb_spec_layer_at(s, 10)->name, "fc2");
	cr_expect_eq(nb_spec_out_features(s, 5), 3);
	nb_spec_free(s);
}

Test(blocks, resmlp_names_shapes_and_training_step)
{
	nb_model_opts o = {.dtype = NB_F64, .seed = 4};
	nb_module *m = nb_model_parse("linear:8 residual(layer_norm linear:8 "
	                              "relu linear:8) 2x(residual(linear:8 "
	                              "relu)) linear:3", 5, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	static const char *const names[] = {
		"fc1.weight", "res1.ln1.weight", "res1.fc1.weight",
		"res1.fc2.bias", "rep1.0.fc1.weight", "rep1.1.fc1.bias",
		"fc2.weight",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		cr_expect_not_null(nb_module_tensor(m, names[i]), "%s", names[i]);
	cr_expect_str_eq(nb_module_type(nb_module_child_named(m, "res1")),
	                 "residual");
	nb_module *rep = nb_module_child_named(m, "rep1");
	cr_expect_eq(nb_module_child_count(rep), 2);
	cr_expect_str_eq(nb_module_type(nb_module_child(rep, 1)), "residual");
	/* copies have their own parameters */
	cr_expect_neq(nb_module_tensor(m, "rep1.0.fc1.weight"),
	              nb_module_tensor(m, "rep1.1.fc1.weight"));
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(4, 5));
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect(nb_tensor_shape(y)[0] == 4 && nb_tensor_shape(y)[1] == 3);
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	cr_expect_not_null(nb_tensor_grad(nb_module_tensor(m,
	                   "rep1.1.fc1.weight")));
	nb_graph_free(g);
	nb_module_free(m);
}

Test(blocks, repeat_of_several_layers_and_labels)
{
	nb_model_opts o = {.dtype = NB_F32};
	nb_module *m = nb_model_parse("linear:4 3x(linear:4 relu)@blocks "
	                              "residual(linear:4)@skip linear:2", 3, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_not_null(nb_module_tensor(m, "blocks.2.fc1.weight"));
	cr_expect_not_null(nb_module_tensor(m, "skip.fc1.bias"));
	cr_expect_str_eq(nb_module_type(nb_module_child_named(
	                 nb_module_child_named(m, "blocks"), "0")), "sequential");
	nb_module_free(m);
	/* a copy of one layer is that layer */
	m = nb_model_parse("2x(linear:4)", 4, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_not_null(nb_module_tensor(m, "rep1.1.weight"));
	nb_module_free(m);
}

/* A 784-feature image as 28 tokens of 28 features, a per-token linear,
 * a residual on the sequence, mean over the tokens, a classifier. */
Test(blocks, sequence_layers_reshape_and_mean)
{
	nb_model_opts o = {.dtype = NB_F32, .seed = 1};
	const char *spec = "reshape:[28,28] linear:16 residual(layer_norm "
	                   "linear:16 gelu) mean linear:10";
	nb_module *m = nb_model_parse(spec, 784, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	/* layer_norm on [T, F] has F weights */
	cr_expect_eq(nb_tensor_shape(nb_module_tensor(m, "res1.ln1.weight"))[0],
	             16);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(3, 784));
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(y), 2);
	cr_expect(nb_tensor_shape(y)[0] == 3 && nb_tensor_shape(y)[1] == 10);
	nb_graph_free(g);
	nb_module_free(m);
	nb_spec *s = parse_ok("reshape:[-1,28] linear:5");
	cr_expect_eq(nb_spec_out_features(s, 784), 5);
	nb_spec_free(s);
	s = parse_ok("reshape:[28,28] mean:axis=2");
	cr_expect_eq(nb_spec_out_features(s, 784), 28);
	nb_spec_free(s);
	/* building errors, positioned */
	static const struct {
		const char *spec;
		const char *msg;
	} bad[] = {
		{"reshape:[27,28]", "spec:1:1: reshape: a sample of shape [784] "
		 "(784 values) cannot become [27, 28]"},
		{"linear:4 mean", "spec:1:10: mean: axis=1 of a sample of shape "
		 "[4]: the mean would leave no features"},
		{"reshape:[28,28] mean:axis=3", "no such axis"},
		{"reshape:[28,28] max_pool2d:2", "spec:1:17: max_pool2d needs "
		 "images [N, C, H, W], but the layer before gives samples of "
		 "shape [28, 28]"},
		{"reshape:[4,14,14] conv2d:2:3 reshape:[-1,12] linear:4",
		 NULL},
		{"reshape:[28,28] conv2d:2:3", "conv2d needs images [C, H, W] "
		 "per sample, not 2 axes"},
		{"reshape:[28,28] linear:8 residual(linear:8 reshape:[4,56])",
		 "spec:1:26: residual 'res1': its layers change the per-sample "
		 "shape [28, 8] to [4, 56], and x + f(x) needs the same shape"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (!bad[i].msg) { /* one that works: images from a reshape */
			m = nb_model_parse(bad[i].spec, 784, &o);
			cr_expect_not_null(m, "%s: %s", bad[i].spec, nb_last_error());
			nb_module_free(m);
			continue;
		}
		cr_expect_null(nb_model_parse(bad[i].spec, 784, &o), "%s",
		               bad[i].spec);
		cr_expect(strstr(nb_last_error(), bad[i].msg) != NULL,
		          "'%s': '%s' lacks '%s'", bad[i].spec, nb_last_error(),
		          bad[i].msg);
	}
}

/* Each bad spec, the byte offset of the error, its code, a part of the
 * message. */
static const struct {
	const char *text;
	size_t pos;
	nb_status code;
	const char *msg;
} bad[] = {
	{"residual(linear:4", 0, NB_EFORMAT, "spec:1:1: unbalanced "
	 "parentheses: this block is not closed"},
	{"linear:4\n  2x(relu residual(relu)", 11, NB_EFORMAT, "spec:2:3: "
	 "unbalanced"},
	{"linear:4 relu)", 13, NB_EFORMAT, "')' without '('"},
	{"residual()", 9, NB_EFORMAT, "empty block"},
	{"0x(relu)", 0, NB_EINVAL, "the repeat count 0 is outside [1, 10000]"},
	{"10001x(relu)", 0, NB_EINVAL, "the repeat count 10001 is outside"},
	{"99999999999999999999999x(relu)", 0, NB_EINVAL, "is outside"},
	{"3 x(relu)", 1, NB_EFORMAT, "expected 'x(' after 3"},
	{"3y(relu)", 1, NB_EFORMAT, "expected 'x(' after 3"},
	{"resid(relu)", 0, NB_EFORMAT, "unknown block 'resid('"},
	{"residual(relu)x", 14, NB_EFORMAT, "unexpected 'x' after the block"},
	{"residual(relu)@", 15, NB_EFORMAT, "expected a module name"},
	{"linear:8 residual(linear:8 relu linear:4)", 9, NB_EINVAL,
	 "spec:1:10: residual block: its layers change the shape [8] to [4]"},
	{"input:6 residual(linear:3)", 8, NB_EINVAL, "change the shape [6] to "
	 "[3]"},
	{"relu residual(relu)@relu1", 5, NB_EEXIST, "'relu1' is taken"},
	{"residual(relu relu@relu1)", 14, NB_EEXIST, "'relu1' is taken"},
	{"100x(100x(11x(relu)))", 10, NB_EINVAL, "this brings the model to "
	 "130201 modules"},
	{"input:65536 2x(linear:32768)", 15, NB_EINVAL, "brings the model to"},
	{"2x(relu) input:4", 9, NB_EINVAL, "input:N may only be the first"},
};

Test(blocks, every_block_error_has_its_position)
{
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		nb_spec *s = (nb_spec *)1;
		size_t pos = 999;
		nb_status st = nb_spec_parse(bad[i].text, &s, &pos);
		cr_expect_eq(st, bad[i].code, "'%s': status %s, want %s (%s)",
		             bad[i].text, nb_strerror(st),
		             nb_strerror(bad[i].code), nb_last_error());
		cr_expect_null(s, "'%s'", bad[i].text);
		cr_expect_eq(pos, bad[i].pos, "'%s': error at %zu, want %zu (%s)",
		             bad[i].text, pos, bad[i].pos, nb_last_error());
		cr_expect(strstr(nb_last_error(), bad[i].msg) != NULL,
		          "'%s': message '%s' lacks '%s'", bad[i].text,
		          nb_last_error(), bad[i].msg);
	}
}

Test(blocks, nesting_is_bounded)
{
	char buf[512] = "";
	size_t k = 0;
	for (int d = 0; d < NB_SPEC_MAX_DEPTH; d++)
		k += (size_t)snprintf(buf + k, sizeof buf - k, "residual(");
	k += (size_t)snprintf(buf + k, sizeof buf - k, "relu");
	for (int d = 0; d < NB_SPEC_MAX_DEPTH; d++)
		buf[k++] = ')';
	buf[k] = '\0';
	nb_spec *s = parse_ok(buf);
	cr_expect_eq(nb_spec_layer_at(s, NB_SPEC_MAX_DEPTH)->depth,
	             NB_SPEC_MAX_DEPTH);
	nb_spec_free(s);
	nb_module *m = nb_model_parse(buf, 3, NULL);
	cr_expect_not_null(m, "%s", nb_last_error());
	nb_module_free(m);
	char deeper[600];
	snprintf(deeper, sizeof deeper, "residual(%s)", buf);
	size_t pos = 0;
	cr_expect_eq(nb_spec_parse(deeper, &s, &pos), NB_EINVAL);
	cr_expect_eq(pos, 9 * NB_SPEC_MAX_DEPTH);
	cr_expect(strstr(nb_last_error(), "blocks nest at most 32 deep"));
}

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n blocks of "2x(residual(relu relu)) ", parsed: the time grows
 * linearly with the text (a quadratic parser would take 100 times as
 * long for 10 times the text, not 10). */
static double parse_time(int n)
{
	const char *unit = "2x(residual(relu relu)) ";
	size_t ul = strlen(unit);
	char *text = malloc((size_t)n * ul + 1);
	cr_assert_not_null(text);
	for (int i = 0; i < n; i++)
		memcpy(text + (size_t)i * ul, unit, ul);
	text[(size_t)n * ul] = '\0';
	double best = 1e9;
	for (int r = 0; r < 3; r++) {
		nb_spec *s;
		double t0 = seconds();
		cr_assert_eq(nb_spec_parse(text, &s, NULL), NB_OK, "%s",
		             nb_last_error());
		double t = seconds() - t0;
		cr_expect_eq(nb_spec_len(s), (size_t)n * 4);
		nb_spec_free(s);
		best = t < best ? t : best;
	}
	free(text);
	return best;
}

Test(blocks, parsing_is_linear)
{
	double small = parse_time(1000), large = parse_time(10000);
	cr_expect(large < 30 * small + 0.05, "1,000 blocks %.4f s, 10,000 "
	          "%.4f s", small, large);
}

/* ---- the layer table ---- */

typedef struct scale_args {
	double factor;
} scale_args;

static const nb_attr_def scale_defs[] = {
	{.name = "factor", .type = NB_ATTR_FLOAT, .def = 2.0,
	 .offset = offsetof(scale_args, factor), .range = NB_RANGE(-1e6, 1e6),
	 .doc = "the factor"},
};

static nb_tensor *scale_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	const scale_args *a = nb_module_state(m);
	return nb_affine_scalar(g, x, a->factor, 0);
}

static void free_state(void *p) { free(p); }

static const nb_module_class scale_class = {
	.type = "scale", .forward = scale_forward, .free_state = free_state,
};

/* Doubles the features too: out = [.., 2F] would change the shape, so
 * it keeps it and says so. */
static nb_module *scale_build(const char *name, const void *attrs,
                              const nb_sample_shape *in,
                              nb_sample_shape *out, const nb_layer_ctx *ctx)
{
	(void)ctx;
	scale_args *s = malloc(sizeof *s);
	if (!s)
		return NULL;
	*s = *(const scale_args *)attrs;
	*out = *in;
	return nb_module_new(&scale_class, name, s);
}

static const nb_layer_def scale_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "t_scale", .prefix = "sc",
	.doc = "x * factor", .attrs = scale_defs, .n_attrs = 1,
	.attrs_size = sizeof(scale_args), .build = scale_build,
};

Test(blocks, a_registered_layer_is_one_row)
{
	nb_status st = nb_layer_register(&scale_row);
	cr_assert(st == NB_OK || st == NB_EEXIST, "%s", nb_last_error());
	cr_expect_eq(nb_layer_register(&scale_row), NB_EEXIST);
	cr_expect_eq(nb_layer_find("t_scale"), &scale_row);
	cr_expect_not_null(nb_layer_find("linear"));
	cr_expect_null(nb_layer_find("relu")); /* an op layer, no row */
	nb_layer_def dup = scale_row;
	dup.name = "relu";
	cr_expect_eq(nb_layer_register(&dup), NB_EEXIST);
	dup.name = "1bad";
	cr_expect_eq(nb_layer_register(&dup), NB_EINVAL);
	dup.name = "t_nobuild";
	dup.build = NULL;
	cr_expect_eq(nb_layer_register(&dup), NB_EINVAL);
	nb_model_opts o = {.dtype = NB_F64};
	nb_module *m = nb_model_parse("linear:2 residual(t_scale:0.5) "
	                              "t_scale:factor=3", 2, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_not_null(nb_module_child_named(m, "sc1"));
	cr_expect_str_eq(nb_module_type(nb_module_child(
	                 nb_module_child_named(m, "res1"), 0)), "scale");
	nb_tensor_fill(nb_module_tensor(m, "fc1.weight"), 0);
	nb_tensor_fill(nb_module_tensor(m, "fc1.bias"), 1);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(1, 2));
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	/* (1 + 0.5) * 3 */
	nbt_expect_close(y, (double[]){4.5, 4.5}, 2, 1e-12, 0, "y");
	nb_graph_free(g);
	nb_module_free(m);
	nb_spec *s;
	size_t pos;
	cr_expect_eq(nb_spec_parse("t_scale:factor=x", &s, &pos), NB_EINVAL);
	cr_expect_eq(pos, 15);
	cr_expect_eq(nb_spec_parse("t_scal", &s, &pos), NB_ENOTFOUND);
	cr_expect(strstr(nb_last_error(), "did you mean 't_scale'?") != NULL,
	          "%s", nb_last_error());
	/* the table lists the built-ins first */
	cr_expect_str_eq(nb_layer_at(0)->name, "linear");
	cr_expect_geq(nb_layer_count(), 6);
}

/* Every prefix of a spec with blocks, and every byte replaced by a
 * troublesome one: parses, or fails with a position inside the text
 * (ASan runs catch any overread). */
Test(blocks, every_prefix_and_replaced_byte_is_safe)
{
	const char *full = "input:8 linear:8 residual(layer_norm linear:8 "
	                   "relu)@r 2x(residual(linear:8 3x(relu)))@b "
	                   "reshape:[2,4] mean linear:2";
	const char subst[] = "()x0@:,[] \n9";
	char buf[160];
	size_t len = strlen(full);
	for (size_t n = 0; n <= len; n++)
		for (size_t k = 0; k <= sizeof subst - 1; k++) {
			nb_spec *s = NULL;
			size_t pos = 0;
			memcpy(buf, full, len + 1);
			if (k < sizeof subst - 1 && n < len)
				buf[n] = subst[k]; /* replaced */
			else
				buf[n] = '\0';     /* a prefix */
			if (nb_spec_parse(buf, &s, &pos)) {
				cr_expect_leq(pos, strlen(buf), "'%s': position %zu",
				              buf, pos);
				continue;
			}
			nb_module *m = nb_model_from_spec(s, 0, NULL);
			nb_module_free(m);
			nb_spec_free(s);
		}
}
