/*
 * gemm_shapes.c - times OpenBLAS's cblas_sgemm against oneDNN's
 * dnnl_sgemm on the matrix products the benchmark workloads make, the
 * two alternating call by call so that a burst of load falls on both,
 * and prints each one's fastest time, its GFLOP/s and which library
 * nabla's automatic route (lib/blas.c, NB_GEMM=auto) picks for the
 * shape.  This is the measurement behind that route.
 *
 *   nabla-gemm-shapes [--threads N] [--rounds R]
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nabla/nabla.h>

#if defined(HAVE_CBLAS) && defined(HAVE_ONEDNN)
#include <cblas.h>
#include <dnnl.h>
#ifdef HAVE_OMP_SET_NUM_THREADS
#include <omp.h>
#endif

typedef struct shape {
	const char *use;
	char ta, tb;
	int m, n, k;
} shape;

/* Row-major C[m, n] = op(A) op(B); the comment says who makes it. */
static const shape shapes[] = {
	{"charlstm: step h W_hh^T", 'N', 'T', 32, 1024, 256},
	{"charlstm: step D W_hh", 'N', 'N', 32, 256, 1024},
	{"charlstm: dW_hh", 'T', 'N', 1024, 256, 2048},
	{"charlstm: x W_ih^T", 'N', 'T', 2048, 1024, 64},
	{"charlstm: dx", 'N', 'N', 2048, 64, 1024},
	{"charlstm: dW_ih", 'T', 'N', 1024, 64, 2048},
	{"charlstm: head", 'N', 'T', 2048, 96, 256},
	{"charlstm: head dx", 'N', 'N', 2048, 256, 96},
	{"gpt_tiny: qkv", 'N', 'T', 1024, 384, 128},
	{"gpt_tiny: mlp up", 'N', 'T', 1024, 512, 128},
	{"gpt_tiny: mlp down dx", 'N', 'N', 1024, 128, 512},
	{"gpt_tiny: mlp dW", 'T', 'N', 512, 128, 1024},
	{"gpt_tiny: scores", 'N', 'T', 64, 64, 32},
	{"gpt_tiny: probs v", 'N', 'N', 64, 32, 64},
	{"mlp784: fc1", 'N', 'T', 128, 256, 784},
	{"mlp784: fc1 dW", 'T', 'N', 256, 784, 128},
	{"fmnist: fc1 dx", 'N', 'N', 128, 784, 256},
	{"seed10: layer", 'N', 'T', 2000, 1000, 1000},
	{"seed10: dx", 'N', 'N', 2000, 1000, 1000},
	{"seed10: dW", 'T', 'N', 1000, 1000, 2000},
	{"sgemm", 'N', 'N', 1024, 1024, 1024},
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static float *filled(size_t n, unsigned seed)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; p && i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
	}
	return p;
}

/* One library's time for reps calls: 0 OpenBLAS, 1 oneDNN. */
static double run(int lib, const shape *s, const float *a, const float *b,
                  float *c, int reps)
{
	int lda = s->ta == 'N' ? s->k : s->m, ldb = s->tb == 'N' ? s->n : s->k;
	double t0 = now_ms();
	for (int r = 0; r < reps; r++) {
		if (lib == 0)
			cblas_sgemm(CblasRowMajor,
			            s->ta == 'N' ? CblasNoTrans : CblasTrans,
			            s->tb == 'N' ? CblasNoTrans : CblasTrans,
			            s->m, s->n, s->k, 1.0f, a, lda, b, ldb, 1.0f,
			            c, s->n);
		else if (dnnl_sgemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, a, lda,
		                    b, ldb, 1.0f, c, s->n) != dnnl_success)
			return -1;
	}
	return (now_ms() - t0) / reps;
}

int main(int argc, char **argv)
{
	int threads = 1, rounds = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: nabla-gemm-shapes [--threads N] "
			        "[--rounds R]\n");
			return 2;
		}
	}
	if (threads < 1 || rounds < 1 || nb_set_num_threads(threads)) {
		fprintf(stderr, "nabla-gemm-shapes: bad --threads or --rounds\n");
		return 2;
	}
#ifdef HAVE_OMP_SET_NUM_THREADS
	omp_set_num_threads(threads); /* oneDNN's; OpenBLAS's is set above */
#endif
	printf("%-24s %2s %5s %5s %5s %10s %7s %10s %7s %6s %s\n", "product",
	       "op", "m", "n", "k", "openblas", "GF/s", "onednn", "GF/s",
	       "ratio", "auto");
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		const shape *s = &shapes[i];
		size_t m = (size_t)s->m, n = (size_t)s->n, k = (size_t)s->k;
		float *a = filled(m * k, 1), *b = filled(k * n, 2);
		float *c = filled(m * n, 3);
		if (!a || !b || !c) {
			fprintf(stderr, "nabla-gemm-shapes: out of memory\n");
			return 1;
		}
		double flop = 2.0 * (double)m * (double)n * (double)k;
		int reps = (int)(4e8 / flop) + 1;
		double best[2] = {1e30, 1e30};
		run(0, s, a, b, c, 1);
		run(1, s, a, b, c, 1);
		for (int r = 0; r < rounds; r++)
			for (int lib = 0; lib < 2; lib++) {
				double t = run(lib, s, a, b, c, reps);
				if (t < 0) {
					fprintf(stderr, "nabla-gemm-shapes: "
					        "dnnl_sgemm failed\n");
					return 1;
				}
				if (t < best[lib])
					best[lib] = t;
			}
		/* the route of lib/blas.c at one thread: A B^T, or A B
		 * with >= 128 rows, of at least 2^16 multiply-adds */
		bool one = s->ta == 'N' && (s->tb == 'T' || s->m >= 128) &&
		           flop >= 2.0 * 65536;
		printf("%-24s %c%c %5d %5d %5d %10.4f %7.1f %10.4f %7.1f %6.2f %s\n",
		       s->use, s->ta, s->tb, s->m, s->n, s->k, best[0],
		       flop / best[0] / 1e6, best[1], flop / best[1] / 1e6,
		       best[0] / best[1], one ? "onednn" : "openblas");
		free(a);
		free(b);
		free(c);
	}
	printf("ratio = OpenBLAS time / oneDNN time (above 1, oneDNN is "
	       "faster); %d thread(s), best of %d rounds\n", threads, rounds);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "nabla-gemm-shapes: cannot write the table\n");
		return 1;
	}
	return 0;
}
#else
int main(void)
{
	fprintf(stderr, "nabla-gemm-shapes: needs a build with CBLAS and "
	        "oneDNN\n");
	return 77;
}
#endif
