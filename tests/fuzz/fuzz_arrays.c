/*
 * fuzz_arrays.c - the .npy, .npz and CSV readers (lib/io/npy.c, npz.c,
 * csv.c) and the data set checks (userdata.c) on hostile files.  The
 * first byte chooses the reader (0 .npy, 1 .npz, 2 CSV, modulo 3); the
 * rest is the file.  doc/data.md promises that a .npy's or a CSV's memory
 * grows only with the file: no allocation may exceed a small multiple
 * of it (an int64 per byte of an i1 array; a double per one-byte CSV
 * cell, doubled while the buffer grows).  An .npz member may inflate,
 * so there the capped allocator is the bound.
 */
#include "fuzz.h"

/* The arrays of an archive read, and x and y as a data set. */
static void npz(const char *path)
{
	nb_npz *z;
	nb_tensor *x = NULL, *y = NULL;
	if (nb_npz_open(path, &z))
		return;
	for (size_t i = 0; i < nb_npz_count(z); i++) {
		nb_tensor *t = nb_npz_read(z, nb_npz_name(z, i));
		if (!strcmp(nb_npz_name(z, i), "x") && !x)
			x = t;
		else if (!strcmp(nb_npz_name(z, i), "y") && !y)
			y = t;
		else
			nb_tensor_free(t);
	}
	nb_npz_close(z);
	nb_dataset d;
	if (x && y && !nb_dataset_from_arrays(&d, "fuzz", x, y, NULL, NULL,
	                                      NB_TARGETS_AUTO, 0.5, 1))
		nb_dataset_free(&d);
	nb_tensor_free(x);
	nb_tensor_free(y);
}

/* A CSV, then its columns as inputs and as class and value targets. */
static void csv(const char *path)
{
	char **cols = NULL;
	nb_tensor *t = nb_csv_load(path, NB_F32, &cols);
	nb_csv_columns_free(cols);
	if (!t)
		return;
	nb_dataset d;
	for (int k = 1; k <= 2; k++)
		if (!nb_dataset_from_arrays(&d, "fuzz", t, t, t, t, (nb_targets)k,
		                            0, 0))
			nb_dataset_free(&d);
	nb_tensor_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	if (!size)
		return 0;
	fz_init_alloc();
	int fd = fz_file(data + 1, size - 1, path, sizeof path);
	if (fd < 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fz_bound = 8 * size + 65536;
		nb_tensor_free(nb_npy_load(path));
		break;
	case 1:
		npz(path);
		break;
	default:
		fz_bound = 32 * size + 65536;
		csv(path);
		break;
	}
	fz_bound = 0;
	close(fd);
	return 0;
}
