#include "backoff.h"

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

/* A small shared xorshift generator; jitter needs no quality. */
static uint32_t jitter_rand(void)
{
	static _Atomic uint32_t state;
	uint32_t x = atomic_load(&state);

	if (x == 0)
		x = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)&state ^ 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	atomic_store(&state, x);
	return x;
}

void backoff_init(struct backoff *b, int min_ms, int max_ms)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
	b->cur_ms = 0;
}

int backoff_next(struct backoff *b, int hint_ms)
{
	int step = b->cur_ms ? b->cur_ms : b->min_ms;
	int delay = step - (int)(jitter_rand() % (uint32_t)(step / 4 + 1));

	b->cur_ms = step >= b->max_ms / 2 ? b->max_ms : step * 2;
	return delay > hint_ms ? delay : hint_ms;
}

void backoff_reset(struct backoff *b)
{
	b->cur_ms = 0;
}
