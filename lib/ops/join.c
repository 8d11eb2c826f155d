/*
 * join.c - cat and stack (any number of inputs into one result), split
 * and chunk (one input into several results).  Each moves slabs of
 * bytes (any dtype); each backward moves the gradient's slabs back
 * (float only).
 */
#include "strided.h"
#include "nabla/shape.h"

typedef struct axis_attrs {
	int64_t axis;
} axis_attrs;

static const nb_attr_def cat_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(axis_attrs, axis), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the axis joined along (negative "
	 "from the end)"},
};
static const nb_attr_def stack_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(axis_attrs, axis), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "where the new axis goes, in "
	 "[-rank-1, rank]"},
};

static const nb_input_def join_inputs[] = {
	{.name = "tensors", .flags = NB_IN_VARIADIC | NB_IN_ANY_DTYPE,
	 .doc = "one or more tensors of one dtype"},
};

static const nb_input_def split_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE,
	 .doc = "float32, float64, int64 or bool (gradients: float only)"},
};

static const nb_op stack_op; /* defined below: slabs() tells them apart */

/* PyTorch 1.13 (legacy behaviour) skips 1-D empty inputs of cat. */
static bool skipped(const nb_tensor *t)
{
	return t->ndim == 1 && t->shape[0] == 0;
}

static char *shape_str(const nb_tensor *t, char *buf, size_t n)
{
	return nb_shape_str(t->ndim, t->shape, buf, n);
}

/* cat's shape rule; *ref is the input the others are checked against. */
static nb_status cat_shape(nb_op_ctx *c, nb_result_def *res)
{
	const axis_attrs *a = c->attrs;
	int ref = 0, k;
	char b1[96], b2[96];
	for (int i = 0; i < c->n_in; i++)
		if (c->in[i]->ndim == 0)
			return nb_op_fail(c, NB_ESHAPE, "input %d is a scalar "
			                  "(rank 0): it cannot be joined", i);
	while (ref < c->n_in && skipped(c->in[ref]))
		ref++;
	if (ref == c->n_in) /* all empty vectors: an empty vector */
		return NB_OK;
	const nb_tensor *x = c->in[ref];
	if (!nb__axis(x->ndim, a->axis, &k))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)a->axis, x->ndim);
	*res = (nb_result_def){.dtype = res->dtype, .ndim = x->ndim};
	memcpy(res->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
	res->shape[k] = 0;
	for (int i = 0; i < c->n_in; i++) {
		const nb_tensor *t = c->in[i];
		if (skipped(t) && x->ndim != 1)
			continue;
		bool same = t->ndim == x->ndim;
		for (int d = 0; same && d < x->ndim; d++)
			same = d == k || t->shape[d] == x->shape[d];
		if (!same)
			return nb_op_fail(c, NB_ESHAPE, "input %d is %s, input %d "
			                  "%s: shapes must match except along axis "
			                  "%d", i, shape_str(t, b1, sizeof b1), ref,
			                  shape_str(x, b2, sizeof b2), k);
		if (__builtin_add_overflow(res->shape[k], t->shape[k],
		                           &res->shape[k]))
			return nb_op_fail(c, NB_ESHAPE, "the joined axis is too "
			                  "long");
	}
	return NB_OK;
}

static nb_status stack_shape(nb_op_ctx *c, nb_result_def *res)
{
	const axis_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	char b1[96], b2[96];
	int k;
	if (x->ndim == NB_MAX_DIMS)
		return nb_op_fail(c, NB_ESHAPE, "the result would have rank %d, "
		                  "more than %d", NB_MAX_DIMS + 1, NB_MAX_DIMS);
	if (!nb__axis(x->ndim + 1, a->axis, &k))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range [%d, "
		                  "%d]", (long long)a->axis, -x->ndim - 1,
		                  x->ndim);
	for (int i = 1; i < c->n_in; i++) {
		const nb_tensor *t = c->in[i];
		if (t->ndim != x->ndim || memcmp(t->shape, x->shape,
		    sizeof(int64_t) * (size_t)x->ndim))
			return nb_op_fail(c, NB_ESHAPE, "input %d is %s, input 0 "
			                  "%s: all must have one shape", i,
			                  shape_str(t, b1, sizeof b1),
			                  shape_str(x, b2, sizeof b2));
	}
	res->ndim = x->ndim + 1;
	for (int d = 0, s = 0; d < res->ndim; d++)
		res->shape[d] = d == k ? c->n_in : x->shape[s++];
	return NB_OK;
}

/*
 * The result of cat and stack is, for each of `outer` blocks, the
 * inputs' slabs one after the other: inner[i] elements of input i
 * (0 for an input cat skips).
 */
static size_t slabs(const nb_op_ctx *c, size_t *inner)
{
	const axis_attrs *a = c->attrs;
	const nb_tensor *out = c->out;
	bool stack = c->op == &stack_op;
	int k = 0;
	size_t outer = 1;
	if (out->ndim && !nb__axis(out->ndim, a->axis, &k))
		k = 0;
	for (int d = 0; d < k; d++)
		outer *= (size_t)out->shape[d];
	for (int i = 0; i < c->n_in; i++) {
		const nb_tensor *t = c->in[i];
		if (!stack && skipped(t) && out->ndim != 1) {
			inner[i] = 0;
			continue;
		}
		inner[i] = 1;
		for (int d = k; d < t->ndim; d++)
			inner[i] *= (size_t)t->shape[d];
	}
	return outer;
}

static nb_status join_forward(nb_op_ctx *c)
{
	size_t *inner = nb__op_temp(c, sizeof(size_t) * (size_t)c->n_in);
	if (!inner)
		return nb_op_fail(c, NB_ENOMEM, "out of memory");
	size_t es = nb_dtype_size(c->out->dtype), outer = slabs(c, inner);
	char *dst = c->out->data;
	for (size_t o = 0; o < outer; o++)
		for (int i = 0; i < c->n_in; i++) {
			size_t n = inner[i] * es;
			if (!n)
				continue;
			memcpy(dst, (const char *)c->in[i]->data + o * n, n);
			dst += n;
		}
	nb__op_temp_free(c, inner);
	return NB_OK;
}

#define ADD_SLAB(T)                                                          \
	static void add_slab_##T(T *dst, const T *src, size_t n)             \
	{                                                                    \
		for (size_t j = 0; j < n; j++)                               \
			dst[j] += src[j];                                    \
	}
ADD_SLAB(float)
ADD_SLAB(double)

/* dst[0..n) += src[0..n), float32 or float64, offsets in elements. */
static void add_slab(nb_dtype dt, void *dst, size_t at, const void *src,
                     size_t from, size_t n)
{
	if (dt == NB_F32)
		add_slab_float((float *)dst + at, (const float *)src + from, n);
	else
		add_slab_double((double *)dst + at, (const double *)src + from,
		                n);
}

/* Input i's gradient is its slabs of the output gradient. */
static nb_status join_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	size_t *inner = nb__op_temp(c, sizeof(size_t) * (size_t)c->n_in);
	if (!inner)
		return nb_op_fail(c, NB_ENOMEM, "out of memory");
	size_t outer = slabs(c, inner), at = 0;
	for (size_t o = 0; o < outer; o++)
		for (int i = 0; i < c->n_in; i++) {
			if (gin[i])
				add_slab(gout->dtype, gin[i]->data, o * inner[i],
				         gout->data, at, inner[i]);
			at += inner[i];
		}
	nb__op_temp_free(c, inner);
	return NB_OK;
}

static const nb_op_test cat_test = {
	.cases = "[2,3] [4,3]; [2,3] [2,1] [2,2]|axis=1; [2,3,4] [2,3,2]|"
	         "axis=-1; [3] [0] [2]; [2,3] [0] [1,3]; [2,3] [2,3]c|axis=-2",
};
static const nb_op_test stack_test = {
	.cases = "[2,3] [2,3]; [2,3] [2,3] [2,3]|axis=-1; [4] [4]|axis=1; "
	         "[] []; [3,2]|axis=1",
};

static const nb_op cat_op = {
	.version = NB_OP_VERSION, .name = "cat", .kind = NB_KIND_SHAPE,
	.doc = "join tensors along an existing axis (1-D empty ones are "
	       "skipped, as PyTorch 1.13)",
	.inputs = join_inputs, .n_inputs = 1, .min_inputs = 1,
	.attrs = cat_defs, .n_attrs = 1, .attrs_size = sizeof(axis_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = cat_shape,
	.forward = join_forward, .backward = join_backward, .test = &cat_test,
};

static const nb_op stack_op = {
	.version = NB_OP_VERSION, .name = "stack", .kind = NB_KIND_SHAPE,
	.doc = "join tensors of one shape along a new axis",
	.inputs = join_inputs, .n_inputs = 1, .min_inputs = 1,
	.attrs = stack_defs, .n_attrs = 1, .attrs_size = sizeof(axis_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = stack_shape,
	.forward = join_forward, .backward = join_backward,
	.test = &stack_test,
};

/* ---- split, chunk ---- */

typedef struct split_attrs {
	nb_ints split_size_or_sections;
	int64_t axis;
} split_attrs;

typedef struct chunk_attrs {
	int64_t chunks, axis;
} chunk_attrs;

static const nb_attr_def split_defs[] = {
	{.name = "split_size_or_sections", .type = NB_ATTR_INTS,
	 .offset = offsetof(split_attrs, split_size_or_sections),
	 .doc = "one value: the size of each piece (the last may be "
	        "smaller); several: the sizes, summing to the axis"},
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(split_attrs, axis), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the axis split (negative from the "
	 "end)"},
};

static const nb_attr_def chunk_defs[] = {
	{.name = "chunks", .type = NB_ATTR_INT,
	 .offset = offsetof(chunk_attrs, chunks), .def = 1,
	 .range = NB_AT_LEAST(1), .doc = "pieces wanted, of ceil(size / "
	 "chunks) each: fewer when that leaves none for the last"},
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(chunk_attrs, axis), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the axis split (negative from the "
	 "end)"},
};

static const nb_op chunk_op;

/* The pieces of a size-n axis in pieces of `size` (PyTorch's split):
 * at least one, the last one the rest. */
static nb_status by_size(nb_op_ctx *c, int64_t n, int64_t size,
                         int64_t *sizes, int *count)
{
	int64_t m = size ? n / size + (n % size != 0) : 1;
	if (size < 0 || (size == 0 && n != 0))
		return nb_op_fail(c, NB_EINVAL, "split size %lld: it must be "
		                  "positive (or 0 for an axis of size 0)",
		                  (long long)size);
	if (m < 1)
		m = 1;
	if (m > NB_MAX_OUTPUTS)
		return nb_op_fail(c, NB_EINVAL, "%lld pieces, more than %d",
		                  (long long)m, NB_MAX_OUTPUTS);
	*count = (int)m;
	for (int i = 0; i < *count; i++)
		sizes[i] = i + 1 < *count ? size : n - size * (m - 1);
	return NB_OK;
}

/* The axis and the sizes of the pieces of a split or chunk node. */
static nb_status pieces(nb_op_ctx *c, int *axis, int64_t *sizes, int *count)
{
	const nb_tensor *x = c->in[0];
	bool chunk = c->op == &chunk_op;
	const chunk_attrs *ca = c->attrs;
	const split_attrs *sa = c->attrs;
	int64_t ax = chunk ? ca->axis : sa->axis;
	if (x->ndim == 0 || !nb__axis(x->ndim, ax, axis))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)ax, x->ndim);
	int64_t n = x->shape[*axis];
	if (chunk) {
		int64_t size = n / ca->chunks + (n % ca->chunks != 0);
		if (n || ca->chunks == 1)
			return by_size(c, n, size, sizes, count);
		if (ca->chunks > NB_MAX_OUTPUTS) /* chunks empty pieces */
			return nb_op_fail(c, NB_EINVAL, "%lld pieces, more than "
			                  "%d", (long long)ca->chunks,
			                  NB_MAX_OUTPUTS);
		*count = (int)ca->chunks;
		memset(sizes, 0, sizeof(int64_t) * (size_t)*count);
		return NB_OK;
	}
	const nb_ints *l = &sa->split_size_or_sections;
	if (l->n == 0)
		return nb_op_fail(c, NB_EINVAL, "give split_size_or_sections");
	if (l->n == 1)
		return by_size(c, n, l->v[0], sizes, count);
	int64_t sum = 0;
	int i = 0;
	for (; i < l->n; i++) {
		if (l->v[i] < 0 || l->v[i] > n - sum)
			break;
		sum += l->v[i];
		sizes[i] = l->v[i];
	}
	if (i < l->n || sum != n)
		return nb_op_fail(c, NB_EINVAL, "the sections must be sizes "
		                  "from 0 summing to the axis's size %lld",
		                  (long long)n);
	*count = l->n;
	return NB_OK;
}

static nb_status split_shape(nb_op_ctx *c, nb_result_def *res)
{
	int64_t sizes[NB_MAX_OUTPUTS];
	int axis, count;
	if (pieces(c, &axis, sizes, &count))
		return c->g->err;
	c->n_out = count;
	for (int i = 0; i < count; i++) {
		res[i] = res[0];
		res[i].shape[axis] = sizes[i];
	}
	return NB_OK;
}

/* outer blocks of [size of the axis] x inner elements. */
static void blocks(const nb_tensor *x, int axis, size_t *outer,
                   size_t *inner)
{
	*outer = *inner = 1;
	for (int d = 0; d < axis; d++)
		*outer *= (size_t)x->shape[d];
	for (int d = axis + 1; d < x->ndim; d++)
		*inner *= (size_t)x->shape[d];
}

static nb_status split_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	int64_t sizes[NB_MAX_OUTPUTS];
	int axis, count;
	size_t outer, inner, es = nb_dtype_size(x->dtype);
	if (pieces(c, &axis, sizes, &count))
		return c->g->err;
	blocks(x, axis, &outer, &inner);
	size_t row = (size_t)x->shape[axis] * inner * es, at = 0;
	for (int i = 0; i < count; i++) {
		size_t n = (size_t)sizes[i] * inner * es;
		for (size_t o = 0; n && o < outer; o++)
			memcpy((char *)c->outs[i]->data + o * n,
			       (const char *)x->data + o * row + at, n);
		at += n;
	}
	return NB_OK;
}

/* dx is the pieces' gradients put back in place. */
static nb_status split_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	int64_t sizes[NB_MAX_OUTPUTS];
	int axis, count;
	size_t outer, inner;
	(void)gout;
	if (!gin[0])
		return NB_OK;
	if (pieces(c, &axis, sizes, &count))
		return c->g->err;
	blocks(x, axis, &outer, &inner);
	size_t row = (size_t)x->shape[axis] * inner, at = 0;
	for (int i = 0; i < count; i++) {
		size_t n = (size_t)sizes[i] * inner;
		for (size_t o = 0; n && o < outer; o++)
			add_slab(x->dtype, gin[0]->data, o * row + at,
			         c->gouts[i]->data, o * n, n);
		at += n;
	}
	return NB_OK;
}

static const nb_op_test split_test = {
	.cases = "[5,3]|split_size_or_sections=2; [2,6]|"
	         "split_size_or_sections=1,3,2 axis=-1; [4,2]|"
	         "split_size_or_sections=4; [3]|split_size_or_sections=0,3",
};
static const nb_op_test chunk_test = {
	.cases = "[5,3]|chunks=3; [2,6]|chunks=4 axis=-1; [3,2]|chunks=5",
};

static const nb_op split_op = {
	.version = NB_OP_VERSION, .name = "split", .kind = NB_KIND_SHAPE,
	.doc = "pieces of given sizes along an axis (several results)",
	.inputs = split_inputs, .n_inputs = 1, .attrs = split_defs,
	.n_attrs = 2, .attrs_size = sizeof(split_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = split_shape,
	.forward = split_forward, .backward = split_backward,
	.test = &split_test,
};

static const nb_op chunk_op = {
	.version = NB_OP_VERSION, .name = "chunk", .kind = NB_KIND_SHAPE,
	.doc = "at most `chunks` equal pieces along an axis (several "
	       "results)",
	.inputs = split_inputs, .n_inputs = 1, .attrs = chunk_defs,
	.n_attrs = 2, .attrs_size = sizeof(chunk_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = split_shape,
	.forward = split_forward, .backward = split_backward,
	.test = &chunk_test,
};

const nb_op *const nb__join_ops[] = {
	&cat_op, &stack_op, &split_op, &chunk_op, NULL,
};

/* ---- typed wrappers ---- */

nb_tensor *nb_cat(nb_graph *g, int n, nb_tensor *const *xs, int64_t axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &cat_op, n, xs, &a);
}

nb_tensor *nb_stack(nb_graph *g, int n, nb_tensor *const *xs, int64_t axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &stack_op, n, xs, &a);
}

int nb_split(nb_graph *g, nb_tensor *x, int n, const int64_t *sizes,
             int64_t axis, nb_tensor **outs, int max_out)
{
	split_attrs a = {.axis = axis};
	if (g && (n < 1 || n > NB_MAX_DIMS || !sizes)) {
		nb__graph_fail(g, NB_EINVAL, "split: %d sizes (1 to %d, not "
		               "NULL)", n, NB_MAX_DIMS);
		return -1;
	}
	a.split_size_or_sections.n = g ? n : 0;
	for (int i = 0; i < a.split_size_or_sections.n; i++)
		a.split_size_or_sections.v[i] = sizes[i];
	return nb_apply_multi(g, &split_op, 1, &x, &a, outs, max_out);
}

int nb_chunk(nb_graph *g, nb_tensor *x, int64_t chunks, int64_t axis,
             nb_tensor **outs, int max_out)
{
	chunk_attrs a = {chunks, axis};
	return nb_apply_multi(g, &chunk_op, 1, &x, &a, outs, max_out);
}
