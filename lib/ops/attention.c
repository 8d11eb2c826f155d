/*
 * attention.c - scaled_dot_product_attention, fused:
 *
 *     S = scale q k^T + bias,   S_ij = -inf where the mask excludes j
 *     P = softmax_rows(S),      O = dropout(P) v
 *
 * for q [..., L, E], k [..., S, E], v [..., S, Ev] with the same batch
 * axes.  Forward works one batch-head at a time: one GEMM into an
 * [L, S] scratch block, the masks and the row softmax in place, one GEMM
 * into O.  It saves only the log-sum-exp of each row (L values per
 * batch-head) and, with dropout, the generator's state before the
 * draws; backward recomputes P = exp(S - lse) from q and k and replays
 * the same dropout mask (FlashAttention's recomputation, Dao et al.
 * 2022, section 3.1), so no [L, S] block outlives its batch-head.
 * Small float blocks are the exception (keeps_p): there the weights P
 * themselves are kept for backward, cheaper than recomputing them.
 *
 * Backward (Dao et al. 2022, appendix B.2; the softmax Jacobian
 * dS_ij = P_ij (dP_ij - sum_l P_il dP_il)):
 *     dv += Pd^T dO                    Pd = P m / (1 - p)
 *     dP  = (dO v^T) m / (1 - p)
 *     dS  = P * (dP - rowsum(dP * P))
 *     dq += scale dS k,   dk += scale dS^T q
 * with m the dropout's keep mask (all ones without dropout).
 *
 * Masks.  attn_mask is bool, true where a query may attend to a key
 * (PyTorch 2's F.scaled_dot_product_attention convention); attn_bias
 * is float and added to the scores (PyTorch's float attn_mask: 0 to
 * keep, -inf to exclude); causal excludes key j > query i (the
 * top-left aligned lower triangle, PyTorch's is_causal).  All three
 * may be given together.  Both masks broadcast to [..., L, S] and
 * receive no gradient.
 *
 * A fully masked row (every key excluded, or S = 0) gives an output row
 * of zeros and zero gradients: its attention weights are all zero.
 * PyTorch 2.0's math kernel gives NaN there (the softmax of a row of
 * -inf); zeros keep a padded batch finite (doc/sequence.md).
 *
 * scaled_dot_product_attention_packed is the same op on q, k and v side
 * by side in one input [..., L, 3 H E] (a self-attention's packed
 * in-projection): the products read them, and backward writes their
 * gradients, in place, so nothing splits the projection into three
 * tensors or sums their gradients back.
 *
 * The row kernels are built for AVX2 too (NB_VEC_CLONES): exp runs 8
 * wide through libmvec, and the row max, sum and dot products keep
 * SUM_LANES partial results so that they vectorize.
 */
#include "vecmath.h" /* before <math.h>: exp and log vectorize */
#include "elementwise.h"
#include "small_gemm.h"

typedef struct sdpa_attrs {
	bool causal;
	double dropout_p;
	double scale;
	int64_t num_heads;
} sdpa_attrs;

static const nb_attr_def sdpa_defs[] = {
	{.name = "causal", .type = NB_ATTR_BOOL,
	 .offset = offsetof(sdpa_attrs, causal), .def = 0,
	 .doc = "query i attends to keys j <= i only"},
	{.name = "dropout_p", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(sdpa_attrs, dropout_p), .def = 0,
	 .range = NB_RANGE(0, 1),
	 .doc = "dropout on the attention weights (training mode only)"},
	{.name = "scale", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(sdpa_attrs, scale), .def = 0,
	 .range = NB_AT_LEAST(0),
	 .doc = "factor of q k^T; 0 is 1/sqrt(E)"},
	{.name = "num_heads", .type = NB_ATTR_INT,
	 .offset = offsetof(sdpa_attrs, num_heads), .def = 1,
	 .range = NB_RANGE(1, 65536),
	 .doc = "heads side by side in the last axes (H E columns)"},
};

/* The sizes of one call.  With H heads side by side, head h of a
 * batch item is columns [h E, (h + 1) E) of q and k and [h Ev,
 * (h + 1) Ev) of v and of the result: leading dimensions H E and
 * H Ev.  Packed, q, k and v are the column blocks [0, H E),
 * [H E, 2 H E) and [2 H E, 3 H E) of one input: leading dimension
 * 3 H E for all three. */
typedef struct sdpa_dims {
	size_t nbh;                 /* batch-heads: batch items times H */
	int64_t L, S, E, Ev, H;
	double scale;
	bool causal;
	/* q, k, v (and their gradients): the input each is in, its first
	 * column there and its row stride, in elements */
	int in[3];
	int64_t col[3], ld[3];
	int im, ib;                 /* inputs of the mask and the bias */
	bool small;                 /* float blocks: nb__small_sgemm_tri */
	int nd;                     /* rank of the scores [..., (H,) L, S] */
	int64_t sshape[NB_MAX_DIMS];
	/* strides of the mask and the bias over the scores (0 broadcast) */
	int64_t ms[NB_MAX_DIMS], bs[NB_MAX_DIMS];
} sdpa_dims;

/* The scores' shape: [..., L, S], or [..., H, L, S] with heads. */
static void scores_shape(const nb_tensor *q, const nb_tensor *k, int64_t H,
                         int *nd, int64_t *s)
{
	int n = q->ndim;
	memcpy(s, q->shape, (size_t)(n - 2) * sizeof *s);
	if (H > 1)
		s[n++ - 2] = H;
	s[n - 2] = q->shape[q->ndim - 2];
	s[n - 1] = k->shape[k->ndim - 2];
	*nd = n;
}

static const nb_op packed_op;

/* Float products of batch-heads with up to SMALL_S keys and SMALL_E
 * columns a head go to nb__small_sgemm_tri: their operands stay in L1 or
 * L2 (k^T at most 128 KB), and BLAS's packing would cost as much as its
 * kernel.  Larger ones, whose products gain from BLAS's cache blocking,
 * and float64 go to BLAS. */
#define SMALL_S 256
#define SMALL_E 128

static void dims_of(const nb_op_ctx *c, sdpa_dims *d)
{
	const nb_tensor *q = c->in[0];
	const sdpa_attrs *a = c->attrs;
	bool packed = c->op == &packed_op;
	int n = q->ndim;
	d->H = a->num_heads;
	d->L = q->shape[n - 2];
	if (packed) {
		d->E = d->Ev = q->shape[n - 1] / (3 * d->H);
		d->S = d->L;
		for (int i = 0; i < 3; i++) {
			d->in[i] = 0;
			d->col[i] = i * d->H * d->E;
			d->ld[i] = 3 * d->H * d->E;
		}
		d->im = 1;
	} else {
		d->E = q->shape[n - 1] / d->H;
		d->S = c->in[1]->shape[n - 2];
		d->Ev = c->in[2]->shape[n - 1] / d->H;
		for (int i = 0; i < 3; i++) {
			d->in[i] = i;
			d->col[i] = 0;
			d->ld[i] = d->H * (i < 2 ? d->E : d->Ev);
		}
		d->im = 3;
	}
	d->ib = d->im + 1;
	d->small = q->dtype == NB_F32 && d->S <= SMALL_S && d->E <= SMALL_E &&
	           d->Ev <= SMALL_E;
	const nb_tensor *m = c->n_in > d->im ? c->in[d->im] : NULL;
	const nb_tensor *b = c->n_in > d->ib ? c->in[d->ib] : NULL;
	d->nbh = nb__numel(n - 2, q->shape) * (size_t)d->H;
	d->scale = a->scale > 0 ? a->scale
	         : d->E > 0 ? 1 / sqrt((double)d->E) : 1;
	d->causal = a->causal;
	d->nd = q->ndim + (d->H > 1);
	memcpy(d->sshape, q->shape, (size_t)(q->ndim - 2) * sizeof *d->sshape);
	if (d->H > 1)
		d->sshape[d->nd - 3] = d->H;
	d->sshape[d->nd - 2] = d->L;
	d->sshape[d->nd - 1] = d->S;
	n = d->nd;
	if (m)
		nb__broadcast_strides(m->ndim, m->shape, n, d->sshape, d->ms);
	if (b)
		nb__broadcast_strides(b->ndim, b->shape, n, d->sshape, d->bs);
}

/* Whether mask shape (mn, ms) broadcasts to the scores' shape. */
static bool bcasts_to(int mn, const int64_t *ms, int n, const int64_t *s)
{
	if (mn > n)
		return false;
	for (int i = 0; i < mn; i++) {
		int64_t x = ms[mn - 1 - i], y = s[n - 1 - i];
		if (x != 1 && x != y)
			return false;
	}
	return true;
}

/* Whether the scores of q and k with H heads have a rank nabla holds
 * and the mask m and the bias b (either may be NULL) broadcast to them;
 * reported with nb_op_fail if not. */
static nb_status masks_fit(nb_op_ctx *c, const nb_tensor *q,
                           const nb_tensor *k, int64_t H,
                           const nb_tensor *m, const nb_tensor *b)
{
	int64_t s[NB_MAX_DIMS + 1];
	int ns;
	scores_shape(q, k, H, &ns, s);
	if (ns > NB_MAX_DIMS)
		return nb_op_fail(c, NB_ESHAPE, "with num_heads the scores "
		                  "[..., H, L, S] would have rank %d", ns);
	const char *hs = H > 1 ? "H, " : "";
	if (m && !bcasts_to(m->ndim, m->shape, ns, s))
		return nb_op_fail(c, NB_ESHAPE, "attn_mask must broadcast to "
		                  "the scores [..., %sL = %lld, S = %lld]", hs,
		                  (long long)s[ns - 2], (long long)s[ns - 1]);
	if (b && !bcasts_to(b->ndim, b->shape, ns, s))
		return nb_op_fail(c, NB_ESHAPE, "attn_bias must broadcast to "
		                  "the scores [..., %sL = %lld, S = %lld]", hs,
		                  (long long)s[ns - 2], (long long)s[ns - 1]);
	return NB_OK;
}

static nb_status sdpa_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *q = c->in[0], *k = c->in[1], *v = c->in[2];
	const nb_tensor *m = c->n_in > 3 ? c->in[3] : NULL;
	const nb_tensor *b = c->n_in > 4 ? c->in[4] : NULL;
	int n = q->ndim;
	if (n < 2 || k->ndim != n || v->ndim != n)
		return nb_op_fail(c, NB_ESHAPE, "query, key and value must have "
		                  "the same rank, at least 2 ([..., L, E], "
		                  "[..., S, E], [..., S, Ev])");
	for (int i = 0; i < n - 2; i++)
		if (k->shape[i] != q->shape[i] || v->shape[i] != q->shape[i])
			return nb_op_fail(c, NB_ESHAPE, "query, key and value "
			                  "must have the same batch axes");
	if (k->shape[n - 1] != q->shape[n - 1])
		return nb_op_fail(c, NB_ESHAPE, "key's last axis must be "
		                  "query's (E = %lld)",
		                  (long long)q->shape[n - 1]);
	if (v->shape[n - 2] != k->shape[n - 2])
		return nb_op_fail(c, NB_ESHAPE, "value must have as many rows "
		                  "as key (S = %lld)",
		                  (long long)k->shape[n - 2]);
	int64_t H = ((const sdpa_attrs *)c->attrs)->num_heads;
	if (q->shape[n - 1] % H || v->shape[n - 1] % H)
		return nb_op_fail(c, NB_ESHAPE, "num_heads = %lld must divide "
		                  "the last axes of query and value", (long long)H);
	nb_status st = masks_fit(c, q, k, H, m, b);
	if (!st)
		res->shape[n - 1] = v->shape[n - 1];
	return st;
}

/* qkv [..., L, 3 H E] -> [..., L, H E] */
static nb_status packed_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	const nb_tensor *m = c->n_in > 1 ? c->in[1] : NULL;
	const nb_tensor *b = c->n_in > 2 ? c->in[2] : NULL;
	int64_t H = ((const sdpa_attrs *)c->attrs)->num_heads;
	int n = x->ndim;
	if (n < 2 || x->shape[n - 1] % (3 * H))
		return nb_op_fail(c, NB_ESHAPE, "qkv must be [..., L, 3 H E] "
		                  "(q, k and v side by side, num_heads H = "
		                  "%lld), at least rank 2", (long long)H);
	nb_status st = masks_fit(c, x, x, H, m, b);
	if (!st)
		res->shape[n - 1] = x->shape[n - 1] / 3;
	return st;
}

/* Offset of batch-head bh's [L, S] block in a tensor seen through the
 * broadcast strides st over the scores' shape. */
static int64_t block_offset(const sdpa_dims *d, const int64_t *st, size_t bh)
{
	int64_t off = 0;
	for (int i = d->nd - 3; i >= 0; i--) {
		int64_t ix = (int64_t)(bh % (size_t)d->sshape[i]);
		bh /= (size_t)d->sshape[i];
		off += ix * st[i];
	}
	return off;
}

/* What one batch-head's kernels read besides the scores. */
typedef struct blk_masks {
	const unsigned char *mask; /* NULL: none; element (i, j) at
	                              i * mi + j * mj */
	int64_t mi, mj;
	const void *bias;          /* NULL: none */
	int64_t bi, bj;
	bool causal;
} blk_masks;

/* What forward saves: the generator's state before the dropout draws,
 * then the row log-sum-exps (nbh * L elements) at lse_off bytes, and
 * with p_off > 0 the weights P themselves (nbh blocks [L, S]) there. */
typedef struct sdpa_saved {
	nb_rng rng;
	bool dropout;
	double keep_scale; /* 1 / (1 - p), 0 for p = 1 */
	size_t lse_off, p_off;
} sdpa_saved;

/*
 * Kernels for one [L, S] block s holding scale q k^T:
 *   fwd_rows: masks applied, then the row softmax in place; lse[i] the
 *             row's log-sum-exp (-inf for a fully masked row: P = 0);
 *   recompute: P = exp(masked s - lse) in place;
 *   apply_keep: x *= keep m;
 *   dscores:  dp (= dO v^T) -> dS = P (dP - rowsum(dP P)) in place, with
 *             the keep mask applied to dp first when m is not NULL;
 *             causal rows read only the columns they see (dp holds
 *             nothing beyond them) and get zeros beyond: all the rest
 *             of the row, or KEPT_ZEROS when zw is that (the small
 *             path's tiles read no further).
 */
/* Zeros a causal row of n keys of P (past n rounded up to 8) or dS
 * (past n) needs on the small path: what
 * nb__small_sgemm_tri's tiles of 6 rows read beyond their rows' keys
 * (small_gemm.h); the rest of the row is never written nor read, so a
 * causal block moves little more than its lower triangle through
 * memory. */
#define KEPT_ZEROS 8

#define SUM_LANES 8 /* a vector of 8 floats (AVX2), two of 4 (SSE) */
#define SDPA_KERNELS(T, EXP, LOG)                                            \
	static void mask_row_##T(T *r, int64_t i, int64_t S,                 \
	                         const blk_masks *bm)                        \
	{                                                                    \
		if (bm->bias) {                                              \
			const T *b = (const T *)bm->bias + i * bm->bi;       \
			for (int64_t j = 0; j < S; j++)                      \
				r[j] += b[j * bm->bj];                       \
		}                                                            \
		if (bm->mask) {                                              \
			const unsigned char *m = bm->mask + i * bm->mi;      \
			for (int64_t j = 0; j < S; j++)                      \
				if (!m[j * bm->mj])                          \
					r[j] = -(T)INFINITY;                 \
		}                                                            \
	}                                                                    \
	/* Row i's columns that causal leaves (all without it); the rest \
	 * are set to 0 and skipped. */                                      \
	static int64_t live_##T(T *r, int64_t i, int64_t S,                  \
	                        const blk_masks *bm)                         \
	{                                                                    \
		int64_t n = bm->causal && i + 1 < S ? i + 1 : S;             \
		for (int64_t j = n; j < S; j++)                              \
			r[j] = 0;                                            \
		mask_row_##T(r, i, n, bm);                                   \
		return n;                                                    \
	}                                                                    \
	/* rmax: the largest of r[0..n-1], NaNs skipped (-inf if none); \
	 * rsum: their sum; each in SUM_LANES partial results, so that    \
	 * they vectorize. */                                                \
	static inline T rmax_##T(const T *r, int64_t n)                      \
	{                                                                    \
		T m[SUM_LANES], mx;                                          \
		int64_t j = 0;                                               \
		for (int l = 0; l < SUM_LANES; l++)                          \
			m[l] = -(T)INFINITY;                                 \
		for (; j + SUM_LANES <= n; j += SUM_LANES)                   \
			for (int l = 0; l < SUM_LANES; l++)                  \
				m[l] = r[j + l] > m[l] ? r[j + l] : m[l];    \
		for (; j < n; j++)                                           \
			m[0] = r[j] > m[0] ? r[j] : m[0];                    \
		mx = m[0];                                                   \
		for (int l = 1; l < SUM_LANES; l++)                          \
			mx = m[l] > mx ? m[l] : mx;                          \
		return mx;                                                   \
	}                                                                    \
	static inline T rsum_##T(const T *r, int64_t n)                      \
	{                                                                    \
		T a[SUM_LANES] = {0}, sum = 0;                               \
		int64_t j = 0;                                               \
		for (; j + SUM_LANES <= n; j += SUM_LANES)                   \
			for (int l = 0; l < SUM_LANES; l++)                  \
				a[l] += r[j + l];                            \
		for (; j < n; j++)                                           \
			a[0] += r[j];                                        \
		for (int l = 0; l < SUM_LANES; l++)                          \
			sum += a[l];                                         \
		return sum;                                                  \
	}                                                                    \
	/* sum_j a[j] b[j], likewise */                                      \
	static inline T rdot_##T(const T *a, const T *b, int64_t n)          \
	{                                                                    \
		T p[SUM_LANES] = {0}, dot = 0;                               \
		int64_t j = 0;                                               \
		for (; j + SUM_LANES <= n; j += SUM_LANES)                   \
			for (int l = 0; l < SUM_LANES; l++)                  \
				p[l] += a[j + l] * b[j + l];                 \
		for (; j < n; j++)                                           \
			p[0] += a[j] * b[j];                                 \
		for (int l = 0; l < SUM_LANES; l++)                          \
			dot += p[l];                                         \
		return dot;                                                  \
	}                                                                    \
	NB_VEC_CLONES                                                        \
	static void fwd_rows_##T(T *s, T *lse, int64_t L, int64_t S,         \
	                         const blk_masks *bm)                        \
	{                                                                    \
		for (int64_t i = 0; i < L; i++) {                            \
			T *r = s + i * S, mx, sum;                           \
			int64_t n = live_##T(r, i, S, bm);                   \
			mx = rmax_##T(r, n);                                 \
			/* A NaN score makes the row NaN (not "fully masked"): \
			 * exp(NaN - mx) makes the sum NaN, or here mx. */   \
			for (int64_t j = 0; mx == -(T)INFINITY && j < n; j++) \
				mx = r[j] != r[j] ? r[j] : mx;               \
			if (mx == -(T)INFINITY) { /* fully masked */         \
				for (int64_t j = 0; j < n; j++)              \
					r[j] = 0;                            \
				lse[i] = -(T)INFINITY;                       \
				continue;                                    \
			}                                                    \
			for (int64_t j = 0; j < n; j++)                      \
				r[j] = EXP(r[j] - mx); /* vectorizes */      \
			sum = rsum_##T(r, n);                                \
			T inv = 1 / sum;                                     \
			for (int64_t j = 0; j < n; j++)                      \
				r[j] *= inv;                                 \
			lse[i] = mx + LOG(sum);                              \
		}                                                            \
	}                                                                    \
	NB_VEC_CLONES                                                        \
	static void recompute_##T(T *s, const T *lse, int64_t L, int64_t S,  \
	                          const blk_masks *bm)                       \
	{                                                                    \
		for (int64_t i = 0; i < L; i++) {                            \
			T *r = s + i * S, li = lse[i]; /* r may alias lse: \
			                                  a copy vectorizes */ \
			int64_t n = live_##T(r, i, S, bm);                   \
			if (li == -(T)INFINITY) {                            \
				for (int64_t j = 0; j < n; j++)              \
					r[j] = 0;                            \
				continue;                                    \
			}                                                    \
			for (int64_t j = 0; j < n; j++)                      \
				r[j] = EXP(r[j] - li);                       \
		}                                                            \
	}                                                                    \
	static void apply_keep_##T(T *x, const T *p, const unsigned char *m, \
	                           size_t n, T keep) /* x may be p */        \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			x[i] = m[i] ? p[i] * keep : 0;                       \
	}                                                                    \
	NB_VEC_CLONES                                                        \
	static void dscores_##T(const T *restrict p, T *restrict dp,         \
	                        const unsigned char *restrict m, int64_t L,  \
	                        int64_t S, T keep, bool causal, int64_t zw)  \
	{                                                                    \
		for (int64_t i = 0; i < L; i++) {                            \
			const T *pr = p + i * S;                             \
			T *dr = dp + i * S, dot = 0;                         \
			int64_t n = causal && i + 1 < S ? i + 1 : S;         \
			if (m) {                                             \
				const unsigned char *mr = m + i * S;         \
				for (int64_t j = 0; j < n; j++)              \
					dr[j] = mr[j] ? dr[j] * keep : 0;    \
			}                                                    \
			dot = rdot_##T(dr, pr, n);                           \
			for (int64_t j = 0; j < n; j++)                      \
				dr[j] = pr[j] * (dr[j] - dot);               \
			if (zw > KEPT_ZEROS)                                 \
				for (int64_t j = n; j < S; j++)              \
					dr[j] = 0;                           \
			else /* a fixed count: no call to memset a row */   \
				for (int64_t j = n; j < n + KEPT_ZEROS; j++) \
					if (j < S)                           \
						dr[j] = 0;                   \
		}                                                            \
	}
/*
 * exp(x) for the float kernels, whose arguments are x = s - max <= 0
 * (or a rounding above 0 in recompute; -inf for excluded keys, NaN for
 * a NaN row): inline and branch-free, so the row loops vectorize without
 * a libmvec call per 8 elements, which with its scalar and 4-wide calls
 * for the rows' remainders was half of the forward's row pass.  Cephes'
 * expf: x = k ln2 + r, |r| <= ln2 / 2, e^r from a degree-5 polynomial
 * (1 ulp), times 2^k built in the exponent bits.  Below -87.3 (where
 * expf turns subnormal) it gives 0, a difference of at most 1.2e-38;
 * NaN stays NaN (the clamp and the comparison both let it through).
 */
static inline float sdpa_expf(float x)
{
	const float lo = -87.3f;
	float xc = x < lo ? lo : x; /* NaN: x */
	/* k = round(x / ln2) in the low bits of kf */
	const float shift = 0x1.8p23f;
	float kf = xc * 1.44269504088896341f + shift;
	uint32_t kb;
	memcpy(&kb, &kf, sizeof kb);
	kf -= shift;
	float r = xc - kf * 0.693359375f;
	r = r - kf * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1;
	uint32_t sb = (kb + 127u) << 23;
	float sc;
	memcpy(&sc, &sb, sizeof sc);
	return x < lo ? 0 : p * sc;
}
SDPA_KERNELS(float, sdpa_expf, logf)

/*
 * fwd_rows_float for blocks with no mask and no bias and S a multiple
 * of 8 (gpt_tiny's [64, 64]), 8 columns at a time: a causal row of n
 * keys is read up to n rounded up to 8, its lanes from n on taken as
 * -inf (exp 0), so no row has a scalar remainder, and the max, exp,
 * sum and scale are one vector loop each.  The row loop of the generic
 * kernel, with its remainders and its calls, cost as much as its exps.
 * A row without a finite score is NaN (a NaN in it) or fully masked,
 * as in fwd_rows_float.  Beyond n rounded up to 8 the row gets zw
 * zeros (KEPT_ZEROS for a kept P, S for all the rest).
 */
SDPA_KERNELS(double, exp, log)

typedef nb__f8u v8f;
typedef int32_t v8i __attribute__((vector_size(32)));

/* a where m (all ones), else b; a macro, as vector arguments and
 * results of a function change the ABI between the clones (-Wpsabi) */
#define SEL8(m, a, b) ((v8f)(((m) & (v8i)(a)) | (~(m) & (v8i)(b))))

/* *px = sdpa_expf of each of its 8 */
static inline void expf8(v8f *px)
{
	const float lo = -87.3f, shift = 0x1.8p23f;
	v8f x = *px;
	v8i under = x < lo;
	v8f xc = SEL8(under, (v8f){0} + lo, x);
	v8f kf = xc * 1.44269504088896341f + shift;
	v8i kb = (v8i)kf;
	kf -= shift;
	v8f r = xc - kf * 0.693359375f;
	r = r - kf * -2.12194440e-4f;
	v8f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	p = p * r * r + r + 1;
	v8f sc = (v8f)((kb + 127) << 23);
	*px = SEL8(under, (v8f){0}, p * sc);
}

/* Lanes of a vector rotated (SHUF8(x, 4, 5, 6, 7, 0, 1, 2, 3)), for
 * the rows' reductions in three steps where eight scalar lanes were a
 * chain of seven.  __builtin_shufflevector is clang's, and GCC's from
 * version 12; older GCC has __builtin_shuffle with a mask vector. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUF8(x, ...) __builtin_shufflevector(x, x, __VA_ARGS__)
#else
#define SHUF8(x, ...) __builtin_shuffle(x, (v8i){__VA_ARGS__})
#endif

/* The largest lane of m (no NaN in it), in every lane */
#define HMAX8(m)                                                             \
	do {                                                                 \
		v8f t_ = SHUF8(m, 4, 5, 6, 7, 0, 1, 2, 3);                   \
		m = SEL8(t_ > m, t_, m);                                     \
		t_ = SHUF8(m, 2, 3, 0, 1, 6, 7, 4, 5);                       \
		m = SEL8(t_ > m, t_, m);                                     \
		t_ = SHUF8(m, 1, 0, 3, 2, 5, 4, 7, 6);                       \
		m = SEL8(t_ > m, t_, m);                                     \
	} while (0)

/* The sum of the lanes of s, in every lane */
#define HSUM8(s)                                                             \
	do {                                                                 \
		s += SHUF8(s, 4, 5, 6, 7, 0, 1, 2, 3);                       \
		s += SHUF8(s, 2, 3, 0, 1, 6, 7, 4, 5);                       \
		s += SHUF8(s, 1, 0, 3, 2, 5, 4, 7, 6);                       \
	} while (0)

NB_FMA_CLONES
static void fwd_rows_f32x8(float *s, float *lse, int64_t L, int64_t S,
                           bool causal, int64_t zw)
{
	const v8i iota = {0, 1, 2, 3, 4, 5, 6, 7};
	const v8f ninf = (v8f){0} - INFINITY;
	for (int64_t i = 0; i < L; i++) {
		float *r = s + i * S;
		int64_t n = causal && i + 1 < S ? i + 1 : S;
		int64_t n8 = (n + 7) / 8 * 8;
		v8f m = ninf;
		for (int64_t j = 0; j < n8; j += 8) {
			v8f x = *(const v8f *)(r + j);
			x = SEL8(iota + (int32_t)j < (int32_t)n, x, ninf);
			m = SEL8(x > m, x, m); /* NaN skipped, as rmax */
		}
		HMAX8(m);
		float mx = m[0];
		for (int64_t j = 0; mx == -INFINITY && j < n; j++)
			mx = r[j] != r[j] ? r[j] : mx; /* NaN: a NaN row */
		for (int64_t j = n8; j < S && j < n8 + zw; j += 8)
			*(v8f *)(r + j) = (v8f){0};
		if (mx == -INFINITY) { /* fully masked */
			for (int64_t j = 0; j < n8; j++)
				r[j] = 0;
			lse[i] = -INFINITY;
			continue;
		}
		v8f sum = {0};
		for (int64_t j = 0; j < n8; j += 8) {
			v8f x = *(const v8f *)(r + j) - mx;
			x = SEL8(iota + (int32_t)j < (int32_t)n, x, ninf);
			expf8(&x);
			*(v8f *)(r + j) = x;
			sum += x;
		}
		HSUM8(sum);
		float t = sum[0];
		v8f inv = 1 / sum;
		for (int64_t j = 0; j < n8; j += 8)
			*(v8f *)(r + j) *= inv;
		lse[i] = mx + logf(t);
	}
}

/* The masks of batch-head bh (element offsets from the broadcast
 * strides; the scores' last two axes are L then S). */
static void masks_of(const nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                     blk_masks *bm)
{
	const nb_tensor *m = c->n_in > d->im ? c->in[d->im] : NULL;
	const nb_tensor *b = c->n_in > d->ib ? c->in[d->ib] : NULL;
	int n = d->nd;
	memset(bm, 0, sizeof *bm);
	bm->causal = ((const sdpa_attrs *)c->attrs)->causal;
	if (m) {
		bm->mask = (const unsigned char *)m->data +
		           block_offset(d, d->ms, bh);
		bm->mi = d->ms[n - 2];
		bm->mj = d->ms[n - 1];
	}
	if (b) {
		size_t es = nb_dtype_size(b->dtype);
		bm->bias = (const char *)b->data +
		           (size_t)block_offset(d, d->bs, bh) * es;
		bm->bi = d->bs[n - 2];
		bm->bj = d->bs[n - 1];
	}
}

/* The element offset of batch-head bh's first row in a tensor of n
 * rows of stride ld whose heads of w columns start at column col (its
 * head's columns start there). */
static size_t head_off(const sdpa_dims *d, size_t bh, int64_t n, int64_t ld,
                       int64_t col, int64_t w)
{
	size_t b = bh / (size_t)d->H, h = bh % (size_t)d->H;
	return b * (size_t)(n * ld) + (size_t)col + h * (size_t)w;
}

/* Batch-head bh's block of q (i = 0), k (1) or v (2) in base, the data
 * of input d->in[i] or of its gradient. */
static char *part(const sdpa_dims *d, int i, size_t bh, void *base,
                  size_t es)
{
	int64_t n = i ? d->S : d->L, w = i < 2 ? d->E : d->Ev;
	return (char *)base + head_off(d, bh, n, d->ld[i], d->col[i], w) * es;
}

/* Batch-head bh's block of the result (or of its gradient). */
static char *out_part(const sdpa_dims *d, size_t bh, void *base, size_t es)
{
	return (char *)base + head_off(d, bh, d->L, d->H * d->Ev, 0, d->Ev) * es;
}

/*
 * Causal attention through BLAS works in blocks of CAUSAL_ROWS queries:
 * block [i0, i1) sees keys [0, min(S, i1)) only, so the products skip
 * most of the upper triangle (3/8 of each at L = S = 64).  Without
 * causal, and on the small path, whose kernel skips the triangle tile
 * by tile itself (nb__small_sgemm_tri), there is one block of all rows
 * and keys.
 */
#define CAUSAL_ROWS 16

typedef struct rblk {
	int64_t i0, n, c; /* rows [i0, i0 + n), keys [0, c) */
} rblk;

static int64_t n_blocks(const sdpa_dims *d)
{
	return !d->causal || d->small ? (d->L > 0)
	                              : (d->L + CAUSAL_ROWS - 1) / CAUSAL_ROWS;
}

static rblk block_at(const sdpa_dims *d, int64_t b)
{
	rblk r = {0, d->L, d->S};
	if (d->causal && !d->small) {
		r.i0 = b * CAUSAL_ROWS;
		int64_t i1 = r.i0 + CAUSAL_ROWS < d->L ? r.i0 + CAUSAL_ROWS : d->L;
		r.n = i1 - r.i0;
		r.c = i1 < d->S ? i1 : d->S;
	}
	return r;
}

/* Rows [c, S) of dk or dv, which no block sees (c the last block's),
 * written with zeros: for fresh gradients. */
static void zero_unseen(const sdpa_dims *d, char *g, size_t es, int64_t ld,
                        int64_t w)
{
	int64_t nb = n_blocks(d);
	int64_t c = nb ? block_at(d, nb - 1).c : 0;
	for (int64_t j = c; j < d->S; j++)
		memset(g + (size_t)(j * ld) * es, 0, (size_t)w * es);
}

/* One product of the op: c = alpha op(a) op(b) + beta c, through
 * nb__small_sgemm_tri when d->small (each block fits in L1, where BLAS's
 * packing and zeroing passes cost as much as its kernel), else BLAS.
 * A product with b^T (tb) passes, for the small path, b's transpose bt
 * [k, S] made once per batch-head.  tri (small_gemm.h) says, with
 * causal, which triangle the small path may skip; BLAS's products are
 * cut to the blocks of rows instead. */
static void mm(const sdpa_dims *d, nb_dtype dt, int tri, bool ta, bool tb,
               int64_t m, int64_t n, int64_t k, double alpha, const void *a,
               int64_t lda, const void *b, int64_t ldb, const float *bt,
               double beta, void *c, int64_t ldc)
{
	if (!d->small)
		nb__gemm(dt, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
		         ldc);
	else
		nb__small_sgemm_tri(d->causal ? tri : NB__TRI_NONE, ta, m, n, k,
		                    (float)alpha, a, lda, tb ? bt : b,
		                    tb ? d->S : ldb, (float)beta, c, ldc);
}

/* bt [w, S] = the batch-head's block [S, w] of x^T, for mm's products
 * with x^T (nothing to do for BLAS) */
static void transpose_blk(const sdpa_dims *d, const char *x, int64_t ld,
                          int64_t w, float *bt)
{
	if (d->small)
		nb__transpose_f32(d->S, w, (const float *)x, ld, bt, d->S);
}

/* s = scale q_bh k_bh^T, [L, S], the blocks' parts; kt scratch [E, S]
 * for the small path */
static void scores(const nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                   char *s, float *kt)
{
	nb_dtype dt = c->in[0]->dtype;
	size_t es = nb_dtype_size(dt);
	const char *qb = part(d, 0, bh, c->in[d->in[0]]->data, es);
	const char *kb = part(d, 1, bh, c->in[d->in[1]]->data, es);
	transpose_blk(d, kb, d->ld[1], d->E, kt);
	for (int64_t b = 0; b < n_blocks(d); b++) {
		rblk r = block_at(d, b);
		mm(d, dt, NB__TRI_COLS, false, true, r.n, r.c, d->E, d->scale,
		   qb + (size_t)(r.i0 * d->ld[0]) * es, d->ld[0], kb, d->ld[1],
		   kt, 0.0, s + (size_t)(r.i0 * d->S) * es, d->S);
	}
}

/* The scratch [w, S] for a transposed block (a dummy without the small
 * path); NULL if out of memory. */
static float *bt_scratch(nb_op_ctx *c, const sdpa_dims *d, int64_t w)
{
	nb_tensor *t = nb_op_scratch(c, NB_F32, 2, (int64_t[]){
		d->small ? w : 1, d->small ? d->S : 1});
	return t ? t->data : NULL;
}

/*
 * Small blocks of all a call's batch-heads together up to KEEP_P_MAX
 * bytes are kept from forward to backward when a gradient will be
 * wanted: backward then reads P instead of recomputing it (its q k^T
 * product, k's transpose and the exps: a quarter of backward's time at
 * gpt_tiny's [64, 64] blocks with warm caches, less in a training step,
 * where the kept blocks come back from far memory; doc/sequence.md),
 * for L S floats a batch-head of memory that the recomputation saves
 * only where blocks are large.  Not with dropout, whose mask is applied
 * to the block in place.
 */
#define KEEP_P_MAX ((size_t)16 << 20)

static bool keeps_p(const nb_op_ctx *c, const sdpa_dims *d, bool dropout)
{
	if (!d->small || dropout || !c->g->grad_enabled ||
	    d->nbh * (size_t)(d->L * d->S) * sizeof(float) > KEEP_P_MAX)
		return false;
	for (int i = 0; i < c->n_in && i < d->im; i++)
		if (nb__input_needs_grad(c->op, i, c->in[i]))
			return true;
	return false;
}

static nb_status sdpa_forward(nb_op_ctx *c)
{
	const sdpa_attrs *a = c->attrs;
	nb_dtype dt = c->in[0]->dtype;
	size_t es = nb_dtype_size(dt);
	sdpa_dims d;
	dims_of(c, &d);
	size_t blk = (size_t)(d.L * d.S);
	size_t off = (sizeof(sdpa_saved) + 63) / 64 * 64;
	size_t poff = (off + d.nbh * (size_t)d.L * es + 63) / 64 * 64;
	bool dropout = nb_op_training(c) && a->dropout_p > 0;
	bool kp = keeps_p(c, &d, dropout);
	/* raw: lse and P are written in full below */
	sdpa_saved *sv = nb__op_save_raw(c, poff + (kp ? d.nbh * blk * es : 0));
	nb_tensor *s = nb_op_scratch(c, dt, 2, (int64_t[]){d.L, d.S});
	float *kt = bt_scratch(c, &d, d.E);
	if (!sv || !s || !kt)
		return NB_ENOMEM;
	unsigned char *keep = NULL;
	memset(sv, 0, sizeof *sv);
	sv->lse_off = off;
	sv->p_off = kp ? poff : 0;
	sv->dropout = dropout;
	sv->keep_scale = a->dropout_p < 1 ? 1 / (1 - a->dropout_p) : 0;
	if (sv->dropout) {
		sv->rng = *nb_op_rng(c);
		nb_tensor *km = nb_op_scratch(c, NB_BOOL, 2,
		                              (int64_t[]){d.L, d.S});
		if (!km)
			return NB_ENOMEM;
		keep = km->data;
	}
	char *lse = (char *)sv + off;
	for (size_t bh = 0; bh < d.nbh; bh++) {
		blk_masks bm;
		masks_of(c, &d, bh, &bm);
		void *sb = kp ? (char *)sv + poff + bh * blk * es : s->data;
		scores(c, &d, bh, sb, kt);
		void *lr = lse + bh * (size_t)d.L * es;
		if (dt == NB_F32 && !bm.mask && !bm.bias && d.S % 8 == 0)
			fwd_rows_f32x8(sb, lr, d.L, d.S, bm.causal,
			               kp ? KEPT_ZEROS : d.S);
		else if (dt == NB_F32)
			fwd_rows_float(sb, lr, d.L, d.S, &bm);
		else
			fwd_rows_double(sb, lr, d.L, d.S, &bm);
		if (sv->dropout) {
			nb__rng_keep_mask(nb_op_rng(c), keep, blk,
			                  1 - a->dropout_p);
			if (dt == NB_F32)
				apply_keep_float(sb, sb, keep, blk,
				                 (float)sv->keep_scale);
			else
				apply_keep_double(sb, sb, keep, blk,
				                  sv->keep_scale);
		}
		int64_t ldo = d.H * d.Ev;
		char *ob = out_part(&d, bh, c->out->data, es);
		const char *vb = part(&d, 2, bh, c->in[d.in[2]]->data, es);
		for (int64_t b = 0; b < n_blocks(&d); b++) {
			rblk r = block_at(&d, b);
			mm(&d, dt, NB__TRI_KHI, false, false, r.n, d.Ev, r.c, 1.0,
			   (char *)sb + (size_t)(r.i0 * d.S) * es, d.S, vb,
			   d.ld[2], NULL, 0.0, ob + (size_t)(r.i0 * ldo) * es,
			   ldo);
		}
	}
	return NB_OK;
}

/* The pointers and sizes of one batch-head's backward. */
typedef struct bh_ptrs {
	const char *q, *k, *v, *go;
	char *dq, *dk, *dv;    /* NULL: not wanted */
	int64_t ldq, ldk, ldv, ldo;
	double bq, bk, bv;     /* beta of the first write: 0 when fresh */
	float *kt, *vt;        /* scratch [E, S], [Ev, S] (small path) */
} bh_ptrs;

static bh_ptrs ptrs_of(const nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                       const nb_tensor *gout, nb_tensor *const *gin)
{
	size_t es = nb_dtype_size(c->in[0]->dtype);
	nb_tensor *const *in = c->in;
	const int *ix = d->in;
	bh_ptrs p = {
		.q = part(d, 0, bh, in[ix[0]]->data, es),
		.k = part(d, 1, bh, in[ix[1]]->data, es),
		.v = part(d, 2, bh, in[ix[2]]->data, es),
		.go = out_part(d, bh, gout->data, es),
		.dq = gin[ix[0]] ? part(d, 0, bh, gin[ix[0]]->data, es) : NULL,
		.dk = gin[ix[1]] ? part(d, 1, bh, gin[ix[1]]->data, es) : NULL,
		.dv = gin[ix[2]] ? part(d, 2, bh, gin[ix[2]]->data, es) : NULL,
		.ldq = d->ld[0], .ldk = d->ld[1], .ldv = d->ld[2],
		.ldo = d->H * d->Ev,
		/* beta 0 writes a fresh gradient: dq's rows are written by
		 * one product each, dk's and dv's first by the last block,
		 * which sees the most keys (an empty product writes zeros:
		 * nb__gemm zeroes C when the inner size is 0), and the rows
		 * no block sees by zero_unseen */
		.bq = c->fresh & 1u << ix[0] ? 0.0 : 1.0,
		.bk = c->fresh & 1u << ix[1] ? 0.0 : 1.0,
		.bv = c->fresh & 1u << ix[2] ? 0.0 : 1.0,
	};
	return p;
}

/* dv += Pd^T dO, block by block from the last */
static void bwd_dv(const sdpa_dims *d, nb_dtype dt, const bh_ptrs *p,
                   const char *pv)
{
	size_t es = nb_dtype_size(dt);
	int64_t nb = n_blocks(d);
	for (int64_t b = nb - 1; b >= 0; b--) {
		rblk r = block_at(d, b);
		mm(d, dt, NB__TRI_KLO, true, false, r.c, d->Ev, r.n, 1.0,
		   pv + (size_t)(r.i0 * d->S) * es, d->S,
		   p->go + (size_t)(r.i0 * p->ldo) * es, p->ldo, NULL,
		   b == nb - 1 ? p->bv : 1.0, p->dv, p->ldv);
	}
	if (p->bv == 0.0)
		zero_unseen(d, p->dv, es, p->ldv, d->Ev);
}

/* dP = dO v^T (the blocks' parts) into dp */
static void bwd_dp(const sdpa_dims *d, nb_dtype dt, const bh_ptrs *p,
                   char *dp)
{
	size_t es = nb_dtype_size(dt);
	transpose_blk(d, p->v, p->ldv, d->Ev, p->vt);
	for (int64_t b = 0; b < n_blocks(d); b++) {
		rblk r = block_at(d, b);
		mm(d, dt, NB__TRI_COLS, false, true, r.n, r.c, d->Ev, 1.0,
		   p->go + (size_t)(r.i0 * p->ldo) * es, p->ldo, p->v, p->ldv,
		   p->vt, 0.0, dp + (size_t)(r.i0 * d->S) * es, d->S);
	}
}

/* dq += scale dS k, dk += scale dS^T q (dS in ds), from the last block */
static void bwd_dqk(const sdpa_dims *d, nb_dtype dt, const bh_ptrs *p,
                    const char *ds)
{
	size_t es = nb_dtype_size(dt);
	int64_t nb = n_blocks(d), ldq = p->ldq, ldk = p->ldk;
	for (int64_t b = nb - 1; b >= 0; b--) {
		rblk r = block_at(d, b);
		const char *db = ds + (size_t)(r.i0 * d->S) * es;
		if (p->dq)
			mm(d, dt, NB__TRI_KHI, false, false, r.n, d->E, r.c,
			   d->scale, db, d->S, p->k, ldk, NULL, p->bq,
			   p->dq + (size_t)(r.i0 * ldq) * es, ldq);
		if (p->dk)
			mm(d, dt, NB__TRI_KLO, true, false, r.c, d->E, r.n,
			   d->scale, db, d->S,
			   p->q + (size_t)(r.i0 * ldq) * es, ldq, NULL,
			   b == nb - 1 ? p->bk : 1.0, p->dk, ldk);
	}
	if (p->dk && p->bk == 0.0)
		zero_unseen(d, p->dk, es, ldk, d->E);
}

/* One batch-head of backward; p and dp are [L, S] scratch, pd (dropout
 * only) a third, kept forward's P (sdpa_saved) or NULL, keep the
 * replayed mask or NULL, tr the transposes' scratch (bt_scratch) for k
 * and v. */
static void sdpa_backward_bh(nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                             const void *lse, void *p, const void *kept,
                             void *dp, void *pd, const unsigned char *keep,
                             double ks, float *const *tr,
                             const nb_tensor *gout, nb_tensor *const *gin)
{
	nb_dtype dt = c->in[0]->dtype;
	size_t blk = (size_t)(d->L * d->S);
	bh_ptrs ptr = ptrs_of(c, d, bh, gout, gin);
	ptr.kt = tr[0];
	ptr.vt = tr[1];
	if (kept) {
		p = (void *)kept; /* read only */
	} else {
		blk_masks bm;
		masks_of(c, d, bh, &bm);
		scores(c, d, bh, p, ptr.kt);
		if (dt == NB_F32)
			recompute_float(p, lse, d->L, d->S, &bm);
		else
			recompute_double(p, lse, d->L, d->S, &bm);
	}
	const void *pv = p; /* the weights that multiplied v */
	if (keep) {
		if (dt == NB_F32)
			apply_keep_float(pd, p, keep, blk, (float)ks);
		else
			apply_keep_double(pd, p, keep, blk, ks);
		pv = pd;
	}
	/* dP = dO v^T, then dS = P (dP - rowsum(dP P)) in its place;
	 * first, as dscores reads P row by row, in the order the hardware
	 * prefetches it from far memory when it is kept, and leaves it in
	 * L1 for dv's product, which reads it by columns */
	bool dqk = ptr.dq || ptr.dk;
	if (dqk) {
		bwd_dp(d, dt, &ptr, dp);
		if (dt == NB_F32)
			dscores_float(p, dp, keep, d->L, d->S, (float)ks,
			              d->causal, d->small ? KEPT_ZEROS : d->S);
		else
			dscores_double(p, dp, keep, d->L, d->S, ks, d->causal,
			               d->S);
	}
	if (ptr.dv)
		bwd_dv(d, dt, &ptr, pv);
	if (dqk)
		bwd_dqk(d, dt, &ptr, dp);
}

static nb_status sdpa_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const sdpa_saved *sv = c->saved;
	nb_dtype dt = c->in[0]->dtype;
	size_t es = nb_dtype_size(dt);
	sdpa_dims d;
	dims_of(c, &d);
	size_t blk = (size_t)(d.L * d.S);
	int64_t shp[2] = {d.L, d.S};
	const char *kept = sv->p_off ? (const char *)sv + sv->p_off : NULL;
	nb_tensor *p = kept ? NULL : nb_op_scratch(c, dt, 2, shp);
	nb_tensor *dp = nb_op_scratch(c, dt, 2, shp);
	nb_tensor *pd = sv->dropout ? nb_op_scratch(c, dt, 2, shp) : NULL;
	nb_tensor *kt = sv->dropout ? nb_op_scratch(c, NB_BOOL, 2, shp) : NULL;
	float *tr[2] = {bt_scratch(c, &d, d.E), bt_scratch(c, &d, d.Ev)};
	if ((!kept && !p) || !dp || (sv->dropout && (!pd || !kt)) || !tr[0] ||
	    !tr[1])
		return NB_ENOMEM;
	unsigned char *keep = kt ? kt->data : NULL;
	nb_rng rng = sv->rng; /* replays forward's draws */
	const char *lse = (const char *)sv + sv->lse_off;
	for (size_t bh = 0; bh < d.nbh; bh++) {
		if (keep)
			nb__rng_keep_mask(&rng, keep, blk,
			                  1 - ((const sdpa_attrs *)c->attrs)->dropout_p);
		sdpa_backward_bh(c, &d, bh, lse + bh * (size_t)d.L * es,
		                 p ? p->data : NULL,
		                 kept ? kept + bh * blk * es : NULL, dp->data,
		                 pd ? pd->data : NULL, keep, sv->keep_scale, tr,
		                 gout, gin);
	}
	return NB_OK;
}

static const nb_input_def sdpa_inputs[] = {
	{.name = "query", .doc = "[..., L, E]"},
	{.name = "key", .doc = "[..., S, E]"},
	{.name = "value", .doc = "[..., S, Ev]"},
	{.name = "attn_mask", .flags = NB_IN_OPTIONAL | NB_IN_BOOL,
	 .doc = "bool, broadcast to [..., L, S]: true where query i may "
	        "attend to key j"},
	{.name = "attn_bias", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF,
	 .doc = "float, broadcast to [..., L, S]: added to the scores "
	        "(-inf excludes)"},
};

static const nb_op_test sdpa_test = {
	.cases = "[2,3,4] [2,5,4] [2,5,3] [1]- [1]-; "
	         "[2,3,4] [2,5,4] [2,5,3] [3,5]b [1]-; "
	         "[2,2,4,3] [2,2,4,3] [2,2,4,2] [1]- [2,1,4,4]c|causal=1; "
	         "[2,3,4] [2,5,4] [2,5,3] [2,1,5]b [3,5]c|scale=0.7; "
	         "[2,4,3] [2,4,3] [2,4,3] [1]- [1]-|dropout_p=0.3; "
	         "[5,4] [5,4] [5,2] [1]- [1]-|causal=1 dropout_p=0.5; "
	         "[2,3,6] [2,4,6] [2,4,4] [2,1,1,4]b [3,4]c|num_heads=2; "
	         "[3,6] [3,6] [3,9] [1]- [3,3,3]c|num_heads=3 causal=1; "
	         /* causal in several blocks of rows; S > L and S < L */
	         "[18,2] [24,2] [24,3] [1]- [1]-|causal=1; "
	         "[34,2] [20,2] [20,1] [34,20]b [1]-|causal=1 dropout_p=0.2",
};

static const nb_op sdpa_op = {
	.version = NB_OP_VERSION,
	.name = "scaled_dot_product_attention",
	.kind = NB_KIND_LINALG,
	.doc = "softmax(q k^T scale + bias, masked) v, fused; dropout on the "
	       "weights",
	.inputs = sdpa_inputs,
	.n_inputs = 5,
	.attrs = sdpa_defs,
	.n_attrs = (int)(sizeof sdpa_defs / sizeof *sdpa_defs),
	.attrs_size = sizeof(sdpa_attrs),
	.flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,
	.shape = sdpa_shape,
	.forward = sdpa_forward,
	.backward = sdpa_backward,
	.test = &sdpa_test,
};

static const nb_input_def packed_inputs[] = {
	{.name = "qkv", .doc = "[..., L, 3 H E]: q, k, v side by side"},
	{.name = "attn_mask", .flags = NB_IN_OPTIONAL | NB_IN_BOOL,
	 .doc = "bool, broadcast to [..., (H,) L, L]: true where query i may "
	        "attend to key j"},
	{.name = "attn_bias", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF,
	 .doc = "float, broadcast to [..., (H,) L, L]: added to the scores "
	        "(-inf excludes)"},
};

static const nb_op_test packed_test = {
	.cases = "[2,3,12] [1]- [1]-; "
	         "[2,3,12] [3,3]b [1]-|causal=1; "
	         "[2,2,4,9] [1]- [2,1,4,4]c|causal=1 scale=0.7; "
	         "[2,4,12] [2,1,1,4]b [1]-|num_heads=2; "
	         "[4,18] [1]- [3,4,4]c|num_heads=3 causal=1; "
	         "[5,6] [1]- [1]-|causal=1 dropout_p=0.5; "
	         /* causal in several blocks of rows */
	         "[18,12] [1]- [1]-|causal=1 num_heads=2",
};

/* The same kernels as scaled_dot_product_attention, reading q, k and v
 * where a packed in-projection (x W^T with W = [Wq; Wk; Wv]) leaves
 * them, and writing their gradients there: self-attention with no
 * copies into q, k and v and no sum of their gradients back. */
static const nb_op packed_op = {
	.version = NB_OP_VERSION,
	.name = "scaled_dot_product_attention_packed",
	.kind = NB_KIND_LINALG,
	.doc = "scaled_dot_product_attention of q, k, v packed side by side "
	       "in one input [..., L, 3 H E] (self-attention)",
	.inputs = packed_inputs,
	.n_inputs = 3,
	.attrs = sdpa_defs,
	.n_attrs = (int)(sizeof sdpa_defs / sizeof *sdpa_defs),
	.attrs_size = sizeof(sdpa_attrs),
	.flags = NB_OP_RANDOM | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,
	.shape = packed_shape,
	.forward = sdpa_forward,
	.backward = sdpa_backward,
	.test = &packed_test,
};

const nb_op *const nb__attention_ops[] = {&sdpa_op, &packed_op, NULL};

nb_tensor *nb_scaled_dot_product_attention(nb_graph *g, nb_tensor *q,
                                           nb_tensor *k, nb_tensor *v,
                                           nb_tensor *attn_mask,
                                           nb_tensor *attn_bias, bool causal,
                                           double dropout_p, double scale,
                                           int64_t num_heads)
{
	sdpa_attrs a = {.causal = causal, .dropout_p = dropout_p,
	                .scale = scale, .num_heads = num_heads};
	return nb_apply(g, &sdpa_op, 5,
	                (nb_tensor *[]){q, k, v, attn_mask, attn_bias}, &a);
}

nb_tensor *nb_scaled_dot_product_attention_packed(nb_graph *g, nb_tensor *qkv,
                                                  nb_tensor *attn_mask,
                                                  nb_tensor *attn_bias,
                                                  bool causal,
                                                  double dropout_p,
                                                  double scale,
                                                  int64_t num_heads)
{
	sdpa_attrs a = {.causal = causal, .dropout_p = dropout_p,
	                .scale = scale, .num_heads = num_heads};
	return nb_apply(g, &packed_op, 3,
	                (nb_tensor *[]){qkv, attn_mask, attn_bias}, &a);
}
