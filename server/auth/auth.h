/*
 * auth.h - authentication and authorization of every RPC (the auth guard),
 * and the token and rate-limit helpers the AuthService handlers share.
 *
 * auth_guard() runs in dispatch after the request body decodes and before
 * the handler:
 *   1. the method's access class (auth.c's policy table) decides whether a
 *      token is needed: Login and Refresh are public, everything else needs
 *      RpcRequest.token, else UNAUTHENTICATED;
 *   2. the token is an access token (a JWT: jwt_verify with the server's key,
 *      issuer and audience, then the revocation check) or an API key
 *      ("flk_<prefix>_<secret>": looked up by prefix, SHA-256 digest compared
 *      in constant time). The verdict of the revocation/key lookup is cached
 *      per process for auth_config.cache_ms (bounded staleness); a
 *      revocation made through this process drops its cache entries at once;
 *   3. the principal (r->who) must hold the method's role: worker only
 *      WorkerService, and only as the workers it registered; member the
 *      project methods, limited to the projects it
 *      belongs to (every project/ticket/task/queue/item id in the request is
 *      resolved to its project); admin everything; else PERMISSION_DENIED,
 *      recorded in the audit log;
 *   4. the per-principal budgets: admin methods auth_config.admin_rate per
 *      minute, everything else auth_config.rpc_rate per second; over the
 *      limit RESOURCE_EXHAUSTED with retry_after_ms.
 * Only then does the handler run, so a refused call changes nothing.
 *
 * All functions are thread-safe after auth_init().
 */
#ifndef FLOW_AUTH_H
#define FLOW_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "jwt.h"
#include "ratelimit.h"
#include "req.h"

struct auth_config {
	uint8_t key[1024]; /* HMAC key for access tokens */
	size_t key_len;
	char issuer[128];
	char audience[128];
	int access_ttl_s;   /* access token lifetime */
	int refresh_ttl_s;  /* refresh token (family) lifetime */
	int leeway_s;       /* clock skew allowed on exp / iat */
	int cache_ms;       /* revocation / API key verdicts cached this long */
	int lockout_threshold;  /* consecutive failures that lock an account */
	int lockout_base_s;     /* first lockout; doubles on each repeat */
	int lockout_max_s;      /* cap on a lockout */
	int login_rate;         /* login attempts per (username, peer) per window */
	int login_peer_rate;    /* login attempts per peer per window */
	int login_window_s;
	int admin_rate;         /* admin calls per principal per minute */
	int rpc_rate;           /* other calls per principal per second; 0: no limit */
};

/* Filled by config_apply() before auth_init(); read-only afterwards. */
extern struct auth_config auth_config;

/* Limiters shared by the guard and the Login handler (auth_init makes them). */
extern ratelimit *auth_rl_login_user; /* key "<username>@<peer>" */
extern ratelimit *auth_rl_login_peer; /* key "<peer>" */

/* Creates the limiters and the dummy password hash. FLOW_OK or FLOW_INTERNAL. */
int auth_init(void);
void auth_shutdown(void);

/*
 * The guard (see above). svc/m is the method being called, token the
 * envelope's token (may be NULL), in the decoded request. Returns FLOW_OK
 * with r->who set, or the code of req_error().
 */
int auth_guard(struct flow_req *r, const ProtobufCServiceDescriptor *svc,
	       const ProtobufCMethodDescriptor *m, const char *token, const ProtobufCMessage *in);

/* "admin", "member", "worker" ("none" for ROLE_NONE). */
const char *auth_role_name(enum flow_role role);
/* The role named s, or ROLE_NONE. */
enum flow_role auth_role_parse(const char *s);

/*
 * Rate limit helper: records an event for key in rl. FLOW_OK, or
 * FLOW_RESOURCE_EXHAUSTED after req_error() with r->retry_after_ms set and
 * the message "too many <what>; retry in N s".
 */
int auth_rate(struct flow_req *r, ratelimit *rl, const char *key, const char *what);

/*
 * Signs a new access token for the user (jti fresh, iat now, exp now +
 * access_ttl_s) into out (JWT_MAX_TOKEN + 1 bytes suffice). *claims (may be
 * NULL) gets the claims. FLOW_OK or FLOW_INTERNAL after req_error().
 */
int auth_issue_access(struct flow_req *r, int64_t user_id, enum flow_role role, char *out,
		      size_t outlen, struct jwt_claims *claims);

/*
 * A new secret of the form "<kind>_<id>_<secret>" where secret is 32 random
 * bytes as base64url (43 characters): kind is "flk" (API keys, id is the
 * visible prefix) or "flr" (refresh tokens, id the row id). digest gets the
 * SHA-256 of the whole string. out needs AUTH_SECRET_MAX bytes. 0 or -1.
 */
#define AUTH_SECRET_MAX 128
int auth_new_secret(const char *kind, const char *id, char *out, size_t outlen,
		    uint8_t digest[32]);
/* SHA-256 of s (its strlen bytes). */
void auth_digest(const char *s, uint8_t digest[32]);
/* Constant-time equality of two digests. */
bool auth_digest_equal(const uint8_t a[32], const uint8_t b[32]);

/*
 * Splits "<kind>_<id>_<secret>": checks kind, copies id (1..idlen-1 chars
 * of [0-9a-z]) into id. 0, or -1 when s has not that shape.
 */
int auth_secret_parse(const char *s, const char *kind, char *id, size_t idlen);

/* Drops cached verdicts: of one access token, or of everything of a user
 * (user_id), or everything (user_id < 0). */
void auth_cache_forget_jti(const char *jti);
void auth_cache_forget_user(int64_t user_id);

#endif
