/*
 * fuzz_recipe.c - the gradcheck recipe parser (nb_op.cases), through
 * nb_gradcheck_op on an op whose recipe is the input.  The first byte
 * picks the op's input count (0 to 8); the rest is the recipe.
 *
 * The op sums its float inputs (all optional, so '-' works) into a
 * scalar, and refuses more than 64 elements in all (numerical gradients
 * take two forward passes per element); it has one attribute of every
 * type, for the recipe's "|key=value" part.
 */
#include "fuzz.h"

typedef struct fz_attrs {
	int64_t i;
	double f;
	bool b;
	nb_ints l;
	int e;
} fz_attrs;

static const nb_attr_def defs[] = {
	{"i", NB_ATTR_INT, offsetof(fz_attrs, i), 1, -5, 5, NULL, 0, ""},
	{"f", NB_ATTR_FLOAT, offsetof(fz_attrs, f), 0.5, 0, 1, NULL,
	 NB_ATTR_NULLABLE, ""},
	{"b", NB_ATTR_BOOL, offsetof(fz_attrs, b), 0, 1, 0, NULL, 0, ""},
	{"l", NB_ATTR_INTS, offsetof(fz_attrs, l), 0, 1, 0, NULL, 0, ""},
	{"e", NB_ATTR_ENUM, offsetof(fz_attrs, e), 0, 1, 0, "x|y|z", 0, ""},
};

static nb_status scalar(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                        int64_t *shape)
{
	size_t n = 0;
	(void)dt;
	(void)shape;
	for (int i = 0; i < c->n_in; i++)
		n += c->in[i] ? nb_tensor_numel(c->in[i]) : 0;
	if (n > 64)
		return nb_op_fail(c, NB_EINVAL, "%zu elements", n);
	*ndim = 0;
	return NB_OK;
}

static nb_status forward(nb_op_ctx *c)
{
	double s = 0;
	for (int i = 0; i < c->n_in; i++)
		for (size_t j = 0; c->in[i] && j < nb_tensor_numel(c->in[i]); j++)
			s += nb_tensor_get(c->in[i], j);
	nb_tensor_set(c->out, 0, s);
	return NB_OK;
}

static nb_status backward(nb_op_ctx *c, const nb_tensor *gout,
                          nb_tensor *const *gin)
{
	double g = nb_tensor_get(gout, 0);
	for (int i = 0; i < c->n_in; i++)
		for (size_t j = 0; gin[i] && j < nb_tensor_numel(gin[i]); j++)
			nb_tensor_set(gin[i], j, nb_tensor_get(gin[i], j) + g);
	return NB_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *s = fz_string(data + 1, size - 1);
	if (!s)
		return 0;
	fz_init_alloc();
	nb_op op = {
		.name = "fuzz_recipe", .kind = NB_KIND_CUSTOM,
		.n_inputs = data[0] % (NB_MAX_INPUTS + 1),
		.optional = 0xff, .attrs = defs,
		.n_attrs = (int)(sizeof defs / sizeof *defs),
		.attrs_size = sizeof(fz_attrs), .shape = scalar,
		.forward = forward, .backward = backward, .cases = s,
	};
	int failed = 0;
	nb_status st = nb_gradcheck_op(&op, NULL, NULL, NULL, &failed);
	if (st == NB_OK && failed < 0)
		abort();
	free(s);
	return 0;
}
