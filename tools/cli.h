/*
 * cli.h - what the nabla subcommands share.
 */
#ifndef NB_CLI_H
#define NB_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <nabla/nabla.h>

/* Exit codes, as documented in nabla(1). */
#define CLI_OK 0
#define CLI_FAIL 1  /* the command ran and found a failure */
#define CLI_USAGE 2 /* bad arguments */

typedef struct cli_cmd {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
} cli_cmd;

int cmd_ops(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_initlab(int argc, char **argv);
/* nabla initlab --rnn: gradients through time (cmd_initlab_rnn.c). */
int cmd_initlab_rnn(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_dot(int argc, char **argv);
/* nabla sample: text from a character model (cmd_sample.c). */
int cmd_sample(int argc, char **argv);

/* Prints "nabla CMD: message" to stderr and returns CLI_USAGE. */
/* An --init SCHEME (nb_init_apply's) checked while options are read:
 * CLI_OK, a usage error naming --init (exit 2), or CLI_FAIL when memory
 * ran out. */
int cli_check_init(const char *cmd, const char *scheme);
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes s as a JSON string literal (quotes and escapes included). */
void cli_json_str(FILE *f, const char *s);
/*
 * Parses a whole string as a double / unsigned integer.  Every option
 * value goes through these, so the rules hold for all subcommands: a
 * double must be finite ("inf" and "nan" are refused, like "abc"), an
 * integer must not be negative.  Callers add their own range and return
 * cli_usage_error (exit 2) when it is not met.
 */
bool cli_parse_double(const char *s, double *out);
bool cli_parse_u64(const char *s, uint64_t *out);
/* The most threads an option may ask for: nb_set_num_threads's limit. */
#define CLI_MAX_THREADS 64
/* A thread count, 1..CLI_MAX_THREADS. */
bool cli_parse_threads(const char *s, int *out);
/*
 * Ends the command: flushes standard output and returns rc,
 * or CLI_FAIL with a message on stderr when anything written to it was
 * lost (a full disk, /dev/full, a closed pipe), so that no command
 * exits 0 with its output gone.  Called once, by main.
 */
int cli_finish(int rc);
/*
 * Renders DOT text (len bytes) as fmt ("svg", "png") into path (NULL:
 * standard output) with Graphviz: libgvc in process when built with it,
 * else the `dot` program from PATH; NABLA_DOT_RENDERER=libgvc|program
 * chooses.  Prints the reason and returns CLI_FAIL when it cannot.
 */
int cli_render(const char *dot, size_t len, const char *fmt,
               const char *path);
/* "libgvc" or "program": what cli_render will use. */
const char *cli_renderer(void);
/* Prints the version banner. */
void cli_version(void);

#endif
