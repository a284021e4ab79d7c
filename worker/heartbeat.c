#include "heartbeat.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "backoff.h"
#include "flow/v1/worker.pb-c.h"
#include "log.h"
#include "status.h"
#include "stopflag.h"

#define M_HEARTBEAT "/flow.v1.WorkerService/Heartbeat"

struct heartbeat {
	session *s;
	held_set *h;
	pthread_t thread;
	struct stopflag stop;
	struct backoff bo;
	bool failing;
};

static void apply_stops(heartbeat *hb, const int64_t *ids, size_t n, enum held_stop why)
{
	for (size_t i = 0; i < n; i++) {
		if (held_stop(hb->h, ids[i], why) == 0)
			continue;
		log_info("item.stop", "item=%lld %s; stopping its agent and dropping its outcome",
			 (long long)ids[i],
			 why == HELD_CANCELLED ? "was cancelled"
					       : "is no longer leased to this worker");
	}
}

/* One Heartbeat call; returns its code (st says why on failure). */
static int beat(heartbeat *hb, struct rpc_status *st)
{
	Flow__V1__HeartbeatRequest req = FLOW__V1__HEARTBEAT_REQUEST__INIT;
	Flow__V1__HeartbeatResponse *resp = NULL;
	struct held_ref *refs = NULL;
	Flow__V1__HeldItem *items = NULL, **ptrs = NULL;
	size_t n = 0;
	int rc = FLOW_RESOURCE_EXHAUSTED;

	st->code = rc;
	snprintf(st->message, sizeof(st->message), "out of memory");
	if (held_snapshot(hb->h, &refs, &n) != 0)
		return rc;
	if (n && ((items = calloc(n, sizeof(*items))) == NULL ||
		  (ptrs = calloc(n, sizeof(*ptrs))) == NULL))
		goto out;
	for (size_t i = 0; i < n; i++) {
		flow__v1__held_item__init(&items[i]);
		items[i].has_queue_item_id = 1;
		items[i].queue_item_id = refs[i].id;
		items[i].has_attempt = 1;
		items[i].attempt = refs[i].attempt;
		ptrs[i] = &items[i];
	}
	req.has_worker_id = 1;
	req.n_items = n;
	req.items = ptrs;
	rc = session_call(hb->s, SESSION_CTL, M_HEARTBEAT, &req.base, &req.worker_id,
			  (ProtobufCMessage **)&resp, st);
	if (rc == FLOW_OK) {
		apply_stops(hb, resp->cancelled, resp->n_cancelled, HELD_CANCELLED);
		apply_stops(hb, resp->lost, resp->n_lost, HELD_LOST);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	}
out:
	free(refs);
	free(items);
	free(ptrs);
	return rc;
}

/* The delay before the next beat after this one's result. */
static int next_delay(heartbeat *hb, int rc, const struct rpc_status *st)
{
	int interval = session_heartbeat_ms(hb->s), d;

	if (rc == FLOW_OK) {
		if (hb->failing)
			log_info("heartbeat.recovered", "heartbeats reach flowd again");
		hb->failing = false;
		backoff_reset(&hb->bo);
		return interval;
	}
	if (!hb->failing)
		log_warn("heartbeat.failed",
			 "heartbeat failed: %s: %s; agents keep running, "
			 "retrying",
			 status_name(rc), st->message);
	hb->failing = true;
	d = backoff_next(&hb->bo, (int)st->retry_after_ms);
	return d < interval ? d : interval;
}

static void *heartbeat_main(void *arg)
{
	heartbeat *hb = arg;
	struct rpc_status st;
	int delay = session_heartbeat_ms(hb->s);

	while (!stopflag_sleep(&hb->stop, delay)) {
		int rc = beat(hb, &st);

		delay = next_delay(hb, rc, &st);
	}
	return NULL;
}

int heartbeat_start(session *s, held_set *h, heartbeat **out)
{
	heartbeat *hb = calloc(1, sizeof(*hb));

	if (hb == NULL)
		return -1;
	hb->s = s;
	hb->h = h;
	backoff_init(&hb->bo, 100, 5000);
	if (stopflag_init(&hb->stop) != 0) {
		free(hb);
		return -1;
	}
	if (pthread_create(&hb->thread, NULL, heartbeat_main, hb) != 0) {
		stopflag_destroy(&hb->stop);
		free(hb);
		return -1;
	}
	*out = hb;
	return 0;
}

void heartbeat_stop(heartbeat *hb)
{
	if (hb == NULL)
		return;
	stopflag_set(&hb->stop);
	pthread_join(hb->thread, NULL);
	stopflag_destroy(&hb->stop);
	free(hb);
}
