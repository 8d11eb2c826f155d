/*
 * arith.c - elementwise arithmetic: add, sub, mul, div with NumPy
 * broadcasting, and neg, exp, log, sqrt, abs, pow, affine_scalar, sign,
 * floor, ceil, round, sin, cos, rsqrt, reciprocal, log1p, expm1, erf,
 * clamp, maximum, minimum (broadcasting) and detach (no gradient).
 *
 * Broadcast backward: d/da of f(a, b) is computed at the broadcast
 * shape, then summed over the axes along which a was broadcast.
 */
#include "vecmath.h"
#include <tgmath.h>
#include "elementwise.h"

/* ---- binary ops with broadcasting ---- */

static nb_status bcast_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	if (!nb__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape,
	                         &res->ndim, res->shape))
		return nb_op_fail(c, NB_ESHAPE, "shapes cannot be broadcast "
		                  "together");
	return NB_OK;
}

/* How the operands a, b map onto the elements of a broadcast result. */
typedef enum bin_mode {
	BIN_SAME,     /* both have the result's count: flat index i */
	BIN_SCALAR_B, /* b is one element, a has the result's count */
	BIN_BCAST     /* anything else: strides, 0 on broadcast axes */
} bin_mode;

typedef struct bin_geom {
	bin_mode mode;
	size_t n;             /* elements of the result */
	int ndim;             /* the result's rank and shape (borrowed) */
	const int64_t *shape;
	int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS]; /* BIN_BCAST only */
} bin_geom;

/* The geometry of a op b over a result shaped like out. */
static void bin_geom_of(bin_geom *q, const nb_tensor *a, const nb_tensor *b,
                        const nb_tensor *out)
{
	q->n = out->numel;
	q->ndim = out->ndim;
	q->shape = out->shape;
	if (a->numel == out->numel && b->numel == out->numel) {
		q->mode = BIN_SAME;
	} else if (b->numel == 1) {
		q->mode = BIN_SCALAR_B;
	} else {
		q->mode = BIN_BCAST;
		nb__broadcast_strides(a->ndim, a->shape, out->ndim, out->shape,
		                      q->sa);
		nb__broadcast_strides(b->ndim, b->shape, out->ndim, out->shape,
		                      q->sb);
	}
}

/*
 * A walk over the rows (last axis) of a broadcast result: row starts at
 * flat index base, with operand offsets oa, ob and last-axis strides
 * la, lb.  bin_row_next steps to the next row, carrying the index.
 */
typedef struct bin_rows {
	int64_t idx[NB_MAX_DIMS];
	int64_t len, la, lb, oa, ob;
} bin_rows;

static void bin_rows_init(bin_rows *r, const bin_geom *q)
{
	int nd = q->ndim;
	memset(r->idx, 0, sizeof r->idx);
	r->len = nd ? q->shape[nd - 1] : 1;
	r->la = nd ? q->sa[nd - 1] : 0;
	r->lb = nd ? q->sb[nd - 1] : 0;
	r->oa = 0;
	r->ob = 0;
}

static void bin_row_next(bin_rows *r, const bin_geom *q)
{
	int k = q->ndim - 2;
	/* Axes at their last index wrap to 0; the next one up advances. */
	while (k >= 0 && r->idx[k] + 1 >= q->shape[k]) {
		r->oa -= q->sa[k] * r->idx[k];
		r->ob -= q->sb[k] * r->idx[k];
		r->idx[k] = 0;
		k--;
	}
	if (k >= 0) {
		r->idx[k]++;
		r->oa += q->sa[k];
		r->ob += q->sb[k];
	}
}

/*
 * A binary kernel over one dtype: for every element i of the result,
 * ELEM computes from a[ia] and b[ib] (and g[i]) into dst[i].  The
 * same-shape and scalar-b loops are tight and vectorize; broadcasting
 * runs row by row.  Every kernel has the type bin_fn.
 */
typedef void (*bin_fn)(const bin_geom *q, const void *a, const void *b,
                       const void *g, void *dst, bool fresh);

#define BIN_LOOPS(q, ELEM)                                                   \
	if ((q)->mode == BIN_SAME) {                                         \
		for (size_t i = 0; i < (q)->n; i++) {                        \
			const size_t ia = i, ib = i;                         \
			ELEM;                                                \
		}                                                            \
	} else if ((q)->mode == BIN_SCALAR_B) {                              \
		for (size_t i = 0; i < (q)->n; i++) {                        \
			const size_t ia = i, ib = 0;                         \
			ELEM;                                                \
		}                                                            \
	} else {                                                             \
		bin_rows r_;                                                 \
		bin_rows_init(&r_, q);                                       \
		for (size_t base_ = 0; base_ < (q)->n;                       \
		     base_ += (size_t)r_.len) {                              \
			for (int64_t j_ = 0; j_ < r_.len; j_++) {            \
				const size_t i = base_ + (size_t)j_;         \
				const int64_t ia = r_.oa + j_ * r_.la;       \
				const int64_t ib = r_.ob + j_ * r_.lb;       \
				ELEM;                                        \
			}                                                    \
			bin_row_next(&r_, q);                                \
		}                                                            \
	}

/* NAME##_fwd_T: dst[i] = FWD(x = a[ia], y = b[ib]). */
#define BIN_FWD_T(NAME, T, FWD)                                              \
	static void NAME##_fwd_##T(const bin_geom *q, const void *a_,        \
	                           const void *b_, const void *g_, void *d_, \
	                           bool fresh_)                              \
	{                                                                    \
		const T *restrict ap = a_;                                   \
		const T *restrict bp = b_;                                   \
		T *restrict dp = d_;                                         \
		(void)g_;                                                    \
		(void)fresh_;                                                \
		BIN_LOOPS(q, {                                               \
			const T x = ap[ia];                                  \
			const T y = bp[ib];                                  \
			dp[i] = (T)(FWD);                                    \
		})                                                           \
	}

/* GNAME_T: dst[i] += GRAD(x = a[ia], y = b[ib], g = gout[i]), or
 * dst[i] = GRAD into a fresh gradient (NB_OP_GRAD_FRESH), which saves
 * nb_backward zeroing it first (issue 18: the residual adds' gradients,
 * 1% of gpt_tiny's step in memset). */
#define BIN_GRAD_LOOP(T, GRAD, OP)                                           \
	BIN_LOOPS(q, {                                                       \
		const T x = ap[ia];                                          \
		const T y = bp[ib];                                          \
		const T g = gp[i];                                           \
		(void)x;                                                     \
		(void)y;                                                     \
		dp[i] OP (T)(GRAD);                                          \
	})
#define BIN_GRAD_T(GNAME, T, GRAD)                                           \
	static void GNAME##_##T(const bin_geom *q, const void *a_,           \
	                        const void *b_, const void *g_, void *d_,    \
	                        bool fresh)                                  \
	{                                                                    \
		const T *restrict ap = a_;                                   \
		const T *restrict bp = b_;                                   \
		const T *restrict gp = g_;                                   \
		T *restrict dp = d_;                                         \
		if (fresh) {                                                 \
			BIN_GRAD_LOOP(T, GRAD, =)                            \
		} else {                                                     \
			BIN_GRAD_LOOP(T, GRAD, +=)                           \
		}                                                            \
	}

/* The kernels of a binary op f(x, y) with partials DA, DB, per dtype
 * ([0] float32, [1] float64). */
typedef struct bin_kernels {
	bin_fn fwd[2], da[2], db[2];
} bin_kernels;

#define BIN_KERNELS(NAME, FWD, DA, DB)                                       \
	BIN_FWD_T(NAME, float, FWD)                                          \
	BIN_FWD_T(NAME, double, FWD)                                         \
	BIN_GRAD_T(NAME##_da, float, DA)                                     \
	BIN_GRAD_T(NAME##_da, double, DA)                                    \
	BIN_GRAD_T(NAME##_db, float, DB)                                     \
	BIN_GRAD_T(NAME##_db, double, DB)                                    \
	static const bin_kernels NAME##_kernels = {                          \
		.fwd = {NAME##_fwd_float, NAME##_fwd_double},                \
		.da = {NAME##_da_float, NAME##_da_double},                   \
		.db = {NAME##_db_float, NAME##_db_double},                   \
	};

static nb_status bin_forward(nb_op_ctx *c, const bin_kernels *k)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	bin_geom q;
	bin_geom_of(&q, a, b, c->out);
	k->fwd[c->out->dtype == NB_F32 ? 0 : 1](&q, a->data, b->data, NULL,
	                                        c->out->data, false);
	return NB_OK;
}

/*
 * Adds the gradient of input k, computed by kernel, into gin[k]:
 * straight when input k has the result's count, else through a zeroed
 * scratch tensor summed to input k's shape.  NB_ENOMEM (recorded) if
 * the scratch cannot be made.
 */
static nb_status bin_grad_into(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin, int k, bin_fn kernel)
{
	const nb_tensor *a = c->in[0], *b = c->in[1], *in = c->in[k];
	bin_geom q;
	bin_geom_of(&q, a, b, gout);
	bool fresh = c->fresh >> k & 1u;
	if (in->numel == gout->numel) {
		kernel(&q, a->data, b->data, gout->data, gin[k]->data, fresh);
		return NB_OK;
	}
	nb_tensor *tmp = nb_op_scratch(c, gout->dtype, gout->ndim, gout->shape);
	if (!tmp)
		return NB_ENOMEM;
	kernel(&q, a->data, b->data, gout->data, tmp->data, false);
	/* nb__sum_to_shape adds: a fresh gradient starts at zero */
	if (fresh)
		memset(gin[k]->data, 0, nb__nbytes(gin[k]));
	nb__sum_to_shape(gout->dtype, tmp->data, gout->ndim, gout->shape,
	                 gin[k]->data, in->ndim, in->shape);
	return NB_OK;
}

static nb_status bin_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin, const bin_kernels *k)
{
	int d = gout->dtype == NB_F32 ? 0 : 1;
	nb_status st = NB_OK;
	if (gin[0])
		st = bin_grad_into(c, gout, gin, 0, k->da[d]);
	if (st == NB_OK && gin[1])
		st = bin_grad_into(c, gout, gin, 1, k->db[d]);
	return st;
}

static const nb_input_def bin_inputs[] = {
	{.name = "input"},
	{.name = "other", .doc = "broadcastable with input"},
};

/* add's inputs and sub's first pass the result's gradient on unchanged
 * where they are not broadcast (NB_IN_GRAD_PASS): a residual add's
 * backward then copies it into one branch only. */
static const nb_input_def add_inputs[] = {
	{.name = "input", .flags = NB_IN_GRAD_PASS},
	{.name = "other", .flags = NB_IN_GRAD_PASS,
	 .doc = "broadcastable with input"},
};

static const nb_input_def sub_inputs[] = {
	{.name = "input", .flags = NB_IN_GRAD_PASS},
	{.name = "other", .doc = "broadcastable with input"},
};

#define BCAST_CASES "[3,4] [3,4]; [3,4] [4]; [2,1,4] [3,1]; [] [2,3]; [4,1] []"

static const nb_op_test bcast_test = {.cases = BCAST_CASES};

BIN_KERNELS(add, x + y, g, g)

static nb_status add_forward(nb_op_ctx *c)
{
	return bin_forward(c, &add_kernels);
}

static nb_status add_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	return bin_backward(c, gout, gin, &add_kernels);
}

static const nb_op add_op = {
	.version = NB_OP_VERSION, .name = "add", .kind = NB_KIND_ARITH,
	.doc = "a + b, broadcasting", .inputs = add_inputs, .n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH, .shape = bcast_shape,
	.forward = add_forward, .backward = add_backward, .test = &bcast_test,
};

BIN_KERNELS(sub, x - y, g, -g)

static nb_status sub_forward(nb_op_ctx *c)
{
	return bin_forward(c, &sub_kernels);
}

static nb_status sub_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	return bin_backward(c, gout, gin, &sub_kernels);
}

static const nb_op sub_op = {
	.version = NB_OP_VERSION, .name = "sub", .kind = NB_KIND_ARITH,
	.doc = "a - b, broadcasting", .inputs = sub_inputs, .n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH, .shape = bcast_shape,
	.forward = sub_forward, .backward = sub_backward, .test = &bcast_test,
};

BIN_KERNELS(mul, x * y, g * y, g * x)

static nb_status mul_forward(nb_op_ctx *c)
{
	return bin_forward(c, &mul_kernels);
}

static nb_status mul_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	return bin_backward(c, gout, gin, &mul_kernels);
}

static const nb_op mul_op = {
	.version = NB_OP_VERSION, .name = "mul", .kind = NB_KIND_ARITH,
	.doc = "a * b, broadcasting", .inputs = bin_inputs, .n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH, .shape = bcast_shape,
	.forward = mul_forward, .backward = mul_backward, .test = &bcast_test,
};

/* d/da a/b = 1/b,  d/db a/b = -a/b^2 */
BIN_KERNELS(div, x / y, g / y, -g * x / (y * y))

static nb_status div_forward(nb_op_ctx *c)
{
	return bin_forward(c, &div_kernels);
}

static nb_status div_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	return bin_backward(c, gout, gin, &div_kernels);
}

static const nb_op_test div_test = {
	.cases = "[3,4] [3,4]p; [3,4] [4]p; [2,1,4] [3,1]p; [] [2,3]p",
};

static const nb_op div_op = {
	.version = NB_OP_VERSION, .name = "div", .kind = NB_KIND_ARITH,
	.doc = "a / b, broadcasting", .inputs = bin_inputs, .n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH, .shape = bcast_shape,
	.forward = div_forward, .backward = div_backward, .test = &div_test,
};

/*
 * maximum and minimum as PyTorch 1.13: NaN in either operand gives NaN;
 * at a tie (x == y) each operand gets half the gradient; an operand
 * NaN-compared with the other (neither less nor greater) gets all of it.
 */
#define MAX_PT(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (x) < (y) ? (y) : (x))
#define MIN_PT(x, y) ((x) != (x) ? (x) : (y) != (y) ? (y) : (y) < (x) ? (y) : (x))
BIN_KERNELS(maximum, MAX_PT(x, y),
            x == y ? g / 2 : (x < y ? 0 : g),
            x == y ? g / 2 : (x > y ? 0 : g))

static nb_status maximum_forward(nb_op_ctx *c)
{
	return bin_forward(c, &maximum_kernels);
}

static nb_status maximum_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	return bin_backward(c, gout, gin, &maximum_kernels);
}

static const nb_op maximum_op = {
	.version = NB_OP_VERSION, .name = "maximum", .kind = NB_KIND_ARITH,
	.doc = "elementwise max(a, b), broadcasting; NaN propagates; ties "
	       "split the gradient",
	.inputs = bin_inputs, .n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH, .shape = bcast_shape,
	.forward = maximum_forward, .backward = maximum_backward,
	.test = &bcast_test,
};

BIN_KERNELS(minimum, MIN_PT(x, y),
            x == y ? g / 2 : (x > y ? 0 : g),
            x == y ? g / 2 : (x < y ? 0 : g))

static nb_status minimum_forward(nb_op_ctx *c)
{
	return bin_forward(c, &minimum_kernels);
}

static nb_status minimum_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	return bin_backward(c, gout, gin, &minimum_kernels);
}

static const nb_op minimum_op = {
	.version = NB_OP_VERSION, .name = "minimum", .kind = NB_KIND_ARITH,
	.doc = "elementwise min(a, b), broadcasting; NaN propagates; ties "
	       "split the gradient",
	.inputs = bin_inputs, .n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH, .shape = bcast_shape,
	.forward = minimum_forward, .backward = minimum_backward,
	.test = &bcast_test,
};

/* ---- unary ops ----
 * <tgmath.h> resolves exp, log, sqrt, fabs and pow to their float
 * versions (expf...) in the float32 kernels. */

static const nb_op_test any_test = {.cases = "[5]; [3,4]"};
static const nb_op_test positive_test = {.cases = "[5]p; [3,4]p"};

NB_UNARY_OP(neg, nb_noattrs, -x, -g)
static const nb_op neg_op = NB_UNARY_DESC0(neg, NB_KIND_ARITH, "-x",
	&any_test, .flags = NB_UNARY_FLAGS);

NB_UNARY_OP(exp, nb_noattrs, exp(x), g * y)
static const nb_op exp_op = NB_UNARY_DESC0(exp, NB_KIND_ARITH, "e^x",
	&any_test, .flags = NB_UNARY_FLAGS);

/* d/dx x^2 = 2x */
NB_UNARY_OP(square, nb_noattrs, x * x, 2 * g * x)
static const nb_op square_op = NB_UNARY_DESC0(square, NB_KIND_ARITH, "x^2",
	&any_test, .flags = NB_UNARY_FLAGS);

NB_UNARY_OP(log, nb_noattrs, log(x), g / x)
static const nb_op log_op = NB_UNARY_DESC0(log, NB_KIND_ARITH,
	"natural logarithm", &positive_test, .flags = NB_UNARY_FLAGS);

NB_UNARY_OP(sqrt, nb_noattrs, sqrt(x), g / (2 * y))
static const nb_op sqrt_op = NB_UNARY_DESC0(sqrt, NB_KIND_ARITH,
	"square root", &positive_test, .flags = NB_UNARY_FLAGS);

NB_UNARY_OP(abs, nb_noattrs, fabs(x),
            x > 0 ? g : (x < 0 ? -g : (T)0))
static const nb_op_test abs_test = {
	.cases = "[5]; [3,4]", .kinks = {0}, .n_kinks = 1,
};
static const nb_op abs_op = NB_UNARY_DESC0(abs, NB_KIND_ARITH,
	"|x|; gradient sign(x), 0 at 0", &abs_test, .flags = NB_UNARY_FLAGS);

/* ---- more elementwise math (PyTorch's names and gradients) ---- */

/*
 * Steps: the gradient is 0 everywhere, at the steps too (PyTorch).
 * sign as PyTorch computes it, (0 < x) - (x < 0): 0 at -0 and at NaN.
 * round is rint: half to even (torch.round), -0.5 -> -0.
 */
NB_UNARY_OP(sign, nb_noattrs, (0 < x) - (x < 0), ((void)g, (T)0))
static const nb_op_test sign_test = {
	.cases = "[5]; [3,4]", .kinks = {0}, .n_kinks = 1,
};
static const nb_op sign_op = NB_UNARY_DESC0(sign, NB_KIND_ARITH,
	"-1, 0 or 1 (0 at NaN); gradient 0", &sign_test,
	.flags = NB_UNARY_FLAGS);

static const nb_op_test step_test = {
	.cases = "[5]; [3,4]", .lo = -1.9, .hi = 1.9,
	.kinks = {-1, 0, 1}, .n_kinks = 3,
};
NB_UNARY_OP(floor, nb_noattrs, floor(x), ((void)g, (T)0))
static const nb_op floor_op = NB_UNARY_DESC0(floor, NB_KIND_ARITH,
	"largest integer <= x; gradient 0", &step_test,
	.flags = NB_UNARY_FLAGS);

NB_UNARY_OP(ceil, nb_noattrs, ceil(x), ((void)g, (T)0))
static const nb_op ceil_op = NB_UNARY_DESC0(ceil, NB_KIND_ARITH,
	"smallest integer >= x; gradient 0", &step_test,
	.flags = NB_UNARY_FLAGS);

NB_UNARY_OP(round, nb_noattrs, rint(x), ((void)g, (T)0))
static const nb_op_test round_test = {
	.cases = "[5]; [3,4]", .lo = -1.9, .hi = 1.9,
	.kinks = {-1.5, -0.5, 0.5, 1.5}, .n_kinks = 4,
};
static const nb_op round_op = NB_UNARY_DESC0(round, NB_KIND_ARITH,
	"nearest integer, half to even; gradient 0", &round_test,
	.flags = NB_UNARY_FLAGS);

/* d/dx sin x = cos x,  d/dx cos x = -sin x */
NB_UNARY_OP(sin, nb_noattrs, sin(x), g * cos(x))
static const nb_op sin_op = NB_UNARY_DESC0(sin, NB_KIND_ARITH, "sine",
	&any_test, .flags = NB_UNARY_FLAGS);

NB_UNARY_OP(cos, nb_noattrs, cos(x), -g * sin(x))
static const nb_op cos_op = NB_UNARY_DESC0(cos, NB_KIND_ARITH, "cosine",
	&any_test, .flags = NB_UNARY_FLAGS);

/* d/dx x^-1/2 = -1/2 x^-3/2 = -y^3 / 2 (PyTorch's formula) */
NB_UNARY_OP(rsqrt, nb_noattrs, 1 / sqrt(x), (T)-0.5 * g * y * y * y)
static const nb_op rsqrt_op = NB_UNARY_DESC0(rsqrt, NB_KIND_ARITH,
	"1 / sqrt(x)", &positive_test, .flags = NB_UNARY_FLAGS);

/* d/dx 1/x = -1/x^2 = -y^2 (PyTorch's formula); sampled away from 0 */
NB_UNARY_OP(reciprocal, nb_noattrs, 1 / x, -g * y * y)
static const nb_op_test reciprocal_test = {
	.cases = "[5]p; [3,4]", .kinks = {0}, .n_kinks = 1,
};
static const nb_op reciprocal_op = NB_UNARY_DESC0(reciprocal,
	NB_KIND_ARITH, "1 / x", &reciprocal_test, .flags = NB_UNARY_FLAGS);

/* d/dx ln(1 + x) = 1 / (1 + x); sampled in (-0.9, 2], away from -1 */
NB_UNARY_OP(log1p, nb_noattrs, log1p(x), g / (1 + x))
static const nb_op_test log1p_test = {
	.cases = "[5]; [3,4]", .lo = -0.9, .hi = 2,
};
static const nb_op log1p_op = NB_UNARY_DESC0(log1p, NB_KIND_ARITH,
	"ln(1 + x), exact near 0", &log1p_test, .flags = NB_UNARY_FLAGS);

/* d/dx (e^x - 1) = e^x = y + 1 (PyTorch's formula) */
NB_UNARY_OP(expm1, nb_noattrs, expm1(x), g * (y + 1))
static const nb_op expm1_op = NB_UNARY_DESC0(expm1, NB_KIND_ARITH,
	"e^x - 1, exact near 0", &any_test, .flags = NB_UNARY_FLAGS);

/* d/dx erf x = 2/sqrt(pi) e^(-x^2) */
#define NB_2_SQRTPI 1.12837916709551257389615890312154517
NB_UNARY_OP(erf, nb_noattrs, erf(x), (T)NB_2_SQRTPI * g * exp(-x * x))
static const nb_op erf_op = NB_UNARY_DESC0(erf, NB_KIND_ARITH,
	"error function", &any_test, .flags = NB_UNARY_FLAGS);

typedef struct clamp_attrs {
	double min, max; /* NAN: no bound */
} clamp_attrs;

static const nb_attr_def clamp_defs[] = {
	{.name = "min", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clamp_attrs, min), .def = NAN,
	 .range = NB_UNBOUNDED, .flags = NB_ATTR_NULLABLE,
	 .doc = "lower bound; none: no lower bound"},
	{.name = "max", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clamp_attrs, max), .def = NAN,
	 .range = NB_UNBOUNDED, .flags = NB_ATTR_NULLABLE,
	 .doc = "upper bound; none: no upper bound"},
};

/*
 * torch.clamp refuses to be called with neither bound.  Checked at the
 * call (the shape rule), not by a .check hook: the defaults (none,
 * none) must pass .check for the registry to accept the op.
 */
static nb_status clamp_shape(nb_op_ctx *c, nb_result_def *res)
{
	const clamp_attrs *a = c->attrs;
	(void)res;
	if (isnan(a->min) && isnan(a->max))
		return nb_op_fail(c, NB_EINVAL, "at least one of min and max "
		                  "must be given");
	return NB_OK;
}

/*
 * min(max(x, lo), hi) as PyTorch: NaN stays NaN, and with min > max
 * every element becomes max.  The gradient passes where
 * lo <= x <= hi (bounds included) and is 0 elsewhere, at NaN and,
 * with min > max, everywhere (PyTorch 1.13).
 */
#define CLAMP_LO(v) (!isnan(A->min) && (v) < (T)A->min ? (T)A->min : (v))
#define CLAMP_HI(v) (!isnan(A->max) && (v) > (T)A->max ? (T)A->max : (v))
NB_UNARY_OP(clamp, clamp_attrs, CLAMP_HI(CLAMP_LO(x)),
            (isnan(A->min) || x >= (T)A->min) &&
            (isnan(A->max) || x <= (T)A->max) ? g : (T)0)
static const nb_op_test clamp_test = {
	.cases = "[3,4]|min=-0.5 max=0.5; [5]|min=0; [5]|max=0.3; "
	         "[5]|min=0.5 max=-0.5",
	.kinks = {-0.5, 0, 0.3, 0.5}, .n_kinks = 4,
};
static const nb_op clamp_op = NB_UNARY_DESC(clamp, NB_KIND_ARITH,
	"x limited to [min, max]; all max if min > max", clamp_attrs,
	clamp_defs, &clamp_test, .flags = NB_UNARY_FLAGS,
	.shape = clamp_shape);

/* detach: the input's values, cut from the graph (no gradient). */
static nb_status detach_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	memcpy(c->out->data, x->data, x->numel * nb_dtype_size(x->dtype));
	return NB_OK;
}

static const nb_op detach_op = {
	.version = NB_OP_VERSION, .name = "detach", .kind = NB_KIND_ARITH,
	.doc = "x, without gradient (a stop-gradient)",
	.inputs = nb__unary_inputs, .n_inputs = 1,
	.flags = NB_OP_NO_GRAD | NB_OP_WRITES_OUTPUT,
	.forward = detach_forward, .backward = NULL, .test = &any_test,
};

typedef struct pow_attrs {
	double exponent;
} pow_attrs;

static const nb_attr_def pow_defs[] = {
	{.name = "exponent", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(pow_attrs, exponent), .def = 2,
	 .range = NB_UNBOUNDED, .doc = "the power p in x^p"},
};

/*
 * x^p as PyTorch computes it: p = 0.5 and -0.5 through sqrt (its sqrt
 * and rsqrt kernels), so that (-0)^0.5 = -0 and (-0)^-0.5 = -inf where
 * C's pow gives +0 and +inf.  Elsewhere the two agree.
 */
#define POW_PT(x, p)                                                         \
	((p) == (T)0.5 ? sqrt(x) : (p) == (T)-0.5 ? 1 / sqrt(x) : pow(x, p))
/* d/dx x^p = p x^(p-1); at x = 0 with p >= 1 this is 0 (PyTorch too),
 * with p = 0 it is 0 everywhere (PyTorch too), with p < 1 infinite. */
NB_UNARY_OP(pow, pow_attrs, POW_PT(x, (T)A->exponent),
            A->exponent == 0 ? (T)0
            : g * (T)A->exponent * POW_PT(x, (T)(A->exponent - 1)))
static const nb_op_test pow_test = {
	.cases = "[3,4]p|exponent=2.5; [3,4]|exponent=2; "
	         "[3,4]p|exponent=-1.5; [5]|exponent=3",
};
static const nb_op pow_op = NB_UNARY_DESC(pow, NB_KIND_ARITH,
	"x^p for a scalar p", pow_attrs, pow_defs, &pow_test,
	.flags = NB_UNARY_FLAGS);

typedef struct affine_attrs {
	double scale, shift;
} affine_attrs;

static const nb_attr_def affine_defs[] = {
	{.name = "scale", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(affine_attrs, scale), .def = 1,
	 .range = NB_UNBOUNDED, .doc = "s in x * s + t"},
	{.name = "shift", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(affine_attrs, shift), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "t in x * s + t"},
};

NB_UNARY_OP(affine_scalar, affine_attrs,
            x * (T)A->scale + (T)A->shift, g * (T)A->scale)
static const nb_op_test affine_scalar_test = {
	.cases = "[3,4]|scale=-2.5 shift=0.5; [5]",
};
static const nb_op affine_scalar_op = NB_UNARY_DESC(affine_scalar,
	NB_KIND_ARITH, "x * scale + shift", affine_attrs, affine_defs,
	&affine_scalar_test, .flags = NB_UNARY_FLAGS);

const nb_op *const nb__arith_ops[] = {
	&add_op, &sub_op, &mul_op, &div_op, &neg_op, &exp_op, &square_op,
	&log_op, &sqrt_op, &abs_op, &pow_op, &affine_scalar_op, &sign_op,
	&floor_op, &ceil_op, &round_op, &sin_op, &cos_op, &rsqrt_op,
	&reciprocal_op, &log1p_op, &expm1_op, &erf_op, &clamp_op,
	&maximum_op, &minimum_op, &detach_op, NULL,
};

/* ---- the C API ---- */

nb_tensor *nb_add(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &add_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_sub(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &sub_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_mul(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &mul_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_div(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &div_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_neg(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &neg_op, 1, &x, NULL);
}

nb_tensor *nb_square(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &square_op, 1, &x, NULL);
}

nb_tensor *nb_exp(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &exp_op, 1, &x, NULL);
}

nb_tensor *nb_log(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &log_op, 1, &x, NULL);
}

nb_tensor *nb_sqrt(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &sqrt_op, 1, &x, NULL);
}

nb_tensor *nb_abs(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &abs_op, 1, &x, NULL);
}

nb_tensor *nb_sign(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &sign_op, 1, &x, NULL);
}

nb_tensor *nb_floor(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &floor_op, 1, &x, NULL);
}

nb_tensor *nb_ceil(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &ceil_op, 1, &x, NULL);
}

nb_tensor *nb_round(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &round_op, 1, &x, NULL);
}

nb_tensor *nb_sin(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &sin_op, 1, &x, NULL);
}

nb_tensor *nb_cos(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &cos_op, 1, &x, NULL);
}

nb_tensor *nb_rsqrt(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &rsqrt_op, 1, &x, NULL);
}

nb_tensor *nb_reciprocal(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &reciprocal_op, 1, &x, NULL);
}

nb_tensor *nb_log1p(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &log1p_op, 1, &x, NULL);
}

nb_tensor *nb_expm1(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &expm1_op, 1, &x, NULL);
}

nb_tensor *nb_erf(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &erf_op, 1, &x, NULL);
}

nb_tensor *nb_maximum(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &maximum_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_minimum(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &minimum_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_clamp(nb_graph *g, nb_tensor *x, double min, double max)
{
	clamp_attrs a = {min, max};
	return nb_apply(g, &clamp_op, 1, &x, &a);
}

nb_tensor *nb_detach(nb_graph *g, nb_tensor *x)
{
	return nb_apply(g, &detach_op, 1, &x, NULL);
}

nb_tensor *nb_pow(nb_graph *g, nb_tensor *x, double exponent)
{
	pow_attrs a = {exponent};
	return nb_apply(g, &pow_op, 1, &x, &a);
}

nb_tensor *nb_affine_scalar(nb_graph *g, nb_tensor *x, double s, double t)
{
	affine_attrs a = {s, t};
	return nb_apply(g, &affine_scalar_op, 1, &x, &a);
}
