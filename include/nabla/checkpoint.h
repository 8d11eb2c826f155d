/*
 * nabla/checkpoint.h - saving and loading tensors in the safetensors
 * format, so that weights move between nabla and PyTorch.
 *
 * The format (as defined by Hugging Face's safetensors): an unsigned
 * 64-bit little-endian header length N, then N bytes of JSON, then the
 * raw little-endian data of every tensor.  The JSON object maps each
 * tensor name to {"dtype": "F32"|"F64"|"I64"|..., "shape": [...],
 * "data_offsets": [begin, end]} (byte offsets into the data, which the
 * tensors cover exactly, without gaps or overlaps), plus an optional
 * "__metadata__" object of string values.  nabla reads and writes F32,
 * F64 and I64; other dtypes in a file are listed but cannot be read.
 *
 * Reading is defensive: a corrupt, truncated or hostile file is an
 * NB_EFORMAT error naming the file and the problem, never a crash, an
 * out-of-bounds read or an allocation larger than the file.  The header
 * is limited to NB_SAFETENSORS_MAX_HEADER bytes.  Errors are also in
 * nb_last_error().  See doc/checkpoints.md.
 */
#ifndef NABLA_CHECKPOINT_H
#define NABLA_CHECKPOINT_H

#include "model.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_SAFETENSORS_MAX_HEADER (100u << 20)

typedef struct nb_safetensors nb_safetensors;

/*
 * Opens path and checks its header: NB_EIO (cannot open or read),
 * NB_EFORMAT (anything malformed: length, JSON, dtypes, shapes,
 * offsets, names), NB_ENOMEM, NB_EINVAL for a NULL path or out.  *out
 * is NULL on error.  Close with nb_safetensors_close (NULL: a no-op).
 * The file is kept open until then.
 *
 * A NULL f: count 0; name, dtype_str and meta NULL (also for a NULL name
 * or key), without an error; info and read NB_EINVAL (also for a NULL
 * name, and info for a NULL dt, ndim or shape).
 */
nb_status nb_safetensors_open(const char *path, nb_safetensors **out);
void nb_safetensors_close(nb_safetensors *f);

/* The tensors, in the order of their data in the file. */
size_t nb_safetensors_count(const nb_safetensors *f);
/* Name of tensor i (borrowed), or NULL past the end. */
const char *nb_safetensors_name(const nb_safetensors *f, size_t i);
/* The file's dtype string of a tensor ("F32", "BF16"...), or NULL if
 * there is no tensor of that name. */
const char *nb_safetensors_dtype_str(const nb_safetensors *f,
                                     const char *name);
/*
 * dtype and shape of the named tensor (shape: NB_MAX_DIMS entries).
 * NB_ENOTFOUND, or NB_EDTYPE for a dtype nabla does not read.
 */
nb_status nb_safetensors_info(const nb_safetensors *f, const char *name,
                              nb_dtype *dt, int *ndim, int64_t *shape);
/* A new persistent tensor with the named tensor's data; NULL on error
 * (NB_ENOTFOUND, NB_EDTYPE, NB_EIO, NB_ENOMEM). */
nb_tensor *nb_safetensors_read(nb_safetensors *f, const char *name);
/* A value of "__metadata__" (borrowed), or NULL. */
const char *nb_safetensors_meta(const nb_safetensors *f, const char *key);

/*
 * Writes the n tensors (names must be unique and non-empty; F32, F64 or
 * I64) and the metadata meta[0] = meta[1], meta[2] = meta[3], ... up to
 * a NULL key (meta may be NULL) to path.  The header is padded with
 * spaces to a multiple of 8 bytes, as the reference implementation does.
 *
 * path is replaced atomically: the data goes to a new temporary file in
 * path's directory (path ".tmp-" and 8 random letters, created with
 * O_EXCL, so a file or symbolic link already at that name is never
 * opened), which is synced to the disk, given path's permission bits
 * (and owner and group where the process may set them; a new file gets
 * 0666 less the umask, as fopen gives), renamed over path, and the
 * directory is synced.  Readers see the old file or the new one, never
 * a mix; of concurrent saves to one path, the last rename wins.  If path
 * is a symbolic link, the link itself is replaced by the file (its
 * target is untouched).  path must not be a directory or a device.  On
 * any error the temporary is removed and path is left as it was, except
 * when only the final sync of the directory fails (NB_EIO, "saved, but
 * syncing the directory ... failed": the new file is in place).
 * NB_EINVAL (also for a NULL path, t with n > 0, or a NULL name or
 * tensor in t), NB_EIO (with the step that failed and strerror),
 * NB_ENOMEM.
 */
nb_status nb_safetensors_save(const char *path, const nb_named_tensor *t,
                              size_t n, const char *const *meta);

/*
 * Whether nb_safetensors_save(path, ...) can create its file: checks
 * path as the save does (not a directory or a device) and creates and
 * removes a temporary file in its directory the same way.  Call it
 * before long work whose result is to be saved there.  NB_OK, NB_EIO
 * (with the reason: "No such file or directory", "Permission denied",
 * ...), NB_EINVAL (path NULL or empty), NB_ENOMEM.  It cannot promise
 * that the disk will still have room later.
 */
nb_status nb_safetensors_check_writable(const char *path);

/* ---- modules ---- */

/*
 * Saves every parameter and buffer of m under its full name
 * (nb_module_tensors) with the metadata meta (as above), plus
 * "format": "pt" so that PyTorch tools accept the file.
 */
nb_status nb_module_save(nb_module *m, const char *path,
                         const char *const *meta);

/*
 * Saves m as nb_module_save does, plus the optimizer's state (o may be
 * NULL): each entry of nb_optim_state_at as "optim/NAME" ("optim/step",
 * "optim/0.momentum_buffer", ...; parameters by their index in the
 * optimizer), the metadata "nabla.optim" = nb_optim_name(o) and
 * "nabla.optim.params" = nb_optim_param_count(o) in decimal, and each
 * parameter group's hyperparameters as PyTorch's param_groups:
 * "optim/param_groups.G.params" (int64 parameter indices), ".lr",
 * ".weight_decay", ".momentum" (SGD, RMSprop) or ".betas" ([2]: Adam,
 * AdamW), and ".initial_lr" when a schedule set one (float64).  Names
 * starting with "optim/" are reserved for this: nb_module_load skips
 * them, and module names cannot contain '/'.  NB_EINVAL for a NULL m
 * or path (also nb_module_save).
 */
nb_status nb_checkpoint_save(const char *path, nb_module *m,
                             const nb_optim *o, const char *const *meta);
/*
 * Restores o's state from a file written by nb_checkpoint_save for an
 * optimizer of the same kind over the same parameters and groups, and
 * the groups' hyperparameters when the file has them (files before
 * 2026-12 do not: then the options stay as they are).  A file with
 * other groups (their number, their parameters, or a momentum that
 * needs state o lacks) is NB_EINVAL.  NB_ENOTFOUND
 * when the file has no optimizer state or lacks an entry, NB_EINVAL
 * when it was saved by another kind of optimizer or for another number
 * of parameters (metadata "nabla.optim.params", written since 2026-11:
 * another model, or other parameters frozen), NB_ESHAPE/NB_EDTYPE for a
 * mismatched entry, and the errors of nb_safetensors_open.  All entries
 * are checked before any is copied.  NB_EINVAL for a NULL o or path.
 */
nb_status nb_optim_load_state(nb_optim *o, const char *path);

/* What nb_module_load did; the lists are comma-separated names,
 * truncated with "..." when long. */
typedef struct nb_load_report {
	size_t loaded, missing, unexpected;
	char missing_names[256];
	char unexpected_names[256];
} nb_load_report;

/*
 * Loads the tensors of path into m's parameters and buffers by full
 * name (entries named "optim/..." are optimizer state and ignored).  Strict: every tensor of m must be in the file and every
 * tensor of the file must be in m, or NB_ENOTFOUND with a message that
 * lists the missing and unexpected names.  Not strict (fine-tuning):
 * tensors on one side only are skipped and counted in *rep, but if no
 * name matches (and m has tensors) nothing would be loaded, which is
 * NB_ENOTFOUND naming the file ("no tensor name matches").  Always:
 * a tensor whose shape or dtype differs from the module's is an error
 * (NB_ESHAPE, NB_EDTYPE) naming it and both shapes.  Every tensor is
 * read and checked before any is copied, so on error m is unchanged.
 * rep may be NULL.  NB_EINVAL for a NULL m or path.
 */
nb_status nb_module_load(nb_module *m, const char *path, bool strict,
                         nb_load_report *rep);

#ifdef __cplusplus
}
#endif
#endif
