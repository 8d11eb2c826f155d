/*
 * fuzz_safetensors.c - the safetensors loader on hostile files: the
 * input is the file.  Every tensor is listed, inspected and read, the
 * metadata looked up, and the file loaded into a small model (not
 * strict), as nabla train --load would.  checkpoint.h promises no
 * allocation larger than the file: the allocator checks it (plus a
 * fixed allowance for the loader's own small structures).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static nb_module *model;
	char path[64];
	fz_init_alloc();
	if (!model) {
		nb_model_opts mo = {.seed = 1};
		model = nb_model_parse("linear:3 batch_norm relu linear:2", 4, &mo);
		if (!model)
			abort();
	}
	int fd = fz_file(data, size, path, sizeof path);
	if (fd < 0)
		return 0;
	fz_bound = size + 65536;
	nb_safetensors *f;
	if (nb_safetensors_open(path, &f) == NB_OK) {
		for (size_t i = 0; i < nb_safetensors_count(f); i++) {
			const char *name = nb_safetensors_name(f, i);
			nb_dtype dt;
			int ndim;
			int64_t shape[NB_MAX_DIMS];
			if (!name || !nb_safetensors_dtype_str(f, name))
				abort();
			if (nb_safetensors_info(f, name, &dt, &ndim, shape))
				continue;
			nb_tensor *t = nb_safetensors_read(f, name);
			if (t && nb_tensor_numel(t) * nb_dtype_size(dt) > size)
				abort();
			nb_tensor_free(t);
		}
		nb_safetensors_meta(f, "format");
		nb_safetensors_close(f);
	}
	nb_load_report rep;
	nb_module_load(model, path, false, &rep);
	fz_bound = 0;
	close(fd);
	return 0;
}
