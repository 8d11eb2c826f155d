/*
 * reduce_index.c - argmax, argmin, cumsum and topk: the reductions along
 * one axis that deal in positions.
 *
 * Like reduce_stats.c they run over rows (reduce_rows.h).  argmax and
 * argmin have no gradient; cumsum's is the reverse cumulative sum;
 * topk's sends each value's gradient to its index.  topk orders ties as
 * PyTorch 1.13's CPU kernel does, which sorts (value, index) pairs with
 * libstdc++'s std::partial_sort, or std::nth_element then std::sort,
 * comparing values only: those algorithms are reproduced here step for
 * step (GCC's bits/stl_algo.h and stl_heap.h), so that tied values come
 * out with the same indices.
 */
#include <tgmath.h>
#include "reduce_rows.h"

static const nb_input_def index_inputs[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE},
};

static const nb_input_def topk_inputs[] = {
	{.name = "input"},
};

/* Axis v of an input of rank nd, Python-style; a 0-d input takes 0 and
 * -1 (its one "axis", as PyTorch).  false, recorded, when out of range. */
static bool one_axis(nb_op_ctx *c, int nd, int64_t v, int *ax)
{
	if (nd == 0 && (v == 0 || v == -1)) {
		*ax = -1;
		return true;
	}
	if (nd > 0 && nb__axis(nd, v, ax))
		return true;
	nb_op_fail(c, NB_EINVAL, "axis %lld is out of range for rank %d",
	           (long long)v, nd);
	return false;
}

/* The rows of x along axis ax (-1: a 0-d input; all: every axis). */
static void axis_rows(nb__rows *r, const nb_tensor *x, int ax, bool all)
{
	bool red[NB_MAX_DIMS];
	for (int i = 0; i < NB_MAX_DIMS; i++)
		red[i] = all || i == ax;
	nb__rows_init(r, x->ndim, x->shape, red);
}

/* A scratch of n elements of dtype dt; NULL on NB_ENOMEM (recorded). */
static void *scratch(nb_op_ctx *c, nb_dtype dt, size_t n)
{
	int64_t len = (int64_t)n;
	nb_tensor *t = nb_op_scratch(c, dt, 1, &len);
	return t ? t->data : NULL;
}

/* ---- argmax, argmin ---- */

typedef struct arg_attrs {
	nb_ints axis;
	bool keepdim;
} arg_attrs;

static const nb_attr_def arg_defs[] = {
	{.name = "axis", .type = NB_ATTR_INTS,
	 .offset = offsetof(arg_attrs, axis),
	 .doc = "the axis (PyTorch's dim; at most one); default: none, the "
	        "index into the flattened input"},
	{.name = "keepdim", .type = NB_ATTR_BOOL,
	 .offset = offsetof(arg_attrs, keepdim), .def = 0,
	 .doc = "keep the reduced axis (every axis, without one) with size "
	        "1"},
};

/* The reduced axis of argmax/argmin (-1: every axis); false if bad. */
static bool arg_axis(nb_op_ctx *c, int *ax)
{
	const arg_attrs *a = c->attrs;
	*ax = -1;
	if (a->axis.n > 1) {
		nb_op_fail(c, NB_EINVAL, "takes one axis, not %d", a->axis.n);
		return false;
	}
	return a->axis.n == 0 || one_axis(c, c->in[0]->ndim, a->axis.v[0], ax);
}

static nb_status arg_shape(nb_op_ctx *c, nb_result_def *res)
{
	const arg_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int ax, n = 0;
	if (x->dtype == NB_BOOL)
		return nb_op_fail(c, NB_EDTYPE, "input must be float32, float64 "
		                  "or int64, not bool (as PyTorch)");
	if (!arg_axis(c, &ax))
		return c->g->err;
	for (int i = 0; i < x->ndim; i++) {
		bool red = ax < 0 || i == ax;
		if (red && x->shape[i] == 0)
			return nb_op_fail(c, NB_ESHAPE, "cannot take the %s over "
			                  "axis %d of size 0", c->op->name, i);
		if (!red)
			res->shape[n++] = x->shape[i];
		else if (a->keepdim)
			res->shape[n++] = 1;
	}
	res->ndim = n;
	res->dtype = NB_I64;
	return NB_OK;
}

/*
 * The index of the first largest (smallest) element of each row.  NaN
 * is both the largest and the smallest: the first NaN wins, as PyTorch.
 */
#define ARG_T(T, ISNAN)                                                      \
	static void arg_##T(size_t rows, size_t len, const T *x, int64_t *y, \
	                    bool is_max)                                     \
	{                                                                    \
		for (size_t r = 0; r < rows; r++, x += len) {                \
			size_t best = 0;                                     \
			for (size_t j = 1; j < len && !ISNAN(x[best]); j++)  \
				if (ISNAN(x[j]) || (is_max ? x[j] > x[best]  \
				                           : x[j] < x[best]))\
					best = j;                            \
			y[r] = (int64_t)best;                                \
		}                                                            \
	}
#define NEVER_NAN(v) ((void)(v), false)
ARG_T(float, isnan)
ARG_T(double, isnan)
ARG_T(int64_t, NEVER_NAN)

static nb_status arg_forward(nb_op_ctx *c, bool is_max)
{
	const nb_tensor *x = c->in[0];
	nb__rows r;
	int ax;
	arg_axis(c, &ax);
	axis_rows(&r, x, ax, ax < 0);
	void *xr = nb__rows_of(c, &r, x);
	if (!xr)
		return NB_ENOMEM;
	if (x->dtype == NB_F32)
		arg_float(r.n_rows, r.len, xr, c->out->data, is_max);
	else if (x->dtype == NB_F64)
		arg_double(r.n_rows, r.len, xr, c->out->data, is_max);
	else
		arg_int64_t(r.n_rows, r.len, xr, c->out->data, is_max);
	return NB_OK;
}

static nb_status argmax_forward(nb_op_ctx *c)
{
	return arg_forward(c, true);
}

static nb_status argmin_forward(nb_op_ctx *c)
{
	return arg_forward(c, false);
}

static const nb_op_test arg_test = {
	.cases = "[3,4]; [3,4]|axis=1; [2,3,4]|axis=-1 keepdim=1; "
	         "[2,3,4]|keepdim=1; [5]|axis=0",
};

static const nb_op argmax_op = {
	.version = NB_OP_VERSION, .name = "argmax", .kind = NB_KIND_REDUCE,
	.doc = "int64 index of the first maximum along axis, or in the "
	       "flattened input (torch.argmax(x, dim=None, keepdim)); NaN is "
	       "the maximum; no gradient",
	.inputs = index_inputs, .n_inputs = 1, .attrs = arg_defs,
	.n_attrs = 2, .attrs_size = sizeof(arg_attrs), .flags = NB_OP_NO_GRAD,
	.shape = arg_shape, .forward = argmax_forward, .test = &arg_test,
};

static const nb_op argmin_op = {
	.version = NB_OP_VERSION, .name = "argmin", .kind = NB_KIND_REDUCE,
	.doc = "int64 index of the first minimum along axis, or in the "
	       "flattened input (torch.argmin(x, dim=None, keepdim)); NaN is "
	       "the minimum; no gradient",
	.inputs = index_inputs, .n_inputs = 1, .attrs = arg_defs,
	.n_attrs = 2, .attrs_size = sizeof(arg_attrs), .flags = NB_OP_NO_GRAD,
	.shape = arg_shape, .forward = argmin_forward, .test = &arg_test,
};

/* ---- cumsum ---- */

typedef struct cumsum_attrs {
	int64_t axis;
} cumsum_attrs;

static const nb_attr_def cumsum_defs[] = {
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(cumsum_attrs, axis), .def = -1,
	 .range = NB_UNBOUNDED,
	 .doc = "the axis to sum along (PyTorch's dim, which has no "
	        "default; here the last, as softmax's)"},
};

static nb_status cumsum_shape(nb_op_ctx *c, nb_result_def *res)
{
	const cumsum_attrs *a = c->attrs;
	int ax;
	(void)res;
	if (c->in[0]->dtype == NB_BOOL)
		return nb_op_fail(c, NB_EDTYPE, "input must be float32, float64 "
		                  "or int64, not bool");
	return one_axis(c, c->in[0]->ndim, a->axis, &ax) ? NB_OK : c->g->err;
}

/*
 * y_j = sum_{i <= j} x_i along the axis; dx_i = sum_{j >= i} g_j.  The
 * float32 sum runs in double, as PyTorch's CPU kernel (its accumulation
 * type), and int64 wraps around as PyTorch's does.
 */
static void cumsum_float(size_t rows, size_t len, float *x)
{
	for (size_t r = 0; r < rows; r++, x += len) {
		double s = 0;
		for (size_t j = 0; j < len; j++) {
			s += (double)x[j];
			x[j] = (float)s;
		}
	}
}

static void cumsum_double(size_t rows, size_t len, double *x)
{
	for (size_t r = 0; r < rows; r++, x += len) {
		double s = 0;
		for (size_t j = 0; j < len; j++) {
			s += x[j];
			x[j] = s;
		}
	}
}

static void cumsum_int64(size_t rows, size_t len, int64_t *x)
{
	for (size_t r = 0; r < rows; r++, x += len) {
		uint64_t s = 0;
		for (size_t j = 0; j < len; j++) {
			s += (uint64_t)x[j];
			x[j] = (int64_t)s;
		}
	}
}

/* Reverses each row in place (the gradient is the cumsum of reversed
 * rows, reversed). */
#define REVERSE_T(T)                                                         \
	static void reverse_##T(size_t rows, size_t len, T *x)               \
	{                                                                    \
		for (size_t r = 0; r < rows; r++, x += len)                  \
			for (size_t i = 0, j = len; i + 1 < j; i++, j--) {   \
				T t = x[i];                                  \
				x[i] = x[j - 1];                             \
				x[j - 1] = t;                                \
			}                                                    \
	}
REVERSE_T(float)
REVERSE_T(double)

static nb_status cumsum_rows(nb_op_ctx *c, nb__rows *r)
{
	const cumsum_attrs *a = c->attrs;
	int ax;
	one_axis(c, c->in[0]->ndim, a->axis, &ax);
	axis_rows(r, c->in[0], ax, ax < 0);
	return NB_OK;
}

static nb_status cumsum_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	nb__rows r;
	cumsum_rows(c, &r);
	void *xr = nb__rows_of(c, &r, x);
	if (!xr)
		return NB_ENOMEM;
	if (x->dtype == NB_F32)
		cumsum_float(r.n_rows, r.len, xr);
	else if (x->dtype == NB_F64)
		cumsum_double(r.n_rows, r.len, xr);
	else
		cumsum_int64(r.n_rows, r.len, xr);
	nb__rows_unpack(&r, nb_dtype_size(x->dtype), xr, c->out->data);
	return NB_OK;
}

static nb_status cumsum_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	nb__rows r;
	cumsum_rows(c, &r);
	void *gr = nb__rows_of(c, &r, gout);
	if (!gr)
		return NB_ENOMEM;
	if (gout->dtype == NB_F32) {
		reverse_float(r.n_rows, r.len, gr);
		cumsum_float(r.n_rows, r.len, gr);
		reverse_float(r.n_rows, r.len, gr);
	} else {
		reverse_double(r.n_rows, r.len, gr);
		cumsum_double(r.n_rows, r.len, gr);
		reverse_double(r.n_rows, r.len, gr);
	}
	nb__rows_add(&r, gout->dtype, gr, gin[0]->data);
	return NB_OK;
}

static const nb_op_test cumsum_test = {
	.cases = "[3,4]; [3,4]|axis=0; [2,3,4]|axis=1; [5]; [2,3]|axis=-2",
};

static const nb_op cumsum_op = {
	.version = NB_OP_VERSION, .name = "cumsum", .kind = NB_KIND_REDUCE,
	.doc = "cumulative sum along axis (torch.cumsum(x, dim)); float32, "
	       "float64 or int64",
	.inputs = index_inputs, .n_inputs = 1, .attrs = cumsum_defs,
	.n_attrs = 1, .attrs_size = sizeof(cumsum_attrs),
	.flags = NB_OP_WRITES_OUTPUT, .shape = cumsum_shape,
	.forward = cumsum_forward, .backward = cumsum_backward,
	.test = &cumsum_test,
};

/* ---- topk ---- */

typedef struct topk_attrs {
	int64_t k, axis;
	bool largest, sorted;
} topk_attrs;

static const nb_attr_def topk_defs[] = {
	{.name = "k", .type = NB_ATTR_INT, .offset = offsetof(topk_attrs, k),
	 .def = 1, .range = NB_AT_LEAST(0),
	 .doc = "how many elements to keep (at most the axis' size)"},
	{.name = "axis", .type = NB_ATTR_INT,
	 .offset = offsetof(topk_attrs, axis), .def = -1,
	 .range = NB_UNBOUNDED, .doc = "the axis (PyTorch's dim)"},
	{.name = "largest", .type = NB_ATTR_BOOL,
	 .offset = offsetof(topk_attrs, largest), .def = 1,
	 .doc = "the k largest (else the k smallest)"},
	{.name = "sorted", .type = NB_ATTR_BOOL,
	 .offset = offsetof(topk_attrs, sorted), .def = 1,
	 .doc = "in order, largest (smallest) first"},
};

static nb_status topk_shape(nb_op_ctx *c, nb_result_def *res)
{
	const topk_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int ax;
	if (!one_axis(c, x->ndim, a->axis, &ax))
		return c->g->err;
	int64_t n = ax < 0 ? 1 : x->shape[ax];
	if (a->k > n)
		return nb_op_fail(c, NB_ESHAPE, "k = %lld is larger than the "
		                  "size %lld of axis %d", (long long)a->k,
		                  (long long)n, ax < 0 ? 0 : ax);
	if (ax < 0 && a->k == 0)
		return nb_op_fail(c, NB_ESHAPE, "k = 0 on a 0-d input");
	if (ax >= 0)
		res[0].shape[ax] = a->k;
	res[1] = res[0];
	res[1].dtype = NB_I64;
	return NB_OK;
}

/*
 * libstdc++'s algorithms on (value, index) pairs, for float and double,
 * comparing as PyTorch's topk: comp(a, b) is a.v > b.v for the largest
 * (a.v < b.v for the smallest), a NaN coming before any number.  The
 * names and steps are GCC's, so that ties land where PyTorch's land.
 */
#define TOPK_T(T)                                                            \
	typedef struct pair_##T {                                            \
		T v;                                                         \
		int64_t i;                                                   \
	} pair_##T;                                                          \
	static bool comp_##T(pair_##T a, pair_##T b, bool largest)           \
	{                                                                    \
		if (largest)                                                 \
			return (isnan(a.v) && !isnan(b.v)) || a.v > b.v;     \
		return (!isnan(a.v) && isnan(b.v)) || a.v < b.v;             \
	}                                                                    \
	static void swap_##T(pair_##T *a, pair_##T *b)                       \
	{                                                                    \
		pair_##T t = *a;                                             \
		*a = *b;                                                     \
		*b = t;                                                      \
	}                                                                    \
	static void push_heap_##T(pair_##T *f, ptrdiff_t hole, ptrdiff_t top,\
	                          pair_##T v, bool L)                        \
	{                                                                    \
		ptrdiff_t parent = (hole - 1) / 2;                           \
		while (hole > top && comp_##T(f[parent], v, L)) {            \
			f[hole] = f[parent];                                 \
			hole = parent;                                       \
			parent = (hole - 1) / 2;                             \
		}                                                            \
		f[hole] = v;                                                 \
	}                                                                    \
	static void adjust_heap_##T(pair_##T *f, ptrdiff_t hole,             \
	                            ptrdiff_t len, pair_##T v, bool L)       \
	{                                                                    \
		const ptrdiff_t top = hole;                                  \
		ptrdiff_t child = hole;                                      \
		while (child < (len - 1) / 2) {                              \
			child = 2 * (child + 1);                             \
			if (comp_##T(f[child], f[child - 1], L))             \
				child--;                                     \
			f[hole] = f[child];                                  \
			hole = child;                                        \
		}                                                            \
		if ((len & 1) == 0 && child == (len - 2) / 2) {              \
			child = 2 * (child + 1);                             \
			f[hole] = f[child - 1];                              \
			hole = child - 1;                                    \
		}                                                            \
		push_heap_##T(f, hole, top, v, L);                           \
	}                                                                    \
	static void pop_heap_##T(pair_##T *f, pair_##T *last,                \
	                         pair_##T *result, bool L)                   \
	{                                                                    \
		pair_##T v = *result;                                        \
		*result = *f;                                                \
		adjust_heap_##T(f, 0, last - f, v, L);                       \
	}                                                                    \
	static void make_heap_##T(pair_##T *f, pair_##T *last, bool L)       \
	{                                                                    \
		ptrdiff_t len = last - f;                                    \
		if (len < 2)                                                 \
			return;                                              \
		for (ptrdiff_t parent = (len - 2) / 2;; parent--) {          \
			adjust_heap_##T(f, parent, len, f[parent], L);       \
			if (parent == 0)                                     \
				return;                                      \
		}                                                            \
	}                                                                    \
	static void heap_select_##T(pair_##T *f, pair_##T *mid,              \
	                            pair_##T *last, bool L)                  \
	{                                                                    \
		make_heap_##T(f, mid, L);                                    \
		for (pair_##T *i = mid; i < last; i++)                       \
			if (comp_##T(*i, *f, L))                             \
				pop_heap_##T(f, mid, i, L);                  \
	}                                                                    \
	static void sort_heap_##T(pair_##T *f, pair_##T *last, bool L)       \
	{                                                                    \
		while (last - f > 1) {                                       \
			last--;                                              \
			pop_heap_##T(f, last, last, L);                      \
		}                                                            \
	}                                                                    \
	static void partial_sort_##T(pair_##T *f, pair_##T *mid,             \
	                             pair_##T *last, bool L)                 \
	{                                                                    \
		heap_select_##T(f, mid, last, L);                            \
		sort_heap_##T(f, mid, L);                                    \
	}                                                                    \
	static void move_median_to_first_##T(pair_##T *res, pair_##T *a,     \
	                                     pair_##T *b, pair_##T *c,       \
	                                     bool L)                         \
	{                                                                    \
		if (comp_##T(*a, *b, L)) {                                   \
			if (comp_##T(*b, *c, L))                             \
				swap_##T(res, b);                            \
			else if (comp_##T(*a, *c, L))                        \
				swap_##T(res, c);                            \
			else                                                 \
				swap_##T(res, a);                            \
		} else if (comp_##T(*a, *c, L)) {                            \
			swap_##T(res, a);                                    \
		} else if (comp_##T(*b, *c, L)) {                            \
			swap_##T(res, c);                                    \
		} else {                                                     \
			swap_##T(res, b);                                    \
		}                                                            \
	}                                                                    \
	static pair_##T *partition_pivot_##T(pair_##T *f, pair_##T *last,    \
	                                     bool L)                         \
	{                                                                    \
		pair_##T *mid = f + (last - f) / 2, *pivot = f;              \
		move_median_to_first_##T(f, f + 1, mid, last - 1, L);        \
		f++;                                                         \
		for (;;) {                                                   \
			while (comp_##T(*f, *pivot, L))                      \
				f++;                                         \
			last--;                                              \
			while (comp_##T(*pivot, *last, L))                   \
				last--;                                      \
			if (!(f < last))                                     \
				return f;                                    \
			swap_##T(f, last);                                   \
			f++;                                                 \
		}                                                            \
	}                                                                    \
	static void linear_insert_##T(pair_##T *last, bool L)                \
	{                                                                    \
		pair_##T v = *last, *next = last - 1;                        \
		while (comp_##T(v, *next, L)) {                              \
			*last = *next;                                       \
			last = next;                                         \
			next--;                                              \
		}                                                            \
		*last = v;                                                   \
	}                                                                    \
	static void insertion_sort_##T(pair_##T *f, pair_##T *last, bool L)  \
	{                                                                    \
		if (f == last)                                               \
			return;                                              \
		for (pair_##T *i = f + 1; i != last; i++) {                  \
			if (comp_##T(*i, *f, L)) {                           \
				pair_##T v = *i;                             \
				memmove(f + 1, f, (size_t)(i - f) * sizeof *f);\
				*f = v;                                      \
			} else {                                             \
				linear_insert_##T(i, L);                     \
			}                                                    \
		}                                                            \
	}                                                                    \
	static void nth_element_##T(pair_##T *f, pair_##T *nth,              \
	                            pair_##T *last, bool L)                  \
	{                                                                    \
		if (f == last || nth == last)                                \
			return;                                              \
		int depth = 2 * lg(last - f);                                \
		while (last - f > 3) {                                       \
			if (depth == 0) {                                    \
				heap_select_##T(f, nth + 1, last, L);        \
				swap_##T(f, nth);                            \
				return;                                      \
			}                                                    \
			depth--;                                             \
			pair_##T *cut = partition_pivot_##T(f, last, L);     \
			if (cut <= nth)                                      \
				f = cut;                                     \
			else                                                 \
				last = cut;                                  \
		}                                                            \
		insertion_sort_##T(f, last, L);                              \
	}                                                                    \
	static void introsort_loop_##T(pair_##T *f, pair_##T *last,          \
	                               int depth, bool L)                    \
	{                                                                    \
		while (last - f > 16) {                                      \
			if (depth == 0) {                                    \
				partial_sort_##T(f, last, last, L);          \
				return;                                      \
			}                                                    \
			depth--;                                             \
			pair_##T *cut = partition_pivot_##T(f, last, L);     \
			introsort_loop_##T(cut, last, depth, L);             \
			last = cut;                                          \
		}                                                            \
	}                                                                    \
	static void sort_##T(pair_##T *f, pair_##T *last, bool L)            \
	{                                                                    \
		if (last - f < 2)                                            \
			return;                                              \
		introsort_loop_##T(f, last, 2 * lg(last - f), L);            \
		if (last - f > 16) {                                         \
			insertion_sort_##T(f, f + 16, L);                    \
			for (pair_##T *i = f + 16; i != last; i++)           \
				linear_insert_##T(i, L);                     \
		} else {                                                     \
			insertion_sort_##T(f, last, L);                      \
		}                                                            \
	}                                                                    \
	/* PyTorch's topk of one row of n into k values and indices. */      \
	static void topk_row_##T(const T *x, size_t n, size_t k, T *vals,    \
	                         int64_t *idx, pair_##T *q, bool L,          \
	                         bool sorted)                                \
	{                                                                    \
		for (size_t j = 0; j < n; j++)                               \
			q[j] = (pair_##T){x[j], (int64_t)j};                 \
		if (k == 0)                                                  \
			return;                                              \
		if (k * 64 <= n) {                                           \
			partial_sort_##T(q, q + k, q + n, L);                \
		} else {                                                     \
			nth_element_##T(q, q + k - 1, q + n, L);             \
			if (sorted)                                          \
				sort_##T(q, q + k - 1, L);                   \
		}                                                            \
		for (size_t j = 0; j < k; j++) {                             \
			vals[j] = q[j].v;                                    \
			idx[j] = q[j].i;                                     \
		}                                                            \
	}

/* floor(log2(n)) for n > 0, as std::__lg. */
static int lg(ptrdiff_t n)
{
	int k = 0;
	while (n > 1) {
		n >>= 1;
		k++;
	}
	return k;
}

TOPK_T(float)
TOPK_T(double)

/* The rows of x and of the results along the axis. */
static void topk_rows(nb_op_ctx *c, nb__rows *xr, nb__rows *yr)
{
	const topk_attrs *a = c->attrs;
	int ax;
	one_axis(c, c->in[0]->ndim, a->axis, &ax);
	axis_rows(xr, c->in[0], ax, ax < 0);
	axis_rows(yr, c->outs[0], ax, ax < 0);
}

static nb_status topk_forward(nb_op_ctx *c)
{
	const topk_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	nb__rows r, ry;
	topk_rows(c, &r, &ry);
	size_t k = ry.len, nv = ry.n_rows * k;
	void *xr = nb__rows_of(c, &r, x);
	void *vals = scratch(c, x->dtype, nv);
	int64_t *idx = scratch(c, NB_I64, nv);
	/* (value, index) pairs: 16 bytes each, float's padded */
	void *q = scratch(c, NB_I64, 2 * r.len);
	if (!xr || !vals || !idx || !q)
		return NB_ENOMEM;
	for (size_t i = 0; i < r.n_rows; i++) {
		if (x->dtype == NB_F32)
			topk_row_float((const float *)xr + i * r.len, r.len, k,
			               (float *)vals + i * k, idx + i * k, q,
			               a->largest, a->sorted);
		else
			topk_row_double((const double *)xr + i * r.len, r.len, k,
			                (double *)vals + i * k, idx + i * k, q,
			                a->largest, a->sorted);
	}
	nb__rows_unpack(&ry, nb_dtype_size(x->dtype), vals, c->outs[0]->data);
	nb__rows_unpack(&ry, 8, idx, c->outs[1]->data);
	return NB_OK;
}

/* dx[index] += g of each value (the indices of a row are distinct). */
static nb_status topk_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	nb__rows r, ry;
	topk_rows(c, &r, &ry);
	size_t k = ry.len;
	void *gr = nb__rows_of(c, &ry, gout);
	int64_t *idx = nb__rows_of(c, &ry, c->outs[1]);
	void *dr = scratch(c, x->dtype, r.n_rows * r.len);
	if (!gr || !idx || !dr)
		return NB_ENOMEM;
	for (size_t i = 0; i < r.n_rows; i++)
		for (size_t j = 0; j < k; j++) {
			size_t to = i * r.len + (size_t)idx[i * k + j];
			if (x->dtype == NB_F32)
				((float *)dr)[to] += ((const float *)gr)[i * k + j];
			else
				((double *)dr)[to] +=
				    ((const double *)gr)[i * k + j];
		}
	nb__rows_add(&r, x->dtype, dr, gin[0]->data);
	return NB_OK;
}

static const nb_op_test topk_test = {
	.cases = "[3,5]|k=2; [3,5]|k=3 axis=0 largest=0; [2,3,4]|k=4 axis=-1 "
	         "sorted=0; [70]|k=1; [6]|k=6",
};

static const nb_op topk_op = {
	.version = NB_OP_VERSION, .name = "topk", .kind = NB_KIND_REDUCE,
	.doc = "the k largest (smallest) values along axis and their int64 "
	       "indices, two results (torch.topk(x, k, dim=-1, largest, "
	       "sorted)); ties as PyTorch's CPU kernel",
	.inputs = topk_inputs, .n_inputs = 1, .n_outputs = 2,
	.attrs = topk_defs, .n_attrs = 4, .attrs_size = sizeof(topk_attrs),
	.shape = topk_shape, .forward = topk_forward,
	.backward = topk_backward, .test = &topk_test,
};

const nb_op *const nb__reduce_index_ops[] = {
	&argmax_op, &argmin_op, &cumsum_op, &topk_op, NULL,
};

/* ---- typed wrappers ---- */

static nb_tensor *apply_arg(nb_graph *g, const nb_op *op, nb_tensor *x,
                            int axis, bool has_axis, bool keepdim)
{
	arg_attrs a = {.axis = {.n = has_axis, .v = {axis}},
	               .keepdim = keepdim};
	return nb_apply(g, op, 1, &x, &a);
}

nb_tensor *nb_argmax(nb_graph *g, nb_tensor *x, int axis, bool has_axis,
                     bool keepdim)
{
	return apply_arg(g, &argmax_op, x, axis, has_axis, keepdim);
}

nb_tensor *nb_argmin(nb_graph *g, nb_tensor *x, int axis, bool has_axis,
                     bool keepdim)
{
	return apply_arg(g, &argmin_op, x, axis, has_axis, keepdim);
}

nb_tensor *nb_cumsum(nb_graph *g, nb_tensor *x, int axis)
{
	cumsum_attrs a = {.axis = axis};
	return nb_apply(g, &cumsum_op, 1, &x, &a);
}

nb_tensor *nb_topk(nb_graph *g, nb_tensor *x, int64_t k, int axis,
                   bool largest, bool sorted, nb_tensor **indices)
{
	topk_attrs a = {.k = k, .axis = axis, .largest = largest,
	                .sorted = sorted};
	nb_tensor *outs[2];
	if (nb_apply_multi(g, &topk_op, 1, &x, &a, outs, 2) < 0)
		return NULL;
	if (indices)
		*indices = outs[1];
	return outs[0];
}
