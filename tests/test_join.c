/*
 * test_join.c - the shape and joining ops of issue 15 (lib/ops/view.c,
 * lib/ops/pad.c, lib/ops/join.c, and lib/ops/shape.c's dtypes) beyond
 * the PyTorch references of tests/ref/spec/join.py: int64 and bool
 * inputs through reshape, permute and transpose; errors that name the
 * op and the shapes; bounds that would overflow; many inputs to cat;
 * results of split that receive no gradient; gradients summed by
 * expand and repeat.
 */
#include <stdint.h>
#include "support/helpers.h"

static nb_graph *g;

static void setup(void)
{
	g = nb_graph_new();
	cr_assert_not_null(g);
}

static void teardown(void)
{
	nb_graph_free(g);
}

TestSuite(join, .init = setup, .fini = teardown);

/* y failed with code, and the graph's message holds each of subs. */
static void expect_fail(const nb_tensor *y, nb_status code,
                        const char *const *subs, int n)
{
	cr_expect_null(y);
	cr_expect_eq(nb_graph_status(g), code, "status %s, want %s: %s",
	             nb_strerror(nb_graph_status(g)), nb_strerror(code),
	             nb_graph_errmsg(g));
	for (int i = 0; i < n; i++)
		cr_expect(strstr(nb_graph_errmsg(g), subs[i]) != NULL,
		          "message '%s' lacks '%s'", nb_graph_errmsg(g), subs[i]);
	nb_graph_reset(g);
}
#define FAILS(y, code, ...)                                                  \
	expect_fail((y), (code), (const char *const[]){__VA_ARGS__},         \
	            (int)(sizeof((const char *const[]){__VA_ARGS__}) /       \
	                  sizeof(const char *)))

/* The bug: reshape (and permute, transpose) refused int64. */
Test(join, reshape_permute_transpose_take_int64_and_bool)
{
	nb_tensor *i = nbt_tensor(NB_I64, NB_SHAPE(2, 3),
	                          (double[]){0, 1, 2, 3, 4, 5});
	nb_tensor *b = nbt_tensor(NB_BOOL, NB_SHAPE(2, 3),
	                          (double[]){1, 0, 0, 1, 1, 0});
	nb_tensor *r = nb_reshape(g, i, 2, (int64_t[]){3, -1});
	cr_assert_not_null(r, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_dtype(r), NB_I64);
	cr_expect_eq(nb_tensor_dim(r, 0), 3);
	nb_tensor *t = nb_transpose(g, i, 0, 1);
	cr_assert_not_null(t, "%s", nb_graph_errmsg(g));
	nbt_expect_close(t, (double[]){0, 3, 1, 4, 2, 5}, 6, 0, 0, "int64ᵀ");
	nb_tensor *p = nb_permute(g, b, (int[]){1, 0});
	cr_assert_not_null(p, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_dtype(p), NB_BOOL);
	nbt_expect_close(p, (double[]){1, 1, 0, 1, 0, 0}, 6, 0, 0, "boolᵀ");
	cr_expect(!nb_tensor_requires_grad(p));
	nb_tensor_free(i);
	nb_tensor_free(b);
}

Test(join, errors_name_the_op_and_the_shapes)
{
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3));
	nb_tensor *y = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 4));
	nb_tensor *s = nb_tensor_zeros(NB_F32, 0, NULL);
	nb_tensor *l = nb_tensor_zeros(NB_I64, NB_SHAPE(2, 3));
	FAILS(nb_select(g, x, 1, 3), NB_EINVAL, "select", "index 3",
	      "size 3", "[2, 3]");
	FAILS(nb_select(g, x, 1, -4), NB_EINVAL, "select", "index -4");
	FAILS(nb_select(g, x, 2, 0), NB_EINVAL, "select", "axis 2");
	FAILS(nb_cat(g, 2, (nb_tensor *[]){x, y}, 0), NB_ESHAPE, "cat",
	      "[2, 3]", "[2, 4]", "except along axis 0");
	FAILS(nb_cat(g, 2, (nb_tensor *[]){x, s}, 0), NB_ESHAPE, "cat",
	      "scalar");
	FAILS(nb_cat(g, 2, (nb_tensor *[]){x, l}, 0), NB_EDTYPE, "cat",
	      "int64");
	FAILS(nb_stack(g, 2, (nb_tensor *[]){x, y}, 0), NB_ESHAPE, "stack",
	      "[2, 3]", "[2, 4]");
	FAILS(nb_stack(g, 2, (nb_tensor *[]){x, x}, 3), NB_EINVAL, "stack",
	      "axis 3");
	FAILS(nb_expand(g, x, 2, (int64_t[]){4, 3}), NB_ESHAPE, "expand",
	      "size 4", "[2, 3]");
	FAILS(nb_expand(g, x, 1, (int64_t[]){3}), NB_EINVAL, "expand");
	FAILS(nb_expand(g, x, 3, (int64_t[]){-1, 2, 3}), NB_EINVAL,
	      "expand", "-1");
	FAILS(nb_pad(g, x, 2, (int64_t[]){3, 0}, NB_PAD_REFLECT, 0),
	      NB_ESHAPE, "pad", "reflect", "size 3", "[2, 3]");
	FAILS(nb_pad(g, x, 2, (int64_t[]){-2, -2}, NB_PAD_CONSTANT, 0),
	      NB_ESHAPE, "pad", "negative");
	FAILS(nb_pad(g, x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, NB_PAD_CONSTANT,
	             0), NB_EINVAL, "pad", "at most 2 axes");
	FAILS(nb_pad(g, l, 2, (int64_t[]){1, 1}, NB_PAD_CONSTANT, NAN),
	      NB_EINVAL, "pad", "int64");
	FAILS(nb_flatten(g, x, 1, 0), NB_EINVAL, "flatten", "start_dim");
	FAILS(nb_tril(g, s, 0), NB_ESHAPE, "tril", "2 axes", "[]");
	FAILS(nb_repeat(g, x, 1, (int64_t[]){2}), NB_EINVAL, "repeat");
	FAILS(nb_flip(g, x, 2, (int64_t[]){0, -2}), NB_EINVAL, "flip",
	      "twice");
	FAILS(nb_squeeze(g, x, 1, (int64_t[]){2}), NB_EINVAL, "squeeze",
	      "axis 2");
	nb_tensor *outs[8];
	cr_expect_eq(nb_split(g, x, 2, (int64_t[]){1, 1}, 1, outs, 8), -1);
	FAILS(NULL, NB_EINVAL, "split", "summing to", "[2, 3]");
	/* a section past the end of an empty axis (every size was read,
	 * not only those up to the first that did not fit) */
	nb_tensor *z = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 0));
	cr_expect_eq(nb_split(g, z, 3, (int64_t[]){1, 3, 2}, -1, outs, 8), -1);
	FAILS(NULL, NB_EINVAL, "split", "summing to", "[2, 0]");
	nb_tensor_free(z);
	cr_expect_eq(nb_split(g, x, 1, (int64_t[]){0}, 1, outs, 8), -1);
	FAILS(NULL, NB_EINVAL, "split", "split size 0");
	nb_tensor *v = nb_tensor_zeros(NB_F32, NB_SHAPE(65));
	cr_expect_eq(nb_split(g, v, 1, (int64_t[]){1}, 0, outs, 8), -1);
	FAILS(NULL, NB_EINVAL, "split", "65 pieces");
	nb_tensor *e = nb_tensor_zeros(NB_F32, NB_SHAPE(0));
	cr_expect_eq(nb_chunk(g, e, 65, 0, outs, 8), -1);
	FAILS(NULL, NB_EINVAL, "chunk", "65 pieces");
	nb_tensor *r8 = nb_tensor_zeros(NB_F32, NB_SHAPE(1, 1, 1, 1, 1, 1,
	                                                   1, 1));
	FAILS(nb_unsqueeze(g, r8, 0), NB_ESHAPE, "unsqueeze", "rank 9");
	FAILS(nb_stack(g, 1, &r8, 0), NB_ESHAPE, "stack", "rank 9");
	/* split takes one input, cat at least one */
	FAILS(nb_call(g, "split", 2, (nb_tensor *[]){x, x},
	              "split_size_or_sections=1"), NB_EINVAL, "split",
	      "takes 1 inputs, got 2");
	FAILS(nb_cat(g, 0, (nb_tensor *[]){x}, 0), NB_EINVAL, "cat",
	      "at least 1");
	nb_tensor *fs[] = {x, y, s, l, v, e, r8};
	for (size_t i = 0; i < sizeof fs / sizeof *fs; i++)
		nb_tensor_free(fs[i]);
}

/* Bounds at the ends of int64 are clamped or refused, never overflow
 * (UBSan runs this). */
Test(join, extreme_bounds)
{
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(2, 3),
	                          (double[]){0, 1, 2, 3, 4, 5});
	nb_tensor *y = nb_slice(g, x, 1, INT64_MIN, INT64_MAX, INT64_MAX);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nbt_expect_close(y, (double[]){0, 3}, 2, 0, 0, "x[:, ::huge]");
	y = nb_slice(g, x, -1, INT64_MAX, INT64_MIN, 1);
	cr_assert_not_null(y);
	cr_expect_eq(nb_tensor_numel(y), 0);
	y = nb_tril(g, x, INT64_MIN);
	nbt_expect_close(y, (double[]){0, 0, 0, 0, 0, 0}, 6, 0, 0, "tril");
	y = nb_triu(g, x, INT64_MIN);
	nbt_expect_close(y, (double[]){0, 1, 2, 3, 4, 5}, 6, 0, 0, "triu");
	y = nb_tril(g, x, INT64_MAX);
	nbt_expect_close(y, (double[]){0, 1, 2, 3, 4, 5}, 6, 0, 0, "tril");
	FAILS(nb_select(g, x, 0, INT64_MIN), NB_EINVAL, "select");
	FAILS(nb_repeat(g, x, 2, (int64_t[]){INT64_MAX, 2}), NB_ESHAPE,
	      "repeat", "too long");
	FAILS(nb_pad(g, x, 2, (int64_t[]){INT64_MAX, 1}, NB_PAD_CONSTANT, 0),
	      NB_ESHAPE, "pad", "too large");
	FAILS(nb_expand(g, x, 3, (int64_t[]){INT64_MAX / 2, 2, 3}), NB_ENOMEM,
	      "too large");
	nb_tensor_free(x);
}

/* Any number of inputs: 300 vectors joined, each gradient its slab. */
Test(join, cat_of_many_inputs)
{
	enum { N = 300 };
	nb_tensor *xs[N];
	for (int i = 0; i < N; i++) {
		xs[i] = nbt_tensor(NB_F64, NB_SHAPE(2),
		                   (double[]){i, -i});
		nb_tensor_set_requires_grad(xs[i], true);
	}
	nb_tensor *y = nb_cat(g, N, xs, 0);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_tensor_dim(y, 0), 2 * N);
	cr_expect_eq(nb_tensor_get(y, 2 * 123 + 1), -123);
	nb_tensor *w = nb_tensor_zeros(NB_F64, NB_SHAPE(2 * N));
	for (int i = 0; i < 2 * N; i++)
		nb_tensor_set(w, (size_t)i, i);
	nb_tensor *loss = nb_sum(g, nb_mul(g, y, w), 0, NULL, false);
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_get(nb_tensor_grad(xs[77]), 1), 155);
	nb_tensor *s = nb_stack(g, N, xs, 1);
	cr_assert_not_null(s, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_dim(s, 1), N);
	cr_expect_eq(nb_tensor_get(s, N + 5), -5);
	for (int i = 0; i < N; i++)
		nb_tensor_free(xs[i]);
	nb_tensor_free(w);
}

/* Pieces nothing uses get zeros; int64 pieces need no gradient. */
Test(join, split_gradient_of_unused_pieces)
{
	nb_tensor *x = nbt_tensor(NB_F32, NB_SHAPE(5),
	                          (double[]){1, 2, 3, 4, 5});
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *outs[3];
	cr_assert_eq(nb_chunk(g, x, 3, 0, outs, 3), 3, "%s",
	             nb_graph_errmsg(g));
	nbt_expect_close(outs[2], (double[]){5}, 1, 0, 0, "last piece");
	nb_tensor *loss = nb_sum(g, nb_square(g, outs[1]), 0, NULL, false);
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	nbt_expect_close(nb_tensor_grad(x), (double[]){0, 0, 6, 8, 0}, 5, 0, 0,
	                 "dx");
	nb_graph_reset(g);
	nb_tensor *i = nbt_tensor(NB_I64, NB_SHAPE(4), (double[]){7, 8, 9,
	                                                           10});
	cr_assert_eq(nb_split(g, i, 2, (int64_t[]){3, 1}, -1, outs, 1), 2);
	cr_expect_eq(nb_tensor_dtype(outs[0]), NB_I64);
	cr_expect(!nb_tensor_requires_grad(outs[0]));
	nbt_expect_close(outs[0], (double[]){7, 8, 9}, 3, 0, 0, "int64 piece");
	nb_tensor_free(x);
	nb_tensor_free(i);
}

/* expand and repeat: every copy's gradient adds up in the source. */
Test(join, expand_and_repeat_sum_gradients)
{
	nb_tensor *x = nbt_tensor(NB_F32, NB_SHAPE(2, 1), (double[]){1, 2});
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *e = nb_expand(g, x, 3, (int64_t[]){3, -1, 4});
	nb_tensor *r = nb_repeat(g, x, 2, (int64_t[]){2, 5});
	cr_assert(e && r, "%s", nb_graph_errmsg(g));
	nb_tensor *loss = nb_add(g, nb_sum(g, e, 0, NULL, false),
	                         nb_sum(g, r, 0, NULL, false));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s", nb_last_error());
	nbt_expect_close(nb_tensor_grad(x), (double[]){22, 22}, 2, 0, 0, "dx");
	nb_tensor_free(x);
}

/* Bool and int64 through the copying ops that have no view: pad's
 * fill, tril's zeros. */
Test(join, pad_and_tril_fill_any_dtype)
{
	nb_tensor *b = nbt_tensor(NB_BOOL, NB_SHAPE(2, 2),
	                          (double[]){1, 1, 1, 1});
	nb_tensor *p = nb_pad(g, b, 2, (int64_t[]){1, 0}, NB_PAD_CONSTANT, 0);
	cr_assert_not_null(p, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_dtype(p), NB_BOOL);
	nbt_expect_close(p, (double[]){0, 1, 1, 0, 1, 1}, 6, 0, 0, "pad");
	nb_tensor *t = nb_triu(g, b, 1);
	nbt_expect_close(t, (double[]){0, 1, 0, 0}, 4, 0, 0, "triu");
	nb_tensor *i = nbt_tensor(NB_I64, NB_SHAPE(3), (double[]){-5, 6,
	                                                           7});
	p = nb_pad(g, i, 2, (int64_t[]){2, 1}, NB_PAD_REFLECT, 0);
	cr_assert_not_null(p, "%s", nb_graph_errmsg(g));
	nbt_expect_close(p, (double[]){7, 6, -5, 6, 7, 6}, 6, 0, 0, "reflect");
	p = nb_pad(g, i, 2, (int64_t[]){1, 2}, NB_PAD_REPLICATE, 0);
	nbt_expect_close(p, (double[]){-5, -5, 6, 7, 7, 7}, 6, 0, 0,
	                 "replicate");
	nb_tensor_free(b);
	nb_tensor_free(i);
}
