/*
 * train_data.h - `nabla train --data FILE`: the user's .npz or CSV data
 * set, the loss it is trained with (--loss mse|ce|bce) and its
 * evaluation (tools/train_data.c).
 */
#ifndef NB_TRAIN_DATA_H
#define NB_TRAIN_DATA_H

#include "cli.h"

typedef enum loss_kind {
	LOSS_CE = 0,  /* softmax cross-entropy of int64 classes [N] */
	LOSS_MSE,     /* mean squared error of float32 targets [N, k] */
	LOSS_BCE      /* binary cross-entropy with logits, 0/1 targets [N, k] */
} loss_kind;

/* "ce", "mse", "bce" into *out; false for anything else. */
bool train_loss_parse(const char *s, loss_kind *out);
const char *train_loss_name(loss_kind l);

/*
 * Whether --data names a file to read as a data set: a name ending in
 * .npz or .csv, or an existing file that is not a directory.  Anything
 * else is a directory of IDX files (and reported as such when missing).
 */
bool train_data_is_file(const char *path);

/*
 * Loads FILE (.npz or .csv, with target for a CSV) for loss *loss
 * (*explicit: given by --loss; else chosen here: ce for integer
 * targets, mse for float ones), holding out val_split of the rows
 * (seeded with seed) when the file has no test arrays.  Prints the
 * error and returns CLI_FAIL (or CLI_USAGE for a bad option).
 */
int train_data_load(const char *path, const char *target, loss_kind *loss,
                    bool explicit, double val_split, uint64_t seed,
                    nb_dataset *d);

/* The number of outputs the model must give for d and loss. */
int64_t train_data_outputs(const nb_dataset *d, loss_kind loss);

/* The mean loss of outputs out against targets y. */
nb_tensor *train_loss_of(nb_graph *g, loss_kind loss, nb_tensor *out,
                         nb_tensor *y);

/*
 * Evaluates m over (x, y) in batches without gradients: *loss the mean
 * loss, *metric the accuracy (ce: the largest logit is the class; bce:
 * the logit's sign matches each 0/1 target) or, for mse, the mean
 * squared error (the loss itself).  Prints an error and returns
 * CLI_FAIL when one happens.
 */
int train_evaluate(nb_module *m, nb_graph *g, loss_kind l,
                   const nb_tensor *x, const nb_tensor *y, size_t batch,
                   double *loss, double *metric);

#endif
