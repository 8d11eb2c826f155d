/*
 * test_arrays.c - the .npy, .npz and CSV readers and writers and the
 * data sets built from them (lib/io/npy.c, npz.c, csv.c, userdata.c):
 * the NumPy-made files of tests/data/arrays/ (tests/data/gen_arrays.py),
 * hostile files made here, round trips, atomic saves, and out-of-memory
 * sweeps with the fault allocator.
 */
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include "support/helpers.h"
#include "support/tmpdir.h"
#include "support/faultalloc.h"

static const char *tmp;

static void setup(void)
{
	tmp = nbt_tmpdir_make("arrays");
}

static void teardown(void)
{
	nbt_tmpdir_remove();
}

TestSuite(npy, .init = setup, .fini = teardown);
TestSuite(npz, .init = setup, .fini = teardown);
TestSuite(csv, .init = setup, .fini = teardown);
TestSuite(userdata, .init = setup, .fini = teardown);

/* tests/data/arrays/name. */
static const char *data(const char *name)
{
	static char p[4][1024];
	static int k;
	k = (k + 1) % 4;
	snprintf(p[k], sizeof p[k], "%s/tests/data/arrays/%s", nbt_srcdir(),
	         name);
	return p[k];
}

/* Writes n bytes to tmp/name. */
static const char *put(const char *name, const void *b, size_t n)
{
	static char path[1024];
	snprintf(path, sizeof path, "%s/%s", tmp, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, n, f), n);
	fclose(f);
	return path;
}

/* A whole file, NUL-terminated after *n bytes (free it). */
static unsigned char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	unsigned char *b = malloc(1 << 20);
	*n = fread(b, 1, (1 << 20) - 1, f);
	b[*n] = 0;
	fclose(f);
	return b;
}

/* The failure's status and that its message holds each of the texts. */
static void expect_error(nb_status want, const char *a, const char *b)
{
	cr_expect_eq(nb_last_status(), want, "status %s, want %s: %s",
	             nb_strerror(nb_last_status()), nb_strerror(want),
	             nb_last_error());
	cr_expect(strstr(nb_last_error(), a), "'%s' not in: %s", a,
	          nb_last_error());
	if (b)
		cr_expect(strstr(nb_last_error(), b), "'%s' not in: %s", b,
		          nb_last_error());
}

static void expect_shape(const nb_tensor *t, int ndim, const int64_t *s)
{
	cr_assert_eq(nb_tensor_ndim(t), ndim);
	for (int i = 0; i < ndim; i++)
		cr_expect_eq(nb_tensor_dim(t, i), s[i], "dim %d", i);
}

/* The 3 x 4 integers gen_arrays.py's ints() writes for a type. */
static void ints_want(double *w, bool sig, double lo, double hi)
{
	for (int i = 0; i < 12; i++)
		w[i] = i - (sig ? 5 : 0);
	w[0] = lo;
	w[11] = hi;
}

/* ---- .npy ---- */

Test(npy, reads_floats_in_both_byte_orders)
{
	const char *f[] = {"f4_le.npy", "f4_be.npy", "f8_le.npy", "f8_be.npy"};
	double want[12];
	for (int i = 0; i < 12; i++)
		want[i] = (i - 5.5) / 4;
	for (int k = 0; k < 4; k++) {
		nb_tensor *t = nb_npy_load(data(f[k]));
		cr_assert_not_null(t, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_dtype(t), k < 2 ? NB_F32 : NB_F64, "%s",
		             f[k]);
		expect_shape(t, 2, (int64_t[]){3, 4});
		nbt_expect_close(t, want, 12, 0, 0, f[k]);
		nb_tensor_free(t);
	}
}

Test(npy, reads_every_integer_type_as_int64)
{
	const struct {
		const char *file;
		bool sig;
		double lo, hi;
	} c[] = {
		{"i1.npy", 1, -128, 127}, {"u1.npy", 0, 0, 255},
		{"i2_le.npy", 1, -32768, 32767}, {"i2_be.npy", 1, -32768, 32767},
		{"u2_le.npy", 0, 0, 65535}, {"u2_be.npy", 0, 0, 65535},
		{"i4_le.npy", 1, -2147483648.0, 2147483647.0},
		{"i4_be.npy", 1, -2147483648.0, 2147483647.0},
		{"u4_le.npy", 0, 0, 4294967295.0}, {"u4_be.npy", 0, 0, 4294967295.0},
		{"i8_le.npy", 1, 0, 0}, {"i8_be.npy", 1, 0, 0},
		{"u8_le.npy", 0, 0, 0}, {"u8_be.npy", 0, 0, 0},
	};
	for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
		nb_tensor *t = nb_npy_load(data(c[k].file));
		cr_assert_not_null(t, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_dtype(t), NB_I64, "%s", c[k].file);
		expect_shape(t, 2, (int64_t[]){3, 4});
		const int64_t *p = nb_tensor_data(t);
		double w[12];
		ints_want(w, c[k].sig, c[k].lo, c[k].hi);
		for (int i = 1; i < 11; i++)
			cr_expect_eq(p[i], (int64_t)w[i], "%s[%d]", c[k].file, i);
		if (strstr(c[k].file, "8_")) { /* int64 extremes, exactly */
			cr_expect_eq(p[0], c[k].sig ? INT64_MIN : 0, "%s", c[k].file);
			cr_expect_eq(p[11], INT64_MAX, "%s", c[k].file);
		} else {
			cr_expect_eq(p[0], (int64_t)w[0], "%s", c[k].file);
			cr_expect_eq(p[11], (int64_t)w[11], "%s", c[k].file);
		}
		nb_tensor_free(t);
	}
}

Test(npy, reads_bool_fortran_versions_scalars_and_empty)
{
	nb_tensor *t = nb_npy_load(data("b1.npy"));
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_dtype(t), NB_BOOL);
	nbt_expect_close(t, (double[]){1, 0, 1, 0, 0, 1}, 6, 0, 0, "b1");
	nb_tensor_free(t);
	/* Fortran order is transposed into row-major order. */
	t = nb_npy_load(data("fortran_f8.npy"));
	cr_assert_not_null(t, "%s", nb_last_error());
	expect_shape(t, 3, (int64_t[]){2, 3, 4});
	for (size_t i = 0; i < 24; i++)
		cr_expect_eq(nb_tensor_get(t, i), (double)i, "fortran [%zu]", i);
	nb_tensor_free(t);
	t = nb_npy_load(data("fortran_i4.npy"));
	cr_assert_not_null(t, "%s", nb_last_error());
	nbt_expect_close(t, (double[]){0, 1, 2, 3, 4, 5}, 6, 0, 0, "fortran i4");
	nb_tensor_free(t);
	const char *v[] = {"v2_f4.npy", "v3_f8.npy"};
	for (int k = 0; k < 2; k++) {
		t = nb_npy_load(data(v[k]));
		cr_assert_not_null(t, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_get(t, 11), 1.375, "%s", v[k]);
		nb_tensor_free(t);
	}
	t = nb_npy_load(data("scalar_f8.npy"));
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_ndim(t), 0);
	cr_expect_eq(nb_tensor_item(t), 3.5);
	nb_tensor_free(t);
	t = nb_npy_load(data("empty_f4.npy"));
	cr_assert_not_null(t, "%s", nb_last_error());
	expect_shape(t, 2, (int64_t[]){0, 3});
	cr_expect_eq(nb_tensor_numel(t), 0);
	nb_tensor_free(t);
}

Test(npy, refuses_types_it_has_no_tensor_for)
{
	cr_expect_null(nb_npy_load(data("f2.npy")));
	expect_error(NB_EDTYPE, "f2.npy", "'<f2'");
	cr_expect_null(nb_npy_load(data("c8.npy")));
	expect_error(NB_EDTYPE, "c8.npy", "'<c8'");
	cr_expect_null(nb_npy_load(data("u8_big.npy")));
	expect_error(NB_EFORMAT, "u8_big.npy", "9223372036854775813");
	cr_expect_null(nb_npy_load(nbt_tmpdir_path("missing.npy")));
	expect_error(NB_EIO, "missing.npy", "No such file");
	cr_expect_null(nb_npy_load(tmp));
	expect_error(NB_EIO, "is a directory", NULL);
}

/* A .npy file of version 1.0 with header text h and n data bytes of 2. */
static const char *npy_with(const char *name, const char *h, size_t n)
{
	unsigned char b[1024] = "\x93NUMPY\x01\x00";
	size_t hl = strlen(h);
	b[8] = (unsigned char)hl;
	b[9] = (unsigned char)(hl >> 8);
	memcpy(b + 10, h, hl);
	memset(b + 10 + hl, 2, n);
	return put(name, b, 10 + hl + n);
}

Test(npy, reads_headers_spaced_and_ordered_any_way)
{
	const char *h[] = {
		"{\"shape\" : ( 2 , ) , \"fortran_order\":False,'descr':'<i4'}\n",
		"{'descr':'<i4','shape':(2,),'fortran_order':False,}   \n",
		"{'fortran_order': False, 'shape': (2L,), 'descr': '=i4', }\n",
	};
	for (int k = 0; k < 3; k++) {
		nb_tensor *t = nb_npy_load(npy_with("h.npy", h[k], 8));
		cr_assert_not_null(t, "header %d: %s", k, nb_last_error());
		nbt_expect_close(t, (double[]){33686018, 33686018}, 2, 0, 0, "h");
		nb_tensor_free(t);
	}
}

Test(npy, hostile_headers_are_format_errors_naming_the_file)
{
	const struct {
		const char *h;
		size_t n;
		const char *says;
	} c[] = {
		{"{'descr': '<f4', 'fortran_order': False}", 0, "no 'shape'"},
		{"{'descr': '<f4', 'shape': (2,), 'fortran_order': False, "
		 "'x': 1}", 8, "unknown key 'x'"},
		{"{'descr': '<f4', 'descr': '<f4', 'shape': (), "
		 "'fortran_order': False}", 4, "twice"},
		{"{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}", 4,
		 "fortran_order"},
		{"{'descr': '|f4', 'fortran_order': False, 'shape': ()}", 4,
		 "no byte order"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': "
		 "(1,1,1,1,1,1,1,1,1)}", 4, "rank above 8"},
		{"{'descr': '<f8', 'fortran_order': False, 'shape': "
		 "(4294967296, 4294967296)}", 0, "overflows"},
		{"{'descr': '<f8', 'fortran_order': False, 'shape': "
		 "(99999999999999999999,)}", 0, "overflows"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 8,
		 "truncated data: 8 of the 12 bytes"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", 8,
		 "4 bytes after the data"},
		{"{'descr': '|b1', 'fortran_order': False, 'shape': (2,)}", 2,
		 "not 0 or 1"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", 4,
		 "'shape'"},
		{"{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", 4,
		 "text after the dict"},
		{"['descr', '<f4']", 4, "not a dict"},
		{"{'descr': [('a', '<f4')], 'fortran_order': False, "
		 "'shape': (1,)}", 4, "structured"},
	};
	for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
		cr_expect_null(nb_npy_load(npy_with("bad.npy", c[k].h, c[k].n)),
		               "case %zu", k);
		cr_expect(strstr(nb_last_error(), "bad.npy"), "case %zu: %s", k,
		          nb_last_error());
		cr_expect(strstr(nb_last_error(), c[k].says), "case %zu: '%s' "
		          "not in %s", k, c[k].says, nb_last_error());
		cr_expect(nb_last_status() == NB_EFORMAT ||
		          nb_last_status() == NB_EDTYPE, "case %zu", k);
	}
}

Test(npy, hostile_prefixes)
{
	cr_expect_null(nb_npy_load(put("m.npy", "\x93NUMPX\x01\x00\x00\x00",
	                               10)));
	expect_error(NB_EFORMAT, "m.npy", "magic");
	cr_expect_null(nb_npy_load(put("e.npy", "", 0)));
	expect_error(NB_EFORMAT, "e.npy", "magic");
	cr_expect_null(nb_npy_load(put("v.npy", "\x93NUMPY\x04\x00\x00\x00",
	                               10)));
	expect_error(NB_EFORMAT, "v.npy", "version 4.0");
	cr_expect_null(nb_npy_load(put("t.npy", "\x93NUMPY\x01\x00\x76\x00{",
	                               11)));
	expect_error(NB_EFORMAT, "t.npy", "truncated .npy header");
	cr_expect_null(nb_npy_load(put("l.npy", "\x93NUMPY\x02\x00\xff\xff"
	                               "\xff\x7f{", 13)));
	expect_error(NB_EFORMAT, "l.npy", "at most 100000");
	/* A file cut short anywhere is an error, never a crash. */
	size_t n;
	unsigned char *b = slurp(data("fortran_f8.npy"), &n);
	for (size_t k = 0; k < n; k += 7) {
		cr_expect_null(nb_npy_load(put("cut.npy", b, k)), "cut at %zu", k);
		cr_expect_eq(nb_last_status(), NB_EFORMAT, "cut at %zu", k);
	}
	free(b);
}

Test(npy, writes_what_numpy_writes)
{
	/* The same bytes as numpy.save's, for each dtype nabla writes. */
	const char *f[] = {"f4_le.npy", "f8_le.npy", "i8_le.npy", "b1.npy",
	                   "scalar_f8.npy", "empty_f4.npy", "rank1_i8.npy"};
	for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
		nb_tensor *t = nb_npy_load(data(f[k]));
		cr_assert_not_null(t, "%s", nb_last_error());
		const char *out = nbt_tmpdir_path("out.npy");
		cr_assert_eq(nb_npy_save(out, t), NB_OK, "%s", nb_last_error());
		size_t n1, n2;
		unsigned char *a = slurp(data(f[k]), &n1), *b = slurp(out, &n2);
		cr_expect(n1 == n2 && !memcmp(a, b, n1), "%s: %zu vs %zu bytes",
		          f[k], n1, n2);
		free(a);
		free(b);
		nb_tensor_free(t);
	}
}

/* The number of entries in tmp (for leftover temporaries). */
static int entries(void)
{
	int n = 0;
	DIR *d = opendir(tmp);
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

Test(npy, saves_replace_atomically)
{
	nb_tensor *t = nb_tensor_arange(NB_F64, 0, 5, 1);
	const char *path = put("keep.npy", "old", 3);
	char p[1024];
	snprintf(p, sizeof p, "%s", path);
	chmod(p, 0640);
	int before = entries();
	cr_assert_eq(nb_npy_save(p, t), NB_OK, "%s", nb_last_error());
	struct stat sb;
	cr_expect_eq(stat(p, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0640, "the mode is kept");
	cr_expect_eq(entries(), before, "no temporary left");
	nb_tensor *back = nb_npy_load(p);
	nbt_expect_close(back, (double[]){0, 1, 2, 3, 4}, 5, 0, 0, "back");
	nb_tensor_free(back);
	/* A directory is refused, and nothing is left behind. */
	cr_expect_eq(nb_npy_save(tmp, t), NB_EIO);
	expect_error(NB_EIO, "directory", NULL);
	snprintf(p, sizeof p, "%s/no/such/dir.npy", tmp);
	cr_expect_eq(nb_npy_save(p, t), NB_EIO);
	cr_expect_eq(entries(), before, "no temporary left");
	nb_tensor_free(t);
}

Test(npy, out_of_memory_is_an_error_and_leaks_nothing)
{
	fa_install();
	nb_set_num_threads(1);
	const char *f[] = {"fortran_f8.npy", "i2_be.npy", "b1.npy"};
	for (int k = 0; k < 3; k++) {
		for (long i = 0;; i++) {
			long live = fa.live;
			fa_arm(i);
			nb_tensor *t = nb_npy_load(data(f[k]));
			bool failed = fa.failed;
			fa_arm(-1);
			nb_tensor_free(t);
			cr_expect_eq(fa.live, live, "%s: leak after failure %ld", f[k],
			             i);
			if (!failed) {
				cr_expect_not_null(t);
				break;
			}
			cr_expect_null(t, "%s: failure %ld ignored", f[k], i);
			cr_expect_eq(nb_last_status(), NB_ENOMEM, "%s: %s", f[k],
			             nb_last_error());
		}
	}
	nb_tensor *t = nb_tensor_arange(NB_F32, 0, 6, 1);
	for (long i = 0;; i++) {
		long live = fa.live;
		fa_arm(i);
		nb_status st = nb_npy_save(nbt_tmpdir_path("oom.npy"), t);
		bool failed = fa.failed;
		fa_arm(-1);
		cr_expect_eq(fa.live, live, "save: leak after failure %ld", i);
		if (!failed) {
			cr_expect_eq(st, NB_OK);
			break;
		}
		cr_expect_eq(st, NB_ENOMEM, "save %ld: %s", i, nb_last_error());
	}
	nb_tensor_free(t);
	fa_uninstall();
}

/* ---- .npz ---- */

/* Skips the test in a build without libzip (after checking that it
 * says so). */
static void need_libzip(void)
{
	nb_npz *z = NULL;
	if (nb_npz_open(data("three.npz"), &z) == NB_ESTATE) {
		cr_expect(strstr(nb_last_error(), "without libzip"), "%s",
		          nb_last_error());
		cr_skip_test("nabla was built without libzip: no .npz tests");
	}
	nb_npz_close(z);
}

Test(npz, reads_stored_and_compressed_archives)
{
	need_libzip();
	const char *f[] = {"three.npz", "three_z.npz"};
	for (int k = 0; k < 2; k++) {
		nb_npz *z;
		cr_assert_eq(nb_npz_open(data(f[k]), &z), NB_OK, "%s",
		             nb_last_error());
		cr_assert_eq(nb_npz_count(z), 3);
		cr_expect_str_eq(nb_npz_name(z, 0), "a");
		cr_expect_str_eq(nb_npz_name(z, 1), "b");
		cr_expect_str_eq(nb_npz_name(z, 2), "c");
		cr_expect_null(nb_npz_name(z, 3));
		nb_tensor *a = nb_npz_read(z, "a"), *b = nb_npz_read(z, "b");
		nb_tensor *c = nb_npz_read(z, "c");
		cr_assert(a && b && c, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_dtype(a), NB_F64);
		cr_expect_eq(nb_tensor_get(a, 0), -1.375);
		cr_expect_eq(nb_tensor_dtype(b), NB_I64);
		cr_expect_eq(nb_tensor_get(b, 0), -2147483648.0);
		cr_expect_eq(nb_tensor_dtype(c), NB_BOOL);
		nbt_expect_close(c, (double[]){1, 0}, 2, 0, 0, "c");
		nb_tensor_free(a);
		nb_tensor_free(b);
		nb_tensor_free(c);
		cr_expect_null(nb_npz_read(z, "d"));
		expect_error(NB_ENOTFOUND, "no array 'd'", "a, b, c");
		nb_npz_close(z);
	}
	/* numpy.savez and numpy.savez_compressed themselves. */
	const char *g[] = {"np_savez.npz", "np_savez_z.npz"};
	for (int k = 0; k < 2; k++) {
		nb_npz *z;
		cr_assert_eq(nb_npz_open(data(g[k]), &z), NB_OK, "%s",
		             nb_last_error());
		nb_tensor *x = nb_npz_read(z, "x"), *y = nb_npz_read(z, "y");
		cr_assert(x && y, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_get(x, 11), 1.375);
		cr_expect_eq(nb_tensor_numel(y), 3);
		nb_tensor_free(x);
		nb_tensor_free(y);
		nb_npz_close(z);
	}
}

Test(npz, bad_archives_name_the_file_and_the_array)
{
	need_libzip();
	nb_npz *z;
	cr_assert_eq(nb_npz_open(data("readme.npz"), &z), NB_OK);
	cr_expect_null(nb_npz_read(z, "readme.txt"));
	expect_error(NB_EFORMAT, "readme.npz: array 'readme.txt'", "not a .npy");
	nb_npz_close(z);
	/* A CRC error shows when the member is read, or at opening. */
	nb_status st = nb_npz_open(data("crc.npz"), &z);
	if (!st) {
		cr_expect_null(nb_npz_read(z, "a"));
		expect_error(NB_EFORMAT, "crc.npz: array 'a'", "CRC");
		nb_npz_close(z);
	} else
		expect_error(NB_EFORMAT, "crc.npz", NULL);
	cr_expect_eq(nb_npz_open(data("f4_le.npy"), &z), NB_EFORMAT);
	cr_expect_null(z);
	expect_error(NB_EFORMAT, "f4_le.npy", "zip");
	cr_expect_eq(nb_npz_open(nbt_tmpdir_path("none.npz"), &z), NB_EIO);
	expect_error(NB_EIO, "none.npz", NULL);
	/* Cut short anywhere: an error, never a crash. */
	size_t n;
	unsigned char *b = slurp(data("three_z.npz"), &n);
	for (size_t k = 1; k < n; k += 13) {
		const char *p = put("cut.npz", b, k);
		if (nb_npz_open(p, &z)) {
			cr_expect_neq(nb_last_status(), NB_OK);
			continue;
		}
		for (size_t i = 0; i < nb_npz_count(z); i++)
			nb_tensor_free(nb_npz_read(z, nb_npz_name(z, i)));
		nb_npz_close(z);
	}
	free(b);
}

Test(npz, writes_archives_numpy_reads_back)
{
	need_libzip();
	nb_tensor *a = nb_tensor_arange(NB_F32, 0, 6, 1);
	nb_tensor *b = nb_tensor_full(NB_I64, NB_SHAPE(2, 2), -7);
	nb_tensor *c = nb_tensor_zeros(NB_F64, 0, NULL);
	const char *names[] = {"x", "y_test", "s"};
	const nb_tensor *ts[] = {a, b, c};
	for (int compress = 0; compress < 2; compress++) {
		const char *p = nbt_tmpdir_path("w.npz");
		cr_assert_eq(nb_npz_save(p, names, ts, 3, compress), NB_OK, "%s",
		             nb_last_error());
		nb_npz *z;
		cr_assert_eq(nb_npz_open(p, &z), NB_OK, "%s", nb_last_error());
		cr_expect_eq(nb_npz_count(z), 3);
		for (int i = 0; i < 3; i++) {
			nb_tensor *t = nb_npz_read(z, names[i]);
			cr_assert_not_null(t, "%s", nb_last_error());
			cr_expect_eq(nb_tensor_dtype(t), nb_tensor_dtype(ts[i]));
			cr_expect_eq(nb_tensor_ndim(t), nb_tensor_ndim(ts[i]));
			for (size_t j = 0; j < nb_tensor_numel(t); j++)
				cr_expect_eq(nb_tensor_get(t, j), nb_tensor_get(ts[i], j));
			nb_tensor_free(t);
		}
		nb_npz_close(z);
	}
	const char *dup[] = {"x", "x"}, *slash[] = {"a/b"}, *empty[] = {""};
	cr_expect_eq(nb_npz_save(nbt_tmpdir_path("d.npz"), dup, ts, 2, 0),
	             NB_EINVAL);
	expect_error(NB_EINVAL, "twice", NULL);
	cr_expect_eq(nb_npz_save(nbt_tmpdir_path("d.npz"), slash, ts, 1, 0),
	             NB_EINVAL);
	cr_expect_eq(nb_npz_save(nbt_tmpdir_path("d.npz"), empty, ts, 1, 0),
	             NB_EINVAL);
	cr_expect_eq(nb_npz_save(tmp, names, ts, 3, 0), NB_EIO);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_tensor_free(c);
}

Test(npz, out_of_memory_is_an_error_and_leaks_nothing)
{
	need_libzip();
	fa_install();
	nb_set_num_threads(1);
	for (long i = 0;; i++) {
		long live = fa.live;
		nb_npz *z = NULL;
		nb_tensor *t = NULL;
		fa_arm(i);
		if (!nb_npz_open(data("three_z.npz"), &z))
			t = nb_npz_read(z, "b");
		bool failed = fa.failed;
		nb_status st = nb_last_status();
		fa_arm(-1);
		nb_tensor_free(t);
		nb_npz_close(z);
		cr_expect_eq(fa.live, live, "leak after failure %ld", i);
		if (!failed) {
			cr_expect_not_null(t, "%s", nb_last_error());
			break;
		}
		cr_expect_null(t, "failure %ld ignored", i);
		cr_expect_eq(st, NB_ENOMEM, "%ld: %s", i, nb_last_error());
	}
	fa_uninstall();
}

/* ---- CSV ---- */

Test(csv, reads_numpy_savetxt_with_its_header)
{
	char **cols;
	nb_tensor *t = nb_csv_load(data("regress.csv"), NB_F64, &cols);
	cr_assert_not_null(t, "%s", nb_last_error());
	expect_shape(t, 2, (int64_t[]){160, 4});
	cr_expect_str_eq(cols[0], "a");
	cr_expect_str_eq(cols[3], "target");
	cr_expect_null(cols[4]);
	nb_csv_columns_free(cols);
	nb_tensor_free(t);
}

Test(csv, reads_the_spellings_writers_use)
{
	const char *f[] = {"crlf.csv", "no_newline.csv", "bom_blank.csv"};
	for (int k = 0; k < 3; k++) {
		char **cols;
		nb_tensor *t = nb_csv_load(data(f[k]), NB_F32, &cols);
		cr_assert_not_null(t, "%s", nb_last_error());
		expect_shape(t, 2, (int64_t[]){2, 2});
		nbt_expect_close(t, (double[]){1, 2, 3, 4}, 4, 0, 0, f[k]);
		cr_expect_str_eq(cols[0], "a", "%s", f[k]);
		cr_expect_str_eq(cols[1], "b", "%s", f[k]);
		nb_csv_columns_free(cols);
		nb_tensor_free(t);
	}
	char **cols;
	nb_tensor *t = nb_csv_load(data("quoted.csv"), NB_F64, &cols);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect_str_eq(cols[0], "x, first");
	cr_expect_str_eq(cols[1], "y \"second\"");
	nbt_expect_close(t, (double[]){1.5, 2, 3, -400}, 4, 0, 0, "quoted");
	nb_csv_columns_free(cols);
	nb_tensor_free(t);
	t = nb_csv_load(data("special.csv"), NB_F64, NULL);
	cr_assert_not_null(t, "%s", nb_last_error());
	const double *p = nb_tensor_data(t);
	cr_expect(isnan(p[0]) && isnan(p[3]) && isnan(p[6]), "nan, NaN, empty");
	cr_expect(isinf(p[1]) && p[1] > 0 && isinf(p[4]) && p[4] > 0);
	cr_expect(isinf(p[2]) && p[2] < 0 && isinf(p[5]) && p[5] < 0);
	cr_expect_eq(p[7], 1);
	cr_expect_eq(p[8], 7);
	nb_tensor_free(t);
}

Test(csv, bad_cells_and_rows_give_file_line_and_column)
{
	const struct {
		const char *file, *says;
	} c[] = {
		{"bad_cell.csv", "bad_cell.csv:3:3: column 'b': 'five' is not a "
		 "number"},
		{"ragged.csv", "ragged.csv:3:4: 2 fields, the header has 3"},
		{"long_row.csv", "long_row.csv:3:5: more than the header's 2"},
		{"open_quote.csv", "open_quote.csv:2:3: a quote that is never "
		 "closed"},
	};
	for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
		cr_expect_null(nb_csv_load(data(c[k].file), NB_F32, NULL));
		expect_error(NB_EFORMAT, c[k].says, NULL);
	}
	const char *bad[] = {"a\n0x10\n", "a\n1,5\n", "a\nnan(1)\n", "a\n1e\n",
	                     "a\n.\n", "a\n\"1\"x\n", "a\n--1\n"};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		cr_expect_null(nb_csv_load(put("b.csv", bad[k], strlen(bad[k])),
		                           NB_F32, NULL), "%s", bad[k]);
		cr_expect_eq(nb_last_status(), NB_EFORMAT, "%s", bad[k]);
		cr_expect(strstr(nb_last_error(), "b.csv:2:"), "%s", nb_last_error());
	}
	cr_expect_null(nb_csv_load(put("e.csv", "", 0), NB_F32, NULL));
	expect_error(NB_EFORMAT, "e.csv", "no header");
	cr_expect_null(nb_csv_load(data("crlf.csv"), NB_I64, NULL));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
}

Test(csv, out_of_memory_is_an_error_and_leaks_nothing)
{
	fa_install();
	nb_set_num_threads(1);
	for (long i = 0;; i++) {
		long live = fa.live;
		char **cols = NULL;
		fa_arm(i);
		nb_tensor *t = nb_csv_load(data("quoted.csv"), NB_F32, &cols);
		bool failed = fa.failed;
		fa_arm(-1);
		nb_tensor_free(t);
		nb_csv_columns_free(cols);
		cr_expect_eq(fa.live, live, "leak after failure %ld", i);
		if (!failed)
			break;
		cr_expect_null(t);
		cr_expect_eq(nb_last_status(), NB_ENOMEM, "%s", nb_last_error());
	}
	fa_uninstall();
}

/* ---- data sets ---- */

Test(userdata, npz_with_test_arrays)
{
	need_libzip();
	nb_dataset d;
	cr_assert_eq(nb_dataset_load(&d, data("blobs.npz"), NULL,
	                             NB_TARGETS_AUTO, 0.1, 0), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(d.features, 4);
	cr_expect_eq(d.classes, 3);
	cr_expect_eq(nb_tensor_dim(d.train_x, 0), 240);
	cr_expect_eq(nb_tensor_dim(d.test_x, 0), 90);
	cr_expect_eq(nb_tensor_dtype(d.train_x), NB_F32);
	cr_expect_eq(nb_tensor_dtype(d.train_y), NB_I64);
	cr_expect_str_eq(d.name, "blobs.npz");
	nb_dataset_free(&d);
}

Test(userdata, held_out_rows_follow_the_seed)
{
	need_libzip();
	nb_dataset a, b, c;
	const char *p = data("blobs_notest.npz");
	cr_assert_eq(nb_dataset_load(&a, p, NULL, NB_TARGETS_AUTO, 0.1, 5), 0);
	cr_assert_eq(nb_dataset_load(&b, p, NULL, NB_TARGETS_AUTO, 0.1, 5), 0);
	cr_assert_eq(nb_dataset_load(&c, p, NULL, NB_TARGETS_AUTO, 0.1, 6), 0);
	cr_expect_eq(nb_tensor_dim(a.train_x, 0), 216);
	cr_expect_eq(nb_tensor_dim(a.test_x, 0), 24);
	cr_expect(!memcmp(nb_tensor_data(a.test_x), nb_tensor_data(b.test_x),
	                  24 * 4 * sizeof(float)), "same seed, same rows");
	cr_expect(memcmp(nb_tensor_data(a.test_x), nb_tensor_data(c.test_x),
	                 24 * 4 * sizeof(float)), "another seed, other rows");
	nb_dataset_free(&a);
	nb_dataset_free(&b);
	nb_dataset_free(&c);
	cr_expect_eq(nb_dataset_load(&a, p, NULL, NB_TARGETS_AUTO, 1.5, 0),
	             NB_EINVAL);
	cr_expect_null(a.train_x);
}

Test(userdata, csv_regression_and_classification)
{
	nb_dataset d;
	cr_assert_eq(nb_dataset_load(&d, data("regress.csv"), "target",
	                             NB_TARGETS_AUTO, 0.1, 0), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(d.features, 3);
	cr_expect_eq(d.classes, 0);
	cr_expect_eq(nb_tensor_dtype(d.train_y), NB_F32);
	cr_expect_eq(nb_tensor_dim(d.train_y, 1), 1);
	cr_expect_eq(nb_tensor_dim(d.train_x, 0) + nb_tensor_dim(d.test_x, 0),
	             160);
	nb_dataset_free(&d);
	cr_assert_eq(nb_dataset_load(&d, data("blobs.csv"), "label",
	                             NB_TARGETS_CLASSES, 0.25, 0), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(d.classes, 3);
	cr_expect_eq(d.features, 4);
	nb_dataset_free(&d);
	cr_expect_eq(nb_dataset_load(&d, data("regress.csv"), "nope",
	                             NB_TARGETS_AUTO, 0.1, 0), NB_ENOTFOUND);
	expect_error(NB_ENOTFOUND, "no column 'nope'", "a, b, c, target");
	cr_expect_eq(nb_dataset_load(&d, data("regress.csv"), "target",
	                             NB_TARGETS_CLASSES, 0.1, 0), NB_EFORMAT);
	expect_error(NB_EFORMAT, "column 'target': row 0", "not a class");
	cr_expect_eq(nb_dataset_load(&d, data("regress.csv"), NULL,
	                             NB_TARGETS_AUTO, 0.1, 0), NB_EINVAL);
	cr_expect_eq(nb_dataset_load(&d, data("f4_le.npy"), NULL,
	                             NB_TARGETS_AUTO, 0.1, 0), NB_EINVAL);
}

Test(userdata, bad_sets_name_the_file_and_the_array)
{
	need_libzip();
	const struct {
		const char *file;
		nb_status st;
		const char *says;
	} c[] = {
		{"no_y.npz", NB_ENOTFOUND, "no array 'y'"},
		{"rows_differ.npz", NB_EFORMAT, "array 'x' has 240 rows, array "
		 "'y' 239"},
		{"nan_x.npz", NB_EFORMAT, "array 'x': row 3, feature 2 is NaN"},
		{"crc.npz", NB_ENOTFOUND, "no array 'x'"},
	};
	for (size_t k = 0; k < sizeof c / sizeof *c; k++) {
		nb_dataset d;
		cr_expect_eq(nb_dataset_load(&d, data(c[k].file), NULL,
		                             NB_TARGETS_AUTO, 0.1, 0), c[k].st,
		             "%s: %s", c[k].file, nb_last_error());
		expect_error(c[k].st, c[k].file, c[k].says);
		cr_expect_null(d.train_x);
	}
}

Test(userdata, from_arrays_checks_labels_and_shapes)
{
	nb_tensor *x = nb_tensor_arange(NB_F64, 0, 8, 1);
	nb_tensor *x2 = nb_tensor_from_data(NB_F64, NB_SHAPE(4, 2),
	                                    nb_tensor_data(x), NB_COPY);
	nb_tensor *y = nb_tensor_from_data(NB_I64, NB_SHAPE(4),
	                                   (int64_t[]){0, 1, -1, 1}, NB_COPY);
	nb_tensor *yf = nb_tensor_from_data(NB_F32, NB_SHAPE(4),
	                                    (float[]){0, 1, 2.5f, 1}, NB_COPY);
	nb_dataset d;
	cr_expect_eq(nb_dataset_from_arrays(&d, "mine", x2, y, x2, y,
	                                    NB_TARGETS_AUTO, 0, 0), NB_EFORMAT);
	expect_error(NB_EFORMAT, "mine: array 'y': row 2 is -1", NULL);
	cr_expect_eq(nb_dataset_from_arrays(&d, "mine", x2, yf, x2, yf,
	                                    NB_TARGETS_CLASSES, 0, 0),
	             NB_EFORMAT);
	expect_error(NB_EFORMAT, "row 2 is 2.5", NULL);
	cr_expect_eq(nb_dataset_from_arrays(&d, "mine", x2, yf, x2, NULL,
	                                    NB_TARGETS_AUTO, 0, 0), NB_EINVAL);
	cr_assert_eq(nb_dataset_from_arrays(&d, NULL, x2, yf, x2, yf,
	                                    NB_TARGETS_AUTO, 0, 0), NB_OK);
	cr_expect_eq(d.classes, 0);
	cr_expect_str_eq(d.name, "arrays");
	nb_dataset_free(&d);
	/* Test inputs of another width. */
	cr_expect_eq(nb_dataset_from_arrays(&d, "mine", x2, yf, x, yf,
	                                    NB_TARGETS_AUTO, 0, 0), NB_EFORMAT);
	expect_error(NB_EFORMAT, "array 'x_test' has 8 rows", NULL);
	/* Too few rows to hold any out. */
	cr_expect_eq(nb_dataset_from_arrays(&d, "mine", x2, yf, NULL, NULL,
	                                    NB_TARGETS_AUTO, 0.01, 0),
	             NB_EFORMAT);
	expect_error(NB_EFORMAT, "too few", NULL);
	nb_tensor_free(x);
	nb_tensor_free(x2);
	nb_tensor_free(y);
	nb_tensor_free(yf);
}

Test(userdata, out_of_memory_is_an_error_and_leaks_nothing)
{
	fa_install();
	nb_set_num_threads(1);
	for (long i = 0;; i++) {
		long live = fa.live;
		nb_dataset d;
		fa_arm(i);
		nb_status st = nb_dataset_load(&d, data("regress.csv"), "target",
		                               NB_TARGETS_AUTO, 0.2, 1);
		bool failed = fa.failed;
		fa_arm(-1);
		nb_dataset_free(&d);
		cr_expect_eq(fa.live, live, "leak after failure %ld", i);
		if (!failed) {
			cr_expect_eq(st, NB_OK);
			break;
		}
		cr_expect_eq(st, NB_ENOMEM, "%ld: %s", i, nb_last_error());
	}
	fa_uninstall();
}
