/*
 * rnnlab.c - gradients through time (rnnlab.h): the study, its
 * parameters and its verdict.  Printing and plotting are in
 * rnnlab_out.c.
 *
 * The net: h_t = cell(x_t, h_{t-1}) for t = 1..T from h_0 = 0 (and
 * c_0 = 0), x_t ~ N(0, 1) of [batch, input]; the loss is
 * sum(h_T^2) / (2 batch), taken at the last step only, so that
 * ||dL/dh_t|| measures how much of the gradient survives T - t steps of
 * backpropagation through time.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "rnnlab.h"

const rl_case rl_cases[] = {
	{"tanh, radius 0.5", RL_TANH, 0.5, 0, 0},
	{"tanh, radius 1", RL_TANH, 1.0, 0, 0},
	{"tanh, radius 1.5", RL_TANH, 1.5, 0, 0},
	{"relu, radius 1.5", RL_RELU, 1.5, 0, 0},
	{"relu, radius 1.5, clip 1", RL_RELU, 1.5, 0, 1.0},
	{"lstm, forget bias 0", RL_LSTM, 1.0, 0, 0},
	{"lstm, forget bias 1", RL_LSTM, 1.0, 1, 0},
	{"gru", RL_GRU, 1.0, 0, 0},
};
const int rl_n_cases = (int)(sizeof rl_cases / sizeof *rl_cases);

static const char *const cell_names[] = {"tanh", "relu", "lstm", "gru"};

void rl_config_default(rl_config *c)
{
	memset(c, 0, sizeof *c);
	c->cell = RL_TANH;
	c->steps = 100;
	c->hidden = 128;
	c->input = 32;
	c->batch = 32;
	c->gain = 1;
	strcpy(c->init, "orthogonal");
	c->dtype = NB_F64;
}

const char *rl_cell_name(rl_cell c)
{
	return (unsigned)c < 4 ? cell_names[c] : "?";
}

bool rl_cell_parse(const char *s, rl_cell *c)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, cell_names[i])) {
			*c = (rl_cell)i;
			return true;
		}
	return false;
}

/* Gates per cell: the rows of W_ih and W_hh are gates x hidden. */
static int gates(rl_cell c)
{
	return c == RL_LSTM ? 4 : c == RL_GRU ? 3 : 1;
}

typedef struct net {
	nb_graph *g;
	nb_tensor *w_ih, *w_hh, *b_ih, *b_hh;
	nb_tensor **h;       /* h[0..T], graph tensors */
	const rl_config *c;
} net;

static void net_free(net *n)
{
	nb_graph_free(n->g);
	nb_tensor_free(n->w_ih);
	nb_tensor_free(n->w_hh);
	nb_tensor_free(n->b_ih);
	nb_tensor_free(n->b_hh);
	free(n->h);
}

/* Each [H, H] block of W_hh from the scheme, times gain. */
static nb_status init_recurrent(net *n, nb_rng *r)
{
	const rl_config *c = n->c;
	int64_t H = c->hidden;
	nb_tensor *blk = nb_tensor_zeros(c->dtype, NB_SHAPE(H, H));
	nb_status st = blk ? NB_OK : nb_last_status();
	for (int k = 0; !st && k < gates(c->cell); k++) {
		if ((st = nb_init_apply(blk, r, c->init, "linear")))
			break;
		for (int64_t i = 0; i < H * H; i++)
			nb_tensor_set(n->w_hh, (size_t)(k * H * H + i),
			              c->gain * nb_tensor_get(blk, (size_t)i));
	}
	nb_tensor_free(blk);
	return st;
}

static nb_status build(net *n, nb_rng *r)
{
	const rl_config *c = n->c;
	int64_t G = gates(c->cell), H = c->hidden;
	double k = 1 / sqrt((double)H);
	n->w_ih = nb_tensor_rand(c->dtype, NB_SHAPE(G * H, c->input), r,
	                         -k, k);
	n->w_hh = nb_tensor_zeros(c->dtype, NB_SHAPE(G * H, H));
	n->b_ih = nb_tensor_zeros(c->dtype, NB_SHAPE(G * H));
	n->b_hh = nb_tensor_zeros(c->dtype, NB_SHAPE(G * H));
	n->h = calloc((size_t)c->steps + 1, sizeof *n->h);
	n->g = nb_graph_new();
	if (!n->w_ih || !n->w_hh || !n->b_ih || !n->b_hh || !n->h || !n->g)
		return NB_ENOMEM;
	if (c->cell == RL_LSTM) /* gates i, f, g, o: f is rows [H, 2H) */
		for (int64_t i = H; i < 2 * H; i++)
			nb_tensor_set(n->b_ih, (size_t)i, c->forget_bias);
	nb_status st = init_recurrent(n, r);
	nb_tensor *p[4] = {n->w_ih, n->w_hh, n->b_ih, n->b_hh};
	for (int i = 0; !st && i < 4; i++)
		st = nb_tensor_set_requires_grad(p[i], true);
	return st;
}

/* One step of the cell from h (and *c for the LSTM): the fused cells
 * of <nabla/recurrent.h>, PyTorch's nn.RNNCell, nn.LSTMCell and
 * nn.GRUCell. */
static nb_tensor *step(net *n, nb_tensor *x, nb_tensor *h, nb_tensor **c)
{
	nb_graph *g = n->g;
	switch (n->c->cell) {
	case RL_TANH:
	case RL_RELU:
		return nb_rnn_cell(g, x, h, n->w_ih, n->w_hh, n->b_ih, n->b_hh,
		                   n->c->cell == RL_RELU);
	case RL_LSTM:
		return nb_lstm_cell(g, x, h, *c, n->w_ih, n->w_hh, n->b_ih,
		                    n->b_hh, c);
	case RL_GRU:
		return nb_gru_cell(g, x, h, n->w_ih, n->w_hh, n->b_ih, n->b_hh);
	}
	return NULL;
}

static double frobenius(const nb_tensor *t)
{
	double s = 0;
	for (size_t i = 0; t && i < nb_tensor_numel(t); i++) {
		double v = nb_tensor_get(t, i);
		s += v * v;
	}
	return sqrt(s);
}

/* The largest singular value of the [H, H] blocks of W_hh: 100 steps of
 * power iteration on B^T B from a fixed start, per block. */
static double sigma_max(const nb_tensor *w, int blocks, int64_t H)
{
	double best = 0;
	double *v = malloc((size_t)H * sizeof *v);
	double *u = malloc((size_t)H * sizeof *u);
	for (int k = 0; v && u && k < blocks; k++) {
		size_t off = (size_t)(k * H * H);
		double s = 0;
		for (int64_t i = 0; i < H; i++)
			v[i] = 1 + 0.01 * (double)i;
		for (int it = 0; it < 100; it++) {
			for (int64_t i = 0; i < H; i++) {       /* u = B v */
				u[i] = 0;
				for (int64_t j = 0; j < H; j++)
					u[i] += nb_tensor_get(w, off + (size_t)(i * H + j)) *
					        v[j];
			}
			double nu = 0;
			for (int64_t j = 0; j < H; j++) {       /* v = B^T u */
				v[j] = 0;
				for (int64_t i = 0; i < H; i++)
					v[j] += nb_tensor_get(w, off + (size_t)(i * H + j)) *
					        u[i];
				nu += v[j] * v[j];
			}
			nu = sqrt(nu);
			if (!(nu > 0))
				break;
			for (int64_t j = 0; j < H; j++)
				v[j] /= nu;
			s = sqrt(nu);
		}
		if (s > best)
			best = s;
	}
	free(v);
	free(u);
	return best;
}

nb_status rl_run_study(const rl_config *c, rl_run *out, char *err,
                       size_t errn)
{
	net n = {.c = c};
	nb_rng r;
	nb_status st;
	memset(out, 0, sizeof *out);
	out->cfg = *c;
	nb_rng_seed(&r, c->seed);
	if ((st = build(&n, &r))) {
		snprintf(err, errn, "%s", st == NB_ENOMEM ? "out of memory"
		         : nb_last_error());
		goto done;
	}
	out->sigma = sigma_max(n.w_hh, gates(c->cell), c->hidden);
	nb_graph *g = n.g;
	nb_tensor *cell = c->cell == RL_LSTM
	                  ? nb_graph_tensor(g, c->dtype,
	                                    NB_SHAPE(c->batch, c->hidden))
	                  : NULL;
	n.h[0] = nb_graph_tensor(g, c->dtype, NB_SHAPE(c->batch, c->hidden));
	for (int64_t t = 1; t <= c->steps; t++) {
		nb_tensor *x = nb_graph_tensor(g, c->dtype,
		                               NB_SHAPE(c->batch, c->input));
		for (size_t i = 0; x && i < nb_tensor_numel(x); i++)
			nb_tensor_set(x, i, nb_rng_normal(&r));
		n.h[t] = step(&n, x, n.h[t - 1], &cell);
	}
	nb_tensor *hT = n.h[c->steps];
	nb_tensor *loss = nb_affine_scalar(g, nb_sum(g, nb_mul(g, hT, hT), 0,
	                                             NULL, false),
	                                   0.5 / (double)c->batch, 0);
	if (!loss || nb_backward(loss, NULL)) {
		snprintf(err, errn, "%s", nb_graph_errmsg(g));
		st = nb_graph_status(g) ? nb_graph_status(g) : NB_ENOMEM;
		goto done;
	}
	out->loss = nb_tensor_item(loss);
	if (!(out->grad = calloc((size_t)c->steps, sizeof *out->grad))) {
		snprintf(err, errn, "out of memory");
		st = NB_ENOMEM;
		goto done;
	}
	for (int64_t t = 1; t <= c->steps; t++)
		out->grad[t - 1] = frobenius(nb_tensor_grad(n.h[t]));
	out->w_grad = frobenius(nb_tensor_grad(n.w_hh));
	nb_tensor *p[4] = {n.w_ih, n.w_hh, n.b_ih, n.b_hh};
	double lim = c->clip_norm > 0 ? c->clip_norm : INFINITY;
	if ((st = nb_clip_grad_norm(p, 4, lim, 2, false, &out->total_norm))) {
		snprintf(err, errn, "%s", nb_last_error());
		goto done;
	}
	double sq = 0;
	for (int i = 0; i < 4; i++)
		sq += pow(frobenius(nb_tensor_grad(p[i])), 2);
	out->clipped_norm = sqrt(sq);
	rl_judge(out);
done:
	net_free(&n);
	return st;
}

void rl_run_free(rl_run *r)
{
	if (r) {
		free(r->grad);
		r->grad = NULL;
	}
}

/*
 * The verdict on ratio = ||dL/dh_1|| / ||dL/dh_T||, the gradient that
 * reaches the first step against the last (thresholds as the depth
 * study's gradient rule, doc/initlab.md):
 *   exploding   a norm or the loss is not finite
 *   vanishing   ratio < 0.01
 *   exploding   ratio > 100
 *   healthy     otherwise
 * With --clip-norm, the reason adds what clipping did to the update.
 */
void rl_judge(rl_run *r)
{
	int64_t T = r->cfg.steps;
	bool finite = isfinite(r->loss) && isfinite(r->total_norm);
	for (int64_t t = 0; t < T; t++)
		finite = finite && isfinite(r->grad[t]);
	r->ratio = r->grad[0] / r->grad[T - 1];
	r->per_step = T > 1 ? pow(r->ratio, 1.0 / (double)(T - 1)) : 1;
	int k;
	if (!finite) {
		r->verdict = "exploding";
		k = snprintf(r->why, sizeof r->why, "non-finite gradients "
		             "through time");
	} else if (r->ratio < 0.01) {
		r->verdict = "vanishing";
		k = snprintf(r->why, sizeof r->why, "||dL/dh_1|| is %.3g of "
		             "||dL/dh_%lld|| (< 0.01): %.3g per step", r->ratio,
		             (long long)T, r->per_step);
	} else if (r->ratio > 100) {
		r->verdict = "exploding";
		k = snprintf(r->why, sizeof r->why, "||dL/dh_1|| is %.3g times "
		             "||dL/dh_%lld|| (> 100): %.3g per step", r->ratio,
		             (long long)T, r->per_step);
	} else {
		r->verdict = "healthy";
		k = snprintf(r->why, sizeof r->why, "||dL/dh_1|| / "
		             "||dL/dh_%lld|| = %.3g in [0.01, 100]", (long long)T,
		             r->ratio);
	}
	if (r->cfg.clip_norm > 0 && k > 0 && (size_t)k < sizeof r->why)
		snprintf(r->why + k, sizeof r->why - (size_t)k, "; %s: gradient "
		         "norm %.3g -> %.3g", r->total_norm > r->cfg.clip_norm
		         ? "clipped" : "under the clip", r->total_norm,
		         r->clipped_norm);
}
