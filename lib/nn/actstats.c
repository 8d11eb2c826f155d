/*
 * actstats.c - statistics of an activation's output: mean and spread,
 * how many values sit at the output's limits (saturation, where the
 * gradient vanishes) or at exactly 0, and how many units never leave
 * them (dead units).  See nb_activation_stats in nabla/activation.h.
 */
#include <math.h>
#include "internal.h"

/* Whether value v counts as "stuck" for a dead unit. */
typedef struct limits {
	bool bounded;
	double lo, hi; /* saturated: v <= lo or v >= hi */
} limits;

/* Element i as a double (float32 or float64; checked by the caller). */
static inline double at(const nb_tensor *x, size_t i)
{
	return x->dtype == NB_F32 ? (double)((const float *)x->data)[i]
	                          : ((const double *)x->data)[i];
}

static bool saturated(const limits *l, double v)
{
	return l->bounded && (v <= l->lo || v >= l->hi);
}

static bool stuck(const limits *l, double v)
{
	return l->bounded ? saturated(l, v) : v == 0;
}

/* Whether every value of unit f is stuck; x viewed as [N, F, inner]. */
static bool dead_unit(const nb_tensor *x, const limits *l, size_t N,
                      size_t F, size_t inner, size_t f)
{
	for (size_t n = 0; n < N; n++) {
		size_t base = (n * F + f) * inner;
		for (size_t j = 0; j < inner; j++)
			if (!stuck(l, at(x, base + j)))
				return false;
	}
	return true;
}

nb_status nb_activation_stats(const nb_op *op, const nb_tensor *out,
                              nb_act_stats *st)
{
	if (!out || !st)
		return nb__set_error(NB_EINVAL, "activation_stats: %s is NULL",
		                     out ? "the result pointer" : "the output");
	memset(st, 0, sizeof *st);
	if (!nb__is_float(out->dtype))
		return nb__set_error(NB_EDTYPE, "activation_stats: the output "
		                     "must be float32 or float64, not %s",
		                     nb_dtype_name(out->dtype));
	if (out->ndim < 1)
		return nb__set_error(NB_ESHAPE, "activation_stats: the output "
		                     "must have rank 1 or more, not 0");
	size_t n = out->numel;
	st->n = n;
	if (!n)
		return NB_OK;

	limits l = {false, 0, 0};
	const nb_op_test *t = op ? op->test : NULL;
	if (t && t->out_lo < t->out_hi) {
		double tol = 0.01 * (t->out_hi - t->out_lo);
		l = (limits){true, t->out_lo + tol, t->out_hi - tol};
	}
	double sum = 0;
	size_t n_sat = 0, n_zero = 0;
	for (size_t i = 0; i < n; i++) {
		double v = at(out, i);
		sum += v;
		n_sat += saturated(&l, v);
		n_zero += v == 0;
	}
	st->mean = sum / (double)n;
	double ss = 0; /* two passes: no cancellation in the variance */
	for (size_t i = 0; i < n; i++) {
		double d = at(out, i) - st->mean;
		ss += d * d;
	}
	st->std = sqrt(ss / (double)n);
	st->saturated = (double)n_sat / (double)n;
	st->zero = (double)n_zero / (double)n;

	size_t N = 1, F = 1, inner = n;
	if (out->ndim >= 2) {
		N = (size_t)out->shape[0];
		F = (size_t)out->shape[1];
		inner = n / (N * F);
	}
	size_t dead = 0;
	for (size_t f = 0; f < F; f++)
		dead += dead_unit(out, &l, N, F, inner, f);
	st->dead_units = (double)dead / (double)F;
	return NB_OK;
}
