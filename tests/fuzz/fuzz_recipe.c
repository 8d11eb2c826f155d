/*
 * fuzz_recipe.c - the gradcheck recipe parser (nb_op_test.cases), through
 * nb_gradcheck_op on an op whose recipe is the input.  The first byte
 * picks the op's input count (0 to NB_MAX_INPUTS); the rest is the
 * recipe.
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
	{.name = "i", .type = NB_ATTR_INT, .offset = offsetof(fz_attrs, i),
	 .def = 1, .range = NB_RANGE(-5, 5)},
	{.name = "f", .type = NB_ATTR_FLOAT, .offset = offsetof(fz_attrs, f),
	 .def = 0.5, .range = NB_RANGE(0, 1), .flags = NB_ATTR_NULLABLE},
	{.name = "b", .type = NB_ATTR_BOOL, .offset = offsetof(fz_attrs, b)},
	{.name = "l", .type = NB_ATTR_INTS, .offset = offsetof(fz_attrs, l)},
	{.name = "e", .type = NB_ATTR_ENUM, .offset = offsetof(fz_attrs, e),
	 .choices = "x|y|z"},
};

/* Up to NB_MAX_INPUTS inputs, all optional. */
#define FZ_IN(N) {.name = N, .flags = NB_IN_OPTIONAL}
static const nb_input_def inputs[] = {
	FZ_IN("a"), FZ_IN("b"), FZ_IN("c"), FZ_IN("d"), FZ_IN("e"), FZ_IN("f"),
	FZ_IN("g"), FZ_IN("h"), FZ_IN("i"), FZ_IN("j"), FZ_IN("k"), FZ_IN("l"),
	FZ_IN("m"), FZ_IN("n"), FZ_IN("o"), FZ_IN("p"),
};
#undef FZ_IN
_Static_assert(sizeof inputs / sizeof *inputs == NB_MAX_INPUTS,
               "one definition per possible input");

static nb_status scalar(nb_op_ctx *c, nb_result_def *res)
{
	size_t n = 0;
	for (int i = 0; i < c->n_in; i++)
		n += c->in[i] ? nb_tensor_numel(c->in[i]) : 0;
	if (n > 64)
		return nb_op_fail(c, NB_EINVAL, "%zu elements", n);
	res->ndim = 0;
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
	nb_op_test t = {.cases = s};
	nb_op op = {
		.version = NB_OP_VERSION, .name = "fuzz_recipe",
		.kind = NB_KIND_CUSTOM, .inputs = inputs,
		.n_inputs = data[0] % (NB_MAX_INPUTS + 1),
		.attrs = defs, .n_attrs = (int)(sizeof defs / sizeof *defs),
		.attrs_size = sizeof(fz_attrs), .shape = scalar,
		.forward = forward, .backward = backward, .test = &t,
	};
	int failed = 0;
	nb_status st = nb_gradcheck_op(&op, NULL, NULL, NULL, &failed);
	if (st == NB_OK && failed < 0)
		abort();
	free(s);
	return 0;
}
