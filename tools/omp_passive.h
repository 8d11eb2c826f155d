/*
 * omp_passive.h - for a program's main file: nb_omp_passive(argv),
 * first thing in main(), runs the program again (the same process,
 * execv of /proc/self/exe) with OMP_WAIT_POLICY=passive and
 * GOMP_SPINCOUNT=0, so that OpenMP's (oneDNN's) idle threads sleep at
 * once instead of spinning, unless the environment sets either; and
 * with OPENBLAS_THREAD_TIMEOUT=20 unless it is set.
 *
 * Why: libgomp's idle threads spin for about 3 ms after every parallel
 * region and in its barriers by default (GCC 12's still spins 300,000
 * rounds under "passive" alone, hence the count).  nabla's own pool and
 * OpenBLAS's threads then find their cores taken: cnn at 2 threads,
 * with the other core busy, took 104-124 ms a step by default, 32-36
 * ms with a spin count of 0 (25 at 1 thread; doc/performance.md,
 * "Threads").
 *
 * OpenBLAS's idle threads (its pthread build, Debian's 0.3.21) likewise
 * poll with sched_yield for 2^28 cycles, about 0.1 s, after every
 * product it splits, longer than a cnn step (its linear layer's three
 * products), so at 2 threads that thread took a third of the profile's
 * samples and competed for the core oneDNN's and nabla's workers
 * wanted.  2^20 cycles (under a millisecond) keeps it polling between
 * the products of one layer and asleep across the convolutions: cnn at
 * 2 threads used 50 ms of CPU a step instead of 68-73 (doc/
 * performance.md, "Threads").
 *
 * Both libraries read these variables once, in their constructors,
 * before main() and before the executable's .preinit_array can reach
 * libc's environment, so setting them means starting again.  Not under
 * valgrind (its tool would not follow the exec without
 * --trace-children); the OpenMP ones only when oneDNN has OpenMP, the
 * OpenBLAS one only with OpenBLAS.  Only programs
 * do this (a library must not change its host's environment);
 * doc/nabla.1 tells library users to set the variables.
 */
#ifndef NB_OMP_PASSIVE_H
#define NB_OMP_PASSIVE_H

#include "config.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void nb_omp_passive(char **argv)
{
	const char *pre = getenv("LD_PRELOAD");
	bool again = false;
	if (pre && strstr(pre, "vgpreload"))
		return;
#ifdef HAVE_OMP_SET_NUM_THREADS
	if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
		if (setenv("OMP_WAIT_POLICY", "passive", 1) ||
		    setenv("GOMP_SPINCOUNT", "0", 1))
			return;
		again = true;
	}
#endif
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
	if (!getenv("OPENBLAS_THREAD_TIMEOUT")) {
		if (setenv("OPENBLAS_THREAD_TIMEOUT", "20", 1))
			return;
		again = true;
	}
#endif
	if (again)
		execv("/proc/self/exe", argv);
	/* no /proc: go on with the libraries as they were started */
}

#endif
