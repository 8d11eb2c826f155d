/*
 * conv_onednn.c - float32 convolutions by oneDNN's primitives (issue 17;
 * doc/conv.md says when this path runs and what it was measured at).
 *
 * nabla's tensors are plain NCHW (weights OIHW).  NB_CONV=onednn (the
 * default) makes each primitive with the layouts left to oneDNN, which
 * picks blocked ones and its direct JIT kernels, and reorders the inputs
 * into them and the results back per call (the channel-blocked data
 * layouts by nabla's own copies, conv_layout.c); NB_CONV=onednn-nchw
 * runs the primitives on nabla's arrays as they are; NB_CONV=im2col
 * declines everything (read per call, so a test or benchmark can
 * switch).
 *
 * Making a primitive (choosing an implementation, JIT-compiling its
 * kernel) costs far more than running it on a small layer, so each
 * direction's convolution and reorders (a plan) are kept in a small
 * cache keyed by everything they depend on: the direction, the
 * geometry (shapes, stride, padding, dilation, groups), whether there
 * is a bias, the layout, and the thread count (oneDNN plans its
 * parallel split when the primitive is made, and must run it with the
 * same count).  An entry in use is never evicted; when all are in use a
 * plan is made for the call and freed after it.  The cache and the
 * engine are freed at exit (atexit, registered after oneDNN's own
 * static objects exist, so it runs before they go).
 *
 * Scratch memory (the scratchpad, in oneDNN's "user" mode, and the
 * blocked copies) is the caller's, taken per call from the graph's temp
 * arena (nb__op_temp, so that a loop of steps does not malloc): two
 * graphs on two threads can run the same plan at once, and a failed
 * allocation is NB_ENOMEM like any other.  oneDNN writes its results;
 * nabla's backward adds, so the gradients are computed into scratch
 * and then added.
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
                                   float **dw, float **db, bool dx_fresh)
{
	return NB_OK;
}

#else

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <dnnl.h>

enum dir { FWD, BWD_DATA, BWD_WEIGHTS };

/* The layouts oneDNN computes in: nabla's own (plain NCHW, OIHW), or
 * the ones it prefers (blocked, such as nChw16c), reordered per call. */
enum layout { PLAIN, BLOCKED };

/* dir, bias, threads, layout, then the 16 numbers of the geometry */
#define KEY_LEN 20
#define CACHE_SIZE 16
/* the data arguments of a direction (its bias and scratchpad aside) */
#define N_DATA 3

/*
 * What runs one direction: the convolution and, for each data argument
 * whose layout differs from nabla's, a conversion in (for an input) or
 * out (for an output) and the bytes of its buffer.  The conversion is
 * nabla's own copy on its pool when the layout is nChw8c or nChw16c
 * (blk: conv_layout.c), else a oneDNN reorder.
 */
typedef struct plan {
	dnnl_primitive_t conv;
	size_t scratch;                 /* bytes of its scratchpad */
	int which[N_DATA];              /* DNNL_ARG_... */
	bool out[N_DATA];               /* written by the convolution */
	dnnl_memory_desc_t md[N_DATA];  /* the layout it computes in */
	dnnl_primitive_t reorder[N_DATA]; /* or NULL */
	int blk[N_DATA];                /* or the block of nChw{8,16}c */
	size_t bytes[N_DATA];           /* 0: nabla's layout, no copy */
} plan;

/* Plans live in the cache's slots (or on the stack of a call that
 * found every slot running): no allocation outlives a call. */
typedef struct entry {
	int64_t key[KEY_LEN];
	plan p;                  /* p.conv NULL: a free slot */
	int users;               /* calls running it now */
	uint64_t last;           /* the tick of its last use */
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry cache[CACHE_SIZE];
static uint64_t tick;
static dnnl_engine_t engine;
static bool engine_failed;

/* Destroys p's primitives; p is then a free slot. */
static void plan_free(plan *p)
{
	if (p->conv)
		dnnl_primitive_destroy(p->conv);
	for (int k = 0; k < N_DATA; k++)
		if (p->reorder[k])
			dnnl_primitive_destroy(p->reorder[k]);
	memset(p, 0, sizeof *p);
}

static void release(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < CACHE_SIZE; i++)
		plan_free(&cache[i].p);
	if (engine)
		dnnl_engine_destroy(engine);
	engine = NULL;
	pthread_mutex_unlock(&lock);
}

/*
 * The path NB_CONV asks for q: 0 im2col, else 1 + the layout.  Strided
 * and dilated convolutions stay in the plain layout: there the blocked
 * kernels skip the products with elements no window reads, so a NaN or
 * infinite weight or input does not reach those gradients as it does in
 * PyTorch (0 * NaN; tests/test_edge.c compares).
 */
static int wanted(const nb__conv_geom *q)
{
	const char *s = getenv("NB_CONV");
	if (nb__conv_im2col_forced())
		return 0;
	if ((s && !strcmp(s, "onednn-nchw")) || q->sh > 1 || q->sw > 1 ||
	    q->dh > 1 || q->dw > 1)
		return 1 + PLAIN;
	return 1 + BLOCKED;
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
                     enum layout lay, const nb__conv_geom *q)
{
	const int64_t g[16] = {q->N, q->C, q->H, q->W, q->O, q->G, q->KH,
	                       q->KW, q->sh, q->sw, q->ph, q->pw, q->dh,
	                       q->dw, q->OH, q->OW};
	key[0] = d;
	key[1] = bias;
	key[2] = threads;
	key[3] = lay;
	memcpy(key + 4, g, sizeof g);
}

/* The memory descriptions of x, w, b and y: plain NCHW, (G)OIHW, X, or
 * (any) whatever the primitive prefers for x, w and y. */
typedef struct descs {
	dnnl_memory_desc_t x, w, b, y;
} descs;

static bool init_descs(const nb__conv_geom *q, descs *m, bool any)
{
	dnnl_dims_t x = {q->N, q->C, q->H, q->W}, y = {q->N, q->O, q->OH, q->OW};
	dnnl_dims_t b = {q->O};
	dnnl_dims_t w = {q->O, q->C, q->KH, q->KW};
	dnnl_dims_t gw = {q->G, q->O / q->G, q->C / q->G, q->KH, q->KW};
	dnnl_format_tag_t t4 = any ? dnnl_format_tag_any : dnnl_nchw;
	dnnl_format_tag_t tw = any ? dnnl_format_tag_any
	                           : q->G == 1 ? dnnl_oihw : dnnl_goihw;
	return dnnl_memory_desc_init_by_tag(&m->x, 4, x, dnnl_f32, t4) ==
	           dnnl_success &&
	       dnnl_memory_desc_init_by_tag(&m->y, 4, y, dnnl_f32, t4) ==
	           dnnl_success &&
	       dnnl_memory_desc_init_by_tag(&m->b, 1, b, dnnl_f32, dnnl_x) ==
	           dnnl_success &&
	       (q->G == 1 ? dnnl_memory_desc_init_by_tag(&m->w, 4, w, dnnl_f32,
	                                                  tw)
	                  : dnnl_memory_desc_init_by_tag(&m->w, 5, gw, dnnl_f32,
	                                                  tw)) ==
	           dnnl_success;
}

/* The convolution's primitive descriptor for d, or NULL. */
static dnnl_primitive_desc_t conv_pd(enum dir d, bool bias,
                                     const nb__conv_geom *q, const descs *m,
                                     const_dnnl_primitive_attr_t attr)
{
	dnnl_convolution_desc_t fd, bd;
	dnnl_primitive_desc_t fpd = NULL, pd = NULL;
	int64_t rh = (q->OH - 1) * q->sh + (q->KH - 1) * q->dh + 1 - q->H - q->ph;
	int64_t rw = (q->OW - 1) * q->sw + (q->KW - 1) * q->dw + 1 - q->W - q->pw;
	dnnl_dims_t st = {q->sh, q->sw}, dil = {q->dh - 1, q->dw - 1};
	dnnl_dims_t pl = {q->ph, q->pw}, pr = {rh > 0 ? rh : 0, rw > 0 ? rw : 0};
	if (dnnl_dilated_convolution_forward_desc_init(&fd,
	        dnnl_forward_training, dnnl_convolution_direct, &m->x, &m->w,
	        bias && d == FWD ? &m->b : NULL, &m->y, st, dil, pl, pr) !=
	        dnnl_success ||
	    dnnl_primitive_desc_create(&fpd, &fd, attr, engine, NULL) !=
	        dnnl_success)
		return NULL;
	if (d == FWD)
		return fpd;
	if ((d == BWD_DATA ?
	     dnnl_dilated_convolution_backward_data_desc_init(&bd,
	         dnnl_convolution_direct, &m->x, &m->w, &m->y, st, dil, pl, pr) :
	     dnnl_dilated_convolution_backward_weights_desc_init(&bd,
	         dnnl_convolution_direct, &m->x, &m->w, bias ? &m->b : NULL,
	         &m->y, st, dil, pl, pr)) != dnnl_success ||
	    dnnl_primitive_desc_create(&pd, &bd, attr, engine, fpd) !=
	        dnnl_success)
		pd = NULL;
	dnnl_primitive_desc_destroy(fpd);
	return pd;
}

/* A reorder between two layouts, without scratchpad; NULL if none. */
static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *from,
                                     const dnnl_memory_desc_t *to,
                                     const_dnnl_primitive_attr_t attr)
{
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t r = NULL;
	if (dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine,
	                                       attr) != dnnl_success)
		return NULL;
	if (dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd,
	        dnnl_query_scratchpad_md, 0)) ||
	    dnnl_primitive_create(&r, pd) != dnnl_success)
		r = NULL;
	dnnl_primitive_desc_destroy(pd);
	return r;
}

/*
 * 8 or 16 when want is the channel-blocked layout nChw8c or nChw16c of
 * the plain 4-d array mine (conv_layout.c copies those), else 0.
 */
static int channel_block(const dnnl_memory_desc_t *want,
                         const dnnl_memory_desc_t *mine)
{
	static const struct {
		dnnl_format_tag_t tag;
		int b;
	} blocked[] = {{dnnl_nChw8c, 8}, {dnnl_nChw16c, 16}};
	dnnl_memory_desc_t md;
	if (mine->ndims != 4 || mine->data_type != dnnl_f32)
		return 0;
	for (size_t i = 0; i < sizeof blocked / sizeof *blocked; i++)
		if (dnnl_memory_desc_init_by_tag(&md, 4, mine->dims, dnnl_f32,
		                                 blocked[i].tag) == dnnl_success &&
		    dnnl_memory_desc_equal(&md, want))
			return blocked[i].b;
	return 0;
}

/*
 * The plan of d in layout lay, into *p; false (and *p empty) when
 * oneDNN has no implementation.  Padding on the right/bottom: what makes oneDNN's
 * output size nabla's (at least 0; the floor in the size formula
 * absorbs the rest).
 */
static bool make(enum dir d, bool bias, enum layout lay,
                 const nb__conv_geom *q, plan *p)
{
	static const int args[3][N_DATA] = {
		{DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
		{DNNL_ARG_DIFF_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST},
		{DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_DST}};
	static const bool outs[3][N_DATA] = {{false, false, true},
	                                     {true, false, false},
	                                     {false, true, false}};
	descs m, user;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	bool ok = false;
	memset(p, 0, sizeof *p);
	if (!init_descs(q, &m, lay == BLOCKED) || !init_descs(q, &user, false) ||
	    dnnl_primitive_attr_create(&attr) != dnnl_success)
		goto out;
	if (dnnl_primitive_attr_set_scratchpad_mode(attr,
	        dnnl_scratchpad_mode_user) != dnnl_success ||
	    !(pd = conv_pd(d, bias, q, &m, attr)))
		goto out;
	const dnnl_memory_desc_t *mine[N_DATA] = {&user.x, &user.w, &user.y};
	ok = true;
	for (int k = 0; ok && k < N_DATA; k++) {
		const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd,
		    dnnl_query_exec_arg_md, args[d][k]);
		p->which[k] = args[d][k];
		p->out[k] = outs[d][k];
		ok = want != NULL;
		if (!ok || dnnl_memory_desc_equal(want, mine[k]))
			continue;
		p->md[k] = *want;
		p->bytes[k] = dnnl_memory_desc_get_size(want);
		if ((p->blk[k] = channel_block(want, mine[k])))
			continue;
		p->reorder[k] = p->out[k] ? make_reorder(want, mine[k], attr)
		                          : make_reorder(mine[k], want, attr);
		ok = p->reorder[k] != NULL;
	}
	p->scratch = dnnl_memory_desc_get_size(
	    dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
	ok = ok && dnnl_primitive_create(&p->conv, pd) == dnnl_success;
out:
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (!ok)
		plan_free(p);
	return ok;
}

/* A free slot, or the least recently used one not in use (its plan
 * freed); NULL when every slot is running. */
static entry *victim(void)
{
	entry *v = NULL;
	for (int i = 0; i < CACHE_SIZE; i++) {
		entry *e = &cache[i];
		if (!e->p.conv)
			return e;
		if (!e->users && (!v || e->last < v->last))
			v = e;
	}
	if (v)
		plan_free(&v->p);
	return v;
}

/*
 * The plan for (d, bias, lay, q), from the cache or made (the blocked
 * layout falls back to the plain one when oneDNN has nothing for it);
 * *slot is its cache entry, or NULL when every slot is running and the
 * plan was made into *own.  Returns NULL when oneDNN declines.  Every
 * result is released with put().
 */
static plan *get(enum dir d, bool bias, enum layout lay,
                 const nb__conv_geom *q, int threads, plan *own,
                 entry **slot)
{
	int64_t key[KEY_LEN];
	plan *p = NULL, made;
	make_key(key, d, bias, threads, lay, q);
	*slot = NULL;
	pthread_mutex_lock(&lock);
	if (!get_engine())
		goto out;
	for (int i = 0; i < CACHE_SIZE; i++)
		if (cache[i].p.conv && !memcmp(cache[i].key, key, sizeof key)) {
			*slot = &cache[i];
			break;
		}
	if (!*slot) {
		if (!make(d, bias, lay, q, &made) &&
		    !(lay == BLOCKED && make(d, bias, PLAIN, q, &made)))
			goto out;
		if ((*slot = victim())) {
			memcpy((*slot)->key, key, sizeof key);
			(*slot)->p = made;
		} else {
			*own = made;
			p = own;
		}
	}
	if (*slot) {
		(*slot)->users++;
		(*slot)->last = ++tick;
		p = &(*slot)->p;
	}
out:
	pthread_mutex_unlock(&lock);
	return p;
}

static void put(plan *p, entry *slot)
{
	if (!slot) {
		plan_free(p);
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
 * Runs p with args on stream s; false if oneDNN failed.  The memory
 * objects wrap the callers' arrays (no copies).
 */
static bool run(dnnl_stream_t s, dnnl_primitive_t p, const arg *args,
                int n)
{
	dnnl_exec_arg_t ea[8];
	int k = 0;
	bool ok = true;
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
	return ok;
}

/*
 * Converts data argument k of p between the caller's layout (u) and
 * p's (buf): in, for an input, or back out, for an output.  false if
 * oneDNN failed.
 */
static bool convert(dnnl_stream_t s, const plan *p, int k, const arg *u,
                    void *buf)
{
	const dnnl_dims_t *d = &u->md->dims;
	if (p->blk[k] && p->out[k])
		nb__blocked_to_nchw(buf, (float *)u->data, (*d)[0], (*d)[1],
		                    (*d)[2] * (*d)[3], p->blk[k]);
	else if (p->blk[k])
		nb__nchw_to_blocked(u->data, buf, (*d)[0], (*d)[1],
		                    (*d)[2] * (*d)[3], p->blk[k]);
	else if (p->out[k])
		return run(s, p->reorder[k], (arg[]){
		           {DNNL_ARG_FROM, &p->md[k], buf},
		           {DNNL_ARG_TO, u->md, u->data}}, 2);
	else
		return run(s, p->reorder[k], (arg[]){
		           {DNNL_ARG_FROM, u->md, u->data},
		           {DNNL_ARG_TO, &p->md[k], buf}}, 2);
	return true;
}

/*
 * The output gradient in a blocked layout, for both directions of a
 * backward: the weight gradient's plan and the input gradient's read
 * the same gout in the same nChw8c / nChw16c layout, so the second
 * reuses the first's copy (one pass over [128, 32, 14, 14] less in the
 * cnn step).  buf holds cap bytes, taken before either direction runs
 * (the temp arena gives blocks back in order); blk is the block of the
 * copy it holds, 0 while empty.
 */
typedef struct held {
	void *buf;
	size_t cap;
	int blk;
} held;

/* Whether argument k of p goes through h (an input copied by nabla in
 * a channel-blocked layout: the output gradient). */
static bool uses_held(const plan *p, int k, const held *h)
{
	return h && h->buf && p->blk[k] && !p->out[k] &&
	       p->which[k] == DNNL_ARG_DIFF_DST && p->bytes[k] <= h->cap;
}

/*
 * Runs plan p over args (n of them, room for one more): the inputs
 * converted into buf[k], the convolution with the scratchpad, the
 * outputs converted back.  false if oneDNN failed.
 */
static bool run_plan(const plan *p, arg *args, int n, void *const *buf,
                     void *scratch, held *h)
{
	dnnl_stream_t s;
	dnnl_memory_desc_t smd;
	dnnl_dims_t sz = {(dnnl_dim_t)p->scratch};
	arg user[N_DATA];
	bool ok = dnnl_stream_create(&s, engine, dnnl_stream_default_flags) ==
	          dnnl_success;
	if (!ok)
		return false;
	for (int k = 0; k < N_DATA; k++) {
		int i = 0;
		while (i < n && args[i].which != p->which[k])
			i++;
		user[k] = args[i]; /* found: the caller passes every data arg */
		if (!p->bytes[k])
			continue;
		args[i].md = &p->md[k];
		args[i].data = buf[k];
		if (uses_held(p, k, h) && h->blk == p->blk[k])
			continue; /* copied by the other direction */
		if (!p->out[k] && ok)
			ok = convert(s, p, k, &user[k], buf[k]);
		if (uses_held(p, k, h))
			h->blk = p->blk[k];
	}
	if (p->scratch)
		ok = ok && dnnl_memory_desc_init_by_tag(&smd, 1, sz, dnnl_u8,
		                                        dnnl_x) == dnnl_success;
	args[n++] = (arg){DNNL_ARG_SCRATCHPAD, &smd, scratch};
	ok = ok && run(s, p->conv, args, n);
	for (int k = 0; ok && k < N_DATA; k++)
		if (p->bytes[k] && p->out[k])
			ok = convert(s, p, k, &user[k], buf[k]);
	dnnl_stream_destroy(s);
	return ok;
}

/*
 * Runs direction d over args (n of them, every data argument of d, and
 * room for the scratchpad).  *declined when oneDNN has no
 * implementation; NB_ENOMEM when scratch memory cannot be had;
 * NB_EINVAL (a bug or a oneDNN failure) otherwise.
 */
static nb_status execute(nb_op_ctx *c, enum dir d, bool bias,
                         enum layout lay, const nb__conv_geom *q, arg *args,
                         int n, held *h, bool *declined)
{
	entry *slot;
	nb_status st = NB_OK;
	void *buf[N_DATA] = {NULL, NULL, NULL}, *scratch = NULL;
	plan own;
	plan *p = get(d, bias, lay, q, nb__omp_threads(), &own, &slot);
	if (!p) {
		*declined = true;
		return NB_OK;
	}
	size_t total = p->scratch;
	bool ok = !p->scratch || (scratch = nb__op_temp(c, p->scratch));
	for (int k = 0; ok && k < N_DATA; k++) {
		total += p->bytes[k];
		if (uses_held(p, k, h))
			buf[k] = h->buf;
		else
			ok = !p->bytes[k] ||
			     (buf[k] = nb__op_temp(c, p->bytes[k]));
	}
	if (!ok)
		st = nb_op_fail(c, NB_ENOMEM, "out of memory for oneDNN's "
		                "buffers (%zu bytes)", total);
	else if (!run_plan(p, args, n, buf, scratch, h))
		st = nb_op_fail(c, NB_EINVAL, "oneDNN failed to run the "
		                "convolution");
	for (int k = 0; k < N_DATA; k++)
		if (!uses_held(p, k, h))
			nb__op_temp_free(c, buf[k]);
	nb__op_temp_free(c, scratch);
	put(p, slot);
	return st;
}

/* true when the n floats at p are all finite (v - v is 0 for them,
 * NaN for infinities and NaN); an integer OR, so that the loop
 * vectorizes (a float sum would not, without reassociation). */
static bool all_finite(const float *p, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++)
		bad |= !(p[i] - p[i] == 0.0f);
	return !bad;
}

/*
 * With padding, the blocked kernels skip the products with the
 * padding's zeros, which im2col and PyTorch's reference compute: a
 * non-finite weight (forward) or output gradient (weight gradient) then
 * gives a finite value at the borders where PyTorch gives NaN.  Such
 * calls (rare: a diverged step) run in the plain layout, which matches.
 */
static enum layout padded_layout(enum layout lay, const nb__conv_geom *q,
                                 const float *v, size_t n)
{
	if (lay == BLOCKED && (q->ph || q->pw) && !all_finite(v, n))
		return PLAIN;
	return lay;
}

nb_status nb__onednn_conv_forward(nb_op_ctx *c, const nb__conv_geom *q,
                                  const float *x, const float *w,
                                  const float *b, float *y, bool *declined)
{
	descs m;
	int path = wanted(q);
	*declined = !path || !q->N || !q->O || !init_descs(q, &m, false);
	if (*declined)
		return NB_OK;
	arg args[5] = {{DNNL_ARG_SRC, &m.x, x}, {DNNL_ARG_WEIGHTS, &m.w, w},
	               {DNNL_ARG_BIAS, &m.b, b}, {DNNL_ARG_DST, &m.y, y}};
	enum layout lay = padded_layout((enum layout)(path - 1), q, w,
	    (size_t)(q->O * (q->C / q->G) * q->KH * q->KW));
	return execute(c, FWD, b != NULL, lay, q, args, 4, NULL, declined);
}

/* dst[i] += src[i] for n elements. */
static void add_to(float *dst, const float *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] += src[i];
}

/* The input gradient into dx when it is fresh, else into scratch and
 * then added to dx. */
static nb_status backward_data(nb_op_ctx *c, const nb__conv_geom *q,
                               enum layout lay, const descs *m,
                               const float *w, const float *gout, float *dx,
                               bool fresh, held *h, bool *declined)
{
	size_t n = (size_t)(q->N * q->C * q->H * q->W);
	float *t = fresh ? dx : nb__op_temp(c, n * sizeof *t);
	if (!t)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the input "
		                  "gradient (%zu bytes)", n * sizeof *t);
	arg args[4] = {{DNNL_ARG_DIFF_SRC, &m->x, t},
	               {DNNL_ARG_WEIGHTS, &m->w, w},
	               {DNNL_ARG_DIFF_DST, &m->y, gout}};
	nb_status st = execute(c, BWD_DATA, false, lay, q, args, 3, h,
	                       declined);
	if (t != dx) {
		if (!st && !*declined)
			add_to(dx, t, n);
		nb__op_temp_free(c, t);
	}
	return st;
}

/* The weight (and bias) gradients into scratch, then added. */
static nb_status backward_weights(nb_op_ctx *c, const nb__conv_geom *q,
                                  enum layout lay, const descs *m,
                                  const float *x,
                                  const float *gout, float *dw, float *db,
                                  held *h, bool *declined)
{
	size_t nw = (size_t)(q->O * (q->C / q->G) * q->KH * q->KW);
	size_t nb = db ? (size_t)q->O : 0;
	float *t = nb__op_temp(c, (nw + nb) * sizeof *t);
	if (!t)
		return nb_op_fail(c, NB_ENOMEM, "out of memory for the weight "
		                  "gradient (%zu bytes)", (nw + nb) * sizeof *t);
	arg args[5] = {{DNNL_ARG_SRC, &m->x, x},
	               {DNNL_ARG_DIFF_WEIGHTS, &m->w, t},
	               {DNNL_ARG_DIFF_BIAS, &m->b, db ? t + nw : NULL},
	               {DNNL_ARG_DIFF_DST, &m->y, gout}};
	nb_status st = execute(c, BWD_WEIGHTS, db != NULL, lay, q, args, 4, h,
	                       declined);
	if (!st && !*declined) {
		add_to(dw, t, nw);
		if (db)
			add_to(db, t + nw, nb);
	}
	nb__op_temp_free(c, t);
	return st;
}

nb_status nb__onednn_conv_backward(nb_op_ctx *c, const nb__conv_geom *q,
                                   const float *x, const float *w,
                                   const float *gout, float **dx,
                                   float **dw, float **db, bool dx_fresh)
{
	descs m;
	bool declined = false;
	nb_status st = NB_OK;
	int path = wanted(q);
	enum layout lay = (enum layout)(path - 1);
	held h = {NULL, 0, 0};
	if (!path || !q->N || !q->O || !init_descs(q, &m, false))
		return NB_OK;
	/* Room for gout in nChw16c (or 8c), shared by both directions; none
	 * (out of memory): each copies its own. */
	if (*dw && *dx && lay == BLOCKED) {
		h.cap = (size_t)(q->N * ((q->O + 15) / 16 * 16) * q->OH * q->OW) *
		        sizeof(float);
		h.buf = nb__op_temp(c, h.cap);
	}
	/* The bias's gradient goes with the weight's (a lone one is a sum,
	 * left to im2col's path). */
	if (*dw) {
		enum layout wl = padded_layout(lay, q, gout,
		    (size_t)(q->N * q->O * q->OH * q->OW));
		st = backward_weights(c, q, wl, &m, x, gout, *dw, *db, &h,
		                      &declined);
		if (!st && !declined)
			*dw = *db = NULL;
	}
	if (!st && *dx) {
		st = backward_data(c, q, lay, &m, w, gout, *dx, dx_fresh, &h,
		                   &declined);
		if (!st && !declined)
			*dx = NULL;
	}
	nb__op_temp_free(c, h.buf);
	return st;
}

#endif /* HAVE_ONEDNN */
