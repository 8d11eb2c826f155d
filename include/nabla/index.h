/*
 * nabla/index.h - indexing, masking, comparisons and logic (issue 15),
 * with PyTorch 1.13's names, semantics and defaults.
 *
 * The conventions of ops.h hold (graph first, NULL on error recorded on
 * the graph, sticky errors).  Indices are int64 tensors; masks and the
 * results of comparisons are bool (NB_BOOL).  Index values are never
 * negative (PyTorch 1.13 refuses them in all of these ops); an index out
 * of range is NB_EINVAL naming the op, the index, the axis and its size
 * and the input shapes, checked before anything is read or written.
 * dim may be negative (counting from the end).
 */
#ifndef NABLA_INDEX_H
#define NABLA_INDEX_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The slices of x at index (0-D or 1-D int64) along dim; x may be of
 * any dtype.  Gradient: scattered back, repeated indices adding up. */
nb_tensor *nb_index_select(nb_graph *g, nb_tensor *x, int64_t dim,
                           nb_tensor *index);
/* y[i][j] = x[index[i][j]][j] (dim 0), y shaped like index, which has
 * x's rank and no size larger than x's except along dim. */
nb_tensor *nb_gather(nb_graph *g, nb_tensor *x, int64_t dim,
                     nb_tensor *index);
/* x with src[i][j] added at [index[i][j]][j] (dim 0); index has x's and
 * src's rank, no size larger than src's nor (except along dim) x's.
 * Gradients: g to x, gather(g, dim, index) to src. */
nb_tensor *nb_scatter_add(nb_graph *g, nb_tensor *x, int64_t dim,
                          nb_tensor *index, nb_tensor *src);
/* Rows of weight [V, D] at input (int64, any shape): input.shape + [D].
 * padding_idx: NAN for none, else an integer in [-V, V) (negative
 * counts from the end) whose row gets no gradient.  The gradient of
 * weight is added only into the rows used. */
nb_tensor *nb_embedding(nb_graph *g, nb_tensor *input, nb_tensor *weight,
                        double padding_idx);
/* int64 one-hot rows (int64 result) of x (int64 in [0, num_classes));
 * num_classes -1: the largest value plus one.  No gradient. */
nb_tensor *nb_one_hot(nb_graph *g, nb_tensor *x, int64_t num_classes);
/* a where cond (bool) else b; the three broadcast.  Gradients: g where
 * cond to a, g elsewhere to b, summed back to their shapes. */
nb_tensor *nb_where(nb_graph *g, nb_tensor *cond, nb_tensor *a,
                    nb_tensor *b);
/* x with value (may be -INFINITY) where mask (bool, broadcast with x) is
 * true; no gradient flows where it was filled.  Anomaly mode accepts its
 * non-finite values (doc/guarantees.md). */
nb_tensor *nb_masked_fill(nb_graph *g, nb_tensor *x, nb_tensor *mask,
                          double value);

/*
 * Comparisons, broadcast, bool results, no gradient.  Both inputs of one
 * dtype (float32, float64, int64 or bool); IEEE for NaN: eq false, ne
 * true, the orderings false.
 */
nb_tensor *nb_eq(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_ne(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_lt(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_le(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_gt(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_ge(nb_graph *g, nb_tensor *a, nb_tensor *b);
/* Logic: nonzero (NaN included) is true. */
nb_tensor *nb_logical_and(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_logical_or(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_logical_not(nb_graph *g, nb_tensor *x);
/* Per element, bool: NaN / neither NaN nor infinite (int64 and bool
 * elements are finite). */
nb_tensor *nb_isnan(nb_graph *g, nb_tensor *x);
nb_tensor *nb_isfinite(nb_graph *g, nb_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
