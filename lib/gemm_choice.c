/*
 * gemm_choice.c - reads NB_GEMM, the user's choice of library for
 * float32 matrix products: blas.c's route and the recurrent steps'
 * packed kernel (lib/ops/packed_gemm.c) both follow it, so one parse
 * decides for both.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

nb__gemm_lib nb__gemm_choice(void)
{
	const char *s = getenv("NB_GEMM");
	if (!s || !*s)
		return NB__GEMM_AUTO;
	if (!strcmp(s, "onednn"))
		return NB__GEMM_ONEDNN;
	if (!strcmp(s, "openblas") || !strcmp(s, "blas"))
		return NB__GEMM_OPENBLAS;
	return NB__GEMM_AUTO; /* "auto", or a name it does not know */
}
