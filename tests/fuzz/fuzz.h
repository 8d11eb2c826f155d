/*
 * fuzz.h - what the fuzz targets of tests/fuzz/ share.
 *
 * Each target defines LLVMFuzzerTestOneInput.  Built with
 * --enable-fuzzing (clang), libFuzzer drives it; in every build,
 * tests/fuzz/replay.c feeds it the committed corpus under make check.
 *
 * The targets install an allocator that refuses blocks above a cap (and
 * can check a bound the code under test promises), so that a hostile
 * size in the input ends as NB_ENOMEM rather than as libFuzzer's
 * out-of-memory report.  Built with -D_GNU_SOURCE (memfd_create).
 */
#ifndef NB_FUZZ_H
#define NB_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <nabla/nabla.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Blocks above fz_cap bytes are refused; above fz_bound they are a bug
 * (abort), when fz_bound is set. */
static size_t fz_cap = (size_t)64 << 20, fz_bound;

static inline void fz_check(size_t n)
{
	if (fz_bound && n > fz_bound) {
		fprintf(stderr, "fuzz: an allocation of %zu bytes exceeds the "
		        "promised bound %zu\n", n, fz_bound);
		abort();
	}
}

static inline void *fz_malloc(size_t n)
{
	fz_check(n);
	return n > fz_cap ? NULL : malloc(n);
}

static inline void *fz_realloc(void *p, size_t n)
{
	fz_check(n);
	return n > fz_cap ? NULL : realloc(p, n);
}

static inline void fz_init_alloc(void)
{
	static int done;
	if (!done) {
		nb_set_alloc_funcs(fz_malloc, fz_realloc, free);
		nb_set_num_threads(1);
		done = 1;
	}
}

/* data as a NUL-terminated string (free it). */
static inline char *fz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (s) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

/*
 * data as a file: a memory file (memfd) whose /proc/self/fd path goes
 * in path.  Returns the descriptor (close it), or -1.
 */
static inline int fz_file(const uint8_t *data, size_t size, char *path, size_t n)
{
	int fd = memfd_create("nabla-fuzz", 0);
	if (fd < 0)
		return -1;
	for (size_t done = 0; done < size;) {
		ssize_t w = write(fd, data + done, size - done);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		done += (size_t)w;
	}
	snprintf(path, n, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
