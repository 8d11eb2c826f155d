/*
 * example.c - built-in example networks, see example.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "example.h"

const char example_names[] = "seed10|xavier10";

#define LAYERS 10

nb_status example_init(example *ex, const char *name, uint64_t seed)
{
	nb_rng r;
	bool xavier;
	memset(ex, 0, sizeof *ex);
	if (!name || (strcmp(name, "seed10") && strcmp(name, "xavier10")))
		return NB_ENOTFOUND;
	xavier = name[0] == 'x';
	ex->name = xavier ? "xavier10" : "seed10";
	ex->title = xavier ? "xavier10: 10 x (linear, tanh) 800 -> 300, "
	                     "weights N(0, 2 / (n_in + n_out)), batch 64, MSE"
	                   : "seed10: 10 x (linear, tanh) 800 -> 300, weights "
	                     "N(0, 0.01^2), batch 64, MSE";
	nb_rng_seed(&r, seed);
	for (int i = 0; i < LAYERS; i++) {
		char nm[32];
		int64_t in = 800 - 50 * i, out = in - 50;
		double std = xavier ? sqrt(2.0 / (double)(in + out)) : 0.01;
		nb_tensor *w = nb_tensor_randn(NB_F32, NB_SHAPE(out, in), &r, 0,
		                               std);
		ex->params[ex->n_params++] = w;
		snprintf(nm, sizeof nm, "fc%d.weight", i + 1);
		if (!w || nb_tensor_set_requires_grad(w, true) ||
		    nb_tensor_set_name(w, nm))
			goto oom;
	}
	ex->x = nb_tensor_randn(NB_F32, NB_SHAPE(64, 800), &r, 0, 1);
	ex->target = nb_tensor_randn(NB_F32, NB_SHAPE(64, 300), &r, 0, 1);
	if (!ex->x || !ex->target || nb_tensor_set_name(ex->x, "x") ||
	    nb_tensor_set_name(ex->target, "target"))
		goto oom;
	return NB_OK;
oom:
	example_free(ex);
	return NB_ENOMEM;
}

/* The target for an output of shape s: class indices or values. */
static nb_status make_target(example *ex, int nd, const int64_t *s,
                             bool mse, nb_rng *r)
{
	ex->cross_entropy = !mse && nd == 2;
	if (!ex->cross_entropy) {
		ex->target = nb_tensor_randn(NB_F32, nd, s, r, 0, 1);
	} else if ((ex->target = nb_tensor_zeros(NB_I64, 1, s))) {
		for (int64_t i = 0; i < s[0]; i++)
			nb_tensor_set(ex->target, (size_t)i,
			              (double)nb_rng_below(r, (uint64_t)s[1]));
	}
	if (!ex->target || nb_tensor_set_name(ex->target, "target"))
		return NB_ENOMEM;
	return NB_OK;
}

nb_status example_from_spec(example *ex, const char *spec, int ndim,
                            const int64_t *shape, bool mse,
                            const nb_model_opts *o, const char *title)
{
	nb_rng r;
	nb_spec *sp = NULL;
	nb_status st;
	int64_t dims[NB_MAX_DIMS] = {64, 0}, out[NB_MAX_DIMS];
	memset(ex, 0, sizeof *ex);
	ex->name = ex->title = title;
	if ((st = nb_spec_parse(spec, &sp, NULL)))
		return st;
	if (ndim)
		memcpy(dims, shape, (size_t)ndim * sizeof *dims);
	else
		dims[1] = nb_spec_input(sp);
	ndim = ndim ? ndim : 2;
	int64_t in = dims[ndim - 1];
	memcpy(out, dims, sizeof out);
	out[ndim - 1] = in > 0 ? nb_spec_out_features(sp, in) : 0;
	nb_spec_free(sp);
	if (in <= 0)
		return NB_ESHAPE;
	if (!(ex->model = nb_model_parse(spec, in, o)))
		return nb_last_status();
	nb_rng_seed(&r, (o ? o->seed : 0) + 1);
	ex->x = nb_tensor_randn(NB_F32, ndim, dims, &r, 0, 1);
	if (!ex->x || nb_tensor_set_name(ex->x, "x") ||
	    make_target(ex, ndim, out, mse, &r)) {
		example_free(ex);
		return NB_ENOMEM;
	}
	return NB_OK;
}

nb_tensor *example_forward(nb_graph *g, const example *ex)
{
	if (ex->model) {
		nb_module_set_training(ex->model, nb_graph_training(g));
		nb_tensor *y = nb_module_forward(ex->model, g, ex->x);
		return ex->cross_entropy ? nb_cross_entropy(g, y, ex->target,
			NULL, -100, NB_REDUCTION_MEAN, 0)
		                         : nb_mse_loss(g, y, ex->target,
			NB_REDUCTION_MEAN);
	}
	nb_tensor *h = ex->x;
	for (int i = 0; i < ex->n_params; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "fc%d", i + 1);
		if (nb_graph_scope_push(g, nm))
			return NULL;
		h = nb_tanh(g, nb_linear(g, h, ex->params[i], NULL));
		nb_graph_scope_pop(g);
	}
	return nb_mse_loss(g, h, ex->target, NB_REDUCTION_MEAN);
}

void example_free(example *ex)
{
	nb_module_free(ex->model);
	for (int i = 0; i < ex->n_params; i++)
		nb_tensor_free(ex->params[i]);
	nb_tensor_free(ex->x);
	nb_tensor_free(ex->target);
	memset(ex, 0, sizeof *ex);
}
