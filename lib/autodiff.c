/*
 * autodiff.c - reverse mode over the tape.
 *
 * The tape holds nodes in creation order, which is a topological order
 * (an op's inputs exist before it runs).  Walking it backwards from y's
 * node, each node whose output has received a gradient passes it to its
 * inputs through the op's backward, which accumulates (+=).  Nodes that
 * y does not depend on never receive a gradient and are skipped, and so
 * are branches that need none (requires_grad off).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include "internal.h"

/* A graph tensor shaped like t on data it does not own (a recycled
 * buffer, or another gradient's); NULL if out of memory. */
static nb_tensor *grad_on(nb_graph *g, const nb_tensor *t, void *data)
{
	nb_tensor *gt = nb__graph_meta_alloc(g, sizeof *gt);
	if (!gt || nb__tensor_init(gt, t->dtype, t->ndim, t->shape))
		return NULL;
	gt->data = data;
	gt->graph = g;
	gt->gen = g->gen;
	gt->flags = NB_T_GRAPH;
	return gt;
}

/* A graph tensor shaped like t, zeroed unless zero is false, on a
 * recycled buffer of the same size when there is one. */
static nb_tensor *graph_grad(nb_graph *g, const nb_tensor *t, bool zero)
{
	size_t bytes = nb__nbytes(t);
	for (nb_gbuf **p = &g->gfree; *p; p = &(*p)->next) {
		if ((*p)->bytes != bytes)
			continue;
		nb_gbuf *b = *p;
		nb_tensor *gt = grad_on(g, t, b->data);
		if (!gt)
			return NULL;
		*p = b->next;
		if (zero)
			memset(b->data, 0, bytes);
		return gt;
	}
	return zero ? nb__graph_new_tensor(g, t->dtype, t->ndim, t->shape)
	            : nb__graph_new_tensor_raw(g, t->dtype, t->ndim, t->shape);
}

/* Gives the gradients of n's results back for reuse (retain_grads
 * off): n's backward has run, and no other node reads them. */
static void release_grads(nb_graph *g, nb_node *n)
{
	for (int k = 0; k < n->n_out; k++) {
		nb_tensor *gt = n->out[k]->grad;
		if (!gt)
			continue;
		nb_gbuf *b = nb__graph_meta_alloc(g, sizeof *b);
		if (!b)
			return; /* not recycled: the arena keeps it until reset */
		b->bytes = nb__nbytes(gt);
		b->data = gt->data;
		b->next = g->gfree;
		g->gfree = b;
		n->out[k]->grad = NULL;
	}
}

/*
 * t's gradient buffer, created on first use: zeroed, or for a graph
 * tensor with *fresh true, left unwritten (then *fresh stays true).
 * *fresh is false on return for a buffer that holds values.
 */
static nb_tensor *ensure_grad(nb_graph *g, nb_tensor *t, bool *fresh)
{
	bool may = *fresh;
	*fresh = false;
	if (t->grad)
		return t->grad;
	if (t->flags & NB_T_GRAPH) {
		t->grad = graph_grad(g, t, !may);
		*fresh = may;
	} else
		t->grad = nb__tensor_like(t);
	if (!t->grad)
		nb__graph_fail(g, NB_ENOMEM, "backward: out of memory for a "
		               "gradient of %zu elements", t->numel);
	return t->grad;
}

static nb_status seed_grad(nb_graph *g, nb_tensor *y, const nb_tensor *gout)
{
	char a[96], b[96];
	if (!gout && y->numel != 1)
		return nb__graph_fail(g, NB_ESHAPE,
		    "backward: the output has shape %s, not one element: pass "
		    "an output gradient", nb_shape_str(y->ndim, y->shape, a,
		                                       sizeof a));
	if (gout && (gout->numel != y->numel || gout->dtype != y->dtype ||
	             gout->ndim != y->ndim ||
	             memcmp(gout->shape, y->shape,
	                    (size_t)y->ndim * sizeof *y->shape)))
		return nb__graph_fail(g, NB_ESHAPE,
		    "backward: output gradient %s %s does not match the output "
		    "%s %s", nb_shape_str(gout->ndim, gout->shape, a, sizeof a),
		    nb_dtype_name(gout->dtype),
		    nb_shape_str(y->ndim, y->shape, b, sizeof b),
		    nb_dtype_name(y->dtype));
	bool fresh = false;
	nb_tensor *gy = ensure_grad(g, y, &fresh);
	if (!gy)
		return NB_ENOMEM;
	if (!gout) {
		nb_tensor one = *gy;
		double v = 1.0;
		float f = 1.0f;
		one.data = y->dtype == NB_F32 ? (void *)&f : (void *)&v;
		nb__tensor_acc(gy, &one);
	} else {
		nb__tensor_acc(gy, gout);
	}
	return NB_OK;
}

/* Whether input j of n is also another of its inputs. */
static bool given_twice(const nb_node *n, int j)
{
	for (int k = 0; k < n->n_in; k++)
		if (k != j && n->in[k] == n->in[j])
			return true;
	return false;
}

/* Whether any result of n has received a gradient and needs one. */
static bool has_grad(const nb_node *n)
{
	for (int k = 0; k < n->n_out; k++)
		if (n->out[k]->grad && (n->out[k]->flags & NB_T_REQUIRES_GRAD))
			return true;
	return false;
}

/* The output gradients of n for its backward: a zero gradient for a
 * result that received none (of an op with several). */
static const nb_tensor *const *output_grads(nb_graph *g, nb_node *n)
{
	const nb_tensor **go = nb__graph_meta_alloc(g, (size_t)n->n_out *
	                                            sizeof *go);
	if (!go) {
		nb__graph_fail(g, NB_ENOMEM, "backward: out of memory");
		return NULL;
	}
	for (int k = 0; k < n->n_out; k++) {
		bool fresh = false;
		if (!(go[k] = ensure_grad(g, n->out[k], &fresh)))
			return NULL;
	}
	return go;
}

/* Anomaly mode: bit j set when gin[j] held a non-finite value before
 * the node's backward (an earlier node's contribution); fresh buffers
 * hold nothing yet. */
static uint64_t nonfinite_bits(const nb_node *n, nb_tensor *const *gin,
                               uint32_t fresh)
{
	uint64_t bits = 0;
	for (int j = 0; j < n->n_in && j < 64; j++)
		if (gin[j] && !(j < 32 && (fresh >> j & 1)) &&
		    !nb__all_finite(gin[j]))
			bits |= (uint64_t)1 << j;
	return bits;
}

/*
 * Whether input j of n can take n's result gradient as its own
 * (NB_IN_GRAD_PASS), saving backward a copy: the input is a graph
 * tensor with no gradient yet, given once, with the result's dtype and
 * count, and the result's gradient is read by no one after n (one
 * result, retain_grads off).
 */
static bool can_pass(const nb_graph *g, const nb_node *n, int j)
{
	const nb_input_def *d = nb_op_input(n->op, j);
	const nb_tensor *x = n->in[j], *y = n->out[0];
	return d && (d->flags & NB_IN_GRAD_PASS) && !g->retain_grads &&
	       n->n_out == 1 && !x->grad && (x->flags & NB_T_GRAPH) &&
	       x->dtype == y->dtype && x->numel == y->numel &&
	       !given_twice(n, j);
}

static nb_status run_node(nb_graph *g, nb_node *n)
{
	const nb_op *op = n->op;
	nb_tensor *small[NB_MAX_INPUTS] = {0};
	nb_tensor **gin = small;
	if (n->n_in > NB_MAX_INPUTS &&
	    !(gin = nb__graph_meta_alloc(g, (size_t)n->n_in * sizeof *gin)))
		return nb__graph_fail(g, NB_ENOMEM, "backward: out of memory");
	uint32_t fresh_bits = 0;
	bool passed = false; /* the result's gradient went to an input */
	for (int j = 0; j < n->n_in; j++) {
		nb_tensor *x = n->in[j];
		if (!nb__input_needs_grad(op, j, x))
			continue;
		if (!passed && can_pass(g, n, j)) {
			if (!(x->grad = grad_on(g, x, n->out[0]->grad->data)))
				return nb__graph_fail(g, NB_ENOMEM, "backward: out "
				                      "of memory");
			passed = true;
			continue; /* gin[j] NULL: backward leaves it */
		}
		/* An input given twice gets both gradients in one buffer:
		 * the second must add to the first, so it starts zeroed. */
		bool fresh = (op->flags & NB_OP_GRAD_FRESH) && j < 32 &&
		             !given_twice(n, j);
		if (!(gin[j] = ensure_grad(g, x, &fresh)))
			return NB_ENOMEM;
		if (fresh)
			fresh_bits |= 1u << j;
	}
	/* One result (nearly every node): its gradient is there already. */
	const nb_tensor *one[1] = {n->out[0]->grad};
	const nb_tensor *const *gouts = n->n_out == 1 ? one
	                                              : output_grads(g, n);
	if (!gouts)
		return NB_ENOMEM;
	nb_op_ctx c = {
		.g = g, .op = op, .n_in = n->n_in, .in = n->in, .out = n->out[0],
		.attrs = n->attrs, .saved = n->saved, .node_id = n->id,
		.fresh = fresh_bits, .n_out = n->n_out, .outs = n->out,
		.gouts = gouts,
	};
	uint64_t bad_before = g->anomaly ? nonfinite_bits(n, gin, fresh_bits)
	                                 : 0;
	nb_status st = op->backward(&c, gouts[0], gin);
	/* The buffer is the input's now: release_grads must not recycle
	 * it with the result. */
	if (passed)
		n->out[0]->grad = NULL;
	if (st) {
		if (!g->err)
			nb_op_fail(&c, st, "backward failed");
		return st;
	}
	if (!g->anomaly)
		return NB_OK;
	/* Anomaly mode's backward rule (doc/guarantees.md): a gradient
	 * that this node turned non-finite is reported only when the node's
	 * inputs, results and incoming gradients were all finite, so that
	 * the op made it (not a -inf mask upstream, not another node's
	 * contribution already in the buffer). */
	for (int j = 0; j < n->n_in; j++) {
		if (!gin[j] || (j < 64 && (bad_before >> j & 1)) ||
		    nb__all_finite(gin[j]))
			continue;
		if (!nb__inputs_finite(n->n_in, (const nb_tensor *const *)n->in) ||
		    !nb__inputs_finite(n->n_out,
		                       (const nb_tensor *const *)n->out) ||
		    !nb__inputs_finite(n->n_out, gouts))
			return NB_OK;
		return nb_op_fail(&c, NB_ENONFINITE,
		    "anomaly: backward of node %zu produced a non-finite "
		    "gradient for input %d", n->id, j);
	}
	return NB_OK;
}

/*
 * For g's gradient-final hook (nb__graph_set_grad_hook): the persistent
 * inputs needing a gradient of nodes 0..last, each once, sorted by
 * tensor, with the first node (in tape order) that reads it, and
 * whether a node that read it has run its backward in this walk; and
 * their indices in the order the walk passes those first readers.
 */
typedef struct leaf_use {
	nb_tensor *t;
	size_t node;
	bool touched;
} leaf_use;

/* An index into leaf_uses.u and that leaf's first reader. */
typedef struct leaf_at {
	size_t node, i;
} leaf_at;

typedef struct leaf_uses {
	leaf_use *u;       /* by tensor */
	leaf_at *order;    /* by first reader downwards */
	size_t n, next;
} leaf_uses;

static int by_tensor_then_node(const void *a, const void *b)
{
	const leaf_use *x = a, *y = b;
	if (x->t != y->t)
		return (uintptr_t)x->t < (uintptr_t)y->t ? -1 : 1;
	return x->node < y->node ? -1 : x->node > y->node;
}

static int by_node_down(const void *a, const void *b)
{
	size_t x = ((const leaf_at *)a)->node, y = ((const leaf_at *)b)->node;
	return x < y ? 1 : x > y ? -1 : 0;
}

static nb_status find_leaf_uses(nb_graph *g, size_t last, leaf_uses *L)
{
	size_t cap = 1, k = 0;
	for (size_t i = 0; i <= last; i++)
		cap += (size_t)g->tape[i]->n_in;
	L->u = nb__graph_meta_alloc(g, cap * sizeof *L->u);
	L->order = nb__graph_meta_alloc(g, cap * sizeof *L->order);
	if (!L->u || !L->order)
		return nb__graph_fail(g, NB_ENOMEM, "backward: out of memory");
	for (size_t i = 0; i <= last; i++) {
		nb_node *nd = g->tape[i];
		for (int j = 0; j < nd->n_in; j++)
			if (nd->in[j] && !nd->in[j]->graph &&
			    nb__input_needs_grad(nd->op, j, nd->in[j]))
				L->u[k++] = (leaf_use){nd->in[j], i, false};
	}
	qsort(L->u, k, sizeof *L->u, by_tensor_then_node);
	size_t m = 0;
	for (size_t i = 0; i < k; i++)
		if (!m || L->u[m - 1].t != L->u[i].t)
			L->u[m++] = L->u[i];
	for (size_t i = 0; i < m; i++)
		L->order[i] = (leaf_at){L->u[i].node, i};
	qsort(L->order, m, sizeof *L->order, by_node_down);
	L->n = m;
	L->next = 0;
	return NB_OK;
}

/* Marks the persistent inputs of node n (whose backward ran). */
static void touch_leaves(leaf_uses *L, const nb_node *n)
{
	for (int j = 0; j < n->n_in; j++) {
		if (!n->in[j] || n->in[j]->graph)
			continue;
		leaf_use key = {n->in[j], 0, false};
		size_t lo = 0, hi = L->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if ((uintptr_t)L->u[mid].t < (uintptr_t)key.t)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < L->n && L->u[lo].t == key.t)
			L->u[lo].touched = true;
	}
}

/* Calls the hook for the leaves whose first reader is node i, if a
 * node's backward reached them. */
static void leaves_final(nb_graph *g, leaf_uses *L, size_t i)
{
	for (; L->next < L->n && L->order[L->next].node == i; L->next++) {
		leaf_use *u = &L->u[L->order[L->next].i];
		if (u->touched)
			g->grad_hook(g->grad_hook_ctx, u->t);
	}
}

nb_status nb_backward(nb_tensor *y, const nb_tensor *grad_out)
{
	if (!y)
		return nb__set_error(NB_EINVAL, "backward: tensor is NULL");
	nb_graph *g = y->graph;
	if (!g)
		return nb__set_error(NB_ESTATE, "backward: the tensor is not "
		                     "the result of an op (no graph)");
	if (nb__check_live(g, y, "backward"))
		return NB_ESTALE;
	if (grad_out && nb__check_live(g, grad_out, "backward"))
		return g->err;
	if (g->err)
		return nb__set_error(g->err, "backward: the graph has a pending "
		                     "error: %s", g->msg);
	if (!(y->flags & NB_T_REQUIRES_GRAD))
		return nb__graph_fail(g, NB_ESTATE, "backward: the tensor does "
		    "not require grad (no input of its ops requires grad, or it "
		    "was made with grad mode off)");
	/* Intermediate gradients are recomputed by every call. */
	for (size_t i = 0; i < g->n_nodes; i++)
		for (int k = 0; k < g->tape[i]->n_out; k++)
			g->tape[i]->out[k]->grad = NULL;
	nb_status st = seed_grad(g, y, grad_out);
	if (st || !y->node)
		return st;
	leaf_uses L = {0};
	if (g->grad_hook && (st = find_leaf_uses(g, y->node->id, &L)))
		return st;
	for (size_t i = y->node->id + 1; i-- > 0;) {
		nb_node *n = g->tape[i];
		if (n->op->backward && has_grad(n)) {
			if ((st = run_node(g, n)))
				return st;
			if (!g->retain_grads)
				release_grads(g, n);
			if (g->grad_hook)
				touch_leaves(&L, n);
		}
		if (g->grad_hook)
			leaves_final(g, &L, i);
	}
	return NB_OK;
}
