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
 */
#include <time.h>
#include "support/helpers.h"
#include "support/faultalloc.h"

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
