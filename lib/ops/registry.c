/*
 * registry.c - the op registry: a uthash table keyed by name, plus the
 * registration order for listings.  Built-in families register on first
 * use, under a mutex, so lookups after that are safe from any thread.
 * If that fails (out of memory), what was registered is removed again
 * and the next use tries anew: a failed first call breaks nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include "internal.h"

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) nb__malloc(sz)
#define uthash_free(ptr, sz) nb__free(ptr)
#include <uthash.h>

typedef struct entry {
	const nb_op *op;
	UT_hash_handle hh;
} entry;

static entry *table;
static const nb_op **order;
static size_t n_ops, cap_ops;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool ready; /* the built-ins are in */

static const char *const kind_names[] = {
	[NB_KIND_ARITH] = "arithmetic",
	[NB_KIND_REDUCE] = "reduction",
	[NB_KIND_SHAPE] = "shape",
	[NB_KIND_LINALG] = "linalg",
	[NB_KIND_ACTIVATION] = "activation",
	[NB_KIND_NORM] = "normalization",
	[NB_KIND_REGULARIZER] = "regularizer",
	[NB_KIND_LOSS] = "loss",
	[NB_KIND_CONV] = "convolution",
	[NB_KIND_POOL] = "pooling",
	[NB_KIND_CUSTOM] = "custom",
};
_Static_assert(sizeof kind_names / sizeof *kind_names == NB_KIND_COUNT,
               "every op kind has a name");

const char *nb_op_kind_name(nb_op_kind k)
{
	return (unsigned)k < NB_KIND_COUNT ? kind_names[k] : "?";
}

static nb_status bad(const char *nm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static nb_status bad(const char *nm, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return nb__set_error(NB_EINVAL, "register: op '%s' %s", nm, why);
}

static nb_status check_inputs(const nb_op *op)
{
	const char *nm = op->name;
	if (op->n_inputs < 0 || op->n_inputs > NB_MAX_INPUTS ||
	    (op->n_inputs && !op->inputs))
		return bad(nm, "declares %d inputs (0..%d, each defined)",
		           op->n_inputs, NB_MAX_INPUTS);
	for (int i = 0; i < op->n_inputs; i++) {
		const nb_input_def *d = &op->inputs[i];
		if (!d->name || !*d->name)
			return bad(nm, "has input %d without a name", i);
		if ((unsigned)d->role > NB_ROLE_BUFFER ||
		    (unsigned)d->group > NB_GROUP_STATS ||
		    (unsigned)d->shape > NB_SHAPE_SCALAR ||
		    (unsigned)d->fill > NB_FILL_CONST ||
		    d->flags >= 2u * NB_IN_GRAD_PASS)
			return bad(nm, "has a malformed input '%s'", d->name);
		if ((d->flags & NB_IN_VARIADIC) && i != op->n_inputs - 1)
			return bad(nm, "has variadic input '%s' before the last",
			           d->name);
		for (int k = 0; k < i; k++)
			if (!strcmp(op->inputs[k].name, d->name))
				return bad(nm, "has two inputs named '%s'", d->name);
	}
	bool variadic = op->n_inputs &&
	    (op->inputs[op->n_inputs - 1].flags & NB_IN_VARIADIC);
	if (variadic ? op->min_inputs < op->n_inputs - 1 : op->min_inputs != 0)
		return bad(nm, "has min_inputs %d (%s)", op->min_inputs, variadic
		           ? "at least the inputs before the variadic one"
		           : "only for a variadic op: leave it 0");
	if ((op->flags & NB_OP_LAYER) &&
	    (op->n_inputs < 1 || op->inputs[0].role != NB_ROLE_DATA))
		return bad(nm, "is flagged NB_OP_LAYER but its input 0 is not "
		           "data");
	return NB_OK;
}

static nb_status check_attrs(const nb_op *op)
{
	const char *nm = op->name;
	if (op->attrs_size > NB_MAX_ATTRS_SIZE ||
	    (op->n_attrs && !op->attrs) || op->n_attrs < 0)
		return bad(nm, "has a bad attribute table");
	for (int i = 0; i < op->n_attrs; i++) {
		const nb_attr_def *d = &op->attrs[i];
		size_t sz = d->type == NB_ATTR_INTS ? sizeof(nb_ints)
		          : d->type == NB_ATTR_BOOL ? sizeof(bool)
		          : d->type == NB_ATTR_ENUM ? sizeof(int) : 8;
		if (!d->name || (unsigned)d->type > NB_ATTR_ENUM ||
		    d->offset + sz > op->attrs_size ||
		    (d->type == NB_ATTR_ENUM && !d->choices))
			return bad(nm, "has a malformed attribute %d", i);
		if ((d->type == NB_ATTR_INT || d->type == NB_ATTR_FLOAT) &&
		    !(d->range.bounds & NB_RANGE_GIVEN))
			return bad(nm, "leaves the range of attribute '%s' unsaid "
			           "(NB_RANGE, NB_AT_LEAST, NB_AT_MOST or "
			           "NB_UNBOUNDED)", d->name);
		for (int k = 0; k < i; k++)
			if (!strcmp(op->attrs[k].name, d->name))
				return bad(nm, "has two attributes named '%s'",
				           d->name);
	}
	/* Defaults must pass the op's own checks, or every call that
	 * leaves them alone would fail. */
	_Alignas(max_align_t) unsigned char defaults[NB_MAX_ATTRS_SIZE];
	if (nb_attrs_parse(op, NULL, defaults)) {
		char why[256];
		snprintf(why, sizeof why, "%s", nb_last_error());
		return bad(nm, "has bad defaults: %s", why);
	}
	return NB_OK;
}

static nb_status check_def(const nb_op *op)
{
	const char *nm = op && op->name ? op->name : "(null)";
	if (!op)
		return nb__set_error(NB_EINVAL, "register: op is NULL");
	if (op->version != NB_OP_VERSION)
		return bad(nm, "has descriptor version %d; this library reads "
		           "version %d (set .version = NB_OP_VERSION)",
		           op->version, NB_OP_VERSION);
	if (!op->name || !*op->name || !op->forward)
		return bad(nm, "needs a name and a forward function");
	if (!op->backward != !!(op->flags & NB_OP_NO_GRAD))
		return bad(nm, op->backward
		           ? "is flagged NB_OP_NO_GRAD but has a backward"
		           : "has no backward: give one, or flag it "
		             "NB_OP_NO_GRAD (not differentiable)");
	if (op->kind >= NB_KIND_COUNT)
		return bad(nm, "has an unknown kind");
	if (op->n_outputs < 0 || op->n_outputs > NB_MAX_OUTPUTS)
		return bad(nm, "declares %d results (1..%d)", op->n_outputs,
		           NB_MAX_OUTPUTS);
	nb_status st = check_inputs(op);
	return st ? st : check_attrs(op);
}

static nb_status add(const nb_op *op)
{
	entry *e;
	nb_status st = check_def(op);
	if (st)
		return st;
	HASH_FIND_STR(table, op->name, e);
	if (e)
		return nb__set_error(NB_EEXIST, "register: an op named '%s' "
		                     "exists already", op->name);
	if (n_ops == cap_ops) {
		size_t cap = cap_ops ? cap_ops * 2 : 64;
		const nb_op **o = nb__realloc(order, cap * sizeof *o);
		if (!o)
			goto oom;
		order = o;
		cap_ops = cap;
	}
	e = nb__malloc(sizeof *e);
	if (!e)
		goto oom;
	e->op = op;
	HASH_ADD_KEYPTR(hh, table, op->name, strlen(op->name), e);
	if (!e->hh.tbl) { /* uthash's non-fatal out-of-memory signal */
		nb__free(e);
		goto oom;
	}
	order[n_ops++] = op;
	return NB_OK;
oom:
	return nb__set_error(NB_ENOMEM, "register: out of memory");
}


/* Empties the registry (after a failed initialization). */
static void clear(void)
{
	entry *e, *tmp;
	HASH_ITER(hh, table, e, tmp) {
		HASH_DEL(table, e);
		nb__free(e);
	}
	nb__free(order);
	order = NULL;
	n_ops = cap_ops = 0;
}

static nb_status init_builtins(void)
{
	for (const nb__family *f = nb__families; f->name; f++) {
		for (const nb_op *const *op = f->ops; *op; op++) {
			nb_status st = add(*op);
			if (st) {
				clear();
				return st;
			}
		}
	}
	return NB_OK;
}

nb_status nb__registry_ensure(void)
{
	nb_status st = NB_OK;
	if (atomic_load_explicit(&ready, memory_order_acquire))
		return NB_OK;
	pthread_mutex_lock(&init_lock);
	if (!atomic_load_explicit(&ready, memory_order_relaxed)) {
		st = init_builtins();
		if (!st)
			atomic_store_explicit(&ready, true, memory_order_release);
	}
	pthread_mutex_unlock(&init_lock);
	if (st)
		nb__set_error(st, "registry: built-in ops failed to register: "
		              "%s", nb_strerror(st));
	return st;
}

nb_status nb_op_register(const nb_op *op)
{
	nb_status st = nb__registry_ensure();
	return st ? st : add(op);
}

const nb_op *nb_op_find(const char *name)
{
	entry *e;
	if (!name || nb__registry_ensure())
		return NULL;
	HASH_FIND_STR(table, name, e);
	return e ? e->op : NULL;
}

size_t nb_op_count(void)
{
	return nb__registry_ensure() ? 0 : n_ops;
}

const nb_op *nb_op_at(size_t i)
{
	return i < nb_op_count() ? order[i] : NULL;
}

nb_tensor *nb_call(nb_graph *g, const char *name, int n_in,
                   nb_tensor *const *in, const char *attrs)
{
	if (!g || !name) {
		nb__graph_fail(g, NB_EINVAL, "call: %s is NULL",
		               g ? "op name" : "graph");
		return NULL;
	}
	const nb_op *op = nb_op_find(name);
	if (!op) {
		nb__graph_fail(g, NB_ENOTFOUND, "unknown op '%s'", name);
		return NULL;
	}
	_Alignas(max_align_t) unsigned char buf[NB_MAX_ATTRS_SIZE];
	if (nb_attrs_parse(op, attrs, buf)) {
		nb__graph_fail(g, nb_last_status(), "%s", nb_last_error());
		return NULL;
	}
	return nb_apply(g, op, n_in, in, buf);
}
