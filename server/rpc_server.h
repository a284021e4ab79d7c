/*
 * rpc_server.h - flowd's RPC front end: an nng REP socket with many
 * contexts, feeding a fixed pool of service threads.
 *
 * Each context is a small state machine (receive -> queued -> handled ->
 * send -> receive), after nng's demo/async/server.c. A received request is
 * queued for the service threads; each thread owns one PostgreSQL
 * connection and a per-request arena, runs dispatch_handle() and sends the
 * reply on the request's context. No nng callback ever touches the
 * database.
 */
#ifndef FLOW_RPC_SERVER_H
#define FLOW_RPC_SERVER_H

#include <stddef.h>

#include "dispatch.h"
#include "tls.h"

typedef struct rpc_server rpc_server;

struct rpc_server_opts {
	const char *const *urls; /* listen URLs: ipc://..., tcp://host:port */
	size_t n_urls;
	int n_threads;  /* service threads = database connections */
	int n_contexts; /* requests received concurrently */
	const char *db_conninfo;
	struct dispatch_limits limits;
	/* For tls+tcp:// URLs: certificate and key; with a CA, client
	 * certificates signed by it are required (mutual TLS). */
	struct tls_files tls;
};

/* Listens on every URL and starts the threads. On failure returns a flow
 * code with err filled; nothing is left running. */
int rpc_server_start(const struct rpc_server_opts *opts, rpc_server **out, char *err,
		     size_t errlen);

/*
 * Stops accepting requests, lets queued and running requests finish for up
 * to grace_ms, then closes the socket and joins the threads.
 * rpc_server_stop(NULL) is a no-op.
 */
void rpc_server_stop(rpc_server *s, int grace_ms);

#endif
