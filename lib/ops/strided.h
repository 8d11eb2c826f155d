/*
 * strided.h - moving elements of any dtype through a strided view of a
 * contiguous tensor (the shape ops: nabla has no views, so each result
 * is a copy made through one of these).  Private.
 */
#ifndef NB_OPS_STRIDED_H
#define NB_OPS_STRIDED_H

#include "internal.h"

/* Largest rank of a view (repeat splits each axis in two). */
#define NB_VIEW_DIMS (2 * NB_MAX_DIMS)

/*
 * A view of a source tensor: element (i_0 .. i_{nd-1}) of the view, in
 * row-major order, is src[off + sum_k i_k * st[k]].  Strides may be 0
 * (expand, repeat) or negative (flip).
 */
typedef struct nb__view {
	int nd;
	int64_t shape[NB_VIEW_DIMS];
	int64_t st[NB_VIEW_DIMS];
	int64_t off;
} nb__view;

/* dst[i] = the view's i-th element, for every element of the view;
 * es is the element size in bytes (1, 4 or 8: any dtype). */
void nb__view_gather(const nb__view *v, size_t es, const void *src,
                     void *dst);
/* The adjoint, float32 or float64: the view's i-th element of dst +=
 * src[i] (elements seen twice, through a 0 stride, add twice). */
void nb__view_scatter_add(const nb__view *v, nb_dtype dt, const void *src,
                          void *dst);

#endif
