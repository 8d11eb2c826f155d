/*
 * internal.h - definitions shared by the library's files.  Private.
 */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#include <stdarg.h>
#include <string.h>
#include "nabla/nabla.h"

/* ---- alloc.c: every allocation goes through here ---- */
void *nb__malloc(size_t n);
void *nb__calloc(size_t count, size_t size); /* NULL on overflow too */
void *nb__realloc(void *p, size_t n);
void nb__free(void *p);
char *nb__strdup(const char *s);
/* Before a series of jansson calls: routes jansson's allocator at first
 * use and clears the failure flag that nb__json_oom reads (whether an
 * allocation of jansson's failed since, in this thread). */
void nb__json_begin(void);
bool nb__json_oom(void);

/* ---- error.c ---- */
/* Sets this thread's last error; returns code. */
nb_status nb__set_error(nb_status code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
nb_status nb__vset_error(nb_status code, const char *fmt, va_list ap);

/* ---- arena.c: bump allocation, rewound in one call ---- */
typedef struct nb__chunk {
	struct nb__chunk *next;
	size_t size, used;
	/* data follows, 64-byte aligned */
} nb__chunk;

typedef struct nb_arena {
	nb__chunk *head;    /* the chunk being filled; older ones after it */
	size_t total;       /* bytes of all chunks */
	size_t peak_used;   /* bytes handed out since the last rewind */
} nb_arena;

void *nb__arena_alloc(nb_arena *a, size_t n); /* zeroed, 64-aligned */
void *nb__arena_alloc_raw(nb_arena *a, size_t n); /* not zeroed */
/* Keeps one chunk as large as all were (so a steady loop stops growing). */
void nb__arena_rewind(nb_arena *a);
void nb__arena_free(nb_arena *a);
/* Gives back p (from nb__arena_alloc_raw) and every block allocated
 * after it, as a stack: an op's per-call scratch.  p already given back
 * (its block's start at or past the chunk's use) is a no-op. */
void nb__arena_pop(nb_arena *a, void *p);

/* ---- rng.c ---- */
/*
 * mask[i] = 1 with probability q (in [0, 1]), else 0, for i < n: the
 * test u < q on 24-bit uniforms u = k 2^-24, two per draw of r: k is
 * bits 63..40 of draw j for element 2j, bits 39..16 for element 2j + 1
 * (an odd n leaves the last draw's second half unused).  Takes
 * ceil(n / 2) draws; does not touch r's cached normal.
 */
void nb__rng_keep_mask(nb_rng *r, unsigned char *mask, size_t n, double q);

/* ---- tensor.c ---- */
#define NB_T_REQUIRES_GRAD 1u
#define NB_T_OWNS_DATA 2u
#define NB_T_GRAPH 4u
#define NB_T_OP_RESULT 8u /* made by an op, recorded or not */

struct nb_tensor {
	nb_dtype dtype;
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	size_t numel;
	void *data;
	struct nb_tensor *grad;
	struct nb_node *node;   /* producer; NULL for leaves */
	int out_index;          /* which of node's results */
	nb_graph *graph;        /* NULL for persistent tensors */
	uint64_t gen;           /* the graph's generation at creation */
	unsigned flags;
	char *name;
};

/* Initializes the header fields from a shape; checks rank and size. */
nb_status nb__tensor_init(nb_tensor *t, nb_dtype dt, int ndim,
                          const int64_t *shape);
size_t nb__numel(int ndim, const int64_t *shape);
static inline size_t nb__nbytes(const nb_tensor *t)
{
	return t->numel * nb_dtype_size(t->dtype);
}
static inline bool nb__is_float(nb_dtype dt)
{
	return dt == NB_F32 || dt == NB_F64;
}
/* A persistent zero tensor like t (for gradients). */
nb_tensor *nb__tensor_like(const nb_tensor *t);
/* Whether every element of a float tensor is finite (true for others). */
bool nb__all_finite(const nb_tensor *t);
/* t += u, same shape and dtype. */
void nb__tensor_acc(nb_tensor *t, const nb_tensor *u);

/* ---- graph.c ---- */
typedef struct nb_node {
	const nb_op *op;
	nb_tensor **out;        /* n_out results */
	int n_out;
	nb_tensor **in;
	int n_in;
	void *attrs;
	void *saved;
	const char *scope;      /* module path, in the meta arena */
	size_t id;
} nb_node;

#define NB_MAX_SCOPE_DEPTH 16

struct nb_graph {
	nb_arena data;          /* tensor data, saved state, gradients */
	nb_arena meta[2];       /* headers and nodes; alternate by generation */
	nb_arena temp;          /* ops' per-call scratch (nb__op_temp) */
	nb_node **tape;
	size_t n_nodes, cap_nodes;
	uint64_t gen;
	nb_status err;
	char msg[512];
	bool training, grad_enabled, anomaly;
	nb_rng rng;
	bool retain_grads;      /* keep intermediate gradients after backward */
	struct nb_gbuf *gfree;  /* recycled gradient buffers (retain off) */
	const char *scope;                      /* current path, "" at top */
	const char *scope_stack[NB_MAX_SCOPE_DEPTH];
	int scope_depth;
	/* Called during backward with each persistent tensor whose gradient
	 * is final (lib/dist/: gradient buckets); NULL: none. */
	void (*grad_hook)(void *ctx, nb_tensor *t);
	void *grad_hook_ctx;
};

/* A graph tensor header with its zeroed data; _raw: data not zeroed,
 * for a result its op overwrites entirely. */
nb_tensor *nb__graph_new_tensor(nb_graph *g, nb_dtype dt, int ndim,
                                const int64_t *shape);
nb_tensor *nb__graph_new_tensor_raw(nb_graph *g, nb_dtype dt, int ndim,
                                    const int64_t *shape);
void *nb__graph_alloc(nb_graph *g, size_t n);      /* data arena */
/*
 * Scratch for the length of one op call (im2col's columns, oneDNN's
 * buffers), 64-aligned, not zeroed: from the graph's temp arena, kept
 * from step to step, so a loop of equal steps does not malloc (malloc
 * and free when c or c->g is NULL).  nb__op_temp_free gives p back with
 * every block taken after it, so once all are done with they may be
 * given back in any order; all must be before the op returns.  NULL: out
 * of memory (nothing recorded).
 */
void *nb__op_temp(nb_op_ctx *c, size_t n);
/* nb_op_save without zeroing, for an op that writes every byte it
 * saves before backward reads it (the sequence ops' per-step gates:
 * 12 MB a charlstm step). */
void *nb__op_save_raw(nb_op_ctx *c, size_t n);
void nb__op_temp_free(nb_op_ctx *c, void *p);
void *nb__graph_meta_alloc(nb_graph *g, size_t n); /* current meta arena */
/* Room on the tape for one more node (NB_ENOMEM, recorded on g); after
 * it nb__graph_push_node appends a node without allocating (unless
 * nodes were pushed in between). */
nb_status nb__graph_reserve_node(nb_graph *g);
nb_status nb__graph_push_node(nb_graph *g, nb_node *n);
/* Sets (or with NULL clears) g's gradient-final hook: during
 * nb_backward, hook(ctx, t) is called once for each persistent tensor t
 * that needs a gradient and is an input of a node the walk covers, right
 * after the walk has passed the first node (in tape order) that reads
 * t, when no later part of the walk can add to t->grad.  Private to the
 * library (lib/dist/). */
void nb__graph_set_grad_hook(nb_graph *g, void (*hook)(void *, nb_tensor *),
                             void *ctx);
/* Records the first error on g (and as the thread's last error). */
nb_status nb__graph_fail(nb_graph *g, nb_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* NB_ESTALE check; records on g. */
nb_status nb__check_live(nb_graph *g, const nb_tensor *t, const char *what);
/* Appends " (inputs: [3, 4] float32, ...)" to buf. */
void nb__describe_inputs(char *buf, size_t n, int n_in,
                         nb_tensor *const *in);


/* ---- dispatch.c ---- */
/* nb_op_input for an input index the call's count check has passed
 * (0 <= i < the call's inputs): no range checks, for the hot paths. */
static inline const nb_input_def *nb__in_def(const nb_op *op, int i)
{
	return &op->inputs[i < op->n_inputs ? i : op->n_inputs - 1];
}
/* Whether input i (x) of a node of op receives a gradient. */
bool nb__input_needs_grad(const nb_op *op, int i, const nb_tensor *x);
/* Whether every float tensor of in[0 .. n_in-1] (NULLs skipped) is
 * finite: anomaly mode's test of where a value came from. */
bool nb__inputs_finite(int n_in, const nb_tensor *const *in);

/* ---- spec.c ---- */
/* Line and column (from 1) of byte offset pos of the spec's text. */
void nb__spec_where(const nb_spec *s, size_t pos, int *line, int *col);

/* A gradient buffer given back during backward, for reuse by the next
 * gradient of the same size (graph.c, autodiff.c). */
typedef struct nb_gbuf {
	struct nb_gbuf *next;
	size_t bytes;
	void *data;
} nb_gbuf;

/* ---- attrs.c ---- */
/* Fills buf with op's defaults, unchecked (nb_attrs_parse checks them,
 * and records an error when a default is out of range on purpose, as
 * for the spec parser's linear:N). */
void nb__attrs_defaults(const nb_op *op, void *buf);

/* Largest attribute struct an op may declare. */
#define NB_MAX_ATTRS_SIZE 512

/* ---- ops/registry.c, ops/families.c ---- */
nb_status nb__registry_ensure(void);
/* A family: its ops, ended by NULL, in the order `nabla ops` lists
 * them.  The built-in families are listed in ops/families.c. */
typedef struct nb__family {
	const char *name;
	const nb_op *const *ops;
} nb__family;
extern const nb__family nb__families[]; /* ended by a NULL name */
extern const nb_op *const nb__arith_ops[], *const nb__reduce_ops[],
	*const nb__shape_ops[], *const nb__linalg_ops[], *const nb__loss_ops[],
	*const nb__activation_ops[], *const nb__norm_ops[],
	*const nb__regularize_ops[], *const nb__conv_ops[];
/* indexing and comparisons (issue 15) */
extern const nb_op *const nb__index_ops[], *const nb__compare_ops[];
/* ---- reductions (issue 15) ---- */
extern const nb_op *const nb__reduce_stats_ops[], *const nb__reduce_index_ops[];
/* ---- shape and joining (issue 15) ---- */
extern const nb_op *const nb__view_ops[], *const nb__pad_ops[],
	*const nb__join_ops[];
extern const nb_op *const nb__convplus_ops[]; /* issue 15 */
extern const nb_op *const nb__losses_ops[]; /* losses (issue 15) */
extern const nb_op *const nb__attention_ops[]; /* attention (issue 18) */
extern const nb_op *const nb__recurrent_ops[], /* recurrent cells (issue 18) */
	*const nb__recurrent_seq_ops[];

/* ---- broadcast.c ---- */
/* Broadcast shape of a and b into out; NB_ESHAPE if incompatible. */
bool nb__broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b,
                         int *nout, int64_t *out);
/* Strides (in elements) of a tensor of shape (n, s) seen through the
 * broadcast shape (nout, out): 0 on broadcast axes. */
void nb__broadcast_strides(int n, const int64_t *s, int nout,
                           const int64_t *out, int64_t *strides);
/* Sums g (shape gshape) into acc (shape ashape, broadcastable to gshape):
 * acc += reduce(g).  Both of dtype dt. */
void nb__sum_to_shape(nb_dtype dt, const void *g, int gndim,
                      const int64_t *gshape, void *acc, int andim,
                      const int64_t *ashape);

/* dst (shape dshape) += src broadcast from sshape (broadcastable to
 * dshape, same rank or fewer dims).  Both of dtype dt. */
void nb__broadcast_add(nb_dtype dt, const void *src, int sndim,
                       const int64_t *sshape, void *dst, int dndim,
                       const int64_t *dshape);

/* Normalizes axis into [0, ndim); false when out of range. */
static inline bool nb__axis(int ndim, int64_t axis, int *out)
{
	if (axis < 0)
		axis += ndim;
	if (axis < 0 || axis >= (ndim ? ndim : 1))
		return false;
	*out = (int)axis;
	return true;
}

/* ---- blas.c: C = alpha * op(A) op(B) + beta * C, row-major ---- */
void nb__gemm(nb_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
              int64_t k, double alpha, const void *a, int64_t lda,
              const void *b, int64_t ldb, double beta, void *c,
              int64_t ldc);
/* Whether nb__gemm with beta 0 makes a pass zeroing C before it sums
 * into it (OpenBLAS's beta kernel), where oneDNN writes C once from its
 * sums: linear then puts its bias into C first and has the product add
 * to it, else adds the bias after. */
bool nb__gemm_zeroes_c(nb_dtype dt, bool ta, bool tb, int64_t m, int64_t n,
                       int64_t k);
/* gemm_choice.c: NB_GEMM, auto (unset, empty, "auto" or unknown),
 * onednn, or openblas (or blas). */
typedef enum nb__gemm_lib {
	NB__GEMM_AUTO,
	NB__GEMM_ONEDNN,
	NB__GEMM_OPENBLAS
} nb__gemm_lib;
nb__gemm_lib nb__gemm_choice(void);
/* Sets OpenMP's thread count (oneDNN's) to nabla's for the calling
 * thread, where oneDNN runs on OpenMP; returns nabla's count. */
int nb__omp_threads(void);

/* ---- parallel.c ---- */
typedef void (*nb__range_fn)(void *ctx, size_t lo, size_t hi);
/*
 * Calls fn(ctx, lo, hi) over [0, n) in chunks of `grain` items, on up to
 * nb_get_num_threads() threads; returns when all are done.  Chunk
 * boundaries depend on grain only, never on the thread count.
 * item_work is one item's cost in elements of a simple loop: a loop of
 * little work (n * item_work below 2 NB__MIN_TASK_WORK) runs on the
 * calling thread, and a longer one uses only as many threads as it can
 * feed (parallel.c says why).  Inside a chunk, a nested call runs inline.
 */
/* The least work, in elements of a simple loop (0.3 to 1 ns each),
 * worth handing to another thread: 45 us or more, a few times what
 * waking a worker costs (doc/performance.md, "Threads"). */
#define NB__MIN_TASK_WORK ((size_t)1 << 17)
void nb__parallel_for(size_t n, size_t grain, size_t item_work,
                      nb__range_fn fn, void *ctx);
/* The threads a library with its own (oneDNN's OpenMP) may use from
 * here: 1 inside a chunk of nb__parallel_for, else nb_get_num_threads()
 * (the count nb__omp_threads should set). */
int nb__threads_free(void);
void nb__threads_init(void);

/* Row-major strides of a shape. */
void nb__strides(int ndim, const int64_t *shape, int64_t *strides);

/* ---- containers and the layer table (issue 16 blocks) ---- */
/* The class of m (NULL for NULL), and renaming a root module (m must
 * have no parent; name as nb_module_new's): model.c. */
const nb_module_class *nb__module_class(const nb_module *m);
nb_status nb__module_rename(nb_module *m, const char *name);
/* Makes sure the built-in rows are in the layer table (layer_table.c);
 * NB_ENOMEM when they cannot be. */
nb_status nb__layers_ensure(void);
extern const nb_layer_def *const nb__builtin_layers[]; /* layer_rows.c */
extern const nb_layer_def *const nb__seq_layers[]; /* seq_rows.c (issue 18) */
/* The images [C, H, W] *img after a window of kernel k, stride s,
 * padding p, dilation d (pairs), or NB_EINVAL naming what. */
nb_status nb__window_shape(nb_sample_shape *img, const char *what,
                           const int64_t k[2], const int64_t s[2],
                           const int64_t p[2], const int64_t d[2]);
/* nb_model_from_spec that also gives the per-sample output shape (out
 * may be NULL): build.c. */
nb_module *nb__model_build(const nb_spec *spec, int64_t in_features,
                           const nb_model_opts *o, nb_sample_shape *out);
/* ---- lib/nn/layers.c, for lib/dist/syncbn.c (i19-dist) ---- */
/* The op (and *attrs, its attribute struct) of an op layer
 * (nb_op_layer_new), or NULL for any other module. */
const nb_op *nb__op_layer_op(const nb_module *m, const void **attrs);
/* Makes op layer m apply op with attrs (op->attrs_size bytes, copied)
 * instead, keeping its tensors: op must take inputs of the same count
 * and roles.  NB_EINVAL otherwise, NB_ENOMEM. */
nb_status nb__op_layer_set_op(nb_module *m, const nb_op *op,
                              const void *attrs);

#endif
