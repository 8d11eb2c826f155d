/*
 * test_init.c - initializers: moments and bounds against PyTorch's
 * formulas, orthogonality, determinism, fans, gains, schemes by name and
 * error paths.
 *
 * Statistical tolerances.  A 256 x 512 tensor has n = 131072 elements;
 * the sample std of n normal (or uniform) draws has a relative standard
 * error of about 1/sqrt(2n) = 0.2% (0.14% for uniform), and the sample
 * mean a standard error of std/sqrt(n) = 0.28% of std.  We accept the
 * std within 2% (about 10 standard errors: a correct initializer never
 * fails, a wrong factor such as sqrt(2) or 5/3 always does) and the mean
 * within 2% of std.
 */
#include "support/helpers.h"

#define ROWS 256
#define COLS 512

static nb_tensor *mat(nb_dtype dt, int64_t r, int64_t c)
{
	nb_tensor *t = nb_tensor_zeros(dt, NB_SHAPE(r, c));
	cr_assert_not_null(t, "%s", nb_last_error());
	return t;
}

static void moments(const nb_tensor *t, double *mean, double *std,
                    double *lo, double *hi)
{
	size_t n = nb_tensor_numel(t);
	double s = 0, ss = 0;
	*lo = INFINITY;
	*hi = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		double v = nb_tensor_get(t, i);
		s += v;
		*lo = fmin(*lo, v);
		*hi = fmax(*hi, v);
	}
	*mean = s / (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = nb_tensor_get(t, i) - *mean;
		ss += d * d;
	}
	*std = sqrt(ss / (double)n);
}

/* Normal-like: mean ~ want_mean and std within 2% of want_std. */
static void expect_normal(const nb_tensor *t, double want_mean,
                          double want_std, const char *what)
{
	double m, s, lo, hi;
	moments(t, &m, &s, &lo, &hi);
	cr_expect(fabs(s - want_std) <= 0.02 * want_std,
	          "%s: std %.6g, want %.6g (2%%)", what, s, want_std);
	cr_expect(fabs(m - want_mean) <= 0.02 * want_std,
	          "%s: mean %.6g, want %.6g", what, m, want_mean);
	/* A normal sample of this size reaches beyond 4 std, a uniform one
	 * never passes sqrt(3) std: this tells the two apart. */
	cr_expect(hi - want_mean > 4 * want_std, "%s: max %.6g is not "
	          "normal-tailed", what, hi);
}

/* Uniform on [-b, b): within bounds, std = b/sqrt(3) within 2%, and
 * the extremes close to the bounds. */
static void expect_uniform(const nb_tensor *t, double a, double b,
                           const char *what)
{
	double m, s, lo, hi;
	moments(t, &m, &s, &lo, &hi);
	double want = (b - a) / sqrt(12.0);
	cr_expect(lo >= a && hi < b, "%s: range [%.6g, %.6g] outside "
	          "[%.6g, %.6g)", what, lo, hi, a, b);
	cr_expect(lo < a + 0.001 * (b - a) && hi > b - 0.001 * (b - a),
	          "%s: range [%.6g, %.6g] does not fill [%.6g, %.6g)", what,
	          lo, hi, a, b);
	cr_expect(fabs(s - want) <= 0.02 * want, "%s: std %.6g, want %.6g",
	          what, s, want);
	cr_expect(fabs(m - (a + b) / 2) <= 0.02 * want, "%s: mean %.6g", what,
	          m);
}

static nb_rng seeded(uint64_t seed)
{
	nb_rng r;
	nb_rng_seed(&r, seed);
	return r;
}

Test(init, gains_are_pytorchs)
{
	static const struct { const char *nl; double p, want; } g[] = {
		{"linear", NAN, 1}, {"identity", NAN, 1}, {"conv2d", NAN, 1},
		{"conv_transpose3d", NAN, 1}, {"sigmoid", NAN, 1},
		{"tanh", NAN, 5.0 / 3.0}, {"relu", NAN, 1.4142135623730951},
		{"leaky_relu", NAN, 1.4141428569978354}, /* slope 0.01 */
		{"leaky_relu", 0.2, 1.3867504905630728},
		{"leaky_relu", 0, 1.4142135623730951}, {"selu", NAN, 0.75},
	};
	for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
		double v = -1;
		cr_expect_eq(nb_calculate_gain(g[i].nl, g[i].p, &v), NB_OK);
		cr_expect(fabs(v - g[i].want) < 1e-15, "%s(%g): %.17g, want "
		          "%.17g", g[i].nl, g[i].p, v, g[i].want);
	}
}

Test(init, unknown_nonlinearity_is_einval)
{
	double v = 7;
	cr_assert_eq(nb_calculate_gain("gelu", NAN, &v), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "unknown nonlinearity 'gelu'"),
	          "%s", nb_last_error());
	cr_expect_eq(v, 7, "gain written on error");
	cr_expect_eq(nb_calculate_gain(NULL, NAN, &v), NB_EINVAL);
	cr_expect_eq(nb_calculate_gain("leaky_relu", INFINITY, &v), NB_EINVAL);
}

Test(init, fans_of_linear_and_conv_weights)
{
	int64_t fi, fo;
	cr_assert_eq(nb_calculate_fans(NB_SHAPE(30, 20), &fi, &fo), NB_OK);
	cr_expect(fi == 20 && fo == 30, "linear: %lld %lld", (long long)fi,
	          (long long)fo);
	cr_assert_eq(nb_calculate_fans(NB_SHAPE(64, 32, 3, 3), &fi, &fo), NB_OK);
	cr_expect(fi == 32 * 9 && fo == 64 * 9, "conv2d: %lld %lld",
	          (long long)fi, (long long)fo);
	cr_assert_eq(nb_calculate_fans(NB_SHAPE(8, 4, 5), &fi, &fo), NB_OK);
	cr_expect(fi == 20 && fo == 40, "conv1d");
	cr_assert_eq(nb_calculate_fans(NB_SHAPE(8, 4, 2, 3, 5), &fi, &fo), NB_OK);
	cr_expect(fi == 120 && fo == 240, "conv3d");
	cr_expect_eq(nb_calculate_fans(NB_SHAPE(5), &fi, &fo), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "rank >= 2"), "%s", nb_last_error());
	cr_expect(strstr(nb_last_error(), "[5]"), "%s", nb_last_error());
}

Test(init, normal_and_uniform)
{
	nb_rng r = seeded(1);
	nb_tensor *t = mat(NB_F64, ROWS, COLS);
	cr_assert_eq(nb_init_normal(t, &r, 0.5, 0.01), NB_OK);
	expect_normal(t, 0.5, 0.01, "normal(0.5, 0.01)");
	cr_assert_eq(nb_init_uniform(t, &r, -0.3, 0.7), NB_OK);
	expect_uniform(t, -0.3, 0.7, "uniform(-0.3, 0.7)");
	cr_assert_eq(nb_init_constant(t, 2.5), NB_OK);
	cr_expect_eq(nb_tensor_get(t, 77), 2.5);
	cr_assert_eq(nb_init_zeros(t), NB_OK);
	cr_expect_eq(nb_tensor_get(t, 77), 0);
	nb_tensor_free(t);
}

Test(init, xavier_bounds_and_std)
{
	nb_rng r = seeded(2);
	nb_tensor *t = mat(NB_F64, ROWS, COLS);
	double gain = 5.0 / 3.0;
	double std = gain * sqrt(2.0 / (ROWS + COLS));
	cr_assert_eq(nb_init_xavier_uniform(t, &r, gain), NB_OK);
	expect_uniform(t, -sqrt(3.0) * std, sqrt(3.0) * std, "xavier_uniform");
	cr_assert_eq(nb_init_xavier_normal(t, &r, gain), NB_OK);
	expect_normal(t, 0, std, "xavier_normal");
	nb_tensor_free(t);
}

Test(init, xavier_on_a_conv_weight)
{
	nb_rng r = seeded(3);
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(64, 32, 8, 8));
	cr_assert_eq(nb_init_xavier_normal(t, &r, 1.0), NB_OK);
	expect_normal(t, 0, sqrt(2.0 / ((32 + 64) * 64)), "xavier conv");
	nb_tensor_free(t);
}

Test(init, kaiming_modes_and_nonlinearities)
{
	nb_rng r = seeded(4);
	nb_tensor *t = mat(NB_F64, ROWS, COLS); /* fan_in 512, fan_out 256 */
	cr_assert_eq(nb_init_kaiming_normal(t, &r, 0, NB_FAN_IN, "relu"), NB_OK);
	expect_normal(t, 0, sqrt(2.0 / COLS), "kaiming_normal relu fan_in");
	cr_assert_eq(nb_init_kaiming_normal(t, &r, 0, NB_FAN_OUT, "relu"),
	             NB_OK);
	expect_normal(t, 0, sqrt(2.0 / ROWS), "kaiming_normal relu fan_out");
	cr_assert_eq(nb_init_kaiming_uniform(t, &r, 0.2, NB_FAN_IN,
	                                     "leaky_relu"), NB_OK);
	double b = sqrt(3.0) * sqrt(2.0 / 1.04) / sqrt(COLS);
	expect_uniform(t, -b, b, "kaiming_uniform leaky_relu a=0.2");
	cr_assert_eq(nb_init_kaiming_normal(t, &r, 0, NB_FAN_IN, "tanh"), NB_OK);
	expect_normal(t, 0, 5.0 / 3.0 / sqrt(COLS), "kaiming_normal tanh");
	cr_assert_eq(nb_init_lecun_normal(t, &r), NB_OK);
	expect_normal(t, 0, 1.0 / sqrt(COLS), "lecun_normal");
	nb_tensor_free(t);
}

Test(init, notes_table_with_its_erratum)
{
	nb_rng r = seeded(5);
	nb_tensor *t = mat(NB_F64, ROWS, COLS);
	double u = sqrt(6.0 / (ROWS + COLS)), n = sqrt(2.0 / (ROWS + COLS));
	cr_assert_eq(nb_init_notes(t, &r, "sigmoid", false), NB_OK);
	expect_uniform(t, -u, u, "notes sigmoid");
	cr_assert_eq(nb_init_notes(t, &r, "tanh", false), NB_OK);
	expect_uniform(t, -4 * u, 4 * u, "notes tanh (factor 4, sic)");
	cr_assert_eq(nb_init_notes(t, &r, "relu", true), NB_OK);
	expect_normal(t, 0, sqrt(2.0) * n, "notes_normal relu");
	cr_assert_eq(nb_init_notes(t, &r, "tanh", true), NB_OK);
	expect_normal(t, 0, 4 * n, "notes_normal tanh");
	cr_expect_eq(nb_init_notes(t, &r, "elu", false), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "sigmoid, tanh and relu, not 'elu'"),
	          "%s", nb_last_error());
	nb_tensor_free(t);
}

/* max |(W W^T or W^T W) - gain^2 I| for a [rows, cols] view of t. */
static double ortho_error(const nb_tensor *t, double gain)
{
	int64_t rows = nb_tensor_dim(t, 0);
	int64_t cols = (int64_t)nb_tensor_numel(t) / rows;
	bool wide = rows <= cols;
	int64_t k = wide ? rows : cols, len = wide ? cols : rows;
	const double *w = nb_tensor_cdata(t);
	double err = 0;
	for (int64_t i = 0; i < k; i++)
		for (int64_t j = 0; j < k; j++) {
			double s = 0;
			for (int64_t l = 0; l < len; l++)
				s += wide ? w[i * cols + l] * w[j * cols + l]
				          : w[l * cols + i] * w[l * cols + j];
			err = fmax(err, fabs(s - (i == j ? gain * gain : 0)));
		}
	return err;
}

Test(init, orthogonal_rows_or_columns_are_orthonormal)
{
	static const int64_t shapes[][4] = {
		{64, 128}, {128, 64}, {50, 50}, {1, 9}, {16, 4, 3, 3},
	};
	static const int ndims[] = {2, 2, 2, 2, 4};
	for (size_t i = 0; i < sizeof ndims / sizeof *ndims; i++) {
		nb_rng r = seeded(6 + i);
		nb_tensor *t = nb_tensor_zeros(NB_F64, ndims[i], shapes[i]);
		cr_assert_eq(nb_init_orthogonal(t, &r, 1.0), NB_OK, "%s",
		             nb_last_error());
		double e = ortho_error(t, 1.0);
		cr_expect(e < 1e-6, "case %zu: max |W W^T - I| = %g", i, e);
		cr_assert_eq(nb_init_orthogonal(t, &r, 2.0), NB_OK);
		e = ortho_error(t, 2.0);
		cr_expect(e < 4e-6, "case %zu, gain 2: %g", i, e);
		nb_tensor_free(t);
	}
}

/*
 * The sign correction makes Q unique: for the tall case, R = Q^T A with
 * A the normal matrix drawn from the same seed must be upper triangular
 * with a positive diagonal (as PyTorch's q * sign(diag(r)) gives).
 */
Test(init, orthogonal_is_the_q_of_a_positive_diagonal_qr)
{
	enum { M = 40, N = 12 };
	nb_rng r = seeded(11), r2 = seeded(11);
	nb_tensor *q = mat(NB_F64, M, N);
	nb_tensor *a = nb_tensor_randn(NB_F64, NB_SHAPE(M, N), &r2, 0, 1);
	cr_assert_eq(nb_init_orthogonal(q, &r, 1.0), NB_OK);
	const double *qd = nb_tensor_cdata(q), *ad = nb_tensor_cdata(a);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			double s = 0;
			for (int l = 0; l < M; l++)
				s += qd[l * N + i] * ad[l * N + j];
			if (i > j)
				cr_expect(fabs(s) < 1e-10, "R[%d][%d] = %g", i, j, s);
			if (i == j)
				cr_expect(s > 0, "R[%d][%d] = %g is not positive", i,
				          j, s);
		}
	nb_tensor_free(q);
	nb_tensor_free(a);
}

Test(init, orthogonal_float32)
{
	nb_rng r = seeded(12);
	nb_tensor *t = mat(NB_F32, 32, 48);
	cr_assert_eq(nb_init_orthogonal(t, &r, 1.0), NB_OK);
	double err = 0;
	for (int i = 0; i < 32; i++) {
		double s = 0;
		for (int l = 0; l < 48; l++)
			s += nb_tensor_get(t, (size_t)(i * 48 + l)) *
			     nb_tensor_get(t, (size_t)(i * 48 + l));
		err = fmax(err, fabs(s - 1));
	}
	cr_expect(err < 1e-5, "float32 row norms off by %g", err);
	nb_tensor_free(t);
}

static bool same(const nb_tensor *a, const nb_tensor *b)
{
	return !memcmp(nb_tensor_cdata(a), nb_tensor_cdata(b),
	               nb_tensor_numel(a) * nb_dtype_size(nb_tensor_dtype(a)));
}

Test(init, a_seed_gives_the_same_weights)
{
	static const char *const specs[] = {
		"normal:0.01", "uniform:-1,1", "xavier_uniform", "xavier_normal",
		"kaiming_uniform", "kaiming_normal", "lecun_normal", "orthogonal",
		"notes", "notes_normal",
	};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		nb_tensor *a = mat(NB_F32, 20, 30), *b = mat(NB_F32, 20, 30);
		nb_tensor *c = mat(NB_F32, 20, 30);
		nb_rng r1 = seeded(42), r2 = seeded(42), r3 = seeded(43);
		cr_assert_eq(nb_init_apply(a, &r1, specs[i], "tanh"), NB_OK, "%s",
		             nb_last_error());
		cr_assert_eq(nb_init_apply(b, &r2, specs[i], "tanh"), NB_OK);
		cr_assert_eq(nb_init_apply(c, &r3, specs[i], "tanh"), NB_OK);
		cr_expect(same(a, b), "%s: seed 42 twice differs", specs[i]);
		cr_expect(!same(a, c), "%s: seeds 42 and 43 agree", specs[i]);
		nb_tensor_free(a);
		nb_tensor_free(b);
		nb_tensor_free(c);
	}
}

/* The documented stream: element i is mean + std * (i-th normal draw). */
Test(init, draws_are_the_documented_stream)
{
	nb_rng r = seeded(9), ref = seeded(9);
	nb_tensor *t = mat(NB_F64, 3, 5);
	cr_assert_eq(nb_init_xavier_normal(t, &r, 2.0), NB_OK);
	double std = 2.0 * sqrt(2.0 / 8);
	for (size_t i = 0; i < 15; i++)
		cr_expect_eq(nb_tensor_get(t, i), std * nb_rng_normal(&ref));
	cr_assert_eq(nb_init_uniform(t, &r, -2, 3), NB_OK);
	for (size_t i = 0; i < 15; i++)
		cr_expect_eq(nb_tensor_get(t, i), -2 + 5 * nb_rng_uniform(&ref));
	nb_tensor_free(t);
}

Test(init, schemes_by_name_match_the_functions)
{
	static const struct { const char *spec, *nl; int fn; double x; } c[] = {
		{"normal:0.01", NULL, 0, 0.01},
		{"normal:std=0.5,mean=0", NULL, 0, 0.5},
		{"xavier_normal", NULL, 1, 1.0},
		{"xavier_normal:auto", "tanh", 1, 5.0 / 3.0},
		{"xavier_normal:gain=2", NULL, 1, 2.0},
		{"kaiming_normal", NULL, 2, 0},
		{"kaiming_normal:nonlinearity=auto", "relu", 3, 0},
		{"orthogonal:auto", "relu", 4, 1.4142135623730951},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		nb_tensor *a = mat(NB_F64, 12, 10), *b = mat(NB_F64, 12, 10);
		nb_rng r1 = seeded(i), r2 = seeded(i);
		cr_assert_eq(nb_init_apply(a, &r1, c[i].spec, c[i].nl), NB_OK,
		             "%s: %s", c[i].spec, nb_last_error());
		switch (c[i].fn) {
		case 0: nb_init_normal(b, &r2, 0, c[i].x); break;
		case 1: nb_init_xavier_normal(b, &r2, c[i].x); break;
		case 2: nb_init_kaiming_normal(b, &r2, 0, NB_FAN_IN, "leaky_relu");
			break;
		case 3: nb_init_kaiming_normal(b, &r2, 0, NB_FAN_IN, "relu"); break;
		case 4: nb_init_orthogonal(b, &r2, c[i].x); break;
		}
		cr_expect(same(a, b), "'%s' differs from the function", c[i].spec);
		nb_tensor_free(a);
		nb_tensor_free(b);
	}
}

Test(init, scheme_arguments)
{
	nb_rng r = seeded(13);
	nb_tensor *t = mat(NB_F64, ROWS, COLS);
	cr_assert_eq(nb_init_apply(t, &r, "uniform:0.5", NULL), NB_OK);
	expect_uniform(t, -0.5, 0.5, "uniform:0.5");
	cr_assert_eq(nb_init_apply(t, &r, "uniform:1,3", NULL), NB_OK);
	expect_uniform(t, 1, 3, "uniform:1,3");
	cr_assert_eq(nb_init_apply(t, &r, "constant:-1.5", NULL), NB_OK);
	cr_expect_eq(nb_tensor_get(t, 3), -1.5);
	cr_assert_eq(nb_init_apply(t, &r, "kaiming_uniform:a=0.2,mode=fan_out,"
	                           "nonlinearity=leaky_relu", NULL), NB_OK);
	double b = sqrt(3.0) * sqrt(2.0 / 1.04) / sqrt(ROWS);
	expect_uniform(t, -b, b, "kaiming_uniform by name");
	cr_assert_eq(nb_init_apply(t, &r, "notes", "relu"), NB_OK);
	b = sqrt(2.0) * sqrt(6.0 / (ROWS + COLS));
	expect_uniform(t, -b, b, "notes relu by name");
	nb_tensor_free(t);
}

/* A failing call returns its code, says why, and leaves t unchanged. */
static void expect_fail(nb_tensor *t, nb_status st, const char *needle,
                        nb_status got, const char *what)
{
	cr_expect_eq(got, st, "%s: status %s, want %s", what,
	             nb_strerror(got), nb_strerror(st));
	cr_expect(strstr(nb_last_error(), needle), "%s: message '%s' lacks "
	          "'%s'", what, nb_last_error(), needle);
	if (t)
		for (size_t i = 0; i < nb_tensor_numel(t); i++)
			cr_expect_eq(nb_tensor_get(t, i), 1.0, "%s: tensor changed",
			             what);
}

Test(init, error_paths)
{
	nb_rng r = seeded(14);
	nb_tensor *v = nb_tensor_ones(NB_F64, NB_SHAPE(6));
	nb_tensor *m = nb_tensor_ones(NB_F32, NB_SHAPE(4, 3));
	nb_tensor *ix = nb_tensor_zeros(NB_I64, NB_SHAPE(4, 3));
	expect_fail(v, NB_EINVAL, "rank >= 2", nb_init_xavier_uniform(v, &r, 1),
	            "xavier 1-D");
	cr_expect(strstr(nb_last_error(), "xavier_uniform"), "%s",
	          nb_last_error());
	expect_fail(v, NB_EINVAL, "rank >= 2",
	            nb_init_kaiming_normal(v, &r, 0, NB_FAN_IN, "relu"),
	            "kaiming 1-D");
	expect_fail(v, NB_EINVAL, "rank >= 2", nb_init_orthogonal(v, &r, 1),
	            "orthogonal 1-D");
	expect_fail(m, NB_EINVAL, "std -0.1", nb_init_normal(m, &r, 0, -0.1),
	            "negative std");
	expect_fail(m, NB_EINVAL, "a <= b", nb_init_uniform(m, &r, 1, 0),
	            "uniform a > b");
	expect_fail(m, NB_EINVAL, "gain -1", nb_init_xavier_normal(m, &r, -1),
	            "negative gain");
	expect_fail(m, NB_EINVAL, "unknown nonlinearity 'swish'",
	            nb_init_kaiming_normal(m, &r, 0, NB_FAN_IN, "swish"),
	            "unknown nonlinearity");
	expect_fail(m, NB_EINVAL, "neither", nb_init_kaiming_normal(m, &r, 0,
	            (nb_fan_mode)7, "relu"), "bad mode");
	expect_fail(m, NB_EINVAL, "generator is NULL",
	            nb_init_normal(m, NULL, 0, 1), "no generator");
	expect_fail(NULL, NB_EDTYPE, "int64", nb_init_normal(ix, &r, 0, 1),
	            "int64 tensor");
	expect_fail(NULL, NB_EINVAL, "NULL", nb_init_zeros(NULL), "NULL");
	expect_fail(m, NB_EINVAL, "not finite", nb_init_constant(m, NAN),
	            "NaN constant");
	nb_tensor_free(v);
	nb_tensor_free(m);
	nb_tensor_free(ix);
}

Test(init, a_graph_tensor_is_refused)
{
	nb_rng r = seeded(15);
	nb_graph *g = nb_graph_new();
	nb_tensor *t = nb_graph_tensor(g, NB_F32, NB_SHAPE(3, 3));
	expect_fail(NULL, NB_EINVAL, "persistent", nb_init_normal(t, &r, 0, 1),
	            "graph tensor");
	nb_graph_free(g);
}

Test(init, scheme_errors)
{
	static const struct { const char *spec, *nl; nb_status st;
	                      const char *needle; } c[] = {
		{"gaussian", NULL, NB_EINVAL, "unknown scheme 'gaussian'"},
		{"normal:abc", NULL, NB_EFORMAT, "std 'abc' is not a number"},
		{"normal:0.1,0.2", NULL, NB_EFORMAT, "unexpected argument '0.2'"},
		{"normal:-1", NULL, NB_EINVAL, "std -1"},
		{"zeros:1", NULL, NB_EFORMAT, "unexpected argument '1'"},
		{"constant", NULL, NB_EFORMAT, "needs a value"},
		{"xavier_normal:auto", NULL, NB_EINVAL, "needs the nonlinearity"},
		{"xavier_normal:auto", "gelu", NB_EINVAL, "unknown nonlinearity"},
		{"kaiming_normal:mode=fan_both", NULL, NB_EINVAL, "fan_both"},
		{"kaiming_normal:nonlinearity=swish", NULL, NB_EINVAL, "swish"},
		{"kaiming_normal:foo=1", NULL, NB_EFORMAT, "'foo=1'"},
		{"notes", "gelu", NB_EINVAL, "not 'gelu'"},
		{"notes", NULL, NB_EINVAL, "not '(none)'"},
		{"normal:", NULL, NB_OK, ""},
		{"normal:0.1,", NULL, NB_EFORMAT, "trailing ','"},
		{"normal:std=", NULL, NB_EFORMAT, "empty argument"},
		{"uniform:1,2,3,4,5", NULL, NB_EFORMAT, "more than 4"},
	};
	nb_rng r = seeded(16);
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		nb_tensor *m = nb_tensor_ones(NB_F64, NB_SHAPE(4, 3));
		nb_status st = nb_init_apply(m, &r, c[i].spec, c[i].nl);
		if (c[i].st == NB_OK) {
			cr_expect_eq(st, NB_OK, "'%s': %s", c[i].spec,
			             nb_last_error());
		} else {
			expect_fail(m, c[i].st, c[i].needle, st, c[i].spec);
		}
		nb_tensor_free(m);
	}
	expect_fail(NULL, NB_EINVAL, "NULL", nb_init_apply(NULL, &r, NULL, NULL),
	            "NULL spec");
}

Test(init, empty_weights_are_fine)
{
	nb_rng r = seeded(17);
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(0, 5));
	cr_expect_eq(nb_init_xavier_normal(t, &r, 1), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(nb_init_kaiming_uniform(t, &r, 0, NB_FAN_IN, "relu"), NB_OK);
	cr_expect_eq(nb_init_orthogonal(t, &r, 1), NB_OK);
	nb_tensor_free(t);
}

static void *no_malloc(size_t n)
{
	(void)n;
	return NULL;
}

/* orthogonal's work space is the one allocation an initializer makes:
 * its failure is NB_ENOMEM, nothing drawn, the tensor unchanged. */
Test(init, orthogonal_out_of_memory)
{
	nb_rng r = seeded(18), before = r;
	nb_tensor *t = nb_tensor_ones(NB_F64, NB_SHAPE(4, 6));
	nb_set_alloc_funcs(no_malloc, NULL, NULL);
	nb_status st = nb_init_orthogonal(t, &r, 1.0);
	nb_set_alloc_funcs(NULL, NULL, NULL);
	expect_fail(t, NB_ENOMEM, "out of memory", st, "orthogonal ENOMEM");
	/* field by field: memcmp would read the struct's padding */
	cr_expect(!memcmp(r.s, before.s, sizeof r.s) &&
	          r.has_spare == before.has_spare &&
	          (!r.has_spare || r.spare == before.spare),
	          "generator advanced");
	nb_tensor_free(t);
}
