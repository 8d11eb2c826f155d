/*
 * blas.c - the matrix product behind matmul and linear: CBLAS when
 * configure found it, else a portable kernel (blocked, so that the inner
 * loop runs over contiguous memory and vectorizes).
 */
#include "internal.h"
#include "config.h"
#ifdef HAVE_CBLAS
#include <cblas.h>
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
				T av = alpha * (ta ? a[p * lda + i]          \
				                   : a[i * lda + p]);        \
				if (av == 0)                                 \
					continue;                            \
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

void nb__gemm(nb_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
              int64_t k, double alpha, const void *a, int64_t lda,
              const void *b, int64_t ldb, double beta, void *c,
              int64_t ldc)
{
	if (m == 0 || n == 0)
		return;
#ifdef HAVE_CBLAS
	if (k > 0) {
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
