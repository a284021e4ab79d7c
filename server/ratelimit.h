/*
 * ratelimit.h - in-memory sliding-window rate limiter keyed by string.
 *
 * At most max_events events per key in any window of window_ms milliseconds
 * (an exact sliding log: each key remembers the times of its last max_events
 * allowed events in a ring). Keys name what is limited, for example
 * "login:alice@10.0.0.7", "login-peer:10.0.0.7" or "admin:alice".
 *
 * Memory is bounded: at most max_keys keys are tracked; a new key beyond
 * that evicts the least recently used key (whose events are the oldest, and
 * usually already outside the window). All memory is allocated by
 * ratelimit_new() except the copy of each key. Every call is O(1) (a keyed
 * SipHash of the key and an open-addressing table lookup) and thread-safe.
 *
 * Time is passed in by the caller (a monotonic clock in milliseconds), which
 * keeps the limiter deterministic in tests.
 */
#ifndef FLOW_RATELIMIT_H
#define FLOW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit;

/* Longest key in bytes; longer keys are rejected by ratelimit_allow(). */
#define RATELIMIT_KEY_MAX 512

/*
 * max_events >= 1, window_ms >= 1, max_keys >= 1. Uses about
 * max_keys * (64 + 8 * max_events) bytes plus the keys. NULL on bad
 * arguments or out of memory.
 */
ratelimit *ratelimit_new(int max_events, int window_ms, size_t max_keys);
void ratelimit_free(ratelimit *rl);

/*
 * Records an event for key at now_ms and returns true if it is within the
 * limit. Otherwise returns false, records nothing (denied attempts do not
 * extend the wait) and, if retry_after_ms is not NULL, stores how long until
 * the next event would be allowed (1..window_ms). retry_after_ms is 0 when
 * allowed. A NULL or over-long key, or no memory for a new key, is denied
 * with retry_after_ms = window_ms (fail closed).
 */
bool ratelimit_allow(ratelimit *rl, const char *key, int64_t now_ms, uint32_t *retry_after_ms);

/* Forgets key (e.g. after a successful login). No-op if unknown. */
void ratelimit_reset(ratelimit *rl, const char *key);

/* Number of keys tracked now (<= max_keys). */
size_t ratelimit_count(ratelimit *rl);

#endif
