/*
 * vecmath.h - lets the compiler vectorize loops that call libm.
 *
 * glibc's libmvec holds vector versions of exp, log, tanh, erf... (the
 * _ZGV* symbols of the x86-64 vector ABI), but <math.h> declares them
 * only under -ffast-math, which nabla must not use (it breaks NaN and
 * infinity handling).  Declaring the scalar functions again with GCC's
 * simd attribute tells the vectorizer those versions exist; with
 * -fno-math-errno the kernels' loops then call them four or eight
 * elements at a time.  configure defines HAVE_LIBMVEC when libmvec links
 * (glibc >= 2.35 on x86-64); elsewhere this header declares nothing and
 * the loops stay scalar.  Include it before <math.h> / <tgmath.h>.
 */
#ifndef NB_VECMATH_H
#define NB_VECMATH_H

#include "config.h"
#include <math.h>

#if defined(HAVE_LIBMVEC) && defined(__x86_64__) && defined(__GNUC__) && \
	!defined(__clang__)
#define NB__SIMD __attribute__((__simd__("notinbranch")))
#define NB__SIMD_FN(NAME)                                                    \
	extern double NAME(double) NB__SIMD;                                 \
	extern float NAME##f(float) NB__SIMD;
NB__SIMD_FN(exp)
NB__SIMD_FN(expm1)
NB__SIMD_FN(log)
NB__SIMD_FN(log1p)
NB__SIMD_FN(tanh)
NB__SIMD_FN(erf)
NB__SIMD_FN(erfc)
#undef NB__SIMD_FN
#endif

/*
 * NB_VEC_CLONES on a kernel function builds it twice, for the baseline
 * ISA and for AVX2 (GCC's target_clones: the loader picks one by the
 * CPU, through an ifunc), so that its loops run 8 floats wide and call
 * libmvec's 8-wide exp, tanh, erf... on AVX2 machines.  No FMA: "avx2"
 * does not imply it, so no contraction changes a product's rounding.
 * Empty where the compiler cannot (configure's HAVE_AVX2_TARGET).
 */
#if defined(HAVE_AVX2_TARGET) && defined(__GNUC__) && !defined(__clang__)
#define NB_VEC_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NB_VEC_CLONES
#endif

/*
 * NB_FMA_CLONES is the same for the matrix-product kernels
 * (small_gemm.c, packed_gemm.c): their AVX2 clone is x86-64-v3, which
 * has FMA, and contracts a * b + c into one rounding, as BLAS does, so
 * its sums differ from the baseline clone's in the last bits.
 */
#if defined(HAVE_AVX2_TARGET) && defined(__GNUC__) && !defined(__clang__)
#define NB_FMA_CLONES                                                        \
	__attribute__((target_clones("arch=x86-64-v3", "default"),         \
	               optimize("fp-contract=fast")))
#else
#define NB_FMA_CLONES
#endif

/* 8 floats (GCC's vector extension: one AVX2 register, two SSE ones),
 * loaded and stored at any float address: aligned(4), and may_alias,
 * since they read and write float arrays. */
typedef float nb__f8u __attribute__((vector_size(32), aligned(4), may_alias));

#endif
