/*
 * arrays.c - your own data (doc/data.md): arrays saved as an .npz
 * archive (or .npy files in a build without libzip), loaded back as a
 * data set with a held-out tenth, and a linear classifier trained on
 * it.  Built and run by `make check`; exits 1 unless the classifier
 * reaches 90% test accuracy.
 */
#include <stdio.h>
#include <unistd.h>
#include <nabla/nabla.h>

#define N 400

/* Points of the plane, labelled by the side of the line x0 + x1 = 0. */
static nb_status make_arrays(nb_tensor **x, nb_tensor **y)
{
	nb_rng r;
	nb_rng_seed(&r, 7);
	*x = nb_tensor_randn(NB_F32, NB_SHAPE(N, 2), &r, 0, 1);
	*y = nb_tensor_zeros(NB_I64, NB_SHAPE(N));
	if (!*x || !*y)
		return nb_last_status();
	const float *p = nb_tensor_cdata(*x);
	int64_t *c = nb_tensor_data(*y);
	for (int i = 0; i < N; i++)
		c[i] = p[2 * i] + p[2 * i + 1] > 0;
	return NB_OK;
}

/* Saves x and y as numpy.savez_compressed would, and loads them back
 * as a data set; without libzip, as two .npy files. */
static nb_status round_trip(nb_tensor *x, nb_tensor *y, nb_dataset *d)
{
	const char *names[] = {"x", "y"};
	const nb_tensor *arrays[] = {x, y};
	nb_status st = nb_npz_save("arrays-example.npz", names, arrays, 2, true);
	if (st == NB_ESTATE) { /* built without libzip */
		nb_tensor *x2 = NULL, *y2 = NULL;
		if (!nb_npy_save("arrays-example-x.npy", x) &&
		    !nb_npy_save("arrays-example-y.npy", y) &&
		    (x2 = nb_npy_load("arrays-example-x.npy")) &&
		    (y2 = nb_npy_load("arrays-example-y.npy")))
			st = nb_dataset_from_arrays(d, "arrays-example", x2, y2, NULL,
			                            NULL, NB_TARGETS_AUTO, 0.1, 1);
		else
			st = nb_last_status();
		nb_tensor_free(x2);
		nb_tensor_free(y2);
		unlink("arrays-example-x.npy");
		unlink("arrays-example-y.npy");
		return st;
	}
	if (!st)
		st = nb_dataset_load(d, "arrays-example.npz", NULL, NB_TARGETS_AUTO,
		                     0.1, 1);
	unlink("arrays-example.npz");
	return st;
}

/* Ten epochs of SGD on mini-batches of 20, then the test accuracy. */
static nb_status train(nb_dataset *d, double *acc)
{
	nb_module *m = nb_model_parse("linear:2", d->features, NULL);
	nb_graph *g = nb_graph_new();
	nb_tensor *params[2];
	nb_optim *opt = NULL;
	int64_t idx[N];
	size_t n = (size_t)nb_tensor_dim(d->train_x, 0);
	nb_status st = !m || !g ? nb_last_status() : NB_OK;
	if (!st) {
		nb_sgd_opts so = nb_sgd_defaults();
		so.lr = 0.1;
		size_t k = nb_module_params(m, true, params, 2);
		if (!(opt = nb_optim_sgd(params, k, &so)))
			st = nb_last_status();
	}
	for (int epoch = 0; epoch < 10 && !st; epoch++) {
		nb_shuffle(idx, n, nb_graph_rng(g));
		for (size_t at = 0; at < n && !st; at += 20) {
			nb_tensor *bx, *by;
			size_t k = n - at < 20 ? n - at : 20;
			nb_graph_reset(g);
			nb_optim_zero_grad(opt, false);
			nb_batch_gather(g, d->train_x, d->train_y, idx + at, k, &bx,
			                &by);
			nb_tensor *loss = nb_cross_entropy(g, nb_module_forward(m, g, bx),
			                                   by, NULL, -100,
			                                   NB_REDUCTION_MEAN, 0);
			st = nb_backward(loss, NULL);
			if (!st)
				st = nb_optim_step(opt);
		}
	}
	if (!st)
		st = nb_evaluate(m, g, d->test_x, d->test_y, 100, NULL, acc);
	nb_optim_free(opt);
	nb_graph_free(g);
	nb_module_free(m);
	return st;
}

int main(void)
{
	nb_tensor *x = NULL, *y = NULL;
	nb_dataset d = {0};
	double acc = 0;
	nb_status st = make_arrays(&x, &y);
	if (!st)
		st = round_trip(x, y, &d);
	if (!st)
		st = train(&d, &acc);
	if (st)
		fprintf(stderr, "arrays: %s\n", nb_last_error());
	else
		printf("%s: %lld training and %lld test rows, test accuracy "
		       "%.1f%%\n", d.name, (long long)nb_tensor_dim(d.train_x, 0),
		       (long long)nb_tensor_dim(d.test_x, 0), 100 * acc);
	nb_dataset_free(&d);
	nb_tensor_free(x);
	nb_tensor_free(y);
	return st || acc < 0.9;
}
