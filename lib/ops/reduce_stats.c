/*
 * reduce_stats.c - prod, var, std, logsumexp and norm over chosen axes,
 * with keepdim: the reductions whose gradient needs the whole row.
 *
 * Each op packs its input into rows (reduce_rows.h: one row per result
 * element, in row-major order of the reduced axes), runs a kernel over
 * contiguous rows, and in backward adds the rows of its input gradient
 * back.  Values and gradients follow PyTorch 1.13's formulas (the
 * derivatives of tools/autograd/templates/FunctionsManual.cpp), edge
 * cases included: NaN and infinities propagate where PyTorch's do.
 */
#include <tgmath.h>
#include "reduce_rows.h"

/* ---- the attributes ---- */

typedef struct axes_attrs {
	nb_ints axes;
	bool keepdim;
} axes_attrs;

#define AXES_DEF(S)                                                          \
	{.name = "axes", .type = NB_ATTR_INTS, .offset = offsetof(S, axes),  \
	 .doc = "axes to reduce (PyTorch's dim; default: all)"}
#define KEEPDIM_DEF(S)                                                       \
	{.name = "keepdim", .type = NB_ATTR_BOOL,                            \
	 .offset = offsetof(S, keepdim), .def = 0,                           \
	 .doc = "keep reduced axes with size 1"}

static const nb_attr_def axes_defs[] = {
	AXES_DEF(axes_attrs),
	KEEPDIM_DEF(axes_attrs),
};

typedef struct var_attrs {
	nb_ints axes;
	int64_t correction;
	bool keepdim;
} var_attrs;

static const nb_attr_def var_defs[] = {
	AXES_DEF(var_attrs),
	{.name = "correction", .type = NB_ATTR_INT,
	 .offset = offsetof(var_attrs, correction), .def = 1,
	 .range = NB_UNBOUNDED,
	 .doc = "divide by N - correction (1: unbiased, Bessel's; 0: the "
	        "population's); N - correction <= 0 gives inf or NaN"},
	KEEPDIM_DEF(var_attrs),
};

typedef struct norm_attrs {
	double p;
	nb_ints axes;
	bool keepdim;
} norm_attrs;

static const nb_attr_def norm_defs[] = {
	{.name = "p", .type = NB_ATTR_FLOAT, .offset = offsetof(norm_attrs, p),
	 .def = 2, .range = NB_UNBOUNDED,
	 .doc = "the order: (sum |x|^p)^(1/p); inf: max |x|, -inf: min |x|, "
	        "0: the count of non-zeros (torch.linalg.vector_norm's ord)"},
	AXES_DEF(norm_attrs),
	KEEPDIM_DEF(norm_attrs),
};

static const nb_input_def stat_inputs[] = {
	{.name = "input"},
};

/* ---- the shared driver ---- */

/*
 * The rows of input 0 reduced over axes (already checked by the shape
 * rule), packed into *xr; NB_ENOMEM (recorded) if the scratch fails.
 */
static nb_status input_rows(nb_op_ctx *c, const nb_ints *axes, nb__rows *r,
                            void **xr)
{
	bool red[NB_MAX_DIMS];
	const nb_tensor *x = c->in[0];
	nb__reduce_axes(c, axes, red);
	nb__rows_init(r, x->ndim, x->shape, red);
	*xr = nb__rows_of(c, r, x);
	return *xr ? NB_OK : NB_ENOMEM;
}

/* A zeroed scratch of the rows' size, for the input gradient's rows. */
static void *grad_rows(nb_op_ctx *c, const nb__rows *r)
{
	int64_t n = (int64_t)(r->n_rows * r->len);
	nb_tensor *t = nb_op_scratch(c, c->in[0]->dtype, 1, &n);
	return t ? t->data : NULL;
}

/* What a row kernel needs besides the rows: the op's parameters. */
typedef struct row_arg {
	double p;           /* norm */
	int64_t correction; /* var, std */
	bool flag;          /* std (not var); prod: the input holds a 0 */
} row_arg;

/* y[r] = f(row r of x), for every row. */
typedef void (*row_fwd_fn)(size_t rows, size_t len, const void *x, void *y,
                           const row_arg *A);
/* Writes the rows of dx from x, y and the output gradient g. */
typedef void (*row_bwd_fn)(size_t rows, size_t len, const void *x,
                           const void *y, const void *g, void *dx,
                           const row_arg *A);

#define ROW_FWD(NAME, T)                                                     \
	static void NAME##_##T(size_t rows, size_t len, const void *xv,      \
	                       void *yv, const row_arg *A)
#define ROW_BWD(NAME, T)                                                     \
	static void NAME##_##T(size_t rows, size_t len, const void *xv,      \
	                       const void *yv, const void *gv, void *dxv,    \
	                       const row_arg *A)

/* Forward: the kernel of input 0's dtype over its rows. */
static nb_status rows_forward(nb_op_ctx *c, const nb_ints *axes,
                              row_fwd_fn f32, row_fwd_fn f64, row_arg arg)
{
	nb__rows r;
	void *xr;
	if (input_rows(c, axes, &r, &xr))
		return NB_ENOMEM;
	(c->in[0]->dtype == NB_F32 ? f32 : f64)(r.n_rows, r.len, xr,
	                                        c->out->data, &arg);
	return NB_OK;
}

/* Backward: the kernel writes the rows of dx, added into gin. */
static nb_status rows_backward(nb_op_ctx *c, const nb_ints *axes,
                               const nb_tensor *gout, nb_tensor *gin,
                               row_bwd_fn f32, row_bwd_fn f64, row_arg arg)
{
	nb__rows r;
	void *xr, *dr;
	if (input_rows(c, axes, &r, &xr) || !(dr = grad_rows(c, &r)))
		return NB_ENOMEM;
	(c->in[0]->dtype == NB_F32 ? f32 : f64)(r.n_rows, r.len, xr,
	                                        c->out->data, gout->data, dr,
	                                        &arg);
	nb__rows_add(&r, c->in[0]->dtype, dr, gin->data);
	return NB_OK;
}

/* Shape rule of the ops with axes_attrs. */
static nb_status axes_shape(nb_op_ctx *c, nb_result_def *res)
{
	const axes_attrs *a = c->attrs;
	return nb__reduce_shape(c, &a->axes, a->keepdim, res);
}

#define STAT_CASES "[3,4]; [3,4]|axes=1; [2,3,4]|axes=0,2 keepdim=1; " \
	"[2,3,4]|axes=-1; [5]|axes=0 keepdim=1"

/* ---- prod ---- */

/*
 * y = prod x.  dx_i = g prod_{j != i} x_j.  As PyTorch's prod_backward:
 * when the input holds no zero at all, g y / x_i (so an infinite x_i
 * gets NaN); otherwise the product of the others, from exclusive
 * products from both ends (one zero: only it gets a gradient; two or
 * more: none does).  A 0-d input gets g; over every axis (axes not
 * given: torch.prod(x)) two zeros or more give 0 outright, as PyTorch's
 * prod_backward, whatever else the input holds.
 */
#define PROD_T(T)                                                            \
	ROW_FWD(prod_fwd, T)                                                 \
	{                                                                    \
		const T *x = xv;                                             \
		T *y = yv;                                                   \
		(void)A;                                                     \
		for (size_t r = 0; r < rows; r++, x += len) {                \
			T p = 1;                                             \
			for (size_t j = 0; j < len; j++)                     \
				p *= x[j];                                   \
			y[r] = p;                                            \
		}                                                            \
	}                                                                    \
	ROW_BWD(prod_bwd, T)                                                 \
	{                                                                    \
		const T *x = xv, *y = yv, *g = gv;                           \
		T *dx = dxv;                                                 \
		for (size_t r = 0; r < rows; r++, x += len, dx += len) {     \
			if (!A->flag) {                                      \
				for (size_t j = 0; j < len; j++)             \
					dx[j] = g[r] * (y[r] / x[j]);        \
				continue;                                    \
			}                                                    \
			T left = 1, right = 1;                               \
			for (size_t j = 0; j < len; j++) {                   \
				dx[j] = left;                                \
				left *= x[j];                                \
			}                                                    \
			for (size_t j = len; j-- > 0;) {                     \
				dx[j] = g[r] * (dx[j] * right);              \
				right *= x[j];                               \
			}                                                    \
		}                                                            \
	}
PROD_T(float)
PROD_T(double)

static nb_status prod_forward(nb_op_ctx *c)
{
	const axes_attrs *a = c->attrs;
	return rows_forward(c, &a->axes, prod_fwd_float, prod_fwd_double,
	                    (row_arg){0});
}

/* How many zeros x holds, counting up to 2. */
static int zeros_upto2(const nb_tensor *x)
{
	int n = 0;
	for (size_t i = 0; i < x->numel && n < 2; i++)
		n += x->dtype == NB_F32 ? ((const float *)x->data)[i] == 0
		                        : ((const double *)x->data)[i] == 0;
	return n;
}

static nb_status prod_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const axes_attrs *a = c->attrs;
	if (c->in[0]->ndim == 0) {
		nb__tensor_acc(gin[0], gout);
		return NB_OK;
	}
	int zeros = zeros_upto2(c->in[0]);
	/* torch.prod(x) over all with two zeros or more: zeros, without
	 * computing (so NaN elsewhere does not reach the gradient) */
	if (a->axes.n == 0 && zeros > 1)
		return NB_OK;
	return rows_backward(c, &a->axes, gout, gin[0], prod_bwd_float,
	                     prod_bwd_double, (row_arg){.flag = zeros > 0});
}

static const nb_op_test prod_test = {.cases = STAT_CASES};

static const nb_op prod_op = {
	.version = NB_OP_VERSION, .name = "prod", .kind = NB_KIND_REDUCE,
	.doc = "product over axes (torch.prod(x, dim, keepdim); several axes "
	       "as over their flattening); exact gradient with zeros",
	.inputs = stat_inputs, .n_inputs = 1, .attrs = axes_defs,
	.n_attrs = 2, .attrs_size = sizeof(axes_attrs), .shape = axes_shape,
	.forward = prod_forward, .backward = prod_backward, .test = &prod_test,
};

/* ---- var and std ---- */

/*
 * var = sum (x - mean)^2 / max(N - correction, 0) (two passes), as
 * torch.var(x, dim, correction=c, keepdim); N - correction <= 0 divides
 * by 0 (inf, or NaN for a constant row).  dx = (2 / (N - correction))
 * g (x - mean), the divisor not clamped (as PyTorch's var_backward).
 * std = sqrt(var); dx is var's with g / (2 std), 0 where std == 0 (as
 * PyTorch's std_backward).
 */
#define VAR_T(T)                                                             \
	static T mean_##T(size_t len, const T *x)                            \
	{                                                                    \
		T s = 0;                                                     \
		for (size_t j = 0; j < len; j++)                             \
			s += x[j];                                           \
		return s / (T)len;                                           \
	}                                                                    \
	ROW_FWD(var_fwd, T)                                                  \
	{                                                                    \
		const T *x = xv;                                             \
		T *y = yv;                                                   \
		double dof = (double)len - (double)A->correction;            \
		T div = (T)(dof > 0 ? dof : 0);                              \
		for (size_t r = 0; r < rows; r++, x += len) {                \
			T m = mean_##T(len, x), ss = 0;                      \
			for (size_t j = 0; j < len; j++)                     \
				ss += (x[j] - m) * (x[j] - m);               \
			y[r] = A->flag ? sqrt(ss / div) : ss / div;          \
		}                                                            \
	}                                                                    \
	ROW_BWD(var_bwd, T)                                                  \
	{                                                                    \
		const T *x = xv, *y = yv, *g = gv;                           \
		T *dx = dxv;                                                 \
		T k = (T)(2.0 / ((double)len - (double)A->correction));      \
		for (size_t r = 0; r < rows; r++, x += len, dx += len) {     \
			T m = mean_##T(len, x), gr = g[r];                   \
			if (A->flag)                                         \
				gr = y[r] == 0 ? 0 : gr / (y[r] * 2);        \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = k * gr * (x[j] - m);                 \
		}                                                            \
	}
VAR_T(float)
VAR_T(double)

static nb_status var_shape(nb_op_ctx *c, nb_result_def *res)
{
	const var_attrs *a = c->attrs;
	return nb__reduce_shape(c, &a->axes, a->keepdim, res);
}

/* var, or std when is_std. */
static nb_status var_std_forward(nb_op_ctx *c, bool is_std)
{
	const var_attrs *a = c->attrs;
	row_arg arg = {.correction = a->correction, .flag = is_std};
	return rows_forward(c, &a->axes, var_fwd_float, var_fwd_double, arg);
}

static nb_status var_std_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *gin, bool is_std)
{
	const var_attrs *a = c->attrs;
	row_arg arg = {.correction = a->correction, .flag = is_std};
	return rows_backward(c, &a->axes, gout, gin, var_bwd_float,
	                     var_bwd_double, arg);
}

static nb_status var_forward(nb_op_ctx *c)
{
	return var_std_forward(c, false);
}

static nb_status var_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	return var_std_backward(c, gout, gin[0], false);
}

static nb_status std_forward(nb_op_ctx *c)
{
	return var_std_forward(c, true);
}

static nb_status std_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	return var_std_backward(c, gout, gin[0], true);
}

static const nb_op_test var_test = {
	.cases = STAT_CASES "; [3,4]|axes=1 correction=0; "
	         "[2,5]|correction=2",
};

static const nb_op var_op = {
	.version = NB_OP_VERSION, .name = "var", .kind = NB_KIND_REDUCE,
	.doc = "variance over axes, sum (x - mean)^2 / (N - correction) "
	       "(torch.var(x, dim, correction=1, keepdim))",
	.inputs = stat_inputs, .n_inputs = 1, .attrs = var_defs,
	.n_attrs = 3, .attrs_size = sizeof(var_attrs), .shape = var_shape,
	.forward = var_forward, .backward = var_backward, .test = &var_test,
};

static const nb_op std_op = {
	.version = NB_OP_VERSION, .name = "std", .kind = NB_KIND_REDUCE,
	.doc = "standard deviation over axes, sqrt(var) (torch.std(x, dim, "
	       "correction=1, keepdim)); gradient 0 where std is 0",
	.inputs = stat_inputs, .n_inputs = 1, .attrs = var_defs,
	.n_attrs = 3, .attrs_size = sizeof(var_attrs), .shape = var_shape,
	.forward = std_forward, .backward = std_backward, .test = &var_test,
};

/* ---- logsumexp ---- */

/*
 * y = log sum e^(x - m) + m with m the row's maximum, or 0 where that
 * is infinite (as PyTorch: a row of -inf gives -inf, one holding +inf
 * gives +inf, an empty row -inf); NaN propagates.  dx = g e^(x - y)
 * (NaN for a row of -inf, as PyTorch).
 */
#define LSE_T(T)                                                             \
	ROW_FWD(lse_fwd, T)                                                  \
	{                                                                    \
		const T *x = xv;                                             \
		T *y = yv;                                                   \
		(void)A;                                                     \
		for (size_t r = 0; r < rows; r++, x += len) {                \
			T m = -INFINITY, s = 0;                              \
			for (size_t j = 0; j < len && !isnan(m); j++)        \
				if (isnan(x[j]) || x[j] > m)                 \
					m = x[j];                            \
			if (isinf(m))                                        \
				m = 0;                                       \
			for (size_t j = 0; j < len; j++)                     \
				s += exp(x[j] - m);                          \
			y[r] = log(s) + m;                                   \
		}                                                            \
	}                                                                    \
	ROW_BWD(lse_bwd, T)                                                  \
	{                                                                    \
		const T *x = xv, *y = yv, *g = gv;                           \
		T *dx = dxv;                                                 \
		(void)A;                                                     \
		for (size_t r = 0; r < rows; r++, x += len, dx += len)       \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = g[r] * exp(x[j] - y[r]);             \
	}
LSE_T(float)
LSE_T(double)

static nb_status lse_forward(nb_op_ctx *c)
{
	const axes_attrs *a = c->attrs;
	return rows_forward(c, &a->axes, lse_fwd_float, lse_fwd_double,
	                    (row_arg){0});
}

static nb_status lse_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	const axes_attrs *a = c->attrs;
	return rows_backward(c, &a->axes, gout, gin[0], lse_bwd_float,
	                     lse_bwd_double, (row_arg){0});
}

static const nb_op_test lse_test = {.cases = STAT_CASES};

static const nb_op logsumexp_op = {
	.version = NB_OP_VERSION, .name = "logsumexp", .kind = NB_KIND_REDUCE,
	.doc = "log sum exp over axes, shifted by the maximum "
	       "(torch.logsumexp(x, dim, keepdim))",
	.inputs = stat_inputs, .n_inputs = 1, .attrs = axes_defs,
	.n_attrs = 2, .attrs_size = sizeof(axes_attrs), .shape = axes_shape,
	.forward = lse_forward, .backward = lse_backward, .test = &lse_test,
};

/* ---- norm ---- */

/*
 * The vector p-norm of each row, as torch.linalg.vector_norm(x, ord=p,
 * dim, keepdim) (and torch.norm(x, p, dim, keepdim) for a number p):
 * p = 0 counts non-zeros, inf / -inf take max / min |x| (NaN
 * propagates), 1 sums |x|, 2 is sqrt(sum x^2), other p
 * (sum |x|^p)^(1/p).  Backward is PyTorch's norm_backward, branch for
 * branch (sgn(NaN) = 0):
 *   p = 0:   0
 *   p = 1:   sgn(x) g
 *   p = 2:   g x / y, 0 where y = 0
 *   +-inf:   sgn(x) g / k on the k elements with |x| = y or |x| NaN
 *   p < 1:   sgn(x) |x|^(p-1) g y^(1-p), 0 where x = 0
 *   p < 2:   sgn(x) |x|^(p-1) g / y^(p-1), 0 where y = 0
 *   else:    x |x|^(p-2) g / y^(p-1), 0 where y = 0
 */
#define NORM_T(T)                                                            \
	static T sgn_##T(T v)                                                \
	{                                                                    \
		return (T)((v > 0) - (v < 0));                               \
	}                                                                    \
	static T norm_row_##T(size_t len, const T *x, T p)                   \
	{                                                                    \
		T s = 0;                                                     \
		if (p == 0) {                                                \
			for (size_t j = 0; j < len; j++)                     \
				s += x[j] != 0;                              \
			return s;                                            \
		}                                                            \
		if (isinf(p)) {                                              \
			T m = fabs(x[0]);                                    \
			for (size_t j = 1; j < len && !isnan(m); j++) {      \
				T v = fabs(x[j]);                            \
				if (isnan(v) || (p > 0 ? v > m : v < m))     \
					m = v;                               \
			}                                                    \
			return m;                                            \
		}                                                            \
		if (p == 1) {                                                \
			for (size_t j = 0; j < len; j++)                     \
				s += fabs(x[j]);                             \
			return s;                                            \
		}                                                            \
		if (p == 2) {                                                \
			for (size_t j = 0; j < len; j++)                     \
				s += x[j] * x[j];                            \
			return sqrt(s);                                      \
		}                                                            \
		for (size_t j = 0; j < len; j++)                             \
			s += pow(fabs(x[j]), p);                             \
		return pow(s, 1 / p);                                        \
	}                                                                    \
	ROW_FWD(norm_fwd, T)                                                 \
	{                                                                    \
		const T *x = xv;                                             \
		T *y = yv;                                                   \
		for (size_t r = 0; r < rows; r++, x += len)                  \
			y[r] = norm_row_##T(len, x, (T)A->p);                \
	}                                                                    \
	static void norm_bwd_row_##T(size_t len, const T *x, T y, T g,       \
	                             T *dx, T p)                             \
	{                                                                    \
		if (p == 0) {                                                \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = 0;                                   \
		} else if (p == 1) {                                         \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = sgn_##T(x[j]) * g;                   \
		} else if (p == 2) {                                         \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = g * (y == 0 ? 0 : x[j] / y);         \
		} else if (isinf(p)) {                                       \
			T k = 0;                                             \
			for (size_t j = 0; j < len; j++)                     \
				k += fabs(x[j]) == y || isnan(x[j]);         \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = sgn_##T(x[j]) * ((g / k) *           \
				        (T)(fabs(x[j]) == y || isnan(x[j])));\
		} else if (p < 1) {                                          \
			T s = g * pow(y, 1 - p);                             \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = x[j] == 0 ? sgn_##T(x[j]) * 0 * s    \
				      : sgn_##T(x[j]) *                      \
				        pow(fabs(x[j]), p - 1) * s;          \
		} else {                                                     \
			T s = y == 0 ? 0 : g / pow(y, p - 1);                \
			for (size_t j = 0; j < len; j++)                     \
				dx[j] = p < 2 ? sgn_##T(x[j]) *              \
				                pow(fabs(x[j]), p - 1) * s   \
				      : x[j] * pow(fabs(x[j]), p - 2) * s;   \
		}                                                            \
	}                                                                    \
	ROW_BWD(norm_bwd, T)                                                 \
	{                                                                    \
		const T *x = xv, *y = yv, *g = gv;                           \
		T *dx = dxv;                                                 \
		for (size_t r = 0; r < rows; r++, x += len, dx += len)       \
			norm_bwd_row_##T(len, x, y[r], g[r], dx, (T)A->p);   \
	}
NORM_T(float)
NORM_T(double)

/* The shape; the inf norms refuse an empty axis, as PyTorch's. */
static nb_status norm_shape(nb_op_ctx *c, nb_result_def *res)
{
	const norm_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	bool red[NB_MAX_DIMS];
	nb_status st = nb__reduce_shape(c, &a->axes, a->keepdim, res);
	if (st != NB_OK || !isinf(a->p))
		return st;
	nb__reduce_axes(c, &a->axes, red);
	for (int i = 0; i < x->ndim; i++)
		if (red[i] && x->shape[i] == 0)
			return nb_op_fail(c, NB_ESHAPE, "cannot take the %s norm "
			                  "over axis %d of size 0", a->p > 0 ?
			                  "inf" : "-inf", i);
	return NB_OK;
}

static nb_status norm_forward(nb_op_ctx *c)
{
	const norm_attrs *a = c->attrs;
	return rows_forward(c, &a->axes, norm_fwd_float, norm_fwd_double,
	                    (row_arg){.p = a->p});
}

static nb_status norm_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const norm_attrs *a = c->attrs;
	return rows_backward(c, &a->axes, gout, gin[0], norm_bwd_float,
	                     norm_bwd_double, (row_arg){.p = a->p});
}

static const nb_op_test norm_test = {
	.cases = "[3,4]; [3,4]|p=1 axes=1; [2,3,4]|p=3 axes=0,2 keepdim=1; "
	         "[2,3,4]|p=inf axes=-1; [5]|p=0.5; [3,4]|p=-inf axes=0; "
	         "[4,3]|p=1.5 axes=1; [3,4]|p=0",
	.kinks = {0}, .n_kinks = 1,
};

static const nb_op norm_op = {
	.version = NB_OP_VERSION, .name = "norm", .kind = NB_KIND_REDUCE,
	.doc = "vector p-norm over axes (torch.linalg.vector_norm(x, ord=p, "
	       "dim, keepdim)); gradient 0 at a zero vector",
	.inputs = stat_inputs, .n_inputs = 1, .attrs = norm_defs,
	.n_attrs = 3, .attrs_size = sizeof(norm_attrs), .shape = norm_shape,
	.forward = norm_forward, .backward = norm_backward, .test = &norm_test,
};

const nb_op *const nb__reduce_stats_ops[] = {
	&prod_op, &var_op, &std_op, &logsumexp_op, &norm_op, NULL,
};

/* ---- typed wrappers ---- */

/* Copies axes[0 .. naxes-1] into l; false (recorded on g) if bad. */
static bool axes_list(nb_graph *g, const char *name, int naxes,
                      const int *axes, nb_ints *l)
{
	if (naxes < 0 || naxes > NB_MAX_DIMS || (naxes && !axes)) {
		nb__graph_fail(g, NB_EINVAL, "%s: bad axis list (%d axes)", name,
		               naxes);
		return false;
	}
	l->n = naxes;
	for (int i = 0; i < naxes; i++)
		l->v[i] = axes[i];
	return true;
}

static nb_tensor *apply_axes(nb_graph *g, const nb_op *op, nb_tensor *x,
                             int naxes, const int *axes, bool keepdim)
{
	axes_attrs a = {.keepdim = keepdim};
	if (g && !axes_list(g, op->name, naxes, axes, &a.axes))
		return NULL;
	return nb_apply(g, op, 1, &x, &a);
}

nb_tensor *nb_prod(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                   bool keepdim)
{
	return apply_axes(g, &prod_op, x, naxes, axes, keepdim);
}

nb_tensor *nb_logsumexp(nb_graph *g, nb_tensor *x, int naxes,
                        const int *axes, bool keepdim)
{
	return apply_axes(g, &logsumexp_op, x, naxes, axes, keepdim);
}

static nb_tensor *apply_var(nb_graph *g, const nb_op *op, nb_tensor *x,
                            int naxes, const int *axes, int64_t correction,
                            bool keepdim)
{
	var_attrs a = {.correction = correction, .keepdim = keepdim};
	if (g && !axes_list(g, op->name, naxes, axes, &a.axes))
		return NULL;
	return nb_apply(g, op, 1, &x, &a);
}

nb_tensor *nb_var(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  int64_t correction, bool keepdim)
{
	return apply_var(g, &var_op, x, naxes, axes, correction, keepdim);
}

nb_tensor *nb_std(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  int64_t correction, bool keepdim)
{
	return apply_var(g, &std_op, x, naxes, axes, correction, keepdim);
}

nb_tensor *nb_norm(nb_graph *g, nb_tensor *x, double p, int naxes,
                   const int *axes, bool keepdim)
{
	norm_attrs a = {.p = p, .keepdim = keepdim};
	if (g && !axes_list(g, norm_op.name, naxes, axes, &a.axes))
		return NULL;
	return nb_apply(g, &norm_op, 1, &x, &a);
}
