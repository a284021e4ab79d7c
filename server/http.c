/* http.c - /healthz, /readyz and /metrics on nng's HTTP server. See http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "log.h"
#include "metrics.h"
#include "req.h"
#include "status.h"
#include "store/metrics.h"
#include "store/migrate.h"

/* Requests waiting for the HTTP thread; more get 503 at once. */
#define QUEUE_MAX 64
/* Largest request body read (then refused with 405). */
#define BODY_MAX 4096

#define TEXT_TYPE "text/plain; charset=utf-8"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum endpoint { EP_HEALTHZ, EP_READYZ, EP_METRICS, EP_OTHER };

struct job {
	nng_aio *aio;
	enum endpoint ep;
};

struct http_server {
	nng_http_server *srv;
	bool started; /* nng_http_server_start succeeded */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job queue[QUEUE_MAX]; /* a ring; under mu */
	int head, n;		     /* under mu */
	bool stopping;		     /* under mu */
	atomic_bool draining;
	atomic_int refs; /* http_start's, and one per handler nng holds */

	/* read-only after start */
	char version[64];
	int pool_size;
	int cache_ms;

	/* the HTTP thread's */
	store_metrics_conn *db;
	int64_t ready_at_ms; /* when the verdict was made; 0: never */
	bool ready;
	char reason[160];
	bool db_down; /* a scrape found the database unreachable (logged once) */
};

/* ---- the address ---- */

static bool host_name_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-')
			return false;
	return true;
}

int http_listen_url(const char *in, char *url, size_t len, int *port_out)
{
	char host[256];
	const char *p, *end_host;
	unsigned char addr[16];
	bool v6 = false;
	char *end;
	long port;
	size_t hl;

	if (in == NULL)
		return -1;
	if (strncmp(in, "http://", 7) == 0)
		in += 7;
	if (*in == '[') {
		if ((end_host = strchr(in, ']')) == NULL || end_host[1] != ':')
			return -1;
		in++;
		p = end_host + 2;
		v6 = true;
	} else {
		if ((end_host = strrchr(in, ':')) == NULL)
			return -1;
		p = end_host + 1;
	}
	hl = (size_t)(end_host - in);
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, in, hl);
	host[hl] = '\0';
	if (v6 ? inet_pton(AF_INET6, host, addr) != 1 : !host_name_ok(host))
		return -1;
	if (!isdigit((unsigned char)*p))
		return -1;
	port = strtol(p, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	if (snprintf(url, len, v6 ? "http://[%s]:%ld" : "http://%s:%ld", host, port) >= (int)len)
		return -1;
	if (port_out != NULL)
		*port_out = (int)port;
	return 0;
}

/* ---- lifetime ---- */

/* Drops a reference; the last one frees h. nng drops the handlers' when
 * the server is finally torn down, after any callback still running. */
static void unref(void *arg)
{
	http_server *h = arg;

	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	store_metrics_close(h->db);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}

/* ---- replies (any thread) ---- */

/* Answers aio with status and body (copied); on failure the connection is
 * closed. */
static void reply(nng_aio *aio, uint16_t status, const char *type, const char *body, size_t len)
{
	nng_http_res *res = NULL;
	int rv;

	if ((rv = nng_http_res_alloc(&res)) != 0 ||
	    (rv = nng_http_res_set_status(res, status)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Content-Type", type)) != 0 ||
	    (rv = nng_http_res_set_header(res, "Cache-Control", "no-store")) != 0 ||
	    (status == NNG_HTTP_STATUS_METHOD_NOT_ALLOWED &&
	     (rv = nng_http_res_set_header(res, "Allow", "GET, HEAD")) != 0) ||
	    (rv = nng_http_res_copy_data(res, body, len)) != 0) {
		if (res != NULL)
			nng_http_res_free(res);
		nng_aio_finish(aio, rv);
		return;
	}
	nng_aio_set_output(aio, 0, res); /* nng frees it once sent */
	nng_aio_finish(aio, 0);
}

static void text(nng_aio *aio, uint16_t status, const char *body)
{
	reply(aio, status, TEXT_TYPE, body, strlen(body));
}

/* ---- nng callbacks: never block ---- */

static bool method_ok(nng_aio *aio)
{
	const char *m = nng_http_req_get_method(nng_aio_get_input(aio, 0));

	return m != NULL && (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0);
}

static void serve_cb(nng_aio *aio, enum endpoint ep)
{
	http_server *h = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
	bool queued = false, stopping;

	if (ep == EP_OTHER) {
		text(aio, NNG_HTTP_STATUS_NOT_FOUND, "not found\n");
		return;
	}
	if (!method_ok(aio)) {
		text(aio, NNG_HTTP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n");
		return;
	}
	if (ep == EP_HEALTHZ) {
		text(aio, NNG_HTTP_STATUS_OK, "ok\n");
		return;
	}
	pthread_mutex_lock(&h->mu);
	stopping = h->stopping;
	if (!stopping && h->n < QUEUE_MAX) {
		h->queue[(h->head + h->n) % QUEUE_MAX] = (struct job){ aio, ep };
		h->n++;
		queued = true;
		pthread_cond_signal(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	if (!queued)
		text(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE,
		     stopping ? "shutting down\n" : "busy\n");
}

static void cb_healthz(nng_aio *aio)
{
	serve_cb(aio, EP_HEALTHZ);
}

static void cb_readyz(nng_aio *aio)
{
	serve_cb(aio, EP_READYZ);
}

static void cb_metrics(nng_aio *aio)
{
	serve_cb(aio, EP_METRICS);
}

static void cb_other(nng_aio *aio)
{
	serve_cb(aio, EP_OTHER);
}

/* ---- the HTTP thread ---- */

/* Makes a new /readyz verdict when the last one is older than cache_ms,
 * and logs changes. */
static void check_ready(http_server *h)
{
	char err[512], reason[sizeof(h->reason)];
	int version = 0, rv;
	bool ready = false;

	if (h->ready_at_ms != 0 && req_now_ms() - h->ready_at_ms < h->cache_ms)
		return;
	rv = store_metrics_schema(h->db, &version, err, sizeof(err));
	if (rv == FLOW_UNAVAILABLE || rv == FLOW_DEADLINE_EXCEEDED)
		snprintf(reason, sizeof(reason), "database unreachable");
	else if (rv != FLOW_OK)
		snprintf(reason, sizeof(reason), "database error");
	else if (version != store_schema_target())
		snprintf(reason, sizeof(reason), "schema at version %d, expected %d", version,
			 store_schema_target());
	else
		ready = true;
	if (!ready && (h->ready || h->ready_at_ms == 0 || strcmp(reason, h->reason) != 0))
		log_warn("http.not_ready", "/readyz: not ready: %s%s%s", reason,
			 rv != FLOW_OK ? ": " : "", rv != FLOW_OK ? err : "");
	else if (ready && !h->ready && h->ready_at_ms != 0)
		log_info("http.ready", "/readyz: ready again");
	h->ready = ready;
	snprintf(h->reason, sizeof(h->reason), "%s", ready ? "ready" : reason);
	h->ready_at_ms = req_now_ms();
}

static void serve_readyz(http_server *h, nng_aio *aio)
{
	char line[sizeof(h->reason) + 2];

	if (atomic_load(&h->draining)) {
		text(aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down\n");
		return;
	}
	check_ready(h);
	snprintf(line, sizeof(line), "%s\n", h->reason);
	text(aio, h->ready ? NNG_HTTP_STATUS_OK : NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, line);
}

static void serve_metrics(http_server *h, nng_aio *aio)
{
	struct store_metrics_snapshot snap;
	struct metrics_info in = { h->version, store_schema_target(), h->pool_size, NULL };
	char err[512], *body;
	size_t len;
	int rv = store_metrics_collect(h->db, METRICS_WORKERS_WINDOW_S, &snap, err, sizeof(err));

	if (rv == FLOW_OK) {
		in.db = &snap;
		if (h->db_down)
			log_info("http.db", "/metrics: database figures available again");
		h->db_down = false;
	} else if (!h->db_down) {
		log_warn("http.db", "/metrics: serving without database figures: %s", err);
		h->db_down = true;
	}
	if (metrics_render(&in, &body, &len) != 0) {
		text(aio, NNG_HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory\n");
	} else {
		reply(aio, NNG_HTTP_STATUS_OK, METRICS_TYPE, body, len);
		free(body);
	}
	store_metrics_snapshot_free(&snap);
}

/* The next queued request; false once stopping with none left. *stopping
 * tells whether to answer it without the database. */
static bool next_job(http_server *h, struct job *j, bool *stopping)
{
	pthread_mutex_lock(&h->mu);
	while (h->n == 0 && !h->stopping)
		pthread_cond_wait(&h->cv, &h->mu);
	*stopping = h->stopping;
	if (h->n == 0) {
		pthread_mutex_unlock(&h->mu);
		return false;
	}
	*j = h->queue[h->head];
	h->head = (h->head + 1) % QUEUE_MAX;
	h->n--;
	pthread_mutex_unlock(&h->mu);
	return true;
}

static void *http_main(void *arg)
{
	http_server *h = arg;
	struct job j;
	bool stopping;

	while (next_job(h, &j, &stopping)) {
		if (stopping)
			text(j.aio, NNG_HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down\n");
		else if (j.ep == EP_READYZ)
			serve_readyz(h, j.aio);
		else
			serve_metrics(h, j.aio);
	}
	return NULL;
}

/* ---- start and stop ---- */

/* Registers path (every method; tree: and everything below it) with cb. */
static int add_handler(http_server *h, const char *path, void (*cb)(nng_aio *), bool tree)
{
	nng_http_handler *hd;
	int rv;

	if ((rv = nng_http_handler_alloc(&hd, path, cb)) != 0)
		return rv;
	atomic_fetch_add(&h->refs, 1);
	if ((rv = nng_http_handler_set_data(hd, h, unref)) != 0) {
		atomic_fetch_sub(&h->refs, 1);
		nng_http_handler_free(hd);
		return rv;
	}
	if ((rv = nng_http_handler_set_method(hd, NULL)) != 0 ||
	    (rv = nng_http_handler_collect_body(hd, true, BODY_MAX)) != 0 ||
	    (tree && (rv = nng_http_handler_set_tree(hd)) != 0) ||
	    (rv = nng_http_server_add_handler(h->srv, hd)) != 0) {
		nng_http_handler_free(hd); /* drops its reference on h */
		return rv;
	}
	return 0; /* the server holds the handler now */
}

static int listen_http(http_server *h, const struct http_opts *o, char *err, size_t errlen)
{
	char url[320];
	nng_url *u = NULL;
	int rv;

	if (http_listen_url(o->listen, url, sizeof(url), NULL) != 0) {
		snprintf(err, errlen, "--http-listen: %s is not HOST:PORT (e.g. 127.0.0.1:9464)",
			 o->listen ? o->listen : "(none)");
		return FLOW_INVALID_ARGUMENT;
	}
	if ((rv = nng_url_parse(&u, url)) == 0)
		rv = nng_http_server_hold(&h->srv, u);
	nng_url_free(u);
	if (rv == 0 && (rv = add_handler(h, "/healthz", cb_healthz, false)) == 0 &&
	    (rv = add_handler(h, "/readyz", cb_readyz, false)) == 0 &&
	    (rv = add_handler(h, "/metrics", cb_metrics, false)) == 0 &&
	    (rv = add_handler(h, "/", cb_other, true)) == 0 &&
	    (rv = nng_http_server_start(h->srv)) == 0)
		h->started = true;
	if (rv != 0) {
		snprintf(err, errlen, "cannot serve HTTP on %s (--http-listen): %s", o->listen,
			 nng_strerror(rv));
		return rv == NNG_ENOMEM ? FLOW_RESOURCE_EXHAUSTED : FLOW_UNAVAILABLE;
	}
	log_info("http.listen", "serving /healthz, /readyz and /metrics on %s", url);
	return FLOW_OK;
}

int http_start(const struct http_opts *o, http_server **out, char *err, size_t errlen)
{
	http_server *h = calloc(1, sizeof(*h));
	int rv;

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	metrics_init();
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	atomic_init(&h->refs, 1);
	atomic_init(&h->draining, false);
	snprintf(h->version, sizeof(h->version), "%s", o->version ? o->version : "unknown");
	h->pool_size = o->pool_size;
	h->cache_ms = o->ready_cache_ms > 0 ? o->ready_cache_ms : 1000;
	rv = store_metrics_open(o->db_conninfo, o->db_timeout_ms > 0 ? o->db_timeout_ms : 2000,
				&h->db, err, errlen);
	if (rv != FLOW_OK)
		goto fail;
	if (pthread_create(&h->thread, NULL, http_main, h) != 0) {
		snprintf(err, errlen, "cannot start the HTTP thread");
		rv = FLOW_RESOURCE_EXHAUSTED;
		goto fail;
	}
	h->thread_started = true;
	if ((rv = listen_http(h, o, err, errlen)) != FLOW_OK)
		goto fail;
	*out = h;
	return FLOW_OK;
fail:
	http_stop(h);
	return rv;
}

void http_draining(http_server *h)
{
	if (h != NULL)
		atomic_store(&h->draining, true);
}

void http_stop(http_server *h)
{
	if (h == NULL)
		return;
	/* From here on callbacks answer 503 themselves; the thread answers
	 * what is queued and exits. */
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->thread_started)
		pthread_join(h->thread, NULL);
	store_metrics_close(h->db); /* no thread uses it any more */
	h->db = NULL;
	if (h->srv != NULL) {
		if (h->started)
			nng_http_server_stop(h->srv);
		nng_http_server_release(h->srv);
	}
	unref(h);
}
