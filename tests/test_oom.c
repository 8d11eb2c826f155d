/*
 * test_oom.c - allocation-failure sweeps: the Nth allocation fails, for
 * N = 0, 1, ... until a run needs no more, and each run must fail
 * cleanly (NB_ENOMEM, or NULL with NB_ENOMEM recorded on the graph),
 * leave what it was given usable, and leak nothing (tests/faultalloc.h
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
#include <unistd.h>
#include "helpers.h"
#include "faultalloc.h"
#include "recipe.h"

#define MAX_CASES 16

static long live0;

static void setup(void)
{
	fa_install();
	cr_assert_gt(nb_op_count(), 0); /* the registry stays: not a leak */
	live0 = fa.live;
}

static void teardown(void)
{
	fa_arm(-1);
	fa_uninstall();
}

TestSuite(oom, .init = setup, .fini = teardown);

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
