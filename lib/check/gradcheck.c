/*
 * gradcheck.c - analytic Jacobians against central finite differences.
 * See nabla/gradcheck.h for the contract.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"
#include "recipe.h"

nb_gradcheck_opts nb_gradcheck_defaults(void)
{
	nb_gradcheck_opts o = {1e-6, 1e-5, 1e-3, 0, true};
	return o;
}

static double sample_value(const nb_op *op, const nb_recipe_input *in, nb_rng *r)
{
	if (in->positive)
		return 0.5 + 1.5 * nb_rng_uniform(r);
	static const nb_op_test none;
	const nb_op_test *t = op->test ? op->test : &none;
	double lo = t->lo, hi = t->hi;
	if (lo >= hi) {
		lo = -2;
		hi = 2;
	}
	/* Away from the kinks, unless they cover [lo, hi]: then the last
	 * draw (a bounded number of tries, not an endless loop). */
	double v = lo;
	for (int tries = 0; tries < 100; tries++) {
		v = lo + (hi - lo) * nb_rng_uniform(r);
		bool near = false;
		for (int k = 0; k < t->n_kinks && k < 4; k++)
			near |= fabs(v - t->kinks[k]) < 0.02;
		if (!near)
			break;
	}
	return v;
}

typedef struct gc_run {
	const nb_op *op;
	const nb_gradcheck_opts *o;
	nb_graph *g;
	nb_tensor *in[NB_MAX_INPUTS];
	int n_in;
	const void *attrs;
	size_t out_numel;        /* of all results together */
	nb_tensor *outs[NB_MAX_OUTPUTS];
	int n_out;
} gc_run;

/* Forward on the current inputs; r->outs are graph tensors.  Returns
 * result 0, or NULL on error. */
static nb_tensor *forward(gc_run *r)
{
	nb_graph_reset(r->g);
	nb_graph_seed(r->g, r->o->seed + 1);
	r->n_out = nb_apply_multi(r->g, r->op, r->n_in, r->in, r->attrs,
	                          r->outs, NB_MAX_OUTPUTS);
	return r->n_out > 0 ? r->outs[0] : NULL;
}

/* f(x) into out (out_numel doubles): every result, one after another. */
static nb_status eval(gc_run *r, double *out)
{
	if (!forward(r))
		return nb_graph_status(r->g);
	for (int k = 0; k < r->n_out; k++) {
		const nb_tensor *y = r->outs[k];
		for (size_t i = 0; i < y->numel; i++)
			*out++ = nb_tensor_get(y, i);
	}
	return NB_OK;
}

/* The result holding element j of f(x), and j's index within it. */
static nb_tensor *result_at(gc_run *r, size_t *j)
{
	for (int k = 0; k < r->n_out; k++) {
		if (*j < r->outs[k]->numel)
			return r->outs[k];
		*j -= r->outs[k]->numel;
	}
	return NULL;
}

/* Row j of the Jacobian of input k: backward of a one-hot gradient. */
static nb_status analytic(gc_run *r, int k, double *jac)
{
	nb_tensor *x = r->in[k];
	for (size_t j = 0; j < r->out_numel; j++) {
		if (!forward(r))
			return nb_graph_status(r->g);
		size_t e = j;
		nb_tensor *y = result_at(r, &e);
		if (!nb__is_float(y->dtype)) {
			/* an int64 or bool result (topk's indices) carries
			 * no gradient: its rows are 0 */
			for (size_t i = 0; i < x->numel; i++)
				jac[j * x->numel + i] = 0;
			continue;
		}
		nb_tensor *go = nb_graph_tensor(r->g, y->dtype, y->ndim, y->shape);
		if (!go)
			return NB_ENOMEM;
		nb_tensor_set(go, e, 1.0);
		nb_tensor_zero_grad(x);
		nb_status st = nb_backward(y, go);
		if (st)
			return st;
		for (size_t i = 0; i < x->numel; i++)
			jac[j * x->numel + i] = x->grad ? nb_tensor_get(x->grad, i)
			                                : 0.0;
	}
	nb_tensor_zero_grad(x);
	return NB_OK;
}

static nb_status numeric(gc_run *r, int k, double *jac, double *fp,
                         double *fm)
{
	nb_tensor *x = r->in[k];
	double *xp = x->data, eps = r->o->eps;
	for (size_t i = 0; i < x->numel; i++) {
		double v = xp[i];
		nb_status st;
		xp[i] = v + eps;
		st = eval(r, fp);
		xp[i] = v - eps;
		if (!st)
			st = eval(r, fm);
		xp[i] = v;
		if (st)
			return st;
		for (size_t j = 0; j < r->out_numel; j++)
			jac[j * x->numel + i] = (fp[j] - fm[j]) / (2 * eps);
	}
	return NB_OK;
}

static void compare(const double *a, const double *n, size_t len,
                    const nb_gradcheck_opts *o, nb_gradcheck_result *res)
{
	res->pass = true;
	res->max_abs_err = 0;
	res->max_rel_err = 0;
	for (size_t i = 0; i < len; i++) {
		double d = fabs(a[i] - n[i]);
		if (!(d <= o->atol + o->rtol * fabs(n[i])))
			res->pass = false;
		if (d > res->max_abs_err || isnan(d))
			res->max_abs_err = d;
		double rel = d / (fabs(n[i]) > 1e-12 ? fabs(n[i]) : 1e-12);
		if (fabs(n[i]) > o->atol && (rel > res->max_rel_err || isnan(d)))
			res->max_rel_err = rel;
	}
}

/* Gradient-modifying ops: backward against op->grad_rule for random
 * output gradients at small and large scales. */
static nb_status check_rule(gc_run *r, int k, nb_gradcheck_result *res)
{
	static const double scales[] = {1e-3, 1.0, 1e3};
	nb_tensor *x = r->in[k];
	res->rule_only = true;
	res->pass = true;
	void (*rule)(const void *, const nb_tensor *, nb_tensor *) =
	    r->op->test ? r->op->test->grad_rule : NULL;
	if (!rule || k != 0) {
		snprintf(res->message, sizeof res->message,
		         "gradient-modifying op without a rule to check");
		res->pass = rule != NULL;
		return NB_OK;
	}
	nb_rng rng;
	nb_rng_seed(&rng, r->o->seed + 7);
	for (size_t s = 0; s < 3; s++) {
		nb_tensor *y = forward(r);
		if (!y)
			return nb_graph_status(r->g);
		nb_tensor *go = nb_graph_tensor(r->g, y->dtype, y->ndim, y->shape);
		nb_tensor *want = nb__tensor_like(x);
		if (!go || !want) {
			nb_tensor_free(want);
			return NB_ENOMEM;
		}
		for (size_t i = 0; i < go->numel; i++)
			nb_tensor_set(go, i, scales[s] * (2 * nb_rng_uniform(&rng) -
			                                  1));
		rule(r->attrs, go, want);
		nb_tensor_zero_grad(x);
		nb_status st = nb_backward(y, go);
		if (!st)
			for (size_t i = 0; i < x->numel; i++) {
				double d = fabs(nb_tensor_get(x->grad, i) -
				                nb_tensor_get(want, i));
				if (d > res->max_abs_err)
					res->max_abs_err = d;
				if (!(d <= r->o->atol + r->o->rtol *
				      fabs(nb_tensor_get(want, i))))
					res->pass = false;
			}
		nb_tensor_free(want);
		if (st)
			return st;
	}
	nb_tensor_zero_grad(x);
	return NB_OK;
}

static nb_status check_input(gc_run *r, int k, nb_gradcheck_result *res)
{
	size_t len = r->out_numel * r->in[k]->numel;
	double *a = nb__calloc(len + 1, sizeof *a);
	double *a2 = nb__calloc(len + 1, sizeof *a2);
	double *n = nb__calloc(len + 1, sizeof *n);
	double *fp = nb__calloc(r->out_numel + 1, sizeof *fp);
	double *fm = nb__calloc(r->out_numel + 1, sizeof *fm);
	nb_status st = NB_ENOMEM;
	if (!a || !a2 || !n || !fp || !fm)
		goto out;
	if ((st = analytic(r, k, a)) || (st = analytic(r, k, a2)) ||
	    (st = numeric(r, k, n, fp, fm)))
		goto out;
	compare(a, n, len, r->o, res);
	if (memcmp(a, a2, len * sizeof *a)) {
		res->pass = false;
		snprintf(res->message, sizeof res->message,
		         "backward is not deterministic");
	} else if (!res->pass) {
		snprintf(res->message, sizeof res->message,
		         "analytic and numerical Jacobians differ");
	}
out:
	nb__free(a);
	nb__free(a2);
	nb__free(n);
	nb__free(fp);
	nb__free(fm);
	return st;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Names input i after the op's input i ("weight"), for the graph a
 * callback may draw; a name that cannot be set is left out. */
static void name_input(const nb_op *op, int i, nb_tensor *t)
{
	const nb_input_def *d = nb_op_input(op, i);
	if (d)
		nb_tensor_set_name(t, d->name);
}

/* Makes the case's inputs (persistent float64 / int64 tensors). */
static nb_status make_inputs(gc_run *r, const nb_recipe_case *cs, nb_rng *rng)
{
	for (int i = 0; i < cs->n_in; i++) {
		const nb_recipe_input *gi = &cs->in[i];
		if (gi->absent)
			continue;
		nb_dtype dt = gi->classes ? NB_I64 : gi->mask ? NB_BOOL : NB_F64;
		nb_tensor *t = nb_tensor_zeros(dt, gi->ndim, gi->shape);
		if (!t)
			return nb_last_status();
		r->in[i] = t;
		name_input(r->op, i, t);
		for (size_t j = 0; j < t->numel; j++)
			nb_tensor_set(t, j, gi->classes
			    ? (double)nb_rng_below(rng, (uint64_t)gi->classes)
			    : gi->mask ? (double)nb_rng_below(rng, 2)
			    : sample_value(r->op, gi, rng));
		const nb_input_def *d = nb_op_input(r->op, i);
		if (dt == NB_F64 && !gi->constant && d &&
		    !(d->flags & (NB_IN_NONDIFF | NB_IN_INT64 | NB_IN_BOOL)))
			t->flags |= NB_T_REQUIRES_GRAD;
	}
	return NB_OK;
}

/* An op without a gradient: its results must not require one, and
 * backward through them must be refused, whatever the inputs want. */
static void check_refused(gc_run *r, nb_gradcheck_result *res,
                          int *n_failed, nb_gradcheck_cb cb, void *ud)
{
	bool ok = true;
	for (int k = 0; k < r->n_out; k++)
		ok &= !nb_tensor_requires_grad(r->outs[k]) &&
		      nb_backward(r->outs[k], NULL) != NB_OK;
	nb_graph_clear_error(r->g);
	res->pass = ok;
	res->rule_only = true;
	snprintf(res->message, sizeof res->message, "%s", ok
	         ? "no gradient: backward refused, as declared"
	         : "declared without gradient, but a result requires one");
	if (!ok)
		++*n_failed;
	if (cb)
		cb(res, ud);
}

static nb_status run_case(const nb_op *op, const nb_gradcheck_opts *o,
                          const nb_recipe_case *cs, int index, nb_gradcheck_cb cb,
                          void *ud, int *n_failed)
{
	gc_run r = {.op = op, .o = o, .n_in = cs->n_in};
	_Alignas(max_align_t) unsigned char attrs[NB_MAX_ATTRS_SIZE];
	nb_gradcheck_result res;
	nb_rng rng;
	nb_status st;
	nb_rng_seed(&rng, o->seed ^ name_hash(op->name));
	memset(&res, 0, sizeof res);
	res.op = op;
	res.input = -1;
	res.dtype = NB_F64;
	res.case_index = index;
	snprintf(res.attrs, sizeof res.attrs, "%s", cs->attrs);
	if ((st = nb_attrs_parse(op, cs->attrs, attrs)))
		goto fail;
	r.attrs = attrs;
	if (!(r.g = nb_graph_new())) {
		st = NB_ENOMEM;
		goto fail;
	}
	nb_graph_set_training(r.g, o->training);
	res.graph = r.g;
	if ((st = make_inputs(&r, cs, &rng)))
		goto fail;
	nb_tensor *y = forward(&r);
	if (!y) {
		st = nb_graph_status(r.g);
		snprintf(res.message, sizeof res.message, "%s",
		         nb_graph_errmsg(r.g));
		goto fail;
	}
	for (int k = 0; k < r.n_out; k++)
		r.out_numel += r.outs[k]->numel;
	if (op->flags & NB_OP_NO_GRAD) {
		check_refused(&r, &res, n_failed, cb, ud);
		goto out;
	}
	for (int k = 0; k < r.n_in; k++) {
		if (!r.in[k] || !(r.in[k]->flags & NB_T_REQUIRES_GRAD))
			continue;
		nb_gradcheck_result ri = res;
		ri.input = k;
		ri.input_name = nb_op_input(op, k)->name;
		nb_shape_str(r.in[k]->ndim, r.in[k]->shape, ri.shape,
		             sizeof ri.shape);
		st = (op->flags & NB_OP_GRAD_MODIFYING) ? check_rule(&r, k, &ri)
		                                        : check_input(&r, k, &ri);
		if (st) {
			snprintf(ri.message, sizeof ri.message, "%s",
			         nb_graph_status(r.g) ? nb_graph_errmsg(r.g)
			                              : nb_last_error());
			ri.pass = false;
		}
		if (!ri.pass)
			++*n_failed;
		if (cb)
			cb(&ri, ud);
		if (st == NB_ENOMEM)
			goto out;
	}
	st = NB_OK;
	goto out;
fail:
	res.pass = false;
	if (!res.message[0])
		snprintf(res.message, sizeof res.message, "%s", nb_last_error());
	++*n_failed;
	if (cb)
		cb(&res, ud);
	if (st != NB_ENOMEM)
		st = NB_OK;
out:
	for (int i = 0; i < r.n_in; i++)
		nb_tensor_free(r.in[i]);
	nb_graph_free(r.g);
	return st;
}

typedef struct gc_each {
	const nb_op *op;
	const nb_gradcheck_opts *o;
	nb_gradcheck_cb cb;
	void *ud;
	int *n_failed;
} gc_each;

static int each_case(const nb_recipe_case *cs, int index, const char *s,
                     size_t len, void *ud)
{
	const gc_each *e = ud;
	if (!cs)
		return nb__set_error(NB_EFORMAT, "gradcheck: op '%s': bad "
		                     "case '%.*s'", e->op->name, (int)len, s);
	const nb_op *op = e->op;
	bool variadic = op->n_inputs &&
	    (op->inputs[op->n_inputs - 1].flags & NB_IN_VARIADIC);
	if (variadic ? cs->n_in < op->min_inputs : cs->n_in != op->n_inputs)
		return nb__set_error(NB_EFORMAT, "gradcheck: op '%s': case "
		                     "'%.*s' has %d inputs, the op %s%d",
		                     op->name, (int)len, s, cs->n_in,
		                     variadic ? "at least " : "",
		                     variadic ? op->min_inputs : op->n_inputs);
	return run_case(e->op, e->o, cs, index, e->cb, e->ud, e->n_failed);
}

nb_status nb_gradcheck_op(const nb_op *op, const nb_gradcheck_opts *o,
                          nb_gradcheck_cb cb, void *ud, int *n_failed)
{
	nb_gradcheck_opts def = nb_gradcheck_defaults();
	int dummy = 0;
	if (!o)
		o = &def;
	if (!n_failed)
		n_failed = &dummy;
	if (!op)
		return nb__set_error(NB_EINVAL, "gradcheck: op is NULL");
	if (!op->test || !op->test->cases || !*op->test->cases)
		return nb__set_error(NB_EINVAL, "gradcheck: op '%s' has no "
		                     "sample cases", op->name);
	gc_each e = {op, o, cb, ud, n_failed};
	return (nb_status)nb__recipe_each(op->test->cases, each_case, &e);
}
