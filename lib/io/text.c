/*
 * text.c - a character corpus: a file's bytes, their alphabet (the
 * distinct bytes in byte order), the train / held-out split, and the
 * windows of truncated backpropagation through time in char-rnn's
 * layout (nabla/text.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include "internal.h"

struct nb_text {
	int64_t *ids;        /* every byte as its id; NULL alphabet-only */
	size_t len;          /* ids */
	size_t train;        /* ids[0, train) train, the rest is held out */
	int vocab;
	unsigned char chars[256];
	int16_t id[256];     /* byte -> id, -1 not in the alphabet */
};

static nb_text *text_new(void)
{
	nb_text *t = nb__calloc(1, sizeof *t);
	if (!t) {
		nb__set_error(NB_ENOMEM, "text: out of memory");
		return NULL;
	}
	for (int c = 0; c < 256; c++)
		t->id[c] = -1;
	return t;
}

static bool held_out_ok(double held_out)
{
	return held_out >= 0 && held_out <= 0.5; /* false for NaN */
}

/* Numbers the bytes of b[0..n) and splits them; frees nothing. */
static nb_status text_fill(nb_text *t, const unsigned char *b, size_t n,
                           double held_out)
{
	for (size_t i = 0; i < n; i++)
		t->id[b[i]] = 0;
	for (int c = 0; c < 256; c++)
		if (t->id[c] == 0) {
			t->id[c] = (int16_t)t->vocab;
			t->chars[t->vocab++] = (unsigned char)c;
		}
	if (n > SIZE_MAX / sizeof *t->ids ||
	    !(t->ids = nb__malloc(n * sizeof *t->ids)))
		return nb__set_error(NB_ENOMEM, "text: out of memory for %zu "
		                     "ids", n);
	for (size_t i = 0; i < n; i++)
		t->ids[i] = t->id[b[i]];
	t->len = n;
	t->train = n - (size_t)floor((double)n * held_out);
	return NB_OK;
}

nb_text *nb_text_from_bytes(const void *bytes, size_t n, double held_out)
{
	if (!bytes || !held_out_ok(held_out)) {
		nb__set_error(NB_EINVAL, "text: %s", !bytes ? "bytes are NULL"
		              : "held_out must be in [0, 0.5]");
		return NULL;
	}
	if (n == 0) {
		nb__set_error(NB_EFORMAT, "text: the text is empty");
		return NULL;
	}
	nb_text *t = text_new();
	if (t && text_fill(t, bytes, n, held_out)) {
		nb_text_free(t);
		return NULL;
	}
	return t;
}

nb_text *nb_text_load(const char *path, double held_out)
{
	if (!path || !held_out_ok(held_out)) {
		nb__set_error(NB_EINVAL, "text: %s", !path ? "path is NULL"
		              : "held_out must be in [0, 0.5]");
		return NULL;
	}
	nb_text *t = NULL;
	unsigned char *buf = NULL;
	struct stat sb;
	FILE *f = fopen(path, "rb");
	if (!f || fstat(fileno(f), &sb)) {
		nb__set_error(NB_EIO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > NB_TEXT_MAX_BYTES) {
		nb__set_error(NB_EIO, "%s: %s", path, S_ISDIR(sb.st_mode)
		              ? "is a directory" : !S_ISREG(sb.st_mode)
		              ? "not a regular file"
		              : "larger than 4 GiB (NB_TEXT_MAX_BYTES)");
		goto out;
	}
	size_t n = (size_t)sb.st_size;
	if (n == 0) {
		nb__set_error(NB_EFORMAT, "%s: the text is empty", path);
		goto out;
	}
	if (!(buf = nb__malloc(n))) {
		nb__set_error(NB_ENOMEM, "%s: out of memory for %zu bytes", path,
		              n);
		goto out;
	}
	if (fread(buf, 1, n, f) != n) {
		nb__set_error(NB_EIO, "%s: %s", path, ferror(f)
		              ? strerror(errno) : "shorter than its size");
		goto out;
	}
	if ((t = text_new()) && text_fill(t, buf, n, held_out)) {
		nb_text_free(t);
		t = NULL;
	}
out:
	if (f)
		fclose(f);
	nb__free(buf);
	return t;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

nb_text *nb_text_from_vocab_hex(const char *hex)
{
	if (!hex) {
		nb__set_error(NB_EINVAL, "text: vocabulary is NULL");
		return NULL;
	}
	size_t n = strlen(hex);
	if (n == 0 || n % 2 || n > 512) {
		nb__set_error(NB_EFORMAT, "text: vocabulary '%.40s': want 2 hex "
		              "digits for each of 1 to 256 bytes", hex);
		return NULL;
	}
	nb_text *t = text_new();
	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
		int c = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
		if (c < 0 || (t->vocab && c <= t->chars[t->vocab - 1])) {
			nb__set_error(NB_EFORMAT, "text: vocabulary: byte %zu is "
			              "%s", i / 2, c < 0 ? "not 2 hex digits"
			              : "not above the one before");
			nb_text_free(t);
			return NULL;
		}
		t->id[c] = (int16_t)t->vocab;
		t->chars[t->vocab++] = (unsigned char)c;
	}
	return t;
}

void nb_text_free(nb_text *t)
{
	if (!t)
		return;
	nb__free(t->ids);
	nb__free(t);
}

int nb_text_vocab_size(const nb_text *t) { return t ? t->vocab : 0; }

int64_t nb_text_id(const nb_text *t, unsigned char c)
{
	return t ? t->id[c] : -1;
}

unsigned char nb_text_byte(const nb_text *t, int64_t id)
{
	return t && id >= 0 && id < t->vocab ? t->chars[id] : 0;
}

size_t nb_text_vocab_hex(const nb_text *t, char *buf, size_t n)
{
	if (!t)
		return 0;
	static const char digits[] = "0123456789abcdef";
	size_t need = 2 * (size_t)t->vocab;
	for (size_t i = 0; buf && i < need && i + 1 < n; i++) {
		unsigned char c = t->chars[i / 2];
		buf[i] = digits[i % 2 ? c & 15 : c >> 4];
	}
	if (buf && n > 0)
		buf[need < n ? need : n - 1] = '\0';
	return need;
}

size_t nb_text_len(const nb_text *t, nb_text_split split)
{
	if (!t || !t->ids)
		return 0;
	return split == NB_TEXT_TRAIN ? t->train
	       : split == NB_TEXT_HELD_OUT ? t->len - t->train : 0;
}

const int64_t *nb_text_ids(const nb_text *t, nb_text_split split)
{
	if (!t || !t->ids || (split != NB_TEXT_TRAIN &&
	                      split != NB_TEXT_HELD_OUT))
		return NULL;
	return split == NB_TEXT_TRAIN ? t->ids : t->ids + t->train;
}

size_t nb_text_windows(const nb_text *t, nb_text_split split,
                       int64_t batch, int64_t steps)
{
	size_t len = nb_text_len(t, split);
	if (batch < 1 || steps < 1 || len / (uint64_t)batch < 2)
		return 0;
	return (len / (size_t)batch - 1) / (size_t)steps;
}

nb_status nb_text_window(nb_graph *g, const nb_text *t, nb_text_split split,
                         int64_t batch, int64_t steps, size_t k,
                         nb_tensor **x, nb_tensor **y)
{
	if (x)
		*x = NULL;
	if (y)
		*y = NULL;
	if (!g)
		return nb__set_error(NB_EINVAL, "text: window: graph is NULL");
	size_t nw = nb_text_windows(t, split, batch, steps);
	if (!t || !x || !y || k >= nw)
		return nb__graph_fail(g, NB_EINVAL, "text: window %zu of %zu "
		    "(batch %lld, steps %lld, %zu ids): %s", k, nw,
		    (long long)batch, (long long)steps, nb_text_len(t, split),
		    !t || !x || !y ? "an argument is NULL"
		    : nw == 0 ? "the text is too short for one window"
		    : "past the last window");
	int64_t shape[2] = {batch, steps};
	nb_tensor *bx = nb_graph_tensor(g, NB_I64, 2, shape);
	nb_tensor *by = nb_graph_tensor(g, NB_I64, 2, shape);
	if (!bx || !by)
		return nb_graph_status(g);
	const int64_t *ids = nb_text_ids(t, split);
	size_t stream = nb_text_len(t, split) / (size_t)batch;
	int64_t *px = nb_tensor_data(bx), *py = nb_tensor_data(by);
	for (int64_t b = 0; b < batch; b++) {
		const int64_t *src = ids + (size_t)b * stream + k * (size_t)steps;
		memcpy(px + b * steps, src, (size_t)steps * sizeof *px);
		memcpy(py + b * steps, src + 1, (size_t)steps * sizeof *py);
	}
	*x = bx;
	*y = by;
	return NB_OK;
}
