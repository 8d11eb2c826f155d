/*
 * test_autodiff.c - nb_backward's memory options: with retain_grads off,
 * intermediate gradients are recycled during backward, the leaves'
 * gradients are the same bits, and the step needs less memory.
 */
#include "support/helpers.h"
#include <nabla/activation.h>

/* A 6-layer tanh MLP step; returns the step's data bytes after backward and
 * copies the weight gradients into out. */
static size_t step(bool retain, double *out, bool *inter_grad)
{
	nb_rng r;
	nb_rng_seed(&r, 3);
	nb_tensor *w[6];
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(256, 64), &r, 0, 1);
	for (int i = 0; i < 6; i++) {
		w[i] = nb_tensor_randn(NB_F32, NB_SHAPE(64, 64), &r, 0, 0.2);
		nb_tensor_set_requires_grad(w[i], true);
	}
	nb_graph *g = nb_graph_new();
	nb_graph_set_retain_grads(g, retain);
	nb_tensor *h = x, *mid = NULL;
	for (int i = 0; i < 6; i++) {
		h = nb_tanh(g, nb_linear(g, h, w[i], NULL));
		if (i == 2)
			mid = h;
	}
	nb_tensor *loss = nb_mean(g, nb_mul(g, h, h), 0, NULL, false);
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	*inter_grad = nb_tensor_grad(mid) != NULL;
	size_t bytes = nb_graph_bytes_used(g);
	for (int i = 0; i < 6; i++) {
		for (size_t k = 0; k < 64 * 64; k++)
			out[i * 64 * 64 + k] = nb_tensor_get(nb_tensor_grad(w[i]), k);
		nb_tensor_free(w[i]);
	}
	nb_tensor_free(x);
	nb_graph_free(g);
	return bytes;
}

Test(autodiff, retain_grads_off_recycles_and_changes_no_result)
{
	static double a[6 * 64 * 64], b[6 * 64 * 64];
	bool ia, ib;
	size_t with = step(true, a, &ia);
	size_t without = step(false, b, &ib);
	cr_expect(ia, "retained: an intermediate keeps its gradient");
	cr_expect(!ib, "not retained: the intermediate's gradient is gone");
	cr_expect(!memcmp(a, b, sizeof a), "the weight gradients differ");
	cr_expect_lt(without, with, "no memory saved: %zu vs %zu", without,
	             with);
}

/*
 * Gradient buffers that nb_backward makes for ops flagged
 * NB_OP_GRAD_FRESH (linear, relu, tanh) start unwritten: the first op
 * to reach one writes it, later ones add.  h is a graph tensor used by
 * three such ops, first (in backward order) as both inputs of linear,
 * and by mul, which is not flagged.  Three steps on one
 * graph: after the first, the arena hands out memory holding the last
 * step's values, which must not leak into the sums.
 *   L = sum(relu(h) * tanh(h)) + sum(h h^T) + sum(h * h),  h = x W^T
 *   dL/dh = tanh(h) [h > 0] + relu(h) (1 - tanh^2 h) + 2 colsum(h) + 2h
 *   dL/dW = (dL/dh)^T x
 */
Test(autodiff, fresh_gradients_are_written_then_summed)
{
	nb_rng r;
	nb_rng_seed(&r, 9);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(4, 4), &r, 0, 1);
	nb_tensor *w = nb_tensor_randn(NB_F64, NB_SHAPE(4, 4), &r, 0, 1);
	nb_tensor_set_requires_grad(w, true);
	nb_graph *g = nb_graph_new();
	for (int s = 0; s < 3; s++) {
		nb_graph_set_retain_grads(g, s != 1);
		nb_tensor_zero_grad(w);
		nb_tensor *h = nb_linear(g, x, w, NULL);
		nb_tensor *a = nb_mul(g, nb_relu(g, h), nb_tanh(g, h));
		/* Backward reaches h through linear(h, h) first. */
		nb_tensor *l = nb_add(g, nb_add(g,
		    nb_sum(g, nb_mul(g, h, h), 0, NULL, false),
		    nb_sum(g, a, 0, NULL, false)),
		    nb_sum(g, nb_linear(g, h, h, NULL), 0, NULL, false));
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
		double dh[16], want[16];
		for (int i = 0; i < 16; i++) {
			double v = nb_tensor_get(h, (size_t)i), col = 0;
			for (int k = 0; k < 4; k++)
				col += nb_tensor_get(h, (size_t)(k * 4 + i % 4));
			dh[i] = (v > 0 ? tanh(v) + v * (1 - tanh(v) * tanh(v))
			               : 0) + 2 * col + 2 * v;
		}
		for (int o = 0; o < 4; o++)
			for (int j = 0; j < 4; j++) {
				want[o * 4 + j] = 0;
				for (int n = 0; n < 4; n++)
					want[o * 4 + j] += dh[n * 4 + o] *
					    nb_tensor_get(x, (size_t)(n * 4 + j));
			}
		nbt_expect_close(nb_tensor_grad(w), want, 16, 1e-12, 1e-12,
		                 "dL/dW");
		nb_graph_reset(g);
	}
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_graph_free(g);
}
