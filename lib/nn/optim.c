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
#include "ops/vecmath.h" /* NB_VEC_CLONES */
#include <stdio.h>
#include <tgmath.h>
#include "internal.h"
#include "optim_internal.h"

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
	size_t group;
	nb_tensor *step;           /* 0-d float64: updates received */
	nb_tensor *buf[MAX_BUFS];  /* owned; NULL when unused */
} slot;

/* The options of one kind of optimizer. */
typedef union hyper {
	nb_sgd_opts sgd;
	nb_adam_opts adam;
	nb_rmsprop_opts rms;
} hyper;

/* A parameter group: slots [first, first + count) with options u. */
typedef struct group {
	hyper u;
	size_t first, count;
	double initial_lr;         /* PyTorch's initial_lr; NAN: none yet */
} group;

struct nb_optim {
	opt_kind kind;
	hyper defaults;            /* the constructor's options */
	size_t n, cap;
	slot *slots;
	size_t n_groups, cap_groups;
	group *groups;
	nb_tensor *steps;          /* 0-d float64: nb_optim_step calls */
	size_t n_state, cap_state;
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

/* The options of the kind, checked. */
static nb_status check_hyper(opt_kind kind, const hyper *h)
{
	switch (kind) {
	case OPT_SGD: return check_sgd(&h->sgd);
	case OPT_ADAM:
	case OPT_ADAMW: return check_adam(kind_names[kind], &h->adam);
	case OPT_RMSPROP: return check_rmsprop(&h->rms);
	}
	return NB_OK;
}

/* Which buffers a parameter with options h needs. */
static void buffers_used(opt_kind kind, const hyper *h, bool *use)
{
	use[0] = use[1] = use[2] = false;
	switch (kind) {
	case OPT_SGD:
		use[0] = h->sgd.momentum != 0;
		break;
	case OPT_ADAM:
	case OPT_ADAMW:
		use[0] = use[1] = true;
		use[2] = h->adam.amsgrad;
		break;
	case OPT_RMSPROP:
		use[0] = true;
		use[1] = h->rms.momentum > 0;
		use[2] = h->rms.centered;
		break;
	}
}

/* The parameters of the next group (group 0: the constructor's), which
 * may not repeat one another nor any earlier group's. */
static nb_status check_params(const nb_optim *o, nb_tensor *const *params,
                              size_t n)
{
	const char *nm = kind_names[o->kind];
	size_t g = o->n_groups;
	if (!params || n == 0)
		return nb__set_error(NB_EINVAL, g ? "%s: group %zu: empty "
		                     "parameter list" : "%s: empty parameter "
		                     "list", nm, g);
	for (size_t i = 0; i < n; i++) {
		const nb_tensor *p = params[i];
		char where[48] = "";
		if (g)
			snprintf(where, sizeof where, "group %zu: ", g);
		if (!p)
			return nb__set_error(NB_EINVAL, "%s: %sparameter %zu is "
			                     "NULL", nm, where, i);
		if (p->flags & NB_T_GRAPH)
			return nb__set_error(NB_EINVAL, "%s: %sparameter %zu is a "
			                     "graph tensor; parameters must be "
			                     "persistent", nm, where, i);
		if (!nb__is_float(p->dtype))
			return nb__set_error(NB_EDTYPE, "%s: %sparameter %zu is %s, "
			                     "not float32 or float64", nm, where, i,
			                     nb_dtype_name(p->dtype));
		for (size_t j = 0; j < i; j++)
			if (params[j] == p)
				return nb__set_error(NB_EINVAL, "%s: %sparameter %zu "
				                     "repeats parameter %zu", nm, where,
				                     i, j);
		for (size_t j = 0; j < o->n; j++)
			if (o->slots[j].param == p)
				return nb__set_error(NB_EINVAL, "%s: group %zu: "
				                     "parameter %zu is already in group "
				                     "%zu (as parameter %zu): a parameter "
				                     "may be in one group only", nm, g, i,
				                     o->slots[j].group, j);
	}
	return NB_OK;
}

/* ---- construction ---- */

static void free_slot(slot *s)
{
	nb_tensor_free(s->step);
	for (int b = 0; b < MAX_BUFS; b++)
		nb_tensor_free(s->buf[b]);
}

void nb_optim_free(nb_optim *o)
{
	if (!o)
		return;
	for (size_t i = 0; o->slots && i < o->n; i++)
		free_slot(&o->slots[i]);
	for (size_t i = 0; o->names && i < o->n_state; i++)
		nb__free(o->names[i]);
	nb_tensor_free(o->steps);
	nb__free(o->names);
	nb__free(o->state);
	nb__free(o->slots);
	nb__free(o->groups);
	nb__free(o);
}

/* Grows *arr (of *cap elements of size sz) to hold need. */
static bool reserve(void **arr, size_t *cap, size_t need, size_t sz)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap : 4;
	while (c < need)
		c *= 2;
	void *p = nb__realloc(*arr, c * sz);
	if (!p)
		return false;
	*arr = p;
	*cap = c;
	return true;
}

/* Appends a state entry named "prefix.name" (or "name" if prefix < 0);
 * the arrays have room. */
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

static nb_status make_slot(nb_optim *o, nb_tensor *p, const bool *use)
{
	size_t i = o->n;
	slot *s = &o->slots[i];
	nb_status st;
	memset(s, 0, sizeof *s);
	s->param = p;
	s->group = o->n_groups;
	o->n++;
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

/* Appends group o->n_groups of params with options h (checked); on
 * failure o is as it was. */
static nb_status append_group(nb_optim *o, nb_tensor *const *params,
                              size_t n, const hyper *h)
{
	bool use[MAX_BUFS];
	nb_status st;
	if ((st = check_params(o, params, n)))
		return st;
	buffers_used(o->kind, h, use);
	size_t per = 1 + (size_t)use[0] + use[1] + use[2];
	size_t n0 = o->n, s0 = o->n_state;
	if (!reserve((void **)&o->slots, &o->cap, o->n + n, sizeof *o->slots)
	    || !reserve((void **)&o->groups, &o->cap_groups, o->n_groups + 1,
	                sizeof *o->groups))
		goto oom;
	size_t cs = o->cap_state, need = o->n_state + n * per;
	if (!reserve((void **)&o->state, &cs, need, sizeof *o->state))
		goto oom;
	cs = o->cap_state;
	if (!reserve((void **)&o->names, &cs, need, sizeof *o->names))
		goto oom;
	o->cap_state = cs; /* both arrays hold cs now */
	for (size_t i = 0; i < n; i++)
		if (make_slot(o, params[i], use))
			goto oom;
	o->groups[o->n_groups++] = (group){*h, n0, n, NAN};
	return NB_OK;
oom:
	for (size_t i = n0; i < o->n; i++)
		free_slot(&o->slots[i]);
	for (size_t i = s0; i < o->n_state; i++)
		nb__free(o->names[i]);
	o->n = n0;
	o->n_state = s0;
	return nb__set_error(NB_ENOMEM, "%s: out of memory for the optimizer "
	                     "state", kind_names[o->kind]);
}

/* The optimizer of group 0 (params, options h, checked by the caller). */
static nb_optim *optim_new(opt_kind kind, nb_tensor *const *params,
                           size_t n, const hyper *h)
{
	nb_optim *o = nb__calloc(1, sizeof *o);
	if (!o) {
		nb__set_error(NB_ENOMEM, "%s: out of memory for the optimizer "
		              "state", kind_names[kind]);
		return NULL;
	}
	o->kind = kind;
	o->defaults = *h;
	if (check_params(o, params, n))
		goto fail;
	o->cap_state = 1;
	o->state = nb__calloc(1, sizeof *o->state);
	o->names = nb__calloc(1, sizeof *o->names);
	o->steps = nb_tensor_zeros(NB_F64, 0, NULL);
	if (!o->state || !o->names || add_state(o, -1, "step", o->steps)) {
		nb__set_error(NB_ENOMEM, "%s: out of memory for the optimizer "
		              "state", kind_names[kind]);
		goto fail;
	}
	if (append_group(o, params, n, h))
		goto fail;
	return o;
fail:
	nb_optim_free(o);
	return NULL;
}

nb_optim *nb_optim_sgd(nb_tensor *const *params, size_t n,
                       const nb_sgd_opts *opts)
{
	hyper h = {.sgd = opts ? *opts : nb_sgd_defaults()};
	if (check_sgd(&h.sgd))
		return NULL;
	return optim_new(OPT_SGD, params, n, &h);
}

static nb_optim *adam_new(opt_kind kind, nb_tensor *const *params, size_t n,
                          const nb_adam_opts *opts)
{
	hyper h = {.adam = *opts};
	if (check_adam(kind_names[kind], opts))
		return NULL;
	return optim_new(kind, params, n, &h);
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
	hyper h = {.rms = opts ? *opts : nb_rmsprop_defaults()};
	if (check_rmsprop(&h.rms))
		return NULL;
	return optim_new(OPT_RMSPROP, params, n, &h);
}

/* ---- the update rules, one loop per dtype ---- */

/*
 * Each line mirrors one in-place op of torch.optim's single-tensor code,
 * with the same association, so float32 rounds alike:  add_(x, alpha=a)
 * is w + a * x, addcmul_(x, y, value=a) is w + a * x * y, addcdiv_(x, y,
 * value=a) is w + a * x / y.  Python-scalar factors are cast to T.
 *
 * The loops vectorize (issue 18: the optimizer step was 2-3% of a small
 * model's training step): restrict pointers, the options read into
 * locals so the loop is unswitched on them, and no call but sqrt, which
 * is an instruction as exact as the scalar one, as is the division.
 * NB_VEC_CLONES adds an AVX2 build, 8 floats wide; no FMA, so every
 * product and sum rounds as in the scalar code.
 */
#define SGD_T(T)                                                             \
	NB_VEC_CLONES                                                        \
	static void sgd_##T(const nb_sgd_opts *o, bool first, size_t n,      \
	                    T *restrict w, const T *restrict g,              \
	                    T *restrict buf)                                 \
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
	NB_VEC_CLONES                                                        \
	static void adam_##T(const nb_adam_opts *o, bool decoupled,          \
	                     double step, size_t n, T *restrict w,           \
	                     const T *restrict g, T *restrict m,             \
	                     T *restrict v, T *restrict vmax)                \
	{                                                                    \
		double bc1 = 1 - pow(o->beta1, step);                        \
		double bc2 = 1 - pow(o->beta2, step);                        \
		const T nstep = (T)(-(o->lr / bc1)), bc2s = (T)sqrt(bc2);    \
		const T b1 = (T)o->beta1, c1 = (T)(1 - o->beta1);            \
		const T b2 = (T)o->beta2, c2 = (T)(1 - o->beta2);            \
		const T eps = (T)o->eps, wd = (T)o->weight_decay;            \
		const T keep = (T)(1 - o->lr * o->weight_decay);             \
		const bool max = o->maximize;                                \
		const bool l2 = !decoupled && o->weight_decay != 0;          \
		for (size_t i = 0; i < n; i++) {                             \
			T d = max ? -g[i] : g[i];                            \
			if (decoupled)                                       \
				w[i] = w[i] * keep;                          \
			else if (l2)                                         \
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

/* rmsprop_T calls the loop once per combination of the optional buffers,
 * each with its NULLs as constants, so no copy tests a pointer. */
#define RMSPROP_T(T)                                                         \
	static inline __attribute__((always_inline)) void                    \
	rmsprop_loop_##T(const nb_rmsprop_opts *o, size_t n,                 \
	                 T *restrict w, const T *restrict g,                 \
	                 T *restrict sq, T *restrict buf, T *restrict ga)    \
	{                                                                    \
		const T al = (T)o->alpha, c = (T)(1 - o->alpha);             \
		const T eps = (T)o->eps, wd = (T)o->weight_decay;            \
		const T mom = (T)o->momentum, nlr = (T)-o->lr;               \
		const bool max = o->maximize, decay = o->weight_decay != 0;  \
		for (size_t i = 0; i < n; i++) {                             \
			T d = max ? -g[i] : g[i];                            \
			if (decay)                                           \
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
	}                                                                    \
	NB_VEC_CLONES                                                        \
	static void rmsprop_##T(const nb_rmsprop_opts *o, size_t n, T *w,    \
	                        const T *g, T *sq, T *buf, T *ga)            \
	{                                                                    \
		if (buf && ga)                                               \
			rmsprop_loop_##T(o, n, w, g, sq, buf, ga);           \
		else if (buf)                                                \
			rmsprop_loop_##T(o, n, w, g, sq, buf, NULL);         \
		else if (ga)                                                 \
			rmsprop_loop_##T(o, n, w, g, sq, NULL, ga);          \
		else                                                         \
			rmsprop_loop_##T(o, n, w, g, sq, NULL, NULL);        \
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
	const hyper *h = &o->groups[s->group].u;
	nb_tensor *p = s->param;
	bool f = p->dtype == NB_F32, first = step == 1;
	void *w = p->data;
	void *b0 = bd(s->buf[0]), *b1 = bd(s->buf[1]), *b2 = bd(s->buf[2]);
	size_t n = p->numel;
	switch (o->kind) {
	case OPT_SGD:
		if (f)
			sgd_float(&h->sgd, first, n, w, g->data, b0);
		else
			sgd_double(&h->sgd, first, n, w, g->data, b0);
		break;
	case OPT_ADAM:
	case OPT_ADAMW: {
		bool dec = o->kind == OPT_ADAMW;
		if (f)
			adam_float(&h->adam, dec, step, n, w, g->data, b0, b1,
			           b2);
		else
			adam_double(&h->adam, dec, step, n, w, g->data, b0, b1,
			            b2);
		break;
	}
	case OPT_RMSPROP:
		if (f)
			rmsprop_float(&h->rms, n, w, g->data, b0, b1, b2);
		else
			rmsprop_double(&h->rms, n, w, g->data, b0, b1, b2);
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

static double *lr_of(hyper *h, opt_kind kind)
{
	switch (kind) {
	case OPT_SGD: return &h->sgd.lr;
	case OPT_ADAM:
	case OPT_ADAMW: return &h->adam.lr;
	case OPT_RMSPROP: return &h->rms.lr;
	}
	return &h->sgd.lr;
}

double nb_optim_get_lr(const nb_optim *o)
{
	return nb_optim_group_lr(o, 0);
}

nb_status nb_optim_set_lr(nb_optim *o, double lr)
{
	if (!o)
		return nb__set_error(NB_EINVAL, "optim_set_lr: optimizer is "
		                     "NULL");
	nb_status st = nonneg(kind_names[o->kind], "learning rate", lr);
	for (size_t g = 0; !st && g < o->n_groups; g++) {
		*lr_of(&o->groups[g].u, o->kind) = lr;
		o->groups[g].initial_lr = NAN;
	}
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

/* ---- parameter groups (issue 16) ---- */

nb_group_opts nb_group_defaults(void)
{
	nb_group_opts g = {NAN, NAN, NAN, NAN, NAN};
	return g;
}

static bool has_momentum(opt_kind k)
{
	return k == OPT_SGD || k == OPT_RMSPROP;
}

/* h = base with go's non-NAN fields, checked. */
static nb_status merge(opt_kind kind, const hyper *base,
                       const nb_group_opts *go, size_t g, hyper *h)
{
	const char *nm = kind_names[kind];
	*h = *base;
	if (!go)
		return NB_OK;
	if (!has_momentum(kind) && !isnan(go->momentum))
		return nb__set_error(NB_EINVAL, "%s: group %zu: no momentum "
		                     "option (%s's is beta1)", nm, g, nm);
	if (has_momentum(kind) && (!isnan(go->beta1) || !isnan(go->beta2)))
		return nb__set_error(NB_EINVAL, "%s: group %zu: no betas option "
		                     "(%s's is momentum)", nm, g, nm);
	if (!isnan(go->lr))
		*lr_of(h, kind) = go->lr;
	switch (kind) {
	case OPT_SGD:
		if (!isnan(go->weight_decay))
			h->sgd.weight_decay = go->weight_decay;
		if (!isnan(go->momentum))
			h->sgd.momentum = go->momentum;
		break;
	case OPT_ADAM:
	case OPT_ADAMW:
		if (!isnan(go->weight_decay))
			h->adam.weight_decay = go->weight_decay;
		if (!isnan(go->beta1))
			h->adam.beta1 = go->beta1;
		if (!isnan(go->beta2))
			h->adam.beta2 = go->beta2;
		break;
	case OPT_RMSPROP:
		if (!isnan(go->weight_decay))
			h->rms.weight_decay = go->weight_decay;
		if (!isnan(go->momentum))
			h->rms.momentum = go->momentum;
		break;
	}
	return check_hyper(kind, h);
}

nb_status nb_optim_add_group(nb_optim *o, nb_tensor *const *params,
                             size_t n, const nb_group_opts *opts)
{
	hyper h;
	nb_status st;
	if (!o)
		return nb__set_error(NB_EINVAL, "optim_add_group: optimizer is "
		                     "NULL");
	if ((st = merge(o->kind, &o->defaults, opts, o->n_groups, &h)))
		return strstr(nb_last_error(), "group ") ? st
		       : nb__set_error(st, "%s (group %zu)", nb_last_error(),
		                       o->n_groups);
	return append_group(o, params, n, &h);
}

size_t nb_optim_group_count(const nb_optim *o)
{
	return o ? o->n_groups : 0;
}

nb_status nb_optim_group(const nb_optim *o, size_t g, nb_group_opts *opts,
                         size_t *first, size_t *count)
{
	if (!o || g >= o->n_groups)
		return nb__set_error(NB_EINVAL, "optim_group: %s", !o
		                     ? "optimizer is NULL" : "no such group");
	const group *gr = &o->groups[g];
	if (first)
		*first = gr->first;
	if (count)
		*count = gr->count;
	if (!opts)
		return NB_OK;
	*opts = nb_group_defaults();
	const hyper *h = &gr->u;
	switch (o->kind) {
	case OPT_SGD:
		opts->lr = h->sgd.lr;
		opts->weight_decay = h->sgd.weight_decay;
		opts->momentum = h->sgd.momentum;
		break;
	case OPT_ADAM:
	case OPT_ADAMW:
		opts->lr = h->adam.lr;
		opts->weight_decay = h->adam.weight_decay;
		opts->beta1 = h->adam.beta1;
		opts->beta2 = h->adam.beta2;
		break;
	case OPT_RMSPROP:
		opts->lr = h->rms.lr;
		opts->weight_decay = h->rms.weight_decay;
		opts->momentum = h->rms.momentum;
		break;
	}
	return NB_OK;
}

double nb_optim_group_lr(const nb_optim *o, size_t g)
{
	if (!o || g >= o->n_groups)
		return NAN;
	return *lr_of(&((nb_optim *)o)->groups[g].u, o->kind);
}

nb_status nb_optim_set_group_lr(nb_optim *o, size_t g, double lr)
{
	nb_status st = nb__optim_put_lr(o, g, lr, "optim_set_group_lr");
	if (!st)
		o->groups[g].initial_lr = NAN;
	return st;
}

/* Fills decay[] and rest[] (each of n) with m's trainable parameters. */
static void split_decay(nb_module *m, nb_tensor **all, size_t n,
                        nb_tensor **decay, size_t *nd, nb_tensor **rest,
                        size_t *nr)
{
	*nd = *nr = 0;
	for (size_t i = 0; i < n; i++) {
		if (nb_param_decays(nb_module_param_kind(m, all[i]), all[i]))
			decay[(*nd)++] = all[i];
		else
			rest[(*nr)++] = all[i];
	}
}

nb_optim *nb_optim_adamw_no_decay(nb_module *m, const nb_adam_opts *opts)
{
	nb_adam_opts d = nb_adamw_defaults();
	if (!opts)
		opts = &d;
	if (!m) {
		nb__set_error(NB_EINVAL, "adamw_no_decay: module is NULL");
		return NULL;
	}
	size_t n = nb_module_params(m, true, NULL, 0), nd, nr;
	if (!n) {
		nb__set_error(NB_EINVAL, "adamw_no_decay: the module has no "
		              "trainable parameter");
		return NULL;
	}
	nb_tensor **buf = nb__calloc(3 * n, sizeof *buf);
	if (!buf) {
		nb__set_error(NB_ENOMEM, "adamw_no_decay: out of memory");
		return NULL;
	}
	nb_module_params(m, true, buf, n);
	split_decay(m, buf, n, buf + n, &nd, buf + 2 * n, &nr);
	nb_adam_opts zero = *opts;
	zero.weight_decay = 0;
	nb_optim *o = nd ? nb_optim_adamw(buf + n, nd, opts)
	                 : nb_optim_adamw(buf + 2 * n, nr, &zero);
	if (o && nd && nr) {
		nb_group_opts go = nb_group_defaults();
		go.weight_decay = 0;
		if (nb_optim_add_group(o, buf + 2 * n, nr, &go)) {
			nb_optim_free(o);
			o = NULL;
		}
	}
	nb__free(buf);
	return o;
}

/* ---- for schedules and checkpoints (optim_internal.h) ---- */

double nb__optim_initial_lr(const nb_optim *o, size_t g)
{
	return o && g < o->n_groups ? o->groups[g].initial_lr : NAN;
}

void nb__optim_set_initial_lr(nb_optim *o, size_t g, double v)
{
	if (o && g < o->n_groups)
		o->groups[g].initial_lr = v;
}

nb_status nb__optim_put_lr(nb_optim *o, size_t g, double lr,
                           const char *who)
{
	if (!o)
		return nb__set_error(NB_EINVAL, "%s: optimizer is NULL", who);
	if (g >= o->n_groups)
		return nb__set_error(NB_EINVAL, "%s: no group %zu (%s has %zu)",
		                     who, g, kind_names[o->kind], o->n_groups);
	if (!(lr >= 0) || !isfinite(lr))
		return nb__set_error(NB_EINVAL, "%s: invalid learning rate %g "
		                     "for group %zu (must be a finite value >= "
		                     "0)", who, lr, g);
	*lr_of(&o->groups[g].u, o->kind) = lr;
	return NB_OK;
}

nb_status nb__optim_restore_group(nb_optim *o, size_t g,
                                  const nb_group_opts *go,
                                  double initial_lr, const char *path,
                                  bool apply)
{
	hyper h;
	bool use[MAX_BUFS], mine[MAX_BUFS];
	if (merge(o->kind, &o->groups[g].u, go, g, &h))
		return nb__set_error(NB_EINVAL, "%s: param_groups.%zu: %s", path,
		                     g, nb_last_error());
	buffers_used(o->kind, &h, use);
	buffers_used(o->kind, &o->groups[g].u, mine);
	if (memcmp(use, mine, sizeof use))
		return nb__set_error(NB_EINVAL, "%s: param_groups.%zu: momentum "
		                     "%g needs other optimizer state than this "
		                     "optimizer's (made with momentum %g)", path, g,
		                     go->momentum, o->kind == OPT_SGD
		                     ? o->groups[g].u.sgd.momentum
		                     : o->groups[g].u.rms.momentum);
	if (apply) {
		o->groups[g].u = h;
		o->groups[g].initial_lr = initial_lr;
	}
	return NB_OK;
}
