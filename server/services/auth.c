/*
 * AuthService handlers: logins and token pairs, users and service
 * accounts, API keys, project membership and the audit log.
 *
 * The auth guard (auth/auth.c) has already authenticated the caller
 * (r->who) and checked the method's role before a handler here runs:
 * Login and Refresh are public, Logout/WhoAmI/ChangePassword act on the
 * caller, the membership methods need an admin or the project's owner (a
 * member for the list), everything else an admin.
 *
 * Secrets: passwords are only hashed or verified (Argon2id, auth/password.h);
 * refresh tokens and API keys are returned once and stored as SHA-256
 * digests. None of them is ever logged, audited or put in an error message.
 *
 * Semantics chosen here (see also docs/security.md):
 *  - Login always verifies exactly one Argon2id hash: the user's, or the
 *    dummy hash when the user is unknown, a service account, disabled or
 *    locked; every failure answers UNAUTHENTICATED "invalid username or
 *    password". Only a wrong password checked against the real hash counts
 *    towards the lockout: attempts while locked neither count nor extend
 *    the lock.
 *  - Refresh tokens rotate: each is valid once; presenting a used or
 *    revoked one (whose digest matches) revokes its whole family. A token
 *    that does not match changes nothing, so guessing cannot revoke.
 *  - Logout revokes the calling access token and the login (refresh
 *    family) it came from, plus the family of the refresh token given.
 *    API-key callers get FAILED_PRECONDITION: keys are revoked with
 *    RevokeApiKey.
 *  - ChangePassword, an admin password reset, a role change, disabling and
 *    RevokeUserTokens revoke every token of the user, the caller's current
 *    one included (log in again after changing your password).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "flow/v1/auth.pb-c.h"
#include "log.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "status.h"
#include "store/access.h"
#include "store/users.h"

#define MSG_BAD_LOGIN "invalid username or password"
#define MSG_BAD_REFRESH "invalid refresh token"
#define MSG_REUSED "refresh token was already used; every token of this login has been revoked"

#define KEY_NAME_MAX_CHARS 200
#define KEY_DAYS_MAX 3650
#define KEY_PREFIX_TRIES 4
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define FILTER_MAX_CHARS 200

#define OOM(r) req_error((r), FLOW_RESOURCE_EXHAUSTED, "out of memory")

/* ---- shared checks ---- */

/* "user:<name>" for audit targets. */
static const char *user_target(struct flow_req *r, const char *name)
{
	const char *s = arena_printf(r->arena, "user:%s", name);

	return s ? s : "user:?";
}

/* A username field: present, one line, and of the username shape. */
static int check_username(struct flow_req *r, const char *field, const char *s)
{
	int rv = convert_line(r, field, s, USERS_NAME_MAX, true);

	if (rv != FLOW_OK)
		return rv;
	if (!users_name_valid(s))
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "%s must be 1 to %d letters, digits, '.', '_', '@' or '-', "
				 "starting with a letter or digit",
				 field, USERS_NAME_MAX);
	return FLOW_OK;
}

/* The role of a new or changed account: admin|member for users,
 * worker|member for service accounts. */
static int check_role(struct flow_req *r, const char *role, bool service)
{
	enum flow_role v = auth_role_parse(role);

	if (service ? (v == ROLE_WORKER || v == ROLE_MEMBER)
		    : (v == ROLE_ADMIN || v == ROLE_MEMBER))
		return FLOW_OK;
	return req_error(r, FLOW_INVALID_ARGUMENT, "role must be %s",
			 service ? "worker or member for a service account"
				 : "admin or member for a user");
}

/* A new password: present and strong enough (the reason never quotes it). */
static int check_new_password(struct flow_req *r, const char *field, const char *pw,
			      const char *username)
{
	char why[256];

	if (pw == NULL || *pw == '\0')
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s is required", field);
	if (password_strength(pw, username, why, sizeof(why)) != FLOW_OK)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s is not accepted: %s", field, why);
	return FLOW_OK;
}

static int hash_password(struct flow_req *r, const char *pw, char out[PASSWORD_ENCODED_MAX])
{
	if (password_hash(pw, out, PASSWORD_ENCODED_MAX) != FLOW_OK)
		return req_error(r, FLOW_INTERNAL, "cannot hash the password");
	return FLOW_OK;
}

/* The row id of a refresh token "flr_<id>_<secret>"; UNAUTHENTICATED
 * "invalid refresh token" when tok has not that shape. */
static int refresh_id(struct flow_req *r, const char *tok, int64_t *id)
{
	char buf[24], *end;
	long long v;

	if (auth_secret_parse(tok, "flr", buf, sizeof(buf)) != 0)
		return req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_REFRESH);
	v = strtoll(buf, &end, 10);
	if (*end != '\0' || v <= 0 || buf[0] == '0')
		return req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_REFRESH);
	*id = v;
	return FLOW_OK;
}

/* The refresh token row tok names, if tok is exactly its token (digest
 * compared in constant time); UNAUTHENTICATED "invalid refresh token"
 * otherwise. */
static int refresh_lookup(struct flow_req *r, const char *tok, struct users_refresh *t)
{
	uint8_t d[32];
	bool found = false;
	int64_t id = 0;
	int rv;

	if ((rv = refresh_id(r, tok, &id)) != FLOW_OK)
		return rv;
	if ((rv = users_refresh_get(r, id, false, t, &found)) != FLOW_OK)
		return rv;
	auth_digest(tok, d);
	if (!found || !auth_digest_equal(d, t->digest))
		return req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_REFRESH);
	return FLOW_OK;
}

/* ---- token pairs ---- */

/*
 * In the caller's transaction, with the user's row locked: signs an access
 * token and stores a refresh token issued with it (old_id 0: a new login;
 * else the successor of old_id in its family).
 */
static int issue_pair(struct flow_req *r, int64_t uid, const char *username, enum flow_role role,
		      int64_t old_id, Flow__V1__TokenPair **out)
{
	char access[JWT_MAX_TOKEN + 1], refresh[AUTH_SECRET_MAX], id_text[24];
	Flow__V1__TokenPair *tp;
	struct jwt_claims c;
	uint8_t digest[32];
	int64_t id, refresh_exp = 0;
	int rv;

	tp = SERVICE_NEW(r, Flow__V1__TokenPair, flow__v1__token_pair__descriptor);
	if (tp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	refresh[0] = '\0';
	if ((rv = auth_issue_access(r, uid, role, access, sizeof(access), &c)) != FLOW_OK)
		return rv;
	if ((rv = users_refresh_next_id(r, &id)) != FLOW_OK)
		goto wipe;
	snprintf(id_text, sizeof(id_text), "%" PRId64, id);
	if (auth_new_secret("flr", id_text, refresh, sizeof(refresh), digest) != 0) {
		rv = req_error(r, FLOW_INTERNAL, "cannot issue a token");
		goto wipe;
	}
	rv = users_refresh_insert(r, id, uid, old_id, digest, c.jti, c.exp,
				  auth_config.refresh_ttl_s, &refresh_exp);
	if (rv != FLOW_OK)
		goto wipe;
	tp->has_access_expires_at = tp->has_refresh_expires_at = true;
	tp->access_token = arena_strdup(r->arena, access);
	tp->access_expires_at = c.exp * 1000;
	tp->refresh_token = arena_strdup(r->arena, refresh);
	tp->refresh_expires_at = refresh_exp;
	tp->username = arena_strdup(r->arena, username);
	tp->role = (char *)auth_role_name(role);
	if (tp->access_token == NULL || tp->refresh_token == NULL || tp->username == NULL)
		rv = OOM(r);
	else
		*out = tp;
wipe:
	OPENSSL_cleanse(access, sizeof(access));
	OPENSSL_cleanse(refresh, sizeof(refresh));
	return rv;
}

/* ---- Login ---- */

/* Records a failed login (counting it when the real hash was checked) and
 * gives the one answer every failure gets. */
static int login_failed(struct flow_req *r, const char *username, const struct users_cred *u,
			bool counted)
{
	const char *target = user_target(r, username);
	const char *why = u == NULL	? "unknown user"
			  : u->service	? "service account"
			  : u->disabled ? "account disabled"
			  : u->locked	? "account locked"
					: "wrong password";
	int locked_for = 0;

	if (counted &&
	    users_login_failed(r, u->id, auth_config.lockout_threshold, auth_config.lockout_base_s,
			       auth_config.lockout_max_s, &locked_for) != FLOW_OK) {
		log_warn("auth.login_count", "cannot count a failed login of %s: %s", username,
			 r->message);
		locked_for = 0;
	}
	store_audit(r, username, "login", target, "failed", why);
	if (locked_for > 0) {
		log_warn("auth.lockout",
			 "user %s locked for %d s after %d failed logins (last from %s)", username,
			 locked_for, auth_config.lockout_threshold, r->peer);
		store_audit(r, username, "user.lockout", target, "ok",
			    arena_printf(r->arena, "locked for %d s after %d failed logins",
					 locked_for, auth_config.lockout_threshold));
	}
	return req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_LOGIN);
}

/* The password was right: clear the failure counters, re-hash if the hash
 * is outdated, and issue a token pair. */
static int login_ok(struct flow_req *r, const char *password, const struct users_cred *u,
		    const char *rate_key, Flow__V1__TokenPair **out)
{
	char fresh[PASSWORD_ENCODED_MAX], name[USERS_NAME_MAX + 8];
	const char *new_hash = NULL;
	enum flow_role role = ROLE_NONE;
	bool ok = false;
	int rv;

	if (password_needs_rehash(u->hash) &&
	    password_hash(password, fresh, sizeof(fresh)) == FLOW_OK)
		new_hash = fresh;
	if ((rv = users_login_succeeded(r, u->id, new_hash, u->hash)) != FLOW_OK)
		return rv;
	if ((rv = users_tx_begin(r)) != FLOW_OK)
		return rv;
	rv = users_lock_for_tokens(r, u->id, &ok, &role, name, sizeof(name));
	if (rv == FLOW_OK && !ok) /* disabled in the meantime */
		rv = req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_LOGIN);
	if (rv == FLOW_OK)
		rv = issue_pair(r, u->id, name, role, 0, out);
	if (rv == FLOW_OK)
		rv = users_tx_commit(r);
	else
		users_tx_rollback(r);
	if (rv != FLOW_OK)
		return rv;
	ratelimit_reset(auth_rl_login_user, rate_key);
	store_audit(r, name, "login", user_target(r, name), "ok", NULL);
	return FLOW_OK;
}

int h_login(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__LoginRequest *req = (const Flow__V1__LoginRequest *)in;
	Flow__V1__TokenPair *tp = NULL;
	struct users_cred u;
	const char *key, *hash;
	bool found = false, usable;
	int rv;

	if ((rv = convert_line(r, "username", req->username, USERS_NAME_MAX, true)) != FLOW_OK)
		return rv;
	if (req->password == NULL || req->password[0] == '\0')
		return req_error(r, FLOW_INVALID_ARGUMENT, "password is required");
	if ((key = arena_printf(r->arena, "%s@%s", req->username, r->peer)) == NULL)
		return OOM(r);
	if ((rv = auth_rate(r, auth_rl_login_user, key, "login attempts")) != FLOW_OK ||
	    (rv = auth_rate(r, auth_rl_login_peer, r->peer, "login attempts")) != FLOW_OK)
		return rv;
	if ((rv = users_cred_get(r, req->username, 0, &u, &found)) != FLOW_OK)
		return rv;
	/* exactly one hash verification, whatever the account's state */
	usable = found && !u.service && !u.disabled && !u.locked && u.hash != NULL;
	hash = usable ? u.hash : password_dummy_hash();
	if (hash == NULL)
		return req_error(r, FLOW_INTERNAL, "cannot check the password");
	rv = password_verify(hash, req->password);
	if (rv != FLOW_OK && rv != FLOW_UNAUTHENTICATED)
		return req_error(r, FLOW_INTERNAL, "cannot check the password");
	if (rv != FLOW_OK || !usable)
		return login_failed(r, req->username, found ? &u : NULL, usable);
	if ((rv = login_ok(r, req->password, &u, key, &tp)) != FLOW_OK)
		return rv;
	*out = &tp->base;
	return FLOW_OK;
}

/* ---- Refresh ---- */

/* A used or revoked refresh token came back. Used: someone holds a copy,
 * the whole login is revoked. Revoked (logout, password change, an admin):
 * the login is over already; the family is revoked again all the same. */
static int refresh_reused(struct flow_req *r, const struct users_refresh *t, const char *name)
{
	int rv = users_revoke_family(r, t->family, NULL);

	auth_cache_forget_user(t->user_id);
	if (rv != FLOW_OK)
		return rv;
	if (!t->used)
		return req_error(r, FLOW_UNAUTHENTICATED, "refresh token has been revoked; log in again");
	log_warn("auth.token_reuse", "a used refresh token of %s came back from %s; login revoked",
		 name, r->peer);
	store_audit(r, name, "token.reuse", user_target(r, name), "denied",
		    arena_printf(r->arena, "refresh token family %" PRId64 " revoked", t->family));
	return req_error(r, FLOW_UNAUTHENTICATED, MSG_REUSED);
}

int h_refresh(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__RefreshRequest *req = (const Flow__V1__RefreshRequest *)in;
	Flow__V1__TokenPair *tp = NULL;
	struct users_refresh t, cur;
	char name[USERS_NAME_MAX + 8] = "-";
	enum flow_role role = ROLE_NONE;
	bool ok = false, found = false, reused = false;
	int rv;

	if (req->refresh_token == NULL || req->refresh_token[0] == '\0')
		return req_error(r, FLOW_INVALID_ARGUMENT, "refreshToken is required");
	if ((rv = refresh_lookup(r, req->refresh_token, &t)) != FLOW_OK)
		return rv;
	/* the user's row, then the token's, as every issuer and revoker locks them */
	if ((rv = users_tx_begin(r)) != FLOW_OK)
		return rv;
	rv = users_lock_for_tokens(r, t.user_id, &ok, &role, name, sizeof(name));
	if (rv == FLOW_OK)
		rv = users_refresh_get(r, t.id, true, &cur, &found);
	if (rv == FLOW_OK) {
		if (!found) /* cleaned up meanwhile */
			rv = req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_REFRESH);
		else if ((reused = cur.spent))
			rv = FLOW_UNAUTHENTICATED; /* answered after the rollback */
		else if (cur.expired)
			rv = req_error(r, FLOW_UNAUTHENTICATED, "refresh token expired");
		else if (!ok) /* disabled, or turned into something else */
			rv = req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_REFRESH);
		else
			rv = issue_pair(r, t.user_id, name, role, t.id, &tp);
	}
	if (rv == FLOW_OK)
		rv = users_tx_commit(r);
	else
		users_tx_rollback(r);
	if (reused)
		return refresh_reused(r, &cur, name);
	if (rv != FLOW_OK)
		return rv;
	*out = &tp->base;
	return FLOW_OK;
}

/* ---- the caller's own session ---- */

static int need_login(struct flow_req *r)
{
	if (r->who.user_id > 0)
		return FLOW_OK;
	return req_error(r, FLOW_UNAUTHENTICATED, "this call needs a logged-in user");
}

int h_logout(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__LogoutRequest *req = (const Flow__V1__LogoutRequest *)in;
	const struct flow_principal *who = &r->who;
	Flow__V1__LogoutResponse *resp;
	struct users_refresh t;
	int64_t family = 0, given = 0;
	int rv;

	if ((rv = need_login(r)) != FLOW_OK)
		return rv;
	if (who->via_api_key)
		return req_error(r, FLOW_FAILED_PRECONDITION,
				 "API keys are revoked with RevokeApiKey, not by logging out");
	resp = SERVICE_NEW(r, Flow__V1__LogoutResponse, flow__v1__logout_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	/* a refresh token that is not exactly one of the caller's changes nothing */
	if (req->refresh_token != NULL && req->refresh_token[0] != '\0') {
		if ((rv = refresh_lookup(r, req->refresh_token, &t)) != FLOW_OK)
			return rv;
		if (t.user_id != who->user_id)
			return req_error(r, FLOW_UNAUTHENTICATED, MSG_BAD_REFRESH);
		given = t.family;
	}
	if (who->jti[0] != '\0') {
		if ((rv = users_refresh_family_of(r, who->user_id, who->jti, &family)) != FLOW_OK ||
		    (rv = users_revoke_jti(r, who->user_id, who->jti, who->exp_s)) != FLOW_OK)
			return rv;
		auth_cache_forget_jti(who->jti);
	}
	if (family > 0 && (rv = users_revoke_family(r, family, NULL)) != FLOW_OK)
		return rv;
	if (given > 0 && given != family && (rv = users_revoke_family(r, given, NULL)) != FLOW_OK)
		return rv;
	if (family > 0 || given > 0)
		auth_cache_forget_user(who->user_id);
	store_audit(r, NULL, "logout", user_target(r, who->username), "ok", NULL);
	resp->has_revoked = true;
	resp->revoked = true;
	*out = &resp->base;
	return FLOW_OK;
}

int h_who_am_i(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	Flow__V1__WhoAmIResponse *resp;
	int rv;

	(void)in;
	if ((rv = need_login(r)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__WhoAmIResponse, flow__v1__who_am_iresponse__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	resp->has_user_id = resp->has_expires_at = true;
	resp->user_id = r->who.user_id;
	resp->username = arena_strdup(r->arena, r->who.username);
	resp->role = (char *)auth_role_name(r->who.role);
	resp->via = r->who.via_api_key ? "api_key" : "password";
	resp->expires_at = r->who.via_api_key ? 0 : r->who.exp_s * 1000;
	if (resp->username == NULL)
		return OOM(r);
	*out = &resp->base;
	return FLOW_OK;
}

/* Checks the new password of a ChangePasswordRequest before any hashing. */
static int check_change(struct flow_req *r, const Flow__V1__ChangePasswordRequest *req,
			const char *username)
{
	if (req->old_password == NULL || req->old_password[0] == '\0')
		return req_error(r, FLOW_INVALID_ARGUMENT, "oldPassword is required");
	if (req->new_password != NULL && strcmp(req->old_password, req->new_password) == 0)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "newPassword must differ from oldPassword");
	return check_new_password(r, "newPassword", req->new_password, username);
}

int h_change_password(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ChangePasswordRequest *req = (const Flow__V1__ChangePasswordRequest *)in;
	Flow__V1__ChangePasswordResponse *resp;
	char hash[PASSWORD_ENCODED_MAX];
	struct users_cred u;
	const char *key;
	bool found = false;
	int rv;

	if ((rv = need_login(r)) != FLOW_OK)
		return rv;
	if ((rv = users_cred_get(r, NULL, r->who.user_id, &u, &found)) != FLOW_OK)
		return rv;
	if (!found)
		return req_error(r, FLOW_UNAUTHENTICATED, "this call needs a logged-in user");
	if (u.service || u.hash == NULL)
		return req_error(r, FLOW_FAILED_PRECONDITION,
				 "service accounts have no password; they use API keys");
	if ((rv = check_change(r, req, u.username)) != FLOW_OK)
		return rv;
	/* guessing the old password with a stolen token costs login attempts */
	if ((key = arena_printf(r->arena, "%s@%s", u.username, r->peer)) == NULL)
		return OOM(r);
	if ((rv = auth_rate(r, auth_rl_login_user, key, "password attempts")) != FLOW_OK)
		return rv;
	rv = password_verify(u.hash, req->old_password);
	if (rv == FLOW_UNAUTHENTICATED) {
		store_audit(r, NULL, "user.password", user_target(r, u.username), "failed",
			    "wrong old password");
		return req_error(r, FLOW_UNAUTHENTICATED, "oldPassword is incorrect");
	}
	if (rv != FLOW_OK)
		return req_error(r, FLOW_INTERNAL, "cannot check the password");
	if ((rv = hash_password(r, req->new_password, hash)) != FLOW_OK ||
	    (rv = users_set_password(r, u.id, hash, u.hash)) != FLOW_OK ||
	    (rv = users_revoke_all(r, u.id, NULL)) != FLOW_OK)
		return rv;
	auth_cache_forget_user(u.id);
	store_audit(r, NULL, "user.password", user_target(r, u.username), "ok",
		    "every token of the user revoked");
	resp = SERVICE_NEW(r, Flow__V1__ChangePasswordResponse,
			   flow__v1__change_password_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	resp->has_changed = true;
	resp->changed = true;
	*out = &resp->base;
	return FLOW_OK;
}

/* ---- users (admin) ---- */

int h_create_user(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__CreateUserRequest *req = (const Flow__V1__CreateUserRequest *)in;
	bool service = req->has_service_account && req->service_account;
	const char *role = req->role && req->role[0] ? req->role : service ? "worker" : "member";
	char hash[PASSWORD_ENCODED_MAX];
	Flow__V1__User *u;
	int rv;

	if ((rv = check_username(r, "username", req->username)) != FLOW_OK ||
	    (rv = check_role(r, role, service)) != FLOW_OK)
		return rv;
	if (service && req->password != NULL && req->password[0] != '\0')
		return req_error(
		    r, FLOW_INVALID_ARGUMENT,
		    "password must not be set for a service account (it uses API keys)");
	if (!service &&
	    ((rv = check_new_password(r, "password", req->password, req->username)) != FLOW_OK ||
	     (rv = hash_password(r, req->password, hash)) != FLOW_OK))
		return rv;
	if ((rv = users_create(r, req->username, service, role, service ? NULL : hash, &u)) !=
	    FLOW_OK)
		return rv;
	store_audit(r, NULL, "user.create", user_target(r, u->username), "ok",
		    arena_printf(r->arena, "kind=%s role=%s", u->kind, u->role));
	*out = &u->base;
	return FLOW_OK;
}

/* The checks of UpdateUser that need the account as it is (cur). */
static int check_update(struct flow_req *r, const Flow__V1__UpdateUserRequest *req,
			const Flow__V1__User *cur)
{
	bool service = strcmp(cur->kind, "service") == 0;
	bool self = cur->id == r->who.user_id;
	int rv;

	if (req->role != NULL && (rv = check_role(r, req->role, service)) != FLOW_OK)
		return rv;
	if (self && req->has_disabled && req->disabled)
		return req_error(r, FLOW_FAILED_PRECONDITION,
				 "you cannot disable your own account");
	if (self && req->role != NULL && strcmp(req->role, cur->role) != 0)
		return req_error(r, FLOW_FAILED_PRECONDITION,
				 "you cannot change your own role; ask another admin");
	if (req->password != NULL && service)
		return req_error(
		    r, FLOW_INVALID_ARGUMENT,
		    "password must not be set for a service account (it uses API keys)");
	if (req->password != NULL)
		return check_new_password(r, "password", req->password, cur->username);
	return FLOW_OK;
}

int h_update_user(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__UpdateUserRequest *req = (const Flow__V1__UpdateUserRequest *)in;
	char hash[PASSWORD_ENCODED_MAX];
	Flow__V1__User *cur, *u;
	bool revoke;
	int rv;

	if ((rv = check_username(r, "username", req->username)) != FLOW_OK)
		return rv;
	if (req->role == NULL && !req->has_disabled && req->password == NULL)
		return req_error(
		    r, FLOW_INVALID_ARGUMENT,
		    "nothing to update: give at least one of role, disabled, password");
	if ((rv = users_get(r, req->username, &cur)) != FLOW_OK ||
	    (rv = check_update(r, req, cur)) != FLOW_OK)
		return rv;
	if (req->password != NULL && (rv = hash_password(r, req->password, hash)) != FLOW_OK)
		return rv;
	revoke = (req->role != NULL && strcmp(req->role, cur->role) != 0) ||
		 (req->has_disabled && req->disabled && !cur->disabled) || req->password != NULL;
	rv = users_update(r, cur->id, req->role, req->has_disabled ? req->disabled : -1,
			  req->password != NULL ? hash : NULL, &u);
	if (rv == FLOW_OK && revoke)
		rv = users_revoke_all(r, cur->id, NULL);
	auth_cache_forget_user(cur->id);
	if (rv != FLOW_OK)
		return rv;
	store_audit(r, NULL, "user.update", user_target(r, u->username), "ok",
		    arena_printf(r->arena, "role=%s disabled=%s%s%s", u->role,
				 u->disabled ? "true" : "false",
				 req->password != NULL ? " password=reset" : "",
				 revoke ? " tokens=revoked" : ""));
	*out = &u->base;
	return FLOW_OK;
}

int h_list_users(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	Flow__V1__ListUsersResponse *resp;
	int rv;

	(void)in;
	resp =
	    SERVICE_NEW(r, Flow__V1__ListUsersResponse, flow__v1__list_users_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = users_list(r, &resp->users, &resp->n_users)) != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}

int h_unlock_user(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__UnlockUserRequest *req = (const Flow__V1__UnlockUserRequest *)in;
	Flow__V1__User *u;
	int rv;

	if ((rv = check_username(r, "username", req->username)) != FLOW_OK ||
	    (rv = users_unlock(r, req->username, &u)) != FLOW_OK)
		return rv;
	store_audit(r, NULL, "user.unlock", user_target(r, u->username), "ok", NULL);
	*out = &u->base;
	return FLOW_OK;
}

int h_revoke_user_tokens(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__RevokeUserTokensRequest *req =
	    (const Flow__V1__RevokeUserTokensRequest *)in;
	Flow__V1__RevokeUserTokensResponse *resp;
	Flow__V1__User *u;
	int n = 0, keys = 0, rv;

	if ((rv = check_username(r, "username", req->username)) != FLOW_OK ||
	    (rv = users_get(r, req->username, &u)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__RevokeUserTokensResponse,
			   flow__v1__revoke_user_tokens_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = users_revoke_all(r, u->id, &n);
	if (rv == FLOW_OK)
		rv = users_apikey_revoke_user(r, u->id, &keys);
	auth_cache_forget_user(u->id);
	if (rv != FLOW_OK)
		return rv;
	store_audit(r, NULL, "user.revoke_tokens", user_target(r, u->username), "ok",
		    arena_printf(r->arena, "%d refresh tokens and %d API keys revoked", n, keys));
	resp->has_refresh_tokens_revoked = resp->has_api_keys_revoked = true;
	resp->refresh_tokens_revoked = n;
	resp->api_keys_revoked = keys;
	*out = &resp->base;
	return FLOW_OK;
}

/* ---- API keys (admin) ---- */

static int check_key_request(struct flow_req *r, const Flow__V1__CreateApiKeyRequest *req)
{
	int rv;

	if ((rv = check_username(r, "username", req->username)) != FLOW_OK ||
	    (rv = convert_line(r, "name", req->name, KEY_NAME_MAX_CHARS, false)) != FLOW_OK)
		return rv;
	if (req->has_expires_in_days &&
	    (req->expires_in_days < 0 || req->expires_in_days > KEY_DAYS_MAX))
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "expiresInDays must be between 0 (no expiry) and %d",
				 KEY_DAYS_MAX);
	return FLOW_OK;
}

/* Makes and stores a key with a fresh random prefix; *key_out is the key
 * (arena), the only copy the caller ever sees. */
static int new_key(struct flow_req *r, const Flow__V1__User *u,
		   const Flow__V1__CreateApiKeyRequest *req, Flow__V1__ApiKey **info,
		   char **key_out)
{
	char key[AUTH_SECRET_MAX], id[9], prefix[16];
	uint8_t raw[4], digest[32];
	bool collision = true;
	int rv = FLOW_OK;

	for (int i = 0; i < KEY_PREFIX_TRIES && collision && rv == FLOW_OK; i++) {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return req_error(r, FLOW_INTERNAL, "cannot make an API key");
		snprintf(id, sizeof(id), "%02x%02x%02x%02x", raw[0], raw[1], raw[2], raw[3]);
		snprintf(prefix, sizeof(prefix), "flk_%s", id);
		if (auth_new_secret("flk", id, key, sizeof(key), digest) != 0)
			return req_error(r, FLOW_INTERNAL, "cannot make an API key");
		rv = users_apikey_create(r, u->id, u->username, req->name, prefix, digest,
					 req->has_expires_in_days ? req->expires_in_days : 0, info,
					 &collision);
		if (rv == FLOW_OK && !collision && (*key_out = arena_strdup(r->arena, key)) == NULL)
			rv = OOM(r);
		OPENSSL_cleanse(key, sizeof(key));
	}
	if (rv == FLOW_OK && collision)
		return req_error(r, FLOW_ABORTED, "could not pick a unique key prefix; try again");
	return rv;
}

int h_create_api_key(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__CreateApiKeyRequest *req = (const Flow__V1__CreateApiKeyRequest *)in;
	Flow__V1__CreateApiKeyResponse *resp;
	Flow__V1__User *u;
	int rv;

	if ((rv = check_key_request(r, req)) != FLOW_OK ||
	    (rv = users_get(r, req->username, &u)) != FLOW_OK)
		return rv;
	/* a key for a password user would bypass its lockout and password changes */
	if (strcmp(u->kind, "service") != 0)
		return req_error(r, FLOW_FAILED_PRECONDITION,
				 "API keys are for service accounts; %s logs in with a password "
				 "(create a service account: user create NAME --service-account)",
				 u->username);
	resp = SERVICE_NEW(r, Flow__V1__CreateApiKeyResponse,
			   flow__v1__create_api_key_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = new_key(r, u, req, &resp->key_info, &resp->key)) != FLOW_OK)
		return rv;
	store_audit(r, NULL, "apikey.create",
		    arena_printf(r->arena, "apikey:%s", resp->key_info->prefix), "ok",
		    arena_printf(r->arena, "user=%s name=%s expires_in_days=%d", u->username,
				 resp->key_info->name,
				 req->has_expires_in_days ? req->expires_in_days : 0));
	*out = &resp->base;
	return FLOW_OK;
}

int h_list_api_keys(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ListApiKeysRequest *req = (const Flow__V1__ListApiKeysRequest *)in;
	Flow__V1__ListApiKeysResponse *resp;
	Flow__V1__User *u = NULL;
	int rv;

	if (req->username != NULL && req->username[0] != '\0' &&
	    ((rv = check_username(r, "username", req->username)) != FLOW_OK ||
	     (rv = users_get(r, req->username, &u)) != FLOW_OK))
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__ListApiKeysResponse,
			   flow__v1__list_api_keys_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = users_apikey_list(r, u ? u->id : 0, &resp->keys, &resp->n_keys)) != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}

int h_revoke_api_key(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__RevokeApiKeyRequest *req = (const Flow__V1__RevokeApiKeyRequest *)in;
	Flow__V1__ApiKey *k;
	int64_t owner = 0;
	int rv;

	if ((rv = convert_id(r, "keyId", req->has_key_id, req->key_id)) != FLOW_OK ||
	    (rv = users_apikey_revoke(r, req->key_id, &k, &owner)) != FLOW_OK)
		return rv;
	auth_cache_forget_user(owner);
	store_audit(r, NULL, "apikey.revoke", arena_printf(r->arena, "apikey:%s", k->prefix), "ok",
		    arena_printf(r->arena, "user=%s", k->username));
	*out = &k->base;
	return FLOW_OK;
}

/* ---- project membership ---- */

static const char *project_target(struct flow_req *r, int64_t project)
{
	const char *s = arena_printf(r->arena, "project:%" PRId64, project);

	return s ? s : "project:?";
}

int h_add_project_member(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__AddProjectMemberRequest *req =
	    (const Flow__V1__AddProjectMemberRequest *)in;
	const char *role = req->role && req->role[0] ? req->role : "member";
	Flow__V1__ProjectMember *m;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK ||
	    (rv = check_username(r, "username", req->username)) != FLOW_OK)
		return rv;
	if (strcmp(role, "owner") != 0 && strcmp(role, "member") != 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "role must be owner or member");
	if ((rv = users_member_set(r, req->project_id, req->username, role, &m)) != FLOW_OK)
		return rv;
	store_audit(r, NULL, "member.add", project_target(r, req->project_id), "ok",
		    arena_printf(r->arena, "user=%s role=%s", req->username, role));
	*out = &m->base;
	return FLOW_OK;
}

int h_remove_project_member(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__RemoveProjectMemberRequest *req =
	    (const Flow__V1__RemoveProjectMemberRequest *)in;
	Flow__V1__RemoveProjectMemberResponse *resp;
	bool removed = false;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK ||
	    (rv = check_username(r, "username", req->username)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__RemoveProjectMemberResponse,
			   flow__v1__remove_project_member_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = users_member_remove(r, req->project_id, req->username, &removed)) != FLOW_OK)
		return rv;
	if (removed)
		store_audit(r, NULL, "member.remove", project_target(r, req->project_id), "ok",
			    arena_printf(r->arena, "user=%s", req->username));
	resp->has_removed = true;
	resp->removed = removed;
	*out = &resp->base;
	return FLOW_OK;
}

int h_list_project_members(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ListProjectMembersRequest *req =
	    (const Flow__V1__ListProjectMembersRequest *)in;
	Flow__V1__ListProjectMembersResponse *resp;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__ListProjectMembersResponse,
			   flow__v1__list_project_members_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = users_member_list(r, req->project_id, &resp->members, &resp->n_members);
	if (rv != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}

/* ---- audit log (admin) ---- */

int h_list_audit(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ListAuditRequest *req = (const Flow__V1__ListAuditRequest *)in;
	const char *actor = req->actor && req->actor[0] ? req->actor : NULL;
	const char *action = req->action && req->action[0] ? req->action : NULL;
	Flow__V1__ListAuditResponse *resp;
	int rv;

	if (req->has_limit && (req->limit < 1 || req->limit > AUDIT_LIMIT_MAX))
		return req_error(r, FLOW_INVALID_ARGUMENT, "limit must be between 1 and %d",
				 AUDIT_LIMIT_MAX);
	if (req->has_before_id && req->before_id < 0)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "beforeId must be positive (or 0 for the newest events)");
	if ((rv = convert_line(r, "actor", actor, FILTER_MAX_CHARS, false)) != FLOW_OK ||
	    (rv = convert_line(r, "action", action, FILTER_MAX_CHARS, false)) != FLOW_OK)
		return rv;
	resp =
	    SERVICE_NEW(r, Flow__V1__ListAuditResponse, flow__v1__list_audit_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = users_audit_list(r, req->has_limit ? req->limit : AUDIT_LIMIT_DEFAULT,
			      req->has_before_id ? req->before_id : 0, actor, action, &resp->events,
			      &resp->n_events);
	if (rv != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}
