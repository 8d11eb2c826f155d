/*
 * norm_kernels.h - the loops of norm.c for one element type.  Private.
 *
 * A template: norm.c includes it twice, with T defined as float and then
 * as double, and FN(name) makes name_float / name_double.  (A macro
 * spanning these 250 lines, as the smaller families use, would give
 * compiler messages and debuggers one line for all of it.)  Relies on
 * norm.c's layout type and helpers.
 *
 * Sums run in double for both types, with partial sums (shorter
 * dependency chains, less rounding).  mh and ml are the mean's head and
 * tail in T: x - mean = (x - mh) - ml, exact to T's rounding even when
 * the mean is large (mh is the nearest T, and x - mh is then exact for
 * x within a factor 2 of it).
 */
#ifndef T
#error "norm_kernels.h is a template for norm.c: define T first"
#endif

#define FN(name) FN_(name, T, ISA)
#define FN_(name, t, isa) FN__(name, t, isa)
#define FN__(name, t, isa) name##_##t##_##isa

/*
 * The sums below keep LANES independent partial sums, combined in a
 * fixed order at the end: the compiler turns each block of LANES into
 * vector operations (a reduction in one accumulator would need
 * -ffast-math to reorder), and the result does not depend on the
 * machine or the thread count.
 */
#ifndef NB_NORM_LANES
#define NB_NORM_LANES 8
static double lanes_total(const double *a)
{
	double t = 0;
	for (int j = 0; j < NB_NORM_LANES; j++)
		t += a[j];
	return t;
}
#endif

static KERNEL double FN(sum)(const T *x, size_t n)
{
	double a[NB_NORM_LANES] = {0};
	size_t i = 0;
	for (; i + NB_NORM_LANES <= n; i += NB_NORM_LANES)
		for (int j = 0; j < NB_NORM_LANES; j++)
			a[j] += x[i + j];
	for (; i < n; i++)
		a[0] += x[i];
	return lanes_total(a);
}

/* sum (x - m)^2 */
static KERNEL double FN(sqdev)(const T *x, size_t n, double m)
{
	double a[NB_NORM_LANES] = {0};
	size_t i = 0;
	for (; i + NB_NORM_LANES <= n; i += NB_NORM_LANES)
		for (int j = 0; j < NB_NORM_LANES; j++) {
			double d = x[i + j] - m;
			a[j] += d * d;
		}
	for (; i < n; i++)
		a[0] += (x[i] - m) * (x[i] - m);
	return lanes_total(a);
}

/* *sg = sum g, *sgx = sum g (x - m) */
static KERNEL void FN(gsums)(const T *g, const T *x, size_t n, double m,
                      double *sg, double *sgx)
{
	double a[NB_NORM_LANES] = {0}, b[NB_NORM_LANES] = {0};
	size_t i = 0;
	for (; i + NB_NORM_LANES <= n; i += NB_NORM_LANES)
		for (int j = 0; j < NB_NORM_LANES; j++) {
			double gv = g[i + j];
			a[j] += gv;
			b[j] += gv * (x[i + j] - m);
		}
	for (; i < n; i++) {
		a[0] += g[i];
		b[0] += g[i] * (x[i] - m);
	}
	*sg = lanes_total(a);
	*sgx = lanes_total(b);
}

/*
 * The [N, C, S] paths (S > 1) run in parallel through nb__parallel_for:
 * statistics per statistic k, the normalization and the input gradient
 * per run (n, c) of S elements, the weight gradients per channel c.
 * Every sum keeps the serial order (a statistic's runs in n order), so
 * results do not depend on the thread count.
 */
typedef struct FN(job) {
	const layout *L;
	const T *x, *g, *w, *b;
	T *y, *dx;
	const double *mean, *invstd, *A, *B;
	double *mean_out, *var_out, *dw, *db, *rsg, *rsgx;
	bool batch_stats;
} FN(job);

/* Statistic k of a run (n, c). */
static KERNEL size_t FN(stat_of)(const layout *L, size_t n, size_t c)
{
	return stat0(L, n) + c / L->Cg;
}

/* Runs per task so that a task covers about 32K elements. */
static KERNEL size_t FN(grain)(size_t elems_per_unit)
{
	size_t g = 32768 / (elems_per_unit ? elems_per_unit : 1);
	return g ? g : 1;
}

static KERNEL void FN(stats_range)(void *p, size_t lo, size_t hi)
{
	const FN(job) *j = p;
	const layout *L = j->L;
	size_t C = L->C, S = L->S;
	double M = (double)group_size(L);
	for (size_t k = lo; k < hi; k++) {
		double sum = 0, q = 0, m;
		if (L->batch) { /* channel k over every sample */
			for (size_t n = 0; n < L->N; n++)
				sum += FN(sum)(j->x + (n * C + k) * S, S);
			m = sum / M;
			for (size_t n = 0; n < L->N; n++)
				q += FN(sqdev)(j->x + (n * C + k) * S, S, m);
		} else { /* one run of Cg channels of one sample */
			size_t n = k / L->G, gi = k % L->G, run = L->Cg * S;
			const T *xr = j->x + (n * C + gi * L->Cg) * S;
			m = FN(sum)(xr, run) / M;
			q = FN(sqdev)(xr, run, m);
		}
		j->mean_out[k] = m;
		j->var_out[k] = q / M;
	}
}

/* Mean and biased variance of every statistics group. */
static KERNEL void FN(stats)(const layout *L, const void *xv,
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
		return;
	}
	FN(job) j = {.L = L, .x = x, .mean_out = mean, .var_out = var};
	nb__parallel_for(n_stats(L), FN(grain)(group_size(L)), FN(stats_range),
	                 &j);
}

/* The tail of a mean whose head is h = (T)m: 0 when h is infinite (an
 * infinite running mean, or a double beyond T's range), where m - h
 * would be inf - inf = NaN and the result NaN instead of +-inf. */
static inline KERNEL T FN(tail)(double m, T h)
{
	return isfinite(h) ? (T)(m - (double)h) : (T)0;
}

/* Per-channel coefficients of sample n: the mean's head and tail, and
 * p = gamma * invstd. */
static KERNEL void FN(coefs)(const layout *L, size_t n, const double *mean,
                      const double *invstd, const T *w, T *mh, T *ml,
                      T *p)
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
		T u = j->b ? j->b[c] : 0;
		const T *xr = j->x + r * S;
		T *yr = j->y + r * S;
		for (size_t i = 0; i < S; i++)
			yr[i] = ((xr[i] - h) - l) * s + u;
	}
}

/* y = (x - mean) * gamma * invstd + beta. */
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
		nb__parallel_for(L->N * C, FN(grain)(L->S), FN(apply_range), &j);
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
 * Backward pass 1, per channel c over its runs in n order: the run sums
 * sg = sum dy and sgx = sum dy (x - mean) (kept per run in rsg, rsgx),
 * dgamma[c] += sgx invstd and dbeta[c] += sg.
 */
static KERNEL void FN(bsums_range)(void *p, size_t lo, size_t hi)
{
	const FN(job) *j = p;
	const layout *L = j->L;
	size_t C = L->C, S = L->S;
	for (size_t c = lo; c < hi; c++)
		for (size_t n = 0; n < L->N; n++) {
			size_t r = n * C + c, k = FN(stat_of)(L, n, c);
			double sg, sgx;
			FN(gsums)(j->g + r * S, j->x + r * S, S, j->mean[k], &sg,
			          &sgx);
			j->rsg[r] = sg;
			j->rsgx[r] = sgx;
			j->dw[c] += sgx * j->invstd[k];
			j->db[c] += sg;
		}
}

/*
 * Backward pass 1: dw, db, and per statistic A = sum(dxhat) = sum gamma
 * sg and B = sum(dxhat * xhat) / invstd = sum gamma sgx.  rs holds 2 N C
 * doubles of scratch.
 */
static KERNEL void FN(bsums)(const layout *L, const T *x, const T *g,
                      const double *mean, const double *invstd,
                      const T *w, double *dw, double *db, double *A,
                      double *B, double *rs)
{
	size_t C = L->C;
	if (L->batch && L->S == 1) { /* [N, C]: along the channels */
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
		return;
	}
	FN(job) j = {.L = L, .x = x, .g = g, .mean = mean, .invstd = invstd,
	             .dw = dw, .db = db, .rsg = rs, .rsgx = rs + L->N * C};
	nb__parallel_for(C, FN(grain)(L->N * L->S), FN(bsums_range), &j);
	for (size_t n = 0; n < L->N; n++) /* serial: a fixed order */
		for (size_t c = 0; c < C; c++) {
			size_t r = n * C + c, k = FN(stat_of)(L, n, c);
			double wc = w ? (double)w[c] : 1.0;
			A[k] += wc * j.rsg[r];
			B[k] += wc * j.rsgx[r];
		}
}

/* dx += k1 dy + k2 (x - mean) + k3 over runs [lo, hi) (see below). */
static KERNEL void FN(bwd_range)(void *p, size_t lo, size_t hi)
{
	const FN(job) *j = p;
	const layout *L = j->L;
	size_t C = L->C, S = L->S;
	double M = (double)group_size(L);
	for (size_t r = lo; r < hi; r++) {
		size_t n = r / C, c = r % C, k = FN(stat_of)(L, n, c);
		double is = j->invstd[k];
		T h = (T)j->mean[k], l = FN(tail)(j->mean[k], h);
		T k1 = (T)((j->w ? (double)j->w[c] : 1.0) * is);
		T k2 = j->batch_stats ? (T)(-is * is * is * j->B[k] / M) : 0;
		T k3 = j->batch_stats ? (T)(-is * j->A[k] / M) : 0;
		const T *xr = j->x + r * S, *gr = j->g + r * S;
		T *dr = j->dx + r * S;
		/* Fixed statistics: dx depends on neither x nor the mean
		 * (k2 = k3 = 0 would still turn a NaN x into NaN). */
		if (!j->batch_stats)
			for (size_t i = 0; i < S; i++)
				dr[i] += k1 * gr[i];
		else
			for (size_t i = 0; i < S; i++)
				dr[i] += k1 * gr[i] + k2 * ((xr[i] - h) - l) +
				         k3;
	}
}

/*
 * Backward pass 2, in memory order:
 *   dx += gamma invstd dy - invstd A / M - invstd^3 (x - mean) B / M
 * (the last two terms only with batch statistics) as k1 dy + k2 (x -
 * mean) + k3 with per-channel coefficients p, q, r.
 */
static KERNEL void FN(backward)(const layout *L, const void *xv,
                                const void *gv, const double *mean,
                                const double *invstd, bool batch_stats,
                                const void *wv, void *dxv, double *dw,
                                double *db, double *A, double *B,
                                void *cov, double *rs)
{
	const T *x = xv, *g = gv, *w = wv;
	T *dx = dxv, *co = cov;
	size_t C = L->C;
	double M = (double)group_size(L);
	FN(bsums)(L, x, g, mean, invstd, w, dw, db, A, B, rs);
	if (!dx)
		return;
	if (L->S > 1) {
		FN(job) j = {.L = L, .x = x, .g = g, .w = w, .dx = dx,
		             .mean = mean, .invstd = invstd, .A = A, .B = B,
		             .batch_stats = batch_stats};
		nb__parallel_for(L->N * C, FN(grain)(L->S), FN(bwd_range), &j);
		return;
	}
	T *mh = co, *ml = co + C, *p = co + 2 * C;
	T *q = co + 3 * C, *r = co + 4 * C;
	for (size_t n = 0; n < L->N; n++) { /* [N, C]: along the channels */
		if (n == 0 || !L->batch) {
			FN(coefs)(L, n, mean, invstd, w, mh, ml, p);
			for (size_t c = 0; c < C; c++) {
				size_t k = stat0(L, n) + c / L->Cg;
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

/* layer_norm's per-call state for the parallel loops below. */
typedef struct FN(ln_job) {
	size_t rows, D;
	const T *x, *g, *w, *b;
	T *y, *dx;
	double eps, *mean, *invstd, *dw, *db;
} FN(ln_job);

static KERNEL void FN(ln_forward_rows)(void *p, size_t lo, size_t hi)
{
	const FN(ln_job) *j = p;
	size_t D = j->D;
	for (size_t n = lo; n < hi; n++) {
		const T *xr = j->x + n * D;
		T *yr = j->y + n * D;
		double m = FN(sum)(xr, D) / (double)D;
		double is = 1 / sqrt(FN(sqdev)(xr, D, m) / (double)D + j->eps);
		j->mean[n] = m;
		j->invstd[n] = is;
		T h = (T)m, l = FN(tail)(m, h), s = (T)is;
		if (j->w)
			for (size_t d = 0; d < D; d++)
				yr[d] = ((xr[d] - h) - l) * s * j->w[d] + j->b[d];
		else
			for (size_t d = 0; d < D; d++)
				yr[d] = ((xr[d] - h) - l) * s;
	}
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
	nb__parallel_for(rows, FN(grain)(D), FN(ln_forward_rows), &j);
}

/* dw += g (x - m) invstd and db += g over one stretch of a row
 * (restrict: the four arrays never overlap, so this vectorizes). */
static KERNEL void FN(ln_wgrad)(size_t len, const T *restrict x,
                         const T *restrict g, double m, double is,
                         double *restrict dw, double *restrict db)
{
	for (size_t d = 0; d < len; d++) {
		dw[d] += g[d] * ((x[d] - m) * is);
		db[d] += g[d];
	}
}

enum { FN(LN_BLOCK) = 256 };

/* dw and db of column blocks [lo, hi): every row, in row order. */
static KERNEL void FN(ln_wgrad_blocks)(void *p, size_t lo, size_t hi)
{
	const FN(ln_job) *j = p;
	size_t D = j->D, rows = j->rows;
	for (size_t k = lo; k < hi; k++) {
		size_t d0 = k * FN(LN_BLOCK);
		size_t len = d0 + FN(LN_BLOCK) < D ? FN(LN_BLOCK) : D - d0;
		for (size_t n = 0; n < rows; n++)
			FN(ln_wgrad)(len, j->x + n * D + d0, j->g + n * D + d0,
			             j->mean[n], j->invstd[n], j->dw + d0,
			             j->db + d0);
	}
}

/* dx of rows [lo, hi): A = sum w g and B = sum w g (x - m) per row, then
 * dx += invstd (w g) - invstd^3 (x - m) B / D - invstd A / D. */
static KERNEL void FN(ln_dx_rows)(void *p, size_t lo, size_t hi)
{
	const FN(ln_job) *j = p;
	size_t D = j->D;
	const T *w = j->w;
	for (size_t n = lo; n < hi; n++) {
		const T *xr = j->x + n * D, *gr = j->g + n * D;
		double m = j->mean[n], is = j->invstd[n];
		double a[NB_NORM_LANES] = {0}, bb[NB_NORM_LANES] = {0};
		size_t d = 0;
		/* in lanes, as FN(sum) */
		for (; d + NB_NORM_LANES <= D; d += NB_NORM_LANES)
			for (int q = 0; q < NB_NORM_LANES; q++) {
				double wg = (w ? (double)w[d + q] : 1.0) * gr[d + q];
				a[q] += wg;
				bb[q] += wg * (xr[d + q] - m);
			}
		for (; d < D; d++) {
			double wg = (w ? (double)w[d] : 1.0) * gr[d];
			a[0] += wg;
			bb[0] += wg * (xr[d] - m);
		}
		double A = lanes_total(a), B = lanes_total(bb);
		T *dr = j->dx + n * D;
		T h = (T)m, l = FN(tail)(m, h), k1 = (T)is;
		T k2 = (T)(-is * is * is * B / (double)D);
		T k3 = (T)(-is * A / (double)D);
		if (w)
			for (d = 0; d < D; d++)
				dr[d] += k1 * w[d] * gr[d] +
				         k2 * ((xr[d] - h) - l) + k3;
		else
			for (d = 0; d < D; d++)
				dr[d] += k1 * gr[d] +
				         k2 * ((xr[d] - h) - l) + k3;
	}
}

/*
 * layer_norm backward: dw and db sum over rows, by column blocks so that
 * a block of dw and db stays in cache while the rows stream past (the
 * blocks in parallel); then dx, rows in parallel.
 */
static KERNEL void FN(ln_backward)(size_t rows, size_t D, const void *x,
                                   const void *g, const void *w,
                                   const double *mean,
                                   const double *invstd, void *dx,
                                   double *dw, double *db)
{
	FN(ln_job) j = {.D = D, .x = x, .g = g, .w = w, .dx = dx,
	                .mean = (double *)mean, .invstd = (double *)invstd,
	                .dw = dw, .db = db, .rows = rows};
	size_t blocks = (D + FN(LN_BLOCK) - 1) / FN(LN_BLOCK);
	nb__parallel_for(blocks, FN(grain)(rows * FN(LN_BLOCK)),
	                 FN(ln_wgrad_blocks), &j);
	if (dx)
		nb__parallel_for(rows, FN(grain)(D), FN(ln_dx_rows), &j);
}

static const norm_kernels FN(kernels) = {
	FN(stats), FN(apply), FN(backward), FN(ln_forward), FN(ln_backward),
};

#undef FN__
#undef FN_
#undef FN
