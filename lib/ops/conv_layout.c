/*
 * conv_layout.c - nabla's plain NCHW arrays to and from oneDNN's
 * channel-blocked layout (nChw8c, nChw16c: [N, ceil(C / b), H, W, b],
 * channel c of sample n at block c / b, lane c % b; the lanes past C
 * are zeros), on nabla's pool (issue 17).
 *
 * oneDNN's reorder primitives did these copies for the blocked
 * convolutions; in the cnn workload they took as long at 2 threads as
 * at 1 (about 1 ms for [128, 16, 28, 28] either way, ONEDNN_VERBOSE=1),
 * a fifth of the 2-thread step, each a parallel region of oneDNN's
 * OpenMP team between two of nabla's pool.  The copies are memory-bound
 * (on the 2-core machine of doc/performance.md a second thread does
 * not speed up even these), so what helps is fewer passes and faster
 * ones: 8 x 8 transposes held in registers, which took 0.6 ms where
 * oneDNN's took 0.9-1.0 on that array with cold caches (doc/conv.md).
 * The planes are split over nabla's pool all the same, for machines with
 * the bandwidth.  A copy moves bits, so the results are the same at any
 * thread count and the same as with oneDNN's reorders.
 */
#include "conv_onednn.h"
#include "vecmath.h"

typedef struct layout_job {
	const float *src;
	float *dst;
	int64_t C, CB, HW;  /* channels, blocks of b, pixels per plane */
	int b;              /* 8 or 16 */
} layout_job;

/* Floats per chunk: some tens of KB, so a chunk pays for taking it and
 * a [128, 16, 14, 14] array still splits. */
#define CHUNK_FLOATS ((size_t)1 << 14)

/* Inlined into the clones below, so that they run in the clone's ISA. */
#define INLINE static inline __attribute__((always_inline))

#if defined(__GNUC__) && !defined(__clang__)
#define LAYOUT_VECTORS 1
/* GCC's vector extension: a portable 8-float vector, which the AVX2
 * clone keeps in one register and the baseline one in two. */
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

#define SHUF(a, b, ...) __builtin_shuffle(a, b, (v8i){__VA_ARGS__})

/* Unaligned loads and stores of 8 floats (nb__f8u, vecmath.h).
 * Macros, not functions: a function taking or returning a vector
 * changes the ABI between the two clones. */
#define LOAD8(p) ((v8f)*(const nb__f8u *)(p))
#define STORE8(p, v) (*(nb__f8u *)(p) = (v))

/*
 * The 8 x 8 transpose of rows R0..R7 into O0..O7 (Oi[k] = Rk[i]) in
 * three rounds of shuffles (pairs, quads, halves), as oneDNN's JIT
 * reorders do.  Named variables, not arrays, so that all stay in
 * registers (arrays of vectors went through the stack).
 */
#define TRANSPOSE8(R0, R1, R2, R3, R4, R5, R6, R7,                          \
                   O0, O1, O2, O3, O4, O5, O6, O7)                          \
	do {                                                                 \
		v8f t0 = SHUF(R0, R1, 0, 8, 1, 9, 4, 12, 5, 13);             \
		v8f t1 = SHUF(R0, R1, 2, 10, 3, 11, 6, 14, 7, 15);           \
		v8f t2 = SHUF(R2, R3, 0, 8, 1, 9, 4, 12, 5, 13);             \
		v8f t3 = SHUF(R2, R3, 2, 10, 3, 11, 6, 14, 7, 15);           \
		v8f t4 = SHUF(R4, R5, 0, 8, 1, 9, 4, 12, 5, 13);             \
		v8f t5 = SHUF(R4, R5, 2, 10, 3, 11, 6, 14, 7, 15);           \
		v8f t6 = SHUF(R6, R7, 0, 8, 1, 9, 4, 12, 5, 13);             \
		v8f t7 = SHUF(R6, R7, 2, 10, 3, 11, 6, 14, 7, 15);           \
		v8f u0 = SHUF(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);             \
		v8f u1 = SHUF(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);           \
		v8f u2 = SHUF(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);             \
		v8f u3 = SHUF(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);           \
		v8f u4 = SHUF(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);             \
		v8f u5 = SHUF(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);           \
		v8f u6 = SHUF(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);             \
		v8f u7 = SHUF(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);           \
		O0 = SHUF(u0, u4, 0, 1, 2, 3, 8, 9, 10, 11);                 \
		O1 = SHUF(u1, u5, 0, 1, 2, 3, 8, 9, 10, 11);                 \
		O2 = SHUF(u2, u6, 0, 1, 2, 3, 8, 9, 10, 11);                 \
		O3 = SHUF(u3, u7, 0, 1, 2, 3, 8, 9, 10, 11);                 \
		O4 = SHUF(u0, u4, 4, 5, 6, 7, 12, 13, 14, 15);               \
		O5 = SHUF(u1, u5, 4, 5, 6, 7, 12, 13, 14, 15);               \
		O6 = SHUF(u2, u6, 4, 5, 6, 7, 12, 13, 14, 15);               \
		O7 = SHUF(u3, u7, 4, 5, 6, 7, 12, 13, 14, 15);               \
	} while (0)

/* Channel row k (of m, zeros past it) of a tile: 8 pixels. */
#define ROW(s, HW, k, m) ((k) < (m) ? LOAD8((s) + (k) * (HW)) : (v8f){0})

/* 8 pixels of m channel rows at s (HW apart, m <= 8) into the lanes
 * [0, 8) of 8 blocked pixels at d (b apart), zeros past m. */
INLINE void pack_tile(const float *s, int64_t HW, int m, float *d, int b)
{
	v8f o0, o1, o2, o3, o4, o5, o6, o7;
	TRANSPOSE8(ROW(s, HW, 0, m), ROW(s, HW, 1, m), ROW(s, HW, 2, m),
	           ROW(s, HW, 3, m), ROW(s, HW, 4, m), ROW(s, HW, 5, m),
	           ROW(s, HW, 6, m), ROW(s, HW, 7, m),
	           o0, o1, o2, o3, o4, o5, o6, o7);
	STORE8(d, o0);
	STORE8(d + b, o1);
	STORE8(d + 2 * b, o2);
	STORE8(d + 3 * b, o3);
	STORE8(d + 4 * b, o4);
	STORE8(d + 5 * b, o5);
	STORE8(d + 6 * b, o6);
	STORE8(d + 7 * b, o7);
}

/* The inverse: lanes [0, m) of 8 blocked pixels at d back to m channel
 * rows at s. */
INLINE void unpack_tile(const float *d, int b, float *s, int64_t HW, int m)
{
	v8f o0, o1, o2, o3, o4, o5, o6, o7;
	TRANSPOSE8(LOAD8(d), LOAD8(d + b), LOAD8(d + 2 * b), LOAD8(d + 3 * b),
	           LOAD8(d + 4 * b), LOAD8(d + 5 * b), LOAD8(d + 6 * b),
	           LOAD8(d + 7 * b), o0, o1, o2, o3, o4, o5, o6, o7);
	/* rows past m are padding lanes: dropped */
	STORE8(s, o0);
	if (m > 1)
		STORE8(s + HW, o1);
	if (m > 2)
		STORE8(s + 2 * HW, o2);
	if (m > 3)
		STORE8(s + 3 * HW, o3);
	if (m > 4)
		STORE8(s + 4 * HW, o4);
	if (m > 5)
		STORE8(s + 5 * HW, o5);
	if (m > 6)
		STORE8(s + 6 * HW, o6);
	if (m > 7)
		STORE8(s + 7 * HW, o7);
}

#endif /* LAYOUT_VECTORS; elsewhere one float at a time */

/*
 * One plane, s the nc channel planes (HW apart) and d its HW x b lanes:
 * to_blocked copies s into lanes [0, nc) and zeros the rest, else the
 * lanes [0, nc) go back to s.  8 pixels by 8 lanes at a time; the last
 * HW % 8 pixels one float at a time.
 */
INLINE void plane(float *s, float *d, int64_t HW, int nc, int b,
                  bool to_blocked)
{
	int64_t p0 = 0;
#ifdef LAYOUT_VECTORS
	for (; p0 + 8 <= HW; p0 += 8)
		for (int h = 0; h < b; h += 8) {
			int m = nc - h < 0 ? 0 : nc - h < 8 ? nc - h : 8;
			if (to_blocked)
				pack_tile(s + h * HW + p0, HW, m, d + p0 * b + h, b);
			else if (m)
				unpack_tile(d + p0 * b + h, b, s + h * HW + p0, HW,
				            m);
		}
#endif
	for (int64_t p = p0; p < HW; p++)
		for (int k = 0; k < b; k++) {
			if (to_blocked)
				d[p * b + k] = k < nc ? s[k * HW + p] : 0.0f;
			else if (k < nc)
				s[k * HW + p] = d[p * b + k];
		}
}

/* Planes [lo, hi) of a job, plane i = n CB + cb (the blocked array's
 * order). */
INLINE void planes(const layout_job *j, size_t lo, size_t hi,
                   bool to_blocked)
{
	for (size_t i = lo; i < hi; i++) {
		int64_t n = (int64_t)i / j->CB, c0 = (int64_t)i % j->CB * j->b;
		int nc = j->C - c0 < j->b ? (int)(j->C - c0) : j->b;
		int64_t off_plain = (n * j->C + c0) * j->HW;
		int64_t off_blk = (int64_t)i * j->HW * j->b;
		if (to_blocked)
			plane((float *)j->src + off_plain, j->dst + off_blk,
			      j->HW, nc, j->b, true);
		else
			plane(j->dst + off_plain, (float *)j->src + off_blk,
			      j->HW, nc, j->b, false);
	}
}

NB_VEC_CLONES static void pack_range(void *ctx, size_t lo, size_t hi)
{
	planes(ctx, lo, hi, true);
}

NB_VEC_CLONES static void unpack_range(void *ctx, size_t lo, size_t hi)
{
	planes(ctx, lo, hi, false);
}

static void run(const float *src, float *dst, int64_t N, int64_t C,
                int64_t HW, int b, nb__range_fn fn)
{
	layout_job j = {.src = src, .dst = dst, .C = C,
	                .CB = (C + b - 1) / b, .HW = HW, .b = b};
	size_t plane = (size_t)(HW * b);
	size_t grain = plane ? CHUNK_FLOATS / plane : 1;
	nb__parallel_for((size_t)(N * j.CB), grain ? grain : 1, plane, fn, &j);
}

void nb__nchw_to_blocked(const float *x, float *y, int64_t N, int64_t C,
                         int64_t HW, int b)
{
	run(x, y, N, C, HW, b, pack_range);
}

void nb__blocked_to_nchw(const float *y, float *x, int64_t N, int64_t C,
                         int64_t HW, int b)
{
	run(y, x, N, C, HW, b, unpack_range);
}
