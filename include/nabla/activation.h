/*
 * nabla/activation.h - typed wrappers of the activation ops, and
 * statistics of an activation's output (saturation, dead units).
 * Include <nabla/nabla.h> rather than this file.
 *
 * Every wrapper takes the graph first and returns a new graph tensor of
 * x's shape and dtype (float32 or float64), or NULL on error: the error
 * (code and a message naming the op and the input shapes) is recorded on
 * the graph, see nb_graph_errmsg().  A NULL input gives NULL and keeps
 * the graph's first error (NULL g, or a NULL input while g holds no
 * error: NB_EINVAL, as in ops.h).  Attribute values are checked as nb_call()
 * checks them (NB_EINVAL, e.g. NaN, rrelu lower > upper).  The same ops
 * are reachable by name with nb_call(g, "leaky_relu", 1, &x,
 * "negative_slope=0.2").  doc/activations.md gives every formula,
 * derivative and range.
 *
 * All of them are finite for any finite input (they are written in
 * overflow-free forms) and match PyTorch's values and gradients.
 */
#ifndef NABLA_ACTIVATION_H
#define NABLA_ACTIVATION_H

#include "op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* sigmoid(x) = 1 / (1 + e^-x), in (0, 1). */
nb_tensor *nb_sigmoid(nb_graph *g, nb_tensor *x);
/* tanh(x), in (-1, 1). */
nb_tensor *nb_tanh(nb_graph *g, nb_tensor *x);
/* max(x, 0); the gradient at 0 is 0. */
nb_tensor *nb_relu(nb_graph *g, nb_tensor *x);
/* x for x > 0, negative_slope * x otherwise (PyTorch's default 0.01). */
nb_tensor *nb_leaky_relu(nb_graph *g, nb_tensor *x, double negative_slope);
/*
 * Randomized leaky ReLU.  In training mode (nb_graph_set_training) each
 * element's negative-side slope is drawn uniformly from [lower, upper)
 * with the graph's generator (nb_graph_seed) and reused by backward; in
 * evaluation mode the slope is (lower + upper) / 2.  PyTorch's defaults
 * are lower = 1/8, upper = 1/3.  NB_EINVAL if lower > upper.
 */
nb_tensor *nb_rrelu(nb_graph *g, nb_tensor *x, double lower, double upper);
/*
 * Parametric ReLU: x for x > 0, w * x otherwise, with weight w learned
 * (it gets a gradient when it requires grad).  weight is a scalar or 1-D
 * with 1 element (shared by all) or C elements, one per channel along
 * dim 1 of x ([N, C, ...]); NB_ESHAPE otherwise.  Initializing w is the
 * caller's business (PyTorch's nn.PReLU starts at 0.25).  weight is
 * borrowed.
 */
nb_tensor *nb_prelu(nb_graph *g, nb_tensor *x, nb_tensor *weight);
/* x for x > 0, alpha (e^x - 1) otherwise (default alpha 1). */
nb_tensor *nb_elu(nb_graph *g, nb_tensor *x, double alpha);
/* scale * elu(x, alpha) with scale ~ 1.0507 and alpha ~ 1.6733. */
nb_tensor *nb_selu(nb_graph *g, nb_tensor *x);
/* x for x > 0, alpha (e^(x/alpha) - 1) otherwise; NB_EINVAL for 0. */
nb_tensor *nb_celu(nb_graph *g, nb_tensor *x, double alpha);

typedef enum nb_gelu_approx {
	NB_GELU_NONE = 0, /* x Phi(x), Phi the standard normal CDF */
	NB_GELU_TANH = 1  /* x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 */
} nb_gelu_approx;
/* Gaussian error linear unit, exact or tanh approximation. */
nb_tensor *nb_gelu(nb_graph *g, nb_tensor *x, nb_gelu_approx approximate);
/* x sigmoid(x), also called swish. */
nb_tensor *nb_silu(nb_graph *g, nb_tensor *x);
/* x tanh(softplus(x)). */
nb_tensor *nb_mish(nb_graph *g, nb_tensor *x);
/*
 * log(1 + e^(beta x)) / beta, and x itself where beta x > threshold
 * (PyTorch's defaults: beta 1, threshold 20).  NB_EINVAL for beta 0.
 */
nb_tensor *nb_softplus(nb_graph *g, nb_tensor *x, double beta,
                       double threshold);
/* x / (1 + |x|), in (-1, 1). */
nb_tensor *nb_softsign(nb_graph *g, nb_tensor *x);
/* x clamped to [min_val, max_val] (defaults -1, 1); gradient 0 at and
 * beyond the limits.  NB_EINVAL if min_val > max_val. */
nb_tensor *nb_hardtanh(nb_graph *g, nb_tensor *x, double min_val,
                       double max_val);
/* clamp(x + 3, 0, 6) / 6, in [0, 1]. */
nb_tensor *nb_hardsigmoid(nb_graph *g, nb_tensor *x);
/* x * clamp(x + 3, 0, 6) / 6. */
nb_tensor *nb_hardswish(nb_graph *g, nb_tensor *x);
/* log(sigmoid(x)) = -softplus(-x), computed without overflow. */
nb_tensor *nb_log_sigmoid(nb_graph *g, nb_tensor *x);

/*
 * Statistics of an activation's output, for spotting saturated and dead
 * units (the vanishing-gradient and dying-ReLU symptoms).
 */
typedef struct nb_act_stats {
	size_t n;           /* values counted */
	double mean, std;   /* of the values (population std) */
	double saturated;   /* fraction of values within 1% of (out_hi - out_lo)
	                       of either limit; 0 for unbounded ops */
	double zero;        /* fraction of values exactly 0 */
	double dead_units;  /* fraction of units (index along axis 1 of
	                       [N, F, ...]; for 1-D the single unit) that are
	                       exactly 0 for every sample (unbounded ops) or
	                       saturated for every sample (bounded ops) */
} nb_act_stats;

/*
 * Fills *st with the statistics of out, the output of op.  op gives the
 * output limits (nb_op.out_lo/out_hi; equal limits mean unbounded) and
 * may be NULL: then saturated = 0 and a dead unit is one that is 0 for
 * every sample.  For rank >= 2, unit f is everything at index f of axis
 * 1: a [N, C, H, W] feature map has C units, each dead when all of its
 * N * H * W values are.  A 1-D output is a single unit.  An empty output
 * gives n = 0 and every other field 0.  NaN values count in n and make
 * mean and std NaN.  Nothing is allocated; out and op are borrowed.
 * Errors: NB_EINVAL for NULL out or st, NB_EDTYPE for int64, NB_ESHAPE
 * for a rank-0 tensor.
 */
nb_status nb_activation_stats(const nb_op *op, const nb_tensor *out,
                              nb_act_stats *st);

#ifdef __cplusplus
}
#endif
#endif
