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

#define FN(name) FN_(name, T)
#define FN_(name, t) FN__(name, t)
#define FN__(name, t) name##_##t

static double FN(sum)(const T *x, size_t n)
{
	double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		a0 += x[i];
		a1 += x[i + 1];
		a2 += x[i + 2];
		a3 += x[i + 3];
	}
	for (; i < n; i++)
		a0 += x[i];
	return (a0 + a1) + (a2 + a3);
}

/* sum (x - m)^2 */
static double FN(sqdev)(const T *x, size_t n, double m)
{
	double a0 = 0, a1 = 0;
	size_t i = 0;
	for (; i + 2 <= n; i += 2) {
		double d0 = x[i] - m, d1 = x[i + 1] - m;
		a0 += d0 * d0;
		a1 += d1 * d1;
	}
	for (; i < n; i++)
		a0 += (x[i] - m) * (x[i] - m);
	return a0 + a1;
}

/* *sg = sum g, *sgx = sum g (x - m) */
static void FN(gsums)(const T *g, const T *x, size_t n, double m,
                      double *sg, double *sgx)
{
	double a = 0, b = 0;
	for (size_t i = 0; i < n; i++) {
		a += g[i];
		b += g[i] * (x[i] - m);
	}
	*sg = a;
	*sgx = b;
}

/* Mean and biased variance of every statistics group. */
static void FN(stats)(const layout *L, const T *x, double *mean,
                      double *var)
{
	size_t C = L->C, S = L->S, run = L->Cg * S;
	size_t ns = n_stats(L);
	double M = (double)group_size(L);
	if (L->batch && S == 1) { /* [N, C]: rows of channels */
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
	} else {
		for (size_t n = 0; n < L->N; n++)
			for (size_t gi = 0; gi < L->G; gi++)
				mean[stat0(L, n) + gi] +=
				    FN(sum)(x + (n * C + gi * L->Cg) * S, run);
		for (size_t k = 0; k < ns; k++)
			mean[k] /= M;
		for (size_t n = 0; n < L->N; n++)
			for (size_t gi = 0; gi < L->G; gi++) {
				size_t k = stat0(L, n) + gi;
				const T *xr = x + (n * C + gi * L->Cg) * S;
				var[k] += FN(sqdev)(xr, run, mean[k]);
			}
	}
	for (size_t k = 0; k < ns; k++)
		var[k] /= M;
}

/* Per-channel coefficients of sample n: the mean's head and tail, and
 * p = gamma * invstd. */
static void FN(coefs)(const layout *L, size_t n, const double *mean,
                      const double *invstd, const T *w, T *mh, T *ml,
                      T *p)
{
	for (size_t gi = 0; gi < L->G; gi++) {
		size_t k = stat0(L, n) + gi;
		for (size_t j = 0; j < L->Cg; j++) {
			size_t c = gi * L->Cg + j;
			mh[c] = (T)mean[k];
			ml[c] = (T)(mean[k] - (double)mh[c]);
			p[c] = (T)((w ? (double)w[c] : 1.0) * invstd[k]);
		}
	}
}

/* y = (x - mean) * gamma * invstd + beta, in memory order. */
static void FN(apply)(const layout *L, const T *x, T *y,
                      const double *mean, const double *invstd,
                      const T *w, const T *b, T *co)
{
	size_t C = L->C, S = L->S;
	T *mh = co, *ml = co + C, *p = co + 2 * C, *t = co + 3 * C;
	for (size_t c = 0; c < C; c++)
		t[c] = b ? b[c] : 0;
	for (size_t n = 0; n < L->N; n++) {
		if (n == 0 || !L->batch)
			FN(coefs)(L, n, mean, invstd, w, mh, ml, p);
		const T *xn = x + n * C * S;
		T *yn = y + n * C * S;
		if (S == 1) { /* [N, C]: along the channels */
			for (size_t c = 0; c < C; c++)
				yn[c] = ((xn[c] - mh[c]) - ml[c]) * p[c] + t[c];
			continue;
		}
		for (size_t c = 0; c < C; c++) {
			const T *xr = xn + c * S;
			T *yr = yn + c * S;
			T h = mh[c], l = ml[c], s = p[c], u = t[c];
			for (size_t i = 0; i < S; i++)
				yr[i] = ((xr[i] - h) - l) * s + u;
		}
	}
}

/*
 * Backward pass 1, per run of S: sg = sum dy and sgx = sum dy (x - mean),
 * giving per channel dgamma += sgx * invstd and dbeta += sg (dw, db) and
 * per statistic A = sum(dxhat) = sum gamma * sg and
 * B = sum(dxhat * xhat) / invstd = sum gamma * sgx.
 */
static void FN(bsums)(const layout *L, const T *x, const T *g,
                      const double *mean, const double *invstd,
                      const T *w, double *dw, double *db, double *A,
                      double *B)
{
	size_t C = L->C, S = L->S;
	if (L->batch && S == 1) { /* [N, C]: along the channels */
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
	for (size_t n = 0; n < L->N; n++)
		for (size_t gi = 0; gi < L->G; gi++) {
			size_t k = stat0(L, n) + gi;
			for (size_t j = 0; j < L->Cg; j++) {
				size_t c = gi * L->Cg + j;
				size_t o = (n * C + c) * S;
				double sg, sgx;
				FN(gsums)(g + o, x + o, S, mean[k], &sg, &sgx);
				double wc = w ? (double)w[c] : 1.0;
				dw[c] += sgx * invstd[k];
				db[c] += sg;
				A[k] += wc * sg;
				B[k] += wc * sgx;
			}
		}
}

/*
 * Backward pass 2, in memory order:
 *   dx += gamma invstd dy - invstd A / M - invstd^3 (x - mean) B / M
 * (the last two terms only with batch statistics) as k1 dy + k2 (x -
 * mean) + k3 with per-channel coefficients p, q, r.
 */
static void FN(backward)(const layout *L, const T *x, const T *g,
                         const double *mean, const double *invstd,
                         bool batch_stats, const T *w, T *dx, double *dw,
                         double *db, double *A, double *B, T *co)
{
	size_t C = L->C, S = L->S;
	double M = (double)group_size(L);
	FN(bsums)(L, x, g, mean, invstd, w, dw, db, A, B);
	if (!dx)
		return;
	T *mh = co, *ml = co + C, *p = co + 2 * C;
	T *q = co + 3 * C, *r = co + 4 * C;
	for (size_t n = 0; n < L->N; n++) {
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
		if (S == 1) {
			const T *xn = x + n * C, *gn = g + n * C;
			T *dn = dx + n * C;
			for (size_t c = 0; c < C; c++)
				dn[c] += p[c] * gn[c] + r[c] +
				         q[c] * ((xn[c] - mh[c]) - ml[c]);
			continue;
		}
		for (size_t c = 0; c < C; c++) {
			size_t o = (n * C + c) * S;
			const T *xr = x + o, *gr = g + o;
			T *dr = dx + o;
			T h = mh[c], l = ml[c], k1 = p[c], k2 = q[c], k3 = r[c];
			for (size_t i = 0; i < S; i++)
				dr[i] += k1 * gr[i] + k2 * ((xr[i] - h) - l) +
				         k3;
		}
	}
}

/* layer_norm: rows of D; w and b both given or both NULL. */
static void FN(ln_forward)(size_t rows, size_t D, const T *x, T *y,
                           const T *w, const T *b, double eps,
                           double *mean, double *invstd)
{
	for (size_t n = 0; n < rows; n++) {
		const T *xr = x + n * D;
		T *yr = y + n * D;
		double m = FN(sum)(xr, D) / (double)D;
		double is = 1 / sqrt(FN(sqdev)(xr, D, m) / (double)D + eps);
		mean[n] = m;
		invstd[n] = is;
		T h = (T)m, l = (T)(m - (double)h), s = (T)is;
		if (w)
			for (size_t d = 0; d < D; d++)
				yr[d] = ((xr[d] - h) - l) * s * w[d] + b[d];
		else
			for (size_t d = 0; d < D; d++)
				yr[d] = ((xr[d] - h) - l) * s;
	}
}

/* The two passes of FN(backward) for one row, gamma per element. */
static void FN(ln_backward)(size_t rows, size_t D, const T *x, const T *g,
                            const T *w, const double *mean,
                            const double *invstd, T *dx, double *dw,
                            double *db)
{
	for (size_t n = 0; n < rows; n++) {
		const T *xr = x + n * D, *gr = g + n * D;
		double m = mean[n], is = invstd[n], A = 0, B = 0;
		for (size_t d = 0; d < D; d++) {
			double gd = gr[d], xm = xr[d] - m;
			double wg = w ? w[d] * gd : gd;
			A += wg;
			B += wg * xm;
			dw[d] += gd * xm * is;
			db[d] += gd;
		}
		if (!dx)
			continue;
		T *dr = dx + n * D;
		T h = (T)m, l = (T)(m - (double)h), k1 = (T)is;
		T k2 = (T)(-is * is * is * B / (double)D);
		T k3 = (T)(-is * A / (double)D);
		if (w)
			for (size_t d = 0; d < D; d++)
				dr[d] += k1 * w[d] * gr[d] +
				         k2 * ((xr[d] - h) - l) + k3;
		else
			for (size_t d = 0; d < D; d++)
				dr[d] += k1 * gr[d] +
				         k2 * ((xr[d] - h) - l) + k3;
	}
}

#undef FN__
#undef FN_
#undef FN
