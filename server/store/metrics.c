/* metrics.c - the statements of /readyz and /metrics, with timeouts. See
 * metrics.h. */
#include "store/metrics.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "req.h"
#include "status.h"

const char *const store_item_status_names[STORE_ITEM_N_STATUS] = {
	"queued", "in_progress", "completed", "failed", "cancelled", "dead",
};

struct store_metrics_conn {
	PGconn *pg; /* NULL until connected, and after a failure */
	char *conninfo;
	int timeout_ms;
};

static const char sql_timeout[] = "SELECT set_config('statement_timeout', $1, false)";

static const char sql_schema[] = "SELECT coalesce(max(version), 0) AS v FROM schema_migrations";

static const char sql_workers[] =
    "SELECT (SELECT count(*) FROM workers"
    "        WHERE last_seen_at > now() - make_interval(secs => $1::int)) AS workers,"
    " (SELECT coalesce(max(version), 0) FROM schema_migrations) AS schema";

/* Columns 2.. follow enum store_item_status. Live rows are counted in one
 * GROUP BY; finished items pruned from queue_items are in
 * queue_item_counters (as in GetQueueStats, store/items.c). */
static const char sql_queues[] =
    "SELECT q.id, q.project_id,"
    " coalesce(l.queued, 0), coalesce(l.in_progress, 0),"
    " coalesce(l.completed, 0) + coalesce(c.completed, 0),"
    " coalesce(l.failed, 0) + coalesce(c.failed, 0),"
    " coalesce(l.cancelled, 0) + coalesce(c.cancelled, 0),"
    " coalesce(l.dead, 0) + coalesce(c.dead, 0)"
    " FROM queues q"
    " LEFT JOIN (SELECT queue_id,"
    "    count(*) FILTER (WHERE status = 'queued') AS queued,"
    "    count(*) FILTER (WHERE status = 'in_progress') AS in_progress,"
    "    count(*) FILTER (WHERE status = 'completed') AS completed,"
    "    count(*) FILTER (WHERE status = 'failed') AS failed,"
    "    count(*) FILTER (WHERE status = 'cancelled') AS cancelled,"
    "    count(*) FILTER (WHERE status = 'dead') AS dead"
    "  FROM queue_items GROUP BY queue_id) l ON l.queue_id = q.id"
    " LEFT JOIN queue_item_counters c ON c.queue_id = q.id"
    " ORDER BY q.id";

int store_metrics_open(const char *conninfo, int timeout_ms, store_metrics_conn **out, char *err,
		       size_t errlen)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);
	store_metrics_conn *c;

	if (opts == NULL) {
		snprintf(err, errlen, "invalid database URL: %s", perr ? perr : "out of memory");
		PQfreemem(perr);
		return FLOW_INVALID_ARGUMENT;
	}
	PQconninfoFree(opts);
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->conninfo = strdup(conninfo)) == NULL) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
	*out = c;
	return FLOW_OK;
}

static void drop(store_metrics_conn *c)
{
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->pg = NULL;
}

void store_metrics_close(store_metrics_conn *c)
{
	if (c == NULL)
		return;
	drop(c);
	free(c->conninfo);
	free(c);
}

/* libpq's message on one line. */
static void pg_message(PGconn *pg, const char *what, char *err, size_t errlen)
{
	size_t n, o = 0;

	snprintf(err, errlen, "%s: %s", what, pg ? PQerrorMessage(pg) : "out of memory");
	for (n = 0; err[n] != '\0'; n++) {
		char c = err[n] == '\n' || err[n] == '\t' ? ' ' : err[n];

		if (c != ' ' || (o > 0 && err[o - 1] != ' '))
			err[o++] = c;
	}
	while (o > 0 && err[o - 1] == ' ')
		o--;
	err[o] = '\0';
}

/* Waits until the socket is ready for events or the deadline passes:
 * 1 ready, 0 timed out, -1 error. */
static int wait_socket(PGconn *pg, short events, int64_t deadline_ms)
{
	struct pollfd p = { .fd = PQsocket(pg), .events = events };

	if (p.fd < 0)
		return -1;
	for (;;) {
		int64_t left = deadline_ms - req_now_ms();
		int rv;

		if (left <= 0)
			return 0;
		rv = poll(&p, 1, (int)left);
		if (rv > 0)
			return 1;
		if (rv == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Connects without blocking past the deadline. */
static int connect_pg(store_metrics_conn *c, int64_t deadline_ms, char *err, size_t errlen)
{
	const char *const kw[] = { "dbname", "fallback_application_name", NULL };
	const char *const val[] = { c->conninfo, "flowd-http", NULL };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn *pg = PQconnectStartParams(kw, val, 1);

	if (pg == NULL || PQstatus(pg) == CONNECTION_BAD) {
		pg_message(pg, "cannot connect to the database", err, errlen);
		PQfinish(pg);
		return FLOW_UNAVAILABLE;
	}
	while (st != PGRES_POLLING_OK) {
		int w;

		if (st == PGRES_POLLING_FAILED) {
			pg_message(pg, "cannot connect to the database", err, errlen);
			PQfinish(pg);
			return FLOW_UNAVAILABLE;
		}
		w = wait_socket(pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ms);
		if (w <= 0) {
			snprintf(err, errlen, "cannot connect to the database: %s",
				 w == 0 ? "timed out" : "poll failed");
			PQfinish(pg);
			return FLOW_UNAVAILABLE;
		}
		st = PQconnectPoll(pg);
	}
	c->pg = pg;
	return FLOW_OK;
}

/* Waits for and returns the first result of the statement sent, reading
 * (and discarding) any further ones; NULL after a failure or a timeout
 * (*timed_out set), the connection then unusable. */
static PGresult *read_result(PGconn *pg, int64_t deadline_ms, bool *timed_out)
{
	PGresult *first = NULL, *res;

	*timed_out = false;
	for (;;) {
		while (PQisBusy(pg)) {
			int w = wait_socket(pg, POLLIN, deadline_ms);

			if (w <= 0 || !PQconsumeInput(pg)) {
				*timed_out = w == 0;
				PQclear(first);
				return NULL;
			}
		}
		if ((res = PQgetResult(pg)) == NULL)
			return first;
		if (first == NULL)
			first = res;
		else
			PQclear(res);
	}
}

/*
 * Runs sql with its text params on c (connecting first when needed) and
 * returns its rows in *res (PQclear by the caller). A statement that fails
 * for the connection's sake, or runs past the deadline, drops the
 * connection.
 */
static int exec_pg(store_metrics_conn *c, const char *what, const char *sql, int nparams,
		   const char *const *params, int64_t deadline_ms, PGresult **res, char *err,
		   size_t errlen)
{
	ExecStatusType st;
	const char *state;
	bool timed_out;

	*res = NULL;
	if (!PQsendQueryParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
		pg_message(c->pg, what, err, errlen);
		drop(c);
		return FLOW_UNAVAILABLE;
	}
	if ((*res = read_result(c->pg, deadline_ms, &timed_out)) == NULL) {
		if (timed_out)
			snprintf(err, errlen, "%s: no answer within %d ms", what, c->timeout_ms);
		else
			pg_message(c->pg, what, err, errlen);
		drop(c);
		return timed_out ? FLOW_DEADLINE_EXCEEDED : FLOW_UNAVAILABLE;
	}
	st = PQresultStatus(*res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return FLOW_OK;
	state = PQresultErrorField(*res, PG_DIAG_SQLSTATE);
	snprintf(err, errlen, "%s failed: SQLSTATE %s: %s", what, state ? state : "?",
		 PQresultErrorField(*res, PG_DIAG_MESSAGE_PRIMARY)
		     ? PQresultErrorField(*res, PG_DIAG_MESSAGE_PRIMARY)
		     : "?");
	PQclear(*res);
	*res = NULL;
	if (PQstatus(c->pg) != CONNECTION_OK) {
		drop(c);
		return FLOW_UNAVAILABLE;
	}
	/* 57014: our own statement_timeout */
	return state != NULL && strcmp(state, "57014") == 0 ? FLOW_DEADLINE_EXCEEDED
							    : FLOW_INTERNAL;
}

/* Connects (and sets statement_timeout) unless connected. */
static int ensure(store_metrics_conn *c, int64_t deadline_ms, char *err, size_t errlen)
{
	char ms[32];
	const char *p[1] = { ms };
	PGresult *res;
	int rv;

	if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK)
		return FLOW_OK;
	drop(c);
	if ((rv = connect_pg(c, deadline_ms, err, errlen)) != FLOW_OK)
		return rv;
	snprintf(ms, sizeof(ms), "%d", c->timeout_ms);
	rv = exec_pg(c, "setting statement_timeout", sql_timeout, 1, p, deadline_ms, &res, err,
		     errlen);
	PQclear(res);
	if (rv != FLOW_OK)
		drop(c);
	return rv;
}

/* Runs one statement, connecting first when needed, within timeout_ms (a
 * new connection gets a budget of its own). */
static int run(store_metrics_conn *c, const char *what, const char *sql, int nparams,
	       const char *const *params, PGresult **res, char *err, size_t errlen)
{
	int rv;

	*res = NULL;
	if ((rv = ensure(c, req_now_ms() + c->timeout_ms, err, errlen)) != FLOW_OK)
		return rv;
	return exec_pg(c, what, sql, nparams, params, req_now_ms() + c->timeout_ms, res, err,
		       errlen);
}

static int64_t cell(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

int store_metrics_schema(store_metrics_conn *c, int *version, char *err, size_t errlen)
{
	PGresult *res;
	int rv = run(c, "reading the schema version", sql_schema, 0, NULL, &res, err, errlen);

	if (rv != FLOW_OK)
		return rv;
	if (PQntuples(res) != 1) {
		snprintf(err, errlen, "reading the schema version: no row");
		PQclear(res);
		return FLOW_INTERNAL;
	}
	*version = (int)cell(res, 0, 0);
	PQclear(res);
	return FLOW_OK;
}

static int collect_queues(store_metrics_conn *c, struct store_metrics_snapshot *out, char *err,
			  size_t errlen)
{
	PGresult *res;
	int rv = run(c, "counting queue items", sql_queues, 0, NULL, &res, err, errlen);
	int n;

	if (rv != FLOW_OK)
		return rv;
	n = PQntuples(res);
	if (n > 0 && (out->queues = calloc((size_t)n, sizeof(*out->queues))) == NULL) {
		PQclear(res);
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	for (int i = 0; i < n; i++) {
		struct store_queue_counts *q = &out->queues[i];

		q->queue_id = cell(res, i, 0);
		q->project_id = cell(res, i, 1);
		for (int s = 0; s < STORE_ITEM_N_STATUS; s++)
			q->n[s] = cell(res, i, 2 + s);
	}
	out->n_queues = (size_t)n;
	PQclear(res);
	return FLOW_OK;
}

int store_metrics_collect(store_metrics_conn *c, int window_s, struct store_metrics_snapshot *out,
			  char *err, size_t errlen)
{
	char win[32];
	const char *p[1] = { win };
	PGresult *res;
	int rv;

	memset(out, 0, sizeof(*out));
	snprintf(win, sizeof(win), "%d", window_s);
	if ((rv = run(c, "counting workers", sql_workers, 1, p, &res, err, errlen)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 1) {
		out->workers = cell(res, 0, 0);
		out->schema = (int)cell(res, 0, 1);
	}
	PQclear(res);
	if ((rv = collect_queues(c, out, err, errlen)) != FLOW_OK)
		store_metrics_snapshot_free(out);
	return rv;
}

void store_metrics_snapshot_free(struct store_metrics_snapshot *s)
{
	if (s == NULL)
		return;
	free(s->queues);
	memset(s, 0, sizeof(*s));
}
