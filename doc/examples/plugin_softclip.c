/*
 * plugin_softclip.c - a nabla plugin: one op, "softclip", and one
 * layer, "clipped_linear", registered from a shared object that the
 * stock CLI loads.
 *
 *   y = limit * tanh(x / limit)       (limit > 0, default 1)
 *
 * a smooth clip of x into (-limit, limit), with its backward, in
 * float32 and float64, usable as a layer of a model spec:
 *
 *   cc -shared -fPIC -o softclip.so plugin_softclip.c \
 *      $(pkg-config --cflags --libs nabla)
 *   nabla --plugin ./softclip.so ops softclip
 *   nabla --plugin ./softclip.so gradcheck softclip
 *   nabla --plugin ./softclip.so train --synthetic \
 *         --model "linear:64 softclip:limit=2 linear:10"
 *   nabla --plugin ./softclip.so train --synthetic \
 *         --model "clipped_linear:64 residual(clipped_linear:64) linear:10"
 *
 * `make check` builds it and runs those (tests/test_plugin.sh).
 */
#include <math.h>
#include <stddef.h>
#include <nabla/nabla.h>

typedef struct softclip_attrs {
	double limit;
} softclip_attrs;

static const nb_attr_def softclip_attr_defs[] = {
	{.name = "limit", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(softclip_attrs, limit), .def = 1.0,
	 .range = NB_RANGE(1e-6, 1e6), .doc = "the bound: |y| < limit"},
};

static const nb_input_def softclip_inputs[] = {
	{.name = "input", .doc = "any shape, float32 or float64"},
};

/* One kernel per dtype: the same loop written for float and double. */
#define SOFTCLIP_KERNELS(T, TANH)                                           \
static void forward_##T(const T *x, T *y, size_t n, T limit)                \
{                                                                           \
	for (size_t i = 0; i < n; i++)                                      \
		y[i] = limit * TANH(x[i] / limit);                          \
}                                                                           \
/* dy/dx = 1 - tanh^2(x / limit) = 1 - (y / limit)^2, added to dx. */     \
static void backward_##T(const T *y, const T *g, T *dx, size_t n, T limit)  \
{                                                                           \
	for (size_t i = 0; i < n; i++) {                                    \
		T t = y[i] / limit;                                         \
		dx[i] += g[i] * (1 - t * t);                                \
	}                                                                   \
}
SOFTCLIP_KERNELS(float, tanhf)
SOFTCLIP_KERNELS(double, tanh)

static nb_status softclip_forward(nb_op_ctx *c)
{
	const softclip_attrs *a = c->attrs;
	size_t n = nb_tensor_numel(c->out);
	if (nb_tensor_dtype(c->out) == NB_F32)
		forward_float(nb_tensor_cdata(c->in[0]), nb_tensor_data(c->out),
		              n, (float)a->limit);
	else
		forward_double(nb_tensor_cdata(c->in[0]),
		               nb_tensor_data(c->out), n, a->limit);
	return NB_OK;
}

/* The gradient from the saved result: backward reads c->out. */
static nb_status softclip_backward(nb_op_ctx *c, const nb_tensor *gout,
                                   nb_tensor *const *gin)
{
	const softclip_attrs *a = c->attrs;
	size_t n = nb_tensor_numel(gout);
	if (nb_tensor_dtype(gout) == NB_F32)
		backward_float(nb_tensor_cdata(c->out), nb_tensor_cdata(gout),
		               nb_tensor_data(gin[0]), n, (float)a->limit);
	else
		backward_double(nb_tensor_cdata(c->out), nb_tensor_cdata(gout),
		                nb_tensor_data(gin[0]), n, a->limit);
	return NB_OK;
}

static const nb_op_test softclip_test = {
	.cases = "[3,4]; [5]|limit=0.5; [2,3,2]|limit=3",
};

static const nb_op softclip_op = {
	.version = NB_OP_VERSION,
	.name = "softclip",
	.kind = NB_KIND_ACTIVATION,
	.doc = "limit * tanh(x / limit): a smooth clip into (-limit, limit)",
	.inputs = softclip_inputs,
	.n_inputs = 1,
	.attrs = softclip_attr_defs,
	.n_attrs = 1,
	.attrs_size = sizeof(softclip_attrs),
	.flags = NB_OP_LAYER,
	.forward = softclip_forward,
	.backward = softclip_backward,
	.test = &softclip_test,
};

/*
 * A layer of the spec language made of modules: clipped_linear:N[,limit=L]
 * is a linear layer with N outputs (on the last axis) and a softclip,
 * as a sequential of "fc" and "clip" (clinear1.fc.weight).  One row of
 * the layer table: its attributes, and a build function from the
 * per-sample input shape to the module and its output shape.
 */
typedef struct clipped_attrs {
	int64_t units;
	double limit;
} clipped_attrs;

static const nb_attr_def clipped_attr_defs[] = {
	{.name = "units", .type = NB_ATTR_INT,
	 .offset = offsetof(clipped_attrs, units), .def = 1,
	 .range = NB_RANGE(1, 1 << 24), .doc = "output features"},
	{.name = "limit", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clipped_attrs, limit), .def = 1.0,
	 .range = NB_RANGE(1e-6, 1e6), .doc = "the bound of the clip"},
};

static nb_module *clipped_build(const char *name, const void *attrs,
                                const nb_sample_shape *in,
                                nb_sample_shape *out,
                                const nb_layer_ctx *ctx)
{
	const clipped_attrs *a = attrs;
	softclip_attrs sa = {a->limit};
	int last = in->ndim - 1;
	if (last < 0) {
		nb_graph_fail(NULL, NB_EINVAL, "clipped_linear needs features");
		return NULL;
	}
	nb_module *m = nb_sequential_new(name);
	if (!m ||
	    nb_module_add(m, nb_linear_new("fc", in->dims[last], a->units, true,
	                                   ctx->dtype, ctx->rng)) ||
	    nb_module_add(m, nb_op_layer_new("clip", &softclip_op, &sa,
	                                     a->units, ctx->dtype, 0))) {
		nb_module_free(m);
		return NULL;
	}
	*out = *in;
	out->dims[last] = a->units;
	return m;
}

static const nb_layer_def clipped_layer = {
	.version = NB_LAYER_DEF_VERSION,
	.name = "clipped_linear",
	.prefix = "clinear",
	.doc = "a linear layer and a softclip (clipped_linear:N,limit=L)",
	.attrs = clipped_attr_defs,
	.n_attrs = 2,
	.attrs_size = sizeof(clipped_attrs),
	.flags = NB_LDEF_WEIGHTED,
	.build = clipped_build,
};

/* The entry point nabla calls once, when it loads the plugin. */
NB_PLUGIN_INIT
{
	nb_status st = nb_op_register(&softclip_op);
	return st ? st : nb_layer_register(&clipped_layer);
}
