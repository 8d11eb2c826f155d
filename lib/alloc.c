/*
 * alloc.c - the one place nabla allocates, so that tests can make any
 * allocation fail (nb_set_alloc_funcs).  jansson, which builds and
 * parses checkpoint headers, is routed here too (json_set_alloc_funcs):
 * its allocator is process-wide, so setting nabla's also sets the one
 * of every other jansson user in the program (include/nabla/core.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <jansson.h>
#include "internal.h"

static nb_malloc_fn alloc_m = malloc;
static nb_realloc_fn alloc_r = realloc;
static nb_free_fn alloc_f = free;

/* jansson's allocator: nabla's, noting a failure for nb__json_oom (a
 * parse that runs out of memory reports a syntax error). */
static _Thread_local bool json_failed;

static void *json_malloc(size_t n)
{
	void *p = nb__malloc(n);
	json_failed |= !p;
	return p;
}

static void json_free(void *p) { nb__free(p); }

void nb_set_alloc_funcs(nb_malloc_fn m, nb_realloc_fn r, nb_free_fn f)
{
	alloc_m = m ? m : malloc;
	alloc_r = r ? r : realloc;
	alloc_f = f ? f : free;
	json_set_alloc_funcs(json_malloc, json_free);
}

/* At first use, jansson still on its default malloc and free takes
 * nabla's functions (the same ones until nb_set_alloc_funcs); one that
 * the program gave its own keeps them. */
static pthread_once_t json_once = PTHREAD_ONCE_INIT;

static void json_route(void)
{
	json_malloc_t m;
	json_free_t f;
	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(json_malloc, json_free);
}

void nb__json_begin(void)
{
	pthread_once(&json_once, json_route);
	json_failed = false;
}

bool nb__json_oom(void)
{
	return json_failed;
}

void *nb__malloc(size_t n)
{
	return alloc_m(n ? n : 1);
}

void *nb__calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	void *p = nb__malloc(count * size);
	if (p)
		memset(p, 0, count && size ? count * size : 1);
	return p;
}

void *nb__realloc(void *p, size_t n)
{
	return alloc_r(p, n ? n : 1);
}

void nb__free(void *p)
{
	if (p)
		alloc_f(p);
}

char *nb__strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = nb__malloc(n);
	if (d)
		memcpy(d, s, n);
	return d;
}
