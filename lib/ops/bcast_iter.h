/*
 * bcast_iter.h - walking a broadcast result element by element with the
 * offsets of up to three inputs (compare.c, index.c: where, masked_fill,
 * the comparisons).  Header-only, for the op families.
 */
#ifndef NB_BCAST_ITER_H
#define NB_BCAST_ITER_H

#include "internal.h"

typedef struct nb__bc {
	int nd, n;                          /* result rank, inputs */
	const int64_t *shape;               /* the result's shape */
	int64_t idx[NB_MAX_DIMS];
	int64_t st[3][NB_MAX_DIMS];         /* 0 on broadcast axes */
	int64_t off[3];                     /* current element of each */
} nb__bc;

/* Starts a walk of the result r over inputs x[0 .. n-1] (n <= 3), each
 * broadcastable to r's shape (the shape rule checked it). */
static inline void nb__bc_init(nb__bc *b, const nb_tensor *r, int n,
                               const nb_tensor *const *x)
{
	b->nd = r->ndim;
	b->n = n;
	b->shape = r->shape;
	memset(b->idx, 0, sizeof b->idx);
	for (int k = 0; k < n; k++) {
		nb__broadcast_strides(x[k]->ndim, x[k]->shape, r->ndim,
		                      r->shape, b->st[k]);
		b->off[k] = 0;
	}
}

/* Moves to the next element of the result (row-major). */
static inline void nb__bc_next(nb__bc *b)
{
	for (int d = b->nd - 1; d >= 0; d--) {
		for (int k = 0; k < b->n; k++)
			b->off[k] += b->st[k][d];
		if (++b->idx[d] < b->shape[d])
			return;
		for (int k = 0; k < b->n; k++)
			b->off[k] -= b->st[k][d] * b->shape[d];
		b->idx[d] = 0;
	}
}

/* Whether a and b have the same shape (no broadcasting needed). */
static inline bool nb__same_shape(const nb_tensor *a, const nb_tensor *b)
{
	return a->ndim == b->ndim &&
	       !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape);
}

#endif
