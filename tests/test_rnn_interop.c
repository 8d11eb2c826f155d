/*
 * test_rnn_interop.c - nabla's rnn, lstm and gru layers against
 * torch.nn.RNN / LSTM / GRU: the state dicts PyTorch saved
 * (tests/data/rnn/CONFIG.safetensors, written by tests/ref/gen_rnn_interop.py)
 * load into nabla's layers by name and give the same outputs, final
 * states and gradients (float64 within 1e-10, float32 within 1e-5,
 * relative to values above 1), batched or unbatched (a 2-D input
 * [T, I], states [layers x directions, H], output [T, D*H], as
 * PyTorch takes them); and the reverse: a checkpoint nabla saves
 * has exactly PyTorch's names, shapes and dtypes (tests/data/rnn/keys.txt)
 * in PyTorch's order.  With NB_UPDATE_FIXTURES=1 the test also writes
 * tests/data/rnn/nabla_lstm.safetensors, which the generator loads into
 * torch.nn.LSTM (strict) and runs.
 */
#include "support/helpers.h"
#include "support/tmpdir.h"

static const char *const configs[] = {
	"lstm_f64_bf", "lstm_f32_nobias", "lstm_f64_bidir", "gru_f64",
	"gru_f32_bf_nobias", "gru_f32_bidir_bf", "rnn_tanh_f64_bf",
	"rnn_relu_f32_nobias",
	/* unbatched: input [T, I], states [layers x directions, H] */
	"lstm_f64_unbatched_bidir", "lstm_f32_unbatched_bf",
	"gru_f64_unbatched_bf", "gru_f32_unbatched_bidir",
	"rnn_relu_f64_unbatched_bidir", "rnn_tanh_f32_unbatched",
};
#define N_CONFIGS (sizeof configs / sizeof *configs)

static void setup(void)
{
	nbt_tmpdir_make("rnn_interop");
}

static void teardown(void)
{
	nbt_tmpdir_remove();
}

TestSuite(rnn_interop, .init = setup, .fini = teardown);

static const char *fixture(const char *name)
{
	static char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/tests/data/rnn/%s", nbt_srcdir(),
	         name);
	return path;
}

static bool meta_on(nb_safetensors *f, const char *key)
{
	const char *v = nb_safetensors_meta(f, key);
	cr_assert_not_null(v, "metadata %s", key);
	return !strcmp(v, "1");
}

/* The layer a fixture describes, with nabla's own initialization. */
static nb_module *layer_of(nb_safetensors *f, nb_dtype dt, uint64_t seed)
{
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = atoi(nb_safetensors_meta(f, "num_layers"));
	o.bias = meta_on(f, "bias");
	o.batch_first = meta_on(f, "batch_first");
	o.bidirectional = meta_on(f, "bidirectional");
	const char *mode = nb_safetensors_meta(f, "mode");
	o.relu = !strcmp(nb_safetensors_meta(f, "nonlinearity"), "relu");
	nb_rng rng;
	nb_rng_seed(&rng, seed);
	nb_module *m = !strcmp(mode, "lstm") ? nb_lstm_new(NULL, 3, 4, &o, dt, &rng)
	             : !strcmp(mode, "gru") ? nb_gru_new(NULL, 3, 4, &o, dt, &rng)
	             : nb_rnn_new(NULL, 3, 4, &o, dt, &rng);
	cr_assert_not_null(m, "%s", nb_last_error());
	return m;
}

/* max |got - want| / max(1, |want|), asserting equal sizes. */
static double max_err(const nb_tensor *got, nb_tensor *want, const char *what)
{
	cr_assert_not_null(got, "%s: no value", what);
	cr_assert_eq(nb_tensor_numel(got), nb_tensor_numel(want), "%s", what);
	cr_assert_eq(nb_tensor_ndim(got), nb_tensor_ndim(want), "%s", what);
	double e = 0;
	for (size_t i = 0; i < nb_tensor_numel(want); i++) {
		double w = nb_tensor_get(want, i), g = nb_tensor_get(got, i);
		double d = fabs(g - w) / fmax(1, fabs(w));
		e = d > e || isnan(d) ? d : e;
	}
	return e;
}

static nb_tensor *read_or_null(nb_safetensors *f, const char *name)
{
	if (!nb_safetensors_dtype_str(f, name))
		return NULL;
	nb_tensor *t = nb_safetensors_read(f, name);
	cr_assert_not_null(t, "%s: %s", name, nb_last_error());
	return t;
}

/* Loads one fixture, runs forward and backward; returns the worst
 * relative error. */
static double check_config(const char *cfg)
{
	char file[128], what[160];
	snprintf(file, sizeof file, "%s.safetensors", cfg);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(fixture(file), &f), NB_OK, "%s",
	             nb_last_error());
	nb_tensor *x = read_or_null(f, "data/input");
	nb_dtype dt = nb_tensor_dtype(x);
	nb_module *m = layer_of(f, dt, 7);
	nb_load_report rep;
	cr_assert_eq(nb_module_load(m, fixture(file), false, &rep), NB_OK,
	             "%s: %s", cfg, nb_last_error());
	size_t np = nb_module_params(m, false, NULL, 0);
	cr_assert_eq(rep.loaded, np, "%s: loaded %zu of %zu", cfg, rep.loaded,
	             np);
	cr_assert_eq(rep.missing, 0);
	nb_tensor *st[3] = {x, read_or_null(f, "data/h0"),
	                    read_or_null(f, "data/c0")};
	for (int i = 0; i < 3; i++)
		if (st[i])
			nb_tensor_set_requires_grad(st[i], true);
	bool lstm = !strcmp(nb_module_type(m), "lstm");
	int n_in = st[2] ? 3 : st[1] ? 2 : 1;
	nb_graph *g = nb_graph_new();
	nb_tensor *out[3] = {0};
	int n = nb_module_forward_multi(m, g, n_in, st, 3, out);
	cr_assert_eq(n, lstm ? 3 : 2, "%s: %s", cfg, nb_graph_errmsg(g));
	static const char *const rn[] = {"output", "h_n", "c_n"};
	double e = 0;
	nb_tensor *loss = NULL, *tmp[6] = {0};
	for (int k = 0; k < n; k++) {
		char nm[64];
		snprintf(nm, sizeof nm, "data/%s", rn[k]);
		tmp[k] = nb_safetensors_read(f, nm);
		snprintf(what, sizeof what, "%s %s", cfg, rn[k]);
		e = fmax(e, max_err(out[k], tmp[k], what));
		snprintf(nm, sizeof nm, "data/r_%s", rn[k]);
		tmp[3 + k] = nb_safetensors_read(f, nm);
		nb_tensor *term = nb_sum(g, nb_mul(g, out[k], tmp[3 + k]), 0,
		                         NULL, false);
		loss = loss ? nb_add(g, loss, term) : term;
	}
	cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s: %s", cfg,
	             nb_graph_errmsg(g));
	const nb_named_tensor *ts;
	size_t nt = nb_module_tensors(m, &ts);
	for (size_t i = 0; i < nt; i++) {
		char nm[96];
		snprintf(nm, sizeof nm, "data/grad/%s", ts[i].name);
		nb_tensor *want = nb_safetensors_read(f, nm);
		cr_assert_not_null(want, "%s: %s", cfg, nm);
		snprintf(what, sizeof what, "%s d%s", cfg, ts[i].name);
		e = fmax(e, max_err(nb_tensor_grad(ts[i].tensor), want, what));
		nb_tensor_free(want);
	}
	static const char *const in_names[] = {"input", "h0", "c0"};
	for (int i = 0; i < 3; i++) {
		if (!st[i])
			continue;
		char nm[64];
		snprintf(nm, sizeof nm, "data/grad/%s", in_names[i]);
		nb_tensor *want = nb_safetensors_read(f, nm);
		snprintf(what, sizeof what, "%s d%s", cfg, in_names[i]);
		e = fmax(e, max_err(nb_tensor_grad(st[i]), want, what));
		nb_tensor_free(want);
		nb_tensor_free(st[i]);
	}
	for (int k = 0; k < 6; k++)
		nb_tensor_free(tmp[k]);
	nb_graph_free(g);
	nb_module_free(m);
	nb_safetensors_close(f);
	cr_log_info("%s: worst relative error %.3g", cfg, e);
	cr_expect_leq(e, dt == NB_F64 ? 1e-10 : 1e-5, "%s: error %g", cfg, e);
	return e;
}

Test(rnn_interop, pytorch_state_dicts_give_pytorchs_results)
{
	for (size_t i = 0; i < N_CONFIGS; i++)
		check_config(configs[i]);
}

/* The keys.txt lines of one configuration, in order. */
static size_t keys_of(const char *cfg, char lines[][96], size_t cap)
{
	FILE *fp = fopen(fixture("keys.txt"), "r");
	cr_assert_not_null(fp, "keys.txt");
	char buf[256], c[64];
	size_t n = 0;
	while (fgets(buf, sizeof buf, fp)) {
		char name[48], dts[16], shape[24];
		if (sscanf(buf, "%63s %47s %15s %23s", c, name, dts, shape) != 4)
			continue;
		if (strcmp(c, cfg) || n == cap)
			continue;
		snprintf(lines[n++], 96, "%s %s %s", name, dts, shape);
	}
	fclose(fp);
	return n;
}

/* "name dtype d0,d1" of tensor i of a safetensors file. */
static void describe(nb_safetensors *f, size_t i, char *out, size_t n)
{
	const char *name = nb_safetensors_name(f, i);
	nb_dtype dt;
	int nd;
	int64_t s[NB_MAX_DIMS];
	cr_assert_eq(nb_safetensors_info(f, name, &dt, &nd, s), NB_OK);
	int k = snprintf(out, n, "%s %s ", name, nb_dtype_name(dt));
	for (int d = 0; d < nd; d++)
		k += snprintf(out + k, n - (size_t)k, d ? ",%lld" : "%lld",
		              (long long)s[d]);
}

Test(rnn_interop, nabla_checkpoints_have_pytorchs_keys)
{
	for (size_t i = 0; i < N_CONFIGS; i++) {
		char file[128], keys[32][96], got[96];
		snprintf(file, sizeof file, "%s.safetensors", configs[i]);
		nb_safetensors *f;
		cr_assert_eq(nb_safetensors_open(fixture(file), &f), NB_OK);
		nb_tensor *x = nb_safetensors_read(f, "data/input");
		nb_dtype dt = nb_tensor_dtype(x);
		nb_tensor_free(x);
		nb_module *m = layer_of(f, dt, 3);
		nb_safetensors_close(f);
		const char *path = nbt_tmpdir_path("ckpt.safetensors");
		cr_assert_eq(nb_module_save(m, path, NULL), NB_OK, "%s",
		             nb_last_error());
		cr_assert_eq(nb_safetensors_open(path, &f), NB_OK);
		size_t nk = keys_of(configs[i], keys, 32);
		cr_assert_gt(nk, 0);
		cr_expect_eq(nb_safetensors_count(f), nk, "%s: %zu tensors, "
		             "PyTorch has %zu", configs[i],
		             nb_safetensors_count(f), nk);
		for (size_t k = 0; k < nk && k < nb_safetensors_count(f); k++) {
			describe(f, k, got, sizeof got);
			cr_expect_str_eq(got, keys[k], "%s: tensor %zu", configs[i],
			                 k);
		}
		nb_safetensors_close(f);
		nb_module_free(m);
	}
}

/* A bidirectional 2-layer LSTM with nabla's initialization, its input
 * and output: the generator loads it into torch.nn.LSTM (strict) and
 * must get the same output.  Written to the source tree only with
 * NB_UPDATE_FIXTURES=1; otherwise the committed file is read back here
 * and must still give its recorded output. */
Test(rnn_interop, nabla_lstm_for_pytorch)
{
	nb_rnn_opts o = NB_RNN_DEFAULTS;
	o.num_layers = 2;
	o.bidirectional = true;
	nb_rng rng;
	nb_rng_seed(&rng, 11);
	nb_module *m = nb_lstm_new(NULL, 3, 4, &o, NB_F64, &rng);
	nb_tensor *x = nb_tensor_randn(NB_F64, 3, (int64_t[]){5, 2, 3}, &rng, 0, 1);
	cr_assert(m && x);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	const char *path = fixture("nabla_lstm.safetensors");
	if (getenv("NB_UPDATE_FIXTURES")) {
		const nb_named_tensor *ts;
		size_t n = nb_module_tensors(m, &ts);
		nb_named_tensor all[40];
		cr_assert_leq(n + 2, 40);
		memcpy(all, ts, n * sizeof *ts);
		all[n++] = (nb_named_tensor){"data/input", x, false};
		all[n++] = (nb_named_tensor){"data/output", y, false};
		const char *meta[] = {"format", "pt", NULL};
		cr_assert_eq(nb_safetensors_save(path, all, n, meta), NB_OK,
		             "%s", nb_last_error());
	}
	nb_module *m2 = nb_lstm_new(NULL, 3, 4, &o, NB_F64, &rng);
	cr_assert_eq(nb_module_load(m2, path, false, NULL), NB_OK, "%s",
	             nb_last_error());
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(path, &f), NB_OK);
	nb_tensor *x2 = nb_safetensors_read(f, "data/input");
	nb_tensor *want = nb_safetensors_read(f, "data/output");
	nb_tensor *y2 = nb_module_forward(m2, g, x2);
	cr_expect_leq(max_err(y2, want, "nabla_lstm"), 1e-12);
	nb_safetensors_close(f);
	nb_tensor_free(x2);
	nb_tensor_free(want);
	nb_tensor_free(x);
	nb_graph_free(g);
	nb_module_free(m);
	nb_module_free(m2);
}
