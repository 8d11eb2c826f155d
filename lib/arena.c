/*
 * arena.c - bump allocation for a graph's per-step memory.
 *
 * A step allocates from the head chunk and chains a larger one when it
 * runs out.  Rewinding frees the chain and keeps one chunk as large as
 * the whole chain was, so after the first (warm-up) step a loop of equal
 * steps allocates from a single chunk and never calls malloc.
 */
#include "internal.h"

#define ALIGN 64
#define HDR ((sizeof(nb__chunk) + ALIGN - 1) / ALIGN * ALIGN)

static nb__chunk *chunk_new(size_t size)
{
	nb__chunk *c = nb__malloc(HDR + size + ALIGN);
	if (!c)
		return NULL;
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static unsigned char *chunk_base(nb__chunk *c)
{
	uintptr_t p = (uintptr_t)c + HDR;
	p = (p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
	return (unsigned char *)p;
}

void *nb__arena_alloc_raw(nb_arena *a, size_t n)
{
	if (n > SIZE_MAX / 2)
		return NULL;
	size_t need = (n + ALIGN - 1) / ALIGN * ALIGN;
	if (need == 0)
		need = ALIGN;
	nb__chunk *c = a->head;
	if (!c || c->size - c->used < need) {
		size_t size = c ? c->size * 2 : 64 * 1024;
		if (size < need)
			size = need;
		nb__chunk *nc = chunk_new(size);
		if (!nc)
			return NULL;
		nc->next = c;
		a->head = nc;
		a->total += size;
		c = nc;
	}
	unsigned char *p = chunk_base(c) + c->used;
	c->used += need;
	a->peak_used += need;
	return p;
}

void *nb__arena_alloc(nb_arena *a, size_t n)
{
	void *p = nb__arena_alloc_raw(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void nb__arena_rewind(nb_arena *a)
{
	nb__chunk *c = a->head;
	a->peak_used = 0;
	if (!c)
		return;
	if (!c->next) {
		c->used = 0;
		return;
	}
	size_t total = a->total;
	nb__arena_free(a);
	/* If this fails the next step grows the chain again: no error here. */
	a->head = chunk_new(total);
	if (a->head)
		a->total = total;
}

void nb__arena_free(nb_arena *a)
{
	nb__chunk *c = a->head;
	while (c) {
		nb__chunk *next = c->next;
		nb__free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
	a->peak_used = 0;
}
