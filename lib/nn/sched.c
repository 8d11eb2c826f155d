/*
 * sched.c - learning-rate schedules: StepLR, ExponentialLR and
 * CosineAnnealingLR of torch.optim.lr_scheduler, by their closed forms
 * (PyTorch's recursive updates agree with them to rounding; the closed
 * form makes a restored epoch give the same lr as an uninterrupted run).
 */
#include <math.h>
#include "internal.h"

typedef enum sched_kind { SCHED_STEP, SCHED_EXP, SCHED_COSINE } sched_kind;

struct nb_sched {
	sched_kind kind;
	nb_optim *opt;     /* borrowed */
	double base_lr;
	int64_t epoch;
	int64_t period;    /* step_size or T_max */
	double gamma;      /* step, exponential */
	double eta_min;    /* cosine */
};

static nb_sched *sched_new(sched_kind kind, nb_optim *o, int64_t period,
                           double gamma, double eta_min, const char *nm)
{
	if (!o) {
		nb__set_error(NB_EINVAL, "%s: optimizer is NULL", nm);
		return NULL;
	}
	if (period < 1) {
		nb__set_error(NB_EINVAL, "%s: invalid %s %lld (must be >= 1)", nm,
		              kind == SCHED_STEP ? "step_size" : "T_max",
		              (long long)period);
		return NULL;
	}
	if (!(gamma >= 0) || !isfinite(gamma) || !(eta_min >= 0) ||
	    !isfinite(eta_min)) {
		nb__set_error(NB_EINVAL, "%s: invalid %s %g (must be a finite "
		              "value >= 0)", nm,
		              kind == SCHED_COSINE ? "eta_min" : "gamma",
		              kind == SCHED_COSINE ? eta_min : gamma);
		return NULL;
	}
	nb_sched *s = nb__calloc(1, sizeof *s);
	if (!s) {
		nb__set_error(NB_ENOMEM, "%s: out of memory", nm);
		return NULL;
	}
	s->kind = kind;
	s->opt = o;
	s->base_lr = nb_optim_get_lr(o);
	s->period = period;
	s->gamma = gamma;
	s->eta_min = eta_min;
	return s;
}

nb_sched *nb_sched_step_lr(nb_optim *o, int64_t step_size, double gamma)
{
	return sched_new(SCHED_STEP, o, step_size, gamma, 0, "step_lr");
}

nb_sched *nb_sched_exponential_lr(nb_optim *o, double gamma)
{
	return sched_new(SCHED_EXP, o, 1, gamma, 0, "exponential_lr");
}

nb_sched *nb_sched_cosine_lr(nb_optim *o, int64_t T_max, double eta_min)
{
	return sched_new(SCHED_COSINE, o, T_max, 1, eta_min, "cosine_lr");
}

void nb_sched_free(nb_sched *s)
{
	nb__free(s);
}

double nb_sched_lr_at(const nb_sched *s, int64_t epoch)
{
	if (!s || epoch < 0)
		return NAN;
	switch (s->kind) {
	case SCHED_STEP:
		return s->base_lr * pow(s->gamma, (double)(epoch / s->period));
	case SCHED_EXP:
		return s->base_lr * pow(s->gamma, (double)epoch);
	case SCHED_COSINE:
		/* Past T_max the cosine goes on (period 2 T_max), as
		 * PyTorch's recursive form does. */
		return s->eta_min + (s->base_lr - s->eta_min) *
		       (1 + cos(M_PI * (double)epoch / (double)s->period)) / 2;
	}
	return NAN;
}

nb_status nb_sched_set_epoch(nb_sched *s, int64_t epoch)
{
	if (!s)
		return nb__set_error(NB_EINVAL, "sched: schedule is NULL");
	if (epoch < 0)
		return nb__set_error(NB_EINVAL, "sched: invalid epoch %lld (must "
		                     "be >= 0)", (long long)epoch);
	nb_status st = nb_optim_set_lr(s->opt, nb_sched_lr_at(s, epoch));
	if (!st)
		s->epoch = epoch;
	return st;
}

nb_status nb_sched_step(nb_sched *s)
{
	if (!s)
		return nb__set_error(NB_EINVAL, "sched: schedule is NULL");
	return nb_sched_set_epoch(s, s->epoch + 1);
}

int64_t nb_sched_epoch(const nb_sched *s)
{
	return s ? s->epoch : -1;
}

double nb_sched_base_lr(const nb_sched *s)
{
	return s ? s->base_lr : NAN;
}
