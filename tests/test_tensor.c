/*
 * test_tensor.c - lib/tensor.c: the persistent tensor constructors,
 * accessors, shape checks, requires_grad rules, names and nb_shape_str,
 * against the contracts of nabla/tensor.h.
 */
#include <stdint.h>
#include "support/helpers.h"

/* The huge-shape tests reach malloc with sizes no machine has; under
 * AddressSanitizer malloc must then return NULL, as the C library's
 * does, instead of aborting the test. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1";
}

static void expect_values(const nb_tensor *t, const double *want, size_t n)
{
	nbt_expect_close(t, want, n, 0, 0, "tensor");
}

Test(tensor, zeros_ones_full)
{
	nb_tensor *z = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3));
	nb_tensor *o = nb_tensor_ones(NB_F64, NB_SHAPE(4));
	nb_tensor *f = nb_tensor_full(NB_F32, NB_SHAPE(3, 1), -2.5);
	nb_tensor *fi = nb_tensor_full(NB_I64, NB_SHAPE(2), 7.9);
	cr_assert(z && o && f && fi, "%s", nb_last_error());

	cr_expect_eq(nb_tensor_dtype(z), NB_F32);
	cr_expect_eq(nb_tensor_ndim(z), 2);
	cr_expect_eq(nb_tensor_numel(z), 6);
	cr_expect_eq(nb_tensor_shape(z)[0], 2);
	cr_expect_eq(nb_tensor_shape(z)[1], 3);
	expect_values(z, (double[]){0, 0, 0, 0, 0, 0}, 6);
	expect_values(o, (double[]){1, 1, 1, 1}, 4);
	expect_values(f, (double[]){-2.5, -2.5, -2.5}, 3);
	/* int64 truncates toward zero, as a C conversion does. */
	expect_values(fi, (double[]){7, 7}, 2);
	cr_expect_eq(((const int64_t *)nb_tensor_cdata(fi))[1], 7);

	/* Persistent, without gradient, history or name. */
	cr_expect_not(nb_tensor_is_graph(z));
	cr_expect_not(nb_tensor_requires_grad(z));
	cr_expect_null(nb_tensor_grad(z));
	cr_expect_null(nb_tensor_name(z));
	cr_expect_eq(nb_tensor_node(z), -1);
	nb_tensor_free(z);
	nb_tensor_free(o);
	nb_tensor_free(f);
	nb_tensor_free(fi);
}

Test(tensor, dtype_sizes_and_names)
{
	cr_expect_eq(nb_dtype_size(NB_F32), 4);
	cr_expect_eq(nb_dtype_size(NB_F64), 8);
	cr_expect_eq(nb_dtype_size(NB_I64), 8);
	cr_expect_str_eq(nb_dtype_name(NB_F32), "float32");
	cr_expect_str_eq(nb_dtype_name(NB_F64), "float64");
	cr_expect_str_eq(nb_dtype_name(NB_I64), "int64");
	cr_expect_eq(nb_dtype_size(NB_BOOL), 1);
	cr_expect_str_eq(nb_dtype_name(NB_BOOL), "bool");
	cr_expect_str_eq(nb_dtype_name((nb_dtype)42), "?");
	cr_expect_null(nb_tensor_zeros((nb_dtype)42, NB_SHAPE(2)));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
}

/* bool holds 0 or 1: any nonzero value (NaN too) sets it, as PyTorch's
 * bool(); it never requires grad; from_data refuses other bytes. */
Test(tensor, bool_values)
{
	nb_tensor *b = nb_tensor_zeros(NB_BOOL, NB_SHAPE(5));
	cr_assert_not_null(b, "%s", nb_last_error());
	static const double v[5] = {0, -0.0, 2.5, -1, NAN};
	for (size_t i = 0; i < 5; i++)
		nb_tensor_set(b, i, v[i]);
	expect_values(b, (double[]){0, 0, 1, 1, 1}, 5);
	cr_expect_eq(((const uint8_t *)nb_tensor_data(b))[2], 1);
	cr_expect_eq(nb_tensor_set_requires_grad(b, true), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "bool"), "%s", nb_last_error());
	uint8_t ok[3] = {1, 0, 1}, bad[3] = {1, 2, 0};
	nb_tensor *c = nb_tensor_from_data(NB_BOOL, NB_SHAPE(3), ok, NB_COPY);
	cr_assert_not_null(c);
	expect_values(c, (double[]){1, 0, 1}, 3);
	cr_expect_null(nb_tensor_from_data(NB_BOOL, NB_SHAPE(3), bad,
	                                   NB_BORROW));
	cr_expect(strstr(nb_last_error(), "element 1 is byte 2"), "%s",
	          nb_last_error());
	nb_tensor *f = nb_tensor_full(NB_BOOL, NB_SHAPE(2), 7);
	expect_values(f, (double[]){1, 1}, 2);
	nb_tensor_free(f);
	nb_tensor_free(c);
	nb_tensor_free(b);
}

Test(tensor, arange)
{
	nb_tensor *a = nb_tensor_arange(NB_F64, 0, 5, 1);
	nb_tensor *b = nb_tensor_arange(NB_F32, 1, 2, 0.25);
	nb_tensor *c = nb_tensor_arange(NB_F64, 5, 0, -2);
	nb_tensor *d = nb_tensor_arange(NB_I64, -3, 0, 1);
	nb_tensor *e = nb_tensor_arange(NB_F64, 3, 1, 1); /* empty */
	nb_tensor *f = nb_tensor_arange(NB_F64, 0, 1, 0.1);
	cr_assert(a && b && c && d && e && f, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_ndim(a), 1);
	expect_values(a, (double[]){0, 1, 2, 3, 4}, 5);
	expect_values(b, (double[]){1, 1.25, 1.5, 1.75}, 4);
	expect_values(c, (double[]){5, 3, 1}, 3);
	expect_values(d, (double[]){-3, -2, -1}, 3);
	cr_expect_eq(nb_tensor_numel(e), 0);
	cr_expect_eq(nb_tensor_dim(e, 0), 0);
	cr_expect_eq(nb_tensor_numel(f), 10); /* stop is excluded */

	cr_expect_null(nb_tensor_arange(NB_F64, 0, 1, 0));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "arange") != NULL);
	cr_expect_null(nb_tensor_arange(NB_F64, 0, INFINITY, 1));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_tensor_arange(NB_F64, 0, NAN, 1));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_tensor_arange(NB_F64, 0, 1e300, 1));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_tensor_free(c);
	nb_tensor_free(d);
	nb_tensor_free(e);
	nb_tensor_free(f);
}

Test(tensor, randn_and_rand_follow_the_generator)
{
	nb_rng r, r2;
	nb_rng_seed(&r, 7);
	r2 = r;
	nb_tensor *n = nb_tensor_randn(NB_F64, NB_SHAPE(3, 5), &r, 2.0, 0.5);
	nb_tensor *u = nb_tensor_rand(NB_F64, NB_SHAPE(2000), &r, -1.0, 3.0);
	cr_assert(n && u, "%s", nb_last_error());
	/* Exactly mean + std * the generator's normals, then uniforms. */
	for (size_t i = 0; i < 15; i++)
		cr_expect_eq(nb_tensor_get(n, i), 2.0 + 0.5 * nb_rng_normal(&r2),
		             "randn[%zu]", i);
	for (size_t i = 0; i < 2000; i++) {
		double v = nb_tensor_get(u, i);
		cr_expect_eq(v, -1.0 + 4.0 * nb_rng_uniform(&r2));
		cr_expect(v >= -1.0 && v < 3.0, "rand[%zu] = %g", i, v);
	}
	nb_tensor *f = nb_tensor_rand(NB_F32, NB_SHAPE(4), &r, 0, 1);
	cr_assert_not_null(f);
	cr_expect_eq(nb_tensor_dtype(f), NB_F32);

	cr_expect_null(nb_tensor_randn(NB_F64, NB_SHAPE(2), NULL, 0, 1));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_tensor_rand(NB_F64, NB_SHAPE(2), NULL, 0, 1));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	cr_expect_null(nb_tensor_randn(NB_F64, NB_SHAPE(-2), &r, 0, 1));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	nb_tensor_free(n);
	nb_tensor_free(u);
	nb_tensor_free(f);
}

Test(tensor, from_data_copy_owns_a_copy)
{
	double buf[6] = {1, 2, 3, 4, 5, 6};
	nb_tensor *t = nb_tensor_from_data(NB_F64, NB_SHAPE(2, 3), buf, NB_COPY);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_neq(nb_tensor_data(t), (void *)buf);
	buf[0] = 100; /* the caller's buffer is the caller's */
	cr_expect_eq(nb_tensor_get(t, 0), 1);
	nb_tensor_set(t, 1, -2);
	cr_expect_eq(buf[1], 2);
	expect_values(t, (double[]){1, -2, 3, 4, 5, 6}, 6);
	nb_tensor_free(t);
	cr_expect_eq(buf[2], 3);
}

Test(tensor, from_data_borrow_shares_the_buffer)
{
	float *buf = malloc(4 * sizeof *buf);
	cr_assert_not_null(buf);
	for (int i = 0; i < 4; i++)
		buf[i] = (float)i;
	nb_tensor *t = nb_tensor_from_data(NB_F32, NB_SHAPE(4), buf, NB_BORROW);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_data(t), (void *)buf);
	buf[2] = 42;
	cr_expect_eq(nb_tensor_get(t, 2), 42);
	nb_tensor_set(t, 3, -1);
	cr_expect_eq(buf[3], -1);
	/* Freeing the tensor leaves the buffer alone (valgrind would report
	 * a double free below otherwise). */
	nb_tensor_free(t);
	cr_expect_eq(buf[2], 42);
	free(buf);
}

Test(tensor, from_data_errors)
{
	cr_expect_null(nb_tensor_from_data(NB_F64, NB_SHAPE(2), NULL, NB_COPY));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
	double v[2] = {0};
	cr_expect_null(nb_tensor_from_data(NB_F64, NB_SHAPE(2, -1), v, NB_COPY));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
}

Test(tensor, clone_is_a_deep_persistent_copy)
{
	nb_tensor *a = nbt_tensor(NB_F32, NB_SHAPE(2, 2),
	                          (double[]){1, 2, 3, 4});
	nb_tensor_set_requires_grad(a, true);
	nb_tensor_set_name(a, "a");
	nb_tensor *c = nb_tensor_clone(a);
	cr_assert_not_null(c);
	cr_expect_neq(nb_tensor_data(c), nb_tensor_data(a));
	cr_expect_eq(nb_tensor_dtype(c), NB_F32);
	cr_expect_eq(nb_tensor_ndim(c), 2);
	expect_values(c, (double[]){1, 2, 3, 4}, 4);
	/* Values only: no gradient, no history. */
	cr_expect_not(nb_tensor_requires_grad(c));
	cr_expect_null(nb_tensor_grad(c));
	nb_tensor_set(a, 0, 9);
	cr_expect_eq(nb_tensor_get(c, 0), 1);
	nb_tensor_free(a);
	cr_expect_eq(nb_tensor_get(c, 3), 4);
	nb_tensor_free(c);

	cr_expect_null(nb_tensor_clone(NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
}

Test(tensor, clone_keeps_a_graph_value_past_reset)
{
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_tensor *x = nb_graph_from_data(g, NB_F64, NB_SHAPE(3),
	                                  (double[]){1, 2, 3});
	nb_tensor *y = nb_mul(g, x, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect(nb_tensor_is_graph(y));
	nb_tensor *keep = nb_tensor_clone(y);
	cr_assert_not_null(keep);
	cr_expect_not(nb_tensor_is_graph(keep));
	nb_tensor_free(y); /* a graph tensor: left alone */
	nb_graph_reset(g);
	nb_tensor *z = nb_graph_tensor(g, NB_F64, NB_SHAPE(3));
	nb_tensor_fill(z, -7);
	expect_values(keep, (double[]){1, 4, 9}, 3);
	nb_tensor_free(keep);
	nb_graph_free(g);
}

Test(tensor, dim_counts_negative_indices_from_the_end)
{
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3, 4));
	cr_assert_not_null(t);
	cr_expect_eq(nb_tensor_dim(t, 0), 2);
	cr_expect_eq(nb_tensor_dim(t, 2), 4);
	cr_expect_eq(nb_tensor_dim(t, -1), 4);
	cr_expect_eq(nb_tensor_dim(t, -2), 3);
	cr_expect_eq(nb_tensor_dim(t, -3), 2);
	cr_expect_eq(nb_tensor_dim(t, -4), -1);
	cr_expect_eq(nb_tensor_dim(t, 3), -1);
	cr_expect_eq(nb_tensor_dim(t, 1000), -1);
	cr_expect_eq(nb_tensor_dim(t, -1000), -1);
	nb_tensor_free(t);
}

Test(tensor, rank_zero_is_a_scalar)
{
	nb_tensor *s = nb_tensor_full(NB_F64, 0, NULL, 3.5);
	cr_assert_not_null(s, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_ndim(s), 0);
	cr_expect_eq(nb_tensor_numel(s), 1);
	cr_expect_eq(nb_tensor_item(s), 3.5);
	cr_expect_eq(nb_tensor_dim(s, 0), -1);
	cr_expect_eq(nb_tensor_dim(s, -1), -1);
	char buf[16];
	cr_expect_str_eq(nb_shape_str(0, NULL, buf, sizeof buf), "[]");
	nb_tensor_free(s);
}

Test(tensor, rank_eight_works_and_rank_nine_is_refused)
{
	int64_t shape[NB_MAX_DIMS + 1] = {2, 1, 2, 1, 2, 1, 2, 3, 2};
	nb_tensor *t = nb_tensor_ones(NB_F32, NB_MAX_DIMS, shape);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_ndim(t), 8);
	cr_expect_eq(nb_tensor_numel(t), 48);
	cr_expect_eq(nb_tensor_dim(t, -1), 3);
	cr_expect_eq(nb_tensor_dim(t, -8), 2);
	nb_tensor_free(t);

	cr_expect_null(nb_tensor_zeros(NB_F32, NB_MAX_DIMS + 1, shape));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "rank 9") != NULL, "%s",
	          nb_last_error());
	cr_expect_null(nb_tensor_zeros(NB_F32, -1, shape));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	cr_expect_null(nb_tensor_zeros(NB_F32, 2, NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
}

Test(tensor, negative_dims_are_refused)
{
	cr_expect_null(nb_tensor_zeros(NB_F32, NB_SHAPE(3, -1)));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "[3, -1]") != NULL, "%s",
	          nb_last_error());
	cr_expect_null(nb_tensor_ones(NB_F64, NB_SHAPE(-5)));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
}

Test(tensor, zero_sized_dims_are_fine)
{
	nb_tensor *t = nb_tensor_ones(NB_F32, NB_SHAPE(3, 0, 2));
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_numel(t), 0);
	cr_expect(isnan(nb_tensor_item(t)));
	cr_expect(isnan(nb_tensor_get(t, 0)));
	cr_expect_eq(nb_tensor_fill(t, 2), NB_OK);
	nb_tensor_free(t);
}

Test(tensor, huge_shapes_are_enomem_not_a_crash)
{
	/* Element counts that overflow size_t. */
	int64_t big = INT64_MAX;
	cr_expect_null(nb_tensor_zeros(NB_F64, 1, &big));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	cr_expect_null(nb_tensor_zeros(NB_F32, NB_SHAPE(1LL << 40, 1LL << 40)));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	cr_expect(strstr(nb_last_error(), "too large") != NULL, "%s",
	          nb_last_error());
	cr_expect_null(nb_tensor_ones(NB_F32, NB_SHAPE(1LL << 62, 4, 4)));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	/* A size that fits size_t but no memory: malloc itself fails. */
	cr_expect_null(nb_tensor_zeros(NB_F64, NB_SHAPE(1LL << 58)));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	double one = 1;
	cr_expect_null(nb_tensor_from_data(NB_F64, NB_SHAPE(1LL << 58), &one,
	                                   NB_COPY));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	/* Empty with a large other dimension: no memory needed. */
	nb_tensor *e = nb_tensor_zeros(NB_F64, NB_SHAPE(0, 1LL << 40));
	cr_expect_not_null(e, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_numel(e), 0);
	nb_tensor_free(e);

	/* The same through a graph. */
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	cr_expect_null(nb_graph_tensor(g, NB_F64, NB_SHAPE(1LL << 58)));
	cr_expect_eq(nb_graph_status(g), NB_ENOMEM);
	nb_graph_clear_error(g);
	cr_expect_null(nb_graph_tensor(g, NB_F64, 1, &big));
	cr_expect_eq(nb_graph_status(g), NB_ENOMEM);
	nb_graph_free(g);
}

Test(tensor, get_set_item_copy_fill)
{
	nb_tensor *t = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 2));
	nb_tensor *u = nb_tensor_zeros(NB_F64, NB_SHAPE(4));
	nb_tensor *v = nb_tensor_zeros(NB_F32, NB_SHAPE(4));
	nb_tensor *w = nb_tensor_zeros(NB_F64, NB_SHAPE(5));
	cr_assert(t && u && v && w);
	for (size_t i = 0; i < 4; i++)
		nb_tensor_set(t, i, (double)i + 0.5);
	nb_tensor_set(t, 4, 99); /* out of range: ignored */
	cr_expect(isnan(nb_tensor_get(t, 4)));
	cr_expect(isnan(nb_tensor_item(t)));
	cr_expect(isnan(nb_tensor_item(NULL)));
	cr_expect_eq(((const double *)nb_tensor_cdata(t))[3], 3.5);

	/* Copy: same numel and dtype, shapes may differ. */
	cr_expect_eq(nb_tensor_copy(u, t), NB_OK);
	expect_values(u, (double[]){0.5, 1.5, 2.5, 3.5}, 4);
	cr_expect_eq(nb_tensor_copy(v, t), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "float64") != NULL);
	cr_expect_eq(nb_tensor_copy(w, t), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "[5]") != NULL, "%s",
	          nb_last_error());
	cr_expect_eq(nb_tensor_copy(NULL, t), NB_EINVAL);
	cr_expect_eq(nb_tensor_copy(u, NULL), NB_EINVAL);

	cr_expect_eq(nb_tensor_fill(v, 0.25), NB_OK);
	expect_values(v, (double[]){0.25, 0.25, 0.25, 0.25}, 4);
	cr_expect_eq(nb_tensor_fill(NULL, 1), NB_EINVAL);

	/* float32 storage rounds. */
	nb_tensor_set(v, 0, 0.1);
	cr_expect_eq(nb_tensor_get(v, 0), (double)0.1f);
	nb_tensor_free(t);
	nb_tensor_free(u);
	nb_tensor_free(v);
	nb_tensor_free(w);
}

Test(tensor, free_null_is_a_noop)
{
	nb_tensor_free(NULL);
}

Test(tensor, requires_grad_of_persistent_tensors)
{
	nb_tensor *f = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	nb_tensor *i = nb_tensor_zeros(NB_I64, NB_SHAPE(2));
	cr_assert(f && i);
	cr_expect_not(nb_tensor_requires_grad(f));
	cr_expect_eq(nb_tensor_set_requires_grad(f, true), NB_OK);
	cr_expect(nb_tensor_requires_grad(f));
	cr_expect_eq(nb_tensor_set_requires_grad(f, false), NB_OK);
	cr_expect_not(nb_tensor_requires_grad(f));

	/* int64 cannot require grad; turning it off is fine. */
	cr_expect_eq(nb_tensor_set_requires_grad(i, true), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "int64") != NULL);
	cr_expect_not(nb_tensor_requires_grad(i));
	cr_expect_eq(nb_tensor_set_requires_grad(i, false), NB_OK);

	cr_expect_eq(nb_tensor_set_requires_grad(NULL, true), NB_EINVAL);
	cr_expect_not(nb_tensor_requires_grad(NULL));
	cr_expect_null(nb_tensor_grad(NULL));
	nb_tensor_zero_grad(NULL);
	nb_tensor_zero_grad(f); /* no gradient yet: no-op */
	cr_expect_null(nb_tensor_grad(f));
	nb_tensor_free(f);
	nb_tensor_free(i);
}

Test(tensor, requires_grad_cannot_be_set_on_op_results)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *w = nb_tensor_ones(NB_F64, NB_SHAPE(3));
	nb_tensor *c = nb_tensor_ones(NB_F64, NB_SHAPE(3));
	cr_assert(g && w && c);
	nb_tensor_set_requires_grad(w, true);

	nb_tensor *y = nb_mul(g, w, c);
	cr_assert_not_null(y);
	cr_expect(nb_tensor_requires_grad(y));
	cr_expect_eq(nb_tensor_set_requires_grad(y, false), NB_ESTATE);
	cr_expect(nb_tensor_requires_grad(y));
	cr_expect(strstr(nb_last_error(), "mul") != NULL, "%s",
	          nb_last_error());

	/* No input requires grad: the op decided "no", and that stands. */
	nb_tensor *z = nb_mul(g, c, c);
	cr_assert_not_null(z);
	cr_expect_not(nb_tensor_requires_grad(z));
	cr_expect_eq(nb_tensor_set_requires_grad(z, true), NB_ESTATE);
	cr_expect_not(nb_tensor_requires_grad(z));

	/* Also for results made with grad mode off (not on the tape). */
	bool was = nb_graph_set_grad_enabled(g, false);
	nb_tensor *q = nb_mul(g, w, c);
	nb_graph_set_grad_enabled(g, was);
	cr_assert_not_null(q);
	cr_expect_not(nb_tensor_requires_grad(q));
	cr_expect_eq(nb_tensor_set_requires_grad(q, true), NB_ESTATE);
	cr_expect_not(nb_tensor_requires_grad(q));

	/* A graph leaf (nb_graph_tensor) is not an op result. */
	nb_tensor *leaf = nb_graph_tensor(g, NB_F64, NB_SHAPE(3));
	cr_expect_eq(nb_tensor_set_requires_grad(leaf, true), NB_OK);
	cr_expect(nb_tensor_requires_grad(leaf));
	nb_tensor_free(w);
	nb_tensor_free(c);
	nb_graph_free(g);
}

Test(tensor, names_are_copied)
{
	char name[16] = "weight";
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	cr_assert_not_null(t);
	cr_expect_null(nb_tensor_name(t));
	cr_expect_eq(nb_tensor_set_name(t, name), NB_OK);
	strcpy(name, "changed");
	cr_expect_str_eq(nb_tensor_name(t), "weight");
	cr_expect_eq(nb_tensor_set_name(t, "bias"), NB_OK);
	cr_expect_str_eq(nb_tensor_name(t), "bias");
	cr_expect_eq(nb_tensor_set_name(t, NULL), NB_OK);
	cr_expect_null(nb_tensor_name(t));
	cr_expect_eq(nb_tensor_set_name(t, "again"), NB_OK);
	nb_tensor_free(t); /* frees the name (valgrind checks) */

	cr_expect_eq(nb_tensor_set_name(NULL, "x"), NB_EINVAL);
	cr_expect_null(nb_tensor_name(NULL));

	/* Graph tensors take names too; reset releases them. */
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g);
	nb_tensor *h = nb_graph_tensor(g, NB_F32, NB_SHAPE(2));
	cr_expect_eq(nb_tensor_set_name(h, name), NB_OK);
	cr_expect_str_eq(nb_tensor_name(h), "changed");
	cr_expect_eq(nb_tensor_set_name(h, "h2"), NB_OK);
	cr_expect_str_eq(nb_tensor_name(h), "h2");
	nb_graph_free(g);
}

Test(tensor, shape_str)
{
	char buf[64];
	int64_t s[] = {3, 4};
	cr_expect_str_eq(nb_shape_str(2, s, buf, sizeof buf), "[3, 4]");
	cr_expect_str_eq(nb_shape_str(1, s, buf, sizeof buf), "[3]");
	cr_expect_str_eq(nb_shape_str(0, s, buf, sizeof buf), "[]");
	int64_t big[] = {-1, 1234567890123LL, 0};
	cr_expect_str_eq(nb_shape_str(3, big, buf, sizeof buf),
	                 "[-1, 1234567890123, 0]");
	cr_expect_eq(nb_shape_str(2, s, buf, sizeof buf), buf);

	/* Truncation: always NUL-terminated, never past n. */
	char small[8];
	memset(small, 'x', sizeof small);
	nb_shape_str(3, big, small, 5);
	cr_expect_eq(strlen(small), 4);
	cr_expect_eq(small[5], 'x');
	cr_expect(!strncmp(small, "[-1,", 4));
	nb_shape_str(2, s, small, 1);
	cr_expect_str_eq(small, "");
	small[0] = 'q';
	nb_shape_str(2, s, small, 0); /* n == 0: nothing written */
	cr_expect_eq(small[0], 'q');
	nb_shape_str(2, s, small, 7);
	cr_expect_str_eq(small, "[3, 4]");
	nb_shape_str(2, s, small, 6);
	cr_expect_str_eq(small, "[3, 4");
}

Test(tensor, status_names)
{
	for (int s = 0; s < NB_STATUS_COUNT; s++) {
		cr_expect_not_null(nb_strerror((nb_status)s));
		cr_expect_str_neq(nb_strerror((nb_status)s), "unknown status");
	}
	cr_expect_str_eq(nb_strerror(NB_OK), "success");
	cr_expect_str_eq(nb_strerror(NB_STATUS_COUNT), "unknown status");
	cr_expect_str_eq(nb_strerror((nb_status)-1), "unknown status");
}

Test(tensor, last_error_is_not_cleared_by_success)
{
	cr_expect_null(nb_tensor_zeros(NB_F32, NB_SHAPE(-1)));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	nb_tensor *t = nb_tensor_zeros(NB_F32, NB_SHAPE(1));
	cr_assert_not_null(t);
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "negative") != NULL);
	nb_tensor_free(t);
}
