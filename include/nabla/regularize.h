/*
 * nabla/regularize.h - regularizers: weight penalties, dropout, and
 * gradient clipping (as graph ops, and on parameters' gradients like
 * torch.nn.utils).  Formulas and advice: doc/regularization.md.
 *
 * The graph-op wrappers follow ops.h: the graph first, a new graph
 * tensor back, or NULL with the error recorded on the graph (sticky);
 * NULL g or a NULL input as there.  The gradient-clipping functions
 * return NB_EINVAL for a NULL params array (n > 0) or a NULL entry.
 */
#ifndef NABLA_REGULARIZE_H
#define NABLA_REGULARIZE_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- weight penalties: scalars to add to the loss ---- */

/*
 * lambda * sum |w|, a scalar of w's dtype (op "l1_penalty").  The
 * gradient is lambda * sign(w), 0 at w = 0 (as PyTorch's abs).
 * lambda must be >= 0 (NB_EINVAL otherwise).
 */
nb_tensor *nb_l1_penalty(nb_graph *g, nb_tensor *w, double lambda);

/* Which of the two L2 conventions (op "l2_penalty", attribute
 * "convention"). */
typedef enum nb_l2_convention {
	NB_L2_HALF = 0, /* lambda/2 * sum w^2: gradient lambda * w, the same
	                   step as SGD's weight_decay = lambda (default) */
	NB_L2_FULL = 1  /* lambda * sum w^2: gradient 2 lambda * w */
} nb_l2_convention;

/* The L2 penalty of w in convention conv; lambda >= 0. */
nb_tensor *nb_l2_penalty(nb_graph *g, nb_tensor *w, double lambda,
                         nb_l2_convention conv);

typedef enum nb_penalty {
	NB_PENALTY_L1,      /* lambda * sum |w| */
	NB_PENALTY_L2_HALF, /* lambda/2 * sum w^2 */
	NB_PENALTY_L2_FULL  /* lambda * sum w^2 */
} nb_penalty;

/*
 * The penalty summed over params[0..n-1] into one graph scalar:
 *     loss = nb_add(g, loss, nb_penalty_sum(g, params, n,
 *                                           NB_PENALTY_L2_HALF, 1e-4));
 * The parameters are borrowed; they must share one dtype (NB_EDTYPE
 * otherwise).  NB_EINVAL when n is 0 or a parameter is NULL.
 */
nb_tensor *nb_penalty_sum(nb_graph *g, nb_tensor *const *params, size_t n,
                          nb_penalty kind, double lambda);

/* ---- dropout ---- */

/*
 * Inverted dropout (op "dropout"): in training mode each element is
 * zeroed with probability p and the others are scaled by 1/(1-p), so
 * the expected value is unchanged; the mask is drawn from the graph's
 * generator (nb_graph_seed) and backward reuses it (dx = g * mask/(1-p)).
 * In evaluation mode, or with p = 0, the identity (nothing drawn); p = 1
 * gives zeros.  Dropped elements are x * 0, as in PyTorch, so a NaN or
 * infinite input stays NaN.  p in [0, 1], else NB_EINVAL.
 */
nb_tensor *nb_dropout(nb_graph *g, nb_tensor *x, double p);

/*
 * Alpha dropout for self-normalizing (SELU) networks (op
 * "alpha_dropout"), PyTorch's formula: dropped elements are set to
 * SELU's negative saturation alpha' = -1.7580993408473766, then an
 * affine map a * (.) + b restores zero mean and unit variance:
 *     a = ((1 - p) (1 + p alpha'^2))^(-1/2),  b = -a alpha' p.
 * Same modes and p range as nb_dropout.
 */
nb_tensor *nb_alpha_dropout(nb_graph *g, nb_tensor *x, double p);

/* ---- gradient clipping as graph ops ---- */

/*
 * The identity in forward; backward clamps the gradient flowing back
 * through it to [-clip, clip] (op "clip_grad_value", clip >= 0).  Put it
 * on an activation to bound the gradient reaching the layers below.
 */
nb_tensor *nb_clip_grad_value_op(nb_graph *g, nb_tensor *x, double clip);

/*
 * The identity in forward; backward multiplies the gradient flowing back
 * by min(1, max_norm / (||g||_2 + 1e-6)), the coefficient of
 * torch.nn.utils.clip_grad_norm_, so a gradient whose L2 norm exceeds
 * max_norm leaves with norm max_norm (op "clip_grad_norm",
 * max_norm >= 0).
 */
nb_tensor *nb_clip_grad_norm_op(nb_graph *g, nb_tensor *x, double max_norm);

/* ---- gradient clipping on parameters (torch.nn.utils) ---- */

/*
 * Rescales the gradients of params[0..n-1] in place so that their total
 * norm (the norm of all of them concatenated) is at most max_norm, as
 * torch.nn.utils.clip_grad_norm_: every gradient is multiplied by
 *     min(1, max_norm / (total + 1e-6)).
 * norm_type is p of the p-norm (> 0; 2 is the usual one) or INFINITY
 * (the largest |g|).  Parameters without a gradient are skipped; with
 * none, the total is 0.  The total norm before clipping is stored in
 * *total_norm unless it is NULL.  The parameters are borrowed.
 * Errors: NB_EINVAL (params NULL with n > 0, a NULL parameter,
 * max_norm < 0 or NaN, norm_type <= 0 or NaN); NB_ENONFINITE when the
 * total is NaN or infinite and error_if_nonfinite is set (nothing is
 * changed then; without the flag the gradients are scaled anyway and
 * become NaN or zero, as PyTorch's).
 */
nb_status nb_clip_grad_norm(nb_tensor *const *params, size_t n,
                            double max_norm, double norm_type,
                            bool error_if_nonfinite, double *total_norm);

/*
 * Clamps every element of the gradients of params[0..n-1] to
 * [-clip, clip] in place, as torch.nn.utils.clip_grad_value_.
 * Parameters without a gradient are skipped.  NB_EINVAL for clip < 0 or
 * NaN, or a NULL parameter.
 */
nb_status nb_clip_grad_value(nb_tensor *const *params, size_t n,
                             double clip);

#ifdef __cplusplus
}
#endif
#endif
