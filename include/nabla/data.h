/*
 * nabla/data.h - data sets: the IDX file format (MNIST, Fashion-MNIST),
 * a built-in synthetic classification set, mini-batches and evaluation.
 */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Reads an IDX file (LeCun's format: two zero bytes, a type byte, the
 * rank, big-endian 32-bit dimensions, then big-endian values), plain or
 * gzip-compressed (detected by content), into a new persistent tensor of
 * dtype dt (values converted; NB_I64 for labels).  All element types of
 * the format are read (u8, i8, i16, i32, f32, f64), but NB_I64 only from
 * the integer ones (NB_EDTYPE for f32 and f64: a label of NaN or 9.99 is
 * no class).  Hostile files are errors, never crashes: NB_EFORMAT for a
 * wrong magic, a rank outside 1..NB_MAX_DIMS, dimensions whose product
 * overflows, truncated or trailing data, corrupt gzip data; memory grows
 * only with the data actually read.  NB_EIO when the file cannot be read
 * or is a directory.  NULL on error, with nb_last_error() (NB_EINVAL
 * for a NULL path).
 */
nb_tensor *nb_idx_read(const char *path, nb_dtype dt);

/* Where Debian's dataset-fashion-mnist package installs the files. */
#define NB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* A classification data set: inputs [N, features] and int64 class
 * indices [N] in [0, classes), for training and for testing.  The
 * tensors are owned by the struct: free with nb_dataset_free. */
typedef struct nb_dataset {
	nb_tensor *train_x, *train_y, *test_x, *test_y;
	int64_t features, classes;
	char name[32];   /* "fashion-mnist", "synthetic" */
} nb_dataset;

/*
 * Fashion-MNIST from dir (NULL: NB_FASHION_MNIST_DIR): the files
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte, with or without .gz.
 * Images become float32 [N, 784] scaled to [0, 1].  NB_EIO when a
 * file is missing, NB_EFORMAT when one is malformed, the counts of
 * images and labels differ, a set is empty, a label is outside 0..9 or
 * the test images' H x W is not the training images', NB_EDTYPE when
 * labels are floats; each message names the file.  *d is zeroed on
 * error.  NB_EINVAL for a NULL d (also nb_dataset_synthetic).
 */
nb_status nb_dataset_fashion_mnist(const char *dir, nb_dataset *d);

/*
 * The built-in synthetic set: `classes` Gaussian clusters in `features`
 * dimensions.  Class c has a mean mu_c drawn once from N(0, 0.1^2) per
 * dimension; a sample of class c (drawn uniformly) is mu_c + N(0, 1)
 * noise.  Everything comes from nb_rng seeded with seed, so a seed
 * gives the same set on every machine.  float32.
 */
nb_status nb_dataset_synthetic(int64_t n_train, int64_t n_test,
                               int64_t features, int64_t classes,
                               uint64_t seed, nb_dataset *d);
void nb_dataset_free(nb_dataset *d); /* NULL: a no-op */

/*
 * Standardizes inputs in place with the training inputs' overall mean
 * and standard deviation (one scalar each, as torchvision's Normalize
 * is used for (Fashion-)MNIST): x = (x - mean) / std, on the training
 * and the test inputs.  mean and std may be NULL.  NB_EINVAL for a NULL
 * d or one without training or test inputs.
 */
nb_status nb_dataset_standardize(nb_dataset *d, double *mean, double *std);

/*
 * A mini-batch: rows idx[0..n) of x (a persistent [N, ...] tensor) and
 * of y (may be NULL) copied into new tensors of graph g.  NULL results
 * on error, recorded on g (an index out of range is NB_EINVAL, and so
 * is a NULL g, x, idx or bx, or a NULL by when y is given).
 */
nb_status nb_batch_gather(nb_graph *g, const nb_tensor *x,
                          const nb_tensor *y, const int64_t *idx, size_t n,
                          nb_tensor **bx, nb_tensor **by);

/* A random permutation of 0..n-1 into idx (Fisher-Yates with r).  A
 * NULL idx or r does nothing. */
void nb_shuffle(int64_t *idx, size_t n, nb_rng *r);

/*
 * Runs m in evaluation mode without gradients over (x, y) in batches of
 * `batch` rows, with cross-entropy loss: *loss gets the mean loss and
 * *accuracy the fraction of rows whose largest logit is the label (each
 * may be NULL).  m's mode is restored after.  g is reset before each
 * batch.  Errors from g; NB_EINVAL for a NULL m, g, x or y.
 */
nb_status nb_evaluate(nb_module *m, nb_graph *g, const nb_tensor *x,
                      const nb_tensor *y, size_t batch, double *loss,
                      double *accuracy);

#ifdef __cplusplus
}
#endif
#endif
