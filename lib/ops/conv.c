/*
 * conv.c - convolution and pooling over [N, C, H, W] feature maps, with
 * PyTorch's semantics (doc/conv.md):
 *
 *   conv2d      y[n, o, oy, ox] = b[o] + sum over c in o's group, i, j of
 *               w[o, c', i, j] x[n, c, oy*sh - ph + i*dh, ox*sw - pw + j*dw]
 *               (zero outside x).  As im2col + GEMM: with X the
 *               [C*KH*KW, OH*OW] matrix of windows of a sample,
 *               Y = W X per group; so dW += dY X^T, dX = col2im(W^T dY),
 *               db += the sums of dY.
 *   max_pool2d  the window's maximum; its gradient goes to the window's
 *               first maximal element (PyTorch's rule).
 *   avg_pool2d  the window's mean, over the window within the padded
 *               input (count_include_pad) or over its real elements.
 *
 * stride, padding, dilation and kernel_size take one value (both axes)
 * or two (height, width), as PyTorch's int-or-pair arguments.
 * Flattening needs no op: reshape with shape=N,-1 does it.
 */
#include <math.h>
#include "elementwise.h"
#include "conv_onednn.h"

/* ---- attributes ---- */

typedef struct conv2d_attrs {
	nb_ints stride, padding, dilation;
	int64_t groups;
} conv2d_attrs;

static const nb_attr_def conv2d_defs[] = {
	{.name = "stride", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv2d_attrs, stride),
	 .doc = "step between windows: S or SH,SW (default 1)"},
	{.name = "padding", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv2d_attrs, padding),
	 .doc = "zeros added on each side: P or PH,PW (default 0)"},
	{.name = "dilation", .type = NB_ATTR_INTS,
	 .offset = offsetof(conv2d_attrs, dilation),
	 .doc = "step between kernel taps: D or DH,DW (default 1)"},
	/* No maximum: groups divides C_out, so it is at most C_out. */
	{.name = "groups", .type = NB_ATTR_INT,
	 .offset = offsetof(conv2d_attrs, groups), .def = 1,
	 .range = NB_AT_LEAST(1),
	 .doc = "channel groups (divide C_in, C_out)"},
};

typedef struct pool2d_attrs {
	nb_ints kernel_size, stride, padding;
	bool count_include_pad;
} pool2d_attrs;

static const nb_attr_def pool2d_defs[] = {
	{.name = "kernel_size", .type = NB_ATTR_INTS,
	 .offset = offsetof(pool2d_attrs, kernel_size),
	 .doc = "window: K or KH,KW (required)"},
	{.name = "stride", .type = NB_ATTR_INTS,
	 .offset = offsetof(pool2d_attrs, stride),
	 .doc = "step between windows: S or SH,SW (default kernel_size)"},
	{.name = "padding", .type = NB_ATTR_INTS,
	 .offset = offsetof(pool2d_attrs, padding),
	 .doc = "implicit padding on each side, at most kernel_size / 2"},
	/* avg_pool2d only (max_pool2d's table stops before it) */
	{.name = "count_include_pad", .type = NB_ATTR_BOOL,
	 .offset = offsetof(pool2d_attrs, count_include_pad), .def = 1,
	 .doc = "divide by the window's size including the padding"},
};

/* ---- geometry ---- */

/* The geometry of a convolution or pooling op (conv_onednn.h). */
typedef nb__conv_geom geom;

/* Attribute values beyond this are refused (no overflow in sizes). */
#define MAX_ATTR ((int64_t)1 << 32)

/* An int-or-pair attribute: (h, w), def when absent. */
static nb_status pair(nb_op_ctx *c, const char *name, const nb_ints *a,
                      int64_t def, int64_t min, int64_t *h, int64_t *w)
{
	if (a->n > 2)
		return nb_op_fail(c, NB_EINVAL, "%s takes one or two values "
		                  "(height, width), not %d", name, a->n);
	*h = a->n ? a->v[0] : def;
	*w = a->n ? a->v[a->n - 1] : def;
	for (int k = 0; k < a->n; k++)
		if (a->v[k] < min || a->v[k] > MAX_ATTR)
			return nb_op_fail(c, NB_EINVAL, "%s=%lld is outside "
			                  "[%lld, 2^32]", name, (long long)a->v[k],
			                  (long long)min);
	return NB_OK;
}

/* Output size of one axis, or -1 when the (dilated) kernel does not fit
 * in the padded input. */
static int64_t out_size(int64_t n, int64_t k, int64_t s, int64_t p,
                        int64_t d)
{
	int64_t span = d * (k - 1) + 1;
	if (n + 2 * p < span)
		return -1;
	return (n + 2 * p - span) / s + 1;
}

/* The output size, checking that the kernel fits the padded input. */
static nb_status out_dims(nb_op_ctx *c, geom *q)
{
	q->OH = out_size(q->H, q->KH, q->sh, q->ph, q->dh);
	q->OW = out_size(q->W, q->KW, q->sw, q->pw, q->dw);
	if (q->OH < 0 || q->OW < 0)
		return nb_op_fail(c, NB_ESHAPE, "the kernel (%lldx%lld, dilated "
		    "%lldx%lld) is larger than the padded input (%lldx%lld)",
		    (long long)q->KH, (long long)q->KW,
		    (long long)(q->dh * (q->KH - 1) + 1),
		    (long long)(q->dw * (q->KW - 1) + 1),
		    (long long)(q->H + 2 * q->ph), (long long)(q->W + 2 * q->pw));
	return NB_OK;
}

static nb_status input_4d(nb_op_ctx *c, geom *q)
{
	const nb_tensor *x = c->in[0];
	if (x->ndim != 4)
		return nb_op_fail(c, NB_ESHAPE, "input must be [N, C, H, W] "
		                  "(4-D), not %d-D", x->ndim);
	q->N = x->shape[0];
	q->C = x->shape[1];
	q->H = x->shape[2];
	q->W = x->shape[3];
	return NB_OK;
}

static nb_status conv_geom(nb_op_ctx *c, geom *q)
{
	const conv2d_attrs *a = c->attrs;
	const nb_tensor *w = c->in[1], *b = c->in[2];
	nb_status st;
	if ((st = input_4d(c, q)))
		return st;
	if (w->ndim != 4)
		return nb_op_fail(c, NB_ESHAPE, "weight must be [C_out, "
		                  "C_in/groups, kH, kW] (4-D), not %d-D", w->ndim);
	q->O = w->shape[0];
	q->G = a->groups;
	q->KH = w->shape[2];
	q->KW = w->shape[3];
	if (q->C % q->G || q->O % q->G)
		return nb_op_fail(c, NB_ESHAPE, "groups=%lld must divide the "
		                  "input channels (%lld) and the output channels "
		                  "(%lld)", (long long)q->G, (long long)q->C,
		                  (long long)q->O);
	if (w->shape[1] != q->C / q->G)
		return nb_op_fail(c, NB_ESHAPE, "channel mismatch: the input has "
		                  "%lld channels, so weight's second axis must be "
		                  "%lld (C_in / groups), not %lld", (long long)q->C,
		                  (long long)(q->C / q->G),
		                  (long long)w->shape[1]);
	if (q->KH < 1 || q->KW < 1)
		return nb_op_fail(c, NB_ESHAPE, "the kernel (%lldx%lld) must be at "
		                  "least 1x1", (long long)q->KH, (long long)q->KW);
	if (b && (b->ndim != 1 || b->shape[0] != q->O))
		return nb_op_fail(c, NB_ESHAPE, "bias must be [%lld] (C_out)",
		                  (long long)q->O);
	if ((st = pair(c, "stride", &a->stride, 1, 1, &q->sh, &q->sw)) ||
	    (st = pair(c, "padding", &a->padding, 0, 0, &q->ph, &q->pw)) ||
	    (st = pair(c, "dilation", &a->dilation, 1, 1, &q->dh, &q->dw)))
		return st;
	return out_dims(c, q);
}

static nb_status pool_geom(nb_op_ctx *c, geom *q)
{
	const pool2d_attrs *a = c->attrs;
	nb_status st;
	if ((st = input_4d(c, q)))
		return st;
	q->O = q->C;
	q->G = 1;
	q->dh = q->dw = 1;
	if (!a->kernel_size.n)
		return nb_op_fail(c, NB_EINVAL, "kernel_size is required (such "
		                  "as kernel_size=2)");
	if ((st = pair(c, "kernel_size", &a->kernel_size, 1, 1, &q->KH,
	               &q->KW)) ||
	    (st = pair(c, "stride", &a->stride, 1, 1, &q->sh, &q->sw)) ||
	    (st = pair(c, "padding", &a->padding, 0, 0, &q->ph, &q->pw)))
		return st;
	if (!a->stride.n) {
		q->sh = q->KH;
		q->sw = q->KW;
	}
	if (2 * q->ph > q->KH || 2 * q->pw > q->KW)
		return nb_op_fail(c, NB_EINVAL, "padding (%lld, %lld) must be at "
		                  "most half the kernel (%lldx%lld)",
		                  (long long)q->ph, (long long)q->pw,
		                  (long long)q->KH, (long long)q->KW);
	return out_dims(c, q);
}

static void set_out(const geom *q, nb_result_def *res)
{
	res->ndim = 4;
	res->shape[0] = q->N;
	res->shape[1] = q->O;
	res->shape[2] = q->OH;
	res->shape[3] = q->OW;
}

/* ---- helpers of the kernels ---- */

/* The o in [0, out) with 0 <= o*s + off < n: [*lo, *hi). */
static void valid_range(int64_t off, int64_t s, int64_t n, int64_t out,
                        int64_t *lo, int64_t *hi)
{
	*lo = off >= 0 ? 0 : (-off + s - 1) / s;
	*hi = n - off <= 0 ? 0 : (n - off - 1) / s + 1;
	if (*hi > out)
		*hi = out;
	if (*lo > *hi)
		*lo = *hi;
}

static bool mul_ok(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

/* Samples per block: the columns and the GEMM's result of a block hold
 * about 4M elements (at least one sample).  Depends on the shapes
 * only, so the order of the weight gradient's sums does too. */
static size_t block_size(const geom *q)
{
	size_t per, L = (size_t)(q->OH * q->OW);
	if (!mul_ok((size_t)(q->C * q->KH * q->KW + q->O), L, &per) || !per)
		return 1;
	size_t b = ((size_t)1 << 22) / per;
	return b < 1 ? 1 : b > (size_t)q->N ? (size_t)(q->N ? q->N : 1) : b;
}

/* A sample's elements of columns: its work in the parallel loops. */
static size_t sample_work(const geom *q)
{
	return (size_t)(q->C * q->KH * q->KW) * (size_t)(q->OH * q->OW);
}

/* Samples per parallel task: about 32K elements of columns. */
static size_t sample_grain(const geom *q)
{
	size_t per = sample_work(q);
	size_t g = 32768 / (per ? per : 1);
	return g ? g : 1;
}

/*
 * The window of output o on one axis of a pooling op: [*lo, *hi), the
 * input elements it covers; returns its length within the padded input
 * (PyTorch clips the window to the padded input first).
 */
static inline int64_t span(int64_t o, int64_t s, int64_t p, int64_t k,
                           int64_t n, int64_t *lo, int64_t *hi)
{
	int64_t a = o * s - p, b = a + k;
	if (b > n + p)
		b = n + p;
	*lo = a < 0 ? 0 : a;
	*hi = b > n ? n : b;
	return b - a;
}

/* avg_pool2d's divisor: the window in the padded input, or its input
 * elements only. */
static inline double divisor(bool include_pad, int64_t yn, int64_t xn,
                             int64_t y0, int64_t y1, int64_t x0, int64_t x1)
{
	return include_pad ? (double)yn * (double)xn
	                   : (double)(y1 - y0) * (double)(x1 - x0);
}

#define T float
#include "conv_kernels.h"
#undef T
#define T double
#include "conv_kernels.h"
#undef T

/* The data of t, or NULL for a NULL t. */
static void *data_of(const nb_tensor *t)
{
	return t ? t->data : NULL;
}

/* conv_forward for x's dtype: y = conv(x, w) + b (b may be NULL).
 * float32 goes to oneDNN when it is there and takes the shape. */
static nb_status conv_fwd(nb_op_ctx *c, const geom *q, const nb_tensor *x,
                          const nb_tensor *w, const nb_tensor *b,
                          nb_tensor *y)
{
	if (x->dtype == NB_F32) {
		bool declined;
		nb_status st = nb__onednn_conv_forward(c, q, x->data, w->data,
		                                       data_of(b), y->data,
		                                       &declined);
		if (st || !declined)
			return st;
		return conv_forward_float(c, q, NB_F32, x->data, w->data,
		                          data_of(b), y->data);
	}
	return conv_forward_double(c, q, NB_F64, x->data, w->data, data_of(b),
	                           y->data);
}

/*
 * conv_backward for x's dtype; dx, dw, db may each be NULL.  dx_fresh:
 * dx holds no earlier gradient (NB_OP_GRAD_FRESH) and is written, not
 * added to: oneDNN writes it directly, im2col (which adds) gets it
 * zeroed first.
 */
static nb_status conv_bwd(nb_op_ctx *c, const geom *q, const nb_tensor *x,
                          const nb_tensor *w, const nb_tensor *gout,
                          nb_tensor *dx, nb_tensor *dw, nb_tensor *db,
                          bool dx_fresh)
{
	if (x->dtype == NB_F32) {
		/* A few input channels: the weight gradient directly; then
		 * oneDNN takes what it can, and im2col does the rest. */
		float *fx = data_of(dx), *fw = data_of(dw), *fb = data_of(db);
		nb_status st = nb__conv_wgrad_small(c, q, x->data, gout->data,
		                                    &fw, &fb);
		if (!st)
			st = nb__onednn_conv_backward(c, q, x->data, w->data,
			                              gout->data, &fx, &fw, &fb,
			                              dx_fresh);
		if (st || (!fx && !fw && !fb))
			return st;
		if (fx && dx_fresh)
			memset(fx, 0, dx->numel * sizeof *fx);
		return conv_backward_float(c, q, NB_F32, x->data, w->data,
		                           gout->data, fx, fw, fb);
	}
	if (dx && dx_fresh)
		memset(dx->data, 0, dx->numel * sizeof(double));
	return conv_backward_double(c, q, NB_F64, x->data, w->data, gout->data,
	                            data_of(dx), data_of(dw), data_of(db));
}

/* ---- conv2d ---- */

static nb_status conv2d_shape(nb_op_ctx *c, nb_result_def *res)
{
	geom q;
	nb_status st = conv_geom(c, &q);
	if (!st)
		set_out(&q, res);
	return st;
}

static nb_status conv2d_forward(nb_op_ctx *c)
{
	geom q;
	conv_geom(c, &q);
	return conv_fwd(c, &q, c->in[0], c->in[1], c->in[2], c->out);
}

/* NB_OP_GRAD_FRESH covers every input: the input gradient, when fresh,
 * is written by conv_bwd; the weight's and bias's (small; fresh when the
 * weight is a graph tensor, such as a reshaped one) are zeroed here and
 * then added to. */
static nb_status conv2d_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	geom q;
	conv_geom(c, &q);
	size_t el = gout->dtype == NB_F32 ? sizeof(float) : sizeof(double);
	for (int k = 1; k < 3; k++)
		if (gin[k] && (c->fresh & (1u << k)))
			memset(gin[k]->data, 0, gin[k]->numel * el);
	return conv_bwd(c, &q, c->in[0], c->in[1], gout, gin[0], gin[1],
	                gin[2], c->fresh & 1u);
}

/* A conv2d layer (nb_conv2d_new) makes weight and bias itself. */
static const nb_input_def conv2d_inputs[] = {
	{.name = "input", .doc = "[N, C_in, H, W]"},
	{.name = "weight", .role = NB_ROLE_PARAM, .fill = NB_FILL_NONE,
	 .doc = "[C_out, C_in/groups, kH, kW]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .fill = NB_FILL_NONE, .doc = "[C_out]"},
};

static const nb_op_test conv2d_test = {
	.cases = "[2,3,5,5] [4,3,3,3] [4]; "
	         "[2,2,6,5] [3,2,3,2] [3]|stride=2 padding=1; "
	         "[1,4,5,6] [4,2,2,3] [4]|groups=2 stride=1,2; "
	         "[2,2,7,7] [2,2,3,3] [2]-|dilation=2 padding=2,1; "
	         "[1,6,4,4] [6,1,3,3] [6]|groups=6 padding=1; "
	         "[2,3,3,4] [2,3,1,1] [2]|stride=2",
};

static const nb_op conv2d_op = {
	.version = NB_OP_VERSION,
	.name = "conv2d",
	.kind = NB_KIND_CONV,
	.doc = "2-D convolution (cross-correlation) of [N, C, H, W] with "
	       "[C_out, C_in/groups, kH, kW], plus bias",
	.inputs = conv2d_inputs,
	.n_inputs = 3,
	.attrs = conv2d_defs,
	.n_attrs = (int)(sizeof conv2d_defs / sizeof *conv2d_defs),
	.attrs_size = sizeof(conv2d_attrs),
	/* forward writes every output; backward writes a fresh input
	 * gradient (issue 17: no zeroing of either first) */
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,
	.shape = conv2d_shape,
	.forward = conv2d_forward,
	.backward = conv2d_backward,
	.test = &conv2d_test,
};

/* ---- max_pool2d, avg_pool2d ---- */

static nb_status pool2d_shape(nb_op_ctx *c, nb_result_def *res)
{
	geom q;
	nb_status st = pool_geom(c, &q);
	if (!st)
		set_out(&q, res);
	return st;
}

/*
 * Forward (gout NULL) or backward of a pooling op.  max_pool2d's forward
 * saves each output's argmax (int32, the index in its plane) when a
 * gradient may follow, so that backward only scatters; planes of 2^31
 * elements or more are searched again instead.
 */
static nb_status pool_run(nb_op_ctx *c, bool is_max, const nb_tensor *gout,
                          nb_tensor *dx)
{
	bool fresh = dx && (c->fresh & 1u);
	const pool2d_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	geom q;
	pool_geom(c, &q);
	bool pad = is_max || a->count_include_pad;
	int32_t *idx = c->saved;
	if (is_max && !gout && c->g->grad_enabled &&
	    (x->flags & NB_T_REQUIRES_GRAD) && c->out->numel &&
	    q.H * q.W <= INT32_MAX &&
	    !(idx = nb__op_save_raw(c, c->out->numel * sizeof *idx)))
		return NB_ENOMEM;
	if (x->dtype == NB_F32)
		pool_float(&q, is_max, pad, x, gout, dx ? NULL : c->out, dx,
		           fresh, idx);
	else
		pool_double(&q, is_max, pad, x, gout, dx ? NULL : c->out, dx,
		            fresh, idx);
	return NB_OK;
}

static nb_status max_pool2d_forward(nb_op_ctx *c)
{
	return pool_run(c, true, NULL, NULL);
}

static nb_status max_pool2d_backward(nb_op_ctx *c, const nb_tensor *gout,
                                     nb_tensor *const *gin)
{
	return pool_run(c, true, gout, gin[0]);
}

static nb_status avg_pool2d_forward(nb_op_ctx *c)
{
	return pool_run(c, false, NULL, NULL);
}

static nb_status avg_pool2d_backward(nb_op_ctx *c, const nb_tensor *gout,
                                     nb_tensor *const *gin)
{
	return pool_run(c, false, gout, gin[0]);
}

static const nb_input_def pool2d_inputs[] = {
	{.name = "input", .doc = "[N, C, H, W]"},
};

static const nb_op_test max_pool2d_test = {
	.cases = "[2,3,4,4]|kernel_size=2; "
	         "[1,2,5,6]|kernel_size=3 stride=2 padding=1; "
	         "[2,2,5,5]|kernel_size=2,3 stride=1; "
	         "[1,3,6,5]|kernel_size=3,2 stride=2,1 padding=1,1",
};

static const nb_op max_pool2d_op = {
	.version = NB_OP_VERSION,
	.name = "max_pool2d",
	.kind = NB_KIND_POOL,
	.doc = "maximum over each window of [N, C, H, W]",
	.inputs = pool2d_inputs,
	.n_inputs = 1,
	.attrs = pool2d_defs,
	.n_attrs = 3, /* not count_include_pad */
	.attrs_size = sizeof(pool2d_attrs),
	/* every window; backward zeroes a fresh dx plane by plane */
	.flags = NB_OP_LAYER | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,
	.layer_prefix = "maxpool",
	.shape = pool2d_shape,
	.forward = max_pool2d_forward,
	.backward = max_pool2d_backward,
	.test = &max_pool2d_test,
};

static const nb_op_test avg_pool2d_test = {
	.cases = "[2,3,4,4]|kernel_size=2; "
	         "[1,2,5,6]|kernel_size=3 stride=2 padding=1; "
	         "[1,2,5,6]|kernel_size=3 stride=2 padding=1 "
	         "count_include_pad=0; "
	         "[2,2,5,5]|kernel_size=2,3 stride=1,2 padding=1,0",
};

static const nb_op avg_pool2d_op = {
	.version = NB_OP_VERSION,
	.name = "avg_pool2d",
	.kind = NB_KIND_POOL,
	.doc = "mean over each window of [N, C, H, W]",
	.inputs = pool2d_inputs,
	.n_inputs = 1,
	.attrs = pool2d_defs,
	.n_attrs = (int)(sizeof pool2d_defs / sizeof *pool2d_defs),
	.attrs_size = sizeof(pool2d_attrs),
	/* every window; backward zeroes a fresh dx plane by plane */
	.flags = NB_OP_LAYER | NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,
	.layer_prefix = "avgpool",
	.shape = pool2d_shape,
	.forward = avg_pool2d_forward,
	.backward = avg_pool2d_backward,
	.test = &avg_pool2d_test,
};

/* ---- conv1d (issue 15): conv2d over a height-1 image ---- */

typedef struct conv1d_attrs {
	int64_t stride, padding, dilation, groups;
} conv1d_attrs;

static const nb_attr_def conv1d_defs[] = {
	{.name = "stride", .type = NB_ATTR_INT,
	 .offset = offsetof(conv1d_attrs, stride), .def = 1,
	 .range = NB_RANGE(1, (double)MAX_ATTR),
	 .doc = "step between windows"},
	{.name = "padding", .type = NB_ATTR_INT,
	 .offset = offsetof(conv1d_attrs, padding), .def = 0,
	 .range = NB_RANGE(0, (double)MAX_ATTR),
	 .doc = "zeros added on each side"},
	{.name = "dilation", .type = NB_ATTR_INT,
	 .offset = offsetof(conv1d_attrs, dilation), .def = 1,
	 .range = NB_RANGE(1, (double)MAX_ATTR),
	 .doc = "step between kernel taps"},
	{.name = "groups", .type = NB_ATTR_INT,
	 .offset = offsetof(conv1d_attrs, groups), .def = 1,
	 .range = NB_AT_LEAST(1),
	 .doc = "channel groups (divide C_in, C_out)"},
};

/*
 * [N, C, L] with [C_out, C_in/groups, K] is, in memory, [N, C, 1, L]
 * with [C_out, C_in/groups, 1, K]: the geometry of that conv2d, whose
 * kernels then run unchanged.
 */
static nb_status conv1d_geom(nb_op_ctx *c, geom *q)
{
	const conv1d_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
	if (x->ndim != 3)
		return nb_op_fail(c, NB_ESHAPE, "input must be [N, C, L] (3-D), "
		                  "not %d-D", x->ndim);
	if (w->ndim != 3)
		return nb_op_fail(c, NB_ESHAPE, "weight must be [C_out, "
		                  "C_in/groups, K] (3-D), not %d-D", w->ndim);
	*q = (geom){.N = x->shape[0], .C = x->shape[1], .H = 1,
	            .W = x->shape[2], .O = w->shape[0], .G = a->groups,
	            .KH = 1, .KW = w->shape[2], .sh = 1, .sw = a->stride,
	            .ph = 0, .pw = a->padding, .dh = 1, .dw = a->dilation};
	if (q->C % q->G || q->O % q->G)
		return nb_op_fail(c, NB_ESHAPE, "groups=%lld must divide the "
		                  "input channels (%lld) and the output channels "
		                  "(%lld)", (long long)q->G, (long long)q->C,
		                  (long long)q->O);
	if (w->shape[1] != q->C / q->G)
		return nb_op_fail(c, NB_ESHAPE, "channel mismatch: the input has "
		                  "%lld channels, so weight's second axis must be "
		                  "%lld (C_in / groups), not %lld", (long long)q->C,
		                  (long long)(q->C / q->G),
		                  (long long)w->shape[1]);
	if (q->KW < 1)
		return nb_op_fail(c, NB_ESHAPE, "the kernel must have at least "
		                  "one tap");
	if (b && (b->ndim != 1 || b->shape[0] != q->O))
		return nb_op_fail(c, NB_ESHAPE, "bias must be [%lld] (C_out)",
		                  (long long)q->O);
	q->OH = 1;
	q->OW = out_size(q->W, q->KW, q->sw, q->pw, q->dw);
	if (q->OW < 0)
		return nb_op_fail(c, NB_ESHAPE, "the kernel (%lld, dilated %lld) "
		    "is larger than the padded input (%lld)", (long long)q->KW,
		    (long long)(q->dw * (q->KW - 1) + 1),
		    (long long)(q->W + 2 * q->pw));
	return NB_OK;
}

static nb_status conv1d_shape(nb_op_ctx *c, nb_result_def *res)
{
	geom q;
	nb_status st = conv1d_geom(c, &q);
	if (st)
		return st;
	res->ndim = 3;
	res->shape[0] = q.N;
	res->shape[1] = q.O;
	res->shape[2] = q.OW;
	return NB_OK;
}

static nb_status conv1d_forward(nb_op_ctx *c)
{
	geom q;
	conv1d_geom(c, &q);
	return conv_fwd(c, &q, c->in[0], c->in[1], c->in[2], c->out);
}

static nb_status conv1d_backward(nb_op_ctx *c, const nb_tensor *gout,
                                 nb_tensor *const *gin)
{
	geom q;
	conv1d_geom(c, &q);
	return conv_bwd(c, &q, c->in[0], c->in[1], gout, gin[0], gin[1],
	                gin[2], false);
}

static const nb_input_def conv1d_inputs[] = {
	{.name = "input", .doc = "[N, C_in, L]"},
	{.name = "weight", .role = NB_ROLE_PARAM, .fill = NB_FILL_NONE,
	 .doc = "[C_out, C_in/groups, K]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .fill = NB_FILL_NONE, .doc = "[C_out]"},
};

static const nb_op_test conv1d_test = {
	.cases = "[2,3,7] [4,3,3] [4]; "
	         "[2,2,8] [3,2,2] [3]|stride=2 padding=1; "
	         "[1,4,9] [6,2,3] [6]|groups=2 dilation=2; "
	         "[2,2,5] [2,2,3] [2]-|padding=2; "
	         "[1,3,6] [3,1,1] [3]|groups=3 stride=3",
};

static const nb_op conv1d_op = {
	.version = NB_OP_VERSION,
	.name = "conv1d",
	.kind = NB_KIND_CONV,
	.doc = "1-D convolution (cross-correlation) of [N, C, L] with "
	       "[C_out, C_in/groups, K], plus bias",
	.inputs = conv1d_inputs,
	.n_inputs = 3,
	.attrs = conv1d_defs,
	.n_attrs = (int)(sizeof conv1d_defs / sizeof *conv1d_defs),
	.attrs_size = sizeof(conv1d_attrs),
	.flags = NB_OP_WRITES_OUTPUT,
	.shape = conv1d_shape,
	.forward = conv1d_forward,
	.backward = conv1d_backward,
	.test = &conv1d_test,
};

/* ---- conv_transpose2d (issue 15): the adjoint of conv2d ---- */

typedef struct convt_attrs {
	nb_ints stride, padding, output_padding, dilation;
	int64_t groups;
} convt_attrs;

static const nb_attr_def convt_defs[] = {
	{.name = "stride", .type = NB_ATTR_INTS,
	 .offset = offsetof(convt_attrs, stride),
	 .doc = "S or SH,SW (default 1)"},
	{.name = "padding", .type = NB_ATTR_INTS,
	 .offset = offsetof(convt_attrs, padding),
	 .doc = "dilation * (k - 1) - padding zeros on each side of the "
	        "input: P or PH,PW (default 0)"},
	{.name = "output_padding", .type = NB_ATTR_INTS,
	 .offset = offsetof(convt_attrs, output_padding),
	 .doc = "added to one side of the output: P or PH,PW (default 0; "
	        "less than stride or dilation)"},
	{.name = "groups", .type = NB_ATTR_INT,
	 .offset = offsetof(convt_attrs, groups), .def = 1,
	 .range = NB_AT_LEAST(1),
	 .doc = "channel groups (divide C_in, C_out)"},
	{.name = "dilation", .type = NB_ATTR_INTS,
	 .offset = offsetof(convt_attrs, dilation),
	 .doc = "step between kernel taps: D or DH,DW (default 1)"},
};

/* One axis of the output: (n - 1) s - 2 p + d (k - 1) + op + 1, or -1
 * when it is below 1 or beyond 2^48. */
static int64_t convt_size(int64_t n, int64_t k, int64_t s, int64_t p,
                          int64_t d, int64_t op)
{
	int64_t r, t;
	if (n < 1 || __builtin_mul_overflow(n - 1, s, &r) ||
	    __builtin_mul_overflow(d, k - 1, &t) ||
	    __builtin_add_overflow(r, t, &r) ||
	    __builtin_add_overflow(r, op + 1 - 2 * p, &r))
		return -1;
	return r < 1 || r > ((int64_t)1 << 48) ? -1 : r;
}

/*
 * conv_transpose2d(x, w) is the input gradient of conv2d(z, w) for z
 * of the output's shape: q describes that conv2d, with input z [N,
 * C_out, OH, OW] (q->C, q->H, q->W) and output x [N, C_in, H, W] (q->O,
 * q->OH, q->OW).  The weight [C_in, C_out/groups, kH, kW] is then
 * conv2d's [O, C/groups, kH, kW] as it stands.
 */
static nb_status convt_geom(nb_op_ctx *c, geom *q)
{
	const convt_attrs *a = c->attrs;
	const nb_tensor *w = c->in[1], *b = c->in[2];
	int64_t oph, opw;
	nb_status st;
	if ((st = input_4d(c, q)))
		return st;
	if (w->ndim != 4)
		return nb_op_fail(c, NB_ESHAPE, "weight must be [C_in, "
		                  "C_out/groups, kH, kW] (4-D), not %d-D", w->ndim);
	q->O = q->C; /* the roles of conv2d: x is its output */
	q->OH = q->H;
	q->OW = q->W;
	q->G = a->groups;
	q->KH = w->shape[2];
	q->KW = w->shape[3];
	if (q->O % q->G)
		return nb_op_fail(c, NB_ESHAPE, "groups=%lld must divide the "
		                  "input channels (%lld)", (long long)q->G,
		                  (long long)q->O);
	if (w->shape[0] != q->O)
		return nb_op_fail(c, NB_ESHAPE, "channel mismatch: the input has "
		                  "%lld channels, so weight's first axis must be "
		                  "%lld, not %lld", (long long)q->O,
		                  (long long)q->O, (long long)w->shape[0]);
	if (q->KH < 1 || q->KW < 1)
		return nb_op_fail(c, NB_ESHAPE, "the kernel (%lldx%lld) must be at "
		                  "least 1x1", (long long)q->KH, (long long)q->KW);
	if (__builtin_mul_overflow(w->shape[1], q->G, &q->C))
		return nb_op_fail(c, NB_ESHAPE, "too many output channels");
	if (b && (b->ndim != 1 || b->shape[0] != q->C))
		return nb_op_fail(c, NB_ESHAPE, "bias must be [%lld] (C_out)",
		                  (long long)q->C);
	if ((st = pair(c, "stride", &a->stride, 1, 1, &q->sh, &q->sw)) ||
	    (st = pair(c, "padding", &a->padding, 0, 0, &q->ph, &q->pw)) ||
	    (st = pair(c, "output_padding", &a->output_padding, 0, 0, &oph,
	               &opw)) ||
	    (st = pair(c, "dilation", &a->dilation, 1, 1, &q->dh, &q->dw)))
		return st;
	if ((oph >= q->sh && oph >= q->dh) || (opw >= q->sw && opw >= q->dw))
		return nb_op_fail(c, NB_EINVAL, "output_padding (%lld, %lld) must "
		                  "be smaller than either stride (%lld, %lld) or "
		                  "dilation (%lld, %lld)", (long long)oph,
		                  (long long)opw, (long long)q->sh,
		                  (long long)q->sw, (long long)q->dh,
		                  (long long)q->dw);
	q->H = convt_size(q->OH, q->KH, q->sh, q->ph, q->dh, oph);
	q->W = convt_size(q->OW, q->KW, q->sw, q->pw, q->dw, opw);
	if (q->H < 1 || q->W < 1)
		return nb_op_fail(c, NB_ESHAPE, "the output would be empty or too "
		                  "large: (H - 1) * stride - 2 * padding + dilation "
		                  "* (k - 1) + output_padding + 1 must be at least "
		                  "1 on both axes, for an input of at least 1x1");
	return NB_OK;
}

static nb_status convt_shape(nb_op_ctx *c, nb_result_def *res)
{
	geom q;
	nb_status st = convt_geom(c, &q);
	if (st)
		return st;
	res->ndim = 4;
	res->shape[0] = q.N;
	res->shape[1] = q.C;
	res->shape[2] = q.H;
	res->shape[3] = q.W;
	return NB_OK;
}

/* y[n, o, :] += b[o] over every sample (y of n planes of L). */
static void add_bias(nb_tensor *y, const nb_tensor *b, int64_t N,
                     int64_t C, size_t L)
{
	for (int64_t n = 0; n < N; n++)
		for (int64_t o = 0; o < C; o++) {
			size_t at = (size_t)(n * C + o) * L;
			if (y->dtype == NB_F32) {
				float *p = (float *)y->data + at;
				float v = ((const float *)b->data)[o];
				for (size_t l = 0; l < L; l++)
					p[l] += v;
			} else {
				double *p = (double *)y->data + at;
				double v = ((const double *)b->data)[o];
				for (size_t l = 0; l < L; l++)
					p[l] += v;
			}
		}
}

/* db[o] += the sum of g[n, o, :] over samples and positions, in
 * double. */
static void sum_planes(nb_tensor *db, const nb_tensor *g, int64_t N,
                       int64_t C, size_t L)
{
	for (int64_t o = 0; o < C; o++) {
		double s = 0;
		for (int64_t n = 0; n < N; n++) {
			size_t at = (size_t)(n * C + o) * L;
			s += g->dtype == NB_F32 ? sum_float((const float *)g->data + at,
			                                    L)
			                        : sum_double((const double *)g->data +
			                                     at, L);
		}
		if (db->dtype == NB_F32)
			((float *)db->data)[o] += (float)s;
		else
			((double *)db->data)[o] += s;
	}
}

/* y (zeroed by the dispatcher) = col2im(W^T x) + b. */
static nb_status convt_forward(nb_op_ctx *c)
{
	geom q;
	convt_geom(c, &q);
	nb_status st = conv_bwd(c, &q, c->out, c->in[1], c->in[0], c->out,
	                        NULL, NULL, false);
	if (!st && c->in[2])
		add_bias(c->out, c->in[2], q.N, q.C, (size_t)(q.H * q.W));
	return st;
}

/* dx += conv2d(gout, w); dw += as conv2d's weight gradient with gout
 * as its input and x as its output gradient; db += sums of gout. */
static nb_status convt_backward(nb_op_ctx *c, const nb_tensor *gout,
                                nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0];
	geom q;
	nb_status st = NB_OK;
	convt_geom(c, &q);
	if (gin[2])
		sum_planes(gin[2], gout, q.N, q.C, (size_t)(q.H * q.W));
	if (gin[1])
		st = conv_bwd(c, &q, gout, c->in[1], x, NULL, gin[1], NULL,
		              false);
	if (!st && gin[0]) {
		nb_tensor *t = nb_op_scratch(c, x->dtype, x->ndim, x->shape);
		if (!t)
			return NB_ENOMEM;
		if (!(st = conv_fwd(c, &q, gout, c->in[1], NULL, t)))
			nb__tensor_acc(gin[0], t);
	}
	return st;
}

static const nb_input_def convt_inputs[] = {
	{.name = "input", .doc = "[N, C_in, H, W]"},
	{.name = "weight", .role = NB_ROLE_PARAM, .fill = NB_FILL_NONE,
	 .doc = "[C_in, C_out/groups, kH, kW]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .fill = NB_FILL_NONE, .doc = "[C_out]"},
};

static const nb_op_test convt_test = {
	.cases = "[2,3,4,4] [3,2,3,3] [2]; "
	         "[1,2,3,4] [2,3,3,2] [3]|stride=2 padding=1 output_padding=1; "
	         "[1,4,3,3] [4,1,2,3] [2]|groups=2 stride=1,2; "
	         "[2,2,3,3] [2,2,3,3] [2]-|dilation=2 padding=1; "
	         "[1,2,2,3] [2,2,1,1] [2]|stride=3 output_padding=2,1",
};

static const nb_op convt_op = {
	.version = NB_OP_VERSION,
	.name = "conv_transpose2d",
	.kind = NB_KIND_CONV,
	.doc = "2-D transposed convolution (the gradient of conv2d) of "
	       "[N, C_in, H, W] with [C_in, C_out/groups, kH, kW], plus bias",
	.inputs = convt_inputs,
	.n_inputs = 3,
	.attrs = convt_defs,
	.n_attrs = (int)(sizeof convt_defs / sizeof *convt_defs),
	.attrs_size = sizeof(convt_attrs),
	.shape = convt_shape,
	.forward = convt_forward,
	.backward = convt_backward,
	.test = &convt_test,
};

/* ---- the family, in the order of `nabla ops` ---- */

const nb_op *const nb__conv_ops[] = {
	&conv2d_op, &max_pool2d_op, &avg_pool2d_op,
	/* issue 15 */
	&conv1d_op, &convt_op, NULL,
};

/* ---- typed wrappers (include/nabla/conv.h) ---- */

static nb_ints ints2(const int64_t v[2])
{
	nb_ints r = {.n = 2};
	r.v[0] = v[0];
	r.v[1] = v[1];
	return r;
}

nb_tensor *nb_conv2d(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                     nb_tensor *bias, const nb_conv2d_opts *o)
{
	conv2d_attrs a = {.groups = 1};
	if (o) {
		a.stride = ints2(o->stride);
		a.padding = ints2(o->padding);
		a.dilation = ints2(o->dilation);
		a.groups = o->groups;
	}
	return nb_apply(g, &conv2d_op, 3, (nb_tensor *[]){x, weight, bias},
	                &a);
}

static nb_tensor *pool(nb_graph *g, const nb_op *op, nb_tensor *x,
                       const nb_pool2d_opts *o)
{
	pool2d_attrs a = {.count_include_pad = true};
	if (o) {
		a.kernel_size = ints2(o->kernel_size);
		if (o->stride[0] || o->stride[1])
			a.stride = ints2(o->stride);
		a.padding = ints2(o->padding);
		a.count_include_pad = !o->exclude_pad;
	}
	return nb_apply(g, op, 1, &x, &a);
}

nb_tensor *nb_max_pool2d(nb_graph *g, nb_tensor *x, const nb_pool2d_opts *o)
{
	return pool(g, &max_pool2d_op, x, o);
}

nb_tensor *nb_avg_pool2d(nb_graph *g, nb_tensor *x, const nb_pool2d_opts *o)
{
	return pool(g, &avg_pool2d_op, x, o);
}

/* ---- issue 15 ---- */

nb_tensor *nb_conv1d(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                     nb_tensor *bias, const nb_conv1d_opts *o)
{
	conv1d_attrs a = {.stride = 1, .dilation = 1, .groups = 1};
	if (o)
		a = (conv1d_attrs){o->stride, o->padding, o->dilation, o->groups};
	return nb_apply(g, &conv1d_op, 3, (nb_tensor *[]){x, weight, bias},
	                &a);
}

nb_tensor *nb_conv_transpose2d(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                               nb_tensor *bias,
                               const nb_conv_transpose2d_opts *o)
{
	convt_attrs a = {.groups = 1};
	if (o) {
		a.stride = ints2(o->stride);
		a.padding = ints2(o->padding);
		a.output_padding = ints2(o->output_padding);
		a.dilation = ints2(o->dilation);
		a.groups = o->groups;
	}
	return nb_apply(g, &convt_op, 3, (nb_tensor *[]){x, weight, bias}, &a);
}
