/*
 * ddp.c - gradient averaging in buckets (nb_ddp), as PyTorch's
 * DistributedDataParallel.
 *
 * The trainable parameters are taken in reverse order (backward
 * completes the last layer's gradients first) and cut into buckets of
 * about bucket_bytes, one dtype each.  During nb_ddp_backward the
 * engine's gradient-final hook (nb__graph_set_grad_hook) reports each
 * parameter whose gradient backward will no longer change; when a
 * bucket has all of its parameters, and every bucket before it has
 * started, its gradients are packed into its flat buffer and summed
 * over the ranks with MPI_Iallreduce on the data communicator.  Buckets
 * start strictly in order so that every rank issues the same sequence
 * of collectives even when one rank's backward reaches a parameter
 * late or never: nb_ddp_finish starts what is left, in order, then
 * agrees with the other ranks on the ctl communicator (one small
 * allgather), waits, and unpacks the sums divided by the rank count.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "dist_internal.h"

#define DEFAULT_BUCKET_BYTES ((size_t)25 << 20)
/* The first bucket (the last layers, whose gradients backward finishes
 * first) is at most this, as PyTorch's _DEFAULT_FIRST_BUCKET_BYTES, so
 * that communication starts early in backward. */
#define FIRST_BUCKET_BYTES ((size_t)1 << 20)

#ifdef HAVE_MPI

typedef struct bucket {
	size_t first, count;    /* params[first .. first+count) */
	size_t numel, ready;    /* elements; parameters complete */
	nb_dtype dtype;
	void *buf;
	MPI_Request req;
	bool started;
} bucket;

/* What each rank tells the others in nb_ddp_finish and nb_ddp_barrier:
 * the kind of call (a step or a barrier), the bucket layout, the count
 * of steps and of optimizer steps, this rank's failure, the parameters
 * without gradient.  The same allgather in both calls, so that a rank
 * at a barrier pairs with one still stepping and both see it. */
enum { A_KIND, A_LAYOUT, A_STEP, A_OPTIM, A_ERR, A_MISSING,
       A_FIRST_MISSING, A_N };
enum { KIND_STEP = 1, KIND_BARRIER = 2 };

/* A parameter's index in bucket order, found by its tensor. */
typedef struct lookup {
	const nb_tensor *t;
	size_t i;
} lookup;

struct nb_ddp {
	nb_dist *d;
	nb_module *m;
	size_t n;               /* parameters */
	nb_tensor **params;     /* in bucket order (reverse) */
	const char **names;
	size_t *bucket_of;
	bool *ready;
	lookup *lut;            /* sorted by tensor */
	uint64_t *all;          /* the ranks' reports, size x A_N */
	bucket *b;
	size_t n_buckets, next; /* next bucket to start */
	uint64_t layout;        /* hash of the bucket layout */
	bool no_sync, after;
	bool broken;            /* the ranks' collectives no longer pair */
	const nb_optim *optim;  /* whose step count is checked, or NULL */
	nb_status local_err;    /* this rank's backward failed */
	size_t started_in_backward;
	uint64_t steps;
	size_t bytes;
	double wait_seconds, exposed_seconds;
};

static int by_tensor(const void *a, const void *b)
{
	const lookup *x = a, *y = b;
	return x->t == y->t ? 0
	     : (uintptr_t)x->t < (uintptr_t)y->t ? -1 : 1;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The parameters in reverse order, their names and the lookup table. */
static nb_status collect(nb_ddp *p)
{
	const nb_named_tensor *t = NULL;
	size_t nt = nb_module_tensors(p->m, &t), k = 0;
	for (size_t i = 0; i < nt; i++)
		if (!t[i].buffer && (t[i].tensor->flags & NB_T_REQUIRES_GRAD))
			k++;
	p->n = k;
	size_t c = k ? k : 1;
	p->params = nb__calloc(c, sizeof *p->params);
	p->names = nb__calloc(c, sizeof *p->names);
	p->bucket_of = nb__calloc(c, sizeof *p->bucket_of);
	p->ready = nb__calloc(c, sizeof *p->ready);
	p->lut = nb__calloc(c, sizeof *p->lut);
	p->b = nb__calloc(c, sizeof *p->b);
	p->all = nb__calloc((size_t)p->d->size * A_N, sizeof *p->all);
	if (!p->all || !p->params || !p->names || !p->bucket_of || !p->ready ||
	    !p->lut || !p->b)
		return nb__set_error(NB_ENOMEM, "ddp: out of memory");
	size_t at = 0;
	for (size_t i = nt; i-- > 0;) {
		nb_tensor *x = t[i].tensor;
		if (t[i].buffer || !(x->flags & NB_T_REQUIRES_GRAD))
			continue;
		if (!nb__is_float(x->dtype))
			return nb__set_error(NB_EDTYPE, "ddp: parameter %s is %s, "
			    "not float32 or float64", t[i].name,
			    nb_dtype_name(x->dtype));
		if (x->numel > (size_t)INT_MAX)
			return nb__set_error(NB_EINVAL, "ddp: parameter %s has "
			    "%zu elements, more than one allreduce takes",
			    t[i].name, x->numel);
		p->params[at] = x;
		p->names[at] = t[i].name;
		p->lut[at] = (lookup){x, at};
		at++;
	}
	qsort(p->lut, p->n, sizeof *p->lut, by_tensor);
	return NB_OK;
}

/* Cuts the parameters into buckets of about limit bytes, one dtype
 * each, and hashes the layout. */
static nb_status make_buckets(nb_ddp *p, size_t limit)
{
	uint64_t h = NB_HASH_INIT;
	for (size_t i = 0; i < p->n; i++) {
		nb_tensor *x = p->params[i];
		size_t bytes = nb__nbytes(x);
		bucket *cur = p->n_buckets ? &p->b[p->n_buckets - 1] : NULL;
		if (!cur || cur->dtype != x->dtype ||
		    (cur->numel + x->numel) * nb_dtype_size(x->dtype) >
		    (p->n_buckets == 1 && limit > FIRST_BUCKET_BYTES
		     ? FIRST_BUCKET_BYTES : limit) ||
		    cur->numel + x->numel > (size_t)INT_MAX) {
			cur = &p->b[p->n_buckets++];
			*cur = (bucket){.first = i, .dtype = x->dtype,
			                .req = MPI_REQUEST_NULL};
		}
		cur->count++;
		cur->numel += x->numel;
		p->bucket_of[i] = p->n_buckets - 1;
		p->bytes += bytes;
		h = nb__dist_hash(h, &p->bucket_of[i], sizeof p->bucket_of[i]);
		h = nb__dist_hash(h, &x->numel, sizeof x->numel);
	}
	p->layout = h;
	for (size_t k = 0; k < p->n_buckets; k++) {
		bucket *b = &p->b[k];
		if (!(b->buf = nb__malloc(b->numel * nb_dtype_size(b->dtype))))
			return nb__set_error(NB_ENOMEM, "ddp: out of memory for a "
			                     "bucket of %zu elements", b->numel);
	}
	return NB_OK;
}

nb_ddp *nb_ddp_new(nb_dist *d, nb_module *m, const nb_ddp_opts *o)
{
	if (!d || !m) {
		nb__set_error(NB_EINVAL, "ddp: %s is NULL",
		              d ? "the module" : "the communicator");
		return NULL;
	}
	nb_ddp *p = nb__calloc(1, sizeof *p);
	if (!p) {
		nb__set_error(NB_ENOMEM, "ddp: out of memory");
		return NULL;
	}
	p->d = d;
	p->m = m;
	p->after = o && o->after_backward;
	size_t limit = o && o->bucket_bytes ? o->bucket_bytes
	                                    : DEFAULT_BUCKET_BYTES;
	/* Every rank takes every collective step below, whatever its own
	 * outcome, so that a local failure is an error and not a hang. */
	nb_status st = collect(p);
	if (!st)
		st = make_buckets(p, limit);
	double bad = st ? 1 : 0;
	nb_status sh = nb_dist_allreduce(d, &bad, 1, NB_DIST_MAX);
	if (!st && sh)
		st = sh;
	else if (!st && bad)
		st = nb__set_error(NB_ESTATE, "ddp: another rank failed to set "
		                   "up its buckets");
	if (!st)
		st = nb__dist_agree_params(d, m);
	if (!st)
		st = nb_dist_broadcast_module(d, m);
	if (st) {
		nb_ddp_free(p);
		return NULL;
	}
	return p;
}

void nb_ddp_free(nb_ddp *p)
{
	if (!p)
		return;
	for (size_t k = 0; k < p->n_buckets; k++) {
		/* A broken context's requests may never complete (their
		 * partners were not started): they are left to MPI. */
		if (p->b[k].req != MPI_REQUEST_NULL && !p->broken)
			MPI_Wait(&p->b[k].req, MPI_STATUS_IGNORE);
		nb__free(p->b[k].buf);
	}
	nb__free(p->params);
	nb__free(p->names);
	nb__free(p->bucket_of);
	nb__free(p->ready);
	nb__free(p->lut);
	nb__free(p->b);
	nb__free(p->all);
	nb__free(p);
}

/* Packs bucket k's gradients (zeros for a parameter without one) and
 * starts their sum over the ranks. */
static nb_status start_bucket(nb_ddp *p, size_t k)
{
	bucket *b = &p->b[k];
	char *at = b->buf;
	for (size_t i = b->first; i < b->first + b->count; i++) {
		nb_tensor *x = p->params[i], *gx = x->grad;
		size_t nb = nb__nbytes(x);
		if (gx && gx->numel == x->numel && gx->dtype == x->dtype)
			memcpy(at, gx->data, nb);
		else
			memset(at, 0, nb);
		at += nb;
	}
	b->started = true;
	int rc = MPI_Iallreduce(MPI_IN_PLACE, b->buf, (int)b->numel,
	                        b->dtype == NB_F32 ? MPI_FLOAT : MPI_DOUBLE,
	                        MPI_SUM, p->d->data, &b->req);
	if (rc != MPI_SUCCESS) {
		b->req = MPI_REQUEST_NULL;
		return nb__mpi_fail(rc, "ddp: starting a bucket's allreduce");
	}
	return NB_OK;
}

/* Lets MPI progress the allreduces in flight (Open MPI has no progress
 * thread: non-blocking collectives advance inside MPI calls). */
static void progress(nb_ddp *p)
{
	for (size_t k = 0; k < p->next; k++) {
		if (p->b[k].req == MPI_REQUEST_NULL)
			continue;
		int done = 0;
		MPI_Test(&p->b[k].req, &done, MPI_STATUS_IGNORE);
	}
}

/* Starts the buckets that are complete, in order, from p->next. */
static void start_ready(nb_ddp *p)
{
	while (p->next < p->n_buckets &&
	       p->b[p->next].ready == p->b[p->next].count) {
		nb_status st = start_bucket(p, p->next++);
		if (st && !p->local_err)
			p->local_err = st;
		p->started_in_backward++;
	}
}

/* The engine's gradient-final hook: parameter t is complete. */
static void grad_final(void *ctx, nb_tensor *t)
{
	nb_ddp *p = ctx;
	lookup key = {t, 0};
	const lookup *f = bsearch(&key, p->lut, p->n, sizeof *p->lut,
	                          by_tensor);
	if (!f || p->ready[f->i])
		return;
	p->ready[f->i] = true;
	p->b[p->bucket_of[f->i]].ready++;
	start_ready(p);
	progress(p);
}

nb_status nb_ddp_backward(nb_ddp *p, nb_tensor *loss,
                          const nb_tensor *grad_out)
{
	if (!p)
		return nb__set_error(NB_EINVAL, "ddp_backward: the context is "
		                     "NULL");
	if (p->no_sync)
		return nb_backward(loss, grad_out);
	if (p->next > 0) {
		p->local_err = nb__set_error(NB_ESTATE, "ddp_backward: called "
		    "again before nb_ddp_finish");
		return p->local_err;
	}
	p->started_in_backward = 0;
	nb_graph *g = loss ? loss->graph : NULL;
	if (g && !p->after)
		nb__graph_set_grad_hook(g, grad_final, p);
	nb_status st = nb_backward(loss, grad_out);
	if (g)
		nb__graph_set_grad_hook(g, NULL, NULL);
	if (st && !p->local_err)
		p->local_err = st;
	return st;
}

void nb_ddp_set_no_sync(nb_ddp *p, bool on)
{
	if (p)
		p->no_sync = on;
}

void nb_ddp_set_optim(nb_ddp *p, const nb_optim *o)
{
	if (p)
		p->optim = o;
}


static const char *kind_name(uint64_t k)
{
	return k == KIND_BARRIER ? "at nb_ddp_barrier (out of batches)"
	                         : "in a training step (nb_ddp_finish)";
}

/* The first disagreement on which collectives the ranks are in, as
 * the same error on every rank: then their data collectives do not
 * pair, and the context is broken. */
static nb_status judge_sequence(nb_ddp *p, const uint64_t *all)
{
	for (int r = 1; r < p->d->size; r++) {
		const uint64_t *a = all + (size_t)r * A_N;
		if (a[A_LAYOUT] != all[A_LAYOUT])
			return nb__set_error(NB_ESTATE, "ddp: rank %d's gradient "
			    "buckets differ from rank 0's: every rank must have "
			    "the same parameters", r);
		if (a[A_KIND] != all[A_KIND])
			return nb__set_error(NB_ESTATE, "ddp: rank %d is %s after "
			    "%llu steps and rank 0 is %s after %llu: the ranks "
			    "took different numbers of steps (a rank with fewer "
			    "batches, or a skipped step)", r, kind_name(a[A_KIND]),
			    (unsigned long long)a[A_STEP],
			    kind_name(all[A_KIND]),
			    (unsigned long long)all[A_STEP]);
		if (a[A_STEP] != all[A_STEP])
			return nb__set_error(NB_ESTATE, "ddp: rank %d is at step "
			    "%llu and rank 0 at step %llu: a rank skipped a "
			    "step", r, (unsigned long long)a[A_STEP],
			    (unsigned long long)all[A_STEP]);
	}
	return NB_OK;
}

/* The first disagreement in the ranks' reports all[size][A_N], as the
 * same error on every rank; NB_OK when there is none. */
static nb_status judge(nb_ddp *p, const uint64_t *all)
{
	int size = p->d->size;
	for (int r = 1; r < size; r++) {
		const uint64_t *a = all + (size_t)r * A_N;
		if (a[A_OPTIM] != all[A_OPTIM])
			return nb__set_error(NB_ESTATE, "ddp_finish: rank %d's "
			    "optimizer took %llu steps and rank 0's %llu: a rank "
			    "skipped (or repeated) nb_optim_step, and the ranks' "
			    "parameters differ", r,
			    (unsigned long long)a[A_OPTIM],
			    (unsigned long long)all[A_OPTIM]);
	}
	for (int r = 0; r < size; r++) {
		const uint64_t *a = all + (size_t)r * A_N;
		if (a[A_ERR])
			return nb__set_error(NB_ESTATE, "ddp_finish: backward "
			    "failed on rank %d (%s)", r,
			    nb_strerror((nb_status)a[A_ERR]));
	}
	for (int r = 0; r < size; r++) {
		const uint64_t *a = all + (size_t)r * A_N;
		if (a[A_MISSING])
			return nb__set_error(NB_ESTATE, "ddp_finish: parameter %s "
			    "received no gradient in backward on rank %d (%llu "
			    "without): every trainable parameter must take part "
			    "in the loss on every rank, or be frozen",
			    p->names[a[A_FIRST_MISSING] < p->n
			             ? a[A_FIRST_MISSING] : 0], r,
			    (unsigned long long)a[A_MISSING]);
	}
	return NB_OK;
}

/* Sets each gradient to its bucket's sum over the ranks, divided. */
static nb_status unpack(nb_ddp *p)
{
	double inv = 1.0 / p->d->size;
	for (size_t k = 0; k < p->n_buckets; k++) {
		bucket *b = &p->b[k];
		size_t off = 0;
		for (size_t i = b->first; i < b->first + b->count; i++) {
			nb_tensor *x = p->params[i];
			if (!x->grad && !(x->grad = nb__tensor_like(x)))
				return nb__set_error(NB_ENOMEM, "ddp_finish: out "
				                     "of memory for a gradient");
			if (b->dtype == NB_F32) {
				const float *s = (const float *)b->buf + off;
				float *gx = x->grad->data, f = (float)inv;
				for (size_t e = 0; e < x->numel; e++)
					gx[e] = s[e] * f;
			} else {
				const double *s = (const double *)b->buf + off;
				double *gx = x->grad->data;
				for (size_t e = 0; e < x->numel; e++)
					gx[e] = s[e] * inv;
			}
			off += x->numel;
		}
	}
	return NB_OK;
}

/* Forgets this step's progress. */
static void reset_step(nb_ddp *p)
{
	memset(p->ready, 0, p->n * sizeof *p->ready);
	for (size_t k = 0; k < p->n_buckets; k++) {
		p->b[k].ready = 0;
		p->b[k].started = false;
	}
	p->next = 0;
	p->local_err = NB_OK;
}

/* This rank's report for the agreement check. */
static void report(const nb_ddp *p, uint64_t kind, uint64_t *mine)
{
	size_t missing = 0, first = 0;
	for (size_t i = p->n; kind == KIND_STEP && i-- > 0;)
		if (!p->ready[i] && !p->after) {
			missing++;
			first = i;
		}
	mine[A_KIND] = kind;
	mine[A_LAYOUT] = p->layout;
	mine[A_STEP] = p->steps;
	mine[A_OPTIM] = p->optim ? (uint64_t)nb_optim_step_count(p->optim) : 0;
	mine[A_ERR] = (uint64_t)p->local_err;
	mine[A_MISSING] = missing;
	mine[A_FIRST_MISSING] = first;
}

/* The allgather of every rank's report into p->all; then whether the
 * ranks are in the same collective (else the context breaks). */
static nb_status agree(nb_ddp *p, uint64_t kind)
{
	uint64_t mine[A_N];
	report(p, kind, mine);
	int rc = MPI_Allgather(mine, A_N, MPI_UINT64_T, p->all, A_N,
	                       MPI_UINT64_T, p->d->ctl);
	if (rc != MPI_SUCCESS) {
		p->broken = true;
		return nb__mpi_fail(rc, "ddp: the agreement check");
	}
	nb_status st = judge_sequence(p, p->all);
	if (st)
		p->broken = true;
	return st;
}

static nb_status broken_error(const char *what)
{
	return nb__set_error(NB_ESTATE, "%s: an earlier disagreement between "
	                     "the ranks left collectives unpaired; end the "
	                     "job (nb_dist_abort)", what);
}

nb_status nb_ddp_finish(nb_ddp *p)
{
	if (!p)
		return nb__set_error(NB_EINVAL, "ddp_finish: the context is "
		                     "NULL");
	if (p->no_sync)
		return NB_OK;
	if (p->broken)
		return broken_error("ddp_finish");
	double t0 = now();
	/* Whatever this rank's state, it starts every bucket (in order)
	 * so that the other ranks' allreduces complete. */
	while (p->next < p->n_buckets) {
		nb_status st = start_bucket(p, p->next++);
		if (st && !p->local_err)
			p->local_err = st;
	}
	/* The check comes before the waits: when a rank is elsewhere (at
	 * a barrier, or with other buckets), the buckets never complete,
	 * and waiting would hang. */
	nb_status st = agree(p, KIND_STEP);
	/* Past the check every rank has started every bucket: what is
	 * left to wait is communication that backward did not hide (the
	 * wait before it is mostly the slowest rank arriving). */
	double t1 = now();
	for (size_t k = 0; !p->broken && k < p->n_buckets; k++) {
		int rw = MPI_Wait(&p->b[k].req, MPI_STATUS_IGNORE);
		if (rw != MPI_SUCCESS && !st)
			st = nb__mpi_fail(rw, "ddp_finish: a bucket's allreduce");
	}
	p->wait_seconds += now() - t0;
	p->exposed_seconds += now() - t1;
	if (!st)
		st = judge(p, p->all);
	if (!st)
		st = unpack(p);
	reset_step(p);
	p->steps++;
	return st;
}

nb_status nb_ddp_barrier(nb_ddp *p)
{
	if (!p)
		return nb__set_error(NB_EINVAL, "ddp_barrier: the context is "
		                     "NULL");
	if (p->broken)
		return broken_error("ddp_barrier");
	if (p->next > 0) {
		p->broken = true; /* its buckets are in flight, unwaited */
		return nb__set_error(NB_ESTATE, "ddp_barrier: called between "
		                     "nb_ddp_backward and nb_ddp_finish");
	}
	return agree(p, KIND_BARRIER);
}

nb_ddp_stats nb_ddp_stats_get(const nb_ddp *p)
{
	nb_ddp_stats s = {0};
	if (!p)
		return s;
	s.buckets = p->n_buckets;
	s.params = p->n;
	s.bytes = p->bytes;
	s.steps = p->steps;
	s.started_in_backward = p->started_in_backward;
	s.wait_seconds = p->wait_seconds;
	s.exposed_seconds = p->exposed_seconds;
	return s;
}

#else /* !HAVE_MPI */

struct nb_ddp {
	int unused;
};

nb_ddp *nb_ddp_new(nb_dist *d, nb_module *m, const nb_ddp_opts *o)
{
	(void)o;
	if (!d || !m)
		nb__set_error(NB_EINVAL, "ddp: %s is NULL",
		              d ? "the module" : "the communicator");
	else
		nb__set_error(NB_ESTATE, "ddp: " NB_NO_MPI);
	return NULL;
}

void nb_ddp_free(nb_ddp *p) { nb__free(p); }

nb_status nb_ddp_backward(nb_ddp *p, nb_tensor *loss,
                          const nb_tensor *grad_out)
{
	(void)loss;
	(void)grad_out;
	return nb__set_error(p ? NB_ESTATE : NB_EINVAL, "ddp_backward: %s",
	                     p ? NB_NO_MPI : "the context is NULL");
}

nb_status nb_ddp_finish(nb_ddp *p)
{
	return nb__set_error(p ? NB_ESTATE : NB_EINVAL, "ddp_finish: %s",
	                     p ? NB_NO_MPI : "the context is NULL");
}

void nb_ddp_set_no_sync(nb_ddp *p, bool on)
{
	(void)p;
	(void)on;
}

void nb_ddp_set_optim(nb_ddp *p, const nb_optim *o)
{
	(void)p;
	(void)o;
}

nb_status nb_ddp_barrier(nb_ddp *p)
{
	return nb__set_error(p ? NB_ESTATE : NB_EINVAL, "ddp_barrier: %s",
	                     p ? NB_NO_MPI : "the context is NULL");
}

nb_ddp_stats nb_ddp_stats_get(const nb_ddp *p)
{
	(void)p;
	nb_ddp_stats s = {0};
	return s;
}

#endif /* HAVE_MPI */
