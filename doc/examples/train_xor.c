/*
 * train_xor.c - a complete nabla program: a 2-8-1 tanh network learns
 * XOR with plain gradient descent.  Built and run by `make check`, so it
 * cannot drift from the API.  Exits 1 unless the model learns.
 */
#include <stdio.h>
#include <nabla/nabla.h>

#define STEPS 2000

static const float xs[4][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}};
static const float ys[4][1] = {{0}, {1}, {1}, {0}};

/* w -= lr * dL/dw, then zero the gradient for the next step. */
static void sgd_update(nb_tensor *w, float lr)
{
	float *p = nb_tensor_data(w);
	const float *d = nb_tensor_cdata(nb_tensor_grad(w));
	for (size_t i = 0; i < nb_tensor_numel(w); i++)
		p[i] -= lr * d[i];
	nb_tensor_zero_grad(w);
}

int main(void)
{
	nb_rng rng;
	nb_rng_seed(&rng, 1);
	/* Parameters are persistent tensors: ours to free. */
	nb_tensor *params[4] = {
		nb_tensor_randn(NB_F32, NB_SHAPE(8, 2), &rng, 0, 1),  /* w1 */
		nb_tensor_zeros(NB_F32, NB_SHAPE(8)),                 /* b1 */
		nb_tensor_randn(NB_F32, NB_SHAPE(1, 8), &rng, 0, 0.5),/* w2 */
		nb_tensor_zeros(NB_F32, NB_SHAPE(1)),                 /* b2 */
	};
	nb_graph *g = nb_graph_new();
	int status = 1;
	if (!g)
		goto out;
	for (int i = 0; i < 4; i++)
		if (!params[i] || nb_tensor_set_requires_grad(params[i], true))
			goto out;

	double loss_value = 0;
	for (int step = 0; step <= STEPS; step++) {
		/* Graph tensors: freed by nb_graph_reset at the end of the step. */
		nb_tensor *x = nb_graph_from_data(g, NB_F32, NB_SHAPE(4, 2), xs);
		nb_tensor *y = nb_graph_from_data(g, NB_F32, NB_SHAPE(4, 1), ys);
		nb_tensor *h = nb_tanh(g, nb_linear(g, x, params[0], params[1]));
		nb_tensor *p = nb_linear(g, h, params[2], params[3]);
		nb_tensor *loss = nb_mse_loss(g, p, y, NB_REDUCTION_MEAN);
		/* One check for the whole chain: errors are sticky. */
		if (!loss || nb_backward(loss, NULL)) {
			fprintf(stderr, "train_xor: %s\n", nb_graph_errmsg(g));
			goto out;
		}
		loss_value = nb_tensor_item(loss);
		if (step % 500 == 0)
			printf("step %4d  loss %.3e\n", step, loss_value);
		if (step == STEPS) {
			for (int i = 0; i < 4; i++)
				printf("xor(%g, %g) = %.3f\n", xs[i][0], xs[i][1],
				       nb_tensor_get(p, (size_t)i));
			break;
		}
		for (int i = 0; i < 4; i++)
			sgd_update(params[i], 0.2f);
		nb_graph_reset(g);
	}
	status = loss_value < 0.01 ? 0 : 1;
	if (status)
		fprintf(stderr, "train_xor: did not learn (loss %g)\n", loss_value);
out:
	nb_graph_free(g);
	for (int i = 0; i < 4; i++)
		nb_tensor_free(params[i]);
	return status;
}
