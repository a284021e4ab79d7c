#define _GNU_SOURCE /* pipe2 */
#include "waiters.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "req.h"
#include "status.h"

#define READY_SQL                                                                   \
	"SELECT count(*) FROM (SELECT 1 FROM queue_items"                           \
	" WHERE status = 'queued' AND run_after <= now() LIMIT 10000) s"

#define OWN_SLOTS 64	     /* backends of this flowd with unmatched counts */
#define OWN_EXPIRY_MS 2000 /* a notification arrives within ms of its commit */

/* For one backend of this flowd's pool: items woken by waiters_kick_own
 * whose notification has not arrived yet (kicked), and items woken by a
 * notification that waiters_kick_own has not reported yet (notified). */
struct own_backend {
	int pid;
	int kicked, notified;
	int64_t at_ms;
};

struct waiters {
	struct waiters_ops ops;
	char *conninfo;
	PGconn *pg; /* LISTEN connection; NULL while the database is away */
	int64_t next_connect_ms;
	int64_t next_poll_ms;

	pthread_t thread;
	pthread_mutex_t mu;
	struct waiter_node head; /* circular list, oldest first */
	size_t count;
	int pipe_rd, pipe_wr; /* wakes the thread: new node or stop */
	bool stopping;
	struct own_backend own[OWN_SLOTS]; /* under mu */
	unsigned own_next;		   /* next slot to reuse */
};

static pthread_mutex_t current_mu = PTHREAD_MUTEX_INITIALIZER;
static waiters *current;

static void list_del(struct waiter_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

/* Pops up to n nodes (n < 0: those whose time has come) off the list, which
 * the caller has locked; *popped counts them. */
static struct waiter_node *pop_locked(waiters *w, int n, int64_t now, int *popped)
{
	struct waiter_node *batch = NULL, *node, *next;

	*popped = 0;
	for (node = w->head.next; node != &w->head && n != 0; node = next) {
		next = node->next;
		if (n < 0 && node->until_ms > now)
			continue;
		list_del(node);
		w->count--;
		node->next = batch;
		batch = node;
		(*popped)++;
		if (n > 0)
			n--;
	}
	return batch;
}

/* Wakes the popped nodes, outside the lock. */
static void wake_batch(waiters *w, struct waiter_node *batch)
{
	struct waiter_node *node, *next;

	for (node = batch; node != NULL; node = next) {
		next = node->next;
		node->next = NULL;
		w->ops.wake(node, w->ops.arg);
	}
}

static void wake_some(waiters *w, int n, int64_t now)
{
	struct waiter_node *batch;
	int popped;

	pthread_mutex_lock(&w->mu);
	batch = pop_locked(w, n, now, &popped);
	pthread_mutex_unlock(&w->mu);
	wake_batch(w, batch);
}

static void nudge(waiters *w)
{
	char c = 1;

	while (write(w->pipe_wr, &c, 1) < 0 && errno == EINTR)
		;
}

/* Links node in at the end of the list (first: at its front, to be woken
 * before the others) and wakes the thread: its deadline may be the next. */
static void park_at(waiters *w, struct waiter_node *node, bool first)
{
	struct waiter_node *at;

	pthread_mutex_lock(&w->mu);
	at = first ? &w->head : w->head.prev;
	node->prev = at;
	node->next = at->next;
	at->next->prev = node;
	at->next = node;
	w->count++;
	pthread_mutex_unlock(&w->mu);
	nudge(w);
}

void waiters_park(waiters *w, struct waiter_node *node)
{
	park_at(w, node, false);
}

void waiters_park_first(waiters *w, struct waiter_node *node)
{
	park_at(w, node, true);
}

bool waiters_unpark(waiters *w, struct waiter_node *node)
{
	bool was = false;

	pthread_mutex_lock(&w->mu);
	if (node->next != NULL) {
		list_del(node);
		w->count--;
		was = true;
	}
	pthread_mutex_unlock(&w->mu);
	return was;
}

void waiters_kick(waiters *w, int n)
{
	if (w != NULL && n > 0)
		wake_some(w, n, 0);
}

void waiters_kick_current(int n)
{
	pthread_mutex_lock(&current_mu);
	waiters_kick(current, n);
	pthread_mutex_unlock(&current_mu);
}

/* The slot of pid under w->mu (a new one when add), its counts reset when
 * stale; NULL when pid is not ours. */
static struct own_backend *own_slot(waiters *w, int pid, bool add, int64_t now)
{
	struct own_backend *o = NULL;

	for (int i = 0; i < OWN_SLOTS && o == NULL; i++)
		if (w->own[i].pid == pid)
			o = &w->own[i];
	if (o == NULL) {
		if (!add)
			return NULL;
		o = &w->own[w->own_next++ % OWN_SLOTS];
		o->pid = pid;
		o->at_ms = 0;
	}
	if (now - o->at_ms > OWN_EXPIRY_MS)
		o->kicked = o->notified = 0;
	o->at_ms = now;
	return o;
}

/*
 * n items made ready by a statement of this flowd's backend pid, reported
 * by waiters_kick_own (kick) or by the statement's notification (!kick):
 * wakes those the other report has not already woken for, and records how
 * many it woke. Only nodes actually woken are recorded, so a claim that
 * parks between the two reports is still woken by the second. False (and
 * nothing done) when the notification's pid is not one of ours.
 */
static bool own_wake(waiters *w, int pid, int n, bool kick, int64_t now)
{
	struct own_backend *o;
	struct waiter_node *batch;
	int *mine, *theirs, matched, popped;

	pthread_mutex_lock(&w->mu);
	if ((o = own_slot(w, pid, kick, now)) == NULL) {
		pthread_mutex_unlock(&w->mu);
		return false;
	}
	mine = kick ? &o->kicked : &o->notified;
	theirs = kick ? &o->notified : &o->kicked;
	matched = n < *theirs ? n : *theirs;
	*theirs -= matched;
	batch = pop_locked(w, n - matched, now, &popped);
	*mine += popped;
	pthread_mutex_unlock(&w->mu);
	wake_batch(w, batch);
	return true;
}

void waiters_kick_own(int be_pid, int n)
{
	pthread_mutex_lock(&current_mu);
	if (current != NULL && n > 0)
		own_wake(current, be_pid, n, true, req_now_ms());
	pthread_mutex_unlock(&current_mu);
}

size_t waiters_count(waiters *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->count;
	pthread_mutex_unlock(&w->mu);
	return n;
}

static void drop_connection(waiters *w, const char *why)
{
	if (w->pg == NULL)
		return;
	log_warn("waiters.db_lost", "notification connection lost: %s", why);
	PQfinish(w->pg);
	w->pg = NULL;
}

static void try_connect(waiters *w, int64_t now)
{
	PGresult *res;

	if (w->pg != NULL || now < w->next_connect_ms)
		return;
	w->next_connect_ms = now + 1000;
	w->pg = PQconnectdb(w->conninfo);
	if (w->pg == NULL || PQstatus(w->pg) != CONNECTION_OK) {
		if (w->pg)
			PQfinish(w->pg);
		w->pg = NULL;
		return;
	}
	res = PQexec(w->pg, "LISTEN flow_ready");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		drop_connection(w, PQerrorMessage(w->pg));
	PQclear(res);
	if (w->pg != NULL)
		log_info("waiters.listening", "listening for ready items");
}

/* Items made ready by other processes' notifications since the last call;
 * notifications of this flowd's own statements are matched with
 * waiters_kick_own and woken for at once. */
static int drain_notifications(waiters *w, int64_t now)
{
	PGnotify *n;
	int ready = 0;

	if (w->pg == NULL)
		return 0;
	if (!PQconsumeInput(w->pg)) {
		drop_connection(w, PQerrorMessage(w->pg));
		return 0;
	}
	while ((n = PQnotifies(w->pg)) != NULL) {
		int k = atoi(n->extra);

		if (k <= 0)
			k = 1;
		if (!own_wake(w, n->be_pid, k, false, now))
			ready += k;
		PQfreemem(n);
	}
	return ready;
}

/* Items ready now, by a query; 0 when the database is away. */
static int count_ready(waiters *w)
{
	PGresult *res;
	int n = 0;

	if (w->pg == NULL)
		return 0;
	res = PQexec(w->pg, READY_SQL);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		n = atoi(PQgetvalue(res, 0, 0));
	else
		drop_connection(w, PQerrorMessage(w->pg));
	PQclear(res);
	return n;
}

/* Milliseconds until the next deadline or poll. */
static int next_timeout(waiters *w, int64_t now)
{
	int64_t next = w->next_poll_ms;

	pthread_mutex_lock(&w->mu);
	for (struct waiter_node *n = w->head.next; n != &w->head; n = n->next)
		if (n->until_ms < next)
			next = n->until_ms;
	pthread_mutex_unlock(&w->mu);
	if (w->pg == NULL && w->next_connect_ms < next)
		next = w->next_connect_ms;
	return next <= now ? 0 : (int)(next - now);
}

static void wait_events(waiters *w, int timeout)
{
	struct pollfd p[2] = { { w->pipe_rd, POLLIN, 0 }, { -1, POLLIN, 0 } };
	char buf[64];

	if (w->pg != NULL)
		p[1].fd = PQsocket(w->pg);
	if (poll(p, 2, timeout) > 0 && (p[0].revents & POLLIN))
		while (read(w->pipe_rd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
			;
}

static bool stopping(waiters *w)
{
	bool s;

	pthread_mutex_lock(&w->mu);
	s = w->stopping;
	pthread_mutex_unlock(&w->mu);
	return s;
}

static void *waiters_main(void *arg)
{
	waiters *w = arg;

	while (!stopping(w)) {
		int64_t now = req_now_ms();
		int ready;

		try_connect(w, now);
		wait_events(w, next_timeout(w, now));
		now = req_now_ms();
		ready = drain_notifications(w, now);
		if (now >= w->next_poll_ms) {
			w->next_poll_ms = now + w->ops.poll_ms;
			if (waiters_count(w) > 0)
				ready += count_ready(w);
		}
		if (ready > 0)
			wake_some(w, ready, now);
		wake_some(w, -1, now); /* deadlines */
	}
	return NULL;
}

int waiters_start(const char *conninfo, const struct waiters_ops *ops, waiters **out,
		  char *err, size_t errlen)
{
	waiters *w = calloc(1, sizeof(*w));
	int fds[2];

	if (w == NULL || (w->conninfo = strdup(conninfo)) == NULL ||
	    pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
		if (w)
			free(w->conninfo);
		free(w);
		snprintf(err, errlen, "cannot start the waiters thread: out of resources");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	w->ops = *ops;
	if (w->ops.poll_ms <= 0)
		w->ops.poll_ms = 1000;
	w->pipe_rd = fds[0];
	w->pipe_wr = fds[1];
	w->head.next = w->head.prev = &w->head;
	pthread_mutex_init(&w->mu, NULL);
	w->next_poll_ms = req_now_ms() + w->ops.poll_ms;
	if (pthread_create(&w->thread, NULL, waiters_main, w) != 0) {
		snprintf(err, errlen, "cannot start the waiters thread");
		close(fds[0]);
		close(fds[1]);
		free(w->conninfo);
		free(w);
		return FLOW_RESOURCE_EXHAUSTED;
	}
	pthread_mutex_lock(&current_mu);
	current = w;
	pthread_mutex_unlock(&current_mu);
	*out = w;
	return FLOW_OK;
}

void waiters_stop(waiters *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&current_mu);
	if (current == w)
		current = NULL;
	pthread_mutex_unlock(&current_mu);
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_mutex_unlock(&w->mu);
	nudge(w);
	pthread_join(w->thread, NULL);
	wake_some(w, -1, INT64_MAX);
	if (w->pg)
		PQfinish(w->pg);
	close(w->pipe_rd);
	close(w->pipe_wr);
	pthread_mutex_destroy(&w->mu);
	free(w->conninfo);
	free(w);
}
