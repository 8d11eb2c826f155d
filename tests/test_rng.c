/*
 * test_rng.c - lib/rng.c: the generator documented in nabla/core.h.
 *
 * The expected values were computed independently of nabla, from the
 * published reference algorithms (splitmix64 for seeding, xoshiro256**
 * for the stream; Blackman and Vigna), with this Python 3 program:
 *
 *   M = (1 << 64) - 1
 *   def rotl(x, k): return ((x << k) | (x >> (64 - k))) & M
 *   def seed(x):
 *       s = []
 *       for _ in range(4):
 *           x = (x + 0x9e3779b97f4a7c15) & M
 *           z = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
 *           z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
 *           s.append(z ^ (z >> 31))
 *       return s
 *   def next(s):
 *       r = (rotl((s[1] * 5) & M, 7) * 9) & M
 *       t = (s[1] << 17) & M
 *       s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]
 *       s[2] ^= t; s[3] = rotl(s[3], 45)
 *       return r
 *   uniform = (next(s) >> 11) * 2.0**-53
 *   normal: u1 = 1 - uniform, u2 = uniform, r = sqrt(-2 log u1),
 *           th = 2 pi u2; first r cos th, then r sin th
 */
#include "support/helpers.h"

static const uint64_t seed0_state[4] = {
	0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL,
	0x06c45d188009454fULL, 0xf88bb8a8724c81ecULL,
};
static const uint64_t seed0_next[5] = {
	0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL, 0x1a5f849d4933e6e0ULL,
	0x6aa594f1262d2d2cULL, 0xbba5ad4a1f842e59ULL,
};
static const uint64_t seed42_state[4] = {
	0xbdd732262feb6e95ULL, 0x28efe333b266f103ULL,
	0x47526757130f9f52ULL, 0x581ce1ff0e4ae394ULL,
};
static const uint64_t seed42_next[5] = {
	0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL, 0xae17533239e499a1ULL,
	0xecb8ad4703b360a1ULL, 0xfde6dc7fe2ec5e64ULL,
};

static void expect_stream(uint64_t seed, const uint64_t *state,
                          const uint64_t *next)
{
	nb_rng r;
	nb_rng_seed(&r, seed);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(r.s[i], state[i], "seed %llu: s[%d] = %#llx",
		             (unsigned long long)seed, i,
		             (unsigned long long)r.s[i]);
	for (int i = 0; i < 5; i++) {
		uint64_t v = nb_rng_next(&r);
		cr_expect_eq(v, next[i], "seed %llu: draw %d = %#llx, want %#llx",
		             (unsigned long long)seed, i, (unsigned long long)v,
		             (unsigned long long)next[i]);
	}
}

Test(rng, seed_0_gives_the_published_stream)
{
	expect_stream(0, seed0_state, seed0_next);
}

Test(rng, seed_42_gives_the_published_stream)
{
	expect_stream(42, seed42_state, seed42_next);
}

Test(rng, uniform_uses_the_top_53_bits)
{
	nb_rng r;
	nb_rng_seed(&r, 0);
	/* Exact: (x >> 11) * 2^-53 of the draws above. */
	cr_expect_eq(nb_rng_uniform(&r), 0.60126299941790484);
	cr_expect_eq(nb_rng_uniform(&r), 0.74777409254723981);
	cr_expect_eq(nb_rng_uniform(&r), 0.10301998939503632);
	nb_rng_seed(&r, 42);
	cr_expect_eq(nb_rng_uniform(&r), 0.083862971059882163);
	cr_expect_eq(nb_rng_uniform(&r), 0.37898025066266861);
	cr_expect_eq(nb_rng_uniform(&r), 0.68004341102813937);
	for (int i = 0; i < 1000; i++) {
		nb_rng c = r;
		cr_assert_eq(nb_rng_uniform(&r),
		             (double)(nb_rng_next(&c) >> 11) * 0x1.0p-53);
	}
}

static void expect_normal(nb_rng *r, double want)
{
	double v = nb_rng_normal(r);
	cr_expect(fabs(v - want) <= 1e-12, "normal %.17g, want %.17g", v,
	          want);
}

Test(rng, normal_is_box_muller_with_a_cached_spare)
{
	/* Up to the last bits of libm's log, sqrt, cos and sin. */
	nb_rng r;
	nb_rng_seed(&r, 0);
	expect_normal(&r, -0.01896499060631051);
	expect_normal(&r, -1.3559302271143727);
	nb_rng_seed(&r, 42);
	expect_normal(&r, -0.30326306467873798);
	expect_normal(&r, 0.28846173882942383);

	/* Two uniforms per pair: the spare costs no draw. */
	nb_rng a, b;
	nb_rng_seed(&a, 5);
	nb_rng_seed(&b, 5);
	nb_rng_normal(&a);
	nb_rng_next(&b);
	nb_rng_next(&b);
	nb_rng_normal(&a); /* the spare */
	cr_expect_eq(nb_rng_next(&a), nb_rng_next(&b));

	/* Reseeding drops the spare. */
	nb_rng_seed(&a, 0);
	nb_rng_normal(&a);
	nb_rng_seed(&a, 42);
	expect_normal(&a, -0.30326306467873798);
}

Test(rng, uniform_is_in_the_half_open_unit_interval)
{
	nb_rng r;
	nb_rng_seed(&r, 1);
	double lo = 1, hi = 0, sum = 0;
	const int n = 200000;
	int bins[10] = {0};
	for (int i = 0; i < n; i++) {
		double u = nb_rng_uniform(&r);
		cr_assert(u >= 0.0 && u < 1.0, "draw %d: %.17g", i, u);
		lo = u < lo ? u : lo;
		hi = u > hi ? u : hi;
		sum += u;
		bins[(int)(u * 10)]++;
	}
	cr_expect_lt(lo, 1e-4);
	cr_expect_gt(hi, 1 - 1e-4);
	/* Mean 1/2, sd of the mean sqrt(1/12 / n) ~ 6.5e-4: 5 sd. */
	cr_expect(fabs(sum / n - 0.5) < 5 * sqrt(1.0 / 12 / n), "mean %g",
	          sum / n);
	/* Chi-square over 10 bins, 9 degrees of freedom: 0.1% critical
	 * value 27.9. */
	double chi2 = 0, e = n / 10.0;
	for (int k = 0; k < 10; k++)
		chi2 += (bins[k] - e) * (bins[k] - e) / e;
	cr_expect_lt(chi2, 27.9, "chi2 = %g", chi2);

	/* The largest value: all 53 top bits set. */
	cr_expect_lt((double)(UINT64_MAX >> 11) * 0x1.0p-53, 1.0);
}

Test(rng, below_is_in_range_and_unbiased)
{
	nb_rng r;
	nb_rng_seed(&r, 3);
	cr_expect_eq(nb_rng_below(&r, 0), 0);
	for (int i = 0; i < 100; i++)
		cr_expect_eq(nb_rng_below(&r, 1), 0);
	/* Huge ranges, where rejection matters most (2^63 + 1 rejects
	 * almost half the draws). */
	const uint64_t ns[] = {2, 3, 7, 1000, (1ULL << 63) + 1,
	                       UINT64_MAX - 1, UINT64_MAX};
	for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
		for (int i = 0; i < 2000; i++) {
			uint64_t v = nb_rng_below(&r, ns[k]);
			cr_assert_lt(v, ns[k]);
		}
	/* n = 3 * 2^62: a biased "x % n" folds [n, 2^64) onto [0, 2^62),
	 * so it gives v < 2^62 with probability 1/2 instead of 1/3.  With
	 * m = 4000 draws the sd of the fraction is 0.0075. */
	const uint64_t n3 = 3ULL << 62;
	int low = 0;
	const int m = 4000;
	for (int i = 0; i < m; i++)
		low += nb_rng_below(&r, n3) < (1ULL << 62);
	cr_expect(fabs((double)low / m - 1.0 / 3) < 0.05, "%d of %d below 2^62",
	          low, m);

	/* Chi-square on a die. 5 degrees of freedom: 0.1% value 20.5. */
	int bins[6] = {0};
	const int n = 60000;
	for (int i = 0; i < n; i++)
		bins[nb_rng_below(&r, 6)]++;
	double chi2 = 0, e = n / 6.0;
	for (int k = 0; k < 6; k++)
		chi2 += (bins[k] - e) * (bins[k] - e) / e;
	cr_expect_lt(chi2, 20.5, "chi2 = %g", chi2);
}

Test(rng, below_is_deterministic_rejection_sampling)
{
	/* For n = 3, the limit is the largest multiple of 3 not above
	 * UINT64_MAX, which is UINT64_MAX itself (2^64 - 1 = 3 * 5 * 17
	 * * 257 * 641 * 65537 * 6700417): so no rejection, and the value is
	 * the draw modulo 3. */
	nb_rng a, b;
	nb_rng_seed(&a, 9);
	b = a;
	for (int i = 0; i < 100; i++)
		cr_expect_eq(nb_rng_below(&a, 3), nb_rng_next(&b) % 3);
}

Test(rng, normal_mean_and_std)
{
	nb_rng r;
	nb_rng_seed(&r, 2024);
	const int n = 200000;
	double s = 0, s2 = 0, s4 = 0;
	int within1 = 0;
	for (int i = 0; i < n; i++) {
		double x = nb_rng_normal(&r);
		cr_assert(isfinite(x));
		s += x;
		s2 += x * x;
		s4 += x * x * x * x;
		within1 += fabs(x) < 1;
	}
	double mean = s / n, var = s2 / n - mean * mean;
	/* Standard errors: mean 1/sqrt(n) = 2.2e-3, variance sqrt(2/n) =
	 * 3.2e-3, kurtosis E x^4 = 3 about sqrt(96/n) = 0.022.  5 sd each. */
	cr_expect(fabs(mean) < 5 / sqrt(n), "mean %g", mean);
	cr_expect(fabs(var - 1) < 5 * sqrt(2.0 / n), "variance %g", var);
	cr_expect(fabs(s4 / n - 3) < 5 * sqrt(96.0 / n), "E x^4 = %g", s4 / n);
	/* P(|x| < 1) = 0.682689, sd sqrt(p(1-p)/n) ~ 1e-3. */
	cr_expect(fabs((double)within1 / n - 0.682689) < 0.006, "%g",
	          (double)within1 / n);
}

Test(rng, same_seed_same_stream_and_copies_fork)
{
	nb_rng a, b;
	nb_rng_seed(&a, 123456789);
	nb_rng_seed(&b, 123456789);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(nb_rng_next(&a), nb_rng_next(&b));
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(nb_rng_normal(&a), nb_rng_normal(&b));
	nb_rng_normal(&a); /* leaves a spare */
	nb_rng c = a;     /* a value type: the copy continues alike */
	for (int i = 0; i < 100; i++)
		cr_assert_eq(nb_rng_normal(&a), nb_rng_normal(&c));
	nb_rng_seed(&b, 123456790);
	nb_rng_seed(&a, 123456789);
	int same = 0;
	for (int i = 0; i < 100; i++)
		same += nb_rng_next(&a) == nb_rng_next(&b);
	cr_expect_eq(same, 0);
}

Test(rng, graph_generator_is_seeded_and_kept_by_reset)
{
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_rng ref;
	nb_rng_seed(&ref, 0); /* a new graph is seeded with 0 */
	cr_expect_eq(nb_rng_next(nb_graph_rng(g)), nb_rng_next(&ref));
	nb_graph_seed(g, 42);
	nb_rng_seed(&ref, 42);
	cr_expect_eq(nb_rng_next(nb_graph_rng(g)), nb_rng_next(&ref));
	nb_graph_reset(g);
	cr_expect_eq(nb_rng_next(nb_graph_rng(g)), nb_rng_next(&ref));
	nb_graph_free(g);
}
