/*
 * layer_rows.c - the built-in rows of the layer table: linear, conv2d,
 * flatten, reshape and mean.  Each is an attribute table (parsed by the
 * spec as an op's), a parse-time check, a build function from a
 * per-sample input shape, and a describe hook that fills the summary
 * fields of nb_spec_layer.  A new layer is one more row here or an
 * nb_layer_register call (doc/extending.md).
 */
#include <stdio.h>
#include "internal.h"

#define SIZE_RANGE NB_RANGE(1, (double)(1LL << 40))

static nb_module *fail(nb_status code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static nb_module *fail(nb_status code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nb__vset_error(code, fmt, ap);
	va_end(ap);
	return NULL;
}

/* Overwrites a weighted module's weight by the scheme of ctx (if any)
 * and zeroes its bias; frees m on error. */
static nb_module *init_weight(nb_module *m, const nb_layer_ctx *ctx)
{
	if (!m || !ctx->init)
		return m;
	nb_status st = nb_init_apply(nb_module_tensor(m, "weight"), ctx->rng,
	                             ctx->init, ctx->act ? ctx->act : "linear");
	nb_tensor *b = nb_module_tensor(m, "bias");
	if (!st && b)
		st = nb_init_zeros(b);
	if (st) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* ---- linear: on the last axis, as nn.Linear ---- */

typedef struct linear_args {
	int64_t units;
	bool bias;
} linear_args;

static const nb_attr_def linear_defs[] = {
	{.name = "units", .type = NB_ATTR_INT,
	 .offset = offsetof(linear_args, units), .range = SIZE_RANGE,
	 .doc = "output features"},
	{.name = "bias", .type = NB_ATTR_BOOL,
	 .offset = offsetof(linear_args, bias), .def = 1, .doc = "add a bias"},
};

static nb_status linear_check(const void *attrs)
{
	const linear_args *a = attrs;
	return a->units ? NB_OK : nb__set_error(NB_EINVAL, "linear needs its "
	                                        "output size (linear:N)");
}

static nb_module *linear_build(const char *name, const void *attrs,
                               const nb_sample_shape *in,
                               nb_sample_shape *out, const nb_layer_ctx *ctx)
{
	const linear_args *a = attrs;
	if (in->ndim == 3)
		return fail(NB_EINVAL, "linear needs flat features, not images "
		            "%lld x %lld x %lld: add flatten before it",
		            (long long)in->dims[0], (long long)in->dims[1],
		            (long long)in->dims[2]);
	if (in->ndim < 1)
		return fail(NB_EINVAL, "linear needs features, not scalars");
	*out = *in;
	out->dims[in->ndim - 1] = a->units;
	return init_weight(nb_linear_new(name, in->dims[in->ndim - 1],
	                                 a->units, a->bias, ctx->dtype,
	                                 ctx->rng), ctx);
}

static void linear_describe(const void *attrs, nb_spec_layer *l)
{
	const linear_args *a = attrs;
	l->type = NB_LAYER_LINEAR;
	l->units = a->units;
	l->bias = a->bias;
}

static const nb_layer_def linear_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "linear", .prefix = "fc",
	.doc = "y = x W^T + b on the last axis (linear:N)",
	.attrs = linear_defs, .n_attrs = 2, .attrs_size = sizeof(linear_args),
	.flags = NB_LDEF_WEIGHTED, .check = linear_check,
	.build = linear_build, .describe = linear_describe,
};

/* ---- conv2d ---- */

typedef struct conv_args {
	int64_t out_channels;
	nb_ints kernel_size, stride, padding, dilation;
	int64_t groups;
	bool bias;
} conv_args;

static const nb_attr_def conv_defs[] = {
	{.name = "out_channels", .type = NB_ATTR_INT,
	 .offset = offsetof(conv_args, out_channels), .range = SIZE_RANGE,
	 .doc = "output channels"},
	{.name = "kernel_size", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv_args, kernel_size), .doc = "K or [KH,KW]"},
	{.name = "stride", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv_args, stride), .doc = "S or [SH,SW]"},
	{.name = "padding", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv_args, padding), .doc = "P or [PH,PW]"},
	{.name = "dilation", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv_args, dilation), .doc = "D or [DH,DW]"},
	{.name = "groups", .type = NB_ATTR_INT,
	 .offset = offsetof(conv_args, groups), .def = 1, .range = SIZE_RANGE,
	 .doc = "channel groups"},
	{.name = "bias", .type = NB_ATTR_BOOL,
	 .offset = offsetof(conv_args, bias), .def = 1, .doc = "add a bias"},
};

/* An int-or-pair argument into v[2]: def when absent. */
static nb_status conv_pair(const char *name, const nb_ints *a, int64_t def,
                           int64_t min, int64_t v[2])
{
	v[0] = a->n ? a->v[0] : def;
	v[1] = a->n ? a->v[a->n - 1] : def;
	if (a->n > 2)
		return nb__set_error(NB_EINVAL, "conv2d: %s takes one or two "
		                     "values (height, width), not %d", name, a->n);
	for (int k = 0; k < 2; k++)
		if (v[k] < min || v[k] > (1LL << 32))
			return nb__set_error(NB_EINVAL, "conv2d: %s=%lld is outside "
			                     "[%lld, 2^32]", name, (long long)v[k],
			                     (long long)min);
	return NB_OK;
}

/* The kernel and options of a, checked. */
static nb_status conv_opts(const conv_args *a, int64_t k[2],
                           nb_conv2d_opts *o)
{
	nb_status st;
	if (!a->out_channels || !a->kernel_size.n)
		return nb__set_error(NB_EINVAL, "conv2d needs its output "
		                     "channels and kernel size (conv2d:OUT:K)");
	if ((st = conv_pair("kernel_size", &a->kernel_size, 1, 1, k)) ||
	    (st = conv_pair("stride", &a->stride, 1, 1, o->stride)) ||
	    (st = conv_pair("padding", &a->padding, 0, 0, o->padding)) ||
	    (st = conv_pair("dilation", &a->dilation, 1, 1, o->dilation)))
		return st;
	if (a->out_channels % a->groups)
		return nb__set_error(NB_EINVAL, "conv2d: groups=%lld must divide "
		                     "the output channels (%lld)",
		                     (long long)a->groups,
		                     (long long)a->out_channels);
	o->groups = a->groups;
	return NB_OK;
}

static nb_status conv_check(const void *attrs)
{
	int64_t k[2];
	nb_conv2d_opts o;
	return conv_opts(attrs, k, &o);
}

/* Output length of a window on one axis, or -1 if it does not fit. */
static int64_t window_out(int64_t n, int64_t k, int64_t s, int64_t p,
                          int64_t d)
{
	int64_t span = d * (k - 1) + 1;
	return n + 2 * p < span ? -1 : (n + 2 * p - span) / s + 1;
}

nb_status nb__window_shape(nb_sample_shape *img, const char *what,
                           const int64_t k[2], const int64_t s[2],
                           const int64_t p[2], const int64_t d[2])
{
	int64_t oh = window_out(img->dims[1], k[0], s[0], p[0], d[0]);
	int64_t ow = window_out(img->dims[2], k[1], s[1], p[1], d[1]);
	if (oh < 1 || ow < 1)
		return nb__set_error(NB_EINVAL, "%s: the kernel (%lldx%lld, "
		    "dilated %lldx%lld) is larger than its padded input (%lld x "
		    "%lld x %lld, padding %lld,%lld)", what, (long long)k[0],
		    (long long)k[1], (long long)(d[0] * (k[0] - 1) + 1),
		    (long long)(d[1] * (k[1] - 1) + 1), (long long)img->dims[0],
		    (long long)img->dims[1], (long long)img->dims[2],
		    (long long)p[0], (long long)p[1]);
	img->dims[1] = oh;
	img->dims[2] = ow;
	return NB_OK;
}

static nb_module *conv_build(const char *name, const void *attrs,
                             const nb_sample_shape *in, nb_sample_shape *out,
                             const nb_layer_ctx *ctx)
{
	const conv_args *a = attrs;
	int64_t k[2];
	nb_conv2d_opts o;
	if (conv_opts(a, k, &o))
		return NULL;
	if (in->ndim != 3)
		return fail(NB_EINVAL, "conv2d needs images [C, H, W] per "
		            "sample, not %d axes", in->ndim);
	if (in->dims[0] % o.groups)
		return fail(NB_EINVAL, "conv2d: groups=%lld must divide the input "
		            "channels (%lld) and the output channels (%lld)",
		            (long long)o.groups, (long long)in->dims[0],
		            (long long)a->out_channels);
	*out = *in;
	if (nb__window_shape(out, "conv2d", k, o.stride, o.padding,
	                     o.dilation))
		return NULL;
	out->dims[0] = a->out_channels;
	return init_weight(nb_conv2d_new(name, in->dims[0], a->out_channels,
	                                 k[0], k[1], &o, a->bias, ctx->dtype,
	                                 ctx->rng), ctx);
}

static void conv_describe(const void *attrs, nb_spec_layer *l)
{
	const conv_args *a = attrs;
	if (conv_opts(a, l->kernel, &l->conv))
		return; /* refused by conv_check before */
	l->type = NB_LAYER_CONV2D;
	l->units = a->out_channels;
	l->bias = a->bias;
	l->op = nb_op_find("conv2d");
}

static const nb_layer_def conv_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "conv2d", .prefix = "conv",
	.doc = "2-D convolution (conv2d:OUT:K[:stride=S,padding=P,...])",
	.attrs = conv_defs, .n_attrs = 7, .attrs_size = sizeof(conv_args),
	.n_positional = 2, .flags = NB_LDEF_WEIGHTED | NB_LDEF_IMAGES,
	.check = conv_check, .build = conv_build, .describe = conv_describe,
};

/* ---- flatten ---- */

static nb_module *flatten_build(const char *name, const void *attrs,
                                const nb_sample_shape *in,
                                nb_sample_shape *out,
                                const nb_layer_ctx *ctx)
{
	(void)attrs, (void)ctx;
	int64_t n = 1;
	for (int i = 0; i < in->ndim; i++)
		n *= in->dims[i];
	*out = (nb_sample_shape){.ndim = 1, .dims = {n}};
	return nb_flatten_new(name, 0, 0, 0);
}

static void flatten_describe(const void *attrs, nb_spec_layer *l)
{
	(void)attrs;
	l->type = NB_LAYER_FLATTEN;
}

static const nb_layer_def flatten_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "flatten",
	.doc = "each sample to one axis of features",
	.build = flatten_build, .describe = flatten_describe,
};

/* ---- reshape: a per-sample shape ---- */

typedef struct reshape_args {
	nb_ints shape;
} reshape_args;

static const nb_attr_def reshape_defs[] = {
	{.name = "shape", .type = NB_ATTR_INTS,
	 .offset = offsetof(reshape_args, shape),
	 .doc = "the per-sample shape [D1,D2,...]; one may be -1"},
};

static nb_status reshape_check(const void *attrs)
{
	const nb_ints *s = &((const reshape_args *)attrs)->shape;
	int unknown = 0;
	if (!s->n || s->n > NB_MAX_DIMS - 1)
		return nb__set_error(NB_EINVAL, "reshape needs the per-sample "
		                     "shape, 1 to %d sizes (reshape:[28,28])",
		                     NB_MAX_DIMS - 1);
	for (int i = 0; i < s->n; i++) {
		unknown += s->v[i] == -1;
		if ((s->v[i] < 1 && s->v[i] != -1) || s->v[i] > (1LL << 40) ||
		    unknown > 1)
			return nb__set_error(NB_EINVAL, "reshape: sizes are at least "
			                     "1, with at most one -1 (not %lld)",
			                     (long long)s->v[i]);
	}
	return NB_OK;
}

static nb_tensor *reshape_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	const nb_sample_shape *s = nb_module_state(m);
	int64_t dims[NB_MAX_DIMS];
	dims[0] = nb_tensor_ndim(x) ? nb_tensor_shape(x)[0] : 1;
	memcpy(dims + 1, s->dims, (size_t)s->ndim * sizeof *dims);
	return nb_reshape(g, x, s->ndim + 1, dims);
}

static const nb_module_class reshape_class = {
	.type = "reshape", .forward = reshape_forward, .free_state = nb__free,
};

static nb_module *reshape_build(const char *name, const void *attrs,
                                const nb_sample_shape *in,
                                nb_sample_shape *out,
                                const nb_layer_ctx *ctx)
{
	const nb_ints *s = &((const reshape_args *)attrs)->shape;
	int64_t n = 1, known = 1;
	char a[96], b[96];
	(void)ctx;
	if (reshape_check(attrs))
		return NULL;
	for (int i = 0; i < in->ndim; i++)
		n *= in->dims[i];
	*out = (nb_sample_shape){.ndim = s->n};
	for (int i = 0; i < s->n; i++)
		known *= s->v[i] == -1 ? 1 : s->v[i];
	for (int i = 0; i < s->n; i++)
		out->dims[i] = s->v[i] == -1 ? (known ? n / known : 0) : s->v[i];
	int64_t m = 1;
	for (int i = 0; i < s->n; i++)
		m *= out->dims[i];
	if (m != n || !m)
		return fail(NB_ESHAPE, "reshape: a sample of shape %s (%lld "
		            "values) cannot become %s",
		            nb_shape_str(in->ndim, in->dims, a, sizeof a),
		            (long long)n, nb_shape_str(s->n, s->v, b, sizeof b));
	nb_sample_shape *st = nb__malloc(sizeof *st);
	if (!st)
		return fail(NB_ENOMEM, "reshape: out of memory");
	*st = *out;
	return nb_module_new(&reshape_class, name, st);
}

static const nb_layer_def reshape_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "reshape",
	.doc = "a new per-sample shape (reshape:[28,28])",
	.attrs = reshape_defs, .n_attrs = 1,
	.attrs_size = sizeof(reshape_args), .check = reshape_check,
	.build = reshape_build,
};

/* ---- mean over a per-sample axis (pooling a sequence) ---- */

typedef struct mean_args {
	int64_t axis;
} mean_args;

static const nb_attr_def mean_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT, .offset = offsetof(mean_args,
	 axis), .def = 1, .range = NB_RANGE(1, NB_MAX_DIMS - 1),
	 .doc = "the axis (the batch is 0)"},
};

static nb_tensor *mean_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	int axis = (int)((const mean_args *)nb_module_state(m))->axis;
	return nb_mean(g, x, 1, &axis, false);
}

static const nb_module_class mean_class = {
	.type = "mean", .forward = mean_forward, .free_state = nb__free,
};

static nb_module *mean_build(const char *name, const void *attrs,
                             const nb_sample_shape *in, nb_sample_shape *out,
                             const nb_layer_ctx *ctx)
{
	const mean_args *a = attrs;
	char s[96];
	(void)ctx;
	if (a->axis > in->ndim || in->ndim < 2)
		return fail(NB_EINVAL, "mean: axis=%lld of a sample of shape %s: "
		            "%s", (long long)a->axis,
		            nb_shape_str(in->ndim, in->dims, s, sizeof s),
		            in->ndim < 2 ? "the mean would leave no features "
		            "(it pools a sequence [T, F] or images)"
		            : "no such axis (the batch is 0)");
	*out = *in;
	out->ndim--;
	memmove(out->dims + a->axis - 1, out->dims + a->axis,
	        (size_t)(in->ndim - a->axis) * sizeof *out->dims);
	mean_args *st = nb__malloc(sizeof *st);
	if (!st)
		return fail(NB_ENOMEM, "mean: out of memory");
	*st = *a;
	return nb_module_new(&mean_class, name, st);
}

static const nb_layer_def mean_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "mean",
	.doc = "the mean over a per-sample axis (mean:axis=1 pools a "
	       "sequence)",
	.attrs = mean_defs, .n_attrs = 1, .attrs_size = sizeof(mean_args),
	.build = mean_build,
};

/* The built-in rows, registered on first use (layer_table.c). */
const nb_layer_def *const nb__builtin_layers[] = {
	&linear_row, &conv_row, &flatten_row, &reshape_row, &mean_row, NULL,
};
