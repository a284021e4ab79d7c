#include "rpc.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "flow/v1/auth.pb-c.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "status.h"

const ProtobufCServiceDescriptor *const rpc_services[] = {
	&flow__v1__project_manager__descriptor,
	&flow__v1__flow_manager__descriptor,
	&flow__v1__worker_service__descriptor,
	&flow__v1__auth_service__descriptor,
	NULL,
};

int rpc_method_find(const char *path, const ProtobufCServiceDescriptor **service,
		    const ProtobufCMethodDescriptor **method)
{
	const char *slash;
	size_t svc_len;

	if (path == NULL || path[0] != '/' || strlen(path) > RPC_MAX_METHOD_LEN)
		return FLOW_INVALID_ARGUMENT;
	slash = strchr(path + 1, '/');
	if (slash == NULL || slash == path + 1 || slash[1] == '\0')
		return FLOW_INVALID_ARGUMENT;
	svc_len = (size_t)(slash - (path + 1));
	for (size_t i = 0; rpc_services[i] != NULL; i++) {
		const ProtobufCServiceDescriptor *s = rpc_services[i];
		const ProtobufCMethodDescriptor *m;

		if (strlen(s->name) != svc_len || memcmp(s->name, path + 1, svc_len) != 0)
			continue;
		m = protobuf_c_service_descriptor_get_method_by_name(s, slash + 1);
		if (m == NULL)
			return FLOW_UNIMPLEMENTED;
		if (service)
			*service = s;
		if (method)
			*method = m;
		return FLOW_OK;
	}
	return FLOW_UNIMPLEMENTED;
}

int rpc_method_path(const ProtobufCServiceDescriptor *service,
		    const ProtobufCMethodDescriptor *method, char *buf, size_t len)
{
	int n = snprintf(buf, len, "/%s/%s", service->name, method->name);

	return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

void rpc_new_request_id(char *buf, size_t len)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)buf;
	}
	snprintf(buf, len, "r-%016llx", (unsigned long long)r);
}
