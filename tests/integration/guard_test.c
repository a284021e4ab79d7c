/*
 * guard_test - the auth guard (auth/auth.c) on a real PostgreSQL: which
 * tokens authenticate, what each role may call, project scoping of members,
 * revocation (and its cache), API keys, and the per-principal rate limits.
 * Users and keys are made with plain SQL so the guard is tested on its own.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "flow/v1/auth.pb-c.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "rpc.h"
#include "status.h"
#include "testsupport.h"
#include "ts_store.h"

static const char key[] = "guard-test-key-0123456789abcdefghijklmnopqrstuvwxyz";

static int64_t admin_id, alice_id, bob_id, worker_id;
static int64_t alice_project, bob_project, bob_ticket, bob_queue;

static void config(int cache_ms, int admin_rate, int rpc_rate)
{
	memset(&auth_config, 0, sizeof(auth_config));
	memcpy(auth_config.key, key, strlen(key));
	auth_config.key_len = strlen(key);
	snprintf(auth_config.issuer, sizeof(auth_config.issuer), "flowd");
	snprintf(auth_config.audience, sizeof(auth_config.audience), "flowd");
	auth_config.access_ttl_s = 900;
	auth_config.leeway_s = 5;
	auth_config.cache_ms = cache_ms;
	auth_config.login_rate = auth_config.login_peer_rate = 5;
	auth_config.login_window_s = 900;
	auth_config.admin_rate = admin_rate;
	auth_config.rpc_rate = rpc_rate;
	assert_int_equal(auth_init(), FLOW_OK);
}

static int64_t insert_user(const char *name, const char *role, const char *kind)
{
	return ts_sql_i64(ts_r,
			  "INSERT INTO users (username, role, kind, password_hash)"
			  " VALUES ($1, $2, $3, CASE WHEN $3 = 'user' THEN 'x' END) RETURNING id",
			  3, name, role, kind);
}

static int setup(void **state)
{
	ts_group_setup(state);
	config(2000, 1000, 0);
	admin_id = insert_user("root", "admin", "user");
	alice_id = insert_user("alice", "member", "user");
	bob_id = insert_user("bob", "member", "user");
	worker_id = insert_user("w1", "worker", "service");
	alice_project = ts_insert_project(ts_r);
	bob_project = ts_insert_project(ts_r);
	bob_ticket = ts_insert_ticket(ts_r, bob_project, 5, NULL, NULL);
	bob_queue = ts_sql_i64(ts_r, "INSERT INTO queues (project_id, name) VALUES ($1, 'q')"
				     " RETURNING id", 1, ts_i64s(bob_project));
	ts_sql_i64(ts_r, "INSERT INTO project_members (project_id, user_id, role) VALUES"
			 " ($1, $2, 'owner'), ($3, $4, 'owner'), ($1, $4, 'member')",
		   4, ts_i64s(alice_project), ts_i64s(alice_id), ts_i64s(bob_project),
		   ts_i64s(bob_id));
	return 0;
}

static int teardown(void **state)
{
	auth_shutdown();
	return ts_group_teardown(state);
}

/* An access token for user id uid with role, issued iat_off seconds from now. */
static void token_for(int64_t uid, const char *role, int64_t iat_off, char *out, size_t len,
		      char *jti)
{
	struct jwt_claims c = { 0 };

	assert_int_equal(jwt_new_jti(c.jti), 0);
	snprintf(c.sub, sizeof(c.sub), "%" PRId64, uid);
	snprintf(c.role, sizeof(c.role), "%s", role);
	snprintf(c.iss, sizeof(c.iss), "flowd");
	snprintf(c.aud, sizeof(c.aud), "flowd");
	c.iat = (int64_t)time(NULL) + iat_off;
	c.exp = c.iat + 600;
	assert_int_equal(jwt_sign(&c, (const uint8_t *)key, strlen(key), out, len), FLOW_OK);
	if (jti)
		strcpy(jti, c.jti);
}

/* Runs the guard for method path with token and request. */
static int guard(const char *path, const char *token, const ProtobufCMessage *in)
{
	const ProtobufCServiceDescriptor *svc;
	const ProtobufCMethodDescriptor *m;

	assert_int_equal(rpc_method_find(path, &svc, &m), FLOW_OK);
	ts_req_reset(ts_r);
	ts_r->method = path;
	snprintf(ts_r->peer, sizeof(ts_r->peer), "127.0.0.9");
	return auth_guard(ts_r, svc, m, token, in);
}

static void test_public_and_missing_token(void **state)
{
	Flow__V1__LoginRequest login = FLOW__V1__LOGIN_REQUEST__INIT;
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;

	assert_int_equal(guard("/flow.v1.AuthService/Login", NULL, &login.base), FLOW_OK);
	assert_int_equal(ts_r->who.role, ROLE_NONE);
	assert_int_equal(guard("/flow.v1.AuthService/Refresh", NULL, &login.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", NULL, &lp.base),
			 FLOW_UNAUTHENTICATED);
	assert_non_null(strstr(ts_r->message, "needs credentials"));
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", "", &lp.base),
			 FLOW_UNAUTHENTICATED);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", "garbage", &lp.base),
			 FLOW_UNAUTHENTICATED);
	assert_non_null(strstr(ts_r->message, "invalid access token"));
}

static void test_bad_tokens(void **state)
{
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	char tok[2048], other[2048];
	struct jwt_claims c = { 0 };

	/* signed with another key */
	assert_int_equal(jwt_new_jti(c.jti), 0);
	snprintf(c.sub, sizeof(c.sub), "%" PRId64, admin_id);
	strcpy(c.role, "admin");
	strcpy(c.iss, "flowd");
	strcpy(c.aud, "flowd");
	c.iat = (int64_t)time(NULL);
	c.exp = c.iat + 600;
	assert_int_equal(jwt_sign(&c, (const uint8_t *)"another-key-0123456789abcdefghijkl", 34, other,
				  sizeof(other)),
			 FLOW_OK);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", other, &lp.base),
			 FLOW_UNAUTHENTICATED);
	/* wrong audience */
	strcpy(c.aud, "someone-else");
	assert_int_equal(jwt_sign(&c, (const uint8_t *)key, strlen(key), tok, sizeof(tok)), FLOW_OK);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
	/* expired */
	strcpy(c.aud, "flowd");
	c.iat = (int64_t)time(NULL) - 2000;
	c.exp = c.iat + 600;
	assert_int_equal(jwt_sign(&c, (const uint8_t *)key, strlen(key), tok, sizeof(tok)), FLOW_OK);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
	/* alg none: header {"alg":"none","typ":"JWT"}, same payload, no signature */
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects",
			       "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIn0.", &lp.base),
			 FLOW_UNAUTHENTICATED);
	/* a user that does not exist */
	token_for(999999, "admin", 0, tok, sizeof(tok), NULL);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
}

static void test_roles(void **state)
{
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	Flow__V1__ListUsersRequest lu = FLOW__V1__LIST_USERS_REQUEST__INIT;
	Flow__V1__ClaimRequest cl = FLOW__V1__CLAIM_REQUEST__INIT;
	Flow__V1__WhoAmIRequest who = FLOW__V1__WHO_AM_IREQUEST__INIT;
	char adm[2048], ali[2048], wrk[2048];
	int64_t denials = ts_sql_i64(ts_r, "SELECT count(*) FROM audit_events"
					   " WHERE action = 'permission.denied'", 0);

	token_for(admin_id, "admin", 0, adm, sizeof(adm), NULL);
	token_for(alice_id, "member", 0, ali, sizeof(ali), NULL);
	token_for(worker_id, "worker", 0, wrk, sizeof(wrk), NULL);

	assert_int_equal(guard("/flow.v1.AuthService/ListUsers", adm, &lu.base), FLOW_OK);
	assert_int_equal(ts_r->who.role, ROLE_ADMIN);
	assert_int_equal(ts_r->who.user_id, admin_id);
	assert_string_equal(ts_r->who.username, "root");
	assert_int_equal(guard("/flow.v1.WorkerService/Claim", adm, &cl.base), FLOW_OK);

	assert_int_equal(guard("/flow.v1.AuthService/ListUsers", ali, &lu.base),
			 FLOW_PERMISSION_DENIED);
	assert_string_equal(ts_r->message, "ListUsers is for admins only");
	assert_int_equal(guard("/flow.v1.WorkerService/Claim", ali, &cl.base),
			 FLOW_PERMISSION_DENIED);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", ali, &lp.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.AuthService/WhoAmI", ali, &who.base), FLOW_OK);

	assert_int_equal(guard("/flow.v1.WorkerService/Claim", wrk, &cl.base), FLOW_OK);
	assert_int_equal(ts_r->who.role, ROLE_WORKER);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", wrk, &lp.base),
			 FLOW_PERMISSION_DENIED);
	assert_string_equal(ts_r->message, "the worker role may not call ListProjects");
	assert_int_equal(guard("/flow.v1.AuthService/ListUsers", wrk, &lu.base),
			 FLOW_PERMISSION_DENIED);

	/* the role comes from the database, not from the token's claim */
	token_for(alice_id, "admin", 0, ali, sizeof(ali), NULL);
	assert_int_equal(guard("/flow.v1.AuthService/ListUsers", ali, &lu.base),
			 FLOW_PERMISSION_DENIED);

	/* every denial is in the audit log, with who and from where */
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM audit_events"
					  " WHERE action = 'permission.denied'", 0),
			 denials + 5);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM audit_events"
					  " WHERE action = 'permission.denied' AND actor = 'w1'"
					  " AND peer = '127.0.0.9' AND outcome = 'denied'"
					  " AND target = '/flow.v1.AuthService/ListUsers'", 0),
			 1);
}

/* ListWorkers shows every project's workers and items: admins only, though
 * the rest of FlowManager is open to members. */
static void test_list_workers_admin_only(void **state)
{
	Flow__V1__ListWorkersRequest lw = FLOW__V1__LIST_WORKERS_REQUEST__INIT;
	Flow__V1__GetQueueStatsRequest qs = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;
	char adm[2048], bob[2048], wrk[2048];

	token_for(admin_id, "admin", 0, adm, sizeof(adm), NULL);
	token_for(bob_id, "member", 0, bob, sizeof(bob), NULL);
	token_for(worker_id, "worker", 0, wrk, sizeof(wrk), NULL);
	qs.has_queue_id = 1;
	qs.queue_id = bob_queue;

	assert_int_equal(guard("/flow.v1.FlowManager/ListWorkers", adm, &lw.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.FlowManager/GetQueueStats", bob, &qs.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.FlowManager/ListWorkers", bob, &lw.base),
			 FLOW_PERMISSION_DENIED);
	assert_string_equal(ts_r->message, "ListWorkers is for admins only");
	assert_int_equal(guard("/flow.v1.FlowManager/ListWorkers", wrk, &lw.base),
			 FLOW_PERMISSION_DENIED);
	assert_string_equal(ts_r->message, "ListWorkers is for admins only");
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM audit_events"
					  " WHERE action = 'permission.denied' AND actor = 'bob'"
					  " AND target = '/flow.v1.FlowManager/ListWorkers'", 0),
			 1);
}

static void test_worker_scope(void **state)
{
	Flow__V1__HeartbeatRequest hb = FLOW__V1__HEARTBEAT_REQUEST__INIT;
	Flow__V1__RegisterWorkerRequest rw = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	int64_t w2_id = insert_user("w2", "worker", "service");
	int64_t mine = ts_sql_i64(ts_r, "INSERT INTO workers (name, agent_ids, capacity, principal_id)"
					" VALUES ('w', '{noop}', 1, $1) RETURNING id",
				  1, ts_i64s(worker_id));
	char w1[2048], w2[2048], adm[2048], want[96];

	token_for(worker_id, "worker", 0, w1, sizeof(w1), NULL);
	token_for(w2_id, "worker", 0, w2, sizeof(w2), NULL);
	token_for(admin_id, "admin", 0, adm, sizeof(adm), NULL);
	hb.has_worker_id = 1;
	hb.worker_id = mine;
	assert_int_equal(guard("/flow.v1.WorkerService/Heartbeat", w1, &hb.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.WorkerService/Heartbeat", w2, &hb.base),
			 FLOW_PERMISSION_DENIED);
	snprintf(want, sizeof(want), "worker %" PRId64 " belongs to another account", mine);
	assert_string_equal(ts_r->message, want);
	assert_int_equal(guard("/flow.v1.WorkerService/Heartbeat", adm, &hb.base), FLOW_OK);
	/* an unknown worker id is left to the handler (NOT_FOUND: register again) */
	hb.worker_id = mine + 1000;
	assert_int_equal(guard("/flow.v1.WorkerService/Heartbeat", w2, &hb.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.WorkerService/RegisterWorker", w2, &rw.base), FLOW_OK);
}

static void test_member_scope(void **state)
{
	Flow__V1__GetProjectRequest gp = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__DeleteProjectRequest dp = FLOW__V1__DELETE_PROJECT_REQUEST__INIT;
	Flow__V1__GetTicketRequest gt = FLOW__V1__GET_TICKET_REQUEST__INIT;
	Flow__V1__EnqueueTicketRequest et = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;
	Flow__V1__RetryItemsRequest ri = FLOW__V1__RETRY_ITEMS_REQUEST__INIT;
	Flow__V1__ReorderTasksRequest ro = FLOW__V1__REORDER_TASKS_REQUEST__INIT;
	Flow__V1__TaskOrder order = FLOW__V1__TASK_ORDER__INIT, *orders[1] = { &order };
	Flow__V1__AddProjectMemberRequest am = FLOW__V1__ADD_PROJECT_MEMBER_REQUEST__INIT;
	Flow__V1__GetAllQueueStatsRequest qs = FLOW__V1__GET_ALL_QUEUE_STATS_REQUEST__INIT;
	char ali[2048], bob[2048], want[128];
	int64_t task = ts_insert_task(ts_r, bob_ticket, 0, NULL, NULL);
	int64_t item = ts_sql_i64(ts_r, "INSERT INTO queue_items (queue_id, ticket_id, task_id)"
					" VALUES ($1, $2, $3) RETURNING id",
				  3, ts_i64s(bob_queue), ts_i64s(bob_ticket), ts_i64s(task));
	int64_t items[2] = { 0, item };

	token_for(alice_id, "member", 0, ali, sizeof(ali), NULL);
	token_for(bob_id, "member", 0, bob, sizeof(bob), NULL);

	gp.has_project_id = 1;
	gp.project_id = alice_project;
	assert_int_equal(guard("/flow.v1.ProjectManager/GetProject", ali, &gp.base), FLOW_OK);
	gp.project_id = bob_project;
	assert_int_equal(guard("/flow.v1.ProjectManager/GetProject", ali, &gp.base),
			 FLOW_PERMISSION_DENIED);
	snprintf(want, sizeof(want), "project %" PRId64 " is in a project you are not a member of",
		 bob_project);
	assert_string_equal(ts_r->message, want);
	/* a project that does not exist is left to the handler (NOT_FOUND) */
	gp.project_id = 987654;
	assert_int_equal(guard("/flow.v1.ProjectManager/GetProject", ali, &gp.base), FLOW_OK);

	/* objects resolve to their project: ticket, queue, item, nested task ids */
	gt.has_ticket_id = 1;
	gt.ticket_id = bob_ticket;
	assert_int_equal(guard("/flow.v1.FlowManager/GetTicket", ali, &gt.base),
			 FLOW_PERMISSION_DENIED);
	assert_int_equal(guard("/flow.v1.FlowManager/GetTicket", bob, &gt.base), FLOW_OK);
	/* a queue in bob's project with a ticket in alice's: bob needs both */
	et.has_queue_id = et.has_ticket_id = 1;
	et.queue_id = bob_queue;
	et.ticket_id = ts_insert_ticket(ts_r, alice_project, 5, NULL, NULL);
	assert_int_equal(guard("/flow.v1.FlowManager/EnqueueTicket", bob, &et.base), FLOW_OK);
	ts_sql_i64(ts_r, "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2", 2,
		   ts_i64s(alice_project), ts_i64s(bob_id));
	assert_int_equal(guard("/flow.v1.FlowManager/EnqueueTicket", bob, &et.base),
			 FLOW_PERMISSION_DENIED);
	assert_non_null(strstr(ts_r->message, "ticket"));
	ri.n_queue_item_ids = 2;
	ri.queue_item_ids = items;
	assert_int_equal(guard("/flow.v1.FlowManager/RetryItems", ali, &ri.base),
			 FLOW_PERMISSION_DENIED);
	assert_int_equal(guard("/flow.v1.FlowManager/RetryItems", bob, &ri.base), FLOW_OK);
	order.has_task_id = 1;
	order.task_id = task;
	ro.n_tasks = 1;
	ro.tasks = orders;
	assert_int_equal(guard("/flow.v1.FlowManager/ReorderTasks", ali, &ro.base),
			 FLOW_PERMISSION_DENIED);

	/* owners only: deleting the project, managing its members */
	dp.has_project_id = 1;
	dp.project_id = alice_project;
	ts_sql_i64(ts_r, "INSERT INTO project_members (project_id, user_id, role)"
			 " VALUES ($1, $2, 'member')", 2, ts_i64s(alice_project), ts_i64s(bob_id));
	assert_int_equal(guard("/flow.v1.ProjectManager/DeleteProject", bob, &dp.base),
			 FLOW_PERMISSION_DENIED);
	assert_non_null(strstr(ts_r->message, "do not own"));
	assert_int_equal(guard("/flow.v1.ProjectManager/DeleteProject", ali, &dp.base), FLOW_OK);
	am.has_project_id = 1;
	am.project_id = alice_project;
	am.username = "bob";
	assert_int_equal(guard("/flow.v1.AuthService/AddProjectMember", bob, &am.base),
			 FLOW_PERMISSION_DENIED);
	assert_int_equal(guard("/flow.v1.AuthService/AddProjectMember", ali, &am.base), FLOW_OK);

	/* a project-wide call that names no project is not for members */
	assert_int_equal(guard("/flow.v1.FlowManager/GetAllQueueStats", ali, &qs.base),
			 FLOW_PERMISSION_DENIED);
}

static void test_revocation(void **state)
{
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	char tok[2048], jti[64], old[2048];

	config(0, 1000, 0); /* no cache: every check asks the database */
	token_for(alice_id, "member", 0, tok, sizeof(tok), jti);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base), FLOW_OK);
	assert_string_equal(ts_r->who.jti, jti);
	ts_sql_i64(ts_r, "INSERT INTO revoked_tokens (jti, user_id, expires_at)"
			 " VALUES ($1, $2, now() + interval '1 hour')", 2, jti, ts_i64s(alice_id));
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
	assert_string_equal(ts_r->message, "access token has been revoked");

	/* revoke everything of a user: older tokens die, newer ones live */
	token_for(alice_id, "member", -10, old, sizeof(old), NULL);
	ts_sql_i64(ts_r, "UPDATE users SET tokens_valid_after = now() - interval '5 seconds'"
			 " WHERE id = $1", 1, ts_i64s(alice_id));
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", old, &lp.base),
			 FLOW_UNAUTHENTICATED);
	token_for(alice_id, "member", 0, tok, sizeof(tok), NULL);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base), FLOW_OK);

	/* a disabled user */
	ts_sql_i64(ts_r, "UPDATE users SET disabled = true WHERE id = $1", 1, ts_i64s(alice_id));
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
	ts_sql_i64(ts_r, "UPDATE users SET disabled = false WHERE id = $1", 1, ts_i64s(alice_id));

	/* with a cache, a revocation elsewhere is seen once the entry is stale;
	 * one made through this process (auth_cache_forget_*) at once */
	config(60000, 1000, 0);
	token_for(alice_id, "member", 0, tok, sizeof(tok), jti);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base), FLOW_OK);
	ts_sql_i64(ts_r, "INSERT INTO revoked_tokens (jti, user_id, expires_at)"
			 " VALUES ($1, $2, now() + interval '1 hour')", 2, jti, ts_i64s(alice_id));
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base), FLOW_OK);
	auth_cache_forget_jti(jti);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
	config(2000, 1000, 0);
}

/* The cache holds the verified token string itself: a token that differs
 * in one byte is verified afresh, and a cached token still expires. */
static void test_cache_checks_expiry_and_bytes(void **state)
{
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	char tok[2048], bad[2048];
	size_t n;

	config(60000, 1000, 0);
	auth_config.leeway_s = 0;
	token_for(bob_id, "member", -599, tok, sizeof(tok), NULL); /* expires in 1 s */
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base), FLOW_OK);
	assert_int_equal(ts_r->who.user_id, bob_id);

	/* the same token with its signature's last character changed */
	strcpy(bad, tok);
	n = strlen(bad);
	bad[n - 1] = bad[n - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", bad, &lp.base),
			 FLOW_UNAUTHENTICATED);
	assert_non_null(strstr(ts_r->message, "invalid access token"));

	/* the cached entry is younger than the cache's 60 s, the token is not */
	ts_sleep_ms(2100);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", tok, &lp.base),
			 FLOW_UNAUTHENTICATED);
	assert_non_null(strstr(ts_r->message, "expired"));
	config(2000, 1000, 0);
}

/* Inserts an API key for user and returns it in out. */
static void make_key(int64_t user, const char *prefix_id, const char *expires, char *out)
{
	uint8_t d[32];
	char hex[65], prefix[32];

	assert_int_equal(auth_new_secret("flk", prefix_id, out, AUTH_SECRET_MAX, d), 0);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	snprintf(prefix, sizeof(prefix), "flk_%s", prefix_id);
	ts_sql_i64(ts_r, "INSERT INTO api_keys (user_id, prefix, key_hash, expires_at)"
			 " VALUES ($1, $2, decode($3, 'hex'), $4::timestamptz)",
		   4, ts_i64s(user), prefix, hex, expires);
}

static void test_api_keys(void **state)
{
	Flow__V1__ClaimRequest cl = FLOW__V1__CLAIM_REQUEST__INIT;
	char k[AUTH_SECRET_MAX], expired[AUTH_SECRET_MAX], forged[AUTH_SECRET_MAX];

	config(0, 1000, 0);
	make_key(worker_id, "0a1b2c3d", NULL, k);
	make_key(worker_id, "0a1b2c3e", "2001-01-01", expired);
	assert_int_equal(guard("/flow.v1.WorkerService/Claim", k, &cl.base), FLOW_OK);
	assert_true(ts_r->who.via_api_key);
	assert_int_equal(ts_r->who.user_id, worker_id);
	assert_string_equal(ts_r->who.username, "w1");
	assert_true(ts_sql_i64(ts_r, "SELECT count(*) FROM api_keys WHERE prefix = 'flk_0a1b2c3d'"
				     " AND last_used_at IS NOT NULL", 0) == 1);

	assert_int_equal(guard("/flow.v1.WorkerService/Claim", expired, &cl.base),
			 FLOW_UNAUTHENTICATED);
	assert_string_equal(ts_r->message, "invalid API key");
	/* right prefix, wrong secret (same length) */
	snprintf(forged, sizeof(forged), "%s", k);
	forged[strlen(forged) - 1] = forged[strlen(forged) - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(guard("/flow.v1.WorkerService/Claim", forged, &cl.base),
			 FLOW_UNAUTHENTICATED);
	assert_int_equal(guard("/flow.v1.WorkerService/Claim", "flk_0a1b2c3d_short", &cl.base),
			 FLOW_UNAUTHENTICATED);
	/* revoked */
	ts_sql_i64(ts_r, "UPDATE api_keys SET revoked_at = now() WHERE prefix = 'flk_0a1b2c3d'", 0);
	assert_int_equal(guard("/flow.v1.WorkerService/Claim", k, &cl.base), FLOW_UNAUTHENTICATED);
	config(2000, 1000, 0);
}

static void test_rate_limits(void **state)
{
	Flow__V1__ListUsersRequest lu = FLOW__V1__LIST_USERS_REQUEST__INIT;
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	char adm[2048], ali[2048], bob[2048];

	config(2000, 3, 4);
	token_for(admin_id, "admin", 0, adm, sizeof(adm), NULL);
	token_for(alice_id, "member", 0, ali, sizeof(ali), NULL);
	token_for(bob_id, "member", 0, bob, sizeof(bob), NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(guard("/flow.v1.AuthService/ListUsers", adm, &lu.base), FLOW_OK);
	assert_int_equal(guard("/flow.v1.AuthService/ListUsers", adm, &lu.base),
			 FLOW_RESOURCE_EXHAUSTED);
	assert_true(ts_r->retry_after_ms > 0 && ts_r->retry_after_ms <= 60000);
	assert_non_null(strstr(ts_r->message, "too many admin calls"));

	for (int i = 0; i < 4; i++)
		assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", ali, &lp.base),
				 FLOW_OK);
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", ali, &lp.base),
			 FLOW_RESOURCE_EXHAUSTED);
	assert_true(ts_r->retry_after_ms > 0 && ts_r->retry_after_ms <= 1000);
	/* another principal has its own budget */
	assert_int_equal(guard("/flow.v1.ProjectManager/ListProjects", bob, &lp.base), FLOW_OK);
	config(2000, 1000, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_public_and_missing_token, ts_test_reset),
		cmocka_unit_test_setup(test_bad_tokens, ts_test_reset),
		cmocka_unit_test_setup(test_roles, ts_test_reset),
		cmocka_unit_test_setup(test_list_workers_admin_only, ts_test_reset),
		cmocka_unit_test_setup(test_worker_scope, ts_test_reset),
		cmocka_unit_test_setup(test_member_scope, ts_test_reset),
		cmocka_unit_test_setup(test_revocation, ts_test_reset),
		cmocka_unit_test_setup(test_cache_checks_expiry_and_bytes, ts_test_reset),
		cmocka_unit_test_setup(test_api_keys, ts_test_reset),
		cmocka_unit_test_setup(test_rate_limits, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
