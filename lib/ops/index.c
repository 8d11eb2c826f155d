/*
 * index.c - indexing and masking (issue 15): index_select, gather,
 * scatter_add, embedding, one_hot, where, masked_fill, with PyTorch
 * 1.13's semantics.
 *
 * Every index is checked against its axis in the shape rule, before
 * anything is written: an index out of range fails with the op, the
 * index, the axis and its size, and the input shapes (nb_op_fail), and
 * no kernel below ever reads or writes outside a tensor.  As in PyTorch
 * 1.13, index values are never negative (index_select, gather,
 * scatter_add, embedding and one_hot all refuse -1); axes (dim) and
 * embedding's padding_idx may be.
 */
#include <math.h>
#include "bcast_iter.h"

typedef struct dim_attrs {
	int64_t dim;
} dim_attrs;

typedef struct embedding_attrs {
	double padding_idx; /* NAN: none */
} embedding_attrs;

typedef struct one_hot_attrs {
	int64_t num_classes;
} one_hot_attrs;

typedef struct masked_fill_attrs {
	double value;
} masked_fill_attrs;

static const nb_attr_def dim_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT, .offset = offsetof(dim_attrs, dim),
	 .def = 0, .range = NB_UNBOUNDED,
	 .doc = "the axis indexed (negative counts from the end)"},
};
static const nb_attr_def embedding_defs[] = {
	{.name = "padding_idx", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(embedding_attrs, padding_idx), .def = NAN,
	 .range = NB_UNBOUNDED, .flags = NB_ATTR_NULLABLE,
	 .doc = "a row that gets no gradient (an integer in [-V, V); "
	        "negative counts from the end), or none"},
};
static const nb_attr_def one_hot_defs[] = {
	{.name = "num_classes", .type = NB_ATTR_INT,
	 .offset = offsetof(one_hot_attrs, num_classes), .def = -1,
	 .range = NB_AT_LEAST(-1),
	 .doc = "classes; -1: the largest value plus one"},
};
static const nb_attr_def masked_fill_defs[] = {
	{.name = "value", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(masked_fill_attrs, value), .def = 0,
	 .range = NB_UNBOUNDED,
	 .doc = "the value written where mask is true (may be -inf)"},
};

static bool padding_check(const void *attrs, char *why, size_t n)
{
	double p = ((const embedding_attrs *)attrs)->padding_idx;
	if (isnan(p) || (p == floor(p) && fabs(p) < 9e15))
		return true;
	snprintf(why, n, "padding_idx (%g) must be an integer or none", p);
	return false;
}

/* The shape of t seen with at least one axis (a scalar is [1]). */
static int dims_of(const nb_tensor *t, int64_t *shape)
{
	if (t->ndim == 0) {
		shape[0] = 1;
		return 1;
	}
	memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
	return t->ndim;
}

static void strides_of(int nd, const int64_t *shape, int64_t *st)
{
	int64_t s = 1;
	for (int d = nd - 1; d >= 0; d--) {
		st[d] = s;
		s *= shape[d];
	}
}

static nb_status get_dim(nb_op_ctx *c, int nd, int *d)
{
	int64_t v = ((const dim_attrs *)c->attrs)->dim;
	if (!nb__axis(nd, v, d))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)v, nd);
	return NB_OK;
}

/* Every element of idx in [0, size): else the error names the value. */
static nb_status check_indices(nb_op_ctx *c, const nb_tensor *idx,
                               int64_t size, const char *what, int dim)
{
	const int64_t *p = idx->data;
	for (size_t i = 0; i < idx->numel; i++)
		if (p[i] < 0 || p[i] >= size)
			return nb_op_fail(c, NB_EINVAL, "index %lld (element %zu "
			                  "of the index) is out of range for %s %d "
			                  "of size %lld", (long long)p[i], i, what,
			                  dim, (long long)size);
	return NB_OK;
}

/* ---- index_select: y[..., j, ...] = x[..., index[j], ...] ---- */

static const nb_input_def isel_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE},
	{.name = "index", .flags = NB_IN_INT64},
};

/* outer, the axis size and inner of x around axis d. */
static void split_at(const nb_tensor *x, int d, size_t *outer, int64_t *n,
                     size_t *inner)
{
	*outer = 1;
	*inner = 1;
	*n = x->ndim ? x->shape[d] : 1;
	for (int k = 0; k < x->ndim; k++)
		if (k < d)
			*outer *= (size_t)x->shape[k];
		else if (k > d)
			*inner *= (size_t)x->shape[k];
}

static nb_status isel_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *idx = c->in[1];
	int d = 0;
	if (get_dim(c, x->ndim, &d))
		return c->g->err;
	if (idx->ndim > 1)
		return nb_op_fail(c, NB_ESHAPE, "index must be 0-D or 1-D, not "
		                  "%d-D", idx->ndim);
	if (x->ndim == 0 && idx->numel != 1)
		return nb_op_fail(c, NB_ESHAPE, "the index of a scalar must "
		                  "have one value, not %zu", idx->numel);
	if (check_indices(c, idx, x->ndim ? x->shape[d] : 1, "axis", d))
		return c->g->err;
	if (x->ndim)
		res->shape[d] = (int64_t)idx->numel;
	return NB_OK;
}

static nb_status isel_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0], *idx = c->in[1];
	size_t outer, inner, es = nb_dtype_size(x->dtype);
	int64_t n;
	int d = 0;
	nb__axis(x->ndim, ((const dim_attrs *)c->attrs)->dim, &d);
	split_at(x, d, &outer, &n, &inner);
	const int64_t *ix = idx->data;
	const char *px = x->data;
	char *py = c->out->data;
	size_t row = inner * es, m = idx->numel;
	for (size_t o = 0; o < outer; o++)
		for (size_t j = 0; j < m; j++)
			memcpy(py + (o * m + j) * row,
			       px + (o * (size_t)n + (size_t)ix[j]) * row, row);
	return NB_OK;
}

/* gx[..., index[j], ...] += g[..., j, ...]: repeated indices add up. */
#define ISEL_BACK(T)                                                        \
	do {                                                                \
		const T *pg = gout->data;                                   \
		T *px = gin[0]->data;                                       \
		for (size_t o = 0; o < outer; o++)                          \
			for (size_t j = 0; j < m; j++) {                    \
				const T *s = pg + (o * m + j) * inner;      \
				T *t = px + (o * (size_t)n + (size_t)ix[j]) \
				            * inner;                        \
				for (size_t k = 0; k < inner; k++)          \
					t[k] += s[k];                       \
			}                                                   \
	} while (0)

static nb_status isel_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *idx = c->in[1];
	size_t outer, inner, m = idx->numel;
	int64_t n;
	int d = 0;
	nb__axis(x->ndim, ((const dim_attrs *)c->attrs)->dim, &d);
	split_at(x, d, &outer, &n, &inner);
	const int64_t *ix = idx->data;
	if (x->dtype == NB_F32)
		ISEL_BACK(float);
	else
		ISEL_BACK(double);
	return NB_OK;
}

static const nb_op_test isel_test = {
	.cases = "[4,3] [5]i4|axis=0; [2,5,3] [4]i5|axis=1; [3,4] [2]i4|axis=-1; "
	         "[3] [3]i3",
};

static const nb_op index_select_op = {
	.version = NB_OP_VERSION, .name = "index_select",
	.kind = NB_KIND_SHAPE,
	.doc = "the slices of input at index (1-D int64) along axis",
	.inputs = isel_inputs, .n_inputs = 2, .attrs = dim_defs, .n_attrs = 1,
	.attrs_size = sizeof(dim_attrs), .flags = NB_OP_WRITES_OUTPUT,
	.shape = isel_shape, .forward = isel_forward,
	.backward = isel_backward, .test = &isel_test,
};

/* ---- gather and scatter_add: an index tensor of the input's rank ---- */

/*
 * Walks the elements of idx (rank nd, row-major; element i) with the
 * offset into a tensor of strides st where axis d is replaced by the
 * index value: calls BODY with i and off.
 */
#define WALK_INDEX(nd, ishape, ix, st, d, BODY)                             \
	do {                                                                \
		int64_t c_[NB_MAX_DIMS] = {0}, base_ = 0;                   \
		size_t n_ = nb__numel(nd, ishape);                          \
		for (size_t i = 0; i < n_; i++) {                           \
			int64_t off = base_ + ix[i] * st[d];                \
			BODY;                                               \
			for (int k_ = (nd) - 1; k_ >= 0; k_--) {            \
				if (k_ != d)                                \
					base_ += st[k_];                    \
				if (++c_[k_] < ishape[k_])                  \
					break;                              \
				if (k_ != d)                                \
					base_ -= st[k_] * ishape[k_];       \
				c_[k_] = 0;                                 \
			}                                                   \
		}                                                           \
	} while (0)

/* The index's rank matches x's and each of its sizes fits x (and src,
 * for scatter_add) as PyTorch 1.13 requires; its values fit axis d. */
static nb_status check_index_shape(nb_op_ctx *c, int d, const nb_tensor *src)
{
	const nb_tensor *x = c->in[0], *idx = c->in[1];
	int64_t xs[NB_MAX_DIMS], is[NB_MAX_DIMS], ss[NB_MAX_DIMS];
	int nd = dims_of(x, xs), ni = dims_of(idx, is);
	if (ni != nd || (src && dims_of(src, ss) != nd))
		return nb_op_fail(c, NB_ESHAPE, "index%s must have the input's "
		                  "rank %d", src ? " and src" : "", x->ndim);
	for (int k = 0; k < nd; k++) {
		if (k != d && is[k] > xs[k])
			return nb_op_fail(c, NB_ESHAPE, "index size %lld exceeds "
			                  "the input's %lld at axis %d",
			                  (long long)is[k], (long long)xs[k], k);
		if (src && is[k] > ss[k])
			return nb_op_fail(c, NB_ESHAPE, "index size %lld exceeds "
			                  "src's %lld at axis %d", (long long)is[k],
			                  (long long)ss[k], k);
	}
	return check_indices(c, idx, xs[d], "axis", d);
}

static const nb_input_def gather_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE},
	{.name = "index", .flags = NB_IN_INT64},
};

static nb_status gather_shape(nb_op_ctx *c, nb_result_def *res)
{
	int d = 0;
	if (get_dim(c, c->in[0]->ndim, &d) || check_index_shape(c, d, NULL))
		return c->g->err;
	res->ndim = c->in[1]->ndim;
	memcpy(res->shape, c->in[1]->shape, sizeof res->shape);
	return NB_OK;
}

/* Shapes and strides of a gather or scatter_add node: x's strides, the
 * index's shape, the axis. */
typedef struct gs_geom {
	int nd, d;
	int64_t xs[NB_MAX_DIMS], xst[NB_MAX_DIMS], is[NB_MAX_DIMS];
	int64_t ss[NB_MAX_DIMS], sst[NB_MAX_DIMS]; /* src (scatter_add) */
} gs_geom;

static void geom(const nb_op_ctx *c, gs_geom *q)
{
	nb__axis(c->in[0]->ndim, ((const dim_attrs *)c->attrs)->dim, &q->d);
	q->nd = dims_of(c->in[0], q->xs);
	dims_of(c->in[1], q->is);
	strides_of(q->nd, q->xs, q->xst);
	if (c->n_in > 2) {
		dims_of(c->in[2], q->ss);
		strides_of(q->nd, q->ss, q->sst);
	}
}

/* y[i] = x[i with axis d replaced by index[i]] (element copies). */
static nb_status gather_forward(nb_op_ctx *c)
{
	gs_geom q;
	geom(c, &q);
	size_t es = nb_dtype_size(c->in[0]->dtype);
	const int64_t *ix = c->in[1]->data;
	const char *px = c->in[0]->data;
	char *py = c->out->data;
	WALK_INDEX(q.nd, q.is, ix, q.xst, q.d,
	           memcpy(py + i * es, px + (size_t)off * es, es));
	return NB_OK;
}

/* gx[i with axis d replaced by index[i]] += g[i] (a scatter-add). */
static nb_status gather_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	gs_geom q;
	geom(c, &q);
	const int64_t *ix = c->in[1]->data;
	if (gout->dtype == NB_F32) {
		const float *g = gout->data;
		float *gx = gin[0]->data;
		WALK_INDEX(q.nd, q.is, ix, q.xst, q.d, gx[off] += g[i]);
	} else {
		const double *g = gout->data;
		double *gx = gin[0]->data;
		WALK_INDEX(q.nd, q.is, ix, q.xst, q.d, gx[off] += g[i]);
	}
	return NB_OK;
}

static const nb_op_test gather_test = {
	.cases = "[4,3] [5,3]i4|axis=0; [2,5,3] [2,4,2]i5|axis=1; "
	         "[3,4] [3,6]i4|axis=-1; [5] [7]i5",
};

static const nb_op gather_op = {
	.version = NB_OP_VERSION, .name = "gather", .kind = NB_KIND_SHAPE,
	.doc = "y[i][j] = input[index[i][j]][j] (axis=0), index of the "
	       "input's rank",
	.inputs = gather_inputs, .n_inputs = 2, .attrs = dim_defs,
	.n_attrs = 1, .attrs_size = sizeof(dim_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = gather_shape,
	.forward = gather_forward, .backward = gather_backward,
	.test = &gather_test,
};

static const nb_input_def scatter_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE},
	{.name = "index", .flags = NB_IN_INT64},
	{.name = "src", .flags = NB_IN_ANY_DTYPE},
};

static nb_status scatter_shape(nb_op_ctx *c, nb_result_def *res)
{
	int d = 0;
	(void)res; /* shaped like the input */
	if (c->in[0]->dtype == NB_BOOL)
		return nb_op_fail(c, NB_EDTYPE, "cannot add bool values");
	if (get_dim(c, c->in[0]->ndim, &d) || check_index_shape(c, d, c->in[2]))
		return c->g->err;
	return NB_OK;
}

/* y = input; y[i with axis d replaced by index[i]] += src[i] (src read
 * at the index's coordinates: src may be larger than the index). */
#define SCATTER_FWD(T)                                                      \
	do {                                                                \
		const T *s = c->in[2]->data;                                \
		T *y = c->out->data;                                        \
		int64_t sc[NB_MAX_DIMS] = {0};                              \
		size_t so = 0;                                              \
		memcpy(y, c->in[0]->data, nb__nbytes(c->out));              \
		WALK_INDEX(q.nd, q.is, ix, q.xst, q.d, {                    \
			y[off] += s[so];                                    \
			for (int k = q.nd - 1; k >= 0; k--) {               \
				so += (size_t)q.sst[k];                     \
				if (++sc[k] < q.is[k])                      \
					break;                              \
				so -= (size_t)(q.sst[k] * q.is[k]);         \
				sc[k] = 0;                                  \
			}                                                   \
		});                                                         \
	} while (0)

static nb_status scatter_forward(nb_op_ctx *c)
{
	gs_geom q;
	geom(c, &q);
	const int64_t *ix = c->in[1]->data;
	if (c->out->dtype == NB_F32)
		SCATTER_FWD(float);
	else if (c->out->dtype == NB_F64)
		SCATTER_FWD(double);
	else
		SCATTER_FWD(int64_t);
	return NB_OK;
}

/* d input = g; d src[i] = g[i with axis d replaced by index[i]] (a
 * gather), at the index's coordinates of src, zero elsewhere. */
#define SCATTER_BACK(T)                                                     \
	do {                                                                \
		const T *g = gout->data;                                    \
		T *gs = gin[2]->data;                                       \
		int64_t sc[NB_MAX_DIMS] = {0};                              \
		size_t so = 0;                                              \
		WALK_INDEX(q.nd, q.is, ix, q.xst, q.d, {                    \
			gs[so] += g[off];                                   \
			for (int k = q.nd - 1; k >= 0; k--) {               \
				so += (size_t)q.sst[k];                     \
				if (++sc[k] < q.is[k])                      \
					break;                              \
				so -= (size_t)(q.sst[k] * q.is[k]);         \
				sc[k] = 0;                                  \
			}                                                   \
		});                                                         \
	} while (0)

static nb_status scatter_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	gs_geom q;
	geom(c, &q);
	const int64_t *ix = c->in[1]->data;
	if (gin[0])
		nb__tensor_acc(gin[0], gout);
	if (!gin[2])
		return NB_OK;
	if (gout->dtype == NB_F32)
		SCATTER_BACK(float);
	else
		SCATTER_BACK(double);
	return NB_OK;
}

static const nb_op_test scatter_test = {
	.cases = "[4,3] [5,3]i4 [5,3]|axis=0; [2,5,3] [2,4,2]i5 [2,4,3]|axis=1; "
	         "[3,4] [2,6]i4 [3,6]|axis=-1; [5] [7]i5 [8]",
};

static const nb_op scatter_add_op = {
	.version = NB_OP_VERSION, .name = "scatter_add", .kind = NB_KIND_SHAPE,
	.doc = "input with src added at index along axis (repeated indices "
	       "add up)",
	.inputs = scatter_inputs, .n_inputs = 3, .attrs = dim_defs,
	.n_attrs = 1, .attrs_size = sizeof(dim_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = scatter_shape,
	.forward = scatter_forward, .backward = scatter_backward,
	.test = &scatter_test,
};

/* ---- embedding: y[..., :] = weight[input[...], :] ---- */

static const nb_input_def embedding_inputs[] = {
	{.name = "input", .flags = NB_IN_INT64, .doc = "row indices, any shape"},
	{.name = "weight", .role = NB_ROLE_PARAM, .doc = "the table [V, D]"},
};

/* padding_idx as a row in [0, V), or -1 for none. */
static int64_t padding_row(const nb_op_ctx *c)
{
	double p = ((const embedding_attrs *)c->attrs)->padding_idx;
	if (isnan(p))
		return -1;
	int64_t r = (int64_t)p;
	return r < 0 ? r + c->in[1]->shape[0] : r;
}

static nb_status embedding_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *idx = c->in[0], *w = c->in[1];
	if (w->ndim != 2)
		return nb_op_fail(c, NB_ESHAPE, "weight must be 2-D [V, D], not "
		                  "%d-D", w->ndim);
	if (idx->ndim + 1 > NB_MAX_DIMS)
		return nb_op_fail(c, NB_ESHAPE, "the result would have more "
		                  "than %d axes", NB_MAX_DIMS);
	double p = ((const embedding_attrs *)c->attrs)->padding_idx;
	if (!isnan(p) && (p < -(double)w->shape[0] || p >= (double)w->shape[0]))
		return nb_op_fail(c, NB_EINVAL, "padding_idx %g is out of "
		                  "range for %lld rows", p,
		                  (long long)w->shape[0]);
	if (check_indices(c, idx, w->shape[0], "the rows (dim)", 0))
		return c->g->err;
	res->ndim = idx->ndim + 1;
	memcpy(res->shape, idx->shape, (size_t)idx->ndim * sizeof *res->shape);
	res->shape[idx->ndim] = w->shape[1];
	return NB_OK;
}

static nb_status embedding_forward(nb_op_ctx *c)
{
	const nb_tensor *idx = c->in[0], *w = c->in[1];
	size_t row = (size_t)w->shape[1] * nb_dtype_size(w->dtype);
	const int64_t *ix = idx->data;
	const char *pw = w->data;
	char *py = c->out->data;
	for (size_t i = 0; i < idx->numel; i++)
		memcpy(py + i * row, pw + (size_t)ix[i] * row, row);
	return NB_OK;
}

/* d weight[input[i], :] += g[i, :] for every i whose row is not
 * padding_idx: only the rows used are touched, in the gradient buffer
 * itself (no dense [V, D] temporary). */
#define EMB_BACK(T)                                                         \
	do {                                                                \
		const T *g = gout->data;                                    \
		T *gw = gin[1]->data;                                       \
		for (size_t i = 0; i < idx->numel; i++) {                   \
			if (ix[i] == pad)                                   \
				continue;                                   \
			T *t = gw + (size_t)ix[i] * D;                      \
			const T *s = g + i * D;                             \
			for (size_t k = 0; k < D; k++)                      \
				t[k] += s[k];                               \
		}                                                           \
	} while (0)

static nb_status embedding_backward(nb_op_ctx *c, const nb_tensor *gout,
                                    nb_tensor *const *gin)
{
	const nb_tensor *idx = c->in[0];
	const int64_t *ix = idx->data;
	size_t D = (size_t)c->in[1]->shape[1];
	int64_t pad = padding_row(c);
	if (gout->dtype == NB_F32)
		EMB_BACK(float);
	else
		EMB_BACK(double);
	return NB_OK;
}

/* padding_idx is a rule, not a derivative (its row gets nothing): the
 * references and tests/test_index.c check it, not gradcheck. */
static const nb_op_test embedding_test = {
	.cases = "[5]i6 [6,4]; [2,3]i4 [4,3]; [7]i3 [3,2]; []i5 [5,3]",
};

static const nb_op embedding_op = {
	.version = NB_OP_VERSION, .name = "embedding", .kind = NB_KIND_SHAPE,
	.doc = "rows of weight [V, D] at input (int64, any shape): "
	       "input.shape + [D]",
	.inputs = embedding_inputs, .n_inputs = 2, .attrs = embedding_defs,
	.n_attrs = 1, .attrs_size = sizeof(embedding_attrs),
	.check = padding_check, .flags = NB_OP_WRITES_OUTPUT,
	.shape = embedding_shape, .forward = embedding_forward,
	.backward = embedding_backward, .test = &embedding_test,
};

/* ---- one_hot ---- */

static const nb_input_def one_hot_inputs[] = {
	{.name = "input", .flags = NB_IN_INT64, .doc = "class indices"},
};

static nb_status one_hot_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	const int64_t *p = x->data;
	int64_t n = ((const one_hot_attrs *)c->attrs)->num_classes;
	if (x->ndim + 1 > NB_MAX_DIMS)
		return nb_op_fail(c, NB_ESHAPE, "the result would have more "
		                  "than %d axes", NB_MAX_DIMS);
	if (n < 0) {
		if (x->numel == 0)
			return nb_op_fail(c, NB_EINVAL, "cannot infer num_classes "
			                  "from an empty input");
		n = 0;
		for (size_t i = 0; i < x->numel; i++)
			if (p[i] >= n)
				n = p[i] == INT64_MAX ? INT64_MAX : p[i] + 1;
	}
	for (size_t i = 0; i < x->numel; i++)
		if (p[i] < 0 || p[i] >= n)
			return nb_op_fail(c, NB_EINVAL, "class %lld (element %zu) "
			                  "is out of range for num_classes %lld",
			                  (long long)p[i], i, (long long)n);
	res->dtype = NB_I64;
	res->ndim = x->ndim + 1;
	memcpy(res->shape, x->shape, (size_t)x->ndim * sizeof *res->shape);
	res->shape[x->ndim] = n;
	return NB_OK;
}

/* The result starts zeroed (no NB_OP_WRITES_OUTPUT). */
static nb_status one_hot_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	const int64_t *p = x->data;
	int64_t *y = c->out->data;
	size_t n = x->numel ? c->out->numel / x->numel : 0;
	for (size_t i = 0; i < x->numel; i++)
		y[i * n + (size_t)p[i]] = 1;
	return NB_OK;
}

static const nb_op_test one_hot_test = {
	.cases = "[5]i4|num_classes=4; [2,3]i3; [4]i2|num_classes=6",
};

static const nb_op one_hot_op = {
	.version = NB_OP_VERSION, .name = "one_hot", .kind = NB_KIND_SHAPE,
	.doc = "int64 indices to int64 one-hot rows: input.shape + "
	       "[num_classes]",
	.inputs = one_hot_inputs, .n_inputs = 1, .attrs = one_hot_defs,
	.n_attrs = 1, .attrs_size = sizeof(one_hot_attrs),
	.flags = NB_OP_NO_GRAD, .shape = one_hot_shape,
	.forward = one_hot_forward, .test = &one_hot_test,
};

/* ---- where and masked_fill: broadcast selections ---- */

static const nb_input_def where_inputs[] = {
	{.name = "condition", .flags = NB_IN_BOOL},
	{.name = "input", .flags = NB_IN_ANY_DTYPE},
	{.name = "other", .flags = NB_IN_ANY_DTYPE},
};

static nb_status where_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *m = c->in[0], *a = c->in[1], *b = c->in[2];
	int nd;
	int64_t s[NB_MAX_DIMS];
	if (!nb__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, &nd, s) ||
	    !nb__broadcast_shape(m->ndim, m->shape, nd, s, &res->ndim,
	                         res->shape))
		return nb_op_fail(c, NB_ESHAPE, "shapes do not broadcast");
	return NB_OK;
}

/* y = cond ? a : b over the broadcast result. */
#define WHERE_FWD(T)                                                        \
	do {                                                                \
		const uint8_t *m = c->in[0]->data;                          \
		const T *a = c->in[1]->data, *b = c->in[2]->data;           \
		T *y = c->out->data;                                        \
		for (size_t i = 0; i < n; i++, nb__bc_next(&it))            \
			y[i] = m[it.off[0]] ? a[it.off[1]] : b[it.off[2]];  \
	} while (0)

static nb_status where_forward(nb_op_ctx *c)
{
	nb__bc it;
	size_t n = c->out->numel;
	nb__bc_init(&it, c->out, 3, (const nb_tensor *const *)c->in);
	switch (c->out->dtype) {
	case NB_F32: WHERE_FWD(float); break;
	case NB_F64: WHERE_FWD(double); break;
	case NB_I64: WHERE_FWD(int64_t); break;
	default: WHERE_FWD(uint8_t); break;
	}
	return NB_OK;
}

/*
 * The result's gradient where mask (broadcast, at it.off[0]) is `keep`,
 * zero elsewhere, summed back into acc (shaped like input `which`).
 */
static nb_status masked_grad(nb_op_ctx *c, const nb_tensor *gout,
                             const nb_tensor *mask, bool keep,
                             nb_tensor *acc)
{
	nb_tensor *t = nb_op_scratch(c, gout->dtype, gout->ndim, gout->shape);
	if (!t)
		return nb_op_fail(c, NB_ENOMEM, "out of memory in backward");
	nb__bc it;
	const nb_tensor *ms[1] = {mask};
	const uint8_t *m = mask->data;
	size_t n = gout->numel;
	nb__bc_init(&it, gout, 1, ms);
	if (gout->dtype == NB_F32) {
		const float *g = gout->data;
		float *y = t->data;
		for (size_t i = 0; i < n; i++, nb__bc_next(&it))
			y[i] = (m[it.off[0]] != 0) == keep ? g[i] : 0.0f;
	} else {
		const double *g = gout->data;
		double *y = t->data;
		for (size_t i = 0; i < n; i++, nb__bc_next(&it))
			y[i] = (m[it.off[0]] != 0) == keep ? g[i] : 0.0;
	}
	nb__sum_to_shape(gout->dtype, t->data, gout->ndim, gout->shape,
	                 acc->data, acc->ndim, acc->shape);
	return NB_OK;
}

/* d input = g where cond, d other = g where not cond, each summed back
 * to its shape. */
static nb_status where_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	if (gin[1] && masked_grad(c, gout, c->in[0], true, gin[1]))
		return c->g->err;
	if (gin[2] && masked_grad(c, gout, c->in[0], false, gin[2]))
		return c->g->err;
	return NB_OK;
}

static const nb_op_test where_test = {
	.cases = "[3,4]b [3,4] [3,4]; [4]b [3,4] [3,1]; [2,1,3]b [] [4,1]",
};

static const nb_op where_op = {
	.version = NB_OP_VERSION, .name = "where", .kind = NB_KIND_ARITH,
	.doc = "input where condition (bool), else other; all three broadcast",
	.inputs = where_inputs, .n_inputs = 3, .flags = NB_OP_WRITES_OUTPUT,
	.shape = where_shape, .forward = where_forward,
	.backward = where_backward, .test = &where_test,
};

static const nb_input_def masked_fill_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE},
	{.name = "mask", .flags = NB_IN_BOOL},
};

static nb_status masked_fill_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *m = c->in[1];
	double v = ((const masked_fill_attrs *)c->attrs)->value;
	if (x->dtype == NB_I64 && !(v >= -9.2e18 && v <= 9.2e18))
		return nb_op_fail(c, NB_EINVAL, "value %g does not fit int64", v);
	if (!nb__broadcast_shape(x->ndim, x->shape, m->ndim, m->shape,
	                         &res->ndim, res->shape))
		return nb_op_fail(c, NB_ESHAPE, "shapes do not broadcast");
	return NB_OK;
}

/* y = mask ? value : input over the broadcast result. */
#define FILL_FWD(T, V)                                                      \
	do {                                                                \
		const T *x = c->in[0]->data;                                \
		const uint8_t *m = c->in[1]->data;                          \
		T *y = c->out->data, fill = (V);                             \
		for (size_t i = 0; i < n; i++, nb__bc_next(&it))            \
			y[i] = m[it.off[1]] ? fill : x[it.off[0]];             \
	} while (0)

static nb_status masked_fill_forward(nb_op_ctx *c)
{
	double v = ((const masked_fill_attrs *)c->attrs)->value;
	nb__bc it;
	size_t n = c->out->numel;
	nb__bc_init(&it, c->out, 2, (const nb_tensor *const *)c->in);
	switch (c->out->dtype) {
	case NB_F32: FILL_FWD(float, (float)v); break;
	case NB_F64: FILL_FWD(double, v); break;
	case NB_I64: FILL_FWD(int64_t, (int64_t)v); break;
	default: FILL_FWD(uint8_t, (uint8_t)(v != 0)); break;
	}
	return NB_OK;
}

/* d input = g where the mask is false (nothing where it was filled). */
static nb_status masked_fill_backward(nb_op_ctx *c, const nb_tensor *gout,
                                      nb_tensor *const *gin)
{
	return masked_grad(c, gout, c->in[1], false, gin[0]) ? c->g->err
	                                                      : NB_OK;
}

static const nb_op_test masked_fill_test = {
	.cases = "[3,4] [3,4]b|value=-1.5; [3,4] [4]b; [2,3] [2,1]b|value=-inf",
};

static const nb_op masked_fill_op = {
	.version = NB_OP_VERSION, .name = "masked_fill", .kind = NB_KIND_ARITH,
	.doc = "input with value where mask (bool, broadcast) is true; "
	       "value may be -inf",
	.inputs = masked_fill_inputs, .n_inputs = 2, .attrs = masked_fill_defs,
	.n_attrs = 1, .attrs_size = sizeof(masked_fill_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_EMITS_NONFINITE,
	.shape = masked_fill_shape, .forward = masked_fill_forward,
	.backward = masked_fill_backward, .test = &masked_fill_test,
};

const nb_op *const nb__index_ops[] = {
	&index_select_op, &gather_op, &scatter_add_op, &embedding_op,
	&one_hot_op, &where_op, &masked_fill_op, NULL,
};

/* ---- typed wrappers ---- */

nb_tensor *nb_index_select(nb_graph *g, nb_tensor *x, int64_t dim,
                           nb_tensor *index)
{
	nb_tensor *in[2] = {x, index};
	dim_attrs a = {dim};
	return nb_apply(g, &index_select_op, 2, in, &a);
}

nb_tensor *nb_gather(nb_graph *g, nb_tensor *x, int64_t dim,
                     nb_tensor *index)
{
	nb_tensor *in[2] = {x, index};
	dim_attrs a = {dim};
	return nb_apply(g, &gather_op, 2, in, &a);
}

nb_tensor *nb_scatter_add(nb_graph *g, nb_tensor *x, int64_t dim,
                          nb_tensor *index, nb_tensor *src)
{
	nb_tensor *in[3] = {x, index, src};
	dim_attrs a = {dim};
	return nb_apply(g, &scatter_add_op, 3, in, &a);
}

nb_tensor *nb_embedding(nb_graph *g, nb_tensor *input, nb_tensor *weight,
                        double padding_idx)
{
	nb_tensor *in[2] = {input, weight};
	embedding_attrs a = {padding_idx};
	return nb_apply(g, &embedding_op, 2, in, &a);
}

nb_tensor *nb_one_hot(nb_graph *g, nb_tensor *x, int64_t num_classes)
{
	one_hot_attrs a = {num_classes};
	return nb_apply(g, &one_hot_op, 1, &x, &a);
}

nb_tensor *nb_where(nb_graph *g, nb_tensor *cond, nb_tensor *a,
                    nb_tensor *b)
{
	nb_tensor *in[3] = {cond, a, b};
	return nb_apply(g, &where_op, 3, in, NULL);
}

nb_tensor *nb_masked_fill(nb_graph *g, nb_tensor *x, nb_tensor *mask,
                          double value)
{
	nb_tensor *in[2] = {x, mask};
	masked_fill_attrs a = {value};
	return nb_apply(g, &masked_fill_op, 2, in, &a);
}
