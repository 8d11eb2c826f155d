/*
 * losses.c - the losses beside mse and cross_entropy (loss.c), with
 * PyTorch 1.13's names, formulas, defaults and gradients: nll_loss,
 * binary_cross_entropy, binary_cross_entropy_with_logits, l1_loss,
 * smooth_l1_loss, huber_loss, kl_div; and cosine_similarity (not a
 * loss: no reduction).
 *
 * The pointwise losses are one formula each for the loss of an element
 * and its derivatives with respect to input and target (NB_PW_LOSS,
 * lossfn.h), with d = input - target:
 *   l1          |d|                                  sign(d)
 *   smooth_l1   0.5 d^2 / beta (|d| < beta),         d / beta, else +-1
 *               |d| - 0.5 beta
 *   huber       0.5 d^2 (|d| < delta),               d, else +-delta
 *               delta (|d| - 0.5 delta)
 *   bce         -(t max(log x, -100)                 (x - t) / max(x (1 - x), 1e-12)
 *                 + (1 - t) max(log(1 - x), -100))   dt: log(1 - x) - log x
 *   bce_logits  (1 - t) x + (1 + (pw - 1) t) sp(-x)  (pw t + 1 - t) sigmoid(x) - pw t
 *                                                    dt: logsig(-x) - pw logsig(x)
 *               (without pos_weight: (1 - t) x + sp(-x); sigmoid(x) - t; dt: -x)
 *   kl_div      xlogy(t, t) - t x                    -t; dt: xlogy(t != 0, t) + t / t - x
 *   (log_target) e^t (t - x)                         -e^t; dt: e^t (t - x + 1)
 * each times the weight, sp(-x) = log(1 + e^-x) in PyTorch's shifted
 * form m + log(e^-m + e^(-x-m)), m = max(-x, 0).  The kinks and
 * quirks are PyTorch's: sign(0) = 0; smooth_l1's kernel gives -1 at
 * d = 0 when beta = 0, to input and target alike; kl_div's target gradient is NaN at t = 0 (t / t).
 */
#include "vecmath.h"
#include <tgmath.h>
#include "elementwise.h"
#include "lossfn.h"

/* ---- attributes ---- */

typedef struct red_attrs {
	int reduction;
} red_attrs;

typedef struct beta_attrs {
	int reduction;
	double beta; /* smooth_l1's beta, huber's delta */
} beta_attrs;

typedef struct kl_attrs {
	int reduction;
	bool log_target;
} kl_attrs;

typedef struct nll_attrs {
	int64_t ignore_index;
	int reduction;
} nll_attrs;

typedef struct cos_attrs {
	int64_t dim;
	double eps;
} cos_attrs;

static const nb_attr_def red_defs[] = {
	NB_REDUCTION_ROW(red_attrs),
};

static const nb_attr_def smooth_l1_defs[] = {
	NB_REDUCTION_ROW(beta_attrs),
	{.name = "beta", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(beta_attrs, beta), .def = 1,
	 .range = NB_AT_LEAST(0),
	 .doc = "quadratic below |d| = beta, linear above; 0 is l1"},
};

static const nb_attr_def huber_defs[] = {
	NB_REDUCTION_ROW(beta_attrs),
	{.name = "delta", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(beta_attrs, beta), .def = 1,
	 .range = NB_AT_LEAST(0),
	 .doc = "quadratic below |d| = delta, linear above; > 0"},
};

/* PyTorch refuses delta = 0 ("non-positive values for delta"). */
static bool huber_check(const void *attrs, char *why, size_t n)
{
	const beta_attrs *a = attrs;
	if (a->beta > 0)
		return true;
	snprintf(why, n, "delta must be positive, not %g", a->beta);
	return false;
}

static const nb_attr_def kl_defs[] = {
	{.name = "reduction", .type = NB_ATTR_ENUM,
	 .offset = offsetof(kl_attrs, reduction), .def = NB_REDUCTION_MEAN,
	 .choices = "none|mean|sum|batchmean",
	 .doc = "none; mean (of all elements); sum; batchmean: sum / "
	        "input.shape[0], the KL divergence per sample"},
	{.name = "log_target", .type = NB_ATTR_BOOL,
	 .offset = offsetof(kl_attrs, log_target), .def = 0,
	 .doc = "target holds log-probabilities"},
};

static const nb_attr_def nll_defs[] = {
	{.name = "ignore_index", .type = NB_ATTR_INT,
	 .offset = offsetof(nll_attrs, ignore_index), .def = -100,
	 .range = NB_UNBOUNDED, .doc = "targets with this value add no loss"},
	{.name = "reduction", .type = NB_ATTR_ENUM,
	 .offset = offsetof(nll_attrs, reduction), .def = NB_REDUCTION_MEAN,
	 .choices = "none|mean|sum",
	 .doc = "none: each position's loss; mean: weighted mean over the "
	        "targets not ignored; sum"},
};

static const nb_attr_def cos_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT, .offset = offsetof(cos_attrs, dim),
	 .def = 1, .range = NB_UNBOUNDED, .doc = "the axis of the vectors"},
	{.name = "eps", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(cos_attrs, eps), .def = 1e-8,
	 .range = NB_UNBOUNDED, .doc = "each norm is at least eps"},
};

/* ---- pointwise losses ---- */

/* PyTorch's sign: 0 at 0 (and at NaN). */
#define SIGN(d) (T)(((T)0 < (d)) - ((d) < (T)0))
/* log(1 + e^-x), shifted by m = max(-x, 0) as PyTorch. */
#define SP_NEG(x)                                                            \
	(fmax(-(x), (T)0) +                                                  \
	 log(exp(-fmax(-(x), (T)0)) + exp(-(x) - fmax(-(x), (T)0))))

NB_PW_LOSS(l1_loss, red_attrs, fabs(x - t), SIGN(x - t), -SIGN(x - t))

/* PyTorch 1.13's kernel: +-1 from |d| >= beta on (d > 0 ? 1 : -1, so
 * -1 at d = 0 when beta = 0), d / beta inside.  The target's gradient
 * is the same kernel at t - x (so also -1 at d = 0), as PyTorch's. */
#define SL1_GRAD(d, beta)                                                    \
	(fabs(d) >= (beta) ? ((d) > (T)0 ? (T)1 : (T)-1) : (d) / (beta))
NB_PW_LOSS(smooth_l1_loss, beta_attrs,
           fabs(x - t) < (T)A->beta
               ? (T)0.5 * (x - t) * (x - t) / (T)A->beta
               : fabs(x - t) - (T)0.5 * (T)A->beta,
           SL1_GRAD(x - t, (T)A->beta), SL1_GRAD(t - x, (T)A->beta))

#define HUBER_GRAD(d, delta)                                                 \
	((d) <= -(delta) ? -(delta) : (d) >= (delta) ? (delta) : (d))
NB_PW_LOSS(huber_loss, beta_attrs,
           fabs(x - t) < (T)A->beta
               ? (T)0.5 * (x - t) * (x - t)
               : (T)A->beta * (fabs(x - t) - (T)0.5 * (T)A->beta),
           HUBER_GRAD(x - t, (T)A->beta), -HUBER_GRAD(x - t, (T)A->beta))

NB_PW_LOSS(bce, red_attrs,
           (t - 1) * fmax(log(1 - x), (T)-100) - t * fmax(log(x), (T)-100),
           (x - t) / fmax((1 - x) * x, (T)1e-12), log(1 - x) - log(x))

/* log(sigmoid(x)) as PyTorch's kernel: min(x, 0) - log1p(e^-|x|). */
#define LOGSIG(x) (fmin((x), (T)0) - log1p(exp(-fabs(x))))
/* Without pos_weight PyTorch 1.13 uses the plain formulas (no pw
 * terms), and its target gradient with pos_weight is
 * logsigmoid(-x) - pw logsigmoid(x): written the same way here, so
 * that infinities and NaN meet the same operations (0 inf, inf - inf)
 * as in PyTorch. */
NB_PW_LOSS(bce_logits, red_attrs,
           has_pw ? (1 - t) * x + ((pw - 1) * t + 1) * SP_NEG(x)
                  : (1 - t) * x + SP_NEG(x),
           has_pw ? (pw * t + 1 - t) / (1 + exp(-x)) - pw * t
                  : (T)1 / (1 + exp(-x)) - t,
           has_pw ? LOGSIG(-x) - pw * LOGSIG(x) : -x)

/* xlogy(t, t) = 0 where t = 0 (NaN stays NaN). */
#define XLOGT(t) ((t) == (T)0 ? (T)0 : (t) * log(t))
NB_PW_LOSS(kl_div, kl_attrs,
           A->log_target ? exp(t) * (t - x) : XLOGT(t) - t * x,
           A->log_target ? -exp(t) : -t,
           A->log_target ? exp(t) * (t - x + 1)
                         : ((t) != (T)0 ? log(t) : (T)0) + t / t - x)

/* All elements of input in [0, 1], as PyTorch checks (NaN fails). */
static nb_status bce_check_input(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	for (size_t i = 0; i < x->numel; i++) {
		double v = nb_tensor_get(x, i);
		if (!(v >= 0 && v <= 1))
			return nb_op_fail(c, NB_EINVAL, "all elements of input "
			                  "should be between 0 and 1 (element %zu "
			                  "is %g)", i, v);
	}
	return NB_OK;
}

static nb_status bce_checked_forward(nb_op_ctx *c)
{
	nb_status st = bce_check_input(c);
	return st != NB_OK ? st : bce_forward(c);
}

static const nb_input_def pw_inputs[] = {
	{.name = "input"},
	{.name = "target", .doc = "the same shape as input"},
	{.name = "weight", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF,
	 .doc = "broadcasts to input's shape (not given: 1)"},
	{.name = "pos_weight", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF,
	 .doc = "weight of the positive class, broadcasts to input's shape"},
};

static const nb_op_test l1_test = {
	.cases = "[3,4] [3,4]; [5] [5]|reduction=sum; "
	         "[2,3] [2,3]|reduction=none",
};
static const nb_op_test smooth_l1_test = {
	.cases = "[3,4] [3,4]; [5] [5]|beta=0.5 reduction=sum; "
	         "[2,3] [2,3]|reduction=none beta=2",
};
static const nb_op_test huber_test = {
	.cases = "[3,4] [3,4]; [5] [5]|delta=0.5 reduction=sum; "
	         "[2,3] [2,3]|reduction=none delta=2",
};
static const nb_op_test bce_test = {
	.cases = "[3,4] [3,4] [1]-; [2,3] [2,3] [3]pc|reduction=sum; "
	         "[4] [4] [4]pc|reduction=none",
	.lo = 0.05, .hi = 0.95,
};
static const nb_op_test bce_logits_test = {
	.cases = "[3,4] [3,4] [1]- [1]-; "
	         "[2,3] [2,3] [3]pc [2,1]pc|reduction=sum; "
	         "[4] [4] [1]- [4]pc|reduction=none",
};
static const nb_op_test kl_test = {
	.cases = "[3,4] [3,4]p; [2,3] [2,3]p|reduction=batchmean; "
	         "[4] [4]|log_target=1 reduction=none; "
	         "[2,3] [2,3]|log_target=1 reduction=sum",
};

#define PW_OP(NAME, OPNAME, NIN, DEFS, ATYPE, DOC, TEST, FWD, ...)           \
	static const nb_op NAME##_op = {                                     \
		.version = NB_OP_VERSION, .name = OPNAME,                    \
		.kind = NB_KIND_LOSS, .doc = DOC, .inputs = pw_inputs,       \
		.n_inputs = NIN, .attrs = DEFS,                              \
		.n_attrs = (int)(sizeof(DEFS) / sizeof(nb_attr_def)),        \
		.attrs_size = sizeof(ATYPE), .shape = nb__pw_shape,          \
		.forward = FWD, .backward = NAME##_backward,                 \
		.test = TEST, __VA_ARGS__                                    \
	}

PW_OP(l1_loss, "l1_loss", 2, red_defs, red_attrs,
      "absolute error |input - target|, reduced", &l1_test,
      l1_loss_forward);
PW_OP(smooth_l1_loss, "smooth_l1_loss", 2, smooth_l1_defs, beta_attrs,
      "0.5 d^2 / beta for |d| < beta, else |d| - 0.5 beta, reduced",
      &smooth_l1_test, smooth_l1_loss_forward);
PW_OP(huber_loss, "huber_loss", 2, huber_defs, beta_attrs,
      "0.5 d^2 for |d| < delta, else delta (|d| - 0.5 delta), reduced",
      &huber_test, huber_loss_forward, .check = huber_check);
PW_OP(bce, "binary_cross_entropy", 3, red_defs, red_attrs,
      "-w (t log x + (1 - t) log(1 - x)) of probabilities x in [0, 1], "
      "logs clamped at -100, reduced", &bce_test, bce_checked_forward);
PW_OP(bce_logits, "binary_cross_entropy_with_logits", 4, red_defs,
      red_attrs, "binary_cross_entropy of sigmoid(input), stable form, "
      "with pos_weight, reduced", &bce_logits_test, bce_logits_forward);
PW_OP(kl_div, "kl_div", 2, kl_defs, kl_attrs,
      "t (log t - input) (0 log 0 = 0) of log-probabilities input, "
      "reduced", &kl_test, kl_div_forward);

/* ---- nll_loss ---- */

/* The log-probabilities as [N, C, inner] and the targets as [N, inner]:
 * position p's class k is at base(p) + k * inner. */
typedef struct nll_dims {
	size_t C, inner, np;
} nll_dims;

static nll_dims nll_get_dims(const nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	size_t N = (size_t)x->shape[0];
	nll_dims d = {(size_t)x->shape[1], N ? t->numel / N : 0, t->numel};
	if (!d.inner)
		d.inner = 1;
	return d;
}

/* Where position p's target class t sits in the input. */
static size_t nll_at(const nll_dims *d, size_t p, int64_t t)
{
	return (p / d->inner) * d->C * d->inner + p % d->inner +
	       (size_t)t * d->inner;
}

static nb_status nll_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *t = c->in[1], *w = c->in[2];
	bool ok = x->ndim >= 2 && t->ndim == x->ndim - 1 &&
	          t->shape[0] == x->shape[0];
	for (int i = 2; ok && i < x->ndim; i++)
		ok = t->shape[i - 1] == x->shape[i];
	if (!ok)
		return nb_op_fail(c, NB_ESHAPE, "input must be [N, C, d...] "
		                  "and target [N, d...]");
	if (w && (w->ndim != 1 || w->shape[0] != x->shape[1]))
		return nb_op_fail(c, NB_ESHAPE, "weight must be [C], one per "
		                  "class");
	if (((const nll_attrs *)c->attrs)->reduction == NB_REDUCTION_NONE) {
		res->ndim = t->ndim;
		memcpy(res->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
	} else {
		res->ndim = 0;
	}
	return NB_OK;
}

/* The weight of class k (1 without weights), as a double. */
static double nll_w(const nb_tensor *w, int64_t k)
{
	return w ? nb_tensor_get(w, (size_t)k) : 1;
}

/*
 * loss_p = -w[t_p] x[p, t_p] (0 where ignored); the mean divides the
 * sum by the sum of w[t_p] over the positions not ignored, which is 0
 * (a NaN mean, as PyTorch 1.13) when every target is ignored.  Targets
 * are checked before any is read.
 */
static nb_status nll_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *t = c->in[1], *w = c->in[2];
	const nll_attrs *a = c->attrs;
	const int64_t *tp = t->data;
	nll_dims d = nll_get_dims(c);
	for (size_t p = 0; p < d.np; p++)
		if (tp[p] != a->ignore_index &&
		    (tp[p] < 0 || (size_t)tp[p] >= d.C))
			return nb_op_fail(c, NB_EINVAL, "target %lld at position "
			                  "%zu is outside [0, %zu)",
			                  (long long)tp[p], p, d.C);
	double *count = nb_op_save(c, sizeof *count);
	if (!count)
		return NB_ENOMEM;
	double sum = 0;
	for (size_t p = 0; p < d.np; p++) {
		if (tp[p] == a->ignore_index)
			continue;
		double wt = nll_w(w, tp[p]);
		double l = -wt * nb_tensor_get(x, nll_at(&d, p, tp[p]));
		*count += wt;
		if (a->reduction == NB_REDUCTION_NONE)
			nb_tensor_set(c->out, p, l);
		else
			sum += l;
	}
	if (a->reduction != NB_REDUCTION_NONE)
		nb_tensor_set(c->out, 0, a->reduction == NB_REDUCTION_MEAN
		                         ? sum / *count : sum);
	return NB_OK;
}

/* dx[p, t_p] += -w[t_p] g_p, with g_p = g / count for the mean (as
 * PyTorch: w = 0 and count = 0 give NaN). */
static nb_status nll_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	const nb_tensor *t = c->in[1], *w = c->in[2];
	const nll_attrs *a = c->attrs;
	const int64_t *tp = t->data;
	const double *count = c->saved;
	nll_dims d = nll_get_dims(c);
	bool none = a->reduction == NB_REDUCTION_NONE;
	double gs = none ? 0 : nb_tensor_get(gout, 0);
	if (a->reduction == NB_REDUCTION_MEAN)
		gs /= *count;
	for (size_t p = 0; p < d.np; p++) {
		if (tp[p] == a->ignore_index)
			continue;
		size_t q = nll_at(&d, p, tp[p]);
		double g = none ? nb_tensor_get(gout, p) : gs;
		nb_tensor_set(gin[0], q, nb_tensor_get(gin[0], q) -
		                         nll_w(w, tp[p]) * g);
	}
	return NB_OK;
}

static const nb_input_def nll_inputs[] = {
	{.name = "input", .doc = "log-probabilities [N, C, d...]"},
	{.name = "target", .flags = NB_IN_INT64 | NB_IN_NONDIFF,
	 .doc = "class indices [N, d...], int64"},
	{.name = "weight", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF,
	 .doc = "class weights [C] (not given: 1)"},
};

static const nb_op_test nll_test = {
	.cases = "[4,5] [4]i5 [1]-; [2,3,4] [2,4]i3 [3]pc; "
	         "[4,5] [4]i5 [5]pc|reduction=sum; "
	         "[2,3,2] [2,2]i3 [1]-|reduction=none",
};

static const nb_op nll_loss_op = {
	.version = NB_OP_VERSION,
	.name = "nll_loss",
	.kind = NB_KIND_LOSS,
	.doc = "negative log-likelihood -w[t] input[t] of log-probabilities "
	       "and class indices, reduced",
	.inputs = nll_inputs,
	.n_inputs = 3,
	.attrs = nll_defs,
	.n_attrs = 2,
	.attrs_size = sizeof(nll_attrs),
	.shape = nll_shape,
	.forward = nll_forward,
	.backward = nll_backward,
	.test = &nll_test,
};

/* ---- cosine_similarity ---- */

/*
 * PyTorch 1.13: n1 = max(|x1|, eps), n2 = max(|x2|, eps) along dim,
 * y = sum(x1 x2) / (n1 n2).  The clamp is done in place on the norm
 * without recording it, so the norm's backward x / n sees the clamped
 * n; hence
 *   dx1 = g (x2 / (n1 n2) - y x1 / n1^2), dx2 likewise.
 * The inputs are broadcast to one shape B first (copies when they
 * differ from it) and the gradients summed back.
 */
typedef struct cos_saved {
	const void *a, *b; /* x1 and x2 at the broadcast shape */
	double *n1, *n2;   /* the clamped norms, one per result element */
	int ndim;          /* the broadcast shape */
	int64_t shape[NB_MAX_DIMS];
	size_t outer, n, inner;
	double norms[];    /* n1 then n2 */
} cos_saved;

static nb_status cos_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	const cos_attrs *at = c->attrs;
	int nd, ax;
	int64_t sh[NB_MAX_DIMS];
	if (!nb__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &nd,
	                         sh))
		return nb_op_fail(c, NB_ESHAPE, "x1 and x2 cannot be broadcast "
		                  "together");
	if (!nb__axis(nd, at->dim, &ax))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)at->dim, nd);
	res->ndim = nd ? nd - 1 : 0;
	for (int i = 0, j = 0; i < nd; i++)
		if (i != ax)
			res->shape[j++] = sh[i];
	return NB_OK;
}

/* x at shape (nd, sh): its own data if it has that shape, else a copy. */
static const void *cos_expand(nb_op_ctx *c, const nb_tensor *x, int nd,
                              const int64_t *sh)
{
	if (x->ndim == nd && !memcmp(x->shape, sh, (size_t)nd * sizeof *sh))
		return x->data;
	nb_tensor *e = nb_op_scratch(c, x->dtype, nd, sh);
	if (!e)
		return NULL;
	nb__broadcast_add(x->dtype, x->data, x->ndim, x->shape, e->data, nd,
	                  sh);
	return e->data;
}

#define COS_FWD_T(TY)                                                       \
	static void cos_fwd_##TY(const cos_saved *s, double eps, TY *y,      \
	                         double *n1, double *n2)                     \
	{                                                                    \
		const TY *a = s->a, *b = s->b;                               \
		for (size_t o = 0; o < s->outer; o++)                        \
			for (size_t j = 0; j < s->inner; j++) {              \
				size_t r = o * s->inner + j;                 \
				size_t base = o * s->n * s->inner + j;       \
				double ab = 0, aa = 0, bb = 0;               \
				for (size_t k = 0; k < s->n; k++) {          \
					double u = (double)a[base + k * s->inner]; \
					double v = (double)b[base + k * s->inner]; \
					ab += u * v;                         \
					aa += u * u;                         \
					bb += v * v;                         \
				}                                            \
				n1[r] = fmax(sqrt(aa), eps);                 \
				n2[r] = fmax(sqrt(bb), eps);                 \
				y[r] = (TY)(ab / (n1[r] * n2[r]));           \
			}                                                    \
	}
COS_FWD_T(float)
COS_FWD_T(double)

static nb_status cos_forward(nb_op_ctx *c)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	const cos_attrs *at = c->attrs;
	size_t nr = c->out->numel;
	cos_saved *s = nb_op_save(c, sizeof *s + 2 * nr * sizeof(double));
	if (!s)
		return NB_ENOMEM;
	/* the shape rule checked that they broadcast */
	(void)nb__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape,
	                          &s->ndim, s->shape);
	int ax = 0;
	nb__axis(s->ndim, at->dim, &ax);
	s->outer = s->inner = 1;
	for (int i = 0; i < ax; i++)
		s->outer *= (size_t)s->shape[i];
	for (int i = ax + 1; i < s->ndim; i++)
		s->inner *= (size_t)s->shape[i];
	s->n = s->ndim ? (size_t)s->shape[ax] : 1;
	s->a = cos_expand(c, a, s->ndim, s->shape);
	s->b = cos_expand(c, b, s->ndim, s->shape);
	if (!s->a || !s->b)
		return NB_ENOMEM;
	s->n1 = s->norms;
	s->n2 = s->norms + nr;
	if (a->dtype == NB_F32)
		cos_fwd_float(s, at->eps, c->out->data, s->n1, s->n2);
	else
		cos_fwd_double(s, at->eps, c->out->data, s->n1, s->n2);
	return NB_OK;
}

/* da += g (b / (n1 n2) - y a / n1^2) at the broadcast shape; db with
 * the roles swapped (swap). */
#define COS_BWD_T(TY)                                                       \
	static void cos_bwd_##TY(const cos_saved *s, const TY *y,            \
	                         const TY *g, bool swap, TY *d)              \
	{                                                                    \
		const TY *a = swap ? s->b : s->a, *b = swap ? s->a : s->b;   \
		const double *n1 = swap ? s->n2 : s->n1;                     \
		const double *n2 = swap ? s->n1 : s->n2;                     \
		for (size_t o = 0; o < s->outer; o++)                        \
			for (size_t j = 0; j < s->inner; j++) {              \
				size_t r = o * s->inner + j;                 \
				size_t base = o * s->n * s->inner + j;       \
				double gr = (double)g[r];                    \
				double p = gr / (n1[r] * n2[r]);             \
				double q = gr * (double)y[r] /               \
				           (n1[r] * n1[r]);                  \
				for (size_t k = 0; k < s->n; k++) {          \
					size_t i = base + k * s->inner;      \
					d[i] = (TY)((double)d[i] +           \
					       p * (double)b[i] -            \
					       q * (double)a[i]);            \
				}                                            \
			}                                                    \
	}
COS_BWD_T(float)
COS_BWD_T(double)

static nb_status cos_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	const cos_saved *s = c->saved;
	for (int i = 0; i < 2; i++) {
		nb_tensor *gi = gin[i];
		if (!gi)
			continue;
		bool same = gi->ndim == s->ndim &&
		            !memcmp(gi->shape, s->shape,
		                    (size_t)s->ndim * sizeof *s->shape);
		nb_tensor *d = same ? gi
		                    : nb_op_scratch(c, gi->dtype, s->ndim,
		                                    s->shape);
		if (!d)
			return NB_ENOMEM;
		if (gi->dtype == NB_F32)
			cos_bwd_float(s, c->out->data, gout->data, i == 1,
			              d->data);
		else
			cos_bwd_double(s, c->out->data, gout->data, i == 1,
			               d->data);
		if (!same)
			nb__sum_to_shape(gi->dtype, d->data, s->ndim, s->shape,
			                 gi->data, gi->ndim, gi->shape);
	}
	return NB_OK;
}

static const nb_input_def cos_inputs[] = {
	{.name = "x1"},
	{.name = "x2", .doc = "broadcasts with x1"},
};

static const nb_op_test cos_test = {
	.cases = "[3,4] [3,4]; [2,3,4] [3,4]|axis=-1; [4,1] [3]|axis=0; "
	         "[2,5] [2,5]|axis=1 eps=0.5",
};

static const nb_op cosine_similarity_op = {
	.version = NB_OP_VERSION,
	.name = "cosine_similarity",
	.kind = NB_KIND_LOSS,
	.doc = "sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps)) along axis, "
	       "broadcasting",
	.inputs = cos_inputs,
	.n_inputs = 2,
	.attrs = cos_defs,
	.n_attrs = 2,
	.attrs_size = sizeof(cos_attrs),
	.shape = cos_shape,
	.forward = cos_forward,
	.backward = cos_backward,
	.test = &cos_test,
};

/* ---- typed wrappers (include/nabla/loss.h) ---- */

nb_tensor *nb_nll_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                       nb_tensor *weight, int64_t ignore_index,
                       nb_reduction reduction)
{
	nll_attrs a = {ignore_index, (int)reduction};
	return nb_apply(g, &nll_loss_op, 3,
	                (nb_tensor *[]){input, target, weight}, &a);
}

nb_tensor *nb_binary_cross_entropy(nb_graph *g, nb_tensor *input,
                                   nb_tensor *target, nb_tensor *weight,
                                   nb_reduction reduction)
{
	red_attrs a = {(int)reduction};
	return nb_apply(g, &bce_op, 3, (nb_tensor *[]){input, target, weight},
	                &a);
}

nb_tensor *nb_binary_cross_entropy_with_logits(nb_graph *g, nb_tensor *input,
                                               nb_tensor *target,
                                               nb_tensor *weight,
                                               nb_tensor *pos_weight,
                                               nb_reduction reduction)
{
	red_attrs a = {(int)reduction};
	return nb_apply(g, &bce_logits_op, 4,
	                (nb_tensor *[]){input, target, weight, pos_weight}, &a);
}

nb_tensor *nb_l1_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                      nb_reduction reduction)
{
	red_attrs a = {(int)reduction};
	return nb_apply(g, &l1_loss_op, 2, (nb_tensor *[]){input, target}, &a);
}

nb_tensor *nb_smooth_l1_loss(nb_graph *g, nb_tensor *input,
                             nb_tensor *target, nb_reduction reduction,
                             double beta)
{
	beta_attrs a = {(int)reduction, beta};
	return nb_apply(g, &smooth_l1_loss_op, 2,
	                (nb_tensor *[]){input, target}, &a);
}

nb_tensor *nb_huber_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                         nb_reduction reduction, double delta)
{
	beta_attrs a = {(int)reduction, delta};
	return nb_apply(g, &huber_loss_op, 2, (nb_tensor *[]){input, target},
	                &a);
}

nb_tensor *nb_kl_div(nb_graph *g, nb_tensor *input, nb_tensor *target,
                     nb_reduction reduction, bool log_target)
{
	kl_attrs a = {(int)reduction, log_target};
	return nb_apply(g, &kl_div_op, 2, (nb_tensor *[]){input, target}, &a);
}

nb_tensor *nb_cosine_similarity(nb_graph *g, nb_tensor *x1, nb_tensor *x2,
                                int64_t dim, double eps)
{
	cos_attrs a = {dim, eps};
	return nb_apply(g, &cosine_similarity_op, 2,
	                (nb_tensor *[]){x1, x2}, &a);
}

/* The family, in the order `nabla ops` lists it. */
const nb_op *const nb__losses_ops[] = {
	&nll_loss_op, &bce_op, &bce_logits_op, &l1_loss_op, &smooth_l1_loss_op,
	&huber_loss_op, &kl_div_op, &cosine_similarity_op, NULL,
};
