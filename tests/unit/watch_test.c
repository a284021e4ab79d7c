/*
 * watch_test.c - the arithmetic and text of `flowctl queue watch`
 * (client/watch.c): counts from the stats JSON, the moving-window rate,
 * progress and ETA, durations, the progress line with and without color,
 * the NDJSON object; and the color rule of client/term.c (NO_COLOR, TERM).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "term.h"
#include "watch.h"

static struct watch_counts counts(int64_t total, int64_t queued, int64_t running, int64_t completed,
				  int64_t failed, int64_t dead)
{
	struct watch_counts c = { total, queued, running, completed, failed, 0, dead, true };

	return c;
}

static void assert_near(double got, double want)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("got %.12g, want %.12g", got, want);
}

/* ---- counts ---- */

static void test_counts_from_json(void **state)
{
	json_t *j =
	    json_pack("{s:I, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queueId",
		      (json_int_t)3, "queueName", "q", "isActive", 0, "totalItems", (json_int_t)20,
		      "queuedItems", (json_int_t)5, "inProgressItems", (json_int_t)3,
		      "completedItems", (json_int_t)9, "failedItems", (json_int_t)1,
		      "cancelledItems", (json_int_t)1, "deadItems", (json_int_t)1);
	struct watch_counts c, d;

	(void)state;
	watch_counts_from_json(j, &c);
	assert_int_equal(c.total, 20);
	assert_int_equal(c.queued, 5);
	assert_int_equal(c.in_progress, 3);
	assert_int_equal(c.completed, 9);
	assert_int_equal(c.failed, 1);
	assert_int_equal(c.cancelled, 1);
	assert_int_equal(c.dead, 1);
	assert_false(c.active);
	d = c;
	assert_true(watch_counts_equal(&c, &d));
	d.completed++;
	assert_false(watch_counts_equal(&c, &d));
	json_decref(j);

	/* absent fields are 0; an absent isActive counts as active */
	j = json_pack("{s:I}", "queueId", (json_int_t)3);
	watch_counts_from_json(j, &c);
	assert_int_equal(c.total + c.queued + c.in_progress + c.completed + c.failed, 0);
	assert_true(c.active);
	json_decref(j);
}

/* ---- progress, rate, ETA ---- */

static void test_first_poll(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(20, 15, 3, 2, 0, 0);
	struct watch_progress p;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 1000, 2);
	watch_compute(&w, &c, &p);
	assert_int_equal(p.finished, 2);
	assert_int_equal(p.remaining, 18);
	assert_near(p.progress, 0.1);
	assert_false(p.rate_known);
	assert_near(p.rate, 0);
	assert_int_equal(p.eta_ms, -1);
	assert_false(p.drained);
}

static void test_rate_and_eta(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(20, 10, 2, 6, 1, 1);
	struct watch_progress p;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 1000, 2);
	watch_window_add(&w, 2000, 4);
	watch_window_add(&w, 4000, 8); /* 8 finished in 4 s */
	watch_compute(&w, &c, &p);
	assert_int_equal(p.finished, 8);
	assert_int_equal(p.remaining, 12);
	assert_true(p.rate_known);
	assert_near(p.rate, 2.0);
	assert_int_equal(p.eta_ms, 6000);
	assert_near(p.progress, 6.0 / 20.0);

	/* ETA rounds up to the millisecond */
	c = counts(10, 1, 0, 9, 0, 0);
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 3000, 9); /* 3 per second */
	watch_compute(&w, &c, &p);
	assert_near(p.rate, 3.0);
	assert_int_equal(p.eta_ms, 334);

	/* no progress in the window: rate 0, ETA unknown */
	watch_window_init(&w);
	watch_window_add(&w, 0, 5);
	watch_window_add(&w, 500, 5);
	c = counts(10, 5, 0, 5, 0, 0);
	watch_compute(&w, &c, &p);
	assert_true(p.rate_known);
	assert_near(p.rate, 0);
	assert_int_equal(p.eta_ms, -1);

	/* two polls at the same instant: no rate yet */
	watch_window_init(&w);
	watch_window_add(&w, 700, 1);
	watch_window_add(&w, 700, 2);
	watch_compute(&w, &c, &p);
	assert_false(p.rate_known);
}

static void test_moving_window(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(1000, 500, 10, 490, 0, 0);
	struct watch_progress p;

	(void)state;
	watch_window_init(&w);
	/* fast at first (10/s for 20 s), then slow (1/s for 20 s) */
	for (int t = 0; t <= 20; t++)
		watch_window_add(&w, t * 1000, t * 10);
	for (int t = 21; t <= 40; t++)
		watch_window_add(&w, t * 1000, 200 + (t - 20));
	watch_compute(&w, &c, &p);
	/* only the last 10 s count: 1 item per second */
	assert_near(p.rate, 1.0);
	assert_true(w.n <= 11);
	assert_int_equal(p.eta_ms, 510000);

	/* polls slower than the window still give a rate (the older sample stays) */
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 30000, 60);
	watch_compute(&w, &c, &p);
	assert_true(p.rate_known);
	assert_near(p.rate, 2.0);
	watch_window_add(&w, 60000, 90);
	watch_compute(&w, &c, &p);
	assert_near(p.rate, 1.0);

	/* more polls than samples: the oldest go */
	watch_window_init(&w);
	for (int i = 0; i < 3 * WATCH_SAMPLES; i++)
		watch_window_add(&w, i, i);
	assert_int_equal(w.n, WATCH_SAMPLES);
	watch_compute(&w, &c, &p);
	assert_near(p.rate, 1000.0);
}

static void test_window_restarts(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(10, 8, 0, 2, 0, 0);
	struct watch_progress p;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 1000, 5);
	/* items re-driven: fewer finished than before; the window starts again */
	watch_window_add(&w, 2000, 2);
	assert_int_equal(w.n, 1);
	watch_compute(&w, &c, &p);
	assert_false(p.rate_known);
	assert_int_equal(p.eta_ms, -1);
	/* a clock going back restarts it too */
	watch_window_add(&w, 3000, 3);
	watch_window_add(&w, 2500, 3);
	assert_int_equal(w.n, 1);
}

static void test_drained_and_edges(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(20, 0, 0, 17, 2, 1);
	struct watch_progress p;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 0, 10);
	watch_window_add(&w, 1000, 20);
	watch_compute(&w, &c, &p);
	assert_true(p.drained);
	assert_int_equal(p.eta_ms, 0);
	assert_near(p.progress, 17.0 / 20.0);

	/* an empty queue is drained at once, progress 0 */
	c = counts(0, 0, 0, 0, 0, 0);
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_compute(&w, &c, &p);
	assert_true(p.drained);
	assert_near(p.progress, 0);

	/* in progress counts as remaining: not drained */
	c = counts(1, 0, 1, 0, 0, 0);
	watch_compute(&w, &c, &p);
	assert_false(p.drained);
	assert_int_equal(p.remaining, 1);

	/* a zeroed window is a valid empty one */
	memset(&w, 0, sizeof(w));
	watch_compute(&w, &c, &p);
	assert_false(p.rate_known);
}

/* ---- text ---- */

static void test_duration(void **state)
{
	char b[32];

	(void)state;
	watch_duration(0, b, sizeof(b));
	assert_string_equal(b, "0s");
	watch_duration(-5, b, sizeof(b));
	assert_string_equal(b, "0s");
	watch_duration(1, b, sizeof(b));
	assert_string_equal(b, "1s");
	watch_duration(45000, b, sizeof(b));
	assert_string_equal(b, "45s");
	watch_duration(59999, b, sizeof(b));
	assert_string_equal(b, "1m00s");
	watch_duration(187000, b, sizeof(b));
	assert_string_equal(b, "3m07s");
	watch_duration(7500000, b, sizeof(b));
	assert_string_equal(b, "2h05m");
}

static void test_line_plain(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(20, 10, 2, 8, 0, 0);
	struct watch_progress p;
	char b[512];
	int n;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 4000, 8);
	watch_compute(&w, &c, &p);
	n = watch_line(b, sizeof(b), &c, &p, WATCH_BAR_WIDTH, false);
	assert_string_equal(b, "[########------------] 8/20  40%  queued 10  running 2  failed 0"
			       "  dead 0  2.0/s  ETA 6s");
	assert_int_equal(n, (int)strlen(b));
	for (const char *s = b; *s; s++)
		assert_true((unsigned char)*s >= 0x20 && *s != 0x7f);

	/* without the bar; cancelled and paused shown; unknown rate */
	c = counts(20, 10, 0, 8, 1, 0);
	c.cancelled = 1;
	c.active = false;
	watch_window_init(&w);
	watch_window_add(&w, 0, 10);
	watch_compute(&w, &c, &p);
	watch_line(b, sizeof(b), &c, &p, 0, false);
	assert_string_equal(b, "8/20  40%  queued 10  running 0  failed 1  dead 0  cancelled 1"
			       "  -/s  ETA -  paused");

	/* drained: all done, 100% */
	c = counts(20, 0, 0, 20, 0, 0);
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 10000, 20);
	watch_compute(&w, &c, &p);
	watch_line(b, sizeof(b), &c, &p, 10, false);
	assert_string_equal(b, "[##########] 20/20 100%  queued 0  running 0  failed 0  dead 0"
			       "  2.0/s  done");

	/* fast queues: no decimals */
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_window_add(&w, 1000, 250);
	c = counts(1000, 750, 0, 250, 0, 0);
	watch_compute(&w, &c, &p);
	watch_line(b, sizeof(b), &c, &p, 0, false);
	assert_non_null(strstr(b, "  250/s  ETA 3s"));
}

static void test_line_color_and_cut(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(4, 0, 0, 2, 1, 1);
	struct watch_progress p;
	char plain[512], col[512], small[24];
	int n_plain, n_col;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 0, 4);
	watch_compute(&w, &c, &p);
	n_plain = watch_line(plain, sizeof(plain), &c, &p, 4, false);
	n_col = watch_line(col, sizeof(col), &c, &p, 4, true);
	/* the same width on screen; colors only with color */
	assert_int_equal(n_plain, n_col);
	assert_null(strchr(plain, '\x1b'));
	assert_non_null(strstr(col, "[" TERM_GREEN "##" TERM_RESET "--]"));
	assert_non_null(strstr(col, TERM_RED "failed 1" TERM_RESET));
	assert_non_null(strstr(col, TERM_RED "dead 1" TERM_RESET));
	/* zero counts are never red; no green for an empty bar */
	c = counts(4, 4, 0, 0, 0, 0);
	watch_compute(&w, &c, &p);
	watch_line(col, sizeof(col), &c, &p, 4, true);
	assert_null(strstr(col, TERM_RED));
	assert_null(strstr(col, TERM_GREEN));
	assert_non_null(strstr(col, "[----]"));
	c.active = false;
	watch_line(col, sizeof(col), &c, &p, 0, true);
	assert_non_null(strstr(col, TERM_YELLOW "paused" TERM_RESET));

	/* a small buffer: cut, terminated */
	watch_line(small, sizeof(small), &c, &p, 4, false);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(watch_line(small, 0, &c, &p, 4, false), 0);
}

static void test_json(void **state)
{
	struct watch_window w;
	struct watch_counts c = counts(20, 10, 2, 8, 0, 0);
	struct watch_progress p;
	json_t *stats =
	    json_pack("{s:I, s:I}", "queueId", (json_int_t)3, "totalItems", (json_int_t)20);
	json_t *j;

	(void)state;
	watch_window_init(&w);
	watch_window_add(&w, 0, 0);
	watch_compute(&w, &c, &p);
	j = watch_json(stats, &p, 1700000000000, 150);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "at")), 1700000000000);
	assert_int_equal(json_integer_value(json_object_get(j, "elapsedMs")), 150);
	assert_ptr_equal(json_object_get(j, "stats"), stats);
	assert_near(json_real_value(json_object_get(j, "progress")), 0.4);
	assert_int_equal(json_integer_value(json_object_get(j, "finished")), 8);
	assert_int_equal(json_integer_value(json_object_get(j, "remaining")), 12);
	assert_true(json_is_null(json_object_get(j, "ratePerSecond")));
	assert_true(json_is_null(json_object_get(j, "etaMs")));
	assert_true(json_is_false(json_object_get(j, "drained")));
	json_decref(j);

	watch_window_add(&w, 4000, 8);
	watch_compute(&w, &c, &p);
	j = watch_json(stats, &p, 1, 2);
	assert_near(json_real_value(json_object_get(j, "ratePerSecond")), 2.0);
	assert_int_equal(json_integer_value(json_object_get(j, "etaMs")), 6000);
	json_decref(j);
	json_decref(stats);
}

/* ---- the color rule ---- */

static void test_color_rule(void **state)
{
	(void)state;
	assert_true(term_color_wanted(true, NULL, "xterm-256color"));
	assert_true(term_color_wanted(true, "", "xterm"));
	/* https://no-color.org: any non-empty value */
	assert_false(term_color_wanted(true, "1", "xterm"));
	assert_false(term_color_wanted(true, "0", "xterm"));
	assert_false(term_color_wanted(true, "false", "xterm"));
	/* not a terminal, or a dumb / unknown one */
	assert_false(term_color_wanted(false, NULL, "xterm"));
	assert_false(term_color_wanted(true, NULL, "dumb"));
	assert_false(term_color_wanted(true, NULL, NULL));
	assert_false(term_color_wanted(true, NULL, ""));
	/* cursor control: any terminal but a dumb one, NO_COLOR or not */
	assert_true(term_ansi_wanted(true, "xterm"));
	assert_false(term_ansi_wanted(true, "dumb"));
	assert_false(term_ansi_wanted(true, NULL));
	assert_false(term_ansi_wanted(false, "xterm"));
}

static void test_color_of_streams(void **state)
{
	FILE *f = tmpfile();

	(void)state;
	/* a file is no terminal: never color, whatever the environment */
	assert_non_null(f);
	setenv("TERM", "xterm", 1);
	unsetenv("NO_COLOR");
	assert_false(term_is_tty(f));
	assert_false(term_color(f));
	assert_false(term_ansi(f));
	assert_int_equal(term_columns(f), 0);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_from_json),   cmocka_unit_test(test_first_poll),
		cmocka_unit_test(test_rate_and_eta),	   cmocka_unit_test(test_moving_window),
		cmocka_unit_test(test_window_restarts),	   cmocka_unit_test(test_drained_and_edges),
		cmocka_unit_test(test_duration),	   cmocka_unit_test(test_line_plain),
		cmocka_unit_test(test_line_color_and_cut), cmocka_unit_test(test_json),
		cmocka_unit_test(test_color_rule),	   cmocka_unit_test(test_color_of_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
