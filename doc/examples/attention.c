/*
 * attention.c - a causal self-attention block trained as a character
 * language model (doc/sequence.md): one pre-norm transformer block,
 *     x = tok[idx] + pos[0..T-1]
 *     x = x + proj(multi-head causal attention(ln1(x)))
 *     x = x + mlp(ln2(x))            mlp: linear 4C, gelu, linear C
 *     logits = head(ln_f(x))
 * trained to predict the next character of a text file, by default the
 * GNU GPL version 3 that every Debian system has
 * (/usr/share/common-licenses/GPL-3, package base-files), then a sample.
 * Written as a PyTorch user would write it, every step on the graph:
 *   - `embedding` for the characters, and the first T rows of the
 *     position table taken by `slice`;
 *   - q, k and v cut from one fused GEMM by `split`, each head's columns
 *     by `slice`, and the heads' outputs joined by `cat`;
 *   - the causal mask: `tril` of ones, compared with 0 (`eq`) and
 *     applied by `masked_fill` with -inf before the softmax;
 *   - the last position's logits by `select`, the next character by
 *     `argmax` (greedy, or a sample by the Gumbel-max trick).
 *
 *   attention [--steps N] [--seed S] [--every N] [--temp T] [--sample N]
 *             [FILE]
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
                         * shared with char_gru.c */

#define BLOCK 32   /* context: characters the model sees */
#define EMBED 64   /* model width C */
#define HEADS 4    /* heads of EMBED / HEADS columns */
#define BATCH 32   /* windows per step */
#define LR 3e-3    /* AdamW */

/* ---- modules ---- */

/* Token and position embeddings (nn.Embedding: N(0, 1)). */
static nb_tensor *embed_forward(nb_module *m, nb_graph *g, nb_tensor *idx)
{
	if (!idx)
		return NULL;
	int64_t t = nb_tensor_dim(idx, 1);
	nb_tensor *tok = nb_embedding(g, idx, nb_module_tensor(m, "tok"), NAN);
	/* pos(arange(t)) is the first t rows of the table */
	return nb_add(g, tok, nb_slice(g, nb_module_tensor(m, "pos"), 0, 0, t, 1));
}

static const nb_module_class embed_class = {
	.type = "embedding", .forward = embed_forward,
};

static nb_module *embed_new(const char *name, int vocab, nb_rng *rng)
{
	nb_module *m = nb_module_new(&embed_class, name, NULL);
	m = add_normal_param(m, "tok", vocab, EMBED, rng);   /* drawn first */
	return add_normal_param(m, "pos", BLOCK, EMBED, rng);
}

/*
 * Multi-head causal self-attention on x [B, T, C] (children: qkv, the
 * fused linear C -> 3C, and proj, C -> C).  For each head h of size
 * D = C / HEADS, with q_h = q[..., hD:(h+1)D] (and k_h, v_h):
 *     att = softmax(mask(q_h k_h^T / sqrt(D)))     [B, T, T]
 *     y_h = att v_h                                [B, T, D]
 * where mask sets att[i][j] to -inf for j > i (no look ahead), then
 * y = proj(cat(y_0, ..., y_{HEADS-1})).
 */
static nb_tensor *attn_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	if (!x)
		return NULL;
	int64_t t = nb_tensor_dim(x, 1);
	int64_t d = EMBED / HEADS;
	nb_tensor *qkv[3] = {NULL}, *y[HEADS];
	nb_split(g, nb_module_forward(nb_module_child(m, 0), g, x), 1,
	         (int64_t[]){EMBED}, -1, qkv, 3);
	/* the causal mask: true above the diagonal */
	nb_tensor *ones = nb_graph_tensor(g, NB_F32, NB_SHAPE(t, t));
	nb_tensor *zero = nb_graph_tensor(g, NB_F32, 0, NULL);
	if (ones)
		nb_tensor_fill(ones, 1);
	nb_tensor *mask = nb_eq(g, nb_tril(g, ones, 0), zero);
	for (int h = 0; h < HEADS; h++) {
		nb_tensor *q = nb_slice(g, qkv[0], -1, h * d, (h + 1) * d, 1);
		nb_tensor *k = nb_slice(g, qkv[1], -1, h * d, (h + 1) * d, 1);
		nb_tensor *v = nb_slice(g, qkv[2], -1, h * d, (h + 1) * d, 1);
		nb_tensor *att = nb_affine_scalar(g,
		    nb_matmul(g, q, nb_transpose(g, k, -2, -1)),
		    1 / sqrt((double)d), 0);
		att = nb_masked_fill(g, att, mask, -INFINITY);
		y[h] = nb_matmul(g, nb_softmax(g, att, -1), v);
	}
	return nb_module_forward(nb_module_child(m, 1), g,
	                         nb_cat(g, HEADS, y, -1));
}

static const nb_module_class attn_class = {
	.type = "causal_self_attention", .forward = attn_forward,
};

/* The block: children ln1, attn, ln2, mlp (pre-norm residuals). */
static nb_tensor *block_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	nb_module *c[4];
	for (size_t i = 0; i < 4; i++)
		c[i] = nb_module_child(m, i);
	x = nb_add(g, x, nb_module_forward(c[1], g,
	                                   nb_module_forward(c[0], g, x)));
	return nb_add(g, x, nb_module_forward(c[3], g,
	                                      nb_module_forward(c[2], g, x)));
}

static const nb_module_class block_class = {
	.type = "block", .forward = block_forward,
};

/* m with children[0..n-1] added in order; NULL (everything freed) if
 * any is NULL or cannot be added. */
static nb_module *with(nb_module *m, int n, nb_module **children)
{
	int i = 0;
	/* nb_module_add steals the child, also when it fails. */
	for (; i < n && m; i++)
		if (nb_module_add(m, children[i])) {
			nb_module_free(m);
			m = NULL;
		}
	for (; i < n; i++)
		nb_module_free(children[i]);
	return m;
}

/* embed -> block -> ln_f -> head: [B, T] indices -> [B, T, V] logits */
static nb_module *build(int vocab, nb_rng *rng)
{
	/* One statement each, so that the weights are drawn in this order
	 * (C leaves the order of an initializer list's calls open). */
	nb_module *qkv = nb_linear_new("qkv", EMBED, 3 * EMBED, true, NB_F32,
	                               rng);
	nb_module *proj = nb_linear_new("proj", EMBED, EMBED, true, NB_F32, rng);
	nb_module *fc = nb_linear_new("fc", EMBED, 4 * EMBED, true, NB_F32, rng);
	nb_module *fc2 = nb_linear_new("proj", 4 * EMBED, EMBED, true, NB_F32,
	                               rng);
	nb_module *embed = embed_new("embed", vocab, rng);
	nb_module *head = nb_linear_new("head", EMBED, vocab, true, NB_F32, rng);
	nb_module *attn = with(nb_module_new(&attn_class, "attn", NULL), 2,
	                       (nb_module *[]){qkv, proj});
	nb_module *mlp = with(nb_sequential_new("mlp"), 3, (nb_module *[]){
		fc, nb_layer_new("gelu", "gelu", NULL, 4 * EMBED, NB_F32, 0), fc2});
	nb_module *block = with(nb_module_new(&block_class, "block", NULL), 4,
	    (nb_module *[]){
		nb_layer_new("ln1", "layer_norm", NULL, EMBED, NB_F32, 0), attn,
		nb_layer_new("ln2", "layer_norm", NULL, EMBED, NB_F32, 0), mlp});
	return with(nb_sequential_new(NULL), 4, (nb_module *[]){
		embed, block,
		nb_layer_new("ln_f", "layer_norm", NULL, EMBED, NB_F32, 0), head});
}

/* ---- generation ---- */

/* Prints prompt and n characters the model continues it with, each
 * predicted from the last BLOCK characters. */
static int generate(nb_module *model, nb_graph *g, const text *tx,
                    const char *prompt, int n, double temp, nb_rng *r)
{
	size_t cap = strlen(prompt) + (size_t)n + 1, len = 0;
	int64_t *ids = malloc(cap * sizeof *ids);
	for (const char *p = prompt; ids && *p; p++)
		for (int c = 0; c < tx->vocab; c++)
			if (tx->chars[c] == (unsigned char)*p)
				ids[len++] = c;   /* characters not in the text are left out */
	bool was = nb_graph_set_grad_enabled(g, false);
	int status = ids && len ? 0 : -1;
	nb_module_set_training(model, false);
	printf("sample (temperature %g):\n", temp);
	for (size_t i = 0; i < len; i++)
		putchar(tx->chars[ids[i]]);
	for (int k = 0; k < n && !status; k++) {
		size_t t = len < BLOCK ? len : BLOCK;
		nb_graph_reset(g);
		nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(1, (int64_t)t),
		                                  ids + len - t);
		nb_tensor *logits = nb_module_forward(model, g, x);  /* [1, t, V] */
		int64_t c = pick(g, nb_select(g, logits, 1, -1), temp, r);
		if (c < 0) {
			status = -1;
			break;
		}
		putchar(tx->chars[c]);
		ids[len++] = c;
	}
	printf("\n");
	if (status)
		fprintf(stderr, "attention: %s\n", nb_graph_errmsg(g));
	nb_graph_set_grad_enabled(g, was);
	nb_module_set_training(model, true);
	free(ids);
	return status;
}

/*
 * The mean loss per character on the held-out text, cut into windows of
 * BLOCK characters, BATCH windows per forward; NAN on error.
 */
static double evaluate(nb_module *model, nb_graph *g, const text *tx)
{
	bool was = nb_graph_set_grad_enabled(g, false);
	size_t windows = (tx->len - tx->train - 1) / BLOCK;
	double sum = 0;
	nb_module_set_training(model, false);
	for (size_t w = 0; w < windows && !isnan(sum); w += BATCH) {
		int64_t b = (int64_t)(windows - w < BATCH ? windows - w : BATCH);
		const int64_t *at = tx->ids + tx->train + w * BLOCK;
		nb_graph_reset(g);
		nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(b, BLOCK), at);
		nb_tensor *y = nb_graph_from_data(g, NB_I64, NB_SHAPE(b * BLOCK),
		                                  at + 1);
		nb_tensor *loss = nb_cross_entropy(g, nb_reshape(g,
		    nb_module_forward(model, g, x), 2,
		    (int64_t[]){b * BLOCK, tx->vocab}), y, NULL, -100,
		    NB_REDUCTION_MEAN, 0);
		sum = loss ? sum + nb_tensor_item(loss) * (double)b : NAN;
	}
	nb_module_set_training(model, true);
	nb_graph_set_grad_enabled(g, was);
	return windows ? sum / (double)windows : NAN;
}

/* ---- training ---- */

/* BATCH random windows of the training text: in [B, T] and the
 * characters that follow each, target [B * T]. */
static void random_batch(const text *tx, nb_rng *r, int64_t *in,
                         int64_t *target)
{
	for (size_t b = 0; b < BATCH; b++) {
		size_t at = (size_t)nb_rng_below(r, tx->train - BLOCK);
		memcpy(in + b * BLOCK, tx->ids + at, BLOCK * sizeof *in);
		memcpy(target + b * BLOCK, tx->ids + at + 1, BLOCK * sizeof *in);
	}
}

int main(int argc, char **argv)
{
	opts o;
	text tx;
	if (parse_args(argc, argv, &o)) {
		fprintf(stderr, "usage: attention [--steps N] [--seed S] "
		        "[--every N] [--temp T] [--sample N] [FILE]\n");
		return 2;
	}
	if (text_load(&tx, o.path, 20 * (BLOCK + 1), "attention")) {
		free(tx.bytes);
		free(tx.ids);
		return 2;
	}
	nb_rng rng;
	nb_rng_seed(&rng, o.seed);
	nb_graph *g = nb_graph_new();
	nb_module *model = build(tx.vocab, &rng);
	nb_tensor *params[32];
	nb_optim *opt = NULL;
	int status = 1;
	if (!g || !model)
		goto fail;
	size_t np = nb_module_params(model, true, params, 32);
	nb_adam_opts ao = nb_adamw_defaults();
	ao.lr = LR;
	if (np > 32 || !(opt = nb_optim_adamw(params, np, &ao)))
		goto fail;
	printf("attention: %s, %zu bytes, %d characters; %zu parameters\n",
	       o.path, tx.len, tx.vocab, nb_module_numel(model, true));

	int64_t in[BATCH * BLOCK], target[BATCH * BLOCK];
	double first = 0, recent = 0;
	long nrecent = o.steps >= 50 ? 10 : (o.steps + 4) / 5;
	for (long step = 0; step < o.steps; step++) {
		random_batch(&tx, &rng, in, target);
		nb_graph_reset(g);
		nb_optim_zero_grad(opt, true);
		nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(BATCH, BLOCK),
		                                  in);
		nb_tensor *y = nb_graph_from_data(g, NB_I64, NB_SHAPE(BATCH * BLOCK),
		                                  target);
		nb_tensor *logits = nb_module_forward(model, g, x); /* [B, T, V] */
		nb_tensor *loss = nb_cross_entropy(g, nb_reshape(g, logits, 2,
		    (int64_t[]){BATCH * BLOCK, tx.vocab}), y, NULL, -100,
		    NB_REDUCTION_MEAN, 0);
		if (!loss || nb_backward(loss, NULL) || nb_optim_step(opt))
			goto fail;
		double l = nb_tensor_item(loss);
		if (step == 0)
			first = l;
		if (step >= o.steps - nrecent)
			recent += l / (double)nrecent;
		if (step % o.every == 0 || step == o.steps - 1)
			printf("step %5ld  loss %.4f  (%.3f bits/char)\n", step, l,
			       l / log(2));
	}
	printf("loss %.4f -> %.4f (mean of the last %ld steps), %.3f -> %.3f "
	       "bits/char\n", first, recent, nrecent, first / log(2),
	       recent / log(2));
	double held = evaluate(model, g, &tx);
	if (isnan(held))
		goto fail;
	printf("held-out loss %.4f (%.3f bits/char) on the last %zu bytes\n",
	       held, held / log(2), tx.len - tx.train);
	if (generate(model, g, &tx, "This License", (int)o.sample, o.temp, &rng))
		goto out;
	status = recent < 0.9 * first ? 0 : 1;
	if (status)
		fprintf(stderr, "attention: the loss did not go down\n");
	goto out;
fail:
	fprintf(stderr, "attention: %s\n",
	        nb_graph_status(g) ? nb_graph_errmsg(g) : nb_last_error());
out:
	nb_optim_free(opt);
	nb_module_free(model);
	nb_graph_free(g);
	free(tx.bytes);
	free(tx.ids);
	return status;
}
