/*
 * activation.c - the activation functions: sigmoid, tanh, the ReLU
 * family (relu, leaky_relu, rrelu, prelu), the exponential units (elu,
 * selu, celu), the smooth gates (gelu, silu, mish), softplus, softsign,
 * the hard approximations (hardtanh, hardsigmoid, hardswish) and
 * log_sigmoid.  doc/activations.md gives each formula, derivative and
 * range, and when to use which.
 *
 * Every formula is written in a form that stays finite and accurate for
 * any finite input (tested from -1e4 to 1e4 in float32 and float64):
 *  - sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below,
 *    both from z = exp(-|x|) <= 1, so nothing overflows; its derivative
 *    sigmoid(x) sigmoid(-x) = z / (1 + z)^2 has no 1 - y cancellation.
 *  - tanh'(x) = 1 - tanh^2 x = 4z / (1 + z)^2 with z = exp(-2|x|).
 *  - log(1 + e^x) = max(x, 0) + log1p(exp(-|x|)) (softplus, log_sigmoid).
 *  - gelu:  x Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2, which keeps
 *    its relative accuracy in the lower tail where 1 + erf(x / sqrt 2)
 *    cancels to 0 (in float, gelu_f32.h's exp(-x^2 / 2) R(|x|), the
 *    same upper tail); the tanh form uses 1 + tanh(u) = 2 sigmoid(2u).
 *  - mish:  tanh(softplus(x)) = n / (n + 2) with n = e^x (e^x + 2),
 *    rewritten in z = exp(-x) for x >= 0.
 * Branches follow PyTorch at the kinks (relu'(0) = 0, elu'(0) = alpha,
 * hardtanh' = 0 at its limits, ...), so gradients match it there too.
 */
#include "vecmath.h"
#include <tgmath.h>
#include <stdio.h>
#include "elementwise.h"
#include "gelu_f32.h"

/* ---- stable building blocks, for float and double ---- */

#define ACT_HELPERS(T)                                                       \
	/* sigmoid(x), from z = exp(-|x|) in (0, 1]. */                      \
	static inline T sigm_##T(T x)                                        \
	{                                                                    \
		T z = exp(-fabs(x));                                         \
		return x >= 0 ? 1 / (1 + z) : z / (1 + z);                   \
	}                                                                    \
	/* sigmoid'(x) = sigmoid(x) sigmoid(-x) = z / (1 + z)^2. */          \
	static inline T dsigm_##T(T x)                                       \
	{                                                                    \
		T z = exp(-fabs(x));                                         \
		return z / ((1 + z) * (1 + z));                              \
	}                                                                    \
	/* tanh'(x) = 1 - tanh^2(x) = 4z / (1 + z)^2, z = exp(-2|x|). */     \
	static inline T dtanh_##T(T x)                                       \
	{                                                                    \
		T z = exp(-2 * fabs(x));                                     \
		return 4 * z / ((1 + z) * (1 + z));                          \
	}                                                                    \
	/* log(1 + e^x).  x >= 0 ? x : 0 is fmax(x, 0) (NaN gives 0, -0     \
	 * stays -0) as a select, which vectorizes; fmax is a call. */       \
	static inline T softplus_##T(T x)                                    \
	{                                                                    \
		return (x >= 0 ? x : (T)0) + log1p(exp(-fabs(x)));           \
	}                                                                    \
	/* Phi(x), the standard normal CDF, and phi(x), its density. */      \
	static inline T ncdf_##T(T x)                                        \
	{                                                                    \
		return (T)0.5 * erfc(-x * (T)0.70710678118654752440);        \
	}                                                                    \
	static inline T npdf_##T(T x)                                        \
	{                                                                    \
		return (T)0.39894228040143267794 * exp((T)-0.5 * x * x);     \
	}                                                                    \
	/* gelu, tanh form: x (1 + tanh u) / 2 = x sigmoid(2u), with         \
	 * u = k (x + c x^3), k = sqrt(2 / pi), c = 0.044715.  x^2 is capped \
	 * so that u stays finite (the cap is far past saturation), by a     \
	 * select that vectorizes: fmin(x2, 1e30), 1e30 for NaN too. */      \
	static inline T gelu_u_##T(T x, T *du)                               \
	{                                                                    \
		const T k = (T)0.79788456080286535588, c = (T)0.044715;      \
		T x2 = x * x < (T)1e30 ? x * x : (T)1e30;                    \
		*du = k * (1 + 3 * c * x2);                                  \
		return k * x * (1 + c * x2);                                 \
	}                                                                    \
	static inline T gelu_tanh_##T(T x)                                   \
	{                                                                    \
		T du;                                                        \
		return x * sigm_##T(2 * gelu_u_##T(x, &du));                 \
	}                                                                    \
	/* d/dx x sigmoid(2u) = sigmoid(2u) + 2 x sigmoid'(2u) u'. */        \
	static inline T dgelu_tanh_##T(T x)                                  \
	{                                                                    \
		T du, u = gelu_u_##T(x, &du);                                \
		return sigm_##T(2 * u) + 2 * x * dsigm_##T(2 * u) * du;      \
	}                                                                    \
	/* tanh(softplus(x)).  With e = e^x, tanh(log(1 + e)) = n / (n + 2), \
	 * n = e (e + 2); for x >= 0, in z = e^-x: (1 + 2z) / (1 + 2z + 2z^2).\
	 */                                                                  \
	static inline T mish_t_##T(T x)                                      \
	{                                                                    \
		T e = exp(-fabs(x));                                         \
		if (x >= 0)                                                  \
			return (1 + 2 * e) / (1 + 2 * e + 2 * e * e);        \
		T n = e * (e + 2);                                           \
		return n / (n + 2);                                          \
	}                                                                    \
	/* 1 - tanh^2(softplus(x)) = 4 (n + 1) / (n + 2)^2                   \
	 * = (2z (1 + z) / (1 + 2z + 2z^2))^2 for x >= 0. */                  \
	static inline T mish_dt_##T(T x)                                     \
	{                                                                    \
		T e = exp(-fabs(x));                                         \
		if (x >= 0) {                                                \
			T q = 2 * e * (1 + e) / (1 + 2 * e + 2 * e * e);     \
			return q * q;                                        \
		}                                                            \
		T n = e * (e + 2);                                           \
		return 4 * (n + 1) / ((n + 2) * (n + 2));                    \
	}

ACT_HELPERS(float)
ACT_HELPERS(double)

/* Type-generic names for the formulas below (x is a float or a double). */
#define ACT_GENERIC(F, x) _Generic(+(x), float: F##_float, double: F##_double)
#define SIGM(x) ACT_GENERIC(sigm, x)(x)
#define DSIGM(x) ACT_GENERIC(dsigm, x)(x)
#define DTANH(x) ACT_GENERIC(dtanh, x)(x)
#define SOFTPLUS(x) ACT_GENERIC(softplus, x)(x)
#define NCDF(x) ACT_GENERIC(ncdf, x)(x)
#define NPDF(x) ACT_GENERIC(npdf, x)(x)
#define GELU_TANH(x) ACT_GENERIC(gelu_tanh, x)(x)
#define DGELU_TANH(x) ACT_GENERIC(dgelu_tanh, x)(x)
#define MISH_T(x) ACT_GENERIC(mish_t, x)(x)
#define MISH_DT(x) ACT_GENERIC(mish_dt, x)(x)

/* SELU's constants (Klambauer et al. 2017), as PyTorch uses them. */
#define SELU_ALPHA 1.6732632423543772848170429916717
#define SELU_SCALE 1.0507009873554804934193349852946

/* ---- attributes ---- */

typedef struct leaky_attrs {
	double negative_slope;
} leaky_attrs;

typedef struct rrelu_attrs {
	double lower, upper;
} rrelu_attrs;

typedef struct alpha_attrs {
	double alpha;
} alpha_attrs;

typedef struct gelu_attrs {
	int approximate; /* nb_gelu_approx */
} gelu_attrs;

typedef struct softplus_attrs {
	double beta, threshold;
} softplus_attrs;

typedef struct hardtanh_attrs {
	double min_val, max_val;
} hardtanh_attrs;

/* NB_UNBOUNDED: any value (NaN is refused by the attribute check). */
static const nb_attr_def leaky_defs[] = {
	{.name = "negative_slope", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(leaky_attrs, negative_slope), .def = 0.01,
	 .range = NB_UNBOUNDED, .doc = "slope a of the negative side, a x"},
};
static const nb_attr_def rrelu_defs[] = {
	{.name = "lower", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(rrelu_attrs, lower), .def = 1.0 / 8,
	 .range = NB_UNBOUNDED,
	 .doc = "lowest negative-side slope drawn in training"},
	{.name = "upper", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(rrelu_attrs, upper), .def = 1.0 / 3,
	 .range = NB_UNBOUNDED,
	 .doc = "highest negative-side slope; eval uses (lower + upper) / 2"},
};
static const nb_attr_def elu_defs[] = {
	{.name = "alpha", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(alpha_attrs, alpha), .def = 1,
	 .range = NB_UNBOUNDED, .doc = "alpha in alpha (e^x - 1) for x <= 0"},
};
static const nb_attr_def celu_defs[] = {
	{.name = "alpha", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(alpha_attrs, alpha), .def = 1,
	 .range = NB_UNBOUNDED,
	 .doc = "alpha in alpha (e^(x/alpha) - 1) for x <= 0; not 0"},
};
static const nb_attr_def gelu_defs[] = {
	{.name = "approximate", .type = NB_ATTR_ENUM,
	 .offset = offsetof(gelu_attrs, approximate), .def = 0,
	 .choices = "none|tanh",
	 .doc = "none: exact x Phi(x); tanh: the tanh formula"},
};
static const nb_attr_def softplus_defs[] = {
	{.name = "beta", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(softplus_attrs, beta), .def = 1,
	 .range = NB_UNBOUNDED, .doc = "log(1 + e^(beta x)) / beta; not 0"},
	{.name = "threshold", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(softplus_attrs, threshold), .def = 20,
	 .range = NB_UNBOUNDED, .doc = "identity where beta x > threshold"},
};
static const nb_attr_def hardtanh_defs[] = {
	{.name = "min_val", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(hardtanh_attrs, min_val), .def = -1,
	 .range = NB_UNBOUNDED, .doc = "lower limit"},
	{.name = "max_val", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(hardtanh_attrs, max_val), .def = 1,
	 .range = NB_UNBOUNDED, .doc = "upper limit, >= min_val"},
};

/* Checks across attributes, which the per-attribute ranges cannot say
 * (the .check of each op; the engine prefixes "opname: "). */
static bool rrelu_check(const void *attrs, char *why, size_t n)
{
	const rrelu_attrs *a = attrs;
	if (a->lower > a->upper) {
		snprintf(why, n, "lower = %g is above upper = %g", a->lower,
		         a->upper);
		return false;
	}
	return true;
}

static bool celu_check(const void *attrs, char *why, size_t n)
{
	if (((const alpha_attrs *)attrs)->alpha == 0) {
		snprintf(why, n, "alpha must not be 0 (x / alpha)");
		return false;
	}
	return true;
}

static bool softplus_check(const void *attrs, char *why, size_t n)
{
	if (((const softplus_attrs *)attrs)->beta == 0) {
		snprintf(why, n, "beta must not be 0 "
		         "(log(1 + e^(beta x)) / beta)");
		return false;
	}
	return true;
}

static bool hardtanh_check(const void *attrs, char *why, size_t n)
{
	const hardtanh_attrs *a = attrs;
	if (a->min_val > a->max_val) {
		snprintf(why, n, "min_val = %g is above max_val = %g",
		         a->min_val, a->max_val);
		return false;
	}
	return true;
}

/* ---- the elementwise ops: forward, then d/dx times g ---- */

/* The common gradcheck cases, and a kink at 0 (the ReLU family). */
#define CASES "[3,4]; [2,3,5]"
#define KINK0 .kinks = {0}, .n_kinks = 1

/* The flags of an elementwise activation (a layer in a spec). */
#define ACT_FLAGS (NB_UNARY_FLAGS | NB_OP_LAYER)

/* sigmoid(x) = 1 / (1 + e^-x);  sigmoid' = sigmoid(x) sigmoid(-x) */
NB_UNARY_OP(sigmoid, nb_noattrs, SIGM(x), g * DSIGM(x))
static const nb_op_test sigmoid_test = {
	.cases = CASES, .lo = -6, .hi = 6, .out_lo = 0, .out_hi = 1,
};
static const nb_op sigmoid_op = NB_UNARY_DESC0(sigmoid, NB_KIND_ACTIVATION,
    "1 / (1 + e^-x), in (0, 1)", &sigmoid_test, .flags = ACT_FLAGS);

/* tanh' = 1 - tanh^2 */
NB_UNARY_OP(tanh, nb_noattrs, tanh(x), g * DTANH(x))
static const nb_op_test tanh_test = {
	.cases = CASES, .lo = -3, .hi = 3, .out_lo = -1, .out_hi = 1,
};
static const nb_op tanh_op = NB_UNARY_DESC0(tanh, NB_KIND_ACTIVATION,
    "hyperbolic tangent, in (-1, 1)", &tanh_test, .flags = ACT_FLAGS);

/* relu and selu: the common cases around their kink at 0. */
static const nb_op_test kink0_test = {.cases = CASES, KINK0};

/* max(x, 0);  1 for x > 0, else 0.  NaN stays NaN, with gradient g, as
 * PyTorch's (its clamp propagates NaN; its backward zeroes only where
 * the result is <= 0). */
NB_UNARY_OP(relu, nb_noattrs, x <= 0 ? (T)0 : x, x <= 0 ? (T)0 : g)
static const nb_op relu_op = NB_UNARY_DESC0(relu, NB_KIND_ACTIVATION,
    "max(x, 0)", &kink0_test, .flags = ACT_FLAGS);

/* x for x > 0, a x otherwise */
NB_UNARY_OP(leaky_relu, leaky_attrs,
            x > 0 ? x : x * (T)A->negative_slope,
            x > 0 ? g : g * (T)A->negative_slope)
static const nb_op_test leaky_relu_test = {
	.cases = CASES "; [5]|negative_slope=0.2; [4]|negative_slope=-0.5",
	KINK0,
};
static const nb_op leaky_relu_op = NB_UNARY_DESC(leaky_relu,
    NB_KIND_ACTIVATION, "x for x > 0, else negative_slope * x",
    leaky_attrs, leaky_defs, &leaky_relu_test, .flags = ACT_FLAGS);

/* x for x > 0, alpha (e^x - 1) otherwise;  alpha e^x there */
NB_UNARY_OP(elu, alpha_attrs,
            x > 0 ? x : (T)A->alpha * expm1(x),
            x > 0 ? g : g * (T)A->alpha * exp(x))
static const nb_op_test elu_test = {.cases = CASES "; [5]|alpha=0.5", KINK0};
static const nb_op elu_op = NB_UNARY_DESC(elu, NB_KIND_ACTIVATION,
    "x for x > 0, else alpha (e^x - 1)", alpha_attrs, elu_defs, &elu_test,
    .flags = ACT_FLAGS);

/* scale * elu(x; alpha) with SELU's fixed constants */
NB_UNARY_OP(selu, nb_noattrs,
            x > 0 ? (T)SELU_SCALE * x
                  : (T)(SELU_SCALE * SELU_ALPHA) * expm1(x),
            x > 0 ? g * (T)SELU_SCALE
                  : g * (T)(SELU_SCALE * SELU_ALPHA) * exp(x))
static const nb_op selu_op = NB_UNARY_DESC0(selu, NB_KIND_ACTIVATION,
    "scale * elu(x, alpha), the self-normalizing constants", &kink0_test,
    .flags = ACT_FLAGS);

/* x for x > 0, alpha (e^(x/alpha) - 1) otherwise;  e^(x/alpha) there */
NB_UNARY_OP(celu, alpha_attrs,
            x > 0 ? x : (T)A->alpha * expm1(x / (T)A->alpha),
            x > 0 ? g : g * exp(x / (T)A->alpha))
static const nb_op_test celu_test = {
	.cases = CASES "; [5]|alpha=2; [5]|alpha=0.5", KINK0,
};
static const nb_op celu_op = NB_UNARY_DESC(celu, NB_KIND_ACTIVATION,
    "x for x > 0, else alpha (e^(x/alpha) - 1)", alpha_attrs, celu_defs,
    &celu_test, .flags = ACT_FLAGS, .check = celu_check);

/* x Phi(x);  Phi(x) + x phi(x).  Tanh form: see gelu_tanh above.
 * The two forms are separate kernels chosen once per call, so that the
 * exact one's loops (no branch) vectorize (issue 18: gelu's backward was
 * 15% of a transformer's training step).  float: gelu_f32.h's own exp
 * and rational Phi, built with FMA; double: libm's erfc and exp. */
NB_UNARY_OP_F32(gelu_erf, gelu_attrs, nb__gelu_f32(x), g * nb__dgelu_f32(x),
                x * NCDF(x), g * (NCDF(x) + x * NPDF(x)))
NB_UNARY_OP(gelu_tnh, gelu_attrs, GELU_TANH(x), g * DGELU_TANH(x))

static nb_status gelu_forward(nb_op_ctx *c)
{
	return ((const gelu_attrs *)c->attrs)->approximate
	       ? gelu_tnh_forward(c) : gelu_erf_forward(c);
}

static nb_status gelu_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	return ((const gelu_attrs *)c->attrs)->approximate
	       ? gelu_tnh_backward(c, gout, gin)
	       : gelu_erf_backward(c, gout, gin);
}
static const nb_op_test gelu_test = {
	.cases = CASES "; [3,4]|approximate=tanh", .lo = -4, .hi = 4,
};
static const nb_op gelu_op = NB_UNARY_DESC(gelu, NB_KIND_ACTIVATION,
    "x Phi(x), exact (erf) or tanh approximation", gelu_attrs, gelu_defs,
    &gelu_test, .flags = ACT_FLAGS);

/* silu and mish: the common cases on [-4, 4]. */
static const nb_op_test smooth_test = {.cases = CASES, .lo = -4, .hi = 4};

/* x sigmoid(x);  sigmoid(x) + x sigmoid'(x) */
NB_UNARY_OP(silu, nb_noattrs, x * SIGM(x), g * (SIGM(x) + x * DSIGM(x)))
static const nb_op silu_op = NB_UNARY_DESC0(silu, NB_KIND_ACTIVATION,
    "x sigmoid(x) (swish)", &smooth_test, .flags = ACT_FLAGS);

/* x t(x), t = tanh(softplus(x));  t + x (1 - t^2) sigmoid(x) */
NB_UNARY_OP(mish, nb_noattrs, x * MISH_T(x),
            g * (MISH_T(x) + x * SIGM(x) * MISH_DT(x)))
static const nb_op mish_op = NB_UNARY_DESC0(mish, NB_KIND_ACTIVATION,
    "x tanh(softplus(x))", &smooth_test, .flags = ACT_FLAGS);

/* log(1 + e^(b x)) / b, x where b x > threshold;  sigmoid(b x) */
NB_UNARY_OP(softplus, softplus_attrs,
            x * (T)A->beta > (T)A->threshold
                ? x : SOFTPLUS(x * (T)A->beta) / (T)A->beta,
            x * (T)A->beta > (T)A->threshold
                ? g : g * SIGM(x * (T)A->beta))
static const nb_op_test softplus_test = {
	.cases = CASES "; [5]|beta=2; [5]|beta=0.5 threshold=10",
};
static const nb_op softplus_op = NB_UNARY_DESC(softplus, NB_KIND_ACTIVATION,
    "log(1 + e^(beta x)) / beta, x where beta x > threshold",
    softplus_attrs, softplus_defs, &softplus_test, .flags = ACT_FLAGS,
    .check = softplus_check);

/* x / (1 + |x|);  1 / (1 + |x|)^2 */
NB_UNARY_OP(softsign, nb_noattrs, x / (1 + fabs(x)),
            g / ((1 + fabs(x)) * (1 + fabs(x))))
static const nb_op_test softsign_test = {
	.cases = CASES, .lo = -4, .hi = 4, .out_lo = -1, .out_hi = 1,
};
static const nb_op softsign_op = NB_UNARY_DESC0(softsign, NB_KIND_ACTIVATION,
    "x / (1 + |x|), in (-1, 1)", &softsign_test, .flags = ACT_FLAGS);

/* clamp(x, min, max);  1 strictly inside, 0 at and beyond the limits */
NB_UNARY_OP(hardtanh, hardtanh_attrs,
            x < (T)A->min_val ? (T)A->min_val
            : x > (T)A->max_val ? (T)A->max_val : x,
            x <= (T)A->min_val || x >= (T)A->max_val ? (T)0 : g)
/* The limits are attributes; out_lo/out_hi give the defaults. */
static const nb_op_test hardtanh_test = {
	.cases = CASES "; [6]|min_val=-0.5 max_val=0.5",
	.kinks = {-1, 1, -0.5, 0.5}, .n_kinks = 4, .out_lo = -1, .out_hi = 1,
};
static const nb_op hardtanh_op = NB_UNARY_DESC(hardtanh, NB_KIND_ACTIVATION,
    "x clamped to [min_val, max_val]", hardtanh_attrs, hardtanh_defs,
    &hardtanh_test, .flags = ACT_FLAGS, .check = hardtanh_check);

/* clamp(x + 3, 0, 6) / 6;  1/6 strictly inside (-3, 3) */
NB_UNARY_OP(hardsigmoid, nb_noattrs,
            x <= -3 ? (T)0 : x >= 3 ? (T)1 : (x + 3) / 6,
            x > -3 && x < 3 ? g / 6 : (T)0)
static const nb_op_test hardsigmoid_test = {
	.cases = CASES, .lo = -4, .hi = 4, .kinks = {-3, 3}, .n_kinks = 2,
	.out_lo = 0, .out_hi = 1,
};
static const nb_op hardsigmoid_op = NB_UNARY_DESC0(hardsigmoid,
    NB_KIND_ACTIVATION, "clamp(x + 3, 0, 6) / 6, in [0, 1]",
    &hardsigmoid_test, .flags = ACT_FLAGS);

/* x clamp(x + 3, 0, 6) / 6;  0 below -3, x/3 + 1/2 up to 3, then 1
 * (NaN takes the middle branch: a NaN gradient, as PyTorch's) */
NB_UNARY_OP(hardswish, nb_noattrs,
            x <= -3 ? (T)0 : x >= 3 ? x : x * (x + 3) / 6,
            x < -3 ? (T)0 : x > 3 ? g : g * (x / 3 + (T)0.5))
static const nb_op_test hardswish_test = {
	.cases = CASES, .lo = -4, .hi = 4, .kinks = {-3, 3}, .n_kinks = 2,
};
static const nb_op hardswish_op = NB_UNARY_DESC0(hardswish,
    NB_KIND_ACTIVATION, "x clamp(x + 3, 0, 6) / 6", &hardswish_test,
    .flags = ACT_FLAGS);

/* log sigmoid(x) = -softplus(-x) = min(x, 0) - log1p(e^-|x|);
 * derivative sigmoid(-x).  min(x, 0) as fmin's select (NaN gives 0). */
NB_UNARY_OP(log_sigmoid, nb_noattrs,
            (x <= 0 ? x : (T)0) - log1p(exp(-fabs(x))), g * SIGM(-x))
static const nb_op_test log_sigmoid_test = {
	.cases = CASES, .lo = -6, .hi = 6,
};
static const nb_op log_sigmoid_op = NB_UNARY_DESC0(log_sigmoid,
    NB_KIND_ACTIVATION, "log(sigmoid(x)) = -softplus(-x)",
    &log_sigmoid_test, .flags = ACT_FLAGS);

/* ---- rrelu: random negative slope in training ---- */

/*
 * Training: slope r_i ~ U[lower, upper) per element from the graph's
 * generator (one draw per element, whatever its sign, so the stream
 * does not depend on the data), saved for backward:
 *   y = x (x > 0), r_i x (x <= 0);   dy/dx = 1 or r_i.
 * Evaluation: r = (lower + upper) / 2 for every element, nothing saved:
 * a leaky_relu with slope r.  At x = 0 the gradient is the slope, as
 * PyTorch's (in evaluation its leaky_relu, in training its noise r_i).
 * Backward tells the two apart by whether forward saved slopes, so a
 * mode switch between forward and backward changes nothing.
 */
#define RRELU_T(T)                                                           \
	static void rrelu_fwd_##T(size_t n, const T *restrict x,             \
	                          T *restrict y, T *restrict slope, T mid,    \
	                          nb_rng *r, double lo, double hi)           \
	{                                                                    \
		for (size_t i = 0; i < n; i++) {                             \
			T a = mid;                                           \
			if (slope)                                           \
				a = slope[i] = (T)(lo + (hi - lo) *          \
				                   nb_rng_uniform(r));       \
			y[i] = x[i] > 0 ? x[i] : x[i] * a;                   \
		}                                                            \
	}                                                                    \
	static void rrelu_bwd_##T(size_t n, const T *restrict x,             \
	                          const T *restrict g, T *restrict dx,        \
	                          const T *restrict slope, T mid)            \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			dx[i] += x[i] > 0 ? g[i]                             \
			                  : g[i] * (slope ? slope[i] : mid); \
	}
RRELU_T(float)
RRELU_T(double)

static nb_status rrelu_forward(nb_op_ctx *c)
{
	const rrelu_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	double mid = (a->lower + a->upper) / 2;
	void *slope = NULL;
	if (nb_op_training(c) &&
	    !(slope = nb_op_save(c, nb__nbytes(x) ? nb__nbytes(x) : 1)))
		return NB_ENOMEM;
	if (x->dtype == NB_F32)
		rrelu_fwd_float(x->numel, x->data, c->out->data, slope,
		                (float)mid, nb_op_rng(c), a->lower, a->upper);
	else
		rrelu_fwd_double(x->numel, x->data, c->out->data, slope, mid,
		                 nb_op_rng(c), a->lower, a->upper);
	return NB_OK;
}

static nb_status rrelu_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	const rrelu_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	double mid = (a->lower + a->upper) / 2;
	if (x->dtype == NB_F32)
		rrelu_bwd_float(x->numel, x->data, gout->data, gin[0]->data,
		                c->saved, (float)mid);
	else
		rrelu_bwd_double(x->numel, x->data, gout->data, gin[0]->data,
		                 c->saved, mid);
	return NB_OK;
}

static const nb_op_test rrelu_test = {
	.cases = CASES "; [6]|lower=0.1 upper=0.3; [4]|lower=0.2 upper=0.2",
	KINK0,
};
/* Not ACT_FLAGS: random, and its backward accumulates. */
static const nb_op rrelu_op = NB_UNARY_DESC(rrelu, NB_KIND_ACTIVATION,
    "leaky relu with a slope drawn from [lower, upper] per element in "
    "training, their mean in eval", rrelu_attrs, rrelu_defs, &rrelu_test,
    .flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
    .check = rrelu_check);

/* ---- prelu: learned negative slope, shared or one per channel ---- */

/*
 * y = x (x > 0), w_c x otherwise, c the index along dim 1 (or w_0 for
 * every element when w has one element).
 *   dL/dx = g (x > 0), g w_c otherwise;
 *   dL/dw_c = sum of g x over the elements of channel c with x <= 0.
 */
static nb_status prelu_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	int64_t ch = x->ndim >= 2 ? x->shape[1] : 1;
	(void)res;
	if (w->ndim > 1)
		return nb_op_fail(c, NB_ESHAPE, "weight must be a scalar or "
		                  "1-D, not of rank %d", w->ndim);
	if (w->numel != 1 && (int64_t)w->numel != ch) {
		char xs[96], ws[96];
		return nb_op_fail(c, NB_ESHAPE, "weight %s has %zu elements: "
		    "it needs 1 (shared) or %lld (one per channel, dim 1 of input "
		    "%s)", nb_shape_str(w->ndim, w->shape, ws, sizeof ws),
		    w->numel, (long long)ch,
		    nb_shape_str(x->ndim, x->shape, xs, sizeof xs));
	}
	return NB_OK;
}

/* Elements of x as [outer, C, inner] around dim 1 (C = 1 when shared). */
static void prelu_dims(const nb_op_ctx *c, size_t *C, size_t *inner)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	*C = w->numel;
	*inner = 1;
	for (int i = 2; i < x->ndim; i++)
		*inner *= (size_t)x->shape[i];
	if (*C == 1)
		*inner = 1;
}

#define PRELU_T(T)                                                           \
	static void prelu_fwd_##T(size_t n, size_t C, size_t inner,          \
	                          const T *restrict x, const T *restrict w,  \
	                          T *restrict y)                             \
	{                                                                    \
		for (size_t i = 0; i < n; i++) {                             \
			T a = w[C == 1 ? 0 : (i / inner) % C];               \
			y[i] = x[i] > 0 ? x[i] : a * x[i];                   \
		}                                                            \
	}                                                                    \
	static void prelu_bwd_##T(size_t n, size_t C, size_t inner,          \
	                          const T *restrict x, const T *restrict w,  \
	                          const T *restrict g, T *restrict dx,        \
	                          T *restrict dw)                            \
	{                                                                    \
		double acc = 0;                                              \
		size_t cur = 0;                                              \
		for (size_t i = 0; i < n; i++) {                             \
			size_t k = C == 1 ? 0 : (i / inner) % C;             \
			if (dw && k != cur) {                                \
				dw[cur] += (T)acc;                           \
				acc = 0;                                     \
				cur = k;                                     \
			}                                                    \
			if (dx)                                              \
				dx[i] += x[i] > 0 ? g[i] : g[i] * w[k];      \
			if (!(x[i] > 0)) /* NaN too, as PyTorch */         \
				acc += (double)g[i] * (double)x[i];          \
		}                                                            \
		if (dw && n)                                                 \
			dw[cur] += (T)acc;                                   \
	}
PRELU_T(float)
PRELU_T(double)

static nb_status prelu_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	size_t C, inner;
	prelu_dims(c, &C, &inner);
	if (x->dtype == NB_F32)
		prelu_fwd_float(x->numel, C, inner, x->data, w->data,
		                c->out->data);
	else
		prelu_fwd_double(x->numel, C, inner, x->data, w->data,
		                 c->out->data);
	return NB_OK;
}

static nb_status prelu_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	void *dx = gin[0] ? gin[0]->data : NULL;
	void *dw = gin[1] ? gin[1]->data : NULL;
	size_t C, inner;
	prelu_dims(c, &C, &inner);
	if (x->dtype == NB_F32)
		prelu_bwd_float(x->numel, C, inner, x->data, w->data,
		                gout->data, dx, dw);
	else
		prelu_bwd_double(x->numel, C, inner, x->data, w->data,
		                 gout->data, dx, dw);
	return NB_OK;
}

/* The weight is learned: a layer makes one shared slope of 0.25. */
static const nb_input_def prelu_inputs[] = {
	{.name = "input"},
	{.name = "weight", .role = NB_ROLE_PARAM, .shape = NB_SHAPE_ONE,
	 .fill = NB_FILL_CONST, .value = 0.25,
	 .doc = "[1] or [] shared, or [C] one per channel (dim 1 of input)"},
};

static const nb_op_test prelu_test = {
	.cases = "[3,4] [1]; [2,3,4] [3]; [4,3] [3]; [2,3] []; [5] [1]",
	KINK0,
};

static const nb_op prelu_op = {
	.version = NB_OP_VERSION,
	.name = "prelu",
	.kind = NB_KIND_ACTIVATION,
	.doc = "x for x > 0, else w * x; w learned, shared or one per "
	       "channel (dim 1)",
	.inputs = prelu_inputs,
	.n_inputs = 2,
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.shape = prelu_shape,
	.forward = prelu_forward,
	.backward = prelu_backward,
	.test = &prelu_test,
};

/* ---- typed wrappers (include/nabla/activation.h) ---- */

#define WRAP_PLAIN(NAME)                                                     \
	nb_tensor *nb_##NAME(nb_graph *g, nb_tensor *x)                      \
	{                                                                    \
		return nb_apply(g, &NAME##_op, 1, &x, NULL);                 \
	}

WRAP_PLAIN(sigmoid)
WRAP_PLAIN(tanh)
WRAP_PLAIN(relu)
WRAP_PLAIN(selu)
WRAP_PLAIN(silu)
WRAP_PLAIN(mish)
WRAP_PLAIN(softsign)
WRAP_PLAIN(hardsigmoid)
WRAP_PLAIN(hardswish)
WRAP_PLAIN(log_sigmoid)

nb_tensor *nb_leaky_relu(nb_graph *g, nb_tensor *x, double negative_slope)
{
	leaky_attrs a = {negative_slope};
	return nb_apply(g, &leaky_relu_op, 1, &x, &a);
}

nb_tensor *nb_rrelu(nb_graph *g, nb_tensor *x, double lower, double upper)
{
	rrelu_attrs a = {lower, upper};
	return nb_apply(g, &rrelu_op, 1, &x, &a);
}

nb_tensor *nb_prelu(nb_graph *g, nb_tensor *x, nb_tensor *weight)
{
	return nb_apply(g, &prelu_op, 2, (nb_tensor *[]){x, weight},
	                NULL);
}

nb_tensor *nb_elu(nb_graph *g, nb_tensor *x, double alpha)
{
	alpha_attrs a = {alpha};
	return nb_apply(g, &elu_op, 1, &x, &a);
}

nb_tensor *nb_celu(nb_graph *g, nb_tensor *x, double alpha)
{
	alpha_attrs a = {alpha};
	return nb_apply(g, &celu_op, 1, &x, &a);
}

nb_tensor *nb_gelu(nb_graph *g, nb_tensor *x, nb_gelu_approx approximate)
{
	gelu_attrs a = {(int)approximate};
	return nb_apply(g, &gelu_op, 1, &x, &a);
}

nb_tensor *nb_softplus(nb_graph *g, nb_tensor *x, double beta,
                       double threshold)
{
	softplus_attrs a = {beta, threshold};
	return nb_apply(g, &softplus_op, 1, &x, &a);
}

nb_tensor *nb_hardtanh(nb_graph *g, nb_tensor *x, double min_val,
                       double max_val)
{
	hardtanh_attrs a = {min_val, max_val};
	return nb_apply(g, &hardtanh_op, 1, &x, &a);
}

/* The family, in the order `nabla ops` lists it. */
const nb_op *const nb__activation_ops[] = {
	&sigmoid_op, &tanh_op, &relu_op, &leaky_relu_op, &rrelu_op, &prelu_op,
	&elu_op, &selu_op, &celu_op, &gelu_op, &silu_op, &mish_op,
	&softplus_op, &softsign_op, &hardtanh_op, &hardsigmoid_op,
	&hardswish_op, &log_sigmoid_op, NULL,
};
