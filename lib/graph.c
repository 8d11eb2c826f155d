/*
 * graph.c - the tape: graph tensors, nodes, modes and the sticky error.
 *
 * Memory per step: tensor data, saved state and gradients come from the
 * data arena; tensor headers and nodes from one of two meta arenas, used
 * by even and odd generations in turn.  Reset rewinds the data arena and
 * the meta arena of the generation *before* the current one, so the
 * headers of the step just ended stay readable for one more step: a
 * tensor kept by mistake past reset is then reliably reported as stale
 * (its generation no longer matches) rather than read after reuse.
 */
#include <stdio.h>
#include "internal.h"

nb_graph *nb_graph_new(void)
{
	nb__threads_init();
	nb_graph *g = nb__calloc(1, sizeof *g);
	if (!g) {
		nb__set_error(NB_ENOMEM, "graph: out of memory");
		return NULL;
	}
	g->training = true;
	g->grad_enabled = true;
	g->retain_grads = true;
	g->gen = 1;
	g->scope = "";
	nb_rng_seed(&g->rng, 0);
	return g;
}

void nb_graph_free(nb_graph *g)
{
	if (!g)
		return;
	nb__arena_free(&g->data);
	nb__arena_free(&g->meta[0]);
	nb__arena_free(&g->meta[1]);
	nb__arena_free(&g->temp);
	nb__free(g->tape);
	nb__free(g);
}

void nb_graph_reset(nb_graph *g)
{
	if (!g)
		return;
	g->gen++;
	nb__arena_rewind(&g->data);
	nb__arena_rewind(&g->meta[g->gen & 1]);
	nb__arena_rewind(&g->temp);
	g->n_nodes = 0;
	g->gfree = NULL;
	g->scope = "";
	g->scope_depth = 0;
	g->err = NB_OK;
	g->msg[0] = '\0';
}

/*
 * A NULL graph is most often nb_graph_new() out of memory: it reads as
 * failed (NB_EINVAL, since the graph cannot know why it is NULL), and
 * nb_last_error() is left alone, so that it still holds the cause.  The
 * other accessors give a neutral value and the setters do nothing.
 */
nb_status nb_graph_status(const nb_graph *g) { return g ? g->err : NB_EINVAL; }
const char *nb_graph_errmsg(const nb_graph *g)
{
	return g ? g->msg : "graph is NULL";
}

void nb_graph_clear_error(nb_graph *g)
{
	if (!g)
		return;
	g->err = NB_OK;
	g->msg[0] = '\0';
}

void nb_graph_set_training(nb_graph *g, bool on)
{
	if (g)
		g->training = on;
}

bool nb_graph_training(const nb_graph *g) { return g && g->training; }
void nb_graph_set_anomaly(nb_graph *g, bool on)
{
	if (g)
		g->anomaly = on;
}

void nb__graph_set_grad_hook(nb_graph *g, void (*hook)(void *, nb_tensor *),
                             void *ctx)
{
	g->grad_hook = hook;
	g->grad_hook_ctx = hook ? ctx : NULL;
}

void nb_graph_set_retain_grads(nb_graph *g, bool on)
{
	if (g)
		g->retain_grads = on;
}

bool nb_graph_grad_enabled(const nb_graph *g) { return g && g->grad_enabled; }

bool nb_graph_set_grad_enabled(nb_graph *g, bool on)
{
	if (!g)
		return false;
	bool was = g->grad_enabled;
	g->grad_enabled = on;
	return was;
}

void nb_graph_seed(nb_graph *g, uint64_t seed)
{
	if (g)
		nb_rng_seed(&g->rng, seed);
}

nb_rng *nb_graph_rng(nb_graph *g) { return g ? &g->rng : NULL; }
size_t nb_graph_node_count(const nb_graph *g) { return g ? g->n_nodes : 0; }

size_t nb_graph_bytes(const nb_graph *g)
{
	if (!g)
		return 0;
	return g->data.total + g->meta[0].total + g->meta[1].total +
	       g->temp.total + g->cap_nodes * sizeof *g->tape + sizeof *g;
}

size_t nb_graph_bytes_used(const nb_graph *g)
{
	return g ? g->data.peak_used : 0;
}

/* Sets the last error and, if g has none yet, g's: the graph keeps
 * its first error. */
static nb_status vfail(nb_graph *g, nb_status code, const char *fmt,
                       va_list ap)
{
	nb__vset_error(code, fmt, ap);
	if (g && !g->err) {
		g->err = code;
		snprintf(g->msg, sizeof g->msg, "%s", nb_last_error());
	}
	return code;
}

nb_status nb__graph_fail(nb_graph *g, nb_status code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(g, code, fmt, ap);
	va_end(ap);
	return code;
}

nb_status nb_graph_fail(nb_graph *g, nb_status code, const char *fmt, ...)
{
	if (code == NB_OK || !fmt)
		code = NB_EINVAL, fmt = "graph: fail: no error given";
	va_list ap;
	va_start(ap, fmt);
	vfail(g, code, fmt, ap);
	va_end(ap);
	return code;
}

void *nb__graph_alloc(nb_graph *g, size_t n)
{
	return nb__arena_alloc(&g->data, n);
}

void *nb__graph_meta_alloc(nb_graph *g, size_t n)
{
	return nb__arena_alloc(&g->meta[g->gen & 1], n);
}

static nb_tensor *new_tensor(nb_graph *g, nb_dtype dt, int ndim,
                             const int64_t *shape, bool zeroed)
{
	nb_tensor tmp;
	nb_status st = nb__tensor_init(&tmp, dt, ndim, shape);
	if (st) {
		nb__graph_fail(g, st, "%s", nb_last_error());
		return NULL;
	}
	nb_tensor *t = nb__graph_meta_alloc(g, sizeof *t);
	size_t bytes = nb__nbytes(&tmp);
	void *data = !t ? NULL
	           : zeroed ? nb__graph_alloc(g, bytes)
	                    : nb__arena_alloc_raw(&g->data, bytes);
	if (!data) {
		nb__graph_fail(g, NB_ENOMEM, "graph: out of memory for a %s "
		               "tensor of %zu elements", nb_dtype_name(dt),
		               tmp.numel);
		return NULL;
	}
	*t = tmp;
	t->data = data;
	t->graph = g;
	t->gen = g->gen;
	t->flags = NB_T_GRAPH;
	return t;
}

nb_tensor *nb__graph_new_tensor(nb_graph *g, nb_dtype dt, int ndim,
                                const int64_t *shape)
{
	return new_tensor(g, dt, ndim, shape, true);
}

nb_tensor *nb__graph_new_tensor_raw(nb_graph *g, nb_dtype dt, int ndim,
                                    const int64_t *shape)
{
	return new_tensor(g, dt, ndim, shape, false);
}

nb_tensor *nb_graph_tensor(nb_graph *g, nb_dtype dt, int ndim,
                           const int64_t *shape)
{
	if (!g) {
		nb__set_error(NB_EINVAL, "graph_tensor: graph is NULL");
		return NULL;
	}
	return nb__graph_new_tensor(g, dt, ndim, shape);
}

nb_tensor *nb_graph_from_data(nb_graph *g, nb_dtype dt, int ndim,
                              const int64_t *shape, const void *data)
{
	if (g && !data) {
		nb__graph_fail(g, NB_EINVAL, "graph_from_data: data is NULL");
		return NULL;
	}
	nb_tensor *t = nb_graph_tensor(g, dt, ndim, shape);
	if (t)
		memcpy(t->data, data, nb__nbytes(t));
	return t;
}

nb_status nb__graph_reserve_node(nb_graph *g)
{
	if (g->n_nodes == g->cap_nodes) {
		size_t cap = g->cap_nodes ? g->cap_nodes * 2 : 256;
		nb_node **t = nb__realloc(g->tape, cap * sizeof *t);
		if (!t)
			return nb__graph_fail(g, NB_ENOMEM,
			                      "graph: out of memory for the tape");
		g->tape = t;
		g->cap_nodes = cap;
	}
	return NB_OK;
}

nb_status nb__graph_push_node(nb_graph *g, nb_node *n)
{
	/* Reserved, unless ops run inside the forward of another took the
	 * room since. */
	if (nb__graph_reserve_node(g))
		return NB_ENOMEM;
	n->id = g->n_nodes;
	g->tape[g->n_nodes++] = n;
	return NB_OK;
}

nb_status nb__check_live(nb_graph *g, const nb_tensor *t, const char *what)
{
	if (t->graph && t->gen != t->graph->gen)
		return nb__graph_fail(g, NB_ESTALE,
		    "%s: tensor%s%s belongs to a graph that has been reset "
		    "since it was made", what, t->name ? " " : "",
		    t->name ? t->name : "");
	if (t->graph && g && t->graph != g)
		return nb__graph_fail(g, NB_EINVAL,
		    "%s: tensor belongs to another graph", what);
	return NB_OK;
}

void nb__describe_inputs(char *buf, size_t n, int n_in,
                         nb_tensor *const *in)
{
	size_t k = (size_t)snprintf(buf, n, " (inputs:");
	for (int i = 0; i < n_in && k < n; i++) {
		char s[96];
		if (!in[i])
			k += (size_t)snprintf(buf + k, n - k, "%s none",
			                      i ? "," : "");
		else
			k += (size_t)snprintf(buf + k, n - k, "%s %s %s",
			    i ? "," : "",
			    nb_shape_str(in[i]->ndim, in[i]->shape, s, sizeof s),
			    nb_dtype_name(in[i]->dtype));
	}
	if (k < n)
		snprintf(buf + k, n - k, ")");
}

/* ---- the tape, read by exporters ---- */

const nb_op *nb_graph_node_op(const nb_graph *g, size_t i)
{
	return g && i < g->n_nodes ? g->tape[i]->op : NULL;
}

int nb_graph_node_inputs(const nb_graph *g, size_t i, nb_tensor *const **in)
{
	if (!g || i >= g->n_nodes) {
		if (in)
			*in = NULL;
		return 0;
	}
	if (in)
		*in = g->tape[i]->in;
	return g->tape[i]->n_in;
}

nb_tensor *nb_graph_node_output(const nb_graph *g, size_t i)
{
	return g && i < g->n_nodes ? g->tape[i]->out[0] : NULL;
}

int nb_graph_node_outputs(const nb_graph *g, size_t i, nb_tensor *const **out)
{
	if (!g || i >= g->n_nodes) {
		if (out)
			*out = NULL;
		return 0;
	}
	if (out)
		*out = g->tape[i]->out;
	return g->tape[i]->n_out;
}

const void *nb_graph_node_attrs(const nb_graph *g, size_t i)
{
	return g && i < g->n_nodes ? g->tape[i]->attrs : NULL;
}

const char *nb_graph_node_scope(const nb_graph *g, size_t i)
{
	return g && i < g->n_nodes && g->tape[i]->scope ? g->tape[i]->scope
	                                                : "";
}

nb_status nb_graph_scope_push(nb_graph *g, const char *name)
{
	if (!g || !name)
		return nb__set_error(NB_EINVAL, "scope_push: %s is NULL",
		                     g ? "name" : "graph");
	if (g->scope_depth == NB_MAX_SCOPE_DEPTH)
		return nb__graph_fail(g, NB_EINVAL, "scope_push: more than %d "
		                      "nested scopes", NB_MAX_SCOPE_DEPTH);
	size_t a = strlen(g->scope), b = strlen(name);
	char *path = nb__graph_meta_alloc(g, a + b + 2);
	if (!path)
		return nb__graph_fail(g, NB_ENOMEM, "scope_push: out of memory");
	memcpy(path, g->scope, a);
	if (a)
		path[a++] = '.';
	memcpy(path + a, name, b + 1);
	g->scope_stack[g->scope_depth++] = g->scope;
	g->scope = path;
	return NB_OK;
}

void nb_graph_scope_pop(nb_graph *g)
{
	if (g && g->scope_depth > 0)
		g->scope = g->scope_stack[--g->scope_depth];
}

const char *nb_graph_scope(const nb_graph *g)
{
	return g ? g->scope : "";
}

long nb_tensor_node(const nb_tensor *t)
{
	return t && t->node ? (long)t->node->id : -1;
}

int nb_tensor_output_index(const nb_tensor *t)
{
	return t && t->node ? t->out_index : 0;
}

/* Here, not in tensor.c: a graph tensor's name lives in the meta arena
 * of its step. */
nb_status nb_tensor_set_name(nb_tensor *t, const char *name)
{
	if (!t)
		return nb__set_error(NB_EINVAL, "set_name: tensor is NULL");
	char *copy = NULL;
	if (name) {
		size_t n = strlen(name) + 1;
		copy = (t->flags & NB_T_GRAPH)
		       ? nb__graph_meta_alloc(t->graph, n) : nb__malloc(n);
		if (!copy)
			return nb__set_error(NB_ENOMEM, "set_name: out of memory");
		memcpy(copy, name, n);
	}
	if (!(t->flags & NB_T_GRAPH))
		nb__free(t->name);
	t->name = copy;
	return NB_OK;
}
