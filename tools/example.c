/*
 * example.c - built-in example networks, see example.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "example.h"

const char example_names[] = "seed10|xavier10|rnn20";

#define LAYERS 10
#define RNN_STEPS 20

/*
 * rnn20: a tanh RNN unrolled over RNN_STEPS steps (input 32, hidden 64,
 * batch 16), one fused rnn_cell per step in its own scope t1 .. t20, the
 * loss (MSE) on the last state only; the recurrent matrix is 0.8 times
 * an orthogonal one (spectral radius 0.8), so the gradient reaching
 * step t shrinks about as 0.8^(20 - t).
 */
static nb_status rnn_init(example *ex, nb_rng *r)
{
	ex->name = "rnn20";
	ex->title = "rnn20: a tanh RNN over 20 steps (hidden 64), loss at the "
	            "last step, W_hh = 0.8 x orthogonal";
	nb_tensor *wi = nb_tensor_rand(NB_F32, NB_SHAPE(64, 32), r, -0.125,
	                               0.125);
	nb_tensor *wh = nb_tensor_zeros(NB_F32, NB_SHAPE(64, 64));
	ex->params[ex->n_params++] = wi;
	ex->params[ex->n_params++] = wh;
	if (!wi || !wh || nb_init_orthogonal(wh, r, 0.8) ||
	    nb_tensor_set_requires_grad(wi, true) ||
	    nb_tensor_set_requires_grad(wh, true) ||
	    nb_tensor_set_name(wi, "rnn.weight_ih") ||
	    nb_tensor_set_name(wh, "rnn.weight_hh"))
		return NB_ENOMEM;
	/* x is [batch, steps * input]: step t reads columns [32 t, 32 t + 32) */
	ex->x = nb_tensor_randn(NB_F32, NB_SHAPE(16, RNN_STEPS * 32), r, 0, 1);
	ex->target = nb_tensor_randn(NB_F32, NB_SHAPE(16, 64), r, 0, 1);
	if (!ex->x || !ex->target || nb_tensor_set_name(ex->x, "x") ||
	    nb_tensor_set_name(ex->target, "target"))
		return NB_ENOMEM;
	return NB_OK;
}

static nb_tensor *rnn_forward(nb_graph *g, const example *ex)
{
	nb_tensor *h = nb_graph_tensor(g, NB_F32, NB_SHAPE(16, 64));
	nb_tensor *xs[RNN_STEPS];
	/* The inputs of every step first, by one split outside the steps'
	 * scopes, so that the steps are alike and collapse into one
	 * (--collapse). */
	if (nb_chunk(g, ex->x, RNN_STEPS, 1, xs, RNN_STEPS) != RNN_STEPS)
		return NULL;
	for (int t = 0; t < RNN_STEPS && h; t++) {
		char nm[16];
		snprintf(nm, sizeof nm, "t%d", t + 1);
		if (nb_graph_scope_push(g, nm))
			return NULL;
		h = nb_rnn_cell(g, xs[t], h, ex->params[0], ex->params[1], NULL,
		                NULL, false);
		nb_graph_scope_pop(g);
	}
	return nb_mse_loss(g, h, ex->target, NB_REDUCTION_MEAN);
}

nb_status example_init(example *ex, const char *name, uint64_t seed)
{
	nb_rng r;
	bool xavier;
	memset(ex, 0, sizeof *ex);
	if (name && !strcmp(name, "rnn20")) {
		nb_rng_seed(&r, seed);
		nb_status st = rnn_init(ex, &r);
		if (st)
			example_free(ex);
		return st;
	}
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
	if (!strcmp(ex->name, "rnn20"))
		return rnn_forward(g, ex);
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
