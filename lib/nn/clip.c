/*
 * clip.c - gradient clipping on parameters, after torch.nn.utils:
 * clip_grad_norm_ (one coefficient for all gradients, from their total
 * norm) and clip_grad_value_ (elementwise clamp).  The graph-op forms
 * are in ops/regularize.c.
 *
 * The total norm is the norm of the per-parameter norms, as PyTorch
 * computes it; sums are accumulated in double for both dtypes.
 */
#include <math.h>
#include "internal.h"

/* ||g||_p of one gradient (p = INFINITY: max |g|), in double. */
static double grad_norm(const nb_tensor *g, double p)
{
	double s = 0;
	for (size_t i = 0; i < g->numel; i++) {
		double v = fabs(nb_tensor_get(g, i));
		if (isinf(p))
			s = v > s || isnan(v) ? v : s;
		else if (p == 2)
			s += v * v;
		else if (p == 1)
			s += v;
		else
			s += pow(v, p);
	}
	if (isinf(p) || p == 1)
		return s;
	return p == 2 ? sqrt(s) : pow(s, 1 / p);
}

static nb_status check_params(const char *fn, nb_tensor *const *params,
                              size_t n)
{
	if (n && !params)
		return nb__set_error(NB_EINVAL, "%s: params is NULL", fn);
	for (size_t i = 0; i < n; i++)
		if (!params[i])
			return nb__set_error(NB_EINVAL, "%s: parameter %zu is "
			                     "NULL", fn, i);
	return NB_OK;
}

#define SCALE_T(T)                                                           \
	static void scale_##T(T *g, size_t n, T k)                           \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			g[i] *= k;                                           \
	}                                                                    \
	static void clamp_##T(T *g, size_t n, T lim)                         \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			g[i] = g[i] > lim ? lim : g[i] < -lim ? -lim : g[i]; \
	}
SCALE_T(float)
SCALE_T(double)

nb_status nb_clip_grad_norm(nb_tensor *const *params, size_t n,
                            double max_norm, double norm_type,
                            bool error_if_nonfinite, double *total_norm)
{
	nb_status st = check_params("clip_grad_norm", params, n);
	if (st)
		return st;
	if (!(max_norm >= 0))
		return nb__set_error(NB_EINVAL, "clip_grad_norm: max_norm = %g "
		                     "must be >= 0", max_norm);
	if (!(norm_type > 0))
		return nb__set_error(NB_EINVAL, "clip_grad_norm: norm_type = %g "
		                     "must be > 0 (2, or INFINITY for the max)",
		                     norm_type);
	/* Norm of the per-parameter norms (max of them for INFINITY). */
	double total = 0;
	for (size_t i = 0; i < n; i++) {
		const nb_tensor *g = params[i]->grad;
		if (!g)
			continue;
		double v = grad_norm(g, norm_type);
		if (isinf(norm_type))
			total = v > total || isnan(v) ? v : total;
		else if (norm_type == 2)
			total += v * v;
		else
			total += pow(v, norm_type);
	}
	if (!isinf(norm_type))
		total = norm_type == 2 ? sqrt(total) : pow(total, 1 / norm_type);
	if (total_norm)
		*total_norm = total;
	if (error_if_nonfinite && !isfinite(total))
		return nb__set_error(NB_ENONFINITE, "clip_grad_norm: the total "
		                     "norm of order %g of the gradients is %g, so "
		                     "they cannot be clipped", norm_type, total);
	double k = max_norm / (total + 1e-6);
	if (k >= 1) /* clamped to 1: nothing to do (NaN falls through) */
		return NB_OK;
	for (size_t i = 0; i < n; i++) {
		nb_tensor *g = params[i]->grad;
		if (!g)
			continue;
		if (g->dtype == NB_F32)
			scale_float(g->data, g->numel, (float)k);
		else
			scale_double(g->data, g->numel, k);
	}
	return NB_OK;
}

nb_status nb_clip_grad_value(nb_tensor *const *params, size_t n,
                             double clip)
{
	nb_status st = check_params("clip_grad_value", params, n);
	if (st)
		return st;
	if (!(clip >= 0))
		return nb__set_error(NB_EINVAL, "clip_grad_value: clip = %g must "
		                     "be >= 0", clip);
	for (size_t i = 0; i < n; i++) {
		nb_tensor *g = params[i]->grad;
		if (!g)
			continue;
		if (g->dtype == NB_F32)
			clamp_float(g->data, g->numel, (float)clip);
		else
			clamp_double(g->data, g->numel, clip);
	}
	return NB_OK;
}
