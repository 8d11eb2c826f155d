/*
 * arrays_internal.h - what the readers and writers of lib/io/npy.c,
 * npz.c, csv.c and userdata.c share.  Private.
 */
#ifndef NB_IO_ARRAYS_INTERNAL_H
#define NB_IO_ARRAYS_INTERNAL_H

#include "internal.h"

/* The longest .npy header read (NumPy's own default limit is 10,000). */
#define NB_NPY_MAX_HEADER 100000

/*
 * Parses a whole .npy file held in b[0..n) into a new persistent
 * tensor.  file and array (NULL for a plain .npy) name it in messages.
 */
nb_tensor *nb__npy_parse(const unsigned char *b, size_t n, const char *file,
                         const char *array);

/*
 * The .npy header of t (magic, version, length, the dict, padding to a
 * multiple of 64) in a new buffer of *len bytes (nb__free it); NULL
 * when memory runs out.
 */
unsigned char *nb__npy_header(const nb_tensor *t, size_t *len);

/*
 * t's data as a .npy stores it (little-endian): t's own buffer on a
 * little-endian machine (*copy NULL), else a swapped copy in *copy
 * (nb__free it).  NULL when memory runs out.
 */
const void *nb__npy_data(const nb_tensor *t, void **copy);

/*
 * Reads the whole file into a new buffer (nb__free it; one spare NUL
 * byte after the n bytes), growing with what is read.  NB_EIO naming
 * path, NB_ENOMEM.
 */
nb_status nb__read_whole(const char *path, unsigned char **buf, size_t *n);

#endif
