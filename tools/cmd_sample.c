/*
 * cmd_sample.c - `nabla sample`: text from a character language model
 * saved by `nabla train --text --save FILE` (its spec, alphabet and
 * window length are in the file's metadata).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "textlm.h"

static const char *const cmd = "sample";

static void usage(void)
{
	printf("Usage: nabla sample --load FILE [OPTION]...\n"
	       "Generate text from a character model trained by "
	       "`nabla train --text --save FILE`.\n\n"
	       "  --load FILE        the checkpoint (required)\n"
	       "  --prompt TEXT      start from TEXT (default: nothing)\n"
	       "  -n N               characters to generate (default 300)\n"
	       "  --temperature T    softmax temperature, 0 is greedy "
	       "(default 0.8)\n"
	       "  --top-k K          draw among the K likeliest characters "
	       "(default 0: all)\n"
	       "  --seed S           seed of the draws (default 0)\n"
	       "  --context N        characters a model without state sees "
	       "(default: the\n                     window it was trained "
	       "on)\n"
	       "  --help\n\n"
	       "Exit status: 0 success, 1 the file or the model failed, 2 "
	       "usage error.\n");
}

typedef struct opts {
	const char *load, *prompt;
	uint64_t n, top_k, seed, context;
	double temperature;
} opts;

static int parse(int argc, char **argv, opts *o)
{
	static const struct option lo[] = {
		{"load", required_argument, NULL, 'l'},
		{"prompt", required_argument, NULL, 'p'},
		{"temperature", required_argument, NULL, 't'},
		{"top-k", required_argument, NULL, 'k'},
		{"seed", required_argument, NULL, 's'},
		{"context", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":n:h", lo, NULL)) != -1) {
		const char *given = argv[optind - 1];
		switch (ch) {
		case 'l': o->load = optarg; break;
		case 'p': o->prompt = optarg; break;
		case 'n':
			if (!cli_parse_u64(optarg, &o->n) || o->n > 100000000)
				return cli_usage_error(cmd, "bad -n '%s'", optarg);
			break;
		case 't':
			if (!cli_parse_double(optarg, &o->temperature) ||
			    o->temperature < 0)
				return cli_usage_error(cmd, "bad --temperature '%s' "
				                       "(>= 0)", optarg);
			break;
		case 'k':
		case 's':
		case 'c':
			if (!cli_parse_u64(optarg, ch == 'k' ? &o->top_k
			                   : ch == 's' ? &o->seed : &o->context) ||
			    (ch == 'c' && (o->context < 1 ||
			                   o->context > 1000000)) ||
			    (ch == 'k' && o->top_k > 256))
				return cli_usage_error(cmd, "bad %s '%s'", given, optarg);
			break;
		case 'h': usage(); return -1;
		case ':': return cli_usage_error(cmd, "option '%s' needs a value",
		                                 given);
		default: return cli_usage_error(cmd, "unknown option '%s'", given);
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
		                       argv[optind]);
	if (!o->load)
		return cli_usage_error(cmd, "--load FILE is required");
	return CLI_OK;
}

/* The metadata a character model's checkpoint must have. */
static int read_meta(const char *path, char **spec, char **vocab,
                     int64_t *in, int64_t *steps)
{
	nb_safetensors *f;
	if (nb_safetensors_open(path, &f)) {
		fprintf(stderr, "nabla sample: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	const char *s = nb_safetensors_meta(f, "nabla.spec");
	const char *v = nb_safetensors_meta(f, "nabla.text.vocab");
	const char *i = nb_safetensors_meta(f, "nabla.in_features");
	const char *k = nb_safetensors_meta(f, "nabla.text.steps");
	int rc = CLI_OK;
	uint64_t u;
	if (!s || !v || !i || !k) {
		fprintf(stderr, "nabla sample: %s: not a character model saved by "
		        "`nabla train --text` (no %s metadata)\n", path,
		        !s ? "nabla.spec" : !v ? "nabla.text.vocab"
		        : !i ? "nabla.in_features" : "nabla.text.steps");
		rc = CLI_FAIL;
	} else if (!cli_parse_u64(i, &u) || u < 1 || u > 256 ||
	           (*in = (int64_t)u, !cli_parse_u64(k, &u)) || u < 1 ||
	           u > 1000000) {
		fprintf(stderr, "nabla sample: %s: bad nabla.in_features or "
		        "nabla.text.steps metadata\n", path);
		rc = CLI_FAIL;
	} else {
		*steps = (int64_t)u;
		*spec = strdup(s);
		*vocab = strdup(v);
		if (!*spec || !*vocab) {
			fprintf(stderr, "nabla sample: out of memory\n");
			rc = CLI_FAIL;
		}
	}
	nb_safetensors_close(f);
	return rc;
}

int cmd_sample(int argc, char **argv)
{
	opts o = {.n = 300, .temperature = 0.8, .prompt = ""};
	int rc = parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	char *spec = NULL, *vocab = NULL, err[512];
	int64_t in = 0, steps = 0;
	nb_text *t = NULL;
	nb_module *m = NULL;
	nb_graph *g = NULL;
	if ((rc = read_meta(o.load, &spec, &vocab, &in, &steps)))
		goto out;
	rc = CLI_FAIL;
	if (!(t = nb_text_from_vocab_hex(vocab))) {
		fprintf(stderr, "nabla sample: %s: %s\n", o.load, nb_last_error());
		goto out;
	}
	nb_model_opts mo = {.dtype = NB_F32, .vocab = nb_text_vocab_size(t)};
	nb_load_report rep;
	if (!(m = nb_model_parse(spec, in, &mo)) ||
	    nb_module_load(m, o.load, true, &rep) || !(g = nb_graph_new())) {
		fprintf(stderr, "nabla sample: %s: %s\n", o.load, nb_last_error());
		goto out;
	}
	nb_rng r;
	nb_rng_seed(&r, o.seed);
	if (tl_generate(m, g, t, o.prompt, (size_t)o.n, o.temperature,
	                (int64_t)o.top_k, o.context ? (int64_t)o.context : steps,
	                &r, stdout, err, sizeof err)) {
		fprintf(stderr, "\nnabla sample: %s\n", err);
		goto out;
	}
	putchar('\n');
	rc = CLI_OK;
out:
	nb_graph_free(g);
	nb_module_free(m);
	nb_text_free(t);
	free(spec);
	free(vocab);
	return rc;
}
