/*
 * nabla/graph.h - the define-by-run graph (tape) and reverse-mode autodiff.
 *
 * Every op computes its result at once and, while grad mode is on,
 * records a node on the graph's tape: the op, its inputs, a copy of its
 * attributes and whatever it saved for backward.  nb_backward() walks the
 * tape in reverse creation order (a topological order) from a tensor.
 *
 * Errors are sticky, after cairo: an op that fails, or is given NULL,
 * returns NULL and the graph keeps its *first* error (while it holds
 * one, a NULL optional input counts as a failed input too), so
 *     nb_tensor *y = nb_relu(g, nb_linear(g, x, w, b));
 *     if (!y) fprintf(stderr, "%s\n", nb_graph_errmsg(g));
 * is checked once at the end.  The library never prints.
 *
 * Memory: a graph's tensors, nodes and saved state, and its ops' scratch
 * (convolution columns, oneDNN's buffers), come from arenas that
 * nb_graph_reset() rewinds, so a training loop of forward / backward /
 * reset steps runs in constant memory with no malloc per op once warm.
 *
 * A graph is used by one thread at a time; separate graphs may be used
 * by separate threads concurrently.
 */
#ifndef NABLA_GRAPH_H
#define NABLA_GRAPH_H

#include <stdio.h>
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_graph nb_graph;

/* A new empty graph in training mode with grad on, seeded with 0.
 * NULL on NB_ENOMEM.  Free with nb_graph_free. */
nb_graph *nb_graph_new(void);
/* Frees the graph and every graph tensor it owns.  NULL is a no-op. */
void nb_graph_free(nb_graph *g);
/*
 * Releases every tensor, node and gradient of the graph (their memory is
 * kept for the next step), and clears the sticky error.  Persistent
 * tensors, their gradients, the mode and the generator are kept.
 */
void nb_graph_reset(nb_graph *g);

/*
 * The first error since the last reset (NB_OK if none), and its message
 * (borrowed, "" if none).
 * A NULL graph reads as failed: status NB_EINVAL, message "graph is
 * NULL".  NULL is most often nb_graph_new() out of memory; the graph
 * cannot know that, so the status is not NB_ENOMEM, and neither call
 * touches nb_last_error(), which still holds nb_graph_new's cause.
 * So `if (nb_graph_status(g))` after a chain of ops also catches a
 * graph that was never made.
 */
nb_status nb_graph_status(const nb_graph *g);
const char *nb_graph_errmsg(const nb_graph *g);
void nb_graph_clear_error(nb_graph *g);
/*
 * Records an error of a user's module or op on g, as nabla's ops do:
 * the graph keeps its first error (a later one only sets
 * nb_last_error()).  code NB_OK or a NULL fmt is taken as NB_EINVAL
 * with a message saying so.  Returns code.  A NULL g sets
 * nb_last_error() only.
 */
nb_status nb_graph_fail(nb_graph *g, nb_status code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;

/*
 * NULL g, for the calls below up to nb_graph_rng: setters do nothing;
 * nb_graph_training, nb_graph_grad_enabled and nb_graph_set_grad_enabled
 * return false; nb_graph_rng returns NULL.  nb_last_error() untouched.
 */

/* Training (default) or evaluation mode: read by dropout, rrelu and the
 * normalizations. */
void nb_graph_set_training(nb_graph *g, bool training);
bool nb_graph_training(const nb_graph *g);

/*
 * Grad mode.  While off, ops record nothing and their results do not
 * require grad (a no-grad region).  Returns the previous setting, so that
 *     bool was = nb_graph_set_grad_enabled(g, false); ...;
 *     nb_graph_set_grad_enabled(g, was);
 * nests.
 */
bool nb_graph_set_grad_enabled(nb_graph *g, bool on);
bool nb_graph_grad_enabled(const nb_graph *g);

/*
 * Anomaly mode, like PyTorch's detect_anomaly: when on, the first op
 * whose forward result or backward gradient holds a NaN or an infinity
 * it made fails with NB_ENONFINITE and a message naming the op, its node
 * and its input shapes.  "Made": its float inputs (and, in backward,
 * its results and incoming gradients) were all finite, and the op is not
 * flagged NB_OP_EMITS_NONFINITE (masked_fill): a -inf mask and what is
 * computed from it are not reported (doc/guarantees.md).
 */
void nb_graph_set_anomaly(nb_graph *g, bool on);

/*
 * Whether nb_backward keeps the gradients of intermediate tensors (the
 * results of ops) readable with nb_tensor_grad until the next backward
 * or reset.  On by default (the DOT exporter's health view reads them).
 * Off, as in PyTorch (retain_grad), each intermediate gradient's memory
 * is reused as soon as its op's backward has consumed it, so a step's
 * peak memory holds about one layer's gradients instead of all of them;
 * nb_tensor_grad of an intermediate then returns NULL after backward.
 * Gradients of leaves (parameters, inputs) are always kept.
 */
void nb_graph_set_retain_grads(nb_graph *g, bool on);

/*
 * The graph's generator, used by random ops (dropout, alpha_dropout,
 * rrelu); nb_graph_reset leaves it alone.  nb_graph_rng returns it for
 * reading and writing.  An nb_rng is a value: copy *nb_graph_rng(g)
 * before a step and assign the copy back to draw the same numbers
 * again, e.g. to retry a step that failed for memory (doc/guarantees.md,
 * "Retrying a step").
 */
void nb_graph_seed(nb_graph *g, uint64_t seed);
nb_rng *nb_graph_rng(nb_graph *g);

/*
 * Scopes name the module an op belongs to, for the DOT exporter's
 * clusters and for error messages: push "fc1" inside "block1" and the
 * nodes recorded until the matching pop are in scope "block1.fc1".
 * Scopes are cleared by reset.  push copies name; NB_ENOMEM, or
 * NB_EINVAL past 16 levels, and either failure is kept on the graph
 * like a failed op's (nb_graph_status; nb_backward refuses until
 * reset), since the scopes no longer match the caller's pushes and
 * pops.  A NULL name or graph is NB_EINVAL in nb_last_error() only.
 * pop at top level (or of a NULL graph) is a no-op.
 */
nb_status nb_graph_scope_push(nb_graph *g, const char *name);
void nb_graph_scope_pop(nb_graph *g);
/* The current scope path ("" at top level or for NULL); borrowed. */
const char *nb_graph_scope(const nb_graph *g);

/* A zero-filled graph tensor (freed by reset), e.g. for a batch.  A
 * NULL g is NB_EINVAL in nb_last_error(); a NULL shape of rank > 0 (or
 * NULL data) is NB_EINVAL recorded on g. */
nb_tensor *nb_graph_tensor(nb_graph *g, nb_dtype dt, int ndim,
                           const int64_t *shape);
/* A graph tensor holding a copy of data. */
nb_tensor *nb_graph_from_data(nb_graph *g, nb_dtype dt, int ndim,
                              const int64_t *shape, const void *data);

/*
 * Reverse mode from y.  grad_out is dL/dy with y's shape and dtype, or
 * NULL when y has one element (then dL/dy = 1).  Gradients are
 * *accumulated* (+=) into every tensor that requires grad and lies on a
 * path to y; a tensor used several times receives the sum.  Persistent
 * tensors keep accumulating across calls until nb_tensor_zero_grad;
 * gradients of intermediate graph tensors are recomputed at each call
 * and released by reset.  May be called several times per step.
 * Errors: NB_ESTATE (y does not require grad, or is not a graph tensor),
 * NB_ESHAPE (no grad_out for a non-scalar, or a mismatched one), NB_ESTALE,
 * NB_ENOMEM, NB_ENONFINITE (anomaly mode).  Also recorded on the graph.
 * A NULL y is NB_EINVAL (in nb_last_error() only: there is no graph).
 */
nb_status nb_backward(nb_tensor *y, const nb_tensor *grad_out);

/* Number of nodes on the tape, and bytes the graph holds from the
 * allocator (arenas included): for tests and the DOT exporter.  0 for
 * a NULL graph (also nb_graph_bytes_used). */
size_t nb_graph_node_count(const nb_graph *g);
size_t nb_graph_bytes(const nb_graph *g);
/* Bytes of tensor data, saved state and gradients handed out since the
 * last reset (the step's working set, <= what nb_graph_bytes holds). */
size_t nb_graph_bytes_used(const nb_graph *g);

#ifdef __cplusplus
}
#endif
#endif
