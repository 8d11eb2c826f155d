/*
 * nabla/optim.h - optimizers (SGD, Adam, AdamW, RMSprop) and learning-
 * rate schedules, with PyTorch's update rules (torch.optim, single-
 * tensor form) and defaults.  Formulas and advice: doc/optimizers.md.
 *
 * An optimizer updates persistent parameter tensors from their gradients
 * (nb_tensor_grad).  A training step reads
 *
 *     nb_adam_opts ao = nb_adam_defaults();   // lr 1e-3, betas (0.9, 0.999)
 *     ao.lr = 3e-4;
 *     nb_optim *opt = nb_optim_adam(params, n, &ao);
 *     for (...) {
 *         nb_optim_zero_grad(opt, true);
 *         ... forward, nb_backward(loss, NULL) ...
 *         nb_optim_step(opt);
 *         nb_graph_reset(g);
 *     }
 *     nb_optim_free(opt);
 *
 * Options structs: start from the nb_*_defaults() function and change
 * fields (a zero-initialized struct is NOT the defaults: betas of 0 are
 * legal values).  NULL options mean the defaults.
 *
 * Ownership: the optimizer borrows the parameters (they must outlive
 * it) and copies the array; it owns its state tensors.  Constructors
 * return NULL on failure with the cause in nb_last_error(): NB_EINVAL
 * for a bad hyperparameter (the message names the optimizer and the
 * value), an empty, NULL or repeated parameter (or a NULL params
 * array), or a graph tensor as a
 * parameter (parameters must be persistent); NB_EDTYPE for an int64
 * parameter; NB_ENOMEM.
 */
#ifndef NABLA_OPTIM_H
#define NABLA_OPTIM_H

#include "tensor.h"
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_optim nb_optim;

/* torch.optim.SGD. */
typedef struct nb_sgd_opts {
	double lr;           /* 1e-3; >= 0 */
	double momentum;     /* 0; >= 0 */
	double dampening;    /* 0; finite */
	double weight_decay; /* 0; >= 0: adds weight_decay * w to the grad */
	bool nesterov;       /* false; needs momentum > 0, dampening 0 */
	bool maximize;       /* false: ascend instead of descend */
} nb_sgd_opts;

/* torch.optim.Adam and torch.optim.AdamW. */
typedef struct nb_adam_opts {
	double lr;           /* 1e-3; >= 0 */
	double beta1, beta2; /* 0.9, 0.999; each in [0, 1) */
	double eps;          /* 1e-8; >= 0 */
	double weight_decay; /* Adam 0 (L2: added to the gradient);
	                        AdamW 1e-2 (decoupled: w *= 1 - lr * wd) */
	bool amsgrad;        /* false: use the running max of v */
	bool maximize;       /* false */
} nb_adam_opts;

/* torch.optim.RMSprop. */
typedef struct nb_rmsprop_opts {
	double lr;           /* 1e-2; >= 0 */
	double alpha;        /* 0.99; in [0, 1] */
	double eps;          /* 1e-8; >= 0 */
	double weight_decay; /* 0; >= 0 (L2) */
	double momentum;     /* 0; >= 0 */
	bool centered;       /* false: divide by the variance, not the raw
	                        second moment */
	bool maximize;       /* false */
} nb_rmsprop_opts;

/* PyTorch's defaults for each optimizer. */
nb_sgd_opts nb_sgd_defaults(void);
nb_adam_opts nb_adam_defaults(void);
nb_adam_opts nb_adamw_defaults(void);  /* as Adam's, weight_decay 1e-2 */
nb_rmsprop_opts nb_rmsprop_defaults(void);

/*
 * New optimizers over params[0..n-1] (n >= 1, no repeats, persistent
 * float tensors).  opts is copied; NULL means the defaults.  Free with
 * nb_optim_free.
 */
nb_optim *nb_optim_sgd(nb_tensor *const *params, size_t n,
                       const nb_sgd_opts *opts);
nb_optim *nb_optim_adam(nb_tensor *const *params, size_t n,
                        const nb_adam_opts *opts);
nb_optim *nb_optim_adamw(nb_tensor *const *params, size_t n,
                         const nb_adam_opts *opts);
nb_optim *nb_optim_rmsprop(nb_tensor *const *params, size_t n,
                           const nb_rmsprop_opts *opts);

/* Frees the optimizer and its state; the parameters are left alone.
 * NULL is a no-op. */
void nb_optim_free(nb_optim *o);

/* Accessors of a NULL o, without an error: name "?", counts 0, param,
 * state_at and state_find NULL (also for a NULL name), get_lr NAN;
 * zero_grad does nothing; step and set_lr are NB_EINVAL. */
/* "sgd", "adam", "adamw" or "rmsprop". */
const char *nb_optim_name(const nb_optim *o);
size_t nb_optim_param_count(const nb_optim *o);
/* Parameter i (borrowed), or NULL out of range. */
nb_tensor *nb_optim_param(const nb_optim *o, size_t i);

/*
 * One update of every parameter that has a gradient; parameters whose
 * gradient is NULL (never reached by backward, or cleared by
 * nb_optim_zero_grad(o, true)) are skipped entirely, as PyTorch skips
 * grad None: no weight decay, and their state and step count stay put.
 * NB_EINVAL for a NULL o.
 */
nb_status nb_optim_step(nb_optim *o);

/*
 * Clears the gradients of every parameter.  set_to_none true frees them
 * (nb_tensor_grad becomes NULL, PyTorch's default since 2.0, and a
 * parameter that backward then does not reach is skipped by the next
 * step); false zeroes them in place (the parameter is still updated:
 * weight decay and momentum act on it).  With set_to_none, any pointer
 * previously returned by nb_tensor_grad for these parameters dangles.
 */
void nb_optim_zero_grad(nb_optim *o, bool set_to_none);

/* The learning rate of group 0; set_lr sets every group's (lr >= 0,
 * NB_EINVAL otherwise, and then nothing changes). */
double nb_optim_get_lr(const nb_optim *o);
nb_status nb_optim_set_lr(nb_optim *o, double lr);

/* How many times nb_optim_step has run (the "step" state tensor). */
int64_t nb_optim_step_count(const nb_optim *o);

/*
 * The optimizer's state as named persistent tensors, for checkpoints:
 * entry 0 is "step" (a 0-d float64 tensor counting nb_optim_step calls);
 * then for each parameter i, in order, "i.step" (0-d float64: the
 * updates parameter i has received, which Adam's bias correction uses)
 * and its buffers, with the parameter's dtype and shape:
 *   sgd:     "i.momentum_buffer" (when momentum != 0)
 *   adam(w): "i.exp_avg", "i.exp_avg_sq", "i.max_exp_avg_sq" (amsgrad)
 *   rmsprop: "i.square_avg", "i.momentum_buffer" (momentum > 0),
 *            "i.grad_avg" (centered)
 * (the names of PyTorch's state_dict; i counts the parameters of every
 * group in order, as PyTorch's state_dict does).  Every entry exists
 * from construction (zeros) and the count only grows, when
 * nb_optim_add_group appends its parameters' entries, so a checkpoint
 * reader can restore them with nb_tensor_copy into the borrowed
 * tensors.  While "i.step" is 0, SGD's momentum buffer is unused: the
 * first update sets it to the gradient, as PyTorch's starts as a copy
 * of it; the other buffers start from their zeros, as PyTorch's do.
 * state_at returns the borrowed tensor (valid until nb_optim_free) and
 * sets *name (borrowed too; name may be NULL); NULL when i is out of
 * range.  state_find looks a name up; NULL if absent.
 */
size_t nb_optim_state_count(const nb_optim *o);
nb_tensor *nb_optim_state_at(const nb_optim *o, size_t i, const char **name);
nb_tensor *nb_optim_state_find(const nb_optim *o, const char *name);

/* ---- parameter groups (torch.optim's param_groups) ---- */

/*
 * Every optimizer has one or more parameter groups, each with its own
 * learning rate, weight decay and momentum (SGD, RMSprop) or betas
 * (Adam, AdamW); the other options (eps, nesterov, amsgrad, ...) are the
 * optimizer's.  The constructor makes group 0 of its parameters and
 * options; nb_optim_add_group appends more, as PyTorch's
 * add_param_group.
 *
 * nb_group_opts: a field left NAN takes the optimizer's value (the
 * constructor's options), as a PyTorch group inherits the defaults.
 * Start from nb_group_defaults() (every field NAN).  momentum belongs
 * to SGD and RMSprop, beta1 and beta2 to Adam and AdamW: a non-NAN
 * value for an optimizer without it is NB_EINVAL.
 */
typedef struct nb_group_opts {
	double lr;
	double weight_decay;
	double momentum;      /* SGD, RMSprop */
	double beta1, beta2;  /* Adam, AdamW */
} nb_group_opts;

nb_group_opts nb_group_defaults(void);

/*
 * Appends a group of params[0..n-1] (n >= 1, persistent float tensors,
 * none repeated and none already in another group) with opts (NULL:
 * the optimizer's options).  The parameters take the next indices
 * (nb_optim_param) and their state entries are appended.  NB_EINVAL for
 * a NULL o or params, n 0, a NULL, repeated or graph parameter (the
 * message names the group and the parameters' indices), an option the
 * optimizer lacks or a bad value (named, as the constructors do);
 * NB_EDTYPE for an int64 parameter; NB_ENOMEM.  On any error the
 * optimizer is unchanged.  The params array is copied, the tensors
 * borrowed.
 */
nb_status nb_optim_add_group(nb_optim *o, nb_tensor *const *params,
                             size_t n, const nb_group_opts *opts);
/* The number of groups (0 for a NULL o). */
size_t nb_optim_group_count(const nb_optim *o);
/*
 * Group g: its options, every field resolved (NAN for momentum or betas
 * the optimizer lacks), the index of its first parameter and its size
 * (each pointer may be NULL).  NB_EINVAL for a NULL o or g out of range.
 */
nb_status nb_optim_group(const nb_optim *o, size_t g, nb_group_opts *opts,
                         size_t *first, size_t *count);
/* Group g's learning rate (NAN for a NULL o or g out of range), and
 * setting it (lr >= 0; NB_EINVAL otherwise). */
double nb_optim_group_lr(const nb_optim *o, size_t g);
nb_status nb_optim_set_group_lr(nb_optim *o, size_t g, double lr);

/*
 * The usual AdamW recipe: AdamW over the trainable parameters of m,
 * group 0 those that decay, with opts (NULL: nb_adamw_defaults()),
 * group 1 the others, with weight_decay 0.  Which parameters decay is
 * nb_param_decays (<nabla/model.h>): weights of linear and convolution
 * layers do; biases and normalization weights do not; a parameter
 * added without a kind decays when it has 2 or more dimensions.  An
 * empty set makes no group: a model without biases or normalizations
 * gets group 0 only, and one with nothing but them gets one group with
 * weight_decay 0.  NB_EINVAL for a NULL m or a model with no trainable
 * parameter, as nb_optim_adamw otherwise.
 */
nb_optim *nb_optim_adamw_no_decay(nb_module *m, const nb_adam_opts *opts);

/* ---- learning-rate schedules (torch.optim.lr_scheduler) ---- */

/*
 * A schedule sets the learning rate of every group of its optimizer as
 * a function of its step count, as the matching PyTorch scheduler
 * does.  The unit is the schedule step: call nb_sched_step once per
 * batch or once per epoch, as you choose, after that period's
 * optimizer steps, and give every length (step_size, T_max,
 * total_iters, total_steps, milestones, patience) in those steps.
 *
 * Each group g has its own base lr, PyTorch's initial_lr: the group's
 * lr before any schedule changed it (a second schedule made on the
 * same optimizer, as for nb_sched_sequential, takes the same base as
 * the first; nb_optim_set_lr and nb_optim_set_group_lr forget it, so a
 * schedule made after them starts from the lr they set).  Groups added
 * after the schedule is made keep their lr.  Closed forms, at step t:
 *   step:        base * gamma^floor(t / step_size)               StepLR
 *   exponential: base * gamma^t                             ExponentialLR
 *   cosine:      eta_min + (base - eta_min)(1 + cos(pi t / T_max)) / 2
 *                                                       CosineAnnealingLR
 *   linear:      base * (start + (end - start) min(t, total) / total)
 *                                                                LinearLR
 *   lambda:      base * fn(t, g, user)                          LambdaLR
 *   one-cycle, sequential, reduce-on-plateau: below.
 * A constructor sets the lr of step 0 at once (as PyTorch's does) and
 * returns NULL with NB_EINVAL for a NULL o, a bad value (named in the
 * message), or NB_ENOMEM.  The schedule borrows the optimizer, which
 * must outlive it, and overwrites the lr at every step
 * (nb_optim_set_lr in between lasts until the next schedule step).
 * A NULL s: step, step_metric and set_epoch are NB_EINVAL, epoch is -1,
 * lr_at and base_lr NAN.
 */
typedef struct nb_sched nb_sched;

nb_sched *nb_sched_step_lr(nb_optim *o, int64_t step_size, double gamma);
nb_sched *nb_sched_exponential_lr(nb_optim *o, double gamma);
nb_sched *nb_sched_cosine_lr(nb_optim *o, int64_t T_max, double eta_min);
/* Linear warm-up (or decay) of the factor from start_factor (in (0, 1])
 * to end_factor (in [0, 1]) over total_iters (>= 1) steps, then
 * constant. */
nb_sched *nb_sched_linear_lr(nb_optim *o, double start_factor,
                             double end_factor, int64_t total_iters);
/* base * fn(step, group, user).  fn must return a finite value >= 0
 * (else that step fails with NB_EINVAL naming the step); user is
 * borrowed. */
typedef double (*nb_lr_lambda)(int64_t step, size_t group, void *user);
nb_sched *nb_sched_lambda_lr(nb_optim *o, nb_lr_lambda fn, void *user);

/*
 * OneCycleLR (three_phase false): the lr rises from max_lr / div_factor
 * to max_lr over the first pct_start of total_steps steps, then falls
 * to max_lr / div_factor / final_div_factor at step total_steps - 1,
 * by a half cosine or a straight line.  Steps past total_steps are
 * NB_EINVAL, as PyTorch's ValueError.  The momentum (beta1) cycling of
 * PyTorch's cycle_momentum is not done: the momentum stays as set.
 * max_lrs (NULL: max_lr for every group) gives one value per group
 * (copied), as PyTorch's list.  Start from nb_onecycle_defaults.
 */
typedef enum nb_anneal { NB_ANNEAL_COS = 0, NB_ANNEAL_LINEAR } nb_anneal;
typedef struct nb_onecycle_opts {
	double max_lr;           /* required: > 0 */
	const double *max_lrs;   /* NULL, or one per group */
	int64_t total_steps;     /* required: >= 1 */
	double pct_start;        /* 0.3; in [0, 1] */
	nb_anneal anneal;        /* NB_ANNEAL_COS */
	double div_factor;       /* 25; > 0 */
	double final_div_factor; /* 1e4; > 0 */
} nb_onecycle_opts;
nb_onecycle_opts nb_onecycle_defaults(double max_lr, int64_t total_steps);
nb_sched *nb_sched_onecycle_lr(nb_optim *o, const nb_onecycle_opts *opts);

/*
 * ReduceLROnPlateau: stepped with a metric (nb_sched_step_metric; a
 * plain nb_sched_step is NB_EINVAL).  A metric better than the best so
 * far by more than threshold (relative: best * (1 -+ threshold);
 * absolute: best -+ threshold) resets the count of bad steps; when the
 * count exceeds patience, every group's lr becomes max(lr * factor,
 * min_lr) unless that changes it by eps or less, and the next cooldown
 * steps count no bad steps.  It reads and lowers the groups' current
 * lr (no base lr); it has no closed form: set_epoch is NB_EINVAL and
 * lr_at NAN, and its counters are not in checkpoints.
 */
typedef enum nb_plateau_mode { NB_PLATEAU_MIN = 0, NB_PLATEAU_MAX }
	nb_plateau_mode;
typedef struct nb_plateau_opts {
	nb_plateau_mode mode;  /* NB_PLATEAU_MIN: lower is better */
	double factor;         /* 0.1; in [0, 1) */
	int64_t patience;      /* 10; >= 0 */
	double threshold;      /* 1e-4; finite, >= 0 */
	bool threshold_abs;    /* false: relative (PyTorch's "rel") */
	int64_t cooldown;      /* 0; >= 0 */
	double min_lr;         /* 0; >= 0 */
	double eps;            /* 1e-8; >= 0 */
} nb_plateau_opts;
nb_plateau_opts nb_plateau_defaults(void);
nb_sched *nb_sched_plateau(nb_optim *o, const nb_plateau_opts *opts);
/* One step of a plateau schedule with this step's metric (NaN is never
 * better, as in PyTorch).  NB_EINVAL for another kind of schedule. */
nb_status nb_sched_step_metric(nb_sched *s, double metric);

/*
 * SequentialLR: scheds[0] until step milestones[0], then scheds[1]
 * restarted at its step 0, and so on (n schedules, n - 1 milestones,
 * each >= 1 and larger than the one before).  Steals the n schedules
 * (they must be on o, distinct, and neither plateau nor sequential
 * ones), also on failure: free only the result.  Warm-up then cosine:
 *   nb_sched *w = nb_sched_linear_lr(o, 0.01, 1, warm);
 *   nb_sched *c = nb_sched_cosine_lr(o, total - warm, 0);
 *   nb_sched *s = nb_sched_sequential(o, (nb_sched *[]){w, c}, 2,
 *                                     (int64_t[]){warm});
 */
nb_sched *nb_sched_sequential(nb_optim *o, nb_sched *const *scheds,
                              size_t n, const int64_t *milestones);

void nb_sched_free(nb_sched *s); /* NULL is a no-op */

/* step += 1 and sets every group's lr for it. */
nb_status nb_sched_step(nb_sched *s);
/* The current step (0 when made), and the lr the schedule gives group
 * 0 at any step >= 0 (NAN for a negative one, or one past a one-cycle's
 * total_steps). */
int64_t nb_sched_epoch(const nb_sched *s);
double nb_sched_lr_at(const nb_sched *s, int64_t epoch);
/* Group 0's base lr (a plateau schedule: group 0's lr when made). */
double nb_sched_base_lr(const nb_sched *s);
/* Jumps to a step (restoring a checkpoint) and sets the lr for it;
 * NB_EINVAL for a step < 0 (or past a one-cycle's total_steps), and for
 * a plateau schedule. */
nb_status nb_sched_set_epoch(nb_sched *s, int64_t epoch);

#ifdef __cplusplus
}
#endif
#endif
