/*
 * test_seq_rows.c - the sequence layers as spec rows (lib/nn/seq_rows.c):
 * character models of token ids (embedding, rnn, lstm, gru, attention,
 * encoder layers, positions), their names and shapes, and the errors of
 * a spec that does not begin with an embedding.
 */
#include "support/helpers.h"

static nb_module *text_model(const char *spec, int64_t vocab, int64_t T)
{
	nb_model_opts o = {.dtype = NB_F64, .seed = 1, .vocab = vocab};
	return nb_model_parse(spec, T, &o);
}

/* ids [2, T] through m: logits [2, T, V]. */
static void expect_logits(nb_module *m, int64_t T, int64_t V)
{
	nb_graph *g = nb_graph_new();
	int64_t ids[2 * 16];
	for (int i = 0; i < 2 * T; i++)
		ids[i] = (i * 7) % V;
	nb_tensor *x = nb_graph_from_data(g, NB_I64, NB_SHAPE(2, T), ids);
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(y), 3);
	cr_expect_eq(nb_tensor_dim(y, 0), 2);
	cr_expect_eq(nb_tensor_dim(y, 1), T);
	cr_expect_eq(nb_tensor_dim(y, 2), V);
	nb_graph_free(g);
}

Test(seq_rows, character_models_from_specs)
{
	const char *specs[] = {
		"embedding:8 lstm:16 linear:5",
		"embedding:8 gru:16,num_layers=2,dropout=0.1 linear:5",
		"embedding:8 rnn:16,relu=1,bidirectional=1 linear:5",
		"embedding:16 learned_positions 2x(transformer_encoder_layer:4,"
		"dim_feedforward=32,dropout=0,gelu=1,norm_first=1,causal=1) "
		"layer_norm linear:5",
		"embedding:16 sinusoidal_positions residual(layer_norm "
		"self_attention:2,causal=1) linear:5",
	};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++) {
		nb_module *m = text_model(specs[i], 5, 12);
		cr_assert_not_null(m, "%s: %s", specs[i], nb_last_error());
		expect_logits(m, 12, 5);
		nb_module_free(m);
	}
}

Test(seq_rows, pytorch_names_and_recurrent_state)
{
	nb_module *m = text_model("embedding:8 lstm:16,num_layers=2 linear:5",
	                          5, 10);
	cr_assert_not_null(m, "%s", nb_last_error());
	const char *names[] = {"emb1.weight", "lstm1.weight_ih_l0",
	                       "lstm1.weight_hh_l1", "lstm1.bias_hh_l1",
	                       "fc1.weight"};
	for (size_t i = 0; i < 5; i++)
		cr_expect_not_null(nb_module_tensor(m, names[i]), "%s", names[i]);
	cr_expect_eq(nb_tensor_dim(nb_module_tensor(m, "emb1.weight"), 0), 5);
	cr_expect(nb_module_has_state(m));
	nb_module *t = text_model("embedding:8 learned_positions "
	                          "transformer_encoder_layer:2 linear:5", 5, 10);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_not(nb_module_has_state(t));
	cr_expect_not_null(nb_module_tensor(t, "enc1.self_attn.in_proj_weight"));
	cr_expect_eq(nb_tensor_dim(nb_module_tensor(t, "pos1.weight"), 0), 10);
	nb_module_free(t);
	nb_module_free(m);
}

Test(seq_rows, errors_are_positioned)
{
	struct { const char *spec; const char *msg; } bad[] = {
		{"linear:8 lstm:16", "spec:1:1: linear reads features, but the "
		 "inputs are token ids of a 5-character alphabet"},
		{"residual(embedding:8) linear:5", "a block reads features"},
		{"embedding:8 linear:4 lstm:0", "spec:1:27: lstm: attribute 'hidden' = 0"},
		{"embedding:8 lstm", "needs its state size"},
		{"embedding", "embedding needs its size"},
		{"embedding:8,padding_idx=9 linear:5", "padding_idx 9 is not a row"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_expect_null(text_model(bad[i].spec, 5, 10), "%s", bad[i].spec);
		cr_expect(strstr(nb_last_error(), bad[i].msg), "%s: %s",
		          bad[i].spec, nb_last_error());
	}
	/* A sequence layer on flat features, and an embedding without a
	 * vocabulary. */
	cr_expect_null(nb_model_parse("lstm:8", 20, NULL));
	cr_expect(strstr(nb_last_error(), "needs a sequence [T, F]"), "%s",
	          nb_last_error());
	cr_expect_null(nb_model_parse("embedding:8", 20, NULL));
	cr_expect(strstr(nb_last_error(), "give num=V"), "%s",
	          nb_last_error());
	nb_model_opts o = {.vocab = -1};
	cr_expect_null(nb_model_parse("linear:3", 4, &o));
}
