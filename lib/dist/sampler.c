/*
 * sampler.c - each rank's share of a data set for one epoch, as
 * PyTorch's DistributedSampler (torch/utils/data/distributed.py):
 *
 *   drop_last: len = floor(n / size), else len = ceil(n / size);
 *   indices = permutation of 0..n-1 from seed + epoch (or 0..n-1);
 *   padded by repeating from the start up to len * size (or cut to it);
 *   rank's share = indices[rank :: size].
 *
 * Needs no MPI: every rank computes the same permutation on its own.
 * The permutation is nb_shuffle's (Fisher-Yates on nabla's generator),
 * not torch.randperm's, so the orders differ from PyTorch's; the sizes,
 * padding and striding are the same.
 */
#include "dist_internal.h"

size_t nb_dist_shard_len(size_t n, int size, unsigned flags)
{
	if (size < 1)
		return 0;
	size_t s = (size_t)size;
	return (flags & NB_SHARD_DROP_LAST) ? n / s : n / s + (n % s != 0);
}

nb_status nb_dist_shard(size_t n, uint64_t seed, uint64_t epoch, int rank,
                        int size, unsigned flags, int64_t *idx, size_t cap)
{
	if (!idx)
		return nb__set_error(NB_EINVAL, "dist_shard: idx is NULL");
	if (size < 1 || rank < 0 || rank >= size)
		return nb__set_error(NB_EINVAL, "dist_shard: rank %d of %d "
		                     "ranks (want 0 <= rank < size)", rank, size);
	size_t len = nb_dist_shard_len(n, size, flags);
	if (cap < len)
		return nb__set_error(NB_EINVAL, "dist_shard: room for %zu "
		                     "indices, %zu needed", cap, len);
	if (!len)
		return NB_OK;
	int64_t *perm = nb__malloc(n * sizeof *perm);
	if (!perm)
		return nb__set_error(NB_ENOMEM, "dist_shard: out of memory for "
		                     "%zu indices", n);
	if (flags & NB_SHARD_SHUFFLE) {
		nb_rng r;
		nb_rng_seed(&r, seed + epoch);
		nb_shuffle(perm, n, &r);
	} else {
		for (size_t i = 0; i < n; i++)
			perm[i] = (int64_t)i;
	}
	/* Position rank + j * size of the padded (or cut) list. */
	for (size_t j = 0; j < len; j++)
		idx[j] = perm[((size_t)rank + j * (size_t)size) % n];
	nb__free(perm);
	return NB_OK;
}

uint64_t nb_dist_rank_seed(uint64_t seed, int rank)
{
	return rank <= 0 ? seed
	                 : seed + (uint64_t)rank * 0x9E3779B97F4A7C15ull;
}
