/*
 * conv_onednn.c - float32 convolutions by oneDNN's primitives on nabla's
 * plain NCHW arrays (issue 17; doc/conv.md says when this path runs and
 * what it was measured at).
 *
 * Making a primitive (choosing an implementation, JIT-compiling its
 * kernel) costs far more than running it on a small layer, so the
 * primitives are kept in a small cache keyed by everything they depend
 * on: the direction, the geometry (shapes, stride, padding, dilation,
 * groups), whether there is a bias, and the thread count (oneDNN plans
 * its parallel split when the primitive is made, and must run it with
 * the same count).  An entry in use is never evicted; when all are in
 * use a primitive is made for the call and destroyed after it.  The
 * cache and the engine are freed at exit (atexit, registered after
 * oneDNN's own static objects exist, so it runs before they go).
 *
 * Scratch memory is the caller's (scratchpad mode "user"), taken from
 * nb__malloc per call: two graphs on two threads can run the same
 * primitive at once, and a failed allocation is NB_ENOMEM like any other.
 * oneDNN writes its results; nabla's backward adds, so the gradients
 * are computed into scratch and then added.
 *
 * NB_CONV=im2col in the environment sends every convolution to
 * im2col + GEMM (read per call, so a test or benchmark can switch).
 */
#include "config.h"
#include "conv_onednn.h"

#ifndef HAVE_ONEDNN

nb_status nb__onednn_conv_forward(nb_op_ctx *c, const nb__conv_geom *q,
                                  const float *x, const float *w,
                                  const float *b, float *y, bool *declined)
{
	*declined = true;
	return NB_OK;
}

nb_status nb__onednn_conv_backward(nb_op_ctx *c, const nb__conv_geom *q,
                                   const float *x, const float *w,
                                   const float *gout, float **dx,
                                   float **dw, float **db)
{
	return NB_OK;
}

#else

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <dnnl.h>
#ifdef HAVE_OMP_SET_NUM_THREADS
#include <omp.h>
#endif

enum dir { FWD, BWD_DATA, BWD_WEIGHTS };

/* dir, bias, threads, then the 16 numbers of the geometry */
#define KEY_LEN 19
#define CACHE_SIZE 16

typedef struct entry {
	int64_t key[KEY_LEN];
	dnnl_primitive_t prim;   /* NULL: a free slot */
	size_t scratch;          /* bytes of its scratchpad */
	int users;               /* calls running it now */
	uint64_t last;           /* the tick of its last use */
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry cache[CACHE_SIZE];
static uint64_t tick;
static dnnl_engine_t engine;
static bool engine_failed;

static void release(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < CACHE_SIZE; i++)
		if (cache[i].prim) {
			dnnl_primitive_destroy(cache[i].prim);
			cache[i].prim = NULL;
		}
	if (engine)
		dnnl_engine_destroy(engine);
	engine = NULL;
	pthread_mutex_unlock(&lock);
}

/* true unless NB_CONV asks for im2col. */
static bool wanted(void)
{
	const char *s = getenv("NB_CONV");
	return !s || strcmp(s, "im2col");
}

/* The engine, made on first use (caller holds lock); NULL if oneDNN
 * has no CPU engine. */
static dnnl_engine_t get_engine(void)
{
	if (!engine && !engine_failed) {
		if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
			engine = NULL;
			engine_failed = true;
		} else if (atexit(release)) {
			/* no clean-up at exit: reachable, not lost */
		}
	}
	return engine;
}

static void make_key(int64_t *key, enum dir d, bool bias, int threads,
                     const nb__conv_geom *q)
{
	const int64_t g[16] = {q->N, q->C, q->H, q->W, q->O, q->G, q->KH,
	                       q->KW, q->sh, q->sw, q->ph, q->pw, q->dh,
	                       q->dw, q->OH, q->OW};
	key[0] = d;
	key[1] = bias;
	key[2] = threads;
	memcpy(key + 3, g, sizeof g);
}

/* The memory descriptions of x, w, b and y: plain NCHW, (G)OIHW, X. */
typedef struct descs {
	dnnl_memory_desc_t x, w, b, y;
} descs;

static bool init_descs(const nb__conv_geom *q, descs *m)
{
	dnnl_dims_t x = {q->N, q->C, q->H, q->W}, y = {q->N, q->O, q->OH, q->OW};
	dnnl_dims_t b = {q->O};
	dnnl_dims_t w = {q->O, q->C, q->KH, q->KW};
	dnnl_dims_t gw = {q->G, q->O / q->G, q->C / q->G, q->KH, q->KW};
	return dnnl_memory_desc_init_by_tag(&m->x, 4, x, dnnl_f32, dnnl_nchw) ==
	           dnnl_success &&
	       dnnl_memory_desc_init_by_tag(&m->y, 4, y, dnnl_f32, dnnl_nchw) ==
	           dnnl_success &&
	       dnnl_memory_desc_init_by_tag(&m->b, 1, b, dnnl_f32, dnnl_x) ==
	           dnnl_success &&
	       (q->G == 1 ? dnnl_memory_desc_init_by_tag(&m->w, 4, w, dnnl_f32,
	                                                  dnnl_oihw)
	                  : dnnl_memory_desc_init_by_tag(&m->w, 5, gw, dnnl_f32,
	                                                  dnnl_goihw)) ==
	           dnnl_success;
}

/*
 * The primitive for d (made, not cached), its scratchpad size in
 * *scratch; NULL when oneDNN has no implementation.  Padding on the
 * right/bottom: what makes oneDNN's output size nabla's (at least 0;
 * the floor in the size formula absorbs the rest).
 */
static dnnl_primitive_t make(enum dir d, bool bias, const nb__conv_geom *q,
                             size_t *scratch)
{
	descs m;
	dnnl_convolution_desc_t fd, bd;
	dnnl_primitive_desc_t fpd = NULL, pd = NULL;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_t prim = NULL;
	int64_t rh = (q->OH - 1) * q->sh + (q->KH - 1) * q->dh + 1 - q->H - q->ph;
	int64_t rw = (q->OW - 1) * q->sw + (q->KW - 1) * q->dw + 1 - q->W - q->pw;
	dnnl_dims_t st = {q->sh, q->sw}, dil = {q->dh - 1, q->dw - 1};
	dnnl_dims_t pl = {q->ph, q->pw}, pr = {rh > 0 ? rh : 0, rw > 0 ? rw : 0};
	if (!init_descs(q, &m) ||
	    dnnl_primitive_attr_create(&attr) != dnnl_success)
		goto out;
	if (dnnl_primitive_attr_set_scratchpad_mode(attr,
	        dnnl_scratchpad_mode_user) != dnnl_success ||
	    dnnl_dilated_convolution_forward_desc_init(&fd,
	        dnnl_forward_training, dnnl_convolution_direct, &m.x, &m.w,
	        bias && d == FWD ? &m.b : NULL, &m.y, st, dil, pl, pr) !=
	        dnnl_success ||
	    dnnl_primitive_desc_create(&fpd, &fd, attr, engine, NULL) !=
	        dnnl_success)
		goto out;
	if (d == FWD) {
		pd = fpd;
		fpd = NULL;
	} else if ((d == BWD_DATA ?
	            dnnl_dilated_convolution_backward_data_desc_init(&bd,
	                dnnl_convolution_direct, &m.x, &m.w, &m.y, st, dil, pl,
	                pr) :
	            dnnl_dilated_convolution_backward_weights_desc_init(&bd,
	                dnnl_convolution_direct, &m.x, &m.w,
	                bias ? &m.b : NULL, &m.y, st, dil, pl, pr)) !=
	               dnnl_success ||
	           dnnl_primitive_desc_create(&pd, &bd, attr, engine, fpd) !=
	               dnnl_success) {
		pd = NULL;
		goto out;
	}
	*scratch = dnnl_memory_desc_get_size(
	    dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
	if (dnnl_primitive_create(&prim, pd) != dnnl_success)
		prim = NULL;
out:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return prim;
}

/* A free slot, or the least recently used one not in use (its
 * primitive destroyed); NULL when every slot is running. */
static entry *victim(void)
{
	entry *v = NULL;
	for (int i = 0; i < CACHE_SIZE; i++) {
		entry *e = &cache[i];
		if (!e->prim)
			return e;
		if (!e->users && (!v || e->last < v->last))
			v = e;
	}
	if (v) {
		dnnl_primitive_destroy(v->prim);
		v->prim = NULL;
	}
	return v;
}

/*
 * The primitive for (d, bias, q), from the cache or made; *own is set
 * when it is not cached (the caller destroys it).  Returns NULL when
 * oneDNN declines.  Every cached result is released with put().
 */
static dnnl_primitive_t get(enum dir d, bool bias, const nb__conv_geom *q,
                            int threads, size_t *scratch, entry **slot)
{
	int64_t key[KEY_LEN];
	dnnl_primitive_t p = NULL;
	make_key(key, d, bias, threads, q);
	*slot = NULL;
	pthread_mutex_lock(&lock);
	if (!get_engine())
		goto out;
	for (int i = 0; i < CACHE_SIZE; i++)
		if (cache[i].prim && !memcmp(cache[i].key, key, sizeof key)) {
			*slot = &cache[i];
			break;
		}
	if (!*slot) {
		if (!(p = make(d, bias, q, scratch)))
			goto out;
		if ((*slot = victim())) {
			memcpy((*slot)->key, key, sizeof key);
			(*slot)->prim = p;
			(*slot)->scratch = *scratch;
		}
	}
	if (*slot) {
		(*slot)->users++;
		(*slot)->last = ++tick;
		p = (*slot)->prim;
		*scratch = (*slot)->scratch;
	}
out:
	pthread_mutex_unlock(&lock);
	return p;
}

static void put(dnnl_primitive_t p, entry *slot)
{
	if (!slot) {
		dnnl_primitive_destroy(p);
		return;
	}
	pthread_mutex_lock(&lock);
	slot->users--;
	pthread_mutex_unlock(&lock);
}

/* One argument: a memory object over data (NULL data: not passed). */
typedef struct arg {
	int which;
	const dnnl_memory_desc_t *md;
	const void *data;
} arg;

/*
 * Runs p with args on this thread's stream; false if oneDNN failed.  The
 * memory objects wrap the callers' arrays (no copies).
 */
static bool run(dnnl_primitive_t p, const arg *args, int n)
{
	dnnl_exec_arg_t ea[6];
	dnnl_stream_t s = NULL;
	int k = 0;
	bool ok = dnnl_stream_create(&s, engine, dnnl_stream_default_flags) ==
	          dnnl_success;
	for (int i = 0; ok && i < n; i++) {
		if (!args[i].data)
			continue;
		ea[k].arg = args[i].which;
		ok = dnnl_memory_create(&ea[k].memory, args[i].md, engine,
		                        (void *)args[i].data) == dnnl_success;
		if (ok)
			k++;
	}
	ok = ok && dnnl_primitive_execute(p, s, k, ea) == dnnl_success &&
	     dnnl_stream_wait(s) == dnnl_success;
	while (k > 0)
		dnnl_memory_destroy(ea[--k].memory);
	if (s)
		dnnl_stream_destroy(s);
	return ok;
}

/* nabla's thread count for oneDNN's OpenMP (per calling thread). */
static int set_threads(void)
{
	int n = nb_get_num_threads();
#ifdef HAVE_OMP_SET_NUM_THREADS
	omp_set_num_threads(n);
#endif
	return n;
}

/*
 * Runs direction d over args (the scratchpad added here).  *declined
 * when oneDNN has no implementation; NB_ENOMEM when the scratchpad
 * cannot be had; NB_EINVAL (a bug or a oneDNN failure) otherwise.
 */
static nb_status execute(nb_op_ctx *c, enum dir d, bool bias,
                         const nb__conv_geom *q, arg *args, int n,
                         bool *declined)
{
	size_t scratch = 0;
	entry *slot;
	nb_status st = NB_OK;
	dnnl_primitive_t p = get(d, bias, q, set_threads(), &scratch, &slot);
	if (!p) {
		*declined = true;
		return NB_OK;
	}
	dnnl_memory_desc_t smd;
	dnnl_dims_t sz = {(dnnl_dim_t)scratch};
	void *buf = scratch ? nb__malloc(scratch) : NULL;
	if (scratch && !buf)
		st = nb_op_fail(c, NB_ENOMEM, "out of memory for oneDNN's "
		                "scratchpad (%zu bytes)", scratch);
	else if (scratch && dnnl_memory_desc_init_by_tag(&smd, 1, sz, dnnl_u8,
	                                                 dnnl_x) != dnnl_success)
		st = nb_op_fail(c, NB_EINVAL, "oneDNN refused its scratchpad");
	else {
		args[n++] = (arg){DNNL_ARG_SCRATCHPAD, &smd, buf};
		if (!run(p, args, n))
			st = nb_op_fail(c, NB_EINVAL, "oneDNN failed to run the "
			                "convolution");
	}
	nb__free(buf);
	put(p, slot);
	return st;
}

nb_status nb__onednn_conv_forward(nb_op_ctx *c, const nb__conv_geom *q,
                                  const float *x, const float *w,
                                  const float *b, float *y, bool *declined)
{
	descs m;
	*declined = !wanted() || !q->N || !q->O || !init_descs(q, &m);
	if (*declined)
		return NB_OK;
	arg args[5] = {{DNNL_ARG_SRC, &m.x, x}, {DNNL_ARG_WEIGHTS, &m.w, w},
	               {DNNL_ARG_BIAS, &m.b, b}, {DNNL_ARG_DST, &m.y, y}};
	return execute(c, FWD, b != NULL, q, args, 4, declined);
}

/* dst[i] += src[i] for n elements. */
static void add_to(float *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] += src[i];
}

/* The input gradient into scratch, then added to dx. */
static nb_status backward_data(nb_op_ctx *c, const nb__conv_geom *q,
                               const descs *m, const float *w,
                               const float *gout, float *dx, bool *declined)
{
	size_t n = (size_t)(q->N * q->C * q->H * q->W);
	float *t = nb__malloc(n * sizeof *t);
	if (!t)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the input "
		                  "gradient (%zu bytes)", n * sizeof *t);
	arg args[4] = {{DNNL_ARG_DIFF_SRC, &m->x, t},
	               {DNNL_ARG_WEIGHTS, &m->w, w},
	               {DNNL_ARG_DIFF_DST, &m->y, gout}};
	nb_status st = execute(c, BWD_DATA, false, q, args, 3, declined);
	if (!st && !*declined)
		add_to(dx, t, n);
	nb__free(t);
	return st;
}

/* The weight (and bias) gradients into scratch, then added. */
static nb_status backward_weights(nb_op_ctx *c, const nb__conv_geom *q,
                                  const descs *m, const float *x,
                                  const float *gout, float *dw, float *db,
                                  bool *declined)
{
	size_t nw = (size_t)(q->O * (q->C / q->G) * q->KH * q->KW);
	size_t nb = db ? (size_t)q->O : 0;
	float *t = nb__malloc((nw + nb) * sizeof *t);
	if (!t)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the weight "
		                  "gradient (%zu bytes)", (nw + nb) * sizeof *t);
	arg args[5] = {{DNNL_ARG_SRC, &m->x, x},
	               {DNNL_ARG_DIFF_WEIGHTS, &m->w, t},
	               {DNNL_ARG_DIFF_BIAS, &m->b, db ? t + nw : NULL},
	               {DNNL_ARG_DIFF_DST, &m->y, gout}};
	nb_status st = execute(c, BWD_WEIGHTS, db != NULL, q, args, 4,
	                       declined);
	if (!st && !*declined) {
		add_to(dw, t, nw);
		if (db)
			add_to(db, t + nw, nb);
	}
	nb__free(t);
	return st;
}

nb_status nb__onednn_conv_backward(nb_op_ctx *c, const nb__conv_geom *q,
                                   const float *x, const float *w,
                                   const float *gout, float **dx,
                                   float **dw, float **db)
{
	descs m;
	bool declined = false;
	nb_status st = NB_OK;
	if (!wanted() || !q->N || !q->O || !init_descs(q, &m))
		return NB_OK;
	/* The bias's gradient goes with the weight's (a lone one is a sum,
	 * left to im2col's path). */
	if (*dw) {
		st = backward_weights(c, q, &m, x, gout, *dw, *db, &declined);
		if (!st && !declined)
			*dw = *db = NULL;
	}
	if (!st && *dx) {
		st = backward_data(c, q, &m, w, gout, *dx, &declined);
		if (!st && !declined)
			*dx = NULL;
	}
	return st;
}

#endif /* HAVE_ONEDNN */
