/*
 * idx.c - reading IDX files (the format of MNIST and Fashion-MNIST),
 * plain or gzip-compressed, through zlib's gzread (which passes plain
 * files through unchanged).
 *
 * Layout: bytes 0 and 1 are zero, byte 2 the element type (0x08 u8,
 * 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), byte 3 the rank;
 * then one big-endian uint32 per dimension, then the values, big-endian,
 * row-major.  The data buffer grows with the bytes actually read, so a
 * header that claims a huge size costs nothing before it is proven.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <zlib.h>
#include "internal.h"

static const struct {
	unsigned char code;
	unsigned size;
	const char *name;
} types[] = {
	{0x08, 1, "u8"}, {0x09, 1, "i8"}, {0x0B, 2, "i16"},
	{0x0C, 4, "i32"}, {0x0D, 4, "f32"}, {0x0E, 8, "f64"},
};

/* The largest data an IDX file may claim (16 GiB): more is hostile. */
#define IDX_MAX_BYTES ((uint64_t)1 << 34)

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* Element i of big-endian data of type code, as a double. */
static double element(const unsigned char *p, unsigned char code)
{
	uint64_t u = 0;
	switch (code) {
	case 0x08: return p[0];
	case 0x09: return (signed char)p[0];
	case 0x0B: return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
	case 0x0C: return (int32_t)be32(p);
	case 0x0D: {
		uint32_t b = be32(p);
		float f;
		memcpy(&f, &b, 4);
		return f;
	}
	default:
		for (int i = 0; i < 8; i++)
			u = u << 8 | p[i];
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
}

/* The error of a failed gzread of f.  zlib's message begins with the
 * path it was given ("PATH: incorrect data check"): said once. */
static nb_status read_error(gzFile f, const char *path)
{
	int errnum;
	const char *msg = gzerror(f, &errnum);
	size_t n = strlen(path);
	if (!strncmp(msg, path, n) && !strncmp(msg + n, ": ", 2))
		msg += n + 2;
	if (errnum == Z_ERRNO)
		return nb__set_error(NB_EIO, "%s: %s", path, msg);
	return nb__set_error(errnum == Z_MEM_ERROR ? NB_ENOMEM : NB_EFORMAT,
	                     "%s: gzip: %s", path, msg);
}

/* Reads exactly n bytes into a growing buffer; *got is how many came. */
static nb_status read_all(gzFile f, const char *path, uint64_t n,
                          unsigned char **out, uint64_t *got)
{
	unsigned char *buf = NULL;
	uint64_t cap = 0, k = 0;
	*out = NULL;
	while (k < n) {
		if (k == cap) {
			uint64_t c = cap ? cap * 2 : 1 << 16;
			if (c > n)
				c = n;
			unsigned char *b = nb__realloc(buf, (size_t)c);
			if (!b) {
				nb__free(buf);
				return nb__set_error(NB_ENOMEM, "%s: out of memory", path);
			}
			buf = b;
			cap = c;
		}
		uint64_t want = cap - k;
		if (want > INT_MAX / 2)
			want = INT_MAX / 2;
		int r = gzread(f, buf + k, (unsigned)want);
		if (r < 0) {
			nb__free(buf);
			return read_error(f, path);
		}
		if (r == 0)
			break;
		k += (uint64_t)r;
	}
	*out = buf;
	*got = k;
	return NB_OK;
}

static nb_status parse_header(gzFile f, const char *path, unsigned *tix,
                              int *ndim, int64_t *shape, uint64_t *bytes)
{
	unsigned char h[4], d[4 * 255];
	int r = gzread(f, h, 4);
	if (r < 0)
		return read_error(f, path);
	if (r != 4)
		return nb__set_error(NB_EFORMAT, "%s: not an IDX file: shorter "
		                     "than its 4-byte magic", path);
	*tix = sizeof types / sizeof *types;
	for (unsigned i = 0; i < sizeof types / sizeof *types; i++)
		if (types[i].code == h[2])
			*tix = i;
	if (h[0] || h[1] || *tix == sizeof types / sizeof *types)
		return nb__set_error(NB_EFORMAT, "%s: not an IDX file: magic "
		                     "%02x %02x %02x %02x (expected 00 00, a type "
		                     "08 09 0b 0c 0d 0e, a rank)", path, h[0], h[1],
		                     h[2], h[3]);
	if (h[3] < 1 || h[3] > NB_MAX_DIMS)
		return nb__set_error(NB_EFORMAT, "%s: IDX rank %d is outside "
		                     "1..%d", path, h[3], NB_MAX_DIMS);
	*ndim = h[3];
	if ((r = gzread(f, d, 4u * h[3])) < 0)
		return read_error(f, path);
	if (r != 4 * h[3])
		return nb__set_error(NB_EFORMAT, "%s: truncated IDX header", path);
	uint64_t n = types[*tix].size;
	for (int i = 0; i < *ndim; i++) {
		shape[i] = be32(d + 4 * i);
		if (shape[i] && n > IDX_MAX_BYTES / (uint64_t)shape[i])
			return nb__set_error(NB_EFORMAT, "%s: IDX dimensions claim "
			                     "more than %llu bytes of data", path,
			                     (unsigned long long)IDX_MAX_BYTES);
		n *= (uint64_t)shape[i];
	}
	*bytes = n;
	return NB_OK;
}

nb_tensor *nb_idx_read(const char *path, nb_dtype dt)
{
	unsigned tix = 0;
	int ndim = 0;
	int64_t shape[NB_MAX_DIMS];
	uint64_t bytes = 0, got = 0;
	unsigned char *data = NULL, extra;
	nb_tensor *t = NULL;
	if (!path || (dt != NB_F32 && dt != NB_F64 && dt != NB_I64)) {
		nb__set_error(NB_EINVAL, "idx: %s", path ? "bad dtype"
		              : "path is NULL");
		return NULL;
	}
	struct stat sb;
	if (!stat(path, &sb) && S_ISDIR(sb.st_mode)) {
		nb__set_error(NB_EIO, "%s: is a directory, not an IDX file", path);
		return NULL;
	}
	gzFile f = gzopen(path, "rb");
	if (!f) {
		nb__set_error(NB_EIO, "%s: %s", path, errno ? strerror(errno)
		              : "cannot open");
		return NULL;
	}
	if (parse_header(f, path, &tix, &ndim, shape, &bytes))
		goto out;
	/* Class labels are integers: a float (NaN, 9.99, -0.5) would be
	 * truncated to some class without a word. */
	if (dt == NB_I64 && (types[tix].code == 0x0D ||
	                     types[tix].code == 0x0E)) {
		nb__set_error(NB_EDTYPE, "%s: IDX type %s holds floats; integer "
		              "values (labels) need u8, i8, i16 or i32", path,
		              types[tix].name);
		goto out;
	}
	if (read_all(f, path, bytes, &data, &got))
		goto out;
	if (got < bytes) {
		nb__set_error(NB_EFORMAT, "%s: truncated IDX data: %llu of %llu "
		              "bytes", path, (unsigned long long)got,
		              (unsigned long long)bytes);
		goto out;
	}
	int r = gzread(f, &extra, 1);
	if (r < 0) {
		read_error(f, path);
		goto out;
	}
	if (r > 0) {
		nb__set_error(NB_EFORMAT, "%s: trailing bytes after the IDX data",
		              path);
		goto out;
	}
	if (!(t = nb_tensor_zeros(dt, ndim, shape)))
		goto out;
	unsigned sz = types[tix].size;
	for (size_t i = 0; i < t->numel; i++)
		nb_tensor_set(t, i, element(data + i * sz, types[tix].code));
out:
	nb__free(data);
	gzclose(f);
	return t;
}
