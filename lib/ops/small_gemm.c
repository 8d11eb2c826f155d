/*
 * small_gemm.c - float products of L1-sized blocks (small_gemm.h).
 *
 * The fused attention multiplies, per batch-head, blocks like
 * [16, 64] x [64, 32]: BLAS's sgemm then spends as long packing its
 * operands and zeroing c for beta 0 as in its kernel.  Here b is read
 * in place (it is [k, n] row-major already, or transposed once by the
 * caller) and each 4 x 16 tile of c is summed in registers over all of
 * k, then written once: no packing, no zeroing pass.
 *
 * GCC's vector extensions spell the tile: 8 floats, one AVX2 register
 * (two SSE ones in the baseline build).  The AVX2 clone uses FMA
 * (x86-64-v3), as BLAS does; sums run over k in order.
 */
#include "config.h"
#include "small_gemm.h"
#include "vecmath.h" /* NB_FMA_CLONES, nb__f8u */

typedef nb__f8u v8;

#define MR 4 /* rows of a tile */

/* Rows [0, mr) and columns [0, 8 nv) of c from a (its row r at a + r
 * lda, or column r at a + r with ta) and b. */
static inline __attribute__((always_inline)) void
tile(bool ta, int mr, int nv, int64_t k, float alpha, const float *a,
     int64_t lda, const float *b, int64_t ldb, float beta, float *c,
     int64_t ldc)
{
	v8 acc[MR][2];
	/* unrolled, so that acc lives in registers */
#pragma GCC unroll 4
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			acc[r][v] = (v8){0};
	for (int64_t p = 0; p < k; p++) {
		const float *bp = b + p * ldb;
		v8 b0 = *(const v8 *)bp;
		v8 b1 = nv > 1 ? *(const v8 *)(bp + 8) : b0;
#pragma GCC unroll 4
		for (int r = 0; r < mr; r++) {
			float x = ta ? a[p * lda + r] : a[r * lda + p];
			acc[r][0] += x * b0;
			if (nv > 1)
				acc[r][1] += x * b1;
		}
	}
#pragma GCC unroll 4
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++) {
			v8 *cp = (v8 *)(c + r * ldc + 8 * v);
			*cp = beta == 0 ? alpha * acc[r][v]
			                : alpha * acc[r][v] + beta * *cp;
		}
}

/* Columns [j0, n) of c, fewer than 8, one element at a time. */
static void edge_cols(bool ta, int64_t m, int64_t j0, int64_t n, int64_t k,
                      float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c,
                      int64_t ldc)
{
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = j0; j < n; j++) {
			float s = 0;
			for (int64_t p = 0; p < k; p++)
				s += (ta ? a[p * lda + i] : a[i * lda + p]) *
				     b[p * ldb + j];
			float *cp = c + i * ldc + j;
			*cp = beta == 0 ? alpha * s : alpha * s + beta * *cp;
		}
}

/* The tiles of columns [j, j + 8 nv), all rows. */
static inline __attribute__((always_inline)) void
panel(bool ta, int nv, int64_t m, int64_t j, int64_t k, float alpha,
      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
      float *c, int64_t ldc)
{
	int64_t i = 0;
	/* a's rows r are a + r lda, or its columns a + r with ta */
	int64_t step = ta ? 1 : lda;
	for (; i + MR <= m; i += MR)
		tile(ta, MR, nv, k, alpha, a + i * step, lda, b + j, ldb, beta,
		     c + i * ldc + j, ldc);
	for (; i < m; i++)
		tile(ta, 1, nv, k, alpha, a + i * step, lda, b + j, ldb, beta,
		     c + i * ldc + j, ldc);
}

static inline __attribute__((always_inline)) void
gemm(bool ta, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
     int64_t lda, const float *b, int64_t ldb, float beta, float *c,
     int64_t ldc)
{
	int64_t j = 0;
	for (; j + 16 <= n; j += 16)
		panel(ta, 2, m, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
	for (; j + 8 <= n; j += 8)
		panel(ta, 1, m, j, k, alpha, a, lda, b, ldb, beta, c, ldc);
	if (j < n)
		edge_cols(ta, m, j, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

NB_FMA_CLONES
void nb__small_sgemm(bool ta, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b,
                     int64_t ldb, float beta, float *c, int64_t ldc)
{
	if (ta)
		gemm(true, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	else
		gemm(false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* SHUF(a, b, lanes...): 8 lanes of two 8-float vectors (0-7 the first,
 * 8-15 the second).  __builtin_shufflevector is clang's, and GCC's from
 * version 12; older GCC has only __builtin_shuffle, with a mask vector. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
typedef int i8v __attribute__((vector_size(32)));
#define SHUF(a, b, ...) SHUF(a, b, __VA_ARGS__)
#endif

/* t[p, j] = x[j, p] for one 8 x 8 block: eight row loads, three rounds
 * of two-vector shuffles (AVX's unpack, shufps and perm2f128), eight row
 * stores, where the element-by-element loop was a strided scalar load
 * per float (issue 18: 2.4% of gpt_tiny's step). */
static inline __attribute__((always_inline)) void
block8(const float *x, int64_t ldx, float *t, int64_t ldt)
{
	v8 r[8], s[8], u[8];
#pragma GCC unroll 8
	for (int i = 0; i < 8; i++)
		r[i] = *(const v8 *)(x + i * ldx);
#pragma GCC unroll 4
	for (int i = 0; i < 8; i += 2) {
		s[i] = SHUF(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
		s[i + 1] = SHUF(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
	}
	/* u[4h + q] holds columns q and q + 4 of rows 4h .. 4h + 3 */
#pragma GCC unroll 2
	for (int h = 0; h < 2; h++) {
#pragma GCC unroll 2
		for (int q = 0; q < 2; q++) {
			v8 a = s[4 * h + q], b = s[4 * h + q + 2];
			u[4 * h + 2 * q] = SHUF(a, b, 0, 1, 8, 9, 4, 5, 12, 13);
			u[4 * h + 2 * q + 1] =
			    SHUF(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
		}
	}
#pragma GCC unroll 4
	for (int q = 0; q < 4; q++) {
		*(v8 *)(t + q * ldt) =
		    SHUF(u[q], u[q + 4], 0, 1, 2, 3, 8, 9, 10, 11);
		*(v8 *)(t + (q + 4) * ldt) =
		    SHUF(u[q], u[q + 4], 4, 5, 6, 7, 12, 13, 14, 15);
	}
}

NB_FMA_CLONES
void nb__transpose_f32(int64_t n, int64_t k, const float *x, int64_t ldx,
                       float *t, int64_t ldt)
{
	int64_t n8 = n / 8 * 8, k8 = k / 8 * 8;
	for (int64_t p = 0; p < k8; p += 8)
		for (int64_t j = 0; j < n8; j += 8)
			block8(x + j * ldx + p, ldx, t + p * ldt + j, ldt);
	/* the remainders: rows p >= k8 of t, then columns j >= n8 */
	for (int64_t p = k8; p < k; p++)
		for (int64_t j = 0; j < n; j++)
			t[p * ldt + j] = x[j * ldx + p];
	for (int64_t p = 0; p < k8; p++)
		for (int64_t j = n8; j < n; j++)
			t[p * ldt + j] = x[j * ldx + p];
}
