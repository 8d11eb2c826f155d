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
 *
 * tri says when op(a) or c is lower triangular, as causal attention's
 * are (lib/ops/attention.c): only what row i of c needs is computed, in
 * tiles of a few rows, so the products skip most of the upper triangle
 * in one call.
 *   NB__TRI_NONE: the whole product.
 *   NB__TRI_COLS: row i of c is wanted in columns j <= i only; columns
 *                 beyond may be written too (with the full product).
 *   NB__TRI_KHI:  op(a)[i, p] = 0 for p > i, which may not be read.
 *   NB__TRI_KLO:  op(a)[i, p] = 0 for p < i, which may not be read.
 * "May": a tile's rows share one range, so the caller's zeros (or any
 * finite values in the wanted columns' place) are read for its other
 * rows.  Each element of c is the same sum, in the same order, whatever
 * the tiling.
 */
enum { NB__TRI_NONE, NB__TRI_COLS, NB__TRI_KHI, NB__TRI_KLO };
void nb__small_sgemm_tri(int tri, bool ta, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c,
                         int64_t ldc);

/* t [k, n] (leading dimension ldt) = x^T for x [n, k] (leading
 * dimension ldx): the b of nb__small_sgemm_tri for a product with x^T. */
void nb__transpose_f32(int64_t n, int64_t k, const float *x, int64_t ldx,
                       float *t, int64_t ldt);

#endif
