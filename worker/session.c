#include "session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/v1/worker.pb-c.h"
#include "log.h"
#include "status.h"

#define M_REGISTER "/flow.v1.WorkerService/RegisterWorker"

struct session {
	rpc_client *ctl, *claim;
	char *name;
	char **agent_ids;
	size_t n_agents;
	int capacity;
	pthread_mutex_t mu; /* serialises registration; guards the fields below */
	int64_t worker_id;
	int heartbeat_ms;
	long gen;
};

bool session_transient(int code)
{
	return code == FLOW_UNAVAILABLE || code == FLOW_DEADLINE_EXCEEDED ||
	       code == FLOW_RESOURCE_EXHAUSTED || code == FLOW_ABORTED || code == FLOW_CANCELLED;
}

static int open_client(const struct session_opts *o, uint32_t deadline, rpc_client **c, char *err,
		       size_t errlen)
{
	struct rpc_client_opts co = { 0 };
	struct rpc_status st;
	int rc;

	co.deadline_ms = deadline;
	co.token = o->token && *o->token ? o->token : NULL;
	co.background_dial = true;
	rc = rpc_client_open(o->url, &co, c, &st);
	if (rc != FLOW_OK)
		snprintf(err, errlen, "%s", st.message);
	return rc;
}

static int copy_opts(session *s, const struct session_opts *o)
{
	s->name = strdup(o->name ? o->name : "");
	s->agent_ids = calloc(o->n_agents + 1, sizeof(char *));
	if (s->name == NULL || s->agent_ids == NULL)
		return -1;
	for (size_t i = 0; i < o->n_agents; i++) {
		if ((s->agent_ids[i] = strdup(o->agent_ids[i])) == NULL)
			return -1;
		s->n_agents++;
	}
	s->capacity = o->capacity;
	s->heartbeat_ms = SESSION_DEFAULT_HEARTBEAT_MS;
	return 0;
}

int session_open(const struct session_opts *o, session **out, char *err, size_t errlen)
{
	session *s = calloc(1, sizeof(*s));
	int rc;

	if (s != NULL)
		pthread_mutex_init(&s->mu, NULL);
	if (s == NULL || copy_opts(s, o) != 0) {
		session_close(s);
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	rc = open_client(o, (uint32_t)o->rpc_timeout_ms, &s->ctl, err, errlen);
	if (rc == FLOW_OK)
		rc = open_client(o, (uint32_t)(o->claim_wait_ms + o->rpc_timeout_ms), &s->claim,
				 err, errlen);
	if (rc != FLOW_OK) {
		session_close(s);
		return rc;
	}
	*out = s;
	return FLOW_OK;
}

void session_close(session *s)
{
	if (s == NULL)
		return;
	rpc_client_close(s->ctl);
	rpc_client_close(s->claim);
	for (size_t i = 0; i < s->n_agents; i++)
		free(s->agent_ids[i]);
	free(s->agent_ids);
	free(s->name);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void registered(session *s, const Flow__V1__RegisterWorkerResponse *r)
{
	int hb = r->has_heartbeat_ms && r->heartbeat_ms > 0 ? r->heartbeat_ms
							    : SESSION_DEFAULT_HEARTBEAT_MS;

	s->worker_id = r->has_worker_id ? r->worker_id : 0;
	s->heartbeat_ms = hb < 100 ? 100 : hb;
	s->gen++;
	log_info("worker.registered",
		 "registered as worker %lld (name=%s capacity=%d agents=%zu heartbeat_ms=%d)",
		 (long long)s->worker_id, s->name, s->capacity, s->n_agents, s->heartbeat_ms);
}

int session_register(session *s, long gen, struct rpc_status *st)
{
	Flow__V1__RegisterWorkerRequest req = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	int rc = FLOW_OK;

	pthread_mutex_lock(&s->mu);
	memset(st, 0, sizeof(*st));
	if (gen >= 0 && gen != s->gen)
		goto out; /* someone registered meanwhile */
	req.name = s->name;
	req.n_agent_ids = s->n_agents;
	req.agent_ids = s->agent_ids;
	req.has_capacity = 1;
	req.capacity = s->capacity;
	rc = rpc_client_call(s->ctl, M_REGISTER, &req.base, NULL, &resp, st);
	if (rc == FLOW_OK) {
		registered(s, (Flow__V1__RegisterWorkerResponse *)resp);
		protobuf_c_message_free_unpacked(resp, NULL);
	}
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

long session_generation(session *s)
{
	long g;

	pthread_mutex_lock(&s->mu);
	g = s->gen;
	pthread_mutex_unlock(&s->mu);
	return g;
}

int64_t session_worker_id(session *s)
{
	int64_t id;

	pthread_mutex_lock(&s->mu);
	id = s->worker_id;
	pthread_mutex_unlock(&s->mu);
	return id;
}

int session_heartbeat_ms(session *s)
{
	int ms;

	pthread_mutex_lock(&s->mu);
	ms = s->heartbeat_ms;
	pthread_mutex_unlock(&s->mu);
	return ms;
}

int session_call(session *s, enum session_chan chan, const char *method, ProtobufCMessage *req,
		 int64_t *worker_id, ProtobufCMessage **resp, struct rpc_status *st)
{
	rpc_client *c = chan == SESSION_CLAIM ? s->claim : s->ctl;
	long gen = session_generation(s);
	struct rpc_status rst;
	int rc;

	*worker_id = session_worker_id(s);
	rc = rpc_client_call(c, method, req, NULL, resp, st);
	if (rc != FLOW_NOT_FOUND)
		return rc;
	log_warn("worker.unknown", "flowd does not know this worker (%s); registering again",
		 st->message);
	if ((rc = session_register(s, gen, &rst)) != FLOW_OK) {
		*st = rst;
		return rc;
	}
	*worker_id = session_worker_id(s);
	return rpc_client_call(c, method, req, NULL, resp, st);
}
