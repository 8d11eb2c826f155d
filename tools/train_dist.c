/*
 * train_dist.c - `nabla train --dist` (doc/distributed.md): one process
 * per rank under mpirun, the global batch (--batch) cut into one
 * contiguous share per rank, the same epoch order everywhere (the
 * sampler's permutation of seed + epoch), gradients averaged by nb_ddp,
 * the test set evaluated in shards whose sums are combined.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "train_dist.h"

int td_init(train_dist *td)
{
	memset(td, 0, sizeof *td);
	td->size = 1;
	if (!(td->d = nb_dist_init(NULL, NULL))) {
		fprintf(stderr, "nabla train: --dist: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	td->rank = nb_dist_rank(td->d);
	td->size = nb_dist_size(td->d);
	/* Everything on standard output is a report: rank 0's alone.
	 * Errors (stderr) stay, prefixed by nothing: each rank's own. */
	if (td->rank != 0 && !freopen("/dev/null", "w", stdout)) {
		fprintf(stderr, "nabla train: rank %d: cannot silence standard "
		        "output\n", td->rank);
		return td_fail(td, CLI_FAIL);
	}
	return CLI_OK;
}

void td_threads(const train_dist *td)
{
	/* Open MPI's, then MPICH's count of this node's ranks. */
	const char *v = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
	if (!v)
		v = getenv("MPI_LOCALNRANKS");
	long local = v ? strtol(v, NULL, 10) : 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (!td->d || getenv("NB_NUM_THREADS") || local < 1 || cores < 1)
		return;
	nb_set_num_threads(cores / local > 1 ? (int)(cores / local) : 1);
}

void td_free(train_dist *td)
{
	nb_ddp_free(td->ddp);
	nb_dist_free(td->d);
	td->ddp = NULL;
	td->d = NULL;
}

bool td_leader(const train_dist *td)
{
	return !td->d || td->rank == 0;
}

int td_fail(const train_dist *td, int rc)
{
	if (td->d && rc) {
		char msg[64];
		snprintf(msg, sizeof msg, "nabla train: rank %d failed: ending "
		         "all %d ranks", td->rank, td->size);
		nb_dist_abort(td->d, rc, msg);
	}
	return rc;
}

int td_setup(train_dist *td, nb_module *m, nb_optim *o, bool sync_bn,
             double bucket_mb)
{
	if (!td->d)
		return CLI_OK;
	size_t swapped = 0;
	if (sync_bn && nb_sync_batch_norm_convert(m, td->d, &swapped)) {
		fprintf(stderr, "nabla train: --sync-bn: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (sync_bn && td_leader(td))
		printf("sync_batch_norm: %zu batch_norm layer%s over %d ranks\n",
		       swapped, swapped == 1 ? "" : "s", td->size);
	/* A measurement knob (tools/bench/dist.sh): every bucket's
	 * allreduce after backward, for the time nothing hides. */
	const char *after = getenv("NABLA_DDP_AFTER_BACKWARD");
	nb_ddp_opts opts = {.after_backward = after && *after == '1',
	                    .bucket_bytes = (size_t)(bucket_mb * 1048576)};
	if (!(td->ddp = nb_ddp_new(td->d, m, &opts))) {
		fprintf(stderr, "nabla train: --dist: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	nb_ddp_set_optim(td->ddp, o);
	return CLI_OK;
}

nb_status td_order(const train_dist *td, size_t n, uint64_t seed,
                   uint64_t epoch, int64_t *idx)
{
	(void)td;
	return nb_dist_shard(n, seed, epoch, 0, 1, NB_SHARD_SHUFFLE, idx, n);
}

size_t td_share(const train_dist *td, size_t k, size_t *off)
{
	size_t p = (size_t)td->size, r = (size_t)td->rank;
	size_t q = k / p, rem = k % p;
	*off = r * q + (r < rem ? r : rem);
	return q + (r < rem);
}

nb_status td_backward(train_dist *td, nb_tensor *total)
{
	if (!td->ddp)
		return nb_backward(total, NULL);
	nb_status st = nb_ddp_backward(td->ddp, total, NULL);
	/* A failed backward still takes part in the check, which reports
	 * it on every rank. */
	nb_status fin = nb_ddp_finish(td->ddp);
	return st ? st : fin;
}

nb_status td_epoch_sums(train_dist *td, double *v, size_t n)
{
	if (!td->d)
		return NB_OK;
	nb_status st = td->ddp ? nb_ddp_barrier(td->ddp) : NB_OK;
	return st ? st : nb_dist_allreduce(td->d, v, n, NB_DIST_SUM);
}

/* Rows [off, off + k) of t as a borrowed tensor. */
static nb_tensor *rows(nb_tensor *t, size_t off, size_t k)
{
	int64_t shape[8];
	int nd = nb_tensor_ndim(t);
	if (nd < 1 || nd > 8)
		return NULL;
	for (int i = 0; i < nd; i++)
		shape[i] = nb_tensor_dim(t, i);
	size_t n0 = (size_t)shape[0];
	size_t row = n0 ? nb_tensor_numel(t) / n0 : 0;
	shape[0] = (int64_t)k;
	return nb_tensor_from_data(nb_tensor_dtype(t), nd, shape,
	                           (char *)nb_tensor_data(t) + off * row *
	                           nb_dtype_size(nb_tensor_dtype(t)),
	                           NB_BORROW);
}

int td_evaluate(train_dist *td, nb_module *m, nb_graph *g, loss_kind l,
                nb_tensor *x, nb_tensor *y, size_t batch, double *loss,
                double *metric)
{
	if (!td->d)
		return train_evaluate(m, g, l, x, y, batch, loss, metric);
	/* Without sync_batch_norm the ranks' running statistics differ:
	 * rank 0's count, as PyTorch's DDP broadcasts its buffers. */
	nb_status st = nb_dist_broadcast_module(td->d, m);
	size_t off, k = td_share(td, (size_t)nb_tensor_dim(x, 0), &off);
	double s[3] = {0, 0, (double)k}, lo = 0, a = 0;
	int rc = st ? CLI_FAIL : CLI_OK;
	if (st)
		fprintf(stderr, "nabla train: rank %d: %s\n", td->rank,
		        nb_last_error());
	if (!rc && k) {
		nb_tensor *xs = rows(x, off, k), *ys = rows(y, off, k);
		if (!xs || !ys)
			fprintf(stderr, "nabla train: rank %d: %s\n", td->rank,
			        nb_last_error());
		rc = xs && ys ? train_evaluate(m, g, l, xs, ys, batch, &lo, &a)
		              : CLI_FAIL;
		nb_tensor_free(xs);
		nb_tensor_free(ys);
		s[0] = lo * (double)k;
		s[1] = a * (double)k;
	}
	/* A rank that failed ends the job: the others wait in the sum. */
	if (rc)
		td_fail(td, CLI_FAIL);
	if (nb_dist_allreduce(td->d, s, 3, NB_DIST_SUM)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	*loss = s[0] / s[2];
	*metric = s[1] / s[2];
	return CLI_OK;
}

void td_summary(const train_dist *td, bool json)
{
	nb_ddp_stats s = nb_ddp_stats_get(td->ddp);
	if (!td->ddp || !s.steps)
		return;
	double per = s.steps ? 1e3 / (double)s.steps : 0;
	double wait = s.wait_seconds * per, exp = s.exposed_seconds * per;
	if (json)
		printf("{\"event\": \"dist\", \"ranks\": %d, \"buckets\": %zu, "
		       "\"gradient_bytes\": %zu, \"steps\": %llu, "
		       "\"started_in_backward\": %zu, \"wait_ms_per_step\": "
		       "%.4f, \"exposed_ms_per_step\": %.4f}\n", td->size,
		       s.buckets, s.bytes, (unsigned long long)s.steps,
		       s.started_in_backward, wait, exp);
	else
		printf("ddp: %d ranks, %zu bucket%s, %.2f MB of gradient per step, "
		       "%zu started during backward; rank 0 waited %.3f ms per "
		       "step (%.3f ms after every rank had started its "
		       "buckets)\n", td->size, s.buckets,
		       s.buckets == 1 ? "" : "s", (double)s.bytes / 1e6,
		       s.started_in_backward, wait, exp);
}
