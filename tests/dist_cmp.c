/*
 * dist_cmp.c - the largest difference |a - b| / max(1, |a|) between
 * the tensors of two safetensors checkpoints (every tensor of A, found
 * by name in B: absolute below 1, relative above, as running variances
 * grow), for tests/test_dist_train.sh.  Prints "max_diff X over N tensors
 * (worst NAME)"; exits 0 when X <= TOL (argv[3], default 0), 1 when
 * larger or a tensor is missing or shaped differently, 2 on usage.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>

int main(int argc, char **argv)
{
	nb_safetensors *a = NULL, *b = NULL;
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: dist_cmp A.safetensors B.safetensors "
		        "[TOL]\n");
		return 2;
	}
	double tol = argc == 4 ? strtod(argv[3], NULL) : 0, worst = 0;
	if (nb_safetensors_open(argv[1], &a) ||
	    nb_safetensors_open(argv[2], &b)) {
		fprintf(stderr, "dist_cmp: %s\n", nb_last_error());
		return 1;
	}
	char worst_name[256] = "";
	size_t n = nb_safetensors_count(a);
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *name = nb_safetensors_name(a, i);
		nb_tensor *x = nb_safetensors_read(a, name);
		nb_tensor *y = nb_safetensors_read(b, name);
		if (!x || !y || nb_tensor_numel(x) != nb_tensor_numel(y)) {
			fprintf(stderr, "dist_cmp: %s: missing or of another "
			        "size in %s\n", name, argv[2]);
			rc = 1;
		}
		for (size_t e = 0; !rc && e < nb_tensor_numel(x); e++) {
			double u = nb_tensor_get(x, e), v = nb_tensor_get(y, e);
			double d = fabs(u - v) / fmax(1, fabs(u));
			if (!(d <= worst)) {
				worst = d;
				snprintf(worst_name, sizeof worst_name, "%s", name);
			}
		}
		nb_tensor_free(x);
		nb_tensor_free(y);
	}
	nb_safetensors_close(a);
	nb_safetensors_close(b);
	printf("max_diff %.3g over %zu tensors (worst %s)\n", worst, n,
	       worst_name);
	return rc ? rc : !(worst <= tol);
}
