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

#ifdef __cplusplus
}
#endif
#endif
