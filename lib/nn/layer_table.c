/*
 * layer_table.c - the table of spec layers other than op layers: a
 * uthash table keyed by name plus the registration order, as the op
 * registry (lib/ops/registry.c).  The built-in rows (layer_rows.c)
 * register on first use, under a mutex; if that fails, what was added
 * is removed again and the next use tries anew.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include "internal.h"

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) nb__malloc(sz)
#define uthash_free(ptr, sz) nb__free(ptr)
#include <uthash.h>

typedef struct entry {
	const nb_layer_def *def;
	UT_hash_handle hh;
} entry;

static entry *table;
static const nb_layer_def **order;
static size_t n_defs, cap_defs;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool ready;

static bool is_name(const char *s)
{
	if (!s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static nb_status add(const nb_layer_def *d)
{
	entry *e;
	const char *nm = d && d->name ? d->name : "(null)";
	if (!d || d->version != NB_LAYER_DEF_VERSION || !is_name(d->name) ||
	    !d->build || d->n_attrs < 0 || (d->n_attrs && !d->attrs) ||
	    d->attrs_size > NB_MAX_ATTRS_SIZE || d->n_positional < 0 ||
	    d->n_positional > d->n_attrs + 1)
		return nb__set_error(NB_EINVAL, "register: layer '%s' is "
		                     "malformed (%s)", nm,
		    !d ? "NULL" : d->version != NB_LAYER_DEF_VERSION
		    ? "unknown version" : !is_name(d->name)
		    ? "its name is not an identifier" : !d->build
		    ? "no build function" : d->attrs_size > NB_MAX_ATTRS_SIZE
		    ? "attribute struct too large" : "bad attribute table");
	HASH_FIND_STR(table, d->name, e);
	const nb_op *op = nb_op_find(d->name);
	if (e || (op && (op->flags & NB_OP_LAYER)))
		return nb__set_error(NB_EEXIST, "register: layer '%s' exists "
		                     "already (%s)", nm, e ? "a layer"
		                     : "an op layer");
	if (n_defs == cap_defs) {
		size_t cap = cap_defs ? 2 * cap_defs : 16;
		const nb_layer_def **t = nb__realloc(order, cap * sizeof *t);
		if (!t)
			return nb__set_error(NB_ENOMEM, "register: out of memory");
		order = t;
		cap_defs = cap;
	}
	if (!(e = nb__malloc(sizeof *e)))
		return nb__set_error(NB_ENOMEM, "register: out of memory");
	e->def = d;
	HASH_ADD_KEYPTR(hh, table, d->name, strlen(d->name), e);
	if (!e->hh.tbl) {
		nb__free(e);
		return nb__set_error(NB_ENOMEM, "register: out of memory");
	}
	order[n_defs++] = d;
	return NB_OK;
}

/* Removes every row (a failed first registration). */
static void clear(void)
{
	entry *e, *tmp;
	HASH_ITER(hh, table, e, tmp) {
		HASH_DEL(table, e);
		nb__free(e);
	}
	nb__free(order);
	order = NULL;
	n_defs = cap_defs = 0;
}

nb_status nb__layers_ensure(void)
{
	nb_status st = NB_OK;
	if (atomic_load(&ready))
		return NB_OK;
	if ((st = nb__registry_ensure()))
		return st;
	pthread_mutex_lock(&init_lock);
	if (!atomic_load(&ready)) {
		for (size_t i = 0; !st && nb__builtin_layers[i]; i++)
			st = add(nb__builtin_layers[i]);
		for (size_t i = 0; !st && nb__seq_layers[i]; i++)
			st = add(nb__seq_layers[i]);
		if (st)
			clear();
		else
			atomic_store(&ready, true);
	}
	pthread_mutex_unlock(&init_lock);
	return st;
}

nb_status nb_layer_register(const nb_layer_def *def)
{
	nb_status st = nb__layers_ensure();
	return st ? st : add(def);
}

const nb_layer_def *nb_layer_find(const char *name)
{
	entry *e;
	if (!name || nb__layers_ensure())
		return NULL;
	HASH_FIND_STR(table, name, e);
	return e ? e->def : NULL;
}

size_t nb_layer_count(void)
{
	return nb__layers_ensure() ? 0 : n_defs;
}

const nb_layer_def *nb_layer_at(size_t i)
{
	return !nb__layers_ensure() && i < n_defs ? order[i] : NULL;
}
