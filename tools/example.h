/*
 * example.h - the networks `nabla dot` draws: built-in examples made
 * directly with ops (--example), or a model spec (--model), with a batch
 * and a loss.  Shared with the tests.
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
	nb_module *model;                      /* --model, else NULL */
	bool cross_entropy;                    /* --model's loss, else MSE */
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
 *   rnn20:    a tanh RNN unrolled over 20 steps, one rnn_cell per step
 *             in scope t1 .. t20, W_hh 0.8 x orthogonal, the loss on
 *             the last state: the gradient fades toward the first
 *             steps (through time, as seed10 through depth).
 */
nb_status example_init(example *ex, const char *name, uint64_t seed);
/*
 * The model of spec (nb_model_parse, initialized as o says) with a batch
 * x of shape[0..ndim-1] (ndim 0: [64, F] with F from the spec's input:N)
 * drawn N(0, 1) from seed, and a target for the loss: class indices
 * uniform in [0, C) for cross-entropy when the output is [N, C] and
 * mse is false, else N(0, 1) values of the output's shape for MSE.
 * title is borrowed.  Errors as nb_model_parse (message in
 * nb_last_error()), NB_ESHAPE when the input size is not known (no
 * shape, no input:N), NB_ENOMEM.
 */
nb_status example_from_spec(example *ex, const char *spec, int ndim,
                            const int64_t *shape, bool mse,
                            const nb_model_opts *o, const char *title);
/* The forward pass on g (a graph tensor: the loss), or NULL with the
 * error on g.  The model (if any) runs in g's training mode. */
nb_tensor *example_forward(nb_graph *g, const example *ex);
void example_free(example *ex);

#endif
