/*
 * users.h - users and service accounts, refresh tokens, revoked access
 * tokens, API keys, project membership and the audit log listing: the SQL
 * of the AuthService (services/auth.c) and of the first-start bootstrap.
 *
 * Every function runs on r->db and returns a flow code (FLOW_OK, or the
 * code of req_error() with r->message set: FLOW_NOT_FOUND "user alice not
 * found", database errors as store_exec maps them). Returned messages and
 * arrays live in r->arena (nothing to free); every scalar field of a
 * returned message is present (has_ flags set; absent times are 0). Inputs
 * are only read and are assumed checked by the caller unless noted.
 *
 * Secrets never reach this module: passwords arrive as Argon2id PHC
 * strings, refresh tokens and API keys as SHA-256 digests (stored as bytea).
 *
 * Token pairs are issued inside a transaction (users_tx_begin) that first
 * locks the user's row with users_lock_for_tokens(); the revocations
 * (users_revoke_family, users_revoke_all) lock the same row, so a
 * revocation never misses a pair being issued at the same time (see the
 * functions of migration 0005).
 */
#ifndef FLOW_STORE_USERS_H
#define FLOW_STORE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/v1/auth.pb-c.h"
#include "req.h"

/* Longest username (also a CHECK of the users table). */
#define USERS_NAME_MAX 64

/* ^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$ (NULL: false). */
bool users_name_valid(const char *s);

/* ---- transactions on r->db ---- */

int users_tx_begin(struct flow_req *r);
int users_tx_commit(struct flow_req *r);
/* Rolls back, keeping r->message (the reason the caller gives up). */
void users_tx_rollback(struct flow_req *r);

/* ---- credentials ---- */

/* What a login or a password change needs to know about a user. */
struct users_cred {
	int64_t id;
	char username[USERS_NAME_MAX + 8];
	enum flow_role role;
	bool service; /* kind 'service': no password */
	bool disabled;
	bool locked; /* locked_until is in the future */
	char *hash;  /* Argon2id PHC string in r->arena; NULL for services */
};

/* The user named username (when not NULL) or with id id: *found false when
 * there is none (u untouched). */
int users_cred_get(struct flow_req *r, const char *username, int64_t id, struct users_cred *u,
		   bool *found);

/*
 * A wrong password for user id (checked against its real hash): one
 * atomic UPDATE counts it unless the user is locked; at threshold
 * consecutive failures the account is locked for base_s * 2^lockouts
 * seconds (at most max_s), lockouts counts up and failed_logins restarts at
 * 0. *locked_for_s > 0 when this failure locked the account (the lockout's
 * length), else 0.
 */
int users_login_failed(struct flow_req *r, int64_t id, int threshold, int base_s, int max_s,
		       int *locked_for_s);

/* A successful login: clears failed_logins, lockouts and locked_until, and
 * replaces the hash by new_hash (when not NULL) if it is still old_hash. */
int users_login_succeeded(struct flow_req *r, int64_t id, const char *new_hash,
			  const char *old_hash);

/* Sets user id's password hash (if old_hash is not NULL: only if the hash
 * is still old_hash, else FLOW_ABORTED). */
int users_set_password(struct flow_req *r, int64_t id, const char *new_hash, const char *old_hash);

/* ---- refresh tokens ---- */

/*
 * In a transaction: locks user id's row (FOR SHARE) and tells whether it
 * may be given tokens: *ok when it exists, is enabled and is a user (not a
 * service account); then *role and username (ulen bytes) are its current
 * role and name.
 */
int users_lock_for_tokens(struct flow_req *r, int64_t id, bool *ok, enum flow_role *role,
			  char *username, size_t ulen);

struct users_refresh {
	int64_t id;
	int64_t user_id;
	int64_t family;
	uint8_t digest[32];
	bool spent;   /* used or revoked */
	bool used;    /* used (rotated): a copy of it is in someone's hands */
	bool expired; /* expires_at has passed */
};

/* Refresh token row id; lock: FOR UPDATE (in a transaction). *found false
 * when there is none. */
int users_refresh_get(struct flow_req *r, int64_t id, bool lock, struct users_refresh *t,
		      bool *found);

/* A fresh refresh token row id (the sequence's next value). */
int users_refresh_next_id(struct flow_req *r, int64_t *id);

/*
 * Stores refresh token id (digest) of user_id, issued with the access
 * token jti expiring at access_exp_s. old_id 0 (a login): a new family
 * expiring ttl_s from now. Else (a refresh): marks old_id used and joins
 * its family, keeping its expiry. *expires_ms: the new token's expiry.
 */
int users_refresh_insert(struct flow_req *r, int64_t id, int64_t user_id, int64_t old_id,
			 const uint8_t digest[32], const char *jti, int64_t access_exp_s, int ttl_s,
			 int64_t *expires_ms);

/* The family of the refresh token issued with access token jti of
 * user_id; 0 when there is none. */
int users_refresh_family_of(struct flow_req *r, int64_t user_id, const char *jti, int64_t *family);

/* Revokes family and the access tokens issued with it; *n (may be NULL):
 * how many of its refresh tokens were still usable. */
int users_revoke_family(struct flow_req *r, int64_t family, int *n);

/* Revokes every access and refresh token of user_id; *n (may be NULL) as
 * users_revoke_family. */
int users_revoke_all(struct flow_req *r, int64_t user_id, int *n);

/* Revokes one access token until exp_s (epoch seconds). */
int users_revoke_jti(struct flow_req *r, int64_t user_id, const char *jti, int64_t exp_s);

/*
 * The periodic clean-up: deletes revoked access tokens expired for longer
 * than the largest JWT leeway, and refresh tokens expired more than a day
 * ago. *removed: rows deleted.
 */
int store_auth_cleanup(struct flow_req *r, int *removed);

/* ---- users and service accounts ---- */

/* "user <name> not found" when there is none. */
int users_get(struct flow_req *r, const char *username, Flow__V1__User **out);
/* Every user and service account, by id. */
int users_list(struct flow_req *r, Flow__V1__User ***out, size_t *n);

/* A user (hash not NULL) or service account (service, hash NULL).
 * FLOW_ALREADY_EXISTS "user <name> already exists" (also when only the
 * case differs). */
int users_create(struct flow_req *r, const char *username, bool service, const char *role,
		 const char *hash, Flow__V1__User **out);

/* Changes the fields that are not NULL (disabled: < 0 unchanged). */
int users_update(struct flow_req *r, int64_t id, const char *role, int disabled, const char *hash,
		 Flow__V1__User **out);

/* Clears the lockout and the failed-login counter (not the lockout count,
 * which a successful login clears). */
int users_unlock(struct flow_req *r, const char *username, Flow__V1__User **out);

/*
 * Bootstrap (first start, flowd --create-admin): creates admin username
 * with password unless a user of that name exists (*created false; nothing
 * changes). Checks the name and the password's strength
 * (FLOW_INVALID_ARGUMENT saying why, never quoting the password). Audited
 * as "user.create" by r->who.
 */
int users_create_admin(struct flow_req *r, const char *username, const char *password,
		       bool *created);

/* ---- API keys ---- */

/*
 * Stores an API key of user_id (username for the reply): prefix
 * "flk_<8 hex>", digest of the whole key, expiring in days days (0: never).
 * *collision (and FLOW_OK, *out NULL) when the prefix is taken.
 */
int users_apikey_create(struct flow_req *r, int64_t user_id, const char *username, const char *name,
			const char *prefix, const uint8_t digest[32], int days,
			Flow__V1__ApiKey **out, bool *collision);
/* The keys of user_id (0: every key), by id. */
int users_apikey_list(struct flow_req *r, int64_t user_id, Flow__V1__ApiKey ***out, size_t *n);
/* Revokes key id (idempotent: the first revocation's time stays); *owner:
 * its user. "API key <id> not found". */
int users_apikey_revoke(struct flow_req *r, int64_t id, Flow__V1__ApiKey **out, int64_t *owner);
/* Revokes every API key of user_id still valid; *n: how many. */
int users_apikey_revoke_user(struct flow_req *r, int64_t user_id, int *n);

/* ---- project membership ---- */

/* Adds username to project (role "owner" or "member") or changes its role.
 * NOT_FOUND for an unknown project or user; FAILED_PRECONDITION when that
 * would leave the project without an owner. */
int users_member_set(struct flow_req *r, int64_t project, const char *username, const char *role,
		     Flow__V1__ProjectMember **out);
/* *removed false when username was no member. Errors as users_member_set. */
int users_member_remove(struct flow_req *r, int64_t project, const char *username, bool *removed);
/* The members of project, owners first, by name; NOT_FOUND "project <id>
 * not found". */
int users_member_list(struct flow_req *r, int64_t project, Flow__V1__ProjectMember ***out,
		      size_t *n);

/* ---- audit log ---- */

/* Up to limit events, newest first, with id < before_id (0: any), of actor
 * and action (NULL: any). */
int users_audit_list(struct flow_req *r, int limit, int64_t before_id, const char *actor,
		     const char *action, Flow__V1__AuditEvent ***out, size_t *n);

#endif
