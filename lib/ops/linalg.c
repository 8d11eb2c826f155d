/*
 * linalg.c - matmul (2-D, batched with broadcast batch axes, 1-D
 * operands as NumPy promotes them) and linear (x W^T + b).  Every matrix
 * product goes to nb__gemm, with transposes passed as flags, never
 * copied: for C = A B,  dA += dC B^T  and  dB += A^T dC.
 */
#include "elementwise.h"

/* Shapes after promoting 1-D operands: a [.., n, k], b [.., k, m]. */
typedef struct mm_dims {
	int nbatch;                 /* rank of the broadcast batch shape */
	int64_t batch[NB_MAX_DIMS]; /* broadcast batch shape */
	int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS]; /* batch strides, 0 = bcast */
	int64_t n, k, m;
} mm_dims;

static bool mm_dims_of(const nb_tensor *a, const nb_tensor *b, mm_dims *d)
{
	int64_t as[NB_MAX_DIMS + 1], bs[NB_MAX_DIMS + 1];
	int na = a->ndim, nb = b->ndim;
	memcpy(as, a->shape, (size_t)na * sizeof *as);
	memcpy(bs, b->shape, (size_t)nb * sizeof *bs);
	if (na == 1) { /* [k] -> [1, k] */
		as[1] = as[0];
		as[0] = 1;
		na = 2;
	}
	if (nb == 1) { /* [k] -> [k, 1] */
		bs[1] = 1;
		nb = 2;
	}
	d->n = as[na - 2];
	d->k = as[na - 1];
	d->m = bs[nb - 1];
	if (bs[nb - 2] != d->k)
		return false;
	if (!nb__broadcast_shape(na - 2, as, nb - 2, bs, &d->nbatch, d->batch))
		return false;
	int64_t sa[NB_MAX_DIMS], sb[NB_MAX_DIMS];
	nb__broadcast_strides(na - 2, as, d->nbatch, d->batch, sa);
	nb__broadcast_strides(nb - 2, bs, d->nbatch, d->batch, sb);
	for (int i = 0; i < d->nbatch; i++) {
		d->sa[i] = sa[i] * d->n * d->k;
		d->sb[i] = sb[i] * d->k * d->m;
	}
	return true;
}

static nb_status matmul_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	mm_dims d;
	if (a->ndim == 0 || b->ndim == 0)
		return nb_op_fail(c, NB_ESHAPE, "operands must have at least "
		                  "one axis");
	if (!mm_dims_of(a, b, &d))
		return nb_op_fail(c, NB_ESHAPE, "inner sizes differ or batch "
		                  "axes cannot be broadcast");
	int n = d.nbatch;
	memcpy(res->shape, d.batch, (size_t)n * sizeof *res->shape);
	if (a->ndim > 1)
		res->shape[n++] = d.n;
	if (b->ndim > 1)
		res->shape[n++] = d.m;
	res->ndim = n;
	return NB_OK;
}

/* The number of batch items: 1 without batch axes, 0 with an empty one. */
static size_t batch_count(const mm_dims *d)
{
	return nb__numel(d->nbatch, d->batch);
}

/* The element offsets of batch item bi (row-major over d->batch) in A
 * and B; broadcast axes contribute nothing.  C's is bi * n * m. */
static void batch_offsets(const mm_dims *d, size_t bi, int64_t *oa,
                          int64_t *ob)
{
	size_t r = bi;
	*oa = 0;
	*ob = 0;
	for (int q = d->nbatch - 1; q >= 0; q--) {
		int64_t ix = (int64_t)(r % (size_t)d->batch[q]);
		r /= (size_t)d->batch[q];
		*oa += ix * d->sa[q];
		*ob += ix * d->sb[q];
	}
}

static nb_status matmul_forward(nb_op_ctx *c)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	mm_dims d;
	size_t es = nb_dtype_size(a->dtype);
	mm_dims_of(a, b, &d);
	const char *ap = a->data, *bp = b->data;
	char *cp = c->out->data;
	size_t nbi = batch_count(&d);
	for (size_t bi = 0; bi < nbi; bi++) {
		int64_t oa, ob;
		batch_offsets(&d, bi, &oa, &ob);
		nb__gemm(a->dtype, false, false, d.n, d.m, d.k, 1.0,
		         ap + (size_t)oa * es, d.k, bp + (size_t)ob * es, d.m,
		         0.0, cp + bi * (size_t)(d.n * d.m) * es, d.m);
	}
	return NB_OK;
}

static nb_status matmul_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	const nb_tensor *a = c->in[0], *b = c->in[1];
	mm_dims d;
	size_t es = nb_dtype_size(a->dtype);
	mm_dims_of(a, b, &d);
	const char *ap = a->data, *bp = b->data, *gp = gout->data;
	size_t nbi = batch_count(&d);
	/* Broadcast batch items accumulate into the same slice (beta 1).
	 * All of dA before dB: for matmul(x, x) both may be one buffer. */
	for (size_t bi = 0; gin[0] && bi < nbi; bi++) { /* dA += dC B^T */
		int64_t oa, ob;
		char *ga = gin[0]->data;
		batch_offsets(&d, bi, &oa, &ob);
		nb__gemm(a->dtype, false, true, d.n, d.k, d.m, 1.0,
		         gp + bi * (size_t)(d.n * d.m) * es, d.m,
		         bp + (size_t)ob * es, d.m, 1.0, ga + (size_t)oa * es,
		         d.k);
	}
	for (size_t bi = 0; gin[1] && bi < nbi; bi++) { /* dB += A^T dC */
		int64_t oa, ob;
		char *gb = gin[1]->data;
		batch_offsets(&d, bi, &oa, &ob);
		nb__gemm(a->dtype, true, false, d.k, d.m, d.n, 1.0,
		         ap + (size_t)oa * es, d.k,
		         gp + bi * (size_t)(d.n * d.m) * es, d.m, 1.0,
		         gb + (size_t)ob * es, d.m);
	}
	return NB_OK;
}

static const nb_input_def matmul_inputs[] = {
	{.name = "input", .doc = "[..., n, k] or [k]"},
	{.name = "other", .doc = "[..., k, m] or [k]"},
};

static const nb_op_test matmul_test = {
	.cases = "[3,4] [4,5]; [2,3,4] [4,2]; [4] [4,3]; [3,4] [4]; "
	         "[2,1,3,4] [3,4,2]; [4] [4]",
};

static const nb_op matmul_op = {
	.version = NB_OP_VERSION, .name = "matmul", .kind = NB_KIND_LINALG,
	.doc = "matrix product, batched and broadcast as in NumPy",
	.inputs = matmul_inputs, .n_inputs = 2, .flags = NB_OP_WRITES_OUTPUT,
	.shape = matmul_shape, .forward = matmul_forward,
	.backward = matmul_backward, .test = &matmul_test,
};

/* ---- linear: y = x W^T + b ---- */

static nb_status linear_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
	if (w->ndim != 2)
		return nb_op_fail(c, NB_ESHAPE, "weight must be [out, in]");
	if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
		return nb_op_fail(c, NB_ESHAPE, "the input's last axis must be "
		                  "%lld (weight's in)", (long long)w->shape[1]);
	if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
		return nb_op_fail(c, NB_ESHAPE, "bias must be [%lld]",
		                  (long long)w->shape[0]);
	res->shape[res->ndim - 1] = w->shape[0];
	return NB_OK;
}

#define ADD_BIAS_T(T)                                                        \
	/* y[r, :] = b, or += b with add, for each of rows rows of n */      \
	static void put_bias_##T(T *restrict y, const T *restrict b,         \
	                         size_t rows, size_t n, bool add)            \
	{                                                                    \
		for (size_t r = 0; r < rows; r++)                            \
			if (add)                                             \
				for (size_t j = 0; j < n; j++)               \
					y[r * n + j] += b[j];                \
			else                                                 \
				memcpy(y + r * n, b, n * sizeof *b);         \
	}                                                                    \
	/* gb += column sums of g (gb zeroed first when fresh) */            \
	static void bias_grad_##T(T *gb, const T *g, size_t rows, size_t n,  \
	                          bool fresh)                                \
	{                                                                    \
		if (fresh)                                                   \
			for (size_t j = 0; j < n; j++)                       \
				gb[j] = 0;                                   \
		for (size_t r = 0; r < rows; r++)                            \
			for (size_t j = 0; j < n; j++)                       \
				gb[j] += g[r * n + j];                       \
	}
ADD_BIAS_T(float)
ADD_BIAS_T(double)

static void put_bias(nb_dtype dt, void *y, const void *b, size_t rows,
                     size_t n, bool add)
{
	if (dt == NB_F32)
		put_bias_float(y, b, rows, n, add);
	else
		put_bias_double(y, b, rows, n, add);
}

static nb_status linear_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
	int64_t in = w->shape[1], out = w->shape[0];
	size_t rows = in ? x->numel / (size_t)in
	                 : c->out->numel / (size_t)(out ? out : 1);
	/* Where the product zeroes y itself for beta 0 (OpenBLAS), b goes
	 * into y first and the product adds to it (beta 1), as PyTorch's
	 * addmm, saving that pass.  Where it writes y from its sums
	 * (oneDNN), the product goes first and b is added after, while y
	 * is in cache: y is memory the step has not touched since the last
	 * one, and copying b in first paid for bringing it in alone, where
	 * the product hides that behind its arithmetic (issue 18: gpt_tiny's
	 * 17 linears' time beyond their products 2.1-2.6 -> 1.1-1.6 ms per
	 * step, the products no slower). */
	bool first = b && nb__gemm_zeroes_c(x->dtype, false, true,
	                                    (int64_t)rows, out, in);
	if (first)
		put_bias(x->dtype, c->out->data, b->data, rows, (size_t)out,
		         false);
	nb__gemm(x->dtype, false, true, (int64_t)rows, out, in, 1.0, x->data,
	         in, w->data, in, first ? 1.0 : 0.0, c->out->data, out);
	if (b && !first)
		put_bias(x->dtype, c->out->data, b->data, rows, (size_t)out,
		         true);
	return NB_OK;
}

static nb_status linear_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	int64_t in = w->shape[1], out = w->shape[0];
	size_t rows = out ? gout->numel / (size_t)out : 0;
	/* beta 0 writes a fresh gradient (every element, even for an
	 * empty sum: nb__gemm zeroes C then), beta 1 adds into it */
	if (gin[0]) /* dx += dy W */
		nb__gemm(x->dtype, false, false, (int64_t)rows, in, out, 1.0,
		         gout->data, out, w->data, in, c->fresh & 1 ? 0.0 : 1.0,
		         gin[0]->data, in);
	if (gin[1]) /* dW += dy^T x */
		nb__gemm(x->dtype, true, false, out, in, (int64_t)rows, 1.0,
		         gout->data, out, x->data, in, c->fresh & 2 ? 0.0 : 1.0,
		         gin[1]->data, in);
	bool fb = c->fresh & 4;
	if (gin[2] && x->dtype == NB_F32)
		bias_grad_float(gin[2]->data, gout->data, rows, (size_t)out, fb);
	else if (gin[2])
		bias_grad_double(gin[2]->data, gout->data, rows, (size_t)out,
		                 fb);
	return NB_OK;
}

/* linear's weight and bias are made by nb_linear_layer, not by an op
 * layer (NB_FILL_NONE). */
static const nb_input_def linear_inputs[] = {
	{.name = "input", .doc = "[..., in]"},
	{.name = "weight", .role = NB_ROLE_PARAM, .fill = NB_FILL_NONE,
	 .doc = "[out, in]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .fill = NB_FILL_NONE, .doc = "[out]"},
};

static const nb_op_test linear_test = {
	.cases = "[3,4] [5,4] [5]; [2,3,4] [5,4] [5]; [3,4] [2,4] [2]-",
};

static const nb_op linear_op = {
	.version = NB_OP_VERSION, .name = "linear", .kind = NB_KIND_LINALG,
	.doc = "x W^T + b (b optional)", .inputs = linear_inputs,
	.n_inputs = 3, .flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,
	.shape = linear_shape, .forward = linear_forward,
	.backward = linear_backward, .test = &linear_test,
};

const nb_op *const nb__linalg_ops[] = {&matmul_op, &linear_op, NULL};

nb_tensor *nb_matmul(nb_graph *g, nb_tensor *a, nb_tensor *b)
{
	return nb_apply(g, &matmul_op, 2, (nb_tensor *[]){a, b}, NULL);
}

nb_tensor *nb_linear(nb_graph *g, nb_tensor *x, nb_tensor *w, nb_tensor *b)
{
	return nb_apply(g, &linear_op, 3, (nb_tensor *[]){x, w, b}, NULL);
}
