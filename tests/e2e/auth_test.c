/*
 * e2e.auth: authentication and authorization through the real flowd (and
 * flowctl): no token, no call; members see only their projects; workers
 * only the worker service; login rate limits; refresh rotation and reuse;
 * revocation seen by a second flowd on the same database; the audit log;
 * and nothing secret in any log.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "flow/v1/auth.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "status.h"
#include "testsupport.h"
#include "ts_flowd.h"

#define ALICE_PW "Lantern-orbit-5517-quiet"
#define BOB_PW "Harbor-cinnamon-8820-vast"

static struct ts_flowd flowd;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
/* Every secret the test used, to look for in the logs at the end. */
static char secrets[32][2100];
static int n_secrets;

static void remember(const char *s)
{
	if (n_secrets < 32 && s && *s)
		snprintf(secrets[n_secrets++], sizeof(secrets[0]), "%s", s);
}

static int setup(void **state)
{
	static char *const extra[] = { "--log-level=debug", NULL };

	(void)state;
	if (ts_flowd_start(&flowd, NULL, extra) != 0)
		return -1;
	remember(flowd.token);
	remember(flowd.worker_key);
	remember(TS_ADMIN_PASSWORD);
	remember(TS_JWT_SECRET);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return ts_flowd_stop(&flowd) == 0 ? 0 : -1;
}

static void create_user(const char *name, const char *pw, const char *role)
{
	Flow__V1__CreateUserRequest cu = FLOW__V1__CREATE_USER_REQUEST__INIT;
	struct rpc_status st;

	cu.username = (char *)name;
	cu.password = (char *)pw;
	cu.role = (char *)role;
	if (ts_rpc(flowd.url, flowd.token, "/flow.v1.AuthService/CreateUser", &cu.base, NULL, &st) !=
	    FLOW_OK)
		fail_msg("CreateUser %s: %s", name, st.message);
	remember(pw);
}

static int64_t create_project(const char *token, const char *name)
{
	Flow__V1__CreateProjectRequest cp = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct rpc_status st;
	int64_t id;

	cp.name = (char *)name;
	if (ts_rpc(flowd.url, token, "/flow.v1.ProjectManager/CreateProject", &cp.base, &resp, &st) !=
	    FLOW_OK)
		fail_msg("CreateProject: %s", st.message);
	id = ((Flow__V1__Project *)resp)->id;
	protobuf_c_message_free_unpacked(resp, NULL);
	return id;
}

/* The number of projects token may see, or -1 with the code in *code. */
static int list_projects(const char *token, int *code)
{
	Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct rpc_status st;
	int n;

	*code = ts_rpc(flowd.url, token, "/flow.v1.ProjectManager/ListProjects", &lp.base, &resp, &st);
	if (*code != FLOW_OK)
		return -1;
	n = (int)((Flow__V1__ListProjectsResponse *)resp)->n_projects;
	protobuf_c_message_free_unpacked(resp, NULL);
	return n;
}

static void test_no_token_no_call(void **state)
{
	json_t *j;
	int code;
	char *argv[] = { (char *)ts_bin("flowctl"), "--url", flowd.url, "call", "project_manager",
			 "{\"action\":\"list\"}", NULL };
	char *out = NULL, *err = NULL, creds[700];
	int status;

	(void)state;
	assert_int_equal(list_projects(NULL, &code), -1);
	assert_int_equal(code, FLOW_UNAUTHENTICATED);
	assert_int_equal(list_projects("not-a-token", &code), -1);
	assert_int_equal(code, FLOW_UNAUTHENTICATED);
	/* flowctl without FLOW_TOKEN and without a login */
	unsetenv("FLOW_TOKEN");
	setenv("FLOW_CREDENTIALS", "/nonexistent/credentials.json", 1);
	assert_int_equal(ts_run_capture(argv, NULL, &out, &err, &status, 30000), 0);
	setenv("FLOW_TOKEN", flowd.token, 1);
	snprintf(creds, sizeof(creds), "%s/credentials.json", flowd.dir);
	setenv("FLOW_CREDENTIALS", creds, 1);
	assert_int_equal(status, 1);
	j = json_loads(err, 0, NULL);
	assert_non_null(j);
	assert_string_equal(ts_err_code(j), "UNAUTHENTICATED");
	json_decref(j);
	free(out);
	free(err);
	/* the admin's token works */
	assert_true(list_projects(flowd.token, &code) >= 0);
}

static void test_members_see_their_projects(void **state)
{
	Flow__V1__GetProjectRequest gp = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__AddProjectMemberRequest am = FLOW__V1__ADD_PROJECT_MEMBER_REQUEST__INIT;
	char alice[2048], bob[2048], refresh[256];
	struct rpc_status st;
	int64_t pid;
	int code;

	(void)state;
	create_user("alice", ALICE_PW, "member");
	create_user("bob", BOB_PW, "member");
	assert_int_equal(ts_login(flowd.url, "alice", ALICE_PW, alice, sizeof(alice), refresh,
				  sizeof(refresh), &st),
			 FLOW_OK);
	remember(alice);
	remember(refresh);
	assert_int_equal(ts_login(flowd.url, "bob", BOB_PW, bob, sizeof(bob), NULL, 0, &st), FLOW_OK);
	remember(bob);

	pid = create_project(alice, "alice's");
	assert_int_equal(list_projects(alice, &code), 1);
	assert_int_equal(list_projects(bob, &code), 0);
	gp.has_project_id = 1;
	gp.project_id = pid;
	assert_int_equal(ts_rpc(flowd.url, bob, "/flow.v1.ProjectManager/GetProject", &gp.base, NULL,
				&st),
			 FLOW_PERMISSION_DENIED);
	/* bob may not add himself; alice, the owner, may add him */
	am.has_project_id = 1;
	am.project_id = pid;
	am.username = "bob";
	assert_int_equal(ts_rpc(flowd.url, bob, "/flow.v1.AuthService/AddProjectMember", &am.base,
				NULL, &st),
			 FLOW_PERMISSION_DENIED);
	assert_int_equal(ts_rpc(flowd.url, alice, "/flow.v1.AuthService/AddProjectMember", &am.base,
				NULL, &st),
			 FLOW_OK);
	assert_int_equal(list_projects(bob, &code), 1);
	assert_int_equal(ts_rpc(flowd.url, bob, "/flow.v1.ProjectManager/GetProject", &gp.base, NULL,
				&st),
			 FLOW_OK);
	/* the admin sees every project */
	assert_true(list_projects(flowd.token, &code) >= 1);
}

static void test_worker_key_only_for_workers(void **state)
{
	Flow__V1__RegisterWorkerRequest rw = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	char *agents[] = { "noop" };
	struct rpc_status st;
	int code;

	(void)state;
	assert_int_equal(list_projects(flowd.worker_key, &code), -1);
	assert_int_equal(code, FLOW_PERMISSION_DENIED);
	rw.name = "w";
	rw.n_agent_ids = 1;
	rw.agent_ids = agents;
	assert_int_equal(ts_rpc(flowd.url, flowd.worker_key, "/flow.v1.WorkerService/RegisterWorker",
				&rw.base, NULL, &st),
			 FLOW_OK);
}

static void test_refresh_rotation_and_reuse(void **state)
{
	Flow__V1__RefreshRequest rr = FLOW__V1__REFRESH_REQUEST__INIT;
	ProtobufCMessage *resp;
	struct rpc_status st;
	char access[2048], first[256], second[256];
	int code;

	(void)state;
	assert_int_equal(ts_login(flowd.url, "alice", ALICE_PW, access, sizeof(access), first,
				  sizeof(first), &st),
			 FLOW_OK);
	remember(access);
	remember(first);
	rr.refresh_token = first;
	assert_int_equal(ts_rpc(flowd.url, NULL, "/flow.v1.AuthService/Refresh", &rr.base, &resp, &st),
			 FLOW_OK);
	snprintf(second, sizeof(second), "%s", ((Flow__V1__TokenPair *)resp)->refresh_token);
	remember(second);
	remember(((Flow__V1__TokenPair *)resp)->access_token);
	assert_string_not_equal(second, first);
	protobuf_c_message_free_unpacked(resp, NULL);
	/* the first token again: reuse, the whole family dies */
	assert_int_equal(ts_rpc(flowd.url, NULL, "/flow.v1.AuthService/Refresh", &rr.base, NULL, &st),
			 FLOW_UNAUTHENTICATED);
	rr.refresh_token = second;
	assert_int_equal(ts_rpc(flowd.url, NULL, "/flow.v1.AuthService/Refresh", &rr.base, NULL, &st),
			 FLOW_UNAUTHENTICATED);
	/* and the access token issued with the first login too */
	assert_int_equal(list_projects(access, &code), -1);
	assert_int_equal(code, FLOW_UNAUTHENTICATED);
}

/* A second flowd on the same database sees a logout within its cache time. */
static void test_revocation_across_processes(void **state)
{
	static char *const extra[] = { "--auth-cache=500", NULL };
	Flow__V1__LogoutRequest lo = FLOW__V1__LOGOUT_REQUEST__INIT;
	struct ts_flowd other;
	struct rpc_status st;
	char access[2048], refresh[256];
	int code, tries = 0;
	int64_t seen_ms = -1;

	(void)state;
	assert_int_equal(ts_flowd_start(&other, flowd.db_url, extra), 0);
	setenv("FLOW_TOKEN", flowd.token, 1);
	assert_int_equal(ts_login(flowd.url, "bob", BOB_PW, access, sizeof(access), refresh,
				  sizeof(refresh), &st),
			 FLOW_OK);
	remember(access);
	remember(refresh);
	assert_int_equal(list_projects(access, &code), 1);
	/* through the other flowd: accepted (and now cached there) */
	{
		Flow__V1__ListProjectsRequest lp = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;

		assert_int_equal(ts_rpc(other.url, access, "/flow.v1.ProjectManager/ListProjects",
					&lp.base, NULL, &st),
				 FLOW_OK);
		lo.refresh_token = refresh;
		assert_int_equal(ts_rpc(flowd.url, access, "/flow.v1.AuthService/Logout", &lo.base,
					NULL, &st),
				 FLOW_OK);
		/* this flowd: at once */
		assert_int_equal(list_projects(access, &code), -1);
		assert_int_equal(code, FLOW_UNAUTHENTICATED);
		/* the other: within its 500 ms cache (polled for up to 5 s) */
		for (int64_t t0 = now_ms(); tries < 250; tries++) {
			if (ts_rpc(other.url, access, "/flow.v1.ProjectManager/ListProjects",
				   &lp.base, NULL, &st) == FLOW_UNAUTHENTICATED) {
				seen_ms = now_ms() - t0;
				break;
			}
			ts_sleep_ms(20);
		}
	}
	assert_true(seen_ms >= 0);
	print_message("revocation seen by the second flowd after %lld ms\n", (long long)seen_ms);
	assert_int_equal(ts_flowd_stop(&other), 0);
}

static void test_login_rate_limit(void **state)
{
	static char *const extra[] = { "--rate-login=5", "--rate-login-peer=5", NULL };
	struct ts_flowd strict;
	struct rpc_status st;
	char tok[2048];

	(void)state;
	assert_int_equal(ts_flowd_start(&strict, NULL, extra), 0);
	/* ts_flowd_start logged in once from this address: 4 attempts left */
	for (int i = 0; i < 4; i++)
		assert_int_equal(ts_login(strict.url, "nobody", "Wrong-password-123", tok, sizeof(tok),
					  NULL, 0, &st),
				 FLOW_UNAUTHENTICATED);
	assert_int_equal(ts_login(strict.url, TS_ADMIN_USER, TS_ADMIN_PASSWORD, tok, sizeof(tok),
				  NULL, 0, &st),
			 FLOW_RESOURCE_EXHAUSTED);
	assert_true(st.retry_after_ms > 0 && st.retry_after_ms <= 900000);
	assert_non_null(strstr(st.message, "too many login attempts"));
	setenv("FLOW_TOKEN", flowd.token, 1);
	assert_int_equal(ts_flowd_stop(&strict), 0);
}

static void test_audit_log(void **state)
{
	Flow__V1__ListAuditRequest la = FLOW__V1__LIST_AUDIT_REQUEST__INIT;
	ProtobufCMessage *resp;
	Flow__V1__ListAuditResponse *ar;
	struct rpc_status st;
	int logins = 0, denied = 0, creates = 0;

	(void)state;
	la.has_limit = 1;
	la.limit = 1000;
	assert_int_equal(ts_rpc(flowd.url, flowd.token, "/flow.v1.AuthService/ListAudit", &la.base,
				&resp, &st),
			 FLOW_OK);
	ar = (Flow__V1__ListAuditResponse *)resp;
	for (size_t i = 0; i < ar->n_events; i++) {
		Flow__V1__AuditEvent *e = ar->events[i];

		assert_true(e->at > 1600000000000LL);
		assert_true(e->peer != NULL && *e->peer != '\0');
		if (strcmp(e->action, "login") == 0 && strcmp(e->outcome, "ok") == 0)
			logins++;
		if (strcmp(e->action, "permission.denied") == 0)
			denied++;
		if (strcmp(e->action, "user.create") == 0)
			creates++;
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	assert_true(logins >= 3);
	assert_true(denied >= 2);
	assert_true(creates >= 2);
}

/* Runs flowctl --url URL ARGS... with stdin_data; returns the exit status.
 * stdout and stderr are appended to *all (for the secrets scan). */
static int flowctl(char **all, const char *stdin_data, const char *a1, const char *a2,
		   const char *a3, const char *a4)
{
	char *argv[] = { (char *)ts_bin("flowctl"), "--url", flowd.url, (char *)a1, (char *)a2,
			 (char *)a3, (char *)a4, NULL };
	char *out = NULL, *err = NULL;
	size_t n = strlen(*all);
	int status = -1;

	assert_int_equal(ts_run_capture(argv, stdin_data, &out, &err, &status, 30000), 0);
	*all = realloc(*all, n + strlen(out) + strlen(err) + 1);
	assert_non_null(*all);
	strcpy(*all + n, out);
	strcat(*all + n, err);
	free(out);
	free(err);
	return status;
}

/* flowctl login / whoami / logout with a credentials file. */
static void test_flowctl_login(void **state)
{
	char creds[700], *all = calloc(1, 1), *file;
	json_t *saved, *entry;
	struct stat sb;
	const char *key;

	(void)state;
	snprintf(creds, sizeof(creds), "%s/login-test.json", flowd.dir);
	unsetenv("FLOW_TOKEN");
	setenv("FLOW_CREDENTIALS", creds, 1);
	/* never from argv */
	assert_int_equal(flowctl(&all, NULL, "login", "alice", "--password=" ALICE_PW, NULL), 2);
	assert_int_equal(flowctl(&all, "not-the-password\n", "login", "alice", "--password-stdin",
				 NULL),
			 1);
	assert_int_equal(flowctl(&all, ALICE_PW "\n", "login", "alice", "--password-stdin", NULL), 0);
	assert_non_null(strstr(all, "logged in as alice (member)"));
	assert_int_equal(stat(creds, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* the tokens it saved, to look for in every output and log */
	file = ts_read_file(creds, NULL);
	saved = json_loads(file, 0, NULL);
	assert_non_null(saved);
	json_object_foreach(saved, key, entry)
	{
		remember(json_string_value(json_object_get(entry, "access_token")));
		remember(json_string_value(json_object_get(entry, "refresh_token")));
	}
	assert_true(n_secrets >= 2);
	json_decref(saved);
	free(file);

	assert_int_equal(flowctl(&all, NULL, "whoami", NULL, NULL, NULL), 0);
	assert_non_null(strstr(all, "alice"));
	assert_int_equal(flowctl(&all, NULL, "projects", NULL, NULL, NULL), 0);
	/* a credentials file others may read is refused */
	assert_int_equal(chmod(creds, 0644), 0);
	assert_int_equal(flowctl(&all, NULL, "projects", NULL, NULL, NULL), 1);
	assert_non_null(strstr(all, "chmod 600"));
	assert_int_equal(chmod(creds, 0600), 0);
	/* logout revokes on the server and forgets the login */
	assert_int_equal(flowctl(&all, NULL, "logout", NULL, NULL, NULL), 0);
	assert_int_equal(flowctl(&all, NULL, "projects", NULL, NULL, NULL), 1);
	assert_non_null(strstr(all, "UNAUTHENTICATED"));

	for (int i = 0; i < n_secrets; i++)
		if (strstr(all, secrets[i]) != NULL)
			fail_msg("secret #%d appears in flowctl's output", i);
	free(all);
	setenv("FLOW_TOKEN", flowd.token, 1);
	snprintf(creds, sizeof(creds), "%s/credentials.json", flowd.dir);
	setenv("FLOW_CREDENTIALS", creds, 1);
}

/* Last: nothing secret the test used appears in flowd's log, and flowd
 * keeps neither the signing secret nor the admin password in its
 * environment (/proc/PID/environ shows the initial one). */
static void test_no_secrets_in_logs(void **state)
{
	char *log = ts_read_file(flowd.log_path, NULL), path[64], env[65536];
	size_t n = 0, got;
	FILE *fp;

	(void)state;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)flowd.pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (n < sizeof(env) - 1 && (got = fread(env + n, 1, sizeof(env) - 1 - n, fp)) > 0)
		n += got;
	fclose(fp);
	for (size_t i = 0; i < n; i++)
		env[i] = env[i] ? env[i] : '\n';
	env[n] = '\0';
	/* the variables were there at start; their values are gone */
	assert_non_null(strstr(env, "FLOW_JWT_SECRET="));
	assert_non_null(strstr(env, "FLOW_ADMIN_PASSWORD="));
	assert_null(strstr(env, TS_JWT_SECRET));
	assert_null(strstr(env, TS_ADMIN_PASSWORD));
	assert_non_null(log);
	assert_non_null(strstr(log, "rpc.done")); /* debug logging was on */
	for (int i = 0; i < n_secrets; i++)
		if (strstr(log, secrets[i]) != NULL)
			fail_msg("secret #%d appears in flowd's log", i);
	free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_token_no_call),
		cmocka_unit_test(test_members_see_their_projects),
		cmocka_unit_test(test_worker_key_only_for_workers),
		cmocka_unit_test(test_refresh_rotation_and_reuse),
		cmocka_unit_test(test_revocation_across_processes),
		cmocka_unit_test(test_login_rate_limit),
		cmocka_unit_test(test_flowctl_login),
		cmocka_unit_test(test_audit_log),
		cmocka_unit_test(test_no_secrets_in_logs),
	};

	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
