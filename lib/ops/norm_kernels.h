/*
 * norm_kernels.h - the loops of norm.c for one element type and one ISA.
 * Private.
 *
 * A template: norm.c includes it once per element type (T = float,
 * double) and instruction set (ISA = base, avx2, with KERNEL the
 * matching function attribute and VBYTES its vector width), and
 * FN(name) makes name_T_ISA.  (A macro spanning these lines, as the
 * smaller families use, would give compiler messages and debuggers one
 * line for all of it.)  Relies on norm.c's layout and norm_kernels types
 * and helpers.
 *
 * Numerics.  Sums run in T in NL independent lanes (16 floats or 8
 * doubles), over blocks of NB_NORM_BLOCK elements per lane, and the
 * blocks are added in double: in float32, one add per element instead of
 * a conversion and a double add, with the rounding of at most
 * NB_NORM_BLOCK float adds per lane and block.  The mean is summed as
 * sum(x - x0), x0 the group's first element (if finite): the terms are
 * then of the order of the spread, not of the mean, so a large common
 * offset costs no accuracy, and a constant group sums to exactly 0 (its
 * mean is exactly x0).  mh and ml are the mean's head and tail in T: x - mean =
 * (x - mh) - ml, exact to T's rounding even when the mean is large (mh
 * is the nearest T, and x - mh is then exact for x within a factor 2 of
 * it).  In float32, x - x0 overflows for values beyond FLT_MAX / 2 of
 * both signs in one group (the mean is then infinite).
 *
 * Determinism.  Lanes, blocks and their combination are fixed by the
 * code, not by the vector width, and no element's arithmetic depends on
 * it: no FMA (KERNEL does not enable it; and -std=c11, which the build
 * uses, forbids contracting a * b + c), so the baseline and the AVX2
 * builds give the same bits.  Parallel loops (nb__parallel_for) split
 * work in chunks of fixed size, and every sum keeps one order, so results
 * do not depend on the thread count either.
 */
#ifndef T
#error "norm_kernels.h is a template for norm.c: define T first"
#endif

#define FN(name) FN_(name, T, ISA)
#define FN_(name, t, isa) FN__(name, t, isa)
#define FN__(name, t, isa) name##_##t##_##isa

#ifndef NB_NORM_BLOCK
#define NB_NORM_BLOCK 8 /* lane rows per block */
#define NB_NORM_ROWS 32 /* layer_norm: rows per block of dgamma, dbeta */
_Static_assert(NB_NORM_ROWS % 2 == 0, "layer_norm's backward takes rows in pairs");

/* The end of the block of nl lanes that starts at i, of the first `full`
 * elements (full a multiple of nl). */
static inline size_t block_end(size_t i, size_t full, int nl)
{
	size_t b = (size_t)nl * NB_NORM_BLOCK;
	return full - i > b ? i + b : full;
}
#endif

/*
 * A sum has NL lanes (16 floats or 8 doubles: 64 bytes), held in NV
 * vectors of VL elements of the ISA's width (VBYTES; GCC's vector
 * extension, also in Clang) and unrolled, so that they stay in
 * registers.  Lane j sums elements j, j + NL, j + 2 NL, ... whatever
 * the width.
 */
#define NL ((int)(64 / sizeof(T)))
#define VL ((int)(VBYTES / sizeof(T)))
#define NV (NL / VL)
typedef T FN(vec) __attribute__((vector_size(VBYTES)));

/* v = the VL elements at p (unaligned) */
#define VLOAD(v, p) memcpy(&(v), (p), sizeof(v))

/*
 * The lanes' sums in double: NA vectors of DL doubles, lane j in
 * element j % DL of vector j / DL, so that they stay in registers (as
 * an array of NL doubles they went through the stack, zeroed there by
 * a `rep stos` that took a fifth of a short row's sum: issue 18,
 * layer_norm on rows of 128).  The arithmetic per lane is the same.
 */
#define DL ((int)(VBYTES / sizeof(double)))
#define NA (NL / DL)
typedef double FN(dvec) __attribute__((vector_size(VBYTES)));
/* DL elements of T: the part of a vector that converts to one dvec */
typedef T FN(hvec) __attribute__((vector_size(DL * sizeof(T))));
typedef struct FN(lanes) {
	FN(dvec) v[NA];
} FN(lanes);

static inline KERNEL FN(lanes) FN(lanes_zero)(void)
{
	FN(lanes) a;
	_Pragma("GCC unroll 8") for (int i = 0; i < NA; i++)
		a.v[i] = (FN(dvec)){0};
	return a;
}

/* lane j += lane j of the vectors f[NV], in double */
#define VFLUSH(a, f)                                                         \
	do {                                                                 \
		_Pragma("GCC unroll 8")                                      \
		for (int k_ = 0; k_ < NV; k_++)                              \
			_Pragma("GCC unroll 8")                              \
			for (int h_ = 0; h_ < VL / DL; h_++) {               \
				FN(hvec) p_;                                 \
				memcpy(&p_, (const T *)&(f)[k_] + h_ * DL,   \
				       sizeof p_);                           \
				(a).v[k_ * (VL / DL) + h_] +=                \
				    __builtin_convertvector(p_, FN(dvec));   \
			}                                                    \
	} while (0)

/* The lanes' total, lane 0 + ... + lane NL - 1 in this order. */
static inline KERNEL double FN(lanes_total)(const FN(lanes) *a)
{
	double t = 0;
	_Pragma("GCC unroll 8") for (int i = 0; i < NA; i++)
		_Pragma("GCC unroll 8") for (int e = 0; e < DL; e++)
			t += a->v[i][e];
	return t;
}

/* The loop over the vectors of a lane row, unrolled (NV <= 8). */
#define EACH_VEC _Pragma("GCC unroll 8") for (int k = 0; k < NV; k++)

/* sum (x - x0) */
static KERNEL double FN(sum)(const T *x, size_t n, T x0)
{
	FN(lanes) a = FN(lanes_zero)();
	size_t i = 0, full = n - n % NL;
	while (i < full) {
		FN(vec) f[NV] = {{0}}, v;
		for (size_t e = block_end(i, full, NL); i < e; i += NL)
			EACH_VEC {
				VLOAD(v, x + i + k * VL);
				f[k] += v - x0;
			}
		VFLUSH(a, f);
	}
	for (; i < n; i++)
		a.v[0][0] += x[i] - x0;
	return FN(lanes_total)(&a);
}

/* sum ((x - h) - l)^2 */
static KERNEL double FN(sqdev)(const T *x, size_t n, T h, T l)
{
	FN(lanes) a = FN(lanes_zero)();
	size_t i = 0, full = n - n % NL;
	while (i < full) {
		FN(vec) f[NV] = {{0}}, v;
		for (size_t e = block_end(i, full, NL); i < e; i += NL)
			EACH_VEC {
				VLOAD(v, x + i + k * VL);
				v = (v - h) - l;
				f[k] += v * v;
			}
		VFLUSH(a, f);
	}
	for (; i < n; i++) {
		T d = (x[i] - h) - l;
		a.v[0][0] += d * d;
	}
	return FN(lanes_total)(&a);
}

/* *sg = sum g, *sgx = sum g ((x - h) - l) */
static KERNEL void FN(gsums)(const T *g, const T *x, size_t n, T h, T l,
                             double *sg, double *sgx)
{
	FN(lanes) a = FN(lanes_zero)(), b = FN(lanes_zero)();
	size_t i = 0, full = n - n % NL;
	while (i < full) {
		FN(vec) f[NV] = {{0}}, u[NV] = {{0}}, gv, xv;
		for (size_t e = block_end(i, full, NL); i < e; i += NL)
			EACH_VEC {
				VLOAD(gv, g + i + k * VL);
				VLOAD(xv, x + i + k * VL);
				f[k] += gv;
				u[k] += gv * ((xv - h) - l);
			}
		VFLUSH(a, f);
		VFLUSH(b, u);
	}
	for (; i < n; i++) {
		a.v[0][0] += g[i];
		b.v[0][0] += g[i] * ((x[i] - h) - l);
	}
	*sg = FN(lanes_total)(&a);
	*sgx = FN(lanes_total)(&b);
}

/* The origin x0 of a group's sum(x - x0): its first element, or 0 if
 * that is infinite or NaN (inf - inf would turn an infinite mean, as
 * PyTorch's, into NaN). */
static inline KERNEL T FN(origin)(T first)
{
	return isfinite(first) ? first : 0;
}

/* The tail of a mean whose head is h = (T)m: 0 when h is infinite (an
 * infinite running mean, or a double beyond T's range), where m - h
 * would be inf - inf = NaN and the result NaN instead of +-inf. */
static inline KERNEL T FN(tail)(double m, T h)
{
	return isfinite(h) ? (T)(m - (double)h) : (T)0;
}

/* Units per task so that a task covers about 32K elements. */
/* y = ((x - h) - l) * s + u over one run of n elements: the
 * normalization, for the fused statistics pass and for apply. */
static inline KERNEL void FN(norm_run)(const T *x, T *y, size_t n, T h,
                                       T l, T s, T u)
{
	for (size_t i = 0; i < n; i++)
		y[i] = ((x[i] - h) - l) * s + u;
}

static KERNEL size_t FN(grain)(size_t elems_per_unit)
{
	size_t g = 32768 / (elems_per_unit ? elems_per_unit : 1);
	return g ? g : 1;
}

/* ---- batch_norm, instance_norm, group_norm ---- */

/*
 * The [N, C, S] paths (S > 1) run in parallel over statistics: the
 * forward computes a statistic and normalizes its runs while they are
 * in cache, the backward sums a statistic's runs and then writes their
 * input gradient.  A statistic k covers the runs (n, c) of S elements
 * listed by FN(runs); the per-channel gradients dgamma, dbeta add the
 * runs' sums afterwards, serially in n order.
 */
typedef struct FN(job) {
	const layout *L;
	const T *x, *g, *w, *b;
	T *y, *dx;
	const double *mean, *invstd;
	double eps, *mean_out, *var_out, *A, *B, *rsg, *rsgx;
	bool batch_stats;
} FN(job);

/* Statistic k's runs: *nr of them, run i at index r0 + i * step (run r
 * = n * C + c holds x[r * S .. r * S + S - 1]).  A group_norm statistic
 * is one contiguous stretch of its Cg runs. */
static KERNEL void FN(runs)(const layout *L, size_t k, size_t *nr,
                            size_t *r0, size_t *step)
{
	if (L->batch) { /* channel k of every sample */
		*nr = L->N;
		*r0 = k;
		*step = L->C;
	} else {        /* channels gi * Cg .. of sample n */
		*nr = L->Cg;
		*r0 = k / L->G * L->C + k % L->G * L->Cg;
		*step = 1;
	}
}

/* Mean and biased variance of statistics [lo, hi), and, when y, the
 * normalized output of their runs. */
static KERNEL void FN(stats_range)(void *p, size_t lo, size_t hi)
{
	const FN(job) *j = p;
	const layout *L = j->L;
	size_t C = L->C, S = L->S;
	double M = (double)group_size(L);
	for (size_t k = lo; k < hi; k++) {
		size_t nr, r0, st;
		FN(runs)(L, k, &nr, &r0, &st);
		/* contiguous runs (group_norm) are summed as one */
		size_t len = st == 1 ? nr * S : S, parts = st == 1 ? 1 : nr;
		const T *x0 = j->x + r0 * S;
		T o = FN(origin)(x0[0]);
		double s = 0, q = 0;
		for (size_t i = 0; i < parts; i++)
			s += FN(sum)(x0 + i * st * S, len, o);
		double m = (double)o + s / M;
		T h = (T)m, l = FN(tail)(m, h);
		for (size_t i = 0; i < parts; i++)
			q += FN(sqdev)(x0 + i * st * S, len, h, l);
		j->mean_out[k] = m;
		j->var_out[k] = q / M;
		if (!j->y)
			continue;
		double is = 1 / sqrt(q / M + j->eps);
		for (size_t i = 0; i < nr; i++) {
			size_t r = r0 + i * st, c = r % C;
			T sc = (T)((j->w ? (double)j->w[c] : 1.0) * is);
			FN(norm_run)(j->x + r * S, j->y + r * S, S, h, l, sc,
			             j->b ? j->b[c] : 0);
		}
	}
}

/*
 * Mean and biased variance of every statistics group; and, when S > 1
 * and y is not NULL, y = (x - mean) * gamma / sqrt(var + eps) + beta
 * (then returns true: y is done).
 */
static KERNEL bool FN(stats)(const layout *L, const void *xv, void *yv,
                             const void *wv, const void *bv, double eps,
                             double *mean, double *var)
{
	const T *x = xv;
	size_t C = L->C;
	if (L->batch && L->S == 1) { /* [N, C]: rows of channels */
		double M = (double)group_size(L);
		for (size_t n = 0; n < L->N; n++)
			for (size_t c = 0; c < C; c++)
				mean[c] += x[n * C + c];
		for (size_t c = 0; c < C; c++)
			mean[c] /= M;
		for (size_t n = 0; n < L->N; n++)
			for (size_t c = 0; c < C; c++) {
				double d = x[n * C + c] - mean[c];
				var[c] += d * d;
			}
		for (size_t c = 0; c < C; c++)
			var[c] /= M;
		return false;
	}
	FN(job) j = {.L = L, .x = x, .y = L->S > 1 ? yv : NULL, .w = wv,
	             .b = bv, .eps = eps, .mean_out = mean, .var_out = var};
	nb__parallel_for(n_stats(L), FN(grain)(group_size(L)), group_size(L),
	                 FN(stats_range), &j);
	return j.y != NULL;
}

/* Per-channel coefficients of sample n: the mean's head and tail, and
 * p = gamma * invstd. */
static KERNEL void FN(coefs)(const layout *L, size_t n, const double *mean,
                             const double *invstd, const T *w, T *mh,
                             T *ml, T *p)
{
	for (size_t gi = 0; gi < L->G; gi++) {
		size_t k = stat0(L, n) + gi;
		for (size_t j = 0; j < L->Cg; j++) {
			size_t c = gi * L->Cg + j;
			mh[c] = (T)mean[k];
			ml[c] = FN(tail)(mean[k], mh[c]);
			p[c] = (T)((w ? (double)w[c] : 1.0) * invstd[k]);
		}
	}
}

/* Statistic k of a run (n, c). */
static KERNEL size_t FN(stat_of)(const layout *L, size_t n, size_t c)
{
	return stat0(L, n) + c / L->Cg;
}

/* y = (x - mean) * gamma * invstd + beta over runs [lo, hi). */
static KERNEL void FN(apply_range)(void *p, size_t lo, size_t hi)
{
	const FN(job) *j = p;
	const layout *L = j->L;
	size_t C = L->C, S = L->S;
	for (size_t r = lo; r < hi; r++) {
		size_t n = r / C, c = r % C, k = FN(stat_of)(L, n, c);
		T h = (T)j->mean[k], l = FN(tail)(j->mean[k], h);
		T s = (T)((j->w ? (double)j->w[c] : 1.0) * j->invstd[k]);
		FN(norm_run)(j->x + r * S, j->y + r * S, S, h, l, s,
		             j->b ? j->b[c] : 0);
	}
}

/* y = (x - mean) * gamma * invstd + beta, with given statistics. */
static KERNEL void FN(apply)(const layout *L, const void *xv, void *yv,
                             const double *mean, const double *invstd,
                             const void *wv, const void *bv, void *cov)
{
	const T *x = xv, *w = wv, *b = bv;
	T *y = yv, *co = cov;
	size_t C = L->C;
	if (L->S > 1) {
		FN(job) j = {.L = L, .x = x, .y = y, .mean = mean,
		             .invstd = invstd, .w = w, .b = b};
		nb__parallel_for(L->N * C, FN(grain)(L->S), L->S, FN(apply_range),
		                 &j);
		return;
	}
	T *mh = co, *ml = co + C, *p = co + 2 * C, *t = co + 3 * C;
	for (size_t c = 0; c < C; c++)
		t[c] = b ? b[c] : 0;
	for (size_t n = 0; n < L->N; n++) { /* [N, C]: along the channels */
		if (n == 0 || !L->batch)
			FN(coefs)(L, n, mean, invstd, w, mh, ml, p);
		const T *xn = x + n * C;
		T *yn = y + n * C;
		for (size_t c = 0; c < C; c++)
			yn[c] = ((xn[c] - mh[c]) - ml[c]) * p[c] + t[c];
	}
}

/*
 * Backward of statistics [lo, hi).  Pass 1 over each run: sg = sum dy
 * and sgx = sum dy (x - mean) (kept per run in rsg, rsgx), and per
 * statistic A = sum(dxhat) = sum gamma sg and B = sum(dxhat * xhat) /
 * invstd = sum gamma sgx.  Pass 2, while the runs are in cache:
 *   dx += gamma invstd dy - invstd A / M - invstd^3 (x - mean) B / M
 * (the last two terms only with batch statistics) as k1 dy + k2 (x -
 * mean) + k3.
 */
static KERNEL void FN(bwd_range)(void *p, size_t lo, size_t hi)
{
	const FN(job) *j = p;
	const layout *L = j->L;
	size_t C = L->C, S = L->S;
	double M = (double)group_size(L);
	for (size_t k = lo; k < hi; k++) {
		size_t nr, r0, st;
		FN(runs)(L, k, &nr, &r0, &st);
		double m = j->mean[k], is = j->invstd[k], A = 0, B = 0;
		T h = (T)m, l = FN(tail)(m, h);
		for (size_t i = 0; i < nr; i++) {
			size_t r = r0 + i * st, c = r % C;
			double wc = j->w ? (double)j->w[c] : 1.0;
			FN(gsums)(j->g + r * S, j->x + r * S, S, h, l, &j->rsg[r],
			          &j->rsgx[r]);
			A += wc * j->rsg[r];
			B += wc * j->rsgx[r];
		}
		j->A[k] = A;
		j->B[k] = B;
		if (!j->dx)
			continue;
		T k2 = j->batch_stats ? (T)(-is * is * is * B / M) : 0;
		T k3 = j->batch_stats ? (T)(-is * A / M) : 0;
		for (size_t i = 0; i < nr; i++) {
			size_t r = r0 + i * st, c = r % C;
			T k1 = (T)((j->w ? (double)j->w[c] : 1.0) * is);
			const T *xr = j->x + r * S, *gr = j->g + r * S;
			T *dr = j->dx + r * S;
			/* Fixed statistics: dx depends on neither x nor the
			 * mean (k2 = k3 = 0 would still turn a NaN x into
			 * NaN). */
			if (!j->batch_stats)
				for (size_t e = 0; e < S; e++)
					dr[e] += k1 * gr[e];
			else
				for (size_t e = 0; e < S; e++)
					dr[e] += k1 * gr[e] +
					         k2 * ((xr[e] - h) - l) + k3;
		}
	}
}

/* [N, C] (S = 1): sums along the channels, then dx row by row. */
static KERNEL void FN(backward_rows)(const layout *L, const T *x,
                                     const T *g, const double *mean,
                                     const double *invstd, bool batch_stats,
                                     const T *w, T *dx, double *dw,
                                     double *db, double *A, double *B,
                                     T *co)
{
	size_t C = L->C;
	double M = (double)group_size(L);
	if (L->batch) {
		for (size_t n = 0; n < L->N; n++)
			for (size_t c = 0; c < C; c++) {
				double gv = g[n * C + c];
				db[c] += gv;
				B[c] += gv * (x[n * C + c] - mean[c]);
			}
		for (size_t c = 0; c < C; c++) {
			double wc = w ? (double)w[c] : 1.0;
			dw[c] = B[c] * invstd[c];
			A[c] = wc * db[c];
			B[c] *= wc;
		}
	} else { /* one statistic per channel and sample: runs of 1 */
		for (size_t n = 0; n < L->N; n++)
			for (size_t c = 0; c < C; c++) {
				size_t r = n * C + c, k = FN(stat_of)(L, n, c);
				double gv = g[r], wc = w ? (double)w[c] : 1.0;
				double gx = gv * (x[r] - mean[k]);
				dw[c] += gx * invstd[k];
				db[c] += gv;
				A[k] += wc * gv;
				B[k] += wc * gx;
			}
	}
	if (!dx)
		return;
	T *mh = co, *ml = co + C, *p = co + 2 * C;
	T *q = co + 3 * C, *r = co + 4 * C;
	for (size_t n = 0; n < L->N; n++) {
		if (n == 0 || !L->batch) {
			FN(coefs)(L, n, mean, invstd, w, mh, ml, p);
			for (size_t c = 0; c < C; c++) {
				size_t k = FN(stat_of)(L, n, c);
				double is = invstd[k];
				double i3 = is * is * is;
				q[c] = batch_stats ? (T)(-i3 * B[k] / M) : 0;
				r[c] = batch_stats ? (T)(-is * A[k] / M) : 0;
			}
		}
		const T *xn = x + n * C, *gn = g + n * C;
		T *dn = dx + n * C;
		for (size_t c = 0; c < C; c++)
			dn[c] += batch_stats
			    ? p[c] * gn[c] + r[c] +
			      q[c] * ((xn[c] - mh[c]) - ml[c])
			    : p[c] * gn[c];
	}
}

/*
 * The backward: dx (when not NULL), dw and db (per channel), A and B
 * (per statistic; see bwd_range).  rs holds 2 N C doubles of scratch,
 * co 5 C of T.
 */
static KERNEL void FN(backward)(const layout *L, const void *xv,
                                const void *gv, const double *mean,
                                const double *invstd, bool batch_stats,
                                const void *wv, void *dxv, double *dw,
                                double *db, double *A, double *B,
                                void *cov, double *rs)
{
	const T *x = xv, *g = gv, *w = wv;
	T *dx = dxv;
	size_t C = L->C;
	if (L->S == 1) {
		FN(backward_rows)(L, x, g, mean, invstd, batch_stats, w, dx, dw,
		                  db, A, B, cov);
		return;
	}
	FN(job) j = {.L = L, .x = x, .g = g, .w = w, .dx = dx, .mean = mean,
	             .invstd = invstd, .A = A, .B = B, .rsg = rs,
	             .rsgx = rs + L->N * C, .batch_stats = batch_stats};
	nb__parallel_for(n_stats(L), FN(grain)(2 * group_size(L)),
	                 2 * group_size(L), FN(bwd_range), &j);
	for (size_t n = 0; n < L->N; n++) /* serial: a fixed order */
		for (size_t c = 0; c < C; c++) {
			size_t r = n * C + c, k = FN(stat_of)(L, n, c);
			dw[c] += j.rsgx[r] * invstd[k];
			db[c] += j.rsg[r];
		}
}

/* ---- layer_norm ---- */

/*
 * layer_norm's per-call state.  The backward's xhat = ((x - h) - l) s
 * per row (h, l the mean's head and tail, s = (T)invstd) is computed
 * the same way by every loop, so the serial and the parallel paths give
 * the same bits.
 */
typedef struct FN(ln_job) {
	size_t rows, D;
	const T *x, *g, *w, *b;
	T *y, *dx;
	double eps, *mean, *invstd, *dw, *db;
} FN(ln_job);

/* Rows [n, n + k) of layer_norm's forward, k = 1 or 2: each row's
 * statistics depend on its sum, its mean and then its squared
 * deviations in turn, a chain of latencies that a short row (D = 128)
 * leaves the core idle on; two rows' steps side by side overlap their
 * chains (issue 18).  Each row's arithmetic is the same either way. */
static inline KERNEL void FN(ln_forward_k)(const FN(ln_job) *j, size_t n,
                                           int k)
{
	size_t D = j->D;
	T h[2], l[2], s[2];
	double m[2], is[2];
	for (int r = 0; r < k; r++) {
		const T *xr = j->x + (n + r) * D;
		T o = FN(origin)(xr[0]);
		m[r] = (double)o + FN(sum)(xr, D, o) / (double)D;
		h[r] = (T)m[r];
		l[r] = FN(tail)(m[r], h[r]);
	}
	for (int r = 0; r < k; r++)
		is[r] = 1 / sqrt(FN(sqdev)(j->x + (n + r) * D, D, h[r], l[r]) /
		                 (double)D + j->eps);
	for (int r = 0; r < k; r++) {
		const T *xr = j->x + (n + r) * D;
		T *yr = j->y + (n + r) * D;
		j->mean[n + r] = m[r];
		j->invstd[n + r] = is[r];
		s[r] = (T)is[r];
		if (j->w)
			for (size_t d = 0; d < D; d++)
				yr[d] = ((xr[d] - h[r]) - l[r]) * s[r] * j->w[d] +
				        j->b[d];
		else
			for (size_t d = 0; d < D; d++)
				yr[d] = ((xr[d] - h[r]) - l[r]) * s[r];
	}
}

static KERNEL void FN(ln_forward_rows)(void *p, size_t lo, size_t hi)
{
	size_t n = lo;
	for (; n + 2 <= hi; n += 2)
		FN(ln_forward_k)(p, n, 2);
	if (n < hi)
		FN(ln_forward_k)(p, n, 1);
}

/* layer_norm: rows of D; w and b both given or both NULL.  Rows in
 * parallel. */
static KERNEL void FN(ln_forward)(size_t rows, size_t D, const void *x,
                                  void *y, const void *w, const void *b,
                                  double eps, double *mean,
                                  double *invstd)
{
	FN(ln_job) j = {.D = D, .x = x, .y = y, .w = w, .b = b, .eps = eps,
	                .mean = mean, .invstd = invstd};
	nb__parallel_for(rows, FN(grain)(D), D, FN(ln_forward_rows), &j);
}

/*
 * dgamma = sum over rows of dy xhat, dbeta = sum of dy: per column, in
 * T over blocks of NB_NORM_ROWS rows (pf, pb), each block added to dw,
 * db in double.  Adds row n's terms for columns [d0, d0 + len).
 */
static inline KERNEL void FN(ln_wrow)(size_t len, const T *restrict x,
                                      const T *restrict g, T h, T l, T s,
                                      T *restrict pf, T *restrict pb)
{
	for (size_t d = 0; d < len; d++) {
		pf[d] += g[d] * (((x[d] - h) - l) * s);
		pb[d] += g[d];
	}
}

/* Adds the block sums pf, pb to dw, db and clears them. */
static inline KERNEL void FN(ln_wflush)(size_t len, T *restrict pf,
                                        T *restrict pb,
                                        double *restrict dw,
                                        double *restrict db)
{
	for (size_t d = 0; d < len; d++) {
		dw[d] += pf[d];
		db[d] += pb[d];
		pf[d] = 0;
		pb[d] = 0;
	}
}

/* Row n's mean head and tail and T invstd. */
static inline KERNEL void FN(ln_row)(const FN(ln_job) *j, size_t n, T *h,
                                     T *l, T *s)
{
	*h = (T)j->mean[n];
	*l = FN(tail)(j->mean[n], *h);
	*s = (T)j->invstd[n];
}

enum { FN(LN_COLS) = 256 };

/* dw and db of column blocks [lo, hi): every row, in row order. */
static KERNEL void FN(ln_wgrad_blocks)(void *p, size_t lo, size_t hi)
{
	const FN(ln_job) *j = p;
	size_t D = j->D, rows = j->rows;
	T pf[FN(LN_COLS)] = {0}, pb[FN(LN_COLS)] = {0};
	for (size_t k = lo; k < hi; k++) {
		size_t d0 = k * FN(LN_COLS);
		size_t len = d0 + FN(LN_COLS) < D ? FN(LN_COLS) : D - d0;
		for (size_t n = 0; n < rows; n++) {
			T h, l, s;
			FN(ln_row)(j, n, &h, &l, &s);
			FN(ln_wrow)(len, j->x + n * D + d0, j->g + n * D + d0, h,
			            l, s, pf, pb);
			if ((n + 1) % NB_NORM_ROWS == 0 || n + 1 == rows)
				FN(ln_wflush)(len, pf, pb, j->dw + d0,
				              j->db + d0);
		}
	}
}

/*
 * Row n's input gradient: A = sum w g and B = sum w g (x - m), then
 *   dx += invstd (w g) - invstd^3 (x - m) B / D - invstd A / D.
 * With pf, pb (the serial path), also adds the row's dgamma and dbeta
 * terms as ln_wrow does, in the same pass.
 */
static inline KERNEL void FN(ln_dx_sums)(const FN(ln_job) *j, size_t n,
                                         T *pf, T *pb, double *sa,
                                         double *sb)
{
	size_t D = j->D, full = D - D % NL, d = 0;
	const T *w = j->w, *xr = j->x + n * D, *gr = j->g + n * D;
	FN(lanes) a = FN(lanes_zero)(), bb = FN(lanes_zero)();
	T h, l, s;
	FN(ln_row)(j, n, &h, &l, &s);
	/* in lanes and blocks, as FN(sum); w g as g * w (or g * 1); pf
	 * and pb as in ln_wrow */
	while (d < full) {
		FN(vec) f[NV] = {{0}}, u[NV] = {{0}}, gv, xv, wv = {0}, pv;
		wv += 1;
		for (size_t e = block_end(d, full, NL); d < e; d += NL)
			EACH_VEC {
				size_t o = d + (size_t)k * VL;
				VLOAD(gv, gr + o);
				VLOAD(xv, xr + o);
				xv = (xv - h) - l;
				if (pf) {
					VLOAD(pv, pf + o);
					pv += gv * (xv * s);
					memcpy(pf + o, &pv, sizeof pv);
					VLOAD(pv, pb + o);
					pv += gv;
					memcpy(pb + o, &pv, sizeof pv);
				}
				if (w)
					VLOAD(wv, w + o);
				gv *= wv;
				f[k] += gv;
				u[k] += gv * xv;
			}
		VFLUSH(a, f);
		VFLUSH(bb, u);
	}
	if (pf)
		FN(ln_wrow)(D - d, xr + d, gr + d, h, l, s, pf + d, pb + d);
	for (; d < D; d++) {
		T wg = gr[d] * (w ? w[d] : 1);
		a.v[0][0] += wg;
		bb.v[0][0] += wg * ((xr[d] - h) - l);
	}
	*sa = FN(lanes_total)(&a);
	*sb = FN(lanes_total)(&bb);
}

static inline KERNEL void FN(ln_dx_apply)(const FN(ln_job) *j, size_t n,
                                          double A, double B)
{
	size_t D = j->D;
	const T *w = j->w, *xr = j->x + n * D, *gr = j->g + n * D;
	double is = j->invstd[n];
	T h, l, s;
	FN(ln_row)(j, n, &h, &l, &s);
	T *dr = j->dx + n * D;
	T k2 = (T)(-is * is * is * B / (double)D);
	T k3 = (T)(-is * A / (double)D);
	if (w)
		for (size_t d = 0; d < D; d++)
			dr[d] += s * w[d] * gr[d] + k2 * ((xr[d] - h) - l) + k3;
	else
		for (size_t d = 0; d < D; d++)
			dr[d] += s * gr[d] + k2 * ((xr[d] - h) - l) + k3;
}

/* Rows [n, n + k) (k = 1 or 2), their sums first, then their dx: as
 * ln_forward_k, two rows' chains overlap.  pf and pb take row n's terms
 * before row n + 1's, in the order of one row at a time. */
static KERNEL void FN(ln_dx_k)(const FN(ln_job) *j, size_t n, int k, T *pf,
                               T *pb)
{
	double A[2], B[2];
	for (int r = 0; r < k; r++)
		FN(ln_dx_sums)(j, n + r, pf, pb, &A[r], &B[r]);
	for (int r = 0; r < k; r++)
		FN(ln_dx_apply)(j, n + r, A[r], B[r]);
}

static KERNEL void FN(ln_dx_rows)(void *p, size_t lo, size_t hi)
{
	size_t n = lo;
	for (; n + 2 <= hi; n += 2)
		FN(ln_dx_k)(p, n, 2, NULL, NULL);
	if (n < hi)
		FN(ln_dx_k)(p, n, 1, NULL, NULL);
}

/*
 * layer_norm backward: dw and db (when dw is not NULL) sum over rows,
 * dx (when not NULL) per row.  With one thread, one pass per row does
 * both while the row is in cache (co: 2 D of T, the block sums); with
 * more, dw and db go by column blocks (the blocks in parallel), so that
 * a block of them stays in cache while the rows stream past, then dx
 * by rows in parallel.  Both paths do the same arithmetic in the same
 * order.
 */
static KERNEL void FN(ln_backward)(size_t rows, size_t D, const void *x,
                                   const void *g, const void *w,
                                   const double *mean,
                                   const double *invstd, void *dx,
                                   double *dw, double *db, void *cov)
{
	FN(ln_job) j = {.D = D, .x = x, .g = g, .w = w, .dx = dx,
	                .mean = (double *)mean, .invstd = (double *)invstd,
	                .dw = dw, .db = db, .rows = rows};
	if (dx && dw && nb_get_num_threads() == 1) {
		T *pf = cov, *pb = pf + D;
		/* in pairs: NB_NORM_ROWS is even, so a flush never falls
		 * inside one */
		for (size_t n = 0; n < rows;) {
			int k = n + 2 <= rows ? 2 : 1;
			FN(ln_dx_k)(&j, n, k, pf, pb);
			n += (size_t)k;
			if (n % NB_NORM_ROWS == 0 || n == rows)
				FN(ln_wflush)(D, pf, pb, dw, db);
		}
		return;
	}
	size_t blocks = (D + FN(LN_COLS) - 1) / FN(LN_COLS);
	if (dw)
		nb__parallel_for(blocks, FN(grain)(rows * FN(LN_COLS)),
		                 rows * FN(LN_COLS), FN(ln_wgrad_blocks), &j);
	if (dx)
		nb__parallel_for(rows, FN(grain)(D), D, FN(ln_dx_rows), &j);
}

static const norm_kernels FN(kernels) = {
	FN(stats), FN(apply), FN(backward), FN(ln_forward), FN(ln_backward),
};

#undef EACH_VEC
#undef VFLUSH
#undef NA
#undef DL
#undef VLOAD
#undef NV
#undef VL
#undef NL
#undef FN__
#undef FN_
#undef FN
