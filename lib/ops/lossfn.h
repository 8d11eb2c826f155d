/*
 * lossfn.h - what the loss ops share: the `reduction` attribute and the
 * pointwise losses' kernels (mse in loss.c; l1, smooth_l1, huber,
 * binary cross-entropy and kl_div in losses.c).  Private.
 *
 * A pointwise loss has inputs (input, target[, weight[, pos_weight]]),
 * all of one shape but the weights, which broadcast to the input's
 * shape.  Its attribute struct starts with `int reduction` (an
 * nb_reduction), so that the shared forward and backward read it
 * without knowing the rest.  NB_PW_LOSS turns three formulas into its
 * float and double kernels: the loss of one element and its derivatives
 * with respect to the input and the target, in terms of x (input), t
 * (target), w (weight, 1 when not given), pw (pos_weight, 1 when not
 * given; has_pw says whether it was) and A (the attributes), T the
 * element type.  The shared code
 * multiplies all three by w.
 */
#ifndef NB_LOSSFN_H
#define NB_LOSSFN_H

#include "../internal.h"
#include <nabla/loss.h>

/* The `reduction` attribute row of an attribute struct TYPE. */
#define NB_REDUCTION_ROW(TYPE)                                              \
	{.name = "reduction", .type = NB_ATTR_ENUM,                          \
	 .offset = offsetof(TYPE, reduction), .def = NB_REDUCTION_MEAN,      \
	 .choices = "none|mean|sum",                                         \
	 .doc = "none: each element's loss; mean (of all elements); sum"}

/* The reduction of the attribute struct of a pointwise loss. */
static inline nb_reduction nb__reduction(const nb_op_ctx *c)
{
	return (nb_reduction) * (const int *)c->attrs;
}

/*
 * The factor that turns a sum of n losses into the reduction (1 for sum
 * and none; mean of n = 0 is NaN, as 0 / 0).  batchmean divides by the
 * first dim of x (the sum itself for a scalar x).
 */
static inline double nb__reduce_scale(nb_reduction r, const nb_tensor *x,
                                      double n)
{
	if (r == NB_REDUCTION_MEAN)
		return 1 / n;
	if (r == NB_REDUCTION_BATCHMEAN && x->ndim > 0)
		return 1 / (double)x->shape[0];
	return 1;
}

/* The forward and backward kernels of one element type. */
typedef double (*nb__pw_fwd_fn)(size_t n, const void *x, const void *t,
                                const void *w, const void *pw, void *out,
                                const void *attrs);
typedef void (*nb__pw_bwd_fn)(size_t n, const void *x, const void *t,
                              const void *w, const void *pw, const void *gs,
                              double gscalar, void *dx, void *dt,
                              const void *attrs);

/* What a pointwise loss saves: the weights at the input's shape. */
typedef struct nb__pw_saved {
	const void *w, *pw;
} nb__pw_saved;

#define NB__PW_T(NAME, TY, ATYPE, LOSS, DX, DT)                              \
	static double NAME##_fwd_##TY(size_t n, const void *xv,               \
	                              const void *tv, const void *wv,         \
	                              const void *pwv, void *outv,            \
	                              const void *av)                         \
	{                                                                     \
		typedef TY T;                                                 \
		const T *xs = xv, *ts = tv, *ws = wv, *pws = pwv;             \
		T *out = outv;                                                \
		const ATYPE *A = av;                                          \
		double s = 0;                                                 \
		(void)A;                                                      \
		for (size_t i = 0; i < n; i++) {                              \
			const T x = xs[i], t = ts[i];                         \
			const T w = ws ? ws[i] : (T)1;                        \
			const T pw = pws ? pws[i] : (T)1;                     \
			const bool has_pw = pws != NULL;                      \
			(void)pw;                                             \
			(void)has_pw;                                         \
			const T l = (T)(w * (LOSS));                          \
			if (out)                                              \
				out[i] = l;                                   \
			else                                                  \
				s += (double)l;                               \
		}                                                             \
		return s;                                                     \
	}                                                                     \
	/* dx += g w DX, dt += g w DT; g = gs[i], or gscalar if gs is NULL */ \
	static void NAME##_bwd_##TY(size_t n, const void *xv, const void *tv, \
	                            const void *wv, const void *pwv,          \
	                            const void *gv, double gscalar,           \
	                            void *dxv, void *dtv, const void *av)     \
	{                                                                     \
		typedef TY T;                                                 \
		const T *xs = xv, *ts = tv, *ws = wv, *pws = pwv, *gs = gv;   \
		T *dx = dxv, *dt = dtv;                                       \
		const T gsc = (T)gscalar;                                     \
		const ATYPE *A = av;                                          \
		(void)A;                                                      \
		for (size_t i = 0; i < n; i++) {                              \
			const T x = xs[i], t = ts[i];                         \
			const T w = ws ? ws[i] : (T)1;                        \
			const T pw = pws ? pws[i] : (T)1;                     \
			const T g = (gs ? gs[i] : gsc) * w;                   \
			const bool has_pw = pws != NULL;                      \
			(void)pw;                                             \
			(void)has_pw;                                         \
			if (dx)                                               \
				dx[i] += (T)(g * (DX));                       \
			if (dt)                                               \
				dt[i] += (T)(g * (DT));                       \
		}                                                             \
	}

/*
 * Defines NAME##_forward and NAME##_backward of a pointwise loss with
 * attribute struct ATYPE (starting with int reduction).  Write the
 * formulas with (T) casts on constants so that float32 stays in float.
 */
#define NB_PW_LOSS(NAME, ATYPE, LOSS, DX, DT)                                \
	NB__PW_T(NAME, float, ATYPE, LOSS, DX, DT)                            \
	NB__PW_T(NAME, double, ATYPE, LOSS, DX, DT)                           \
	static nb_status NAME##_forward(nb_op_ctx *c)                         \
	{                                                                     \
		return nb__pw_forward(c, NAME##_fwd_float, NAME##_fwd_double); \
	}                                                                     \
	static nb_status NAME##_backward(nb_op_ctx *c, const nb_tensor *gout, \
	                                 nb_tensor *const *gin)               \
	{                                                                     \
		return nb__pw_backward(c, gout, gin, NAME##_bwd_float,        \
		                       NAME##_bwd_double);                    \
	}

/* Input i of c (NULL when absent or past the inputs given). */
static inline const nb_tensor *nb__pw_in(const nb_op_ctx *c, int i)
{
	return i < c->n_in ? c->in[i] : NULL;
}

/* w broadcast to x's shape: its own data when it has x's element count
 * (the shape rule made sure it broadcasts to exactly x's shape), else a
 * scratch copy.  NULL for no w, or NB_ENOMEM in *st. */
static inline const void *nb__pw_expand(nb_op_ctx *c, const nb_tensor *w,
                                        const nb_tensor *x, nb_status *st)
{
	if (!w || w->numel == x->numel)
		return w ? w->data : NULL;
	nb_tensor *e = nb_op_scratch(c, x->dtype, x->ndim, x->shape);
	if (!e) {
		*st = NB_ENOMEM;
		return NULL;
	}
	nb__broadcast_add(x->dtype, w->data, w->ndim, w->shape, e->data,
	                  x->ndim, x->shape);
	return e->data;
}

static inline nb_status nb__pw_forward(nb_op_ctx *c, nb__pw_fwd_fn ff,
                                       nb__pw_fwd_fn fd)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	nb_reduction r = nb__reduction(c);
	nb_status st = NB_OK;
	nb__pw_saved *s = nb_op_save(c, sizeof *s);
	if (!s)
		return NB_ENOMEM;
	s->w = nb__pw_expand(c, nb__pw_in(c, 2), x, &st);
	s->pw = nb__pw_expand(c, nb__pw_in(c, 3), x, &st);
	if (st != NB_OK)
		return st;
	void *out = r == NB_REDUCTION_NONE ? c->out->data : NULL;
	double sum = (x->dtype == NB_F32 ? ff : fd)(x->numel, x->data, t->data,
	                                            s->w, s->pw, out, c->attrs);
	if (!out)
		nb_tensor_set(c->out, 0,
		              sum * nb__reduce_scale(r, x, (double)x->numel));
	return NB_OK;
}

static inline nb_status nb__pw_backward(nb_op_ctx *c, const nb_tensor *gout,
                                        nb_tensor *const *gin,
                                        nb__pw_bwd_fn bf, nb__pw_bwd_fn bd)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	const nb__pw_saved *s = c->saved;
	nb_reduction r = nb__reduction(c);
	const void *gs = r == NB_REDUCTION_NONE ? gout->data : NULL;
	double gsc = gs ? 0
	                : nb_tensor_get(gout, 0) *
	                      nb__reduce_scale(r, x, (double)x->numel);
	if (!x->numel)
		return NB_OK;
	(x->dtype == NB_F32 ? bf : bd)(x->numel, x->data, t->data, s->w, s->pw,
	                               gs, gsc, gin[0] ? gin[0]->data : NULL,
	                               gin[1] ? gin[1]->data : NULL, c->attrs);
	return NB_OK;
}

/*
 * The shape rule of a pointwise loss: target of input's shape, the
 * optional inputs from 2 on broadcastable to exactly input's shape; the
 * result is input's shape for reduction none, else a scalar.
 */
static inline nb_status nb__pw_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0], *t = c->in[1];
	if (x->ndim != t->ndim ||
	    memcmp(x->shape, t->shape, (size_t)x->ndim * sizeof *x->shape))
		return nb_op_fail(c, NB_ESHAPE, "input and target must have "
		                  "the same shape");
	for (int i = 2; i < c->n_in; i++) {
		const nb_tensor *w = c->in[i];
		int nd;
		int64_t sh[NB_MAX_DIMS];
		if (w && (!nb__broadcast_shape(w->ndim, w->shape, x->ndim,
		                               x->shape, &nd, sh) ||
		          nd != x->ndim ||
		          memcmp(sh, x->shape, (size_t)nd * sizeof *sh)))
			return nb_op_fail(c, NB_ESHAPE, "%s must broadcast to "
			                  "the input's shape",
			                  nb_op_input(c->op, i)->name);
	}
	if (nb__reduction(c) != NB_REDUCTION_NONE)
		res->ndim = 0;
	return NB_OK;
}

#endif
