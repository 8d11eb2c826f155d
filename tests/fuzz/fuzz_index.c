/*
 * fuzz_index.c - the indexing and masking ops (index_select, gather,
 * scatter_add, embedding, one_hot, masked_fill, where) through nb_call
 * on shapes, axes and index values taken from the input, hostile ones
 * included (negative, huge, off by one, empty axes, ranks up to 4).
 *
 * Every call either succeeds, and then its backward runs too, or fails
 * with a message naming the op; ASan (the fuzz build) catches any read
 * or write out of bounds.  Input layout: byte 0 the op, byte 1 the dim
 * attribute (signed), then for each tensor a rank byte and dim bytes,
 * then the values of the index tensors, 8 bytes each (little endian,
 * reused cyclically; index values mod 2^k and some raw).
 */
#include "fuzz.h"

typedef struct reader {
	const uint8_t *p;
	size_t n, at;
} reader;

static uint8_t byte(reader *r)
{
	return r->at < r->n ? r->p[r->at++] : 0;
}

/* A shape of rank 0..4, each size 0..5. */
static int shape(reader *r, int64_t *s)
{
	int nd = byte(r) % 5;
	for (int i = 0; i < nd; i++)
		s[i] = byte(r) % 6;
	return nd;
}

/* An index value: usually small, sometimes hostile. */
static int64_t index_value(reader *r)
{
	uint8_t k = byte(r);
	switch (k & 7) {
	case 0: return -1 - (int64_t)(k >> 3);
	case 1: return INT64_MAX - (k >> 3);
	case 2: return INT64_MIN + (k >> 3);
	case 3: return (int64_t)(k >> 3) + 5;
	default: return (int64_t)(k >> 3) % 6;
	}
}

static nb_tensor *tensor(reader *r, nb_dtype dt)
{
	int64_t s[NB_MAX_DIMS];
	int nd = shape(r, s);
	nb_tensor *t = nb_tensor_zeros(dt, nd, s);
	if (!t)
		return NULL;
	size_t n = nb_tensor_numel(t);
	void *d = nb_tensor_data(t);
	for (size_t i = 0; i < n; i++) {
		if (dt == NB_I64)
			((int64_t *)d)[i] = index_value(r);
		else if (dt == NB_BOOL)
			((uint8_t *)d)[i] = byte(r) & 1;
		else
			((double *)d)[i] = (double)(int8_t)byte(r) / 8;
	}
	return t;
}

static const struct {
	const char *name;
	int n_in;
	nb_dtype dt[3];
} ops[] = {
	{"index_select", 2, {NB_F64, NB_I64}},
	{"gather", 2, {NB_F64, NB_I64}},
	{"scatter_add", 3, {NB_F64, NB_I64, NB_F64}},
	{"embedding", 2, {NB_I64, NB_F64}},
	{"one_hot", 1, {NB_I64}},
	{"masked_fill", 2, {NB_F64, NB_BOOL}},
	{"where", 3, {NB_BOOL, NB_F64, NB_F64}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	reader r = {data, size, 0};
	nb_tensor *in[3] = {NULL, NULL, NULL};
	char attrs[64];
	fz_init_alloc();
	int k = byte(&r) % (int)(sizeof ops / sizeof ops[0]);
	int dim = (int8_t)byte(&r) % 8;
	const char *name = ops[k].name;
	if (!strcmp(name, "embedding"))
		snprintf(attrs, sizeof attrs, "padding_idx=%d", dim);
	else if (!strcmp(name, "one_hot"))
		snprintf(attrs, sizeof attrs, "num_classes=%d", dim);
	else if (!strcmp(name, "masked_fill"))
		snprintf(attrs, sizeof attrs, "value=%s", dim & 1 ? "-inf" : "2");
	else
		snprintf(attrs, sizeof attrs, "axis=%d", dim);
	for (int i = 0; i < ops[k].n_in; i++)
		if (!(in[i] = tensor(&r, ops[k].dt[i])))
			goto out;
	for (int i = 0; i < ops[k].n_in; i++)
		if (ops[k].dt[i] == NB_F64)
			nb_tensor_set_requires_grad(in[i], true);
	nb_graph *g = nb_graph_new();
	if (!g)
		goto out;
	nb_tensor *y = nb_call(g, name, ops[k].n_in, in, attrs);
	if (!y) {
		const char *m = nb_graph_errmsg(g);
		if (nb_graph_status(g) != NB_ENOMEM && !strstr(m, name)) {
			fprintf(stderr, "%s: a message not naming the op: %s\n",
			        name, m);
			abort();
		}
	} else if (nb_tensor_requires_grad(y)) {
		nb_tensor *s = nb_sum(g, y, 0, NULL, false);
		if (s)
			nb_backward(s, NULL);
	}
	nb_graph_free(g);
out:
	for (int i = 0; i < 3; i++)
		nb_tensor_free(in[i]);
	return 0;
}
