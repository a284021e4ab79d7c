/*
 * rpc_client.h - calling flowd: dial, per-call deadline, automatic redial.
 *
 * One rpc_client wraps one nng REQ socket dialed to one URL (ipc://, tcp://,
 * tls+tcp://).
 * nng redials in the background when the connection drops. rpc_client_call
 * is safe from several threads at once (each call uses its own nng context).
 */
#ifndef FLOW_RPC_CLIENT_H
#define FLOW_RPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "tls.h"

typedef struct rpc_client rpc_client;

struct rpc_client_opts {
	/* Per-call deadline in ms (default 30000). Sent to the server too. */
	uint32_t deadline_ms;
	/* Largest reply accepted (default RPC_DEFAULT_MAX_MESSAGE). */
	size_t max_message;
	/* Token sent with every call (copied); NULL for none. */
	const char *token;
	/*
	 * false (CLI): the first dial must succeed, so an unreachable server
	 * is reported at once. true (long-lived processes): dial in the
	 * background and wait for the server within each call's deadline.
	 */
	bool background_dial;
	/* For tls+tcp:// URLs: the CA to verify flowd with (required), an
	 * optional client certificate and key (mutual TLS), the server name
	 * to verify. NULL: tls_files_from_env(). */
	const struct tls_files *tls;
};

/* Outcome of a call: gRPC code, message, retry hint. */
struct rpc_status {
	int code;
	uint32_t retry_after_ms;
	char message[1024];
	char request_id[72];
};

/*
 * Opens a client for url. opts may be NULL for defaults. On failure returns
 * a flow code (UNAVAILABLE, INVALID_ARGUMENT for a bad URL, ...) with the
 * reason in st; *out is left untouched.
 */
int rpc_client_open(const char *url, const struct rpc_client_opts *opts,
		    rpc_client **out, struct rpc_status *st);
/* rpc_client_close(NULL) is a no-op. */
void rpc_client_close(rpc_client *c);

/* Replaces the token sent with calls (copied; NULL clears). */
int rpc_client_set_token(rpc_client *c, const char *token);

/*
 * Calls method (a path such as "/flow.v1.FlowManager/GetQueue") with req.
 * On FLOW_OK, *resp is the decoded reply, allocated with alloc (NULL: the
 * default allocator; free it with protobuf_c_message_free_unpacked).
 * Otherwise *resp is NULL and st says why. The code is also returned.
 */
int rpc_client_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		    ProtobufCAllocator *alloc, ProtobufCMessage **resp,
		    struct rpc_status *st);

/*
 * Sends an already encoded envelope and returns the raw reply bytes
 * (malloc'd, caller frees) - for tests of the server's input handling.
 */
int rpc_client_call_raw(rpc_client *c, const void *data, size_t len, void **reply,
			size_t *reply_len, struct rpc_status *st);

#endif
