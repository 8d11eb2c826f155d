/*
 * train_dist.h - what `nabla train --dist` adds to a training run
 * (tools/train_dist.c): the MPI job, each rank's share of a global
 * batch, gradient averaging, and an evaluation over the whole test set.
 * Every function is a no-op (or the one-process behaviour) when td->d is
 * NULL, so cmd_train.c calls them unconditionally.
 */
#ifndef NB_TRAIN_DIST_H
#define NB_TRAIN_DIST_H

#include "cli.h"
#include "train_data.h"

typedef struct train_dist {
	nb_dist *d;     /* NULL: one process, as without --dist */
	nb_ddp *ddp;    /* gradient averaging, once the model is built */
	int rank, size; /* 0 and 1 without --dist */
} train_dist;

/* --dist: joins the MPI job (nb_dist_init) and, on every rank but 0,
 * sends standard output to /dev/null, so that logs, JSON and results
 * come from rank 0 alone.  CLI_FAIL with a message when nabla has no
 * MPI or MPI fails. */
int td_init(train_dist *td);
/* Without --threads or NB_NUM_THREADS: the cores shared among this
 * node's ranks (mpirun's OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's
 * MPI_LOCALNRANKS), at least 1 each, so that they do not oversubscribe
 * the node as one thread per core each would. */
void td_threads(const train_dist *td);
/* Leaves the job (finalizes MPI); td may be zeroed. */
void td_free(train_dist *td);
/* Whether this process reports: rank 0, or the only process. */
bool td_leader(const train_dist *td);
/* A failure with rc on this rank: under --dist, every rank is ended
 * with it (MPI_Abort; the message was printed already); else rc. */
int td_fail(const train_dist *td, int rc);
/* After the model and optimizer are built: swaps batch_norm layers for
 * sync_batch_norm when sync_bn, then checks that the ranks' models
 * agree, broadcasts rank 0's, and sets up gradient averaging in
 * buckets of bucket_mb MiB (0: nb_ddp's default, 25). */
int td_setup(train_dist *td, nb_module *m, nb_optim *o, bool sync_bn,
             double bucket_mb);
/* The epoch's order of n samples: the same permutation on every rank,
 * from seed + epoch (nb_dist_shard as one rank). */
nb_status td_order(const train_dist *td, size_t n, uint64_t seed,
                   uint64_t epoch, int64_t *idx);
/* This rank's rows of a global batch of k: *off and the count, k/size
 * or one more for the first k % size ranks. */
size_t td_share(const train_dist *td, size_t k, size_t *off);
/* Backward of total, then (under --dist) the gradients averaged over
 * the ranks. */
nb_status td_backward(train_dist *td, nb_tensor *total);
/* End of an epoch: every rank must have taken the same steps
 * (nb_ddp_barrier); then v[0..n) summed over the ranks. */
nb_status td_epoch_sums(train_dist *td, double *v, size_t n);
/* train_evaluate (loss l) over the whole test set (x, y), each rank a
 * contiguous shard, the loss and the metric weighted by the rows and
 * summed over the ranks; rank 0's buffers (running statistics) first go
 * to every rank.  CLI_OK, or CLI_FAIL with the error printed. */
int td_evaluate(train_dist *td, nb_module *m, nb_graph *g, loss_kind l,
                nb_tensor *x, nb_tensor *y, size_t batch, double *loss,
                double *metric);
/* Rank 0: the gradient averaging's figures (buckets, bytes, time
 * waited per step), a line of text or a JSON "dist" event. */
void td_summary(const train_dist *td, bool json);

#endif
