/*
 * cli_ops.c - `flowctl workers` and `flowctl queue watch`. See cli_ops.h;
 * the arithmetic and the progress line are in watch.c.
 */
#include "cli_ops.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "status.h"
#include "table.h"
#include "term.h"
#include "watch.h"

/* ---- flowctl workers ---- */

/* clang-format off */
static const struct table_col worker_cols[] = {
	{ "ID", "id", K_TEXT, 0 }, { "NAME", "name", K_TEXT, 40 },
	{ "CONNECTED", "connected", K_BOOL, 0 }, { "LAST_SEEN", "lastSeen", K_TEXT, 0 },
	{ "CAPACITY", "capacity", K_TEXT, 0 }, { "RUNNING", "running", K_TEXT, 0 },
	{ "AGENTS", "agentIds", K_LIST, 50 },
	END_COLUMNS,
};
static const struct table_col item_cols[] = {
	{ "WORKER", "workerId", K_TEXT, 0 }, { "ITEM", "queueItemId", K_TEXT, 0 },
	{ "QUEUE", "queueId", K_TEXT, 0 }, { "TICKET", "ticketId", K_TEXT, 0 },
	{ "TASK", "taskId", K_TEXT, 0 }, { "AGENT", "agentId", K_TEXT, 30 },
	{ "ATTEMPT", "attempt", K_TEXT, 0 }, { "STARTED", "startedAt", K_TIME, 0 },
	{ "LEASE", "lease", K_TEXT, 0 },
	END_COLUMNS,
};
/* clang-format on */

static json_int_t int_of(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* "3s ago" for a time before now, "in 25s" / "expired 3s ago" for a lease. */
static json_t *ago_text(json_int_t now, json_int_t t, bool lease)
{
	char d[32], buf[48];

	/* a worker seen just after the server's clock was read: "0s ago" */
	watch_duration(now >= t ? now - t : lease ? t - now : 0, d, sizeof(d));
	if (lease)
		snprintf(buf, sizeof(buf), t > now ? "in %s" : "expired %s ago", d);
	else
		snprintf(buf, sizeof(buf), "%s ago", d);
	return json_string(buf);
}

/* The display rows of the workers (*wrows) and of their items (*irows). */
static int worker_rows(const json_t *r, json_t *wrows, json_t *irows)
{
	json_int_t now = int_of(r, "now");
	const json_t *w, *it;
	size_t i, k;
	int rc = 0;

	json_array_foreach (json_object_get(r, "workers"), i, w) {
		const json_t *items = json_object_get(w, "items");
		json_t *row = json_deep_copy(w);

		rc |= row == NULL ||
		      json_object_set_new(row, "lastSeen",
					  ago_text(now, int_of(w, "lastSeenAt"), false)) ||
		      json_object_set_new(row, "running",
					  json_integer((json_int_t)json_array_size(items))) ||
		      json_array_append_new(wrows, row);
		json_array_foreach (items, k, it) {
			json_t *x = json_deep_copy(it);

			rc |= x == NULL ||
			      json_object_set(x, "workerId", json_object_get(w, "id")) ||
			      json_object_set_new(
				  x, "lease", ago_text(now, int_of(it, "leaseExpiresAt"), true)) ||
			      json_array_append_new(irows, x);
		}
	}
	return rc ? -1 : 0;
}

static int print_workers(const struct cli_env *env, const json_t *r, bool all)
{
	json_t *wrows = json_array(), *irows = json_array();
	int st = 0;

	if (wrows == NULL || irows == NULL || worker_rows(r, wrows, irows) != 0) {
		st = cli_fail(env, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	} else if (json_array_size(wrows) == 0 && !all) {
		printf("No worker connected (none seen in the last %" JSON_INTEGER_FORMAT
		       " s); flowctl workers --all lists the others.\n",
		       int_of(r, "seenWithinS"));
	} else {
		table_print(wrows, worker_cols, "No workers.");
		if (json_array_size(irows) > 0) {
			printf("\nRunning items:\n");
			table_print(irows, item_cols, "None.");
		}
		if (json_is_true(json_object_get(r, "truncated")))
			printf("\nMore workers matched than were listed.\n");
	}
	json_decref(wrows);
	json_decref(irows);
	return st;
}

int cli_ops_workers(struct cli_env *env, const struct cli_args *a)
{
	json_int_t seen = 0;
	bool all = a->opt[OPT_ALL] != NULL;
	json_t *r = NULL;
	int st;

	if (a->opt[OPT_SEEN_WITHIN] != NULL &&
	    (st = cli_opt_number(env, "--seen-within", a->opt[OPT_SEEN_WITHIN], 1, 86400, &seen)) !=
		0)
		return st;
	st = cli_run_action(env, ACTION_TOOL_AUTH,
			    json_pack("{s:s, s:{s:b, s:o?}}", "action", "workers_list", "data",
				      "includeDisconnected", all, "seenWithinS",
				      seen ? json_integer(seen) : NULL),
			    &r);
	if (st == 0 && !cli_json_mode(env, r))
		st = print_workers(env, r, all);
	json_decref(r);
	return st;
}

/* ---- flowctl queue watch ---- */

#define WATCH_INTERVAL_DEFAULT_MS 1000
#define WATCH_INTERVAL_MIN_MS 50
#define WATCH_INTERVAL_MAX_MS 3600000
/* Transient errors (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED)
 * after a successful poll are retried for this long. */
#define WATCH_GIVE_UP_MS 30000
/* Widest bar on a terminal. */
#define WATCH_BAR_MAX 30
#define WATCH_LINE_MAX 512

/* SIGINT: the first one stops the loop; a second one (a call hangs) exits. */
static volatile sig_atomic_t interrupted;
static volatile sig_atomic_t line_open; /* a progress line is on the terminal */

static void on_sigint(int sig)
{
	(void)sig;
	if (interrupted) {
		if (line_open)
			(void)!write(STDOUT_FILENO, "\n", 1);
		_exit(CALL_EXIT_INTERRUPTED);
	}
	interrupted = 1;
}

struct watcher {
	struct cli_env *env;
	json_t *args; /* the queues_get_stats call */
	const char *queue_id;
	int interval_ms;
	bool tty, color, ansi; /* ansi: the terminal knows ESC[K */
	struct watch_window win;
	struct watch_counts shown; /* counts of the last plain line */
	bool any_shown;
	int shown_width; /* visible width of the line on the terminal */
	char line[WATCH_LINE_MAX];
	int64_t start_ms, last_ok_ms; /* monotonic */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms, or less when SIGINT arrives (noticed within NAP_SLICE_MS even
 * when it comes between the check and the sleep). */
#define NAP_SLICE_MS 100

static void nap(int ms)
{
	int64_t until = mono_ms() + ms;

	for (int64_t left = ms; !interrupted && left > 0; left = until - mono_ms()) {
		int slice = left < NAP_SLICE_MS ? (int)left : NAP_SLICE_MS;
		struct timespec ts = { 0, (long)slice * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* The terminal line for c and p, fitted to the terminal's width. */
static int terminal_line(struct watcher *w, const struct watch_counts *c,
			 const struct watch_progress *p)
{
	int cols = term_columns(stdout), budget = cols > 1 ? cols - 1 : 0, bw = WATCH_BAR_WIDTH;
	int rest, width;

	if (budget > 0) {
		rest = watch_line(w->line, sizeof(w->line), c, p, 0, false);
		bw = budget - rest - 3;
		bw = bw > WATCH_BAR_MAX ? WATCH_BAR_MAX : bw < 5 ? 0 : bw;
	}
	width = watch_line(w->line, sizeof(w->line), c, p, bw, w->color);
	if (budget > 0 && width > budget) { /* narrow terminal: plain and cut */
		watch_line(w->line, sizeof(w->line), c, p, 0, false);
		w->line[budget] = '\0';
		width = budget;
	}
	return width;
}

/* Redraws the terminal line in place. */
static void draw(struct watcher *w, const struct watch_counts *c, const struct watch_progress *p)
{
	int width = terminal_line(w, c, p);

	if (w->ansi)
		printf("\r%s" TERM_CLEAR_EOL, w->line);
	else /* no ESC[K: blank out the rest of a longer previous line */
		printf("\r%s%*s", w->line, w->shown_width > width ? w->shown_width - width : 0, "");
	w->shown_width = width;
	line_open = 1;
	fflush(stdout);
}

/* Ends the terminal line, if one is open. */
static void end_line(void)
{
	if (line_open) {
		fputc('\n', stdout);
		fflush(stdout);
		line_open = 0;
	}
}

/* Shows one poll; returns -1 when stdout fails. */
static int show(struct watcher *w, const json_t *stats, const struct watch_counts *c,
		const struct watch_progress *p)
{
	if (w->env->json) {
		json_t *j = watch_json(stats, p, wall_ms(), mono_ms() - w->start_ms);
		int rc = j == NULL ||
			 json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15)) ||
			 fputc('\n', stdout) == EOF;

		json_decref(j);
		return rc || fflush(stdout) ? -1 : 0;
	}
	if (w->tty) {
		draw(w, c, p);
		return 0;
	}
	if (w->any_shown && watch_counts_equal(&w->shown, c))
		return 0;
	watch_line(w->line, sizeof(w->line), c, p, WATCH_BAR_WIDTH, false);
	printf("%s\n", w->line);
	w->shown = *c;
	w->any_shown = true;
	return fflush(stdout) ? -1 : 0;
}

/* The drained queue: a summary and the final stats (none with --json). */
static void finish(struct watcher *w, const json_t *stats, bool at_once)
{
	char d[32];

	end_line();
	if (w->env->json)
		return;
	watch_duration(mono_ms() - w->start_ms, d, sizeof(d));
	if (at_once)
		printf("Queue %s has nothing queued or running.\n\n", w->queue_id);
	else
		printf("Queue %s drained in %s.\n\n", w->queue_id, d);
	cli_print_queue_stats(stats);
}

static bool transient(int code)
{
	return code == FLOW_UNAVAILABLE || code == FLOW_DEADLINE_EXCEEDED ||
	       code == FLOW_RESOURCE_EXHAUSTED;
}

#define POLL_AGAIN (-1)

/*
 * One poll. Returns 0 with the stats in *stats, POLL_AGAIN after a
 * transient error (*wait_ms: how long to wait before the next), or the
 * exit status (1, 2) after reporting the error.
 */
static int poll_once(struct watcher *w, int n_ok, json_t **stats, int *wait_ms)
{
	struct call_error e;

	*wait_ms = w->interval_ms;
	if (call_run(&w->env->call, ACTION_TOOL_FLOW, w->args, stats, &e) == FLOW_OK) {
		w->last_ok_ms = mono_ms();
		return 0;
	}
	if (n_ok > 0 && !e.usage && transient(e.code) &&
	    mono_ms() - w->last_ok_ms < WATCH_GIVE_UP_MS) {
		if ((int64_t)e.retry_after_ms > *wait_ms)
			*wait_ms = e.retry_after_ms > WATCH_GIVE_UP_MS ? WATCH_GIVE_UP_MS
								       : (int)e.retry_after_ms;
		return POLL_AGAIN;
	}
	end_line();
	return cli_report(w->env, &e);
}

/* Polls until drained (0), an error (its exit status) or SIGINT (130). */
static int watch_loop(struct watcher *w)
{
	int n_ok = 0;

	for (;;) {
		struct watch_counts c;
		struct watch_progress p;
		json_t *stats = NULL;
		int wait_ms, rc;

		if (interrupted)
			break;
		if ((rc = poll_once(w, n_ok, &stats, &wait_ms)) == POLL_AGAIN) {
			nap(wait_ms);
			continue;
		}
		if (rc != 0)
			return rc;
		watch_counts_from_json(stats, &c);
		watch_window_add(&w->win, mono_ms(), c.completed + c.failed + c.cancelled + c.dead);
		watch_compute(&w->win, &c, &p);
		rc = show(w, stats, &c, &p);
		if (rc == 0 && p.drained)
			finish(w, stats, n_ok == 0);
		json_decref(stats);
		if (rc != 0)
			return cli_fail(w->env, FLOW_INTERNAL, "cannot write the output");
		if (p.drained)
			return CALL_EXIT_OK;
		n_ok++;
		nap(w->interval_ms);
	}
	if (w->tty && line_open && w->ansi) /* redraw over the echoed ^C */
		printf("\r%s" TERM_CLEAR_EOL, w->line);
	end_line();
	return CALL_EXIT_INTERRUPTED;
}

static void watcher_init(struct watcher *w, struct cli_env *env, const char *queue_id,
			 int interval_ms)
{
	memset(w, 0, sizeof(*w));
	w->env = env;
	w->queue_id = queue_id;
	w->interval_ms = interval_ms;
	w->tty = !env->json && term_is_tty(stdout);
	w->color = w->tty && term_color(stdout);
	w->ansi = w->tty && term_ansi(stdout);
	watch_window_init(&w->win);
	w->start_ms = w->last_ok_ms = mono_ms();
}

int cli_ops_queue_watch(struct cli_env *env, const struct cli_args *a)
{
	struct sigaction sa, old;
	json_int_t interval = WATCH_INTERVAL_DEFAULT_MS;
	struct watcher w;
	int st;

	if (a->opt[OPT_INTERVAL] != NULL &&
	    (st = cli_opt_number(env, "--interval", a->opt[OPT_INTERVAL], WATCH_INTERVAL_MIN_MS,
				 WATCH_INTERVAL_MAX_MS, &interval)) != 0)
		return st;
	watcher_init(&w, env, a->pos[0], (int)interval);
	w.args = json_pack("{s:s, s:s}", "action", "queues_get_stats", "queueId", a->pos[0]);
	if (w.args == NULL)
		return cli_fail(env, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint; /* no SA_RESTART: a nap ends at once */
	sigemptyset(&sa.sa_mask);
	interrupted = line_open = 0;
	sigaction(SIGINT, &sa, &old);
	st = watch_loop(&w);
	sigaction(SIGINT, &old, NULL);
	json_decref(w.args);
	return st;
}
