/*
 * test_oom.c - allocation-failure sweeps: the Nth allocation fails, for
 * N = 0, 1, ... until a run needs no more, and each run must fail
 * cleanly (NB_ENOMEM, or NULL with NB_ENOMEM recorded on the graph),
 * leave what it was given usable, and leak nothing (tests/support/faultalloc.h
 * counts the blocks nabla holds).
 *
 * The ops are not listed: every registered op runs forward and backward
 * on the inputs of each case of its gradcheck recipe (tests/recipe.h),
 * in training and in evaluation mode.  Then the other public calls that
 * allocate: tensors, graphs, scopes and names, gradcheck, activation
 * statistics, clipping, schedules, safetensors files, checkpoints,
 * model specs, IDX files and data sets.  The sweeps of test_init,
 * test_initlab, test_model and test_optim (optimizer construction) are
 * not repeated.
 */
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "support/helpers.h"
#include "support/faultalloc.h"
#include "support/recipe.h"

#define MAX_CASES 16

static long live0;

static void setup(void)
{
	fa_install();
	cr_assert_gt(nb_op_count(), 0); /* the registry stays: not a leak */
	cr_assert_gt(nb_layer_count(), 0); /* the layer table too */
	live0 = fa.live;
}

static void teardown(void)
{
	fa_arm(-1);
	fa_uninstall();
}

TestSuite(oom, .init = setup, .fini = teardown);

/* ---- every op, forward and backward ---- */

/* What a run of an op leaves: its output and the input gradients. */
typedef struct result {
	size_t n;
	double v[4096];
} result;

static void put(result *r, const nb_tensor *t)
{
	for (size_t i = 0; t && i < nb_tensor_numel(t) && r->n < 4096; i++)
		r->v[r->n++] = nb_tensor_get(t, i);
}

/*
 * Forward and backward of op on in[] (case c) on graph g; fills r.
 * Returns the status: the graph's, or backward's; *fwd_failed tells
 * whether forward was what failed.
 */
static nb_status run_op(nb_graph *g, const nb_op *op, const rc_case *c,
                        nb_tensor **in, result *r, bool *fwd_failed)
{
	bool dummy;
	if (!fwd_failed)
		fwd_failed = &dummy;
	*fwd_failed = false;
	for (int i = 0; i < c->n_in; i++)
		nb_tensor_zero_grad(in[i]);
	nb_graph_seed(g, 7);
	r->n = 0;
	nb_tensor *y = nb_call(g, op->name, c->n_in, in, c->attrs);
	if (!y) {
		*fwd_failed = true;
		return nb_graph_status(g) ? nb_graph_status(g) : NB_EINVAL;
	}
	put(r, y);
	if (!nb_tensor_requires_grad(y))
		return NB_OK;
	nb_tensor *go = NULL;
	if (nb_tensor_numel(y) != 1) {
		go = nb_graph_tensor(g, nb_tensor_dtype(y), nb_tensor_ndim(y),
		                     nb_tensor_shape(y));
		if (!go)
			return nb_graph_status(g);
		for (size_t i = 0; i < nb_tensor_numel(go); i++)
			nb_tensor_set(go, i, 0.5 + 0.125 * (double)(i % 5));
	}
	nb_status st = nb_backward(y, go);
	if (st)
		return st;
	for (int i = 0; i < c->n_in; i++)
		put(r, nb_tensor_grad(in[i]));
	return NB_OK;
}

static bool same_result(const result *a, const result *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (memcmp(&a->v[i], &b->v[i], sizeof a->v[i]) &&
		    !(isnan(a->v[i]) && isnan(b->v[i])))
			return false;
	return true;
}

/* The inputs' values, to check that a failed op changed none of them
 * (running statistics are updated in place). */
static void snapshot(const rc_case *c, nb_tensor **in, result *s)
{
	s->n = 0;
	for (int i = 0; i < c->n_in; i++)
		put(s, in[i]);
}

typedef struct sweep_count {
	long runs, failures, points;
} sweep_count;

/*
 * Sweeps one case of op in one mode: the reference run first, then for
 * k = 0, 1, ...: a fresh graph and inputs, allocation k fails during
 * forward and backward (persistent: and every later one), and the run
 * must end in NB_ENOMEM (or succeed, if the failed allocation was
 * optional), change no input if forward failed, and leave the graph
 * usable: after nb_graph_reset the same run gives the
 * reference's bits.  No blocks may stay allocated.
 */
static void sweep_case(const nb_op *op, const rc_case *c, bool training,
                       bool persistent, sweep_count *cnt)
{
	static result want, got, before, after;
	nb_tensor *in[NB_MAX_INPUTS];
	char what[160];
	snprintf(what, sizeof what, "%s case '%s'%s%s", op->name, c->attrs,
	         training ? "" : " (eval)",
	         persistent ? " (failing from there on)" : "");
	cr_assert(rc_make_inputs(c, NB_F64, NULL, NULL, in));
	nb_graph *g = nb_graph_new();
	nb_graph_set_training(g, training);
	nb_status st = run_op(g, op, c, in, &want, NULL);
	nb_graph_free(g);
	rc_free_inputs(c->n_in, in);
	if (st) /* the recipe's case does not apply to this mode */
		return;
	for (long k = 0;; k++) {
		cr_assert(rc_make_inputs(c, NB_F64, NULL, NULL, in));
		g = nb_graph_new();
		cr_assert_not_null(g);
		nb_graph_set_training(g, training);
		snapshot(c, in, &before);
		bool fwd_failed;
		fa_arm_mode(k, persistent);
		st = run_op(g, op, c, in, &got, &fwd_failed);
		long failed = fa.failed;
		fa_arm(-1);
		cnt->runs++;
		if (!failed) {
			cr_expect_eq(st, NB_OK, "%s: %s", what, nb_last_error());
			cr_expect(same_result(&got, &want), "%s: another result",
			          what);
		} else {
			cnt->points++;
			if (st) {
				cnt->failures++;
				cr_expect_eq(st, NB_ENOMEM, "%s, allocation %ld: %s (%s)",
				             what, k, nb_strerror(st),
				             nb_graph_errmsg(g));
				cr_expect_eq(nb_graph_status(g), NB_ENOMEM,
				             "%s, allocation %ld: the graph holds %s",
				             what, k, nb_strerror(nb_graph_status(g)));
				snapshot(c, in, &after);
				cr_expect(!fwd_failed || same_result(&before, &after),
				          "%s, allocation %ld: a failed op changed an "
				          "input", what, k);
			}
			nb_graph_reset(g);
			cr_expect_eq(run_op(g, op, c, in, &got, NULL), NB_OK,
			             "%s, allocation %ld: after reset: %s", what, k,
			             nb_graph_errmsg(g));
			if (!st)
				cr_expect(same_result(&got, &want), "%s, allocation "
				          "%ld: another result", what, k);
		}
		nb_graph_free(g);
		rc_free_inputs(c->n_in, in);
		cr_expect_eq(fa.live, live0, "%s, allocation %ld: %ld blocks "
		             "leaked", what, k, fa.live - live0);
		if (!failed)
			break;
		cr_assert_lt(k, 100000);
	}
}

Test(oom, every_op_forward_and_backward)
{
	sweep_count cnt = {0, 0, 0};
	size_t ops = 0;
	for (size_t k = 0; k < nb_op_count(); k++) {
		const nb_op *op = nb_op_at(k);
		rc_case cs[MAX_CASES];
		int nc = rc_parse(op, cs, MAX_CASES);
		for (int ci = 0; ci < nc; ci++)
			for (int mode = 0; mode < 4; mode++)
				sweep_case(op, &cs[ci], mode % 2 == 0, mode >= 2,
				           &cnt);
		ops++;
	}
	cr_log_info("%zu ops: %ld runs, %ld failing allocations, %ld of them "
	            "errors", ops, cnt.runs, cnt.points, cnt.failures);
	cr_expect_gt(cnt.failures, 100);
}

/* ---- a failed op changes nothing ---- */

/*
 * Regression: the node of an op was put on the tape after its forward
 * ran, and forward updates running statistics in place: when growing
 * the tape then failed, batch_norm reported NB_ENOMEM with its running
 * statistics and counter already updated.  The tape is 256 nodes long
 * here, so the 257th needs it to grow.
 */
Test(oom, failed_batch_norm_leaves_running_statistics_alone)
{
	long points = 0;
	for (long k = 0;; k++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_ones(NB_F64, NB_SHAPE(4, 2));
		nb_tensor *rm = nb_tensor_zeros(NB_F64, NB_SHAPE(2));
		nb_tensor *rv = nb_tensor_ones(NB_F64, NB_SHAPE(2));
		nb_tensor *cnt = nb_tensor_zeros(NB_I64, NB_SHAPE(1));
		nb_tensor_set(x, 0, 3.0);
		nb_tensor_set_requires_grad(x, true);
		for (int i = 0; i < 256; i++)
			cr_assert_not_null(nb_neg(g, x));
		fa_arm(k);
		nb_tensor *y = nb_batch_norm(g, x, NULL, NULL, rm, rv, cnt, NAN,
		                             1e-5);
		long failed = fa.failed;
		fa_arm(-1);
		if (!y) {
			points++;
			cr_expect_eq(nb_graph_status(g), NB_ENOMEM);
			cr_expect_eq(nb_tensor_get(rm, 0), 0.0,
			             "allocation %ld: running_mean updated", k);
			cr_expect_eq(nb_tensor_get(rv, 0), 1.0,
			             "allocation %ld: running_var updated", k);
			cr_expect_eq(nb_tensor_get(cnt, 0), 0.0,
			             "allocation %ld: counter incremented", k);
		} else {
			cr_expect_eq(nb_tensor_get(cnt, 0), 1.0);
			cr_expect_eq(nb_tensor_get(rm, 0), 1.5);
		}
		nb_tensor *frees[] = {x, rm, rv, cnt};
		for (int i = 0; i < 4; i++)
			nb_tensor_free(frees[i]);
		nb_graph_free(g);
		cr_expect_eq(fa.live, live0);
		if (!failed)
			break;
	}
	cr_expect_gt(points, 0);
}

/* ---- a failed step, retried ---- */

/*
 * A training step of an MLP with batch_norm and dropout: forward, cross
 * entropy, backward, an SGD step with momentum.  The retry contract of
 * doc/guarantees.md ("Retrying a step"):
 *  - a failed step is a prefix of the step: the ops that completed did
 *    what they do in the complete step (batch_norm updated its running
 *    statistics and counter, dropout advanced the generator) and nothing
 *    after the failure ran (parameters and optimizer state unchanged);
 *  - restoring the generator (a copy of *nb_graph_rng) and the buffers
 *    (nb_module_tensors' buffer entries) taken before the step, then
 *    nb_graph_reset and the same step, gives the bits of a run that
 *    never failed: parameters, buffers, loss, generator state.
 * Both are checked at every failure point of the step.
 */
#define MLP_SPEC "linear:8 batch_norm relu dropout:0.3 linear:3"
#define MLP_T 16 /* tensors of the model: at most */

typedef struct mlp {
	nb_module *m;
	nb_graph *g;
	nb_optim *o;
	nb_tensor *x, *y;
	const nb_named_tensor *t;
	size_t nt;
	double loss;
} mlp;

static void mlp_new(mlp *r)
{
	nb_model_opts mo = {.dtype = NB_F64, .seed = 3};
	nb_tensor *ps[MLP_T];
	nb_rng rng;
	nb_rng_seed(&rng, 5);
	r->m = nb_model_parse(MLP_SPEC, 5, &mo);
	cr_assert_not_null(r->m, "%s", nb_last_error());
	r->g = nb_graph_new();
	cr_assert_not_null(r->g);
	nb_graph_seed(r->g, 11);
	size_t np = nb_module_params(r->m, true, ps, MLP_T);
	nb_sgd_opts so = nb_sgd_defaults();
	so.momentum = 0.9;
	so.lr = 0.1;
	r->o = nb_optim_sgd(ps, np, &so);
	cr_assert_not_null(r->o);
	r->x = nb_tensor_randn(NB_F64, NB_SHAPE(6, 5), &rng, 0, 1);
	r->y = nb_tensor_zeros(NB_I64, NB_SHAPE(6));
	cr_assert(r->x && r->y);
	for (size_t i = 0; i < 6; i++)
		nb_tensor_set(r->y, i, (double)(i % 3));
	r->nt = nb_module_tensors(r->m, &r->t);
	cr_assert(r->nt > 0 && r->nt <= MLP_T);
}

static void mlp_free(mlp *r)
{
	nb_optim_free(r->o);
	nb_module_free(r->m);
	nb_graph_free(r->g);
	nb_tensor_free(r->x);
	nb_tensor_free(r->y);
}

static nb_status mlp_step(mlp *r)
{
	nb_graph_reset(r->g);
	nb_optim_zero_grad(r->o, true);
	nb_tensor *l = nb_cross_entropy(r->g,
	    nb_module_forward(r->m, r->g, r->x), r->y,
		NULL, -100, NB_REDUCTION_MEAN, 0);
	if (!l)
		return nb_graph_status(r->g);
	nb_status st = nb_backward(l, NULL);
	if (st)
		return st;
	r->loss = nb_tensor_item(l);
	return nb_optim_step(r->o);
}

/* Every value of the model's tensors and the generator's state. */
static void mlp_state(const mlp *r, result *s, bool buffers_only)
{
	const nb_rng *q = nb_graph_rng(r->g);
	s->n = 0;
	for (size_t i = 0; i < r->nt; i++)
		if (r->t[i].buffer || !buffers_only)
			put(s, r->t[i].tensor);
	if (buffers_only)
		return;
	for (int i = 0; i < 4; i++)
		s->v[s->n++] = (double)(q->s[i] >> 11);
	s->v[s->n++] = q->has_spare ? q->spare : 0;
	s->v[s->n++] = r->loss;
}

static bool same_rng(const nb_rng *a, const nb_rng *b)
{
	return !memcmp(a->s, b->s, sizeof a->s) &&
	       a->has_spare == b->has_spare &&
	       (!a->has_spare || a->spare == b->spare);
}

Test(oom, retried_step_gives_the_bits_of_a_step_that_never_failed)
{
	static result want, got, buf0, buf1, bufnow;
	mlp r;
	mlp_new(&r);
	cr_assert_eq(mlp_step(&r), NB_OK, "%s", nb_graph_errmsg(r.g));
	nb_rng rng1 = *nb_graph_rng(r.g);
	mlp_state(&r, &buf0, true);
	cr_assert_eq(mlp_step(&r), NB_OK, "%s", nb_graph_errmsg(r.g));
	nb_rng rng2 = *nb_graph_rng(r.g);
	mlp_state(&r, &want, false);
	mlp_state(&r, &buf1, true);
	mlp_free(&r);
	cr_assert_eq(fa.live, live0);
	cr_assert(!same_rng(&rng1, &rng2), "dropout drew nothing");

	long points = 0, changed = 0;
	for (long k = 0;; k++) {
		nb_tensor *saved[MLP_T] = {0};
		mlp_new(&r);
		cr_assert_eq(mlp_step(&r), NB_OK);
		/* The snapshot: the generator and the buffers. */
		nb_rng rng = *nb_graph_rng(r.g);
		for (size_t i = 0; i < r.nt; i++)
			if (r.t[i].buffer &&
			    !(saved[i] = nb_tensor_clone(r.t[i].tensor)))
				cr_assert_fail("clone: %s", nb_last_error());
		fa_arm(k);
		nb_status st = mlp_step(&r);
		long failed = fa.failed;
		fa_arm(-1);
		if (failed && st) {
			points++;
			cr_expect_eq(st, NB_ENOMEM, "allocation %ld: %s", k,
			             nb_strerror(st));
			/* A prefix of the step: each buffer and the generator
			 * as before it, or as the complete step leaves them. */
			mlp_state(&r, &bufnow, true);
			bool before = same_result(&bufnow, &buf0);
			cr_expect(before || same_result(&bufnow, &buf1),
			          "allocation %ld: buffers neither as before "
			          "the step nor as after it", k);
			changed += !before;
			cr_expect(same_rng(nb_graph_rng(r.g), &rng1) ||
			          same_rng(nb_graph_rng(r.g), &rng2),
			          "allocation %ld: generator", k);
			/* Restore, reset (in mlp_step), retry. */
			*nb_graph_rng(r.g) = rng;
			for (size_t i = 0; i < r.nt; i++)
				if (saved[i])
					memcpy(nb_tensor_data(r.t[i].tensor),
					       nb_tensor_cdata(saved[i]),
					       nb_tensor_numel(saved[i]) *
					       nb_dtype_size(nb_tensor_dtype(
					                     saved[i])));
			st = mlp_step(&r);
			cr_expect_eq(st, NB_OK, "allocation %ld: retry: %s", k,
			             nb_graph_errmsg(r.g));
		}
		cr_expect_eq(st, NB_OK);
		mlp_state(&r, &got, false);
		cr_expect(same_result(&got, &want), "allocation %ld: the "
		          "retried step differs from one that never failed", k);
		for (size_t i = 0; i < MLP_T; i++)
			nb_tensor_free(saved[i]);
		mlp_free(&r);
		cr_expect_eq(fa.live, live0, "allocation %ld: leak", k);
		if (!failed)
			break;
		cr_assert_lt(k, 100000);
	}
	cr_log_info("a step: %ld failure points, %ld after batch_norm "
	            "updated its statistics", points, changed);
	cr_expect_gt(points, 10);
	cr_expect_gt(changed, 0, "no failure point after batch_norm: the "
	             "test does not test the restore");
}

/* ---- the other public calls that allocate ---- */

/*
 * Runs scenario(ud) once normally, then with allocation k failing (and
 * with every allocation from k on failing) for k = 0, 1, ... until a
 * run needs no more: each run returns NB_OK (the failure was optional)
 * or NB_ENOMEM, and every run frees what it made (the scenario cleans
 * up on every path), so no block may stay allocated.
 */
typedef nb_status (*scenario_fn)(void *ud);

static long sweep_calls(const char *what, scenario_fn scenario, void *ud)
{
	long points = 0;
	cr_assert_eq(scenario(ud), NB_OK, "%s: %s", what, nb_last_error());
	cr_assert_eq(fa.live, live0, "%s leaks", what);
	for (int persistent = 0; persistent < 2; persistent++)
		for (long k = 0;; k++) {
			fa_arm_mode(k, persistent);
			nb_status st = scenario(ud);
			long failed = fa.failed;
			fa_arm(-1);
			cr_expect_eq(fa.live, live0, "%s, allocation %ld%s: %ld "
			             "blocks leaked", what, k, persistent ? "+" : "",
			             fa.live - live0);
			if (!failed) {
				cr_expect_eq(st, NB_OK, "%s: %s", what, nb_last_error());
				break;
			}
			points++;
			cr_expect(st == NB_OK || st == NB_ENOMEM, "%s, allocation "
			          "%ld%s: %s (%s)", what, k, persistent ? "+" : "",
			          nb_strerror(st), nb_last_error());
			cr_assert_lt(k, 100000);
		}
	cr_log_info("%s: %ld allocation-failure points", what, points);
	cr_expect_gt(points, 0, "%s allocates nothing?", what);
	return points;
}

/* The status of a call that returned NULL, or NB_OK. */
static nb_status st_of(const void *p)
{
	return p ? NB_OK : nb_last_status();
}

static nb_status sc_tensors(void *ud)
{
	(void)ud;
	nb_rng r;
	nb_rng_seed(&r, 1);
	double d[6] = {1, 2, 3, 4, 5, 6};
	nb_tensor *t[8] = {0};
	nb_status st = NB_OK;
	if (!(t[0] = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3))) ||
	    !(t[1] = nb_tensor_ones(NB_F64, NB_SHAPE(4))) ||
	    !(t[2] = nb_tensor_full(NB_I64, NB_SHAPE(2), 7)) ||
	    !(t[3] = nb_tensor_arange(NB_F64, 0, 10, 0.5)) ||
	    !(t[4] = nb_tensor_randn(NB_F32, NB_SHAPE(3, 3), &r, 0, 1)) ||
	    !(t[5] = nb_tensor_rand(NB_F64, NB_SHAPE(5), &r, -1, 1)) ||
	    !(t[6] = nb_tensor_from_data(NB_F64, NB_SHAPE(2, 3), d, NB_COPY)) ||
	    !(t[7] = nb_tensor_clone(t[4])))
		st = nb_last_status();
	if (!st)
		st = nb_tensor_set_name(t[7], "a name");
	if (!st)
		st = nb_tensor_set_name(t[7], "another name");
	for (int i = 0; i < 8; i++)
		nb_tensor_free(t[i]);
	return st;
}

Test(oom, tensors)
{
	sweep_calls("tensor constructors and names", sc_tensors, NULL);
}

/* Two training steps of a small model on a graph, with scopes, names,
 * graph tensors and a tensor larger than an arena chunk. */
static nb_status sc_graph(void *ud)
{
	(void)ud;
	nb_status st = NB_OK;
	nb_rng r;
	nb_rng_seed(&r, 2);
	nb_tensor *w = NULL;
	nb_graph *g = NULL;
	if ((st = st_of(w = nb_tensor_randn(NB_F64, NB_SHAPE(3, 4), &r, 0,
	                                    1))) ||
	    (st = st_of(g = nb_graph_new())))
		goto out;
	nb_tensor_set_requires_grad(w, true);
	for (int step = 0; step < 2 && !st; step++) {
		double xv[8] = {1, 2, 3, 4, -1, -2, 0.5, 0};
		if ((st = nb_graph_scope_push(g, "block")) ||
		    (st = nb_graph_scope_push(g, "fc")))
			break;
		nb_tensor *x = nb_graph_from_data(g, NB_F64, NB_SHAPE(2, 4), xv);
		nb_tensor *h = nb_relu(g, nb_linear(g, x, w, NULL));
		nb_graph_scope_pop(g);
		nb_graph_scope_pop(g);
		nb_tensor *big = nb_graph_tensor(g, NB_F64, NB_SHAPE(5000, 4));
		if (big)
			nb_tensor_fill(big, 0.5);
		nb_tensor *l = nb_add(g, nb_mean(g, h, 0, NULL, false),
		                      nb_mean(g, nb_linear(g, big, w, NULL), 0,
		                              NULL, false));
		if (l && (st = nb_tensor_set_name(l, "loss")))
			break;
		if (!l) {
			st = nb_graph_status(g);
			break;
		}
		if ((st = nb_backward(l, NULL)))
			break;
		nb_graph_reset(g);
	}
out:
	nb_tensor_free(w);
	nb_graph_free(g);
	return st;
}

Test(oom, graph_steps)
{
	sweep_calls("graph steps", sc_graph, NULL);
}

static nb_status sc_gradcheck(void *ud)
{
	static const char *const ops[] = {"linear", "cross_entropy",
	                                  "clip_grad_norm"};
	(void)ud;
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
		int failed = 0;
		nb_status st = nb_gradcheck_op(nb_op_find(ops[i]), NULL, NULL,
		                               NULL, &failed);
		if (st)
			return st;
		cr_expect_eq(failed, 0, "%s", ops[i]);
	}
	return NB_OK;
}

Test(oom, gradcheck)
{
	sweep_calls("gradcheck", sc_gradcheck, NULL);
}

/* An optimizer step with gradient clipping and a schedule. */
static nb_status sc_optim(void *ud)
{
	(void)ud;
	nb_status st = NB_OK;
	nb_tensor *p[2] = {NULL, NULL};
	nb_graph *g = NULL;
	nb_optim *o = NULL;
	nb_sched *s = NULL;
	if ((st = st_of(p[0] = nb_tensor_full(NB_F64, NB_SHAPE(3), 0.5))) ||
	    (st = st_of(p[1] = nb_tensor_full(NB_F32, NB_SHAPE(2, 2), -1))) ||
	    (st = st_of(g = nb_graph_new())))
		goto out;
	nb_tensor_set_requires_grad(p[0], true);
	nb_tensor_set_requires_grad(p[1], true);
	nb_adam_opts ao = nb_adam_defaults();
	ao.amsgrad = true;
	if (!(o = nb_optim_adam(p, 2, &ao)) ||
	    !(s = nb_sched_cosine_lr(o, 10, 0.01))) {
		st = nb_last_status();
		goto out;
	}
	for (int step = 0; step < 2; step++) {
		nb_tensor *l0 = nb_l2_penalty(g, p[0], 1, NB_L2_HALF);
		nb_tensor *l1 = nb_l1_penalty(g, p[1], 1);
		if (!l0 || !l1) {
			st = nb_graph_status(g);
			goto out;
		}
		if ((st = nb_backward(l0, NULL)) || (st = nb_backward(l1, NULL)) ||
		    (st = nb_clip_grad_norm(p, 2, 0.5, 2, false, NULL)) ||
		    (st = nb_clip_grad_value(p, 2, 0.1)) ||
		    (st = nb_optim_step(o)) || (st = nb_sched_step(s)))
			goto out;
		nb_optim_zero_grad(o, true);
		nb_graph_reset(g);
	}
out:
	nb_sched_free(s);
	nb_optim_free(o);
	nb_graph_free(g);
	nb_tensor_free(p[0]);
	nb_tensor_free(p[1]);
	return st;
}

Test(oom, optimizer_steps_clipping_schedules)
{
	sweep_calls("optimizer steps", sc_optim, NULL);
}

/* A scratch directory under the build tree, and paths in it (made and
 * removed without a shell, which valgrind would trace too). */
static char tmpdir[1024];

static void make_tmpdir(void)
{
	const char *b = getenv("NB_BUILDDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/tests/oom.%d", b && *b ? b : ".",
	         (int)getpid());
	cr_assert_eq(mkdir(tmpdir, 0700), 0, "%s", tmpdir);
}

static const char *tmp_path(const char *name)
{
	static char path[1200];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	return path;
}

static void remove_tmpdir(const char *file)
{
	unlink(tmp_path(file));
	cr_expect_eq(rmdir(tmpdir), 0, "%s not empty", tmpdir);
}

/* Saves tensors with metadata, opens the file and reads them back. */
static nb_status sc_safetensors(void *ud)
{
	const char *path = ud;
	nb_status st;
	nb_tensor *a = NULL, *b = NULL, *r[2] = {NULL, NULL};
	nb_safetensors *f = NULL;
	if ((st = st_of(a = nb_tensor_full(NB_F32, NB_SHAPE(2, 3), 1.5))) ||
	    (st = st_of(b = nb_tensor_full(NB_I64, NB_SHAPE(4), 3))))
		goto out;
	nb_named_tensor t[] = {{"layer.weight", a, false},
	                       {"layer.count", b, true}};
	const char *meta[] = {"format", "pt", "note", "oom", NULL};
	if ((st = nb_safetensors_save(path, t, 2, meta)) ||
	    (st = nb_safetensors_open(path, &f)))
		goto out;
	cr_expect_eq(nb_safetensors_count(f), 2);
	if (!(r[0] = nb_safetensors_read(f, "layer.weight")) ||
	    !(r[1] = nb_safetensors_read(f, "layer.count"))) {
		st = nb_last_status();
		goto out;
	}
	cr_expect_eq(nb_tensor_get(r[0], 5), 1.5);
	cr_expect_str_eq(nb_safetensors_meta(f, "note"), "oom");
out:
	nb_safetensors_close(f);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_tensor_free(r[0]);
	nb_tensor_free(r[1]);
	return st;
}

Test(oom, safetensors_files)
{
	make_tmpdir();
	sweep_calls("safetensors", sc_safetensors,
	            (void *)tmp_path("t.safetensors"));
	remove_tmpdir("t.safetensors");
}

/*
 * jansson, which builds and parses checkpoint headers, allocates through
 * nb_set_alloc_funcs: it took the C library's malloc before, so the
 * sweeps never failed inside a header, where a failure to parse for
 * memory was reported as a malformed file (NB_EFORMAT).
 */
Test(oom, jansson_allocates_through_nabla)
{
	json_t *j = json_object();
	cr_assert_not_null(j);
	cr_expect_gt(fa.live, live0, "json_object did not use nabla's "
	             "allocator");
	json_decref(j);
	cr_expect_eq(fa.live, live0);
	fa_arm(0);
	cr_expect_null(json_object(), "a failing allocator, a JSON object");
	long failed = fa.failed;
	fa_arm(-1);
	cr_expect_eq(failed, 1);
}

/* A checkpoint header with metadata and three tensors, saved, then read
 * (counting the failures that json_loadb reported). */
typedef struct header_run {
	const char *path;
	long in_json;
} header_run;

static nb_status sc_header_save(void *ud)
{
	const header_run *h = ud;
	nb_tensor *a = nb_tensor_full(NB_F32, NB_SHAPE(2, 3), 0.5);
	if (!a)
		return nb_last_status();
	nb_named_tensor t[] = {{"w", a, false}, {"layer.bias", a, false},
	                       {"c", a, true}};
	const char *meta[] = {"format", "pt", "nabla.epoch", "3", NULL};
	nb_status st = nb_safetensors_save(h->path, t, 3, meta);
	nb_tensor_free(a);
	return st;
}

static nb_status sc_header_open(void *ud)
{
	header_run *h = ud;
	nb_safetensors *f = NULL;
	nb_status st = nb_safetensors_open(h->path, &f);
	if (st == NB_ENOMEM &&
	    strstr(nb_last_error(), "out of memory reading the header"))
		h->in_json++;
	nb_safetensors_close(f);
	return st;
}

Test(oom, checkpoint_headers)
{
	make_tmpdir();
	header_run h = {tmp_path("h.safetensors"), 0};
	/* Building the header: objects, arrays, keys, strings, integers and
	 * the dumped text are jansson's, a dozen allocations and more; the
	 * rest of a save makes two or three. */
	long points = sweep_calls("saving a checkpoint header",
	                          sc_header_save, &h);
	cr_expect_gt(points, 12, "saving fails at %ld points: jansson's "
	             "allocations are not among them", points);
	sweep_calls("reading a checkpoint header", sc_header_open, &h);
	cr_expect_gt(h.in_json, 0, "no failure inside json_loadb was "
	             "reported as NB_ENOMEM");
	remove_tmpdir("h.safetensors");
}

/* A model from a spec, a training step, a checkpoint with optimizer
 * state, and loading it into a second model and optimizer. */
static nb_status sc_checkpoint(void *ud)
{
	const char *path = ud;
	nb_status st = NB_OK;
	static const char *spec = "linear:4 batch_norm relu dropout:0.25 "
	                          "linear:2";
	nb_model_opts mo = {.dtype = NB_F64, .seed = 4};
	nb_module *m = NULL, *m2 = NULL;
	nb_graph *g = NULL;
	nb_optim *o = NULL, *o2 = NULL;
	nb_tensor *x = NULL, *y = NULL;
	nb_tensor *ps[16];
	if ((st = st_of(m = nb_model_parse(spec, 3, &mo))) ||
	    (st = st_of(m2 = nb_model_parse(spec, 3, &mo))) ||
	    (st = st_of(g = nb_graph_new())) ||
	    (st = st_of(x = nb_tensor_full(NB_F64, NB_SHAPE(5, 3), 0.25))) ||
	    (st = st_of(y = nb_tensor_zeros(NB_I64, NB_SHAPE(5)))))
		goto out;
	size_t np = nb_module_params(m, true, ps, 16);
	nb_sgd_opts so = nb_sgd_defaults();
	so.momentum = 0.9;
	if (!(o = nb_optim_sgd(ps, np, &so))) {
		st = nb_last_status();
		goto out;
	}
	nb_tensor_set(x, 1, -1.0);
	nb_tensor *l = nb_cross_entropy(g, nb_module_forward(m, g, x), y,
		NULL, -100, NB_REDUCTION_MEAN, 0);
	if (!l) {
		st = nb_graph_status(g);
		goto out;
	}
	if ((st = nb_backward(l, NULL)) || (st = nb_optim_step(o)))
		goto out;
	const char *meta[] = {"epoch", "1", NULL};
	nb_load_report rep;
	if ((st = nb_checkpoint_save(path, m, o, meta)) ||
	    (st = nb_module_load(m2, path, true, &rep)))
		goto out;
	size_t np2 = nb_module_params(m2, true, ps, 16);
	if (!(o2 = nb_optim_sgd(ps, np2, &so))) {
		st = nb_last_status();
		goto out;
	}
	st = nb_optim_load_state(o2, path);
out:
	nb_optim_free(o);
	nb_optim_free(o2);
	nb_module_free(m);
	nb_module_free(m2);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(y);
	return st;
}

Test(oom, checkpoints)
{
	make_tmpdir();
	sweep_calls("checkpoints", sc_checkpoint,
	            (void *)tmp_path("c.safetensors"));
	remove_tmpdir("c.safetensors");
}

static nb_status sc_spec(void *ud)
{
	(void)ud;
	nb_spec *s = NULL;
	size_t pos;
	nb_status st = nb_spec_parse("input:6 linear:8 layer_norm gelu@act "
	                             "dropout:0.1 linear:4,bias=0 "
	                             "leaky_relu:negative_slope=0.2 linear:2",
	                             &s, &pos);
	if (!st)
		cr_expect_eq(nb_spec_len(s), 7);
	nb_spec_free(s);
	return st;
}

Test(oom, model_specs)
{
	sweep_calls("spec parsing", sc_spec, NULL);
}

/* An IDX file (written once, outside the sweep), read plain. */
static nb_status sc_idx(void *ud)
{
	nb_tensor *t = nb_idx_read(ud, NB_F32);
	nb_status st = st_of(t);
	if (t)
		cr_expect_eq(nb_tensor_get(t, 5), 5.0);
	nb_tensor_free(t);
	return st;
}

Test(oom, idx_files)
{
	make_tmpdir();
	const char *path = tmp_path("x-idx3-ubyte");
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	unsigned char hdr[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
	fwrite(hdr, 1, sizeof hdr, f);
	for (int i = 0; i < 24; i++)
		fputc(i, f);
	fclose(f);
	sweep_calls("IDX", sc_idx, (void *)path);
	remove_tmpdir("x-idx3-ubyte");
}

/* The synthetic data set, standardized, batched and evaluated. */
static nb_status sc_dataset(void *ud)
{
	(void)ud;
	nb_dataset d;
	nb_status st = nb_dataset_synthetic(40, 12, 5, 3, 9, &d);
	if (st)
		return st;
	nb_model_opts mo = {.seed = 1};
	nb_module *m = NULL;
	nb_graph *g = NULL;
	nb_tensor *bx, *by;
	int64_t idx[4] = {3, 1, 4, 1};
	double loss, acc;
	if (!(st = st_of(m = nb_model_parse("linear:4 relu linear:3", 5,
	                                    &mo))))
		st = st_of(g = nb_graph_new());
	if (!st)
		st = nb_dataset_standardize(&d, NULL, NULL);
	if (!st)
		st = nb_batch_gather(g, d.train_x, d.train_y, idx, 4, &bx, &by);
	if (!st)
		st = nb_evaluate(m, g, d.test_x, d.test_y, 5, &loss, &acc);
	nb_graph_free(g);
	nb_module_free(m);
	nb_dataset_free(&d);
	return st;
}

Test(oom, data_sets)
{
	sweep_calls("data sets", sc_dataset, NULL);
}

/* ---- the very first call: the registry's initialization ---- */

/*
 * The first use of the registry (here nb_op_count(); nb_op_find() and
 * nb_call() likewise) registers the built-in ops.  If an allocation
 * fails there, it reports no op with NB_ENOMEM and holds no memory (the
 * half-filled registry is emptied), and the next call tries again: for
 * k = 0, 1, ... allocation k fails (and, in the second pass, every one
 * after it), until a call succeeds; then everything works.  Each
 * Criterion test is a fresh process, so this is the first use.
 */
static void first_use_sweep(bool persistent)
{
	fa_install();
	cr_assert_eq(fa.live, 0);
	long k, registry_points = 0;
	size_t n = 0;
	for (k = 0; !n; k++) {
		fa_arm_mode(k, persistent);
		n = nb_op_count();
		long failed = fa.failed;
		fa_arm(-1);
		if (n) {
			cr_expect(!failed || k > 0);
			break;
		}
		cr_assert_gt(failed, 0, "no allocation failed, yet: %s",
		             nb_last_error());
		cr_expect_eq(nb_last_status(), NB_ENOMEM, "allocation %ld: %s", k,
		             nb_last_error());
		cr_expect(strstr(nb_last_error(), "memory") != NULL, "%s",
		          nb_last_error());
		cr_assert_eq(fa.live, 0, "allocation %ld: %ld blocks held after "
		             "a failed first call", k, fa.live);
		registry_points++;
		cr_assert_lt(k, 100000);
	}
	cr_log_info("%ld allocation-failure points in the registry%s",
	            registry_points, persistent ? " (failing from there on)"
	                                        : "");
	cr_expect_gt(registry_points, 50, "the registry allocates more");
	/* complete, once: every op found by name, and usable */
	cr_expect_gt(n, 40);
	for (size_t i = 0; i < n; i++)
		cr_expect_eq(nb_op_find(nb_op_at(i)->name), nb_op_at(i));
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_tensor *x = nb_tensor_ones(NB_F64, NB_SHAPE(2, 3));
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *y = nb_sum(g, nb_softmax(g, nb_relu(g, x), -1), 0, NULL,
	                      false);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_backward(y, NULL), NB_OK);
	nb_tensor_free(x);
	nb_graph_free(g);
	fa_uninstall();
}

Test(first_use, allocation_failures_in_the_registry)
{
	first_use_sweep(false);
}

Test(first_use, allocation_failures_from_there_on)
{
	first_use_sweep(true);
}

/* The layer table's first use (issue 16 blocks): after the op registry
 * is in, a failed allocation while the built-in rows register reports
 * no row, holds nothing more, and the next call tries again. */
Test(first_use, allocation_failures_in_the_layer_table)
{
	fa_install();
	cr_assert_gt(nb_op_count(), 0);
	long base = fa.live, points = 0;
	size_t n = 0;
	for (long k = 0; !n; k++) {
		fa_arm(k);
		n = nb_layer_count();
		long failed = fa.failed;
		fa_arm(-1);
		if (n)
			break;
		cr_assert_gt(failed, 0, "no allocation failed: %s",
		             nb_last_error());
		cr_expect_eq(nb_last_status(), NB_ENOMEM);
		cr_assert_eq(fa.live, base, "allocation %ld: %ld blocks held", k,
		             fa.live - base);
		points++;
		cr_assert_lt(k, 10000);
	}
	cr_expect_gt(points, 3);
	cr_expect_not_null(nb_layer_find("linear"));
	nb_module *m = nb_model_parse("linear:4 residual(relu) mean", 3, NULL);
	cr_expect_null(m); /* mean needs a sequence: the table works */
	cr_expect(strstr(nb_last_error(), "mean: axis=1") != NULL, "%s",
	          nb_last_error());
	fa_uninstall();
}
