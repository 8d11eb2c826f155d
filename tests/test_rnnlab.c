/*
 * test_rnnlab.c - the through-time study of `nabla initlab --rnn`
 * (tools/rnnlab.c): bounds that the chain rule imposes, the spectral
 * radius of the recurrent blocks, the verdicts and clipping.
 */
#include <math.h>
#include "support/helpers.h"
#include "rnnlab.h"

static rl_run run(rl_cell cell, double gain, double fb, double clip,
                  nb_dtype dt)
{
	rl_config c;
	rl_config_default(&c);
	c.cell = cell;
	c.gain = gain;
	c.forget_bias = fb;
	c.clip_norm = clip;
	c.dtype = dt;
	c.steps = 60;
	c.hidden = 48;
	rl_run r;
	char err[256];
	cr_assert_eq(rl_run_study(&c, &r, err, sizeof err), NB_OK, "%s", err);
	return r;
}

/*
 * dL/dh_{t-1} = W^T (act'(z_t) * dL/dh_t) with W = gain x orthogonal
 * and |tanh'| <= 1, so ||dL/dh_{t-1}|| <= gain ||dL/dh_t|| at every
 * step; the same for ReLU (act' in {0, 1}).
 */
Test(rnnlab, each_step_is_bounded_by_the_gain)
{
	const double gains[] = {0.5, 1.0, 1.5};
	for (int k = 0; k < 3; k++)
		for (int relu = 0; relu < 2; relu++) {
			rl_run r = run(relu ? RL_RELU : RL_TANH, gains[k], 0, 0,
			               NB_F64);
			cr_expect_float_eq(r.sigma, gains[k], 1e-9, "sigma %g",
			                   r.sigma);
			for (int64_t t = 1; t < r.cfg.steps; t++)
				cr_expect_leq(r.grad[t - 1],
				              gains[k] * r.grad[t] * (1 + 1e-12),
				              "%s gain %g: step %lld: %g > %g x %g",
				              relu ? "relu" : "tanh", gains[k],
				              (long long)t, r.grad[t - 1], gains[k],
				              r.grad[t]);
			rl_run_free(&r);
		}
}

Test(rnnlab, verdicts_of_the_notes_cases)
{
	rl_run a = run(RL_TANH, 0.5, 0, 0, NB_F64);
	cr_expect_str_eq(a.verdict, "vanishing");
	cr_expect_lt(a.per_step, 0.5 + 1e-12);
	rl_run b = run(RL_RELU, 1.5, 0, 0, NB_F64);
	cr_expect_str_eq(b.verdict, "exploding");
	/* A forget-gate bias of 1 keeps more of the gradient than 0. */
	rl_run c0 = run(RL_LSTM, 1, 0, 0, NB_F64);
	rl_run c1 = run(RL_LSTM, 1, 1, 0, NB_F64);
	cr_expect_gt(c1.ratio, 100 * c0.ratio, "%g vs %g", c1.ratio,
	             c0.ratio);
	rl_run g = run(RL_GRU, 1, 0, 0, NB_F64);
	cr_expect(isfinite(g.ratio) && g.ratio > 0);
	rl_run_free(&a);
	rl_run_free(&b);
	rl_run_free(&c0);
	rl_run_free(&c1);
	rl_run_free(&g);
}

/* Clipping bounds the update and leaves dL/dh_t as it was. */
Test(rnnlab, clipping_bounds_the_update_only)
{
	rl_run a = run(RL_RELU, 1.5, 0, 0, NB_F64);
	rl_run b = run(RL_RELU, 1.5, 0, 1.0, NB_F64);
	cr_expect_gt(b.total_norm, 1.0);
	cr_expect_leq(b.clipped_norm, 1.0 + 1e-6);
	cr_expect_float_eq(a.clipped_norm, a.total_norm, 1e-9 * a.total_norm);
	for (int64_t t = 0; t < a.cfg.steps; t++)
		cr_expect_eq(a.grad[t], b.grad[t]);
	cr_expect(strstr(b.why, "clipped: gradient norm"), "%s", b.why);
	rl_run_free(&a);
	rl_run_free(&b);
}

Test(rnnlab, float32_follows_float64)
{
	rl_run a = run(RL_GRU, 1, 0, 0, NB_F64);
	rl_run b = run(RL_GRU, 1, 0, 0, NB_F32);
	for (int64_t t = 0; t < a.cfg.steps; t++)
		cr_expect_float_eq(b.grad[t], a.grad[t], 1e-3 * a.grad[t],
		                   "step %lld", (long long)t);
	rl_run_free(&a);
	rl_run_free(&b);
}
