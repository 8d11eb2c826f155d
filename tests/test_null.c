/*
 * test_null.c - every public function given NULL for each of its pointer
 * arguments (the others valid) returns the result its header documents
 * and never crashes (doc/api.md, "NULL arguments"):
 *   - a call returning nb_status returns NB_EINVAL, with a message in
 *     nb_last_error();
 *   - a constructor or a call that makes something returns NULL with
 *     NB_EINVAL in nb_last_error();
 *   - an op (or anything recording on a graph) given a valid graph and a
 *     NULL input returns NULL with NB_EINVAL recorded on the graph;
 *   - an accessor returns a neutral value (0, -1, false, NULL, "", NAN)
 *     and leaves nb_last_error() alone, so that the cause of the NULL
 *     (often an out-of-memory in the constructor) is still there;
 *   - a destructor or a setter does nothing.
 * Where a header says a pointer may be NULL (optional inputs, "NULL: the
 * defaults"), the call is checked to succeed instead.
 *
 * COVERS(fn) marks the block that tests fn (UNARY and BINARY do too); tests/check-null.sh
 * compares the marked names with the functions declared in
 * the headers of include/nabla/, so a new public function without a NULL test fails
 * make check.
 */
#include <stdint.h>
#include <unistd.h>
#include "support/helpers.h"

/* Marks the function a block tests (and checks at compile time that it
 * is declared). */
#define COVERS(fn) ((void)(fn))

/* The sentinel: the thread's last error before each checked call, so a
 * check after the call can tell whether the call set its own. */
static void arm(void)
{
	cr_assert_null(nb_tensor_zeros((nb_dtype)99, 0, NULL));
	cr_assert_eq(nb_last_status(), NB_EDTYPE);
}

static void expect_null_msg(const char *what)
{
	cr_expect_eq(nb_last_status(), NB_EINVAL, "%s: last status %s, want "
	             "NB_EINVAL (%s)", what, nb_strerror(nb_last_status()),
	             nb_last_error());
	cr_expect(nb_last_error()[0] != '\0', "%s: no message", what);
}

/* An nb_status call: NB_EINVAL and a message. */
#define EXPECT_EINVAL(call) do { \
	arm(); \
	nb_status st_ = (call); \
	cr_expect_eq(st_, NB_EINVAL, "%s: %s, want NB_EINVAL", #call, \
	             nb_strerror(st_)); \
	expect_null_msg(#call); \
} while (0)

/* A call that makes something: NULL, NB_EINVAL and a message. */
#define EXPECT_NULL_EINVAL(call) do { \
	arm(); \
	const void *p_ = (call); \
	cr_expect_null(p_, "%s is not NULL", #call); \
	expect_null_msg(#call); \
} while (0)

/* An accessor: the neutral value, and nb_last_error() untouched. */
#define EXPECT_QUIET(call, want) do { \
	arm(); \
	cr_expect((call) == (want), "%s is not %s", #call, #want); \
	cr_expect_eq(nb_last_status(), NB_EDTYPE, "%s set an error: %s", \
	             #call, nb_last_error()); \
} while (0)
/* A call returning nothing. */
#define EXPECT_NOOP(call) do { \
	arm(); \
	call; \
	cr_expect_eq(nb_last_status(), NB_EDTYPE, "%s set an error: %s", \
	             #call, nb_last_error()); \
} while (0)

/* Recording on a valid graph: NULL, and NB_EINVAL kept on the graph. */
#define EXPECT_ON_GRAPH(call) do { \
	nb_graph_reset(g); \
	const void *p_ = (call); \
	cr_expect_null(p_, "%s is not NULL", #call); \
	cr_expect_eq(nb_graph_status(g), NB_EINVAL, "%s: graph status %s", \
	             #call, nb_strerror(nb_graph_status(g))); \
	cr_expect(nb_graph_errmsg(g)[0] != '\0', "%s: no graph message", \
	          #call); \
	nb_graph_reset(g); \
} while (0)

/* A call that must succeed (the header allows NULL here). */
#define EXPECT_OK(call) do { \
	nb_graph_reset(g); \
	const void *p_ = (call); \
	cr_expect_not_null(p_, "%s failed: %s", #call, nb_last_error()); \
	nb_graph_reset(g); \
} while (0)

/* Valid objects for the arguments that are not NULL. */
static nb_graph *g;
static nb_tensor *x, *w, *b, *img, *labels;
static nb_rng rng;
static nb_module *m;
static nb_optim *opt;
static const nb_op *relu;
static char tmpdir[64];
static char stpath[96];

static void setup(void)
{
	g = nb_graph_new();
	nb_rng_seed(&rng, 1);
	x = nb_tensor_rand(NB_F32, NB_SHAPE(2, 3), &rng, -1, 1);
	w = nb_tensor_rand(NB_F32, NB_SHAPE(4, 3), &rng, -1, 1);
	b = nb_tensor_zeros(NB_F32, NB_SHAPE(4));
	img = nb_tensor_rand(NB_F32, NB_SHAPE(1, 2, 4, 4), &rng, -1, 1);
	labels = nb_tensor_zeros(NB_I64, NB_SHAPE(2));
	cr_assert(g && x && w && b && img && labels, "%s", nb_last_error());
	cr_assert_eq(nb_tensor_set_requires_grad(w, true), NB_OK);
	m = nb_linear_new("fc", 3, 4, true, NB_F32, &rng);
	cr_assert_not_null(m, "%s", nb_last_error());
	nb_tensor *p = nb_module_tensor(m, "weight");
	opt = nb_optim_sgd(&p, 1, NULL);
	cr_assert_not_null(opt, "%s", nb_last_error());
	relu = nb_op_find("relu");
	cr_assert_not_null(relu);
	snprintf(tmpdir, sizeof tmpdir, "%s/nb-null-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(stpath, sizeof stpath, "%s/m.st", tmpdir);
	cr_assert_eq(nb_checkpoint_save(stpath, m, opt, NULL), NB_OK, "%s",
	             nb_last_error());
}

static void teardown(void)
{
	unlink(stpath);
	rmdir(tmpdir);
	nb_optim_free(opt);
	nb_module_free(m);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_tensor_free(img);
	nb_tensor_free(labels);
	nb_graph_free(g);
}

TestSuite(null, .init = setup, .fini = teardown);

/* ---- core.h ---- */

Test(null, core)
{
	/* No pointer arguments: listed so that the coverage check sees
	 * them. */
	COVERS(nb_strerror);
	cr_expect_not_null(nb_strerror(NB_STATUS_COUNT));
	COVERS(nb_last_status);
	COVERS(nb_last_error);
	COVERS(nb_dtype_size);
	COVERS(nb_dtype_name);
	COVERS(nb_set_num_threads);
	COVERS(nb_get_num_threads);

	COVERS(nb_set_alloc_funcs);
	/* Each NULL function is the C library's. */
	nb_set_alloc_funcs(NULL, realloc, free);
	nb_set_alloc_funcs(malloc, NULL, free);
	nb_set_alloc_funcs(malloc, realloc, NULL);
	nb_set_alloc_funcs(NULL, NULL, NULL);
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	cr_expect_not_null(t);
	nb_tensor_free(t);

	COVERS(nb_rng_seed);
	EXPECT_NOOP(nb_rng_seed(NULL, 1));
	COVERS(nb_rng_next);
	EXPECT_QUIET(nb_rng_next(NULL), 0);
	COVERS(nb_rng_uniform);
	arm();
	cr_expect(isnan(nb_rng_uniform(NULL)));
	COVERS(nb_rng_normal);
	cr_expect(isnan(nb_rng_normal(NULL)));
	COVERS(nb_rng_below);
	EXPECT_QUIET(nb_rng_below(NULL, 10), 0);
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
}

/* ---- tensor.h ---- */

Test(null, tensor_constructors)
{
	int64_t shape[2] = {2, 3};
	float data[6] = {0};
	COVERS(nb_tensor_zeros);
	EXPECT_NULL_EINVAL(nb_tensor_zeros(NB_F32, 2, NULL));
	/* Rank 0 needs no shape. */
	nb_tensor *s = nb_tensor_zeros(NB_F32, 0, NULL);
	cr_expect_not_null(s);
	nb_tensor_free(s);
	COVERS(nb_tensor_ones);
	EXPECT_NULL_EINVAL(nb_tensor_ones(NB_F32, 2, NULL));
	COVERS(nb_tensor_full);
	EXPECT_NULL_EINVAL(nb_tensor_full(NB_F32, 2, NULL, 1));
	COVERS(nb_tensor_arange); /* no pointer argument */
	COVERS(nb_tensor_randn);
	EXPECT_NULL_EINVAL(nb_tensor_randn(NB_F32, 2, NULL, &rng, 0, 1));
	EXPECT_NULL_EINVAL(nb_tensor_randn(NB_F32, 2, shape, NULL, 0, 1));
	COVERS(nb_tensor_rand);
	EXPECT_NULL_EINVAL(nb_tensor_rand(NB_F32, 2, NULL, &rng, 0, 1));
	EXPECT_NULL_EINVAL(nb_tensor_rand(NB_F32, 2, shape, NULL, 0, 1));
	COVERS(nb_tensor_from_data);
	EXPECT_NULL_EINVAL(nb_tensor_from_data(NB_F32, 2, NULL, data,
	                                       NB_COPY));
	EXPECT_NULL_EINVAL(nb_tensor_from_data(NB_F32, 2, shape, NULL,
	                                       NB_COPY));
	EXPECT_NULL_EINVAL(nb_tensor_from_data(NB_F32, 2, shape, NULL,
	                                       NB_BORROW));
	COVERS(nb_tensor_clone);
	EXPECT_NULL_EINVAL(nb_tensor_clone(NULL));
	COVERS(nb_tensor_free);
	EXPECT_NOOP(nb_tensor_free(NULL));
}

Test(null, tensor_accessors)
{
	COVERS(nb_tensor_dtype);
	EXPECT_QUIET(nb_tensor_dtype(NULL), (nb_dtype)-1);
	cr_expect_str_eq(nb_dtype_name(nb_tensor_dtype(NULL)), "?");
	cr_expect_eq(nb_dtype_size(nb_tensor_dtype(NULL)), 0);
	COVERS(nb_tensor_ndim);
	EXPECT_QUIET(nb_tensor_ndim(NULL), -1);
	COVERS(nb_tensor_shape);
	EXPECT_QUIET(nb_tensor_shape(NULL), NULL);
	COVERS(nb_tensor_dim);
	EXPECT_QUIET(nb_tensor_dim(NULL, 0), -1);
	EXPECT_QUIET(nb_tensor_dim(NULL, -1), -1);
	COVERS(nb_tensor_numel);
	EXPECT_QUIET(nb_tensor_numel(NULL), 0);
	/* The issue's trigger: the gradient before the first backward. */
	EXPECT_QUIET(nb_tensor_numel(nb_tensor_grad(w)), 0);
	COVERS(nb_tensor_data);
	EXPECT_QUIET(nb_tensor_data(NULL), NULL);
	COVERS(nb_tensor_cdata);
	EXPECT_QUIET(nb_tensor_cdata(NULL), NULL);
	COVERS(nb_tensor_get);
	arm();
	cr_expect(isnan(nb_tensor_get(NULL, 0)));
	COVERS(nb_tensor_item);
	cr_expect(isnan(nb_tensor_item(NULL)));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_tensor_set);
	EXPECT_NOOP(nb_tensor_set(NULL, 0, 1.0));
	COVERS(nb_tensor_copy);
	EXPECT_EINVAL(nb_tensor_copy(NULL, x));
	EXPECT_EINVAL(nb_tensor_copy(x, NULL));
	COVERS(nb_tensor_fill);
	EXPECT_EINVAL(nb_tensor_fill(NULL, 1));
	COVERS(nb_tensor_set_requires_grad);
	EXPECT_EINVAL(nb_tensor_set_requires_grad(NULL, true));
	COVERS(nb_tensor_requires_grad);
	EXPECT_QUIET(nb_tensor_requires_grad(NULL), false);
	COVERS(nb_tensor_grad);
	EXPECT_QUIET(nb_tensor_grad(NULL), NULL);
	COVERS(nb_tensor_zero_grad);
	EXPECT_NOOP(nb_tensor_zero_grad(NULL));
	COVERS(nb_tensor_set_name);
	EXPECT_EINVAL(nb_tensor_set_name(NULL, "a"));
	/* A NULL name removes the name. */
	cr_expect_eq(nb_tensor_set_name(x, "x"), NB_OK);
	cr_expect_eq(nb_tensor_set_name(x, NULL), NB_OK);
	cr_expect_null(nb_tensor_name(x));
	COVERS(nb_tensor_name);
	EXPECT_QUIET(nb_tensor_name(NULL), NULL);
	COVERS(nb_tensor_is_graph);
	EXPECT_QUIET(nb_tensor_is_graph(NULL), false);
	COVERS(nb_shape_str);
	char buf[32];
	arm();
	cr_expect_str_eq(nb_shape_str(2, NULL, buf, sizeof buf), "(null)");
	cr_expect_null(nb_shape_str(2, (const int64_t[]){1, 2}, NULL, 8));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
}

/* ---- graph.h ---- */

Test(null, graph)
{
	int64_t shape[1] = {3};
	float data[3] = {0};
	COVERS(nb_graph_new); /* no arguments */
	COVERS(nb_graph_free);
	EXPECT_NOOP(nb_graph_free(NULL));
	COVERS(nb_graph_reset);
	EXPECT_NOOP(nb_graph_reset(NULL));
	/* A NULL graph (nb_graph_new out of memory) reads as failed. */
	COVERS(nb_graph_status);
	EXPECT_QUIET(nb_graph_status(NULL), NB_EINVAL);
	COVERS(nb_graph_errmsg);
	arm();
	cr_expect_str_eq(nb_graph_errmsg(NULL), "graph is NULL");
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_graph_clear_error);
	EXPECT_NOOP(nb_graph_clear_error(NULL));
	COVERS(nb_graph_fail);
	EXPECT_EINVAL(nb_graph_fail(NULL, NB_EINVAL, "x is NULL"));
	EXPECT_EINVAL(nb_graph_fail(NULL, NB_OK, NULL));
	COVERS(nb_graph_set_training);
	EXPECT_NOOP(nb_graph_set_training(NULL, true));
	COVERS(nb_graph_training);
	EXPECT_QUIET(nb_graph_training(NULL), false);
	COVERS(nb_graph_set_grad_enabled);
	EXPECT_QUIET(nb_graph_set_grad_enabled(NULL, true), false);
	COVERS(nb_graph_grad_enabled);
	EXPECT_QUIET(nb_graph_grad_enabled(NULL), false);
	COVERS(nb_graph_set_anomaly);
	EXPECT_NOOP(nb_graph_set_anomaly(NULL, true));
	COVERS(nb_graph_set_retain_grads);
	EXPECT_NOOP(nb_graph_set_retain_grads(NULL, true));
	COVERS(nb_graph_seed);
	EXPECT_NOOP(nb_graph_seed(NULL, 3));
	COVERS(nb_graph_rng);
	EXPECT_QUIET(nb_graph_rng(NULL), NULL);
	COVERS(nb_graph_scope_push);
	EXPECT_EINVAL(nb_graph_scope_push(NULL, "a"));
	EXPECT_EINVAL(nb_graph_scope_push(g, NULL));
	cr_expect_eq(nb_graph_status(g), NB_OK);
	COVERS(nb_graph_scope_pop);
	EXPECT_NOOP(nb_graph_scope_pop(NULL));
	COVERS(nb_graph_scope);
	arm();
	cr_expect_str_eq(nb_graph_scope(NULL), "");
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_graph_tensor);
	EXPECT_NULL_EINVAL(nb_graph_tensor(NULL, NB_F32, 1, shape));
	EXPECT_ON_GRAPH(nb_graph_tensor(g, NB_F32, 1, NULL));
	COVERS(nb_graph_from_data);
	EXPECT_NULL_EINVAL(nb_graph_from_data(NULL, NB_F32, 1, shape, data));
	EXPECT_ON_GRAPH(nb_graph_from_data(g, NB_F32, 1, NULL, data));
	EXPECT_ON_GRAPH(nb_graph_from_data(g, NB_F32, 1, shape, NULL));
	COVERS(nb_backward);
	EXPECT_EINVAL(nb_backward(NULL, NULL));
	EXPECT_EINVAL(nb_backward(NULL, x));
	/* grad_out NULL is dL/dy = 1 for a one-element y. */
	nb_tensor *y = nb_sum(g, nb_linear(g, x, w, b), 0, NULL, false);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_backward(y, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	COVERS(nb_graph_node_count);
	EXPECT_QUIET(nb_graph_node_count(NULL), 0);
	COVERS(nb_graph_bytes);
	EXPECT_QUIET(nb_graph_bytes(NULL), 0);
	COVERS(nb_graph_bytes_used);
	EXPECT_QUIET(nb_graph_bytes_used(NULL), 0);
}

/* ---- op.h ---- */

static nb_status ctx_forward(nb_op_ctx *c)
{
	(void)c;
	return NB_OK;
}

Test(null, op)
{
	nb_tensor *in[1] = {x};
	char attrs[256], out[64];
	COVERS(nb_op_kind_name); /* no pointer argument */
	COVERS(nb_op_count);
	COVERS(nb_op_at);
	COVERS(nb_op_register);
	EXPECT_EINVAL(nb_op_register(NULL));
	COVERS(nb_op_find);
	EXPECT_QUIET(nb_op_find(NULL), NULL);
	COVERS(nb_apply);
	EXPECT_NULL_EINVAL(nb_apply(NULL, relu, 1, in, NULL));
	EXPECT_ON_GRAPH(nb_apply(g, NULL, 1, in, NULL));
	EXPECT_ON_GRAPH(nb_apply(g, relu, 1, NULL, NULL));
	EXPECT_ON_GRAPH(nb_apply(g, relu, 1, (nb_tensor *[]){NULL}, NULL));
	EXPECT_OK(nb_apply(g, relu, 1, in, NULL));
	COVERS(nb_call);
	EXPECT_NULL_EINVAL(nb_call(NULL, "relu", 1, in, NULL));
	EXPECT_ON_GRAPH(nb_call(g, NULL, 1, in, NULL));
	EXPECT_ON_GRAPH(nb_call(g, "relu", 1, NULL, NULL));
	EXPECT_OK(nb_call(g, "relu", 1, in, NULL));
	const nb_op *lr = nb_op_find("leaky_relu");
	cr_assert_not_null(lr);
	COVERS(nb_attrs_parse);
	EXPECT_EINVAL(nb_attrs_parse(NULL, "", attrs));
	EXPECT_EINVAL(nb_attrs_parse(lr, "", NULL));
	cr_expect_eq(nb_attrs_parse(lr, NULL, attrs), NB_OK);
	COVERS(nb_attrs_check);
	EXPECT_EINVAL(nb_attrs_check(NULL, attrs));
	EXPECT_EINVAL(nb_attrs_check(lr, NULL));
	COVERS(nb_attrs_format);
	arm();
	cr_expect_str_eq(nb_attrs_format(NULL, attrs, true, out, sizeof out),
	                 "");
	cr_expect_str_eq(nb_attrs_format(lr, NULL, true, out, sizeof out), "");
	cr_expect_null(nb_attrs_format(lr, attrs, true, NULL, sizeof out));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);

	/* The op context: only ops see one, but NULL is still safe. */
	int64_t shape[1] = {2};
	COVERS(nb_op_save);
	EXPECT_NULL_EINVAL(nb_op_save(NULL, 8));
	COVERS(nb_op_scratch);
	EXPECT_NULL_EINVAL(nb_op_scratch(NULL, NB_F32, 1, shape));
	COVERS(nb_op_fail);
	arm();
	cr_expect_eq(nb_op_fail(NULL, NB_ESHAPE, "bad %d", 1), NB_ESHAPE);
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "bad 1") != NULL, "%s",
	          nb_last_error());
	const char *volatile nofmt = NULL;
	cr_expect_eq(nb_op_fail(NULL, NB_ESHAPE, nofmt, 0), NB_ESHAPE);
	COVERS(nb_op_training);
	EXPECT_QUIET(nb_op_training(NULL), false);
	COVERS(nb_op_rng);
	EXPECT_QUIET(nb_op_rng(NULL), NULL);
	(void)ctx_forward;

	/* The tape: a graph with one node. */
	cr_assert_not_null(nb_relu(g, x));
	nb_tensor *const *ins = NULL;
	COVERS(nb_graph_node_op);
	EXPECT_QUIET(nb_graph_node_op(NULL, 0), NULL);
	COVERS(nb_graph_node_inputs);
	EXPECT_QUIET(nb_graph_node_inputs(NULL, 0, &ins), 0);
	cr_expect_null(ins);
	EXPECT_QUIET(nb_graph_node_inputs(g, 0, NULL), 1);
	COVERS(nb_graph_node_output);
	EXPECT_QUIET(nb_graph_node_output(NULL, 0), NULL);
	COVERS(nb_graph_node_outputs);
	nb_tensor *const *outs = ins;
	EXPECT_QUIET(nb_graph_node_outputs(NULL, 0, &outs), 0);
	cr_expect_null(outs);
	EXPECT_QUIET(nb_graph_node_outputs(g, 0, NULL), 1);
	COVERS(nb_tensor_output_index);
	EXPECT_QUIET(nb_tensor_output_index(NULL), 0);
	COVERS(nb_op_input);
	EXPECT_QUIET(nb_op_input(NULL, 0), NULL);
	COVERS(nb_apply_multi);
	nb_tensor *res[2] = {NULL, NULL};
	arm();
	cr_expect_eq(nb_apply_multi(NULL, nb_op_find("relu"), 1, &x, NULL, res,
	                            2), -1);
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_eq(nb_apply_multi(g, NULL, 1, &x, NULL, res, 2), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_clear_error(g);
	cr_expect_eq(nb_apply_multi(g, nb_op_find("relu"), 1, &x, NULL, NULL,
	                            2), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_clear_error(g);
	cr_expect_null(res[0]);
	cr_expect_eq(nb_apply_multi(g, nb_op_find("relu"), 1, &x, NULL, res,
	                            2), 1);
	cr_expect_not_null(res[0]);
	COVERS(nb_graph_node_attrs);
	EXPECT_QUIET(nb_graph_node_attrs(NULL, 0), NULL);
	COVERS(nb_graph_node_scope);
	arm();
	cr_expect_str_eq(nb_graph_node_scope(NULL, 0), "");
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_tensor_node);
	EXPECT_QUIET(nb_tensor_node(NULL), -1);
}

/* ---- ops.h ---- */

/* op(NULL graph, x) and op(g, NULL input) for each tensor argument. */
#define UNARY(fn, ...) do { \
	COVERS(fn); \
	EXPECT_NULL_EINVAL(fn(NULL, x __VA_ARGS__)); \
	EXPECT_ON_GRAPH(fn(g, NULL __VA_ARGS__)); \
	EXPECT_OK(fn(g, x __VA_ARGS__)); \
} while (0)
#define BINARY(fn, a, b2) do { \
	COVERS(fn); \
	EXPECT_NULL_EINVAL(fn(NULL, a, b2)); \
	EXPECT_ON_GRAPH(fn(g, NULL, b2)); \
	EXPECT_ON_GRAPH(fn(g, a, NULL)); \
	EXPECT_OK(fn(g, a, b2)); \
} while (0)

Test(null, ops)
{
	BINARY(nb_add, x, x);
	BINARY(nb_sub, x, x);
	BINARY(nb_mul, x, x);
	BINARY(nb_div, x, x);
	BINARY(nb_maximum, x, x);
	BINARY(nb_minimum, x, x);
	UNARY(nb_neg);
	UNARY(nb_exp);
	UNARY(nb_square);
	UNARY(nb_log);
	UNARY(nb_sqrt);
	UNARY(nb_abs);
	UNARY(nb_pow, , 2.0);
	UNARY(nb_affine_scalar, , 2.0, 1.0);
	UNARY(nb_sign);
	UNARY(nb_floor);
	UNARY(nb_ceil);
	UNARY(nb_round);
	UNARY(nb_sin);
	UNARY(nb_cos);
	UNARY(nb_rsqrt);
	UNARY(nb_reciprocal);
	UNARY(nb_log1p);
	UNARY(nb_expm1);
	UNARY(nb_erf);
	UNARY(nb_clamp, , -1.0, 1.0);
	UNARY(nb_detach);
	/* NULL axes with naxes 0: every axis. */
	UNARY(nb_sum, , 0, NULL, false);
	UNARY(nb_mean, , 0, NULL, false);
	UNARY(nb_max, , 0, NULL, false);
	EXPECT_ON_GRAPH(nb_sum(g, x, 1, NULL, false));
	EXPECT_ON_GRAPH(nb_mean(g, x, 1, NULL, false));
	EXPECT_ON_GRAPH(nb_max(g, x, 1, NULL, false));
	COVERS(nb_reshape);
	EXPECT_NULL_EINVAL(nb_reshape(NULL, x, 1, (const int64_t[]){6}));
	EXPECT_ON_GRAPH(nb_reshape(g, NULL, 1, (const int64_t[]){6}));
	EXPECT_ON_GRAPH(nb_reshape(g, x, 1, NULL));
	COVERS(nb_permute);
	EXPECT_NULL_EINVAL(nb_permute(NULL, x, (const int[]){1, 0}));
	EXPECT_ON_GRAPH(nb_permute(g, NULL, (const int[]){1, 0}));
	EXPECT_ON_GRAPH(nb_permute(g, x, NULL));
	UNARY(nb_transpose, , 0, 1);
	COVERS(nb_matmul);
	nb_tensor *wt = nb_tensor_ones(NB_F32, NB_SHAPE(3, 4));
	BINARY(nb_matmul, x, wt);
	nb_tensor_free(wt);
	COVERS(nb_linear);
	EXPECT_NULL_EINVAL(nb_linear(NULL, x, w, b));
	EXPECT_ON_GRAPH(nb_linear(g, NULL, w, b));
	EXPECT_ON_GRAPH(nb_linear(g, x, NULL, b));
	EXPECT_OK(nb_linear(g, x, w, NULL)); /* no bias */
	UNARY(nb_softmax, , 1);
	UNARY(nb_log_softmax, , 1);
}

/* ---- activation.h ---- */

Test(null, activation)
{
	UNARY(nb_sigmoid);
	UNARY(nb_tanh);
	UNARY(nb_relu);
	UNARY(nb_leaky_relu, , 0.1);
	UNARY(nb_rrelu, , 0.1, 0.3);
	nb_tensor *pw = nb_tensor_full(NB_F32, NB_SHAPE(1), 0.25);
	BINARY(nb_prelu, x, pw);
	nb_tensor_free(pw);
	UNARY(nb_elu, , 1.0);
	UNARY(nb_selu);
	UNARY(nb_celu, , 1.0);
	UNARY(nb_gelu, , NB_GELU_NONE);
	UNARY(nb_silu);
	UNARY(nb_mish);
	UNARY(nb_softplus, , 1.0, 20.0);
	UNARY(nb_softsign);
	UNARY(nb_hardtanh, , -1.0, 1.0);
	UNARY(nb_hardsigmoid);
	UNARY(nb_hardswish);
	UNARY(nb_log_sigmoid);
	COVERS(nb_activation_stats);
	nb_act_stats st;
	cr_expect_eq(nb_activation_stats(NULL, x, &st), NB_OK);
	EXPECT_EINVAL(nb_activation_stats(relu, NULL, &st));
	EXPECT_EINVAL(nb_activation_stats(relu, x, NULL));
}

/* ---- conv.h, norm.h, regularize.h ---- */

Test(null, conv_norm)
{
	nb_tensor *cw = nb_tensor_ones(NB_F32, NB_SHAPE(3, 2, 3, 3));
	nb_tensor *cb = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_conv2d_opts co = NB_CONV2D_DEFAULTS;
	COVERS(nb_conv2d);
	EXPECT_NULL_EINVAL(nb_conv2d(NULL, img, cw, cb, &co));
	EXPECT_ON_GRAPH(nb_conv2d(g, NULL, cw, cb, &co));
	EXPECT_ON_GRAPH(nb_conv2d(g, img, NULL, cb, &co));
	EXPECT_OK(nb_conv2d(g, img, cw, NULL, &co));
	EXPECT_OK(nb_conv2d(g, img, cw, cb, NULL));
	nb_pool2d_opts po = {{2, 2}, {0, 0}, {0, 0}, false};
	COVERS(nb_max_pool2d);
	EXPECT_NULL_EINVAL(nb_max_pool2d(NULL, img, &po));
	EXPECT_ON_GRAPH(nb_max_pool2d(g, NULL, &po));
	EXPECT_ON_GRAPH(nb_max_pool2d(g, img, NULL));
	COVERS(nb_avg_pool2d);
	EXPECT_NULL_EINVAL(nb_avg_pool2d(NULL, img, &po));
	EXPECT_ON_GRAPH(nb_avg_pool2d(g, NULL, &po));
	EXPECT_ON_GRAPH(nb_avg_pool2d(g, img, NULL));
	nb_tensor_free(cw);
	nb_tensor_free(cb);

	nb_tensor *one = nb_tensor_ones(NB_F32, NB_SHAPE(3));
	nb_tensor *zero = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_tensor *rm = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_tensor *rv = nb_tensor_ones(NB_F32, NB_SHAPE(3));
	nb_tensor *nbt = nb_tensor_zeros(NB_I64, 0, NULL);
	COVERS(nb_batch_norm);
	EXPECT_NULL_EINVAL(nb_batch_norm(NULL, x, one, zero, rm, rv, nbt, 0.1,
	                                 1e-5));
	EXPECT_ON_GRAPH(nb_batch_norm(g, NULL, one, zero, rm, rv, nbt, 0.1,
	                              1e-5));
	EXPECT_OK(nb_batch_norm(g, x, NULL, NULL, NULL, NULL, NULL, 0.1,
	                        1e-5));
	COVERS(nb_instance_norm);
	nb_tensor *x3 = nb_tensor_ones(NB_F32, NB_SHAPE(2, 3, 4));
	EXPECT_NULL_EINVAL(nb_instance_norm(NULL, x3, one, zero, rm, rv, 0.1,
	                                    1e-5));
	EXPECT_ON_GRAPH(nb_instance_norm(g, NULL, one, zero, rm, rv, 0.1,
	                                 1e-5));
	EXPECT_OK(nb_instance_norm(g, x3, NULL, NULL, NULL, NULL, 0.1, 1e-5));
	COVERS(nb_group_norm);
	EXPECT_NULL_EINVAL(nb_group_norm(NULL, x3, 1, one, zero, 1e-5));
	EXPECT_ON_GRAPH(nb_group_norm(g, NULL, 1, one, zero, 1e-5));
	EXPECT_OK(nb_group_norm(g, x3, 1, NULL, NULL, 1e-5));
	COVERS(nb_layer_norm);
	const int64_t ns[1] = {3};
	EXPECT_NULL_EINVAL(nb_layer_norm(NULL, x, 1, ns, one, zero, 1e-5));
	EXPECT_ON_GRAPH(nb_layer_norm(g, NULL, 1, ns, one, zero, 1e-5));
	EXPECT_ON_GRAPH(nb_layer_norm(g, x, 1, NULL, one, zero, 1e-5));
	EXPECT_OK(nb_layer_norm(g, x, 1, ns, NULL, NULL, 1e-5));
	nb_tensor_free(x3);
	nb_tensor_free(one);
	nb_tensor_free(zero);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(nbt);
}

Test(null, regularize)
{
	UNARY(nb_l1_penalty, , 1e-3);
	UNARY(nb_l2_penalty, , 1e-3, NB_L2_HALF);
	COVERS(nb_penalty_sum);
	nb_tensor *ps[1] = {w};
	EXPECT_NULL_EINVAL(nb_penalty_sum(NULL, ps, 1, NB_PENALTY_L1, 1e-3));
	EXPECT_ON_GRAPH(nb_penalty_sum(g, NULL, 1, NB_PENALTY_L1, 1e-3));
	EXPECT_ON_GRAPH(nb_penalty_sum(g, (nb_tensor *[]){NULL}, 1,
	                               NB_PENALTY_L1, 1e-3));
	UNARY(nb_dropout, , 0.5);
	UNARY(nb_alpha_dropout, , 0.5);
	UNARY(nb_clip_grad_value_op, , 1.0);
	UNARY(nb_clip_grad_norm_op, , 1.0);
	COVERS(nb_clip_grad_norm);
	double tn;
	EXPECT_EINVAL(nb_clip_grad_norm(NULL, 1, 1.0, 2.0, false, &tn));
	EXPECT_EINVAL(nb_clip_grad_norm((nb_tensor *[]){NULL}, 1, 1.0, 2.0,
	                                false, &tn));
	cr_expect_eq(nb_clip_grad_norm(ps, 1, 1.0, 2.0, false, NULL), NB_OK,
	             "%s", nb_last_error());
	COVERS(nb_clip_grad_value);
	EXPECT_EINVAL(nb_clip_grad_value(NULL, 1, 1.0));
	EXPECT_EINVAL(nb_clip_grad_value((nb_tensor *[]){NULL}, 1, 1.0));
}

/* ---- init.h ---- */

Test(null, init)
{
	double gain;
	int64_t fi, fo;
	const int64_t shape[2] = {4, 3};
	COVERS(nb_calculate_gain);
	EXPECT_EINVAL(nb_calculate_gain(NULL, 0, &gain));
	EXPECT_EINVAL(nb_calculate_gain("relu", 0, NULL));
	COVERS(nb_calculate_fans);
	EXPECT_EINVAL(nb_calculate_fans(2, NULL, &fi, &fo));
	EXPECT_EINVAL(nb_calculate_fans(2, shape, NULL, &fo));
	EXPECT_EINVAL(nb_calculate_fans(2, shape, &fi, NULL));
	COVERS(nb_init_zeros);
	EXPECT_EINVAL(nb_init_zeros(NULL));
	COVERS(nb_init_constant);
	EXPECT_EINVAL(nb_init_constant(NULL, 1));
	COVERS(nb_init_normal);
	EXPECT_EINVAL(nb_init_normal(NULL, &rng, 0, 1));
	EXPECT_EINVAL(nb_init_normal(w, NULL, 0, 1));
	COVERS(nb_init_uniform);
	EXPECT_EINVAL(nb_init_uniform(NULL, &rng, 0, 1));
	EXPECT_EINVAL(nb_init_uniform(w, NULL, 0, 1));
	COVERS(nb_init_xavier_uniform);
	EXPECT_EINVAL(nb_init_xavier_uniform(NULL, &rng, 1));
	EXPECT_EINVAL(nb_init_xavier_uniform(w, NULL, 1));
	COVERS(nb_init_xavier_normal);
	EXPECT_EINVAL(nb_init_xavier_normal(NULL, &rng, 1));
	EXPECT_EINVAL(nb_init_xavier_normal(w, NULL, 1));
	COVERS(nb_init_kaiming_uniform);
	EXPECT_EINVAL(nb_init_kaiming_uniform(NULL, &rng, 0, NB_FAN_IN,
	                                      "relu"));
	EXPECT_EINVAL(nb_init_kaiming_uniform(w, NULL, 0, NB_FAN_IN, "relu"));
	EXPECT_EINVAL(nb_init_kaiming_uniform(w, &rng, 0, NB_FAN_IN, NULL));
	COVERS(nb_init_kaiming_normal);
	EXPECT_EINVAL(nb_init_kaiming_normal(NULL, &rng, 0, NB_FAN_IN,
	                                     "relu"));
	EXPECT_EINVAL(nb_init_kaiming_normal(w, NULL, 0, NB_FAN_IN, "relu"));
	EXPECT_EINVAL(nb_init_kaiming_normal(w, &rng, 0, NB_FAN_IN, NULL));
	COVERS(nb_init_lecun_normal);
	EXPECT_EINVAL(nb_init_lecun_normal(NULL, &rng));
	EXPECT_EINVAL(nb_init_lecun_normal(w, NULL));
	COVERS(nb_init_orthogonal);
	EXPECT_EINVAL(nb_init_orthogonal(NULL, &rng, 1));
	EXPECT_EINVAL(nb_init_orthogonal(w, NULL, 1));
	COVERS(nb_init_notes);
	EXPECT_EINVAL(nb_init_notes(NULL, &rng, "relu", true));
	EXPECT_EINVAL(nb_init_notes(w, NULL, "relu", true));
	EXPECT_EINVAL(nb_init_notes(w, &rng, NULL, true));
	COVERS(nb_init_apply);
	EXPECT_EINVAL(nb_init_apply(NULL, &rng, "xavier_uniform", "relu"));
	EXPECT_EINVAL(nb_init_apply(w, NULL, "xavier_uniform", "relu"));
	EXPECT_EINVAL(nb_init_apply(w, &rng, NULL, "relu"));
	cr_expect_eq(nb_init_apply(w, &rng, "xavier_uniform", NULL), NB_OK,
	             "%s", nb_last_error());
}

/* ---- model.h ---- */

static nb_tensor *id_forward(nb_module *mod, nb_graph *gr, nb_tensor *in)
{
	(void)mod;
	(void)gr;
	return in;
}

static const nb_module_class id_class = {"identity", id_forward, NULL};

Test(null, module)
{
	COVERS(nb_module_new);
	EXPECT_NULL_EINVAL(nb_module_new(NULL, "a", NULL));
	nb_module *r = nb_module_new(&id_class, NULL, NULL);
	cr_expect_not_null(r, "%s", nb_last_error());
	nb_module_free(r);
	COVERS(nb_module_free);
	EXPECT_NOOP(nb_module_free(NULL));
	COVERS(nb_module_name);
	arm();
	cr_expect_str_eq(nb_module_name(NULL), "");
	COVERS(nb_module_type);
	cr_expect_str_eq(nb_module_type(NULL), "");
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_module_state);
	EXPECT_QUIET(nb_module_state(NULL), NULL);
	COVERS(nb_module_parent);
	EXPECT_QUIET(nb_module_parent(NULL), NULL);
	COVERS(nb_module_add_param);
	EXPECT_EINVAL(nb_module_add_param(NULL, "p",
	                                  nb_tensor_zeros(NB_F32, 0, NULL)));
	EXPECT_EINVAL(nb_module_add_param(m, NULL,
	                                  nb_tensor_zeros(NB_F32, 0, NULL)));
	EXPECT_EINVAL(nb_module_add_param(m, "p", NULL));
	COVERS(nb_module_add_buffer);
	EXPECT_EINVAL(nb_module_add_buffer(NULL, "p",
	                                   nb_tensor_zeros(NB_F32, 0, NULL)));
	EXPECT_EINVAL(nb_module_add_buffer(m, NULL,
	                                   nb_tensor_zeros(NB_F32, 0, NULL)));
	EXPECT_EINVAL(nb_module_add_buffer(m, "p", NULL));
	COVERS(nb_module_add);
	EXPECT_EINVAL(nb_module_add(NULL, nb_sequential_new("c")));
	EXPECT_EINVAL(nb_module_add(m, NULL));
	COVERS(nb_module_child_count);
	EXPECT_QUIET(nb_module_child_count(NULL), 0);
	COVERS(nb_module_child);
	EXPECT_QUIET(nb_module_child(NULL, 0), NULL);
	COVERS(nb_module_tensor);
	EXPECT_QUIET(nb_module_tensor(NULL, "weight"), NULL);
	EXPECT_QUIET(nb_module_tensor(m, NULL), NULL);
	COVERS(nb_module_forward);
	EXPECT_NULL_EINVAL(nb_module_forward(NULL, g, x));
	EXPECT_NULL_EINVAL(nb_module_forward(m, NULL, x));
	EXPECT_ON_GRAPH(nb_module_forward(m, g, NULL));
	COVERS(nb_module_forward_multi);
	arm();
	cr_expect_eq(nb_module_forward_multi(NULL, g, 1, &x, 1, &x), -1);
	expect_null_msg("nb_module_forward_multi(NULL, ...)");
	nb_graph_reset(g);
	cr_expect_eq(nb_module_forward_multi(m, g, 1, NULL, 1, &x), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_reset(g);
	COVERS(nb_module_set_stateful);
	EXPECT_NOOP(nb_module_set_stateful(NULL, true));
	COVERS(nb_module_stateful);
	EXPECT_QUIET(nb_module_stateful(NULL), false);
	COVERS(nb_module_has_state);
	EXPECT_QUIET(nb_module_has_state(NULL), false);
	COVERS(nb_module_reset_state);
	EXPECT_NOOP(nb_module_reset_state(NULL));
	COVERS(nb_module_child_named);
	EXPECT_QUIET(nb_module_child_named(NULL, "a"), NULL);
	EXPECT_QUIET(nb_module_child_named(m, NULL), NULL);
	COVERS(nb_module_set_training);
	EXPECT_NOOP(nb_module_set_training(NULL, false));
	COVERS(nb_module_training);
	EXPECT_QUIET(nb_module_training(NULL), false);
	COVERS(nb_module_tensors);
	const nb_named_tensor *nt = (const nb_named_tensor *)1;
	EXPECT_QUIET(nb_module_tensors(NULL, &nt), 0);
	cr_expect_null(nt);
	EXPECT_QUIET(nb_module_tensors(m, NULL), 2);
	COVERS(nb_module_params);
	EXPECT_QUIET(nb_module_params(NULL, false, NULL, 0), 0);
	EXPECT_QUIET(nb_module_params(m, false, NULL, 4), 2);
	COVERS(nb_module_numel);
	EXPECT_QUIET(nb_module_numel(NULL, false), 0);
	COVERS(nb_module_zero_grad);
	EXPECT_NOOP(nb_module_zero_grad(NULL));
	COVERS(nb_module_freeze);
	size_t matched;
	EXPECT_EINVAL(nb_module_freeze(NULL, "", true, &matched));
	EXPECT_EINVAL(nb_module_freeze(m, NULL, true, &matched));
	cr_expect_eq(nb_module_freeze(m, "weight", true, NULL), NB_OK);

	nb_rng r2;
	nb_rng_seed(&r2, 2);
	nb_conv2d_opts co = NB_CONV2D_DEFAULTS;
	COVERS(nb_sequential_new);
	nb_module *s = nb_sequential_new(NULL);
	cr_expect_not_null(s);
	nb_module_free(s);
	COVERS(nb_linear_new);
	EXPECT_NULL_EINVAL(nb_linear_new("fc", 3, 4, true, NB_F32, NULL));
	COVERS(nb_conv2d_new);
	EXPECT_NULL_EINVAL(nb_conv2d_new("c", 2, 3, 3, 3, &co, true, NB_F32,
	                                 NULL));
	s = nb_conv2d_new("c", 2, 3, 3, 3, NULL, true, NB_F32, &r2);
	cr_expect_not_null(s, "%s", nb_last_error());
	nb_module_free(s);
	COVERS(nb_flatten_new);
	s = nb_flatten_new(NULL, 0, 0, 0);
	cr_expect_not_null(s, "%s", nb_last_error());
	nb_module_free(s);
	COVERS(nb_op_layer_new);
	EXPECT_NULL_EINVAL(nb_op_layer_new("a", NULL, NULL, 3, NB_F32, 0));
	s = nb_op_layer_new(NULL, relu, NULL, 3, NB_F32, 0);
	cr_expect_not_null(s, "%s", nb_last_error());
	nb_module_free(s);
	COVERS(nb_layer_new);
	EXPECT_NULL_EINVAL(nb_layer_new("a", NULL, NULL, 3, NB_F32, 0));
	s = nb_layer_new(NULL, "relu", NULL, 3, NB_F32, 0);
	cr_expect_not_null(s, "%s", nb_last_error());
	nb_module_free(s);
}

Test(null, spec)
{
	nb_spec *sp = (nb_spec *)1;
	size_t pos;
	COVERS(nb_spec_parse);
	EXPECT_EINVAL(nb_spec_parse(NULL, &sp, &pos));
	cr_expect_null(sp);
	EXPECT_EINVAL(nb_spec_parse("relu", NULL, &pos));
	cr_assert_eq(nb_spec_parse("linear:2", &sp, NULL), NB_OK);
	COVERS(nb_spec_free);
	EXPECT_NOOP(nb_spec_free(NULL));
	COVERS(nb_spec_len);
	EXPECT_QUIET(nb_spec_len(NULL), 0);
	COVERS(nb_spec_layer_at);
	EXPECT_QUIET(nb_spec_layer_at(NULL, 0), NULL);
	COVERS(nb_spec_input);
	EXPECT_QUIET(nb_spec_input(NULL), 0);
	COVERS(nb_spec_out_features);
	/* A NULL spec has no layers. */
	EXPECT_QUIET(nb_spec_out_features(NULL, 3), 3);
	COVERS(nb_model_from_spec);
	EXPECT_NULL_EINVAL(nb_model_from_spec(NULL, 3, NULL));
	nb_module *mm = nb_model_from_spec(sp, 3, NULL);
	cr_expect_not_null(mm, "%s", nb_last_error());
	nb_module_free(mm);
	COVERS(nb_model_parse);
	EXPECT_NULL_EINVAL(nb_model_parse(NULL, 3, NULL));
	nb_spec_free(sp);
}

/* ---- checkpoint.h ---- */

Test(null, checkpoint)
{
	nb_safetensors *f = (nb_safetensors *)1;
	COVERS(nb_safetensors_open);
	EXPECT_EINVAL(nb_safetensors_open(NULL, &f));
	cr_expect_null(f);
	EXPECT_EINVAL(nb_safetensors_open(stpath, NULL));
	cr_assert_eq(nb_safetensors_open(stpath, &f), NB_OK, "%s",
	             nb_last_error());
	COVERS(nb_safetensors_close);
	EXPECT_NOOP(nb_safetensors_close(NULL));
	COVERS(nb_safetensors_count);
	EXPECT_QUIET(nb_safetensors_count(NULL), 0);
	COVERS(nb_safetensors_name);
	EXPECT_QUIET(nb_safetensors_name(NULL, 0), NULL);
	COVERS(nb_safetensors_dtype_str);
	EXPECT_QUIET(nb_safetensors_dtype_str(NULL, "weight"), NULL);
	EXPECT_QUIET(nb_safetensors_dtype_str(f, NULL), NULL);
	COVERS(nb_safetensors_info);
	nb_dtype dt;
	int nd;
	int64_t sh[NB_MAX_DIMS];
	EXPECT_EINVAL(nb_safetensors_info(NULL, "weight", &dt, &nd, sh));
	EXPECT_EINVAL(nb_safetensors_info(f, NULL, &dt, &nd, sh));
	EXPECT_EINVAL(nb_safetensors_info(f, "weight", NULL, &nd, sh));
	EXPECT_EINVAL(nb_safetensors_info(f, "weight", &dt, NULL, sh));
	EXPECT_EINVAL(nb_safetensors_info(f, "weight", &dt, &nd, NULL));
	COVERS(nb_safetensors_read);
	EXPECT_NULL_EINVAL(nb_safetensors_read(NULL, "weight"));
	EXPECT_NULL_EINVAL(nb_safetensors_read(f, NULL));
	COVERS(nb_safetensors_meta);
	EXPECT_QUIET(nb_safetensors_meta(NULL, "format"), NULL);
	EXPECT_QUIET(nb_safetensors_meta(f, NULL), NULL);
	nb_safetensors_close(f);

	char out[128];
	snprintf(out, sizeof out, "%s/o.st", tmpdir);
	nb_named_tensor nt = {"w", w, false};
	COVERS(nb_safetensors_check_writable);
	EXPECT_EINVAL(nb_safetensors_check_writable(NULL));
	COVERS(nb_safetensors_save);
	EXPECT_EINVAL(nb_safetensors_save(NULL, &nt, 1, NULL));
	EXPECT_EINVAL(nb_safetensors_save(out, NULL, 1, NULL));
	EXPECT_EINVAL(nb_safetensors_save(out, &(nb_named_tensor){NULL, w,
	                                  false}, 1, NULL));
	EXPECT_EINVAL(nb_safetensors_save(out, &(nb_named_tensor){"w", NULL,
	                                  false}, 1, NULL));
	COVERS(nb_module_save);
	EXPECT_EINVAL(nb_module_save(NULL, out, NULL));
	EXPECT_EINVAL(nb_module_save(m, NULL, NULL));
	COVERS(nb_checkpoint_save);
	EXPECT_EINVAL(nb_checkpoint_save(NULL, m, opt, NULL));
	EXPECT_EINVAL(nb_checkpoint_save(out, NULL, opt, NULL));
	COVERS(nb_optim_load_state);
	EXPECT_EINVAL(nb_optim_load_state(NULL, stpath));
	EXPECT_EINVAL(nb_optim_load_state(opt, NULL));
	COVERS(nb_module_load);
	EXPECT_EINVAL(nb_module_load(NULL, stpath, true, NULL));
	EXPECT_EINVAL(nb_module_load(m, NULL, true, NULL));
	cr_expect_eq(nb_module_load(m, stpath, true, NULL), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(access(out, F_OK), -1, "a failed save wrote %s", out);
}

/* ---- data.h ---- */

Test(null, data)
{
	COVERS(nb_idx_read);
	EXPECT_NULL_EINVAL(nb_idx_read(NULL, NB_F32));
	nb_dataset d;
	COVERS(nb_dataset_fashion_mnist);
	EXPECT_EINVAL(nb_dataset_fashion_mnist(tmpdir, NULL));
	COVERS(nb_dataset_synthetic);
	EXPECT_EINVAL(nb_dataset_synthetic(8, 4, 3, 2, 1, NULL));
	cr_assert_eq(nb_dataset_synthetic(8, 4, 3, 2, 1, &d), NB_OK);
	COVERS(nb_dataset_free);
	EXPECT_NOOP(nb_dataset_free(NULL));
	COVERS(nb_dataset_standardize);
	EXPECT_EINVAL(nb_dataset_standardize(NULL, NULL, NULL));
	cr_expect_eq(nb_dataset_standardize(&d, NULL, NULL), NB_OK);
	nb_dataset empty = {0};
	EXPECT_EINVAL(nb_dataset_standardize(&empty, NULL, NULL));

	int64_t idx[2] = {0, 1};
	nb_tensor *bx, *by;
	COVERS(nb_batch_gather);
	EXPECT_EINVAL(nb_batch_gather(NULL, d.train_x, d.train_y, idx, 2, &bx,
	                              &by));
	EXPECT_EINVAL(nb_batch_gather(g, NULL, d.train_y, idx, 2, &bx, &by));
	EXPECT_EINVAL(nb_batch_gather(g, d.train_x, d.train_y, NULL, 2, &bx,
	                              &by));
	EXPECT_EINVAL(nb_batch_gather(g, d.train_x, d.train_y, idx, 2, NULL,
	                              &by));
	cr_expect_eq(nb_batch_gather(g, d.train_x, NULL, idx, 2, &bx, NULL),
	             NB_OK, "%s", nb_last_error());
	nb_graph_reset(g);
	COVERS(nb_shuffle);
	EXPECT_NOOP(nb_shuffle(NULL, 2, &rng));
	EXPECT_NOOP(nb_shuffle(idx, 2, NULL));
	COVERS(nb_evaluate);
	nb_module *mm = nb_linear_new(NULL, 3, 2, true, NB_F32, &rng);
	double loss, acc;
	EXPECT_EINVAL(nb_evaluate(NULL, g, d.test_x, d.test_y, 2, &loss,
	                          &acc));
	EXPECT_EINVAL(nb_evaluate(mm, NULL, d.test_x, d.test_y, 2, &loss,
	                          &acc));
	EXPECT_EINVAL(nb_evaluate(mm, g, NULL, d.test_y, 2, &loss, &acc));
	EXPECT_EINVAL(nb_evaluate(mm, g, d.test_x, NULL, 2, &loss, &acc));
	cr_expect_eq(nb_evaluate(mm, g, d.test_x, d.test_y, 2, NULL, NULL),
	             NB_OK, "%s", nb_last_error());
	nb_module_free(mm);
	nb_dataset_free(&d);
}

/* ---- dot.h, gradcheck.h ---- */

static void count_cb(const nb_gradcheck_result *r, void *ud)
{
	(void)r;
	(*(int *)ud)++;
}

Test(null, dot_gradcheck)
{
	COVERS(nb_dot_defaults); /* no arguments */
	cr_assert_not_null(nb_relu(g, x));
	FILE *f = fopen("/dev/null", "w");
	cr_assert_not_null(f);
	COVERS(nb_graph_write_dot);
	EXPECT_EINVAL(nb_graph_write_dot(NULL, f, NULL));
	EXPECT_EINVAL(nb_graph_write_dot(g, NULL, NULL));
	cr_expect_eq(nb_graph_write_dot(g, f, NULL), NB_OK);
	fclose(f);
	COVERS(nb_graph_save_dot);
	EXPECT_EINVAL(nb_graph_save_dot(NULL, "/dev/null", NULL));
	EXPECT_EINVAL(nb_graph_save_dot(g, NULL, NULL));

	COVERS(nb_gradcheck_defaults); /* no arguments */
	COVERS(nb_gradcheck_op);
	nb_gradcheck_opts o = nb_gradcheck_defaults();
	int failed = 0, calls = 0;
	EXPECT_EINVAL(nb_gradcheck_op(NULL, &o, count_cb, &calls, &failed));
	/* o NULL: the defaults; cb NULL: no callback; n_failed NULL: not
	 * counted. */
	cr_expect_eq(nb_gradcheck_op(relu, NULL, count_cb, &calls, &failed),
	             NB_OK, "%s", nb_last_error());
	cr_expect_gt(calls, 0);
	cr_expect_eq(nb_gradcheck_op(relu, &o, NULL, NULL, &failed), NB_OK);
	cr_expect_eq(nb_gradcheck_op(relu, &o, count_cb, &calls, NULL), NB_OK);
	cr_expect_eq(failed, 0);
}

/* ---- optim.h ---- */

Test(null, optim)
{
	nb_tensor *ps[1] = {w};
	COVERS(nb_sgd_defaults); /* no arguments */
	COVERS(nb_adam_defaults);
	COVERS(nb_adamw_defaults);
	COVERS(nb_rmsprop_defaults);
	COVERS(nb_optim_sgd);
	EXPECT_NULL_EINVAL(nb_optim_sgd(NULL, 1, NULL));
	EXPECT_NULL_EINVAL(nb_optim_sgd((nb_tensor *[]){NULL}, 1, NULL));
	COVERS(nb_optim_adam);
	EXPECT_NULL_EINVAL(nb_optim_adam(NULL, 1, NULL));
	EXPECT_NULL_EINVAL(nb_optim_adam((nb_tensor *[]){NULL}, 1, NULL));
	COVERS(nb_optim_adamw);
	EXPECT_NULL_EINVAL(nb_optim_adamw(NULL, 1, NULL));
	EXPECT_NULL_EINVAL(nb_optim_adamw((nb_tensor *[]){NULL}, 1, NULL));
	COVERS(nb_optim_rmsprop);
	EXPECT_NULL_EINVAL(nb_optim_rmsprop(NULL, 1, NULL));
	EXPECT_NULL_EINVAL(nb_optim_rmsprop((nb_tensor *[]){NULL}, 1, NULL));
	nb_optim *o = nb_optim_adam(ps, 1, NULL); /* NULL opts: defaults */
	cr_assert_not_null(o, "%s", nb_last_error());
	COVERS(nb_optim_free);
	EXPECT_NOOP(nb_optim_free(NULL));
	COVERS(nb_optim_name);
	arm();
	cr_expect_str_eq(nb_optim_name(NULL), "?");
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_optim_param_count);
	EXPECT_QUIET(nb_optim_param_count(NULL), 0);
	COVERS(nb_optim_param);
	EXPECT_QUIET(nb_optim_param(NULL, 0), NULL);
	COVERS(nb_optim_step);
	EXPECT_EINVAL(nb_optim_step(NULL));
	COVERS(nb_optim_zero_grad);
	EXPECT_NOOP(nb_optim_zero_grad(NULL, true));
	COVERS(nb_optim_get_lr);
	arm();
	cr_expect(isnan(nb_optim_get_lr(NULL)));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_optim_set_lr);
	EXPECT_EINVAL(nb_optim_set_lr(NULL, 0.1));
	COVERS(nb_optim_step_count);
	EXPECT_QUIET(nb_optim_step_count(NULL), 0);
	COVERS(nb_optim_state_count);
	EXPECT_QUIET(nb_optim_state_count(NULL), 0);
	COVERS(nb_optim_state_at);
	const char *name = "x";
	EXPECT_QUIET(nb_optim_state_at(NULL, 0, &name), NULL);
	cr_expect_null(name);
	cr_expect_not_null(nb_optim_state_at(o, 0, NULL));
	COVERS(nb_optim_state_find);
	EXPECT_QUIET(nb_optim_state_find(NULL, "step"), NULL);
	EXPECT_QUIET(nb_optim_state_find(o, NULL), NULL);

	COVERS(nb_sched_step_lr);
	EXPECT_NULL_EINVAL(nb_sched_step_lr(NULL, 1, 0.5));
	COVERS(nb_sched_exponential_lr);
	EXPECT_NULL_EINVAL(nb_sched_exponential_lr(NULL, 0.5));
	COVERS(nb_sched_cosine_lr);
	EXPECT_NULL_EINVAL(nb_sched_cosine_lr(NULL, 10, 0));
	COVERS(nb_sched_free);
	EXPECT_NOOP(nb_sched_free(NULL));
	COVERS(nb_sched_step);
	EXPECT_EINVAL(nb_sched_step(NULL));
	COVERS(nb_sched_epoch);
	EXPECT_QUIET(nb_sched_epoch(NULL), -1);
	COVERS(nb_sched_lr_at);
	arm();
	cr_expect(isnan(nb_sched_lr_at(NULL, 0)));
	COVERS(nb_sched_base_lr);
	cr_expect(isnan(nb_sched_base_lr(NULL)));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_sched_set_epoch);
	EXPECT_EINVAL(nb_sched_set_epoch(NULL, 1));
	nb_optim_free(o);
}

/* ---- index.h: indexing and comparisons (issue 15) ---- */

Test(null, index)
{
	nb_tensor *ix = nb_tensor_zeros(NB_I64, NB_SHAPE(2, 3));
	nb_tensor *row = nb_tensor_zeros(NB_I64, NB_SHAPE(2));
	nb_tensor *mask = nb_tensor_zeros(NB_BOOL, NB_SHAPE(2, 3));
	cr_assert(ix && row && mask);
	COVERS(nb_index_select);
	EXPECT_NULL_EINVAL(nb_index_select(NULL, x, 0, row));
	EXPECT_ON_GRAPH(nb_index_select(g, NULL, 0, row));
	EXPECT_ON_GRAPH(nb_index_select(g, x, 0, NULL));
	EXPECT_OK(nb_index_select(g, x, 0, row));
	COVERS(nb_gather);
	EXPECT_NULL_EINVAL(nb_gather(NULL, x, 1, ix));
	EXPECT_ON_GRAPH(nb_gather(g, NULL, 1, ix));
	EXPECT_ON_GRAPH(nb_gather(g, x, 1, NULL));
	EXPECT_OK(nb_gather(g, x, 1, ix));
	COVERS(nb_scatter_add);
	EXPECT_NULL_EINVAL(nb_scatter_add(NULL, x, 1, ix, x));
	EXPECT_ON_GRAPH(nb_scatter_add(g, NULL, 1, ix, x));
	EXPECT_ON_GRAPH(nb_scatter_add(g, x, 1, NULL, x));
	EXPECT_ON_GRAPH(nb_scatter_add(g, x, 1, ix, NULL));
	EXPECT_OK(nb_scatter_add(g, x, 1, ix, x));
	COVERS(nb_embedding);
	EXPECT_NULL_EINVAL(nb_embedding(NULL, ix, w, NAN));
	EXPECT_ON_GRAPH(nb_embedding(g, NULL, w, NAN));
	EXPECT_ON_GRAPH(nb_embedding(g, ix, NULL, NAN));
	EXPECT_OK(nb_embedding(g, ix, w, NAN));
	COVERS(nb_one_hot);
	EXPECT_NULL_EINVAL(nb_one_hot(NULL, ix, 3));
	EXPECT_ON_GRAPH(nb_one_hot(g, NULL, 3));
	EXPECT_OK(nb_one_hot(g, ix, 3));
	COVERS(nb_where);
	EXPECT_NULL_EINVAL(nb_where(NULL, mask, x, x));
	EXPECT_ON_GRAPH(nb_where(g, NULL, x, x));
	EXPECT_ON_GRAPH(nb_where(g, mask, NULL, x));
	EXPECT_ON_GRAPH(nb_where(g, mask, x, NULL));
	EXPECT_OK(nb_where(g, mask, x, x));
	COVERS(nb_masked_fill);
	EXPECT_NULL_EINVAL(nb_masked_fill(NULL, x, mask, -INFINITY));
	EXPECT_ON_GRAPH(nb_masked_fill(g, NULL, mask, -INFINITY));
	EXPECT_ON_GRAPH(nb_masked_fill(g, x, NULL, -INFINITY));
	EXPECT_OK(nb_masked_fill(g, x, mask, -INFINITY));
	BINARY(nb_eq, x, x);
	BINARY(nb_ne, x, x);
	BINARY(nb_lt, x, x);
	BINARY(nb_le, x, x);
	BINARY(nb_gt, x, x);
	BINARY(nb_ge, x, x);
	BINARY(nb_logical_and, x, x);
	BINARY(nb_logical_or, x, x);
	UNARY(nb_logical_not);
	UNARY(nb_isnan);
	UNARY(nb_isfinite);
	nb_tensor_free(ix);
	nb_tensor_free(row);
	nb_tensor_free(mask);
}

Test(null, plugins)
{
	COVERS(nb_plugin_load);
	EXPECT_EINVAL(nb_plugin_load(NULL));
	EXPECT_EINVAL(nb_plugin_load(""));
}

/* ---- reductions (issue 15): reduce.h ---- */

Test(null, reduce)
{
	const int ax[] = {1};
	UNARY(nb_min, , 0, NULL, false);
	UNARY(nb_prod, , 1, ax, false);
	UNARY(nb_var, , 0, NULL, 1, false);
	UNARY(nb_std, , 1, ax, 0, true);
	UNARY(nb_logsumexp, , 0, NULL, false);
	UNARY(nb_norm, , 2.0, 0, NULL, false);
	EXPECT_ON_GRAPH(nb_min(g, x, 1, NULL, false));
	EXPECT_ON_GRAPH(nb_prod(g, x, 1, NULL, false));
	EXPECT_ON_GRAPH(nb_var(g, x, 1, NULL, 1, false));
	EXPECT_ON_GRAPH(nb_std(g, x, 1, NULL, 1, false));
	EXPECT_ON_GRAPH(nb_logsumexp(g, x, 1, NULL, false));
	EXPECT_ON_GRAPH(nb_norm(g, x, 2.0, 1, NULL, false));
	UNARY(nb_argmax, , 0, false, false);
	UNARY(nb_argmin, , 1, true, true);
	UNARY(nb_cumsum, , 0);
	nb_tensor *idx = NULL;
	UNARY(nb_topk, , 2, -1, true, true, &idx);
	EXPECT_OK(nb_topk(g, x, 1, 0, false, false, NULL)); /* no indices */
}

/* ---- shape.h (issue 15: shape and joining) ---- */

Test(null, shape)
{
	const int64_t one[] = {1}, two[] = {1, 1}, sz[] = {2, 3};
	UNARY(nb_squeeze, , 0, NULL);
	EXPECT_ON_GRAPH(nb_squeeze(g, x, 1, NULL));
	UNARY(nb_unsqueeze, , 0);
	UNARY(nb_flatten, , 0, -1);
	UNARY(nb_expand, , 2, sz);
	EXPECT_ON_GRAPH(nb_expand(g, x, 2, NULL));
	UNARY(nb_slice, , 0, 0, 1, 1);
	UNARY(nb_select, , 0, 1);
	UNARY(nb_flip, , 1, one);
	EXPECT_ON_GRAPH(nb_flip(g, x, 1, NULL));
	UNARY(nb_repeat, , 2, two);
	EXPECT_ON_GRAPH(nb_repeat(g, x, 2, NULL));
	UNARY(nb_pad, , 2, two, NB_PAD_CONSTANT, 0.0);
	EXPECT_ON_GRAPH(nb_pad(g, x, 2, NULL, NB_PAD_CONSTANT, 0.0));
	UNARY(nb_tril, , 0);
	UNARY(nb_triu, , 0);
	nb_tensor *xs[] = {x, x}, *nulls[] = {x, NULL};
	COVERS(nb_cat);
	EXPECT_NULL_EINVAL(nb_cat(NULL, 2, xs, 0));
	EXPECT_ON_GRAPH(nb_cat(g, 2, NULL, 0));
	EXPECT_ON_GRAPH(nb_cat(g, 2, nulls, 0));
	EXPECT_OK(nb_cat(g, 2, xs, 0));
	COVERS(nb_stack);
	EXPECT_NULL_EINVAL(nb_stack(NULL, 2, xs, 0));
	EXPECT_ON_GRAPH(nb_stack(g, 2, nulls, 0));
	EXPECT_OK(nb_stack(g, 2, xs, 0));
	nb_tensor *outs[2];
	COVERS(nb_split);
	arm();
	cr_expect_eq(nb_split(NULL, x, 1, one, 0, outs, 2), -1);
	expect_null_msg("nb_split(NULL, ...)");
	nb_graph_reset(g);
	cr_expect_eq(nb_split(g, NULL, 1, one, 0, outs, 2), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_reset(g);
	cr_expect_eq(nb_split(g, x, 1, NULL, 0, outs, 2), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_reset(g);
	cr_expect_eq(nb_split(g, x, 1, one, 0, outs, 2), 2);
	nb_graph_reset(g);
	COVERS(nb_chunk);
	arm();
	cr_expect_eq(nb_chunk(NULL, x, 2, 0, outs, 2), -1);
	expect_null_msg("nb_chunk(NULL, ...)");
	nb_graph_reset(g);
	cr_expect_eq(nb_chunk(g, NULL, 2, 0, outs, 2), -1);
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_graph_reset(g);
	cr_expect_eq(nb_chunk(g, x, 2, 0, outs, 2), 2);
	nb_graph_reset(g);
}

/* ---- conv.h, norm.h: issue 15 ---- */

Test(null, conv_norm_issue15)
{
	nb_tensor *x3 = nb_tensor_ones(NB_F32, NB_SHAPE(1, 2, 5));
	nb_tensor *w3 = nb_tensor_ones(NB_F32, NB_SHAPE(3, 2, 2));
	nb_tensor *tw = nb_tensor_ones(NB_F32, NB_SHAPE(2, 3, 3, 3));
	nb_tensor *cb = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_conv1d_opts c1 = NB_CONV1D_DEFAULTS;
	COVERS(nb_conv1d);
	EXPECT_NULL_EINVAL(nb_conv1d(NULL, x3, w3, cb, &c1));
	EXPECT_ON_GRAPH(nb_conv1d(g, NULL, w3, cb, &c1));
	EXPECT_ON_GRAPH(nb_conv1d(g, x3, NULL, cb, &c1));
	EXPECT_OK(nb_conv1d(g, x3, w3, NULL, &c1));
	EXPECT_OK(nb_conv1d(g, x3, w3, cb, NULL));
	nb_conv_transpose2d_opts ct = NB_CONV_TRANSPOSE2D_DEFAULTS;
	COVERS(nb_conv_transpose2d);
	EXPECT_NULL_EINVAL(nb_conv_transpose2d(NULL, img, tw, cb, &ct));
	EXPECT_ON_GRAPH(nb_conv_transpose2d(g, NULL, tw, cb, &ct));
	EXPECT_ON_GRAPH(nb_conv_transpose2d(g, img, NULL, cb, &ct));
	EXPECT_OK(nb_conv_transpose2d(g, img, tw, NULL, &ct));
	EXPECT_OK(nb_conv_transpose2d(g, img, tw, cb, NULL));
	COVERS(nb_adaptive_avg_pool2d);
	EXPECT_NULL_EINVAL(nb_adaptive_avg_pool2d(NULL, img, 2, 3));
	EXPECT_ON_GRAPH(nb_adaptive_avg_pool2d(g, NULL, 2, 3));
	EXPECT_OK(nb_adaptive_avg_pool2d(g, img, 2, 3));
	COVERS(nb_upsample_nearest2d);
	EXPECT_NULL_EINVAL(nb_upsample_nearest2d(NULL, img, 0, 0, 2.0));
	EXPECT_ON_GRAPH(nb_upsample_nearest2d(g, NULL, 0, 0, 2.0));
	EXPECT_OK(nb_upsample_nearest2d(g, img, 5, 6, NAN));
	UNARY(nb_dropout2d, , 0.5);
	COVERS(nb_rms_norm);
	const int64_t ns[1] = {4};
	nb_tensor *rw = nb_tensor_ones(NB_F32, NB_SHAPE(4));
	EXPECT_NULL_EINVAL(nb_rms_norm(NULL, img, 1, ns, rw, NAN));
	EXPECT_ON_GRAPH(nb_rms_norm(g, NULL, 1, ns, rw, NAN));
	EXPECT_ON_GRAPH(nb_rms_norm(g, img, 1, NULL, rw, NAN));
	EXPECT_OK(nb_rms_norm(g, img, 0, NULL, NULL, 1e-6));
	nb_tensor *frees[] = {x3, w3, tw, cb, rw};
	for (int i = 0; i < 5; i++)
		nb_tensor_free(frees[i]);
}

/* ---- loss.h (issue 15) ---- */

/* A loss wrapper fn(g, a, b2, extra...): NULL graph, NULL input, NULL
 * target, and a valid call. */
#define LOSS2(fn, a, b2, ...) do { \
	EXPECT_NULL_EINVAL(fn(NULL, a, b2, __VA_ARGS__)); \
	EXPECT_ON_GRAPH(fn(g, NULL, b2, __VA_ARGS__)); \
	EXPECT_ON_GRAPH(fn(g, a, NULL, __VA_ARGS__)); \
	EXPECT_OK(fn(g, a, b2, __VA_ARGS__)); \
} while (0)

Test(null, loss)
{
	nb_tensor *p = nb_tensor_full(NB_F32, NB_SHAPE(2, 3), 0.25);
	cr_assert_not_null(p);
	COVERS(nb_mse_loss);
	LOSS2(nb_mse_loss, x, x, NB_REDUCTION_MEAN);
	COVERS(nb_cross_entropy);
	LOSS2(nb_cross_entropy, x, labels, NULL, -100, NB_REDUCTION_MEAN, 0);
	COVERS(nb_nll_loss);
	LOSS2(nb_nll_loss, x, labels, NULL, -100, NB_REDUCTION_SUM);
	COVERS(nb_binary_cross_entropy);
	LOSS2(nb_binary_cross_entropy, p, p, NULL, NB_REDUCTION_NONE);
	COVERS(nb_binary_cross_entropy_with_logits);
	LOSS2(nb_binary_cross_entropy_with_logits, x, p, NULL, NULL,
	      NB_REDUCTION_MEAN);
	COVERS(nb_l1_loss);
	LOSS2(nb_l1_loss, x, x, NB_REDUCTION_MEAN);
	COVERS(nb_smooth_l1_loss);
	LOSS2(nb_smooth_l1_loss, x, x, NB_REDUCTION_MEAN, 1.0);
	COVERS(nb_huber_loss);
	LOSS2(nb_huber_loss, x, x, NB_REDUCTION_MEAN, 1.0);
	COVERS(nb_kl_div);
	LOSS2(nb_kl_div, x, p, NB_REDUCTION_BATCHMEAN, false);
	COVERS(nb_cosine_similarity);
	LOSS2(nb_cosine_similarity, x, x, 1, 1e-8);
	/* the optional inputs given */
	nb_tensor *cw = nb_tensor_full(NB_F32, NB_SHAPE(3), 2);
	EXPECT_OK(nb_cross_entropy(g, x, labels, cw, -100, NB_REDUCTION_MEAN,
	                           0.1));
	EXPECT_OK(nb_nll_loss(g, x, labels, cw, -100, NB_REDUCTION_MEAN));
	EXPECT_OK(nb_binary_cross_entropy(g, p, p, cw, NB_REDUCTION_MEAN));
	EXPECT_OK(nb_binary_cross_entropy_with_logits(g, x, p, cw, cw,
	                                              NB_REDUCTION_SUM));
	nb_tensor_free(cw);
	nb_tensor_free(p);
}

/* ---- parameter groups and schedules (issue 16) ---- */

Test(null, optim_groups_and_schedules)
{
	nb_tensor *ps[1] = {w};
	COVERS(nb_group_defaults); /* no arguments */
	COVERS(nb_onecycle_defaults);
	COVERS(nb_plateau_defaults);
	COVERS(nb_module_add_param_kind);
	EXPECT_EINVAL(nb_module_add_param_kind(NULL, "p", nb_tensor_zeros(
	              NB_F32, NB_SHAPE(2)), NB_PARAM_BIAS));
	EXPECT_EINVAL(nb_module_add_param_kind(m, NULL, nb_tensor_zeros(
	              NB_F32, NB_SHAPE(2)), NB_PARAM_BIAS));
	EXPECT_EINVAL(nb_module_add_param_kind(m, "p", NULL, NB_PARAM_BIAS));
	COVERS(nb_module_param_kind);
	EXPECT_QUIET(nb_module_param_kind(NULL, w), NB_PARAM_UNKNOWN);
	EXPECT_QUIET(nb_module_param_kind(m, NULL), NB_PARAM_UNKNOWN);
	COVERS(nb_param_decays);
	EXPECT_QUIET(nb_param_decays(NB_PARAM_WEIGHT, NULL), false);
	COVERS(nb_optim_adamw_no_decay);
	EXPECT_NULL_EINVAL(nb_optim_adamw_no_decay(NULL, NULL));
	nb_optim *o = nb_optim_sgd(ps, 1, NULL);
	cr_assert_not_null(o, "%s", nb_last_error());
	COVERS(nb_optim_add_group);
	EXPECT_EINVAL(nb_optim_add_group(NULL, ps, 1, NULL));
	EXPECT_EINVAL(nb_optim_add_group(o, NULL, 1, NULL));
	EXPECT_EINVAL(nb_optim_add_group(o, (nb_tensor *[]){NULL}, 1, NULL));
	COVERS(nb_optim_group_count);
	EXPECT_QUIET(nb_optim_group_count(NULL), 0);
	COVERS(nb_optim_group);
	EXPECT_EINVAL(nb_optim_group(NULL, 0, NULL, NULL, NULL));
	cr_expect_eq(nb_optim_group(o, 0, NULL, NULL, NULL), NB_OK);
	COVERS(nb_optim_group_lr);
	arm();
	cr_expect(isnan(nb_optim_group_lr(NULL, 0)));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	COVERS(nb_optim_set_group_lr);
	EXPECT_EINVAL(nb_optim_set_group_lr(NULL, 0, 0.1));
	COVERS(nb_sched_linear_lr);
	EXPECT_NULL_EINVAL(nb_sched_linear_lr(NULL, 0.5, 1, 5));
	COVERS(nb_sched_lambda_lr);
	EXPECT_NULL_EINVAL(nb_sched_lambda_lr(NULL, NULL, NULL));
	EXPECT_NULL_EINVAL(nb_sched_lambda_lr(o, NULL, NULL));
	COVERS(nb_sched_onecycle_lr);
	EXPECT_NULL_EINVAL(nb_sched_onecycle_lr(NULL, NULL));
	EXPECT_NULL_EINVAL(nb_sched_onecycle_lr(o, NULL));
	COVERS(nb_sched_plateau);
	EXPECT_NULL_EINVAL(nb_sched_plateau(NULL, NULL));
	COVERS(nb_sched_sequential);
	EXPECT_NULL_EINVAL(nb_sched_sequential(NULL, NULL, 0, NULL));
	EXPECT_NULL_EINVAL(nb_sched_sequential(o, NULL, 1, NULL));
	COVERS(nb_sched_step_metric);
	EXPECT_EINVAL(nb_sched_step_metric(NULL, 1.0));
	nb_sched *s = nb_sched_plateau(o, NULL); /* NULL opts: defaults */
	cr_expect_not_null(s, "%s", nb_last_error());
	cr_expect_eq(nb_sched_step_metric(s, 1.0), NB_OK);
	nb_sched_free(s);
	nb_optim_free(o);
}

/* ---- dist.h (issue 19) ---- */

Test(null, dist)
{
	/* No pointer argument, or NULL allowed (argc, argv); nb_dist_init
	 * and nb_dist_abort start or end MPI: tests/test_dist.sh runs
	 * them under mpirun. */
	COVERS(nb_dist_available);
	COVERS(nb_dist_shard_len);
	COVERS(nb_dist_init);
	COVERS(nb_dist_abort);
	COVERS(nb_dist_adopt);
	EXPECT_NULL_EINVAL(nb_dist_adopt(NULL));
	COVERS(nb_dist_free);
	EXPECT_NOOP(nb_dist_free(NULL));
	COVERS(nb_dist_rank);
	EXPECT_QUIET(nb_dist_rank(NULL), -1);
	COVERS(nb_dist_size);
	EXPECT_QUIET(nb_dist_size(NULL), 0);
	COVERS(nb_dist_broadcast_module);
	EXPECT_EINVAL(nb_dist_broadcast_module(NULL, m));
	COVERS(nb_dist_allreduce);
	double v = 1;
	EXPECT_EINVAL(nb_dist_allreduce(NULL, &v, 1, NB_DIST_SUM));
	COVERS(nb_dist_share_status);
	EXPECT_EINVAL(nb_dist_share_status(NULL, NB_OK));
	COVERS(nb_dist_checkpoint_save);
	EXPECT_EINVAL(nb_dist_checkpoint_save(NULL, "x", m, NULL, NULL));
	COVERS(nb_ddp_new);
	EXPECT_NULL_EINVAL(nb_ddp_new(NULL, m, NULL));
	COVERS(nb_ddp_free);
	EXPECT_NOOP(nb_ddp_free(NULL));
	COVERS(nb_ddp_backward);
	EXPECT_EINVAL(nb_ddp_backward(NULL, NULL, NULL));
	COVERS(nb_ddp_finish);
	EXPECT_EINVAL(nb_ddp_finish(NULL));
	COVERS(nb_ddp_set_no_sync);
	EXPECT_NOOP(nb_ddp_set_no_sync(NULL, true));
	COVERS(nb_ddp_stats_get);
	EXPECT_QUIET(nb_ddp_stats_get(NULL).buckets, 0);
	COVERS(nb_dist_shard);
	EXPECT_EINVAL(nb_dist_shard(10, 1, 0, 0, 2, 0, NULL, 5));
	/* i19-dist: step agreement, rank seeds, sync_batch_norm */
	COVERS(nb_ddp_set_optim);
	EXPECT_NOOP(nb_ddp_set_optim(NULL, NULL));
	COVERS(nb_ddp_barrier);
	EXPECT_EINVAL(nb_ddp_barrier(NULL));
	COVERS(nb_dist_rank_seed);
	COVERS(nb_sync_batch_norm_convert);
	EXPECT_EINVAL(nb_sync_batch_norm_convert(NULL, NULL, NULL));
	COVERS(nb_sync_batch_norm_new); /* NULL d: plain batch_norm */
	COVERS(nb_zero_new);
	EXPECT_NULL_EINVAL(nb_zero_new(NULL, m, NULL, true));
	COVERS(nb_zero_free);
	EXPECT_NOOP(nb_zero_free(NULL));
	COVERS(nb_zero_step);
	EXPECT_EINVAL(nb_zero_step(NULL));
	COVERS(nb_zero_optim);
	EXPECT_QUIET(nb_zero_optim(NULL), NULL);
	COVERS(nb_zero_shard_numel);
	EXPECT_QUIET(nb_zero_shard_numel(NULL), 0);
}

/* text corpus and sampling (issue 18) */
Test(null, text)
{
	COVERS(nb_text_load);
	EXPECT_NULL_EINVAL(nb_text_load(NULL, 0.1));
	COVERS(nb_text_from_bytes);
	EXPECT_NULL_EINVAL(nb_text_from_bytes(NULL, 3, 0.1));
	COVERS(nb_text_from_vocab_hex);
	EXPECT_NULL_EINVAL(nb_text_from_vocab_hex(NULL));
	COVERS(nb_text_free);
	EXPECT_NOOP(nb_text_free(NULL));
	COVERS(nb_text_vocab_size);
	EXPECT_QUIET(nb_text_vocab_size(NULL), 0);
	COVERS(nb_text_id);
	EXPECT_QUIET(nb_text_id(NULL, 'a'), -1);
	COVERS(nb_text_byte);
	EXPECT_QUIET(nb_text_byte(NULL, 0), 0);
	COVERS(nb_text_vocab_hex);
	EXPECT_QUIET(nb_text_vocab_hex(NULL, NULL, 0), 0);
	COVERS(nb_text_len);
	EXPECT_QUIET(nb_text_len(NULL, NB_TEXT_TRAIN), 0);
	COVERS(nb_text_ids);
	EXPECT_QUIET(nb_text_ids(NULL, NB_TEXT_TRAIN), NULL);
	COVERS(nb_text_windows);
	EXPECT_QUIET(nb_text_windows(NULL, NB_TEXT_TRAIN, 1, 1), 0);
	COVERS(nb_text_window);
	nb_tensor *x, *y;
	EXPECT_EINVAL(nb_text_window(NULL, NULL, NB_TEXT_TRAIN, 1, 1, 0, &x,
	                             &y));
	COVERS(nb_sample_categorical);
	nb_rng r;
	nb_rng_seed(&r, 0);
	arm();
	cr_expect_eq(nb_sample_categorical(NULL, 1, 0, &r), -1);
	expect_null_msg("nb_sample_categorical(NULL, ...)");
}

/* ---- your own data: .npy, .npz, CSV (issue 16) ---- */
Test(null, arrays)
{
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	nb_dataset d;
	COVERS(nb_npy_load);
	EXPECT_NULL_EINVAL(nb_npy_load(NULL));
	COVERS(nb_npy_save);
	EXPECT_EINVAL(nb_npy_save(NULL, t));
	EXPECT_EINVAL(nb_npy_save("x.npy", NULL));
	COVERS(nb_npz_open);
	nb_npz *z = NULL;
	EXPECT_EINVAL(nb_npz_open(NULL, &z));
	EXPECT_EINVAL(nb_npz_open("x.npz", NULL));
	COVERS(nb_npz_close);
	EXPECT_NOOP(nb_npz_close(NULL));
	COVERS(nb_npz_count);
	EXPECT_QUIET(nb_npz_count(NULL), 0);
	COVERS(nb_npz_name);
	EXPECT_QUIET(nb_npz_name(NULL, 0), NULL);
	COVERS(nb_npz_read);
	EXPECT_NULL_EINVAL(nb_npz_read(NULL, "x"));
	COVERS(nb_npz_save);
	EXPECT_EINVAL(nb_npz_save(NULL, NULL, NULL, 0, false));
	EXPECT_EINVAL(nb_npz_save("x.npz", NULL, NULL, 1, false));
	COVERS(nb_csv_load);
	EXPECT_NULL_EINVAL(nb_csv_load(NULL, NB_F32, NULL));
	COVERS(nb_csv_columns_free);
	EXPECT_NOOP(nb_csv_columns_free(NULL));
	COVERS(nb_dataset_from_arrays);
	EXPECT_EINVAL(nb_dataset_from_arrays(NULL, "f", t, t, NULL, NULL,
	                                     NB_TARGETS_AUTO, 0.5, 0));
	EXPECT_EINVAL(nb_dataset_from_arrays(&d, "f", NULL, t, NULL, NULL,
	                                     NB_TARGETS_AUTO, 0.5, 0));
	EXPECT_EINVAL(nb_dataset_from_arrays(&d, "f", t, NULL, NULL, NULL,
	                                     NB_TARGETS_AUTO, 0.5, 0));
	COVERS(nb_dataset_load);
	EXPECT_EINVAL(nb_dataset_load(NULL, "x.npz", NULL, NB_TARGETS_AUTO,
	                              0.1, 0));
	EXPECT_EINVAL(nb_dataset_load(&d, NULL, NULL, NB_TARGETS_AUTO, 0.1, 0));
	nb_tensor_free(t);
}

/* ---- attention and transformer layers (issue 18) ---- */
Test(null, attention)
{
	COVERS(nb_scaled_dot_product_attention);
	EXPECT_NULL_EINVAL(nb_scaled_dot_product_attention(NULL, x, x, x, NULL,
	                                                   NULL, false, 0, 0, 1));
	EXPECT_ON_GRAPH(nb_scaled_dot_product_attention(g, NULL, x, x, NULL,
	                                                NULL, false, 0, 0, 1));
	EXPECT_OK(nb_scaled_dot_product_attention(g, x, x, x, NULL, NULL,
	                                          false, 0, 0, 1));
	COVERS(nb_scaled_dot_product_attention_packed);
	EXPECT_NULL_EINVAL(nb_scaled_dot_product_attention_packed(NULL, x, NULL,
	                   NULL, false, 0, 0, 1));
	EXPECT_ON_GRAPH(nb_scaled_dot_product_attention_packed(g, NULL, NULL,
	                NULL, false, 0, 0, 1));
	EXPECT_OK(nb_scaled_dot_product_attention_packed(g, x, NULL, NULL,
	          false, 0, 0, 1)); /* x [2, 3]: q, k, v of one column */
	/* a NULL rng where one is needed */
	COVERS(nb_embedding_new);
	EXPECT_NULL_EINVAL(nb_embedding_new("e", 5, 3, NB_NO_PADDING, NB_F32,
	                                    NULL));
	COVERS(nb_sinusoidal_positions_new);
	EXPECT_NULL_EINVAL(nb_sinusoidal_positions_new("p", 0, 3, NB_F32));
	COVERS(nb_learned_positions_new);
	EXPECT_NULL_EINVAL(nb_learned_positions_new("p", 5, 3, NB_F32, NULL));
	COVERS(nb_multi_head_attention_new);
	EXPECT_NULL_EINVAL(nb_multi_head_attention_new("a", 4, 2, NULL, NB_F32,
	                                               NULL));
	COVERS(nb_transformer_encoder_layer_new);
	EXPECT_NULL_EINVAL(nb_transformer_encoder_layer_new("t", 4, 2, NULL,
	                                                    NB_F32, NULL));
}

/* ---- recurrent.h (issue 18, i18-rnn) ---- */

Test(null, recurrent)
{
	/* cells: x [2, 3], h [2, 4] (also c), weights [G*4, 3] and [G*4, 4] */
	nb_tensor *h = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 4));
	nb_tensor *wi = nb_tensor_zeros(NB_F32, NB_SHAPE(16, 3));
	nb_tensor *wh = nb_tensor_zeros(NB_F32, NB_SHAPE(16, 4));
	nb_tensor *gx = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 16));
	cr_assert(h && wi && wh && gx);
	nb_tensor *c = h;
	COVERS(nb_rnn_cell);
	EXPECT_NULL_EINVAL(nb_rnn_cell(NULL, x, h, wi, wh, NULL, NULL, false));
	EXPECT_ON_GRAPH(nb_rnn_cell(g, NULL, h, wi, wh, NULL, NULL, false));
	COVERS(nb_lstm_cell);
	EXPECT_NULL_EINVAL(nb_lstm_cell(NULL, x, h, c, wi, wh, NULL, NULL,
	                                NULL));
	EXPECT_ON_GRAPH(nb_lstm_cell(g, x, h, NULL, wi, wh, NULL, NULL, NULL));
	EXPECT_OK(nb_lstm_cell(g, x, h, c, wi, wh, NULL, NULL, NULL));
	COVERS(nb_gru_cell);
	EXPECT_NULL_EINVAL(nb_gru_cell(NULL, x, h, wi, wh, NULL, NULL));
	EXPECT_ON_GRAPH(nb_gru_cell(g, x, NULL, wi, wh, NULL, NULL));
	COVERS(nb_rnn_step);
	EXPECT_NULL_EINVAL(nb_rnn_step(NULL, gx, h, wh, NULL, false));
	EXPECT_ON_GRAPH(nb_rnn_step(g, gx, h, NULL, NULL, false));
	COVERS(nb_lstm_step);
	EXPECT_NULL_EINVAL(nb_lstm_step(NULL, gx, h, c, wh, NULL, NULL));
	EXPECT_ON_GRAPH(nb_lstm_step(g, NULL, h, c, wh, NULL, NULL));
	EXPECT_OK(nb_lstm_step(g, gx, h, c, wh, NULL, NULL));
	COVERS(nb_gru_step);
	EXPECT_NULL_EINVAL(nb_gru_step(NULL, gx, h, wh, NULL));
	EXPECT_ON_GRAPH(nb_gru_step(g, gx, NULL, wh, NULL));
	nb_tensor *gs = nb_tensor_zeros(NB_F32, NB_SHAPE(3, 2, 16));
	cr_assert_not_null(gs);
	COVERS(nb_rnn_seq);
	EXPECT_NULL_EINVAL(nb_rnn_seq(NULL, gs, h, wh, NULL, false, false,
	                              NULL));
	EXPECT_ON_GRAPH(nb_rnn_seq(g, gs, NULL, wh, NULL, false, false, NULL));
	COVERS(nb_lstm_seq);
	EXPECT_NULL_EINVAL(nb_lstm_seq(NULL, gs, h, c, wh, NULL, false, NULL,
	                               NULL));
	EXPECT_ON_GRAPH(nb_lstm_seq(g, gs, h, NULL, wh, NULL, false, NULL,
	                            NULL));
	EXPECT_OK(nb_lstm_seq(g, gs, h, c, wh, NULL, true, NULL, NULL));
	COVERS(nb_gru_seq);
	EXPECT_NULL_EINVAL(nb_gru_seq(NULL, gs, h, wh, NULL, false, NULL));
	EXPECT_ON_GRAPH(nb_gru_seq(g, NULL, h, wh, NULL, false, NULL));
	nb_tensor_free(gs);
	/* layers: NULL rng is NB_EINVAL, NULL name and options allowed */
	COVERS(nb_rnn_new);
	EXPECT_NULL_EINVAL(nb_rnn_new("r", 3, 4, NULL, NB_F32, NULL));
	COVERS(nb_lstm_new);
	EXPECT_NULL_EINVAL(nb_lstm_new("l", 3, 4, NULL, NB_F32, NULL));
	COVERS(nb_gru_new);
	EXPECT_NULL_EINVAL(nb_gru_new("g", 3, 4, NULL, NB_F32, NULL));
	nb_module *l = nb_lstm_new(NULL, 3, 4, NULL, NB_F32, &rng);
	cr_expect_not_null(l, "%s", nb_last_error());
	nb_module_free(l);
	nb_tensor_free(h);
	nb_tensor_free(wi);
	nb_tensor_free(wh);
	nb_tensor_free(gx);
}

/* ---- issue 16 blocks: containers and the layer table ---- */
Test(null, containers_and_layer_table)
{
	COVERS(nb_residual_new);
	nb_module *r = nb_residual_new(NULL); /* a root may have no name */
	cr_expect_not_null(r);
	nb_module_free(r);
	COVERS(nb_residual_set_projection);
	EXPECT_EINVAL(nb_residual_set_projection(NULL, NULL));
	EXPECT_EINVAL(nb_residual_set_projection(NULL,
	                                         nb_sequential_new("p")));
	COVERS(nb_module_dict_new);
	r = nb_module_dict_new(NULL);
	cr_expect_not_null(r);
	nb_module_free(r);
	COVERS(nb_module_list_new);
	r = nb_module_list_new("blocks");
	cr_assert_not_null(r);
	COVERS(nb_module_list_append);
	EXPECT_EINVAL(nb_module_list_append(NULL, NULL));
	EXPECT_EINVAL(nb_module_list_append(r, NULL));
	EXPECT_EINVAL(nb_module_list_append(NULL, nb_sequential_new("s")));
	nb_module_free(r);
	COVERS(nb_layer_register);
	EXPECT_EINVAL(nb_layer_register(NULL));
	COVERS(nb_layer_find);
	EXPECT_QUIET(nb_layer_find(NULL), NULL);
	COVERS(nb_layer_count);
	cr_expect_geq(nb_layer_count(), 5);
	COVERS(nb_layer_at);
	EXPECT_QUIET(nb_layer_at((size_t)-1), NULL);
}
