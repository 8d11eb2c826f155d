/*
 * comm.c - the communicator (nb_dist): joining the MPI job, broadcast of
 * a module from rank 0, allreduce of metrics, checkpoints by rank 0.
 *
 * Without MPI (no HAVE_MPI) every call that needs it fails with
 * NB_ESTATE and NB_NO_MPI; the hash below is shared with ddp.c.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include "dist_internal.h"

uint64_t nb__dist_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* The live communicators, by id, for sync_batch_norm's "group"
 * attribute (an op's attributes are numbers, not pointers).  Ids are
 * never reused, so a layer left with a freed communicator's id fails
 * rather than talking to another one. */
#define MAX_LIVE 64
static nb_dist *live[MAX_LIVE];

nb_dist *nb__dist_by_id(int64_t id)
{
	for (int i = 0; id > 0 && i < MAX_LIVE; i++)
		if (live[i] && live[i]->id == id)
			return live[i];
	return NULL;
}

#ifdef HAVE_MPI
static int64_t last_id;

/* Gives d an id and a place among the live ones (none when full: d
 * then cannot serve sync_batch_norm, which says so). */
static void enlist(nb_dist *d)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = d;
			d->id = ++last_id;
			return;
		}
}
#endif

static void delist(nb_dist *d)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (live[i] == d)
			live[i] = NULL;
}

bool nb_dist_available(void)
{
#ifdef HAVE_MPI
	return true;
#else
	return false;
#endif
}

int nb_dist_rank(const nb_dist *d) { return d ? d->rank : -1; }
int nb_dist_size(const nb_dist *d) { return d ? d->size : 0; }

#ifdef HAVE_MPI

nb_status nb__mpi_fail(int rc, const char *what)
{
	char msg[MPI_MAX_ERROR_STRING];
	int n = 0;
	if (MPI_Error_string(rc, msg, &n) != MPI_SUCCESS)
		snprintf(msg, sizeof msg, "error %d", rc);
	return nb__set_error(NB_EIO, "%s: MPI failed: %s", what, msg);
}

/* How many live communicators nb_dist_init made after initializing MPI
 * itself: the last one freed finalizes. */
static int owned_live;

/* A communicator over two duplicates of comm that return errors. */
static nb_dist *dist_over(MPI_Comm comm, bool owns)
{
	nb_dist *d = nb__calloc(1, sizeof *d);
	if (!d) {
		nb__set_error(NB_ENOMEM, "dist: out of memory");
		return NULL;
	}
	d->data = d->ctl = MPI_COMM_NULL;
	int rc = MPI_Comm_dup(comm, &d->data);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_dup(comm, &d->ctl);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_set_errhandler(d->data, MPI_ERRORS_RETURN);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_set_errhandler(d->ctl, MPI_ERRORS_RETURN);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_rank(d->data, &d->rank);
	if (rc == MPI_SUCCESS)
		rc = MPI_Comm_size(d->data, &d->size);
	if (rc != MPI_SUCCESS) {
		nb__mpi_fail(rc, "dist: duplicating the communicator");
		nb_dist_free(d);
		return NULL;
	}
	d->owns_mpi = owns;
	if (owns)
		owned_live++;
	enlist(d);
	return d;
}

nb_dist *nb_dist_init(int *argc, char ***argv)
{
	int inited = 0, finalized = 0;
	MPI_Initialized(&inited);
	MPI_Finalized(&finalized);
	if (finalized) {
		nb__set_error(NB_ESTATE, "dist: MPI was finalized already");
		return NULL;
	}
	if (!inited) {
		/* Open MPI busy-polls while a rank waits; on a node with more
		 * runnable processes than cores (shared machines, oversubscribed
		 * ranks) the poll steals the core from the rank still computing
		 * (measured here: 6,200 samples/s without, 37,700 with, mlp784 at
		 * 2 ranks).  Yielding costs nothing when the core is free.  The
		 * user's setting wins; other MPIs ignore the variable. */
		setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
		int provided = 0;
		int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED,
		                         &provided);
		if (rc != MPI_SUCCESS) {
			nb__mpi_fail(rc, "dist: MPI_Init_thread");
			return NULL;
		}
	}
	return dist_over(MPI_COMM_WORLD, !inited || owned_live > 0);
}

nb_dist *nb_dist_adopt(const void *mpi_comm)
{
	int inited = 0, finalized = 0;
	if (!mpi_comm) {
		nb__set_error(NB_EINVAL, "dist: the MPI communicator is NULL");
		return NULL;
	}
	MPI_Initialized(&inited);
	MPI_Finalized(&finalized);
	if (!inited || finalized) {
		nb__set_error(NB_ESTATE, "dist: adopting a communicator needs "
		              "MPI initialized (and not finalized)");
		return NULL;
	}
	return dist_over(*(const MPI_Comm *)mpi_comm, false);
}

void nb_dist_free(nb_dist *d)
{
	if (!d)
		return;
	delist(d);
	if (d->data != MPI_COMM_NULL)
		MPI_Comm_free(&d->data);
	if (d->ctl != MPI_COMM_NULL)
		MPI_Comm_free(&d->ctl);
	if (d->owns_mpi && --owned_live == 0)
		MPI_Finalize();
	nb__free(d);
}

void nb_dist_abort(nb_dist *d, int code, const char *msg)
{
	if (msg)
		fprintf(stderr, "%s\n", msg);
	fflush(NULL);
	if (d)
		MPI_Abort(d->ctl, code);
	exit(code);
}

/* A hash of m's tensors (names, dtypes, shapes, kinds, order), of its
 * trainable parameters only when params_only. */
static uint64_t module_hash(nb_module *m, bool params_only, size_t *count)
{
	const nb_named_tensor *t = NULL;
	size_t n = nb_module_tensors(m, &t), k = 0;
	uint64_t h = NB_HASH_INIT;
	for (size_t i = 0; i < n; i++) {
		const nb_tensor *x = t[i].tensor;
		if (params_only && (t[i].buffer ||
		                    !(x->flags & NB_T_REQUIRES_GRAD)))
			continue;
		h = nb__dist_hash(h, t[i].name, strlen(t[i].name) + 1);
		h = nb__dist_hash(h, &x->dtype, sizeof x->dtype);
		h = nb__dist_hash(h, &x->ndim, sizeof x->ndim);
		h = nb__dist_hash(h, x->shape, (size_t)x->ndim * sizeof *x->shape);
		h = nb__dist_hash(h, &t[i].buffer, sizeof t[i].buffer);
		k++;
	}
	*count = k;
	return h;
}

/* Every rank gets every rank's (hash, count); NB_ESTATE on all when one
 * differs from rank 0's, naming it; what says what was compared. */
static nb_status agree_on(nb_dist *d, uint64_t hash, size_t count,
                          const char *what)
{
	uint64_t mine[2] = {hash, count};
	uint64_t *all = nb__calloc((size_t)d->size * 2, sizeof *all);
	if (!all)
		return nb__set_error(NB_ENOMEM, "dist: out of memory");
	int rc = MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T,
	                       d->ctl);
	nb_status st = NB_OK;
	if (rc != MPI_SUCCESS)
		st = nb__mpi_fail(rc, what);
	for (int r = 1; !st && r < d->size; r++)
		if (all[2 * r] != all[0] || all[2 * r + 1] != all[1])
			st = nb__set_error(NB_ESTATE, "%s: rank %d's model differs "
			    "from rank 0's (%llu tensors vs %llu, or different "
			    "names, dtypes, shapes or order): every rank must "
			    "build the same model", what, r,
			    (unsigned long long)all[2 * r + 1],
			    (unsigned long long)all[1]);
	nb__free(all);
	return st;
}

/* MPI_Bcast of n bytes from rank 0, in pieces that fit an int count. */
static nb_status bcast_bytes(nb_dist *d, void *p, size_t n)
{
	const size_t piece = (size_t)1 << 30;
	for (size_t off = 0; off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;
		int rc = MPI_Bcast((char *)p + off, (int)k, MPI_BYTE, 0, d->ctl);
		if (rc != MPI_SUCCESS)
			return nb__mpi_fail(rc, "broadcast_module");
	}
	return NB_OK;
}

nb_status nb_dist_broadcast_module(nb_dist *d, nb_module *m)
{
	if (!d || !m)
		return nb__set_error(NB_EINVAL, "broadcast_module: %s is NULL",
		                     d ? "the module" : "the communicator");
	size_t count = 0;
	uint64_t h = module_hash(m, false, &count);
	nb_status st = agree_on(d, h, count, "broadcast_module");
	if (st)
		return st;
	const nb_named_tensor *t = NULL;
	size_t n = nb_module_tensors(m, &t);
	for (size_t i = 0; !st && i < n; i++)
		st = bcast_bytes(d, t[i].tensor->data, nb__nbytes(t[i].tensor));
	return st;
}

nb_status nb__dist_agree_params(nb_dist *d, nb_module *m)
{
	size_t count = 0;
	uint64_t h = module_hash(m, true, &count);
	return agree_on(d, h, count, "ddp");
}

nb_status nb_dist_allreduce(nb_dist *d, double *v, size_t n,
                            nb_dist_reduce op)
{
	if (!d || (!v && n))
		return nb__set_error(NB_EINVAL, "allreduce: %s is NULL",
		                     d ? "the array" : "the communicator");
	if (op < NB_DIST_SUM || op > NB_DIST_MAX)
		return nb__set_error(NB_EINVAL, "allreduce: unknown reduction "
		                     "%d", (int)op);
	if (n > (size_t)INT_MAX)
		return nb__set_error(NB_EINVAL, "allreduce: %zu values is more "
		                     "than one call takes", n);
	MPI_Op mop = op == NB_DIST_MIN ? MPI_MIN
	           : op == NB_DIST_MAX ? MPI_MAX : MPI_SUM;
	int rc = MPI_Allreduce(MPI_IN_PLACE, v, (int)n, MPI_DOUBLE, mop,
	                       d->ctl);
	if (rc != MPI_SUCCESS)
		return nb__mpi_fail(rc, "allreduce");
	if (op == NB_DIST_MEAN)
		for (size_t i = 0; i < n; i++)
			v[i] /= d->size;
	return NB_OK;
}

nb_status nb_dist_share_status(nb_dist *d, nb_status st)
{
	if (!d)
		return nb__set_error(NB_EINVAL, "share_status: the "
		                     "communicator is NULL");
	struct {
		int st;
		char msg[480];
	} s = {(int)st, ""};
	if (d->rank == 0 && st)
		snprintf(s.msg, sizeof s.msg, "%s", nb_last_error());
	int rc = MPI_Bcast(&s, (int)sizeof s, MPI_BYTE, 0, d->ctl);
	if (rc != MPI_SUCCESS)
		return nb__mpi_fail(rc, "share_status");
	if (!s.st)
		return NB_OK;
	if (s.st < 0 || s.st >= NB_STATUS_COUNT)
		s.st = NB_EIO;
	s.msg[sizeof s.msg - 1] = 0;
	return d->rank == 0 ? (nb_status)s.st
	                    : nb__set_error((nb_status)s.st, "on rank 0: %s",
	                                    s.msg);
}

#else /* !HAVE_MPI */

nb_dist *nb_dist_init(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	nb__set_error(NB_ESTATE, "dist_init: " NB_NO_MPI);
	return NULL;
}

nb_dist *nb_dist_adopt(const void *mpi_comm)
{
	if (!mpi_comm) {
		nb__set_error(NB_EINVAL, "dist: the MPI communicator is NULL");
		return NULL;
	}
	nb__set_error(NB_ESTATE, "dist_adopt: " NB_NO_MPI);
	return NULL;
}

void nb_dist_free(nb_dist *d)
{
	delist(d);
	nb__free(d);
}

void nb_dist_abort(nb_dist *d, int code, const char *msg)
{
	(void)d;
	if (msg)
		fprintf(stderr, "%s\n", msg);
	fflush(NULL);
	exit(code);
}

nb_status nb_dist_broadcast_module(nb_dist *d, nb_module *m)
{
	if (!d || !m)
		return nb__set_error(NB_EINVAL, "broadcast_module: %s is NULL",
		                     d ? "the module" : "the communicator");
	return nb__set_error(NB_ESTATE, "broadcast_module: " NB_NO_MPI);
}

nb_status nb_dist_allreduce(nb_dist *d, double *v, size_t n,
                            nb_dist_reduce op)
{
	(void)op;
	if (!d || (!v && n))
		return nb__set_error(NB_EINVAL, "allreduce: %s is NULL",
		                     d ? "the array" : "the communicator");
	return nb__set_error(NB_ESTATE, "allreduce: " NB_NO_MPI);
}

nb_status nb_dist_share_status(nb_dist *d, nb_status st)
{
	(void)st;
	if (!d)
		return nb__set_error(NB_EINVAL, "share_status: the "
		                     "communicator is NULL");
	return nb__set_error(NB_ESTATE, "share_status: " NB_NO_MPI);
}

#endif /* HAVE_MPI */

nb_status nb_dist_checkpoint_save(nb_dist *d, const char *path,
                                  nb_module *m, const nb_optim *o,
                                  const char *const *meta)
{
	if (!d || !path || !m)
		return nb__set_error(NB_EINVAL, "checkpoint_save: %s is NULL",
		                     !d ? "the communicator"
		                        : !path ? "the path" : "the module");
	nb_status st = NB_OK;
	if (d->rank == 0)
		st = nb_checkpoint_save(path, m, o, meta);
	return nb_dist_share_status(d, st);
}
