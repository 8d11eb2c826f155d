/*
 * nabla/gradcheck.h - numerical gradient checking of registered ops.
 *
 * For each case of an op's recipe (nb_op.cases) and each input that can
 * take a gradient, the analytic Jacobian (one backward pass per output
 * element, with a one-hot output gradient) is compared with central
 * finite differences, all in float64:
 *     |analytic - numeric| <= atol + rtol * |numeric|   (elementwise)
 * as PyTorch's gradcheck does (defaults eps 1e-6, atol 1e-5, rtol 1e-3).
 * Backward is also run twice and must give bit-identical results.  Ops
 * flagged NB_OP_RANDOM are re-seeded before every evaluation so they see
 * the same noise.  Gradient-modifying ops (NB_OP_GRAD_MODIFYING) are
 * checked against their documented rule by their own test suite, and
 * reported here as "rule" without a finite-difference comparison.
 */
#ifndef NABLA_GRADCHECK_H
#define NABLA_GRADCHECK_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_gradcheck_opts {
	double eps, atol, rtol;
	uint64_t seed;
	bool training; /* graph mode for the check (default true) */
} nb_gradcheck_opts;

/* PyTorch's defaults, seed 0, training mode. */
nb_gradcheck_opts nb_gradcheck_defaults(void);

typedef struct nb_gradcheck_result {
	const nb_op *op;
	int input;           /* which input, -1 when the case failed to run */
	const char *input_name;
	nb_dtype dtype;      /* always NB_F64 */
	char shape[96];      /* the input's shape, "[3, 4]" */
	char attrs[96];      /* the case's attribute string */
	double max_abs_err;
	double max_rel_err;
	bool pass;
	bool rule_only;      /* gradient-modifying: not compared */
	char message[256];   /* why it failed, or "" */
	int case_index;      /* which case of op->cases, from 0 */
	/* The case's graph: the op applied to the case's inputs (named
	 * after the op's inputs), e.g. for nb_graph_write_dot.  Borrowed,
	 * valid during the callback only; NULL if it could not be made. */
	const nb_graph *graph;
} nb_gradcheck_result;

typedef void (*nb_gradcheck_cb)(const nb_gradcheck_result *r, void *ud);

/*
 * Checks every case of op, calling cb once per (case, input).  Returns
 * NB_OK when the checks could run (whatever they found), or the error
 * that stopped them (malformed recipe, ENOMEM).  The failures are *added*
 * to *n_failed (set it to 0 first), so one counter can span many ops.
 * o NULL: the defaults; cb NULL: no callback; n_failed NULL: not
 * counted; a NULL op is NB_EINVAL.
 */
nb_status nb_gradcheck_op(const nb_op *op, const nb_gradcheck_opts *o,
                          nb_gradcheck_cb cb, void *ud, int *n_failed);

#ifdef __cplusplus
}
#endif
#endif
