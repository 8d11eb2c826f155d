/*
 * arena.c - bump allocation for a graph's per-step memory.
 *
 * A step allocates from the head chunk and chains a larger one when it
 * runs out.  Rewinding frees the chain and keeps one chunk as large as
 * the whole chain was, so after the first (warm-up) step a loop of equal
 * steps allocates from a single chunk and never calls malloc.  A graph's
 * temp arena is also popped, as a stack, after each op call that took
 * scratch from it, and rewound when a pop empties a chain; its one
 * chunk's pages, once touched, stay resident for the next calls.
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
		/* An empty head (popped, or just rewound) holds nothing: the
		 * larger chunk replaces it rather than chaining, so that the
		 * first step's temp arena does not keep every size it saw. */
		if (c && !c->used) {
			nc->next = c->next;
			a->total -= c->size;
			nb__free(c);
		} else {
			nc->next = c;
		}
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

void nb__arena_pop(nb_arena *a, void *p)
{
	unsigned char *q = p;
	for (nb__chunk *c = a->head; c; c = c->next) {
		unsigned char *base = chunk_base(c);
		if (q >= base && q < base + c->size) {
			if (q < base + c->used)
				c->used = (size_t)(q - base);
			/* All given back, over more than one chunk (a first
			 * step): one chunk as large from here on, so that the
			 * calls to come touch one chunk's pages, not each. */
			if (!c->used && !c->next && c != a->head)
				nb__arena_rewind(a);
			return;
		}
		/* chained after p's block: all of it was taken after p */
		c->used = 0;
	}
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
