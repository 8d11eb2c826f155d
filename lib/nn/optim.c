/*
 * optim.c - SGD, Adam, AdamW and RMSprop, following torch.optim's
 * single-tensor implementations (PyTorch 1.13 .. 2.x) operation by
 * operation, in the parameter's dtype, so that float32 trajectories
 * round as PyTorch's do.  The formulas are in doc/optimizers.md.
 *
 * State lives in persistent tensors made at construction, listed under
 * PyTorch's state_dict names so that a checkpoint can save and restore
 * them (see nb_optim_state_at in nabla/optim.h).
 */
#include <stdio.h>
#include <tgmath.h>
#include "internal.h"

typedef enum opt_kind { OPT_SGD, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP } opt_kind;

#define MAX_BUFS 3

/* Buffer names by kind; a buffer is made only when the options use it. */
static const char *const buf_names[][MAX_BUFS] = {
	[OPT_SGD] = {"momentum_buffer", NULL, NULL},
	[OPT_ADAM] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
	[OPT_ADAMW] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"},
	[OPT_RMSPROP] = {"square_avg", "momentum_buffer", "grad_avg"},
};

static const char *const kind_names[] = {"sgd", "adam", "adamw", "rmsprop"};

/* One parameter and its state. */
typedef struct slot {
	nb_tensor *param;          /* borrowed */
	nb_tensor *step;           /* 0-d float64: updates received */
	nb_tensor *buf[MAX_BUFS];  /* owned; NULL when unused */
} slot;

struct nb_optim {
	opt_kind kind;
	union {
		nb_sgd_opts sgd;
		nb_adam_opts adam;
		nb_rmsprop_opts rms;
	} u;
	size_t n;
	slot *slots;
	nb_tensor *steps;          /* 0-d float64: nb_optim_step calls */
	size_t n_state;
	nb_tensor **state;         /* borrowed views of the above, in order */
	char **names;
};

/* ---- defaults and validation ---- */

nb_sgd_opts nb_sgd_defaults(void)
{
	nb_sgd_opts o = {.lr = 1e-3};
	return o;
}

nb_adam_opts nb_adam_defaults(void)
{
	nb_adam_opts o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
	                  .eps = 1e-8};
	return o;
}

nb_adam_opts nb_adamw_defaults(void)
{
	nb_adam_opts o = nb_adam_defaults();
	o.weight_decay = 1e-2;
	return o;
}

nb_rmsprop_opts nb_rmsprop_defaults(void)
{
	nb_rmsprop_opts o = {.lr = 1e-2, .alpha = 0.99, .eps = 1e-8};
	return o;
}

/* v >= 0 and finite, or an NB_EINVAL naming the optimizer and value. */
static nb_status nonneg(const char *opt, const char *what, double v)
{
	if (v >= 0 && isfinite(v))
		return NB_OK;
	return nb__set_error(NB_EINVAL, "%s: invalid %s %g (must be a finite "
	                     "value >= 0)", opt, what, v);
}

/* lo <= v < hi (hi_open) or lo <= v <= hi. */
static nb_status in_range(const char *opt, const char *what, double v,
                          double lo, double hi, bool hi_open)
{
	if (v >= lo && (hi_open ? v < hi : v <= hi))
		return NB_OK;
	return nb__set_error(NB_EINVAL, "%s: invalid %s %g (must be in "
	                     "[%g, %g%c)", opt, what, v, lo, hi,
	                     hi_open ? ')' : ']');
}

static nb_status check_sgd(const nb_sgd_opts *o)
{
	nb_status st;
	if ((st = nonneg("sgd", "learning rate", o->lr)) ||
	    (st = nonneg("sgd", "momentum", o->momentum)) ||
	    (st = nonneg("sgd", "weight_decay", o->weight_decay)))
		return st;
	if (!isfinite(o->dampening))
		return nb__set_error(NB_EINVAL, "sgd: invalid dampening %g",
		                     o->dampening);
	if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
		return nb__set_error(NB_EINVAL, "sgd: nesterov momentum needs "
		                     "momentum > 0 and dampening 0 (momentum %g, "
		                     "dampening %g)", o->momentum, o->dampening);
	return NB_OK;
}

static nb_status check_adam(const char *nm, const nb_adam_opts *o)
{
	nb_status st;
	if ((st = nonneg(nm, "learning rate", o->lr)) ||
	    (st = nonneg(nm, "eps", o->eps)) ||
	    (st = in_range(nm, "beta1", o->beta1, 0, 1, true)) ||
	    (st = in_range(nm, "beta2", o->beta2, 0, 1, true)) ||
	    (st = nonneg(nm, "weight_decay", o->weight_decay)))
		return st;
	return NB_OK;
}

static nb_status check_rmsprop(const nb_rmsprop_opts *o)
{
	nb_status st;
	if ((st = nonneg("rmsprop", "learning rate", o->lr)) ||
	    (st = nonneg("rmsprop", "eps", o->eps)) ||
	    (st = in_range("rmsprop", "alpha", o->alpha, 0, 1, false)) ||
	    (st = nonneg("rmsprop", "momentum", o->momentum)) ||
	    (st = nonneg("rmsprop", "weight_decay", o->weight_decay)))
		return st;
	return NB_OK;
}

static nb_status check_params(const char *nm, nb_tensor *const *params,
                              size_t n)
{
	if (!params || n == 0)
		return nb__set_error(NB_EINVAL, "%s: empty parameter list", nm);
	for (size_t i = 0; i < n; i++) {
		const nb_tensor *p = params[i];
		if (!p)
			return nb__set_error(NB_EINVAL, "%s: parameter %zu is NULL",
			                     nm, i);
		if (p->flags & NB_T_GRAPH)
			return nb__set_error(NB_EINVAL, "%s: parameter %zu is a "
			                     "graph tensor; parameters must be "
			                     "persistent", nm, i);
		if (!nb__is_float(p->dtype))
			return nb__set_error(NB_EDTYPE, "%s: parameter %zu is %s, "
			                     "not float32 or float64", nm, i,
			                     nb_dtype_name(p->dtype));
		for (size_t j = 0; j < i; j++)
			if (params[j] == p)
				return nb__set_error(NB_EINVAL, "%s: parameter %zu "
				                     "repeats parameter %zu", nm, i, j);
	}
	return NB_OK;
}

/* ---- construction ---- */

void nb_optim_free(nb_optim *o)
{
	if (!o)
		return;
	for (size_t i = 0; o->slots && i < o->n; i++) {
		nb_tensor_free(o->slots[i].step);
		for (int b = 0; b < MAX_BUFS; b++)
			nb_tensor_free(o->slots[i].buf[b]);
	}
	for (size_t i = 0; o->names && i < o->n_state; i++)
		nb__free(o->names[i]);
	nb_tensor_free(o->steps);
	nb__free(o->names);
	nb__free(o->state);
	nb__free(o->slots);
	nb__free(o);
}

/* Appends a state entry named "prefix.name" (or "name" if prefix < 0). */
static nb_status add_state(nb_optim *o, long prefix, const char *name,
                           nb_tensor *t)
{
	char buf[96];
	if (prefix < 0)
		snprintf(buf, sizeof buf, "%s", name);
	else
		snprintf(buf, sizeof buf, "%ld.%s", prefix, name);
	if (!t || !(o->names[o->n_state] = nb__strdup(buf)))
		return NB_ENOMEM;
	o->state[o->n_state++] = t;
	return NB_OK;
}

static nb_status make_slot(nb_optim *o, size_t i, nb_tensor *p,
                           const bool *use)
{
	slot *s = &o->slots[i];
	nb_status st;
	s->param = p;
	s->step = nb_tensor_zeros(NB_F64, 0, NULL);
	if ((st = add_state(o, (long)i, "step", s->step)))
		return st;
	for (int b = 0; b < MAX_BUFS; b++) {
		if (!use[b])
			continue;
		s->buf[b] = nb__tensor_like(p);
		if ((st = add_state(o, (long)i, buf_names[o->kind][b],
		                    s->buf[b])))
			return st;
	}
	return NB_OK;
}

/* The optimizer with its state; use[b] says which buffers it needs.
 * The options are copied in by the caller. */
static nb_optim *optim_new(opt_kind kind, nb_tensor *const *params,
                           size_t n, const bool *use)
{
	size_t per = 1;
	for (int b = 0; b < MAX_BUFS; b++)
		per += use[b];
	if (check_params(kind_names[kind], params, n))
		return NULL;
	nb_optim *o = nb__calloc(1, sizeof *o);
	if (!o)
		goto oom;
	o->kind = kind;
	o->n = n;
	size_t cap = 1 + n * per;
	o->slots = nb__calloc(n, sizeof *o->slots);
	o->state = nb__calloc(cap, sizeof *o->state);
	o->names = nb__calloc(cap, sizeof *o->names);
	if (!o->slots || !o->state || !o->names)
		goto oom;
	o->steps = nb_tensor_zeros(NB_F64, 0, NULL);
	if (add_state(o, -1, "step", o->steps))
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (make_slot(o, i, params[i], use))
			goto oom;
	return o;
oom:
	nb_optim_free(o);
	nb__set_error(NB_ENOMEM, "%s: out of memory for the optimizer state",
	              kind_names[kind]);
	return NULL;
}

nb_optim *nb_optim_sgd(nb_tensor *const *params, size_t n,
                       const nb_sgd_opts *opts)
{
	nb_sgd_opts d = nb_sgd_defaults();
	if (!opts)
		opts = &d;
	if (check_sgd(opts))
		return NULL;
	bool use[MAX_BUFS] = {opts->momentum != 0};
	nb_optim *o = optim_new(OPT_SGD, params, n, use);
	if (o)
		o->u.sgd = *opts;
	return o;
}

static nb_optim *adam_new(opt_kind kind, nb_tensor *const *params, size_t n,
                          const nb_adam_opts *opts)
{
	if (check_adam(kind_names[kind], opts))
		return NULL;
	bool use[MAX_BUFS] = {true, true, opts->amsgrad};
	nb_optim *o = optim_new(kind, params, n, use);
	if (o)
		o->u.adam = *opts;
	return o;
}

nb_optim *nb_optim_adam(nb_tensor *const *params, size_t n,
                        const nb_adam_opts *opts)
{
	nb_adam_opts d = nb_adam_defaults();
	return adam_new(OPT_ADAM, params, n, opts ? opts : &d);
}

nb_optim *nb_optim_adamw(nb_tensor *const *params, size_t n,
                         const nb_adam_opts *opts)
{
	nb_adam_opts d = nb_adamw_defaults();
	return adam_new(OPT_ADAMW, params, n, opts ? opts : &d);
}

nb_optim *nb_optim_rmsprop(nb_tensor *const *params, size_t n,
                           const nb_rmsprop_opts *opts)
{
	nb_rmsprop_opts d = nb_rmsprop_defaults();
	if (!opts)
		opts = &d;
	if (check_rmsprop(opts))
		return NULL;
	bool use[MAX_BUFS] = {true, opts->momentum > 0, opts->centered};
	nb_optim *o = optim_new(OPT_RMSPROP, params, n, use);
	if (o)
		o->u.rms = *opts;
	return o;
}

/* ---- the update rules, one loop per dtype ---- */

/*
 * Each line mirrors one in-place op of torch.optim's single-tensor code,
 * with the same association, so float32 rounds alike:  add_(x, alpha=a)
 * is w + a * x, addcmul_(x, y, value=a) is w + a * x * y, addcdiv_(x, y,
 * value=a) is w + a * x / y.  Python-scalar factors are cast to T.
 */
#define SGD_T(T)                                                             \
	static void sgd_##T(const nb_sgd_opts *o, bool first, size_t n,      \
	                    T *w, const T *g, T *buf)                        \
	{                                                                    \
		const T wd = (T)o->weight_decay, mom = (T)o->momentum;       \
		const T damp = (T)(1 - o->dampening), nlr = (T)-o->lr;       \
		/* Invariants in locals: the loop is unswitched on them and  \
		 * each version vectorizes. */                               \
		const bool max = o->maximize, decay = o->weight_decay != 0;  \
		const bool use_mom = o->momentum != 0, nest = o->nesterov;   \
		for (size_t i = 0; i < n; i++) {                             \
			T d = max ? -g[i] : g[i];                            \
			if (decay)                                           \
				d = d + wd * w[i];                           \
			if (use_mom) {                                       \
				buf[i] = first ? d : buf[i] * mom + damp * d;\
				d = nest ? d + mom * buf[i] : buf[i];        \
			}                                                    \
			w[i] = w[i] + nlr * d;                               \
		}                                                            \
	}

#define ADAM_T(T)                                                            \
	static void adam_##T(const nb_adam_opts *o, bool decoupled,          \
	                     double step, size_t n, T *w, const T *g, T *m,  \
	                     T *v, T *vmax)                                  \
	{                                                                    \
		double bc1 = 1 - pow(o->beta1, step);                        \
		double bc2 = 1 - pow(o->beta2, step);                        \
		const T nstep = (T)(-(o->lr / bc1)), bc2s = (T)sqrt(bc2);    \
		const T b1 = (T)o->beta1, c1 = (T)(1 - o->beta1);            \
		const T b2 = (T)o->beta2, c2 = (T)(1 - o->beta2);            \
		const T eps = (T)o->eps, wd = (T)o->weight_decay;            \
		const T keep = (T)(1 - o->lr * o->weight_decay);             \
		for (size_t i = 0; i < n; i++) {                             \
			T d = o->maximize ? -g[i] : g[i];                    \
			if (decoupled)                                       \
				w[i] = w[i] * keep;                          \
			else if (o->weight_decay != 0)                       \
				d = d + wd * w[i];                           \
			m[i] = m[i] * b1 + c1 * d;                           \
			v[i] = v[i] * b2 + c2 * d * d;                       \
			T s = v[i];                                          \
			if (vmax) {                                          \
				vmax[i] = vmax[i] < s ? s : vmax[i];         \
				s = vmax[i];                                 \
			}                                                    \
			T denom = sqrt(s) / bc2s + eps;                      \
			w[i] = w[i] + nstep * m[i] / denom;                  \
		}                                                            \
	}

#define RMSPROP_T(T)                                                         \
	static void rmsprop_##T(const nb_rmsprop_opts *o, size_t n, T *w,    \
	                        const T *g, T *sq, T *buf, T *ga)            \
	{                                                                    \
		const T al = (T)o->alpha, c = (T)(1 - o->alpha);             \
		const T eps = (T)o->eps, wd = (T)o->weight_decay;            \
		const T mom = (T)o->momentum, nlr = (T)-o->lr;               \
		for (size_t i = 0; i < n; i++) {                             \
			T d = o->maximize ? -g[i] : g[i];                    \
			if (o->weight_decay != 0)                            \
				d = d + wd * w[i];                           \
			sq[i] = sq[i] * al + c * d * d;                      \
			T avg;                                               \
			if (ga) {                                            \
				ga[i] = ga[i] * al + c * d;                  \
				avg = sqrt(sq[i] + (T)-1 * ga[i] * ga[i]);   \
			} else {                                             \
				avg = sqrt(sq[i]);                           \
			}                                                    \
			avg = avg + eps;                                     \
			if (buf) {                                           \
				buf[i] = buf[i] * mom + (T)1 * d / avg;      \
				w[i] = w[i] + nlr * buf[i];                  \
			} else {                                             \
				w[i] = w[i] + nlr * d / avg;                 \
			}                                                    \
		}                                                            \
	}

SGD_T(float)
SGD_T(double)
ADAM_T(float)
ADAM_T(double)
RMSPROP_T(float)
RMSPROP_T(double)

/* The data pointer of an optional buffer. */
static void *bd(nb_tensor *t)
{
	return t ? t->data : NULL;
}

/* Updates one parameter whose gradient is g; step is its new count. */
static void update(nb_optim *o, slot *s, const nb_tensor *g, double step)
{
	nb_tensor *p = s->param;
	bool f = p->dtype == NB_F32, first = step == 1;
	void *w = p->data;
	void *b0 = bd(s->buf[0]), *b1 = bd(s->buf[1]), *b2 = bd(s->buf[2]);
	size_t n = p->numel;
	switch (o->kind) {
	case OPT_SGD:
		if (f)
			sgd_float(&o->u.sgd, first, n, w, g->data, b0);
		else
			sgd_double(&o->u.sgd, first, n, w, g->data, b0);
		break;
	case OPT_ADAM:
	case OPT_ADAMW: {
		bool dec = o->kind == OPT_ADAMW;
		if (f)
			adam_float(&o->u.adam, dec, step, n, w, g->data, b0, b1,
			           b2);
		else
			adam_double(&o->u.adam, dec, step, n, w, g->data, b0, b1,
			            b2);
		break;
	}
	case OPT_RMSPROP:
		if (f)
			rmsprop_float(&o->u.rms, n, w, g->data, b0, b1, b2);
		else
			rmsprop_double(&o->u.rms, n, w, g->data, b0, b1, b2);
		break;
	}
}

nb_status nb_optim_step(nb_optim *o)
{
	if (!o)
		return nb__set_error(NB_EINVAL, "optim_step: optimizer is NULL");
	for (size_t i = 0; i < o->n; i++) {
		slot *s = &o->slots[i];
		const nb_tensor *g = s->param->grad;
		if (!g)
			continue; /* grad None: skipped, as PyTorch */
		double *step = s->step->data;
		*step += 1;
		update(o, s, g, *step);
	}
	*(double *)o->steps->data += 1;
	return NB_OK;
}

void nb_optim_zero_grad(nb_optim *o, bool set_to_none)
{
	for (size_t i = 0; o && i < o->n; i++) {
		nb_tensor *p = o->slots[i].param;
		if (!set_to_none) {
			nb_tensor_zero_grad(p);
			continue;
		}
		nb_tensor_free(p->grad);
		p->grad = NULL;
	}
}

/* ---- accessors ---- */

static double *lr_of(const nb_optim *o)
{
	nb_optim *m = (nb_optim *)o;
	switch (o->kind) {
	case OPT_SGD: return &m->u.sgd.lr;
	case OPT_ADAM:
	case OPT_ADAMW: return &m->u.adam.lr;
	case OPT_RMSPROP: return &m->u.rms.lr;
	}
	return &m->u.sgd.lr;
}

double nb_optim_get_lr(const nb_optim *o)
{
	return o ? *lr_of(o) : NAN;
}

nb_status nb_optim_set_lr(nb_optim *o, double lr)
{
	if (!o)
		return nb__set_error(NB_EINVAL, "optim_set_lr: optimizer is "
		                     "NULL");
	nb_status st = nonneg(kind_names[o->kind], "learning rate", lr);
	if (!st)
		*lr_of(o) = lr;
	return st;
}

const char *nb_optim_name(const nb_optim *o)
{
	return o ? kind_names[o->kind] : "?";
}

size_t nb_optim_param_count(const nb_optim *o)
{
	return o ? o->n : 0;
}

nb_tensor *nb_optim_param(const nb_optim *o, size_t i)
{
	return o && i < o->n ? o->slots[i].param : NULL;
}

int64_t nb_optim_step_count(const nb_optim *o)
{
	return o ? (int64_t)*(const double *)o->steps->data : 0;
}

size_t nb_optim_state_count(const nb_optim *o)
{
	return o ? o->n_state : 0;
}

nb_tensor *nb_optim_state_at(const nb_optim *o, size_t i, const char **name)
{
	if (name)
		*name = NULL;
	if (!o || i >= o->n_state)
		return NULL;
	if (name)
		*name = o->names[i];
	return o->state[i];
}

nb_tensor *nb_optim_state_find(const nb_optim *o, const char *name)
{
	for (size_t i = 0; o && name && i < o->n_state; i++)
		if (!strcmp(o->names[i], name))
			return o->state[i];
	return NULL;
}
