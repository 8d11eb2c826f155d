/*
 * test_sched.c - the learning-rate schedules of issue 16 (lib/nn/sched.c)
 * over parameter groups: LinearLR, LambdaLR, OneCycleLR,
 * ReduceLROnPlateau, SequentialLR, and StepLR, ExponentialLR and
 * CosineAnnealingLR with two groups.  (The single-group cases of the
 * first three are in test_optim.c.)
 *
 * PyTorch 1.13's trajectories: tests/ref/optim/lr_scheduler.json, from
 * tests/ref/gen_optim_ref.py: every group's lr at every step, compared
 * to a relative 1e-12.
 */
#include <jansson.h>
#include "support/helpers.h"

static double num(json_t *o, const char *k, double def)
{
	json_t *v = json_object_get(o, k);
	return v ? json_number_value(v) : def;
}

static int64_t inum(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert_not_null(v, "argument %s missing", k);
	return json_integer_value(v);
}

/* LambdaLR's functions, as gen_optim_ref.py's LAMBDAS. */
static double warmup5_invsqrt(int64_t t)
{
	return fmin((double)(t + 1) / 5, pow(5 / (double)(t + 1), 0.5));
}

static double decay09(int64_t t)
{
	return pow(0.9, (double)t);
}

static double inv1t(int64_t t)
{
	return 1 / (1 + (double)t);
}

typedef double (*fn1)(int64_t);

/* The user pointer: one function per group (or one for all). */
typedef struct lambdas {
	fn1 f[4];
	size_t n;
} lambdas;

static double call_lambda(int64_t step, size_t group, void *user)
{
	const lambdas *l = user;
	return l->f[l->n > 1 ? group : 0](step);
}

static fn1 lambda_named(const char *name)
{
	if (!strcmp(name, "warmup5-invsqrt"))
		return warmup5_invsqrt;
	if (!strcmp(name, "decay-0.9"))
		return decay09;
	cr_assert_str_eq(name, "inv-1-plus-t");
	return inv1t;
}

static nb_sched *sched_of(nb_optim *o, const char *kind, json_t *a,
                          lambdas *l)
{
	if (!strcmp(kind, "step"))
		return nb_sched_step_lr(o, inum(a, "step_size"),
		                        num(a, "gamma", 0));
	if (!strcmp(kind, "exponential"))
		return nb_sched_exponential_lr(o, num(a, "gamma", 0));
	if (!strcmp(kind, "cosine"))
		return nb_sched_cosine_lr(o, inum(a, "T_max"), num(a, "eta_min",
		                                                   0));
	if (!strcmp(kind, "linear"))
		return nb_sched_linear_lr(o, num(a, "start_factor", 0),
		                          num(a, "end_factor", 0),
		                          inum(a, "total_iters"));
	if (!strcmp(kind, "lambda")) {
		json_t *fns = json_object_get(a, "fns");
		l->n = json_array_size(fns);
		for (size_t i = 0; i < l->n; i++)
			l->f[i] = lambda_named(json_string_value(json_array_get(fns,
			                                                        i)));
		return nb_sched_lambda_lr(o, call_lambda, l);
	}
	if (!strcmp(kind, "onecycle")) {
		json_t *m = json_object_get(a, "max_lr");
		static double max_lrs[4];
		nb_onecycle_opts c = nb_onecycle_defaults(0, inum(a,
		                                          "total_steps"));
		if (json_is_array(m)) {
			for (size_t i = 0; i < json_array_size(m); i++)
				max_lrs[i] = json_number_value(json_array_get(m, i));
			c.max_lrs = max_lrs;
		} else {
			c.max_lr = json_number_value(m);
		}
		c.pct_start = num(a, "pct_start", c.pct_start);
		c.div_factor = num(a, "div_factor", c.div_factor);
		c.final_div_factor = num(a, "final_div_factor",
		                         c.final_div_factor);
		json_t *an = json_object_get(a, "anneal_strategy");
		if (an && !strcmp(json_string_value(an), "linear"))
			c.anneal = NB_ANNEAL_LINEAR;
		return nb_sched_onecycle_lr(o, &c);
	}
	if (!strcmp(kind, "plateau")) {
		nb_plateau_opts p = nb_plateau_defaults();
		json_t *v;
		if ((v = json_object_get(a, "mode")))
			p.mode = strcmp(json_string_value(v), "max")
			         ? NB_PLATEAU_MIN : NB_PLATEAU_MAX;
		if ((v = json_object_get(a, "threshold_mode")))
			p.threshold_abs = !strcmp(json_string_value(v), "abs");
		p.factor = num(a, "factor", p.factor);
		p.threshold = num(a, "threshold", p.threshold);
		p.min_lr = num(a, "min_lr", p.min_lr);
		p.eps = num(a, "eps", p.eps);
		if ((v = json_object_get(a, "patience")))
			p.patience = json_integer_value(v);
		if ((v = json_object_get(a, "cooldown")))
			p.cooldown = json_integer_value(v);
		return nb_sched_plateau(o, &p);
	}
	cr_assert_str_eq(kind, "sequential");
	json_t *subs = json_object_get(a, "schedulers");
	json_t *ms = json_object_get(a, "milestones");
	nb_sched *s[4];
	int64_t m[4];
	size_t n = json_array_size(subs);
	static lambdas sub_l[4];
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_array_get(subs, i);
		s[i] = sched_of(o, json_string_value(json_object_get(d, "kind")),
		                d, &sub_l[i]);
		cr_assert_not_null(s[i], "%s", nb_last_error());
		if (i)
			m[i - 1] = json_integer_value(json_array_get(ms, i - 1));
	}
	return nb_sched_sequential(o, s, n, m);
}

/* An SGD optimizer with one [1] parameter per base lr, one group each. */
static nb_optim *groups_optim(json_t *base, nb_tensor **ps)
{
	nb_sgd_opts so = nb_sgd_defaults();
	so.lr = json_number_value(json_array_get(base, 0));
	ps[0] = nb_tensor_zeros(NB_F64, NB_SHAPE(1));
	nb_optim *o = nb_optim_sgd(ps, 1, &so);
	cr_assert_not_null(o, "%s", nb_last_error());
	for (size_t g = 1; g < json_array_size(base); g++) {
		nb_group_opts go = nb_group_defaults();
		go.lr = json_number_value(json_array_get(base, g));
		ps[g] = nb_tensor_zeros(NB_F64, NB_SHAPE(1));
		cr_assert_eq(nb_optim_add_group(o, &ps[g], 1, &go), NB_OK, "%s",
		             nb_last_error());
	}
	return o;
}

static bool close_to(double got, double want)
{
	if (isnan(want))
		return isnan(got);
	return fabs(got - want) <= 1e-12 * fabs(want) + 1e-300;
}

/* Metric i of a plateau case; null stands for NaN. */
static double metric(json_t *metrics, size_t i)
{
	json_t *v = json_array_get(metrics, i);
	return json_is_null(v) ? NAN : json_number_value(v);
}

/* Replays one case; returns the number of lrs that differ. */
static int run_case(json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *kind = json_string_value(json_object_get(c, "kind"));
	json_t *args = json_object_get(c, "args");
	json_t *lrs = json_object_get(c, "lrs");
	json_t *metrics = json_object_get(args, "metrics");
	nb_tensor *ps[4] = {0};
	lambdas l = {{0}, 0};
	nb_optim *o = groups_optim(json_object_get(c, "base_lrs"), ps);
	size_t ng = nb_optim_group_count(o);
	nb_sched *s = sched_of(o, kind, args, &l);
	cr_assert_not_null(s, "%s: %s", name, nb_last_error());
	int bad = 0;
	for (size_t t = 0; t < json_array_size(lrs); t++) {
		json_t *row = json_array_get(lrs, t);
		if (t && metrics)
			cr_assert_eq(nb_sched_step_metric(s, metric(metrics, t - 1)),
			             NB_OK);
		else if (t)
			cr_assert_eq(nb_sched_step(s), NB_OK, "%s step %zu: %s",
			             name, t, nb_last_error());
		for (size_t g = 0; g < ng; g++) {
			/* PyTorch's one-cycle may end below 0 (sched.c): 0 */
			double want = fmax(0, json_number_value(json_array_get(row,
			                                                       g)));
			double got = nb_optim_group_lr(o, g);
			if (!close_to(got, want) && bad++ < 5)
				cr_log_error("%s step %zu group %zu: lr %.17g, want "
				             "%.17g", name, t, g, got, want);
		}
		cr_expect_eq(nb_sched_epoch(s), (int64_t)t);
		/* The closed forms give every step at once. */
		if (!metrics && !close_to(nb_sched_lr_at(s, (int64_t)t),
		                          fmax(0, json_number_value(
		                                  json_array_get(row, 0))))
		    && bad++ < 5)
			cr_log_error("%s: lr_at(%zu) = %.17g", name, t,
			             nb_sched_lr_at(s, (int64_t)t));
	}
	/* Restoring a step gives that step's lrs (plateau: no closed form). */
	size_t mid = json_array_size(lrs) / 2;
	if (!metrics) {
		cr_expect_eq(nb_sched_set_epoch(s, (int64_t)mid), NB_OK);
		for (size_t g = 0; g < ng; g++)
			bad += !close_to(nb_optim_group_lr(o, g), json_number_value(
			                 json_array_get(json_array_get(lrs, mid), g)));
	} else {
		cr_expect_eq(nb_sched_set_epoch(s, 1), NB_EINVAL);
		cr_expect(isnan(nb_sched_lr_at(s, 1)));
		cr_expect_eq(nb_sched_step(s), NB_EINVAL);
	}
	nb_sched_free(s);
	nb_optim_free(o);
	for (size_t g = 0; g < ng; g++)
		nb_tensor_free(ps[g]);
	return bad;
}

Test(sched, every_schedule_matches_pytorch_per_group)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/ref/optim/lr_scheduler.json",
	         nbt_srcdir());
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	cr_assert_not_null(root, "%s: %s", path, err.text);
	size_t i, count = 0;
	int bad = 0;
	json_t *c;
	json_array_foreach(json_object_get(root, "cases"), i, c) {
		bad += run_case(c);
		count++;
	}
	json_decref(root);
	cr_expect_geq(count, 23);
	cr_expect_eq(bad, 0, "%d learning rates differ from PyTorch", bad);
}

/* ---- edges and errors ---- */

/* One SGD parameter at lr 0.1. */
static nb_optim *one(nb_tensor **w)
{
	*w = nb_tensor_zeros(NB_F64, NB_SHAPE(2));
	nb_sgd_opts so = nb_sgd_defaults();
	so.lr = 0.1;
	return nb_optim_sgd(w, 1, &so);
}

static void expect_null(nb_sched *s, const char *w1, const char *w2)
{
	cr_expect_null(s);
	nb_sched_free(s);
	cr_expect_eq(nb_last_status(), NB_EINVAL, "%s", nb_last_error());
	cr_expect(strstr(nb_last_error(), w1) && (!w2 ||
	          strstr(nb_last_error(), w2)), "'%s' lacks '%s' or '%s'",
	          nb_last_error(), w1, w2 ? w2 : "");
}

Test(sched, bad_options_are_named)
{
	nb_tensor *w;
	nb_optim *o = one(&w);
	expect_null(nb_sched_linear_lr(o, 0, 1, 5), "linear_lr",
	            "start_factor 0");
	expect_null(nb_sched_linear_lr(o, 0.5, 1.5, 5), "end_factor 1.5",
	            NULL);
	expect_null(nb_sched_linear_lr(o, 0.5, 1, 0), "total_iters 0", NULL);
	expect_null(nb_sched_lambda_lr(o, NULL, NULL), "lambda_lr", "NULL");
	expect_null(nb_sched_linear_lr(NULL, 0.5, 1, 5), "optimizer is NULL",
	            NULL);
	nb_onecycle_opts c = nb_onecycle_defaults(0.1, 0);
	expect_null(nb_sched_onecycle_lr(o, &c), "total_steps 0", NULL);
	c = nb_onecycle_defaults(-1, 10);
	expect_null(nb_sched_onecycle_lr(o, &c), "max_lr -1", NULL);
	c = nb_onecycle_defaults(0.1, 10);
	c.pct_start = 1.5;
	expect_null(nb_sched_onecycle_lr(o, &c), "pct_start 1.5", NULL);
	c.pct_start = 0.1; /* phase 1 ends at step 0: PyTorch's 0 / 0 */
	expect_null(nb_sched_onecycle_lr(o, &c), "no length", NULL);
	c.pct_start = 1; /* phase 2 has no length */
	expect_null(nb_sched_onecycle_lr(o, &c), "no length", NULL);
	c = nb_onecycle_defaults(0.1, 10);
	c.div_factor = 0;
	expect_null(nb_sched_onecycle_lr(o, &c), "div_factor 0", NULL);
	expect_null(nb_sched_onecycle_lr(o, NULL), "onecycle_lr", NULL);
	nb_plateau_opts p = nb_plateau_defaults();
	p.factor = 1;
	expect_null(nb_sched_plateau(o, &p), "factor 1", NULL);
	p = nb_plateau_defaults();
	p.patience = -1;
	expect_null(nb_sched_plateau(o, &p), "patience -1", NULL);
	p = nb_plateau_defaults();
	p.cooldown = -2;
	expect_null(nb_sched_plateau(o, &p), "cooldown -2", NULL);
	p = nb_plateau_defaults();
	p.threshold = NAN;
	expect_null(nb_sched_plateau(o, &p), "threshold", NULL);
	p = nb_plateau_defaults();
	p.mode = 7;
	expect_null(nb_sched_plateau(o, &p), "mode", NULL);
	cr_expect_eq(nb_optim_get_lr(o), 0.1, "failures leave the lr");
	nb_optim_free(o);
	nb_tensor_free(w);
}

/* One-cycle stops at total_steps, as PyTorch's ValueError. */
Test(sched, onecycle_past_total_steps_fails)
{
	nb_tensor *w;
	nb_optim *o = one(&w);
	nb_onecycle_opts c = nb_onecycle_defaults(1.0, 4);
	nb_sched *s = nb_sched_onecycle_lr(o, &c);
	cr_assert_not_null(s, "%s", nb_last_error());
	cr_expect_float_eq(nb_optim_get_lr(o), 1.0 / 25, 1e-15);
	cr_expect_float_eq(nb_sched_base_lr(s), 1.0 / 25, 1e-15);
	for (int k = 0; k < 4; k++)
		cr_expect_eq(nb_sched_step(s), NB_OK);
	double last = nb_optim_get_lr(o);
	cr_expect_eq(nb_sched_step(s), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "total_steps is 4"), "%s",
	          nb_last_error());
	cr_expect_eq(nb_optim_get_lr(o), last);
	cr_expect_eq(nb_sched_epoch(s), 4);
	cr_expect(isnan(nb_sched_lr_at(s, 5)));
	nb_sched_free(s);
	nb_optim_free(o);
	nb_tensor_free(w);
}

static double negative(int64_t step, size_t group, void *user)
{
	(void)group;
	(void)user;
	return step == 3 ? -1 : 1;
}

/* A lambda giving a negative factor fails that step and changes no
 * group. */
Test(sched, lambda_bad_value_fails_the_step)
{
	nb_tensor *w;
	nb_optim *o = one(&w);
	nb_sched *s = nb_sched_lambda_lr(o, negative, NULL);
	cr_assert_not_null(s);
	cr_expect_eq(nb_sched_step(s), NB_OK);
	cr_expect_eq(nb_sched_step(s), NB_OK);
	cr_expect_eq(nb_sched_step(s), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "step 3"), "%s", nb_last_error());
	cr_expect_eq(nb_sched_epoch(s), 2);
	cr_expect_eq(nb_optim_get_lr(o), 0.1);
	nb_sched_free(s);
	nb_optim_free(o);
	nb_tensor_free(w);
}

Test(sched, sequential_errors_free_the_schedules)
{
	nb_tensor *w, *w2;
	nb_optim *o = one(&w), *o2 = one(&w2);
	nb_sched *a = nb_sched_linear_lr(o, 0.1, 1, 3);
	nb_sched *b = nb_sched_cosine_lr(o, 10, 0);
	/* Milestones must grow from 1: the schedules are freed (ASan and
	 * valgrind see no leak). */
	expect_null(nb_sched_sequential(o, (nb_sched *[]){a, b}, 2,
	                                (int64_t[]){0}), "milestone 0", NULL);
	a = nb_sched_linear_lr(o, 0.1, 1, 3);
	b = nb_sched_cosine_lr(o2, 10, 0);
	expect_null(nb_sched_sequential(o, (nb_sched *[]){a, b}, 2,
	                                (int64_t[]){3}), "schedule 1",
	            "another optimizer");
	a = nb_sched_linear_lr(o, 0.1, 1, 3);
	b = nb_sched_plateau(o, NULL);
	expect_null(nb_sched_sequential(o, (nb_sched *[]){a, b}, 2,
	                                (int64_t[]){3}), "plateau", NULL);
	a = nb_sched_linear_lr(o, 0.1, 1, 3);
	b = nb_sched_step_lr(o, 2, 0.5);
	nb_sched *c = nb_sched_exponential_lr(o, 0.9);
	expect_null(nb_sched_sequential(o, (nb_sched *[]){a, b, c}, 3,
	                                (int64_t[]){4, 4}), "milestone 1",
	            NULL);
	a = nb_sched_linear_lr(o, 0.1, 1, 3);
	expect_null(nb_sched_sequential(o, (nb_sched *[]){a, a}, 2,
	                                (int64_t[]){3}), "repeats", NULL);
	expect_null(nb_sched_sequential(o, NULL, 0, NULL), "no schedules",
	            NULL);
	expect_null(nb_sched_sequential(o, (nb_sched *[]){NULL}, 1, NULL),
	            "is NULL", NULL);
	/* A lone schedule is allowed (no milestones). */
	a = nb_sched_exponential_lr(o, 0.5);
	nb_sched *s = nb_sched_sequential(o, &a, 1, NULL);
	cr_assert_not_null(s, "%s", nb_last_error());
	cr_expect_eq(nb_sched_step(s), NB_OK);
	cr_expect_float_eq(nb_optim_get_lr(o), 0.05, 1e-15);
	nb_sched_free(s);
	nb_optim_free(o);
	nb_optim_free(o2);
	nb_tensor_free(w);
	nb_tensor_free(w2);
}

/* A plateau schedule steps with a metric only, and the others never. */
Test(sched, plateau_and_metric_steps)
{
	nb_tensor *w;
	nb_optim *o = one(&w);
	nb_plateau_opts p = nb_plateau_defaults();
	p.patience = 0;
	nb_sched *s = nb_sched_plateau(o, &p);
	cr_assert_not_null(s);
	cr_expect_eq(nb_sched_step(s), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "nb_sched_step_metric"), "%s",
	          nb_last_error());
	cr_expect_eq(nb_sched_step_metric(s, 1.0), NB_OK);
	cr_expect_eq(nb_optim_get_lr(o), 0.1);
	cr_expect_eq(nb_sched_step_metric(s, 1.0), NB_OK);
	cr_expect_float_eq(nb_optim_get_lr(o), 0.01, 1e-17);
	cr_expect_eq(nb_sched_epoch(s), 2);
	cr_expect_eq(nb_sched_base_lr(s), 0.1);
	nb_sched *c = nb_sched_cosine_lr(o, 5, 0);
	cr_expect_eq(nb_sched_step_metric(c, 1.0), NB_EINVAL);
	cr_expect_eq(nb_sched_step_metric(NULL, 1.0), NB_EINVAL);
	nb_sched_free(c);
	nb_sched_free(s);
	nb_optim_free(o);
	nb_tensor_free(w);
}

/*
 * The base lr is PyTorch's initial_lr: a second schedule made on the
 * same optimizer starts from the lr before the first changed it; after
 * nb_optim_set_lr a new schedule starts from the new lr.
 */
Test(sched, base_is_initial_lr)
{
	nb_tensor *w;
	nb_optim *o = one(&w);
	nb_sched *a = nb_sched_linear_lr(o, 0.5, 1, 4);
	cr_expect_float_eq(nb_optim_get_lr(o), 0.05, 1e-17);
	nb_sched *b = nb_sched_cosine_lr(o, 10, 0);
	cr_expect_eq(nb_sched_base_lr(b), 0.1);
	nb_sched_free(a);
	nb_sched_free(b);
	cr_expect_eq(nb_optim_set_lr(o, 0.3), NB_OK);
	b = nb_sched_step_lr(o, 2, 0.5);
	cr_expect_eq(nb_sched_base_lr(b), 0.3);
	nb_sched_free(b);
	nb_optim_free(o);
	nb_tensor_free(w);
}

/* Groups added after the schedule keep their lr (PyTorch's zip over
 * the base lrs it captured). */
Test(sched, later_groups_are_left_alone)
{
	nb_tensor *w, *v = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_optim *o = one(&w);
	nb_sched *s = nb_sched_exponential_lr(o, 0.5);
	nb_group_opts go = nb_group_defaults();
	go.lr = 0.7;
	cr_assert_eq(nb_optim_add_group(o, &v, 1, &go), NB_OK);
	cr_expect_eq(nb_sched_step(s), NB_OK);
	cr_expect_float_eq(nb_optim_group_lr(o, 0), 0.05, 1e-17);
	cr_expect_eq(nb_optim_group_lr(o, 1), 0.7);
	nb_sched_free(s);
	nb_optim_free(o);
	nb_tensor_free(w);
	nb_tensor_free(v);
}
