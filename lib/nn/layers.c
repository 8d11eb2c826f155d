/*
 * layers.c - the built-in modules (sequential, linear, conv2d, flatten,
 * the op layer that wraps an activation, normalization, regularizer or
 * pooling op) and building a sequential model from a parsed spec.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

/* ---- sequential ---- */

static nb_tensor *sequential_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	for (size_t i = 0; x && i < nb_module_child_count(m); i++)
		x = nb_module_forward(nb_module_child(m, i), g, x);
	return x;
}

static const nb_module_class sequential_class = {
	.type = "sequential", .forward = sequential_forward,
};

nb_module *nb_sequential_new(const char *name)
{
	return nb_module_new(&sequential_class, name, NULL);
}

/* ---- linear ---- */

/*
 * Adds "weight" of the given shape and, with bias, "bias" of its first
 * size to m, both uniform in [-bound, bound] drawn in that order (as
 * PyTorch's reset_parameters).  Returns m, or NULL with m freed.
 */
static nb_module *add_weight_bias(nb_module *m, nb_dtype dt, int ndim,
                                  const int64_t *shape, bool bias,
                                  double bound, nb_rng *rng)
{
	nb_tensor *w = nb_tensor_rand(dt, ndim, shape, rng, -bound, bound);
	nb_tensor *b = w && bias ? nb_tensor_rand(dt, 1, shape, rng, -bound,
	                                          bound) : NULL;
	if (!w || (bias && !b)) {
		nb_tensor_free(w);
		nb_module_free(m);
		return NULL;
	}
	if (nb_module_add_param_kind(m, "weight", w, NB_PARAM_WEIGHT) ||
	    (b && nb_module_add_param_kind(m, "bias", b, NB_PARAM_BIAS))) {
		if (nb_module_tensor(m, "weight") != w)
			nb_tensor_free(b); /* never added */
		nb_module_free(m);
		return NULL;
	}
	return m;
}

static nb_tensor *linear_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	return nb_linear(g, x, nb_module_tensor(m, "weight"),
	                 nb_module_tensor(m, "bias"));
}

static const nb_module_class linear_class = {
	.type = "linear", .forward = linear_forward,
};

nb_module *nb_linear_new(const char *name, int64_t in, int64_t out,
                         bool bias, nb_dtype dt, nb_rng *rng)
{
	if (in < 1 || out < 1 || !rng || !nb__is_float(dt)) {
		nb__set_error(NB_EINVAL, "linear '%s': %s", name ? name : "",
		              !rng ? "generator is NULL"
		              : !nb__is_float(dt) ? "dtype must be float"
		              : "sizes must be at least 1");
		return NULL;
	}
	nb_module *m = nb_module_new(&linear_class, name, NULL);
	if (!m)
		return NULL;
	/* PyTorch's reset_parameters: kaiming_uniform_(a = sqrt(5)) gives
	 * gain sqrt(2 / (1 + 5)) and bound gain * sqrt(3 / fan_in), which
	 * is 1 / sqrt(fan_in); the bias uses the same bound. */
	double bound = 1.0 / sqrt((double)in);
	return add_weight_bias(m, dt, NB_SHAPE(out, in), bias, bound, rng);
}

/* ---- conv2d ---- */

static nb_tensor *conv2d_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	return nb_conv2d(g, x, nb_module_tensor(m, "weight"),
	                 nb_module_tensor(m, "bias"), nb_module_state(m));
}

static const nb_module_class conv2d_class = {
	.type = "conv2d", .forward = conv2d_forward, .free_state = nb__free,
};

nb_module *nb_conv2d_new(const char *name, int64_t in_channels,
                         int64_t out_channels, int64_t kh, int64_t kw,
                         const nb_conv2d_opts *o, bool bias, nb_dtype dt,
                         nb_rng *rng)
{
	nb_conv2d_opts def = NB_CONV2D_DEFAULTS;
	if (!o)
		o = &def;
	int64_t gr = o->groups;
	if (in_channels < 1 || out_channels < 1 || kh < 1 || kw < 1 || !rng ||
	    !nb__is_float(dt) || gr < 1 || in_channels % gr ||
	    out_channels % gr) {
		nb__set_error(NB_EINVAL, "conv2d '%s': %s", name ? name : "",
		              !rng ? "generator is NULL"
		              : !nb__is_float(dt) ? "dtype must be float"
		              : in_channels < 1 || out_channels < 1 || kh < 1 ||
		                kw < 1 ? "sizes must be at least 1"
		              : "groups must divide the input and output channels");
		return NULL;
	}
	nb_conv2d_opts *st = nb__malloc(sizeof *st);
	if (!st) {
		nb__set_error(NB_ENOMEM, "conv2d: out of memory");
		return NULL;
	}
	*st = *o;
	nb_module *m = nb_module_new(&conv2d_class, name, st);
	if (!m)
		return NULL;
	/* As nn.Conv2d's reset_parameters: nn.Linear's rule with the fan-in
	 * of one output, in_channels / groups * kh * kw. */
	double bound = 1.0 / sqrt((double)(in_channels / gr * kh * kw));
	return add_weight_bias(m, dt, NB_SHAPE(out_channels, in_channels / gr,
	                       kh, kw), bias, bound, rng);
}

/* ---- flatten (and its inverse before a first conv2d) ---- */

typedef struct flatten_state {
	int64_t c, h, w; /* c > 0: flat to [N, c, h, w] */
} flatten_state;

static nb_tensor *flatten_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	const flatten_state *s = nb_module_state(m);
	int nd = nb_tensor_ndim(x);
	if (nd < 1)
		return nb_reshape(g, x, 1, (int64_t[]){1});
	int64_t n = nb_tensor_shape(x)[0];
	if (s->c && nd != 4)
		return nb_reshape(g, x, 4, (int64_t[]){n, s->c, s->h, s->w});
	if (s->c)
		return x;
	return nb_reshape(g, x, 2, (int64_t[]){n, -1});
}

static const nb_module_class flatten_class = {
	.type = "flatten", .forward = flatten_forward, .free_state = nb__free,
};

nb_module *nb_flatten_new(const char *name, int64_t c, int64_t h, int64_t w)
{
	if (c < 0 || (c && (h < 1 || w < 1))) {
		nb__set_error(NB_EINVAL, "flatten '%s': image sizes must be at "
		              "least 1", name ? name : "");
		return NULL;
	}
	flatten_state *s = nb__malloc(sizeof *s);
	if (!s) {
		nb__set_error(NB_ENOMEM, "flatten: out of memory");
		return NULL;
	}
	*s = (flatten_state){c, h, w};
	return nb_module_new(&flatten_class, name, s);
}

/* ---- op layers ---- */

typedef struct op_layer {
	const nb_op *op;
	void *attrs;
	nb_tensor *in[NB_MAX_INPUTS]; /* borrowed from the module's slots */
	nb_tensor *tracked;          /* num_batches_tracked, or NULL */
} op_layer;

static void op_layer_free(void *p)
{
	op_layer *s = p;
	nb__free(s->attrs);
	nb__free(s);
}

static nb_tensor *op_layer_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	op_layer *s = nb_module_state(m);
	nb_tensor *in[NB_MAX_INPUTS];
	memcpy(in, s->in, sizeof in);
	in[0] = x;
	nb_tensor *y = nb_apply(g, s->op, s->op->n_inputs, in, s->attrs);
	if (y && s->tracked && nb_graph_training(g))
		((int64_t *)s->tracked->data)[0]++;
	return y;
}

static const nb_module_class op_layer_class = {
	.type = "op", .forward = op_layer_forward, .free_state = op_layer_free,
};

/*
 * Whether a layer makes the optional inputs of group grp: the flags
 * (on, off) when they say, else the inputs' own default (made unless
 * flagged NB_IN_LAYER_OFF, as instance_norm's are).
 */
static bool group_on(const nb_input_def *d, unsigned flags)
{
	unsigned on = d->group == NB_GROUP_AFFINE ? NB_LAYER_AFFINE
	            : d->group == NB_GROUP_STATS ? NB_LAYER_STATS : 0;
	if (on && (flags & on))
		return true;
	if (on && (flags & (on << 1)))
		return false;
	return !(d->flags & NB_IN_LAYER_OFF);
}

/* Makes input i of the op layer as its definition says (a parameter, a
 * buffer, or NULL for an optional one left out). */
static nb_status make_input(nb_module *m, op_layer *s, int i,
                            int64_t features, nb_dtype dt, unsigned flags)
{
	const nb_input_def *d = &s->op->inputs[i];
	bool optional = d->flags & NB_IN_OPTIONAL;
	if (optional && (d->role == NB_ROLE_DATA || !group_on(d, flags)))
		return NB_OK;
	if (d->role == NB_ROLE_DATA || d->fill != NB_FILL_CONST)
		return nb__set_error(NB_EINVAL, "layer '%s': op '%s' needs input "
		    "'%s', which a layer cannot make (only parameters and "
		    "buffers whose definition gives a fill)", nb_module_name(m),
		    s->op->name, d->name);
	int64_t n = d->shape == NB_SHAPE_FEATURES ? features : 1;
	int ndim = d->shape == NB_SHAPE_SCALAR ? 0 : 1;
	nb_tensor *t = nb_tensor_full(d->flags & NB_IN_INT64 ? NB_I64 : dt,
	                              ndim, &n, d->value);
	if (!t)
		return nb_last_status();
	s->in[i] = t;
	if (d->role == NB_ROLE_BUFFER)
		return nb_module_add_buffer(m, d->name, t);
	/* Made per feature (or shared) from the definition: never a weight
	 * matrix, so not decayed by nb_optim_adamw_no_decay. */
	return nb_module_add_param_kind(m, d->name, t,
	                                s->op->kind == NB_KIND_NORM
	                                ? NB_PARAM_NORM : NB_PARAM_ELEMENTWISE);
}

nb_module *nb_op_layer_new(const char *name, const nb_op *op,
                           const void *attrs, int64_t features,
                           nb_dtype dt, unsigned flags)
{
	bool layer = op && (op->flags & NB_OP_LAYER) && op->n_inputs >= 1 &&
	    !(op->inputs[op->n_inputs - 1].flags & NB_IN_VARIADIC);
	if (!layer || features < 1 || !nb__is_float(dt)) {
		nb__set_error(NB_EINVAL, "layer '%s': %s", name ? name : "",
		    !op ? "op is NULL" : !layer
		    ? "the op cannot be a layer (its descriptor has no "
		      "NB_OP_LAYER flag)"
		    : features < 1 ? "features must be at least 1"
		    : "dtype must be float");
		return NULL;
	}
	op_layer *s = nb__calloc(1, sizeof *s);
	if (!s || !(s->attrs = nb__malloc(op->attrs_size ? op->attrs_size
	                                                 : 1))) {
		nb__free(s);
		nb__set_error(NB_ENOMEM, "layer: out of memory");
		return NULL;
	}
	s->op = op;
	if (attrs)
		memcpy(s->attrs, attrs, op->attrs_size);
	else
		nb_attrs_parse(op, NULL, s->attrs);
	nb_module *m = nb_module_new(&op_layer_class, name, s);
	if (!m)
		return NULL;
	bool has_stats = false, has_count = false;
	for (int i = 1; i < op->n_inputs; i++) {
		if (make_input(m, s, i, features, dt, flags))
			goto fail;
		const nb_input_def *d = &op->inputs[i];
		bool stat = s->in[i] && d->role == NB_ROLE_BUFFER &&
		            d->group == NB_GROUP_STATS;
		has_stats |= stat && !(d->flags & NB_IN_INT64);
		has_count |= stat && (d->flags & NB_IN_INT64);
	}
	/* PyTorch keeps a count beside running statistics; an op that does
	 * not take one as an input gets it counted here. */
	if (has_stats && !has_count) {
		s->tracked = nb_tensor_zeros(NB_I64, 0, NULL);
		if (!s->tracked || nb_module_add_buffer(m, "num_batches_tracked",
		                                        s->tracked))
			goto fail;
	}
	return m;
fail:
	nb_module_free(m);
	return NULL;
}

nb_module *nb_layer_new(const char *name, const char *op_name,
                        const char *attrs, int64_t features, nb_dtype dt,
                        unsigned flags)
{
	_Alignas(max_align_t) unsigned char buf[NB_MAX_ATTRS_SIZE];
	if (!op_name) {
		nb__set_error(NB_EINVAL, "layer: op name is NULL");
		return NULL;
	}
	const nb_op *op = nb_op_find(op_name);
	if (!op) {
		nb__set_error(NB_ENOTFOUND, "layer: unknown op '%s'", op_name);
		return NULL;
	}
	if (nb_attrs_parse(op, attrs, buf))
		return NULL;
	return nb_op_layer_new(name, op, buf, features, dt, flags);
}

/* ---- models from specs ---- */

/* The activation that follows layer i (before the next linear or
 * conv2d), or "linear" (gain 1) when none does: the nonlinearity of an
 * initialization scheme. */
static const char *next_activation(const nb_spec *spec, size_t i)
{
	for (size_t k = i + 1; k < nb_spec_len(spec); k++) {
		const nb_spec_layer *l = nb_spec_layer_at(spec, k);
		if (l->type == NB_LAYER_LINEAR || l->type == NB_LAYER_CONV2D)
			break;
		if (l->type == NB_LAYER_OP && l->op->kind == NB_KIND_ACTIVATION)
			return l->op->name;
	}
	return "linear";
}

/* Overwrites a linear or conv2d module's weight by the scheme, zeroes
 * its bias. */
static nb_status apply_init(nb_module *m, const char *scheme,
                            const char *act, nb_rng *rng)
{
	nb_status st = nb_init_apply(nb_module_tensor(m, "weight"), rng,
	                             scheme, act);
	nb_tensor *b = nb_module_tensor(m, "bias");
	if (!st && b)
		st = nb_init_zeros(b);
	return st;
}

/*
 * What flows from layer to layer: flat features [N, f], or images
 * [N, c, h, w] (after a conv2d or pooling layer, until flatten).
 */
typedef struct flow {
	int64_t f;
	bool img;
	int64_t c, h, w;
} flow;

static nb_module *flow_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static nb_module *flow_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nb__vset_error(NB_EINVAL, fmt, ap);
	va_end(ap);
	return NULL;
}

/* An int-or-pair value: (h, w), def when absent; false if more than 2
 * values or one below min. */
static bool pair_of(const nb_ints *a, int64_t def, int64_t min, int64_t *h,
                    int64_t *w)
{
	*h = a->n ? a->v[0] : def;
	*w = a->n ? a->v[a->n - 1] : def;
	return a->n <= 2 && *h >= min && *w >= min && *h <= (1LL << 32) &&
	       *w <= (1LL << 32);
}

/* The INTS attribute `name` of op in attrs (an empty list if none). */
static nb_ints ints_attr(const nb_op *op, const void *attrs,
                         const char *name)
{
	nb_ints r = {0};
	for (int i = 0; i < op->n_attrs; i++)
		if (op->attrs[i].type == NB_ATTR_INTS &&
		    !strcmp(op->attrs[i].name, name))
			memcpy(&r, (const unsigned char *)attrs +
			       op->attrs[i].offset, sizeof r);
	return r;
}

/* Output length of a window op on one axis, or -1 if it does not fit. */
static int64_t window_out(int64_t n, int64_t k, int64_t s, int64_t p,
                          int64_t d)
{
	int64_t span = d * (k - 1) + 1;
	return n + 2 * p < span ? -1 : (n + 2 * p - span) / s + 1;
}

/* The images after a window op, or an error naming the layer's sizes. */
static bool window_flow(flow *fl, const char *what, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw)
{
	int64_t oh = window_out(fl->h, kh, sh, ph, dh);
	int64_t ow = window_out(fl->w, kw, sw, pw, dw);
	if (oh < 1 || ow < 1) {
		flow_fail("%s: the kernel (%lldx%lld, dilated %lldx%lld) is "
		          "larger than its padded input (%lld x %lld x %lld, "
		          "padding %lld,%lld)", what, (long long)kh, (long long)kw,
		          (long long)(dh * (kh - 1) + 1),
		          (long long)(dw * (kw - 1) + 1), (long long)fl->c,
		          (long long)fl->h, (long long)fl->w, (long long)ph,
		          (long long)pw);
		return false;
	}
	fl->h = oh;
	fl->w = ow;
	return true;
}

static nb_module *conv_layer(const nb_spec_layer *l, flow *fl,
                             const nb_model_opts *o, nb_rng *rng,
                             const char *act)
{
	const nb_conv2d_opts *c = &l->conv;
	if (fl->c % c->groups || l->units % c->groups)
		return flow_fail("conv2d: groups=%lld must divide the input "
		                 "channels (%lld) and the output channels (%lld)",
		                 (long long)c->groups, (long long)fl->c,
		                 (long long)l->units);
	if (!window_flow(fl, "conv2d", l->kernel[0], l->kernel[1],
	                 c->stride[0], c->stride[1], c->padding[0],
	                 c->padding[1], c->dilation[0], c->dilation[1]))
		return NULL;
	nb_module *m = nb_conv2d_new(l->name, fl->c, l->units, l->kernel[0],
	                             l->kernel[1], c, l->bias, o->dtype, rng);
	fl->c = l->units;
	if (m && o->init && apply_init(m, o->init, act, rng)) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

static bool pool_flow(const nb_spec_layer *l, flow *fl)
{
	nb_ints ks = ints_attr(l->op, l->attrs, "kernel_size");
	nb_ints ss = ints_attr(l->op, l->attrs, "stride");
	nb_ints ps = ints_attr(l->op, l->attrs, "padding");
	int64_t kh, kw, sh, sw, ph, pw;
	if (!ks.n || !pair_of(&ks, 1, 1, &kh, &kw) ||
	    !pair_of(&ss, 1, 1, &sh, &sw) || !pair_of(&ps, 0, 0, &ph, &pw)) {
		if (!ks.n)
			flow_fail("%s needs its kernel size (%s:K)", l->op->name,
			          l->op->name);
		else
			flow_fail("%s: kernel_size, stride and padding take one or "
			          "two values, kernel_size and stride at least 1, "
			          "padding at least 0", l->op->name);
		return false;
	}
	if (!ss.n) {
		sh = kh;
		sw = kw;
	}
	if (2 * ph > kh || 2 * pw > kw) {
		flow_fail("%s: padding must be at most half the kernel size",
		          l->op->name);
		return false;
	}
	return window_flow(fl, l->op->name, kh, kw, sh, sw, ph, pw, 1, 1);
}

static nb_module *spec_layer(const nb_spec *spec, size_t i, flow *fl,
                             const nb_model_opts *o, nb_rng *rng)
{
	const nb_spec_layer *l = nb_spec_layer_at(spec, i);
	nb_dtype dt = o->dtype;
	if (l->type == NB_LAYER_LINEAR) {
		if (fl->img)
			return flow_fail("linear needs flat features, not images "
			                 "%lld x %lld x %lld: add flatten before it",
			                 (long long)fl->c, (long long)fl->h,
			                 (long long)fl->w);
		nb_module *m = nb_linear_new(l->name, fl->f, l->units, l->bias,
		                             dt, rng);
		fl->f = l->units;
		if (m && o->init &&
		    apply_init(m, o->init, next_activation(spec, i), rng)) {
			nb_module_free(m);
			return NULL;
		}
		return m;
	}
	if (l->type == NB_LAYER_FLATTEN) {
		if (fl->img)
			fl->f = fl->c * fl->h * fl->w;
		fl->img = false;
		return nb_flatten_new(l->name, 0, 0, 0);
	}
	if (l->type == NB_LAYER_CONV2D)
		return conv_layer(l, fl, o, rng, next_activation(spec, i));
	if (l->op->kind == NB_KIND_POOL && !pool_flow(l, fl))
		return NULL;
	return nb_op_layer_new(l->name, l->op, l->attrs, fl->img ? fl->c : fl->f,
	                       dt, l->flags);
}

static bool wants_images(const nb_spec_layer *l)
{
	return l->type == NB_LAYER_CONV2D ||
	       (l->type == NB_LAYER_OP && l->op->kind == NB_KIND_POOL);
}

/*
 * A first conv2d or pooling layer reads flat inputs of f = S * S
 * features as one-channel S x S images (Fashion-MNIST's 784 as 28 x 28):
 * the module "image" in front reshapes them.  Later ones need images
 * from the layer before.
 */
static nb_module *image_module(size_t i, flow *fl, const nb_spec_layer *l)
{
	const char *nm = l->type == NB_LAYER_CONV2D ? "conv2d" : l->op->name;
	int64_t s = (int64_t)llround(sqrt((double)fl->f));
	if (i > 0)
		return flow_fail("%s needs images [N, C, H, W], but the layer "
		                 "before gives %lld flat features", nm,
		                 (long long)fl->f);
	if (s * s != fl->f)
		return flow_fail("%s as the first layer reads the %lld input "
		                 "features as a square one-channel image, and "
		                 "%lld is not a square", nm, (long long)fl->f,
		                 (long long)fl->f);
	*fl = (flow){.img = true, .c = 1, .h = s, .w = s};
	return nb_flatten_new("image", 1, s, s);
}

nb_module *nb_model_from_spec(const nb_spec *spec, int64_t in_features,
                              const nb_model_opts *o)
{
	nb_model_opts def = {0};
	int line, col;
	if (!o)
		o = &def;
	if (!spec) {
		nb__set_error(NB_EINVAL, "model: spec is NULL");
		return NULL;
	}
	int64_t f = in_features, given = nb_spec_input(spec);
	if (!f)
		f = given;
	if (f < 1 || (given && given != f)) {
		nb__set_error(NB_EINVAL, f < 1 ? "model: the input size is "
		    "unknown (pass it, or begin the spec with input:N)"
		    : "model: the spec says input:%lld but the data has %lld "
		    "features", (long long)given, (long long)in_features);
		return NULL;
	}
	nb_rng rng;
	nb_rng_seed(&rng, o->seed);
	nb_module *model = nb_sequential_new("model");
	if (!model)
		return NULL;
	flow fl = {.f = f};
	for (size_t i = 0; i < nb_spec_len(spec); i++) {
		const nb_spec_layer *l = nb_spec_layer_at(spec, i);
		nb_module *m = NULL;
		bool ok = true;
		if (wants_images(l) && !fl.img)
			ok = (m = image_module(i, &fl, l)) && !nb_module_add(model, m);
		if (ok)
			m = spec_layer(spec, i, &fl, o, &rng);
		if (!ok || !m || nb_module_add(model, m)) {
			char msg[512];
			nb__spec_where(spec, l->pos, &line, &col);
			snprintf(msg, sizeof msg, "%s", nb_last_error());
			nb__set_error(nb_last_status(), "spec:%d:%d: %s", line, col,
			              msg);
			nb_module_free(model);
			return NULL;
		}
	}
	return model;
}

nb_module *nb_model_parse(const char *text, int64_t in_features,
                          const nb_model_opts *o)
{
	nb_spec *s;
	if (nb_spec_parse(text, &s, NULL))
		return NULL;
	nb_module *m = nb_model_from_spec(s, in_features, o);
	nb_spec_free(s);
	return m;
}

/* ---- swapping an op layer's op (sync_batch_norm's converter) ---- */

const nb_op *nb__op_layer_op(const nb_module *m, const void **attrs)
{
	if (!m || nb_module_type(m) != op_layer_class.type)
		return NULL;
	const op_layer *s = nb_module_state(m);
	if (attrs)
		*attrs = s->attrs;
	return s->op;
}

nb_status nb__op_layer_set_op(nb_module *m, const nb_op *op,
                              const void *attrs)
{
	const nb_op *old = nb__op_layer_op(m, NULL);
	if (!old || !op || !attrs || op->n_inputs != old->n_inputs)
		return nb__set_error(NB_EINVAL, "layer '%s': cannot apply op "
		    "'%s' instead of '%s' (not an op layer, or other inputs)",
		    nb_module_name(m), op ? op->name : "", old ? old->name : "");
	for (int i = 0; i < op->n_inputs; i++)
		if (op->inputs[i].role != old->inputs[i].role)
			return nb__set_error(NB_EINVAL, "layer '%s': input %d of "
			    "'%s' has another role than '%s''s", nb_module_name(m),
			    i, op->name, old->name);
	op_layer *s = nb_module_state(m);
	void *a = nb__malloc(op->attrs_size ? op->attrs_size : 1);
	if (!a)
		return nb__set_error(NB_ENOMEM, "layer: out of memory");
	memcpy(a, attrs, op->attrs_size);
	nb__free(s->attrs);
	s->attrs = a;
	s->op = op;
	return NB_OK;
}
