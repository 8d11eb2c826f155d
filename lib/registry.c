/*
 * registry.c - the op registry: a uthash table keyed by name, plus the
 * registration order for listings.  Built-in families register on first
 * use, under a mutex, so lookups after that are safe from any thread.
 * If that fails (out of memory), what was registered is removed again
 * and the next use tries anew: a failed first call breaks nothing.
 */
#include <pthread.h>
#include <stdatomic.h>
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

static const char *const kind_names[NB_KIND_COUNT] = {
	"arithmetic", "reduction", "shape", "linalg", "activation",
	"normalization", "regularizer", "loss", "convolution", "pooling",
	"custom",
};

const char *nb_op_kind_name(nb_op_kind k)
{
	return (unsigned)k < NB_KIND_COUNT ? kind_names[k] : "?";
}

static nb_status check_def(const nb_op *op)
{
	const char *nm = op && op->name ? op->name : "(null)";
	if (!op || !op->name || !*op->name || !op->forward)
		return nb__set_error(NB_EINVAL, "register: op '%s' needs a name "
		                     "and a forward function", nm);
	if (op->n_inputs < 0 || op->n_inputs > NB_MAX_INPUTS)
		return nb__set_error(NB_EINVAL, "register: op '%s' declares %d "
		                     "inputs (0..%d)", nm, op->n_inputs,
		                     NB_MAX_INPUTS);
	if (op->attrs_size > NB_MAX_ATTRS_SIZE ||
	    (op->n_attrs && !op->attrs) || op->n_attrs < 0)
		return nb__set_error(NB_EINVAL, "register: op '%s' has a bad "
		                     "attribute table", nm);
	for (int i = 0; i < op->n_attrs; i++) {
		const nb_attr_def *d = &op->attrs[i];
		size_t sz = d->type == NB_ATTR_INTS ? sizeof(nb_ints) : 8;
		if (!d->name || (unsigned)d->type > NB_ATTR_ENUM ||
		    d->offset + (d->type == NB_ATTR_BOOL ? 1 :
		    d->type == NB_ATTR_ENUM ? sizeof(int) : sz) >
		    op->attrs_size || (d->type == NB_ATTR_ENUM && !d->choices))
			return nb__set_error(NB_EINVAL, "register: op '%s': "
			                     "attribute %d is malformed", nm, i);
		for (int k = 0; k < i; k++)
			if (!strcmp(op->attrs[k].name, d->name))
				return nb__set_error(NB_EINVAL, "register: op '%s' "
				    "has two attributes named '%s'", nm, d->name);
	}
	if (op->kind >= NB_KIND_COUNT)
		return nb__set_error(NB_EINVAL, "register: op '%s' has an "
		                     "unknown kind", nm);
	/* Defaults must pass the op's own checks, or every call that
	 * leaves them alone would fail. */
	_Alignas(max_align_t) unsigned char defaults[NB_MAX_ATTRS_SIZE];
	if (nb_attrs_parse(op, NULL, defaults)) {
		char why[256];
		snprintf(why, sizeof why, "%s", nb_last_error());
		return nb__set_error(NB_EINVAL, "register: op '%s' has bad "
		                     "defaults: %s", nm, why);
	}
	return NB_OK;
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

nb_status nb__register_table(const nb_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		nb_status st = add(&ops[i]);
		if (st)
			return st;
	}
	return NB_OK;
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
	nb_status (*const families[])(void) = {
		nb__register_arith, nb__register_reduce, nb__register_shape,
		nb__register_linalg, nb__register_loss,
		nb__register_activation, nb__register_norm,
		nb__register_regularize, nb__register_conv,
	};
	for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
		nb_status st = families[i]();
		if (st) {
			clear();
			return st;
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
