/*
 * csv.c - numeric CSV files with a header line (RFC 4180 quoting), as
 * NumPy's savetxt(..., delimiter=",", header=..., comments="") and
 * pandas' to_csv(index=False) write them.
 *
 * One pass over the file held in memory: the header's fields become the
 * column names; every other non-empty line must have as many fields, each
 * a number.  Numbers are read with strtod in the "C" locale (whatever
 * the program's locale), after a check of their spelling, so that "0x1p3",
 * "1,5" or "nan(123)" are refused rather than half read.
 */
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include "arrays_internal.h"

typedef struct csv_in {
	const char *p, *end, *line_start;
	const char *path;
	long line;
	char *cell;      /* the current field, unquoted */
	size_t cell_cap;
} csv_in;

typedef struct csv_out {
	double *v;
	size_t n, cap;
	char **names;
	size_t cols;
} csv_out;

void nb_csv_columns_free(char **columns)
{
	if (!columns)
		return;
	for (char **c = columns; *c; c++)
		nb__free(*c);
	nb__free(columns);
}

static bool at_eol(const csv_in *in)
{
	return in->p >= in->end || *in->p == '\n' ||
	       (*in->p == '\r' && (in->p + 1 >= in->end || in->p[1] == '\n'));
}

static void skip_eol(csv_in *in)
{
	if (in->p < in->end && *in->p == '\r')
		in->p++;
	if (in->p < in->end && *in->p == '\n')
		in->p++;
	in->line++;
	in->line_start = in->p;
}

static nb_status put(csv_in *in, size_t *k, char c)
{
	if (*k + 1 >= in->cell_cap) {
		size_t cap = in->cell_cap ? in->cell_cap * 2 : 64;
		char *b = nb__realloc(in->cell, cap);
		if (!b)
			return nb__set_error(NB_ENOMEM, "%s: out of memory", in->path);
		in->cell = b;
		in->cell_cap = cap;
	}
	in->cell[(*k)++] = c;
	return NB_OK;
}

/* One field into in->cell; *col gets its column (1-based). */
static nb_status field(csv_in *in, long *col)
{
	size_t k = 0;
	nb_status st = NB_OK;
	*col = (long)(in->p - in->line_start) + 1;
	if (in->p < in->end && *in->p == '"') {
		long line = in->line;
		in->p++;
		for (;;) {
			if (in->p >= in->end)
				return nb__set_error(NB_EFORMAT, "%s:%ld:%ld: a quote "
				                     "that is never closed", in->path,
				                     line, *col);
			char c = *in->p++;
			if (c == '"' && in->p < in->end && *in->p == '"')
				in->p++;
			else if (c == '"')
				break;
			else if (c == '\n') {
				in->line++;
				in->line_start = in->p;
			}
			if ((st = put(in, &k, c)))
				return st;
		}
		while (in->p < in->end && (*in->p == ' ' || *in->p == '\t'))
			in->p++;
		if (!at_eol(in) && *in->p != ',')
			return nb__set_error(NB_EFORMAT, "%s:%ld:%ld: text after a "
			                     "closing quote", in->path, in->line,
			                     (long)(in->p - in->line_start) + 1);
	} else
		while (!at_eol(in) && *in->p != ',')
			if ((st = put(in, &k, *in->p++)))
				return st;
	if (!k && (st = put(in, &k, '\0')))
		return st;
	in->cell[k] = '\0';
	return NB_OK;
}

/* Whether s (trimmed) is spelled as a number nabla reads. */
static bool numeric(const char *s)
{
	static const char *const words[] = {"nan", "inf", "infinity"};
	const char *p = s + (*s == '+' || *s == '-');
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		if (!strcasecmp(p, words[i]))
			return true;
	size_t digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return !*p;
}

/* in->cell as a number; an empty cell is NaN. */
static nb_status number(csv_in *in, const csv_out *o, size_t c, long col,
                        double *v)
{
	char *s = in->cell, *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	if (!*s) {
		*v = NAN;
		return NB_OK;
	}
	if (numeric(s)) {
		*v = strtod(s, &e);
		if (!*e)
			return NB_OK;
	}
	return nb__set_error(NB_EFORMAT, "%s:%ld:%ld: column '%s': '%.40s%s' "
	                     "is not a number", in->path, in->line, col,
	                     o->names[c], s, strlen(s) > 40 ? "..." : "");
}

static nb_status header(csv_in *in, csv_out *o)
{
	size_t cap = 0;
	long col;
	nb_status st;
	if (in->end - in->p >= 3 && !memcmp(in->p, "\xef\xbb\xbf", 3))
		in->p += 3; /* a UTF-8 byte-order mark */
	in->line_start = in->p;
	if (in->p >= in->end)
		return nb__set_error(NB_EFORMAT, "%s: empty: no header line",
		                     in->path);
	for (;;) {
		if ((st = field(in, &col)))
			return st;
		if (o->cols + 1 >= cap) {
			size_t c = cap ? cap * 2 : 16;
			char **b = nb__realloc(o->names, c * sizeof *b);
			if (!b)
				return nb__set_error(NB_ENOMEM, "%s: out of memory",
				                     in->path);
			o->names = b;
			cap = c;
		}
		o->names[o->cols + 1] = NULL;
		if (!(o->names[o->cols] = nb__strdup(in->cell)))
			return nb__set_error(NB_ENOMEM, "%s: out of memory", in->path);
		o->cols++;
		if (at_eol(in))
			break;
		in->p++; /* ',' */
	}
	skip_eol(in);
	return NB_OK;
}

static nb_status row(csv_in *in, csv_out *o)
{
	long col;
	nb_status st;
	for (size_t c = 0;; c++) {
		if (c == o->cols)
			return nb__set_error(NB_EFORMAT, "%s:%ld:%ld: more than the "
			                     "header's %zu fields", in->path,
			                     in->line,
			                     (long)(in->p - in->line_start) + 1,
			                     o->cols);
		if ((st = field(in, &col)))
			return st;
		if (o->n == o->cap) {
			size_t cap = o->cap ? o->cap * 2 : 1024;
			double *b = cap > o->cap && cap < SIZE_MAX / sizeof *b
			          ? nb__realloc(o->v, cap * sizeof *b) : NULL;
			if (!b)
				return nb__set_error(NB_ENOMEM, "%s: out of memory",
				                     in->path);
			o->v = b;
			o->cap = cap;
		}
		if ((st = number(in, o, c, col, &o->v[o->n])))
			return st;
		o->n++;
		if (at_eol(in)) {
			if (c + 1 < o->cols)
				return nb__set_error(NB_EFORMAT, "%s:%ld:%ld: %zu "
				                     "fields, the header has %zu (no "
				                     "column '%s')", in->path, in->line,
				                     (long)(in->p - in->line_start) + 1,
				                     c + 1, o->cols, o->names[c + 1]);
			skip_eol(in);
			return NB_OK;
		}
		in->p++; /* ',' */
	}
}

static nb_status parse(csv_in *in, csv_out *o)
{
	nb_status st = header(in, o);
	while (!st && in->p < in->end) {
		if (at_eol(in)) { /* an empty line */
			skip_eol(in);
			continue;
		}
		st = row(in, o);
	}
	return st;
}

nb_tensor *nb_csv_load(const char *path, nb_dtype dt, char ***columns)
{
	unsigned char *b = NULL;
	size_t n;
	nb_tensor *t = NULL;
	if (columns)
		*columns = NULL;
	if (!path || (dt != NB_F32 && dt != NB_F64)) {
		nb__set_error(NB_EINVAL, "csv: %s", path ? "the dtype must be "
		              "float32 or float64" : "path is NULL");
		return NULL;
	}
	if (nb__read_whole(path, &b, &n))
		return NULL;
	csv_in in = {.p = (const char *)b, .end = (const char *)b + n,
	             .path = path, .line = 1};
	csv_out o = {0};
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	locale_t old = c ? uselocale(c) : (locale_t)0;
	nb_status st = c ? parse(&in, &o)
	             : nb__set_error(NB_ENOMEM, "%s: out of memory", path);
	if (c) {
		uselocale(old);
		freelocale(c);
	}
	if (!st) {
		int64_t shape[2] = {(int64_t)(o.cols ? o.n / o.cols : 0),
		                    (int64_t)o.cols};
		if ((t = nb_tensor_zeros(dt, 2, shape)))
			for (size_t i = 0; i < o.n; i++)
				nb_tensor_set(t, i, o.v[i]);
	}
	if (t && columns) {
		*columns = o.names;
		o.names = NULL;
	}
	nb_csv_columns_free(o.names);
	nb__free(o.v);
	nb__free(in.cell);
	nb__free(b);
	return t;
}
