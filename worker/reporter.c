#include "reporter.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "flow/v1/worker.pb-c.h"
#include "log.h"
#include "status.h"
#include "stopflag.h"

#define M_REPORT "/flow.v1.WorkerService/Report"

struct reporter {
	session *s;
	held_set *h;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* outcomes added, or stop */
	pthread_cond_t idle; /* queue empty and nothing in flight */
	struct outcome *head, *tail;
	size_t queued, inflight;
	long long first_ms; /* when the oldest waiting outcome arrived */
	bool stop;
	struct stopflag stopf; /* cuts back-off sleeps short */
	struct backoff bo;
	int permanent_tries;
	bool failing; /* the last call failed (log once per outage) */
};

void outcome_free(struct outcome *o)
{
	if (o == NULL)
		return;
	free(o->notes);
	free(o->metadata);
	free(o->error);
	free(o);
}

static size_t outcome_bytes(const struct outcome *o)
{
	return 64 + (o->notes ? strlen(o->notes) : 0) + (o->metadata ? strlen(o->metadata) : 0) +
	       (o->error ? strlen(o->error) : 0);
}

void reporter_add(reporter *r, struct outcome *o)
{
	o->next = NULL;
	pthread_mutex_lock(&r->mu);
	if (r->tail)
		r->tail->next = o;
	else
		r->head = o;
	r->tail = o;
	if (r->queued++ == 0)
		r->first_ms = stopflag_now_ms();
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

/* Under the mutex: takes up to a batch off the queue into a list. */
static struct outcome *take_batch(reporter *r, size_t *n)
{
	struct outcome *first = r->head, *last = NULL, *o = r->head;
	size_t bytes = 0;

	*n = 0;
	while (o && *n < REPORTER_BATCH &&
	       (*n == 0 || bytes + outcome_bytes(o) <= REPORTER_BATCH_BYTES)) {
		bytes += outcome_bytes(o);
		last = o;
		o = o->next;
		(*n)++;
	}
	if (last == NULL)
		return NULL;
	r->head = o;
	if (o == NULL)
		r->tail = NULL;
	last->next = NULL;
	r->queued -= *n;
	r->inflight = *n;
	if (r->queued)
		r->first_ms = stopflag_now_ms();
	return first;
}

/* Under the mutex: puts a batch back at the front after a failed call. */
static void requeue(reporter *r, struct outcome *list, size_t n)
{
	struct outcome *last = list;

	if (list == NULL)
		return;
	while (last->next)
		last = last->next;
	last->next = r->head;
	if (r->head == NULL)
		r->tail = last;
	r->head = list;
	if (r->queued == 0)
		r->first_ms = stopflag_now_ms();
	r->queued += n;
}

/* ---- one Report call -------------------------------------------------------- */

/* Drops the outcomes of items flowd cancelled or took away; returns the rest. */
static struct outcome *without_dropped(reporter *r, struct outcome *list, size_t *n)
{
	struct outcome *keep = NULL, **tail = &keep, *next;

	for (struct outcome *o = list; o; o = next) {
		enum held_stop why = held_stop_asked(r->h, o->id, o->attempt);

		next = o->next;
		if (why == HELD_CANCELLED || why == HELD_LOST) {
			log_info("item.dropped", "item=%lld attempt=%d outcome not reported: %s",
				 (long long)o->id, o->attempt,
				 why == HELD_CANCELLED ? "cancelled" : "lease lost");
			held_remove(r->h, o->id, o->attempt);
			outcome_free(o);
			(*n)--;
			continue;
		}
		o->next = NULL;
		*tail = o;
		tail = &o->next;
	}
	return keep;
}

static void to_proto(const struct outcome *o, Flow__V1__ItemOutcome *p)
{
	flow__v1__item_outcome__init(p);
	p->has_queue_item_id = 1;
	p->queue_item_id = o->id;
	p->has_attempt = 1;
	p->attempt = o->attempt;
	p->has_success = 1;
	p->success = o->success;
	p->completion_notes = o->notes;
	p->metadata = o->metadata;
	p->error = o->error;
	p->has_retryable = !o->success;
	p->retryable = o->retryable;
}

static const Flow__V1__OutcomeResult *find_result(const Flow__V1__ReportResponse *resp, int64_t id)
{
	for (size_t i = 0; resp && i < resp->n_results; i++)
		if (resp->results[i]->has_queue_item_id && resp->results[i]->queue_item_id == id)
			return resp->results[i];
	return NULL;
}

static void log_result(const struct outcome *o, const Flow__V1__OutcomeResult *res)
{
	int code = res && res->has_code ? (int)res->code : FLOW_OK;
	const char *msg = res && res->message ? res->message : "";

	if (res == NULL)
		log_warn("item.report_unanswered",
			 "item=%lld attempt=%d: flowd's reply has no "
			 "result for it",
			 (long long)o->id, o->attempt);
	else if (code == FLOW_OK)
		log_debug("item.reported", "item=%lld attempt=%d status=%s", (long long)o->id,
			  o->attempt, res->status ? res->status : "?");
	else if (code == FLOW_FAILED_PRECONDITION)
		log_warn("item.stale",
			 "item=%lld attempt=%d: flowd rejected the outcome as stale "
			 "(%s); dropped",
			 (long long)o->id, o->attempt, msg);
	else
		log_warn("item.report_rejected", "item=%lld attempt=%d: %s: %s; dropped",
			 (long long)o->id, o->attempt, status_name(code), msg);
}

/* The batch is done with (reported or given up): forget the items. */
static void release(reporter *r, struct outcome *list, const Flow__V1__ReportResponse *resp)
{
	struct outcome *next;

	for (struct outcome *o = list; o; o = next) {
		next = o->next;
		if (resp != NULL)
			log_result(o, find_result(resp, o->id));
		held_remove(r->h, o->id, o->attempt);
		outcome_free(o);
	}
}

static int call_report(reporter *r, struct outcome *list, size_t n, struct rpc_status *st,
		       Flow__V1__ReportResponse **resp)
{
	Flow__V1__ReportRequest req = FLOW__V1__REPORT_REQUEST__INIT;
	Flow__V1__ItemOutcome *items = calloc(n, sizeof(*items));
	Flow__V1__ItemOutcome **ptrs = calloc(n, sizeof(*ptrs));
	size_t i = 0;
	int rc;

	if (items == NULL || ptrs == NULL) {
		free(items);
		free(ptrs);
		memset(st, 0, sizeof(*st));
		st->code = FLOW_RESOURCE_EXHAUSTED;
		snprintf(st->message, sizeof(st->message), "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	for (struct outcome *o = list; o; o = o->next, i++) {
		to_proto(o, &items[i]);
		ptrs[i] = &items[i];
	}
	req.has_worker_id = 1;
	req.n_outcomes = n;
	req.outcomes = ptrs;
	rc = session_call(r->s, SESSION_CTL, M_REPORT, &req.base, &req.worker_id,
			  (ProtobufCMessage **)resp, st);
	free(items);
	free(ptrs);
	return rc;
}

/* What to do after a failed call: 1 to retry the batch later, 0 to drop it. */
static int after_failure(reporter *r, size_t n, const struct rpc_status *st)
{
	bool transient = session_transient(st->code);

	if (!r->failing)
		log_warn("report.failed", "cannot report %zu outcomes: %s: %s; %s", n,
			 status_name(st->code), st->message,
			 transient ? "keeping them and retrying" : "retrying a few times");
	r->failing = true;
	if (transient)
		return 1;
	if (++r->permanent_tries < REPORTER_MAX_PERMANENT_TRIES)
		return 1;
	log_error("report.dropped",
		  "dropping %zu outcomes after %d failed reports (%s: %s); "
		  "their leases expire and flowd re-delivers the items",
		  n, r->permanent_tries, status_name(st->code), st->message);
	r->permanent_tries = 0;
	return 0;
}

/* Sends a batch. Returns the batch when it must be retried, else NULL
 * (*delay_ms: how long to back off first). */
static struct outcome *send_batch(reporter *r, struct outcome *list, size_t *n, int *delay_ms)
{
	Flow__V1__ReportResponse *resp = NULL;
	struct rpc_status st;

	*delay_ms = 0;
	if ((list = without_dropped(r, list, n)) == NULL)
		return NULL;
	if (call_report(r, list, *n, &st, &resp) == FLOW_OK) {
		if (r->failing)
			log_info("report.recovered", "reporting to flowd again");
		r->failing = false;
		r->permanent_tries = 0;
		backoff_reset(&r->bo);
		release(r, list, resp);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return NULL;
	}
	if (after_failure(r, *n, &st)) {
		*delay_ms = backoff_next(&r->bo, (int)st.retry_after_ms);
		return list;
	}
	release(r, list, NULL);
	return NULL;
}

/* ---- the thread ------------------------------------------------------------ */

/* Under the mutex: waits for outcomes and the batching window. */
static bool wait_for_batch(reporter *r)
{
	while (!r->stop && r->queued == 0)
		pthread_cond_wait(&r->cv, &r->mu);
	while (!r->stop && r->queued < REPORTER_BATCH) {
		long long left = r->first_ms + REPORTER_WINDOW_MS - stopflag_now_ms();
		struct timespec ts;

		if (left <= 0)
			break;
		pthread_mutex_unlock(&r->mu);
		ts = (struct timespec){ 0, (long)left * 1000000 };
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&r->mu);
	}
	return !r->stop;
}

static void *reporter_main(void *arg)
{
	reporter *r = arg;
	struct outcome *batch, *back;
	size_t n;
	int delay;

	pthread_mutex_lock(&r->mu);
	while (wait_for_batch(r)) {
		batch = take_batch(r, &n);
		pthread_mutex_unlock(&r->mu);
		back = send_batch(r, batch, &n, &delay);
		pthread_mutex_lock(&r->mu);
		requeue(r, back, back ? n : 0);
		r->inflight = 0;
		if (r->queued == 0)
			pthread_cond_broadcast(&r->idle);
		if (back) {
			pthread_mutex_unlock(&r->mu);
			stopflag_sleep(&r->stopf, delay);
			pthread_mutex_lock(&r->mu);
		}
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int reporter_start(session *s, held_set *h, reporter **out)
{
	reporter *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return -1;
	r->s = s;
	r->h = h;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->idle, NULL);
	backoff_init(&r->bo, 100, 5000);
	if (stopflag_init(&r->stopf) != 0)
		goto undo;
	if (pthread_create(&r->thread, NULL, reporter_main, r) != 0) {
		stopflag_destroy(&r->stopf);
		goto undo;
	}
	*out = r;
	return 0;
undo:
	pthread_cond_destroy(&r->idle);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
	return -1;
}

size_t reporter_flush(reporter *r, int timeout_ms)
{
	long long until = stopflag_now_ms() + timeout_ms;
	size_t left;

	pthread_mutex_lock(&r->mu);
	while ((r->queued || r->inflight) && stopflag_now_ms() < until) {
		struct timespec ts;
		long long ms = until - stopflag_now_ms();

		clock_gettime(CLOCK_REALTIME, &ts);
		ms = ms > 50 ? 50 : ms;
		ts.tv_nsec += (long)ms * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&r->idle, &r->mu, &ts);
	}
	left = r->queued + r->inflight;
	pthread_mutex_unlock(&r->mu);
	return left;
}

void reporter_stop(reporter *r)
{
	struct outcome *next;

	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	stopflag_set(&r->stopf);
	pthread_join(r->thread, NULL);
	for (struct outcome *o = r->head; o; o = next) {
		next = o->next;
		log_warn("item.unreported",
			 "item=%lld attempt=%d: outcome (%s) never reached "
			 "flowd; the item is re-delivered when its lease expires",
			 (long long)o->id, o->attempt, o->success ? "completed" : "failed");
		held_remove(r->h, o->id, o->attempt);
		outcome_free(o);
	}
	stopflag_destroy(&r->stopf);
	pthread_cond_destroy(&r->idle);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}
