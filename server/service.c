#include "service.h"

#include "status.h"

ProtobufCMessage *service_new(struct flow_req *r, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *m = arena_alloc(r->arena, desc->sizeof_message);

	if (m == NULL) {
		req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	protobuf_c_message_init(desc, m);
	return m;
}
