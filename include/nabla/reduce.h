/*
 * nabla/reduce.h - typed C wrappers of the reductions beyond sum, mean
 * and max (ops.h): min, prod, var, std, logsumexp, norm, argmax,
 * argmin, cumsum and topk, with PyTorch 1.13's semantics (doc/ops.md
 * says which PyTorch call each one matches).
 *
 * As in ops.h: the graph comes first; the result is a new graph tensor,
 * or NULL on error (recorded on the graph, see nb_graph_errmsg); a NULL
 * input makes the result NULL and keeps the graph's first error; a NULL
 * graph gives NULL with NB_EINVAL in nb_last_error() only.  Reductions
 * over a list of axes take axes[0..naxes-1] (naxes == 0: every axis;
 * NULL axes with naxes > 0 is NB_EINVAL on the graph), negative axes
 * counting from the end; keepdim keeps reduced axes with size 1.
 */
#ifndef NABLA_REDUCE_H
#define NABLA_REDUCE_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Minimum (torch.amin; torch.min(x) over all): the gradient is split
 * evenly among tied minima; NaN is the minimum.  An axis of size 0 is
 * NB_ESHAPE. */
nb_tensor *nb_min(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  bool keepdim);
/* Product (torch.prod); its gradient is exact with zeros in x. */
nb_tensor *nb_prod(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                   bool keepdim);
/* Variance and standard deviation, dividing by N - correction
 * (torch.var / torch.std with correction=; 1 is PyTorch's default). */
nb_tensor *nb_var(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  int64_t correction, bool keepdim);
nb_tensor *nb_std(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  int64_t correction, bool keepdim);
/* log sum exp, stable (torch.logsumexp). */
nb_tensor *nb_logsumexp(nb_graph *g, nb_tensor *x, int naxes,
                        const int *axes, bool keepdim);
/* Vector p-norm (torch.linalg.vector_norm(x, ord=p)): any p, INFINITY
 * and -INFINITY included. */
nb_tensor *nb_norm(nb_graph *g, nb_tensor *x, double p, int naxes,
                   const int *axes, bool keepdim);
/*
 * int64 index of the first maximum (minimum) along axis, or, when
 * has_axis is false, into the flattened x (torch.argmax(x, dim=None)).
 * NaN counts as the maximum and the minimum.  x may be float32, float64
 * or int64.  No gradient.
 */
nb_tensor *nb_argmax(nb_graph *g, nb_tensor *x, int axis, bool has_axis,
                     bool keepdim);
nb_tensor *nb_argmin(nb_graph *g, nb_tensor *x, int axis, bool has_axis,
                     bool keepdim);
/* Cumulative sum along axis (torch.cumsum); float32, float64 or int64. */
nb_tensor *nb_cumsum(nb_graph *g, nb_tensor *x, int axis);
/*
 * The k largest (smallest, largest == false) values along axis, sorted
 * or not, as torch.topk: returns the values (differentiable) and stores
 * their int64 indices in *indices (NULL: not wanted; both results are
 * graph tensors).  Ties come out as in PyTorch 1.13's CPU kernel.  k
 * larger than the axis is NB_ESHAPE.
 */
nb_tensor *nb_topk(nb_graph *g, nb_tensor *x, int64_t k, int axis,
                   bool largest, bool sorted, nb_tensor **indices);

#ifdef __cplusplus
}
#endif
#endif
