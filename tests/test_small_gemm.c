/*
 * test_small_gemm.c - the kernels of lib/ops/small_gemm.c that the fused
 * attention uses.  nb__transpose_f32 (its products with k^T and v^T):
 * every remainder of its 8 x 8 blocks, in rows and columns, with leading
 * dimensions wider than the blocks, against the definition, bit for
 * bit, and the padding of t left alone.  nb__small_sgemm_tri: every
 * remainder of its 6 x 16 tiles and of the 8-column and single-column
 * edges, a transposed and a plain a, beta 0 and not, k = 1, and each
 * triangle of causal attention, against a float64 sum, with the padding
 * of c left alone.
 */
#include <math.h>
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

/* op(a)[i, p]: zero where tri promises it (KHI above the diagonal, KLO
 * below), else a value that changes with i and p */
static float a_val(int tri, int64_t i, int64_t p)
{
	if ((tri == NB__TRI_KHI && p > i) || (tri == NB__TRI_KLO && p < i))
		return 0;
	return (float)((i * 7 + p * 3) % 11) / 4 - 1.25f;
}

static void check_tri(int tri, bool ta, int64_t m, int64_t n, int64_t k,
                      float beta)
{
	/* leading dimensions wider than the blocks, one spare row of c */
	int64_t lda = (ta ? m : k) + 3, ldb = n + 2, ldc = n + 5;
	float *a = malloc((size_t)((ta ? k : m) * lda) * sizeof *a);
	float *b = malloc((size_t)(k * ldb) * sizeof *b);
	float *c = malloc((size_t)((m + 1) * ldc) * sizeof *c);
	cr_assert(a && b && c);
	const float alpha = 0.75f, old = 2.5f;
	for (int64_t i = 0; i < (ta ? k : m) * lda; i++)
		a[i] = NAN; /* padding: never read */
	for (int64_t i = 0; i < m; i++)
		for (int64_t p = 0; p < k; p++)
			a[ta ? p * lda + i : i * lda + p] = a_val(tri, i, p);
	for (int64_t i = 0; i < k * ldb; i++)
		b[i] = (float)((i * 5) % 13) / 8 - 0.75f;
	for (int64_t i = 0; i < (m + 1) * ldc; i++)
		c[i] = old;
	nb__small_sgemm_tri(tri, ta, m, n, k, alpha, a, lda, b, ldb, beta, c,
	                    ldc);
	for (int64_t i = 0; i <= m; i++)
		for (int64_t j = 0; j < ldc; j++) {
			float got = c[i * ldc + j];
			if (i == m || j >= n) {
				cr_assert_eq(got, old, "tri %d ta %d [%ld, %ld, "
				             "%ld]: padding c[%ld, %ld] written",
				             tri, ta, (long)m, (long)n, (long)k,
				             (long)i, (long)j);
				continue;
			}
			double want = 0, mag = 0;
			for (int64_t p = 0; p < k; p++) {
				double t = (double)a_val(tri, i, p) *
				           b[p * ldb + j];
				want += t;
				mag += fabs(t);
			}
			want = alpha * want + beta * old;
			mag = alpha * mag + fabs(beta * old);
			/* columns past the diagonal may be left as they were */
			if (tri == NB__TRI_COLS && j > i && got == old)
				continue;
			cr_assert(fabs(got - want) <= 1e-5 * mag + 1e-30,
			          "tri %d ta %d beta %g [%ld, %ld, %ld]: c[%ld, "
			          "%ld] = %.9g, not %.9g", tri, ta, (double)beta,
			          (long)m, (long)n, (long)k, (long)i, (long)j,
			          (double)got, want);
		}
	free(a);
	free(b);
	free(c);
}

Test(small_gemm, sgemm_tiles_edges_and_triangles)
{
	static const int64_t ns[] = {1, 3, 7, 8, 9, 15, 16, 17, 24, 33};
	static const int64_t ks[] = {1, 2, 6, 13};
	for (int tri = NB__TRI_NONE; tri <= NB__TRI_KLO; tri++)
		for (int ta = 0; ta < 2; ta++)
			for (int64_t m = 1; m <= 14; m++)
				for (size_t jn = 0; jn < sizeof ns / sizeof *ns; jn++)
					for (size_t jk = 0; jk < 4; jk++)
						for (int z = 0; z < 2; z++)
							check_tri(tri, ta, m, ns[jn],
							          ks[jk], z ? 0.5f : 0);
	/* gpt_tiny's per-head products; and k past m, m past k */
	for (int tri = NB__TRI_NONE; tri <= NB__TRI_KLO; tri++) {
		check_tri(tri, tri == NB__TRI_KLO, 64, 64, 32, 0);
		check_tri(tri, tri == NB__TRI_KLO, 64, 32, 64, 1);
		check_tri(tri, false, 5, 20, 40, 0);
		check_tri(tri, true, 40, 20, 5, 0);
	}
}
