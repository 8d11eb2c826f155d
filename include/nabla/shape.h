/*
 * nabla/shape.h - typed C wrappers of the shape and joining ops
 * (issue 15): squeeze, unsqueeze, flatten, expand, slice, select, flip,
 * repeat, pad, tril, triu, cat, stack, split, chunk.
 *
 * PyTorch 1.13's names, defaults and semantics.  Every op takes
 * float32, float64, int64 or bool inputs and keeps the dtype; only float
 * results carry gradients.  Results are new graph tensors (nabla has no
 * views: each is a copy, and its backward sends the gradient back to
 * the elements it came from, summing where expand and repeat broadcast).
 * Errors follow ops.h: NULL, recorded on the graph, with a message
 * naming the op and the shapes; a NULL graph is NB_EINVAL in
 * nb_last_error() only.  Axes may be negative (counting from the end).
 * Lists of axes, sizes or pads hold at most NB_MAX_DIMS entries; a NULL
 * list with entries is NB_EINVAL.
 */
#ifndef NABLA_SHAPE_H
#define NABLA_SHAPE_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Removes the axes of size 1 among the n_axes given (an axis of another
 * size stays, as PyTorch); n_axes 0: every axis of size 1. */
nb_tensor *nb_squeeze(nb_graph *g, nb_tensor *x, int n_axes,
                      const int64_t *axes);
/* Inserts an axis of size 1 before axis (in [-rank-1, rank]; -1
 * appends it). */
nb_tensor *nb_unsqueeze(nb_graph *g, nb_tensor *x, int64_t axis);
/* Merges axes start_dim..end_dim (PyTorch's defaults 0, -1); a scalar
 * becomes [1]. */
nb_tensor *nb_flatten(nb_graph *g, nb_tensor *x, int64_t start_dim,
                      int64_t end_dim);
/* Broadcasts x to sizes[0..n): -1 keeps an axis, an axis of size 1
 * becomes any size, extra leading sizes add axes.  The gradient sums
 * over the broadcast axes. */
nb_tensor *nb_expand(nb_graph *g, nb_tensor *x, int n, const int64_t *sizes);
/* x[start:end:step] along axis, as Python: negative bounds count from
 * the end, bounds out of range are clamped; step >= 1.  INT64_MAX as
 * end means "to the end". */
nb_tensor *nb_slice(nb_graph *g, nb_tensor *x, int64_t axis, int64_t start,
                    int64_t end, int64_t step);
/* The sub-tensor at index along axis, which is removed; an index out of
 * [-size, size) is NB_EINVAL. */
nb_tensor *nb_select(nb_graph *g, nb_tensor *x, int64_t axis,
                     int64_t index);
/* Reverses the order along each of dims[0..n) (each axis once). */
nb_tensor *nb_flip(nb_graph *g, nb_tensor *x, int n, const int64_t *dims);
/* Tiles x repeats[k] times along axis k; n >= rank, the extra entries
 * adding leading axes. */
nb_tensor *nb_repeat(nb_graph *g, nb_tensor *x, int n,
                     const int64_t *repeats);

/* F.pad's modes. */
typedef enum nb_pad_mode {
	NB_PAD_CONSTANT = 0, /* the value */
	NB_PAD_REFLECT,      /* mirrored, without repeating the edge */
	NB_PAD_REPLICATE     /* the edge repeated */
} nb_pad_mode;

/* F.pad: pad[0..n) are (left, right) pairs, the last axis first;
 * negative pads crop.  value fills mode constant (truncated for int64,
 * nonzero is true for bool).  Mode reflect needs pads below the axis's
 * size. */
nb_tensor *nb_pad(nb_graph *g, nb_tensor *x, int n, const int64_t *pad,
                  nb_pad_mode mode, double value);
/* The lower (upper) triangle of the last two axes, j - i <= diagonal
 * (>= diagonal), the rest zeroed; batched over leading axes. */
nb_tensor *nb_tril(nb_graph *g, nb_tensor *x, int64_t diagonal);
nb_tensor *nb_triu(nb_graph *g, nb_tensor *x, int64_t diagonal);

/* Joins xs[0..n) (n >= 1, one dtype) along an existing axis; shapes
 * must match elsewhere.  1-D empty tensors are skipped, as PyTorch
 * 1.13; scalars are refused. */
nb_tensor *nb_cat(nb_graph *g, int n, nb_tensor *const *xs, int64_t axis);
/* Joins xs[0..n) (n >= 1, one shape and dtype) along a new axis (in
 * [-rank-1, rank]). */
nb_tensor *nb_stack(nb_graph *g, int n, nb_tensor *const *xs, int64_t axis);
/*
 * Splits x along axis: with n == 1, into pieces of sizes[0] (the last
 * one smaller); with n > 1, into pieces of sizes[0..n) (summing to the
 * axis's size).  Stores up to max_out results in outs and returns how
 * many there are (at most NB_MAX_OUTPUTS), or -1 on error (recorded on
 * g).
 */
int nb_split(nb_graph *g, nb_tensor *x, int n, const int64_t *sizes,
             int64_t axis, nb_tensor **outs, int max_out);
/* torch.chunk: pieces of ceil(size / chunks) along axis, so fewer than
 * chunks when the last would be empty; returns as nb_split. */
int nb_chunk(nb_graph *g, nb_tensor *x, int64_t chunks, int64_t axis,
             nb_tensor **outs, int max_out);

#ifdef __cplusplus
}
#endif
#endif
