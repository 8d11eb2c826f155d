/*
 * dataset.c - Fashion-MNIST from IDX files, the built-in synthetic set,
 * standardization, mini-batches and evaluation.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

void nb_dataset_free(nb_dataset *d)
{
	if (!d)
		return;
	nb_tensor_free(d->train_x);
	nb_tensor_free(d->train_y);
	nb_tensor_free(d->test_x);
	nb_tensor_free(d->test_y);
	memset(d, 0, sizeof *d);
}

/* dir/base.gz, else dir/base, as a tensor of dt; path[4096] gets the
 * file's name, for messages. */
static nb_tensor *read_part(const char *dir, const char *base, nb_dtype dt,
                            char *path)
{
	snprintf(path, 4096, "%s/%s.gz", dir, base);
	FILE *fp = fopen(path, "rb");
	if (fp)
		fclose(fp);
	else
		snprintf(path, 4096, "%s/%s", dir, base);
	return nb_idx_read(path, dt);
}

/*
 * Images [N, H, W] u8 and labels [N] of an integer type into x [N, H*W]
 * in [0, 1] and y; hw gets H and W, ipath the images' file.  An empty
 * set and a label outside 0..9 are errors naming the file.
 */
static nb_status load_split(const char *dir, const char *split,
                            nb_tensor **x, nb_tensor **y, int64_t hw[2],
                            char *ipath)
{
	char ib[64], lb[64], lpath[4096];
	const char *what = strcmp(split, "train") ? "test" : "training";
	snprintf(ib, sizeof ib, "%s-images-idx3-ubyte", split);
	snprintf(lb, sizeof lb, "%s-labels-idx1-ubyte", split);
	if (!(*x = read_part(dir, ib, NB_F32, ipath)) ||
	    !(*y = read_part(dir, lb, NB_I64, lpath)))
		return nb_last_status();
	nb_tensor *a = *x, *b = *y;
	if (a->ndim != 3 || b->ndim != 1 || a->shape[0] != b->shape[0])
		return nb__set_error(NB_EFORMAT, "%s: %s images and labels do "
		                     "not match (want [N, H, W] and [N])", dir,
		                     split);
	if (!a->shape[0] || !a->shape[1] || !a->shape[2])
		return nb__set_error(NB_EFORMAT, "%s: the %s set is empty (%lld "
		                     "images of %lld x %lld)", ipath, what,
		                     (long long)a->shape[0], (long long)a->shape[1],
		                     (long long)a->shape[2]);
	for (size_t i = 0; i < b->numel; i++) {
		int64_t c = ((const int64_t *)b->data)[i];
		if (c < 0 || c > 9)
			return nb__set_error(NB_EFORMAT, "%s: label %zu is %lld, not "
			                     "a class 0..9", lpath, i, (long long)c);
	}
	hw[0] = a->shape[1];
	hw[1] = a->shape[2];
	a->shape[1] *= a->shape[2];
	a->ndim = 2;
	float *p = a->data;
	for (size_t i = 0; i < a->numel; i++)
		p[i] /= 255.0f;
	return NB_OK;
}

nb_status nb_dataset_fashion_mnist(const char *dir, nb_dataset *d)
{
	nb_status st;
	int64_t train[2], test[2];
	char tpath[4096], path[4096];
	if (!d)
		return nb__set_error(NB_EINVAL, "fashion-mnist: dataset is NULL");
	memset(d, 0, sizeof *d);
	if (!dir)
		dir = NB_FASHION_MNIST_DIR;
	if ((st = load_split(dir, "train", &d->train_x, &d->train_y, train,
	                     tpath)) ||
	    (st = load_split(dir, "t10k", &d->test_x, &d->test_y, test, path))) {
		nb_dataset_free(d);
		return st;
	}
	if (train[0] != test[0] || train[1] != test[1]) {
		nb_dataset_free(d);
		return nb__set_error(NB_EFORMAT, "%s: the test images are %lld x "
		                     "%lld, the training images %lld x %lld (%s)",
		                     path, (long long)test[0], (long long)test[1],
		                     (long long)train[0], (long long)train[1],
		                     tpath);
	}
	d->features = d->train_x->shape[1];
	d->classes = 10;
	snprintf(d->name, sizeof d->name, "fashion-mnist");
	return NB_OK;
}

static nb_status synth_split(const float *mu, int64_t n, int64_t f,
                             int64_t classes, nb_rng *r, nb_tensor **x,
                             nb_tensor **y)
{
	if (!(*x = nb_tensor_zeros(NB_F32, NB_SHAPE(n, f))) ||
	    !(*y = nb_tensor_zeros(NB_I64, NB_SHAPE(n))))
		return nb_last_status();
	float *xp = (*x)->data;
	int64_t *yp = (*y)->data;
	for (int64_t i = 0; i < n; i++) {
		int64_t c = (int64_t)nb_rng_below(r, (uint64_t)classes);
		yp[i] = c;
		for (int64_t j = 0; j < f; j++)
			xp[i * f + j] = mu[c * f + j] + (float)nb_rng_normal(r);
	}
	return NB_OK;
}

nb_status nb_dataset_synthetic(int64_t n_train, int64_t n_test,
                               int64_t features, int64_t classes,
                               uint64_t seed, nb_dataset *d)
{
	nb_status st;
	nb_rng r;
	if (!d)
		return nb__set_error(NB_EINVAL, "synthetic: dataset is NULL");
	memset(d, 0, sizeof *d);
	if (n_train < 1 || n_test < 1 || features < 1 || classes < 2 ||
	    features > (1 << 20) || classes > (1 << 16))
		return nb__set_error(NB_EINVAL, "synthetic: bad sizes");
	nb_tensor *mu = nb_tensor_zeros(NB_F32, NB_SHAPE(classes, features));
	if (!mu)
		return nb_last_status();
	nb_rng_seed(&r, seed);
	float *m = mu->data;
	for (size_t i = 0; i < mu->numel; i++)
		m[i] = (float)(0.1 * nb_rng_normal(&r));
	st = synth_split(m, n_train, features, classes, &r, &d->train_x,
	                 &d->train_y);
	if (!st)
		st = synth_split(m, n_test, features, classes, &r, &d->test_x,
		                 &d->test_y);
	nb_tensor_free(mu);
	if (st) {
		nb_dataset_free(d);
		return st;
	}
	d->features = features;
	d->classes = classes;
	snprintf(d->name, sizeof d->name, "synthetic");
	return NB_OK;
}

nb_status nb_dataset_standardize(nb_dataset *d, double *mean, double *std)
{
	if (!d || !d->train_x || !d->test_x)
		return nb__set_error(NB_EINVAL, "standardize: no data");
	const nb_tensor *x = d->train_x;
	double s = 0, ss = 0, n = (double)x->numel;
	/* Two passes: the mean, then squared deviations (stable). */
	for (size_t i = 0; i < x->numel; i++)
		s += nb_tensor_get(x, i);
	double mu = n ? s / n : 0;
	for (size_t i = 0; i < x->numel; i++) {
		double v = nb_tensor_get(x, i) - mu;
		ss += v * v;
	}
	double sd = n > 1 ? sqrt(ss / n) : 1;
	if (!(sd > 0))
		sd = 1;
	nb_tensor *both[2] = {d->train_x, d->test_x};
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < both[k]->numel; i++)
			nb_tensor_set(both[k], i,
			              (nb_tensor_get(both[k], i) - mu) / sd);
	if (mean)
		*mean = mu;
	if (std)
		*std = sd;
	return NB_OK;
}

void nb_shuffle(int64_t *idx, size_t n, nb_rng *r)
{
	if (!idx || !r)
		return;
	for (size_t i = 0; i < n; i++)
		idx[i] = (int64_t)i;
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)nb_rng_below(r, i);
		int64_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

static nb_tensor *gather(nb_graph *g, const nb_tensor *x, const int64_t *idx,
                         size_t n)
{
	int64_t shape[NB_MAX_DIMS];
	memcpy(shape, x->shape, sizeof shape);
	shape[0] = (int64_t)n;
	/* Unzeroed: every row is copied in below (or b is dropped). */
	nb_tensor *b = nb__graph_new_tensor_raw(g, x->dtype, x->ndim, shape);
	if (!b)
		return NULL;
	size_t row = (x->shape[0] ? x->numel / (size_t)x->shape[0] : 0) *
	             nb_dtype_size(x->dtype);
	for (size_t i = 0; i < n; i++) {
		if (idx[i] < 0 || idx[i] >= x->shape[0]) {
			nb__graph_fail(g, NB_EINVAL, "batch: row %lld is outside "
			               "0..%lld", (long long)idx[i],
			               (long long)x->shape[0] - 1);
			return NULL;
		}
		memcpy((char *)b->data + i * row,
		       (const char *)x->data + (size_t)idx[i] * row, row);
	}
	return b;
}

nb_status nb_batch_gather(nb_graph *g, const nb_tensor *x,
                          const nb_tensor *y, const int64_t *idx, size_t n,
                          nb_tensor **bx, nb_tensor **by)
{
	if (!g || !x || !idx || !bx || x->ndim < 1 ||
	    (y && (!by || y->ndim < 1 || y->shape[0] != x->shape[0])))
		return nb__graph_fail(g, NB_EINVAL, "batch: bad arguments");
	*bx = gather(g, x, idx, n);
	if (y)
		*by = *bx ? gather(g, y, idx, n) : NULL;
	return *bx && (!y || *by) ? NB_OK : g->err;
}

/* Rows of logits [n, C] whose largest value is at the label. */
static size_t count_correct(const nb_tensor *logits, const nb_tensor *y)
{
	size_t n = (size_t)logits->shape[0], c = (size_t)logits->shape[1];
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		size_t best = 0;
		for (size_t j = 1; j < c; j++)
			if (nb_tensor_get(logits, i * c + j) >
			    nb_tensor_get(logits, i * c + best))
				best = j;
		ok += (int64_t)best == ((const int64_t *)y->data)[i];
	}
	return ok;
}

nb_status nb_evaluate(nb_module *m, nb_graph *g, const nb_tensor *x,
                      const nb_tensor *y, size_t batch, double *loss,
                      double *accuracy)
{
	if (!m || !g || !x || !y || !batch || x->ndim < 1 || y->ndim != 1 ||
	    y->dtype != NB_I64 || y->shape[0] != x->shape[0])
		return nb__set_error(NB_EINVAL, "evaluate: bad arguments");
	size_t n = (size_t)x->shape[0], correct = 0;
	double total = 0;
	bool was_training = nb_module_training(m);
	bool was_grad = nb_graph_set_grad_enabled(g, false);
	nb_status st = NB_OK;
	int64_t *idx = nb__malloc((batch < n ? batch : n) * sizeof *idx + 1);
	if (!idx) {
		nb_graph_set_grad_enabled(g, was_grad);
		return nb__set_error(NB_ENOMEM, "evaluate: out of memory");
	}
	nb_module_set_training(m, false);
	for (size_t at = 0; at < n && !st; at += batch) {
		size_t k = n - at < batch ? n - at : batch;
		nb_tensor *bx, *by;
		for (size_t i = 0; i < k; i++)
			idx[i] = (int64_t)(at + i);
		nb_graph_reset(g);
		if ((st = nb_batch_gather(g, x, y, idx, k, &bx, &by)))
			break;
		nb_tensor *logits = nb_module_forward(m, g, bx);
		nb_tensor *l = nb_cross_entropy(g, logits, by,
			NULL, -100, NB_REDUCTION_MEAN, 0);
		if (!l || logits->ndim != 2) {
			st = l ? nb__graph_fail(g, NB_ESHAPE, "evaluate: the model "
			                        "must output [N, classes]") : g->err;
			break;
		}
		total += nb_tensor_item(l) * (double)k;
		correct += count_correct(logits, by);
	}
	nb_module_set_training(m, was_training);
	nb_graph_set_grad_enabled(g, was_grad);
	nb__free(idx);
	if (st)
		return nb__set_error(st, "%s", nb_graph_errmsg(g));
	if (loss)
		*loss = n ? total / (double)n : NAN;
	if (accuracy)
		*accuracy = n ? (double)correct / (double)n : NAN;
	return NB_OK;
}
