/*
 * test_safetensors.c - checkpoints: PyTorch-written fixtures (made by
 * tests/ref/gen_safetensors.py), nabla-written files PyTorch reads, round
 * trips, name/shape/dtype errors, non-strict loading, and a table of
 * corrupt, truncated and hostile files; how saving replaces a file
 * (symbolic links, concurrent writers, write and sync failures, modes),
 * with faults injected by the hooks below.
 */
#undef _FORTIFY_SOURCE /* its inline open() would clash with the hook */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "support/helpers.h"
#include "support/tmpdir.h"
#include "support/testops.h"

static const char *dir;

static void setup(void)
{
	nbt_register_test_ops();
	dir = nbt_tmpdir_make("st");
}

static void teardown(void)
{
	nbt_tmpdir_remove();
}

TestSuite(safetensors, .init = setup, .fini = teardown);

static const char *tmp(const char *name)
{
	static char p[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
	return p[k];
}

static const char *fixture(const char *name)
{
	static char p[512];
	snprintf(p, sizeof p, "%s/tests/data/%s", nbt_srcdir(), name);
	return p;
}

/* The PyTorch MLP's names: fc1 -> bn1 -> leaky_relu -> fc2. */
static nb_module *mlp(nb_dtype dt, const char *last)
{
	char spec[128];
	nb_model_opts o = {.dtype = dt, .seed = 5};
	snprintf(spec, sizeof spec, "linear:4 t_norm@bn1 t_act %s", last);
	nb_module *m = nb_model_parse(spec, 5, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	return m;
}

/* gen_safetensors.py's formula(): value k of the j-th tensor. */
static double formula(size_t j, size_t k)
{
	return (double)(j + 1) * 0.25 + (double)k * 0.0625 - 1.0;
}

static void set_formula(nb_module *m)
{
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	for (size_t j = 0; j < n; j++)
		for (size_t k = 0; k < nb_tensor_numel(t[j].tensor); k++)
			nb_tensor_set(t[j].tensor, k, nb_tensor_dtype(t[j].tensor) ==
			              NB_I64 ? 7 : formula(j, k));
}

static void expect_formula(nb_module *m)
{
	const nb_named_tensor *t;
	size_t n = nb_module_tensors(m, &t);
	for (size_t j = 0; j < n; j++)
		for (size_t k = 0; k < nb_tensor_numel(t[j].tensor); k++)
			cr_expect_eq(nb_tensor_get(t[j].tensor, k),
			             nb_tensor_dtype(t[j].tensor) == NB_I64 ? 7
			             : formula(j, k), "%s[%zu]", t[j].name, k);
}

Test(safetensors, loads_pytorch_state_dict)
{
	nb_module *m = mlp(NB_F32, "linear:3");
	nb_load_report rep;
	nb_status st = nb_module_load(m, fixture("torch_mlp.safetensors"), true,
	                              &rep);
	cr_assert_eq(st, NB_OK, "%s", nb_last_error());
	cr_expect_eq(rep.loaded, 9);
	cr_expect_eq(rep.missing + rep.unexpected, 0);
	expect_formula(m);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(fixture("torch_mlp.safetensors"), &f),
	             NB_OK);
	cr_expect_str_eq(nb_safetensors_meta(f, "generator"),
	                 "tests/gen_safetensors.py");
	cr_expect_null(nb_safetensors_meta(f, "nope"));
	cr_expect_eq(nb_safetensors_count(f), 9);
	cr_expect_str_eq(nb_safetensors_name(f, 0), "fc1.weight");
	cr_expect_str_eq(nb_safetensors_dtype_str(f, "bn1.num_batches_tracked"),
	                 "I64");
	nb_safetensors_close(f);
	nb_module_free(m);
}

Test(safetensors, pytorch_output_matches_after_nonstrict_load)
{
	nb_model_opts o = {.dtype = NB_F64};
	nb_module *m = nb_model_parse("linear:4 t_act linear:3", 5, &o);
	const char *path = fixture("torch_mlp_f64.safetensors");
	nb_load_report rep;
	cr_expect_eq(nb_module_load(m, path, true, &rep), NB_ENOTFOUND);
	cr_expect(strstr(nb_last_error(), "unexpected input, output") ||
	          strstr(nb_last_error(), "unexpected output, input"), "%s",
	          nb_last_error());
	cr_assert_eq(nb_module_load(m, path, false, &rep), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(rep.loaded, 4);
	cr_expect_eq(rep.unexpected, 2);
	cr_expect_eq(rep.missing, 0);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(path, &f), NB_OK);
	nb_tensor *x = nb_safetensors_read(f, "input");
	nb_tensor *want = nb_safetensors_read(f, "output");
	cr_assert_not_null(x);
	cr_assert_not_null(want);
	nb_module_set_training(m, false);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; i < 6; i++)
		cr_expect(fabs(nb_tensor_get(y, i) - nb_tensor_get(want, i)) <
		          1e-12, "output[%zu] = %.17g, PyTorch %.17g", i,
		          nb_tensor_get(y, i), nb_tensor_get(want, i));
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(want);
	nb_safetensors_close(f);
	nb_module_free(m);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "rb");
	cr_assert_not_null(fp, "%s", path);
	size_t n = fread(buf, 1, cap, fp);
	fclose(fp);
	return n;
}

/* What nabla writes is byte for byte the committed fixture, which
 * gen_safetensors.py loads into PyTorch with strict=True. */
Test(safetensors, writes_the_file_pytorch_reads)
{
	nb_module *m = mlp(NB_F32, "linear:3");
	set_formula(m);
	const char *meta[] = {"generator", "tests/test_safetensors.c", NULL};
	cr_assert_eq(nb_module_save(m, tmp("nabla_mlp.safetensors"), meta),
	             NB_OK, "%s", nb_last_error());
	if (getenv("NB_UPDATE_FIXTURES"))
		nb_module_save(m, fixture("nabla_mlp.safetensors"), meta);
	static char a[1 << 14], b[1 << 14];
	size_t na = read_file(tmp("nabla_mlp.safetensors"), a, sizeof a);
	size_t nb = read_file(fixture("nabla_mlp.safetensors"), b, sizeof b);
	cr_expect_eq(na, nb);
	cr_expect_eq(memcmp(a, b, na < nb ? na : nb), 0, "the bytes differ "
	             "from tests/data/nabla_mlp.safetensors");
	/* Header length is a multiple of 8 and the header starts the JSON. */
	cr_expect_eq(a[0] % 8, 0);
	cr_expect_eq(a[8], '{');
	nb_module_free(m);
}

/* Every metadata pair is written: there was a silent cap of 31. */
Test(safetensors, keeps_every_metadata_pair)
{
	nb_module *m = mlp(NB_F32, "linear:3");
	enum { PAIRS = 100 };
	static char keys[PAIRS][16], vals[PAIRS][16];
	const char *meta[2 * PAIRS + 1];
	for (int i = 0; i < PAIRS; i++) {
		snprintf(keys[i], sizeof keys[i], "key%d", i);
		snprintf(vals[i], sizeof vals[i], "value%d", i);
		meta[2 * i] = keys[i];
		meta[2 * i + 1] = vals[i];
	}
	meta[2 * PAIRS] = NULL;
	cr_assert_eq(nb_module_save(m, tmp("meta.safetensors"), meta), NB_OK,
	             "%s", nb_last_error());
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(tmp("meta.safetensors"), &f), NB_OK);
	cr_expect_str_eq(nb_safetensors_meta(f, "format"), "pt");
	for (int i = 0; i < PAIRS; i++)
		cr_expect(nb_safetensors_meta(f, keys[i]) &&
		          !strcmp(nb_safetensors_meta(f, keys[i]), vals[i]),
		          "%s", keys[i]);
	nb_safetensors_close(f);
	nb_module_free(m);
}

Test(safetensors, round_trip_every_dtype)
{
	nb_module *m = mlp(NB_F64, "linear:3");
	nb_module *m2 = mlp(NB_F64, "linear:3");
	set_formula(m);
	nb_tensor_set(nb_module_tensor(m, "fc1.weight"), 0, 1.0 / 3);
	cr_assert_eq(nb_module_save(m, tmp("rt.safetensors"), NULL), NB_OK);
	cr_assert_eq(nb_module_load(m2, tmp("rt.safetensors"), true, NULL),
	             NB_OK, "%s", nb_last_error());
	const nb_named_tensor *t, *t2;
	size_t n = nb_module_tensors(m, &t);
	nb_module_tensors(m2, &t2);
	for (size_t j = 0; j < n; j++)
		for (size_t k = 0; k < nb_tensor_numel(t[j].tensor); k++)
			cr_expect_eq(nb_tensor_get(t[j].tensor, k),
			             nb_tensor_get(t2[j].tensor, k));
	/* Saving over a file replaces it; no temporary is left. */
	cr_assert_eq(nb_module_save(m2, tmp("rt.safetensors"), NULL), NB_OK);
	cr_expect_neq(access(tmp("rt.safetensors.tmp"), F_OK), 0);
	nb_module_free(m);
	nb_module_free(m2);
}

Test(safetensors, missing_unexpected_shape_dtype)
{
	const char *path = fixture("torch_mlp.safetensors");
	nb_load_report rep;
	/* An extra layer: its tensors are missing from the file. */
	nb_module *m = mlp(NB_F32, "linear:3 linear:2");
	double before = nb_tensor_get(nb_module_tensor(m, "fc1.weight"), 0);
	cr_expect_eq(nb_module_load(m, path, true, &rep), NB_ENOTFOUND);
	cr_expect(strstr(nb_last_error(), "missing fc3.weight, fc3.bias"),
	          "%s", nb_last_error());
	cr_expect(strstr(nb_last_error(), "load non-strictly"));
	cr_expect_eq(nb_tensor_get(nb_module_tensor(m, "fc1.weight"), 0),
	             before, "a failed load must not change the model");
	cr_expect_eq(nb_module_load(m, path, false, &rep), NB_OK);
	cr_expect_eq(rep.loaded, 9);
	cr_expect_eq(rep.missing, 2);
	cr_expect_str_eq(rep.missing_names, "fc3.weight, fc3.bias");
	nb_module_free(m);
	/* A different head: a shape error, strict or not. */
	m = mlp(NB_F32, "linear:2");
	cr_expect_eq(nb_module_load(m, path, false, &rep), NB_ESHAPE);
	cr_expect(strstr(nb_last_error(), "tensor 'fc2.weight' has shape "
	                 "[3, 4] in the file but [2, 4] in the model"), "%s",
	          nb_last_error());
	cr_expect_eq(nb_module_load(m, path, true, &rep), NB_ESHAPE);
	nb_module_free(m);
	/* Another dtype. */
	m = mlp(NB_F64, "linear:3");
	cr_expect_eq(nb_module_load(m, path, true, &rep), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "is float32 in the file but float64 "
	                 "in the model"), "%s", nb_last_error());
	nb_module_free(m);
	/* No such file. */
	m = mlp(NB_F32, "linear:3");
	cr_expect_eq(nb_module_load(m, tmp("none.safetensors"), true, NULL),
	             NB_EIO);
	cr_expect(strstr(nb_last_error(), "No such file"));
	nb_module_free(m);
}

Test(safetensors, save_errors)
{
	nb_tensor *a = nb_tensor_zeros(NB_F32, NB_SHAPE(2));
	nb_named_tensor t[2] = {{"a", a, false}, {"a", a, false}};
	cr_expect_eq(nb_safetensors_save(tmp("x"), t, 2, NULL), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "two tensors are named 'a'"));
	t[1].name = "__metadata__";
	cr_expect_eq(nb_safetensors_save(tmp("x"), t, 2, NULL), NB_EINVAL);
	t[1].name = "";
	cr_expect_eq(nb_safetensors_save(tmp("x"), t, 2, NULL), NB_EINVAL);
	cr_expect_eq(nb_safetensors_save("/nonexistent/dir/x", t, 1, NULL),
	             NB_EIO);
	/* An empty file of no tensors is valid. */
	cr_expect_eq(nb_safetensors_save(tmp("empty"), t, 0, NULL), NB_OK);
	nb_safetensors *f;
	cr_expect_eq(nb_safetensors_open(tmp("empty"), &f), NB_OK);
	cr_expect_eq(nb_safetensors_count(f), 0);
	nb_safetensors_close(f);
	nb_tensor_free(a);
}

/* ---- hostile files ---- */

/* Writes the 8-byte length hlen, the header text and ndata bytes. */
static const char *write_raw(uint64_t hlen, const char *hdr, size_t ndata)
{
	const char *path = tmp("hostile.safetensors");
	FILE *fp = fopen(path, "wb");
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)(hlen >> (8 * i));
	fwrite(len8, 1, 8, fp);
	fwrite(hdr, 1, strlen(hdr), fp);
	for (size_t i = 0; i < ndata; i++)
		fputc(i & 0xff, fp);
	fclose(fp);
	return path;
}

static const char *write_file(const char *hdr, size_t ndata)
{
	return write_raw(strlen(hdr), hdr, ndata);
}

#define E(dt, shape, b, e) \
	"{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

static const struct {
	const char *what, *hdr;
	size_t ndata;
	const char *msg;
} hostile[] = {
	{"not JSON", "{abc", 0, "header JSON"},
	{"an array", "[1,2]", 0, "not a JSON object"},
	{"a duplicate name", "{\"a\":" E("F32", "[1]", 0, 4) ",\"a\":"
	 E("F32", "[1]", 4, 8) "}", 8, "duplicate"},
	{"a tensor that is a number", "{\"a\":3}", 0, "must be an object"},
	{"a missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}",
	 4, "must be an object with exactly"},
	{"an extra key", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	 "\"data_offsets\":[0,4],\"x\":1}}", 4, "exactly"},
	{"an unknown dtype", "{\"a\":" E("F17", "[1]", 0, 4) "}", 4,
	 "unknown dtype 'F17'"},
	{"a negative dimension", "{\"a\":" E("F32", "[-1]", 0, 4) "}", 4,
	 "non-negative integers"},
	{"a fractional dimension", "{\"a\":" E("F32", "[1.5]", 0, 4) "}", 4,
	 "non-negative integers"},
	{"rank 9", "{\"a\":" E("F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4,
	 "rank 9"},
	{"an overflowing shape", "{\"a\":" E("F32",
	 "[4611686018427387904,4611686018427387904]", 0, 4) "}", 4,
	 "too large"},
	{"a huge numel", "{\"a\":" E("F64", "[4611686018427387904]", 0, 8) "}",
	 8, "needs"},
	{"three offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
	 "\"data_offsets\":[0,4,8]}}", 4, "data_offsets must be"},
	{"begin after end", "{\"a\":" E("F32", "[0]", 4, 0) "}", 4,
	 "data_offsets must be"},
	{"negative offsets", "{\"a\":" E("F32", "[1]", -4, 0) "}", 4,
	 "data_offsets must be"},
	{"a size mismatch", "{\"a\":" E("F32", "[2]", 0, 4) "}", 4,
	 "hold 4 bytes, but F32 of shape 2 elements needs 8"},
	{"a gap", "{\"a\":" E("F32", "[1]", 0, 4) ",\"b\":" E("F32", "[1]", 8,
	 12) "}", 12, "expected 4 (a gap)"},
	{"an overlap", "{\"a\":" E("F32", "[2]", 0, 8) ",\"b\":" E("F32", "[1]",
	 4, 8) "}", 8, "overlaps"},
	{"not starting at 0", "{\"a\":" E("F32", "[1]", 4, 8) "}", 8,
	 "starts at byte 4"},
	{"truncated data", "{\"a\":" E("F32", "[4]", 0, 16) "}", 12,
	 "truncated"},
	{"trailing bytes", "{\"a\":" E("F32", "[1]", 0, 4) "}", 5,
	 "trailing bytes"},
	{"a non-string metadata value", "{\"__metadata__\":{\"k\":1}}", 0,
	 "__metadata__ value 'k' is not a string"},
	{"metadata that is a list", "{\"__metadata__\":[]}", 0,
	 "__metadata__ is not an object"},
	{"an empty name", "{\"\":" E("F32", "[1]", 0, 4) "}", 4,
	 "empty name"},
	{"a NUL in a name", "{\"a\\u0000b\":" E("F32", "[1]", 0, 4) "}", 4,
	 "header JSON"},
	{"offsets past 2^62", "{\"a\":" E("U8", "[1]", 9223372036854775807,
	 9223372036854775807) "}", 0, "data_offsets must be"},
};

Test(safetensors, hostile_headers_are_errors)
{
	for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
		nb_safetensors *f = (nb_safetensors *)1;
		const char *p = write_file(hostile[i].hdr, hostile[i].ndata);
		nb_status st = nb_safetensors_open(p, &f);
		cr_expect_eq(st, NB_EFORMAT, "%s: %s (%s)", hostile[i].what,
		             nb_strerror(st), nb_last_error());
		cr_expect_null(f, "%s", hostile[i].what);
		cr_expect(strstr(nb_last_error(), hostile[i].msg), "%s: '%s' lacks "
		          "'%s'", hostile[i].what, nb_last_error(),
		          hostile[i].msg);
		cr_expect(strstr(nb_last_error(), "not a valid safetensors file"),
		          "%s", hostile[i].what);
	}
}

Test(safetensors, hostile_lengths_are_errors)
{
	nb_safetensors *f;
	const char *p = tmp("short");
	FILE *fp = fopen(p, "wb");
	fwrite("\x02\0\0\0\0\0\0", 1, 7, fp);
	fclose(fp);
	cr_expect_eq(nb_safetensors_open(p, &f), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "7 bytes is too short"));
	p = write_raw((uint64_t)1 << 63, "{}", 0);
	cr_expect_eq(nb_safetensors_open(p, &f), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "larger than the file"));
	p = write_raw(100, "{}", 0);
	cr_expect_eq(nb_safetensors_open(p, &f), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "larger than the file"));
	p = write_raw(1, "{", 0);
	cr_expect_eq(nb_safetensors_open(p, &f), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "too small"));
	/* A 200 MB header in a (sparse) 201 MB file: over the limit before
	 * anything is allocated. */
	p = write_raw(200u << 20, "{}", 0);
	cr_assert_eq(truncate(p, 201 << 20), 0);
	cr_expect_eq(nb_safetensors_open(p, &f), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "100 MB limit"), "%s",
	          nb_last_error());
	unlink(p);
	cr_expect_eq(nb_safetensors_open(dir, &f), NB_EIO);
	cr_expect(strstr(nb_last_error(), "not a regular file"));
}

Test(safetensors, unsupported_dtypes_are_listed_not_read)
{
	const char *p = write_file("{\"h\":" E("BF16", "[2]", 0, 4) "}", 4);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(p, &f), NB_OK, "%s", nb_last_error());
	cr_expect_str_eq(nb_safetensors_name(f, 0), "h");
	cr_expect_str_eq(nb_safetensors_dtype_str(f, "h"), "BF16");
	cr_expect_null(nb_safetensors_read(f, "h"));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "has dtype BF16"));
	cr_expect_null(nb_safetensors_read(f, "nope"));
	cr_expect_eq(nb_last_status(), NB_ENOTFOUND);
	nb_safetensors_close(f);
}

/* BOOL tensors (PyTorch's torch.bool) are read; a byte other than 0
 * and 1 is a corrupt file, not a true value. */
Test(safetensors, bool_tensors)
{
	const char *p = write_file("{\"m\":" E("BOOL", "[2]", 0, 2) ",\"n\":"
	                           E("BOOL", "[2,2]", 2, 6) "}", 6);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(p, &f), NB_OK, "%s", nb_last_error());
	nb_tensor *m = nb_safetensors_read(f, "m");
	cr_assert_not_null(m, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_dtype(m), NB_BOOL);
	cr_expect(nb_tensor_get(m, 0) == 0 && nb_tensor_get(m, 1) == 1);
	cr_expect_null(nb_safetensors_read(f, "n"));
	cr_expect_eq(nb_last_status(), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "holds byte 2 at element 0"), "%s",
	          nb_last_error());
	nb_safetensors_close(f);
	nb_tensor_free(m);
	/* Written as BOOL, read back the same. */
	nb_tensor *w = nb_tensor_zeros(NB_BOOL, NB_SHAPE(3));
	nb_tensor_set(w, 1, 1);
	nb_named_tensor nt = {.name = "mask", .tensor = w};
	cr_assert_eq(nb_safetensors_save(tmp("b.safetensors"), &nt, 1, NULL),
	             NB_OK, "%s", nb_last_error());
	cr_assert_eq(nb_safetensors_open(tmp("b.safetensors"), &f), NB_OK);
	cr_expect_str_eq(nb_safetensors_dtype_str(f, "mask"), "BOOL");
	nb_tensor *r = nb_safetensors_read(f, "mask");
	cr_assert_not_null(r);
	for (size_t i = 0; i < 3; i++)
		cr_expect_eq(nb_tensor_get(r, i), i == 1);
	nb_safetensors_close(f);
	nb_tensor_free(r);
	nb_tensor_free(w);
}

/* Every truncation and every single-byte corruption of a real file is
 * either rejected or, when the header still parses, read safely. */
Test(safetensors, truncations_and_byte_flips)
{
	static char buf[1 << 14];
	size_t n = read_file(fixture("torch_mlp.safetensors"), buf, sizeof buf);
	const char *p = tmp("fuzz.safetensors");
	int ok_opens = 0;
	for (size_t cut = 0; cut < n; cut++) {
		FILE *fp = fopen(p, "wb");
		fwrite(buf, 1, cut, fp);
		fclose(fp);
		nb_safetensors *f = NULL;
		cr_expect_neq(nb_safetensors_open(p, &f), NB_OK, "cut at %zu", cut);
		nb_safetensors_close(f);
	}
	size_t hlen = (unsigned char)buf[0] | (size_t)(unsigned char)buf[1] << 8;
	for (size_t i = 0; i < 8 + hlen; i++) {
		char saved = buf[i];
		buf[i] = (char)(buf[i] ^ (i < 8 ? 0x40 : 0x11));
		FILE *fp = fopen(p, "wb");
		fwrite(buf, 1, n, fp);
		fclose(fp);
		buf[i] = saved;
		nb_safetensors *f = NULL;
		if (nb_safetensors_open(p, &f))
			continue;
		ok_opens++;
		for (size_t k = 0; k < nb_safetensors_count(f); k++)
			nb_tensor_free(nb_safetensors_read(f,
			               nb_safetensors_name(f, k)));
		nb_safetensors_close(f);
	}
	cr_log_info("%d of %zu flipped files still opened", ok_opens, 8 + hlen);
}

Test(safetensors, optimizer_state_round_trip)
{
	nb_module *m = mlp(NB_F64, "linear:3");
	nb_tensor *p[8];
	size_t n = nb_module_params(m, true, p, 8);
	nb_sgd_opts so = nb_sgd_defaults();
	so.momentum = 0.9;
	nb_optim *o = nb_optim_sgd(p, n, &so);
	cr_assert_not_null(o, "%s", nb_last_error());
	nb_graph *g = nb_graph_new();
	nb_tensor *x = nb_graph_tensor(g, NB_F64, NB_SHAPE(4, 5));
	nb_tensor_fill(x, 0.5);
	nb_tensor *y = nb_sum(g, nb_module_forward(m, g, x), 0, NULL, false);
	cr_assert_eq(nb_backward(y, NULL), NB_OK, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_optim_step(o), NB_OK);
	cr_assert_eq(nb_checkpoint_save(tmp("opt.safetensors"), m, o, NULL),
	             NB_OK, "%s", nb_last_error());
	/* The module loads strictly: optim/ entries are not its business. */
	nb_module *m2 = mlp(NB_F64, "linear:3");
	cr_assert_eq(nb_module_load(m2, tmp("opt.safetensors"), true, NULL),
	             NB_OK, "%s", nb_last_error());
	nb_tensor *p2[8];
	nb_module_params(m2, true, p2, 8);
	nb_optim *o2 = nb_optim_sgd(p2, n, &so);
	cr_assert_eq(nb_optim_load_state(o2, tmp("opt.safetensors")), NB_OK,
	             "%s", nb_last_error());
	cr_expect_eq(nb_optim_state_count(o2), nb_optim_state_count(o));
	for (size_t i = 0; i < nb_optim_state_count(o); i++) {
		const char *nm;
		nb_tensor *a = nb_optim_state_at(o, i, &nm);
		nb_tensor *b = nb_optim_state_at(o2, i, NULL);
		for (size_t k = 0; k < nb_tensor_numel(a); k++)
			cr_expect_eq(nb_tensor_get(a, k), nb_tensor_get(b, k), "%s", nm);
	}
	cr_expect_eq(nb_optim_step_count(o2), 1);
	/* Another kind of optimizer, a file without state. */
	nb_optim *o3 = nb_optim_adam(p2, n, NULL);
	cr_expect_eq(nb_optim_load_state(o3, tmp("opt.safetensors")),
	             NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "is sgd's, not adam's"));
	cr_assert_eq(nb_module_save(m, tmp("plain.safetensors"), NULL), NB_OK);
	cr_expect_eq(nb_optim_load_state(o2, tmp("plain.safetensors")),
	             NB_ENOTFOUND);
	/* Fewer parameters (the first layer frozen now): a clear error,
	 * nothing copied. */
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(tmp("opt.safetensors"), &f), NB_OK);
	char want[24];
	snprintf(want, sizeof want, "%zu", n);
	cr_expect_str_eq(nb_safetensors_meta(f, "nabla.optim.params"), want);
	nb_safetensors_close(f);
	nb_optim *o4 = nb_optim_sgd(p2 + 2, n - 2, &so);
	cr_assert_not_null(o4);
	cr_expect_eq(nb_optim_load_state(o4, tmp("opt.safetensors")),
	             NB_EINVAL);
	char msg[96];
	snprintf(msg, sizeof msg, "for %zu parameters, this optimizer updates "
	         "%zu (another model, or other parameters frozen)", n, n - 2);
	cr_expect(strstr(nb_last_error(), msg), "%s", nb_last_error());
	cr_expect_eq(nb_optim_step_count(o4), 0);
	nb_optim_free(o);
	nb_optim_free(o2);
	nb_optim_free(o3);
	nb_optim_free(o4);
	nb_graph_free(g);
	nb_module_free(m);
	nb_module_free(m2);
}

/* Real batch norm: PyTorch's running statistics, counter and eval-mode
 * output after loading its state_dict. */
Test(safetensors, batch_norm_state_dict_matches_pytorch)
{
	nb_model_opts o = {.dtype = NB_F64};
	nb_module *m = nb_model_parse("linear:4 batch_norm leaky_relu linear:3",
	                              5, &o);
	cr_assert_not_null(m, "%s", nb_last_error());
	const char *path = fixture("torch_bn_mlp_f64.safetensors");
	nb_load_report rep;
	cr_assert_eq(nb_module_load(m, path, false, &rep), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(rep.loaded, 9);
	cr_expect_eq(rep.missing, 0);
	cr_expect_eq(nb_tensor_item(nb_module_tensor(m,
	             "bn1.num_batches_tracked")), 3);
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(path, &f), NB_OK);
	nb_tensor *x = nb_safetensors_read(f, "input");
	nb_tensor *want = nb_safetensors_read(f, "output");
	nb_module_set_training(m, false);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_module_forward(m, g, x);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	for (size_t i = 0; i < 6; i++)
		cr_expect(fabs(nb_tensor_get(y, i) - nb_tensor_get(want, i)) <
		          1e-12, "output[%zu] = %.17g, PyTorch %.17g", i,
		          nb_tensor_get(y, i), nb_tensor_get(want, i));
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(want);
	nb_safetensors_close(f);
	nb_module_free(m);
}

/* ---- saving: atomic replacement ----
 *
 * Fault injection.  This program defines open, write, fsync and rename:
 * the library's calls reach these definitions first (an executable's
 * symbols interpose those of the shared libraries it loads), and they
 * pass every call on to the kernel.  For a save to hook.dest they can
 * plant a symbolic link at each temporary name the library is about to
 * create, fail a write, a sync or the rename, and they record the
 * order in which the temporary and the directory are synced and the
 * temporary renamed.  hook.calls counts the calls seen, so a build in
 * which the hooks are not reached fails instead of passing unchecked. */
static struct {
	char dest[600];     /* the destination; the temporary is dest.tmp-* */
	char dir[600];      /* its directory */
	const char *victim; /* plant a link to it at the next temp names */
	int plant, planted;
	int tmp_fd, dir_fd;
	long write_budget;  /* bytes the temporary may take; < 0 unlimited */
	int write_errno, fsync_tmp_errno, fsync_dir_errno, rename_errno;
	unsigned mode_seen; /* the temporary's mode while written */
	char log[128];      /* 'f' sync temp, 'r' rename, 'd' sync dir */
	int calls;
} hook;

static void hook_reset(const char *dest)
{
	memset(&hook, 0, sizeof hook);
	hook.tmp_fd = hook.dir_fd = -1;
	hook.write_budget = -1;
	snprintf(hook.dest, sizeof hook.dest, "%s", dest);
	snprintf(hook.dir, sizeof hook.dir, "%s", dir);
}

static void hook_log(char c)
{
	size_t k = strlen(hook.log);
	if (k + 1 < sizeof hook.log)
		hook.log[k] = c;
}

static bool is_temp(const char *path)
{
	size_t k = strlen(hook.dest);
	return *hook.dest && !strncmp(path, hook.dest, k) &&
	       !strncmp(path + k, ".tmp-", 5);
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	bool temp = is_temp(path);
	if (temp && hook.plant > 0 && !symlink(hook.victim, path)) {
		hook.plant--;
		hook.planted++;
	}
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
	hook.calls += temp;
	if (fd >= 0 && temp)
		hook.tmp_fd = fd;
	if (fd >= 0 && *hook.dir && !strcmp(path, hook.dir))
		hook.dir_fd = fd;
	return fd;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (fd >= 0 && fd == hook.tmp_fd) {
		struct stat sb;
		hook.calls++;
		if (!fstat(fd, &sb))
			hook.mode_seen |= (unsigned)sb.st_mode & 0777;
		if (hook.write_budget >= 0) {
			if (hook.write_budget == 0) {
				errno = hook.write_errno;
				return -1;
			}
			if ((long)n > hook.write_budget)
				n = (size_t)hook.write_budget; /* a short write */
			hook.write_budget -= (long)n;
		}
	}
	return (ssize_t)syscall(SYS_write, fd, buf, n);
}

int fsync(int fd)
{
	int fail = 0;
	if (fd >= 0 && fd == hook.tmp_fd) {
		hook_log('f');
		fail = hook.fsync_tmp_errno;
	} else if (fd >= 0 && fd == hook.dir_fd) {
		hook_log('d');
		fail = hook.fsync_dir_errno;
	}
	if (fail) {
		errno = fail;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

int rename(const char *from, const char *to)
{
	if (is_temp(from)) {
		hook_log('r');
		hook.tmp_fd = -1;
		if (hook.rename_errno) {
			errno = hook.rename_errno;
			return -1;
		}
	}
#ifdef SYS_renameat2
	return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 0);
#else
	return (int)syscall(SYS_rename, from, to);
#endif
}

/* The names in the test directory, sorted, space-separated. */
static const char *dir_listing(void)
{
	static char out[2048];
	char names[32][256];
	int n = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	for (struct dirent *e; (e = readdir(d)) && n < 32;)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			snprintf(names[n++], sizeof names[0], "%s", e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof names[0],
	      (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (int i = 0; i < n; i++)
		snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s",
		         i ? " " : "", names[i]);
	return out;
}

static void put_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp, "%s", path);
	cr_assert_eq(fputs(text, fp) >= 0 && !fclose(fp), true);
}

static const char *get_file(const char *path)
{
	static char buf[4096];
	FILE *fp = fopen(path, "rb");
	size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
	buf[n] = '\0';
	if (fp)
		fclose(fp);
	return fp ? buf : "(cannot open)";
}

/* Saves one tensor "w" of n float32 values v, with metadata
 * "writer" = who. */
static nb_status save_w(const char *path, size_t n, double v,
                        const char *who)
{
	nb_tensor *w = nb_tensor_full(NB_F32, NB_SHAPE((int64_t)n), v);
	cr_assert_not_null(w);
	nb_named_tensor t[1] = {{"w", w, false}};
	const char *meta[] = {"writer", who, NULL};
	nb_status st = nb_safetensors_save(path, t, 1, meta);
	nb_tensor_free(w);
	return st;
}

/* f holds save_w(path, n, v, who)'s checkpoint, exactly. */
static bool is_w(nb_safetensors *f, size_t n, double v, const char *who)
{
	nb_tensor *w = nb_safetensors_read(f, "w");
	bool ok = w && nb_safetensors_count(f) == 1 &&
	          nb_safetensors_meta(f, "writer") &&
	          !strcmp(nb_safetensors_meta(f, "writer"), who) &&
	          nb_tensor_numel(w) == n;
	for (size_t i = 0; ok && i < n; i++)
		ok = nb_tensor_get(w, i) == (double)(float)v;
	nb_tensor_free(w);
	return ok;
}

static bool holds_w(const char *path, size_t n, double v, const char *who)
{
	nb_safetensors *f;
	if (nb_safetensors_open(path, &f))
		return false;
	bool ok = is_w(f, n, v, who);
	nb_safetensors_close(f);
	return ok;
}

/* The concurrent writers' checkpoints, A and B. */
#define SAVE_A(path) save_w(path, 30000, 1.0, "A")
#define SAVE_B(path) save_w(path, 7000, 2.0, "B")

/* path holds A's checkpoint or B's, whole (one open: a second one could
 * see the next save). */
static bool holds_a_or_b(const char *path)
{
	nb_safetensors *f;
	if (nb_safetensors_open(path, &f))
		return false;
	bool ok = is_w(f, 30000, 1.0, "A") || is_w(f, 7000, 2.0, "B");
	nb_safetensors_close(f);
	return ok;
}

Test(safetensors, save_ignores_a_link_at_the_old_temporary_name)
{
	const char *path = tmp("m.st"), *victim = tmp("victim");
	put_file(victim, "precious");
	cr_assert_eq(symlink("victim", tmp("m.st.tmp")), 0);
	cr_assert_eq(save_w(path, 4, 1.5, "a"), NB_OK, "%s", nb_last_error());
	cr_expect_str_eq(get_file(victim), "precious");
	struct stat sb;
	cr_assert_eq(lstat(path, &sb), 0);
	cr_expect(S_ISREG(sb.st_mode), "m.st must be a file, not a link");
	cr_expect(holds_w(path, 4, 1.5, "a"));
	cr_expect_eq(lstat(tmp("m.st.tmp"), &sb), 0);
	cr_expect(S_ISLNK(sb.st_mode), "the planted link is left alone");
	cr_expect_str_eq(dir_listing(), "m.st m.st.tmp victim");
}

Test(safetensors, save_never_follows_a_link_at_a_temporary_name)
{
	const char *path = tmp("m.st"), *victim = tmp("victim");
	put_file(victim, "precious");
	cr_assert_eq(save_w(path, 4, 1.0, "old"), NB_OK);
	/* A link appears at each of the next five names the save tries,
	 * just before it opens them, as if an attacker guessed them. */
	hook_reset(path);
	hook.victim = "victim";
	hook.plant = 5;
	cr_assert_eq(save_w(path, 4, 2.0, "new"), NB_OK, "%s",
	             nb_last_error());
	cr_assert_eq(hook.planted, 5, "the hooks were not reached (%d calls)",
	             hook.calls);
	cr_expect_str_eq(get_file(victim), "precious");
	cr_expect(holds_w(path, 4, 2.0, "new"));
	/* The five links, m.st and the victim; no temporary of ours. */
	DIR *d = opendir(dir);
	int links = 0, files = 0;
	for (struct dirent *e; (e = readdir(d));) {
		struct stat sb;
		char p[1100];
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		if (e->d_name[0] == '.' || lstat(p, &sb))
			continue;
		links += S_ISLNK(sb.st_mode);
		files += S_ISREG(sb.st_mode);
	}
	closedir(d);
	cr_expect_eq(links, 5);
	cr_expect_eq(files, 2, "%s", dir_listing());
}

Test(safetensors, save_replaces_a_link_not_its_target)
{
	const char *path = tmp("m.st");
	cr_assert_eq(save_w(tmp("target.st"), 4, 1.0, "target"), NB_OK);
	cr_assert_eq(symlink("target.st", path), 0);
	cr_assert_eq(save_w(path, 8, 3.0, "new"), NB_OK, "%s", nb_last_error());
	struct stat sb;
	cr_assert_eq(lstat(path, &sb), 0);
	cr_expect(S_ISREG(sb.st_mode));
	cr_expect(holds_w(path, 8, 3.0, "new"));
	cr_expect(holds_w(tmp("target.st"), 4, 1.0, "target"));
}

Test(safetensors, save_refuses_directories_and_devices)
{
	cr_assert_eq(mkdir(tmp("d.st"), 0755), 0);
	cr_expect_eq(save_w(tmp("d.st"), 4, 1.0, "a"), NB_EIO);
	cr_expect(strstr(nb_last_error(), "d.st: cannot save: it is a "
	                 "directory"), "%s", nb_last_error());
	cr_assert_eq(mkfifo(tmp("fifo.st"), 0644), 0);
	cr_expect_eq(save_w(tmp("fifo.st"), 4, 1.0, "a"), NB_EIO);
	cr_expect(strstr(nb_last_error(), "fifo.st: cannot save: not a regular "
	                 "file"), "%s", nb_last_error());
	struct stat sb;
	cr_expect(!lstat(tmp("fifo.st"), &sb) && S_ISFIFO(sb.st_mode));
	cr_expect_eq(nb_safetensors_check_writable(tmp("fifo.st")), NB_EIO);
	cr_expect_str_eq(dir_listing(), "d.st fifo.st");
}

/* Two processes save different checkpoints to one path, 40 times each,
 * while a third reads it: every save succeeds, every read sees one
 * whole checkpoint, and the last is exactly one of the two. */
Test(safetensors, concurrent_saves_leave_one_whole_file, .timeout = 60)
{
	const char *path = tmp("m.st");
	pid_t pid[3];
	for (int k = 0; k < 3; k++) {
		cr_assert_neq(pid[k] = fork(), -1);
		if (pid[k])
			continue;
		int bad = 0;
		for (int i = 0; i < (k == 2 ? 200 : 40); i++) {
			if (k == 0)
				bad += SAVE_A(path) != NB_OK;
			else if (k == 1)
				bad += SAVE_B(path) != NB_OK;
			else if (access(path, F_OK) == 0)
				bad += !holds_a_or_b(path);
		}
		_exit(bad ? 1 : 0);
	}
	for (int k = 0; k < 3; k++) {
		int ws;
		cr_assert_eq(waitpid(pid[k], &ws, 0), pid[k]);
		cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s failed",
		          k == 2 ? "the reader" : k ? "writer B" : "writer A");
	}
	cr_expect(holds_a_or_b(path));
	cr_expect_str_eq(dir_listing(), "m.st");
}

/* The file is synced before the rename, the directory after it. */
Test(safetensors, save_syncs_the_file_then_the_directory)
{
	const char *path = tmp("m.st");
	hook_reset(path);
	cr_assert_eq(save_w(path, 4, 1.0, "a"), NB_OK, "%s", nb_last_error());
	cr_assert_gt(hook.calls, 0, "the hooks were not reached");
	cr_expect_str_eq(hook.log, "frd");
}

/* A write, sync or rename that fails leaves the old file as it was and
 * no temporary behind. */
Test(safetensors, failed_saves_keep_the_old_file)
{
	const char *path = tmp("m.st");
	static const struct {
		long budget;
		int write_errno, fsync_errno, rename_errno;
		const char *msg;
	} fail[] = {
		{0, ENOSPC, 0, 0, "writing"},
		{100, ENOSPC, 0, 0, "No space left on device"},  /* short write */
		{5000, EIO, 0, 0, "Input/output error"},
		{-1, 0, EIO, 0, "syncing"},
		{-1, 0, 0, EACCES, "renaming"},
	};
	cr_assert_eq(save_w(path, 4, 1.0, "old"), NB_OK);
	for (size_t i = 0; i < sizeof fail / sizeof *fail; i++) {
		hook_reset(path);
		hook.write_budget = fail[i].budget;
		hook.write_errno = fail[i].write_errno;
		hook.fsync_tmp_errno = fail[i].fsync_errno;
		hook.rename_errno = fail[i].rename_errno;
		cr_expect_eq(save_w(path, 3000, 2.0, "new"), NB_EIO, "case %zu", i);
		cr_expect(strstr(nb_last_error(), fail[i].msg) &&
		          strstr(nb_last_error(), "m.st: cannot save: "),
		          "case %zu: %s", i, nb_last_error());
		cr_expect_gt(hook.calls, 0, "the hooks were not reached");
		cr_expect(holds_w(path, 4, 1.0, "old"), "case %zu", i);
		cr_expect_str_eq(dir_listing(), "m.st", "case %zu", i);
	}
	/* After the rename, a failed sync of the directory is reported,
	 * but the new file is in place. */
	hook_reset(path);
	hook.fsync_dir_errno = EIO;
	cr_expect_eq(save_w(path, 4, 3.0, "new"), NB_EIO);
	cr_expect(strstr(nb_last_error(), "m.st: saved, but syncing the "
	                 "directory"), "%s", nb_last_error());
	cr_expect(holds_w(path, 4, 3.0, "new"));
	cr_expect_str_eq(dir_listing(), "m.st");
}

/* A full disk, simulated by the file-size limit (EFBIG; SIGXFSZ
 * ignored, as a process that handles its errors would). */
Test(safetensors, a_full_disk_keeps_the_old_file)
{
	const char *path = tmp("m.st");
	cr_assert_eq(save_w(path, 100, 1.0, "old"), NB_OK);
	struct rlimit old, small;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 4096;
	void (*handler)(int) = signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	nb_status st = save_w(path, 10000, 2.0, "new");
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, handler);
	cr_expect_eq(st, NB_EIO);
	cr_expect(strstr(nb_last_error(), "File too large"), "%s",
	          nb_last_error());
	cr_expect(holds_w(path, 100, 1.0, "old"));
	cr_expect_str_eq(dir_listing(), "m.st");
}

static unsigned mode_of(const char *path)
{
	struct stat sb;
	cr_assert_eq(stat(path, &sb), 0, "%s", path);
	return (unsigned)sb.st_mode & 07777;
}

/* A replaced file keeps its mode; a new one gets 0666 less the umask;
 * while it is written, the temporary is the owner's only. */
Test(safetensors, save_keeps_the_mode)
{
	const char *path = tmp("m.st");
	mode_t mask = umask(022);
	cr_assert_eq(save_w(path, 4, 1.0, "a"), NB_OK);
	cr_expect_eq(mode_of(path), 0644);
	static const unsigned modes[] = {0600, 0640, 0444, 0755};
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(chmod(path, modes[i]), 0);
		hook_reset(path);
		cr_assert_eq(save_w(path, 4, 2.0, "b"), NB_OK, "%s",
		             nb_last_error());
		cr_expect_eq(mode_of(path), modes[i], "%o became %o", modes[i],
		             mode_of(path));
		cr_expect_eq(hook.mode_seen, 0600, "written with mode %o",
		             hook.mode_seen);
	}
	umask(027);
	cr_assert_eq(save_w(tmp("n1.st"), 4, 1.0, "a"), NB_OK);
	cr_expect_eq(mode_of(tmp("n1.st")), 0640);
	umask(077);
	cr_assert_eq(save_w(tmp("n2.st"), 4, 1.0, "a"), NB_OK);
	cr_expect_eq(mode_of(tmp("n2.st")), 0600);
	umask(mask);
	/* As root, the owner and group are kept too. */
	if (geteuid() == 0) {
		struct stat sb;
		cr_assert_eq(chown(path, 1234, 5678), 0);
		cr_assert_eq(chmod(path, 0640), 0);
		cr_assert_eq(save_w(path, 4, 3.0, "c"), NB_OK);
		cr_assert_eq(stat(path, &sb), 0);
		cr_expect(sb.st_uid == 1234 && sb.st_gid == 5678, "%d:%d",
		          (int)sb.st_uid, (int)sb.st_gid);
		cr_expect_eq(sb.st_mode & 07777, 0640);
	}
}

Test(safetensors, check_writable)
{
	cr_expect_eq(nb_safetensors_check_writable(tmp("m.st")), NB_OK, "%s",
	             nb_last_error());
	cr_expect_str_eq(dir_listing(), "", "the probe is removed");
	cr_expect_eq(nb_safetensors_check_writable(tmp("no/m.st")), NB_EIO);
	cr_expect(strstr(nb_last_error(), "no/m.st: cannot save: creating a "
	                 "file in ") && strstr(nb_last_error(), "/no: No such "
	                 "file or directory"), "%s", nb_last_error());
	put_file(tmp("f"), "x");
	cr_expect_eq(nb_safetensors_check_writable(tmp("f/m.st")), NB_EIO);
	cr_expect(strstr(nb_last_error(), "Not a directory"), "%s",
	          nb_last_error());
	cr_expect_eq(nb_safetensors_check_writable(dir), NB_EIO);
	cr_expect(strstr(nb_last_error(), "it is a directory"));
	cr_expect_eq(nb_safetensors_check_writable(""), NB_EINVAL);
	cr_expect_eq(nb_safetensors_check_writable(NULL), NB_EINVAL);
	cr_expect_eq(nb_safetensors_save("", NULL, 0, NULL), NB_EINVAL);
	cr_expect_str_eq(dir_listing(), "f");
}

/* ---- loading: nothing matched ---- */

Test(safetensors, nonstrict_load_of_nothing_is_an_error)
{
	nb_module *m = mlp(NB_F32, "linear:3");
	nb_load_report rep;
	double before = nb_tensor_get(nb_module_tensor(m, "fc1.weight"), 0);
	cr_assert_eq(save_w(tmp("other.st"), 4, 1.0, "a"), NB_OK);
	cr_expect_eq(nb_module_load(m, tmp("other.st"), false, &rep),
	             NB_ENOTFOUND);
	cr_expect(strstr(nb_last_error(), "other.st: no tensor name matches "
	                 "the model's, nothing was loaded (the file has w; the "
	                 "model has fc1.weight, "), "%s", nb_last_error());
	cr_expect_eq(rep.loaded, 0);
	cr_expect_eq(nb_tensor_get(nb_module_tensor(m, "fc1.weight"), 0),
	             before);
	/* A file of no tensors at all. */
	cr_assert_eq(nb_safetensors_save(tmp("empty.st"), NULL, 0, NULL),
	             NB_OK);
	cr_expect_eq(nb_module_load(m, tmp("empty.st"), false, &rep),
	             NB_ENOTFOUND);
	cr_expect(strstr(nb_last_error(), "(the file has none; "), "%s",
	          nb_last_error());
	nb_module_free(m);
}

/* ---- parameter groups in checkpoints (issue 16) ---- */

/* A fresh AdamW no-decay optimizer over m (two groups). */
static nb_optim *grouped(nb_module *m, double lr)
{
	nb_adam_opts ao = nb_adamw_defaults();
	ao.lr = lr;
	nb_optim *o = nb_optim_adamw_no_decay(m, &ao);
	cr_assert_not_null(o, "%s", nb_last_error());
	cr_assert_eq(nb_optim_group_count(o), 2);
	return o;
}

/*
 * Each group's hyperparameters are saved under PyTorch's param_groups
 * names and restored with the state; a schedule's initial_lr too.  A
 * file without them (before 2026-12) still loads, options untouched; a
 * file with other groups is refused.
 */
Test(safetensors, optimizer_groups_round_trip)
{
	const char *path = tmp("groups.safetensors");
	nb_module *m = mlp(NB_F64, "linear:3");
	nb_optim *o = grouped(m, 0.01);
	nb_group_opts go = nb_group_defaults();
	cr_assert_eq(nb_optim_set_group_lr(o, 1, 0.003), NB_OK);
	nb_sched *s = nb_sched_exponential_lr(o, 0.5);
	cr_assert_eq(nb_sched_step(s), NB_OK);
	cr_assert_eq(nb_checkpoint_save(path, m, o, NULL), NB_OK, "%s",
	             nb_last_error());
	nb_safetensors *f;
	cr_assert_eq(nb_safetensors_open(path, &f), NB_OK);
	nb_dtype dt;
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	cr_expect_eq(nb_safetensors_info(f, "optim/param_groups.1.params", &dt,
	             &ndim, shape), NB_OK);
	cr_expect_eq(dt, NB_I64);
	cr_expect_eq(nb_safetensors_info(f, "optim/param_groups.0.betas", &dt,
	             &ndim, shape), NB_OK);
	cr_expect(ndim == 1 && shape[0] == 2);
	nb_tensor *lr = nb_safetensors_read(f, "optim/param_groups.1.lr");
	cr_expect_float_eq(nb_tensor_item(lr), 0.0015, 1e-18);
	nb_tensor_free(lr);
	nb_tensor *init = nb_safetensors_read(f,
	                                      "optim/param_groups.1.initial_lr");
	cr_expect_eq(nb_tensor_item(init), 0.003);
	nb_tensor_free(init);
	/* The same file without the param_groups entries: an old one. */
	size_t n = nb_safetensors_count(f), k = 0;
	nb_named_tensor *t = calloc(n, sizeof *t);
	for (size_t i = 0; i < n; i++) {
		const char *nm = nb_safetensors_name(f, i);
		if (strstr(nm, "param_groups"))
			continue;
		t[k++] = (nb_named_tensor){nm, nb_safetensors_read(f, nm), false};
	}
	const char *meta[] = {"nabla.optim", "adamw", NULL};
	cr_assert_eq(nb_safetensors_save(tmp("old.safetensors"), t, k, meta),
	             NB_OK, "%s", nb_last_error());
	for (size_t i = 0; i < k; i++)
		nb_tensor_free(t[i].tensor);
	free(t);
	nb_safetensors_close(f);

	nb_module *m2 = mlp(NB_F64, "linear:3");
	nb_optim *o2 = grouped(m2, 0.5);
	nb_sched *s2 = NULL;
	cr_assert_eq(nb_optim_load_state(o2, path), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(nb_optim_group_lr(o2, 0), 0.005);
	cr_expect_eq(nb_optim_group_lr(o2, 1), 0.0015);
	nb_optim_group(o2, 0, &go, NULL, NULL);
	cr_expect(go.weight_decay == 1e-2 && go.beta1 == 0.9 &&
	          go.beta2 == 0.999);
	nb_optim_group(o2, 1, &go, NULL, NULL);
	cr_expect_eq(go.weight_decay, 0);
	/* initial_lr came back: a schedule made now has the saved base. */
	s2 = nb_sched_exponential_lr(o2, 0.5);
	cr_expect_eq(nb_sched_base_lr(s2), 0.01);
	cr_expect_eq(nb_sched_set_epoch(s2, 1), NB_OK);
	cr_expect_eq(nb_optim_group_lr(o2, 1), 0.0015);
	nb_sched_free(s2);

	/* An old file: the state loads, the options stay. */
	nb_optim *o3 = grouped(m2, 0.5);
	cr_assert_eq(nb_optim_load_state(o3, tmp("old.safetensors")), NB_OK,
	             "%s", nb_last_error());
	cr_expect_eq(nb_optim_group_lr(o3, 1), 0.5);
	cr_expect_eq(nb_optim_step_count(o3), 0); /* no optimizer step ran */

	/* One group over the same parameters: refused, nothing copied. */
	nb_tensor *p[8];
	size_t np = nb_module_params(m2, true, p, 8);
	nb_optim *o4 = nb_optim_adamw(p, np, NULL);
	cr_expect_eq(nb_optim_load_state(o4, path), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "has 2 parameter groups, this "
	                 "optimizer 1"), "%s", nb_last_error());
	cr_expect_eq(nb_optim_get_lr(o4), 1e-3);
	nb_optim_free(o);
	nb_optim_free(o2);
	nb_optim_free(o3);
	nb_optim_free(o4);
	nb_sched_free(s);
	nb_module_free(m);
	nb_module_free(m2);
}

/* An SGD checkpoint with momentum in a group cannot load into an
 * optimizer whose group has none (it lacks the buffers). */
Test(safetensors, optimizer_group_momentum_must_match)
{
	const char *path = tmp("sgdgroups.safetensors");
	nb_module *m = mlp(NB_F64, "linear:3");
	nb_tensor *p[8];
	size_t n = nb_module_params(m, true, p, 8);
	nb_optim *o = nb_optim_sgd(p, 2, NULL);
	nb_group_opts go = nb_group_defaults();
	go.momentum = 0.9;
	cr_assert_eq(nb_optim_add_group(o, p + 2, n - 2, &go), NB_OK);
	cr_assert_eq(nb_checkpoint_save(path, m, o, NULL), NB_OK);
	nb_optim *o2 = nb_optim_sgd(p, 2, NULL);
	go.momentum = 0;
	cr_assert_eq(nb_optim_add_group(o2, p + 2, n - 2, &go), NB_OK);
	cr_expect_eq(nb_optim_load_state(o2, path), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "param_groups.1: momentum 0.9"),
	          "%s", nb_last_error());
	/* Other group sizes over the same parameters: refused too. */
	nb_optim *o3 = nb_optim_sgd(p, 1, NULL);
	go.momentum = 0.9;
	cr_assert_eq(nb_optim_add_group(o3, p + 1, n - 1, &go), NB_OK);
	cr_expect_eq(nb_optim_load_state(o3, path), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "group 0"), "%s", nb_last_error());
	nb_optim_free(o);
	nb_optim_free(o2);
	nb_optim_free(o3);
	nb_module_free(m);
}
