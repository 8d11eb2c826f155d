/*
 * recurrent.c - the layers rnn, lstm and gru (PyTorch's nn.RNN, nn.LSTM
 * and nn.GRU): stacked, optionally bidirectional, batch_first or time
 * first, dropout between layers, with PyTorch's parameter names, shapes,
 * order and initialization, so that state dicts move both ways.
 *
 * Each layer and direction computes the input gates of all T steps as
 * one GEMM (linear over [T, B, F] -> [T, B, G*H]), then runs the fused
 * sequence op (lib/ops/recurrent_seq.c): per step one GEMM h W_hh^T and
 * one elementwise pass, and in backward one GEMM for W_hh's gradient.
 */
#include <math.h>
#include <stdio.h>
#include "../internal.h"

typedef enum rnn_mode { MODE_RNN, MODE_LSTM, MODE_GRU } rnn_mode;

typedef struct rnn_state {
	rnn_mode mode;
	int64_t in, hid;
	nb_rnn_opts o;
	/* Stateful (nb_module_set_stateful): the last forward's h_n and c_n,
	 * copied out of its graph (persistent, no gradient), or NULL. */
	nb_tensor *carry_h, *carry_c;
} rnn_state;

static void rnn_reset(nb_module *m)
{
	rnn_state *s = nb_module_state(m);
	nb_tensor_free(s->carry_h);
	nb_tensor_free(s->carry_c);
	s->carry_h = s->carry_c = NULL;
}

static void rnn_free(void *p)
{
	rnn_state *s = p;
	nb_tensor_free(s->carry_h);
	nb_tensor_free(s->carry_c);
	nb__free(s);
}

/* A persistent copy of graph tensor t (NULL for NULL or no memory). */
static nb_tensor *detached(const nb_tensor *t)
{
	return t ? nb_tensor_from_data(t->dtype, t->ndim, t->shape,
	                               nb_tensor_data((nb_tensor *)t), NB_COPY)
	         : NULL;
}

/* Keeps h_n (and c_n) for the next forward of a stateful module. */
static nb_status carry(nb_module *m, nb_graph *g, nb_tensor *hn,
                       nb_tensor *cn)
{
	rnn_state *s = nb_module_state(m);
	rnn_reset(m);
	s->carry_h = detached(hn);
	s->carry_c = detached(cn);
	if (!s->carry_h || (cn && !s->carry_c)) {
		rnn_reset(m);
		return nb_graph_fail(g, NB_ENOMEM, "%s '%s': out of memory for "
		                     "the carried state", nb_module_type(m),
		                     nb_module_name(m));
	}
	return NB_OK;
}

/* The carried state when it fits this call (same batch, or both
 * unbatched, and same dtype), as a copy on g: the persistent one is
 * replaced at the end of this forward, while g may still read its input
 * in backward.  nd is the rank this call's states have. */
static nb_tensor *carried(nb_graph *g, nb_tensor *t, int nd, int64_t B,
                          nb_dtype dt)
{
	if (!t || t->ndim != nd || (nd == 3 && t->shape[1] != B) ||
	    t->dtype != dt)
		return NULL;
	return nb_graph_from_data(g, dt, t->ndim, t->shape, nb_tensor_data(t));
}

static const int mode_gates[] = {1, 4, 3};

static int dirs(const rnn_state *s)
{
	return s->o.bidirectional ? 2 : 1;
}

/* The parameter "<what>_l<k>[_reverse]" of m, or NULL (no bias). */
static nb_tensor *param(nb_module *m, const char *what, int64_t k, int d)
{
	char nm[64];
	snprintf(nm, sizeof nm, "%s_l%lld%s", what, (long long)k,
	         d ? "_reverse" : "");
	return nb_module_tensor(m, nm);
}

/* Layer k's direction d over x [T, B, F] (time first; [T, F]
 * unbatched) from state h (and c) [B, H] ([H]): returns the outputs
 * [T, B, H] ([T, H]); *hT (*cT) gets the last state.  The input gates of all steps are one GEMM (linear), the steps
 * one sequence op.  NULL on error (recorded on g). */
static nb_tensor *run_dir(nb_module *m, nb_graph *g, nb_tensor *x,
                          int64_t k, int d, nb_tensor *h, nb_tensor *c,
                          nb_tensor **hT, nb_tensor **cT)
{
	const rnn_state *s = nb_module_state(m);
	nb_tensor *w_hh = param(m, "weight_hh", k, d);
	nb_tensor *b_hh = param(m, "bias_hh", k, d);
	nb_tensor *gx = nb_linear(g, x, param(m, "weight_ih", k, d),
	                          param(m, "bias_ih", k, d));
	*hT = *cT = NULL;
	if (s->mode == MODE_LSTM)
		return nb_lstm_seq(g, gx, h, c, w_hh, b_hh, d, hT, cT);
	if (s->mode == MODE_GRU)
		return nb_gru_seq(g, gx, h, w_hh, b_hh, d, hT);
	return nb_rnn_seq(g, gx, h, w_hh, b_hh, s->o.relu, d, hT);
}

/* The initial state of layer k, direction d: row k*D+d of s0, or
 * zeros [B, H] ([H] unbatched: B < 0). */
static nb_tensor *state0(nb_graph *g, const rnn_state *s, nb_tensor *s0,
                         int64_t row, int64_t B, nb_dtype dt)
{
	if (s0)
		return nb_select(g, s0, 0, row);
	if (B < 0)
		return nb_graph_tensor(g, dt, 1, (int64_t[]){s->hid});
	return nb_graph_tensor(g, dt, 2, (int64_t[]){B, s->hid});
}

/* Checks the input's and states' shapes; fills T and B (-1 for an
 * unbatched input [T, features], whose states are [layers x
 * directions, hidden], as PyTorch's: batch_first does not apply). */
static bool check_shapes(nb_module *m, nb_graph *g, nb_tensor *x,
                         nb_tensor *h0, nb_tensor *c0, int64_t *T,
                         int64_t *B)
{
	const rnn_state *s = nb_module_state(m);
	const char *ty = nb_module_type(m), *nm = nb_module_name(m);
	char got[96];
	nb_shape_str(x->ndim, x->shape, got, sizeof got);
	if (x->ndim != 3 && x->ndim != 2) {
		nb_graph_fail(g, NB_ESHAPE, "%s '%s': input %s must have rank 3 "
		              "(%s) or 2 ([seq, features], unbatched)", ty, nm,
		              got, s->o.batch_first ? "[batch, seq, features]"
		              : "[seq, batch, features]");
		return false;
	}
	bool one = x->ndim == 2;
	*T = x->shape[one ? 0 : s->o.batch_first];
	*B = one ? -1 : x->shape[!s->o.batch_first];
	if (x->shape[x->ndim - 1] != s->in || *T == 0) {
		nb_graph_fail(g, NB_ESHAPE, "%s '%s': input %s must have %lld "
		              "features and a sequence of at least one step", ty,
		              nm, got, (long long)s->in);
		return false;
	}
	int64_t L = s->o.num_layers * dirs(s);
	nb_tensor *st[2] = {h0, c0};
	for (int i = 0; i < 2; i++) {
		nb_tensor *t = st[i];
		if (!t || (t->ndim == x->ndim && t->shape[0] == L &&
		           t->shape[t->ndim - 1] == s->hid &&
		           (one || t->shape[1] == *B)))
			continue;
		char want[96];
		nb_shape_str(t->ndim, t->shape, got, sizeof got);
		nb_shape_str(x->ndim, one ? (int64_t[]){L, s->hid}
		             : (int64_t[]){L, *B, s->hid}, want, sizeof want);
		nb_graph_fail(g, NB_ESHAPE, "%s '%s': %s must be %s (layers x "
		              "directions, %shidden) for the %sinput, got %s", ty,
		              nm, i ? "c0" : "h0", want, one ? "" : "batch, ",
		              one ? "unbatched " : "", got);
		return false;
	}
	return true;
}

static int rnn_forward_multi(nb_module *m, nb_graph *g, int n_in,
                             nb_tensor *const *in, int cap,
                             nb_tensor **res)
{
	const rnn_state *s = nb_module_state(m);
	bool lstm = s->mode == MODE_LSTM;
	int n_res = lstm ? 3 : 2, D = dirs(s);
	nb_tensor *x = in[0], *h0 = n_in > 1 ? in[1] : NULL;
	nb_tensor *c0 = lstm && n_in > 2 ? in[2] : NULL;
	int64_t T, B, L = s->o.num_layers;
	if (!x || n_in > n_res) {
		nb_graph_fail(g, NB_EINVAL, "%s '%s': takes the input and up "
		              "to %d states, got %d inputs%s",
		              nb_module_type(m), nb_module_name(m), n_res - 1,
		              n_in, x ? "" : " (input NULL)");
		return -1;
	}
	if (!check_shapes(m, g, x, h0, c0, &T, &B))
		return -1;
	nb_dtype dt = x->dtype;
	if (nb_module_stateful(m) && !h0 && !c0) {
		h0 = carried(g, s->carry_h, x->ndim, B, dt);
		c0 = h0 && lstm ? carried(g, s->carry_c, x->ndim, B, dt) : NULL;
		if (g->err)
			return -1;
	}
	nb_tensor *hn[2 * NB_MAX_DIMS], *cn[2 * NB_MAX_DIMS];
	nb_tensor **hl = L * D <= 2 * NB_MAX_DIMS ? hn : NULL;
	nb_tensor **cl = hn == hl ? cn : NULL;
	nb_tensor **hbuf = NULL;
	if (!hl) {
		hbuf = nb__calloc((size_t)(2 * L * D), sizeof *hl);
		if (!hbuf) {
			nb_graph_fail(g, NB_ENOMEM, "%s: out of memory",
			              nb_module_type(m));
			return -1;
		}
		hl = hbuf;
		cl = hl + L * D;
	}
	/* Unbatched, the sequence ops take [T, F] and [H] as they are:
	 * a batch of one without an axis, so nothing is reshaped. */
	bool bf = s->o.batch_first && B >= 0;
	nb_tensor *y = bf ? nb_transpose(g, x, 0, 1) : x;
	for (int64_t k = 0; k < L && y; k++) {
		nb_tensor *outs[2];
		for (int d = 0; d < D; d++) {
			int64_t row = k * D + d;
			nb_tensor *h = state0(g, s, h0, row, B, dt);
			nb_tensor *c = lstm ? state0(g, s, c0, row, B, dt) : NULL;
			outs[d] = run_dir(m, g, y, k, d, h, c, &hl[row],
			                  &cl[row]);
		}
		y = D == 2 ? nb_cat(g, 2, outs, x->ndim - 1) : outs[0];
		if (y && k + 1 < L && s->o.dropout > 0)
			y = nb_dropout(g, y, s->o.dropout);
	}
	if (y && bf)
		y = nb_transpose(g, y, 0, 1);
	nb_tensor *r[3] = {y, y ? nb_stack(g, (int)(L * D), hl, 0) : NULL,
	                   y && lstm ? nb_stack(g, (int)(L * D), cl, 0)
	                             : NULL};
	nb__free(hbuf);
	for (int i = 0; i < n_res; i++)
		if (!r[i])
			return -1;
	if (nb_module_stateful(m) && carry(m, g, r[1], lstm ? r[2] : NULL))
		return -1;
	for (int i = 0; i < n_res && i < cap; i++)
		res[i] = r[i];
	return n_res;
}

static const nb_module_class rnn_classes[] = {
	{.type = "rnn", .free_state = rnn_free,
	 .forward_multi = rnn_forward_multi, .reset_state = rnn_reset},
	{.type = "lstm", .free_state = rnn_free,
	 .forward_multi = rnn_forward_multi, .reset_state = rnn_reset},
	{.type = "gru", .free_state = rnn_free,
	 .forward_multi = rnn_forward_multi, .reset_state = rnn_reset},
};

/* Adds the four parameters of layer k, direction d, drawn in PyTorch's
 * order (w_ih, w_hh, b_ih, b_hh). */
static nb_status add_params(nb_module *m, const rnn_state *s, int64_t k,
                            int d, nb_dtype dt, nb_rng *rng)
{
	int64_t GH = mode_gates[s->mode] * s->hid;
	int64_t in = k ? dirs(s) * s->hid : s->in;
	double bound = 1.0 / sqrt((double)s->hid);
	static const char *const names[] = {"weight_ih", "weight_hh",
	                                    "bias_ih", "bias_hh"};
	for (int i = 0; i < (s->o.bias ? 4 : 2); i++) {
		int64_t shape[2] = {GH, i == 0 ? in : s->hid};
		nb_tensor *t = nb_tensor_rand(dt, i < 2 ? 2 : 1, shape, rng,
		                              -bound, bound);
		char nm[64];
		snprintf(nm, sizeof nm, "%s_l%lld%s", names[i], (long long)k,
		         d ? "_reverse" : "");
		if (!t)
			return nb_last_status();
		nb_status st = nb_module_add_param_kind(
		    m, nm, t, i < 2 ? NB_PARAM_WEIGHT : NB_PARAM_BIAS);
		if (st)
			return st;
	}
	return NB_OK;
}

static nb_module *make(rnn_mode mode, const char *name, int64_t in,
                       int64_t hid, const nb_rnn_opts *o, nb_dtype dt,
                       nb_rng *rng)
{
	nb_rnn_opts def = NB_RNN_DEFAULTS;
	const char *ty = rnn_classes[mode].type;
	if (!o)
		o = &def;
	const char *why = !rng ? "generator is NULL"
	                : !nb__is_float(dt) ? "dtype must be float"
	                : in < 1 || hid < 1 ? "sizes must be at least 1"
	                : o->num_layers < 1 || o->num_layers > 1024
	                ? "num_layers must be in [1, 1024]"
	                : !(o->dropout >= 0 && o->dropout < 1)
	                ? "dropout must be in [0, 1)"
	                : o->relu && mode != MODE_RNN
	                ? "relu is an option of rnn only" : NULL;
	if (why) {
		nb__set_error(NB_EINVAL, "%s '%s': %s", ty, name ? name : "",
		              why);
		return NULL;
	}
	rnn_state *s = nb__malloc(sizeof *s);
	if (!s) {
		nb__set_error(NB_ENOMEM, "%s: out of memory", ty);
		return NULL;
	}
	*s = (rnn_state){.mode = mode, .in = in, .hid = hid, .o = *o};
	nb_module *m = nb_module_new(&rnn_classes[mode], name, s);
	if (!m)
		return NULL;
	for (int64_t k = 0; k < o->num_layers; k++)
		for (int d = 0; d < dirs(s); d++)
			if (add_params(m, s, k, d, dt, rng)) {
				nb_module_free(m);
				return NULL;
			}
	return m;
}

nb_module *nb_rnn_new(const char *name, int64_t input_size,
                      int64_t hidden_size, const nb_rnn_opts *o,
                      nb_dtype dt, nb_rng *rng)
{
	return make(MODE_RNN, name, input_size, hidden_size, o, dt, rng);
}

nb_module *nb_lstm_new(const char *name, int64_t input_size,
                       int64_t hidden_size, const nb_rnn_opts *o,
                       nb_dtype dt, nb_rng *rng)
{
	return make(MODE_LSTM, name, input_size, hidden_size, o, dt, rng);
}

nb_module *nb_gru_new(const char *name, int64_t input_size,
                      int64_t hidden_size, const nb_rnn_opts *o,
                      nb_dtype dt, nb_rng *rng)
{
	return make(MODE_GRU, name, input_size, hidden_size, o, dt, rng);
}
