/*
 * recipe.h - the reader of an op's gradcheck recipe (nb_op_test.cases, see
 * nabla/op.h): "[3,4] [4]p; [4,5] [4]i5|axis=1" is two cases, each the
 * shapes and flags of the inputs and an attribute string.  Private:
 * lib/gradcheck.c builds its checks from it, and the edge-case and
 * allocation-failure tests (which compile this file in) every op's
 * inputs.
 */
#ifndef NB_RECIPE_H
#define NB_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nabla/nabla.h"

/* One input of a case: "[3,4]" then flags p (positive values), c
 * (constant: no gradient), - (absent optional input), iK (int64 class
 * indices in [0, K)), b (a bool mask). */
typedef struct nb_recipe_input {
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	int64_t classes; /* > 0: int64 class indices in [0, classes) */
	bool positive, absent, constant, mask;
} nb_recipe_input;

typedef struct nb_recipe_case {
	int n_in;
	nb_recipe_input in[NB_MAX_INPUTS];
	char attrs[96]; /* after '|', for nb_attrs_parse */
} nb_recipe_case;

/* Parses the case of length len at s; false if it is malformed. */
bool nb__recipe_parse_case(const char *s, size_t len, nb_recipe_case *c);

/* Calls fn on each ';'-separated case of cases in order, with its index
 * and text; a case that does not parse gets c == NULL.  Stops early
 * when fn returns nonzero, and returns that value (else 0). */
typedef int (*nb_recipe_fn)(const nb_recipe_case *c, int index,
                            const char *text, size_t len, void *ud);
int nb__recipe_each(const char *cases, nb_recipe_fn fn, void *ud);

#endif
