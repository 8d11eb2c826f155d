/*
 * build.c - a model from a parsed spec (nb_model_from_spec).  The spec
 * is a tree in pre-order (spec.c); each scope (the top, a block's body)
 * becomes a container whose children are its entries, built in order
 * while the per-sample shape flows through them: a row of the layer
 * table builds itself from the shape, an op layer takes its features
 * from it, a residual block checks that its body keeps it, a repetition
 * builds its body once per copy.  Errors carry the spec:LINE:COL of the
 * entry that failed.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

typedef struct builder {
	const nb_spec *spec;
	const nb_model_opts *o;
	nb_rng rng;
	bool placed; /* the error message has its spec:LINE:COL */
	bool tokens; /* the samples are still token ids (no layer yet) */
} builder;

/* Prefixes the current error with the position of entry i (once). */
static nb_module *placed_fail(builder *b, size_t i)
{
	if (!b->placed) {
		char msg[512];
		int line, col;
		nb__spec_where(b->spec, nb_spec_layer_at(b->spec, i)->pos, &line,
		               &col);
		snprintf(msg, sizeof msg, "%s", nb_last_error());
		nb__set_error(nb_last_status(), "spec:%d:%d: %s", line, col, msg);
		b->placed = true;
	}
	return NULL;
}

/* The end (one past the last entry) of the scope that holds entry i. */
static size_t scope_end(const nb_spec *s, size_t i)
{
	size_t p = nb_spec_layer_at(s, i)->parent;
	return p == SIZE_MAX ? nb_spec_len(s)
	       : p + 1 + nb_spec_layer_at(s, p)->span;
}

/* The activation that follows entry i in its scope, before the next
 * weighted layer or block, or "linear" (gain 1): the nonlinearity of an
 * initialization scheme. */
static const char *next_activation(const nb_spec *s, size_t i)
{
	for (size_t k = i + 1, end = scope_end(s, i); k < end; k++) {
		const nb_spec_layer *l = nb_spec_layer_at(s, k);
		if (l->type == NB_LAYER_BLOCK ||
		    (l->def && (l->def->flags & NB_LDEF_WEIGHTED)))
			break;
		if (!l->def && l->op->kind == NB_KIND_ACTIVATION)
			return l->op->name;
	}
	return "linear";
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

/* An int-or-pair value into v, def when absent; false if more than 2
 * values or one below min. */
static bool pair_of(const nb_ints *a, int64_t def, int64_t min,
                    int64_t v[2])
{
	v[0] = a->n ? a->v[0] : def;
	v[1] = a->n ? a->v[a->n - 1] : def;
	return a->n <= 2 && v[0] >= min && v[1] >= min && v[0] <= (1LL << 32) &&
	       v[1] <= (1LL << 32);
}

/* The images after a pooling op layer. */
static nb_status pool_shape(const nb_spec_layer *l, nb_sample_shape *sh)
{
	nb_ints ks = ints_attr(l->op, l->attrs, "kernel_size");
	nb_ints ss = ints_attr(l->op, l->attrs, "stride");
	nb_ints ps = ints_attr(l->op, l->attrs, "padding");
	int64_t k[2], s[2], p[2], one[2] = {1, 1};
	if (!ks.n)
		return nb__set_error(NB_EINVAL, "%s needs its kernel size (%s:K)",
		                     l->op->name, l->op->name);
	if (!pair_of(&ks, 1, 1, k) || !pair_of(&ss, 1, 1, s) ||
	    !pair_of(&ps, 0, 0, p))
		return nb__set_error(NB_EINVAL, "%s: kernel_size, stride and "
		                     "padding take one or two values, kernel_size "
		                     "and stride at least 1, padding at least 0",
		                     l->op->name);
	if (!ss.n)
		memcpy(s, k, sizeof s);
	if (2 * p[0] > k[0] || 2 * p[1] > k[1])
		return nb__set_error(NB_EINVAL, "%s: padding must be at most half "
		                     "the kernel size", l->op->name);
	return nb__window_shape(sh, l->op->name, k, s, p, one);
}

/* An op layer: its per-feature parameters follow the channel axis of
 * images and the last axis otherwise. */
static nb_module *op_entry(builder *b, const nb_spec_layer *l,
                           const char *name, nb_sample_shape *sh)
{
	if (sh->ndim < 1) {
		nb__set_error(NB_EINVAL, "%s needs features, not scalars",
		              l->op->name);
		return NULL;
	}
	if (l->op->kind == NB_KIND_POOL && sh->ndim != 3) {
		char s[96];
		nb__set_error(NB_EINVAL, "%s needs images [N, C, H, W], but the "
		              "layer before gives samples of shape %s",
		              l->op->name,
		              nb_shape_str(sh->ndim, sh->dims, s, sizeof s));
		return NULL;
	}
	if (l->op->kind == NB_KIND_POOL && pool_shape(l, sh))
		return NULL;
	int64_t f = sh->ndim >= 3 ? sh->dims[0] : sh->dims[sh->ndim - 1];
	return nb_op_layer_new(name, l->op, l->attrs, f, b->o->dtype, l->flags);
}

static bool wants_images(const nb_spec_layer *l)
{
	return l->def ? (l->def->flags & NB_LDEF_IMAGES)
	       : l->type == NB_LAYER_OP && l->op->kind == NB_KIND_POOL;
}

/*
 * A first conv2d or pooling layer reads flat inputs of f = S * S
 * features as one-channel S x S images (Fashion-MNIST's 784 as 28 x 28):
 * the module "image" in front reshapes them.  Later ones need images
 * from the layer before.
 */
static nb_module *image_module(size_t i, nb_sample_shape *sh,
                               const nb_spec_layer *l)
{
	const char *nm = l->def ? l->def->name : l->op->name;
	int64_t f = sh->dims[0], s = (int64_t)llround(sqrt((double)f));
	if (i > 0) {
		nb__set_error(NB_EINVAL, "%s needs images [N, C, H, W], but the "
		              "layer before gives %lld flat features", nm,
		              (long long)f);
		return NULL;
	}
	if (s * s != f) {
		nb__set_error(NB_EINVAL, "%s as the first layer reads the %lld "
		              "input features as a square one-channel image, and "
		              "%lld is not a square", nm, (long long)f,
		              (long long)f);
		return NULL;
	}
	*sh = (nb_sample_shape){.ndim = 3, .dims = {1, s, s}};
	return nb_flatten_new("image", 1, s, s);
}

static nb_module *build_entry(builder *b, size_t i, const char *name,
                              nb_sample_shape *sh);

/* Builds the entries of [first, end) (one scope) into c; false on
 * error (c is the caller's to free). */
static bool build_scope(builder *b, size_t first, size_t end, nb_module *c,
                        nb_sample_shape *sh)
{
	for (size_t i = first; i < end;
	     i += 1 + nb_spec_layer_at(b->spec, i)->span) {
		const nb_spec_layer *l = nb_spec_layer_at(b->spec, i);
		nb_module *m;
		if (wants_images(l) && sh->ndim == 1 &&
		    (!(m = image_module(i, sh, l)) || nb_module_add(c, m)))
			return placed_fail(b, i), false;
		m = build_entry(b, i, l->name, sh);
		if (!m || nb_module_add(c, m))
			return placed_fail(b, i), false;
	}
	return true;
}

static nb_module *residual_entry(builder *b, size_t i, const char *name,
                                 nb_sample_shape *sh)
{
	const nb_spec_layer *l = nb_spec_layer_at(b->spec, i);
	nb_sample_shape in = *sh;
	nb_module *r = nb_residual_new(name);
	if (!r || !build_scope(b, i + 1, i + 1 + l->span, r, sh)) {
		nb_module_free(r);
		return NULL;
	}
	if (in.ndim != sh->ndim ||
	    memcmp(in.dims, sh->dims, (size_t)in.ndim * sizeof *in.dims)) {
		char x[96], y[96];
		nb__set_error(NB_EINVAL, "residual '%s': its layers change the "
		              "per-sample shape %s to %s, and x + f(x) needs the "
		              "same shape", name,
		              nb_shape_str(in.ndim, in.dims, x, sizeof x),
		              nb_shape_str(sh->ndim, sh->dims, y, sizeof y));
		nb_module_free(r);
		return placed_fail(b, i);
	}
	return r;
}

/* N copies of the body, named 0..N-1: each the body's one entry, or a
 * sequential of its entries. */
static nb_module *repeat_entry(builder *b, size_t i, const char *name,
                               nb_sample_shape *sh)
{
	const nb_spec_layer *l = nb_spec_layer_at(b->spec, i);
	size_t end = i + 1 + l->span;
	bool one = 1 + nb_spec_layer_at(b->spec, i + 1)->span == l->span;
	nb_module *r = nb_sequential_new(name);
	for (int64_t k = 0; r && k < l->repeat; k++) {
		char idx[32];
		nb_module *c;
		snprintf(idx, sizeof idx, "%lld", (long long)k);
		if (one) {
			c = build_entry(b, i + 1, idx, sh);
		} else if ((c = nb_sequential_new(idx)) &&
		           !build_scope(b, i + 1, end, c, sh)) {
			nb_module_free(c);
			c = NULL;
		}
		if (!c || nb_module_add(r, c)) {
			nb_module_free(r);
			return placed_fail(b, one && !c ? i + 1 : i);
		}
	}
	return r;
}

/* The module of entry i named name, for inputs of shape *sh (updated to
 * its outputs'). */
static nb_module *build_entry(builder *b, size_t i, const char *name,
                              nb_sample_shape *sh)
{
	const nb_spec_layer *l = nb_spec_layer_at(b->spec, i);
	nb_module *m;
	if (b->tokens && (l->type == NB_LAYER_BLOCK || !l->def ||
	                  !(l->def->flags & NB_LDEF_TOKENS))) {
		nb__set_error(NB_EINVAL, "%s reads features, but the inputs are "
		              "token ids of a %lld-character alphabet: begin with "
		              "a layer that reads tokens (embedding:DIM)",
		              l->type == NB_LAYER_BLOCK ? "a block"
		              : l->def ? l->def->name : l->op->name,
		              (long long)b->o->vocab);
		return placed_fail(b, i);
	}
	if (l->type == NB_LAYER_BLOCK)
		return l->block == NB_BLOCK_RESIDUAL ? residual_entry(b, i, name, sh)
		       : repeat_entry(b, i, name, sh);
	if (l->def) {
		nb_layer_ctx ctx = {
			.dtype = b->o->dtype, .rng = &b->rng, .init = b->o->init,
			.act = next_activation(b->spec, i), .vocab = b->o->vocab,
		};
		b->tokens = false;
		nb_sample_shape out = *sh;
		m = l->def->build(name, l->attrs, sh, &out, &ctx);
		if (m)
			*sh = out;
	} else {
		m = op_entry(b, l, name, sh);
	}
	return m ? m : placed_fail(b, i);
}

nb_module *nb__model_build(const nb_spec *spec, int64_t in_features,
                           const nb_model_opts *o, nb_sample_shape *out)
{
	nb_model_opts def = {0};
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
	builder b = {.spec = spec, .o = o, .tokens = o->vocab > 0};
	if (o->vocab < 0) {
		nb__set_error(NB_EINVAL, "model: vocab %lld must be >= 0",
		              (long long)o->vocab);
		return NULL;
	}
	nb_rng_seed(&b.rng, o->seed);
	nb_sample_shape sh = {.ndim = 1, .dims = {f}};
	nb_module *model = nb_sequential_new("model");
	if (!model || !build_scope(&b, 0, nb_spec_len(spec), model, &sh)) {
		nb_module_free(model);
		return NULL;
	}
	if (out)
		*out = sh;
	return model;
}

nb_module *nb_model_from_spec(const nb_spec *spec, int64_t in_features,
                              const nb_model_opts *o)
{
	return nb__model_build(spec, in_features, o, NULL);
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

/* Built and measured; the last linear's units if the model cannot be
 * built (the spec's summary fields). */
int64_t nb_spec_out_features(const nb_spec *s, int64_t in_features)
{
	int64_t f = in_features ? in_features : nb_spec_input(s);
	nb_sample_shape out;
	if (s && f > 0) {
		nb_module *m = nb__model_build(s, f, NULL, &out);
		nb_module_free(m);
		if (m && out.ndim)
			return out.dims[out.ndim - 1];
	}
	for (size_t i = 0; i < nb_spec_len(s); i++)
		if (nb_spec_layer_at(s, i)->type == NB_LAYER_LINEAR)
			f = nb_spec_layer_at(s, i)->units;
	return f;
}
