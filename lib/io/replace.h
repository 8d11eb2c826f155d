/*
 * replace.h - replacing a file atomically (lib/io/replace.c), for
 * checkpoint saves.  Private.
 *
 * The data goes to a new temporary file in path's directory, created
 * with O_CREAT | O_EXCL (so no existing file and no symbolic link
 * planted at its name is ever opened), synced, given path's mode (and
 * owner, where allowed), renamed over path, and the directory is synced.
 * Each save has its own temporary, so concurrent saves to one path end
 * with one complete file: the last rename wins.  Every failure removes
 * the temporary.  doc/checkpoints.md, "Saving", is the contract.
 */
#ifndef NB_IO_REPLACE_H
#define NB_IO_REPLACE_H

#include <stdbool.h>
#include <sys/stat.h>
#include "internal.h"

typedef struct nb__replace {
	const char *path;    /* set by the caller, with fd = -1 */
	char *dir;           /* path's directory, for syncing it */
	char *tmp;           /* the temporary, once created */
	int fd;              /* the temporary, open for writing */
	bool keep;           /* path is a regular file: keep its mode, owner */
	struct stat old;
	mode_t mode;         /* the new file's mode */
} nb__replace;

/* What path is: nothing (a new file), a regular file (replaced, its
 * mode kept) or a symbolic link (the link itself is replaced, its target
 * untouched).  A directory or a device is NB_EIO. */
nb_status nb__replace_check(nb__replace *s);
/* Creates the temporary (s->fd, s->tmp); NB_EIO naming the directory,
 * NB_ENOMEM. */
nb_status nb__replace_open(nb__replace *s);
/* Gives the temporary its owner and mode, syncs and closes it, renames
 * it over path, syncs the directory.  NB_EIO names the step. */
nb_status nb__replace_commit(nb__replace *s);
/* Closes and removes the temporary, if any; frees what s holds.  Call
 * it after every nb__replace_check, whatever happened. */
void nb__replace_end(nb__replace *s);
/* Writes n bytes, through partial writes and interruptions; false with
 * errno on failure. */
bool nb__write_all(int fd, const void *p, size_t n);

#endif
