/*
 * test_small_gemm.c - nb__transpose_f32 (lib/ops/small_gemm.c), which
 * the fused attention uses for its products with k^T and v^T: every
 * remainder of its 8 x 8 blocks, in rows and columns, with leading
 * dimensions wider than the blocks, against the definition, bit for
 * bit, and the padding of t left alone.
 */
#include <stdlib.h>
#include <criterion/criterion.h>
#include "ops/small_gemm.h"

static void check(int64_t n, int64_t k)
{
	int64_t ldx = k + 3, ldt = n + 5;
	float *x = malloc((size_t)(n * ldx) * sizeof *x);
	float *t = malloc((size_t)(k * ldt) * sizeof *t);
	cr_assert(x && t);
	for (int64_t i = 0; i < n * ldx; i++)
		x[i] = (float)i + 0.25f;
	for (int64_t i = 0; i < k * ldt; i++)
		t[i] = -1.0f;
	nb__transpose_f32(n, k, x, ldx, t, ldt);
	for (int64_t p = 0; p < k; p++)
		for (int64_t j = 0; j < ldt; j++) {
			float want = j < n ? x[j * ldx + p] : -1.0f;
			cr_assert_eq(t[p * ldt + j], want,
			             "[%ld x %ld] t[%ld, %ld] = %g, not %g",
			             (long)n, (long)k, (long)p, (long)j,
			             (double)t[p * ldt + j], (double)want);
		}
	free(x);
	free(t);
}

Test(small_gemm, transpose_every_block_remainder)
{
	for (int64_t n = 1; n <= 19; n++)
		for (int64_t k = 1; k <= 19; k++)
			check(n, k);
	check(64, 32); /* gpt_tiny's per-head block */
}
