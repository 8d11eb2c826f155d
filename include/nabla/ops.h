/*
 * nabla/ops.h - typed C wrappers of the base ops.
 *
 * Every wrapper takes the graph first, returns a new graph tensor, or
 * NULL on error (recorded on the graph, see nb_graph_errmsg); a NULL
 * input makes the result NULL and keeps the graph's first error (or,
 * while the graph holds none, records NB_EINVAL naming the input).  A
 * NULL graph gives NULL with NB_EINVAL in nb_last_error() only; a NULL
 * axes, shape or perm array where entries are needed is NB_EINVAL on
 * the graph (NULL axes with naxes 0 means every axis).  An
 * optional input (linear's bias) may be NULL for "not given", except
 * while the graph holds an error: the NULL may then be a failed result,
 * and the op fails too.  All
 * float inputs of one op must share a dtype.  Axes may be negative
 * (counting from the end).
 */
#ifndef NABLA_OPS_H
#define NABLA_OPS_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Elementwise, with NumPy broadcasting: the result has the broadcast
 * shape and each input's gradient is summed back to its own shape. */
nb_tensor *nb_add(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_sub(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_mul(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_div(nb_graph *g, nb_tensor *a, nb_tensor *b);
/* max / min of a and b; NaN propagates; a tie splits the gradient 1/2, 1/2 */
nb_tensor *nb_maximum(nb_graph *g, nb_tensor *a, nb_tensor *b);
nb_tensor *nb_minimum(nb_graph *g, nb_tensor *a, nb_tensor *b);

/* Elementwise unary. */
nb_tensor *nb_neg(nb_graph *g, nb_tensor *x);
nb_tensor *nb_exp(nb_graph *g, nb_tensor *x);
nb_tensor *nb_square(nb_graph *g, nb_tensor *x); /* x^2 */
nb_tensor *nb_log(nb_graph *g, nb_tensor *x);
nb_tensor *nb_sqrt(nb_graph *g, nb_tensor *x);
nb_tensor *nb_abs(nb_graph *g, nb_tensor *x);  /* d|x|/dx = sign(x), 0 at 0 */
nb_tensor *nb_pow(nb_graph *g, nb_tensor *x, double exponent);
nb_tensor *nb_sign(nb_graph *g, nb_tensor *x);  /* -1, 0, 1; 0 at NaN; grad 0 */
nb_tensor *nb_floor(nb_graph *g, nb_tensor *x); /* gradient 0 */
nb_tensor *nb_ceil(nb_graph *g, nb_tensor *x);  /* gradient 0 */
nb_tensor *nb_round(nb_graph *g, nb_tensor *x); /* half to even; grad 0 */
nb_tensor *nb_sin(nb_graph *g, nb_tensor *x);        /* sine (radians) */
nb_tensor *nb_cos(nb_graph *g, nb_tensor *x);        /* cosine (radians) */
nb_tensor *nb_rsqrt(nb_graph *g, nb_tensor *x);      /* 1 / sqrt(x) */
nb_tensor *nb_reciprocal(nb_graph *g, nb_tensor *x); /* 1 / x */
nb_tensor *nb_log1p(nb_graph *g, nb_tensor *x);      /* ln(1 + x) */
nb_tensor *nb_expm1(nb_graph *g, nb_tensor *x);      /* e^x - 1 */
nb_tensor *nb_erf(nb_graph *g, nb_tensor *x);        /* error function */
/* x limited to [min, max] (NAN: no bound; not both NAN); all max if
 * min > max; gradient 1 where min <= x <= max, else 0. */
nb_tensor *nb_clamp(nb_graph *g, nb_tensor *x, double min, double max);
/* x's values without gradient: the result does not require grad. */
nb_tensor *nb_detach(nb_graph *g, nb_tensor *x);
/* x * s + t with scalars s and t. */
nb_tensor *nb_affine_scalar(nb_graph *g, nb_tensor *x, double s, double t);

/*
 * Reductions over axes[0..naxes-1] (naxes == 0: every axis).  keepdim
 * keeps reduced axes with size 1.  max splits the gradient evenly among
 * the elements equal to their group's maximum, as PyTorch's amax does
 * (NaN counts as equal to NaN, as in PyTorch's max()).
 */
nb_tensor *nb_sum(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  bool keepdim);
nb_tensor *nb_mean(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                   bool keepdim);
nb_tensor *nb_max(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  bool keepdim);

/* A copy with a new shape of the same numel; one dimension may be -1. */
nb_tensor *nb_reshape(nb_graph *g, nb_tensor *x, int ndim,
                      const int64_t *shape);
/* perm is a permutation of 0..ndim-1: out.shape[i] = x.shape[perm[i]]. */
nb_tensor *nb_permute(nb_graph *g, nb_tensor *x, const int *perm);
nb_tensor *nb_transpose(nb_graph *g, nb_tensor *x, int d0, int d1);

/*
 * Matrix product.  a [.., n, k] times b [.., k, m]; 1-D operands as in
 * NumPy (a vector is promoted and the added axis removed); leading batch
 * axes broadcast.  Uses CBLAS when nabla was built with it.
 */
nb_tensor *nb_matmul(nb_graph *g, nb_tensor *a, nb_tensor *b);
/* x [.., in] times w[out, in] transposed, plus b [out] (b may be NULL). */
nb_tensor *nb_linear(nb_graph *g, nb_tensor *x, nb_tensor *w, nb_tensor *b);

/* Along one axis, max-shifted: finite output for any finite input whose
 * differences along the axis are finite in the dtype (in float32,
 * log_softmax of [3e38, -3e38] is -inf: -6e38 is not a float32). */
nb_tensor *nb_softmax(nb_graph *g, nb_tensor *x, int axis);
nb_tensor *nb_log_softmax(nb_graph *g, nb_tensor *x, int axis);

/* The losses (nb_mse_loss, nb_cross_entropy, ...) are in loss.h. */

#ifdef __cplusplus
}
#endif
#endif
