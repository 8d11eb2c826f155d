/*
 * example.c - built-in example networks, see example.h.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "example.h"

const char example_names[] = "seed10";

#define SEED10_LAYERS 10

/*
 * tanh until the activation ops (branch act) are merged: registered
 * under its own name so that the real one, once built in, is used
 * instead.  Output limits (-1, 1) for the saturation statistics.
 */
static nb_status tanh_forward(nb_op_ctx *c)
{
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++)
		nb_tensor_set(c->out, i, tanh(nb_tensor_get(c->in[0], i)));
	return NB_OK;
}

/* d tanh(x) / dx = 1 - tanh(x)^2 */
static nb_status tanh_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	for (size_t i = 0; i < nb_tensor_numel(gout); i++) {
		double y = nb_tensor_get(c->out, i);
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		              nb_tensor_get(gout, i) * (1 - y * y));
	}
	return NB_OK;
}

static const nb_op tanh_op = {
	.name = "tanh", .kind = NB_KIND_ACTIVATION,
	.doc = "tanh(x) (the examples' own, until the built-in exists)",
	.n_inputs = 1, .input_names = "input", .forward = tanh_forward,
	.backward = tanh_backward, .cases = "[3,4]", .out_lo = -1,
	.out_hi = 1,
};

static nb_tensor *act_tanh(nb_graph *g, nb_tensor *x)
{
	if (!nb_op_find("tanh"))
		nb_op_register(&tanh_op);
	return nb_call(g, "tanh", 1, &x, NULL);
}

nb_status example_init(example *ex, const char *name, uint64_t seed)
{
	nb_rng r;
	memset(ex, 0, sizeof *ex);
	if (!name || strcmp(name, "seed10"))
		return NB_ENOTFOUND;
	ex->name = "seed10";
	ex->title = "seed10: 10 x (linear, tanh) 800 -> 300, weights "
	            "N(0, 0.01^2), batch 64, MSE";
	nb_rng_seed(&r, seed);
	for (int i = 0; i < SEED10_LAYERS; i++) {
		char nm[32];
		nb_tensor *w = nb_tensor_randn(NB_F32, NB_SHAPE(750 - 50 * i,
		                               800 - 50 * i), &r, 0, 0.01);
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

nb_tensor *example_forward(nb_graph *g, const example *ex)
{
	nb_tensor *h = ex->x;
	for (int i = 0; i < ex->n_params; i++) {
		char nm[16];
		snprintf(nm, sizeof nm, "fc%d", i + 1);
		if (nb_graph_scope_push(g, nm))
			return NULL;
		h = act_tanh(g, nb_linear(g, h, ex->params[i], NULL));
		nb_graph_scope_pop(g);
	}
	return nb_mse_loss(g, h, ex->target);
}

void example_free(example *ex)
{
	for (int i = 0; i < ex->n_params; i++)
		nb_tensor_free(ex->params[i]);
	nb_tensor_free(ex->x);
	nb_tensor_free(ex->target);
	memset(ex, 0, sizeof *ex);
}
