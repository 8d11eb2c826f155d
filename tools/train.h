/*
 * train.h - what the parts of `nabla train` share: its options and its
 * state (cmd_train.c parses and sets up; train_data.c reads the user's
 * data, train_dist.c runs on MPI, train_text.c trains a character
 * model).
 */
#ifndef NB_TRAIN_H
#define NB_TRAIN_H

#include "cli.h"
#include "train_data.h"
#include "train_dist.h"

#define MAX_FREEZE 32

typedef struct train_opts {
	const char *spec, *data, *save, *load, *init_from, *optim, *schedule;
	const char *init;
	const char *target, *loss_name; /* --data FILE: tools/train_data.c */
	double val_split;
	bool val_split_set;
	const char *freeze[MAX_FREEZE];
	int n_freeze;
	double lr, momentum, weight_decay, clip_norm, clip_value, l1, l2;
	double beta1, beta2, eps, alpha;
	double bucket_mb;       /* --bucket-mb: ddp's bucket size, 0 default */
	bool lr_set, momentum_set, wd_set, beta1_set, beta2_set, eps_set,
	     alpha_set;
	bool nesterov, json, anomaly, synthetic, quiet;
	bool dist, sync_bn;    /* --dist, --sync-bn (tools/train_dist.c) */
	uint64_t seed, epochs, batch, threads, train_limit, test_limit;
	/* --text FILE (tools/train_text.c): a character model; --steps T,
	 * the window of truncated backpropagation through time */
	const char *text;
	uint64_t steps;
} train_opts;

typedef struct train_ctx {
	const train_opts *o;
	nb_dataset d;
	nb_module *model;
	nb_graph *g;
	nb_tensor **params;     /* trainable parameters */
	size_t n_params;
	nb_tensor **weights;    /* those of rank >= 2, for --l1 and --l2 */
	size_t n_weights;
	nb_optim *opt;
	nb_sched *sched;
	int64_t epoch0;         /* epochs done before (--load) */
	char *spec;             /* the model's spec (owned) */
	loss_kind loss;        /* ce for the built-in sets */
	bool tty;
	train_dist dist;        /* --dist: the MPI job, or one process */
	nb_text *text;          /* --text: the corpus */
} train_ctx;

/* --text alone: a text of Debian's fortunes package. */
#define TEXT_DEFAULT "/usr/share/games/fortunes/computers"
/* The default character model, completed with the alphabet's size. */
#define TEXT_DEFAULT_SPEC "embedding:64 lstm:256 linear:"

/* Seconds on a monotonic clock. */
double train_now(void);
/* The start of a progress line on stderr: "\repoch E/N [===>  ]  P%  ";
 * the caller adds its figures and flushes. */
void train_bar(const train_ctx *t, uint64_t epoch, size_t done, size_t n);

/*
 * --text: reads the corpus (train_text.c).  The model's input is then a
 * window of o->steps token ids of the corpus' alphabet.
 */
int train_text_load(train_ctx *t);
/* The spec of the default character model for the corpus. */
void train_text_default_spec(const train_ctx *t, char *buf, size_t n);
/* Trains, evaluates (bits per character on held-out text), saves and
 * prints a sample: everything after the model and optimizer are set
 * up, with t->g made. */
int train_text_run(train_ctx *t);

#endif
