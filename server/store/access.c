/*
 * access.c - the auth guard's lookups and the audit log writer.
 */
#include "store/access.h"

#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "log.h"
#include "status.h"
#include "store/store.h"

int store_access_token_state(struct flow_req *r, int64_t user_id, const char *jti, int64_t iat_s,
			     enum flow_role *role, char *username, size_t ulen)
{
	static struct store_stmt st = {
		"access_token_state",
		"SELECT u.role, u.username FROM users u"
		" WHERE u.id = $1 AND NOT u.disabled"
		"   AND u.tokens_valid_after <= to_timestamp($3::bigint)"
		"   AND NOT EXISTS (SELECT 1 FROM revoked_tokens t WHERE t.jti = $2)",
		3, 0
	};
	const char *p[3] = { store_p_i64(r, user_id), jti, store_p_i64(r, iat_s) };
	PGresult *res;
	int rv = store_exec(r, &st, p, &res);

	if (rv != FLOW_OK)
		return rv;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return req_error(r, FLOW_UNAUTHENTICATED, "access token has been revoked");
	}
	*role = auth_role_parse(PQgetvalue(res, 0, 0));
	snprintf(username, ulen, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return FLOW_OK;
}

/* Bytes of a bytea column in hex output format ("\x0a1b..."), 32 of them. */
static int digest_from_hex(const char *s, uint8_t out[32])
{
	if (strncmp(s, "\\x", 2) != 0 || strlen(s) != 2 + 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (sscanf(s + 2 + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int store_access_api_key(struct flow_req *r, const char *prefix, uint8_t digest[32],
			 int64_t *key_id, int64_t *user_id, char *username, size_t ulen,
			 enum flow_role *role)
{
	static struct store_stmt st = {
		"access_api_key",
		"WITH k AS (SELECT k.id, k.key_hash, k.user_id, u.username, u.role, k.last_used_at"
		"             FROM api_keys k JOIN users u ON u.id = k.user_id"
		"            WHERE k.prefix = $1 AND k.revoked_at IS NULL AND NOT u.disabled"
		"              AND (k.expires_at IS NULL OR k.expires_at > now())),"
		" s AS (UPDATE api_keys a SET last_used_at = now() FROM k"
		"        WHERE a.id = k.id AND (k.last_used_at IS NULL"
		"              OR k.last_used_at < now() - interval '1 minute'))"
		" SELECT id, key_hash, user_id, username, role FROM k",
		1, 0
	};
	const char *p[1] = { prefix };
	PGresult *res;
	int rv = store_exec(r, &st, p, &res);

	if (rv != FLOW_OK)
		return rv;
	if (PQntuples(res) != 1 || digest_from_hex(PQgetvalue(res, 0, 1), digest) != 0) {
		PQclear(res);
		return req_error(r, FLOW_UNAUTHENTICATED, "invalid API key");
	}
	*key_id = store_i64(res, 0, "id");
	*user_id = store_i64(res, 0, "user_id");
	snprintf(username, ulen, "%s", PQgetvalue(res, 0, 3));
	*role = auth_role_parse(PQgetvalue(res, 0, 4));
	PQclear(res);
	return FLOW_OK;
}

int store_access_denied(struct flow_req *r, int64_t user_id, const char *const *kinds,
			const int64_t *ids, size_t n, bool need_owner, int *denied)
{
	static struct store_stmt st = {
		"access_denied",
		"SELECT flow_member_denied($1, $2::text[], $3::bigint[], $4)",
		4, 0
	};
	const char *p[4];
	PGresult *res;
	int rv;

	*denied = -1;
	if (n == 0)
		return FLOW_OK;
	p[0] = store_p_i64(r, user_id);
	p[1] = store_p_text_array(r, (char **)kinds, n);
	p[2] = store_p_i64_array(r, ids, n);
	p[3] = need_owner ? "owner" : "member";
	if ((rv = store_exec(r, &st, p, &res)) != FLOW_OK)
		return rv;
	*denied = store_int(res, 0, "flow_member_denied") - 1;
	PQclear(res);
	return FLOW_OK;
}

int store_access_worker(struct flow_req *r, int64_t worker_id, int64_t *principal, bool *found)
{
	static struct store_stmt st = {
		"access_worker",
		"SELECT coalesce(principal_id, 0) AS principal FROM workers WHERE id = $1",
		1, 0
	};
	const char *p[1] = { store_p_i64(r, worker_id) };
	PGresult *res;
	int rv = store_exec(r, &st, p, &res);

	if (rv != FLOW_OK)
		return rv;
	*found = PQntuples(res) == 1;
	*principal = *found ? store_i64(res, 0, "principal") : 0;
	PQclear(res);
	return FLOW_OK;
}

void store_audit(struct flow_req *r, const char *actor_name, const char *action,
		 const char *target, const char *outcome, const char *detail)
{
	static struct store_stmt st = {
		"audit_insert",
		"INSERT INTO audit_events (actor_id, actor, action, target, peer, outcome, detail)"
		" VALUES (nullif($1::bigint, 0), $2, $3, $4, $5, $6, $7)",
		7, 0
	};
	char saved[sizeof(r->message)];
	const char *p[7];
	PGresult *res;

	if (actor_name == NULL)
		actor_name = r->who.username[0] ? r->who.username : "-";
	p[0] = store_p_i64(r, r->who.user_id);
	p[1] = actor_name;
	p[2] = action;
	p[3] = target ? target : "";
	p[4] = r->peer;
	p[5] = outcome;
	p[6] = detail ? detail : "";
	/* The caller's error message, if any, is kept for its reply. */
	memcpy(saved, r->message, sizeof(saved));
	if (store_exec(r, &st, p, &res) == FLOW_OK)
		PQclear(res);
	else
		log_warn("audit.failed", "cannot record %s (%s): %s", action, outcome, r->message);
	memcpy(r->message, saved, sizeof(saved));
}
