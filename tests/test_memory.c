/*
 * test_memory.c - the promise of nabla/graph.h that a training loop of
 * forward / backward / reset steps runs in constant memory with no
 * malloc per op once warm.
 *
 * A small MLP (linear -> exp -> linear -> mse, SGD updates) is trained
 * for 100,000 steps with the counting allocator of
 * tests/support/faultalloc.h, installed through nb_set_alloc_funcs
 * before the test's first nabla call as core.h asks: after a warm-up of
 * 100 steps, the graph's size (nb_graph_bytes) must not change and not
 * one malloc or realloc may happen; with intermediate gradients
 * retained (the default) and recycled.  NB_TEST_MEMORY_STEPS overrides
 * the step count (for slow runs under valgrind).
 *
 * Then the same promise for a small CNN trained by nb_optim (issue 17
 * item 4): conv2d, batch_norm, relu, max_pool2d, linear, cross entropy,
 * SGD with momentum or Adam, on each convolution path built (im2col,
 * and oneDNN's primitives when configure found oneDNN).  Besides
 * nabla's own allocator, the C library's heap is watched (mallinfo2):
 * oneDNN, OpenBLAS and the OpenMP runtime allocate behind
 * nb_set_alloc_funcs, and must not grow either.  Nothing is timed.
 */
#include <time.h>
#include "config.h"
#include "support/helpers.h"
#include "support/faultalloc.h"
#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

enum { BATCH = 8, IN = 4, HID = 16 };

typedef struct mlp {
	nb_tensor *w1, *b1, *w2, *b2;
} mlp;

static nb_tensor *param(nb_rng *r, int ndim, const int64_t *shape,
                        double std)
{
	nb_tensor *t = nb_tensor_randn(NB_F32, ndim, shape, r, 0, std);
	cr_assert_not_null(t, "%s", nb_last_error());
	nb_tensor_set_requires_grad(t, true);
	return t;
}

static void sgd(nb_tensor *p, float lr)
{
	float *w = nb_tensor_data(p);
	const float *gw = nb_tensor_cdata(nb_tensor_grad(p));
	for (size_t i = 0; i < nb_tensor_numel(p); i++)
		w[i] -= lr * gw[i];
	nb_tensor_zero_grad(p);
}

/* One step; returns the loss. */
static double step(nb_graph *g, mlp *m, const float *xs, const float *ys)
{
	nb_tensor *x = nb_graph_from_data(g, NB_F32, NB_SHAPE(BATCH, IN), xs);
	nb_tensor *t = nb_graph_from_data(g, NB_F32, NB_SHAPE(BATCH, 1), ys);
	nb_tensor *h = nb_exp(g, nb_linear(g, x, m->w1, m->b1));
	nb_tensor *y = nb_linear(g, h, m->w2, m->b2);
	nb_tensor *loss = nb_mse_loss(g, y, t, NB_REDUCTION_MEAN);
	cr_assert_not_null(loss, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	double l = nb_tensor_item(loss);
	sgd(m->w1, 0.01f);
	sgd(m->b1, 0.01f);
	sgd(m->w2, 0.01f);
	sgd(m->b2, 0.01f);
	nb_graph_reset(g);
	return l;
}

static void train(bool retain)
{
	long steps = 100000;
	const char *env = getenv("NB_TEST_MEMORY_STEPS");
	if (env && atol(env) > 200)
		steps = atol(env);
	const long warm = 100;

	/* The op registry lives as long as the process: count from here. */
	cr_assert_gt(nb_op_count(), 0);
	long live0 = fa.live;
	nb_rng r;
	nb_rng_seed(&r, 11);
	mlp m = {
		param(&r, NB_SHAPE(HID, IN), 0.3), param(&r, NB_SHAPE(HID), 0.1),
		param(&r, NB_SHAPE(1, HID), 0.1), param(&r, NB_SHAPE(1), 0.1),
	};
	float xs[BATCH * IN], ys[BATCH];
	for (int i = 0; i < BATCH; i++) {
		float s = 0;
		for (int j = 0; j < IN; j++) {
			xs[i * IN + j] = (float)(2 * nb_rng_uniform(&r) - 1);
			s += xs[i * IN + j] * (float)(j + 1);
		}
		ys[i] = 0.5f * s;
	}
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_graph_set_retain_grads(g, retain);

	clock_t t0 = clock();
	double first = 0, last = 0;
	size_t bytes = 0, nodes = 0;
	long mallocs = 0, reallocs = 0;
	for (long s = 0; s < steps; s++) {
		if (s == warm) {
			bytes = nb_graph_bytes(g);
			mallocs = fa.mallocs;
			reallocs = fa.reallocs;
		}
		last = step(g, &m, xs, ys);
		if (s == 0)
			first = last;
		if (s == warm)
			nodes = nb_graph_node_count(g);
		if (s > warm && nb_graph_bytes(g) != bytes)
			cr_assert_fail("step %ld: the graph holds %zu bytes, %zu "
			               "after warm-up", s, nb_graph_bytes(g), bytes);
	}
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;

	cr_expect_eq(fa.mallocs - mallocs, 0, "%ld mallocs in steps %ld..%ld",
	             fa.mallocs - mallocs, warm, steps);
	cr_expect_eq(fa.reallocs - reallocs, 0, "%ld reallocs in steps "
	             "%ld..%ld", fa.reallocs - reallocs, warm, steps);
	cr_expect_gt(mallocs, 0); /* the allocators were in use */
	cr_expect_eq(nodes, 0);   /* reset leaves no node behind */
	cr_expect(isfinite(last), "loss %g", last);
	cr_expect_lt(last, first / 10, "loss %g -> %g", first, last);
	cr_log_info("retain_grads %s: %ld steps in %.2f s; graph %zu bytes; "
	            "%ld mallocs in warm-up; loss %g -> %g", retain ? "on" : "off",
	            steps, secs, bytes, mallocs, first, last);

	nb_graph_free(g);
	nb_tensor_free(m.w1);
	nb_tensor_free(m.b1);
	nb_tensor_free(m.w2);
	nb_tensor_free(m.b2);
	cr_expect_eq(fa.live, live0, "%ld blocks still live",
	             fa.live - live0);
}

Test(memory, training_loop_runs_in_constant_memory, .init = fa_install,
     .fini = fa_uninstall, .timeout = 120)
{
	train(true);
}

/* With intermediate gradients recycled during backward (retain_grads
 * off), the same: the free list is rebuilt each step from the arena. */
Test(memory, training_loop_without_retained_gradients, .init = fa_install,
     .fini = fa_uninstall, .timeout = 120)
{
	train(false);
}

/* ---- a CNN trained by nb_optim (issue 17 item 4) ---- */

/* Bytes the C library's malloc hands out now, all arenas and mmapped
 * blocks included; -1 without glibc 2.33's mallinfo2. */
static long heap_in_use(void)
{
#ifdef HAVE_MALLINFO2
	struct mallinfo2 m = mallinfo2();
	return (long)(m.uordblks + m.hblkhd);
#else
	return -1;
#endif
}

/* x [CN, 1, 12, 12] -> conv 1->4 3x3 pad 1 -> batch_norm -> relu ->
 * max_pool 2 -> conv 4->8 3x3 pad 1 -> relu -> max_pool 2 -> [CN, 72]
 * -> linear 72->CK -> cross entropy. */
enum { CN = 16, CS = 12, CK = 4 };

typedef struct cnn {
	nb_tensor *p[8];      /* conv1 w, b; bn w, b; conv2 w, b; fc w, b */
	nb_tensor *mean, *var; /* batch norm's running statistics */
	nb_optim *opt;
} cnn;

static double cnn_step(nb_graph *g, cnn *m, const float *xs,
                       const int64_t *ys)
{
	nb_conv2d_opts same = NB_CONV2D_DEFAULTS;
	nb_pool2d_opts pool = {.kernel_size = {2, 2}};
	same.padding[0] = same.padding[1] = 1;
	nb_tensor *x = nb_graph_from_data(g, NB_F32, NB_SHAPE(CN, 1, CS, CS),
	                                  xs);
	nb_tensor *y = nb_graph_from_data(g, NB_I64, NB_SHAPE(CN), ys);
	nb_tensor *h = nb_conv2d(g, x, m->p[0], m->p[1], &same);
	h = nb_batch_norm(g, h, m->p[2], m->p[3], m->mean, m->var, NULL, 0.1,
	                  1e-5);
	h = nb_max_pool2d(g, nb_relu(g, h), &pool);
	h = nb_relu(g, nb_conv2d(g, h, m->p[4], m->p[5], &same));
	h = nb_max_pool2d(g, h, &pool);
	h = nb_linear(g, nb_reshape(g, h, NB_SHAPE(CN, -1)), m->p[6], m->p[7]);
	nb_tensor *loss = nb_cross_entropy(g, h, y, NULL, -100,
	                                   NB_REDUCTION_MEAN, 0);
	cr_assert_not_null(loss, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	double l = nb_tensor_item(loss);
	cr_assert_eq(nb_optim_step(m->opt), NB_OK, "%s", nb_last_error());
	nb_optim_zero_grad(m->opt, false);
	nb_graph_reset(g);
	return l;
}

static void cnn_init(cnn *m, nb_rng *r, bool adam)
{
	static const int64_t shapes[8][4] = {
		{4, 1, 3, 3}, {4}, {4}, {4}, {8, 4, 3, 3}, {8}, {CK, 72}, {CK}};
	static const int ndims[8] = {4, 1, 1, 1, 4, 1, 2, 1};
	for (int i = 0; i < 8; i++) {
		m->p[i] = i == 2 ? nb_tensor_ones(NB_F32, 1, shapes[i])
		          : i == 3 ? nb_tensor_zeros(NB_F32, 1, shapes[i])
		                   : nb_tensor_randn(NB_F32, ndims[i], shapes[i],
		                                     r, 0, 0.3);
		cr_assert_not_null(m->p[i], "%s", nb_last_error());
		nb_tensor_set_requires_grad(m->p[i], true);
	}
	m->mean = nb_tensor_zeros(NB_F32, NB_SHAPE(4));
	m->var = nb_tensor_ones(NB_F32, NB_SHAPE(4));
	cr_assert(m->mean && m->var);
	if (adam) {
		nb_adam_opts o = nb_adam_defaults();
		o.lr = 1e-2;
		o.weight_decay = 1e-4;
		m->opt = nb_optim_adam(m->p, 8, &o);
	} else {
		nb_sgd_opts o = nb_sgd_defaults();
		o.lr = 0.05;
		o.momentum = 0.9;
		o.weight_decay = 1e-4;
		m->opt = nb_optim_sgd(m->p, 8, &o);
	}
	cr_assert_not_null(m->opt, "%s", nb_last_error());
}

static void cnn_free(cnn *m)
{
	nb_optim_free(m->opt);
	for (int i = 0; i < 8; i++)
		nb_tensor_free(m->p[i]);
	nb_tensor_free(m->mean);
	nb_tensor_free(m->var);
}

/*
 * Trains the CNN with NB_CONV=conv_path for 2,000 steps (or
 * NB_TEST_MEMORY_STEPS), on CK classes of images that differ by a
 * bright square's place, so that the loss must fall.  After a warm-up
 * of 20 steps: no malloc or realloc through nabla's allocator, the same
 * graph size and live blocks after every step.  And the C library's heap
 * (everything the process allocates: oneDNN's and the OpenMP runtime's
 * blocks too) no larger at the end than half-way.  Not from the warm-up
 * on: oneDNN's dnnl_primitive_execute news and deletes small objects on
 * every call, and glibc's per-thread cache, which mallinfo2 counts as in
 * use, fills with them for a few hundred steps (128 bytes at a time,
 * 640 in all with oneDNN 2.6); so that growth is bounded by HEAP_SLACK,
 * and from half-way on none is allowed, where a leak of a byte a step
 * would show.
 */
#define HEAP_SLACK 16384

static void cnn_train(const char *conv_path, bool adam, bool retain)
{
	long steps = 2000;
	const char *env = getenv("NB_TEST_MEMORY_STEPS");
	if (env && atol(env) > 40)
		steps = atol(env);
	const long warm = 20;
	cr_assert_eq(setenv("NB_CONV", conv_path, 1), 0);
	nb_set_num_threads(1); /* fa's counters are not atomic */
	cr_assert_gt(nb_op_count(), 0);
	long live0 = fa.live;

	nb_rng r;
	nb_rng_seed(&r, 17);
	cnn m;
	cnn_init(&m, &r, adam);
	static float xs[CN * CS * CS];
	int64_t ys[CN];
	for (int n = 0; n < CN; n++) {
		ys[n] = n % CK; /* the square's corner: (2 or 7, 2 or 7) */
		int r0 = 2 + 5 * (int)(ys[n] / 2), c0 = 2 + 5 * (int)(ys[n] % 2);
		for (int i = 0; i < CS * CS; i++) {
			int row = i / CS, col = i % CS;
			bool in = row >= r0 && row < r0 + 3 && col >= c0 &&
			          col < c0 + 3;
			xs[n * CS * CS + i] = (float)(in + 0.3 * nb_rng_normal(&r));
		}
	}
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_graph_set_retain_grads(g, retain);

	double first = 0, last = 0;
	size_t bytes = 0;
	long mallocs = 0, reallocs = 0, live = 0, heap = 0, heap_mid = 0;
	long bad_step = -1;
	for (long s = 0; s < steps; s++) {
		last = cnn_step(g, &m, xs, ys);
		if (s == 0)
			first = last;
		if (s == warm) {
			bytes = nb_graph_bytes(g);
			mallocs = fa.mallocs;
			reallocs = fa.reallocs;
			live = fa.live;
			heap = heap_in_use();
		} else if (s == steps / 2) {
			heap_mid = heap_in_use();
		}
		if (s > warm && bad_step < 0 &&
		    (nb_graph_bytes(g) != bytes || fa.live != live))
			bad_step = s;
	}
	long heap_end = heap_in_use();

	cr_expect_eq(bad_step, -1, "step %ld: graph %zu bytes, %ld blocks "
	             "live; after warm-up %zu, %ld", bad_step, nb_graph_bytes(g),
	             fa.live, bytes, live);
	cr_expect_eq(fa.mallocs - mallocs, 0, "%s: %ld mallocs in steps "
	             "%ld..%ld", conv_path, fa.mallocs - mallocs, warm, steps);
	cr_expect_eq(fa.reallocs - reallocs, 0, "%s: %ld reallocs in steps "
	             "%ld..%ld", conv_path, fa.reallocs - reallocs, warm, steps);
	cr_expect_leq(heap_end, heap_mid, "%s: the C heap grew by %ld bytes in "
	              "steps %ld..%ld", conv_path, heap_end - heap_mid, steps / 2,
	              steps);
	cr_expect_leq(heap_end, heap + HEAP_SLACK, "%s: the C heap grew by %ld "
	              "bytes after warm-up", conv_path, heap_end - heap);
	cr_expect_eq(nb_optim_step_count(m.opt), steps);
	cr_expect(isfinite(last), "loss %g", last);
	cr_expect_lt(last, first / 4, "loss %g -> %g", first, last);
	cr_log_info("NB_CONV=%s %s, retain_grads %s: %ld steps; graph %zu "
	            "bytes; C heap %ld, %ld, %ld bytes (warm, half-way, end); "
	            "loss %g -> %g", conv_path, adam ? "Adam" : "SGD",
	            retain ? "on" : "off", steps, bytes, heap, heap_mid, heap_end,
	            first, last);

	nb_graph_free(g);
	cnn_free(&m);
	cr_expect_eq(fa.live, live0, "%ld blocks still live", fa.live - live0);
}

Test(memory, cnn_sgd_im2col, .init = fa_install, .fini = fa_uninstall,
     .timeout = 300)
{
	cnn_train("im2col", false, false);
}

Test(memory, cnn_adam_im2col_retained, .init = fa_install,
     .fini = fa_uninstall, .timeout = 300)
{
	cnn_train("im2col", true, true);
}

/* Built without oneDNN, NB_CONV=onednn is im2col: the test still holds
 * and says so in its log. */
Test(memory, cnn_sgd_onednn, .init = fa_install, .fini = fa_uninstall,
     .timeout = 300)
{
#ifndef HAVE_ONEDNN
	cr_log_info("no oneDNN in this build: im2col runs");
#endif
	cnn_train("onednn", false, false);
}

Test(memory, cnn_adam_onednn, .init = fa_install, .fini = fa_uninstall,
     .timeout = 300)
{
	cnn_train("onednn", true, false);
}

/*
 * Criterion's own main, but with the tests one at a time: with these six
 * in parallel, Criterion 2.4.1's runner (the parent process, not a
 * test) loses 48 bytes it callocs, and LeakSanitizer's report at exit
 * costs the sanitizer build its TAP output (no other subset or order
 * reproduced it; one job at a time never does).  Nothing here is timed.
 */
int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;
	if (criterion_handle_args(argc, argv, true)) {
		criterion_options.jobs = 1;
		result = !criterion_run_all_tests(tests);
	}
	criterion_finalize(tests);
	return result;
}
