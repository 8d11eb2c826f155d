/*
 * test_recurrent.c - the recurrent cells (lib/ops/recurrent.c) and
 * layers (lib/nn/recurrent.c): error paths, parameter names, kinds and
 * initialization, the layers against the cells step by step, dropout
 * between layers, chaining in a sequential model, and backpropagation
 * through 50 time steps of an LSTM against central finite differences,
 * with clip_grad_norm on the gradients.  Values against PyTorch:
 * tests/ref/ops/recurrent.json (test_reference) and test_rnn_interop.
 */
#include "support/helpers.h"

static nb_tensor *rnd(nb_rng *r, int64_t a, int64_t b, int64_t c, int nd)
{
	int64_t s[3] = {a, b, c};
	nb_tensor *t = nb_tensor_randn(NB_F64, nd, s, r, 0, 1);
	cr_assert_not_null(t);
	return t;
}

/* ---- cells: error paths ---- */

Test(cells, shape_errors_name_the_op_and_the_input)
{
	nb_rng r;
	nb_rng_seed(&r, 1);
	nb_tensor *x = rnd(&r, 3, 4, 0, 2), *h = rnd(&r, 3, 5, 0, 2);
	nb_tensor *c = rnd(&r, 3, 5, 0, 2), *wi = rnd(&r, 20, 4, 0, 2);
	nb_tensor *wh = rnd(&r, 20, 5, 0, 2), *bad = rnd(&r, 15, 5, 0, 2);
	nb_tensor *c2 = rnd(&r, 2, 5, 0, 2), *x1 = rnd(&r, 4, 0, 0, 1);
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_lstm_cell(g, x, h, c, wi, bad, NULL, NULL, NULL));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "lstm_cell") &&
	          strstr(nb_graph_errmsg(g), "weight_hh must be [20, 5]"),
	          "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_lstm_cell(g, x, h, c2, wi, wh, NULL, NULL, NULL));
	cr_expect(strstr(nb_graph_errmsg(g), "cell state"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_gru_cell(g, x1, h, wi, wh, NULL, NULL));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	nb_graph_reset(g);
	/* gru takes 3 gates: a weight of 4 is refused */
	cr_expect_null(nb_gru_cell(g, x, h, wi, wh, NULL, NULL));
	cr_expect(strstr(nb_graph_errmsg(g), "gru_cell") &&
	          strstr(nb_graph_errmsg(g), "weight_ih must be [15, 4]"),
	          "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_lstm_step(g, x, h, c, wh, NULL, NULL));
	cr_expect(strstr(nb_graph_errmsg(g), "input gates must be [3, 20]"),
	          "%s", nb_graph_errmsg(g));
	nb_tensor *ts[] = {x, h, c, wi, wh, bad, c2, x1};
	for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
		nb_tensor_free(ts[i]);
	nb_graph_free(g);
}

/* The cell and the step op given x W_ih^T + b_ih agree exactly. */
Test(cells, step_equals_cell)
{
	nb_rng r;
	nb_rng_seed(&r, 2);
	nb_tensor *x = rnd(&r, 3, 4, 0, 2), *h = rnd(&r, 3, 5, 0, 2);
	nb_tensor *c = rnd(&r, 3, 5, 0, 2), *wi = rnd(&r, 20, 4, 0, 2);
	nb_tensor *wh = rnd(&r, 20, 5, 0, 2), *bi = rnd(&r, 20, 0, 0, 1);
	nb_tensor *bh = rnd(&r, 20, 0, 0, 1);
	nb_graph *g = nb_graph_new();
	nb_tensor *c1, *c2;
	nb_tensor *h1 = nb_lstm_cell(g, x, h, c, wi, wh, bi, bh, &c1);
	nb_tensor *h2 = nb_lstm_step(g, nb_linear(g, x, wi, bi), h, c, wh, bh,
	                             &c2);
	cr_assert(h1 && h2, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; i < 15; i++) {
		cr_expect_float_eq(nb_tensor_get(h1, i), nb_tensor_get(h2, i),
		                   1e-14);
		cr_expect_float_eq(nb_tensor_get(c1, i), nb_tensor_get(c2, i),
		                   1e-14);
	}
	nb_tensor *ts[] = {x, h, c, wi, wh, bi, bh};
	for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
		nb_tensor_free(ts[i]);
	nb_graph_free(g);
}

/* ---- layers ---- */

Test(layers, names_shapes_kinds_and_init_are_pytorchs)
{
	nb_rng r;
	nb_rng_seed(&r, 3);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = 2;
	o.bidirectional = true;
	nb_module *m = nb_lstm_new("enc", 3, 4, &o, NB_F32, &r);
	cr_assert_not_null(m, "%s", nb_last_error());
	static const char *const want[] = {
		"weight_ih_l0 16x3", "weight_hh_l0 16x4", "bias_ih_l0 16",
		"bias_hh_l0 16", "weight_ih_l0_reverse 16x3",
		"weight_hh_l0_reverse 16x4", "bias_ih_l0_reverse 16",
		"bias_hh_l0_reverse 16", "weight_ih_l1 16x8", "weight_hh_l1 16x4",
		"bias_ih_l1 16", "bias_hh_l1 16", "weight_ih_l1_reverse 16x8",
		"weight_hh_l1_reverse 16x4", "bias_ih_l1_reverse 16",
		"bias_hh_l1_reverse 16"};
	const nb_named_tensor *ts;
	size_t n = nb_module_tensors(m, &ts);
	cr_assert_eq(n, 16);
	for (size_t i = 0; i < n; i++) {
		char got[64];
		const int64_t *s = nb_tensor_shape(ts[i].tensor);
		if (nb_tensor_ndim(ts[i].tensor) == 2)
			snprintf(got, sizeof got, "%s %lldx%lld", ts[i].name,
			         (long long)s[0], (long long)s[1]);
		else
			snprintf(got, sizeof got, "%s %lld", ts[i].name,
			         (long long)s[0]);
		cr_expect_str_eq(got, want[i]);
		bool w = nb_tensor_ndim(ts[i].tensor) == 2;
		cr_expect_eq(nb_module_param_kind(m, ts[i].tensor),
		             w ? NB_PARAM_WEIGHT : NB_PARAM_BIAS);
		double lo = 1, hi = -1;
		for (size_t k = 0; k < nb_tensor_numel(ts[i].tensor); k++) {
			double v = nb_tensor_get(ts[i].tensor, k);
			lo = fmin(lo, v);
			hi = fmax(hi, v);
		}
		cr_expect(lo >= -0.5 && hi <= 0.5 && hi - lo > 0.3,
		          "%s in [%g, %g], want U(-1/2, 1/2)", ts[i].name, lo, hi);
	}
	nb_module_free(m);
	o = NB_RNN_DEFAULTS;
	o.bias = false;
	m = nb_gru_new(NULL, 3, 4, &o, NB_F64, &r);
	cr_expect_eq(nb_module_tensors(m, NULL), 2);
	nb_module_free(m);
}

Test(layers, bad_options_are_refused)
{
	nb_rng r;
	nb_rng_seed(&r, 4);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = 0;
	cr_expect_null(nb_lstm_new("l", 3, 4, &o, NB_F32, &r));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "lstm 'l': num_layers"), "%s",
	          nb_last_error());
	o = NB_RNN_DEFAULTS;
	o.dropout = 1;
	cr_expect_null(nb_gru_new("g", 3, 4, &o, NB_F32, &r));
	o = NB_RNN_DEFAULTS;
	o.relu = true;
	cr_expect_null(nb_lstm_new("l", 3, 4, &o, NB_F32, &r));
	cr_expect_null(nb_rnn_new("r", 0, 4, NULL, NB_F32, &r));
	cr_expect_null(nb_rnn_new("r", 3, 4, NULL, NB_F32, NULL));
	cr_expect_null(nb_rnn_new("r", 3, 4, NULL, NB_I64, &r));
}

Test(layers, shape_errors_name_the_layer)
{
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.batch_first = true;
	nb_module *m = nb_lstm_new("enc", 3, 4, &o, NB_F64, &r);
	nb_tensor *x = rnd(&r, 2, 5, 7, 3), *x2 = rnd(&r, 5, 0, 0, 1);
	nb_tensor *ok = rnd(&r, 2, 5, 3, 3), *h0 = rnd(&r, 2, 2, 4, 3);
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_module_forward(m, g, x));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	cr_expect(strstr(nb_graph_errmsg(g), "lstm 'enc': input [2, 5, 7] "
	                 "must have 3 features"), "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_null(nb_module_forward(m, g, x2));
	cr_expect(strstr(nb_graph_errmsg(g), "lstm 'enc': input [5] must "
	                 "have rank 3 ([batch, seq, features]) or 2"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	nb_tensor *out[3];
	cr_expect_eq(nb_module_forward_multi(m, g, 2, (nb_tensor *[]){ok, h0},
	                                     3, out), -1);
	cr_expect(strstr(nb_graph_errmsg(g), "h0 must be [1, 2, 4]"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	cr_expect_eq(nb_module_forward_multi(m, g, 1, &ok, 3, out), 3);
	cr_expect_eq(nb_tensor_shape(out[0])[0], 2); /* batch first */
	cr_expect_eq(nb_tensor_shape(out[0])[1], 5);
	cr_expect_eq(nb_tensor_shape(out[1])[0], 1);
	nb_tensor *ts[] = {x, x2, ok, h0};
	for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
		nb_tensor_free(ts[i]);
	nb_graph_free(g);
	nb_module_free(m);
}

/* Unbatched, as PyTorch: input [T, I] (batch_first does not apply),
 * states [layers x directions, H], output [T, D*H]; the same values and
 * gradients as a batch of one, for a 2-layer bidirectional LSTM; a
 * stateful layer carries the unbatched state from window to window;
 * wrong state shapes name the layer and the shapes. */
Test(layers, unbatched_is_a_batch_of_one)
{
	nb_rng r;
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = 2;
	o.bidirectional = true;
	nb_module *m[2];
	for (int i = 0; i < 2; i++) {
		o.batch_first = i == 0; /* ignored unbatched */
		nb_rng_seed(&r, 21);    /* the same weights */
		m[i] = nb_lstm_new("enc", 3, 4, &o, NB_F64, &r);
		cr_assert_not_null(m[i], "%s", nb_last_error());
	}
	nb_tensor *x = rnd(&r, 6, 3, 0, 2), *h0 = rnd(&r, 4, 4, 0, 2);
	nb_tensor *c0 = rnd(&r, 4, 4, 0, 2);
	nb_tensor *in[3] = {x, h0, c0};
	for (int i = 0; i < 3; i++)
		nb_tensor_set_requires_grad(in[i], true);
	nb_graph *g = nb_graph_new();
	nb_tensor *u[3], *b[3];
	cr_assert_eq(nb_module_forward_multi(m[0], g, 3, in, 3, u), 3, "%s",
	             nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(u[0]), 2);
	cr_expect_eq(nb_tensor_dim(u[0], 0), 6);
	cr_expect_eq(nb_tensor_dim(u[0], 1), 8);
	for (int k = 1; k < 3; k++) {
		cr_expect_eq(nb_tensor_ndim(u[k]), 2);
		cr_expect_eq(nb_tensor_dim(u[k], 0), 4);
		cr_expect_eq(nb_tensor_dim(u[k], 1), 4);
	}
	nb_tensor *xb[3] = {nb_reshape(g, x, NB_SHAPE(6, 1, 3)),
	                    nb_reshape(g, h0, NB_SHAPE(4, 1, 4)),
	                    nb_reshape(g, c0, NB_SHAPE(4, 1, 4))};
	cr_assert_eq(nb_module_forward_multi(m[1], g, 3, xb, 3, b), 3, "%s",
	             nb_graph_errmsg(g));
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < nb_tensor_numel(u[k]); i++)
			cr_expect_eq(nb_tensor_get(u[k], i), nb_tensor_get(b[k], i),
			             "result %d, %zu", k, i);
	/* Gradients: the unbatched ones, then the batch of one's. */
	nb_tensor *gu[3], *loss = nb_sum(g, u[0], 0, NULL, false);
	loss = nb_add(g, loss, nb_sum(g, nb_mul(g, u[1], u[2]), 0, NULL,
	                              false));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	for (int i = 0; i < 3; i++) {
		gu[i] = nb_tensor_clone(nb_tensor_grad(in[i]));
		cr_assert_not_null(gu[i]);
		nb_tensor_zero_grad(in[i]);
	}
	loss = nb_add(g, nb_sum(g, b[0], 0, NULL, false),
	              nb_sum(g, nb_mul(g, b[1], b[2]), 0, NULL, false));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	for (int i = 0; i < 3; i++) {
		for (size_t j = 0; j < nb_tensor_numel(gu[i]); j++)
			cr_expect_float_eq(nb_tensor_get(gu[i], j),
			                   nb_tensor_get(nb_tensor_grad(in[i]), j),
			                   1e-14, "input %d, %zu", i, j);
		nb_tensor_free(gu[i]);
	}
	/* Stateful: two windows of three steps continue the sequence (a
	 * 2-layer GRU: one direction, so that windows are exact). */
	nb_graph_reset(g);
	nb_rnn_opts o2 = NB_RNN_DEFAULTS;
	o2.num_layers = 2;
	nb_module *gru = nb_gru_new(NULL, 3, 4, &o2, NB_F64, &r);
	nb_tensor *full = nb_module_forward(gru, g, x);
	cr_assert_not_null(full, "%s", nb_graph_errmsg(g));
	nb_module_set_stateful(gru, true);
	for (int w = 0; w < 2; w++) {
		nb_tensor *y = nb_module_forward(gru, g, nb_slice(g, x, 0, 3 * w,
		                                                  3 * w + 3, 1));
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		for (size_t i = 0; i < 12; i++)
			cr_expect_float_eq(nb_tensor_get(y, i),
			                   nb_tensor_get(full, 12 * (size_t)w + i),
			                   1e-13, "window %d, %zu", w, i);
	}
	/* A batched call after an unbatched one starts from zeros. */
	nb_tensor *yb = nb_module_forward(gru, g, nb_reshape(g, x,
	                                  NB_SHAPE(6, 1, 3)));
	cr_expect_not_null(yb, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; yb && i < 24; i++)
		cr_expect_float_eq(nb_tensor_get(yb, i), nb_tensor_get(full, i),
		                   1e-13);
	nb_module_free(gru);
	/* States of the batched shape with an unbatched input. */
	nb_graph_reset(g);
	nb_tensor *h3 = nb_reshape(g, h0, NB_SHAPE(4, 1, 4));
	cr_expect_eq(nb_module_forward_multi(m[0], g, 2, (nb_tensor *[]){x, h3},
	                                     3, u), -1);
	cr_expect(strstr(nb_graph_errmsg(g), "lstm 'enc': h0 must be [4, 4] "
	                 "(layers x directions, hidden) for the unbatched "
	                 "input, got [4, 1, 4]"), "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
	for (int i = 0; i < 3; i++)
		nb_tensor_free(in[i]);
	nb_module_free(m[0]);
	nb_module_free(m[1]);
}

/* A 1-layer GRU layer equals the gru_cell applied step by step. */
Test(layers, gru_layer_equals_its_cells)
{
	nb_rng r;
	nb_rng_seed(&r, 6);
	nb_module *m = nb_gru_new(NULL, 3, 4, NULL, NB_F64, &r);
	nb_tensor *x = rnd(&r, 6, 2, 3, 3), *h0 = rnd(&r, 1, 2, 4, 3);
	nb_graph *g = nb_graph_new();
	nb_tensor *out[2];
	cr_assert_eq(nb_module_forward_multi(m, g, 2, (nb_tensor *[]){x, h0},
	                                     2, out), 2);
	nb_tensor *h = nb_select(g, h0, 0, 0);
	for (int t = 0; t < 6; t++) {
		h = nb_gru_cell(g, nb_select(g, x, 0, t), h,
		                nb_module_tensor(m, "weight_ih_l0"),
		                nb_module_tensor(m, "weight_hh_l0"),
		                nb_module_tensor(m, "bias_ih_l0"),
		                nb_module_tensor(m, "bias_hh_l0"));
		for (size_t i = 0; i < 8; i++)
			cr_expect_float_eq(nb_tensor_get(out[0], (size_t)t * 8 + i),
			                   nb_tensor_get(h, i), 1e-13);
	}
	for (size_t i = 0; i < 8; i++)
		cr_expect_float_eq(nb_tensor_get(out[1], i), nb_tensor_get(h, i),
		                   1e-13);
	nb_tensor_free(x);
	nb_tensor_free(h0);
	nb_graph_free(g);
	nb_module_free(m);
}

/* Stateful: two windows in a row give what one call over both gives,
 * for a 2-layer LSTM (h and c carried) and a GRU; a reset starts over. */
Test(layers, stateful_windows_continue_the_sequence)
{
	nb_rng r;
	nb_rng_seed(&r, 9);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = 2;
	nb_module *ms[2] = {nb_lstm_new(NULL, 3, 4, &o, NB_F64, &r),
	                    nb_gru_new(NULL, 3, 4, NULL, NB_F64, &r)};
	nb_tensor *x = rnd(&r, 8, 2, 3, 3);
	for (int k = 0; k < 2; k++) {
		nb_module *m = ms[k];
		nb_graph *g = nb_graph_new();
		nb_tensor *full = nb_module_forward(m, g, x);
		cr_assert_not_null(full, "%s", nb_graph_errmsg(g));
		nb_module_set_stateful(m, true);
		for (int w = 0; w < 2; w++) {
			nb_tensor *xw = nb_slice(g, x, 0, 4 * w, 4 * w + 4, 1);
			nb_tensor *y = nb_module_forward(m, g, xw);
			cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
			for (size_t i = 0; i < 32; i++)
				cr_expect_float_eq(nb_tensor_get(y, i),
				                   nb_tensor_get(full, 32 * (size_t)w + i),
				                   1e-13, "%s window %d, %zu", k ? "gru"
				                   : "lstm", w, i);
		}
		/* Backward through a window that started from the carried
		 * state, after the layer replaced it (valgrind and ASan check
		 * that the graph reads its own copy). */
		nb_tensor *yb = nb_module_forward(m, g, nb_slice(g, x, 0, 0, 4, 1));
		cr_assert_eq(nb_backward(nb_sum(g, yb, 0, NULL, false), NULL),
		             NB_OK, "%s", nb_graph_errmsg(g));
		/* After a reset, the first window again. */
		nb_module_reset_state(m);
		nb_tensor *y = nb_module_forward(m, g, nb_slice(g, x, 0, 0, 4, 1));
		for (size_t i = 0; i < 32; i++)
			cr_expect_float_eq(nb_tensor_get(y, i),
			                   nb_tensor_get(full, i), 1e-13);
		/* A different batch size drops the carried state. */
		nb_tensor *one = nb_slice(g, x, 1, 0, 1, 1);
		nb_tensor *y1 = nb_module_forward(m, g, one);
		cr_expect_not_null(y1, "%s", nb_graph_errmsg(g));
		nb_graph_free(g);
		nb_module_free(m);
	}
	nb_tensor_free(x);
}

/* Dropout acts between layers in training only. */
Test(layers, dropout_between_layers)
{
	nb_rng r1, r2;
	nb_rng_seed(&r1, 7);
	nb_rng_seed(&r2, 7);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = 2;
	nb_module *plain = nb_rnn_new(NULL, 3, 4, &o, NB_F64, &r1);
	o.dropout = 0.5;
	nb_module *drop = nb_rnn_new(NULL, 3, 4, &o, NB_F64, &r2);
	nb_tensor *x = rnd(&r1, 5, 2, 3, 3);
	nb_graph *g = nb_graph_new();
	nb_module_set_training(drop, false);
	nb_tensor *a = nb_module_forward(plain, g, x);
	nb_tensor *b = nb_module_forward(drop, g, x);
	cr_assert(a && b, "%s", nb_graph_errmsg(g));
	double diff = 0;
	for (size_t i = 0; i < 40; i++)
		diff += fabs(nb_tensor_get(a, i) - nb_tensor_get(b, i));
	cr_expect_eq(diff, 0, "evaluation: no dropout");
	nb_module_set_training(drop, true);
	b = nb_module_forward(drop, g, x);
	diff = 0;
	for (size_t i = 0; i < 40; i++)
		diff += fabs(nb_tensor_get(a, i) - nb_tensor_get(b, i));
	cr_expect_gt(diff, 0, "training: dropout");
	nb_tensor_free(x);
	nb_graph_free(g);
	nb_module_free(plain);
	nb_module_free(drop);
}

/* nb_module_forward gives the output sequence: an LSTM chains in a
 * sequential model before a linear head. */
Test(layers, chains_in_a_sequential_model)
{
	nb_rng r;
	nb_rng_seed(&r, 8);
	nb_module *seq = nb_sequential_new(NULL);
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.batch_first = true;
	cr_assert_eq(nb_module_add(seq, nb_lstm_new("lstm", 3, 4, &o, NB_F32,
	                                            &r)), NB_OK);
	cr_assert_eq(nb_module_add(seq, nb_linear_new("head", 4, 6, true,
	                                              NB_F32, &r)), NB_OK);
	nb_tensor *x = nb_tensor_randn(NB_F32, 3, (int64_t[]){2, 5, 3}, &r, 0, 1);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_module_forward(seq, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(y), 3);
	cr_expect_eq(nb_tensor_shape(y)[2], 6);
	cr_expect_not_null(nb_module_tensor(seq, "lstm.weight_hh_l0"));
	nb_tensor_free(x);
	nb_graph_free(g);
	nb_module_free(seq);
}

/* ---- gradients through time ---- */

typedef struct bptt {
	nb_module *m;
	nb_tensor *in[3], *w[3];
} bptt;

/* loss = sum(output w0) + sum(h_n w1) + sum(c_n w2) */
static double bptt_loss(bptt *b, nb_graph *g, bool backward)
{
	nb_graph_reset(g);
	nb_tensor *out[3];
	cr_assert_eq(nb_module_forward_multi(b->m, g, 3, b->in, 3, out), 3,
	             "%s", nb_graph_errmsg(g));
	nb_tensor *loss = NULL;
	for (int k = 0; k < 3; k++) {
		nb_tensor *t = nb_sum(g, nb_mul(g, out[k], b->w[k]), 0, NULL,
		                      false);
		loss = loss ? nb_add(g, loss, t) : t;
	}
	if (backward)
		cr_assert_eq(nb_backward(loss, NULL), NB_OK);
	return nb_tensor_item(loss);
}

/* dL/dp[i] against (L(p + eps) - L(p - eps)) / 2 eps for every element
 * of p; returns the worst error over atol + rtol |numeric|. */
static double fd_check(bptt *b, nb_graph *g, nb_tensor *p)
{
	const double eps = 1e-6, atol = 1e-7, rtol = 1e-5;
	nb_tensor *grad = nb_tensor_grad(p);
	cr_assert_not_null(grad);
	double worst = 0;
	for (size_t i = 0; i < nb_tensor_numel(p); i++) {
		double v = nb_tensor_get(p, i);
		nb_tensor_set(p, i, v + eps);
		double up = bptt_loss(b, g, false);
		nb_tensor_set(p, i, v - eps);
		double dn = bptt_loss(b, g, false);
		nb_tensor_set(p, i, v);
		double num = (up - dn) / (2 * eps), an = nb_tensor_get(grad, i);
		worst = fmax(worst, fabs(an - num) / (atol + rtol * fabs(num)));
	}
	return worst;
}

Test(bptt, lstm_through_50_steps_matches_finite_differences)
{
	nb_rng r;
	nb_rng_seed(&r, 9);
	const int64_t T = 50, B = 2, I = 3, H = 4;
	bptt b = {.m = nb_lstm_new(NULL, I, H, NULL, NB_F64, &r)};
	cr_assert_not_null(b.m);
	b.in[0] = rnd(&r, T, B, I, 3);
	b.in[1] = rnd(&r, 1, B, H, 3);
	b.in[2] = rnd(&r, 1, B, H, 3);
	b.w[0] = rnd(&r, T, B, H, 3);
	b.w[1] = rnd(&r, 1, B, H, 3);
	b.w[2] = rnd(&r, 1, B, H, 3);
	for (int k = 0; k < 3; k++)
		nb_tensor_set_requires_grad(b.in[k], true);
	nb_graph *g = nb_graph_new();
	bptt_loss(&b, g, true);
	/* the gradient reaches the first step */
	double first = 0;
	for (size_t i = 0; i < (size_t)(B * I); i++)
		first += fabs(nb_tensor_get(nb_tensor_grad(b.in[0]), i));
	cr_expect_gt(first, 0);
	nb_tensor *ps[4];
	size_t np = nb_module_params(b.m, false, ps, 4);
	cr_assert_eq(np, 4);
	double worst = 0;
	for (size_t i = 0; i < np; i++)
		worst = fmax(worst, fd_check(&b, g, ps[i]));
	for (int k = 0; k < 3; k++)
		worst = fmax(worst, fd_check(&b, g, b.in[k]));
	cr_log_info("BPTT through %lld steps: worst error / tolerance %.3g",
	            (long long)T, worst);
	cr_expect_leq(worst, 1, "analytic and numeric gradients differ");

	/* clip_grad_norm over the parameters' gradients */
	double sq = 0;
	for (size_t i = 0; i < np; i++)
		for (size_t k = 0; k < nb_tensor_numel(ps[i]); k++)
			sq += pow(nb_tensor_get(nb_tensor_grad(ps[i]), k), 2);
	double total, want = sqrt(sq);
	cr_assert_eq(nb_clip_grad_norm(ps, np, want / 4, 2, true, &total),
	             NB_OK);
	cr_expect_float_eq(total, want, 1e-9 * want);
	sq = 0;
	for (size_t i = 0; i < np; i++)
		for (size_t k = 0; k < nb_tensor_numel(ps[i]); k++)
			sq += pow(nb_tensor_get(nb_tensor_grad(ps[i]), k), 2);
	cr_expect_float_eq(sqrt(sq), want / 4, 1e-6 + 1e-5 * want);
	for (int k = 0; k < 3; k++) {
		nb_tensor_free(b.in[k]);
		nb_tensor_free(b.w[k]);
	}
	nb_graph_free(g);
	nb_module_free(b.m);
}
