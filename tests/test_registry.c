/*
 * test_registry.c - lib/registry.c and lib/attrs.c: lookups, the
 * registration order, refused descriptors, a user-registered op used
 * like a built-in, and typed attributes (parse, check, format).
 */
#include <stddef.h>
#include <pthread.h>
#include "support/helpers.h"

/* ---- test_cube: y = k * scale * x^3 (+ offset), a user op with an
 * attribute of every type ---- */

typedef struct cube_attrs {
	double scale;  /* [-100, 100] */
	double offset; /* nullable: "none" adds nothing */
	bool flip;     /* negate */
	int mode;      /* plain|twice|half: k = 1, 2, 0.5 */
	int64_t count; /* [1, 5]; stored only */
	nb_ints tag;   /* stored only */
} cube_attrs;

static const nb_attr_def cube_defs[] = {
	{.name = "scale", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(cube_attrs, scale), .def = 1,
	 .range = NB_RANGE(-100, 100), .doc = "factor"},
	{.name = "offset", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(cube_attrs, offset), .def = NAN,
	 .range = NB_UNBOUNDED, .flags = NB_ATTR_NULLABLE,
	 .doc = "added, unless none"},
	{.name = "flip", .type = NB_ATTR_BOOL,
	 .offset = offsetof(cube_attrs, flip), .def = 0, .doc = "negate"},
	{.name = "mode", .type = NB_ATTR_ENUM,
	 .offset = offsetof(cube_attrs, mode), .def = 0,
	 .choices = "plain|twice|half", .doc = "extra factor 1, 2 or 1/2"},
	{.name = "count", .type = NB_ATTR_INT,
	 .offset = offsetof(cube_attrs, count), .def = 3,
	 .range = NB_RANGE(1, 5), .doc = "a bounded integer"},
	{.name = "tag", .type = NB_ATTR_INTS,
	 .offset = offsetof(cube_attrs, tag), .doc = "a list"},
};

static double cube_factor(const cube_attrs *a)
{
	static const double k[] = {1, 2, 0.5};
	return (a->flip ? -1 : 1) * k[a->mode] * a->scale;
}

static nb_status cube_forward(nb_op_ctx *c)
{
	const cube_attrs *a = c->attrs;
	double f = cube_factor(a), off = isnan(a->offset) ? 0 : a->offset;
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++) {
		double x = nb_tensor_get(c->in[0], i);
		nb_tensor_set(c->out, i, f * x * x * x + off);
	}
	return NB_OK;
}

/* d/dx (f x^3 + o) = 3 f x^2 */
static nb_status cube_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	double f = cube_factor(c->attrs);
	for (size_t i = 0; i < nb_tensor_numel(gout); i++) {
		double x = nb_tensor_get(c->in[0], i);
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		              nb_tensor_get(gout, i) * 3 * f * x * x);
	}
	return NB_OK;
}

static const nb_input_def cube_inputs[] = {
	{.name = "input", .doc = "any shape"},
};

static const nb_op_test cube_test = {
	.cases = "[4]; [2,3]|scale=2 mode=twice; "
	         "[3]|offset=0.5 flip=1 mode=half; [2,2]|scale=-1.5 offset=none",
};

static const nb_op cube = {
	.version = NB_OP_VERSION, .name = "test_cube", .kind = NB_KIND_CUSTOM,
	.doc = "k * scale * x^3 + offset", .inputs = cube_inputs,
	.n_inputs = 1, .attrs = cube_defs,
	.n_attrs = (int)(sizeof cube_defs / sizeof *cube_defs),
	.attrs_size = sizeof(cube_attrs), .forward = cube_forward,
	.backward = cube_backward, .test = &cube_test,
};

/* Registers test_cube once per process (tests may share one). */
static void ensure_cube(void)
{
	const nb_op *op = nb_op_find("test_cube");
	if (!op)
		cr_assert_eq(nb_op_register(&cube), NB_OK, "%s",
		             nb_last_error());
	else
		cr_assert_eq(op, &cube);
}

/* ---- lookups and order ---- */

static long index_of(const char *name)
{
	for (size_t i = 0; i < nb_op_count(); i++)
		if (!strcmp(nb_op_at(i)->name, name))
			return (long)i;
	return -1;
}

Test(registry, lookups)
{
	const nb_op *add = nb_op_find("add");
	cr_assert_not_null(add);
	cr_expect_str_eq(add->name, "add");
	cr_expect_eq(add->kind, NB_KIND_ARITH);
	cr_expect_eq(add->n_inputs, 2);
	cr_expect_null(nb_op_find("ADD")); /* case matters */
	cr_expect_null(nb_op_find("ad"));
	cr_expect_null(nb_op_find("add "));
	cr_expect_null(nb_op_find(""));
	cr_expect_null(nb_op_find(NULL));
	cr_expect_null(nb_op_find("no_such_op"));
	size_t n = nb_op_count();
	cr_assert_gt(n, 20);
	for (size_t i = 0; i < n; i++) {
		const nb_op *op = nb_op_at(i);
		cr_assert_not_null(op, "op %zu", i);
		cr_expect_eq(nb_op_find(op->name), op, "%s", op->name);
		cr_expect_not_null(op->forward, "%s", op->name);
		/* What registration guarantees of every descriptor. */
		cr_expect_eq(op->version, NB_OP_VERSION, "%s", op->name);
		cr_expect_eq(!op->backward, !!(op->flags & NB_OP_NO_GRAD), "%s",
		             op->name);
		for (int k = 0; k < op->n_inputs; k++)
			cr_expect(op->inputs[k].name && *op->inputs[k].name,
			          "%s: input %d", op->name, k);
	}
	cr_expect_null(nb_op_at(n));
	cr_expect_null(nb_op_at((size_t)-1));
}

Test(registry, registration_order)
{
	/* Families in the order of their table (lib/ops/families.c), each
	 * in its list's order. */
	const char *order[] = {"add", "sub", "mul", "div", "neg", "exp",
	                       "log", "sqrt", "abs", "pow", "affine_scalar",
	                       "sum", "mean", "max", "reshape", "permute",
	                       "transpose", "matmul", "linear", "softmax",
	                       "log_softmax", "mse", "cross_entropy"};
	long prev = -1;
	for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
		long k = index_of(order[i]);
		cr_expect_gt(k, prev, "%s at %ld, before the previous", order[i],
		             k);
		prev = k;
	}
	cr_expect_eq(index_of("add"), 0);
	/* User ops come after the built-ins. */
	size_t n = nb_op_count();
	ensure_cube();
	cr_expect_eq(nb_op_count(), n + 1);
	cr_expect_eq(nb_op_at(n), &cube);
	cr_expect_eq(nb_op_find("test_cube"), &cube);
}

Test(registry, kind_names)
{
	const char *want[] = {"arithmetic", "reduction", "shape", "linalg",
	                      "activation", "normalization", "regularizer",
	                      "loss", "convolution", "pooling", "custom"};
	for (int k = 0; k < NB_KIND_COUNT; k++)
		cr_expect_str_eq(nb_op_kind_name((nb_op_kind)k), want[k]);
	cr_expect_str_eq(nb_op_kind_name(NB_KIND_COUNT), "?");
	cr_expect_str_eq(nb_op_kind_name((nb_op_kind)-1), "?");
}

Test(registry, duplicate_names_are_refused)
{
	ensure_cube();
	size_t n = nb_op_count();
	cr_expect_eq(nb_op_register(&cube), NB_EEXIST);
	cr_expect(strstr(nb_last_error(), "test_cube") != NULL);
	/* Another descriptor with a built-in's name. */
	nb_op *dup = malloc(sizeof *dup);
	cr_assert_not_null(dup);
	*dup = cube;
	dup->name = "mul";
	cr_expect_eq(nb_op_register(dup), NB_EEXIST);
	cr_expect(strstr(nb_last_error(), "'mul'") != NULL, "%s",
	          nb_last_error());
	cr_expect_neq(nb_op_find("mul"), dup);
	cr_expect_eq(nb_op_count(), n);
	free(dup);
}

/* Registers a copy of test_cube changed by the caller; must be refused
 * with NB_EINVAL, a message containing sub (unless NULL), and leave the
 * registry as it was. */
static void expect_refused(const nb_op *op, const char *what,
                           const char *sub)
{
	size_t n = nb_op_count();
	cr_expect_eq(nb_op_register(op), NB_EINVAL, "%s: %s", what,
	             nb_strerror(nb_last_status()));
	cr_expect_eq(nb_last_status(), NB_EINVAL, "%s", what);
	cr_expect(strstr(nb_last_error(), "register") != NULL, "%s: %s", what,
	          nb_last_error());
	if (sub)
		cr_expect(strstr(nb_last_error(), sub) != NULL,
		          "%s: message '%s' lacks '%s'", what, nb_last_error(),
		          sub);
	cr_expect_eq(nb_op_count(), n, "%s", what);
	if (op && op->name)
		cr_expect_null(nb_op_find(op->name), "%s", what);
}

/* Malformed input tables, for test_bad copies of test_cube. */
static const nb_input_def in_unnamed[] = {{.name = NULL}};
static const nb_input_def in_empty_name[] = {{.name = ""}};
static const nb_input_def in_twice[] = {{.name = "x"}, {.name = "x"}};
static const nb_input_def in_variadic_first[] = {
	{.name = "xs", .flags = NB_IN_VARIADIC}, {.name = "y"},
};
static const nb_input_def in_variadic_last[] = {
	{.name = "x"}, {.name = "y"}, {.name = "rest", .flags = NB_IN_VARIADIC},
};
static const nb_input_def in_param_first[] = {
	{.name = "weight", .role = NB_ROLE_PARAM, .fill = NB_FILL_CONST},
	{.name = "input"},
};
static const nb_input_def in_bad_role[] = {
	{.name = "input", .role = (nb_role)7},
};

Test(registry, malformed_descriptors_are_refused)
{
	/* Static: the last one is registered, and the registry keeps it. */
	static nb_attr_def defs[6];
	static nb_op op;
	/* min and max written, but not NB_RANGE_GIVEN: not a range. */
	const nb_range unsaid = {0}, unsaid_1_5 = {.min = 1, .max = 5};
	char many[32];
	snprintf(many, sizeof many, "%d inputs", NB_MAX_INPUTS + 1);
	expect_refused(NULL, "NULL", "NULL");
#define BAD(FIELD, VALUE, WHAT, SUB)                                         \
	do {                                                                 \
		op = cube;                                                   \
		op.name = "test_bad";                                        \
		op.FIELD = VALUE;                                            \
		expect_refused(&op, WHAT, SUB);                              \
	} while (0)
	BAD(name, NULL, "no name", NULL);
	BAD(name, "", "empty name", NULL);
	BAD(forward, NULL, "no forward", "forward");
	/* The descriptor version (sqlite3_module.iVersion's role). */
	BAD(version, 0, "version 0 (left out)", "NB_OP_VERSION");
	BAD(version, 99, "version 99 (from the future)", "version 99");
	BAD(version, -1, "version -1", "version -1");
	BAD(n_inputs, -1, "-1 inputs", "-1 inputs");
	BAD(n_inputs, NB_MAX_INPUTS + 1, "too many inputs", many);
	BAD(inputs, NULL, "inputs declared, none defined", NULL);
	BAD(attrs_size, 100000, "huge attribute struct", NULL);
	BAD(attrs, NULL, "attributes declared, none given", NULL);
	BAD(n_attrs, -1, "-1 attributes", NULL);
	BAD(kind, NB_KIND_COUNT, "unknown kind", "kind");
	BAD(attrs_size, offsetof(cube_attrs, tag), "struct too small", NULL);
	/* Results: 0 or 1 mean one; at most NB_MAX_OUTPUTS. */
	BAD(n_outputs, -1, "-1 results", "-1 results");
	BAD(n_outputs, NB_MAX_OUTPUTS + 1, "too many results", "results");
	/* Gradients: a backward exactly when not flagged NB_OP_NO_GRAD. */
	BAD(backward, NULL, "no backward, not flagged",
	    "flag it NB_OP_NO_GRAD (not differentiable)");
	BAD(flags, NB_OP_NO_GRAD, "NB_OP_NO_GRAD with a backward",
	    "NB_OP_NO_GRAD but has a backward");
	/* min_inputs belongs to variadic ops only. */
	BAD(min_inputs, 1, "min_inputs on a fixed-arity op", "min_inputs 1");
	/* A layer's input 0 is the data. */
	op = cube;
	op.name = "test_bad";
	op.inputs = in_param_first;
	op.n_inputs = 2;
	op.flags = NB_OP_LAYER;
	expect_refused(&op, "NB_OP_LAYER, input 0 a parameter", "NB_OP_LAYER");
#undef BAD
	/* Input tables. */
#define BAD_INPUTS(TABLE, N, MIN, WHAT, SUB)                                 \
	do {                                                                 \
		op = cube;                                                   \
		op.name = "test_bad";                                        \
		op.inputs = TABLE;                                           \
		op.n_inputs = N;                                             \
		op.min_inputs = MIN;                                         \
		expect_refused(&op, WHAT, SUB);                              \
	} while (0)
	BAD_INPUTS(in_unnamed, 1, 0, "input without a name", "without a name");
	BAD_INPUTS(in_empty_name, 1, 0, "input named ''", "without a name");
	BAD_INPUTS(in_twice, 2, 0, "two inputs named x", "two inputs named 'x'");
	BAD_INPUTS(in_variadic_first, 2, 1, "variadic input not last",
	           "variadic input 'xs' before the last");
	BAD_INPUTS(in_variadic_last, 3, 1, "min_inputs below the fixed inputs",
	           "min_inputs 1");
	BAD_INPUTS(in_variadic_last, 3, -1, "negative min_inputs",
	           "min_inputs -1");
	BAD_INPUTS(in_bad_role, 1, 0, "unknown role", "malformed input");
#undef BAD_INPUTS
	/* Attribute tables. */
#define BAD_ATTR(I, FIELD, VALUE, WHAT, SUB)                                 \
	do {                                                                 \
		memcpy(defs, cube_defs, sizeof defs);                        \
		defs[I].FIELD = VALUE;                                       \
		op = cube;                                                   \
		op.name = "test_bad";                                        \
		op.attrs = defs;                                             \
		expect_refused(&op, WHAT, SUB);                              \
	} while (0)
	BAD_ATTR(0, name, NULL, "attribute without a name", NULL);
	BAD_ATTR(2, offset, sizeof(cube_attrs), "attribute past the struct",
	         NULL);
	BAD_ATTR(3, choices, NULL, "enum without choices", NULL);
	BAD_ATTR(1, type, (nb_attr_type)17, "unknown attribute type", NULL);
	BAD_ATTR(4, def, 9, "int default outside its range", "count");
	BAD_ATTR(0, def, -1000, "float default outside its range", "scale");
	BAD_ATTR(0, def, NAN, "NaN default of a non-nullable float", "scale");
	BAD_ATTR(3, def, 3, "enum default past the choices", "mode");
	BAD_ATTR(5, name, "scale", "two attributes with one name",
	         "two attributes named 'scale'");
	/* A numeric range is never implied by zeros: leaving it out is an
	 * error, for floats and integers alike. */
	BAD_ATTR(0, range, unsaid, "float attribute without a range",
	         "range of attribute 'scale' unsaid");
	BAD_ATTR(4, range, unsaid_1_5, "int attribute without a range",
	         "range of attribute 'count' unsaid");
#undef BAD_ATTR
	/* The same table, well formed, is fine. */
	memcpy(defs, cube_defs, sizeof defs);
	op = cube;
	op.name = "test_good_copy";
	op.attrs = defs;
	cr_expect_eq(nb_op_register(&op), NB_OK, "%s", nb_last_error());
	cr_expect_eq(nb_op_find("test_good_copy"), &op);
}

/* What registration accepts: a variadic table with min_inputs at least
 * the fixed inputs, an op without gradient flagged so, ranges said in
 * words, several results.  Each registers once per process. */
/* Registers op, or finds it registered by an earlier test of this
 * process. */
static void register_once(const nb_op *op)
{
	nb_status st = nb_op_register(op);
	cr_expect(st == NB_OK || (st == NB_EEXIST && nb_op_find(op->name) == op),
	          "%s: %s", op->name, nb_last_error());
}

Test(registry, well_formed_variants_are_accepted)
{
	static nb_op v, ng, r, multi;
	static nb_attr_def defs[6];
	v = cube;
	v.name = "test_ok_variadic";
	v.inputs = in_variadic_last;
	v.n_inputs = 3;
	v.min_inputs = 2;
	register_once(&v);
	cr_expect_eq(nb_op_input(&v, 2), &in_variadic_last[2]);
	cr_expect_eq(nb_op_input(&v, 40), &in_variadic_last[2]);
	cr_expect_eq(nb_op_input(&v, 1), &in_variadic_last[1]);
	cr_expect_null(nb_op_input(&v, -1));
	cr_expect_null(nb_op_input(&cube, 1), "past a fixed table");
	ng = cube;
	ng.name = "test_ok_no_grad";
	ng.backward = NULL;
	ng.flags = NB_OP_NO_GRAD;
	register_once(&ng);
	memcpy(defs, cube_defs, sizeof defs);
	defs[0].range = (nb_range)NB_AT_LEAST(-100);
	defs[4].range = (nb_range)NB_AT_MOST(5);
	r = cube;
	r.name = "test_ok_ranges";
	r.attrs = defs;
	register_once(&r);
	cube_attrs a;
	cr_expect_eq(nb_attrs_parse(&r, "scale=1e6 count=-40", &a), NB_OK,
	             "%s", nb_last_error());
	cr_expect_eq(nb_attrs_parse(&r, "scale=-101", &a), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "outside [-100, inf]") != NULL,
	          "%s", nb_last_error());
	cr_expect_eq(nb_attrs_parse(&r, "count=6", &a), NB_EINVAL);
	multi = cube;
	multi.name = "test_ok_results";
	multi.n_outputs = NB_MAX_OUTPUTS;
	register_once(&multi);
}

/* ---- a cross-attribute check hook: lower <= upper ---- */

typedef struct clamp_attrs {
	double lower, upper;
} clamp_attrs;

static bool clamp_check(const void *attrs, char *why, size_t n)
{
	const clamp_attrs *a = attrs;
	if (a->lower <= a->upper)
		return true;
	snprintf(why, n, "lower %g is above upper %g", a->lower, a->upper);
	return false;
}

static nb_status clamp_forward(nb_op_ctx *c)
{
	const clamp_attrs *a = c->attrs;
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++) {
		double x = nb_tensor_get(c->in[0], i);
		nb_tensor_set(c->out, i, x < a->lower ? a->lower
		                         : x > a->upper ? a->upper : x);
	}
	return NB_OK;
}

static nb_status clamp_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	const clamp_attrs *a = c->attrs;
	for (size_t i = 0; i < nb_tensor_numel(gout); i++) {
		double x = nb_tensor_get(c->in[0], i);
		if (x > a->lower && x < a->upper)
			nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
			              nb_tensor_get(gout, i));
	}
	return NB_OK;
}

static const nb_attr_def clamp_defs[] = {
	{.name = "lower", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clamp_attrs, lower), .def = -1,
	 .range = NB_UNBOUNDED, .doc = "at most upper"},
	{.name = "upper", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(clamp_attrs, upper), .def = 1,
	 .range = NB_UNBOUNDED, .doc = "at least lower"},
};

static const nb_op_test clamp_test = {
	.cases = "[5]; [2,3]|lower=-0.5 upper=0.25; [3]|lower=0 upper=0",
	.kinks = {-1, 1, -0.5, 0.25}, .n_kinks = 4,
};

static const nb_op clamp = {
	.version = NB_OP_VERSION, .name = "test_clamp", .kind = NB_KIND_CUSTOM,
	.doc = "clamp to [lower, upper]", .inputs = cube_inputs, .n_inputs = 1,
	.attrs = clamp_defs, .n_attrs = 2, .attrs_size = sizeof(clamp_attrs),
	.check = clamp_check, .forward = clamp_forward,
	.backward = clamp_backward, .test = &clamp_test,
};

/*
 * The input flags of issue 15 (NB_IN_BOOL 64, NB_IN_ANY_DTYPE 128)
 * register; a flag bit nabla does not know is still refused.  (The
 * check refused every flag from 64 on, so no op could use them.)
 */
static const nb_input_def in_any_dtype[] = {
	{.name = "x", .flags = NB_IN_ANY_DTYPE},
	{.name = "mask", .flags = NB_IN_BOOL | NB_IN_OPTIONAL},
};
static const nb_input_def in_unknown_flag[] = {
	{.name = "x", .flags = 2u * NB_IN_GRAD_PASS},
};

Test(registry, bool_and_any_dtype_inputs_register)
{
	static nb_op op;
	op = cube;
	op.name = "test_ok_any_dtype";
	op.inputs = in_any_dtype;
	op.n_inputs = 2;
	nb_status st = nb_op_register(&op);
	cr_expect(st == NB_OK || st == NB_EEXIST, "%s", nb_last_error());
	cr_expect_eq(nb_op_find("test_ok_any_dtype"), &op);
	static nb_op bad;
	bad = cube;
	bad.name = "test_bad";
	bad.inputs = in_unknown_flag;
	expect_refused(&bad, "unknown input flag 512", "malformed input");
}

Test(registry, check_hook_refuses_attributes_that_do_not_fit)
{
	nb_status st = nb_op_register(&clamp);
	cr_assert(st == NB_OK || st == NB_EEXIST, "%s", nb_last_error());
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_tensor *x = nb_tensor_zeros(NB_F64, NB_SHAPE(3));
	cr_assert_not_null(x);
	nb_tensor_set(x, 0, -2);
	nb_tensor_set(x, 1, 0.5);
	nb_tensor_set(x, 2, 3);
	nb_tensor *y = nb_call(g, "test_clamp", 1, &x, "lower=0 upper=1");
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_get(y, 0), 0);
	cr_expect_eq(nb_tensor_get(y, 1), 0.5);
	cr_expect_eq(nb_tensor_get(y, 2), 1);
	/* Each value is within its own (unbounded) range; together they
	 * do not fit: the hook says why, the engine names the op. */
	cr_expect_null(nb_call(g, "test_clamp", 1, &x, "lower=2 upper=1"));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "test_clamp") != NULL, "%s",
	          nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), "lower 2 is above upper 1") !=
	          NULL, "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	/* Through nb_apply with a struct, and nb_attrs_check. */
	clamp_attrs a = {.lower = 0.5, .upper = -0.5};
	cr_expect_null(nb_apply(g, &clamp, 1, &x, &a));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "lower 0.5 is above upper -0.5")
	          != NULL, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_attrs_check(&clamp, &a), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "test_clamp: lower 0.5") != NULL,
	          "%s", nb_last_error());
	a.upper = 0.5;
	cr_expect_eq(nb_attrs_check(&clamp, &a), NB_OK);
	nb_graph_free(g);
	nb_tensor_free(x);
	/* Defaults that the hook refuses: registration fails. */
	static nb_attr_def defs[2];
	static nb_op bad;
	memcpy(defs, clamp_defs, sizeof defs);
	defs[0].def = 3;
	bad = clamp;
	bad.name = "test_bad_clamp";
	bad.attrs = defs;
	expect_refused(&bad, "defaults refused by check",
	               "lower 3 is above upper 1");
	/* The op passes gradcheck like any other. */
	int failed = 0;
	cr_expect_eq(nb_gradcheck_op(&clamp, NULL, NULL, NULL, &failed), NB_OK,
	             "%s", nb_last_error());
	cr_expect_eq(failed, 0);
}

Test(registry, user_op_is_a_first_class_op)
{
	ensure_cube();
	cr_expect_neq(index_of("test_cube"), -1);

	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	double xv[] = {1, -2, 0.5};
	nb_tensor *x = nb_graph_from_data(g, NB_F64, NB_SHAPE(3), xv);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = nb_call(g, "test_cube", 1, &x,
	                       "scale=2;mode=twice offset=1");
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	for (int i = 0; i < 3; i++)
		cr_expect_float_eq(nb_tensor_get(y, (size_t)i),
		                   4 * xv[i] * xv[i] * xv[i] + 1, 1e-12);
	/* The node keeps the parsed attributes. */
	const cube_attrs *a = nb_graph_node_attrs(g, 0);
	cr_assert_not_null(a);
	cr_expect_eq(a->scale, 2);
	cr_expect_eq(a->mode, 1);
	cr_expect_eq(a->offset, 1);
	cr_expect_eq(a->count, 3);
	cr_expect_eq(nb_graph_node_op(g, 0), &cube);
	nb_tensor *go = nb_graph_from_data(g, NB_F64, NB_SHAPE(3),
	                                   (double[]){1, 1, 1});
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_graph_errmsg(g));
	for (int i = 0; i < 3; i++)
		cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(x), (size_t)i),
		                   12 * xv[i] * xv[i], 1e-12);
	/* float32 as well. */
	nb_tensor *xf = nb_graph_from_data(g, NB_F32, NB_SHAPE(2),
	                                   (float[]){2, 3});
	nb_tensor *yf = nb_call(g, "test_cube", 1, &xf, "flip=on");
	cr_assert_not_null(yf);
	cr_expect_eq(nb_tensor_dtype(yf), NB_F32);
	cr_expect_eq(nb_tensor_get(yf, 1), -27);
	/* Its attributes are checked like a built-in's. */
	cr_expect_null(nb_call(g, "test_cube", 1, &x, "count=6"));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "test_cube") != NULL);
	nb_graph_free(g);
}

static void count_result(const nb_gradcheck_result *r, void *ud)
{
	++*(int *)ud;
	cr_expect(r->pass, "%s [%s] %s: %s", r->op->name, r->attrs, r->shape,
	          r->message);
}

Test(registry, user_op_passes_gradcheck)
{
	ensure_cube();
	int checks = 0, failed = 0;
	nb_gradcheck_opts o = nb_gradcheck_defaults();
	cr_expect_eq(nb_gradcheck_op(nb_op_find("test_cube"), &o, count_result,
	                             &checks, &failed), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(failed, 0);
	cr_expect_eq(checks, 4); /* four cases, one input each */
}

/* ---- attributes ---- */

static void parse_ok(const char *s, cube_attrs *a)
{
	cr_assert_eq(nb_attrs_parse(&cube, s, a), NB_OK, "'%s': %s", s,
	             nb_last_error());
}

static void parse_fails(const char *s, nb_status code, const char *sub)
{
	cube_attrs a;
	cr_expect_eq(nb_attrs_parse(&cube, s, &a), code, "'%s': %s", s,
	             nb_strerror(nb_last_status()));
	cr_expect(strstr(nb_last_error(), "test_cube") != NULL, "'%s': %s", s,
	          nb_last_error());
	if (sub)
		cr_expect(strstr(nb_last_error(), sub) != NULL,
		          "'%s': message '%s' lacks '%s'", s, nb_last_error(),
		          sub);
}

Test(attrs, defaults)
{
	cube_attrs a;
	memset(&a, 0x55, sizeof a);
	parse_ok(NULL, &a);
	cr_expect_eq(a.scale, 1);
	cr_expect(isnan(a.offset));
	cr_expect_not(a.flip);
	cr_expect_eq(a.mode, 0);
	cr_expect_eq(a.count, 3);
	cr_expect_eq(a.tag.n, 0);
	memset(&a, 0x55, sizeof a);
	parse_ok("", &a);
	cr_expect_eq(a.count, 3);
	parse_ok("  ; \t\n ", &a);
	cr_expect_eq(a.scale, 1);
}

Test(attrs, parse_every_type)
{
	cube_attrs a;
	parse_ok("scale=2.5;tag=1,-2,3 flip=yes\tmode=half  offset=none\n"
	         "count=5", &a);
	cr_expect_eq(a.scale, 2.5);
	cr_expect(isnan(a.offset));
	cr_expect(a.flip);
	cr_expect_eq(a.mode, 2);
	cr_expect_eq(a.count, 5);
	cr_expect_eq(a.tag.n, 3);
	cr_expect_eq(a.tag.v[0], 1);
	cr_expect_eq(a.tag.v[1], -2);
	cr_expect_eq(a.tag.v[2], 3);
	parse_ok("offset=-1e-3 scale=-100 count=1 tag=[7,8]", &a);
	cr_expect_eq(a.offset, -1e-3);
	cr_expect_eq(a.scale, -100); /* bounds are inclusive */
	cr_expect_eq(a.count, 1);
	cr_expect_eq(a.tag.n, 2);
	cr_expect_eq(a.tag.v[1], 8);
	parse_ok("tag=", &a);
	cr_expect_eq(a.tag.n, 0);
	parse_ok("tag=[]", &a);
	cr_expect_eq(a.tag.n, 0);
	parse_ok("tag=1,2,3,4,5,6,7,8", &a);
	cr_expect_eq(a.tag.n, 8);
	/* The last of repeated keys wins. */
	parse_ok("scale=2 scale=3", &a);
	cr_expect_eq(a.scale, 3);
	const char *bools[] = {"0", "1", "false", "true", "no", "yes", "off",
	                       "on"};
	for (int i = 0; i < 8; i++) {
		char s[32];
		snprintf(s, sizeof s, "flip=%s", bools[i]);
		parse_ok(s, &a);
		cr_expect_eq(a.flip, i & 1, "%s", s);
	}
	parse_ok("mode=plain", &a);
	cr_expect_eq(a.mode, 0);
	parse_ok("mode=twice", &a);
	cr_expect_eq(a.mode, 1);
}

Test(attrs, parse_errors)
{
	parse_fails("nope=1", NB_ENOTFOUND, "'nope'");
	parse_fails("scal=1", NB_ENOTFOUND, "scale, offset, flip");
	parse_fails("scale", NB_EFORMAT, "key=value");
	parse_fails("=1", NB_ENOTFOUND, NULL);
	parse_fails("scale=", NB_EINVAL, "a number");
	parse_fails("scale=abc", NB_EINVAL, "'abc'");
	parse_fails("scale=1x", NB_EINVAL, "'1x'");
	parse_fails("scale=none", NB_EINVAL, "'scale'");
	parse_fails("scale=nan", NB_EINVAL, NULL);
	parse_fails("scale=100.5", NB_EINVAL, "outside [-100, 100]");
	parse_fails("scale=inf", NB_EINVAL, NULL);
	parse_fails("count=0", NB_EINVAL, "outside [1, 5]");
	parse_fails("count=6", NB_EINVAL, NULL);
	parse_fails("count=2.0", NB_EINVAL, "an integer");
	parse_fails("count=", NB_EINVAL, NULL);
	parse_fails("count=99999999999999999999999", NB_EINVAL, NULL);
	parse_fails("flip=maybe", NB_EINVAL, "boolean");
	parse_fails("flip=", NB_EINVAL, NULL);
	parse_fails("flip=TRUE", NB_EINVAL, NULL);
	parse_fails("mode=triple", NB_EINVAL, "plain|twice|half");
	parse_fails("mode=", NB_EINVAL, NULL);
	parse_fails("mode=twic", NB_EINVAL, NULL);
	parse_fails("tag=1,2,3,4,5,6,7,8,9", NB_EINVAL, "up to 8");
	parse_fails("tag=1,,2", NB_EINVAL, NULL);
	parse_fails("tag=a", NB_EINVAL, NULL);
	parse_fails("tag=1.5", NB_EINVAL, NULL);
}

Test(attrs, check)
{
	cube_attrs a;
	parse_ok(NULL, &a);
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_OK);
	a.offset = NAN; /* nullable */
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_OK);
	a.scale = 1000;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "'scale' = 1000") != NULL, "%s",
	          nb_last_error());
	a.scale = NAN;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	a.scale = 1;
	a.count = 0;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	a.count = 5;
	a.mode = 3;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "no choice 3") != NULL, "%s",
	          nb_last_error());
	a.mode = -1;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	a.mode = 2;
	a.tag.n = NB_MAX_DIMS + 1;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	a.tag.n = -1;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_EINVAL);
	a.tag.n = NB_MAX_DIMS;
	cr_expect_eq(nb_attrs_check(&cube, &a), NB_OK);
}

Test(attrs, format)
{
	cube_attrs a;
	char buf[256];
	parse_ok(NULL, &a);
	cr_expect_str_eq(nb_attrs_format(&cube, &a, false, buf, sizeof buf),
	                 "");
	cr_expect_str_eq(nb_attrs_format(&cube, &a, true, buf, sizeof buf),
	                 "scale=1 offset=none flip=0 mode=plain count=3 tag=");
	parse_ok("tag=1,-2,3 flip=yes mode=twice scale=2.5 offset=0.25", &a);
	cr_expect_str_eq(nb_attrs_format(&cube, &a, false, buf, sizeof buf),
	                 "scale=2.5 offset=0.25 flip=1 mode=twice tag=1,-2,3");
	cr_expect_eq(nb_attrs_format(&cube, &a, false, buf, sizeof buf), buf);
	/* An op without attributes. */
	cr_expect_str_eq(nb_attrs_format(nb_op_find("add"), NULL, true, buf,
	                                 sizeof buf), "");
}

Test(attrs, format_truncates_safely)
{
	cube_attrs a;
	parse_ok("tag=1,2,3,4,5,6,7,8 scale=2.5", &a);
	for (size_t n = 1; n < 60; n++) {
		char buf[64];
		memset(buf, '#', sizeof buf);
		nb_attrs_format(&cube, &a, true, buf, n);
		cr_expect_lt(strlen(buf), n, "n = %zu: '%s'", n, buf);
		for (size_t i = n; i < sizeof buf; i++)
			cr_assert_eq(buf[i], '#', "n = %zu: byte %zu written", n, i);
	}
	char c = '#';
	nb_attrs_format(&cube, &a, true, &c, 0);
	cr_expect_eq(c, '#');
}

/* format then parse gives back the same attributes, exactly. */
static void expect_round_trip(const nb_op *op, const void *a)
{
	char buf[512];
	_Alignas(max_align_t) unsigned char b[512];
	for (int all = 0; all < 2; all++) {
		nb_attrs_format(op, a, all, buf, sizeof buf);
		cr_assert_eq(nb_attrs_parse(op, buf, b), NB_OK, "%s: '%s': %s",
		             op->name, buf, nb_last_error());
		for (int i = 0; i < op->n_attrs; i++) {
			const nb_attr_def *d = &op->attrs[i];
			size_t sz = d->type == NB_ATTR_INTS ? sizeof(nb_ints)
			          : d->type == NB_ATTR_BOOL ? sizeof(bool)
			          : d->type == NB_ATTR_ENUM ? sizeof(int) : 8;
			cr_expect(!memcmp((const char *)a + d->offset,
			                  b + d->offset, sz),
			          "%s: attribute '%s' changed through '%s'",
			          op->name, d->name, buf);
		}
	}
}

Test(attrs, round_trip)
{
	cube_attrs a;
	parse_ok(NULL, &a);
	expect_round_trip(&cube, &a);
	parse_ok("tag=1,-2,3 flip=yes mode=half scale=-2.5 offset=1e-300 "
	         "count=4", &a);
	expect_round_trip(&cube, &a);
	/* Values that need all 17 significant digits. */
	a.scale = 1.0 / 3;
	a.offset = -1.2345678901234567e-5;
	expect_round_trip(&cube, &a);
	a.scale = 0.1;
	a.offset = 1e300 * 1.7976931348623157;
	expect_round_trip(&cube, &a);
	char buf[256];
	a.scale = 0.1;
	a.offset = NAN;
	nb_attrs_format(&cube, &a, false, buf, sizeof buf);
	cr_expect_str_eq(buf, "scale=0.1 flip=1 mode=half count=4 tag=1,-2,3");
}

Test(attrs, every_registered_op_round_trips_its_defaults)
{
	ensure_cube();
	for (size_t i = 0; i < nb_op_count(); i++) {
		const nb_op *op = nb_op_at(i);
		_Alignas(max_align_t) unsigned char a[512];
		cr_assert_leq(op->attrs_size, sizeof a);
		cr_expect_eq(nb_attrs_parse(op, NULL, a), NB_OK, "%s: %s",
		             op->name, nb_last_error());
		cr_expect_eq(nb_attrs_check(op, a), NB_OK, "%s", op->name);
		expect_round_trip(op, a);
	}
}

/* ---- the first use of the registry from several threads at once ---- */


static void *first_use(void *arg)
{
	size_t *n = arg;
	nb_graph *g = nb_graph_new();
	const nb_op *op = nb_op_find("matmul");
	*n = g && op && !strcmp(op->name, "matmul") ? nb_op_count() : 0;
	nb_graph_free(g);
	return NULL;
}

Test(registry, concurrent_first_use)
{
	enum { N = 8 };
	pthread_t t[N];
	size_t n[N];
	for (int i = 0; i < N; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, first_use, &n[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < N; i++) {
		cr_expect_gt(n[i], 20, "thread %d saw %zu ops", i, n[i]);
		cr_expect_eq(n[i], nb_op_count(), "thread %d", i);
	}
}
