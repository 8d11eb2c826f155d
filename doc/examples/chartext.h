/*
 * chartext.h - shared by char_gru.c and attention.c (doc/sequence.md):
 * the text a character model trains on and its alphabet (text_load), the
 * command line both take (parse_args), the next character from a row of
 * logits (pick), and a parameter drawn N(0, 1) as nn.Embedding's
 * (add_normal_param).  Static functions, so each example is still one
 * program: `cc char_gru.c -lnabla -lm` beside this header builds it.
 * The models themselves stay in the two examples.
 */
#ifndef CHARTEXT_H
#define CHARTEXT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>

/* ---- the text and its alphabet ---- */

typedef struct text {
	unsigned char *bytes;
	int64_t *ids;      /* bytes as indices into chars */
	size_t len;
	size_t train;      /* ids[0, train) train, the last tenth is held out */
	int vocab;         /* distinct bytes */
	unsigned char chars[256];
} text;

/*
 * Reads path whole and numbers its distinct bytes in byte order; a text
 * shorter than min_len bytes is refused.  Errors are printed after
 * "prog: ".  On failure the caller still frees t->bytes and t->ids.
 */
static int text_load(text *t, const char *path, size_t min_len,
                     const char *prog)
{
	FILE *f = fopen(path, "rb");
	memset(t, 0, sizeof *t);
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 1 << 16, n;
	bool bad = false;
	t->bytes = malloc(cap);
	while (t->bytes && (n = fread(t->bytes + t->len, 1, cap - t->len, f))) {
		t->len += n;
		if (t->len == cap) {
			unsigned char *more = realloc(t->bytes, cap * 2);
			if (!more) {
				bad = true;
				break;
			}
			t->bytes = more;
			cap *= 2;
		}
	}
	bad = bad || ferror(f);
	fclose(f);
	int id[256];
	memset(id, -1, sizeof id);
	for (size_t i = 0; i < t->len; i++)
		id[t->bytes[i]] = 0;
	for (int c = 0; c < 256; c++)
		if (id[c] == 0) {
			id[c] = t->vocab;
			t->chars[t->vocab++] = (unsigned char)c;
		}
	t->ids = t->bytes && !bad ? malloc(t->len * sizeof *t->ids) : NULL;
	if (!t->ids || t->len < min_len) {
		fprintf(stderr, "%s: %s: %s\n", prog, path,
		        t->ids ? "too short" : "cannot read it");
		return -1;
	}
	for (size_t i = 0; i < t->len; i++)
		t->ids[i] = id[t->bytes[i]];
	t->train = t->len - t->len / 10;
	return 0;
}

/* ---- a parameter as nn.Embedding draws it ---- */

/*
 * Adds to m the parameter name, [rows, cols] float32 drawn N(0, 1).
 * Returns m, or NULL when m is NULL or on failure (m is then freed).
 */
static nb_module *add_normal_param(nb_module *m, const char *name,
                                   int64_t rows, int64_t cols, nb_rng *rng)
{
	nb_tensor *w = m ? nb_tensor_zeros(NB_F32, NB_SHAPE(rows, cols)) : NULL;
	if (w && nb_init_normal(w, rng, 0, 1)) {
		nb_tensor_free(w);
		w = NULL;
	}
	/* nb_module_add_param steals w, also when it fails. */
	if (!w || nb_module_add_param(m, name, w)) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

/* ---- generation ---- */

/*
 * The next character after logits [1, V]: argmax of logits / temp plus
 * Gumbel noise -log(-log(u)), which is a sample of softmax(logits / temp)
 * (greedy for temp 0).  -1 on error (recorded on g).
 */
static int64_t pick(nb_graph *g, nb_tensor *logits, double temp, nb_rng *r)
{
	nb_tensor *score = logits;
	if (temp > 0 && logits) {
		int64_t v = nb_tensor_dim(logits, 1);
		nb_tensor *u = nb_graph_tensor(g, NB_F32, NB_SHAPE(1, v));
		for (int64_t i = 0; u && i < v; i++)
			nb_tensor_set(u, (size_t)i,
			              1e-7 + (1 - 2e-7) * nb_rng_uniform(r));
		nb_tensor *gumbel = nb_neg(g, nb_log(g, nb_neg(g, nb_log(g, u))));
		score = nb_add(g, nb_affine_scalar(g, logits, 1 / temp, 0), gumbel);
	}
	nb_tensor *i = nb_argmax(g, score, -1, true, false);
	return i ? (int64_t)nb_tensor_item(i) : -1;
}

/* ---- the command line ---- */

typedef struct opts {
	long steps, every, sample;
	unsigned long long seed;
	double temp;
	const char *path;
} opts;

/*
 * [--steps N] [--seed S] [--every N] [--temp T] [--sample N] [FILE]:
 * 1000 steps, seed 1, a line every steps / 10, a sample of 200
 * characters at temperature 0.5, the GPL-3 text.  -1 on bad arguments.
 */
static int parse_args(int argc, char **argv, opts *o)
{
	*o = (opts){.steps = 1000, .every = 0, .sample = 200, .seed = 1,
	            .temp = 0.5, .path = "/usr/share/common-licenses/GPL-3"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		if (a[0] != '-') {
			o->path = a;
			continue;
		}
		if (!v)
			return -1;
		if (!strcmp(a, "--steps"))
			o->steps = strtol(v, &end, 10);
		else if (!strcmp(a, "--every"))
			o->every = strtol(v, &end, 10);
		else if (!strcmp(a, "--sample"))
			o->sample = strtol(v, &end, 10);
		else if (!strcmp(a, "--seed"))
			o->seed = strtoull(v, &end, 10);
		else if (!strcmp(a, "--temp"))
			o->temp = strtod(v, &end);
		else
			return -1;
		if (*end || end == v)
			return -1;
		i++;
	}
	if (o->every <= 0)
		o->every = o->steps >= 10 ? o->steps / 10 : 1;
	return o->steps >= 1 && o->sample >= 0 && o->temp >= 0 ? 0 : -1;
}

#endif
