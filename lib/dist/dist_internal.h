/*
 * dist_internal.h - the communicator shared by lib/dist/'s files.
 * Private.
 */
#ifndef NB_DIST_INTERNAL_H
#define NB_DIST_INTERNAL_H

#include "config.h"
#include "../internal.h"
#ifdef HAVE_MPI
#include <mpi.h>
#endif

/* The message of every call that needs MPI in a build without it. */
#define NB_NO_MPI "nabla was built without MPI (configure --with-mpi; " \
	"see doc/distributed.md)"

struct nb_dist {
#ifdef HAVE_MPI
	/* Two duplicates of the user's communicator: data carries the
	 * gradient buckets (non-blocking, in flight during backward), ctl
	 * the agreement checks and broadcasts, so that a check can never be
	 * matched with a bucket of another rank. */
	MPI_Comm data, ctl;
#endif
	int rank, size;
	bool owns_mpi;      /* nb_dist_init initialized MPI */
	int64_t id;         /* for sync_batch_norm's attribute (> 0) */
};

/* The live communicator of id (nb_dist's id), or NULL. */
nb_dist *nb__dist_by_id(int64_t id);

#ifdef HAVE_MPI
/* Collective: NB_ESTATE on every rank unless all have the same
 * trainable parameters (names, dtypes, shapes, order) as rank 0. */
nb_status nb__dist_agree_params(nb_dist *d, nb_module *m);
/* NB_EIO with MPI's message for a failed call (what names the call). */
nb_status nb__mpi_fail(int rc, const char *what);
#endif
/* FNV-1a over n bytes, continuing from h. */
uint64_t nb__dist_hash(uint64_t h, const void *p, size_t n);
#define NB_HASH_INIT 14695981039346656037ull

#endif
