/*
 * seq_rows.c - the sequence-model layers as rows of the layer table
 * (issue 18): embedding (reads token ids), rnn, lstm, gru,
 * self_attention (nn.MultiheadAttention on x, x, x),
 * transformer_encoder_layer, sinusoidal_positions and learned_positions.
 * Batch first: a spec's tensors are [N, T, F] (an embedding or
 * reshape:[T,F] makes them), and each layer reads F, the last axis of
 * the per-sample shape.
 */
#include "internal.h"

static nb_module *seq_fail(const char *what, const nb_sample_shape *in)
{
	char s[96];
	nb__set_error(NB_EINVAL, "%s needs a sequence [T, F] per sample, not "
	              "%s (an embedding or reshape:[T,F] makes one)", what,
	              nb_shape_str(in->ndim, in->dims, s, sizeof s));
	return NULL;
}

/* ---- embedding:DIM[,num=V,padding_idx=P] ---- */

typedef struct emb_args {
	int64_t dim, num, padding_idx;
} emb_args;

static const nb_attr_def emb_defs[] = {
	{.name = "dim", .type = NB_ATTR_INT, .def = 0,
	 .offset = offsetof(emb_args, dim), .range = NB_RANGE(1, 1 << 24),
	 .doc = "the embedding size"},
	{.name = "num", .type = NB_ATTR_INT, .def = 0,
	 .offset = offsetof(emb_args, num), .range = NB_RANGE(0, 1 << 30),
	 .doc = "rows of the table (0: the model's vocabulary)"},
	{.name = "padding_idx", .type = NB_ATTR_INT, .def = -1,
	 .offset = offsetof(emb_args, padding_idx),
	 .range = NB_RANGE(-1, 1 << 30),
	 .doc = "a row that gets no gradient (-1: none)"},
};

static nb_status emb_check(const void *attrs)
{
	const emb_args *a = attrs;
	return a->dim ? NB_OK : nb__set_error(NB_EINVAL, "embedding needs "
	                                      "its size (embedding:DIM)");
}

static nb_module *emb_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx)
{
	const emb_args *a = attrs;
	int64_t num = a->num ? a->num : ctx->vocab;
	if (num < 1) {
		nb__set_error(NB_EINVAL, "embedding: the table's size is unknown: "
		              "give num=V, or train on text (the alphabet's size)");
		return NULL;
	}
	if (a->padding_idx >= num) {
		nb__set_error(NB_EINVAL, "embedding: padding_idx %lld is not a row "
		              "of a table of %lld", (long long)a->padding_idx,
		              (long long)num);
		return NULL;
	}
	if (in->ndim + 1 > NB_MAX_DIMS - 1)
		return seq_fail("embedding", in);
	*out = *in;
	out->dims[out->ndim++] = a->dim;
	return nb_embedding_new(name, num, a->dim, a->padding_idx < 0
	                        ? NB_NO_PADDING : a->padding_idx, ctx->dtype,
	                        ctx->rng);
}

static const nb_layer_def emb_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "embedding",
	.prefix = "emb", .doc = "nn.Embedding: token ids to vectors",
	.attrs = emb_defs, .n_attrs = 3, .attrs_size = sizeof(emb_args),
	.flags = NB_LDEF_TOKENS, .check = emb_check, .build = emb_build,
};

/* ---- rnn, lstm, gru:HIDDEN[,num_layers=L,dropout=P,bidirectional=1] ---- */

typedef struct rec_args {
	int64_t hidden, num_layers;
	double dropout;
	bool bidirectional, relu, bias;
} rec_args;

static const nb_attr_def rec_defs[] = {
	{.name = "hidden", .type = NB_ATTR_INT, .def = 0,
	 .offset = offsetof(rec_args, hidden), .range = NB_RANGE(1, 1 << 20),
	 .doc = "the state size"},
	{.name = "num_layers", .type = NB_ATTR_INT, .def = 1,
	 .offset = offsetof(rec_args, num_layers), .range = NB_RANGE(1, 1024),
	 .doc = "stacked layers"},
	{.name = "dropout", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(rec_args, dropout), .range = NB_RANGE(0, 0.999),
	 .doc = "between stacked layers, in training"},
	{.name = "bidirectional", .type = NB_ATTR_BOOL,
	 .offset = offsetof(rec_args, bidirectional),
	 .doc = "a second direction, outputs side by side"},
	{.name = "relu", .type = NB_ATTR_BOOL,
	 .offset = offsetof(rec_args, relu), .doc = "rnn: relu, not tanh"},
	{.name = "bias", .type = NB_ATTR_BOOL, .def = 1,
	 .offset = offsetof(rec_args, bias), .doc = "b_ih and b_hh"},
};

static nb_status rec_check(const void *attrs)
{
	const rec_args *a = attrs;
	return a->hidden ? NB_OK : nb__set_error(NB_EINVAL, "a recurrent "
	                                         "layer needs its state size "
	                                         "(lstm:HIDDEN)");
}

typedef nb_module *(*rec_new)(const char *, int64_t, int64_t,
                              const nb_rnn_opts *, nb_dtype, nb_rng *);

static nb_module *rec_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx, const char *what,
                            rec_new make)
{
	const rec_args *a = attrs;
	if (in->ndim != 2)
		return seq_fail(what, in);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = a->num_layers;
	o.bias = a->bias;
	o.batch_first = true;
	o.dropout = a->dropout;
	o.bidirectional = a->bidirectional;
	o.relu = a->relu;
	*out = *in;
	out->dims[1] = a->hidden * (a->bidirectional ? 2 : 1);
	return make(name, in->dims[1], a->hidden, &o, ctx->dtype, ctx->rng);
}

static nb_module *rnn_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx)
{
	return rec_build(name, attrs, in, out, ctx, "rnn", nb_rnn_new);
}

static nb_module *lstm_build(const char *name, const void *attrs,
                             const nb_sample_shape *in, nb_sample_shape *out,
                             const nb_layer_ctx *ctx)
{
	return rec_build(name, attrs, in, out, ctx, "lstm", nb_lstm_new);
}

static nb_module *gru_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx)
{
	return rec_build(name, attrs, in, out, ctx, "gru", nb_gru_new);
}

#define REC_ROW(NAME, DOC, BUILD)                                            \
	{.version = NB_LAYER_DEF_VERSION, .name = NAME, .doc = DOC,          \
	 .attrs = rec_defs, .n_attrs = 6, .attrs_size = sizeof(rec_args),    \
	 .check = rec_check, .build = BUILD}

static const nb_layer_def rnn_row = REC_ROW("rnn", "nn.RNN, batch first",
                                            rnn_build);
static const nb_layer_def lstm_row = REC_ROW("lstm", "nn.LSTM, batch first",
                                             lstm_build);
static const nb_layer_def gru_row = REC_ROW("gru", "nn.GRU, batch first",
                                            gru_build);

/* ---- self_attention:num_heads=H[,causal=1,dropout=P] ---- */

typedef struct sa_args {
	int64_t num_heads;
	bool causal;
	double dropout;
} sa_args;

static const nb_attr_def sa_defs[] = {
	{.name = "num_heads", .type = NB_ATTR_INT, .def = 1,
	 .offset = offsetof(sa_args, num_heads), .range = NB_RANGE(1, 4096),
	 .doc = "heads (they divide the features)"},
	{.name = "causal", .type = NB_ATTR_BOOL,
	 .offset = offsetof(sa_args, causal), .doc = "token i sees j <= i"},
	{.name = "dropout", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(sa_args, dropout), .range = NB_RANGE(0, 1),
	 .doc = "on the attention weights"},
};

static nb_module *sa_build(const char *name, const void *attrs,
                           const nb_sample_shape *in, nb_sample_shape *out,
                           const nb_layer_ctx *ctx)
{
	const sa_args *a = attrs;
	nb_mha_opts o = NB_MHA_DEFAULTS;
	if (in->ndim != 2)
		return seq_fail("self_attention", in);
	o.batch_first = true;
	o.causal = a->causal;
	o.dropout = a->dropout;
	*out = *in;
	return nb_multi_head_attention_new(name, in->dims[1], a->num_heads, &o,
	                                   ctx->dtype, ctx->rng);
}

static const nb_layer_def sa_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "self_attention",
	.prefix = "attn", .doc = "multi-head self-attention over the tokens",
	.attrs = sa_defs, .n_attrs = 3, .attrs_size = sizeof(sa_args),
	.build = sa_build,
};

/* ---- transformer_encoder_layer:nhead=H[,dim_feedforward=D,...] ---- */

typedef struct enc_args {
	int64_t nhead, dim_feedforward;
	double dropout;
	bool gelu, norm_first, causal;
} enc_args;

static const nb_attr_def enc_defs[] = {
	{.name = "nhead", .type = NB_ATTR_INT, .def = 1,
	 .offset = offsetof(enc_args, nhead), .range = NB_RANGE(1, 4096),
	 .doc = "heads"},
	{.name = "dim_feedforward", .type = NB_ATTR_INT, .def = 2048,
	 .offset = offsetof(enc_args, dim_feedforward),
	 .range = NB_RANGE(1, 1 << 24), .doc = "the feed-forward width"},
	{.name = "dropout", .type = NB_ATTR_FLOAT, .def = 0.1,
	 .offset = offsetof(enc_args, dropout), .range = NB_RANGE(0, 1),
	 .doc = "dropout"},
	{.name = "gelu", .type = NB_ATTR_BOOL,
	 .offset = offsetof(enc_args, gelu), .doc = "gelu, not relu"},
	{.name = "norm_first", .type = NB_ATTR_BOOL,
	 .offset = offsetof(enc_args, norm_first), .doc = "pre-norm"},
	{.name = "causal", .type = NB_ATTR_BOOL,
	 .offset = offsetof(enc_args, causal), .doc = "causal attention"},
};

static nb_module *enc_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx)
{
	const enc_args *a = attrs;
	nb_encoder_opts o = NB_ENCODER_DEFAULTS;
	if (in->ndim != 2)
		return seq_fail("transformer_encoder_layer", in);
	o.dim_feedforward = a->dim_feedforward;
	o.dropout = a->dropout;
	o.activation = a->gelu ? NB_ACT_GELU : NB_ACT_RELU;
	o.batch_first = true;
	o.norm_first = a->norm_first;
	o.causal = a->causal;
	*out = *in;
	return nb_transformer_encoder_layer_new(name, in->dims[1], a->nhead, &o,
	                                        ctx->dtype, ctx->rng);
}

static const nb_layer_def enc_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "transformer_encoder_layer",
	.prefix = "enc", .doc = "nn.TransformerEncoderLayer, batch first",
	.attrs = enc_defs, .n_attrs = 6, .attrs_size = sizeof(enc_args),
	.build = enc_build,
};

/* ---- sinusoidal_positions, learned_positions [:max_len=L] ---- */

typedef struct pos_args {
	int64_t max_len;
} pos_args;

static const nb_attr_def pos_defs[] = {
	{.name = "max_len", .type = NB_ATTR_INT, .def = 0,
	 .offset = offsetof(pos_args, max_len), .range = NB_RANGE(0, 1 << 24),
	 .doc = "longest sequence (0: the input's length)"},
};

static nb_module *pos_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx, bool learned)
{
	const pos_args *a = attrs;
	if (in->ndim != 2)
		return seq_fail("positions", in);
	int64_t len = a->max_len ? a->max_len : in->dims[0];
	*out = *in;
	return learned ? nb_learned_positions_new(name, len, in->dims[1],
	                                          ctx->dtype, ctx->rng)
	               : nb_sinusoidal_positions_new(name, len, in->dims[1],
	                                             ctx->dtype);
}

static nb_module *sin_build(const char *name, const void *attrs,
                            const nb_sample_shape *in, nb_sample_shape *out,
                            const nb_layer_ctx *ctx)
{
	return pos_build(name, attrs, in, out, ctx, false);
}

static nb_module *learned_build(const char *name, const void *attrs,
                                const nb_sample_shape *in,
                                nb_sample_shape *out, const nb_layer_ctx *ctx)
{
	return pos_build(name, attrs, in, out, ctx, true);
}

static const nb_layer_def sin_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "sinusoidal_positions",
	.prefix = "pos", .doc = "x + sin/cos positions",
	.attrs = pos_defs, .n_attrs = 1, .attrs_size = sizeof(pos_args),
	.build = sin_build,
};

static const nb_layer_def learned_row = {
	.version = NB_LAYER_DEF_VERSION, .name = "learned_positions",
	.prefix = "pos", .doc = "x + a learned table of positions",
	.attrs = pos_defs, .n_attrs = 1, .attrs_size = sizeof(pos_args),
	.build = learned_build,
};

const nb_layer_def *const nb__seq_layers[] = {
	&emb_row, &rnn_row, &lstm_row, &gru_row, &sa_row, &enc_row, &sin_row,
	&learned_row, NULL,
};
