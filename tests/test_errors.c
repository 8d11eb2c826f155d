/*
 * test_errors.c - every error path of the dispatcher (lib/dispatch.c)
 * and of the base ops, with its code and message; the sticky error; and
 * allocation-failure sweeps: whichever allocation fails, a call reports
 * NB_ENOMEM, leaks nothing and never crashes.
 */
#include "support/helpers.h"
#include "support/faultalloc.h"

/* The sweeps reach huge mallocs nowhere, but keep ASan's allocator
 * behaving like the C library's if an op ever asks for one. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static nb_graph *new_graph(void)
{
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g, "%s", nb_last_error());
	return g;
}

/* Asserts that r is NULL, that the graph's error is code and that its
 * message holds each of the NULL-terminated substrings; then clears it. */
static void expect_fail(nb_graph *g, const nb_tensor *r, nb_status code,
                        const char *what, ...)
{
	va_list ap;
	cr_expect_null(r, "%s: a result instead of an error", what);
	cr_expect_eq(nb_graph_status(g), code, "%s: status %s, want %s (%s)",
	             what, nb_strerror(nb_graph_status(g)), nb_strerror(code),
	             nb_graph_errmsg(g));
	cr_expect_eq(nb_last_status(), code, "%s: last status %s", what,
	             nb_strerror(nb_last_status()));
	va_start(ap, what);
	for (const char *s; (s = va_arg(ap, const char *));)
		cr_expect(strstr(nb_graph_errmsg(g), s) != NULL,
		          "%s: message '%s' lacks '%s'", what, nb_graph_errmsg(g),
		          s);
	va_end(ap);
	nb_graph_clear_error(g);
}

static nb_tensor *gt(nb_graph *g, nb_dtype dt, int ndim, const int64_t *s)
{
	nb_tensor *t = nb_graph_tensor(g, dt, ndim, s);
	cr_assert_not_null(t);
	return t;
}

/* ---- the dispatcher's checks ---- */

Test(errors, wrong_input_count)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(3));
	nb_tensor *in[NB_MAX_INPUTS + 1] = {x, x, x, x, x, x, x, x, x};
	expect_fail(g, nb_call(g, "add", 1, in, NULL), NB_EINVAL, "add/1",
	            "add", "takes 2 inputs, got 1", NULL);
	expect_fail(g, nb_call(g, "add", 3, in, NULL), NB_EINVAL, "add/3",
	            "add", "got 3", NULL);
	expect_fail(g, nb_call(g, "exp", 0, NULL, NULL), NB_EINVAL, "exp/0",
	            "exp", "takes 1 inputs, got 0", NULL);
	expect_fail(g, nb_call(g, "exp", -1, in, NULL), NB_EINVAL, "exp/-1",
	            "exp", "bad input list", NULL);
	expect_fail(g, nb_call(g, "exp", NB_MAX_INPUTS + 1, in, NULL),
	            NB_EINVAL, "exp/17", "takes 1 inputs, got 17", NULL);
	expect_fail(g, nb_call(g, "exp", NB_MAX_CALL_INPUTS + 1, in, NULL),
	            NB_EINVAL, "exp/65537", "bad input list", NULL);
	/* Trailing optional inputs may be left out (linear's bias), a
	 * required one not (linear's weight). */
	nb_tensor *x2 = gt(g, NB_F32, NB_SHAPE(2, 3));
	nb_tensor *w2 = gt(g, NB_F32, NB_SHAPE(4, 3));
	nb_tensor *y = nb_call(g, "linear", 2, (nb_tensor *[]){x2, w2}, NULL);
	cr_expect_not_null(y, "linear without bias: %s", nb_graph_errmsg(g));
	expect_fail(g, nb_call(g, "linear", 1, &x2, NULL), NB_EINVAL,
	            "linear/1", "linear", "takes 3 inputs, got 1", NULL);
	/* A count without a list. */
	const nb_op *add = nb_op_find("add");
	expect_fail(g, nb_apply(g, add, 2, NULL, NULL), NB_EINVAL,
	            "add/NULL", "add", "bad input list", NULL);
	expect_fail(g, nb_apply(g, add, NB_MAX_INPUTS, NULL, NULL), NB_EINVAL,
	            "add/8 NULL", "bad input list", NULL);
	nb_graph_free(g);
}

Test(errors, null_graph_op_or_name)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(3));
	cr_expect_null(nb_apply(NULL, nb_op_find("exp"), 1, &x, NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_apply(g, NULL, 1, &x, NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_call(NULL, "exp", 1, &x, NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_call(g, NULL, 1, &x, NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_exp(NULL, x));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	nb_graph_free(g);
}

Test(errors, null_input)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(3));
	expect_fail(g, nb_exp(g, NULL), NB_EINVAL, "exp(NULL)", "exp",
	            "input 'input' is NULL", NULL);
	expect_fail(g, nb_add(g, x, NULL), NB_EINVAL, "add(x, NULL)", "add",
	            "'other' is NULL", "[3] float32", NULL);
	expect_fail(g, nb_linear(g, x, NULL, NULL), NB_EINVAL, "linear",
	            "'weight' is NULL", NULL);
	nb_graph_free(g);
}

Test(errors, sticky_error_keeps_the_first)
{
	nb_graph *g = new_graph();
	nb_tensor *a = gt(g, NB_F32, NB_SHAPE(3, 4));
	nb_tensor *b = gt(g, NB_F32, NB_SHAPE(5, 6));
	nb_tensor *c = gt(g, NB_F32, NB_SHAPE(7));
	/* exp(sum(matmul(a, b))): only the matmul fails. */
	nb_tensor *y = nb_exp(g, nb_sum(g, nb_matmul(g, a, b), 0, NULL,
	                                false));
	cr_expect_null(y);
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	const char *m = nb_graph_errmsg(g);
	cr_expect(strstr(m, "matmul") != NULL, "%s", m);
	cr_expect(strstr(m, "[3, 4]") != NULL, "%s", m);
	cr_expect(strstr(m, "[5, 6]") != NULL, "%s", m);
	cr_expect_eq(nb_graph_node_count(g), 0);
	/* A later, different failure does not replace it... */
	cr_expect_null(nb_add(g, a, c));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "matmul") != NULL);
	cr_expect_null(nb_call(g, "no_such_op", 1, &a, NULL));
	cr_expect(strstr(nb_graph_errmsg(g), "matmul") != NULL);
	/* ...though it is the thread's last error. */
	cr_expect_eq(nb_last_status(), NB_ENOTFOUND);
	/* Binary ops with a failed operand on either side. */
	cr_expect_null(nb_add(g, nb_matmul(g, a, b), a));
	cr_expect_null(nb_add(g, a, nb_matmul(g, a, b)));
	cr_expect(strstr(nb_graph_errmsg(g), "matmul") != NULL);
	/* Reset clears it. */
	nb_graph_reset(g);
	cr_expect_eq(nb_graph_status(g), NB_OK);
	cr_expect_str_eq(nb_graph_errmsg(g), "");
	nb_graph_free(g);
}

/* An optional input that is NULL because the op making it failed must
 * not pass for "not given": the result would then look fine. */
Test(errors, sticky_error_through_an_optional_input)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(2, 4));
	nb_tensor *w = gt(g, NB_F32, NB_SHAPE(3, 4));
	nb_tensor *b = gt(g, NB_F32, NB_SHAPE(3));
	nb_tensor *bad = gt(g, NB_F32, NB_SHAPE(5));
	nb_tensor *y = nb_exp(g, nb_linear(g, x, w, nb_add(g, b, bad)));
	cr_expect_null(y, "the failed bias was taken for an absent one");
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "add") != NULL, "%s",
	          nb_graph_errmsg(g));
	/* Without a pending error, NULL is "not given" as documented. */
	nb_graph_clear_error(g);
	y = nb_linear(g, x, w, NULL);
	cr_expect_not_null(y, "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
}

Test(errors, mixed_float_dtypes)
{
	nb_graph *g = new_graph();
	nb_tensor *f = gt(g, NB_F32, NB_SHAPE(3, 4));
	nb_tensor *d = gt(g, NB_F64, NB_SHAPE(3, 4));
	nb_tensor *w = gt(g, NB_F64, NB_SHAPE(2, 4));
	nb_tensor *bf = gt(g, NB_F32, NB_SHAPE(2));
	expect_fail(g, nb_add(g, f, d), NB_EDTYPE, "add", "add",
	            "mixed dtypes", "float64", "float32", NULL);
	expect_fail(g, nb_mul(g, d, f), NB_EDTYPE, "mul", "mul",
	            "'other' is float32", NULL);
	expect_fail(g, nb_matmul(g, f, nb_transpose(g, d, 0, 1)), NB_EDTYPE,
	            "matmul", "matmul", NULL);
	expect_fail(g, nb_linear(g, f, w, NULL), NB_EDTYPE, "linear",
	            "linear", "'weight'", NULL);
	expect_fail(g, nb_linear(g, d, w, bf), NB_EDTYPE, "linear bias",
	            "'bias'", NULL);
	expect_fail(g, nb_mse_loss(g, f, d,
		NB_REDUCTION_MEAN), NB_EDTYPE, "mse", "mse", NULL);
	nb_graph_free(g);
}

Test(errors, int64_where_a_float_is_expected)
{
	nb_graph *g = new_graph();
	nb_tensor *i = gt(g, NB_I64, NB_SHAPE(4));
	nb_tensor *f = gt(g, NB_F32, NB_SHAPE(4));
	nb_tensor *l = gt(g, NB_F32, NB_SHAPE(4, 3));
	expect_fail(g, nb_exp(g, i), NB_EDTYPE, "exp", "exp",
	            "must be float32 or float64, not int64", NULL);
	expect_fail(g, nb_add(g, f, i), NB_EDTYPE, "add", "'other'", "int64",
	            NULL);
	expect_fail(g, nb_sum(g, i, 0, NULL, false), NB_EDTYPE, "sum", "sum",
	            NULL);
	/* And a float where int64 class indices are expected. */
	expect_fail(g, nb_cross_entropy(g, l, f,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_EDTYPE, "ce target",
	            "cross_entropy", "must be int64, not float32", "float32",
	            NULL);
	expect_fail(g, nb_cross_entropy(g, i, i,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_EDTYPE, "ce logits",
	            "cross_entropy", "'input'", NULL);
	nb_graph_free(g);
}

Test(errors, shape_mismatches_name_the_op_and_the_shapes)
{
	nb_graph *g = new_graph();
	nb_tensor *a34 = gt(g, NB_F32, NB_SHAPE(3, 4));
	nb_tensor *a5 = gt(g, NB_F32, NB_SHAPE(5));
	nb_tensor *a56 = gt(g, NB_F32, NB_SHAPE(5, 6));
	nb_tensor *a53 = gt(g, NB_F32, NB_SHAPE(5, 3));
	nb_tensor *a54 = gt(g, NB_F32, NB_SHAPE(5, 4));
	nb_tensor *s = gt(g, NB_F32, 0, NULL);
	expect_fail(g, nb_add(g, a34, a5), NB_ESHAPE, "add", "add",
	            "broadcast", "[3, 4]", "[5]", NULL);
	expect_fail(g, nb_div(g, a56, a34), NB_ESHAPE, "div", "div", "[5, 6]",
	            NULL);
	expect_fail(g, nb_matmul(g, a34, a56), NB_ESHAPE, "matmul", "matmul",
	            "[3, 4]", "[5, 6]", NULL);
	expect_fail(g, nb_matmul(g, a34, a5), NB_ESHAPE, "matmul 1-D",
	            "matmul", "[5]", NULL);
	expect_fail(g, nb_matmul(g, s, a34), NB_ESHAPE, "matmul scalar",
	            "matmul", "at least one axis", "[]", NULL);
	expect_fail(g, nb_linear(g, a34, a53, NULL), NB_ESHAPE, "linear",
	            "linear", "[3, 4]", "[5, 3]", NULL);
	expect_fail(g, nb_linear(g, a34, a54, a34), NB_ESHAPE, "linear bias",
	            "linear", "bias", NULL);
	expect_fail(g, nb_linear(g, a34, a5, NULL), NB_ESHAPE, "linear 1-D w",
	            "linear", "weight", NULL);
	expect_fail(g, nb_linear(g, s, a54, NULL), NB_ESHAPE, "linear scalar x",
	            "linear", NULL);
	expect_fail(g, nb_mse_loss(g, a34, a53,
		NB_REDUCTION_MEAN), NB_ESHAPE, "mse", "mse",
	            "[3, 4]", "[5, 3]", NULL);
	expect_fail(g, nb_mse_loss(g, a5, s,
		NB_REDUCTION_MEAN), NB_ESHAPE, "mse rank", "mse",
	            NULL);
	nb_tensor *t3 = gt(g, NB_I64, NB_SHAPE(3));
	nb_tensor *t5 = gt(g, NB_I64, NB_SHAPE(5));
	expect_fail(g, nb_cross_entropy(g, a54, t3,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_ESHAPE, "ce N",
	            "cross_entropy", "[5, 4]", "[3]", NULL);
	expect_fail(g, nb_cross_entropy(g, a5, t5,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_ESHAPE, "ce 1-D",
	            "cross_entropy", NULL);
	nb_tensor *c0 = gt(g, NB_F32, NB_SHAPE(5, 0));
	expect_fail(g, nb_cross_entropy(g, c0, t5,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_ESHAPE, "ce C = 0",
	            "cross_entropy", "no classes", NULL);
	nb_graph_free(g);
}

Test(errors, bad_attribute_names)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(3));
	expect_fail(g, nb_call(g, "pow", 1, &x, "exp=2"), NB_ENOTFOUND, "pow",
	            "pow", "no attribute 'exp'", "exponent", NULL);
	expect_fail(g, nb_call(g, "exp", 1, &x, "alpha=1"), NB_ENOTFOUND,
	            "exp", "exp", "'alpha'", "takes none", NULL);
	expect_fail(g, nb_call(g, "sum", 1, &x, "keepdim=1 axis=0"),
	            NB_ENOTFOUND, "sum", "'axis'", "axes", "keepdim", NULL);
	expect_fail(g, nb_call(g, "pow", 1, &x, "exponent"), NB_EFORMAT,
	            "pow no value", "pow", "key=value", NULL);
	nb_graph_free(g);
}

Test(errors, bad_attribute_values_and_ranges)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(3, 4));
	nb_tensor *t = gt(g, NB_I64, NB_SHAPE(3));
	nb_tensor *xt[] = {x, t};
	expect_fail(g, nb_call(g, "pow", 1, &x, "exponent=abc"), NB_EINVAL,
	            "pow abc", "pow", "'exponent'", "'abc'", NULL);
	expect_fail(g, nb_call(g, "pow", 1, &x, "exponent=nan"), NB_EINVAL,
	            "pow nan", "exponent", NULL);
	expect_fail(g, nb_call(g, "pow", 1, &x, "exponent=none"), NB_EINVAL,
	            "pow none (not nullable)", "exponent", NULL);
	expect_fail(g, nb_call(g, "sum", 1, &x, "keepdim=maybe"), NB_EINVAL,
	            "keepdim", "sum", "boolean", NULL);
	expect_fail(g, nb_call(g, "sum", 1, &x, "axes=0,x"), NB_EINVAL,
	            "axes", "sum", "'axes'", NULL);
	expect_fail(g, nb_call(g, "sum", 1, &x, "axes=0,1,2,3,4,5,6,7,8"),
	            NB_EINVAL, "9 axes", "up to 8", NULL);
	expect_fail(g, nb_call(g, "transpose", 1, &x, "dim0=1.5"), NB_EINVAL,
	            "int", "transpose", "integer", NULL);
	expect_fail(g, nb_call(g, "transpose", 1, &x,
	                       "dim0=99999999999999999999"), NB_EINVAL,
	            "int overflow", "transpose", NULL);
	/* Declared ranges. */
	expect_fail(g, nb_call(g, "cross_entropy", 2, xt, "label_smoothing=1.5"),
	            NB_EINVAL, "smoothing", "cross_entropy",
	            "'label_smoothing' = 1.5 is outside [0, 1]", NULL);
	expect_fail(g, nb_call(g, "cross_entropy", 2, xt, "label_smoothing=-0.1"),
	            NB_EINVAL, "smoothing < 0", "label_smoothing", NULL);
	/* Typed attribute structs are range-checked as well. */
	struct {
		int64_t ignore_index;
		double label_smoothing;
		int reduction;
	} ce = {-100, 2.0, 1};
	expect_fail(g, nb_apply(g, nb_op_find("cross_entropy"), 2, xt, &ce),
	            NB_EINVAL, "typed smoothing", "label_smoothing", NULL);
	/* Values that are only wrong for this input: the op's checks. */
	expect_fail(g, nb_call(g, "sum", 1, &x, "axes=2"), NB_EINVAL,
	            "axis range", "sum", "axis 2 is out of range", NULL);
	expect_fail(g, nb_call(g, "sum", 1, &x, "axes=1,-1"), NB_EINVAL,
	            "axis repeated", "sum", "repeated", NULL);
	expect_fail(g, nb_call(g, "softmax", 1, &x, "axis=-3"), NB_EINVAL,
	            "softmax axis", "softmax", "out of range", NULL);
	expect_fail(g, nb_call(g, "transpose", 1, &x, "dim0=0 dim1=2"),
	            NB_EINVAL, "transpose", "transpose", "out of range", NULL);
	expect_fail(g, nb_sum(g, x, -1, NULL, false), NB_EINVAL, "nb_sum -1",
	            "sum", NULL);
	expect_fail(g, nb_sum(g, x, 2, NULL, false), NB_EINVAL, "nb_sum NULL",
	            "sum", NULL);
	expect_fail(g, nb_reshape(g, x, NB_MAX_DIMS + 1, NULL), NB_EINVAL,
	            "reshape rank", "reshape", NULL);
	nb_graph_free(g);
}

Test(errors, unknown_op)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F32, NB_SHAPE(3));
	expect_fail(g, nb_call(g, "no_such_op", 1, &x, NULL), NB_ENOTFOUND,
	            "unknown", "unknown op 'no_such_op'", NULL);
	expect_fail(g, nb_call(g, "", 1, &x, NULL), NB_ENOTFOUND, "empty",
	            "unknown op ''", NULL);
	nb_graph_free(g);
}

Test(errors, cross_entropy_target_out_of_range)
{
	nb_graph *g = new_graph();
	nb_tensor *x = gt(g, NB_F64, NB_SHAPE(3, 5));
	nb_tensor *t = nb_graph_from_data(g, NB_I64, NB_SHAPE(3),
	                                  (int64_t[]){0, 5, 1});
	expect_fail(g, nb_cross_entropy(g, x, t,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_EINVAL, "5 of 5",
	            "cross_entropy", "target 5", "position 1", "[0, 5)", NULL);
	nb_tensor_set(t, 1, -1);
	expect_fail(g, nb_cross_entropy(g, x, t,
		NULL, -100, NB_REDUCTION_MEAN, 0), NB_EINVAL, "-1",
	            "target -1", NULL);
	/* ... unless it is the ignored index. */
	nb_tensor *xt[] = {x, t};
	cr_expect_not_null(nb_call(g, "cross_entropy", 2, xt,
	                           "ignore_index=-1"), "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
}

Test(errors, backward_errors)
{
	nb_graph *g = new_graph();
	nb_tensor *w = nb_tensor_ones(NB_F32, NB_SHAPE(2, 3));
	nb_tensor_set_requires_grad(w, true);
	nb_tensor *y = nb_exp(g, w);
	cr_assert_not_null(y);

	/* A non-scalar without an output gradient. */
	cr_expect_eq(nb_backward(y, NULL), NB_ESHAPE);
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "[2, 3]") != NULL, "%s",
	          nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), "output gradient") != NULL);
	nb_graph_clear_error(g);

	/* Wrong output gradients: shape, rank (same numel), dtype. */
	nb_tensor *g32 = gt(g, NB_F32, NB_SHAPE(3, 2));
	nb_tensor *g6 = gt(g, NB_F32, NB_SHAPE(6));
	nb_tensor *g64 = gt(g, NB_F64, NB_SHAPE(2, 3));
	nb_tensor *gok = gt(g, NB_F32, NB_SHAPE(2, 3));
	cr_expect_eq(nb_backward(y, g32), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "[3, 2]") != NULL, "%s",
	          nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), "[2, 3]") != NULL);
	nb_graph_clear_error(g);
	cr_expect_eq(nb_backward(y, g6), NB_ESHAPE);
	nb_graph_clear_error(g);
	cr_expect_eq(nb_backward(y, g64), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "float64") != NULL);
	nb_graph_clear_error(g);
	cr_expect_null(nb_tensor_grad(w));
	cr_expect_eq(nb_backward(y, gok), NB_OK, "%s", nb_graph_errmsg(g));

	/* Tensors that do not require grad. */
	nb_tensor *c = gt(g, NB_F32, NB_SHAPE(1));
	nb_tensor *k = nb_exp(g, c);
	cr_expect_eq(nb_backward(k, NULL), NB_ESTATE);
	cr_expect(strstr(nb_graph_errmsg(g), "does not require grad") != NULL,
	          "%s", nb_graph_errmsg(g));
	nb_graph_clear_error(g);
	cr_expect_eq(nb_backward(c, NULL), NB_ESTATE);
	nb_graph_clear_error(g);
	/* A persistent tensor has no graph. */
	cr_expect_eq(nb_backward(w, NULL), NB_ESTATE);
	cr_expect(strstr(nb_last_error(), "not the result of an op") != NULL);
	cr_expect_eq(nb_backward(NULL, NULL), NB_EINVAL);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* ---- a custom op that fails on request ---- */

typedef struct fail_attrs {
	int64_t where; /* 1 shape, 2 forward (silently), 3 backward */
} fail_attrs;

static const nb_attr_def fail_defs[] = {
	{.name = "where", .type = NB_ATTR_INT,
	 .offset = offsetof(fail_attrs, where), .def = 0,
	 .range = NB_RANGE(0, 3), .doc = "where to fail"},
};

static nb_status fail_shape(nb_op_ctx *c, nb_result_def *res)
{
	(void)res;
	if (((const fail_attrs *)c->attrs)->where == 1)
		return nb_op_fail(c, NB_ESHAPE, "refused shape %d", 42);
	return NB_OK;
}

static nb_status fail_forward(nb_op_ctx *c)
{
	if (((const fail_attrs *)c->attrs)->where == 2)
		return NB_EINVAL; /* without a message */
	return nb_tensor_copy(c->out, c->in[0]);
}

static nb_status fail_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	(void)gout;
	(void)gin;
	return ((const fail_attrs *)c->attrs)->where == 3 ? NB_EINVAL : NB_OK;
}

static const nb_input_def fail_inputs[] = {{.name = "input"}};

static const nb_op failing = {
	.version = NB_OP_VERSION, .name = "test_failing",
	.kind = NB_KIND_CUSTOM, .inputs = fail_inputs, .n_inputs = 1,
	.attrs = fail_defs, .n_attrs = 1, .attrs_size = sizeof(fail_attrs),
	.shape = fail_shape, .forward = fail_forward,
	.backward = fail_backward,
};

Test(errors, op_failures_are_reported_with_the_op_name)
{
	nb_graph *g = new_graph();
	nb_tensor *w = nb_tensor_ones(NB_F64, NB_SHAPE(2));
	nb_tensor_set_requires_grad(w, true);
	fail_attrs a = {1};
	expect_fail(g, nb_apply(g, &failing, 1, &w, &a), NB_ESHAPE, "shape",
	            "test_failing: refused shape 42 (inputs: [2] float64)",
	            NULL);
	a.where = 2;
	expect_fail(g, nb_apply(g, &failing, 1, &w, &a), NB_EINVAL, "forward",
	            "test_failing", "forward failed", NULL);
	a.where = 4;
	expect_fail(g, nb_apply(g, &failing, 1, &w, &a), NB_EINVAL, "range",
	            "'where' = 4 is outside [0, 3]", NULL);
	a.where = 3;
	nb_tensor *y = nb_apply(g, &failing, 1, &w, &a);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_tensor *l = nb_sum(g, y, 0, NULL, false);
	cr_expect_eq(nb_backward(l, NULL), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "test_failing") != NULL, "%s",
	          nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), "backward failed") != NULL);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* ---- allocation-failure sweeps ---- */

/* What a sweep runs: a graph, two steps of a small model with a scope,
 * names, a reset in between and backward.  On success *out receives
 * w's gradient (12 values). */
static bool sweep_retain = true; /* the graph's retain_grads */

static nb_status scenario(double *out)
{
	nb_status st = NB_OK;
	nb_tensor *w = NULL, *b = NULL;
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_graph *g = nb_graph_new();
	if (!g)
		return nb_last_status();
	nb_graph_set_retain_grads(g, sweep_retain);
	if (!(w = nb_tensor_randn(NB_F64, NB_SHAPE(3, 4), &r, 0, 1)) ||
	    !(b = nb_tensor_zeros(NB_F64, NB_SHAPE(3)))) {
		st = nb_last_status();
		goto out;
	}
	nb_tensor_set_requires_grad(w, true);
	nb_tensor_set_requires_grad(b, true);
	if ((st = nb_tensor_set_name(w, "weight")))
		goto out;
	for (int step = 0; step < 2; step++) {
		double xv[8] = {1, 2, 3, 4, -1, -2, 0.5, 0};
		nb_tensor *x = nb_graph_from_data(g, NB_F64, NB_SHAPE(2, 4), xv);
		if ((st = nb_graph_scope_push(g, "fc")))
			goto out;
		nb_tensor *h = nb_exp(g, nb_linear(g, x, w, b));
		nb_graph_scope_pop(g);
		nb_tensor *t = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 3));
		/* A wide batch: tensors larger than an arena chunk. */
		nb_tensor *xw = nb_graph_tensor(g, NB_F64, NB_SHAPE(3000, 4));
		if (xw)
			nb_tensor_fill(xw, 0.01 * (step + 1));
		nb_tensor *yw = nb_linear(g, xw, w, b);
		nb_tensor *l = nb_add(g, nb_mse_loss(g, nb_mul(g, h, h), t,
			NB_REDUCTION_MEAN),
		                      nb_mean(g, nb_mul(g, yw, yw), 0, NULL,
		                              false));
		if (l && nb_tensor_set_name(l, "loss"))
			l = NULL;
		if (!l) {
			st = nb_graph_status(g) ? nb_graph_status(g)
			                        : nb_last_status();
			goto out;
		}
		if ((st = nb_backward(l, NULL)))
			goto out;
		nb_graph_reset(g);
	}
	for (int i = 0; i < 12; i++)
		out[i] = nb_tensor_get(nb_tensor_grad(w), (size_t)i);
out:
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_graph_free(g);
	return st;
}

static void sweep(bool after)
{
	double want[12], got[12];
	cr_assert_gt(nb_op_count(), 0); /* the registry is process-lifetime */
	long live0 = fa.live;
	fa_arm(-1);
	cr_assert_eq(scenario(want), NB_OK, "%s", nb_last_error());
	cr_assert_eq(fa.live, live0);
	long attempts = 0;
	for (long k = 0;; k++) {
		fa_arm_mode(k, after);
		nb_status st = scenario(got);
		long failed = fa.failed;
		fa_arm(-1);
		attempts++;
		cr_assert_eq(fa.live, live0, "failing allocation %ld%s: %ld "
		             "blocks leaked", k, after ? "+" : "",
		             fa.live - live0);
		if (!failed) {
			cr_assert_eq(st, NB_OK, "%s", nb_last_error());
			break;
		}
		cr_assert(st == NB_OK || st == NB_ENOMEM, "failing allocation "
		          "%ld: %s (%s)", k, nb_strerror(st), nb_last_error());
		if (st == NB_ENOMEM)
			cr_expect(strstr(nb_last_error(), "memory") != NULL,
			          "failing allocation %ld: message '%s'", k,
			          nb_last_error());
		else /* recovered (best-effort allocation): same numbers */
			for (int i = 0; i < 12; i++)
				cr_assert_eq(got[i], want[i], "failing allocation "
				             "%ld: grad[%d] %g, want %g", k, i, got[i],
				             want[i]);
	}
	cr_log_info("%ld allocation-failure points%s", attempts - 1,
	            after ? " (failing from there on)" : "");
	cr_expect_gt(attempts, 10);
}

Test(errors, allocation_failure_sweep_one_shot, .init = fa_install,
     .fini = fa_uninstall)
{
	sweep(false);
}

Test(errors, allocation_failure_sweep_persistent, .init = fa_install,
     .fini = fa_uninstall)
{
	sweep(true);
}

Test(errors, allocation_failure_sweep_without_retained_gradients,
     .init = fa_install, .fini = fa_uninstall)
{
	sweep_retain = false;
	sweep(false);
	sweep(true);
}

/* The first use of the registry registers the built-in ops: if an
 * allocation fails there, the call reports NB_ENOMEM, leaks nothing, and
 * a later call tries again. */
Test(errors, registry_initialization_survives_allocation_failure,
     .init = fa_install, .fini = fa_uninstall)
{
	long live0 = fa.live;
	long k;
	for (k = 0;; k++) {
		fa_arm(k);
		size_t n = nb_op_count();
		long failed = fa.failed;
		fa_arm(-1);
		if (n)
			break;
		cr_assert_gt(failed, 0, "no allocation failed, yet: %s",
		             nb_last_error());
		cr_assert_eq(nb_last_status(), NB_ENOMEM, "allocation %ld: %s",
		             k, nb_last_error());
		cr_assert_eq(fa.live, live0, "allocation %ld: %ld blocks held "
		             "after a failed initialization", k, fa.live - live0);
		cr_assert_lt(k, 100000);
	}
	cr_log_info("%ld allocation-failure points in the registry", k);
	/* Complete now, once. */
	size_t n = nb_op_count();
	cr_expect_gt(n, 10);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(nb_op_find(nb_op_at(i)->name), nb_op_at(i));
	cr_expect_not_null(nb_op_find("cross_entropy"));
	nb_graph *g = nb_graph_new();
	cr_expect_not_null(g);
	nb_graph_free(g);
}

/* Registering user ops when allocations fail: the order array grows
 * (past 64 ops) and uthash doubles its buckets (past a few hundred), so
 * 400 registrations reach every allocation of nb_op_register. */
static nb_status copy_forward(nb_op_ctx *c)
{
	return nb_tensor_copy(c->out, c->in[0]);
}

static const nb_input_def copy_inputs[] = {{.name = "input"}};

Test(errors, registration_survives_allocation_failure,
     .init = fa_install, .fini = fa_uninstall)
{
	enum { N = 400 };
	static char names[N][24];
	static nb_op ops[N];
	long points = 0;
	cr_assert_gt(nb_op_count(), 0);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "test_oom_%d", i);
		/* No backward: the descriptor must say so (NB_OP_NO_GRAD). */
		ops[i] = (nb_op){.version = NB_OP_VERSION, .name = names[i],
		                 .kind = NB_KIND_CUSTOM, .inputs = copy_inputs,
		                 .n_inputs = 1, .flags = NB_OP_NO_GRAD,
		                 .forward = copy_forward};
		size_t count = nb_op_count();
		for (long k = 0;; k++) {
			long live = fa.live;
			fa_arm(k);
			nb_status st = nb_op_register(&ops[i]);
			long failed = fa.failed;
			fa_arm(-1);
			if (!failed) {
				cr_assert_eq(st, NB_OK, "%s: %s", names[i],
				             nb_last_error());
				break;
			}
			points++;
			if (st == NB_OK)
				break; /* the failed allocation was not needed */
			cr_assert_eq(st, NB_ENOMEM, "%s, allocation %ld: %s",
			             names[i], k, nb_strerror(st));
			cr_assert_null(nb_op_find(names[i]));
			cr_assert_eq(nb_op_count(), count);
			cr_assert_eq(fa.live, live, "%s, allocation %ld: leaked",
			             names[i], k);
		}
		cr_assert_eq(nb_op_find(names[i]), &ops[i]);
		cr_assert_eq(nb_op_count(), count + 1);
	}
	/* Everything is still found after the failures. */
	for (int i = 0; i < N; i++)
		cr_expect_eq(nb_op_find(names[i]), &ops[i], "%s", names[i]);
	for (size_t i = 0; i < nb_op_count(); i++)
		cr_expect_eq(nb_op_find(nb_op_at(i)->name), nb_op_at(i));
	cr_log_info("%ld failed allocations in %d registrations", points, N);
}
