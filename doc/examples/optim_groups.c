/*
 * optim_groups.c - the AdamW recipe of doc/optimizers.md: no weight
 * decay on biases and normalization weights (two parameter groups,
 * chosen from what each layer recorded), and a learning rate that warms
 * up linearly for WARMUP batches and then follows a cosine to 0,
 * stepped once per batch.  A small regression on random data.  Built
 * and run by `make check`; exits 1 unless the loss falls and the lr
 * follows the schedule.
 */
#include <math.h>
#include <stdio.h>
#include <nabla/nabla.h>

#define STEPS 300
#define WARMUP 30
#define BATCH 32

int main(void)
{
	nb_rng rng;
	nb_rng_seed(&rng, 7);
	nb_module *m = nb_model_parse("linear:32 layer_norm gelu linear:1", 8,
	                              NULL);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(BATCH, 8), &rng, 0, 1);
	nb_tensor *w = nb_tensor_randn(NB_F32, NB_SHAPE(1, 8), &rng, 0, 1);
	nb_graph *g = nb_graph_new();
	nb_optim *opt = NULL;
	nb_sched *sched = NULL;
	nb_tensor *y = NULL;
	int status = 1;
	if (!m || !x || !w || !g)
		goto out;
	y = nb_tensor_clone(nb_linear(g, x, w, NULL)); /* the target */
	nb_graph_reset(g);

	/* Group 0: the linear weights, weight_decay 0.05; group 1: the
	 * biases and layer_norm's weight and bias, weight_decay 0. */
	nb_adam_opts ao = nb_adamw_defaults();
	ao.lr = 3e-3;
	ao.weight_decay = 0.05;
	opt = nb_optim_adamw_no_decay(m, &ao);
	if (!opt)
		goto out;
	for (size_t i = 0; i < nb_optim_group_count(opt); i++) {
		nb_group_opts go;
		size_t n;
		nb_optim_group(opt, i, &go, NULL, &n);
		printf("group %zu: %zu parameters, weight_decay %g\n", i, n,
		       go.weight_decay);
	}

	/* Warm-up then cosine, in batches (schedule steps). */
	nb_sched *warm = nb_sched_linear_lr(opt, 0.01, 1.0, WARMUP);
	nb_sched *cos = nb_sched_cosine_lr(opt, STEPS - WARMUP, 0);
	sched = nb_sched_sequential(opt, (nb_sched *[]){warm, cos}, 2,
	                            (int64_t[]){WARMUP});
	if (!sched)
		goto out;

	double first = 0, last = 0, peak = 0;
	for (int step = 0; step < STEPS; step++) {
		nb_optim_zero_grad(opt, true);
		nb_tensor *loss = nb_mse_loss(g, nb_module_forward(m, g, x), y,
		                              NB_REDUCTION_MEAN);
		if (!loss || nb_backward(loss, NULL)) {
			fprintf(stderr, "optim_groups: %s\n", nb_graph_errmsg(g));
			goto out;
		}
		last = nb_tensor_item(loss);
		if (!step)
			first = last;
		peak = fmax(peak, nb_optim_get_lr(opt));
		if (step % 50 == 0)
			printf("step %3d  lr %.2e  loss %.4f\n", step,
			       nb_optim_get_lr(opt), last);
		if (nb_optim_step(opt) || nb_sched_step(sched)) {
			fprintf(stderr, "optim_groups: %s\n", nb_last_error());
			goto out;
		}
		nb_graph_reset(g);
	}
	printf("loss %.4f -> %.4f, peak lr %.2e, final lr %.2e\n", first,
	       last, peak, nb_optim_get_lr(opt));
	status = last < first / 10 && fabs(peak - 3e-3) < 1e-12 &&
	         nb_optim_get_lr(opt) == 0 ? 0 : 1;
	if (status)
		fprintf(stderr, "optim_groups: did not learn or the schedule is "
		        "off\n");
out:
	nb_sched_free(sched);
	nb_optim_free(opt);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(y);
	nb_module_free(m);
	return status;
}
