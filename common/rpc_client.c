#include "rpc_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

#include "flow/v1/rpc.pb-c.h"
#include "rpc.h"
#include "status.h"

struct rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	char *url;
	char *token;
	uint32_t deadline_ms;
	size_t max_message;
};

static int st_set(struct rpc_status *st, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int st_set(struct rpc_status *st, int code, const char *fmt, ...)
{
	va_list ap;

	st->code = code;
	st->retry_after_ms = 0;
	va_start(ap, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, ap);
	va_end(ap);
	return code;
}

/* Maps an nng error of the transport to a flow code. */
static int nng_to_code(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return FLOW_DEADLINE_EXCEEDED;
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
		return FLOW_INVALID_ARGUMENT;
	case NNG_ENOMEM:
		return FLOW_RESOURCE_EXHAUSTED;
	case NNG_EMSGSIZE:
		return FLOW_RESOURCE_EXHAUSTED;
	case NNG_ECANCELED:
		return FLOW_CANCELLED;
	default:
		return FLOW_UNAVAILABLE;
	}
}

/* How long a dial refused with NNG_EAGAIN is tried again: the server's
 * listen backlog is full (hundreds of clients connecting at once, a server
 * that has just restarted), which clears as it accepts. */
#define DIAL_AGAIN_MS 2000

/* Creates the dialer (with TLS for tls+tcp://) and starts it: rv from
 * nng_dialer_start, or -1 with st set when the dialer cannot be made. */
static int dial_once(rpc_client *c, const char *url, const struct rpc_client_opts *opts,
		     struct rpc_status *st)
{
	struct tls_files env;
	const struct tls_files *f = opts && opts->tls ? opts->tls : NULL;
	nng_tls_config *cfg = NULL;
	char err[512];
	int rv;

	if ((rv = nng_dialer_create(&c->dialer, c->sock, url)) != 0) {
		st_set(st, nng_to_code(rv), "cannot connect to flowd at %s: %s", url,
		       nng_strerror(rv));
		return -1;
	}
	if (tls_url(url)) {
		if (f == NULL) {
			tls_files_from_env(&env);
			f = &env;
		}
		if (tls_config_new(false, f, &cfg, err, sizeof(err)) != FLOW_OK) {
			st_set(st, FLOW_INVALID_ARGUMENT, "%s", err);
			return -1;
		}
		rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg); /* the dialer holds its own reference */
		if (rv != 0) {
			st_set(st, FLOW_INTERNAL, "cannot use TLS: %s", nng_strerror(rv));
			return -1;
		}
	}
	return nng_dialer_start(c->dialer, opts && opts->background_dial ? NNG_FLAG_NONBLOCK : 0);
}

/* Dials; a synchronous dial refused with NNG_EAGAIN is tried again with a
 * fresh dialer (a started one cannot start again) for up to DIAL_AGAIN_MS. */
static int dial(rpc_client *c, const char *url, const struct rpc_client_opts *opts,
		struct rpc_status *st)
{
	int rv, waited = 0, pause = 5;

	while ((rv = dial_once(c, url, opts, st)) == NNG_EAGAIN && waited < DIAL_AGAIN_MS) {
		nng_dialer_close(c->dialer);
		nng_msleep(pause);
		waited += pause;
		pause = pause < 100 ? pause * 2 : 100;
	}
	if (rv < 0)
		return st->code;
	if (rv != 0)
		return st_set(st, nng_to_code(rv), "cannot connect to flowd at %s: %s", url,
			      nng_strerror(rv));
	return FLOW_OK;
}

int rpc_client_open(const char *url, const struct rpc_client_opts *opts,
		    rpc_client **out, struct rpc_status *st)
{
	rpc_client *c;
	int rv;

	memset(st, 0, sizeof(*st));
	if (url == NULL || *url == '\0')
		return st_set(st, FLOW_INVALID_ARGUMENT, "no server URL given (use --url or FLOW_URL)");
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	c->deadline_ms = opts && opts->deadline_ms ? opts->deadline_ms : 30000;
	c->max_message = opts && opts->max_message ? opts->max_message : RPC_DEFAULT_MAX_MESSAGE;
	c->url = strdup(url);
	if (c->url == NULL || (opts && opts->token && rpc_client_set_token(c, opts->token) != 0)) {
		rpc_client_close(c);
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		free(c->url);
		free(c->token);
		free(c);
		return st_set(st, FLOW_INTERNAL, "cannot open socket: %s", nng_strerror(rv));
	}
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, c->max_message);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 50);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 2000);
	if ((rv = dial(c, url, opts, st)) != FLOW_OK) {
		rpc_client_close(c);
		return rv;
	}
	*out = c;
	return FLOW_OK;
}

void rpc_client_close(rpc_client *c)
{
	if (c == NULL)
		return;
	nng_close(c->sock);
	free(c->url);
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}

int rpc_client_set_token(rpc_client *c, const char *token)
{
	char *t = NULL;

	if (token != NULL && (t = strdup(token)) == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = t;
	return FLOW_OK;
}

/* One synchronous exchange on a fresh context; *reply owned by caller. */
static int exchange(rpc_client *c, nng_msg *msg, nng_msg **reply, struct rpc_status *st)
{
	nng_ctx ctx;
	nng_aio *aio;
	int rv;

	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_msg_free(msg);
		return st_set(st, FLOW_INTERNAL, "cannot open context: %s", nng_strerror(rv));
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_ctx_close(ctx);
		nng_msg_free(msg);
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	/* One deadline covers send and receive. */
	nng_time deadline = nng_clock() + c->deadline_ms;

	nng_aio_set_timeout(aio, (nng_duration)c->deadline_ms);
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio));
		goto fail;
	}
	nng_time now = nng_clock();

	nng_aio_set_timeout(aio, now >= deadline ? 1 : (nng_duration)(deadline - now));
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto fail;
	*reply = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return FLOW_OK;
fail:
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	if (rv == NNG_ETIMEDOUT)
		return st_set(st, FLOW_DEADLINE_EXCEEDED,
			      "no reply from flowd at %s within %u ms", c->url, c->deadline_ms);
	return st_set(st, nng_to_code(rv), "call to flowd at %s failed: %s", c->url,
		      nng_strerror(rv));
}

int rpc_client_call_raw(rpc_client *c, const void *data, size_t len, void **reply,
			size_t *reply_len, struct rpc_status *st)
{
	nng_msg *msg = NULL, *rep = NULL;
	int rv;

	memset(st, 0, sizeof(*st));
	if (nng_msg_alloc(&msg, len) != 0)
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	memcpy(nng_msg_body(msg), data, len);
	if ((rv = exchange(c, msg, &rep, st)) != FLOW_OK)
		return rv;
	*reply_len = nng_msg_len(rep);
	*reply = malloc(*reply_len ? *reply_len : 1);
	if (*reply == NULL) {
		nng_msg_free(rep);
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	memcpy(*reply, nng_msg_body(rep), *reply_len);
	nng_msg_free(rep);
	return FLOW_OK;
}

/* Encodes the envelope for req into a new nng message. */
static int encode_request(rpc_client *c, const char *method, const ProtobufCMessage *req,
			  struct rpc_status *st, nng_msg **out)
{
	Flow__V1__RpcRequest env = FLOW__V1__RPC_REQUEST__INIT;
	size_t body_len = protobuf_c_message_get_packed_size(req);
	uint8_t *body = malloc(body_len ? body_len : 1);
	nng_msg *msg = NULL;

	if (body == NULL)
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	protobuf_c_message_pack(req, body);
	env.method = (char *)method;
	env.has_body = 1;
	env.body.data = body;
	env.body.len = body_len;
	env.token = c->token;
	env.request_id = st->request_id;
	env.has_deadline_ms = 1;
	env.deadline_ms = c->deadline_ms;
	size_t len = flow__v1__rpc_request__get_packed_size(&env);

	if (len > c->max_message) {
		explicit_bzero(body, body_len);
		free(body);
		return st_set(st, FLOW_RESOURCE_EXHAUSTED,
			      "request is %zu bytes, more than the %zu-byte message limit", len,
			      c->max_message);
	}
	if (nng_msg_alloc(&msg, len) != 0) {
		explicit_bzero(body, body_len);
		free(body);
		return st_set(st, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	flow__v1__rpc_request__pack(&env, nng_msg_body(msg));
	explicit_bzero(body, body_len); /* may hold a password */
	free(body);
	*out = msg;
	return FLOW_OK;
}

static int decode_reply(nng_msg *rep, const ProtobufCMethodDescriptor *m,
			ProtobufCAllocator *alloc, ProtobufCMessage **resp,
			struct rpc_status *st)
{
	Flow__V1__RpcResponse *env;

	env = flow__v1__rpc_response__unpack(NULL, nng_msg_len(rep), nng_msg_body(rep));
	if (env == NULL)
		return st_set(st, FLOW_INTERNAL, "reply from flowd does not decode");
	st->code = env->has_code ? (int)env->code : FLOW_OK;
	st->retry_after_ms = env->has_retry_after_ms ? env->retry_after_ms : 0;
	snprintf(st->message, sizeof(st->message), "%s", env->message ? env->message : "");
	if (st->code == FLOW_OK) {
		*resp = protobuf_c_message_unpack(m->output, alloc,
						  env->has_body ? env->body.len : 0,
						  env->has_body ? env->body.data : NULL);
		if (*resp == NULL)
			st_set(st, FLOW_INTERNAL, "reply body of %s does not decode", m->name);
	}
	flow__v1__rpc_response__free_unpacked(env, NULL);
	return st->code;
}

int rpc_client_call(rpc_client *c, const char *method, const ProtobufCMessage *req,
		    ProtobufCAllocator *alloc, ProtobufCMessage **resp,
		    struct rpc_status *st)
{
	const ProtobufCMethodDescriptor *m;
	nng_msg *msg = NULL, *rep = NULL;
	int rv;

	memset(st, 0, sizeof(*st));
	*resp = NULL;
	rpc_new_request_id(st->request_id, sizeof(st->request_id));
	if ((rv = rpc_method_find(method, NULL, &m)) != FLOW_OK)
		return st_set(st, rv, "unknown method %s", method);
	if (req->descriptor != m->input)
		return st_set(st, FLOW_INVALID_ARGUMENT, "%s takes %s, not %s", method,
			      m->input->name, req->descriptor->name);
	if ((rv = encode_request(c, method, req, st, &msg)) != FLOW_OK)
		return rv;
	if ((rv = exchange(c, msg, &rep, st)) != FLOW_OK)
		return rv;
	rv = decode_reply(rep, m, alloc, resp, st);
	explicit_bzero(nng_msg_body(rep), nng_msg_len(rep)); /* may hold tokens */
	nng_msg_free(rep);
	return rv;
}
