/*
 * test_attention.c - scaled_dot_product_attention beyond the generic
 * reference and gradcheck tests (causality bit for bit, fully masked
 * rows, dropout statistics, errors), and the layers of lib/nn/attention.c
 * and lib/nn/embedding.c: PyTorch interop both ways through safetensors
 * (tests/data/attn/, written by tests/ref/gen_attn_interop.py),
 * initialization, parameter kinds, errors naming the layer.
 */
#include "support/helpers.h"
#include "support/tmpdir.h"

static void setup(void)
{
	nbt_tmpdir_make("test_attention");
}

static void teardown(void)
{
	nbt_tmpdir_remove();
}

TestSuite(attention, .init = setup, .fini = teardown);

/* ---- the op ---- */

/* A causal model: embedding, learned positions, two pre-norm causal
 * encoder layers; changing token t0 leaves outputs before t0 identical
 * bit for bit (and changes those from t0 on). */
Test(attention, causality_bit_for_bit)
{
	nb_rng rng;
	nb_rng_seed(&rng, 3);
	nb_encoder_opts eo = NB_ENCODER_DEFAULTS;
	eo.dim_feedforward = 32;
	eo.dropout = 0;
	eo.batch_first = true;
	eo.norm_first = true;
	eo.causal = true;
	nb_module *m = nb_sequential_new(NULL);
	cr_assert_eq(nb_module_add(m, nb_embedding_new("tok", 11, 16,
	             NB_NO_PADDING, NB_F64, &rng)), NB_OK, "%s", nb_last_error());
	cr_assert_eq(nb_module_add(m, nb_learned_positions_new("pos", 12, 16,
	             NB_F64, &rng)), NB_OK, "%s", nb_last_error());
	cr_assert_eq(nb_module_add(m, nb_transformer_encoder_layer_new("l0", 16,
	             4, &eo, NB_F64, &rng)), NB_OK, "%s", nb_last_error());
	cr_assert_eq(nb_module_add(m, nb_transformer_encoder_layer_new("l1", 16,
	             4, &eo, NB_F64, &rng)), NB_OK, "%s", nb_last_error());
	const int64_t T = 12;
	int64_t a[2 * 12], b[2 * 12];
	for (int i = 0; i < 2 * T; i++)
		a[i] = b[i] = (i * 7) % 11;
	for (int64_t t0 = 1; t0 < T; t0 += 5) {
		memcpy(b, a, sizeof b);
		b[t0] = (a[t0] + 3) % 11;         /* batch 0 */
		b[T + t0] = (a[T + t0] + 5) % 11; /* batch 1 */
		nb_graph *g = nb_graph_new();
		nb_tensor *ya = nb_module_forward(m, g, nb_graph_from_data(g,
		    NB_I64, NB_SHAPE(2, T), a));
		nb_tensor *yb = nb_module_forward(m, g, nb_graph_from_data(g,
		    NB_I64, NB_SHAPE(2, T), b));
		cr_assert(ya && yb, "%s", nb_graph_errmsg(g));
		const double *pa = nb_tensor_cdata(ya), *pb = nb_tensor_cdata(yb);
		for (int64_t n = 0; n < 2; n++) {
			const double *ra = pa + n * T * 16, *rb = pb + n * T * 16;
			cr_expect_eq(memcmp(ra, rb, (size_t)(t0 * 16) * sizeof *ra), 0,
			             "batch %lld: an output before %lld changed",
			             (long long)n, (long long)t0);
			cr_expect_neq(memcmp(ra + t0 * 16, rb + t0 * 16,
			                     16 * sizeof *ra), 0,
			              "batch %lld: output %lld did not change",
			              (long long)n, (long long)t0);
		}
		nb_graph_free(g);
	}
	nb_module_free(m);
}

/* Row 1 has no key: zeros, and no gradient reaches q, k or v from it. */
Test(attention, fully_masked_row_is_zero)
{
	for (int d = 0; d < 2; d++) {
		nb_dtype dt = d ? NB_F64 : NB_F32;
		nb_graph *g = nb_graph_new();
		nb_tensor *q = nbt_randn(dt, NB_SHAPE(3, 4), 1, true);
		nb_tensor *k = nbt_randn(dt, NB_SHAPE(5, 4), 2, true);
		nb_tensor *v = nbt_randn(dt, NB_SHAPE(5, 2), 3, false);
		nb_tensor *mask = nb_graph_tensor(g, NB_BOOL, NB_SHAPE(3, 5));
		for (int i = 0; i < 15; i++)
			nb_tensor_set(mask, (size_t)i, i / 5 != 1);
		nb_tensor *y = nb_scaled_dot_product_attention(g, q, k, v, mask,
		                                               NULL, false, 0, 0, 1);
		cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
		for (int j = 0; j < 2; j++)
			cr_expect_eq(nb_tensor_get(y, (size_t)(2 + j)), 0.0);
		/* the loss reads row 1 only */
		nb_tensor *w = nb_graph_tensor(g, dt, NB_SHAPE(3, 2));
		nb_tensor_set(w, 2, 1);
		nb_tensor_set(w, 3, -2);
		cr_assert_eq(nb_backward(nb_sum(g, nb_mul(g, y, w), 0, NULL,
		                                false), NULL), NB_OK);
		for (size_t i = 0; i < 12; i++)
			cr_expect_eq(nb_tensor_get(nb_tensor_grad(q), i), 0.0);
		for (size_t i = 0; i < 20; i++)
			cr_expect_eq(nb_tensor_get(nb_tensor_grad(k), i), 0.0);
		nb_tensor_free(q);
		nb_tensor_free(k);
		nb_tensor_free(v);
		nb_graph_free(g);
	}
}

/* Uniform attention (q = 0) over S keys with v = 1: each output is the
 * kept fraction / (1 - p), mean 1; evaluation mode drops nothing. */
Test(attention, dropout_statistics)
{
	const int64_t L = 64, S = 256;
	const double p = 0.3;
	nb_graph *g = nb_graph_new();
	nb_graph_seed(g, 11);
	nb_tensor *q = nb_graph_tensor(g, NB_F64, NB_SHAPE(L, 4));
	nb_tensor *k = nb_graph_tensor(g, NB_F64, NB_SHAPE(S, 4));
	nb_tensor *v = nb_graph_tensor(g, NB_F64, NB_SHAPE(S, 1));
	nb_tensor_fill(v, 1);
	nb_graph_set_training(g, true);
	nb_tensor *y = nb_scaled_dot_product_attention(g, q, k, v, NULL, NULL,
	                                               false, p, 0, 1);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	double mean = 0, var = 0;
	for (int64_t i = 0; i < L; i++)
		mean += nb_tensor_get(y, (size_t)i) / (double)L;
	for (int64_t i = 0; i < L; i++)
		var += pow(nb_tensor_get(y, (size_t)i) - mean, 2) / (double)(L - 1);
	/* each output: Binomial(S, 1 - p) / (S (1 - p)): sd 0.043; the mean
	 * of 64 such: sd 0.0054 */
	cr_expect(fabs(mean - 1) < 0.03, "mean %g", mean);
	double sd = sqrt(p / ((1 - p) * (double)S));
	cr_expect(sqrt(var) > 0.5 * sd && sqrt(var) < 1.5 * sd, "sd %g, want %g",
	          sqrt(var), sd);
	nb_graph_set_training(g, false);
	y = nb_scaled_dot_product_attention(g, q, k, v, NULL, NULL, false, p, 0,
	                                    1);
	for (int64_t i = 0; i < L; i++)
		cr_expect(fabs(nb_tensor_get(y, (size_t)i) - 1) < 1e-12);
	nb_graph_free(g);
}

/* q, k, v made on the graph (so their gradients start unwritten, and
 * after a reset the arena hands out the last step's values): three
 * steps on one graph give the same gradient, that of a fresh graph. */
Test(attention, fresh_gradients_over_steps)
{
	/* 37 rows: 3 blocks */
	nb_tensor *x = nbt_randn(NB_F64, NB_SHAPE(2, 37, 6), 4, true);
	nb_graph *g = nb_graph_new();
	double first[2 * 37 * 6];
	for (int step = 0; step < 3; step++) {
		/* poison: the arena's memory holds NaN where the step's
		 * unwritten gradients will be */
		nb_tensor *junk = nb_graph_tensor(g, NB_F64, NB_SHAPE(1 << 16));
		cr_assert_not_null(junk);
		nb_tensor_fill(junk, NAN);
		nb_graph_reset(g);
		nb_tensor_zero_grad(x);
		/* 20 queries, 37 keys: causal leaves keys 20..36 unseen */
		nb_tensor *q = nb_slice(g, nb_affine_scalar(g, x, 2, 0), 1, 0,
		                        20, 1);
		nb_tensor *k = nb_affine_scalar(g, x, -1, 0.5);
		nb_tensor *v = nb_exp(g, x);
		nb_tensor *y = nb_scaled_dot_product_attention(g, q, k, v, NULL,
		                                               NULL, true, 0, 0, 2);
		cr_assert_eq(nb_backward(nb_sum(g, nb_mul(g, y, y), 0, NULL, false),
		                         NULL), NB_OK, "%s", nb_graph_errmsg(g));
		for (size_t i = 0; i < 2 * 37 * 6; i++) {
			double v0 = nb_tensor_get(nb_tensor_grad(x), i);
			if (step == 0)
				first[i] = v0;
			else
				cr_expect_eq(v0, first[i], "step %d, [%zu]", step, i);
		}
		nb_graph_reset(g);
	}
	nb_tensor_free(x);
	nb_graph_free(g);
}

Test(attention, op_errors_name_the_op_and_shapes)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *q = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 3, 4));
	nb_tensor *k = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 5, 6));
	nb_tensor *v = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 5, 3));
	cr_expect_null(nb_scaled_dot_product_attention(g, q, k, v, NULL, NULL,
	                                               false, 0, 0, 1));
	cr_expect_eq(nb_graph_status(g), NB_ESHAPE);
	const char *msg = nb_graph_errmsg(g);
	cr_expect(strstr(msg, "scaled_dot_product_attention") &&
	          strstr(msg, "[2, 5, 6]"), "%s", msg);
	nb_graph_reset(g);
	q = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 3, 4));
	k = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 5, 4));
	v = nb_graph_tensor(g, NB_F32, NB_SHAPE(2, 5, 3));
	nb_tensor *m = nb_graph_tensor(g, NB_BOOL, NB_SHAPE(4, 5));
	cr_expect_null(nb_scaled_dot_product_attention(g, q, k, v, m, NULL,
	                                               false, 0, 0, 1));
	cr_expect(strstr(nb_graph_errmsg(g), "attn_mask"), "%s",
	          nb_graph_errmsg(g));
	nb_graph_reset(g);
	q = nb_graph_tensor(g, NB_F32, NB_SHAPE(3, 4));
	cr_expect_null(nb_scaled_dot_product_attention(g, q, q, q, NULL, NULL,
	                                               false, 1.5, 0, 1));
	cr_expect_eq(nb_graph_status(g), NB_EINVAL, "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
}

/* ---- layers ---- */

Test(attention, embedding_padding_row_and_init)
{
	nb_rng rng;
	nb_rng_seed(&rng, 5);
	nb_module *e = nb_embedding_new("emb", 50, 40, -1, NB_F64, &rng);
	cr_assert_not_null(e, "%s", nb_last_error());
	nb_tensor *w = nb_module_tensor(e, "weight");
	double s = 0, s2 = 0;
	for (size_t i = 0; i < 49 * 40; i++) {
		s += nb_tensor_get(w, i);
		s2 += pow(nb_tensor_get(w, i), 2);
	}
	cr_expect(fabs(s / 1960) < 0.1 && fabs(s2 / 1960 - 1) < 0.15,
	          "N(0, 1): mean %g, mean square %g", s / 1960, s2 / 1960);
	for (size_t i = 49 * 40; i < 50 * 40; i++)
		cr_expect_eq(nb_tensor_get(w, i), 0.0, "padding row not zero");
	cr_expect_eq(nb_module_param_kind(e, w), NB_PARAM_WEIGHT);
	nb_graph *g = nb_graph_new();
	int64_t idx[3] = {49, 2, 49};
	nb_tensor *y = nb_module_forward(e, g, nb_graph_from_data(g, NB_I64,
	                                  NB_SHAPE(3), idx));
	cr_assert_eq(nb_backward(nb_sum(g, y, 0, NULL, false), NULL), NB_OK);
	for (size_t i = 0; i < 40; i++) {
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(w), 49 * 40 + i), 0.0);
		cr_expect_eq(nb_tensor_get(nb_tensor_grad(w), 2 * 40 + i), 1.0);
	}
	nb_graph_free(g);
	nb_module_free(e);
	cr_expect_null(nb_embedding_new("emb", 5, 4, 5, NB_F32, &rng));
	cr_expect(strstr(nb_last_error(), "embedding 'emb' [5, 4]"), "%s",
	          nb_last_error());
}

Test(attention, positional_encodings)
{
	nb_module *p = nb_sinusoidal_positions_new("pe", 10, 6, NB_F64);
	cr_assert_not_null(p, "%s", nb_last_error());
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 7, 6));
	nb_tensor *y = nb_module_forward(p, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	/* batch 1, position 5, index 2i = 2 and 2i + 1 = 3 */
	double f = exp(-2 * log(10000.0) / 6);
	cr_expect(fabs(nb_tensor_get(y, (size_t)(42 + 5 * 6 + 2)) - sin(5 * f))
	          < 1e-15);
	cr_expect(fabs(nb_tensor_get(y, (size_t)(42 + 5 * 6 + 3)) - cos(5 * f))
	          < 1e-15);
	nb_named_tensor const *nt;
	cr_expect_eq(nb_module_tensors(p, &nt), 1);
	cr_expect(nt[0].buffer && !strcmp(nt[0].name, "pe"));
	/* too long a sequence: the layer and the shapes are named */
	x = nb_graph_tensor(g, NB_F64, NB_SHAPE(2, 11, 6));
	cr_expect_null(nb_module_forward(p, g, x));
	cr_expect(strstr(nb_graph_errmsg(g), "sinusoidal_positions 'pe'") &&
	          strstr(nb_graph_errmsg(g), "11"), "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_module_free(p);
}

Test(attention, layer_names_kinds_and_init)
{
	nb_rng rng;
	nb_rng_seed(&rng, 9);
	nb_module *m = nb_transformer_encoder_layer_new("enc", 64, 4, NULL,
	                                                NB_F32, &rng);
	cr_assert_not_null(m, "%s", nb_last_error());
	nb_tensor *w = nb_module_tensor(m, "self_attn.in_proj_weight");
	nb_tensor *b = nb_module_tensor(m, "self_attn.in_proj_bias");
	nb_tensor *ob = nb_module_tensor(m, "self_attn.out_proj.bias");
	nb_tensor *n1 = nb_module_tensor(m, "norm1.weight");
	cr_assert(w && b && ob && n1);
	cr_expect_eq(nb_module_param_kind(m, w), NB_PARAM_WEIGHT);
	cr_expect_eq(nb_module_param_kind(m, b), NB_PARAM_BIAS);
	cr_expect_eq(nb_module_param_kind(m, n1), NB_PARAM_NORM);
	/* xavier_uniform of [192, 64]: bound sqrt(6 / 256) */
	double bound = sqrt(6.0 / 256), mx = 0;
	for (size_t i = 0; i < nb_tensor_numel(w); i++)
		mx = fmax(mx, fabs(nb_tensor_get(w, i)));
	cr_expect(mx <= bound && mx > 0.95 * bound, "max %g, bound %g", mx,
	          bound);
	for (size_t i = 0; i < 64; i++)
		cr_expect_eq(nb_tensor_get(ob, i), 0.0);
	for (size_t i = 0; i < 192; i++)
		cr_expect_eq(nb_tensor_get(b, i), 0.0);
	nb_module_free(m);
	cr_expect_null(nb_multi_head_attention_new("att", 10, 4, NULL, NB_F32,
	                                           &rng));
	cr_expect(strstr(nb_last_error(), "multi_head_attention 'att'") &&
	          strstr(nb_last_error(), "divisible"), "%s", nb_last_error());
	m = nb_multi_head_attention_new("att", 8, 2, NULL, NB_F32, &rng);
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F32, NB_SHAPE(5, 2, 6));
	cr_expect_null(nb_module_forward(m, g, x));
	cr_expect(strstr(nb_graph_errmsg(g), "multi_head_attention 'att'") &&
	          strstr(nb_graph_errmsg(g), "6"), "%s", nb_graph_errmsg(g));
	nb_graph_free(g);
	nb_module_free(m);
}

/* ---- interop with PyTorch ---- */

static bool meta_flag(nb_safetensors *f, const char *key)
{
	const char *v = nb_safetensors_meta(f, key);
	return v && !strcmp(v, "1");
}

/* The named tensor of f as a graph input (NULL if absent). */
static nb_tensor *input_of(nb_safetensors *f, nb_graph *g, const char *name,
                           nb_tensor **keep, int *nkeep)
{
	if (!nb_safetensors_dtype_str(f, name))
		return NULL;
	nb_tensor *t = nb_safetensors_read(f, name);
	cr_assert_not_null(t, "%s: %s", name, nb_last_error());
	keep[(*nkeep)++] = t;
	(void)g;
	return t;
}

/* got and the file's tensor `name` agree within tol (relative to the
 * largest magnitude of the reference, at least 1); returns the error. */
static double compare(nb_safetensors *f, const char *file, const char *name,
                      const nb_tensor *got, double tol)
{
	nb_tensor *want = nb_safetensors_read(f, name);
	cr_assert_not_null(want, "%s: %s: %s", file, name, nb_last_error());
	cr_assert_not_null(got, "%s: %s: no nabla tensor", file, name);
	cr_assert_eq(nb_tensor_numel(got), nb_tensor_numel(want), "%s: %s size",
	             file, name);
	double err = 0, mag = 1;
	for (size_t i = 0; i < nb_tensor_numel(want); i++) {
		mag = fmax(mag, fabs(nb_tensor_get(want, i)));
		err = fmax(err, fabs(nb_tensor_get(got, i) -
		                     nb_tensor_get(want, i)));
	}
	cr_expect(err <= tol * mag, "%s: %s differs by %g (tolerance %g)", file,
	          name, err, tol * mag);
	nb_tensor_free(want);
	return err / mag;
}

static nb_module *layer_of(nb_safetensors *f, nb_dtype dt, nb_rng *rng)
{
	const char *layer = nb_safetensors_meta(f, "layer");
	if (!strcmp(layer, "mha")) {
		nb_mha_opts o = NB_MHA_DEFAULTS;
		o.batch_first = meta_flag(f, "batch_first");
		o.causal = meta_flag(f, "causal");
		return nb_multi_head_attention_new(NULL,
		    atoi(nb_safetensors_meta(f, "embed_dim")),
		    atoi(nb_safetensors_meta(f, "num_heads")), &o, dt, rng);
	}
	nb_encoder_opts o = NB_ENCODER_DEFAULTS;
	o.dim_feedforward = atoi(nb_safetensors_meta(f, "dim_feedforward"));
	o.dropout = 0;
	o.batch_first = meta_flag(f, "batch_first");
	o.norm_first = meta_flag(f, "norm_first");
	o.causal = meta_flag(f, "causal");
	o.activation = strcmp(nb_safetensors_meta(f, "activation"), "gelu")
	               ? NB_ACT_RELU : NB_ACT_GELU;
	return nb_transformer_encoder_layer_new(NULL,
	    atoi(nb_safetensors_meta(f, "d_model")),
	    atoi(nb_safetensors_meta(f, "nhead")), &o, dt, rng);
}

static const char *const interop_files[] = {
	"mha_self_f64", "mha_self_f32", "mha_cross_f64", "mha_kv_f32",
	"mha_causal_f64", "enc_post_relu_f64", "enc_pre_gelu_f64",
	"enc_pre_relu_f32", "enc_post_gelu_f32",
};

/* One fixture: load PyTorch's state dict, run forward_multi, backward
 * of sum(output * R), compare outputs and every gradient. */
static double interop_one(const char *file)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/data/attn/%s.safetensors",
	         nbt_srcdir(), file);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(path, &f), NB_OK, "%s",
	             nb_last_error());
	bool f64 = !strcmp(nb_safetensors_meta(f, "dtype"), "float64");
	nb_dtype dt = f64 ? NB_F64 : NB_F32;
	double tol = f64 ? 1e-10 : 1e-5, worst = 0;
	nb_rng rng;
	nb_rng_seed(&rng, 1);
	nb_module *m = layer_of(f, dt, &rng);
	cr_assert_not_null(m, "%s: %s", file, nb_last_error());
	nb_load_report rep;
	cr_assert_eq(nb_module_load(m, path, false, &rep), NB_OK, "%s: %s", file,
	             nb_last_error());
	cr_expect_eq(rep.missing, 0, "%s: missing %s", file, rep.missing_names);
	nb_module_set_training(m, true);
	nb_graph *g = nb_graph_new();
	nb_tensor *keep[8];
	int nk = 0;
	bool mha = !strcmp(nb_safetensors_meta(f, "layer"), "mha");
	nb_tensor *q = input_of(f, g, "x/query", keep, &nk);
	nb_tensor_set_requires_grad(q, true);
	nb_tensor *k = input_of(f, g, "x/key", keep, &nk);
	nb_tensor *v = input_of(f, g, "x/value", keep, &nk);
	nb_tensor *kpm = input_of(f, g, "x/key_padding_mask", keep, &nk);
	nb_tensor *am = input_of(f, g, "x/attn_mask", keep, &nk);
	nb_tensor *out[2] = {NULL, NULL};
	int n = mha ? nb_module_forward_multi(m, g, 5,
	                  (nb_tensor *[]){q, k, v, kpm, am}, 2, out)
	            : nb_module_forward_multi(m, g, 3,
	                  (nb_tensor *[]){q, am, kpm}, 1, out);
	cr_assert_eq(n, mha ? 2 : 1, "%s: %s", file, nb_graph_errmsg(g));
	worst = fmax(worst, compare(f, file, "y/output", out[0], tol));
	if (mha)
		worst = fmax(worst, compare(f, file, "y/weights", out[1], tol));
	nb_tensor *r = nb_safetensors_read(f, "y/grad_output");
	keep[nk++] = r;
	cr_assert_eq(nb_backward(nb_sum(g, nb_mul(g, out[0], r), 0, NULL,
	                                false), NULL), NB_OK, "%s", file);
	const nb_named_tensor *nt;
	size_t np = nb_module_tensors(m, &nt);
	for (size_t i = 0; i < np; i++) {
		char gname[256];
		snprintf(gname, sizeof gname, "grad/%s", nt[i].name);
		worst = fmax(worst, compare(f, file, gname,
		                            nb_tensor_grad(nt[i].tensor), tol));
	}
	worst = fmax(worst, compare(f, file, "grad/x/query", nb_tensor_grad(q),
	                            tol));
	cr_log_info("%s: %zu parameters, largest relative difference %.3g",
	            file, np, worst);
	for (int i = 0; i < nk; i++)
		nb_tensor_free(keep[i]);
	nb_graph_free(g);
	nb_module_free(m);
	nb_safetensors_close(f);
	return worst;
}

Test(attention, pytorch_state_dicts_load_and_match)
{
	for (size_t i = 0; i < sizeof interop_files / sizeof *interop_files;
	     i++)
		interop_one(interop_files[i]);
}

/* nabla's checkpoint of default layers: exactly PyTorch's names, shapes
 * and dtypes, in state_dict order (tests/data/attn/keys.txt). */
Test(attention, checkpoint_has_pytorchs_names)
{
	char path[1024], line[256], want[4096] = "", got[4096] = "";
	snprintf(path, sizeof path, "%s/tests/data/attn/keys.txt", nbt_srcdir());
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s", path);
	while (fgets(line, sizeof line, fp))
		strncat(want, line, sizeof want - strlen(want) - 1);
	fclose(fp);
	nb_rng rng;
	nb_rng_seed(&rng, 2);
	nb_encoder_opts eo = NB_ENCODER_DEFAULTS;
	eo.dim_feedforward = 16;
	nb_module *ms[2] = {
		nb_multi_head_attention_new(NULL, 8, 2, NULL, NB_F32, &rng),
		nb_transformer_encoder_layer_new(NULL, 8, 2, &eo, NB_F32, &rng),
	};
	const char *prefix[2] = {"mha", "encoder"};
	for (int j = 0; j < 2; j++) {
		cr_assert_not_null(ms[j], "%s", nb_last_error());
		const char *file = nbt_tmpdir_path("layer.safetensors");
		cr_assert_eq(nb_module_save(ms[j], file, NULL), NB_OK, "%s",
		             nb_last_error());
		nb_safetensors *f;
		cr_assert_eq(nb_safetensors_open(file, &f), NB_OK);
		/* in the model's order, as state_dict */
		const nb_named_tensor *nt;
		size_t n = nb_module_tensors(ms[j], &nt);
		cr_expect_eq(nb_safetensors_count(f), n);
		for (size_t i = 0; i < n; i++) {
			nb_dtype dt;
			int nd;
			int64_t sh[NB_MAX_DIMS];
			cr_assert_eq(nb_safetensors_info(f, nt[i].name, &dt, &nd, sh),
			             NB_OK, "%s", nt[i].name);
			size_t k = strlen(got);
			k += (size_t)snprintf(got + k, sizeof got - k, "%s %s [",
			                      prefix[j], nt[i].name);
			for (int d = 0; d < nd; d++)
				k += (size_t)snprintf(got + k, sizeof got - k, "%s%lld",
				                      d ? "," : "", (long long)sh[d]);
			snprintf(got + k, sizeof got - k, "] %s\n",
			         dt == NB_F32 ? "float32" : nb_dtype_name(dt));
		}
		nb_safetensors_close(f);
		nb_module_free(ms[j]);
	}
	cr_expect_str_eq(got, want);
}

/* Unbatched [L, E] input = batch of one; per-head weights average to
 * the averaged ones; sequence-first = batch-first transposed. */
Test(attention, mha_layouts_and_weights)
{
	nb_rng rng;
	nb_mha_opts o = NB_MHA_DEFAULTS;
	nb_module *m[3];
	for (int i = 0; i < 3; i++) {
		nb_rng_seed(&rng, 8); /* the same weights */
		o.batch_first = i != 2;
		o.average_weights = i != 1;
		m[i] = nb_multi_head_attention_new("att", 6, 3, &o, NB_F64, &rng);
		cr_assert_not_null(m[i], "%s", nb_last_error());
	}
	nb_tensor *x = nbt_randn(NB_F64, NB_SHAPE(4, 6), 3, false);
	nb_graph *g = nb_graph_new();
	nb_tensor *y0[2], *y1[2], *y2[2];
	cr_assert_eq(nb_module_forward_multi(m[0], g, 1, &x, 2, y0), 2);
	nb_tensor *xb = nb_reshape(g, x, NB_SHAPE(1, 4, 6));
	cr_assert_eq(nb_module_forward_multi(m[1], g, 1, &xb, 2, y1), 2);
	nb_tensor *xs = nb_reshape(g, x, NB_SHAPE(4, 1, 6));
	cr_assert_eq(nb_module_forward_multi(m[2], g, 1, &xs, 2, y2), 2, "%s",
	             nb_graph_errmsg(g));
	cr_expect_eq(nb_tensor_ndim(y0[0]), 2);
	cr_expect_eq(nb_tensor_ndim(y0[1]), 2);  /* [L, S] */
	cr_expect_eq(nb_tensor_ndim(y1[1]), 4);  /* [1, H, L, S] */
	cr_expect_eq(nb_tensor_dim(y1[1], 1), 3);
	cr_expect_eq(nb_tensor_dim(y2[0], 0), 4); /* [L, 1, E] */
	for (size_t i = 0; i < 24; i++) {
		cr_expect_eq(nb_tensor_get(y0[0], i), nb_tensor_get(y1[0], i));
		cr_expect_eq(nb_tensor_get(y0[0], i), nb_tensor_get(y2[0], i));
	}
	for (size_t i = 0; i < 16; i++) {
		double mean = 0;
		for (size_t h = 0; h < 3; h++)
			mean += nb_tensor_get(y1[1], h * 16 + i) / 3;
		cr_expect(fabs(mean - nb_tensor_get(y0[1], i)) < 1e-15);
	}
	nb_graph_free(g);
	nb_tensor_free(x);
	for (int i = 0; i < 3; i++)
		nb_module_free(m[i]);
}

/* ---- the float32 path against float64 ---- */

/* float32 goes through nb__small_sgemm_tri, skipping the causal
 * triangle tile by tile; float64 goes through BLAS in blocks of rows.
 * Same inputs (float32 values), same dropout draws (the same seed), so
 * outputs and gradients agree to float32's rounding.  Cases: causal
 * with L != S, a mask, a bias and dropout, packed with heads, tiles'
 * row and column remainders. */
typedef struct path_case {
	bool packed, causal, mask, bias;
	int64_t B, L, S, E, Ev, H;
	double p;
} path_case;

static double input_val(size_t i, int which)
{
	return (double)(float)sin(0.37 * (double)i + 1.3 * which);
}

static nb_tensor *input_of_case(nb_dtype dt, int ndim, const int64_t *shape,
                                int which)
{
	nb_tensor *t = nb_tensor_zeros(dt, ndim, shape);
	cr_assert_not_null(t);
	for (size_t i = 0; i < nb_tensor_numel(t); i++)
		nb_tensor_set(t, i, input_val(i, which));
	nb_tensor_set_requires_grad(t, true);
	return t;
}

/* Runs case c in dt; vals gets the output then each input's gradient. */
static size_t run_path_case(const path_case *c, nb_dtype dt, double *vals)
{
	nb_graph *g = nb_graph_new();
	nb_graph_seed(g, 7);
	nb_tensor *in[3] = {NULL, NULL, NULL}, *y, *mask = NULL, *bias = NULL;
	int n_in = c->packed ? 1 : 3;
	if (c->packed) {
		in[0] = input_of_case(dt, NB_SHAPE(c->B, c->L,
		                      3 * c->H * c->E), 0);
	} else {
		in[0] = input_of_case(dt, NB_SHAPE(c->B, c->L, c->H * c->E), 0);
		in[1] = input_of_case(dt, NB_SHAPE(c->B, c->S, c->H * c->E), 1);
		in[2] = input_of_case(dt, NB_SHAPE(c->B, c->S, c->H * c->Ev), 2);
	}
	if (c->mask) {
		mask = nb_graph_tensor(g, NB_BOOL, NB_SHAPE(c->L, c->S));
		for (size_t i = 0; i < (size_t)(c->L * c->S); i++)
			nb_tensor_set(mask, i, i % 7 != 3);
	}
	if (c->bias) {
		bias = nb_graph_tensor(g, dt, NB_SHAPE(c->L, c->S));
		for (size_t i = 0; i < (size_t)(c->L * c->S); i++)
			nb_tensor_set(bias, i, input_val(i, 5) / 2);
	}
	if (c->packed)
		y = nb_scaled_dot_product_attention_packed(g, in[0], mask, bias,
		                                           c->causal, c->p, 0,
		                                           c->H);
	else
		y = nb_scaled_dot_product_attention(g, in[0], in[1], in[2], mask,
		                                    bias, c->causal, c->p, 0,
		                                    c->H);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_tensor *go = nb_graph_tensor(g, dt, nb_tensor_ndim(y),
	                                nb_tensor_shape(y));
	for (size_t i = 0; i < nb_tensor_numel(go); i++)
		nb_tensor_set(go, i, input_val(i, 9));
	cr_assert_eq(nb_backward(y, go), NB_OK, "%s", nb_graph_errmsg(g));
	size_t n = 0;
	for (size_t i = 0; i < nb_tensor_numel(y); i++)
		vals[n++] = nb_tensor_get(y, i);
	for (int j = 0; j < n_in; j++) {
		const nb_tensor *gr = nb_tensor_grad(in[j]);
		cr_assert_not_null(gr);
		for (size_t i = 0; i < nb_tensor_numel(gr); i++)
			vals[n++] = nb_tensor_get(gr, i);
		nb_tensor_free(in[j]);
	}
	nb_graph_free(g);
	return n;
}

Test(attention, float32_path_matches_float64)
{
	static const path_case cases[] = {
		/* unpacked, L != S, masks and dropout */
		{false, true, true, true, 2, 19, 23, 8, 7, 2, 0.25},
		{false, true, true, false, 2, 40, 40, 4, 4, 1, 0.2},
		{false, false, false, true, 2, 9, 30, 8, 5, 1, 0},
		/* packed with heads, 37 and 50 rows */
		{true, true, false, false, 2, 37, 37, 16, 16, 2, 0.2},
		{true, true, false, true, 2, 50, 50, 4, 4, 2, 0},
		/* gpt_tiny's head: L = S = 64, E = 32 */
		{true, true, false, false, 1, 64, 64, 32, 32, 1, 0},
		/* no mask nor bias, S a multiple of 8: the 8-wide row
		 * kernel (rows of every length mod 8) and P kept for
		 * backward; causal with L > S and L < S, full rows */
		{false, true, false, false, 2, 30, 16, 8, 8, 1, 0},
		{false, true, false, false, 1, 10, 40, 4, 4, 1, 0},
		{false, false, false, false, 2, 20, 24, 4, 3, 2, 0},
		{true, false, false, false, 2, 16, 16, 8, 8, 2, 0},
		/* the same kernel with dropout, P not kept */
		{false, true, false, false, 1, 21, 24, 4, 4, 1, 0.3},
	};
	static double a[40000], b[40000];
	for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
		size_t n = run_path_case(&cases[t], NB_F32, a);
		cr_assert_eq(run_path_case(&cases[t], NB_F64, b), n);
		double scale = 0;
		for (size_t i = 0; i < n; i++)
			scale = fmax(scale, fabs(b[i]));
		for (size_t i = 0; i < n; i++)
			cr_expect(fabs(a[i] - b[i]) <= 2e-5 * scale,
			          "case %zu, value %zu of %zu: float32 %.8g, "
			          "float64 %.8g", t, i, n, a[i], b[i]);
	}
}
