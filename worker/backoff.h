/*
 * backoff.h - retry delays: doubling from a minimum to a maximum, with
 * jitter so that many workers do not retry in step after an outage.
 */
#ifndef FLOW_WORKER_BACKOFF_H
#define FLOW_WORKER_BACKOFF_H

struct backoff {
	int min_ms;
	int max_ms;
	int cur_ms; /* the next delay before jitter; 0 after a reset */
};

void backoff_init(struct backoff *b, int min_ms, int max_ms);

/*
 * The delay to wait now (the current step, minus up to 25% jitter, but at
 * least hint_ms, e.g. a server's retry_after_ms), then doubles the step.
 */
int backoff_next(struct backoff *b, int hint_ms);

/* After a success: the next delay is min_ms again. */
void backoff_reset(struct backoff *b);

#endif
