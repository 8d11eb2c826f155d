/*
 * test_dot.c - the DOT exporter: every DOT written here must parse and
 * render with Graphviz (libgvc in process when built with it, else the
 * dot program); golden node, edge and label checks on a small model;
 * roles, running statistics, escaping of hostile names, collapse and
 * depth limits; the health colours of the seed10 network, whose first
 * layers' gradients vanish; errors and allocation failures.
 */
#include <stdint.h>
#include <unistd.h>
#include "config.h"
#include "support/helpers.h"
#include "support/faultalloc.h"
#include "../tools/example.h"
#ifdef HAVE_GVC
#include <gvc.h>
#endif

#ifdef HAVE_GVC
/* Graphviz 2.42 and the libraries under it leak at layout and render:
 * LeakSanitizer (--enable-sanitizers) must not blame nabla for it.  The
 * same list as tests/lsan-graphviz.supp. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgvc.so\nleak:libcgraph.so\nleak:libcdt.so\n"
	       "leak:libgvplugin_\nleak:libfontconfig.so\nleak:libpango\n"
	       "leak:libcairo.so\nleak:libglib\nleak:libgobject\n"
	       "leak:libharfbuzz\n";
}
#endif

/* ---- helpers ---- */

/* g as DOT text (malloc'd), asserting success. */
static char *dot_text(const nb_graph *g, const nb_dot_opts *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert_not_null(f);
	nb_status st = nb_graph_write_dot(g, f, o);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(st, NB_OK, "write_dot: %s", nb_last_error());
	return buf;
}

/* Graphviz must read, lay out and render text without an error (HTML
 * label errors surface at layout).  Returns the node and edge counts
 * Graphviz saw (-1 without libgvc). */
static void graphviz_ok(const char *text, int *nodes, int *edges)
{
	*nodes = *edges = -1;
#ifdef HAVE_GVC
	/* One context for the process: Graphviz 2.42's pango plugin keeps
	 * a pointer into a freed context (a use after free in the next). */
	static GVC_t *gvc;
	if (!gvc)
		gvc = gvContext();
	int before = agerrors();
	Agraph_t *g = agmemread(text);
	cr_assert_not_null(g, "Graphviz cannot parse:\n%s", text);
	cr_assert_eq(gvLayout(gvc, g, "dot"), 0);
	char *svg = NULL;
	unsigned int len = 0;
	cr_assert_eq(gvRenderData(gvc, g, "svg", &svg, &len), 0);
	cr_assert(len > 0 && strstr(svg, "<svg"));
	cr_assert_eq(agerrors(), before, "Graphviz reported errors for:\n%s",
	             text);
	*nodes = agnnodes(g);
	*edges = agnedges(g);
	gvFreeRenderData(svg);
	gvFreeLayout(gvc, g);
	agclose(g);
#else
	char tmp[] = "/tmp/nb_test_dot_XXXXXX";
	int fd = mkstemp(tmp);
	cr_assert(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "dot -Tsvg -o /dev/null %s 2>&1", tmp);
	int rc = system(cmd);
	remove(tmp);
	cr_assert_eq(rc, 0, "the Graphviz dot program rejected (or is "
	             "missing, install graphviz):\n%s", text);
#endif
}

static int count(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Node statements ("\tn3 [", "\t\tt0 [") and edges of the drawing,
 * legend excluded. */
static void count_stmts(const char *text, int *nodes, int *edges)
{
	*nodes = *edges = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1
	                                                              : NULL) {
		const char *p = l;
		while (*p == '\t')
			p++;
		if (strchr("ntos", *p) && p[1] >= '0' && p[1] <= '9') {
			const char *q = p + 1;
			while (*q >= '0' && *q <= '9')
				q++;
			if (!strncmp(q, " [", 2))
				++*nodes;
			else if (!strncmp(q, " -> ", 4))
				++*edges;
		}
	}
}

/* The statement line that starts with prefix (after tabs), or NULL. */
static char *line_of(const char *text, const char *prefix, char *buf,
                     size_t n)
{
	for (const char *l = text; l && *l;) {
		const char *p = l;
		while (*p == '\t')
			p++;
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (!strncmp(p, prefix, strlen(prefix))) {
			snprintf(buf, n, "%.*s", (int)len, p);
			return buf;
		}
		l = e ? e + 1 : NULL;
	}
	return NULL;
}

/* Writes, checks with Graphviz, and returns the text. */
static char *dot_checked(const nb_graph *g, const nb_dot_opts *o)
{
	char *t = dot_text(g, o);
	int gn, ge, n, e;
	graphviz_ok(t, &gn, &ge);
	if (o && !o->legend && gn >= 0) {
		count_stmts(t, &n, &e);
		cr_expect_eq(gn, n, "Graphviz sees %d nodes, the text has %d",
		             gn, n);
		cr_expect_eq(ge, e, "Graphviz sees %d edges, the text has %d",
		             ge, e);
	}
	return t;
}

static nb_tensor *param(nb_dtype dt, int nd, const int64_t *s,
                        const char *name, double v)
{
	nb_tensor *t = nb_tensor_full(dt, nd, s, v);
	cr_assert_not_null(t);
	cr_assert_eq(nb_tensor_set_requires_grad(t, true), NB_OK);
	if (name)
		cr_assert_eq(nb_tensor_set_name(t, name), NB_OK);
	return t;
}

/* ---- a known small model ---- */

typedef struct small {
	nb_tensor *x, *w, *b, *target, *loss;
	nb_graph *g;
} small;

/*
 * scope block.fc: h = linear(x, fc.weight, fc.bias)     [4, 3] -> [4, 2]
 * top level:      s = softmax(h); loss = mse(s, target)
 */
static void small_build(small *m, bool backward)
{
	m->x = nb_tensor_full(NB_F32, NB_SHAPE(4, 3), 0.5);
	nb_tensor_set_name(m->x, "x");
	m->w = param(NB_F32, NB_SHAPE(2, 3), "fc.weight", 0.1);
	m->b = param(NB_F32, NB_SHAPE(2), "fc.bias", 0.0);
	m->target = nb_tensor_zeros(NB_F32, NB_SHAPE(4, 2));
	m->g = nb_graph_new();
	cr_assert_eq(nb_graph_scope_push(m->g, "block"), NB_OK);
	cr_assert_eq(nb_graph_scope_push(m->g, "fc"), NB_OK);
	nb_tensor *h = nb_linear(m->g, m->x, m->w, m->b);
	nb_graph_scope_pop(m->g);
	nb_graph_scope_pop(m->g);
	m->loss = nb_mse_loss(m->g, nb_softmax(m->g, h, -1), m->target,
		NB_REDUCTION_MEAN);
	cr_assert_not_null(m->loss, "%s", nb_graph_errmsg(m->g));
	if (backward)
		cr_assert_eq(nb_backward(m->loss, NULL), NB_OK);
}

static void small_free(small *m)
{
	nb_graph_free(m->g);
	nb_tensor_free(m->x);
	nb_tensor_free(m->w);
	nb_tensor_free(m->b);
	nb_tensor_free(m->target);
}

Test(dot, golden_small_model)
{
	small m;
	small_build(&m, false);
	nb_dot_opts o = nb_dot_defaults();
	o.legend = false;
	char *t = dot_checked(m.g, &o), line[2048];
	int nodes, edges;
	count_stmts(t, &nodes, &edges);
	/* 3 ops, 4 leaves (x, weight, bias, target), 1 output. */
	cr_expect_eq(nodes, 8, "%d nodes in\n%s", nodes, t);
	cr_expect_eq(edges, 7, "%d edges in\n%s", edges, t);
	cr_expect(strstr(t, "training mode, 3 ops"));
	/* Op labels: the name; linear has every input. */
	cr_expect(line_of(t, "n0 [", line, sizeof line) &&
	          strstr(line, "<B>linear</B>") && !strstr(line, "no bias"));
	cr_expect(line_of(t, "n1 [", line, sizeof line) &&
	          strstr(line, "<B>softmax</B>") &&
	          !strstr(line, "axis"), "default attrs are not shown");
	cr_expect(line_of(t, "n2 [", line, sizeof line) &&
	          strstr(line, "<B>mse</B>"));
	/* Tensors: name, shape, dtype and role. */
	cr_expect(line_of(t, "t0 [", line, sizeof line) &&
	          strstr(line, "<B>x</B>") && strstr(line, "[4, 3] float32") &&
	          strstr(line, "parallelogram") && strstr(line, "input"));
	cr_expect(line_of(t, "t1 [", line, sizeof line) &&
	          strstr(line, "<B>fc.weight</B>") &&
	          strstr(line, "[2, 3] float32") && strstr(line, "cylinder") &&
	          strstr(line, "tooltip=\"parameter"), "%s", line);
	cr_expect(line_of(t, "t2 [", line, sizeof line) &&
	          strstr(line, "<B>fc.bias</B>") && strstr(line, "cylinder"));
	cr_expect(line_of(t, "t3 [", line, sizeof line) &&
	          strstr(line, "<B>target</B>"), "unnamed: the input's name");
	cr_expect(line_of(t, "o2 [", line, sizeof line) &&
	          strstr(line, "<B>loss</B>") && strstr(line, "peripheries=2") &&
	          strstr(line, "= "));
	/* Edges in data-flow order, op results labelled with their shape. */
	const char *order[] = {"t0 -> n0", "t1 -> n0", "t2 -> n0",
	                       "n0 -> n1 [label=\"[4, 2]\"", "n1 -> n2",
	                       "t3 -> n2", "n2 -> o2"};
	const char *p = t;
	for (size_t i = 0; i < 7; i++) {
		const char *q = strstr(p, order[i]);
		cr_expect_not_null(q, "edge %s missing or out of order", order[i]);
		if (q)
			p = q;
	}
	/* Nested clusters by scope path: fc inside block, ops in them. */
	const char *cb = strstr(t, "subgraph \"cluster_block\" {");
	const char *cf = strstr(t, "subgraph \"cluster_block.fc\" {");
	cr_assert(cb && cf && cb < cf);
	cr_expect(strstr(cb, "label=\"block\";"));
	cr_expect(strstr(cf, "label=\"block.fc\";"));
	cr_expect(strstr(cf, "n0 [") && strstr(cf, "t1 [") &&
	          strstr(cf, "t1 [") < strstr(cf, "}"),
	          "linear and its weight are in block.fc");
	cr_expect_eq(count(t, "subgraph"), 2);
	cr_expect_eq(count(t, "lg_"), 0, "no legend when asked");
	free(t);
	/* Defaults: a legend; eval mode said. */
	nb_graph_set_training(m.g, false);
	t = dot_checked(m.g, NULL);
	cr_expect(strstr(t, "eval mode"));
	cr_expect(strstr(t, "subgraph cluster_legend"));
	cr_expect(strstr(t, "lg_parameter") && strstr(t, "lg_constant"));
	free(t);
	small_free(&m);
}

Test(dot, clusters_off_and_left_to_right)
{
	small m;
	small_build(&m, false);
	nb_dot_opts o = nb_dot_defaults();
	o.clusters = false;
	o.lr = true;
	o.edge_shapes = false;
	o.title = "small";
	char *t = dot_checked(m.g, &o);
	cr_expect_eq(count(t, "subgraph \"cluster_"), 0);
	cr_expect(strstr(t, "rankdir=LR"));
	cr_expect(strstr(t, "<B>small</B>"));
	cr_expect(!strstr(t, "label=\"[4, 2]\""));
	free(t);
	small_free(&m);
}

Test(dot, health_small_model)
{
	small m;
	small_build(&m, true);
	nb_dot_opts o = nb_dot_defaults();
	o.health = true;
	char *t = dot_checked(m.g, &o), line[2048];
	/* Parameters: ||grad|| and the ratio; inputs without a gradient. */
	cr_expect(line_of(t, "t1 [", line, sizeof line) &&
	          strstr(line, "|g|/|w|"), "%s", line);
	cr_expect(line_of(t, "t0 [", line, sizeof line) &&
	          strstr(line, "(no gradient)"));
	cr_expect(line_of(t, "t0 -> n0", line, sizeof line) &&
	          strstr(line, "style=dashed"));
	cr_expect(line_of(t, "n0 -> n1", line, sizeof line) &&
	          strstr(line, "|g| ") && strstr(line, "color=\""));
	/* softmax is an unbounded activation: zeros and dead units. */
	cr_expect(line_of(t, "n1 [", line, sizeof line) &&
	          strstr(line, "zero 0.0%, dead 0.0%"), "%s", line);
	cr_expect(strstr(t, "lg_scale"), "the colour scale is in the legend");
	free(t);
	/* Without retained intermediate gradients only leaves have one. */
	nb_graph_set_retain_grads(m.g, false);
	nb_tensor_zero_grad(m.w);
	cr_assert_eq(nb_backward(m.loss, NULL), NB_OK);
	t = dot_checked(m.g, &o);
	cr_expect(line_of(t, "n0 -> n1", line, sizeof line) &&
	          strstr(line, "(no gradient)"), "%s", line);
	cr_expect(line_of(t, "t1 [", line, sizeof line) &&
	          strstr(line, "|g|/|w|"), "%s", line);
	free(t);
	small_free(&m);
}

Test(dot, activation_statistics)
{
	/* relu: column 1 is negative for every sample (a dead unit); tanh
	 * of large values saturates. */
	nb_tensor *x = nbt_tensor(NB_F64, NB_SHAPE(4, 2), (double[]){
		1, -1, 2, -2, 3, -3, 0.5, -0.5});
	nb_tensor_set_requires_grad(x, true);
	nb_graph *g = nb_graph_new();
	nb_tensor *r = nb_relu(g, x);
	nb_tensor *t = nb_tanh(g, nb_affine_scalar(g, x, 10, 0));
	nb_tensor *y = nb_add(g, nb_sum(g, r, 0, NULL, false),
	                      nb_sum(g, t, 0, NULL, false));
	cr_assert_eq(nb_backward(y, NULL), NB_OK);
	nb_dot_opts o = nb_dot_defaults();
	o.health = true;
	char *txt = dot_checked(g, &o), line[2048];
	cr_expect(line_of(txt, "n0 [", line, sizeof line) &&
	          strstr(line, "zero 50.0%, dead 50.0%") &&
	          strstr(line, "COLOR=\"#c00000\""), "%s", line);
	cr_expect(line_of(txt, "n2 [", line, sizeof line) &&
	          strstr(line, "saturated 100.0%, dead 100.0%"), "%s", line);
	free(txt);
	nb_graph_free(g);
	nb_tensor_free(x);
}

/* ---- roles, running statistics, absent inputs ---- */

/* A normalization-like op: running statistics as optional BUFFER
 * inputs of any float dtype, like batch_norm's.  Forward:
 * x - running_mean[0]. */
static nb_status rn_forward(nb_op_ctx *c)
{
	double mu = c->in[1] ? nb_tensor_get(c->in[1], 0) : 0;
	for (size_t i = 0; i < nb_tensor_numel(c->out); i++)
		nb_tensor_set(c->out, i, nb_tensor_get(c->in[0], i) - mu);
	return NB_OK;
}

/* The descriptor now requires a backward (or NB_OP_NO_GRAD); d/dx is 1. */
static nb_status rn_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	(void)c;
	for (size_t i = 0; gin[0] && i < nb_tensor_numel(gout); i++)
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		              nb_tensor_get(gout, i));
	return NB_OK;
}

/* The DOT exporter finds the running statistics by their role
 * (NB_ROLE_BUFFER), not by their names. */
static const nb_input_def rn_inputs[] = {
	{.name = "input"},
	{.name = "running_mean", .role = NB_ROLE_BUFFER,
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_ANY_FLOAT},
	{.name = "running_var", .role = NB_ROLE_BUFFER,
	 .flags = NB_IN_OPTIONAL | NB_IN_NONDIFF | NB_IN_ANY_FLOAT},
};

static const nb_op_test rn_test = {.cases = "[3]"};

static const nb_op running_norm = {
	.version = NB_OP_VERSION, .name = "test_running_norm",
	.kind = NB_KIND_NORM, .inputs = rn_inputs, .n_inputs = 3,
	.forward = rn_forward, .backward = rn_backward, .test = &rn_test,
};

Test(dot, roles_running_stats_and_absent_inputs)
{
	nb_status st = nb_op_register(&running_norm);
	cr_assert(st == NB_OK || st == NB_EEXIST);
	nb_tensor *rm = nb_tensor_zeros(NB_F64, NB_SHAPE(3));
	nb_tensor *rv = nb_tensor_ones(NB_F64, NB_SHAPE(3));
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(2, 3));
	nb_tensor *w = param(NB_F32, NB_SHAPE(3, 3), NULL, 0.5);
	nb_graph *g = nb_graph_new();
	nb_tensor *two = nb_graph_from_data(g, NB_F32, 0, NULL,
	                                    (float[]){2.0f});
	nb_tensor *h = nb_linear(g, x, w, NULL);
	nb_tensor *a = nb_call(g, "test_running_norm", 3,
	                       (nb_tensor *[]){h, rm, rv}, NULL);
	nb_tensor *b = nb_call(g, "test_running_norm", 3,
	                       (nb_tensor *[]){a, NULL, NULL}, NULL);
	nb_tensor *y = nb_mul(g, b, two);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_dot_opts o = nb_dot_defaults();
	o.legend = false;
	char *t = dot_checked(g, &o), line[2048];
	cr_expect(line_of(t, "n0 [", line, sizeof line) &&
	          strstr(line, "no bias"), "%s", line);
	cr_expect(line_of(t, "n1 [", line, sizeof line) &&
	          strstr(line, "running stats: held"), "%s", line);
	cr_expect(line_of(t, "n2 [", line, sizeof line) &&
	          strstr(line, "running stats: none"), "%s", line);
	/* Leaves: x input, weight parameter (named after its input), the
	 * running statistics and the scalar constants. */
	cr_expect(line_of(t, "t0 [", line, sizeof line) &&
	          strstr(line, "tooltip=\"input"));
	cr_expect(line_of(t, "t1 [", line, sizeof line) &&
	          strstr(line, "<B>weight</B>") &&
	          strstr(line, "tooltip=\"parameter"));
	cr_expect(line_of(t, "t2 [", line, sizeof line) &&
	          strstr(line, "<B>running_mean</B>") &&
	          strstr(line, "tooltip=\"constant") &&
	          strstr(line, "[3] float64"));
	cr_expect(line_of(t, "t3 [", line, sizeof line) &&
	          strstr(line, "tooltip=\"constant"));
	cr_expect(line_of(t, "t4 [", line, sizeof line) &&
	          strstr(line, "tooltip=\"constant") &&
	          strstr(line, "[] float32"), "a scalar is a constant");
	free(t);
	nb_graph_free(g);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(x);
	nb_tensor_free(w);
}

Test(dot, batch_norm_running_statistics)
{
	nb_tensor *x = nb_tensor_ones(NB_F32, NB_SHAPE(4, 3));
	nb_tensor *gamma = param(NB_F32, NB_SHAPE(3), "bn.weight", 1);
	nb_tensor *beta = param(NB_F32, NB_SHAPE(3), "bn.bias", 0);
	nb_tensor *rm = nb_tensor_zeros(NB_F32, NB_SHAPE(3));
	nb_tensor *rv = nb_tensor_ones(NB_F32, NB_SHAPE(3));
	nb_tensor *count = nb_tensor_zeros(NB_I64, 0, NULL);
	nb_tensor_set_name(rm, "bn.running_mean");
	nb_graph *g = nb_graph_new();
	nb_tensor *a = nb_batch_norm(g, x, gamma, beta, rm, rv, count, 0.1,
	                             1e-5);
	nb_tensor *b = nb_batch_norm(g, a, NULL, NULL, NULL, NULL, NULL, 0.1,
	                             1e-5);
	cr_assert_not_null(b, "%s", nb_graph_errmsg(g));
	nb_graph_set_training(g, false);
	nb_dot_opts o = nb_dot_defaults();
	o.legend = false;
	char *t = dot_checked(g, &o), line[2048];
	cr_expect(strstr(t, "eval mode"));
	cr_expect(line_of(t, "n0 [", line, sizeof line) &&
	          strstr(line, "<B>batch_norm</B>") &&
	          strstr(line, "running stats: held") &&
	          !strstr(line, "no "), "%s", line);
	cr_expect(line_of(t, "n1 [", line, sizeof line) &&
	          strstr(line, "running stats: none") &&
	          strstr(line, "no weight") && strstr(line, "no bias"),
	          "%s", line);
	cr_expect(line_of(t, "t3 [", line, sizeof line) &&
	          strstr(line, "<B>bn.running_mean</B>") &&
	          strstr(line, "tooltip=\"constant"), "%s", line);
	cr_expect(line_of(t, "t5 [", line, sizeof line) &&
	          strstr(line, "<B>num_batches_tracked</B>") &&
	          strstr(line, "[] int64") &&
	          strstr(line, "tooltip=\"constant"), "%s", line);
	free(t);
	nb_graph_free(g);
	nb_tensor_free(x);
	nb_tensor_free(gamma);
	nb_tensor_free(beta);
	nb_tensor_free(rm);
	nb_tensor_free(rv);
	nb_tensor_free(count);
}

Test(dot, diamond_keeps_both_edges)
{
	nb_tensor *x = param(NB_F64, NB_SHAPE(3), "x", 1.0);
	nb_graph *g = nb_graph_new();
	nb_tensor *e = nb_exp(g, x);
	nb_tensor *y = nb_mul(g, e, e);
	cr_assert_not_null(y);
	nb_dot_opts o = nb_dot_defaults();
	o.legend = false;
	char *t = dot_checked(g, &o);
	cr_expect_eq(count(t, "n0 -> n1"), 2);
	free(t);
	nb_graph_free(g);
	nb_tensor_free(x);
}

Test(dot, empty_graph_and_graph_error)
{
	nb_graph *g = nb_graph_new();
	char *t = dot_checked(g, NULL);
	cr_expect(strstr(t, "0 ops"));
	free(t);
	nb_tensor *a = nb_tensor_zeros(NB_F32, NB_SHAPE(2, 3));
	nb_tensor *b = nb_tensor_zeros(NB_F32, NB_SHAPE(4));
	cr_assert_null(nb_add(g, nb_exp(g, a), b));
	t = dot_checked(g, NULL);
	cr_expect(strstr(t, "error: add: shapes cannot be broadcast"), "%s", t);
	cr_expect(strstr(t, "n0 ["), "the ops before the error are drawn");
	free(t);
	nb_graph_free(g);
	nb_tensor_free(a);
	nb_tensor_free(b);
}

/* ---- escaping ---- */

static nb_status id_forward(nb_op_ctx *c)
{
	return nb_tensor_copy(c->out, c->in[0]);
}

static nb_status id_backward(nb_op_ctx *c, const nb_tensor *gout,
                             nb_tensor *const *gin)
{
	(void)c;
	for (size_t i = 0; i < nb_tensor_numel(gout); i++)
		nb_tensor_set(gin[0], i, nb_tensor_get(gin[0], i) +
		              nb_tensor_get(gout, i));
	return NB_OK;
}

static const nb_input_def weird_inputs[] = {{.name = "in\"put"}};
static const nb_input_def plain_inputs[] = {{.name = "input"}};
static const nb_op_test weird_test = {.cases = "[2]"};
static const nb_op_test weird_literal_test = {.cases = "[2]", .out_lo = -1,
                                              .out_hi = 1};

static const nb_op weird = {
	.version = NB_OP_VERSION, .name = "we\"ird{op}\n<&>\\",
	.kind = NB_KIND_CUSTOM, .inputs = weird_inputs, .n_inputs = 1,
	.forward = id_forward, .backward = id_backward, .test = &weird_test,
};

static const nb_op weird_literal = {
	.version = NB_OP_VERSION, .name = "we\"ird{op}\\n",
	.kind = NB_KIND_ACTIVATION, .inputs = plain_inputs, .n_inputs = 1,
	.forward = id_forward, .backward = id_backward,
	.test = &weird_literal_test,
};

Test(dot, hostile_names_are_escaped)
{
	nb_status st = nb_op_register(&weird);
	cr_assert(st == NB_OK || st == NB_EEXIST);
	st = nb_op_register(&weird_literal);
	cr_assert(st == NB_OK || st == NB_EEXIST);
	nb_tensor *a = param(NB_F32, NB_SHAPE(2), "a \"quoted\" \\back\\slash\\",
	                     1.0);
	nb_tensor *b = param(NB_F32, NB_SHAPE(2),
	                     "gr\xc3\xb6\xc3\x9f" "e \xe2\x86\x92 \xf0\x9f\x98\x80"
	                     " bad\xff\xfe\xc3 tab\tend]}>", 1.0);
	nb_tensor *u = nb_tensor_ones(NB_F32, NB_SHAPE(2));
	nb_graph *g = nb_graph_new();
	cr_assert_eq(nb_graph_scope_push(g, "sc\"ope\\{x}<y>\n"), NB_OK);
	nb_tensor *y = nb_call(g, weird.name, 1, &a, NULL);
	nb_graph_scope_pop(g);
	cr_assert_eq(nb_graph_scope_push(g, "\\"), NB_OK);
	y = nb_add(g, y, nb_call(g, weird_literal.name, 1, &b, NULL));
	y = nb_mse_loss(g, y, u, NB_REDUCTION_MEAN);
	nb_graph_scope_pop(g);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(y, NULL), NB_OK);
	for (int health = 0; health < 2; health++) {
		nb_dot_opts o = nb_dot_defaults();
		o.health = health;
		o.title = "title \"with\" <html> & \\ \n second line";
		char *t = dot_checked(g, &o);
		/* In HTML labels: entities, line breaks, and backslashes
		 * doubled (Graphviz would read "\\n" as a substitution, and
		 * reads past the end of a text ending in one backslash). */
		cr_expect(strstr(t, "<B>we&quot;ird{op}<BR/>&lt;&amp;&gt;\\\\</B>"),
		          "%s", t);
		cr_expect(strstr(t, "<B>we&quot;ird{op}\\\\n</B>"));
		cr_expect(strstr(t, "<B>a &quot;quoted&quot; "
		                 "\\\\back\\\\slash\\\\</B>"));
		cr_expect(strstr(t, "gr\xc3\xb6\xc3\x9f" "e \xe2\x86\x92 "
		                 "\xf0\x9f\x98\x80 bad??? tab?end]}&gt;"),
		          "UTF-8 kept, invalid bytes and controls as '?'");
		/* In quoted strings: backslashes and quotes escaped. */
		cr_expect(strstr(t, "subgraph \"cluster_sc\\\"ope\\\\{x}<y>\\n\""));
		cr_expect(strstr(t, "subgraph \"cluster_\\\\\""));
		/* In tooltips, a backslash is '?' (Graphviz unescapes them
		 * twice and can read past the end). */
		cr_expect(strstr(t, "node 0: we\\\"ird{op}\\n<&>? (custom) in "
		                 "sc\\\"ope?{x}<y>\\n\""));
		cr_expect(strstr(t, "node 1: we\\\"ird{op}?n (activation) in ?\""));
		free(t);
	}
	nb_graph_free(g);
	nb_tensor_free(a);
	nb_tensor_free(b);
	nb_tensor_free(u);
}

/* A backslash in a name is drawn as a backslash: Graphviz would replace
 * "\N" by the node's id, and 2.42 reads past a text that ends in one
 * backslash (valgrind found it here); the exporter doubles them. */
Test(dot, backslashes_render_literally)
{
	nb_tensor *a = param(NB_F64, NB_SHAPE(2), "w\\N\\G\\", 1.0);
	nb_graph *g = nb_graph_new();
	nb_tensor *y = nb_sum(g, nb_mul(g, a, a), 0, NULL, false);
	cr_assert_not_null(y, "%s", nb_graph_errmsg(g));
	nb_dot_opts o = nb_dot_defaults();
	o.legend = 0;
	char *t = dot_checked(g, &o);
	char tmp[] = "/tmp/nb_test_dot_XXXXXX";
	int fd = mkstemp(tmp);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, t, strlen(t)), (ssize_t)strlen(t));
	close(fd);
	char cmd[128], svg[1 << 16];
	snprintf(cmd, sizeof cmd, "dot -Tsvg %s 2>/dev/null", tmp);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t n = fread(svg, 1, sizeof svg - 1, p);
	svg[n] = 0;
	int rc = pclose(p);
	remove(tmp);
	cr_assert_eq(rc, 0, "dot -Tsvg failed (install graphviz)");
	cr_expect(strstr(svg, ">w\\N\\G\\<"), "the name as drawn:\n%s", svg);
	free(t);
	nb_graph_free(g);
	nb_tensor_free(a);
}

/* ---- a model from the spec language ---- */

Test(dot, golden_spec_model)
{
	example ex;
	nb_model_opts mo = {.dtype = NB_F32, .seed = 3};
	cr_assert_eq(example_from_spec(&ex, "input:6 linear:4 batch_norm "
	                               "relu dropout:0.2 linear:3", 0, NULL,
	                               false, &mo, "spec"), NB_OK, "%s",
	             nb_last_error());
	nb_graph *g = nb_graph_new();
	nb_tensor *loss = example_forward(g, &ex);
	cr_assert_not_null(loss, "%s", nb_graph_errmsg(g));
	cr_assert_eq(nb_backward(loss, NULL), NB_OK);
	nb_dot_opts o = nb_dot_defaults();
	o.legend = false;
	o.health = true;
	char *t = dot_checked(g, &o), line[2048];
	int nodes, edges;
	count_stmts(t, &nodes, &edges);
	/* 6 ops (fc1, bn1, relu1, drop1, fc2, cross_entropy); x, 4
	 * weights and biases... : 11 leaves; the loss. */
	cr_expect_eq(nodes, 18, "%d nodes:\n%s", nodes, t);
	cr_expect_eq(edges, 17, "%d edges:\n%s", edges, t);
	const char *clusters[] = {"fc1", "bn1", "relu1", "drop1", "fc2"};
	for (int i = 0; i < 5; i++) {
		char c[64];
		snprintf(c, sizeof c, "subgraph \"cluster_%s\" {", clusters[i]);
		cr_expect(strstr(t, c), "%s missing", c);
	}
	cr_expect(line_of(t, "n1 [", line, sizeof line) &&
	          strstr(line, "<B>batch_norm</B>") &&
	          strstr(line, "running stats: held"), "%s", line);
	cr_expect(line_of(t, "n3 [", line, sizeof line) &&
	          strstr(line, "<B>dropout</B>") && strstr(line, "p=0.2"),
	          "non-default attributes: %s", line);
	cr_expect(line_of(t, "n2 [", line, sizeof line) &&
	          strstr(line, "zero ") && strstr(line, "dead "), "%s", line);
	cr_expect(strstr(t, "<B>fc1.weight</B>") && strstr(t, "<B>bn1.bias"
	          "</B>") && strstr(t, "<B>bn1.running_var</B>"));
	cr_expect(strstr(t, "[5] int64") || strstr(t, "[64] int64"),
	          "class-index target");
	/* batch_norm right after linear: the linear's bias gets (almost)
	 * no gradient, since the normalization removes any shift. */
	const char *b = strstr(t, "<B>fc1.bias</B>");
	cr_assert_not_null(b);
	const char *eol = strchr(b, '\n');
	const char *tip = strstr(b, "tooltip=");
	cr_expect(tip && tip < eol && strstr(tip, "(vanishing)") &&
	          strstr(tip, "(vanishing)") < eol, "fc1.bias vanishes");
	free(t);
	nb_graph_free(g);
	example_free(&ex);
}

Test(dot, spec_model_errors)
{
	example ex;
	cr_expect_eq(example_from_spec(&ex, "linear:4", 0, NULL, false, NULL,
	                               "t"), NB_ESHAPE, "no input size");
	cr_expect_neq(example_from_spec(&ex, "linear:4 relux", 2,
	                                (int64_t[]){2, 3}, false, NULL, "t"),
	              NB_OK);
	cr_expect(strstr(nb_last_error(), "relux"), "%s", nb_last_error());
	cr_assert_eq(example_from_spec(&ex, "linear:4", 2, (int64_t[]){2, 3},
	                               true, NULL, "t"), NB_OK);
	cr_expect_eq(nb_tensor_dtype(ex.target), NB_F32, "--loss mse");
	cr_expect_eq(nb_tensor_dim(ex.target, 1), 4);
	example_free(&ex);
}

/* ---- seed10: health colours, collapse, depth ---- */

static nb_graph *seed10(example *ex, bool backward)
{
	cr_assert_eq(example_init(ex, "seed10", 0), NB_OK);
	nb_graph *g = nb_graph_new();
	nb_tensor *loss = example_forward(g, ex);
	cr_assert_not_null(loss, "%s", nb_graph_errmsg(g));
	if (backward)
		cr_assert_eq(nb_backward(loss, NULL), NB_OK, "%s",
		             nb_graph_errmsg(g));
	return g;
}

/* The colour attribute of statement line (after "color=\""). */
static const char *color_of(const char *line, char *buf, size_t n)
{
	const char *p = strstr(line, " color=\"");
	if (!p)
		p = strstr(line, "[color=\"");
	cr_assert_not_null(p, "no colour in %s", line);
	p += 8;
	snprintf(buf, n, "%.*s", (int)strcspn(p, "\""), p);
	return buf;
}

Test(dot, seed10_early_layers_vanish)
{
	example ex;
	nb_graph *g = seed10(&ex, true);
	nb_dot_opts o = nb_dot_defaults();
	o.health = true;
	char *t = dot_checked(g, &o), line[2048], want[64], got[64], e[32];
	/* The colour the legend gives the vanishing band. */
	const char *v = strstr(t, "&lt; 1e-06 vanishing");
	cr_assert_not_null(v);
	const char *bg = v;
	while (bg > t && strncmp(bg, "BGCOLOR=\"", 9))
		bg--;
	snprintf(want, sizeof want, "%.*s", (int)strcspn(bg + 9, "\""),
	         bg + 9);
	/* Edge fc_k linear -> tanh carries dL/d(pre-activation k). */
	int vanishing = 0;
	for (int k = 0; k < 10; k++) {
		snprintf(e, sizeof e, "n%d -> n%d ", 2 * k, 2 * k + 1);
		cr_assert_not_null(line_of(t, e, line, sizeof line), "%s", e);
		bool van = strstr(line, "(vanishing)") != NULL;
		if (van)
			cr_expect_str_eq(color_of(line, got, sizeof got), want);
		if (k < 3)
			cr_expect(van, "fc%d should vanish: %s", k + 1, line);
		if (k == 9)
			cr_expect(!van && strstr(line, "(healthy)"),
			          "fc10 is healthy: %s", line);
		vanishing += van;
	}
	cr_log_info("seed10: %d of 10 layers in the vanishing band",
	            vanishing);
	/* Parameters: ||grad|| / ||w|| shown; tanh outputs: statistics. */
	cr_expect(line_of(t, "t1 [", line, sizeof line) &&
	          strstr(line, "<B>fc1.weight</B>") && strstr(line, "|g|/|w|"));
	cr_expect(line_of(t, "n1 [", line, sizeof line) &&
	          strstr(line, "saturated 0.0%, dead 0.0%"), "%s", line);
	cr_expect(strstr(t, "gradient norms: vanishing &lt; 1e-06"));
	free(t);
	/* Thresholds are options: with vanish = 1e-12 nothing vanishes. */
	o.vanish = 1e-12;
	t = dot_checked(g, &o);
	cr_expect_eq(count(t, "(vanishing)"), 0);
	free(t);
	nb_graph_free(g);
	example_free(&ex);
}

Test(dot, xavier10_keeps_the_gradient)
{
	example ex;
	cr_assert_eq(example_init(&ex, "xavier10", 0), NB_OK);
	nb_graph *g = nb_graph_new();
	cr_assert_eq(nb_backward(example_forward(g, &ex), NULL), NB_OK);
	nb_dot_opts o = nb_dot_defaults();
	o.health = true;
	char *t = dot_checked(g, &o), line[2048];
	cr_expect_eq(count(t, "(vanishing)"), 0);
	cr_expect(line_of(t, "n0 -> n1 ", line, sizeof line) &&
	          strstr(line, "(healthy)"), "fc1: %s", line);
	free(t);
	nb_graph_free(g);
	example_free(&ex);
}

Test(dot, seed10_collapse)
{
	example ex;
	nb_graph *g = seed10(&ex, true);
	nb_dot_opts o = nb_dot_defaults();
	o.collapse = true;
	o.legend = false;
	char *t = dot_checked(g, &o);
	int nodes, edges;
	count_stmts(t, &nodes, &edges);
	/* fc1's linear, tanh and weight stand for all ten; x, target, mse,
	 * loss. */
	cr_expect_eq(nodes, 7, "%d nodes:\n%s", nodes, t);
	cr_expect_eq(edges, 6, "%d edges:\n%s", edges, t);
	cr_expect(strstr(t, "label=\"fc1 .. fc10  x10\";"), "%s", t);
	cr_expect_eq(count(t, "subgraph \"cluster_"), 1);
	cr_expect(strstr(t, "n1 -> n20 [label=\"[64, 300]\""),
	          "the last layer's result leaves the collapsed cluster");
	cr_expect(strstr(t, "21 ops (3 drawn)"), "%s", t);
	free(t);
	o.health = true;
	t = dot_checked(g, &o);
	cr_expect(strstr(t, "x10\\l|g| "), "the range over the repeats");
	free(t);
	nb_graph_free(g);
	example_free(&ex);
}

Test(dot, seed10_depth_zero_summaries)
{
	example ex;
	nb_graph *g = seed10(&ex, true);
	nb_dot_opts o = nb_dot_defaults();
	o.max_depth = 0;
	o.legend = false;
	o.health = true;
	char *t = dot_checked(g, &o), line[2048];
	int nodes, edges;
	count_stmts(t, &nodes, &edges);
	/* s0..s9 (weights absorbed), x, target, mse, loss */
	cr_expect_eq(nodes, 14, "%d nodes:\n%s", nodes, t);
	cr_expect_eq(edges, 13, "%d edges:\n%s", edges, t);
	cr_expect_eq(count(t, "subgraph"), 0);
	cr_expect(line_of(t, "s0 [", line, sizeof line) &&
	          strstr(line, "<B>fc1</B>") &&
	          strstr(line, "2 ops: linear, tanh") &&
	          strstr(line, "fc1.weight: |g|/|w|") &&
	          strstr(line, "600000 parameters"), "%s", line);
	cr_expect(strstr(t, "s0 -> s1 ") && strstr(t, "s9 -> n20 "));
	free(t);
	/* With collapse: one summary for the ten. */
	o.collapse = true;
	t = dot_checked(g, &o);
	cr_expect(line_of(t, "s0 [", line, sizeof line) &&
	          strstr(line, "fc1 .. fc10 x10"), "%s", line);
	count_stmts(t, &nodes, &edges);
	cr_expect_eq(nodes, 5, "%d nodes:\n%s", nodes, t);
	free(t);
	nb_graph_free(g);
	example_free(&ex);
}

/*
 * Nested scopes: blocks b1..b3 each with layers l1, l2 doing the same,
 * then b4 with another exponent.
 */
static nb_graph *nested(nb_tensor *x)
{
	nb_graph *g = nb_graph_new();
	nb_tensor *h = x;
	for (int b = 1; b <= 4; b++) {
		char nm[8];
		snprintf(nm, sizeof nm, "b%d", b);
		nb_graph_scope_push(g, nm);
		for (int l = 1; l <= 2; l++) {
			snprintf(nm, sizeof nm, "l%d", l);
			nb_graph_scope_push(g, nm);
			h = nb_pow(g, nb_exp(g, h), b == 4 ? 3 : 0.5);
			nb_graph_scope_pop(g);
		}
		nb_graph_scope_pop(g);
	}
	cr_assert_not_null(h);
	return g;
}

Test(dot, nested_collapse_and_depth)
{
	nb_tensor *x = param(NB_F64, NB_SHAPE(2), "x", 0.1);
	nb_graph *g = nested(x);
	nb_dot_opts o = nb_dot_defaults();
	o.collapse = true;
	o.legend = false;
	char *t = dot_checked(g, &o);
	cr_expect(strstr(t, "label=\"b1 .. b3  x3\";"), "%s", t);
	cr_expect(strstr(t, "label=\"b1.l1 .. b1.l2  x2\";"), "%s", t);
	cr_expect(strstr(t, "label=\"b4.l1 .. b4.l2  x2\";"), "%s", t);
	cr_expect(strstr(t, "label=\"b4\";"), "b4 differs (exponent)");
	int nodes, edges;
	count_stmts(t, &nodes, &edges);
	/* b1.l1: exp, pow; b4.l1: exp, pow; x; output */
	cr_expect_eq(nodes, 6, "%d nodes:\n%s", nodes, t);
	cr_expect(strstr(t, "n1 -> n12 "), "b3's result feeds b4 from the "
	          "representative: %s", t);
	free(t);
	/* Depth 1: clusters b1..b4, each layer one summary node. */
	o.collapse = false;
	o.max_depth = 1;
	t = dot_checked(g, &o);
	cr_expect_eq(count(t, "subgraph \"cluster_"), 4);
	cr_expect_eq(count(t, "shape=folder"), 8);
	const char *c1 = strstr(t, "subgraph \"cluster_b1\"");
	cr_expect(c1 && strstr(c1, "s0 [") && strstr(c1, "<B>b1.l1</B>"));
	cr_expect(strstr(t, "2 ops: exp, pow"));
	free(t);
	nb_graph_free(g);
	nb_tensor_free(x);
}

/* ---- gradcheck's graphs ---- */

typedef struct cases_seen {
	int last_case, graphs;
} cases_seen;

static void on_case(const nb_gradcheck_result *r, void *ud)
{
	cases_seen *cs = ud;
	cr_assert_not_null(r->graph);
	cr_expect_geq(r->case_index, cs->last_case);
	cs->last_case = r->case_index;
	if (r->input == 1) {
		char *t = dot_checked(r->graph, NULL);
		cr_expect(strstr(t, "<B>weight</B>"), "inputs are named: %s", t);
		cr_expect(strstr(t, "<B>linear</B>"));
		free(t);
		cs->graphs++;
	}
}

Test(dot, gradcheck_results_carry_their_graph)
{
	cases_seen cs = {0, 0};
	cr_assert_eq(nb_gradcheck_op(nb_op_find("linear"), NULL, on_case, &cs,
	                             NULL), NB_OK);
	cr_expect_eq(cs.graphs, 3);
	cr_expect_eq(cs.last_case, 2);
}

/* ---- errors ---- */

Test(dot, errors)
{
	nb_graph *g = nb_graph_new();
	nb_dot_opts o = nb_dot_defaults();
	cr_expect_eq(nb_graph_write_dot(NULL, stdout, NULL), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "graph is NULL"));
	cr_expect_eq(nb_graph_write_dot(g, NULL, NULL), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "file is NULL"));
	o.vanish = 1;
	o.explode = 0.5;
	cr_expect_eq(nb_graph_write_dot(g, stdout, &o), NB_EINVAL);
	cr_expect(strstr(nb_last_error(), "vanish"), "%s", nb_last_error());
	o = nb_dot_defaults();
	o.vanish = 0;
	cr_expect_eq(nb_graph_write_dot(g, stdout, &o), NB_EINVAL);
	FILE *full = fopen("/dev/full", "w");
	if (full) {
		cr_expect_eq(nb_graph_write_dot(g, full, NULL), NB_EIO);
		fclose(full);
	}
	cr_expect_eq(nb_graph_save_dot(g, "/nonexistent/dir/g.dot", NULL),
	             NB_EIO);
	cr_expect(strstr(nb_last_error(), "/nonexistent/dir/g.dot"));
	cr_expect_eq(nb_graph_save_dot(g, NULL, NULL), NB_EINVAL);
	char tmp[] = "/tmp/nb_test_dot_XXXXXX";
	int fd = mkstemp(tmp);
	cr_assert(fd >= 0);
	close(fd);
	cr_expect_eq(nb_graph_save_dot(g, tmp, NULL), NB_OK);
	FILE *f = fopen(tmp, "r");
	char head[16] = {0};
	cr_assert(f && fread(head, 1, 15, f) == 15);
	cr_expect_str_eq(head, "digraph nabla {");
	fclose(f);
	remove(tmp);
	nb_graph_free(g);
}

/* ---- allocation failures ---- */

Test(dot, allocation_failures_leak_nothing)
{
	example ex;
	nb_graph *g = seed10(&ex, true);
	nb_dot_opts o = nb_dot_defaults();
	o.health = o.collapse = true;
	o.max_depth = 0;
	fa_install();
	int failures = 0;
	for (long k = 0;; k++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		long live0 = fa.live;
		fa_arm(k);
		nb_status st = nb_graph_write_dot(g, f, &o);
		fa_arm(-1);
		fclose(f);
		free(buf);
		cr_assert_eq(fa.live, live0, "allocation %ld failed: %ld blocks "
		             "leaked", k, fa.live - live0);
		if (st == NB_OK)
			break;
		cr_assert_eq(st, NB_ENOMEM, "allocation %ld failed: %s", k,
		             nb_last_error());
		failures++;
	}
	fa_uninstall();
	cr_expect_gt(failures, 5);
	nb_graph_free(g);
	example_free(&ex);
}
