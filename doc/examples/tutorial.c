/*
 * tutorial.c - the program of doc/tutorial.md: build a model from a spec
 * plus a user-defined module, train it, save it, reload it into a fresh
 * model, and fine-tune a new head with the body frozen.  Built and run
 * by `make check`; exits 1 if any step fails or the model does not learn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>

#define FEATURES 784
#define CLASSES 10

/* ---- a user-defined module: y = x + relu(fc(x)) ---- */

static nb_tensor *residual_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	/* Children run through nb_module_forward, which scopes them. */
	nb_tensor *h = nb_module_forward(nb_module_child(m, 0), g, x);
	return nb_add(g, x, nb_relu(g, h));
}

static const nb_module_class residual_class = {
	.type = "residual", .forward = residual_forward,
};

static nb_module *residual_new(const char *name, int64_t n, nb_rng *rng)
{
	nb_module *m = nb_module_new(&residual_class, name, NULL);
	/* nb_module_add steals the child, also when it fails. */
	if (m && nb_module_add(m, nb_linear_new("fc", n, n, true, NB_F32,
	                                        rng))) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* spec, then a residual block "res1", then a linear head named head. */
static nb_module *build(const char *head, uint64_t seed)
{
	nb_model_opts o = {.dtype = NB_F32, .seed = seed};
	nb_rng rng;
	nb_rng_seed(&rng, seed + 1);
	nb_module *m = nb_model_parse("linear:64 relu", FEATURES, &o);
	if (!m || nb_module_add(m, residual_new("res1", 64, &rng)) ||
	    nb_module_add(m, nb_linear_new(head, 64, CLASSES, true, NB_F32,
	                                   &rng))) {
		fprintf(stderr, "tutorial: %s\n", nb_last_error());
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* ---- training: SGD with momentum on the parameters that train ---- */

static int train(nb_module *m, nb_graph *g, const nb_dataset *d,
                 int epochs)
{
	size_t n = (size_t)nb_tensor_dim(d->train_x, 0), batch = 64;
	nb_tensor *p[16];
	/* Frozen parameters are left out: they get no gradient. */
	size_t np = nb_module_params(m, true, p, 16);
	nb_sgd_opts so = nb_sgd_defaults();
	so.lr = 0.01;
	so.momentum = 0.9;
	nb_optim *opt = np <= 16 ? nb_optim_sgd(p, np, &so) : NULL;
	int64_t *idx = malloc(n * sizeof *idx);
	int status = 1;
	if (!opt || !idx)
		goto out;
	nb_module_set_training(m, true);
	for (int e = 0; e < epochs; e++) {
		nb_shuffle(idx, n, nb_graph_rng(g));
		for (size_t at = 0; at + batch <= n; at += batch) {
			nb_tensor *x, *y;
			nb_graph_reset(g);
			nb_optim_zero_grad(opt, false);
			nb_batch_gather(g, d->train_x, d->train_y, idx + at, batch,
			                &x, &y);
			nb_tensor *loss = nb_cross_entropy(g,
			    nb_module_forward(m, g, x), y,
				NULL, -100, NB_REDUCTION_MEAN, 0);
			if (!loss || nb_backward(loss, NULL)) {
				fprintf(stderr, "tutorial: %s\n", nb_graph_errmsg(g));
				goto out;
			}
			nb_optim_step(opt);
		}
	}
	status = 0;
out:
	nb_optim_free(opt);
	free(idx);
	return status;
}

static double accuracy(nb_module *m, nb_graph *g, const nb_dataset *d)
{
	double acc = -1;
	if (nb_evaluate(m, g, d->test_x, d->test_y, 500, NULL, &acc))
		fprintf(stderr, "tutorial: %s\n", nb_last_error());
	return acc;
}

int main(void)
{
	nb_dataset d;
	nb_graph *g = nb_graph_new();
	nb_module *m = NULL, *copy = NULL, *tuned = NULL;
	int status = 1;
	if (!g || nb_dataset_synthetic(2000, 500, FEATURES, CLASSES, 7, &d))
		return 1;
	nb_dataset_standardize(&d, NULL, NULL);

	/* 1. Build and train. */
	if (!(m = build("head", 1)) || train(m, g, &d, 5))
		goto out;
	double acc = accuracy(m, g, &d);
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	printf("trained: test accuracy %.1f%%; %zu tensors:", 100 * acc, n);
	for (size_t i = 0; i < n; i++)
		printf(" %s", t[i].name);
	printf("\n");
	if (acc < 0.5)
		goto out;

	/* 2. Save: every parameter and buffer under its name. */
	const char *meta[] = {"note", "doc/examples/tutorial.c", NULL};
	if (nb_module_save(m, "tutorial.safetensors", meta))
		goto fail;

	/* 3. Reload into a fresh model (other initial weights): strict. */
	if (!(copy = build("head", 99)) ||
	    nb_module_load(copy, "tutorial.safetensors", true, NULL))
		goto fail;
	double acc2 = accuracy(copy, g, &d);
	printf("reloaded: test accuracy %.1f%%\n", 100 * acc2);
	if (acc2 != acc)
		goto out;

	/* 4. Fine-tune: a new head, the body loaded and frozen. */
	nb_load_report rep;
	if (!(tuned = build("head2", 5)) ||
	    nb_module_load(tuned, "tutorial.safetensors", false, &rep) ||
	    nb_module_freeze(tuned, "fc1", true, NULL) ||
	    nb_module_freeze(tuned, "res1", true, NULL))
		goto fail;
	printf("fine-tune: loaded %zu, new %s, unused %s\n", rep.loaded,
	       rep.missing_names, rep.unexpected_names);
	nb_tensor *w = nb_module_tensor(tuned, "fc1.weight");
	float before = ((const float *)nb_tensor_cdata(w))[0];
	if (train(tuned, g, &d, 2))
		goto out;
	double acc3 = accuracy(tuned, g, &d);
	printf("fine-tuned: test accuracy %.1f%% (%zu of %zu parameters "
	       "trained)\n", 100 * acc3, nb_module_numel(tuned, true),
	       nb_module_numel(tuned, false));
	if (((const float *)nb_tensor_cdata(w))[0] != before || acc3 < 0.5)
		goto out;
	status = 0;
	goto out;
fail:
	fprintf(stderr, "tutorial: %s\n", nb_last_error());
out:
	remove("tutorial.safetensors");
	nb_module_free(m);
	nb_module_free(copy);
	nb_module_free(tuned);
	nb_graph_free(g);
	nb_dataset_free(&d);
	return status;
}
