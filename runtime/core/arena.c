/*
 * arena.c - per-request bump allocator (see arena.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

struct cs_arena_chunk {
	cs_arena_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t off;
	_Alignas(16) unsigned char data[];
};

#define ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

void cs_arena_init(cs_arena *a, size_t chunk_size)
{
	a->head = NULL;
	a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
	a->used = 0;
}

void *cs_arena_alloc(cs_arena *a, size_t size)
{
	cs_arena_chunk *c = a->head;
	size_t need = ALIGN16(size ? size : 1);
	void *p;

	if (need < size) /* overflow */
		return NULL;
	if (!c || c->size - c->off < need) {
		size_t csize = need > a->chunk_size ? need : a->chunk_size;

		if (csize > SIZE_MAX - sizeof(*c))
			return NULL;
		c = malloc(sizeof(*c) + csize);
		if (!c)
			return NULL;
		c->size = csize;
		c->off = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->off;
	c->off += need;
	a->used += need;
	return p;
}

char *cs_arena_strdup(cs_arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = cs_arena_alloc(a, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

void cs_arena_reset(cs_arena *a)
{
	cs_arena_chunk *c = a->head, *keep = NULL;

	/* keep the oldest chunk of default size; free the rest */
	while (c) {
		cs_arena_chunk *next = c->next;

		if (!next && c->size == a->chunk_size) {
			keep = c;
			keep->off = 0;
		} else {
			free(c);
		}
		c = next;
	}
	a->head = keep;
	if (keep)
		keep->next = NULL;
	a->used = 0;
}

void cs_arena_destroy(cs_arena *a)
{
	cs_arena_chunk *c = a->head;

	while (c) {
		cs_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = 0;
}

void *cs_arena_alloc_cb(void *ctx, size_t size)
{
	return cs_arena_alloc(ctx, size);
}
