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

/* Rows of a tile: 6 x 16 is 12 sums in registers, with two vectors of
 * b and one broadcast float of a 15 of AVX2's 16.  Twelve independent
 * FMA chains cover the FMA units' latency (4 cycles, 2 units: 8 in
 * flight), which the 4 x 16 tile's 8 sums did only just, with no slack
 * for a load's delay (issue 18: 45 GF/s, BLAS 75-80). */
#define MR 6

/* Rows [0, mr) and columns [0, 8 nv) of c from a (its row r at a + r
 * lda, or column r at a + r with ta) and b, summed over p in [k0, k1). */
static inline __attribute__((always_inline)) void
tile(bool ta, int mr, int nv, int64_t k0, int64_t k1, float alpha,
     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
     float *c, int64_t ldc)
{
	v8 acc[MR][2];
	/* unrolled, so that acc lives in registers */
#pragma GCC unroll 6
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++)
			acc[r][v] = (v8){0};
	for (int64_t p = k0; p < k1; p++) {
		const float *bp = b + p * ldb;
		v8 b0 = *(const v8 *)bp;
		v8 b1 = nv > 1 ? *(const v8 *)(bp + 8) : b0;
#pragma GCC unroll 6
		for (int r = 0; r < mr; r++) {
			float x = ta ? a[p * lda + r] : a[r * lda + p];
			acc[r][0] += x * b0;
			if (nv > 1)
				acc[r][1] += x * b1;
		}
	}
#pragma GCC unroll 6
	for (int r = 0; r < mr; r++)
#pragma GCC unroll 2
		for (int v = 0; v < nv; v++) {
			v8 *cp = (v8 *)(c + r * ldc + 8 * v);
			*cp = beta == 0 ? alpha * acc[r][v]
			                : alpha * acc[r][v] + beta * *cp;
		}
}

/* tile with mr a constant: each row count its own unrolled loop */
static inline __attribute__((always_inline)) void
tile_mr(bool ta, int mr, int nv, int64_t k0, int64_t k1, float alpha,
        const float *a, int64_t lda, const float *b, int64_t ldb,
        float beta, float *c, int64_t ldc)
{
#define TILE(R) tile(ta, R, nv, k0, k1, alpha, a, lda, b, ldb, beta, c, ldc)
	switch (mr) {
	case 6: TILE(6); break;
	case 5: TILE(5); break;
	case 4: TILE(4); break;
	case 3: TILE(3); break;
	case 2: TILE(2); break;
	default: TILE(1); break;
	}
#undef TILE
}

/* Rows [0, mr) and columns [j0, n) of c, fewer than 8, one element at a
 * time, over p in [k0, k1). */
static void edge_cols(bool ta, int64_t mr, int64_t j0, int64_t n, int64_t k0,
                      int64_t k1, float alpha, const float *a, int64_t lda,
                      const float *b, int64_t ldb, float beta, float *c,
                      int64_t ldc)
{
	for (int64_t i = 0; i < mr; i++)
		for (int64_t j = j0; j < n; j++) {
			float s = 0;
			for (int64_t p = k0; p < k1; p++)
				s += (ta ? a[p * lda + i] : a[i * lda + p]) *
				     b[p * ldb + j];
			float *cp = c + i * ldc + j;
			*cp = beta == 0 ? alpha * s : alpha * s + beta * *cp;
		}
}

/* Tiles of MR rows, each over the columns and the range of k that tri
 * leaves it (small_gemm.h): a tile of rows [i, i + mr) needs columns
 * j < i + mr (cols), or p < i + mr (khi), or p >= i (klo); the rest of
 * the tile's rows read the zeros the caller promised there. */
static inline __attribute__((always_inline)) void
gemm(int tri, bool ta, int64_t m, int64_t n, int64_t k, float alpha,
     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
     float *c, int64_t ldc)
{
	/* a's rows r are a + r lda, or its columns a + r with ta */
	int64_t step = ta ? 1 : lda;
	for (int64_t i = 0; i < m; i += MR) {
		int mr = m - i < MR ? (int)(m - i) : MR;
		int64_t k0 = 0, k1 = k, nn = n, j = 0;
		if (tri == NB__TRI_COLS && i + mr < n)
			nn = i + mr;
		else if (tri == NB__TRI_KHI && i + mr < k)
			k1 = i + mr;
		else if (tri == NB__TRI_KLO)
			k0 = i < k ? i : k;
		const float *ai = a + i * step;
		float *ci = c + i * ldc;
		/* 16 columns while more than 8 are wanted, then 8 */
		for (; j + 8 < nn && j + 16 <= n; j += 16)
			tile_mr(ta, mr, 2, k0, k1, alpha, ai, lda, b + j, ldb,
			        beta, ci + j, ldc);
		for (; j < nn && j + 8 <= n; j += 8)
			tile_mr(ta, mr, 1, k0, k1, alpha, ai, lda, b + j, ldb,
			        beta, ci + j, ldc);
		if (j < nn)
			edge_cols(ta, mr, j, nn, k0, k1, alpha, ai, lda, b, ldb,
			          beta, ci, ldc);
	}
}

NB_FMA_CLONES
void nb__small_sgemm_tri(int tri, bool ta, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c,
                         int64_t ldc)
{
	/* ta a constant in each: it picks the inner loop's loads; tri is
	 * read once a row tile */
	if (ta)
		gemm(tri, true, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
	else
		gemm(tri, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
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
