/*
 * convplus_kernels.h - the loops of convplus.c for one element type.
 * Private.  A template, as conv_kernels.h: convplus.c includes it with
 * T defined as float and then as double; FN(name) makes name_float and
 * name_double.  Relies on convplus.c's helpers.  Sums run in double in
 * a fixed order; planes are independent, so each parallel task writes
 * its own memory.
 */
#ifndef T
#error "convplus_kernels.h is a template for convplus.c: define T first"
#endif

#define FN(name) FN_(name, T)
#define FN_(name, t) FN__(name, t)
#define FN__(name, t) name##_##t

typedef struct FN(plane_job) {
	const plane_geom *q;
	const T *x, *g;
	T *y, *dx;
} FN(plane_job);

/* adaptive_avg_pool2d forward: each output is its window's mean. */
static void FN(adaptive_fwd)(void *p, size_t lo, size_t hi)
{
	const FN(plane_job) *j = p;
	const plane_geom *q = j->q;
	size_t in = (size_t)(q->H * q->W), out = (size_t)(q->OH * q->OW);
	for (size_t k = lo; k < hi; k++) {
		const T *x = j->x + k * in;
		T *y = j->y + k * out;
		for (int64_t oy = 0; oy < q->OH; oy++) {
			int64_t y0 = win_start(oy, q->H, q->OH);
			int64_t y1 = win_end(oy, q->H, q->OH);
			for (int64_t ox = 0; ox < q->OW; ox++) {
				int64_t x0 = win_start(ox, q->W, q->OW);
				int64_t x1 = win_end(ox, q->W, q->OW);
				double s = 0;
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						s += x[iy * q->W + ix];
				y[oy * q->OW + ox] = (T)(s / ((double)(y1 - y0) *
				                              (double)(x1 - x0)));
			}
		}
	}
}

/* Its gradient: each output's gradient shared over its window. */
static void FN(adaptive_bwd)(void *p, size_t lo, size_t hi)
{
	const FN(plane_job) *j = p;
	const plane_geom *q = j->q;
	size_t in = (size_t)(q->H * q->W), out = (size_t)(q->OH * q->OW);
	for (size_t k = lo; k < hi; k++) {
		const T *g = j->g + k * out;
		T *dx = j->dx + k * in;
		for (int64_t oy = 0; oy < q->OH; oy++) {
			int64_t y0 = win_start(oy, q->H, q->OH);
			int64_t y1 = win_end(oy, q->H, q->OH);
			for (int64_t ox = 0; ox < q->OW; ox++) {
				int64_t x0 = win_start(ox, q->W, q->OW);
				int64_t x1 = win_end(ox, q->W, q->OW);
				T share = (T)(g[oy * q->OW + ox] /
				              ((double)(y1 - y0) * (double)(x1 - x0)));
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						dx[iy * q->W + ix] += share;
			}
		}
	}
}

/* upsample_nearest2d forward: y[oy, ox] = x[rows[oy], cols[ox]]. */
static void FN(nearest_fwd)(void *p, size_t lo, size_t hi)
{
	const FN(plane_job) *j = p;
	const plane_geom *q = j->q;
	size_t in = (size_t)(q->H * q->W), out = (size_t)(q->OH * q->OW);
	for (size_t k = lo; k < hi; k++) {
		const T *x = j->x + k * in;
		T *y = j->y + k * out;
		for (int64_t oy = 0; oy < q->OH; oy++) {
			const T *xr = x + q->rows[oy] * q->W;
			T *yr = y + oy * q->OW;
			for (int64_t ox = 0; ox < q->OW; ox++)
				yr[ox] = xr[q->cols[ox]];
		}
	}
}

/* Its gradient: each output's gradient added to its source. */
static void FN(nearest_bwd)(void *p, size_t lo, size_t hi)
{
	const FN(plane_job) *j = p;
	const plane_geom *q = j->q;
	size_t in = (size_t)(q->H * q->W), out = (size_t)(q->OH * q->OW);
	for (size_t k = lo; k < hi; k++) {
		const T *g = j->g + k * out;
		T *dx = j->dx + k * in;
		for (int64_t oy = 0; oy < q->OH; oy++) {
			T *dr = dx + q->rows[oy] * q->W;
			const T *gr = g + oy * q->OW;
			for (int64_t ox = 0; ox < q->OW; ox++)
				dr[q->cols[ox]] += gr[ox];
		}
	}
}

/* dropout2d: y = x * keep[plane] / (1 - p), plane by plane (x * 0 for
 * a dropped plane, so that NaN and infinities stay NaN). */
static void FN(chan_drop)(const T *x, T *y, const unsigned char *mask,
                          size_t planes, size_t L, double scale)
{
	const T s = (T)scale;
	for (size_t k = 0; k < planes; k++) {
		const T *xp = x + k * L;
		T *yp = y + k * L;
		T m = mask[k] ? s : (T)0;
		for (size_t l = 0; l < L; l++)
			yp[l] = xp[l] * m;
	}
}

/* Its gradient: dx (+)= g * keep[plane] / (1 - p). */
static void FN(chan_drop_grad)(const T *g, T *dx, const unsigned char *mask,
                               size_t planes, size_t L, double scale,
                               bool fresh)
{
	const T s = (T)scale;
	for (size_t k = 0; k < planes; k++) {
		const T *gp = g + k * L;
		T *dp = dx + k * L;
		T m = mask[k] ? s : (T)0;
		if (fresh)
			for (size_t l = 0; l < L; l++)
				dp[l] = gp[l] * m;
		else
			for (size_t l = 0; l < L; l++)
				dp[l] += gp[l] * m;
	}
}

#undef FN__
#undef FN_
#undef FN
