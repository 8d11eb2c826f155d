/*
 * nabla/loss.h - typed wrappers of the loss ops, and cosine_similarity,
 * with PyTorch 1.13's names, semantics, defaults and gradients
 * (doc/ops.md, "Losses").  Include <nabla/nabla.h> rather than this file.
 *
 * Every loss takes a reduction, as PyTorch's `reduction=`:
 * NB_REDUCTION_NONE gives the loss of each element (or position, for
 * nll_loss and cross_entropy), NB_REDUCTION_SUM their sum and
 * NB_REDUCTION_MEAN (PyTorch's default) their mean: over every element,
 * or for nll_loss and cross_entropy the weighted mean over the targets
 * that are not ignored.  The mean of nothing (an empty batch, every
 * target ignored) is NaN, as in PyTorch; the sum is 0.  By name the
 * attribute is `reduction=none|mean|sum` (kl_div also `batchmean`).
 *
 * Where PyTorch broadcasts input and target with a warning ("likely
 * incorrect results"), nabla requires the same shape (NB_ESHAPE).
 * Optional class weights, weight and pos_weight inputs may be NULL (not
 * given); they never receive a gradient (PyTorch refuses one).  Targets
 * get gradients where PyTorch gives them (every float target).
 *
 * Like every op wrapper these return a new graph tensor, or NULL with
 * the error recorded on g (a NULL input keeps g's first error; NULL g
 * or a NULL required input: NB_EINVAL, as in ops.h).  Errors name the op
 * and the input shapes: NB_ESHAPE for shapes that do not fit, NB_EDTYPE
 * for mixed dtypes or a target that is not int64, NB_EINVAL for an
 * attribute out of range or a reduction the op does not take, a class
 * index outside [0, C) that is not ignore_index (the message gives its
 * position), and binary_cross_entropy's input outside [0, 1].
 */
#ifndef NABLA_LOSS_H
#define NABLA_LOSS_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PyTorch's reduction, in the order of its enum (and of the attribute's
 * choices "none|mean|sum|batchmean"). */
typedef enum nb_reduction {
	NB_REDUCTION_NONE = 0,
	NB_REDUCTION_MEAN = 1,
	NB_REDUCTION_SUM = 2,
	NB_REDUCTION_BATCHMEAN = 3 /* kl_div only: the sum / input.shape[0] */
} nb_reduction;

/* (input - target)^2, same shapes (op "mse"). */
nb_tensor *nb_mse_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                       nb_reduction reduction);

/*
 * Softmax cross-entropy of logits input [N, C] or [N, C, d...] and int64
 * class indices target [N] or [N, d...], log-sum-exp form (finite for
 * any finite logits).  weight: NULL or class weights [C].  A target
 * equal to ignore_index (PyTorch: -100) adds nothing.  label_smoothing
 * e in [0, 1] mixes e / C of every class into the target; with weights,
 * as PyTorch 1.13, the smoothing term of a position is
 * e / C * sum_c w_c (lse - x_c) and the mean divides both terms by the
 * sum of w[target] over the targets not ignored.  NB_REDUCTION_NONE
 * gives [N, d...] (0 where ignored).
 */
nb_tensor *nb_cross_entropy(nb_graph *g, nb_tensor *input, nb_tensor *target,
                            nb_tensor *weight, int64_t ignore_index,
                            nb_reduction reduction, double label_smoothing);

/*
 * Negative log-likelihood of log-probabilities input [N, C] or
 * [N, C, d...] and int64 class indices target [N] or [N, d...]:
 * -w[t] input[n, t, ...].  weight: NULL or [C]; ignore_index as in
 * nb_cross_entropy.  The mean is sum / sum of w[t] over the targets not
 * ignored (NaN when that is 0, as PyTorch 1.13).
 */
nb_tensor *nb_nll_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                       nb_tensor *weight, int64_t ignore_index,
                       nb_reduction reduction);

/*
 * -w (t log x + (1 - t) log(1 - x)) for probabilities input x in [0, 1]
 * (NaN or a value outside is NB_EINVAL, as PyTorch raises) and a target
 * of the same shape; each log is clamped at -100 and the gradient's
 * denominator x (1 - x) at 1e-12, as PyTorch.  weight: NULL or
 * broadcastable to input's shape.
 */
nb_tensor *nb_binary_cross_entropy(nb_graph *g, nb_tensor *input,
                                   nb_tensor *target, nb_tensor *weight,
                                   nb_reduction reduction);

/*
 * binary_cross_entropy of sigmoid(input), in the stable form
 * w ((1 - t) x + (1 + (pw - 1) t) log(1 + e^-x)) with the log-sum-exp
 * shifted by max(-x, 0).  weight and pos_weight (pw, the weight of the
 * positive class): NULL or broadcastable to input's shape.
 */
nb_tensor *nb_binary_cross_entropy_with_logits(nb_graph *g, nb_tensor *input,
                                               nb_tensor *target,
                                               nb_tensor *weight,
                                               nb_tensor *pos_weight,
                                               nb_reduction reduction);

/* |input - target|; the gradient at 0 is 0 (PyTorch's sign). */
nb_tensor *nb_l1_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                      nb_reduction reduction);

/*
 * d = input - target: 0.5 d^2 / beta where |d| < beta, else
 * |d| - 0.5 beta (PyTorch's default beta = 1; beta >= 0, 0 gives l1's
 * values).  The gradient is d / beta inside and +-1 from |d| = beta
 * on, with -1 at d = 0 when beta = 0 (the target's too), as PyTorch
 * 1.13's kernel.
 */
nb_tensor *nb_smooth_l1_loss(nb_graph *g, nb_tensor *input,
                             nb_tensor *target, nb_reduction reduction,
                             double beta);

/* 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); delta > 0
 * (PyTorch's default 1). */
nb_tensor *nb_huber_loss(nb_graph *g, nb_tensor *input, nb_tensor *target,
                         nb_reduction reduction, double delta);

/*
 * Kullback-Leibler divergence of log-probabilities input and target
 * (same shape): t log t - t x with 0 log 0 = 0 (xlogy), or with
 * log_target e^t (t - x).  NB_REDUCTION_BATCHMEAN divides the sum by
 * input's first dim (the true KL divergence per sample); MEAN divides by
 * every element, as PyTorch (which warns about it).
 */
nb_tensor *nb_kl_div(nb_graph *g, nb_tensor *input, nb_tensor *target,
                     nb_reduction reduction, bool log_target);

/*
 * Not a loss (no reduction): the cosine of the angle between x1 and x2
 * (broadcast together) along dim (PyTorch's default 1), as PyTorch
 * 1.13: sum(x1 x2) / (max(|x1|, eps) max(|x2|, eps)), eps 1e-8 by
 * default; the result drops dim.  Its gradient treats each clamped norm
 * n as having the derivative x / n, as 1.13 does.
 */
nb_tensor *nb_cosine_similarity(nb_graph *g, nb_tensor *x1, nb_tensor *x2,
                                int64_t dim, double eps);

#ifdef __cplusplus
}
#endif
#endif
