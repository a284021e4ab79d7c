#include "rpc_server.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "arena.h"
#include "jobs/marker.h"
#include "log.h"
#include "metrics.h"
#include "status.h"
#include "settings.h"
#include "store/store.h"
#include "waiters.h"

enum ctx_state { CTX_RECV, CTX_QUEUED, CTX_PARKED, CTX_SEND };

struct rpc_ctx {
	rpc_server *srv;
	nng_ctx ctx;
	nng_aio *aio;
	enum ctx_state state;
	nng_msg *msg;        /* request while queued, handled or parked */
	int64_t received_ms; /* monotonic ms the request arrived */
	struct waiter_node wnode; /* while parked */
	bool was_parked;          /* handled again after a wake-up */
	/* for the metrics (metrics.h); times are CLOCK_MONOTONIC microseconds */
	int64_t arrived_us;      /* the request arrived */
	int64_t queued_us;       /* it was last queued for a service thread */
	int64_t park_us;         /* it was last parked */
	int64_t parked_total_us; /* time parked so far: not counted as handling */
	int method;              /* metrics_method() of the request, once known */
	struct rpc_ctx *next;
};

/*
 * A service thread. Idle ones wait on their own condition variable, on a
 * stack: a request wakes the one that went idle last, so under light load
 * the same thread and its database connection (and PostgreSQL backend)
 * serve request after request with warm caches, where a shared condition
 * variable woke them in turn.
 */
struct svc_thread {
	pthread_t th;
	pthread_cond_t cv;
	bool woken; /* popped off the idle stack by enqueue() */
	rpc_server *srv;
};

struct rpc_server {
	nng_socket sock;
	struct rpc_ctx *ctxs;
	int n_ctxs;
	struct svc_thread *threads;
	int n_threads;
	struct svc_thread **idle; /* idle service threads, the last gone idle on top */
	int n_idle;
	waiters *waiters; /* parked long-poll requests */
	struct marker *marker; /* claims' deferred marking (jobs/marker.h) */
	char *conninfo;
	struct dispatch_limits limits;

	pthread_mutex_t mu;
	pthread_cond_t idle_cv; /* a request finished */
	struct rpc_ctx *head, *tail;
	int busy; /* requests queued or being handled */
	bool stopping;       /* service threads exit when the queue is empty */
	bool no_park;        /* shutting down: parked calls are answered */
	atomic_bool closing; /* contexts are not re-armed */
};

/* CLOCK_MONOTONIC in microseconds, for the metrics. */
static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A request's time so far, parked time excluded. */
static int64_t handling_us(const struct rpc_ctx *c)
{
	return now_us() - c->arrived_us - c->parked_total_us;
}

static void enqueue(rpc_server *s, struct rpc_ctx *c)
{
	c->queued_us = now_us();
	pthread_mutex_lock(&s->mu);
	c->state = CTX_QUEUED;
	c->next = NULL;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->busy++;
	if (s->n_idle > 0) {
		struct svc_thread *t = s->idle[--s->n_idle];

		t->woken = true;
		pthread_cond_signal(&t->cv);
	}
	pthread_mutex_unlock(&s->mu);
}

/* nng callback: never blocks, never touches the database. */
static void ctx_cb(void *arg)
{
	struct rpc_ctx *c = arg;
	int rv = nng_aio_result(c->aio);

	switch (c->state) {
	case CTX_RECV:
		if (rv != 0) {
			if (rv != NNG_ECLOSED && !atomic_load(&c->srv->closing))
				nng_ctx_recv(c->ctx, c->aio);
			return;
		}
		c->msg = nng_aio_get_msg(c->aio);
		c->arrived_us = now_us(); /* CLOCK_MONOTONIC, as req_now_ms() */
		c->received_ms = c->arrived_us / 1000;
		c->parked_total_us = 0;
		c->method = METRICS_METHOD_UNKNOWN;
		enqueue(c->srv, c);
		return;
	case CTX_SEND:
		if (rv != 0)
			nng_msg_free(nng_aio_get_msg(c->aio));
		pthread_mutex_lock(&c->srv->mu);
		c->state = CTX_RECV;
		pthread_mutex_unlock(&c->srv->mu);
		if (rv == NNG_ECLOSED || atomic_load(&c->srv->closing))
			return;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	case CTX_QUEUED:
	case CTX_PARKED:
		return;
	}
}

/* Encoded RpcResponse{code: RESOURCE_EXHAUSTED} for when even the reply
 * cannot be allocated. */
static const uint8_t reply_oom[] = { 0x08, 0x08, 0x12, 0x0d, 'o', 'u', 't', ' ', 'o', 'f',
				     ' ', 'm', 'e', 'm', 'o', 'r', 'y' };

static void send_reply(struct rpc_ctx *c, const void *data, size_t len)
{
	nng_msg *msg = c->msg;

	c->msg = NULL;
	c->was_parked = false;
	nng_msg_clear(msg);
	if (data == NULL || nng_msg_append(msg, data, len) != 0) {
		nng_msg_clear(msg);
		nng_msg_append(msg, reply_oom, sizeof(reply_oom));
	}
	pthread_mutex_lock(&c->srv->mu);
	c->state = CTX_SEND;
	pthread_mutex_unlock(&c->srv->mu);
	nng_aio_set_msg(c->aio, msg);
	nng_ctx_send(c->ctx, c->aio);
}

/* The caller of a request is still connected (its pipe still exists). */
static bool caller_connected(nng_msg *msg)
{
	int proto = 0;

	return nng_pipe_get_int(nng_msg_get_pipe(msg), NNG_OPT_PEER, &proto) == 0;
}

/* Forgets a woken request whose caller went away meanwhile (a worker that
 * stopped while its Claim was parked): no item must be claimed for it. */
static void drop_request(struct rpc_ctx *c)
{
	metrics_rpc(c->method, FLOW_CANCELLED, handling_us(c));
	nng_msg_free(c->msg);
	c->msg = NULL;
	c->was_parked = false;
	pthread_mutex_lock(&c->srv->mu);
	c->state = CTX_RECV;
	pthread_mutex_unlock(&c->srv->mu);
	if (!atomic_load(&c->srv->closing))
		nng_ctx_recv(c->ctx, c->aio);
}

/* nng callback: a connection closed. Its parked requests are dropped now,
 * so they neither use up wake-ups nor get work claimed for them. */
static void pipe_gone(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	rpc_server *s = arg;

	(void)ev;
	for (int i = 0; i < s->n_ctxs; i++) {
		struct rpc_ctx *c = &s->ctxs[i];
		bool mine;

		/* s->mu keeps s->waiters alive (stop clears it under the lock) */
		pthread_mutex_lock(&s->mu);
		mine = c->state == CTX_PARKED && s->waiters != NULL &&
		       nng_pipe_id(nng_msg_get_pipe(c->msg)) == nng_pipe_id(p) &&
		       waiters_unpark(s->waiters, &c->wnode);
		pthread_mutex_unlock(&s->mu);
		if (mine) {
			c->parked_total_us += now_us() - c->park_us;
			metrics_parked(-1);
			drop_request(c);
		}
	}
}

/* waiters callback: a parked request is handled again. */
static void ctx_wake(struct waiter_node *node, void *arg)
{
	struct rpc_ctx *c = (struct rpc_ctx *)((char *)node - offsetof(struct rpc_ctx, wnode));

	c->parked_total_us += now_us() - c->park_us;
	metrics_parked(-1);
	enqueue(arg, c);
}

/* Parks a request; during shutdown (no waiters any more) it is handled
 * again at once, and then answered without parking. */
static void park(rpc_server *s, struct rpc_ctx *c, int64_t until_ms, bool first)
{
	bool parked = false;

	c->wnode.until_ms = until_ms;
	c->was_parked = true;
	pthread_mutex_lock(&s->mu);
	if (s->waiters != NULL) {
		c->state = CTX_PARKED;
		c->park_us = now_us(); /* before it is on the list: a wake-up may come at once */
		metrics_parked(1);
		/* lock order: s->mu, then the list's */
		if (first)
			waiters_park_first(s->waiters, &c->wnode);
		else
			waiters_park(s->waiters, &c->wnode);
		parked = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (!parked)
		enqueue(s, c);
}

/* The caller's address (without the port, which changes per connection) as
 * text, for rate limits and the audit log: "127.0.0.1", "::1", "ipc" or
 * "unknown". */
static void peer_text(nng_msg *msg, char *out, size_t len)
{
	nng_sockaddr sa;
	char ip[INET6_ADDRSTRLEN];

	snprintf(out, len, "unknown");
	if (nng_pipe_get_addr(nng_msg_get_pipe(msg), NNG_OPT_REMADDR, &sa) != 0)
		return;
	switch (sa.s_family) {
	case NNG_AF_INET:
		if (inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip)) != NULL)
			snprintf(out, len, "%s", ip);
		break;
	case NNG_AF_INET6:
		if (inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip)) != NULL)
			snprintf(out, len, "%s", ip);
		break;
	case NNG_AF_IPC:
	case NNG_AF_ABSTRACT:
		snprintf(out, len, "ipc");
		break;
	default:
		break;
	}
}

/* Opens the service thread's connection unless it has one. */
static void open_db(rpc_server *s, struct flow_req *r)
{
	char err[256];

	if (r->db != NULL)
		return;
	if (store_open(s->conninfo, &r->db, err, sizeof(err)) != FLOW_OK) {
		log_warn("db.unavailable", "%s", err);
		r->db = NULL;
		return;
	}
	metrics_pool_open(1);
}

static void handle(rpc_server *s, struct flow_req *r, struct rpc_ctx *c)
{
	void *reply = NULL;
	size_t reply_len = 0;
	int rv, busy;

	if (c->was_parked && !caller_connected(c->msg)) {
		log_debug("rpc.caller_gone", "dropping a parked request: its caller disconnected");
		drop_request(c);
		return;
	}
	arena_reset(r->arena);
	r->after_reply = NULL;
	r->park_first = false;
	open_db(s, r);
	busy = r->db != NULL; /* the connection is in use until the reply */
	if (busy)
		metrics_pool_busy(1);
	/* Without a connection dispatch still answers: the store says UNAVAILABLE. */
	pthread_mutex_lock(&s->mu);
	r->no_park = s->no_park;
	pthread_mutex_unlock(&s->mu);
	r->received_ms = c->received_ms;
	peer_text(c->msg, r->peer, sizeof(r->peer));
	rv = dispatch_handle(r, &s->limits, nng_msg_body(c->msg), nng_msg_len(c->msg), &reply,
			     &reply_len);
	c->method = metrics_method(r->method);
	if (busy)
		metrics_pool_busy(-1);
	if (rv == FLOW_PARKED) {
		park(s, c, r->park_until_ms, r->park_first);
		return;
	}
	if (r->secret) /* the reply is copied into the request's message */
		explicit_bzero(nng_msg_body(c->msg), nng_msg_len(c->msg));
	metrics_rpc(c->method, reply != NULL ? rv : FLOW_RESOURCE_EXHAUSTED, handling_us(c));
	send_reply(c, reply, reply_len);
	req_after_reply(r);
	if (r->secret)
		arena_wipe(r->arena);
}

static struct rpc_ctx *next_job(rpc_server *s, struct svc_thread *t)
{
	struct rpc_ctx *c;

	pthread_mutex_lock(&s->mu);
	while (s->head == NULL && !s->stopping) {
		t->woken = false;
		s->idle[s->n_idle++] = t;
		while (!t->woken && !s->stopping)
			pthread_cond_wait(&t->cv, &s->mu);
	}
	c = s->head;
	if (c != NULL) {
		s->head = c->next;
		if (s->head == NULL)
			s->tail = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (c != NULL)
		metrics_pool_wait(now_us() - c->queued_us);
	return c;
}

static void job_done(rpc_server *s)
{
	pthread_mutex_lock(&s->mu);
	s->busy--;
	pthread_cond_broadcast(&s->idle_cv);
	pthread_mutex_unlock(&s->mu);
}

static void *service_thread(void *arg)
{
	struct svc_thread *t = arg;
	rpc_server *s = t->srv;
	struct flow_req r = { .marker = s->marker };
	struct rpc_ctx *c;

	r.arena = arena_new(64 * 1024);
	while ((c = next_job(s, t)) != NULL) {
		if (r.arena == NULL)
			r.arena = arena_new(64 * 1024);
		if (r.arena == NULL) {
			metrics_rpc(METRICS_METHOD_UNKNOWN, FLOW_RESOURCE_EXHAUSTED, handling_us(c));
			send_reply(c, NULL, 0);
		} else {
			handle(s, &r, c);
		}
		job_done(s);
	}
	if (r.db != NULL)
		metrics_pool_open(-1);
	store_close(r.db);
	arena_free(r.arena);
	return NULL;
}

/* A listener for url, with TLS for tls+tcp://. */
static int listen_one(rpc_server *s, const char *url, const struct tls_files *tls, char *err,
		      size_t errlen)
{
	nng_listener l;
	nng_tls_config *cfg;
	int rv;

	if ((rv = nng_listener_create(&l, s->sock, url)) != 0)
		return rv;
	if (tls_url(url)) {
		if (tls_config_new(true, tls, &cfg, err, errlen) != FLOW_OK)
			return NNG_EINVAL;
		rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg); /* the listener holds its own reference */
		if (rv != 0)
			return rv;
	}
	return nng_listener_start(l, 0);
}

static int listen_all(rpc_server *s, const struct rpc_server_opts *o, char *err, size_t errlen)
{
	for (size_t i = 0; i < o->n_urls; i++) {
		int rv;

		err[0] = '\0';
		rv = listen_one(s, o->urls[i], &o->tls, err, errlen);
		if (rv == NNG_EINVAL && err[0] != '\0')
			return FLOW_INVALID_ARGUMENT;
		if (rv != 0) {
			snprintf(err, errlen, "cannot listen on %s: %s", o->urls[i], nng_strerror(rv));
			return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? FLOW_INVALID_ARGUMENT
									  : FLOW_UNAVAILABLE;
		}
		log_info("rpc.listen", "listening on %s", o->urls[i]);
	}
	return FLOW_OK;
}

static int open_contexts(rpc_server *s, int n, char *err, size_t errlen)
{
	s->ctxs = calloc((size_t)n, sizeof(*s->ctxs));
	if (s->ctxs == NULL) {
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	for (int i = 0; i < n; i++) {
		struct rpc_ctx *c = &s->ctxs[i];
		int rv;

		c->srv = s;
		if ((rv = nng_aio_alloc(&c->aio, ctx_cb, c)) != 0 ||
		    (rv = nng_ctx_open(&c->ctx, s->sock)) != 0) {
			snprintf(err, errlen, "cannot open context: %s", nng_strerror(rv));
			return FLOW_RESOURCE_EXHAUSTED;
		}
		s->n_ctxs = i + 1;
	}
	return FLOW_OK;
}

static int start_threads(rpc_server *s, int n, char *err, size_t errlen)
{
	s->threads = calloc((size_t)n, sizeof(*s->threads));
	s->idle = calloc((size_t)n, sizeof(*s->idle));
	if (s->threads == NULL || s->idle == NULL) {
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	for (int i = 0; i < n; i++) {
		s->threads[i].srv = s;
		pthread_cond_init(&s->threads[i].cv, NULL);
		if (pthread_create(&s->threads[i].th, NULL, service_thread, &s->threads[i]) != 0) {
			pthread_cond_destroy(&s->threads[i].cv);
			snprintf(err, errlen, "cannot start service thread %d", i);
			return FLOW_RESOURCE_EXHAUSTED;
		}
		s->n_threads = i + 1;
	}
	return FLOW_OK;
}

int rpc_server_start(const struct rpc_server_opts *o, rpc_server **out, char *err,
		     size_t errlen)
{
	rpc_server *s = calloc(1, sizeof(*s));
	int rv;

	if (s == NULL || (s->conninfo = strdup(o->db_conninfo)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return FLOW_RESOURCE_EXHAUSTED;
	}
	s->limits = o->limits;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle_cv, NULL);
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		snprintf(err, errlen, "cannot open socket: %s", nng_strerror(rv));
		rv = FLOW_INTERNAL;
		goto fail;
	}
	/* Requests up to twice the limit get a RESOURCE_EXHAUSTED reply;
	 * larger ones make nng drop the connection. */
	nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, o->limits.max_message * 2);
	struct waiters_ops wops = { ctx_wake, s, flow_settings.claim_poll_ms };

	if ((rv = marker_start(o->db_conninfo, MARKER_DELAY_MS, &s->marker)) != FLOW_OK) {
		snprintf(err, errlen, "cannot start the claim marker");
		goto fail;
	}
	if ((rv = waiters_start(o->db_conninfo, &wops, &s->waiters, err, errlen)) != FLOW_OK ||
	    (rv = start_threads(s, o->n_threads, err, errlen)) != FLOW_OK ||
	    (rv = open_contexts(s, o->n_contexts, err, errlen)) != FLOW_OK ||
	    (rv = listen_all(s, o, err, errlen)) != FLOW_OK)
		goto fail;
	nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, pipe_gone, s);
	for (int i = 0; i < s->n_ctxs; i++) {
		s->ctxs[i].state = CTX_RECV;
		nng_ctx_recv(s->ctxs[i].ctx, s->ctxs[i].aio);
	}
	*out = s;
	return FLOW_OK;
fail:
	rpc_server_stop(s, 0);
	return rv;
}

static void wait_idle(rpc_server *s, int grace_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += grace_ms / 1000;
	until.tv_nsec += (long)(grace_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&s->mu);
	while (s->busy > 0)
		if (pthread_cond_timedwait(&s->idle_cv, &s->mu, &until) != 0)
			break;
	if (s->busy > 0)
		log_warn("rpc.shutdown_timeout", "%d requests still running after %d ms", s->busy,
			 grace_ms);
	pthread_mutex_unlock(&s->mu);
}

void rpc_server_stop(rpc_server *s, int grace_ms)
{
	if (s == NULL)
		return;
	/* Stop taking new requests: contexts waiting for one are cancelled,
	 * and a context that sends its last reply is not re-armed. */
	atomic_store(&s->closing, true);
	for (int i = 0; i < s->n_ctxs; i++) {
		pthread_mutex_lock(&s->mu);
		bool waiting = s->ctxs[i].state == CTX_RECV;

		pthread_mutex_unlock(&s->mu);
		if (waiting)
			nng_aio_cancel(s->ctxs[i].aio);
	}
	/* Parked long polls are answered (empty) rather than dropped. */
	waiters *w;

	pthread_mutex_lock(&s->mu);
	s->no_park = true;
	w = s->waiters;
	s->waiters = NULL;
	pthread_mutex_unlock(&s->mu);
	waiters_stop(w);
	if (grace_ms > 0)
		wait_idle(s, grace_ms);
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	s->n_idle = 0;
	for (int i = 0; i < s->n_threads; i++)
		pthread_cond_signal(&s->threads[i].cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->n_threads; i++) {
		pthread_join(s->threads[i].th, NULL);
		pthread_cond_destroy(&s->threads[i].cv);
	}
	marker_stop(s->marker); /* no claim adds to it any more */
	nng_close(s->sock);
	for (int i = 0; i < s->n_ctxs; i++) {
		nng_aio_stop(s->ctxs[i].aio);
		nng_aio_free(s->ctxs[i].aio);
		if (s->ctxs[i].msg)
			nng_msg_free(s->ctxs[i].msg);
	}
	free(s->ctxs);
	free(s->threads);
	free(s->idle);
	free(s->conninfo);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->idle_cv);
	free(s);
}
