/*
 * small_gemm.h - float products small enough to sit in L1 (the fused
 * attention's per-head blocks, lib/ops/attention.c), without BLAS's
 * packing and zeroing passes.
 */
#ifndef NB_SMALL_GEMM_H
#define NB_SMALL_GEMM_H

#include <stdbool.h>
#include <stdint.h>

/*
 * c = alpha op(a) b + beta c, row-major: op(a) [m, k] (a itself, or
 * with ta a [k, m] read transposed), b [k, n] with leading dimension
 * ldb, c [m, n].  beta 0 writes c without reading it (NaN in c does not
 * survive).  Sums run over k in order, with FMA where the CPU has it,
 * so results differ from BLAS's in the last bits.
 */
void nb__small_sgemm(bool ta, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b,
                     int64_t ldb, float beta, float *c, int64_t ldc);

/* t [k, n] (leading dimension ldt) = x^T for x [n, k] (leading
 * dimension ldx): the b of nb__small_sgemm for a product with x^T. */
void nb__transpose_f32(int64_t n, int64_t k, const float *x, int64_t ldx,
                       float *t, int64_t ldt);

#endif
