/*
 * nabla_bench.c - the nabla side of the benchmark suite (doc/performance.md).
 *
 *   nabla-bench WORKLOAD [--threads N] [--reps R] [--warmup W]
 *                        [--rss-every K]
 *
 * Runs one workload: a setup, then W untimed and R timed iterations, and
 * prints one JSON line: median, min and max milliseconds per iteration
 * and the peak resident set.  tools/bench/torch_bench.py runs the same
 * workloads in PyTorch and tools/bench/run.sh runs both and prints
 * ratios.  --rss-every K adds "rss_kb", the resident set after training
 * steps 1, 10, 100, 1000, ..., every K-th and the last, warm-up
 * included (tools/bench/memory.sh): a training step is one optimizer
 * step (one batch; fmnist's iteration is an epoch of 469), or one
 * iteration for the workloads without an optimizer.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <nabla/nabla.h>
#include "config.h"
#include "omp_passive.h"
#ifdef HAVE_CBLAS
#include <cblas.h>
#endif

typedef struct bench {
	const char *name;
	int (*setup)(void);
	int (*step)(void);
	void (*teardown)(void);
	/* Floating-point operations of the step's matrix products and
	 * convolutions (forward and backward), for the roofline column;
	 * 0 for workloads they do not dominate. */
	double (*flops)(void);
} bench;

static nb_graph *g;
static nb_rng rng;
static nb_tensor *params[32];
static size_t n_params;
static nb_optim *opt;
static nb_tensor *xs, *ys; /* persistent inputs and targets */

static double clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* The process's CPU time: on a loaded machine, a 1-thread step's CPU
 * time leaves out the time it waited for a core (issue 17). */
static double cpu_ms(void)
{
	return clock_ms(CLOCK_PROCESS_CPUTIME_ID);
}

static int fail(const char *what)
{
	fprintf(stderr, "nabla-bench: %s: %s\n", what,
	        g && nb_graph_status(g) ? nb_graph_errmsg(g) : nb_last_error());
	return 1;
}

/* A parameter, registered for the optimizer. */
static nb_tensor *param(nb_tensor *t)
{
	if (t) {
		nb_tensor_set_requires_grad(t, true);
		params[n_params++] = t;
	}
	return t;
}

/* PyTorch's default linear init: U(-1/sqrt(in), 1/sqrt(in)). */
static nb_tensor *linear_w(int64_t out, int64_t in)
{
	double b = 1.0 / sqrt((double)in);
	return param(nb_tensor_rand(NB_F32, NB_SHAPE(out, in), &rng, -b, b));
}

static nb_tensor *linear_b(int64_t out, int64_t in)
{
	double b = 1.0 / sqrt((double)in);
	return param(nb_tensor_rand(NB_F32, NB_SHAPE(out), &rng, -b, b));
}

static int sgd(double lr, double momentum)
{
	nb_sgd_opts o = nb_sgd_defaults();
	o.lr = lr;
	o.momentum = momentum;
	opt = nb_optim_sgd(params, n_params, &o);
	return opt ? 0 : fail("optimizer");
}

static size_t graph_used_max; /* the largest step's working set */

/* --rss-every: the training steps so far and the samples taken. */
static long steps, rss_every;
static long rss_step[256], rss_kb[256];
static int n_rss;

/* The resident set now, from /proc/self/statm (getrusage has only the
 * peak); -1 where there is no /proc. */
static long rss_now_kb(void)
{
	long size, resident = -1;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One training step done: sample at 1, 10, 100, ... and every K. */
static void step_done(void)
{
	long s = ++steps, p = 1;
	while (p * 10 <= s)
		p *= 10;
	if (!rss_every || n_rss >= 255 || (s != p && s % rss_every))
		return;
	rss_step[n_rss] = s;
	rss_kb[n_rss++] = rss_now_kb();
}

/* backward + optimizer step + reset: the end of every training step. */
static int finish(nb_tensor *loss)
{
	if (!loss || nb_backward(loss, NULL))
		return fail("step");
	if (nb_graph_bytes_used(g) > graph_used_max)
		graph_used_max = nb_graph_bytes_used(g);
	if (nb_optim_step(opt))
		return fail("optimizer step");
	nb_optim_zero_grad(opt, false);
	nb_graph_reset(g);
	step_done();
	return 0;
}

static int common_setup(void)
{
	nb_rng_seed(&rng, 0);
	g = nb_graph_new();
	if (g) /* as PyTorch: intermediate gradients are not kept */
		nb_graph_set_retain_grads(g, false);
	return g ? 0 : fail("graph");
}

static void common_teardown(void)
{
	nb_optim_free(opt);
	opt = NULL;
	for (size_t i = 0; i < n_params; i++)
		nb_tensor_free(params[i]);
	n_params = 0;
	nb_tensor_free(xs);
	nb_tensor_free(ys);
	xs = ys = NULL;
	nb_graph_free(g);
	g = NULL;
}

/* ---- seed10: the notes' network ---- */

static int seed10_setup(void)
{
	if (common_setup())
		return 1;
	for (int i = 0; i < 10; i++)
		if (!linear_w(750 - 50 * i, 800 - 50 * i))
			return fail("init");
	xs = nb_tensor_randn(NB_F32, NB_SHAPE(2000, 800), &rng, 0, 1);
	ys = nb_tensor_randn(NB_F32, NB_SHAPE(2000, 300), &rng, 0, 1);
	return xs && ys ? sgd(0.01, 0) : fail("data");
}

static int seed10_step(void)
{
	nb_tensor *h = xs;
	for (int i = 0; i < 10; i++)
		h = nb_tanh(g, nb_linear(g, h, params[i], NULL));
	return finish(nb_mse_loss(g, h, ys, NB_REDUCTION_MEAN));
}

/* 2 m n k per product: forward, weight gradient, and the input
 * gradient of every layer but the first (whose input needs none). */
static double seed10_flops(void)
{
	double f = 0;
	for (int i = 0; i < 10; i++)
		f += 2.0 * 2000 * (800 - 50 * i) * (750 - 50 * i) * (i ? 3 : 2);
	return f;
}

#ifdef HAVE_CBLAS
/*
 * seed10_gemm: only the matrix products of a seed10 step, straight to
 * OpenBLAS with the same shapes and transposes nabla uses: 10 forward
 * (X W^T), 9 input gradients (dY W; the input needs none) and 10 weight
 * gradients (dY^T X).  The floor for seed10.
 */
static float *gemm_buf[3];

static int seed10_gemm_setup(void)
{
	size_t big = 2000 * 800;
	for (int i = 0; i < 3; i++)
		if (!(gemm_buf[i] = calloc(big, sizeof(float))))
			return fail("out of memory");
	return common_setup();
}

static int seed10_gemm_step(void)
{
	float *x = gemm_buf[0], *w = gemm_buf[1], *y = gemm_buf[2];
	for (int i = 0; i < 10; i++) {
		int in = 800 - 50 * i, out = 750 - 50 * i;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 2000, out, in,
		            1, x, in, w, in, 0, y, out);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, 2000,
		            1, y, out, x, in, 1, w, in);
		if (i > 0)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2000,
			            in, out, 1, y, out, w, in, 1, x, in);
	}
	return 0;
}

static void seed10_gemm_teardown(void)
{
	for (int i = 0; i < 3; i++) {
		free(gemm_buf[i]);
		gemm_buf[i] = NULL;
	}
	common_teardown();
}
#endif

/* ---- tiny: per-op overhead ---- */

static int tiny_setup(void)
{
	static const int64_t sz[] = {16, 32, 32, 4};
	if (common_setup())
		return 1;
	for (int i = 0; i < 3; i++)
		if (!linear_w(sz[i + 1], sz[i]) || !linear_b(sz[i + 1], sz[i]))
			return fail("init");
	xs = nb_tensor_randn(NB_F32, NB_SHAPE(8, 16), &rng, 0, 1);
	ys = nb_tensor_zeros(NB_I64, NB_SHAPE(8));
	for (size_t i = 0; ys && i < 8; i++)
		nb_tensor_set(ys, i, (double)nb_rng_below(&rng, 4));
	return xs && ys ? sgd(0.01, 0) : fail("data");
}

static int tiny_step(void)
{
	nb_tensor *h = nb_relu(g, nb_linear(g, xs, params[0], params[1]));
	h = nb_relu(g, nb_linear(g, h, params[2], params[3]));
	return finish(nb_cross_entropy(g, nb_linear(g, h, params[4],
	                                            params[5]), ys,
		NULL, -100, NB_REDUCTION_MEAN, 0));
}

#ifdef HAVE_CBLAS
/* sgemm: one 1024 x 1024 x 1024 product, the machine's matrix-product
 * rate for the roofline column. */
static float *sg[3];

static int sgemm_setup(void)
{
	for (int i = 0; i < 3; i++)
		if (!(sg[i] = calloc(1024 * 1024, sizeof(float))))
			return fail("out of memory");
	for (size_t i = 0; i < 1024 * 1024; i++)
		sg[0][i] = sg[1][i] = (float)(i % 7) - 3;
	return 0;
}

static int sgemm_step(void)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1024, 1024, 1024,
	            1, sg[0], 1024, sg[1], 1024, 0, sg[2], 1024);
	return 0;
}

static void sgemm_teardown(void)
{
	for (int i = 0; i < 3; i++) {
		free(sg[i]);
		sg[i] = NULL;
	}
}

static double sgemm_flops(void) { return 2.0 * 1024 * 1024 * 1024; }
#endif

/* ---- mlp784: 784-256-256-10 with batch norm, relu, dropout ---- */

static nb_tensor *bn_stats[4];

static int mlp_setup_net(void)
{
	/* fc1 w, b; bn1 w, b; fc2 w, b; bn2 w, b; fc3 w, b */
	if (!linear_w(256, 784) || !linear_b(256, 784) ||
	    !param(nb_tensor_ones(NB_F32, NB_SHAPE(256))) ||
	    !param(nb_tensor_zeros(NB_F32, NB_SHAPE(256))) ||
	    !linear_w(256, 256) || !linear_b(256, 256) ||
	    !param(nb_tensor_ones(NB_F32, NB_SHAPE(256))) ||
	    !param(nb_tensor_zeros(NB_F32, NB_SHAPE(256))) ||
	    !linear_w(10, 256) || !linear_b(10, 256))
		return fail("init");
	for (int i = 0; i < 4; i++)
		if (!(bn_stats[i] = (i % 2 ? nb_tensor_ones
		                           : nb_tensor_zeros)(NB_F32,
		                                              NB_SHAPE(256))))
			return fail("init");
	return 0;
}

static nb_tensor *batch_norm(nb_tensor *x, int k)
{
	return nb_batch_norm(g, x, params[2 + 4 * k], params[3 + 4 * k],
	                     bn_stats[2 * k], bn_stats[2 * k + 1], NULL, 0.1,
	                     1e-5);
}

static nb_tensor *mlp_forward(nb_tensor *x)
{
	nb_tensor *h = nb_linear(g, x, params[0], params[1]);
	h = nb_dropout(g, nb_relu(g, batch_norm(h, 0)), 0.2);
	h = nb_linear(g, h, params[4], params[5]);
	h = nb_relu(g, batch_norm(h, 1));
	return nb_linear(g, h, params[8], params[9]);
}

static int mlp784_setup(void)
{
	if (common_setup() || mlp_setup_net())
		return 1;
	xs = nb_tensor_randn(NB_F32, NB_SHAPE(128, 784), &rng, 0, 1);
	ys = nb_tensor_zeros(NB_I64, NB_SHAPE(128));
	for (size_t i = 0; ys && i < 128; i++)
		nb_tensor_set(ys, i, (double)nb_rng_below(&rng, 10));
	return xs && ys ? sgd(0.1, 0.9) : fail("data");
}

static double mlp784_flops(void)
{
	return 2.0 * 128 * (784 * 256 * 2 + 256 * 256 * 3 + 256 * 10 * 3);
}

static int mlp784_step(void)
{
	return finish(nb_cross_entropy(g, mlp_forward(xs), ys,
		NULL, -100, NB_REDUCTION_MEAN, 0));
}

static void mlp784_teardown(void)
{
	for (int i = 0; i < 4; i++) {
		nb_tensor_free(bn_stats[i]);
		bn_stats[i] = NULL;
	}
	common_teardown();
}

/* ---- cnn: a training step of a small CNN on 28 x 28 images ----
 * conv2d 1->16 3x3 pad 1, relu, max_pool2d 2, conv2d 16->32 3x3 pad 1,
 * relu, max_pool2d 2, flatten, linear 1568->10; batch 128, SGD. */

static nb_tensor *conv_w(int64_t out, int64_t in)
{
	double b = 1.0 / sqrt((double)(in * 9));
	return param(nb_tensor_rand(NB_F32, NB_SHAPE(out, in, 3, 3), &rng, -b,
	                            b));
}

static int cnn_setup(void)
{
	if (common_setup())
		return 1;
	if (!conv_w(16, 1) || !linear_b(16, 9) || !conv_w(32, 16) ||
	    !linear_b(32, 144) || !linear_w(10, 1568) || !linear_b(10, 1568))
		return fail("init");
	xs = nb_tensor_randn(NB_F32, NB_SHAPE(128, 1, 28, 28), &rng, 0, 1);
	ys = nb_tensor_zeros(NB_I64, NB_SHAPE(128));
	for (size_t i = 0; ys && i < 128; i++)
		nb_tensor_set(ys, i, (double)nb_rng_below(&rng, 10));
	return xs && ys ? sgd(0.1, 0.9) : fail("data");
}

/* conv1 (forward, weight gradient; its input needs none), conv2
 * (forward, weight and input gradients), the linear layer (all three). */
static double cnn_flops(void)
{
	return 2.0 * 128 * (16 * 784 * 9.0 * 2 + 32 * 196 * 144.0 * 3 +
	                    1568 * 10.0 * 3);
}

static int cnn_step(void)
{
	nb_conv2d_opts same = NB_CONV2D_DEFAULTS;
	nb_pool2d_opts pool = {.kernel_size = {2, 2}};
	same.padding[0] = same.padding[1] = 1;
	nb_tensor *h = nb_relu(g, nb_conv2d(g, xs, params[0], params[1], &same));
	h = nb_max_pool2d(g, h, &pool);
	h = nb_relu(g, nb_conv2d(g, h, params[2], params[3], &same));
	h = nb_max_pool2d(g, h, &pool);
	h = nb_reshape(g, h, NB_SHAPE(128, -1));
	h = nb_linear(g, h, params[4], params[5]);
	return finish(nb_cross_entropy(g, h, ys,
		NULL, -100, NB_REDUCTION_MEAN, 0));
}

/* ---- conv: one conv2d layer, forward and backward (issue 17) ----
 * [64, 32, 28, 28] -> 64 channels, 3x3, padding 1, bias; the loss is the
 * output's sum, so the input, weight and bias gradients are all
 * computed (and accumulated, as PyTorch's .grad). */

static int conv_setup(void)
{
	if (common_setup())
		return 1;
	if (!conv_w(64, 32) || !linear_b(64, 288))
		return fail("init");
	xs = nb_tensor_randn(NB_F32, NB_SHAPE(64, 32, 28, 28), &rng, 0, 1);
	if (!xs)
		return fail("data");
	nb_tensor_set_requires_grad(xs, true);
	return 0;
}

/* forward, input gradient, weight gradient: 2 N O OH OW C kH kW each */
static double conv_flops(void)
{
	return 3 * 2.0 * 64 * 64 * 784 * 288;
}

static int conv_step(void)
{
	nb_conv2d_opts same = NB_CONV2D_DEFAULTS;
	same.padding[0] = same.padding[1] = 1;
	nb_tensor *y = nb_conv2d(g, xs, params[0], params[1], &same);
	nb_tensor *loss = nb_sum(g, y, 0, NULL, false);
	if (!loss || nb_backward(loss, NULL))
		return fail("conv");
	nb_graph_reset(g);
	return 0;
}

/* ---- fmnist: one epoch of mlp784 on Fashion-MNIST ---- */

static nb_dataset fm;
static int64_t *order;

static int fmnist_setup(void)
{
	if (common_setup() || mlp_setup_net())
		return 1;
	if (nb_dataset_fashion_mnist(NULL, &fm) ||
	    nb_dataset_standardize(&fm, NULL, NULL))
		return fail("Fashion-MNIST (install dataset-fashion-mnist)");
	order = calloc((size_t)nb_tensor_dim(fm.train_x, 0), sizeof *order);
	return order ? sgd(0.1, 0.9) : fail("out of memory");
}

static int fmnist_step(void)
{
	size_t n = (size_t)nb_tensor_dim(fm.train_x, 0);
	for (size_t i = 0; i < n; i++)
		order[i] = (int64_t)i;
	nb_shuffle(order, n, &rng);
	for (size_t i = 0; i < n; i += 128) {
		nb_tensor *bx, *by;
		size_t len = n - i < 128 ? n - i : 128;
		if (nb_batch_gather(g, fm.train_x, fm.train_y, order + i, len,
		                    &bx, &by))
			return fail("batch");
		if (finish(nb_cross_entropy(g, mlp_forward(bx), by,
			NULL, -100, NB_REDUCTION_MEAN, 0)))
			return 1;
	}
	return 0;
}

static void fmnist_teardown(void)
{
	free(order);
	order = NULL;
	nb_dataset_free(&fm);
	mlp784_teardown();
}

/* ---- norms: forward + backward of the four normalizations ---- */

static nb_tensor *norm_x;

static int norms_setup(void)
{
	if (common_setup())
		return 1;
	norm_x = param(nb_tensor_randn(NB_F32, NB_SHAPE(32, 32, 28, 28), &rng,
	                               0, 1));
	/* gamma, beta per channel; layer norm's over [32, 28, 28] */
	if (!norm_x || !param(nb_tensor_ones(NB_F32, NB_SHAPE(32))) ||
	    !param(nb_tensor_zeros(NB_F32, NB_SHAPE(32))) ||
	    !param(nb_tensor_ones(NB_F32, NB_SHAPE(32, 28, 28))) ||
	    !param(nb_tensor_zeros(NB_F32, NB_SHAPE(32, 28, 28))))
		return fail("init");
	for (int i = 0; i < 2; i++)
		if (!(bn_stats[i] = (i ? nb_tensor_ones : nb_tensor_zeros)(
		          NB_F32, NB_SHAPE(32))))
			return fail("init");
	return 0;
}

/* One norm's forward and backward (sum of the output as the loss). */
static int norms_step_one(const char *which)
{
	static const int64_t ln_shape[3] = {32, 28, 28};
	nb_tensor *y;
	if (!strcmp(which, "batch_norm"))
		y = nb_batch_norm(g, norm_x, params[1], params[2], bn_stats[0],
		                  bn_stats[1], NULL, 0.1, 1e-5);
	else if (!strcmp(which, "group_norm"))
		y = nb_group_norm(g, norm_x, 8, params[1], params[2], 1e-5);
	else if (!strcmp(which, "instance_norm"))
		y = nb_instance_norm(g, norm_x, params[1], params[2], NULL, NULL,
		                     0.1, 1e-5);
	else
		y = nb_layer_norm(g, norm_x, 3, ln_shape, params[3], params[4],
		                  1e-5);
	nb_tensor *loss = nb_sum(g, y, 0, NULL, false);
	if (!loss || nb_backward(loss, NULL))
		return fail(which);
	nb_graph_reset(g);
	return 0;
}

static const char *norm_which;
static int norms_step(void) { return norms_step_one(norm_which); }

static void norms_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		nb_tensor_free(bn_stats[i]);
		bn_stats[i] = NULL;
	}
	common_teardown();
}

/* ---- gpt_tiny: a causal transformer language model (issue 18) ----
 * token embedding [96, 128] + learned positions [64, 128], 4 pre-norm
 * causal encoder layers (4 heads, feed-forward 512, gelu, dropout 0),
 * a final layer norm and a linear head to 96; T = 64, batch 16; cross
 * entropy and Adam. */

#define GPT_V 96
#define GPT_D 128
#define GPT_T 64
#define GPT_B 16
#define GPT_LAYERS 4

static nb_module *gpt;

static int gpt_add(nb_module *m)
{
	return nb_module_add(gpt, m) ? fail("gpt_tiny model") : 0;
}

static int gpt_tiny_setup(void)
{
	if (common_setup() || !(gpt = nb_sequential_new(NULL)))
		return 1;
	nb_encoder_opts eo = NB_ENCODER_DEFAULTS;
	eo.dim_feedforward = 4 * GPT_D;
	eo.dropout = 0;
	eo.activation = NB_ACT_GELU;
	eo.batch_first = eo.norm_first = eo.causal = true;
	if (gpt_add(nb_embedding_new("tok", GPT_V, GPT_D, NB_NO_PADDING, NB_F32,
	                             &rng)) ||
	    gpt_add(nb_learned_positions_new("pos", GPT_T, GPT_D, NB_F32, &rng)))
		return 1;
	for (int i = 0; i < GPT_LAYERS; i++) {
		char name[16];
		snprintf(name, sizeof name, "h%d", i);
		if (gpt_add(nb_transformer_encoder_layer_new(name, GPT_D, 4, &eo,
		                                             NB_F32, &rng)))
			return 1;
	}
	if (gpt_add(nb_layer_new("ln_f", "layer_norm", NULL, GPT_D, NB_F32, 0)) ||
	    gpt_add(nb_linear_new("head", GPT_D, GPT_V, true, NB_F32, &rng)))
		return 1;
	nb_tensor *ps[64];
	size_t np = nb_module_params(gpt, true, ps, 64);
	nb_adam_opts ao = nb_adam_defaults();
	ao.lr = 3e-4;
	opt = np <= 64 ? nb_optim_adam(ps, np, &ao) : NULL;
	xs = nb_tensor_zeros(NB_I64, NB_SHAPE(GPT_B, GPT_T));
	ys = nb_tensor_zeros(NB_I64, NB_SHAPE(GPT_B * GPT_T));
	for (size_t i = 0; xs && ys && i < GPT_B * GPT_T; i++) {
		nb_tensor_set(xs, i, (double)nb_rng_below(&rng, GPT_V));
		nb_tensor_set(ys, i, (double)nb_rng_below(&rng, GPT_V));
	}
	return opt && xs && ys ? 0 : fail("gpt_tiny setup");
}

static int gpt_tiny_step(void)
{
	nb_tensor *logits = nb_module_forward(gpt, g, xs);
	return finish(nb_cross_entropy(g, nb_reshape(g, logits,
	    NB_SHAPE(GPT_B * GPT_T, GPT_V)), ys, NULL, -100, NB_REDUCTION_MEAN,
	    0));
}

/* Matrix products: per layer the four of attention's projections
 * (3D + D outputs), the two of the feed-forward block (4D each way),
 * the scores and their product with v (2 T^2 D, of which the causal
 * op computes 5/8: blocks of 16 queries see 16, 32, 48, 64 keys); then
 * the head; backward twice forward. */
static double gpt_tiny_flops(void)
{
	double bt = GPT_B * GPT_T, d = GPT_D;
	double layer = 2 * bt * (4 * d * d + 8 * d * d) +
	               0.625 * 2 * 2 * GPT_B * (double)GPT_T * GPT_T * d;
	return 3 * (GPT_LAYERS * layer + 2 * bt * d * GPT_V);
}

static void gpt_tiny_teardown(void)
{
	nb_module_free(gpt);
	gpt = NULL;
	common_teardown();
}

/* ---- charlstm: a character LSTM's training step (issue 18) ----
 * embedding 64 of a 96-character vocabulary, LSTM 256 (batch_first),
 * linear head to 96, T = 64, batch 32, cross entropy over every step,
 * Adam.  The modules own their parameters; params[] borrows them. */

enum { CL_V = 96, CL_E = 64, CL_H = 256, CL_T = 64, CL_B = 32 };
static nb_module *cl_lstm, *cl_head;

static int charlstm_setup(void)
{
	if (common_setup())
		return 1;
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.batch_first = true;
	param(nb_tensor_randn(NB_F32, NB_SHAPE(CL_V, CL_E), &rng, 0, 1));
	cl_lstm = nb_lstm_new("lstm", CL_E, CL_H, &o, NB_F32, &rng);
	cl_head = nb_linear_new("head", CL_H, CL_V, true, NB_F32, &rng);
	if (!n_params || !cl_lstm || !cl_head)
		return fail("init");
	n_params += nb_module_params(cl_lstm, true, params + n_params, 8);
	n_params += nb_module_params(cl_head, true, params + n_params, 8);
	xs = nb_tensor_zeros(NB_I64, NB_SHAPE(CL_B, CL_T));
	ys = nb_tensor_zeros(NB_I64, NB_SHAPE(CL_B * CL_T));
	if (!xs || !ys)
		return fail("data");
	int64_t *x = nb_tensor_data(xs), *y = nb_tensor_data(ys);
	for (int i = 0; i < CL_B * CL_T; i++) {
		x[i] = (int64_t)nb_rng_below(&rng, CL_V);
		y[i] = (int64_t)nb_rng_below(&rng, CL_V);
	}
	nb_adam_opts ao = nb_adam_defaults();
	opt = nb_optim_adam(params, n_params, &ao);
	return opt ? 0 : fail("optimizer");
}

static int charlstm_step(void)
{
	nb_tensor *e = nb_embedding(g, xs, params[0], NAN);
	nb_tensor *h = nb_module_forward(cl_lstm, g, e);
	nb_tensor *logits = nb_module_forward(cl_head, g, h);
	logits = nb_reshape(g, logits, NB_SHAPE(CL_B * CL_T, CL_V));
	return finish(nb_cross_entropy(g, logits, ys, NULL, -100,
	                               NB_REDUCTION_MEAN, 0));
}

/* LSTM: the input projection over all steps and the recurrent products,
 * each forward and two backward; the head likewise. */
static double charlstm_flops(void)
{
	double n = (double)CL_T * CL_B, g4 = 4.0 * CL_H;
	return 3 * 2 * n * g4 * (CL_E + CL_H) + 3 * 2 * n * CL_H * CL_V;
}

static void charlstm_teardown(void)
{
	nb_tensor_free(params[0]);
	n_params = 0; /* the rest belong to the modules */
	nb_module_free(cl_lstm);
	nb_module_free(cl_head);
	cl_lstm = cl_head = NULL;
	common_teardown();
}

static const bench benches[] = {
	{"seed10", seed10_setup, seed10_step, common_teardown, seed10_flops},
#ifdef HAVE_CBLAS
	{"seed10_gemm", seed10_gemm_setup, seed10_gemm_step,
	 seed10_gemm_teardown, seed10_flops},
	{"sgemm", sgemm_setup, sgemm_step, sgemm_teardown, sgemm_flops},
#endif
	{"tiny", tiny_setup, tiny_step, common_teardown, NULL},
	{"mlp784", mlp784_setup, mlp784_step, mlp784_teardown, mlp784_flops},
	{"cnn", cnn_setup, cnn_step, common_teardown, cnn_flops},
	{"conv", conv_setup, conv_step, common_teardown, conv_flops},
	{"fmnist", fmnist_setup, fmnist_step, fmnist_teardown, NULL},
	{"batch_norm", norms_setup, norms_step, norms_teardown, NULL},
	{"group_norm", norms_setup, norms_step, norms_teardown, NULL},
	{"instance_norm", norms_setup, norms_step, norms_teardown, NULL},
	{"layer_norm", norms_setup, norms_step, norms_teardown, NULL},
	{"gpt_tiny", gpt_tiny_setup, gpt_tiny_step, gpt_tiny_teardown,
	 gpt_tiny_flops}, /* issue 18 */
	{"charlstm", charlstm_setup, charlstm_step, charlstm_teardown,
	 charlstm_flops},
};

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* One iteration; one training step too when it made none (no
 * optimizer: conv, the norms). */
static int run_step(const bench *b)
{
	long before = steps;
	if (b->step())
		return 1;
	if (steps == before)
		step_done();
	return 0;
}

int main(int argc, char **argv)
{
	nb_omp_passive(argv); /* as the nabla program does */
	int reps = 20, warmup = 3, threads = 1;
	const bench *b = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rss-every") && i + 1 < argc)
			rss_every = atol(argv[++i]);
		else
			for (size_t k = 0; k < sizeof benches / sizeof *benches; k++)
				if (!strcmp(argv[i], benches[k].name))
					b = &benches[k];
	}
	if (!b || reps < 1 || warmup < 0 || threads < 1 || rss_every < 0) {
		fprintf(stderr, "usage: nabla-bench WORKLOAD [--threads N] "
		        "[--reps R] [--warmup W] [--rss-every K]\nworkloads:");
		for (size_t k = 0; k < sizeof benches / sizeof *benches; k++)
			fprintf(stderr, " %s", benches[k].name);
		fprintf(stderr, "\n");
		return 2;
	}
	nb_set_num_threads(threads);
	norm_which = b->name;
	if (b->setup())
		return 1;
	double *t = calloc((size_t)reps, sizeof *t);
	double *cpu = calloc((size_t)reps, sizeof *cpu);
	if (!t || !cpu)
		return 1;
	/* Touched now, so that the resident set over a run (--rss-every)
	 * does not count their pages coming in step by step (not 0: a
	 * compiler may take calloc's zero pages as already written). */
	for (int i = 0; i < reps; i++)
		t[i] = cpu[i] = -1;
	for (int i = 0; i < warmup; i++)
		if (run_step(b))
			return 1;
	for (int i = 0; i < reps; i++) {
		double t0 = now_ms(), c0 = cpu_ms();
		if (run_step(b))
			return 1;
		t[i] = now_ms() - t0;
		cpu[i] = cpu_ms() - c0;
	}
	/* and the last step's, whatever K */
	if (rss_every && (!n_rss || rss_step[n_rss - 1] != steps)) {
		rss_step[n_rss] = steps;
		rss_kb[n_rss++] = rss_now_kb();
	}
	b->teardown();
	/* Every time, in run order: run.sh pools them over its rounds. */
	printf("{\"engine\": \"nabla\", \"workload\": \"%s\", \"threads\": %d, "
	       "\"reps\": %d, \"times_ms\": [", b->name, threads, reps);
	for (int i = 0; i < reps; i++)
		printf(i ? ", %.4f" : "%.4f", t[i]);
	qsort(t, (size_t)reps, sizeof *t, cmp);
	qsort(cpu, (size_t)reps, sizeof *cpu, cmp);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("], \"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
	       "\"cpu_median_ms\": %.4f, \"cpu_min_ms\": %.4f, "
	       "\"flops\": %.0f, \"peak_rss_kb\": %ld, \"graph_kb\": %zu",
	       t[reps / 2], t[0], t[reps - 1], cpu[reps / 2], cpu[0],
	       b->flops ? b->flops() : 0.0, ru.ru_maxrss, graph_used_max / 1024);
	if (rss_every) {
		printf(", \"steps\": %ld, \"rss_kb\": [", steps);
		for (int i = 0; i < n_rss; i++)
			printf(i ? ", [%ld, %ld]" : "[%ld, %ld]", rss_step[i],
			       rss_kb[i]);
		printf("]");
	}
	printf("}\n");
	free(t);
	free(cpu);
	return fflush(stdout) || ferror(stdout) ? 1 : 0;
}
