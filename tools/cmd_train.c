/*
 * cmd_train.c - `nabla train`: train a model given by a spec on
 * Fashion-MNIST (or the built-in synthetic set), with a progress bar on a
 * terminal, plain lines or JSON Lines otherwise, and checkpoints.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

#define DEFAULT_SPEC "linear:256 batch_norm relu dropout:0.2 " \
                     "linear:256 batch_norm relu linear:10"
#define MAX_FREEZE 32

typedef struct train_opts {
	const char *spec, *data, *save, *load, *init_from, *optim, *schedule;
	const char *freeze[MAX_FREEZE];
	int n_freeze;
	double lr, momentum, weight_decay, clip_norm, clip_value, l1, l2;
	bool nesterov, json, anomaly, synthetic, quiet;
	uint64_t seed, epochs, batch, threads, train_limit, test_limit;
} train_opts;

typedef struct train_ctx {
	const train_opts *o;
	nb_dataset d;
	nb_module *model;
	nb_graph *g;
	nb_tensor **params;     /* trainable parameters */
	size_t n_params;
	nb_tensor **velocity;   /* SGD momentum buffers (see sgd_step) */
	bool tty;
	double lr;
} train_ctx;

static int usage(void)
{
	printf(
"Usage: nabla train [OPTION]...\n"
"Train a classifier on Fashion-MNIST (or the built-in synthetic set) and\n"
"report train loss, test loss and test accuracy after each epoch.\n\n"
"Model and data:\n"
"  --model SPEC        the model (default \"" DEFAULT_SPEC "\");\n"
"                      see nabla(1), MODEL SPECS\n"
"  --data DIR          Fashion-MNIST IDX files in DIR (default\n"
"                      " NB_FASHION_MNIST_DIR ", else synthetic)\n"
"  --synthetic         use the built-in synthetic set\n"
"  --train-limit N, --test-limit N   use the first N samples only\n"
"Optimization:\n"
"  --optim NAME        sgd (default)\n"
"  --lr X              learning rate (default 0.1)\n"
"  --momentum X        SGD momentum (default 0.9)\n"
"  --nesterov          Nesterov momentum\n"
"  --weight-decay X    L2 weight decay in the optimizer (default 0)\n"
"  --schedule S        step:SIZE,GAMMA | exp:GAMMA | cosine[:ETA_MIN]\n"
"  --batch N           batch size (default 128)\n"
"  --epochs N          epochs (default 3; 0 only evaluates)\n"
"  --clip-norm X       clip the gradients' global L2 norm to X\n"
"  --clip-value X      clip each gradient element to [-X, X]\n"
"  --l1 X, --l2 X      add X*sum|w| or X*sum w^2 of the weights to the loss\n"
"  --seed N            seed of initialization, shuffling, dropout (0)\n"
"  --threads N         threads of matrix products\n"
"  --detect-anomaly    fail at the first op making a NaN or infinity\n"
"Checkpoints (safetensors):\n"
"  --save FILE         save the model (and its spec) after training\n"
"  --load FILE         resume from FILE (all names must match; the spec\n"
"                      is read from FILE unless --model is given)\n"
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

static int parse_opts(int argc, char **argv, train_opts *o)
{
	enum { O_MODEL = 256, O_DATA, O_SYNTH, O_TRAIN_LIMIT, O_TEST_LIMIT,
	       O_OPTIM, O_LR, O_MOMENTUM, O_NESTEROV, O_WD, O_SCHEDULE,
	       O_BATCH, O_EPOCHS, O_CLIP_NORM, O_CLIP_VALUE, O_L1, O_L2,
	       O_SEED, O_THREADS, O_ANOMALY, O_SAVE, O_LOAD, O_INIT_FROM,
	       O_FREEZE, O_JSON, O_QUIET, O_HELP, O_VERSION };
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
		          : c == O_L1 ? &o->l1 : c == O_L2 ? &o->l2 : NULL;
		uint64_t *u = c == O_SEED ? &o->seed : c == O_EPOCHS ? &o->epochs
		            : c == O_BATCH ? &o->batch : c == O_THREADS
		            ? &o->threads : c == O_TRAIN_LIMIT ? &o->train_limit
		            : c == O_TEST_LIMIT ? &o->test_limit : NULL;
		if (d) {
			if (!cli_parse_double(optarg, d) || !(*d >= 0) || isinf(*d))
				return bad_value(lo[li].name, optarg);
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
			if (o->n_freeze == MAX_FREEZE)
				return cli_usage_error("train", "at most %d --freeze",
				                       MAX_FREEZE);
			o->freeze[o->n_freeze++] = optarg;
			break;
		case O_JSON: o->json = true; break;
		case O_QUIET: o->quiet = true; break;
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
	if (strcmp(o->optim, "sgd"))
		return cli_usage_error("train", "unknown optimizer '%s' (this "
		                       "build has sgd)", o->optim);
	if (o->load && o->init_from)
		return cli_usage_error("train", "--load and --init-from exclude "
		                       "each other");
	if (o->synthetic && o->data)
		return cli_usage_error("train", "--data and --synthetic exclude "
		                       "each other");
	if (o->nesterov && o->momentum == 0)
		return cli_usage_error("train", "--nesterov needs --momentum > 0");
	return CLI_OK;
}

/* ---- learning-rate schedules: the closed forms of PyTorch's StepLR,
 * ExponentialLR and CosineAnnealingLR (T_max = the epochs) ---- */

static bool schedule_lr(const train_opts *o, uint64_t epoch, double *lr)
{
	const char *s = o->schedule;
	char *end;
	*lr = o->lr;
	if (!s)
		return true;
	if (!strncmp(s, "step:", 5)) {
		double size = strtod(s + 5, &end), gamma;
		if (*end != ',' || !(size >= 1) ||
		    !cli_parse_double(end + 1, &gamma) || !(gamma >= 0))
			return false;
		*lr = o->lr * pow(gamma, floor((double)epoch / floor(size)));
	} else if (!strncmp(s, "exp:", 4)) {
		double gamma;
		if (!cli_parse_double(s + 4, &gamma) || !(gamma >= 0))
			return false;
		*lr = o->lr * pow(gamma, (double)epoch);
	} else if (!strncmp(s, "cosine", 6)) {
		double eta = 0, t = (double)(o->epochs ? o->epochs : 1);
		if (s[6] && (s[6] != ':' || !cli_parse_double(s + 7, &eta) ||
		    !(eta >= 0)))
			return false;
		*lr = eta + (o->lr - eta) * (1 + cos(M_PI * (double)epoch / t)) / 2;
	} else {
		return false;
	}
	return true;
}

/* ---- data ---- */

static void limit_rows(nb_tensor **x, nb_tensor **y, uint64_t n)
{
	if (!n || (uint64_t)nb_tensor_dim(*x, 0) <= n)
		return;
	int64_t xs[2] = {(int64_t)n, nb_tensor_dim(*x, 1)}, ys[1] = {(int64_t)n};
	nb_tensor *a = nb_tensor_from_data(NB_F32, 2, xs, nb_tensor_data(*x),
	                                   NB_COPY);
	nb_tensor *b = nb_tensor_from_data(NB_I64, 1, ys, nb_tensor_data(*y),
	                                   NB_COPY);
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
	const char *dir = o->data ? o->data : NB_FASHION_MNIST_DIR;
	nb_status st = NB_ENOTFOUND;
	if (!o->synthetic)
		st = nb_dataset_fashion_mnist(dir, &t->d);
	if (st && o->data) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (st) {
		if (!o->synthetic)
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

static int build_model(train_ctx *t)
{
	const train_opts *o = t->o;
	const char *spec = o->spec;
	char *from_file = NULL;
	nb_safetensors *f = NULL;
	if (!spec && o->load) {
		if (nb_safetensors_open(o->load, &f)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			return CLI_FAIL;
		}
		const char *s = nb_safetensors_meta(f, "nabla.spec");
		from_file = s ? strdup(s) : NULL;
		nb_safetensors_close(f);
		if (!from_file) {
			fprintf(stderr, "nabla train: %s has no nabla.spec metadata: "
			        "give the model with --model\n", o->load);
			return CLI_FAIL;
		}
		spec = from_file;
	}
	if (!spec)
		spec = DEFAULT_SPEC;
	nb_model_opts mo = {.dtype = NB_F32, .seed = o->seed};
	t->model = nb_model_parse(spec, t->d.features, &mo);
	free(from_file);
	if (!t->model) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return strncmp(nb_last_error(), "spec:", 5) ? CLI_FAIL : CLI_USAGE;
	}
	return CLI_OK;
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
	if (path && !o->json && (rep.missing || rep.unexpected))
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
	t->velocity = calloc(n + 1, sizeof *t->velocity);
	if (!t->params || !t->velocity) {
		fprintf(stderr, "nabla train: out of memory\n");
		return CLI_FAIL;
	}
	t->n_params = nb_module_params(t->model, true, t->params, n);
	return CLI_OK;
}

/* ---- one step ---- */

/* The L1 and L2 penalties of the weights (parameters of rank >= 2). */
static nb_tensor *penalty(train_ctx *t, nb_tensor *loss)
{
	const train_opts *o = t->o;
	for (size_t i = 0; loss && i < t->n_params; i++) {
		nb_tensor *w = t->params[i];
		if (nb_tensor_ndim(w) < 2)
			continue;
		if (o->l1 > 0)
			loss = nb_add(t->g, loss, nb_affine_scalar(t->g,
			    nb_sum(t->g, nb_abs(t->g, w), 0, NULL, false), o->l1, 0));
		if (o->l2 > 0)
			loss = nb_add(t->g, loss, nb_affine_scalar(t->g,
			    nb_sum(t->g, nb_mul(t->g, w, w), 0, NULL, false), o->l2,
			    0));
	}
	return loss;
}

static void clip(train_ctx *t)
{
	const train_opts *o = t->o;
	double total = 0;
	if (!(o->clip_value > 0) && !(o->clip_norm > 0))
		return;
	for (size_t i = 0; i < t->n_params; i++) {
		nb_tensor *g = nb_tensor_grad(t->params[i]);
		for (size_t k = 0; g && k < nb_tensor_numel(g); k++) {
			double v = nb_tensor_get(g, k);
			if (o->clip_value > 0 && fabs(v) > o->clip_value)
				nb_tensor_set(g, k, v > 0 ? o->clip_value : -o->clip_value);
			total += v * v;
		}
	}
	double scale = o->clip_norm / (sqrt(total) + 1e-6);
	if (!(o->clip_norm > 0) || scale >= 1)
		return;
	for (size_t i = 0; i < t->n_params; i++) {
		nb_tensor *g = nb_tensor_grad(t->params[i]);
		for (size_t k = 0; g && k < nb_tensor_numel(g); k++)
			nb_tensor_set(g, k, nb_tensor_get(g, k) * scale);
	}
}

/*
 * torch.optim.SGD (dampening 0): g += wd * w; v = momentum * v + g
 * (v = g at the first step); g = nesterov ? g + momentum * v : v;
 * w -= lr * g.  float32 parameters.
 */
static int sgd_step(train_ctx *t)
{
	const train_opts *o = t->o;
	float mu = (float)o->momentum, wd = (float)o->weight_decay;
	float lr = (float)t->lr;
	for (size_t i = 0; i < t->n_params; i++) {
		nb_tensor *p = t->params[i], *gt = nb_tensor_grad(p);
		if (!gt)
			continue;
		float *w = nb_tensor_data(p), *g = nb_tensor_data(gt), *v = NULL;
		size_t n = nb_tensor_numel(p);
		bool first = false;
		if (mu != 0 && !t->velocity[i]) {
			t->velocity[i] = nb_tensor_clone(gt);
			if (!t->velocity[i])
				return CLI_FAIL;
			first = true;
		}
		if (mu != 0)
			v = nb_tensor_data(t->velocity[i]);
		for (size_t k = 0; k < n; k++) {
			float d = g[k] + wd * w[k];
			if (v) {
				v[k] = first ? d : mu * v[k] + d;
				d = o->nesterov ? d + mu * v[k] : v[k];
			}
			w[k] -= lr * d;
		}
	}
	return CLI_OK;
}

/* ---- output ---- */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(train_ctx *t, uint64_t epoch, size_t done, size_t n,
                     double loss, double rate)
{
	int w = 30, k = n ? (int)((double)w * (double)done / (double)n) : w;
	fprintf(stderr, "\repoch %llu/%llu [", (unsigned long long)epoch + 1,
	        (unsigned long long)t->o->epochs);
	for (int i = 0; i < w; i++)
		fputc(i < k ? '=' : i == k ? '>' : ' ', stderr);
	fprintf(stderr, "] %3d%%  loss %.4f  %.0f samples/s ",
	        (int)(100.0 * (double)done / (double)(n ? n : 1)), loss, rate);
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
	       "\"trainable\": %zu, \"optim\": ",
	       (long long)nb_tensor_dim(t->d.train_x, 0),
	       (long long)nb_tensor_dim(t->d.test_x, 0),
	       (long long)t->d.features, (long long)t->d.classes,
	       nb_module_numel(t->model, false), nb_module_numel(t->model, true));
	cli_json_str(stdout, t->o->optim);
	printf(", \"lr\": %.9g, \"batch\": %llu, \"epochs\": %llu, "
	       "\"seed\": %llu}\n", t->o->lr, (unsigned long long)t->o->batch,
	       (unsigned long long)t->o->epochs,
	       (unsigned long long)t->o->seed);
}

/* ---- the loop ---- */

static int train_epoch(train_ctx *t, uint64_t epoch, int64_t *idx,
                       double *train_loss, double *rate)
{
	const train_opts *o = t->o;
	nb_rng *r = nb_graph_rng(t->g);
	size_t n = (size_t)nb_tensor_dim(t->d.train_x, 0), steps = 0;
	double sum = 0, t0 = now(), last = 0;
	nb_shuffle(idx, n, r);
	nb_module_set_training(t->model, true);
	for (size_t at = 0; at < n; at += o->batch) {
		size_t k = n - at < o->batch ? n - at : o->batch;
		nb_tensor *bx, *by;
		nb_graph_reset(t->g);
		nb_module_zero_grad(t->model);
		nb_batch_gather(t->g, t->d.train_x, t->d.train_y, idx + at, k,
		                &bx, &by);
		nb_tensor *loss = nb_cross_entropy(t->g,
		    nb_module_forward(t->model, t->g, bx), by);
		nb_tensor *total = penalty(t, loss);
		if (!total || nb_backward(total, NULL)) {
			fprintf(stderr, "%snabla train: %s\n", t->tty ? "\n" : "",
			        nb_graph_errmsg(t->g));
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
		clip(t);
		if (sgd_step(t))
			return CLI_FAIL;
		sum += l * (double)k;
		steps++;
		if (t->tty && now() - last > 0.1) {
			last = now();
			progress(t, epoch, at + k, n, sum / (double)(at + k),
			         (double)(at + k) / (last - t0 + 1e-9));
		}
	}
	*train_loss = sum / (double)n;
	*rate = (double)n / (now() - t0 + 1e-9);
	if (t->tty)
		fprintf(stderr, "\r%*s\r", 79, "");
	return CLI_OK;
}

static int save_model(train_ctx *t, const char *spec, double acc)
{
	char in[32], accs[32];
	snprintf(in, sizeof in, "%lld", (long long)t->d.features);
	snprintf(accs, sizeof accs, "%.6f", acc);
	const char *meta[] = {"nabla.spec", spec, "nabla.in_features", in,
	                      "nabla.data", t->d.name, "nabla.test_accuracy",
	                      accs, NULL};
	if (nb_module_save(t->model, t->o->save, meta)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	return CLI_OK;
}

static int run(train_ctx *t)
{
	const train_opts *o = t->o;
	int rc;
	if ((rc = load_data(t)) || (rc = build_model(t)) ||
	    (rc = load_weights(t)))
		return rc;
	if (!(t->g = nb_graph_new()))
		return CLI_FAIL;
	nb_graph_seed(t->g, o->seed);
	nb_graph_set_anomaly(t->g, o->anomaly);
	const char *spec = o->spec ? o->spec : DEFAULT_SPEC;
	size_t n = (size_t)nb_tensor_dim(t->d.train_x, 0);
	int64_t *idx = malloc(n * sizeof *idx + 1);
	if (!idx)
		return CLI_FAIL;
	if (o->json)
		json_start(t, spec);
	else
		printf("model: %s\ndata: %s, %lld training and %lld test samples, "
		       "%zu parameters (%zu trainable)\n", spec, t->d.name,
		       (long long)n, (long long)nb_tensor_dim(t->d.test_x, 0),
		       nb_module_numel(t->model, false),
		       nb_module_numel(t->model, true));
	double acc = NAN, test_loss = NAN, t0 = now();
	for (uint64_t e = 0; e < o->epochs && !rc; e++) {
		double train_loss, rate;
		schedule_lr(o, e, &t->lr);
		if ((rc = train_epoch(t, e, idx, &train_loss, &rate)))
			break;
		if (nb_evaluate(t->model, t->g, t->d.test_x, t->d.test_y, 1000,
		                &test_loss, &acc)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			rc = CLI_FAIL;
			break;
		}
		if (o->json)
			printf("{\"event\": \"epoch\", \"epoch\": %llu, \"lr\": %.9g, "
			       "\"train_loss\": %.6f, \"test_loss\": %.6f, "
			       "\"test_accuracy\": %.6f, \"samples_per_s\": %.1f}\n",
			       (unsigned long long)e + 1, t->lr, train_loss,
			       test_loss, acc, rate);
		else
			printf("epoch %llu/%llu  train_loss %.4f  test_loss %.4f  "
			       "test_acc %.2f%%  %.0f samples/s\n",
			       (unsigned long long)e + 1,
			       (unsigned long long)o->epochs, train_loss, test_loss,
			       100 * acc, rate);
		fflush(stdout);
	}
	free(idx);
	/* --epochs 0 evaluates the model as built or loaded. */
	if (!rc && !o->epochs && nb_evaluate(t->model, t->g, t->d.test_x,
	                                     t->d.test_y, 1000, &test_loss,
	                                     &acc)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		rc = CLI_FAIL;
	}
	if (!rc && !o->epochs && !o->json)
		printf("test_loss %.4f  test_acc %.2f%%\n", test_loss, 100 * acc);
	if (!rc && o->save)
		rc = save_model(t, spec, acc);
	if (!rc && o->json) {
		printf("{\"event\": \"end\", \"test_accuracy\": %.6f, "
		       "\"test_loss\": %.6f, \"seconds\": %.3f, \"saved\": ",
		       isnan(acc) ? 0 : acc, isnan(test_loss) ? 0 : test_loss,
		       now() - t0);
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
	train_opts o = {
		.optim = "sgd", .lr = 0.1, .momentum = 0.9, .epochs = 3,
		.batch = 128,
	};
	int rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc >= 100 ? CLI_OK : rc;
	double lr;
	if (!schedule_lr(&o, 0, &lr))
		return cli_usage_error("train", "bad --schedule '%s' (step:SIZE,"
		                       "GAMMA, exp:GAMMA or cosine[:ETA_MIN])",
		                       o.schedule);
	if (o.threads && nb_set_num_threads((int)o.threads))
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
	train_ctx t = {.o = &o, .lr = o.lr};
	t.tty = !o.quiet && !o.json && isatty(STDERR_FILENO);
	rc = run(&t);
	for (size_t i = 0; t.velocity && i < t.n_params; i++)
		nb_tensor_free(t.velocity[i]);
	free(t.velocity);
	free(t.params);
	nb_graph_free(t.g);
	nb_module_free(t.model);
	nb_dataset_free(&t.d);
	return rc;
}
