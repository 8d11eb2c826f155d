/*
 * test_edge.c - hostile shapes and values through every registered op.
 *
 * The ops are not listed here: each test walks the registry and builds
 * the inputs of every op from its gradcheck recipe (nb_op_test.cases,
 * read by recipe.h), then changes them:
 *  - zero-size dimensions: every op either works, with a defined result
 *    (an empty sum is 0, an empty mean NaN, as PyTorch), or fails with a
 *    clean error; forward and backward, both dtypes, both modes;
 *  - extreme values (1e38, denormals 1e-40 and 4.9e-324, 1e308, zeros,
 *    NaN, infinities) in every float input: no crash, no undefined
 *    behaviour (the suite also runs under UBSan and valgrind);
 *  - NaN and infinities where PyTorch has them: tests/ref/edge/
 *    nonfinite.json (tests/ref/gen_edge_ref.py) records, element by element,
 *    where PyTorch's outputs and gradients are NaN or infinite when one
 *    input element is, and nabla's must be the same;
 *  - rank-8 inputs, and shapes of 2^31 and more elements: refused or
 *    handled without integer overflow (never allocated: the allocator
 *    of faultalloc.h refuses anything above 1 GiB).
 * Every test counts the blocks nabla holds and expects none left over.
 */
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
	live0 = fa.live;
}

static void teardown(void)
{
	fa_uninstall();
}

TestSuite(edge, .init = setup, .fini = teardown);

static const nb_dtype dtypes[] = {NB_F32, NB_F64};

/* What happened to one run. */
typedef struct outcome {
	int ran, refused;
} outcome;

/*
 * Runs op on in[] (case c's inputs and attributes): forward, then
 * backward when the result requires grad (all-ones output gradient).
 * Either forward fails cleanly (an error code other than NB_ENOMEM, a
 * message naming the op), or forward and backward both succeed.
 */
static void run_one(const nb_op *op, const rc_case *c, nb_tensor **in,
                    bool training, const char *what, outcome *o)
{
	nb_graph *g = nb_graph_new();
	cr_assert_not_null(g, "%s", nb_last_error());
	nb_graph_set_training(g, training);
	nb_tensor *y = nb_call(g, op->name, c->n_in, in, c->attrs);
	if (!y) {
		nb_status st = nb_graph_status(g);
		cr_expect(st != NB_OK && st != NB_ENOMEM, "%s: %s: %s", op->name,
		          what, nb_strerror(st));
		cr_expect(strstr(nb_graph_errmsg(g), op->name) != NULL,
		          "%s: %s: message '%s'", op->name, what,
		          nb_graph_errmsg(g));
		o->refused++;
		nb_graph_free(g);
		return;
	}
	size_t n = 1;
	for (int i = 0; i < nb_tensor_ndim(y); i++)
		n *= (size_t)nb_tensor_shape(y)[i];
	cr_expect_eq(nb_tensor_numel(y), n, "%s: %s", op->name, what);
	if (nb_tensor_requires_grad(y)) {
		nb_tensor *go = NULL;
		if (nb_tensor_numel(y) != 1) {
			go = nb_graph_tensor(g, nb_tensor_dtype(y), nb_tensor_ndim(y),
			                     nb_tensor_shape(y));
			cr_assert_not_null(go);
			nb_tensor_fill(go, 1.0);
		}
		nb_status st = nb_backward(y, go);
		cr_expect_eq(st, NB_OK, "%s: %s: backward: %s", op->name, what,
		             nb_last_error());
	}
	o->ran++;
	nb_graph_free(g);
}

/* Runs case c in both dtypes and both modes; checks for leaks. */
static void run_case_all(const nb_op *op, const rc_case *c, rc_fill_fn fill,
                         void *ud, const char *what, outcome *o)
{
	for (int d = 0; d < 2; d++)
		for (int mode = 0; mode < 2; mode++) {
			nb_tensor *in[NB_MAX_INPUTS];
			if (!rc_make_inputs(c, dtypes[d], fill, ud, in)) {
				/* A shape the tensor constructors refuse. */
				cr_expect(nb_last_status() != NB_OK);
				o->refused++;
				continue;
			}
			run_one(op, c, in, mode == 0, what, o);
			rc_free_inputs(c->n_in, in);
			cr_expect_eq(fa.live, live0, "%s: %s: %ld blocks leaked",
			             op->name, what, fa.live - live0);
		}
}

static const char *case_str(const rc_case *c, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = '\0';
	for (int i = 0; i < c->n_in && k < n; i++) {
		char s[96];
		k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? " " : "",
		                      nb_shape_str(c->in[i].ndim, c->in[i].shape,
		                                   s, sizeof s));
	}
	if (k < n && c->attrs[0])
		snprintf(buf + k, n - k, "|%s", c->attrs);
	return buf;
}

/* ---- zero-size dimensions ---- */

/*
 * Two ways to empty a case: every dimension equal to some size v made 0
 * (which keeps the inputs consistent: [4,5] [4]i5 gives [0,5] [0]), and
 * each single dimension of each input made 0 (mostly a shape error).
 */
Test(edge, zero_size_dimensions_through_every_op)
{
	outcome o = {0, 0};
	for (size_t k = 0; k < nb_op_count(); k++) {
		const nb_op *op = nb_op_at(k);
		rc_case cs[MAX_CASES];
		int nc = rc_parse(op, cs, MAX_CASES);
		cr_expect_gt(nc, 0, "%s: no recipe", op->name);
		for (int ci = 0; ci < nc; ci++) {
			for (int i = 0; i < cs[ci].n_in; i++)
				for (int d = 0; d < cs[ci].in[i].ndim; d++) {
					rc_case z = cs[ci];
					char what[256];
					int64_t v = z.in[i].shape[d];
					if (v == 0)
						continue;
					/* every dimension of size v */
					for (int q = 0; q < z.n_in; q++)
						for (int e = 0; e < z.in[q].ndim; e++)
							if (z.in[q].shape[e] == v)
								z.in[q].shape[e] = 0;
					run_case_all(op, &z, NULL, NULL,
					             case_str(&z, what, sizeof what), &o);
					/* this dimension only */
					z = cs[ci];
					z.in[i].shape[d] = 0;
					run_case_all(op, &z, NULL, NULL,
					             case_str(&z, what, sizeof what), &o);
				}
		}
	}
	cr_log_info("empty inputs: %d runs worked, %d refused cleanly", o.ran,
	            o.refused);
	cr_expect_gt(o.ran, o.refused / 4);
}

/* Runs op on one tensor x (persistent, requires grad); returns the
 * output's values as doubles in out (up to n) and x's gradient. */
static nb_tensor *apply1(nb_graph *g, const char *op, nb_tensor *x,
                         const char *attrs)
{
	nb_tensor *y = nb_call(g, op, 1, &x, attrs);
	cr_assert_not_null(y, "%s|%s: %s", op, attrs, nb_graph_errmsg(g));
	return y;
}

/* The values PyTorch gives for empty inputs. */
Test(edge, empty_results_are_pytorchs)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = dtypes[d];
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nb_tensor_zeros(dt, NB_SHAPE(0, 3));
		nb_tensor_set_requires_grad(x, true);
		/* sum of nothing is 0; mean of nothing NaN */
		nb_tensor *s = apply1(g, "sum", x, "");
		cr_expect_eq(nb_tensor_item(s), 0.0);
		nb_tensor *s0 = apply1(g, "sum", x, "axes=0");
		cr_expect_eq(nb_tensor_numel(s0), 3);
		for (size_t i = 0; i < 3; i++)
			cr_expect_eq(nb_tensor_get(s0, i), 0.0);
		cr_expect(isnan(nb_tensor_item(apply1(g, "mean", x, ""))));
		nb_tensor *m0 = apply1(g, "mean", x, "axes=0");
		for (size_t i = 0; i < 3; i++)
			cr_expect(isnan(nb_tensor_get(m0, i)));
		cr_expect_eq(nb_tensor_numel(apply1(g, "mean", x, "axes=1")), 0);
		/* the penalties of nothing are 0 */
		cr_expect_eq(nb_tensor_item(apply1(g, "l1_penalty", x, "")), 0.0);
		cr_expect_eq(nb_tensor_item(apply1(g, "l2_penalty", x, "")), 0.0);
		/* max of nothing is an error, as in PyTorch */
		cr_expect_null(nb_call(g, "max", 1, &x, ""));
		cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
		nb_graph_reset(g);
		cr_expect_eq(nb_tensor_numel(apply1(g, "max", x, "axes=1")), 0);
		/* backward through an empty mean: an empty gradient */
		nb_tensor *l = apply1(g, "sum", apply1(g, "exp", x, ""), "");
		cr_expect_eq(nb_backward(l, NULL), NB_OK, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_numel(nb_tensor_grad(x)), 0);
		nb_graph_reset(g);

		/* a product over an empty inner axis is zeros; linear gives
		 * the bias */
		nb_tensor *a = nb_tensor_zeros(dt, NB_SHAPE(2, 0));
		nb_tensor *b = nb_tensor_zeros(dt, NB_SHAPE(0, 3));
		nb_tensor *w = nb_tensor_zeros(dt, NB_SHAPE(3, 0));
		nb_tensor *bias = nbt_tensor(dt, NB_SHAPE(3),
		                             (double[]){1, 2, 3});
		nb_tensor_set_requires_grad(bias, true);
		nb_tensor *p = nb_matmul(g, a, b);
		cr_assert_not_null(p, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_numel(p), 6);
		for (size_t i = 0; i < 6; i++)
			cr_expect_eq(nb_tensor_get(p, i), 0.0);
		nb_tensor *lin = nb_linear(g, a, w, bias);
		cr_assert_not_null(lin, "%s", nb_graph_errmsg(g));
		nbt_expect_close(lin, (double[]){1, 2, 3, 1, 2, 3}, 6, 0, 0,
		                 "linear with no inputs");
		cr_expect_eq(nb_backward(nb_sum(g, lin, 0, NULL, false), NULL),
		             NB_OK);
		nbt_expect_close(nb_tensor_grad(bias), (double[]){2, 2, 2}, 3, 0,
		                 0, "bias gradient");
		nb_graph_reset(g);

		/* mean losses over no samples are NaN */
		nb_tensor *e = nb_tensor_zeros(dt, NB_SHAPE(0));
		cr_expect(isnan(nb_tensor_item(nb_mse_loss(g, e, e,
			NB_REDUCTION_MEAN))));
		nb_tensor *t = nb_tensor_zeros(NB_I64, NB_SHAPE(0));
		cr_expect(isnan(nb_tensor_item(nb_cross_entropy(g, x, t,
			NULL, -100, NB_REDUCTION_MEAN, 0))));
		cr_expect_eq(nb_graph_status(g), NB_OK, "%s", nb_graph_errmsg(g));

		nb_tensor *frees[] = {x, a, b, w, bias, e, t};
		for (size_t i = 0; i < sizeof frees / sizeof *frees; i++)
			nb_tensor_free(frees[i]);
		nb_graph_free(g);
		cr_expect_eq(fa.live, live0);
	}
}

/* ---- extreme values ---- */

typedef struct fill_spec {
	double v;
	int pattern; /* 0: every element v; 1: every other one */
} fill_spec;

static double fill_special(const rc_input *in, size_t i, void *ud)
{
	const fill_spec *f = ud;
	if (f->pattern == 1 && i % 2)
		return rc_default_fill(in, i);
	return f->v;
}

/*
 * Ops that refuse values outside their domain, as PyTorch raises
 * (binary_cross_entropy: input outside [0, 1], NaN included): for them
 * a refusal naming the op (run_one checks it) is the right outcome.
 */
static bool refuses_outside_domain(const char *op)
{
	static const char *const ops[] = {"binary_cross_entropy"};
	for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
		if (!strcmp(op, ops[i]))
			return true;
	return false;
}

Test(edge, extreme_values_through_every_op)
{
	static const double f32v[] = {
		1e38, -1e38, 3.4e38, 1e-38, -1e-38, 1e-40, -1e-40, 0.0, -0.0,
		NAN, INFINITY, -INFINITY,
	};
	static const double f64v[] = {
		1e308, -1e308, 1.7e308, 2.2e-308, 4.9e-324, -4.9e-324, 0.0,
		-0.0, NAN, INFINITY, -INFINITY,
	};
	outcome o = {0, 0};
	for (size_t k = 0; k < nb_op_count(); k++) {
		const nb_op *op = nb_op_at(k);
		rc_case cs[MAX_CASES];
		int nc = rc_parse(op, cs, MAX_CASES);
		for (int ci = 0; ci < nc; ci++)
			for (int d = 0; d < 2; d++) {
				const double *vals = d ? f64v : f32v;
				size_t nv = d ? sizeof f64v / sizeof *f64v
				              : sizeof f32v / sizeof *f32v;
				for (size_t vi = 0; vi < nv; vi++)
					for (int pat = 0; pat < 2; pat++) {
						fill_spec f = {vals[vi], pat};
						nb_tensor *in[NB_MAX_INPUTS];
						char what[300], cs_s[200];
						snprintf(what, sizeof what, "%s %s filled "
						         "with %g%s", case_str(&cs[ci], cs_s,
						         sizeof cs_s), nb_dtype_name(dtypes[d]),
						         f.v, pat ? " (every other)" : "");
						cr_assert(rc_make_inputs(&cs[ci], dtypes[d],
						                         fill_special, &f, in));
						outcome one = {0, 0};
						run_one(op, &cs[ci], in, true, what, &one);
						cr_expect(one.ran == 1 ||
						          refuses_outside_domain(op->name),
						          "%s: %s refused", op->name, what);
						o.ran += one.ran;
						rc_free_inputs(cs[ci].n_in, in);
						cr_expect_eq(fa.live, live0, "%s: %s: leak",
						             op->name, what);
					}
			}
	}
	cr_log_info("extreme values: %d runs", o.ran);
}

/* ---- NaN and infinities: the same places as PyTorch ---- */

/*
 * Where nabla's classes may differ from PyTorch's, and why.  Each entry
 * names an op, the input holding the special value (-1: any), the value
 * ("inf" covers both signs), the tensor compared and, optionally, a
 * substring of the case's attributes.  Everything else must match.
 */
static const struct tolerated {
	const char *op;
	int input;
	const char *value;
	const char *tensor;
	const char *attrs;
	const char *why;
	const char *name;  /* a prefix of the case's name, or NULL: any */
} tolerated[] = {
	{"batch_norm", 1, "inf", NULL, NULL, "infinite weight"},
	{"instance_norm", 1, "inf", NULL, NULL, "infinite weight"},
	{"group_norm", 1, "inf", NULL, NULL, "infinite weight"},
	{"layer_norm", 1, "inf", NULL, NULL, "infinite weight"},
	/* With an infinite weight both meet inf - inf, in different places:
	 * PyTorch folds the weight into the shift, x (w invstd) + (b - mean
	 * w invstd), and factors it out of the input gradient; nabla
	 * computes (x - mean) w invstd + b and sums w dy.  Neither result
	 * means anything. */
	{"hardswish", 0, "-inf", "output", NULL, "limit at -inf"},
	/* hardswish is 0 for every x <= -3, so nabla gives 0 at -inf;
	 * PyTorch's x relu6(x + 3) / 6 computes -inf * 0 = NaN. */
	{"softsign", 0, "inf", "gradient of input 0", NULL, "limit"},
	/* d/dx x / (1 + |x|) = 1 / (1 + |x|)^2 is 0 at +-inf; PyTorch
	 * differentiates the quotient as a composite and meets inf / inf. */
	{"cross_entropy", 0, NULL, "gradient of input 0", "ignore_index",
	 "ignored sample"},
	/* An ignored target contributes nothing, so nabla gives its row a
	 * zero gradient; PyTorch's log_softmax backward multiplies that
	 * row's NaN probabilities by the zero upstream gradient. */
	{"cross_entropy", 2, NULL, "gradient of input 0", "label_smoothing",
	 "ignored sample, smoothing weight"},
	/* The same rows with a NaN or infinite class weight and label
	 * smoothing: nabla gives an ignored row a zero gradient; PyTorch's
	 * smoothing term -sum_c w_c log_softmax_c is masked after the
	 * product, so its backward computes 0 * w_c = NaN for that row.
	 * The entry skips the whole gradient of these variants; its rows
	 * not ignored matched PyTorch when the entry was added. */
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "masked keys", "sdpa-all"},
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "masked keys", "sdpa-dead-row"},
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "masked keys", "sdpa-key-padding"},
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "masked keys", "sdpa-heads-key-padding"},
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "masked keys", "sdpa-boolmask"},
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "causally hidden keys", "sdpa-causal"},
	{"scaled_dot_product_attention", -1, NULL, "gradient", NULL,
	 "causally hidden keys", "sdpa-heads-causal-bias"},
	{"scaled_dot_product_attention_packed", -1, NULL, "gradient", NULL,
	 "masked keys", "sdpa-packed-key-padding"},
	{"scaled_dot_product_attention_packed", -1, NULL, "gradient", NULL,
	 "causally hidden keys", "sdpa-packed-heads-causal"},
	{"scaled_dot_product_attention_packed", -1, NULL, "gradient", NULL,
	 "causally hidden keys", "sdpa-packed-causal"},
	{"scaled_dot_product_attention_packed", -1, NULL, "gradient", NULL,
	 "causally hidden keys", "sdpa-packed-tiles"},
	/* With a mask, padding or causality, the keys a query cannot see
	 * take no part in nabla's fused kernel (the causal blocks are not
	 * even computed, as in PyTorch 2's fused kernels), while PyTorch's
	 * math reference computes every score and multiplies the masked
	 * zeros by NaN (0 x NaN = NaN) in its products q k^T and dS^T q.
	 * So once a NaN or an infinity is in q, k or v, which entries of the
	 * already non-finite gradients of q, k and v are NaN differs around
	 * the masked positions.  The outputs agree in every variant, and the
	 * gradients agree in every variant of the cases without masks (sdpa,
	 * sdpa-scale, sdpa-heads, sdpa-bias, sdpa-2d-ev, sdpa-tiles,
	 * sdpa-packed).  The packed op (q, k, v in one tensor) shares the
	 * kernels, so its masked and causal cases differ the same way. */
};

static bool is_tolerated(json_t *c, json_t *var, const char *tensor)
{
	const char *op = json_string_value(json_object_get(c, "op"));
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *attrs = json_string_value(json_object_get(c, "attrs"));
	const char *v = json_string_value(json_object_get(var, "value"));
	int k = (int)json_integer_value(json_object_get(var, "input"));
	for (size_t i = 0; i < sizeof tolerated / sizeof *tolerated; i++) {
		const struct tolerated *t = &tolerated[i];
		if (strcmp(t->op, op) || (t->input >= 0 && t->input != k) ||
		    (t->tensor && strncmp(t->tensor, tensor,
		                          strlen(t->tensor))) ||
		    (t->attrs && !strstr(attrs, t->attrs)) ||
		    (t->name && (!name || strncmp(t->name, name,
		                                  strlen(t->name)))))
			continue;
		if (!t->value || !strcmp(t->value, v) ||
		    (!strcmp(t->value, "inf") && strstr(v, "inf")))
			return true;
	}
	return false;
}

static char classify(double v)
{
	return isnan(v) ? 'n' : v == INFINITY ? '+' : v == -INFINITY ? '-'
	                                                              : 'f';
}

/*
 * The same variant in the case's other dtype, or NULL.  PyTorch is not
 * always consistent across dtypes (its vectorized float32 kernels of
 * elu, selu, celu and hardswish give a finite gradient at NaN, its
 * float64 ones NaN): either answer is then accepted.
 */
static json_t *other_dtype(json_t *c, json_t *var)
{
	const char *dt = json_string_value(json_object_get(var, "dtype"));
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(c, "variants"), i, o) {
		if (!strcmp(json_string_value(json_object_get(o, "dtype")), dt))
			continue;
		if (json_equal(json_object_get(o, "input"),
		               json_object_get(var, "input")) &&
		    json_equal(json_object_get(o, "value"),
		               json_object_get(var, "value")))
			return o;
	}
	return NULL;
}

/* Compares t's classes with want (or alt, when not NULL); returns 1
 * (and logs) on a mismatch. */
static int compare_classes(const char *name, const char *what,
                           const nb_tensor *t, const char *want,
                           const char *alt)
{
	size_t n = strlen(want);
	if (!t || nb_tensor_numel(t) != n) {
		cr_log_error("%s: %s: %zu elements, PyTorch %zu", name, what,
		             t ? nb_tensor_numel(t) : 0, n);
		return 1;
	}
	char got[n + 1];
	for (size_t i = 0; i < n; i++)
		got[i] = classify(nb_tensor_get(t, i));
	got[n] = '\0';
	if (!strcmp(got, want) || (alt && !strcmp(got, alt)))
		return 0;
	cr_log_error("%s: %s: %s, PyTorch %s", name, what, got, want);
	return 1;
}

static nb_tensor *tensor_of(json_t *o, nb_dtype dt)
{
	int64_t shape[NB_MAX_DIMS];
	json_t *s = json_object_get(o, "shape"), *v;
	size_t i;
	json_array_foreach(s, i, v)
		shape[i] = json_integer_value(v);
	nb_tensor *t = nb_tensor_zeros(dt, (int)json_array_size(s), shape);
	cr_assert_not_null(t);
	json_array_foreach(json_object_get(o, "data"), i, v)
		nb_tensor_set(t, i, json_number_value(v));
	return t;
}

typedef struct nf_count {
	int variants, failed, tolerated;
} nf_count;

/* Compares one tensor of a variant, unless tolerated. */
static int check_tensor(json_t *c, json_t *var, const char *name,
                        const char *what, const nb_tensor *t,
                        const char *want, const char *alt, nf_count *n)
{
	if (is_tolerated(c, var, what)) {
		n->tolerated++;
		return 0;
	}
	return compare_classes(name, what, t, want, alt);
}

/* The PyTorch classes of tensor `key` (in "grads" by index, or
 * "output") of variant var, or NULL. */
static const char *classes_of(json_t *var, const char *key, int i)
{
	if (!var)
		return NULL;
	json_t *o = json_object_get(var, key);
	if (i >= 0)
		o = json_array_get(o, (size_t)i);
	return json_string_value(o);
}

/* Applies op (attributes from a string) and stores its results in outs
 * (NB_MAX_OUTPUTS); returns how many, or -1. */
static int edge_apply(nb_graph *g, const char *name, int n_in,
                      nb_tensor *const *in, const char *attrs,
                      nb_tensor **outs)
{
	const nb_op *op = nb_op_find(name);
	cr_assert_not_null(op, "no op '%s'", name);
	void *a = calloc(1, op->attrs_size + 1);
	cr_assert_not_null(a);
	cr_assert_eq(nb_attrs_parse(op, attrs, a), NB_OK, "%s", nb_last_error());
	int n = nb_apply_multi(g, op, n_in, in, a, outs, NB_MAX_OUTPUTS);
	free(a);
	return n;
}

/* The tensor backward starts from with output gradient ones: the one
 * result, or the sum of the elements of every float result that
 * requires grad (the same gradient as ones for each); NULL if none. */
static nb_tensor *edge_loss(nb_graph *g, int n, nb_tensor **outs)
{
	if (n == 1)
		return outs[0];
	nb_tensor *loss = NULL;
	for (int k = 0; k < n; k++) {
		if (!nb_tensor_requires_grad(outs[k]))
			continue;
		nb_tensor *s = nb_call(g, "sum", 1, &outs[k], NULL);
		loss = loss ? nb_call(g, "add", 2, (nb_tensor *[]){loss, s}, NULL)
		            : s;
	}
	return loss;
}

/* One variant: the case with one special element; returns mismatches. */
static int run_variant(json_t *c, json_t *var, nf_count *cnt)
{
	const char *op = json_string_value(json_object_get(c, "op"));
	const char *attrs = json_string_value(json_object_get(c, "attrs"));
	const char *dts = json_string_value(json_object_get(var, "dtype"));
	const char *vs = json_string_value(json_object_get(var, "value"));
	nb_dtype dt = !strcmp(dts, "float32") ? NB_F32 : NB_F64;
	int k = (int)json_integer_value(json_object_get(var, "input"));
	double special = !strcmp(vs, "nan") ? NAN : !strcmp(vs, "inf")
	               ? INFINITY : -INFINITY;
	json_t *ins = json_object_get(c, "inputs"), *alt = other_dtype(c, var);
	int n_in = (int)json_array_size(ins), bad = 0;
	nb_tensor *in[NB_MAX_INPUTS] = {0};
	char name[200];
	snprintf(name, sizeof name, "%s %s, input %d[0] = %s",
	         json_string_value(json_object_get(c, "name")), dts, k, vs);
	for (int i = 0; i < n_in; i++) {
		json_t *o = json_array_get(ins, (size_t)i);
		if (json_is_null(o))
			continue;
		const char *ids = json_string_value(json_object_get(o, "dtype"));
		in[i] = tensor_of(o, !strcmp(ids, "int64") ? NB_I64
		                  : !strcmp(ids, "bool") ? NB_BOOL : dt);
		if (json_is_true(json_object_get(o, "grad")))
			nb_tensor_set_requires_grad(in[i], true);
	}
	nb_tensor_set(in[k], 0, special);
	nb_graph *g = nb_graph_new();
	nb_graph_set_training(g, json_is_true(json_object_get(c, "training")));
	nb_tensor *outs[NB_MAX_OUTPUTS] = {0}, *y = NULL;
	int n_out = edge_apply(g, op, n_in, in, attrs, outs);
	if (n_out < 0) {
		cr_log_error("%s: %s", name, nb_graph_errmsg(g));
		bad = 1;
		goto out;
	}
	json_t *jouts = json_object_get(var, "outputs");
	if (jouts && (size_t)n_out != json_array_size(jouts)) {
		cr_log_error("%s: %d results, want %zu", name, n_out,
		             json_array_size(jouts));
		bad = 1;
		goto out;
	}
	for (int r = 0; r < (jouts ? n_out : 1); r++) {
		char what[32] = "output";
		const char *want = jouts ? classes_of(var, "outputs", r)
		                         : classes_of(var, "output", -1);
		if (jouts)
			snprintf(what, sizeof what, "result %d", r);
		if (want)
			bad += check_tensor(c, var, name, what, outs[r], want,
			                    jouts ? classes_of(alt, "outputs", r)
			                          : classes_of(alt, "output", -1),
			                    cnt);
	}
	y = edge_loss(g, n_out, outs);
	const char *key;
	json_t *v;
	json_object_foreach(json_object_get(var, "state"), key, v) {
		char what[32];
		snprintf(what, sizeof what, "state of input %s", key);
		bad += check_tensor(c, var, name, what, in[atoi(key)],
		                    json_string_value(v), alt ?
		                    json_string_value(json_object_get(
		                        json_object_get(alt, "state"), key))
		                    : NULL, cnt);
	}
	json_t *grads = json_object_get(var, "grads");
	bool any = false;
	for (size_t i = 0; i < json_array_size(grads); i++)
		any |= !json_is_null(json_array_get(grads, i));
	if (!any || !y || !nb_tensor_requires_grad(y))
		goto out;
	nb_tensor *go = nb_graph_tensor(g, dt, nb_tensor_ndim(y),
	                                nb_tensor_shape(y));
	nb_tensor_fill(go, 1.0);
	if (nb_backward(y, go)) {
		cr_log_error("%s: backward: %s", name, nb_last_error());
		bad++;
		goto out;
	}
	for (int i = 0; i < n_in; i++) {
		const char *want = classes_of(var, "grads", i);
		char what[32];
		snprintf(what, sizeof what, "gradient of input %d", i);
		if (want)
			bad += check_tensor(c, var, name, what,
			                    nb_tensor_grad(in[i]), want,
			                    classes_of(alt, "grads", i), cnt);
	}
out:
	for (int i = 0; i < n_in; i++)
		nb_tensor_free(in[i]);
	nb_graph_free(g);
	return bad;
}

Test(edge, nan_and_infinities_propagate_as_in_pytorch)
{
	char path[1024];
	json_error_t err;
	snprintf(path, sizeof path, "%s/tests/ref/edge/nonfinite.json",
	         nbt_srcdir());
	fa_uninstall(); /* jansson's memory is its own */
	json_t *root = json_load_file(path, 0, &err);
	fa_install();
	cr_assert_not_null(root, "%s: %s", path, err.text);
	nf_count n = {0, 0, 0};
	size_t i, j;
	json_t *c, *var;
	json_array_foreach(json_object_get(root, "cases"), i, c)
		json_array_foreach(json_object_get(c, "variants"), j, var) {
			n.failed += run_variant(c, var, &n) != 0;
			n.variants++;
		}
	fa_uninstall();
	json_decref(root);
	fa_install();
	cr_log_info("%d NaN / infinity variants: %d differ from PyTorch, %d "
	            "tensors not compared (listed in tolerated[])", n.variants,
	            n.failed, n.tolerated);
	cr_expect_gt(n.variants, 1000);
	cr_expect_eq(n.failed, 0, "%d of %d variants differ from PyTorch "
	             "(see the log)", n.failed, n.variants);
	cr_expect_eq(fa.live, live0);
}

/* ---- rank 8 ---- */

/* Each case with every input padded to rank 8 by leading ones. */
Test(edge, rank_8_inputs_through_every_op)
{
	outcome o = {0, 0};
	for (size_t k = 0; k < nb_op_count(); k++) {
		const nb_op *op = nb_op_at(k);
		rc_case cs[MAX_CASES];
		int nc = rc_parse(op, cs, MAX_CASES);
		for (int ci = 0; ci < nc; ci++) {
			rc_case z = cs[ci];
			char what[256];
			for (int i = 0; i < z.n_in; i++) {
				rc_input *r = &z.in[i];
				int pad = NB_MAX_DIMS - r->ndim;
				memmove(r->shape + pad, r->shape,
				        (size_t)r->ndim * sizeof *r->shape);
				for (int e = 0; e < pad; e++)
					r->shape[e] = 1;
				r->ndim = NB_MAX_DIMS;
			}
			run_case_all(op, &z, NULL, NULL,
			             case_str(&z, what, sizeof what), &o);
		}
	}
	cr_log_info("rank 8: %d runs worked, %d refused cleanly", o.ran,
	            o.refused);
	cr_expect_gt(o.ran, 0);
}

/* Rank 8 through the broadcasting, reducing and permuting kernels,
 * with values checked. */
Test(edge, rank_8_values)
{
	int64_t sa[8] = {2, 1, 2, 1, 2, 1, 2, 1}, sb[8] = {1, 2, 1, 2, 1, 2,
	                                                     1, 2};
	nb_graph *g = nb_graph_new();
	nb_tensor *a = nb_tensor_ones(NB_F64, 8, sa);
	nb_tensor *b = nb_tensor_full(NB_F64, 8, sb, 2.0);
	nb_tensor_set_requires_grad(a, true);
	nb_tensor *y = nb_mul(g, a, b);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_numel(y), 256);
	nb_tensor *s = nb_sum(g, nb_permute(g, y, (int[]){7, 6, 5, 4, 3, 2,
	                                                  1, 0}),
	                      2, (int[]){0, -1}, true);
	cr_assert_not_null(s, "%s", nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(s), 8);
	nb_tensor *l = nb_sum(g, s, 0, NULL, false);
	cr_expect_eq(nb_tensor_item(l), 512.0);
	cr_assert_eq(nb_backward(l, NULL), NB_OK);
	/* each a element meets 16 b elements of value 2 */
	for (size_t i = 0; i < 16; i++)
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(a), i), 32.0);
	/* rank 9 is refused */
	int64_t s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
	cr_expect_null(nb_tensor_zeros(NB_F32, 9, s9));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_graph_free(g);
	cr_expect_eq(fa.live, live0);
}

/* ---- 2^31 elements and more: refused or out of memory, no overflow ---- */

/* y must be NULL with NB_ENOMEM on g; g then works again after reset. */
static void expect_oom(nb_graph *g, nb_tensor *y, const char *what)
{
	cr_expect_null(y, "%s: should not fit", what);
	cr_expect_eq(nb_graph_status(g), NB_ENOMEM, "%s: %s", what,
	             nb_graph_errmsg(g));
	cr_expect(strstr(nb_graph_errmsg(g), "memory") != NULL, "%s: '%s'",
	          what, nb_graph_errmsg(g));
	nb_graph_reset(g);
	nb_tensor *t = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 2));
	cr_expect_not_null(nb_exp(g, t), "%s: graph unusable after reset",
	                   what);
	nb_graph_reset(g);
}

Test(edge, shapes_of_2_31_elements_and_more)
{
	const int64_t big = ((int64_t)1 << 31) + 1;
	/* allocated through the allocator, which refuses 8 GiB */
	size_t refused = fa.refused;
	cr_expect_null(nb_tensor_zeros(NB_F32, NB_SHAPE(big)));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	cr_expect_gt(fa.refused, refused);
	/* too large to count: refused before allocating */
	long calls = fa.calls;
	cr_expect_null(nb_tensor_zeros(NB_F64, NB_SHAPE(big, big, 4)));
	cr_expect_eq(nb_last_status(), NB_ENOMEM);
	cr_expect_null(nb_tensor_zeros(NB_F64, NB_SHAPE(INT64_MAX, 2)));
	cr_expect_eq(fa.calls, calls, "an allocation was attempted");
	cr_expect_null(nb_tensor_zeros(NB_F64, NB_SHAPE(-1, 2)));
	cr_expect_eq(nb_last_status(), NB_ESHAPE);

	/* An empty tensor with a dimension of 2^31 + 1: ops whose result
	 * would hold 2^31 elements or more run out of memory cleanly. */
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(0, big));
	cr_assert_not_null(x, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_numel(x), 0);
	nb_tensor_set_requires_grad(x, true);
	expect_oom(g, nb_sum(g, x, 1, (int[]){0}, false), "sum over axis 0");
	expect_oom(g, nb_matmul(g, nb_transpose(g, x, 0, 1),
	                        nb_graph_tensor(g, NB_F32, NB_SHAPE(0, 2))),
	           "matmul [2^31+1, 0] [0, 2]");
	nb_tensor *w = nb_tensor_zeros(NB_F32, NB_SHAPE(4, 0));
	expect_oom(g, nb_linear(g, nb_transpose(g, x, 0, 1), w, NULL),
	           "linear [2^31+1, 0] [4, 0]");
	nb_tensor *a = nb_tensor_ones(NB_F32, NB_SHAPE(65536, 1));
	nb_tensor *b = nb_tensor_ones(NB_F32, NB_SHAPE(1, 65536));
	expect_oom(g, nb_add(g, a, b), "add [65536, 1] [1, 65536]");
	/* what stays empty works, forward and backward */
	nb_tensor *t = nb_transpose(g, x, 0, 1);
	nb_tensor *s = nb_softmax(g, t, 0);
	nb_tensor *m = nb_mean(g, s, 0, NULL, false);
	cr_assert_not_null(m, "%s", nb_graph_errmsg(g));
	cr_expect(isnan(nb_tensor_item(m)));
	cr_expect_eq(nb_backward(m, NULL), NB_OK, "%s", nb_last_error());
	cr_expect_not_null(nb_reshape(g, x, NB_SHAPE(big, 0, 7)), "%s",
	                   nb_graph_errmsg(g));
	nb_tensor_free(x);
	nb_tensor_free(w);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_graph_free(g);
	cr_expect_eq(fa.live, live0);
}

/* Regression: a shape with a zero dimension used to be accepted however
 * large the others were ([0, 2^40, 2^40] has no elements), and the
 * row-major strides of such a shape overflow int64_t (permute computed
 * them: undefined behaviour, caught by UBSan).  Shapes are now refused
 * when their nonzero dimensions alone are too large to count. */
Test(edge, empty_shapes_with_uncountable_dimensions_are_refused)
{
	const int64_t e40 = (int64_t)1 << 40;
	long calls = fa.calls;
	cr_expect_null(nb_tensor_zeros(NB_F32, NB_SHAPE(0, e40, e40)));
	cr_expect_eq(nb_last_status(), NB_ENOMEM, "%s", nb_last_error());
	cr_expect_null(nb_tensor_zeros(NB_F32, NB_SHAPE(e40, e40, 0)));
	cr_expect_eq(fa.calls, calls, "an allocation was attempted");
	nb_graph *g = nb_graph_new();
	cr_expect_null(nb_graph_tensor(g, NB_F64, NB_SHAPE(e40, 0, e40)));
	cr_expect_eq(nb_graph_status(g), NB_ENOMEM);
	nb_graph_reset(g);
	/* an op whose result would have such a shape fails the same way */
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(0, 4));
	cr_expect_null(nb_reshape(g, x, NB_SHAPE(e40, 0, e40)));
	cr_expect_eq(nb_graph_status(g), NB_ENOMEM, "%s", nb_graph_errmsg(g));
	nb_graph_reset(g);
	/* large, but countable: fine */
	nb_tensor *y = nb_reshape(g, x, NB_SHAPE(0, e40, 1 << 10));
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_expect_not_null(nb_permute(g, y, (int[]){2, 0, 1}), "%s",
	                   nb_graph_errmsg(g));
	nb_tensor_free(x);
	nb_graph_free(g);
	cr_expect_eq(fa.live, live0);
}

/* ---- regressions: NaN and infinities where PyTorch has them ---- */

/* Values equal, NaN equal to NaN. */
static bool same(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

/*
 * Runs op|attrs on x = v[0..n-1] (dtype dt), then backward with an
 * all-ones output gradient; checks the output against y (NULL: skip)
 * and x's gradient against dx (NULL: skip).
 */
static void check_unary(nb_dtype dt, const char *op, const char *attrs,
                        size_t n, const double *v, const double *y,
                        const double *dx)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(dt, NB_SHAPE((int64_t)n), v);
	nb_tensor_set_requires_grad(x, true);
	nb_tensor *out = nb_call(g, op, 1, &x, attrs);
	cr_assert_not_null(out, "%s: %s", op, nb_graph_errmsg(g));
	for (size_t i = 0; y && i < nb_tensor_numel(out); i++)
		cr_expect(same(nb_tensor_get(out, i), y[i]), "%s %s: y[%zu] = "
		          "%g, want %g", op, nb_dtype_name(dt), i,
		          nb_tensor_get(out, i), y[i]);
	nb_tensor *go = nb_graph_tensor(g, dt, nb_tensor_ndim(out),
	                                nb_tensor_shape(out));
	nb_tensor_fill(go, 1.0);
	cr_assert_eq(nb_backward(out, go), NB_OK, "%s", nb_last_error());
	for (size_t i = 0; dx && i < n; i++)
		cr_expect(same(nb_tensor_get(nb_tensor_grad(x), i), dx[i]),
		          "%s %s: dx[%zu] = %g, want %g", op, nb_dtype_name(dt),
		          i, nb_tensor_get(nb_tensor_grad(x), i), dx[i]);
	nb_tensor_free(x);
	nb_graph_free(g);
}

/* relu(NaN) was 0: PyTorch's is NaN (with gradient 1). */
Test(edge, relu_of_nan_is_nan)
{
	for (int d = 0; d < 2; d++)
		check_unary(dtypes[d], "relu", "", 4,
		            (double[]){NAN, -1, 2, 0},
		            (double[]){NAN, 0, 2, 0}, (double[]){1, 0, 1, 0});
	cr_expect_eq(fa.live, live0);
}

/* prelu's weight gradient skipped NaN inputs (x <= 0 is false for NaN):
 * PyTorch's sums g x over the elements that are not > 0, NaN included. */
Test(edge, prelu_weight_gradient_of_nan_is_nan)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(2, 2),
		                          (double[]){NAN, -1, 2, -3});
		nb_tensor *w = nbt_tensor(dtypes[d], NB_SHAPE(2),
		                          (double[]){0.25, 0.5});
		nb_tensor_set_requires_grad(w, true);
		nb_tensor *y = nb_sum(g, nb_prelu(g, x, w), 0, NULL, false);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		cr_expect(isnan(nb_tensor_item(y)));
		cr_assert_eq(nb_backward(y, NULL), NB_OK);
		cr_expect(isnan(nb_tensor_get(nb_tensor_grad(w), 0)));
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(w), 1), -4.0);
		nb_tensor_free(x);
		nb_tensor_free(w);
		nb_graph_free(g);
	}
	cr_expect_eq(fa.live, live0);
}

/* hardswish's gradient at NaN was g (the x > 3 branch); PyTorch's is
 * NaN (in float64, and in its vectorized float32 kernel). */
Test(edge, hardswish_gradient_of_nan_is_nan)
{
	for (int d = 0; d < 2; d++)
		check_unary(dtypes[d], "hardswish", "", 4,
		            (double[]){NAN, -3, 3, 4},
		            (double[]){NAN, 0, 3, 4},
		            (double[]){NAN, -0.5, 1.5, 1});
	cr_expect_eq(fa.live, live0);
}

/* Dropout set dropped elements (and everything, for p = 1) to a
 * constant, hiding NaN and infinite inputs; PyTorch multiplies by the
 * mask, so they come out NaN. */
Test(edge, dropout_keeps_nan_where_it_drops)
{
	static const char *const ops[] = {"dropout", "alpha_dropout"};
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 2; k++) {
			check_unary(dtypes[d], ops[k], "p=1", 3,
			            (double[]){NAN, 1, INFINITY},
			            (double[]){NAN, 0, NAN},
			            (double[]){0, 0, 0});
			double v[64], want[64];
			for (int i = 0; i < 64; i++) {
				v[i] = NAN;
				want[i] = NAN;
			}
			check_unary(dtypes[d], ops[k], "p=0.5", 64, v, want, NULL);
		}
	cr_expect_eq(fa.live, live0);
}

/* softmax, log_softmax and cross_entropy reset a row maximum of +inf to
 * 0, giving [NaN, 0] for softmax([inf, 1]); PyTorch computes inf - inf
 * there and gives a NaN row, as for a NaN input. */
Test(edge, softmax_of_infinity_is_a_nan_row)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = dtypes[d];
		check_unary(dt, "softmax", "", 2, (double[]){INFINITY, 1},
		            (double[]){NAN, NAN}, (double[]){NAN, NAN});
		check_unary(dt, "log_softmax", "", 2, (double[]){INFINITY, 1},
		            (double[]){NAN, NAN}, (double[]){NAN, NAN});
		check_unary(dt, "softmax", "", 2, (double[]){-INFINITY, 1},
		            (double[]){0, 1}, (double[]){0, 0});
		check_unary(dt, "softmax", "", 2,
		            (double[]){-INFINITY, -INFINITY},
		            (double[]){NAN, NAN}, NULL);
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dt, NB_SHAPE(2, 2),
		                          (double[]){INFINITY, 1, 0, 1});
		nb_tensor *t = nbt_tensor(NB_I64, NB_SHAPE(2), (double[]){1, 0});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *l = nb_cross_entropy(g, x, t,
			NULL, -100, NB_REDUCTION_MEAN, 0);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_expect(isnan(nb_tensor_item(l)));
		cr_assert_eq(nb_backward(l, NULL), NB_OK);
		for (size_t i = 0; i < 2; i++)
			cr_expect(isnan(nb_tensor_get(nb_tensor_grad(x), i)));
		nb_tensor_free(x);
		nb_tensor_free(t);
		nb_graph_free(g);
	}
	cr_expect_eq(fa.live, live0);
}

/* cross_entropy without label smoothing still added 0 * (lse - mean),
 * which is NaN once a logit is -inf: the loss of [[-inf, 0]] with
 * target 1 is 0 in PyTorch (and +inf with target 0), not NaN. */
Test(edge, cross_entropy_of_minus_infinity)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *x = nbt_tensor(dtypes[d], NB_SHAPE(1, 2),
		                          (double[]){-INFINITY, 0});
		nb_tensor *t1 = nbt_tensor(NB_I64, NB_SHAPE(1), (double[]){1});
		nb_tensor *t0 = nbt_tensor(NB_I64, NB_SHAPE(1), (double[]){0});
		nb_tensor_set_requires_grad(x, true);
		nb_tensor *l = nb_cross_entropy(g, x, t1,
			NULL, -100, NB_REDUCTION_MEAN, 0);
		cr_assert_not_null(l, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_item(l), 0.0);
		cr_assert_eq(nb_backward(l, NULL), NB_OK);
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), 0), 0.0);
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(x), 1), 0.0);
		cr_expect_eq(nb_tensor_item(nb_cross_entropy(g, x, t0,
			NULL, -100, NB_REDUCTION_MEAN, 0)),
		             INFINITY);
		/* with smoothing, the -inf logit costs +inf, as PyTorch's */
		nb_tensor *in[] = {x, t1};
		cr_expect_eq(nb_tensor_item(nb_call(g, "cross_entropy", 2, in,
		                                    "label_smoothing=0.1")),
		             INFINITY);
		nb_tensor_free(x);
		nb_tensor_free(t0);
		nb_tensor_free(t1);
		nb_graph_free(g);
	}
	cr_expect_eq(fa.live, live0);
}

/* The normalizations split the mean into a head and a tail in the input
 * dtype; for an infinite running mean the tail was inf - inf = NaN, so
 * evaluation mode gave NaN where PyTorch gives -inf (x - inf). */
Test(edge, infinite_running_mean_gives_infinite_output)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = dtypes[d];
		nb_graph *g = nb_graph_new();
		nb_graph_set_training(g, false);
		nb_tensor *x = nbt_tensor(dt, NB_SHAPE(2, 2),
		                          (double[]){1, 2, 3, 4});
		nb_tensor *rm = nbt_tensor(dt, NB_SHAPE(2),
		                           (double[]){INFINITY, 0});
		nb_tensor *rv = nbt_tensor(dt, NB_SHAPE(2), (double[]){1, 1});
		nb_tensor *y = nb_batch_norm(g, x, NULL, NULL, rm, rv, NULL, 0.1,
		                             1e-5);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		cr_expect_eq(nb_tensor_get(y, 0), -INFINITY);
		cr_expect_eq(nb_tensor_get(y, 2), -INFINITY);
		cr_expect(isfinite(nb_tensor_get(y, 1)));
		/* a running mean beyond float's range, for float32 input */
		nb_tensor *rm64 = nbt_tensor(NB_F64, NB_SHAPE(2),
		                             (double[]){-1e300, 0});
		nb_tensor *rv64 = nbt_tensor(NB_F64, NB_SHAPE(2),
		                             (double[]){1, 1});
		y = nb_batch_norm(g, x, NULL, NULL, rm64, rv64, NULL, 0.1, 1e-5);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		if (dt == NB_F32)
			cr_expect_eq(nb_tensor_get(y, 0), INFINITY);
		else
			cr_expect(fabs(nb_tensor_get(y, 0) / 1e300 - 1) < 1e-5);
		nb_tensor *frees[] = {x, rm, rv, rm64, rv64};
		for (size_t i = 0; i < 5; i++)
			nb_tensor_free(frees[i]);
		nb_graph_free(g);
	}
	cr_expect_eq(fa.live, live0);
}

/* With running statistics (evaluation mode), dx = gamma invstd dy does
 * not depend on x or the mean, but the kernel added 0 * (x - mean): a
 * NaN input (or running mean) made its gradient NaN, where PyTorch's
 * is finite. */
Test(edge, evaluation_mode_norm_gradient_ignores_nan_input)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = dtypes[d];
		for (int shape = 0; shape < 2; shape++) {
			nb_graph *g = nb_graph_new();
			nb_graph_set_training(g, false);
			int64_t s2[] = {2, 2}, s3[] = {2, 2, 1};
			nb_tensor *x = nbt_tensor(dt, shape ? 3 : 2,
			                          shape ? s3 : s2,
			                          (double[]){NAN, 2, 3, 4});
			nb_tensor *w = nbt_tensor(dt, NB_SHAPE(2),
			                          (double[]){2, 3});
			nb_tensor *rm = nbt_tensor(dt, NB_SHAPE(2),
			                           (double[]){0, NAN});
			nb_tensor *rv = nbt_tensor(dt, NB_SHAPE(2),
			                           (double[]){1, 1});
			nb_tensor_set_requires_grad(x, true);
			nb_tensor *y = nb_sum(g, nb_batch_norm(g, x, w, NULL, rm, rv,
			                                       NULL, 0.1, 0),
			                      0, NULL, false);
			cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
			cr_assert_eq(nb_backward(y, NULL), NB_OK);
			nbt_expect_close(nb_tensor_grad(x),
			                 (double[]){2, 3, 2, 3}, 4, 0, 0,
			                 "eval batch_norm dx");
			nb_tensor *frees[] = {x, w, rm, rv};
			for (size_t i = 0; i < 4; i++)
				nb_tensor_free(frees[i]);
			nb_graph_free(g);
		}
	}
	cr_expect_eq(fa.live, live0);
}

/* The portable matrix product (--without-blas) skipped zeros of the
 * left operand, so 0 * NaN in the right one was never computed and
 * [0, 1] x [NaN, 1]^T gave 1; PyTorch (and CBLAS) give NaN. */
Test(edge, matmul_zero_times_nan_is_nan)
{
	for (int d = 0; d < 2; d++) {
		nb_graph *g = nb_graph_new();
		nb_tensor *a = nbt_tensor(dtypes[d], NB_SHAPE(1, 2),
		                          (double[]){0, 1});
		nb_tensor *b = nbt_tensor(dtypes[d], NB_SHAPE(2, 2),
		                          (double[]){NAN, INFINITY, 1, 2});
		nb_tensor *y = nb_matmul(g, a, b);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		cr_expect(isnan(nb_tensor_get(y, 0)));
		cr_expect(isnan(nb_tensor_get(y, 1)));
		nb_tensor *w = nbt_tensor(dtypes[d], NB_SHAPE(1, 2),
		                          (double[]){NAN, 1});
		nb_tensor *z = nb_linear(g, a, w, NULL);
		cr_assert_not_null(z, "%s", nb_graph_errmsg(g));
		cr_expect(isnan(nb_tensor_item(z)));
		nb_tensor_free(a);
		nb_tensor_free(b);
		nb_tensor_free(w);
		nb_graph_free(g);
	}
	cr_expect_eq(fa.live, live0);
}

/* batch_norm's counter: INT64_MAX + 1 was signed overflow (undefined
 * behaviour, which UBSan stops at), both in the increment and in
 * momentum=none's 1 / (count + 1); a negative count made the momentum
 * infinite (or 1/0) and the running statistics NaN. */
Test(edge, batch_norm_counter_limits)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(2, 1), (double[]){1, 3});
	nb_tensor *rm = nb_tensor_zeros(NB_F64, NB_SHAPE(1));
	nb_tensor *rv = nb_tensor_ones(NB_F64, NB_SHAPE(1));
	nb_tensor *cnt = nb_tensor_zeros(NB_I64, NB_SHAPE(1));
	int64_t *c = nb_tensor_data(cnt);
	*c = INT64_MAX;
	cr_assert_not_null(nb_batch_norm(g, x, NULL, NULL, rm, rv, cnt, NAN,
	                                 1e-5), "%s", nb_graph_errmsg(g));
	cr_expect_eq(*c, INT64_MAX);
	cr_expect(fabs(nb_tensor_get(rm, 0) - 2.0 / 9.223372036854775808e18)
	          < 1e-30, "%g", nb_tensor_get(rm, 0));
	cr_assert_not_null(nb_batch_norm(g, x, NULL, NULL, rm, rv, cnt, 0.1,
	                                 1e-5));
	cr_expect_eq(*c, INT64_MAX);
	for (int64_t bad = -1; bad >= -2; bad--) {
		*c = bad == -1 ? -1 : INT64_MIN;
		cr_expect_null(nb_batch_norm(g, x, NULL, NULL, rm, rv, cnt, NAN,
		                             1e-5));
		cr_expect_eq(nb_graph_status(g), NB_EINVAL);
		cr_expect(strstr(nb_graph_errmsg(g), "negative") != NULL, "%s",
		          nb_graph_errmsg(g));
		nb_graph_reset(g);
	}
	nb_tensor *frees[] = {x, rm, rv, cnt};
	for (size_t i = 0; i < 4; i++)
		nb_tensor_free(frees[i]);
	nb_graph_free(g);
	cr_expect_eq(fa.live, live0);
}

/* Setting an int64 element (class indices, batch_norm's counter) cast
 * the double with (int64_t)v, undefined for NaN and out of range (the
 * sanitizer build checks float-cast-overflow); now defined. */
Test(edge, int64_elements_from_any_double)
{
	static const double v[] = {NAN, 1e300, -1e300, INFINITY, -INFINITY,
	                           0x1p63, -0x1p63, 2.9, -2.9, -0.0};
	static const int64_t want[] = {0, INT64_MAX, INT64_MIN, INT64_MAX,
	                               INT64_MIN, INT64_MAX, INT64_MIN, 2, -2,
	                               0};
	nb_tensor *t = nb_tensor_zeros(NB_I64, NB_SHAPE(10));
	for (size_t i = 0; i < 10; i++) {
		nb_tensor_set(t, i, v[i]);
		cr_expect_eq(((int64_t *)nb_tensor_data(t))[i], want[i],
		             "%g", v[i]);
	}
	for (size_t i = 0; i < 10; i++) {
		cr_expect_eq(nb_tensor_fill(t, v[i]), NB_OK);
		cr_expect_eq(((int64_t *)nb_tensor_data(t))[9], want[i],
		             "fill %g", v[i]);
	}
	nb_tensor_free(t);
	nb_tensor *f = nb_tensor_full(NB_I64, NB_SHAPE(2), NAN);
	cr_expect_eq(nb_tensor_get(f, 1), 0.0);
	nb_tensor_free(f);
	cr_expect_eq(fa.live, live0);
}
