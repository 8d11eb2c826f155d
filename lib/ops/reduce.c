/*
 * reduce.c - sum, mean, max and min over chosen axes, with keepdim; the
 * axis handling and row layout every reduction family shares (reduce_rows.h).
 *
 * Every reduction maps each input element to one output element: the
 * output is laid out like the input with reduced axes of size 1 (the
 * keepdim shape), and an input element's output offset follows from the
 * keepdim shape's broadcast strides.
 */
#include <math.h>
#include "reduce_rows.h"

typedef struct reduce_attrs {
	nb_ints axes;
	bool keepdim;
} reduce_attrs;

static const nb_attr_def reduce_defs[] = {
	{.name = "axes", .type = NB_ATTR_INTS,
	 .offset = offsetof(reduce_attrs, axes),
	 .doc = "axes to reduce (default: all)"},
	{.name = "keepdim", .type = NB_ATTR_BOOL,
	 .offset = offsetof(reduce_attrs, keepdim), .def = 0,
	 .doc = "keep reduced axes with size 1"},
};

bool nb__reduce_axes(nb_op_ctx *c, const nb_ints *axes, bool *red)
{
	const nb_tensor *x = c->in[0];
	for (int i = 0; i < NB_MAX_DIMS; i++)
		red[i] = axes->n == 0;
	for (int i = 0; i < axes->n; i++) {
		int ax;
		if (!nb__axis(x->ndim, axes->v[i], &ax) || x->ndim == 0) {
			nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for "
			           "rank %d", (long long)axes->v[i], x->ndim);
			return false;
		}
		if (red[ax]) {
			nb_op_fail(c, NB_EINVAL, "axis %d is repeated", ax);
			return false;
		}
		red[ax] = true;
	}
	return true;
}

/* Marks the reduced axes; false (with the error recorded) if bad. */
static bool reduced_axes(nb_op_ctx *c, bool *red)
{
	const reduce_attrs *a = c->attrs;
	return nb__reduce_axes(c, &a->axes, red);
}

/* The keepdim shape (rank of the input); returns the reduced count. */
static size_t keep_shape(nb_op_ctx *c, int64_t *shape)
{
	bool red[NB_MAX_DIMS];
	const nb_tensor *x = c->in[0];
	size_t count = 1;
	reduced_axes(c, red);
	for (int i = 0; i < x->ndim; i++) {
		shape[i] = red[i] ? 1 : x->shape[i];
		if (red[i])
			count *= (size_t)x->shape[i];
	}
	return count;
}

nb_status nb__reduce_shape(nb_op_ctx *c, const nb_ints *axes, bool keepdim,
                           nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	bool red[NB_MAX_DIMS];
	int n = 0;
	if (!nb__reduce_axes(c, axes, red))
		return c->g->err;
	for (int i = 0; i < x->ndim; i++) {
		if (!red[i])
			res->shape[n++] = x->shape[i];
		else if (keepdim)
			res->shape[n++] = 1;
	}
	res->ndim = n;
	return NB_OK;
}

static nb_status reduce_shape(nb_op_ctx *c, nb_result_def *res)
{
	const reduce_attrs *a = c->attrs;
	return nb__reduce_shape(c, &a->axes, a->keepdim, res);
}

void nb__rows_init(nb__rows *r, int nd, const int64_t *shape,
                   const bool *red)
{
	int64_t ks[NB_MAX_DIMS], ps[NB_MAX_DIMS];
	r->nd = nd;
	r->n_rows = 1;
	r->len = 1;
	for (int i = 0; i < nd; i++) {
		r->shape[i] = shape[i];
		ks[i] = red[i] ? 1 : shape[i];
		ps[i] = red[i] ? shape[i] : 1;
		r->n_rows *= (size_t)ks[i];
		r->len *= (size_t)ps[i];
	}
	nb__broadcast_strides(nd, ks, nd, shape, r->rst);
	nb__broadcast_strides(nd, ps, nd, shape, r->pst);
}

/* One loop per element size; the body sees src offset i and row place p. */
#define ROWS_LOOP(r, ...)                                                    \
	do {                                                                 \
		const size_t len_ = (r)->len;                                \
		NB_BCAST_LOOP((r)->nd, (r)->shape, (r)->rst, (r)->pst, {     \
			size_t p = (size_t)ia * len_ + (size_t)ib;           \
			__VA_ARGS__;                                         \
		});                                                          \
	} while (0)

void nb__rows_pack(const nb__rows *r, size_t esz, const void *src,
                   void *rows)
{
	if (esz == 8) {
		const uint64_t *s = src;
		uint64_t *d = rows;
		ROWS_LOOP(r, d[p] = s[i]);
	} else if (esz == 4) {
		const uint32_t *s = src;
		uint32_t *d = rows;
		ROWS_LOOP(r, d[p] = s[i]);
	} else {
		const uint8_t *s = src;
		uint8_t *d = rows;
		ROWS_LOOP(r, d[p] = s[i]);
	}
}

void nb__rows_unpack(const nb__rows *r, size_t esz, const void *rows,
                     void *dst)
{
	if (esz == 8) {
		const uint64_t *s = rows;
		uint64_t *d = dst;
		ROWS_LOOP(r, d[i] = s[p]);
	} else if (esz == 4) {
		const uint32_t *s = rows;
		uint32_t *d = dst;
		ROWS_LOOP(r, d[i] = s[p]);
	} else {
		const uint8_t *s = rows;
		uint8_t *d = dst;
		ROWS_LOOP(r, d[i] = s[p]);
	}
}

void nb__rows_add(const nb__rows *r, nb_dtype dt, const void *rows,
                  void *dst)
{
	if (dt == NB_F32) {
		const float *s = rows;
		float *d = dst;
		ROWS_LOOP(r, d[i] += s[p]);
	} else {
		const double *s = rows;
		double *d = dst;
		ROWS_LOOP(r, d[i] += s[p]);
	}
}

void *nb__rows_of(nb_op_ctx *c, const nb__rows *r, const nb_tensor *x)
{
	int64_t n = (int64_t)(r->n_rows * r->len);
	nb_tensor *t = nb_op_scratch(c, x->dtype, 1, &n);
	if (!t)
		return NULL;
	nb__rows_pack(r, nb_dtype_size(x->dtype), x->data, t->data);
	return t->data;
}

static const nb_input_def reduce_inputs[] = {
	{.name = "input"},
};

#define REDUCE_CASES "[3,4]; [3,4]|axes=1; [2,3,4]|axes=0,2 keepdim=1; " \
	"[2,3,4]|axes=-1; [5]|axes=0 keepdim=1"

static const nb_op_test reduce_test = {.cases = REDUCE_CASES};

static nb_status sum_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	int64_t ks[NB_MAX_DIMS];
	keep_shape(c, ks);
	nb__sum_to_shape(x->dtype, x->data, x->ndim, x->shape, c->out->data,
	                 x->ndim, ks);
	return NB_OK;
}

static nb_status sum_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	int64_t ks[NB_MAX_DIMS];
	keep_shape(c, ks);
	nb__broadcast_add(x->dtype, gout->data, x->ndim, ks, gin[0]->data,
	                  x->ndim, x->shape);
	return NB_OK;
}

static const nb_op sum_op = {
	.version = NB_OP_VERSION, .name = "sum", .kind = NB_KIND_REDUCE,
	.doc = "sum over axes", .inputs = reduce_inputs, .n_inputs = 1,
	.attrs = reduce_defs, .n_attrs = 2, .attrs_size = sizeof(reduce_attrs),
	.shape = reduce_shape, .forward = sum_forward,
	.backward = sum_backward, .test = &reduce_test,
};

/* t *= s, in t's dtype */
static void scale(nb_tensor *t, double s)
{
	if (t->dtype == NB_F32) {
		float *p = t->data;
		const float sf = (float)s;
		for (size_t i = 0; i < t->numel; i++)
			p[i] *= sf;
	} else {
		double *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			p[i] *= s;
	}
}

static nb_status mean_forward(nb_op_ctx *c)
{
	int64_t ks[NB_MAX_DIMS];
	size_t count = keep_shape(c, ks);
	sum_forward(c);
	scale(c->out, count ? 1.0 / (double)count : NAN);
	return NB_OK;
}

static nb_status mean_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	int64_t ks[NB_MAX_DIMS];
	size_t count = keep_shape(c, ks);
	nb_tensor *tmp = nb_op_scratch(c, gout->dtype, gout->ndim, gout->shape);
	if (!tmp)
		return NB_ENOMEM;
	memcpy(tmp->data, gout->data, nb__nbytes(gout));
	scale(tmp, count ? 1.0 / (double)count : 0);
	nb__broadcast_add(x->dtype, tmp->data, x->ndim, ks, gin[0]->data,
	                  x->ndim, x->shape);
	return NB_OK;
}

static const nb_op mean_op = {
	.version = NB_OP_VERSION, .name = "mean", .kind = NB_KIND_REDUCE,
	.doc = "mean over axes", .inputs = reduce_inputs, .n_inputs = 1,
	.attrs = reduce_defs, .n_attrs = 2, .attrs_size = sizeof(reduce_attrs),
	.shape = reduce_shape, .forward = mean_forward,
	.backward = mean_backward, .test = &reduce_test,
};

/* reduce_shape, and no axis of size 0 among the reduced ones */
static nb_status max_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	bool red[NB_MAX_DIMS];
	nb_status st = reduce_shape(c, res);
	if (st != NB_OK)
		return st;
	reduced_axes(c, red);
	for (int i = 0; i < x->ndim; i++)
		if (red[i] && x->shape[i] == 0)
			return nb_op_fail(c, NB_ESHAPE, "cannot take the %s over "
			                  "an axis of size 0", c->op->name);
	return NB_OK;
}

/*
 * max and min: forward keeps the largest (smallest) element of each
 * group (NaN if the group holds one, as PyTorch's).  Backward splits each
 * output gradient evenly among the elements equal to their group's
 * extremum, as PyTorch's amax and amin (and max() and min() over all
 * elements) do: with k tied maxima each gets g / k.  At a NaN group, max
 * (over any axes) and min over every axis share the gradient among the
 * NaNs, as torch.max() and torch.min() do; min over given axes gives the
 * whole group NaN, as torch.amin does (torch.amax does too, but max keeps
 * its documented rule).  Forward saves k per output element; backward
 * compares again.
 * BETTER(v, b) says that v replaces the extremum b so far.
 */
#define EXTREME_T(NAME, T, BETTER)                                           \
	/* The extrema; cnt (zeros on entry) marks the groups seen. */       \
	static void NAME##_##T(const nb_tensor *x, const int64_t *st,        \
	                       T *best, int64_t *cnt)                        \
	{                                                                    \
		const T *xp = x->data;                                       \
		NB_BCAST_LOOP(x->ndim, x->shape, st, st, {                   \
			T v = xp[i];                                         \
			if (cnt[ia] == 0 || BETTER(v, best[ia]) ||           \
			    (isnan(v) && !isnan(best[ia])))                  \
				best[ia] = v;                                \
			cnt[ia] = 1;                                         \
		});                                                          \
	}
#define MAX_BETTER(v, b) ((v) > (b))
#define MIN_BETTER(v, b) ((v) < (b))
EXTREME_T(max, float, MAX_BETTER)
EXTREME_T(max, double, MAX_BETTER)
EXTREME_T(min, float, MIN_BETTER)
EXTREME_T(min, double, MIN_BETTER)

#define EXTREME_GRAD_T(T)                                                    \
	/* How many elements of each group equal its extremum. */            \
	static void tie_count_##T(const nb_tensor *x, const int64_t *st,     \
	                          const T *best, int64_t *cnt, size_t n)     \
	{                                                                    \
		const T *xp = x->data;                                       \
		for (size_t k = 0; k < n; k++)                               \
			cnt[k] = 0;                                          \
		NB_BCAST_LOOP(x->ndim, x->shape, st, st, {                   \
			T v = xp[i], b = best[ia];                           \
			cnt[ia] += v == b || (isnan(v) && isnan(b));         \
		});                                                          \
	}                                                                    \
	/* nan_poisons: a NaN group's elements all get NaN (amin). */       \
	static void tie_bwd_##T(const nb_tensor *x, const int64_t *st,       \
	                        const T *best, const int64_t *cnt,           \
	                        const T *g, T *dx, bool nan_poisons)         \
	{                                                                    \
		const T *xp = x->data;                                       \
		NB_BCAST_LOOP(x->ndim, x->shape, st, st, {                   \
			T v = xp[i], b = best[ia];                           \
			if (nan_poisons && isnan(b))                         \
				dx[i] += (T)NAN;                             \
			else if (v == b || (isnan(v) && isnan(b)))           \
				dx[i] += cnt[ia] > 1 ? g[ia] / (T)cnt[ia]    \
				                     : g[ia];                \
		});                                                          \
	}
EXTREME_GRAD_T(float)
EXTREME_GRAD_T(double)

static nb_status extreme_forward(nb_op_ctx *c, bool is_max)
{
	const nb_tensor *x = c->in[0];
	int64_t ks[NB_MAX_DIMS], st[NB_MAX_DIMS];
	keep_shape(c, ks);
	nb__broadcast_strides(x->ndim, ks, x->ndim, x->shape, st);
	int64_t *cnt = nb_op_save(c, c->out->numel * sizeof *cnt);
	if (!cnt)
		return NB_ENOMEM;
	for (size_t i = 0; i < c->out->numel; i++)
		cnt[i] = 0;
	if (x->dtype == NB_F32) {
		if (is_max)
			max_float(x, st, c->out->data, cnt);
		else
			min_float(x, st, c->out->data, cnt);
		tie_count_float(x, st, c->out->data, cnt, c->out->numel);
	} else {
		if (is_max)
			max_double(x, st, c->out->data, cnt);
		else
			min_double(x, st, c->out->data, cnt);
		tie_count_double(x, st, c->out->data, cnt, c->out->numel);
	}
	return NB_OK;
}

static nb_status max_forward(nb_op_ctx *c)
{
	return extreme_forward(c, true);
}

static nb_status min_forward(nb_op_ctx *c)
{
	return extreme_forward(c, false);
}

static const nb_op min_op;

static nb_status extreme_backward(nb_op_ctx *c, const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	int64_t ks[NB_MAX_DIMS], st[NB_MAX_DIMS];
	keep_shape(c, ks);
	nb__broadcast_strides(x->ndim, ks, x->ndim, x->shape, st);
	/* min over given axes is torch.amin: a NaN group's gradient is NaN
	 * (max keeps sharing it among the NaNs, doc/ops.md) */
	const reduce_attrs *a = c->attrs;
	bool poison = c->op == &min_op && a->axes.n > 0;
	if (x->dtype == NB_F32)
		tie_bwd_float(x, st, c->out->data, c->saved, gout->data,
		              gin[0]->data, poison);
	else
		tie_bwd_double(x, st, c->out->data, c->saved, gout->data,
		               gin[0]->data, poison);
	return NB_OK;
}

static const nb_op max_op = {
	.version = NB_OP_VERSION, .name = "max", .kind = NB_KIND_REDUCE,
	.doc = "maximum over axes; the gradient split evenly among tied "
	       "maxima (as torch.amax)",
	.inputs = reduce_inputs, .n_inputs = 1, .attrs = reduce_defs,
	.n_attrs = 2, .attrs_size = sizeof(reduce_attrs), .shape = max_shape,
	.forward = max_forward, .backward = extreme_backward,
	.test = &reduce_test,
};

static const nb_op min_op = {
	.version = NB_OP_VERSION, .name = "min", .kind = NB_KIND_REDUCE,
	.doc = "minimum over axes (torch.amin(x, dim=axes, keepdim), "
	       "torch.min(x) over all); the gradient split evenly among tied "
	       "minima; NaN wins",
	.inputs = reduce_inputs, .n_inputs = 1, .attrs = reduce_defs,
	.n_attrs = 2, .attrs_size = sizeof(reduce_attrs), .shape = max_shape,
	.forward = min_forward, .backward = extreme_backward,
	.test = &reduce_test,
};

const nb_op *const nb__reduce_ops[] = {&sum_op, &mean_op, &max_op, &min_op,
                                       NULL};

static nb_tensor *reduce(nb_graph *g, const nb_op *op, nb_tensor *x,
                         int naxes, const int *axes, bool keepdim)
{
	reduce_attrs a = {.keepdim = keepdim};
	if (naxes < 0 || naxes > NB_MAX_DIMS || (naxes && !axes)) {
		nb__graph_fail(g, NB_EINVAL, "%s: bad axis list (%d axes)",
		               op->name, naxes);
		return NULL;
	}
	a.axes.n = naxes;
	for (int i = 0; i < naxes; i++)
		a.axes.v[i] = axes[i];
	return nb_apply(g, op, 1, &x, &a);
}

nb_tensor *nb_sum(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  bool keepdim)
{
	return reduce(g, &sum_op, x, naxes, axes, keepdim);
}

nb_tensor *nb_mean(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                   bool keepdim)
{
	return reduce(g, &mean_op, x, naxes, axes, keepdim);
}

nb_tensor *nb_max(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  bool keepdim)
{
	return reduce(g, &max_op, x, naxes, axes, keepdim);
}

nb_tensor *nb_min(nb_graph *g, nb_tensor *x, int naxes, const int *axes,
                  bool keepdim)
{
	return reduce(g, &min_op, x, naxes, axes, keepdim);
}
