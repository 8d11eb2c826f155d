/*
 * fuzz_idx.c - the IDX reader on hostile files, plain or gzip: the input
 * is the file, read as float32 and as int64 labels.  data.h promises
 * that memory grows only with the data actually read: no allocation may
 * exceed what the file's values can fill (8 bytes per value byte, as an
 * int64 from a u8, with an allowance; gzip data is bounded by the
 * capped allocator instead, as it may inflate).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	fz_init_alloc();
	int fd = fz_file(data, size, path, sizeof path);
	if (fd < 0)
		return 0;
	bool gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
	fz_bound = gz ? 0 : 8 * size + 65536;
	nb_tensor_free(nb_idx_read(path, NB_F32));
	nb_tensor_free(nb_idx_read(path, NB_I64));
	fz_bound = 0;
	close(fd);
	return 0;
}
