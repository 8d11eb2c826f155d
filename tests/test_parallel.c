/*
 * test_parallel.c - nabla's thread count and the promise that results do
 * not depend on it (work is split in chunks of fixed size).
 */
#include "support/helpers.h"
#include <nabla/norm.h>

Test(parallel, set_and_get)
{
	cr_expect_eq(nb_set_num_threads(3), NB_OK);
	cr_expect_eq(nb_get_num_threads(), 3);
	cr_expect_eq(nb_set_num_threads(0), NB_EINVAL);
	cr_expect_eq(nb_set_num_threads(65), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "set_num_threads") != NULL);
	cr_expect_eq(nb_get_num_threads(), 3);
	nb_set_num_threads(1);
}

/* Output and every gradient of one normalization, as doubles. */
static double *run_norm(int which, int threads, size_t *len)
{
	nb_rng r;
	nb_rng_seed(&r, 5);
	nb_set_num_threads(threads);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(6, 8, 40, 40), &r, 3, 2);
	nb_tensor *w = nb_tensor_randn(NB_F32, NB_SHAPE(8), &r, 1, 0.2);
	nb_tensor *b = nb_tensor_randn(NB_F32, NB_SHAPE(8), &r, 0, 0.2);
	nb_tensor *go = nb_tensor_randn(NB_F32, NB_SHAPE(6, 8, 40, 40), &r, 0, 1);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor_set_requires_grad(w, true);
	nb_tensor_set_requires_grad(b, true);
	nb_graph *g = nb_graph_new();
	static const int64_t ln_shape[1] = {40};
	nb_tensor *lw = nb_tensor_randn(NB_F32, NB_SHAPE(40), &r, 1, 0.2);
	nb_tensor_set_requires_grad(lw, true);
	nb_tensor *y = which == 0
	    ? nb_batch_norm(g, x, w, b, NULL, NULL, NULL, 0.1, 1e-5)
	    : which == 1 ? nb_group_norm(g, x, 4, w, b, 1e-5)
	    : which == 2 ? nb_instance_norm(g, x, w, b, NULL, NULL, 0.1, 1e-5)
	                 : nb_layer_norm(g, x, 1, ln_shape, lw, NULL, 1e-5);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(y, go), NB_OK);
	size_t n = nb_tensor_numel(y);
	*len = 2 * n + 16;
	double *v = calloc(*len, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		v[i] = nb_tensor_get(y, i);
		v[n + i] = nb_tensor_get(nb_tensor_grad(x), i);
	}
	for (size_t i = 0; i < 8; i++) { /* layer_norm: lw's instead */
		v[2 * n + i] = nb_tensor_get(nb_tensor_grad(which == 3 ? lw : w),
		                             i);
		v[2 * n + 8 + i] = which == 3
		    ? 0 : nb_tensor_get(nb_tensor_grad(b), i);
	}
	nb_graph_free(g);
	nb_tensor_free(lw);
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(b);
	nb_tensor_free(go);
	return v;
}

Test(parallel, norms_give_the_same_bits_with_any_thread_count)
{
	for (int which = 0; which < 4; which++) {
		size_t n1, n2, n3;
		double *a = run_norm(which, 1, &n1);
		double *b = run_norm(which, 2, &n2);
		double *c = run_norm(which, 3, &n3);
		cr_expect(!memcmp(a, b, n1 * sizeof *a), "norm %d: 1 vs 2 threads",
		          which);
		cr_expect(!memcmp(a, c, n1 * sizeof *a), "norm %d: 1 vs 3 threads",
		          which);
		free(a);
		free(b);
		free(c);
	}
	nb_set_num_threads(1);
}

/*
 * Many short parallel jobs back to back: a worker that wakes late for a
 * job the others already finished must not touch it (the job lives in
 * the caller's stack frame).  This crashed before the pool counted the
 * workers inside a job.
 */
Test(parallel, many_short_jobs)
{
	nb_rng r;
	nb_rng_seed(&r, 9);
	nb_set_num_threads(3);
	nb_tensor *x = nb_tensor_randn(NB_F32, NB_SHAPE(4, 8, 64, 64), &r, 0, 1);
	nb_tensor_set_requires_grad(x, true);
	nb_graph *g = nb_graph_new();
	for (int i = 0; i < 400; i++) {
		nb_tensor *y = nb_instance_norm(g, x, NULL, NULL, NULL, NULL, 0.1,
		                                1e-5);
		cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL),
		             NB_OK, "%s", nb_graph_errmsg(g));
		nb_graph_reset(g);
	}
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_set_num_threads(1);
}

/* relu and sigmoid over 600,000 elements (chunks of the pool, split at
 * several thread counts): every output and input gradient element is
 * relu's exact value, and sigmoid's bits are the same at 1, 2 and 4
 * threads, so each chunk reads and writes its own elements. */
Test(parallel, unary_ops_split_over_the_pool_element_for_element)
{
	enum { N = 600000 };
	static double ref[2][N];
	int saved = nb_get_num_threads();
	const int counts[] = {1, 2, 4};
	for (int t = 0; t < 3; t++) {
		cr_assert_eq(nb_set_num_threads(counts[t]), NB_OK);
		nb_rng r;
		nb_rng_seed(&r, 7);
		nb_tensor *x = nb_tensor_randn(NB_F32, 1, (int64_t[]){N}, &r, 0,
		                               1);
		cr_assert_not_null(x);
		nb_tensor_set_requires_grad(x, true);
		nb_graph *g = nb_graph_new();
		nb_tensor *y = nb_relu(g, x), *s = nb_sigmoid(g, x);
		nb_tensor *l = nb_sum(g, nb_add(g, nb_mul(g, y, y), s), 0, NULL,
		                      false);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_assert_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
		const nb_tensor *gx = nb_tensor_grad(x);
		bool relu_ok = true, same = true;
		for (size_t i = 0; i < N; i++) {
			double v = nb_tensor_get(x, i);
			relu_ok &= nb_tensor_get(y, i) == (v > 0 ? v : 0);
			double sv = nb_tensor_get(s, i), gv = nb_tensor_get(gx, i);
			if (t == 0) {
				ref[0][i] = sv;
				ref[1][i] = gv;
			} else {
				same &= sv == ref[0][i] && gv == ref[1][i];
			}
		}
		cr_expect(relu_ok, "relu at %d threads", counts[t]);
		cr_expect(same, "sigmoid and the gradient at %d threads differ "
		          "from 1 thread", counts[t]);
		nb_graph_free(g);
		nb_tensor_free(x);
	}
	nb_set_num_threads(saved);
}
