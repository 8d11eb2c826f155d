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
 */
#ifndef NABLA_NABLA_H
#define NABLA_NABLA_H

#include "core.h"
#include "tensor.h"
#include "graph.h"
#include "op.h"
#include "ops.h"
#include "activation.h"
#include "norm.h"
#include "conv.h"
#include "gradcheck.h"
#include "regularize.h"
#include "optim.h"
#include "init.h"
#include "model.h"
#include "checkpoint.h"
#include "data.h"
#include "dot.h"

#endif
