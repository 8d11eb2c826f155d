/*
 * regularize.c - regularizers as graph ops: the l1 and l2 weight
 * penalties, dropout and alpha dropout, and the two gradient-clipping
 * ops (identity forward, clipping backward).  See doc/regularization.md.
 *
 *   l1_penalty:  y = lambda * sum |w|           dw = g lambda sign(w)
 *   l2_penalty:  y = c lambda * sum w^2         dw = g 2 c lambda w
 *                (c = 1/2 for convention=half, the default; 1 for full)
 *   dropout:     y = x m / (1 - p), m ~ Bernoulli(1 - p)
 *                dx = g m / (1 - p)
 *   alpha_dropout (Klambauer et al. 2017, PyTorch's form), A' = -1.7581:
 *                y = a (x m + A' (1 - m)) + b,
 *                a = ((1 - p)(1 + p A'^2))^-1/2, b = -a A' p
 *                dx = g a m
 *   clip_grad_value: y = x, dx = clamp(g, -clip, clip)
 *   clip_grad_norm:  y = x, dx = g min(1, max_norm / (||g||_2 + 1e-6))
 *
 * The dropouts draw their mask from the graph's generator and save it,
 * so backward uses the mask forward drew.  In evaluation mode, and for
 * p = 0, they are the identity and draw nothing; p = 1 gives zeros.
 * Dropped elements are computed as x * 0 (+ the alpha constant), as
 * PyTorch multiplies by the mask: a NaN or infinite input stays NaN.
 */
#include <math.h>
#include "elementwise.h"

/* ---- l1 and l2 penalties ---- */

enum { L2_HALF, L2_FULL };

typedef struct penalty_attrs {
	double lambda;
	int convention; /* l2 only */
} penalty_attrs;

/* The only input of every regularizer. */
static const nb_input_def reg_inputs[] = {
	{.name = "input"},
};

static const nb_attr_def l1_defs[] = {
	{.name = "lambda", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(penalty_attrs, lambda), .def = 1,
	 .range = NB_AT_LEAST(0), .doc = "weight of the penalty"},
};

static const nb_attr_def l2_defs[] = {
	{.name = "lambda", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(penalty_attrs, lambda), .def = 1,
	 .range = NB_AT_LEAST(0), .doc = "weight of the penalty"},
	{.name = "convention", .type = NB_ATTR_ENUM,
	 .offset = offsetof(penalty_attrs, convention), .def = L2_HALF,
	 .choices = "half|full",
	 .doc = "half: lambda/2 sum w^2 (gradient lambda w, as SGD "
	        "weight_decay); full: lambda sum w^2"},
};

static nb_status scalar_shape(nb_op_ctx *c, nb_result_def *res)
{
	(void)c;
	res->ndim = 0;
	return NB_OK;
}

/* sum |x| (square = false) or sum x^2, accumulated in double. */
static double psum_float(const float *x, size_t n, bool square)
{
	double s = 0;
	if (square)
		for (size_t i = 0; i < n; i++)
			s += (double)x[i] * x[i];
	else
		for (size_t i = 0; i < n; i++)
			s += fabsf(x[i]);
	return s;
}

static double psum_double(const double *x, size_t n, bool square)
{
	double s = 0;
	if (square)
		for (size_t i = 0; i < n; i++)
			s += x[i] * x[i];
	else
		for (size_t i = 0; i < n; i++)
			s += fabs(x[i]);
	return s;
}

/* dx += k sign(x) (square = false) or k x. */
static void pgrad_float(const float *x, float *dx, size_t n, float k,
                        bool square)
{
	if (square)
		for (size_t i = 0; i < n; i++)
			dx[i] += k * x[i];
	else
		for (size_t i = 0; i < n; i++)
			dx[i] += x[i] > 0 ? k : x[i] < 0 ? -k : 0.0f;
}

static void pgrad_double(const double *x, double *dx, size_t n, double k,
                         bool square)
{
	if (square)
		for (size_t i = 0; i < n; i++)
			dx[i] += k * x[i];
	else
		for (size_t i = 0; i < n; i++)
			dx[i] += x[i] > 0 ? k : x[i] < 0 ? -k : 0.0;
}

/* The factor c in y = c lambda sum(...): 1 for l1 and full l2. */
static double penalty_factor(const nb_op_ctx *c, bool square)
{
	const penalty_attrs *a = c->attrs;
	return square && a->convention == L2_HALF ? 0.5 : 1.0;
}

static nb_status penalty_forward(nb_op_ctx *c, bool square)
{
	const nb_tensor *x = c->in[0];
	const penalty_attrs *a = c->attrs;
	double s = x->dtype == NB_F32 ? psum_float(x->data, x->numel, square)
	                              : psum_double(x->data, x->numel, square);
	nb_tensor_set(c->out, 0, penalty_factor(c, square) * a->lambda * s);
	return NB_OK;
}

static nb_status penalty_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin, bool square)
{
	const nb_tensor *x = c->in[0];
	const penalty_attrs *a = c->attrs;
	/* d/dw of c lambda w^2 is 2 c lambda w. */
	double k = nb_tensor_get(gout, 0) * a->lambda *
	           penalty_factor(c, square) * (square ? 2 : 1);
	if (x->dtype == NB_F32)
		pgrad_float(x->data, gin[0]->data, x->numel, (float)k, square);
	else
		pgrad_double(x->data, gin[0]->data, x->numel, k, square);
	return NB_OK;
}

static nb_status l1_forward(nb_op_ctx *c)
{
	return penalty_forward(c, false);
}

static nb_status l1_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	return penalty_backward(c, gout, gin, false);
}

static nb_status l2_forward(nb_op_ctx *c)
{
	return penalty_forward(c, true);
}

static nb_status l2_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	return penalty_backward(c, gout, gin, true);
}

static const nb_op_test l1_test = {
	.cases = "[3,4]; [5]|lambda=0.25; []|lambda=2",
	.kinks = {0},
	.n_kinks = 1,
};

static const nb_op l1_penalty_op = {
	.version = NB_OP_VERSION,
	.name = "l1_penalty",
	.kind = NB_KIND_REGULARIZER,
	.doc = "lambda * sum |w|, a scalar to add to the loss",
	.inputs = reg_inputs,
	.n_inputs = 1,
	.attrs = l1_defs,
	.n_attrs = (int)(sizeof l1_defs / sizeof *l1_defs),
	.attrs_size = sizeof(penalty_attrs),
	.shape = scalar_shape,
	.forward = l1_forward,
	.backward = l1_backward,
	.test = &l1_test,
};

static const nb_op_test l2_test = {
	.cases = "[3,4]; [5]|lambda=0.25 convention=full; "
	         "[2,3]|convention=full",
};

static const nb_op l2_penalty_op = {
	.version = NB_OP_VERSION,
	.name = "l2_penalty",
	.kind = NB_KIND_REGULARIZER,
	.doc = "lambda/2 * sum w^2 (convention=half) or lambda * sum w^2 "
	       "(full), a scalar to add to the loss",
	.inputs = reg_inputs,
	.n_inputs = 1,
	.attrs = l2_defs,
	.n_attrs = (int)(sizeof l2_defs / sizeof *l2_defs),
	.attrs_size = sizeof(penalty_attrs),
	.shape = scalar_shape,
	.forward = l2_forward,
	.backward = l2_backward,
	.test = &l2_test,
};

/* ---- dropout and alpha dropout ---- */

typedef struct dropout_attrs {
	double p;
} dropout_attrs;

static const nb_attr_def dropout_defs[] = {
	{.name = "p", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(dropout_attrs, p), .def = 0.5,
	 .range = NB_RANGE(0, 1),
	 .doc = "probability of dropping an element"},
};

/* SELU's alpha * scale: alpha' = -1.7580993408473766 is A' = -this. */
#define SELU_ALPHA_SCALE 1.7580993408473766

enum { DROP_IDENTITY, DROP_ZERO, DROP_MASK };

/*
 * What forward leaves for backward: the case, and for DROP_MASK the
 * affine map of kept elements (y = x * scale + shift; dropped ones are
 * x * 0 + `dropped`) and the mask itself, one byte per element.
 */
typedef struct drop_saved {
	int mode;
	double scale, shift, dropped;
	unsigned char mask[];
} drop_saved;

static void drop_apply_float(const float *x, float *y, const drop_saved *s,
                             size_t n)
{
	const float scale = (float)s->scale, shift = (float)s->shift;
	const float dropped = (float)s->dropped;
	for (size_t i = 0; i < n; i++)
		y[i] = s->mask[i] ? x[i] * scale + shift
		                  : x[i] * 0.0f + dropped;
}

static void drop_apply_double(const double *x, double *y,
                              const drop_saved *s, size_t n)
{
	const double scale = s->scale, shift = s->shift;
	const double dropped = s->dropped;
	for (size_t i = 0; i < n; i++)
		y[i] = s->mask[i] ? x[i] * scale + shift
		                  : x[i] * 0.0 + dropped;
}

/* p = 1: x * 0, so that NaN and infinities give NaN. */
static void drop_zero_float(const float *x, float *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] * 0.0f;
}

static void drop_zero_double(const double *x, double *y, size_t n)
{
	for (size_t i = 0; i < n; i++)
		y[i] = x[i] * 0.0;
}

/* dx += g m scale, or = into a fresh gradient.  g is read
 * unconditionally: a select, so that it vectorizes. */
static void drop_grad_float(const float *restrict g, float *restrict dx,
                            const drop_saved *s, size_t n, bool fresh)
{
	const float scale = (float)s->scale;
	const unsigned char *restrict m = s->mask;
	if (fresh)
		for (size_t i = 0; i < n; i++) {
			float v = g[i] * scale;
			dx[i] = m[i] ? v : 0.0f;
		}
	else
		for (size_t i = 0; i < n; i++) {
			float v = g[i] * scale;
			dx[i] += m[i] ? v : 0.0f;
		}
}

static void drop_grad_double(const double *restrict g, double *restrict dx,
                             const drop_saved *s, size_t n, bool fresh)
{
	const double scale = s->scale;
	const unsigned char *restrict m = s->mask;
	if (fresh)
		for (size_t i = 0; i < n; i++) {
			double v = g[i] * scale;
			dx[i] = m[i] ? v : 0.0;
		}
	else
		for (size_t i = 0; i < n; i++) {
			double v = g[i] * scale;
			dx[i] += m[i] ? v : 0.0;
		}
}

static nb_status dropout_run(nb_op_ctx *c, bool alpha)
{
	const nb_tensor *x = c->in[0];
	double p = ((const dropout_attrs *)c->attrs)->p, q = 1 - p;
	int mode = !nb_op_training(c) || p == 0 ? DROP_IDENTITY
	         : p == 1 ? DROP_ZERO : DROP_MASK;
	drop_saved *s = nb_op_save(c, sizeof *s +
	                           (mode == DROP_MASK ? x->numel : 0));
	if (!s)
		return NB_ENOMEM;
	s->mode = mode;
	if (mode == DROP_IDENTITY)
		memcpy(c->out->data, x->data, nb__nbytes(x));
	if (mode == DROP_ZERO && x->dtype == NB_F32)
		drop_zero_float(x->data, c->out->data, x->numel);
	else if (mode == DROP_ZERO)
		drop_zero_double(x->data, c->out->data, x->numel);
	if (mode != DROP_MASK)
		return NB_OK;
	if (alpha) {
		double a = 1 / sqrt(q * (1 + p * SELU_ALPHA_SCALE *
		                         SELU_ALPHA_SCALE));
		s->scale = a;
		s->shift = SELU_ALPHA_SCALE * a * p;
		s->dropped = -SELU_ALPHA_SCALE * a + s->shift;
	} else {
		s->scale = 1 / q;
	}
	/* Keep with probability q: Bernoulli(1 - p), as PyTorch; 24-bit
	 * uniforms, two per draw (doc/regularization.md). */
	nb__rng_keep_mask(nb_op_rng(c), s->mask, x->numel, q);
	if (x->dtype == NB_F32)
		drop_apply_float(x->data, c->out->data, s, x->numel);
	else
		drop_apply_double(x->data, c->out->data, s, x->numel);
	return NB_OK;
}

static nb_status dropout_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	const drop_saved *s = c->saved;
	nb_tensor *dx = gin[0];
	bool fresh = c->fresh & 1;
	if (s->mode == DROP_IDENTITY && fresh)
		memcpy(dx->data, gout->data, nb__nbytes(dx));
	else if (s->mode == DROP_IDENTITY)
		nb__tensor_acc(dx, gout);
	else if (s->mode == DROP_ZERO && fresh)
		memset(dx->data, 0, nb__nbytes(dx)); /* all bits 0 is +0 */
	else if (s->mode == DROP_MASK && dx->dtype == NB_F32)
		drop_grad_float(gout->data, dx->data, s, dx->numel, fresh);
	else if (s->mode == DROP_MASK)
		drop_grad_double(gout->data, dx->data, s, dx->numel, fresh);
	return NB_OK;
}

static nb_status dropout_forward(nb_op_ctx *c)
{
	return dropout_run(c, false);
}

static nb_status alpha_dropout_forward(nb_op_ctx *c)
{
	return dropout_run(c, true);
}

/* The same cases for both dropouts. */
static const nb_op_test dropout_test = {
	.cases = "[4,5]; [4,5]|p=0.2; [6]|p=0; [6]|p=1",
};

static const nb_op dropout_op = {
	.version = NB_OP_VERSION,
	.name = "dropout",
	.kind = NB_KIND_REGULARIZER,
	.doc = "inverted dropout: zero with probability p, scale the rest by "
	       "1/(1-p); identity in eval mode",
	.inputs = reg_inputs,
	.n_inputs = 1,
	.attrs = dropout_defs,
	.n_attrs = (int)(sizeof dropout_defs / sizeof *dropout_defs),
	.attrs_size = sizeof(dropout_attrs),
	.flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH |
	         NB_OP_LAYER,
	.layer_prefix = "drop",
	.forward = dropout_forward,
	.backward = dropout_backward,
	.test = &dropout_test,
};

static const nb_op alpha_dropout_op = {
	.version = NB_OP_VERSION,
	.name = "alpha_dropout",
	.kind = NB_KIND_REGULARIZER,
	.doc = "dropout for SELU networks: keeps mean and variance; identity "
	       "in eval mode",
	.inputs = reg_inputs,
	.n_inputs = 1,
	.attrs = dropout_defs,
	.n_attrs = (int)(sizeof dropout_defs / sizeof *dropout_defs),
	.attrs_size = sizeof(dropout_attrs),
	.flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH |
	         NB_OP_LAYER,
	.forward = alpha_dropout_forward,
	.backward = dropout_backward,
	.test = &dropout_test,
};

/* ---- gradient clipping: identity forward, clipping backward ---- */

typedef struct clip_value_attrs {
	double clip;
} clip_value_attrs;

typedef struct clip_norm_attrs {
	double max_norm;
} clip_norm_attrs;

static const nb_attr_def clip_value_defs[] = {
	{.name = "clip", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clip_value_attrs, clip), .def = 1,
	 .range = NB_AT_LEAST(0),
	 .doc = "the gradient is clamped to [-clip, clip]"},
};

static const nb_attr_def clip_norm_defs[] = {
	{.name = "max_norm", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clip_norm_attrs, max_norm), .def = 1,
	 .range = NB_AT_LEAST(0),
	 .doc = "largest L2 norm of the gradient passed back"},
};

static nb_status identity_forward(nb_op_ctx *c)
{
	memcpy(c->out->data, c->in[0]->data, nb__nbytes(c->in[0]));
	return NB_OK;
}

static void clamp_acc_float(const float *g, float *dx, size_t n, float lim)
{
	for (size_t i = 0; i < n; i++)
		dx[i] += g[i] > lim ? lim : g[i] < -lim ? -lim : g[i];
}

static void clamp_acc_double(const double *g, double *dx, size_t n,
                             double lim)
{
	for (size_t i = 0; i < n; i++)
		dx[i] += g[i] > lim ? lim : g[i] < -lim ? -lim : g[i];
}

/* ||g||_2, the squares summed in double. */
static double norm2_float(const float *g, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)g[i] * g[i];
	return sqrt(s);
}

static double norm2_double(const double *g, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += g[i] * g[i];
	return sqrt(s);
}

static void scale_acc_float(const float *g, float *dx, size_t n, float k)
{
	for (size_t i = 0; i < n; i++)
		dx[i] += g[i] * k;
}

static void scale_acc_double(const double *g, double *dx, size_t n, double k)
{
	for (size_t i = 0; i < n; i++)
		dx[i] += g[i] * k;
}

static nb_status clip_value_backward(nb_op_ctx *c, const nb_tensor *gout,
                                     nb_tensor *const *gin)
{
	double lim = ((const clip_value_attrs *)c->attrs)->clip;
	if (gout->dtype == NB_F32)
		clamp_acc_float(gout->data, gin[0]->data, gout->numel,
		                (float)lim);
	else
		clamp_acc_double(gout->data, gin[0]->data, gout->numel, lim);
	return NB_OK;
}

/*
 * torch.nn.utils.clip_grad_norm_'s coefficient: max_norm / (norm + 1e-6)
 * clamped to 1.  A NaN norm gives NaN (as PyTorch), an infinite one 0.
 */
static double clip_coef(double max_norm, double norm)
{
	double k = max_norm / (norm + 1e-6);
	return k < 1 || isnan(k) ? k : 1;
}

static nb_status clip_norm_backward(nb_op_ctx *c, const nb_tensor *gout,
                                    nb_tensor *const *gin)
{
	double max_norm = ((const clip_norm_attrs *)c->attrs)->max_norm;
	if (gout->dtype == NB_F32)
		scale_acc_float(gout->data, gin[0]->data, gout->numel,
		                (float)clip_coef(max_norm, norm2_float(
		                    gout->data, gout->numel)));
	else
		scale_acc_double(gout->data, gin[0]->data, gout->numel,
		                 clip_coef(max_norm, norm2_double(gout->data,
		                                                  gout->numel)));
	return NB_OK;
}

/* The documented rules, written plainly for gradcheck to compare with. */
static void clip_value_rule(const void *attrs, const nb_tensor *gout,
                            nb_tensor *expect)
{
	double lim = ((const clip_value_attrs *)attrs)->clip;
	for (size_t i = 0; i < nb_tensor_numel(gout); i++)
		nb_tensor_set(expect, i, fmin(lim, fmax(-lim,
		                                        nb_tensor_get(gout, i))));
}

static void clip_norm_rule(const void *attrs, const nb_tensor *gout,
                           nb_tensor *expect)
{
	double max_norm = ((const clip_norm_attrs *)attrs)->max_norm, s = 0;
	size_t n = nb_tensor_numel(gout);
	for (size_t i = 0; i < n; i++)
		s += nb_tensor_get(gout, i) * nb_tensor_get(gout, i);
	double norm = sqrt(s);
	double k = norm > max_norm - 1e-6 ? max_norm / (norm + 1e-6) : 1;
	for (size_t i = 0; i < n; i++)
		nb_tensor_set(expect, i, k * nb_tensor_get(gout, i));
}

static const nb_op_test clip_value_test = {
	.cases = "[3,4]; [5]|clip=0.5",
	.grad_rule = clip_value_rule,
};

static const nb_op clip_grad_value_op = {
	.version = NB_OP_VERSION,
	.name = "clip_grad_value",
	.kind = NB_KIND_REGULARIZER,
	.doc = "identity; backward clamps the gradient to [-clip, clip]",
	.inputs = reg_inputs,
	.n_inputs = 1,
	.attrs = clip_value_defs,
	.n_attrs = (int)(sizeof clip_value_defs / sizeof *clip_value_defs),
	.attrs_size = sizeof(clip_value_attrs),
	.flags = NB_OP_GRAD_MODIFYING | NB_OP_LAYER,
	.forward = identity_forward,
	.backward = clip_value_backward,
	.test = &clip_value_test,
};

static const nb_op_test clip_norm_test = {
	.cases = "[3,4]; [5]|max_norm=2",
	.grad_rule = clip_norm_rule,
};

static const nb_op clip_grad_norm_op = {
	.version = NB_OP_VERSION,
	.name = "clip_grad_norm",
	.kind = NB_KIND_REGULARIZER,
	.doc = "identity; backward rescales the gradient to L2 norm max_norm "
	       "when it is larger",
	.inputs = reg_inputs,
	.n_inputs = 1,
	.attrs = clip_norm_defs,
	.n_attrs = (int)(sizeof clip_norm_defs / sizeof *clip_norm_defs),
	.attrs_size = sizeof(clip_norm_attrs),
	.flags = NB_OP_GRAD_MODIFYING | NB_OP_LAYER,
	.forward = identity_forward,
	.backward = clip_norm_backward,
	.test = &clip_norm_test,
};

/* ---- the family, in the order of `nabla ops` ---- */

const nb_op *const nb__regularize_ops[] = {
	&l1_penalty_op, &l2_penalty_op, &dropout_op, &alpha_dropout_op,
	&clip_grad_value_op, &clip_grad_norm_op, NULL,
};

/* ---- typed wrappers ---- */

nb_tensor *nb_l1_penalty(nb_graph *g, nb_tensor *w, double lambda)
{
	penalty_attrs a = {lambda, 0};
	return nb_apply(g, &l1_penalty_op, 1, &w, &a);
}

nb_tensor *nb_l2_penalty(nb_graph *g, nb_tensor *w, double lambda,
                         nb_l2_convention conv)
{
	penalty_attrs a = {lambda, conv == NB_L2_FULL ? L2_FULL : L2_HALF};
	if (conv != NB_L2_HALF && conv != NB_L2_FULL) {
		if (g)
			nb__graph_fail(g, NB_EINVAL, "l2_penalty: unknown "
			               "convention %d", (int)conv);
		return NULL;
	}
	return nb_apply(g, &l2_penalty_op, 1, &w, &a);
}

nb_tensor *nb_penalty_sum(nb_graph *g, nb_tensor *const *params, size_t n,
                          nb_penalty kind, double lambda)
{
	if (!g) {
		nb__set_error(NB_EINVAL, "penalty_sum: graph is NULL");
		return NULL;
	}
	if (!params || n == 0) {
		nb__graph_fail(g, NB_EINVAL, "penalty_sum: no parameters");
		return NULL;
	}
	if (kind != NB_PENALTY_L1 && kind != NB_PENALTY_L2_HALF &&
	    kind != NB_PENALTY_L2_FULL) {
		nb__graph_fail(g, NB_EINVAL, "penalty_sum: unknown penalty %d",
		               (int)kind);
		return NULL;
	}
	nb_tensor *total = NULL;
	for (size_t i = 0; i < n; i++) {
		nb_tensor *p = kind == NB_PENALTY_L1
		    ? nb_l1_penalty(g, params[i], lambda)
		    : nb_l2_penalty(g, params[i], lambda,
		                    kind == NB_PENALTY_L2_FULL ? NB_L2_FULL
		                                               : NB_L2_HALF);
		total = total ? nb_add(g, total, p) : p;
		if (!total)
			return NULL;
	}
	return total;
}

nb_tensor *nb_dropout(nb_graph *g, nb_tensor *x, double p)
{
	dropout_attrs a = {p};
	return nb_apply(g, &dropout_op, 1, &x, &a);
}

nb_tensor *nb_alpha_dropout(nb_graph *g, nb_tensor *x, double p)
{
	dropout_attrs a = {p};
	return nb_apply(g, &alpha_dropout_op, 1, &x, &a);
}

nb_tensor *nb_clip_grad_value_op(nb_graph *g, nb_tensor *x, double clip)
{
	clip_value_attrs a = {clip};
	return nb_apply(g, &clip_grad_value_op, 1, &x, &a);
}

nb_tensor *nb_clip_grad_norm_op(nb_graph *g, nb_tensor *x, double max_norm)
{
	clip_norm_attrs a = {max_norm};
	return nb_apply(g, &clip_grad_norm_op, 1, &x, &a);
}
