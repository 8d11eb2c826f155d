/*
 * test_textlm.c - training, evaluating and sampling a character model
 * from the command line's helpers (tools/textlm.c), on a bigram model
 * (logits = a learned [V, V] table looked up by the current id), whose
 * best bits per character is known: the text's conditional entropy.
 */
#include <math.h>
#include "support/helpers.h"
#include "textlm.h"

static nb_tensor *bigram_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	return nb_embedding(g, x, nb_module_tensor(m, "table"), NAN);
}

static const nb_module_class bigram_class = {
	.type = "bigram", .forward = bigram_forward,
};

static nb_module *bigram_new(int64_t v)
{
	nb_module *m = nb_module_new(&bigram_class, NULL, NULL);
	cr_assert_not_null(m);
	cr_assert_eq(nb_module_add_param(m, "table", nb_tensor_zeros(NB_F32,
	                                 NB_SHAPE(v, v))), NB_OK);
	return m;
}

/* "abcabc..." with a 'd' after every 7th 'c': after 'a' always 'b', after
 * 'b' always 'c', after 'c' 'a' (6/7) or 'd' (1/7), after 'd' 'a'. */
static nb_text *corpus(void)
{
	static char s[22000];
	size_t n = 0;
	for (int k = 0; n + 4 < sizeof s; k++) {
		memcpy(s + n, "abc", 3);
		n += 3;
		if (k % 7 == 6)
			s[n++] = 'd';
	}
	nb_text *t = nb_text_from_bytes(s, n, 0.1);
	cr_assert_not_null(t);
	return t;
}

Test(textlm, a_bigram_model_learns_the_conditional_entropy)
{
	nb_text *t = corpus();
	nb_module *m = bigram_new(nb_text_vocab_size(t));
	nb_tensor *p = nb_module_tensor(m, "table");
	nb_adam_opts ao = nb_adam_defaults();
	ao.lr = 0.1;
	nb_optim *opt = nb_optim_adam(&p, 1, &ao);
	nb_graph *g = nb_graph_new();
	char err[256];
	double before, bpc, held;
	cr_assert_eq(tl_evaluate(m, g, t, NB_TEXT_HELD_OUT, 4, 16, &before,
	                         err, sizeof err), NB_OK, "%s", err);
	cr_expect_float_eq(before, 2, 1e-6, "uniform over 4: %g", before);
	tl_cfg c = {.batch = 8, .steps = 16};
	for (int e = 0; e < 4; e++)
		cr_assert_eq(tl_train_epoch(m, g, opt, &p, 1, t, &c, &bpc, err,
		                            sizeof err), NB_OK, "%s", err);
	cr_assert_eq(tl_evaluate(m, g, t, NB_TEXT_HELD_OUT, 4, 16, &held, err,
	                         sizeof err), NB_OK, "%s", err);
	/* H = P(c) H(1/7) = (7/22) * 0.592 = 0.188 bits per character */
	double h = 7.0 / 22 * -(1.0 / 7 * log2(1.0 / 7) + 6.0 / 7 *
	                         log2(6.0 / 7));
	cr_expect_lt(held, h + 0.05, "held-out %g bits, entropy %g", held, h);
	cr_expect_gt(held, h - 0.05, "held-out %g bits, entropy %g", held, h);
	/* Greedy generation follows the cycle. */
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	nb_rng r;
	nb_rng_seed(&r, 1);
	cr_assert_eq(tl_generate(m, g, t, "ab", 7, 0, 0, 8, &r, out, err,
	                         sizeof err), NB_OK, "%s", err);
	fclose(out);
	cr_expect_str_eq(buf, "abcabcabc");
	free(buf);
	/* A byte outside the alphabet. */
	out = open_memstream(&buf, &len);
	cr_expect_eq(tl_generate(m, g, t, "abz", 3, 1, 0, 8, &r, out, err,
	                         sizeof err), NB_EINVAL);
	fclose(out);
	free(buf);
	cr_expect(strstr(err, "byte 2 (0x7a)"), "%s", err);
	nb_graph_free(g);
	nb_optim_free(opt);
	nb_module_free(m);
	nb_text_free(t);
}

Test(textlm, errors_name_the_problem)
{
	nb_text *t = nb_text_from_bytes("abcd", 4, 0);
	nb_module *m = bigram_new(4);
	nb_graph *g = nb_graph_new();
	char err[256];
	double bpc;
	cr_expect_eq(tl_evaluate(m, g, t, NB_TEXT_TRAIN, 4, 16, &bpc, err,
	                         sizeof err), NB_EINVAL);
	cr_expect(strstr(err, "too short"), "%s", err);
	/* A model whose output is not [batch, steps, V]. */
	nb_graph_reset(g);
	nb_tensor *y = nb_graph_tensor(g, NB_I64, NB_SHAPE(2, 3));
	nb_tensor *l = nb_graph_tensor(g, NB_F32, NB_SHAPE(6, 4));
	cr_expect_null(tl_loss(g, l, y));
	cr_expect(strstr(nb_graph_errmsg(g), "[6, 4] for ids [2, 3]"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_module_free(m);
	nb_text_free(t);
}
