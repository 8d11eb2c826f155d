/*
 * packed_gemm.c - c += a op(b) with op(b) packed once (packed_gemm.h).
 *
 * op(b) is stored in panels of NR = 24 columns, each panel k rows of 24
 * contiguous floats (the last panel padded with zeros), so that the
 * kernel reads b strictly in order.  A tile of c, MR = 4 rows by 24
 * columns, is 12 AVX2 registers of sums: enough independent FMA chains
 * to cover the FMA unit's latency (4 cycles, 2 units), which the 4 x 16
 * tile small_gemm.c had (8 sums) was not.  Per k it loads three vectors
 * of b and broadcasts four floats of a.  k runs in blocks of KC so that a
 * block of the panel (24 KB) stays in L1 while every row tile of c
 * passes over it; c then takes one block's sums at a time, in k order,
 * which fixes the rounding whatever the thread count.
 *
 * The recurrent step's shapes on an AVX2 machine (doc/sequence.md):
 * [32, 256] x [256, 1024] and [32, 1024] x [1024, 256].
 */
#include "config.h"
#include "internal.h"
#include "packed_gemm.h"
#include "vecmath.h" /* NB_FMA_CLONES, nb__f8u */

#define NR 24  /* columns of a panel: three vectors of 8 floats */
#define MR 4   /* rows of a tile */
#define KC 256 /* k per block: a block of a panel is 24 KB */

typedef nb__f8u v8;

bool nb__packed_sgemm_ok(void)
{
#if defined(HAVE_AVX2_TARGET) && defined(__GNUC__) && \
	!defined(__clang__) && defined(__x86_64__)
	/* NB_GEMM=onednn or openblas names one library for every product */
	return nb__gemm_choice() == NB__GEMM_AUTO &&
	       __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return false;
#endif
}

size_t nb__packed_size(int64_t k, int64_t n)
{
	return (size_t)((n + NR - 1) / NR) * NR * (size_t)k;
}

void nb__pack_b(bool tb, int64_t k, int64_t n, const float *b, int64_t ldb,
                float *p)
{
	for (int64_t j0 = 0; j0 < n; j0 += NR) {
		int64_t w = n - j0 < NR ? n - j0 : NR;
		float *panel = p + j0 * k; /* (j0 / NR) panels of k NR */
		for (int64_t q = 0; q < k; q++) {
			float *d = panel + q * NR;
			for (int64_t j = 0; j < w; j++)
				d[j] = tb ? b[(j0 + j) * ldb + q]
				          : b[q * ldb + j0 + j];
			for (int64_t j = w; j < NR; j++)
				d[j] = 0;
		}
	}
}

/* c's rows [0, mr), columns [0, cols) += a's rows times a block of kc
 * rows of a panel. */
static inline __attribute__((always_inline)) void
tile(int mr, int64_t kc, const float *a, int64_t lda, const float *bp,
     float *c, int64_t ldc, int64_t cols)
{
	v8 acc[MR][3];
#pragma GCC unroll 4
	for (int r = 0; r < MR; r++)
#pragma GCC unroll 3
		for (int v = 0; v < 3; v++)
			acc[r][v] = (v8){0};
	for (int64_t q = 0; q < kc; q++) {
		const float *bq = bp + q * NR;
		v8 b0 = *(const v8 *)bq;
		v8 b1 = *(const v8 *)(bq + 8);
		v8 b2 = *(const v8 *)(bq + 16);
#pragma GCC unroll 4
		for (int r = 0; r < mr; r++) {
			float x = a[r * lda + q];
			acc[r][0] += x * b0;
			acc[r][1] += x * b1;
			acc[r][2] += x * b2;
		}
	}
	if (cols == NR) {
#pragma GCC unroll 4
		for (int r = 0; r < mr; r++)
#pragma GCC unroll 3
			for (int v = 0; v < 3; v++)
				*(v8 *)(c + r * ldc + 8 * v) += acc[r][v];
		return;
	}
	for (int r = 0; r < mr; r++) {
		float t[NR];
		for (int v = 0; v < 3; v++)
			*(v8 *)(t + 8 * v) = acc[r][v];
		for (int64_t j = 0; j < cols; j++)
			c[r * ldc + j] += t[j];
	}
}

typedef struct job {
	int64_t m, n, k, lda, ldc;
	const float *a, *p;
	float *c;
} job;

/* Panels [lo, hi) of the product, every row of c each: op(a) is short
 * (the recurrent step's [32, k]), so a panel's block stays in L1 while
 * every tile row passes over it. */
NB_FMA_CLONES
static void run_panels(void *ctx, size_t lo, size_t hi)
{
	const job *J = ctx;
	for (size_t j = lo; j < hi; j++) {
		int64_t j0 = (int64_t)j * NR;
		int64_t cols = J->n - j0 < NR ? J->n - j0 : NR;
		const float *panel = J->p + j0 * J->k;
		for (int64_t k0 = 0; k0 < J->k; k0 += KC) {
			int64_t kc = J->k - k0 < KC ? J->k - k0 : KC;
			const float *a = J->a + k0, *bp = panel + k0 * NR;
			float *c = J->c + j0;
			int64_t i = 0, lda = J->lda, ldc = J->ldc;
			for (; i + MR <= J->m; i += MR)
				tile(MR, kc, a + i * lda, lda, bp, c + i * ldc,
				     ldc, cols);
			switch (J->m - i) {
			case 3:
				tile(3, kc, a + i * lda, lda, bp, c + i * ldc,
				     ldc, cols);
				break;
			case 2:
				tile(2, kc, a + i * lda, lda, bp, c + i * ldc,
				     ldc, cols);
				break;
			case 1:
				tile(1, kc, a + i * lda, lda, bp, c + i * ldc,
				     ldc, cols);
				break;
			default:
				break;
			}
		}
	}
}

void nb__packed_sgemm(int64_t m, int64_t n, int64_t k, const float *a,
                      int64_t lda, const float *p, float *c, int64_t ldc)
{
	if (m <= 0 || n <= 0 || k <= 0)
		return;
	job J = {.m = m, .n = n, .k = k, .lda = lda, .ldc = ldc, .a = a,
	         .p = p, .c = c};
	nb__parallel_for((size_t)((n + NR - 1) / NR), 1,
	                 (size_t)m * NR * (size_t)k, run_panels, &J);
}
