/*
 * blas.c - the matrix product behind matmul, linear and the recurrent
 * and attention ops: CBLAS when configure found it, else a portable
 * kernel (blocked, so that the inner loop runs over contiguous memory
 * and vectorizes).  With oneDNN, float32 products of the shapes where its
 * JIT sgemm was measured faster than OpenBLAS's go to dnnl_sgemm
 * (gemm_route below; NB_GEMM in the environment overrides).
 */
#include <limits.h>
#include "internal.h"
#include "config.h"
#ifdef HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef HAVE_ONEDNN
#include <dnnl.h>
#ifdef HAVE_OMP_SET_NUM_THREADS
#include <omp.h>
#endif
#endif

#define GEMM_REF(T)                                                          \
	static void gemm_##T(bool ta, bool tb, int64_t m, int64_t n,         \
	                     int64_t k, T alpha, const T *a, int64_t lda,    \
	                     const T *b, int64_t ldb, T beta, T *c,          \
	                     int64_t ldc)                                    \
	{                                                                    \
		for (int64_t i = 0; i < m; i++) {                            \
			T *ci = c + i * ldc;                                 \
			if (beta == 0)                                       \
				for (int64_t j = 0; j < n; j++)              \
					ci[j] = 0;                           \
			else if (beta != 1)                                  \
				for (int64_t j = 0; j < n; j++)              \
					ci[j] *= beta;                       \
			for (int64_t p = 0; p < k; p++) {                    \
				/* No skipping av == 0: 0 * NaN and 0 * inf  \
				 * in b must give NaN, as BLAS gives. */     \
				T av = alpha * (ta ? a[p * lda + i]          \
				                   : a[i * lda + p]);        \
				if (!tb) {                                   \
					const T *bp = b + p * ldb;           \
					for (int64_t j = 0; j < n; j++)      \
						ci[j] += av * bp[j];         \
				} else {                                     \
					for (int64_t j = 0; j < n; j++)      \
						ci[j] += av * b[j * ldb + p];\
				}                                            \
			}                                                    \
		}                                                            \
	}
GEMM_REF(float)
GEMM_REF(double)

int nb__omp_threads(void)
{
	int n = nb__threads_free();
#if defined(HAVE_ONEDNN) && defined(HAVE_OMP_SET_NUM_THREADS)
	omp_set_num_threads(n);
#endif
	return n;
}

#if defined(HAVE_ONEDNN) && defined(HAVE_CBLAS)
#define NB_GEMM_ONEDNN 1
/*
 * Whether a float32 product goes to oneDNN.  NB_GEMM=openblas (or blas)
 * keeps every product on CBLAS, NB_GEMM=onednn sends every one to
 * oneDNN; otherwise (auto) the shapes where oneDNN 2.6's sgemm was
 * faster on an AVX2 machine (doc/performance.md, "Matrix products"):
 * A B^T (linear's forward, attention's scores, a recurrent step's
 * h W_hh^T) by 6 to 16%, and A B with 128 rows or more (linear's input
 * gradient) by 4 to 16%.  A^T B (every weight gradient) stays on
 * OpenBLAS, where oneDNN took 1.4 to 2x as long, and so do products
 * under 2^16 multiply-adds (oneDNN's fixed cost per call: the `tiny'
 * workload's step took 8 to 12 us through it, 6 through OpenBLAS).
 * At one thread only:
 * with more, oneDNN's OpenMP team waits for work by spinning after every
 * product (libgomp's default policy, fixed when it loads), which took
 * the core nabla's pool and OpenBLAS needed (mlp784 at 2 threads: 36 to
 * 77 ms against 2.3 at 1, doc/performance.md, "Threads").  Only beside
 * CBLAS: the portable build (--without-blas) keeps its own kernel,
 * whose bits do not depend on the thread count.
 */
static bool gemm_route(bool ta, bool tb, int64_t m, int64_t n, int64_t k)
{
	nb__gemm_lib lib = nb__gemm_choice();
	if (lib != NB__GEMM_AUTO)
		return lib == NB__GEMM_ONEDNN;
	if (ta || nb__threads_free() > 1 || (double)m * n * k < 65536)
		return false;
	return tb || m >= 128;
}

/* C = alpha op(A) op(B) + beta C by oneDNN; false if it declined. */
static bool gemm_onednn(bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c,
                        int64_t ldc)
{
	nb__omp_threads();
	return dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, a,
	                  lda, b, ldb, beta, c, ldc) == dnnl_success;
}
#endif

bool nb__gemm_zeroes_c(nb_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
                       int64_t k)
{
#ifdef NB_GEMM_ONEDNN
	if (dt == NB_F32 && k > 0 && gemm_route(ta, tb, m, n, k))
		return false; /* oneDNN writes C from its sums */
#endif
	(void)dt, (void)ta, (void)tb, (void)m, (void)n;
#ifdef HAVE_CBLAS
	return k > 0; /* OpenBLAS's beta kernel; k = 0: the portable one */
#else
	(void)k;
	return false; /* gemm_float zeroes each row as it sums into it */
#endif
}

void nb__gemm(nb_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
              int64_t k, double alpha, const void *a, int64_t lda,
              const void *b, int64_t ldb, double beta, void *c,
              int64_t ldc)
{
	if (m == 0 || n == 0)
		return;
#ifdef NB_GEMM_ONEDNN
	if (dt == NB_F32 && k > 0 && gemm_route(ta, tb, m, n, k) &&
	    gemm_onednn(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb,
	                (float)beta, c, ldc))
		return;
#endif
#ifdef HAVE_CBLAS
	/* CBLAS takes int sizes: larger ones (a matrix of 2^31 rows or
	 * more) go to the portable kernel rather than wrap around. */
	if (k > 0 && m <= INT_MAX && n <= INT_MAX && k <= INT_MAX &&
	    lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX) {
		enum CBLAS_TRANSPOSE A = ta ? CblasTrans : CblasNoTrans;
		enum CBLAS_TRANSPOSE B = tb ? CblasTrans : CblasNoTrans;
		if (dt == NB_F32)
			cblas_sgemm(CblasRowMajor, A, B, (int)m, (int)n,
			            (int)k, (float)alpha, a, (int)lda, b,
			            (int)ldb, (float)beta, c, (int)ldc);
		else
			cblas_dgemm(CblasRowMajor, A, B, (int)m, (int)n,
			            (int)k, alpha, a, (int)lda, b,
			            (int)ldb, beta, c, (int)ldc);
		return;
	}
#endif
	if (dt == NB_F32)
		gemm_float(ta, tb, m, n, k, (float)alpha, a, lda, b, ldb,
		           (float)beta, c, ldc);
	else
		gemm_double(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
		            ldc);
}
