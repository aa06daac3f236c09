/*
 * arena.h - per-request memory: a bump allocator released all at once.
 *
 * Not thread-safe: one arena belongs to one request at a time.
 */
#ifndef CS_ARENA_H
#define CS_ARENA_H

#include <stddef.h>

typedef struct cs_arena_chunk cs_arena_chunk;

typedef struct cs_arena {
	cs_arena_chunk *head;  /* newest chunk first */
	size_t chunk_size;     /* default size of a new chunk */
	size_t used;           /* bytes handed out since the last reset */
} cs_arena;

/* Prepares an empty arena; chunk_size 0 means 64 KiB. Allocates nothing. */
void cs_arena_init(cs_arena *a, size_t chunk_size);

/*
 * Returns size bytes aligned to 16, valid until cs_arena_reset() or
 * cs_arena_destroy(); NULL when out of memory. size 0 returns a valid
 * non-NULL pointer.
 */
void *cs_arena_alloc(cs_arena *a, size_t size);

/* Copies a string into the arena; NULL when out of memory. */
char *cs_arena_strdup(cs_arena *a, const char *s);

/* Frees everything handed out; keeps the first chunk for reuse. */
void cs_arena_reset(cs_arena *a);

/* Frees all memory of the arena. */
void cs_arena_destroy(cs_arena *a);

/* cs_allocator.alloc for plugins: ctx is a cs_arena *. */
void *cs_arena_alloc_cb(void *ctx, size_t size);

#endif
