/*
 * session.h - this worker's connection to flowd: two RPC clients (one for
 * the long-poll Claim, one for everything else, each with its own
 * deadline) and the worker id from RegisterWorker.
 *
 * nng redials in the background, so a session survives flowd restarts and
 * network drops: calls fail with UNAVAILABLE or DEADLINE_EXCEEDED meanwhile
 * and the callers back off and retry. When flowd answers NOT_FOUND (it no
 * longer knows the worker), session_call registers again and repeats the
 * call once with the new id. Thread-safe.
 */
#ifndef FLOW_WORKER_SESSION_H
#define FLOW_WORKER_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "rpc_client.h"

#define SESSION_DEFAULT_HEARTBEAT_MS 10000

typedef struct session session;

struct session_opts {
	const char *url;
	const char *token; /* NULL or "": none */
	const char *name;
	const char *const *agent_ids;
	size_t n_agents;
	int capacity;
	int rpc_timeout_ms; /* deadline of calls but Claim */
	int claim_wait_ms;  /* Claim's deadline is this plus rpc_timeout_ms */
};

enum session_chan { SESSION_CTL, SESSION_CLAIM };

/* Opens both clients (dialing in the background). Returns a flow code;
 * err says why. Copies what it needs from o. */
int session_open(const struct session_opts *o, session **out, char *err, size_t errlen);
/* session_close(NULL) is a no-op. No call may be in progress. */
void session_close(session *s);

/*
 * One RegisterWorker call (skipped, returning FLOW_OK, when another
 * thread registered since generation gen; pass -1 to force). Returns the
 * call's code with st filled.
 */
int session_register(session *s, long gen, struct rpc_status *st);

/* Registration generation: how many times the worker registered. */
long session_generation(session *s);
/* The current worker id (0 before registration). */
int64_t session_worker_id(session *s);
/* Heartbeat interval flowd asked for (SESSION_DEFAULT_HEARTBEAT_MS if none). */
int session_heartbeat_ms(session *s);

/*
 * Calls method with req on the given client. *worker_id (a field of req)
 * is set to the current worker id first. On NOT_FOUND the worker registers
 * again and the call is repeated once. On FLOW_OK *resp is the reply (free
 * with protobuf_c_message_free_unpacked); otherwise *resp is NULL and st
 * says why. Returns the code.
 */
int session_call(session *s, enum session_chan chan, const char *method, ProtobufCMessage *req,
		 int64_t *worker_id, ProtobufCMessage **resp, struct rpc_status *st);

/* UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, CANCELLED:
 * worth retrying the same call later. */
bool session_transient(int code);

#endif
