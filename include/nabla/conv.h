/*
 * nabla/conv.h - typed wrappers of the convolution and pooling ops:
 * conv2d, max_pool2d and avg_pool2d over [N, C, H, W] feature maps
 * (doc/conv.md), with PyTorch's semantics.
 *
 * Sizes: an input of height H gives an output of height
 *     OH = floor((H + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
 * and likewise for the width (pooling: dilation 1).  The (dilated)
 * kernel must fit in the padded input.  There is no flatten op:
 * nb_reshape(g, x, 2, (int64_t[]){N, -1}) does it.
 *
 * Like every op wrapper these return a new graph tensor, or NULL with
 * the error recorded on g (a NULL input keeps g's first error; NULL g
 * or a NULL required input: NB_EINVAL, as in ops.h).  The
 * options are read during the call only.  Errors: NB_ESHAPE for a rank
 * or shape that does not fit (channel mismatch, groups that do not
 * divide the channels, a kernel larger than the padded input; the
 * message names the op and the input shapes), NB_EINVAL for an
 * attribute out of range (a stride or dilation below 1, a negative
 * padding), NB_EDTYPE for mixed dtypes, NB_ENOMEM.
 */
#ifndef NABLA_CONV_H
#define NABLA_CONV_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Options of nb_conv2d, each {height, width}.  Start from
 * NB_CONV2D_DEFAULTS: zero strides and dilations are errors. */
typedef struct nb_conv2d_opts {
	int64_t stride[2];   /* >= 1 */
	int64_t padding[2];  /* >= 0, zeros on both sides */
	int64_t dilation[2]; /* >= 1, step between kernel taps */
	int64_t groups;      /* >= 1, divides C_in and C_out */
} nb_conv2d_opts;

#define NB_CONV2D_DEFAULTS {{1, 1}, {0, 0}, {1, 1}, 1}

/*
 * 2-D convolution (a cross-correlation, as in PyTorch): x [N, C_in, H,
 * W], weight [C_out, C_in / groups, kH, kW], bias [C_out] or NULL; the
 * result is [N, C_out, OH, OW].  With groups G, the channels split into
 * G consecutive groups and output channel o sees only the input
 * channels of its group.  o NULL: stride 1, no padding, dilation 1, one
 * group.  All three inputs share one dtype.
 */
nb_tensor *nb_conv2d(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                     nb_tensor *bias, const nb_conv2d_opts *o);

/* Options of the pooling ops, each {height, width}.  kernel_size is
 * required (a NULL o is NB_EINVAL on the graph); a zero stride {0, 0} means the kernel
 * size (PyTorch's stride=None); padding is at most half the kernel. */
typedef struct nb_pool2d_opts {
	int64_t kernel_size[2];
	int64_t stride[2];
	int64_t padding[2];
	bool exclude_pad; /* avg only: divide by the real elements of the
	                     window (PyTorch's count_include_pad=False) */
} nb_pool2d_opts;

/*
 * The maximum of each window of x [N, C, H, W] (the padding never wins;
 * NaN does).  The gradient of a window goes to its first maximal
 * element in row-major order, as PyTorch's.
 */
nb_tensor *nb_max_pool2d(nb_graph *g, nb_tensor *x, const nb_pool2d_opts *o);

/*
 * The mean of each window of x [N, C, H, W]: the sum of its elements
 * divided by kH * kW (the padding counts as zeros), or by the number of
 * elements of x in the window when o->exclude_pad.
 */
nb_tensor *nb_avg_pool2d(nb_graph *g, nb_tensor *x, const nb_pool2d_opts *o);

/* ---- issue 15: conv1d, conv_transpose2d, adaptive_avg_pool2d,
 * upsample_nearest2d, dropout2d (doc/conv.md) ---- */

/* Options of nb_conv1d.  Start from NB_CONV1D_DEFAULTS. */
typedef struct nb_conv1d_opts {
	int64_t stride;   /* >= 1 */
	int64_t padding;  /* >= 0, zeros on both sides */
	int64_t dilation; /* >= 1 */
	int64_t groups;   /* >= 1, divides C_in and C_out */
} nb_conv1d_opts;

#define NB_CONV1D_DEFAULTS {1, 0, 1, 1}

/*
 * 1-D convolution (cross-correlation): x [N, C_in, L], weight [C_out,
 * C_in / groups, K], bias [C_out] or NULL; the result is [N, C_out, OL]
 * with OL as OW above.  o NULL: the defaults.  Errors as nb_conv2d.
 */
nb_tensor *nb_conv1d(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                     nb_tensor *bias, const nb_conv1d_opts *o);

/* Options of nb_conv_transpose2d, each {height, width}.  Start from
 * NB_CONV_TRANSPOSE2D_DEFAULTS. */
typedef struct nb_conv_transpose2d_opts {
	int64_t stride[2];         /* >= 1 */
	int64_t padding[2];        /* >= 0 */
	int64_t output_padding[2]; /* >= 0, < stride or < dilation */
	int64_t dilation[2];       /* >= 1 */
	int64_t groups;            /* >= 1, divides C_in */
} nb_conv_transpose2d_opts;

#define NB_CONV_TRANSPOSE2D_DEFAULTS {{1, 1}, {0, 0}, {0, 0}, {1, 1}, 1}

/*
 * Transposed 2-D convolution (PyTorch's conv_transpose2d, the gradient
 * of conv2d with respect to its input): x [N, C_in, H, W], weight [C_in,
 * C_out / groups, kH, kW], bias [C_out] or NULL; the result is [N,
 * C_out, OH, OW] with
 *     OH = (H - 1) * stride - 2 * padding + dilation * (kH - 1)
 *          + output_padding + 1
 * (at least 1; H at least 1) and likewise OW.  An output_padding not
 * smaller than the stride or the dilation of its axis is NB_EINVAL.
 */
nb_tensor *nb_conv_transpose2d(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                               nb_tensor *bias,
                               const nb_conv_transpose2d_opts *o);

/*
 * The mean of x [N, C, H, W] (or [C, H, W]) over out_h x out_w windows:
 * output row i covers input rows floor(i * H / out_h) to ceil((i + 1) *
 * H / out_h) - 1, as PyTorch (windows overlap when out_h does not
 * divide H).  out_h, out_w >= 0 (0: an empty output); H and W (and C)
 * must be at least 1.
 */
nb_tensor *nb_adaptive_avg_pool2d(nb_graph *g, nb_tensor *x,
                                  int64_t out_h, int64_t out_w);

/*
 * Nearest-neighbour resize of x [N, C, H, W], PyTorch 1.13's 'nearest'
 * (not 'nearest-exact'): to out_h x out_w when those are non-zero
 * (scale_factor then NAN), else by scale_factor > 0 on both axes, to
 * floor(H * scale_factor) x floor(W * scale_factor).  Output row o reads
 * input row min(floor(o * s), H - 1) with s = 1 / scale_factor, or H /
 * out_h for a given size, computed in float32 as PyTorch does.  Giving
 * both or neither is NB_EINVAL; an empty output NB_ESHAPE.
 */
nb_tensor *nb_upsample_nearest2d(nb_graph *g, nb_tensor *x, int64_t out_h,
                                 int64_t out_w, double scale_factor);

/*
 * Channel dropout of x [N, C, ...] (rank >= 2): in training mode each
 * [n, c] plane is zeroed with probability p in [0, 1] and the others
 * scaled by 1 / (1 - p), with one draw per plane from the graph's
 * generator (the stream of nb_dropout); the identity in evaluation mode
 * and for p = 0.  The gradient uses the mask forward drew.
 */
nb_tensor *nb_dropout2d(nb_graph *g, nb_tensor *x, double p);

#ifdef __cplusplus
}
#endif
#endif
