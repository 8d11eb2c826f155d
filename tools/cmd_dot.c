/*
 * cmd_dot.c - `nabla dot`: a network's graph as Graphviz DOT, SVG or
 * PNG, optionally after a backward pass with the gradient-health view.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "example.h"

static int usage(void)
{
	printf("Usage: nabla dot --example NAME [OPTION]...\n"
	       "Draw a network's graph (Graphviz DOT), optionally after a "
	       "backward pass\nwith each tensor coloured by its gradient "
	       "norm.\n\n"
	       "  --example NAME   a built-in network: %s\n"
	       "  --model SPEC     a model from the spec language of "
	       "'nabla train' (pending)\n"
	       "  --backward       run backward from the loss first\n"
	       "  --health         colour by gradient norms (implies "
	       "--backward)\n"
	       "  --vanish X       norms below X are vanishing (default "
	       "1e-6)\n"
	       "  --explode X      norms above X are exploding (default "
	       "1e2)\n"
	       "  --eval           build the graph in evaluation mode\n"
	       "  --collapse       draw repeated consecutive scopes once, "
	       "as \"xN\"\n"
	       "  --depth N        draw scopes down to depth N as clusters, "
	       "deeper ones\n"
	       "                   as one node each (default: all)\n"
	       "  --lr             lay out left to right\n"
	       "  --no-legend      leave out the legend\n"
	       "  --title TEXT     the graph's title\n"
	       "  --seed S         seed of the weights and the batch (default "
	       "0)\n"
	       "  -o FILE          write to FILE (default: standard output)\n"
	       "  -T FORMAT        dot (default), svg or png; svg and png "
	       "need Graphviz\n"
	       "                   (renderer: %s)\n"
	       "  --help, --version\n\n"
	       "Exit status: 0 written, 1 failed, 2 usage error.\n",
	       example_names, cli_renderer());
	return CLI_OK;
}

typedef struct dot_args {
	const char *example, *model, *out, *format;
	bool backward;
	uint64_t seed;
	bool eval;
	nb_dot_opts o;
} dot_args;

static const struct option longopts[] = {
	{"example", required_argument, NULL, 'x'},
	{"model", required_argument, NULL, 'm'},
	{"input", required_argument, NULL, 'i'},
	{"backward", no_argument, NULL, 'b'},
	{"health", no_argument, NULL, 'H'},
	{"vanish", required_argument, NULL, 'v'},
	{"explode", required_argument, NULL, 'e'},
	{"eval", no_argument, NULL, 'E'},
	{"collapse", no_argument, NULL, 'c'},
	{"depth", required_argument, NULL, 'd'},
	{"lr", no_argument, NULL, 'l'},
	{"no-legend", no_argument, NULL, 'L'},
	{"title", required_argument, NULL, 't'},
	{"seed", required_argument, NULL, 's'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* Applies option c (with optarg); CLI_OK, CLI_USAGE, or -1 for "done"
 * (--help, --version). */
static int option(dot_args *a, int c, const char *arg)
{
	uint64_t u;
	switch (c) {
	case 'x': a->example = arg; break;
	case 'm': a->model = arg; break;
	case 'i': break; /* the input shape of --model */
	case 'b': a->backward = true; break;
	case 'H': a->o.health = a->backward = true; break;
	case 'v':
	case 'e':
		if (!cli_parse_double(arg, c == 'v' ? &a->o.vanish
		                                    : &a->o.explode))
			return cli_usage_error("dot", "bad value '%s' for --%s",
			                       arg, c == 'v' ? "vanish"
			                                     : "explode");
		break;
	case 'E': a->eval = true; break;
	case 'c': a->o.collapse = true; break;
	case 'd':
		if (!cli_parse_u64(arg, &u) || u > 64)
			return cli_usage_error("dot", "bad depth '%s'", arg);
		a->o.max_depth = (int)u;
		break;
	case 'l': a->o.lr = true; break;
	case 'L': a->o.legend = false; break;
	case 't': a->o.title = arg; break;
	case 's':
		if (!cli_parse_u64(arg, &a->seed))
			return cli_usage_error("dot", "bad seed '%s'", arg);
		break;
	case 'o': a->out = strcmp(arg, "-") ? arg : NULL; break;
	case 'T': a->format = arg; break;
	case 'h': usage(); return -1;
	case 'V': cli_version(); return -1;
	}
	return CLI_OK;
}

static int parse(int argc, char **argv, dot_args *a)
{
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":o:T:h", longopts, NULL)) != -1) {
		if (c == ':' || c == '?')
			return cli_usage_error("dot", c == ':' ? "option '%s' "
			                       "needs a value" : "unknown option "
			                       "'%s'", argv[optind - 1]);
		if ((rc = option(a, c, optarg)))
			return rc;
	}
	if (optind < argc)
		return cli_usage_error("dot", "unexpected argument '%s'",
		                       argv[optind]);
	if (strcmp(a->format, "dot") && strcmp(a->format, "svg") &&
	    strcmp(a->format, "png"))
		return cli_usage_error("dot", "unknown format '%s' (dot, svg "
		                       "or png)", a->format);
	if (!(a->o.vanish > 0) || !(a->o.explode > a->o.vanish))
		return cli_usage_error("dot", "need 0 < --vanish < --explode");
	if (a->model)
		return cli_usage_error("dot", "--model needs the model spec "
		                       "language, which this build does not "
		                       "have yet; try --example seed10");
	if (!a->example)
		return cli_usage_error("dot", "say which network: --example "
		                       "NAME (%s)", example_names);
	return CLI_OK;
}

/* Writes the DOT text where it goes, or renders it. */
static int emit(const dot_args *a, const char *text, size_t len)
{
	if (strcmp(a->format, "dot"))
		return cli_render(text, len, a->format, a->out);
	FILE *f = a->out ? fopen(a->out, "w") : stdout;
	if (!f) {
		fprintf(stderr, "nabla dot: cannot open '%s' for writing\n",
		        a->out);
		return CLI_FAIL;
	}
	bool ok = fwrite(text, 1, len, f) == len;
	ok &= (a->out ? fclose(f) : fflush(f)) == 0;
	if (!ok)
		fprintf(stderr, "nabla dot: writing %s failed\n",
		        a->out ? a->out : "the output");
	return ok ? CLI_OK : CLI_FAIL;
}

int cmd_dot(int argc, char **argv)
{
	dot_args a = {.format = "dot", .o = nb_dot_defaults()};
	int rc = parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	example ex;
	char *text = NULL;
	size_t len = 0;
	nb_graph *g = NULL;
	FILE *mem = NULL;
	nb_status st = example_init(&ex, a.example, a.seed);
	if (st == NB_ENOTFOUND)
		return cli_usage_error("dot", "unknown example '%s' (%s)",
		                       a.example, example_names);
	rc = CLI_FAIL;
	if (st || !(g = nb_graph_new()))
		goto oom;
	if (!a.o.title)
		a.o.title = ex.title;
	nb_graph_set_training(g, !a.eval);
	nb_graph_seed(g, a.seed);
	nb_tensor *loss = example_forward(g, &ex);
	if (!loss || (a.backward && nb_backward(loss, NULL))) {
		fprintf(stderr, "nabla dot: %s\n", nb_graph_errmsg(g));
		goto out;
	}
	if (!(mem = open_memstream(&text, &len)))
		goto oom;
	st = nb_graph_write_dot(g, mem, &a.o);
	if (fclose(mem) || st) {
		fprintf(stderr, "nabla dot: %s\n", st ? nb_last_error()
		                                     : "out of memory");
		goto out;
	}
	rc = emit(&a, text, len);
	goto out;
oom:
	fprintf(stderr, "nabla dot: out of memory\n");
out:
	free(text);
	nb_graph_free(g);
	example_free(&ex);
	return rc;
}
