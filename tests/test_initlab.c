/*
 * test_initlab.c - the initialization study (tools/initlab.c) against an
 * independent computation: tests/ref/initlab_ref.py replays the same network
 * from nabla's documented generator with NumPy in float64 (forward and
 * an analytic backward) and wrote tests/ref/initlab_ref.json.
 *
 * Tolerances.  float64: both sides compute the same sums in different
 * orders (BLAS vs NumPy), so statistics agree to ~1e-12 relative; we
 * accept 1e-9 relative (plus 1e-15 absolute for means near 0).
 * Percentages (saturated, zero, dead) count elements against exact
 * thresholds; a value within rounding of a threshold could flip, so we
 * accept 0.01 percentage points (under one element of the smallest
 * layer: 100 / (200 * 30) = 0.017).
 * float32: the same weights rounded to float32; means and stds within
 * 1e-3 relative (+1e-6 of the std for means), percentages within 0.5
 * points.  Gradient norms are compared in float64 only: in float32,
 * tanh(z) rounds to exactly 1 for z > 9, which zeroes the derivatives of
 * the saturated cases.
 */
#include <jansson.h>
#include "support/helpers.h"
#include "initlab.h"

static json_t *ref;

static void load_ref(void)
{
	char path[1024];
	json_error_t e;
	snprintf(path, sizeof path, "%s/tests/ref/initlab_ref.json", nbt_srcdir());
	ref = json_load_file(path, 0, &e);
	cr_assert_not_null(ref, "%s: %s (line %d)", path, e.text, e.line);
}

static void free_ref(void)
{
	json_decref(ref);
}

static il_config ref_config(const json_t *c, nb_dtype dt)
{
	il_config cfg;
	il_config_default(&cfg);
	const json_t *sizes = json_object_get(ref, "sizes");
	cfg.n_layers = (int)json_array_size(sizes) - 1;
	for (size_t i = 0; i < json_array_size(sizes); i++)
		cfg.sizes[i] = json_integer_value(json_array_get(sizes, i));
	cfg.batch = json_integer_value(json_object_get(ref, "batch"));
	cfg.seed = (uint64_t)json_integer_value(json_object_get(ref, "seed"));
	cfg.dtype = dt;
	snprintf(cfg.act, sizeof cfg.act, "%s",
	         json_string_value(json_object_get(c, "act")));
	snprintf(cfg.init, sizeof cfg.init, "%s",
	         json_string_value(json_object_get(c, "init")));
	const char *norm = json_string_value(json_object_get(c, "norm"));
	for (int k = 0; norm && k <= IL_NORM_GROUP; k++)
		if (!strcmp(norm, il_norm_name((il_norm)k)))
			cfg.norm = (il_norm)k;
	cfg.groups = (int)json_integer_value(json_object_get(c, "groups"));
	return cfg;
}

static double num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_null(v) ? NAN : json_number_value(v);
}

static void close_to(double got, double want, double rtol, double atol,
                     const char *what, const il_config *c, int layer)
{
	if (isnan(want)) {
		cr_expect(isnan(got), "%s %s layer %d %s: %g, want none", c->act,
		          c->init, layer, what, got);
		return;
	}
	cr_expect(fabs(got - want) <= atol + rtol * fabs(want),
	          "%s %s norm %s (%s) layer %d %s: %.12g, want %.12g", c->act,
	          c->init, il_norm_name(c->norm), nb_dtype_name(c->dtype), layer,
	          what, got, want);
}

static void compare(nb_dtype dt)
{
	const json_t *cases = json_object_get(ref, "cases");
	cr_assert(json_array_size(cases) >= 6, "reference has %zu cases",
	          json_array_size(cases));
	bool f64 = dt == NB_F64;
	double rtol = f64 ? 1e-9 : 1e-3, pp = f64 ? 0.01 : 0.5;
	for (size_t k = 0; k < json_array_size(cases); k++) {
		const json_t *c = json_array_get(cases, k);
		il_config cfg = ref_config(c, dt);
		il_run run;
		char err[512];
		cr_assert_eq(il_run_study(&cfg, &run, err, sizeof err), NB_OK,
		             "%s %s norm %s: %s", cfg.act, cfg.init,
		             il_norm_name(cfg.norm), err);
		const json_t *layers = json_object_get(c, "layers");
		cr_assert_eq(json_array_size(layers), (size_t)run.n_layers);
		if (f64)
			close_to(run.loss, num(c, "loss"), rtol, 0, "loss", &cfg, 0);
		for (int i = 0; i < run.n_layers; i++) {
			const json_t *w = json_array_get(layers, (size_t)i);
			const il_layer *L = &run.layer[i];
			close_to(L->std, num(w, "std"), rtol, 0, "std", &cfg, i + 1);
			close_to(L->pre_std, num(w, "pre_std"), rtol, 0, "pre_std",
			         &cfg, i + 1);
			close_to(L->mean, num(w, "mean"), rtol,
			         f64 ? 1e-15 : 1e-6 * num(w, "std"), "mean", &cfg, i + 1);
			close_to(L->pre_mean, num(w, "pre_mean"), rtol,
			         f64 ? 1e-15 : 1e-6 * num(w, "pre_std"), "pre_mean",
			         &cfg, i + 1);
			close_to(L->saturated, num(w, "saturated_pct"), 0, pp,
			         "saturated %", &cfg, i + 1);
			close_to(L->zero, num(w, "zero_pct"), 0, pp, "zero %", &cfg,
			         i + 1);
			close_to(L->dead, num(w, "dead_pct"), 0, pp, "dead %", &cfg,
			         i + 1);
			if (f64)
				close_to(L->grad_norm, num(w, "grad_norm"), rtol, 0,
				         "grad norm", &cfg, i + 1);
		}
	}
}

Test(initlab, matches_numpy_in_float64, .init = load_ref, .fini = free_ref)
{
	compare(NB_F64);
}

Test(initlab, matches_numpy_in_float32, .init = load_ref, .fini = free_ref)
{
	compare(NB_F32);
}

/* The histogram counts every finite activation once; a bounded
 * activation's histogram spans its limits. */
Test(initlab, histograms_and_ratios)
{
	il_config c;
	il_run r;
	char err[256];
	il_config_default(&c);
	c.batch = 50;
	c.n_layers = 3;
	c.sizes[0] = 20, c.sizes[1] = 15, c.sizes[2] = 10, c.sizes[3] = 5;
	strcpy(c.init, "xavier_normal");
	cr_assert_eq(il_run_study(&c, &r, err, sizeof err), NB_OK, "%s", err);
	for (int i = 0; i < 3; i++) {
		uint64_t n = 0;
		for (int b = 0; b < IL_BINS; b++)
			n += r.layer[i].hist[b];
		cr_expect_eq(n, (uint64_t)(50 * c.sizes[i + 1]), "layer %d", i);
		cr_expect(r.layer[i].lo == -1 && r.layer[i].hi == 1);
	}
	cr_expect_float_eq(r.layer[2].grad_ratio, 1.0, 1e-15);
	cr_expect_float_eq(r.std_ratio, r.layer[2].std / r.layer[0].std, 1e-15);
	c.data_range = true;
	cr_assert_eq(il_run_study(&c, &r, err, sizeof err), NB_OK, "%s", err);
	cr_expect(r.layer[0].lo > -1 && r.layer[0].hi < 1, "data range");
}

/* The verdicts of the notes' cases on a small network. */
Test(initlab, verdicts)
{
	static const struct { const char *act, *init, *verdict; } v[] = {
		{"tanh", "normal:0.01", "vanishing"},
		{"tanh", "normal:1", "saturated"},
		{"tanh", "xavier_normal", "healthy"},
		{"relu", "kaiming_normal", "healthy"},
		{"relu", "normal:1", "exploding"},
	};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		il_config c;
		il_run r;
		char err[256];
		il_config_default(&c);
		c.batch = 200;
		c.n_layers = 6;
		for (int k = 0; k <= 6; k++)
			c.sizes[k] = 100 - 10 * k;
		strcpy(c.act, v[i].act);
		strcpy(c.init, v[i].init);
		cr_assert_eq(il_run_study(&c, &r, err, sizeof err), NB_OK, "%s",
		             err);
		cr_expect_str_eq(r.verdict, v[i].verdict, "%s %s: %s (%s)",
		                 v[i].act, v[i].init, r.verdict, r.why);
	}
}

Test(initlab, errors_name_the_cause)
{
	il_config c;
	il_run r;
	char err[256];
	il_config_default(&c);
	c.batch = 4;
	c.n_layers = 1;
	c.sizes[0] = 3, c.sizes[1] = 2;
	strcpy(c.act, "no_such_act");
	cr_expect_eq(il_run_study(&c, &r, err, sizeof err), NB_ENOTFOUND);
	cr_expect(strstr(err, "unknown activation 'no_such_act'"), "%s", err);
	strcpy(c.act, "sum");
	cr_expect_eq(il_run_study(&c, &r, err, sizeof err), NB_ENOTFOUND);
	cr_expect(strstr(err, "not an activation"), "%s", err);
	strcpy(c.act, "relu");
	strcpy(c.init, "gaussian");
	cr_expect_eq(il_run_study(&c, &r, err, sizeof err), NB_EINVAL);
	cr_expect(strstr(err, "unknown scheme 'gaussian'"), "%s", err);
}

/* Allocation-failure sweep: make the n-th allocation fail, for every n
 * the run makes; the study must report an error (or succeed when n is
 * past the last allocation), never crash, and leak nothing (checked
 * under the sanitizer build). */
static long budget;

static void *counted_malloc(size_t n)
{
	return budget-- > 0 ? malloc(n) : NULL;
}

static void *counted_realloc(void *p, size_t n)
{
	return budget-- > 0 ? realloc(p, n) : NULL;
}

Test(initlab, every_allocation_failure_is_an_error)
{
	il_config c;
	il_run r;
	char err[256];
	il_config_default(&c);
	c.batch = 6;
	c.n_layers = 2;
	c.sizes[0] = 5, c.sizes[1] = 4, c.sizes[2] = 3;
	c.norm = IL_NORM_BATCH;
	cr_assert_eq(il_run_study(&c, &r, err, sizeof err), NB_OK, "%s", err);
	int failures = 0;
	for (long n = 0; n < 10000; n++) {
		budget = n;
		nb_set_alloc_funcs(counted_malloc, counted_realloc, NULL);
		nb_status st = il_run_study(&c, &r, err, sizeof err);
		nb_set_alloc_funcs(NULL, NULL, NULL);
		if (st == NB_OK && budget >= 0)
			break; /* n is past the last allocation */
		cr_expect_neq(st, NB_OK, "allocation %ld failed unnoticed", n);
		cr_expect(err[0], "allocation %ld: no message", n);
		failures++;
	}
	cr_expect_gt(failures, 5, "the sweep reached %d allocations", failures);
	cr_log_info("%d allocation failures reported", failures);
}
