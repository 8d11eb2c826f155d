/*
 * userdata.c - data sets from the user's arrays: .npz files (x, y and
 * optionally x_test, y_test) and CSV files (a target column and the
 * feature columns), checked and converted to what training takes:
 * float32 inputs [N, features], int64 class indices [N] or float32
 * values [N, k].
 */
#include <math.h>
#include <stdio.h>
#include <strings.h>
#include "arrays_internal.h"

/* What the arrays are called in messages: "array 'x'" for an .npz,
 * "the feature columns" and "column 'price'" for a CSV. */
typedef struct names {
	const char *file;
	const char *x, *y, *x_test, *y_test;
} names;

/* x [N, ...] as float32 [N, features], every value finite. */
static nb_tensor *inputs(const char *file, const char *what,
                         const nb_tensor *x)
{
	if (x->ndim < 1 || !x->shape[0]) {
		nb__set_error(NB_EFORMAT, "%s: %s: want [N, features] with N > 0, "
		              "not a %s", file, what, x->ndim < 1 ? "scalar"
		              : "set of 0 rows");
		return NULL;
	}
	int64_t n = x->shape[0], f = n ? (int64_t)(x->numel / (size_t)n) : 0;
	if (!f) {
		nb__set_error(NB_EFORMAT, "%s: %s: rows of 0 features", file, what);
		return NULL;
	}
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(n, f));
	if (!t)
		return NULL;
	float *p = t->data;
	for (size_t i = 0; i < x->numel; i++) {
		double v = nb_tensor_get(x, i);
		if (!isfinite(v)) {
			nb__set_error(NB_EFORMAT, "%s: %s: row %zu, feature %zu is %s "
			              "(inputs must be finite: fill or drop missing "
			              "values)", file, what, i / (size_t)f,
			              i % (size_t)f, isnan(v) ? "NaN" : "infinite");
			nb_tensor_free(t);
			return NULL;
		}
		p[i] = fabs(v) > 3.4e38 ? (float)(v > 0 ? 3.4e38 : -3.4e38)
		                        : (float)v;
	}
	return t;
}

/* y [N] or [N, 1] as int64 class indices; *classes grows to the
 * largest + 1. */
static nb_tensor *classes_of(const char *file, const char *what,
                             const nb_tensor *y, int64_t *classes)
{
	if (y->ndim < 1 || y->ndim > 2 || (y->ndim == 2 && y->shape[1] != 1)) {
		char sh[96];
		nb__set_error(NB_EFORMAT, "%s: %s: class labels must be [N], not "
		              "%s", file, what,
		              nb_shape_str(y->ndim, y->shape, sh, sizeof sh));
		return NULL;
	}
	nb_tensor *t = nb_tensor_zeros(NB_I64, NB_SHAPE(y->shape[0]));
	if (!t)
		return NULL;
	int64_t *p = t->data;
	for (size_t i = 0; i < y->numel; i++) {
		double v = y->dtype == NB_I64 ? 0 : nb_tensor_get(y, i);
		int64_t c = y->dtype == NB_I64 ? ((const int64_t *)y->data)[i]
		          : v == floor(v) && fabs(v) < 1e15 ? (int64_t)v : -1;
		if (c < 0 || c >= (int64_t)1 << 24) {
			char shown[48];
			if (y->dtype == NB_I64)
				snprintf(shown, sizeof shown, "%lld", (long long)c);
			else
				snprintf(shown, sizeof shown, "%.6g", v);
			nb__set_error(NB_EFORMAT, "%s: %s: row %zu is %s, not a class "
			              "index (a whole number from 0 to %d; for "
			              "regression use --loss mse)", file, what, i,
			              shown, (1 << 24) - 1);
			nb_tensor_free(t);
			return NULL;
		}
		p[i] = c;
		if (c + 1 > *classes)
			*classes = c + 1;
	}
	return t;
}

/* y [N] or [N, k] as float32 [N, k] of finite values. */
static nb_tensor *values_of(const char *file, const char *what,
                            const nb_tensor *y)
{
	if (y->ndim < 1 || y->ndim > 2 || (y->ndim == 2 && !y->shape[1])) {
		char sh[96];
		nb__set_error(NB_EFORMAT, "%s: %s: targets must be [N] or [N, k], "
		              "not %s", file, what,
		              nb_shape_str(y->ndim, y->shape, sh, sizeof sh));
		return NULL;
	}
	int64_t k = y->ndim == 2 ? y->shape[1] : 1;
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(y->shape[0], k));
	if (!t)
		return NULL;
	for (size_t i = 0; i < y->numel; i++) {
		double v = nb_tensor_get(y, i);
		if (!isfinite(v) || fabs(v) > 3.4e38) {
			nb__set_error(NB_EFORMAT, "%s: %s: row %zu is %g (targets must "
			              "be finite float32 values)", file, what,
			              i / (size_t)k, v);
			nb_tensor_free(t);
			return NULL;
		}
		((float *)t->data)[i] = (float)v;
	}
	return t;
}

/* One pair (x, y) into *ox, *oy. */
static nb_status pair(const names *nm, bool test, const nb_tensor *x,
                      const nb_tensor *y, bool classes, nb_dataset *d,
                      nb_tensor **ox, nb_tensor **oy)
{
	const char *xn = test ? nm->x_test : nm->x, *yn = test ? nm->y_test
	                                                       : nm->y;
	if (x->ndim >= 1 && y->ndim >= 1 && x->shape[0] != y->shape[0])
		return nb__set_error(NB_EFORMAT, "%s: %s has %lld rows, %s %lld: "
		                     "one target per input row", nm->file, xn,
		                     (long long)x->shape[0], yn,
		                     (long long)y->shape[0]);
	if (y->ndim < 1)
		return nb__set_error(NB_EFORMAT, "%s: %s: a scalar, not one target "
		                     "per row", nm->file, yn);
	if (!(*ox = inputs(nm->file, xn, x)))
		return nb_last_status();
	if (test && (*ox)->shape[1] != d->features)
		return nb__set_error(NB_EFORMAT, "%s: %s has %lld features per "
		                     "row, %s %lld", nm->file, xn,
		                     (long long)(*ox)->shape[1], nm->x,
		                     (long long)d->features);
	d->features = (*ox)->shape[1];
	*oy = classes ? classes_of(nm->file, yn, y, &d->classes)
	              : values_of(nm->file, yn, y);
	return *oy ? NB_OK : nb_last_status();
}

/* Rows idx[0..k) of t as a new tensor. */
static nb_tensor *rows(const nb_tensor *t, const int64_t *idx, size_t k)
{
	int64_t shape[NB_MAX_DIMS];
	memcpy(shape, t->shape, sizeof shape);
	shape[0] = (int64_t)k;
	nb_tensor *r = nb_tensor_zeros(t->dtype, t->ndim, shape);
	if (!r)
		return NULL;
	size_t row = t->numel / (size_t)t->shape[0] * nb_dtype_size(t->dtype);
	for (size_t i = 0; i < k; i++)
		memcpy((char *)r->data + i * row,
		       (const char *)t->data + (size_t)idx[i] * row, row);
	return r;
}

/* Holds out round(N val_split) shuffled rows of the training set. */
static nb_status split(const names *nm, nb_dataset *d, double val_split,
                       uint64_t seed)
{
	size_t n = (size_t)d->train_x->shape[0];
	if (!(val_split > 0 && val_split < 1))
		return nb__set_error(NB_EINVAL, "%s: no test arrays, and the "
		                     "validation fraction %g is not in (0, 1)",
		                     nm->file, val_split);
	size_t k = (size_t)llround((double)n * val_split);
	if (k < 1 || k >= n)
		return nb__set_error(NB_EFORMAT, "%s: %zu rows are too few to hold "
		                     "out a fraction %g for testing and train on "
		                     "the rest", nm->file, n, val_split);
	int64_t *idx = nb__malloc(n * sizeof *idx);
	if (!idx)
		return nb__set_error(NB_ENOMEM, "%s: out of memory", nm->file);
	nb_rng r;
	nb_rng_seed(&r, seed);
	nb_shuffle(idx, n, &r);
	nb_tensor *tx = rows(d->train_x, idx, k), *ty = rows(d->train_y, idx, k);
	nb_tensor *rx = rows(d->train_x, idx + k, n - k);
	nb_tensor *ry = rows(d->train_y, idx + k, n - k);
	nb__free(idx);
	if (!tx || !ty || !rx || !ry) {
		nb_tensor_free(tx);
		nb_tensor_free(ty);
		nb_tensor_free(rx);
		nb_tensor_free(ry);
		return nb_last_status();
	}
	nb_tensor_free(d->train_x);
	nb_tensor_free(d->train_y);
	d->train_x = rx;
	d->train_y = ry;
	d->test_x = tx;
	d->test_y = ty;
	return NB_OK;
}

static nb_status build(nb_dataset *d, const names *nm, const nb_tensor *x,
                       const nb_tensor *y, const nb_tensor *xt,
                       const nb_tensor *yt, nb_targets targets,
                       double val_split, uint64_t seed)
{
	memset(d, 0, sizeof *d);
	if (!x || !y || !xt != !yt)
		return nb__set_error(NB_EINVAL, "%s: %s", nm->file, !x || !y
		                     ? "x or y is NULL" : "x_test and y_test "
		                     "come together (one is NULL)");
	bool classes = targets == NB_TARGETS_CLASSES ||
	               (targets == NB_TARGETS_AUTO && (y->dtype == NB_I64 ||
	                                               y->dtype == NB_BOOL));
	nb_status st = pair(nm, false, x, y, classes, d, &d->train_x,
	                    &d->train_y);
	if (!st && xt)
		st = pair(nm, true, xt, yt, classes, d, &d->test_x, &d->test_y);
	else if (!st)
		st = split(nm, d, val_split, seed);
	if (st) {
		nb_dataset_free(d);
		return st;
	}
	const char *base = strrchr(nm->file, '/');
	snprintf(d->name, sizeof d->name, "%s", base ? base + 1 : nm->file);
	return NB_OK;
}

nb_status nb_dataset_from_arrays(nb_dataset *d, const char *name,
                                 const nb_tensor *x, const nb_tensor *y,
                                 const nb_tensor *x_test,
                                 const nb_tensor *y_test, nb_targets targets,
                                 double val_split, uint64_t seed)
{
	if (!d)
		return nb__set_error(NB_EINVAL, "dataset: d is NULL");
	names nm = {name ? name : "arrays", "array 'x'", "array 'y'",
	            "array 'x_test'", "array 'y_test'"};
	return build(d, &nm, x, y, x_test, y_test, targets, val_split, seed);
}

/* Whether archive z holds an array called name. */
static bool holds(const nb_npz *z, const char *name)
{
	for (size_t i = 0; i < nb_npz_count(z); i++)
		if (!strcmp(nb_npz_name(z, i), name))
			return true;
	return false;
}

static nb_status load_npz(nb_dataset *d, const char *path,
                          nb_targets targets, double val_split,
                          uint64_t seed)
{
	nb_npz *z = NULL;
	nb_tensor *a[4] = {NULL};
	static const char *const want[4] = {"x", "y", "x_test", "y_test"};
	nb_status st = nb_npz_open(path, &z);
	if (!st && holds(z, "x_test") != holds(z, "y_test"))
		st = nb__set_error(NB_EFORMAT, "%s: has array '%s' but no '%s' "
		                   "(a test set needs both)", path,
		                   holds(z, "x_test") ? "x_test" : "y_test",
		                   holds(z, "x_test") ? "y_test" : "x_test");
	for (int i = 0; i < 4 && !st; i++)
		if ((i < 2 || holds(z, want[i])) && !(a[i] = nb_npz_read(z, want[i])))
			st = nb_last_status();
	nb_npz_close(z);
	if (!st) {
		names nm = {path, "array 'x'", "array 'y'", "array 'x_test'",
		            "array 'y_test'"};
		st = build(d, &nm, a[0], a[1], a[2], a[3], targets, val_split, seed);
	}
	for (int i = 0; i < 4; i++)
		nb_tensor_free(a[i]);
	return st;
}

/* The columns of a CSV other than column c as x, column c as y. */
static nb_status split_columns(const nb_tensor *t, size_t c, nb_tensor **x,
                               nb_tensor **y)
{
	int64_t n = t->shape[0], m = t->shape[1];
	*x = nb_tensor_zeros(NB_F64, NB_SHAPE(n, m - 1));
	*y = nb_tensor_zeros(NB_F64, NB_SHAPE(n));
	if (!*x || !*y)
		return nb_last_status();
	const double *s = t->data;
	double *xp = (*x)->data, *yp = (*y)->data;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < m; j++) {
			if ((size_t)j == c)
				yp[i] = s[i * m + j];
			else
				*xp++ = s[i * m + j];
		}
	return NB_OK;
}

static nb_status load_csv(nb_dataset *d, const char *path,
                          const char *target, nb_targets targets,
                          double val_split, uint64_t seed)
{
	char **cols = NULL, what[300], shown[256];
	nb_tensor *x = NULL, *y = NULL;
	nb_status st = NB_OK;
	size_t c = 0, k = 0;
	if (!target)
		return nb__set_error(NB_EINVAL, "%s: a CSV data set needs the name "
		                     "of its target column", path);
	nb_tensor *t = nb_csv_load(path, NB_F64, &cols);
	if (!t)
		return nb_last_status();
	while (cols[c] && strcmp(cols[c], target))
		c++;
	if (!cols[c]) {
		shown[0] = '\0';
		for (size_t i = 0; cols[i] && k + 1 < sizeof shown; i++) {
			int w = snprintf(shown + k, sizeof shown - k, "%s%s",
			                 i ? ", " : "", cols[i]);
			k += w > 0 ? (size_t)w : 0;
		}
		st = nb__set_error(NB_ENOTFOUND, "%s: no column '%s' (the header "
		                   "names: %s)", path, target, shown);
	} else if (t->shape[1] < 2)
		st = nb__set_error(NB_EFORMAT, "%s: column '%s' is the only one: "
		                   "no feature columns", path, target);
	else if (!t->shape[0])
		st = nb__set_error(NB_EFORMAT, "%s: a header and no rows", path);
	if (!st)
		st = split_columns(t, c, &x, &y);
	if (!st) {
		snprintf(what, sizeof what, "column '%s'", target);
		names nm = {path, "the feature columns", what, NULL, NULL};
		st = build(d, &nm, x, y, NULL, NULL, targets == NB_TARGETS_AUTO
		           ? NB_TARGETS_VALUES : targets, val_split, seed);
	}
	nb_tensor_free(x);
	nb_tensor_free(y);
	nb_tensor_free(t);
	nb_csv_columns_free(cols);
	return st;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcasecmp(s + n - k, suffix);
}

nb_status nb_dataset_load(nb_dataset *d, const char *path,
                          const char *target, nb_targets targets,
                          double val_split, uint64_t seed)
{
	if (d)
		memset(d, 0, sizeof *d);
	if (!d || !path)
		return nb__set_error(NB_EINVAL, "dataset: %s is NULL",
		                     d ? "path" : "d");
	if (ends_with(path, ".npz"))
		return load_npz(d, path, targets, val_split, seed);
	if (ends_with(path, ".csv"))
		return load_csv(d, path, target, targets, val_split, seed);
	return nb__set_error(NB_EINVAL, "%s: not a data set file nabla knows "
	                     "(want FILE.npz with arrays x and y, or FILE.csv "
	                     "with a header line)", path);
}
