/*
 * safetensors.c - reading and writing the safetensors format, and
 * saving and loading modules with it.
 *
 * Every number read from a file is distrusted: the header length is
 * bounded by the file size and NB_SAFETENSORS_MAX_HEADER before anything
 * is allocated; shapes are checked for rank and overflow; data offsets
 * must tile the data section exactly (sorted, contiguous, no gap, no
 * overlap, ending at the end of the file) and match dtype size * numel,
 * so a later read can never leave the file or the tensor.
 */
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "internal.h"
#include "../nn/optim_internal.h"
#include "replace.h"

typedef struct entry {
	char *name;
	char dtype[8];       /* the file's string */
	int known;           /* 1 if dtype maps to an nb_dtype */
	nb_dtype dt;
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	uint64_t begin, end; /* within the data section */
} entry;

struct nb_safetensors {
	FILE *fp;
	char *path;
	uint64_t data_start;
	entry *e;
	size_t n;
	char **meta;         /* key, value, key, value... */
	size_t n_meta;
};

/* dtype strings of the format and their sizes; nabla reads the first 4. */
static const struct {
	const char *name;
	unsigned size;
	nb_dtype dt;
} dtypes[] = {
	{"F32", 4, NB_F32}, {"F64", 8, NB_F64}, {"I64", 8, NB_I64},
	{"BOOL", 1, NB_BOOL}, {"F16", 2, 0}, {"BF16", 2, 0}, {"I32", 4, 0}, {"I16", 2, 0},
	{"I8", 1, 0}, {"U8", 1, 0}, {"U16", 2, 0}, {"U32", 4, 0},
	{"U64", 8, 0}, {"F8_E4M3", 1, 0}, {"F8_E5M2", 1, 0},
};
#define N_KNOWN 4

static const char *dtype_str(nb_dtype dt)
{
	return dt == NB_F32 ? "F32" : dt == NB_F64 ? "F64"
	     : dt == NB_BOOL ? "BOOL" : "I64";
}

static bool little_endian(void)
{
	const uint16_t x = 1;
	return *(const unsigned char *)&x == 1;
}

/* Reverses the bytes of each of n elements of size sz (big-endian
 * hosts only: the format is little-endian). */
static void swap_bytes(void *p, size_t n, size_t sz)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++, b += sz)
		for (size_t j = 0; j < sz / 2; j++) {
			unsigned char t = b[j];
			b[j] = b[sz - 1 - j];
			b[sz - 1 - j] = t;
		}
}

static nb_status bad(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static nb_status bad(const char *path, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return nb__set_error(NB_EFORMAT, "%s: not a valid safetensors file: %s",
	                     path, msg);
}

void nb_safetensors_close(nb_safetensors *f)
{
	if (!f)
		return;
	if (f->fp)
		fclose(f->fp);
	for (size_t i = 0; i < f->n; i++)
		nb__free(f->e[i].name);
	for (size_t i = 0; i < 2 * f->n_meta; i++)
		nb__free(f->meta[i]);
	nb__free(f->meta);
	nb__free(f->e);
	nb__free(f->path);
	nb__free(f);
}

static nb_status parse_meta(nb_safetensors *f, json_t *obj)
{
	const char *k;
	json_t *v;
	if (!json_is_object(obj))
		return bad(f->path, "__metadata__ is not an object");
	f->meta = nb__calloc(2 * json_object_size(obj) + 1, sizeof *f->meta);
	if (!f->meta)
		return nb__set_error(NB_ENOMEM, "%s: out of memory", f->path);
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v))
			return bad(f->path, "__metadata__ value '%s' is not a "
			           "string", k);
		char *kk = nb__strdup(k), *vv = nb__strdup(json_string_value(v));
		f->meta[2 * f->n_meta] = kk;
		f->meta[2 * f->n_meta + 1] = vv;
		f->n_meta++;
		if (!kk || !vv)
			return nb__set_error(NB_ENOMEM, "%s: out of memory",
			                     f->path);
	}
	return NB_OK;
}

/* A non-negative JSON integer up to 2^62. */
static bool get_uint(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)1 << 62)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static nb_status parse_entry(nb_safetensors *f, const char *name, json_t *o,
                             entry *e)
{
	json_t *dt = json_object_get(o, "dtype");
	json_t *sh = json_object_get(o, "shape");
	json_t *off = json_object_get(o, "data_offsets");
	unsigned size = 0;
	if (!*name)
		return bad(f->path, "a tensor has an empty name");
	if (!json_is_object(o) || !json_is_string(dt) || !json_is_array(sh) ||
	    !json_is_array(off) || json_object_size(o) != 3)
		return bad(f->path, "tensor '%s' must be an object with exactly "
		           "dtype, shape and data_offsets", name);
	for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
		if (!strcmp(json_string_value(dt), dtypes[i].name)) {
			size = dtypes[i].size;
			e->known = i < N_KNOWN;
			e->dt = dtypes[i].dt;
			snprintf(e->dtype, sizeof e->dtype, "%s", dtypes[i].name);
		}
	if (!size)
		return bad(f->path, "tensor '%s' has an unknown dtype '%.16s'",
		           name, json_string_value(dt));
	if (json_array_size(sh) > NB_MAX_DIMS)
		return bad(f->path, "tensor '%s' has rank %zu (at most %d)", name,
		           json_array_size(sh), NB_MAX_DIMS);
	e->ndim = (int)json_array_size(sh);
	uint64_t numel = 1, d;
	for (int i = 0; i < e->ndim; i++) {
		if (!get_uint(json_array_get(sh, (size_t)i), &d))
			return bad(f->path, "tensor '%s': shape entries must be "
			           "non-negative integers", name);
		if (d && numel > ((uint64_t)1 << 62) / d)
			return bad(f->path, "tensor '%s': the shape is too large",
			           name);
		numel *= d;
		e->shape[i] = (int64_t)d;
	}
	if (json_array_size(off) != 2 ||
	    !get_uint(json_array_get(off, 0), &e->begin) ||
	    !get_uint(json_array_get(off, 1), &e->end) || e->end < e->begin)
		return bad(f->path, "tensor '%s': data_offsets must be [begin, "
		           "end] with 0 <= begin <= end", name);
	if (numel > ((uint64_t)1 << 62) / size ||
	    e->end - e->begin != numel * size)
		return bad(f->path, "tensor '%s': data_offsets [%llu, %llu] "
		           "hold %llu bytes, but %s of shape %llu elements "
		           "needs %llu", name, (unsigned long long)e->begin,
		           (unsigned long long)e->end,
		           (unsigned long long)(e->end - e->begin), e->dtype,
		           (unsigned long long)numel,
		           numel > ((uint64_t)1 << 62) / size ? 0ULL
		           : (unsigned long long)(numel * size));
	if (!(e->name = nb__strdup(name)))
		return nb__set_error(NB_ENOMEM, "%s: out of memory", f->path);
	return NB_OK;
}

static int by_offset(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* The tensors must tile [0, size) exactly. */
static nb_status check_layout(nb_safetensors *f, uint64_t size)
{
	uint64_t at = 0;
	qsort(f->e, f->n, sizeof *f->e, by_offset);
	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].begin != at)
			return bad(f->path, "tensor '%s' starts at byte %llu of the "
			           "data, expected %llu (%s)", f->e[i].name,
			           (unsigned long long)f->e[i].begin,
			           (unsigned long long)at, f->e[i].begin < at
			           ? "it overlaps another tensor" : "a gap");
		at = f->e[i].end;
	}
	if (at != size)
		return bad(f->path, "the tensors cover %llu bytes of data but "
		           "the file holds %llu (%s)", (unsigned long long)at,
		           (unsigned long long)size, at > size ? "truncated"
		           : "trailing bytes");
	return NB_OK;
}

static nb_status parse_header(nb_safetensors *f, const char *buf,
                              size_t len, uint64_t data_size)
{
	json_error_t jerr;
	nb__json_begin();
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	nb_status st = NB_OK;
	const char *k;
	json_t *v;
	/* jansson 2.14's lexer drops a character of a string whose buffer
	 * fails to grow and parses on: any failure voids the result, or a
	 * name would come back misspelt. */
	if (root && nb__json_oom()) {
		json_decref(root);
		root = NULL;
	}
	if (!root && (nb__json_oom() ||
	              json_error_code(&jerr) == json_error_out_of_memory))
		return nb__set_error(NB_ENOMEM, "%s: out of memory reading the "
		                     "header", f->path);
	if (!root)
		return bad(f->path, "header JSON, byte %d: %s", jerr.position,
		           jerr.text);
	if (!json_is_object(root)) {
		st = bad(f->path, "the header is not a JSON object");
		goto out;
	}
	f->e = nb__calloc(json_object_size(root) + 1, sizeof *f->e);
	if (!f->e) {
		st = nb__set_error(NB_ENOMEM, "%s: out of memory", f->path);
		goto out;
	}
	json_object_foreach(root, k, v) {
		if (!strcmp(k, "__metadata__"))
			st = parse_meta(f, v);
		else if (!(st = parse_entry(f, k, v, &f->e[f->n])))
			f->n++;
		if (st)
			goto out;
	}
	st = check_layout(f, data_size);
out:
	json_decref(root);
	return st;
}

nb_status nb_safetensors_open(const char *path, nb_safetensors **out)
{
	nb_status st;
	unsigned char len8[8];
	char *hdr = NULL;
	struct stat sb;
	if (out)
		*out = NULL;
	if (!out || !path)
		return nb__set_error(NB_EINVAL, "safetensors: %s is NULL",
		                     path ? "out" : "path");
	nb_safetensors *f = nb__calloc(1, sizeof *f);
	if (!f || !(f->path = nb__strdup(path))) {
		nb__free(f);
		return nb__set_error(NB_ENOMEM, "safetensors: out of memory");
	}
	if (!(f->fp = fopen(path, "rb")) || fstat(fileno(f->fp), &sb)) {
		st = nb__set_error(NB_EIO, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		st = nb__set_error(NB_EIO, "%s: not a regular file", path);
		goto fail;
	}
	uint64_t size = (uint64_t)sb.st_size, hlen = 0;
	if (size < 8 || fread(len8, 1, 8, f->fp) != 8) {
		st = bad(path, "%llu bytes is too short for the 8-byte header "
		         "length", (unsigned long long)size);
		goto fail;
	}
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | len8[i];
	if (hlen > NB_SAFETENSORS_MAX_HEADER || hlen > size - 8 || hlen < 2) {
		st = bad(path, "the header length %llu is %s", (unsigned long
		         long)hlen, hlen < 2 ? "too small" : hlen > size - 8
		         ? "larger than the file (truncated?)"
		         : "larger than the 100 MB limit");
		goto fail;
	}
	if (!(hdr = nb__malloc((size_t)hlen))) {
		st = nb__set_error(NB_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	if (fread(hdr, 1, (size_t)hlen, f->fp) != hlen) {
		st = nb__set_error(NB_EIO, "%s: reading the header failed", path);
		goto fail;
	}
	f->data_start = 8 + hlen;
	if ((st = parse_header(f, hdr, (size_t)hlen, size - 8 - hlen)))
		goto fail;
	nb__free(hdr);
	*out = f;
	return NB_OK;
fail:
	nb__free(hdr);
	nb_safetensors_close(f);
	return st;
}

/* Accessors of a NULL file give 0 or NULL and set no error. */
size_t nb_safetensors_count(const nb_safetensors *f) { return f ? f->n : 0; }

const char *nb_safetensors_name(const nb_safetensors *f, size_t i)
{
	return f && i < f->n ? f->e[i].name : NULL;
}

static const entry *find(const nb_safetensors *f, const char *name)
{
	for (size_t i = 0; f && name && i < f->n; i++)
		if (!strcmp(f->e[i].name, name))
			return &f->e[i];
	return NULL;
}

const char *nb_safetensors_dtype_str(const nb_safetensors *f,
                                     const char *name)
{
	const entry *e = find(f, name);
	return e ? e->dtype : NULL;
}

const char *nb_safetensors_meta(const nb_safetensors *f, const char *key)
{
	for (size_t i = 0; f && key && i < f->n_meta; i++)
		if (!strcmp(f->meta[2 * i], key))
			return f->meta[2 * i + 1];
	return NULL;
}

static nb_status find_known(const nb_safetensors *f, const char *name,
                            const entry **out)
{
	*out = NULL;
	if (!f || !name)
		return nb__set_error(NB_EINVAL, "safetensors: %s is NULL",
		                     f ? "tensor name" : "file");
	const entry *e = find(f, name);
	*out = e;
	if (!e)
		return nb__set_error(NB_ENOTFOUND, "%s: no tensor named '%s'",
		                     f->path, name ? name : "(null)");
	if (!e->known)
		return nb__set_error(NB_EDTYPE, "%s: tensor '%s' has dtype %s; "
		                     "nabla reads F32, F64, I64 and BOOL", f->path,
		                     name, e->dtype);
	return NB_OK;
}

nb_status nb_safetensors_info(const nb_safetensors *f, const char *name,
                              nb_dtype *dt, int *ndim, int64_t *shape)
{
	const entry *e;
	if (!dt || !ndim || !shape)
		return nb__set_error(NB_EINVAL, "safetensors: info: %s is NULL",
		                     !dt ? "dt" : !ndim ? "ndim" : "shape");
	nb_status st = find_known(f, name, &e);
	if (st)
		return st;
	*dt = e->dt;
	*ndim = e->ndim;
	memcpy(shape, e->shape, sizeof e->shape);
	return NB_OK;
}

nb_tensor *nb_safetensors_read(nb_safetensors *f, const char *name)
{
	const entry *e;
	if (find_known(f, name, &e))
		return NULL;
	nb_tensor *t = nb_tensor_zeros(e->dt, e->ndim, e->shape);
	if (!t)
		return NULL;
	size_t n = (size_t)(e->end - e->begin);
	if (n && (fseeko(f->fp, (off_t)(f->data_start + e->begin), SEEK_SET) ||
	    fread(t->data, 1, n, f->fp) != n)) {
		nb__set_error(NB_EIO, "%s: reading tensor '%s' failed (was the "
		              "file changed?)", f->path, name);
		nb_tensor_free(t);
		return NULL;
	}
	if (!little_endian())
		swap_bytes(t->data, t->numel, nb_dtype_size(t->dtype));
	if (t->dtype == NB_BOOL) {
		const uint8_t *b = t->data;
		for (size_t i = 0; i < t->numel; i++)
			if (b[i] > 1) {
				nb__set_error(NB_EFORMAT, "%s: BOOL tensor '%s' holds "
				              "byte %u at element %zu (0 or 1 only)",
				              f->path, name, b[i], i);
				nb_tensor_free(t);
				return NULL;
			}
	}
	return t;
}

/* ---- writing ---- */

static json_t *entry_json(const nb_tensor *t, uint64_t begin, uint64_t end)
{
	json_t *o = json_object(), *sh = json_array(), *off = json_array();
	bool ok = o && sh && off;
	for (int i = 0; ok && i < t->ndim; i++)
		ok = !json_array_append_new(sh, json_integer(t->shape[i]));
	ok = ok && !json_array_append_new(off, json_integer((json_int_t)begin))
	     && !json_array_append_new(off, json_integer((json_int_t)end));
	ok = ok && !json_object_set_new(o, "dtype",
	                                json_string(dtype_str(t->dtype)));
	/* json_object_set_new takes the value even when it fails. */
	if (ok) {
		ok = !json_object_set_new(o, "shape", sh);
		sh = NULL;
		if (ok) {
			ok = !json_object_set_new(o, "data_offsets", off);
			off = NULL;
		}
		if (ok)
			return o;
	}
	json_decref(o);
	json_decref(sh);
	json_decref(off);
	return NULL;
}

static nb_status check_save_args(const nb_named_tensor *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!t[i].name || !*t[i].name || !t[i].tensor ||
		    !strcmp(t[i].name, "__metadata__"))
			return nb__set_error(NB_EINVAL, "safetensors: tensor %zu "
			                     "has no name, a reserved one or no data",
			                     i);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(t[i].name, t[j].name))
				return nb__set_error(NB_EINVAL, "safetensors: two "
				                     "tensors are named '%s'", t[i].name);
	}
	return NB_OK;
}

/* Frees what jansson allocated (json_dumps), with its free function,
 * whichever it is now (nabla's, or the program's own). */
static void json_free_heap(void *p)
{
	json_malloc_t m;
	json_free_t f;
	if (!p)
		return;
	json_get_alloc_funcs(&m, &f);
	f(p);
}

/* The header JSON for t[0..n) and meta, or NULL on NB_ENOMEM. */
static char *header_json(const nb_named_tensor *t, size_t n,
                         const char *const *meta)
{
	nb__json_begin();
	json_t *root = json_object(), *md = json_object();
	uint64_t at = 0;
	char *s = NULL;
	bool ok = root && md;
	for (size_t i = 0; ok && meta && meta[i] && meta[i + 1]; i += 2)
		ok = !json_object_set_new(md, meta[i], json_string(meta[i + 1]));
	if (ok && json_object_size(md)) {
		ok = !json_object_set_new(root, "__metadata__", md);
		md = NULL;
	}
	for (size_t i = 0; ok && i < n; i++) {
		uint64_t len = nb__nbytes(t[i].tensor);
		ok = !json_object_set_new(root, t[i].name,
		                          entry_json(t[i].tensor, at, at + len));
		at += len;
	}
	if (ok)
		s = json_dumps(root, JSON_COMPACT);
	/* jansson 2.14's dump can lose a key to a failed allocation and
	 * still return the text: any failure since nb__json_begin voids it. */
	if (s && nb__json_oom()) {
		json_free_heap(s);
		s = NULL;
	}
	json_decref(md);
	json_decref(root);
	return s;
}

/* The tensor's data, little-endian (swapped in chunks on big-endian
 * hosts). */
static bool write_tensor(int fd, const nb_tensor *t)
{
	size_t sz = nb_dtype_size(t->dtype), n = t->numel * sz;
	if (little_endian())
		return nb__write_all(fd, t->data, n);
	unsigned char b[4096];
	for (size_t at = 0; at < n; at += sizeof b) {
		size_t k = n - at < sizeof b ? n - at : sizeof b;
		memcpy(b, (const unsigned char *)t->data + at, k);
		swap_bytes(b, k / sz, sz);
		if (!nb__write_all(fd, b, k))
			return false;
	}
	return true;
}

nb_status nb_safetensors_check_writable(const char *path)
{
	nb__replace s = {.path = path, .fd = -1};
	nb_status st;
	if (!path || !*path)
		return nb__set_error(NB_EINVAL, "safetensors: the path is %s",
		                     path ? "empty" : "NULL");
	if (!(st = nb__replace_check(&s)))
		st = nb__replace_open(&s);
	nb__replace_end(&s);
	return st;
}

nb_status nb_safetensors_save(const char *path, const nb_named_tensor *t,
                              size_t n, const char *const *meta)
{
	nb_status st;
	char *hdr = NULL;
	nb__replace s = {.path = path, .fd = -1};
	if (!path || !*path || (n && !t))
		return nb__set_error(NB_EINVAL, "safetensors: %s",
		                     !path ? "the path is NULL" : !*path
		                     ? "the path is empty" : "the tensor list is "
		                     "NULL");
	if ((st = check_save_args(t, n)))
		return st;
	if (!(hdr = header_json(t, n, meta)))
		return nb__set_error(NB_ENOMEM, "safetensors: out of memory");
	if ((st = nb__replace_check(&s)) || (st = nb__replace_open(&s)))
		goto out;
	size_t hlen = strlen(hdr), padded = (hlen + 7) / 8 * 8;
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	bool ok = nb__write_all(s.fd, len8, 8) && nb__write_all(s.fd, hdr, hlen) &&
	          nb__write_all(s.fd, "       ", padded - hlen);
	for (size_t i = 0; ok && i < n; i++)
		ok = write_tensor(s.fd, t[i].tensor);
	if (!ok)
		st = nb__set_error(NB_EIO, "%s: cannot save: writing %s: %s", path,
		                   s.tmp, strerror(errno));
	else
		st = nb__replace_commit(&s);
out:
	nb__replace_end(&s);
	json_free_heap(hdr); /* from jansson's allocator */
	return st;
}

/* ---- modules ---- */

nb_status nb_module_save(nb_module *m, const char *path,
                         const char *const *meta)
{
	return nb_checkpoint_save(path, m, NULL, meta);
}

/* Appends name to a comma-separated list in buf, "..." when full. */
static void list_add(char *buf, size_t cap, const char *name)
{
	size_t k = strlen(buf);
	if (k >= 3 && !strcmp(buf + k - 3, "..."))
		return;
	if (k + strlen(name) + 6 >= cap) {
		snprintf(buf + k, cap - k, "%s...", k ? ", " : "");
		return;
	}
	snprintf(buf + k, cap - k, "%s%s", k ? ", " : "", name);
}

/* Checks one pair: names known on both sides. */
static nb_status check_pair(const nb_safetensors *f, const char *name,
                            const nb_tensor *want)
{
	nb_dtype dt;
	int ndim;
	int64_t shape[NB_MAX_DIMS];
	char a[96], b[96];
	nb_status st = nb_safetensors_info(f, name, &dt, &ndim, shape);
	if (st)
		return st;
	if (ndim != want->ndim ||
	    memcmp(shape, want->shape, (size_t)ndim * sizeof *shape))
		return nb__set_error(NB_ESHAPE, "%s: tensor '%s' has shape %s in "
		    "the file but %s in the model", f->path, name,
		    nb_shape_str(ndim, shape, a, sizeof a),
		    nb_shape_str(want->ndim, want->shape, b, sizeof b));
	if (dt != want->dtype)
		return nb__set_error(NB_EDTYPE, "%s: tensor '%s' is %s in the "
		    "file but %s in the model", f->path, name,
		    nb_dtype_name(dt), nb_dtype_name(want->dtype));
	return NB_OK;
}

#define OPTIM_PREFIX "optim/"

static bool is_optim(const char *name)
{
	return !strncmp(name, OPTIM_PREFIX, sizeof OPTIM_PREFIX - 1);
}

static nb_status match_names(nb_safetensors *f, const nb_named_tensor *t,
                             size_t n, bool strict, nb_load_report *rep)
{
	for (size_t i = 0; i < n; i++)
		if (!find(f, t[i].name)) {
			rep->missing++;
			list_add(rep->missing_names, sizeof rep->missing_names,
			         t[i].name);
		}
	for (size_t i = 0; i < f->n; i++) {
		bool found = is_optim(f->e[i].name);
		for (size_t j = 0; j < n && !found; j++)
			found = !strcmp(f->e[i].name, t[j].name);
		if (!found) {
			rep->unexpected++;
			list_add(rep->unexpected_names,
			         sizeof rep->unexpected_names, f->e[i].name);
		}
	}
	if (strict && (rep->missing || rep->unexpected))
		return nb__set_error(NB_ENOTFOUND, "%s: the names do not match "
		    "the model:%s%s%s%s%s (load non-strictly to skip them)",
		    f->path, rep->missing ? " missing " : "", rep->missing_names,
		    rep->missing && rep->unexpected ? ";" : "",
		    rep->unexpected ? " unexpected " : "", rep->unexpected_names);
	/* Skipping some names is fine-tuning; skipping all of them is a
	 * wrong file or a model named otherwise, not a successful load. */
	if (n && rep->missing == n)
		return nb__set_error(NB_ENOTFOUND, "%s: no tensor name matches "
		    "the model's, nothing was loaded (the file has %s%s; the "
		    "model has %s)", f->path, rep->unexpected ? "" : "none",
		    rep->unexpected_names, rep->missing_names);
	return NB_OK;
}

nb_status nb_module_load(nb_module *m, const char *path, bool strict,
                         nb_load_report *rep)
{
	nb_load_report dummy;
	nb_safetensors *f = NULL;
	nb_tensor **vals = NULL;
	const nb_named_tensor *t;
	nb_status st;
	if (!rep)
		rep = &dummy;
	memset(rep, 0, sizeof *rep);
	if (!m)
		return nb__set_error(NB_EINVAL, "load: module is NULL");
	size_t n = nb_module_tensors(m, &t);
	if (!t && n == 0 && nb_last_status() == NB_ENOMEM)
		return NB_ENOMEM;
	if ((st = nb_safetensors_open(path, &f)) ||
	    (st = match_names(f, t, n, strict, rep)))
		goto out;
	if (!(vals = nb__calloc(n + 1, sizeof *vals))) {
		st = nb__set_error(NB_ENOMEM, "load: out of memory");
		goto out;
	}
	/* Read and check everything before touching the model. */
	for (size_t i = 0; i < n; i++) {
		if (!find(f, t[i].name))
			continue;
		if ((st = check_pair(f, t[i].name, t[i].tensor)))
			goto out;
		if (!(vals[i] = nb_safetensors_read(f, t[i].name))) {
			st = nb_last_status();
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (vals[i]) {
			nb_tensor_copy(t[i].tensor, vals[i]);
			rep->loaded++;
		}
out:
	for (size_t i = 0; vals && i < n; i++)
		nb_tensor_free(vals[i]);
	nb__free(vals);
	nb_safetensors_close(f);
	return st;
}

/* ---- optimizer state ---- */

/*
 * Parameter groups, as PyTorch's state_dict()["param_groups"][g][key]
 * flattened like the state: "optim/param_groups.G.params" (int64: the
 * indices of the group's parameters), ".lr", ".weight_decay",
 * ".momentum" (SGD, RMSprop) or ".betas" ([2], Adam, AdamW) and
 * ".initial_lr" (when a schedule set one), 0-d float64 each.  Files
 * from before 2026-12 have none: loading them leaves the options.
 */
#define GROUP_KEYS 5

static const char *const group_keys[GROUP_KEYS] = {
	"params", "lr", "weight_decay", "momentum", "initial_lr"
};

/* The entries of group g into t[0..) with names (owned) and tensors
 * (owned); returns how many, 0 on NB_ENOMEM. */
static size_t group_entries(const nb_optim *o, size_t g, nb_named_tensor *t,
                            char **names)
{
	nb_group_opts go;
	size_t first, count, k = 0;
	nb_optim_group(o, g, &go, &first, &count);
	double init = nb__optim_initial_lr(o, g);
	bool betas = isnan(go.momentum);
	for (int i = 0; i < GROUP_KEYS; i++) {
		nb_tensor *v;
		const char *key = i == 3 && betas ? "betas" : group_keys[i];
		if (i == 4 && isnan(init))
			continue;
		if (i == 0) {
			int64_t c = (int64_t)count;
			if ((v = nb_tensor_zeros(NB_I64, 1, &c)))
				for (size_t j = 0; j < count; j++)
					nb_tensor_set(v, j, (double)(first + j));
		} else if (i == 3 && betas) {
			int64_t two = 2;
			if ((v = nb_tensor_zeros(NB_F64, 1, &two))) {
				nb_tensor_set(v, 0, go.beta1);
				nb_tensor_set(v, 1, go.beta2);
			}
		} else {
			double x = i == 1 ? go.lr : i == 2 ? go.weight_decay
			         : i == 3 ? go.momentum : init;
			v = nb_tensor_full(NB_F64, 0, NULL, x);
		}
		size_t len = sizeof OPTIM_PREFIX + 48 + strlen(key);
		names[k] = nb__malloc(len);
		if (!v || !names[k]) {
			nb_tensor_free(v);
			nb__free(names[k]);
			names[k] = NULL;
			for (size_t j = 0; j < k; j++) {
				nb_tensor_free(t[j].tensor);
				nb__free(names[j]);
				names[j] = NULL;
			}
			return 0;
		}
		snprintf(names[k], len, OPTIM_PREFIX "param_groups.%zu.%s", g, key);
		t[k] = (nb_named_tensor){names[k], v, true};
		k++;
	}
	return k;
}


nb_status nb_checkpoint_save(const char *path, nb_module *m,
                             const nb_optim *o, const char *const *meta)
{
	const nb_named_tensor *mt;
	size_t k = 0, n_meta = 0, n_opt = o ? nb_optim_state_count(o) : 0;
	nb_status st = NB_OK;
	if (!m)
		return nb__set_error(NB_EINVAL, "save: module is NULL");
	while (meta && meta[n_meta] && meta[n_meta + 1])
		n_meta += 2;
	/* "format", "nabla.optim", "nabla.optim.params", the caller's,
	 * and the NULL key */
	char count[24];
	const char **all = nb__calloc(n_meta + 7, sizeof *all);
	if (!all)
		return nb__set_error(NB_ENOMEM, "save: out of memory");
	all[k++] = "format";
	all[k++] = "pt";
	if (o) {
		snprintf(count, sizeof count, "%zu", nb_optim_param_count(o));
		all[k++] = "nabla.optim";
		all[k++] = nb_optim_name(o);
		all[k++] = "nabla.optim.params";
		all[k++] = count;
	}
	if (n_meta)
		memcpy(all + k, meta, n_meta * sizeof *all);
	all[k + n_meta] = NULL;
	size_t n = nb_module_tensors(m, &mt);
	size_t n_grp = nb_optim_group_count(o) * GROUP_KEYS;
	size_t end = n + n_opt, n_names = n_opt; /* group entries: past n_opt */
	nb_named_tensor *t = NULL;
	char **names = NULL;
	if (!mt && nb_last_status() == NB_ENOMEM) {
		st = NB_ENOMEM;
		goto out;
	}
	t = nb__calloc(n + n_opt + n_grp + 1, sizeof *t);
	names = nb__calloc(n_opt + n_grp + 1, sizeof *names);
	if (!t || !names) {
		st = nb__set_error(NB_ENOMEM, "save: out of memory");
		goto out;
	}
	memcpy(t, mt, n * sizeof *t);
	for (size_t i = 0; i < n_opt; i++) {
		const char *nm;
		nb_tensor *s = nb_optim_state_at(o, i, &nm);
		size_t len = sizeof OPTIM_PREFIX + strlen(nm);
		if (!(names[i] = nb__malloc(len))) {
			st = nb__set_error(NB_ENOMEM, "save: out of memory");
			goto out;
		}
		snprintf(names[i], len, OPTIM_PREFIX "%s", nm);
		t[n + i] = (nb_named_tensor){names[i], s, true};
	}
	for (size_t g = 0; g < nb_optim_group_count(o); g++) {
		size_t c = group_entries(o, g, t + end, names + n_names);
		if (!c) {
			st = nb__set_error(NB_ENOMEM, "save: out of memory");
			goto out;
		}
		end += c;
		n_names += c;
	}
	st = nb_safetensors_save(path, t, end, all);
out:
	for (size_t i = n + n_opt; t && i < end; i++)
		nb_tensor_free(t[i].tensor);
	for (size_t i = 0; names && i < n_names; i++)
		nb__free(names[i]);
	nb__free(names);
	nb__free(t);
	nb__free(all);
	return st;
}

/* The values of the group entry "optim/param_groups.G.KEY" into v[0..n)
 * (dtype and size checked); NB_ENOTFOUND if absent. */
static nb_status read_group_entry(nb_safetensors *f, size_t g,
                                  const char *key, double *v, size_t n)
{
	char name[160];
	snprintf(name, sizeof name, OPTIM_PREFIX "param_groups.%zu.%s", g, key);
	if (!find(f, name))
		return nb__set_error(NB_ENOTFOUND, "%s: no optimizer state '%s'",
		                     f->path, name);
	nb_tensor *t = nb_safetensors_read(f, name);
	if (!t)
		return nb_last_status();
	nb_status st = NB_OK;
	if (nb_tensor_numel(t) != n)
		st = nb__set_error(NB_EFORMAT, "%s: '%s' has %zu values, not %zu",
		                   f->path, name, nb_tensor_numel(t), n);
	for (size_t i = 0; !st && i < n; i++)
		v[i] = nb_tensor_get(t, i);
	nb_tensor_free(t);
	return st;
}

/* Group g of the file: its parameters must be o's group g's, its
 * options are checked and, when apply, set. */
static nb_status load_group(nb_safetensors *f, nb_optim *o, size_t g,
                            bool apply)
{
	size_t first, count;
	nb_group_opts go = nb_group_defaults();
	double v[2], init = NAN;
	nb_status st;
	nb_optim_group(o, g, &go, &first, &count);
	bool betas = isnan(go.momentum);
	double *idx = nb__calloc(count, sizeof *idx);
	if (!idx)
		return nb__set_error(NB_ENOMEM, "load optimizer: out of memory");
	st = read_group_entry(f, g, "params", idx, count);
	for (size_t i = 0; !st && i < count; i++)
		if (idx[i] != (double)(first + i))
			st = nb__set_error(NB_EINVAL, "%s: the optimizer's group %zu "
			                   "holds other parameters than this one's "
			                   "(%zu from %zu)", f->path, g, count, first);
	nb__free(idx);
	if (st == NB_EFORMAT)
		st = nb__set_error(NB_EINVAL, "%s: the optimizer's group %zu has "
		                   "another number of parameters than this one's "
		                   "(%zu)", f->path, g, count);
	if (st || (st = read_group_entry(f, g, "lr", &go.lr, 1)) ||
	    (st = read_group_entry(f, g, "weight_decay", &go.weight_decay, 1)))
		return st;
	if (betas) {
		if ((st = read_group_entry(f, g, "betas", v, 2)))
			return st;
		go.beta1 = v[0];
		go.beta2 = v[1];
	} else if ((st = read_group_entry(f, g, "momentum", &go.momentum, 1))) {
		return st;
	}
	if ((st = read_group_entry(f, g, "initial_lr", &init, 1)) &&
	    st != NB_ENOTFOUND)
		return st;
	return nb__optim_restore_group(o, g, &go, init, f->path, apply);
}

/* The file's groups (none in files before 2026-12: then nothing). */
static nb_status load_groups(nb_safetensors *f, nb_optim *o, bool apply)
{
	char name[96];
	size_t n = 0, mine = nb_optim_group_count(o);
	nb_status st = NB_OK;
	for (;; n++) {
		snprintf(name, sizeof name, OPTIM_PREFIX "param_groups.%zu.params",
		         n);
		if (!find(f, name))
			break;
	}
	if (n && n != mine)
		return nb__set_error(NB_EINVAL, "%s: the optimizer state has %zu "
		                     "parameter groups, this optimizer %zu",
		                     f->path, n, mine);
	for (size_t g = 0; g < n && !st; g++)
		st = load_group(f, o, g, apply);
	return st;
}

nb_status nb_optim_load_state(nb_optim *o, const char *path)
{
	nb_safetensors *f = NULL;
	nb_tensor **vals = NULL;
	char name[512];
	nb_status st;
	if (!o)
		return nb__set_error(NB_EINVAL, "load optimizer: NULL");
	size_t n = nb_optim_state_count(o);
	if ((st = nb_safetensors_open(path, &f)))
		return st;
	const char *kind = nb_safetensors_meta(f, "nabla.optim");
	if (!kind) {
		st = nb__set_error(NB_ENOTFOUND, "%s: no optimizer state in the "
		                   "file", path);
		goto out;
	}
	if (strcmp(kind, nb_optim_name(o))) {
		st = nb__set_error(NB_EINVAL, "%s: the optimizer state is %s's, "
		                   "not %s's", path, kind, nb_optim_name(o));
		goto out;
	}
	/* Files since 2026-11 say how many parameters the state is for:
	 * another model, or other parameters frozen, is then a clear
	 * NB_EINVAL rather than a shape mismatch (or, worse, a match). */
	const char *count = nb_safetensors_meta(f, "nabla.optim.params");
	char mine[24];
	snprintf(mine, sizeof mine, "%zu", nb_optim_param_count(o));
	if (count && strcmp(count, mine)) {
		st = nb__set_error(NB_EINVAL, "%s: the optimizer state is for "
		                   "%.20s parameters, this optimizer updates %s "
		                   "(another model, or other parameters frozen)",
		                   path, count, mine);
		goto out;
	}
	/* Groups first: other groups permute the state, and saying so is
	 * clearer than the shape mismatch that follows. */
	if ((st = load_groups(f, o, false)))
		goto out;
	if (!(vals = nb__calloc(n + 1, sizeof *vals))) {
		st = nb__set_error(NB_ENOMEM, "load optimizer: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *nm;
		nb_tensor *s = nb_optim_state_at(o, i, &nm);
		snprintf(name, sizeof name, OPTIM_PREFIX "%s", nm);
		if (!find(f, name)) {
			st = nb__set_error(NB_ENOTFOUND, "%s: no optimizer state "
			                   "'%s' (saved for other parameters?)", path,
			                   name);
			goto out;
		}
		if ((st = check_pair(f, name, s)) ||
		    !(vals[i] = nb_safetensors_read(f, name))) {
			st = st ? st : nb_last_status();
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		nb_tensor_copy(nb_optim_state_at(o, i, NULL), vals[i]);
	load_groups(f, o, true); /* checked above */
out:
	for (size_t i = 0; vals && i < n; i++)
		nb_tensor_free(vals[i]);
	nb__free(vals);
	nb_safetensors_close(f);
	return st;
}
