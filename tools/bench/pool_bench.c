/*
 * pool_bench.c - nabla's thread pool alone (issue 17 item 2): the time
 * of nb__parallel_for over a streaming loop (y = 1.5 x + 0.25, chunks of
 * 8,192 elements) from 8K to 4M elements, at 1 and at 2 threads
 * alternately, the minimum of many runs each.  The minimum of work per
 * thread is right when no size is slower at 2 threads than at 1 on a
 * quiet machine.  Built with lib/parallel.c compiled in (the pool is not
 * exported); run by hand:
 *
 *   tools/bench/pool-bench [RUNS]      (RUNS per size and count: 300)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "internal.h"

typedef struct job {
	const float *x;
	float *y;
} job;

static void axpb(void *ctx, size_t lo, size_t hi)
{
	job *j = ctx;
	for (size_t i = lo; i < hi; i++)
		j->y[i] = j->x[i] * 1.5f + 0.25f;
}

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	size_t big = (size_t)1 << 22;
	int runs = argc > 1 ? atoi(argv[1]) : 300;
	float *x = malloc(big * sizeof *x), *y = malloc(big * sizeof *y);
	if (!x || !y || runs < 1) {
		fprintf(stderr, "usage: pool-bench [RUNS]\n");
		return 2;
	}
	for (size_t i = 0; i < big; i++)
		x[i] = (float)i;
	job j = {x, y};
	printf("elements  1 thread (us)  2 threads (us)  speed-up\n");
	for (size_t n = 8192; n <= big; n *= 2) {
		double best[2] = {1e30, 1e30};
		for (int r = 0; r < runs; r++)
			for (int t = 0; t < 2; t++) {
				nb_set_num_threads(t + 1);
				double a = now_us();
				nb__parallel_for(n, 8192, 1, axpb, &j);
				double b = now_us() - a;
				best[t] = b < best[t] ? b : best[t];
			}
		printf("%8zu  %13.1f  %14.1f  %8.2f\n", n, best[0], best[1],
		       best[0] / best[1]);
	}
	free(x);
	free(y);
	return 0;
}
