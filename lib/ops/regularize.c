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

static const nb_attr_def l1_defs[] = {
	{"lambda", NB_ATTR_FLOAT, offsetof(penalty_attrs, lambda), 1, 0,
	 INFINITY, NULL, 0, "weight of the penalty"},
};

static const nb_attr_def l2_defs[] = {
	{"lambda", NB_ATTR_FLOAT, offsetof(penalty_attrs, lambda), 1, 0,
	 INFINITY, NULL, 0, "weight of the penalty"},
	{"convention", NB_ATTR_ENUM, offsetof(penalty_attrs, convention),
	 L2_HALF, 1, 0, "half|full", 0,
	 "half: lambda/2 sum w^2 (gradient lambda w, as SGD weight_decay); "
	 "full: lambda sum w^2"},
};

static nb_status scalar_shape(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                              int64_t *shape)
{
	(void)c;
	(void)dt;
	(void)shape;
	*ndim = 0;
	return NB_OK;
}

/* sum |x| (square = false) or sum x^2, accumulated in double. */
#define PENALTY_T(T)                                                         \
	static double psum_##T(const T *x, size_t n, bool square)            \
	{                                                                    \
		double s = 0;                                                \
		if (square)                                                  \
			for (size_t i = 0; i < n; i++)                       \
				s += (double)x[i] * x[i];                    \
		else                                                         \
			for (size_t i = 0; i < n; i++)                       \
				s += fabs((double)x[i]);                     \
		return s;                                                    \
	}                                                                    \
	/* dx += k sign(x) (square = false) or k x. */                       \
	static void pgrad_##T(const T *x, T *dx, size_t n, T k, bool square) \
	{                                                                    \
		if (square)                                                  \
			for (size_t i = 0; i < n; i++)                       \
				dx[i] += k * x[i];                           \
		else                                                         \
			for (size_t i = 0; i < n; i++)                       \
				dx[i] += x[i] > 0 ? k : x[i] < 0 ? -k : 0;   \
	}
PENALTY_T(float)
PENALTY_T(double)

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

/* ---- dropout and alpha dropout ---- */

typedef struct dropout_attrs {
	double p;
} dropout_attrs;

static const nb_attr_def dropout_defs[] = {
	{"p", NB_ATTR_FLOAT, offsetof(dropout_attrs, p), 0.5, 0, 1, NULL, 0,
	 "probability of dropping an element"},
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

#define DROP_APPLY_T(T)                                                      \
	static void drop_apply_##T(const T *x, T *y, const drop_saved *s,    \
	                           size_t n)                                 \
	{                                                                    \
		const T scale = (T)s->scale, shift = (T)s->shift;            \
		const T dropped = (T)s->dropped;                             \
		for (size_t i = 0; i < n; i++)                               \
			y[i] = s->mask[i] ? x[i] * scale + shift             \
			                  : x[i] * (T)0 + dropped;           \
	}                                                                    \
	/* p = 1: x * 0, so that NaN and infinities give NaN. */            \
	static void drop_zero_##T(const T *x, T *y, size_t n)                \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			y[i] = x[i] * (T)0;                                  \
	}                                                                    \
	/* dx += g m scale, or = into a fresh gradient */                   \
	static void drop_grad_##T(const T *restrict g, T *restrict dx,       \
	                          const drop_saved *s, size_t n, bool fresh) \
	{                                                                    \
		const T scale = (T)s->scale;                                 \
		const unsigned char *restrict m = s->mask;                   \
		/* g read unconditionally: a select, so that it vectorizes */\
		if (fresh)                                                   \
			for (size_t i = 0; i < n; i++) {                     \
				T v = g[i] * scale;                          \
				dx[i] = m[i] ? v : (T)0;                     \
			}                                                    \
		else                                                         \
			for (size_t i = 0; i < n; i++) {                     \
				T v = g[i] * scale;                          \
				dx[i] += m[i] ? v : (T)0;                    \
			}                                                    \
	}
DROP_APPLY_T(float)
DROP_APPLY_T(double)

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

/* ---- gradient clipping: identity forward, clipping backward ---- */

typedef struct clip_value_attrs {
	double clip;
} clip_value_attrs;

typedef struct clip_norm_attrs {
	double max_norm;
} clip_norm_attrs;

static const nb_attr_def clip_value_defs[] = {
	{"clip", NB_ATTR_FLOAT, offsetof(clip_value_attrs, clip), 1, 0,
	 INFINITY, NULL, 0, "the gradient is clamped to [-clip, clip]"},
};

static const nb_attr_def clip_norm_defs[] = {
	{"max_norm", NB_ATTR_FLOAT, offsetof(clip_norm_attrs, max_norm), 1, 0,
	 INFINITY, NULL, 0, "largest L2 norm of the gradient passed back"},
};

static nb_status identity_forward(nb_op_ctx *c)
{
	memcpy(c->out->data, c->in[0]->data, nb__nbytes(c->in[0]));
	return NB_OK;
}

#define CLIP_T(T)                                                            \
	static void clamp_acc_##T(const T *g, T *dx, size_t n, T lim)        \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			dx[i] += g[i] > lim ? lim : g[i] < -lim ? -lim : g[i];\
	}                                                                    \
	static double norm2_##T(const T *g, size_t n)                        \
	{                                                                    \
		double s = 0;                                                \
		for (size_t i = 0; i < n; i++)                               \
			s += (double)g[i] * g[i];                            \
		return sqrt(s);                                              \
	}                                                                    \
	static void scale_acc_##T(const T *g, T *dx, size_t n, T k)          \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			dx[i] += g[i] * k;                                   \
	}
CLIP_T(float)
CLIP_T(double)

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

/* ---- the table ---- */

enum {
	OP_L1, OP_L2, OP_DROPOUT, OP_ALPHA_DROPOUT, OP_CLIP_VALUE,
	OP_CLIP_NORM
};

#define REG_ROW(NAME, DOC, DEFS, ATYPE, FWD, BWD, CASES, ...)                \
	{                                                                    \
		.name = NAME, .kind = NB_KIND_REGULARIZER, .doc = DOC,       \
		.n_inputs = 1, .input_names = "input", .attrs = DEFS,        \
		.n_attrs = (int)(sizeof(DEFS) / sizeof(nb_attr_def)),        \
		.attrs_size = sizeof(ATYPE), .forward = FWD,                 \
		.backward = BWD, .cases = CASES, __VA_ARGS__                 \
	}

static const nb_op ops[] = {
	[OP_L1] = REG_ROW("l1_penalty", "lambda * sum |w|, a scalar to add "
	    "to the loss", l1_defs, penalty_attrs, l1_forward, l1_backward,
	    "[3,4]; [5]|lambda=0.25; []|lambda=2", .shape = scalar_shape,
	    .kinks = {0}, .n_kinks = 1),
	[OP_L2] = REG_ROW("l2_penalty", "lambda/2 * sum w^2 (convention=half)"
	    " or lambda * sum w^2 (full), a scalar to add to the loss",
	    l2_defs, penalty_attrs, l2_forward, l2_backward,
	    "[3,4]; [5]|lambda=0.25 convention=full; [2,3]|convention=full",
	    .shape = scalar_shape),
	[OP_DROPOUT] = REG_ROW("dropout", "inverted dropout: zero with "
	    "probability p, scale the rest by 1/(1-p); identity in eval mode",
	    dropout_defs, dropout_attrs, dropout_forward, dropout_backward,
	    "[4,5]; [4,5]|p=0.2; [6]|p=0; [6]|p=1",
	    .flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH),
	[OP_ALPHA_DROPOUT] = REG_ROW("alpha_dropout", "dropout for SELU "
	    "networks: keeps mean and variance; identity in eval mode",
	    dropout_defs, dropout_attrs, alpha_dropout_forward,
	    dropout_backward, "[4,5]; [4,5]|p=0.2; [6]|p=0; [6]|p=1",
	    .flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH),
	[OP_CLIP_VALUE] = REG_ROW("clip_grad_value", "identity; backward "
	    "clamps the gradient to [-clip, clip]", clip_value_defs,
	    clip_value_attrs, identity_forward, clip_value_backward,
	    "[3,4]; [5]|clip=0.5", .flags = NB_OP_GRAD_MODIFYING,
	    .grad_rule = clip_value_rule),
	[OP_CLIP_NORM] = REG_ROW("clip_grad_norm", "identity; backward "
	    "rescales the gradient to L2 norm max_norm when it is larger",
	    clip_norm_defs, clip_norm_attrs, identity_forward,
	    clip_norm_backward, "[3,4]; [5]|max_norm=2",
	    .flags = NB_OP_GRAD_MODIFYING, .grad_rule = clip_norm_rule),
};

nb_status nb__register_regularize(void)
{
	return nb__register_table(ops, sizeof ops / sizeof *ops);
}

/* ---- typed wrappers ---- */

nb_tensor *nb_l1_penalty(nb_graph *g, nb_tensor *w, double lambda)
{
	penalty_attrs a = {lambda, 0};
	return nb_apply(g, &ops[OP_L1], 1, &w, &a);
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
	return nb_apply(g, &ops[OP_L2], 1, &w, &a);
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
	return nb_apply(g, &ops[OP_DROPOUT], 1, &x, &a);
}

nb_tensor *nb_alpha_dropout(nb_graph *g, nb_tensor *x, double p)
{
	dropout_attrs a = {p};
	return nb_apply(g, &ops[OP_ALPHA_DROPOUT], 1, &x, &a);
}

nb_tensor *nb_clip_grad_value_op(nb_graph *g, nb_tensor *x, double clip)
{
	clip_value_attrs a = {clip};
	return nb_apply(g, &ops[OP_CLIP_VALUE], 1, &x, &a);
}

nb_tensor *nb_clip_grad_norm_op(nb_graph *g, nb_tensor *x, double max_norm)
{
	clip_norm_attrs a = {max_norm};
	return nb_apply(g, &ops[OP_CLIP_NORM], 1, &x, &a);
}
