/*
 * two_inputs.c - a module of your own with two inputs and two results,
 * as PyTorch's forward(self, x, h0=None) returning (logits, h_n): a
 * sequence classifier whose GRU (a child, run with
 * nb_module_forward_multi) may start from a given state, and which
 * returns its class logits and the GRU's final state.  It learns
 * whether the first feature of a sequence sums to more than zero.
 * Built and run by `make check` (doc/tutorial.md, "Several inputs and
 * results"); exits 1 unless it reaches 90% accuracy.
 */
#include <stdio.h>
#include <nabla/nabla.h>

#define B 64
#define T 12
#define F 3
#define H 16

/* (x [B, T, F], h0 [1, B, H] or NULL) -> (logits [B, 2], h_n [1, B, H]) */
static int classifier_forward(nb_module *m, nb_graph *g, int n_in,
                              nb_tensor *const *in, int cap, nb_tensor **out)
{
	if (n_in < 1 || n_in > 2) {
		nb_graph_fail(g, NB_EINVAL, "classifier: takes (x[, h0]), given "
		              "%d inputs", n_in);
		return -1;
	}
	nb_tensor *gin[2] = {in[0], n_in == 2 ? in[1] : NULL}, *gout[2];
	if (nb_module_forward_multi(nb_module_child_named(m, "gru"), g, 2, gin,
	                            2, gout) != 2)
		return -1;
	/* the last step's output, [B, H], then the head */
	nb_tensor *last = nb_select(g, gout[0], 1, T - 1);
	nb_tensor *logits = nb_module_forward(nb_module_child_named(m, "head"),
	                                      g, last);
	if (!logits)
		return -1;
	nb_tensor *res[2] = {logits, gout[1]};
	for (int i = 0; i < 2 && i < cap; i++)
		out[i] = res[i];
	return 2;
}

static const nb_module_class classifier_class = {
	.type = "classifier", .forward_multi = classifier_forward,
};

int main(void)
{
	nb_rng rng;
	nb_rng_seed(&rng, 3);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.batch_first = true;
	nb_module *m = nb_module_new(&classifier_class, NULL, NULL);
	if (!m || nb_module_add(m, nb_gru_new("gru", F, H, &o, NB_F32, &rng)) ||
	    nb_module_add(m, nb_linear_new("head", H, 2, true, NB_F32, &rng))) {
		fprintf(stderr, "two_inputs: %s\n", nb_last_error());
		return 1;
	}
	nb_tensor *params[8];
	size_t np = nb_module_params(m, true, params, 8);
	nb_adam_opts ao = nb_adam_defaults();
	ao.lr = 0.01;
	nb_optim *opt = nb_optim_adam(params, np, &ao);
	nb_graph *g = nb_graph_new();
	int status = 1;
	double acc = 0;
	for (int step = 0; step < 300 && opt && g; step++) {
		nb_graph_reset(g);
		nb_optim_zero_grad(opt, false);
		nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(B, T, F));
		nb_tensor *y = nb_graph_tensor(g, NB_I64, NB_SHAPE(B));
		for (int b = 0; b < B && x && y; b++) {
			double sum = 0;
			for (int t = 0; t < T * F; t++) {
				double v = nb_rng_normal(&rng);
				nb_tensor_set(x, (size_t)(b * T * F + t), v);
				sum += t % F == 0 ? v : 0;
			}
			nb_tensor_set(y, (size_t)b, sum > 0);
		}
		/* Two inputs, the second omitted (zeros); two results. */
		nb_tensor *in[2] = {x, NULL}, *out[2];
		if (nb_module_forward_multi(m, g, 2, in, 2, out) != 2)
			break;
		nb_tensor *loss = nb_cross_entropy(g, out[0], y, NULL, -100,
		                                   NB_REDUCTION_MEAN, 0);
		if (!loss || nb_backward(loss, NULL) || nb_optim_step(opt))
			break;
		nb_tensor *pred = nb_argmax(g, out[0], 1, true, false);
		int right = 0;
		for (int b = 0; pred && b < B; b++)
			right += nb_tensor_get(pred, (size_t)b) ==
			         nb_tensor_get(y, (size_t)b);
		acc = 0.9 * acc + 0.1 * right / (double)B;
		if (step % 100 == 99) {
			char hs[64];
			nb_shape_str(nb_tensor_ndim(out[1]), nb_tensor_shape(out[1]),
			             hs, sizeof hs);
			printf("step %d  loss %.4f  accuracy (running) %.1f%%  "
			       "h_n %s\n", step + 1, nb_tensor_item(loss), 100 * acc,
			       hs);
		}
		if (step == 299)
			status = acc >= 0.9 ? 0 : 1;
	}
	if (nb_graph_status(g))
		fprintf(stderr, "two_inputs: %s\n", nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_optim_free(opt);
	nb_module_free(m);
	return status;
}
