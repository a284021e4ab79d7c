#include "store/users.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "log.h"
#include "service.h"
#include "status.h"
#include "store/access.h"
#include "store/store.h"

#define OOM(r) req_error((r), FLOW_RESOURCE_EXHAUSTED, "out of memory")

bool users_name_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (const char *p = s; *p; p++, n++) {
		unsigned char c = (unsigned char)*p;
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (n == 0 || (c != '.' && c != '_' && c != '@' && c != '-')))
			return false;
	}
	return n >= 1 && n <= USERS_NAME_MAX;
}

/* A digest as the hex text decode($n, 'hex') reads (arena). */
static const char *p_digest(struct flow_req *r, const uint8_t d[32])
{
	static const char hex[] = "0123456789abcdef";
	char *s = arena_alloc(r->arena, 65);

	if (s == NULL)
		return NULL;
	for (int i = 0; i < 32; i++) {
		s[2 * i] = hex[d[i] >> 4];
		s[2 * i + 1] = hex[d[i] & 15];
	}
	s[64] = '\0';
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Reads a column selected as encode(x, 'hex') of a 32-byte digest. */
static int get_digest(const PGresult *res, int row, int col, uint8_t d[32])
{
	const char *s = PQgetvalue(res, row, col);

	if (PQgetisnull(res, row, col) || strlen(s) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		d[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Runs a statement whose result the caller does not need. */
static int exec_only(struct flow_req *r, struct store_stmt *st, const char *const *p)
{
	PGresult *res;
	int rv = store_exec(r, st, p, &res);

	if (rv == FLOW_OK)
		PQclear(res);
	return rv;
}

/* ---- transactions ---- */

static struct store_stmt st_begin = { "users_begin", "BEGIN", 0, 0 };
static struct store_stmt st_commit = { "users_commit", "COMMIT", 0, 0 };
static struct store_stmt st_rollback = { "users_rollback", "ROLLBACK", 0, 0 };

int users_tx_begin(struct flow_req *r)
{
	return exec_only(r, &st_begin, NULL);
}

int users_tx_commit(struct flow_req *r)
{
	int rv;

	/* The connection was lost and re-made inside the transaction: what ran
	 * since ran without it. Give up (fail closed) rather than pretend. */
	if (PQtransactionStatus(store_pg(r->db)) != PQTRANS_INTRANS) {
		users_tx_rollback(r);
		r->retry_after_ms = 1000;
		return req_error(r, FLOW_UNAVAILABLE, "database unavailable, try again shortly");
	}
	rv = exec_only(r, &st_commit, NULL);

	if (rv != FLOW_OK)
		users_tx_rollback(r); /* COMMIT of an aborted transaction fails: clean up */
	return rv;
}

void users_tx_rollback(struct flow_req *r)
{
	char saved[sizeof(r->message)];
	uint32_t retry = r->retry_after_ms;

	memcpy(saved, r->message, sizeof(saved));
	if (exec_only(r, &st_rollback, NULL) != FLOW_OK)
		log_warn("db.rollback", "rollback failed: %s", r->message);
	memcpy(r->message, saved, sizeof(saved));
	r->retry_after_ms = retry;
}

/* ---- credentials ---- */

#define CRED_COLS                                                                                  \
	"u.id, u.username, u.role, u.kind = 'service' AS service, u.disabled,"                     \
	" coalesce(u.locked_until > now(), false) AS locked, u.password_hash"

static struct store_stmt st_cred_by_name = {
	"users_cred_by_name",
	"SELECT " CRED_COLS " FROM users u WHERE u.username = $1",
	1,
	0,
};

static struct store_stmt st_cred_by_id = {
	"users_cred_by_id",
	"SELECT " CRED_COLS " FROM users u WHERE u.id = $1",
	1,
	0,
};

int users_cred_get(struct flow_req *r, const char *username, int64_t id, struct users_cred *u,
		   bool *found)
{
	const char *p[1] = { username ? username : store_p_i64(r, id) };
	PGresult *res;
	int rv;

	*found = false;
	if (p[0] == NULL)
		return OOM(r);
	rv = store_exec(r, username ? &st_cred_by_name : &st_cred_by_id, p, &res);
	if (rv != FLOW_OK)
		return rv;
	if (PQntuples(res) == 1) {
		memset(u, 0, sizeof(*u));
		u->id = store_i64(res, 0, "id");
		snprintf(u->username, sizeof(u->username), "%s", PQgetvalue(res, 0, 1));
		u->role = auth_role_parse(PQgetvalue(res, 0, 2));
		u->service = store_bool(res, 0, "service");
		u->disabled = store_bool(res, 0, "disabled");
		u->locked = store_bool(res, 0, "locked");
		u->hash = store_text(r, res, 0, "password_hash");
		*found = true;
	}
	PQclear(res);
	return FLOW_OK;
}

/*
 * Counts one failure unless the account is locked. One UPDATE, so
 * concurrent failures cannot lose a count. In the SET list the columns are
 * the old values, so "failed_logins + 1 >= $2" is this failure reaching the
 * threshold; RETURNING sees the new values (failed_logins restarted at 0,
 * lockouts already counted up) and gives the lockout's length.
 */
static struct store_stmt st_login_failed = {
	"users_login_failed",
	"UPDATE users u SET"
	"   failed_logins = CASE WHEN u.failed_logins + 1 >= $2::int THEN 0"
	"                        ELSE u.failed_logins + 1 END,"
	"   lockouts = CASE WHEN u.failed_logins + 1 >= $2::int THEN u.lockouts + 1"
	"                   ELSE u.lockouts END,"
	"   locked_until = CASE WHEN u.failed_logins + 1 >= $2::int"
	"     THEN now() + make_interval(secs =>"
	"            least($3::float8 * power(2, least(u.lockouts, 30)), $4::float8))"
	"     ELSE u.locked_until END"
	" WHERE u.id = $1 AND (u.locked_until IS NULL OR u.locked_until <= now())"
	" RETURNING CASE WHEN u.failed_logins = 0"
	"   THEN least($3::float8 * power(2, least(u.lockouts - 1, 30)), $4::float8)::int"
	"   ELSE 0 END AS locked_for",
	4,
	0,
};

int users_login_failed(struct flow_req *r, int64_t id, int threshold, int base_s, int max_s,
		       int *locked_for_s)
{
	const char *p[4] = { store_p_i64(r, id), store_p_int(r, threshold < 1 ? 1 : threshold),
			     store_p_int(r, base_s), store_p_int(r, max_s) };
	PGresult *res;
	int rv;

	*locked_for_s = 0;
	if (p[0] == NULL || p[1] == NULL || p[2] == NULL || p[3] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_login_failed, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 1)
		*locked_for_s = store_int(res, 0, "locked_for");
	PQclear(res);
	return FLOW_OK;
}

static struct store_stmt st_login_ok = {
	"users_login_ok",
	"UPDATE users u SET failed_logins = 0, lockouts = 0, locked_until = NULL,"
	" password_hash = CASE WHEN $2::text IS NOT NULL AND u.password_hash = $3::text"
	"                      THEN $2::text ELSE u.password_hash END"
	" WHERE u.id = $1 AND (u.failed_logins <> 0 OR u.lockouts <> 0"
	"                      OR u.locked_until IS NOT NULL OR $2::text IS NOT NULL)",
	3,
	0,
};

int users_login_succeeded(struct flow_req *r, int64_t id, const char *new_hash,
			  const char *old_hash)
{
	const char *p[3] = { store_p_i64(r, id), new_hash, old_hash };

	if (p[0] == NULL)
		return OOM(r);
	return exec_only(r, &st_login_ok, p);
}

static struct store_stmt st_set_password = {
	"users_set_password",
	"UPDATE users u SET password_hash = $2"
	" WHERE u.id = $1 AND u.kind = 'user' AND ($3::text IS NULL OR u.password_hash = $3)"
	" RETURNING u.id",
	3,
	0,
};

int users_set_password(struct flow_req *r, int64_t id, const char *new_hash, const char *old_hash)
{
	const char *p[3] = { store_p_i64(r, id), new_hash, old_hash };
	PGresult *res;
	int rv, n;

	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_set_password, p, &res)) != FLOW_OK)
		return rv;
	n = PQntuples(res);
	PQclear(res);
	if (n != 1)
		return req_error(r, FLOW_ABORTED,
				 "the password was changed at the same time; try again");
	return FLOW_OK;
}

/* ---- refresh tokens ---- */

static struct store_stmt st_lock_user = {
	"users_lock_for_tokens",
	"SELECT u.role, u.username, u.kind = 'user' AND NOT u.disabled AS ok"
	" FROM users u WHERE u.id = $1 FOR SHARE",
	1,
	0,
};

int users_lock_for_tokens(struct flow_req *r, int64_t id, bool *ok, enum flow_role *role,
			  char *username, size_t ulen)
{
	const char *p[1] = { store_p_i64(r, id) };
	PGresult *res;
	int rv;

	*ok = false;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_lock_user, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 1) {
		*ok = store_bool(res, 0, "ok");
		*role = auth_role_parse(PQgetvalue(res, 0, 0));
		snprintf(username, ulen, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return FLOW_OK;
}

#define REFRESH_COLS                                                                               \
	"t.id, t.user_id, t.family, encode(t.token_hash, 'hex') AS digest,"                        \
	" t.used_at IS NOT NULL OR t.revoked_at IS NOT NULL AS spent,"                             \
	" t.used_at IS NOT NULL AS used,"                                                          \
	" t.expires_at <= now() AS expired"

static struct store_stmt st_refresh_get = {
	"users_refresh_get",
	"SELECT " REFRESH_COLS " FROM refresh_tokens t WHERE t.id = $1",
	1,
	0,
};

static struct store_stmt st_refresh_lock = {
	"users_refresh_lock",
	"SELECT " REFRESH_COLS " FROM refresh_tokens t WHERE t.id = $1 FOR UPDATE",
	1,
	0,
};

int users_refresh_get(struct flow_req *r, int64_t id, bool lock, struct users_refresh *t,
		      bool *found)
{
	const char *p[1] = { store_p_i64(r, id) };
	PGresult *res;
	int rv;

	*found = false;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, lock ? &st_refresh_lock : &st_refresh_get, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 1) {
		memset(t, 0, sizeof(*t));
		t->id = store_i64(res, 0, "id");
		t->user_id = store_i64(res, 0, "user_id");
		t->family = store_i64(res, 0, "family");
		t->spent = store_bool(res, 0, "spent");
		t->used = store_bool(res, 0, "used");
		t->expired = store_bool(res, 0, "expired");
		*found = get_digest(res, 0, PQfnumber(res, "digest"), t->digest) == 0;
	}
	PQclear(res);
	return FLOW_OK;
}

static struct store_stmt st_refresh_next = {
	"users_refresh_next_id",
	"SELECT nextval(pg_get_serial_sequence('refresh_tokens', 'id')) AS id",
	0,
	0,
};

int users_refresh_next_id(struct flow_req *r, int64_t *id)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_row(r, &st_refresh_next, NULL, "no refresh token id", &res)) !=
	    FLOW_OK)
		return rv;
	*id = store_i64(res, 0, "id");
	PQclear(res);
	return FLOW_OK;
}

static struct store_stmt st_refresh_login = {
	"users_refresh_login",
	"INSERT INTO refresh_tokens (id, user_id, family, token_hash, access_jti, access_exp,"
	"                            expires_at)"
	" VALUES ($1, $2, nextval('refresh_token_families'), decode($3, 'hex'), $4,"
	"         to_timestamp($5::bigint), now() + make_interval(secs => $6::int))"
	" RETURNING flow_ms(expires_at) AS expires",
	6,
	0,
};

/* The successor keeps the family's expiry: rotation never extends a login. */
static struct store_stmt st_refresh_rotate = {
	"users_refresh_rotate",
	"WITH o AS (UPDATE refresh_tokens t SET used_at = now()"
	"            WHERE t.id = $6 AND t.user_id = $2 AND t.used_at IS NULL"
	"              AND t.revoked_at IS NULL"
	"        RETURNING t.family, t.expires_at)"
	" INSERT INTO refresh_tokens (id, user_id, family, token_hash, access_jti, access_exp,"
	"                             expires_at)"
	" SELECT $1, $2, o.family, decode($3, 'hex'), $4, to_timestamp($5::bigint), o.expires_at"
	"   FROM o RETURNING flow_ms(expires_at) AS expires",
	6,
	0,
};

int users_refresh_insert(struct flow_req *r, int64_t id, int64_t user_id, int64_t old_id,
			 const uint8_t digest[32], const char *jti, int64_t access_exp_s, int ttl_s,
			 int64_t *expires_ms)
{
	const char *p[6] = { store_p_i64(r, id),
			     store_p_i64(r, user_id),
			     p_digest(r, digest),
			     jti,
			     store_p_i64(r, access_exp_s),
			     old_id ? store_p_i64(r, old_id) : store_p_int(r, ttl_s) };
	PGresult *res;
	int rv;

	for (int i = 0; i < 6; i++)
		if (p[i] == NULL)
			return OOM(r);
	rv = store_exec_row(r, old_id ? &st_refresh_rotate : &st_refresh_login, p,
			    "the refresh token was used at the same time", &res);
	if (rv == FLOW_NOT_FOUND)
		return req_error(r, FLOW_ABORTED, "the refresh token was used at the same time");
	if (rv != FLOW_OK)
		return rv;
	*expires_ms = store_i64(res, 0, "expires");
	PQclear(res);
	return FLOW_OK;
}

static struct store_stmt st_family_of = {
	"users_refresh_family_of",
	"SELECT t.family FROM refresh_tokens t WHERE t.user_id = $1 AND t.access_jti = $2",
	2,
	0,
};

int users_refresh_family_of(struct flow_req *r, int64_t user_id, const char *jti, int64_t *family)
{
	const char *p[2] = { store_p_i64(r, user_id), jti };
	PGresult *res;
	int rv;

	*family = 0;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_family_of, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) >= 1)
		*family = store_i64(res, 0, "family");
	PQclear(res);
	return FLOW_OK;
}

/* Runs a revocation function of one bigint argument returning a count. */
static int revoke_call(struct flow_req *r, struct store_stmt *st, int64_t arg, int *n)
{
	const char *p[1] = { store_p_i64(r, arg) };
	PGresult *res;
	int rv;

	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec_row(r, st, p, "nothing revoked", &res)) != FLOW_OK)
		return rv;
	if (n != NULL)
		*n = store_int(res, 0, "n");
	PQclear(res);
	return FLOW_OK;
}

static struct store_stmt st_revoke_family = {
	"users_revoke_family",
	"SELECT flow_refresh_revoke_family($1) AS n",
	1,
	0,
};

int users_revoke_family(struct flow_req *r, int64_t family, int *n)
{
	return revoke_call(r, &st_revoke_family, family, n);
}

static struct store_stmt st_revoke_all = {
	"users_revoke_all",
	"SELECT flow_user_revoke_tokens($1) AS n",
	1,
	0,
};

int users_revoke_all(struct flow_req *r, int64_t user_id, int *n)
{
	int count = 0;
	int rv = revoke_call(r, &st_revoke_all, user_id, &count);

	if (rv == FLOW_OK && count < 0)
		return req_error(r, FLOW_NOT_FOUND, "user %" PRId64 " not found", user_id);
	if (n != NULL)
		*n = count;
	return rv;
}

static struct store_stmt st_revoke_jti = {
	"users_revoke_jti",
	"INSERT INTO revoked_tokens (jti, user_id, expires_at)"
	" VALUES ($2, $1, to_timestamp($3::bigint)) ON CONFLICT (jti) DO NOTHING",
	3,
	0,
};

int users_revoke_jti(struct flow_req *r, int64_t user_id, const char *jti, int64_t exp_s)
{
	const char *p[3] = { store_p_i64(r, user_id), jti, store_p_i64(r, exp_s) };

	if (p[0] == NULL || p[2] == NULL)
		return OOM(r);
	return exec_only(r, &st_revoke_jti, p);
}

/* Revoked access tokens are kept JWT_MAX_LEEWAY past their expiry: the
 * guard accepts a token that long after exp with the largest leeway. */
static struct store_stmt st_cleanup = {
	"users_auth_cleanup",
	"WITH a AS (DELETE FROM revoked_tokens t"
	"            WHERE t.expires_at < now() - make_interval(secs => $1::int) RETURNING 1),"
	" b AS (DELETE FROM refresh_tokens t"
	"        WHERE t.expires_at < now() - interval '1 day' RETURNING 1)"
	" SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS n",
	1,
	0,
};

int store_auth_cleanup(struct flow_req *r, int *removed)
{
	const char *p[1] = { store_p_int(r, JWT_MAX_LEEWAY) };
	PGresult *res;
	int rv;

	*removed = 0;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec_row(r, &st_cleanup, p, "nothing cleaned", &res)) != FLOW_OK)
		return rv;
	*removed = store_int(res, 0, "n");
	PQclear(res);
	return FLOW_OK;
}

/* ---- users and service accounts ---- */

#define USER_COLS                                                                                  \
	"u.id, u.username, u.role, u.kind, u.disabled,"                                            \
	" CASE WHEN u.locked_until > now() THEN flow_ms(u.locked_until) ELSE 0 END AS locked,"     \
	" u.failed_logins, flow_ms(u.created_at) AS created, flow_ms(u.updated_at) AS updated"

static int user_from_row(struct flow_req *r, const PGresult *res, int row, Flow__V1__User **out)
{
	Flow__V1__User *u = SERVICE_NEW(r, Flow__V1__User, flow__v1__user__descriptor);

	if (u == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	u->has_id = u->has_disabled = u->has_locked_until = u->has_failed_logins = true;
	u->has_created_at = u->has_updated_at = true;
	u->id = store_i64(res, row, "id");
	u->username = store_text(r, res, row, "username");
	u->role = store_text(r, res, row, "role");
	u->kind = store_text(r, res, row, "kind");
	u->disabled = store_bool(res, row, "disabled");
	u->locked_until = store_i64(res, row, "locked");
	u->failed_logins = store_int(res, row, "failed_logins");
	u->created_at = store_i64(res, row, "created");
	u->updated_at = store_i64(res, row, "updated");
	if (u->username == NULL || u->role == NULL || u->kind == NULL)
		return OOM(r);
	*out = u;
	return FLOW_OK;
}

/* Runs a statement returning at most one user row; none is not_found
 * (NOT_FOUND, or code when not 0). */
static int one_user(struct flow_req *r, struct store_stmt *st, const char *const *p, int code,
		    const char *not_found, Flow__V1__User **out)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec(r, st, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return req_error(r, code ? code : FLOW_NOT_FOUND, "%s", not_found);
	}
	rv = user_from_row(r, res, 0, out);
	PQclear(res);
	return rv;
}

static const char *user_not_found(struct flow_req *r, const char *username)
{
	const char *s = arena_printf(r->arena, "user %s not found", username);

	return s ? s : "user not found";
}

static struct store_stmt st_user_get = {
	"users_get",
	"SELECT " USER_COLS " FROM users u WHERE u.username = $1",
	1,
	0,
};

int users_get(struct flow_req *r, const char *username, Flow__V1__User **out)
{
	const char *p[1] = { username };

	return one_user(r, &st_user_get, p, 0, user_not_found(r, username), out);
}

/* Runs a statement returning user rows into an arena array. */
static int many_users(struct flow_req *r, struct store_stmt *st, const char *const *p,
		      Flow__V1__User ***out, size_t *n)
{
	PGresult *res;
	int rows, rv;

	*out = NULL;
	*n = 0;
	if ((rv = store_exec(r, st, p, &res)) != FLOW_OK)
		return rv;
	rows = PQntuples(res);
	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL) {
		PQclear(res);
		return OOM(r);
	}
	for (int i = 0; i < rows && rv == FLOW_OK; i++)
		if ((rv = user_from_row(r, res, i, &(*out)[i])) == FLOW_OK)
			*n = (size_t)i + 1;
	PQclear(res);
	return rv;
}

static struct store_stmt st_user_list = {
	"users_list",
	"SELECT " USER_COLS " FROM users u ORDER BY u.id",
	0,
	0,
};

int users_list(struct flow_req *r, Flow__V1__User ***out, size_t *n)
{
	return many_users(r, &st_user_list, NULL, out, n);
}

/* ON CONFLICT without a target: the username and its lower() are unique. */
static struct store_stmt st_user_create = {
	"users_create",
	"INSERT INTO users AS u (username, kind, role, password_hash)"
	" VALUES ($1, CASE WHEN $2::boolean THEN 'service' ELSE 'user' END, $3, $4)"
	" ON CONFLICT DO NOTHING RETURNING " USER_COLS,
	4,
	0,
};

int users_create(struct flow_req *r, const char *username, bool service, const char *role,
		 const char *hash, Flow__V1__User **out)
{
	const char *p[4] = { username, store_p_bool(service), role, hash };
	const char *exists = arena_printf(r->arena, "user %s already exists", username);

	return one_user(r, &st_user_create, p, FLOW_ALREADY_EXISTS,
			exists ? exists : "user already exists", out);
}

static struct store_stmt st_user_update = {
	"users_update",
	"UPDATE users u SET role = coalesce($2::text, u.role),"
	" disabled = coalesce($3::boolean, u.disabled),"
	" password_hash = coalesce($4::text, u.password_hash)"
	" WHERE u.id = $1 RETURNING " USER_COLS,
	4,
	0,
};

int users_update(struct flow_req *r, int64_t id, const char *role, int disabled, const char *hash,
		 Flow__V1__User **out)
{
	const char *p[4] = { store_p_i64(r, id), role,
			     disabled < 0 ? NULL : store_p_bool(disabled > 0), hash };
	const char *nf = arena_printf(r->arena, "user %" PRId64 " not found", id);

	if (p[0] == NULL || nf == NULL)
		return OOM(r);
	return one_user(r, &st_user_update, p, 0, nf, out);
}

static struct store_stmt st_user_unlock = {
	"users_unlock",
	"UPDATE users u SET failed_logins = 0, locked_until = NULL"
	" WHERE u.username = $1 RETURNING " USER_COLS,
	1,
	0,
};

int users_unlock(struct flow_req *r, const char *username, Flow__V1__User **out)
{
	const char *p[1] = { username };

	return one_user(r, &st_user_unlock, p, 0, user_not_found(r, username), out);
}

int users_create_admin(struct flow_req *r, const char *username, const char *password,
		       bool *created)
{
	char hash[PASSWORD_ENCODED_MAX], why[256];
	Flow__V1__User *u;
	bool found = false;
	struct users_cred c;
	int rv;

	*created = false;
	if (!users_name_valid(username))
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "the admin's username must be 1 to %d letters, digits, '.', '_', "
				 "'@' or '-', starting with a letter or digit",
				 USERS_NAME_MAX);
	if ((rv = users_cred_get(r, username, 0, &c, &found)) != FLOW_OK || found)
		return rv;
	if (password_strength(password, username, why, sizeof(why)) != FLOW_OK)
		return req_error(r, FLOW_INVALID_ARGUMENT, "the admin's password is rejected: %s",
				 why);
	if ((rv = password_hash(password, hash, sizeof(hash))) != FLOW_OK)
		return req_error(r, FLOW_INTERNAL, "cannot hash the password");
	rv = users_create(r, username, false, "admin", hash, &u);
	if (rv == FLOW_ALREADY_EXISTS)
		return FLOW_OK; /* created at the same time by another flowd */
	if (rv != FLOW_OK)
		return rv;
	*created = true;
	store_audit(r, NULL, "user.create", arena_printf(r->arena, "user:%s", username), "ok",
		    "role=admin (bootstrap)");
	return FLOW_OK;
}

/* ---- API keys ---- */

#define KEY_COLS                                                                                   \
	"k.id, k.user_id, k.name, k.prefix, flow_ms(k.created_at) AS created,"                     \
	" coalesce(flow_ms(k.last_used_at), 0) AS last_used,"                                      \
	" coalesce(flow_ms(k.expires_at), 0) AS expires,"                                          \
	" coalesce(flow_ms(k.revoked_at), 0) AS revoked"

/* A key row; username: the owner's name, or NULL to read column username. */
static int key_from_row(struct flow_req *r, const PGresult *res, int row, const char *username,
			Flow__V1__ApiKey **out)
{
	Flow__V1__ApiKey *k = SERVICE_NEW(r, Flow__V1__ApiKey, flow__v1__api_key__descriptor);

	if (k == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	k->has_id = k->has_created_at = k->has_last_used_at = true;
	k->has_expires_at = k->has_revoked_at = true;
	k->id = store_i64(res, row, "id");
	k->username =
	    username ? arena_strdup(r->arena, username) : store_text(r, res, row, "username");
	k->name = store_text(r, res, row, "name");
	k->prefix = store_text(r, res, row, "prefix");
	k->created_at = store_i64(res, row, "created");
	k->last_used_at = store_i64(res, row, "last_used");
	k->expires_at = store_i64(res, row, "expires");
	k->revoked_at = store_i64(res, row, "revoked");
	if (k->username == NULL || k->name == NULL || k->prefix == NULL)
		return OOM(r);
	*out = k;
	return FLOW_OK;
}

static struct store_stmt st_key_create = {
	"users_apikey_create",
	"INSERT INTO api_keys AS k (user_id, name, prefix, key_hash, expires_at)"
	" VALUES ($1, $2, $3, decode($4, 'hex'),"
	"         CASE WHEN $5::int > 0 THEN now() + make_interval(days => $5::int) END)"
	" ON CONFLICT (prefix) DO NOTHING RETURNING " KEY_COLS,
	5,
	0,
};

int users_apikey_create(struct flow_req *r, int64_t user_id, const char *username, const char *name,
			const char *prefix, const uint8_t digest[32], int days,
			Flow__V1__ApiKey **out, bool *collision)
{
	const char *p[5] = { store_p_i64(r, user_id), name ? name : "", prefix, p_digest(r, digest),
			     store_p_int(r, days) };
	PGresult *res;
	int rv;

	*out = NULL;
	*collision = false;
	if (p[0] == NULL || p[3] == NULL || p[4] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_key_create, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 1)
		rv = key_from_row(r, res, 0, username, out);
	else
		*collision = true;
	PQclear(res);
	return rv;
}

static struct store_stmt st_key_list = {
	"users_apikey_list",
	"SELECT " KEY_COLS ", u.username FROM api_keys k JOIN users u ON u.id = k.user_id"
	" WHERE $1::bigint = 0 OR k.user_id = $1 ORDER BY k.id",
	1,
	0,
};

int users_apikey_list(struct flow_req *r, int64_t user_id, Flow__V1__ApiKey ***out, size_t *n)
{
	const char *p[1] = { store_p_i64(r, user_id) };
	PGresult *res;
	int rows, rv;

	*out = NULL;
	*n = 0;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_key_list, p, &res)) != FLOW_OK)
		return rv;
	rows = PQntuples(res);
	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL) {
		PQclear(res);
		return OOM(r);
	}
	for (int i = 0; i < rows && rv == FLOW_OK; i++)
		if ((rv = key_from_row(r, res, i, NULL, &(*out)[i])) == FLOW_OK)
			*n = (size_t)i + 1;
	PQclear(res);
	return rv;
}

static struct store_stmt st_key_revoke = {
	"users_apikey_revoke",
	"UPDATE api_keys k SET revoked_at = coalesce(k.revoked_at, now()) FROM users u"
	" WHERE k.id = $1 AND u.id = k.user_id RETURNING " KEY_COLS ", u.username",
	1,
	0,
};

int users_apikey_revoke(struct flow_req *r, int64_t id, Flow__V1__ApiKey **out, int64_t *owner)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_key_revoke, id, "API key", &res)) != FLOW_OK)
		return rv;
	*owner = store_i64(res, 0, "user_id");
	rv = key_from_row(r, res, 0, NULL, out);
	PQclear(res);
	return rv;
}

static struct store_stmt st_key_revoke_user = {
	"users_apikey_revoke_user",
	"WITH k AS (UPDATE api_keys SET revoked_at = now()"
	"           WHERE user_id = $1 AND revoked_at IS NULL RETURNING id)"
	" SELECT count(*)::int AS n FROM k",
	1,
	0,
};

int users_apikey_revoke_user(struct flow_req *r, int64_t user_id, int *n)
{
	PGresult *res;
	int rv;

	*n = 0;
	if ((rv = store_exec_id_row(r, &st_key_revoke_user, user_id, "user", &res)) != FLOW_OK)
		return rv;
	*n = store_int(res, 0, "n");
	PQclear(res);
	return FLOW_OK;
}

/* ---- project membership ---- */

static int member_new(struct flow_req *r, int64_t project, const char *username, const char *role,
		      int64_t added, Flow__V1__ProjectMember **out)
{
	Flow__V1__ProjectMember *m =
	    SERVICE_NEW(r, Flow__V1__ProjectMember, flow__v1__project_member__descriptor);

	if (m == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	m->has_project_id = m->has_added_at = true;
	m->project_id = project;
	m->added_at = added;
	m->username = arena_strdup(r->arena, username);
	m->role = arena_strdup(r->arena, role);
	if (m->username == NULL || m->role == NULL)
		return OOM(r);
	*out = m;
	return FLOW_OK;
}

static struct store_stmt st_member_set = {
	"users_member_set",
	"SELECT o_role, o_added FROM flow_member_set($1, $2, $3)",
	3,
	0,
};

int users_member_set(struct flow_req *r, int64_t project, const char *username, const char *role,
		     Flow__V1__ProjectMember **out)
{
	const char *p[3] = { store_p_i64(r, project), username, role };
	PGresult *res;
	int rv;

	if (p[0] == NULL)
		return OOM(r);
	rv = store_exec_row(r, &st_member_set, p, "membership not stored", &res);
	if (rv != FLOW_OK)
		return rv;
	rv = member_new(r, project, username, PQgetvalue(res, 0, 0), store_i64(res, 0, "o_added"),
			out);
	PQclear(res);
	return rv;
}

static struct store_stmt st_member_remove = {
	"users_member_remove",
	"SELECT flow_member_remove($1, $2) AS removed",
	2,
	0,
};

int users_member_remove(struct flow_req *r, int64_t project, const char *username, bool *removed)
{
	const char *p[2] = { store_p_i64(r, project), username };
	PGresult *res;
	int rv;

	*removed = false;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec_row(r, &st_member_remove, p, "membership not removed", &res)) !=
	    FLOW_OK)
		return rv;
	*removed = store_bool(res, 0, "removed");
	PQclear(res);
	return FLOW_OK;
}

/* One row per member; a project without members gives one row with NULL
 * member columns; an unknown project none. */
static struct store_stmt st_member_list = {
	"users_member_list",
	"SELECT p.id AS project_id, u.username, m.role, flow_ms(m.added_at) AS added"
	" FROM projects p LEFT JOIN project_members m ON m.project_id = p.id"
	" LEFT JOIN users u ON u.id = m.user_id"
	" WHERE p.id = $1 ORDER BY m.role = 'owner' DESC, u.username",
	1,
	0,
};

int users_member_list(struct flow_req *r, int64_t project, Flow__V1__ProjectMember ***out,
		      size_t *n)
{
	const char *p[1] = { store_p_i64(r, project) };
	PGresult *res;
	int rows, rv;

	*out = NULL;
	*n = 0;
	if (p[0] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_member_list, p, &res)) != FLOW_OK)
		return rv;
	rows = PQntuples(res);
	if (rows == 0) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "project %" PRId64 " not found", project);
	}
	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL) {
		PQclear(res);
		return OOM(r);
	}
	for (int i = 0; i < rows && rv == FLOW_OK; i++) {
		if (store_isnull(res, i, "username"))
			continue;
		rv = member_new(r, project, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
				store_i64(res, i, "added"), &(*out)[*n]);
		if (rv == FLOW_OK)
			(*n)++;
	}
	PQclear(res);
	return rv;
}

/* ---- audit log ---- */

static struct store_stmt st_audit_list = {
	"users_audit_list",
	"SELECT a.id, flow_ms(a.at) AS at, a.actor, a.action, a.target, a.peer, a.outcome,"
	" a.detail FROM audit_events a"
	" WHERE ($2::bigint = 0 OR a.id < $2) AND ($3::text IS NULL OR a.actor = $3)"
	"   AND ($4::text IS NULL OR a.action = $4)"
	" ORDER BY a.id DESC LIMIT $1",
	4,
	0,
};

static int event_from_row(struct flow_req *r, const PGresult *res, int row,
			  Flow__V1__AuditEvent **out)
{
	Flow__V1__AuditEvent *e =
	    SERVICE_NEW(r, Flow__V1__AuditEvent, flow__v1__audit_event__descriptor);

	if (e == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	e->has_id = e->has_at = true;
	e->id = store_i64(res, row, "id");
	e->at = store_i64(res, row, "at");
	e->actor = store_text(r, res, row, "actor");
	e->action = store_text(r, res, row, "action");
	e->target = store_text(r, res, row, "target");
	e->peer = store_text(r, res, row, "peer");
	e->outcome = store_text(r, res, row, "outcome");
	e->detail = store_text(r, res, row, "detail");
	if (!e->actor || !e->action || !e->target || !e->peer || !e->outcome || !e->detail)
		return OOM(r);
	*out = e;
	return FLOW_OK;
}

int users_audit_list(struct flow_req *r, int limit, int64_t before_id, const char *actor,
		     const char *action, Flow__V1__AuditEvent ***out, size_t *n)
{
	const char *p[4] = { store_p_int(r, limit), store_p_i64(r, before_id), actor, action };
	PGresult *res;
	int rows, rv;

	*out = NULL;
	*n = 0;
	if (p[0] == NULL || p[1] == NULL)
		return OOM(r);
	if ((rv = store_exec(r, &st_audit_list, p, &res)) != FLOW_OK)
		return rv;
	rows = PQntuples(res);
	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL) {
		PQclear(res);
		return OOM(r);
	}
	for (int i = 0; i < rows && rv == FLOW_OK; i++)
		if ((rv = event_from_row(r, res, i, &(*out)[i])) == FLOW_OK)
			*n = (size_t)i + 1;
	PQclear(res);
	return rv;
}
