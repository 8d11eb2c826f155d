/*
 * tmpdir.h - one private temporary directory per test process, made
 * under the build directory (NB_BUILDDIR, else ".") as
 * tests/NAME.XXXXXX by mkdtemp, and removed with everything in it by a
 * walk of the tree: no shell, no quoting of paths.  Tests that write files call
 * nbt_tmpdir_make() in their suite's init and nbt_tmpdir_remove() in its
 * fini; nbt_tmpdir_path() names a file inside.
 */
#ifndef NB_TEST_TMPDIR_H
#define NB_TEST_TMPDIR_H

#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>

static char nbt_tmpdir[PATH_MAX];

/* Makes the directory (an absolute path); fails the test if it cannot. */
static inline const char *nbt_tmpdir_make(const char *name)
{
	const char *b = getenv("NB_BUILDDIR");
	char *top = realpath(b && *b ? b : ".", NULL);
	cr_assert_not_null(top, "no build directory");
	int n = snprintf(nbt_tmpdir, sizeof nbt_tmpdir, "%s/tests/%s.XXXXXX",
	                 top, name);
	free(top);
	cr_assert(n > 0 && (size_t)n < sizeof nbt_tmpdir, "path too long");
	cr_assert_not_null(mkdtemp(nbt_tmpdir), "mkdtemp %s", nbt_tmpdir);
	return nbt_tmpdir;
}

/* dir/name in a static buffer (each call overwrites the last). */
static inline const char *nbt_tmpdir_path(const char *name)
{
	static char path[PATH_MAX + 256];
	snprintf(path, sizeof path, "%s/%s", nbt_tmpdir, name);
	return path;
}

/* Removes path and, for a directory (not a link to one), everything
 * below it; best effort. */
static inline void nbt_tmpdir_rm(const char *path)
{
	struct stat st;
	if (lstat(path, &st))
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		for (struct dirent *e; d && (e = readdir(d));) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char sub[PATH_MAX];
			int n = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
			if (n > 0 && (size_t)n < sizeof sub)
				nbt_tmpdir_rm(sub);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

/* Removes the directory and everything below it (links not followed). */
static inline void nbt_tmpdir_remove(void)
{
	if (nbt_tmpdir[0])
		nbt_tmpdir_rm(nbt_tmpdir);
	nbt_tmpdir[0] = '\0';
}

#endif
