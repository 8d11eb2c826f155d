/*
 * nabla.c - the `nabla` command: dispatches to one subcommand per file.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#ifdef NB_OMP_PASSIVE
#include "omp_passive.h"
#endif

static const cli_cmd cmds[] = {
	{"ops", "list the registered ops", cmd_ops},
	{"gradcheck", "check every op's gradient numerically", cmd_gradcheck},
	{"initlab", "the initialization study: activations and gradients "
	 "per layer", cmd_initlab},
	{"train", "train a model given by a spec; checkpoints", cmd_train},
	{"dot", "draw a network's graph and its gradient health", cmd_dot},
	{"sample", "generate text from a character model", cmd_sample},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: nabla [--plugin FILE]... COMMAND [OPTION]...\n\n"
	        "Commands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n--plugin FILE loads a shared object that registers ops "
	        "and layers\n(also: NABLA_PLUGINS=FILE:FILE...).\n"
	        "'nabla COMMAND --help' describes a command; see also "
	        "nabla(1).\n");
}

static int load_plugin(const char *path)
{
	if (nb_plugin_load(path)) {
		fprintf(stderr, "nabla: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* The plugins of NABLA_PLUGINS (':'-separated; empty entries skipped),
 * then those of the leading --plugin options, which are removed from
 * argv (*argc and *argv updated). */
static int load_plugins(int *argc, char ***argv)
{
	const char *env = getenv("NABLA_PLUGINS");
	if (env && *env) {
		char *list = strdup(env), *save = NULL;
		if (!list)
			return CLI_FAIL;
		int rc = CLI_OK;
		for (char *p = strtok_r(list, ":", &save); p && !rc;
		     p = strtok_r(NULL, ":", &save))
			rc = load_plugin(p);
		free(list);
		if (rc)
			return rc;
	}
	while (*argc > 1 && !strncmp((*argv)[1], "--plugin", 8)) {
		const char *a = (*argv)[1], *path;
		int used;
		if (a[8] == '=') {
			path = a + 9;
			used = 1;
		} else if (!a[8] && *argc > 2) {
			path = (*argv)[2];
			used = 2;
		} else {
			fprintf(stderr, "nabla: %s wants a FILE (--plugin FILE)\n",
			        a);
			return CLI_USAGE;
		}
		int rc = load_plugin(path);
		if (rc)
			return rc;
		/* argv[0] moves up: the command name stays argv[1]. */
		(*argv)[used] = (*argv)[0];
		*argv += used;
		*argc -= used;
	}
	return CLI_OK;
}

static int dispatch(int argc, char **argv)
{
	int rc = load_plugins(&argc, &argv);
	if (rc)
		return rc;
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
#ifdef NB_OMP_PASSIVE
	nb_omp_passive(argv);
#endif
	return cli_finish(dispatch(argc, argv));
}
