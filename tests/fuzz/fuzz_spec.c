/*
 * fuzz_spec.c - the model spec parser: the input is the spec text.  A
 * spec that parses is built into a model (for 3 input features, unless
 * it says input:N) and run forward and backward on a batch of 2; huge
 * layers end in NB_ENOMEM (the allocator refuses blocks above 64 MiB).
 * Specs whose repeated blocks expand to many modules are parsed only:
 * building 100,000 modules is bounded but slow for a fuzzer.
 */
#include "fuzz.h"

/* The modules the spec's tree expands to (each entry times the copies
 * of the blocks around it), capped at cap + 1. */
static double expanded(const nb_spec *s, double cap)
{
	double total = 0;
	for (size_t i = 0; i < nb_spec_len(s) && total <= cap; i++) {
		double mult = 1;
		const nb_spec_layer *l = nb_spec_layer_at(s, i);
		for (size_t p = l->parent; p != SIZE_MAX;
		     p = nb_spec_layer_at(s, p)->parent)
			mult *= (double)(nb_spec_layer_at(s, p)->repeat > 0
			                 ? nb_spec_layer_at(s, p)->repeat : 1);
		total += mult;
	}
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_string(data, size);
	nb_spec *spec;
	size_t pos;
	if (!s)
		return 0;
	fz_init_alloc();
	if (nb_spec_parse(s, &spec, &pos) == NB_OK) {
		int64_t in = nb_spec_input(spec) ? nb_spec_input(spec) : 3;
		nb_model_opts mo = {.seed = 2};
		nb_module *m = in <= 4096 && expanded(spec, 2000) <= 2000
		               ? nb_model_from_spec(spec, in, &mo) : NULL;
		nb_graph *g = m ? nb_graph_new() : NULL;
		nb_tensor *x = g ? nb_graph_tensor(g, NB_F32, NB_SHAPE(2, in))
		                 : NULL;
		if (x) {
			nb_tensor_fill(x, 0.5);
			nb_tensor *y = nb_module_forward(m, g, x);
			if (y && nb_tensor_requires_grad(y))
				nb_backward(nb_sum(g, y, 0, NULL, false), NULL);
		}
		nb_graph_free(g);
		nb_module_free(m);
		nb_spec_free(spec);
	} else if (pos > size) {
		abort(); /* the error position is inside the text */
	}
	free(s);
	return 0;
}
