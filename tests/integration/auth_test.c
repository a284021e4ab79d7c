/*
 * auth_test - the AuthService handlers (services/auth.c, store/users.c) on
 * a real PostgreSQL: logins and the lockout, token pairs and refresh token
 * rotation with reuse detection, logout, rate limits, users, API keys,
 * project membership, the audit log and the token clean-up.
 *
 * Handlers are called directly, so the guard does not run: each test sets
 * ts_r->who to the caller it simulates (as_admin, become). The login rate
 * limiters live for the whole program, so tests take fresh peer addresses
 * (fresh_peer) where they do not test the limits themselves. Argon2id
 * costs tens of milliseconds per hash: the tests log in sparingly.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <cmocka.h>

#include "auth/auth.h"
#include "auth/password.h"
#include "flow/v1/auth.pb-c.h"
#include "jwt.h"
#include "services/handlers.h"
#include "status.h"
#include "store/access.h"
#include "store/users.h"
#include "ts_store.h"

#define PW "vintage-Quokka-orbits-7-lanterns"
#define PW2 "amber-Falcon-drifts-9-harbors"
#define ADMIN "root"
#define BAD_LOGIN "invalid username or password"
#define BAD_REFRESH "invalid refresh token"
#define REUSED "refresh token was already used; every token of this login has been revoked"
#define REVOKED "refresh token has been revoked; log in again"

static int64_t admin_id;
static int peer_seq;

/* ---- helpers ---- */

static void set_peer(const char *peer)
{
	snprintf(ts_r->peer, sizeof(ts_r->peer), "%s", peer);
}

/* A peer address no earlier call used: a fresh login budget. */
static void fresh_peer(void)
{
	peer_seq++;
	snprintf(ts_r->peer, sizeof(ts_r->peer), "10.9.%d.%d:5000", peer_seq / 200, peer_seq % 200);
}

static void as_admin(void)
{
	memset(&ts_r->who, 0, sizeof(ts_r->who));
	ts_r->who.user_id = admin_id;
	ts_r->who.role = ROLE_ADMIN;
	snprintf(ts_r->who.username, sizeof(ts_r->who.username), ADMIN);
	snprintf(ts_r->who.jti, sizeof(ts_r->who.jti), "admin-session");
	ts_r->who.exp_s = (int64_t)time(NULL) + 900;
}

static int64_t user_id_of(const char *name)
{
	return ts_sql_i64(ts_r, "SELECT id FROM users WHERE username = $1", 1, name);
}

static int64_t user_col(const char *name, const char *col)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT %s FROM users WHERE username = $1", col);
	return ts_sql_i64(ts_r, sql, 1, name);
}

/* Seconds from now until the user's lock ends (0 when not locked). */
static int64_t lock_left_s(const char *name)
{
	return ts_sql_i64(
	    ts_r,
	    "SELECT coalesce(round(extract(epoch FROM locked_until - now())), 0)::bigint"
	    " FROM users WHERE username = $1",
	    1, name);
}

static int64_t audit_count(const char *action, const char *actor, const char *outcome)
{
	return ts_sql_i64(
	    ts_r,
	    "SELECT count(*) FROM audit_events WHERE action = $1"
	    " AND ($2::text IS NULL OR actor = $2) AND ($3::text IS NULL OR outcome = $3)"
	    " AND peer <> ''",
	    3, action, actor, outcome);
}

/* CreateUser by the admin, which must succeed; pw NULL: a service account. */
static int64_t create_user(const char *name, const char *pw, const char *role)
{
	Flow__V1__CreateUserRequest req = FLOW__V1__CREATE_USER_REQUEST__INIT;
	Flow__V1__User *u;
	int rv;

	as_admin();
	req.username = (char *)name;
	req.password = (char *)pw;
	req.role = (char *)role;
	req.has_service_account = true;
	req.service_account = pw == NULL;
	rv = ts_call(ts_r, h_create_user, &req, &u);
	if (rv != FLOW_OK)
		fail_msg("CreateUser %s: %d %s", name, rv, ts_r->message);
	assert_string_equal(u->username, name);
	return u->id;
}

static int login(const char *name, const char *pw, Flow__V1__TokenPair **tp)
{
	Flow__V1__LoginRequest req = FLOW__V1__LOGIN_REQUEST__INIT;

	memset(&ts_r->who, 0, sizeof(ts_r->who)); /* Login is public */
	ts_r->retry_after_ms = 0;
	req.username = (char *)name;
	req.password = (char *)pw;
	return ts_call(ts_r, h_login, &req, tp);
}

/* A login from a fresh peer that must succeed. */
static Flow__V1__TokenPair *login_ok(const char *name, const char *pw)
{
	Flow__V1__TokenPair *tp;
	int rv;

	fresh_peer();
	rv = login(name, pw, &tp);
	if (rv != FLOW_OK)
		fail_msg("login %s: %d %s", name, rv, ts_r->message);
	return tp;
}

static void expect_bad_login(const char *name, const char *pw)
{
	Flow__V1__TokenPair *tp;

	fresh_peer();
	assert_req_error(ts_r, login(name, pw, &tp), FLOW_UNAUTHENTICATED, BAD_LOGIN);
	assert_null(tp);
	assert_int_equal(ts_r->retry_after_ms, 0);
}

static int refresh(const char *tok, Flow__V1__TokenPair **tp)
{
	Flow__V1__RefreshRequest req = FLOW__V1__REFRESH_REQUEST__INIT;

	memset(&ts_r->who, 0, sizeof(ts_r->who));
	req.refresh_token = (char *)tok;
	return ts_call(ts_r, h_refresh, &req, tp);
}

static void claims_of(const char *token, struct jwt_claims *c)
{
	char err[128];
	int rv = jwt_verify(token, auth_config.key, auth_config.key_len, "flowd", "flowd",
			    (int64_t)time(NULL), 0, c, err, sizeof(err));

	if (rv != FLOW_OK)
		fail_msg("jwt_verify: %s", err);
}

/* Acts as the holder of tp's access token (what the guard would set). */
static void become(const Flow__V1__TokenPair *tp)
{
	struct jwt_claims c;

	claims_of(tp->access_token, &c);
	memset(&ts_r->who, 0, sizeof(ts_r->who));
	ts_r->who.user_id = strtoll(c.sub, NULL, 10);
	ts_r->who.role = auth_role_parse(c.role);
	snprintf(ts_r->who.username, sizeof(ts_r->who.username), "%s", tp->username);
	snprintf(ts_r->who.jti, sizeof(ts_r->who.jti), "%s", c.jti);
	ts_r->who.exp_s = c.exp;
}

static int64_t refresh_row(const char *tok)
{
	char id[24];

	assert_int_equal(auth_secret_parse(tok, "flr", id, sizeof(id)), 0);
	return strtoll(id, NULL, 10);
}

static int64_t family_of(const char *tok)
{
	return ts_sql_i64(ts_r, "SELECT family FROM refresh_tokens WHERE id = $1", 1,
			  ts_i64s(refresh_row(tok)));
}

static bool jti_revoked(const char *jti)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM revoked_tokens WHERE jti = $1", 1, jti) == 1;
}

/* Would the guard accept this access token now? (Its signature, then the
 * database's verdict: user enabled, token not older than
 * tokens_valid_after, jti not revoked.) */
static bool token_live(const char *access)
{
	struct jwt_claims c;
	enum flow_role role;
	char name[72];
	int rv;

	claims_of(access, &c);
	rv = store_access_token_state(ts_r, strtoll(c.sub, NULL, 10), c.jti, c.iat, &role, name,
				      sizeof(name));
	if (rv != FLOW_OK && rv != FLOW_UNAUTHENTICATED)
		fail_msg("store_access_token_state: %d %s", rv, ts_r->message);
	return rv == FLOW_OK;
}

static int64_t now_ms(void)
{
	return (int64_t)time(NULL) * 1000;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	char secret[JWT_RANDOM_SECRET_SIZE];
	bool created = false;

	ts_group_setup(state);
	if (jwt_random_secret(secret, sizeof(secret)) != 0)
		return -1;
	memcpy(auth_config.key, secret, 48);
	auth_config.key_len = 48;
	snprintf(auth_config.issuer, sizeof(auth_config.issuer), "flowd");
	snprintf(auth_config.audience, sizeof(auth_config.audience), "flowd");
	auth_config.access_ttl_s = 900;
	auth_config.refresh_ttl_s = 2592000;
	auth_config.leeway_s = 30;
	auth_config.cache_ms = 0;
	auth_config.lockout_threshold = 5;
	auth_config.lockout_base_s = 900;
	auth_config.lockout_max_s = 86400;
	auth_config.login_rate = 5;
	auth_config.login_peer_rate = 5;
	auth_config.login_window_s = 900;
	auth_config.admin_rate = 10000;
	auth_config.rpc_rate = 0;
	if (auth_init() != FLOW_OK)
		return -1;
	set_peer("local");
	if (users_create_admin(ts_r, ADMIN, PW, &created) != FLOW_OK || !created)
		return -1;
	admin_id = user_id_of(ADMIN);
	return admin_id > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	auth_shutdown();
	return ts_group_teardown(state);
}

/* ---- tests ---- */

static void test_login_ok(void **state)
{
	Flow__V1__WhoAmIRequest wreq = FLOW__V1__WHO_AM_IREQUEST__INIT;
	Flow__V1__WhoAmIResponse *who;
	Flow__V1__TokenPair *tp;
	struct jwt_claims c;
	char sub[24];
	int64_t id = create_user("alice", PW, NULL), row;

	(void)state;
	tp = login_ok("alice", PW);
	claims_of(tp->access_token, &c);
	snprintf(sub, sizeof(sub), "%" PRId64, id);
	assert_string_equal(c.sub, sub);
	assert_string_equal(c.role, "member");
	assert_string_equal(c.iss, "flowd");
	assert_string_equal(c.aud, "flowd");
	assert_int_equal(c.exp - c.iat, 900);
	assert_true(strlen(c.jti) >= 32);
	assert_int_equal(tp->access_expires_at, c.exp * 1000);
	assert_string_equal(tp->username, "alice");
	assert_string_equal(tp->role, "member");

	/* the refresh token: flr_<row id>_<43 chars>, stored only as its digest */
	assert_int_equal(strncmp(tp->refresh_token, "flr_", 4), 0);
	row = refresh_row(tp->refresh_token);
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "SELECT count(*) FROM refresh_tokens WHERE id = $1 AND user_id = $2"
		       " AND access_jti = $3 AND used_at IS NULL AND revoked_at IS NULL"
		       " AND access_exp = to_timestamp($5::bigint)"
		       " AND token_hash = sha256(convert_to($4, 'UTF8'))",
		       5, ts_i64s(row), ts_i64s(id), c.jti, tp->refresh_token, ts_i64s(c.exp)),
	    1);
	assert_true(llabs(tp->refresh_expires_at - now_ms() - 2592000000LL) < 10000);

	/* audited with the peer; the password appears nowhere */
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "SELECT count(*) FROM audit_events WHERE action = 'login'"
		       " AND outcome = 'ok' AND actor = 'alice' AND target = 'user:alice'"
		       " AND peer = $1",
		       1, ts_r->peer),
	    1);

	become(tp);
	assert_int_equal(ts_call(ts_r, h_who_am_i, &wreq, &who), FLOW_OK);
	assert_int_equal(who->user_id, id);
	assert_string_equal(who->username, "alice");
	assert_string_equal(who->role, "member");
	assert_string_equal(who->via, "password");
	assert_int_equal(who->expires_at, c.exp * 1000);
	assert_true(token_live(tp->access_token));
}

static void test_login_failures_look_alike(void **state)
{
	Flow__V1__UpdateUserRequest up = FLOW__V1__UPDATE_USER_REQUEST__INIT;
	Flow__V1__TokenPair *tp;
	Flow__V1__User *u;

	(void)state;
	create_user("bruno", PW, "admin");
	create_user("svc-bot", NULL, "worker");
	create_user("dora", PW, NULL);
	up.username = "dora";
	up.has_disabled = up.disabled = true;
	assert_int_equal(ts_call(ts_r, h_update_user, &up, &u), FLOW_OK);
	assert_true(u->disabled);

	expect_bad_login("bruno", "not-the-password-of-bruno");
	expect_bad_login("nobody-here", PW);
	expect_bad_login("dora", PW);	 /* disabled, right password */
	expect_bad_login("svc-bot", PW); /* service accounts have no password */
	expect_bad_login("Bruno", PW);	 /* names are exact */

	/* only the wrong password of a usable account counts */
	assert_int_equal(user_col("bruno", "failed_logins"), 1);
	assert_int_equal(user_col("dora", "failed_logins"), 0);
	assert_int_equal(user_col("svc-bot", "failed_logins"), 0);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM audit_events WHERE action = 'login'"
				    " AND outcome = 'failed' AND actor = 'nobody-here'"
				    " AND target = 'user:nobody-here' AND detail = 'unknown user'"
				    " AND peer LIKE '10.9.%'",
				    0),
			 1);
	assert_int_equal(audit_count("login", "dora", "failed"), 1);

	/* malformed requests are rejected before anything is checked */
	fresh_peer();
	assert_req_error(ts_r, login("", PW, &tp), FLOW_INVALID_ARGUMENT, "username is required");
	assert_req_error(ts_r, login("bruno", NULL, &tp), FLOW_INVALID_ARGUMENT,
			 "password is required");
	assert_req_error(ts_r, login("bru\nno", PW, &tp), FLOW_INVALID_ARGUMENT,
			 "username must not contain control characters (newlines, tabs, ...)");
}

static void test_lockout(void **state)
{
	Flow__V1__UnlockUserRequest ul = FLOW__V1__UNLOCK_USER_REQUEST__INIT;
	Flow__V1__User *u;

	(void)state;
	create_user("carla", PW, NULL);
	/* five failures from five addresses lock the account for 900 s */
	for (int i = 0; i < 5; i++)
		expect_bad_login("carla", "wrong-horse-battery");
	assert_int_equal(user_col("carla", "failed_logins"), 0);
	assert_int_equal(user_col("carla", "lockouts"), 1);
	assert_in_range(lock_left_s("carla"), 895, 900);
	assert_int_equal(audit_count("user.lockout", "carla", NULL), 1);

	/* locked: the right password gets the same answer and counts nothing */
	expect_bad_login("carla", PW);
	assert_int_equal(user_col("carla", "failed_logins"), 0);
	assert_int_equal(user_col("carla", "lockouts"), 1);
	assert_in_range(lock_left_s("carla"), 895, 900);

	/* after the lock ends, five more failures lock for twice as long */
	ts_sql_i64(ts_r,
		   "UPDATE users SET locked_until = now() - interval '1 s' WHERE username = $1", 1,
		   "carla");
	for (int i = 0; i < 5; i++)
		expect_bad_login("carla", "wrong-horse-battery");
	assert_int_equal(user_col("carla", "lockouts"), 2);
	assert_in_range(lock_left_s("carla"), 1795, 1800);

	/* the doubling stops at lockout_max_s */
	ts_sql_i64(ts_r,
		   "UPDATE users SET locked_until = now() - interval '1 s', lockouts = 20,"
		   " failed_logins = 4 WHERE username = $1",
		   1, "carla");
	expect_bad_login("carla", "wrong-horse-battery");
	assert_in_range(lock_left_s("carla"), 86395, 86400);

	/* an admin unlocks; the next login works and clears the lockout count */
	as_admin();
	ul.username = "carla";
	assert_int_equal(ts_call(ts_r, h_unlock_user, &ul, &u), FLOW_OK);
	assert_int_equal(u->locked_until, 0);
	assert_int_equal(u->failed_logins, 0);
	assert_int_equal(audit_count("user.unlock", ADMIN, "ok"), 1);
	login_ok("carla", PW);
	assert_int_equal(user_col("carla", "lockouts"), 0);

	as_admin();
	ul.username = "ghost";
	assert_req_error(ts_r, ts_call(ts_r, h_unlock_user, &ul, &u), FLOW_NOT_FOUND,
			 "user ghost not found");
}

static void test_refresh_rotation_and_reuse(void **state)
{
	Flow__V1__TokenPair *tp1, *tp2, *tp3, *x;
	struct jwt_claims c1, c2;
	char forged[128];
	int64_t fam;

	(void)state;
	create_user("erik", PW, NULL);
	tp1 = login_ok("erik", PW);
	fam = family_of(tp1->refresh_token);

	assert_int_equal(refresh(tp1->refresh_token, &tp2), FLOW_OK);
	assert_string_not_equal(tp2->refresh_token, tp1->refresh_token);
	assert_string_not_equal(tp2->access_token, tp1->access_token);
	assert_string_equal(tp2->username, "erik");
	assert_int_equal(family_of(tp2->refresh_token), fam);
	/* rotation keeps the login's absolute lifetime */
	assert_int_equal(tp2->refresh_expires_at, tp1->refresh_expires_at);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM refresh_tokens WHERE id = $1"
				    " AND used_at IS NOT NULL",
				    1, ts_i64s(refresh_row(tp1->refresh_token))),
			 1);
	claims_of(tp1->access_token, &c1);
	claims_of(tp2->access_token, &c2);

	/* tokens that are not exactly a stored one change nothing */
	snprintf(forged, sizeof(forged), "flr_%" PRId64 "_%s", refresh_row(tp2->refresh_token),
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	assert_req_error(ts_r, refresh(forged, &x), FLOW_UNAUTHENTICATED, BAD_REFRESH);
	assert_req_error(ts_r, refresh("garbage", &x), FLOW_UNAUTHENTICATED, BAD_REFRESH);
	assert_req_error(ts_r,
			 refresh("flr_99999999_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &x),
			 FLOW_UNAUTHENTICATED, BAD_REFRESH);
	assert_req_error(ts_r, refresh(NULL, &x), FLOW_INVALID_ARGUMENT,
			 "refreshToken is required");
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM refresh_tokens WHERE family = $1"
				    " AND revoked_at IS NOT NULL",
				    1, ts_i64s(fam)),
			 0);

	/* the used token comes back: the whole login is revoked */
	assert_req_error(ts_r, refresh(tp1->refresh_token, &x), FLOW_UNAUTHENTICATED, REUSED);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM refresh_tokens WHERE family = $1"
				    " AND revoked_at IS NULL",
				    1, ts_i64s(fam)),
			 0);
	assert_true(jti_revoked(c1.jti));
	assert_true(jti_revoked(c2.jti));
	assert_false(token_live(tp2->access_token));
	assert_int_equal(audit_count("token.reuse", "erik", "denied"), 1);
	/* ... so the legitimate successor is dead too */
	assert_req_error(ts_r, refresh(tp2->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);

	/* an expired token */
	tp3 = login_ok("erik", PW);
	ts_sql_i64(ts_r,
		   "UPDATE refresh_tokens SET expires_at = now() - interval '1 s' WHERE id = $1", 1,
		   ts_i64s(refresh_row(tp3->refresh_token)));
	assert_req_error(ts_r, refresh(tp3->refresh_token, &x), FLOW_UNAUTHENTICATED,
			 "refresh token expired");

	/* a disabled user gets nothing, and the refusal changes nothing */
	tp3 = login_ok("erik", PW);
	ts_sql_i64(ts_r, "UPDATE users SET disabled = true WHERE username = 'erik'", 0);
	assert_req_error(ts_r, refresh(tp3->refresh_token, &x), FLOW_UNAUTHENTICATED, BAD_REFRESH);
	ts_sql_i64(ts_r, "UPDATE users SET disabled = false WHERE username = 'erik'", 0);
	assert_int_equal(refresh(tp3->refresh_token, &x), FLOW_OK);
	assert_true(token_live(x->access_token));
}

/* A hash with parameters below the current ones is replaced at the next
 * successful login. */
static void test_login_rehashes(void **state)
{
	const unsigned char salt[16] = "0123456789abcdef";
	char weak[PASSWORD_ENCODED_MAX], *now;

	(void)state;
	create_user("nina", PW, NULL);
	assert_int_equal(argon2id_hash_encoded(1, 1024, 1, PW, strlen(PW), salt, sizeof(salt), 32,
					       weak, sizeof(weak)),
			 ARGON2_OK);
	assert_true(password_needs_rehash(weak));
	ts_sql_i64(ts_r, "UPDATE users SET password_hash = $1 WHERE username = 'nina'", 1, weak);
	login_ok("nina", PW);
	now = ts_sql_text(ts_r, "SELECT password_hash FROM users WHERE username = 'nina'", 0);
	assert_string_not_equal(now, weak);
	assert_false(password_needs_rehash(now));
	assert_int_equal(password_verify(now, PW), FLOW_OK);
	free(now);
}

static void test_logout(void **state)
{
	Flow__V1__LogoutRequest req = FLOW__V1__LOGOUT_REQUEST__INIT;
	Flow__V1__LogoutResponse *resp;
	Flow__V1__TokenPair *a, *b, *x;
	struct jwt_claims ca, cb;
	int64_t fam_a, fam_b;

	(void)state;
	create_user("fiona", PW, NULL);
	a = login_ok("fiona", PW);
	b = login_ok("fiona", PW);
	claims_of(a->access_token, &ca);
	claims_of(b->access_token, &cb);
	fam_a = family_of(a->refresh_token);
	fam_b = family_of(b->refresh_token);
	assert_int_not_equal(fam_a, fam_b);

	/* a refresh token that is not the caller's changes nothing */
	become(a);
	req.refresh_token = "flr_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	assert_req_error(ts_r, ts_call(ts_r, h_logout, &req, &resp), FLOW_UNAUTHENTICATED,
			 BAD_REFRESH);
	assert_false(jti_revoked(ca.jti));

	req.refresh_token = a->refresh_token;
	assert_int_equal(ts_call(ts_r, h_logout, &req, &resp), FLOW_OK);
	assert_true(resp->revoked);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM revoked_tokens WHERE jti = $1"
				    " AND expires_at = to_timestamp($2::bigint) AND user_id = $3",
				    3, ca.jti, ts_i64s(ca.exp), ts_i64s(ts_r->who.user_id)),
			 1);
	assert_false(token_live(a->access_token));
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM refresh_tokens WHERE family = $1"
				    " AND revoked_at IS NULL",
				    1, ts_i64s(fam_a)),
			 0);
	assert_req_error(ts_r, refresh(a->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);
	/* the other login is untouched */
	assert_true(token_live(b->access_token));
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM refresh_tokens WHERE family = $1"
				    " AND revoked_at IS NULL",
				    1, ts_i64s(fam_b)),
			 1);
	assert_int_equal(audit_count("logout", "fiona", "ok"), 1);

	/* without a refresh token, the login the access token came from ends too */
	become(b);
	req.refresh_token = NULL;
	assert_int_equal(ts_call(ts_r, h_logout, &req, &resp), FLOW_OK);
	assert_true(jti_revoked(cb.jti));
	assert_req_error(ts_r, refresh(b->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);

	/* API keys are not logged out */
	become(b);
	ts_r->who.via_api_key = true;
	ts_r->who.jti[0] = '\0';
	assert_req_error(ts_r, ts_call(ts_r, h_logout, &req, &resp), FLOW_FAILED_PRECONDITION,
			 "API keys are revoked with RevokeApiKey, not by logging out");
}

static void test_rate_limits(void **state)
{
	Flow__V1__TokenPair *tp;
	char name[32];
	int rv;

	(void)state;
	create_user("gabe", PW, NULL);
	set_peer("192.0.2.10:4000");
	for (int i = 0; i < 5; i++)
		assert_req_error(ts_r, login("gabe", "wrong-horse-battery", &tp),
				 FLOW_UNAUTHENTICATED, BAD_LOGIN);
	/* the 6th attempt for gabe from this peer is refused before any check */
	rv = login("gabe", "wrong-horse-battery", &tp);
	assert_int_equal(rv, FLOW_RESOURCE_EXHAUSTED);
	assert_int_equal(strncmp(ts_r->message, "too many login attempts; retry in ", 34), 0);
	assert_in_range(ts_r->retry_after_ms, 1, 900000);
	assert_int_equal(user_col("gabe", "lockouts"), 1);
	assert_int_equal(user_col("gabe", "failed_logins"), 0);

	/* another peer has its own budget (gabe is locked by now, so: refused) */
	set_peer("192.0.2.11:4000");
	assert_req_error(ts_r, login("gabe", PW, &tp), FLOW_UNAUTHENTICATED, BAD_LOGIN);
	assert_int_equal(ts_r->retry_after_ms, 0);

	/* and a peer's budget covers every username it tries */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "nobody-%d", i);
		assert_req_error(ts_r, login(name, PW, &tp), FLOW_UNAUTHENTICATED, BAD_LOGIN);
	}
	assert_int_equal(login("nobody-9", PW, &tp), FLOW_RESOURCE_EXHAUSTED);
	assert_true(ts_r->retry_after_ms > 0);
}

static void test_create_user_checks(void **state)
{
	Flow__V1__CreateUserRequest req = FLOW__V1__CREATE_USER_REQUEST__INIT;
	Flow__V1__ListUsersRequest lreq = FLOW__V1__LIST_USERS_REQUEST__INIT;
	Flow__V1__ListUsersResponse *list;
	Flow__V1__User *u;
	bool seen = false;

	(void)state;
	as_admin();
	req.username = "henry";
	req.password = "Tiny-pw1";
	assert_int_equal(ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT);
	assert_int_equal(strncmp(ts_r->message, "password is not accepted: ", 26), 0);
	assert_true(strlen(ts_r->message) > 26);
	assert_null(strstr(ts_r->message, "Tiny"));
	req.password = "henry-henry-orbits-7-lanterns";
	assert_int_equal(ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT);
	assert_int_equal(strncmp(ts_r->message, "password is not accepted: ", 26), 0);
	req.password = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "password is required");

	req.password = PW;
	req.username = "-henry";
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "username must be 1 to 64 letters, digits, '.', '_', '@' or '-', "
			 "starting with a letter or digit");
	req.username = "hen ry";
	assert_int_equal(ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT);
	req.username = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "username is required");
	req.username = "henry";
	req.role = "worker";
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "role must be admin or member for a user");
	req.role = "root";
	assert_int_equal(ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT);
	req.has_service_account = req.service_account = true;
	req.role = "admin";
	req.password = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "role must be worker or member for a service account");
	req.role = NULL;
	req.password = PW;
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "password must not be set for a service account (it uses API keys)");
	assert_int_equal(user_id_of("henry"), 0);

	/* a user; then the same name, also in other case, exists */
	req.has_service_account = req.service_account = false;
	assert_int_equal(ts_call(ts_r, h_create_user, &req, &u), FLOW_OK);
	assert_string_equal(u->username, "henry");
	assert_string_equal(u->kind, "user");
	assert_string_equal(u->role, "member");
	assert_false(u->disabled);
	assert_true(u->id > 0 && u->created_at > 0 && u->locked_until == 0);
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_ALREADY_EXISTS,
			 "user henry already exists");
	req.username = "HENRY";
	req.password = NULL;
	req.has_service_account = req.service_account = true;
	assert_req_error(ts_r, ts_call(ts_r, h_create_user, &req, &u), FLOW_ALREADY_EXISTS,
			 "user HENRY already exists");

	/* a service account: no password, worker by default */
	req.username = "ci-runner";
	assert_int_equal(ts_call(ts_r, h_create_user, &req, &u), FLOW_OK);
	assert_string_equal(u->kind, "service");
	assert_string_equal(u->role, "worker");
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM users WHERE username = 'ci-runner'"
				    " AND password_hash IS NULL",
				    0),
			 1);

	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM audit_events WHERE action = 'user.create'"
				    " AND target = 'user:henry' AND actor = $1 AND outcome = 'ok'"
				    " AND peer <> ''",
				    1, ADMIN),
			 1);
	assert_int_equal(ts_call(ts_r, h_list_users, &lreq, &list), FLOW_OK);
	for (size_t i = 0; i < list->n_users; i++) {
		if (i > 0)
			assert_true(list->users[i - 1]->id < list->users[i]->id);
		seen |= strcmp(list->users[i]->username, "ci-runner") == 0;
	}
	assert_true(seen);
}

static void test_update_user(void **state)
{
	Flow__V1__UpdateUserRequest req = FLOW__V1__UPDATE_USER_REQUEST__INIT;
	Flow__V1__TokenPair *tp, *x;
	Flow__V1__User *u;

	(void)state;
	create_user("ivan", PW, NULL);
	create_user("svc-upd", NULL, NULL);
	tp = login_ok("ivan", PW);

	/* a role change revokes every token of the user */
	as_admin();
	req.username = "ivan";
	req.role = "admin";
	assert_int_equal(ts_call(ts_r, h_update_user, &req, &u), FLOW_OK);
	assert_string_equal(u->role, "admin");
	assert_false(token_live(tp->access_token));
	assert_req_error(ts_r, refresh(tp->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);

	/* an admin cannot lock itself out */
	as_admin();
	flow__v1__update_user_request__init(&req);
	req.username = ADMIN;
	req.has_disabled = req.disabled = true;
	assert_req_error(ts_r, ts_call(ts_r, h_update_user, &req, &u), FLOW_FAILED_PRECONDITION,
			 "you cannot disable your own account");
	req.has_disabled = false;
	req.role = "member";
	assert_req_error(ts_r, ts_call(ts_r, h_update_user, &req, &u), FLOW_FAILED_PRECONDITION,
			 "you cannot change your own role; ask another admin");
	req.role = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_update_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "nothing to update: give at least one of role, disabled, password");
	req.username = "ghost";
	req.has_disabled = req.disabled = true;
	assert_req_error(ts_r, ts_call(ts_r, h_update_user, &req, &u), FLOW_NOT_FOUND,
			 "user ghost not found");
	req.username = "svc-upd";
	req.has_disabled = false;
	req.password = PW2;
	assert_req_error(ts_r, ts_call(ts_r, h_update_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "password must not be set for a service account (it uses API keys)");
	req.password = NULL;
	req.role = "admin";
	assert_req_error(ts_r, ts_call(ts_r, h_update_user, &req, &u), FLOW_INVALID_ARGUMENT,
			 "role must be worker or member for a service account");
	req.role = "member";
	assert_int_equal(ts_call(ts_r, h_update_user, &req, &u), FLOW_OK);
	assert_string_equal(u->role, "member");

	/* disabled: logins fail like any other */
	req.username = "ivan";
	req.role = NULL;
	req.has_disabled = req.disabled = true;
	assert_int_equal(ts_call(ts_r, h_update_user, &req, &u), FLOW_OK);
	assert_true(u->disabled);
	expect_bad_login("ivan", PW);

	/* an admin password reset, checked for strength, re-enabling the user */
	as_admin();
	req.has_disabled = true;
	req.disabled = false;
	req.password = "ivan-ivan-2024";
	assert_int_equal(ts_call(ts_r, h_update_user, &req, &u), FLOW_INVALID_ARGUMENT);
	req.password = PW2;
	assert_int_equal(ts_call(ts_r, h_update_user, &req, &u), FLOW_OK);
	assert_false(u->disabled);
	tp = login_ok("ivan", PW2);
	assert_true(token_live(tp->access_token));
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM audit_events WHERE action = 'user.update'"
				    " AND target = 'user:ivan' AND actor = $1",
				    1, ADMIN),
			 3);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM audit_events WHERE action = 'user.update'"
				    " AND strpos(detail, $1) > 0",
				    1, PW2),
			 0);
}

static void test_api_keys(void **state)
{
	Flow__V1__CreateApiKeyRequest req = FLOW__V1__CREATE_API_KEY_REQUEST__INIT;
	Flow__V1__ListApiKeysRequest lreq = FLOW__V1__LIST_API_KEYS_REQUEST__INIT;
	Flow__V1__RevokeApiKeyRequest rreq = FLOW__V1__REVOKE_API_KEY_REQUEST__INIT;
	Flow__V1__CreateApiKeyResponse *k, *k2;
	Flow__V1__ListApiKeysResponse *list;
	Flow__V1__ApiKey *revoked, *again;
	uint8_t stored[32], given[32];
	char uname[72], *key;
	const char *secret;
	enum flow_role role;
	int64_t kid = 0, uid = 0, first_revoked;

	(void)state;
	create_user("builder", NULL, "worker");
	as_admin();
	req.username = "builder";
	req.name = "ci";
	req.has_expires_in_days = true;
	req.expires_in_days = 30;
	assert_int_equal(ts_call(ts_r, h_create_api_key, &req, &k), FLOW_OK);
	key = strdup(k->key);
	/* flk_<8 hex>_<43 chars>; the visible prefix is flk_<8 hex> */
	assert_int_equal(strlen(key), 12 + 1 + 43);
	assert_int_equal(strlen(k->key_info->prefix), 12);
	assert_int_equal(strncmp(key, k->key_info->prefix, 12), 0);
	assert_int_equal(key[12], '_');
	assert_int_equal(strspn(k->key_info->prefix + 4, "0123456789abcdef"), 8);
	assert_string_equal(k->key_info->username, "builder");
	assert_string_equal(k->key_info->name, "ci");
	assert_int_equal(k->key_info->revoked_at, 0);
	assert_int_equal(k->key_info->last_used_at, 0);
	assert_true(llabs(k->key_info->expires_at - now_ms() - 30LL * 86400000) < 10000);

	/* the database holds the digest and nothing of the key's secret part */
	secret = key + 13;
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM api_keys WHERE prefix = $1"
				    " AND key_hash = sha256(convert_to($2, 'UTF8'))",
				    2, k->key_info->prefix, key),
			 1);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM api_keys k WHERE strpos(k::text, $1) > 0",
				    1, secret),
			 0);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM audit_events a WHERE strpos(a::text, $1) > 0", 1,
		       secret),
	    0);
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "SELECT count(*) FROM audit_events WHERE action = 'apikey.create'"
		       " AND target = 'apikey:' || $1 AND actor = $2",
		       2, k->key_info->prefix, ADMIN),
	    1);

	/* the guard's lookup finds it by prefix and the digests match */
	auth_digest(key, given);
	assert_int_equal(store_access_api_key(ts_r, k->key_info->prefix, stored, &kid, &uid, uname,
					      sizeof(uname), &role),
			 FLOW_OK);
	assert_memory_equal(stored, given, 32);
	assert_int_equal(kid, k->key_info->id);
	assert_int_equal(uid, user_id_of("builder"));
	assert_int_equal(role, ROLE_WORKER);

	/* checks */
	as_admin();
	req.expires_in_days = 3651;
	assert_req_error(ts_r, ts_call(ts_r, h_create_api_key, &req, &k2), FLOW_INVALID_ARGUMENT,
			 "expiresInDays must be between 0 (no expiry) and 3650");
	req.expires_in_days = -1;
	assert_int_equal(ts_call(ts_r, h_create_api_key, &req, &k2), FLOW_INVALID_ARGUMENT);
	req.has_expires_in_days = false;
	req.name = "two\nlines";
	assert_int_equal(ts_call(ts_r, h_create_api_key, &req, &k2), FLOW_INVALID_ARGUMENT);
	req.name = NULL;
	req.username = "ghost";
	assert_req_error(ts_r, ts_call(ts_r, h_create_api_key, &req, &k2), FLOW_NOT_FOUND,
			 "user ghost not found");
	req.username = ADMIN; /* users log in with passwords, not keys */
	assert_req_error(ts_r, ts_call(ts_r, h_create_api_key, &req, &k2),
			 FLOW_FAILED_PRECONDITION,
			 "API keys are for service accounts; " ADMIN " logs in with a password "
			 "(create a service account: user create NAME --service-account)");

	/* a second key, without expiry; listing */
	req.username = "builder";
	assert_int_equal(ts_call(ts_r, h_create_api_key, &req, &k2), FLOW_OK);
	assert_int_equal(k2->key_info->expires_at, 0);
	assert_string_equal(k2->key_info->name, "");
	assert_string_not_equal(k2->key_info->prefix, k->key_info->prefix);
	lreq.username = "builder";
	assert_int_equal(ts_call(ts_r, h_list_api_keys, &lreq, &list), FLOW_OK);
	assert_int_equal(list->n_keys, 2);
	assert_int_equal(list->keys[0]->id, k->key_info->id);
	assert_string_equal(list->keys[1]->username, "builder");
	lreq.username = NULL;
	assert_int_equal(ts_call(ts_r, h_list_api_keys, &lreq, &list), FLOW_OK);
	assert_true(list->n_keys >= 2);
	lreq.username = "ghost";
	assert_req_error(ts_r, ts_call(ts_r, h_list_api_keys, &lreq, &list), FLOW_NOT_FOUND,
			 "user ghost not found");

	/* revocation: immediate for the guard, idempotent */
	rreq.has_key_id = true;
	rreq.key_id = k->key_info->id;
	assert_int_equal(ts_call(ts_r, h_revoke_api_key, &rreq, &revoked), FLOW_OK);
	assert_true(revoked->revoked_at > 0);
	first_revoked = revoked->revoked_at;
	assert_int_equal(store_access_api_key(ts_r, k->key_info->prefix, stored, &kid, &uid, uname,
					      sizeof(uname), &role),
			 FLOW_UNAUTHENTICATED);
	as_admin();
	assert_int_equal(ts_call(ts_r, h_revoke_api_key, &rreq, &again), FLOW_OK);
	assert_int_equal(again->revoked_at, first_revoked);
	assert_int_equal(audit_count("apikey.revoke", ADMIN, "ok"), 2);
	rreq.key_id = 99999999;
	assert_req_error(ts_r, ts_call(ts_r, h_revoke_api_key, &rreq, &again), FLOW_NOT_FOUND,
			 "API key 99999999 not found");
	rreq.has_key_id = false;
	assert_int_equal(ts_call(ts_r, h_revoke_api_key, &rreq, &again), FLOW_INVALID_ARGUMENT);
	free(key);
}

static int add_member(int64_t project, const char *name, const char *role,
		      Flow__V1__ProjectMember **m)
{
	Flow__V1__AddProjectMemberRequest req = FLOW__V1__ADD_PROJECT_MEMBER_REQUEST__INIT;

	req.has_project_id = project != 0;
	req.project_id = project;
	req.username = (char *)name;
	req.role = (char *)role;
	return ts_call(ts_r, h_add_project_member, &req, m);
}

static int remove_member(int64_t project, const char *name, bool *removed)
{
	Flow__V1__RemoveProjectMemberRequest req = FLOW__V1__REMOVE_PROJECT_MEMBER_REQUEST__INIT;
	Flow__V1__RemoveProjectMemberResponse *resp;
	int rv;

	req.has_project_id = true;
	req.project_id = project;
	req.username = (char *)name;
	rv = ts_call(ts_r, h_remove_project_member, &req, &resp);
	if (rv == FLOW_OK)
		*removed = resp->removed;
	return rv;
}

static void test_membership(void **state)
{
	Flow__V1__ListProjectMembersRequest lreq = FLOW__V1__LIST_PROJECT_MEMBERS_REQUEST__INIT;
	Flow__V1__ListProjectMembersResponse *list;
	Flow__V1__ProjectMember *m;
	int64_t project = ts_insert_project(ts_r);
	char msg[160];
	bool removed = false;

	(void)state;
	create_user("m-one", NULL, "member");
	create_user("m-two", NULL, "member");
	as_admin();
	assert_int_equal(add_member(project, "m-one", "owner", &m), FLOW_OK);
	assert_string_equal(m->role, "owner");
	assert_int_equal(m->project_id, project);
	assert_true(m->added_at > 0);
	assert_int_equal(add_member(project, "m-two", NULL, &m), FLOW_OK);
	assert_string_equal(m->role, "member");

	lreq.has_project_id = true;
	lreq.project_id = project;
	assert_int_equal(ts_call(ts_r, h_list_project_members, &lreq, &list), FLOW_OK);
	assert_int_equal(list->n_members, 2);
	assert_string_equal(list->members[0]->username, "m-one");
	assert_string_equal(list->members[0]->role, "owner");
	assert_string_equal(list->members[1]->username, "m-two");

	/* the last owner stays */
	snprintf(msg, sizeof(msg),
		 "user m-one is the last owner of project %" PRId64
		 "; make another member an owner first",
		 project);
	assert_req_error(ts_r, remove_member(project, "m-one", &removed), FLOW_FAILED_PRECONDITION,
			 msg);
	assert_req_error(ts_r, add_member(project, "m-one", "member", &m), FLOW_FAILED_PRECONDITION,
			 msg);
	assert_int_equal(add_member(project, "m-two", "owner", &m), FLOW_OK);
	assert_int_equal(remove_member(project, "m-one", &removed), FLOW_OK);
	assert_true(removed);
	assert_int_equal(remove_member(project, "m-one", &removed), FLOW_OK);
	assert_false(removed);
	assert_int_equal(ts_call(ts_r, h_list_project_members, &lreq, &list), FLOW_OK);
	assert_int_equal(list->n_members, 1);
	assert_string_equal(list->members[0]->role, "owner");

	/* bad input */
	assert_req_error(ts_r, add_member(99999999, "m-one", NULL, &m), FLOW_NOT_FOUND,
			 "project 99999999 not found");
	assert_req_error(ts_r, add_member(project, "ghost", NULL, &m), FLOW_NOT_FOUND,
			 "user ghost not found");
	assert_req_error(ts_r, add_member(project, "m-one", "boss", &m), FLOW_INVALID_ARGUMENT,
			 "role must be owner or member");
	assert_int_equal(add_member(0, "m-one", NULL, &m), FLOW_INVALID_ARGUMENT);
	lreq.project_id = 99999999;
	assert_req_error(ts_r, ts_call(ts_r, h_list_project_members, &lreq, &list), FLOW_NOT_FOUND,
			 "project 99999999 not found");
	assert_int_equal(audit_count("member.add", ADMIN, "ok"), 3);
	assert_int_equal(audit_count("member.remove", ADMIN, "ok"), 1);
}

static void test_change_password(void **state)
{
	Flow__V1__ChangePasswordRequest req = FLOW__V1__CHANGE_PASSWORD_REQUEST__INIT;
	Flow__V1__ChangePasswordResponse *resp;
	Flow__V1__TokenPair *tp, *tp2, *x;

	(void)state;
	create_user("judy", PW, NULL);
	create_user("svc-pw", NULL, NULL);
	tp = login_ok("judy", PW);
	become(tp);
	req.old_password = "wrong-horse-battery";
	req.new_password = PW2;
	assert_req_error(ts_r, ts_call(ts_r, h_change_password, &req, &resp), FLOW_UNAUTHENTICATED,
			 "oldPassword is incorrect");
	assert_int_equal(audit_count("user.password", "judy", "failed"), 1);
	req.old_password = PW;
	req.new_password = "short";
	assert_int_equal(ts_call(ts_r, h_change_password, &req, &resp), FLOW_INVALID_ARGUMENT);
	assert_int_equal(strncmp(ts_r->message, "newPassword is not accepted: ", 29), 0);
	req.new_password = PW;
	assert_req_error(ts_r, ts_call(ts_r, h_change_password, &req, &resp), FLOW_INVALID_ARGUMENT,
			 "newPassword must differ from oldPassword");
	req.new_password = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_change_password, &req, &resp), FLOW_INVALID_ARGUMENT,
			 "newPassword is required");

	req.new_password = PW2;
	assert_int_equal(ts_call(ts_r, h_change_password, &req, &resp), FLOW_OK);
	assert_true(resp->changed);
	/* every token of judy is gone, the caller's included */
	assert_false(token_live(tp->access_token));
	assert_req_error(ts_r, refresh(tp->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);
	expect_bad_login("judy", PW);
	/* a login in the same second as the change works */
	tp2 = login_ok("judy", PW2);
	assert_true(token_live(tp2->access_token));
	assert_int_equal(audit_count("user.password", "judy", "ok"), 1);

	/* service accounts have no password */
	memset(&ts_r->who, 0, sizeof(ts_r->who));
	ts_r->who.user_id = user_id_of("svc-pw");
	ts_r->who.role = ROLE_WORKER;
	ts_r->who.via_api_key = true;
	snprintf(ts_r->who.username, sizeof(ts_r->who.username), "svc-pw");
	assert_req_error(ts_r, ts_call(ts_r, h_change_password, &req, &resp),
			 FLOW_FAILED_PRECONDITION,
			 "service accounts have no password; they use API keys");
}

static void test_revoke_user_tokens(void **state)
{
	Flow__V1__RevokeUserTokensRequest req = FLOW__V1__REVOKE_USER_TOKENS_REQUEST__INIT;
	Flow__V1__RevokeUserTokensResponse *resp;
	Flow__V1__TokenPair *a, *b, *c, *x;

	(void)state;
	create_user("kim", PW, NULL);
	a = login_ok("kim", PW);
	b = login_ok("kim", PW);
	as_admin();
	req.username = "kim";
	assert_int_equal(ts_call(ts_r, h_revoke_user_tokens, &req, &resp), FLOW_OK);
	assert_int_equal(resp->refresh_tokens_revoked, 2);
	assert_false(token_live(a->access_token));
	assert_false(token_live(b->access_token));
	assert_req_error(ts_r, refresh(a->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);
	assert_req_error(ts_r, refresh(b->refresh_token, &x), FLOW_UNAUTHENTICATED, REVOKED);
	/* tokens issued right after, in the same second, are good */
	c = login_ok("kim", PW);
	assert_true(token_live(c->access_token));
	assert_int_equal(refresh(c->refresh_token, &x), FLOW_OK);
	assert_true(token_live(x->access_token));
	assert_int_equal(audit_count("user.revoke_tokens", ADMIN, "ok"), 1);
	assert_int_equal(resp->api_keys_revoked, 0);

	/* a service account's API keys are revoked too */
	{
		Flow__V1__CreateApiKeyRequest kr = FLOW__V1__CREATE_API_KEY_REQUEST__INIT;
		Flow__V1__CreateApiKeyResponse *k;
		uint8_t stored[32];
		char uname[72];
		enum flow_role role;
		int64_t kid, uid;

		create_user("kim-ci", NULL, "worker");
		as_admin();
		kr.username = "kim-ci";
		assert_int_equal(ts_call(ts_r, h_create_api_key, &kr, &k), FLOW_OK);
		req.username = "kim-ci";
		assert_int_equal(ts_call(ts_r, h_revoke_user_tokens, &req, &resp), FLOW_OK);
		assert_int_equal(resp->api_keys_revoked, 1);
		assert_int_equal(store_access_api_key(ts_r, k->key_info->prefix, stored, &kid, &uid,
						      uname, sizeof(uname), &role),
				 FLOW_UNAUTHENTICATED);
	}

	as_admin();
	req.username = "ghost";
	assert_req_error(ts_r, ts_call(ts_r, h_revoke_user_tokens, &req, &resp), FLOW_NOT_FOUND,
			 "user ghost not found");
}

static void test_create_admin(void **state)
{
	bool created = true;
	char *before, *after;

	(void)state;
	set_peer("local");
	as_admin();
	assert_int_equal(users_create_admin(ts_r, "boss", "short", &created),
			 FLOW_INVALID_ARGUMENT);
	assert_false(created);
	assert_int_equal(strncmp(ts_r->message, "the admin's password is rejected: ", 34), 0);
	assert_int_equal(users_create_admin(ts_r, "bad name", PW, &created), FLOW_INVALID_ARGUMENT);
	assert_int_equal(user_id_of("boss"), 0);

	/* an existing user is left alone, whatever the password */
	before = ts_sql_text(ts_r, "SELECT password_hash FROM users WHERE username = $1", 1, ADMIN);
	created = true;
	assert_int_equal(users_create_admin(ts_r, ADMIN, "short", &created), FLOW_OK);
	assert_false(created);
	after = ts_sql_text(ts_r, "SELECT password_hash FROM users WHERE username = $1", 1, ADMIN);
	assert_string_equal(before, after);
	free(before);
	free(after);

	assert_int_equal(users_create_admin(ts_r, "boss", PW, &created), FLOW_OK);
	assert_true(created);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM users WHERE username = 'boss'"
				    " AND role = 'admin' AND kind = 'user'"
				    " AND password_hash LIKE '$argon2id$%'",
				    0),
			 1);
}

static void test_audit_list(void **state)
{
	Flow__V1__ListAuditRequest req = FLOW__V1__LIST_AUDIT_REQUEST__INIT;
	Flow__V1__ListAuditResponse *resp, *page;

	(void)state;
	as_admin();
	req.action = "login";
	req.has_limit = true;
	req.limit = 3;
	assert_int_equal(ts_call(ts_r, h_list_audit, &req, &resp), FLOW_OK);
	assert_int_equal(resp->n_events, 3);
	for (size_t i = 0; i < resp->n_events; i++) {
		assert_string_equal(resp->events[i]->action, "login");
		assert_true(resp->events[i]->peer[0] != '\0');
		assert_true(resp->events[i]->at > 0);
		if (i > 0)
			assert_true(resp->events[i - 1]->id > resp->events[i]->id);
	}
	req.has_before_id = true;
	req.before_id = resp->events[0]->id;
	req.limit = 1;
	assert_int_equal(ts_call(ts_r, h_list_audit, &req, &page), FLOW_OK);
	assert_int_equal(page->n_events, 1);
	assert_int_equal(page->events[0]->id, resp->events[1]->id);

	req.has_before_id = false;
	req.has_limit = false;
	req.action = NULL;
	req.actor = "carla";
	assert_int_equal(ts_call(ts_r, h_list_audit, &req, &resp), FLOW_OK);
	assert_true(resp->n_events >= 13);
	for (size_t i = 0; i < resp->n_events; i++)
		assert_string_equal(resp->events[i]->actor, "carla");

	req.has_limit = true;
	req.limit = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_list_audit, &req, &resp), FLOW_INVALID_ARGUMENT,
			 "limit must be between 1 and 1000");
	req.limit = 1001;
	assert_int_equal(ts_call(ts_r, h_list_audit, &req, &resp), FLOW_INVALID_ARGUMENT);
	req.limit = 10;
	req.has_before_id = true;
	req.before_id = -1;
	assert_int_equal(ts_call(ts_r, h_list_audit, &req, &resp), FLOW_INVALID_ARGUMENT);

	/* no password of these tests was ever audited */
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "SELECT count(*) FROM audit_events a WHERE strpos(a::text, $1) > 0"
		       " OR strpos(a::text, $2) > 0 OR strpos(a::text, 'wrong-horse') > 0",
		       2, PW, PW2),
	    0);
}

static void test_cleanup(void **state)
{
	int64_t uid = admin_id;
	int removed = 0;

	(void)state;
	ts_sql_i64(ts_r,
		   "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES"
		   " ('gone-1', $1, now() - interval '1 hour'),"
		   " ('leeway-1', $1, now() - interval '1 minute'),"
		   " ('future-1', $1, now() + interval '1 hour')",
		   1, ts_i64s(uid));
	ts_sql_i64(
	    ts_r,
	    "INSERT INTO refresh_tokens (user_id, family, token_hash, access_jti, access_exp,"
	    " expires_at) VALUES"
	    " ($1, nextval('refresh_token_families'), sha256('a'), 'old-a',"
	    "  now() - interval '3 days', now() - interval '2 days'),"
	    " ($1, nextval('refresh_token_families'), sha256('b'), 'old-b',"
	    "  now() - interval '2 hours', now() - interval '1 hour')",
	    1, ts_i64s(uid));
	assert_int_equal(store_auth_cleanup(ts_r, &removed), FLOW_OK);
	assert_true(removed >= 2);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM revoked_tokens WHERE jti = 'gone-1'", 0), 0);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM revoked_tokens"
				    " WHERE jti IN ('leeway-1', 'future-1')",
				    0),
			 2);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM refresh_tokens WHERE access_jti = 'old-a'", 0),
	    0);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM refresh_tokens WHERE access_jti = 'old-b'", 0),
	    1);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM revoked_tokens"
				    " WHERE expires_at < now() - interval '5 minutes'",
				    0),
			 0);
}

/* ---- concurrency ---- */

#define RACERS 4

struct racer {
	pthread_barrier_t *start;
	const char *refresh_token; /* Refresh this, or */
	const char *revoke_user;   /* RevokeUserTokens of this user (as the admin) */
	int delay_us;		   /* waits this long after the start */
	int rv;
	char *access, *refresh; /* what a successful Refresh returned (malloc'd) */
};

/* One call on its own connection, after every racer is ready. */
static void *race(void *arg)
{
	struct racer *x = arg;
	struct flow_req *r = ts_req_connect(ts_db_url);
	ProtobufCMessage *out = NULL;

	snprintf(r->peer, sizeof(r->peer), "10.8.0.1:7000");
	if (x->revoke_user != NULL) {
		Flow__V1__RevokeUserTokensRequest req = FLOW__V1__REVOKE_USER_TOKENS_REQUEST__INIT;

		r->who.user_id = admin_id;
		snprintf(r->who.username, sizeof(r->who.username), ADMIN);
		req.username = (char *)x->revoke_user;
		pthread_barrier_wait(x->start);
		usleep((useconds_t)x->delay_us);
		x->rv = h_revoke_user_tokens(r, &req.base, &out);
	} else {
		Flow__V1__RefreshRequest req = FLOW__V1__REFRESH_REQUEST__INIT;

		memset(&r->who, 0, sizeof(r->who));
		req.refresh_token = (char *)x->refresh_token;
		pthread_barrier_wait(x->start);
		usleep((useconds_t)x->delay_us);
		x->rv = h_refresh(r, &req.base, &out);
		if (x->rv == FLOW_OK) {
			x->access = strdup(((Flow__V1__TokenPair *)out)->access_token);
			x->refresh = strdup(((Flow__V1__TokenPair *)out)->refresh_token);
		} else {
			x->access = strdup(r->message); /* the error, for the test */
		}
	}
	ts_req_close(r, NULL);
	return NULL;
}

/* Runs the n racers at once and waits for them. */
static void run_race(struct racer *x, int n)
{
	pthread_barrier_t start;
	pthread_t th[RACERS];

	assert_true(n <= RACERS);
	assert_int_equal(pthread_barrier_init(&start, NULL, (unsigned)n), 0);
	for (int i = 0; i < n; i++) {
		x[i].start = &start;
		assert_int_equal(pthread_create(&th[i], NULL, race, &x[i]), 0);
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
}

static void free_racers(struct racer *x, int n)
{
	for (int i = 0; i < n; i++) {
		free(x[i].access);
		free(x[i].refresh);
	}
}

/* The same refresh token presented by several clients at once: one wins,
 * the others are reuse, and the reuse revokes the winner's new tokens too. */
static void test_concurrent_refresh(void **state)
{
	struct racer x[RACERS] = { 0 };
	Flow__V1__TokenPair *tp;
	int ok = 0, winner = -1;

	(void)state;
	create_user("lena", PW, NULL);
	tp = login_ok("lena", PW);
	for (int i = 0; i < RACERS; i++)
		x[i].refresh_token = tp->refresh_token;
	run_race(x, RACERS);
	for (int i = 0; i < RACERS; i++) {
		if (x[i].rv == FLOW_OK) {
			ok++;
			winner = i;
		} else {
			assert_int_equal(x[i].rv, FLOW_UNAUTHENTICATED);
			assert_string_equal(x[i].access, REUSED);
		}
	}
	assert_int_equal(ok, 1);
	assert_false(token_live(x[winner].access));
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "SELECT count(*) FROM refresh_tokens t JOIN users u ON u.id = t.user_id"
		       " WHERE u.username = 'lena' AND t.revoked_at IS NULL",
		       0),
	    0);
	free_racers(x, RACERS);
}

/* A refresh racing "revoke every token of the user": whichever runs first
 * (the rounds shift the start of one or the other), no token of the user
 * survives both. */
static void test_refresh_races_revocation(void **state)
{
	(void)state;
	create_user("mona", PW, NULL);
	for (int round = 0; round < 10; round++) {
		struct racer x[2] = { 0 };
		Flow__V1__TokenPair *tp = login_ok("mona", PW);

		x[0].refresh_token = tp->refresh_token;
		x[1].revoke_user = "mona";
		x[round % 2].delay_us = 700 * (round / 2);
		run_race(x, 2);
		assert_int_equal(x[1].rv, FLOW_OK);
		if (x[0].rv == FLOW_OK)
			assert_false(token_live(x[0].access));
		else
			assert_string_equal(x[0].access, REVOKED);
		assert_false(token_live(tp->access_token));
		assert_int_equal(
		    ts_sql_i64(ts_r,
			       "SELECT count(*) FROM refresh_tokens t"
			       " JOIN users u ON u.id = t.user_id WHERE u.username = 'mona'"
			       " AND t.revoked_at IS NULL AND t.used_at IS NULL",
			       0),
		    0);
		free_racers(x, 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_login_ok, ts_test_reset),
		cmocka_unit_test_setup(test_login_failures_look_alike, ts_test_reset),
		cmocka_unit_test_setup(test_lockout, ts_test_reset),
		cmocka_unit_test_setup(test_refresh_rotation_and_reuse, ts_test_reset),
		cmocka_unit_test_setup(test_login_rehashes, ts_test_reset),
		cmocka_unit_test_setup(test_logout, ts_test_reset),
		cmocka_unit_test_setup(test_rate_limits, ts_test_reset),
		cmocka_unit_test_setup(test_create_user_checks, ts_test_reset),
		cmocka_unit_test_setup(test_update_user, ts_test_reset),
		cmocka_unit_test_setup(test_api_keys, ts_test_reset),
		cmocka_unit_test_setup(test_membership, ts_test_reset),
		cmocka_unit_test_setup(test_change_password, ts_test_reset),
		cmocka_unit_test_setup(test_revoke_user_tokens, ts_test_reset),
		cmocka_unit_test_setup(test_create_admin, ts_test_reset),
		cmocka_unit_test_setup(test_audit_list, ts_test_reset),
		cmocka_unit_test_setup(test_cleanup, ts_test_reset),
		cmocka_unit_test_setup(test_concurrent_refresh, ts_test_reset),
		cmocka_unit_test_setup(test_refresh_races_revocation, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
