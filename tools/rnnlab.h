/*
 * rnnlab.h - gradients through time, the study behind `nabla initlab
 * --rnn`: a recurrent net (vanilla tanh or ReLU RNN, LSTM, GRU) run for
 * T steps from a zero state on random inputs, the loss taken at the
 * last step only, and the norm of dL/dh_t for every step t: how much of
 * the gradient reaches each earlier step.  Kept out of the command so
 * that tests can run it (tests/test_rnnlab.c).
 */
#ifndef NB_RNNLAB_H
#define NB_RNNLAB_H

#include <stdbool.h>
#include <stdio.h>
#include <nabla/nabla.h>

#define RL_MAX_STEPS 10000

typedef enum rl_cell { RL_TANH, RL_RELU, RL_LSTM, RL_GRU } rl_cell;

typedef struct rl_config {
	rl_cell cell;
	int64_t steps;        /* T */
	int64_t hidden, input, batch;
	double gain;          /* each recurrent block is gain x orthogonal:
	                         its spectral radius is gain */
	char init[128];       /* "orthogonal" (default) or an nb_init_apply
	                         scheme for the recurrent blocks, then x gain */
	double forget_bias;   /* LSTM: the forget gate's bias */
	double clip_norm;     /* > 0: clip the parameters' gradient norm */
	uint64_t seed;
	nb_dtype dtype;
} rl_config;

/* tanh, T = 100, hidden 128, input 32, batch 32, gain 1, orthogonal,
 * forget bias 0, no clipping, seed 0, float64. */
void rl_config_default(rl_config *c);
const char *rl_cell_name(rl_cell c);
/* "tanh", "relu", "lstm", "gru" to *c; false for another name. */
bool rl_cell_parse(const char *s, rl_cell *c);

typedef struct rl_run {
	char name[96];
	rl_config cfg;
	double *grad;           /* [steps]: ||dL/dh_t||_F, t = 1..T */
	double sigma;           /* largest singular value of the recurrent
	                           blocks (power iteration) */
	double loss;
	double w_grad;          /* ||dL/dW_hh||_F before clipping */
	double total_norm;      /* all parameters' gradient norm, before */
	double clipped_norm;    /* after clipping (= total without it) */
	double ratio;           /* grad[0] / grad[T-1] */
	double per_step;        /* ratio^(1/(T-1)): the factor per step */
	const char *verdict;    /* vanishing, exploding, healthy */
	char why[256];
} rl_run;

/* Runs the study; NB_OK, or an error with the message in err.  Free
 * out->grad with rl_run_free. */
nb_status rl_run_study(const rl_config *c, rl_run *out, char *err,
                       size_t errn);
void rl_run_free(rl_run *r);
/* Fills the verdict (thresholds in rnnlab.c and doc/initlab.md). */
void rl_judge(rl_run *r);

/* The --compare cases. */
typedef struct rl_case {
	const char *name;
	rl_cell cell;
	double gain, forget_bias, clip_norm;
} rl_case;
extern const rl_case rl_cases[];
extern const int rl_n_cases;

void rl_print_runs(FILE *f, const rl_run *runs, int n);
void rl_print_json(FILE *f, const rl_run *runs, int n);
/* log10 ||dL/dh_t|| against t for every run, as PNG or SVG (cairo). */
nb_status rl_plot(const char *file, const rl_run *runs, int n, char *err,
                  size_t errn);

#endif
