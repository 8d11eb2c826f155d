/*
 * test_activation.c - the activation ops (lib/ops/activation.c): their
 * registration, finite values and gradients at extreme inputs, accuracy
 * in the tails against high-precision values, error paths, the typed
 * wrappers, and rrelu's training behaviour (which PyTorch references
 * cannot check, its generator being different).  Forward values and
 * gradients against PyTorch are in tests/ref/ops/activation.json, replayed
 * by test_reference; gradients against finite differences by
 * test_gradcheck.
 */
#include "support/helpers.h"

static const double EXTREME[] = {-1e4, -1e3, -100, -20, -1, -1e-3,
                                 1e-3, 1, 20, 100, 1e3, 1e4};
#define N_EXTREME (sizeof EXTREME / sizeof *EXTREME)

/* Every activation, with the attribute variants worth testing. */
static const struct {
	const char *name, *attrs;
} ACTS[] = {
	{"sigmoid", ""}, {"tanh", ""}, {"relu", ""}, {"leaky_relu", ""},
	{"leaky_relu", "negative_slope=0.2"}, {"rrelu", ""}, {"prelu", ""},
	{"elu", ""}, {"elu", "alpha=0.5"}, {"selu", ""}, {"celu", ""},
	{"celu", "alpha=0.5"}, {"gelu", ""}, {"gelu", "approximate=tanh"},
	{"silu", ""}, {"mish", ""}, {"softplus", ""},
	{"softplus", "beta=2 threshold=10"}, {"softsign", ""},
	{"hardtanh", ""}, {"hardsigmoid", ""}, {"hardswish", ""},
	{"log_sigmoid", ""},
};
#define N_ACTS (sizeof ACTS / sizeof *ACTS)

static nb_tensor *extreme_input(nb_dtype dt)
{
	nb_tensor *x = nbt_tensor(dt, NB_SHAPE(N_EXTREME), EXTREME);
	nb_tensor_set_requires_grad(x, true);
	return x;
}

/* Applies the op named `name` to x (prelu with a shared weight w). */
static nb_tensor *call(nb_graph *g, const char *name, const char *attrs,
                       nb_tensor *x, nb_tensor *w)
{
	if (!strcmp(name, "prelu"))
		return nb_call(g, name, 2, (nb_tensor *[]){x, w}, attrs);
	return nb_call(g, name, 1, &x, attrs);
}

Test(activation, every_op_is_registered_as_an_activation)
{
	static const char *names[] = {
		"sigmoid", "tanh", "relu", "leaky_relu", "rrelu", "prelu",
		"elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
		"softsign", "hardtanh", "hardsigmoid", "hardswish",
		"log_sigmoid",
	};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		const nb_op *op = nb_op_find(names[i]);
		cr_assert_not_null(op, "%s is not registered", names[i]);
		cr_expect_eq(op->kind, NB_KIND_ACTIVATION, "%s", names[i]);
		cr_expect_eq(!!(op->flags & NB_OP_RANDOM),
		             !strcmp(names[i], "rrelu"), "%s", names[i]);
	}
}

Test(activation, bounded_ops_declare_their_limits)
{
	static const struct {
		const char *name;
		double lo, hi;
	} b[] = {
		{"sigmoid", 0, 1}, {"tanh", -1, 1}, {"hardtanh", -1, 1},
		{"hardsigmoid", 0, 1}, {"softsign", -1, 1}, {"relu", 0, 0},
		{"gelu", 0, 0}, {"softplus", 0, 0}, {"elu", 0, 0},
	};
	for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
		const nb_op *op = nb_op_find(b[i].name);
		cr_assert_not_null(op);
		/* The limits are test metadata, in op->test (issue 13). */
		cr_assert_not_null(op->test, "%s", b[i].name);
		cr_expect(op->test->out_lo == b[i].lo &&
		          op->test->out_hi == b[i].hi,
		          "%s: limits %g..%g, want %g..%g", b[i].name,
		          op->test->out_lo, op->test->out_hi, b[i].lo, b[i].hi);
	}
}

/* Finite outputs and gradients from -1e4 to 1e4, with anomaly mode on
 * (which fails on any NaN or infinity) and checked again here. */
static void check_extremes(nb_dtype dt, const char *name, const char *attrs)
{
	nb_graph *g = nb_graph_new();
	nb_graph_set_anomaly(g, true);
	nb_tensor *x = extreme_input(dt);
	nb_tensor *w = nb_tensor_full(dt, NB_SHAPE(1), 0.25);
	nb_tensor_set_requires_grad(w, true);
	nb_tensor *y = call(g, name, attrs, x, w);
	cr_assert_not_null(y, "%s %s: %s", name, nb_dtype_name(dt),
	                   nb_graph_errmsg(g));
	nb_tensor *go = nb_tensor_ones(dt, NB_SHAPE(N_EXTREME));
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s %s: %s", name,
	             nb_dtype_name(dt), nb_last_error());
	for (size_t i = 0; i < N_EXTREME; i++) {
		double v = nb_tensor_get(y, i);
		double gr = nb_tensor_get(nb_tensor_grad(x), i);
		cr_expect(isfinite(v) && isfinite(gr), "%s|%s %s at x = %g: "
		          "y = %g, dy/dx = %g", name, attrs, nb_dtype_name(dt),
		          EXTREME[i], v, gr);
	}
	if (!strcmp(name, "prelu"))
		cr_expect(isfinite(nb_tensor_item(nb_tensor_grad(w))),
		          "prelu %s: dL/dw is not finite", nb_dtype_name(dt));
	nb_tensor_free(go);
	nb_tensor_free(w);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(activation, extreme_inputs_give_finite_values_and_gradients)
{
	for (size_t k = 0; k < N_ACTS; k++) {
		check_extremes(NB_F32, ACTS[k].name, ACTS[k].attrs);
		check_extremes(NB_F64, ACTS[k].name, ACTS[k].attrs);
	}
}

/* y and dy/dx of op at x, in dtype dt. */
static void eval1(nb_dtype dt, const char *name, const char *attrs,
                  double xv, double *y, double *dy)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(dt, NB_SHAPE(1), &xv);
	nb_tensor *w = nb_tensor_full(dt, NB_SHAPE(1), 0.25);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *out = call(g, name, attrs, x, w);
	cr_assert_not_null(out, "%s: %s", name, nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(out, NULL), NB_OK, "%s", nb_last_error());
	*y = nb_tensor_item(out);
	*dy = nb_tensor_item(nb_tensor_grad(x));
	nb_tensor_free(w);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(activation, saturated_values_are_exact)
{
	static const struct {
		const char *name, *attrs;
		double x, y, dy;
	} c[] = {
		{"softplus", "", 1e4, 1e4, 1},
		{"softplus", "", -1e4, 0, 0},
		{"softplus", "threshold=1e6", 1e4, 1e4, 1},
		{"log_sigmoid", "", -1e4, -1e4, 1},
		{"log_sigmoid", "", 1e4, 0, 0},
		{"sigmoid", "", -1e4, 0, 0},
		{"sigmoid", "", 1e4, 1, 0},
		{"tanh", "", -1e4, -1, 0},
		{"tanh", "", 1e4, 1, 0},
		{"gelu", "", 1e4, 1e4, 1},
		{"gelu", "", -1e4, 0, 0},
		{"gelu", "approximate=tanh", 1e4, 1e4, 1},
		{"gelu", "approximate=tanh", -1e4, 0, 0},
		{"silu", "", 1e4, 1e4, 1},
		{"silu", "", -1e4, 0, 0},
		{"mish", "", 1e4, 1e4, 1},
		{"mish", "", -1e4, 0, 0},
		{"elu", "", -1e4, -1, 0},
		{"softsign", "", 1e4, 1e4 / (1 + 1e4), 1 / ((1 + 1e4) * (1 + 1e4))},
		{"hardswish", "", 1e4, 1e4, 1},
		{"hardsigmoid", "", -1e4, 0, 0},
	};
	for (int d = 0; d < 2; d++)
		for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
			nb_dtype dt = d ? NB_F64 : NB_F32;
			double y, dy, tol = d ? 1e-15 : 5e-7;
			eval1(dt, c[i].name, c[i].attrs, c[i].x, &y, &dy);
			cr_expect(fabs(y - c[i].y) <= tol * fabs(c[i].y) &&
			          fabs(dy - c[i].dy) <= tol * fabs(c[i].dy) + 1e-30,
			          "%s|%s %s (%g) = %.17g, d = %.17g; want %.17g, %.17g",
			          c[i].name, c[i].attrs, nb_dtype_name(dt), c[i].x,
			          y, dy, c[i].y, c[i].dy);
		}
}

/*
 * Relative accuracy in float64 where naive forms cancel or underflow
 * (1 + erf(x) for gelu at -20, 1 - tanh^2 at 20, ...).  Wanted values
 * from mpmath at 600 digits.
 */
Test(activation, tails_are_accurate_in_float64)
{
	static const struct {
		const char *name, *attrs;
		double x, y, dy;
	} c[] = {
	{"sigmoid", "", -100.0, 3.720075976020836e-44, 3.720075976020836e-44},
	{"sigmoid", "", -20.0, 2.0611536181902037e-09, 2.061153613941849e-09},
	{"sigmoid", "", -0.001, 0.4997500000208333, 0.24999993750001043},
	{"sigmoid", "", 20.0, 0.9999999979388464, 2.061153613941849e-09},
	{"tanh", "", -100.0, -1.0, 5.53558610694695e-87},
	{"tanh", "", 20.0, 1.0, 1.6993417021166355e-17},
	{"tanh", "", 0.001, 0.0009999996666668, 0.9999990000006667},
	{"softplus", "", -100.0, 3.720075976020836e-44, 3.720075976020836e-44},
	{"softplus", "", -20.0, 2.061153620314381e-09, 2.0611536181902037e-09},
	{"softplus", "", 20.0, 20.000000002061153, 0.9999999979388464},
	{"log_sigmoid", "", -20.0, -20.000000002061153, 0.9999999979388464},
	{"log_sigmoid", "", 0.001, -0.6926473055599401, 0.4997500000208333},
	{"log_sigmoid", "", 20.0, -2.061153620314381e-09,
	 2.0611536181902037e-09},
	{"gelu", "", -20.0, -5.507248237212468e-88, -1.1014360483133464e-86},
	{"gelu", "", -0.001, -0.000499601057786089, 0.4992021157051586},
	{"gelu", "", 20.0, 20.0, 1.0},
	{"gelu", "approximate=tanh", -20.0, -3.3754509563109673e-261,
	 -2.9424328724945027e-259},
	{"gelu", "approximate=tanh", -0.001, -0.000499601057786418,
	 0.499202115706475},
	{"gelu", "approximate=tanh", 0.001, 0.000500398942213582,
	 0.500797884293525},
	{"silu", "", -100.0, -3.720075976020836e-42, -3.682875216260628e-42},
	{"silu", "", -20.0, -4.122307236380407e-08, -3.9161918660646786e-08},
	{"silu", "", 20.0, 19.99999995877693, 1.0000000391619186},
	{"mish", "", -100.0, -3.720075976020836e-42, -3.682875216260628e-42},
	{"mish", "", -20.0, -4.122307240628761e-08, -3.916191874348969e-08},
	{"mish", "", -0.001, -0.0005996799840458663, 0.5993599521834647},
	{"mish", "", 0.001, 0.000600319983954133, 0.6006399518165315},
	{"mish", "", 20.0, 20.0, 1.0000000000000002},
	{"elu", "", -20.0, -0.9999999979388464, 2.061153622438558e-09},
	{"elu", "", -0.001, -0.0009995001666250085, 0.999000499833375},
	{"selu", "", -100.0, -1.7580993408473768, 6.540263121344394e-44},
	{"selu", "", -0.001, -0.0017572205841202705, 1.7563421202632565},
	{"celu", "alpha=0.5", -100.0, -0.5, 1.3838965267367376e-87},
	{"celu", "alpha=0.5", -20.0, -0.5, 4.248354255291589e-18},
	{"celu", "alpha=0.5", -0.001, -0.0009990006663334666,
	 0.9980019986673331},
	{"softsign", "", -100.0, -0.9900990099009901, 9.802960494069208e-05},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		double y, dy;
		eval1(NB_F64, c[i].name, c[i].attrs, c[i].x, &y, &dy);
		cr_expect(fabs(y - c[i].y) <= 1e-13 * fabs(c[i].y) &&
		          fabs(dy - c[i].dy) <= 1e-13 * fabs(c[i].dy),
		          "%s|%s (%g) = %.17g, d = %.17g; want %.17g, %.17g",
		          c[i].name, c[i].attrs, c[i].x, y, dy, c[i].y, c[i].dy);
	}
}

/* ---- error paths: the right code, and a message naming the op ---- */

static void expect_error(nb_graph *g, nb_tensor *y, nb_status code,
                         const char *op, const char *part)
{
	cr_expect_null(y, "%s: succeeded", op);
	cr_expect_eq(nb_graph_status(g), code, "%s: status %s, want %s", op,
	             nb_strerror(nb_graph_status(g)), nb_strerror(code));
	const char *m = nb_graph_errmsg(g);
	cr_expect(!strncmp(m, op, strlen(op)) && m[strlen(op)] == ':',
	          "message does not start with '%s:': %s", op, m);
	cr_expect(strstr(m, part) != NULL, "message lacks '%s': %s", part, m);
	nb_graph_clear_error(g);
}

Test(activation, bad_attributes_are_refused)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3));
	expect_error(g, nb_call(g, "leaky_relu", 1, &x, "slope=0.1"),
	             NB_ENOTFOUND, "leaky_relu", "'slope'");
	expect_error(g, nb_call(g, "leaky_relu", 1, &x, "negative_slope=abc"),
	             NB_EINVAL, "leaky_relu", "negative_slope");
	expect_error(g, nb_call(g, "rrelu", 1, &x, "lower=0.5 upper=0.2"),
	             NB_EINVAL, "rrelu", "lower = 0.5 is above upper = 0.2");
	expect_error(g, nb_rrelu(g, x, 0.4, 0.3), NB_EINVAL, "rrelu", "upper");
	expect_error(g, nb_leaky_relu(g, x, NAN), NB_EINVAL, "leaky_relu",
	             "negative_slope");
	expect_error(g, nb_hardtanh(g, x, 1, -1), NB_EINVAL, "hardtanh",
	             "min_val = 1 is above max_val = -1");
	expect_error(g, nb_celu(g, x, 0), NB_EINVAL, "celu", "alpha");
	expect_error(g, nb_softplus(g, x, 0, 20), NB_EINVAL, "softplus",
	             "beta");
	expect_error(g, nb_call(g, "gelu", 1, &x, "approximate=fast"),
	             NB_EINVAL, "gelu", "none|tanh");
	expect_error(g, nb_gelu(g, x, (nb_gelu_approx)7), NB_EINVAL, "gelu",
	             "approximate");
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(activation, prelu_weight_of_the_wrong_size_is_refused)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 3, 4));
	nb_tensor *w4 = nb_tensor_zeros(NB_F64, NB_SHAPE(4));
	nb_tensor *w2d = nb_tensor_zeros(NB_F64, NB_SHAPE(1, 3));
	nb_tensor *v = nb_tensor_zeros(NB_F64, NB_SHAPE(5));
	nb_tensor *w5 = nb_tensor_zeros(NB_F64, NB_SHAPE(5));
	nb_tensor *wf = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	expect_error(g, nb_prelu(g, x, w4), NB_ESHAPE, "prelu",
	             "weight [4] has 4 elements: it needs 1 (shared) or 3 "
	             "(one per channel, dim 1 of input [2, 3, 4])");
	expect_error(g, nb_prelu(g, x, w2d), NB_ESHAPE, "prelu", "rank 2");
	/* A 1-D input has one channel, as in PyTorch. */
	expect_error(g, nb_prelu(g, v, w5), NB_ESHAPE, "prelu", "needs 1");
	expect_error(g, nb_prelu(g, x, wf), NB_EDTYPE, "prelu", "mixed");
	expect_error(g, nb_prelu(g, x, NULL), NB_EINVAL, "prelu", "'weight'");
	nb_tensor_free(x);
	nb_tensor_free(w4);
	nb_tensor_free(w2d);
	nb_tensor_free(v);
	nb_tensor_free(w5);
	nb_tensor_free(wf);
	nb_graph_free(g);
}

Test(activation, int64_input_is_refused_and_errors_stick)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *i = nb_tensor_zeros(NB_I64, NB_SHAPE(3));
	expect_error(g, nb_relu(g, i), NB_EDTYPE, "relu", "int64");
	/* A failed input keeps the first error. */
	cr_expect_null(nb_sigmoid(g, nb_tanh(g, i)));
	cr_expect_eq(nb_graph_status(g), NB_EDTYPE);
	cr_expect(!strncmp(nb_graph_errmsg(g), "tanh:", 5), "%s",
	          nb_graph_errmsg(g));
	nb_tensor_free(i);
	nb_graph_free(g);
}

/* ---- typed wrappers ---- */

typedef nb_tensor *(*wrap_fn)(nb_graph *, nb_tensor *);

static nb_tensor *w_leaky(nb_graph *g, nb_tensor *x)
{
	return nb_leaky_relu(g, x, 0.2);
}
static nb_tensor *w_rrelu(nb_graph *g, nb_tensor *x)
{
	return nb_rrelu(g, x, 0.1, 0.3);
}
static nb_tensor *w_elu(nb_graph *g, nb_tensor *x)
{
	return nb_elu(g, x, 0.5);
}
static nb_tensor *w_celu(nb_graph *g, nb_tensor *x)
{
	return nb_celu(g, x, 2);
}
static nb_tensor *w_gelu(nb_graph *g, nb_tensor *x)
{
	return nb_gelu(g, x, NB_GELU_NONE);
}
static nb_tensor *w_gelu_tanh(nb_graph *g, nb_tensor *x)
{
	return nb_gelu(g, x, NB_GELU_TANH);
}
static nb_tensor *w_softplus(nb_graph *g, nb_tensor *x)
{
	return nb_softplus(g, x, 2, 3);
}
static nb_tensor *w_hardtanh(nb_graph *g, nb_tensor *x)
{
	return nb_hardtanh(g, x, -0.5, 2);
}

/* Each wrapper gives what nb_call gives with the same attributes, bit
 * for bit, values and gradients (eval mode, for rrelu). */
Test(activation, typed_wrappers_match_nb_call)
{
	static const struct {
		wrap_fn f;
		const char *name, *attrs;
	} w[] = {
		{nb_sigmoid, "sigmoid", ""}, {nb_tanh, "tanh", ""},
		{nb_relu, "relu", ""}, {w_leaky, "leaky_relu",
		                        "negative_slope=0.2"},
		{w_rrelu, "rrelu", "lower=0.1 upper=0.3"},
		{w_elu, "elu", "alpha=0.5"}, {nb_selu, "selu", ""},
		{w_celu, "celu", "alpha=2"}, {w_gelu, "gelu", ""},
		{w_gelu_tanh, "gelu", "approximate=tanh"},
		{nb_silu, "silu", ""}, {nb_mish, "mish", ""},
		{w_softplus, "softplus", "beta=2 threshold=3"},
		{nb_softsign, "softsign", ""},
		{w_hardtanh, "hardtanh", "min_val=-0.5 max_val=2"},
		{nb_hardsigmoid, "hardsigmoid", ""},
		{nb_hardswish, "hardswish", ""},
		{nb_log_sigmoid, "log_sigmoid", ""},
	};
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(4, 6), &r, 0, 3);
	nb_tensor_set_requires_grad(x, true);
	nb_graph *g = nb_graph_new();
	nb_graph_set_training(g, false);
	for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
		nb_tensor *a = w[i].f(g, x);
		cr_assert_not_null(a, "%s: %s", w[i].name, nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(nb_sum(g, a, 0, NULL, false), NULL),
		             NB_OK);
		nb_tensor *ga = nb_tensor_clone(nb_tensor_grad(x));
		nb_tensor_zero_grad(x);
		nb_tensor *b = nb_call(g, w[i].name, 1, &x, w[i].attrs);
		cr_assert_not_null(b, "%s: %s", w[i].name, nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(nb_sum(g, b, 0, NULL, false), NULL),
		             NB_OK);
		cr_expect(!memcmp(nb_tensor_cdata(a), nb_tensor_cdata(b),
		                  nb_tensor_numel(a) * sizeof(float)) &&
		          !memcmp(nb_tensor_cdata(ga),
		                  nb_tensor_cdata(nb_tensor_grad(x)),
		                  nb_tensor_numel(a) * sizeof(float)),
		          "%s|%s: wrapper and nb_call differ", w[i].name,
		          w[i].attrs);
		nb_tensor_zero_grad(x);
		nb_tensor_free(ga);
		nb_graph_reset(g);
	}
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(activation, wrappers_compute_the_formulas)
{
	static const double xs[] = {-2, -0.5, 0, 0.5, 3};
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(5), xs);
	nbt_expect_close(nb_relu(g, x), (double[]){0, 0, 0, 0.5, 3}, 5, 0,
	                 0, "relu");
	nbt_expect_close(nb_leaky_relu(g, x, 0.2),
	                 (double[]){-0.4, -0.1, 0, 0.5, 3}, 5, 1e-15, 0,
	                 "leaky_relu");
	nbt_expect_close(nb_hardtanh(g, x, -1, 2),
	                 (double[]){-1, -0.5, 0, 0.5, 2}, 5, 0, 0, "hardtanh");
	nbt_expect_close(nb_hardsigmoid(g, x),
	                 (double[]){1.0 / 6, 2.5 / 6, 0.5, 3.5 / 6, 1}, 5,
	                 1e-15, 0, "hardsigmoid");
	nbt_expect_close(nb_hardswish(g, x),
	                 (double[]){-2.0 / 6, -0.5 * 2.5 / 6, 0,
	                            0.5 * 3.5 / 6, 3}, 5, 1e-15, 0,
	                 "hardswish");
	nbt_expect_close(nb_softsign(g, x),
	                 (double[]){-2.0 / 3, -0.5 / 1.5, 0, 0.5 / 1.5, 0.75},
	                 5, 1e-15, 0, "softsign");
	nbt_expect_close(nb_elu(g, x, 2),
	                 (double[]){2 * expm1(-2), 2 * expm1(-0.5), 0, 0.5, 3},
	                 5, 1e-15, 0, "elu");
	nbt_expect_close(nb_celu(g, x, 2),
	                 (double[]){2 * expm1(-1), 2 * expm1(-0.25), 0, 0.5,
	                            3}, 5, 1e-15, 0, "celu");
	nbt_expect_close(nb_softplus(g, x, 1, 2),
	                 (double[]){log1p(exp(-2)), log1p(exp(-0.5)), log(2),
	                            log1p(exp(0.5)), 3}, 5, 1e-15, 0,
	                 "softplus threshold 2");
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* prelu with one weight per channel: values and both gradients, by hand. */
Test(activation, prelu_per_channel_values_and_gradients)
{
	/* x [2, 3, 2]: channel c of sample n is x[n][c][0..1]. */
	static const double xv[] = {1, -1, -2, 2, -3, 0, -1, -1, 4, -2, 5, -6};
	static const double wv[] = {0.1, 0.2, 0.3};
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(2, 3, 2), xv);
	nb_tensor *w = nbt_tensor(NB_F64, NB_SHAPE(3), wv);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor_set_requires_grad(w, true);
	nb_tensor *y = nb_prelu(g, x, w);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nbt_expect_close(y, (double[]){1, -0.1, -0.4, 2, -0.9, 0, -0.1, -0.1,
	                               4, -0.4, 5, -1.8}, 12, 1e-15, 0, "y");
	/* L = sum(y): dL/dx = 1 or w_c; dL/dw_c = sum of x <= 0 in c. */
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	nbt_expect_close(nb_tensor_grad(x),
	                 (double[]){1, 0.1, 0.2, 1, 0.3, 0.3, 0.1, 0.1, 1,
	                            0.2, 1, 0.3}, 12, 1e-15, 0, "dx");
	nbt_expect_close(nb_tensor_grad(w), (double[]){-3, -4, -9}, 3, 1e-15,
	                 0, "dw");
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_graph_free(g);
}

Test(activation, prelu_shared_weight_gradient)
{
	static const double xv[] = {-1, 2, -3, 4};
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F32, NB_SHAPE(2, 2), xv);
	nb_tensor *w = nb_tensor_full(NB_F32, 0, NULL, 0.25);
	nb_tensor_set_requires_grad(w, true);
	nb_tensor *y = nb_prelu(g, x, w);
	nbt_expect_close(y, (double[]){-0.25, 2, -0.75, 4}, 4, 1e-7, 0, "y");
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	cr_expect_null(nb_tensor_grad(x), "x does not require grad");
	nbt_expect_close(nb_tensor_grad(w), (double[]){-4}, 1, 1e-6, 0, "dw");
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* ---- rrelu in training mode ---- */

#define RN 2000

/* rrelu of RN values alternating in sign, in training mode with seed. */
static nb_tensor *rrelu_train(nb_graph *g, nb_tensor *x, uint64_t seed,
                              double lo, double hi)
{
	nb_graph_set_training(g, true);
	nb_graph_seed(g, seed);
	nb_tensor *y = nb_rrelu(g, x, lo, hi);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	return y;
}

static nb_tensor *rrelu_input(nb_dtype dt)
{
	nb_tensor *x = nb_tensor_zeros(dt, NB_SHAPE(RN));
	for (size_t i = 0; i < RN; i++)
		nb_tensor_set(x, i, (i % 2 ? 1.0 : -1.0) * (0.5 + (double)i / RN));
	nb_tensor_set_requires_grad(x, true);
	return x;
}

Test(activation, rrelu_training_draws_slopes_in_range_and_reuses_them)
{
	const double lo = 0.1, hi = 0.3;
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = d ? NB_F64 : NB_F32;
		double ulp = d ? 1e-15 : 1e-6;
		nb_graph *g = nb_graph_new();
		nb_tensor *x = rrelu_input(dt);
		nb_tensor *y = rrelu_train(g, x, 11, lo, hi);
		nb_tensor *go = nb_tensor_ones(dt, NB_SHAPE(RN));
		cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_last_error());
		const nb_tensor *dx = nb_tensor_grad(x);
		double smin = 1, smax = 0, ssum = 0;
		for (size_t i = 0; i < RN; i++) {
			double xi = nb_tensor_get(x, i), yi = nb_tensor_get(y, i);
			double gi = nb_tensor_get(dx, i);
			if (xi > 0) {
				cr_expect(yi == xi && gi == 1, "x = %g: y = %g, "
				          "dy/dx = %g", xi, yi, gi);
				continue;
			}
			double s = yi / xi;
			cr_expect(s >= lo * (1 - ulp) && s <= hi * (1 + ulp),
			          "slope %g outside [%g, %g]", s, lo, hi);
			cr_expect(fabs(gi - s) <= ulp * s, "%s: dy/dx = %.9g but "
			          "y/x = %.9g", nb_dtype_name(dt), gi, s);
			smin = fmin(smin, s);
			smax = fmax(smax, s);
			ssum += s;
		}
		/* 1000 draws: they cover the range, their mean near its middle
		 * (deterministic for this seed; the margins are many sigmas). */
		cr_expect(smin < lo + 0.01 && smax > hi - 0.01,
		          "slopes span only [%g, %g]", smin, smax);
		cr_expect(fabs(ssum / (RN / 2) - (lo + hi) / 2) < 0.01,
		          "mean slope %g", ssum / (RN / 2));
		nb_tensor_free(go);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

Test(activation, rrelu_same_seed_same_output)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = rrelu_input(NB_F64);
	nb_tensor *a = nb_tensor_clone(rrelu_train(g, x, 3, 0.125, 1.0 / 3));
	nb_tensor *b = nb_tensor_clone(rrelu_train(g, x, 3, 0.125, 1.0 / 3));
	nb_tensor *c = nb_tensor_clone(rrelu_train(g, x, 4, 0.125, 1.0 / 3));
	cr_expect(!memcmp(nb_tensor_cdata(a), nb_tensor_cdata(b),
	                  RN * sizeof(double)), "same seed, different output");
	cr_expect(memcmp(nb_tensor_cdata(a), nb_tensor_cdata(c),
	                 RN * sizeof(double)), "another seed, same output");
	/* Two calls in one step draw different slopes. */
	nb_graph_seed(g, 3);
	nb_tensor *d1 = nb_rrelu(g, x, 0.125, 1.0 / 3);
	nb_tensor *d2 = nb_rrelu(g, x, 0.125, 1.0 / 3);
	cr_expect(!memcmp(nb_tensor_cdata(a), nb_tensor_cdata(d1),
	                  RN * sizeof(double)));
	cr_expect(memcmp(nb_tensor_cdata(d1), nb_tensor_cdata(d2),
	                 RN * sizeof(double)));
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_tensor_free(c);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(activation, rrelu_eval_uses_the_mean_slope)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = rrelu_input(NB_F64);
	nb_graph_set_training(g, false);
	nb_tensor *y = nb_rrelu(g, x, 0.1, 0.3);
	nb_tensor *go = nb_tensor_ones(NB_F64, NB_SHAPE(RN));
	cr_assert_eq(nb_backward(y, go), NB_OK);
	for (size_t i = 0; i < RN; i++) {
		double xi = nb_tensor_get(x, i);
		double want = xi > 0 ? 1 : 0.2;
		cr_expect(fabs(nb_tensor_get(y, i) - want * xi) < 1e-15 &&
		          nb_tensor_get(nb_tensor_grad(x), i) == want,
		          "x = %g", xi);
	}
	nb_tensor_free(go);
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* At exactly x = 0 the gradient is the negative side's slope, as
 * PyTorch's: its noise r_i in training (drawn where x <= 0), the mean
 * slope in evaluation (tests/ref/spec/kinks.py has the eval values). */
Test(activation, rrelu_gradient_at_zero_is_the_slope)
{
	for (int train = 0; train < 2; train++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_zeros(NB_F64, NB_SHAPE(64));
		nb_tensor_set_requires_grad(x, true);
		nb_graph_set_training(g, train);
		nb_graph_seed(g, 5);
		nb_tensor *y = nb_rrelu(g, x, 0.1, 0.3);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		nb_tensor *go = nb_tensor_ones(NB_F64, NB_SHAPE(64));
		cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_last_error());
		for (size_t i = 0; i < 64; i++) {
			double gi = nb_tensor_get(nb_tensor_grad(x), i);
			bool ok = train ? gi >= 0.1 && gi <= 0.3
			                : fabs(gi - 0.2) < 1e-15;
			cr_expect(ok, "%s: dy/dx at 0 = %g",
			          train ? "training" : "eval", gi);
			cr_expect(nb_tensor_get(y, i) == 0);
		}
		nb_tensor_free(go);
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/* Backward keeps the slopes forward drew even if the mode changes in
 * between; and gradcheck (which re-seeds per evaluation) passes. */
Test(activation, rrelu_backward_uses_the_saved_slopes)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = rrelu_input(NB_F64);
	nb_tensor *y = rrelu_train(g, x, 8, 0.1, 0.3);
	nb_graph_set_training(g, false);
	nb_tensor *go = nb_tensor_ones(NB_F64, NB_SHAPE(RN));
	cr_assert_eq(nb_backward(y, go), NB_OK);
	for (size_t i = 0; i < RN; i += 2)
		cr_expect(fabs(nb_tensor_get(nb_tensor_grad(x), i) -
		               nb_tensor_get(y, i) / nb_tensor_get(x, i)) < 1e-15);
	nb_tensor_free(go);
	nb_tensor_free(x);
	nb_graph_free(g);

	for (int t = 0; t < 2; t++) {
		nb_gradcheck_opts o = nb_gradcheck_defaults();
		int failed = 0;
		o.training = t;
		o.seed = 99;
		cr_expect_eq(nb_gradcheck_op(nb_op_find("rrelu"), &o, NULL, NULL,
		                             &failed), NB_OK);
		cr_expect_eq(failed, 0, "rrelu gradcheck (training %d)", t);
	}
}
