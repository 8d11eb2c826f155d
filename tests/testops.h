/*
 * testops.h - small user ops of the three layer kinds, registered by the
 * model tests, so that the spec language and the op layer are tested on
 * ops whose behaviour the tests control (and to show that a user's op
 * becomes a layer like a built-in one).  float64 only.
 *   t_act:  y = x >= 0 ? x : slope * x                 (activation)
 *   t_norm: y = x * weight + bias; in training mode running_mean moves
 *           towards the batch mean by momentum          (normalization)
 *   t_norm2: t_norm without the affine and track_running_stats
 *           attributes, so the layer's own options apply
 *   t_drop: y = x (records that it ran in training mode) (regularizer)
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
	bool affine;
	bool track_running_stats;
} t_norm_attrs;

typedef struct t_drop_attrs {
	double p;
} t_drop_attrs;

static const nb_attr_def t_act_defs[] = {
	{"slope", NB_ATTR_FLOAT, offsetof(t_act_attrs, slope), 0.01, -10, 10,
	 NULL, 0, "negative slope"},
};

static const nb_attr_def t_norm_defs[] = {
	{"momentum", NB_ATTR_FLOAT, offsetof(t_norm_attrs, momentum), 0.1, 0,
	 1, NULL, 0, ""},
	{"eps", NB_ATTR_FLOAT, offsetof(t_norm_attrs, eps), 1e-5, 0, 1, NULL,
	 0, ""},
	{"affine", NB_ATTR_BOOL, offsetof(t_norm_attrs, affine), 1, 0, 0, NULL,
	 0, ""},
	{"track_running_stats", NB_ATTR_BOOL,
	 offsetof(t_norm_attrs, track_running_stats), 1, 0, 0, NULL, 0, ""},
};

static const nb_attr_def t_drop_defs[] = {
	{"p", NB_ATTR_FLOAT, offsetof(t_drop_attrs, p), 0.5, 0, 1, NULL, 0,
	 ""},
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

static const nb_op t_ops[] = {
	{.name = "t_act", .kind = NB_KIND_ACTIVATION, .n_inputs = 1,
	 .input_names = "input", .attrs = t_act_defs, .n_attrs = 1,
	 .attrs_size = sizeof(t_act_attrs), .forward = t_act_fwd,
	 .backward = t_act_bwd, .cases = "[3,4]"},
	{.name = "t_norm", .kind = NB_KIND_NORM, .n_inputs = 5,
	 .input_names = "input,weight,bias,running_mean,running_var",
	 .optional = 0x1e, .nondiff = 0x18, .any_dtype = 0x18,
	 .attrs = t_norm_defs, .n_attrs = 4,
	 .attrs_size = sizeof(t_norm_attrs), .forward = t_norm_fwd,
	 .backward = t_norm_bwd, .cases = "[3,4] [4] [4] [4]c [4]c"},
	{.name = "t_norm2", .kind = NB_KIND_NORM, .n_inputs = 5,
	 .input_names = "input,weight,bias,running_mean,running_var",
	 .optional = 0x1e, .nondiff = 0x18, .any_dtype = 0x18,
	 .attrs = t_norm_defs, .n_attrs = 2,
	 .attrs_size = sizeof(t_norm_attrs), .forward = t_norm_fwd,
	 .backward = t_norm_bwd, .cases = "[3,4] [4] [4] [4]c [4]c"},
	{.name = "t_drop", .kind = NB_KIND_REGULARIZER, .n_inputs = 1,
	 .input_names = "input", .attrs = t_drop_defs, .n_attrs = 1,
	 .attrs_size = sizeof(t_drop_attrs), .forward = t_drop_fwd,
	 .backward = t_drop_bwd, .flags = NB_OP_RANDOM, .cases = "[3,4]"},
};

/* Registers the test ops once per process. */
static inline void nbt_register_test_ops(void)
{
	for (size_t i = 0; i < sizeof t_ops / sizeof *t_ops; i++)
		if (!nb_op_find(t_ops[i].name))
			nb_op_register(&t_ops[i]);
}

#endif
