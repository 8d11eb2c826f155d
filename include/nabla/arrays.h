/*
 * nabla/arrays.h - your own data: NumPy's .npy and .npz files and CSV
 * with a header line, as tensors and as data sets (doc/data.md).
 *
 * Every reader treats its file as hostile: a malformed file is NB_EFORMAT
 * (NB_EDTYPE for an element type nabla has no tensor for), never a crash,
 * and the message names the file, the array (an .npz member, a CSV
 * column) and the problem.  NB_EIO when the file cannot be read.  Writers
 * replace the file atomically, as checkpoints do (doc/checkpoints.md,
 * "Saving"): a temporary beside it, synced, renamed over it; on any
 * failure the old file is left as it was.
 *
 * .npz support needs libzip (configure says whether it was found):
 * without it the nb_npz_* functions fail with NB_ESTATE and say so.
 * libzip allocates with the C library's malloc, not nb_set_alloc_funcs'.
 */
#ifndef NABLA_ARRAYS_H
#define NABLA_ARRAYS_H

#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Reads a .npy file (format versions 1.0, 2.0 and 3.0) into a new
 * persistent tensor (free with nb_tensor_free).  Element types: '<f4'
 * and '>f4' become float32, '<f8' and '>f8' float64, the integer types
 * i1 i2 i4 i8 u1 u2 u4 u8 (either byte order) int64 (a u8 value above
 * INT64_MAX is NB_EFORMAT), '|b1' bool.  Fortran-ordered arrays are
 * transposed into nabla's row-major order.  0-d arrays become rank-0
 * tensors; empty arrays keep their shape.  Refused: float16, complex,
 * strings, objects, structured types (NB_EDTYPE); a rank above
 * NB_MAX_DIMS, a header longer than 100,000 bytes, a malformed header,
 * a shape whose size overflows, data shorter or longer than the shape
 * says, a bool byte other than 0 and 1 (NB_EFORMAT).  NULL on error with
 * nb_last_error(); NB_EINVAL for a NULL path.
 */
nb_tensor *nb_npy_load(const char *path);

/*
 * Writes t (any dtype; float32 '<f4', float64 '<f8', int64 '<i8', bool
 * '|b1') as a .npy file of format version 1.0 that numpy.load reads.
 * Atomic (see above).  NB_EINVAL for a NULL path or t; NB_EIO naming
 * the step that failed.
 */
nb_status nb_npy_save(const char *path, const nb_tensor *t);

/* An open .npz archive (opaque). */
typedef struct nb_npz nb_npz;

/*
 * Opens a .npz archive (numpy.savez: stored members;
 * numpy.savez_compressed: deflated) for reading.  *out gets the handle,
 * closed with nb_npz_close; NULL on error.  NB_EIO when the file cannot
 * be opened, NB_EFORMAT when it is not a zip archive, NB_ESTATE without
 * libzip.  Members are read only when asked for.
 */
nb_status nb_npz_open(const char *path, nb_npz **out);
void nb_npz_close(nb_npz *z); /* NULL: a no-op */

/* The number of arrays and the name of array i (0 <= i < count): a
 * member "x.npy" is named "x".  Borrowed, valid until nb_npz_close; NULL
 * for an i out of range or a NULL z. */
size_t nb_npz_count(const nb_npz *z);
const char *nb_npz_name(const nb_npz *z, size_t i);

/*
 * Reads the array name as nb_npy_load reads a .npy file; messages name
 * the archive and the array.  NB_ENOTFOUND for a name the archive does
 * not hold (the message lists the names it holds), NB_EFORMAT for a
 * member that is not a .npy file or whose compressed data is corrupt (a
 * CRC or length mismatch).  NULL on error; NB_EINVAL for a NULL z or
 * name.
 */
nb_tensor *nb_npz_read(nb_npz *z, const char *name);

/*
 * Writes n arrays as a .npz archive that numpy.load reads: member
 * names[i] + ".npy" holds tensors[i].  compress: deflate the members
 * (numpy.savez_compressed) rather than store them (numpy.savez).
 * Names must be non-empty, unique, and hold no '/' or NUL.  The
 * archive is built in memory, then replaces path atomically.
 * NB_EINVAL for NULL arguments or a bad name, NB_EIO, NB_ENOMEM,
 * NB_ESTATE without libzip.
 */
nb_status nb_npz_save(const char *path, const char *const *names,
                      const nb_tensor *const *tensors, size_t n,
                      bool compress);

/*
 * Reads a CSV file whose first line names the columns, and whose other
 * lines hold numbers, into a new persistent [rows, columns] tensor of dt
 * (NB_F32 or NB_F64).  Cells may be quoted ("1.5"), padded with spaces,
 * written as integers, decimals, exponents, nan, inf, -inf or infinity
 * (any case); an empty cell is NaN (as pandas writes missing values).
 * Lines end in LF or CRLF, the last one with or without it; empty lines
 * are skipped; a UTF-8 byte-order mark is skipped.  A cell that is not a
 * number, or a row with more or fewer cells than the header, is
 * NB_EFORMAT with FILE:LINE:COLUMN and the column's name.  If columns is
 * not NULL it gets a NULL-terminated array of the column names (free it
 * with nb_csv_columns_free).  NULL on error; NB_EINVAL for a NULL path
 * or another dt.
 */
nb_tensor *nb_csv_load(const char *path, nb_dtype dt, char ***columns);
void nb_csv_columns_free(char **columns); /* NULL: a no-op */

/* How nb_dataset_from_arrays reads the targets y. */
typedef enum nb_targets {
	NB_TARGETS_AUTO = 0, /* integer or bool y: classes; float y: values */
	NB_TARGETS_CLASSES,  /* class indices (whole numbers >= 0) */
	NB_TARGETS_VALUES    /* regression values (or 0/1 for bce) */
} nb_targets;

/*
 * A data set from arrays (copied; the caller keeps them): inputs x
 * [N, ...] of any dtype become float32 [N, features] (rank > 2
 * flattened), targets y [N] or [N, k].  Class targets become int64 [N]
 * with d->classes = the largest class + 1; value targets become float32
 * [N, k] (k = 1 for a y of rank 1) with d->classes = 0.  When x_test and
 * y_test are NULL, a fraction val_split (0 < val_split < 1) of the rows,
 * chosen by a shuffle seeded with seed, is held out as the test set
 * (at least one row each way).  name (the file, for messages and
 * d->name; NULL: "arrays") prefixes every error: NB_EINVAL for NULL x
 * or y, one of x_test and y_test alone, a val_split outside (0, 1) when
 * it is needed; NB_EFORMAT for row counts that differ, test features
 * that differ from the training ones, too few rows to hold any out,
 * a non-finite input, a class target that is negative or not a whole
 * number, a non-finite value target.  *d is zeroed on error.
 */
nb_status nb_dataset_from_arrays(nb_dataset *d, const char *name,
                                 const nb_tensor *x, const nb_tensor *y,
                                 const nb_tensor *x_test,
                                 const nb_tensor *y_test, nb_targets targets,
                                 double val_split, uint64_t seed);

/*
 * A data set from a file, by its name: FILE.npz with arrays x and y
 * (and optionally x_test and y_test), or FILE.csv whose column target
 * holds y and whose other columns are x (a CSV's targets are values
 * unless targets is NB_TARGETS_CLASSES).  target is needed for CSV and
 * ignored for .npz.  Then as nb_dataset_from_arrays.  NB_ENOTFOUND for
 * a missing array or column (the message lists those present),
 * NB_EINVAL for another extension or a NULL path or d.
 */
nb_status nb_dataset_load(nb_dataset *d, const char *path,
                          const char *target, nb_targets targets,
                          double val_split, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
