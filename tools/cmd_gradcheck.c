/*
 * cmd_gradcheck.c - `nabla gradcheck`: the numerical gradient check of
 * every registered op (or the named ones), as a table or JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

typedef struct report {
	bool json;
	int checks, passed, failed;
	const char *dot_dir;     /* --dot: write each case's graph there */
	const nb_op *dot_op;     /* the case written last */
	int dot_case, dot_errors;
} report;

/* DIR/OP.CASE.dot, once per case; bytes of the op's name that are not
 * [A-Za-z0-9_-] become '_' in the file name. */
static void write_dot(report *rep, const nb_gradcheck_result *r)
{
	char path[4096], name[256], title[512];
	size_t k = 0;
	if (!r->graph || (r->op == rep->dot_op && r->case_index ==
	                  rep->dot_case))
		return;
	rep->dot_op = r->op;
	rep->dot_case = r->case_index;
	for (const char *s = r->op->name; *s && k + 1 < sizeof name; s++)
		name[k++] = strchr("abcdefghijklmnopqrstuvwxyz"
		                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", *s)
		            ? *s : '_';
	name[k] = '\0';
	snprintf(path, sizeof path, "%s/%s.%d.dot", rep->dot_dir, name,
	         r->case_index);
	snprintf(title, sizeof title, "gradcheck %s, case %d%s%s",
	         r->op->name, r->case_index, r->attrs[0] ? ": " : "",
	         r->attrs);
	nb_dot_opts o = nb_dot_defaults();
	o.title = title;
	if (nb_graph_save_dot(r->graph, path, &o)) {
		fprintf(stderr, "nabla gradcheck: %s\n", nb_last_error());
		rep->dot_errors++;
	}
}

static void on_result(const nb_gradcheck_result *r, void *ud)
{
	report *rep = ud;
	if (rep->dot_dir)
		write_dot(rep, r);
	rep->checks++;
	if (r->pass)
		rep->passed++;
	else
		rep->failed++;
	if (rep->json) {
		printf("%s\n  {\"op\": ", rep->checks > 1 ? "," : "");
		cli_json_str(stdout, r->op->name);
		printf(", \"input\": ");
		cli_json_str(stdout, r->input >= 0 ? r->input_name : "");
		printf(", \"dtype\": \"%s\", \"shape\": ",
		       nb_dtype_name(r->dtype));
		cli_json_str(stdout, r->shape);
		printf(", \"attrs\": ");
		cli_json_str(stdout, r->attrs);
		printf(", \"max_abs_err\": %.6g, \"max_rel_err\": %.6g, "
		       "\"pass\": %s, \"rule\": %s", r->max_abs_err,
		       r->max_rel_err, r->pass ? "true" : "false",
		       r->rule_only ? "true" : "false");
		if (r->message[0]) {
			printf(", \"message\": ");
			cli_json_str(stdout, r->message);
		}
		printf("}");
		return;
	}
	printf("%-16s %-8s %-14s %-24s %10.3g %10.3g  %s%s\n", r->op->name,
	       r->input >= 0 ? r->input_name : "-", r->shape,
	       r->attrs[0] ? r->attrs : "-", r->max_abs_err, r->max_rel_err,
	       r->pass ? "PASS" : "FAIL", r->rule_only ? " (rule)" : "");
	if (r->message[0] && !r->pass)
		printf("    %s\n", r->message);
}

static int usage(void)
{
	printf("Usage: nabla gradcheck [OP]... [OPTION]...\n"
	       "Compare each op's backward with central finite differences "
	       "(float64).\n\n"
	       "  --eps E     finite-difference step (default 1e-6)\n"
	       "  --atol A    absolute tolerance (default 1e-5)\n"
	       "  --rtol R    relative tolerance (default 1e-3)\n"
	       "  --seed S    seed of the sampled inputs (default 0)\n"
	       "  --eval      check in evaluation mode (default: training)\n"
	       "  --json      print one JSON object\n"
	       "  --dot DIR   write each case's graph to DIR/OP.CASE.dot\n"
	       "  --help, --version\n\n"
	       "Exit status: 0 all passed, 1 a check failed, 2 usage error.\n");
	return CLI_OK;
}

int cmd_gradcheck(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"eps", required_argument, NULL, 'e'},
		{"atol", required_argument, NULL, 'a'},
		{"rtol", required_argument, NULL, 'r'},
		{"seed", required_argument, NULL, 's'},
		{"eval", no_argument, NULL, 'E'},
		{"json", no_argument, NULL, 'j'},
		{"dot", required_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	nb_gradcheck_opts o = nb_gradcheck_defaults();
	report rep = {0};
	int c;
	optind = 1;
	opterr = 0;
	/* The leading ':' tells a missing value (':') from an unknown
	 * option ('?'). */
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		double *d = c == 'e' ? &o.eps : c == 'a' ? &o.atol
		          : c == 'r' ? &o.rtol : NULL;
		if (d) {
			if (!cli_parse_double(optarg, d) || !(*d >= 0) ||
			    (c == 'e' && *d == 0))
				return cli_usage_error("gradcheck", "bad value '%s' "
				                       "for --%s", optarg,
				                       longopts[c == 'e' ? 0 : c == 'a'
				                                ? 1 : 2].name);
			continue;
		}
		switch (c) {
		case 's':
			if (!cli_parse_u64(optarg, &o.seed))
				return cli_usage_error("gradcheck", "bad seed '%s'",
				                       optarg);
			break;
		case 'E': o.training = false; break;
		case 'j': rep.json = true; break;
		case 'D': rep.dot_dir = optarg; break;
		case 'h': return usage();
		case 'V': cli_version(); return CLI_OK;
		case ':':
			return cli_usage_error("gradcheck", "option '%s' needs a "
			                       "value", argv[optind - 1]);
		default:
			return cli_usage_error("gradcheck", "unknown option '%s'",
			                       argv[optind - 1]);
		}
	}
	size_t n_all = nb_op_count();
	if (!n_all) {
		fprintf(stderr, "nabla gradcheck: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	for (int i = optind; i < argc; i++)
		if (!nb_op_find(argv[i]))
			return cli_usage_error("gradcheck", "unknown op '%s' (see "
			                       "'nabla ops')", argv[i]);
	if (rep.dot_dir && mkdir(rep.dot_dir, 0777) && errno != EEXIST) {
		fprintf(stderr, "nabla gradcheck: cannot create '%s': %s\n",
		        rep.dot_dir, strerror(errno));
		return CLI_FAIL;
	}
	if (rep.json)
		printf("{\"results\": [");
	else
		printf("%-16s %-8s %-14s %-24s %10s %10s  %s\n", "OP", "INPUT",
		       "SHAPE", "ATTRS", "MAX_ABS", "MAX_REL", "RESULT");
	int ops = 0;
	size_t n = optind < argc ? (size_t)(argc - optind) : n_all;
	for (size_t i = 0; i < n; i++) {
		const nb_op *op = optind < argc ? nb_op_find(argv[optind + i])
		                                : nb_op_at(i);
		int failed = 0;
		ops++;
		if (nb_gradcheck_op(op, &o, on_result, &rep, &failed)) {
			fprintf(stderr, "nabla gradcheck: %s\n", nb_last_error());
			rep.failed++;
		}
	}
	if (rep.json)
		printf("\n], \"summary\": {\"ops\": %d, \"checks\": %d, "
		       "\"passed\": %d, \"failed\": %d}}\n", ops, rep.checks,
		       rep.passed, rep.failed);
	else
		printf("gradcheck: %d ops, %d checks, %d passed, %d failed\n",
		       ops, rep.checks, rep.passed, rep.failed);
	return rep.failed || rep.dot_errors ? CLI_FAIL : CLI_OK;
}
