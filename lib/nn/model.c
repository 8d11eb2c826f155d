/*
 * model.c - the module tree: named parameters and buffers, children,
 * hierarchical names, forward with graph scopes, train/eval, freezing
 * and the flat tensor collection used by optimizers and checkpoints.
 * The built-in modules are in layers.c.
 */
#include <ctype.h>
#include <stdio.h>
#include "internal.h"

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) nb__malloc(sz)
#define uthash_free(ptr, sz) nb__free(ptr)
#include <uthash.h>

/* A name taken in a module (a slot's or a child's), so that adding the
 * n-th name costs O(1), not O(n): models of 100,000 layers. */
typedef struct name_ent {
	const char *name; /* borrowed from the slot or the child */
	nb_module *child; /* the child of that name, NULL for a slot */
	UT_hash_handle hh;
} name_ent;

typedef struct slot {
	char *name;        /* local name */
	nb_tensor *t;
	bool buffer;
	nb_param_kind kind; /* parameters: what the layer says it is */
} slot;

struct nb_module {
	const nb_module_class *cls;
	char *name;
	void *state;
	nb_module *parent;
	slot *slots;
	size_t n_slots, cap_slots;
	nb_module **children;
	size_t n_children, cap_children;
	bool training;
	bool stateful;         /* carries state between calls */
	nb_named_tensor *flat; /* nb_module_tensors' result */
	size_t cap_flat;
	name_ent *names;       /* every slot's and child's name */
};

static bool valid_name(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
	return true;
}

nb_module *nb_module_new(const nb_module_class *cls, const char *name,
                         void *state)
{
	nb_module *m = NULL;
	if (!cls || (!cls->forward && !cls->forward_multi)) {
		nb__set_error(NB_EINVAL, "module: the class needs a forward "
		              "function");
		goto fail;
	}
	if (name && *name && !valid_name(name)) {
		nb__set_error(NB_EINVAL, "module: bad name '%s' (letters, "
		              "digits, '_' and '-')", name);
		goto fail;
	}
	if (!(m = nb__calloc(1, sizeof *m)) ||
	    !(m->name = nb__strdup(name ? name : ""))) {
		nb__set_error(NB_ENOMEM, "module: out of memory");
		goto fail;
	}
	m->cls = cls;
	m->state = state;
	m->training = true;
	return m;
fail:
	if (m)
		nb__free(m);
	if (cls && cls->free_state && state)
		cls->free_state(state);
	return NULL;
}

void nb_module_free(nb_module *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_children; i++)
		nb_module_free(m->children[i]);
	for (size_t i = 0; i < m->n_slots; i++) {
		nb_tensor_free(m->slots[i].t);
		nb__free(m->slots[i].name);
	}
	if (m->cls->free_state && m->state)
		m->cls->free_state(m->state);
	name_ent *e, *tmp;
	HASH_ITER(hh, m->names, e, tmp) {
		HASH_DEL(m->names, e);
		nb__free(e);
	}
	nb__free(m->children);
	nb__free(m->slots);
	nb__free(m->flat);
	nb__free(m->name);
	nb__free(m);
}

/* Accessors of a NULL module give "", NULL or 0 and set no error. */
const char *nb_module_name(const nb_module *m) { return m ? m->name : ""; }
const char *nb_module_type(const nb_module *m)
{
	if (!m)
		return "";
	return m->cls->type ? m->cls->type : "module";
}
void *nb_module_state(const nb_module *m) { return m ? m->state : NULL; }
nb_module *nb_module_parent(const nb_module *m)
{
	return m ? m->parent : NULL;
}

size_t nb_module_child_count(const nb_module *m)
{
	return m ? m->n_children : 0;
}

nb_module *nb_module_child(const nb_module *m, size_t i)
{
	return m && i < m->n_children ? m->children[i] : NULL;
}

/* The path of m from below the root ("" for the root), into buf. */
static size_t path_of(const nb_module *m, char *buf, size_t n)
{
	if (!m->parent)
		return 0;
	size_t k = path_of(m->parent, buf, n);
	k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%s",
	                      k ? "." : "", m->name);
	return k < n ? k : n - 1;
}

static nb_status name_slot(const nb_module *m, slot *s)
{
	char buf[512];
	size_t k = path_of(m, buf, sizeof buf);
	snprintf(buf + k, sizeof buf - k, "%s%s", k ? "." : "", s->name);
	return nb_tensor_set_name(s->t, buf);
}

static nb_status rename_tree(nb_module *m)
{
	for (size_t i = 0; i < m->n_slots; i++)
		if (name_slot(m, &m->slots[i]))
			return nb_last_status();
	for (size_t i = 0; i < m->n_children; i++)
		if (rename_tree(m->children[i]))
			return nb_last_status();
	return NB_OK;
}

static bool name_taken(const nb_module *m, const char *name)
{
	name_ent *e;
	HASH_FIND_STR(m->names, name, e);
	return e != NULL;
}

/* Records name (kept alive by its slot or child) as taken; NB_ENOMEM
 * leaves the index as it was. */
static nb_status take_name(nb_module *m, const char *name,
                           nb_module *child)
{
	name_ent *e = nb__malloc(sizeof *e);
	if (!e)
		return NB_ENOMEM;
	e->name = name;
	e->child = child;
	HASH_ADD_KEYPTR(hh, m->names, e->name, strlen(e->name), e);
	if (!e->hh.tbl) { /* uthash's non-fatal out-of-memory signal */
		nb__free(e);
		return NB_ENOMEM;
	}
	return NB_OK;
}

static nb_status add_slot(nb_module *m, const char *name, nb_tensor *t,
                          bool buffer, nb_param_kind kind)
{
	nb_status st;
	slot s = {0};
	if (!m || !t || !name || !valid_name(name) || nb_tensor_is_graph(t)) {
		st = nb__set_error(NB_EINVAL, "module: add_%s: %s",
		    buffer ? "buffer" : "param", !m ? "module is NULL"
		    : !t ? "tensor is NULL" : !name ? "name is NULL"
		    : nb_tensor_is_graph(t)
		    ? "a graph tensor cannot be kept by a module"
		    : "bad name (letters, digits, '_' and '-')");
		goto fail;
	}
	if (name_taken(m, name)) {
		st = nb__set_error(NB_EEXIST, "module '%s': the name '%s' is "
		                   "taken", m->name, name);
		goto fail;
	}
	if (!buffer && !nb__is_float(t->dtype)) {
		st = nb__set_error(NB_EDTYPE, "module '%s': parameter '%s' must "
		                   "be float32 or float64", m->name, name);
		goto fail;
	}
	if (m->n_slots == m->cap_slots) {
		size_t cap = m->cap_slots ? m->cap_slots * 2 : 4;
		slot *n = nb__realloc(m->slots, cap * sizeof *n);
		if (!n)
			goto oom;
		m->slots = n;
		m->cap_slots = cap;
	}
	if (!(s.name = nb__strdup(name)))
		goto oom;
	s.t = t;
	s.buffer = buffer;
	s.kind = kind;
	if ((st = name_slot(m, &s))) {
		nb__free(s.name);
		goto fail;
	}
	if (take_name(m, s.name, NULL)) {
		nb__free(s.name);
		goto oom;
	}
	nb_tensor_set_requires_grad(t, !buffer);
	m->slots[m->n_slots++] = s;
	return NB_OK;
oom:
	st = nb__set_error(NB_ENOMEM, "module: out of memory");
fail:
	nb_tensor_free(t);
	return st;
}

nb_status nb_module_add_param(nb_module *m, const char *name, nb_tensor *t)
{
	return add_slot(m, name, t, false, NB_PARAM_UNKNOWN);
}

nb_status nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t)
{
	return add_slot(m, name, t, true, NB_PARAM_UNKNOWN);
}

/* ---- parameter kinds (issue 16: parameter groups) ---- */

nb_status nb_module_add_param_kind(nb_module *m, const char *name,
                                   nb_tensor *t, nb_param_kind kind)
{
	if ((unsigned)kind > NB_PARAM_ELEMENTWISE) {
		nb_tensor_free(t);
		return nb__set_error(NB_EINVAL, "module: add_param_kind: bad "
		                     "kind %d", (int)kind);
	}
	return add_slot(m, name, t, false, kind);
}

nb_param_kind nb_module_param_kind(const nb_module *m, const nb_tensor *p)
{
	if (!m || !p)
		return NB_PARAM_UNKNOWN;
	for (size_t i = 0; i < m->n_slots; i++)
		if (m->slots[i].t == p && !m->slots[i].buffer)
			return m->slots[i].kind;
	for (size_t i = 0; i < m->n_children; i++) {
		nb_param_kind k = nb_module_param_kind(m->children[i], p);
		if (k != NB_PARAM_UNKNOWN)
			return k;
	}
	return NB_PARAM_UNKNOWN;
}

bool nb_param_decays(nb_param_kind kind, const nb_tensor *p)
{
	if (!p)
		return false;
	switch (kind) {
	case NB_PARAM_WEIGHT: return true;
	case NB_PARAM_BIAS:
	case NB_PARAM_NORM:
	case NB_PARAM_ELEMENTWISE: return false;
	case NB_PARAM_UNKNOWN: break;
	}
	return nb_tensor_ndim(p) >= 2;
}

nb_status nb_module_add(nb_module *parent, nb_module *child)
{
	nb_status st;
	if (!parent || !child || child->parent || !valid_name(child->name) ||
	    child == parent) {
		st = nb__set_error(NB_EINVAL, "module: add: %s",
		    !parent || !child ? "module is NULL"
		    : child->parent ? "the child has a parent already"
		    : child == parent ? "a module cannot contain itself"
		    : "the child needs a name");
		if (child && child->parent)
			return st; /* not ours to free */
		goto fail;
	}
	if (name_taken(parent, child->name)) {
		st = nb__set_error(NB_EEXIST, "module '%s': the name '%s' is "
		                   "taken", parent->name, child->name);
		goto fail;
	}
	if (parent->n_children == parent->cap_children) {
		size_t cap = parent->cap_children ? parent->cap_children * 2 : 4;
		nb_module **n = nb__realloc(parent->children, cap * sizeof *n);
		if (!n) {
			st = nb__set_error(NB_ENOMEM, "module: out of memory");
			goto fail;
		}
		parent->children = n;
		parent->cap_children = cap;
	}
	if (take_name(parent, child->name, child)) {
		st = nb__set_error(NB_ENOMEM, "module: out of memory");
		goto fail;
	}
	child->parent = parent;
	parent->children[parent->n_children++] = child;
	return rename_tree(child);
fail:
	nb_module_free(child);
	return st;
}

/* The tensor of m's subtree named by the dotted path name[0..n). */
static nb_tensor *lookup(const nb_module *m, const char *name)
{
	size_t k = strcspn(name, ".");
	if (!name[k]) {
		for (size_t i = 0; i < m->n_slots; i++)
			if (!strcmp(m->slots[i].name, name))
				return m->slots[i].t;
		return NULL;
	}
	for (size_t i = 0; i < m->n_children; i++) {
		const char *cn = m->children[i]->name;
		if (strlen(cn) == k && !strncmp(cn, name, k))
			return lookup(m->children[i], name + k + 1);
	}
	return NULL;
}

nb_tensor *nb_module_tensor(const nb_module *m, const char *name)
{
	return m && name ? lookup(m, name) : NULL;
}

/* Checks g and m for the forward functions; false (with the error
 * recorded) when the call cannot go on. */
static bool forward_ready(nb_module *m, nb_graph *g)
{
	if (!g) {
		nb__set_error(NB_EINVAL, "module: forward: graph is NULL");
		return false;
	}
	if (!m) {
		nb__graph_fail(g, NB_EINVAL, "module: forward: module is NULL");
		return false;
	}
	return true;
}

/* Sets the mode, pushes m's scope (not the root's); false on error. */
static bool enter(nb_module *m, nb_graph *g, bool *scoped)
{
	*scoped = m->parent && m->name[0];
	nb_graph_set_training(g, m->training);
	return !(*scoped && nb_graph_scope_push(g, m->name));
}

/* The class's multi-result forward (or its one-input forward) of m,
 * with the scope already pushed. */
static int call_multi(nb_module *m, nb_graph *g, int n_in,
                      nb_tensor *const *in, int cap, nb_tensor **out)
{
	if (m->cls->forward_multi) {
		int n = m->cls->forward_multi(m, g, n_in, in, cap, out);
		if (n < 0 && !g->err)
			nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): forward "
			               "failed without an error", m->name,
			               nb_module_type(m));
		if (n >= 0 && g->err)
			return -1;
		return n < 0 ? -1 : n;
	}
	if (n_in != 1 || !in[0]) {
		nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): takes one "
		               "input, given %d", m->name, nb_module_type(m),
		               n_in == 1 ? 0 : n_in);
		return -1;
	}
	nb_tensor *y = m->cls->forward(m, g, in[0]);
	if (!y) {
		if (!g->err)
			nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): forward "
			               "failed without an error", m->name,
			               nb_module_type(m));
		return -1;
	}
	if (cap > 0)
		out[0] = y;
	return 1;
}

nb_tensor *nb_module_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	if (!forward_ready(m, g))
		return NULL;
	if (!x) {
		if (!g->err)
			nb__graph_fail(g, NB_EINVAL, "module '%s': input is NULL",
			               m->name);
		return NULL;
	}
	bool scoped;
	if (!enter(m, g, &scoped))
		return NULL;
	nb_tensor *y = NULL;
	if (m->cls->forward) {
		y = m->cls->forward(m, g, x);
		if (!y && !g->err)
			nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): forward "
			               "failed without an error", m->name,
			               nb_module_type(m));
	} else {
		int n = call_multi(m, g, 1, &x, 1, &y);
		if (n == 0)
			nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): forward "
			               "gave no result", m->name,
			               nb_module_type(m));
		if (n < 1)
			y = NULL;
	}
	if (scoped)
		nb_graph_scope_pop(g);
	return y;
}

int nb_module_forward_multi(nb_module *m, nb_graph *g, int n_in,
                            nb_tensor *const *in, int cap, nb_tensor **out)
{
	if (!forward_ready(m, g))
		return -1;
	if (g->err)
		return -1; /* a failed input: keep the first error */
	if (n_in < 0 || n_in > NB_MODULE_MAX_RESULTS || (n_in > 0 && !in) ||
	    cap < 0 || (cap > 0 && !out)) {
		nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): forward: %s",
		               m->name, nb_module_type(m),
		               n_in < 0 || n_in > NB_MODULE_MAX_RESULTS
		               ? "input count out of range"
		               : cap < 0 ? "negative result capacity"
		               : n_in > 0 && !in ? "inputs are NULL"
		               : "results are NULL");
		return -1;
	}
	bool scoped;
	if (!enter(m, g, &scoped))
		return -1;
	int n = call_multi(m, g, n_in, in, cap, out);
	if (n > NB_MODULE_MAX_RESULTS) {
		nb__graph_fail(g, NB_EINVAL, "module '%s' (%s): %d results, "
		               "at most %d", m->name, nb_module_type(m), n,
		               NB_MODULE_MAX_RESULTS);
		n = -1;
	}
	if (scoped)
		nb_graph_scope_pop(g);
	return n;
}

nb_module *nb_module_child_named(const nb_module *m, const char *name)
{
	if (!m || !name)
		return NULL;
	name_ent *e;
	HASH_FIND_STR(m->names, name, e);
	return e ? e->child : NULL;
}

void nb_module_set_training(nb_module *m, bool training)
{
	if (!m)
		return;
	m->training = training;
	for (size_t i = 0; i < m->n_children; i++)
		nb_module_set_training(m->children[i], training);
}

bool nb_module_training(const nb_module *m) { return m && m->training; }

void nb_module_set_stateful(nb_module *m, bool on)
{
	if (!m)
		return;
	m->stateful = on;
	for (size_t i = 0; i < m->n_children; i++)
		nb_module_set_stateful(m->children[i], on);
}

bool nb_module_stateful(const nb_module *m) { return m && m->stateful; }

bool nb_module_has_state(const nb_module *m)
{
	if (!m)
		return false;
	if (m->cls->reset_state)
		return true;
	for (size_t i = 0; i < m->n_children; i++)
		if (nb_module_has_state(m->children[i]))
			return true;
	return false;
}

void nb_module_reset_state(nb_module *m)
{
	if (!m)
		return;
	if (m->cls->reset_state)
		m->cls->reset_state(m);
	for (size_t i = 0; i < m->n_children; i++)
		nb_module_reset_state(m->children[i]);
}

static size_t count_slots(const nb_module *m)
{
	size_t n = m->n_slots;
	for (size_t i = 0; i < m->n_children; i++)
		n += count_slots(m->children[i]);
	return n;
}

static void fill_flat(const nb_module *m, nb_named_tensor *out, size_t *k)
{
	for (size_t i = 0; i < m->n_slots; i++) {
		out[*k].name = nb_tensor_name(m->slots[i].t);
		out[*k].tensor = m->slots[i].t;
		out[*k].buffer = m->slots[i].buffer;
		++*k;
	}
	for (size_t i = 0; i < m->n_children; i++)
		fill_flat(m->children[i], out, k);
}

size_t nb_module_tensors(nb_module *m, const nb_named_tensor **out)
{
	if (out)
		*out = NULL;
	if (!m)
		return 0;
	size_t n = count_slots(m), k = 0;
	if (!out)
		return n;
	if (n > m->cap_flat) {
		nb_named_tensor *f = nb__realloc(m->flat, n * sizeof *f);
		if (!f) {
			nb__set_error(NB_ENOMEM, "module: out of memory");
			return 0;
		}
		m->flat = f;
		m->cap_flat = n;
	}
	fill_flat(m, m->flat, &k);
	*out = m->flat;
	return n;
}

/* Calls fn on every parameter (not buffer) of m's subtree. */
static void each_param(nb_module *m, void (*fn)(slot *s, void *ud),
                       void *ud)
{
	for (size_t i = 0; i < m->n_slots; i++)
		if (!m->slots[i].buffer)
			fn(&m->slots[i], ud);
	for (size_t i = 0; i < m->n_children; i++)
		each_param(m->children[i], fn, ud);
}

typedef struct collect {
	bool trainable_only;
	nb_tensor **out;
	size_t cap, n, numel;
} collect;

static void collect_one(slot *s, void *ud)
{
	collect *c = ud;
	if (c->trainable_only && !nb_tensor_requires_grad(s->t))
		return;
	if (c->n < c->cap)
		c->out[c->n] = s->t;
	c->n++;
	c->numel += s->t->numel;
}

size_t nb_module_params(nb_module *m, bool trainable_only, nb_tensor **out,
                        size_t cap)
{
	collect c = {trainable_only, out, out ? cap : 0, 0, 0};
	if (m)
		each_param(m, collect_one, &c);
	return c.n;
}

size_t nb_module_numel(nb_module *m, bool trainable_only)
{
	collect c = {trainable_only, NULL, 0, 0, 0};
	if (m)
		each_param(m, collect_one, &c);
	return c.numel;
}

static void zero_one(slot *s, void *ud)
{
	(void)ud;
	nb_tensor_zero_grad(s->t);
}

void nb_module_zero_grad(nb_module *m)
{
	if (m)
		each_param(m, zero_one, NULL);
}

typedef struct freeze {
	const char *prefix;
	size_t len, matched;
	bool frozen;
} freeze;

static void freeze_one(slot *s, void *ud)
{
	freeze *f = ud;
	const char *name = nb_tensor_name(s->t);
	if (f->len && (strncmp(name, f->prefix, f->len) ||
	    (name[f->len] && name[f->len] != '.')))
		return;
	f->matched++;
	nb_tensor_set_requires_grad(s->t, !f->frozen);
	if (f->frozen && s->t->grad) {
		/* A stale gradient would still be applied by an optimizer
		 * that skips only tensors without one. */
		nb_tensor_free(s->t->grad);
		s->t->grad = NULL;
	}
}

nb_status nb_module_freeze(nb_module *m, const char *prefix, bool frozen,
                           size_t *matched)
{
	freeze f = {prefix ? prefix : "", 0, 0, frozen};
	if (matched)
		*matched = 0;
	if (!m || !prefix)
		return nb__set_error(NB_EINVAL, "%s: %s is NULL",
		                     frozen ? "freeze" : "unfreeze",
		                     m ? "prefix" : "module");
	f.len = strlen(f.prefix);
	each_param(m, freeze_one, &f);
	if (matched)
		*matched = f.matched;
	if (!f.matched)
		return nb__set_error(NB_ENOTFOUND, "%s: no parameter is named "
		                     "'%s' or starts with '%s.'",
		                     frozen ? "freeze" : "unfreeze", f.prefix,
		                     f.prefix);
	return NB_OK;
}

const nb_module_class *nb__module_class(const nb_module *m)
{
	return m ? m->cls : NULL;
}

nb_status nb__module_rename(nb_module *m, const char *name)
{
	if (!m || m->parent || !valid_name(name))
		return nb__set_error(NB_EINVAL, "module: cannot rename %s to "
		                     "'%s'", !m ? "NULL" : m->parent
		                     ? "a module with a parent" : "a module",
		                     name ? name : "(null)");
	char *nm = nb__strdup(name);
	if (!nm)
		return nb__set_error(NB_ENOMEM, "module: out of memory");
	nb__free(m->name);
	m->name = nm;
	return NB_OK;
}
