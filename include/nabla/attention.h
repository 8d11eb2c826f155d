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
 *   attn_mask  bool, broadcast to [..., L, S]: true where query i may
 *              attend to key j (PyTorch 2's bool attn_mask); NULL none
 *   attn_bias  float of q's dtype, broadcast to [..., L, S], added to
 *              the scores (PyTorch's float attn_mask: -inf excludes);
 *              NULL none.  Neither mask receives a gradient.
 *   causal     key j > query i excluded (PyTorch's is_causal)
 *   dropout_p  dropout on the attention weights, in training mode only
 *   scale      0 for 1/sqrt(E)
 * A row with every key excluded gives zeros (not PyTorch 2's NaN).
 * Only one [L, S] block is live at a time; backward recomputes it.
 * NULL on error, recorded on g (shapes, dtypes, attribute ranges).
 */
nb_tensor *nb_scaled_dot_product_attention(nb_graph *g, nb_tensor *q,
                                           nb_tensor *k, nb_tensor *v,
                                           nb_tensor *attn_mask,
                                           nb_tensor *attn_bias, bool causal,
                                           double dropout_p, double scale);

#ifdef __cplusplus
}
#endif
#endif
