/*
 * omp_passive.h - for a program's main file: nb_omp_passive(argv),
 * first thing in main(), runs the program again (the same process,
 * execv of /proc/self/exe) with OMP_WAIT_POLICY=passive and
 * GOMP_SPINCOUNT=0, so that OpenMP's (oneDNN's) idle threads sleep at
 * once instead of spinning, unless the environment sets either.
 *
 * Why: libgomp's idle threads spin for about 3 ms after every parallel
 * region and in its barriers by default (GCC 12's still spins 300,000
 * rounds under "passive" alone, hence the count).  nabla's own pool and
 * OpenBLAS's threads then find their cores taken: cnn at 2 threads,
 * with the other core busy, took 104-124 ms a step by default, 32-36
 * ms with a spin count of 0 (25 at 1 thread; doc/performance.md,
 * "Threads").  libgomp reads the variables once, in its constructor,
 * before main() and before the executable's .preinit_array can reach
 * libc's environment, so setting them means starting again.  Not under
 * valgrind (its tool would not follow the exec without
 * --trace-children), and not when oneDNN has no OpenMP.  Only programs
 * do this (a library must not change its host's environment);
 * doc/nabla.1 tells library users to set the variables.
 */
#ifndef NB_OMP_PASSIVE_H
#define NB_OMP_PASSIVE_H

#include "config.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void nb_omp_passive(char **argv)
{
#ifdef HAVE_OMP_SET_NUM_THREADS
	const char *pre = getenv("LD_PRELOAD");
	if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") ||
	    (pre && strstr(pre, "vgpreload")))
		return;
	if (setenv("OMP_WAIT_POLICY", "passive", 1) ||
	    setenv("GOMP_SPINCOUNT", "0", 1))
		return;
	execv("/proc/self/exe", argv);
	/* no /proc: go on with OpenMP as it was started */
#else
	(void)argv;
#endif
}

#endif
