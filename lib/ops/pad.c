/*
 * pad.c - pad (constant, reflect, replicate) and tril, triu: copies of
 * the input where some elements come from elsewhere (a border) or are
 * zeroed (a triangle).  Forward moves bytes by element size (any
 * dtype); backward, float only, sends each output gradient back to the
 * element it came from.
 */
#include "strided.h"
#include "nabla/shape.h"

static const nb_input_def any_input[] = {
	{.name = "input", .flags = NB_IN_ANY_DTYPE,
	 .doc = "float32, float64, int64 or bool (gradients: float only)"},
};

/* ---- pad ---- */

enum { PAD_CONSTANT, PAD_REFLECT, PAD_REPLICATE };

typedef struct pad_attrs {
	nb_ints pad;
	int mode;
	double value;
} pad_attrs;

static const nb_attr_def pad_defs[] = {
	{.name = "pad", .type = NB_ATTR_INTS,
	 .offset = offsetof(pad_attrs, pad),
	 .doc = "(left, right) pairs, the last axis first, as F.pad; "
	        "negative values crop"},
	{.name = "mode", .type = NB_ATTR_ENUM, .offset = offsetof(pad_attrs,
	 mode), .def = PAD_CONSTANT, .choices = "constant|reflect|replicate",
	 .doc = "constant: value; reflect: mirror without the edge; "
	        "replicate: repeat the edge"},
	{.name = "value", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(pad_attrs, value), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the fill of mode constant"},
};

/* Pads of axis k (0 when the list does not reach it). */
static void pads_of(const pad_attrs *a, int nd, int k, int64_t *l,
                    int64_t *r)
{
	int p = nd - 1 - k;
	*l = 2 * p < a->pad.n ? a->pad.v[2 * p] : 0;
	*r = 2 * p + 1 < a->pad.n ? a->pad.v[2 * p + 1] : 0;
}

static nb_status pad_shape(nb_op_ctx *c, nb_result_def *res)
{
	const pad_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	if (a->pad.n % 2 || a->pad.n / 2 > x->ndim)
		return nb_op_fail(c, NB_EINVAL, "%d pads: give a (left, right) "
		                  "pair for each of at most %d axes", a->pad.n,
		                  x->ndim);
	if (a->mode == PAD_CONSTANT && x->dtype == NB_I64 &&
	    !(a->value >= -9.2e18 && a->value <= 9.2e18))
		return nb_op_fail(c, NB_EINVAL, "value %g does not fit int64",
		                  a->value);
	for (int k = 0; k < x->ndim; k++) {
		int64_t l, r, n = x->shape[k], out;
		pads_of(a, x->ndim, k, &l, &r);
		if (__builtin_add_overflow(n, l, &out) ||
		    __builtin_add_overflow(out, r, &out) || out < 0)
			return nb_op_fail(c, NB_ESHAPE, "pads (%lld, %lld) of axis "
			                  "%d (size %lld) make a negative or too "
			                  "large size", (long long)l, (long long)r,
			                  k, (long long)n);
		if (a->mode != PAD_CONSTANT && (l || r) && (n == 0 || out == 0))
			return nb_op_fail(c, NB_ESHAPE, "mode %s pads axis %d of "
			                  "size %lld to %lld: both must be nonzero",
			                  a->mode == PAD_REFLECT ? "reflect" :
			                  "replicate", k, (long long)n,
			                  (long long)out);
		if (a->mode == PAD_REFLECT && (l >= n || r >= n))
			return nb_op_fail(c, NB_ESHAPE, "mode reflect: pads (%lld, "
			                  "%lld) of axis %d must be less than its "
			                  "size %lld", (long long)l, (long long)r, k,
			                  (long long)n);
		res->shape[k] = out;
	}
	return NB_OK;
}

/* The input index that output index o of an axis of size n with left
 * pad l reads, or -1 for the constant. */
static int64_t pad_source(int mode, int64_t o, int64_t n, int64_t l)
{
	int64_t i = o - l;
	if (i >= 0 && i < n)
		return i;
	if (mode == PAD_CONSTANT)
		return -1;
	if (mode == PAD_REPLICATE)
		return i < 0 ? 0 : n - 1;
	return i < 0 ? -i : 2 * (n - 1) - i; /* reflect: pads < n */
}

/*
 * For each axis k of the output, map[k][o] = the input offset (index
 * times stride) that output index o reads, or -1.  One allocation,
 * given back with nb__op_temp_free(c, map[0]); NB_ENOMEM recorded.
 */
static nb_status pad_maps(nb_op_ctx *c, const nb_tensor *out, int64_t **map)
{
	const pad_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int64_t xs[NB_MAX_DIMS];
	size_t total = 1;
	for (int k = 0; k < out->ndim; k++)
		total += (size_t)out->shape[k];
	int64_t *m = nb__op_temp(c, total * sizeof *m);
	if (!m)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the index "
		                  "maps");
	nb__strides(x->ndim, x->shape, xs);
	map[0] = m;
	for (int k = 0; k < out->ndim; k++) {
		int64_t l, r;
		pads_of(a, x->ndim, k, &l, &r);
		map[k] = m;
		for (int64_t o = 0; o < out->shape[k]; o++) {
			int64_t i = pad_source(a->mode, o, x->shape[k], l);
			m[o] = i < 0 ? -1 : i * xs[k];
		}
		m += out->shape[k];
	}
	return NB_OK;
}

/*
 * Runs BODY for each output element i whose source offset is src (-1:
 * the constant), row by row over the last axis.
 */
#define PAD_LOOP(OUT, MAP, BODY)                                             \
	do {                                                                 \
		int nd_ = (OUT)->ndim;                                       \
		int64_t idx_[NB_MAX_DIMS] = {0};                             \
		int64_t n_ = nd_ ? (OUT)->shape[nd_ - 1] : 1;                \
		for (size_t b_ = 0; b_ < (OUT)->numel; b_ += (size_t)n_) {   \
			int64_t o_ = 0;                                      \
			for (int k_ = 0; k_ < nd_ - 1 && o_ >= 0; k_++)      \
				o_ = (MAP)[k_][idx_[k_]] < 0 ? -1 :          \
				     o_ + (MAP)[k_][idx_[k_]];               \
			for (int64_t j_ = 0; j_ < n_; j_++) {                \
				size_t i = b_ + (size_t)j_;                  \
				int64_t m_ = nd_ ? (MAP)[nd_ - 1][j_] : 0;   \
				int64_t src = o_ < 0 || m_ < 0 ? -1 : o_ + m_; \
				BODY;                                        \
			}                                                    \
			for (int k_ = nd_ - 2; k_ >= 0; k_--) {              \
				if (++idx_[k_] < (OUT)->shape[k_])           \
					break;                               \
				idx_[k_] = 0;                                \
			}                                                    \
		}                                                            \
	} while (0)

#define PAD_COPY(T)                                                          \
	static void pad_copy_##T(const nb_tensor *out, int64_t *const *map,  \
	                         const T *x, T *y, const T *fill)            \
	{                                                                    \
		PAD_LOOP(out, map, memcpy(y + i, src < 0 ? fill : x + src,   \
		                          sizeof(T)));                       \
	}
PAD_COPY(uint8_t)
PAD_COPY(uint32_t)
PAD_COPY(uint64_t)

static nb_status pad_forward(nb_op_ctx *c)
{
	const pad_attrs *a = c->attrs;
	int64_t *map[NB_MAX_DIMS];
	union { float f; double d; int64_t i; uint8_t b; uint32_t u32;
	        uint64_t u64; } fill;
	const void *x = c->in[0]->data;
	void *y = c->out->data;
	if (c->out->numel == 0)
		return NB_OK;
	if (pad_maps(c, c->out, map))
		return c->g->err;
	switch (c->out->dtype) {
	case NB_F32:
		fill.f = (float)a->value;
		pad_copy_uint32_t(c->out, map, x, y, &fill.u32);
		break;
	case NB_F64:
		fill.d = a->value;
		pad_copy_uint64_t(c->out, map, x, y, &fill.u64);
		break;
	case NB_I64:
		fill.i = (int64_t)a->value; /* truncated, as PyTorch */
		pad_copy_uint64_t(c->out, map, x, y, &fill.u64);
		break;
	default:
		fill.b = a->value != 0;
		pad_copy_uint8_t(c->out, map, x, y, &fill.b);
		break;
	}
	nb__op_temp_free(c, map[0]);
	return NB_OK;
}

/* dx[src] += dy[i] for every element read from the input. */
#define PAD_BACK(T)                                                          \
	static void pad_back_##T(const nb_tensor *out, int64_t *const *map,  \
	                         const T *gy, T *gx)                         \
	{                                                                    \
		PAD_LOOP(out, map, if (src >= 0) gx[src] += gy[i]);          \
	}
PAD_BACK(float)
PAD_BACK(double)

static nb_status pad_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	int64_t *map[NB_MAX_DIMS];
	if (gout->numel == 0)
		return NB_OK;
	if (pad_maps(c, gout, map))
		return c->g->err;
	if (gout->dtype == NB_F32)
		pad_back_float(gout, map, gout->data, gin[0]->data);
	else
		pad_back_double(gout, map, gout->data, gin[0]->data);
	nb__op_temp_free(c, map[0]);
	return NB_OK;
}

static const nb_op_test pad_test = {
	.cases = "[3,4]|pad=1,2; [2,3,4]|pad=1,0,-1,2 value=0.5; "
	         "[2,5]|pad=2,3 mode=reflect; [2,3,4]|pad=1,2,2,1 "
	         "mode=replicate; [2,4]|pad=-1,3 mode=reflect; [3]|pad=-3,0",
};

static const nb_op pad_op = {
	.version = NB_OP_VERSION, .name = "pad", .kind = NB_KIND_SHAPE,
	.doc = "pad (or crop) trailing axes, as F.pad: constant, reflect, "
	       "replicate",
	.inputs = any_input, .n_inputs = 1, .attrs = pad_defs, .n_attrs = 3,
	.attrs_size = sizeof(pad_attrs), .flags = NB_OP_WRITES_OUTPUT,
	.shape = pad_shape, .forward = pad_forward, .backward = pad_backward,
	.test = &pad_test,
};

/* ---- tril, triu ---- */

static const nb_op tril_op; /* defined below; tri_range tells them apart */

typedef struct tri_attrs {
	int64_t diagonal;
} tri_attrs;

static const nb_attr_def tri_defs[] = {
	{.name = "diagonal", .type = NB_ATTR_INT,
	 .offset = offsetof(tri_attrs, diagonal), .def = 0,
	 .range = NB_UNBOUNDED, .doc = "the diagonal kept last (tril) or "
	 "first (triu): 0 the main one, > 0 above it, < 0 below"},
};

static nb_status tri_shape(nb_op_ctx *c, nb_result_def *res)
{
	(void)res;
	if (c->in[0]->ndim < 2)
		return nb_op_fail(c, NB_ESHAPE, "wants at least 2 axes (a "
		                  "matrix or a batch of them)");
	return NB_OK;
}

/*
 * Row i of each matrix [R, C] keeps the columns [lo, hi): tril
 * j - i <= diagonal, triu j - i >= diagonal.  The diagonal is clamped
 * first, so i + diagonal cannot overflow.
 */
static void tri_range(const nb_op_ctx *c, int64_t i, int64_t *lo,
                      int64_t *hi)
{
	const tri_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1];
	int64_t d = a->diagonal < -R ? -R : a->diagonal > C ? C : a->diagonal;
	int64_t e = i + d;
	bool lower = c->op == &tril_op;
	*lo = lower ? 0 : e < 0 ? 0 : e > C ? C : e;
	*hi = lower ? (e + 1 < 0 ? 0 : e + 1 > C ? C : e + 1) : C;
}

/* The result starts zeroed: copy the kept part of each row. */
static nb_status tri_forward(nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	size_t es = nb_dtype_size(x->dtype);
	int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1];
	const char *src = x->data;
	char *dst = c->out->data;
	for (size_t row = 0; R && C && row < x->numel / (size_t)C; row++) {
		int64_t lo, hi;
		tri_range(c, (int64_t)(row % (size_t)R), &lo, &hi);
		size_t at = (row * (size_t)C + (size_t)lo) * es;
		if (hi > lo)
			memcpy(dst + at, src + at, (size_t)(hi - lo) * es);
	}
	return NB_OK;
}

#define TRI_BACK(T)                                                          \
	static void tri_back_##T(const nb_op_ctx *c, const T *gy, T *gx)     \
	{                                                                    \
		const nb_tensor *x = c->in[0];                               \
		int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1]; \
		for (size_t row = 0; R && C && row < x->numel / (size_t)C;   \
		     row++) {                                                \
			int64_t lo, hi;                                      \
			tri_range(c, (int64_t)(row % (size_t)R), &lo, &hi);  \
			for (int64_t j = lo; j < hi; j++)                    \
				gx[row * (size_t)C + (size_t)j] +=           \
					gy[row * (size_t)C + (size_t)j];     \
		}                                                            \
	}
TRI_BACK(float)
TRI_BACK(double)

/* dx = dy on the kept triangle, 0 elsewhere. */
static nb_status tri_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	if (gout->dtype == NB_F32)
		tri_back_float(c, gout->data, gin[0]->data);
	else
		tri_back_double(c, gout->data, gin[0]->data);
	return NB_OK;
}

static const nb_op_test tri_test = {
	.cases = "[4,4]; [3,5]|diagonal=1; [2,4,3]|diagonal=-1; "
	         "[3,3]|diagonal=-5; [2,3]|diagonal=7",
};

static const nb_op tril_op = {
	.version = NB_OP_VERSION, .name = "tril", .kind = NB_KIND_SHAPE,
	.doc = "lower triangle of the last two axes, the rest zeroed",
	.inputs = any_input, .n_inputs = 1, .attrs = tri_defs, .n_attrs = 1,
	.attrs_size = sizeof(tri_attrs), .shape = tri_shape,
	.forward = tri_forward, .backward = tri_backward, .test = &tri_test,
};

static const nb_op triu_op = {
	.version = NB_OP_VERSION, .name = "triu", .kind = NB_KIND_SHAPE,
	.doc = "upper triangle of the last two axes, the rest zeroed",
	.inputs = any_input, .n_inputs = 1, .attrs = tri_defs, .n_attrs = 1,
	.attrs_size = sizeof(tri_attrs), .shape = tri_shape,
	.forward = tri_forward, .backward = tri_backward, .test = &tri_test,
};

const nb_op *const nb__pad_ops[] = {&pad_op, &tril_op, &triu_op, NULL};

/* ---- typed wrappers ---- */

nb_tensor *nb_pad(nb_graph *g, nb_tensor *x, int n, const int64_t *pad,
                  nb_pad_mode mode, double value)
{
	pad_attrs a = {.mode = (int)mode, .value = value};
	if (g && (n < 0 || n > NB_MAX_DIMS || (n && !pad) ||
	          (unsigned)mode > NB_PAD_REPLICATE)) {
		nb__graph_fail(g, NB_EINVAL, "pad: bad pad list (%d values) or "
		               "mode %d", n, (int)mode);
		return NULL;
	}
	a.pad.n = g ? n : 0;
	for (int i = 0; i < a.pad.n; i++)
		a.pad.v[i] = pad[i];
	return nb_apply(g, &pad_op, 1, &x, &a);
}

nb_tensor *nb_tril(nb_graph *g, nb_tensor *x, int64_t diagonal)
{
	tri_attrs a = {diagonal};
	return nb_apply(g, &tril_op, 1, &x, &a);
}

nb_tensor *nb_triu(nb_graph *g, nb_tensor *x, int64_t diagonal)
{
	tri_attrs a = {diagonal};
	return nb_apply(g, &triu_op, 1, &x, &a);
}
