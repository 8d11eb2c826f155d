/*
 * test_packed_gemm.c - the recurrent step's product against a packed
 * W_hh (lib/ops/packed_gemm.c): every edge of its 4 x 24 tiles and 256
 * blocks of k against a float64 sum, both packings, padding of a and c
 * left alone, NaN and infinity carried as BLAS carries them, the same
 * bits at 1, 2 and 4 threads, and NB_GEMM turning it off.  Built with
 * the kernel and the pool compiled in (they are not exported).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "internal.h"
#include "ops/packed_gemm.h"

/* Uniform in [-1, 1), from a fixed seed. */
static float *randu(size_t n, unsigned seed)
{
	float *x = malloc(n * sizeof *x);
	cr_assert(x);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		x[i] = (float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
	}
	return x;
}

/* op(b)[q][j]: b [k, n] itself, or with tb b [n, k] transposed */
static float opb(bool tb, const float *b, int64_t ldb, int64_t q, int64_t j)
{
	return tb ? b[j * ldb + q] : b[q * ldb + j];
}

/* c += a op(b) through the packed kernel; c's ldc is n + 3 and its
 * padding must stay as it was. */
static void check_shape(bool tb, int64_t m, int64_t n, int64_t k)
{
	int64_t lda = k + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
	float *a = randu((size_t)(m * lda), 1u + (unsigned)(m * 7 + k));
	float *b = randu((size_t)((tb ? n : k) * ldb), 2u + (unsigned)n);
	float *c = randu((size_t)(m * ldc), 3u);
	float *c0 = malloc((size_t)(m * ldc) * sizeof *c0);
	float *p = malloc(nb__packed_size(k, n) * sizeof *p);
	cr_assert(c0 && p);
	memcpy(c0, c, (size_t)(m * ldc) * sizeof *c);
	nb__pack_b(tb, k, n, b, ldb, p);
	nb__packed_sgemm(m, n, k, a, lda, p, c, ldc);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < ldc; j++) {
			float got = c[i * ldc + j];
			if (j >= n) {
				cr_assert_eq(got, c0[i * ldc + j],
				             "padding of c at [%ld, %ld] changed",
				             (long)i, (long)j);
				continue;
			}
			double want = c0[i * ldc + j], mag = fabs(want);
			for (int64_t q = 0; q < k; q++) {
				double t = (double)a[i * lda + q] *
				           opb(tb, b, ldb, q, j);
				want += t;
				mag += fabs(t);
			}
			cr_assert(fabs(got - want) <= 1e-5 * (mag + 1),
			          "tb %d [%ld x %ld x %ld] at [%ld, %ld]: %.9g, "
			          "not %.9g", tb, (long)m, (long)n, (long)k,
			          (long)i, (long)j, got, want);
		}
	free(a);
	free(b);
	free(c);
	free(c0);
	free(p);
}

Test(packed_gemm, every_tile_edge_against_float64)
{
	/* rows around the 4-row tile, columns around the 24-column panel,
	 * k around the 256 block */
	static const int64_t ms[] = {1, 2, 3, 4, 5, 7, 32, 33};
	static const int64_t ns[] = {1, 8, 23, 24, 25, 47, 100};
	static const int64_t ks[] = {1, 3, 255, 256, 257, 600};
	for (int tb = 0; tb < 2; tb++)
		for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
			for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
				for (size_t q = 0; q < sizeof ks / sizeof *ks; q++)
					check_shape(tb, ms[i], ns[j], ks[q]);
}

Test(packed_gemm, charlstm_step_shapes)
{
	check_shape(true, 32, 1024, 256);  /* h W_hh^T */
	check_shape(false, 32, 256, 1024); /* D_t W_hh */
}

Test(packed_gemm, empty_products_change_nothing)
{
	float c[4] = {1, 2, 3, 4}, a[4] = {1, 1, 1, 1}, p[48] = {0};
	nb__packed_sgemm(0, 2, 2, a, 2, p, c, 2);
	nb__packed_sgemm(2, 2, 0, a, 2, p, c, 2);
	cr_expect(c[0] == 1 && c[1] == 2 && c[2] == 3 && c[3] == 4);
}

Test(packed_gemm, nan_and_infinity_as_blas)
{
	/* 0 * NaN and 0 * inf are NaN: nothing is skipped for a zero */
	int64_t m = 5, n = 30, k = 9;
	float *a = calloc((size_t)(m * k), sizeof *a);
	float *b = randu((size_t)(k * n), 9u);
	float *c = calloc((size_t)(m * n), sizeof *c);
	float *p = malloc(nb__packed_size(k, n) * sizeof *p);
	cr_assert(a && c && p);
	b[4 * n + 7] = NAN;
	b[2 * n + 25] = INFINITY;
	nb__pack_b(false, k, n, b, n, p);
	nb__packed_sgemm(m, n, k, a, k, p, c, n);
	for (int64_t i = 0; i < m; i++)
		for (int64_t j = 0; j < n; j++) {
			bool nan = j == 7 || j == 25;
			cr_assert_eq(isnan(c[i * n + j]), nan, "[%ld, %ld] = %g",
			             (long)i, (long)j, c[i * n + j]);
		}
	free(a);
	free(b);
	free(c);
	free(p);
}

Test(packed_gemm, same_bits_at_any_thread_count)
{
	/* big enough for the pool to split the panels */
	int64_t m = 32, n = 1000, k = 300;
	float *a = randu((size_t)(m * k), 4u), *b = randu((size_t)(n * k), 5u);
	float *p = malloc(nb__packed_size(k, n) * sizeof *p);
	float *c[3];
	cr_assert(p);
	nb__pack_b(true, k, n, b, k, p);
	static const int threads[] = {1, 2, 4};
	for (int t = 0; t < 3; t++) {
		cr_assert_eq(nb_set_num_threads(threads[t]), NB_OK);
		c[t] = calloc((size_t)(m * n), sizeof *c[t]);
		cr_assert(c[t]);
		nb__packed_sgemm(m, n, k, a, k, p, c[t], n);
	}
	cr_expect(!memcmp(c[0], c[1], (size_t)(m * n) * sizeof(float)));
	cr_expect(!memcmp(c[0], c[2], (size_t)(m * n) * sizeof(float)));
	for (int t = 0; t < 3; t++)
		free(c[t]);
	free(a);
	free(b);
	free(p);
}

Test(packed_gemm, nb_gemm_names_one_library_for_every_product)
{
	cr_assert_eq(setenv("NB_GEMM", "openblas", 1), 0);
	cr_expect(!nb__packed_sgemm_ok());
	cr_assert_eq(setenv("NB_GEMM", "onednn", 1), 0);
	cr_expect(!nb__packed_sgemm_ok());
	cr_assert_eq(setenv("NB_GEMM", "auto", 1), 0);
	bool on = nb__packed_sgemm_ok();
	cr_assert_eq(unsetenv("NB_GEMM"), 0);
	cr_expect_eq(nb__packed_sgemm_ok(), on);
}
