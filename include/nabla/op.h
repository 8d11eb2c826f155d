/*
 * nabla/op.h - op descriptors and the op registry.
 *
 * An op is a static, read-only descriptor (nb_op) registered by name:
 * its inputs (each with a role and flags), attributes, results, shape
 * rule, forward and backward side by side (doc/extending.md).
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

/*
 * What an op is, for listings, the DOT exporter's colours and the study
 * tools (an activation's statistics).  Code reads kinds and flags, never
 * an op's name.
 */
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

/* "arithmetic", "activation"...; "?" for a value out of range. */
const char *nb_op_kind_name(nb_op_kind k);

/* ---- attributes ---- */

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

/*
 * The inclusive range of an INT or FLOAT attribute.  Always written with
 * one of the macros below: the registry refuses a numeric attribute
 * whose range was left out, so "unbounded" is said in words, never
 * implied by zeros.
 */
typedef struct nb_range {
	double min, max;
	unsigned bounds; /* NB_RANGE_* */
} nb_range;

#define NB_RANGE_GIVEN 1u
#define NB_RANGE_MIN 2u
#define NB_RANGE_MAX 4u
#define NB_RANGE(lo, hi)                                                     \
	{(lo), (hi), NB_RANGE_GIVEN | NB_RANGE_MIN | NB_RANGE_MAX}
#define NB_AT_LEAST(lo) {(lo), 0, NB_RANGE_GIVEN | NB_RANGE_MIN}
#define NB_AT_MOST(hi) {0, (hi), NB_RANGE_GIVEN | NB_RANGE_MAX}
#define NB_UNBOUNDED {0, 0, NB_RANGE_GIVEN}

/* Attribute flags. */
#define NB_ATTR_NULLABLE 1u /* FLOAT: "none" is accepted, stored as NAN */

/*
 * One typed attribute of an op, stored at `offset` in the op's attribute
 * struct.  Write rows with designated initializers:
 *   {.name = "alpha", .type = NB_ATTR_FLOAT, .offset = offsetof(A, alpha),
 *    .def = 1.0, .range = NB_AT_LEAST(0), .doc = "..."}
 * def is the default of INT, FLOAT, BOOL and ENUM (the choice's index);
 * INTS default to n = 0.  range bounds INT and FLOAT values.
 */
typedef struct nb_attr_def {
	const char *name;
	nb_attr_type type;
	size_t offset;
	double def;
	nb_range range;
	const char *choices; /* ENUM: "none|tanh" */
	unsigned flags;      /* NB_ATTR_* */
	const char *doc;
} nb_attr_def;

/* ---- inputs ---- */

/* What an input is to a model: data flowing through, a learned
 * parameter, or a buffer of state (running statistics, counters). */
typedef enum nb_role {
	NB_ROLE_DATA = 0,
	NB_ROLE_PARAM,
	NB_ROLE_BUFFER
} nb_role;

/* Input flags. */
#define NB_IN_OPTIONAL 1u  /* may be NULL: "not given" */
#define NB_IN_NONDIFF 2u   /* never receives a gradient */
#define NB_IN_INT64 4u     /* int64 (class indices, counters), not float */
#define NB_IN_ANY_FLOAT 8u /* float32 or float64 whatever the op's dtype
                              (running statistics kept in float64) */
/*
 * The last input only: it stands for any number of inputs, at least
 * nb_op.min_inputs in all (cat, stack).  Every one of them has this
 * definition.
 */
#define NB_IN_VARIADIC 16u
/*
 * PARAM and BUFFER inputs that are NB_IN_OPTIONAL: a layer leaves this
 * input out unless its group is switched on (instance_norm's weight and
 * running statistics, as PyTorch's affine=False,
 * track_running_stats=False).  Without the flag a layer makes it unless
 * the group is switched off.
 */
#define NB_IN_LAYER_OFF 32u
/* bool (a mask), never differentiated. */
#define NB_IN_BOOL 64u
/*
 * float32, float64, int64 or bool: the shape, joining and indexing ops
 * move any dtype.  Such inputs share the op's dtype with the plain float
 * ones; only float values carry gradients.
 */
#define NB_IN_ANY_DTYPE 128u
/*
 * When the input has as many elements as result 0 and its dtype, its
 * gradient is result 0's gradient element for element (add's inputs,
 * sub's first).  nb_backward may then give it the result's gradient
 * buffer itself, when nothing else reads that buffer (intermediate
 * gradients not retained), and pass NULL for it in gin: backward
 * computes only the others.
 */
#define NB_IN_GRAD_PASS 256u

/* The layer switch that makes an optional PARAM or BUFFER input. */
typedef enum nb_in_group {
	NB_GROUP_NONE = 0,
	NB_GROUP_AFFINE, /* the affine map: weight and bias (affine=) */
	NB_GROUP_STATS   /* running statistics (track_running_stats=) */
} nb_in_group;

/* The shape a layer gives a PARAM or BUFFER input it makes. */
typedef enum nb_in_shape {
	NB_SHAPE_FEATURES = 0, /* [F]: one per feature or channel */
	NB_SHAPE_ONE,          /* [1]: one shared value (prelu's weight) */
	NB_SHAPE_SCALAR        /* []: a scalar (a counter) */
} nb_in_shape;

/* How a layer fills a PARAM or BUFFER input it makes. */
typedef enum nb_in_fill {
	NB_FILL_NONE = 0, /* a layer cannot make it (linear's weight is
	                     made by nb_linear_layer, not by an op layer) */
	NB_FILL_CONST     /* every element = value */
} nb_in_fill;

/*
 * One input of an op.  Layers, the spec language, the DOT exporter,
 * gradcheck and `nabla ops` read these fields; none of them reads the
 * name, which is for messages, listings and checkpoint keys only.
 */
typedef struct nb_input_def {
	const char *name;
	unsigned flags;     /* NB_IN_* */
	nb_role role;
	/* PARAM and BUFFER only: how nb_op_layer_new makes the input. */
	nb_in_group group;
	nb_in_shape shape;
	nb_in_fill fill;
	double value;
	const char *doc;
} nb_input_def;

/* ---- the descriptor ---- */

/* Op flags. */
#define NB_OP_RANDOM 1u        /* draws from the graph's generator */
#define NB_OP_GRAD_MODIFYING 2u /* backward is a rule, not a derivative */
/*
 * No gradient at all (argmax, comparisons): backward must be NULL, and
 * registration refuses an op without backward that does not say so.
 */
#define NB_OP_NO_GRAD 4u
/*
 * forward() writes every element of its results (in every mode, for
 * every input, before reading any of it), so the dispatcher hands it
 * uninitialised memory instead of zeroing it first.  Without the flag
 * the results start zeroed.
 */
#define NB_OP_WRITES_OUTPUT 8u
/*
 * backward() honours nb_op_ctx.fresh: it writes (=) every element of
 * the gradients marked fresh instead of adding into them, so that
 * nb_backward need not zero a gradient buffer it has just made.
 */
#define NB_OP_GRAD_FRESH 16u
/*
 * The op can be a layer of a model (nb_op_layer_new, the spec
 * language): input 0 is the data, every other input is a PARAM or
 * BUFFER a layer can make, and the result is the layer's output.
 */
#define NB_OP_LAYER 32u
/*
 * The op may make NaN or infinities from finite inputs by design (its
 * attributes ask for them: masked_fill's value=-inf), so anomaly mode
 * never reports its forward results (doc/guarantees.md).
 */
#define NB_OP_EMITS_NONFINITE 64u

/* Largest number of results of one op (split, chunk). */
#define NB_MAX_OUTPUTS 64
/* Largest number of inputs of one call (a variadic op's). */
#define NB_MAX_CALL_INPUTS 65536

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
	nb_tensor *out;          /* result 0 (outs[0]) */
	const void *attrs;
	void *saved;
	size_t node_id;
	/*
	 * Backward of an op flagged NB_OP_GRAD_FRESH only: bit i is set
	 * when gin[i] was made for this call and holds no values yet (not
	 * even zeros), so backward must write every element of it.  Other
	 * gradients (and all of them without the flag) hold zeros or the
	 * sums of earlier nodes, and backward adds into them.  Never set
	 * for an input given twice to the node, for the gradient of a
	 * persistent tensor (nb_tensor_*), which is zeroed or accumulates,
	 * nor for inputs past the 32nd.
	 */
	uint32_t fresh;
	int n_out;               /* results: 1, or as the shape rule said */
	nb_tensor *const *outs;
	/* Backward only: dL/d(outs[k]) for every k, never NULL (zeros for a
	 * result that received no gradient); gouts[0] is backward's gout. */
	const nb_tensor *const *gouts;
} nb_op_ctx;

/* The dtype and shape of one result. */
typedef struct nb_result_def {
	nb_dtype dtype;
	int ndim;
	int64_t shape[NB_MAX_DIMS];
} nb_result_def;

/*
 * The results' dtypes and shapes.  On entry c->n_out is op->n_outputs
 * (1 when 0) and res[0 .. n_out-1] hold the dtype of the float inputs
 * and the shape of input 0 (or []).  The rule checks what is particular
 * to the op, fills in res[0 .. n_out-1], and may change c->n_out (1 to
 * NB_MAX_OUTPUTS) for an op whose number of results depends on its
 * inputs or attributes (split): it then fills every field (dtype, ndim,
 * shape) of each result past the declared ones.  Return NB_OK, or report
 * the problem with nb_op_fail().  NULL: one result shaped like input 0.
 */
typedef nb_status (*nb_shape_fn)(nb_op_ctx *c, nb_result_def *res);
typedef nb_status (*nb_forward_fn)(nb_op_ctx *c);
/*
 * gout is dL/d(out) (c->gouts[0]; the other results' in c->gouts).
 * gin[i] is non-NULL exactly for the inputs that need a gradient: add
 * (+=) dL/d(in[i]) into it (or write it, for the gradients c->fresh
 * marks: see NB_OP_GRAD_FRESH).
 */
typedef nb_status (*nb_backward_fn)(nb_op_ctx *c, const nb_tensor *gout,
                                    nb_tensor *const *gin);
/*
 * A check across attributes (lower <= upper), run after each value has
 * passed its own range: true if attrs are acceptable, else false with a
 * reason written into why (n bytes, NUL-terminated).
 */
typedef bool (*nb_attrs_check_fn)(const void *attrs, char *why, size_t n);

/*
 * What the gradient checker, the statistics and the tests need, apart
 * from the engine's contract (nb_op.test points to one, or is NULL).
 */
typedef struct nb_op_test {
	/*
	 * Gradcheck recipe: cases separated by ';', each a list of inputs
	 * then optionally '|' and an attribute string, e.g.
	 *   "[3,4] [3,4]; [2,3,4] [4]; [5] []"   "[4,5] [4]i5|"  "[2,3]|dim=0"
	 * An input is [dims] followed by optional letters: 'i<N>' int64
	 * class indices in [0, N); 'b' a bool mask; 'p' positive (0.5..2);
	 * '-' absent
	 * (optional input given as NULL); 'c' constant (no grad checked).
	 * Values are uniform in [lo, hi] (lo == hi: [-2, 2]) at least 0.02
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
} nb_op_test;

/* The descriptor version this header declares. */
#define NB_OP_VERSION 1

/*
 * An op.  Static and read-only: write it with designated initializers,
 * version first, so that a descriptor compiled against this header
 * keeps working when later versions add fields at the end:
 *   static const nb_op swish = {
 *       .version = NB_OP_VERSION, .name = "swish", ...
 *   };
 */
struct nb_op {
	int version;             /* NB_OP_VERSION */
	const char *name;
	nb_op_kind kind;
	const char *doc;         /* one line for `nabla ops` */
	/* Inputs, in call order; with NB_IN_VARIADIC on the last one, any
	 * number >= min_inputs. */
	const nb_input_def *inputs;
	int n_inputs;
	int min_inputs;          /* variadic ops only */
	int n_outputs;           /* 0 or 1: one result */
	const nb_attr_def *attrs;
	int n_attrs;
	size_t attrs_size;       /* sizeof the attribute struct */
	nb_attrs_check_fn check; /* optional */
	unsigned flags;          /* NB_OP_* */
	/* NB_OP_LAYER: the prefix of its layers' module names in a spec
	 * ("bn" makes bn1, bn2...); NULL: the op's name. */
	const char *layer_prefix;
	nb_shape_fn shape;
	nb_forward_fn forward;
	nb_backward_fn backward; /* NULL only with NB_OP_NO_GRAD */
	const nb_op_test *test;  /* optional */
};

/* The definition that input i of a call to op has (the variadic one for
 * every i past the last), or NULL when i is out of range. */
const nb_input_def *nb_op_input(const nb_op *op, int i);

/*
 * Adds op to the registry.  op is borrowed and must stay valid (and
 * unchanged) for the life of the process: use a static descriptor.
 * NB_EEXIST for a name already taken, NB_EINVAL for a malformed
 * descriptor (a version this library does not know, no name, no
 * forward, no backward without NB_OP_NO_GRAD, a bad input table: a
 * variadic input that is not the last, NB_OP_LAYER without a data input
 * 0; a bad attribute table: an unknown type, a repeated name, a numeric
 * attribute without a range, a default outside its range or refused by
 * check), NB_ENOMEM (the registry is then unchanged).
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
 * Returns the result (result 0 of an op with several), a graph tensor,
 * or NULL on error (recorded on g).
 * Optional inputs at the end may be left out (n_in smaller than the
 * op's count): they are not given, as NULL.
 * NULL op (nb_op_find of a misspelt name), NULL in with n_in > 0, or a
 * NULL required input: NB_EINVAL recorded on g.  NULL g: NB_EINVAL in
 * nb_last_error() only.  nb_call: the same for a NULL name.
 */
nb_tensor *nb_apply(nb_graph *g, const nb_op *op, int n_in,
                    nb_tensor *const *in, const void *attrs);
/*
 * The same, for ops with several results: stores up to max_out of them
 * in outs and returns how many the op made (which may exceed max_out:
 * the rest are on the tape but not stored), or -1 on error (recorded
 * on g; outs untouched).
 */
int nb_apply_multi(nb_graph *g, const nb_op *op, int n_in,
                   nb_tensor *const *in, const void *attrs,
                   nb_tensor **outs, int max_out);
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
/* Checks every attribute of buf against its declared range, then the
 * op's check across attributes. */
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

/* The tape, for exporters: node i's op, inputs, results and attributes
 * (borrowed, valid until reset); NULL (0 inputs, *in set to NULL) out
 * of range or for a NULL g.  in may be NULL: only the count is returned.
 * nb_graph_node_output is result 0; nb_graph_node_outputs stores the
 * array of all in *out (out may be NULL) and returns how many there
 * are. */
const nb_op *nb_graph_node_op(const nb_graph *g, size_t i);
int nb_graph_node_inputs(const nb_graph *g, size_t i, nb_tensor *const **in);
nb_tensor *nb_graph_node_output(const nb_graph *g, size_t i);
int nb_graph_node_outputs(const nb_graph *g, size_t i, nb_tensor *const **out);
const void *nb_graph_node_attrs(const nb_graph *g, size_t i);
/* The scope (module path such as "block1.fc1") that was current when
 * node i was recorded; "" at top level (and for a NULL g or i out of
 * range).  Borrowed, valid until reset. */
const char *nb_graph_node_scope(const nb_graph *g, size_t i);
/* The node that made t (its index), or -1 for a leaf or NULL. */
long nb_tensor_node(const nb_tensor *t);
/* Which result of its node t is (0 for a leaf or a single result). */
int nb_tensor_output_index(const nb_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
