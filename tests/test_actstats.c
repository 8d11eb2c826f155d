/*
 * test_actstats.c - nb_activation_stats (lib/actstats.c) on small
 * outputs whose statistics are worked out by hand in the comments.
 */
#include "support/helpers.h"

static nb_act_stats stats_of(const char *op, nb_dtype dt, int ndim,
                             const int64_t *shape, const double *v)
{
	nb_tensor *t = nbt_tensor(dt, ndim, shape, v);
	nb_act_stats st;
	memset(&st, 0xff, sizeof st);
	nb_status s = nb_activation_stats(op ? nb_op_find(op) : NULL, t, &st);
	cr_assert_eq(s, NB_OK, "%s", nb_last_error());
	nb_tensor_free(t);
	return st;
}

#define EXPECT_NEAR(got, want) \
	cr_expect(fabs((got) - (want)) <= 1e-12, "%s = %.15g, want %.15g", \
	          #got, (double)(got), (double)(want))

/*
 * sigmoid, [2, 3]:  0.001  0.5  0.999
 *                   0.0    0.6  1.0
 * Limits 0..1, so within 0.01 of a limit: 0.001, 0.999, 0.0, 1.0 (4/6).
 * One exact zero (1/6).  Units are columns: column 0 (0.001, 0.0) and
 * column 2 (0.999, 1.0) are saturated in every sample: 2/3 dead.
 * mean 3.1 / 6; population std 0.40953944322318403.
 */
Test(actstats, bounded_op_saturation_and_dead_units)
{
	static const double v[] = {0.001, 0.5, 0.999, 0.0, 0.6, 1.0};
	for (int d = 0; d < 2; d++) {
		nb_act_stats st = stats_of("sigmoid", d ? NB_F64 : NB_F32,
		                           NB_SHAPE(2, 3), v);
		double tol = d ? 1e-12 : 1e-7;
		cr_expect_eq(st.n, 6);
		cr_expect(fabs(st.mean - 3.1 / 6) <= tol, "mean %g", st.mean);
		cr_expect(fabs(st.std - 0.40953944322318403) <= tol, "std %g",
		          st.std);
		EXPECT_NEAR(st.saturated, 4.0 / 6);
		EXPECT_NEAR(st.zero, 1.0 / 6);
		EXPECT_NEAR(st.dead_units, 2.0 / 3);
	}
}

/*
 * tanh, [3, 2]:  -1      0.99
 *                -0.995  0.2
 *                -0.985  0.97
 * Limits -1..1: within 0.02 of one is <= -0.98 or >= 0.98: -1, 0.99,
 * -0.995, -0.985 (4/6); 0.97 is not.  Column 0 is saturated throughout,
 * column 1 is not: 1/2 dead.  No zeros.
 */
Test(actstats, saturation_margin_is_one_percent_of_the_range)
{
	static const double v[] = {-1, 0.99, -0.995, 0.2, -0.985, 0.97};
	nb_act_stats st = stats_of("tanh", NB_F64, NB_SHAPE(3, 2), v);
	EXPECT_NEAR(st.mean, -0.82 / 6);
	EXPECT_NEAR(st.std, 0.89528238872188);
	EXPECT_NEAR(st.saturated, 4.0 / 6);
	EXPECT_NEAR(st.zero, 0);
	EXPECT_NEAR(st.dead_units, 0.5);
}

/*
 * relu, [N=2, F=2, 2]: unit f is x[:, f, :].
 *   sample 0: f0 (0, 0)  f1 (1, 0)
 *   sample 1: f0 (0, 0)  f1 (0, 3)
 * Unbounded: saturated 0.  Zeros 6/8.  f0 is 0 everywhere: 1/2 dead.
 * mean 4/8 = 0.5; variance (1 + 9)/8 - 0.25 = 1.
 */
Test(actstats, unbounded_op_dead_units_over_trailing_axes)
{
	static const double v[] = {0, 0, 1, 0, 0, 0, 0, 3};
	nb_act_stats st = stats_of("relu", NB_F64, NB_SHAPE(2, 2, 2), v);
	cr_expect_eq(st.n, 8);
	EXPECT_NEAR(st.mean, 0.5);
	EXPECT_NEAR(st.std, 1);
	EXPECT_NEAR(st.saturated, 0);
	EXPECT_NEAR(st.zero, 0.75);
	EXPECT_NEAR(st.dead_units, 0.5);
}

/* Without an op: saturated 0, dead = zero in every sample.  A 1-D
 * output is one unit. */
Test(actstats, no_op_and_one_dimensional_outputs)
{
	nb_act_stats st = stats_of(NULL, NB_F64, NB_SHAPE(4),
	                           (double[]){0, 0, 0, 0});
	EXPECT_NEAR(st.zero, 1);
	EXPECT_NEAR(st.dead_units, 1);
	EXPECT_NEAR(st.saturated, 0);
	EXPECT_NEAR(st.std, 0);

	st = stats_of(NULL, NB_F32, NB_SHAPE(3), (double[]){0, 0, 1e-30});
	EXPECT_NEAR(st.zero, 2.0 / 3);
	EXPECT_NEAR(st.dead_units, 0);

	/* A bounded op's values at 1 saturate even with no zeros. */
	st = stats_of("sigmoid", NB_F64, NB_SHAPE(2), (double[]){1, 0.995});
	EXPECT_NEAR(st.saturated, 1);
	EXPECT_NEAR(st.dead_units, 1);
	EXPECT_NEAR(st.zero, 0);

	/* [2, 2] with no op: the unit with a nonzero value is alive. */
	st = stats_of(NULL, NB_F64, NB_SHAPE(2, 2), (double[]){0, 0, 0, -1});
	EXPECT_NEAR(st.dead_units, 0.5);
	EXPECT_NEAR(st.mean, -0.25);
}

/* Straight from an op's output on a graph. */
Test(actstats, of_a_relu_layer)
{
	static const double xv[] = {-1, 2, -3, -4, 5, -6};
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F32, NB_SHAPE(2, 3), xv);
	nb_tensor *y = nb_relu(g, x);
	nb_act_stats st;
	cr_assert_eq(nb_activation_stats(nb_op_find("relu"), y, &st), NB_OK);
	/* y = [[0, 2, 0], [0, 5, 0]]: columns 0 and 2 dead. */
	EXPECT_NEAR(st.dead_units, 2.0 / 3);
	EXPECT_NEAR(st.zero, 4.0 / 6);
	EXPECT_NEAR(st.mean, 7.0 / 6);
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(actstats, empty_output_gives_zeros)
{
	nb_tensor *t = nb_tensor_zeros(NB_F64, NB_SHAPE(0, 4));
	nb_act_stats st;
	cr_assert_eq(nb_activation_stats(nb_op_find("tanh"), t, &st), NB_OK);
	cr_expect(st.n == 0 && st.mean == 0 && st.std == 0 &&
	          st.saturated == 0 && st.zero == 0 && st.dead_units == 0);
	nb_tensor_free(t);
}

Test(actstats, errors)
{
	nb_act_stats st;
	nb_tensor *i = nb_tensor_zeros(NB_I64, NB_SHAPE(3));
	nb_tensor *s = nb_tensor_zeros(NB_F64, 0, NULL);
	cr_expect_eq(nb_activation_stats(NULL, NULL, &st), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "activation_stats") != NULL, "%s",
	          nb_last_error());
	cr_expect_eq(nb_activation_stats(NULL, s, NULL), NB_EINVAL);
	cr_expect_eq(nb_activation_stats(NULL, i, &st), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "int64") != NULL, "%s",
	          nb_last_error());
	cr_expect_eq(nb_activation_stats(NULL, s, &st), NB_ESHAPE);
	nb_tensor_free(i);
	nb_tensor_free(s);
}
