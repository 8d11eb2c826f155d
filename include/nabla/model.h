/*
 * nabla/model.h - modules, model specs and parameter collections.
 *
 * A *module* (nb_module) is a piece of a model: it owns named persistent
 * tensors, its *parameters* (trained: weights, biases) and its *buffers*
 * (kept but not trained: batch norm's running statistics), and it may own
 * child modules.  Its forward function maps one tensor to one tensor on a
 * graph, or several inputs to several results (nb_module_forward_multi:
 * a hidden state, a mask, a second input).  Built-in modules: linear,
 * conv2d, the containers (sequential, residual, module list, module
 * dict) and the *op layer* that wraps any registered activation,
 * normalization or regularizer op by name.  User modules are a class (an nb_module_class: a type name, a
 * forward callback and a destructor of the user's state) plus whatever
 * parameters and children they add; see doc/tutorial.md.
 *
 * Names.  Every module has a local name ("fc1", "bn1"); a tensor's full
 * name is the path of local names from the root's children down to the
 * module, then the tensor's local name, joined by dots:
 *     fc1.weight   bn1.running_mean   encoder.fc1.bias
 * The root's own name is not part of the path, as in PyTorch's
 * state_dict, so that a model's names do not depend on what it is called.
 * The full name is set on each tensor (nb_tensor_set_name) and updated
 * when a module is added to a parent; it is the key of checkpoints, of
 * freezing and of the DOT exporter's labels.  A module's forward pushes
 * a graph scope with its local name (nothing for the root), so the nodes
 * of fc1 inside encoder are in scope "encoder.fc1", like its parameters.
 *
 * Ownership.  A parent owns its children and a module owns its tensors:
 * nb_module_free() on the root frees the whole tree.  Adding a tensor or
 * a child *steals* it (also on failure: then it is freed).
 */
#ifndef NABLA_MODEL_H
#define NABLA_MODEL_H

#include "op.h"
#include "conv.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_module nb_module;

/*
 * What a user module provides.  forward maps x (a graph tensor, or a
 * persistent input) to the module's output on g, returning NULL on error
 * (recorded on g, as ops do); it is called by nb_module_forward, never
 * directly, with the module's scope pushed.  free_state (may be NULL)
 * frees the state pointer given to nb_module_new.  The class is
 * borrowed: keep it alive as long as the module (a static const struct).
 */
typedef struct nb_module_class {
	const char *type;
	nb_tensor *(*forward)(nb_module *m, nb_graph *g, nb_tensor *x);
	void (*free_state)(void *state);
	/*
	 * Several inputs and results (PyTorch's forward(*args) returning a
	 * tuple); may be NULL.  Maps in[0..n_in-1] (a NULL entry is an
	 * omitted optional input: an initial state, a mask) to
	 * out[0..cap-1] and returns how many results the module has, which
	 * may exceed cap (then only the first cap are written), or -1 on
	 * error (recorded on g).  Called by nb_module_forward_multi, with
	 * the scope pushed, only when g has no error.  A class with
	 * forward_multi may leave forward NULL: nb_module_forward then
	 * passes its one input and returns the first result.
	 */
	int (*forward_multi)(nb_module *m, nb_graph *g, int n_in,
	                     nb_tensor *const *in, int cap, nb_tensor **out);
	/*
	 * Forgets the state a stateful module carries from one call to the
	 * next (a recurrent layer's final hidden state, see
	 * nb_module_set_stateful); may be NULL (nothing carried).
	 */
	void (*reset_state)(nb_module *m);
} nb_module_class;

/* The most results nb_module_forward_multi returns. */
#define NB_MODULE_MAX_RESULTS 64

/*
 * A new module of class cls named name (letters, digits, '_' and '-';
 * NULL or "" is allowed for a root), in training mode, with no tensors
 * and no children.  state is stolen: free_state(state) is called by
 * nb_module_free, and also here if the call fails.  NULL on error
 * (NB_EINVAL bad name or class, NB_ENOMEM) with nb_last_error().
 */
nb_module *nb_module_new(const nb_module_class *cls, const char *name,
                         void *state);
/* Frees m, its children and their tensors.  NULL is a no-op.  A module
 * that has a parent belongs to it: free the root. */
void nb_module_free(nb_module *m);

/* Accessors of a NULL m: "", NULL, 0 or false, without an error (also
 * nb_module_child_count, nb_module_child, nb_module_tensor,
 * nb_module_training, nb_module_params and nb_module_numel, and
 * nb_module_tensors, which also sets *out to NULL).  Setters and
 * nb_module_zero_grad of NULL do nothing. */
const char *nb_module_name(const nb_module *m);   /* local name, "" none */
const char *nb_module_type(const nb_module *m);   /* the class's type */
void *nb_module_state(const nb_module *m);        /* borrowed */
nb_module *nb_module_parent(const nb_module *m);  /* NULL for a root */

/*
 * Adds t as a parameter (requires grad) or a buffer (no grad) named
 * name (same characters as module names) and sets t's full name.  t must
 * be a persistent tensor; it is stolen, also on failure.  NB_EEXIST if
 * m has a tensor or child of that name, NB_EINVAL (also for a NULL m,
 * name or t), NB_ENOMEM.
 */
nb_status nb_module_add_param(nb_module *m, const char *name, nb_tensor *t);
nb_status nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t);
/*
 * Adds child (a root module with a name) as the last child of parent and
 * renames the tensors of its subtree.  child is stolen, also on failure.
 * NB_EEXIST for a name already used in parent, NB_EINVAL (no name,
 * child already has a parent, parent or child NULL), NB_ENOMEM.
 */
nb_status nb_module_add(nb_module *parent, nb_module *child);

size_t nb_module_child_count(const nb_module *m);
nb_module *nb_module_child(const nb_module *m, size_t i); /* borrowed */
/* The tensor of m's subtree with that full name relative to m
 * ("weight", "fc1.weight"), or NULL.  Borrowed. */
nb_tensor *nb_module_tensor(const nb_module *m, const char *name);

/*
 * Runs m on x: sets the graph's training mode to m's mode (it stays set:
 * backward of the normalizations reads it), pushes m's scope unless m is
 * the root, calls the class's forward and pops.  NULL on error, recorded
 * on g (a NULL x keeps g's first error, as ops do; a NULL m is NB_EINVAL
 * on g, a NULL g NB_EINVAL in nb_last_error()).
 */
nb_tensor *nb_module_forward(nb_module *m, nb_graph *g, nb_tensor *x);
/*
 * Runs m on n_in inputs (0 to NB_MODULE_MAX_RESULTS; a NULL entry is an
 * omitted optional input) and writes its results to out[0..cap-1]
 * (graph tensors, owned by g).  Returns the number of results, which
 * may exceed cap (only cap are written: call with cap 0 to count), or
 * -1 on error, recorded on g: the graph's first error if it has one
 * already (a failed input), NB_EINVAL for a NULL m or in (with n_in >
 * 0), n_in out of range, or a one-input module given another count.
 * A module whose class has only forward takes exactly one input and
 * has one result.  Training mode and scope as nb_module_forward.
 */
int nb_module_forward_multi(nb_module *m, nb_graph *g, int n_in,
                            nb_tensor *const *in, int cap, nb_tensor **out);
/* The child of m with local name name, or NULL (borrowed): the
 * dictionary of a container, as PyTorch's nn.ModuleDict. */
nb_module *nb_module_child_named(const nb_module *m, const char *name);

/*
 * Carrying state between calls, for truncated backpropagation through
 * time (Keras's stateful=True; in PyTorch, feeding h_n.detach() back as
 * the next call's h_0).  When on, a module that keeps a state (the
 * recurrent layers) starts each forward from the final state of its
 * previous forward, copied out of that graph (so detached: the gradient
 * stops at the window's start), instead of zeros; an explicitly given
 * initial state still wins, and a state of another batch size is
 * dropped.  Off (the default) every forward starts from zeros.  Set for
 * m and its subtree.  nb_module_reset_state forgets every carried state
 * of the subtree (call it at each epoch start and before evaluating on
 * other text).
 */
void nb_module_set_stateful(nb_module *m, bool on);
bool nb_module_stateful(const nb_module *m);
void nb_module_reset_state(nb_module *m);
/* Whether a module of m's subtree can carry state (its class has
 * reset_state): a recurrent net, as opposed to a transformer. */
bool nb_module_has_state(const nb_module *m);

/* Training (the default) or evaluation mode, for m and its subtree. */
void nb_module_set_training(nb_module *m, bool training);
bool nb_module_training(const nb_module *m);

/*
 * One tensor of a module tree: its full name (borrowed, the same string
 * as nb_tensor_name), the tensor (borrowed) and whether it is a buffer.
 */
typedef struct nb_named_tensor {
	const char *name;
	nb_tensor *tensor;
	bool buffer;
} nb_named_tensor;

/*
 * Every parameter and buffer of m's subtree, depth first in the order
 * they and the children were added (so the order is stable: a module's
 * own tensors, then each child's).  *out is borrowed from m and valid
 * until the next call on m or a change of the tree.  Returns the count;
 * 0 with *out NULL and nb_last_error() set on NB_ENOMEM.  A NULL out
 * returns the count only.
 */
size_t nb_module_tensors(nb_module *m, const nb_named_tensor **out);
/*
 * The parameters (not buffers) of m's subtree into out[0..cap-1], in
 * the order of nb_module_tensors; only those that require grad when
 * trainable_only.  Returns how many there are (which may exceed cap:
 * call with cap 0, or out NULL, to size the array).  Borrowed tensors.
 */
size_t nb_module_params(nb_module *m, bool trainable_only, nb_tensor **out,
                        size_t cap);
/* Number of parameter elements (trainable ones only, if asked). */
size_t nb_module_numel(nb_module *m, bool trainable_only);
/* Zeroes the gradient of every parameter of m's subtree. */
void nb_module_zero_grad(nb_module *m);

/*
 * Freezes (frozen = true: requires_grad off, gradient dropped) or thaws
 * the parameters whose full name equals prefix or starts with prefix
 * followed by '.': "fc1" matches fc1.weight and fc1.bias but not
 * fc10.weight; "" matches every parameter.  Buffers are never trained.
 * *matched (may be NULL) gets the count.  NB_ENOTFOUND if nothing
 * matched (a misspelt prefix is an error, not a silent no-op), NB_EINVAL
 * for a NULL m or prefix.
 */
nb_status nb_module_freeze(nb_module *m, const char *prefix, bool frozen,
                           size_t *matched);

/*
 * What a parameter is to its layer, recorded when it is added, so that
 * recipes such as "no weight decay on biases and normalization weights"
 * (nb_optim_adamw_no_decay) decide from it and never from a name.  The
 * built-in layers record it: linear and conv2d weights NB_PARAM_WEIGHT,
 * their biases NB_PARAM_BIAS; an op layer's parameters (made from the
 * op's nb_input_def) NB_PARAM_NORM for a normalization op, else
 * NB_PARAM_ELEMENTWISE (prelu's weight).  nb_module_add_param records
 * NB_PARAM_UNKNOWN.
 */
typedef enum nb_param_kind {
	NB_PARAM_UNKNOWN = 0,
	NB_PARAM_WEIGHT,      /* a weight matrix or kernel */
	NB_PARAM_BIAS,        /* an additive bias */
	NB_PARAM_NORM,        /* an affine weight or bias of a normalization */
	NB_PARAM_ELEMENTWISE  /* a per-feature or shared parameter of another
	                         op layer */
} nb_param_kind;

/* nb_module_add_param recording kind (a value of nb_param_kind, else
 * NB_EINVAL; t is stolen, also on failure). */
nb_status nb_module_add_param_kind(nb_module *m, const char *name,
                                   nb_tensor *t, nb_param_kind kind);
/* The kind of parameter p of m's subtree; NB_PARAM_UNKNOWN if p is not
 * one (or m or p is NULL). */
nb_param_kind nb_module_param_kind(const nb_module *m, const nb_tensor *p);
/*
 * Whether weight decay belongs on a parameter of this kind: yes for
 * NB_PARAM_WEIGHT, no for biases, normalization and elementwise
 * parameters, and for NB_PARAM_UNKNOWN yes when p has 2 or more
 * dimensions (the p.ndim >= 2 rule of many PyTorch recipes).  false
 * for a NULL p.
 */
bool nb_param_decays(nb_param_kind kind, const nb_tensor *p);

/* ---- built-in modules ---- */

/* A container that runs its children in order. */
nb_module *nb_sequential_new(const char *name);

/*
 * y = x W^T + b with W [out, in] and b [out] (no b if !bias), both of
 * dtype dt, initialized as PyTorch's nn.Linear: W and b uniform in
 * [-1/sqrt(in), 1/sqrt(in)] (kaiming_uniform with a = sqrt(5)), drawn
 * from rng (NULL: NB_EINVAL).  Parameters "weight" and "bias".
 */
nb_module *nb_linear_new(const char *name, int64_t in, int64_t out,
                         bool bias, nb_dtype dt, nb_rng *rng);

/*
 * A 2-D convolution layer: nb_conv2d of its input [N, in_channels, H, W]
 * with weight [out_channels, in_channels / groups, kh, kw] and bias
 * [out_channels] (no bias if !bias), of dtype dt, initialized as
 * PyTorch's nn.Conv2d: uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] with
 * fan_in = in_channels / groups * kh * kw, drawn from rng.  o (copied;
 * NULL: NB_CONV2D_DEFAULTS) gives stride, padding, dilation and groups,
 * which must divide both channel counts (NB_EINVAL; a NULL rng too).
 * Parameters "weight" and "bias".
 */
nb_module *nb_conv2d_new(const char *name, int64_t in_channels,
                         int64_t out_channels, int64_t kh, int64_t kw,
                         const nb_conv2d_opts *o, bool bias, nb_dtype dt,
                         nb_rng *rng);

/*
 * Reshapes its input [N, ...] to [N, rest] (PyTorch's nn.Flatten), or,
 * when c > 0, a flat input [N, c * h * w] to the images [N, c, h, w]
 * (4-D inputs then pass unchanged): what a model spec puts before a
 * first conv2d or pooling layer.
 */
nb_module *nb_flatten_new(const char *name, int64_t c, int64_t h,
                          int64_t w);

/* Options of op layers (flags of nb_op_layer_new); 0 is PyTorch's
 * default: instance_norm without affine parameters and running
 * statistics, every other layer with all the op takes. */
#define NB_LAYER_AFFINE 1u    /* make weight and bias */
#define NB_LAYER_NO_AFFINE 2u /* leave them out */
#define NB_LAYER_STATS 4u     /* make running statistics */
#define NB_LAYER_NO_STATS 8u  /* leave them out (batch statistics always) */

/*
 * A layer that applies a registered op of kind activation,
 * normalization, regularizer or pooling to its input, with the attribute struct
 * attrs (op->attrs_size bytes, copied; NULL for the defaults).  The op's
 * inputs after the first are made by name, for `features` channels
 * (the size of dimension 1 of the input):
 *   weight               normalization: parameter [features] of ones;
 *                        activation (prelu): parameter [1] of 0.25
 *   bias                 parameter [features] of zeros
 *   running_mean         buffer [features] of zeros
 *   running_var          buffer [features] of ones
 *   num_batches_tracked  buffer, int64 scalar 0 (the op counts)
 * Optional weight and bias are left out (NULL) without affine, optional
 * statistics without stats: see the flags; an op's own boolean
 * attribute "affine" or "track_running_stats" wins over them.  A layer
 * with running statistics whose op takes no num_batches_tracked keeps
 * that buffer anyway and counts each training forward itself, so its
 * names are PyTorch's.  Any other input the op requires is NB_EINVAL,
 * and so is a NULL op.  name may be NULL (a root, as nb_module_new).
 */
nb_module *nb_op_layer_new(const char *name, const nb_op *op,
                           const void *attrs, int64_t features,
                           nb_dtype dt, unsigned flags);
/* The same with the op by name and attributes as a string
 * ("p=0.2", NULL for the defaults); NB_ENOTFOUND for an unknown op,
 * NB_EINVAL for a NULL op_name. */
nb_module *nb_layer_new(const char *name, const char *op_name,
                        const char *attrs, int64_t features, nb_dtype dt,
                        unsigned flags);

/* ---- containers (lib/nn/containers.c) ---- */

/*
 * A residual block: y = x + f(x), where f runs the block's children in
 * order (as a sequential).  f must keep the shape of x (unless the block
 * has a projection, below): otherwise forward fails with NB_ESHAPE
 * naming the block and both shapes.  A block without layers fails with
 * NB_EINVAL.  Add children with
 * nb_module_add.  Names as usual: res1.fc1.weight.
 */
nb_module *nb_residual_new(const char *name);
/*
 * Gives the residual block res a projection of its shortcut, as the
 * "downsample" of PyTorch's ResNet blocks: y = proj(x) + f(x), for a
 * body f that changes the shape (linear:256 after 128 features).  proj
 * becomes a child of res under its own name (res.proj.weight) but is
 * not part of f.  proj is stolen, also on failure.  NB_EINVAL for a
 * NULL argument, a res that is not a residual block or already has a
 * projection, and nb_module_add's errors (NB_EEXIST for a taken name).
 */
nb_status nb_residual_set_projection(nb_module *res, nb_module *proj);

/*
 * A list of modules (PyTorch's nn.ModuleList): it holds children named
 * by their index ("0", "1", ...), which nb_module_child(list, i)
 * returns, and has no forward: running it is NB_EINVAL, saying so.  Its
 * tensors are named blocks.0.fc.weight as PyTorch's.  Freezing, the
 * parameter kinds and checkpoints see its children as any other.
 */
nb_module *nb_module_list_new(const char *name);
/*
 * Appends child (a root module, with or without a name) to list and
 * names it by its index ("0" for the first); child is stolen, also on
 * failure.  NB_EINVAL for a NULL argument, a child with a parent or a
 * list that is not one (nb_module_list_new's), NB_ENOMEM.
 */
nb_status nb_module_list_append(nb_module *list, nb_module *child);

/*
 * A dictionary of modules (PyTorch's nn.ModuleDict): children added
 * with nb_module_add under their own names, found with
 * nb_module_child_named, kept in insertion order; no forward (running
 * it is NB_EINVAL).
 */
nb_module *nb_module_dict_new(const char *name);

/* ---- the layer table (lib/nn/layer_table.c) ----
 *
 * The layers of the spec language other than op layers are rows of a
 * table keyed by name: linear, conv2d, flatten, reshape and mean are
 * built in; nb_layer_register adds more (the sequence-model layers,
 * a plugin's).  Every op flagged NB_OP_LAYER is a layer too, with no
 * row (nb_op_layer_new makes it).  A row gives the layer's attributes
 * (parsed from the spec with nb_attrs_parse, as an op's) and a build
 * function that makes the module for a given per-sample input shape.
 */

/* The shape of one sample: the input's shape without its batch axis
 * ([784] for flat features, [28, 28] for a sequence of 28 tokens of 28
 * features, [1, 28, 28] for one-channel images). */
typedef struct nb_sample_shape {
	int ndim;
	int64_t dims[NB_MAX_DIMS];
} nb_sample_shape;

/* What a build function gets besides the attributes. */
typedef struct nb_layer_ctx {
	nb_dtype dtype;
	nb_rng *rng;       /* for the initialization; borrowed */
	/* nb_model_opts.init (NULL: PyTorch's default) and the activation
	 * that follows the layer ("linear" if none): a layer with a weight
	 * matrix may apply nb_init_apply(weight, rng, init, act). */
	const char *init;
	const char *act;
	/* nb_model_opts.vocab: > 0 when the model's inputs are token ids in
	 * [0, vocab) (an embedding reads its table's size from it), else 0. */
	int64_t vocab;
} nb_layer_ctx;

#define NB_LAYER_DEF_VERSION 1

struct nb_spec_layer; /* below, with the model specs */

/* Layer flags. */
#define NB_LDEF_WEIGHTED 1u /* has a weight matrix: the activation that
                               an init scheme reads is looked up to the
                               next weighted layer */
#define NB_LDEF_IMAGES 2u   /* reads images [C, H, W]: as the first
                               layer, flat square inputs become
                               one-channel images */
#define NB_LDEF_TOKENS 4u   /* reads int64 token ids (embedding): the
                               only kind of layer a model of token
                               inputs may begin with */

typedef struct nb_layer_def {
	int version;              /* NB_LAYER_DEF_VERSION */
	const char *name;         /* in specs: linear, reshape */
	const char *prefix;       /* automatic module names: "fc" makes
	                             fc1, fc2; NULL: the name */
	const char *doc;          /* one line, for messages and listings */
	const nb_attr_def *attrs; /* parsed as an op's attributes */
	int n_attrs;
	size_t attrs_size;        /* at most NB_MAX_ATTRS_SIZE */
	int n_positional;         /* leading attributes that may be given
	                             without key= (0 means 1); with 2 or
	                             more, ':' also separates arguments */
	unsigned flags;           /* NB_LDEF_* */
	/*
	 * Checks the parsed attributes at parse time (may be NULL): returns
	 * NB_OK, or a status with a message (nb_graph_fail(NULL, ...) sets
	 * it) that the spec positions at the layer.
	 */
	nb_status (*check)(const void *attrs);
	/*
	 * Makes the module named name for inputs of per-sample shape *in,
	 * and writes the shape of its outputs to *out.  NULL on error with
	 * nb_last_error() set (nb_graph_fail(NULL, ...)): the spec adds the
	 * layer's position.  The module is the caller's.
	 */
	nb_module *(*build)(const char *name, const void *attrs,
	                    const nb_sample_shape *in, nb_sample_shape *out,
	                    const nb_layer_ctx *ctx);
	/*
	 * May be NULL.  Fills the summary fields of a parsed layer (type,
	 * units, bias, kernel, conv of nb_spec_layer) from its attributes,
	 * for readers of nb_spec_layer_at; without it the type is
	 * NB_LAYER_OTHER.  type NB_LAYER_LINEAR or NB_LAYER_CONV2D with
	 * units also lets the parser bound the parameters a spec asks for.
	 */
	void (*describe)(const void *attrs, struct nb_spec_layer *l);
} nb_layer_def;

/*
 * Adds def to the layer table (borrowed: keep it alive, a static const
 * struct).  NB_EEXIST for a name taken by a layer or by an op flagged
 * NB_OP_LAYER, NB_EINVAL for a malformed row (unknown version, no name
 * or build, a name that is not an identifier, attrs_size too large),
 * NB_ENOMEM.  Not thread-safe, like nb_op_register: register before
 * other threads use nabla (a plugin's nb_plugin_init may call it).
 */
nb_status nb_layer_register(const nb_layer_def *def);
/* The row named name, or NULL (also for a NULL name). */
const nb_layer_def *nb_layer_find(const char *name);
/* The rows in registration order (the built-ins first). */
size_t nb_layer_count(void);
const nb_layer_def *nb_layer_at(size_t i);

/* ---- model specs ----
 *
 * A spec is a compact text form of a model, read by
 * `nabla train --model`, `nabla dot` and `nabla initlab`:
 *     linear:256 batch_norm relu dropout:0.2 linear:256 batch_norm relu linear:10
 * Layers are separated by white space.  A layer is NAME, NAME:ARGS, and
 * optionally @LABEL to name the module.  ARGS is a comma-separated list
 * of arguments; the first may be positional (the layer's first attribute:
 * linear's output size, dropout's p, leaky_relu's negative_slope), the
 * others are key=value.  A value with commas (a list) is written in
 * brackets: group_norm:num_groups=4,eps=1e-3  foo:axes=[0,1].
 * Normalizations also take affine=0|1 and track_running_stats=0|1
 * (NB_LAYER_* flags) unless the op has attributes of those names.
 *   linear:N[,bias=0]     a linear layer with N outputs (fcK)
 *   input:N               only first: the input size (features)
 *   conv2d:OUT:K[:stride=S,padding=P,dilation=D,groups=G,bias=0]
 *                         a conv2d layer (convK); ':' or ',' between
 *                         arguments, the first two positional; K, S, P,
 *                         D one value or a pair [H,W].  A first conv2d
 *                         or pooling layer reads its N input features
 *                         as [batch, 1, S, S] images with N = S*S (a
 *                         module "image" in front reshapes them)
 *   max_pool2d:K, avg_pool2d:K   pooling (maxpoolK, avgpoolK)
 *   flatten               images to [batch, C*H*W] (flattenK); linear
 *                         after conv2d or pooling needs it
 *   any activation, normalization or regularizer op: relu, gelu,
 *   leaky_relu:0.1, batch_norm, layer_norm:eps=1e-6, dropout:0.2, ...
 *   reshape:[28,28]       per-sample reshape (one size may be -1): 784
 *                         features to 28 tokens of 28 (reshapeK)
 *   mean[:axis=1]         mean over a per-sample axis (1, the first
 *                         after the batch, by default): a sequence
 *                         [N, T, F] to [N, F] (meanK)
 *   any layer registered with nb_layer_register
 * Blocks group layers (nested up to NB_SPEC_MAX_DEPTH deep):
 *   residual( LAYERS )    x + f(x), f the layers in order, which must
 *                         keep the shape (resK; a residual container)
 *   Nx( LAYERS )          N copies (1 to NB_SPEC_MAX_REPEAT) of the
 *                         layers, each with its own parameters (repK, a
 *                         sequential of copies named 0, 1, ...; a copy
 *                         of one layer or block is that module, else a
 *                         sequential of the layers)
 * A block may end in @LABEL like a layer: residual(linear:64 relu)@skip.
 * Modules are named after their type with a count from 1 among their
 * siblings (a block's layers are counted apart): linear fc1,
 * fc2...; batch_norm bn1, layer_norm ln1, group_norm gn1, instance_norm
 * in1, dropout drop1; any other op its own name (relu1, relu2); so
 *   linear:64 2x(residual(linear:64 relu)) linear:10
 * has fc1, rep1.0.fc1, rep1.0.relu1, rep1.1.fc1, rep1.1.relu1, fc2.
 * Linear layers act on the last axis, op layers' per-feature parameters
 * follow the channel axis of images and the last axis otherwise.
 * Full grammar and examples: nabla(1), section MODEL SPECS.
 */

/* The deepest nesting of blocks and the most copies of a repetition. */
#define NB_SPEC_MAX_DEPTH 32
#define NB_SPEC_MAX_REPEAT 10000

typedef enum nb_layer_type {
	NB_LAYER_LINEAR,
	NB_LAYER_OP,
	NB_LAYER_CONV2D,
	NB_LAYER_FLATTEN,
	NB_LAYER_BLOCK,  /* a block: its body follows it (see span) */
	NB_LAYER_OTHER   /* another row of the layer table (see def) */
} nb_layer_type;

typedef enum nb_block_kind {
	NB_BLOCK_NONE = 0,
	NB_BLOCK_RESIDUAL,
	NB_BLOCK_REPEAT
} nb_block_kind;

/* One parsed layer or block; borrowed from its spec. */
typedef struct nb_spec_layer {
	nb_layer_type type;
	const nb_op *op;     /* NB_LAYER_OP: the op */
	const void *attrs;   /* NB_LAYER_OP: its attribute struct */
	int64_t units;       /* NB_LAYER_LINEAR: output features */
	bool bias;           /* NB_LAYER_LINEAR: with a bias */
	unsigned flags;      /* NB_LAYER_OP: NB_LAYER_* options */
	const char *name;    /* the module name (given with @ or automatic) */
	size_t pos;          /* byte offset of the layer in the text */
	size_t len;          /* its length in bytes */
	/* NB_LAYER_CONV2D: units output channels, a kernel[0] x kernel[1]
	 * kernel, bias as for linear, and these options */
	int64_t kernel[2];
	nb_conv2d_opts conv;
	/*
	 * The spec is a tree stored in pre-order: a block (type
	 * NB_LAYER_BLOCK) is followed by the span entries of its body (its
	 * layers and nested blocks, with their bodies), so its direct
	 * children are i + 1, then each child's i + 1 + span.  depth is 0
	 * at the top, parent the index of the enclosing block (SIZE_MAX at
	 * the top).  A layer of the table (not an op layer) has its row in
	 * def and the row's attribute struct in attrs; linear, conv2d and
	 * flatten also fill the fields above as before.
	 */
	const struct nb_layer_def *def;
	nb_block_kind block;
	int64_t repeat;      /* NB_BLOCK_REPEAT: the number of copies */
	size_t span;
	size_t parent;
	int depth;
} nb_spec_layer;

typedef struct nb_spec nb_spec;

/*
 * Parses text into *out (free with nb_spec_free).  On error *out is
 * NULL, *err_pos (may be NULL) gets the byte offset of the problem and
 * nb_last_error() says where and what was expected:
 *     spec:1:17: unknown layer 'relux' (did you mean 'relu'? ...)
 * (line and column count from 1).  NB_EFORMAT for syntax, NB_ENOTFOUND
 * for an unknown layer or attribute, NB_EINVAL for a bad value,
 * NB_EEXIST for a duplicate label, NB_ENOMEM; NB_EINVAL for a NULL text
 * or out.
 */
nb_status nb_spec_parse(const char *text, nb_spec **out, size_t *err_pos);
/* nb_spec_free(NULL) does nothing; a NULL spec has no layers (len 0,
 * layer_at NULL, input 0, and nb_spec_out_features gives in_features).
 * nb_spec_len counts every entry, blocks and their bodies included
 * (each once, not once per copy). */
void nb_spec_free(nb_spec *s);
size_t nb_spec_len(const nb_spec *s);
const nb_spec_layer *nb_spec_layer_at(const nb_spec *s, size_t i);
/* The input size given with input:N, or 0. */
int64_t nb_spec_input(const nb_spec *s);

/* How a model is built from a spec.  Zero-initialized means float32,
 * seed 0, PyTorch's default initialization. */
typedef struct nb_model_opts {
	nb_dtype dtype;
	uint64_t seed;       /* of the initialization */
	/*
	 * NULL: PyTorch's nn.Linear initialization.  Else a scheme of
	 * nb_init_apply (<nabla/init.h>: "xavier_uniform",
	 * "kaiming_normal:nonlinearity=auto", "orthogonal:auto", ...) for
	 * every linear weight, with the activation that follows the layer
	 * in the spec (the first activation before the next linear; else
	 * "linear") as its nonlinearity; the biases are then zero.
	 */
	const char *init;
	/*
	 * 0: each sample is in_features floats.  > 0: each sample is a
	 * sequence of in_features int64 token ids in [0, vocab) (a
	 * character model's window), per-sample shape [in_features]; the
	 * first layer must read tokens (NB_LDEF_TOKENS: embedding), which
	 * takes its table's size from vocab.
	 */
	int64_t vocab;
} nb_model_opts;

/*
 * A sequential model of the spec's layers for inputs of in_features
 * (0: take it from the spec's input:N; both given must agree).  Its
 * children are named as the spec says.  NULL on error, with the
 * message in nb_last_error() (naming the layer as spec:LINE:COL).  A
 * NULL spec (or text, for nb_model_parse) is NB_EINVAL; o NULL is a
 * zero-initialized nb_model_opts.
 */
nb_module *nb_model_from_spec(const nb_spec *spec, int64_t in_features,
                              const nb_model_opts *o);
/* nb_spec_parse, then nb_model_from_spec. */
nb_module *nb_model_parse(const char *text, int64_t in_features,
                          const nb_model_opts *o);
/* The number of output features (the last axis) of the model a spec
 * describes for in_features inputs: built and measured, or, when the
 * model cannot be built, the last linear's units or in_features. */
int64_t nb_spec_out_features(const nb_spec *s, int64_t in_features);

#ifdef __cplusplus
}
#endif
#endif
