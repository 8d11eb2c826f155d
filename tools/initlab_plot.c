/*
 * initlab_plot.c - the study's histograms as a PNG or SVG figure, drawn
 * with cairo (optional: without it, il_plot fails with a message).
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "initlab.h"

#ifdef HAVE_CAIRO
#include <math.h>
#include "plot.h"

#define PANEL_W 300.0
#define PANEL_H 230.0
#define TITLE_H 56.0
#define ROW_LABEL_W 170.0 /* compare mode: the case's name per row */

/* Panel geometry: the plot area inside a PANEL_W x PANEL_H cell. */
#define AREA_L 62.0
#define AREA_R 14.0
#define AREA_T 34.0
#define AREA_B 44.0
#define INSET 4.0

/* A tick label: short and exact enough ("0", "-1", "2.5e-07"). */
static void fmt_num(char *b, size_t n, double v)
{
	snprintf(b, n, "%.3g", fabs(v) < 1e-300 ? 0.0 : v);
}

/* A round tick step (1, 2 or 5 times a power of ten) near max / 3. */
static double nice_step(double max)
{
	double raw = max / 3, p = pow(10, floor(log10(raw)));
	double m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void axes(cairo_t *cr, double ax, double ay, double aw, double ah,
                 const il_layer *L, double max)
{
	char num[32];
	cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
	cairo_set_line_width(cr, 1.0);
	cairo_move_to(cr, ax - INSET, ay);
	cairo_line_to(cr, ax - INSET, ay + ah);
	cairo_line_to(cr, ax + aw + INSET, ay + ah);
	for (int k = 0; k <= 2; k++) {
		double tx = ax + aw * k / 2;
		cairo_move_to(cr, tx, ay + ah);
		cairo_line_to(cr, tx, ay + ah + 4);
		fmt_num(num, sizeof num, L->lo + (L->hi - L->lo) * k / 2);
		plot_text(cr, tx, ay + ah + 16, 10, false, k == 0 ? 0.0 : k == 1
		     ? 0.5 : 1.0, num);
	}
	double step = nice_step(max);
	for (double v = 0; v <= max * 1.0001; v += step) {
		double ty = ay + ah - ah * v / max;
		cairo_move_to(cr, ax - INSET - 4, ty);
		cairo_line_to(cr, ax - INSET, ty);
		snprintf(num, sizeof num, "%.0f", v);
		plot_text(cr, ax - INSET - 6, ty + 3.5, 10, false, 1.0, num);
	}
	cairo_stroke(cr);
	plot_text(cr, ax + aw / 2, ay + ah + 32, 10.5, false, 0.5, "value");
	cairo_save(cr);
	cairo_translate(cr, ax - INSET - 48, ay + ah / 2);
	cairo_rotate(cr, -M_PI / 2);
	plot_text(cr, 0, 0, 10.5, false, 0.5, "count");
	cairo_restore(cr);
}

static void panel(cairo_t *cr, double x0, double y0, const il_layer *L,
                  int index)
{
	/* The bars sit INSET pixels inside the axes, so that a spike at an
	 * end of the range does not hide behind the y axis. */
	double ax = x0 + AREA_L + INSET, ay = y0 + AREA_T;
	double aw = PANEL_W - AREA_L - AREA_R - 2 * INSET;
	double ah = PANEL_H - AREA_T - AREA_B;
	double max = (double)il_hist_scale(L);
	char buf[96];

	cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
	snprintf(buf, sizeof buf, "layer %d (%lld\u2192%lld)", index + 1,
	         (long long)L->in, (long long)L->out);
	plot_text(cr, ax + aw / 2, y0 + 14, 12.5, true, 0.5, buf);
	if (isnan(L->saturated))
		snprintf(buf, sizeof buf, "mean %.3g, std %.3g, zero %.1f%%",
		         L->mean, L->std, L->zero);
	else
		snprintf(buf, sizeof buf, "mean %.3g, std %.3g, saturated %.1f%%",
		         L->mean, L->std, L->saturated);
	plot_text(cr, ax + aw / 2, y0 + 28, 11, false, 0.5, buf);

	cairo_set_source_rgb(cr, 0.22, 0.45, 0.70);
	for (int b = 0; b < IL_BINS; b++) {
		if (!L->hist[b])
			continue;
		double h = ah * fmin(1.0, (double)L->hist[b] / max);
		h = h < 0.8 ? 0.8 : h; /* a non-empty bin stays visible */
		cairo_rectangle(cr, ax + aw * b / IL_BINS, ay + ah - h,
		                aw / IL_BINS, h);
	}
	cairo_fill(cr);
	if (L->zero_bin >= 0 && (double)L->hist[L->zero_bin] > max) {
		/* The clipped spike of exact zeros: say how tall it is. */
		double x = ax + aw * (L->zero_bin + 0.5) / IL_BINS;
		cairo_set_source_rgb(cr, 0.80, 0.30, 0.10);
		cairo_rectangle(cr, x - aw / IL_BINS / 2, ay, aw / IL_BINS, ah);
		cairo_fill(cr);
		snprintf(buf, sizeof buf, "\u2190 %.1f%% exact zeros (clipped)",
		         L->zero);
		plot_text(cr, x + aw / IL_BINS + 3, ay + 10, 10, false, 0.0, buf);
	}
	axes(cr, ax, ay, aw, ah, L, max);
}

static void figure(cairo_t *cr, const il_run *runs, int n, int cols,
                   double w)
{
	const il_config *c = &runs[0].cfg;
	char buf[512], sz[96] = "";
	size_t k = 0;
	for (int i = 0; i <= c->n_layers && k < sizeof sz - 16; i++)
		k += (size_t)snprintf(sz + k, sizeof sz - k, "%s%lld",
		                      i ? "\u2192" : "", (long long)c->sizes[i]);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
	if (n == 1)
		snprintf(buf, sizeof buf, "%s, init %s: activations per layer "
		         "(verdict: %s)", runs[0].cfg.act, runs[0].cfg.init,
		         runs[0].verdict);
	else
		snprintf(buf, sizeof buf, "the notes' cases: activations per "
		         "layer, one row per case");
	plot_text(cr, w / 2, 24, 17, true, 0.5, buf);
	snprintf(buf, sizeof buf, "input randn(%lld, %lld), layers %s, no bias, "
	         "norm %s, %s, seed %llu", (long long)c->batch,
	         (long long)c->sizes[0], sz, il_norm_name(c->norm),
	         nb_dtype_name(c->dtype), (unsigned long long)c->seed);
	plot_text(cr, w / 2, 44, 12, false, 0.5, buf);
	double left = n > 1 ? ROW_LABEL_W : 0;
	for (int r = 0; r < n; r++) {
		const il_run *run = &runs[r];
		if (n > 1) {
			double y = TITLE_H + PANEL_H * r + PANEL_H / 2;
			cairo_set_source_rgb(cr, 0.05, 0.05, 0.05);
			plot_text(cr, 12, y - 8, 13, true, 0.0, run->name);
			snprintf(buf, sizeof buf, "verdict: %s", run->verdict);
			plot_text(cr, 12, y + 10, 12, false, 0.0, buf);
		}
		for (int i = 0; i < run->n_layers; i++) {
			int row = n > 1 ? r : i / cols, col = n > 1 ? i : i % cols;
			panel(cr, left + PANEL_W * col, TITLE_H + PANEL_H * row,
			      &run->layer[i], i);
		}
	}
}

typedef struct fig {
	const il_run *runs;
	int n, cols;
	double w;
} fig;

static void draw(cairo_t *cr, const void *ctx)
{
	const fig *f = ctx;
	figure(cr, f->runs, f->n, f->cols, f->w);
}

nb_status il_plot(const char *file, const il_run *runs, int n, char *err,
                  size_t errn)
{
	int layers = runs[0].n_layers;
	int cols = n > 1 ? layers : layers < 5 ? layers : 5;
	int rows = n > 1 ? n : (layers + cols - 1) / cols;
	double w = (n > 1 ? ROW_LABEL_W : 0) + PANEL_W * cols + 10;
	double h = TITLE_H + PANEL_H * rows + 6;
	fig f = {runs, n, cols, w};
	return plot_file(file, w, h, draw, &f, err, errn);
}

#else /* !HAVE_CAIRO */
#include "plot.h"

nb_status il_plot(const char *file, const il_run *runs, int n, char *err,
                  size_t errn)
{
	(void)runs;
	(void)n;
	return plot_file(file, 0, 0, NULL, NULL, err, errn);
}

#endif
