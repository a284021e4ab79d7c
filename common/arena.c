#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena {
	struct arena_block *head; /* current block, newest first */
	struct arena_block *first;
	size_t used_total;
	ProtobufCAllocator pb;
};

static struct arena_block *block_new(size_t size)
{
	struct arena_block *b;

	if (size > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + size);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

static void *pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

arena *arena_new(size_t first_block)
{
	arena *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if (first_block < 1024)
		first_block = 1024;
	a->first = block_new(first_block);
	if (a->first == NULL) {
		free(a);
		return NULL;
	}
	a->head = a->first;
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
	return a;
}

static void free_blocks_until(struct arena_block *b, struct arena_block *stop)
{
	while (b != NULL && b != stop) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
}

void arena_free(arena *a)
{
	if (a == NULL)
		return;
	free_blocks_until(a->head, NULL);
	free(a);
}

void arena_reset(arena *a)
{
	free_blocks_until(a->head, a->first);
	a->head = a->first;
	a->first->next = NULL;
	a->first->used = 0;
	a->used_total = 0;
}

void arena_wipe(arena *a)
{
	for (struct arena_block *b = a->head; b != NULL; b = b->next)
		explicit_bzero(b->data, b->used);
	arena_reset(a);
}

void *arena_alloc(arena *a, size_t size)
{
	struct arena_block *b = a->head;
	size_t need;

	if (size == 0)
		size = 1;
	if (size > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (b->size - b->used < need) {
		size_t bsize = b->size * 2;

		if (bsize < need)
			bsize = need;
		b = block_new(bsize);
		if (b == NULL)
			return NULL;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;

	b->used += need;
	a->used_total += need;
	return p;
}

void *arena_zalloc(arena *a, size_t size)
{
	void *p = arena_alloc(a, size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = arena_alloc(a, n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *arena_strdup(arena *a, const char *s)
{
	return s == NULL ? NULL : arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *d;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	d = arena_alloc(a, (size_t)n + 1);
	if (d == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

size_t arena_used(const arena *a)
{
	return a->used_total;
}

ProtobufCAllocator *arena_allocator(arena *a)
{
	return &a->pb;
}
