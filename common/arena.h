/*
 * arena.h - per-request bump allocator.
 *
 * An arena hands out memory that lives until arena_free() (or arena_reset()):
 * RPC requests are unpacked into one, handlers allocate their replies from it,
 * and the whole request is released at once after the reply is sent.
 * Allocation failure returns NULL; nothing is freed individually.
 */
#ifndef FLOW_ARENA_H
#define FLOW_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena arena;

/* Returns NULL when out of memory. */
arena *arena_new(size_t first_block);
/* arena_free(NULL) is a no-op. */
void arena_free(arena *a);
/* Releases everything but the first block, for reuse. */
void arena_reset(arena *a);
/* arena_reset, after overwriting every byte handed out with zeros (for
 * arenas that held passwords or tokens). */
void arena_wipe(arena *a);

/* 16-byte aligned; NULL on failure or size overflow. */
void *arena_alloc(arena *a, size_t size);
void *arena_zalloc(arena *a, size_t size);
/* NULL in gives NULL out. */
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
/* printf into the arena; NULL on failure. */
char *arena_printf(arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Bytes handed out since the last reset (for limits and metrics). */
size_t arena_used(const arena *a);

/* A protobuf-c allocator backed by the arena (free is a no-op). The
 * returned struct lives inside the arena. */
ProtobufCAllocator *arena_allocator(arena *a);

#endif
