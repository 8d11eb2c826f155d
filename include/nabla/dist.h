/*
 * nabla/dist.h - data-parallel training across processes on MPI.
 *
 * Every process (an MPI *rank*) holds the whole model, takes its share of
 * each batch (nb_dist_shard), runs forward and backward on it, and the
 * gradients are averaged over the ranks before the optimizer step, so
 * that every rank takes the same step: the one a single process would
 * take on the global batch.  MPI is the transport (Open MPI on Debian);
 * nabla does not include <mpi.h> in its public headers.  Start the ranks
 * with mpirun (doc/distributed.md):
 *
 *     mpirun -np 2 ./train
 *
 * One step, as PyTorch's DistributedDataParallel does it:
 *
 *     nb_ddp *p = nb_ddp_new(d, model, NULL);  // checks, broadcasts
 *     ...
 *     nb_module_zero_grad(model);
 *     loss = ...forward on this rank's shard...;
 *     nb_ddp_backward(p, loss, NULL);  // allreduces start during it
 *     nb_ddp_finish(p);                // waits: gradients averaged
 *     nb_optim_step(opt);
 *
 * Availability.  MPI is optional at build time (configure --with-mpi,
 * on by default when found).  In a build without it nb_dist_available()
 * is false and every call that needs MPI fails with NB_ESTATE, "nabla
 * was built without MPI"; nb_dist_shard works in every build.
 *
 * Collective calls.  Calls marked "collective" must be made by every
 * rank of the communicator, in the same order: MPI matches them by
 * order.  nabla makes a disagreement an error rather than a hang where
 * it can (different parameters, a parameter without gradient, a rank
 * whose backward failed: every rank gets the same error), but a rank
 * that stops calling collectives while the others go on still blocks
 * them, as in every MPI program: end a failed run with
 * nb_dist_abort().
 */
#ifndef NABLA_DIST_H
#define NABLA_DIST_H

#include "model.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A communicator: the ranks that train together.  Opaque. */
typedef struct nb_dist nb_dist;

/* Whether this build of nabla has MPI. */
bool nb_dist_available(void);

/*
 * Joins the job started by mpirun: initializes MPI (MPI_Init_thread
 * with MPI_THREAD_FUNNELED: only the calling thread talks to MPI, and
 * with Open MPI's mpi_yield_when_idle on unless the environment sets
 * OMPI_MCA_mpi_yield_when_idle: waiting ranks yield their core instead
 * of spinning on it) unless it already is, and returns a communicator
 * of all the ranks (a
 * duplicate of MPI_COMM_WORLD).  argc and argv may be NULL.  Collective.
 * Free with nb_dist_free, which finalizes MPI if this call initialized
 * it.  NULL on error with nb_last_error(): NB_ESTATE without MPI or when
 * MPI was already finalized, NB_EIO if MPI fails, NB_ENOMEM.
 */
nb_dist *nb_dist_init(int *argc, char ***argv);
/*
 * A communicator of the ranks of an existing MPI communicator, for
 * programs that set up MPI themselves: mpi_comm points to an MPI_Comm
 * (&comm), which nabla duplicates (MPI_Comm_dup, collective); the
 * caller keeps and frees its own.  MPI must be initialized, and
 * nb_dist_free then leaves it so.  NULL on error as nb_dist_init
 * (NB_EINVAL for a NULL mpi_comm).
 */
nb_dist *nb_dist_adopt(const void *mpi_comm);
/* Frees d's communicators (collective) and finalizes MPI if
 * nb_dist_init initialized it.  NULL is a no-op. */
void nb_dist_free(nb_dist *d);
/*
 * Ends every rank of d's job at once (MPI_Abort) with exit code code,
 * after printing msg (may be NULL) on stderr: for an error on one rank
 * that the others cannot know of.  Without MPI or with a NULL d it
 * exits this process only.  Does not return.
 */
void nb_dist_abort(nb_dist *d, int code, const char *msg);

/* This process's rank (0..size-1) and the number of ranks; -1 and 0 for
 * a NULL d. */
int nb_dist_rank(const nb_dist *d);
int nb_dist_size(const nb_dist *d);

/*
 * The seed of rank rank's generators (dropout masks, nb_graph_seed)
 * derived from the job's seed: seed itself for rank 0 (so one rank
 * draws what a process without nb_dist draws), else seed + rank *
 * 0x9E3779B97F4A7C15 (the golden-ratio increment of splitmix64, which
 * nb_rng_seed runs its seed through, so the ranks' streams are
 * unrelated).  Reproducible: the same seed and rank give the same
 * masks.  Data order and initialization must not use it: they take the
 * job's seed, the same on every rank.  Needs no MPI.
 */
uint64_t nb_dist_rank_seed(uint64_t seed, int rank);

/*
 * Collective: checks that every rank's module m has the same tensors
 * (names, dtypes, shapes, in the same order) and then copies rank 0's
 * parameters and buffers to every rank, so that training starts from one
 * model.  NB_ESTATE on every rank when the modules differ, naming the
 * first rank that differs from rank 0; NB_EINVAL for a NULL d or m.
 */
nb_status nb_dist_broadcast_module(nb_dist *d, nb_module *m);

/* How nb_dist_allreduce combines. */
typedef enum nb_dist_reduce {
	NB_DIST_SUM = 0,
	NB_DIST_MEAN,   /* the sum divided by the number of ranks */
	NB_DIST_MIN,
	NB_DIST_MAX
} nb_dist_reduce;

/* Collective: v[0..n-1] becomes the element-wise sum (mean, min, max)
 * of every rank's v, on every rank: for metrics (loss sums, counts of
 * correct answers).  NB_EINVAL for a NULL d or v or a bad op. */
nb_status nb_dist_allreduce(nb_dist *d, double *v, size_t n,
                            nb_dist_reduce op);

/* Collective: every rank gets rank 0's status; for a result only rank 0
 * computed (a checkpoint written), so that every rank fails alike. */
nb_status nb_dist_share_status(nb_dist *d, nb_status st);

/*
 * Saves m and o as nb_checkpoint_save on rank 0 only (the file is
 * written atomically, as there), then shares the outcome: every rank
 * returns rank 0's status.  Collective.  The other ranks load a
 * checkpoint as usual (nb_module_load), every rank the same file.
 */
nb_status nb_dist_checkpoint_save(nb_dist *d, const char *path,
                                  nb_module *m, const nb_optim *o,
                                  const char *const *meta);

/* ---- gradient averaging (DistributedDataParallel) ---- */

typedef struct nb_ddp nb_ddp;

/* Options of nb_ddp_new; zeroed fields take the defaults. */
typedef struct nb_ddp_opts {
	/* Bytes of gradient per bucket (one MPI_Iallreduce each); 0: 25 MiB,
	 * as PyTorch, whose first bucket (the last layers') is also at most
	 * 1 MiB, so that communication starts early in backward.  A tensor
	 * larger than this gets a bucket of its own. */
	size_t bucket_bytes;
	/* Start each bucket's allreduce after backward rather than during
	 * it (for measurements and debugging; the result is the same, but
	 * a parameter without gradient is then not detected: its gradient,
	 * or zeros, is averaged). */
	bool after_backward;
} nb_ddp_opts;

/*
 * Collective: averages the gradients of m's trainable parameters over
 * d's ranks.  Checks that every rank has the same parameters (names,
 * dtypes, shapes, order), broadcasts rank 0's parameters and buffers
 * (nb_dist_broadcast_module), and groups the parameters into buckets of
 * about o->bucket_bytes in reverse parameter order (the order backward
 * completes them), the same on every rank.  m and d are borrowed and
 * must outlive the result; parameters frozen or thawed later keep their
 * bucket (a frozen one sends zeros).  NULL on error with nb_last_error()
 * (NB_ESTATE when the ranks' models differ, on every rank; NB_EINVAL;
 * NB_ENOMEM).  Free with nb_ddp_free.
 */
nb_ddp *nb_ddp_new(nb_dist *d, nb_module *m, const nb_ddp_opts *o);
void nb_ddp_free(nb_ddp *p);

/*
 * nb_backward(loss, grad_out) that starts the allreduce of each bucket
 * (MPI_Iallreduce) as soon as backward has completed every gradient in
 * it, in bucket order, so that communication overlaps the rest of
 * backward.  In no_sync mode, or with the after_backward option, it is
 * nb_backward alone.  Returns nb_backward's status; whatever it is,
 * every rank must then call nb_ddp_finish (unless in no_sync mode), which
 * tells all ranks about a failure here.
 */
nb_status nb_ddp_backward(nb_ddp *p, nb_tensor *loss,
                          const nb_tensor *grad_out);
/*
 * Collective: starts the allreduces backward did not start, checks that
 * the ranks agree (same bucket layout, step count and optimizer step
 * count (nb_ddp_set_optim), every parameter reached by backward on
 * every rank, no backward failed), waits, and sets each
 * parameter's gradient to the mean of the ranks' gradients (a parameter
 * without a gradient tensor gets one).  Call it after nb_ddp_backward
 * and before the optimizer step.  NB_ESTATE, the same on every rank,
 * when they disagree: then no gradient is changed.  NB_EIO if MPI fails.
 */
nb_status nb_ddp_finish(nb_ddp *p);
/*
 * Gradient accumulation: while on, nb_ddp_backward only accumulates
 * into the local gradients and nb_ddp_finish does nothing; the first
 * synchronized step after it averages the sum of everything accumulated
 * (PyTorch's no_sync()).
 */
void nb_ddp_set_no_sync(nb_ddp *p, bool on);
/*
 * Makes nb_ddp_finish also check that every rank's optimizer o has
 * taken the same number of steps (nb_optim_step_count), so that a rank
 * that skipped (or repeated) nb_optim_step is an error on every rank at
 * the next step instead of parameters that drift apart silently.  o is
 * borrowed (NULL stops the check); set it on every rank or none.
 */
void nb_ddp_set_optim(nb_ddp *p, const nb_optim *o);
/*
 * Collective: a point where every rank must have taken the same number
 * of steps, such as the end of an epoch.  It runs the same agreement
 * check as nb_ddp_finish, so a rank that ran out of batches early and
 * reached here pairs with the others' next nb_ddp_finish, and every rank
 * gets NB_ESTATE ("rank 1 is at nb_ddp_barrier after 2 steps and rank 0
 * is in a training step after 2") instead of a hang.  Call it before
 * any other collective that follows a loop of steps (an evaluation's
 * allreduce): a collective of another kind would not pair with the
 * check.  A disagreement in step counts, kinds or bucket layouts
 * breaks p: the gradient allreduces in flight can never complete, so
 * later calls fail at once and the job should end (nb_dist_abort).
 */
nb_status nb_ddp_barrier(nb_ddp *p);

/* Figures of a gradient-averaging context (nb_ddp_stats). */
typedef struct nb_ddp_stats {
	size_t buckets;        /* number of buckets */
	size_t params;         /* parameters averaged */
	size_t bytes;          /* gradient bytes per step */
	uint64_t steps;        /* nb_ddp_finish calls that communicated */
	size_t started_in_backward; /* buckets started during the last
	                               backward (the rest by finish) */
	double wait_seconds;   /* time blocked in finish, all steps */
	/* The part of it after the agreement check, when every rank has
	 * started every bucket: allreduce time that backward did not hide,
	 * without the wait for the slowest rank to arrive. */
	double exposed_seconds;
} nb_ddp_stats;
/* p's figures; zeroes for a NULL p. */
nb_ddp_stats nb_ddp_stats_get(const nb_ddp *p);

/* ---- sync_batch_norm (PyTorch's nn.SyncBatchNorm) ---- */

/*
 * Swaps every batch_norm layer (nb_op_layer_new of the registered
 * batch_norm op, anywhere under m) for a sync_batch_norm layer over d's
 * ranks, keeping its tensors, their names and values, and its momentum
 * and eps (torch.nn.SyncBatchNorm.convert_sync_batchnorm).  In training
 * mode sync_batch_norm takes the batch statistics over the samples of
 * every rank (two MPI_Allreduce of C+1 and C doubles per layer in
 * forward, one of 2C in backward), so that each rank's output and
 * gradients are those of batch_norm over the global batch; running
 * statistics use the global count (unbiased variance) and every rank's
 * are the same.  In evaluation mode it is batch_norm.  Every rank must
 * run the layers in the same order (the same model): their forward and
 * backward are collective on d.  d is borrowed and must outlive m's
 * use (a layer whose communicator was freed fails with NB_ESTATE).
 * *converted (may be NULL) gets the number of layers swapped.
 * NB_EINVAL for a NULL m or d; NB_ENOMEM.
 */
nb_status nb_sync_batch_norm_convert(nb_module *m, nb_dist *d,
                                     size_t *converted);
/*
 * A new sync_batch_norm layer (as batch_norm's: weight, bias,
 * running_mean, running_var, num_batches_tracked, for `features`
 * channels) over d's ranks; d may be NULL, or have one rank, and then
 * the layer computes plain batch_norm (also in a build without MPI).
 * NULL on error with nb_last_error(), as nb_op_layer_new.
 */
nb_module *nb_sync_batch_norm_new(const char *name, nb_dist *d,
                                  int64_t features, nb_dtype dt);

/* ---- ZeRO stage 1: sharded Adam / AdamW state ---- */

typedef struct nb_zero nb_zero;

/*
 * Collective: an Adam (decoupled false) or AdamW (true) with options o
 * (NULL: the defaults) over m's trainable parameters whose state is
 * sharded over d's ranks (ZeRO stage 1): each rank keeps the moments of
 * about 1/size of the elements.  m's parameters must share one dtype.
 * Checks that the ranks' models agree and broadcasts rank 0's, as
 * nb_ddp_new.  Use it instead of nb_ddp and nb_optim_step: each step,
 * nb_backward on this rank's shard of the batch (mean loss), then
 * nb_zero_step.  One parameter group: weight decay applies to every
 * element (no nb_optim_adamw_no_decay split).  m and d are borrowed.
 * NULL on error with nb_last_error() (NB_EDTYPE for mixed dtypes,
 * NB_ESTATE when the ranks' models differ, NB_ENOMEM).
 */
nb_zero *nb_zero_new(nb_dist *d, nb_module *m, const nb_adam_opts *o,
                     bool decoupled);
void nb_zero_free(nb_zero *z);
/*
 * Collective: the gradients' mean over the ranks, reduced and
 * scattered (MPI_Reduce_scatter_block: each rank gets its own slice),
 * an optimizer step on this rank's slice, and MPI_Allgather of the
 * updated slices into every rank's parameters.  No communication
 * overlaps backward, and no step agreement is checked (unlike
 * nb_ddp_finish).  NB_EIO if MPI fails.
 */
nb_status nb_zero_step(nb_zero *z);
/* The optimizer of this rank's slice (borrowed): for nb_optim_set_lr,
 * schedules and its state (nb_optim_state_find(o, "0.exp_avg") has
 * nb_zero_shard_numel elements).  NULL for a NULL z. */
nb_optim *nb_zero_optim(const nb_zero *z);
/* Elements of parameters (and of each moment) this rank keeps. */
size_t nb_zero_shard_numel(const nb_zero *z);

/* ---- distributed sampler ---- */

/* Flags of nb_dist_shard. */
#define NB_SHARD_SHUFFLE   1u  /* a permutation (else 0..n-1 in order) */
#define NB_SHARD_DROP_LAST 2u  /* drop the remainder instead of padding */

/*
 * The number of indices each of size ranks gets from n samples, as
 * PyTorch's DistributedSampler: ceil(n / size) when padding, floor(n /
 * size) with NB_SHARD_DROP_LAST.  0 for size < 1.
 */
size_t nb_dist_shard_len(size_t n, int size, unsigned flags);
/*
 * Rank rank's share of n samples for one epoch, as PyTorch's
 * DistributedSampler: a permutation of 0..n-1 drawn from seed + epoch
 * (the same on every rank, a new one each epoch; nb_shuffle with an
 * nb_rng seeded so), unless NB_SHARD_SHUFFLE is off; padded to a
 * multiple of size by repeating its start, or cut to one with
 * NB_SHARD_DROP_LAST; then every size-th index from position rank.
 * The ranks' shares are disjoint apart from the padding and cover every
 * sample (all but the dropped ones).  Writes nb_dist_shard_len indices
 * into idx (cap at least that).  Needs no MPI.  NB_EINVAL for a NULL
 * idx, size < 1, rank out of 0..size-1 or a cap too small (with the
 * numbers).
 */
nb_status nb_dist_shard(size_t n, uint64_t seed, uint64_t epoch, int rank,
                        int size, unsigned flags, int64_t *idx, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
