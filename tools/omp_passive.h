/*
 * omp_passive.h - included once by a program's main file: asks OpenMP
 * (oneDNN's runtime) to let its idle threads sleep, unless the
 * environment already says otherwise (OMP_WAIT_POLICY).
 *
 * Why: libgomp's idle threads spin for about 3 ms after every parallel
 * region and in its barriers by default.  nabla's own pool and
 * OpenBLAS's threads then find their cores taken, and at 2 threads a
 * step ran 3 to 30 times slower than at 1 (doc/performance.md,
 * "Threads").  libgomp reads the variable once, in its constructor,
 * before any code of the program runs, so it cannot be set from
 * main() or from the library: a function in the executable's
 * .preinit_array runs before every shared library's constructors, and
 * sets it there.  Only programs do this (a library must not change its
 * host's environment); doc/nabla.1 tells library users to set it.
 */
#ifndef NB_OMP_PASSIVE_H
#define NB_OMP_PASSIVE_H

#include <stdlib.h>

static void nb_omp_passive(int argc, char **argv, char **envp)
{
	(void)argc;
	(void)argv;
	(void)envp;
	setenv("OMP_WAIT_POLICY", "passive", 0); /* 0: the user's wins */
}

__attribute__((section(".preinit_array"), used))
static void (*const nb_omp_passive_entry)(int, char **, char **) =
	nb_omp_passive;

#endif
