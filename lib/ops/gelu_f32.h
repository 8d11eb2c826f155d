/*
 * gelu_f32.h - the exact gelu, x Phi(x), and its derivative
 * Phi(x) + x phi(x) in float32 without libm: one exp(-x^2 / 2) of our
 * own, shared by Phi and phi, and one rational function, all branch-free
 * so that a kernel's loop runs 8 wide (activation.c builds it with
 * NB_FMA_CLONES).  libmvec's erfcf plus expf cost twice as much, and
 * rounding -x / sqrt 2 before erfc cost up to 190 ulp in the lower tail.
 * Private; the float64 kernels keep libm's erfc and exp.
 *
 * With a = |x| and Q(a) = erfc(a / sqrt 2) / 2 (the upper tail),
 *   Phi(x) = Q(a) for x <= 0,  1 - Q(a) for x > 0,
 *   Q(a) = exp(-a^2 / 2) R(a),  R(a) = N(a) / D(a),
 * N and D of degrees 4 and 5 with positive coefficients (R is smooth,
 * from 1/2 at 0 down to about 1 / (a sqrt(2 pi))), fitted for relative
 * error on [0, 15] (1.2e-8 with the float coefficients) by
 * tools/fit_gelu_f32.py, which also fits the exp polynomial below.  Q
 * keeps its relative accuracy down to where it underflows, so
 * gelu(-10) = -7.6e-23 is right to a few ulp (1 + erf(x / sqrt 2)
 * cancels to 0 there).
 *
 * exp(-a^2 / 2) = 2^k e^r, k = round(-a^2 / (2 ln 2)), from an exact
 * a^2: with s = a cut to 12 significant bits, s^2 is exact and
 * a^2 = s^2 + (a - s)(a + s), the small second term rounded.  Then
 * v = 2r = -s^2 - 2k ln2_hi (exact: ln2_hi has 16 bits, k 8) - 2k ln2_lo
 * - (a - s)(a + s) lies in [-0.91, 0.70], and e^(v/2) is a degree-6
 * polynomial (relative error 7e-9).  The polynomial carries a factor
 * 2^-64 and the scale is 2^(k + 64), built in the exponent bits, so
 * that x Q(a) is formed in the normal range and rounded once where it is
 * subnormal.  a is clamped to 16.27 (NaN and infinities too), where
 * k + 64 = -127: the scale's exponent field is 0, the scale is 0 and
 * exp(-a^2 / 2) is 0 beyond, as it should be.
 *
 * Measured against the same computed in double with libm
 * (tests/test_gelu_f32.c, and every 64th float of [-30, 30]): at most
 * 5.4 ulp for gelu (7.7 built without FMA) and 3.7 ulp of
 * |Phi| + |x phi| for its derivative; most of it is the rounding of N
 * and D near |x| = 10, while the fits contribute 0.2 ulp.  Special
 * values as x * erfc(-x / sqrt 2) / 2 gives them: gelu(+-0) = +-0,
 * gelu(inf) = inf, gelu(-inf) = NaN (x * 0), NaN stays NaN; the
 * derivative is 1/2 at +-0 and NaN at +-inf.
 */
#ifndef NB_GELU_F32_H
#define NB_GELU_F32_H

#include <stdint.h>
#include <string.h>

static inline float nb__gelu_bits2f(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

static inline uint32_t nb__gelu_f2bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

/* 16.265625f: |x| is clamped there (see above). */
#define NB__GELU_AMAX_BITS 0x41822000u

/*
 * For a = min(|x|, 16.27): *e * *sc = exp(-a^2 / 2) (*e carries 2^-64,
 * *sc = 2^(k + 64), 0 at the clamp) and *rat = R(a).  Integer min on
 * the bits of |x| orders non-negative floats as floats do and sends NaN
 * to the clamp; it is one instruction where a float select is two.
 */
static inline void nb__gelu_f32_parts(float x, float *e, float *sc,
                                      float *rat)
{
	uint32_t ab = nb__gelu_f2bits(x) & 0x7fffffffu;
	ab = ab < NB__GELU_AMAX_BITS ? ab : NB__GELU_AMAX_BITS;
	const float a = nb__gelu_bits2f(ab);
	const float s = nb__gelu_bits2f(ab & 0xfffff000u);
	const float s2 = s * s;
	/* k + 191 in the low bits of kf: 0x1.8p23 rounds to an integer */
	const float shift = 0x1.8p23f + 191.0f;
	float kf = s2 * -0.72134752044448170368f + shift; /* -1 / (2 ln 2) */
	const uint32_t kb = nb__gelu_f2bits(kf);
	kf -= shift;
	float v = kf * (-2 * 0.693145751953125f) - s2;
	v = kf * (-2 * 1.428606765330187045e-06f) + v;
	v = (s - a) * (s + a) + v;
	/* e^(v/2) 2^-64 */
	const float t = 0x1p-64f;
	float p = 2.04880398e-05f * t;
	p = p * v + 0.000261505658f * t;
	p = p * v + 0.00260502147f * t;
	p = p * v + 0.0208331533f * t;
	p = p * v + 0.124999873f * t;
	p = p * v + 0.5f * t;
	*e = p * v + t;
	*sc = nb__gelu_bits2f(kb << 23);
	float n = 0.00412217807f;
	n = n * a + 0.0406884849f;
	n = n * a + 0.183422089f;
	n = n * a + 0.438583106f;
	n = n * a + 0.5f;
	float d = 0.0103326542f;
	d = d * a + 0.101997145f;
	d = d * a + 0.469957113f;
	d = d * a + 1.20333743f;
	d = d * a + 1.67505109f;
	d = d * a + 1.0f;
	*rat = n / d;
}

/*
 * gelu(x) = x Q(a) for x <= 0 (+-0 keep their sign), and x - x Q(a)
 * above, where +inf is taken as 0 in x Q(a) (its scale is 0), so that
 * gelu(inf) = inf - inf * 0 is not a NaN; gelu(-inf) is, as x Phi(x)
 * makes it.  The last select tests x <= 0 as a float: with the sign bit
 * as an integer instead, GCC formed both products and two blends.
 */
static inline float nb__gelu_f32(float x)
{
	float e, sc, rat;
	nb__gelu_f32_parts(x, &e, &sc, &rat);
	const uint32_t xb = nb__gelu_f2bits(x);
	const float xm = nb__gelu_bits2f(xb == 0x7f800000u ? 0 : xb);
	const float q = xm * sc * rat * e;
	return x <= 0 ? q : x - q;
}

/*
 * Phi(x) + x phi(x), phi(x) = exp(-a^2 / 2) / sqrt(2 pi):
 * exp(-a^2 / 2) (R(a) + x / sqrt(2 pi)) for x <= 0, and
 * 1 + exp(-a^2 / 2) (x / sqrt(2 pi) - R(a)) above (R's sign flipped by
 * the sign bit, not a select).
 */
static inline float nb__dgelu_f32(float x)
{
	float e, sc, rat;
	nb__gelu_f32_parts(x, &e, &sc, &rat);
	const uint32_t xb = nb__gelu_f2bits(x);
	const float srat = nb__gelu_bits2f(nb__gelu_f2bits(rat) ^
	                                   (~xb & 0x80000000u));
	const float w = x * 0.39894228040143267794f + srat;
	const float z = w * sc * e;
	return (int32_t)xb < 0 ? z : 1 + z;
}

#endif
