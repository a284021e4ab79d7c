/* watch.c - progress, rate and ETA of `flowctl queue watch`. See watch.h. */
#include "watch.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "term.h"

static int64_t count_of(const json_t *stats, const char *key)
{
	const json_t *v = json_object_get(stats, key);

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return 0;
}

void watch_counts_from_json(const json_t *stats, struct watch_counts *out)
{
	const json_t *active = json_object_get(stats, "isActive");

	out->total = count_of(stats, "totalItems");
	out->queued = count_of(stats, "queuedItems");
	out->in_progress = count_of(stats, "inProgressItems");
	out->completed = count_of(stats, "completedItems");
	out->failed = count_of(stats, "failedItems");
	out->cancelled = count_of(stats, "cancelledItems");
	out->dead = count_of(stats, "deadItems");
	out->active = active == NULL || json_is_true(active);
}

bool watch_counts_equal(const struct watch_counts *a, const struct watch_counts *b)
{
	return a->total == b->total && a->queued == b->queued && a->in_progress == b->in_progress &&
	       a->completed == b->completed && a->failed == b->failed &&
	       a->cancelled == b->cancelled && a->dead == b->dead && a->active == b->active;
}

/* ---- the rate window ---- */

void watch_window_init(struct watch_window *w)
{
	memset(w, 0, sizeof(*w));
}

static int slot(const struct watch_window *w, int k)
{
	return (w->first + k) % WATCH_SAMPLES;
}

static void drop_oldest(struct watch_window *w)
{
	w->first = (w->first + 1) % WATCH_SAMPLES;
	w->n--;
}

void watch_window_add(struct watch_window *w, int64_t t_ms, int64_t finished)
{
	if (w->n > 0) {
		int last = slot(w, w->n - 1);

		if (finished < w->finished[last] || t_ms < w->t_ms[last])
			watch_window_init(w);
	}
	if (w->n == WATCH_SAMPLES)
		drop_oldest(w);
	w->t_ms[slot(w, w->n)] = t_ms;
	w->finished[slot(w, w->n)] = finished;
	w->n++;
	/* keep one sample at or before the window's start, no older ones */
	while (w->n >= 2 && w->t_ms[slot(w, 1)] <= t_ms - WATCH_WINDOW_MS)
		drop_oldest(w);
}

void watch_compute(const struct watch_window *w, const struct watch_counts *c,
		   struct watch_progress *p)
{
	memset(p, 0, sizeof(*p));
	p->finished = c->completed + c->failed + c->cancelled + c->dead;
	p->remaining = c->queued + c->in_progress;
	p->drained = p->remaining == 0;
	if (c->total > 0)
		p->progress = (double)c->completed / (double)c->total;
	if (p->progress > 1.0)
		p->progress = 1.0;
	if (w->n >= 2) {
		int a = slot(w, 0), b = slot(w, w->n - 1);
		int64_t dt = w->t_ms[b] - w->t_ms[a];

		if (dt > 0) {
			p->rate_known = true;
			p->rate = (double)(w->finished[b] - w->finished[a]) * 1000.0 / (double)dt;
		}
	}
	if (p->remaining == 0)
		p->eta_ms = 0;
	else if (p->rate > 0)
		p->eta_ms = (int64_t)((double)p->remaining * 1000.0 / p->rate + 0.999);
	else
		p->eta_ms = -1;
}

/* ---- text ---- */

void watch_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms > 0 ? (ms + 999) / 1000 : 0;

	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
}

/* A line being built: text with and without color codes cut to fit. */
struct line {
	char *buf;
	size_t len, used;
	int visible; /* characters on screen */
};

/* Appends text; counted on screen unless it is a color code. */
static void put(struct line *l, bool visible, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put(struct line *l, bool visible, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->used + 1 >= l->len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->used, l->len - l->used, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= l->len - l->used)
		n = (int)(l->len - l->used - 1);
	l->used += (size_t)n;
	if (visible)
		l->visible += n;
}

/* "name N", in color when warn and N > 0. */
static void count(struct line *l, const char *name, int64_t n, bool warn, bool color)
{
	bool red = color && warn && n > 0;

	put(l, true, "  ");
	if (red)
		put(l, false, TERM_RED);
	put(l, true, "%s %" PRId64, name, n);
	if (red)
		put(l, false, TERM_RESET);
}

static void bar(struct line *l, double progress, int width, bool color)
{
	int filled = (int)(progress * width + 1e-9);

	if (filled > width)
		filled = width;
	put(l, true, "[");
	if (color && filled > 0)
		put(l, false, TERM_GREEN);
	for (int i = 0; i < filled; i++)
		put(l, true, "#");
	if (color && filled > 0)
		put(l, false, TERM_RESET);
	for (int i = filled; i < width; i++)
		put(l, true, "-");
	put(l, true, "] ");
}

static void rate_eta(struct line *l, const struct watch_progress *p)
{
	char eta[32];

	if (!p->rate_known)
		put(l, true, "  -/s");
	else if (p->rate < 100)
		put(l, true, "  %.1f/s", p->rate);
	else
		put(l, true, "  %.0f/s", p->rate);
	if (p->drained) {
		put(l, true, "  done");
		return;
	}
	if (p->eta_ms < 0) {
		put(l, true, "  ETA -");
		return;
	}
	watch_duration(p->eta_ms, eta, sizeof(eta));
	put(l, true, "  ETA %s", eta);
}

int watch_line(char *buf, size_t len, const struct watch_counts *c, const struct watch_progress *p,
	       int bar_width, bool color)
{
	struct line l = { buf, len, 0, 0 };

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (bar_width > 0)
		bar(&l, p->progress, bar_width, color);
	put(&l, true, "%" PRId64 "/%" PRId64 " %3d%%", c->completed, c->total,
	    (int)(p->progress * 100.0 + 1e-9));
	count(&l, "queued", c->queued, false, color);
	count(&l, "running", c->in_progress, false, color);
	count(&l, "failed", c->failed, true, color);
	count(&l, "dead", c->dead, true, color);
	if (c->cancelled > 0)
		count(&l, "cancelled", c->cancelled, false, color);
	rate_eta(&l, p);
	if (!c->active) {
		put(&l, true, "  ");
		if (color)
			put(&l, false, TERM_YELLOW);
		put(&l, true, "paused");
		if (color)
			put(&l, false, TERM_RESET);
	}
	return l.visible;
}

json_t *watch_json(const json_t *stats, const struct watch_progress *p, int64_t at_ms,
		   int64_t elapsed_ms)
{
	return json_pack(
	    "{s:I, s:I, s:O, s:f, s:I, s:I, s:o, s:o, s:b}", "at", (json_int_t)at_ms, "elapsedMs",
	    (json_int_t)elapsed_ms, "stats", stats, "progress", p->progress, "finished",
	    (json_int_t)p->finished, "remaining", (json_int_t)p->remaining, "ratePerSecond",
	    p->rate_known ? json_real(p->rate) : json_null(), "etaMs",
	    p->eta_ms >= 0 ? json_integer(p->eta_ms) : json_null(), "drained", p->drained);
}
