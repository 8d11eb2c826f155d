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
	printf("Usage: nabla dot (--model SPEC [--input SHAPE] | --example "
	       "NAME) [OPTION]...\n"
	       "Draw a network's graph (Graphviz DOT), optionally after a "
	       "backward pass\nwith each tensor coloured by its gradient "
	       "norm.\n\n"
	       "  --model SPEC     a model in the spec language of 'nabla "
	       "train'\n"
	       "                   (\"linear:256 batch_norm relu dropout:0.2 "
	       "linear:10\")\n"
	       "  --input SHAPE    its batch, N,F or F (default 64 x the "
	       "spec's input:N)\n"
	       "  --init SCHEME    its initialization (see nabla train "
	       "--init)\n"
	       "  --loss ce|mse    its loss: cross-entropy against random "
	       "classes (default\n"
	       "                   for [N, C] outputs) or MSE against N(0, 1) "
	       "targets\n"
	       "  --example NAME   a built-in network: %s\n"
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
	       "  -T FORMAT        dot, svg or png (default: as FILE ends, "
	       ".svg or .png,\n"
	       "                   else dot); svg and png need Graphviz "
	       "(renderer: %s)\n"
	       "  --help, --version\n\n"
	       "Exit status: 0 written, 1 failed, 2 usage error.\n",
	       example_names, cli_renderer());
	return CLI_OK;
}

typedef struct dot_args {
	const char *example, *model, *out, *format, *init;
	int ndim;                   /* --input */
	int64_t shape[NB_MAX_DIMS];
	bool backward, eval, mse;
	uint64_t seed;
	nb_dot_opts o;
} dot_args;

/* "64,784" or "784" into a->shape; false if malformed. */
static bool parse_shape(dot_args *a, const char *s)
{
	a->ndim = 0;
	while (*s && a->ndim < NB_MAX_DIMS) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s || v <= 0 || (*end && *end != ','))
			return false;
		a->shape[a->ndim++] = v;
		s = *end ? end + 1 : end;
		if (*end && !*s)
			return false;
	}
	if (a->ndim == 1) {
		a->shape[1] = a->shape[0];
		a->shape[0] = 64;
		a->ndim = 2;
	}
	return a->ndim > 0 && !*s;
}

static const struct option longopts[] = {
	{"example", required_argument, NULL, 'x'},
	{"model", required_argument, NULL, 'm'},
	{"input", required_argument, NULL, 'i'},
	{"init", required_argument, NULL, 'I'},
	{"loss", required_argument, NULL, 'C'},
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
	case 'i':
		if (!parse_shape(a, arg))
			return cli_usage_error("dot", "bad shape '%s' for --input "
			                       "(N,F or F)", arg);
		break;
	case 'I': a->init = arg; break;
	case 'C':
		if (strcmp(arg, "ce") && strcmp(arg, "mse"))
			return cli_usage_error("dot", "bad loss '%s' (ce or mse)",
			                       arg);
		a->mse = arg[0] == 'm';
		break;
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
	/* Without -T, the format follows -o's extension (graph.svg,
	 * graph.png); anything else is DOT. */
	if (!a->format) {
		const char *dot = a->out ? strrchr(a->out, '.') : NULL;
		a->format = dot && (!strcmp(dot, ".svg") || !strcmp(dot, ".png"))
		            ? dot + 1 : "dot";
	}
	if (strcmp(a->format, "dot") && strcmp(a->format, "svg") &&
	    strcmp(a->format, "png"))
		return cli_usage_error("dot", "unknown format '%s' (dot, svg "
		                       "or png)", a->format);
	if (!(a->o.vanish > 0) || !(a->o.explode > a->o.vanish))
		return cli_usage_error("dot", "need 0 < --vanish < --explode");
	if (!a->model == !a->example)
		return cli_usage_error("dot", "say which network: --model SPEC "
		                       "or --example NAME (%s)", example_names);
	if (a->example && (a->ndim || a->init || a->mse))
		return cli_usage_error("dot", "--input, --init and --loss go "
		                       "with --model");
	return a->init ? cli_check_init("dot", a->init) : CLI_OK;
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

/* The network of --model or --example; CLI_OK, or the exit status
 * after saying what went wrong. */
static int network(dot_args *a, example *ex)
{
	nb_status st;
	if (a->example) {
		st = example_init(ex, a->example, a->seed);
		if (st == NB_ENOTFOUND)
			return cli_usage_error("dot", "unknown example '%s' (%s)",
			                       a->example, example_names);
	} else {
		nb_model_opts mo = {.dtype = NB_F32, .seed = a->seed,
		                    .init = a->init};
		st = example_from_spec(ex, a->model, a->ndim, a->shape, a->mse,
		                       &mo, a->model);
		if (st == NB_ESHAPE)
			return cli_usage_error("dot", "the model's input size is "
			                       "unknown: give --input (e.g. 64,784) "
			                       "or input:N in the spec");
		if (st && st != NB_ENOMEM) {
			fprintf(stderr, "nabla dot: %s\n", nb_last_error());
			return st == NB_EFORMAT || st == NB_ENOTFOUND ||
			       st == NB_EINVAL || st == NB_EEXIST ? CLI_USAGE
			                                          : CLI_FAIL;
		}
	}
	if (st) {
		fprintf(stderr, "nabla dot: out of memory\n");
		return CLI_FAIL;
	}
	if (!a->o.title)
		a->o.title = ex->title;
	return CLI_OK;
}

/* The graph as DOT text (malloc'd into *text), after forward and, if
 * asked, backward. */
static int draw(dot_args *a, example *ex, char **text, size_t *len)
{
	nb_graph *g = nb_graph_new();
	FILE *mem = NULL;
	nb_status st;
	int rc = CLI_FAIL;
	if (!g)
		goto oom;
	nb_graph_set_training(g, !a->eval);
	nb_graph_set_retain_grads(g, true); /* the health view reads them */
	nb_graph_seed(g, a->seed);
	nb_tensor *loss = example_forward(g, ex);
	if (!loss || (a->backward && nb_backward(loss, NULL))) {
		fprintf(stderr, "nabla dot: %s\n", nb_graph_errmsg(g));
		goto out;
	}
	if (!(mem = open_memstream(text, len)))
		goto oom;
	st = nb_graph_write_dot(g, mem, &a->o);
	if (fclose(mem) || st) {
		fprintf(stderr, "nabla dot: %s\n", st ? nb_last_error()
		                                     : "out of memory");
		goto out;
	}
	rc = CLI_OK;
	goto out;
oom:
	fprintf(stderr, "nabla dot: out of memory\n");
out:
	nb_graph_free(g);
	return rc;
}

int cmd_dot(int argc, char **argv)
{
	dot_args a = {.o = nb_dot_defaults()};
	example ex = {0};
	char *text = NULL;
	size_t len = 0;
	int rc = parse(argc, argv, &a);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (!(rc = network(&a, &ex)) && !(rc = draw(&a, &ex, &text, &len)))
		rc = emit(&a, text, len);
	free(text);
	example_free(&ex);
	return rc;
}
