/*
 * cli.c - helpers shared by the subcommands.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "nabla %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'nabla %s --help'.\n", cmd);
	return CLI_USAGE;
}

void cli_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

bool cli_parse_double(const char *s, double *out)
{
	char *end;
	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return !errno && !*end && isfinite(*out);
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	*out = v;
	return !errno && !*end;
}

bool cli_parse_threads(const char *s, int *out)
{
	uint64_t v;
	if (!cli_parse_u64(s, &v) || v < 1 || v > CLI_MAX_THREADS)
		return false;
	*out = (int)v;
	return true;
}

int cli_finish(int rc)
{
	/* ferror catches a write that failed earlier (the buffer was
	 * flushed on the way); fflush writes the rest and reports it.
	 * stdout stays open and its error is cleared: tests/fuzz/fuzz_cli.c
	 * runs main again and again in one process.  (fclose would also
	 * report an error that close(2) finds after a successful flush,
	 * which only some network file systems defer that far.) */
	errno = 0;
	bool lost = fflush(stdout) != 0;
	int err = errno;
	lost |= ferror(stdout) != 0;
	if (!lost)
		return rc;
	clearerr(stdout);
	fprintf(stderr, "nabla: writing the standard output failed%s%s\n",
	        err ? ": " : "", err ? strerror(err) : "");
	return rc == CLI_OK ? CLI_FAIL : rc;
}

void cli_version(void)
{
	printf("nabla %s\n", NB_VERSION_STRING);
	printf("Define-by-run graphs and reverse-mode autodiff in C.\n");
}

int cli_check_init(const char *cmd, const char *scheme)
{
	nb_rng r;
	nb_rng_seed(&r, 0);
	nb_tensor *w = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 2));
	nb_status st = w ? nb_init_apply(w, &r, scheme, "relu")
	                 : nb_last_status();
	nb_tensor_free(w);
	if (st == NB_ENOMEM) {
		fprintf(stderr, "nabla %s: %s\n", cmd, nb_last_error());
		return CLI_FAIL;
	}
	if (!st)
		return CLI_OK;
	const char *msg = nb_last_error();
	if (!strncmp(msg, "init: ", 6))
		msg += 6;
	return cli_usage_error(cmd, "--init: %s", msg);
}
