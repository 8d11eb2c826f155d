/*
 * conv_wgrad.c - conv2d's weight gradient computed directly when the
 * input has fewer channels than a SIMD block (conv_onednn.h).
 *
 * Why: a network's first layer reads 1 (grey) or 3 (RGB) channels.
 * oneDNN's direct kernels pad the input channels to a block of 8, so
 * this layer's weight gradient does 8 (or 8/3) times the work: 6.4 ms a
 * step in the cnn benchmark, a quarter of it, for 29 MFLOP; with plain
 * layouts oneDNN falls back to im2col + GEMM, no faster (7.8 ms).  Here
 *
 *     dW[o, c, kh, kw] = sum over n, y, x of
 *                        gout[n, o, y, x] xpad[n, c, y + kh dh, x + kw dw]
 *
 * (stride 1) runs as dot products along the rows of gout's planes, one
 * vector of gout against the input row shifted by each kernel position,
 * up to 9 positions at once in registers: xpad is the input copied once
 * with its zero padding, so no index is ever tested.  A row's last
 * partial vector reads xpad past the row (its zeros, or the next real
 * columns when padding is narrower than the kernel); those lanes'
 * products are dropped by a bit mask, not multiplied by zero, so that a
 * non-finite input never leaks into a sum it is not part of, and a NaN
 * or infinite gout reaches every weight it touches, through padding
 * zeros too, as in PyTorch (0 * NaN is NaN).
 *
 * Sums: each (n, o, c) plane's in float vectors, then in double across
 * images and channels, in a fixed order; the output channels split over
 * nabla's pool, so the result is the same at any thread count.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "conv_onednn.h"
#include "vecmath.h" /* NB_FMA_CLONES, nb__f8u */

typedef nb__f8u v8;
typedef int32_t v8i __attribute__((vector_size(32), aligned(4), may_alias));

/* Kernel positions summed at once: 9 vector sums, one 3x3 kernel, fit
 * in AVX2's 16 registers with the gout vector and a product. */
#define GROUP 9

bool nb__conv_im2col_forced(void)
{
	const char *s = getenv("NB_CONV");
	return s && !strcmp(s, "im2col");
}

/*
 * The padded input's plane, *Hp rows of *Wp: every row y + kh dh, and
 * in each a whole last vector of the output row at every kernel column,
 * as well as the padded row itself.
 */
static void padded_dims(const nb__conv_geom *q, int64_t *Hp, int64_t *Wp)
{
	int64_t ow8 = (q->OW + 7) / 8 * 8;
	*Hp = q->H + 2 * q->ph;
	*Wp = ow8 + (q->KW - 1) * q->dw;
	if (*Wp < q->W + 2 * q->pw)
		*Wp = q->W + 2 * q->pw;
}

/* The geometries this file takes; oneDNN (or im2col) does the rest.
 * Padding or dilation far wider than the input makes the padded copy
 * dwarf both the input and the output gradient (a 1 x 1 input padded
 * by 2^20 is a plane of 2^42 floats): that stays with im2col, whose
 * columns are the output's size. */
static bool takes(const nb__conv_geom *q, int64_t Hp, int64_t Wp)
{
	double plane = (double)Hp * (double)Wp;
	return q->G == 1 && q->C < 8 && q->sh == 1 && q->sw == 1 && q->N > 0 &&
	       q->O > 0 && q->OH > 0 && q->OW > 0 &&
	       plane <= 4.0 * ((double)q->H * q->W + (double)q->OH * q->OW) +
	                    4096 &&
	       !nb__conv_im2col_forced();
}

typedef struct job {
	const nb__conv_geom *q;
	const float *x, *g;   /* input [N, C, H, W], gout [N, O, OH, OW] */
	float *xp;            /* padded input [N, C, Hp, Wp] */
	int64_t Hp, Wp, KK;
	const int64_t *off;   /* [KK]: each kernel position's offset in xp */
	double *sw, *sb;      /* sums [O, C, KK], [O] or NULL */
} job;

/* The planes [lo, hi) of xp: x's plane inside its zero border. */
static void pad_planes(void *ctx, size_t lo, size_t hi)
{
	const job *J = ctx;
	const nb__conv_geom *q = J->q;
	size_t plane = (size_t)(J->Hp * J->Wp);
	for (size_t i = lo; i < hi; i++) {
		float *d = J->xp + i * plane;
		const float *s = J->x + i * (size_t)(q->H * q->W);
		memset(d, 0, plane * sizeof *d);
		for (int64_t r = 0; r < q->H; r++)
			memcpy(d + (r + q->ph) * J->Wp + q->pw, s + r * q->W,
			       (size_t)q->W * sizeof *d);
	}
}

static inline double hsum(v8 v)
{
	double s = 0;
	for (int i = 0; i < 8; i++)
		s += v[i];
	return s;
}

/*
 * out[i] += sum over the plane of g [OH, OW] times xp's plane shifted
 * by off[i], for the nq (constant after inlining) positions.
 */
static inline __attribute__((always_inline)) void
group(int nq, const float *g, int64_t OH, int64_t OW, const float *xp,
      int64_t Wp, const int64_t *off, double *out)
{
	v8 acc[GROUP];
	int64_t full = OW / 8 * 8, t = OW - full;
	v8i mask;
	for (int l = 0; l < 8; l++)
		mask[l] = l < t ? -1 : 0;
#pragma GCC unroll 9
	for (int i = 0; i < nq; i++)
		acc[i] = (v8){0};
	for (int64_t y = 0; y < OH; y++) {
		const float *gr = g + y * OW, *xr = xp + y * Wp;
		for (int64_t j = 0; j < full; j += 8) {
			v8 gv = *(const v8 *)(gr + j);
#pragma GCC unroll 9
			for (int i = 0; i < nq; i++)
				acc[i] += gv * *(const v8 *)(xr + off[i] + j);
		}
		if (t) {
			float tail[8] = {0};
			memcpy(tail, gr + full, (size_t)t * sizeof *tail);
			v8 gv = *(const v8 *)tail;
#pragma GCC unroll 9
			for (int i = 0; i < nq; i++) {
				v8 p = gv * *(const v8 *)(xr + off[i] + full);
				acc[i] += (v8)((v8i)p & mask);
			}
		}
	}
#pragma GCC unroll 9
	for (int i = 0; i < nq; i++)
		out[i] += hsum(acc[i]);
}

/* The sum of a plane of n floats, in float vectors then double. */
static double plane_sum(const float *g, int64_t n)
{
	v8 acc = {0};
	int64_t j = 0;
	for (; j + 8 <= n; j += 8)
		acc += *(const v8 *)(g + j);
	double s = hsum(acc);
	for (; j < n; j++)
		s += g[j];
	return s;
}

/* Output channels [lo, hi): their weights' (and bias's) sums. */
NB_FMA_CLONES
static void sum_channels(void *ctx, size_t lo, size_t hi)
{
	const job *J = ctx;
	const nb__conv_geom *q = J->q;
	int64_t ohw = q->OH * q->OW, plane = J->Hp * J->Wp;
	for (size_t o = lo; o < hi; o++) {
		for (int64_t n = 0; n < q->N; n++) {
			const float *g = J->g + (n * q->O + (int64_t)o) * ohw;
			if (J->sb)
				J->sb[o] += plane_sum(g, ohw);
			for (int64_t c = 0; c < q->C; c++) {
				const float *xp = J->xp + (n * q->C + c) * plane;
				double *s = J->sw + ((int64_t)o * q->C + c) * J->KK;
				for (int64_t k = 0; k < J->KK; k += GROUP) {
					int64_t nq = J->KK - k < GROUP ? J->KK - k
					                               : GROUP;
					const int64_t *f = J->off + k;
					switch (nq) {
#define CASE(K)                                                              \
	case K:                                                              \
		group(K, g, q->OH, q->OW, xp, J->Wp, f, s + k);              \
		break;
					CASE(1) CASE(2) CASE(3) CASE(4) CASE(5)
					CASE(6) CASE(7) CASE(8) CASE(9)
#undef CASE
					default:
						break;
					}
				}
			}
		}
	}
}

nb_status nb__conv_wgrad_small(nb_op_ctx *c, const nb__conv_geom *q,
                               const float *x, const float *gout,
                               float **dw, float **db)
{
	job J = {.q = q, .x = x, .g = gout, .KK = q->KH * q->KW};
	padded_dims(q, &J.Hp, &J.Wp);
	if (!*dw || !takes(q, J.Hp, J.Wp))
		return NB_OK;
	size_t nxp = (size_t)(q->N * q->C * J.Hp * J.Wp);
	size_t nsum = (size_t)(q->O * q->C * J.KK + (*db ? q->O : 0));
	size_t bytes = nsum * sizeof(double) + (size_t)J.KK * sizeof(int64_t) +
	               nxp * sizeof(float);
	char *buf = nb__op_temp(c, bytes);
	if (!buf)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the weight "
		                  "gradient (%zu bytes)", bytes);
	J.sw = (double *)buf;
	J.sb = *db ? J.sw + q->O * q->C * J.KK : NULL;
	int64_t *off = (int64_t *)(J.sw + nsum);
	J.xp = (float *)(off + J.KK);
	memset(J.sw, 0, nsum * sizeof(double));
	for (int64_t kh = 0; kh < q->KH; kh++)
		for (int64_t kw = 0; kw < q->KW; kw++)
			off[kh * q->KW + kw] = kh * q->dh * J.Wp + kw * q->dw;
	J.off = off;
	nb__parallel_for((size_t)(q->N * q->C), 1, (size_t)(J.Hp * J.Wp),
	                 pad_planes, &J);
	nb__parallel_for((size_t)q->O, 1,
	                 (size_t)(q->N * q->C * q->OH * q->OW * J.KK),
	                 sum_channels, &J);
	size_t nw = (size_t)(q->O * q->C * J.KK);
	for (size_t i = 0; i < nw; i++)
		(*dw)[i] += (float)J.sw[i];
	for (int64_t o = 0; J.sb && o < q->O; o++)
		(*db)[o] += (float)J.sb[o];
	nb__op_temp_free(c, buf);
	*dw = *db = NULL;
	return NB_OK;
}
