/*
 * test_grain.c - the pool's minimum work per thread (issue 17 item 2),
 * tested by which thread ran each chunk, never by the clock: a loop
 * below the minimum runs on the calling thread only; a longer one does
 * reach a worker (the caller's first chunk waits for one to show up);
 * no more threads take part than the work can feed; nested loops run
 * inline; and a float reduction over chunks gives the same bits at any
 * thread count.  Built with lib/parallel.c compiled in (nb__parallel_for
 * is not exported).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "internal.h"

#define MAX_CHUNKS 4096
#define MAX_SEEN 16

typedef struct probe {
	pthread_t caller;
	size_t n, grain;
	bool rendezvous;          /* the first chunk on the caller waits for
	                             a worker's, and a worker's first chunk
	                             for the caller's */
	bool stall;               /* every chunk sleeps 2 ms */
	bool waited;              /* the caller waited (only the caller's
	                             thread reads and writes it) */
	atomic_bool other_ran;    /* some chunk ran off the caller's thread */
	atomic_bool caller_ran;   /* some chunk ran on the caller's thread */
	atomic_int calls[MAX_CHUNKS];
	pthread_mutex_t mu;
	pthread_t seen[MAX_SEEN]; /* distinct threads that ran chunks */
	int n_seen;
	const float *x;           /* reduction: chunk k's float sum */
	float sums[MAX_CHUNKS];
} probe;

static void sleep_ms(long ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000};
	nanosleep(&t, NULL);
}

static void note_thread(probe *p)
{
	pthread_t me = pthread_self();
	pthread_mutex_lock(&p->mu);
	bool known = false;
	for (int i = 0; i < p->n_seen; i++)
		known = known || pthread_equal(p->seen[i], me);
	if (!known && p->n_seen < MAX_SEEN)
		p->seen[p->n_seen++] = me;
	pthread_mutex_unlock(&p->mu);
}

static void chunk(void *ctx, size_t lo, size_t hi)
{
	probe *p = ctx;
	size_t k = lo / p->grain;
	/* The chunk's bounds follow from the grain alone. */
	if (lo % p->grain || hi != (lo + p->grain < p->n ? lo + p->grain : p->n)
	    || k >= MAX_CHUNKS)
		return; /* counted as missing below */
	atomic_fetch_add(&p->calls[k], 1);
	note_thread(p);
	bool on_caller = pthread_equal(pthread_self(), p->caller);
	/* Each side says it ran before it waits for the other, so the two
	 * waits cannot block each other. */
	atomic_store(on_caller ? &p->caller_ran : &p->other_ran, true);
	if (p->rendezvous && on_caller && !p->waited) {
		/* A liveness bound, not a timing: a worker that never comes
		 * fails the test after 20 s instead of hanging it. */
		p->waited = true;
		for (int i = 0; i < 20000 && !atomic_load(&p->other_ran); i++)
			sleep_ms(1);
	}
	/* And a worker waits for the caller: under valgrind, which runs one
	 * thread at a time, the worker it woke could otherwise take every
	 * chunk before the caller took one (CI saw it once). */
	if (p->rendezvous && !on_caller)
		for (int i = 0; i < 20000 && !atomic_load(&p->caller_ran); i++)
			sleep_ms(1);
	if (p->stall)
		sleep_ms(2);
	if (p->x) {
		float s = 0;
		for (size_t i = lo; i < hi; i++)
			s += p->x[i];
		p->sums[k] = s;
	}
}

/* One loop of n items; no assertions (it also runs on pool workers). */
static probe *probe_loop(size_t n, size_t grain, size_t item_work,
                         bool rendezvous, bool stall, const float *x)
{
	probe *p = calloc(1, sizeof *p);
	if (!p)
		abort();
	*p = (probe){.caller = pthread_self(), .n = n, .grain = grain,
	             .rendezvous = rendezvous, .stall = stall, .x = x};
	pthread_mutex_init(&p->mu, NULL);
	nb__parallel_for(n, grain, item_work, chunk, p);
	return p;
}

static bool each_chunk_once(const probe *p)
{
	for (size_t k = 0; k < (p->n + p->grain - 1) / p->grain; k++)
		if (atomic_load(&p->calls[k]) != 1)
			return false;
	return true;
}

static probe *run(int threads, size_t n, size_t grain, size_t item_work,
                  bool rendezvous, bool stall, const float *x)
{
	cr_assert_eq(nb_set_num_threads(threads), NB_OK);
	probe *p = probe_loop(n, grain, item_work, rendezvous, stall, x);
	size_t chunks = (n + grain - 1) / grain;
	for (size_t k = 0; k < chunks; k++)
		cr_assert_eq(atomic_load(&p->calls[k]), 1,
		             "chunk %zu ran %d times", k,
		             atomic_load(&p->calls[k]));
	return p;
}

static void done(probe *p)
{
	pthread_mutex_destroy(&p->mu);
	free(p);
}

Test(grain, small_loops_stay_on_the_calling_thread)
{
	/* Just under two tasks' work, with threads to spare, in 50 chunks
	 * that each sleep 2 ms, so a worker woken for them would have time
	 * to take one: none may. */
	size_t work = 2 * NB__MIN_TASK_WORK - 1;
	probe *p = run(4, work, work / 50 + 1, 1, false, true, NULL);
	cr_expect(!atomic_load(&p->other_ran));
	cr_expect_eq(p->n_seen, 1);
	done(p);
	/* The same as few items of large cost. */
	p = run(4, 50, 1, work / 50, false, true, NULL);
	cr_expect(!atomic_load(&p->other_ran));
	done(p);
	/* And no work stated at all. */
	p = run(4, 50, 1, 0, false, true, NULL);
	cr_expect(!atomic_load(&p->other_ran));
	done(p);
}

Test(grain, long_loops_reach_a_worker)
{
	/* Enough for two tasks: the caller holds its first chunk until a
	 * worker has run one, and the worker its chunk until the caller has,
	 * so this cannot pass by running serially, and both take part. */
	probe *p = run(2, 64, 1, NB__MIN_TASK_WORK / 32, true, false, NULL);
	cr_expect(atomic_load(&p->other_ran), "no worker took a chunk");
	cr_expect_eq(p->n_seen, 2);
	done(p);
}

Test(grain, no_more_threads_than_the_work_feeds)
{
	/* Three tasks' work over 48 slow chunks, 8 threads allowed: at most
	 * 3 threads may take part (every chunk sleeps, so idle workers would
	 * have time to join). */
	probe *p = run(8, 48, 1, NB__MIN_TASK_WORK / 16, true, true, NULL);
	cr_expect(atomic_load(&p->other_ran));
	cr_expect_leq(p->n_seen, 3, "%d threads for 3 tasks' work", p->n_seen);
	done(p);
}

static void nested(void *ctx, size_t lo, size_t hi)
{
	(void)lo;
	(void)hi;
	atomic_int *bad = ctx;
	if (nb__threads_free() != 1)
		atomic_fetch_add(bad, 1);
	probe *p = probe_loop(64, 1, NB__MIN_TASK_WORK, false, false, NULL);
	if (atomic_load(&p->other_ran) || p->n_seen != 1 ||
	    !each_chunk_once(p))
		atomic_fetch_add(bad, 1);
	done(p);
}

Test(grain, nested_loops_run_inline)
{
	atomic_int bad = 0;
	nb_set_num_threads(2);
	cr_expect_eq(nb__threads_free(), 2);
	nb__parallel_for(8, 1, NB__MIN_TASK_WORK, nested, &bad);
	cr_expect_eq(atomic_load(&bad), 0, "a nested loop left its thread");
	cr_expect_eq(nb__threads_free(), 2);
}

Test(grain, reductions_give_the_same_bits_at_any_thread_count)
{
	size_t n = 4 * NB__MIN_TASK_WORK + 12345, grain = 1000;
	size_t chunks = (n + grain - 1) / grain;
	float *x = malloc(n * sizeof *x);
	cr_assert_not_null(x);
	uint32_t s = 12345;
	for (size_t i = 0; i < n; i++) { /* values whose sums round */
		s = s * 1664525u + 1013904223u;
		x[i] = (float)(s >> 8) / 65536.0f - 128.0f + 1e-3f * (float)i;
	}
	float want[MAX_CHUNKS];
	probe *p = run(1, n, grain, 1, false, false, x);
	memcpy(want, p->sums, chunks * sizeof *want);
	cr_expect_eq(p->n_seen, 1);
	done(p);
	int counts[] = {2, 3, 8};
	for (int t = 0; t < 3; t++) {
		p = run(counts[t], n, grain, 1, true, false, x);
		cr_expect(atomic_load(&p->other_ran), "%d threads: ran serially",
		          counts[t]);
		cr_expect(!memcmp(want, p->sums, chunks * sizeof *want),
		          "%d threads: other bits", counts[t]);
		done(p);
	}
	free(x);
}
