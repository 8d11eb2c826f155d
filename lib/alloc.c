/*
 * alloc.c - the one place nabla allocates, so that tests can make any
 * allocation fail (nb_set_alloc_funcs).
 */
#include <stdlib.h>
#include "internal.h"

static nb_malloc_fn alloc_m = malloc;
static nb_realloc_fn alloc_r = realloc;
static nb_free_fn alloc_f = free;

void nb_set_alloc_funcs(nb_malloc_fn m, nb_realloc_fn r, nb_free_fn f)
{
	alloc_m = m ? m : malloc;
	alloc_r = r ? r : realloc;
	alloc_f = f ? f : free;
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
