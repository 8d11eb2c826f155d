/*
 * textlm.h - character language models from the command line: one
 * epoch of truncated backpropagation through time, bits per character
 * on held-out text, and generation.  Used by `nabla train --text` and
 * `nabla sample`; kept apart so that tests can run it.
 *
 * A model maps int64 ids [batch, steps] to logits [batch, steps, V].
 * A model that carries state (nb_module_has_state: a recurrent net) is
 * run stateful, so each window starts from the previous window's final
 * state (detached); others (transformers) see each window alone.
 */
#ifndef NB_TEXTLM_H
#define NB_TEXTLM_H

#include <stdbool.h>
#include <stdio.h>
#include <nabla/nabla.h>

typedef struct tl_cfg {
	int64_t batch, steps;
	double clip_norm;      /* > 0: clip the gradients' norm */
	size_t max_windows;    /* > 0: stop an epoch after this many */
	void (*progress)(void *ctx, size_t done, size_t n, double bpc);
	void *ctx;
	/* Data-parallel training (nabla train --dist): this process's
	 * streams [row0, row0 + rows) of each window (rows 0: all), its
	 * mean loss multiplied by rows * ranks / batch before backward,
	 * so that the ranks' averaged gradients are the whole batch's,
	 * and backward done by backward(bctx, loss) (NULL: nb_backward),
	 * which averages them.  A recurrent model's carried state is then
	 * that of its own streams, window after window. */
	int64_t row0, rows;
	int ranks;
	nb_status (*backward)(void *bctx, nb_tensor *loss);
	void *bctx;
} tl_cfg;

/* The mean cross entropy of logits [B, T, V] against ids y [B, T], in
 * nats (a graph scalar, or NULL with the error on g). */
nb_tensor *tl_loss(nb_graph *g, nb_tensor *logits, nb_tensor *y);

/*
 * One epoch over the training split: windows in order, each a
 * forward, backward, optional clipping and an optimizer step; *bpc gets
 * the epoch's mean loss in bits per character (with c->rows, this
 * process's part of it: the ranks' values sum to the whole batch's).
 * Errors: the graph's or the optimizer's, with the message in err.
 */
nb_status tl_train_epoch(nb_module *m, nb_graph *g, nb_optim *opt,
                         nb_tensor *const *params, size_t n_params,
                         const nb_text *t, const tl_cfg *c, double *bpc,
                         char *err, size_t errn);

/* Bits per character of m on a split (evaluation mode, no gradients),
 * windows as in training; NB_EINVAL when the split has no window. */
nb_status tl_evaluate(nb_module *m, nb_graph *g, const nb_text *t,
                      nb_text_split split, int64_t batch, int64_t steps,
                      double *bpc, char *err, size_t errn);
/* The same over windows [w0, w1) only: *sum gets the sum of their mean
 * losses in nats (0 for no window), a model with state carrying it from
 * w0 on, so that shards of a stateless model's windows add up to
 * tl_evaluate's figure (times windows * ln 2). */
nb_status tl_evaluate_sum(nb_module *m, nb_graph *g, const nb_text *t,
                          nb_text_split split, int64_t batch,
                          int64_t steps, size_t w0, size_t w1,
                          double *sum, char *err, size_t errn);

/*
 * Writes prompt, then n characters drawn one by one from m
 * (nb_sample_categorical with temperature and top_k, from r) to out.
 * A stateful model is fed the prompt once and then each new character;
 * another sees the last `context` characters every time.  A prompt
 * byte outside the alphabet is NB_EINVAL naming it; an empty prompt
 * starts from the alphabet's first character (not written).
 */
nb_status tl_generate(nb_module *m, nb_graph *g, const nb_text *t,
                      const char *prompt, size_t n, double temperature,
                      int64_t top_k, int64_t context, nb_rng *r, FILE *out,
                      char *err, size_t errn);

#endif
