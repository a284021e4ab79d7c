/*
 * auth.c - the auth guard: who is calling, may they call this, and within
 * their budget? Plus the token helpers of the AuthService handlers.
 */
#include "auth/auth.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "arena.h"
#include "auth/password.h"
#include "log.h"
#include "status.h"
#include "store/access.h"

struct auth_config auth_config;
ratelimit *auth_rl_login_user;
ratelimit *auth_rl_login_peer;
static ratelimit *rl_admin; /* admin methods, per principal per minute */
static ratelimit *rl_rpc;   /* everything else, per principal per second */

/* ---- method policy ---- */

enum access {
	A_PUBLIC,   /* no token: Login, Refresh */
	A_SELF,     /* any principal, about itself */
	A_ADMIN,    /* admins only */
	A_WORKER,   /* WorkerService: workers and admins */
	A_PROJECT,  /* members (within their projects) and admins */
	A_OWNER,    /* as A_PROJECT, but members must own the project */
};

struct policy {
	const char *service; /* full name, "flow.v1.AuthService" */
	const char *method;  /* NULL: every other method of the service */
	enum access access;
};

/* First match wins; a method no row names is admin-only (fail closed). */
static const struct policy policies[] = {
	{ "flow.v1.AuthService", "Login", A_PUBLIC },
	{ "flow.v1.AuthService", "Refresh", A_PUBLIC },
	{ "flow.v1.AuthService", "Logout", A_SELF },
	{ "flow.v1.AuthService", "WhoAmI", A_SELF },
	{ "flow.v1.AuthService", "ChangePassword", A_SELF },
	{ "flow.v1.AuthService", "AddProjectMember", A_OWNER },
	{ "flow.v1.AuthService", "RemoveProjectMember", A_OWNER },
	{ "flow.v1.AuthService", "ListProjectMembers", A_PROJECT },
	{ "flow.v1.AuthService", NULL, A_ADMIN },
	{ "flow.v1.WorkerService", NULL, A_WORKER },
	{ "flow.v1.ProjectManager", "DeleteProject", A_OWNER },
	{ "flow.v1.ProjectManager", NULL, A_PROJECT },
	/* every project's workers and items: not for members */
	{ "flow.v1.FlowManager", "ListWorkers", A_ADMIN },
	{ "flow.v1.FlowManager", NULL, A_PROJECT },
};

static enum access method_access(const ProtobufCServiceDescriptor *svc,
				 const ProtobufCMethodDescriptor *m)
{
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		const struct policy *p = &policies[i];

		if (strcmp(p->service, svc->name) == 0 &&
		    (p->method == NULL || strcmp(p->method, m->name) == 0))
			return p->access;
	}
	return A_ADMIN;
}

/* Project-scoped methods that name no object: members may call them (the
 * handler limits them to the caller's projects). */
static bool projectless_ok(const ProtobufCMethodDescriptor *m)
{
	return strcmp(m->name, "ListProjects") == 0 || strcmp(m->name, "CreateProject") == 0;
}

const char *auth_role_name(enum flow_role role)
{
	switch (role) {
	case ROLE_ADMIN:
		return "admin";
	case ROLE_MEMBER:
		return "member";
	case ROLE_WORKER:
		return "worker";
	default:
		return "none";
	}
}

enum flow_role auth_role_parse(const char *s)
{
	if (s == NULL)
		return ROLE_NONE;
	if (strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	if (strcmp(s, "member") == 0)
		return ROLE_MEMBER;
	if (strcmp(s, "worker") == 0)
		return ROLE_WORKER;
	return ROLE_NONE;
}

/* ---- verdict cache ---- */

/*
 * Direct-mapped cache of successful checks: key is the hex SHA-256 of an
 * access token or an API key, or "w<id>" for the account that registered
 * worker <id> (in who.user_id). Only successes are cached; an entry
 * is trusted for auth_config.cache_ms, then the database is asked again.
 * A token found here is the very string that was verified, so neither its
 * signature nor its claims are checked again, only its expiry.
 */
#define CACHE_SLOTS 4096

struct cache_entry {
	char key[65];
	int64_t stamp_ms; /* 0: empty */
	struct flow_principal who;
};

static struct cache_entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t cache_slot(const char *key)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a; keys are random already */

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return (size_t)(h % CACHE_SLOTS);
}

static bool cache_get(const char *key, struct flow_principal *who)
{
	struct cache_entry *e = &cache[cache_slot(key)];
	bool hit = false;

	if (auth_config.cache_ms <= 0)
		return false;
	pthread_mutex_lock(&cache_mu);
	if (e->stamp_ms != 0 && strcmp(e->key, key) == 0 &&
	    req_now_ms() - e->stamp_ms < auth_config.cache_ms) {
		*who = e->who;
		hit = true;
	}
	pthread_mutex_unlock(&cache_mu);
	return hit;
}

static void cache_put(const char *key, const struct flow_principal *who)
{
	struct cache_entry *e = &cache[cache_slot(key)];

	if (auth_config.cache_ms <= 0)
		return;
	pthread_mutex_lock(&cache_mu);
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->who = *who;
	e->stamp_ms = req_now_ms();
	pthread_mutex_unlock(&cache_mu);
}

void auth_cache_forget_jti(const char *jti)
{
	if (jti == NULL || *jti == '\0')
		return;
	pthread_mutex_lock(&cache_mu);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (!cache[i].who.via_api_key && strcmp(cache[i].who.jti, jti) == 0)
			cache[i].stamp_ms = 0;
	pthread_mutex_unlock(&cache_mu);
}

void auth_cache_forget_user(int64_t user_id)
{
	pthread_mutex_lock(&cache_mu);
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (user_id < 0 || cache[i].who.user_id == user_id)
			cache[i].stamp_ms = 0;
	pthread_mutex_unlock(&cache_mu);
}

/* ---- secrets ---- */

void auth_digest(const char *s, uint8_t digest[32])
{
	SHA256((const unsigned char *)s, strlen(s), digest);
}

bool auth_digest_equal(const uint8_t a[32], const uint8_t b[32])
{
	return CRYPTO_memcmp(a, b, 32) == 0;
}

static void hex_digest(const uint8_t d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

#define SECRET_BYTES 32
#define SECRET_CHARS 43 /* base64url of 32 bytes, no padding */

int auth_new_secret(const char *kind, const char *id, char *out, size_t outlen,
		    uint8_t digest[32])
{
	uint8_t raw[SECRET_BYTES];
	char b64[64];
	int n;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw)); /* 44 chars, one '=' */
	OPENSSL_cleanse(raw, sizeof(raw));
	b64[SECRET_CHARS] = '\0';
	for (char *p = b64; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	n = snprintf(out, outlen, "%s_%s_%s", kind, id, b64);
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			OPENSSL_cleanse(out, outlen);
		return -1;
	}
	auth_digest(out, digest);
	return 0;
}

int auth_secret_parse(const char *s, const char *kind, char *id, size_t idlen)
{
	size_t k = strlen(kind), n = 0;
	const char *p;

	if (s == NULL || strncmp(s, kind, k) != 0 || s[k] != '_')
		return -1;
	for (p = s + k + 1; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z'); p++)
		n++;
	if (n == 0 || n >= idlen || *p != '_' || strlen(p + 1) != SECRET_CHARS)
		return -1;
	for (const char *q = p + 1; *q; q++)
		if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') ||
		      (*q >= 'A' && *q <= 'Z') || *q == '-' || *q == '_'))
			return -1;
	memcpy(id, s + k + 1, n);
	id[n] = '\0';
	return 0;
}

int auth_issue_access(struct flow_req *r, int64_t user_id, enum flow_role role, char *out,
		      size_t outlen, struct jwt_claims *claims)
{
	struct jwt_claims c = { 0 };
	int rv;

	/* tokens name the user by id (sub): a rename cannot confuse them */
	if (jwt_new_jti(c.jti) != 0)
		return req_error(r, FLOW_INTERNAL, "cannot issue a token");
	snprintf(c.sub, sizeof(c.sub), "%" PRId64, user_id);
	snprintf(c.role, sizeof(c.role), "%s", auth_role_name(role));
	snprintf(c.iss, sizeof(c.iss), "%s", auth_config.issuer);
	snprintf(c.aud, sizeof(c.aud), "%s", auth_config.audience);
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + auth_config.access_ttl_s;
	rv = jwt_sign(&c, auth_config.key, auth_config.key_len, out, outlen);
	if (rv != FLOW_OK)
		return req_error(r, FLOW_INTERNAL, "cannot issue a token");
	if (claims)
		*claims = c;
	return FLOW_OK;
}

/* ---- rate limits ---- */

int auth_rate(struct flow_req *r, ratelimit *rl, const char *key, const char *what)
{
	uint32_t wait_ms = 0;

	if (rl == NULL || ratelimit_allow(rl, key, req_now_ms(), &wait_ms))
		return FLOW_OK;
	r->retry_after_ms = wait_ms;
	return req_error(r, FLOW_RESOURCE_EXHAUSTED, "too many %s; retry in %u s", what,
			 (wait_ms + 999) / 1000);
}

/*
 * A limiter tracking up to max_keys keys, fewer when the budget is large:
 * the sliding log keeps 8 bytes per allowed event per key, and a limiter
 * may use LIMITER_MEMORY bytes (but tracks at least LIMITER_MIN_KEYS keys).
 * When more keys are active than tracked, the least recently used key is
 * forgotten, which can only make the limit laxer, never deny wrongly.
 */
#define LIMITER_MEMORY (16u << 20)
#define LIMITER_MIN_KEYS 64u

static ratelimit *limiter(int events, int window_ms, size_t max_keys)
{
	size_t fit = LIMITER_MEMORY / (64 + 8 * (size_t)events);

	if (fit < max_keys)
		max_keys = fit < LIMITER_MIN_KEYS ? LIMITER_MIN_KEYS : fit;
	return ratelimit_new(events, window_ms, max_keys);
}

int auth_init(void)
{
	const struct auth_config *c = &auth_config;

	auth_shutdown();
	auth_rl_login_user = limiter(c->login_rate, c->login_window_s * 1000, 65536);
	auth_rl_login_peer = limiter(c->login_peer_rate, c->login_window_s * 1000, 65536);
	rl_admin = limiter(c->admin_rate, 60 * 1000, 4096);
	rl_rpc = c->rpc_rate > 0 ? limiter(c->rpc_rate, 1000, 4096) : NULL;
	if (auth_rl_login_user == NULL || auth_rl_login_peer == NULL || rl_admin == NULL ||
	    (c->rpc_rate > 0 && rl_rpc == NULL)) {
		auth_shutdown();
		return FLOW_INTERNAL;
	}
	auth_cache_forget_user(-1);
	return password_init();
}

void auth_shutdown(void)
{
	ratelimit_free(auth_rl_login_user);
	ratelimit_free(auth_rl_login_peer);
	ratelimit_free(rl_admin);
	ratelimit_free(rl_rpc);
	auth_rl_login_user = auth_rl_login_peer = rl_admin = rl_rpc = NULL;
}

/* ---- authentication ---- */

static int access_token(struct flow_req *r, const char *token)
{
	struct jwt_claims c;
	struct flow_principal who = { 0 };
	uint8_t digest[32];
	char err[128], key[65], *end;
	long long uid;
	int rv;

	auth_digest(token, digest);
	hex_digest(digest, key);
	if (cache_get(key, &who) && !who.via_api_key &&
	    (int64_t)time(NULL) - auth_config.leeway_s < who.exp_s) {
		r->who = who;
		return FLOW_OK;
	}
	memset(&who, 0, sizeof(who));
	rv = jwt_verify(token, auth_config.key, auth_config.key_len, auth_config.issuer,
			auth_config.audience, (int64_t)time(NULL), auth_config.leeway_s, &c, err,
			sizeof(err));
	if (rv != FLOW_OK)
		return req_error(r, rv == FLOW_UNAUTHENTICATED ? rv : FLOW_INTERNAL,
				 "invalid access token: %s", err);
	uid = strtoll(c.sub, &end, 10);
	if (*end != '\0' || uid <= 0)
		return req_error(r, FLOW_UNAUTHENTICATED, "invalid access token: bad subject");
	rv = store_access_token_state(r, uid, c.jti, c.iat, &who.role, who.username,
				      sizeof(who.username));
	if (rv != FLOW_OK)
		return rv;
	who.user_id = uid;
	snprintf(who.jti, sizeof(who.jti), "%s", c.jti);
	who.exp_s = c.exp;
	cache_put(key, &who);
	r->who = who;
	return FLOW_OK;
}

static int api_key(struct flow_req *r, const char *token)
{
	struct flow_principal who = { 0 };
	uint8_t given[32], stored[32];
	char id[16], prefix[24], key[65];
	int rv;

	if (auth_secret_parse(token, "flk", id, sizeof(id)) != 0)
		return req_error(r, FLOW_UNAUTHENTICATED, "invalid API key");
	auth_digest(token, given);
	hex_digest(given, key);
	if (!cache_get(key, &who)) {
		snprintf(prefix, sizeof(prefix), "flk_%s", id);
		rv = store_access_api_key(r, prefix, stored, &who.api_key_id, &who.user_id,
					  who.username, sizeof(who.username), &who.role);
		if (rv != FLOW_OK)
			return rv;
		if (!auth_digest_equal(given, stored))
			return req_error(r, FLOW_UNAUTHENTICATED, "invalid API key");
		who.via_api_key = true;
		cache_put(key, &who);
	}
	r->who = who;
	return FLOW_OK;
}

static int authenticate(struct flow_req *r, const char *token)
{
	if (token == NULL || *token == '\0')
		return req_error(r, FLOW_UNAUTHENTICATED,
				 "this call needs credentials: log in (flowctl login) or set "
				 "FLOW_TOKEN or FLOW_API_KEY");
	if (strncmp(token, "flk_", 4) == 0)
		return api_key(r, token);
	return access_token(r, token);
}

/* ---- authorization ---- */

/* The object kind an id field names, by field name; NULL: not an object id. */
static const char *id_kind(const char *field)
{
	static const struct {
		const char *field, *kind;
	} names[] = {
		{ "project_id", "project" },	   { "ticket_id", "ticket" },
		{ "task_id", "task" },		   { "queue_id", "queue" },
		{ "queue_item_id", "item" },	   { "queue_item_ids", "item" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].field, field) == 0)
			return names[i].kind;
	return NULL;
}

/* Objects are counted (kinds NULL), then collected into arrays of n. */
struct objects {
	const char **kinds;
	int64_t *ids;
	size_t n;
};

static void add_object(struct objects *o, const char *kind, int64_t id)
{
	if (id <= 0)
		return; /* absent or invalid: the handler reports it */
	if (o->kinds != NULL) {
		o->kinds[o->n] = kind;
		o->ids[o->n] = id;
	}
	o->n++;
}

/* Every project/ticket/task/queue/item id in msg and its sub-messages. */
static void collect(const ProtobufCMessage *msg, struct objects *o, int depth)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	for (unsigned i = 0; i < d->n_fields && depth < 4; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)msg;
		const char *kind;

		if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (f->label == PROTOBUF_C_LABEL_REPEATED) {
				size_t n = *(const size_t *)(base + f->quantifier_offset);
				ProtobufCMessage *const *v =
					*(ProtobufCMessage *const *const *)(base + f->offset);

				for (size_t k = 0; k < n; k++)
					collect(v[k], o, depth + 1);
			} else {
				const ProtobufCMessage *sub =
					*(const ProtobufCMessage *const *)(base + f->offset);

				if (sub != NULL)
					collect(sub, o, depth + 1);
			}
			continue;
		}
		if (f->type != PROTOBUF_C_TYPE_INT64 || (kind = id_kind(f->name)) == NULL)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const int64_t *v = *(const int64_t *const *)(base + f->offset);

			for (size_t k = 0; k < n; k++)
				add_object(o, kind, v[k]);
		} else if (f->label == PROTOBUF_C_LABEL_REQUIRED ||
			   *(const protobuf_c_boolean *)(base + f->quantifier_offset)) {
			add_object(o, kind, *(const int64_t *)(base + f->offset));
		}
	}
}

static int deny(struct flow_req *r, const char *why)
{
	store_audit(r, NULL, "permission.denied", r->method, "denied", why);
	return req_error(r, FLOW_PERMISSION_DENIED, "%s", why);
}

/* A member may touch only objects of projects it belongs to (owns). */
static int member_scope(struct flow_req *r, const ProtobufCMethodDescriptor *m,
			const ProtobufCMessage *in, bool need_owner)
{
	struct objects o = { 0 };
	int denied, rv;

	collect(in, &o, 0);
	if (o.n > 0) {
		o.kinds = arena_alloc(r->arena, o.n * sizeof(*o.kinds));
		o.ids = arena_alloc(r->arena, o.n * sizeof(*o.ids));
		if (o.kinds == NULL || o.ids == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		o.n = 0;
		collect(in, &o, 0);
	}
	if (o.n == 0)
		return projectless_ok(m) ? FLOW_OK
					 : deny(r, arena_printf(r->arena,
								"%s needs a project id for a member",
								m->name));
	rv = store_access_denied(r, r->who.user_id, o.kinds, o.ids, o.n, need_owner, &denied);
	if (rv != FLOW_OK)
		return rv;
	if (denied < 0)
		return FLOW_OK;
	return deny(r, arena_printf(r->arena, "%s %" PRId64 " is in a project you %s", o.kinds[denied],
				    o.ids[denied], need_owner ? "do not own" : "are not a member of"));
}

/* A worker principal acts only as the workers it registered. */
static int worker_scope(struct flow_req *r, const ProtobufCMessage *in)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(in->descriptor, "worker_id");
	const char *base = (const char *)in;
	struct flow_principal owner = { 0 };
	char key[32];
	int64_t id, principal = 0;
	bool found = false;
	int rv;

	if (f == NULL || f->type != PROTOBUF_C_TYPE_INT64 ||
	    !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
		return FLOW_OK; /* RegisterWorker, or no id: the handler says what is missing */
	id = *(const int64_t *)(base + f->offset);
	if (id <= 0)
		return FLOW_OK;
	/* a worker's owner never changes: cached like a token's verdict, so a
	 * Claim or Heartbeat costs no extra query */
	snprintf(key, sizeof(key), "w%" PRId64, id);
	if (cache_get(key, &owner)) {
		principal = owner.user_id;
		found = true;
	} else {
		if ((rv = store_access_worker(r, id, &principal, &found)) != FLOW_OK)
			return rv;
		owner.user_id = principal;
		if (found)
			cache_put(key, &owner);
	}
	if (found && principal != r->who.user_id)
		return deny(r, arena_printf(r->arena, "worker %" PRId64 " belongs to another account",
					    id));
	return FLOW_OK; /* an unknown worker is NOT_FOUND: it registers again */
}

static int authorize(struct flow_req *r, enum access a, const ProtobufCMethodDescriptor *m,
		     const ProtobufCMessage *in)
{
	enum flow_role role = r->who.role;

	if (role == ROLE_ADMIN || a == A_SELF)
		return FLOW_OK;
	switch (a) {
	case A_WORKER:
		if (role != ROLE_WORKER)
			return deny(r, "only workers and admins may call the worker service");
		return worker_scope(r, in);
	case A_PROJECT:
	case A_OWNER:
		if (role != ROLE_MEMBER)
			return deny(r, arena_printf(r->arena, "the %s role may not call %s",
						    auth_role_name(role), m->name));
		return member_scope(r, m, in, a == A_OWNER);
	default:
		return deny(r, arena_printf(r->arena, "%s is for admins only", m->name));
	}
}

int auth_guard(struct flow_req *r, const ProtobufCServiceDescriptor *svc,
	       const ProtobufCMethodDescriptor *m, const char *token, const ProtobufCMessage *in)
{
	enum access a = method_access(svc, m);
	char key[32];
	int rv;

	memset(&r->who, 0, sizeof(r->who));
	if (a == A_PUBLIC)
		return FLOW_OK;
	if ((rv = authenticate(r, token)) != FLOW_OK)
		return rv;
	if ((rv = authorize(r, a, m, in)) != FLOW_OK)
		return rv;
	snprintf(key, sizeof(key), "u%" PRId64, r->who.user_id);
	if (a == A_ADMIN)
		return auth_rate(r, rl_admin, key, "admin calls");
	return auth_rate(r, rl_rpc, key, "calls");
}
