/*
 * families.c - the op families built into nabla, in registration order
 * (the order of `nabla ops`).  A new family is one line here, one
 * declaration in internal.h, and one file lib/ops/<family>.c holding
 * its ops and the NULL-ended list of them.
 */
#include "internal.h"

const nb__family nb__families[] = {
	{"arith", nb__arith_ops},
	{"reduce", nb__reduce_ops},
	{"shape", nb__shape_ops},
	{"linalg", nb__linalg_ops},
	{"loss", nb__loss_ops},
	{"activation", nb__activation_ops},
	{"norm", nb__norm_ops},
	{"regularize", nb__regularize_ops},
	{"conv", nb__conv_ops},
	{"index", nb__index_ops},         /* indexing (issue 15) */
	{"compare", nb__compare_ops},     /* comparisons (issue 15) */
	/* ---- reductions (issue 15) ---- */
	{"reduce_stats", nb__reduce_stats_ops},
	{"reduce_index", nb__reduce_index_ops},
	/* ---- shape and joining (issue 15) ---- */
	{"view", nb__view_ops},
	{"pad", nb__pad_ops},
	{"join", nb__join_ops},
	{"convplus", nb__convplus_ops}, /* issue 15 */
	{"losses", nb__losses_ops}, /* losses (issue 15) */
	{"attention", nb__attention_ops}, /* attention (issue 18) */
	{"recurrent", nb__recurrent_ops}, /* recurrent cells (issue 18) */
	{"recurrent_seq", nb__recurrent_seq_ops}, /* issue 18 */
	{NULL, NULL},
};
