/*
 * testops.h - small user ops of the three layer kinds, registered by the
 * model tests, so that the spec language and the op layer are tested on
 * ops whose behaviour the tests control (and to show that a user's op
 * becomes a layer like a built-in one).  float64 only.
 *   t_act:  y = x >= 0 ? x : slope * x                 (activation)
 *   t_norm: y = x * weight + bias; in training mode running_mean moves
 *           towards the batch mean by momentum          (normalization)
 *   t_norm2: the same op under another name
 *   t_drop: y = x (records that it ran in training mode) (regularizer)
 *
 * Since issue 13 a layer makes t_norm's weight, bias and running
 * statistics from their input definitions (role, group, fill), and the
 * layer switches affine= and track_running_stats= come only from the
 * NB_LAYER_* flags (the spec options of those names).  t_norm used to
 * have bool attributes "affine" and "track_running_stats" that steered
 * its layer; that rule is gone, so they are gone too, and t_norm and
 * t_norm2 (which lacked them, to test the flags) now behave alike.
 */
#ifndef NB_TEST_TESTOPS_H
#define NB_TEST_TESTOPS_H

#include <stddef.h>
#include <nabla/nabla.h>

typedef struct t_act_attrs {
	double slope;
} t_act_attrs;

typedef struct t_norm_attrs {
	double momentum;
	double eps;
} t_norm_attrs;

typedef struct t_drop_attrs {
	double p;
} t_drop_attrs;

static const nb_attr_def t_act_defs[] = {
	{.name = "slope", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(t_act_attrs, slope), .def = 0.01,
	 .range = NB_RANGE(-10, 10), .doc = "negative slope"},
};

static const nb_attr_def t_norm_defs[] = {
	{.name = "momentum", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(t_norm_attrs, momentum), .def = 0.1,
	 .range = NB_RANGE(0, 1), .doc = ""},
	{.name = "eps", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(t_norm_attrs, eps), .def = 1e-5,
	 .range = NB_RANGE(0, 1), .doc = ""},
};

static const nb_attr_def t_drop_defs[] = {
	{.name = "p", .type = NB_ATTR_FLOAT, .offset = offsetof(t_drop_attrs, p),
	 .def = 0.5, .range = NB_RANGE(0, 1), .doc = ""},
};

static const nb_input_def t_one_input[] = {{.name = "input"}};

/* What a layer of t_norm makes: weight 1 and bias 0 (group affine),
 * running_mean 0 and running_var 1 (group stats), all [features]. */
static const nb_input_def t_norm_inputs[] = {
	{.name = "input"},
	{.name = "weight", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .fill = NB_FILL_CONST, .value = 1.0},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .fill = NB_FILL_CONST, .value = 0.0},
	{.name = "running_mean",
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_ANY_FLOAT,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .fill = NB_FILL_CONST, .value = 0.0},
	{.name = "running_var",
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_ANY_FLOAT,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .fill = NB_FILL_CONST, .value = 1.0},
};

static int t_drop_training_calls;

static nb_status t_act_fwd(nb_op_ctx *c)
{
	const t_act_attrs *a = c->attrs;
	const double *x = nb_tensor_cdata(c->in[0]);
	double *y = nb_tensor_data(c->out);
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++)
		y[i] = x[i] >= 0 ? x[i] : a->slope * x[i];
	return NB_OK;
}

static nb_status t_act_bwd(nb_op_ctx *c, const nb_tensor *g,
                           nb_tensor *const *gin)
{
	const t_act_attrs *a = c->attrs;
	const double *x = nb_tensor_cdata(c->in[0]), *gp = nb_tensor_cdata(g);
	double *d = nb_tensor_data(gin[0]);
	for (size_t i = 0; i < nb_tensor_numel(g); i++)
		d[i] += x[i] >= 0 ? gp[i] : a->slope * gp[i];
	return NB_OK;
}

static nb_status t_norm_fwd(nb_op_ctx *c)
{
	const t_norm_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int64_t n = nb_tensor_dim(x, 0), f = nb_tensor_dim(x, 1);
	const double *xp = nb_tensor_cdata(x);
	const double *w = c->in[1] ? nb_tensor_cdata(c->in[1]) : NULL;
	const double *b = c->in[2] ? nb_tensor_cdata(c->in[2]) : NULL;
	double *y = nb_tensor_data(c->out);
	if (nb_tensor_ndim(x) != 2 || (c->in[1] &&
	    nb_tensor_dim(c->in[1], 0) != f))
		return nb_op_fail(c, NB_ESHAPE, "want [N, C] and weight [C]");
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < f; j++)
			y[i * f + j] = xp[i * f + j] * (w ? w[j] : 1) +
			               (b ? b[j] : 0);
	if (nb_op_training(c) && c->in[3]) {
		double *rm = nb_tensor_data(c->in[3]);
		for (int64_t j = 0; j < f; j++) {
			double m = 0;
			for (int64_t i = 0; i < n; i++)
				m += xp[i * f + j] / (double)n;
			rm[j] += a->momentum * (m - rm[j]);
		}
	}
	return NB_OK;
}

static nb_status t_norm_bwd(nb_op_ctx *c, const nb_tensor *g,
                            nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	int64_t n = nb_tensor_dim(x, 0), f = nb_tensor_dim(x, 1);
	const double *xp = nb_tensor_cdata(x), *gp = nb_tensor_cdata(g);
	const double *w = c->in[1] ? nb_tensor_cdata(c->in[1]) : NULL;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < f; j++) {
			double gv = gp[i * f + j];
			if (gin[0])
				((double *)nb_tensor_data(gin[0]))[i * f + j] +=
				    gv * (w ? w[j] : 1);
			if (gin[1])
				((double *)nb_tensor_data(gin[1]))[j] +=
				    gv * xp[i * f + j];
			if (gin[2])
				((double *)nb_tensor_data(gin[2]))[j] += gv;
		}
	return NB_OK;
}

static nb_status t_drop_fwd(nb_op_ctx *c)
{
	if (nb_op_training(c))
		t_drop_training_calls++;
	return nb_tensor_copy(c->out, c->in[0]);
}

static nb_status t_drop_bwd(nb_op_ctx *c, const nb_tensor *g,
                            nb_tensor *const *gin)
{
	(void)c;
	const double *gp = nb_tensor_cdata(g);
	double *d = nb_tensor_data(gin[0]);
	for (size_t i = 0; i < nb_tensor_numel(g); i++)
		d[i] += gp[i];
	return NB_OK;
}

static const nb_op_test t_one_test = {.cases = "[3,4]"};
static const nb_op_test t_norm_test = {.cases = "[3,4] [4] [4] [4]c [4]c"};

static const nb_op t_act_op = {
	.version = NB_OP_VERSION, .name = "t_act", .kind = NB_KIND_ACTIVATION,
	.inputs = t_one_input, .n_inputs = 1, .attrs = t_act_defs,
	.n_attrs = 1, .attrs_size = sizeof(t_act_attrs),
	.flags = NB_OP_LAYER, .forward = t_act_fwd, .backward = t_act_bwd,
	.test = &t_one_test,
};

static const nb_op t_norm_op = {
	.version = NB_OP_VERSION, .name = "t_norm", .kind = NB_KIND_NORM,
	.inputs = t_norm_inputs, .n_inputs = 5, .attrs = t_norm_defs,
	.n_attrs = 2, .attrs_size = sizeof(t_norm_attrs),
	.flags = NB_OP_LAYER, .forward = t_norm_fwd, .backward = t_norm_bwd,
	.test = &t_norm_test,
};

static const nb_op t_norm2_op = {
	.version = NB_OP_VERSION, .name = "t_norm2", .kind = NB_KIND_NORM,
	.inputs = t_norm_inputs, .n_inputs = 5, .attrs = t_norm_defs,
	.n_attrs = 2, .attrs_size = sizeof(t_norm_attrs),
	.flags = NB_OP_LAYER, .forward = t_norm_fwd, .backward = t_norm_bwd,
	.test = &t_norm_test,
};

static const nb_op t_drop_op = {
	.version = NB_OP_VERSION, .name = "t_drop",
	.kind = NB_KIND_REGULARIZER, .inputs = t_one_input, .n_inputs = 1,
	.attrs = t_drop_defs, .n_attrs = 1, .attrs_size = sizeof(t_drop_attrs),
	.flags = NB_OP_RANDOM | NB_OP_LAYER, .forward = t_drop_fwd,
	.backward = t_drop_bwd, .test = &t_one_test,
};

static const nb_op *const t_ops[] = {&t_act_op, &t_norm_op, &t_norm2_op,
                                     &t_drop_op, NULL};

/* Registers the test ops once per process. */
static inline void nbt_register_test_ops(void)
{
	for (const nb_op *const *op = t_ops; *op; op++)
		if (!nb_op_find((*op)->name))
			nb_op_register(*op);
}

#endif
