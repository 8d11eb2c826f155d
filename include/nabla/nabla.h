/*
 * nabla/nabla.h - the public interface of nabla, a define-by-run graph
 * with reverse-mode automatic differentiation for neural networks in C.
 *
 * This umbrella header includes every public header.  What is not
 * declared under include/nabla/ is private and may change without notice.
 *
 * Conventions, everywhere:
 *  - Public names start with nb_ / NB_.
 *  - Errors are values: fallible calls return nb_status, or NULL with the
 *    cause in nb_last_error() (constructors) or in the graph's sticky
 *    error (ops).  Nothing aborts and nothing is printed.
 *  - Each function says who owns what it returns; "borrowed" results
 *    belong to their argument and must not be freed.
 *  - NULL is accepted for every pointer argument of every function.
 *    Where a header does not say that NULL means something ("NULL: the
 *    defaults", an optional input), it is an error with this result:
 *      a call returning nb_status          NB_EINVAL, message in
 *                                          nb_last_error()
 *      a constructor, or a call that makes NULL, NB_EINVAL in
 *      something                           nb_last_error()
 *      an op or anything recording on g    NULL, NB_EINVAL kept on g
 *                                          (a NULL input while g holds
 *                                          an error keeps that error)
 *      an accessor or a lookup (a count,   0, -1, false, NULL, "" or
 *      a size, a flag, a name, a borrowed  NAN, as its header says;
 *      pointer)                            nb_last_error() untouched
 *      a destructor or a setter            nothing
 *    Accessors leave nb_last_error() alone on purpose: a NULL object is
 *    most often a constructor that failed (out of memory), and its cause
 *    must still be there when the caller reads it.  tests/test_null.c
 *    calls every function with each pointer argument NULL.
 */
#ifndef NABLA_NABLA_H
#define NABLA_NABLA_H

/* The engine (lib/): status codes, tensors, the graph, op descriptors. */
#include "core.h"
#include "tensor.h"
#include "graph.h"
#include "op.h"

/* The ops (lib/ops/): one header per family of typed wrappers. */
#include "ops.h"
#include "activation.h"
#include "norm.h"
#include "conv.h"
#include "regularize.h"
#include "index.h"
#include "reduce.h"
#include "loss.h"

/* Models (lib/nn/): modules, specs, initializers, optimizers. */
#include "model.h"
#include "init.h"
#include "optim.h"

/* Files (lib/io/): checkpoints and data sets. */
#include "checkpoint.h"
#include "data.h"

/* The graph drawn (lib/dot/) and checked (lib/check/). */
#include "dot.h"
#include "gradcheck.h"
#include "plugin.h"
#include "shape.h"

/* Data-parallel training on MPI (lib/dist/; MPI optional at build). */
#include "dist.h"
/* attention and transformer layers (issue 18) */
#include "attention.h"

/* Character models: text corpus, windows, sampling. */
#include "text.h"
/* Your own data: .npy, .npz (libzip optional), CSV (issue 16). */
#include "arrays.h"

/* Recurrent cells and layers (issue 18). */
#include "recurrent.h"

#endif
