/*
 * shape.c - reshape, permute and transpose, of any dtype.  Results are
 * contiguous copies (nabla has no views), so each backward is the
 * inverse copy.
 */
#include "strided.h"

typedef struct reshape_attrs {
	nb_ints shape;
} reshape_attrs;

typedef struct permute_attrs {
	nb_ints perm;
} permute_attrs;

typedef struct transpose_attrs {
	int64_t dim0, dim1;
} transpose_attrs;

static const nb_attr_def reshape_defs[] = {
	{.name = "shape", .type = NB_ATTR_INTS,
	 .offset = offsetof(reshape_attrs, shape),
	 .doc = "the new shape; one entry may be -1"},
};
static const nb_attr_def permute_defs[] = {
	{.name = "perm", .type = NB_ATTR_INTS,
	 .offset = offsetof(permute_attrs, perm),
	 .doc = "a permutation of the axes"},
};
/* Any integer: the shape rule checks the axes against the rank. */
static const nb_attr_def transpose_defs[] = {
	{.name = "dim0", .type = NB_ATTR_INT,
	 .offset = offsetof(transpose_attrs, dim0), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "first axis"},
	{.name = "dim1", .type = NB_ATTR_INT,
	 .offset = offsetof(transpose_attrs, dim1), .def = 1,
	 .range = NB_UNBOUNDED, .doc = "second axis"},
};

/* Any dtype flows through (int64 indices, bool masks); only float
 * carries gradients. */
static const nb_input_def shape_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE,
	 .doc = "float32, float64, int64 or bool (gradients: float only)"},
};

static nb_status reshape_shape(nb_op_ctx *c, nb_result_def *res)
{
	const reshape_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int infer = -1;
	size_t known = 1;
	bool zero = false, wraps = false;
	for (int i = 0; i < a->shape.n; i++) {
		int64_t d = a->shape.v[i];
		if (d == -1 && infer < 0) {
			infer = i;
			continue;
		}
		if (d < 0)
			return nb_op_fail(c, NB_EINVAL, "bad size %lld in the new "
			                  "shape", (long long)d);
		res->shape[i] = d;
		/* A product that wraps around could match the input's count. */
		if (d == 0)
			zero = true;
		else if (known > SIZE_MAX / (size_t)d)
			wraps = true;
		else
			known *= (size_t)d;
	}
	if (zero)
		known = 0;
	else if (wraps)
		return nb_op_fail(c, NB_ESHAPE, "the new shape has more elements "
		                  "than size_t can count, the input %zu",
		                  x->numel);
	if (infer >= 0) {
		if (known == 0 || x->numel % known)
			return nb_op_fail(c, NB_ESHAPE, "cannot infer the -1 in "
			                  "the new shape");
		res->shape[infer] = (int64_t)(x->numel / known);
		known *= (size_t)res->shape[infer];
	}
	if (known != x->numel)
		return nb_op_fail(c, NB_ESHAPE, "the new shape has %zu elements, "
		                  "the input %zu", known, x->numel);
	res->ndim = a->shape.n;
	return NB_OK;
}

static nb_status reshape_forward(nb_op_ctx *c)
{
	memcpy(c->out->data, c->in[0]->data, nb__nbytes(c->out));
	return NB_OK;
}

static nb_status reshape_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	(void)c;
	nb__tensor_acc(gin[0], gout);
	return NB_OK;
}

static const nb_op_test reshape_test = {
	.cases = "[3,4]|shape=4,3; [2,6]|shape=-1; [2,3,4]|shape=6,-1",
};

static const nb_op reshape_op = {
	.version = NB_OP_VERSION, .name = "reshape", .kind = NB_KIND_SHAPE,
	.doc = "same data, new shape", .inputs = shape_inputs, .n_inputs = 1,
	.attrs = reshape_defs, .n_attrs = 1,
	.attrs_size = sizeof(reshape_attrs), .shape = reshape_shape,
	.forward = reshape_forward, .backward = reshape_backward,
	.test = &reshape_test,
};

/* Reads the permutation of a permute or transpose node into perm. */
static nb_status get_perm(nb_op_ctx *c, int *perm)
{
	int nd = c->in[0]->ndim;
	bool seen[NB_MAX_DIMS] = {false};
	if (c->op->attrs == transpose_defs) {
		const transpose_attrs *a = c->attrs;
		int d0, d1;
		if (!nb__axis(nd, a->dim0, &d0) || !nb__axis(nd, a->dim1, &d1) ||
		    nd == 0)
			return nb_op_fail(c, NB_EINVAL, "axes %lld, %lld are out of "
			                  "range for rank %d", (long long)a->dim0,
			                  (long long)a->dim1, nd);
		for (int i = 0; i < nd; i++)
			perm[i] = i;
		perm[d0] = d1;
		perm[d1] = d0;
		return NB_OK;
	}
	const permute_attrs *a = c->attrs;
	if (a->perm.n != nd)
		return nb_op_fail(c, NB_EINVAL, "the permutation has %d entries, "
		                  "the input %d axes", a->perm.n, nd);
	for (int i = 0; i < nd; i++) {
		int ax;
		if (!nb__axis(nd, a->perm.v[i], &ax) || seen[ax])
			return nb_op_fail(c, NB_EINVAL, "not a permutation of the "
			                  "axes");
		seen[ax] = true;
		perm[i] = ax;
	}
	return NB_OK;
}

static nb_status permute_shape(nb_op_ctx *c, nb_result_def *res)
{
	int perm[NB_MAX_DIMS];
	if (get_perm(c, perm))
		return c->g->err;
	for (int i = 0; i < res->ndim; i++)
		res->shape[i] = c->in[0]->shape[perm[i]];
	return NB_OK;
}

/* The permuted input as a view (in output order). */
static void perm_view(nb_op_ctx *c, nb__view *v)
{
	int perm[NB_MAX_DIMS];
	int64_t xs[NB_MAX_DIMS];
	const nb_tensor *x = c->in[0];
	get_perm(c, perm);
	nb__strides(x->ndim, x->shape, xs);
	v->nd = x->ndim;
	v->off = 0;
	for (int i = 0; i < x->ndim; i++) {
		v->shape[i] = x->shape[perm[i]];
		v->st[i] = xs[perm[i]];
	}
}

/* Bytes moved by element size: any dtype. */
static nb_status permute_forward(nb_op_ctx *c)
{
	nb__view v;
	perm_view(c, &v);
	nb__view_gather(&v, nb_dtype_size(c->out->dtype), c->in[0]->data,
	                c->out->data);
	return NB_OK;
}

/* dx = dy permuted back: the gather's adjoint. */
static nb_status permute_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	nb__view v;
	perm_view(c, &v);
	nb__view_scatter_add(&v, gout->dtype, gout->data, gin[0]->data);
	return NB_OK;
}

static const nb_op_test permute_test = {
	.cases = "[2,3,4]|perm=2,0,1; [3,4]|perm=1,0",
};

static const nb_op permute_op = {
	.version = NB_OP_VERSION, .name = "permute", .kind = NB_KIND_SHAPE,
	.doc = "reorder the axes", .inputs = shape_inputs, .n_inputs = 1,
	.attrs = permute_defs, .n_attrs = 1,
	.attrs_size = sizeof(permute_attrs), .shape = permute_shape,
	.forward = permute_forward, .backward = permute_backward,
	.test = &permute_test,
};

/* transpose is permute with the permutation get_perm makes of dim0,
 * dim1: the same shape rule, forward and backward. */
static const nb_op_test transpose_test = {
	.cases = "[3,4]; [2,3,4]|dim0=0 dim1=2",
};

static const nb_op transpose_op = {
	.version = NB_OP_VERSION, .name = "transpose", .kind = NB_KIND_SHAPE,
	.doc = "swap two axes", .inputs = shape_inputs, .n_inputs = 1,
	.attrs = transpose_defs, .n_attrs = 2,
	.attrs_size = sizeof(transpose_attrs), .shape = permute_shape,
	.forward = permute_forward, .backward = permute_backward,
	.test = &transpose_test,
};

const nb_op *const nb__shape_ops[] = {
	&reshape_op, &permute_op, &transpose_op, NULL,
};

nb_tensor *nb_reshape(nb_graph *g, nb_tensor *x, int ndim,
                      const int64_t *shape)
{
	reshape_attrs a = {{0}};
	if (ndim < 0 || ndim > NB_MAX_DIMS || (ndim && !shape)) {
		nb__graph_fail(g, NB_EINVAL, "reshape: bad shape (rank %d)", ndim);
		return NULL;
	}
	a.shape.n = ndim;
	for (int i = 0; i < ndim; i++)
		a.shape.v[i] = shape[i];
	return nb_apply(g, &reshape_op, 1, &x, &a);
}

nb_tensor *nb_permute(nb_graph *g, nb_tensor *x, const int *perm)
{
	permute_attrs a = {{0}};
	if (x && perm) {
		a.perm.n = x->ndim;
		for (int i = 0; i < x->ndim; i++)
			a.perm.v[i] = perm[i];
	}
	return nb_apply(g, &permute_op, 1, &x, &a);
}

nb_tensor *nb_transpose(nb_graph *g, nb_tensor *x, int d0, int d1)
{
	transpose_attrs a = {d0, d1};
	return nb_apply(g, &transpose_op, 1, &x, &a);
}
