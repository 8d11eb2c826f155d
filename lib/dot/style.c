/*
 * dot_style.c - how the DOT exporter draws things: escaping, node and
 * edge statements, labels, the legend, and the health view (gradient
 * norms and their colours, activation and parameter statistics).
 *
 * Labels of nodes are HTML-like (<B>name</B><BR/>shape dtype); every
 * name goes through dot_puts, which makes any bytes safe in either kind
 * of DOT string.
 */
#include <math.h>
#include <stdio.h>
#include "dot_internal.h"

/* ---- escaping ---- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t len;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		lo = c == 0xE0 ? 0xA0 : lo; /* no overlong forms */
		hi = c == 0xED ? 0x9F : hi; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		lo = c == 0xF0 ? 0x90 : lo;
		hi = c == 0xF4 ? 0x8F : hi; /* <= U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xBF)
			return 0;
	return len;
}

/*
 * In "...": a quote or a backslash gets a backslash (Graphviz reads \\
 * in a label as one backslash, and no user text can then form \N, \G,
 * \l or a line continuation).  In <...>: XML's five characters as
 * entities, and a backslash doubled too: Graphviz substitutes \N, \G...
 * in HTML text as well, and 2.42 reads past the end of a text that ends
 * in a single backslash (found by valgrind).  Both: a newline becomes a
 * line break, control characters and bytes that are not well-formed
 * UTF-8 become '?'.  In a tooltip, a backslash becomes '?' too: Graphviz
 * 2.42 substitutes escapes in tooltips twice over (so "\\\\" shows as
 * one backslash) and reads past the end of "x\\ \\"; the label beside
 * it shows the name exactly.
 */
void nb__dot_puts(dot *d, const char *s, size_t n, int esc)
{
	const unsigned char *p = (const unsigned char *)s;
	FILE *f = d->f;
	for (size_t i = 0; i < n && p[i];) {
		unsigned c = p[i];
		size_t len = utf8_seq(p + i, n - i);
		if (len > 1) {
			fwrite(p + i, 1, len, f);
			i += len;
			continue;
		}
		i++;
		if (c == '\n')
			fputs(esc == DOT_HTML ? "<BR/>" : "\\n", f);
		else if (!len || c < 0x20 || c == 0x7f ||
		         (esc == DOT_TOOLTIP && c == '\\'))
			fputc('?', f);
		else if (c == '\\' || (esc != DOT_HTML && c == '"'))
			fprintf(f, "\\%c", c);
		else if (esc == DOT_HTML && c == '&')
			fputs("&amp;", f);
		else if (esc == DOT_HTML && c == '<')
			fputs("&lt;", f);
		else if (esc == DOT_HTML && c == '>')
			fputs("&gt;", f);
		else if (esc == DOT_HTML && c == '"')
			fputs("&quot;", f);
		else
			fputc((int)c, f);
	}
}

static void puts_all(dot *d, const char *s, int esc)
{
	nb__dot_puts(d, s, s ? strlen(s) : 0, esc);
}

/* "2.5e-08", "0.014", "0" */
static char *num(double v, char *buf)
{
	snprintf(buf, 24, v == 0 ? "0" : "%.2g", v);
	return buf;
}

/* "|g|/|w| 0.0037", or "|w| 0" for weights that are all zero (a bias
 * at its initial value): then the ratio says nothing. */
#define RATIO_LEN 40
static char *ratio(double gn, double w, char *buf)
{
	char r[24];
	if (w > 0)
		snprintf(buf, RATIO_LEN, "|g|/|w| %s", num(gn / w, r));
	else
		snprintf(buf, RATIO_LEN, "|w| 0");
	return buf;
}

/* ---- the health view: norms, colours, statistics ---- */

/* ||t||_2 in double; NaN if an element is not finite. */
static double l2(const nb_tensor *t)
{
	double s = 0;
	size_t n = nb_tensor_numel(t);
	const void *p = nb_tensor_cdata(t);
	if (nb_tensor_dtype(t) == NB_F32)
		for (size_t i = 0; i < n; i++)
			s += (double)((const float *)p)[i] *
			     ((const float *)p)[i];
	else if (nb_tensor_dtype(t) == NB_F64)
		for (size_t i = 0; i < n; i++)
			s += ((const double *)p)[i] * ((const double *)p)[i];
	return sqrt(s);
}

/* The gradient's norm, or -1 when t has none. */
static double grad_norm(const nb_tensor *t)
{
	const nb_tensor *gr = nb_tensor_grad(t);
	return gr ? l2(gr) : -1;
}

typedef struct hcolor {
	char line[24], fill[24];
	const char *band;
	bool strong; /* vanishing, exploding, non-finite */
} hcolor;

/*
 * Hue by log10(norm): below vanish a saturated blue, above explode red;
 * in between from sky blue (0.55) through green and yellow to orange
 * (0.08), linear in log10(norm).  Fills are the same hues, pale.
 */
static void health_color(const nb_dot_opts *o, double nrm, hcolor *c)
{
	double hue;
	c->strong = true;
	if (nrm < 0) {
		snprintf(c->line, sizeof c->line, "#a0a0a0");
		snprintf(c->fill, sizeof c->fill, "#f2f2f2");
		c->band = "no gradient";
		c->strong = false;
		return;
	}
	if (!isfinite(nrm)) {
		snprintf(c->line, sizeof c->line, "#d000d0");
		snprintf(c->fill, sizeof c->fill, "#f8c8f8");
		c->band = "non-finite";
		return;
	}
	if (nrm < o->vanish) {
		hue = 0.667;
		c->band = nrm == 0 ? "zero" : "vanishing";
	} else if (nrm > o->explode) {
		hue = 0.0;
		c->band = "exploding";
	} else {
		double t = (log10(nrm) - log10(o->vanish)) /
		           (log10(o->explode) - log10(o->vanish));
		hue = 0.55 - 0.47 * t;
		c->band = t < 1.0 / 3 ? "low" : t < 2.0 / 3 ? "healthy"
		                                            : "high";
		c->strong = false;
	}
	snprintf(c->line, sizeof c->line, "%.3f 1.000 %.3f", hue,
	         c->strong ? 0.95 : 0.80);
	snprintf(c->fill, sizeof c->fill, "%.3f %.3f 1.000", hue,
	         c->strong ? 0.40 : 0.28);
}

/* ---- statements ---- */

static const char *kind_fill(nb_op_kind k)
{
	switch (k) {
	case NB_KIND_ACTIVATION: return "#fff3c4";
	case NB_KIND_NORM: return "#e3ecfa";
	case NB_KIND_LOSS: return "#fbdcdc";
	case NB_KIND_REGULARIZER: return "#eadff5";
	case NB_KIND_LINALG: return "#e4f2e4";
	case NB_KIND_CONV: return "#dff0ee";
	case NB_KIND_POOL: return "#eef5e0";
	default: return "#f4f4f4";
	}
}

static const char *const role_name[] = {"parameter", "input", "constant",
                                        "output"};
static const char *const role_style[] = {
	"shape=cylinder, style=filled",
	"shape=parallelogram, style=filled",
	"shape=ellipse, style=\"filled,dashed\"",
	"shape=ellipse, peripheries=2, style=filled",
};
static const char *const role_fill[] = {"#d6f0d0", "#d8e6fb", "#eeeeee",
                                        "#fde3c8"};

/* The name of op's input k ("" past its definitions), length *len. */
const char *nb__dot_slot_name(const nb_op *op, int k, size_t *len)
{
	const nb_input_def *def = nb_op_input(op, k);
	const char *s = def ? def->name : "";
	*len = strlen(s);
	return s;
}

/* "no bias", "running stats: held": absent optional inputs, and whether
 * the buffers (running statistics: batch_norm's) are given. */
static void inputs_note(dot *d, const nb_op *op, nb_tensor *const *in,
                        int m)
{
	int running = 0, held = 0;
	for (int k = 0; k < m; k++) {
		size_t len;
		const char *nm = nb__dot_slot_name(op, k, &len);
		const nb_input_def *def = nb_op_input(op, k);
		if (def && def->role == NB_ROLE_BUFFER) {
			running++;
			held += in[k] != NULL;
		} else if (!in[k] && len) {
			fputs("<BR/><FONT POINT-SIZE=\"9\">no ", d->f);
			nb__dot_puts(d, nm, len, DOT_HTML);
			fputs("</FONT>", d->f);
		}
	}
	if (running)
		fprintf(d->f, "<BR/><FONT POINT-SIZE=\"9\">running stats: %s"
		        "</FONT>", held == running ? "held" : held ? "partial"
		                                                 : "none");
}

void nb__dot_op_node(dot *d, size_t i, const char *ind)
{
	const nb_op *op = nb_graph_node_op(d->g, i);
	nb_tensor *const *in;
	int m = nb_graph_node_inputs(d->g, i, &in);
	char attrs[256], a[24];
	fprintf(d->f, "%sn%zu [shape=box, style=\"rounded,filled\", "
	        "fillcolor=\"%s\", ", ind, i, kind_fill(op->kind));
	if (d->o.health) {
		hcolor hc;
		health_color(&d->o, grad_norm(nb_graph_node_output(d->g, i)),
		             &hc);
		fprintf(d->f, "color=\"%s\", penwidth=%s, ", hc.line,
		        hc.strong ? "3" : "2");
	}
	fputs("label=<<B>", d->f);
	puts_all(d, op->name, DOT_HTML);
	fputs("</B>", d->f);
	nb_attrs_format(op, nb_graph_node_attrs(d->g, i), false, attrs,
	                sizeof attrs);
	if (attrs[0]) {
		fputs("<BR/><FONT POINT-SIZE=\"9\">", d->f);
		puts_all(d, attrs, DOT_HTML);
		fputs("</FONT>", d->f);
	}
	inputs_note(d, op, in, m);
	nb_act_stats s;
	if (d->o.health && op->kind == NB_KIND_ACTIVATION &&
	    !nb_activation_stats(op, nb_graph_node_output(d->g, i), &s) &&
	    s.n) {
		bool bounded = op->test && op->test->out_lo < op->test->out_hi;
		fprintf(d->f, "<BR/><FONT POINT-SIZE=\"9\" COLOR=\"%s\">"
		        "%s %.1f%%, dead %.1f%%<BR/>std %s</FONT>",
		        s.dead_units > 0 || s.saturated > 0.5 ? "#c00000"
		                                              : "#333333",
		        bounded ? "saturated" : "zero",
		        100 * (bounded ? s.saturated : s.zero),
		        100 * s.dead_units, num(s.std, a));
	}
	fputs(">, tooltip=\"", d->f);
	fprintf(d->f, "node %zu: ", i);
	puts_all(d, op->name, DOT_TOOLTIP);
	fprintf(d->f, " (%s)", nb_op_kind_name(op->kind));
	if (*nb_graph_node_scope(d->g, i)) {
		fputs(" in ", d->f);
		puts_all(d, nb_graph_node_scope(d->g, i), DOT_TOOLTIP);
	}
	fputs("\"];\n", d->f);
}

/* "[64, 750] float32" */
static void shape_dtype(dot *d, const nb_tensor *t)
{
	char s[96];
	nb_shape_str(nb_tensor_ndim(t), nb_tensor_shape(t), s, sizeof s);
	fprintf(d->f, "%s %s", s, nb_dtype_name(nb_tensor_dtype(t)));
}

void nb__dot_tensor_node(dot *d, const char *id, const nb_tensor *t,
                         int role, const char *fallback, size_t fb_len,
                         const char *ind)
{
	double gn = d->o.health ? grad_norm(t) : -1;
	char a[24], b[RATIO_LEN];
	hcolor hc;
	health_color(&d->o, gn, &hc);
	fprintf(d->f, "%s%s [%s, fillcolor=\"%s\"", ind, id, role_style[role],
	        d->o.health ? hc.fill : role_fill[role]);
	if (d->o.health && hc.strong)
		fprintf(d->f, ", color=\"%s\", penwidth=2", hc.line);
	fputs(", label=<<B>", d->f);
	if (nb_tensor_name(t))
		puts_all(d, nb_tensor_name(t), DOT_HTML);
	else
		nb__dot_puts(d, fallback, fb_len, DOT_HTML);
	fputs("</B><BR/><FONT POINT-SIZE=\"9\">", d->f);
	shape_dtype(d, t);
	if (role == DOT_OUTPUT && nb_tensor_numel(t) == 1)
		fprintf(d->f, "<BR/>= %.6g", nb_tensor_item(t));
	if (d->o.health && gn >= 0) {
		fprintf(d->f, "<BR/>|g| %s", num(gn, a));
		if (role == DOT_PARAM)
			fprintf(d->f, ", %s", ratio(gn, l2(t), b));
	}
	fprintf(d->f, "</FONT>>, tooltip=\"%s", role_name[role]);
	if (d->o.health)
		fprintf(d->f, ": ||grad|| %s (%s)", gn >= 0 ? num(gn, a) : "-",
		        hc.band);
	fputs("\"];\n", d->f);
}

/*
 * The range of the gradient norms of the results of nodes a..b-1 (only
 * those of unit u when u >= 0), as "<sep>|g| min .. max".  Returns the
 * norm of the last of them (-1 if none has a gradient).
 */
static double grad_range(dot *d, size_t a, size_t b, long u,
                         const char *sep)
{
	double lo = INFINITY, hi = -1, last = -1;
	char x[24], y[24];
	for (size_t i = a; i < b; i++) {
		if (u >= 0 && d->unit[i] != u)
			continue;
		double gn = grad_norm(nb_graph_node_output(d->g, i));
		last = gn;
		if (gn < 0)
			continue;
		lo = gn < lo || isnan(gn) ? gn : lo;
		hi = gn > hi || isnan(gn) ? gn : hi;
	}
	if (sep && hi >= 0)
		fprintf(d->f, "%s|g| %s .. %s", sep, num(lo, x), num(hi, y));
	return last;
}

/* "5 ops: linear, tanh x2": the ops drawn as summary k, by first use. */
static void summary_ops(dot *d, size_t k)
{
	const dot_summary *s = &d->sums[k];
	const nb_op *ops[8];
	int counts[8], n_ops = 0, total = 0;
	bool more = false;
	for (size_t i = s->first; i < d->n; i++) {
		if (d->unit[i] != (long)(d->n + k) || d->hider[i] >= 0)
			continue;
		const nb_op *op = nb_graph_node_op(d->g, i);
		int j = 0;
		total++;
		while (j < n_ops && ops[j] != op)
			j++;
		if (j == n_ops && n_ops < 8) {
			ops[n_ops] = op;
			counts[n_ops++] = 0;
		}
		if (j < n_ops)
			counts[j]++;
		else
			more = true;
	}
	fprintf(d->f, "<BR/><FONT POINT-SIZE=\"9\">%d op%s: ", total,
	        total == 1 ? "" : "s");
	for (int j = 0; j < n_ops; j++) {
		fputs(j ? ", " : "", d->f);
		puts_all(d, ops[j]->name, DOT_HTML);
		if (counts[j] > 1)
			fprintf(d->f, " x%d", counts[j]);
	}
	fputs(more ? ", ...</FONT>" : "</FONT>", d->f);
}

/* The parameters absorbed into summary k: their count, and in the health
 * view ||grad|| / ||w|| of the first four. */
static void summary_params(dot *d, size_t k)
{
	size_t params = 0;
	int shown = 0;
	char a[RATIO_LEN];
	for (size_t L = 0; L < d->n_leaves; L++) {
		const dot_leaf *l = &d->leaves[L];
		if (!l->absorbed || l->unit != (long)(d->n + k))
			continue;
		params += l->role == DOT_PARAM ? nb_tensor_numel(l->t) : 0;
		if (!d->o.health || l->role != DOT_PARAM || shown++ >= 4)
			continue;
		double gn = grad_norm(l->t), w = l2(l->t);
		fputs("<BR/><FONT POINT-SIZE=\"9\">", d->f);
		puts_all(d, nb_tensor_name(l->t) ? nb_tensor_name(l->t)
		                                 : "parameter", DOT_HTML);
		fprintf(d->f, ": %s</FONT>", gn < 0 ? "no gradient"
		                                   : ratio(gn, w, a));
	}
	if (params)
		fprintf(d->f, "<BR/><FONT POINT-SIZE=\"9\">%zu parameters"
		        "</FONT>", params);
}

void nb__dot_summary_node(dot *d, size_t k, const char *ind)
{
	const dot_summary *s = &d->sums[k];
	const char *fill = "#e8edf3";
	hcolor hc;
	if (d->o.health) {
		health_color(&d->o, grad_range(d, s->first, d->n,
		                               (long)(d->n + k), NULL), &hc);
		fill = hc.fill;
	}
	fprintf(d->f, "%ss%zu [shape=folder, style=filled, fillcolor=\"%s\", "
	        "label=<<B>", ind, k, fill);
	nb__dot_puts(d, s->path.s, s->path.len, DOT_HTML);
	if (s->group >= 0) {
		const dot_group *gr = &d->groups[s->group];
		fputs(" .. ", d->f);
		nb__dot_puts(d, gr->last.s, gr->last.len, DOT_HTML);
		fprintf(d->f, " x%d", gr->count);
	}
	fputs("</B>", d->f);
	summary_ops(d, k);
	summary_params(d, k);
	if (d->o.health) {
		fputs("<BR/><FONT POINT-SIZE=\"9\">", d->f);
		grad_range(d, s->first, d->n, (long)(d->n + k), "");
		fputs("</FONT>", d->f);
	}
	fputs(">];\n", d->f);
}

void nb__dot_cluster_label(dot *d, dot_span path, int group)
{
	nb__dot_puts(d, path.s, path.len, DOT_QUOTED);
	if (group < 0)
		return;
	const dot_group *gr = &d->groups[group];
	fputs(" .. ", d->f);
	nb__dot_puts(d, gr->last.s, gr->last.len, DOT_QUOTED);
	fprintf(d->f, "  x%d", gr->count);
	if (d->o.health)
		grad_range(d, gr->a, gr->b, -1, "\\l");
}

void nb__dot_edge_stmt(dot *d, const char *src, const char *dst,
                       const nb_tensor *t, bool from_op)
{
	char s[96], a[24];
	double gn = d->o.health ? grad_norm(t) : -1;
	/* Only the results of ops are labelled: a leaf's node says it all,
	 * and a label on the flat edge from a parameter drawn beside its op
	 * crashes Graphviz 2.42's layout (flat_edges, a double free). */
	bool label = from_op && (d->o.edge_shapes || (d->o.health && gn >= 0));
	fprintf(d->f, "\t%s -> %s [", src, dst);
	if (label) {
		fputs("label=\"", d->f);
		/* Which result, for an op with several (split). */
		long j = nb_tensor_node(t);
		if (from_op && j >= 0 &&
		    nb_graph_node_outputs(d->g, (size_t)j, NULL) > 1)
			fprintf(d->f, "#%d ", nb_tensor_output_index(t));
		if (from_op && d->o.edge_shapes)
			fputs(nb_shape_str(nb_tensor_ndim(t),
			                   nb_tensor_shape(t), s, sizeof s), d->f);
		if (d->o.health && gn >= 0)
			fprintf(d->f, "%s|g| %s", from_op && d->o.edge_shapes
			        ? "\\n" : "", num(gn, a));
		fputs("\", ", d->f);
	}
	if (d->o.health) {
		hcolor hc;
		health_color(&d->o, gn, &hc);
		fprintf(d->f, "color=\"%s\", fontcolor=\"%s\", penwidth=%s, "
		        "tooltip=\"||grad|| %s (%s)\"", hc.line,
		        gn < 0 ? "#888888" : hc.line, hc.strong ? "3" : gn < 0
		        ? "1" : "2", gn >= 0 ? num(gn, a) : "-", hc.band);
		if (gn < 0)
			fputs(", style=dashed", d->f);
	} else {
		fputs("tooltip=\"", d->f);
		shape_dtype(d, t);
		fputs("\"", d->f);
	}
	fputs("];\n", d->f);
}

/* ---- header and legend ---- */

void nb__dot_header(dot *d)
{
	FILE *f = d->f;
	char a[24], b[24];
	size_t shown = 0;
	for (size_t i = 0; i < d->n; i++)
		shown += d->unit[i] == (long)i;
	fprintf(f, "digraph nabla {\n\tgraph [rankdir=%s, newrank=true, "
	        "fontname=\"Helvetica\", fontsize=13, labelloc=t, "
	        "labeljust=l, nodesep=0.3, ranksep=0.35, label=<",
	        d->o.lr ? "LR" : "TB");
	if (d->o.title && *d->o.title) {
		fputs("<B>", f);
		puts_all(d, d->o.title, DOT_HTML);
		fputs("</B><BR/>", f);
	}
	fprintf(f, "<FONT POINT-SIZE=\"10\">%s mode, %zu op%s",
	        nb_graph_training(d->g) ? "training" : "eval", d->n,
	        d->n == 1 ? "" : "s");
	if (shown + d->n_sums < d->n)
		fprintf(f, " (%zu drawn)", shown + d->n_sums);
	if (d->o.health)
		fprintf(f, "; gradient norms: vanishing &lt; %s, exploding "
		        "&gt; %s", num(d->o.vanish, a), num(d->o.explode, b));
	fputs("</FONT>", f);
	if (nb_graph_status(d->g)) {
		fputs("<BR/><FONT POINT-SIZE=\"10\" COLOR=\"#c00000\">"
		      "error: ", f);
		puts_all(d, nb_graph_errmsg(d->g), DOT_HTML);
		fputs("</FONT>", f);
	}
	fputs(">];\n\tnode [fontname=\"Helvetica\", fontsize=11, "
	      "margin=\"0.12,0.04\"];\n\tedge [fontname=\"Helvetica\", "
	      "fontsize=9, color=\"#555555\", arrowsize=0.7];\n", f);
}

/* The colour scale: below vanish, five steps between, above explode. */
static void legend_scale(dot *d)
{
	FILE *f = d->f;
	char a[24];
	hcolor hc;
	double lv = log10(d->o.vanish), le = log10(d->o.explode);
	fputs("\t\tlg_scale [shape=plaintext, label=<<TABLE BORDER=\"0\" "
	      "CELLBORDER=\"0\" CELLSPACING=\"1\" CELLPADDING=\"2\">"
	      "<TR><TD COLSPAN=\"2\"><B>||grad||</B></TD></TR>", f);
	for (int k = -1; k <= 7; k++) {
		double v = k < 0 ? d->o.vanish / 10 : k > 5 ? d->o.explode * 10
		         : pow(10, lv + (le - lv) * k / 5.0);
		const char *what;
		if (k == 7) {
			health_color(&d->o, -1, &hc);
			what = "no gradient";
		} else {
			health_color(&d->o, v, &hc);
			what = hc.band;
		}
		fprintf(f, "<TR><TD BGCOLOR=\"%s\" WIDTH=\"24\"> </TD>"
		        "<TD ALIGN=\"LEFT\">", hc.line);
		if (k == 7)
			fprintf(f, "%s", what);
		else
			fprintf(f, "%s%s %s", k < 0 ? "&lt; "
			        : k > 5 ? "&gt; " : "", num(k < 0 ? d->o.vanish
			        : k > 5 ? d->o.explode : v, a), what);
		fputs("</TD></TR>", f);
	}
	fputs("</TABLE>>];\n", f);
}

/*
 * The legend: a grid of sample nodes, leaf roles in the first column and
 * op kinds in the second (rank=same rows, invisible edges between rows),
 * then the colour scale of the health view.
 */
void nb__dot_legend(dot *d)
{
	FILE *f = d->f;
	static const char *const ops[][2] = {
		{"op", "#f4f4f4"}, {"activation", "#fff3c4"},
		{"normalization", "#e3ecfa"}, {"loss", "#fbdcdc"},
	};
	fputs("	subgraph cluster_legend {\n\t\tlabel=\"legend\"; "
	      "style=rounded; color=\"#bbbbbb\"; fontsize=10;\n"
	      "\t\tnode [fontsize=9, height=0.3, width=1.1];\n", f);
	for (int r = 0; r < 4; r++) {
		fprintf(f, "\t\tlg_%s [%s, fillcolor=\"%s\", label=\"%s\"];\n",
		        role_name[r], role_style[r],
		        d->o.health ? "#ffffff" : role_fill[r], role_name[r]);
		fprintf(f, "\t\tlg_op%d [shape=box, style=\"rounded,filled\", "
		        "fillcolor=\"%s\", label=\"%s\"];\n", r, ops[r][1],
		        ops[r][0]);
		fprintf(f, "\t\t{rank=same; lg_%s -> lg_op%d [style=invis];}\n",
		        role_name[r], r);
	}
	fputs("\t\tlg_parameter -> lg_input -> lg_constant -> lg_output",
	      f);
	if (d->n_sums)
		fputs(" -> lg_summary", f);
	fputs(" [style=invis];\n", f);
	if (d->n_sums)
		fputs("\t\tlg_summary [shape=folder, style=filled, "
		      "fillcolor=\"#e8edf3\", label=\"scope (summary)\"];\n",
		      f);
	if (d->o.health) {
		legend_scale(d);
		fputs("\t\t{rank=same; lg_op0 -> lg_scale [style=invis];}\n",
		      f);
	}
	fputs("\t}\n", f);
}
