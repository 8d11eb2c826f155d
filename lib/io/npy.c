/*
 * npy.c - NumPy's .npy format (numpy/lib/format.py, "NEP 1"): the magic
 * "\x93NUMPY", a major and minor version byte, the header's length
 * (2 bytes little-endian in version 1.0; 4 bytes in 2.0 and 3.0, whose
 * header is UTF-8), the header - a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded
 * with spaces and a newline - then the raw elements.
 *
 * Reading parses the dict with its own small grammar (the three keys in
 * any order, either quote, any spacing, trailing commas, Python 2's 3L),
 * never by evaluating it, and checks every size against the bytes that
 * are there before allocating.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "arrays_internal.h"
#include "replace.h"

/* A parsed header. */
typedef struct npy_head {
	char order;          /* '<' little, '>' big, '|' not applicable */
	char kind;           /* 'f', 'i', 'u', 'b' */
	unsigned size;       /* bytes per element */
	bool fortran;
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	bool has_descr, has_order, has_shape;
} npy_head;

/* Where parsing stands, for messages. */
typedef struct npy_in {
	const char *p, *end;
	const char *file, *array;
} npy_in;

static bool little_endian_host(void)
{
	const uint16_t one = 1;
	return *(const unsigned char *)&one == 1;
}

/* "FILE: " or "FILE: array 'NAME': " before a message. */
static nb_status fail(const npy_in *in, nb_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static nb_status fail(const npy_in *in, nb_status st, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (in->array)
		return nb__set_error(st, "%s: array '%s': %s", in->file, in->array,
		                     msg);
	return nb__set_error(st, "%s: %s", in->file, msg);
}

static void skip_ws(npy_in *in)
{
	while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' ||
	                           *in->p == '\n' || *in->p == '\r'))
		in->p++;
}

static bool eat(npy_in *in, char c)
{
	skip_ws(in);
	if (in->p < in->end && *in->p == c) {
		in->p++;
		return true;
	}
	return false;
}

/* A quoted string without escapes into buf. */
static bool string(npy_in *in, char *buf, size_t cap)
{
	skip_ws(in);
	if (in->p >= in->end || (*in->p != '\'' && *in->p != '"'))
		return false;
	char q = *in->p++;
	size_t n = 0;
	while (in->p < in->end && *in->p != q) {
		if (*in->p == '\\' || n + 1 >= cap)
			return false;
		buf[n++] = *in->p++;
	}
	if (in->p >= in->end)
		return false;
	in->p++;
	buf[n] = '\0';
	return true;
}

static bool word(npy_in *in, const char *w)
{
	size_t n = strlen(w);
	skip_ws(in);
	if ((size_t)(in->end - in->p) < n || memcmp(in->p, w, n))
		return false;
	in->p += n;
	return true;
}

static nb_status parse_descr(npy_in *in, npy_head *h)
{
	char d[16];
	skip_ws(in);
	if (in->p < in->end && *in->p == '[')
		return fail(in, NB_EDTYPE, "a structured dtype (a record of "
		            "fields): nabla reads arrays of one numeric type");
	if (!string(in, d, sizeof d))
		return fail(in, NB_EFORMAT, "bad .npy header: 'descr' is not a "
		            "short quoted string");
	char *endp = d;
	long sz = 0;
	errno = 0;
	if (strlen(d) >= 3)
		sz = strtol(d + 2, &endp, 10);
	bool ok = strlen(d) >= 3 && strchr("<>|=", d[0]) && !*endp &&
	          d[2] >= '1' && d[2] <= '9' && !errno;
	h->order = d[0] == '=' ? (little_endian_host() ? '<' : '>') : d[0];
	h->kind = d[1];
	h->size = ok ? (unsigned)sz : 0;
	if (ok && ((h->kind == 'f' && (sz == 4 || sz == 8)) ||
	           ((h->kind == 'i' || h->kind == 'u') &&
	            (sz == 1 || sz == 2 || sz == 4 || sz == 8)) ||
	           (h->kind == 'b' && sz == 1))) {
		if (sz > 1 && h->order == '|')
			return fail(in, NB_EFORMAT, "bad .npy header: descr '%s' has "
			            "no byte order", d);
		return NB_OK;
	}
	return fail(in, NB_EDTYPE, "dtype '%s' is not one nabla reads (float32 "
	            "f4, float64 f8, integers i1..i8 and u1..u8, bool b1%s)", d,
	            ok && h->kind == 'f' && sz == 2 ? "; convert float16 with "
	            "astype(np.float32)" : "");
}

static nb_status parse_shape(npy_in *in, npy_head *h)
{
	if (!eat(in, '('))
		return fail(in, NB_EFORMAT, "bad .npy header: 'shape' is not a "
		            "tuple");
	h->ndim = 0;
	for (;;) {
		skip_ws(in);
		if (eat(in, ')'))
			return NB_OK;
		if (in->p >= in->end || *in->p < '0' || *in->p > '9')
			return fail(in, NB_EFORMAT, "bad .npy header: 'shape' holds "
			            "something other than sizes");
		uint64_t v = 0;
		while (in->p < in->end && *in->p >= '0' && *in->p <= '9') {
			uint64_t digit = (uint64_t)(*in->p++ - '0');
			if (v > ((uint64_t)INT64_MAX - digit) / 10)
				return fail(in, NB_EFORMAT, "bad .npy header: a size "
				            "in 'shape' overflows");
			v = v * 10 + digit;
		}
		if (in->p < in->end && *in->p == 'L')
			in->p++;
		if (h->ndim == NB_MAX_DIMS)
			return fail(in, NB_EFORMAT, "rank above %d, nabla's largest",
			            NB_MAX_DIMS);
		h->shape[h->ndim++] = (int64_t)v;
		if (!eat(in, ',')) {
			if (eat(in, ')'))
				return NB_OK;
			return fail(in, NB_EFORMAT, "bad .npy header: 'shape' is "
			            "not a tuple of sizes");
		}
	}
}

static nb_status parse_dict(npy_in *in, npy_head *h)
{
	if (!eat(in, '{'))
		return fail(in, NB_EFORMAT, "bad .npy header: not a dict");
	while (!eat(in, '}')) {
		nb_status st = NB_OK;
		char key[32];
		if (!string(in, key, sizeof key) || !eat(in, ':'))
			return fail(in, NB_EFORMAT, "bad .npy header: expected "
			            "'key': value");
		bool *seen = !strcmp(key, "descr") ? &h->has_descr
		           : !strcmp(key, "fortran_order") ? &h->has_order
		           : !strcmp(key, "shape") ? &h->has_shape : NULL;
		if (!seen)
			return fail(in, NB_EFORMAT, "bad .npy header: unknown key "
			            "'%s'", key);
		if (*seen)
			return fail(in, NB_EFORMAT, "bad .npy header: key '%s' "
			            "twice", key);
		*seen = true;
		if (!strcmp(key, "descr"))
			st = parse_descr(in, h);
		else if (!strcmp(key, "shape"))
			st = parse_shape(in, h);
		else if (word(in, "True"))
			h->fortran = true;
		else if (word(in, "False"))
			h->fortran = false;
		else
			st = fail(in, NB_EFORMAT, "bad .npy header: 'fortran_order' "
			          "is not True or False");
		if (st)
			return st;
		if (!eat(in, ',')) {
			if (eat(in, '}'))
				break;
			return fail(in, NB_EFORMAT, "bad .npy header: expected ',' "
			            "or '}' after '%s'", key);
		}
	}
	skip_ws(in);
	if (in->p != in->end)
		return fail(in, NB_EFORMAT, "bad .npy header: text after the "
		            "dict");
	if (!h->has_descr || !h->has_order || !h->has_shape)
		return fail(in, NB_EFORMAT, "bad .npy header: no '%s'",
		            !h->has_descr ? "descr" : !h->has_order
		            ? "fortran_order" : "shape");
	return NB_OK;
}

/* The magic, version and header length; *off gets the data's offset. */
static nb_status parse_prefix(npy_in *in, const unsigned char *b, size_t n,
                              size_t *hlen, size_t *off)
{
	if (n < 10 || memcmp(b, "\x93NUMPY", 6))
		return fail(in, NB_EFORMAT, "not a .npy file (no \\x93NUMPY "
		            "magic)");
	if (b[6] < 1 || b[6] > 3 || b[7] != 0)
		return fail(in, NB_EFORMAT, ".npy format version %u.%u (nabla "
		            "reads 1.0, 2.0 and 3.0)", b[6], b[7]);
	size_t pre = b[6] == 1 ? 10 : 12;
	if (n < pre)
		return fail(in, NB_EFORMAT, "truncated .npy header");
	*hlen = b[6] == 1 ? (size_t)b[8] | (size_t)b[9] << 8
	      : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
	        (size_t)b[11] << 24;
	if (*hlen > NB_NPY_MAX_HEADER)
		return fail(in, NB_EFORMAT, ".npy header of %zu bytes (at most "
		            "%d)", *hlen, NB_NPY_MAX_HEADER);
	if (*hlen > n - pre)
		return fail(in, NB_EFORMAT, "truncated .npy header: %zu of %zu "
		            "bytes", n - pre, *hlen);
	*off = pre + *hlen;
	return NB_OK;
}

/* Element p of h's type as raw bits, in host order. */
static uint64_t raw(const unsigned char *p, const npy_head *h)
{
	uint64_t u = 0;
	for (unsigned k = 0; k < h->size; k++)
		u |= (uint64_t)p[h->order == '>' ? h->size - 1 - k : k] << 8 * k;
	return u;
}

/* Stores element src into t at j; false (with the message) when the
 * value has no place in t's dtype. */
static bool store(const npy_in *in, nb_tensor *t, size_t j,
                  const unsigned char *src, const npy_head *h, size_t i)
{
	uint64_t u = raw(src, h);
	switch (h->kind) {
	case 'f':
		if (h->size == 4) {
			uint32_t b = (uint32_t)u;
			memcpy((float *)t->data + j, &b, 4);
		} else
			memcpy((double *)t->data + j, &u, 8);
		return true;
	case 'b':
		if (u > 1) {
			fail(in, NB_EFORMAT, "bool element %zu is byte %llu, not 0 "
			     "or 1", i, (unsigned long long)u);
			return false;
		}
		((uint8_t *)t->data)[j] = (uint8_t)u;
		return true;
	case 'u':
		if (u > (uint64_t)INT64_MAX) {
			fail(in, NB_EFORMAT, "uint64 element %zu is %llu, above "
			     "int64's largest value (nabla's integers are int64)", i,
			     (unsigned long long)u);
			return false;
		}
		((int64_t *)t->data)[j] = (int64_t)u;
		return true;
	default: {
		unsigned bits = 8 * h->size;
		if (bits < 64 && (u >> (bits - 1) & 1))
			u |= ~(uint64_t)0 << bits; /* sign extension */
		int64_t v;
		memcpy(&v, &u, 8);
		((int64_t *)t->data)[j] = v;
		return true;
	}
	}
}

/* The elements, in memory order, into t in row-major order. */
static nb_status fill(const npy_in *in, nb_tensor *t, const npy_head *h,
                      const unsigned char *data)
{
	int64_t idx[NB_MAX_DIMS] = {0}, stride[NB_MAX_DIMS];
	size_t j = 0;
	int64_t s = 1;
	for (int k = h->ndim - 1; k >= 0; k--) {
		stride[k] = s;
		s *= h->shape[k];
	}
	for (size_t i = 0; i < t->numel; i++) {
		if (!store(in, t, h->fortran ? j : i, data + i * h->size, h, i))
			return nb_last_status();
		/* Fortran order: the first index runs fastest. */
		for (int k = 0; h->fortran && k < h->ndim; k++) {
			if (++idx[k] < h->shape[k]) {
				j += (size_t)stride[k];
				break;
			}
			j -= (size_t)(stride[k] * (idx[k] - 1));
			idx[k] = 0;
		}
	}
	return NB_OK;
}

nb_tensor *nb__npy_parse(const unsigned char *b, size_t n, const char *file,
                         const char *array)
{
	npy_in in = {.file = file, .array = array};
	npy_head h = {0};
	size_t hlen = 0, off = 0;
	if (parse_prefix(&in, b, n, &hlen, &off))
		return NULL;
	in.p = (const char *)b + (off - hlen);
	in.end = (const char *)b + off;
	if (parse_dict(&in, &h))
		return NULL;
	uint64_t count = 1;
	for (int k = 0; k < h.ndim; k++) {
		if (h.shape[k] && count > (uint64_t)SIZE_MAX / h.size /
		                          (uint64_t)h.shape[k]) {
			fail(&in, NB_EFORMAT, "the shape's size overflows");
			return NULL;
		}
		count *= (uint64_t)h.shape[k];
	}
	uint64_t bytes = count * h.size;
	if (n - off < bytes) {
		char sh[128];
		fail(&in, NB_EFORMAT, "truncated data: %zu of the %llu bytes "
		     "that shape %s needs", n - off, (unsigned long long)bytes,
		     nb_shape_str(h.ndim, h.shape, sh, sizeof sh));
		return NULL;
	}
	if (n - off > bytes) {
		fail(&in, NB_EFORMAT, "%llu bytes after the data",
		     (unsigned long long)(n - off - bytes));
		return NULL;
	}
	nb_dtype dt = h.kind == 'f' ? (h.size == 4 ? NB_F32 : NB_F64)
	            : h.kind == 'b' ? NB_BOOL : NB_I64;
	nb_tensor *t = nb_tensor_zeros(dt, h.ndim, h.shape);
	if (!t) {
		fail(&in, nb_last_status(), "%s", nb_last_error());
		return NULL;
	}
	if (fill(&in, t, &h, b + off)) {
		nb_tensor_free(t);
		return NULL;
	}
	return t;
}

nb_status nb__read_whole(const char *path, unsigned char **buf, size_t *n)
{
	struct stat sb;
	unsigned char *b = NULL;
	size_t cap = 0, k = 0;
	*buf = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nb__set_error(NB_EIO, "%s: %s", path, strerror(errno));
	if (!fstat(fd, &sb) && S_ISDIR(sb.st_mode)) {
		close(fd);
		return nb__set_error(NB_EIO, "%s: is a directory", path);
	}
	for (;;) {
		if (k + 1 >= cap) {
			size_t c = cap ? cap * 2 : 1 << 16;
			unsigned char *nb = c > cap ? nb__realloc(b, c) : NULL;
			if (!nb) {
				nb__free(b);
				close(fd);
				return nb__set_error(NB_ENOMEM, "%s: out of memory "
				                     "reading %zu bytes", path, k);
			}
			b = nb;
			cap = c;
		}
		ssize_t r = read(fd, b + k, cap - k - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			nb_status st = nb__set_error(NB_EIO, "%s: %s", path,
			                             strerror(errno));
			nb__free(b);
			close(fd);
			return st;
		}
		if (r == 0)
			break;
		k += (size_t)r;
	}
	close(fd);
	b[k] = '\0';
	*buf = b;
	*n = k;
	return NB_OK;
}

nb_tensor *nb_npy_load(const char *path)
{
	unsigned char *b;
	size_t n;
	if (!path) {
		nb__set_error(NB_EINVAL, "npy: path is NULL");
		return NULL;
	}
	if (nb__read_whole(path, &b, &n))
		return NULL;
	nb_tensor *t = nb__npy_parse(b, n, path, NULL);
	nb__free(b);
	return t;
}

unsigned char *nb__npy_header(const nb_tensor *t, size_t *len)
{
	static const char *const descr[] = {"<f4", "<f8", "<i8", "|b1"};
	char dict[400];
	int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': "
	                 "False, 'shape': (", descr[t->dtype]);
	for (int i = 0; i < t->ndim; i++)
		k += snprintf(dict + k, sizeof dict - (size_t)k, "%s%lld",
		              i ? ", " : "", (long long)t->shape[i]);
	k += snprintf(dict + k, sizeof dict - (size_t)k, "%s), }",
	              t->ndim == 1 ? "," : "");
	/* Padded with spaces and a newline to a multiple of 64 bytes. */
	size_t pre = 10, total = (pre + (size_t)k + 1 + 63) / 64 * 64;
	unsigned char *h = nb__malloc(total);
	if (!h)
		return NULL;
	size_t hl = total - pre;
	memcpy(h, "\x93NUMPY\x01\x00", 8);
	h[8] = (unsigned char)(hl & 0xff);
	h[9] = (unsigned char)(hl >> 8);
	memcpy(h + pre, dict, (size_t)k);
	memset(h + pre + k, ' ', hl - (size_t)k - 1);
	h[total - 1] = '\n';
	*len = total;
	return h;
}

const void *nb__npy_data(const nb_tensor *t, void **copy)
{
	*copy = NULL;
	size_t sz = nb_dtype_size(t->dtype);
	if (little_endian_host() || sz == 1)
		return t->data;
	unsigned char *c = nb__malloc(t->numel * sz + 1);
	if (!c)
		return NULL;
	const unsigned char *s = t->data;
	for (size_t i = 0; i < t->numel; i++)
		for (size_t b = 0; b < sz; b++)
			c[i * sz + b] = s[i * sz + sz - 1 - b];
	*copy = c;
	return c;
}

nb_status nb_npy_save(const char *path, const nb_tensor *t)
{
	if (!path || !t)
		return nb__set_error(NB_EINVAL, "npy: %s is NULL",
		                     path ? "the tensor" : "path");
	nb__replace s = {.path = path, .fd = -1};
	size_t hl;
	void *copy = NULL;
	unsigned char *h = NULL;
	const void *data = NULL;
	nb_status st = nb__replace_check(&s);
	if (!st && (!(h = nb__npy_header(t, &hl)) ||
	            !(data = nb__npy_data(t, &copy))))
		st = nb__set_error(NB_ENOMEM, "%s: out of memory", path);
	if (!st)
		st = nb__replace_open(&s);
	if (!st && (!nb__write_all(s.fd, h, hl) ||
	            !nb__write_all(s.fd, data, t->numel *
	                           nb_dtype_size(t->dtype))))
		st = nb__set_error(NB_EIO, "%s: cannot save: writing %s: %s",
		                   path, s.tmp, strerror(errno));
	if (!st)
		st = nb__replace_commit(&s);
	nb__replace_end(&s);
	nb__free(h);
	nb__free(copy);
	return st;
}
