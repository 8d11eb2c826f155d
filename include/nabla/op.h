/*
 * nabla/op.h - op descriptors and the op registry.
 *
 * An op is a static, read-only descriptor (nb_op) registered by name.
 * Built-ins register themselves the first time the registry is used;
 * users register their own with nb_op_register() and those then appear
 * in `nabla ops`, in gradcheck and in the DOT exporter like built-ins.
 *
 * The dispatcher (nb_apply / nb_call) checks in one place what every op
 * declares: input count, NULL inputs, dtypes, stale tensors, attribute
 * types and ranges.  The op's shape() then checks what is particular to
 * it and fills in the result's shape; forward() computes the result into
 * memory already allocated; backward() *accumulates* input gradients.
 */
#ifndef NABLA_OP_H
#define NABLA_OP_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nb_op_kind {
	NB_KIND_ARITH,
	NB_KIND_REDUCE,
	NB_KIND_SHAPE,
	NB_KIND_LINALG,
	NB_KIND_ACTIVATION,
	NB_KIND_NORM,
	NB_KIND_REGULARIZER,
	NB_KIND_LOSS,
	NB_KIND_CONV,
	NB_KIND_POOL,
	NB_KIND_CUSTOM,
	NB_KIND_COUNT
} nb_op_kind;

const char *nb_op_kind_name(nb_op_kind k);

typedef enum nb_attr_type {
	NB_ATTR_INT,   /* int64_t */
	NB_ATTR_FLOAT, /* double */
	NB_ATTR_BOOL,  /* bool */
	NB_ATTR_INTS,  /* nb_ints: axes, shapes */
	NB_ATTR_ENUM   /* int: index into the '|'-separated choices */
} nb_attr_type;

/* A short list of integers; n == 0 means "not given" (e.g. all axes). */
typedef struct nb_ints {
	int n;
	int64_t v[NB_MAX_DIMS];
} nb_ints;

/* Attribute flags. */
#define NB_ATTR_NULLABLE 1u /* FLOAT: "none" is accepted, stored as NAN */

/*
 * One typed attribute of an op, stored at `offset` in the op's attribute
 * struct.  min/max bound INT and FLOAT values inclusively, unless
 * min > max (unbounded).  def is the default of INT, FLOAT, BOOL and ENUM
 * (the choice's index); INTS default to n = 0.
 */
typedef struct nb_attr_def {
	const char *name;
	nb_attr_type type;
	size_t offset;
	double def;
	double min, max;
	const char *choices; /* ENUM: "none|tanh" */
	unsigned flags;
	const char *doc;
} nb_attr_def;

/* Op flags. */
#define NB_OP_RANDOM 1u        /* draws from the graph's generator */
#define NB_OP_GRAD_MODIFYING 2u /* backward is a rule, not a derivative */
#define NB_OP_NO_GRAD 4u       /* no backward at all (e.g. argmax) */
/*
 * forward() writes every element of its result (in every mode, for
 * every input, before reading any of it), so the dispatcher hands it
 * uninitialised memory instead of zeroing it first.  Without the flag
 * the result starts zeroed.
 */
#define NB_OP_WRITES_OUTPUT 8u
/*
 * backward() honours nb_op_ctx.fresh: it writes (=) every element of
 * the gradients marked fresh instead of adding into them, so that
 * nb_backward need not zero a gradient buffer it has just made.
 */
#define NB_OP_GRAD_FRESH 16u

typedef struct nb_op nb_op;

/*
 * What forward and backward see.  in[i] may be NULL for an optional
 * input that was not given.  attrs points to the op's attribute struct.
 * saved is what forward stored with nb_op_save() (or NULL).
 */
typedef struct nb_op_ctx {
	nb_graph *g;
	const nb_op *op;
	int n_in;
	nb_tensor *const *in;
	nb_tensor *out;
	const void *attrs;
	void *saved;
	size_t node_id;
	/*
	 * Backward of an op flagged NB_OP_GRAD_FRESH only: bit i is set
	 * when gin[i] was made for this call and holds no values yet (not
	 * even zeros), so backward must write every element of it.  Other
	 * gradients (and all of them without the flag) hold zeros or the
	 * sums of earlier nodes, and backward adds into them.  Never set
	 * for an input given twice to the node, nor for the gradient of a
	 * persistent tensor (nb_tensor_*), which is zeroed or accumulates.
	 */
	uint32_t fresh;
} nb_op_ctx;

/*
 * The result's dtype and shape.  On entry *dt is the dtype of the float
 * inputs and ndim/shape are those of input 0.  Return NB_OK, or report
 * the problem with nb_op_fail().
 */
typedef nb_status (*nb_shape_fn)(nb_op_ctx *c, nb_dtype *dt, int *ndim,
                                 int64_t *shape);
typedef nb_status (*nb_forward_fn)(nb_op_ctx *c);
/*
 * gout is dL/d(out).  gin[i] is non-NULL exactly for the inputs that
 * need a gradient: add (+=) dL/d(in[i]) into it (or write it, for the
 * gradients c->fresh marks: see NB_OP_GRAD_FRESH).
 */
typedef nb_status (*nb_backward_fn)(nb_op_ctx *c, const nb_tensor *gout,
                                    nb_tensor *const *gin);

struct nb_op {
	const char *name;
	nb_op_kind kind;
	const char *doc;        /* one line for `nabla ops` */
	int n_inputs;           /* fixed count of inputs */
	const char *input_names;/* "input,weight,bias" */
	uint32_t optional;      /* bit i: input i may be NULL */
	uint32_t nondiff;       /* bit i: input i never gets a gradient */
	uint32_t int_inputs;    /* bit i: input i is NB_I64 (class indices) */
	uint32_t any_dtype;     /* bit i: input i may have another float dtype
	                           (running statistics) */
	const nb_attr_def *attrs;
	int n_attrs;
	size_t attrs_size;      /* sizeof the attribute struct */
	unsigned flags;         /* NB_OP_* */
	nb_shape_fn shape;
	nb_forward_fn forward;
	nb_backward_fn backward;
	/*
	 * Gradcheck recipe: cases separated by ';', each a list of inputs
	 * then optionally '|' and an attribute string, e.g.
	 *   "[3,4] [3,4]; [2,3,4] [4]; [5] []"   "[4,5] [4]i5|"  "[2,3]|dim=0"
	 * An input is [dims] followed by optional letters: 'i<N>' int64
	 * class indices in [0, N); 'p' positive (0.5..2); '-' absent
	 * (optional input given as NULL); 'c' constant (no grad checked).
	 * Values are uniform in [lo, hi] (default [-2, 2]) at least 0.02
	 * from each kink, as far as the range allows (after 100 draws
	 * within 0.02 of a kink, the last one is taken).
	 */
	const char *cases;
	double lo, hi;
	double kinks[4];
	int n_kinks;
	/*
	 * NB_OP_GRAD_MODIFYING only: the documented rule.  Writes into
	 * expect (shaped like input 0) the gradient input 0 must receive for
	 * the output gradient gout; gradcheck compares backward with it for
	 * output gradients below and above any threshold.
	 */
	void (*grad_rule)(const void *attrs, const nb_tensor *gout,
	                  nb_tensor *expect);
	/*
	 * Activations with bounded outputs (sigmoid (0, 1), tanh (-1, 1),
	 * ...): the limits, for saturation statistics.  Equal (the default
	 * 0, 0) means unbounded.
	 */
	double out_lo, out_hi;
};

/*
 * Adds op to the registry.  op is borrowed and must stay valid (and
 * unchanged) for the life of the process: use a static descriptor.
 * NB_EEXIST for a name already taken, NB_EINVAL for a malformed
 * descriptor (no name, no forward, bad attribute table: an unknown
 * type, a repeated name, a default outside its range), NB_ENOMEM (the
 * registry is then unchanged).
 * Registration is not thread-safe; lookups are, once nothing registers.
 */
nb_status nb_op_register(const nb_op *op);
/* The op of that name, or NULL (also for a NULL name, without an error).
 * nb_op_register(NULL) is NB_EINVAL. */
const nb_op *nb_op_find(const char *name);
/* Every registered op, in registration order: i from 0 to count-1. */
size_t nb_op_count(void);
const nb_op *nb_op_at(size_t i);

/*
 * Apply op to inputs with an attribute struct (NULL: the defaults).
 * Returns the result, a graph tensor, or NULL on error (recorded on g).
 * NULL op (nb_op_find of a misspelt name), NULL in with n_in > 0, or a
 * NULL required input: NB_EINVAL recorded on g.  NULL g: NB_EINVAL in
 * nb_last_error() only.  nb_call: the same for a NULL name.
 */
nb_tensor *nb_apply(nb_graph *g, const nb_op *op, int n_in,
                    nb_tensor *const *in, const void *attrs);
/*
 * Apply the op named `name`, with attributes from a string of
 * `key=value` pairs separated by spaces or ';' ("negative_slope=0.2",
 * "axes=0,1 keepdim=1", "momentum=none"); NULL or "" for the defaults.
 */
nb_tensor *nb_call(nb_graph *g, const char *name, int n_in,
                   nb_tensor *const *in, const char *attrs);

/* Fills buf (op->attrs_size bytes) with op's defaults, then applies the
 * attribute string s (NULL: none).  Errors name the op and the
 * attribute; NB_EINVAL for a NULL op or buf (also nb_attrs_check). */
nb_status nb_attrs_parse(const nb_op *op, const char *s, void *buf);
/* Checks every attribute of buf against its declared range. */
nb_status nb_attrs_check(const nb_op *op, const void *buf);
/* Formats the attributes that differ from the defaults (all of them if
 * all) as "k=v k=v", always NUL-terminated within n bytes.  Floats are
 * written with as many digits as it takes for nb_attrs_parse to read
 * the same value back.  A NULL op or buf writes ""; a NULL out returns
 * NULL. */
char *nb_attrs_format(const nb_op *op, const void *buf, bool all, char *out,
                      size_t n);

/* For op implementations.  A NULL c: save and scratch return NULL with
 * NB_EINVAL; fail sets nb_last_error() to the message and returns code;
 * training is false; rng is NULL. */
/* Saves n bytes for backward (zeroed, 64-byte aligned, freed by reset);
 * NULL on NB_ENOMEM (already recorded). */
void *nb_op_save(nb_op_ctx *c, size_t n);
/* A scratch graph tensor (zeroed) for forward or backward work. */
nb_tensor *nb_op_scratch(nb_op_ctx *c, nb_dtype dt, int ndim,
                         const int64_t *shape);
/* Records an error naming the op; the dispatcher appends the input
 * shapes.  Returns code. */
nb_status nb_op_fail(nb_op_ctx *c, nb_status code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
/* Whether the graph is in training mode / its generator. */
bool nb_op_training(const nb_op_ctx *c);
nb_rng *nb_op_rng(nb_op_ctx *c);

/* The tape, for exporters: node i's op, inputs, output and attributes
 * (borrowed, valid until reset); NULL (0 inputs, *in set to NULL) out
 * of range or for a NULL g.  in may be NULL: only the count is returned. */
const nb_op *nb_graph_node_op(const nb_graph *g, size_t i);
int nb_graph_node_inputs(const nb_graph *g, size_t i, nb_tensor *const **in);
nb_tensor *nb_graph_node_output(const nb_graph *g, size_t i);
const void *nb_graph_node_attrs(const nb_graph *g, size_t i);
/* The scope (module path such as "block1.fc1") that was current when
 * node i was recorded; "" at top level (and for a NULL g or i out of
 * range).  Borrowed, valid until reset. */
const char *nb_graph_node_scope(const nb_graph *g, size_t i);
/* The node that made t (its index), or -1 for a leaf or NULL. */
long nb_tensor_node(const nb_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
