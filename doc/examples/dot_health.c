/*
 * dot_health.c - draw a small network's graph with the gradient-health
 * view (doc/dot.md).  Four sigmoid layers in scopes l1 .. l4, weights
 * N(0, 1): sigmoid saturates and its derivative is at most 1/4, so the
 * gradient shrinks on the way back.  Writes the DOT to the file named on
 * the command line (render it with `dot -Tsvg FILE -o net.svg`), or to a
 * temporary file when run by `make check`.  Exits 1 on any error.
 */
#include <math.h>
#include <stdio.h>
#include <nabla/nabla.h>

#define LAYERS 4

static double norm(const nb_tensor *t)
{
	double s = 0;
	for (size_t i = 0; t && i < nb_tensor_numel(t); i++)
		s += nb_tensor_get(t, i) * nb_tensor_get(t, i);
	return sqrt(s);
}

int main(int argc, char **argv)
{
	nb_rng rng;
	nb_tensor *w[LAYERS] = {0}, *x, *target;
	nb_graph *g = nb_graph_new();
	FILE *f = NULL;
	int status = 1;
	nb_rng_seed(&rng, 1);
	x = nb_tensor_randn(NB_F32, NB_SHAPE(32, 16), &rng, 0, 1);
	target = nb_tensor_rand(NB_F32, NB_SHAPE(32, 16), &rng, 0, 1);
	for (int i = 0; i < LAYERS; i++) {
		char name[16];
		w[i] = nb_tensor_randn(NB_F32, NB_SHAPE(16, 16), &rng, 0, 1);
		snprintf(name, sizeof name, "l%d.weight", i + 1);
		if (!w[i] || nb_tensor_set_requires_grad(w[i], true) ||
		    nb_tensor_set_name(w[i], name))
			goto out;
	}
	if (!g || !x || !target)
		goto out;

	/* Forward, each layer in its own scope (a cluster in the drawing). */
	nb_tensor *h = x;
	for (int i = 0; i < LAYERS; i++) {
		char scope[8];
		snprintf(scope, sizeof scope, "l%d", i + 1);
		nb_graph_scope_push(g, scope);
		h = nb_sigmoid(g, nb_linear(g, h, w[i], NULL));
		nb_graph_scope_pop(g);
	}
	nb_tensor *loss = nb_mse_loss(g, h, target, NB_REDUCTION_MEAN);
	if (!loss || nb_backward(loss, NULL)) {
		fprintf(stderr, "%s\n", nb_graph_errmsg(g));
		goto out;
	}

	/* The drawing: after backward, with the health colours. */
	nb_dot_opts o = nb_dot_defaults();
	o.health = true;
	o.title = "four sigmoid layers, weights N(0, 1)";
	f = argc > 1 ? fopen(argv[1], "w") : tmpfile();
	if (!f || nb_graph_write_dot(g, f, &o)) {
		fprintf(stderr, "dot: %s\n", f ? nb_last_error()
		                               : "cannot open the output");
		goto out;
	}
	for (int i = 0; i < LAYERS; i++)
		printf("l%d.weight: ||grad|| = %.3g\n", i + 1,
		       norm(nb_tensor_grad(w[i])));
	status = 0;
out:
	if (f && fclose(f))
		status = 1;
	nb_graph_free(g);
	for (int i = 0; i < LAYERS; i++)
		nb_tensor_free(w[i]);
	nb_tensor_free(x);
	nb_tensor_free(target);
	return status;
}
