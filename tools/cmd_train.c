/*
 * cmd_train.c - `nabla train`: train a model given by a spec on
 * Fashion-MNIST, the built-in synthetic set or the user's .npz or CSV
 * file (tools/train_data.c), with a progress bar on a
 * terminal, plain lines or JSON Lines otherwise, and checkpoints.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "train.h"

#define DEFAULT_SPEC "linear:256 batch_norm relu dropout:0.2 " \
                     "linear:256 batch_norm relu linear:10"

static int usage(void)
{
	printf(
"Usage: nabla train [OPTION]...\n"
"Train a model on Fashion-MNIST, the built-in synthetic set or your own\n"
"data (.npz or CSV) and report train loss, test loss and test accuracy (or\n"
"test MSE and RMSE for regression) after each epoch.\n\n"
"Model and data:\n"
"  --model SPEC        the model (default \"" DEFAULT_SPEC "\");\n"
"                      see nabla(1), MODEL SPECS\n"
"  --data DIR          Fashion-MNIST IDX files in DIR (default\n"
"                      " NB_FASHION_MNIST_DIR ", else synthetic)\n"
"  --data FILE.npz     arrays x and y (optional x_test, y_test)\n"
"  --data FILE.csv --target COLUMN   a CSV with a header line: COLUMN is\n"
"                      predicted from the other columns\n"
"  --loss ce|mse|bce   cross-entropy over classes (default for integer\n"
"                      targets), mean squared error (float targets),\n"
"                      binary cross-entropy of 0/1 targets\n"
"  --val-split F       without test arrays, hold out F of the rows\n"
"                      (default 0.1; shuffled with --seed)\n"
"  --synthetic         use the built-in synthetic set\n"
"  --train-limit N, --test-limit N   use the first N samples only\n"
"Optimization:\n"
"  --optim NAME        sgd (default), adam, adamw or rmsprop\n"
"  --lr X              learning rate (sgd 0.1; else PyTorch's default)\n"
"  --momentum X        sgd (default 0.9) or rmsprop (default 0) momentum\n"
"  --nesterov          Nesterov momentum (sgd)\n"
"  --weight-decay X    weight decay (adamw 0.01, else 0)\n"
"  --beta1 X, --beta2 X, --eps X   Adam's and AdamW's settings\n"
"  --alpha X           RMSprop's smoothing constant (0.99)\n"
"  --schedule S        step:SIZE,GAMMA | exp:GAMMA | cosine[:ETA_MIN]\n"
"  --batch N           batch size (default 128)\n"
"  --epochs N          epochs (default 3; 0 only evaluates)\n"
"  --clip-norm X       clip the gradients' global L2 norm to X\n"
"  --clip-value X      clip each gradient element to [-X, X]\n"
"  --l1 X, --l2 X      add X*sum|w| or X*sum w^2 of the weights to the loss\n"
"  --init SCHEME       linear weights by an nb_init_apply scheme\n"
"                      (xavier_uniform, kaiming_normal:nonlinearity=auto,\n"
"                      orthogonal:auto...; biases 0); default PyTorch's\n"
"  --seed N            seed of initialization, shuffling, dropout (0)\n"
"  --threads N         threads of matrix products (1 to 64)\n"
"  --detect-anomaly    fail at the first op making a NaN or infinity\n"
"Character language models (doc/sequence.md):\n"
"  --text [FILE]       train on the bytes of FILE (default\n"
"                      " TEXT_DEFAULT "); the model maps\n"
"                      windows of token ids to logits (default\n"
"                      \"" TEXT_DEFAULT_SPEC "V\");\n"
"                      the last --val-split (0.1) is held out; reports\n"
"                      bits per character; defaults --optim adam --lr\n"
"                      0.002 --batch 32\n"
"  --steps T           window of backpropagation through time (64)\n"
"Data-parallel (under mpirun; doc/distributed.md):\n"
"  --dist              one rank per process, --batch the global batch\n"
"  --sync-bn           batch_norm statistics over all ranks' samples\n"
"  --bucket-mb X       gradient bucket size in MiB (default 25)\n"
"Checkpoints (safetensors):\n"
"  --save FILE         save the model, its spec and the optimizer's state\n"
"  --load FILE         resume from FILE: weights (all names must match),\n"
"                      optimizer state and epoch; the spec is read from\n"
"                      FILE unless --model is given\n"
"  --init-from FILE    fine-tune: load the tensors of FILE that the model\n"
"                      has, skip the rest\n"
"  --freeze PREFIX     do not train parameters named PREFIX or PREFIX.*\n"
"                      (repeatable)\n"
"Output:\n"
"  --json              JSON Lines on stdout: start, epoch and end events\n"
"  --quiet             no progress bar\n"
"  --help, --version\n\n"
"Exit status: 0 trained, 1 failed (data, checkpoint, NaN loss), 2 usage.\n");
	return CLI_OK;
}

/* ---- options ---- */

static int bad_value(const char *opt, const char *v)
{
	return cli_usage_error("train", "bad value '%s' for --%s", v, opt);
}

/*
 * --init's scheme tried on a scratch 2 x 2 weight (nonlinearity relu
 * for "auto"), so that a bad one is a usage error naming the option:
 * it was first met by the model's first layer and reported as
 * "spec:1:1: init: unknown scheme ...", as if the spec were wrong.
 */
static int parse_opts(int argc, char **argv, train_opts *o)
{
	enum { O_MODEL = 256, O_DATA, O_SYNTH, O_TRAIN_LIMIT, O_TEST_LIMIT,
	       O_OPTIM, O_LR, O_MOMENTUM, O_NESTEROV, O_WD, O_SCHEDULE,
	       O_BATCH, O_EPOCHS, O_CLIP_NORM, O_CLIP_VALUE, O_L1, O_L2,
	       O_SEED, O_THREADS, O_ANOMALY, O_SAVE, O_LOAD, O_INIT_FROM,
	       O_FREEZE, O_JSON, O_QUIET, O_HELP, O_VERSION, O_BETA1, O_BETA2,
	       O_EPS, O_ALPHA, O_INIT, O_TARGET, O_LOSS, O_VAL_SPLIT, O_DIST,
	       O_SYNC_BN, O_BUCKET, O_TEXT, O_STEPS };
	static const struct option lo[] = {
		{"model", required_argument, NULL, O_MODEL},
		{"data", required_argument, NULL, O_DATA},
		{"synthetic", no_argument, NULL, O_SYNTH},
		{"train-limit", required_argument, NULL, O_TRAIN_LIMIT},
		{"test-limit", required_argument, NULL, O_TEST_LIMIT},
		{"optim", required_argument, NULL, O_OPTIM},
		{"lr", required_argument, NULL, O_LR},
		{"momentum", required_argument, NULL, O_MOMENTUM},
		{"nesterov", no_argument, NULL, O_NESTEROV},
		{"weight-decay", required_argument, NULL, O_WD},
		{"schedule", required_argument, NULL, O_SCHEDULE},
		{"batch", required_argument, NULL, O_BATCH},
		{"epochs", required_argument, NULL, O_EPOCHS},
		{"clip-norm", required_argument, NULL, O_CLIP_NORM},
		{"clip-value", required_argument, NULL, O_CLIP_VALUE},
		{"l1", required_argument, NULL, O_L1},
		{"l2", required_argument, NULL, O_L2},
		{"seed", required_argument, NULL, O_SEED},
		{"threads", required_argument, NULL, O_THREADS},
		{"detect-anomaly", no_argument, NULL, O_ANOMALY},
		{"save", required_argument, NULL, O_SAVE},
		{"load", required_argument, NULL, O_LOAD},
		{"init-from", required_argument, NULL, O_INIT_FROM},
		{"freeze", required_argument, NULL, O_FREEZE},
		{"init", required_argument, NULL, O_INIT},
		{"beta1", required_argument, NULL, O_BETA1},
		{"beta2", required_argument, NULL, O_BETA2},
		{"eps", required_argument, NULL, O_EPS},
		{"alpha", required_argument, NULL, O_ALPHA},
		{"target", required_argument, NULL, O_TARGET},
		{"loss", required_argument, NULL, O_LOSS},
		{"val-split", required_argument, NULL, O_VAL_SPLIT},
		{"dist", no_argument, NULL, O_DIST},
		{"sync-bn", no_argument, NULL, O_SYNC_BN},
		{"bucket-mb", required_argument, NULL, O_BUCKET},
		{"text", optional_argument, NULL, O_TEXT},
		{"steps", required_argument, NULL, O_STEPS},
		{"json", no_argument, NULL, O_JSON},
		{"quiet", no_argument, NULL, O_QUIET},
		{"help", no_argument, NULL, O_HELP},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0},
	};
	int c, li;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, &li)) != -1) {
		double *d = c == O_LR ? &o->lr : c == O_MOMENTUM ? &o->momentum
		          : c == O_WD ? &o->weight_decay
		          : c == O_CLIP_NORM ? &o->clip_norm
		          : c == O_CLIP_VALUE ? &o->clip_value
		          : c == O_L1 ? &o->l1 : c == O_L2 ? &o->l2
		          : c == O_BETA1 ? &o->beta1 : c == O_BETA2 ? &o->beta2
		          : c == O_EPS ? &o->eps : c == O_ALPHA ? &o->alpha
		          : c == O_BUCKET ? &o->bucket_mb : NULL;
		uint64_t *u = c == O_SEED ? &o->seed : c == O_EPOCHS ? &o->epochs
		            : c == O_BATCH ? &o->batch
		            : c == O_TRAIN_LIMIT ? &o->train_limit
		            : c == O_TEST_LIMIT ? &o->test_limit
		            : c == O_STEPS ? &o->steps : NULL;
		if (d) {
			if (!cli_parse_double(optarg, d) || !(*d >= 0) || isinf(*d))
				return bad_value(lo[li].name, optarg);
			o->lr_set |= c == O_LR;
			o->momentum_set |= c == O_MOMENTUM;
			o->wd_set |= c == O_WD;
			o->beta1_set |= c == O_BETA1;
			o->beta2_set |= c == O_BETA2;
			o->eps_set |= c == O_EPS;
			o->alpha_set |= c == O_ALPHA;
			continue;
		}
		if (u) {
			if (!cli_parse_u64(optarg, u) || (*u == 0 && c != O_SEED &&
			    c != O_EPOCHS) || (c != O_SEED && *u > (1u << 30)))
				return bad_value(lo[li].name, optarg);
			continue;
		}
		switch (c) {
		case O_MODEL: o->spec = optarg; break;
		case O_INIT: o->init = optarg; break;
		case O_DATA: o->data = optarg; break;
		case O_SYNTH: o->synthetic = true; break;
		case O_OPTIM: o->optim = optarg; break;
		case O_NESTEROV: o->nesterov = true; break;
		case O_SCHEDULE: o->schedule = optarg; break;
		case O_ANOMALY: o->anomaly = true; break;
		case O_SAVE: o->save = optarg; break;
		case O_LOAD: o->load = optarg; break;
		case O_INIT_FROM: o->init_from = optarg; break;
		case O_FREEZE:
			if (!*optarg) /* the prefix of every name */
				return cli_usage_error("train", "--freeze needs a "
				                       "parameter name or prefix, not an "
				                       "empty string");
			if (o->n_freeze == MAX_FREEZE)
				return cli_usage_error("train", "at most %d --freeze",
				                       MAX_FREEZE);
			o->freeze[o->n_freeze++] = optarg;
			break;
		case O_TARGET: o->target = optarg; break;
		case O_LOSS: o->loss_name = optarg; break;
		case O_VAL_SPLIT:
			if (!cli_parse_double(optarg, &o->val_split) ||
			    !(o->val_split > 0 && o->val_split < 1))
				return cli_usage_error("train", "bad value '%s' for "
				                       "--val-split (a fraction between 0 "
				                       "and 1)", optarg);
			o->val_split_set = true;
			break;
		case O_DIST: o->dist = true; break;
		case O_TEXT:
			/* --text FILE as well as --text=FILE; --text alone is the
			 * default corpus */
			if (!optarg && optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			if (optarg && !*optarg)
				return cli_usage_error("train", "--text: the file name "
				                       "is empty (--text alone reads "
				                       TEXT_DEFAULT ")");
			o->text = optarg ? optarg : TEXT_DEFAULT;
			break;
		case O_SYNC_BN: o->sync_bn = true; break;
		case O_JSON: o->json = true; break;
		case O_QUIET: o->quiet = true; break;
		case O_THREADS: {
			int k;
			if (!cli_parse_threads(optarg, &k))
				return cli_usage_error("train", "bad value '%s' for "
				                       "--threads (1 to %d)", optarg,
				                       CLI_MAX_THREADS);
			o->threads = (uint64_t)k;
			break;
		}
		case O_HELP: return usage() + 100;
		case O_VERSION: cli_version(); return 100;
		default:
			return cli_usage_error("train", "unknown option or missing "
			                       "value '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("train", "unexpected argument '%s'",
		                       argv[optind]);
	if (o->text && (o->data || o->synthetic || o->target ||
	                o->loss_name || o->train_limit || o->test_limit ||
	                o->l1 > 0 || o->l2 > 0 || o->clip_value > 0))
		return cli_usage_error("train", "--text excludes --%s", o->data
		                       ? "data" : o->synthetic ? "synthetic"
		                       : o->target ? "target"
		                       : o->loss_name ? "loss"
		                       : o->l1 > 0 ? "l1" : o->l2 > 0 ? "l2"
		                       : o->clip_value > 0 ? "clip-value"
		                       : "train-limit and --test-limit");
	if (o->steps && !o->text)
		return cli_usage_error("train", "--steps needs --text");
	/* The defaults of each mode (nabla(1)). */
	if (!o->optim)
		o->optim = o->text ? "adam" : "sgd";
	if (o->text && !o->lr_set && !strcmp(o->optim, "adam")) {
		o->lr = 0.002;
		o->lr_set = true;
	}
	if (!o->batch)
		o->batch = o->text ? 32 : 128;
	if (!o->steps)
		o->steps = 64;
	if (strcmp(o->optim, "sgd") && strcmp(o->optim, "adam") &&
	    strcmp(o->optim, "adamw") && strcmp(o->optim, "rmsprop"))
		return cli_usage_error("train", "unknown optimizer '%s' (sgd, "
		                       "adam, adamw or rmsprop)", o->optim);
	if (o->load && o->init_from)
		return cli_usage_error("train", "--load and --init-from exclude "
		                       "each other");
	if ((o->sync_bn || o->bucket_mb > 0) && !o->dist)
		return cli_usage_error("train", "--%s needs --dist",
		                       o->sync_bn ? "sync-bn" : "bucket-mb");
	if (o->bucket_mb > 1e6)
		return bad_value("bucket-mb", "(more than 1e6)");
	if (o->synthetic && o->data)
		return cli_usage_error("train", "--data and --synthetic exclude "
		                       "each other");
	loss_kind l;
	if (o->loss_name && !train_loss_parse(o->loss_name, &l))
		return cli_usage_error("train", "unknown loss '%s' (ce, mse or "
		                       "bce)", o->loss_name);
	if ((o->target || o->val_split_set || (o->loss_name && l != LOSS_CE)) &&
	    !(o->data && train_data_is_file(o->data)))
		return cli_usage_error("train", "--%s needs --data FILE.npz or "
		                       "FILE.csv", o->target ? "target"
		                       : o->val_split_set ? "val-split" : "loss");
	if (o->nesterov && (strcmp(o->optim, "sgd") || (o->momentum_set &&
	    o->momentum == 0)))
		return cli_usage_error("train", "--nesterov needs --optim sgd and "
		                       "--momentum > 0");
	return o->init ? cli_check_init("train", o->init) : CLI_OK;
}

/* ---- optimizer and schedule (include/nabla/optim.h) ---- */

typedef struct schedule {
	int kind;        /* 0 none, 1 step, 2 exp, 3 cosine */
	double a, b;     /* step: size, gamma; exp: gamma; cosine: eta_min */
} schedule;

static bool parse_schedule(const char *s, schedule *out)
{
	char *end;
	memset(out, 0, sizeof *out);
	if (!s)
		return true;
	if (!strncmp(s, "step:", 5)) {
		out->kind = 1;
		out->a = strtod(s + 5, &end);
		return *end == ',' && out->a >= 1 && out->a == floor(out->a) &&
		       out->a < 1e9 && cli_parse_double(end + 1, &out->b) &&
		       out->b >= 0;
	}
	if (!strncmp(s, "exp:", 4)) {
		out->kind = 2;
		return cli_parse_double(s + 4, &out->a) && out->a >= 0;
	}
	if (!strncmp(s, "cosine", 6)) {
		out->kind = 3;
		return !s[6] || (s[6] == ':' && cli_parse_double(s + 7, &out->a) &&
		                 out->a >= 0);
	}
	return false;
}

static nb_optim *make_optim(const train_opts *o, nb_tensor **p, size_t n)
{
	if (!strcmp(o->optim, "sgd")) {
		nb_sgd_opts so = nb_sgd_defaults();
		so.lr = o->lr_set ? o->lr : 0.1;
		so.momentum = o->momentum_set ? o->momentum : 0.9;
		so.weight_decay = o->wd_set ? o->weight_decay : so.weight_decay;
		so.nesterov = o->nesterov;
		return nb_optim_sgd(p, n, &so);
	}
	if (!strcmp(o->optim, "rmsprop")) {
		nb_rmsprop_opts ro = nb_rmsprop_defaults();
		ro.lr = o->lr_set ? o->lr : ro.lr;
		ro.momentum = o->momentum_set ? o->momentum : ro.momentum;
		ro.weight_decay = o->wd_set ? o->weight_decay : ro.weight_decay;
		ro.alpha = o->alpha_set ? o->alpha : ro.alpha;
		ro.eps = o->eps_set ? o->eps : ro.eps;
		return nb_optim_rmsprop(p, n, &ro);
	}
	bool w = !strcmp(o->optim, "adamw");
	nb_adam_opts ao = w ? nb_adamw_defaults() : nb_adam_defaults();
	ao.lr = o->lr_set ? o->lr : ao.lr;
	ao.weight_decay = o->wd_set ? o->weight_decay : ao.weight_decay;
	ao.beta1 = o->beta1_set ? o->beta1 : ao.beta1;
	ao.beta2 = o->beta2_set ? o->beta2 : ao.beta2;
	ao.eps = o->eps_set ? o->eps : ao.eps;
	return w ? nb_optim_adamw(p, n, &ao) : nb_optim_adam(p, n, &ao);
}

/* The optimizer, its schedule, and what --load restores of them. */
static int setup_optim(train_ctx *t)
{
	const train_opts *o = t->o;
	schedule sc;
	parse_schedule(o->schedule, &sc);
	if (!t->n_params)
		return !o->epochs ? CLI_OK
		       : nb_module_params(t->model, false, NULL, 0)
		       ? cli_usage_error("train", "every parameter is frozen: "
		                         "nothing to train")
		       : cli_usage_error("train", "the model '%s' has no "
		                         "parameters: nothing to train",
		                         t->spec);
	if (!(t->opt = make_optim(o, t->params, t->n_params)))
		goto fail;
	if (sc.kind == 1)
		t->sched = nb_sched_step_lr(t->opt, (int64_t)sc.a, sc.b);
	else if (sc.kind == 2)
		t->sched = nb_sched_exponential_lr(t->opt, sc.a);
	else if (sc.kind == 3)
		t->sched = nb_sched_cosine_lr(t->opt, t->epoch0 +
		                              (int64_t)(o->epochs ? o->epochs
		                                        : 1), sc.a);
	if (sc.kind && !t->sched)
		goto fail;
	if (o->load) {
		/* The file's groups bring their lr back; the command line's
		 * (or the schedule's, below) stays in charge. */
		double lr = nb_optim_get_lr(t->opt);
		nb_status st = nb_optim_load_state(t->opt, o->load);
		nb_optim_set_lr(t->opt, lr);
		if (st == NB_OK && !o->json && td_leader(&t->dist))
			fprintf(stderr, "nabla train: resumed %s's state and epoch "
			        "%lld from %s\n", nb_optim_name(t->opt),
			        (long long)t->epoch0, o->load);
		else if (st && st != NB_ENOTFOUND && st != NB_EINVAL)
			goto fail;
		else if (st && !o->json && td_leader(&t->dist))
			fprintf(stderr, "nabla train: %s; the optimizer starts "
			        "afresh\n", nb_last_error());
		if (t->sched && nb_sched_set_epoch(t->sched, t->epoch0))
			goto fail;
	}
	return CLI_OK;
fail:
	fprintf(stderr, "nabla train: %s\n", nb_last_error());
	return CLI_FAIL;
}

/* ---- data ---- */

static void limit_rows(nb_tensor **x, nb_tensor **y, uint64_t n)
{
	if (!n || (uint64_t)nb_tensor_dim(*x, 0) <= n)
		return;
	int64_t xs[2] = {(int64_t)n, nb_tensor_dim(*x, 1)};
	int64_t ys[2] = {(int64_t)n, nb_tensor_dim(*y, 1)};
	nb_tensor *a = nb_tensor_from_data(NB_F32, 2, xs, nb_tensor_data(*x),
	                                   NB_COPY);
	nb_tensor *b = nb_tensor_from_data(nb_tensor_dtype(*y),
	                                   nb_tensor_ndim(*y), ys,
	                                   nb_tensor_data(*y), NB_COPY);
	if (!a || !b) {
		nb_tensor_free(a);
		nb_tensor_free(b);
		return;
	}
	nb_tensor_free(*x);
	nb_tensor_free(*y);
	*x = a;
	*y = b;
}

static int load_data(train_ctx *t)
{
	const train_opts *o = t->o;
	if (o->text)
		return train_text_load(t);
	const char *dir = o->data ? o->data : NB_FASHION_MNIST_DIR;
	nb_status st = NB_ENOTFOUND;
	if (o->data && train_data_is_file(o->data)) {
		if (o->loss_name)
			train_loss_parse(o->loss_name, &t->loss);
		int rc = train_data_load(o->data, o->target, &t->loss,
		                         o->loss_name != NULL, o->val_split_set
		                         ? o->val_split : 0.1, o->seed, &t->d);
		if (rc)
			return rc;
		st = NB_OK;
	} else if (!o->synthetic)
		st = nb_dataset_fashion_mnist(dir, &t->d);
	if (st && o->data) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (st) {
		if (!o->synthetic && td_leader(&t->dist))
			fprintf(stderr, "nabla train: Fashion-MNIST is not in %s "
			        "(apt-get install dataset-fashion-mnist, or --data "
			        "DIR); using the built-in synthetic data set\n", dir);
		if (nb_dataset_synthetic(6000, 1000, 784, 10, 1, &t->d)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			return CLI_FAIL;
		}
	}
	limit_rows(&t->d.train_x, &t->d.train_y, o->train_limit);
	limit_rows(&t->d.test_x, &t->d.test_y, o->test_limit);
	nb_dataset_standardize(&t->d, NULL, NULL);
	return CLI_OK;
}

/* ---- the model ---- */

/* The decimal digits of a count of epochs, 0 to 1e9. */
static bool parse_epoch(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (!*s || strlen(s) > 10)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v > 1000000000)
		return false;
	*out = v;
	return true;
}

/*
 * The model's outputs against the data: at least one logit per class
 * for ce (labels out of range would fail at the first batch), exactly
 * one per target column for mse and bce.
 */
static int check_outputs(train_ctx *t, int64_t want)
{
	nb_spec *s = NULL;
	if (nb_spec_parse(t->spec, &s, NULL))
		return CLI_OK; /* built from it already: cannot happen */
	int64_t got = nb_spec_out_features(s, t->d.features);
	nb_spec_free(s);
	if (t->loss == LOSS_CE ? got >= want : got == want)
		return CLI_OK;
	fprintf(stderr, "nabla train: the model gives %lld outputs per row; "
	        "%s needs %s%lld (%s): end the spec with linear:%lld\n",
	        (long long)got, t->o->data ? t->o->data : t->d.name,
	        t->loss == LOSS_CE ? "at least " : "", (long long)want,
	        t->loss == LOSS_CE ? "its labels go up to that count less one"
	        : "one per target column", (long long)want);
	return CLI_USAGE;
}

static int build_model(train_ctx *t)
{
	const train_opts *o = t->o;
	const char *spec = o->spec;
	char *from_file = NULL;
	nb_safetensors *f = NULL;
	if (o->load && !nb_safetensors_open(o->load, &f)) {
		/* A file without nabla.epoch (nb_module_save's, PyTorch's)
		 * resumes from epoch 0; a malformed one is an error, not a
		 * silent 0 that would restart the schedule. */
		const char *e = nb_safetensors_meta(f, "nabla.epoch");
		if (e && !parse_epoch(e, &t->epoch0)) {
			char shown[48];
			snprintf(shown, sizeof shown, "%.40s", e);
			fprintf(stderr, "nabla train: %s: the metadata nabla.epoch "
			        "is ", o->load);
			cli_json_str(stderr, shown); /* quoted, control bytes escaped */
			fprintf(stderr, "%s, not a number of epochs from 0 to "
			        "1000000000\n", strlen(e) > 40 ? "..." : "");
			nb_safetensors_close(f);
			return CLI_FAIL;
		}
		nb_safetensors_close(f);
		f = NULL;
	}
	if (!spec && o->load) {
		if (nb_safetensors_open(o->load, &f)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			return CLI_FAIL;
		}
		const char *s = nb_safetensors_meta(f, "nabla.spec");
		from_file = s ? strdup(s) : NULL;
		nb_safetensors_close(f);
		f = NULL;
		if (!from_file) {
			fprintf(stderr, "nabla train: %s has no nabla.spec metadata: "
			        "give the model with --model\n", o->load);
			return CLI_FAIL;
		}
		spec = from_file;
	}
	char sized[160];
	int64_t want = o->text ? nb_text_vocab_size(t->text)
	                       : train_data_outputs(&t->d, t->loss);
	if (!spec && o->text) {
		train_text_default_spec(t, sized, sizeof sized);
		spec = sized;
	} else if (!spec) {
		/* The default model, its last layer sized for the data. */
		snprintf(sized, sizeof sized, "%.*s%lld",
		         (int)strlen(DEFAULT_SPEC) - 2, DEFAULT_SPEC,
		         (long long)want);
		spec = sized;
	}
	nb_model_opts mo = {.dtype = NB_F32, .seed = o->seed, .init = o->init};
	if (o->text)
		mo.vocab = nb_text_vocab_size(t->text);
	t->model = nb_model_parse(spec, o->text ? (int64_t)o->steps
	                                        : t->d.features, &mo);
	t->spec = strdup(spec);
	free(from_file);
	if (!t->model) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		/* A bad spec is a usage error; memory running out is not. */
		return nb_last_status() != NB_ENOMEM &&
		       !strncmp(nb_last_error(), "spec:", 5) ? CLI_USAGE
		                                             : CLI_FAIL;
	}
	return o->text ? CLI_OK : check_outputs(t, want); /* text: probed */
}

static int load_weights(train_ctx *t)
{
	const train_opts *o = t->o;
	nb_load_report rep;
	const char *path = o->load ? o->load : o->init_from;
	if (path && nb_module_load(t->model, path, o->load != NULL, &rep)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (path && !o->json && td_leader(&t->dist) &&
	    (rep.missing || rep.unexpected))
		fprintf(stderr, "nabla train: %s: loaded %zu tensors; kept the "
		        "initial values of %zu (%s); skipped %zu (%s)\n", path,
		        rep.loaded, rep.missing, rep.missing_names, rep.unexpected,
		        rep.unexpected_names);
	for (int i = 0; i < o->n_freeze; i++)
		if (nb_module_freeze(t->model, o->freeze[i], true, NULL)) {
			fprintf(stderr, "nabla train: --freeze: %s\n",
			        nb_last_error());
			return CLI_USAGE;
		}
	size_t n = nb_module_params(t->model, true, NULL, 0);
	t->params = calloc(n + 1, sizeof *t->params);
	t->weights = calloc(n + 1, sizeof *t->weights);
	if (!t->params || !t->weights) {
		fprintf(stderr, "nabla train: out of memory\n");
		return CLI_FAIL;
	}
	t->n_params = nb_module_params(t->model, true, t->params, n);
	for (size_t i = 0; i < t->n_params; i++)
		if (nb_tensor_ndim(t->params[i]) >= 2)
			t->weights[t->n_weights++] = t->params[i];
	return CLI_OK;
}

/* ---- one step ---- */

/* --l1 and --l2: X sum |w| and X sum w^2 over the weights. */
static nb_tensor *penalty(train_ctx *t, nb_tensor *loss)
{
	const train_opts *o = t->o;
	if (o->l1 > 0 && t->n_weights)
		loss = nb_add(t->g, loss, nb_penalty_sum(t->g, t->weights,
		              t->n_weights, NB_PENALTY_L1, o->l1));
	if (o->l2 > 0 && t->n_weights)
		loss = nb_add(t->g, loss, nb_penalty_sum(t->g, t->weights,
		              t->n_weights, NB_PENALTY_L2_FULL, o->l2));
	return loss;
}

/* --clip-value, then --clip-norm (torch.nn.utils' rules). */
static nb_status clip(train_ctx *t)
{
	const train_opts *o = t->o;
	nb_status st = NB_OK;
	if (o->clip_value > 0)
		st = nb_clip_grad_value(t->params, t->n_params, o->clip_value);
	if (!st && o->clip_norm > 0)
		st = nb_clip_grad_norm(t->params, t->n_params, o->clip_norm, 2,
		                       false, NULL);
	return st;
}

/* ---- output ---- */

double train_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void train_bar(const train_ctx *t, uint64_t epoch, size_t done, size_t n)
{
	int w = 30, k = n ? (int)((double)w * (double)done / (double)n) : w;
	fprintf(stderr, "\repoch %llu/%llu [", (unsigned long long)epoch + 1,
	        (unsigned long long)t->o->epochs);
	for (int i = 0; i < w; i++)
		fputc(i < k ? '=' : i == k ? '>' : ' ', stderr);
	fprintf(stderr, "] %3d%%  ", (int)(100.0 * (double)done /
	        (double)(n ? n : 1)));
}

static void progress(train_ctx *t, uint64_t epoch, size_t done, size_t n,
                     double loss, double rate)
{
	train_bar(t, epoch, done, n);
	fprintf(stderr, "loss %.4f  %.0f samples/s ", loss, rate);
	fflush(stderr);
}

static void json_start(train_ctx *t, const char *spec)
{
	printf("{\"event\": \"start\", \"model\": ");
	cli_json_str(stdout, spec);
	printf(", \"data\": ");
	cli_json_str(stdout, t->d.name);
	printf(", \"train_samples\": %lld, \"test_samples\": %lld, "
	       "\"features\": %lld, \"classes\": %lld, \"parameters\": %zu, "
	       "\"trainable\": %zu, \"loss\": \"%s\", \"optim\": ",
	       (long long)nb_tensor_dim(t->d.train_x, 0),
	       (long long)nb_tensor_dim(t->d.test_x, 0),
	       (long long)t->d.features, (long long)t->d.classes,
	       nb_module_numel(t->model, false), nb_module_numel(t->model, true),
	       train_loss_name(t->loss));
	cli_json_str(stdout, t->o->optim);
	printf(", \"lr\": %.9g, \"batch\": %llu, \"epochs\": %llu, "
	       "\"seed\": %llu, \"threads\": %d}\n",
	       t->opt ? nb_optim_get_lr(t->opt) : 0,
	       (unsigned long long)t->o->batch,
	       (unsigned long long)t->o->epochs,
	       (unsigned long long)t->o->seed, nb_get_num_threads());
}

/* ---- the loop ---- */

/*
 * The loss of one step on this process's rows of the global batch of k
 * at idx.  Under --dist each rank takes its share (td_share) and its
 * mean loss is weighted by share * ranks / k, so that the average of
 * the ranks' gradients is the gradient of the mean over the global
 * batch even when k does not divide evenly.
 */
static nb_tensor *step_loss(train_ctx *t, const int64_t *idx, size_t k,
                            size_t *mine, nb_tensor **data_loss)
{
	nb_tensor *bx, *by;
	size_t off, kr = td_share(&t->dist, k, &off);
	*mine = kr;
	nb_batch_gather(t->g, t->d.train_x, t->d.train_y, idx + off, kr,
	                &bx, &by);
	nb_tensor *loss = train_loss_of(t->g, t->loss,
	    nb_module_forward(t->model, t->g, bx), by);
	*data_loss = loss;
	if (kr * (size_t)t->dist.size != k)
		loss = nb_affine_scalar(t->g, loss, (double)kr *
		                        t->dist.size / (double)k, 0);
	return penalty(t, loss);
}

static int train_epoch(train_ctx *t, uint64_t epoch, int64_t *idx,
                       double *train_loss, double *rate)
{
	const train_opts *o = t->o;
	nb_rng *r = nb_graph_rng(t->g);
	size_t n = (size_t)nb_tensor_dim(t->d.train_x, 0), steps = 0;
	/* the loss summed over this process's samples, and their count */
	double sums[2] = {0, 0}, t0 = train_now(), last = 0;
	if (!t->dist.d)
		nb_shuffle(idx, n, r);
	else if (td_order(&t->dist, n, o->seed, epoch, idx)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	nb_module_set_training(t->model, true);
	for (size_t at = 0; at < n; at += o->batch) {
		size_t k = n - at < o->batch ? n - at : o->batch, kr;
		/* A last batch smaller than the ranks is dropped (on every
		 * rank alike: each knows k). */
		if (k < (size_t)t->dist.size)
			break;
		nb_tensor *loss;
		nb_graph_reset(t->g);
		nb_optim_zero_grad(t->opt, false);
		nb_tensor *total = step_loss(t, idx + at, k, &kr, &loss);
		if (!total || td_backward(&t->dist, total)) {
			fprintf(stderr, "%snabla train: %s\n", t->tty ? "\n" : "",
			        nb_graph_status(t->g) ? nb_graph_errmsg(t->g)
			                              : nb_last_error());
			return CLI_FAIL;
		}
		double l = nb_tensor_item(loss);
		if (!isfinite(l)) {
			fprintf(stderr, "%snabla train: the loss is %s at epoch %llu, "
			        "step %zu (try a smaller --lr, --clip-norm, or "
			        "--detect-anomaly)\n", t->tty ? "\n" : "",
			        isnan(l) ? "NaN" : "infinite",
			        (unsigned long long)epoch + 1, steps + 1);
			return CLI_FAIL;
		}
		if (clip(t) || nb_optim_step(t->opt)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			return CLI_FAIL;
		}
		sums[0] += l * (double)kr;
		sums[1] += (double)kr;
		steps++;
		if (t->tty && train_now() - last > 0.1) {
			last = train_now();
			progress(t, epoch, at + k, n, sums[0] / sums[1],
			         (double)(at + k) / (last - t0 + 1e-9));
		}
	}
	if (td_epoch_sums(&t->dist, sums, 2)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	*train_loss = sums[0] / sums[1];
	*rate = sums[1] / (train_now() - t0 + 1e-9);
	if (t->tty)
		fprintf(stderr, "\r%*s\r", 79, "");
	return CLI_OK;
}

/* The test metric's words: accuracy, or the MSE for regression. */
static void print_metric(const train_ctx *t, double acc, bool json)
{
	if (t->loss == LOSS_MSE && json)
		printf("\"test_mse\": %.6g, \"test_rmse\": %.6g",
		       isnan(acc) ? 0 : acc, isnan(acc) ? 0 : sqrt(acc));
	else if (t->loss == LOSS_MSE)
		printf("test_mse %.4g  test_rmse %.4g", acc, sqrt(acc));
	else if (json)
		printf("\"test_accuracy\": %.6f", isnan(acc) ? 0 : acc);
	else
		printf("test_acc %.2f%%", 100 * acc);
}

static int save_model(train_ctx *t, const char *spec, double acc)
{
	char in[32], accs[32], ep[32];
	snprintf(in, sizeof in, "%lld", (long long)t->d.features);
	snprintf(accs, sizeof accs, "%.6f", acc);
	snprintf(ep, sizeof ep, "%lld", (long long)(t->epoch0 +
	         (int64_t)t->o->epochs));
	const char *meta[] = {"nabla.spec", spec, "nabla.in_features", in,
	                      "nabla.data", t->d.name, t->loss == LOSS_MSE
	                      ? "nabla.test_mse" : "nabla.test_accuracy",
	                      accs, "nabla.epoch", ep, NULL};
	/* Under --dist rank 0 writes, every rank gets its status. */
	if (t->dist.d ? nb_dist_checkpoint_save(t->dist.d, t->o->save,
	                                        t->model, t->opt, meta)
	              : nb_checkpoint_save(t->o->save, t->model, t->opt,
	                                   meta)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int run(train_ctx *t)
{
	const train_opts *o = t->o;
	int rc;
	/* A --save that cannot be written fails now, not after training. */
	if (o->save && td_leader(&t->dist) &&
	    nb_safetensors_check_writable(o->save)) {
		fprintf(stderr, "nabla train: --save: %s (nothing was trained)\n",
		        nb_last_error());
		return CLI_FAIL;
	}
	if ((rc = load_data(t)) || (rc = build_model(t)) ||
	    (rc = load_weights(t)) || (rc = setup_optim(t)) ||
	    (rc = td_setup(&t->dist, t->model, t->opt, o->sync_bn,
	                         o->bucket_mb)))
		return rc;
	if (!(t->g = nb_graph_new()))
		return CLI_FAIL;
	/* Each rank its own dropout masks (rank 0: the seed itself). */
	nb_graph_seed(t->g, nb_dist_rank_seed(o->seed, t->dist.rank));
	nb_graph_set_anomaly(t->g, o->anomaly);
	/* Training reads no intermediate gradient: recycle them. */
	nb_graph_set_retain_grads(t->g, false);
	if (o->text)
		return train_text_run(t);
	const char *spec = t->spec ? t->spec : "";
	size_t n = (size_t)nb_tensor_dim(t->d.train_x, 0);
	int64_t *idx = malloc(n * sizeof *idx + 1);
	if (!idx)
		return CLI_FAIL;
	if (o->json)
		json_start(t, spec);
	else
		printf("model: %s\ndata: %s, %lld training and %lld test samples, "
		       "%zu parameters (%zu trainable)\nthreads: %d\n", spec,
		       t->d.name, (long long)n,
		       (long long)nb_tensor_dim(t->d.test_x, 0),
		       nb_module_numel(t->model, false),
		       nb_module_numel(t->model, true), nb_get_num_threads());
	if (t->dist.d && !o->json)
		printf("ranks: %d, global batch %llu (%llu or %llu per rank)\n",
		       t->dist.size, (unsigned long long)o->batch,
		       (unsigned long long)(o->batch / (uint64_t)t->dist.size),
		       (unsigned long long)((o->batch + (uint64_t)t->dist.size
		                             - 1) / (uint64_t)t->dist.size));
	double acc = NAN, test_loss = NAN, t0 = train_now();
	for (uint64_t e = 0; e < o->epochs && !rc; e++) {
		double train_loss, rate, lr = nb_optim_get_lr(t->opt);
		if ((rc = train_epoch(t, e, idx, &train_loss, &rate)))
			break;
		if (t->sched && nb_sched_step(t->sched)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			rc = CLI_FAIL;
			break;
		}
		if ((rc = td_evaluate(&t->dist, t->model, t->g, t->loss,
		                      t->d.test_x, t->d.test_y, 1000, &test_loss,
		                      &acc)))
			break;
		if (o->json)
			printf("{\"event\": \"epoch\", \"epoch\": %llu, \"lr\": %.9g, "
			       "\"train_loss\": %.6f, \"test_loss\": %.6f, ",
			       (unsigned long long)e + 1, lr, train_loss, test_loss);
		else
			printf("epoch %llu/%llu  train_loss %.4f  test_loss %.4f  ",
			       (unsigned long long)e + 1,
			       (unsigned long long)o->epochs, train_loss, test_loss);
		print_metric(t, acc, o->json);
		printf(o->json ? ", \"samples_per_s\": %.1f}\n"
		       : "  %.0f samples/s\n", rate);
		fflush(stdout);
	}
	free(idx);
	/* --epochs 0 evaluates the model as built or loaded. */
	if (!rc && !o->epochs)
		rc = td_evaluate(&t->dist, t->model, t->g, t->loss, t->d.test_x,
		                 t->d.test_y, 1000, &test_loss, &acc);
	if (!rc && !o->epochs && !o->json) {
		printf("test_loss %.4f  ", test_loss);
		print_metric(t, acc, false);
		printf("\n");
	}
	if (!rc && o->save)
		rc = save_model(t, spec, acc);
	if (!rc && td_leader(&t->dist))
		td_summary(&t->dist, o->json);
	if (!rc && o->json) {
		printf("{\"event\": \"end\", ");
		print_metric(t, acc, true);
		printf(", \"test_loss\": %.6f, \"seconds\": %.3f, \"saved\": ",
		       isnan(test_loss) ? 0 : test_loss, train_now() - t0);
		if (o->save)
			cli_json_str(stdout, o->save);
		else
			printf("null");
		printf("}\n");
	}
	return rc;
}

int cmd_train(int argc, char **argv)
{
	train_opts o = {.epochs = 3};
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc >= 100 ? CLI_OK : rc;
	schedule sc;
	if (!parse_schedule(o.schedule, &sc))
		return cli_usage_error("train", "bad --schedule '%s' (step:SIZE,"
		                       "GAMMA, exp:GAMMA or cosine[:ETA_MIN])",
		                       o.schedule);
	if (o.threads && nb_set_num_threads((int)o.threads)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	train_ctx t = {.o = &o, .dist = {.size = 1}};
	if (o.dist && (rc = td_init(&t.dist)))
		return rc;
	if (!o.threads)
		td_threads(&t.dist);
	t.tty = !o.quiet && !o.json && isatty(STDERR_FILENO) &&
	        td_leader(&t.dist);
	rc = td_fail(&t.dist, run(&t));
	free(t.spec);
	nb_sched_free(t.sched);
	nb_optim_free(t.opt);
	free(t.weights);
	free(t.params);
	nb_graph_free(t.g);
	nb_module_free(t.model);
	nb_dataset_free(&t.d);
	nb_text_free(t.text);
	td_free(&t.dist);
	return rc;
}
