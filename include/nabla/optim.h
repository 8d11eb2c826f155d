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

/* The learning rate; set_lr takes lr >= 0 (NB_EINVAL otherwise). */
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
 * (the names of PyTorch's state_dict).  Every entry exists from
 * construction (zeros) and the count never changes, so a checkpoint
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

/* ---- learning-rate schedules (torch.optim.lr_scheduler) ---- */

/*
 * A schedule sets its optimizer's learning rate from the epoch count,
 * by the closed form of PyTorch's scheduler (base_lr is the optimizer's
 * lr when the schedule is made, epoch 0):
 *   step:        base_lr * gamma^floor(epoch / step_size)       (StepLR)
 *   exponential: base_lr * gamma^epoch                    (ExponentialLR)
 *   cosine:      eta_min + (base_lr - eta_min)(1 + cos(pi epoch/T_max))/2
 *                                                    (CosineAnnealingLR)
 * Call nb_sched_step once per epoch, after that epoch's optimizer steps,
 * as in PyTorch.  The schedule borrows the optimizer, which must outlive
 * it, and overwrites its lr at every step (nb_optim_set_lr in between
 * lasts until the next schedule step).  Constructors return NULL with
 * NB_EINVAL for step_size < 1, T_max < 1, gamma < 0, eta_min < 0, a
 * non-finite value or a NULL o, NB_ENOMEM.  A NULL s: step and set_epoch
 * are NB_EINVAL, epoch is -1, lr_at and base_lr NAN.
 */
typedef struct nb_sched nb_sched;

nb_sched *nb_sched_step_lr(nb_optim *o, int64_t step_size, double gamma);
nb_sched *nb_sched_exponential_lr(nb_optim *o, double gamma);
nb_sched *nb_sched_cosine_lr(nb_optim *o, int64_t T_max, double eta_min);
void nb_sched_free(nb_sched *s); /* NULL is a no-op */

/* epoch += 1 and sets the optimizer's lr for it. */
nb_status nb_sched_step(nb_sched *s);
/* The current epoch (0 when made), and the lr the schedule gives any
 * epoch >= 0 (NAN for a negative one). */
int64_t nb_sched_epoch(const nb_sched *s);
double nb_sched_lr_at(const nb_sched *s, int64_t epoch);
double nb_sched_base_lr(const nb_sched *s);
/* Jumps to an epoch (restoring a checkpoint) and sets the lr for it;
 * NB_EINVAL for epoch < 0. */
nb_status nb_sched_set_epoch(nb_sched *s, int64_t epoch);

#ifdef __cplusplus
}
#endif
#endif
