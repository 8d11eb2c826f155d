/*
 * batch_norm.c - a BatchNorm layer's life: parameters and running
 * statistics kept by the caller across training steps, then evaluation
 * with those statistics.  Uses momentum=none (NAN), PyTorch's cumulative
 * average, so after K steps the running mean must be the plain average
 * of the K batch means.  Built and run by `make check` (doc/
 * normalization.md); exits 1 if anything disagrees.
 */
#include <math.h>
#include <stdio.h>
#include <nabla/nabla.h>

#define N 8
#define C 4
#define L 3
#define STEPS 3

/* The mean over (N, L) of channel c of a [N, C, L] batch. */
static double channel_mean(const nb_tensor *x, int c)
{
	double s = 0;
	for (int n = 0; n < N; n++)
		for (int i = 0; i < L; i++)
			s += nb_tensor_get(x, (size_t)((n * C + c) * L + i));
	return s / (N * L);
}

int main(void)
{
	nb_rng rng;
	nb_rng_seed(&rng, 7);
	/* The layer's state: persistent tensors, ours to free. */
	nb_tensor *gamma = nb_tensor_ones(NB_F32, NB_SHAPE(C));
	nb_tensor *beta = nb_tensor_zeros(NB_F32, NB_SHAPE(C));
	nb_tensor *rm = nb_tensor_zeros(NB_F32, NB_SHAPE(C));
	nb_tensor *rv = nb_tensor_ones(NB_F32, NB_SHAPE(C));
	nb_tensor *count = nb_tensor_zeros(NB_I64, 0, NULL);
	nb_tensor *x = NULL;
	nb_graph *g = nb_graph_new();
	double mean_sum[C] = {0};
	int status = 1;
	if (!gamma || !beta || !rm || !rv || !count || !g)
		goto out;
	nb_tensor_set_requires_grad(gamma, true);
	nb_tensor_set_requires_grad(beta, true);

	for (int step = 0; step < STEPS; step++) {
		/* A batch whose mean drifts from step to step. */
		nb_tensor_free(x);
		x = nb_tensor_randn(NB_F32, NB_SHAPE(N, C, L), &rng, step, 1);
		if (!x)
			goto out;
		for (int c = 0; c < C; c++)
			mean_sum[c] += channel_mean(x, c);
		/* Training mode (the default): batch statistics, and rm, rv
		 * and count updated in place by this call. */
		nb_tensor *h = nb_batch_norm(g, x, gamma, beta, rm, rv, count,
		                             NAN, 1e-5);
		nb_tensor *loss = nb_mean(g, nb_mul(g, h, h), 0, NULL, false);
		if (!loss || nb_backward(loss, NULL)) {
			fprintf(stderr, "%s\n", nb_graph_errmsg(g));
			goto out;
		}
		/* Plain gradient descent on gamma and beta. */
		nb_tensor *ps[] = {gamma, beta};
		for (int k = 0; k < 2; k++) {
			float *p = nb_tensor_data(ps[k]);
			const float *d = nb_tensor_cdata(nb_tensor_grad(ps[k]));
			for (int c = 0; c < C; c++)
				p[c] -= 0.1f * d[c];
			nb_tensor_zero_grad(ps[k]);
		}
		nb_graph_reset(g);
	}
	printf("num_batches_tracked = %g\n", nb_tensor_item(count));
	for (int c = 0; c < C; c++) {
		double want = mean_sum[c] / STEPS;
		double got = nb_tensor_get(rm, (size_t)c);
		printf("channel %d: running_mean %.6f (average of the batch "
		       "means %.6f), running_var %.4f\n", c, got, want,
		       nb_tensor_get(rv, (size_t)c));
		if (fabs(got - want) > 1e-5)
			goto out;
	}

	/* Evaluation: the running statistics, nothing updated. */
	nb_graph_set_training(g, false);
	nb_tensor *y = nb_batch_norm(g, x, gamma, beta, rm, rv, count, NAN,
	                             1e-5);
	if (!y) {
		fprintf(stderr, "%s\n", nb_graph_errmsg(g));
		goto out;
	}
	double want = (nb_tensor_get(x, 0) - nb_tensor_get(rm, 0)) /
	              sqrt(nb_tensor_get(rv, 0) + 1e-5) *
	              nb_tensor_get(gamma, 0) + nb_tensor_get(beta, 0);
	printf("eval: y[0] = %.6f, by hand %.6f\n", nb_tensor_get(y, 0), want);
	if (fabs(nb_tensor_get(y, 0) - want) > 1e-5 ||
	    nb_tensor_item(count) != STEPS)
		goto out;
	status = 0;
out:
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(gamma);
	nb_tensor_free(beta);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(count);
	return status;
}
