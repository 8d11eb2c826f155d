/*
 * packed_gemm.h - float products against one operand packed once and
 * used many times: a recurrent layer multiplies its state by the same
 * W_hh at every time step (64 products of [32, 256] x [256, 1024] per
 * charlstm sequence, and as many backward).  BLAS packs W_hh again at
 * each call; here the caller packs it once per sequence.
 */
#ifndef NB_PACKED_GEMM_H
#define NB_PACKED_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether the packed kernel is built for this CPU (AVX2 with FMA) and
 * not turned off by NB_GEMM=openblas (or blas): otherwise callers use
 * nb__gemm. */
bool nb__packed_sgemm_ok(void);

/* Floats that nb__pack_b needs for op(b) [k, n]. */
size_t nb__packed_size(int64_t k, int64_t n);

/* Packs op(b) [k, n]: b itself (row-major, leading dimension ldb), or
 * with tb b [n, k] read transposed, into p (nb__packed_size floats). */
void nb__pack_b(bool tb, int64_t k, int64_t n, const float *b, int64_t ldb,
                float *p);

/* c [m, n] += a [m, k] (leading dimension lda) times the packed op(b)
 * [k, n], with FMA.  The columns split over the thread pool, and a
 * column's sums never depend on the thread count. */
void nb__packed_sgemm(int64_t m, int64_t n, int64_t k, const float *a,
                      int64_t lda, const float *p, float *c, int64_t ldc);

#endif
