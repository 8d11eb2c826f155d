/*
 * conv_kernels.h - the loops of conv.c for one element type.  Private.
 *
 * A template, as norm_kernels.h: conv.c includes it twice, with T
 * defined as float and then as double; FN(name) makes name_float and
 * name_double.  Relies on conv.c's geom type and helpers.
 *
 * Parallel work is split over samples (im2col, col2im, the copies
 * around the GEMMs) or over [n, c] planes (pooling): each task writes
 * its own memory, and every sum keeps the serial order, so results do
 * not depend on the thread count.  The GEMMs run on the caller's
 * thread, one per group and block of samples (BLAS has its own
 * threads).
 */
#ifndef T
#error "conv_kernels.h is a template for conv.c: define T first"
#endif

#define FN(name) FN_(name, T)
#define FN_(name, t) FN__(name, t)
#define FN__(name, t) name##_##t

/*
 * One sample's columns: row (c, i, j) of the C*KH*KW rows holds, at
 * column oy*OW + ox, x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw], or 0
 * in the padding.  Rows are ld elements apart (the block's width).
 */
static void FN(im2col)(const geom *q, const T *x, T *col, size_t ld)
{
	for (int64_t ch = 0; ch < q->C; ch++)
		for (int64_t i = 0; i < q->KH; i++)
			for (int64_t j = 0; j < q->KW; j++) {
				T *row = col + (size_t)((ch * q->KH + i) * q->KW + j) * ld;
				int64_t yoff = i * q->dh - q->ph, xoff = j * q->dw - q->pw;
				int64_t ylo, yhi, xlo, xhi;
				valid_range(yoff, q->sh, q->H, q->OH, &ylo, &yhi);
				valid_range(xoff, q->sw, q->W, q->OW, &xlo, &xhi);
				for (int64_t oy = 0; oy < q->OH; oy++) {
					T *r = row + oy * q->OW;
					if (oy < ylo || oy >= yhi) {
						for (int64_t ox = 0; ox < q->OW; ox++)
							r[ox] = 0;
						continue;
					}
					const T *xr = x + (ch * q->H + oy * q->sh + yoff) * q->W
					              + xoff;
					for (int64_t ox = 0; ox < xlo; ox++)
						r[ox] = 0;
					if (q->sw == 1)
						memcpy(r + xlo, xr + xlo,
						       (size_t)(xhi - xlo) * sizeof *r);
					else
						for (int64_t ox = xlo; ox < xhi; ox++)
							r[ox] = xr[ox * q->sw];
					for (int64_t ox = xhi; ox < q->OW; ox++)
						r[ox] = 0;
				}
			}
}

/* The adjoint of im2col: dx[c, iy, ix] += every column entry read from
 * there (the padding's entries are dropped). */
static void FN(col2im)(const geom *q, const T *col, T *dx, size_t ld)
{
	for (int64_t ch = 0; ch < q->C; ch++)
		for (int64_t i = 0; i < q->KH; i++)
			for (int64_t j = 0; j < q->KW; j++) {
				const T *row = col +
				    (size_t)((ch * q->KH + i) * q->KW + j) * ld;
				int64_t yoff = i * q->dh - q->ph, xoff = j * q->dw - q->pw;
				int64_t ylo, yhi, xlo, xhi;
				valid_range(yoff, q->sh, q->H, q->OH, &ylo, &yhi);
				valid_range(xoff, q->sw, q->W, q->OW, &xlo, &xhi);
				for (int64_t oy = ylo; oy < yhi; oy++) {
					const T *r = row + oy * q->OW;
					T *dr = dx + (ch * q->H + oy * q->sh + yoff) * q->W
					        + xoff;
					for (int64_t ox = xlo; ox < xhi; ox++)
						dr[ox * q->sw] += r[ox];
				}
			}
}

/* What the parallel loops over the samples of a block share. */
typedef struct FN(conv_job) {
	const geom *q;
	size_t n0;       /* the block's first sample */
	size_t ld;       /* the block's width: samples * OH * OW */
	const T *x, *gout, *bias;
	T *dx, *y;
	T *col;          /* [C*KH*KW, ld] */
	T *mat;          /* [C_out, ld]: the GEMM's result or gout gathered */
} FN(conv_job);

static void FN(im2col_range)(void *p, size_t lo, size_t hi)
{
	const FN(conv_job) *j = p;
	const geom *q = j->q;
	size_t L = (size_t)(q->OH * q->OW), in = (size_t)(q->C * q->H * q->W);
	for (size_t b = lo; b < hi; b++)
		FN(im2col)(q, j->x + (j->n0 + b) * in, j->col + b * L, j->ld);
}

static void FN(col2im_range)(void *p, size_t lo, size_t hi)
{
	const FN(conv_job) *j = p;
	const geom *q = j->q;
	size_t L = (size_t)(q->OH * q->OW), in = (size_t)(q->C * q->H * q->W);
	for (size_t b = lo; b < hi; b++)
		FN(col2im)(q, j->col + b * L, j->dx + (j->n0 + b) * in, j->ld);
}

/* y[n, o, :] = mat[o, b*L ...] + bias[o] for the block's samples. */
static void FN(scatter_range)(void *p, size_t lo, size_t hi)
{
	const FN(conv_job) *j = p;
	size_t L = (size_t)(j->q->OH * j->q->OW), O = (size_t)j->q->O;
	for (size_t b = lo; b < hi; b++)
		for (size_t o = 0; o < O; o++) {
			const T *src = j->mat + o * j->ld + b * L;
			T *dst = j->y + ((j->n0 + b) * O + o) * L;
			T add = j->bias ? j->bias[o] : 0;
			for (size_t l = 0; l < L; l++)
				dst[l] = src[l] + add;
		}
}

/* mat[o, b*L ...] = gout[n, o, :]. */
static void FN(gather_range)(void *p, size_t lo, size_t hi)
{
	const FN(conv_job) *j = p;
	size_t L = (size_t)(j->q->OH * j->q->OW), O = (size_t)j->q->O;
	for (size_t b = lo; b < hi; b++)
		for (size_t o = 0; o < O; o++)
			memcpy(j->mat + o * j->ld + b * L,
			       j->gout + ((j->n0 + b) * O + o) * L, L * sizeof(T));
}

/* The column and matrix buffers of a block of B samples; NULL (and
 * NB_ENOMEM recorded) if they do not fit. */
static T *FN(conv_buffers)(nb_op_ctx *c, const geom *q, size_t B, T **mat)
{
	size_t rows = (size_t)(q->C * q->KH * q->KW), ld;
	size_t ncol, nmat;
	*mat = NULL;
	if (!mul_ok(B, (size_t)(q->OH * q->OW), &ld) ||
	    !mul_ok(rows, ld, &ncol) || !mul_ok(ncol, sizeof(T), &ncol) ||
	    !mul_ok((size_t)q->O, ld, &nmat) ||
	    !mul_ok(nmat, sizeof(T), &nmat)) {
		nb_op_fail(c, NB_ENOMEM, "out of memory: the columns do not fit "
		           "in memory");
		return NULL;
	}
	T *col = nb__op_temp(c, ncol ? ncol : 1);
	*mat = col ? nb__op_temp(c, nmat ? nmat : 1) : NULL;
	if (!*mat) {
		nb__op_temp_free(c, col);
		nb_op_fail(c, NB_ENOMEM, "out of memory for the columns (%zu "
		           "bytes)", ncol + nmat);
		return NULL;
	}
	return col;
}

/* y = W * im2col(x) + b (bias may be NULL), per group, a block of
 * samples at a time; y is written, not added to.  conv2d's forward and
 * conv_transpose2d's input gradient. */
static nb_status FN(conv_forward)(nb_op_ctx *c, const geom *q, nb_dtype dt,
                                  const T *x, const T *w, const T *bias,
                                  T *y)
{
	if (!q->N || !q->O) /* an empty result; the sizes below may not be */
		return NB_OK;
	size_t N = (size_t)q->N, L = (size_t)(q->OH * q->OW);
	size_t Og = (size_t)(q->O / q->G), K = (size_t)(q->C / q->G * q->KH *
	                                                q->KW);
	size_t B = block_size(q), grain = sample_grain(q), W = sample_work(q);
	T *mat, *col = FN(conv_buffers)(c, q, B, &mat);
	if (!col)
		return NB_ENOMEM;
	FN(conv_job) j = {.q = q, .x = x, .y = y, .bias = bias, .col = col,
	                  .mat = mat};
	for (size_t n0 = 0; n0 < N; n0 += B) {
		size_t nb = N - n0 < B ? N - n0 : B;
		j.n0 = n0;
		j.ld = nb * L;
		nb__parallel_for(nb, grain, W, FN(im2col_range), &j);
		for (int64_t g = 0; g < q->G; g++)
			nb__gemm(dt, false, false, (int64_t)Og, (int64_t)j.ld,
			         (int64_t)K, 1.0, w + (size_t)g * Og * K,
			         (int64_t)K, col + (size_t)g * K * j.ld,
			         (int64_t)j.ld, 0.0, mat + (size_t)g * Og * j.ld,
			         (int64_t)j.ld);
		nb__parallel_for(nb, grain, W, FN(scatter_range), &j);
	}
	nb__op_temp_free(c, col);
	nb__op_temp_free(c, mat);
	return NB_OK;
}

/* Sum of n elements in double, in a fixed order. */
static double FN(sum)(const T *x, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += x[i];
	return s;
}

/*
 * With G = gout gathered into [C_out, samples * L] and X = im2col(x):
 * dW += G X^T and dX = col2im(W^T G), per group; db += the sums of
 * gout over samples and positions.  dx, dw and db may each be NULL (not
 * wanted); x is read only for dw.  conv2d's backward, and
 * conv_transpose2d's forward (dx) and weight gradient (dw).
 */
static nb_status FN(conv_backward)(nb_op_ctx *c, const geom *q, nb_dtype dt,
                                   const T *x, const T *w, const T *go,
                                   T *dx, T *dw, T *db)
{
	if (!q->N || !q->O)
		return NB_OK;
	size_t N = (size_t)q->N, L = (size_t)(q->OH * q->OW), O = (size_t)q->O;
	size_t Og = O / (size_t)q->G, K = (size_t)(q->C / q->G * q->KH * q->KW);
	size_t B = block_size(q), grain = sample_grain(q), W = sample_work(q);
	if (db) {
		for (size_t o = 0; o < O; o++) {
			double s = 0;
			for (size_t n = 0; n < N; n++)
				s += FN(sum)(go + (n * O + o) * L, L);
			db[o] += (T)s;
		}
	}
	if (!dx && !dw)
		return NB_OK;
	T *mat, *col = FN(conv_buffers)(c, q, B, &mat);
	if (!col)
		return NB_ENOMEM;
	FN(conv_job) j = {.q = q, .x = x, .gout = go, .dx = dx, .col = col,
	                  .mat = mat};
	for (size_t n0 = 0; n0 < N; n0 += B) {
		size_t nb = N - n0 < B ? N - n0 : B;
		int64_t ld = (int64_t)(nb * L);
		j.n0 = n0;
		j.ld = nb * L;
		nb__parallel_for(nb, grain, W, FN(gather_range), &j);
		if (dw) {
			nb__parallel_for(nb, grain, W, FN(im2col_range), &j);
			for (int64_t g = 0; g < q->G; g++)
				nb__gemm(dt, false, true, (int64_t)Og, (int64_t)K, ld,
				         1.0, mat + (size_t)g * Og * j.ld, ld,
				         col + (size_t)g * K * j.ld, ld, 1.0,
				         dw + (size_t)g * Og * K, (int64_t)K);
		}
		if (dx) {
			for (int64_t g = 0; g < q->G; g++)
				nb__gemm(dt, true, false, (int64_t)K, ld, (int64_t)Og,
				         1.0, w + (size_t)g * Og * K, (int64_t)K,
				         mat + (size_t)g * Og * j.ld, ld, 0.0,
				         col + (size_t)g * K * j.ld, ld);
			nb__parallel_for(nb, grain, W, FN(col2im_range), &j);
		}
	}
	nb__op_temp_free(c, col);
	nb__op_temp_free(c, mat);
	return NB_OK;
}

/* ---- pooling: one [n, c] plane at a time ---- */

typedef struct FN(pool_job) {
	const geom *q;
	bool is_max, include_pad;
	bool fresh;      /* backward: dx holds nothing yet (zeroed here) */
	const T *x, *gout;
	T *y, *dx;
	int32_t *idx;    /* max: each output's argmax in its plane, or NULL */
} FN(pool_job);

/*
 * The maximum of a window and (*at) the index in the plane of its first
 * maximal element, as PyTorch's kernel picks it: a NaN wins over
 * numbers, a later NaN over an earlier one; a window of -inf gives its
 * first element.  The first loop has no NaN test in its selects, so
 * that they compile to conditional moves (maxima of random data
 * mispredict branches); a window with a NaN is searched again.
 */
static inline T FN(window_max)(const geom *q, const T *x, int64_t y0,
                               int64_t y1, int64_t x0, int64_t x1,
                               int64_t *at)
{
	int64_t best = y0 * q->W + x0;
	T m = -(T)INFINITY;
	bool nan = false;
	for (int64_t iy = y0; iy < y1; iy++) {
		const T *row = x + iy * q->W;
		for (int64_t ix = x0; ix < x1; ix++) {
			T v = row[ix];
			nan |= v != v;
			best = v > m ? iy * q->W + ix : best;
			m = v > m ? v : m;
		}
	}
	for (int64_t iy = y0; nan && iy < y1; iy++)
		for (int64_t ix = x0; ix < x1; ix++) {
			T v = x[iy * q->W + ix];
			if (v != v) {
				m = v;
				best = iy * q->W + ix;
			}
		}
	*at = best;
	return m;
}

/*
 * max_pool2d's most common case, 2x2 windows with stride 2 and no
 * padding (issue 17: 10-15% of the cnn step went to the general loop),
 * for one plane: every window lies inside it, so the four values are
 * read directly and compared in window_max's order (the first maximum
 * wins); a window with a NaN goes to window_max for its NaN rule.
 */
static void FN(max2x2_plane)(const geom *q, const T *x, T *y, int32_t *idx)
{
	for (int64_t oy = 0; oy < q->OH; oy++) {
		const T *r0 = x + 2 * oy * q->W, *r1 = r0 + q->W;
		int64_t base = 2 * oy * q->W;
		for (int64_t ox = 0; ox < q->OW; ox++) {
			T a = r0[2 * ox], b = r0[2 * ox + 1];
			T c = r1[2 * ox], d = r1[2 * ox + 1];
			int64_t at = base + 2 * ox, o = oy * q->OW + ox;
			if (a != a || b != b || c != c || d != d) {
				y[o] = FN(window_max)(q, x, 2 * oy, 2 * oy + 2, 2 * ox,
				                      2 * ox + 2, &at);
			} else {
				/* -inf < a unless a is -inf: then a stays first.  The
				 * index by masks and the maximum by a select that
				 * compiles to maxss: no branch to mispredict (ties
				 * and zeros after a relu are common). */
				T m = a;
				int64_t g = -(int64_t)(b > m);
				at ^= (at ^ (base + 2 * ox + 1)) & g;
				m = b > m ? b : m;
				g = -(int64_t)(c > m);
				at ^= (at ^ (base + q->W + 2 * ox)) & g;
				m = c > m ? c : m;
				g = -(int64_t)(d > m);
				at ^= (at ^ (base + q->W + 2 * ox + 1)) & g;
				m = d > m ? d : m;
				y[o] = m;
			}
			if (idx)
				idx[o] = (int32_t)at;
		}
	}
}

static void FN(pool_fwd_range)(void *p, size_t lo, size_t hi)
{
	const FN(pool_job) *j = p;
	const geom *q = j->q;
	size_t in = (size_t)(q->H * q->W), out = (size_t)(q->OH * q->OW);
	bool two = j->is_max && q->KH == 2 && q->KW == 2 && q->sh == 2 &&
	           q->sw == 2 && !q->ph && !q->pw;
	for (size_t k = lo; k < hi; k++) {
		const T *x = j->x + k * in;
		T *y = j->y + k * out;
		int32_t *idx = j->idx ? j->idx + k * out : NULL;
		if (two) {
			FN(max2x2_plane)(q, x, y, idx);
			continue;
		}
		for (int64_t oy = 0; oy < q->OH; oy++) {
			int64_t y0, y1, yn = span(oy, q->sh, q->ph, q->KH, q->H, &y0,
			                          &y1);
			for (int64_t ox = 0; ox < q->OW; ox++) {
				int64_t x0, x1, xn = span(ox, q->sw, q->pw, q->KW, q->W,
				                          &x0, &x1), at;
				size_t o = (size_t)(oy * q->OW + ox);
				if (j->is_max) {
					y[o] = FN(window_max)(q, x, y0, y1, x0, x1, &at);
					if (idx)
						idx[o] = (int32_t)at;
					continue;
				}
				double s = 0;
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						s += x[iy * q->W + ix];
				y[o] = (T)(s / divisor(j->include_pad, yn, xn, y0, y1, x0,
				                       x1));
			}
		}
	}
}

static void FN(pool_bwd_range)(void *p, size_t lo, size_t hi)
{
	const FN(pool_job) *j = p;
	const geom *q = j->q;
	size_t in = (size_t)(q->H * q->W), out = (size_t)(q->OH * q->OW);
	for (size_t k = lo; k < hi; k++) {
		const T *x = j->x + k * in, *g = j->gout + k * out;
		T *dx = j->dx + k * in;
		/* a fresh dx is zeroed a plane at a time, just before its
		 * windows add into it while it is in cache */
		if (j->fresh)
			memset(dx, 0, in * sizeof *dx);
		if (j->idx) { /* max, with the argmax saved by forward */
			const int32_t *idx = j->idx + k * out;
			for (size_t o = 0; o < out; o++)
				dx[idx[o]] += g[o];
			continue;
		}
		for (int64_t oy = 0; oy < q->OH; oy++) {
			int64_t y0, y1, yn = span(oy, q->sh, q->ph, q->KH, q->H, &y0,
			                          &y1);
			for (int64_t ox = 0; ox < q->OW; ox++) {
				int64_t x0, x1, xn = span(ox, q->sw, q->pw, q->KW, q->W,
				                          &x0, &x1), at;
				T gv = g[oy * q->OW + ox];
				if (j->is_max) {
					FN(window_max)(q, x, y0, y1, x0, x1, &at);
					dx[at] += gv;
					continue;
				}
				T share = (T)(gv / divisor(j->include_pad, yn, xn, y0, y1,
				                           x0, x1));
				for (int64_t iy = y0; iy < y1; iy++)
					for (int64_t ix = x0; ix < x1; ix++)
						dx[iy * q->W + ix] += share;
			}
		}
	}
}

/* Forward (y) or backward (dx; fresh: not zeroed yet) of a pooling op;
 * idx as in the job. */
static void FN(pool)(const geom *q, bool is_max, bool include_pad,
                     const nb_tensor *x, const nb_tensor *gout,
                     nb_tensor *y, nb_tensor *dx, bool fresh, int32_t *idx)
{
	FN(pool_job) j = {.q = q, .is_max = is_max, .include_pad = include_pad,
	                  .fresh = fresh,
	                  .x = x->data, .gout = gout ? gout->data : NULL,
	                  .y = y ? y->data : NULL, .dx = dx ? dx->data : NULL,
	                  .idx = idx};
	size_t planes = (size_t)(q->N * q->C);
	/* unsigned: a kernel of 2^32 x 2^32 fits a 1 x 1 input padded by
	 * 2^31; the grain only needs to be large for small planes */
	size_t per = (size_t)q->H * (size_t)q->W +
	             (size_t)q->OH * (size_t)q->OW * (size_t)q->KH *
	             (size_t)q->KW;
	size_t grain = per && per < 32768 ? 32768 / per : 1;
	nb__parallel_for(planes, grain ? grain : 1, per,
	                 dx ? FN(pool_bwd_range) : FN(pool_fwd_range), &j);
}
