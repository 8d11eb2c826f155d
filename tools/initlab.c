/*
 * initlab.c - the initialization study: build the network, run forward
 * and backward once, measure each layer, judge the run.
 *
 * The network: x ~ N(0, 1) of shape [batch, sizes[0]], then for each
 * layer i: z_i = a_{i-1} W_i^T (no bias; W_i is [sizes[i], sizes[i-1]],
 * filled by the init scheme), optionally z_i = norm(z_i), and
 * a_i = act(z_i).  Draw order from one generator seeded with the seed:
 * x row-major, then W_1, W_2, ... row-major.
 * The loss is L = sum(a_L^2) / (2 * batch): half the squared norm of the
 * last activations, averaged over the batch, so dL/da_L = a_L / batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "initlab.h"

const il_case il_cases[] = {
	{"tanh N(0,0.01^2)", "tanh", "normal:0.01"},
	{"tanh N(0,1)", "tanh", "normal:1"},
	{"tanh xavier_normal", "tanh", "xavier_normal"},
	{"relu N(0,4/(in+out))", "relu", "xavier_normal:1.4142135623730951"},
	{"relu kaiming_normal", "relu", "kaiming_normal"},
	{"tanh notes table", "tanh", "notes"},
};
const int il_n_cases = (int)(sizeof il_cases / sizeof *il_cases);

void il_config_default(il_config *c)
{
	memset(c, 0, sizeof *c);
	c->n_layers = 10;
	for (int i = 0; i <= c->n_layers; i++)
		c->sizes[i] = 800 - 50 * i;
	c->batch = 2000;
	strcpy(c->act, "tanh");
	strcpy(c->init, "normal:0.01");
	c->norm = IL_NORM_NONE;
	c->seed = 0;
	c->dtype = NB_F32;
}

const char *il_norm_name(il_norm n)
{
	static const char *const names[] = {"none", "batch", "layer",
	                                    "instance", "group"};
	return (unsigned)n < 5 ? names[n] : "?";
}

/* ---- the network ---- */

/* Everything a run allocates, freed in one place. */
typedef struct net {
	nb_graph *g;
	nb_tensor *x;
	nb_tensor *w[IL_MAX_LAYERS];
	nb_tensor *np[IL_MAX_LAYERS][NB_MAX_INPUTS - 1]; /* norm's inputs */
	nb_tensor *act_w;                /* prelu's slope */
	nb_tensor *a[IL_MAX_LAYERS];     /* graph tensors */
	nb_tensor *z[IL_MAX_LAYERS];
} net;

static void net_free(net *n)
{
	nb_tensor_free(n->x);
	nb_tensor_free(n->act_w);
	for (int i = 0; i < IL_MAX_LAYERS; i++) {
		nb_tensor_free(n->w[i]);
		for (int k = 0; k < NB_MAX_INPUTS - 1; k++)
			nb_tensor_free(n->np[i][k]);
	}
	nb_graph_free(n->g);
}

static int auto_groups(const il_config *c)
{
	int best = 1;
	for (int gr = 32; gr > 1 && best == 1; gr--) {
		bool ok = true;
		for (int i = 1; i <= c->n_layers; i++)
			ok = ok && c->sizes[i] % gr == 0;
		if (ok)
			best = gr;
	}
	return best;
}

/*
 * The normalization of layer i applied to z [batch, out], by name.
 * Optional inputs are left out: no affine map (PyTorch's initial
 * weight 1 and bias 0 give the same values) and no running statistics
 * (training mode uses the batch's).  A required one gets its neutral
 * value: 1 for a weight or a variance, 0 otherwise.  instance_norm sees
 * the layer as one channel of length out ([batch, 1, out]); group_norm
 * splits the out features into groups.
 */
static nb_tensor *normalize(net *n, const il_config *c, int i, nb_tensor *z)
{
	static const char *const ops[] = {NULL, "batch_norm", "layer_norm",
	                                  "instance_norm", "group_norm"};
	int64_t out = c->sizes[i + 1], ch = out;
	char attrs[64] = "";
	const nb_op *op = nb_op_find(ops[c->norm]);
	if (!op) {
		nb_call(n->g, ops[c->norm], 1, &z, NULL); /* records the error */
		return NULL;
	}
	if (c->norm == IL_NORM_LAYER)
		snprintf(attrs, sizeof attrs, "normalized_shape=%lld",
		         (long long)out);
	if (c->norm == IL_NORM_GROUP)
		snprintf(attrs, sizeof attrs, "num_groups=%d",
		         c->groups ? c->groups : auto_groups(c));
	if (c->norm == IL_NORM_INSTANCE) {
		ch = 1;
		z = nb_reshape(n->g, z, 3, (const int64_t[]){c->batch, 1, out});
	}
	nb_tensor *in[NB_MAX_INPUTS] = {z};
	/* The required parameters and buffers, as a layer fills them
	 * (weight 1, bias 0); the optional ones (running statistics) left
	 * out. */
	for (int k = 1; k < op->n_inputs && k < NB_MAX_INPUTS; k++) {
		const nb_input_def *d = &op->inputs[k];
		if (d->flags & NB_IN_OPTIONAL)
			continue;
		in[k] = n->np[i][k - 1] = nb_tensor_full(c->dtype, 1, &ch,
		    d->fill == NB_FILL_CONST ? d->value : 0.0);
		if (!in[k])
			return NULL;
	}
	z = nb_call(n->g, op->name, op->n_inputs, in, attrs);
	if (z && c->norm == IL_NORM_INSTANCE)
		z = nb_reshape(n->g, z, 2, (const int64_t[]){c->batch, out});
	return z;
}

/* Splits "name:attrs" into the op and its attribute string. */
static const nb_op *find_act(const char *spec, char *name, size_t nn,
                             const char **attrs, char *err, size_t errn)
{
	size_t len = strcspn(spec, ":");
	snprintf(name, nn, "%.*s", (int)len, spec);
	*attrs = spec[len] ? spec + len + 1 : "";
	const nb_op *op = nb_op_find(name);
	if (!op)
		snprintf(err, errn, "unknown activation '%s' (see 'nabla ops')",
		         name);
	else if (op->kind != NB_KIND_ACTIVATION)
		snprintf(err, errn, "'%s' is a %s op, not an activation", name,
		         nb_op_kind_name(op->kind));
	else if (op->n_inputs > 2)
		snprintf(err, errn, "activation '%s' takes %d inputs; initlab "
		         "drives one-input activations (and prelu)", name,
		         op->n_inputs);
	else
		return op;
	return NULL;
}

static nb_status build(net *n, const il_config *c, const nb_op *act,
                       const char *attrs, const char *nl, char *err,
                       size_t errn)
{
	nb_rng rng;
	nb_rng_seed(&rng, c->seed);
	n->x = nb_tensor_randn(c->dtype, NB_SHAPE(c->batch, c->sizes[0]), &rng,
	                       0, 1);
	if (!n->x)
		goto fail;
	for (int i = 0; i < c->n_layers; i++) {
		n->w[i] = nb_tensor_zeros(c->dtype,
		                          NB_SHAPE(c->sizes[i + 1], c->sizes[i]));
		if (!n->w[i] || nb_init_apply(n->w[i], &rng, c->init, nl) ||
		    nb_tensor_set_requires_grad(n->w[i], true))
			goto fail;
	}
	/* A learned slope (prelu): filled as a layer would. */
	if (act->n_inputs == 2 && !(n->act_w = nb_tensor_full(c->dtype,
	    NB_SHAPE(1), act->inputs[1].fill == NB_FILL_CONST
	                 ? act->inputs[1].value : 0.0)))
		goto fail;
	if (!(n->g = nb_graph_new()))
		goto fail;
	nb_tensor *h = n->x;
	for (int i = 0; i < c->n_layers; i++) {
		nb_tensor *z = nb_linear(n->g, h, n->w[i], NULL);
		if (z && c->norm != IL_NORM_NONE)
			z = normalize(n, c, i, z);
		nb_tensor *in[2] = {z, n->act_w};
		n->z[i] = z;
		h = n->a[i] = nb_call(n->g, act->name, act->n_inputs, in, attrs);
		if (!h && nb_graph_status(n->g)) {
			snprintf(err, errn, "%s", nb_graph_errmsg(n->g));
			return nb_graph_status(n->g);
		}
		if (!h)
			goto fail;
	}
	return NB_OK;
fail:
	snprintf(err, errn, "%s", nb_last_error());
	return nb_last_status() ? nb_last_status() : NB_ENOMEM;
}

/* ---- statistics ---- */

static void range_of(const nb_tensor *t, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (size_t i = 0; i < nb_tensor_numel(t); i++) {
		double v = nb_tensor_get(t, i);
		*lo = fmin(*lo, v);
		*hi = fmax(*hi, v);
	}
}

static void moments(const nb_tensor *t, double *mean, double *std)
{
	size_t n = nb_tensor_numel(t);
	double s = 0, ss = 0;
	for (size_t i = 0; i < n; i++)
		s += nb_tensor_get(t, i);
	*mean = s / (double)n;
	for (size_t i = 0; i < n; i++) {
		double d = nb_tensor_get(t, i) - *mean;
		ss += d * d;
	}
	*std = sqrt(ss / (double)n);
}

/* Mean, std, saturation, zeros and dead units: nb_activation_stats's
 * definitions (nabla/activation.h), as percentages. */
static nb_status act_stats(const nb_op *op, const il_run *r,
                           const nb_tensor *a, il_layer *L)
{
	nb_act_stats st;
	nb_status s = nb_activation_stats(op, a, &st);
	if (s)
		return s;
	L->mean = st.mean;
	L->std = st.std;
	L->saturated = r->bounded ? 100.0 * st.saturated : NAN;
	L->zero = 100.0 * st.zero;
	L->dead = 100.0 * st.dead_units;
	return NB_OK;
}

static void histogram(const il_run *r, const nb_tensor *a, double lo,
                      double hi, il_layer *L)
{
	if (r->bounded && !r->cfg.data_range) {
		lo = r->out_lo;
		hi = r->out_hi;
	}
	if (!(hi > lo) || !isfinite(hi - lo)) {
		double m = isfinite(lo) ? lo : 0;
		lo = m - 0.5;
		hi = m + 0.5;
	}
	L->lo = lo;
	L->hi = hi;
	L->zero_bin = -1;
	size_t n = nb_tensor_numel(a), zeros = 0;
	long zb = -1;
	for (size_t i = 0; i < n; i++) {
		double v = nb_tensor_get(a, i);
		if (!isfinite(v))
			continue;
		long b = (long)((v - lo) / (hi - lo) * IL_BINS);
		b = b < 0 ? 0 : b >= IL_BINS ? IL_BINS - 1 : b;
		L->hist[b]++;
		if (v == 0) {
			zeros++;
			zb = b;
		}
	}
	if (zb >= 0 && 2 * zeros > L->hist[zb])
		L->zero_bin = (int)zb;
}

uint64_t il_hist_scale(const il_layer *L)
{
	uint64_t max = 0;
	for (int b = 0; b < IL_BINS; b++)
		if (b != L->zero_bin && L->hist[b] > max)
			max = L->hist[b];
	if (!max && L->zero_bin >= 0)
		max = L->hist[L->zero_bin];
	return max ? max : 1;
}

static double frobenius(const nb_tensor *t)
{
	double s = 0;
	if (!t)
		return 0;
	for (size_t i = 0; i < nb_tensor_numel(t); i++) {
		double v = nb_tensor_get(t, i);
		s += v * v;
	}
	return sqrt(s);
}

nb_status il_run_study(const il_config *c, il_run *out, char *err,
                       size_t errn)
{
	char name[64];
	const char *attrs;
	net n = {0};
	nb_status st;
	memset(out, 0, sizeof *out);
	out->cfg = *c;
	out->n_layers = c->n_layers;
	const nb_op *act = find_act(c->act, name, sizeof name, &attrs, err,
	                            errn);
	if (!act)
		return NB_ENOTFOUND;
	const nb_op_test *t = act->test;
	out->bounded = t && t->out_lo != t->out_hi;
	out->out_lo = t ? t->out_lo : 0;
	out->out_hi = t ? t->out_hi : 0;
	if ((st = build(&n, c, act, attrs, name, err, errn)))
		goto done;
	nb_tensor *aL = n.a[c->n_layers - 1];
	nb_tensor *loss = nb_affine_scalar(n.g, nb_sum(n.g, nb_mul(n.g, aL, aL),
	                                   0, NULL, false),
	                                   0.5 / (double)c->batch, 0);
	if (!loss || (st = nb_backward(loss, NULL))) {
		snprintf(err, errn, "%s", nb_graph_errmsg(n.g));
		st = nb_graph_status(n.g);
		goto done;
	}
	out->loss = nb_tensor_item(loss);
	for (int i = 0; i < c->n_layers; i++) {
		il_layer *L = &out->layer[i];
		double lo, hi;
		L->in = c->sizes[i];
		L->out = c->sizes[i + 1];
		moments(n.z[i], &L->pre_mean, &L->pre_std);
		range_of(n.a[i], &lo, &hi);
		if ((st = act_stats(act, out, n.a[i], L))) {
			snprintf(err, errn, "%s", nb_last_error());
			goto done;
		}
		histogram(out, n.a[i], lo, hi, L);
		L->grad_norm = frobenius(nb_tensor_grad(n.w[i]));
	}
	for (int i = 0; i < c->n_layers; i++)
		out->layer[i].grad_ratio = out->layer[i].grad_norm /
		                           out->layer[c->n_layers - 1].grad_norm;
	il_judge(out);
done:
	net_free(&n);
	return st;
}

/* ---- the verdict ---- */

/* Appends "; " and a formatted reason to r->why. */
static void because(il_run *r, const char *fmt, double v)
{
	size_t k = strlen(r->why);
	if (k && k + 2 < sizeof r->why) {
		strcpy(r->why + k, "; ");
		k += 2;
	}
	snprintf(r->why + k, sizeof r->why - k, fmt, v);
}

/*
 * Thresholds (doc/initlab.md).  Each is checked; the verdict is the
 * first that holds, in this order, and the reason lists all that hold:
 *   exploding   a statistic is not finite
 *   saturated   bounded activation, >= 20% of the last layer saturated
 *   vanishing   last layer's activation std < 0.1 x the first layer's
 *   exploding   last layer's activation std > 10 x the first layer's
 *   vanishing   first layer's weight-gradient norm < 0.01 x the last's
 *   exploding   first layer's weight-gradient norm > 100 x the last's
 *   healthy     none holds
 */
void il_judge(il_run *r)
{
	const il_layer *f = &r->layer[0], *l = &r->layer[r->n_layers - 1];
	r->std_ratio = l->std / f->std;
	r->grad_spread = f->grad_norm / l->grad_norm;
	r->last_saturated = l->saturated;
	r->verdict = NULL;
	r->why[0] = '\0';
	bool finite = isfinite(r->loss) && isfinite(r->std_ratio) &&
	              isfinite(r->grad_spread);
	for (int i = 0; i < r->n_layers; i++)
		finite = finite && isfinite(r->layer[i].std) &&
		         isfinite(r->layer[i].grad_norm);
	const struct {
		bool holds;
		const char *verdict, *fmt;
		double v;
	} rule[] = {
		{!finite, "exploding", "non-finite values (loss %g)", r->loss},
		{r->bounded && l->saturated >= 20, "saturated",
		 "%.1f%% of the last layer saturated (>= 20%%)", l->saturated},
		{r->std_ratio < 0.1, "vanishing",
		 "activation std last/first %.3g < 0.1", r->std_ratio},
		{r->std_ratio > 10, "exploding",
		 "activation std last/first %.3g > 10", r->std_ratio},
		{r->grad_spread < 0.01, "vanishing",
		 "weight-gradient norm first/last %.3g < 0.01", r->grad_spread},
		{r->grad_spread > 100, "exploding",
		 "weight-gradient norm first/last %.3g > 100", r->grad_spread},
	};
	for (size_t i = 0; i < sizeof rule / sizeof *rule; i++) {
		if (!rule[i].holds)
			continue;
		if (!r->verdict)
			r->verdict = rule[i].verdict;
		because(r, rule[i].fmt, rule[i].v);
	}
	if (!r->verdict) {
		r->verdict = "healthy";
		snprintf(r->why, sizeof r->why, "activation std last/first %.3g "
		         "in [0.1, 10], gradient norm first/last %.3g in "
		         "[0.01, 100]", r->std_ratio, r->grad_spread);
	}
}
