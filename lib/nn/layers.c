/*
 * layers.c - the built-in modules (sequential, linear, conv2d, flatten,
 * the op layer that wraps an activation, normalization, regularizer or
 * pooling op).  Models from parsed specs are built in build.c, the
 * containers other than sequential are in containers.c.
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

/* The results of each child are the inputs of the next; no children
 * pass the inputs through, as PyTorch's empty nn.Sequential. */
static int sequential_forward_multi(nb_module *m, nb_graph *g, int n_in,
                                    nb_tensor *const *in, int cap,
                                    nb_tensor **out)
{
	nb_tensor *buf[2][NB_MODULE_MAX_RESULTS];
	int n = n_in;
	memcpy(buf[0], in, (size_t)n_in * sizeof *in);
	for (size_t i = 0; i < nb_module_child_count(m); i++) {
		n = nb_module_forward_multi(nb_module_child(m, i), g, n,
		                            buf[i & 1], NB_MODULE_MAX_RESULTS,
		                            buf[(i + 1) & 1]);
		if (n < 0)
			return -1;
	}
	nb_tensor **res = buf[nb_module_child_count(m) & 1];
	memcpy(out, res, (size_t)(n < cap ? n : cap) * sizeof *out);
	return n;
}

static const nb_module_class sequential_class = {
	.type = "sequential", .forward = sequential_forward,
	.forward_multi = sequential_forward_multi,
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
