/*
 * test_text.c - the character corpus (alphabet, split, windows of
 * truncated backpropagation through time, the alphabet in a checkpoint)
 * and drawing from logits with temperature and top-k.
 */
#include <math.h>
#include "support/helpers.h"
#include "support/tmpdir.h"

Test(text, alphabet_split_and_ids)
{
	const char *s = "hello world";
	nb_text *t = nb_text_from_bytes(s, strlen(s), 0.2);
	cr_assert_not_null(t, "%s", nb_last_error());
	/* ' ' d e h l o r w */
	cr_expect_eq(nb_text_vocab_size(t), 8);
	cr_expect_eq(nb_text_id(t, ' '), 0);
	cr_expect_eq(nb_text_id(t, 'w'), 7);
	cr_expect_eq(nb_text_id(t, 'z'), -1);
	cr_expect_eq(nb_text_byte(t, 3), 'h');
	cr_expect_eq(nb_text_byte(t, 8), 0);
	/* 11 bytes, floor(2.2) = 2 held out */
	cr_expect_eq(nb_text_len(t, NB_TEXT_TRAIN), 9);
	cr_expect_eq(nb_text_len(t, NB_TEXT_HELD_OUT), 2);
	const int64_t *h = nb_text_ids(t, NB_TEXT_HELD_OUT);
	cr_expect_eq(nb_text_byte(t, h[0]), 'l');
	cr_expect_eq(nb_text_byte(t, h[1]), 'd');
	char hex[64];
	cr_expect_eq(nb_text_vocab_hex(t, hex, sizeof hex), 16);
	cr_expect_str_eq(hex, "206465686c6f7277");
	/* Truncated to the buffer, as snprintf. */
	char small[5];
	cr_expect_eq(nb_text_vocab_hex(t, small, sizeof small), 16);
	cr_expect_str_eq(small, "2064");
	nb_text *v = nb_text_from_vocab_hex(hex);
	cr_assert_not_null(v, "%s", nb_last_error());
	cr_expect_eq(nb_text_vocab_size(v), 8);
	cr_expect_eq(nb_text_id(v, 'o'), nb_text_id(t, 'o'));
	cr_expect_eq(nb_text_len(v, NB_TEXT_TRAIN), 0);
	cr_expect_null(nb_text_ids(v, NB_TEXT_TRAIN));
	nb_text_free(v);
	nb_text_free(t);
}

Test(text, bad_vocabularies_and_arguments)
{
	const char *bad[] = {"", "2", "zz", "2020", "6120", "20 1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_expect_null(nb_text_from_vocab_hex(bad[i]), "'%s'", bad[i]);
		cr_expect_eq(nb_last_status(), NB_EFORMAT, "'%s'", bad[i]);
	}
	cr_expect_null(nb_text_from_bytes("ab", 2, 0.6));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_text_from_bytes("ab", 2, NAN));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_text_from_bytes("", 0, 0.1));
	cr_expect_eq(nb_last_status(), NB_EFORMAT);
	cr_expect_null(nb_text_load("/nonexistent/file", 0.1));
	cr_expect_eq(nb_last_status(), NB_EIO);
	cr_expect(strstr(nb_last_error(), "/nonexistent/file"));
	cr_expect_null(nb_text_load("/tmp", 0.1));
	cr_expect(strstr(nb_last_error(), "is a directory"), "%s",
	          nb_last_error());
	cr_expect_null(nb_text_load("/dev/null", 0.1));
	cr_expect_eq(nb_last_status(), NB_EIO);
}

Test(text, load_a_file)
{
	char path[PATH_MAX + 256];
	nbt_tmpdir_make("test_text");
	snprintf(path, sizeof path, "%s", nbt_tmpdir_path("t.txt"));
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	for (int i = 0; i < 1000; i++)
		fputc("abc\n"[i % 4], f);
	cr_assert_eq(fclose(f), 0);
	nb_text *t = nb_text_load(path, 0.1);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_eq(nb_text_vocab_size(t), 4);
	cr_expect_eq(nb_text_len(t, NB_TEXT_TRAIN), 900);
	cr_expect_eq(nb_text_len(t, NB_TEXT_HELD_OUT), 100);
	nb_text_free(t);
	snprintf(path, sizeof path, "%s", nbt_tmpdir_path("empty.txt"));
	f = fopen(path, "wb");
	cr_assert_eq(fclose(f), 0);
	cr_expect_null(nb_text_load(path, 0.1));
	cr_expect_eq(nb_last_status(), NB_EFORMAT);
	nbt_tmpdir_remove();
}

/* Row b of window k + 1 continues row b of window k; targets are the
 * next ids. */
Test(text, windows_continue_their_streams)
{
	char s[103];
	for (int i = 0; i < 103; i++)
		s[i] = (char)(' ' + i % 90);
	nb_text *t = nb_text_from_bytes(s, sizeof s, 0);
	/* 103 ids, 4 streams of 25, (25 - 1) / 5 = 4 windows of 5 */
	cr_expect_eq(nb_text_windows(t, NB_TEXT_TRAIN, 4, 5), 4);
	cr_expect_eq(nb_text_windows(t, NB_TEXT_TRAIN, 4, 24), 1);
	cr_expect_eq(nb_text_windows(t, NB_TEXT_TRAIN, 4, 25), 0);
	cr_expect_eq(nb_text_windows(t, NB_TEXT_TRAIN, 60, 1), 0);
	cr_expect_eq(nb_text_windows(t, NB_TEXT_HELD_OUT, 1, 1), 0);
	nb_graph *g = nb_graph_new();
	const int64_t *ids = nb_text_ids(t, NB_TEXT_TRAIN);
	for (size_t k = 0; k < 4; k++) {
		nb_tensor *x, *y;
		cr_assert_eq(nb_text_window(g, t, NB_TEXT_TRAIN, 4, 5, k, &x, &y),
		             NB_OK, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_dtype(x), NB_I64);
		cr_expect_eq(nb_tensor_dim(x, 0), 4);
		cr_expect_eq(nb_tensor_dim(y, 1), 5);
		const int64_t *px = nb_tensor_data(x), *py = nb_tensor_data(y);
		for (int b = 0; b < 4; b++)
			for (int j = 0; j < 5; j++) {
				size_t at = (size_t)b * 25 + k * 5 + (size_t)j;
				cr_expect_eq(px[b * 5 + j], ids[at]);
				cr_expect_eq(py[b * 5 + j], ids[at + 1]);
			}
	}
	nb_tensor *x = (nb_tensor *)1, *y = (nb_tensor *)1;
	cr_expect_eq(nb_text_window(g, t, NB_TEXT_TRAIN, 4, 5, 4, &x, &y),
	             NB_EINVAL);
	cr_expect_null(x);
	cr_expect_null(y);
	cr_expect(strstr(nb_graph_errmsg(g), "past the last window"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_text_free(t);
}

static nb_tensor *row(int n, const double *v)
{
	nb_tensor *t = nb_tensor_zeros(NB_F64, NB_SHAPE(1, n));
	for (int i = 0; i < n; i++)
		nb_tensor_set(t, (size_t)i, v[i]);
	return t;
}

/* Frequencies of 200,000 draws against softmax(l / T) (restricted to
 * the top k), within 5 standard errors. */
static void expect_frequencies(const double *l, int n, double temp,
                               int64_t k)
{
	nb_tensor *t = row(n, l);
	nb_rng r;
	nb_rng_seed(&r, 7);
	int count[8] = {0};
	const int draws = 200000;
	for (int i = 0; i < draws; i++) {
		int64_t j = nb_sample_categorical(t, temp, k, &r);
		cr_assert(j >= 0 && j < n, "%s", nb_last_error());
		count[j]++;
	}
	double sorted[8], cut = -INFINITY, z = 0, p[8];
	memcpy(sorted, l, (size_t)n * sizeof *l);
	for (int i = 0; i < n; i++)   /* descending insertion sort */
		for (int j = i; j > 0 && sorted[j] > sorted[j - 1]; j--) {
			double s = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = s;
		}
	if (k > 0 && k < n)
		cut = sorted[k - 1];
	for (int i = 0; i < n; i++)
		z += p[i] = l[i] >= cut ? exp(l[i] / temp) : 0;
	for (int i = 0; i < n; i++) {
		p[i] /= z;
		double se = sqrt(p[i] * (1 - p[i]) / draws) + 1e-9;
		cr_expect(fabs(count[i] / (double)draws - p[i]) <= 5 * se,
		          "T %g k %lld: index %d drawn %d times, p %g", temp,
		          (long long)k, i, count[i], p[i]);
	}
	nb_tensor_free(t);
}

Test(text, samples_follow_softmax_with_temperature_and_top_k)
{
	const double l[5] = {1.0, 2.0, 0.5, 2.0, -1.0};
	expect_frequencies(l, 5, 1.0, 0);
	expect_frequencies(l, 5, 0.5, 0);
	expect_frequencies(l, 5, 2.0, 3);
	/* top 1 keeps both logits tied at 2.0 */
	expect_frequencies(l, 5, 1.0, 1);
	expect_frequencies(l, 5, 1.0, 5);
}

Test(text, greedy_infinities_and_errors)
{
	nb_rng r;
	nb_rng_seed(&r, 1);
	const double l[4] = {1, 3, 3, -INFINITY};
	nb_tensor *t = row(4, l);
	cr_expect_eq(nb_sample_categorical(t, 0, 0, &r), 1); /* first max */
	for (int i = 0; i < 1000; i++)
		cr_expect_neq(nb_sample_categorical(t, 1, 0, &r), 3);
	nb_tensor_set(t, 2, INFINITY);
	cr_expect_eq(nb_sample_categorical(t, 1, 0, &r), 2);
	nb_tensor_set(t, 0, NAN);
	cr_expect_eq(nb_sample_categorical(t, 1, 0, &r), -1);
	cr_expect(strstr(nb_last_error(), "logit 0 is NaN"));
	for (int i = 0; i < 4; i++)
		nb_tensor_set(t, (size_t)i, -INFINITY);
	cr_expect_eq(nb_sample_categorical(t, 1, 0, &r), -1);
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_eq(nb_sample_categorical(t, -1, 0, &r), -1);
	cr_expect_eq(nb_sample_categorical(t, NAN, 0, &r), -1);
	cr_expect_eq(nb_sample_categorical(t, 1, -1, &r), -1);
	cr_expect_eq(nb_sample_categorical(t, 1, 0, NULL), -1);
	nb_tensor_free(t);
	nb_tensor *m = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 3));
	cr_expect_eq(nb_sample_categorical(m, 1, 0, &r), -1);
	cr_expect(strstr(nb_last_error(), "[2, 3]"), "%s", nb_last_error());
	nb_tensor_free(m);
	nb_tensor *i = nb_tensor_zeros(NB_I64, NB_SHAPE(3));
	cr_expect_eq(nb_sample_categorical(i, 1, 0, &r), -1);
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	nb_tensor_free(i);
}
