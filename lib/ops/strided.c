/*
 * strided.c - the copy through a strided view that every shape op's
 * forward is, and its adjoint (a scatter-add) that is their backward.
 * Bytes are moved by element size (through memcpy, so a float is never
 * read as an integer), so one kernel serves every dtype.
 */
#include "strided.h"

/* Drops axes of size 1 and merges an axis into the next when they are
 * contiguous in the source; an empty view keeps a 0 axis. */
static void simplify(const nb__view *v, nb__view *s)
{
	s->nd = 0;
	s->off = v->off;
	for (int k = 0; k < v->nd; k++) {
		if (v->shape[k] == 1)
			continue;
		if (s->nd && s->st[s->nd - 1] == v->st[k] * v->shape[k]) {
			s->shape[s->nd - 1] *= v->shape[k];
			s->st[s->nd - 1] = v->st[k];
			continue;
		}
		s->shape[s->nd] = v->shape[k];
		s->st[s->nd++] = v->st[k];
	}
}

/*
 * Runs BODY for each row of the view: o is the source offset of the
 * row's first element, n its length, s its stride, base the flat index
 * of its first element.
 */
#define ROWS(V, BODY)                                                        \
	do {                                                                 \
		int64_t idx_[NB_VIEW_DIMS] = {0};                            \
		int nd_ = (V)->nd;                                           \
		int64_t n = nd_ ? (V)->shape[nd_ - 1] : 1;                   \
		int64_t s = nd_ ? (V)->st[nd_ - 1] : 0;                      \
		size_t total_ = 1, base = 0;                                 \
		for (int k_ = 0; k_ < nd_; k_++)                             \
			total_ *= (size_t)(V)->shape[k_];                    \
		int64_t o = (V)->off;                                        \
		for (; base < total_; base += (size_t)n) {                   \
			BODY;                                                \
			for (int k_ = nd_ - 2; k_ >= 0; k_--) {              \
				o += (V)->st[k_];                            \
				if (++idx_[k_] < (V)->shape[k_])             \
					break;                               \
				o -= (V)->st[k_] * (V)->shape[k_];           \
				idx_[k_] = 0;                                \
			}                                                    \
		}                                                            \
	} while (0)

#define GATHER(T)                                                            \
	static void gather_##T(const nb__view *v, const T *src, T *dst)      \
	{                                                                    \
		ROWS(v, {                                                    \
			if (s == 1)                                          \
				memcpy(dst + base, src + o,                  \
				       (size_t)n * sizeof(T));               \
			else                                                 \
				for (int64_t j = 0; j < n; j++)              \
					memcpy(dst + base + (size_t)j,       \
					       src + o + j * s, sizeof(T));  \
		});                                                          \
	}
GATHER(uint8_t)
GATHER(uint32_t)
GATHER(uint64_t)

void nb__view_gather(const nb__view *v, size_t es, const void *src,
                     void *dst)
{
	nb__view s;
	simplify(v, &s);
	if (es == 1)
		gather_uint8_t(&s, src, dst);
	else if (es == 4)
		gather_uint32_t(&s, src, dst);
	else
		gather_uint64_t(&s, src, dst);
}

#define SCATTER(T)                                                           \
	static void scatter_##T(const nb__view *v, const T *src, T *dst)     \
	{                                                                    \
		ROWS(v, {                                                    \
			for (int64_t j = 0; j < n; j++)                      \
				dst[o + j * s] += src[base + (size_t)j];     \
		});                                                          \
	}
SCATTER(float)
SCATTER(double)

void nb__view_scatter_add(const nb__view *v, nb_dtype dt, const void *src,
                          void *dst)
{
	nb__view s;
	simplify(v, &s);
	if (dt == NB_F32)
		scatter_float(&s, src, dst);
	else
		scatter_double(&s, src, dst);
}
