/*
 * access.h - what the auth guard asks the database on each call: is this
 * access token still good, whose API key is this, may this member touch
 * these objects; and the audit log writer every auth path uses.
 *
 * Every function runs on r->db and returns a flow code (FLOW_OK, or the
 * code of req_error() with r->message set).
 */
#ifndef FLOW_STORE_ACCESS_H
#define FLOW_STORE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "req.h"

/*
 * The current state of the user an access token names, for the token with
 * id jti issued at iat_s: FLOW_OK with *role (the user's role now) and the
 * user name when the user exists, is enabled, has not revoked its tokens
 * since iat_s and jti is not revoked; FLOW_UNAUTHENTICATED ("access token
 * has been revoked") otherwise.
 */
int store_access_token_state(struct flow_req *r, int64_t user_id, const char *jti, int64_t iat_s,
			     enum flow_role *role, char *username, size_t ulen);

/*
 * The API key with this visible prefix: FLOW_OK with its digest, the key id,
 * the owner and the owner's role when the key exists, is neither revoked nor
 * expired and its owner is enabled; FLOW_UNAUTHENTICATED ("invalid API key")
 * otherwise. Stamps last_used_at (at most once a minute).
 */
int store_access_api_key(struct flow_req *r, const char *prefix, uint8_t digest[32],
			 int64_t *key_id, int64_t *user_id, char *username, size_t ulen,
			 enum flow_role *role);

/*
 * For a member: the 0-based index of the first of n objects (kinds[i] is
 * "project", "ticket", "task", "queue" or "item") that exists in a project
 * where user_id is not a member (need_owner: not an owner), or -1 when all
 * are allowed (objects that do not exist are left to the handler).
 */
int store_access_denied(struct flow_req *r, int64_t user_id, const char *const *kinds,
			const int64_t *ids, size_t n, bool need_owner, int *denied);

/*
 * The principal that registered worker worker_id: *principal (0 when none
 * recorded), *found false when there is no such worker.
 */
int store_access_worker(struct flow_req *r, int64_t worker_id, int64_t *principal, bool *found);

/*
 * Appends an audit event: actor is r->who (its username, or "-" when not
 * authenticated) unless actor_name is not NULL; peer is r->peer. outcome is
 * "ok", "denied" or "failed"; target and detail may be NULL. Failures are
 * logged, never returned: auditing does not fail the call. Runs outside any
 * transaction of the caller's (on r->db, autocommit).
 */
void store_audit(struct flow_req *r, const char *actor_name, const char *action,
		 const char *target, const char *outcome, const char *detail);

#endif
