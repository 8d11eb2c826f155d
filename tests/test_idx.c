/*
 * test_idx.c - the IDX reader on good and hostile files made here (plain
 * and gzip), and the data set helpers (dataset.c): Fashion-MNIST when
 * installed, the synthetic set, standardization, batches, evaluation.
 */
#include <unistd.h>
#include <zlib.h>
#include "support/helpers.h"
#include "support/tmpdir.h"

static const char *dir;

static void setup(void)
{
	dir = nbt_tmpdir_make("idx");
}

static void teardown(void)
{
	nbt_tmpdir_remove();
}

TestSuite(idx, .init = setup, .fini = teardown);
TestSuite(dataset);

/* Writes bytes to dir/name, gzip-compressed if gz. */
static const char *put(const char *name, const void *b, size_t n, bool gz)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (gz) {
		gzFile f = gzopen(path, "wb");
		cr_assert_not_null(f);
		if (n)
			gzwrite(f, b, (unsigned)n);
		gzclose(f);
	} else {
		FILE *fp = fopen(path, "wb");
		fwrite(b, 1, n, fp);
		fclose(fp);
	}
	return path;
}

Test(idx, reads_u8_plain_and_gzip)
{
	const unsigned char f[] = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3,
	                           1, 2, 3, 250, 0, 7};
	for (int gz = 0; gz < 2; gz++) {
		nb_tensor *t = nb_idx_read(put("a", f, sizeof f, gz), NB_F32);
		cr_assert_not_null(t, "%s", nb_last_error());
		cr_expect_eq(nb_tensor_ndim(t), 2);
		cr_expect_eq(nb_tensor_dim(t, 0), 2);
		cr_expect_eq(nb_tensor_dim(t, 1), 3);
		const double want[] = {1, 2, 3, 250, 0, 7};
		nbt_expect_close(t, want, 6, 0, 0, "u8");
		nb_tensor_free(t);
	}
}

Test(idx, reads_every_element_type)
{
	const unsigned char i8[] = {0, 0, 9, 1, 0, 0, 0, 2, 0xff, 5};
	const unsigned char i16[] = {0, 0, 0xb, 1, 0, 0, 0, 2, 0xff, 0xfe, 1, 0};
	const unsigned char i32[] = {0, 0, 0xc, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff,
	                             0xfd};
	const unsigned char f32[] = {0, 0, 0xd, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0, 0};
	const unsigned char f64[] = {0, 0, 0xe, 1, 0, 0, 0, 1, 0xc0, 0x04, 0, 0,
	                             0, 0, 0, 0};
	const struct {
		const unsigned char *b;
		size_t n;
		double want[2];
		size_t count;
	} c[] = {
		{i8, sizeof i8, {-1, 5}, 2}, {i16, sizeof i16, {-2, 256}, 2},
		{i32, sizeof i32, {-3}, 1}, {f32, sizeof f32, {1.5}, 1},
		{f64, sizeof f64, {-2.5}, 1},
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		nb_tensor *t = nb_idx_read(put("t", c[i].b, c[i].n, false), NB_F64);
		cr_assert_not_null(t, "case %zu: %s", i, nb_last_error());
		nbt_expect_close(t, c[i].want, c[i].count, 0, 0, "value");
		nb_tensor_free(t);
	}
	nb_tensor *t = nb_idx_read(put("t", i8, sizeof i8, false), NB_I64);
	cr_expect_eq(nb_tensor_dtype(t), NB_I64);
	cr_expect_eq(((const int64_t *)nb_tensor_cdata(t))[0], -1);
	nb_tensor_free(t);
}

static const struct {
	const char *what;
	unsigned char b[24];
	size_t n;
	const char *msg;
} hostile[] = {
	{"an empty file", {0}, 0, "shorter than its 4-byte magic"},
	{"a wrong magic", {1, 0, 8, 1, 0, 0, 0, 1, 5}, 9, "not an IDX file: "
	 "magic 01 00 08 01"},
	{"an unknown type", {0, 0, 7, 1, 0, 0, 0, 1, 5}, 9, "magic 00 00 07"},
	{"rank 0", {0, 0, 8, 0}, 4, "rank 0 is outside 1..8"},
	{"rank 200", {0, 0, 8, 200}, 4, "rank 200 is outside"},
	{"a truncated header", {0, 0, 8, 2, 0, 0, 0, 1, 0, 0}, 10,
	 "truncated IDX header"},
	{"overflowing dimensions", {0, 0, 0xe, 3, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 16, "claim more than"},
	{"a huge claim with no data", {0, 0, 8, 2, 0x7f, 0xff, 0xff, 0xff, 0,
	 0, 0, 8, 1}, 13, "truncated IDX data: 1 of"},
	{"truncated data", {0, 0, 8, 1, 0, 0, 0, 3, 1, 2}, 10,
	 "truncated IDX data: 2 of 3 bytes"},
	{"trailing data", {0, 0, 8, 1, 0, 0, 0, 1, 1, 2}, 10, "trailing bytes"},
};

Test(idx, hostile_files_are_errors)
{
	for (int gz = 0; gz < 2; gz++)
		for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
			nb_tensor *t = nb_idx_read(put("h", hostile[i].b,
			                              hostile[i].n, gz), NB_F32);
			cr_expect_null(t, "%s", hostile[i].what);
			cr_expect_eq(nb_last_status(), NB_EFORMAT, "%s: %s",
			             hostile[i].what, nb_last_error());
			cr_expect(strstr(nb_last_error(), hostile[i].msg),
			          "%s (gz %d): '%s' lacks '%s'", hostile[i].what, gz,
			          nb_last_error(), hostile[i].msg);
			nb_tensor_free(t);
		}
}

Test(idx, corrupt_gzip_and_missing_files)
{
	const unsigned char f[] = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4};
	char path[512];
	snprintf(path, sizeof path, "%s", put("c.gz", f, sizeof f, true));
	/* Damage the deflate stream and its CRC. */
	FILE *fp = fopen(path, "r+b");
	fseek(fp, 12, SEEK_SET);
	fputc(0xff, fp);
	fputc(0xff, fp);
	fclose(fp);
	cr_expect_null(nb_idx_read(path, NB_F32));
	cr_expect_eq(nb_last_status(), NB_EFORMAT, "%s", nb_last_error());
	/* zlib's message begins with the path: said once, not twice */
	const char *e = nb_last_error(), *first = strstr(e, path);
	cr_expect(first == e && !strstr(first + 1, path) &&
	          strstr(e, ": gzip: "), "%s", e);
	cr_expect_null(nb_idx_read("/nonexistent/x-idx1-ubyte", NB_F32));
	cr_expect_eq(nb_last_status(), NB_EIO);
	cr_expect_null(nb_idx_read(path, (nb_dtype)7));
	cr_expect_eq(nb_last_status(), NB_EINVAL);
}

Test(idx, fashion_mnist_layout_in_a_directory)
{
	/* A 2-image "Fashion-MNIST" with 2x2 images, plain and .gz mixed. */
	const unsigned char img[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0,
	                             0, 2, 0, 255, 51, 102, 1, 2, 3, 4};
	const unsigned char lab[] = {0, 0, 8, 1, 0, 0, 0, 2, 9, 0};
	const unsigned char bad[] = {0, 0, 8, 1, 0, 0, 0, 2, 9, 10};
	put("train-images-idx3-ubyte.gz", img, sizeof img, true);
	put("train-labels-idx1-ubyte", lab, sizeof lab, false);
	put("t10k-images-idx3-ubyte", img, sizeof img, false);
	put("t10k-labels-idx1-ubyte.gz", lab, sizeof lab, true);
	nb_dataset d;
	cr_assert_eq(nb_dataset_fashion_mnist(dir, &d), NB_OK, "%s",
	             nb_last_error());
	cr_expect_eq(d.features, 4);
	cr_expect_eq(nb_tensor_dim(d.train_x, 0), 2);
	cr_expect_float_eq(nb_tensor_get(d.train_x, 1), 1.0, 1e-7);
	cr_expect_float_eq(nb_tensor_get(d.train_x, 2), 0.2, 1e-7);
	cr_expect_eq(nb_tensor_get(d.test_y, 0), 9);
	cr_expect_str_eq(d.name, "fashion-mnist");
	nb_dataset_free(&d);
	put("t10k-labels-idx1-ubyte.gz", bad, sizeof bad, true);
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "/t10k-labels-idx1-ubyte.gz: label 1 "
	                 "is 10, not a class 0..9"), "%s", nb_last_error());
	cr_expect_null(d.train_x);
	cr_expect_eq(nb_dataset_fashion_mnist("/nonexistent", &d), NB_EIO);
}

/* A gzip stream damaged far from its start fails while the data are
 * read: the message named the path twice ("P: P: incorrect data
 * check"), as zlib's own message begins with it. */
Test(idx, corrupt_gzip_data_names_the_path_once)
{
	enum { N = 1 << 17 };
	static unsigned char b[8 + N];
	const unsigned char h[] = {0, 0, 8, 1, 0, 2, 0, 0}; /* u8 [131072] */
	uint32_t x = 1;
	memcpy(b, h, 8);
	for (size_t i = 8; i < sizeof b; i++) { /* incompressible */
		x = x * 1664525u + 1013904223u;
		b[i] = (unsigned char)(x >> 24);
	}
	char path[512];
	snprintf(path, sizeof path, "%s", put("late.gz", b, sizeof b, true));
	FILE *fp = fopen(path, "r+b");
	cr_assert_not_null(fp);
	cr_assert_eq(fseek(fp, -100, SEEK_END), 0);
	int c = fgetc(fp);
	cr_assert_eq(fseek(fp, -100, SEEK_END), 0);
	fputc(c ^ 0xff, fp);
	cr_assert_eq(fclose(fp), 0);
	cr_expect_null(nb_idx_read(path, NB_F32));
	const char *e = nb_last_error(), *first = strstr(e, path);
	cr_expect_eq(nb_last_status(), NB_EFORMAT, "%s", e);
	cr_expect(first == e && !strstr(first + 1, path), "%s", e);
	cr_expect(strstr(e, ": gzip: "), "%s", e);
}

/* A directory named like an IDX file is said to be one (it read as
 * "shorter than its 4-byte magic"). */
Test(idx, a_directory_is_not_a_file)
{
	char path[512], cmd[600];
	snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
	snprintf(cmd, sizeof cmd, "mkdir '%s'", path);
	cr_assert_eq(system(cmd), 0);
	cr_expect_null(nb_idx_read(path, NB_F32));
	cr_expect_eq(nb_last_status(), NB_EIO);
	cr_expect(strstr(nb_last_error(), "train-images-idx3-ubyte: is a "
	                 "directory, not an IDX file"), "%s", nb_last_error());
	nb_dataset d;
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EIO);
	cr_expect(strstr(nb_last_error(), "is a directory"), "%s",
	          nb_last_error());
}

/* Labels read as integers must be stored as integers: f32 NaN, 9.99 and
 * -0.5 used to become classes 0, 9 and 0.  Floats still read as floats. */
Test(idx, float_labels_are_not_integers)
{
	const unsigned char f32[] = {0, 0, 0xd, 1, 0, 0, 0, 3,
	                             0x7f, 0xc0, 0, 0,       /* NaN */
	                             0x41, 0x1f, 0xd7, 0x0a, /* 9.99 */
	                             0xbf, 0, 0, 0};         /* -0.5 */
	const unsigned char f64[] = {0, 0, 0xe, 1, 0, 0, 0, 1, 0x40, 0x08, 0, 0,
	                             0, 0, 0, 0};            /* 3.0 */
	const char *path = put("l-idx1-ubyte", f32, sizeof f32, false);
	cr_expect_null(nb_idx_read(path, NB_I64));
	cr_expect_eq(nb_last_status(), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "l-idx1-ubyte: IDX type f32 holds "
	                 "floats; integer values (labels) need u8, i8, i16 or "
	                 "i32"), "%s", nb_last_error());
	nb_tensor *t = nb_idx_read(path, NB_F32);
	cr_assert_not_null(t, "%s", nb_last_error());
	cr_expect(isnan(nb_tensor_get(t, 0)));
	cr_expect_float_eq(nb_tensor_get(t, 1), 9.99, 1e-6);
	nb_tensor_free(t);
	cr_expect_null(nb_idx_read(put("l", f64, sizeof f64, true), NB_I64));
	cr_expect(strstr(nb_last_error(), "IDX type f64 holds floats"), "%s",
	          nb_last_error());
}

/* IDX images [n, h, w] of u8 zeros (n * h * w <= 64). */
static void put_images(const char *name, int n, int h, int w)
{
	unsigned char b[16 + 64] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0,
	                            0, 0, (unsigned char)h, 0, 0, 0,
	                            (unsigned char)w};
	put(name, b, 16 + (size_t)(n * h * w), false);
}

/* IDX labels [n] of type code (u8 0x08 or f32 0x0d), all class 1. */
static void put_labels(const char *name, int n, unsigned char code)
{
	unsigned char b[8 + 4 * 16] = {0, 0, code, 1, 0, 0, 0,
	                               (unsigned char)n};
	size_t sz = code == 0x0d ? 4 : 1;
	for (int i = 0; i < n; i++) {
		if (sz == 4) { /* 1.0f */
			b[8 + 4 * i] = 0x3f;
			b[9 + 4 * i] = 0x80;
		} else {
			b[8 + i] = 1;
		}
	}
	put(name, b, 8 + sz * (size_t)n, false);
}

static void put_set(int ntrain, int th, int tw, int ntest, int sh, int sw,
                    unsigned char label_code)
{
	put_images("train-images-idx3-ubyte", ntrain, th, tw);
	put_labels("train-labels-idx1-ubyte", ntrain, 0x08);
	put_images("t10k-images-idx3-ubyte", ntest, sh, sw);
	put_labels("t10k-labels-idx1-ubyte", ntest, label_code);
}

/* The data set's own checks: every error names the file. */
Test(idx, fashion_mnist_refuses_what_it_cannot_train_on)
{
	nb_dataset d;
	put_set(2, 4, 4, 2, 4, 4, 0x08);
	cr_assert_eq(nb_dataset_fashion_mnist(dir, &d), NB_OK, "%s",
	             nb_last_error());
	nb_dataset_free(&d);
	/* an empty training set used to train and print train_loss -nan */
	put_set(0, 4, 4, 2, 4, 4, 0x08);
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "/train-images-idx3-ubyte: the "
	                 "training set is empty (0 images of 4 x 4)"), "%s",
	          nb_last_error());
	cr_expect_null(d.train_x);
	put_set(2, 4, 4, 0, 4, 4, 0x08);
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "/t10k-images-idx3-ubyte: the test "
	                 "set is empty"), "%s", nb_last_error());
	put_set(2, 0, 4, 2, 0, 4, 0x08);
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "(2 images of 0 x 4)"), "%s",
	          nb_last_error());
	/* 2 x 8 beside 4 x 4: the same 16 pixels used to pass */
	put_set(2, 4, 4, 2, 2, 8, 0x08);
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EFORMAT);
	cr_expect(strstr(nb_last_error(), "/t10k-images-idx3-ubyte: the test "
	                 "images are 2 x 8, the training images 4 x 4 ("),
	          "%s", nb_last_error());
	cr_expect(strstr(nb_last_error(), "/train-images-idx3-ubyte)"), "%s",
	          nb_last_error());
	/* float labels, even whole numbers */
	put_set(2, 4, 4, 2, 4, 4, 0x0d);
	cr_expect_eq(nb_dataset_fashion_mnist(dir, &d), NB_EDTYPE);
	cr_expect(strstr(nb_last_error(), "/t10k-labels-idx1-ubyte: IDX type "
	                 "f32 holds floats"), "%s", nb_last_error());
	cr_expect_null(d.test_y);
}

Test(dataset, installed_fashion_mnist)
{
	if (access(NB_FASHION_MNIST_DIR "/t10k-labels-idx1-ubyte.gz", R_OK))
		cr_skip_test("dataset-fashion-mnist is not installed");
	nb_tensor *y = nb_idx_read(NB_FASHION_MNIST_DIR
	                           "/t10k-labels-idx1-ubyte.gz", NB_I64);
	cr_assert_not_null(y, "%s", nb_last_error());
	cr_expect_eq(nb_tensor_dim(y, 0), 10000);
	nb_tensor_free(y);
}

Test(dataset, synthetic_is_seeded_and_learnable_shape)
{
	nb_dataset a, b, c;
	cr_assert_eq(nb_dataset_synthetic(50, 20, 6, 3, 1, &a), NB_OK);
	cr_assert_eq(nb_dataset_synthetic(50, 20, 6, 3, 1, &b), NB_OK);
	cr_assert_eq(nb_dataset_synthetic(50, 20, 6, 3, 2, &c), NB_OK);
	cr_expect_eq(memcmp(nb_tensor_cdata(a.train_x),
	             nb_tensor_cdata(b.train_x), 50 * 6 * 4), 0);
	cr_expect_neq(memcmp(nb_tensor_cdata(a.train_x),
	              nb_tensor_cdata(c.train_x), 50 * 6 * 4), 0);
	cr_expect_eq(nb_tensor_dim(a.test_x, 0), 20);
	cr_expect_eq(a.classes, 3);
	cr_expect_str_eq(a.name, "synthetic");
	double mean, sd;
	cr_assert_eq(nb_dataset_standardize(&a, &mean, &sd), NB_OK);
	double s = 0, ss = 0;
	for (size_t i = 0; i < 300; i++) {
		s += nb_tensor_get(a.train_x, i);
		ss += nb_tensor_get(a.train_x, i) * nb_tensor_get(a.train_x, i);
	}
	cr_expect(fabs(s / 300) < 1e-6 && fabs(ss / 300 - 1) < 1e-5,
	          "mean %g, var %g", s / 300, ss / 300);
	cr_expect(sd > 0.9 && sd < 1.2, "sd %g", sd);
	nb_dataset_free(&a);
	nb_dataset_free(&b);
	nb_dataset_free(&c);
	cr_expect_eq(nb_dataset_synthetic(0, 1, 1, 2, 0, &c), NB_EINVAL);
	cr_expect_null(c.train_x);
}

Test(dataset, shuffle_gather_and_evaluate)
{
	nb_rng r;
	nb_rng_seed(&r, 4);
	int64_t idx[10];
	nb_shuffle(idx, 10, &r);
	int seen = 0;
	for (int i = 0; i < 10; i++)
		seen |= 1 << idx[i];
	cr_expect_eq(seen, 0x3ff);
	/* logits = x W^T with W = I: row i's class is argmax of x_i. */
	nb_tensor *x = nb_tensor_zeros(NB_F32, NB_SHAPE(4, 2));
	nb_tensor *y = nb_tensor_zeros(NB_I64, NB_SHAPE(4));
	const float xv[] = {1, 0, 0, 1, 2, 0, 0, 3};
	const int64_t yv[] = {0, 1, 1, 1};
	memcpy(nb_tensor_data(x), xv, sizeof xv);
	memcpy(nb_tensor_data(y), yv, sizeof yv);
	nb_graph *g = nb_graph_new();
	nb_tensor *bx, *by;
	int64_t pick[] = {3, 0};
	cr_assert_eq(nb_batch_gather(g, x, y, pick, 2, &bx, &by), NB_OK);
	cr_expect_eq(nb_tensor_get(bx, 1), 3);
	cr_expect_eq(nb_tensor_get(by, 1), 0);
	int64_t out[] = {4};
	cr_expect_eq(nb_batch_gather(g, x, y, out, 1, &bx, &by), NB_EINVAL);
	nb_graph_reset(g);
	nb_module *m = nb_model_parse("linear:2,bias=0", 2, NULL);
	nb_tensor *w = nb_module_tensor(m, "fc1.weight");
	const float eye[] = {1, 0, 0, 1};
	memcpy(nb_tensor_data(w), eye, sizeof eye);
	double loss, acc;
	cr_assert_eq(nb_evaluate(m, g, x, y, 3, &loss, &acc), NB_OK, "%s",
	             nb_last_error());
	cr_expect_float_eq(acc, 0.75, 1e-12);
	double want = (log(1 + exp(-1.0)) + log(1 + exp(-1.0)) +
	               log(1 + exp(2.0)) + log(1 + exp(-3.0))) / 4;
	cr_expect_float_eq(loss, want, 1e-6);
	cr_expect(nb_module_training(m));
	nb_module_free(m);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(y);
}
