/*
 * nabla/init.h - initializers for persistent parameter tensors.
 *
 * Each initializer overwrites every element of a persistent float32 or
 * float64 tensor, in row-major order, with numbers drawn from the
 * caller's generator, so a seed gives the same weights on every machine
 * (see nb_rng in core.h).  The draws are documented so that another
 * program can replay them: a normal element is `mean + std * z` with z
 * from nb_rng_normal, a uniform element is `a + (b - a) * u` with u from
 * nb_rng_uniform, one draw per element in row-major order (orthogonal
 * draws its whole normal matrix first).  Nothing is recorded on a graph.
 *
 * Formulas, fans and gains are PyTorch's (torch.nn.init), with these
 * fans for a weight of shape [out, in, k...] (linear: [out, in];
 * convolution: [out_channels, in_channels / groups, kernel...]):
 *     fan_in  = in  * prod(k...)     fan_out = out * prod(k...)
 *
 * Errors (status returned, message in nb_last_error(), t unchanged):
 *   NB_EINVAL  t or r is NULL (or a nonlinearity or scheme that is
 *              required: all but nb_init_apply's nonlinearity, and the
 *              out arguments of calculate_gain and calculate_fans);
 *              t is a graph tensor; a non-finite or
 *              negative std / gain; uniform a > b; a tensor of fewer than
 *              2 dimensions where fans are needed; an unknown
 *              nonlinearity, mode or scheme.
 *   NB_EDTYPE  t is not float32 or float64.
 *   NB_EFORMAT a malformed scheme string (nb_init_apply).
 *   NB_ENOMEM  orthogonal's work space could not be allocated.
 * See doc/init.md for each initializer and when to use it.
 */
#ifndef NABLA_INIT_H
#define NABLA_INIT_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which fan Kaiming initialization preserves the variance of. */
typedef enum nb_fan_mode {
	NB_FAN_IN = 0,  /* forward pass (PyTorch's default) */
	NB_FAN_OUT = 1  /* backward pass */
} nb_fan_mode;

/*
 * PyTorch's torch.nn.init.calculate_gain: the factor that turns a
 * variance-preserving std into one suited to the nonlinearity.
 *   "linear", "identity", "conv1d", "conv2d", "conv3d",
 *   "conv_transpose1d/2d/3d", "sigmoid"  1
 *   "tanh"        5/3
 *   "relu"        sqrt(2)
 *   "leaky_relu"  sqrt(2 / (1 + slope^2)); slope = param, or 0.01 when
 *                 param is NAN
 *   "selu"        3/4
 * param is used by leaky_relu only (pass NAN elsewhere).  Writes *gain
 * and returns NB_OK, or NB_EINVAL for an unknown name or a non-finite
 * slope (*gain untouched).
 */
nb_status nb_calculate_gain(const char *nonlinearity, double param,
                            double *gain);

/*
 * PyTorch's _calculate_fan_in_and_fan_out for a weight of rank >= 2
 * (see the fans above).  NB_EINVAL for rank < 2 or a NULL argument.
 */
nb_status nb_calculate_fans(int ndim, const int64_t *shape,
                            int64_t *fan_in, int64_t *fan_out);

/* Every element 0 / value (value must be finite). */
nb_status nb_init_zeros(nb_tensor *t);
nb_status nb_init_constant(nb_tensor *t, double value);
/* N(mean, std^2); std >= 0. */
nb_status nb_init_normal(nb_tensor *t, nb_rng *r, double mean, double std);
/* U[a, b); a <= b. */
nb_status nb_init_uniform(nb_tensor *t, nb_rng *r, double a, double b);

/*
 * Glorot & Bengio (2010).  std = gain * sqrt(2 / (fan_in + fan_out));
 * uniform on [-b, b] with b = sqrt(3) * std.  Rank >= 2; gain >= 0.
 */
nb_status nb_init_xavier_uniform(nb_tensor *t, nb_rng *r, double gain);
nb_status nb_init_xavier_normal(nb_tensor *t, nb_rng *r, double gain);

/*
 * He et al. (2015).  std = calculate_gain(nonlinearity, a) / sqrt(fan)
 * with fan = fan_in or fan_out by mode; uniform on [-b, b] with
 * b = sqrt(3) * std.  a is the negative slope of leaky_relu (ignored
 * for the other nonlinearities, as in PyTorch); PyTorch's defaults are
 * a = 0, NB_FAN_IN, "leaky_relu" (gain sqrt(2)).  Rank >= 2.
 */
nb_status nb_init_kaiming_uniform(nb_tensor *t, nb_rng *r, double a,
                                  nb_fan_mode mode, const char *nonlinearity);
nb_status nb_init_kaiming_normal(nb_tensor *t, nb_rng *r, double a,
                                 nb_fan_mode mode, const char *nonlinearity);

/*
 * LeCun: N(0, 1 / fan_in), the initialization SELU networks assume
 * (PyTorch spells it kaiming_normal(nonlinearity="linear")).  A plain
 * normal: TensorFlow's and JAX's lecun_normal use a truncated normal
 * instead.  Rank >= 2.
 */
nb_status nb_init_lecun_normal(nb_tensor *t, nb_rng *r);

/*
 * Saxe et al. (2014), as PyTorch's orthogonal_: t viewed as a matrix
 * [rows = shape[0], cols = numel / rows] gets gain * Q, where Q comes
 * from the QR decomposition (Householder, in float64) of a matrix of
 * N(0, 1) numbers drawn row-major as [rows, cols] (and transposed when
 * rows < cols), with each column of Q multiplied by the sign of R's
 * diagonal so that Q is unique.  Rows (rows <= cols) or columns
 * (rows > cols) are then orthonormal.  Rank >= 2; gain >= 0.
 */
nb_status nb_init_orthogonal(nb_tensor *t, nb_rng *r, double gain);

/*
 * The scheme of the study notes' table (see doc/init.md): with
 * s = sqrt(6 / (fan_in + fan_out)) (uniform) or
 * s = sqrt(2 / (fan_in + fan_out)) (normal),
 *     sigmoid: s      tanh: 4 s      relu: sqrt(2) s
 * as the uniform bound or the normal std.  Kept for the study tool; the
 * table has an erratum: Glorot & Bengio put the factor 4 on *sigmoid*,
 * and PyTorch's gain for tanh is 5/3.  NB_EINVAL for any other
 * nonlinearity.  Rank >= 2.
 */
nb_status nb_init_notes(nb_tensor *t, nb_rng *r, const char *nonlinearity,
                        bool normal);

/*
 * Applies the scheme named by spec, for the command line and for
 * configuration files.  spec is NAME or NAME:ARG,ARG,... where an ARG is
 * a number or key=value:
 *   zeros                 constant:VALUE
 *   normal:STD            normal:mean=M,std=S       (std defaults to 1)
 *   uniform:A,B           uniform:B  (= [-B, B])    (defaults [0, 1))
 *   xavier_uniform[:GAIN] xavier_normal[:GAIN]      (GAIN defaults to 1)
 *   kaiming_uniform[:a=A,mode=fan_in|fan_out,nonlinearity=NAME]
 *   kaiming_normal[:...]  (defaults a=0, fan_in, leaky_relu)
 *   lecun_normal          orthogonal[:GAIN]
 *   notes                 notes_normal   (the notes' table, uniform/normal)
 * A GAIN may be "auto": calculate_gain(nonlinearity).  nonlinearity
 * (may be NULL) is the activation that follows the layer: it is what
 * "auto", nonlinearity=auto and the notes schemes use.  Errors: as the
 * initializers, and NB_EFORMAT for a malformed spec (the message names
 * the scheme and the bad argument).
 */
nb_status nb_init_apply(nb_tensor *t, nb_rng *r, const char *spec,
                        const char *nonlinearity);

#ifdef __cplusplus
}
#endif
#endif
