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

#define SUM_TO(T)                                                           \
	static void sum_to_##T(const T *g, int nd, const int64_t *gs,       \
	                       T *acc, const int64_t *st)                  \
	{                                                                   \
		int64_t idx[NB_MAX_DIMS] = {0};                             \
		size_t n = nb__numel(nd, gs);                               \
		int64_t off = 0;                                            \
		int64_t inner = nd ? gs[nd - 1] : 1;                        \
		int64_t ist = nd ? st[nd - 1] : 0;                          \
		for (size_t i = 0; i < n; i += (size_t)inner) {             \
			if (ist == 0) {                                     \
				T s = 0;                                    \
				for (int64_t j = 0; j < inner; j++)         \
					s += g[i + (size_t)j];              \
				acc[off] += s;                              \
			} else {                                            \
				for (int64_t j = 0; j < inner; j++)         \
					acc[off + j] += g[i + (size_t)j];   \
			}                                                   \
			for (int d = nd - 2; d >= 0; d--) {                 \
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

#define BCAST_ADD(T)                                                        \
	static void bcast_add_##T(const T *s, int nd, const int64_t *ds,    \
	                          T *d, const int64_t *st)                 \
	{                                                                   \
		int64_t idx[NB_MAX_DIMS] = {0};                             \
		size_t n = nb__numel(nd, ds);                               \
		int64_t off = 0;                                            \
		int64_t inner = nd ? ds[nd - 1] : 1;                        \
		int64_t ist = nd ? st[nd - 1] : 0;                          \
		for (size_t i = 0; i < n; i += (size_t)inner) {             \
			if (ist == 0) {                                     \
				T v = s[off];                               \
				for (int64_t j = 0; j < inner; j++)         \
					d[i + (size_t)j] += v;              \
			} else {                                            \
				for (int64_t j = 0; j < inner; j++)         \
					d[i + (size_t)j] += s[off + j];     \
			}                                                   \
			for (int k = nd - 2; k >= 0; k--) {                 \
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
