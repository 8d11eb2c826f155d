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
#include <stdio.h>
#include "internal.h"

/* A graph tensor shaped like t, zeroed unless zero is false, on a
 * recycled buffer of the same size when there is one. */
static nb_tensor *graph_grad(nb_graph *g, const nb_tensor *t, bool zero)
{
	size_t bytes = nb__nbytes(t);
	for (nb_gbuf **p = &g->gfree; *p; p = &(*p)->next) {
		if ((*p)->bytes != bytes)
			continue;
		nb_tensor *gt = nb__graph_meta_alloc(g, sizeof *gt);
		if (!gt)
			return NULL;
		nb_gbuf *b = *p;
		*p = b->next;
		if (nb__tensor_init(gt, t->dtype, t->ndim, t->shape))
			return NULL;
		if (zero)
			memset(b->data, 0, bytes);
		gt->data = b->data;
		gt->graph = g;
		gt->gen = g->gen;
		gt->flags = NB_T_GRAPH;
		return gt;
	}
	return zero ? nb__graph_new_tensor(g, t->dtype, t->ndim, t->shape)
	            : nb__graph_new_tensor_raw(g, t->dtype, t->ndim, t->shape);
}

/* Gives the gradient of n's output back for reuse (retain_grads off):
 * n's backward has run, and no other node reads it. */
static void release_grad(nb_graph *g, nb_node *n)
{
	nb_tensor *gt = n->out->grad;
	nb_gbuf *b = nb__graph_meta_alloc(g, sizeof *b);
	if (!b)
		return; /* not recycled: the arena keeps it until reset */
	b->bytes = nb__nbytes(gt);
	b->data = gt->data;
	b->next = g->gfree;
	g->gfree = b;
	n->out->grad = NULL;
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

static bool all_finite(const nb_tensor *t)
{
	if (t->dtype == NB_F32) {
		const float *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			if (!isfinite(p[i]))
				return false;
	} else if (t->dtype == NB_F64) {
		const double *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			if (!isfinite(p[i]))
				return false;
	}
	return true;
}

bool nb__all_finite(const nb_tensor *t)
{
	return all_finite(t);
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

static nb_status run_node(nb_graph *g, nb_node *n)
{
	nb_tensor *gin[NB_MAX_INPUTS] = {0};
	const nb_op *op = n->op;
	uint32_t fresh_bits = 0;
	for (int j = 0; j < n->n_in; j++) {
		nb_tensor *x = n->in[j];
		if (!x || !(x->flags & NB_T_REQUIRES_GRAD) ||
		    (op->nondiff & (1u << j)))
			continue;
		/* An input given twice gets both gradients in one buffer:
		 * the second must add to the first, so it starts zeroed. */
		bool fresh = (op->flags & NB_OP_GRAD_FRESH) && !given_twice(n, j);
		if (!(gin[j] = ensure_grad(g, x, &fresh)))
			return NB_ENOMEM;
		if (fresh)
			fresh_bits |= 1u << j;
	}
	nb_op_ctx c = {
		.g = g, .op = op, .n_in = n->n_in, .in = n->in, .out = n->out,
		.attrs = n->attrs, .saved = n->saved, .node_id = n->id,
		.fresh = fresh_bits,
	};
	nb_status st = op->backward(&c, n->out->grad, gin);
	if (st) {
		if (!g->err)
			nb_op_fail(&c, st, "backward failed");
		return st;
	}
	if (!g->anomaly)
		return NB_OK;
	for (int j = 0; j < n->n_in; j++) {
		if (gin[j] && !all_finite(gin[j]))
			return nb_op_fail(&c, NB_ENONFINITE,
			    "anomaly: backward of node %zu produced a non-finite "
			    "gradient for input %d", n->id, j);
	}
	return NB_OK;
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
		g->tape[i]->out->grad = NULL;
	nb_status st = seed_grad(g, y, grad_out);
	if (st || !y->node)
		return st;
	for (size_t i = y->node->id + 1; i-- > 0;) {
		nb_node *n = g->tape[i];
		if (!n->out->grad || !(n->out->flags & NB_T_REQUIRES_GRAD) ||
		    !n->op->backward)
			continue;
		if ((st = run_node(g, n)))
			return st;
		if (!g->retain_grads)
			release_grad(g, n);
	}
	return NB_OK;
}
