/*
 * conv_onednn.h - float32 convolutions by oneDNN (issue 17).  Private
 * to conv.c and conv_onednn.c.
 *
 * conv.c describes every convolution (conv2d, conv1d as a conv2d of
 * height 1, conv_transpose2d as conv2d's input gradient) by a
 * nb__conv_geom; these functions run it with oneDNN's primitives on its
 * plain NCHW / OIHW arrays (in oneDNN's preferred layouts, reordered in
 * and out, or in nabla's own: NB_CONV), or decline (nothing written) so
 * that the caller keeps im2col + GEMM: a build without oneDNN,
 * NB_CONV=im2col in the environment, or a shape oneDNN has no
 * implementation for.
 */
#ifndef NB_CONV_ONEDNN_H
#define NB_CONV_ONEDNN_H

#include "internal.h"

typedef struct nb__conv_geom {
	int64_t N, C, H, W;    /* input */
	int64_t O, G;          /* output channels (conv2d; pools: C), groups */
	int64_t KH, KW;        /* kernel */
	int64_t sh, sw, ph, pw, dh, dw;
	int64_t OH, OW;        /* output */
} nb__conv_geom;

/*
 * y = conv(x, w) + b (b may be NULL), y written.  NB_ENOMEM (with the
 * op's message) when its scratch memory cannot be had.
 */
nb_status nb__onednn_conv_forward(nb_op_ctx *c, const nb__conv_geom *q,
                                  const float *x, const float *w,
                                  const float *b, float *y,
                                  bool *declined);

/*
 * *dx += conv2d's input gradient, *dw += its weight gradient, *db +=
 * the sums of gout (each pointer may be NULL: not wanted; x is read for
 * dw only).  Each gradient done is set to NULL; those left are the
 * caller's to compute (oneDNN declined them, or all when *dw is NULL
 * for *db).  dx_fresh: *dx holds nothing yet, and is written (=).
 */
nb_status nb__onednn_conv_backward(nb_op_ctx *c, const nb__conv_geom *q,
                                   const float *x, const float *w,
                                   const float *gout, float **dx,
                                   float **dw, float **db, bool dx_fresh);

/* Whether NB_CONV=im2col asks for im2col + GEMM on every call. */
bool nb__conv_im2col_forced(void);

/*
 * *dw += conv2d's weight gradient and *db += the sums of gout (db may
 * point to NULL), computed directly (conv_wgrad.c) for an input of fewer
 * channels than a SIMD block, one group, stride 1: both set to NULL when
 * done, left for the caller otherwise.  NB_ENOMEM (with the op's
 * message) when its scratch cannot be had.
 */
nb_status nb__conv_wgrad_small(nb_op_ctx *c, const nb__conv_geom *q,
                               const float *x, const float *gout,
                               float **dw, float **db);

/*
 * Copies between plain [N, C, H, W] (HW = H W) and oneDNN's channel-
 * blocked layout of block b (8 or 16: nChw8c, nChw16c), whose
 * [N, ceil(C / b), H, W, b] lanes past C are written as zeros; in
 * parallel on nabla's pool, the same bits at any thread count
 * (conv_layout.c).
 */
void nb__nchw_to_blocked(const float *x, float *y, int64_t N, int64_t C,
                         int64_t HW, int b);
void nb__blocked_to_nchw(const float *y, float *x, int64_t N, int64_t C,
                         int64_t HW, int b);

#endif
