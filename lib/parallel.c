/*
 * parallel.c - nabla's thread count and a small pool for its own kernels.
 *
 * nb__parallel_for splits [0, n) into chunks of a fixed grain, so which
 * elements form a chunk never depends on the thread count: kernels that
 * reduce per chunk and combine chunks in index order give the same bits
 * with 1 thread or 8.  Workers sleep on a condition variable (no
 * spinning, which would steal cores from BLAS's threads between
 * kernels).  One job runs at a time; a caller that finds the pool busy
 * (another graph on another thread) runs its loop itself.
 *
 * A second thread only helps when the loop is long enough to pay for
 * waking it (a futex and, on a virtual machine, an interrupt to a halted
 * CPU: tens of microseconds) and for waiting for its last chunk.  So the
 * caller states each item's work, and every thread taking part gets at
 * least NB__MIN_TASK_WORK of it: a loop of less than twice that runs on
 * the calling thread alone, and a longer one wakes only as many workers as
 * it can feed.  That decision reads the work and the thread count, never
 * the chunking, so the bits stay the same either way.
 *
 * Inside a chunk, everything should run on one thread: a nested
 * nb__parallel_for runs inline, and nb__threads_free() is 1, the count
 * to give a library with threads of its own (oneDNN's OpenMP), so that
 * nabla's, OpenBLAS's and OpenMP's threads never add up to more than the
 * count set.  No kernel calls such a library from a chunk today.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "config.h"
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
#include <cblas.h>
#endif

#define MAX_THREADS 64


/* How long (ns) the caller polls for the workers' last chunks before it
 * sleeps: a chunk is some tens of microseconds, and sleeping costs a
 * wake-up of about as much (an interrupt to a halted virtual CPU). */
#define FINISH_POLL_NS 30000

static _Thread_local bool in_chunk; /* this thread runs a pool chunk */

static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static atomic_int n_threads = 1;

typedef struct job {
	nb__range_fn fn;
	void *ctx;
	size_t n, grain, chunks;
	atomic_size_t next;  /* next chunk to take */
	atomic_size_t done;  /* chunks finished */
	int seats;           /* workers still allowed to join (under lock) */
	atomic_int active;   /* workers inside run_chunks (changed under
	                        lock): the caller's frame holds the job, so it
	                        waits for them to leave, not only for the
	                        chunks */
} job;

static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t finished = PTHREAD_COND_INITIALIZER;
static job *current;
static uint64_t job_seq;
static int n_workers;

static void run_chunks(job *j)
{
	size_t k;
	in_chunk = true;
	while ((k = atomic_fetch_add(&j->next, 1)) < j->chunks) {
		size_t lo = k * j->grain;
		size_t hi = lo + j->grain < j->n ? lo + j->grain : j->n;
		j->fn(j->ctx, lo, hi);
		if (atomic_fetch_add(&j->done, 1) + 1 == j->chunks) {
			pthread_mutex_lock(&lock);
			pthread_cond_broadcast(&finished);
			pthread_mutex_unlock(&lock);
		}
	}
	in_chunk = false;
}

static void *worker(void *arg)
{
	(void)arg;
	uint64_t seen = 0;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (job_seq == seen)
			pthread_cond_wait(&wake, &lock);
		seen = job_seq;
		job *j = current;
		if (!j || j->seats == 0)
			continue;
		j->seats--;
		atomic_fetch_add(&j->active, 1);
		pthread_mutex_unlock(&lock);
		run_chunks(j);
		pthread_mutex_lock(&lock);
		if (atomic_fetch_sub(&j->active, 1) == 1)
			pthread_cond_broadcast(&finished);
	}
	return NULL;
}

/* Starts workers up to want (caller holds pool_busy). */
static void grow(int want)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (n_workers < want) {
		pthread_t t;
		if (pthread_create(&t, &attr, worker, (void *)(intptr_t)n_workers))
			break; /* fewer helpers; the caller does the rest */
		n_workers++;
	}
	pthread_attr_destroy(&attr);
}

static void apply(int n)
{
	atomic_store(&n_threads, n);
#ifdef HAVE_OPENBLAS_SET_NUM_THREADS
	openblas_set_num_threads(n);
#endif
}

/* Reads two numbers "a b" (or "max b": a = -1) from a cgroup file. */
static bool read_pair(const char *path, long long *a, long long *b)
{
	FILE *f = fopen(path, "r");
	char first[32];
	if (!f)
		return false;
	bool ok = fscanf(f, "%31s %lld", first, b) == 2;
	fclose(f);
	if (ok)
		*a = strcmp(first, "max") ? atoll(first) : -1;
	return ok;
}

static long long read_one(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v = -1;
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* A container's CPU limit (docker --cpus: a cgroup quota per period),
 * rounded up; 0 if there is none. */
static long cgroup_cpus(void)
{
	long long quota, period;
	if (!read_pair("/sys/fs/cgroup/cpu.max", &quota, &period)) {
		quota = read_one("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
		period = read_one("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
	}
	if (quota <= 0 || period <= 0)
		return 0;
	return (long)((quota + period - 1) / period);
}

/*
 * The default thread count: the CPUs this process may run on (its
 * affinity mask: taskset, cpusets), no more than a container's CPU
 * quota, rather than every online CPU of the machine: more threads than
 * usable CPUs only take turns on them.
 */
static int default_threads(void)
{
	long c = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
	cpu_set_t set;
	if (!sched_getaffinity(0, sizeof set, &set) && CPU_COUNT(&set) > 0)
		c = CPU_COUNT(&set);
#endif
	long q = cgroup_cpus();
	if (q > 0 && q < c)
		c = q;
	return c > 0 ? (int)(c < MAX_THREADS ? c : MAX_THREADS) : 1;
}

static void init_threads(void)
{
	const char *s = getenv("NB_NUM_THREADS");
	int n = s ? atoi(s) : 0;
	if (n <= 0 || n > MAX_THREADS)
		n = default_threads();
	apply(n);
}

nb_status nb_set_num_threads(int n)
{
	if (n < 1 || n > MAX_THREADS)
		return nb__set_error(NB_EINVAL, "set_num_threads: %d is outside "
		                     "1..%d", n, MAX_THREADS);
	/* The default first, so that it cannot override this call later. */
	pthread_once(&threads_once, init_threads);
	apply(n);
	return NB_OK;
}

int nb_get_num_threads(void)
{
	pthread_once(&threads_once, init_threads);
	return atomic_load(&n_threads);
}

void nb__threads_init(void)
{
	pthread_once(&threads_once, init_threads);
}

int nb__threads_free(void)
{
	return in_chunk ? 1 : nb_get_num_threads();
}

/* Threads worth using: no more than the chunks, NB__MIN_TASK_WORK each. */
static int threads_for(size_t n, size_t item_work, size_t chunks)
{
	size_t work = item_work && n > SIZE_MAX / item_work ? SIZE_MAX
	                                                     : n * item_work;
	size_t t = (size_t)nb_get_num_threads();
	if (work / NB__MIN_TASK_WORK < t)
		t = work / NB__MIN_TASK_WORK;
	if (chunks < t)
		t = chunks;
	return in_chunk || t < 1 ? 1 : (int)t;
}

static bool job_over(job *j)
{
	return atomic_load(&j->done) == j->chunks &&
	       atomic_load(&j->active) == 0;
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/*
 * Polls for the job's end for at most FINISH_POLL_NS, yielding rather
 * than spinning: when the other cores are busy, the worker holding the
 * last chunk may be waiting for this very core.
 */
static void poll_finish(job *j)
{
	int64_t until = now_ns() + FINISH_POLL_NS;
	while (!job_over(j) && now_ns() < until)
		sched_yield();
}

void nb__parallel_for(size_t n, size_t grain, size_t item_work,
                      nb__range_fn fn, void *ctx)
{
	if (grain == 0)
		grain = 1;
	size_t chunks = (n + grain - 1) / grain;
	int threads = threads_for(n, item_work, chunks);
	if (threads <= 1 || pthread_mutex_trylock(&pool_busy)) {
		for (size_t lo = 0; lo < n; lo += grain)
			fn(ctx, lo, lo + grain < n ? lo + grain : n);
		return;
	}
	job j = {.fn = fn, .ctx = ctx, .n = n, .grain = grain,
	         .chunks = chunks, .seats = threads - 1};
	atomic_init(&j.next, 0);
	atomic_init(&j.done, 0);
	atomic_init(&j.active, 0);
	grow(j.seats);
	pthread_mutex_lock(&lock);
	current = &j;
	job_seq++;
	/* Wake only the workers the job has seats for. */
	for (int i = 0; i < j.seats; i++)
		pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	run_chunks(&j);
	poll_finish(&j);
	pthread_mutex_lock(&lock);
	while (!job_over(&j))
		pthread_cond_wait(&finished, &lock);
	current = NULL;
	pthread_mutex_unlock(&lock);
	pthread_mutex_unlock(&pool_busy);
}
