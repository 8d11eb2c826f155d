/*
 * faultalloc.h - the one test allocator for nb_set_alloc_funcs.  It
 * counts the blocks nabla holds and the malloc and realloc calls it
 * makes, refuses blocks above a size cap (so that tests of huge shapes
 * never reach the C library, or AddressSanitizer's limit), and can make
 * the Nth allocation fail.  Single-threaded: tests set
 * nb_set_num_threads(1) where they sweep.
 *
 * Use: fa_install() before the test's first nabla call (as a Criterion
 * .init, say), fa_uninstall() after its last.  A sweep arms a failure
 * with fa_arm(k) or fa_arm_mode(k, persistent), makes the call, reads
 * fa.failed (did an armed failure happen?) before disarming with
 * fa_arm(-1), which zeroes fa.calls and fa.failed, and compares fa.live
 * with its value before the call (a leak).  fa.mallocs and fa.reallocs
 * are never zeroed: read them twice and subtract.
 */
#ifndef NB_TEST_FAULTALLOC_H
#define NB_TEST_FAULTALLOC_H

#include <stdlib.h>
#include <nabla/nabla.h>

typedef struct fa_state {
	long live;       /* blocks allocated and not yet freed */
	long mallocs;    /* malloc calls ever, refused ones included */
	long reallocs;   /* realloc calls ever, refused ones included */
	long calls;      /* malloc and realloc calls since fa_arm */
	long fail_at;    /* fail the call with this index; -1: none */
	bool persistent; /* and every call after it */
	long failed;     /* calls failed since fa_arm */
	size_t cap;      /* refuse requests above this many bytes */
	size_t refused;  /* requests refused for their size */
} fa_state;

static fa_state fa = {.fail_at = -1, .cap = (size_t)1 << 30};

static inline bool fa_should_fail(size_t n)
{
	long k = fa.calls++;
	if (n > fa.cap) {
		fa.refused++;
		return true;
	}
	if (fa.fail_at >= 0 &&
	    (k == fa.fail_at || (fa.persistent && k > fa.fail_at))) {
		fa.failed++;
		return true;
	}
	return false;
}

static inline void *fa_malloc(size_t n)
{
	fa.mallocs++;
	if (fa_should_fail(n))
		return NULL;
	void *p = malloc(n);
	fa.live += p != NULL;
	return p;
}

static inline void *fa_realloc(void *p, size_t n)
{
	fa.reallocs++;
	if (fa_should_fail(n))
		return NULL;
	void *q = realloc(p, n);
	fa.live += q && !p;
	return q;
}

static inline void fa_free(void *p)
{
	fa.live -= p != NULL;
	free(p);
}

static inline void fa_install(void)
{
	nb_set_alloc_funcs(fa_malloc, fa_realloc, fa_free);
}

static inline void fa_uninstall(void)
{
	nb_set_alloc_funcs(NULL, NULL, NULL);
}

/* Fails the call of index k from now on (k < 0: none); persistent:
 * that call and every later one. */
static inline void fa_arm_mode(long k, bool persistent)
{
	fa.calls = 0;
	fa.failed = 0;
	fa.fail_at = k;
	fa.persistent = persistent;
}

static inline void fa_arm(long k)
{
	fa_arm_mode(k, false);
}

#endif
