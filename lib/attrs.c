/*
 * attrs.c - typed op attributes: defaults, parsing from "key=value"
 * strings, range checks and formatting.  The attribute table of an op
 * (nb_attr_def) says where each value lives in the op's struct.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"

#define FIELD(buf, d, T) ((T *)((unsigned char *)(buf) + (d)->offset))
#define CFIELD(buf, d, T) \
	((const T *)((const unsigned char *)(buf) + (d)->offset))

static void set_default(const nb_attr_def *d, void *buf)
{
	switch (d->type) {
	case NB_ATTR_INT: *FIELD(buf, d, int64_t) = (int64_t)d->def; break;
	case NB_ATTR_FLOAT: *FIELD(buf, d, double) = d->def; break;
	case NB_ATTR_BOOL: *FIELD(buf, d, bool) = d->def != 0; break;
	case NB_ATTR_ENUM: *FIELD(buf, d, int) = (int)d->def; break;
	case NB_ATTR_INTS: memset(FIELD(buf, d, nb_ints), 0, sizeof(nb_ints));
		break;
	}
}

/* Index of word (length n) among '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *w, size_t n)
{
	int i = 0;
	for (const char *s = choices; s && *s; i++) {
		size_t len = strcspn(s, "|");
		if (len == n && !strncmp(s, w, n))
			return i;
		s += len;
		if (*s == '|')
			s++;
	}
	return -1;
}

static nb_status bad_value(const nb_op *op, const nb_attr_def *d,
                           const char *v, size_t n, const char *want)
{
	return nb__set_error(NB_EINVAL, "%s: attribute '%s' takes %s, not "
	                     "'%.*s'", op->name, d->name, want, (int)n, v);
}

static bool parse_int(const char *v, size_t n, int64_t *out)
{
	char tmp[40];
	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	char *end;
	errno = 0;
	long long x = strtoll(tmp, &end, 10);
	if (errno || *end)
		return false;
	*out = x;
	return true;
}

static nb_status parse_value(const nb_op *op, const nb_attr_def *d,
                             const char *v, size_t n, void *buf)
{
	char tmp[64];
	int64_t iv;
	switch (d->type) {
	case NB_ATTR_INT:
		if (!parse_int(v, n, &iv))
			return bad_value(op, d, v, n, "an integer");
		*FIELD(buf, d, int64_t) = iv;
		return NB_OK;
	case NB_ATTR_FLOAT: {
		if ((d->flags & NB_ATTR_NULLABLE) && n == 4 &&
		    !strncmp(v, "none", 4)) {
			*FIELD(buf, d, double) = NAN;
			return NB_OK;
		}
		if (n == 0 || n >= sizeof tmp)
			return bad_value(op, d, v, n, "a number");
		memcpy(tmp, v, n);
		tmp[n] = '\0';
		char *end;
		double x = strtod(tmp, &end);
		if (*end || isnan(x))
			return bad_value(op, d, v, n, "a number");
		*FIELD(buf, d, double) = x;
		return NB_OK;
	}
	case NB_ATTR_BOOL: {
		int k = choice_index("0|1|false|true|no|yes|off|on", v, n);
		if (k < 0)
			return bad_value(op, d, v, n, "a boolean (0/1)");
		*FIELD(buf, d, bool) = k & 1;
		return NB_OK;
	}
	case NB_ATTR_ENUM: {
		int k = choice_index(d->choices, v, n);
		if (k < 0) {
			char want[128];
			snprintf(want, sizeof want, "one of %s", d->choices);
			return bad_value(op, d, v, n, want);
		}
		*FIELD(buf, d, int) = k;
		return NB_OK;
	}
	case NB_ATTR_INTS: {
		nb_ints *l = FIELD(buf, d, nb_ints);
		l->n = 0;
		if (n && *v == '[' && v[n - 1] == ']') {
			v++;
			n -= 2;
		}
		while (n) {
			size_t len = 0;
			while (len < n && v[len] != ',')
				len++;
			if (l->n == NB_MAX_DIMS || !parse_int(v, len, &iv))
				return bad_value(op, d, v, n,
				                 "up to 8 comma-separated integers");
			l->v[l->n++] = iv;
			v += len;
			n -= len;
			if (n) {
				v++;
				n--;
			}
		}
		return NB_OK;
	}
	}
	return NB_EINVAL;
}

static const nb_attr_def *find_attr(const nb_op *op, const char *k, size_t n)
{
	for (int i = 0; i < op->n_attrs; i++)
		if (strlen(op->attrs[i].name) == n &&
		    !strncmp(op->attrs[i].name, k, n))
			return &op->attrs[i];
	return NULL;
}

static nb_status unknown_attr(const nb_op *op, const char *k, size_t n)
{
	char list[256] = "";
	size_t len = 0;
	for (int i = 0; i < op->n_attrs && len < sizeof list; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
		                        i ? ", " : "", op->attrs[i].name);
	return nb__set_error(NB_ENOTFOUND, "%s: no attribute '%.*s' (%s%s)",
	                     op->name, (int)n, k,
	                     op->n_attrs ? "attributes: " : "it takes none",
	                     list);
}

void nb__attrs_defaults(const nb_op *op, void *buf)
{
	if (op->attrs_size)
		memset(buf, 0, op->attrs_size);
	for (int i = 0; i < op->n_attrs; i++)
		set_default(&op->attrs[i], buf);
}

nb_status nb_attrs_parse(const nb_op *op, const char *s, void *buf)
{
	if (!op || !buf)
		return nb__set_error(NB_EINVAL, "attrs_parse: %s is NULL",
		                     op ? "buffer" : "op");
	nb__attrs_defaults(op, buf);
	while (s && *s) {
		s += strspn(s, " \t\n;");
		size_t len = strcspn(s, " \t\n;");
		if (!len)
			break;
		const char *eq = memchr(s, '=', len);
		if (!eq)
			return nb__set_error(NB_EFORMAT, "%s: attribute '%.*s' "
			    "needs a value (key=value)", op->name, (int)len, s);
		const nb_attr_def *d = find_attr(op, s, (size_t)(eq - s));
		if (!d)
			return unknown_attr(op, s, (size_t)(eq - s));
		nb_status st = parse_value(op, d, eq + 1,
		                           len - (size_t)(eq - s) - 1, buf);
		if (st)
			return st;
		s += len;
	}
	return nb_attrs_check(op, buf);
}

nb_status nb_attrs_check(const nb_op *op, const void *buf)
{
	if (!op || !buf)
		return nb__set_error(NB_EINVAL, "attrs_check: %s is NULL",
		                     op ? "buffer" : "op");
	for (int i = 0; i < op->n_attrs; i++) {
		const nb_attr_def *d = &op->attrs[i];
		double v;
		if (d->type == NB_ATTR_INT)
			v = (double)*CFIELD(buf, d, int64_t);
		else if (d->type == NB_ATTR_FLOAT)
			v = *CFIELD(buf, d, double);
		else if (d->type == NB_ATTR_ENUM) {
			int k = *CFIELD(buf, d, int);
			int count = 1;
			for (const char *p = d->choices; *p; p++)
				count += *p == '|';
			if (k < 0 || k >= count)
				return nb__set_error(NB_EINVAL, "%s: attribute '%s' "
				    "has no choice %d (%s)", op->name, d->name, k,
				    d->choices);
			continue;
		} else if (d->type == NB_ATTR_INTS) {
			int n = CFIELD(buf, d, nb_ints)->n;
			if (n < 0 || n > NB_MAX_DIMS)
				return nb__set_error(NB_EINVAL, "%s: attribute '%s' "
				    "has %d values (0..%d)", op->name, d->name, n,
				    NB_MAX_DIMS);
			continue;
		} else {
			continue;
		}
		if (isnan(v) && (d->flags & NB_ATTR_NULLABLE))
			continue;
		if (isnan(v))
			return nb__set_error(NB_EINVAL, "%s: attribute '%s' is "
			    "NaN", op->name, d->name);
		const nb_range *r = &d->range;
		bool lo = (r->bounds & NB_RANGE_MIN) && v < r->min;
		bool hi = (r->bounds & NB_RANGE_MAX) && v > r->max;
		if (lo || hi)
			return nb__set_error(NB_EINVAL, "%s: attribute '%s' = %g "
			    "is outside [%g, %g]", op->name, d->name, v,
			    r->bounds & NB_RANGE_MIN ? r->min : -HUGE_VAL,
			    r->bounds & NB_RANGE_MAX ? r->max : HUGE_VAL);
	}
	char why[256] = "";
	if (op->check && !op->check(buf, why, sizeof why))
		return nb__set_error(NB_EINVAL, "%s: %s", op->name,
		                     why[0] ? why : "attributes do not fit");
	return NB_OK;
}

/* The shortest "%.*g" form of v that strtod reads back exactly (at
 * most 17 digits), so that formatted attributes parse to the same
 * values: 0.1 stays "0.1", 1/3 needs all 17 digits. */
static void format_double(double v, char *out, size_t n)
{
	for (int p = 6; p <= 17; p++) {
		snprintf(out, n, "%.*g", p, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static size_t format_one(const nb_attr_def *d, const void *buf, char *out,
                         size_t n)
{
	switch (d->type) {
	case NB_ATTR_INT:
		return (size_t)snprintf(out, n, "%s=%lld", d->name,
		                        (long long)*CFIELD(buf, d, int64_t));
	case NB_ATTR_FLOAT: {
		double v = *CFIELD(buf, d, double);
		char num[32];
		if (isnan(v))
			return (size_t)snprintf(out, n, "%s=none", d->name);
		format_double(v, num, sizeof num);
		return (size_t)snprintf(out, n, "%s=%s", d->name, num);
	}
	case NB_ATTR_BOOL:
		return (size_t)snprintf(out, n, "%s=%d", d->name,
		                        *CFIELD(buf, d, bool) ? 1 : 0);
	case NB_ATTR_ENUM: {
		int k = *CFIELD(buf, d, int);
		const char *s = d->choices;
		for (int i = 0; i < k && s; i++) {
			s = strchr(s, '|');
			if (s)
				s++;
		}
		if (!s)
			s = "?";
		return (size_t)snprintf(out, n, "%s=%.*s", d->name,
		                        (int)strcspn(s, "|"), s);
	}
	case NB_ATTR_INTS: {
		const nb_ints *l = CFIELD(buf, d, nb_ints);
		size_t k = (size_t)snprintf(out, n, "%s=", d->name);
		for (int i = 0; i < l->n && k < n; i++)
			k += (size_t)snprintf(out + k, n - k, i ? ",%lld" : "%lld",
			                      (long long)l->v[i]);
		return k;
	}
	}
	return 0;
}

static bool is_default(const nb_attr_def *d, const void *buf)
{
	switch (d->type) {
	case NB_ATTR_INT: return *CFIELD(buf, d, int64_t) == (int64_t)d->def;
	case NB_ATTR_FLOAT: {
		double v = *CFIELD(buf, d, double);
		return v == d->def || (isnan(v) && isnan(d->def));
	}
	case NB_ATTR_BOOL: return *CFIELD(buf, d, bool) == (d->def != 0);
	case NB_ATTR_ENUM: return *CFIELD(buf, d, int) == (int)d->def;
	case NB_ATTR_INTS: return CFIELD(buf, d, nb_ints)->n == 0;
	}
	return true;
}

char *nb_attrs_format(const nb_op *op, const void *buf, bool all, char *out,
                      size_t n)
{
	size_t k = 0;
	if (!out)
		return NULL;
	if (n)
		out[0] = '\0';
	for (int i = 0; op && buf && i < op->n_attrs && k + 1 < n; i++) {
		const nb_attr_def *d = &op->attrs[i];
		if (!all && is_default(d, buf))
			continue;
		if (k)
			out[k++] = ' ';
		k += format_one(d, buf, out + k, n - k);
	}
	if (k >= n && n)
		out[n - 1] = '\0';
	return out;
}
