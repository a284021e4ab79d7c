#include "dispatch.h"

#include <stdio.h>
#include <string.h>

#include "flow/v1/rpc.pb-c.h"
#include "log.h"
#include "pbjson.h"
#include "rpc.h"
#include "service.h"
#include "status.h"

#define DISPATCH_MAX_METHODS 64

static const struct service_def *const dispatch_services[] = {
	&project_service,
	&flow_service,
	&worker_service,
	&auth_service,
};
#define N_SERVICES (sizeof(dispatch_services) / sizeof(dispatch_services[0]))

/* handlers[s][i] serves method i of dispatch_services[s]->descriptor. */
static service_handler handlers[N_SERVICES][DISPATCH_MAX_METHODS];

static service_handler lookup(const struct service_def *def, const char *name)
{
	for (size_t i = 0; i < def->n_methods; i++)
		if (strcmp(def->methods[i].name, name) == 0)
			return def->methods[i].fn;
	return NULL;
}

static dispatch_guard guard;

int dispatch_init(dispatch_guard g)
{
	if (g == NULL)
		return FLOW_INTERNAL;
	guard = g;
	for (size_t s = 0; s < N_SERVICES; s++) {
		const ProtobufCServiceDescriptor *d = dispatch_services[s]->descriptor;

		if (d->n_methods > DISPATCH_MAX_METHODS)
			return FLOW_INTERNAL;
		for (unsigned i = 0; i < d->n_methods; i++) {
			handlers[s][i] = lookup(dispatch_services[s], d->methods[i].name);
			if (handlers[s][i] == NULL) {
				log_error("dispatch.no_handler", "%s/%s has no handler", d->name,
					  d->methods[i].name);
				return FLOW_INTERNAL;
			}
		}
	}
	return FLOW_OK;
}

static service_handler find_handler(const ProtobufCServiceDescriptor *svc,
				    const ProtobufCMethodDescriptor *m)
{
	for (size_t s = 0; s < N_SERVICES; s++)
		if (dispatch_services[s]->descriptor == svc)
			return handlers[s][m - svc->methods];
	return NULL;
}

/* A request id the client chose is kept if it is short and printable. */
static const char *pick_request_id(struct flow_req *r, const char *given)
{
	char buf[32];

	if (given != NULL && *given != '\0' && strlen(given) <= RPC_MAX_REQUEST_ID_LEN) {
		const char *p = given;

		while (*p > 0x20 && *p < 0x7f)
			p++;
		if (*p == '\0')
			return given;
	}
	rpc_new_request_id(buf, sizeof(buf));
	return arena_strdup(r->arena, buf);
}

/* Parked calls are answered this long before their deadline. */
#define PARK_MARGIN_MS 250

/* A handler asked to park: clamps the time to the call's deadline, or
 * answers with the method's empty response when the time is up. */
static int park_or_answer(struct flow_req *r, const ProtobufCMethodDescriptor *m,
			  ProtobufCMessage **out)
{
	int64_t limit = r->deadline_ms - PARK_MARGIN_MS;

	if (r->park_until_ms > limit)
		r->park_until_ms = limit;
	if (!r->no_park && r->park_until_ms > req_now_ms())
		return FLOW_PARKED;
	*out = service_new(r, m->output);
	return *out ? FLOW_OK : FLOW_RESOURCE_EXHAUSTED;
}

/* Decodes the body and runs the handler; the reply message lands in *out. */
static int run_method(struct flow_req *r, const struct dispatch_limits *lim,
		      const Flow__V1__RpcRequest *env, ProtobufCMessage **out)
{
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMethodDescriptor *m;
	ProtobufCMessage *in;
	service_handler fn;
	char err[256];
	int rv;

	rv = rpc_method_find(env->method, &svc, &m);
	if (rv == FLOW_INVALID_ARGUMENT)
		return req_error(r, rv, "method must look like /flow.v1.Service/Method");
	if (rv != FLOW_OK || (fn = find_handler(svc, m)) == NULL)
		return req_error(r, FLOW_UNIMPLEMENTED, "unknown method %s", env->method);
	/* AuthService requests and replies carry passwords, refresh tokens, keys */
	r->secret = strcmp(svc->name, "flow.v1.AuthService") == 0;
	in = protobuf_c_message_unpack(m->input, arena_allocator(r->arena),
				       env->has_body ? env->body.len : 0,
				       env->has_body ? env->body.data : NULL);
	if (in == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT, "request body does not decode as %s",
				 m->input->name);
	if (pbjson_check_strings(in, lim->max_string, err, sizeof(err)) != FLOW_OK)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s", err);
	if (guard == NULL)
		return req_error(r, FLOW_UNAUTHENTICATED, "authentication is not configured");
	if ((rv = guard(r, svc, m, env->token, in)) != FLOW_OK)
		return rv;
	*out = NULL;
	r->park_until_ms = 0;
	rv = fn(r, in, out);
	if (rv == FLOW_PARKED)
		return park_or_answer(r, m, out);
	if (rv == FLOW_OK && (*out == NULL || (*out)->descriptor != m->output)) {
		log_error("dispatch.bad_reply", "%s returned no %s", env->method, m->output->name);
		return req_error(r, FLOW_INTERNAL, "internal error in %s", env->method);
	}
	return rv;
}

static int encode_reply(struct flow_req *r, int code, const ProtobufCMessage *body,
			void **reply, size_t *reply_len)
{
	Flow__V1__RpcResponse resp = FLOW__V1__RPC_RESPONSE__INIT;
	uint8_t *buf;
	size_t len;

	resp.has_code = 1;
	resp.code = (Flow__V1__Code)code;
	resp.request_id = (char *)r->request_id;
	if (code != FLOW_OK) {
		resp.message = r->message[0] ? r->message : (char *)status_name(code);
		if (r->retry_after_ms) {
			resp.has_retry_after_ms = 1;
			resp.retry_after_ms = r->retry_after_ms;
		}
	} else if (body != NULL) {
		resp.has_body = 1;
		resp.body.len = protobuf_c_message_get_packed_size(body);
		resp.body.data = arena_alloc(r->arena, resp.body.len);
		if (resp.body.data == NULL)
			return encode_reply(r, req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory"),
					    NULL, reply, reply_len);
		protobuf_c_message_pack(body, resp.body.data);
	}
	len = flow__v1__rpc_response__get_packed_size(&resp);
	buf = arena_alloc(r->arena, len);
	if (buf == NULL)
		return FLOW_RESOURCE_EXHAUSTED; /* caller sends a static reply */
	flow__v1__rpc_response__pack(&resp, buf);
	*reply = buf;
	*reply_len = len;
	return code;
}

int dispatch_handle(struct flow_req *r, const struct dispatch_limits *lim, const void *data,
		    size_t len, void **reply, size_t *reply_len)
{
	Flow__V1__RpcRequest *env = NULL;
	ProtobufCMessage *out = NULL;
	int64_t start = req_now_ms(), queued_ms;
	int code;

	r->message[0] = '\0';
	r->retry_after_ms = 0;
	r->secret = false;
	r->request_id = "-";
	r->method = "-";
	r->reply_max = lim->max_message;
	if (len > lim->max_message) {
		code = req_error(r, FLOW_RESOURCE_EXHAUSTED,
				 "request is %zu bytes, more than the %zu-byte message limit", len,
				 lim->max_message);
		goto reply;
	}
	env = flow__v1__rpc_request__unpack(arena_allocator(r->arena), len, data);
	if (env == NULL) {
		code = req_error(r, FLOW_INVALID_ARGUMENT,
				 "request does not decode as flow.v1.RpcRequest");
		goto reply;
	}
	r->request_id = pick_request_id(r, env->request_id);
	r->method = env->method ? env->method : "-";
	log_set_request_id(r->request_id);
	uint32_t dl = env->has_deadline_ms && env->deadline_ms ? env->deadline_ms : lim->max_deadline;

	if (dl > lim->max_deadline)
		dl = lim->max_deadline;
	if (r->received_ms == 0 || r->received_ms > start)
		r->received_ms = start;
	queued_ms = start - r->received_ms;
	r->deadline_ms = r->received_ms + dl;
	if (queued_ms >= (int64_t)dl) {
		code = req_error(r, FLOW_DEADLINE_EXCEEDED,
				 "deadline of %u ms passed while the request was queued", dl);
		goto reply;
	}
	code = run_method(r, lim, env, &out);
	if (code == FLOW_PARKED) {
		log_set_request_id(NULL);
		return code;
	}
reply:
	log_debug("rpc.done", "%s %s in %lld ms", r->method, status_name(code),
		  (long long)(req_now_ms() - start));
	code = encode_reply(r, code, code == FLOW_OK ? out : NULL, reply, reply_len);
	log_set_request_id(NULL);
	return code;
}
