/*
 * reduce_rows.h - what the reduction families share (lib/ops/reduce.c,
 * reduce_stats.c, reduce_index.c).  Private.
 *
 * A reduction sees its input as rows: one row per result element, the
 * elements of a row being those reduced into it, in row-major order of
 * the reduced axes (the order PyTorch's flattening gives them, so a
 * "first index" is PyTorch's).  nb__rows_pack copies a tensor into that
 * layout, [rows, len] contiguous; kernels then run over contiguous rows
 * whatever the axes, and nb__rows_add adds rows back into a tensor of
 * the input's layout (a gradient).
 */
#ifndef NB_OPS_REDUCE_ROWS_H
#define NB_OPS_REDUCE_ROWS_H

#include "elementwise.h"

/*
 * Marks in red[0 .. NB_MAX_DIMS-1] the axes of input 0 that axes lists
 * (all of them when axes->n == 0); false, with the error recorded
 * naming the axis, for an axis out of range or repeated.
 */
bool nb__reduce_axes(nb_op_ctx *c, const nb_ints *axes, bool *red);
/* The result shape of reducing input 0 over axes (keepdim: reduced axes
 * kept with size 1) into res; NB_EINVAL as nb__reduce_axes. */
nb_status nb__reduce_shape(nb_op_ctx *c, const nb_ints *axes, bool keepdim,
                           nb_result_def *res);

/* The rows of a tensor of shape (nd, shape) reduced over red[]. */
typedef struct nb__rows {
	int nd;
	int64_t shape[NB_MAX_DIMS];
	int64_t rst[NB_MAX_DIMS]; /* element -> row (0 on reduced axes) */
	int64_t pst[NB_MAX_DIMS]; /* element -> place in its row */
	size_t n_rows, len;
} nb__rows;

void nb__rows_init(nb__rows *r, int nd, const int64_t *shape,
                   const bool *red);
/* rows[row * len + place] = src[element]; elements of esz bytes (1, 4 or
 * 8). */
void nb__rows_pack(const nb__rows *r, size_t esz, const void *src,
                   void *rows);
/* dst[element] = rows[row * len + place], the inverse of pack. */
void nb__rows_unpack(const nb__rows *r, size_t esz, const void *rows,
                     void *dst);
/* dst[element] += rows[row * len + place] in float dtype dt. */
void nb__rows_add(const nb__rows *r, nb_dtype dt, const void *rows,
                  void *dst);
/*
 * Input 0 of c packed into rows (a scratch tensor of its dtype, freed
 * with the graph); NULL on NB_ENOMEM (recorded).
 */
void *nb__rows_of(nb_op_ctx *c, const nb__rows *r, const nb_tensor *x);

#endif
