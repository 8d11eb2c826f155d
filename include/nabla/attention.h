/*
 * nabla/attention.h - attention and the sequence layers built on it
 * (doc/sequence.md): the fused op scaled_dot_product_attention, and the
 * modules embedding, positional encodings, multi_head_attention and
 * transformer_encoder_layer with PyTorch's semantics and parameter names.
 */
#ifndef NABLA_ATTENTION_H
#define NABLA_ATTENTION_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * softmax(q k^T * scale + attn_bias, masked) v, fused (op
 * "scaled_dot_product_attention"): q [..., L, E], k [..., S, E],
 * v [..., S, Ev] with the same batch axes give [..., L, Ev].
 * num_heads H > 1: the heads side by side in the last axis, as a
 * projection makes them: q [..., L, H E], k [..., S, H E],
 * v [..., S, H Ev] give [..., L, H Ev], head h being columns
 * [h E, (h + 1) E) (no [B, H, L, E] copies); the masks then broadcast
 * to the scores [..., H, L, S].
 *   attn_mask  bool, broadcast to [..., L, S]: true where query i may
 *              attend to key j (PyTorch 2's bool attn_mask); NULL none
 *   attn_bias  float of q's dtype, broadcast to [..., L, S], added to
 *              the scores (PyTorch's float attn_mask: -inf excludes);
 *              NULL none.  Neither mask receives a gradient.
 *   causal     key j > query i excluded (PyTorch's is_causal)
 *   dropout_p  dropout on the attention weights, in training mode only
 *   scale      0 for 1/sqrt(E) (E per head)
 * A row with every key excluded gives zeros (not PyTorch 2's NaN).
 * Only one [L, S] block is live at a time; backward recomputes it.
 * NULL on error, recorded on g (shapes, dtypes, attribute ranges).
 */
nb_tensor *nb_scaled_dot_product_attention(nb_graph *g, nb_tensor *q,
                                           nb_tensor *k, nb_tensor *v,
                                           nb_tensor *attn_mask,
                                           nb_tensor *attn_bias, bool causal,
                                           double dropout_p, double scale,
                                           int64_t num_heads);
/*
 * The same on q, k and v packed side by side in one input (op
 * "scaled_dot_product_attention_packed"), as a self-attention's packed
 * in-projection makes them: qkv [..., L, 3 H E] holds q in columns
 * [0, H E), k in [H E, 2 H E) and v in [2 H E, 3 H E), each with its
 * heads side by side; the result is [..., L, H E].  No copies of q, k
 * and v are made, and backward writes their gradients in place in
 * qkv's.  Masks and attributes as above, with S = L.
 */
nb_tensor *nb_scaled_dot_product_attention_packed(nb_graph *g, nb_tensor *qkv,
                                                  nb_tensor *attn_mask,
                                                  nb_tensor *attn_bias,
                                                  bool causal,
                                                  double dropout_p,
                                                  double scale,
                                                  int64_t num_heads);

/* ---- layers (lib/nn/embedding.c, lib/nn/attention.c) ----
 * Each is constructible from plain sizes, an options struct (NULL for
 * PyTorch's defaults), a dtype and a generator; NULL on error with
 * nb_last_error() naming the layer and its sizes (NB_EINVAL for bad
 * sizes or options, a NULL rng, a non-float dtype; NB_ENOMEM).  Shape
 * errors at forward time are recorded on the graph, naming the layer
 * and the shapes. */

/* padding_idx of nb_embedding_new: none. */
#define NB_NO_PADDING INT64_MIN

/*
 * PyTorch's nn.Embedding(num, dim, padding_idx): parameter "weight"
 * [num, dim] ~ N(0, 1) (NB_PARAM_WEIGHT), the row padding_idx (in
 * [-num, num), negative from the end; NB_NO_PADDING for none) zeroed and
 * never given a gradient.  Forward: int64 indices of any shape ->
 * indices.shape + [dim].
 */
nb_module *nb_embedding_new(const char *name, int64_t num, int64_t dim,
                            int64_t padding_idx, nb_dtype dt, nb_rng *rng);
/*
 * Positional encodings: forward x [..., T, dim] (batch first, or
 * unbatched [T, dim]) -> x + table[0:T], T <= max_len.
 * Sinusoidal (Vaswani et al. 2017): buffer "pe" [max_len, dim],
 * pe[p, 2i] = sin(p / 10000^(2i/dim)), pe[p, 2i+1] = cos(same), as the
 * PyTorch tutorial's PositionalEncoding (without its dropout).
 * Learned: parameter "weight" [max_len, dim] ~ N(0, 1) (nn.Embedding of
 * arange(T), as GPT-2's wpe), NB_PARAM_WEIGHT.
 */
nb_module *nb_sinusoidal_positions_new(const char *name, int64_t max_len,
                                       int64_t dim, nb_dtype dt);
nb_module *nb_learned_positions_new(const char *name, int64_t max_len,
                                    int64_t dim, nb_dtype dt, nb_rng *rng);

/* Options of nb_multi_head_attention_new; NB_MHA_DEFAULTS is PyTorch's
 * nn.MultiheadAttention(embed_dim, num_heads). */
typedef struct nb_mha_opts {
	bool bias;            /* in_proj_bias and out_proj.bias */
	bool batch_first;     /* [B, L, E] rather than [L, B, E] */
	bool causal;          /* query i attends to keys j <= i only */
	bool average_weights; /* the weights result: mean over heads */
	double dropout;       /* on the attention weights, training only */
} nb_mha_opts;
#define NB_MHA_DEFAULTS {.bias = true, .average_weights = true}

/*
 * PyTorch's nn.MultiheadAttention (self- and cross-attention, kdim =
 * vdim = embed_dim): parameters "in_proj_weight" [3E, E]
 * (xavier_uniform, NB_PARAM_WEIGHT), "in_proj_bias" [3E] (zeros,
 * NB_PARAM_BIAS) and the child linear "out_proj" (nn.Linear's init,
 * bias zeroed), as its _reset_parameters.
 * nb_module_forward_multi inputs: query, key, value, key_padding_mask,
 * attn_mask (key NULL or left out: key = query; value NULL: value =
 * key).  query [L, B, E] ([B, L, E] batch_first, [L, E] unbatched),
 * key and value [S, B, E] likewise.  key_padding_mask [B, S] ([S]
 * unbatched) and attn_mask [L, S] or [B * num_heads, L, S] as PyTorch:
 * bool true = excluded, or float added to the scores.  Results:
 * (output shaped like query, attention weights [B, L, S] averaged over
 * heads, or [B, H, L, S] without average_weights; [L, S] unbatched).
 * The weights are computed only when cap >= 2, apart from the fused
 * op, and without dropout.  A query whose keys are all excluded gives
 * a zero output row (PyTorch: NaN).  nb_module_forward(x): the output
 * of self-attention on x.
 */
nb_module *nb_multi_head_attention_new(const char *name, int64_t embed_dim,
                                       int64_t num_heads,
                                       const nb_mha_opts *o, nb_dtype dt,
                                       nb_rng *rng);

/* The activation of a transformer layer's feed-forward block. */
typedef enum nb_ff_activation {
	NB_ACT_RELU = 0,
	NB_ACT_GELU = 1  /* exact (erf), as F.gelu */
} nb_ff_activation;

/* Options of nb_transformer_encoder_layer_new; NB_ENCODER_DEFAULTS is
 * PyTorch's nn.TransformerEncoderLayer(d_model, nhead). */
typedef struct nb_encoder_opts {
	int64_t dim_feedforward;
	double dropout;
	int activation;        /* nb_ff_activation */
	double layer_norm_eps;
	bool batch_first;
	bool norm_first;       /* pre-norm; false: post-norm */
	bool causal;           /* causal self-attention */
} nb_encoder_opts;
#define NB_ENCODER_DEFAULTS                                                  \
	{.dim_feedforward = 2048, .dropout = 0.1,                            \
	 .activation = NB_ACT_RELU, .layer_norm_eps = 1e-5}

/*
 * PyTorch's nn.TransformerEncoderLayer: children self_attn
 * (multi_head_attention), linear1 [d_model -> dim_feedforward], dropout,
 * linear2, norm1, norm2 (layer_norm, NB_PARAM_NORM), dropout1,
 * dropout2, so the state dict's names are PyTorch's.  Post-norm:
 *     x = norm1(x + sa(x));  x = norm2(x + ff(x))
 * pre-norm (norm_first):
 *     x = x + sa(norm1(x));  x = x + ff(norm2(x))
 * with ff(x) = linear2(dropout(activation(linear1(x)))).
 * nb_module_forward_multi inputs: src, src_mask, src_key_padding_mask
 * (masks as multi_head_attention's); one result.  nb_module_forward:
 * src alone.
 */
nb_module *nb_transformer_encoder_layer_new(const char *name, int64_t d_model,
                                            int64_t nhead,
                                            const nb_encoder_opts *o,
                                            nb_dtype dt, nb_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
