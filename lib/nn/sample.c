/*
 * sample.c - drawing the next token from a row of logits: softmax with
 * a temperature, optionally restricted to the top k (nabla/text.h).
 */
#include <math.h>
#include "internal.h"

int64_t nb_sample_categorical(const nb_tensor *logits, double temperature,
                              int64_t top_k, nb_rng *r)
{
	if (!logits || !r || !(temperature >= 0) || top_k < 0) {
		nb__set_error(NB_EINVAL, "sample: %s", !logits
		              ? "logits are NULL" : !r ? "generator is NULL"
		              : top_k < 0 ? "top_k must be >= 0"
		              : "temperature must be >= 0");
		return -1;
	}
	if (!nb__is_float(nb_tensor_dtype(logits))) {
		nb__set_error(NB_EDTYPE, "sample: logits must be float, not %s",
		              nb_dtype_name(nb_tensor_dtype(logits)));
		return -1;
	}
	size_t v = nb_tensor_numel(logits);
	int nd = nb_tensor_ndim(logits);
	if (v == 0 || nd < 1 || (size_t)nb_tensor_dim(logits, nd - 1) != v) {
		char sh[96];
		nb_shape_str(nd, nb_tensor_shape(logits), sh, sizeof sh);
		nb__set_error(NB_EINVAL, "sample: logits %s: want one row of "
		              "at least one value", sh);
		return -1;
	}
	/* The largest logit, and the k-th largest as the cut. */
	double hi = -INFINITY;
	size_t arg = 0;
	for (size_t i = 0; i < v; i++) {
		double l = nb_tensor_get(logits, i);
		if (isnan(l)) {
			nb__set_error(NB_EINVAL, "sample: logit %zu is NaN", i);
			return -1;
		}
		if (l > hi) {
			hi = l;
			arg = i;
		}
	}
	if (hi == -INFINITY) {
		nb__set_error(NB_EINVAL, "sample: every logit is -inf");
		return -1;
	}
	if (temperature == 0 || hi == INFINITY)
		return (int64_t)arg;
	double cut = -INFINITY;
	if (top_k > 0 && (size_t)top_k < v) {
		/* The k-th largest: count, for each distinct candidate, how
		 * many are larger; O(V k), V is a vocabulary. */
		double below = INFINITY;
		for (int64_t j = 0; j < top_k; j++) {
			double best = -INFINITY;
			for (size_t i = 0; i < v; i++) {
				double l = nb_tensor_get(logits, i);
				if (l < below && l > best)
					best = l;
			}
			size_t ties = 0;
			for (size_t i = 0; i < v; i++)
				ties += nb_tensor_get(logits, i) == best;
			cut = best;
			below = best;
			j += (int64_t)ties - 1;
		}
	}
	double total = 0;
	for (size_t i = 0; i < v; i++) {
		double l = nb_tensor_get(logits, i);
		if (l >= cut)
			total += exp((l - hi) / temperature);
	}
	double u = nb_rng_uniform(r) * total, acc = 0;
	size_t last = arg;
	for (size_t i = 0; i < v; i++) {
		double l = nb_tensor_get(logits, i);
		if (l < cut)
			continue;
		acc += exp((l - hi) / temperature);
		last = i;
		if (u < acc)
			return (int64_t)i;
	}
	return (int64_t)last; /* rounding left u at the total */
}
