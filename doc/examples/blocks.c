/*
 * blocks.c - the containers and spec blocks of doc/tutorial.md: a
 * residual MLP written twice, once in C (a module list of residual
 * blocks, run by a forward of our own, as PyTorch's
 *     for blk in self.blocks: x = blk(x)
 * ) and once as the spec
 *     linear:16 3x(residual(layer_norm linear:16 relu)) linear:1
 * Both have the same tensor names (but for the list's name) and both
 * learn a small regression.  Built and run by `make check`; exits 1
 * unless each loss falls.
 */
#include <stdio.h>
#include <nabla/nabla.h>

#define STEPS 200
#define BATCH 32

/* inp, then each block of the list "blocks", then head. */
static nb_tensor *resmlp_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	nb_module *blocks = nb_module_child_named(m, "blocks");
	x = nb_module_forward(nb_module_child_named(m, "inp"), g, x);
	for (size_t i = 0; i < nb_module_child_count(blocks); i++)
		x = nb_module_forward(nb_module_child(blocks, i), g, x);
	return nb_module_forward(nb_module_child_named(m, "head"), g, x);
}

static const nb_module_class resmlp_class = {
	.type = "resmlp", .forward = resmlp_forward,
};

static nb_module *resmlp_new(nb_rng *rng)
{
	nb_module *m = nb_module_new(&resmlp_class, NULL, NULL);
	nb_module *blocks = nb_module_list_new("blocks");
	nb_status st = nb_module_add(m, nb_linear_new("inp", 8, 16, true,
	                                              NB_F32, rng));
	for (int i = 0; i < 3 && !st; i++) {
		nb_module *blk = nb_residual_new(NULL);   /* x + f(x) */
		if (nb_module_add(blk, nb_layer_new("ln", "layer_norm", NULL, 16,
		                                    NB_F32, 0)) ||
		    nb_module_add(blk, nb_linear_new("fc", 16, 16, true, NB_F32,
		                                     rng)) ||
		    nb_module_add(blk, nb_layer_new("act", "relu", NULL, 16,
		                                    NB_F32, 0))) {
			nb_module_free(blk);
			st = nb_last_status();
			break;
		}
		st = nb_module_list_append(blocks, blk);  /* named "0", "1", "2" */
	}
	if (st || nb_module_add(m, blocks) ||
	    nb_module_add(m, nb_linear_new("head", 16, 1, true, NB_F32, rng))) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* Trains m on y = x w for STEPS steps; the first and last loss. */
static int train(nb_module *m, nb_tensor *x, nb_tensor *y, double *first,
                 double *last)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *p[64];
	size_t np = nb_module_params(m, true, p, 64);
	nb_adam_opts ao = nb_adam_defaults();
	ao.lr = 3e-3;
	nb_optim *opt = np <= 64 ? nb_optim_adam(p, np, &ao) : NULL;
	int status = g && opt ? 0 : 1;
	for (int step = 0; step < STEPS && !status; step++) {
		nb_graph_reset(g);
		nb_optim_zero_grad(opt, true);
		nb_tensor *loss = nb_mse_loss(g, nb_module_forward(m, g, x), y,
		                              NB_REDUCTION_MEAN);
		if (!loss || nb_backward(loss, NULL) || nb_optim_step(opt)) {
			fprintf(stderr, "blocks: %s\n", nb_graph_errmsg(g));
			status = 1;
			break;
		}
		*last = nb_tensor_item(loss);
		if (!step)
			*first = *last;
	}
	nb_optim_free(opt);
	nb_graph_free(g);
	return status;
}

int main(void)
{
	nb_rng rng;
	nb_rng_seed(&rng, 3);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(BATCH, 8), &rng, 0, 1);
	nb_tensor *w = nb_tensor_randn(NB_F32, NB_SHAPE(8, 1), &rng, 0, 1);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = g ? nb_tensor_clone(nb_matmul(g, x, w)) : NULL;
	nb_module *c = resmlp_new(&rng);
	nb_model_opts o = {.dtype = NB_F32, .seed = 3};
	nb_module *s = nb_model_parse("linear:16 3x(residual(layer_norm "
	                              "linear:16 relu)) linear:1", 8, &o);
	int status = 1;
	double f1 = 0, l1 = 0, f2 = 0, l2 = 0;
	if (!y || !c || !s) {
		fprintf(stderr, "blocks: %s\n", nb_last_error());
		goto out;
	}
	printf("in C:     %s, %s\n",
	       nb_tensor_name(nb_module_tensor(c, "blocks.2.fc.weight")),
	       nb_tensor_name(nb_module_tensor(c, "blocks.0.ln.bias")));
	printf("the spec: %s, %s\n",
	       nb_tensor_name(nb_module_tensor(s, "rep1.2.fc1.weight")),
	       nb_tensor_name(nb_module_tensor(s, "rep1.0.ln1.bias")));
	if (train(c, x, y, &f1, &l1) || train(s, x, y, &f2, &l2))
		goto out;
	printf("loss in C %.4f -> %.4f, from the spec %.4f -> %.4f\n", f1, l1,
	       f2, l2);
	status = l1 < f1 / 10 && l2 < f2 / 10 ? 0 : 1;
	if (status)
		fprintf(stderr, "blocks: a model did not learn\n");
out:
	nb_module_free(c);
	nb_module_free(s);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(y);
	return status;
}
