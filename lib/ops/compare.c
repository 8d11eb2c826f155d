/*
 * compare.c - comparisons, logic and the NaN tests (issue 15).  No
 * gradient (NB_OP_NO_GRAD); the results are bool (NB_BOOL, 0 or 1);
 * the binary ones broadcast as NumPy.  Inputs may be float32, float64,
 * int64 or bool, both of one dtype (PyTorch would promote mixed dtypes;
 * nabla asks for one, NB_EDTYPE otherwise).
 *
 * Comparisons are IEEE: NaN is unequal to everything (ne is true) and
 * neither less nor greater.  Logic reads nonzero as true, so NaN is
 * true, as PyTorch's bool().  int64 is compared as int64, never through
 * double (2^53 + 1 != 2^53).
 */
#include <math.h>
#include "bcast_iter.h"

static const nb_input_def bin_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE | NB_IN_NONDIFF},
	{.name = "other", .flags = NB_IN_ANY_DTYPE | NB_IN_NONDIFF},
};
static const nb_input_def un_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE | NB_IN_NONDIFF},
};

/* The broadcast shape of both inputs, as bool. */
static nb_status bin_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	if (!nb__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape,
	                         &res->ndim, res->shape))
		return nb_op_fail(c, NB_ESHAPE, "shapes do not broadcast");
	res->dtype = NB_BOOL;
	return NB_OK;
}

static nb_status un_shape(nb_op_ctx *c, nb_result_def *res)
{
	(void)c;
	res->dtype = NB_BOOL;
	return NB_OK;
}

/*
 * One loop per dtype and comparison: y[i] = a OP b over the broadcast
 * result (a plain loop when the shapes agree).
 */
#define BIN_LOOP(T, EXPR)                                                   \
	do {                                                                \
		const T *pa = c->in[0]->data, *pb = c->in[1]->data;         \
		if (same) {                                                 \
			for (size_t i = 0; i < n; i++) {                    \
				T x = pa[i], z = pb[i];                     \
				y[i] = (uint8_t)(EXPR);                     \
			}                                                   \
			break;                                              \
		}                                                           \
		nb__bc it;                                                  \
		nb__bc_init(&it, c->out, 2, (const nb_tensor *const *)c->in); \
		for (size_t i = 0; i < n; i++, nb__bc_next(&it)) {          \
			T x = pa[it.off[0]], z = pb[it.off[1]];             \
			y[i] = (uint8_t)(EXPR);                             \
		}                                                           \
	} while (0)

#define BIN_OP(NAME, EXPR)                                                  \
	static nb_status NAME##_forward(nb_op_ctx *c)                       \
	{                                                                   \
		uint8_t *y = c->out->data;                                  \
		size_t n = c->out->numel;                                   \
		bool same = nb__same_shape(c->in[0], c->in[1]) &&           \
		            nb__same_shape(c->in[0], c->out);               \
		switch (c->in[0]->dtype) {                                  \
		case NB_F32: BIN_LOOP(float, EXPR); break;                  \
		case NB_F64: BIN_LOOP(double, EXPR); break;                 \
		case NB_I64: BIN_LOOP(int64_t, EXPR); break;                \
		default: BIN_LOOP(uint8_t, EXPR); break;                    \
		}                                                           \
		return NB_OK;                                               \
	}

BIN_OP(eq, x == z)
BIN_OP(ne, x != z)
BIN_OP(lt, x < z)
BIN_OP(le, x <= z)
BIN_OP(gt, x > z)
BIN_OP(ge, x >= z)
BIN_OP(logical_and, x != 0 && z != 0)
BIN_OP(logical_or, x != 0 || z != 0)

#define UN_LOOP(T, EXPR)                                                    \
	do {                                                                \
		const T *px = c->in[0]->data;                               \
		for (size_t i = 0; i < n; i++) {                            \
			T x = px[i];                                        \
			y[i] = (uint8_t)(EXPR);                             \
		}                                                           \
	} while (0)

/* FEXPR for float elements, IEXPR for int64 and bool ones. */
#define UN_OP(NAME, FEXPR, IEXPR)                                           \
	static nb_status NAME##_forward(nb_op_ctx *c)                       \
	{                                                                   \
		uint8_t *y = c->out->data;                                  \
		size_t n = c->out->numel;                                   \
		switch (c->in[0]->dtype) {                                  \
		case NB_F32: UN_LOOP(float, FEXPR); break;                  \
		case NB_F64: UN_LOOP(double, FEXPR); break;                 \
		case NB_I64: UN_LOOP(int64_t, IEXPR); break;                \
		default: UN_LOOP(uint8_t, IEXPR); break;                    \
		}                                                           \
		return NB_OK;                                               \
	}

UN_OP(logical_not, x == 0, x == 0)
UN_OP(isnan, isnan(x), 0 && x)
UN_OP(isfinite, isfinite(x), 1 || x)

/* Inputs are float in the recipes; ties come from the reference cases
 * and tests/test_index.c. */
static const nb_op_test bin_test = {
	.cases = "[3,4] [3,4]; [2,3] [3]; [4,1] [1,5]; [] [2]",
};
static const nb_op_test un_test = {
	.cases = "[3,4]; [2,1,3]; []",
};

#define CMP_FLAGS (NB_OP_NO_GRAD | NB_OP_WRITES_OUTPUT)

#define BIN_DESC(NAME, DOC)                                                 \
	static const nb_op NAME##_op = {                                    \
		.version = NB_OP_VERSION, .name = #NAME,                    \
		.kind = NB_KIND_ARITH, .doc = DOC, .inputs = bin_inputs,    \
		.n_inputs = 2, .flags = CMP_FLAGS, .shape = bin_shape,      \
		.forward = NAME##_forward, .test = &bin_test,               \
	}
#define UN_DESC(NAME, DOC)                                                  \
	static const nb_op NAME##_op = {                                    \
		.version = NB_OP_VERSION, .name = #NAME,                    \
		.kind = NB_KIND_ARITH, .doc = DOC, .inputs = un_inputs,     \
		.n_inputs = 1, .flags = CMP_FLAGS, .shape = un_shape,       \
		.forward = NAME##_forward, .test = &un_test,                \
	}

BIN_DESC(eq, "input == other, bool, broadcast (NaN equals nothing)");
BIN_DESC(ne, "input != other, bool, broadcast (true for NaN)");
BIN_DESC(lt, "input < other, bool, broadcast (false for NaN)");
BIN_DESC(le, "input <= other, bool, broadcast (false for NaN)");
BIN_DESC(gt, "input > other, bool, broadcast (false for NaN)");
BIN_DESC(ge, "input >= other, bool, broadcast (false for NaN)");
BIN_DESC(logical_and, "both nonzero (NaN is true), bool, broadcast");
BIN_DESC(logical_or, "either nonzero (NaN is true), bool, broadcast");
UN_DESC(logical_not, "input == 0, bool (NaN is true, so not gives false)");
UN_DESC(isnan, "whether each element is NaN, bool");
UN_DESC(isfinite, "whether each element is neither NaN nor infinite, "
        "bool");

const nb_op *const nb__compare_ops[] = {
	&eq_op, &ne_op, &lt_op, &le_op, &gt_op, &ge_op, &logical_and_op,
	&logical_or_op, &logical_not_op, &isnan_op, &isfinite_op, NULL,
};

/* ---- typed wrappers ---- */

#define BIN_WRAP(NAME)                                                      \
	nb_tensor *nb_##NAME(nb_graph *g, nb_tensor *a, nb_tensor *b)       \
	{                                                                   \
		nb_tensor *in[2] = {a, b};                                  \
		return nb_apply(g, &NAME##_op, 2, in, NULL);                \
	}
#define UN_WRAP(NAME)                                                       \
	nb_tensor *nb_##NAME(nb_graph *g, nb_tensor *x)                     \
	{                                                                   \
		return nb_apply(g, &NAME##_op, 1, &x, NULL);                \
	}

BIN_WRAP(eq)
BIN_WRAP(ne)
BIN_WRAP(lt)
BIN_WRAP(le)
BIN_WRAP(gt)
BIN_WRAP(ge)
BIN_WRAP(logical_and)
BIN_WRAP(logical_or)
UN_WRAP(logical_not)
UN_WRAP(isnan)
UN_WRAP(isfinite)
