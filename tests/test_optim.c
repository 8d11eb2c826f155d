/*
 * test_optim.c - the optimizers (lib/optim.c) and learning-rate schedules
 * (lib/sched.c).
 *
 * PyTorch trajectories (tests/ref/optim/optim.json, from
 * tests/ref/gen_optim_ref.py): every optimizer and setting, 6 steps, 3
 * parameters, float32 and float64, some parameters without a gradient at
 * some steps; the parameters are compared after every step and the
 * state at the end.  Tolerances: float64 atol 1e-12 rtol 1e-10; float32
 * atol 1e-6 rtol 1e-5 (PyTorch's float kernels may fuse multiply-adds).
 * Schedules: the lr at every epoch against torch.optim.lr_scheduler.
 */
#include <jansson.h>
#include "support/helpers.h"

static nb_dtype dtype_of(json_t *c)
{
	return strcmp(json_string_value(json_object_get(c, "dtype")),
	              "float32") ? NB_F64 : NB_F32;
}

static nb_tensor *tensor_of(json_t *o, nb_dtype dt)
{
	int64_t shape[NB_MAX_DIMS];
	json_t *s = json_object_get(o, "shape");
	json_t *data = json_object_get(o, "data");
	for (size_t i = 0; i < json_array_size(s); i++)
		shape[i] = json_integer_value(json_array_get(s, i));
	nb_tensor *t = nb_tensor_zeros(dt, (int)json_array_size(s), shape);
	cr_assert_not_null(t);
	for (size_t i = 0; i < json_array_size(data); i++)
		nb_tensor_set(t, i, json_number_value(json_array_get(data, i)));
	return t;
}

/* Gives every params[j] with a non-NULL grads[j] exactly that gradient,
 * through backward of sum_j sum(params[j] * grads[j]). */
static void backward_with(nb_graph *g, nb_tensor **params,
                          nb_tensor **grads, size_t n)
{
	nb_tensor *loss = NULL;
	for (size_t j = 0; j < n; j++) {
		if (!grads[j])
			continue;
		nb_tensor *t = nb_sum(g, nb_mul(g, params[j], grads[j]), 0, NULL,
		                      false);
		loss = loss ? nb_add(g, loss, t) : t;
	}
	if (!loss)
		return;
	cr_assert_not_null(loss, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
}

/* ---- options from JSON ---- */

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert_not_null(v, "option %s missing", k);
	return json_number_value(v);
}

static bool flag(json_t *o, const char *k)
{
	return json_is_true(json_object_get(o, k));
}

static nb_optim *optim_of(const char *kind, json_t *o, nb_tensor **ps,
                          size_t n)
{
	if (!strcmp(kind, "sgd")) {
		nb_sgd_opts s = {num(o, "lr"), num(o, "momentum"),
		                 num(o, "dampening"), num(o, "weight_decay"),
		                 flag(o, "nesterov"), flag(o, "maximize")};
		return nb_optim_sgd(ps, n, &s);
	}
	if (!strcmp(kind, "adam") || !strcmp(kind, "adamw")) {
		nb_adam_opts a = {num(o, "lr"), num(o, "beta1"), num(o, "beta2"),
		                  num(o, "eps"), num(o, "weight_decay"),
		                  flag(o, "amsgrad"), flag(o, "maximize")};
		return kind[4] ? nb_optim_adamw(ps, n, &a)
		               : nb_optim_adam(ps, n, &a);
	}
	nb_rmsprop_opts r = {num(o, "lr"), num(o, "alpha"), num(o, "eps"),
	                     num(o, "weight_decay"), num(o, "momentum"),
	                     flag(o, "centered"), flag(o, "maximize")};
	return nb_optim_rmsprop(ps, n, &r);
}

/* A PyTorch param_groups entry as nb_group_opts, and its parameters. */
static nb_group_opts group_of(json_t *gj, size_t *first, size_t *count)
{
	nb_group_opts go = nb_group_defaults();
	json_t *ps = json_object_get(gj, "params"), *b;
	*first = (size_t)json_integer_value(json_array_get(ps, 0));
	*count = json_array_size(ps);
	go.lr = num(gj, "lr");
	go.weight_decay = num(gj, "weight_decay");
	if (json_object_get(gj, "momentum"))
		go.momentum = num(gj, "momentum");
	if ((b = json_object_get(gj, "betas"))) {
		go.beta1 = json_number_value(json_array_get(b, 0));
		go.beta2 = json_number_value(json_array_get(b, 1));
	}
	return go;
}

/*
 * The optimizer of a case with "groups": made with the case's options
 * changed by group 0's, then every other group added with its own;
 * nb_optim_group must then give PyTorch's param_groups back.
 */
static nb_optim *optim_of_groups(const char *kind, json_t *c,
                                 nb_tensor **ps)
{
	json_t *groups = json_object_get(c, "groups");
	json_t *o = json_deep_copy(json_object_get(c, "opts"));
	size_t first, count;
	nb_group_opts g0 = group_of(json_array_get(groups, 0), &first, &count);
	json_object_set_new(o, "lr", json_real(g0.lr));
	json_object_set_new(o, "weight_decay", json_real(g0.weight_decay));
	if (!isnan(g0.momentum))
		json_object_set_new(o, "momentum", json_real(g0.momentum));
	if (!isnan(g0.beta1)) {
		json_object_set_new(o, "beta1", json_real(g0.beta1));
		json_object_set_new(o, "beta2", json_real(g0.beta2));
	}
	nb_optim *opt = optim_of(kind, o, ps + first, count);
	json_decref(o);
	cr_assert_not_null(opt, "%s", nb_last_error());
	for (size_t g = 1; g < json_array_size(groups); g++) {
		nb_group_opts go = group_of(json_array_get(groups, g), &first,
		                            &count);
		cr_assert_eq(nb_optim_add_group(opt, ps + first, count, &go),
		             NB_OK, "%s", nb_last_error());
	}
	cr_assert_eq(nb_optim_group_count(opt), json_array_size(groups));
	for (size_t g = 0; g < json_array_size(groups); g++) {
		size_t f2, c2;
		nb_group_opts want = group_of(json_array_get(groups, g), &first,
		                              &count), got;
		cr_assert_eq(nb_optim_group(opt, g, &got, &f2, &c2), NB_OK);
		cr_expect(f2 == first && c2 == count);
		cr_expect(got.lr == want.lr && got.weight_decay ==
		          want.weight_decay, "group %zu", g);
		cr_expect(isnan(want.momentum) ? isnan(got.momentum)
		          : got.momentum == want.momentum, "group %zu", g);
		cr_expect(isnan(want.beta1) ? isnan(got.beta1)
		          : got.beta1 == want.beta1 && got.beta2 == want.beta2);
	}
	return opt;
}

/* ---- PyTorch trajectories ---- */

typedef struct err_stats {
	double max_abs[2]; /* by dtype */
	int bad;
} err_stats;

static void compare(const char *what, const nb_tensor *t, json_t *want,
                    nb_dtype dt, err_stats *es)
{
	double atol = dt == NB_F32 ? 1e-6 : 1e-12;
	double rtol = dt == NB_F32 ? 1e-5 : 1e-10;
	json_t *data = json_object_get(want, "data");
	if (!t || nb_tensor_numel(t) != json_array_size(data)) {
		cr_log_error("%s: missing or %zu elements, want %zu", what,
		             t ? nb_tensor_numel(t) : 0, json_array_size(data));
		es->bad++;
		return;
	}
	for (size_t i = 0; i < json_array_size(data); i++) {
		double w = json_number_value(json_array_get(data, i));
		double d = fabs(nb_tensor_get(t, i) - w);
		if (d > es->max_abs[dt])
			es->max_abs[dt] = d;
		if (!(d <= atol + rtol * fabs(w)) && es->bad++ < 5)
			cr_log_error("%s[%zu] = %.12g, want %.12g", what, i,
			             nb_tensor_get(t, i), w);
	}
}

static void run_optim_case(json_t *c, err_stats *es)
{
	char cname[128], what[192];
	nb_dtype dt = dtype_of(c);
	const char *kind = json_string_value(json_object_get(c, "optim"));
	snprintf(cname, sizeof cname, "%s (%s)",
	         json_string_value(json_object_get(c, "name")),
	         nb_dtype_name(dt));
	json_t *init = json_object_get(c, "params");
	size_t n = json_array_size(init);
	nb_tensor *ps[4] = {0}, *gs[4] = {0};
	cr_assert_leq(n, 4);
	for (size_t j = 0; j < n; j++) {
		ps[j] = tensor_of(json_array_get(init, j), dt);
		nb_tensor_set_requires_grad(ps[j], true);
	}
	nb_optim *o = json_object_get(c, "groups")
	              ? optim_of_groups(kind, c, ps)
	              : optim_of(kind, json_object_get(c, "opts"), ps, n);
	cr_assert_not_null(o, "%s: %s", cname, nb_last_error());
	nb_graph *g = nb_graph_new();
	json_t *grads = json_object_get(c, "grads");
	json_t *traj = json_object_get(c, "trajectory");
	for (size_t k = 0; k < json_array_size(grads); k++) {
		json_t *row = json_array_get(grads, k);
		for (size_t j = 0; j < n; j++) {
			json_t *gj = json_array_get(row, j);
			gs[j] = json_is_null(gj) ? NULL : tensor_of(gj, dt);
		}
		nb_optim_zero_grad(o, true);
		backward_with(g, ps, gs, n);
		cr_assert_eq(nb_optim_step(o), NB_OK);
		for (size_t j = 0; j < n; j++) {
			snprintf(what, sizeof what, "%s step %zu param %zu", cname,
			         k + 1, j);
			compare(what, ps[j], json_array_get(json_array_get(traj, k),
			                                    j), dt, es);
			nb_tensor_free(gs[j]);
		}
		nb_graph_reset(g);
	}
	cr_expect_eq(nb_optim_step_count(o), (int64_t)json_array_size(grads));
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(c, "state"), key, v) {
		snprintf(what, sizeof what, "%s state %s", cname, key);
		compare(what, nb_optim_state_find(o, key), v, dt, es);
	}
	nb_optim_free(o);
	nb_graph_free(g);
	for (size_t j = 0; j < n; j++)
		nb_tensor_free(ps[j]);
}

Test(optim, trajectories_match_pytorch)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/ref/optim/optim.json",
	         nbt_srcdir());
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s: %s", path, err.text);
	err_stats es = {{0, 0}, 0};
	size_t i, count = 0;
	json_t *c;
	json_array_foreach(json_object_get(root, "cases"), i, c) {
		run_optim_case(c, &es);
		count++;
	}
	json_decref(root);
	cr_log_info("%zu optimizer cases; max abs error float32 %.3g, "
	            "float64 %.3g", count, es.max_abs[NB_F32],
	            es.max_abs[NB_F64]);
	cr_expect_geq(count, 42);
	cr_expect_eq(es.bad, 0, "%d values differ from PyTorch", es.bad);
}

/* ---- state, checkpoints, zero_grad ---- */

/* Two persistent parameters [3, 2] and [4] into ps. */
static nb_tensor **make_params(nb_tensor **ps, nb_dtype dt, uint64_t seed)
{
	nb_rng r;
	nb_rng_seed(&r, seed);
	ps[0] = nb_tensor_randn(dt, NB_SHAPE(3, 2), &r, 0, 1);
	ps[1] = nb_tensor_randn(dt, NB_SHAPE(4), &r, 0, 1);
	nb_tensor_set_requires_grad(ps[0], true);
	nb_tensor_set_requires_grad(ps[1], true);
	return ps;
}

/* Gradient of step k: a fixed function of k, the same for any run. */
static void fake_step(nb_graph *g, nb_tensor **ps, size_t n, int k)
{
	nb_tensor *gs[2] = {0};
	for (size_t j = 0; j < n; j++) {
		gs[j] = nb_tensor_zeros(nb_tensor_dtype(ps[j]), nb_tensor_ndim(ps[j]),
		                        nb_tensor_shape(ps[j]));
		for (size_t i = 0; i < nb_tensor_numel(gs[j]); i++)
			nb_tensor_set(gs[j], i, sin(1.0 + k * 0.7 + (double)i * 1.3 +
			                            (double)j));
	}
	backward_with(g, ps, gs, n);
	nb_tensor_free(gs[0]);
	nb_tensor_free(gs[1]);
	nb_graph_reset(g);
}

Test(optim, state_names_follow_pytorch)
{
	nb_tensor *ps[2];
	make_params(ps, NB_F32, 1);
	static const char *const want[] = {
		"step", "0.step", "0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq",
		"1.step", "1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq",
	};
	nb_adam_opts ao = nb_adam_defaults();
	ao.amsgrad = true;
	nb_optim *o = nb_optim_adam(ps, 2, &ao);
	cr_assert_not_null(o);
	cr_assert_eq(nb_optim_state_count(o), 9);
	for (size_t i = 0; i < 9; i++) {
		const char *name = NULL;
		nb_tensor *t = nb_optim_state_at(o, i, &name);
		cr_assert_not_null(t);
		cr_expect_str_eq(name, want[i]);
		cr_expect_eq(nb_tensor_is_graph(t), false);
		if (strstr(name, "step")) {
			cr_expect_eq(nb_tensor_dtype(t), NB_F64);
			cr_expect_eq(nb_tensor_ndim(t), 0);
		} else {
			cr_expect_eq(nb_tensor_dtype(t), NB_F32);
			cr_expect_eq(nb_tensor_numel(t), i < 5 ? 6u : 4u);
		}
	}
	cr_expect_null(nb_optim_state_at(o, 9, NULL));
	cr_expect_null(nb_optim_state_find(o, "0.momentum_buffer"));
	nb_optim_free(o);
	/* SGD without momentum keeps only the step counts. */
	o = nb_optim_sgd(ps, 2, NULL);
	cr_expect_eq(nb_optim_state_count(o), 3);
	nb_optim_free(o);
	nb_rmsprop_opts ro = nb_rmsprop_defaults();
	ro.centered = true;
	ro.momentum = 0.5;
	o = nb_optim_rmsprop(ps, 2, &ro);
	cr_expect_not_null(nb_optim_state_find(o, "1.square_avg"));
	cr_expect_not_null(nb_optim_state_find(o, "1.momentum_buffer"));
	cr_expect_not_null(nb_optim_state_find(o, "1.grad_avg"));
	cr_expect_str_eq(nb_optim_name(o), "rmsprop");
	cr_expect_eq(nb_optim_param_count(o), 2);
	cr_expect_eq(nb_optim_param(o, 1), ps[1]);
	cr_expect_null(nb_optim_param(o, 2));
	nb_optim_free(o);
	nb_tensor_free(ps[0]);
	nb_tensor_free(ps[1]);
}

/*
 * A checkpoint: copy parameters and every state tensor of an optimizer
 * after 3 steps into a fresh one; 3 more steps on each must give
 * bit-identical parameters.  For each optimizer with all its buffers.
 */
static nb_optim *make_opt(int which, nb_tensor **ps)
{
	nb_sgd_opts s = nb_sgd_defaults();
	nb_adam_opts a = nb_adamw_defaults();
	nb_rmsprop_opts r = nb_rmsprop_defaults();
	s.momentum = 0.9;
	s.dampening = 0.1;
	a.amsgrad = true;
	r.centered = true;
	r.momentum = 0.8;
	switch (which) {
	case 0: return nb_optim_sgd(ps, 2, &s);
	case 1: return nb_optim_adamw(ps, 2, &a);
	default: return nb_optim_rmsprop(ps, 2, &r);
	}
}

Test(optim, state_restores_a_checkpoint)
{
	for (int which = 0; which < 3; which++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *a[2], *b[2];
		make_params(a, NB_F64, 2);
		nb_optim *oa = make_opt(which, a);
		for (int k = 0; k < 3; k++) {
			nb_optim_zero_grad(oa, true);
			fake_step(g, a, 2, k);
			nb_optim_step(oa);
		}
		/* Restore into fresh parameters and a fresh optimizer. */
		make_params(b, NB_F64, 3);
		nb_tensor_copy(b[0], a[0]);
		nb_tensor_copy(b[1], a[1]);
		nb_optim *ob = make_opt(which, b);
		cr_assert_eq(nb_optim_state_count(ob), nb_optim_state_count(oa));
		for (size_t i = 0; i < nb_optim_state_count(oa); i++) {
			const char *na, *nb;
			nb_tensor *sa = nb_optim_state_at(oa, i, &na);
			nb_tensor *sb = nb_optim_state_at(ob, i, &nb);
			cr_expect_str_eq(na, nb);
			cr_assert_eq(nb_tensor_copy(sb, sa), NB_OK);
		}
		cr_expect_eq(nb_optim_step_count(ob), 3);
		for (int k = 3; k < 6; k++) {
			nb_optim_zero_grad(oa, true);
			nb_optim_zero_grad(ob, true);
			fake_step(g, a, 2, k);
			fake_step(g, b, 2, k);
			nb_optim_step(oa);
			nb_optim_step(ob);
		}
		for (int j = 0; j < 2; j++)
			cr_expect(!memcmp(nb_tensor_data(a[j]), nb_tensor_data(b[j]),
			                  nb_tensor_numel(a[j]) * sizeof(double)),
			          "%s: the restored run differs",
			          nb_optim_name(oa));
		nb_optim_free(oa);
		nb_optim_free(ob);
		for (int j = 0; j < 2; j++) {
			nb_tensor_free(a[j]);
			nb_tensor_free(b[j]);
		}
		nb_graph_free(g);
	}
}

/* zero_grad(true) makes a parameter backward does not reach skip the
 * step; zero_grad(false) leaves a zero gradient, and weight decay still
 * moves it (PyTorch's set_to_none=False). */
Test(optim, zero_grad_none_skips_zero_does_not)
{
	nb_tensor *w = nb_tensor_full(NB_F64, NB_SHAPE(2), 1.0);
	nb_tensor_set_requires_grad(w, true);
	nb_graph *g = nb_graph_new();
	nb_sgd_opts s = nb_sgd_defaults();
	s.lr = 0.1;
	s.weight_decay = 0.5;
	nb_optim *o = nb_optim_sgd(&w, 1, &s);
	fake_step(g, &w, 1, 0);
	cr_assert_not_null(nb_tensor_grad(w));
	nb_optim_zero_grad(o, false);
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(w), 0), 0.0);
	nb_optim_step(o);
	cr_expect_float_eq(nb_tensor_get(w, 0), 1 - 0.1 * 0.5, 1e-15);
	nb_optim_zero_grad(o, true);
	cr_expect_null(nb_tensor_grad(w));
	nb_optim_step(o);
	cr_expect_float_eq(nb_tensor_get(w, 0), 0.95, 1e-15, "skipped");
	cr_expect_float_eq(nb_tensor_get(nb_optim_state_find(o, "0.step"), 0),
	                   1.0, 0);
	cr_expect_eq(nb_optim_step_count(o), 2);
	nb_optim_free(o);
	nb_tensor_free(w);
	nb_graph_free(g);
}

/* SGD's weight_decay = lambda is the gradient of the half-convention L2
 * penalty lambda/2 sum w^2 (l2_penalty's default). */
Test(optim, weight_decay_is_the_half_l2_penalty)
{
	nb_tensor *a[2], *b[2];
	make_params(a, NB_F64, 4);
	make_params(b, NB_F64, 4);
	nb_graph *g = nb_graph_new();
	nb_sgd_opts s = nb_sgd_defaults();
	s.lr = 0.1;
	s.momentum = 0.9;
	nb_optim *ob = nb_optim_sgd(b, 2, &s);
	s.weight_decay = 0.3;
	nb_optim *oa = nb_optim_sgd(a, 2, &s);
	for (int k = 0; k < 4; k++) {
		nb_optim_zero_grad(oa, true);
		nb_optim_zero_grad(ob, true);
		fake_step(g, a, 2, k);
		fake_step(g, b, 2, k);
		nb_tensor *pen = nb_penalty_sum(g, b, 2, NB_PENALTY_L2_HALF, 0.3);
		cr_assert_eq(nb_backward(pen, NULL), NB_OK);
		nb_graph_reset(g);
		nb_optim_step(oa);
		nb_optim_step(ob);
	}
	for (int j = 0; j < 2; j++)
		for (size_t i = 0; i < nb_tensor_numel(a[j]); i++)
			cr_expect_float_eq(nb_tensor_get(a[j], i),
			                   nb_tensor_get(b[j], i), 1e-14);
	nb_optim_free(oa);
	nb_optim_free(ob);
	for (int j = 0; j < 2; j++) {
		nb_tensor_free(a[j]);
		nb_tensor_free(b[j]);
	}
	nb_graph_free(g);
}

/* Adam on least squares y = X w*: the loss falls by 100x in 300 steps. */
Test(optim, adam_fits_a_linear_model)
{
	nb_rng r;
	nb_rng_seed(&r, 9);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(64, 3), &r, 0, 1);
	nb_tensor *wt = nb_tensor_from_data(NB_F32, NB_SHAPE(1, 3),
	                                    (float[]){1.5f, -2, 0.5f}, NB_COPY);
	nb_tensor *w = nb_tensor_zeros(NB_F32, NB_SHAPE(1, 3));
	nb_tensor_set_requires_grad(w, true);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_tensor_clone(nb_linear(g, x, wt, NULL));
	nb_graph_reset(g);
	nb_adam_opts ao = nb_adam_defaults();
	ao.lr = 0.05;
	nb_optim *o = nb_optim_adam(&w, 1, &ao);
	double first = 0, last = 0;
	for (int k = 0; k < 300; k++) {
		nb_optim_zero_grad(o, true);
		nb_tensor *loss = nb_mse_loss(g, nb_linear(g, x, w, NULL), y,
			NB_REDUCTION_MEAN);
		cr_assert_eq(nb_backward(loss, NULL), NB_OK);
		last = nb_tensor_item(loss);
		if (!k)
			first = last;
		nb_optim_step(o);
		nb_graph_reset(g);
	}
	cr_expect_lt(last, first / 100, "loss %g -> %g", first, last);
	nb_optim_free(o);
	nb_tensor_free(x);
	nb_tensor_free(wt);
	nb_tensor_free(w);
	nb_tensor_free(y);
	nb_graph_free(g);
}

/* ---- defaults, lr, errors ---- */

Test(optim, defaults_are_pytorchs)
{
	nb_sgd_opts s = nb_sgd_defaults();
	nb_adam_opts a = nb_adam_defaults(), aw = nb_adamw_defaults();
	nb_rmsprop_opts r = nb_rmsprop_defaults();
	cr_expect(s.lr == 1e-3 && s.momentum == 0 && !s.nesterov);
	cr_expect(a.lr == 1e-3 && a.beta1 == 0.9 && a.beta2 == 0.999 &&
	          a.eps == 1e-8 && a.weight_decay == 0 && !a.amsgrad);
	cr_expect(aw.weight_decay == 1e-2 && aw.beta2 == 0.999);
	cr_expect(r.lr == 1e-2 && r.alpha == 0.99 && r.eps == 1e-8 &&
	          !r.centered);
	nb_tensor *ps[2];
	make_params(ps, NB_F32, 5);
	nb_optim *o = nb_optim_rmsprop(ps, 2, NULL);
	cr_expect_eq(nb_optim_get_lr(o), 1e-2);
	cr_expect_eq(nb_optim_set_lr(o, 0.5), NB_OK);
	cr_expect_eq(nb_optim_get_lr(o), 0.5);
	cr_expect_eq(nb_optim_set_lr(o, -1), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "rmsprop") &&
	          strstr(nb_last_error(), "-1"), "%s", nb_last_error());
	cr_expect_eq(nb_optim_get_lr(o), 0.5);
	nb_optim_free(o);
	nb_tensor_free(ps[0]);
	nb_tensor_free(ps[1]);
}

/* The constructor fails with code, and a message holding every word. */
static void expect_fail(nb_optim *o, nb_status code, const char *w1,
                        const char *w2)
{
	cr_expect_null(o);
	nb_optim_free(o);
	cr_expect_eq(nb_last_status(), code, "%s", nb_last_error());
	cr_expect(strstr(nb_last_error(), w1) && (!w2 ||
	          strstr(nb_last_error(), w2)), "'%s' lacks '%s' or '%s'",
	          nb_last_error(), w1, w2 ? w2 : "");
}

Test(optim, bad_hyperparameters)
{
	nb_tensor *ps[2];
	make_params(ps, NB_F32, 6);
	nb_sgd_opts s = nb_sgd_defaults();
	s.lr = -0.1;
	expect_fail(nb_optim_sgd(ps, 2, &s), NB_EINVAL, "sgd", "-0.1");
	s = nb_sgd_defaults();
	s.nesterov = true;
	expect_fail(nb_optim_sgd(ps, 2, &s), NB_EINVAL, "sgd", "nesterov");
	s.momentum = 0.9;
	s.dampening = 0.1;
	expect_fail(nb_optim_sgd(ps, 2, &s), NB_EINVAL, "sgd", "dampening");
	s = nb_sgd_defaults();
	s.weight_decay = -1e-4;
	expect_fail(nb_optim_sgd(ps, 2, &s), NB_EINVAL, "weight_decay",
	            "-0.0001");
	nb_adam_opts a = nb_adam_defaults();
	a.beta1 = 1.0;
	expect_fail(nb_optim_adam(ps, 2, &a), NB_EINVAL, "adam", "beta1 1 ");
	a = nb_adam_defaults();
	a.beta2 = -0.5;
	expect_fail(nb_optim_adamw(ps, 2, &a), NB_EINVAL, "adamw",
	            "beta2 -0.5");
	a = nb_adam_defaults();
	a.lr = -3;
	expect_fail(nb_optim_adam(ps, 2, &a), NB_EINVAL, "adam",
	            "learning rate -3");
	a = nb_adam_defaults();
	a.eps = NAN;
	expect_fail(nb_optim_adam(ps, 2, &a), NB_EINVAL, "adam", "eps");
	nb_rmsprop_opts r = nb_rmsprop_defaults();
	r.alpha = 1.5;
	expect_fail(nb_optim_rmsprop(ps, 2, &r), NB_EINVAL, "rmsprop",
	            "alpha 1.5");
	r = nb_rmsprop_defaults();
	r.momentum = -0.9;
	expect_fail(nb_optim_rmsprop(ps, 2, &r), NB_EINVAL, "rmsprop",
	            "momentum -0.9");
	nb_tensor_free(ps[0]);
	nb_tensor_free(ps[1]);
}

Test(optim, bad_parameters)
{
	nb_tensor *ps[2];
	make_params(ps, NB_F32, 7);
	nb_tensor *p0 = ps[0], *p1 = ps[1];
	nb_tensor *ix = nb_tensor_zeros(NB_I64, NB_SHAPE(2));
	expect_fail(nb_optim_sgd(NULL, 0, NULL), NB_EINVAL, "sgd", "empty");
	expect_fail(nb_optim_adam((nb_tensor *[]){p0, NULL}, 2, NULL),
	            NB_EINVAL, "adam", "parameter 1 is NULL");
	expect_fail(nb_optim_rmsprop((nb_tensor *[]){p0, p1, p0}, 3, NULL),
	            NB_EINVAL, "rmsprop", "repeats");
	expect_fail(nb_optim_sgd((nb_tensor *[]){p0, ix}, 2, NULL), NB_EDTYPE,
	            "sgd", "int64");
	nb_graph *g = nb_graph_new();
	nb_tensor *gt = nb_graph_tensor(g, NB_F32, NB_SHAPE(2));
	expect_fail(nb_optim_adamw(&gt, 1, NULL), NB_EINVAL, "adamw",
	            "persistent");
	cr_expect_eq(nb_optim_step(NULL), NB_EINVAL);
	nb_optim_zero_grad(NULL, true);
	nb_optim_free(NULL);
	nb_graph_free(g);
	nb_tensor_free(ix);
	nb_tensor_free(p0);
	nb_tensor_free(p1);
}

/* Out of memory: make allocation n fail for n = 0, 1, ...; each
 * construction fails with NB_ENOMEM (and leaks nothing, under ASan)
 * until there are enough. */
static int alloc_count, alloc_fail_at;

static void *fail_malloc(size_t n)
{
	return alloc_count++ == alloc_fail_at ? NULL : malloc(n);
}

static void *fail_realloc(void *p, size_t n)
{
	return alloc_count++ == alloc_fail_at ? NULL : realloc(p, n);
}

Test(optim, every_allocation_failure_is_enomem)
{
	nb_tensor *ps[2];
	make_params(ps, NB_F64, 8);
	nb_adam_opts ao = nb_adam_defaults();
	ao.amsgrad = true;
	nb_optim *o = NULL;
	int n;
	for (n = 0; n < 200 && !o; n++) {
		alloc_count = 0;
		alloc_fail_at = n;
		nb_set_alloc_funcs(fail_malloc, fail_realloc, free);
		o = nb_optim_adam(ps, 2, &ao);
		nb_set_alloc_funcs(NULL, NULL, NULL);
		if (!o)
			cr_expect_eq(nb_last_status(), NB_ENOMEM, "failure %d: %s", n,
			             nb_last_error());
	}
	cr_expect_not_null(o);
	cr_expect_gt(n, 10, "only %d allocations", n);
	cr_expect_eq(nb_optim_state_count(o), 9);
	nb_optim_free(o);
	nb_tensor_free(ps[0]);
	nb_tensor_free(ps[1]);
}

/* ---- schedules ---- */

static nb_sched *sched_of(json_t *c, nb_optim *o)
{
	const char *kind = json_string_value(json_object_get(c, "kind"));
	if (!strcmp(kind, "step"))
		return nb_sched_step_lr(o, json_integer_value(json_object_get(
		                        c, "step_size")), num(c, "gamma"));
	if (!strcmp(kind, "exponential"))
		return nb_sched_exponential_lr(o, num(c, "gamma"));
	return nb_sched_cosine_lr(o, json_integer_value(json_object_get(c,
	                          "T_max")), num(c, "eta_min"));
}

Test(sched, lr_per_epoch_matches_pytorch)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/ref/optim/sched.json",
	         nbt_srcdir());
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s: %s", path, err.text);
	nb_tensor *w = nb_tensor_zeros(NB_F64, NB_SHAPE(1));
	size_t i, count = 0;
	json_t *c;
	json_array_foreach(json_object_get(root, "cases"), i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		nb_sgd_opts so = nb_sgd_defaults();
		so.lr = num(c, "base_lr");
		nb_optim *o = nb_optim_sgd(&w, 1, &so);
		nb_sched *s = sched_of(c, o);
		cr_assert_not_null(s, "%s: %s", name, nb_last_error());
		json_t *lrs = json_object_get(c, "lrs");
		for (size_t e = 0; e < json_array_size(lrs); e++) {
			double want = json_number_value(json_array_get(lrs, e));
			if (e)
				cr_assert_eq(nb_sched_step(s), NB_OK);
			cr_expect_eq(nb_sched_epoch(s), (int64_t)e);
			cr_expect(fabs(nb_optim_get_lr(o) - want) <=
			          1e-15 + 1e-12 * want, "%s epoch %zu: lr %.17g, "
			          "want %.17g", name, e, nb_optim_get_lr(o), want);
		}
		/* Restoring an epoch gives that epoch's lr. */
		size_t last = json_array_size(lrs) - 1;
		cr_expect_eq(nb_sched_set_epoch(s, 2), NB_OK);
		cr_expect_float_eq(nb_optim_get_lr(o), json_number_value(
		                   json_array_get(lrs, 2)), 1e-15);
		cr_expect_float_eq(nb_sched_lr_at(s, (int64_t)last),
		                   json_number_value(json_array_get(lrs, last)),
		                   1e-14);
		cr_expect_eq(nb_sched_base_lr(s), so.lr);
		nb_sched_free(s);
		nb_optim_free(o);
		count++;
	}
	cr_expect_geq(count, 5);
	nb_tensor_free(w);
	json_decref(root);
}

Test(sched, bad_arguments)
{
	nb_tensor *w = nb_tensor_zeros(NB_F64, NB_SHAPE(1));
	nb_optim *o = nb_optim_sgd(&w, 1, NULL);
	cr_expect_null(nb_sched_step_lr(o, 0, 0.5));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "step_size 0"), "%s",
	          nb_last_error());
	cr_expect_null(nb_sched_exponential_lr(o, -0.5));
	cr_expect(strstr(nb_last_error(), "gamma -0.5"), "%s",
	          nb_last_error());
	cr_expect_null(nb_sched_cosine_lr(o, 10, -1));
	cr_expect(strstr(nb_last_error(), "eta_min -1"), "%s",
	          nb_last_error());
	cr_expect_null(nb_sched_cosine_lr(o, 0, 0));
	cr_expect_null(nb_sched_cosine_lr(NULL, 10, 0));
	nb_sched *s = nb_sched_cosine_lr(o, 10, 0);
	cr_expect_eq(nb_sched_set_epoch(s, -1), NB_EINVAL);
	cr_expect(isnan(nb_sched_lr_at(s, -1)));
	cr_expect_eq(nb_sched_step(NULL), NB_EINVAL);
	nb_sched_free(s);
	nb_sched_free(NULL);
	nb_optim_free(o);
	nb_tensor_free(w);
}

/* ---- parameter groups (issue 16) ---- */

/* add_group's errors name the optimizer and the group, and leave the
 * optimizer as it was. */
Test(optim, add_group_errors)
{
	nb_tensor *ps[2], *q = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	make_params(ps, NB_F32, 10);
	nb_optim *o = nb_optim_adam(ps, 1, NULL);
	cr_assert_not_null(o);
	size_t n_state = nb_optim_state_count(o);
	nb_group_opts go = nb_group_defaults();
	cr_expect_eq(nb_optim_add_group(o, ps + 1, 0, &go), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "group 1: empty"), "%s",
	          nb_last_error());
	cr_expect_eq(nb_optim_add_group(o, (nb_tensor *[]){ps[1], ps[0]}, 2,
	                                &go), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "adam: group 1: parameter 1 is "
	                 "already in group 0"), "%s", nb_last_error());
	cr_expect_eq(nb_optim_add_group(o, (nb_tensor *[]){q, q}, 2, &go),
	             NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "repeats"), "%s", nb_last_error());
	go.momentum = 0.9;
	cr_expect_eq(nb_optim_add_group(o, &q, 1, &go), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "no momentum option (adam's is "
	                 "beta1)"), "%s", nb_last_error());
	go = nb_group_defaults();
	go.beta2 = 1.5;
	cr_expect_eq(nb_optim_add_group(o, &q, 1, &go), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "beta2 1.5") &&
	          strstr(nb_last_error(), "group 1"), "%s", nb_last_error());
	go = nb_group_defaults();
	go.lr = -1;
	cr_expect_eq(nb_optim_add_group(o, &q, 1, &go), NB_EINVAL);
	cr_expect_eq(nb_optim_group_count(o), 1);
	cr_expect_eq(nb_optim_param_count(o), 1);
	cr_expect_eq(nb_optim_state_count(o), n_state);
	cr_expect_eq(nb_optim_group(o, 1, NULL, NULL, NULL), NB_EINVAL);
	cr_expect(isnan(nb_optim_group_lr(o, 1)));
	cr_expect_eq(nb_optim_set_group_lr(o, 1, 0.1), NB_EINVAL);
	cr_expect_eq(nb_optim_set_group_lr(o, 0, -0.1), NB_EINVAL);
	nb_optim_free(o);
	/* SGD has no betas; an SGD group with momentum gets its buffers. */
	o = nb_optim_sgd(ps, 1, NULL);
	go = nb_group_defaults();
	go.beta1 = 0.5;
	cr_expect_eq(nb_optim_add_group(o, &q, 1, &go), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "no betas option"), "%s",
	          nb_last_error());
	go = nb_group_defaults();
	go.momentum = 0.9;
	cr_expect_eq(nb_optim_add_group(o, &q, 1, &go), NB_OK);
	cr_expect_null(nb_optim_state_find(o, "0.momentum_buffer"));
	cr_expect_not_null(nb_optim_state_find(o, "1.momentum_buffer"));
	cr_expect_eq(nb_optim_param(o, 1), q);
	/* set_lr sets every group's lr */
	cr_expect_eq(nb_optim_set_lr(o, 0.25), NB_OK);
	cr_expect_eq(nb_optim_group_lr(o, 1), 0.25);
	nb_optim_free(o);
	nb_tensor_free(q);
	nb_tensor_free(ps[0]);
	nb_tensor_free(ps[1]);
}

/* Every allocation failure of add_group is NB_ENOMEM and leaves the
 * optimizer usable as it was. */
Test(optim, add_group_allocation_failures)
{
	nb_tensor *ps[2];
	make_params(ps, NB_F64, 11);
	nb_optim *o = nb_optim_adamw(ps, 1, NULL);
	nb_status st = NB_ENOMEM;
	int n;
	for (n = 0; n < 100 && st; n++) {
		alloc_count = 0;
		alloc_fail_at = n;
		nb_set_alloc_funcs(fail_malloc, fail_realloc, free);
		st = nb_optim_add_group(o, ps + 1, 1, NULL);
		nb_set_alloc_funcs(NULL, NULL, NULL);
		if (st) {
			cr_expect_eq(st, NB_ENOMEM, "%s", nb_last_error());
			cr_expect_eq(nb_optim_group_count(o), 1);
			cr_expect_eq(nb_optim_state_count(o), 4);
		}
	}
	cr_expect_eq(st, NB_OK);
	cr_expect_gt(n, 2);
	cr_expect_eq(nb_optim_state_count(o), 7);
	nb_optim_free(o);
	nb_tensor_free(ps[0]);
	nb_tensor_free(ps[1]);
}

/* Whether each parameter is in group 0 of o. */
static bool in_group0(const nb_optim *o, const nb_tensor *p)
{
	size_t first, count;
	nb_optim_group(o, 0, NULL, &first, &count);
	for (size_t i = first; i < first + count; i++)
		if (nb_optim_param(o, i) == p)
			return true;
	return false;
}

/*
 * The AdamW recipe decides from what each layer recorded, not from the
 * names: linear weights decay; biases, layer_norm's weight and bias
 * and prelu's weight do not; a user parameter without a kind by its
 * number of dimensions; frozen parameters are left out.
 */
Test(optim, adamw_no_decay_follows_parameter_kinds)
{
	nb_module *m = nb_model_parse("linear:4 layer_norm prelu linear:3", 5,
	                              NULL);
	cr_assert_not_null(m, "%s", nb_last_error());
	nb_module *u = nb_module_new(&(nb_module_class){.type = "user",
	                             .forward = NULL}, "u", NULL);
	cr_expect_null(u); /* a class needs a forward: use a sequential */
	u = nb_sequential_new("user");
	cr_assert_eq(nb_module_add_param(u, "matrix", nb_tensor_zeros(NB_F32,
	             NB_SHAPE(2, 2))), NB_OK);
	cr_assert_eq(nb_module_add_param(u, "vector", nb_tensor_zeros(NB_F32,
	             NB_SHAPE(2))), NB_OK);
	/* the kind, not the name, decides: a "bias" that is a weight */
	cr_assert_eq(nb_module_add_param_kind(u, "bias", nb_tensor_zeros(
	             NB_F32, NB_SHAPE(2)), NB_PARAM_WEIGHT), NB_OK);
	cr_expect_eq(nb_module_add_param_kind(u, "bad", nb_tensor_zeros(
	             NB_F32, NB_SHAPE(2)), (nb_param_kind)9), NB_EINVAL);
	cr_assert_eq(nb_module_add(m, u), NB_OK);
	cr_assert_eq(nb_module_freeze(m, "fc2.bias", true, NULL), NB_OK);
	static const struct { const char *name; nb_param_kind kind; bool decay; }
	want[] = {
		{"fc1.weight", NB_PARAM_WEIGHT, true},
		{"fc1.bias", NB_PARAM_BIAS, false},
		{"ln1.weight", NB_PARAM_NORM, false},
		{"ln1.bias", NB_PARAM_NORM, false},
		{"prelu1.weight", NB_PARAM_ELEMENTWISE, false},
		{"fc2.weight", NB_PARAM_WEIGHT, true},
		{"user.matrix", NB_PARAM_UNKNOWN, true},
		{"user.vector", NB_PARAM_UNKNOWN, false},
		{"user.bias", NB_PARAM_WEIGHT, true},
	};
	nb_adam_opts ao = nb_adamw_defaults();
	ao.weight_decay = 0.05;
	nb_optim *o = nb_optim_adamw_no_decay(m, &ao);
	cr_assert_not_null(o, "%s", nb_last_error());
	cr_expect_eq(nb_optim_group_count(o), 2);
	size_t n0, n1;
	nb_group_opts g0, g1;
	nb_optim_group(o, 0, &g0, NULL, &n0);
	nb_optim_group(o, 1, &g1, NULL, &n1);
	cr_expect_eq(n0, 4);
	cr_expect_eq(n1, 5);
	cr_expect_eq(g0.weight_decay, 0.05);
	cr_expect_eq(g1.weight_decay, 0);
	cr_expect_eq(g1.lr, ao.lr);
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		nb_tensor *p = nb_module_tensor(m, want[i].name);
		cr_assert_not_null(p, "%s", want[i].name);
		cr_expect_eq(nb_module_param_kind(m, p), want[i].kind, "%s",
		             want[i].name);
		cr_expect_eq(nb_param_decays(want[i].kind, p), want[i].decay,
		             "%s", want[i].name);
		cr_expect_eq(in_group0(o, p), want[i].decay, "%s", want[i].name);
	}
	nb_tensor *frozen = nb_module_tensor(m, "fc2.bias");
	for (size_t i = 0; i < nb_optim_param_count(o); i++)
		cr_expect_neq(nb_optim_param(o, i), frozen);
	nb_optim_free(o);
	/* A model of weights only gets one group; one of no-decay
	 * parameters only, one group with weight_decay 0. */
	nb_module *w = nb_model_parse("linear:3,bias=0", 4, NULL);
	o = nb_optim_adamw_no_decay(w, NULL);
	cr_expect_eq(nb_optim_group_count(o), 1);
	nb_optim_group(o, 0, &g0, NULL, NULL);
	cr_expect_eq(g0.weight_decay, 1e-2);
	nb_optim_free(o);
	nb_module_free(w);
	nb_module *b = nb_model_parse("layer_norm", 4, NULL);
	o = nb_optim_adamw_no_decay(b, NULL);
	cr_expect_eq(nb_optim_group_count(o), 1);
	nb_optim_group(o, 0, &g0, NULL, NULL);
	cr_expect_eq(g0.weight_decay, 0);
	nb_optim_free(o);
	cr_expect_eq(nb_module_freeze(b, "", true, NULL), NB_OK);
	cr_expect_null(nb_optim_adamw_no_decay(b, NULL));
	cr_expect(strstr(nb_last_error(), "no trainable parameter"), "%s",
	          nb_last_error());
	nb_module_free(b);
	nb_module_free(m);
}

/*
 * The no-decay recipe gives PyTorch's trajectory: two AdamW groups, the
 * second with weight_decay 0, equal two separate AdamW optimizers bit
 * for bit (the per-group options are used per parameter).
 */
Test(optim, groups_equal_separate_optimizers)
{
	nb_tensor *a[2], *b[2];
	make_params(a, NB_F32, 12);
	make_params(b, NB_F32, 12);
	nb_graph *g = nb_graph_new();
	nb_adam_opts ao = nb_adamw_defaults();
	ao.lr = 0.01;
	ao.weight_decay = 0.1;
	nb_optim *one = nb_optim_adamw(a, 1, &ao);
	nb_group_opts go = nb_group_defaults();
	go.weight_decay = 0;
	go.lr = 0.002;
	go.beta1 = 0.5;
	cr_assert_eq(nb_optim_add_group(one, a + 1, 1, &go), NB_OK);
	nb_optim *s0 = nb_optim_adamw(b, 1, &ao);
	ao.weight_decay = 0;
	ao.lr = 0.002;
	ao.beta1 = 0.5;
	nb_optim *s1 = nb_optim_adamw(b + 1, 1, &ao);
	for (int k = 0; k < 5; k++) {
		nb_optim_zero_grad(one, true);
		nb_optim_zero_grad(s0, true);
		nb_optim_zero_grad(s1, true);
		fake_step(g, a, 2, k);
		fake_step(g, b, 2, k);
		nb_optim_step(one);
		nb_optim_step(s0);
		nb_optim_step(s1);
	}
	for (int j = 0; j < 2; j++)
		cr_expect(!memcmp(nb_tensor_data(a[j]), nb_tensor_data(b[j]),
		                  nb_tensor_numel(a[j]) * sizeof(float)), "%d", j);
	nb_optim_free(one);
	nb_optim_free(s0);
	nb_optim_free(s1);
	for (int j = 0; j < 2; j++) {
		nb_tensor_free(a[j]);
		nb_tensor_free(b[j]);
	}
	nb_graph_free(g);
}
