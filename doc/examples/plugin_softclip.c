/*
 * plugin_softclip.c - a nabla plugin: one op, "softclip", registered
 * from a shared object that the stock CLI loads.
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

/* The entry point nabla calls once, when it loads the plugin. */
NB_PLUGIN_INIT
{
	return nb_op_register(&softclip_op);
}
