/*
 * req.h - the context of one RPC while a service thread handles it.
 *
 * A flow_req is owned by the service thread. Everything a handler allocates
 * for its reply comes from r->arena and is released after the reply is sent.
 * Handlers report errors with req_error(), which records the message for
 * the reply and returns the code, so a handler can `return req_error(...)`.
 */
#ifndef FLOW_REQ_H
#define FLOW_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

typedef struct store_conn store_conn;
struct marker;

/*
 * Returned by a handler (never sent): the request has nothing to answer yet
 * and should wait, holding no thread and no connection, until
 * r->park_until_ms or an earlier wake-up (new work); it is then handled
 * again from the start, with the same received_ms.
 */
#define FLOW_PARKED (-1)

/* Roles, from least to most powerful in their own domain (see auth.proto). */
enum flow_role { ROLE_NONE = 0, ROLE_WORKER, ROLE_MEMBER, ROLE_ADMIN };

/*
 * Who is calling: set by the auth guard before the handler runs (dispatch.h).
 * user_id 0 with ROLE_NONE: not authenticated (Login, Refresh).
 */
struct flow_principal {
	int64_t user_id;
	enum flow_role role;
	char username[72];
	bool via_api_key;
	int64_t api_key_id; /* via_api_key */
	char jti[64];       /* access tokens */
	int64_t exp_s;      /* access tokens: expiry, epoch seconds */
};

struct flow_req {
	store_conn *db;         /* this service thread's connection */
	struct marker *marker;  /* deferred claim marking (jobs/marker.h); NULL: none */
	arena *arena;           /* per-request memory */
	const char *method;     /* "/flow.v1.FlowManager/CreateTicket" */
	const char *request_id; /* never NULL while handling */
	int64_t deadline_ms;    /* CLOCK_MONOTONIC ms; 0: none */
	int64_t received_ms;    /* CLOCK_MONOTONIC ms the request first arrived */
	int64_t park_until_ms;  /* set by a handler returning FLOW_PARKED */
	bool park_first;        /* ... to be woken before the calls parked already */
	bool no_park;           /* shutting down: answer parked calls now */
	size_t reply_max;       /* the largest reply to build (--max-message); 0: no limit */
	bool secret;            /* the call carries passwords or tokens: wipe its memory */
	uint32_t retry_after_ms;
	struct flow_principal who; /* the caller, once authenticated */
	char peer[64];             /* the caller's address ("127.0.0.1", "::1", "ipc") */
	/* Work a handler leaves for after its reply is sent (off the caller's
	 * critical path), with after_arg in r->arena; run by req_after_reply(). */
	void (*after_reply)(struct flow_req *r, void *arg);
	void *after_arg;
	char message[512];      /* error message for the reply */
};

int req_error(struct flow_req *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Milliseconds left before the deadline; INT32_MAX without one; <= 0 when past. */
int64_t req_remaining_ms(const struct flow_req *r);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t req_now_ms(void);

/* Runs and clears r->after_reply, if a handler set one. */
void req_after_reply(struct flow_req *r);

#endif
