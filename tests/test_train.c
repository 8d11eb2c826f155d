/*
 * test_train.c - the `nabla train` command, run as a process: a short
 * run on the synthetic set, the JSON Lines log, --save then --load,
 * fine-tuning with --init-from and --freeze, and exit codes.
 */
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "support/helpers.h"
#include "support/tmpdir.h"

static const char *dir;
static char nabla_bin[512], out[1 << 16], err[1 << 14];

static void setup(void)
{
	char *b = realpath(getenv("NB_BUILDDIR") ? getenv("NB_BUILDDIR") : ".",
	                   NULL);
	cr_assert_not_null(b);
	snprintf(nabla_bin, sizeof nabla_bin, "%s/nabla", b);
	free(b);
	dir = nbt_tmpdir_make("train");
}

static void teardown(void)
{
	nbt_tmpdir_remove();
}

TestSuite(train, .init = setup, .fini = teardown, .timeout = 60);

static void slurp(const char *path, char *buf, size_t cap)
{
	FILE *fp = fopen(path, "r");
	size_t n = fp ? fread(buf, 1, cap - 1, fp) : 0;
	buf[n] = '\0';
	if (fp)
		fclose(fp);
}

/* Runs `nabla train ARGS` with a small synthetic set; returns the exit
 * status, stdout in out, stderr in err. */
static int nabla(const char *args)
{
	char cmd[4096], o[600], e[600];
	snprintf(o, sizeof o, "%s/out", dir);
	snprintf(e, sizeof e, "%s/err", dir);
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' train --threads 1 %s "
	         ">'%s' 2>'%s' </dev/null", dir, nabla_bin, args, o, e);
	int st = system(cmd);
	slurp(o, out, sizeof out);
	slurp(e, err, sizeof err);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define QUICK "--synthetic --train-limit 600 --test-limit 300 --batch 50 "

Test(train, plain_output)
{
	cr_assert_eq(nabla(QUICK "--model 'linear:16 linear:10' --epochs 2"),
	             0, "%s", err);
	cr_expect(strstr(out, "data: synthetic, 600 training and 300 test"),
	          "%s", out);
	cr_expect(strstr(out, "epoch 1/2  train_loss"), "%s", out);
	cr_expect(strstr(out, "epoch 2/2  train_loss"), "%s", out);
	cr_expect(strstr(out, "test_acc"), "%s", out);
	/* Not a terminal: no progress bar. */
	cr_expect_null(strchr(err, '\r'));
}

/* Parses out as JSON Lines; returns the number of lines. */
static size_t json_lines(json_t **ev, size_t cap)
{
	size_t n = 0;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		json_error_t je;
		cr_assert_lt(n, cap);
		ev[n] = json_loads(line, 0, &je);
		cr_assert_not_null(ev[n], "not JSON: %s (%s)", line, je.text);
		cr_assert(json_is_object(ev[n]));
		n++;
	}
	return n;
}

static const char *event(json_t *e)
{
	return json_string_value(json_object_get(e, "event"));
}

static double num(json_t *e, const char *k)
{
	json_t *v = json_object_get(e, k);
	cr_assert(json_is_number(v), "%s is not a number", k);
	return json_number_value(v);
}

Test(train, json_log_save_and_load)
{
	json_t *ev[8];
	cr_assert_eq(nabla(QUICK "--model 'linear:16 linear:10' --epochs 2 "
	                   "--json --save a.safetensors --seed 3"), 0, "%s", err);
	size_t n = json_lines(ev, 8);
	cr_assert_eq(n, 4, "%s", out);
	cr_expect_str_eq(event(ev[0]), "start");
	cr_expect_str_eq(json_string_value(json_object_get(ev[0], "model")),
	                 "linear:16 linear:10");
	cr_expect_eq(num(ev[0], "parameters"), 784 * 16 + 16 + 16 * 10 + 10);
	cr_expect_str_eq(event(ev[1]), "epoch");
	cr_expect_eq(num(ev[2], "epoch"), 2);
	double acc = num(ev[2], "test_accuracy");
	cr_expect(acc > 0.2 && acc <= 1, "accuracy %g", acc);
	cr_expect(num(ev[2], "train_loss") < num(ev[1], "train_loss"));
	cr_expect_str_eq(event(ev[3]), "end");
	cr_expect_eq(num(ev[3], "test_accuracy"), acc);
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);

	/* The checkpoint names the model: --load needs no --model, and
	 * evaluating it gives the same accuracy. */
	cr_assert_eq(nabla(QUICK "--load a.safetensors --epochs 0 --json"), 0,
	             "%s", err);
	n = json_lines(ev, 8);
	cr_assert_eq(n, 2, "%s", out);
	cr_expect_eq(num(ev[1], "test_accuracy"), acc);
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);

	/* Resuming restores the optimizer and the epoch count. */
	cr_assert_eq(nabla(QUICK "--load a.safetensors --epochs 1 --schedule "
	                   "exp:0.5 --json --save b.safetensors"), 0, "%s", err);
	n = json_lines(ev, 8);
	cr_assert_eq(n, 3, "%s", out);
	cr_expect_eq(num(ev[1], "lr"), 0.025); /* 0.1 * 0.5^2: epoch 3 */
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);
	cr_assert_eq(nabla(QUICK "--load b.safetensors --epochs 1"), 0, "%s",
	             err);
	cr_expect(strstr(err, "resumed sgd's state and epoch 3"), "%s", err);
	cr_assert_eq(nabla(QUICK "--load b.safetensors --epochs 1 --optim "
	                   "adam"), 0, "%s", err);
	cr_expect(strstr(err, "the optimizer state is sgd's, not adam's; the "
	                 "optimizer starts afresh"), "%s", err);
	/* A different model does not load strictly. */
	cr_expect_eq(nabla(QUICK "--load a.safetensors --model 'linear:8 "
	                   "linear:10' --epochs 0"), 1);
	cr_expect(strstr(err, "fc1.weight' has shape [16, 784] in the file "
	                 "but [8, 784]"), "%s", err);
}

static nb_tensor *read_tensor(const char *file, const char *name)
{
	char path[1100];
	nb_safetensors *f;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	cr_assert_eq(nb_safetensors_open(path, &f), NB_OK, "%s",
	             nb_last_error());
	nb_tensor *t = nb_safetensors_read(f, name);
	cr_assert_not_null(t, "%s", nb_last_error());
	nb_safetensors_close(f);
	return t;
}

Test(train, fine_tune_with_a_new_head)
{
	cr_assert_eq(nabla(QUICK "--model 'linear:16 linear:10' --epochs 1 "
	                   "--save base.safetensors"), 0, "%s", err);
	cr_assert_eq(nabla(QUICK "--model 'linear:16 linear:10@head' "
	                   "--init-from base.safetensors --freeze fc1 "
	                   "--epochs 1 --save tuned.safetensors"), 0, "%s", err);
	cr_expect(strstr(err, "loaded 2 tensors; kept the initial values of 2 "
	                 "(head.weight, head.bias); skipped 2 (fc2.weight, "
	                 "fc2.bias)"), "%s", err);
	cr_expect(strstr(out, "(170 trainable)"), "%s", out);
	nb_tensor *a = read_tensor("base.safetensors", "fc1.weight");
	nb_tensor *b = read_tensor("tuned.safetensors", "fc1.weight");
	cr_expect_eq(memcmp(nb_tensor_cdata(a), nb_tensor_cdata(b),
	                    784 * 16 * 4), 0, "a frozen layer changed");
	nb_tensor_free(a);
	nb_tensor_free(b);
	/* Resuming with a layer frozen now: the weights load, the
	 * optimizer (saved for 4 parameters) starts afresh with a note. */
	cr_expect_eq(nabla(QUICK "--model 'linear:16 linear:10' --momentum 0.9 "
	                   "--load base.safetensors --freeze fc1 --epochs 1"),
	             0, "%s", err);
	cr_expect(strstr(err, "the optimizer state is for 4 parameters, this "
	                 "optimizer updates 2"), "%s", err);
	cr_expect(strstr(err, "the optimizer starts afresh"), "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:16 linear:10' --freeze fc9 "
	                   "--epochs 0"), 2);
	cr_expect(strstr(err, "no parameter is named 'fc9'"), "%s", err);
}

Test(train, exit_codes)
{
	cr_expect_eq(nabla("--help"), 0);
	cr_expect(strstr(out, "Usage: nabla train"));
	cr_expect_eq(nabla("--bogus"), 2);
	cr_expect(strstr(err, "unknown option"), "%s", err);
	cr_expect_eq(nabla("--lr -1"), 2);
	cr_expect_eq(nabla("--epochs x"), 2);
	cr_expect_eq(nabla("--optim lbfgs"), 2);
	cr_expect_eq(nabla("--optim adam --nesterov"), 2);
	cr_expect_eq(nabla(QUICK "--init bogus --epochs 0"), 2);
	cr_expect(strstr(err, "bogus"), "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:16 tanh linear:10' --init "
	                   "xavier_uniform:auto --epochs 1"), 0, "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:10' --freeze fc1"), 2);
	cr_expect(strstr(err, "every parameter is frozen"), "%s", err);
	cr_expect_eq(nabla("--schedule step:0,1"), 2);
	cr_expect_eq(nabla("--load a --init-from b"), 2);
	cr_expect_eq(nabla(QUICK "--model 'linear:16 relux'"), 2);
	cr_expect(strstr(err, "spec:1:11: unknown layer 'relux'"), "%s", err);
	cr_expect_eq(nabla("--data /nonexistent --epochs 0"), 1);
	cr_expect(strstr(err, "/nonexistent/train-images-idx3-ubyte"), "%s",
	          err);
	cr_expect_eq(nabla(QUICK "--load missing.safetensors"), 1);
	cr_expect(strstr(err, "missing.safetensors"), "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:10' --lr 1e38 --momentum 0 "
	                   "--epochs 1"), 1);
	cr_expect(strstr(err, "the loss is NaN at epoch 1, step 2"), "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:10' --lr 1e38 --momentum 0 "
	                   "--epochs 1 --detect-anomaly"), 1);
	cr_expect(strstr(err, "linear: anomaly: forward of node 0 produced a "
	                 "non-finite value"), "%s", err);
}

Test(train, every_optimizer_learns)
{
	const char *opt[] = {"adam", "adamw --weight-decay 0.1",
	                     "rmsprop --momentum 0.5 --alpha 0.9",
	                     "adam --beta1 0.8 --beta2 0.99 --eps 1e-6"};
	for (size_t i = 0; i < 4; i++) {
		char args[256];
		json_t *ev[8];
		snprintf(args, sizeof args, QUICK "--model 'linear:16 relu "
		         "linear:10' --epochs 2 --json --optim %s", opt[i]);
		cr_assert_eq(nabla(args), 0, "%s: %s", opt[i], err);
		size_t n = json_lines(ev, 8);
		cr_assert_eq(n, 4);
		cr_expect(num(ev[2], "train_loss") < num(ev[1], "train_loss"),
		          "%s", opt[i]);
		for (size_t k = 0; k < n; k++)
			json_decref(ev[k]);
	}
}

Test(train, schedule_l1_l2_clipping_and_anomaly_run)
{
	cr_expect_eq(nabla(QUICK "--model 'linear:16 linear:10' --epochs 2 "
	                   "--schedule cosine --l1 1e-5 --l2 1e-4 --clip-norm 1 "
	                   "--clip-value 0.5 --nesterov --weight-decay 1e-4 "
	                   "--detect-anomaly --json"), 0, "%s", err);
	json_t *ev[8];
	size_t n = json_lines(ev, 8);
	cr_assert_eq(n, 4);
	cr_expect_eq(num(ev[1], "lr"), 0.1);
	cr_expect(fabs(num(ev[2], "lr") - 0.05) < 1e-12);
	for (size_t i = 0; i < n; i++)
		json_decref(ev[i]);
}

/* Writes an IDX file of type code, dims[0..rank), n bytes of data. */
static void put_idx(const char *name, unsigned char code, int rank,
                    const uint32_t *dims, const void *data, size_t n)
{
	char path[700];
	unsigned char h[4] = {0, 0, code, (unsigned char)rank};
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *fp = fopen(path, "wb");
	cr_assert_not_null(fp, "%s", path);
	cr_assert_eq(fwrite(h, 1, 4, fp), 4);
	for (int i = 0; i < rank; i++) {
		unsigned char d[4] = {(unsigned char)(dims[i] >> 24),
		                      (unsigned char)(dims[i] >> 16),
		                      (unsigned char)(dims[i] >> 8),
		                      (unsigned char)dims[i]};
		cr_assert_eq(fwrite(d, 1, 4, fp), 4);
	}
	cr_assert_eq(fwrite(data, 1, n, fp), n);
	cr_assert_eq(fclose(fp), 0);
}

/* A Fashion-MNIST directory of n_train images h x w and n_test th x tw
 * (at most 4 each, of 784 pixels at most), labels 0 1 2 3. */
static void put_data(uint32_t n_train, uint32_t h, uint32_t w,
                     uint32_t n_test, uint32_t th, uint32_t tw)
{
	static unsigned char px[4 * 784];
	const unsigned char lab[4] = {0, 1, 2, 3};
	for (size_t i = 0; i < sizeof px; i++)
		px[i] = (unsigned char)(i * 7);
	uint32_t a[3] = {n_train, h, w}, b[3] = {n_test, th, tw};
	put_idx("train-images-idx3-ubyte", 8, 3, a, px, n_train * h * w);
	put_idx("train-labels-idx1-ubyte", 8, 1, a, lab, n_train);
	put_idx("t10k-images-idx3-ubyte", 8, 3, b, px, n_test * th * tw);
	put_idx("t10k-labels-idx1-ubyte", 8, 1, b, lab, n_test);
}

/* Data that cannot be trained on is an error naming the file: a set of
 * 0 samples trained and printed "train_loss -nan" with exit status 0;
 * test images of 14x56 passed beside training images of 28x28; float
 * labels became classes (NaN 0, 9.99 9, -0.5 0). */
Test(train, data_that_cannot_be_trained_on)
{
	put_data(4, 28, 28, 2, 28, 28);
	cr_expect_eq(nabla("--data . --model linear:10 --epochs 1 --batch 2"),
	             0, "%s", err);
	put_data(0, 28, 28, 2, 28, 28);
	cr_expect_eq(nabla("--data . --model linear:10 --epochs 1"), 1, "%s",
	             out);
	cr_expect(strstr(err, "./train-images-idx3-ubyte: the training set is "
	                 "empty (0 images of 28 x 28)"), "%s", err);
	cr_expect(!strstr(out, "nan"), "%s", out);
	put_data(4, 28, 28, 2, 14, 56);
	cr_expect_eq(nabla("--data . --model linear:10 --epochs 1"), 1);
	cr_expect(strstr(err, "./t10k-images-idx3-ubyte: the test images are "
	                 "14 x 56, the training images 28 x 28"), "%s", err);
	const unsigned char f32[] = {0x7f, 0xc0, 0, 0, 0x41, 0x1f, 0xd7, 0x0a,
	                             0xbf, 0, 0, 0, 0, 0, 0, 0};
	uint32_t n[1] = {4};
	put_data(4, 28, 28, 2, 28, 28);
	put_idx("train-labels-idx1-ubyte", 0xd, 1, n, f32, sizeof f32);
	cr_expect_eq(nabla("--data . --model linear:10 --epochs 1"), 1);
	cr_expect(strstr(err, "./train-labels-idx1-ubyte: IDX type f32 holds "
	                 "floats"), "%s", err);
}

/* --init and --freeze values are checked as options: an unknown scheme
 * was reported as "spec:1:1: init: unknown scheme 'foo'" (it is not in
 * the spec), and --freeze "" froze every parameter (the empty prefix). */
Test(train, init_and_freeze_values)
{
	cr_expect_eq(nabla(QUICK "--model 'relu' --init foo --epochs 0"), 2);
	const char *want = "nabla train: --init: unknown scheme 'foo' "
	                   "(choices: zeros, constant, ";
	cr_expect(!strncmp(err, want, strlen(want)), "%s", err);
	cr_expect(!strstr(err, "spec:"), "%s", err);
	cr_expect_eq(nabla(QUICK "--init kaiming_normal:bogus=1 --epochs 0"),
	             2);
	cr_expect(strstr(err, "nabla train: --init: init 'kaiming_normal': "
	                 "unexpected argument 'bogus=1'"), "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:16 relu linear:10' --init "
	                   "kaiming_normal:nonlinearity=auto --epochs 0"), 0,
	             "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:16 linear:10' --freeze '' "
	                   "--epochs 0"), 2);
	cr_expect(strstr(err, "--freeze needs a parameter name or prefix, not "
	                 "an empty string"), "%s", err);
	cr_expect_eq(nabla(QUICK "--model 'linear:16 linear:10' --freeze fc1 "
	                   "--epochs 0"), 0, "%s", err);
}
