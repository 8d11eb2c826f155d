/*
 * convplus.c - the resampling and channel ops of the convolution family
 * added by issue 15, over [N, C, H, W] feature maps with PyTorch 1.13's
 * semantics (doc/conv.md):
 *
 *   adaptive_avg_pool2d  output (oy, ox) is the mean of rows
 *                        [floor(oy H / OH), ceil((oy + 1) H / OH)) and the
 *                        columns likewise; its gradient is shared evenly
 *                        over that window.
 *   upsample_nearest2d   y[oy, ox] = x[src(oy), src(ox)], src(o) =
 *                        min(floor(o * scale), in - 1) in float32 as
 *                        PyTorch's kernel (scale = 1 / scale_factor when
 *                        one is given, else in / out; o exactly when
 *                        out = in, o / 2 when out = 2 in); dx[src] += g.
 *   dropout2d            y = x m / (1 - p) with one m ~ Bernoulli(1 - p)
 *                        per [n, c] (whole channels), from the graph's
 *                        generator; dx = g m / (1 - p).  Identity in
 *                        evaluation mode and for p = 0; p = 1 gives x * 0.
 *
 * adaptive_avg_pool2d and upsample_nearest2d take [N, C, H, W] (the
 * pool also [C, H, W], as PyTorch); dropout2d any rank >= 2, as 1.13's
 * feature_dropout: the mask is over the first two axes.
 */
#include <math.h>
#include "elementwise.h"

/* Attribute values beyond this are refused (no overflow in sizes). */
#define MAX_SIZE ((int64_t)1 << 32)

/* The planes of a resampling op, and (nearest) its source indices. */
typedef struct plane_geom {
	int64_t P;             /* planes: the product of the leading axes */
	int64_t H, W, OH, OW;
	const int64_t *rows, *cols; /* upsample_nearest2d: OH and OW */
} plane_geom;

/* PyTorch's adaptive windows: [floor(o n / out), ceil((o + 1) n / out)).
 * The shape rule keeps out * n below 2^62. */
static inline int64_t win_start(int64_t o, int64_t n, int64_t out)
{
	return o * n / out;
}

static inline int64_t win_end(int64_t o, int64_t n, int64_t out)
{
	return ((o + 1) * n + out - 1) / out;
}

#define T float
#include "convplus_kernels.h"
#undef T
#define T double
#include "convplus_kernels.h"
#undef T

/* A plane's elements of work: its input and output. */
static size_t plane_work(const plane_geom *q)
{
	return (size_t)(q->H * q->W) + (size_t)(q->OH * q->OW);
}

/* Parallel grain over planes of `per` elements of work: about 32K. */
static size_t plane_grain(const plane_geom *q)
{
	size_t per = plane_work(q);
	size_t g = per && per < 32768 ? 32768 / per : 1;
	return g ? g : 1;
}

/* A required int-or-pair size attribute: (h, w); an error for none,
 * more than two values, or one outside [min, MAX_SIZE]. */
static nb_status size_pair(nb_op_ctx *c, const char *name, const nb_ints *a,
                           int64_t min, int64_t *h, int64_t *w)
{
	if (a->n < 1 || a->n > 2)
		return nb_op_fail(c, NB_EINVAL, "%s takes one or two values "
		                  "(height, width), not %d", name, a->n);
	*h = a->v[0];
	*w = a->v[a->n - 1];
	for (int k = 0; k < a->n; k++)
		if (a->v[k] < min || a->v[k] > MAX_SIZE)
			return nb_op_fail(c, NB_EINVAL, "%s=%lld is outside "
			                  "[%lld, 2^32]", name, (long long)a->v[k],
			                  (long long)min);
	return NB_OK;
}

/* ---- adaptive_avg_pool2d ---- */

typedef struct adaptive_attrs {
	nb_ints output_size;
} adaptive_attrs;

static const nb_attr_def adaptive_defs[] = {
	{.name = "output_size", .type = NB_ATTR_INTS,
	 .offset = offsetof(adaptive_attrs, output_size),
	 .doc = "S or OH,OW (required; 0 gives an empty output)"},
};

static nb_status adaptive_geom(nb_op_ctx *c, plane_geom *q)
{
	const adaptive_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int64_t t;
	nb_status st;
	if (x->ndim != 3 && x->ndim != 4)
		return nb_op_fail(c, NB_ESHAPE, "input must be [N, C, H, W] or "
		                  "[C, H, W], not %d-D", x->ndim);
	if ((st = size_pair(c, "output_size", &a->output_size, 0, &q->OH,
	                    &q->OW)))
		return st;
	q->H = x->shape[x->ndim - 2];
	q->W = x->shape[x->ndim - 1];
	q->P = x->ndim == 4 ? x->shape[0] * x->shape[1] : x->shape[0];
	for (int i = 1; i < x->ndim; i++)
		if (!x->shape[i])
			return nb_op_fail(c, NB_ESHAPE, "the input must not be empty "
			                  "but for its batch axis");
	if (__builtin_mul_overflow(q->H + 1, q->OH, &t) || t > (1LL << 62) ||
	    __builtin_mul_overflow(q->W + 1, q->OW, &t) || t > (1LL << 62))
		return nb_op_fail(c, NB_ESHAPE, "input and output sizes too "
		                  "large");
	q->rows = q->cols = NULL;
	return NB_OK;
}

static nb_status adaptive_shape(nb_op_ctx *c, nb_result_def *res)
{
	plane_geom q;
	nb_status st = adaptive_geom(c, &q);
	if (st)
		return st;
	res->shape[res->ndim - 2] = q.OH;
	res->shape[res->ndim - 1] = q.OW;
	return NB_OK;
}

static nb_status adaptive_forward(nb_op_ctx *c)
{
	plane_geom q;
	adaptive_geom(c, &q);
	if (c->in[0]->dtype == NB_F32) {
		plane_job_float j = {.q = &q, .x = c->in[0]->data,
		                     .y = c->out->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 adaptive_fwd_float, &j);
	} else {
		plane_job_double j = {.q = &q, .x = c->in[0]->data,
		                      .y = c->out->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 adaptive_fwd_double, &j);
	}
	return NB_OK;
}

static nb_status adaptive_backward(nb_op_ctx *c, const nb_tensor *gout,
                                   nb_tensor *const *gin)
{
	plane_geom q;
	adaptive_geom(c, &q);
	if (gout->dtype == NB_F32) {
		plane_job_float j = {.q = &q, .g = gout->data,
		                     .dx = gin[0]->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 adaptive_bwd_float, &j);
	} else {
		plane_job_double j = {.q = &q, .g = gout->data,
		                      .dx = gin[0]->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 adaptive_bwd_double, &j);
	}
	return NB_OK;
}

static const nb_input_def plane_inputs[] = {
	{.name = "input", .doc = "[N, C, H, W]"},
};

static const nb_op_test adaptive_test = {
	.cases = "[2,3,4,4]|output_size=2; "
	         "[1,2,5,7]|output_size=3,2; [1,2,3,3]|output_size=0,2; "
	         "[2,1,3,3]|output_size=5,4; "
	         "[3,5,6]|output_size=1",
};

static const nb_op adaptive_op = {
	.version = NB_OP_VERSION,
	.name = "adaptive_avg_pool2d",
	.kind = NB_KIND_POOL,
	.doc = "mean over PyTorch's adaptive windows of [N, C, H, W], giving "
	       "output_size",
	.inputs = plane_inputs,
	.n_inputs = 1,
	.attrs = adaptive_defs,
	.n_attrs = (int)(sizeof adaptive_defs / sizeof *adaptive_defs),
	.attrs_size = sizeof(adaptive_attrs),
	.flags = NB_OP_WRITES_OUTPUT,
	.shape = adaptive_shape,
	.forward = adaptive_forward,
	.backward = adaptive_backward,
	.test = &adaptive_test,
};

/* ---- upsample_nearest2d ---- */

typedef struct nearest_attrs {
	nb_ints size;
	double scale_factor;
} nearest_attrs;

static const nb_attr_def nearest_defs[] = {
	{.name = "size", .type = NB_ATTR_INTS,
	 .offset = offsetof(nearest_attrs, size),
	 .doc = "output S or OH,OW (this or scale_factor)"},
	{.name = "scale_factor", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(nearest_attrs, scale_factor), .def = NAN,
	 .range = NB_RANGE(0, 4294967296.0), .flags = NB_ATTR_NULLABLE,
	 .doc = "output = floor(input * scale_factor) on both axes (this or "
	        "size); none: size is given"},
};

/* PyTorch's nearest_idx (UpSample.h): exact for out = in and out =
 * 2 in, else floor(o * scale) in float32, at most in - 1. */
static int64_t nearest_src(int64_t o, int64_t in, int64_t out, double sf)
{
	if (out == in)
		return o;
	if (out == 2 * in)
		return o >> 1;
	float scale = isnan(sf) ? (float)in / (float)out : (float)(1.0 / sf);
	int64_t s = (int64_t)floorf((float)o * scale);
	return s < in - 1 ? s : in - 1;
}

static nb_status nearest_geom(nb_op_ctx *c, plane_geom *q)
{
	const nearest_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	nb_status st;
	if (x->ndim != 4)
		return nb_op_fail(c, NB_ESHAPE, "input must be [N, C, H, W] "
		                  "(4-D), not %d-D", x->ndim);
	if (!a->size.n == isnan(a->scale_factor))
		return nb_op_fail(c, NB_EINVAL, "give either size or scale_factor "
		                  "(exactly one of them)");
	q->P = x->shape[0] * x->shape[1];
	q->H = x->shape[2];
	q->W = x->shape[3];
	if (a->size.n) {
		if ((st = size_pair(c, "size", &a->size, 1, &q->OH, &q->OW)))
			return st;
	} else {
		double oh = floor((double)q->H * a->scale_factor);
		double ow = floor((double)q->W * a->scale_factor);
		if (oh > (double)MAX_SIZE || ow > (double)MAX_SIZE)
			return nb_op_fail(c, NB_ESHAPE, "the output would be larger "
			                  "than 2^32 on an axis");
		q->OH = (int64_t)oh;
		q->OW = (int64_t)ow;
	}
	if (q->H < 1 || q->W < 1 || q->OH < 1 || q->OW < 1 || x->shape[1] < 1)
		return nb_op_fail(c, NB_ESHAPE, "input and output sizes must be "
		                  "greater than 0 (output %lldx%lld)",
		                  (long long)q->OH, (long long)q->OW);
	q->rows = q->cols = NULL;
	return NB_OK;
}

static nb_status nearest_shape(nb_op_ctx *c, nb_result_def *res)
{
	plane_geom q;
	nb_status st = nearest_geom(c, &q);
	if (st)
		return st;
	res->shape[2] = q.OH;
	res->shape[3] = q.OW;
	return NB_OK;
}

/* q with its source rows and columns (a scratch tensor of OH + OW). */
static nb_status nearest_plan(nb_op_ctx *c, plane_geom *q)
{
	const nearest_attrs *a = c->attrs;
	nearest_geom(c, q);
	nb_tensor *t = nb_op_scratch(c, NB_I64, 1,
	                             (int64_t[]){q->OH + q->OW});
	if (!t)
		return NB_ENOMEM;
	int64_t *idx = t->data;
	for (int64_t o = 0; o < q->OH; o++)
		idx[o] = nearest_src(o, q->H, q->OH, a->scale_factor);
	for (int64_t o = 0; o < q->OW; o++)
		idx[q->OH + o] = nearest_src(o, q->W, q->OW, a->scale_factor);
	q->rows = idx;
	q->cols = idx + q->OH;
	return NB_OK;
}

static nb_status nearest_forward(nb_op_ctx *c)
{
	plane_geom q;
	if (nearest_plan(c, &q))
		return NB_ENOMEM;
	if (c->in[0]->dtype == NB_F32) {
		plane_job_float j = {.q = &q, .x = c->in[0]->data,
		                     .y = c->out->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 nearest_fwd_float, &j);
	} else {
		plane_job_double j = {.q = &q, .x = c->in[0]->data,
		                      .y = c->out->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 nearest_fwd_double, &j);
	}
	return NB_OK;
}

static nb_status nearest_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	plane_geom q;
	if (nearest_plan(c, &q))
		return NB_ENOMEM;
	if (gout->dtype == NB_F32) {
		plane_job_float j = {.q = &q, .g = gout->data,
		                     .dx = gin[0]->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 nearest_bwd_float, &j);
	} else {
		plane_job_double j = {.q = &q, .g = gout->data,
		                      .dx = gin[0]->data};
		nb__parallel_for((size_t)q.P, plane_grain(&q), plane_work(&q),
		                 nearest_bwd_double, &j);
	}
	return NB_OK;
}

static const nb_op_test nearest_test = {
	.cases = "[2,3,2,3]|scale_factor=2; "
	         "[1,2,3,4]|size=5,7; "
	         "[1,2,5,4]|size=3; "
	         "[2,1,3,3]|scale_factor=1.7",
};

static const nb_op nearest_op = {
	.version = NB_OP_VERSION,
	.name = "upsample_nearest2d",
	.kind = NB_KIND_POOL,
	.doc = "nearest-neighbour resize of [N, C, H, W] to size or by "
	       "scale_factor (PyTorch 1.13's 'nearest')",
	.inputs = plane_inputs,
	.n_inputs = 1,
	.attrs = nearest_defs,
	.n_attrs = (int)(sizeof nearest_defs / sizeof *nearest_defs),
	.attrs_size = sizeof(nearest_attrs),
	.flags = NB_OP_WRITES_OUTPUT,
	.shape = nearest_shape,
	.forward = nearest_forward,
	.backward = nearest_backward,
	.test = &nearest_test,
};

/* ---- dropout2d ---- */

typedef struct drop2d_attrs {
	double p;
} drop2d_attrs;

static const nb_attr_def drop2d_defs[] = {
	{.name = "p", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(drop2d_attrs, p), .def = 0.5,
	 .range = NB_RANGE(0, 1),
	 .doc = "probability of dropping a channel"},
};

enum { D2_IDENTITY, D2_ZERO, D2_MASK };

/* What forward leaves for backward: the case and, for D2_MASK, one
 * byte per [n, c] plane. */
typedef struct drop2d_saved {
	int mode;
	double scale;
	unsigned char mask[];
} drop2d_saved;

static nb_status drop2d_shape(nb_op_ctx *c, nb_result_def *res)
{
	(void)res;
	if (c->in[0]->ndim < 2)
		return nb_op_fail(c, NB_ESHAPE, "drops whole channels of "
		                  "[N, C, ...]: the input needs at least 2 dims, "
		                  "not %d", c->in[0]->ndim);
	return NB_OK;
}

/* planes and the elements of each, of x [N, C, ...]. */
static size_t planes_of(const nb_tensor *x, size_t *L)
{
	size_t P = (size_t)(x->shape[0] * x->shape[1]);
	*L = P ? x->numel / P : 0;
	return P;
}

static nb_status drop2d_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	double p = ((const drop2d_attrs *)c->attrs)->p;
	size_t L, P = planes_of(x, &L);
	int mode = !nb_op_training(c) || p == 0 ? D2_IDENTITY
	         : p == 1 ? D2_ZERO : D2_MASK;
	drop2d_saved *s = nb_op_save(c, sizeof *s +
	                             (mode == D2_MASK ? P : 0));
	if (!s)
		return NB_ENOMEM;
	s->mode = mode;
	s->scale = mode == D2_MASK ? 1 / (1 - p) : 0;
	if (mode == D2_IDENTITY) {
		memcpy(c->out->data, x->data, nb__nbytes(x));
		return NB_OK;
	}
	/* keep with probability 1 - p, the stream of dropout's masks
	 * (doc/regularization.md), one draw per plane; D2_ZERO: all zero */
	if (mode == D2_MASK)
		nb__rng_keep_mask(nb_op_rng(c), s->mask, P, 1 - p);
	static const unsigned char none[1] = {0};
	const unsigned char *m = s->mask;
	size_t Pm = P, Lm = L;
	if (mode == D2_ZERO) { /* x * 0 everywhere: one plane of all */
		m = none;
		Pm = x->numel ? 1 : 0;
		Lm = x->numel;
	}
	if (x->dtype == NB_F32)
		chan_drop_float(x->data, c->out->data, m, Pm, Lm, s->scale);
	else
		chan_drop_double(x->data, c->out->data, m, Pm, Lm, s->scale);
	return NB_OK;
}

static nb_status drop2d_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	const drop2d_saved *s = c->saved;
	nb_tensor *dx = gin[0];
	bool fresh = c->fresh & 1;
	size_t L, P = planes_of(dx, &L);
	if (s->mode == D2_IDENTITY && fresh)
		memcpy(dx->data, gout->data, nb__nbytes(dx));
	else if (s->mode == D2_IDENTITY)
		nb__tensor_acc(dx, gout);
	else if (s->mode == D2_ZERO && fresh)
		memset(dx->data, 0, nb__nbytes(dx)); /* all bits 0 is +0 */
	else if (s->mode == D2_MASK && dx->dtype == NB_F32)
		chan_drop_grad_float(gout->data, dx->data, s->mask, P, L,
		                     s->scale, fresh);
	else if (s->mode == D2_MASK)
		chan_drop_grad_double(gout->data, dx->data, s->mask, P, L,
		                      s->scale, fresh);
	return NB_OK;
}

static const nb_op_test drop2d_test = {
	.cases = "[2,3,4,4]; [2,5,3]|p=0.2; [3,4]|p=0; [2,2,2,2]|p=1",
};

static const nb_op drop2d_op = {
	.version = NB_OP_VERSION,
	.name = "dropout2d",
	.kind = NB_KIND_REGULARIZER,
	.doc = "channel dropout: zero each [n, c] plane with probability p, "
	       "scale the rest by 1/(1-p); identity in eval mode",
	.inputs = plane_inputs,
	.n_inputs = 1,
	.attrs = drop2d_defs,
	.n_attrs = (int)(sizeof drop2d_defs / sizeof *drop2d_defs),
	.attrs_size = sizeof(drop2d_attrs),
	.flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH |
	         NB_OP_LAYER,
	.layer_prefix = "drop2d",
	.shape = drop2d_shape,
	.forward = drop2d_forward,
	.backward = drop2d_backward,
	.test = &drop2d_test,
};

/* ---- the family, in the order of `nabla ops` ---- */

const nb_op *const nb__convplus_ops[] = {
	&adaptive_op, &nearest_op, &drop2d_op, NULL,
};

/* ---- typed wrappers (include/nabla/conv.h) ---- */

nb_tensor *nb_adaptive_avg_pool2d(nb_graph *g, nb_tensor *x,
                                  int64_t out_h, int64_t out_w)
{
	adaptive_attrs a = {.output_size = {.n = 2, .v = {out_h, out_w}}};
	return nb_apply(g, &adaptive_op, 1, &x, &a);
}

nb_tensor *nb_upsample_nearest2d(nb_graph *g, nb_tensor *x, int64_t out_h,
                                 int64_t out_w, double scale_factor)
{
	nearest_attrs a = {.scale_factor = scale_factor};
	if (out_h || out_w)
		a.size = (nb_ints){.n = 2, .v = {out_h, out_w}};
	return nb_apply(g, &nearest_op, 1, &x, &a);
}

nb_tensor *nb_dropout2d(nb_graph *g, nb_tensor *x, double p)
{
	drop2d_attrs a = {p};
	return nb_apply(g, &drop2d_op, 1, &x, &a);
}
