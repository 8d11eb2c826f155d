/*
 * nabla/norm.h - typed wrappers of the normalization ops: batch_norm,
 * instance_norm, group_norm and layer_norm (doc/normalization.md).
 *
 * Each standardizes x over a group of elements with the group's mean
 * and biased variance, y = (x - mean) / sqrt(var + eps), then applies
 * the optional affine map y * weight + bias.  The input is [N, C] or
 * [N, C, *spatial] (layer_norm: any shape); weight, bias and running
 * statistics are 1-D [C] (layer_norm: the normalized shape).  weight
 * and bias may each be NULL (no scale / no shift).  All float inputs
 * but the running statistics share one dtype.
 *
 * Like every op wrapper these return a new graph tensor, or NULL with
 * the error recorded on g (a NULL input keeps g's first error; NULL g
 * or a NULL x: NB_EINVAL, as in ops.h).  Errors:
 * NB_ESHAPE for a rank or shape that does not fit (with the shapes in the
 * message), NB_EINVAL for an attribute out of range or an inconsistent
 * set of optional inputs, NB_EDTYPE for mixed dtypes.
 */
#ifndef NABLA_NORM_H
#define NABLA_NORM_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Batch normalization: per channel over the batch and spatial dims.
 *
 * Batch statistics are used in training mode (nb_graph_set_training),
 * and in evaluation mode when running_mean / running_var are NULL (not
 * tracked, PyTorch's track_running_stats=False).  Training with batch
 * statistics needs more than one value per channel (NB_ESHAPE).
 *
 * running_mean and running_var (both or neither; [C], float32 or
 * float64, never differentiated) are borrowed and UPDATED IN PLACE by a
 * training forward, before this returns:
 *     running = momentum * batch + (1 - momentum) * running
 * with the batch's unbiased variance.  In evaluation mode they are the
 * statistics used, and the gradient is that of a fixed affine map.
 *
 * num_batches_tracked is NULL or a one-element int64 tensor (borrowed)
 * that a training forward with running statistics increments (up to
 * INT64_MAX, where it stays; a negative count is NB_EINVAL).  momentum
 * is in [0, 1], or NAN (from <math.h>) for the cumulative moving average
 * momentum = 1 / num_batches_tracked, which needs num_batches_tracked
 * (NB_EINVAL otherwise).  eps >= 0, usually 1e-5.
 */
nb_tensor *nb_batch_norm(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                         nb_tensor *bias, nb_tensor *running_mean,
                         nb_tensor *running_var,
                         nb_tensor *num_batches_tracked, double momentum,
                         double eps);

/*
 * Instance normalization: per sample and channel over the spatial dims,
 * so x must be [N, C, *spatial] (NB_ESHAPE for rank < 3, and for a
 * single spatial element when the input's statistics are used).  The
 * running statistics behave as in nb_batch_norm (PyTorch's
 * use_input_stats = training or not tracking): updated in place by a
 * training forward with the average over the batch of the per-sample
 * statistics, used in evaluation mode.  momentum in [0, 1].
 */
nb_tensor *nb_instance_norm(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                            nb_tensor *bias, nb_tensor *running_mean,
                            nb_tensor *running_var, double momentum,
                            double eps);

/*
 * Group normalization: the C channels split into num_groups groups of
 * C / num_groups consecutive channels, statistics per sample and group;
 * weight and bias per channel.  num_groups must divide C (NB_ESHAPE).
 * The same in training and evaluation mode.
 */
nb_tensor *nb_group_norm(nb_graph *g, nb_tensor *x, int64_t num_groups,
                         nb_tensor *weight, nb_tensor *bias, double eps);

/*
 * Layer normalization over the trailing n_norm dims of x, which must
 * equal normalized_shape[0..n_norm-1] (n_norm == 0: the last dim alone).
 * weight and bias, when given, have that shape (elementwise affine).
 * normalized_shape is read during the call only.  The same in training
 * and evaluation mode.
 */
nb_tensor *nb_layer_norm(nb_graph *g, nb_tensor *x, int n_norm,
                         const int64_t *normalized_shape, nb_tensor *weight,
                         nb_tensor *bias, double eps);

/* ---- issue 15: rms_norm ---- */

/*
 * RMS normalization over the trailing n_norm dims of x (as
 * nb_layer_norm): y = x / sqrt(mean(x^2) + eps) * weight, the mean over
 * the normalized dims.  weight (the normalized shape) may be NULL.  eps
 * >= 0, or NAN for the dtype's machine epsilon (FLT_EPSILON or
 * DBL_EPSILON, as PyTorch's eps=None).  No centring and no bias.
 */
nb_tensor *nb_rms_norm(nb_graph *g, nb_tensor *x, int n_norm,
                       const int64_t *normalized_shape, nb_tensor *weight,
                       double eps);

#ifdef __cplusplus
}
#endif
#endif
