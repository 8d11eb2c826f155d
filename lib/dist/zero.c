/*
 * zero.c - ZeRO stage 1 for Adam and AdamW (nb_zero): the optimizer's
 * state sharded over the ranks, as llm.c and DeepSpeed's stage 1 do.
 *
 * The trainable parameters (one dtype) are laid end to end in a flat
 * vector of T elements, padded to P = size * S.  Rank r owns elements
 * [r S, r S + S): it keeps a tensor `piece` of those S parameters, and
 * an Adam or AdamW over that one tensor, whose state (exp_avg,
 * exp_avg_sq) is therefore S elements instead of T.  A step:
 *   1. the ranks' gradients, packed flat, are summed with
 *      MPI_Reduce_scatter_block: rank r receives the sum of its S
 *      elements only, divided by size (the mean, as nb_ddp);
 *   2. the optimizer steps piece (Adam is element-wise, so updating a
 *      slice equals updating the whole and taking the slice);
 *   3. MPI_Allgather of every rank's piece rebuilds the flat
 *      parameters, which are unpacked into the model.
 * Communication per step: a reduce-scatter and an allgather of the
 * model, the same volume as one ring allreduce (which is those two).
 * Memory: Adam's two state vectors are 2 S = 2 T / size elements.
 * Padding elements have gradient 0 and stay 0.
 */
#include <limits.h>
#include <stdio.h>
#include "dist_internal.h"

#ifdef HAVE_MPI

struct nb_zero {
	nb_dist *d;
	size_t n;             /* parameters */
	nb_tensor **params;
	size_t total, shard;  /* T and S */
	nb_dtype dtype;
	char *flat;           /* P elements */
	nb_tensor *piece;     /* this rank's S parameters */
	nb_optim *opt;
};

static nb_status collect(nb_zero *z, nb_module *m)
{
	const nb_named_tensor *t = NULL;
	size_t nt = nb_module_tensors(m, &t);
	z->params = nb__calloc(nt ? nt : 1, sizeof *z->params);
	if (!z->params)
		return nb__set_error(NB_ENOMEM, "zero: out of memory");
	for (size_t i = 0; i < nt; i++) {
		nb_tensor *x = t[i].tensor;
		if (t[i].buffer || !(x->flags & NB_T_REQUIRES_GRAD))
			continue;
		if (z->n && x->dtype != z->dtype)
			return nb__set_error(NB_EDTYPE, "zero: parameter %s is %s and "
			    "the first %s: one dtype only", t[i].name,
			    nb_dtype_name(x->dtype), nb_dtype_name(z->dtype));
		if (!nb__is_float(x->dtype))
			return nb__set_error(NB_EDTYPE, "zero: parameter %s is %s",
			                     t[i].name, nb_dtype_name(x->dtype));
		z->dtype = x->dtype;
		z->params[z->n++] = x;
		z->total += x->numel;
	}
	size_t p = (size_t)z->d->size;
	z->shard = z->total / p + (z->total % p != 0);
	if (!z->shard)
		z->shard = 1;
	if (z->shard > (size_t)INT_MAX)
		return nb__set_error(NB_EINVAL, "zero: %zu elements per rank, "
		                     "more than one MPI call takes", z->shard);
	return NB_OK;
}

/* Flat vector <-> parameters (to_flat: gradients, else values). */
static void pack_grads(nb_zero *z)
{
	size_t es = nb_dtype_size(z->dtype), at = 0;
	memset(z->flat, 0, z->shard * (size_t)z->d->size * es);
	for (size_t i = 0; i < z->n; i++) {
		nb_tensor *x = z->params[i], *g = x->grad;
		if (g && g->numel == x->numel && g->dtype == x->dtype)
			memcpy(z->flat + at * es, g->data, x->numel * es);
		at += x->numel;
	}
}

static void unpack_values(nb_zero *z)
{
	size_t es = nb_dtype_size(z->dtype), at = 0;
	for (size_t i = 0; i < z->n; i++) {
		nb_tensor *x = z->params[i];
		memcpy(x->data, z->flat + at * es, x->numel * es);
		at += x->numel;
	}
}

/* This rank's slice of the parameters into piece. */
static void take_piece(nb_zero *z)
{
	size_t es = nb_dtype_size(z->dtype), at = 0;
	memset(z->flat, 0, z->shard * (size_t)z->d->size * es);
	for (size_t i = 0; i < z->n; i++) {
		memcpy(z->flat + at * es, z->params[i]->data,
		       z->params[i]->numel * es);
		at += z->params[i]->numel;
	}
	memcpy(z->piece->data, z->flat + (size_t)z->d->rank * z->shard * es,
	       z->shard * es);
}

nb_zero *nb_zero_new(nb_dist *d, nb_module *m, const nb_adam_opts *o,
                     bool decoupled)
{
	if (!d || !m) {
		nb__set_error(NB_EINVAL, "zero: %s is NULL",
		              d ? "the module" : "the communicator");
		return NULL;
	}
	nb_zero *z = nb__calloc(1, sizeof *z);
	if (!z) {
		nb__set_error(NB_ENOMEM, "zero: out of memory");
		return NULL;
	}
	z->d = d;
	nb_status st = collect(z, m);
	if (!st) {
		int64_t s = (int64_t)z->shard;
		z->flat = nb__malloc(z->shard * (size_t)d->size *
		                     nb_dtype_size(z->dtype ? z->dtype : NB_F32));
		z->piece = z->n ? nb_tensor_zeros(z->dtype, 1, &s) : NULL;
		if (!z->flat || (z->n && !z->piece))
			st = nb__set_error(NB_ENOMEM, "zero: out of memory");
		if (!st && z->n)
			st = nb_tensor_set_requires_grad(z->piece, true);
		if (!st && z->n && !(z->piece->grad = nb__tensor_like(z->piece)))
			st = nb__set_error(NB_ENOMEM, "zero: out of memory");
		if (!st && z->n && !(z->opt = decoupled
		        ? nb_optim_adamw(&z->piece, 1, o)
		        : nb_optim_adam(&z->piece, 1, o)))
			st = nb_last_status();
	}
	/* As nb_ddp_new: every rank takes every collective step. */
	double bad = st ? 1 : 0;
	nb_status sh = nb_dist_allreduce(d, &bad, 1, NB_DIST_MAX);
	if (!st && (sh || bad))
		st = sh ? sh : nb__set_error(NB_ESTATE, "zero: another rank "
		                             "failed to set up");
	if (!st)
		st = nb__dist_agree_params(d, m);
	if (!st)
		st = nb_dist_broadcast_module(d, m);
	if (st) {
		nb_zero_free(z);
		return NULL;
	}
	if (z->n)
		take_piece(z);
	return z;
}

void nb_zero_free(nb_zero *z)
{
	if (!z)
		return;
	nb_optim_free(z->opt);
	nb_tensor_free(z->piece);
	nb__free(z->flat);
	nb__free(z->params);
	nb__free(z);
}

nb_status nb_zero_step(nb_zero *z)
{
	if (!z)
		return nb__set_error(NB_EINVAL, "zero_step: the context is NULL");
	if (!z->n)
		return NB_OK;
	MPI_Datatype t = z->dtype == NB_F32 ? MPI_FLOAT : MPI_DOUBLE;
	pack_grads(z);
	int rc = MPI_Reduce_scatter_block(z->flat, z->piece->grad->data,
	                                  (int)z->shard, t, MPI_SUM,
	                                  z->d->data);
	if (rc != MPI_SUCCESS)
		return nb__mpi_fail(rc, "zero_step: the gradients' "
		                    "reduce-scatter");
	double inv = 1.0 / z->d->size;
	for (size_t i = 0; i < z->shard; i++)
		nb_tensor_set(z->piece->grad, i,
		              nb_tensor_get(z->piece->grad, i) * inv);
	nb_status st = nb_optim_step(z->opt);
	/* Whatever the step's outcome, every rank takes the allgather. */
	rc = MPI_Allgather(z->piece->data, (int)z->shard, t, z->flat,
	                   (int)z->shard, t, z->d->data);
	if (rc != MPI_SUCCESS)
		return nb__mpi_fail(rc, "zero_step: the parameters' allgather");
	if (!st)
		unpack_values(z);
	return st;
}

nb_optim *nb_zero_optim(const nb_zero *z)
{
	return z ? z->opt : NULL;
}

size_t nb_zero_shard_numel(const nb_zero *z)
{
	return z && z->n ? z->shard : 0;
}

#else /* !HAVE_MPI */

struct nb_zero {
	int unused;
};

nb_zero *nb_zero_new(nb_dist *d, nb_module *m, const nb_adam_opts *o,
                     bool decoupled)
{
	(void)o;
	(void)decoupled;
	nb__set_error(d && m ? NB_ESTATE : NB_EINVAL, "zero: %s",
	              d && m ? NB_NO_MPI : "the module or communicator is "
	                                   "NULL");
	return NULL;
}

void nb_zero_free(nb_zero *z) { nb__free(z); }

nb_status nb_zero_step(nb_zero *z)
{
	return nb__set_error(z ? NB_ESTATE : NB_EINVAL, "zero_step: %s",
	                     z ? NB_NO_MPI : "the context is NULL");
}

nb_optim *nb_zero_optim(const nb_zero *z)
{
	(void)z;
	return NULL;
}

size_t nb_zero_shard_numel(const nb_zero *z)
{
	(void)z;
	return 0;
}

#endif /* HAVE_MPI */
