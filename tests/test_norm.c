/*
 * test_norm.c - the normalizations beyond what test_reference and
 * test_gradcheck check for every op: running statistics over several
 * steps against PyTorch's modules (tests/ref/steps/norm_steps.json,
 * from tests/ref/gen_norm_steps.py), error paths, numerical stability
 * (large means, constant inputs), evaluation mode and the wrappers.
 */
#include <float.h>
#include <jansson.h>
#include "support/helpers.h"

static const char *const ops4[] = {"batch_norm", "instance_norm",
                                   "group_norm", "layer_norm"};

static nb_dtype dtype_of(const char *s)
{
	return !strcmp(s, "float32") ? NB_F32 : NB_F64;
}

static nb_tensor *tensor_of(json_t *o, nb_dtype dt)
{
	int64_t shape[NB_MAX_DIMS];
	json_t *s = json_object_get(o, "shape"), *v;
	size_t i;
	json_array_foreach(s, i, v)
		shape[i] = json_integer_value(v);
	nb_tensor *t = nb_tensor_zeros(dt, (int)json_array_size(s), shape);
	cr_assert_not_null(t, "%s", nb_last_error());
	json_array_foreach(json_object_get(o, "data"), i, v)
		nb_tensor_set(t, i, json_number_value(v));
	return t;
}

/* Mismatches of t against the reference o (logged, at most 3). */
static int mismatches(const char *what, const nb_tensor *t, json_t *o,
                      double atol, double rtol)
{
	json_t *data = json_object_get(o, "data");
	int bad = 0;
	if (!t || nb_tensor_numel(t) != json_array_size(data)) {
		cr_log_error("%s: missing or wrong size", what);
		return 1;
	}
	for (size_t i = 0; i < nb_tensor_numel(t); i++) {
		double want = json_number_value(json_array_get(data, i));
		double got = nb_tensor_get(t, i);
		bool ok = fabs(got - want) <= atol + rtol * fabs(want);
		if (!ok && bad++ < 3)
			cr_log_error("%s[%zu] = %.10g, want %.10g", what, i,
			             got, want);
	}
	return bad;
}

/* One scenario: steps of training then evaluation through one set of
 * persistent running statistics; returns the number of mismatches. */
static int replay(json_t *sc)
{
	const char *name = json_string_value(json_object_get(sc, "name"));
	const char *op = json_string_value(json_object_get(sc, "op"));
	const char *attrs = json_string_value(json_object_get(sc, "attrs"));
	nb_dtype dt = dtype_of(json_string_value(json_object_get(sc, "dtype")));
	double atol = dt == NB_F32 ? 1e-5 : 1e-9;
	double rtol = dt == NB_F32 ? 1e-4 : 1e-7;
	bool bn = !strcmp(op, "batch_norm");
	json_t *jw = json_object_get(sc, "weight");
	json_t *jb = json_object_get(sc, "bias");
	nb_tensor *in[6] = {NULL};
	in[1] = json_is_null(jw) ? NULL : tensor_of(jw, dt);
	in[2] = json_is_null(jb) ? NULL : tensor_of(jb, dt);
	in[3] = tensor_of(json_object_get(sc, "running_mean"), dt);
	in[4] = tensor_of(json_object_get(sc, "running_var"), dt);
	if (bn)
		in[5] = tensor_of(json_object_get(sc, "num_batches_tracked"),
		                  NB_I64);
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	int bad = 0;
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(sc, "steps"), i, st) {
		char what[128];
		nb_graph_reset(g);
		nb_graph_set_training(g, json_is_true(json_object_get(st,
		                                      "training")));
		in[0] = tensor_of(json_object_get(st, "input"), dt);
		nb_tensor *y = nb_call(g, op, bn ? 6 : 5, in, attrs);
		cr_assert_not_null(y, "%s step %zu: %s", name, i,
		                   nb_graph_errmsg(g));
		snprintf(what, sizeof what, "%s (%s) step %zu output", name,
		         nb_dtype_name(dt), i);
		bad += mismatches(what, y, json_object_get(st, "output"), atol,
		                  rtol);
		snprintf(what, sizeof what, "%s (%s) step %zu running_mean",
		         name, nb_dtype_name(dt), i);
		bad += mismatches(what, in[3], json_object_get(st,
		                  "running_mean"), atol, rtol);
		snprintf(what, sizeof what, "%s (%s) step %zu running_var",
		         name, nb_dtype_name(dt), i);
		bad += mismatches(what, in[4], json_object_get(st,
		                  "running_var"), atol, rtol);
		if (bn) {
			snprintf(what, sizeof what, "%s step %zu counter", name,
			         i);
			bad += mismatches(what, in[5], json_object_get(st,
			                  "num_batches_tracked"), 0, 0);
		}
		nb_tensor_free(in[0]);
	}
	for (int k = 1; k < 6; k++)
		nb_tensor_free(in[k]);
	nb_graph_free(g);
	return bad;
}

Test(norm, running_statistics_over_steps_match_pytorch)
{
	char path[1200];
	json_error_t err;
	snprintf(path, sizeof path, "%s/tests/ref/steps/norm_steps.json",
	         nbt_srcdir());
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s: %s", path, err.text);
	size_t i;
	json_t *sc;
	int n = 0, failed = 0, cumulative = 0, instance = 0;
	json_array_foreach(json_object_get(root, "scenarios"), i, sc) {
		const char *a = json_string_value(json_object_get(sc, "attrs"));
		const char *op = json_string_value(json_object_get(sc, "op"));
		cumulative += !strcmp(a, "momentum=none");
		instance += !strcmp(op, "instance_norm");
		failed += replay(sc) != 0;
		n++;
	}
	json_decref(root);
	cr_expect_geq(n, 8);
	cr_expect_gt(cumulative, 0, "no momentum=none scenario");
	cr_expect_gt(instance, 0, "no instance_norm scenario");
	cr_expect_eq(failed, 0, "%d of %d scenarios differ from PyTorch",
	             failed, n);
}

/* ---- error paths ---- */

/* An input of an error case: its shape, or absent. */
typedef struct spec {
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	bool present;
	nb_dtype dt;
} spec;

#define IN(...)                                                              \
	{(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),          \
	 {__VA_ARGS__}, true, NB_F64}
#define IN0 {0, {0}, true, NB_F64}
#define NONE {0, {0}, false, NB_F64}

/* Runs op on inputs of ones shaped by sp and expects it to fail with
 * code and a message naming the op and containing want. */
static void expect_fail(const char *op, const char *attrs, bool training,
                        int n, const spec *sp, nb_status code,
                        const char *want)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *in[8] = {NULL};
	for (int i = 0; i < n; i++) {
		const spec *s = &sp[i];
		if (!s->present)
			continue;
		in[i] = nb_tensor_ones(s->dt, s->ndim, s->shape);
		cr_assert_not_null(in[i], "%s", nb_last_error());
	}
	nb_graph_set_training(g, training);
	nb_tensor *y = nb_call(g, op, n, in, attrs);
	cr_expect_null(y, "%s [%s] should fail", op, attrs);
	cr_expect_eq(nb_graph_status(g), code, "%s [%s]: %s, want %s: %s", op,
	             attrs, nb_strerror(nb_graph_status(g)), nb_strerror(code),
	             nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), want) != NULL,
	          "%s [%s]: message '%s' lacks '%s'", op, attrs,
	          nb_graph_errmsg(g), want);
	cr_expect(strncmp(nb_graph_errmsg(g), op, strlen(op)) == 0,
	          "message '%s' does not name the op", nb_graph_errmsg(g));
	for (int i = 0; i < n; i++)
		nb_tensor_free(in[i]);
	nb_graph_free(g);
}

Test(norm, group_norm_num_groups_must_divide_channels)
{
	spec s[] = {IN(2, 4, 3), IN(4), IN(4)};
	expect_fail("group_norm", "num_groups=3", true, 3, s, NB_ESHAPE,
	            "num_groups = 3 must divide the number of channels C = 4");
	expect_fail("group_norm", "num_groups=0", true, 3, s, NB_EINVAL,
	            "'num_groups' = 0 is outside");
}

Test(norm, weight_and_statistics_shapes)
{
	spec bw[] = {IN(2, 3), IN(4), NONE, NONE, NONE, NONE};
	expect_fail("batch_norm", "", true, 6, bw, NB_ESHAPE,
	            "weight must have shape [C] = [3], not [4]");
	spec bb[] = {IN(2, 3, 5), NONE, IN(3, 1), NONE, NONE, NONE};
	expect_fail("batch_norm", "", true, 6, bb, NB_ESHAPE,
	            "bias must have shape [C] = [3], not [3, 1]");
	spec br[] = {IN(2, 3), NONE, NONE, IN(2), IN(3), NONE};
	expect_fail("batch_norm", "", false, 6, br, NB_ESHAPE,
	            "running_mean must have shape [C] = [3], not [2]");
	spec ir[] = {IN(2, 3, 4), NONE, NONE, IN(3), IN(4)};
	expect_fail("instance_norm", "", true, 5, ir, NB_ESHAPE,
	            "running_var must have shape [C] = [3], not [4]");
	spec gw[] = {IN(2, 4, 3), IN(2), IN(4)};
	expect_fail("group_norm", "num_groups=2", true, 3, gw, NB_ESHAPE,
	            "weight must have shape [C] = [4], not [2]");
	spec lw[] = {IN(2, 3, 4), IN(3), NONE};
	expect_fail("layer_norm", "", true, 3, lw, NB_ESHAPE,
	            "weight must have the normalized shape [4], not [3]");
	spec lb[] = {IN(2, 3, 4), NONE, IN(4)};
	expect_fail("layer_norm", "normalized_shape=3,4", true, 3, lb,
	            NB_ESHAPE, "bias must have the normalized shape [3, 4]");
	spec lx[] = {IN(2, 3, 4), NONE, NONE};
	expect_fail("layer_norm", "normalized_shape=2,4", true, 3, lx,
	            NB_ESHAPE, "normalized_shape [2, 4] does not match the "
	            "trailing dims");
	expect_fail("layer_norm", "normalized_shape=5,2,3,4", true, 3, lx,
	            NB_ESHAPE, "normalizes the last 4 dims, but the input has "
	            "rank 3");
}

Test(norm, one_value_per_channel_when_training)
{
	spec b[] = {IN(1, 3), IN(3), IN(3), NONE, NONE, NONE};
	expect_fail("batch_norm", "", true, 6, b, NB_ESHAPE,
	            "expected more than 1 value per channel when training");
	spec b4[] = {IN(1, 3, 1, 1), NONE, NONE, NONE, NONE, NONE};
	expect_fail("batch_norm", "", true, 6, b4, NB_ESHAPE,
	            "more than 1 value per channel");
	/* Evaluation without running statistics uses the batch's too. */
	expect_fail("batch_norm", "", false, 6, b4, NB_ESHAPE,
	            "more than 1 value per channel");
	spec i[] = {IN(4, 3, 1), NONE, NONE, NONE, NONE};
	expect_fail("instance_norm", "", true, 5, i, NB_ESHAPE,
	            "expected more than 1 spatial element when training");

	/* Evaluation with running statistics needs no batch statistics. */
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_full(NB_F32, NB_SHAPE(1, 3), 2.0);
	nb_tensor *rm = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_tensor *rv = nb_tensor_full(NB_F32, NB_SHAPE(3), 4.0);
	nb_graph_set_training(g, false);
	nb_tensor *y = nb_batch_norm(g, x, NULL, NULL, rm, rv, NULL, 0.1, 0);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_float_eq(nb_tensor_get(y, 1), 1.0, 1e-6);
	nb_tensor_free(x);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_graph_free(g);
}

Test(norm, rank_too_small)
{
	spec b[] = {IN(5), NONE, NONE, NONE, NONE, NONE};
	expect_fail("batch_norm", "", true, 6, b, NB_ESHAPE,
	            "expected an input of rank 2 or more ([N, C] or [N, C, "
	            "*spatial]), got rank 1");
	spec g[] = {IN(6), NONE, NONE};
	expect_fail("group_norm", "", true, 3, g, NB_ESHAPE,
	            "rank 2 or more");
	spec i[] = {IN(2, 3), NONE, NONE, NONE, NONE};
	expect_fail("instance_norm", "", true, 5, i, NB_ESHAPE,
	            "expected an input of rank 3 or more ([N, C, *spatial]");
	spec l[] = {IN0, NONE, NONE};
	expect_fail("layer_norm", "", true, 3, l, NB_ESHAPE,
	            "normalizes the last 1 dims, but the input has rank 0");
}

Test(norm, optional_inputs_and_attributes)
{
	spec rm_only[] = {IN(4, 3), NONE, NONE, IN(3), NONE, NONE};
	expect_fail("batch_norm", "", true, 6, rm_only, NB_EINVAL,
	            "running_mean and running_var must be given together");
	spec no_counter[] = {IN(4, 3), NONE, NONE, IN(3), IN(3), NONE};
	expect_fail("batch_norm", "momentum=none", true, 6, no_counter,
	            NB_EINVAL, "momentum=none (cumulative moving average) "
	            "needs the num_batches_tracked input");
	spec counter_alone[] = {IN(4, 3), NONE, NONE, NONE, NONE, IN0};
	counter_alone[5].dt = NB_I64;
	expect_fail("batch_norm", "", true, 6, counter_alone, NB_EINVAL,
	            "num_batches_tracked needs running_mean");
	spec counter2[] = {IN(4, 3), NONE, NONE, IN(3), IN(3), IN(2)};
	counter2[5].dt = NB_I64;
	expect_fail("batch_norm", "", true, 6, counter2, NB_ESHAPE,
	            "num_batches_tracked must hold one value, not 2");
	spec float_counter[] = {IN(4, 3), NONE, NONE, IN(3), IN(3), IN0};
	expect_fail("batch_norm", "", true, 6, float_counter, NB_EDTYPE,
	            "must be int64");
	spec mixed[] = {IN(4, 3), IN(3), NONE, NONE, NONE, NONE};
	mixed[1].dt = NB_F32;
	expect_fail("batch_norm", "", true, 6, mixed, NB_EDTYPE,
	            "mixed dtypes");
	spec ok[] = {IN(4, 3), NONE, NONE, NONE, NONE, NONE};
	expect_fail("batch_norm", "momentum=1.5", true, 6, ok, NB_EINVAL,
	            "'momentum' = 1.5 is outside [0, 1]");
	expect_fail("batch_norm", "eps=-1", true, 6, ok, NB_EINVAL,
	            "'eps' = -1 is outside");
	spec in_ok[] = {IN(2, 3, 4), NONE, NONE, NONE, NONE};
	expect_fail("instance_norm", "momentum=none", true, 5, in_ok,
	            NB_EINVAL, "'momentum' takes a number");
}

/* Float running statistics of another dtype than the input are fine. */
Test(norm, running_statistics_may_have_another_dtype)
{
	nb_rng r;
	nb_rng_seed(&r, 3);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(5, 2, 3), &r, 1, 2);
	nb_tensor *rm = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	nb_tensor *rv = nb_tensor_ones(NB_F32, NB_SHAPE(2));
	nb_tensor *rm64 = nb_tensor_zeros(NB_F64, NB_SHAPE(2));
	nb_tensor *rv64 = nb_tensor_ones(NB_F64, NB_SHAPE(2));
	cr_assert_not_null(nb_batch_norm(g, x, NULL, NULL, rm, rv, NULL, 0.1,
	                                 1e-5), "%s", nb_graph_errmsg(g));
	cr_assert_not_null(nb_batch_norm(g, x, NULL, NULL, rm64, rv64, NULL,
	                                 0.1, 1e-5));
	for (size_t i = 0; i < 2; i++) {
		cr_expect_float_eq(nb_tensor_get(rm, i), nb_tensor_get(rm64, i),
		                   1e-6);
		cr_expect_float_eq(nb_tensor_get(rv, i), nb_tensor_get(rv64, i),
		                   1e-6);
	}
	nb_tensor_free(x);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(rm64);
	nb_tensor_free(rv64);
	nb_graph_free(g);
}

/* ---- numerical stability ---- */

/* op on x with weight/bias of the right shape (ones, zeros+0.5) and a
 * fixed output gradient; the output and input and weight gradients. */
typedef struct run_out {
	nb_tensor *y, *dx, *dw, *db;
} run_out;

static nb_tensor *affine_like(const char *op, const nb_tensor *x,
                              double v)
{
	const int64_t *s = nb_tensor_shape(x);
	if (!strcmp(op, "layer_norm"))
		s += nb_tensor_ndim(x) - 1; /* the last dim */
	else
		s += 1;                     /* the channels */
	return nb_tensor_full(nb_tensor_dtype(x), 1, s, v);
}

static run_out run_op(nb_graph *g, const char *op, nb_tensor *x,
                      nb_tensor *w, nb_tensor *b, const nb_tensor *gout)
{
	const char *attrs = !strcmp(op, "group_norm") ? "num_groups=2" : "";
	int n = !strcmp(op, "batch_norm") ? 6
	      : !strcmp(op, "instance_norm") ? 5 : 3;
	nb_tensor *in[6] = {x, w, b, NULL, NULL, NULL};
	nb_tensor_zero_grad(x);
	nb_tensor_zero_grad(w);
	nb_tensor_zero_grad(b);
	run_out r = {nb_call(g, op, n, in, attrs), NULL, NULL, NULL};
	cr_assert_not_null(r.y, "%s: %s", op, nb_graph_errmsg(g));
	nb_tensor *go = nb_graph_tensor(g, nb_tensor_dtype(x),
	                                nb_tensor_ndim(x), nb_tensor_shape(x));
	for (size_t i = 0; i < nb_tensor_numel(go); i++)
		nb_tensor_set(go, i, nb_tensor_get(gout, i));
	cr_assert_eq(nb_backward(r.y, go), NB_OK, "%s", nb_last_error());
	r.dx = nb_tensor_grad(x);
	r.dw = nb_tensor_grad(w);
	r.db = nb_tensor_grad(b);
	return r;
}

static double max_diff(const nb_tensor *a, const nb_tensor *b)
{
	double m = 0;
	cr_assert_eq(nb_tensor_numel(a), nb_tensor_numel(b));
	for (size_t i = 0; i < nb_tensor_numel(a); i++) {
		double d = fabs(nb_tensor_get(a, i) - nb_tensor_get(b, i));
		m = d > m || isnan(d) ? d : m;
	}
	return m;
}

/*
 * Inputs 1e4 + N(0, 1).  The float32 result must agree with float64 on
 * the same (float32) values: a one-pass variance, E[x^2] - E[x]^2, is
 * off by about 1e8 * 2^-24 = 6 here, and x * scale + (beta - mean *
 * scale) by 1e4 * 2^-24 = 6e-4.
 */
Test(norm, large_mean_float32_agrees_with_float64)
{
	nb_rng r;
	nb_rng_seed(&r, 11);
	int64_t shape[] = {4, 4, 32};
	nb_tensor *x64 = nb_tensor_randn(NB_F64, 3, shape, &r, 1e4, 1);
	nb_tensor *x32 = nb_tensor_zeros(NB_F32, 3, shape);
	nb_tensor *go = nb_tensor_randn(NB_F64, 3, shape, &r, 0, 1);
	for (size_t i = 0; i < nb_tensor_numel(x64); i++) {
		nb_tensor_set(x32, i, nb_tensor_get(x64, i));
		nb_tensor_set(x64, i, nb_tensor_get(x32, i));
	}
	nb_tensor_set_requires_grad(x32, true);
	nb_tensor_set_requires_grad(x64, true);
	for (size_t k = 0; k < 4; k++) {
		const char *op = ops4[k];
		nb_graph *g32 = nb_graph_new(), *g64 = nb_graph_new();
		nb_tensor *w32 = affine_like(op, x32, 1.5);
		nb_tensor *b32 = affine_like(op, x32, 0.5);
		nb_tensor *w64 = affine_like(op, x64, 1.5);
		nb_tensor *b64 = affine_like(op, x64, 0.5);
		nb_tensor *ws[] = {w32, b32, w64, b64};
		for (int i = 0; i < 4; i++)
			nb_tensor_set_requires_grad(ws[i], true);
		run_out a = run_op(g32, op, x32, w32, b32, go);
		run_out e = run_op(g64, op, x64, w64, b64, go);
		cr_log_info("%s float32 - float64: y %.3g, dx %.3g, dw %.3g",
		            op, max_diff(a.y, e.y), max_diff(a.dx, e.dx),
		            max_diff(a.dw, e.dw));
		cr_expect_lt(max_diff(a.y, e.y), 2e-6, "%s output: %g", op,
		             max_diff(a.y, e.y));
		cr_expect_lt(max_diff(a.dx, e.dx), 2e-6, "%s dx: %g", op,
		             max_diff(a.dx, e.dx));
		cr_expect_lt(max_diff(a.dw, e.dw), 2e-5, "%s dweight: %g", op,
		             max_diff(a.dw, e.dw));
		/* Normalized: each group has mean 0.5 (beta) and std 1.5. */
		double s = 0, q = 0, n = (double)nb_tensor_numel(e.y);
		for (size_t i = 0; i < nb_tensor_numel(e.y); i++) {
			double v = nb_tensor_get(a.y, i) - 0.5;
			s += v;
			q += v * v;
		}
		cr_expect_lt(fabs(s / n), 1e-5, "%s: mean %g", op, s / n);
		cr_expect_lt(fabs(sqrt(q / n) - 1.5), 1e-3, "%s: std %g", op,
		             sqrt(q / n));
		for (int i = 0; i < 4; i++)
			nb_tensor_free(ws[i]);
		nb_graph_free(g32);
		nb_graph_free(g64);
	}
	nb_tensor_free(x32);
	nb_tensor_free(x64);
	nb_tensor_free(go);
}

/* The running variance of a large-mean batch is the batch's own. */
Test(norm, large_mean_running_variance)
{
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(64, 2, 8), &r, 1e4,
	                               2);
	nb_tensor *rm = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	nb_tensor *rv = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	cr_assert_not_null(nb_batch_norm(g, x, NULL, NULL, rm, rv, NULL, 1.0,
	                                 1e-5));
	for (size_t c = 0; c < 2; c++) {
		double s = 0, q = 0, M = 64 * 8;
		for (size_t n = 0; n < 64; n++)
			for (size_t i = 0; i < 8; i++)
				s += nb_tensor_get(x, n * 16 + c * 8 + i);
		for (size_t n = 0; n < 64; n++)
			for (size_t i = 0; i < 8; i++) {
				double d = nb_tensor_get(x, n * 16 + c * 8 + i);
				q += (d - s / M) * (d - s / M);
			}
		cr_expect_float_eq(nb_tensor_get(rm, c), s / M, 2e-3);
		cr_expect_float_eq(nb_tensor_get(rv, c), q / (M - 1),
		                   1e-4 * q / (M - 1));
	}
	nb_tensor_free(x);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_graph_free(g);
}

/*
 * A constant input: var = 0, so y = beta exactly, and with xhat = 0
 * dx = gamma / sqrt(eps) * (dy - mean(dy)) over the group, dgamma = 0.
 */
Test(norm, constant_input_is_finite_and_exact)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = d ? NB_F64 : NB_F32;
		for (size_t k = 0; k < 4; k++) {
			const char *op = ops4[k];
			nb_graph *g = nb_graph_new();
			int64_t shape[] = {3, 4, 5};
			nb_tensor *x = nb_tensor_full(dt, 3, shape, 3.7);
			nb_tensor *go = nb_tensor_zeros(NB_F64, 3, shape);
			for (size_t i = 0; i < 60; i++)
				nb_tensor_set(go, i, (double)(i % 7) - 3);
			nb_tensor *w = affine_like(op, x, 2.0);
			nb_tensor *b = affine_like(op, x, -0.25);
			nb_tensor_set_requires_grad(x, true);
			nb_tensor_set_requires_grad(w, true);
			nb_tensor_set_requires_grad(b, true);
			run_out o = run_op(g, op, x, w, b, go);
			for (size_t i = 0; i < 60; i++) {
				cr_expect_eq(nb_tensor_get(o.y, i), -0.25,
				             "%s %s: y[%zu] = %.17g", op,
				             nb_dtype_name(dt), i,
				             nb_tensor_get(o.y, i));
				cr_expect(isfinite(nb_tensor_get(o.dx, i)));
			}
			for (size_t i = 0; i < nb_tensor_numel(o.dw); i++)
				cr_expect_eq(nb_tensor_get(o.dw, i), 0.0,
				             "%s: dgamma %g", op,
				             nb_tensor_get(o.dw, i));
			/* batch_norm channel 0: (n, s) over n < 3, s < 5. */
			if (k == 0) {
				double mg = 0;
				for (size_t i = 0; i < 60; i++)
					if (i % 20 < 5) /* channel 0 */
						mg += nb_tensor_get(go, i);
				mg /= 15;
				double want = 2 / sqrt(1e-5) *
				              (nb_tensor_get(go, 0) - mg);
				cr_expect_float_eq(nb_tensor_get(o.dx, 0), want,
				                   1e-5 * fabs(want));
			}
			nb_tensor_free(x);
			nb_tensor_free(go);
			nb_tensor_free(w);
			nb_tensor_free(b);
			nb_graph_free(g);
		}
	}
}

/* Variance ~1e-18, far below eps: finite, and output ~ the tiny
 * deviations scaled by 1/sqrt(eps). */
Test(norm, near_constant_input_is_finite)
{
	nb_rng r;
	nb_rng_seed(&r, 9);
	for (size_t k = 0; k < 4; k++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(2, 4, 6), &r, 5,
		                               1e-9);
		nb_tensor *go = nb_tensor_randn(NB_F64, NB_SHAPE(2, 4, 6), &r,
		                                0, 1);
		nb_tensor *w = affine_like(ops4[k], x, 1.0);
		nb_tensor *b = affine_like(ops4[k], x, 0.0);
		nb_tensor_set_requires_grad(x, true);
		nb_tensor_set_requires_grad(w, true);
		run_out o = run_op(g, ops4[k], x, w, b, go);
		for (size_t i = 0; i < 48; i++) {
			double y = nb_tensor_get(o.y, i);
			cr_expect(isfinite(nb_tensor_get(o.dx, i)), "%s",
			          ops4[k]);
			cr_expect_lt(fabs(y), 1e-5, "%s: %g", ops4[k], y);
		}
		cr_expect(isfinite(nb_tensor_get(o.dw, 0)));
		nb_tensor_free(x);
		nb_tensor_free(go);
		nb_tensor_free(w);
		nb_tensor_free(b);
		nb_graph_free(g);
	}
}

/* ---- modes ---- */

/*
 * Evaluation mode: y = (x - rm) / sqrt(rv + eps) * w + b, the running
 * statistics untouched, and the gradient of that affine map.
 */
Test(norm, batch_norm_eval_uses_running_statistics)
{
	double xv[] = {1, 2, 3, 4, 5, 6, 7, 8}, gv[] = {1, -1, 2, 0.5, 3, 1,
	                                                -2, 4};
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(2, 2, 2), xv);
	nb_tensor *w = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){2, -1});
	nb_tensor *b = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){0.5, 1});
	nb_tensor *rm = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){1, -1});
	nb_tensor *rv = nbt_tensor(NB_F64, NB_SHAPE(2), (double[]){4, 0.25});
	nb_tensor *cnt = nb_tensor_zeros(NB_I64, 0, NULL);
	nb_tensor *ps[] = {x, w, b};
	for (int i = 0; i < 3; i++)
		nb_tensor_set_requires_grad(ps[i], true);
	nb_graph *g = nb_graph_new();
	nb_graph_set_training(g, false);
	nb_tensor *y = nb_batch_norm(g, x, w, b, rm, rv, cnt, NAN, 0);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_tensor *go = nb_graph_from_data(g, NB_F64, NB_SHAPE(2, 2, 2), gv);
	cr_assert_eq(nb_backward(y, go), NB_OK);
	double wy[8], wdx[8], wdw[2] = {0}, wdb[2] = {0};
	for (int i = 0; i < 8; i++) {
		int c = (i / 2) % 2;
		double m = c ? -1 : 1, is = c ? 2 : 0.5, gm = c ? -1 : 2;
		wy[i] = (xv[i] - m) * is * gm + (c ? 1 : 0.5);
		wdx[i] = gv[i] * gm * is;
		wdw[c] += gv[i] * (xv[i] - m) * is;
		wdb[c] += gv[i];
	}
	nbt_expect_close(y, wy, 8, 1e-12, 1e-12, "y");
	nbt_expect_close(nb_tensor_grad(x), wdx, 8, 1e-12, 1e-12, "dx");
	nbt_expect_close(nb_tensor_grad(w), wdw, 2, 1e-12, 1e-12, "dw");
	nbt_expect_close(nb_tensor_grad(b), wdb, 2, 1e-12, 1e-12, "db");
	nbt_expect_close(rm, (double[]){1, -1}, 2, 0, 0, "running_mean");
	nbt_expect_close(rv, (double[]){4, 0.25}, 2, 0, 0, "running_var");
	cr_expect_eq(nb_tensor_get(cnt, 0), 0, "eval must not count");
	nb_tensor *fr[] = {x, w, b, rm, rv, cnt};
	for (int i = 0; i < 6; i++)
		nb_tensor_free(fr[i]);
	nb_graph_free(g);
}

/* Without running statistics, evaluation mode normalizes with the
 * batch's, exactly as training mode does. */
Test(norm, untracked_eval_equals_training)
{
	nb_rng r;
	nb_rng_seed(&r, 1);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(3, 2, 4), &r, 0, 1);
	for (size_t k = 0; k < 2; k++) {
		nb_graph *ga = nb_graph_new(), *gb = nb_graph_new();
		nb_graph_set_training(gb, false);
		nb_tensor *in[] = {x, NULL, NULL, NULL, NULL, NULL};
		int n = k ? 5 : 6;
		nb_tensor *ya = nb_call(ga, ops4[k], n, in, NULL);
		nb_tensor *yb = nb_call(gb, ops4[k], n, in, NULL);
		cr_assert(ya && yb);
		cr_expect_eq(max_diff(ya, yb), 0.0, "%s", ops4[k]);
		nb_graph_free(ga);
		nb_graph_free(gb);
	}
	nb_tensor_free(x);
}

/* Running statistics are updated by every training forward, with grad
 * mode on or off, and backward accumulates into persistent gradients. */
Test(norm, no_grad_updates_statistics_and_backward_accumulates)
{
	nb_rng r;
	nb_rng_seed(&r, 2);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(4, 3), &r, 2, 1);
	nb_tensor *w = nb_tensor_ones(NB_F64, NB_SHAPE(3));
	nb_tensor *rm = nb_tensor_zeros(NB_F64, NB_SHAPE(3));
	nb_tensor *rv = nb_tensor_ones(NB_F64, NB_SHAPE(3));
	nb_tensor_set_requires_grad(w, true);
	nb_graph *g = nb_graph_new();
	nb_graph_set_grad_enabled(g, false);
	cr_assert_not_null(nb_batch_norm(g, x, w, NULL, rm, rv, NULL, 0.5,
	                                 1e-5));
	double m0 = nb_tensor_get(rm, 0);
	cr_expect_neq(m0, 0.0);
	nb_graph_set_grad_enabled(g, true);
	nb_tensor *go = nb_tensor_randn(NB_F64, NB_SHAPE(4, 3), &r, 0, 1);
	double first = 0;
	for (int rep = 0; rep < 2; rep++) {
		nb_graph_reset(g);
		nb_tensor *y = nb_batch_norm(g, x, w, NULL, rm, rv, NULL, 0.5,
		                             1e-5);
		cr_assert_not_null(y);
		cr_assert_eq(nb_backward(y, go), NB_OK);
		if (!rep)
			first = nb_tensor_get(nb_tensor_grad(w), 1);
	}
	cr_expect_float_eq(nb_tensor_get(nb_tensor_grad(w), 1), 2 * first,
	                   1e-12);
	/* Two more updates towards the same batch mean. */
	double bm = 0;
	for (int n = 0; n < 4; n++)
		bm += nb_tensor_get(x, (size_t)n * 3) / 4;
	cr_expect_float_eq(nb_tensor_get(rm, 0), bm + (m0 - bm) * 0.25,
	                   1e-12);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(go);
	nb_graph_free(g);
}

/* An empty batch: an empty result, statistics unchanged, but counted
 * (PyTorch's module counts every training forward). */
Test(norm, empty_batch)
{
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(0, 3, 2));
	nb_tensor *rm = nb_tensor_full(NB_F32, NB_SHAPE(3), 0.5);
	nb_tensor *rv = nb_tensor_full(NB_F32, NB_SHAPE(3), 2);
	nb_tensor *cnt = nb_tensor_zeros(NB_I64, 0, NULL);
	nb_tensor_set_requires_grad(x, true);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_batch_norm(g, x, NULL, NULL, rm, rv, cnt, NAN, 0);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_numel(y), 0);
	cr_expect_eq(nb_tensor_get(rm, 2), 0.5);
	cr_expect_eq(nb_tensor_get(rv, 2), 2.0);
	cr_expect_eq(nb_tensor_get(cnt, 0), 1.0);
	nb_tensor *go = nb_graph_tensor(g, NB_F32, NB_SHAPE(0, 3, 2));
	cr_expect_eq(nb_backward(y, go), NB_OK, "%s", nb_last_error());
	nb_tensor_free(x);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(cnt);
	nb_graph_free(g);
}

/* ---- the AVX2 and the baseline kernels ---- */

/* One normalization's output and gradients (x, weight, bias) as
 * doubles, on [11, 6, 9, 37]: runs of 333 (full blocks of lanes and a
 * tail), layer_norm over [6, 9, 37] (11 rows: a partial block of
 * rows). */
static double *run_isa(int which, nb_dtype dt, size_t *len)
{
	static const int64_t ln_shape[3] = {6, 9, 37};
	nb_rng r;
	nb_rng_seed(&r, 9);
	nb_tensor *x = nb_tensor_randn(dt, NB_SHAPE(11, 6, 9, 37), &r, 2, 3);
	nb_tensor *go = nb_tensor_randn(dt, NB_SHAPE(11, 6, 9, 37), &r, 0, 1);
	nb_tensor *w = which == 3
	    ? nb_tensor_randn(dt, NB_SHAPE(6, 9, 37), &r, 1, 0.2)
	    : nb_tensor_randn(dt, NB_SHAPE(6), &r, 1, 0.2);
	nb_tensor *b = nb_tensor_randn(dt, 1 + 2 * (which == 3),
	                               nb_tensor_shape(w), &r, 0, 0.2);
	nb_tensor *in[] = {x, w, b};
	for (int i = 0; i < 3; i++)
		nb_tensor_set_requires_grad(in[i], true);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = which == 0
	    ? nb_batch_norm(g, x, w, b, NULL, NULL, NULL, 0.1, 1e-5)
	    : which == 1 ? nb_group_norm(g, x, 3, w, b, 1e-5)
	    : which == 2 ? nb_instance_norm(g, x, w, b, NULL, NULL, 0.1, 1e-5)
	                 : nb_layer_norm(g, x, 3, ln_shape, w, b, 1e-5);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_last_error());
	size_t n = nb_tensor_numel(x), m = nb_tensor_numel(w), k = 0;
	*len = 2 * n + 2 * m;
	double *v = malloc(*len * sizeof *v);
	cr_assert_not_null(v);
	for (size_t i = 0; i < n; i++)
		v[k++] = nb_tensor_get(y, i);
	for (int t = 0; t < 3; t++)
		for (size_t i = 0; i < (t ? m : n); i++)
			v[k++] = nb_tensor_get(nb_tensor_grad(in[t]), i);
	nb_graph_free(g);
	for (int i = 0; i < 3; i++)
		nb_tensor_free(in[i]);
	nb_tensor_free(go);
	return v;
}

/*
 * The kernels are built for the baseline ISA and for AVX2 (chosen at
 * run time; NB_DISABLE_AVX2 forces the baseline): their sums have
 * lanes fixed by the code, so both give the same bits.  (Without AVX2,
 * both runs take the baseline kernels.)
 */
Test(norm, avx2_and_baseline_kernels_give_the_same_bits)
{
	for (int d = 0; d < 2; d++)
		for (int which = 0; which < 4; which++) {
			nb_dtype dt = d ? NB_F64 : NB_F32;
			size_t n1, n2;
			unsetenv("NB_DISABLE_AVX2");
			double *a = run_isa(which, dt, &n1);
			setenv("NB_DISABLE_AVX2", "1", 1);
			double *b = run_isa(which, dt, &n2);
			unsetenv("NB_DISABLE_AVX2");
			cr_assert_eq(n1, n2);
			size_t i = 0;
			while (i < n1 && !memcmp(&a[i], &b[i], sizeof *a))
				i++;
			cr_expect_eq(i, n1, "%s %s: value %zu differs: %.17g "
			             "vs %.17g", ops4[which], nb_dtype_name(dt),
			             i, i < n1 ? a[i] : 0, i < n1 ? b[i] : 0);
			free(a);
			free(b);
		}
}

/* ---- the typed wrappers ---- */

Test(norm, wrappers_match_the_registered_ops)
{
	nb_rng r;
	nb_rng_seed(&r, 4);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(2, 4, 3), &r, 0, 1);
	nb_tensor *w = nb_tensor_randn(NB_F64, NB_SHAPE(4), &r, 1, 0.1);
	nb_tensor *b = nb_tensor_randn(NB_F64, NB_SHAPE(4), &r, 0, 0.1);
	nb_tensor *w3 = nb_tensor_randn(NB_F64, NB_SHAPE(4, 3), &r, 1, 0.1);
	nb_graph *g = nb_graph_new();
	nb_tensor *in[] = {x, w, b, NULL, NULL, NULL};
	nb_tensor *lin[] = {x, w3, NULL};
	struct {
		nb_tensor *a, *b;
	} pairs[] = {
		{nb_batch_norm(g, x, w, b, NULL, NULL, NULL, 0.1, 1e-3),
		 nb_call(g, "batch_norm", 6, in, "eps=0.001")},
		{nb_instance_norm(g, x, w, b, NULL, NULL, 0.1, 1e-5),
		 nb_call(g, "instance_norm", 5, in, NULL)},
		{nb_group_norm(g, x, 2, w, b, 1e-5),
		 nb_call(g, "group_norm", 3, in, "num_groups=2")},
		{nb_layer_norm(g, x, 2, (const int64_t[]){4, 3}, w3, NULL,
		               1e-5),
		 nb_call(g, "layer_norm", 3, lin, "normalized_shape=4,3")},
	};
	for (int i = 0; i < 4; i++) {
		cr_assert(pairs[i].a && pairs[i].b, "%d: %s", i,
		          nb_graph_errmsg(g));
		cr_expect_eq(max_diff(pairs[i].a, pairs[i].b), 0.0, "%d", i);
	}
	/* Sticky errors: a NULL input fails and keeps the first error. */
	nb_graph_reset(g);
	cr_expect_null(nb_group_norm(g, x, 3, w, b, 1e-5));
	cr_expect_null(nb_batch_norm(g, NULL, w, b, NULL, NULL, NULL, 0.1,
	                             1e-5));
	cr_expect(strstr(nb_graph_errmsg(g), "num_groups = 3") != NULL, "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_layer_norm(g, x, 9, (const int64_t[9]){0}, NULL,
	                             NULL, 1e-5));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_tensor_free(w3);
	nb_graph_free(g);
}

Test(norm, registered_as_normalizations)
{
	for (size_t k = 0; k < 4; k++) {
		const nb_op *op = nb_op_find(ops4[k]);
		cr_assert_not_null(op, "%s", ops4[k]);
		cr_expect_eq(op->kind, NB_KIND_NORM);
		cr_expect_str_eq(nb_op_kind_name(op->kind), "normalization");
		/* Per-input definitions replace the old bit masks
		 * (issue 13); the roles say what a layer makes. */
		cr_assert_geq(op->n_inputs, 3, "%s", ops4[k]);
		cr_expect_eq(op->inputs[0].flags & NB_IN_OPTIONAL, 0,
		             "input is required");
		for (int i = 0; i < 3; i++)
			cr_expect_eq(op->inputs[i].flags & NB_IN_NONDIFF, 0,
			             "%s: input, weight, bias get gradients",
			             ops4[k]);
		cr_expect_eq(op->inputs[0].role, NB_ROLE_DATA, "%s", ops4[k]);
		cr_expect_eq(op->inputs[1].role, NB_ROLE_PARAM, "%s", ops4[k]);
		cr_expect_eq(op->inputs[2].role, NB_ROLE_PARAM, "%s", ops4[k]);
		cr_expect(op->flags & NB_OP_LAYER, "%s", ops4[k]);
	}
}

/* ---- rms_norm (issue 15) ---- */

/*
 * eps none (the default) is the dtype's machine epsilon, as PyTorch's
 * eps=None: with every x = sqrt(eps_machine), mean(x^2) = eps and y =
 * x / sqrt(2 eps) = 1/sqrt(2) in both dtypes (eps = 0 would give 1).
 */
Test(norm, rms_norm_default_eps_is_the_machine_epsilon)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = d ? NB_F64 : NB_F32;
		double e = d ? DBL_EPSILON : FLT_EPSILON;
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_full(dt, NB_SHAPE(2, 3), sqrt(e));
		nb_tensor *y = nb_rms_norm(g, x, 0, NULL, NULL, NAN);
		nb_tensor *z = nb_call(g, "rms_norm", 2, (nb_tensor *[]){x, NULL},
		                       "eps=0");
		cr_assert(y && z, "%s", nb_graph_errmsg(g));
		for (size_t i = 0; i < 6; i++) {
			cr_expect(fabs(nb_tensor_get(y, i) - sqrt(0.5)) < 1e-6,
			          "%s: y = %.9g", nb_dtype_name(dt),
			          nb_tensor_get(y, i));
			cr_expect(fabs(nb_tensor_get(z, i) - 1) < 1e-6);
		}
		nb_tensor_free(x);
		nb_graph_free(g);
	}
}

/* A spec layer: rms1.weight (ones, the features' shape), or none with
 * affine=0; forward and backward run. */
Test(norm, rms_norm_spec_layer)
{
	nb_model_opts o = {.dtype = NB_F64};
	nb_module *m = nb_model_parse("linear:4 rms_norm linear:3 "
	                              "rms_norm:affine=0,eps=1e-6 linear:2", 5,
	                              &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	const char *want[] = {"fc1.weight", "fc1.bias", "rms1.weight",
	                      "fc2.weight", "fc2.bias", "fc3.weight",
	                      "fc3.bias"};
	cr_assert_eq(n, sizeof want / sizeof *want);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(t[i].name, want[i]);
	nb_tensor *w = nb_module_tensor(m, "rms1.weight");
	cr_expect_eq(nb_tensor_numel(w), 4);
	cr_expect_eq(nb_tensor_get(w, 3), 1.0);
	cr_expect_str_eq(nb_module_name(nb_module_child(m, 3)), "rms2");
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(3, 5));
	for (size_t i = 0; i < 15; i++)
		nb_tensor_set(x, i, sin((double)i));
	nb_tensor *y = nb_sum(g, nb_module_forward(m, g, x), 0, NULL, false);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(y, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_expect_neq(nb_tensor_get(nb_tensor_grad(w), 0), 0.0);
	nb_graph_free(g);
	nb_module_free(m);
}

Test(norm, rms_norm_errors)
{
	expect_fail("rms_norm", "", false, 2,
	            (spec[]){{2, {3, 4}, true, NB_F64},
	                     {1, {3}, true, NB_F64}},
	            NB_ESHAPE, "weight must have the normalized shape [4], "
	            "not [3]");
	expect_fail("rms_norm", "normalized_shape=3,5", false, 2,
	            (spec[]){{2, {3, 4}, true, NB_F64}, NONE}, NB_ESHAPE,
	            "normalized_shape [3, 5] does not match");
	expect_fail("rms_norm", "normalized_shape=2,3,4", false, 2,
	            (spec[]){{2, {3, 4}, true, NB_F64}, NONE}, NB_ESHAPE,
	            "normalizes the last 3 dims, but the input has rank 2");
	expect_fail("rms_norm", "eps=-1", false, 2,
	            (spec[]){{2, {3, 4}, true, NB_F64}, NONE}, NB_EINVAL,
	            "eps");
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_ones(NB_F64, NB_SHAPE(3, 4));
	cr_expect_null(nb_rms_norm(g, x, 2, NULL, NULL, 1e-6));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL);
	cr_expect(strstr(nb_graph_errmsg(g), "rms_norm: bad normalized_shape"),
	          "%s", nb_graph_errmsg(g));
	nb_tensor_free(x);
	nb_graph_free(g);
}
