/*
 * rnnlab_out.c - gradients through time as a table, JSON and a plot of
 * log10 ||dL/dh_t|| against t (cairo, optional).
 */
#include "config.h"
#include <math.h>
#include <string.h>
#include "cli.h"
#include "rnnlab.h"
#include "plot.h"

/* ||dL/dh_t|| at t = 1, T/4, T/2, 3T/4, T. */
static double at(const rl_run *r, double frac)
{
	int64_t T = r->cfg.steps, t = (int64_t)llround(frac * (double)(T - 1));
	return r->grad[t];
}

void rl_print_runs(FILE *f, const rl_run *runs, int n)
{
	const rl_config *c = &runs[0].cfg;
	fprintf(f, "initlab --rnn: T %lld, hidden %lld, input %lld, batch "
	        "%lld, %s, seed %llu; loss sum(h_T^2) / (2 batch)\n\n",
	        (long long)c->steps, (long long)c->hidden, (long long)c->input,
	        (long long)c->batch, nb_dtype_name(c->dtype),
	        (unsigned long long)c->seed);
	fprintf(f, "%-26s %7s %10s %10s %10s %10s %10s %9s %9s  %s\n", "CASE",
	        "SIGMA", "|g_1|", "|g_T/4|", "|g_T/2|", "|g_3T/4|", "|g_T|",
	        "PER STEP", "|dW_hh|", "VERDICT");
	for (int i = 0; i < n; i++) {
		const rl_run *r = &runs[i];
		fprintf(f, "%-26s %7.3g %10.3g %10.3g %10.3g %10.3g %10.3g %9.4g "
		        "%9.3g  %s\n", r->name, r->sigma, at(r, 0), at(r, 0.25),
		        at(r, 0.5), at(r, 0.75), at(r, 1), r->per_step, r->w_grad,
		        r->verdict);
	}
	fputc('\n', f);
	for (int i = 0; i < n; i++)
		fprintf(f, "%-26s %s\n", runs[i].name, runs[i].why);
	fprintf(f, "(|g_t| = ||dL/dh_t||, t = 1..T; SIGMA the largest singular "
	        "value of the recurrent blocks;\n PER STEP = (|g_1| / "
	        "|g_T|)^(1/(T-1)); |dW_hh| before clipping)\n");
}

static void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.17g", v);
	else
		fputs("null", f);
}

void rl_print_json(FILE *f, const rl_run *runs, int n)
{
	fputs("{\"runs\":[", f);
	for (int i = 0; i < n; i++) {
		const rl_run *r = &runs[i];
		const rl_config *c = &r->cfg;
		fputs(i ? ",{\"name\":" : "{\"name\":", f);
		cli_json_str(f, r->name);
		fputs(",\"cell\":", f);
		cli_json_str(f, rl_cell_name(c->cell));
		fputs(",\"init\":", f);
		cli_json_str(f, c->init);
		fprintf(f, ",\"steps\":%lld,\"hidden\":%lld,\"input\":%lld,"
		        "\"batch\":%lld,\"seed\":%llu,\"dtype\":\"%s\",\"gain\":",
		        (long long)c->steps, (long long)c->hidden,
		        (long long)c->input, (long long)c->batch,
		        (unsigned long long)c->seed, nb_dtype_name(c->dtype));
		const struct { const char *k; double v; } nums[] = {
			{"gain", c->gain}, {"forget_bias", c->forget_bias},
			{"clip_norm", c->clip_norm}, {"sigma", r->sigma},
			{"loss", r->loss}, {"w_hh_grad_norm", r->w_grad},
			{"total_norm", r->total_norm},
			{"clipped_norm", r->clipped_norm}, {"ratio", r->ratio},
			{"per_step", r->per_step},
		};
		json_num(f, nums[0].v);
		for (size_t k = 1; k < sizeof nums / sizeof *nums; k++) {
			fprintf(f, ",\"%s\":", nums[k].k);
			json_num(f, nums[k].v);
		}
		fputs(",\"grad_norms\":[", f);
		for (int64_t t = 0; t < c->steps; t++) {
			if (t)
				fputc(',', f);
			json_num(f, r->grad[t]);
		}
		fputs("],\"verdict\":", f);
		cli_json_str(f, r->verdict);
		fputs(",\"why\":", f);
		cli_json_str(f, r->why);
		fputc('}', f);
	}
	fputs("]}\n", f);
}

#ifdef HAVE_CAIRO

#define W 900.0
#define H 560.0
#define L_ 80.0   /* plot area margins */
#define R_ 260.0
#define T_ 50.0
#define B_ 60.0

/* A distinct colour per run. */
static void colour(cairo_t *cr, int i)
{
	static const double c[][3] = {
		{0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17},
		{0.84, 0.15, 0.16}, {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29},
		{0.89, 0.47, 0.76}, {0.50, 0.50, 0.50}, {0.74, 0.74, 0.13},
		{0.09, 0.75, 0.81},
	};
	const double *k = c[i % 10];
	cairo_set_source_rgb(cr, k[0], k[1], k[2]);
}

static void figure(cairo_t *cr, const rl_run *runs, int n)
{
	double lo = INFINITY, hi = -INFINITY;
	int64_t T = runs[0].cfg.steps;
	for (int i = 0; i < n; i++)
		for (int64_t t = 0; t < runs[i].cfg.steps; t++) {
			double v = runs[i].grad[t];
			if (v > 0 && isfinite(v)) {
				lo = fmin(lo, log10(v));
				hi = fmax(hi, log10(v));
			}
			if (runs[i].cfg.steps > T)
				T = runs[i].cfg.steps;
		}
	if (!(lo <= hi))
		lo = -1, hi = 1;
	lo = floor(lo);
	hi = ceil(hi);
	if (hi - lo < 1)
		hi = lo + 1;
	double aw = W - L_ - R_, ah = H - T_ - B_;
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_set_source_rgb(cr, 0, 0, 0);
	plot_text(cr, W / 2, 28, 16, false, 0.5, "Gradients through time: "
	      "log10 ||dL/dh_t||, loss at the last step");
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, L_, T_, aw, ah);
	cairo_stroke(cr);
	char b[32];
	int step = (int)ceil((hi - lo) / 8);
	for (double y = ceil(lo / step) * step; y <= hi; y += step) {
		double py = T_ + ah * (1 - (y - lo) / (hi - lo));
		snprintf(b, sizeof b, "1e%+.0f", y);
		plot_text(cr, L_ - 6, py + 4, 11, false, 1, b);
		cairo_set_source_rgba(cr, 0, 0, 0, 0.12);
		cairo_move_to(cr, L_, py);
		cairo_line_to(cr, L_ + aw, py);
		cairo_stroke(cr);
		cairo_set_source_rgb(cr, 0, 0, 0);
	}
	for (int k = 0; k <= 4; k++) {
		int64_t t = 1 + (T - 1) * k / 4;
		snprintf(b, sizeof b, "%lld", (long long)t);
		plot_text(cr, L_ + aw * (double)(t - 1) / (double)(T > 1 ? T - 1 : 1),
		          T_ + ah + 18, 11, false, 0.5, b);
	}
	plot_text(cr, L_ + aw / 2, H - 18, 13, false, 0.5, "time step t");
	cairo_set_line_width(cr, 2);
	for (int i = 0; i < n; i++) {
		const rl_run *r = &runs[i];
		colour(cr, i);
		/* Clipping leaves dL/dh_t as it was: dashed over its twin. */
		double dash[2] = {6, 4};
		cairo_set_dash(cr, dash, r->cfg.clip_norm > 0 ? 2 : 0, 0);
		bool pen = false;
		for (int64_t t = 0; t < r->cfg.steps; t++) {
			double v = r->grad[t];
			if (!(v > 0) || !isfinite(v)) {
				pen = false;
				continue;
			}
			double px = L_ + aw * (double)t / (double)(T > 1 ? T - 1 : 1);
			double py = T_ + ah * (1 - (log10(v) - lo) / (hi - lo));
			if (pen)
				cairo_line_to(cr, px, py);
			else
				cairo_move_to(cr, px, py);
			pen = true;
		}
		cairo_stroke(cr);
		double ly = T_ + 14 + 22.0 * i;
		cairo_move_to(cr, L_ + aw + 14, ly - 4);
		cairo_line_to(cr, L_ + aw + 38, ly - 4);
		cairo_stroke(cr);
		cairo_set_source_rgb(cr, 0, 0, 0);
		snprintf(b, sizeof b, "%.22s", r->name);
		plot_text(cr, L_ + aw + 44, ly, 11, false, 0, b);
	}
}

typedef struct fig {
	const rl_run *runs;
	int n;
} fig;

static void draw(cairo_t *cr, const void *ctx)
{
	const fig *f = ctx;
	figure(cr, f->runs, f->n);
}

nb_status rl_plot(const char *file, const rl_run *runs, int n, char *err,
                  size_t errn)
{
	fig f = {runs, n};
	return plot_file(file, W, H, draw, &f, err, errn);
}

#else /* !HAVE_CAIRO */

nb_status rl_plot(const char *file, const rl_run *runs, int n, char *err,
                  size_t errn)
{
	(void)runs;
	(void)n;
	return plot_file(file, 0, 0, NULL, NULL, err, errn);
}

#endif
