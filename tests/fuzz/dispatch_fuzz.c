/*
 * Fuzz target: the request-decoding path of flowd. Any bytes go through
 * dispatch_handle() exactly as a received nng message does (envelope decode,
 * size and deadline checks, method lookup, body decode, string checks,
 * handler validation). There is no database: a request that gets that far is
 * answered UNAVAILABLE. Every input must produce a decodable reply.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "dispatch.h"
#include "flow/v1/rpc.pb-c.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every call is an admin's, so inputs reach the handlers' validation. */
static int admin_guard(struct flow_req *r, const ProtobufCServiceDescriptor *svc,
		       const ProtobufCMethodDescriptor *m, const char *token,
		       const ProtobufCMessage *in)
{
	(void)svc;
	(void)m;
	(void)token;
	(void)in;
	r->who.role = ROLE_ADMIN;
	return FLOW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dispatch_limits lim = { 65536, 4096, 60000 };
	static int ready;
	struct flow_req r = { 0 };
	void *reply = NULL;
	size_t reply_len = 0;
	Flow__V1__RpcResponse *resp;

	if (!ready) {
		if (dispatch_init(admin_guard) != FLOW_OK)
			abort();
		ready = 1;
	}
	r.arena = arena_new(0);
	if (r.arena == NULL)
		return 0;
	dispatch_handle(&r, &lim, data, size, &reply, &reply_len);
	if (reply == NULL)
		abort();
	resp = flow__v1__rpc_response__unpack(NULL, reply_len, reply);
	if (resp == NULL || !resp->has_code)
		abort();
	flow__v1__rpc_response__free_unpacked(resp, NULL);
	arena_free(r.arena);
	return 0;
}
