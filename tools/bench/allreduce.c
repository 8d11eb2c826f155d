/*
 * allreduce.c - the alpha and beta of the alpha-beta model on this
 * machine (doc/distributed.md): the time of nb_dist_allreduce (MPI_
 * Allreduce of doubles) for 8 bytes to 8 MB, median and minimum of 50
 * calls after 5, under `mpirun -np N`.  Rank 0 prints a JSON line per
 * size.  A barrier before each call keeps rank skew out of the figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <nabla/nabla.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	nb_dist *d = nb_dist_init(&argc, &argv);
	if (!d) {
		fprintf(stderr, "allreduce: %s\n", nb_last_error());
		return 1;
	}
	enum { REPS = 50, WARM = 5 };
	double one = 0, t[REPS];
	for (size_t n = 1; n <= ((size_t)1 << 20); n *= 8) {
		double *v = calloc(n, sizeof *v);
		for (int r = 0; v && r < WARM + REPS; r++) {
			nb_dist_allreduce(d, &one, 1, NB_DIST_SUM); /* barrier */
			double t0 = now();
			nb_dist_allreduce(d, v, n, NB_DIST_SUM);
			if (r >= WARM)
				t[r - WARM] = now() - t0;
		}
		qsort(t, REPS, sizeof *t, by_value);
		if (v && nb_dist_rank(d) == 0)
			printf("{\"ranks\": %d, \"bytes\": %zu, \"median_us\": %.2f, "
			       "\"min_us\": %.2f}\n", nb_dist_size(d), n * sizeof *v,
			       1e6 * t[REPS / 2], 1e6 * t[0]);
		free(v);
	}
	nb_dist_free(d);
	return 0;
}
