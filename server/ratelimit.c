/*
 * ratelimit.c - sliding-log rate limiter with a bounded, LRU-evicted key table.
 *
 * Entries live in a fixed slab of max_keys slots (stable indices). The hash
 * table is open addressing with linear probing over slot indices (capacity a
 * power of two >= 2 * max_keys, so probes stay short); removals use
 * backward-shift deletion, so there are no tombstones. Slots are on a doubly
 * linked LRU list; the tail is evicted when the slab is full. Hashes are
 * SipHash-2-4 with a per-limiter random key, so clients choosing user names
 * or addresses cannot force collisions.
 */
#include "ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NIL UINT32_MAX

struct rl_entry {
	char *key; /* NULL when the slot is free */
	uint64_t hash;
	uint32_t prev, next; /* LRU list (in use) or free list (next only) */
	uint32_t head;	     /* ring index of the oldest stamp */
	uint32_t count;	     /* stamps in the ring */
};

struct ratelimit {
	pthread_mutex_t mu;
	int max_events;
	int window_ms;
	uint32_t max_keys;
	uint32_t used;
	uint32_t mask;	 /* table capacity - 1 */
	uint32_t *table; /* slot index or NIL */
	struct rl_entry *slots;
	int64_t *stamps;   /* max_events per slot */
	uint32_t lru_head; /* most recently used */
	uint32_t lru_tail; /* least recently used */
	uint32_t free_head;
	uint64_t k0, k1; /* SipHash key */
};

/* ---- SipHash-2-4 ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static uint64_t siphash(const unsigned char *in, size_t len, uint64_t k0, uint64_t k1)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, full = len & ~(size_t)7;

	for (i = 0; i < full; i += 8) {
		m = 0;
		for (int j = 0; j < 8; j++)
			m |= (uint64_t)in[i + j] << (8 * j);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (int j = 0; i + j < len; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- lifecycle ---- */

ratelimit *ratelimit_new(int max_events, int window_ms, size_t max_keys)
{
	ratelimit *rl;
	uint64_t key[2];
	size_t cap = 16;

	if (max_events < 1 || window_ms < 1 || max_keys < 1 || max_keys > (1u << 28))
		return NULL;
	while (cap < max_keys * 2)
		cap *= 2;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->mu, NULL);
	rl->table = malloc(cap * sizeof(*rl->table));
	rl->slots = calloc(max_keys, sizeof(*rl->slots));
	rl->stamps = calloc(max_keys, (size_t)max_events * sizeof(*rl->stamps));
	if (!rl->table || !rl->slots || !rl->stamps ||
	    getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		ratelimit_free(rl);
		return NULL;
	}
	rl->max_events = max_events;
	rl->window_ms = window_ms;
	rl->max_keys = (uint32_t)max_keys;
	rl->mask = (uint32_t)(cap - 1);
	rl->k0 = key[0];
	rl->k1 = key[1];
	for (size_t i = 0; i < cap; i++)
		rl->table[i] = NIL;
	for (uint32_t i = 0; i < rl->max_keys; i++)
		rl->slots[i].next = i + 1 < rl->max_keys ? i + 1 : NIL;
	rl->free_head = 0;
	rl->lru_head = rl->lru_tail = NIL;
	return rl;
}

void ratelimit_free(ratelimit *rl)
{
	if (!rl)
		return;
	if (rl->slots) {
		for (uint32_t i = 0; i < rl->max_keys; i++)
			free(rl->slots[i].key);
	}
	pthread_mutex_destroy(&rl->mu);
	free(rl->table);
	free(rl->slots);
	free(rl->stamps);
	free(rl);
}

/* ---- LRU list ---- */

static void lru_unlink(ratelimit *rl, uint32_t i)
{
	struct rl_entry *e = &rl->slots[i];

	if (e->prev != NIL)
		rl->slots[e->prev].next = e->next;
	else
		rl->lru_head = e->next;
	if (e->next != NIL)
		rl->slots[e->next].prev = e->prev;
	else
		rl->lru_tail = e->prev;
	e->prev = e->next = NIL;
}

static void lru_push_front(ratelimit *rl, uint32_t i)
{
	struct rl_entry *e = &rl->slots[i];

	e->prev = NIL;
	e->next = rl->lru_head;
	if (rl->lru_head != NIL)
		rl->slots[rl->lru_head].prev = i;
	rl->lru_head = i;
	if (rl->lru_tail == NIL)
		rl->lru_tail = i;
}

/* ---- table ---- */

/* Table position holding key, or the empty position where it would go. */
static uint32_t find_pos(ratelimit *rl, const char *key, size_t len, uint64_t h, bool *found)
{
	uint32_t pos = (uint32_t)h & rl->mask;

	for (;;) {
		uint32_t s = rl->table[pos];

		if (s == NIL) {
			*found = false;
			return pos;
		}
		if (rl->slots[s].hash == h && strcmp(rl->slots[s].key, key) == 0) {
			*found = true;
			return pos;
		}
		pos = (pos + 1) & rl->mask;
	}
}

/* Backward-shift deletion of table position pos. */
static void table_delete(ratelimit *rl, uint32_t pos)
{
	uint32_t hole = pos, cur = pos;

	for (;;) {
		uint32_t s, home;

		cur = (cur + 1) & rl->mask;
		s = rl->table[cur];
		if (s == NIL)
			break;
		home = (uint32_t)rl->slots[s].hash & rl->mask;
		/* Move s into the hole unless its home lies cyclically in (hole, cur]. */
		if (((cur - home) & rl->mask) >= ((cur - hole) & rl->mask)) {
			rl->table[hole] = s;
			hole = cur;
		}
	}
	rl->table[hole] = NIL;
}

/* Removes the entry at table position pos and returns its slot to the free list. */
static void remove_at(ratelimit *rl, uint32_t pos)
{
	uint32_t s = rl->table[pos];
	struct rl_entry *e = &rl->slots[s];

	table_delete(rl, pos);
	lru_unlink(rl, s);
	free(e->key);
	e->key = NULL;
	e->next = rl->free_head;
	rl->free_head = s;
	rl->used--;
}

static void evict_lru(ratelimit *rl)
{
	struct rl_entry *e = &rl->slots[rl->lru_tail];
	bool found;
	uint32_t pos = find_pos(rl, e->key, strlen(e->key), e->hash, &found);

	if (found)
		remove_at(rl, pos);
}

/* ---- API ---- */

static uint32_t clamp_retry(int64_t v, int window_ms)
{
	if (v < 1)
		return 1;
	if (v > window_ms)
		return (uint32_t)window_ms;
	return (uint32_t)v;
}

bool ratelimit_allow(ratelimit *rl, const char *key, int64_t now_ms, uint32_t *retry_after_ms)
{
	struct rl_entry *e;
	int64_t *ring;
	uint32_t s, pos;
	size_t len;
	uint64_t h;
	bool found, ok;

	if (retry_after_ms)
		*retry_after_ms = rl ? (uint32_t)rl->window_ms : 0;
	if (!rl || !key || (len = strnlen(key, RATELIMIT_KEY_MAX + 1)) > RATELIMIT_KEY_MAX)
		return false;
	h = siphash((const unsigned char *)key, len, rl->k0, rl->k1);

	pthread_mutex_lock(&rl->mu);
	pos = find_pos(rl, key, len, h, &found);
	if (found) {
		s = rl->table[pos];
		lru_unlink(rl, s);
	} else {
		char *copy = strndup(key, len);

		if (!copy) {
			pthread_mutex_unlock(&rl->mu);
			return false;
		}
		if (rl->used == rl->max_keys) {
			evict_lru(rl);
			/* The eviction may have shifted entries: look again. */
			pos = find_pos(rl, key, len, h, &found);
		}
		s = rl->free_head;
		rl->free_head = rl->slots[s].next;
		e = &rl->slots[s];
		e->key = copy;
		e->hash = h;
		e->head = e->count = 0;
		rl->table[pos] = s;
		rl->used++;
	}
	lru_push_front(rl, s);

	e = &rl->slots[s];
	ring = rl->stamps + (size_t)s * (size_t)rl->max_events;
	if (e->count < (uint32_t)rl->max_events) {
		ring[(e->head + e->count) % (uint32_t)rl->max_events] = now_ms;
		e->count++;
		ok = true;
	} else if (now_ms - ring[e->head] >= rl->window_ms) {
		/* The oldest of the last max_events left the window: replace it. */
		ring[e->head] = now_ms;
		e->head = (e->head + 1) % (uint32_t)rl->max_events;
		ok = true;
	} else {
		if (retry_after_ms)
			*retry_after_ms =
			    clamp_retry(ring[e->head] + rl->window_ms - now_ms, rl->window_ms);
		ok = false;
	}
	pthread_mutex_unlock(&rl->mu);
	if (ok && retry_after_ms)
		*retry_after_ms = 0;
	return ok;
}

void ratelimit_reset(ratelimit *rl, const char *key)
{
	size_t len;
	uint64_t h;
	uint32_t pos;
	bool found;

	if (!rl || !key || (len = strnlen(key, RATELIMIT_KEY_MAX + 1)) > RATELIMIT_KEY_MAX)
		return;
	h = siphash((const unsigned char *)key, len, rl->k0, rl->k1);
	pthread_mutex_lock(&rl->mu);
	pos = find_pos(rl, key, len, h, &found);
	if (found)
		remove_at(rl, pos);
	pthread_mutex_unlock(&rl->mu);
}

size_t ratelimit_count(ratelimit *rl)
{
	size_t n;

	if (!rl)
		return 0;
	pthread_mutex_lock(&rl->mu);
	n = rl->used;
	pthread_mutex_unlock(&rl->mu);
	return n;
}
