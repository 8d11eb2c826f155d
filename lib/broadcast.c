/*
 * broadcast.c - NumPy broadcasting: result shapes, strides, and summing
 * a gradient back to an input's shape.
 */
#include "internal.h"

bool nb__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b,
                         int *nout, int64_t *out)
{
	int n = na > nb ? na : nb;
	for (int i = 0; i < n; i++) {
		int ia = na - n + i, ib = nb - n + i;
		int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return false;
		out[i] = da == 1 ? db : da;
	}
	*nout = n;
	return true;
}

void nb__broadcast_strides(int n, const int64_t *s, int nout,
                           const int64_t *out, int64_t *strides)
{
	int64_t st = 1;
	for (int i = nout - 1; i >= 0; i--) {
		int k = n - nout + i;
		if (k < 0 || s[k] == 1) {
			strides[i] = 0;
		} else {
			strides[i] = st;
		}
		if (k >= 0)
			st *= s[k];
		(void)out;
	}
}

/*
 * The trailing dims of an nd-dim shape that a stride vector st
 * broadcasts (stride 0), merged: returns the first of them, p, and sets
 * *inner to the product of dims p .. nd - 1 (1 when there are none).
 * Summing to (or adding from) such a shape then works on contiguous
 * runs of *inner elements.
 */
static int trailing_broadcast(int nd, const int64_t *dims,
                              const int64_t *st, size_t *inner)
{
	int p = nd;
	*inner = 1;
	while (p > 0 && st[p - 1] == 0)
		*inner *= (size_t)dims[--p];
	return p;
}

/*
 * Sum of a run of n in 8 lanes of T, over blocks of 32 elements per lane
 * added to double lanes, combined in a fixed order: the lanes vectorize,
 * and the rounding is that of at most 32 adds in T per lane and block.
 */
#define SUM_RUN(T)                                                          \
	static T sum_run_##T(const T *g, size_t n)                          \
	{                                                                   \
		double a[8] = {0}, t = 0;                                   \
		size_t i = 0, full = n - n % 8;                             \
		while (i < full) {                                          \
			T f[8] = {0};                                       \
			size_t e = full - i > 256 ? i + 256 : full;         \
			for (; i < e; i += 8)                               \
				for (int j = 0; j < 8; j++)                 \
					f[j] += g[i + j];                   \
			for (int j = 0; j < 8; j++)                         \
				a[j] += f[j];                               \
		}                                                           \
		for (; i < n; i++)                                          \
			a[0] += g[i];                                       \
		for (int j = 0; j < 8; j++)                                 \
			t += a[j];                                          \
		return (T)t;                                                \
	}
SUM_RUN(float)
SUM_RUN(double)

/* acc += g summed over the dims where acc's strides st are 0: the
 * trailing ones as runs (sum_run), the others by adding rows. */
#define SUM_TO(T)                                                           \
	static void sum_to_##T(const T *g, int nd, const int64_t *gs,       \
	                       T *acc, const int64_t *st)                  \
	{                                                                   \
		int64_t idx[NB_MAX_DIMS] = {0};                             \
		size_t n = nb__numel(nd, gs), inner;                        \
		int p = trailing_broadcast(nd, gs, st, &inner);             \
		int64_t off = 0;                                            \
		if (p == nd && nd) /* the last dim is kept: rows */         \
			inner = (size_t)gs[--p];                            \
		for (size_t i = 0; i < n; i += inner) {                     \
			if (p == nd - 1 && st[p] != 0) {                    \
				for (size_t j = 0; j < inner; j++)          \
					acc[off + (int64_t)j] += g[i + j];  \
			} else {                                            \
				acc[off] += sum_run_##T(g + i, inner);      \
			}                                                   \
			for (int d = p - 1; d >= 0; d--) {                  \
				off += st[d];                               \
				if (++idx[d] < gs[d])                       \
					break;                              \
				off -= st[d] * gs[d];                       \
				idx[d] = 0;                                 \
			}                                                   \
		}                                                           \
	}
SUM_TO(float)
SUM_TO(double)

void nb__sum_to_shape(nb_dtype dt, const void *g, int gndim,
                      const int64_t *gshape, void *acc, int andim,
                      const int64_t *ashape)
{
	int64_t st[NB_MAX_DIMS];
	nb__broadcast_strides(andim, ashape, gndim, gshape, st);
	if (nb__numel(gndim, gshape) == 0)
		return;
	if (dt == NB_F32)
		sum_to_float(g, gndim, gshape, acc, st);
	else
		sum_to_double(g, gndim, gshape, acc, st);
}

/* d += s broadcast with strides st: runs of the trailing broadcast dims
 * add one value, the others add rows. */
#define BCAST_ADD(T)                                                        \
	static void bcast_add_##T(const T *s, int nd, const int64_t *ds,    \
	                          T *d, const int64_t *st)                 \
	{                                                                   \
		int64_t idx[NB_MAX_DIMS] = {0};                             \
		size_t n = nb__numel(nd, ds), inner;                        \
		int p = trailing_broadcast(nd, ds, st, &inner);             \
		int64_t off = 0;                                            \
		if (p == nd && nd) /* last dim not broadcast: rows */       \
			inner = (size_t)ds[--p];                            \
		for (size_t i = 0; i < n; i += inner) {                     \
			if (p == nd - 1 && st[p] != 0) {                    \
				for (size_t j = 0; j < inner; j++)          \
					d[i + j] += s[off + (int64_t)j];    \
			} else {                                            \
				T v = s[off];                               \
				for (size_t j = 0; j < inner; j++)          \
					d[i + j] += v;                      \
			}                                                   \
			for (int k = p - 1; k >= 0; k--) {                  \
				off += st[k];                               \
				if (++idx[k] < ds[k])                       \
					break;                              \
				off -= st[k] * ds[k];                       \
				idx[k] = 0;                                 \
			}                                                   \
		}                                                           \
	}
BCAST_ADD(float)
BCAST_ADD(double)

void nb__broadcast_add(nb_dtype dt, const void *src, int sndim,
                       const int64_t *sshape, void *dst, int dndim,
                       const int64_t *dshape)
{
	int64_t st[NB_MAX_DIMS];
	nb__broadcast_strides(sndim, sshape, dndim, dshape, st);
	if (nb__numel(dndim, dshape) == 0)
		return;
	if (dt == NB_F32)
		bcast_add_float(src, dndim, dshape, dst, st);
	else
		bcast_add_double(src, dndim, dshape, dst, st);
}
