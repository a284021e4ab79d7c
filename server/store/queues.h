/*
 * queues.h - queue rows (store_queue_ prefix).
 *
 * Every function runs on r->db and returns FLOW_OK or a flow code after
 * req_error() (r->message says why). Messages returned through out-params
 * are allocated in r->arena, never owned by the caller, and live until the
 * arena is reset. On failure the out-params are left untouched.
 * Arguments are expected validated (ids > 0, bounds) by the service layer;
 * the schema's CHECK constraints back that up.
 */
#ifndef FLOW_STORE_QUEUES_H
#define FLOW_STORE_QUEUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/v1/model.pb-c.h"
#include "req.h"

/* Fields of a new queue (strings are read, not kept). */
struct store_queue_new {
	int64_t project_id;
	const char *name;
	const char *description; /* NULL: empty */
	int max_parallel_items;
	int lease_seconds;
	int max_attempts;
	const char *default_agent_id; /* NULL or empty: none */
};

/*
 * Creates a queue. FLOW_NOT_FOUND "project 7 not found"; FLOW_ALREADY_EXISTS
 * 'a queue named "X" already exists in project 7'.
 */
int store_queue_create(struct flow_req *r, const struct store_queue_new *q, Flow__V1__Queue **out);

/* FLOW_NOT_FOUND "queue 3 not found". */
int store_queue_get(struct flow_req *r, int64_t id, Flow__V1__Queue **out);

/* The project's queues by id; FLOW_NOT_FOUND when the project does not
 * exist. *out is an arena array of *n queues. */
int store_queues_list(struct flow_req *r, int64_t project_id, Flow__V1__Queue ***out, size_t *n);

/* Changes to a queue: NULL / has_x false leaves a field unchanged. */
struct store_queue_change {
	const char *name;
	const char *description;
	bool has_max_parallel_items, has_is_active, has_lease_seconds, has_max_attempts;
	int max_parallel_items;
	bool is_active;
	int lease_seconds;
	int max_attempts;
	const char *default_agent_id; /* NULL: unchanged; empty: cleared */
};

/* Applies c in one statement. FLOW_NOT_FOUND, or FLOW_ALREADY_EXISTS when
 * the new name is taken in the queue's project. */
int store_queue_update(struct flow_req *r, int64_t id, const struct store_queue_change *c,
		       Flow__V1__Queue **out);

/* Deletes the queue and (cascade) its items. FLOW_NOT_FOUND. */
int store_queue_delete(struct flow_req *r, int64_t id);

#endif
