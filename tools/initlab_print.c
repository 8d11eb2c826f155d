/*
 * initlab_print.c - the study's tables, sparklines and JSON.
 */
#include <math.h>
#include <string.h>
#include "cli.h"
#include "initlab.h"

void il_sparkline(FILE *f, const il_layer *L, bool ascii)
{
	static const char *const blocks[] = {" ", "\u2581", "\u2582", "\u2583",
	                                     "\u2584", "\u2585", "\u2586",
	                                     "\u2587", "\u2588"};
	static const char ramp[] = " .:-=+*#%@";
	uint64_t bins[IL_SPARK_BINS] = {0};
	int per = IL_BINS / IL_SPARK_BINS, levels = ascii ? 9 : 8;
	int zb = L->zero_bin >= 0 ? L->zero_bin / per : -1;
	for (int i = 0; i < IL_BINS; i++)
		bins[i / per] += L->hist[i];
	/* The same scale as the plot, on bins 3 times as wide. */
	double max = 0;
	for (int i = 0; i < IL_SPARK_BINS; i++)
		if (i != zb && (double)bins[i] > max)
			max = (double)bins[i];
	for (int i = 0; i < IL_SPARK_BINS; i++) {
		/* Any non-empty bin shows at least the lowest mark. */
		int k = !bins[i] ? 0 : i == zb || !(max > 0) ? levels
		      : (int)ceil((double)bins[i] / max * levels);
		k = k > levels ? levels : k;
		fputs(ascii ? (char[2]){ramp[k], 0} : blocks[k], f);
	}
}

/* A number for a table: "-" for NAN. */
static void cell(FILE *f, const char *fmt, int width, double v)
{
	if (isnan(v))
		fprintf(f, "%*s", width, "-");
	else
		fprintf(f, fmt, width, v);
}

static void print_sizes(FILE *f, const il_config *c, const char *sep)
{
	for (int i = 0; i <= c->n_layers; i++)
		fprintf(f, "%s%lld", i ? sep : "", (long long)c->sizes[i]);
}

static void print_header(FILE *f, const il_config *c)
{
	fprintf(f, "batch %lld, sizes ", (long long)c->batch);
	print_sizes(f, c, "-");
	fprintf(f, ", norm %s, %s, seed %llu\n", il_norm_name(c->norm),
	        nb_dtype_name(c->dtype), (unsigned long long)c->seed);
}

void il_print_run(FILE *f, const il_run *r, bool ascii)
{
	fprintf(f, "initlab: act %s, init %s, ", r->cfg.act, r->cfg.init);
	print_header(f, &r->cfg);
	fprintf(f, "loss sum(a_L^2)/(2*batch) = %.6g\n\n", r->loss);
	fprintf(f, "%5s %11s %10s %9s %6s %6s %6s %10s %9s  %s\n", "LAYER",
	        "IN->OUT", "MEAN", "STD", "SAT%", "ZERO%", "DEAD%", "|dL/dW|",
	        "RATIO", "HISTOGRAM");
	for (int i = 0; i < r->n_layers; i++) {
		const il_layer *L = &r->layer[i];
		char io[32];
		snprintf(io, sizeof io, "%lld->%lld", (long long)L->in,
		         (long long)L->out);
		fprintf(f, "%5d %11s %10.3g %9.3g ", i + 1, io, L->mean, L->std);
		cell(f, "%*.1f", 6, L->saturated);
		fprintf(f, " %6.1f %6.1f %10.3g %9.3g  %-8.2g|", L->zero, L->dead,
		        L->grad_norm, L->grad_ratio, L->lo);
		il_sparkline(f, L, ascii);
		fprintf(f, "|%.2g\n", L->hi);
	}
	fprintf(f, "\nverdict: %s (%s)\n", r->verdict, r->why);
}

void il_print_compare(FILE *f, const il_run *runs, int n)
{
	fprintf(f, "initlab --compare: ");
	print_header(f, &runs[0].cfg);
	fprintf(f, "\n%-22s %8s %9s %9s %6s %6s %9s %9s  %s\n", "CASE",
	        "STD 1ST", "STD LAST", "LAST/1ST", "SAT%", "ZERO%", "|dW| LAST",
	        "GRAD 1/L", "VERDICT");
	for (int i = 0; i < n; i++) {
		const il_run *r = &runs[i];
		const il_layer *l = &r->layer[r->n_layers - 1];
		fprintf(f, "%-22s %8.3g %9.3g %9.3g ", r->name, r->layer[0].std,
		        l->std, r->std_ratio);
		cell(f, "%*.1f", 6, r->last_saturated);
		fprintf(f, " %6.1f %9.3g %9.3g  %s\n", l->zero, l->grad_norm,
		        r->grad_spread, r->verdict);
	}
	fprintf(f, "\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "%-22s act %s, init %s: %s\n", runs[i].name,
		        runs[i].cfg.act, runs[i].cfg.init, runs[i].why);
	fprintf(f, "(SAT%%, ZERO%% and |dW| of the last layer; GRAD 1/L = "
	        "|dL/dW_1| / |dL/dW_last|)\n");
}

/* ---- JSON ---- */

static void jnum(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.9g", v);
	else
		fputs("null", f);
}

static void json_layer(FILE *f, const il_layer *L, int i)
{
	fprintf(f, "{\"layer\": %d, \"in\": %lld, \"out\": %lld", i + 1,
	        (long long)L->in, (long long)L->out);
	static const char *const keys[] = {
		"pre_mean", "pre_std", "mean", "std", "saturated_pct",
		"zero_pct", "dead_pct", "grad_norm", "grad_ratio",
	};
	const double vals[] = {L->pre_mean, L->pre_std, L->mean, L->std,
	                       L->saturated, L->zero, L->dead, L->grad_norm,
	                       L->grad_ratio};
	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
		fprintf(f, ", \"%s\": ", keys[k]);
		jnum(f, vals[k]);
	}
	fprintf(f, ", \"hist\": {\"lo\": ");
	jnum(f, L->lo);
	fprintf(f, ", \"hi\": ");
	jnum(f, L->hi);
	fprintf(f, ", \"counts\": [");
	for (int b = 0; b < IL_BINS; b++)
		fprintf(f, "%s%llu", b ? ", " : "", (unsigned long long)L->hist[b]);
	fprintf(f, "]}}");
}

static void json_run(FILE *f, const il_run *r)
{
	fprintf(f, "{\"name\": ");
	cli_json_str(f, r->name);
	fprintf(f, ", \"act\": ");
	cli_json_str(f, r->cfg.act);
	fprintf(f, ", \"init\": ");
	cli_json_str(f, r->cfg.init);
	fprintf(f, ", \"bounded\": %s, \"loss\": ",
	        r->bounded ? "true" : "false");
	jnum(f, r->loss);
	fprintf(f, ",\n    \"layers\": [");
	for (int i = 0; i < r->n_layers; i++) {
		fprintf(f, "%s\n      ", i ? "," : "");
		json_layer(f, &r->layer[i], i);
	}
	fprintf(f, "],\n    \"summary\": {\"std_ratio\": ");
	jnum(f, r->std_ratio);
	fprintf(f, ", \"grad_ratio_first_last\": ");
	jnum(f, r->grad_spread);
	fprintf(f, ", \"last_saturated_pct\": ");
	jnum(f, r->last_saturated);
	fprintf(f, ", \"verdict\": ");
	cli_json_str(f, r->verdict);
	fprintf(f, ", \"reason\": ");
	cli_json_str(f, r->why);
	fprintf(f, "}}");
}

void il_print_json(FILE *f, const il_run *runs, int n, bool compare)
{
	const il_config *c = &runs[0].cfg;
	fprintf(f, "{\"mode\": \"%s\", \"config\": {\"batch\": %lld, "
	        "\"sizes\": [", compare ? "compare" : "run",
	        (long long)c->batch);
	print_sizes(f, c, ", ");
	fprintf(f, "], \"norm\": \"%s\", \"dtype\": \"%s\", \"seed\": %llu, "
	        "\"loss\": \"sum(a_L^2) / (2 * batch)\"},\n  \"runs\": [",
	        il_norm_name(c->norm), nb_dtype_name(c->dtype),
	        (unsigned long long)c->seed);
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s\n  ", i ? "," : "");
		json_run(f, &runs[i]);
	}
	fprintf(f, "]}\n");
}
