/*
 * cmd_initlab_rnn.c - `nabla initlab --rnn KIND`: gradients through time
 * (tools/rnnlab.c does the work), one run or the fixed cases side by
 * side (KIND compare), as a table, JSON and a plot.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "rnnlab.h"
#include "plot.h"

static const char *const cmd = "initlab";

static void usage(void)
{
	printf("Usage: nabla initlab --rnn KIND [OPTION]...\n"
	       "Gradients through time: a recurrent net run T steps from a "
	       "zero state on\nN(0, 1) inputs, the loss sum(h_T^2) / (2 batch) "
	       "taken at the last step, and\n||dL/dh_t|| for every step t.  "
	       "Each recurrent [H, H] block is GAIN times an\northogonal "
	       "matrix (spectral radius GAIN); input weights as PyTorch's; "
	       "biases 0.\n\n"
	       "  --rnn KIND         tanh, relu (vanilla RNNs), lstm, gru, or "
	       "compare (the\n                     fixed cases: tanh at radius "
	       "0.5, 1, 1.5; relu at 1.5 with\n                     and without "
	       "clipping; lstm with forget bias 0 and 1; gru)\n"
	       "  --steps T          time steps (default 100, at most %d)\n"
	       "  --hidden H         state size (default 128)\n"
	       "  --input I          input size (default 32)\n"
	       "  --batch N          sequences (default 32)\n"
	       "  --gain G           scale of the recurrent blocks (default 1)\n"
	       "  --init SCHEME      the recurrent blocks' scheme before GAIN "
	       "(default\n                     orthogonal; any of nabla(1)'s "
	       "initializers)\n"
	       "  --forget-bias B    LSTM forget-gate bias (default 0)\n"
	       "  --clip-norm C      clip the parameters' gradient norm to C\n"
	       "  --seed S           seed of the weights and inputs (default 0)\n"
	       "  --dtype T          float64 (default) or float32\n"
	       "  --plot FILE        draw log10 ||dL/dh_t|| against t (.png or "
	       ".svg)\n"
	       "  --json             print one JSON object\n"
	       "  --help\n\n"
	       "Verdict on ||dL/dh_1|| / ||dL/dh_T||: vanishing below 0.01, "
	       "exploding above\n100 or non-finite, else healthy "
	       "(doc/initlab.md).\n"
	       "Exit status: 0 success, 1 the run failed, 2 usage error.\n",
	       RL_MAX_STEPS);
}

typedef struct opts {
	rl_config c;
	bool compare, json, kind_set;
	const char *plot;
} opts;

static int size_opt(const char *name, const char *arg, int64_t max,
                    int64_t *out)
{
	uint64_t u;
	if (!cli_parse_u64(arg, &u) || u < 1 || u > (uint64_t)max)
		return cli_usage_error(cmd, "bad --%s '%s' (1 to %lld)", name, arg,
		                       (long long)max);
	*out = (int64_t)u;
	return CLI_OK;
}

static int option(int ch, const char *arg, const char *given, opts *o)
{
	double d;
	switch (ch) {
	case 'R':
		o->kind_set = true;
		if (!strcmp(arg, "compare")) {
			o->compare = true;
			return CLI_OK;
		}
		return rl_cell_parse(arg, &o->c.cell) ? CLI_OK
		     : cli_usage_error(cmd, "bad --rnn '%s' (tanh, relu, lstm, "
		                       "gru, compare)", arg);
	case 'T': return size_opt("steps", arg, RL_MAX_STEPS, &o->c.steps);
	case 'H': return size_opt("hidden", arg, 4096, &o->c.hidden);
	case 'I': return size_opt("input", arg, 4096, &o->c.input);
	case 'b': return size_opt("batch", arg, 4096, &o->c.batch);
	case 'g':
	case 'f':
	case 'c':
		if (!cli_parse_double(arg, &d) || (ch != 'f' && d < 0))
			return cli_usage_error(cmd, "bad %s '%s'", given, arg);
		*(ch == 'g' ? &o->c.gain : ch == 'f' ? &o->c.forget_bias
		  : &o->c.clip_norm) = d;
		return CLI_OK;
	case 'i':
		if (strlen(arg) >= sizeof o->c.init)
			return cli_usage_error(cmd, "--init too long");
		strcpy(o->c.init, arg);
		return cli_check_init(cmd, arg);
	case 's':
		return cli_parse_u64(arg, &o->c.seed) ? CLI_OK
		     : cli_usage_error(cmd, "bad --seed '%s'", arg);
	case 'd':
		if (strcmp(arg, "float32") && strcmp(arg, "float64"))
			return cli_usage_error(cmd, "bad --dtype '%s' (float32, "
			                       "float64)", arg);
		o->c.dtype = arg[5] == '3' ? NB_F32 : NB_F64;
		return CLI_OK;
	case 'p':
		if (!plot_name_ok(arg))
			return cli_usage_error(cmd, "--plot '%s': the file name must "
			                       "end in .png or .svg", arg);
		o->plot = arg;
		return CLI_OK;
	case 'j': o->json = true; return CLI_OK;
	case 'h': usage(); return -1;
	case ':': return cli_usage_error(cmd, "option '%s' needs a value",
	                                 given);
	}
	return cli_usage_error(cmd, "unknown option '%s' (with --rnn)", given);
}

static int parse(int argc, char **argv, opts *o)
{
	static const struct option longopts[] = {
		{"rnn", required_argument, NULL, 'R'},
		{"steps", required_argument, NULL, 'T'},
		{"hidden", required_argument, NULL, 'H'},
		{"input", required_argument, NULL, 'I'},
		{"batch", required_argument, NULL, 'b'},
		{"gain", required_argument, NULL, 'g'},
		{"init", required_argument, NULL, 'i'},
		{"forget-bias", required_argument, NULL, 'f'},
		{"clip-norm", required_argument, NULL, 'c'},
		{"seed", required_argument, NULL, 's'},
		{"dtype", required_argument, NULL, 'd'},
		{"plot", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
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
	if (!o->kind_set)
		return cli_usage_error(cmd, "--rnn needs a kind");
	return CLI_OK;
}

int cmd_initlab_rnn(int argc, char **argv)
{
	opts o = {0};
	char err[512];
	rl_config_default(&o.c);
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	int n = o.compare ? rl_n_cases : 1;
	rl_run *runs = calloc((size_t)n, sizeof *runs);
	if (!runs) {
		fprintf(stderr, "nabla initlab: out of memory\n");
		return CLI_FAIL;
	}
	for (int i = 0; i < n && rc == CLI_OK; i++) {
		rl_config c = o.c;
		if (o.compare) {
			c.cell = rl_cases[i].cell;
			c.gain = rl_cases[i].gain;
			c.forget_bias = rl_cases[i].forget_bias;
			c.clip_norm = rl_cases[i].clip_norm;
		}
		if (rl_run_study(&c, &runs[i], err, sizeof err)) {
			fprintf(stderr, "nabla initlab: --rnn %s: %s\n",
			        rl_cell_name(c.cell), err);
			rc = CLI_FAIL;
			break;
		}
		if (o.compare)
			snprintf(runs[i].name, sizeof runs[i].name, "%s",
			         rl_cases[i].name);
		else
			snprintf(runs[i].name, sizeof runs[i].name, "%s, gain %g",
			         rl_cell_name(c.cell), c.gain);
	}
	if (rc == CLI_OK && o.plot && rl_plot(o.plot, runs, n, err, sizeof err)) {
		fprintf(stderr, "nabla initlab: --plot: %s\n", err);
		rc = CLI_FAIL;
	}
	if (rc == CLI_OK) {
		if (o.json)
			rl_print_json(stdout, runs, n);
		else
			rl_print_runs(stdout, runs, n);
		if (o.plot && !o.json)
			printf("plot: %s\n", o.plot);
	}
	for (int i = 0; i < n; i++)
		rl_run_free(&runs[i]);
	free(runs);
	return rc;
}
