/*
 * optim_internal.h - what the schedules (sched.c) and the checkpoints
 * (io/safetensors.c) need of an optimizer's groups beyond the public
 * API.  Private: not under include/.
 */
#ifndef NB_OPTIM_INTERNAL_H
#define NB_OPTIM_INTERNAL_H

#include "nabla/optim.h"

/* Group g's initial_lr (PyTorch's: the base of schedules), NAN if no
 * schedule has recorded one since the last nb_optim_set_*lr. */
double nb__optim_initial_lr(const nb_optim *o, size_t g);
void nb__optim_set_initial_lr(nb_optim *o, size_t g, double v);
/* Sets group g's lr as a schedule does: initial_lr stays.  NB_EINVAL
 * (naming who) for a negative or non-finite lr. */
nb_status nb__optim_put_lr(nb_optim *o, size_t g, double lr,
                           const char *who);
/*
 * Group g's options from a checkpoint: checks them (the message names
 * path and the group) and, when apply, sets them.  A momentum that
 * would need state this optimizer lacks (SGD's momentum 0 against a
 * non-zero one) is NB_EINVAL.
 */
nb_status nb__optim_restore_group(nb_optim *o, size_t g,
                                  const nb_group_opts *go,
                                  double initial_lr, const char *path,
                                  bool apply);

#endif
