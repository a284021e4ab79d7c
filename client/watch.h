/*
 * watch.h - the arithmetic and text of `flowctl queue watch`: progress,
 * rate over a moving window, ETA, and the progress line. No I/O, no
 * clock: the caller passes times in, so everything here is unit-tested
 * (tests/unit/watch_test.c). The polling loop is in cli_ops.c.
 *
 * Definitions:
 *   finished  = completed + failed + cancelled + dead (items that left the queue)
 *   remaining = queued + in progress
 *   progress  = completed / total (0 when total is 0): the bar
 *   rate      = finished items per second over the last WATCH_WINDOW_MS
 *   eta       = remaining / rate (unknown while the rate is 0 or unknown)
 *   drained   = nothing queued and nothing in progress
 */
#ifndef FLOW_WATCH_H
#define FLOW_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A queue's counts at one poll (the fields of GetQueueStats). */
struct watch_counts {
	int64_t total, queued, in_progress, completed, failed, cancelled, dead;
	bool active; /* isActive: false while the queue is paused */
};

/* Reads the counts from a queues_get_stats result; absent fields are 0. */
void watch_counts_from_json(const json_t *stats, struct watch_counts *out);

bool watch_counts_equal(const struct watch_counts *a, const struct watch_counts *b);

/* The rate is taken over at most this long and this many polls. */
#define WATCH_WINDOW_MS 10000
#define WATCH_SAMPLES 128

/* Recent (time, finished) samples; zero it, or use watch_window_init. */
struct watch_window {
	int64_t t_ms[WATCH_SAMPLES];
	int64_t finished[WATCH_SAMPLES];
	int first; /* index of the oldest sample */
	int n;	   /* samples held */
};

void watch_window_init(struct watch_window *w);

/*
 * Adds the sample of a poll at t_ms (a monotonic clock). Samples older than
 * WATCH_WINDOW_MS before it are dropped (the newest older one is kept as
 * the window's start, so a slow poll interval still yields a rate). A
 * sample with fewer finished items than the last one (items were re-driven
 * or the history pruned) or an earlier time restarts the window.
 */
void watch_window_add(struct watch_window *w, int64_t t_ms, int64_t finished);

/* What one poll shows. */
struct watch_progress {
	int64_t finished;
	int64_t remaining;
	double progress; /* 0..1 */
	bool rate_known; /* at least two samples some time apart */
	double rate;	 /* items per second; 0 when unknown */
	int64_t eta_ms;	 /* -1: unknown (no rate yet, or nothing finishing) */
	bool drained;
};

/* Computes p from the counts c and the window w (c's sample already added). */
void watch_compute(const struct watch_window *w, const struct watch_counts *c,
		   struct watch_progress *p);

/* A duration for people: "45s", "3m07s", "2h05m"; "0s" for <= 0. */
void watch_duration(int64_t ms, char *buf, size_t len);

/* Width of the bar in the plain lines (pipes, logs). */
#define WATCH_BAR_WIDTH 20

/*
 * The progress line, without a newline:
 *   [########------------]  8/20  40%  queued 10  running 2  failed 0  dead 0  2.4/s  ETA 5s
 * bar_width 0 leaves the bar out. "cancelled N" is added when N > 0,
 * "paused" while the queue is paused; the rate and ETA are "-" while
 * unknown, and "done" replaces the ETA once drained. color adds ANSI SGR
 * codes (term.h): the bar green, failed/dead counts above 0 red, paused
 * yellow. Returns the line's length in characters as seen on screen
 * (color codes not counted); buf is always NUL-terminated, cut to fit.
 */
int watch_line(char *buf, size_t len, const struct watch_counts *c, const struct watch_progress *p,
	       int bar_width, bool color);

/*
 * The JSON object of one poll (NDJSON with --json): {"at": epoch ms,
 * "elapsedMs", "stats": <stats, as given>, "progress", "finished",
 * "remaining", "ratePerSecond" (null while unknown), "etaMs" (null while
 * unknown), "drained"}. New reference, or NULL when out of memory.
 */
json_t *watch_json(const json_t *stats, const struct watch_progress *p, int64_t at_ms,
		   int64_t elapsed_ms);

#endif
