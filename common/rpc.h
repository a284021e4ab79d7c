/*
 * rpc.h - the flowd RPC envelope and method registry, shared by both sides.
 *
 * A call is one nng REQ/REP exchange carrying a flow.v1.RpcRequest and a
 * flow.v1.RpcResponse (proto/flow/v1/rpc.proto). Methods are gRPC-style
 * paths, "/flow.v1.FlowManager/CreateTicket", resolved against the
 * protobuf-c service descriptors of every service flowd serves.
 */
#ifndef FLOW_RPC_H
#define FLOW_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Default and hard limits on one encoded RpcRequest / RpcResponse. */
#define RPC_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)
#define RPC_MAX_METHOD_LEN 128
#define RPC_MAX_REQUEST_ID_LEN 64

/* NULL-terminated list of the service descriptors flowd serves. */
extern const ProtobufCServiceDescriptor *const rpc_services[];

/*
 * Resolves "/pkg.Service/Method". Returns 0 and sets *service / *method,
 * or FLOW_UNIMPLEMENTED (unknown service or method) or FLOW_INVALID_ARGUMENT
 * (not of that shape). Either out-parameter may be NULL.
 */
int rpc_method_find(const char *path, const ProtobufCServiceDescriptor **service,
		    const ProtobufCMethodDescriptor **method);

/* Writes "/<service full name>/<method name>" into buf; returns 0, or -1 if
 * it does not fit. */
int rpc_method_path(const ProtobufCServiceDescriptor *service,
		    const ProtobufCMethodDescriptor *method, char *buf, size_t len);

/* Fresh request id ("r-" + 16 hex digits) into buf (at least 24 bytes). */
void rpc_new_request_id(char *buf, size_t len);

#endif
