/*
 * char_gru.c - a character-level GRU language model (doc/sequence.md).
 *
 * Trains an embedding, one GRU layer and a linear head to predict the
 * next character of a text file, by default the GNU GPL version 3 that
 * every Debian system has (/usr/share/common-licenses/GPL-3, package
 * base-files), then writes a sample.  Written as a PyTorch user would
 * write it, with every step of the model on the graph:
 *   - the characters enter through `embedding` (a gradient only into the
 *     rows used), not as one-hot vectors times the table;
 *   - the three gates come from one fused GEMM for the input (over the
 *     whole sequence at once) and one for the state, cut apart by
 *     `chunk`; `select` takes time step t, `stack` collects the states;
 *   - the state carried from one batch to the next is detached
 *     (truncated backpropagation through time), and the gradient norm is
 *     clipped, as recurrent networks need;
 *   - generation picks each character with `argmax`: greedy, or a sample
 *     from softmax(logits / temperature) by the Gumbel-max trick.
 *
 *   char_gru [--steps N] [--seed S] [--every N] [--temp T] [--sample N]
 *            [FILE]
 *
 * Exits 1 unless the loss goes down (make check runs 30 steps), 2 for
 * bad arguments or an unreadable file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>

#include "chartext.h"   /* text_load, parse_args, pick, add_normal_param:
                         * shared with attention.c */

#define EMBED 32   /* embedding width */
#define HIDDEN 128 /* GRU state */
#define BATCH 32   /* independent streams through the text */
#define SEQ 32     /* characters per stream and step (BPTT length) */
#define LR 3e-3    /* Adam */
#define CLIP 1.0   /* max gradient norm */

/* ---- modules: an embedding and a GRU layer ---- */

static nb_tensor *embed_forward(nb_module *m, nb_graph *g, nb_tensor *idx)
{
	/* rows idx of the table; NAN: no padding_idx */
	return nb_embedding(g, idx, nb_module_tensor(m, "weight"), NAN);
}

static const nb_module_class embed_class = {
	.type = "embedding", .forward = embed_forward,
};

/* nn.Embedding(V, E): weight N(0, 1). */
static nb_module *embed_new(const char *name, int64_t v, int64_t e,
                            nb_rng *rng)
{
	return add_normal_param(nb_module_new(&embed_class, name, NULL),
	                        "weight", v, e, rng);
}

/* The GRU's state around a forward: h0 in, h_last out. */
typedef struct gru_state {
	nb_tensor *h0;     /* borrowed [B, H] to start from; NULL: zeros */
	nb_tensor *h_last; /* the state after the last step (graph tensor) */
} gru_state;

/*
 * PyTorch's nn.GRU (one layer, batch_first) on x [B, T, E] -> [B, T, H]:
 *     r  = sigmoid(x W_ir^T + b_ir + h W_hr^T + b_hr)
 *     z  = sigmoid(x W_iz^T + b_iz + h W_hz^T + b_hz)
 *     n  = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn))
 *     h' = (1 - z) * n + z * h  =  n + z * (h - n)
 * W_ih = [W_ir; W_iz; W_in] [3H, E] multiplies the whole sequence in one
 * GEMM, W_hh [3H, H] the state once per step; chunk cuts out the gates.
 */
static nb_tensor *gru_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	gru_state *s = nb_module_state(m);
	nb_tensor *w_hh = nb_module_tensor(m, "weight_hh_l0");
	nb_tensor *b_hh = nb_module_tensor(m, "bias_hh_l0");
	if (!x)
		return NULL;  /* the graph holds the error */
	int64_t b = nb_tensor_dim(x, 0), steps = nb_tensor_dim(x, 1);
	nb_tensor *gx = nb_linear(g, x, nb_module_tensor(m, "weight_ih_l0"),
	                          nb_module_tensor(m, "bias_ih_l0"));
	nb_tensor *h = s->h0 ? s->h0
	                     : nb_graph_tensor(g, NB_F32, NB_SHAPE(b, HIDDEN));
	nb_tensor **hs = calloc((size_t)steps, sizeof *hs);
	if (!hs)
		return NULL;
	for (int64_t t = 0; t < steps && h; t++) {
		nb_tensor *xg[3] = {NULL}, *hg[3] = {NULL};
		nb_chunk(g, nb_select(g, gx, 1, t), 3, -1, xg, 3);
		nb_chunk(g, nb_linear(g, h, w_hh, b_hh), 3, -1, hg, 3);
		nb_tensor *r = nb_sigmoid(g, nb_add(g, xg[0], hg[0]));
		nb_tensor *z = nb_sigmoid(g, nb_add(g, xg[1], hg[1]));
		nb_tensor *n = nb_tanh(g, nb_add(g, xg[2], nb_mul(g, r, hg[2])));
		h = hs[t] = nb_add(g, n, nb_mul(g, z, nb_sub(g, h, n)));
	}
	s->h_last = h;
	nb_tensor *y = h ? nb_stack(g, (int)steps, hs, 1) : NULL;
	free(hs);
	return y;
}

static const nb_module_class gru_class = {
	.type = "gru", .forward = gru_forward, .free_state = free,
};

/* nn.GRU(E, H, batch_first=True): everything U(-1/sqrt(H), 1/sqrt(H)),
 * drawn in PyTorch's order. */
static nb_module *gru_new(const char *name, int64_t e, int64_t h,
                          nb_rng *rng)
{
	static const char *names[4] = {"weight_ih_l0", "weight_hh_l0",
	                               "bias_ih_l0", "bias_hh_l0"};
	gru_state *s = calloc(1, sizeof *s);
	/* nb_module_new steals s, also when it fails. */
	nb_module *m = s ? nb_module_new(&gru_class, name, s) : NULL;
	double k = 1 / sqrt((double)h);
	for (int i = 0; i < 4 && m; i++) {
		int64_t cols = i == 0 ? e : h;
		nb_tensor *p = i < 2 ? nb_tensor_zeros(NB_F32, NB_SHAPE(3 * h, cols))
		                     : nb_tensor_zeros(NB_F32, NB_SHAPE(3 * h));
		if (!p || nb_init_uniform(p, rng, -k, k)) {
			nb_tensor_free(p);
			p = NULL;
		}
		/* nb_module_add_param steals p, also when it fails. */
		if (!p || nb_module_add_param(m, names[i], p)) {
			nb_module_free(m);
			m = NULL;
		}
	}
	return m;
}

/* embedding -> GRU -> linear head: [B, T] indices -> [B, T, V] logits */
static nb_module *build(int vocab, nb_rng *rng)
{
	nb_module *m = nb_sequential_new(NULL);
	/* nb_module_add steals the child, also when it fails. */
	if (!m || nb_module_add(m, embed_new("embed", vocab, EMBED, rng)) ||
	    nb_module_add(m, gru_new("gru", EMBED, HIDDEN, rng)) ||
	    nb_module_add(m, nb_linear_new("head", HIDDEN, vocab, true, NB_F32,
	                                   rng))) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* ---- generation ---- */

/* Prints prompt and n characters the model continues it with. */
static int generate(nb_module *model, gru_state *s, nb_graph *g,
                    const text *tx, const char *prompt, int n, double temp,
                    nb_rng *r)
{
	int64_t ids[256];
	int64_t len = 0;
	for (const char *p = prompt; *p && len < 256; p++)
		for (int c = 0; c < tx->vocab; c++)
			if (tx->chars[c] == (unsigned char)*p)
				ids[len++] = c;   /* characters not in the text are left out */
	nb_tensor *h = nb_tensor_zeros(NB_F32, NB_SHAPE(1, HIDDEN));
	bool was = nb_graph_set_grad_enabled(g, false);
	int status = h && len ? 0 : -1;
	printf("sample (temperature %g):\n", temp);
	for (int64_t i = 0; i < len; i++)
		putchar(tx->chars[ids[i]]);
	for (int k = 0; k < n && !status; k++) {
		nb_graph_reset(g);
		s->h0 = h;
		nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(1, len), ids);
		nb_tensor *logits = nb_module_forward(model, g, x);   /* [1, L, V] */
		int64_t c = pick(g, nb_select(g, logits, 1, -1), temp, r);
		if (c < 0 || nb_tensor_copy(h, s->h_last)) {
			status = -1;
			break;
		}
		putchar(tx->chars[c]);
		ids[0] = c;   /* the state holds the rest: feed one character */
		len = 1;
	}
	printf("\n");
	if (status)
		fprintf(stderr, "char_gru: %s\n", nb_graph_errmsg(g));
	s->h0 = NULL;
	nb_graph_set_grad_enabled(g, was);
	nb_tensor_free(h);
	return status;
}

/*
 * The mean loss per character on the held-out text, read as one stream
 * SEQ characters at a time with the state carried; NAN on error.
 */
static double evaluate(nb_module *model, gru_state *s, nb_graph *g,
                       const text *tx)
{
	nb_tensor *h = nb_tensor_zeros(NB_F32, NB_SHAPE(1, HIDDEN));
	bool was = nb_graph_set_grad_enabled(g, false);
	double sum = h ? 0 : NAN;
	size_t n = 0;
	for (size_t at = tx->train; h && at + SEQ < tx->len; at += SEQ, n++) {
		nb_graph_reset(g);
		s->h0 = h;
		nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(1, SEQ),
		                                  tx->ids + at);
		nb_tensor *y = nb_graph_from_data(g, NB_I64, NB_SHAPE(SEQ),
		                                  tx->ids + at + 1);
		nb_tensor *loss = nb_cross_entropy(g, nb_reshape(g,
		    nb_module_forward(model, g, x), 2, (int64_t[]){SEQ, tx->vocab}),
		    y, NULL, -100, NB_REDUCTION_MEAN, 0);
		if (!loss || nb_tensor_copy(h, s->h_last)) {
			sum = NAN;
			break;
		}
		sum += nb_tensor_item(loss);
	}
	s->h0 = NULL;
	nb_graph_set_grad_enabled(g, was);
	nb_tensor_free(h);
	return n ? sum / (double)n : NAN;
}

/* ---- training ---- */

/*
 * Fills in/target [BATCH, SEQ] with the next window of each of BATCH
 * streams, stream b reading the b-th of BATCH equal parts of the
 * training text.
 * Returns true when the streams went back to their starts (the carried
 * state is then stale).
 */
static bool next_batch(const text *tx, size_t *pos, int64_t *in,
                       int64_t *target)
{
	size_t part = tx->train / BATCH;
	bool wrapped = *pos + SEQ + 1 > part;
	if (wrapped)
		*pos = 0;
	for (size_t b = 0; b < BATCH; b++)
		for (size_t t = 0; t < SEQ; t++) {
			size_t i = b * part + *pos + t;
			in[b * SEQ + t] = tx->ids[i];
			target[b * SEQ + t] = tx->ids[i + 1];
		}
	*pos += SEQ;
	return wrapped;
}

int main(int argc, char **argv)
{
	opts o;
	text tx;
	if (parse_args(argc, argv, &o)) {
		fprintf(stderr, "usage: char_gru [--steps N] [--seed S] "
		        "[--every N] [--temp T] [--sample N] [FILE]\n");
		return 2;
	}
	if (text_load(&tx, o.path, 2 * BATCH * (SEQ + 1), "char_gru")) {
		free(tx.bytes);
		free(tx.ids);
		return 2;
	}
	nb_rng rng;
	nb_rng_seed(&rng, o.seed);
	nb_graph *g = nb_graph_new();
	nb_module *model = build(tx.vocab, &rng);
	gru_state *s = nb_module_state(nb_module_child(model, 1));
	nb_tensor *carry = nb_tensor_zeros(NB_F32, NB_SHAPE(BATCH, HIDDEN));
	nb_tensor *params[8];
	nb_optim *opt = NULL;
	int status = 1;
	if (!g || !model || !carry)
		goto fail;
	size_t np = nb_module_params(model, true, params, 8);
	nb_adam_opts ao = nb_adam_defaults();
	ao.lr = LR;
	if (np > 8 || !(opt = nb_optim_adam(params, np, &ao)))
		goto fail;
	printf("char_gru: %s, %zu bytes, %d characters; %zu parameters\n",
	       o.path, tx.len, tx.vocab, nb_module_numel(model, true));

	int64_t in[BATCH * SEQ], target[BATCH * SEQ];
	size_t pos = 0;
	double first = 0, recent = 0;
	long nrecent = o.steps >= 50 ? 10 : (o.steps + 4) / 5;
	for (long step = 0; step < o.steps; step++) {
		if (next_batch(&tx, &pos, in, target))
			nb_tensor_fill(carry, 0);
		nb_graph_reset(g);
		nb_optim_zero_grad(opt, true);
		nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(BATCH, SEQ), in);
		nb_tensor *y = nb_graph_from_data(g, NB_I64, NB_SHAPE(BATCH * SEQ),
		                                  target);
		s->h0 = carry;
		nb_tensor *logits = nb_module_forward(model, g, x); /* [B, T, V] */
		nb_tensor *loss = nb_cross_entropy(g,
		    nb_reshape(g, logits, 2, (int64_t[]){BATCH * SEQ, tx.vocab}), y,
		    NULL, -100, NB_REDUCTION_MEAN, 0);
		double norm;
		if (!loss || nb_backward(loss, NULL) ||
		    nb_clip_grad_norm(params, np, CLIP, 2, true, &norm) ||
		    nb_optim_step(opt))
			goto fail;
		/* Truncated BPTT: the next batch continues each stream from this
		 * state, but its gradient stops here (PyTorch: h = h.detach()).
		 * The copy into a persistent tensor outlives nb_graph_reset. */
		if (nb_tensor_copy(carry, nb_detach(g, s->h_last)))
			goto fail;
		double l = nb_tensor_item(loss);
		if (step == 0)
			first = l;
		if (step >= o.steps - nrecent)
			recent += l / (double)nrecent;
		if (step % o.every == 0 || step == o.steps - 1)
			printf("step %5ld  loss %.4f  (%.3f bits/char)  grad norm %.3f\n",
			       step, l, l / log(2), norm);
	}
	s->h0 = NULL;
	printf("loss %.4f -> %.4f (mean of the last %ld steps), %.3f -> %.3f "
	       "bits/char\n", first, recent, nrecent, first / log(2),
	       recent / log(2));
	double held = evaluate(model, s, g, &tx);
	if (isnan(held))
		goto fail;
	printf("held-out loss %.4f (%.3f bits/char) on the last %zu bytes\n",
	       held, held / log(2), tx.len - tx.train);
	if (generate(model, s, g, &tx, "This License", (int)o.sample, o.temp,
	             &rng))
		goto out;
	status = recent < 0.9 * first ? 0 : 1;
	if (status)
		fprintf(stderr, "char_gru: the loss did not go down\n");
	goto out;
fail:
	fprintf(stderr, "char_gru: %s\n",
	        nb_graph_status(g) ? nb_graph_errmsg(g) : nb_last_error());
out:
	nb_optim_free(opt);
	nb_module_free(model);
	nb_tensor_free(carry);
	nb_graph_free(g);
	free(tx.bytes);
	free(tx.ids);
	return status;
}
