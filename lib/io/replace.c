/*
 * replace.c - replacing a file atomically: a unique temporary beside it,
 * synced, renamed over it, the directory synced (replace.h says how and
 * why; doc/checkpoints.md, "Saving", is the contract).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "replace.h"

/* Checks what path is: nothing (a new file), a regular file (replaced,
 * its mode kept) or a symbolic link (the link itself is replaced, its
 * target untouched).  A directory or a device is an error: renaming
 * over it is never what the caller meant. */
nb_status nb__replace_check(nb__replace *s)
{
	if (lstat(s->path, &s->old)) {
		if (errno == ENOENT)
			return NB_OK;
		return nb__set_error(NB_EIO, "%s: cannot save: %s", s->path,
		                     strerror(errno));
	}
	if (S_ISDIR(s->old.st_mode))
		return nb__set_error(NB_EIO, "%s: cannot save: it is a directory",
		                     s->path);
	if (!S_ISREG(s->old.st_mode) && !S_ISLNK(s->old.st_mode))
		return nb__set_error(NB_EIO, "%s: cannot save: not a regular file "
		                     "(saving replaces the file, it does not "
		                     "write into it)", s->path);
	s->keep = S_ISREG(s->old.st_mode);
	return NB_OK;
}

/* A fresh name for the temporary: path ".tmp-" and 8 letters or digits
 * from the clock, the process, the thread's stack and the attempt. */
static void temp_name(nb__replace *s, size_t plen, unsigned attempt)
{
	static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM"
	                          "NOPQRSTUVWXYZ0123456789";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^
	             (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)&ts ^
	             (uint64_t)attempt * 0x9e3779b97f4a7c15u;
	x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9u;  /* splitmix64's finish */
	x = (x ^ x >> 27) * 0x94d049bb133111ebu;
	x ^= x >> 31;
	memcpy(s->tmp, s->path, plen);
	memcpy(s->tmp + plen, ".tmp-", 5);
	for (int i = 0; i < 8; i++, x /= 62)
		s->tmp[plen + 5 + i] = abc[x % 62];
	s->tmp[plen + 13] = '\0';
}

/* path's directory: everything before the last '/', "/" or ".". */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return nb__strdup(".");
	size_t n = slash == path ? 1 : (size_t)(slash - path);
	char *d = nb__malloc(n + 1);
	if (d) {
		memcpy(d, path, n);
		d[n] = '\0';
	}
	return d;
}

/* Creates the temporary, readable and writable by the owner only while
 * it is written; s->mode is path's mode, or for a new file the mode
 * fopen would give (0666 less the umask, read back from the kernel
 * rather than by calling umask(), which is not thread-safe). */
nb_status nb__replace_open(nb__replace *s)
{
	size_t plen = strlen(s->path);
	struct stat sb;
	s->fd = -1;
	if (!(s->dir = dir_of(s->path)) || !(s->tmp = nb__malloc(plen + 14)))
		return nb__set_error(NB_ENOMEM, "safetensors: out of memory");
	for (unsigned i = 0; s->fd < 0 && i < 100; i++) {
		temp_name(s, plen, i);
		s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		             O_CLOEXEC, 0666);
		if (s->fd < 0 && errno != EEXIST)
			break;
	}
	if (s->fd < 0) {
		nb_status st = nb__set_error(NB_EIO, "%s: cannot save: creating a "
		                             "file in %s: %s", s->path,
		                             s->dir, strerror(errno));
		nb__free(s->tmp);
		s->tmp = NULL;
		return st;
	}
	if (fstat(s->fd, &sb) || fchmod(s->fd, S_IRUSR | S_IWUSR))
		return nb__set_error(NB_EIO, "%s: cannot save: %s: %s", s->path,
		                     s->tmp, strerror(errno));
	s->mode = s->keep ? s->old.st_mode & 07777 : sb.st_mode & 0777;
	return NB_OK;
}

/* Closes and removes the temporary, if any; frees what s holds. */
void nb__replace_end(nb__replace *s)
{
	if (s->fd >= 0)
		close(s->fd);
	if (s->tmp)
		unlink(s->tmp);
	nb__free(s->tmp);
	nb__free(s->dir);
}

/* Gives the temporary its owner and mode, syncs and closes it, renames
 * it over path, and syncs the directory so that the rename survives a
 * crash. */
nb_status nb__replace_commit(nb__replace *s)
{
	const char *what = NULL;
	int err = 0;
	if (s->keep && (s->old.st_uid != geteuid() ||
	    s->old.st_gid != getegid()) &&
	    fchown(s->fd, s->old.st_uid, s->old.st_gid))
		(void)!fchown(s->fd, (uid_t)-1, s->old.st_gid); /* best effort */
	if (fchmod(s->fd, s->mode))
		what = "setting the mode of";
	else if (fsync(s->fd))
		what = "syncing";
	err = errno;
	if (close(s->fd) && !what) {
		what = "closing";
		err = errno;
	}
	s->fd = -1; /* closed, even when close failed */
	if (what)
		return nb__set_error(NB_EIO, "%s: cannot save: %s %s: %s",
		                     s->path, what, s->tmp, strerror(err));
	if (rename(s->tmp, s->path))
		return nb__set_error(NB_EIO, "%s: cannot save: renaming %s: %s",
		                     s->path, s->tmp, strerror(errno));
	nb__free(s->tmp);
	s->tmp = NULL;
	/* A directory that cannot be opened for reading, or whose file
	 * system cannot sync directories (EINVAL), is left unsynced. */
	int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		bool bad = fsync(dfd) && errno != EINVAL;
		err = errno;
		close(dfd);
		if (bad)
			return nb__set_error(NB_EIO, "%s: saved, but syncing the "
			                     "directory %s failed: %s (the file may "
			                     "not survive a crash)", s->path, s->dir,
			                     strerror(err));
	}
	return NB_OK;
}

/* Writes n bytes, through partial writes and interruptions. */
bool nb__write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	while (n) {
		ssize_t k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO;
			return false;
		}
		b += k;
		n -= (size_t)k;
	}
	return true;
}
