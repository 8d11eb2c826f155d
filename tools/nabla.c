/*
 * nabla.c - the `nabla` command: dispatches to one subcommand per file.
 */
#include <string.h>
#include "cli.h"

static const cli_cmd cmds[] = {
	{"ops", "list the registered ops", cmd_ops},
	{"gradcheck", "check every op's gradient numerically", cmd_gradcheck},
	{"initlab", "the initialization study: activations and gradients "
	 "per layer", cmd_initlab},
	{"train", "train a model given by a spec; checkpoints", cmd_train},
	{"dot", "draw a network's graph and its gradient health", cmd_dot},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: nabla COMMAND [OPTION]...\n\nCommands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n'nabla COMMAND --help' describes a command; "
	        "see also nabla(1).\n");
}

static int dispatch(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		cli_version();
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "nabla: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CLI_USAGE;
}

/* Every command's standard output is checked here, once: a command that
 * lost its output does not exit 0. */
int main(int argc, char **argv)
{
	return cli_finish(dispatch(argc, argv));
}
