/*
 * user_op.c - an op defined in user code: swish with a learned-free
 * slope attribute, y = x * sigmoid(beta * x), with its backward.  It is
 * registered, checked against finite differences by nabla's own
 * gradient checker, called by name and as a layer of a model, exactly as
 * a built-in op.  Built and run by `make check` (doc/extending.md);
 * exits 1 if anything disagrees.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <nabla/nabla.h>

typedef struct swish_attrs {
	double beta;
} swish_attrs;

static const nb_attr_def swish_attr_defs[] = {
	{.name = "beta", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(swish_attrs, beta), .def = 1.0,
	 .range = NB_RANGE(-100, 100), .doc = "slope inside the sigmoid"},
};

static const nb_input_def swish_inputs[] = {
	{.name = "input", .doc = "any shape"},
};

static double sigmoid(double z)
{
	return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

/* y = x s(beta x); the example handles float64 tensors only (the
 * shape rule refuses float32, with a message naming the op). */
static nb_status swish_shape(nb_op_ctx *c, nb_result_def *res)
{
	if (res->dtype != NB_F64)
		return nb_op_fail(c, NB_EDTYPE, "this example takes float64");
	return NB_OK;
}

static nb_status swish_forward(nb_op_ctx *c)
{
	const swish_attrs *a = c->attrs;
	const double *x = nb_tensor_cdata(c->in[0]);
	double *y = nb_tensor_data(c->out);
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++)
		y[i] = x[i] * sigmoid(a->beta * x[i]);
	return NB_OK;
}

/* dy/dx = s + beta x s (1 - s), with s = s(beta x); added into gin[0]
 * (backward accumulates). */
static nb_status swish_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	const swish_attrs *a = c->attrs;
	const double *x = nb_tensor_cdata(c->in[0]);
	const double *g = nb_tensor_cdata(gout);
	double *dx = nb_tensor_data(gin[0]);
	for (size_t i = 0; i < nb_tensor_numel(gout); i++) {
		double s = sigmoid(a->beta * x[i]);
		dx[i] += g[i] * (s + a->beta * x[i] * s * (1 - s));
	}
	return NB_OK;
}

/* What gradcheck samples: three cases, the second with beta = 2.5. */
static const nb_op_test swish_test = {
	.cases = "[3,4]; [5]|beta=2.5; [2,3,2]|beta=-0.5",
};

static const nb_op swish_op = {
	.version = NB_OP_VERSION,
	.name = "user_swish",
	.kind = NB_KIND_ACTIVATION,
	.doc = "x * sigmoid(beta * x)",
	.inputs = swish_inputs,
	.n_inputs = 1,
	.attrs = swish_attr_defs,
	.n_attrs = 1,
	.attrs_size = sizeof(swish_attrs),
	.flags = NB_OP_LAYER,
	.shape = swish_shape,
	.forward = swish_forward,
	.backward = swish_backward,
	.test = &swish_test,
};

static void report(const nb_gradcheck_result *r, void *ud)
{
	(void)ud;
	printf("gradcheck %s %s%s input %d: max abs err %.2e: %s\n",
	       r->op->name, r->shape, r->attrs, r->input, r->max_abs_err,
	       r->pass ? "ok" : r->message);
}

int main(void)
{
	int failed = 0;
	if (nb_op_register(&swish_op)) {
		fprintf(stderr, "%s\n", nb_last_error());
		return 1;
	}
	/* 1. The backward against central finite differences. */
	if (nb_gradcheck_op(&swish_op, NULL, report, NULL, &failed) ||
	    failed) {
		fprintf(stderr, "gradcheck failed (%d)\n", failed);
		return 1;
	}
	/* 2. Called by name, with its attribute as a string; a bad value
	 * is an error naming the op. */
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_arange(NB_F64, -2, 2, 1);
	if (!g || !x)
		return 1;
	nb_tensor *y = nb_call(g, "user_swish", 1, &x, "beta=2");
	int bad = !y || fabs(nb_tensor_get(y, 3) - sigmoid(2.0)) > 1e-15;
	nb_graph_reset(g);
	if (nb_call(g, "user_swish", 1, &x, "beta=1000"))
		bad = 1;
	printf("beta=1000: %s\n", nb_graph_errmsg(g));
	nb_graph_reset(g);
	/* 3. As a layer of a model: the spec language knows it by name. */
	nb_model_opts opts = {.dtype = NB_F64, .seed = 1};
	nb_module *m = nb_model_parse("linear:8 user_swish:beta=1.5 linear:2",
	                              4, &opts);
	if (!m) {
		fprintf(stderr, "%s\n", nb_last_error());
		bad = 1;
	} else {
		nb_rng rng;
		nb_rng_seed(&rng, 1);
		nb_tensor *in = nb_tensor_randn(NB_F64, NB_SHAPE(3, 4), &rng, 0, 1);
		nb_tensor *out = in ? nb_module_forward(m, g, in) : NULL;
		nb_tensor *loss = nb_sum(g, out, 0, NULL, false);
		if (!loss || nb_backward(loss, NULL)) {
			fprintf(stderr, "%s\n", nb_graph_errmsg(g));
			bad = 1;
		} else {
			printf("model output sum %.6f, backward ok\n",
			       nb_tensor_item(loss));
		}
		nb_tensor_free(in);
	}
	nb_module_free(m);
	nb_tensor_free(x);
	nb_graph_free(g);
	return bad;
}
