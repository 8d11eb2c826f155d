/*
 * recurrent_kernels.h - the elementwise kernels of the recurrent cells,
 * for float and double, shared by the one-step ops (recurrent.c) and
 * the whole-sequence ops (recurrent_seq.c).  Private.  The formulas are
 * in recurrent.c's head comment.
 */
#ifndef NB_RECURRENT_KERNELS_H
#define NB_RECURRENT_KERNELS_H

#include "vecmath.h"
#include "../internal.h"

#define CELL_KERNELS(T, EXP, TANH)                                           \
	static inline T sig_##T(T v)                                         \
	{                                                                    \
		return 1 / (1 + EXP(-v));                                    \
	}                                                                    \
	/* rows of y = b, or y = a + b (a may be NULL, b may be NULL) */     \
	NB_VEC_CLONES                                                        \
	static void rows_init_##T(T *y, size_t ldy, const T *a, size_t lda,  \
	                          const T *b, const T *b2, size_t rows,      \
	                          size_t n)                                  \
	{                                                                    \
		for (size_t r = 0; r < rows; r++) {                          \
			T *yr = y + r * ldy;                                 \
			const T *ar = a ? a + r * lda : NULL;                \
			for (size_t j = 0; j < n; j++)                       \
				yr[j] = (ar ? ar[j] : 0) + (b ? b[j] : 0) +  \
				        (b2 ? b2[j] : 0);                    \
		}                                                            \
	}                                                                    \
	/* RNN: p holds the pre-activations, becomes h' */                   \
	NB_VEC_CLONES                                                        \
	static void rnn_fwd_##T(const T *p, T *y, size_t n, bool relu)       \
	{                                                                    \
		if (relu)                                                    \
			for (size_t i = 0; i < n; i++)                       \
				y[i] = p[i] > 0 ? p[i] : (p[i] != p[i] ? p[i] : 0); \
		else                                                         \
			for (size_t i = 0; i < n; i++)                       \
				y[i] = TANH(p[i]);                           \
	}                                                                    \
	NB_VEC_CLONES                                                        \
	static void rnn_bwd_##T(const T *y, const T *g, T *d, size_t n,      \
	                        bool relu)                                   \
	{                                                                    \
		if (relu) /* PyTorch's threshold_backward: a NaN state \
		             passes the gradient */                          \
			for (size_t i = 0; i < n; i++)                       \
				d[i] = y[i] <= 0 ? 0 : g[i];                 \
		else                                                         \
			for (size_t i = 0; i < n; i++)                       \
				d[i] = g[i] * (1 - y[i] * y[i]);             \
	}                                                                    \
	/* LSTM: s [B, 4H] pre-activations become (i, f, g, o); tc [B, H] */ \
	NB_VEC_CLONES                                                        \
	static void lstm_fwd_##T(T *restrict s, const T *restrict c,         \
	                         T *restrict hn, T *restrict cn,             \
	                         T *restrict tc, size_t B, size_t H)         \
	{                                                                    \
		for (size_t b = 0; b < B; b++) {                             \
			T *si = s + b * 4 * H, *sf = si + H, *sg = sf + H;   \
			T *so = sg + H;                                      \
			const T *cr = c + b * H;                             \
			T *hr = hn + b * H, *cnr = cn + b * H;               \
			T *tr = tc + b * H;                                  \
			for (size_t j = 0; j < H; j++) {                     \
				T i = sig_##T(si[j]), f = sig_##T(sf[j]);    \
				T g = TANH(sg[j]), o = sig_##T(so[j]);       \
				T cc = f * cr[j] + i * g;                    \
				T t = TANH(cc);                              \
				si[j] = i;                                   \
				sf[j] = f;                                   \
				sg[j] = g;                                   \
				so[j] = o;                                   \
				cnr[j] = cc;                                 \
				tr[j] = t;                                   \
				hr[j] = o * t;                               \
			}                                                    \
		}                                                            \
	}                                                                    \
	/* d [B, 4H] = pre-activation gradients; dc_prev += dc f */          \
	NB_VEC_CLONES                                                        \
	static void lstm_bwd_##T(const T *restrict s, const T *restrict c,   \
	                         const T *restrict tc, const T *restrict gh, \
	                         const T *restrict gc, T *restrict d,        \
	                         T *restrict dcp, size_t B, size_t H)        \
	{                                                                    \
		for (size_t b = 0; b < B; b++) {                             \
			const T *si = s + b * 4 * H, *sf = si + H;           \
			const T *sg = sf + H, *so = sg + H;                  \
			const T *cr = c + b * H, *tr = tc + b * H;           \
			const T *ghr = gh + b * H, *gcr = gc + b * H;        \
			T *di = d + b * 4 * H, *df = di + H, *dg = df + H;   \
			T *dO = dg + H;                                      \
			T *dcr = dcp ? dcp + b * H : NULL;                   \
			for (size_t j = 0; j < H; j++) {                     \
				T i = si[j], f = sf[j], g = sg[j], o = so[j];\
				T t = tr[j];                                 \
				T dc = gcr[j] + ghr[j] * o * (1 - t * t);    \
				di[j] = dc * g * i * (1 - i);                \
				df[j] = dc * cr[j] * f * (1 - f);            \
				dg[j] = dc * i * (1 - g * g);                \
				dO[j] = ghr[j] * t * o * (1 - o);            \
				if (dcr)                                     \
					dcr[j] += dc * f;                    \
			}                                                    \
		}                                                            \
	}                                                                    \
	/* GRU: a [B, 3H] input gates (lda), s [B, 4H] holds the recurrent  \
	 * gates in its first 3H columns and becomes (r, z, n, b_n) */       \
	NB_VEC_CLONES                                                        \
	static void gru_fwd_##T(const T *restrict a, size_t lda,             \
	                        T *restrict s, const T *restrict h,          \
	                        T *restrict hn, size_t B, size_t H)          \
	{                                                                    \
		for (size_t b = 0; b < B; b++) {                             \
			const T *ar = a + b * lda, *az = ar + H;             \
			const T *an = az + H;                                \
			T *sr = s + b * 4 * H, *sz = sr + H, *sn = sz + H;   \
			T *sb = sn + H;                                      \
			const T *hr = h + b * H;                             \
			T *yr = hn + b * H;                                  \
			for (size_t j = 0; j < H; j++) {                     \
				T r = sig_##T(ar[j] + sr[j]);                \
				T z = sig_##T(az[j] + sz[j]);                \
				T bn = sn[j];                                \
				T n = TANH(an[j] + r * bn);                  \
				sr[j] = r;                                   \
				sz[j] = z;                                   \
				sn[j] = n;                                   \
				sb[j] = bn;                                  \
				yr[j] = n + z * (hr[j] - n);                 \
			}                                                    \
		}                                                            \
	}                                                                    \
	/* dx [B, 3H] input side, dr [B, 3H] recurrent side; dhp += dh' z */ \
	NB_VEC_CLONES                                                        \
	static void gru_bwd_##T(const T *restrict s, const T *restrict h,    \
	                        const T *restrict gh, T *restrict dx,        \
	                        T *restrict dr, T *restrict dhp, size_t B,   \
	                        size_t H)                                    \
	{                                                                    \
		for (size_t b = 0; b < B; b++) {                             \
			const T *sr = s + b * 4 * H, *sz = sr + H;           \
			const T *sn = sz + H, *sb = sn + H;                  \
			const T *hr = h + b * H, *g = gh + b * H;            \
			T *xr = dx + b * 3 * H, *xz = xr + H, *xn = xz + H;  \
			T *rr = dr + b * 3 * H, *rz = rr + H, *rn = rz + H;  \
			T *dh = dhp ? dhp + b * H : NULL;                    \
			for (size_t j = 0; j < H; j++) {                     \
				T r = sr[j], z = sz[j], n = sn[j];           \
				T dn = g[j] * (1 - z) * (1 - n * n);         \
				T dz = g[j] * (hr[j] - n) * z * (1 - z);     \
				T drr = dn * sb[j] * r * (1 - r);            \
				xr[j] = rr[j] = drr;                         \
				xz[j] = rz[j] = dz;                          \
				xn[j] = dn;                                  \
				rn[j] = dn * r;                              \
				if (dh)                                      \
					dh[j] += g[j] * z;                   \
			}                                                    \
		}                                                            \
	}                                                                    \
	/* gb += column sums of d [rows, n] */                               \
	NB_VEC_CLONES                                                        \
	static void colsum_##T(T *gb, const T *d, size_t rows, size_t n)     \
	{                                                                    \
		for (size_t r = 0; r < rows; r++)                            \
			for (size_t j = 0; j < n; j++)                       \
				gb[j] += d[r * n + j];                       \
	}                                                                    \
	NB_VEC_CLONES                                                        \
	static void add_##T(T *y, const T *d, size_t n)                      \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			y[i] += d[i];                                        \
	}
CELL_KERNELS(float, expf, tanhf)
CELL_KERNELS(double, exp, tanh)

#define CALL(dt, fn, ...)                                                    \
	((dt) == NB_F32 ? fn##_float(__VA_ARGS__) : fn##_double(__VA_ARGS__))

#endif
