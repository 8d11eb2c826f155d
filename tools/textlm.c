/*
 * textlm.c - training, evaluating and sampling a character language
 * model (textlm.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "textlm.h"

#define TL_LN2 0.69314718055994530942

nb_tensor *tl_loss(nb_graph *g, nb_tensor *logits, nb_tensor *y)
{
	if (!logits || !y)
		return NULL;
	int64_t v = nb_tensor_dim(logits, nb_tensor_ndim(logits) - 1);
	int64_t n = (int64_t)nb_tensor_numel(y);
	if (nb_tensor_ndim(logits) != 3 || nb_tensor_dim(logits, 0) *
	    nb_tensor_dim(logits, 1) != n) {
		char a[96], b[96];
		nb_shape_str(nb_tensor_ndim(logits), nb_tensor_shape(logits), a,
		             sizeof a);
		nb_shape_str(nb_tensor_ndim(y), nb_tensor_shape(y), b, sizeof b);
		nb_graph_fail(g, NB_ESHAPE, "text model: the model gives %s for "
		              "ids %s; want [batch, steps, vocabulary]", a, b);
		return NULL;
	}
	nb_tensor *flat = nb_reshape(g, logits, NB_SHAPE(n, v));
	nb_tensor *ty = nb_reshape(g, y, NB_SHAPE(n));
	return nb_cross_entropy(g, flat, ty, NULL, -100, NB_REDUCTION_MEAN, 0);
}

/* The message of the graph's error, or of the last one. */
static nb_status fail(nb_graph *g, char *err, size_t errn)
{
	nb_status st = nb_graph_status(g);
	snprintf(err, errn, "%s", st ? nb_graph_errmsg(g) : nb_last_error());
	return st ? st : nb_last_status() ? nb_last_status() : NB_EINVAL;
}

nb_status tl_train_epoch(nb_module *m, nb_graph *g, nb_optim *opt,
                         nb_tensor *const *params, size_t n_params,
                         const nb_text *t, const tl_cfg *c, double *bpc,
                         char *err, size_t errn)
{
	size_t n = nb_text_windows(t, NB_TEXT_TRAIN, c->batch, c->steps);
	if (c->max_windows && c->max_windows < n)
		n = c->max_windows;
	if (!n) {
		snprintf(err, errn, "the training text (%zu characters) is too "
		         "short for one window of batch %lld x steps %lld",
		         nb_text_len(t, NB_TEXT_TRAIN), (long long)c->batch,
		         (long long)c->steps);
		return NB_EINVAL;
	}
	bool carry = nb_module_has_state(m);
	nb_module_set_training(m, true);
	nb_module_set_stateful(m, carry);
	nb_module_reset_state(m);
	bool part = c->rows > 0 && c->rows < c->batch;
	/* this process's share of the batch's mean loss */
	double share = part ? (double)c->rows / (double)c->batch : 1;
	double sum = 0;
	for (size_t k = 0; k < n; k++) {
		nb_tensor *x, *y;
		nb_graph_reset(g);
		nb_optim_zero_grad(opt, false);
		if (nb_text_window(g, t, NB_TEXT_TRAIN, c->batch, c->steps, k, &x,
		                   &y))
			return fail(g, err, errn);
		if (part) {
			x = nb_slice(g, x, 0, c->row0, c->row0 + c->rows, 1);
			y = nb_slice(g, y, 0, c->row0, c->row0 + c->rows, 1);
		}
		nb_tensor *loss = tl_loss(g, nb_module_forward(m, g, x), y);
		nb_tensor *total = part && loss ? nb_affine_scalar(g, loss,
		    share * (c->ranks > 1 ? c->ranks : 1), 0) : loss;
		if (!total || (c->backward ? c->backward(c->bctx, total)
		                           : nb_backward(total, NULL)))
			return fail(g, err, errn);
		double l = nb_tensor_item(loss);
		if (!isfinite(l)) {
			snprintf(err, errn, "the loss is %s at window %zu (try a "
			         "smaller --lr or --clip-norm)", isnan(l) ? "NaN"
			         : "infinite", k + 1);
			return NB_ENONFINITE;
		}
		if ((c->clip_norm > 0 && nb_clip_grad_norm(params, n_params,
		                                           c->clip_norm, 2, false,
		                                           NULL)) ||
		    nb_optim_step(opt)) {
			snprintf(err, errn, "%s", nb_last_error());
			return nb_last_status();
		}
		sum += l * share;
		if (c->progress)
			c->progress(c->ctx, k + 1, n,
			            sum / share / (double)(k + 1) / TL_LN2);
	}
	nb_module_set_stateful(m, false);
	nb_module_reset_state(m);
	*bpc = sum / (double)n / TL_LN2;
	return NB_OK;
}

nb_status tl_evaluate_sum(nb_module *m, nb_graph *g, const nb_text *t,
                          nb_text_split split, int64_t batch,
                          int64_t steps, size_t w0, size_t w1,
                          double *sum, char *err, size_t errn)
{
	bool training = nb_module_training(m);
	bool carry = nb_module_has_state(m);
	nb_module_set_training(m, false);
	nb_module_set_stateful(m, carry);
	nb_module_reset_state(m);
	nb_status st = NB_OK;
	double s = 0;
	for (size_t k = w0; k < w1 && !st; k++) {
		nb_tensor *x, *y;
		nb_graph_reset(g);
		bool was = nb_graph_set_grad_enabled(g, false);
		nb_tensor *loss = NULL;
		if (!nb_text_window(g, t, split, batch, steps, k, &x, &y))
			loss = tl_loss(g, nb_module_forward(m, g, x), y);
		nb_graph_set_grad_enabled(g, was);
		if (!loss)
			st = fail(g, err, errn);
		else
			s += nb_tensor_item(loss);
	}
	nb_module_set_stateful(m, false);
	nb_module_reset_state(m);
	nb_module_set_training(m, training);
	nb_graph_reset(g);
	if (!st)
		*sum = s;
	return st;
}

nb_status tl_evaluate(nb_module *m, nb_graph *g, const nb_text *t,
                      nb_text_split split, int64_t batch, int64_t steps,
                      double *bpc, char *err, size_t errn)
{
	size_t n = nb_text_windows(t, split, batch, steps);
	if (!n) {
		snprintf(err, errn, "the %s text (%zu characters) is too short "
		         "for one window of batch %lld x steps %lld",
		         split == NB_TEXT_TRAIN ? "training" : "held-out",
		         nb_text_len(t, split), (long long)batch, (long long)steps);
		return NB_EINVAL;
	}
	double sum;
	nb_status st = tl_evaluate_sum(m, g, t, split, batch, steps, 0, n,
	                               &sum, err, errn);
	if (!st)
		*bpc = sum / (double)n / TL_LN2;
	return st;
}

/* The logits of the last position of m's output for ids [1, len]. */
static nb_tensor *last_logits(nb_module *m, nb_graph *g, const int64_t *ids,
                              int64_t len)
{
	nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(1, len), ids);
	nb_tensor *y = nb_module_forward(m, g, x);
	if (!y)
		return NULL;
	if (nb_tensor_ndim(y) != 3) {
		nb_graph_fail(g, NB_ESHAPE, "text model: the model's output has "
		              "rank %d; want [batch, steps, vocabulary]",
		              nb_tensor_ndim(y));
		return NULL;
	}
	return nb_select(g, nb_select(g, y, 0, 0), 0, len - 1);
}

nb_status tl_generate(nb_module *m, nb_graph *g, const nb_text *t,
                      const char *prompt, size_t n, double temperature,
                      int64_t top_k, int64_t context, nb_rng *r, FILE *out,
                      char *err, size_t errn)
{
	size_t plen = strlen(prompt), cap = plen + n + 1;
	int64_t *ids = malloc(cap * sizeof *ids);
	if (!ids) {
		snprintf(err, errn, "out of memory");
		return NB_ENOMEM;
	}
	for (size_t i = 0; i < plen; i++)
		if ((ids[i] = nb_text_id(t, (unsigned char)prompt[i])) < 0) {
			snprintf(err, errn, "the prompt's byte %zu (0x%02x) is not in "
			         "the model's alphabet", i,
			         (unsigned char)prompt[i]);
			free(ids);
			return NB_EINVAL;
		}
	size_t len = plen;
	if (!len)
		ids[len++] = 0;
	fputs(prompt, out);
	bool carry = nb_module_has_state(m);
	bool training = nb_module_training(m);
	nb_module_set_training(m, false);
	nb_module_set_stateful(m, carry);
	nb_module_reset_state(m);
	nb_status st = NB_OK;
	size_t fed = 0;   /* stateful: ids already seen by the model */
	for (size_t k = 0; k < n && !st; k++) {
		nb_graph_reset(g);
		bool was = nb_graph_set_grad_enabled(g, false);
		size_t from = carry ? fed
		              : len > (size_t)context ? len - (size_t)context : 0;
		nb_tensor *l = last_logits(m, g, ids + from, (int64_t)(len - from));
		nb_graph_set_grad_enabled(g, was);
		fed = len;
		int64_t next = l ? nb_sample_categorical(l, temperature, top_k, r)
		                 : -1;
		if (next < 0) {
			st = fail(g, err, errn);
			break;
		}
		ids[len++] = next;
		fputc(nb_text_byte(t, next), out);
	}
	nb_module_set_stateful(m, false);
	nb_module_reset_state(m);
	nb_module_set_training(m, training);
	nb_graph_reset(g);
	free(ids);
	return st;
}
