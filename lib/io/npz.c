/*
 * npz.c - NumPy's .npz archives: a zip file of .npy members named
 * NAME.npy, stored (numpy.savez) or deflated (numpy.savez_compressed),
 * read and written with libzip.  Without libzip (configure
 * --without-libzip, or not found) every function says so.
 *
 * Reading opens the archive with ZIP_CHECKCONS (libzip's consistency
 * checks of the central directory against the local headers) and reads
 * a member into a buffer that grows with the bytes actually inflated, up
 * to the size the directory declares: a member that inflates beyond it,
 * or whose CRC does not match, is an error, not a memory bomb.
 */
#include <errno.h>
#include <stdio.h>
#include "arrays_internal.h"
#include "replace.h"
#include "config.h"

#ifdef HAVE_LIBZIP
#include <zip.h>

struct nb_npz {
	zip_t *za;
	char *path;
	size_t n;
	char **names;          /* without ".npy" */
	zip_uint64_t *index;   /* each name's member */
};

/* libzip's error code as a status and message naming path. */
static nb_status zip_fail(const char *path, const char *array, int code,
                          const char *what)
{
	zip_error_t ze;
	zip_error_init_with_code(&ze, code);
	nb_status st = code == ZIP_ER_MEMORY ? NB_ENOMEM
	             : code == ZIP_ER_NOENT || code == ZIP_ER_OPEN ||
	               code == ZIP_ER_READ || code == ZIP_ER_SEEK ||
	               code == ZIP_ER_WRITE || code == ZIP_ER_TMPOPEN
	             ? NB_EIO : NB_EFORMAT;
	if (array)
		nb__set_error(st, "%s: array '%s': %s: %s", path, array, what,
		              zip_error_strerror(&ze));
	else
		nb__set_error(st, "%s: %s: %s", path, what, zip_error_strerror(&ze));
	zip_error_fini(&ze);
	return st;
}

void nb_npz_close(nb_npz *z)
{
	if (!z)
		return;
	if (z->za)
		zip_discard(z->za);
	for (size_t i = 0; i < z->n; i++)
		nb__free(z->names[i]);
	nb__free(z->names);
	nb__free(z->index);
	nb__free(z->path);
	nb__free(z);
}

/* The member names, without ".npy"; directories skipped. */
static nb_status list_members(nb_npz *z)
{
	zip_int64_t m = zip_get_num_entries(z->za, 0);
	if (m < 0)
		m = 0;
	if (!(z->names = nb__calloc((size_t)m + 1, sizeof *z->names)) ||
	    !(z->index = nb__calloc((size_t)m + 1, sizeof *z->index)))
		return nb__set_error(NB_ENOMEM, "%s: out of memory", z->path);
	for (zip_int64_t i = 0; i < m; i++) {
		const char *name = zip_get_name(z->za, (zip_uint64_t)i, 0);
		if (!name)
			return zip_fail(z->path, NULL,
			                zip_error_code_zip(zip_get_error(z->za)),
			                "reading the member names");
		size_t len = strlen(name);
		if (!len || name[len - 1] == '/')
			continue;
		if (len > 4 && !strcmp(name + len - 4, ".npy"))
			len -= 4;
		char *s = nb__malloc(len + 1);
		if (!s)
			return nb__set_error(NB_ENOMEM, "%s: out of memory", z->path);
		memcpy(s, name, len);
		s[len] = '\0';
		z->index[z->n] = (zip_uint64_t)i;
		z->names[z->n++] = s;
	}
	return NB_OK;
}

nb_status nb_npz_open(const char *path, nb_npz **out)
{
	int err = 0;
	if (out)
		*out = NULL;
	if (!path || !out)
		return nb__set_error(NB_EINVAL, "npz: %s is NULL",
		                     path ? "out" : "path");
	nb_npz *z = nb__calloc(1, sizeof *z);
	if (!z || !(z->path = nb__strdup(path))) {
		nb__free(z);
		return nb__set_error(NB_ENOMEM, "%s: out of memory", path);
	}
	nb_status st;
	if (!(z->za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err)))
		st = zip_fail(path, NULL, err, "not a readable .npz (zip) archive");
	else
		st = list_members(z);
	if (st) {
		nb_npz_close(z);
		return st;
	}
	*out = z;
	return NB_OK;
}

size_t nb_npz_count(const nb_npz *z)
{
	return z ? z->n : 0;
}

const char *nb_npz_name(const nb_npz *z, size_t i)
{
	return z && i < z->n ? z->names[i] : NULL;
}

/* The names, for a message: "x, y, x_test" (cut at about 200 bytes). */
static void list_names(const nb_npz *z, char *buf, size_t cap)
{
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < z->n && k + 1 < cap; i++) {
		int w = snprintf(buf + k, cap - k, "%s%s", i ? ", " : "",
		                 z->names[i]);
		k += w > 0 ? (size_t)w : 0;
	}
	if (k >= cap && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
	if (!z->n)
		snprintf(buf, cap, "none");
}

/* Member i's bytes into a growing buffer, at most its declared size. */
static nb_status read_member(nb_npz *z, zip_uint64_t i, const char *name,
                             unsigned char **out, size_t *len)
{
	zip_stat_t sb;
	zip_stat_init(&sb);
	*out = NULL;
	if (zip_stat_index(z->za, i, 0, &sb) || !(sb.valid & ZIP_STAT_SIZE))
		return zip_fail(z->path, name,
		                zip_error_code_zip(zip_get_error(z->za)),
		                "reading its directory entry");
	zip_file_t *f = zip_fopen_index(z->za, i, 0);
	if (!f)
		return zip_fail(z->path, name,
		                zip_error_code_zip(zip_get_error(z->za)),
		                "opening the member");
	unsigned char *b = NULL;
	size_t cap = 0, k = 0;
	nb_status st = NB_OK;
	for (;;) {
		if (k == cap) {
			/* One byte beyond the declared size catches a member
			 * that inflates to more than it says. */
			size_t c = cap ? cap * 2 : 1 << 16;
			if (c > sb.size + 1)
				c = (size_t)sb.size + 1;
			unsigned char *nb = c > cap ? nb__realloc(b, c) : NULL;
			if (!nb) {
				st = nb__set_error(NB_ENOMEM, "%s: array '%s': out of "
				                   "memory", z->path, name);
				break;
			}
			b = nb;
			cap = c;
		}
		zip_int64_t r = zip_fread(f, b + k, cap - k);
		if (r < 0) {
			st = zip_fail(z->path, name,
			              zip_error_code_zip(zip_file_get_error(f)),
			              "reading the member");
			break;
		}
		if (r == 0)
			break;
		k += (size_t)r;
		if (k > sb.size) {
			st = nb__set_error(NB_EFORMAT, "%s: array '%s': the member "
			                   "holds more than the %llu bytes its "
			                   "directory entry declares", z->path, name,
			                   (unsigned long long)sb.size);
			break;
		}
	}
	zip_fclose(f);
	if (st) {
		nb__free(b);
		return st;
	}
	*out = b;
	*len = k;
	return NB_OK;
}

nb_tensor *nb_npz_read(nb_npz *z, const char *name)
{
	if (!z || !name) {
		nb__set_error(NB_EINVAL, "npz: %s is NULL", z ? "name" : "archive");
		return NULL;
	}
	size_t i = 0;
	while (i < z->n && strcmp(z->names[i], name))
		i++;
	if (i == z->n) {
		char names[256];
		list_names(z, names, sizeof names);
		nb__set_error(NB_ENOTFOUND, "%s: no array '%s' (the archive holds: "
		              "%s)", z->path, name, names);
		return NULL;
	}
	unsigned char *b = NULL;
	size_t n = 0;
	if (read_member(z, z->index[i], name, &b, &n))
		return NULL;
	nb_tensor *t = nb__npy_parse(b, n, z->path, name);
	nb__free(b);
	return t;
}

/* Adds tensor t as member name.npy; its header goes in *hdr (freed by
 * the caller after zip_close, which reads it). */
static nb_status add_member(zip_t *za, const char *path, const char *name,
                            const nb_tensor *t, bool compress,
                            unsigned char **hdr, void **copy)
{
	size_t hl, nl = strlen(name);
	const void *data;
	char member[300];
	if (!(*hdr = nb__npy_header(t, &hl)) ||
	    !(data = nb__npy_data(t, copy)))
		return nb__set_error(NB_ENOMEM, "%s: out of memory", path);
	zip_buffer_fragment_t frag[2] = {
		{*hdr, hl},
		{(zip_uint8_t *)(uintptr_t)data, t->numel * nb_dtype_size(t->dtype)},
	};
	memcpy(member, name, nl);
	memcpy(member + nl, ".npy", 5);
	zip_source_t *src = zip_source_buffer_fragment(za, frag, 2, 0);
	if (!src)
		return zip_fail(path, name, zip_error_code_zip(zip_get_error(za)),
		                "adding the member");
	zip_int64_t at = zip_file_add(za, member, src, ZIP_FL_ENC_UTF_8);
	if (at < 0) {
		zip_source_free(src);
		return zip_fail(path, name, zip_error_code_zip(zip_get_error(za)),
		                "adding the member");
	}
	if (zip_set_file_compression(za, (zip_uint64_t)at, compress
	                             ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0))
		return zip_fail(path, name, zip_error_code_zip(zip_get_error(za)),
		                "choosing the compression");
	return NB_OK;
}

static nb_status check_names(const char *path, const char *const *names,
                             const nb_tensor *const *tensors, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!names[i] || !tensors[i])
			return nb__set_error(NB_EINVAL, "%s: cannot save: %s %zu is "
			                     "NULL", path, names[i] ? "tensor" : "name",
			                     i);
		if (!*names[i] || strchr(names[i], '/') || strlen(names[i]) > 255)
			return nb__set_error(NB_EINVAL, "%s: cannot save: bad array "
			                     "name '%s' (1 to 255 bytes, no '/')", path,
			                     names[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(names[i], names[j]))
				return nb__set_error(NB_EINVAL, "%s: cannot save: array "
				                     "name '%s' twice", path, names[i]);
	}
	return NB_OK;
}

/* The archive in memory, from src (which zip_close filled), to fd. */
static nb_status copy_out(zip_source_t *src, const char *path, int fd,
                          const char *tmp)
{
	unsigned char buf[1 << 16];
	if (zip_source_open(src))
		return zip_fail(path, NULL, zip_error_code_zip(
		                zip_source_error(src)), "reading the new archive");
	nb_status st = NB_OK;
	for (;;) {
		zip_int64_t r = zip_source_read(src, buf, sizeof buf);
		if (r < 0) {
			st = zip_fail(path, NULL, zip_error_code_zip(
			              zip_source_error(src)), "reading the new archive");
			break;
		}
		if (r == 0)
			break;
		if (!nb__write_all(fd, buf, (size_t)r)) {
			st = nb__set_error(NB_EIO, "%s: cannot save: writing %s: %s",
			                   path, tmp, strerror(errno));
			break;
		}
	}
	zip_source_close(src);
	return st;
}

/* Builds the archive into the in-memory source src. */
static nb_status build(zip_source_t *src, const char *path,
                       const char *const *names,
                       const nb_tensor *const *tensors, size_t n,
                       bool compress, unsigned char **hdrs, void **copies)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	if (!za) {
		nb_status st = zip_fail(path, NULL, zip_error_code_zip(&ze),
		                        "creating the archive");
		zip_error_fini(&ze);
		zip_source_free(src); /* the reference the archive did not take */
		return st;
	}
	nb_status st = NB_OK;
	for (size_t i = 0; i < n && !st; i++)
		st = add_member(za, path, names[i], tensors[i], compress, &hdrs[i],
		                &copies[i]);
	if (st) {
		zip_discard(za);
		return st;
	}
	if (zip_close(za)) {
		st = zip_fail(path, NULL, zip_error_code_zip(zip_get_error(za)),
		              "writing the archive");
		zip_discard(za);
	}
	return st;
}

nb_status nb_npz_save(const char *path, const char *const *names,
                      const nb_tensor *const *tensors, size_t n,
                      bool compress)
{
	if (!path || (n && (!names || !tensors)))
		return nb__set_error(NB_EINVAL, "npz: %s is NULL",
		                     path ? "names or tensors" : "path");
	nb_status st = check_names(path, names, tensors, n);
	if (st)
		return st;
	nb__replace s = {.path = path, .fd = -1};
	unsigned char **hdrs = nb__calloc(n + 1, sizeof *hdrs);
	void **copies = nb__calloc(n + 1, sizeof *copies);
	zip_source_t *src = NULL;
	zip_error_t ze;
	zip_error_init(&ze);
	if ((st = nb__replace_check(&s)))
		goto out;
	if (!hdrs || !copies) {
		st = nb__set_error(NB_ENOMEM, "%s: out of memory", path);
		goto out;
	}
	if (!(src = zip_source_buffer_create(NULL, 0, 0, &ze))) {
		st = zip_fail(path, NULL, zip_error_code_zip(&ze),
		              "creating the archive");
		goto out;
	}
	zip_source_keep(src); /* past zip_close, to be read */
	if ((st = build(src, path, names, tensors, n, compress, hdrs, copies)) ||
	    (st = nb__replace_open(&s)) ||
	    (st = copy_out(src, path, s.fd, s.tmp)))
		goto out;
	st = nb__replace_commit(&s);
out:
	nb__replace_end(&s);
	if (src)
		zip_source_free(src);
	zip_error_fini(&ze);
	for (size_t i = 0; hdrs && copies && i < n; i++) {
		nb__free(hdrs[i]);
		nb__free(copies[i]);
	}
	nb__free(hdrs);
	nb__free(copies);
	return st;
}

#else /* !HAVE_LIBZIP */

static nb_status no_libzip(const char *path)
{
	return nb__set_error(NB_ESTATE, "%s: nabla was built without libzip, "
	                     "so it cannot read or write .npz files (install "
	                     "libzip-dev and rebuild; .npy files work)",
	                     path ? path : "npz");
}

nb_status nb_npz_open(const char *path, nb_npz **out)
{
	if (out)
		*out = NULL;
	if (!path || !out)
		return nb__set_error(NB_EINVAL, "npz: %s is NULL",
		                     path ? "out" : "path");
	return no_libzip(path);
}

void nb_npz_close(nb_npz *z)
{
	(void)z;
}

size_t nb_npz_count(const nb_npz *z)
{
	(void)z;
	return 0;
}

const char *nb_npz_name(const nb_npz *z, size_t i)
{
	(void)z;
	(void)i;
	return NULL;
}

nb_tensor *nb_npz_read(nb_npz *z, const char *name)
{
	nb__set_error(NB_EINVAL, "npz: %s is NULL", z ? "name" : "archive");
	return NULL;
}

nb_status nb_npz_save(const char *path, const char *const *names,
                      const nb_tensor *const *tensors, size_t n,
                      bool compress)
{
	(void)compress;
	if (!path || (n && (!names || !tensors)))
		return nb__set_error(NB_EINVAL, "npz: %s is NULL",
		                     path ? "names or tensors" : "path");
	return no_libzip(path);
}

#endif
