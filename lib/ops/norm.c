/*
 * norm.c - batch_norm, instance_norm, group_norm and layer_norm, each
 * with its closed-form (fused) backward.
 *
 * All four standardize x over a statistics group of M elements, then
 * apply an optional affine map (gamma = weight, beta = bias):
 *   mean = sum(x) / M,   var = sum((x - mean)^2) / M   (biased)
 *   invstd = 1 / sqrt(var + eps),   xhat = (x - mean) * invstd
 *   y = gamma * xhat + beta
 * On x of shape [N, C, S...] the groups are:
 *   batch_norm     one per channel, over (N, S...)
 *   instance_norm  one per sample and channel, over (S...)
 *   group_norm     one per sample and group of C/G channels, over (C/G, S...)
 *   layer_norm     one per leading index, over the trailing normalized_shape
 * (doc/normalization.md draws them).
 *
 * Backward of a group, with dxhat = gamma * dy (Ioffe and Szegedy 2015,
 * section 3, with the three chain-rule terms collected):
 *   dx = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))
 *   dgamma = sum(dy * xhat),  dbeta = sum(dy)
 * where dgamma and dbeta sum over everything sharing that gamma.  With
 * fixed statistics (running statistics in evaluation mode) mean and
 * invstd are constants, and the backward is the affine map's:
 *   dx = gamma * invstd * dy.
 *
 * Numerics.  Statistics are two-pass (the mean, then the squared
 * deviations from it) and accumulated in double for both dtypes, so a
 * large common offset (1e4 + N(0, 1)) costs no accuracy.  The forward
 * computes (x - mean) * scale + shift, not x * scale + (shift - mean *
 * scale), which cancels catastrophically for the same inputs; in float32
 * the mean is split into a float head and a float tail so that x - mean
 * is as exact as float allows.  A constant group has var = 0 and invstd
 * = 1/sqrt(eps): finite output and gradient for any eps > 0.
 *
 * Running statistics (batch_norm, instance_norm) are persistent tensors
 * that a training forward updates in place, as PyTorch does:
 *   running = momentum * batch + (1 - momentum) * running
 * with the unbiased batch variance var * M / (M - 1) (normalization
 * itself uses the biased one).  batch_norm's momentum=none is PyTorch's
 * cumulative moving average: it takes the int64 counter
 * num_batches_tracked (input 5), which a training forward increments,
 * and then uses momentum = 1 / num_batches_tracked.
 */
#include "config.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include "elementwise.h"

/* ---- attributes ---- */

typedef struct bn_attrs {
	double momentum, eps;
} bn_attrs;

typedef struct gn_attrs {
	int64_t num_groups;
	double eps;
} gn_attrs;

typedef struct ln_attrs {
	nb_ints normalized_shape;
	double eps;
} ln_attrs;

#define EPS_DEF(S)                                                           \
	{.name = "eps", .type = NB_ATTR_FLOAT, .offset = offsetof(S, eps),   \
	 .def = 1e-5, .range = NB_AT_LEAST(0),                               \
	 .doc = "added to the variance before the square root"}

static const nb_attr_def bn_defs[] = {
	{.name = "momentum", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(bn_attrs, momentum), .def = 0.1,
	 .range = NB_RANGE(0, 1), .flags = NB_ATTR_NULLABLE,
	 .doc = "weight of the batch in the running statistics; none: "
	        "cumulative average (needs num_batches_tracked)"},
	EPS_DEF(bn_attrs),
};

static const nb_attr_def in_defs[] = {
	{.name = "momentum", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(bn_attrs, momentum), .def = 0.1,
	 .range = NB_RANGE(0, 1),
	 .doc = "weight of the batch in the running statistics"},
	EPS_DEF(bn_attrs),
};

static const nb_attr_def gn_defs[] = {
	{.name = "num_groups", .type = NB_ATTR_INT,
	 .offset = offsetof(gn_attrs, num_groups), .def = 1,
	 .range = NB_AT_LEAST(1),
	 .doc = "groups the channels are split into; must divide C"},
	EPS_DEF(gn_attrs),
};

static const nb_attr_def ln_defs[] = {
	{.name = "normalized_shape", .type = NB_ATTR_INTS,
	 .offset = offsetof(ln_attrs, normalized_shape),
	 .doc = "trailing dims to normalize over (default: the last one)"},
	EPS_DEF(ln_attrs),
};

/* ---- the layout of the channel normalizations ---- */

/*
 * x seen as [N, C, S] (S the product of the spatial dims), its channels
 * in G groups of Cg = C / G.  Statistic k covers the channels gi * Cg ..
 * gi * Cg + Cg - 1 of group gi = k % G, each a contiguous run of S:
 * across all samples when `batch` (then k = gi), else of sample k / G.
 *   batch_norm:    G = C, Cg = 1, batch
 *   instance_norm: G = C, Cg = 1
 *   group_norm:    G = num_groups, Cg = C / G
 */
typedef struct layout {
	size_t N, C, S, G, Cg;
	bool batch;
} layout;

static layout layout_of(const nb_tensor *x, size_t G, bool batch)
{
	layout L = {(size_t)x->shape[0], (size_t)x->shape[1], 1, G, 0, batch};
	for (int i = 2; i < x->ndim; i++)
		L.S *= (size_t)x->shape[i];
	L.Cg = G ? L.C / G : 0;
	return L;
}

static size_t n_stats(const layout *L)
{
	return L->batch ? L->G : L->N * L->G;
}

/* M, the number of elements of one statistics group. */
static size_t group_size(const layout *L)
{
	return (L->batch ? L->N : 1) * L->Cg * L->S;
}

/* The first statistic of sample n. */
static size_t stat0(const layout *L, size_t n)
{
	return L->batch ? 0 : n * L->G;
}

/* The entry points of the kernels for one element type and ISA; the
 * arrays are float or double as the input's dtype. */
typedef struct norm_kernels {
	bool (*stats)(const layout *L, const void *x, void *y, const void *w,
	              const void *b, double eps, double *mean, double *var);
	void (*apply)(const layout *L, const void *x, void *y,
	              const double *mean, const double *invstd, const void *w,
	              const void *b, void *co);
	void (*backward)(const layout *L, const void *x, const void *g,
	                 const double *mean, const double *invstd,
	                 bool batch_stats, const void *w, void *dx, double *dw,
	                 double *db, double *A, double *B, void *co,
	                 double *rs);
	void (*ln_forward)(size_t rows, size_t D, const void *x, void *y,
	                   const void *w, const void *b, double eps,
	                   double *mean, double *invstd);
	void (*ln_backward)(size_t rows, size_t D, const void *x,
	                    const void *g, const void *w, const double *mean,
	                    const double *invstd, void *dx, double *dw,
	                    double *db, void *co);
} norm_kernels;

/*
 * The kernels (norm_kernels.h), for float and for double, built for the
 * baseline ISA and, where the compiler can, once more for AVX2 (the
 * target attribute on every function; no FMA, so no contraction), chosen
 * at run time by kernels_for().  Every sum keeps NB_NORM_LANES explicit
 * lanes combined in a fixed order, and no element's arithmetic depends
 * on the vector width, so both builds give the same bits.
 */
#define KERNEL
#define ISA base
#define VBYTES 16
#define T float
#include "norm_kernels.h"
#undef T
#define T double
#include "norm_kernels.h"
#undef T
#undef VBYTES
#undef ISA
#undef KERNEL
#ifdef HAVE_AVX2_TARGET
#define KERNEL __attribute__((target("avx2")))
#define ISA avx2
#define VBYTES 32
#define T float
#include "norm_kernels.h"
#undef T
#define T double
#include "norm_kernels.h"
#undef T
#undef VBYTES
#undef ISA
#undef KERNEL
#endif

/* The AVX2 kernels when the CPU (and the OS) support them, unless the
 * environment sets NB_DISABLE_AVX2 (a non-empty value other than 0), which
 * tests use to compare the two builds. */
static const norm_kernels *kernels_for(nb_dtype dt)
{
#ifdef HAVE_AVX2_TARGET
	const char *off = getenv("NB_DISABLE_AVX2");
	if (__builtin_cpu_supports("avx2") &&
	    !(off && *off && strcmp(off, "0")))
		return dt == NB_F32 ? &kernels_float_avx2
		                    : &kernels_double_avx2;
#endif
	return dt == NB_F32 ? &kernels_float_base : &kernels_double_base;
}

/* ---- shared forward / backward of the channel normalizations ---- */

/* What forward saves: per statistic the mean and invstd it used. */
typedef struct norm_saved {
	bool batch_stats; /* statistics of x itself (else fixed, running) */
	size_t n;
	double stat[];    /* mean[n], then invstd[n] */
} norm_saved;

/*
 * running = m * batch + (1 - m) * running, per channel, averaging the
 * channel's statistics (instance_norm has one per sample, as PyTorch's
 * instance_norm averages the per-sample updates).
 */
static void update_running(const layout *L, const double *mean,
                           const double *var, nb_tensor *rm, nb_tensor *rv,
                           double m)
{
	size_t ns = n_stats(L), per = ns / L->G;
	double M = (double)group_size(L), unbias = M / (M - 1);
	for (size_t ch = 0; ch < L->G; ch++) {
		double sm = 0, sv = 0;
		for (size_t k = ch; k < ns; k += L->G) {
			sm += mean[k];
			sv += var[k];
		}
		sm /= (double)per;
		sv = sv / (double)per * unbias;
		nb_tensor_set(rm, ch, m * sm + (1 - m) * nb_tensor_get(rm, ch));
		nb_tensor_set(rv, ch, m * sv + (1 - m) * nb_tensor_get(rv, ch));
	}
}

/*
 * Normalizes in[0] with in[1], in[2] as the affine map.  With batch
 * statistics, updates the running statistics rm, rv with momentum m
 * (unless they are NULL or m is NAN) and increments *count (unless
 * NULL); without, uses rm, rv as they are.  Allocates before it updates
 * anything, so a failure leaves the running statistics alone.
 */
static nb_status channel_forward(nb_op_ctx *c, const layout *L,
                                 bool batch_stats, nb_tensor *rm,
                                 nb_tensor *rv, int64_t *count, double m,
                                 double eps)
{
	const nb_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
	size_t ns = n_stats(L);
	norm_saved *s = nb_op_save(c, sizeof *s + 2 * ns * sizeof(double));
	nb_tensor *co = s ? nb_op_scratch(c, x->dtype, 1,
	                                  (int64_t[]){4 * (int64_t)L->C})
	                  : NULL;
	if (!co)
		return NB_ENOMEM;
	s->batch_stats = batch_stats;
	s->n = ns;
	/* As PyTorch's module, every training forward counts; at INT64_MAX
	 * the counter stays (one more would overflow). */
	if (count && *count < INT64_MAX)
		++*count;
	/* The variance goes where invstd will be, until the loop below. */
	double *mean = s->stat, *invstd = s->stat + ns;
	if (!x->numel)
		return NB_OK;
	const norm_kernels *K = kernels_for(x->dtype);
	const void *wd = w ? w->data : NULL, *bd = b ? b->data : NULL;
	bool done = false; /* the output written with the statistics */
	if (batch_stats) {
		done = K->stats(L, x->data, c->out->data, wd, bd, eps, mean,
		                invstd);
		if (rm && !isnan(m))
			update_running(L, mean, invstd, rm, rv, m);
	} else {
		for (size_t k = 0; k < ns; k++) {
			mean[k] = nb_tensor_get(rm, k % L->G);
			invstd[k] = nb_tensor_get(rv, k % L->G);
		}
	}
	for (size_t k = 0; k < ns; k++)
		invstd[k] = 1 / sqrt(invstd[k] + eps);
	if (!done)
		K->apply(L, x->data, c->out->data, mean, invstd, wd, bd,
		         co->data);
	return NB_OK;
}

/* dst += v (dst->numel doubles). */
static void add_into(nb_tensor *dst, const double *v)
{
	if (!dst)
		return;
	if (dst->dtype == NB_F32) {
		float *p = dst->data;
		for (size_t i = 0; i < dst->numel; i++)
			p[i] += (float)v[i];
	} else {
		double *p = dst->data;
		for (size_t i = 0; i < dst->numel; i++)
			p[i] += v[i];
	}
}

static nb_status channel_backward(nb_op_ctx *c, const layout *L,
                                  const nb_tensor *gout,
                                  nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	const norm_saved *s = c->saved;
	size_t ns = s->n, C = L->C;
	if (!x->numel)
		return NB_OK;
	/* dw, db, A, B, then the per-run sums of pass 1 */
	nb_tensor *acc = nb_op_scratch(c, NB_F64, 1, (int64_t[]){
	        (int64_t)(2 * C + 2 * ns + 2 * L->N * C)});
	nb_tensor *co = nb_op_scratch(c, x->dtype, 1,
	                              (int64_t[]){5 * (int64_t)C});
	if (!acc || !co)
		return NB_ENOMEM;
	double *dw = acc->data, *db = dw + C, *A = db + C, *B = A + ns;
	double *rs = B + ns;
	const double *mean = s->stat, *invstd = s->stat + ns;
	void *dx = gin[0] ? gin[0]->data : NULL;
	const void *wd = w ? w->data : NULL;
	kernels_for(x->dtype)->backward(L, x->data, gout->data, mean, invstd,
	                                s->batch_stats, wd, dx, dw, db, A, B,
	                                co->data, rs);
	add_into(gin[1], dw);
	add_into(gin[2], db);
	return NB_OK;
}

/* ---- shape checks ---- */

/* A per-channel vector (weight, bias, running stat) must be [C]. */
static nb_status check_vec(nb_op_ctx *c, int i, const char *what,
                           int64_t C)
{
	const nb_tensor *v = c->in[i];
	char s[96];
	if (v && (v->ndim != 1 || v->shape[0] != C))
		return nb_op_fail(c, NB_ESHAPE, "%s must have shape [C] = "
		                  "[%lld], not %s", what, (long long)C,
		                  nb_shape_str(v->ndim, v->shape, s, sizeof s));
	return NB_OK;
}

/* Rank, weight, bias and (when has_running) running statistics. */
static nb_status check_channels(nb_op_ctx *c, int min_rank,
                                bool has_running)
{
	const nb_tensor *x = c->in[0];
	static const char *const names[] = {"weight", "bias", "running_mean",
	                                    "running_var"};
	if (x->ndim < min_rank)
		return nb_op_fail(c, NB_ESHAPE, "expected an input of rank %d "
		    "or more (%s), got rank %d", min_rank, min_rank > 2
		    ? "[N, C, *spatial]: it normalizes over the spatial dims"
		    : "[N, C] or [N, C, *spatial]", x->ndim);
	for (int i = 1; i < (has_running ? 5 : 3); i++)
		if (check_vec(c, i, names[i - 1], x->shape[1]))
			return c->g->err;
	if (has_running && !c->in[3] != !c->in[4])
		return nb_op_fail(c, NB_EINVAL, "running_mean and running_var "
		                  "must be given together");
	return NB_OK;
}

/* ---- batch_norm ---- */

/* Batch statistics in training mode, and whenever nothing is tracked. */
static bool uses_batch_stats(const nb_op_ctx *c)
{
	return nb_op_training(c) || !c->in[3];
}

static nb_status bn_shape(nb_op_ctx *c, nb_result_def *res)
{
	const bn_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0], *cnt = c->in[5];
	(void)res;
	if (check_channels(c, 2, true))
		return c->g->err;
	if (cnt && cnt->numel != 1)
		return nb_op_fail(c, NB_ESHAPE, "num_batches_tracked must hold "
		                  "one value, not %zu", cnt->numel);
	if (cnt && !c->in[3])
		return nb_op_fail(c, NB_EINVAL, "num_batches_tracked needs "
		                  "running_mean and running_var");
	if (cnt && *(const int64_t *)cnt->data < 0)
		return nb_op_fail(c, NB_EINVAL, "num_batches_tracked is "
		                  "negative (%lld)",
		                  (long long)*(const int64_t *)cnt->data);
	if (isnan(a->momentum) && c->in[3] && !cnt)
		return nb_op_fail(c, NB_EINVAL, "momentum=none (cumulative "
		                  "moving average) needs the "
		                  "num_batches_tracked input");
	size_t per = x->shape[1] ? x->numel / (size_t)x->shape[1] : 0;
	if (uses_batch_stats(c) && per == 1)
		return nb_op_fail(c, NB_ESHAPE, "expected more than 1 value "
		                  "per channel when training (got %lld "
		                  "channels of 1 value)",
		                  (long long)x->shape[1]);
	return NB_OK;
}

static nb_status bn_forward(nb_op_ctx *c)
{
	const bn_attrs *a = c->attrs;
	nb_tensor *rm = c->in[3], *rv = c->in[4], *cnt = c->in[5];
	layout L = layout_of(c->in[0], (size_t)c->in[0]->shape[1], true);
	int64_t *count = NULL;
	double m = NAN;
	if (nb_op_training(c) && rm) {
		m = a->momentum;
		count = cnt ? cnt->data : NULL;
		if (isnan(m)) /* the count after this batch; checked in shape */
			m = 1.0 / ((double)*count + 1);
	}
	return channel_forward(c, &L, uses_batch_stats(c), rm, rv, count, m,
	                       a->eps);
}

static nb_status bn_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	layout L = layout_of(c->in[0], (size_t)c->in[0]->shape[1], true);
	return channel_backward(c, &L, gout, gin);
}

/* Affine map and running statistics (a layer makes them all). */
static const nb_input_def bn_inputs[] = {
	{.name = "input", .doc = "[N, C] or [N, C, *spatial]"},
	{.name = "weight", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 1.0, .doc = "gamma, [C]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 0.0, .doc = "beta, [C]"},
	{.name = "running_mean",
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_ANY_FLOAT,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .shape = NB_SHAPE_FEATURES, .fill = NB_FILL_CONST, .value = 0.0,
	 .doc = "[C], updated in place by a training forward"},
	{.name = "running_var",
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_ANY_FLOAT,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .shape = NB_SHAPE_FEATURES, .fill = NB_FILL_CONST, .value = 1.0,
	 .doc = "[C], updated in place by a training forward"},
	{.name = "num_batches_tracked",
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_INT64,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .shape = NB_SHAPE_SCALAR, .fill = NB_FILL_CONST, .value = 0,
	 .doc = "int64 counter of training forwards (momentum=none)"},
};

static const nb_op_test bn_test = {
	.cases = "[4,3] [3] [3] [3] [3]p []i3; "
	         "[2,3,2,2] [3] [3] [3] [3]p []i3|momentum=none; "
	         "[3,2,3] [2]- [2]- [2]- [2]- []-; "
	         "[2,2,1,2,1,1,2,1] [2] [2]- [2]- [2]- []-; "
	         "[3,2] [2]- [2] [2] [2]p []-|eps=0.1 momentum=0.5",
};

static const nb_op batch_norm_op = {
	.version = NB_OP_VERSION,
	.name = "batch_norm",
	.kind = NB_KIND_NORM,
	.doc = "per channel over (N, spatial); running statistics",
	.inputs = bn_inputs,
	.n_inputs = 6,
	.attrs = bn_defs,
	.n_attrs = (int)(sizeof bn_defs / sizeof *bn_defs),
	.attrs_size = sizeof(bn_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.layer_prefix = "bn",
	.shape = bn_shape,
	.forward = bn_forward,
	.backward = bn_backward,
	.test = &bn_test,
};

/* ---- instance_norm ---- */

static nb_status in_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	(void)res;
	if (check_channels(c, 3, true))
		return c->g->err;
	size_t nc = (size_t)(x->shape[0] * x->shape[1]);
	if (uses_batch_stats(c) && nc && x->numel / nc == 1)
		return nb_op_fail(c, NB_ESHAPE, "expected more than 1 spatial "
		                  "element when training (the spatial dims "
		                  "hold 1 value)");
	return NB_OK;
}

static nb_status in_forward(nb_op_ctx *c)
{
	const bn_attrs *a = c->attrs;
	nb_tensor *rm = c->in[3], *rv = c->in[4];
	layout L = layout_of(c->in[0], (size_t)c->in[0]->shape[1], false);
	double m = nb_op_training(c) && rm ? a->momentum : NAN;
	return channel_forward(c, &L, uses_batch_stats(c), rm, rv, NULL, m,
	                       a->eps);
}

static nb_status in_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	layout L = layout_of(c->in[0], (size_t)c->in[0]->shape[1], false);
	return channel_backward(c, &L, gout, gin);
}

/* As batch_norm's, but a layer makes none of them unless asked
 * (PyTorch's affine=False, track_running_stats=False). */
static const nb_input_def in_inputs[] = {
	{.name = "input", .doc = "[N, C, *spatial]"},
	{.name = "weight", .flags = NB_IN_OPTIONAL | NB_IN_LAYER_OFF,
	 .role = NB_ROLE_PARAM, .group = NB_GROUP_AFFINE,
	 .shape = NB_SHAPE_FEATURES, .fill = NB_FILL_CONST, .value = 1.0,
	 .doc = "gamma, [C]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL | NB_IN_LAYER_OFF,
	 .role = NB_ROLE_PARAM, .group = NB_GROUP_AFFINE,
	 .shape = NB_SHAPE_FEATURES, .fill = NB_FILL_CONST, .value = 0.0,
	 .doc = "beta, [C]"},
	{.name = "running_mean", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF |
	 NB_IN_ANY_FLOAT | NB_IN_LAYER_OFF,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .shape = NB_SHAPE_FEATURES, .fill = NB_FILL_CONST, .value = 0.0,
	 .doc = "[C], updated in place by a training forward"},
	{.name = "running_var", .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF |
	 NB_IN_ANY_FLOAT | NB_IN_LAYER_OFF,
	 .role = NB_ROLE_BUFFER, .group = NB_GROUP_STATS,
	 .shape = NB_SHAPE_FEATURES, .fill = NB_FILL_CONST, .value = 1.0,
	 .doc = "[C], updated in place by a training forward"},
};

static const nb_op_test in_test = {
	.cases = "[2,3,4] [3] [3] [3] [3]p; "
	         "[2,2,3,2] [2]- [2]- [2]- [2]-; "
	         "[1,2,3] [2] [2] [2]- [2]-|eps=0.01",
};

static const nb_op instance_norm_op = {
	.version = NB_OP_VERSION,
	.name = "instance_norm",
	.kind = NB_KIND_NORM,
	.doc = "per sample and channel over the spatial dims",
	.inputs = in_inputs,
	.n_inputs = 5,
	.attrs = in_defs,
	.n_attrs = (int)(sizeof in_defs / sizeof *in_defs),
	.attrs_size = sizeof(bn_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.layer_prefix = "in",
	.shape = in_shape,
	.forward = in_forward,
	.backward = in_backward,
	.test = &in_test,
};

/* ---- group_norm ---- */

static nb_status gn_shape(nb_op_ctx *c, nb_result_def *res)
{
	const gn_attrs *a = c->attrs;
	int64_t C;
	(void)res;
	if (check_channels(c, 2, false))
		return c->g->err;
	C = c->in[0]->shape[1];
	if (C % a->num_groups)
		return nb_op_fail(c, NB_ESHAPE, "num_groups = %lld must divide "
		                  "the number of channels C = %lld",
		                  (long long)a->num_groups, (long long)C);
	return NB_OK;
}

static nb_status gn_forward(nb_op_ctx *c)
{
	const gn_attrs *a = c->attrs;
	layout L = layout_of(c->in[0], (size_t)a->num_groups, false);
	return channel_forward(c, &L, true, NULL, NULL, NULL, NAN, a->eps);
}

static nb_status gn_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	const gn_attrs *a = c->attrs;
	layout L = layout_of(c->in[0], (size_t)a->num_groups, false);
	return channel_backward(c, &L, gout, gin);
}

static const nb_input_def gn_inputs[] = {
	{.name = "input", .doc = "[N, C] or [N, C, *spatial]"},
	{.name = "weight", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 1.0, .doc = "gamma, [C]"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 0.0, .doc = "beta, [C]"},
};

static const nb_op_test gn_test = {
	.cases = "[2,4,3] [4] [4]|num_groups=2; "
	         "[2,6] [6] [6]|num_groups=3; "
	         "[1,4,2,2] [4]- [4]-|num_groups=1; "
	         "[2,3,3] [3] [3]|num_groups=3",
};

static const nb_op group_norm_op = {
	.version = NB_OP_VERSION,
	.name = "group_norm",
	.kind = NB_KIND_NORM,
	.doc = "per sample and group of channels over (C/G, spatial)",
	.inputs = gn_inputs,
	.n_inputs = 3,
	.attrs = gn_defs,
	.n_attrs = (int)(sizeof gn_defs / sizeof *gn_defs),
	.attrs_size = sizeof(gn_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.layer_prefix = "gn",
	.shape = gn_shape,
	.forward = gn_forward,
	.backward = gn_backward,
	.test = &gn_test,
};

/* ---- layer_norm ---- */

/* How many trailing dims are normalized: normalized_shape's, or 1. */
static int ln_dims(const nb_op_ctx *c)
{
	const ln_attrs *a = c->attrs;
	return a->normalized_shape.n ? a->normalized_shape.n : 1;
}

/* D, the product of the normalized dims. */
static size_t ln_size(const nb_op_ctx *c)
{
	const nb_tensor *x = c->in[0];
	size_t D = 1;
	for (int i = x->ndim - ln_dims(c); i < x->ndim; i++)
		D *= (size_t)x->shape[i];
	return D;
}

static nb_status ln_shape(nb_op_ctx *c, nb_result_def *res)
{
	const ln_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int k = ln_dims(c);
	char s1[96], s2[96];
	(void)res;
	if (x->ndim < k || x->ndim < 1)
		return nb_op_fail(c, NB_ESHAPE, "normalizes the last %d dims, "
		                  "but the input has rank %d", k, x->ndim);
	const int64_t *tail = x->shape + x->ndim - k;
	if (a->normalized_shape.n &&
	    memcmp(tail, a->normalized_shape.v, (size_t)k * sizeof *tail))
		return nb_op_fail(c, NB_ESHAPE, "normalized_shape %s does not "
		                  "match the trailing dims of the input",
		                  nb_shape_str(k, a->normalized_shape.v, s1,
		                               sizeof s1));
	for (int i = 1; i <= 2; i++) {
		const nb_tensor *v = c->in[i];
		if (v && (v->ndim != k ||
		          memcmp(v->shape, tail, (size_t)k * sizeof *tail)))
			return nb_op_fail(c, NB_ESHAPE, "%s must have the "
			    "normalized shape %s, not %s",
			    i == 1 ? "weight" : "bias",
			    nb_shape_str(k, tail, s1, sizeof s1),
			    nb_shape_str(v->ndim, v->shape, s2, sizeof s2));
	}
	return NB_OK;
}

static nb_status ln_forward(nb_op_ctx *c)
{
	const ln_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
	size_t D = ln_size(c), rows = D ? x->numel / D : 0;
	norm_saved *s = nb_op_save(c, sizeof *s + 2 * rows * sizeof(double));
	if (!s)
		return NB_ENOMEM;
	s->batch_stats = true;
	s->n = rows;
	if (!x->numel)
		return NB_OK;
	const void *wd = w ? w->data : NULL, *bd = b ? b->data : NULL;
	if (!w != !b) { /* the kernel takes both or neither */
		nb_tensor *t = nb_op_scratch(c, x->dtype, 1,
		                             (int64_t[]){(int64_t)D});
		if (!t)
			return NB_ENOMEM;
		if (!w)
			nb_tensor_fill(t, 1.0);
		*(w ? &bd : &wd) = t->data;
	}
	kernels_for(x->dtype)->ln_forward(rows, D, x->data, c->out->data, wd,
	                                  bd, a->eps, s->stat, s->stat + rows);
	return NB_OK;
}

static nb_status ln_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	const norm_saved *s = c->saved;
	size_t D = ln_size(c), rows = s->n;
	if (!x->numel)
		return NB_OK;
	/* dw and db in double, and their block sums in x's dtype */
	bool wgrad = gin[1] || gin[2];
	nb_tensor *acc = nb_op_scratch(c, NB_F64, 1,
	                               (int64_t[]){2 * (int64_t)D});
	nb_tensor *co = nb_op_scratch(c, x->dtype, 1,
	                              (int64_t[]){2 * (int64_t)D});
	if (!acc || !co)
		return NB_ENOMEM;
	double *dw = acc->data, *db = dw + D;
	void *dx = gin[0] ? gin[0]->data : NULL;
	const void *wd = w ? w->data : NULL;
	kernels_for(x->dtype)->ln_backward(rows, D, x->data, gout->data, wd,
	                                   s->stat, s->stat + rows, dx,
	                                   wgrad ? dw : NULL, db, co->data);
	add_into(gin[1], dw);
	add_into(gin[2], db);
	return NB_OK;
}

static const nb_input_def ln_inputs[] = {
	{.name = "input", .doc = "[..., *normalized_shape]"},
	{.name = "weight", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 1.0,
	 .doc = "gamma, shaped as normalized_shape"},
	{.name = "bias", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 0.0,
	 .doc = "beta, shaped as normalized_shape"},
};

static const nb_op_test ln_test = {
	.cases = "[3,4] [4] [4]; "
	         "[2,3,4] [3,4] [3,4]|normalized_shape=3,4; "
	         "[2,5] [5]- [5]-; [6] [6] [6]-; "
	         "[2,1,1,1,1,1,2,3] [3] [3]",
};

static const nb_op layer_norm_op = {
	.version = NB_OP_VERSION,
	.name = "layer_norm",
	.kind = NB_KIND_NORM,
	.doc = "per sample over the trailing normalized_shape",
	.inputs = ln_inputs,
	.n_inputs = 3,
	.attrs = ln_defs,
	.n_attrs = (int)(sizeof ln_defs / sizeof *ln_defs),
	.attrs_size = sizeof(ln_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.layer_prefix = "ln",
	.shape = ln_shape,
	.forward = ln_forward,
	.backward = ln_backward,
	.test = &ln_test,
};

/* ---- rms_norm (issue 15) ---- */

/*
 *   rms_norm  y = x / sqrt(mean(x^2) + eps) * weight over the trailing
 *             normalized_shape (Zhang and Sennrich 2019; PyTorch 2.4's
 *             F.rms_norm, which 1.13 lacks).  With inv = (mean(x^2) +
 *             eps)^-1/2, h = x inv and u = g weight:
 *             dx = inv (u - h mean(u h)), dweight = sum over rows g h.
 *   eps none (the default, as PyTorch's eps=None) is the dtype's machine
 *   epsilon: FLT_EPSILON or DBL_EPSILON.
 */
typedef struct rms_attrs {
	nb_ints normalized_shape;
	double eps;
} rms_attrs;

static const nb_attr_def rms_defs[] = {
	{.name = "normalized_shape", .type = NB_ATTR_INTS,
	 .offset = offsetof(rms_attrs, normalized_shape),
	 .doc = "trailing dims normalized (default: the last one)"},
	{.name = "eps", .type = NB_ATTR_FLOAT, .offset = offsetof(rms_attrs, eps),
	 .def = NAN, .range = NB_AT_LEAST(0), .flags = NB_ATTR_NULLABLE,
	 .doc = "added to the mean square; none: the dtype's machine epsilon "
	        "(torch.finfo(dtype).eps)"},
};

/* What the row kernels share. */
typedef struct rms_job {
	size_t D;
	double eps;
	const void *x, *w, *g;
	void *y, *dx;
	double *inv; /* per row, saved by forward */
} rms_job;

#define T float
#include "rms_kernels.h"
#undef T
#define T double
#include "rms_kernels.h"
#undef T

static nb_status rms_shape(nb_op_ctx *c, nb_result_def *res)
{
	const rms_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0], *w = c->in[1];
	int k = a->normalized_shape.n ? a->normalized_shape.n : 1;
	char s1[96], s2[96];
	(void)res;
	if (x->ndim < k || x->ndim < 1)
		return nb_op_fail(c, NB_ESHAPE, "normalizes the last %d dims, "
		                  "but the input has rank %d", k, x->ndim);
	const int64_t *tail = x->shape + x->ndim - k;
	if (a->normalized_shape.n &&
	    memcmp(tail, a->normalized_shape.v, (size_t)k * sizeof *tail))
		return nb_op_fail(c, NB_ESHAPE, "normalized_shape %s does not "
		                  "match the trailing dims of the input",
		                  nb_shape_str(k, a->normalized_shape.v, s1,
		                               sizeof s1));
	if (w && (w->ndim != k ||
	          memcmp(w->shape, tail, (size_t)k * sizeof *tail)))
		return nb_op_fail(c, NB_ESHAPE, "weight must have the normalized "
		                  "shape %s, not %s",
		                  nb_shape_str(k, tail, s1, sizeof s1),
		                  nb_shape_str(w->ndim, w->shape, s2, sizeof s2));
	return NB_OK;
}

/* The job of c: D, rows, eps resolved. */
static size_t rms_setup(const nb_op_ctx *c, rms_job *j)
{
	const rms_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0];
	int k = a->normalized_shape.n ? a->normalized_shape.n : 1;
	size_t D = 1;
	for (int i = x->ndim - k; i < x->ndim; i++)
		D *= (size_t)x->shape[i];
	*j = (rms_job){.D = D, .eps = a->eps, .x = x->data,
	               .w = c->in[1] ? c->in[1]->data : NULL};
	if (isnan(j->eps))
		j->eps = x->dtype == NB_F32 ? FLT_EPSILON : DBL_EPSILON;
	return D ? x->numel / D : 0;
}

static size_t rms_grain(size_t D)
{
	return D < 8192 ? 8192 / (D ? D : 1) : 1;
}

static nb_status rms_forward(nb_op_ctx *c)
{
	rms_job j;
	size_t rows = rms_setup(c, &j);
	double *inv = nb_op_save(c, (rows ? rows : 1) * sizeof *inv);
	if (!inv)
		return NB_ENOMEM;
	j.inv = inv;
	j.y = c->out->data;
	nb__parallel_for(rows, rms_grain(j.D), j.D, c->in[0]->dtype == NB_F32
	                 ? rms_fwd_float : rms_fwd_double, &j);
	return NB_OK;
}

static nb_status rms_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	rms_job j;
	size_t rows = rms_setup(c, &j);
	bool f32 = c->in[0]->dtype == NB_F32;
	j.inv = c->saved;
	j.g = gout->data;
	if (gin[0]) {
		j.dx = gin[0]->data;
		nb__parallel_for(rows, rms_grain(j.D), j.D, f32 ? rms_bwd_float
		                 : rms_bwd_double, &j);
	}
	if (!gin[1])
		return NB_OK;
	nb_tensor *acc = nb_op_scratch(c, NB_F64, 1, (int64_t[]){(int64_t)j.D});
	if (!acc)
		return NB_ENOMEM;
	if (f32)
		rms_wgrad_float(&j, rows, acc->data, gin[1]->data);
	else
		rms_wgrad_double(&j, rows, acc->data, gin[1]->data);
	return NB_OK;
}

static const nb_input_def rms_inputs[] = {
	{.name = "input", .doc = "[..., *normalized_shape]"},
	{.name = "weight", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .group = NB_GROUP_AFFINE, .shape = NB_SHAPE_FEATURES,
	 .fill = NB_FILL_CONST, .value = 1.0,
	 .doc = "gamma, shaped as normalized_shape"},
};

static const nb_op_test rms_test = {
	.cases = "[3,4] [4]; "
	         "[2,3,4] [3,4]|normalized_shape=3,4; "
	         "[2,5] [5]-|eps=1e-3; [6] [6]; "
	         "[2,1,1,1,1,1,2,3] [3]",
};

static const nb_op rms_norm_op = {
	.version = NB_OP_VERSION,
	.name = "rms_norm",
	.kind = NB_KIND_NORM,
	.doc = "x / sqrt(mean(x^2) + eps) * weight over the trailing "
	       "normalized_shape",
	.inputs = rms_inputs,
	.n_inputs = 2,
	.attrs = rms_defs,
	.n_attrs = (int)(sizeof rms_defs / sizeof *rms_defs),
	.attrs_size = sizeof(rms_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.layer_prefix = "rms",
	.shape = rms_shape,
	.forward = rms_forward,
	.backward = rms_backward,
	.test = &rms_test,
};

/* ---- the family, in the order of `nabla ops` ---- */

const nb_op *const nb__norm_ops[] = {
	&batch_norm_op, &instance_norm_op, &group_norm_op, &layer_norm_op,
	&rms_norm_op, /* issue 15 */
	NULL,
};

/* ---- typed wrappers (include/nabla/norm.h) ---- */

nb_tensor *nb_batch_norm(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                         nb_tensor *bias, nb_tensor *running_mean,
                         nb_tensor *running_var,
                         nb_tensor *num_batches_tracked, double momentum,
                         double eps)
{
	bn_attrs a = {momentum, eps};
	nb_tensor *in[] = {x, weight, bias, running_mean, running_var,
	                   num_batches_tracked};
	return nb_apply(g, &batch_norm_op, 6, in, &a);
}

nb_tensor *nb_instance_norm(nb_graph *g, nb_tensor *x, nb_tensor *weight,
                            nb_tensor *bias, nb_tensor *running_mean,
                            nb_tensor *running_var, double momentum,
                            double eps)
{
	bn_attrs a = {momentum, eps};
	nb_tensor *in[] = {x, weight, bias, running_mean, running_var};
	return nb_apply(g, &instance_norm_op, 5, in, &a);
}

nb_tensor *nb_group_norm(nb_graph *g, nb_tensor *x, int64_t num_groups,
                         nb_tensor *weight, nb_tensor *bias, double eps)
{
	gn_attrs a = {num_groups, eps};
	return nb_apply(g, &group_norm_op, 3, (nb_tensor *[]){x, weight, bias},
	                &a);
}

nb_tensor *nb_layer_norm(nb_graph *g, nb_tensor *x, int n_norm,
                         const int64_t *normalized_shape, nb_tensor *weight,
                         nb_tensor *bias, double eps)
{
	ln_attrs a = {{0}, eps};
	if (n_norm < 0 || n_norm > NB_MAX_DIMS ||
	    (n_norm && !normalized_shape)) {
		if (g)
			nb__graph_fail(g, NB_EINVAL, "layer_norm: bad "
			               "normalized_shape (%d dims)", n_norm);
		else
			nb__set_error(NB_EINVAL, "layer_norm: graph is NULL");
		return NULL;
	}
	a.normalized_shape.n = n_norm;
	if (n_norm)
		memcpy(a.normalized_shape.v, normalized_shape,
		       (size_t)n_norm * sizeof *normalized_shape);
	return nb_apply(g, &layer_norm_op, 3, (nb_tensor *[]){x, weight, bias},
	                &a);
}

/* ---- rms_norm (issue 15) ---- */

nb_tensor *nb_rms_norm(nb_graph *g, nb_tensor *x, int n_norm,
                       const int64_t *normalized_shape, nb_tensor *weight,
                       double eps)
{
	rms_attrs a = {{0}, eps};
	if (n_norm < 0 || n_norm > NB_MAX_DIMS ||
	    (n_norm && !normalized_shape)) {
		if (g)
			nb__graph_fail(g, NB_EINVAL, "rms_norm: bad "
			               "normalized_shape (%d dims)", n_norm);
		else
			nb__set_error(NB_EINVAL, "rms_norm: graph is NULL");
		return NULL;
	}
	a.normalized_shape.n = n_norm;
	if (n_norm)
		memcpy(a.normalized_shape.v, normalized_shape,
		       (size_t)n_norm * sizeof *normalized_shape);
	return nb_apply(g, &rms_norm_op, 2, (nb_tensor *[]){x, weight}, &a);
}
