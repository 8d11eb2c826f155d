/*
 * cmd_initlab.c - `nabla initlab`: the initialization study of the notes
 * (tools/initlab.c does the work), one run or the notes' cases side by
 * side, as tables, JSON and a plot.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "initlab.h"
#include "plot.h"

static const char *const cmd = "initlab";

static int usage(void)
{
	printf("Usage: nabla initlab [OPTION]...\n"
	       "Forward and backward through a deep stack of bias-free linear "
	       "layers and\nan activation; per-layer activation statistics, "
	       "weight-gradient norms and\nhistograms.  Defaults: the notes' "
	       "experiment (randn(2000, 800), 800->750->...->300,\ntanh, "
	       "N(0, 0.01^2)).  Loss: sum(a_L^2) / (2 * batch).\n\n"
	       "  --sizes N0,N1,...  layer widths, input first "
	       "(default 800,750,...,300)\n"
	       "  --batch N          rows of the input (default 2000)\n"
	       "  --act NAME[:ATTRS] any registered activation (default tanh),\n"
	       "                     e.g. leaky_relu:negative_slope=0.2\n"
	       "  --init SCHEME      normal:STD, uniform:A,B, xavier_normal[:GAIN],"
	       "\n                     xavier_uniform, kaiming_normal, "
	       "kaiming_uniform,\n                     lecun_normal, "
	       "orthogonal, notes, notes_normal, ...\n"
	       "                     (default normal:0.01; see nabla(1))\n"
	       "  --norm KIND        batch, layer, instance or group, after each "
	       "linear layer\n"
	       "  --groups G         groups of --norm group (default: the "
	       "largest <= 32\n                     dividing every width)\n"
	       "  --seed S           seed of the input and the weights "
	       "(default 0)\n"
	       "  --dtype T          float32 (default) or float64\n"
	       "  --range R          histogram range: act (the activation's "
	       "limits, default)\n                     or data (min to max)\n"
	       "  --compare          run the notes' six cases side by side\n"
	       "  --plot FILE        draw the histograms (FILE.png or FILE.svg)\n"
	       "  --ascii            ASCII sparklines instead of block "
	       "characters\n"
	       "  --json             print one JSON object\n"
	       "  --rnn KIND         gradients through time instead (see "
	       "'nabla initlab --rnn\n                     tanh --help')\n"
	       "  --help, --version\n\n"
	       "Exit status: 0 success, 1 the run failed, 2 usage error.\n");
	return CLI_OK;
}

static bool parse_sizes(const char *s, il_config *c)
{
	int n = 0;
	while (*s) {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s || v < 1 || v > 100000 || n > IL_MAX_LAYERS ||
		    (*end && *end != ','))
			return false;
		c->sizes[n++] = v;
		s = *end ? end + 1 : end;
		if (end[0] == ',' && !*s)
			return false;
	}
	c->n_layers = n - 1;
	return n >= 2;
}

static bool parse_norm(const char *s, il_norm *n)
{
	for (int i = 0; i <= IL_NORM_GROUP; i++)
		if (!strcmp(s, il_norm_name((il_norm)i))) {
			*n = (il_norm)i;
			return true;
		}
	return false;
}

/* Checks --act and --init before any work: usage errors, not failures. */
static int check_names(const il_config *c)
{
	char name[128];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(c->act, ":"), c->act);
	const nb_op *op = nb_op_find(name);
	if (!op || op->kind != NB_KIND_ACTIVATION)
		return cli_usage_error(cmd, "'%s' is not a registered activation "
		                       "(see 'nabla ops')", name);
	static _Alignas(max_align_t) unsigned char attrs[512];
	if (op->attrs_size <= sizeof attrs &&
	    nb_attrs_parse(op, c->act + strcspn(c->act, ":") +
	                   (c->act[strcspn(c->act, ":")] ? 1 : 0), attrs))
		return cli_usage_error(cmd, "bad --act '%s': %s", c->act,
		                       nb_last_error());
	nb_tensor *probe = nb_tensor_zeros(NB_F64, NB_SHAPE(2, 2));
	nb_rng r;
	nb_rng_seed(&r, 0);
	nb_status st = probe ? nb_init_apply(probe, &r, c->init, name)
	                     : NB_ENOMEM;
	nb_tensor_free(probe);
	if (st)
		return cli_usage_error(cmd, "bad --init '%s': %s", c->init,
		                       nb_last_error());
	return CLI_OK;
}

typedef struct opts {
	il_config c;
	bool compare, json, ascii, act_set, init_set;
	const char *plot;
} opts;

/* One option with its value; CLI_OK, a usage error, or -1 for --help
 * and --version (done). */
static int option(int ch, const char *arg, const char *given, opts *o)
{
	uint64_t u;
	switch (ch) {
	case 'z':
		if (!parse_sizes(arg, &o->c))
			return cli_usage_error(cmd, "bad --sizes '%s' (2 to %d widths "
			                       "in 1..100000, comma-separated)", arg,
			                       IL_MAX_LAYERS + 1);
		return CLI_OK;
	case 'b':
		if (!cli_parse_u64(arg, &u) || u < 1 || u > 1000000)
			return cli_usage_error(cmd, "bad --batch '%s'", arg);
		o->c.batch = (int64_t)u;
		return CLI_OK;
	case 'a':
	case 'i':
		if (strlen(arg) >= sizeof o->c.act)
			return cli_usage_error(cmd, "--%s too long",
			                       ch == 'a' ? "act" : "init");
		strcpy(ch == 'a' ? o->c.act : o->c.init, arg);
		*(ch == 'a' ? &o->act_set : &o->init_set) = true;
		return CLI_OK;
	case 'n':
		return parse_norm(arg, &o->c.norm) ? CLI_OK
		     : cli_usage_error(cmd, "bad --norm '%s' (batch, layer, "
		                       "instance, group)", arg);
	case 'g':
		if (!cli_parse_u64(arg, &u) || u < 1 || u > 100000)
			return cli_usage_error(cmd, "bad --groups '%s'", arg);
		o->c.groups = (int)u;
		return CLI_OK;
	case 's':
		return cli_parse_u64(arg, &o->c.seed) ? CLI_OK
		     : cli_usage_error(cmd, "bad --seed '%s'", arg);
	case 'd':
		if (strcmp(arg, "float32") && strcmp(arg, "float64"))
			return cli_usage_error(cmd, "bad --dtype '%s' (float32, "
			                       "float64)", arg);
		o->c.dtype = arg[5] == '3' ? NB_F32 : NB_F64;
		return CLI_OK;
	case 'r':
		if (strcmp(arg, "act") && strcmp(arg, "data"))
			return cli_usage_error(cmd, "bad --range '%s' (act, data)",
			                       arg);
		o->c.data_range = arg[0] == 'd';
		return CLI_OK;
	case 'p':
		if (!plot_name_ok(arg))
			return cli_usage_error(cmd, "--plot '%s': the file name must "
			                       "end in .png or .svg", arg);
		o->plot = arg;
		return CLI_OK;
	case 'C': o->compare = true; return CLI_OK;
	case 'A': o->ascii = true; return CLI_OK;
	case 'j': o->json = true; return CLI_OK;
	case 'h': usage(); return -1;
	case 'V': cli_version(); return -1;
	case ':': return cli_usage_error(cmd, "option '%s' needs a value",
	                                 given);
	}
	return cli_usage_error(cmd, "unknown option '%s'", given);
}

static int parse(int argc, char **argv, opts *o)
{
	static const struct option longopts[] = {
		{"sizes", required_argument, NULL, 'z'},
		{"batch", required_argument, NULL, 'b'},
		{"act", required_argument, NULL, 'a'},
		{"init", required_argument, NULL, 'i'},
		{"norm", required_argument, NULL, 'n'},
		{"groups", required_argument, NULL, 'g'},
		{"seed", required_argument, NULL, 's'},
		{"dtype", required_argument, NULL, 'd'},
		{"range", required_argument, NULL, 'r'},
		{"compare", no_argument, NULL, 'C'},
		{"plot", required_argument, NULL, 'p'},
		{"ascii", no_argument, NULL, 'A'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int ch, rc;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1)
		if ((rc = option(ch, optarg, argv[optind - 1], o)))
			return rc;
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
		                       argv[optind]);
	if (o->compare && (o->act_set || o->init_set))
		return cli_usage_error(cmd, "--compare runs fixed cases; it takes "
		                       "no --act or --init");
	for (int i = 1; o->c.groups && i <= o->c.n_layers; i++)
		if (o->c.sizes[i] % o->c.groups)
			return cli_usage_error(cmd, "--groups %d does not divide the "
			                       "width %lld", o->c.groups,
			                       (long long)o->c.sizes[i]);
	return CLI_OK;
}

int cmd_initlab(int argc, char **argv)
{
	opts o = {0};
	char err[512];
	for (int i = 1; i < argc; i++)   /* the through-time study */
		if (!strcmp(argv[i], "--rnn") || !strncmp(argv[i], "--rnn=", 6))
			return cmd_initlab_rnn(argc, argv);
	il_config_default(&o.c);
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	if (!nb_op_count()) {
		fprintf(stderr, "nabla initlab: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (o.plot && !plot_available()) {
		fprintf(stderr, "nabla initlab: --plot: nabla was built without "
		        "cairo; install libcairo2-dev and reconfigure\n");
		return CLI_FAIL;
	}
	int n = o.compare ? il_n_cases : 1;
	il_run *runs = calloc((size_t)n, sizeof *runs);
	if (!runs) {
		fprintf(stderr, "nabla initlab: out of memory\n");
		return CLI_FAIL;
	}
	rc = CLI_OK;
	for (int i = 0; i < n && rc == CLI_OK; i++) {
		il_config c = o.c;
		if (o.compare) {
			strcpy(c.act, il_cases[i].act);
			strcpy(c.init, il_cases[i].init);
		}
		if ((rc = check_names(&c)))
			break;
		if (il_run_study(&c, &runs[i], err, sizeof err)) {
			fprintf(stderr, "nabla initlab: %s\n", err);
			rc = CLI_FAIL;
			break;
		}
		snprintf(runs[i].name, sizeof runs[i].name, "%s",
		         o.compare ? il_cases[i].name : c.act);
	}
	if (rc == CLI_OK && o.plot && il_plot(o.plot, runs, n, err, sizeof err)) {
		fprintf(stderr, "nabla initlab: --plot: %s\n", err);
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK) {
		if (o.json)
			il_print_json(stdout, runs, n, o.compare);
		else if (o.compare)
			il_print_compare(stdout, runs, n);
		else
			il_print_run(stdout, &runs[0], o.ascii);
		if (o.plot && !o.json)
			printf("plot: %s\n", o.plot);
	}
	free(runs);
	return rc;
}
