/*
 * rms_kernels.h - rms_norm's loops for one element type.  Private.  A
 * template: norm.c includes it with T defined as float and then as
 * double; RFN(name) makes name_float and name_double.  Sums run in
 * double in a fixed order, one row per unit of parallel work, so
 * results do not depend on the thread count.
 */
#ifndef T
#error "rms_kernels.h is a template for norm.c: define T first"
#endif

#define RFN(name) RFN_(name, T)
#define RFN_(name, t) RFN__(name, t)
#define RFN__(name, t) name##_##t

/* y = x * inv[r] * w, inv[r] = 1 / sqrt(mean(x^2) + eps) per row. */
static void RFN(rms_fwd)(void *p, size_t lo, size_t hi)
{
	const rms_job *j = p;
	const T *w = j->w;
	for (size_t r = lo; r < hi; r++) {
		const T *x = (const T *)j->x + r * j->D;
		T *y = (T *)j->y + r * j->D;
		double s = 0;
		for (size_t i = 0; i < j->D; i++)
			s += (double)x[i] * (double)x[i];
		double inv = 1 / sqrt(s / (double)j->D + j->eps);
		j->inv[r] = inv;
		const T t = (T)inv;
		if (w)
			for (size_t i = 0; i < j->D; i++)
				y[i] = x[i] * t * w[i];
		else
			for (size_t i = 0; i < j->D; i++)
				y[i] = x[i] * t;
	}
}

/*
 * With h = x inv and u = g w: dx += inv (u - h mean(u h)) per row.
 * The weight's gradient (sum over rows of g h) is summed by the caller.
 */
static void RFN(rms_bwd)(void *p, size_t lo, size_t hi)
{
	const rms_job *j = p;
	const T *w = j->w;
	for (size_t r = lo; r < hi; r++) {
		const T *x = (const T *)j->x + r * j->D;
		const T *g = (const T *)j->g + r * j->D;
		T *dx = (T *)j->dx + r * j->D;
		double inv = j->inv[r], s = 0;
		for (size_t i = 0; i < j->D; i++)
			s += (double)g[i] * (w ? (double)w[i] : 1.0) * (double)x[i];
		const T a = (T)inv, b = (T)(s * inv * inv * inv / (double)j->D);
		for (size_t i = 0; i < j->D; i++)
			dx[i] += a * g[i] * (w ? w[i] : (T)1) - b * x[i];
	}
}

/* dw[i] += sum over rows of g x inv: row by row into acc[D] (zeroed,
 * double), then added in T. */
static void RFN(rms_wgrad)(const rms_job *j, size_t rows, double *acc,
                           T *dw)
{
	for (size_t r = 0; r < rows; r++) {
		const T *g = (const T *)j->g + r * j->D;
		const T *x = (const T *)j->x + r * j->D;
		double inv = j->inv[r];
		for (size_t i = 0; i < j->D; i++)
			acc[i] += (double)g[i] * (double)x[i] * inv;
	}
	for (size_t i = 0; i < j->D; i++)
		dw[i] += (T)acc[i];
}

#undef RFN__
#undef RFN_
#undef RFN
