/*
 * test_reference.c - every op's forward values, input gradients and
 * state (running statistics) against the PyTorch reference files in
 * tests/ref/ (written by tests/ref/gen_ref.py; PyTorch is not needed here).
 *
 * Tolerances are PyTorch's assert_close defaults widened for summation
 * order: float32 atol 1e-5 rtol 1e-4, float64 atol 1e-9 rtol 1e-7.
 */
#include <dirent.h>
#include <jansson.h>
#include "support/helpers.h"

static nb_dtype dtype_of(const char *s)
{
	return !strcmp(s, "float32") ? NB_F32
	     : !strcmp(s, "float64") ? NB_F64
	     : !strcmp(s, "bool") ? NB_BOOL : NB_I64;
}

static int shape_of(json_t *o, int64_t *shape)
{
	json_t *s = json_object_get(o, "shape");
	size_t i;
	json_t *v;
	json_array_foreach(s, i, v)
		shape[i] = json_integer_value(v);
	return (int)json_array_size(s);
}

static nb_tensor *tensor_of(json_t *o, nb_dtype dt)
{
	int64_t shape[NB_MAX_DIMS];
	int nd = shape_of(o, shape);
	nb_tensor *t = nb_tensor_zeros(dt, nd, shape);
	cr_assert_not_null(t);
	json_t *data = json_object_get(o, "data");
	size_t i;
	json_t *v;
	json_array_foreach(data, i, v)
		nb_tensor_set(t, i, json_number_value(v));
	return t;
}

/* Compares t with the reference o; returns the number of mismatches. */
static int compare(const char *cname, const char *what, const nb_tensor *t,
                   json_t *o, double atol, double rtol)
{
	json_t *data = json_object_get(o, "data");
	int64_t shape[NB_MAX_DIMS];
	int nd = shape_of(o, shape), bad = 0;
	if (!t) {
		cr_log_error("%s: %s missing", cname, what);
		return 1;
	}
	json_t *jdt = json_object_get(o, "dtype");
	if (json_is_string(jdt) && strcmp(nb_dtype_name(nb_tensor_dtype(t)),
	                                  json_string_value(jdt))) {
		cr_log_error("%s: %s is %s, want %s", cname, what,
		             nb_dtype_name(nb_tensor_dtype(t)),
		             json_string_value(jdt));
		return 1;
	}
	if (nb_tensor_numel(t) != json_array_size(data) ||
	    nb_tensor_ndim(t) != nd) {
		cr_log_error("%s: %s has rank %d and %zu elements, want %d and "
		             "%zu", cname, what, nb_tensor_ndim(t),
		             nb_tensor_numel(t), nd, json_array_size(data));
		return 1;
	}
	for (size_t i = 0; i < nb_tensor_numel(t); i++) {
		double want = json_number_value(json_array_get(data, i));
		double got = nb_tensor_get(t, i);
		if (!(fabs(got - want) <= atol + rtol * fabs(want)) &&
		    !(isnan(got) && isnan(want))) {
			if (bad++ < 3)
				cr_log_error("%s: %s[%zu] = %.10g, want %.10g", cname,
				             what, i, got, want);
		}
	}
	return bad;
}

static int compare_grads(const char *cname, json_t *c, int n_in,
                         nb_tensor *const *in, double atol, double rtol)
{
	json_t *grads = json_object_get(c, "grads");
	int bad = 0;
	for (int i = 0; i < n_in; i++) {
		json_t *gr = json_array_get(grads, (size_t)i);
		char what[32];
		snprintf(what, sizeof what, "grad of input %d", i);
		if (gr && !json_is_null(gr))
			bad += compare(cname, what, nb_tensor_grad(in[i]), gr,
			               atol, rtol);
	}
	return bad;
}

/*
 * An op with several results (split, topk): each is compared, then the
 * gradient of sum_k <result_k, grad_output_k> over the float results,
 * built from nabla's own mul, sum and add, reaches the inputs.
 */
static int run_multi(const char *cname, nb_graph *g, const char *name,
                     int n_in, nb_tensor *const *in, const char *attrs,
                     json_t *c, double atol, double rtol)
{
	const nb_op *op = nb_op_find(name);
	json_t *jouts = json_object_get(c, "outputs");
	json_t *jgos = json_object_get(c, "grad_outputs");
	int want = (int)json_array_size(jouts), bad = 0;
	cr_assert_not_null(op, "%s: no op '%s'", cname, name);
	cr_assert_leq(want, NB_MAX_OUTPUTS);
	void *a = calloc(1, op->attrs_size + 1);
	cr_assert_not_null(a);
	cr_assert_eq(nb_attrs_parse(op, attrs, a), NB_OK, "%s: %s", cname,
	             nb_last_error());
	nb_tensor *outs[NB_MAX_OUTPUTS];
	int n = nb_apply_multi(g, op, n_in, in, a, outs, NB_MAX_OUTPUTS);
	free(a);
	if (n < 0) {
		cr_log_error("%s: %s", cname, nb_graph_errmsg(g));
		return 1;
	}
	if (n != want) {
		cr_log_error("%s: %d results, want %d", cname, n, want);
		return 1;
	}
	nb_tensor *loss = NULL, *gos[NB_MAX_OUTPUTS] = {0};
	for (int k = 0; k < n; k++) {
		char what[32];
		snprintf(what, sizeof what, "result %d", k);
		bad += compare(cname, what, outs[k],
		               json_array_get(jouts, (size_t)k), atol, rtol);
		json_t *jg = json_array_get(jgos, (size_t)k);
		if (!nb_tensor_requires_grad(outs[k]) || json_is_null(jg))
			continue;
		gos[k] = tensor_of(jg, nb_tensor_dtype(outs[k]));
		nb_tensor *p = nb_call(g, "mul", 2, (nb_tensor *[]){outs[k],
		                       gos[k]}, NULL);
		p = nb_call(g, "sum", 1, &p, NULL);
		loss = loss ? nb_call(g, "add", 2, (nb_tensor *[]){loss, p},
		                      NULL) : p;
	}
	if (loss) {
		if (nb_backward(loss, NULL)) {
			cr_log_error("%s: backward: %s", cname, nb_last_error());
			bad++;
		} else {
			bad += compare_grads(cname, c, n_in, in, atol, rtol);
		}
	}
	for (int k = 0; k < n; k++)
		nb_tensor_free(gos[k]);
	return bad;
}

static int run_case(json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *op = json_string_value(json_object_get(c, "op"));
	const char *attrs = json_string_value(json_object_get(c, "attrs"));
	nb_dtype dt = dtype_of(json_string_value(json_object_get(c, "dtype")));
	double atol = dt == NB_F32 ? 1e-5 : 1e-9;
	double rtol = dt == NB_F32 ? 1e-4 : 1e-7;
	char cname[160];
	snprintf(cname, sizeof cname, "%s (%s)", name, nb_dtype_name(dt));
	json_t *ins = json_object_get(c, "inputs");
	nb_tensor *in[NB_MAX_INPUTS] = {0};
	int n_in = (int)json_array_size(ins), bad = 0;
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_graph_set_training(g, json_is_true(json_object_get(c, "training")));
	for (int i = 0; i < n_in; i++) {
		json_t *o = json_array_get(ins, (size_t)i);
		if (json_is_null(o))
			continue;
		in[i] = tensor_of(o, dtype_of(json_string_value(
		                         json_object_get(o, "dtype"))));
		if (json_is_true(json_object_get(o, "grad")))
			nb_tensor_set_requires_grad(in[i], true);
	}
	json_t *jouts = json_object_get(c, "outputs");
	if (jouts) {
		bad += run_multi(cname, g, op, n_in, in, attrs, c, atol, rtol);
		goto out;
	}
	nb_tensor *y = nb_call(g, op, n_in, in, attrs);
	if (!y) {
		cr_log_error("%s: %s", cname, nb_graph_errmsg(g));
		bad = 1;
		goto out;
	}
	bad += compare(cname, "output", y, json_object_get(c, "output"), atol,
	               rtol);
	json_t *st = json_object_get(c, "state");
	const char *key;
	json_t *v;
	json_object_foreach(st, key, v) {
		char what[32];
		snprintf(what, sizeof what, "state of input %s", key);
		bad += compare(cname, what, in[atoi(key)], v, atol, rtol);
	}
	if (!nb_tensor_requires_grad(y))
		goto out;
	nb_tensor *go = tensor_of(json_object_get(c, "grad_output"), dt);
	nb_status s = nb_backward(y, go);
	nb_tensor_free(go);
	if (s) {
		cr_log_error("%s: backward: %s", cname, nb_last_error());
		bad++;
		goto out;
	}
	bad += compare_grads(cname, c, n_in, in, atol, rtol);
out:
	for (int i = 0; i < n_in; i++)
		nb_tensor_free(in[i]);
	nb_graph_free(g);
	return bad;
}

Test(reference, every_file_matches_pytorch)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/tests/ref/ops", nbt_srcdir());
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "cannot open %s", dir);
	struct dirent *e;
	int files = 0, cases = 0, failed = 0;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		char path[1400];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		json_error_t err;
		json_t *root = json_load_file(path, 0, &err);
		cr_assert_not_null(root, "%s: %s", path, err.text);
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(root, "cases"), i, c) {
			int bad = run_case(c);
			cases++;
			failed += bad != 0;
		}
		json_decref(root);
		files++;
	}
	closedir(d);
	cr_log_info("%d reference files, %d cases, %d failed", files, cases,
	            failed);
	cr_expect_gt(files, 0, "no reference files in %s", dir);
	cr_expect_eq(failed, 0, "%d of %d reference cases differ from PyTorch",
	             failed, cases);
}

/* Every registered op has at least one reference case per dtype. */
Test(reference, every_op_has_a_reference)
{
	char path[1400], dir[1024];
	snprintf(dir, sizeof dir, "%s/tests/ref/ops", nbt_srcdir());
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	size_t nops = nb_op_count();
	int (*seen)[2] = calloc(nops, sizeof *seen);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".json"))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		json_t *root = json_load_file(path, 0, NULL);
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(root, "cases"), i, c) {
			const char *op = json_string_value(json_object_get(c, "op"));
			nb_dtype dt = dtype_of(json_string_value(
			                           json_object_get(c, "dtype")));
			for (size_t k = 0; k < nops; k++)
				if (!strcmp(nb_op_at(k)->name, op) &&
				    (dt == NB_F32 || dt == NB_F64))
					seen[k][dt] = 1;
		}
		json_decref(root);
	}
	closedir(d);
	for (size_t k = 0; k < nops; k++) {
		const nb_op *op = nb_op_at(k);
		if (op->kind == NB_KIND_CUSTOM)
			continue;
		cr_expect(seen[k][0] && seen[k][1], "op '%s' has no PyTorch "
		          "reference in float32 and float64", op->name);
	}
	free(seen);
}

/*
 * Derivatives that are infinite at 0, which JSON cannot hold: PyTorch
 * 1.13's values (float32 and float64 alike) for x = -0, +0, +0 with the
 * output gradient 1, -1, 0 (0 times infinity is NaN on both sides).
 * The signs of zeros and infinities must match: PyTorch computes x^0.5
 * and x^-0.5 with sqrt, so (-0)^0.5 is -0 and its derivative -inf.
 */
static void infinite_case(nb_dtype dt, const char *op, const char *attrs,
                          const double *wy, const double *wg)
{
	static const double x0[3] = {-0.0, 0, 0}, g0[3] = {1, -1, 0};
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(dt, 1, (int64_t[]){3}, x0);
	nb_tensor *go = nbt_tensor(dt, 1, (int64_t[]){3}, g0);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = nb_call(g, op, 1, &x, attrs);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(y, go), NB_OK);
	for (size_t i = 0; i < 3; i++) {
		double yi = nb_tensor_get(y, i);
		double gi = nb_tensor_get(nb_tensor_grad(x), i);
		cr_expect((yi == wy[i] && signbit(yi) == signbit(wy[i])) ||
		          (isnan(yi) && isnan(wy[i])), "%s %s (%s) at x[%zu]: "
		          "y = %g, want %g", op, attrs, nb_dtype_name(dt), i,
		          yi, wy[i]);
		cr_expect(gi == wg[i] || (isnan(gi) && isnan(wg[i])), "%s %s "
		          "(%s) at x[%zu]: dy/dx = %g, want %g", op, attrs,
		          nb_dtype_name(dt), i, gi, wg[i]);
	}
	nb_tensor_free(go);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(reference, infinite_derivatives_at_zero)
{
	static const struct {
		const char *op, *attrs;
		double y[3], dx[3];
	} cases[] = {
		{"sqrt", "", {-0.0, 0, 0}, {-INFINITY, -INFINITY, NAN}},
		{"log", "", {-INFINITY, -INFINITY, -INFINITY},
		 {-INFINITY, -INFINITY, NAN}},
		{"pow", "exponent=0.5", {-0.0, 0, 0},
		 {-INFINITY, -INFINITY, NAN}},
		{"pow", "exponent=-0.5", {-INFINITY, INFINITY, INFINITY},
		 {-INFINITY, INFINITY, NAN}},
		{"pow", "exponent=0.25", {0, 0, 0}, {INFINITY, -INFINITY, NAN}},
		{"pow", "exponent=-1", {-INFINITY, INFINITY, INFINITY},
		 {-INFINITY, INFINITY, NAN}},
		{"pow", "exponent=-1.5", {INFINITY, INFINITY, INFINITY},
		 {-INFINITY, INFINITY, NAN}},
		{"pow", "exponent=-2", {INFINITY, INFINITY, INFINITY},
		 {INFINITY, INFINITY, NAN}},
	};
	for (int d = 0; d < 2; d++)
		for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
			infinite_case(d ? NB_F64 : NB_F32, cases[k].op,
			              cases[k].attrs, cases[k].y, cases[k].dx);
}
