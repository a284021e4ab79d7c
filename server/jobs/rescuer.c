/* rescuer.c - lease rescue and history prune thread. See rescuer.h. */
#include "jobs/rescuer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "jobs/jobthread.h"
#include "log.h"
#include "metrics.h"
#include "settings.h"
#include "status.h"
#include "store/store.h"
#include "store/upkeep.h"
#include "store/users.h"

/* Rows per statement, and statements per kind in one pass. */
#define RESCUE_BATCH 500
#define PRUNE_BATCH 1000
#define BATCHES_PER_PASS 20
/* Workers not seen for this long are forgotten. */
#define WORKER_IDLE_S 86400

struct rescuer {
	struct jobthread t;
};

/* Rescues expired leases in batches until a batch is not full. */
static int rescue_all(struct flow_req *r, struct rescuer_pass *out)
{
	for (int i = 0; i < BATCHES_PER_PASS; i++) {
		int64_t q = 0, d = 0;
		int rv = store_upkeep_rescue(r, RESCUE_BATCH, flow_settings.retry_base_ms,
					     flow_settings.retry_max_ms, &q, &d);

		if (rv != FLOW_OK)
			return rv;
		out->requeued += q;
		out->dead += d;
		if (q + d < RESCUE_BATCH)
			break;
	}
	return FLOW_OK;
}

/* Prunes finished history in batches until a batch is not full. */
static int prune_all(struct flow_req *r, struct rescuer_pass *out)
{
	for (int i = 0; i < BATCHES_PER_PASS; i++) {
		int64_t n = 0;
		int rv = store_upkeep_prune(r, flow_settings.history_retention_s, PRUNE_BATCH, &n);

		if (rv != FLOW_OK)
			return rv;
		out->pruned += n;
		if (n < PRUNE_BATCH)
			break;
	}
	return FLOW_OK;
}

int rescuer_run_once(struct flow_req *r, struct rescuer_pass *out)
{
	int rv;

	memset(out, 0, sizeof(*out));
	if ((rv = rescue_all(r, out)) != FLOW_OK || (rv = prune_all(r, out)) != FLOW_OK ||
	    (rv = store_upkeep_forget_workers(r, WORKER_IDLE_S, &out->workers)) != FLOW_OK)
		return rv;
	return store_auth_cleanup(r, &out->tokens);
}

static void log_pass(const struct rescuer_pass *p)
{
	if (p->requeued > 0 || p->dead > 0)
		log_info("rescuer.rescued",
			 "expired leases: %" PRId64 " item(s) queued again, %" PRId64 " dead",
			 p->requeued, p->dead);
	if (p->pruned > 0)
		log_info("rescuer.pruned", "pruned %" PRId64 " finished item(s) from history",
			 p->pruned);
	if (p->workers > 0)
		log_info("rescuer.workers", "forgot %" PRId64 " idle worker(s)", p->workers);
	if (p->tokens > 0)
		log_info("rescuer.tokens", "removed %d expired token record(s)", p->tokens);
}

/* Waits up to ms or until stopping; returns whether to stop. */
static bool wait_or_stop(struct rescuer *rs, int ms)
{
	int64_t until = req_now_ms() + ms, left;
	bool stop;

	pthread_mutex_lock(&rs->t.mu);
	while (!rs->t.stopping && (left = until - req_now_ms()) > 0)
		jobthread_wait_ms(&rs->t, left);
	stop = rs->t.stopping;
	pthread_mutex_unlock(&rs->t.mu);
	return stop;
}

/* One pass on r, connecting first when needed; *down tracks an outage so
 * that it is logged once. */
static void pass(struct rescuer *rs, struct flow_req *r, bool *down)
{
	struct rescuer_pass p;
	char err[256];
	int rv;

	if (r->db == NULL && store_open(rs->t.conninfo, &r->db, err, sizeof(err)) != FLOW_OK) {
		if (!*down)
			log_warn("rescuer.db", "cannot reach the database: %s", err);
		*down = true;
		return;
	}
	rv = rescuer_run_once(r, &p);
	log_pass(&p);
	metrics_leases_expired(p.requeued + p.dead);
	if (rv == FLOW_UNAVAILABLE) {
		if (!*down)
			log_warn("rescuer.db", "database unavailable; retrying every %d ms",
				 flow_settings.rescue_interval_ms);
		*down = true;
	} else if (rv != FLOW_OK) {
		log_error("rescuer.failed", "rescuer pass failed: %s", r->message);
	} else if (*down) {
		log_info("rescuer.db", "database reachable again");
		*down = false;
	}
	arena_reset(r->arena);
	r->message[0] = '\0';
}

static void *rescuer_main(void *arg)
{
	struct rescuer *rs = arg;
	struct flow_req r = { .method = "rescuer", .request_id = "rescuer" };
	bool down = false;

	if ((r.arena = arena_new(16 * 1024)) == NULL) {
		log_error("rescuer.oom", "rescuer: out of memory; not running");
		return NULL;
	}
	do {
		pass(rs, &r, &down);
	} while (!wait_or_stop(
	    rs, flow_settings.rescue_interval_ms > 0 ? flow_settings.rescue_interval_ms : 1000));
	store_close(r.db);
	arena_free(r.arena);
	return NULL;
}

int rescuer_start(const char *conninfo, struct rescuer **out)
{
	struct rescuer *rs = calloc(1, sizeof(*rs));
	int rv;

	if (rs == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = jobthread_start(&rs->t, conninfo, rescuer_main, rs)) != FLOW_OK) {
		free(rs);
		return rv;
	}
	*out = rs;
	return FLOW_OK;
}

void rescuer_stop(struct rescuer *rs)
{
	if (rs == NULL)
		return;
	jobthread_stop(&rs->t);
	free(rs);
}
