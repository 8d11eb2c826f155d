/*
 * loss.c - softmax and log_softmax along an axis, and the losses mse and
 * cross_entropy (mean reduction).
 *
 * All use the max-shifted log-sum-exp, lse(x) = m + log(sum exp(x - m))
 * with m = max x, so finite logits of any size give finite results.
 *   softmax:     dx = y * (g - sum(g * y))
 *   log_softmax: dx = g - exp(y) * sum(g)
 *   cross_entropy, target t, smoothing e over C classes, count n:
 *     loss = sum_i [(1 - e)(lse_i - x_i,t) + e (lse_i - mean_c x_i,c)] / n
 *     dx_i,c = g * (softmax_i,c - (1 - e)[c = t] - e / C) / n
 */
#include <math.h>
#include "elementwise.h"

typedef struct axis_attrs {
	int64_t axis;
} axis_attrs;

static const nb_attr_def axis_defs[] = {
	{"axis", NB_ATTR_INT, offsetof(axis_attrs, axis), -1, 1, 0, NULL, 0,
	 "the axis to normalize over"},
};

/* [outer, n, inner] view of x around axis. */
static void split_axis(const nb_tensor *x, int ax, size_t *outer, size_t *n,
                       size_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int i = 0; i < ax; i++)
		*outer *= (size_t)x->shape[i];
	for (int i = ax + 1; i < x->ndim; i++)
		*inner *= (size_t)x->shape[i];
	*n = x->ndim ? (size_t)x->shape[ax] : 1;
}

static nb_status axis_shape(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                            int64_t *shape)
{
	const axis_attrs *a = c->attrs;
	int ax;
	(void)dt;
	(void)shape;
	if (!nb__axis(*ndim, a->axis, &ax))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)a->axis, *ndim);
	return NB_OK;
}

static int get_axis(const nb_op_ctx *c)
{
	int ax = 0;
	nb__axis(c->in[0]->ndim, ((const axis_attrs *)c->attrs)->axis, &ax);
	return ax;
}

/* y = softmax (log_ = false) or log_softmax (log_ = true) of x. */
#define SOFTMAX_T(T)                                                         \
	static void softmax_##T(const T *x, T *y, size_t outer, size_t n,    \
	                        size_t inner, bool log_)                     \
	{                                                                    \
		for (size_t o = 0; o < outer; o++)                           \
			for (size_t j = 0; j < inner; j++) {                 \
				const T *xp = x + o * n * inner + j;         \
				T *yp = y + o * n * inner + j;               \
				T m = -INFINITY, s = 0;                      \
				for (size_t i = 0; i < n; i++)               \
					m = xp[i * inner] > m ? xp[i * inner] : m; \
				/* A row of -inf: exp(-inf - 0) = 0, sum 0,  \
				 * NaN out, as PyTorch.  +inf is not reset:  \
				 * inf - inf makes the row NaN, as PyTorch. */\
				if (m == -INFINITY)                          \
					m = 0;                               \
				for (size_t i = 0; i < n; i++)               \
					s += exp(xp[i * inner] - m);         \
				/* (x - m) - log s, not x - (m + log s):  \
				 * m + log s rounds away small terms. */  \
				T ls = log(s);                               \
				for (size_t i = 0; i < n; i++)               \
					yp[i * inner] = log_                 \
					    ? (xp[i * inner] - m) - ls       \
					    : (T)exp(xp[i * inner] - m) / s; \
			}                                                    \
	}                                                                    \
	static void softmax_bwd_##T(const T *y, const T *g, T *dx,           \
	                            size_t outer, size_t n, size_t inner,    \
	                            bool log_)                               \
	{                                                                    \
		for (size_t o = 0; o < outer; o++)                           \
			for (size_t j = 0; j < inner; j++) {                 \
				size_t b = o * n * inner + j;                \
				T s = 0;                                     \
				for (size_t i = 0; i < n; i++)               \
					s += log_ ? g[b + i * inner]         \
					          : g[b + i * inner] *       \
					            y[b + i * inner];        \
				for (size_t i = 0; i < n; i++) {             \
					size_t k = b + i * inner;            \
					dx[k] += log_ ? g[k] - (T)exp(y[k]) * s \
					              : y[k] * (g[k] - s);   \
				}                                            \
			}                                                    \
	}
SOFTMAX_T(float)
SOFTMAX_T(double)

static nb_status run_softmax(nb_op_ctx *c, bool log_)
{
	size_t outer, n, inner;
	split_axis(c->in[0], get_axis(c), &outer, &n, &inner);
	if (c->out->dtype == NB_F32)
		softmax_float(c->in[0]->data, c->out->data, outer, n, inner, log_);
	else
		softmax_double(c->in[0]->data, c->out->data, outer, n, inner,
		               log_);
	return NB_OK;
}

static nb_status run_softmax_bwd(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin, bool log_)
{
	size_t outer, n, inner;
	split_axis(c->in[0], get_axis(c), &outer, &n, &inner);
	if (gout->dtype == NB_F32)
		softmax_bwd_float(c->out->data, gout->data, gin[0]->data, outer,
		                  n, inner, log_);
	else
		softmax_bwd_double(c->out->data, gout->data, gin[0]->data, outer,
		                   n, inner, log_);
	return NB_OK;
}

static nb_status softmax_forward(nb_op_ctx *c)
{
	return run_softmax(c, false);
}

static nb_status log_softmax_forward(nb_op_ctx *c)
{
	return run_softmax(c, true);
}

static nb_status softmax_backward(nb_op_ctx *c, const nb_tensor *g,
                                  nb_tensor *const *gin)
{
	return run_softmax_bwd(c, g, gin, false);
}

static nb_status log_softmax_backward(nb_op_ctx *c, const nb_tensor *g,
                                      nb_tensor *const *gin)
{
	return run_softmax_bwd(c, g, gin, true);
}

/* ---- mse ---- */

static bool same_shape(const nb_tensor *a, const nb_tensor *b)
{
	return a->ndim == b->ndim &&
	       !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape);
}

static nb_status mse_shape(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                           int64_t *shape)
{
	(void)dt;
	(void)shape;
	if (!same_shape(c->in[0], c->in[1]))
		return nb_op_fail(c, NB_ESHAPE, "input and target must have the "
		                  "same shape");
	*ndim = 0;
	return NB_OK;
}

static nb_status mse_forward(nb_op_ctx *c)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	double s = 0;
	for (size_t i = 0; i < a->numel; i++) {
		double d = nb_tensor_get(a, i) - nb_tensor_get(b, i);
		s += d * d;
	}
	nb_tensor_set(c->out, 0, a->numel ? s / (double)a->numel : NAN);
	return NB_OK;
}

#define MSE_BWD_T(T)                                                         \
	static void mse_bwd_##T(const T *a, const T *b, T g, T *da, T *db,   \
	                        size_t n)                                    \
	{                                                                    \
		for (size_t i = 0; i < n; i++) {                             \
			T d = 2 * g * (a[i] - b[i]);                         \
			if (da)                                              \
				da[i] += d;                                  \
			if (db)                                              \
				db[i] -= d;                                  \
		}                                                            \
	}
MSE_BWD_T(float)
MSE_BWD_T(double)

static nb_status mse_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	double g = nb_tensor_get(gout, 0) / (double)a->numel;
	void *da = gin[0] ? gin[0]->data : NULL;
	void *db = gin[1] ? gin[1]->data : NULL;
	if (a->dtype == NB_F32)
		mse_bwd_float(a->data, b->data, (float)g, da, db, a->numel);
	else
		mse_bwd_double(a->data, b->data, g, da, db, a->numel);
	return NB_OK;
}

/* ---- cross_entropy ---- */

typedef struct ce_attrs {
	int64_t ignore_index;
	double label_smoothing;
} ce_attrs;

static const nb_attr_def ce_defs[] = {
	{"ignore_index", NB_ATTR_INT, offsetof(ce_attrs, ignore_index), -100,
	 1, 0, NULL, 0, "targets with this value add no loss"},
	{"label_smoothing", NB_ATTR_FLOAT, offsetof(ce_attrs, label_smoothing),
	 0, 0, 1, NULL, 0, "mix e of the uniform distribution into targets"},
};

static nb_status ce_shape(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                          int64_t *shape)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	(void)dt;
	(void)shape;
	bool ok = x->ndim >= 2 && t->ndim == x->ndim - 1 &&
	          t->shape[0] == x->shape[0];
	for (int i = 2; ok && i < x->ndim; i++)
		ok = t->shape[i - 1] == x->shape[i];
	if (!ok)
		return nb_op_fail(c, NB_ESHAPE, "logits must be [N, C, d...] "
		                  "and target [N, d...]");
	if (x->shape[1] == 0)
		return nb_op_fail(c, NB_ESHAPE, "there are no classes (C = 0)");
	*ndim = 0;
	return NB_OK;
}

/* Per-position saved state: the log-sum-exp, and the count used. */
typedef struct ce_saved {
	double count;
	double lse[];
} ce_saved;

static nb_status ce_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	const ce_attrs *a = c->attrs;
	size_t N = (size_t)x->shape[0], C = (size_t)x->shape[1];
	size_t inner = N ? t->numel / N : 0;
	const int64_t *tp = t->data;
	ce_saved *s = nb_op_save(c, sizeof *s + t->numel * sizeof(double));
	if (!s)
		return NB_ENOMEM;
	double loss = 0, eps = a->label_smoothing;
	for (size_t p = 0; p < t->numel; p++) {
		size_t n = p / (inner ? inner : 1), j = p % (inner ? inner : 1);
		size_t base = n * C * inner + j;
		int64_t tv = tp[p];
		if (tv == a->ignore_index)
			continue;
		if (tv < 0 || (size_t)tv >= C)
			return nb_op_fail(c, NB_EINVAL, "target %lld at position "
			                  "%zu is outside [0, %zu)", (long long)tv,
			                  p, C);
		double m = -INFINITY, sum = 0, mean = 0;
		for (size_t k = 0; k < C; k++) {
			double v = nb_tensor_get(x, base + k * inner);
			m = v > m ? v : m;
			mean += v;
		}
		if (m == -INFINITY) /* as in softmax */
			m = 0;
		for (size_t k = 0; k < C; k++)
			sum += exp(nb_tensor_get(x, base + k * inner) - m);
		double lse = m + log(sum);
		s->lse[p] = lse;
		loss += (1 - eps) * (lse - nb_tensor_get(x, base +
		                     (size_t)tv * inner));
		/* Only with smoothing, as PyTorch: a -inf logit makes mean
		 * -inf, and 0 * inf would turn the loss into NaN. */
		if (eps > 0)
			loss += eps * (lse - mean / (double)C);
		s->count += 1;
	}
	nb_tensor_set(c->out, 0, loss / s->count);
	return NB_OK;
}

static nb_status ce_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	const ce_attrs *a = c->attrs;
	const ce_saved *s = c->saved;
	size_t N = (size_t)x->shape[0], C = (size_t)x->shape[1];
	size_t inner = N ? t->numel / N : 0;
	const int64_t *tp = t->data;
	double g = nb_tensor_get(gout, 0) / s->count, eps = a->label_smoothing;
	for (size_t p = 0; p < t->numel; p++) {
		size_t n = p / (inner ? inner : 1), j = p % (inner ? inner : 1);
		size_t base = n * C * inner + j;
		if (tp[p] == a->ignore_index)
			continue;
		for (size_t k = 0; k < C; k++) {
			size_t q = base + k * inner;
			double pr = exp(nb_tensor_get(x, q) - s->lse[p]);
			double d = pr - eps / (double)C -
			           ((int64_t)k == tp[p] ? 1 - eps : 0);
			nb_tensor_set(gin[0], q, nb_tensor_get(gin[0], q) + g * d);
		}
	}
	return NB_OK;
}

enum { OP_SOFTMAX, OP_LOG_SOFTMAX, OP_MSE, OP_CE };

static const nb_op ops[] = {
	[OP_SOFTMAX] = {
		.name = "softmax", .kind = NB_KIND_ACTIVATION,
		.doc = "exp(x) / sum exp(x) along an axis, max-shifted",
		.n_inputs = 1, .input_names = "input", .attrs = axis_defs,
		.n_attrs = 1, .attrs_size = sizeof(axis_attrs),
		.shape = axis_shape, .forward = softmax_forward,
		.backward = softmax_backward,
		.cases = "[3,4]; [2,3,4]|axis=1; [5]|axis=0",
	},
	[OP_LOG_SOFTMAX] = {
		.name = "log_softmax", .kind = NB_KIND_ACTIVATION,
		.doc = "x - logsumexp(x) along an axis, max-shifted",
		.n_inputs = 1, .input_names = "input", .attrs = axis_defs,
		.n_attrs = 1, .attrs_size = sizeof(axis_attrs),
		.shape = axis_shape, .forward = log_softmax_forward,
		.backward = log_softmax_backward,
		.cases = "[3,4]; [2,3,4]|axis=1; [5]|axis=0",
	},
	[OP_MSE] = {
		.name = "mse", .kind = NB_KIND_LOSS,
		.doc = "mean squared error, mean((input - target)^2)",
		.n_inputs = 2, .input_names = "input,target",
		.shape = mse_shape, .forward = mse_forward,
		.backward = mse_backward, .cases = "[3,4] [3,4]; [5] [5]",
	},
	[OP_CE] = {
		.name = "cross_entropy", .kind = NB_KIND_LOSS,
		.doc = "softmax cross-entropy of logits and class indices, mean",
		.n_inputs = 2, .input_names = "input,target", .nondiff = 2,
		.int_inputs = 2, .attrs = ce_defs, .n_attrs = 2,
		.attrs_size = sizeof(ce_attrs), .shape = ce_shape,
		.forward = ce_forward, .backward = ce_backward,
		.cases = "[4,5] [4]i5; [2,3,4] [2,4]i3; "
		         "[4,5] [4]i5|label_smoothing=0.1",
	},
};

nb_status nb__register_loss(void)
{
	return nb__register_table(ops, sizeof ops / sizeof *ops);
}

nb_tensor *nb_softmax(nb_graph *g, nb_tensor *x, int axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &ops[OP_SOFTMAX], 1, &x, &a);
}

nb_tensor *nb_log_softmax(nb_graph *g, nb_tensor *x, int axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &ops[OP_LOG_SOFTMAX], 1, &x, &a);
}

nb_tensor *nb_mse_loss(nb_graph *g, nb_tensor *pred, nb_tensor *target)
{
	return nb_apply(g, &ops[OP_MSE], 2, (nb_tensor *[]){pred, target}, NULL);
}

nb_tensor *nb_cross_entropy(nb_graph *g, nb_tensor *logits,
                            nb_tensor *target)
{
	ce_attrs a = {-100, 0};
	return nb_apply(g, &ops[OP_CE], 2, (nb_tensor *[]){logits, target}, &a);
}
