/*
 * rng.c - xoshiro256** seeded by splitmix64; Box-Muller normals.
 * (Blackman and Vigna, "Scrambled linear pseudorandom number generators",
 * 2018.)  The algorithm is part of the API: see nabla/core.h.
 */
#include <math.h>
#include "internal.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void nb_rng_seed(nb_rng *r, uint64_t seed)
{
	if (!r)
		return;
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
	r->has_spare = 0;
	r->spare = 0;
}

/* One xoshiro256** step; static so that loops inline it (a library
 * function may be interposed, so it is not inlined). */
static inline uint64_t next(uint64_t *s)
{
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* A NULL generator draws 0 (integers) or NAN (reals). */
uint64_t nb_rng_next(nb_rng *r)
{
	return r ? next(r->s) : 0;
}

double nb_rng_uniform(nb_rng *r)
{
	return r ? (double)(next(r->s) >> 11) * 0x1.0p-53 : NAN;
}

double nb_rng_normal(nb_rng *r)
{
	if (!r)
		return NAN;
	if (r->has_spare) {
		r->has_spare = 0;
		return r->spare;
	}
	/* u1 in (0, 1] so that log(u1) is finite. */
	double u1 = 1.0 - nb_rng_uniform(r);
	double u2 = nb_rng_uniform(r);
	double rad = sqrt(-2.0 * log(u1));
	double th = 2.0 * M_PI * u2;
	r->spare = rad * sin(th);
	r->has_spare = 1;
	return rad * cos(th);
}

void nb__rng_keep_mask(nb_rng *r, unsigned char *mask, size_t n, double q)
{
	/* u < q with u = k 2^-24 is k < q 2^24, i.e. k < ceil(q 2^24)
	 * (exact: q 2^24 only shifts q's exponent). */
	double tq = ceil(q * 0x1.0p24);
	uint64_t t = tq <= 0 ? 0 : tq >= 0x1.0p24 ? (1u << 24) : (uint64_t)tq;
	uint64_t s[4]; /* a local copy, so that it stays in registers */
	memcpy(s, r->s, sizeof s);
	size_t i = 0;
	for (; i + 1 < n; i += 2) {
		uint64_t x = next(s);
		mask[i] = (x >> 40) < t;
		mask[i + 1] = ((x >> 16) & 0xffffff) < t;
	}
	if (i < n)
		mask[i] = (next(s) >> 40) < t;
	memcpy(r->s, s, sizeof s);
}

uint64_t nb_rng_below(nb_rng *r, uint64_t n)
{
	if (!r || n == 0)
		return 0;
	/* Rejection sampling: draws below the largest multiple of n. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = nb_rng_next(r);
	while (x >= lim);
	return x % n;
}
