/*
 * arith.c - elementwise arithmetic: add, sub, mul, div with NumPy
 * broadcasting, and neg, exp, log, sqrt, abs, pow, affine_scalar.
 *
 * Broadcast backward: d/da of f(a, b) is computed at the broadcast
 * shape, then summed over the axes along which a was broadcast.
 */
#include "vecmath.h"
#include <tgmath.h>
#include "elementwise.h"

/* ---- binary ops with broadcasting ---- */

static nb_status bcast_shape(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                             int64_t *shape)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	(void)dt;
	if (!nb__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, ndim,
	                         shape))
		return nb_op_fail(c, NB_ESHAPE, "shapes cannot be broadcast "
		                  "together");
	return NB_OK;
}

/* Computes out[i] = EXPR(x = a[ia], y = b[ib]) over the broadcast. */
#define BIN_MAP(T, a, b, out, EXPR)                                          \
	do {                                                                 \
		const T *ap = (a)->data, *bp = (b)->data;                    \
		T *op = (out)->data;                                         \
		if ((a)->numel == (out)->numel &&                            \
		    (b)->numel == (out)->numel) {                            \
			for (size_t i = 0; i < (out)->numel; i++) {          \
				const T x = ap[i], y = bp[i];                \
				op[i] = (T)(EXPR);                           \
			}                                                    \
		} else if ((b)->numel == 1) {                                \
			const T y = bp[0];                                   \
			for (size_t i = 0; i < (out)->numel; i++) {          \
				const T x = ap[i];                           \
				op[i] = (T)(EXPR);                           \
			}                                                    \
		} else {                                                     \
			int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];            \
			nb__broadcast_strides((a)->ndim, (a)->shape,         \
			                      (out)->ndim, (out)->shape, sa);\
			nb__broadcast_strides((b)->ndim, (b)->shape,         \
			                      (out)->ndim, (out)->shape, sb);\
			NB_BCAST_LOOP((out)->ndim, (out)->shape, sa, sb, {   \
				const T x = ap[ia], y = bp[ib];              \
				op[i] = (T)(EXPR);                           \
			});                                                  \
		}                                                            \
	} while (0)

/* Like BIN_MAP, with g = gout[i], adding into dst[i] (out-shaped). */
#define BIN_GRAD(T, a, b, gout, dst, EXPR)                                   \
	do {                                                                 \
		const T *ap = (a)->data, *bp = (b)->data;                    \
		const T *gp = (gout)->data;                                  \
		T *dp = (dst);                                               \
		int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];                    \
		nb__broadcast_strides((a)->ndim, (a)->shape, (gout)->ndim,   \
		                      (gout)->shape, sa);                    \
		nb__broadcast_strides((b)->ndim, (b)->shape, (gout)->ndim,   \
		                      (gout)->shape, sb);                    \
		NB_BCAST_LOOP((gout)->ndim, (gout)->shape, sa, sb, {         \
			const T x = ap[ia], y = bp[ib], g = gp[i];           \
			(void)x;                                             \
			(void)y;                                             \
			dp[i] += (T)(EXPR);                                  \
		});                                                          \
	} while (0)

/*
 * The gradient of input k: straight into gin[k] when it has the
 * result's shape, else through a scratch tensor summed to its shape.
 */
#define BIN_BACKWARD(T, c, gout, gin, k, EXPR)                               \
	do {                                                                 \
		nb_tensor *a_ = (c)->in[0], *b_ = (c)->in[1];                \
		nb_tensor *inp_ = (c)->in[k], *gk_ = (gin)[k];                \
		if (inp_->numel == (gout)->numel) {                           \
			BIN_GRAD(T, a_, b_, gout, gk_->data, EXPR);          \
			break;                                               \
		}                                                            \
		nb_tensor *tmp_ = nb_op_scratch(c, (gout)->dtype,            \
		                                (gout)->ndim, (gout)->shape);\
		if (!tmp_)                                                   \
			return NB_ENOMEM;                                    \
		BIN_GRAD(T, a_, b_, gout, tmp_->data, EXPR);                 \
		nb__sum_to_shape((gout)->dtype, tmp_->data, (gout)->ndim,    \
		                 (gout)->shape, gk_->data, inp_->ndim,        \
		                 inp_->shape);                                \
	} while (0)

#define BINARY_OP(NAME, FWD, DA, DB)                                         \
	static nb_status NAME##_forward(nb_op_ctx *c)                        \
	{                                                                    \
		if (c->out->dtype == NB_F32)                                 \
			BIN_MAP(float, c->in[0], c->in[1], c->out, FWD);     \
		else                                                         \
			BIN_MAP(double, c->in[0], c->in[1], c->out, FWD);    \
		return NB_OK;                                                \
	}                                                                    \
	static nb_status NAME##_backward(nb_op_ctx *c, const nb_tensor *gout,\
	                                 nb_tensor *const *gin)              \
	{                                                                    \
		bool f = gout->dtype == NB_F32;                              \
		if (gin[0] && f)                                             \
			BIN_BACKWARD(float, c, gout, gin, 0, DA);            \
		else if (gin[0])                                             \
			BIN_BACKWARD(double, c, gout, gin, 0, DA);           \
		if (gin[1] && f)                                             \
			BIN_BACKWARD(float, c, gout, gin, 1, DB);            \
		else if (gin[1])                                             \
			BIN_BACKWARD(double, c, gout, gin, 1, DB);           \
		return NB_OK;                                                \
	}

BINARY_OP(add, x + y, g, g)
BINARY_OP(sub, x - y, g, -g)
BINARY_OP(mul, x * y, g * y, g * x)
BINARY_OP(div, x / y, g / y, -g * x / (y * y))

/* ---- unary ops ---- */

typedef struct pow_attrs {
	double exponent;
} pow_attrs;

typedef struct affine_attrs {
	double scale, shift;
} affine_attrs;

static const nb_attr_def no_attrs[1];
static const nb_attr_def pow_defs[] = {
	{"exponent", NB_ATTR_FLOAT, offsetof(pow_attrs, exponent), 2, 1, 0,
	 NULL, 0, "the power p in x^p"},
};
static const nb_attr_def affine_defs[] = {
	{"scale", NB_ATTR_FLOAT, offsetof(affine_attrs, scale), 1, 1, 0, NULL,
	 0, "s in x * s + t"},
	{"shift", NB_ATTR_FLOAT, offsetof(affine_attrs, shift), 0, 1, 0, NULL,
	 0, "t in x * s + t"},
};

NB_UNARY_OP(neg, nb_noattrs, -x, -g)
NB_UNARY_OP(exp, nb_noattrs, exp(x), g * y)
NB_UNARY_OP(log, nb_noattrs, log(x), g / x)
NB_UNARY_OP(sqrt, nb_noattrs, sqrt(x), g / (2 * y))
NB_UNARY_OP(abs, nb_noattrs, fabs(x),
            x > 0 ? g : (x < 0 ? -g : (T)0))
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
NB_UNARY_OP(affine_scalar, affine_attrs,
            x * (T)A->scale + (T)A->shift, g * (T)A->scale)

#define NO_ATTRS_ROW(NAME, DOC, CASES, LO, HI, ...)                           \
	{                                                                    \
		.name = #NAME, .kind = NB_KIND_ARITH, .doc = DOC,            \
		.n_inputs = 1, .input_names = "input",                       \
		.forward = NAME##_forward, .backward = NAME##_backward,      \
		.cases = CASES, .lo = LO, .hi = HI,                          \
		.flags = NB_UNARY_FLAGS, __VA_ARGS__                         \
	}

#define BINARY_ROW(NAME, DOC, CASES)                                         \
	{                                                                    \
		.name = #NAME, .kind = NB_KIND_ARITH, .doc = DOC,            \
		.n_inputs = 2, .input_names = "input,other",                 \
		.shape = bcast_shape, .forward = NAME##_forward,             \
		.backward = NAME##_backward, .cases = CASES,                 \
		.flags = NB_OP_WRITES_OUTPUT                                    \
	}

#define BCAST_CASES "[3,4] [3,4]; [3,4] [4]; [2,1,4] [3,1]; [] [2,3]; [4,1] []"

enum {
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG, OP_EXP, OP_LOG, OP_SQRT, OP_ABS, OP_POW, OP_AFFINE_SCALAR
};

static const nb_op ops[] = {
	[OP_ADD] = BINARY_ROW(add, "a + b, broadcasting", BCAST_CASES),
	[OP_SUB] = BINARY_ROW(sub, "a - b, broadcasting", BCAST_CASES),
	[OP_MUL] = BINARY_ROW(mul, "a * b, broadcasting", BCAST_CASES),
	[OP_DIV] = BINARY_ROW(div, "a / b, broadcasting",
	           "[3,4] [3,4]p; [3,4] [4]p; [2,1,4] [3,1]p; [] [2,3]p"),
	[OP_NEG] = NO_ATTRS_ROW(neg, "-x", "[5]; [3,4]", 0, 0),
	[OP_EXP] = NO_ATTRS_ROW(exp, "e^x", "[5]; [3,4]", 0, 0),
	[OP_LOG] = NO_ATTRS_ROW(log, "natural logarithm", "[5]p; [3,4]p", 0, 0),
	[OP_SQRT] = NO_ATTRS_ROW(sqrt, "square root", "[5]p; [3,4]p", 0, 0),
	[OP_ABS] = NO_ATTRS_ROW(abs, "|x|; gradient sign(x), 0 at 0", "[5]; [3,4]", 0, 0,
	             .kinks = {0}, .n_kinks = 1),
	[OP_POW] = NB_UNARY_ROW(pow, NB_KIND_ARITH, "x^p for a scalar p", pow_attrs,
	             pow_defs, "[3,4]p|exponent=2.5; [3,4]|exponent=2; "
	             "[3,4]p|exponent=-1.5; [5]|exponent=3", 0, 0,
	             .flags = NB_UNARY_FLAGS),
	[OP_AFFINE_SCALAR] = NB_UNARY_ROW(affine_scalar, NB_KIND_ARITH, "x * scale + shift",
	             affine_attrs, affine_defs,
	             "[3,4]|scale=-2.5 shift=0.5; [5]", 0, 0,
	             .flags = NB_UNARY_FLAGS),
};

nb_status nb__register_arith(void)
{
	(void)no_attrs;
	return nb__register_table(ops, sizeof ops / sizeof *ops);
}

#define WRAP2(NAME, OP)                                                          \
	nb_tensor *nb_##NAME(nb_graph *g, nb_tensor *a, nb_tensor *b)        \
	{                                                                    \
		return nb_apply(g, &ops[OP], 2, (nb_tensor *[]){a, b}, NULL);      \
	}
#define WRAP1(NAME, OP)                                                          \
	nb_tensor *nb_##NAME(nb_graph *g, nb_tensor *x)                      \
	{                                                                    \
		return nb_apply(g, &ops[OP], 1, &x, NULL);                         \
	}

WRAP2(add, OP_ADD)
WRAP2(sub, OP_SUB)
WRAP2(mul, OP_MUL)
WRAP2(div, OP_DIV)
WRAP1(neg, OP_NEG)
WRAP1(exp, OP_EXP)
WRAP1(log, OP_LOG)
WRAP1(sqrt, OP_SQRT)
WRAP1(abs, OP_ABS)

nb_tensor *nb_pow(nb_graph *g, nb_tensor *x, double exponent)
{
	pow_attrs a = {exponent};
	return nb_apply(g, &ops[OP_POW], 1, &x, &a);
}

nb_tensor *nb_affine_scalar(nb_graph *g, nb_tensor *x, double s, double t)
{
	affine_attrs a = {s, t};
	return nb_apply(g, &ops[OP_AFFINE_SCALAR], 1, &x, &a);
}
