/*
 * nabla/core.h - status codes, dtypes, the allocator hook and the random
 * number generator.  Include <nabla/nabla.h> rather than this file.
 */
#ifndef NABLA_CORE_H
#define NABLA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0
#define NB_VERSION_STRING "0.1.0"

/* Largest rank of a tensor. */
#define NB_MAX_DIMS 8
/* Largest number of input definitions of one op (a variadic op takes
 * any number of inputs through its last definition). */
#define NB_MAX_INPUTS 16

/*
 * Every fallible call reports one of these.  NB_OK is zero, so
 * `if (st) goto fail;` reads naturally.  nb_strerror() names a code;
 * the message of the failure itself (which names the op and the shapes)
 * comes from nb_last_error() or nb_graph_errmsg().
 */
typedef enum nb_status {
	NB_OK = 0,
	NB_ENOMEM,     /* an allocation failed */
	NB_EINVAL,     /* a bad argument or attribute value */
	NB_ESHAPE,     /* shapes do not fit the op */
	NB_EDTYPE,     /* a dtype the op does not take, or mixed dtypes */
	NB_ENOTFOUND,  /* unknown op, attribute or name */
	NB_EEXIST,     /* a name that is already taken */
	NB_ESTALE,     /* a tensor of a graph that has been reset since */
	NB_EIO,        /* reading or writing a file failed */
	NB_EFORMAT,    /* a file or string is malformed */
	NB_ENONFINITE, /* anomaly mode found a NaN or an infinity */
	NB_ESTATE,     /* the call does not fit the object's state */
	NB_STATUS_COUNT
} nb_status;

/* A static English name for a status code; never NULL. */
const char *nb_strerror(nb_status st);

/*
 * The status and message of the last failed call made by this thread
 * (thread-local, like errno).  A successful call does not clear it.  The
 * message is borrowed: valid until this thread's next failing call.
 */
nb_status nb_last_status(void);
const char *nb_last_error(void);

typedef enum nb_dtype {
	NB_F32 = 0,
	NB_F64 = 1,
	NB_I64 = 2,  /* indices and counts: no op differentiates it */
	NB_BOOL = 3  /* masks and comparison results: one byte, 0 or 1 */
} nb_dtype;

size_t nb_dtype_size(nb_dtype dt);
/* "float32", "float64", "int64", "bool"; "?" for anything else. */
const char *nb_dtype_name(nb_dtype dt);

/*
 * Every allocation nabla makes goes through these three functions.
 * Set them before any other call, or between calls while no nabla
 * object made with the previous functions is alive.  Passing NULL for
 * all three restores the C library's.  The functions must behave as
 * malloc, realloc and free (NULL on failure); nabla treats each NULL as
 * NB_ENOMEM and leaks nothing.
 *
 * jansson, which nabla uses for checkpoint headers, allocates through
 * them too: this call sets jansson's allocator (json_set_alloc_funcs),
 * which is process-wide, so a program that uses jansson itself gets
 * nabla's functions for its own JSON values from then on (free those
 * made before with the functions that made them).  Without this call,
 * nabla's first checkpoint routes jansson the same way only if jansson
 * still has its default malloc and free; a program that gave jansson
 * its own functions keeps them, and nabla's headers then use them.
 * Not routed: zlib's gzip reader (IDX files), the C library's stdio
 * buffers, OpenBLAS's work buffers.
 */
typedef void *(*nb_malloc_fn)(size_t size);
typedef void *(*nb_realloc_fn)(void *ptr, size_t size);
typedef void (*nb_free_fn)(void *ptr);
/* Each NULL function is the C library's. */
void nb_set_alloc_funcs(nb_malloc_fn m, nb_realloc_fn r, nb_free_fn f);

/*
 * Threads used by nabla's own kernels (normalizations, large elementwise
 * work) and, when nabla is built with OpenBLAS, by its matrix products.
 * The default is the environment variable NB_NUM_THREADS, or else the
 * CPUs the process may run on (its affinity mask, capped by a
 * container's cgroup CPU quota).  nabla's own kernels give the same bits
 * for any count (work is split in chunks of fixed size); OpenBLAS's
 * matrix products may round differently with its thread count (the
 * --without-blas build is bit-identical end to end).  NB_EINVAL outside
 * 1..64.
 */
nb_status nb_set_num_threads(int n);
int nb_get_num_threads(void);

/*
 * The random number generator: xoshiro256** (Blackman and Vigna), its
 * state seeded from a 64-bit seed by splitmix64.  Uniform doubles use the
 * top 53 bits of a draw (u = (x >> 11) * 2^-53, in [0, 1)); normal
 * numbers use the Box-Muller transform on two uniforms, caching the
 * second value; dropout's masks use 24-bit uniforms, two per draw
 * (doc/regularization.md).  Integer arithmetic only, so a seed gives the
 * same numbers on every machine (normal numbers: up to the last bit of
 * libm's log, sqrt, cos and sin).  A value type: copy it to fork a
 * stream.
 */
typedef struct nb_rng {
	uint64_t s[4];
	double spare;
	int has_spare;
} nb_rng;

/* A NULL r: seed does nothing; next and below give 0, uniform and
 * normal NAN. */
void nb_rng_seed(nb_rng *r, uint64_t seed);
uint64_t nb_rng_next(nb_rng *r);
double nb_rng_uniform(nb_rng *r);              /* [0, 1) */
double nb_rng_normal(nb_rng *r);               /* N(0, 1) */
uint64_t nb_rng_below(nb_rng *r, uint64_t n);  /* [0, n), unbiased */

#ifdef __cplusplus
}
#endif
#endif
