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

/*
 * add's inputs and sub's first take the result's gradient buffer
 * itself (NB_IN_GRAD_PASS) when intermediate gradients are not kept.
 * The chain below passes one buffer down three nodes (r3 -> r2 -> r1
 * -> m) while t and h get fresh buffers from the recycled ones: a
 * passed buffer recycled with its result would be handed to t, whose
 * -g would overwrite m's g.  The broadcast bb (input 0 of r2) and the twice-given r3
 * must not take it, and sub's second input gets -g.  The leaves'
 * gradients must be the same bits with retain_grads on (nothing
 * passed) and off, and right:
 *   h = x W^T, t = tanh h, m = h * h, bb = tanh b ([8], broadcast),
 *   r3 = (bb + (m - t)) - h,  r4 = r3 + r3,  L = sum(r4 * r4),
 *   dL/dr3 = 8 r3,  dL/dh = 8 r3 (2 h - (1 - t^2) - 1),
 *   dL/db = colsum(8 r3) (1 - tanh^2 b)
 */
static void pass_step(bool retain, nb_dtype dt, double *out)
{
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_tensor *x = nb_tensor_randn(dt, NB_SHAPE(6, 8), &r, 0, 1);
	nb_tensor *w = nb_tensor_randn(dt, NB_SHAPE(8, 8), &r, 0, 0.5);
	nb_tensor *b = nb_tensor_randn(dt, NB_SHAPE(8), &r, 0, 1);
	nb_tensor_set_requires_grad(w, true);
	nb_tensor_set_requires_grad(b, true);
	nb_graph *g = nb_graph_new();
	nb_graph_set_retain_grads(g, retain);
	for (int s = 0; s < 2; s++) { /* the second reuses the arena */
		nb_tensor_zero_grad(w);
		nb_tensor_zero_grad(b);
		nb_tensor *h = nb_linear(g, x, w, NULL);
		nb_tensor *r1 = nb_sub(g, nb_mul(g, h, h), nb_tanh(g, h));
		nb_tensor *r2 = nb_add(g, nb_tanh(g, b), r1);
		nb_tensor *r3 = nb_sub(g, r2, h);
		nb_tensor *r4 = nb_add(g, r3, r3);
		nb_tensor *l = nb_sum(g, nb_mul(g, r4, r4), 0, NULL, false);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
		/* kept gradients are the user's: each in its own buffer */
		if (retain)
			cr_expect_neq(nb_tensor_data(nb_tensor_grad(r2)),
			              nb_tensor_data(nb_tensor_grad(r3)));
		nb_graph_reset(g);
	}
	for (size_t k = 0; k < 64; k++)
		out[k] = nb_tensor_get(nb_tensor_grad(w), k);
	for (size_t k = 0; k < 8; k++)
		out[64 + k] = nb_tensor_get(nb_tensor_grad(b), k);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_graph_free(g);
}

Test(autodiff, passed_gradients_change_no_result)
{
	nb_dtype dts[2] = {NB_F32, NB_F64};
	for (int d = 0; d < 2; d++) {
		double kept[72], passed[72];
		pass_step(true, dts[d], kept);
		pass_step(false, dts[d], passed);
		cr_expect(!memcmp(kept, passed, sizeof kept),
		          "%s: the gradients differ", nb_dtype_name(dts[d]));
	}
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_tensor *x = nb_tensor_randn(NB_F64, NB_SHAPE(6, 8), &r, 0, 1);
	nb_tensor *w = nb_tensor_randn(NB_F64, NB_SHAPE(8, 8), &r, 0, 0.5);
	nb_tensor *b = nb_tensor_randn(NB_F64, NB_SHAPE(8), &r, 0, 1);
	double got[72], want[72] = {0};
	pass_step(false, NB_F64, got);
	for (int n = 0; n < 6; n++)
		for (int o = 0; o < 8; o++) {
			double h = 0;
			for (int j = 0; j < 8; j++)
				h += nb_tensor_get(x, (size_t)(n * 8 + j)) *
				     nb_tensor_get(w, (size_t)(o * 8 + j));
			double t = tanh(h), tb = tanh(nb_tensor_get(b, (size_t)o));
			double d3 = 8 * (h * h - t + tb - h);
			double dh = d3 * (2 * h - 2 + t * t);
			for (int j = 0; j < 8; j++)
				want[o * 8 + j] += dh * nb_tensor_get(x,
				                                 (size_t)(n * 8 + j));
			want[64 + o] += d3 * (1 - tb * tb);
		}
	for (int k = 0; k < 72; k++)
		cr_expect(fabs(got[k] - want[k]) <= 1e-10 * (1 + fabs(want[k])),
		          "gradient %d: %.17g, want %.17g", k, got[k], want[k]);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(b);
}
