/*
 * dispatch.h - from an encoded RpcRequest to an encoded RpcResponse.
 *
 * dispatch_init() builds, once, the table from every method of every
 * service descriptor in rpc_services[] to its handler, and fails if a
 * method has none. dispatch_handle() decodes the envelope and the body
 * into the request's arena, checks it, runs the handler and encodes the
 * reply; it never fails to produce a reply.
 */
#ifndef FLOW_DISPATCH_H
#define FLOW_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "req.h"

struct dispatch_limits {
	size_t max_message;    /* largest request accepted */
	size_t max_string;     /* longest string field accepted, bytes */
	uint32_t max_deadline; /* cap on a client's deadline_ms */
};

/*
 * Runs after the body decodes and passes the limits, before the handler:
 * authenticates the envelope's token (may be NULL), authorizes the call and
 * sets r->who; FLOW_OK, or the code of req_error() - the handler then does
 * not run. flowd installs auth_guard (auth/auth.h).
 */
typedef int (*dispatch_guard)(struct flow_req *r, const ProtobufCServiceDescriptor *svc,
			      const ProtobufCMethodDescriptor *m, const char *token,
			      const ProtobufCMessage *in);

/*
 * Returns FLOW_OK or FLOW_INTERNAL (a method without a handler: a bug).
 * guard must not be NULL: every call passes it.
 */
int dispatch_init(dispatch_guard guard);

/*
 * Handles one request. r->db, r->arena and r->received_ms are set by the
 * caller; the reply is written into *reply (allocated in r->arena),
 * *reply_len its length. Returns the status code of the reply, or
 * FLOW_PARKED with no reply: the handler waits for work until
 * r->park_until_ms (never past the call's deadline); the caller parks the
 * request and calls dispatch_handle() again with the same bytes when woken.
 * A parked call whose time is up, or any call with r->no_park, gets the
 * method's empty response.
 */
int dispatch_handle(struct flow_req *r, const struct dispatch_limits *lim, const void *data,
		    size_t len, void **reply, size_t *reply_len);

#endif
