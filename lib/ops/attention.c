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
 */
#include "vecmath.h" /* before <math.h>: exp and log vectorize */
#include "elementwise.h"

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
 * H Ev. */
typedef struct sdpa_dims {
	size_t nbh;                 /* batch-heads: batch items times H */
	int64_t L, S, E, Ev, H;
	double scale;
	bool causal;
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

static void dims_of(const nb_op_ctx *c, sdpa_dims *d)
{
	const nb_tensor *q = c->in[0], *k = c->in[1], *v = c->in[2];
	const nb_tensor *m = c->n_in > 3 ? c->in[3] : NULL;
	const nb_tensor *b = c->n_in > 4 ? c->in[4] : NULL;
	const sdpa_attrs *a = c->attrs;
	int n = q->ndim;
	d->H = a->num_heads;
	d->L = q->shape[n - 2];
	d->E = q->shape[n - 1] / d->H;
	d->S = k->shape[n - 2];
	d->Ev = v->shape[n - 1] / d->H;
	d->nbh = nb__numel(n - 2, q->shape) * (size_t)d->H;
	d->scale = a->scale > 0 ? a->scale
	         : d->E > 0 ? 1 / sqrt((double)d->E) : 1;
	d->causal = a->causal;
	scores_shape(q, k, d->H, &d->nd, d->sshape);
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
	res->shape[n - 1] = v->shape[n - 1];
	return NB_OK;
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
 * then the row log-sum-exps (nbh * L elements) at lse_off bytes. */
typedef struct sdpa_saved {
	nb_rng rng;
	bool dropout;
	double keep_scale; /* 1 / (1 - p), 0 for p = 1 */
	size_t lse_off;
} sdpa_saved;

/*
 * Kernels for one [L, S] block s holding scale q k^T:
 *   fwd_rows: masks applied, then the row softmax in place; lse[i] the
 *             row's log-sum-exp (-inf for a fully masked row: P = 0);
 *   recompute: P = exp(masked s - lse) in place;
 *   apply_keep: x *= keep m;
 *   dscores:  dp (= dO v^T) -> dS = P (dP - rowsum(dP P)) into p, with
 *             the keep mask applied to dp first when m is not NULL;
 *             causal rows read only the columns they see (dp holds
 *             nothing beyond them).
 */
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
	static void fwd_rows_##T(T *s, T *lse, int64_t L, int64_t S,         \
	                         const blk_masks *bm)                        \
	{                                                                    \
		for (int64_t i = 0; i < L; i++) {                            \
			T *r = s + i * S, mx = -(T)INFINITY, sum = 0;        \
			int64_t n = live_##T(r, i, S, bm);                   \
			/* A NaN score makes the row NaN (not "fully masked"). */ \
			for (int64_t j = 0; j < n; j++)                      \
				mx = r[j] > mx || r[j] != r[j] ? r[j] : mx;  \
			if (mx == -(T)INFINITY) { /* fully masked */         \
				for (int64_t j = 0; j < n; j++)              \
					r[j] = 0;                            \
				lse[i] = -(T)INFINITY;                       \
				continue;                                    \
			}                                                    \
			for (int64_t j = 0; j < n; j++)                      \
				r[j] = EXP(r[j] - mx); /* vectorizes */      \
			for (int64_t j = 0; j < n; j++)                      \
				sum += r[j];                                 \
			T inv = 1 / sum;                                     \
			for (int64_t j = 0; j < n; j++)                      \
				r[j] *= inv;                                 \
			lse[i] = mx + LOG(sum);                              \
		}                                                            \
	}                                                                    \
	static void recompute_##T(T *s, const T *lse, int64_t L, int64_t S,  \
	                          const blk_masks *bm)                       \
	{                                                                    \
		for (int64_t i = 0; i < L; i++) {                            \
			T *r = s + i * S;                                    \
			int64_t n = live_##T(r, i, S, bm);                   \
			if (lse[i] == -(T)INFINITY) {                        \
				for (int64_t j = 0; j < n; j++)              \
					r[j] = 0;                            \
				continue;                                    \
			}                                                    \
			for (int64_t j = 0; j < n; j++)                      \
				r[j] = EXP(r[j] - lse[i]);                   \
		}                                                            \
	}                                                                    \
	static void apply_keep_##T(T *x, const T *p, const unsigned char *m, \
	                           size_t n, T keep) /* x may be p */        \
	{                                                                    \
		for (size_t i = 0; i < n; i++)                               \
			x[i] = m[i] ? p[i] * keep : 0;                       \
	}                                                                    \
	static void dscores_##T(T *restrict p, T *restrict dp,               \
	                        const unsigned char *restrict m, int64_t L,  \
	                        int64_t S, T keep, bool causal)              \
	{                                                                    \
		for (int64_t i = 0; i < L; i++) {                            \
			T *pr = p + i * S, *dr = dp + i * S, dot = 0;        \
			int64_t n = causal && i + 1 < S ? i + 1 : S;         \
			if (m) {                                             \
				const unsigned char *mr = m + i * S;         \
				for (int64_t j = 0; j < n; j++)              \
					dr[j] = mr[j] ? dr[j] * keep : 0;    \
			}                                                    \
			for (int64_t j = 0; j < n; j++)                      \
				dot += dr[j] * pr[j];                        \
			for (int64_t j = 0; j < n; j++)                      \
				pr[j] = pr[j] * (dr[j] - dot);               \
		}                                                            \
	}
SDPA_KERNELS(float, expf, logf)
SDPA_KERNELS(double, exp, log)

/* The masks of batch-head bh (element offsets from the broadcast
 * strides; the scores' last two axes are L then S). */
static void masks_of(const nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                     blk_masks *bm)
{
	const nb_tensor *m = c->n_in > 3 ? c->in[3] : NULL;
	const nb_tensor *b = c->n_in > 4 ? c->in[4] : NULL;
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
 * rows of H w columns (its head's columns start there). */
static size_t head_off(const sdpa_dims *d, size_t bh, int64_t n, int64_t w)
{
	size_t b = bh / (size_t)d->H, h = bh % (size_t)d->H;
	return (b * (size_t)n * (size_t)d->H + h) * (size_t)w;
}

/*
 * Causal attention works in blocks of CAUSAL_ROWS queries: block
 * [i0, i1) sees keys [0, min(S, i1)) only, so the products skip most of
 * the upper triangle (3/8 of each at L = S = 64).  Without causal there
 * is one block of all rows and keys.
 */
#define CAUSAL_ROWS 16

typedef struct rblk {
	int64_t i0, n, c; /* rows [i0, i0 + n), keys [0, c) */
} rblk;

static int64_t n_blocks(const sdpa_dims *d)
{
	return !d->causal ? (d->L > 0) : (d->L + CAUSAL_ROWS - 1) / CAUSAL_ROWS;
}

static rblk block_at(const sdpa_dims *d, int64_t b)
{
	rblk r = {0, d->L, d->S};
	if (d->causal) {
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

/* s = scale q_bh k_bh^T, [L, S], the blocks' parts */
static void scores(const nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                   char *s)
{
	const nb_tensor *q = c->in[0], *k = c->in[1];
	size_t es = nb_dtype_size(q->dtype);
	int64_t ld = d->H * d->E;
	const char *qb = (const char *)q->data + head_off(d, bh, d->L, d->E) * es;
	const char *kb = (const char *)k->data + head_off(d, bh, d->S, d->E) * es;
	for (int64_t b = 0; b < n_blocks(d); b++) {
		rblk r = block_at(d, b);
		nb__gemm(q->dtype, false, true, r.n, r.c, d->E, d->scale,
		         qb + (size_t)(r.i0 * ld) * es, ld, kb, ld, 0.0,
		         s + (size_t)(r.i0 * d->S) * es, d->S);
	}
}

static nb_status sdpa_forward(nb_op_ctx *c)
{
	const nb_tensor *v = c->in[2];
	const sdpa_attrs *a = c->attrs;
	nb_dtype dt = v->dtype;
	size_t es = nb_dtype_size(dt);
	sdpa_dims d;
	dims_of(c, &d);
	size_t blk = (size_t)(d.L * d.S);
	size_t off = (sizeof(sdpa_saved) + 63) / 64 * 64;
	sdpa_saved *sv = nb_op_save(c, off + d.nbh * (size_t)d.L * es);
	nb_tensor *s = nb_op_scratch(c, dt, 2, (int64_t[]){d.L, d.S});
	if (!sv || !s)
		return NB_ENOMEM;
	unsigned char *keep = NULL;
	sv->lse_off = off;
	sv->dropout = nb_op_training(c) && a->dropout_p > 0;
	sv->keep_scale = a->dropout_p < 1 ? 1 / (1 - a->dropout_p) : 0;
	if (sv->dropout) {
		sv->rng = *nb_op_rng(c);
		nb_tensor *kt = nb_op_scratch(c, NB_BOOL, 2,
		                              (int64_t[]){d.L, d.S});
		if (!kt)
			return NB_ENOMEM;
		keep = kt->data;
	}
	char *lse = (char *)sv + off;
	for (size_t bh = 0; bh < d.nbh; bh++) {
		blk_masks bm;
		masks_of(c, &d, bh, &bm);
		scores(c, &d, bh, s->data);
		void *lr = lse + bh * (size_t)d.L * es;
		if (dt == NB_F32)
			fwd_rows_float(s->data, lr, d.L, d.S, &bm);
		else
			fwd_rows_double(s->data, lr, d.L, d.S, &bm);
		if (sv->dropout) {
			nb__rng_keep_mask(nb_op_rng(c), keep, blk,
			                  1 - a->dropout_p);
			if (dt == NB_F32)
				apply_keep_float(s->data, s->data, keep, blk,
				                 (float)sv->keep_scale);
			else
				apply_keep_double(s->data, s->data, keep, blk,
				                  sv->keep_scale);
		}
		int64_t ldv = d.H * d.Ev;
		char *ob = (char *)c->out->data +
		           head_off(&d, bh, d.L, d.Ev) * es;
		for (int64_t b = 0; b < n_blocks(&d); b++) {
			rblk r = block_at(&d, b);
			nb__gemm(dt, false, false, r.n, d.Ev, r.c, 1.0,
			         (char *)s->data + (size_t)(r.i0 * d.S) * es, d.S,
			         (const char *)v->data +
			         head_off(&d, bh, d.S, d.Ev) * es, ldv, 0.0,
			         ob + (size_t)(r.i0 * ldv) * es, ldv);
		}
	}
	return NB_OK;
}

/* The pointers and sizes of one batch-head's backward. */
typedef struct bh_ptrs {
	const char *q, *k, *v, *go;
	char *dq, *dk, *dv;    /* NULL: not wanted */
	int64_t ldk, ldv;
	double bq, bk, bv;     /* beta of the first write: 0 when fresh */
} bh_ptrs;

static bh_ptrs ptrs_of(const nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                       const nb_tensor *gout, nb_tensor *const *gin)
{
	size_t es = nb_dtype_size(c->in[0]->dtype);
	size_t oq = head_off(d, bh, d->L, d->E) * es;
	size_t ok = head_off(d, bh, d->S, d->E) * es;
	size_t ov = head_off(d, bh, d->S, d->Ev) * es;
	bh_ptrs p = {
		.q = (const char *)c->in[0]->data + oq,
		.k = (const char *)c->in[1]->data + ok,
		.v = (const char *)c->in[2]->data + ov,
		.go = (const char *)gout->data + head_off(d, bh, d->L, d->Ev) * es,
		.dq = gin[0] ? (char *)gin[0]->data + oq : NULL,
		.dk = gin[1] ? (char *)gin[1]->data + ok : NULL,
		.dv = gin[2] ? (char *)gin[2]->data + ov : NULL,
		.ldk = d->H * d->E, .ldv = d->H * d->Ev,
		/* beta 0 writes a fresh gradient: dq's rows are written by
		 * one product each, dk's and dv's first by the last block,
		 * which sees the most keys (an empty product writes zeros:
		 * nb__gemm zeroes C when the inner size is 0), and the rows
		 * no block sees by zero_unseen */
		.bq = c->fresh & 1 ? 0.0 : 1.0, .bk = c->fresh & 2 ? 0.0 : 1.0,
		.bv = c->fresh & 4 ? 0.0 : 1.0,
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
		nb__gemm(dt, true, false, r.c, d->Ev, r.n, 1.0,
		         pv + (size_t)(r.i0 * d->S) * es, d->S,
		         p->go + (size_t)(r.i0 * p->ldv) * es, p->ldv,
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
	for (int64_t b = 0; b < n_blocks(d); b++) {
		rblk r = block_at(d, b);
		nb__gemm(dt, false, true, r.n, r.c, d->Ev, 1.0,
		         p->go + (size_t)(r.i0 * p->ldv) * es, p->ldv, p->v,
		         p->ldv, 0.0, dp + (size_t)(r.i0 * d->S) * es, d->S);
	}
}

/* dq += scale dS k, dk += scale dS^T q (dS in ds), from the last block */
static void bwd_dqk(const sdpa_dims *d, nb_dtype dt, const bh_ptrs *p,
                    const char *ds)
{
	size_t es = nb_dtype_size(dt);
	int64_t nb = n_blocks(d), ld = p->ldk;
	for (int64_t b = nb - 1; b >= 0; b--) {
		rblk r = block_at(d, b);
		const char *db = ds + (size_t)(r.i0 * d->S) * es;
		if (p->dq)
			nb__gemm(dt, false, false, r.n, d->E, r.c, d->scale, db,
			         d->S, p->k, ld, p->bq,
			         p->dq + (size_t)(r.i0 * ld) * es, ld);
		if (p->dk)
			nb__gemm(dt, true, false, r.c, d->E, r.n, d->scale, db,
			         d->S, p->q + (size_t)(r.i0 * ld) * es, ld,
			         b == nb - 1 ? p->bk : 1.0, p->dk, ld);
	}
	if (p->dk && p->bk == 0.0)
		zero_unseen(d, p->dk, es, ld, d->E);
}

/* One batch-head of backward; p and dp are [L, S] scratch, pd (dropout
 * only) a third, keep the replayed mask or NULL. */
static void sdpa_backward_bh(nb_op_ctx *c, const sdpa_dims *d, size_t bh,
                             const void *lse, void *p, void *dp, void *pd,
                             const unsigned char *keep, double ks,
                             const nb_tensor *gout, nb_tensor *const *gin)
{
	nb_dtype dt = c->in[0]->dtype;
	size_t blk = (size_t)(d->L * d->S);
	bh_ptrs ptr = ptrs_of(c, d, bh, gout, gin);
	blk_masks bm;
	masks_of(c, d, bh, &bm);
	scores(c, d, bh, p);
	if (dt == NB_F32)
		recompute_float(p, lse, d->L, d->S, &bm);
	else
		recompute_double(p, lse, d->L, d->S, &bm);
	const void *pv = p; /* the weights that multiplied v */
	if (keep) {
		if (dt == NB_F32)
			apply_keep_float(pd, p, keep, blk, (float)ks);
		else
			apply_keep_double(pd, p, keep, blk, ks);
		pv = pd;
	}
	if (ptr.dv)
		bwd_dv(d, dt, &ptr, pv);
	if (!ptr.dq && !ptr.dk)
		return;
	/* dP = dO v^T, then dS = P (dP - rowsum(dP P)) into p */
	bwd_dp(d, dt, &ptr, dp);
	if (dt == NB_F32)
		dscores_float(p, dp, keep, d->L, d->S, (float)ks, d->causal);
	else
		dscores_double(p, dp, keep, d->L, d->S, ks, d->causal);
	bwd_dqk(d, dt, &ptr, p);
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
	nb_tensor *p = nb_op_scratch(c, dt, 2, shp);
	nb_tensor *dp = nb_op_scratch(c, dt, 2, shp);
	nb_tensor *pd = sv->dropout ? nb_op_scratch(c, dt, 2, shp) : NULL;
	nb_tensor *kt = sv->dropout ? nb_op_scratch(c, NB_BOOL, 2, shp) : NULL;
	if (!p || !dp || (sv->dropout && (!pd || !kt)))
		return NB_ENOMEM;
	unsigned char *keep = kt ? kt->data : NULL;
	nb_rng rng = sv->rng; /* replays forward's draws */
	const char *lse = (const char *)sv + sv->lse_off;
	for (size_t bh = 0; bh < d.nbh; bh++) {
		if (keep)
			nb__rng_keep_mask(&rng, keep, blk,
			                  1 - ((const sdpa_attrs *)c->attrs)->dropout_p);
		sdpa_backward_bh(c, &d, bh, lse + bh * (size_t)d.L * es, p->data,
		                 dp->data, pd ? pd->data : NULL, keep,
		                 sv->keep_scale, gout, gin);
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

const nb_op *const nb__attention_ops[] = {&sdpa_op, NULL};

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
