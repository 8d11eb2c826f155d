/*
 * sched.c - learning-rate schedules of torch.optim.lr_scheduler
 * (PyTorch 1.13): StepLR, ExponentialLR, CosineAnnealingLR, LinearLR,
 * LambdaLR, OneCycleLR, SequentialLR by their closed forms (PyTorch's
 * recursive updates agree with them to rounding; the closed form makes
 * a restored step give the same lr as an uninterrupted run), and
 * ReduceLROnPlateau, which has none.  Every schedule sets the lr of
 * each group of its optimizer from that group's base (initial_lr).
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"
#include "optim_internal.h"

typedef enum sched_kind {
	SCHED_STEP, SCHED_EXP, SCHED_COSINE, SCHED_LINEAR, SCHED_LAMBDA,
	SCHED_ONECYCLE, SCHED_PLATEAU, SCHED_SEQUENTIAL
} sched_kind;

static const char *const sched_names[] = {
	"step_lr", "exponential_lr", "cosine_lr", "linear_lr", "lambda_lr",
	"onecycle_lr", "plateau", "sequential"
};

struct nb_sched {
	sched_kind kind;
	nb_optim *opt;     /* borrowed */
	size_t n_groups;   /* the groups it sets: those when it was made */
	double *base;      /* per group: initial_lr (one-cycle: max / div) */
	int64_t epoch;
	int64_t period;    /* step_size, T_max, total_iters, total_steps */
	double gamma;      /* step, exponential */
	double eta_min;    /* cosine */
	double start, end; /* linear factors */
	nb_lr_lambda fn;   /* lambda */
	void *user;
	double *max_lr;    /* one-cycle, per group */
	nb_onecycle_opts oc;
	nb_plateau_opts pl;
	double best;       /* plateau */
	int64_t bad, cooldown_left;
	nb_sched **subs;   /* sequential: owned */
	int64_t *milestones;
	size_t n_subs;
};

void nb_sched_free(nb_sched *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->subs && i < s->n_subs; i++)
		nb_sched_free(s->subs[i]);
	nb__free(s->subs);
	nb__free(s->milestones);
	nb__free(s->max_lr);
	nb__free(s->base);
	nb__free(s);
}

/* A schedule of kind on o with its base lrs (PyTorch's setdefault of
 * initial_lr), not yet applied. */
static nb_sched *sched_alloc(sched_kind kind, nb_optim *o)
{
	const char *nm = sched_names[kind];
	if (!o) {
		nb__set_error(NB_EINVAL, "%s: optimizer is NULL", nm);
		return NULL;
	}
	size_t n = nb_optim_group_count(o);
	nb_sched *s = nb__calloc(1, sizeof *s);
	if (!s || !(s->base = nb__calloc(n, sizeof *s->base))) {
		nb__free(s);
		nb__set_error(NB_ENOMEM, "%s: out of memory", nm);
		return NULL;
	}
	s->kind = kind;
	s->opt = o;
	s->n_groups = n;
	for (size_t g = 0; g < n; g++) {
		double b = nb__optim_initial_lr(o, g);
		s->base[g] = isnan(b) ? nb_optim_group_lr(o, g) : b;
	}
	return s;
}

/* Records the bases as the groups' initial_lr and sets step 0. */
static nb_sched *sched_start(nb_sched *s)
{
	for (size_t g = 0; g < s->n_groups; g++)
		nb__optim_set_initial_lr(s->opt, g, s->base[g]);
	if (nb_sched_set_epoch(s, 0)) {
		nb_sched_free(s);
		return NULL;
	}
	return s;
}

static nb_sched *bad(const char *nm, const char *what, double v,
                     const char *must)
{
	nb__set_error(NB_EINVAL, "%s: invalid %s %g (must be %s)", nm, what, v,
	              must);
	return NULL;
}

static bool finite_nonneg(double v)
{
	return v >= 0 && isfinite(v);
}

nb_sched *nb_sched_step_lr(nb_optim *o, int64_t step_size, double gamma)
{
	const char *nm = sched_names[SCHED_STEP];
	if (o && step_size < 1)
		return bad(nm, "step_size", (double)step_size, ">= 1");
	if (o && !finite_nonneg(gamma))
		return bad(nm, "gamma", gamma, "a finite value >= 0");
	nb_sched *s = sched_alloc(SCHED_STEP, o);
	if (!s)
		return NULL;
	s->period = step_size;
	s->gamma = gamma;
	return sched_start(s);
}

nb_sched *nb_sched_exponential_lr(nb_optim *o, double gamma)
{
	if (o && !finite_nonneg(gamma))
		return bad(sched_names[SCHED_EXP], "gamma", gamma,
		           "a finite value >= 0");
	nb_sched *s = sched_alloc(SCHED_EXP, o);
	if (!s)
		return NULL;
	s->gamma = gamma;
	return sched_start(s);
}

nb_sched *nb_sched_cosine_lr(nb_optim *o, int64_t T_max, double eta_min)
{
	const char *nm = sched_names[SCHED_COSINE];
	if (o && T_max < 1)
		return bad(nm, "T_max", (double)T_max, ">= 1");
	if (o && !finite_nonneg(eta_min))
		return bad(nm, "eta_min", eta_min, "a finite value >= 0");
	nb_sched *s = sched_alloc(SCHED_COSINE, o);
	if (!s)
		return NULL;
	s->period = T_max;
	s->eta_min = eta_min;
	return sched_start(s);
}

nb_sched *nb_sched_linear_lr(nb_optim *o, double start_factor,
                             double end_factor, int64_t total_iters)
{
	const char *nm = sched_names[SCHED_LINEAR];
	/* PyTorch 1.13 accepts start_factor 0 and then divides by zero at
	 * step 1. */
	if (o && !(start_factor > 0 && start_factor <= 1))
		return bad(nm, "start_factor", start_factor, "in (0, 1]");
	if (o && !(end_factor >= 0 && end_factor <= 1))
		return bad(nm, "end_factor", end_factor, "in [0, 1]");
	if (o && total_iters < 1)
		return bad(nm, "total_iters", (double)total_iters, ">= 1");
	nb_sched *s = sched_alloc(SCHED_LINEAR, o);
	if (!s)
		return NULL;
	s->start = start_factor;
	s->end = end_factor;
	s->period = total_iters;
	return sched_start(s);
}

nb_sched *nb_sched_lambda_lr(nb_optim *o, nb_lr_lambda fn, void *user)
{
	if (o && !fn) {
		nb__set_error(NB_EINVAL, "lambda_lr: the function is NULL");
		return NULL;
	}
	nb_sched *s = sched_alloc(SCHED_LAMBDA, o);
	if (!s)
		return NULL;
	s->fn = fn;
	s->user = user;
	return sched_start(s);
}

/* ---- one-cycle ---- */

nb_onecycle_opts nb_onecycle_defaults(double max_lr, int64_t total_steps)
{
	nb_onecycle_opts c = {.max_lr = max_lr, .total_steps = total_steps,
	                      .pct_start = 0.3, .anneal = NB_ANNEAL_COS,
	                      .div_factor = 25, .final_div_factor = 1e4};
	return c;
}

/* The phase ends of PyTorch's _schedule_phases (three_phase false). */
static double phase1_end(const nb_onecycle_opts *c)
{
	return c->pct_start * (double)c->total_steps - 1;
}

static nb_sched *check_onecycle(const nb_onecycle_opts *c, size_t groups)
{
	const char *nm = sched_names[SCHED_ONECYCLE];
	if (c->total_steps < 1)
		return bad(nm, "total_steps", (double)c->total_steps, ">= 1");
	if (!(c->pct_start >= 0 && c->pct_start <= 1))
		return bad(nm, "pct_start", c->pct_start, "in [0, 1]");
	if (!(c->div_factor > 0) || !isfinite(c->div_factor))
		return bad(nm, "div_factor", c->div_factor, "finite and > 0");
	if (!(c->final_div_factor > 0) || !isfinite(c->final_div_factor))
		return bad(nm, "final_div_factor", c->final_div_factor,
		           "finite and > 0");
	if ((unsigned)c->anneal > NB_ANNEAL_LINEAR)
		return bad(nm, "anneal", (double)c->anneal, "NB_ANNEAL_COS or "
		           "NB_ANNEAL_LINEAR");
	for (size_t g = 0; g < (c->max_lrs ? groups : 1); g++) {
		double m = c->max_lrs ? c->max_lrs[g] : c->max_lr;
		if (!(m > 0) || !isfinite(m))
			return bad(nm, "max_lr", m, "finite and > 0");
	}
	/* Where PyTorch divides by zero: a first phase ending at step 0, or
	 * a second phase of no length. */
	double e1 = phase1_end(c), e2 = (double)c->total_steps - 1;
	if (e1 == 0 || e2 == e1) {
		nb__set_error(NB_EINVAL, "%s: pct_start %g with total_steps %lld "
		              "gives a phase of no length (PyTorch divides by "
		              "zero)", nm, c->pct_start, (long long)c->total_steps);
		return NULL;
	}
	return (nb_sched *)1;
}

nb_sched *nb_sched_onecycle_lr(nb_optim *o, const nb_onecycle_opts *opts)
{
	if (o && !opts) {
		nb__set_error(NB_EINVAL, "onecycle_lr: options are NULL (start "
		              "from nb_onecycle_defaults)");
		return NULL;
	}
	if (o && !check_onecycle(opts, nb_optim_group_count(o)))
		return NULL;
	nb_sched *s = sched_alloc(SCHED_ONECYCLE, o);
	if (!s)
		return NULL;
	s->oc = *opts;
	s->oc.max_lrs = NULL;
	s->period = opts->total_steps;
	if (!(s->max_lr = nb__calloc(s->n_groups, sizeof *s->max_lr))) {
		nb_sched_free(s);
		nb__set_error(NB_ENOMEM, "onecycle_lr: out of memory");
		return NULL;
	}
	for (size_t g = 0; g < s->n_groups; g++) {
		s->max_lr[g] = opts->max_lrs ? opts->max_lrs[g] : opts->max_lr;
		s->base[g] = s->max_lr[g] / opts->div_factor;
	}
	return sched_start(s);
}

static double anneal(const nb_sched *s, double start, double end,
                     double pct)
{
	if (s->oc.anneal == NB_ANNEAL_LINEAR)
		return (end - start) * pct + start;
	return end + (start - end) / 2.0 * (cos(M_PI * pct) + 1);
}

/* OneCycleLR.get_lr, operation by operation. */
static double onecycle_at(const nb_sched *s, size_t g, int64_t t)
{
	double init = s->base[g], max = s->max_lr[g];
	double min = init / s->oc.final_div_factor;
	double e1 = phase1_end(&s->oc), e2 = (double)s->oc.total_steps - 1;
	double step = (double)t;
	if (step <= e1)
		return anneal(s, init, max, (step - 0) / (e1 - 0));
	return anneal(s, max, min, (step - e1) / (e2 - e1));
}

/* ---- reduce on plateau ---- */

nb_plateau_opts nb_plateau_defaults(void)
{
	nb_plateau_opts p = {.mode = NB_PLATEAU_MIN, .factor = 0.1,
	                     .patience = 10, .threshold = 1e-4, .eps = 1e-8};
	return p;
}

nb_sched *nb_sched_plateau(nb_optim *o, const nb_plateau_opts *opts)
{
	const char *nm = sched_names[SCHED_PLATEAU];
	nb_plateau_opts d = nb_plateau_defaults();
	if (!opts)
		opts = &d;
	if (o && (unsigned)opts->mode > NB_PLATEAU_MAX)
		return bad(nm, "mode", (double)opts->mode, "NB_PLATEAU_MIN or "
		           "NB_PLATEAU_MAX");
	if (o && !(opts->factor >= 0 && opts->factor < 1))
		return bad(nm, "factor", opts->factor, "in [0, 1)");
	if (o && opts->patience < 0)
		return bad(nm, "patience", (double)opts->patience, ">= 0");
	if (o && opts->cooldown < 0)
		return bad(nm, "cooldown", (double)opts->cooldown, ">= 0");
	if (o && !finite_nonneg(opts->threshold))
		return bad(nm, "threshold", opts->threshold,
		           "a finite value >= 0");
	if (o && !finite_nonneg(opts->min_lr))
		return bad(nm, "min_lr", opts->min_lr, "a finite value >= 0");
	if (o && !finite_nonneg(opts->eps))
		return bad(nm, "eps", opts->eps, "a finite value >= 0");
	nb_sched *s = sched_alloc(SCHED_PLATEAU, o);
	if (!s)
		return NULL;
	s->pl = *opts;
	for (size_t g = 0; g < s->n_groups; g++)
		s->base[g] = nb_optim_group_lr(o, g);
	s->best = opts->mode == NB_PLATEAU_MIN ? INFINITY : -INFINITY;
	return s;
}

/* ReduceLROnPlateau.is_better. */
static bool is_better(const nb_plateau_opts *p, double a, double best)
{
	bool min = p->mode == NB_PLATEAU_MIN;
	if (!p->threshold_abs)
		return min ? a < best * (1. - p->threshold)
		           : a > best * (p->threshold + 1.);
	return min ? a < best - p->threshold : a > best + p->threshold;
}

nb_status nb_sched_step_metric(nb_sched *s, double metric)
{
	if (!s)
		return nb__set_error(NB_EINVAL, "sched: schedule is NULL");
	if (s->kind != SCHED_PLATEAU)
		return nb__set_error(NB_EINVAL, "%s: nb_sched_step_metric is for "
		                     "plateau schedules; use nb_sched_step",
		                     sched_names[s->kind]);
	s->epoch++;
	if (is_better(&s->pl, metric, s->best)) {
		s->best = metric;
		s->bad = 0;
	} else {
		s->bad++;
	}
	if (s->cooldown_left > 0) {
		s->cooldown_left--;
		s->bad = 0; /* bad steps in cooldown do not count */
	}
	if (s->bad > s->pl.patience) {
		for (size_t g = 0; g < s->n_groups; g++) {
			double old = nb_optim_group_lr(s->opt, g);
			double lr = fmax(old * s->pl.factor, s->pl.min_lr);
			if (old - lr > s->pl.eps)
				nb__optim_put_lr(s->opt, g, lr, "plateau");
		}
		s->cooldown_left = s->pl.cooldown;
		s->bad = 0;
	}
	return NB_OK;
}

/* ---- sequential ---- */

/* Frees the stolen schedules, each once (the list may repeat one). */
static nb_sched *seq_fail(nb_sched *const *scheds, size_t n)
{
	for (size_t i = 0; scheds && i < n; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = scheds[j] == scheds[i];
		if (!seen)
			nb_sched_free(scheds[i]);
	}
	return NULL;
}

static bool check_sequential(nb_optim *o, nb_sched *const *scheds,
                             size_t n, const int64_t *ms)
{
	const char *nm = sched_names[SCHED_SEQUENTIAL];
	if (!o || !scheds || !n || (n > 1 && !ms)) {
		nb__set_error(NB_EINVAL, "%s: %s", nm, !o ? "optimizer is NULL"
		              : !scheds || !n ? "no schedules"
		              : "milestones are NULL");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const nb_sched *c = scheds[i];
		const char *why = !c ? "is NULL"
		    : c->opt != o ? "is on another optimizer"
		    : c->kind == SCHED_PLATEAU || c->kind == SCHED_SEQUENTIAL
		    ? "is a plateau or sequential schedule, which cannot be "
		      "chained" : NULL;
		for (size_t j = 0; !why && j < i; j++)
			if (scheds[j] == c)
				why = "repeats an earlier one";
		if (why) {
			nb__set_error(NB_EINVAL, "%s: schedule %zu %s", nm, i, why);
			return false;
		}
		if (i && ms[i - 1] < (i > 1 ? ms[i - 2] + 1 : 1)) {
			nb__set_error(NB_EINVAL, "%s: milestone %zu is %lld (must be "
			              ">= 1 and larger than the one before)", nm,
			              i - 1, (long long)ms[i - 1]);
			return false;
		}
	}
	return true;
}

nb_sched *nb_sched_sequential(nb_optim *o, nb_sched *const *scheds,
                              size_t n, const int64_t *milestones)
{
	if (!check_sequential(o, scheds, n, milestones))
		return seq_fail(scheds, n);
	nb_sched *s = sched_alloc(SCHED_SEQUENTIAL, o);
	if (s && (!(s->subs = nb__calloc(n, sizeof *s->subs)) ||
	          !(s->milestones = nb__calloc(n, sizeof *s->milestones)))) {
		nb_sched_free(s);
		nb__set_error(NB_ENOMEM, "sequential: out of memory");
		s = NULL;
	}
	if (!s)
		return seq_fail(scheds, n);
	memcpy(s->subs, scheds, n * sizeof *scheds);
	if (n > 1)
		memcpy(s->milestones, milestones, (n - 1) * sizeof *milestones);
	s->n_subs = n;
	/* PyTorch resets every group's lr to initial_lr, then restarts the
	 * first schedule; set_epoch(0) does both at once. */
	memcpy(s->base, scheds[0]->base, s->n_groups * sizeof *s->base);
	if (nb_sched_set_epoch(s, 0)) {
		nb_sched_free(s);
		return NULL;
	}
	return s;
}

/* The schedule in charge at step t and t's step within it (PyTorch's
 * bisect_right over the milestones). */
static const nb_sched *seq_at(const nb_sched *s, int64_t t, int64_t *local)
{
	size_t k = 0;
	while (k + 1 < s->n_subs && s->milestones[k] <= t)
		k++;
	*local = k ? t - s->milestones[k - 1] : t;
	return s->subs[k];
}

/* ---- the lr at a step ---- */

static double group_lr_at(const nb_sched *s, size_t g, int64_t t)
{
	double base = s->base[g];
	switch (s->kind) {
	case SCHED_STEP:
		return base * pow(s->gamma, (double)(t / s->period));
	case SCHED_EXP:
		return base * pow(s->gamma, (double)t);
	case SCHED_COSINE:
		/* Past T_max the cosine goes on (period 2 T_max), as
		 * PyTorch's recursive form does. */
		return s->eta_min + (base - s->eta_min) *
		       (1 + cos(M_PI * (double)t / (double)s->period)) / 2;
	case SCHED_LINEAR:
		return base * (s->start + (s->end - s->start) *
		       (double)(t < s->period ? t : s->period) /
		       (double)s->period);
	case SCHED_LAMBDA:
		return base * s->fn(t, g, s->user);
	case SCHED_ONECYCLE:
		/* At step total_steps (after the last batch) PyTorch's linear
		 * anneal runs past its end, to a negative lr when the final
		 * lr is small; an lr is never negative here: 0. */
		return t > s->period ? NAN : fmax(0, onecycle_at(s, g, t));
	case SCHED_SEQUENTIAL: {
		int64_t local;
		const nb_sched *c = seq_at(s, t, &local);
		return g < c->n_groups ? group_lr_at(c, g, local) : NAN;
	}
	case SCHED_PLATEAU:
		break;
	}
	return NAN;
}

double nb_sched_lr_at(const nb_sched *s, int64_t epoch)
{
	if (!s || epoch < 0 || !s->n_groups)
		return NAN;
	return group_lr_at(s, 0, epoch);
}

nb_status nb_sched_set_epoch(nb_sched *s, int64_t epoch)
{
	if (!s)
		return nb__set_error(NB_EINVAL, "sched: schedule is NULL");
	const char *nm = sched_names[s->kind];
	if (s->kind == SCHED_PLATEAU)
		return nb__set_error(NB_EINVAL, "plateau: no closed form: it "
		                     "cannot jump to a step");
	if (epoch < 0)
		return nb__set_error(NB_EINVAL, "%s: invalid step %lld (must "
		                     "be >= 0)", nm, (long long)epoch);
	if (s->kind == SCHED_ONECYCLE && epoch > s->period)
		return nb__set_error(NB_EINVAL, "onecycle_lr: tried to step %lld "
		                     "times; total_steps is %lld",
		                     (long long)epoch + 1, (long long)s->period);
	/* Compute every group's lr before setting any: all or nothing. */
	double stack[8], *lr = stack;
	if (s->n_groups > 8 && !(lr = nb__calloc(s->n_groups, sizeof *lr)))
		return nb__set_error(NB_ENOMEM, "%s: out of memory", nm);
	nb_status st = NB_OK;
	for (size_t g = 0; g < s->n_groups && !st; g++) {
		lr[g] = group_lr_at(s, g, epoch);
		if (!(lr[g] >= 0) || !isfinite(lr[g]))
			st = nb__set_error(NB_EINVAL, "%s: step %lld gives group %zu "
			                   "the learning rate %g (must be a finite "
			                   "value >= 0)", nm, (long long)epoch, g,
			                   lr[g]);
	}
	for (size_t g = 0; g < s->n_groups && !st; g++)
		st = nb__optim_put_lr(s->opt, g, lr[g], nm);
	if (lr != stack)
		nb__free(lr);
	if (!st)
		s->epoch = epoch;
	if (!st && s->kind == SCHED_SEQUENTIAL) {
		int64_t local;
		nb_sched *c = (nb_sched *)seq_at(s, epoch, &local);
		c->epoch = local;
	}
	return st;
}

nb_status nb_sched_step(nb_sched *s)
{
	if (!s)
		return nb__set_error(NB_EINVAL, "sched: schedule is NULL");
	if (s->kind == SCHED_PLATEAU)
		return nb__set_error(NB_EINVAL, "plateau: steps with a metric "
		                     "(nb_sched_step_metric)");
	return nb_sched_set_epoch(s, s->epoch + 1);
}

int64_t nb_sched_epoch(const nb_sched *s)
{
	return s ? s->epoch : -1;
}

double nb_sched_base_lr(const nb_sched *s)
{
	return s && s->n_groups ? s->base[0] : NAN;
}
