/*
 * view.c - squeeze, unsqueeze, flatten, expand, slice, select, flip and
 * repeat: ops whose result is a strided view of their input.  nabla has
 * no views, so each result is a copy made through the view
 * (nb__view_gather: bytes moved by element size, any dtype), and each
 * backward is that copy's adjoint, a scatter-add (nb__view_scatter_add:
 * float only), which sums over the axes that expand and repeat
 * broadcast.  Each op is one function that checks its attributes
 * against the input and describes the view and the result's shape.
 */
#include "strided.h"
#include "nabla/shape.h"

/*
 * Describes the view of c->in[0] that is op's result into v and the
 * result's rank and shape into r; reports bad attributes with
 * nb_op_fail.  The dispatcher calls it as the shape rule, forward and
 * backward call it again (it then cannot fail).
 */
typedef nb_status (*view_fn)(nb_op_ctx *c, nb__view *v, nb_result_def *r);

/* The identity view of x: its shape and row-major strides. */
static void view_of(const nb_tensor *x, nb__view *v)
{
	v->nd = x->ndim;
	v->off = 0;
	memcpy(v->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
	nb__strides(x->ndim, x->shape, v->st);
}

static void result_of(const nb__view *v, nb_result_def *r)
{
	r->ndim = v->nd;
	memcpy(r->shape, v->shape, sizeof(int64_t) * (size_t)v->nd);
}

static nb_status view_forward(nb_op_ctx *c, view_fn fn)
{
	nb__view v;
	nb_result_def r;
	nb_status st = fn(c, &v, &r);
	if (st)
		return st;
	nb__view_gather(&v, nb_dtype_size(c->out->dtype), c->in[0]->data,
	                c->out->data);
	return NB_OK;
}

static nb_status view_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin, view_fn fn)
{
	nb__view v;
	nb_result_def r;
	nb_status st = fn(c, &v, &r);
	if (st)
		return st;
	nb__view_scatter_add(&v, gout->dtype, gout->data, gin[0]->data);
	return NB_OK;
}

/* NAME_shape, NAME_forward and NAME_backward around NAME_view. */
#define VIEW_OP(NAME)                                                        \
	static nb_status NAME##_shape(nb_op_ctx *c, nb_result_def *res)      \
	{                                                                    \
		nb__view v;                                                  \
		return NAME##_view(c, &v, res);                              \
	}                                                                    \
	static nb_status NAME##_forward(nb_op_ctx *c)                        \
	{                                                                    \
		return view_forward(c, NAME##_view);                         \
	}                                                                    \
	static nb_status NAME##_backward(nb_op_ctx *c, const nb_tensor *gout, \
	                                 nb_tensor *const *gin)              \
	{                                                                    \
		return view_backward(c, gout, gin, NAME##_view);             \
	}

#define VIEW_DESC(NAME, DOC, DEFS, ATYPE, TEST)                              \
	{                                                                    \
		.version = NB_OP_VERSION, .name = #NAME,                     \
		.kind = NB_KIND_SHAPE, .doc = DOC, .inputs = any_input,      \
		.n_inputs = 1, .attrs = DEFS,                                \
		.n_attrs = (int)(sizeof(DEFS) / sizeof(nb_attr_def)),        \
		.attrs_size = sizeof(ATYPE), .flags = NB_OP_WRITES_OUTPUT,   \
		.shape = NAME##_shape, .forward = NAME##_forward,            \
		.backward = NAME##_backward, .test = TEST,                   \
	}

static const nb_input_def any_input[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE,
	 .doc = "float32, float64, int64 or bool (gradients: float only)"},
};

/* An axis of x normalized into [0, rank); a scalar takes 0 and -1, as
 * PyTorch's. */
static bool axis_of(const nb_tensor *x, int64_t axis, int *k)
{
	return nb__axis(x->ndim ? x->ndim : 1, axis, k);
}

/* Removes axis k of v. */
static void drop_axis(nb__view *v, int k)
{
	for (int i = k; i + 1 < v->nd; i++) {
		v->shape[i] = v->shape[i + 1];
		v->st[i] = v->st[i + 1];
	}
	v->nd--;
}

/* Inserts an axis of size n and stride s before axis k of v. */
static void insert_axis(nb__view *v, int k, int64_t n, int64_t s)
{
	for (int i = v->nd; i > k; i--) {
		v->shape[i] = v->shape[i - 1];
		v->st[i] = v->st[i - 1];
	}
	v->shape[k] = n;
	v->st[k] = s;
	v->nd++;
}

/* ---- squeeze ---- */

typedef struct squeeze_attrs {
	nb_ints axis;
} squeeze_attrs;

static const nb_attr_def squeeze_defs[] = {
	{.name = "axis", .type = NB_ATTR_INTS,
	 .offset = offsetof(squeeze_attrs, axis),
	 .doc = "the axes to remove if their size is 1 (negative from the "
	        "end); not given: every axis of size 1"},
};

static nb_status squeeze_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const squeeze_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	bool drop[NB_MAX_DIMS] = {false};
	for (int i = 0; i < a->axis.n; i++) {
		int k;
		if (!axis_of(x, a->axis.v[i], &k))
			return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range "
			                  "for rank %d", (long long)a->axis.v[i],
			                  x->ndim);
		drop[k] = x->ndim > 0 && x->shape[k] == 1;
	}
	view_of(x, v);
	for (int k = x->ndim - 1; k >= 0; k--)
		if (a->axis.n ? drop[k] : x->shape[k] == 1)
			drop_axis(v, k);
	result_of(v, r);
	return NB_OK;
}
VIEW_OP(squeeze)

/* ---- unsqueeze ---- */

typedef struct axis_attrs {
	int64_t axis;
} axis_attrs;

static const nb_attr_def unsqueeze_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(axis_attrs, axis), .range = NB_UNBOUNDED,
	 .doc = "where the new axis of size 1 goes, in [-rank-1, rank] "
	        "(-1 appends it)"},
};

static nb_status unsqueeze_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const axis_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int k;
	if (x->ndim == NB_MAX_DIMS)
		return nb_op_fail(c, NB_ESHAPE, "the result would have rank %d, "
		                  "more than %d", NB_MAX_DIMS + 1, NB_MAX_DIMS);
	if (!nb__axis(x->ndim + 1, a->axis, &k))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range [%d, "
		                  "%d]", (long long)a->axis, -x->ndim - 1,
		                  x->ndim);
	view_of(x, v);
	insert_axis(v, k, 1, 0);
	result_of(v, r);
	return NB_OK;
}
VIEW_OP(unsqueeze)

/* ---- flatten ---- */

typedef struct flatten_attrs {
	int64_t start_dim, end_dim;
} flatten_attrs;

static const nb_attr_def flatten_defs[] = {
	{.name = "start_dim", .type = NB_ATTR_INT,
	 .offset = offsetof(flatten_attrs, start_dim), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "first axis merged"},
	{.name = "end_dim", .type = NB_ATTR_INT,
	 .offset = offsetof(flatten_attrs, end_dim), .def = -1,
	 .range = NB_UNBOUNDED, .doc = "last axis merged"},
};

/* The view is the input itself: only the result's shape differs. */
static nb_status flatten_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const flatten_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int s, e;
	if (!axis_of(x, a->start_dim, &s) ||
	    !axis_of(x, a->end_dim, &e))
		return nb_op_fail(c, NB_EINVAL, "start_dim %lld or end_dim %lld "
		                  "is out of range for rank %d",
		                  (long long)a->start_dim, (long long)a->end_dim,
		                  x->ndim);
	if (s > e)
		return nb_op_fail(c, NB_EINVAL, "start_dim %lld comes after "
		                  "end_dim %lld", (long long)a->start_dim,
		                  (long long)a->end_dim);
	view_of(x, v);
	if (x->ndim == 0) { /* a scalar flattens to [1], as PyTorch */
		r->ndim = 1;
		r->shape[0] = 1;
		return NB_OK;
	}
	r->ndim = 0;
	for (int k = 0; k < x->ndim; k++) {
		if (k > s && k <= e)
			r->shape[r->ndim - 1] *= x->shape[k];
		else
			r->shape[r->ndim++] = x->shape[k];
	}
	return NB_OK;
}
VIEW_OP(flatten)

/* ---- expand ---- */

typedef struct expand_attrs {
	nb_ints sizes;
} expand_attrs;

static const nb_attr_def expand_defs[] = {
	{.name = "sizes", .type = NB_ATTR_INTS,
	 .offset = offsetof(expand_attrs, sizes),
	 .doc = "the new shape, at least the input's rank; -1 keeps an "
	        "axis, an axis of size 1 becomes any size, new axes lead"},
};

static nb_status expand_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const expand_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int lead = a->sizes.n - x->ndim;
	int64_t xs[NB_MAX_DIMS];
	if (lead < 0)
		return nb_op_fail(c, NB_EINVAL, "%d sizes for an input of rank "
		                  "%d: give at least one per axis", a->sizes.n,
		                  x->ndim);
	nb__strides(x->ndim, x->shape, xs);
	v->nd = a->sizes.n;
	v->off = 0;
	for (int k = 0; k < a->sizes.n; k++) {
		int64_t d = a->sizes.v[k];
		int64_t have = k < lead ? 1 : x->shape[k - lead];
		if (d == -1 && k >= lead)
			d = have;
		if (d < 0)
			return nb_op_fail(c, NB_EINVAL, "size %lld at axis %d (-1 "
			                  "only keeps an existing axis)",
			                  (long long)d, k);
		if (have != d && have != 1)
			return nb_op_fail(c, NB_ESHAPE, "size %lld at axis %d must "
			                  "match the input's size %lld there (or "
			                  "that size be 1)", (long long)d, k,
			                  (long long)have);
		v->shape[k] = d;
		v->st[k] = k < lead || have != d ? 0 : xs[k - lead];
	}
	result_of(v, r);
	return NB_OK;
}
VIEW_OP(expand)

/* ---- slice ---- */

typedef struct slice_attrs {
	int64_t axis, start, end, step;
} slice_attrs;

/* end's default: past the end of any axis (Python's x[a:]). */
#define SLICE_END 4611686018427387904.0 /* 2^62 */

static const nb_attr_def slice_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(slice_attrs, axis), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the axis sliced (negative from the "
	 "end)"},
	{.name = "start", .type = NB_ATTR_INT,
	 .offset = offsetof(slice_attrs, start), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "first index (negative from the end; "
	 "clamped to the axis, as Python)"},
	{.name = "end", .type = NB_ATTR_INT,
	 .offset = offsetof(slice_attrs, end), .def = SLICE_END,
	 .range = NB_UNBOUNDED, .doc = "index past the last (negative from "
	 "the end; clamped; default: the end)"},
	{.name = "step", .type = NB_ATTR_INT,
	 .offset = offsetof(slice_attrs, step), .def = 1,
	 .range = NB_AT_LEAST(1), .doc = "stride between the indices taken"},
};

/* Python's clamping of a slice bound to [0, n]. */
static int64_t clamp_bound(int64_t i, int64_t n)
{
	if (i < 0)
		return i < -n ? 0 : i + n;
	return i > n ? n : i;
}

static nb_status slice_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const slice_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int k;
	if (x->ndim == 0 || !nb__axis(x->ndim, a->axis, &k))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)a->axis, x->ndim);
	int64_t n = x->shape[k];
	int64_t s = clamp_bound(a->start, n), e = clamp_bound(a->end, n);
	view_of(x, v);
	v->shape[k] = e > s ? (e - s - 1) / a->step + 1 : 0;
	v->off = v->shape[k] ? s * v->st[k] : 0;
	/* With two or more indices step < n: the product cannot overflow. */
	v->st[k] = v->shape[k] > 1 ? v->st[k] * a->step : 0;
	result_of(v, r);
	return NB_OK;
}
VIEW_OP(slice)

/* ---- select ---- */

typedef struct select_attrs {
	int64_t axis, index;
} select_attrs;

static const nb_attr_def select_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(select_attrs, axis), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the axis indexed and removed"},
	{.name = "index", .type = NB_ATTR_INT,
	 .offset = offsetof(select_attrs, index), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the index along it (negative from "
	 "the end; out of range is an error)"},
};

static nb_status select_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const select_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int k;
	if (x->ndim == 0 || !nb__axis(x->ndim, a->axis, &k))
		return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
		                  "rank %d", (long long)a->axis, x->ndim);
	int64_t n = x->shape[k], i = a->index;
	if (i < -n || i >= n)
		return nb_op_fail(c, NB_EINVAL, "index %lld is out of range for "
		                  "axis %d of size %lld", (long long)i, k,
		                  (long long)n);
	view_of(x, v);
	v->off = (i < 0 ? i + n : i) * v->st[k];
	drop_axis(v, k);
	result_of(v, r);
	return NB_OK;
}
VIEW_OP(select)

/* ---- flip ---- */

typedef struct flip_attrs {
	nb_ints dims;
} flip_attrs;

static const nb_attr_def flip_defs[] = {
	{.name = "dims", .type = NB_ATTR_INTS,
	 .offset = offsetof(flip_attrs, dims),
	 .doc = "the axes reversed, each once (negative from the end)"},
};

static nb_status flip_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const flip_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	bool seen[NB_MAX_DIMS] = {false};
	view_of(x, v);
	for (int i = 0; i < a->dims.n; i++) {
		int k;
		if (!axis_of(x, a->dims.v[i], &k))
			return nb_op_fail(c, NB_EINVAL, "axis %lld is out of range "
			                  "for rank %d", (long long)a->dims.v[i],
			                  x->ndim);
		if (seen[k])
			return nb_op_fail(c, NB_EINVAL, "axis %d appears twice in "
			                  "dims", k);
		seen[k] = true;
		if (x->ndim == 0 || v->shape[k] == 0)
			continue;
		v->off += (v->shape[k] - 1) * v->st[k];
		v->st[k] = -v->st[k];
	}
	result_of(v, r);
	return NB_OK;
}
VIEW_OP(flip)

/* ---- repeat ---- */

typedef struct repeat_attrs {
	nb_ints repeats;
} repeat_attrs;

static const nb_attr_def repeat_defs[] = {
	{.name = "repeats", .type = NB_ATTR_INTS,
	 .offset = offsetof(repeat_attrs, repeats),
	 .doc = "copies along each axis, at least one entry per axis; "
	        "extra entries add leading axes"},
};

/*
 * Result axis k of size r_k * n_k is seen as two axes [r_k, n_k] with
 * strides [0, the input's]: the view repeats without arithmetic.
 */
static nb_status repeat_view(nb_op_ctx *c, nb__view *v, nb_result_def *r)
{
	const repeat_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int lead = a->repeats.n - x->ndim;
	int64_t xs[NB_MAX_DIMS];
	if (lead < 0)
		return nb_op_fail(c, NB_EINVAL, "%d repeats for an input of "
		                  "rank %d: give at least one per axis",
		                  a->repeats.n, x->ndim);
	nb__strides(x->ndim, x->shape, xs);
	v->nd = 0;
	v->off = 0;
	r->ndim = a->repeats.n;
	for (int k = 0; k < a->repeats.n; k++) {
		int64_t rep = a->repeats.v[k];
		int64_t n = k < lead ? 1 : x->shape[k - lead];
		if (rep < 0)
			return nb_op_fail(c, NB_EINVAL, "repeats[%d] = %lld is "
			                  "negative", k, (long long)rep);
		if (__builtin_mul_overflow(rep, n, &r->shape[k]))
			return nb_op_fail(c, NB_ESHAPE, "repeats[%d] = %lld makes "
			                  "an axis too long", k, (long long)rep);
		insert_axis(v, v->nd, rep, 0);
		insert_axis(v, v->nd, n, k < lead ? 0 : xs[k - lead]);
	}
	return NB_OK;
}
VIEW_OP(repeat)

/* ---- descriptors ---- */

static const nb_op_test squeeze_test = {
	.cases = "[3,1,4,1]; [3,1,4]|axis=1; [3,1,4]|axis=-2; "
	         "[3,4]|axis=0; [1]",
};
static const nb_op_test unsqueeze_test = {
	.cases = "[3,4]|axis=0; [3,4]|axis=-1; [3,4]|axis=1; []|axis=0",
};
static const nb_op_test flatten_test = {
	.cases = "[2,3,4]; [2,3,4]|start_dim=1; [2,3,4,2]|start_dim=1 "
	         "end_dim=-2; []",
};
static const nb_op_test expand_test = {
	.cases = "[3,1]|sizes=3,4; [1,4]|sizes=2,3,-1; [4]|sizes=2,4; "
	         "[]|sizes=3",
};
static const nb_op_test slice_test = {
	.cases = "[5,4]|start=1 end=4; [5,4]|axis=-1 start=-3 step=2; "
	         "[6]|start=-100 end=100 step=4; [3,4]|start=2 end=1",
};
static const nb_op_test select_test = {
	.cases = "[3,4]|index=1; [2,3,4]|axis=-1 index=-1; [5]|index=4",
};
static const nb_op_test flip_test = {
	.cases = "[3,4]|dims=0; [2,3,4]|dims=-1,0; [5]",
};
static const nb_op_test repeat_test = {
	.cases = "[2,3]|repeats=2,2; [3]|repeats=2,1,2; [2,1]|repeats=1,3; "
	         "[]|repeats=2",
};

static const nb_op squeeze_op = VIEW_DESC(squeeze,
	"remove axes of size 1 (all, or those named)", squeeze_defs,
	squeeze_attrs, &squeeze_test);
static const nb_op unsqueeze_op = VIEW_DESC(unsqueeze,
	"insert an axis of size 1", unsqueeze_defs, axis_attrs,
	&unsqueeze_test);
static const nb_op flatten_op = VIEW_DESC(flatten,
	"merge axes start_dim..end_dim into one", flatten_defs,
	flatten_attrs, &flatten_test);
static const nb_op expand_op = VIEW_DESC(expand,
	"broadcast axes of size 1 to a larger shape; gradient summed over "
	"them", expand_defs, expand_attrs, &expand_test);
static const nb_op slice_op = VIEW_DESC(slice,
	"x[start:end:step] along axis, as Python", slice_defs, slice_attrs,
	&slice_test);
static const nb_op select_op = VIEW_DESC(select,
	"the sub-tensor at index along axis, axis removed", select_defs,
	select_attrs, &select_test);
static const nb_op flip_op = VIEW_DESC(flip, "reverse the order along "
	"axes", flip_defs, flip_attrs, &flip_test);
static const nb_op repeat_op = VIEW_DESC(repeat,
	"tile the input repeats[k] times along each axis", repeat_defs,
	repeat_attrs, &repeat_test);

const nb_op *const nb__view_ops[] = {
	&squeeze_op, &unsqueeze_op, &flatten_op, &expand_op, &slice_op,
	&select_op, &flip_op, &repeat_op, NULL,
};

/* ---- typed wrappers ---- */

/* Copies n entries of v (n in 0..NB_MAX_DIMS) into l; false if n is
 * out of range or v is NULL with n > 0 (recorded on g). */
static bool ints_of(nb_graph *g, const char *op, int n, const int64_t *v,
                    nb_ints *l)
{
	if (n < 0 || n > NB_MAX_DIMS || (n && !v)) {
		if (g)
			nb__graph_fail(g, NB_EINVAL, "%s: %d values (NULL or more "
			               "than %d)", op, n, NB_MAX_DIMS);
		else
			nb__set_error(NB_EINVAL, "%s: NULL graph", op);
		return false;
	}
	l->n = n;
	for (int i = 0; i < n; i++)
		l->v[i] = v[i];
	return true;
}

nb_tensor *nb_squeeze(nb_graph *g, nb_tensor *x, int n_axes,
                      const int64_t *axes)
{
	squeeze_attrs a = {{0}};
	if (!ints_of(g, "squeeze", n_axes, axes, &a.axis))
		return NULL;
	return nb_apply(g, &squeeze_op, 1, &x, &a);
}

nb_tensor *nb_unsqueeze(nb_graph *g, nb_tensor *x, int64_t axis)
{
	axis_attrs a = {axis};
	return nb_apply(g, &unsqueeze_op, 1, &x, &a);
}

nb_tensor *nb_flatten(nb_graph *g, nb_tensor *x, int64_t start_dim,
                      int64_t end_dim)
{
	flatten_attrs a = {start_dim, end_dim};
	return nb_apply(g, &flatten_op, 1, &x, &a);
}

nb_tensor *nb_expand(nb_graph *g, nb_tensor *x, int n, const int64_t *sizes)
{
	expand_attrs a = {{0}};
	if (!ints_of(g, "expand", n, sizes, &a.sizes))
		return NULL;
	return nb_apply(g, &expand_op, 1, &x, &a);
}

nb_tensor *nb_slice(nb_graph *g, nb_tensor *x, int64_t axis, int64_t start,
                    int64_t end, int64_t step)
{
	slice_attrs a = {axis, start, end, step};
	return nb_apply(g, &slice_op, 1, &x, &a);
}

nb_tensor *nb_select(nb_graph *g, nb_tensor *x, int64_t axis, int64_t index)
{
	select_attrs a = {axis, index};
	return nb_apply(g, &select_op, 1, &x, &a);
}

nb_tensor *nb_flip(nb_graph *g, nb_tensor *x, int n, const int64_t *dims)
{
	flip_attrs a = {{0}};
	if (!ints_of(g, "flip", n, dims, &a.dims))
		return NULL;
	return nb_apply(g, &flip_op, 1, &x, &a);
}

nb_tensor *nb_repeat(nb_graph *g, nb_tensor *x, int n,
                     const int64_t *repeats)
{
	repeat_attrs a = {{0}};
	if (!ints_of(g, "repeat", n, repeats, &a.repeats))
		return NULL;
	return nb_apply(g, &repeat_op, 1, &x, &a);
}
