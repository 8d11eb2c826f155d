/*
 * test_conv_layout.c - the copies between plain NCHW and oneDNN's
 * channel-blocked layouts (lib/ops/conv_layout.c, issue 17): each lane
 * where the layout puts it, zeros in the lanes past C, the round trip
 * exact, nothing written outside the arrays, and the same bits at 1, 2
 * and 4 threads on arrays long enough to be split over the pool.  The
 * functions are not exported, so the test compiles them in (with the
 * pool), as test_grain does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "internal.h"
#include "ops/conv_onednn.h"

/* N, C, H W, block: partial last blocks, one channel (the cnn's first
 * layer, padded to a whole block), and arrays of 400K and 2M floats,
 * which the pool splits (at least 2^18 floats for a second thread). */
static const struct {
	int64_t N, C, HW;
	int b;
} shapes[] = {
	{3, 1, 5, 8},      {2, 12, 7, 8},    {5, 17, 30, 16},
	{1, 8, 1, 8},      {128, 16, 196, 8}, {128, 1, 784, 8},
	{64, 40, 784, 16},
};

/* The lane of channel c, pixel p of sample n in the blocked array. */
static size_t lane(int64_t n, int64_t c, int64_t p, int64_t C, int64_t HW,
                   int b)
{
	int64_t CB = (C + b - 1) / b;
	return (size_t)(((n * CB + c / b) * HW + p) * b + c % b);
}

Test(conv_layout, lanes_zeros_round_trip_and_threads)
{
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int64_t N = shapes[s].N, C = shapes[s].C, HW = shapes[s].HW;
		int b = shapes[s].b;
		size_t nx = (size_t)(N * C * HW);
		size_t ny = (size_t)(N * ((C + b - 1) / b) * b * HW);
		/* one float past each array: a sentinel */
		float *x = malloc((nx + 1) * sizeof *x);
		float *y = malloc((ny + 1) * sizeof *y);
		float *y1 = malloc((ny + 1) * sizeof *y1);
		float *back = malloc((nx + 1) * sizeof *back);
		cr_assert(x && y && y1 && back);
		for (size_t i = 0; i < nx; i++)
			x[i] = (float)i * 0.5f - 3.0f;
		for (int t = 1; t <= 4; t *= 2) {
			cr_assert_eq(nb_set_num_threads(t), NB_OK);
			for (size_t i = 0; i <= ny; i++)
				y[i] = NAN;
			nb__nchw_to_blocked(x, y, N, C, HW, b);
			cr_expect(isnan(y[ny]), "shape %zu: wrote past the end", s);
			if (t == 1) {
				size_t bad = 0;
				for (int64_t n = 0; n < N; n++)
					for (int64_t c = 0; c < (C + b - 1) / b * b; c++)
						for (int64_t p = 0; p < HW; p++) {
							float want = c < C
							    ? x[(n * C + c) * HW + p] : 0.0f;
							bad += memcmp(&y[lane(n, c, p, C, HW,
							                      b)],
							              &want, sizeof want) != 0;
						}
				cr_expect_eq(bad, 0, "shape %zu: %zu lanes wrong", s,
				             bad);
				memcpy(y1, y, ny * sizeof *y);
			} else {
				cr_expect(!memcmp(y, y1, ny * sizeof *y),
				          "shape %zu: %d threads differ from 1", s, t);
			}
			back[nx] = NAN;
			nb__blocked_to_nchw(y, back, N, C, HW, b);
			cr_expect(!memcmp(back, x, nx * sizeof *x),
			          "shape %zu, %d threads: the round trip differs",
			          s, t);
			cr_expect(isnan(back[nx]), "shape %zu: wrote past the end",
			          s);
		}
		free(x);
		free(y);
		free(y1);
		free(back);
	}
	nb_set_num_threads(1);
}
