/* marker.c - deferred marking of claimed tasks and tickets. See marker.h. */
#include "jobs/marker.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "jobs/jobthread.h"
#include "log.h"
#include "status.h"
#include "store/store.h"
#include "store/workers.h"

struct pending {
	int64_t due_ms; /* CLOCK_MONOTONIC */
	char *owner;
	char *ids;
	struct pending *next;
};

struct marker {
	struct jobthread t; /* t.cond: also the first pending entry */
	int delay_ms;
	struct pending *head, *tail; /* under t.mu; by due time: the order they came */
	int n;
};

static void pending_free(struct pending *p)
{
	free(p->owner);
	free(p->ids);
	free(p);
}

bool marker_add(struct marker *m, const char *owner, const char *ids)
{
	struct pending *p;
	bool ok;

	if (m == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		return false;
	p->due_ms = req_now_ms() + m->delay_ms;
	if ((p->owner = strdup(owner)) == NULL || (p->ids = strdup(ids)) == NULL) {
		pending_free(p);
		return false;
	}
	pthread_mutex_lock(&m->t.mu);
	ok = !m->t.stopping && m->n < MARKER_MAX_PENDING;
	if (ok) {
		if (m->tail)
			m->tail->next = p;
		else
			m->head = p;
		m->tail = p;
		if (m->n++ == 0)
			pthread_cond_signal(&m->t.cond);
	}
	pthread_mutex_unlock(&m->t.mu);
	if (!ok)
		pending_free(p);
	return ok;
}

/* Waits until the first entry is due (or, stopping, not at all) and takes
 * it; NULL when stopping with nothing left. */
static struct pending *next_due(struct marker *m)
{
	struct pending *p = NULL;

	pthread_mutex_lock(&m->t.mu);
	for (;;) {
		int64_t now = req_now_ms();

		if (m->head != NULL && (m->t.stopping || m->head->due_ms <= now)) {
			p = m->head;
			if ((m->head = p->next) == NULL)
				m->tail = NULL;
			m->n--;
			break;
		}
		if (m->t.stopping)
			break;
		if (m->head == NULL)
			pthread_cond_wait(&m->t.cond, &m->t.mu);
		else
			jobthread_wait_ms(&m->t, m->head->due_ms - now);
	}
	pthread_mutex_unlock(&m->t.mu);
	return p;
}

/* The marker thread's connection and its outage state. */
struct link {
	struct flow_req r;
	bool down;	  /* the last attempt failed (logged once) */
	int64_t retry_ms; /* while down: markings due before this are dropped */
	long dropped;	  /* ... counted, for the log line at recovery */
};

/* Runs one marking, connecting first when needed. While the database is
 * unreachable one attempt a second is made; markings due in between are
 * dropped (best-effort derived state, marker.h). */
static void mark(struct marker *m, struct link *l, const struct pending *p)
{
	char err[256];
	int rv;

	if (l->down && req_now_ms() < l->retry_ms) {
		l->dropped++;
		return;
	}
	if (l->r.db == NULL && store_open(m->t.conninfo, &l->r.db, err, sizeof(err)) != FLOW_OK) {
		rv = FLOW_UNAVAILABLE;
		snprintf(l->r.message, sizeof(l->r.message), "%s", err);
	} else {
		rv = store_worker_claim_mark(&l->r, p->owner, p->ids);
	}
	if (rv != FLOW_OK) {
		if (!l->down)
			log_warn("claim.mark_failed",
				 "marking claimed tasks in progress: %s; retrying once a second",
				 l->r.message);
		l->down = true;
		l->retry_ms = req_now_ms() + 1000;
	} else if (l->down) {
		log_info("claim.mark_resumed",
			 "marking claimed tasks again (%ld marking(s) dropped meanwhile)",
			 l->dropped);
		l->down = false;
		l->dropped = 0;
	}
	arena_reset(l->r.arena);
	l->r.message[0] = '\0';
}

static void *marker_main(void *arg)
{
	struct marker *m = arg;
	struct link l = { .r = { .method = "marker", .request_id = "marker" } };
	struct pending *p;

	if ((l.r.arena = arena_new(16 * 1024)) == NULL)
		log_error("marker.oom", "claim marker: out of memory; markings are dropped");
	while ((p = next_due(m)) != NULL) {
		if (l.r.arena != NULL)
			mark(m, &l, p);
		pending_free(p);
	}
	store_close(l.r.db);
	arena_free(l.r.arena);
	return NULL;
}

int marker_start(const char *conninfo, int delay_ms, struct marker **out)
{
	struct marker *m = calloc(1, sizeof(*m));
	int rv;

	if (m == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	m->delay_ms = delay_ms;
	if ((rv = jobthread_start(&m->t, conninfo, marker_main, m)) != FLOW_OK) {
		free(m);
		return rv;
	}
	*out = m;
	return FLOW_OK;
}

void marker_stop(struct marker *m)
{
	if (m == NULL)
		return;
	jobthread_stop(&m->t); /* the thread runs what is pending first */
	free(m);
}
