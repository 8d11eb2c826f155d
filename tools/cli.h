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
int cmd_train(int argc, char **argv);
int cmd_dot(int argc, char **argv);

/* Prints "nabla CMD: message" to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes s as a JSON string literal (quotes and escapes included). */
void cli_json_str(FILE *f, const char *s);
/* Parses a whole string as a double / unsigned integer. */
bool cli_parse_double(const char *s, double *out);
bool cli_parse_u64(const char *s, uint64_t *out);
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
