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

nb_tensor *nb_op_scratch(nb_op_ctx *c, nb_dtype dt, int ndim,
                         const int64_t *shape)
{
	if (!c) {
		nb__set_error(NB_EINVAL, "op_scratch: context is NULL");
		return NULL;
	}
	return nb__graph_new_tensor(c->g, dt, ndim, shape);
}

bool nb_op_training(const nb_op_ctx *c) { return c && c->g->training; }
nb_rng *nb_op_rng(nb_op_ctx *c) { return c ? &c->g->rng : NULL; }

static const char *input_name(const nb_op *op, int i, char *buf, size_t n)
{
	const char *s = op->input_names;
	for (int k = 0; s && *s && k < i; s++)
		if (*s == ',')
			k++;
	if (s && *s) {
		size_t len = strcspn(s, ",");
		snprintf(buf, n, "'%.*s'", (int)len, s);
	} else {
		snprintf(buf, n, "%d", i);
	}
	return buf;
}

/* Input count, NULLs, liveness and dtypes; sets *dt to the float dtype. */
static nb_status check_inputs(nb_op_ctx *c, nb_dtype *dt)
{
	const nb_op *op = c->op;
	char nm[64];
	bool have_dt = false;
	if (c->n_in != op->n_inputs)
		return nb_op_fail(c, NB_EINVAL, "takes %d inputs, got %d",
		                  op->n_inputs, c->n_in);
	for (int i = 0; i < c->n_in; i++) {
		nb_tensor *x = c->in[i];
		uint32_t bit = 1u << i;
		if (!x) {
			/* Sticky errors: NULL may be the result of a failed op,
			 * even for an optional input, which must not then pass
			 * for "not given". */
			if (c->g->err)
				return c->g->err;
			if (op->optional & bit)
				continue;
			return nb_op_fail(c, NB_EINVAL, "input %s is NULL",
			                  input_name(op, i, nm, sizeof nm));
		}
		if (nb__check_live(c->g, x, op->name))
			return c->g->err;
		if (op->int_inputs & bit) {
			if (x->dtype != NB_I64)
				return nb_op_fail(c, NB_EDTYPE, "input %s must be "
				    "int64 class indices, not %s",
				    input_name(op, i, nm, sizeof nm),
				    nb_dtype_name(x->dtype));
			continue;
		}
		if (!nb__is_float(x->dtype))
			return nb_op_fail(c, NB_EDTYPE, "input %s must be float32 "
			    "or float64, not %s", input_name(op, i, nm, sizeof nm),
			    nb_dtype_name(x->dtype));
		if (op->any_dtype & bit)
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

static bool needs_grad(const nb_op_ctx *c)
{
	if ((c->op->flags & NB_OP_NO_GRAD) || !c->op->backward)
		return false;
	for (int i = 0; i < c->n_in; i++)
		if (c->in[i] && (c->in[i]->flags & NB_T_REQUIRES_GRAD) &&
		    !(c->op->nondiff & (1u << i)))
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

static nb_tensor *make_output(nb_op_ctx *c, nb_dtype dt)
{
	int ndim = c->in[0] ? c->in[0]->ndim : 0;
	int64_t shape[NB_MAX_DIMS] = {0};
	if (c->in[0])
		memcpy(shape, c->in[0]->shape, sizeof shape);
	if (c->op->shape && c->op->shape(c, &dt, &ndim, shape))
		return NULL;
	nb_tensor *out = c->op->flags & NB_OP_WRITES_OUTPUT
	    ? nb__graph_new_tensor_raw(c->g, dt, ndim, shape)
	    : nb__graph_new_tensor(c->g, dt, ndim, shape);
	if (!out && c->g->err == NB_ENOMEM)
		nb_op_fail(c, NB_ENOMEM, "out of memory for the result");
	return out;
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
	n->out = c->out;
	n->n_in = c->n_in;
	n->attrs = attrs;
	n->saved = c->saved;
	n->scope = c->g->scope;
	if (nb__graph_push_node(c->g, n))
		return NB_ENOMEM;
	c->out->node = n;
	return NB_OK;
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
	nb_tensor *none[1] = {NULL};
	nb_op_ctx c = {
		.g = g, .op = op, .n_in = n_in, .in = in ? in : none,
		.node_id = g->n_nodes,
	};
	if (n_in < 0 || n_in > NB_MAX_INPUTS || (n_in && !in)) {
		/* The message describes no input: the list is not usable. */
		c.n_in = 0;
		nb_op_fail(&c, NB_EINVAL, "bad input list (%d inputs)", n_in);
		return NULL;
	}
	nb_dtype dt = NB_F32;
	if (check_inputs(&c, &dt))
		return NULL;
	void *a = attrs_copy(&c, attrs);
	if (op->attrs_size && !a)
		return NULL;
	c.attrs = a;
	nb_tensor *out = make_output(&c, dt);
	if (!out)
		return NULL;
	c.out = out;
	out->flags |= NB_T_OP_RESULT;
	/* Every op is recorded while grad mode is on, so the exporters see
	 * the whole graph; backward skips nodes that need no gradient. */
	nb_node *node = NULL;
	if (g->grad_enabled && !(node = reserve_node(&c)))
		return NULL;
	if (op->forward(&c)) {
		if (!g->err)
			nb_op_fail(&c, NB_EINVAL, "forward failed");
		return NULL;
	}
	if (g->anomaly && !nb__all_finite(out)) {
		nb_op_fail(&c, NB_ENONFINITE, "anomaly: forward of node %zu "
		           "produced a non-finite value", g->n_nodes);
		return NULL;
	}
	if (node) {
		if (needs_grad(&c))
			out->flags |= NB_T_REQUIRES_GRAD;
		if (record(&c, node, a))
			return NULL;
	}
	return out;
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
