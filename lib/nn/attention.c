/*
 * attention.c - multi_head_attention and transformer_encoder_layer, with
 * the semantics, parameter names and initialization of PyTorch's
 * nn.MultiheadAttention and nn.TransformerEncoderLayer (1.13), built on
 * the fused op scaled_dot_product_attention (lib/ops/attention.c).
 *
 * Masks follow nn.MultiheadAttention, not the fused op: a bool
 * key_padding_mask or attn_mask is true where a key is *excluded*; a
 * float one is added to the scores.  They are turned into the op's
 * "true = attend" mask (logical_not) and its additive bias here.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

/* ---- multi_head_attention ---- */

typedef struct mha_state {
	int64_t E, H;
	nb_mha_opts o;
} mha_state;

/* x [B, L, E] -> [B, H, L, E / H] */
static nb_tensor *split_heads(nb_graph *g, nb_tensor *x, int64_t H)
{
	int64_t B = nb_tensor_dim(x, 0), L = nb_tensor_dim(x, 1);
	int64_t E = nb_tensor_dim(x, 2);
	x = nb_reshape(g, x, NB_SHAPE(B, L, H, E / H));
	return nb_permute(g, x, (int[]){0, 2, 1, 3});
}

/* Adds a PyTorch-convention mask m into the op's allow mask (bool, true
 * = attend) or its additive bias. */
static void merge_mask(nb_graph *g, nb_tensor *m, nb_tensor **allow,
                       nb_tensor **bias)
{
	if (nb_tensor_dtype(m) == NB_BOOL) {
		nb_tensor *a = nb_logical_not(g, m);
		*allow = *allow ? nb_logical_and(g, *allow, a) : a;
	} else {
		*bias = *bias ? nb_add(g, *bias, m) : m;
	}
}

/* Checks a mask's shape against the batch-first sizes; true if fine. */
static bool mask_ok(nb_module *m, nb_graph *g, const char *what,
                    const nb_tensor *t, int n, const int64_t *want,
                    const int64_t *alt, int nalt)
{
	char got[96] = "";
	size_t k = 0;
	bool ok = nb_tensor_ndim(t) == n, okalt = nb_tensor_ndim(t) == nalt;
	for (int i = 0; i < n && ok; i++)
		ok = nb_tensor_dim(t, i) == want[i];
	for (int i = 0; i < nalt && okalt; i++)
		okalt = nb_tensor_dim(t, i) == alt[i];
	if (ok || okalt)
		return true;
	for (int i = 0; i < nb_tensor_ndim(t) && k + 24 < sizeof got; i++)
		k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld",
		                      i ? ", " : "", (long long)nb_tensor_dim(t, i));
	nb_graph_fail(g, NB_ESHAPE, "multi_head_attention '%s': %s is [%s], "
	              "expected [%lld%s%lld]%s", nb_module_name(m), what, got,
	              (long long)want[0], n > 1 ? ", " : "",
	              n > 1 ? (long long)want[1] : 0LL,
	              nalt ? " or [B * num_heads, L, S]" : "");
	return false;
}

/* The inputs, batch-first: [B, L, E] (unbatched ones get B = 1). */
typedef struct mha_in {
	nb_tensor *q, *k, *v, *kpm, *mask;
	bool unbatched, self;
} mha_in;

static nb_tensor *to_batch_first(nb_graph *g, const mha_state *s,
                                 nb_tensor *x, bool unbatched)
{
	if (unbatched)
		return nb_reshape(g, x, NB_SHAPE(1, nb_tensor_dim(x, 0),
		                                 nb_tensor_dim(x, 1)));
	return s->o.batch_first ? x : nb_transpose(g, x, 0, 1);
}

static bool read_inputs(nb_module *m, nb_graph *g, int n_in,
                        nb_tensor *const *in, mha_in *r)
{
	const mha_state *s = nb_module_state(m);
	nb_tensor *q = in[0], *k = n_in > 1 && in[1] ? in[1] : q;
	nb_tensor *v = n_in > 2 && in[2] ? in[2] : k;
	int nd = nb_tensor_ndim(q);
	r->unbatched = nd == 2;
	r->self = k == q && v == q;
	if ((nd != 2 && nd != 3) || nb_tensor_ndim(k) != nd ||
	    nb_tensor_ndim(v) != nd || nb_tensor_dim(q, nd - 1) != s->E ||
	    nb_tensor_dim(k, nd - 1) != s->E || nb_tensor_dim(v, nd - 1) != s->E ||
	    nb_tensor_dim(k, nd - 2 - (nd == 3 && !s->o.batch_first)) !=
	        nb_tensor_dim(v, nd - 2 - (nd == 3 && !s->o.batch_first)) ||
	    (nd == 3 && nb_tensor_dim(k, s->o.batch_first ? 0 : 1) !=
	                nb_tensor_dim(q, s->o.batch_first ? 0 : 1))) {
		nb_graph_fail(g, NB_ESHAPE, "multi_head_attention '%s' "
		              "(embed_dim %lld, %s): query, key and value must "
		              "be %s with the same batch, key and value the same "
		              "length; got ranks %d, %d, %d with last axes %lld, "
		              "%lld, %lld", nb_module_name(m), (long long)s->E,
		              s->o.batch_first ? "batch_first" : "sequence first",
		              s->o.batch_first ? "[B, L, E]" : "[L, B, E]", nd,
		              nb_tensor_ndim(k), nb_tensor_ndim(v),
		              (long long)nb_tensor_dim(q, nd - 1),
		              (long long)nb_tensor_dim(k, nb_tensor_ndim(k) - 1),
		              (long long)nb_tensor_dim(v, nb_tensor_ndim(v) - 1));
		return false;
	}
	r->q = to_batch_first(g, s, q, r->unbatched);
	r->k = r->self ? r->q : to_batch_first(g, s, k, r->unbatched);
	r->v = r->self ? r->q : v == k ? r->k
	                      : to_batch_first(g, s, v, r->unbatched);
	if (!r->q || !r->k || !r->v)
		return false;
	int64_t B = nb_tensor_dim(r->q, 0), L = nb_tensor_dim(r->q, 1);
	int64_t S = nb_tensor_dim(r->k, 1);
	nb_tensor *kpm = n_in > 3 ? in[3] : NULL;
	nb_tensor *am = n_in > 4 ? in[4] : NULL;
	r->kpm = r->mask = NULL;
	if (kpm) {
		int64_t want[2] = {r->unbatched ? S : B, S};
		if (!mask_ok(m, g, "key_padding_mask", kpm, r->unbatched ? 1 : 2,
		             want, NULL, 0))
			return false;
		r->kpm = nb_reshape(g, kpm, NB_SHAPE(B, 1, 1, S));
	}
	if (am) {
		int64_t want[2] = {L, S}, alt[3] = {B * s->H, L, S};
		if (!mask_ok(m, g, "attn_mask", am, 2, want, alt, 3))
			return false;
		r->mask = nb_tensor_ndim(am) == 2 ? am
		        : nb_reshape(g, am, NB_SHAPE(B, s->H, L, S));
	}
	return true;
}

/* q, k, v projected: one GEMM for self-attention, else row blocks of
 * in_proj_weight and in_proj_bias (PyTorch's _in_projection_packed).
 * For self-attention *qkv is the packed projection [B, L, 3E] and p
 * gets its pieces only if want_split (for the weights). */
static void project_in(nb_module *m, nb_graph *g, const mha_in *r,
                       bool want_split, nb_tensor **qkv, nb_tensor **p)
{
	const mha_state *s = nb_module_state(m);
	nb_tensor *w = nb_module_tensor(m, "in_proj_weight");
	nb_tensor *b = nb_module_tensor(m, "in_proj_bias");
	int64_t E = s->E;
	*qkv = NULL;
	if (r->self) {
		*qkv = nb_linear(g, r->q, w, b);
		if (want_split)
			nb_split(g, *qkv, 3, (int64_t[]){E, E, E}, -1, p, 3);
		return;
	}
	for (int i = 0; i < 3; i++) {
		nb_tensor *x = i == 0 ? r->q : i == 1 ? r->k : r->v;
		p[i] = nb_linear(g, x, nb_slice(g, w, 0, i * E, (i + 1) * E, 1),
		                 b ? nb_slice(g, b, 0, i * E, (i + 1) * E, 1)
		                   : NULL);
	}
}

/* softmax(q k^T / sqrt(D), masked) averaged over heads (or not), as
 * nn.MultiheadAttention's need_weights: [B, L, S] or [B, H, L, S];
 * computed apart from the fused op, without dropout. */
static nb_tensor *weights(nb_graph *g, const mha_state *s, nb_tensor *q,
                          nb_tensor *k, nb_tensor *allow, nb_tensor *bias)
{
	int64_t D = s->E / s->H;
	nb_tensor *sc = nb_affine_scalar(g, nb_matmul(g, q,
	    nb_transpose(g, k, -2, -1)), 1 / sqrt((double)D), 0);
	if (bias)
		sc = nb_add(g, sc, bias);
	if (allow)
		sc = nb_masked_fill(g, sc, nb_logical_not(g, allow), -INFINITY);
	if (s->o.causal && sc) {
		int64_t L = nb_tensor_dim(sc, 2), S = nb_tensor_dim(sc, 3);
		nb_tensor *ones = nb_graph_tensor(g, NB_F32, NB_SHAPE(L, S));
		if (ones)
			nb_tensor_fill(ones, 1);
		nb_tensor *zero = nb_graph_tensor(g, NB_F32, 0, NULL);
		sc = nb_masked_fill(g, sc, nb_eq(g, nb_tril(g, ones, 0), zero),
		                    -INFINITY);
	}
	nb_tensor *w = nb_softmax(g, sc, -1);
	return s->o.average_weights ? nb_mean(g, w, 1, (int[]){1}, false) : w;
}

static int mha_forward_multi(nb_module *m, nb_graph *g, int n_in,
                             nb_tensor *const *in, int cap, nb_tensor **out)
{
	const mha_state *s = nb_module_state(m);
	mha_in r;
	nb_tensor *p[3] = {NULL, NULL, NULL}, *allow = NULL, *bias = NULL;
	nb_tensor *qkv;
	if (n_in < 1 || n_in > 5 || !in[0]) {
		nb_graph_fail(g, NB_EINVAL, "multi_head_attention '%s': takes "
		              "query, key, value, key_padding_mask, attn_mask "
		              "(1 to 5 inputs, query not NULL), got %d",
		              nb_module_name(m), n_in);
		return -1;
	}
	if (!read_inputs(m, g, n_in, in, &r))
		return -1;
	project_in(m, g, &r, cap > 1, &qkv, p);
	if (r.self ? !qkv || (cap > 1 && (!p[0] || !p[1]))
	           : !p[0] || !p[1] || !p[2])
		return -1;
	if (r.kpm)
		merge_mask(g, r.kpm, &allow, &bias);
	if (r.mask)
		merge_mask(g, r.mask, &allow, &bias);
	/* the heads stay side by side in [B, L, E]: no copies to
	 * [B, H, L, D] and back; self-attention reads q, k and v in place
	 * in the packed projection */
	nb_tensor *y = r.self
	    ? nb_scaled_dot_product_attention_packed(g, qkv, allow, bias,
	          s->o.causal, s->o.dropout, 0, s->H)
	    : nb_scaled_dot_product_attention(g, p[0], p[1], p[2], allow,
	          bias, s->o.causal, s->o.dropout, 0, s->H);
	y = nb_module_forward(nb_module_child_named(m, "out_proj"), g, y);
	nb_tensor *w = cap > 1 && y ? weights(g, s, split_heads(g, p[0], s->H),
	                                      split_heads(g, p[1], s->H), allow,
	                                      bias) : NULL;
	if (!y || (cap > 1 && !w))
		return -1;
	if (r.unbatched) {
		y = nb_reshape(g, y, NB_SHAPE(nb_tensor_dim(y, 1), s->E));
		if (w)
			w = nb_select(g, w, 0, 0);
	} else if (!s->o.batch_first) {
		y = nb_transpose(g, y, 0, 1);
	}
	if (!y || (cap > 1 && !w))
		return -1;
	if (cap > 0)
		out[0] = y;
	if (cap > 1)
		out[1] = w;
	return 2;
}

static nb_tensor *mha_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	nb_tensor *y = NULL;
	return mha_forward_multi(m, g, 1, &x, 1, &y) < 0 ? NULL : y;
}

static const nb_module_class mha_class = {
	.type = "multi_head_attention", .forward = mha_forward,
	.forward_multi = mha_forward_multi, .free_state = nb__free,
};

/* Adds a parameter made by t (stolen) of kind k; false (m freed) on
 * error. */
static bool add_param(nb_module **m, const char *name, nb_tensor *t,
                      nb_param_kind k)
{
	if (t && !nb_module_add_param_kind(*m, name, t, k))
		return true;
	nb_module_free(*m);
	*m = NULL;
	return false;
}

nb_module *nb_multi_head_attention_new(const char *name, int64_t embed_dim,
                                       int64_t num_heads,
                                       const nb_mha_opts *o, nb_dtype dt,
                                       nb_rng *rng)
{
	nb_mha_opts def = NB_MHA_DEFAULTS;
	if (!o)
		o = &def;
	if (embed_dim < 1 || num_heads < 1 || embed_dim % num_heads || !rng ||
	    !nb__is_float(dt) || !(o->dropout >= 0 && o->dropout <= 1)) {
		nb__set_error(NB_EINVAL, "multi_head_attention '%s' (embed_dim "
		              "%lld, num_heads %lld): %s", name ? name : "",
		              (long long)embed_dim, (long long)num_heads,
		              !rng ? "generator is NULL"
		              : !nb__is_float(dt) ? "dtype must be float"
		              : embed_dim < 1 || num_heads < 1
		                ? "sizes must be at least 1"
		              : embed_dim % num_heads
		                ? "embed_dim must be divisible by num_heads"
		              : "dropout must be in [0, 1]");
		return NULL;
	}
	mha_state *s = nb__malloc(sizeof *s);
	if (!s)
		return NULL;
	s->E = embed_dim;
	s->H = num_heads;
	s->o = *o;
	nb_module *m = nb_module_new(&mha_class, name, s);
	/* PyTorch's order: out_proj is made (nn.Linear's init), then
	 * _reset_parameters draws in_proj_weight (xavier_uniform) and
	 * zeroes both biases. */
	nb_module *op = m ? nb_linear_new("out_proj", embed_dim, embed_dim,
	                                  o->bias, dt, rng) : NULL;
	if (!op) {
		nb_module_free(m);
		return NULL;
	}
	if (o->bias)
		nb_init_zeros(nb_module_tensor(op, "bias"));
	nb_tensor *w = nb_tensor_zeros(dt, NB_SHAPE(3 * embed_dim, embed_dim));
	if (w && nb_init_xavier_uniform(w, rng, 1.0)) {
		nb_tensor_free(w);
		w = NULL;
	}
	if (!add_param(&m, "in_proj_weight", w, NB_PARAM_WEIGHT) ||
	    (o->bias && !add_param(&m, "in_proj_bias",
	                           nb_tensor_zeros(dt, NB_SHAPE(3 * embed_dim)),
	                           NB_PARAM_BIAS))) {
		nb_module_free(op);
		return NULL;
	}
	if (nb_module_add(m, op)) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* ---- transformer_encoder_layer ---- */

typedef struct enc_state {
	nb_encoder_opts o;
} enc_state;

static nb_module *child(nb_module *m, const char *name)
{
	return nb_module_child_named(m, name);
}

/* The dropout child `name` on x; skipped at p = 0, where it is the
 * identity (a copy forward and backward). */
static nb_tensor *drop(nb_module *m, nb_graph *g, const char *name,
                       nb_tensor *x)
{
	const enc_state *s = nb_module_state(m);
	return s->o.dropout > 0 ? nb_module_forward(child(m, name), g, x) : x;
}

/* self_attn(x, x, x, kpm, mask) then dropout1 */
static nb_tensor *sa_block(nb_module *m, nb_graph *g, nb_tensor *x,
                           nb_tensor *mask, nb_tensor *kpm)
{
	nb_tensor *y = NULL;
	if (!x || nb_module_forward_multi(child(m, "self_attn"), g, 5,
	                                  (nb_tensor *[]){x, x, x, kpm, mask},
	                                  1, &y) < 0)
		return NULL;
	return drop(m, g, "dropout1", y);
}

/* linear2(dropout(activation(linear1(x)))) then dropout2 */
static nb_tensor *ff_block(nb_module *m, nb_graph *g, nb_tensor *x)
{
	const enc_state *s = nb_module_state(m);
	nb_tensor *h = nb_module_forward(child(m, "linear1"), g, x);
	h = s->o.activation == NB_ACT_GELU ? nb_gelu(g, h, NB_GELU_NONE)
	                                   : nb_relu(g, h);
	h = drop(m, g, "dropout", h);
	h = nb_module_forward(child(m, "linear2"), g, h);
	return drop(m, g, "dropout2", h);
}

static int enc_forward_multi(nb_module *m, nb_graph *g, int n_in,
                             nb_tensor *const *in, int cap, nb_tensor **out)
{
	const enc_state *s = nb_module_state(m);
	if (n_in < 1 || n_in > 3 || !in[0]) {
		nb_graph_fail(g, NB_EINVAL, "transformer_encoder_layer '%s': "
		              "takes src, src_mask, src_key_padding_mask (1 to 3 "
		              "inputs, src not NULL), got %d", nb_module_name(m),
		              n_in);
		return -1;
	}
	nb_tensor *x = in[0], *mask = n_in > 1 ? in[1] : NULL;
	nb_tensor *kpm = n_in > 2 ? in[2] : NULL;
	nb_module *n1 = child(m, "norm1"), *n2 = child(m, "norm2");
	if (s->o.norm_first) {
		x = nb_add(g, x, sa_block(m, g, nb_module_forward(n1, g, x), mask,
		                          kpm));
		x = nb_add(g, x, ff_block(m, g, nb_module_forward(n2, g, x)));
	} else {
		x = nb_module_forward(n1, g, nb_add(g, x, sa_block(m, g, x, mask,
		                                                    kpm)));
		x = nb_module_forward(n2, g, nb_add(g, x, ff_block(m, g, x)));
	}
	if (!x)
		return -1;
	if (cap > 0)
		out[0] = x;
	return 1;
}

static nb_tensor *enc_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	nb_tensor *y = NULL;
	return enc_forward_multi(m, g, 1, &x, 1, &y) < 0 ? NULL : y;
}

static const nb_module_class enc_class = {
	.type = "transformer_encoder_layer", .forward = enc_forward,
	.forward_multi = enc_forward_multi, .free_state = nb__free,
};

/* Adds children[0..n-1] to m in order; NULL (all freed) if any is NULL
 * or cannot be added. */
static nb_module *with_children(nb_module *m, int n, nb_module **c)
{
	int i = 0;
	for (; i < n && m; i++)
		if (!c[i] || nb_module_add(m, c[i])) { /* steals c[i] */
			nb_module_free(m);
			m = NULL;
		}
	for (; i < n; i++)
		nb_module_free(c[i]);
	return m;
}

nb_module *nb_transformer_encoder_layer_new(const char *name, int64_t d_model,
                                            int64_t nhead,
                                            const nb_encoder_opts *o,
                                            nb_dtype dt, nb_rng *rng)
{
	nb_encoder_opts def = NB_ENCODER_DEFAULTS;
	if (!o)
		o = &def;
	if (d_model < 1 || nhead < 1 || d_model % nhead || !rng ||
	    !nb__is_float(dt) || o->dim_feedforward < 1 ||
	    !(o->dropout >= 0 && o->dropout <= 1) ||
	    !(o->layer_norm_eps > 0) ||
	    (o->activation != NB_ACT_RELU && o->activation != NB_ACT_GELU)) {
		nb__set_error(NB_EINVAL, "transformer_encoder_layer '%s' (d_model "
		              "%lld, nhead %lld): %s", name ? name : "",
		              (long long)d_model, (long long)nhead,
		              !rng ? "generator is NULL"
		              : !nb__is_float(dt) ? "dtype must be float"
		              : d_model < 1 || nhead < 1 ? "sizes must be at least 1"
		              : d_model % nhead
		                ? "d_model must be divisible by nhead"
		              : o->dim_feedforward < 1
		                ? "dim_feedforward must be at least 1"
		              : !(o->dropout >= 0 && o->dropout <= 1)
		                ? "dropout must be in [0, 1]"
		              : !(o->layer_norm_eps > 0)
		                ? "layer_norm_eps must be positive"
		              : "activation must be relu or gelu");
		return NULL;
	}
	enc_state *s = nb__malloc(sizeof *s);
	if (!s)
		return NULL;
	s->o = *o;
	char drop[64], eps[64];
	snprintf(drop, sizeof drop, "p=%.17g", o->dropout);
	snprintf(eps, sizeof eps, "eps=%.17g", o->layer_norm_eps);
	nb_mha_opts ao = NB_MHA_DEFAULTS;
	ao.dropout = o->dropout;
	ao.batch_first = o->batch_first;
	ao.causal = o->causal;
	/* One statement each, in PyTorch's order of construction, so that
	 * the draws come in that order. */
	nb_module *m = nb_module_new(&enc_class, name, s);
	nb_module *sa = nb_multi_head_attention_new("self_attn", d_model, nhead,
	                                            &ao, dt, rng);
	nb_module *l1 = nb_linear_new("linear1", d_model, o->dim_feedforward,
	                              true, dt, rng);
	nb_module *d0 = nb_layer_new("dropout", "dropout", drop, d_model, dt, 0);
	nb_module *l2 = nb_linear_new("linear2", o->dim_feedforward, d_model,
	                              true, dt, rng);
	nb_module *n1 = nb_layer_new("norm1", "layer_norm", eps, d_model, dt, 0);
	nb_module *n2 = nb_layer_new("norm2", "layer_norm", eps, d_model, dt, 0);
	nb_module *d1 = nb_layer_new("dropout1", "dropout", drop, d_model, dt,
	                             0);
	nb_module *d2 = nb_layer_new("dropout2", "dropout", drop, d_model, dt,
	                             0);
	return with_children(m, 8, (nb_module *[]){sa, l1, d0, l2, n1, n2, d1,
	                                           d2});
}
