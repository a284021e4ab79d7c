/*
 * http.h - flowd's operations endpoints over HTTP (http_ prefix), served
 * by nng's HTTP server on an address of their own (--http-listen), never
 * on an RPC listener:
 *
 *   GET /healthz  200 "ok": the process is up and serving HTTP
 *   GET /readyz   200 "ready" when PostgreSQL answers and its schema is at
 *                 the version this binary expects; else 503 and a one-line
 *                 reason ("database unreachable", "schema at version 4,
 *                 expected 6", "shutting down"). The verdict is kept for
 *                 ready_cache_ms, so probes do not hammer the database.
 *   GET /metrics  the Prometheus text format 0.0.4 (metrics.h)
 *
 * HEAD works as GET; other methods on these paths get 405 (with Allow),
 * any other path 404. Nothing asks for credentials: the endpoints show no
 * secret, no user name, no request content. Bind them to loopback or a
 * private network.
 *
 * Threads: nng's callbacks never block. They answer /healthz and errors
 * at once and queue /readyz and /metrics for one HTTP thread, which has a
 * database connection of its own (store/metrics.h, every statement bounded
 * by db_timeout_ms): a probe or a scrape never takes a service thread or
 * its connection.
 *
 * Ownership: http_start copies what it needs from opts; the server is the
 * caller's until http_stop (NULL is a no-op).
 */
#ifndef FLOW_HTTP_H
#define FLOW_HTTP_H

#include <stddef.h>

typedef struct http_server http_server;

struct http_opts {
	const char *listen;	 /* HOST:PORT, as http_listen_url accepts */
	const char *db_conninfo; /* for the HTTP thread's own connection */
	const char *version;	 /* flowd_build_info's version label */
	int pool_size;		 /* service threads (flowd_db_pool_max_connections) */
	int db_timeout_ms;	 /* per connect and statement; 0: 2000 */
	int ready_cache_ms;	 /* how long a /readyz verdict is kept; 0: 1000 */
};

/*
 * Parses an --http-listen value: HOST:PORT with an IPv4 address, a host
 * name, or an IPv6 address in brackets ("127.0.0.1:9464", "[::1]:9464",
 * "0.0.0.0:9464", "localhost:9464"; an "http://" prefix is allowed), port
 * 1-65535. Writes nng's URL ("http://[::1]:9464") to url and the port to
 * *port (may be NULL). Returns 0, or -1 when the value is not of that form.
 */
int http_listen_url(const char *listen, char *url, size_t len, int *port);

/* Listens and starts the HTTP thread. FLOW_OK, or a flow code with err
 * naming the address and the reason (address in use, ...); nothing is left
 * running. */
int http_start(const struct http_opts *opts, http_server **out, char *err, size_t errlen);

/* From now on /readyz answers 503 "shutting down" (flowd got SIGTERM and
 * is finishing its requests); /healthz and /metrics still answer. */
void http_draining(http_server *h);

/* Stops listening, answers what is queued, joins the thread, frees h. */
void http_stop(http_server *h);

#endif
