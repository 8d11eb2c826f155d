/*
 * replay.c - runs a fuzz target on the files of its committed corpus, so
 * that every build's make check replays what the fuzzers found (and the
 * seeds), with gcc as with clang, without libFuzzer.
 *
 *   replay_TARGET [--tap=-] [FILE|DIR...]
 *
 * Without file arguments: $NB_TOP_SRCDIR/tests/fuzz/corpus/TARGET.  Prints
 * TAP, one test per file, in name order; a crash stops the program (and
 * the TAP driver reports it).
 */
#undef main /* the CLI target is built with -Dmain=nabla_main */
#include <dirent.h>
#include <sys/stat.h>
#include "fuzz.h"

#ifndef NB_FUZZ_TARGET
#error "define NB_FUZZ_TARGET, the corpus directory's name"
#endif

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the regular files of path (a file, or a directory's) to *v. */
static void collect(const char *path, char ***v, size_t *n, size_t *cap)
{
	struct stat st;
	if (stat(path, &st))
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char sub[4096];
			snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			collect(sub, v, n, cap);
		}
		if (d)
			closedir(d);
		return;
	}
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		*v = realloc(*v, *cap * sizeof **v);
		if (!*v)
			abort();
	}
	(*v)[(*n)++] = strdup(path);
}

static uint8_t *slurp(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, got;
	if (!f)
		return NULL;
	do {
		if (n == cap && !(buf = realloc(buf, cap = cap * 2 + 4096)))
			abort();
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	*size = n;
	return buf;
}

int main(int argc, char **argv)
{
	char **files = NULL, dir[4096];
	size_t n = 0, cap = 0;
	int given = 0;
	/* TAP on a copy of stdout: a target may point stdout elsewhere
	 * (the CLI's sends the commands' output to /dev/null). */
	FILE *tap = fdopen(dup(1), "w");
	if (!tap)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--", 2)) {
			collect(argv[i], &files, &n, &cap);
			given = 1;
		}
	if (!given) {
		const char *top = getenv("NB_TOP_SRCDIR");
		snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s",
		         top && *top ? top : ".", NB_FUZZ_TARGET);
		collect(dir, &files, &n, &cap);
	}
	if (n)
		qsort(files, n, sizeof *files, by_name);
	fprintf(tap, "1..%zu\n", n ? n : 1);
	if (!n) {
		fprintf(tap, "not ok 1 - no corpus files for %s\n",
		        NB_FUZZ_TARGET);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t size = 0;
		uint8_t *data = slurp(files[i], &size);
		fflush(tap);
		if (data || !size)
			LLVMFuzzerTestOneInput(data ? data : (const uint8_t *)"",
			                       size);
		fprintf(tap, "%s %zu - %s\n", data ? "ok" : "not ok", i + 1,
		        files[i]);
		free(data);
		free(files[i]);
	}
	free(files);
	fclose(tap);
	return 0;
}
