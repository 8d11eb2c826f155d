/*
 * initlab.h - the initialization study behind `nabla initlab`: a deep
 * stack of bias-free linear layers (optionally normalized) and one
 * activation, one forward and one backward pass, and per-layer
 * statistics of the activations and of the weight gradients.  Kept out
 * of cmd_initlab.c so that tests can run it and compare it with an
 * independent computation (tests/ref/initlab_ref.py).
 */
#ifndef NB_INITLAB_H
#define NB_INITLAB_H

#include <stdbool.h>
#include <stdio.h>
#include <nabla/nabla.h>

#define IL_MAX_LAYERS 32
#define IL_BINS 60       /* histogram bins (the plot) */
#define IL_SPARK_BINS 20 /* sparkline bins: IL_BINS / 3 */

typedef enum il_norm {
	IL_NORM_NONE, IL_NORM_BATCH, IL_NORM_LAYER, IL_NORM_INSTANCE,
	IL_NORM_GROUP
} il_norm;

typedef struct il_config {
	int n_layers;
	int64_t sizes[IL_MAX_LAYERS + 1]; /* sizes[0] is the input width */
	int64_t batch;
	char act[128];   /* op name, optionally ":attrs" (leaky_relu:negative_slope=0.2) */
	char init[128];  /* scheme for nb_init_apply */
	il_norm norm;
	int groups;      /* group norm: number of groups (0: automatic) */
	uint64_t seed;
	nb_dtype dtype;
	bool data_range; /* histograms over the data's range, not the
	                    activation's limits */
} il_config;

/* The notes' experiment: randn(2000, 800), 800 -> 750 -> ... -> 300,
 * tanh, N(0, 0.01^2), float32, seed 0. */
void il_config_default(il_config *c);

typedef struct il_layer {
	int64_t in, out;
	double pre_mean, pre_std; /* of the activation's input */
	double mean, std;         /* of the activation's output */
	double saturated;         /* %, bounded activations (else NAN) */
	double zero;              /* % exactly 0 */
	double dead;              /* % of units dead over the whole batch */
	double grad_norm;         /* ||dL/dW||_F */
	double grad_ratio;        /* grad_norm / the last layer's */
	double lo, hi;            /* histogram range */
	uint64_t hist[IL_BINS];
	/* The bin holding 0 when exact zeros make most of it (ReLU's spike),
	 * else -1: drawn clipped, so that the rest stays readable. */
	int zero_bin;
} il_layer;

/* The count that fills a histogram's height: the largest bin, leaving
 * out zero_bin (unless it is the only non-empty one). */
uint64_t il_hist_scale(const il_layer *L);

typedef struct il_run {
	char name[128];           /* the case's label */
	il_config cfg;
	bool bounded;             /* the activation has output limits */
	double out_lo, out_hi;
	double loss;
	int n_layers;
	il_layer layer[IL_MAX_LAYERS];
	/* Summary and verdict (il_judge). */
	double std_ratio;         /* last layer's std / first layer's */
	double grad_spread;       /* first layer's grad norm / last's */
	double last_saturated;    /* % (NAN when unbounded) */
	const char *verdict;      /* vanishing, saturated, exploding, healthy */
	char why[256];
} il_run;

/*
 * Runs the study for c into *out (the name is left to the caller).
 * Returns NB_OK, or an error with the message in err (from the op, the
 * initializer or the graph).
 */
nb_status il_run_study(const il_config *c, il_run *out, char *err,
                       size_t errn);

/* Fills the summary and the verdict of a run (thresholds in initlab.c
 * and doc/initlab.md). */
void il_judge(il_run *r);

/* The --compare cases: act and init of each, labels. */
typedef struct il_case {
	const char *name, *act, *init;
} il_case;
extern const il_case il_cases[];
extern const int il_n_cases;

/* Output. */
void il_print_run(FILE *f, const il_run *r, bool ascii);
void il_print_compare(FILE *f, const il_run *runs, int n);
void il_print_json(FILE *f, const il_run *runs, int n, bool compare);
/* A layer's histogram as a one-line sparkline of IL_SPARK_BINS
 * characters (a clipped zero spike shows as a full block). */
void il_sparkline(FILE *f, const il_layer *L, bool ascii);
const char *il_norm_name(il_norm n);

/*
 * Draws the runs' histograms into file (PNG or SVG by extension): a grid
 * of one panel per layer, 5 per row for one run, one row per run for
 * several.  NB_EINVAL for another extension or a build without cairo,
 * NB_EIO when the file cannot be written; message in err.
 */
nb_status il_plot(const char *file, const il_run *runs, int n, char *err,
                  size_t errn);

#endif
