/*
 * syncbn.c - sync_batch_norm: batch_norm whose batch statistics are
 * taken over the samples of every rank, as PyTorch's nn.SyncBatchNorm,
 * and the converter that swaps a model's batch_norm layers for it
 * (torch.nn.SyncBatchNorm.convert_sync_batchnorm).
 *
 * With M the global count per channel (N * spatial, summed over the
 * ranks), forward in training mode takes two allreduces per layer:
 *   count and sum(x) per channel       -> mean = sum / M
 *   sum((x - mean)^2) per channel      -> var = that / M  (biased)
 * (two passes, as batch_norm's statistics, rather than one allreduce of
 * sum and sum of squares: the one-pass form cancels catastrophically
 * for inputs with a large common offset, and a step's second allreduce
 * of C doubles costs a latency, not bandwidth).  Then each rank
 * normalizes its own rows exactly as batch_norm over the global batch
 * would.  Backward (norm.c's formula with global sums), dxhat = w * dy:
 *   A = sum(dxhat), B = sum(dxhat * xhat)   allreduced over the ranks
 *   dx = invstd / M * (M * dxhat - A - xhat * B)
 *   dweight = sum(dy * xhat), dbias = sum(dy)   this rank's alone
 * The parameter gradients stay local because nb_ddp averages them: with
 * each rank's loss the mean over its rows, every rank's upstream
 * gradient is size times its part of the global loss's, and so is
 * each term above; nb_ddp's division by size makes them the global
 * batch's.  Running statistics: running = momentum * batch + (1 -
 * momentum) * running, with the unbiased var * M / (M - 1) of the
 * global count, num_batches_tracked counted; momentum=none as
 * batch_norm.  In evaluation mode (with running statistics) there is
 * no communication: it is batch_norm.
 *
 * The op is not in the registry (its references are batch_norm's; it
 * is tested under mpirun against batch_norm on the global batch,
 * tests/test_dist.c): it is applied by the layers nb_sync_batch_norm_new
 * makes and nb_sync_batch_norm_convert swaps in.  Its inputs are
 * batch_norm's own definitions (the same names, roles and fills), its
 * attributes batch_norm's plus "group", the communicator's id (an
 * attribute is a number; nb__dist_by_id finds the communicator; 0 or a
 * communicator of one rank computes plain batch_norm, also in a build
 * without MPI).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include "dist_internal.h"

typedef struct sbn_attrs {
	double momentum, eps;
	int64_t group;
} sbn_attrs;

static const nb_attr_def sbn_defs[] = {
	{.name = "momentum", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(sbn_attrs, momentum), .def = 0.1,
	 .range = NB_RANGE(0, 1), .flags = NB_ATTR_NULLABLE,
	 .doc = "weight of the batch in the running statistics; none: "
	        "cumulative average (needs num_batches_tracked)"},
	{.name = "eps", .type = NB_ATTR_FLOAT,
	 .offset = offsetof(sbn_attrs, eps), .def = 1e-5,
	 .range = NB_AT_LEAST(0),
	 .doc = "added to the variance before the square root"},
	{.name = "group", .type = NB_ATTR_INT,
	 .offset = offsetof(sbn_attrs, group), .def = 0,
	 .range = NB_AT_LEAST(0),
	 .doc = "the communicator whose ranks share statistics (nb_dist); "
	        "0: this process alone"},
};

/* What forward keeps for backward: per channel mean and invstd, the
 * global count, whether the statistics were the batch's. */
typedef struct sbn_saved {
	bool batch_stats;
	double M;
	size_t C;
	double stat[]; /* mean[C], invstd[C] */
} sbn_saved;

/* x as [N, C, S]. */
typedef struct shape3 {
	size_t N, C, S;
} shape3;

static shape3 shape_of(const nb_tensor *x)
{
	shape3 L = {(size_t)x->shape[0], (size_t)x->shape[1], 1};
	for (int i = 2; i < x->ndim; i++)
		L.S *= (size_t)x->shape[i];
	return L;
}

static inline double ld(const void *p, size_t i, bool f32)
{
	return f32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static inline void st(void *p, size_t i, double v, bool f32)
{
	if (f32)
		((float *)p)[i] = (float)v;
	else
		((double *)p)[i] = v;
}

/* The communicator of the attributes, NULL for this process alone. */
static nb_status comm_of(nb_op_ctx *c, nb_dist **out)
{
	const sbn_attrs *a = c->attrs;
	*out = NULL;
	if (!a->group)
		return NB_OK;
	nb_dist *d = nb__dist_by_id(a->group);
	if (!d)
		return nb_op_fail(c, NB_ESTATE, "communicator %lld was freed "
		                  "(or never made): free the model first",
		                  (long long)a->group);
	*out = d->size > 1 ? d : NULL;
	return NB_OK;
}

/* v[0..n) summed over d's ranks (in place); nothing without d. */
static nb_status sum_ranks(nb_op_ctx *c, nb_dist *d, double *v, size_t n)
{
#ifdef HAVE_MPI
	if (!d)
		return NB_OK;
	int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, MPI_SUM,
	                       d->ctl);
	if (rc != MPI_SUCCESS) {
		nb__mpi_fail(rc, "sync_batch_norm");
		return nb_op_fail(c, NB_EIO, "%s", nb_last_error());
	}
#else
	(void)c;
	(void)d;
	(void)v;
	(void)n;
#endif
	return NB_OK;
}

static nb_status sbn_shape(nb_op_ctx *c, nb_result_def *res)
{
	const nb_tensor *x = c->in[0];
	(void)res;
	char s[96];
	if (x->ndim < 2)
		return nb_op_fail(c, NB_ESHAPE, "expected an input of rank 2 or "
		                  "more ([N, C] or [N, C, *spatial]), got rank %d",
		                  x->ndim);
	for (int i = 1; i < 5; i++) {
		const nb_tensor *v = c->in[i];
		if (v && (v->ndim != 1 || v->shape[0] != x->shape[1]))
			return nb_op_fail(c, NB_ESHAPE, "%s must have shape [C] = "
			                  "[%lld], not %s", c->op->inputs[i].name,
			                  (long long)x->shape[1],
			                  nb_shape_str(v->ndim, v->shape, s, sizeof s));
	}
	if (!c->in[3] != !c->in[4])
		return nb_op_fail(c, NB_EINVAL, "running_mean and running_var "
		                  "must be given together");
	if (c->in[5] && (!c->in[3] || c->in[5]->numel != 1))
		return nb_op_fail(c, NB_EINVAL, "num_batches_tracked must be one "
		                  "value, with running statistics");
	const sbn_attrs *a = c->attrs;
	if (isnan(a->momentum) && c->in[3] && !c->in[5])
		return nb_op_fail(c, NB_EINVAL, "momentum=none (cumulative "
		                  "moving average) needs num_batches_tracked");
	return NB_OK;
}

/* Per channel: mean and biased variance over every rank's rows. */
static nb_status global_stats(nb_op_ctx *c, nb_dist *d, const shape3 *L,
                              double *mean, double *var, double *M)
{
	const nb_tensor *x = c->in[0];
	bool f = x->dtype == NB_F32;
	size_t C = L->C;
	/* [count, sum per channel] then [sum of squared deviations] */
	double *buf = nb__calloc(C + 1, sizeof *buf);
	if (!buf)
		return nb_op_fail(c, NB_ENOMEM, "out of memory");
	buf[0] = (double)(L->N * L->S);
	for (size_t n = 0; n < L->N; n++)
		for (size_t ch = 0; ch < C; ch++) {
			size_t at = (n * C + ch) * L->S;
			double s = 0;
			for (size_t i = 0; i < L->S; i++)
				s += ld(x->data, at + i, f);
			buf[1 + ch] += s;
		}
	nb_status rc = sum_ranks(c, d, buf, C + 1);
	*M = buf[0];
	for (size_t ch = 0; !rc && ch < C; ch++) {
		mean[ch] = *M > 0 ? buf[1 + ch] / *M : 0;
		var[ch] = 0;
	}
	for (size_t n = 0; !rc && n < L->N; n++)
		for (size_t ch = 0; ch < C; ch++) {
			size_t at = (n * C + ch) * L->S;
			double s = 0, mu = mean[ch];
			for (size_t i = 0; i < L->S; i++) {
				double e = ld(x->data, at + i, f) - mu;
				s += e * e;
			}
			var[ch] += s;
		}
	if (!rc)
		rc = sum_ranks(c, d, var, C);
	for (size_t ch = 0; !rc && ch < C; ch++)
		var[ch] = *M > 0 ? var[ch] / *M : 0;
	nb__free(buf);
	if (!rc && *M <= 1)
		rc = nb_op_fail(c, NB_ESHAPE, "expected more than 1 value per "
		                "channel when training (got %.0f over all ranks)",
		                *M);
	return rc;
}

static void update_running(nb_op_ctx *c, const double *mean,
                           const double *var, double M)
{
	const sbn_attrs *a = c->attrs;
	nb_tensor *rm = c->in[3], *rv = c->in[4], *cnt = c->in[5];
	int64_t *count = cnt ? cnt->data : NULL;
	if (count && *count < INT64_MAX)
		++*count;
	double m = isnan(a->momentum) ? 1.0 / (double)*count : a->momentum;
	for (size_t ch = 0; ch < rm->numel; ch++) {
		nb_tensor_set(rm, ch, m * mean[ch] + (1 - m) *
		              nb_tensor_get(rm, ch));
		nb_tensor_set(rv, ch, m * var[ch] * M / (M - 1) + (1 - m) *
		              nb_tensor_get(rv, ch));
	}
}

static nb_status sbn_forward(nb_op_ctx *c)
{
	const sbn_attrs *a = c->attrs;
	const nb_tensor *x = c->in[0], *w = c->in[1], *b = c->in[2];
	shape3 L = shape_of(x);
	bool batch = nb_op_training(c) || !c->in[3];
	sbn_saved *s = nb_op_save(c, sizeof *s + 2 * L.C * sizeof(double));
	if (!s)
		return NB_ENOMEM;
	s->batch_stats = batch;
	s->C = L.C;
	double *mean = s->stat, *invstd = s->stat + L.C;
	nb_dist *d = NULL;
	nb_status rc = batch ? comm_of(c, &d) : NB_OK;
	if (!rc && batch)
		rc = global_stats(c, d, &L, mean, invstd, &s->M);
	if (rc)
		return rc;
	if (batch && c->in[3] && nb_op_training(c))
		update_running(c, mean, invstd, s->M);
	for (size_t ch = 0; !batch && ch < L.C; ch++) {
		mean[ch] = nb_tensor_get(c->in[3], ch);
		invstd[ch] = nb_tensor_get(c->in[4], ch);
	}
	for (size_t ch = 0; ch < L.C; ch++)
		invstd[ch] = 1 / sqrt(invstd[ch] + a->eps);
	bool f = x->dtype == NB_F32;
	for (size_t n = 0; n < L.N; n++)
		for (size_t ch = 0; ch < L.C; ch++) {
			size_t at = (n * L.C + ch) * L.S;
			double sc = invstd[ch] * (w ? ld(w->data, ch, f) : 1);
			double sh = b ? ld(b->data, ch, f) : 0, mu = mean[ch];
			for (size_t i = 0; i < L.S; i++)
				st(c->out->data, at + i,
				   (ld(x->data, at + i, f) - mu) * sc + sh, f);
		}
	return NB_OK;
}

/* g[ch] += v[ch] for a gradient g (may be NULL). */
static void add_into(nb_tensor *g, const double *v)
{
	for (size_t ch = 0; g && ch < g->numel; ch++)
		st(g->data, ch, ld(g->data, ch, g->dtype == NB_F32) + v[ch],
		   g->dtype == NB_F32);
}

static nb_status sbn_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	const nb_tensor *x = c->in[0], *w = c->in[1];
	const sbn_saved *s = c->saved;
	shape3 L = shape_of(x);
	size_t C = L.C;
	bool f = x->dtype == NB_F32;
	const double *mean = s->stat, *invstd = s->stat + C;
	/* dw, db, then A, B (allreduced) */
	double *acc = nb__calloc(4 * C + 1, sizeof *acc);
	if (!acc)
		return nb_op_fail(c, NB_ENOMEM, "out of memory");
	double *dw = acc, *db = acc + C, *A = acc + 2 * C, *B = acc + 3 * C;
	for (size_t n = 0; n < L.N; n++)
		for (size_t ch = 0; ch < C; ch++) {
			size_t at = (n * C + ch) * L.S;
			double g = w ? ld(w->data, ch, f) : 1;
			for (size_t i = 0; i < L.S; i++) {
				double dy = ld(gout->data, at + i, f);
				double xh = (ld(x->data, at + i, f) - mean[ch]) *
				            invstd[ch];
				dw[ch] += dy * xh;
				db[ch] += dy;
				A[ch] += g * dy;
				B[ch] += g * dy * xh;
			}
		}
	nb_dist *d = NULL;
	/* Every rank sums, whether or not its input wants a gradient, so
	 * that the collectives pair. */
	nb_status rc = s->batch_stats ? comm_of(c, &d) : NB_OK;
	if (!rc && s->batch_stats)
		rc = sum_ranks(c, d, A, 2 * C);
	for (size_t n = 0; !rc && gin[0] && n < L.N; n++)
		for (size_t ch = 0; ch < C; ch++) {
			size_t at = (n * C + ch) * L.S;
			double g = w ? ld(w->data, ch, f) : 1, k = invstd[ch];
			double a = s->batch_stats ? A[ch] / s->M : 0;
			double bb = s->batch_stats ? B[ch] / s->M : 0;
			for (size_t i = 0; i < L.S; i++) {
				double xh = (ld(x->data, at + i, f) - mean[ch]) * k;
				double dxh = g * ld(gout->data, at + i, f);
				double dx = k * (dxh - a - xh * bb);
				st(gin[0]->data, at + i,
				   ld(gin[0]->data, at + i, f) + dx, f);
			}
		}
	if (!rc) {
		add_into(gin[1], dw);
		add_into(gin[2], db);
	}
	nb__free(acc);
	return rc;
}

/* The op: batch_norm's inputs, filled in from its descriptor once. */
static nb_op sync_op = {
	.version = NB_OP_VERSION,
	.name = "sync_batch_norm",
	.kind = NB_KIND_NORM,
	.doc = "batch_norm with statistics over every rank's samples",
	.attrs = sbn_defs,
	.n_attrs = (int)(sizeof sbn_defs / sizeof *sbn_defs),
	.attrs_size = sizeof(sbn_attrs),
	.flags = NB_OP_WRITES_OUTPUT | NB_OP_LAYER,
	.layer_prefix = "bn",
	.shape = sbn_shape,
	.forward = sbn_forward,
	.backward = sbn_backward,
};

/* batch_norm's descriptor, and sync_op with its inputs; NULL when
 * batch_norm is not registered (or has other inputs than expected). */
static const nb_op *ops(const nb_op **bn)
{
	*bn = nb_op_find("batch_norm");
	if (!*bn || (*bn)->n_inputs != 6 ||
	    (*bn)->inputs[5].role != NB_ROLE_BUFFER) {
		nb__set_error(NB_ENOTFOUND, "sync_batch_norm: batch_norm is not "
		              "registered as expected (6 inputs)");
		return NULL;
	}
	sync_op.inputs = (*bn)->inputs;
	sync_op.n_inputs = (*bn)->n_inputs;
	return &sync_op;
}

/* Attributes of the sync op from batch_norm's (by the attribute
 * definitions: every float of the same name), with group. */
static void convert_attrs(const nb_op *bn, const void *from, sbn_attrs *to,
                          int64_t group)
{
	nb_attrs_parse(&sync_op, NULL, to);
	for (int i = 0; i < bn->n_attrs; i++)
		for (int j = 0; j < sync_op.n_attrs; j++)
			if (bn->attrs[i].type == NB_ATTR_FLOAT &&
			    sbn_defs[j].type == NB_ATTR_FLOAT &&
			    !strcmp(bn->attrs[i].name, sbn_defs[j].name))
				memcpy((char *)to + sbn_defs[j].offset,
				       (const char *)from + bn->attrs[i].offset,
				       sizeof(double));
	to->group = group;
}

static nb_status convert(nb_module *m, const nb_op *bn, const nb_op *op,
                         int64_t group, size_t *n)
{
	const void *attrs = NULL;
	if (nb__op_layer_op(m, &attrs) == bn) {
		sbn_attrs a;
		convert_attrs(bn, attrs, &a, group);
		nb_status st = nb__op_layer_set_op(m, op, &a);
		if (st)
			return st;
		++*n;
	}
	for (size_t i = 0; i < nb_module_child_count(m); i++) {
		nb_status st = convert(nb_module_child(m, i), bn, op, group, n);
		if (st)
			return st;
	}
	return NB_OK;
}

nb_status nb_sync_batch_norm_convert(nb_module *m, nb_dist *d,
                                     size_t *converted)
{
	size_t n = 0;
	if (converted)
		*converted = 0;
	if (!m || !d)
		return nb__set_error(NB_EINVAL, "sync_batch_norm_convert: %s is "
		                     "NULL", m ? "the communicator" : "the model");
	if (!d->id)
		return nb__set_error(NB_ESTATE, "sync_batch_norm_convert: more "
		                     "than 64 communicators are live");
	const nb_op *bn, *op = ops(&bn);
	if (!op)
		return nb_last_status();
	nb_status st = convert(m, bn, op, d->id, &n);
	if (converted)
		*converted = n;
	return st;
}

nb_module *nb_sync_batch_norm_new(const char *name, nb_dist *d,
                                  int64_t features, nb_dtype dt)
{
	const nb_op *bn, *op = ops(&bn);
	if (!op)
		return NULL;
	sbn_attrs a;
	nb_attrs_parse(op, NULL, &a);
	a.group = d ? d->id : 0;
	return nb_op_layer_new(name, op, &a, features, dt, 0);
}
