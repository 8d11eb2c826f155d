/*
 * nabla/tensor.h - n-dimensional float32 / float64 arrays.
 *
 * Ownership.  A tensor is either *persistent* or belongs to a *graph*.
 *  - Persistent tensors come from the nb_tensor_* constructors below.
 *    The caller owns them and frees them with nb_tensor_free().  Model
 *    parameters, inputs kept across steps and running statistics are
 *    persistent.  Their gradient (nb_tensor_grad) is persistent too,
 *    owned by the tensor, and accumulates over backward passes until
 *    nb_tensor_zero_grad().
 *  - Graph tensors are made by ops and by nb_graph_tensor().  The graph
 *    owns them; nb_graph_reset() releases them all at once, and using one
 *    afterwards is an NB_ESTALE error (reliably so for the step right
 *    after the reset).  Never pass one to nb_tensor_free().
 *
 * Data is contiguous and row-major.  Rank is 0 (a scalar) to NB_MAX_DIMS.
 * Constructors return NULL on failure, with the cause in nb_last_error():
 * NB_EINVAL for a NULL shape of rank > 0 (rank 0 needs none), a NULL
 * generator or data, or a NULL t to clone.
 */
#ifndef NABLA_TENSOR_H
#define NABLA_TENSOR_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_tensor nb_tensor;

/* Expands to `ndim, shape` for the constructors: NB_SHAPE(3, 4). */
#define NB_SHAPE(...) \
	(int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
	(const int64_t[]){__VA_ARGS__}

/* How nb_tensor_from_data treats the caller's buffer. */
typedef enum nb_mem {
	NB_COPY = 0,  /* the tensor copies the buffer; the caller keeps it */
	NB_BORROW = 1 /* the tensor uses the buffer, which the caller must keep
	                 alive (and not free) until nb_tensor_free */
} nb_mem;

nb_tensor *nb_tensor_zeros(nb_dtype dt, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_ones(nb_dtype dt, int ndim, const int64_t *shape);
nb_tensor *nb_tensor_full(nb_dtype dt, int ndim, const int64_t *shape,
                          double value);
/* A 1-D tensor start, start + step, ... < stop (> stop when step < 0). */
nb_tensor *nb_tensor_arange(nb_dtype dt, double start, double stop,
                            double step);
/* Normal N(mean, std^2) and uniform [lo, hi) numbers drawn from r. */
nb_tensor *nb_tensor_randn(nb_dtype dt, int ndim, const int64_t *shape,
                           nb_rng *r, double mean, double std);
nb_tensor *nb_tensor_rand(nb_dtype dt, int ndim, const int64_t *shape,
                          nb_rng *r, double lo, double hi);
/* data holds numel elements of dtype dt; see nb_mem for ownership.  bool
 * data is one byte per element, 0 or 1 (any other byte is refused). */
nb_tensor *nb_tensor_from_data(nb_dtype dt, int ndim, const int64_t *shape,
                               void *data, nb_mem mode);
/*
 * A new persistent tensor with t's dtype, shape and values (no gradient,
 * no history).  t may be a graph tensor: this is how a value is kept
 * past nb_graph_reset().
 */
nb_tensor *nb_tensor_clone(const nb_tensor *t);

/*
 * Frees a persistent tensor and its gradient.  NULL is a no-op; a graph
 * tensor is left alone (its graph owns it).
 *
 * The graph does not own the persistent tensors recorded on its tape
 * (parameters, inputs): freeing one while a node of the current step
 * still refers to it (after forward, before nb_graph_reset) leaves that
 * node with a dangling pointer, and a later nb_backward or DOT export
 * of that step reads freed memory (undefined behaviour: a crash, a
 * wrong gradient or a bogus error such as NB_ENOMEM).  nabla does not
 * detect this; free persistent tensors only after the nb_graph_reset()
 * or nb_graph_free() that ends the step (doc/api.md, "Ownership").
 */
void nb_tensor_free(nb_tensor *t);

/*
 * The accessors below accept NULL (a failed constructor, or
 * nb_tensor_grad before the first backward) and then return the value
 * in brackets, without setting nb_last_error():
 *   dtype (-1: not a dtype; nb_dtype_name gives "?", nb_dtype_size 0),
 *   ndim (-1), shape (NULL), dim (-1), numel (0), data and cdata
 *   (NULL), get (NAN), item (NAN); set does nothing.
 */
nb_dtype nb_tensor_dtype(const nb_tensor *t);
int nb_tensor_ndim(const nb_tensor *t);
/* Borrowed: ndim entries, valid while t lives. */
const int64_t *nb_tensor_shape(const nb_tensor *t);
/* Size of dimension i; i < 0 counts from the end.  -1 if out of range. */
int64_t nb_tensor_dim(const nb_tensor *t, int i);
size_t nb_tensor_numel(const nb_tensor *t);
/* The contiguous data: float *, double *, int64_t * or uint8_t * (bool)
 * by dtype. */
void *nb_tensor_data(nb_tensor *t);
const void *nb_tensor_cdata(const nb_tensor *t);
/*
 * Element i of the flattened tensor, converted to double (NAN when i is
 * out of range); set converts v to the tensor's dtype and ignores an i
 * out of range.  Into int64, v is truncated toward zero and clamped to
 * [INT64_MIN, INT64_MAX], and NaN becomes 0 (C leaves such conversions
 * undefined; nabla defines them).
 */
double nb_tensor_get(const nb_tensor *t, size_t i);
void nb_tensor_set(nb_tensor *t, size_t i, double v);
/* The single value of a one-element tensor (NAN otherwise). */
double nb_tensor_item(const nb_tensor *t);
/* Copies src's values into dst (same numel and dtype).  NB_EINVAL if
 * either is NULL. */
nb_status nb_tensor_copy(nb_tensor *dst, const nb_tensor *src);
/* Fills t with v (converted as by nb_tensor_set).  NB_EINVAL for NULL. */
nb_status nb_tensor_fill(nb_tensor *t, double v);

/*
 * Whether backward computes a gradient for t.  Only float tensors can
 * require grad.  For a graph tensor made by an op this is decided by the
 * op (any input requires grad, and grad mode is on) and cannot be set.
 * NB_EINVAL for a NULL t; requires_grad(NULL) is false.
 */
nb_status nb_tensor_set_requires_grad(nb_tensor *t, bool on);
bool nb_tensor_requires_grad(const nb_tensor *t);
/* The gradient, or NULL before the first backward pass reaching t (and
 * for a NULL t).  Borrowed; owned by t. */
nb_tensor *nb_tensor_grad(const nb_tensor *t);
/* Sets t's gradient to zero (keeps the buffer).  No-op without one or
 * for NULL. */
void nb_tensor_zero_grad(nb_tensor *t);

/* An optional name, shown by the DOT exporter and error messages.
 * The string is copied; a NULL name removes the name; a NULL t is
 * NB_EINVAL. */
nb_status nb_tensor_set_name(nb_tensor *t, const char *name);
const char *nb_tensor_name(const nb_tensor *t); /* NULL if none or NULL */

/* True for tensors that belong to a graph (made by an op); false for
 * NULL. */
bool nb_tensor_is_graph(const nb_tensor *t);

/* Formats "[3, 4]" into buf (always NUL-terminated); returns buf.  A
 * NULL shape of rank > 0 is written "(null)"; a NULL buf returns NULL. */
char *nb_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
