/*
 * service.h - RPC handlers and the per-service handler tables.
 *
 * Each file in services/ implements one protobuf service and exports one
 * `struct service_def` naming its generated service descriptor and a table
 * of handlers by method name. dispatch.c resolves a method path through the
 * protobuf-c service descriptors (common/rpc.h) and calls the handler.
 *
 * A handler gets the decoded request (allocated in r->arena; read-only) and
 * sets *out to a reply message of the method's output type, allocated in
 * r->arena. It returns FLOW_OK, or a flow code after req_error() - then *out
 * is ignored. It never aborts on bad input, database errors or out of memory.
 */
#ifndef FLOW_SERVICE_H
#define FLOW_SERVICE_H

#include <protobuf-c/protobuf-c.h>

#include "req.h"

typedef int (*service_handler)(struct flow_req *r, const ProtobufCMessage *in,
			       ProtobufCMessage **out);

struct service_method {
	const char *name; /* method name as in the .proto, "CreateTicket" */
	service_handler fn;
};

struct service_def {
	const ProtobufCServiceDescriptor *descriptor;
	const struct service_method *methods;
	size_t n_methods;
};

extern const struct service_def project_service;
extern const struct service_def flow_service;
extern const struct service_def worker_service;
extern const struct service_def auth_service;

/* Allocates and initialises a message of type desc in r->arena; NULL after
 * req_error(RESOURCE_EXHAUSTED) when out of memory. */
ProtobufCMessage *service_new(struct flow_req *r, const ProtobufCMessageDescriptor *desc);

#define SERVICE_NEW(r, type, desc) ((type *)service_new((r), &(desc)))

#endif
