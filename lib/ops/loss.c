/*
 * loss.c - softmax and log_softmax along an axis, and the losses mse and
 * cross_entropy (with reduction none | mean | sum; the other losses are
 * in losses.c).
 *
 * All use the max-shifted log-sum-exp, lse(x) = m + log(sum exp(x - m))
 * with m = max x, so finite logits of any size give finite results.
 *   softmax:     dx = y * (g - sum(g * y))
 *   log_softmax: dx = g - exp(y) * sum(g)
 *   cross_entropy, target t, smoothing e over C classes, class weights w
 *   (1 without), W = sum_c w_c, mean over the weighted count n = sum w_t:
 *     loss = sum_i [(1 - e) w_t (lse_i - x_i,t)
 *                   + e / C sum_c w_c (lse_i - x_i,c)] / n
 *     dx_i,c = g (softmax_i,c ((1 - e) w_t + e W / C)
 *                 - (1 - e) w_t [c = t] - e w_c / C) / n
 * The float32 kernels call float math (expf, logf) per element; their
 * sums of exponentials are accumulated in double, converted once per row.
 */
#include "vecmath.h"
#include <tgmath.h>
#include "elementwise.h"
#include "lossfn.h"

typedef struct axis_attrs {
	int64_t axis;
} axis_attrs;

static const nb_attr_def axis_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(axis_attrs, axis), .def = -1,
	 .range = NB_UNBOUNDED, .doc = "the axis to normalize over"},
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

static nb_status axis_shape(nb_op_ctx *c, nb_result_def *res)
{
	const axis_attrs *a = c->attrs;
	int ax;
	if (!nb__axis(res->ndim, a->axis, &ax))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)a->axis, res->ndim);
	return NB_OK;
}

static int get_axis(const nb_op_ctx *c)
{
	int ax = 0;
	nb__axis(c->in[0]->ndim, ((const axis_attrs *)c->attrs)->axis, &ax);
	return ax;
}

/* ---- softmax, log_softmax ---- */

/*
 * The vector parts of a row (issue 18), built for AVX2 as well, so that
 * exp goes 8 wide: e[k] = exp(x[k st] - m); the outputs; the backward's
 * second pass.  The sums stay in the callers, in k order as before (a
 * loop with a sum in it does not vectorize without reordering the sum).
 */
#define ROW_CHUNK 256

#define ROW_KERNELS(T)                                                       \
	NB_VEC_CLONES                                                        \
	static void row_exps_##T(const T *restrict x, size_t st, T m,        \
	                         T *restrict e, size_t n)                    \
	{                                                                    \
		if (st == 1)                                                 \
			for (size_t k = 0; k < n; k++)                       \
				e[k] = exp(x[k] - m);                        \
		else                                                         \
			for (size_t k = 0; k < n; k++)                       \
				e[k] = exp(x[k * st] - m);                   \
	}                                                                    \
	/* The sum of exp(x[k st] - m) over the row, in double, in order. */ \
	static double row_sumexp_##T(const T *x, size_t st, T m, size_t n)   \
	{                                                                    \
		T e[ROW_CHUNK];                                              \
		double s = 0;                                                \
		for (size_t k0 = 0; k0 < n; k0 += ROW_CHUNK) {               \
			size_t nk = n - k0 < ROW_CHUNK ? n - k0 : ROW_CHUNK; \
			row_exps_##T(x + k0 * st, st, m, e, nk);             \
			for (size_t k = 0; k < nk; k++)                      \
				s += (double)e[k];                           \
		}                                                            \
		return s;                                                    \
	}                                                                    \
	/* y = (x - m) - ls (log_) or exp(x - m) / s */                      \
	NB_VEC_CLONES                                                        \
	static void row_softmax_##T(const T *restrict x, T *restrict y,      \
	                            size_t st, size_t n, T m, T s, T ls,     \
	                            bool log_)                               \
	{                                                                    \
		if (st == 1)                                                 \
			for (size_t i = 0; i < n; i++)                       \
				y[i] = log_ ? (x[i] - m) - ls                \
				            : exp(x[i] - m) / s;             \
		else                                                         \
			for (size_t i = 0; i < n; i++)                       \
				y[i * st] = log_ ? (x[i * st] - m) - ls      \
				                 : exp(x[i * st] - m) / s;   \
	}                                                                    \
	/* dx += g - exp(y) s (log_) or y (g - s) */                         \
	NB_VEC_CLONES                                                        \
	static void row_softmax_bwd_##T(const T *restrict y,                 \
	                                const T *restrict g,                 \
	                                T *restrict dx, size_t st, size_t n, \
	                                T s, bool log_)                      \
	{                                                                    \
		if (log_ && st == 1)                                         \
			for (size_t i = 0; i < n; i++)                       \
				dx[i] += g[i] - exp(y[i]) * s;               \
		else if (log_)                                               \
			for (size_t i = 0; i < n; i++)                       \
				dx[i * st] += g[i * st] - exp(y[i * st]) * s; \
		else                                                         \
			for (size_t i = 0; i < n; i++)                       \
				dx[i * st] += y[i * st] * (g[i * st] - s);   \
	}
ROW_KERNELS(float)
ROW_KERNELS(double)

/*
 * y = softmax (log_ = false) or log_softmax (log_ = true) of x, one row
 * of n elements at stride inner per (o, j).  A row of -inf: m is reset to
 * 0, exp(-inf) = 0, sum 0, NaN out, as PyTorch.  +inf is not reset:
 * inf - inf makes the row NaN, as PyTorch.  log_softmax is computed as
 * (x - m) - log s, not x - (m + log s): m + log s rounds away small terms.
 */
static void softmax_f32(const float *x, float *y, size_t outer, size_t n,
                        size_t inner, bool log_)
{
	for (size_t o = 0; o < outer; o++)
		for (size_t j = 0; j < inner; j++) {
			const float *xp = x + o * n * inner + j;
			float *yp = y + o * n * inner + j;
			float m = -INFINITY;
			for (size_t i = 0; i < n; i++)
				m = xp[i * inner] > m ? xp[i * inner] : m;
			if (m == -INFINITY)
				m = 0;
			double s = row_sumexp_float(xp, inner, m, n);
			const float sf = (float)s, ls = logf(sf);
			row_softmax_float(xp, yp, inner, n, m, sf, ls, log_);
		}
}

static void softmax_f64(const double *x, double *y, size_t outer, size_t n,
                        size_t inner, bool log_)
{
	for (size_t o = 0; o < outer; o++)
		for (size_t j = 0; j < inner; j++) {
			const double *xp = x + o * n * inner + j;
			double *yp = y + o * n * inner + j;
			double m = -INFINITY;
			for (size_t i = 0; i < n; i++)
				m = xp[i * inner] > m ? xp[i * inner] : m;
			if (m == -INFINITY)
				m = 0;
			double s = row_sumexp_double(xp, inner, m, n);
			row_softmax_double(xp, yp, inner, n, m, s, log(s), log_);
		}
}

/* dx += y (g - sum(g y)) (softmax) or g - exp(y) sum(g) (log_softmax). */
static void softmax_bwd_f32(const float *y, const float *g, float *dx,
                            size_t outer, size_t n, size_t inner, bool log_)
{
	for (size_t o = 0; o < outer; o++)
		for (size_t j = 0; j < inner; j++) {
			size_t b = o * n * inner + j;
			float s = 0;
			for (size_t i = 0; i < n; i++)
				s += log_ ? g[b + i * inner]
				          : g[b + i * inner] * y[b + i * inner];
			row_softmax_bwd_float(y + b, g + b, dx + b, inner, n, s,
			                      log_);
		}
}

static void softmax_bwd_f64(const double *y, const double *g, double *dx,
                            size_t outer, size_t n, size_t inner, bool log_)
{
	for (size_t o = 0; o < outer; o++)
		for (size_t j = 0; j < inner; j++) {
			size_t b = o * n * inner + j;
			double s = 0;
			for (size_t i = 0; i < n; i++)
				s += log_ ? g[b + i * inner]
				          : g[b + i * inner] * y[b + i * inner];
			row_softmax_bwd_double(y + b, g + b, dx + b, inner, n,
			                       s, log_);
		}
}

static nb_status run_softmax(nb_op_ctx *c, bool log_)
{
	size_t outer, n, inner;
	split_axis(c->in[0], get_axis(c), &outer, &n, &inner);
	if (c->out->dtype == NB_F32)
		softmax_f32(c->in[0]->data, c->out->data, outer, n, inner, log_);
	else
		softmax_f64(c->in[0]->data, c->out->data, outer, n, inner, log_);
	return NB_OK;
}

static nb_status run_softmax_bwd(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin, bool log_)
{
	size_t outer, n, inner;
	split_axis(c->in[0], get_axis(c), &outer, &n, &inner);
	if (gout->dtype == NB_F32)
		softmax_bwd_f32(c->out->data, gout->data, gin[0]->data, outer, n,
		                inner, log_);
	else
		softmax_bwd_f64(c->out->data, gout->data, gin[0]->data, outer, n,
		                inner, log_);
	return NB_OK;
}

static nb_status softmax_forward(nb_op_ctx *c)
{
	return run_softmax(c, false);
}

static nb_status softmax_backward(nb_op_ctx *c, const nb_tensor *g,
                                  nb_tensor *const *gin)
{
	return run_softmax_bwd(c, g, gin, false);
}

static nb_status log_softmax_forward(nb_op_ctx *c)
{
	return run_softmax(c, true);
}

static nb_status log_softmax_backward(nb_op_ctx *c, const nb_tensor *g,
                                      nb_tensor *const *gin)
{
	return run_softmax_bwd(c, g, gin, true);
}

/* softmax and log_softmax share their gradcheck recipe. */
static const nb_op_test softmax_test = {
	.cases = "[3,4]; [2,3,4]|axis=1; [5]|axis=0",
};

static const nb_op softmax_op = {
	.version = NB_OP_VERSION,
	.name = "softmax",
	.kind = NB_KIND_ACTIVATION,
	.doc = "exp(x) / sum exp(x) along an axis, max-shifted",
	.inputs = nb__unary_inputs,
	.n_inputs = 1,
	.attrs = axis_defs,
	.n_attrs = 1,
	.attrs_size = sizeof(axis_attrs),
	.flags = NB_OP_LAYER,
	.shape = axis_shape,
	.forward = softmax_forward,
	.backward = softmax_backward,
	.test = &softmax_test,
};

static const nb_op log_softmax_op = {
	.version = NB_OP_VERSION,
	.name = "log_softmax",
	.kind = NB_KIND_ACTIVATION,
	.doc = "x - logsumexp(x) along an axis, max-shifted",
	.inputs = nb__unary_inputs,
	.n_inputs = 1,
	.attrs = axis_defs,
	.n_attrs = 1,
	.attrs_size = sizeof(axis_attrs),
	.flags = NB_OP_LAYER,
	.shape = axis_shape,
	.forward = log_softmax_forward,
	.backward = log_softmax_backward,
	.test = &softmax_test,
};

/* ---- mse ---- */

typedef struct mse_attrs {
	int reduction;
} mse_attrs;

static const nb_attr_def mse_defs[] = {
	NB_REDUCTION_ROW(mse_attrs),
};

/* (x - t)^2: dx = 2 (x - t), dt = -2 (x - t) */
NB_PW_LOSS(mse, mse_attrs, (x - t) * (x - t), (T)2 * (x - t),
           (T)-2 * (x - t))

static const nb_input_def mse_inputs[] = {
	{.name = "input"},
	{.name = "target", .doc = "the same shape as input"},
};

static const nb_op_test mse_test = {
	.cases = "[3,4] [3,4]; [5] [5]; [2,3] [2,3]|reduction=none; "
	         "[4] [4]|reduction=sum",
};

static const nb_op mse_op = {
	.version = NB_OP_VERSION,
	.name = "mse",
	.kind = NB_KIND_LOSS,
	.doc = "squared error (input - target)^2, reduced (PyTorch's "
	       "mse_loss)",
	.inputs = mse_inputs,
	.n_inputs = 2,
	.attrs = mse_defs,
	.n_attrs = 1,
	.attrs_size = sizeof(mse_attrs),
	.shape = nb__pw_shape,
	.forward = mse_forward,
	.backward = mse_backward,
	.test = &mse_test,
};

/* ---- cross_entropy ---- */

typedef struct ce_attrs {
	int64_t ignore_index;
	double label_smoothing;
	int reduction; /* last: typed structs of earlier callers stay valid */
} ce_attrs;

static const nb_attr_def ce_defs[] = {
	{.name = "ignore_index", .type = NB_ATTR_INT,
	 .offset = offsetof(ce_attrs, ignore_index), .def = -100,
	 .range = NB_UNBOUNDED, .doc = "targets with this value add no loss"},
	{.name = "reduction", .type = NB_ATTR_ENUM,
	 .offset = offsetof(ce_attrs, reduction), .def = NB_REDUCTION_MEAN,
	 .choices = "none|mean|sum",
	 .doc = "none: each position's loss; mean: weighted mean over the "
	        "targets not ignored; sum"},
	{.name = "label_smoothing", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(ce_attrs, label_smoothing), .def = 0,
	 .range = NB_RANGE(0, 1),
	 .doc = "mix e of the uniform distribution into targets"},
};

static nb_status ce_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	const nb_tensor *w = c->n_in > 2 ? c->in[2] : NULL;
	bool ok = x->ndim >= 2 && t->ndim == x->ndim - 1 &&
	          t->shape[0] == x->shape[0];
	for (int i = 2; ok && i < x->ndim; i++)
		ok = t->shape[i - 1] == x->shape[i];
	if (!ok)
		return nb_op_fail(c, NB_ESHAPE, "logits must be [N, C, d...] "
		                  "and target [N, d...]");
	if (x->shape[1] == 0)
		return nb_op_fail(c, NB_ESHAPE, "there are no classes (C = 0)");
	if (w && (w->ndim != 1 || w->shape[0] != x->shape[1]))
		return nb_op_fail(c, NB_ESHAPE, "weight must be [C], one per "
		                  "class");
	if (((const ce_attrs *)c->attrs)->reduction == NB_REDUCTION_NONE) {
		res->ndim = t->ndim;
		memcpy(res->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
	} else {
		res->ndim = 0;
	}
	return NB_OK;
}

/* Per-position saved state: the log-sum-exp, and the (weighted) count
 * of the targets not ignored, the mean's denominator. */
typedef struct ce_saved {
	double count;
	double lse[];
} ce_saved;

/*
 * The logits as [N, C, inner] and the targets as [N, inner]: position p
 * of the target is row (p / inner, :, p % inner) of the logits, whose
 * class k is at base + k * inner.
 */
typedef struct ce_dims {
	size_t C, inner, np;
} ce_dims;

static ce_dims ce_get_dims(const nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	size_t N = (size_t)x->shape[0];
	ce_dims d = {(size_t)x->shape[1], N ? t->numel / N : 0, t->numel};
	if (!d.inner)
		d.inner = 1;
	return d;
}

static size_t ce_base(const ce_dims *d, size_t p)
{
	return (p / d->inner) * d->C * d->inner + p % d->inner;
}

/* NB_EINVAL, naming the first target outside [0, C) that is not
 * ignore_index. */
static nb_status ce_check_targets(nb_op_ctx *c, const ce_dims *d)
{
	const int64_t *tp = c->in[1]->data;
	int64_t ignore = ((const ce_attrs *)c->attrs)->ignore_index;
	for (size_t p = 0; p < d->np; p++) {
		int64_t tv = tp[p];
		if (tv != ignore && (tv < 0 || (size_t)tv >= d->C))
			return nb_op_fail(c, NB_EINVAL, "target %lld at position "
			                  "%zu is outside [0, %zu)", (long long)tv,
			                  p, d->C);
	}
	return NB_OK;
}

/* The backward of one cross_entropy row, vectorized (issue 18). */
#define CE_ROWS_T(TY)                                                       \
	/* dx_c += g (p_c cp - [c = t] ct - u w_c), the last term when      \
	 * smooth (w NULL: 1); p_c = exp(x_c - lse) in TY. */                \
	NB_VEC_CLONES                                                        \
	static void ce_row_bwd_##TY(const TY *restrict x, TY *restrict dx,   \
	                            size_t st, size_t C, size_t t,           \
	                            double lse, double g, double cp,         \
	                            double ct, bool smooth, double u,        \
	                            const TY *restrict w)                    \
	{                                                                    \
		if (st == 1 && !smooth) {                                    \
			for (size_t k = 0; k < C; k++) {                     \
				TY pr = exp((TY)((double)x[k] - lse));       \
				double dk = (double)pr * cp -                \
				            (k == t ? ct : 0);               \
				dx[k] = (TY)((double)dx[k] + g * dk);        \
			}                                                    \
			return;                                              \
		}                                                            \
		for (size_t k = 0; k < C; k++) {                             \
			size_t q = k * st;                                   \
			TY pr = exp((TY)((double)x[q] - lse));               \
			double dk = (double)pr * cp - (k == t ? ct : 0);     \
			if (smooth)                                          \
				dk -= u * (w ? (double)w[k] : 1);            \
			dx[q] = (TY)((double)dx[q] + g * dk);                \
		}                                                            \
	}
CE_ROWS_T(float)
CE_ROWS_T(double)

/*
 * Position p's loss, PyTorch 1.13's (log_softmax, then nll_loss plus
 * the smoothing term), class weights w (1 without):
 *   (1 - e) w_t (lse - x_t) + e / C sum_c w_c (lse - x_c)
 * written into out[p] (reduction none) or summed; stores each position's
 * lse and the sum of w_t in s.  Only with smoothing does the second term
 * enter, as PyTorch: a -inf logit makes it +inf, and 0 * inf would turn
 * the loss into NaN.  It is summed term by term, w_c (lse - x_c), as
 * PyTorch's -sum_c w_c log_softmax_c: an infinite weight then gives an
 * infinite loss, not inf - inf.  A row of -inf resets m to 0, as in
 * softmax.
 */
#define CE_FWD_T(TY)                                                        \
	static double ce_fwd_##TY(const TY *x, const int64_t *tp,            \
	                          const TY *w, const ce_dims *d,             \
	                          const ce_attrs *a, ce_saved *s, TY *out)   \
	{                                                                    \
		double loss = 0, eps = a->label_smoothing;                   \
		for (size_t p = 0; p < d->np; p++) {                         \
			if (tp[p] == a->ignore_index)                        \
				continue;                                    \
			const TY *xp = x + ce_base(d, p);                    \
			TY m = -INFINITY;                                    \
			double sum = 0, smooth = 0;                          \
			for (size_t k = 0; k < d->C; k++) {                  \
				TY v = xp[k * d->inner];                     \
				m = v > m ? v : m;                           \
			}                                                    \
			if (m == -INFINITY)                                  \
				m = 0;                                       \
			sum = row_sumexp_##TY(xp, d->inner, m, d->C);        \
			double lse = (double)m + (double)log((TY)sum);       \
			double wt = w ? (double)w[tp[p]] : 1;                \
			double l = (1 - eps) * wt *                          \
			           (lse - (double)xp[(size_t)tp[p] * d->inner]); \
			if (eps > 0) {                                       \
				for (size_t k = 0; k < d->C; k++)            \
					smooth += (w ? (double)w[k] : 1) *   \
					          (lse -                     \
					           (double)xp[k * d->inner]); \
				l += eps * smooth / (double)d->C;            \
			}                                                    \
			s->lse[p] = lse;                                     \
			s->count += wt;                                      \
			if (out)                                             \
				out[p] = (TY)l;                              \
			else                                                 \
				loss += l;                                   \
		}                                                            \
		return loss;                                                 \
	}
CE_FWD_T(float)
CE_FWD_T(double)

static nb_status ce_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	const nb_tensor *w = c->n_in > 2 ? c->in[2] : NULL;
	const ce_attrs *a = c->attrs;
	ce_dims d = ce_get_dims(c);
	nb_status st = ce_check_targets(c, &d);
	if (st != NB_OK)
		return st;
	ce_saved *s = nb_op_save(c, sizeof *s + t->numel * sizeof(double));
	if (!s)
		return NB_ENOMEM;
	bool none = a->reduction == NB_REDUCTION_NONE;
	void *out = none ? c->out->data : NULL;
	const void *wd = w ? w->data : NULL;
	double loss;
	if (x->dtype == NB_F32)
		loss = ce_fwd_float(x->data, t->data, wd, &d, a, s, out);
	else
		loss = ce_fwd_double(x->data, t->data, wd, &d, a, s, out);
	if (!none)
		nb_tensor_set(c->out, 0, a->reduction == NB_REDUCTION_MEAN
		                         ? loss / s->count : loss);
	return NB_OK;
}

/*
 * At every position not ignored, with g its output gradient (divided by
 * the weighted count for the mean), W = sum_c w_c and p = softmax:
 *   dx_c += g (p_c ((1 - e) w_t + e W / C) - (1 - e) w_t [c = t]
 *              - e w_c / C)
 * The smoothing terms enter only when e > 0, as in PyTorch: without
 * smoothing only w_t is read, so a NaN or infinite weight of a class
 * that is no target changes nothing.
 * x - lse is taken in double, as lse is kept.
 */
#define CE_BWD_T(TY)                                                        \
	static void ce_bwd_##TY(const TY *x, const int64_t *tp, const TY *w, \
	                        const ce_dims *d, const ce_attrs *a,         \
	                        const ce_saved *s, const TY *gs, double gsc, \
	                        TY *dx)                                      \
	{                                                                    \
		double eps = a->label_smoothing, u = eps / (double)d->C;     \
		double wall = 0;                                             \
		for (size_t k = 0; k < d->C; k++)                            \
			wall += w ? (double)w[k] : 1;                        \
		for (size_t p = 0; p < d->np; p++) {                         \
			if (tp[p] == a->ignore_index)                        \
				continue;                                    \
			size_t base = ce_base(d, p);                         \
			double g = gs ? (double)gs[p] : gsc;                 \
			double wt = w ? (double)w[tp[p]] : 1;                \
			double cp = (1 - eps) * wt;                          \
			if (eps > 0)                                         \
				cp += u * wall;                              \
			ce_row_bwd_##TY(x + base, dx + base, d->inner, d->C, \
			                (size_t)tp[p], s->lse[p], g, cp,     \
			                (1 - eps) * wt, eps > 0, u, w);      \
		}                                                            \
	}
CE_BWD_T(float)
CE_BWD_T(double)

static nb_status ce_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	const nb_tensor *w = c->n_in > 2 ? c->in[2] : NULL;
	const ce_attrs *a = c->attrs;
	const ce_saved *s = c->saved;
	ce_dims d = ce_get_dims(c);
	const void *gs = a->reduction == NB_REDUCTION_NONE ? gout->data : NULL;
	double gsc = gs ? 0 : nb_tensor_get(gout, 0);
	if (a->reduction == NB_REDUCTION_MEAN)
		gsc /= s->count;
	const void *wd = w ? w->data : NULL;
	if (x->dtype == NB_F32)
		ce_bwd_float(x->data, t->data, wd, &d, a, s, gs, gsc,
		             gin[0]->data);
	else
		ce_bwd_double(x->data, t->data, wd, &d, a, s, gs, gsc,
		              gin[0]->data);
	return NB_OK;
}

static const nb_input_def ce_inputs[] = {
	{.name = "input", .doc = "logits [N, C, d...]"},
	{.name = "target", .flags = NB_IN_INT64 | NB_IN_NONDIFF,
	 .doc = "class indices [N, d...], int64"},
	{.name = "weight", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF,
	 .doc = "class weights [C] (not given: 1)"},
};

static const nb_op_test ce_test = {
	.cases = "[4,5] [4]i5 [1]-; [2,3,4] [2,4]i3 [1]-; "
	         "[4,5] [4]i5 [1]-|label_smoothing=0.1; "
	         "[4,5] [4]i5 [5]pc|label_smoothing=0.2; "
	         "[2,3,4] [2,4]i3 [3]pc|reduction=none; "
	         "[4,5] [4]i5 [5]pc|reduction=sum",
};

static const nb_op cross_entropy_op = {
	.version = NB_OP_VERSION,
	.name = "cross_entropy",
	.kind = NB_KIND_LOSS,
	.doc = "softmax cross-entropy of logits and class indices, with "
	       "class weights, reduced",
	.inputs = ce_inputs,
	.n_inputs = 3,
	.attrs = ce_defs,
	.n_attrs = 3,
	.attrs_size = sizeof(ce_attrs),
	.shape = ce_shape,
	.forward = ce_forward,
	.backward = ce_backward,
	.test = &ce_test,
};

/* ---- typed wrappers (include/nabla/ops.h) ---- */

nb_tensor *nb_softmax(nb_graph *g, nb_tensor *x, int axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &softmax_op, 1, &x, &a);
}

nb_tensor *nb_log_softmax(nb_graph *g, nb_tensor *x, int axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &log_softmax_op, 1, &x, &a);
}

nb_tensor *nb_mse_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                       nb_reduction reduction)
{
	mse_attrs a = {(int)reduction};
	return nb_apply(g, &mse_op, 2, (nb_tensor *[]){input, target}, &a);
}

nb_tensor *nb_cross_entropy(nb_graph *g, nb_tensor *input, nb_tensor *target,
                            nb_tensor *weight, int64_t ignore_index,
                            nb_reduction reduction, double label_smoothing)
{
	ce_attrs a = {ignore_index, label_smoothing, (int)reduction};
	return nb_apply(g, &cross_entropy_op, 3,
	                (nb_tensor *[]){input, target, weight}, &a);
}

/* The family, in the order `nabla ops` lists it. */
const nb_op *const nb__loss_ops[] = {
	&softmax_op, &log_softmax_op, &mse_op, &cross_entropy_op, NULL,
};
