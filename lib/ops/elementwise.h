/*
 * elementwise.h - macros that turn an elementwise formula into an op's
 * forward and backward kernels, for float and double, so that each op
 * of a family is one formula and one table row.  Private.
 *
 * Inside the formulas, T is the element type, x the input element, y the
 * output element, g the output gradient element and A the op's attribute
 * struct.  Kernels are plain loops over contiguous memory that the
 * compiler vectorizes where the formula allows.
 */
#ifndef NB_ELEMENTWISE_H
#define NB_ELEMENTWISE_H

#include "../internal.h"

typedef struct nb_noattrs {
	char unused;
} nb_noattrs;

/*
 * A file that includes vecmath.h first (its formulas call libm) gets its
 * unary kernels built for AVX2 as well (NB_VEC_CLONES), so that exp,
 * tanh, erfc... go 8 wide there; the others keep one baseline build.
 */
#ifdef NB_VECMATH_H
#define NB__UNARY_CLONES NB_VEC_CLONES
#else
#define NB__UNARY_CLONES
#endif

/*
 * The attributes A in a kernel: a local copy of *A_ (NULL for an op
 * without attributes), so that a formula's A->alpha is a loop invariant
 * the compiler may read in any branch (a load through A_ in one branch
 * of a select would stop the loop from vectorizing).
 */
#define NB__UNARY_ATTRS(ATYPE)                                               \
	const ATYPE Av_ = A_ ? *A_ : (ATYPE){0}, *const A = &Av_;            \
	(void)A

#define NB__UNARY_T(NAME, TY, ATYPE, CLONES, FWD, BWD)                       \
	CLONES                                                               \
	static void NAME##_fwd_##TY(size_t n, const TY *restrict xs,           \
	                           TY *restrict ys,                           \
	                           const ATYPE *A_)                           \
	{                                                                    \
		typedef TY T;                                                \
		NB__UNARY_ATTRS(ATYPE);                                      \
		for (size_t i = 0; i < n; i++) {                             \
			const T x = xs[i];                                   \
			ys[i] = (T)(FWD);                                    \
		}                                                            \
	}                                                                    \
	/* dx += BWD, or dx = BWD into a fresh gradient (NB_OP_GRAD_FRESH) */\
	CLONES                                                               \
	static void NAME##_bwd_##TY(size_t n, const TY *restrict xs,           \
	                           const TY *restrict ys,                     \
	                           const TY *restrict gs, TY *restrict dx,     \
	                           const ATYPE *A_, bool fresh)               \
	{                                                                    \
		typedef TY T;                                                \
		NB__UNARY_ATTRS(ATYPE);                                      \
		if (fresh) {                                                 \
			for (size_t i = 0; i < n; i++) {                     \
				const T x = xs[i], y = ys[i], g = gs[i];     \
				(void)x;                                     \
				(void)y;                                     \
				dx[i] = (T)(BWD);                            \
			}                                                    \
			return;                                              \
		}                                                            \
		for (size_t i = 0; i < n; i++) {                             \
			const T x = xs[i], y = ys[i], g = gs[i];             \
			(void)x;                                             \
			(void)y;                                             \
			dx[i] += (T)(BWD);                                   \
		}                                                            \
	}

/*
 * One call's arrays, split over nabla's pool in chunks of
 * NB__UNARY_GRAIN elements (nb__parallel_for: a call under twice its
 * minimum of work runs on the calling thread).  Each element is
 * computed alone, so the result is the same at any thread count.
 */
typedef struct nb__unary_job {
	const char *x, *y, *g;
	char *out;
	const void *attrs;
	bool fresh;
} nb__unary_job;

#define NB__UNARY_GRAIN ((size_t)1 << 14)

/* Chunk [lo, hi) of a job, for nb__parallel_for. */
#define NB__UNARY_RANGES(NAME, TY, ATYPE)                                    \
	static void NAME##_fwd_range_##TY(void *ctx, size_t lo, size_t hi)   \
	{                                                                    \
		const nb__unary_job *j = ctx;                                \
		NAME##_fwd_##TY(hi - lo, (const TY *)j->x + lo,              \
		                (TY *)j->out + lo, j->attrs);                \
	}                                                                    \
	static void NAME##_bwd_range_##TY(void *ctx, size_t lo, size_t hi)   \
	{                                                                    \
		const nb__unary_job *j = ctx;                                \
		NAME##_bwd_##TY(hi - lo, (const TY *)j->x + lo,              \
		                (const TY *)j->y + lo, (const TY *)j->g + lo,\
		                (TY *)j->out + lo, j->attrs, j->fresh);      \
	}

/*
 * Defines NAME##_forward and NAME##_backward for a unary elementwise op
 * whose attributes are an ATYPE.  Forward writes every element and
 * backward honours c->fresh: rows may set NB_OP_WRITES_OUTPUT |
 * NB_OP_GRAD_FRESH (NB_UNARY_FLAGS).
 */
#define NB_UNARY_OP(NAME, ATYPE, FWD, BWD)                                   \
	NB__UNARY_T(NAME, float, ATYPE, NB__UNARY_CLONES, FWD, BWD)          \
	NB__UNARY_T(NAME, double, ATYPE, NB__UNARY_CLONES, FWD, BWD)         \
	NB__UNARY_ENTRIES(NAME, ATYPE)

/*
 * The same with float kernels of their own, FWD32 and BWD32, built with
 * NB_FMA_CLONES (vecmath.h: an x86-64-v3 clone that contracts a * b + c
 * into FMAs): for float math written out as polynomials rather than
 * libm calls (gelu_f32.h), where FMA halves the instructions.  The
 * double kernels are NB_UNARY_OP's.
 */
#define NB_UNARY_OP_F32(NAME, ATYPE, FWD32, BWD32, FWD, BWD)                 \
	NB__UNARY_T(NAME, float, ATYPE, NB_FMA_CLONES, FWD32, BWD32)         \
	NB__UNARY_T(NAME, double, ATYPE, NB__UNARY_CLONES, FWD, BWD)         \
	NB__UNARY_ENTRIES(NAME, ATYPE)

/* NAME##_forward and NAME##_backward over the kernels of both types. */
#define NB__UNARY_ENTRIES(NAME, ATYPE)                                       \
	NB__UNARY_RANGES(NAME, float, ATYPE)                                 \
	NB__UNARY_RANGES(NAME, double, ATYPE)                                \
	static nb_status NAME##_forward(nb_op_ctx *c)                        \
	{                                                                    \
		const nb_tensor *x = c->in[0];                               \
		nb__unary_job j = {.x = x->data, .out = c->out->data,        \
		                   .attrs = c->attrs};                       \
		nb__parallel_for(x->numel, NB__UNARY_GRAIN, 1,               \
		                 x->dtype == NB_F32 ? NAME##_fwd_range_float \
		                                    : NAME##_fwd_range_double,\
		                 &j);                                        \
		return NB_OK;                                                \
	}                                                                    \
	static nb_status NAME##_backward(nb_op_ctx *c, const nb_tensor *gout,\
	                                 nb_tensor *const *gin)              \
	{                                                                    \
		const nb_tensor *x = c->in[0];                               \
		nb__unary_job j = {.x = x->data, .y = c->out->data,          \
		                   .g = gout->data, .out = gin[0]->data,     \
		                   .attrs = c->attrs,                        \
		                   .fresh = c->fresh & 1u};                  \
		nb__parallel_for(x->numel, NB__UNARY_GRAIN, 1,               \
		                 x->dtype == NB_F32 ? NAME##_bwd_range_float \
		                                    : NAME##_bwd_range_double,\
		                 &j);                                        \
		return NB_OK;                                                \
	}

/* The flags of an op whose forward and backward come from NB_UNARY_OP. */
#define NB_UNARY_FLAGS (NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH)

/* The one input of a unary op. */
__attribute__((unused)) static const nb_input_def nb__unary_inputs[] = {
	{.name = "input"},
};

/*
 * The descriptor of a unary op defined with NB_UNARY_OP, with test
 * metadata TEST (a pointer to an nb_op_test); more designated
 * initializers (.flags, .check) may follow.
 */
#define NB_UNARY_DESC(NAME, KIND, DOC, ATYPE, ATTRS, TEST, ...)              \
	{                                                                    \
		.version = NB_OP_VERSION, .name = #NAME, .kind = KIND,       \
		.doc = DOC, .inputs = nb__unary_inputs, .n_inputs = 1,       \
		.attrs = ATTRS,                                              \
		.n_attrs = (int)(sizeof(ATTRS) / sizeof(nb_attr_def)),       \
		.attrs_size = sizeof(ATYPE), .forward = NAME##_forward,      \
		.backward = NAME##_backward, .test = TEST, __VA_ARGS__       \
	}

/* The same for a unary op without attributes (NB_UNARY_OP with
 * nb_noattrs). */
#define NB_UNARY_DESC0(NAME, KIND, DOC, TEST, ...)                           \
	{                                                                    \
		.version = NB_OP_VERSION, .name = #NAME, .kind = KIND,       \
		.doc = DOC, .inputs = nb__unary_inputs, .n_inputs = 1,       \
		.forward = NAME##_forward, .backward = NAME##_backward,      \
		.test = TEST, __VA_ARGS__                                    \
	}

/*
 * Iterates over the elements of a broadcast result of shape (nd, shape):
 * runs the body (the last argument) with i the flat output index and ia, ib the offsets into the
 * two operands, whose broadcast strides are sta and stb.
 */
#define NB_BCAST_LOOP(nd, shape, sta, stb, ...)                              \
	do {                                                                 \
		int64_t idx_[NB_MAX_DIMS] = {0};                             \
		size_t n_ = nb__numel(nd, shape);                            \
		int64_t oa_ = 0, ob_ = 0;                                    \
		int64_t in_ = (nd) ? (shape)[(nd) - 1] : 1;                  \
		int64_t sa_ = (nd) ? (sta)[(nd) - 1] : 0;                    \
		int64_t sb_ = (nd) ? (stb)[(nd) - 1] : 0;                    \
		for (size_t base_ = 0; base_ < n_; base_ += (size_t)in_) {   \
			for (int64_t j_ = 0; j_ < in_; j_++) {               \
				size_t i = base_ + (size_t)j_;               \
				int64_t ia = oa_ + j_ * sa_;                 \
				int64_t ib = ob_ + j_ * sb_;                 \
				(void)ia;                                    \
				(void)ib;                                    \
				__VA_ARGS__;                                 \
			}                                                    \
			for (int k_ = (nd) - 2; k_ >= 0; k_--) {             \
				oa_ += (sta)[k_];                            \
				ob_ += (stb)[k_];                            \
				if (++idx_[k_] < (shape)[k_])                \
					break;                               \
				oa_ -= (sta)[k_] * (shape)[k_];              \
				ob_ -= (stb)[k_] * (shape)[k_];              \
				idx_[k_] = 0;                                \
			}                                                    \
		}                                                            \
	} while (0)

#endif
