/*
 * fuzz_cli.c - the argument parsing of every nabla subcommand: the input,
 * split on NUL bytes, is the command line after "nabla", run by the real
 * main() (tools/nabla.c, compiled with main renamed to nabla_main) and
 * the commands of tools/.  No command may exit() or abort; each returns
 * its exit code, and runs again in the same process for the next input.
 *
 * A command line that parses runs the command, so the harness keeps the
 * work small and harmless: it refuses lines with --plot, --save or -o
 * (which would write files wherever the input says), and appends caps
 * that override what came before (getopt keeps the last value): a
 * single op for gradcheck, tiny layer sizes for initlab, DOT output for
 * dot (not Graphviz's renderers), and for train a tiny data set of its
 * own in place of the input's --data or --synthetic (8 images of 4 x 4
 * in a temporary directory: the synthetic set would draw 6000 x 784
 * values per run), 16 rows and one epoch; a line with both --data and
 * --synthetic is left alone (a usage error).  stdin is /dev/null
 * (--load /dev/stdin must not block).
 */
#include <fcntl.h>
#include <stdbool.h>
#include "fuzz.h"

int nabla_main(int argc, char **argv);

#define MAX_ARGS 64

static const char *const caps_gradcheck[] = {"relu", NULL};
static const char *const caps_initlab[] = {"--sizes=6,4,4", "--batch=3",
                                           NULL};
static const char *const caps_dot[] = {"-Tdot", NULL};
static const char *const caps_train[] = {"--epochs=1", "--batch=8",
                                         "--train-limit=16",
                                         "--test-limit=16", NULL};

/* A Fashion-MNIST directory of 8 images of 4 x 4, for train. */
static char data_dir[64] = "/tmp/nabla-fuzz-XXXXXX", data_opt[80];
static const char *const data_files[] = {
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
};

static void remove_data(void)
{
	char path[160];
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", data_dir, data_files[i]);
		unlink(path);
	}
	rmdir(data_dir);
}

static void make_data(void)
{
	static const unsigned char images[16] = {0, 0, 8, 3, 0, 0, 0, 8,
	                                         0, 0, 0, 4, 0, 0, 0, 4};
	static const unsigned char labels[8] = {0, 0, 8, 1, 0, 0, 0, 8};
	char path[160];
	if (!mkdtemp(data_dir))
		abort();
	atexit(remove_data);
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", data_dir, data_files[i]);
		FILE *f = fopen(path, "wb");
		if (!f)
			abort();
		bool img = i % 2 == 0;
		fwrite(img ? images : labels, 1, img ? 16 : 8, f);
		for (int k = 0; k < (img ? 128 : 8); k++)
			fputc(img ? k * 2 : k % 10, f);
		fclose(f);
	}
	snprintf(data_opt, sizeof data_opt, "--data=%s", data_dir);
}

static void init(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	unsetenv("NABLA_PLUGINS"); /* no code from outside the input */
	make_data();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1); /* commands print their results here */
		close(null);
	}
	fz_init_alloc();
}

/* Whether an argument may name an option that writes a file (--plot,
 * --save or their abbreviations, or -o in a cluster of short ones) or
 * loads code (--plugin): inputs with one are skipped. */
static int writes_files(const char *a)
{
	return !strncmp(a, "--p", 3) || !strncmp(a, "--sa", 4) ||
	       (a[0] == '-' && a[1] != '-' && strchr(a, 'o'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *argv[MAX_ARGS + 8];
	int argc = 0;
	if (!buf)
		return 0;
	init();
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "nabla";
	for (size_t i = 0; i <= size && argc < MAX_ARGS;) {
		char *a = buf + i;
		size_t len = strlen(a);
		if (writes_files(a))
			goto out;
		argv[argc++] = a;
		i += len + 1;
	}
	const char *const *caps = NULL;
	bool synthetic = false, has_data = false;
	for (int i = 2; i < argc; i++) {
		synthetic |= !strncmp(argv[i], "--sy", 4);
		has_data |= !strncmp(argv[i], "--da", 4);
	}
	if (argc > 1 && !strcmp(argv[1], "gradcheck"))
		caps = caps_gradcheck;
	else if (argc > 1 && !strcmp(argv[1], "initlab"))
		caps = caps_initlab;
	else if (argc > 1 && !strcmp(argv[1], "dot"))
		caps = caps_dot;
	else if (argc > 1 && !strcmp(argv[1], "train")) {
		caps = caps_train;
		if (synthetic && !has_data) { /* drop --synthetic, --sy... */
			int k = 1;
			for (int i = 1; i < argc; i++)
				if (i < 2 || strncmp(argv[i], "--sy", 4))
					argv[k++] = argv[i];
			argc = k;
		}
		if (!synthetic || !has_data)
			argv[argc++] = data_opt;
	}
	for (int i = 0; caps && caps[i]; i++)
		argv[argc++] = (char *)caps[i];
	argv[argc] = NULL;
	nabla_main(argc, argv);
out:
	free(buf);
	return 0;
}
