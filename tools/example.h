/*
 * example.h - the built-in example networks of `nabla dot --example`,
 * built directly with ops (no model spec), shared with the tests.
 */
#ifndef NB_EXAMPLE_H
#define NB_EXAMPLE_H

#include <nabla/nabla.h>

#define EXAMPLE_MAX_PARAMS 16

typedef struct example {
	const char *name, *title;
	int n_params;
	nb_tensor *params[EXAMPLE_MAX_PARAMS]; /* named "fc1.weight", ... */
	nb_tensor *x, *target;                 /* the batch */
} example;

/* The examples' names, '|'-separated, for messages. */
extern const char example_names[];

/*
 * Makes the parameters and the batch of example `name` (persistent
 * tensors, owned by *ex; free with example_free), drawn from seed.
 * NB_ENOTFOUND for an unknown name, NB_ENOMEM.
 *   seed10:   10 linear layers 800 -> 750 -> ... -> 300 without bias,
 *             each followed by tanh and in its own scope fc1 .. fc10;
 *             weights N(0, 0.01^2); a batch of 64 N(0, 1) inputs and
 *             N(0, 1) targets; MSE loss.  Small weights and tanh: the
 *             gradient vanishes toward the first layers.
 *   xavier10: the same with Xavier's std sqrt(2 / (n_in + n_out)): the
 *             gradient keeps its scale through the layers.
 */
nb_status example_init(example *ex, const char *name, uint64_t seed);
/* The forward pass on g (a graph tensor: the loss), or NULL with the
 * error on g. */
nb_tensor *example_forward(nb_graph *g, const example *ex);
void example_free(example *ex);

#endif
