/*
 * dispatch.c - applying an op: the checks every op shares, in one place
 * with one set of messages, then the op's shape rule, forward, and the
 * node on the tape.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

nb_status nb_op_fail(nb_op_ctx *c, nb_status code, const char *fmt, ...)
{
	char msg[384], ins[256];
	va_list ap;
	msg[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
	}
	if (!c)
		return nb__set_error(code, "%s", msg);
	nb__describe_inputs(ins, sizeof ins, c->n_in, c->in);
	return nb__graph_fail(c->g, code, "%s: %s%s", c->op->name, msg, ins);
}

void *nb_op_save(nb_op_ctx *c, size_t n)
{
	if (!c) {
		nb__set_error(NB_EINVAL, "op_save: context is NULL");
		return NULL;
	}
	void *p = nb__graph_alloc(c->g, n);
	if (!p)
		nb_op_fail(c, NB_ENOMEM, "out of memory saving %zu bytes", n);
	c->saved = p;
	return p;
}

void *nb__op_save_raw(nb_op_ctx *c, size_t n)
{
	void *p = nb__arena_alloc_raw(&c->g->data, n);
	if (!p)
		nb_op_fail(c, NB_ENOMEM, "out of memory saving %zu bytes", n);
	c->saved = p;
	return p;
}

nb_tensor *nb_op_scratch(nb_op_ctx *c, nb_dtype dt, int ndim,
                         const int64_t *shape)
{
	if (!c) {
		nb__set_error(NB_EINVAL, "op_scratch: context is NULL");
		return NULL;
	}
	return nb__graph_new_tensor(c->g, dt, ndim, shape);
}

void *nb__op_temp(nb_op_ctx *c, size_t n)
{
	return c && c->g ? nb__arena_alloc_raw(&c->g->temp, n) : nb__malloc(n);
}

void nb__op_temp_free(nb_op_ctx *c, void *p)
{
	if (p && c && c->g)
		nb__arena_pop(&c->g->temp, p);
	else
		nb__free(p);
}

bool nb_op_training(const nb_op_ctx *c) { return c && c->g->training; }
nb_rng *nb_op_rng(nb_op_ctx *c) { return c ? &c->g->rng : NULL; }

const nb_input_def *nb_op_input(const nb_op *op, int i)
{
	if (!op || i < 0 || op->n_inputs < 1)
		return NULL;
	const nb_input_def *last = &op->inputs[op->n_inputs - 1];
	if (i < op->n_inputs)
		return &op->inputs[i];
	return last->flags & NB_IN_VARIADIC ? last : NULL;
}

static const char *input_name(const nb_op *op, int i, char *buf, size_t n)
{
	const nb_input_def *d = nb_op_input(op, i);
	if (d && i >= op->n_inputs - 1 && (d->flags & NB_IN_VARIADIC))
		snprintf(buf, n, "'%s' %d", d->name, i - (op->n_inputs - 1));
	else if (d)
		snprintf(buf, n, "'%s'", d->name);
	else
		snprintf(buf, n, "%d", i);
	return buf;
}

/* Input count, NULLs, liveness and dtypes; sets *dt to the float dtype. */
static nb_status check_inputs(nb_op_ctx *c, nb_dtype *dt)
{
	const nb_op *op = c->op;
	char nm[80];
	bool have_dt = false;
	bool variadic = op->n_inputs &&
	    (op->inputs[op->n_inputs - 1].flags & NB_IN_VARIADIC);
	if (variadic ? c->n_in < op->min_inputs : c->n_in != op->n_inputs)
		return nb_op_fail(c, NB_EINVAL, "takes %s%d inputs, got %d",
		                  variadic ? "at least " : "",
		                  variadic ? op->min_inputs : op->n_inputs,
		                  c->n_in);
	for (int i = 0; i < c->n_in; i++) {
		nb_tensor *x = c->in[i];
		const nb_input_def *d = nb__in_def(op, i);
		if (!x) {
			/* Sticky errors: NULL may be the result of a failed op,
			 * even for an optional input, which must not then pass
			 * for "not given". */
			if (c->g->err)
				return c->g->err;
			if (d->flags & NB_IN_OPTIONAL)
				continue;
			return nb_op_fail(c, NB_EINVAL, "input %s is NULL",
			                  input_name(op, i, nm, sizeof nm));
		}
		if (nb__check_live(c->g, x, op->name))
			return c->g->err;
		if (d->flags & (NB_IN_INT64 | NB_IN_BOOL)) {
			nb_dtype want = d->flags & NB_IN_INT64 ? NB_I64 : NB_BOOL;
			if (x->dtype != want)
				return nb_op_fail(c, NB_EDTYPE, "input %s must be "
				    "%s, not %s", input_name(op, i, nm, sizeof nm),
				    nb_dtype_name(want), nb_dtype_name(x->dtype));
			continue;
		}
		if (!nb__is_float(x->dtype) && !(d->flags & NB_IN_ANY_DTYPE))
			return nb_op_fail(c, NB_EDTYPE, "input %s must be float32 "
			    "or float64, not %s", input_name(op, i, nm, sizeof nm),
			    nb_dtype_name(x->dtype));
		if (d->flags & NB_IN_ANY_FLOAT)
			continue;
		if (!have_dt) {
			*dt = x->dtype;
			have_dt = true;
		} else if (x->dtype != *dt) {
			return nb_op_fail(c, NB_EDTYPE, "mixed dtypes: input %s is "
			    "%s, earlier inputs are %s",
			    input_name(op, i, nm, sizeof nm),
			    nb_dtype_name(x->dtype), nb_dtype_name(*dt));
		}
	}
	if (!have_dt)
		*dt = NB_F32;
	return NB_OK;
}

/* Whether input i of a node of op may receive a gradient. */
static bool differentiable(const nb_op *op, int i)
{
	const nb_input_def *d = nb__in_def(op, i);
	return !(d->flags & (NB_IN_NONDIFF | NB_IN_INT64 | NB_IN_BOOL));
}

bool nb__input_needs_grad(const nb_op *op, int i, const nb_tensor *x)
{
	return x && (x->flags & NB_T_REQUIRES_GRAD) && differentiable(op, i);
}

static bool needs_grad(const nb_op_ctx *c)
{
	if (!c->op->backward)
		return false;
	for (int i = 0; i < c->n_in; i++)
		if (nb__input_needs_grad(c->op, i, c->in[i]))
			return true;
	return false;
}

/* Copies the attributes (defaults for NULL) into the current step. */
static void *attrs_copy(nb_op_ctx *c, const void *attrs)
{
	const nb_op *op = c->op;
	if (!op->attrs_size)
		return NULL;
	void *buf = nb__graph_meta_alloc(c->g, op->attrs_size);
	if (!buf) {
		nb_op_fail(c, NB_ENOMEM, "out of memory");
		return NULL;
	}
	if (attrs)
		memcpy(buf, attrs, op->attrs_size);
	else
		nb_attrs_parse(op, NULL, buf);
	if (nb_attrs_check(op, buf)) {
		/* The message names the op already ("op: attribute ..."). */
		char ins[256];
		nb__describe_inputs(ins, sizeof ins, c->n_in, c->in);
		nb__graph_fail(c->g, nb_last_status(), "%s%s", nb_last_error(),
		               ins);
		return NULL;
	}
	return buf;
}

/* The results, made from the shape rule's dtypes and shapes, into an
 * array of the meta arena (c->outs, c->n_out). */
static nb_status make_outputs(nb_op_ctx *c, nb_dtype dt)
{
	/* Only the declared results are filled in: copying all
	 * NB_MAX_OUTPUTS cost a one-op step 8% (tools/bench tiny). */
	nb_result_def res[NB_MAX_OUTPUTS];
	int n = c->op->n_outputs > 1 ? c->op->n_outputs : 1;
	res[0].dtype = dt;
	res[0].ndim = c->n_in && c->in[0] ? c->in[0]->ndim : 0;
	memset(res[0].shape, 0, sizeof res[0].shape);
	if (c->n_in && c->in[0])
		memcpy(res[0].shape, c->in[0]->shape, sizeof res[0].shape);
	for (int k = 1; k < n; k++)
		res[k] = res[0];
	c->n_out = n;
	if (c->op->shape && c->op->shape(c, res))
		return c->g->err ? c->g->err : nb_op_fail(c, NB_ESHAPE,
		    "the shape rule failed");
	if (c->n_out < 1 || c->n_out > NB_MAX_OUTPUTS)
		return nb_op_fail(c, NB_EINVAL, "the shape rule asked for %d "
		                  "results (1..%d)", c->n_out, NB_MAX_OUTPUTS);
	nb_tensor **outs = nb__graph_meta_alloc(c->g, (size_t)c->n_out *
	                                        sizeof *outs);
	if (!outs)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the results");
	bool raw = c->op->flags & NB_OP_WRITES_OUTPUT;
	for (int k = 0; k < c->n_out; k++) {
		nb_result_def *r = &res[k];
		outs[k] = raw ? nb__graph_new_tensor_raw(c->g, r->dtype, r->ndim,
		                                         r->shape)
		              : nb__graph_new_tensor(c->g, r->dtype, r->ndim,
		                                     r->shape);
		if (!outs[k])
			return c->g->err == NB_ENOMEM
			    ? nb_op_fail(c, NB_ENOMEM, "out of memory for the "
			                 "result") : c->g->err;
		outs[k]->flags |= NB_T_OP_RESULT;
		outs[k]->out_index = k;
	}
	c->outs = outs;
	c->out = outs[0];
	return NB_OK;
}

/*
 * The node of the op about to run, with room for it on the tape: taken
 * before forward, which may change state in place (running statistics),
 * so that a call that fails for memory has changed nothing.
 */
static nb_node *reserve_node(nb_op_ctx *c)
{
	nb_graph *g = c->g;
	nb_node *n = nb__graph_meta_alloc(g, sizeof *n);
	nb_tensor **in = nb__graph_meta_alloc(g, (size_t)c->n_in * sizeof *in +
	                                      1);
	if (!n || !in) {
		nb_op_fail(c, NB_ENOMEM, "out of memory for the node");
		return NULL;
	}
	if (nb__graph_reserve_node(g))
		return NULL;
	n->in = in;
	return n;
}

/* Fills the reserved node n and appends it to the tape. */
static nb_status record(nb_op_ctx *c, nb_node *n, void *attrs)
{
	memcpy(n->in, c->in, (size_t)c->n_in * sizeof *n->in);
	n->op = c->op;
	n->out = (nb_tensor **)c->outs;
	n->n_out = c->n_out;
	n->n_in = c->n_in;
	n->attrs = attrs;
	n->saved = c->saved;
	n->scope = c->g->scope;
	if (nb__graph_push_node(c->g, n))
		return NB_ENOMEM;
	for (int k = 0; k < c->n_out; k++)
		c->outs[k]->node = n;
	return NB_OK;
}

bool nb__inputs_finite(int n_in, const nb_tensor *const *in)
{
	for (int i = 0; i < n_in; i++)
		if (in[i] && !nb__all_finite(in[i]))
			return false;
	return true;
}

/*
 * Anomaly mode's forward rule (doc/guarantees.md): the first result of
 * the run that is not finite, or -1.  A non-finite value is reported
 * only where the op made it: never for an op that emits one by design
 * (NB_OP_EMITS_NONFINITE: masked_fill's -inf), nor when a float input
 * of the call was already non-finite (a -inf mask added to scores, a
 * where with an infinite branch: the value came from upstream, where it
 * was either made on purpose or already reported).  The inputs are read
 * only once a result is found non-finite.
 */
static int first_nonfinite(const nb_op_ctx *c)
{
	if (c->op->flags & NB_OP_EMITS_NONFINITE)
		return -1;
	for (int k = 0; k < c->n_out; k++)
		if (!nb__all_finite(c->outs[k]))
			return nb__inputs_finite(c->n_in, (const nb_tensor *const *)
			                         c->in) ? k : -1;
	return -1;
}

/* Whether every input of op from the first-th on is optional (and none
 * is variadic). */
static bool trailing_optional(const nb_op *op, int first)
{
	for (int i = first; i < op->n_inputs; i++)
		if (!(op->inputs[i].flags & NB_IN_OPTIONAL) ||
		    (op->inputs[i].flags & NB_IN_VARIADIC))
			return false;
	return true;
}

/* Applies op; on success c->outs holds the results. */
static nb_status run(nb_op_ctx *c, const void *attrs)
{
	nb_graph *g = c->g;
	const nb_op *op = c->op;
	static nb_tensor *const none[1] = {NULL};
	if (c->n_in < 0 || c->n_in > NB_MAX_CALL_INPUTS ||
	    (c->n_in && !c->in)) {
		/* The message describes no input: the list is not usable. */
		int n = c->n_in;
		c->n_in = 0;
		c->in = none;
		return nb_op_fail(c, NB_EINVAL, "bad input list (%d inputs)", n);
	}
	if (!c->in)
		c->in = none;
	/* Trailing optional inputs may be left out (an op that gained an
	 * optional input keeps its callers): they are passed as NULL. */
	nb_tensor *padded[NB_MAX_INPUTS];
	if (c->n_in < op->n_inputs && op->n_inputs <= NB_MAX_INPUTS &&
	    trailing_optional(op, c->n_in)) {
		for (int i = 0; i < op->n_inputs; i++)
			padded[i] = i < c->n_in ? c->in[i] : NULL;
		c->in = padded;
		c->n_in = op->n_inputs;
	}
	nb_dtype dt = NB_F32;
	if (check_inputs(c, &dt))
		return g->err;
	void *a = attrs_copy(c, attrs);
	if (op->attrs_size && !a)
		return g->err;
	c->attrs = a;
	if (make_outputs(c, dt))
		return g->err;
	/* Every op is recorded while grad mode is on, so the exporters see
	 * the whole graph; backward skips nodes that need no gradient. */
	nb_node *node = NULL;
	if (g->grad_enabled && !(node = reserve_node(c)))
		return g->err;
	if (op->forward(c))
		return g->err ? g->err
		              : nb_op_fail(c, NB_EINVAL, "forward failed");
	int bad = g->anomaly ? first_nonfinite(c) : -1;
	if (bad >= 0)
		return nb_op_fail(c, NB_ENONFINITE, "anomaly: forward of node "
		                  "%zu produced a non-finite value in result %d",
		                  g->n_nodes, bad);
	if (node) {
		/* Only float results carry gradients (topk's indices,
		 * argmax and comparisons do not). */
		if (needs_grad(c))
			for (int k = 0; k < c->n_out; k++)
				if (nb__is_float(c->outs[k]->dtype))
					c->outs[k]->flags |= NB_T_REQUIRES_GRAD;
		if (record(c, node, a))
			return g->err;
	}
	return NB_OK;
}

static nb_op_ctx new_ctx(nb_graph *g, const nb_op *op, int n_in,
                         nb_tensor *const *in)
{
	return (nb_op_ctx){
		.g = g, .op = op, .n_in = n_in, .in = in, .node_id = g->n_nodes,
	};
}

nb_tensor *nb_apply(nb_graph *g, const nb_op *op, int n_in,
                    nb_tensor *const *in, const void *attrs)
{
	if (!g || !op) {
		/* A NULL op (nb_op_find of a misspelt name) fails the graph
		 * like any failed op. */
		nb__graph_fail(g, NB_EINVAL, "apply: %s is NULL",
		               g ? "op" : "graph");
		return NULL;
	}
	nb_op_ctx c = new_ctx(g, op, n_in, in);
	return run(&c, attrs) ? NULL : c.outs[0];
}

int nb_apply_multi(nb_graph *g, const nb_op *op, int n_in,
                   nb_tensor *const *in, const void *attrs,
                   nb_tensor **outs, int max_out)
{
	if (!g || !op || (max_out > 0 && !outs) || max_out < 0) {
		/* A NULL op (nb_op_find of a misspelt name) fails the graph
		 * like any failed op. */
		if (!g || !op)
			nb__graph_fail(g, NB_EINVAL, "apply: %s is NULL",
			               g ? "op" : "graph");
		else
			nb__graph_fail(g, NB_EINVAL, "%s: bad result array (%d)",
			               op->name, max_out);
		return -1;
	}
	nb_op_ctx c = new_ctx(g, op, n_in, in);
	if (run(&c, attrs))
		return -1;
	for (int k = 0; k < c.n_out && k < max_out; k++)
		outs[k] = c.outs[k];
	return c.n_out;
}
