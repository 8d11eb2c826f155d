/*
 * test_autodiff.c - nb_backward's memory options: with retain_grads off,
 * intermediate gradients are recycled during backward, the leaves'
 * gradients are the same bits, and the step needs less memory.
 */
#include "helpers.h"
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
